/* serve.c — `pier serve`: set up the data directory, secrets, store and catalog,
 * bind, announce "listening on http://HOST:PORT" as the first stdout line, run
 * until SIGTERM/SIGINT, then drain in-flight requests and flush the store. */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/api.h"
#include "api/app.h"
#include "base/log.h"
#include "base/util.h"

static int mkdir_p(const char *path) {
  char tmp[1024];
  snprintf(tmp, sizeof tmp, "%s", path);
  for (char *p = tmp + 1; *p; p++) {
    if (*p != '/') continue;
    *p = '\0';
    if (mkdir(tmp, 0700) != 0 && errno != EEXIST) return PIER_EIO;
    *p = '/';
  }
  if (mkdir(tmp, 0700) != 0 && errno != EEXIST) return PIER_EIO;
  return 0;
}

/* Admin token: PIER_ADMIN_TOKEN, else <data-dir>/admin.token (created 0600). */
static int load_admin_token(pier_app *app) {
  const char *env = getenv("PIER_ADMIN_TOKEN");
  if (env && *env) {
    pier_sha256_hex(env, strlen(env), app->admin_hash);
    PIER_LOG(PIER_LOG_INFO, "serve", "admin token taken from PIER_ADMIN_TOKEN");
    return 0;
  }
  char path[1100], tok[80];
  snprintf(path, sizeof path, "%s/admin.token", app->cfg.data_dir);
  FILE *f = fopen(path, "r");
  if (f) {
    size_t n = fread(tok, 1, sizeof tok - 1, f);
    fclose(f);
    while (n && (tok[n - 1] == '\n' || tok[n - 1] == '\r' || tok[n - 1] == ' ')) n--;
    if (n == 0) {
      PIER_LOG(PIER_LOG_ERROR, "serve", "%s is empty; delete it to generate a new token", path);
      return PIER_EINVAL;
    }
    pier_sha256_hex(tok, n, app->admin_hash);
    sodium_memzero(tok, sizeof tok);
    PIER_LOG(PIER_LOG_INFO, "serve", "admin token read from %s", path);
    return 0;
  }
  memcpy(tok, "mlc_", 4);
  pier_random_alnum(tok + 4, 32);
  tok[36] = '\n';
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  bool ok = fd >= 0 && write(fd, tok, 37) == 37 && fsync(fd) == 0;
  if (fd >= 0) close(fd);
  pier_sha256_hex(tok, 36, app->admin_hash);
  sodium_memzero(tok, sizeof tok);
  if (!ok) {
    PIER_LOG(PIER_LOG_ERROR, "serve", "cannot write %s: %s", path, strerror(errno));
    return PIER_EIO;
  }
  PIER_LOG(PIER_LOG_INFO, "serve", "generated an admin token in %s (mode 0600)", path);
  return 0;
}

static int on_loop_start(pier_http_loop *l) {
  pier_loop_ctx *lc = calloc(1, sizeof *lc);
  if (!lc) return PIER_ENOMEM;
  int rc = pier_upstream_create(pier_http_loop_uv(l), &lc->up);
  if (rc) {
    free(lc);
    return rc;
  }
  lc->ex = (pier_executor){.loop = pier_http_loop_uv(l), .mailbox = pier_http_loop_mailbox(l), .up = lc->up,
                           .index = pier_http_loop_index(l)};
  pier_http_loop_set_data(l, lc);
  pier_app *app = pier_http_loop_app(l);
  pier_engine_add_executor(app->engine, &lc->ex);
  return 0;
}

static void on_loop_stop(pier_http_loop *l) {
  pier_loop_ctx *lc = pier_http_loop_data(l);
  if (!lc) return;
  pier_app *app = pier_http_loop_app(l);
  pier_engine_remove_executor(app->engine, &lc->ex);
}

static void on_loop_close(pier_http_loop *l) {
  pier_loop_ctx *lc = pier_http_loop_data(l);
  if (!lc) return;
  pier_upstream_destroy(lc->up);
  free(lc);
  pier_http_loop_set_data(l, NULL);
}

/* Provider variables from pier's own environment: the fallback when a
 * collection does not set them. Only names of known providers are taken. */
static cJSON *server_env(void) {
  extern char **environ;
  static const char *prefixes[] = {"AWS_", "OPENAI_", "ANTHROPIC_", "GEMINI_", "GOOGLE_", "OPENROUTER_", "GROQ_",
                                   "MISTRAL_", "TOGETHER", "DEEPSEEK_", "FIREWORKS", "XAI_", "HOSTED_VLLM",
                                   "OLLAMA_", NULL};
  cJSON *env = cJSON_CreateObject();
  for (char **e = environ; env && *e; e++) {
    const char *eq = strchr(*e, '=');
    if (!eq || eq == *e || eq - *e > 128) continue;
    for (int i = 0; prefixes[i]; i++) {
      if (strncmp(*e, prefixes[i], strlen(prefixes[i])) != 0) continue;
      char name[160];
      snprintf(name, sizeof name, "%.*s", (int)(eq - *e), *e);
      cJSON_AddStringToObject(env, name, eq + 1);
      break;
    }
  }
  return env;
}

static int token_issue(void *ctx, int64_t collection_id, const char *run_id, const char *provider, char out[64]) {
  return pier_catalog_run_token_issue(((pier_app *)ctx)->catalog, collection_id, run_id, provider, out);
}

static void token_revoke(void *ctx, const char *token, pier_usage *usage, double *cost, int *calls) {
  pier_run_token_info info;
  memset(&info, 0, sizeof info);
  pier_catalog_run_token_revoke(((pier_app *)ctx)->catalog, token, &info);
  *usage = info.usage;
  *cost = info.cost_usd;
  *calls = info.api_calls;
}

static void on_signal(uv_signal_t *s, int signum) {
  static bool once;
  if (once) return; /* a second signal while draining changes nothing */
  once = true;
  PIER_LOG(PIER_LOG_INFO, "serve", "received %s; finishing in-flight requests", signum == SIGINT ? "SIGINT" : "SIGTERM");
  uv_stop(s->loop);
}

static int run(pier_app *app) {
  pier_http_config hc = {
      .host = app->cfg.listen_host,
      .port = app->cfg.listen_port,
      .unix_path = app->gateway_socket,
      .threads = app->cfg.threads,
      .body_bytes_max = app->cfg.body_bytes_max,
      .request_timeout_ms = app->cfg.request_timeout_ms,
      .app = app,
      .on_request = pier_api_on_request,
      .on_loop_start = on_loop_start,
      .on_loop_stop = on_loop_stop,
      .on_loop_close = on_loop_close,
  };
  int rc = pier_http_server_create(&hc, &app->http);
  if (rc) {
    PIER_LOG(PIER_LOG_ERROR, "serve", "cannot listen on %s:%d: %s", app->cfg.listen_host, app->cfg.listen_port,
             rc == PIER_EEXISTS ? "address already in use" : pier_strerror(rc));
    return rc;
  }
  /* Signal handlers first: a SIGTERM right after the first line must still
   * shut down cleanly. They stay installed until the process exits. */
  uv_loop_t *main_loop = &app->main_loop;
  uv_loop_init(main_loop);
  uv_signal_init(main_loop, &app->sigterm);
  uv_signal_init(main_loop, &app->sigint);
  uv_signal_start(&app->sigterm, on_signal, SIGTERM);
  uv_signal_start(&app->sigint, on_signal, SIGINT);
  pier_engine_set_gateway(app->engine, pier_http_server_port(app->http));
  const char *h = app->cfg.listen_host;
  bool v6 = strchr(h, ':') != NULL;
  printf("listening on http://%s%s%s:%d\n", v6 ? "[" : "", h, v6 ? "]" : "", pier_http_server_port(app->http));
  fflush(stdout);
  if ((rc = pier_http_server_start(app->http)) == 0) {
    if (pier_engine_resume(app->engine) != 0) PIER_LOG(PIER_LOG_ERROR, "serve", "could not read unfinished runs");
    uv_run(main_loop, UV_RUN_DEFAULT);
  }
  pier_engine_shutdown(app->engine);
  pier_http_server_stop(app->http);
  pier_http_server_destroy(app->http);
  return rc;
}

int pier_serve_main(int argc, char **argv) {
  static pier_app app; /* lives for the process; reached only through req->app */
  char err[512] = "";
  int rc = pier_config_parse(&app.cfg, argc, argv, err, sizeof err);
  if (rc == PIER_EAGAIN) return 0;
  if (rc) {
    fprintf(stderr, "pier serve: %s\n", err);
    return 2;
  }
  pier_log_level = app.cfg.log_level;
  signal(SIGPIPE, SIG_IGN);
  if (sodium_init() < 0) {
    PIER_LOG(PIER_LOG_ERROR, "serve", "libsodium failed to initialise");
    return 1;
  }
  if (mkdir_p(app.cfg.data_dir) != 0) {
    PIER_LOG(PIER_LOG_ERROR, "serve", "cannot create the data directory %s: %s", app.cfg.data_dir, strerror(errno));
    return 1;
  }
  if (pier_seal_load_key(app.cfg.data_dir, app.master_key, err, sizeof err) != 0) {
    PIER_LOG(PIER_LOG_ERROR, "serve", "%s", err);
    return 1;
  }
  if (load_admin_token(&app) != 0) return 1;
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
    PIER_LOG(PIER_LOG_ERROR, "serve", "libcurl failed to initialise");
    return 1;
  }
  app.server_env = server_env();
  if ((rc = pier_store_open(app.cfg.data_dir, &app.store, err, sizeof err)) != 0) {
    PIER_LOG(PIER_LOG_ERROR, "serve", "%s", err);
    return 1;
  }
  if ((rc = pier_catalog_create(&app.catalog)) == 0) rc = pier_catalog_load(app.catalog, app.store);
  if (rc) PIER_LOG(PIER_LOG_ERROR, "serve", "cannot load collections and keys: %s", pier_strerror(rc));
  snprintf(app.gateway_socket, sizeof app.gateway_socket, "%s/gateway.sock", app.cfg.data_dir);
  char self[4096];
  ssize_t sl = readlink("/proc/self/exe", self, sizeof self - 1);
  self[sl > 0 ? sl : 0] = '\0';
  pier_engine_config ec = {.data_dir = app.cfg.data_dir, .master_key = app.master_key, .server_env = app.server_env,
                           .llm = app.cfg.llm, .max_concurrent_runs = app.cfg.max_concurrent_runs,
                           .webhook_retries = 5, .webhook_retry_base_ms = 1000, .gateway_socket = app.gateway_socket,
                           .pier_binary = self, .token_ctx = &app, .token_issue = token_issue,
                           .token_revoke = token_revoke};
  if (!rc) rc = pier_engine_create(app.store, &ec, pier_api_env_load_for_engine, &app, &app.engine);
  if (!rc) rc = run(&app);
  pier_engine_destroy(app.engine);
  pier_store_close(app.store);
  pier_catalog_destroy(app.catalog);
  cJSON_Delete(app.server_env);
  curl_global_cleanup();
  sodium_memzero(app.master_key, sizeof app.master_key);
  PIER_LOG(PIER_LOG_INFO, "serve", "stopped");
  return rc ? 1 : 0;
}
