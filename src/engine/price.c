/* price.c — USD per million tokens for the models of Jetty's Bedrock page and
 * the common OpenAI / Anthropic / Gemini models (list prices, on-demand,
 * as published by the providers in 2025-2026). Unknown models cost 0 and the
 * trajectory still records their tokens. Matching ignores provider prefixes
 * ("bedrock/", "openai/") and geo prefixes ("us.", "eu.", ...). */
#include <string.h>

#include "engine/engine_int.h"

typedef struct price {
  const char *match; /* substring of the bare model id */
  double in, out, cache_read, cache_write;
} price;

static const price prices[] = {
    {"claude-opus-4", 15.0, 75.0, 1.50, 18.75},
    {"claude-sonnet-4", 3.0, 15.0, 0.30, 3.75},
    {"claude-3-7-sonnet", 3.0, 15.0, 0.30, 3.75},
    {"claude-haiku-4-5", 1.0, 5.0, 0.10, 1.25},
    {"claude-3-5-haiku", 0.80, 4.0, 0.08, 1.0},
    {"llama3-1-70b", 0.72, 0.72, 0, 0},
    {"mistral-large-2407", 2.0, 6.0, 0, 0},
    {"titan-embed-text-v2", 0.02, 0, 0, 0},
    {"cohere.embed", 0.10, 0, 0, 0},
    {"gpt-4o-mini", 0.15, 0.60, 0.075, 0},
    {"gpt-4o", 2.50, 10.0, 1.25, 0},
    {"gpt-4.1-mini", 0.40, 1.60, 0.10, 0},
    {"gpt-4.1", 2.0, 8.0, 0.50, 0},
    {"gpt-5-mini", 0.25, 2.0, 0.025, 0},
    {"gpt-5", 1.25, 10.0, 0.125, 0},
    {"o4-mini", 1.10, 4.40, 0.275, 0},
    {"o3", 2.0, 8.0, 0.50, 0},
    {"text-embedding-3-small", 0.02, 0, 0, 0},
    {"text-embedding-3-large", 0.13, 0, 0, 0},
    {"gemini-2.5-pro", 1.25, 10.0, 0.31, 0},
    {"gemini-2.5-flash-lite", 0.10, 0.40, 0.025, 0},
    {"gemini-2.5-flash", 0.30, 2.50, 0.075, 0},
    {NULL, 0, 0, 0, 0},
};

double pier_price_cost(const char *model, const pier_usage *u) {
  if (!model) return 0;
  for (const price *p = prices; p->match; p++) {
    if (!strstr(model, p->match)) continue;
    /* prompt_tokens includes cached tokens: bill those at the cache rates */
    int64_t cached = u->cache_read_tokens + u->cache_creation_tokens;
    int64_t fresh = u->prompt_tokens > cached ? u->prompt_tokens - cached : 0;
    double cost = (double)fresh * p->in + (double)u->completion_tokens * p->out +
                  (double)u->cache_read_tokens * (p->cache_read ? p->cache_read : p->in) +
                  (double)u->cache_creation_tokens * (p->cache_write ? p->cache_write : p->in);
    return cost / 1e6;
  }
  return 0;
}
