/* config.c — `pier serve` flags and their PIER_* environment twins. Flags win
 * over the environment, the environment over defaults. */
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
  snprintf(err, errlen, "unknown option %s (see pier serve --help)", flag);
  return PIER_EINVAL;
}

static const struct {
  const char *env, *flag;
} twins[] = {
    {"PIER_LISTEN", "--listen"},         {"PIER_DATA_DIR", "--data-dir"},
    {"PIER_THREADS", "--threads"},       {"PIER_LOG_LEVEL", "--log-level"},
    {"PIER_MAX_BODY_BYTES", "--max-body-bytes"}, {"PIER_REQUEST_TIMEOUT_MS", "--request-timeout-ms"},
};

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
