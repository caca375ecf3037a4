/* config.c — `pier serve` flags and their PIER_* environment twins. Flags win
 * over the environment, the environment over defaults. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/app.h"
#include "base/limits.h"
#include "base/log.h"

static const char usage[] =
    "usage: pier serve [options]\n"
    "  --listen HOST:PORT      address to listen on (PIER_LISTEN; default 127.0.0.1:8080; port 0 = any free port)\n"
    "  --data-dir DIR          where the database, keys and files live (PIER_DATA_DIR; default ./pier-data)\n"
    "  --threads N             event-loop threads (PIER_THREADS; default: number of cores)\n"
    "  --log-level LEVEL       error|warn|info|debug (PIER_LOG_LEVEL; default info)\n"
    "  --max-body-bytes N      largest request body accepted (PIER_MAX_BODY_BYTES; default 33554432)\n"
    "  --request-timeout-ms N  a client that stalls this long mid-request gets 408 (PIER_REQUEST_TIMEOUT_MS;\n"
    "                          default 30000)\n"
    "  --upstream-connect-timeout-ms N   connect to a provider (PIER_UPSTREAM_CONNECT_TIMEOUT_MS; default 10000)\n"
    "  --upstream-ttfb-timeout-ms N      wait for a provider's first response byte (PIER_UPSTREAM_TTFB_TIMEOUT_MS;\n"
    "                                    default 300000)\n"
    "  --upstream-idle-timeout-ms N      longest gap between streamed chunks (PIER_UPSTREAM_IDLE_TIMEOUT_MS;\n"
    "                                    default 120000)\n"
    "  --upstream-timeout-ms N           whole provider call (PIER_UPSTREAM_TIMEOUT_MS; default 900000)\n"
    "  --upstream-retries N              retries on throttling, 5xx and resets (PIER_UPSTREAM_RETRIES; default 3)\n"
    "  --upstream-retry-base-ms N        first backoff, doubled each time (PIER_UPSTREAM_RETRY_BASE_MS; default 500)\n"
    "  --sse-keepalive-ms N              keep-alive comment on quiet streams (PIER_SSE_KEEPALIVE_MS; default 15000)\n"
    "  --run-sync-timeout-ms N           run-sync answers 202 after this (PIER_RUN_SYNC_TIMEOUT_MS; default 90000)\n"
    "  --max-concurrent-runs N           async runs executing at once (PIER_MAX_CONCURRENT_RUNS; default 64)\n"
    "  --record-chat on|off              record each /v1/chat/completions and /v1/messages call as a `_chat`\n"
    "                                    trajectory (PIER_RECORD_CHAT; default on)\n"
    "Other environment: PIER_ADMIN_TOKEN (admin token; otherwise generated into DATA_DIR/admin.token),\n"
    "PIER_MASTER_KEY (64 hex chars; otherwise DATA_DIR/master.key).\n";

static int parse_listen(pier_config *cfg, const char *v, char *err, size_t errlen) {
  const char *colon = strrchr(v, ':');
  if (!colon || colon == v) {
    snprintf(err, errlen, "--listen wants HOST:PORT, e.g. 127.0.0.1:8080 (got \"%s\")", v);
    return PIER_EINVAL;
  }
  unsigned long long port;
  if (pier_slice_to_u64(pier_slice_from(colon + 1), &port) != 0 || port > 65535) {
    snprintf(err, errlen, "--listen port must be 0..65535 (got \"%s\")", colon + 1);
    return PIER_EINVAL;
  }
  size_t hl = (size_t)(colon - v);
  if (v[0] == '[' && hl >= 2 && v[hl - 1] == ']') v++, hl -= 2; /* [::1]:8080 */
  if (hl >= sizeof cfg->listen_host) {
    snprintf(err, errlen, "--listen host is too long");
    return PIER_EINVAL;
  }
  memcpy(cfg->listen_host, v, hl);
  cfg->listen_host[hl] = '\0';
  cfg->listen_port = (int)port;
  return 0;
}

static int parse_num(const char *flag, const char *v, unsigned long long lo, unsigned long long hi,
                     unsigned long long *out, char *err, size_t errlen) {
  if (pier_slice_to_u64(pier_slice_from(v), out) != 0 || *out < lo || *out > hi) {
    snprintf(err, errlen, "%s must be a whole number from %llu to %llu (got \"%s\")", flag, lo, hi, v);
    return PIER_EINVAL;
  }
  return 0;
}

static int apply(pier_config *cfg, const char *flag, const char *v, char *err, size_t errlen) {
  unsigned long long n;
  if (strcmp(flag, "--listen") == 0) return parse_listen(cfg, v, err, errlen);
  if (strcmp(flag, "--data-dir") == 0) {
    if (!*v || strlen(v) >= sizeof cfg->data_dir) {
      snprintf(err, errlen, "--data-dir must be a non-empty path shorter than %zu bytes", sizeof cfg->data_dir);
      return PIER_EINVAL;
    }
    snprintf(cfg->data_dir, sizeof cfg->data_dir, "%s", v);
    return 0;
  }
  if (strcmp(flag, "--threads") == 0) {
    if (parse_num(flag, v, 1, 256, &n, err, errlen)) return PIER_EINVAL;
    cfg->threads = (int)n;
    return 0;
  }
  if (strcmp(flag, "--log-level") == 0) {
    if (pier_log_parse_level(v, &cfg->log_level) != 0) {
      snprintf(err, errlen, "--log-level must be error, warn, info or debug (got \"%s\")", v);
      return PIER_EINVAL;
    }
    return 0;
  }
  if (strcmp(flag, "--max-body-bytes") == 0) {
    if (parse_num(flag, v, 1024, 1ULL << 32, &n, err, errlen)) return PIER_EINVAL;
    cfg->body_bytes_max = (size_t)n;
    return 0;
  }
  if (strcmp(flag, "--request-timeout-ms") == 0) {
    if (parse_num(flag, v, 10, 3600000, &n, err, errlen)) return PIER_EINVAL;
    cfg->request_timeout_ms = n;
    return 0;
  }
  static const struct {
    const char *flag;
    unsigned long long lo, hi;
    size_t off;
  } nums[] = {
      {"--upstream-connect-timeout-ms", 1, 3600000, offsetof(pier_config, llm.connect_timeout_ms)},
      {"--upstream-ttfb-timeout-ms", 1, 86400000, offsetof(pier_config, llm.ttfb_timeout_ms)},
      {"--upstream-idle-timeout-ms", 1, 86400000, offsetof(pier_config, llm.idle_timeout_ms)},
      {"--upstream-timeout-ms", 1, 86400000, offsetof(pier_config, llm.total_timeout_ms)},
      {"--upstream-retry-base-ms", 1, 600000, offsetof(pier_config, llm.retry_base_ms)},
      {"--sse-keepalive-ms", 10, 3600000, offsetof(pier_config, sse_keepalive_ms)},
      {"--run-sync-timeout-ms", 10, 86400000, offsetof(pier_config, run_sync_timeout_ms)},
  };
  for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
    if (strcmp(flag, nums[i].flag) != 0) continue;
    if (parse_num(flag, v, nums[i].lo, nums[i].hi, &n, err, errlen)) return PIER_EINVAL;
    *(uint64_t *)((char *)cfg + nums[i].off) = n;
    return 0;
  }
  if (strcmp(flag, "--max-concurrent-runs") == 0) {
    if (parse_num(flag, v, 1, 100000, &n, err, errlen)) return PIER_EINVAL;
    cfg->max_concurrent_runs = (int)n;
    return 0;
  }
  if (strcmp(flag, "--record-chat") == 0) {
    if (strcmp(v, "on") && strcmp(v, "off")) {
      snprintf(err, errlen, "--record-chat wants on or off (got \"%.40s\")", v);
      return PIER_EINVAL;
    }
    cfg->record_chat = strcmp(v, "on") == 0;
    return 0;
  }
  if (strcmp(flag, "--upstream-retries") == 0) {
    if (parse_num(flag, v, 0, 20, &n, err, errlen)) return PIER_EINVAL;
    cfg->llm.retries = (int)n;
    return 0;
  }
  snprintf(err, errlen, "unknown option %s (see pier serve --help)", flag);
  return PIER_EINVAL;
}

static const struct {
  const char *env, *flag;
} twins[] = {
    {"PIER_LISTEN", "--listen"},         {"PIER_DATA_DIR", "--data-dir"},
    {"PIER_THREADS", "--threads"},       {"PIER_LOG_LEVEL", "--log-level"},
    {"PIER_MAX_BODY_BYTES", "--max-body-bytes"}, {"PIER_REQUEST_TIMEOUT_MS", "--request-timeout-ms"},
    {"PIER_UPSTREAM_CONNECT_TIMEOUT_MS", "--upstream-connect-timeout-ms"},
    {"PIER_UPSTREAM_TTFB_TIMEOUT_MS", "--upstream-ttfb-timeout-ms"},
    {"PIER_UPSTREAM_IDLE_TIMEOUT_MS", "--upstream-idle-timeout-ms"},
    {"PIER_UPSTREAM_TIMEOUT_MS", "--upstream-timeout-ms"},
    {"PIER_UPSTREAM_RETRIES", "--upstream-retries"},
    {"PIER_UPSTREAM_RETRY_BASE_MS", "--upstream-retry-base-ms"},
    {"PIER_SSE_KEEPALIVE_MS", "--sse-keepalive-ms"},
    {"PIER_RUN_SYNC_TIMEOUT_MS", "--run-sync-timeout-ms"},
    {"PIER_MAX_CONCURRENT_RUNS", "--max-concurrent-runs"},
    {"PIER_RECORD_CHAT", "--record-chat"},
};

static bool known_flag(const char *flag) {
  static const char *flags[] = {"--listen", "--data-dir", "--threads", "--log-level", "--max-body-bytes",
                                "--request-timeout-ms", "--upstream-connect-timeout-ms", "--upstream-ttfb-timeout-ms",
                                "--upstream-idle-timeout-ms", "--upstream-timeout-ms", "--upstream-retries",
                                "--upstream-retry-base-ms", "--sse-keepalive-ms", "--run-sync-timeout-ms",
                                "--max-concurrent-runs", "--record-chat", NULL};
  for (int i = 0; flags[i]; i++)
    if (strcmp(flag, flags[i]) == 0) return true;
  return false;
}

int pier_config_parse(pier_config *cfg, int argc, char **argv, char *err, size_t errlen) {
  memset(cfg, 0, sizeof *cfg);
  snprintf(cfg->listen_host, sizeof cfg->listen_host, "127.0.0.1");
  cfg->listen_port = 8080;
  snprintf(cfg->data_dir, sizeof cfg->data_dir, "./pier-data");
  long cores = sysconf(_SC_NPROCESSORS_ONLN);
  cfg->threads = cores > 0 ? (int)cores : 1;
  cfg->log_level = PIER_LOG_INFO;
  cfg->body_bytes_max = PIER_HTTP_BODY_BYTES_DEFAULT;
  cfg->request_timeout_ms = PIER_HTTP_REQUEST_TIMEOUT_MS_DEFAULT;
  pier_llm_limits_default(&cfg->llm);
  cfg->sse_keepalive_ms = 15000;
  cfg->run_sync_timeout_ms = 90000;
  cfg->max_concurrent_runs = 64;
  cfg->record_chat = true;
  for (size_t i = 0; i < sizeof twins / sizeof twins[0]; i++) {
    const char *v = getenv(twins[i].env);
    if (v && *v && apply(cfg, twins[i].flag, v, err, errlen) != 0) {
      size_t n = strlen(err);
      snprintf(err + n, errlen - n, " (from %s)", twins[i].env);
      return PIER_EINVAL;
    }
  }
  for (int i = 0; i < argc; i++) {
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      fputs(usage, stdout);
      return PIER_EAGAIN;
    }
    char *eq = strchr(argv[i], '=');
    char flag[64];
    const char *val;
    if (eq && argv[i][0] == '-') {
      snprintf(flag, sizeof flag, "%.*s", (int)(eq - argv[i]), argv[i]);
      val = eq + 1;
    } else {
      snprintf(flag, sizeof flag, "%s", argv[i]);
      if (!known_flag(flag)) {
        snprintf(err, errlen, "unknown option %s (see pier serve --help)", flag);
        return PIER_EINVAL;
      }
      if (i + 1 >= argc) {
        snprintf(err, errlen, "%s needs a value (see pier serve --help)", argv[i]);
        return PIER_EINVAL;
      }
      val = argv[++i];
    }
    if (apply(cfg, flag, val, err, errlen) != 0) return PIER_EINVAL;
  }
  return 0;
}
