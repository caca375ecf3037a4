/* cmd_doctor.c — `pier doctor COLLECTION [--model M]`: for each provider with
 * credentials on the collection (seen by name only: the API masks values),
 * names the auth style, checks the model id against Bedrock's inference-
 * profile pools, and times a one-token call (max_tokens 1) through
 * /v1/chat/completions. Failures print the server's message, which carries the
 * fix from Jetty's troubleshooting table. Never prints a secret: it has none. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "base/util.h"
#include "cli/cli_int.h"

typedef struct provider_info {
  const char *name;          /* model_provider */
  const char *vars[3];       /* any one = credentials */
  const char *base_var;      /* endpoint override, may be NULL */
  const char *model;         /* default test model, may be NULL */
  const char *model_prefix;  /* LiteLLM prefix of its model ids */
} provider_info;

static const provider_info providers[] = {
    {"bedrock", {"AWS_BEARER_TOKEN_BEDROCK", "AWS_ACCESS_KEY_ID", NULL}, "AWS_BEDROCK_RUNTIME_ENDPOINT",
     "us.anthropic.claude-haiku-4-5", "bedrock/"},
    {"openai", {"OPENAI_API_KEY", NULL}, "OPENAI_BASE_URL", "gpt-4o-mini", "openai/"},
    {"anthropic", {"ANTHROPIC_API_KEY", NULL}, "ANTHROPIC_BASE_URL", "claude-haiku-4-5", "anthropic/"},
    {"gemini", {"GEMINI_API_KEY", "GOOGLE_API_KEY", NULL}, "GEMINI_API_BASE", "gemini-2.5-flash", "gemini/"},
    {"openrouter", {"OPENROUTER_API_KEY", NULL}, "OPENROUTER_API_BASE", "openai/gpt-4o-mini", "openrouter/"},
    {"groq", {"GROQ_API_KEY", NULL}, "GROQ_API_BASE", "llama-3.1-8b-instant", "groq/"},
    {"mistral", {"MISTRAL_API_KEY", NULL}, "MISTRAL_API_BASE", "mistral-small-latest", "mistral/"},
    {"deepseek", {"DEEPSEEK_API_KEY", NULL}, "DEEPSEEK_API_BASE", "deepseek-chat", "deepseek/"},
    {"xai", {"XAI_API_KEY", NULL}, "XAI_API_BASE", "grok-3-mini", "xai/"},
    {"together_ai", {"TOGETHERAI_API_KEY", NULL}, "TOGETHERAI_API_BASE", NULL, "together_ai/"},
    {"fireworks_ai", {"FIREWORKS_AI_API_KEY", NULL}, "FIREWORKS_AI_API_BASE", NULL, "fireworks_ai/"},
    {"hosted_vllm", {"HOSTED_VLLM_API_BASE", NULL}, NULL, NULL, "hosted_vllm/"},
    {"ollama", {"OLLAMA_API_BASE", "OLLAMA_API_KEY", NULL}, NULL, NULL, "ollama/"},
};
#define NPROVIDERS (sizeof providers / sizeof providers[0])

static const char *const geo_prefixes[] = {"us-gov.", "global.", "apac.", "us.", "eu.", "jp.", "au.", "ca.", NULL};

typedef struct doctor {
  pier_cli *cli;
  const cJSON *vars;   /* environment_variables: names -> masked */
  cJSON *report;       /* --json: array of provider results */
  int failures;
} doctor;

static bool has(const doctor *d, const char *name) { return cJSON_GetObjectItemCaseSensitive(d->vars, name) != NULL; }

static const char *geo_prefix(const char *model) {
  const char *m = strncmp(model, "bedrock/", 8) ? model : model + 8;
  for (int i = 0; geo_prefixes[i]; i++)
    if (!strncmp(m, geo_prefixes[i], strlen(geo_prefixes[i]))) return geo_prefixes[i];
  return NULL;
}

/* Which provider a model id would go to (the server's routing rules 2-4). */
static const provider_info *provider_of(const char *model) {
  for (size_t i = 0; i < NPROVIDERS; i++)
    if (!strncmp(model, providers[i].model_prefix, strlen(providers[i].model_prefix))) return &providers[i];
  static const struct { const char *prefix; size_t idx; } known[] = {
      {"gpt-", 1}, {"o1", 1}, {"o3", 1}, {"o4", 1}, {"claude-", 2}, {"gemini-", 3},
      {"anthropic.", 0}, {"amazon.", 0}, {"meta.", 0}, {"mistral.", 0}, {"cohere.", 0}, {"ai21.", 0}, {"deepseek.", 0},
  };
  if (geo_prefix(model)) return &providers[0];
  for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
    if (!strncmp(model, known[i].prefix, strlen(known[i].prefix))) return &providers[known[i].idx];
  return NULL;
}

static void say(const doctor *d, const char *mark, int style, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void say(const doctor *d, const char *mark, int style, const char *fmt, ...) {
  if (d->cli->json) return;
  va_list ap;
  va_start(ap, fmt);
  printf("  %s%s%s ", pier_cli_sgr(d->cli, stdout, style), mark, pier_cli_sgr(d->cli, stdout, PIER_CLI_RESET));
  vprintf(fmt, ap);
  putchar('\n');
  va_end(ap);
}

/* ---- Bedrock specifics ------------------------------------------------------------------ */

static const char *bedrock_auth(doctor *d) {
  bool bearer = has(d, "AWS_BEARER_TOKEN_BEDROCK"), akid = has(d, "AWS_ACCESS_KEY_ID");
  bool secret = has(d, "AWS_SECRET_ACCESS_KEY"), session = has(d, "AWS_SESSION_TOKEN");
  if (bearer) {
    say(d, "•", PIER_CLI_CYAN, "auth: Bedrock API key (AWS_BEARER_TOKEN_BEDROCK, sent as a bearer token, no SigV4)%s",
        akid ? "; AWS_ACCESS_KEY_ID is set too but the API key is used" : "");
    return "bedrock_api_key";
  }
  if (akid && secret) {
    say(d, "•", PIER_CLI_CYAN, "auth: IAM access keys, SigV4-signed, %s",
        session ? "with AWS_SESSION_TOKEN (temporary STS credentials: they expire)" : "no session token (long-term keys)");
    return session ? "iam_session" : "iam";
  }
  say(d, "✗", PIER_CLI_RED, "auth: %s is set without %s; set both, or AWS_BEARER_TOKEN_BEDROCK",
      akid ? "AWS_ACCESS_KEY_ID" : "AWS_SECRET_ACCESS_KEY", akid ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID");
  return NULL;
}

/* Region variable and the model's pool; false when the call cannot work. */
static bool bedrock_region(doctor *d, const char *model, cJSON *res) {
  static const char *rvars[] = {"AWS_REGION_NAME", "AWS_REGION", "AWS_DEFAULT_REGION"};
  const char *rv = NULL;
  for (int i = 0; i < 3 && !rv; i++)
    if (has(d, rvars[i])) rv = rvars[i];
  if (res) cJSON_AddStringToObject(res, "region_variable", rv ? rv : "");
  if (!rv) {
    say(d, "✗", PIER_CLI_RED, "region: none set; set AWS_REGION (e.g. us-east-1 for us.* inference profiles)");
    return false;
  }
  const char *geo = geo_prefix(model);
  if (geo)
    say(d, "•", PIER_CLI_CYAN, "region: from %s; %s is an inference profile of the \"%s\" pool, so %s must be a "
        "region of that pool (the server checks it before calling)", rv, model, geo, rv);
  else
    say(d, "!", PIER_CLI_YELLOW, "region: from %s; %s has no us./eu./apac./jp./au./global. prefix: if Bedrock "
        "answers \"on-demand throughput isn't supported\", use the inference-profile id", rv, model);
  return true;
}

/* ---- the one-token call --------------------------------------------------------------------- */

static bool ping(doctor *d, const provider_info *p, const char *model, cJSON *res) {
  cJSON *b = cJSON_CreateObject(), *msgs = cJSON_AddArrayToObject(b, "messages"), *m = cJSON_CreateObject();
  cJSON_AddStringToObject(b, "model", model);
  cJSON_AddStringToObject(b, "model_provider", p->name);
  cJSON_AddStringToObject(m, "role", "user");
  cJSON_AddStringToObject(m, "content", "Reply with OK.");
  cJSON_AddItemToArray(msgs, m);
  cJSON_AddNumberToObject(b, "max_tokens", 1);
  cJSON_AddStringToObject(cJSON_AddObjectToObject(b, "jetty"), "collection", d->cli->pos[0]);
  char *text = cJSON_PrintUnformatted(b);
  cJSON_Delete(b);
  pier_cli_req rq = {.method = "POST", .path = "/v1/chat/completions", .body = text, .body_len = text ? strlen(text) : 0};
  pier_cli_resp r;
  uint64_t t0 = pier_mono_ms();
  int rc = text ? pier_cli_send(d->cli, &rq, &r) : PIER_ENOMEM;
  uint64_t ms = pier_mono_ms() - t0;
  cJSON_free(text);
  bool ok = rc == 0 && r.status == 200;
  const cJSON *e = rc ? NULL : cJSON_GetObjectItemCaseSensitive(r.json, "error");
  const char *msg = cJSON_IsString(e) ? e->valuestring : pier_json_str(e, "message");
  if (!msg && !rc) msg = pier_json_str(r.json, "detail");
  cJSON_AddBoolToObject(res, "ok", ok);
  cJSON_AddNumberToObject(res, "http_status", rc ? 0 : (double)r.status);
  cJSON_AddNumberToObject(res, "latency_ms", (double)ms);
  if (!ok) cJSON_AddStringToObject(res, "error", msg ? msg : rc ? "the server could not be reached" : "no detail");
  if (ok) say(d, "✓", PIER_CLI_GREEN, "one-token call to %s answered in %llu ms", model, (unsigned long long)ms);
  else if (!rc) say(d, "✗", PIER_CLI_RED, "one-token call to %s failed (HTTP %ld after %llu ms): %s", model, r.status,
                    (unsigned long long)ms, msg ? msg : "no detail");
  else say(d, "✗", PIER_CLI_RED, "one-token call to %s: the server could not be reached", model);
  if (!rc) pier_cli_resp_dispose(&r);
  return ok;
}

static void check_provider(doctor *d, const provider_info *p, const char *model_opt) {
  cJSON *res = cJSON_CreateObject();
  cJSON_AddStringToObject(res, "provider", p->name);
  if (!d->cli->json) printf("%s%s%s\n", pier_cli_sgr(d->cli, stdout, PIER_CLI_BOLD), p->name,
                            pier_cli_sgr(d->cli, stdout, PIER_CLI_RESET));
  const char *model = model_opt && provider_of(model_opt) == p ? model_opt : p->model;
  bool ok = true;
  if (p == &providers[0]) {
    const char *auth = bedrock_auth(d);
    cJSON_AddStringToObject(res, "auth", auth ? auth : "incomplete");
    ok = auth && bedrock_region(d, model, res);
  } else {
    const char *var = NULL;
    for (int i = 0; p->vars[i] && !var; i++)
      if (has(d, p->vars[i])) var = p->vars[i];
    say(d, "•", PIER_CLI_CYAN, "auth: %s", var);
    cJSON_AddStringToObject(res, "auth", var);
  }
  if (p->base_var && has(d, p->base_var)) say(d, "•", PIER_CLI_CYAN, "endpoint: overridden by %s", p->base_var);
  if (ok && !model) {
    say(d, "!", PIER_CLI_YELLOW, "no test model known for %s: pass --model MODEL", p->name);
  } else if (ok) {
    cJSON_AddStringToObject(res, "model", model);
    ok = ping(d, p, model, res);
  }
  if (!ok) d->failures++;
  cJSON_AddItemToArray(d->report, res);
}

static bool configured(const doctor *d, const provider_info *p) {
  if (p == &providers[0] && has(d, "AWS_SECRET_ACCESS_KEY")) return true;
  for (int i = 0; p->vars[i]; i++)
    if (has(d, p->vars[i])) return true;
  return false;
}

static int run_checks(doctor *d) {
  const char *model = pier_cli_opt_get(d->cli, "model");
  int n = 0;
  for (size_t i = 0; i < NPROVIDERS; i++)
    if (configured(d, &providers[i])) {
      if (n++ && !d->cli->json) putchar('\n');
      check_provider(d, &providers[i], model);
    }
  if (!n) {
    pier_cli_err(d->cli, "collection %s has no provider credentials", d->cli->pos[0]);
    pier_cli_hint(d->cli, "e.g. pier env set %s AWS_BEARER_TOKEN_BEDROCK; pier env set %s AWS_REGION", d->cli->pos[0],
                  d->cli->pos[0]);
    return PIER_CLI_EXIT_FAIL;
  }
  const provider_info *mp = model ? provider_of(model) : NULL;
  if (model && !mp)
    pier_cli_hint(d->cli, "--model %s: cannot tell its provider; prefix it, e.g. bedrock/%s", model, model);
  else if (mp && !configured(d, mp))
    pier_cli_hint(d->cli, "--model %s is a %s model, and %s has no %s credentials: nothing tested with it", model,
                  mp->name, d->cli->pos[0], mp->name);
  return d->failures ? PIER_CLI_EXIT_FAIL : PIER_CLI_EXIT_OK;
}

static int cmd_doctor(pier_cli *cli) {
  char path[2048];
  if (pier_cli_path(path, sizeof path, "/api/v1/collections", cli->pos[0], "environment", NULL) != 0)
    return pier_cli_usage_error(cli, "collection name too long");
  pier_cli_resp r;
  int rc = pier_cli_call(cli, "GET", path, NULL, &r);
  if (rc) {
    pier_cli_resp_dispose(&r);
    return rc;
  }
  doctor d = {.cli = cli, .vars = cJSON_GetObjectItemCaseSensitive(r.json, "environment_variables"),
              .report = cJSON_CreateArray()};
  rc = run_checks(&d);
  if (cli->json) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "collection", cli->pos[0]);
    cJSON_AddBoolToObject(o, "ok", rc == 0);
    cJSON_AddItemToObject(o, "providers", d.report);
    d.report = NULL;
    pier_cli_print_json(stdout, o);
    cJSON_Delete(o);
  }
  cJSON_Delete(d.report);
  pier_cli_resp_dispose(&r);
  return rc;
}

static const pier_cli_opt doctor_opts[] = {
    {"model", 'm', "MODEL", "the model to test for its provider (default: a small model of each)"},
    {NULL, 0, NULL, NULL},
};

const pier_cli_cmd pier_cli_cmds_doctor[] = {
    {"doctor", NULL, "COLLECTION", 1, 1, doctor_opts, cmd_doctor,
     "Check each provider configured on a collection with a one-token call.",
     "For each provider with credentials (by variable name: values are never read),\n"
     "doctor says which auth style is in use (Bedrock API key, or IAM keys with or\n"
     "without a session token), checks the model id against the inference-profile\n"
     "pools (us./eu./apac./jp./au./global.), then sends max_tokens=1 through\n"
     "/v1/chat/completions and prints the latency, or the server's error with its fix.\n"
     "Exit status 1 when a check fails.\n"
     "\nExamples:\n  pier doctor acme\n  pier doctor acme --model eu.anthropic.claude-sonnet-4-6\n", 0},
    {NULL, NULL, NULL, 0, 0, NULL, NULL, NULL, NULL, 0},
};
