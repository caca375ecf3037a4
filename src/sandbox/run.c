/* run.c — `pier sandbox-run --spec-json FILE`: run one sandbox spec on a fresh
 * loop and print the result, for the integration tests and for operators
 * debugging a snapshot. Spec keys mirror pier_sandbox_spec (memory may be
 * "8G"; env an object or a list of "K=V"; cancel_after_ms cancels; "agent"
 * resolves an installed agent and puts its command before argv).
 * Invariant: exactly one JSON object on stdout, a result or {"error": ...}. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/json.h"
#include "sandbox/sandbox_int.h"

#define SPEC_BYTES_MAX (4 * 1024 * 1024)

typedef struct run_ctx {
  pier_buf out; /* the JSON result */
  bool done;
} run_ctx;

static int print_error(const char *msg) {
  pier_buf b;
  pier_buf_init(&b, 0);
  if (pier_buf_append_cstr(&b, "{\"error\": ") || pier_buf_append_json_str(&b, pier_slice_from(msg)) ||
      pier_buf_append_cstr(&b, "}\n"))
    return 1;
  fputs(b.ptr, stdout);
  pier_buf_dispose(&b);
  return 1;
}

/* Output bytes as a JSON string; invalid UTF-8 becomes '?'. */
static int append_bytes(pier_buf *b, pier_slice s) {
  if (pier_utf8_valid(s)) return pier_buf_append_json_str(b, s);
  char *copy = malloc(s.len + 1);
  if (!copy) return PIER_ENOMEM;
  for (size_t i = 0; i < s.len; i++) copy[i] = (unsigned char)s.ptr[i] >= 0x80 ? '?' : s.ptr[i];
  int rc = pier_buf_append_json_str(b, pier_slice_make(copy, s.len));
  free(copy);
  return rc;
}

static void on_exit_json(void *arg, const pier_sandbox_result *r) {
  run_ctx *c = arg;
  pier_buf *b = &c->out;
  int rc = pier_buf_appendf(b,
                            "{\"exit_status\": %d, \"term_signal\": %d, \"timed_out\": %s, \"cancelled\": %s, "
                            "\"duration_ms\": %llu, \"stdout_dropped\": %llu, \"stderr_dropped\": %llu, \"stdout\": ",
                            r->exit_status, r->term_signal, r->timed_out ? "true" : "false",
                            r->cancelled ? "true" : "false", (unsigned long long)r->duration_ms,
                            (unsigned long long)r->out_dropped, (unsigned long long)r->err_dropped);
  if (!rc) rc = append_bytes(b, r->out);
  if (!rc) rc = pier_buf_append_cstr(b, ", \"stderr\": ");
  if (!rc) rc = append_bytes(b, r->err);
  if (!rc) rc = pier_buf_append_cstr(b, ", \"warning\": ");
  if (!rc) rc = r->warning ? pier_buf_append_json_str(b, pier_slice_from(r->warning)) : pier_buf_append_cstr(b, "null");
  if (!rc) rc = pier_buf_append_cstr(b, "}\n");
  if (rc) pier_buf_reset(b);
  c->done = true;
}

static void on_cancel_timer(uv_timer_t *t) { pier_sandbox_cancel(t->data); }

/* Strings of a JSON array or {"K": "V"} object, into v (as "K=V" for objects). */
static int collect(const cJSON *j, bool kv, sb_strv *v) {
  int rc = 0;
  const cJSON *it;
  cJSON_ArrayForEach(it, j) {
    if (!cJSON_IsString(it)) return PIER_EINVAL;
    rc = kv && it->string ? sb_strv_pushf(v, "%s=%s", it->string, it->valuestring) : sb_strv_push(v, it->valuestring);
    if (rc) return rc;
  }
  return 0;
}

static int read_spec(const char *path, cJSON **out, char *err, size_t errlen) {
  pier_buf b;
  pier_buf_init(&b, SPEC_BYTES_MAX);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  char chunk[8192];
  ssize_t n = 0;
  int rc = fd < 0 ? PIER_ENOTFOUND : 0;
  while (!rc && (n = read(fd, chunk, sizeof chunk)) > 0) rc = pier_buf_append(&b, chunk, (size_t)n);
  if (fd >= 0) close(fd);
  if (!rc && n < 0) rc = PIER_EIO;
  if (rc) snprintf(err, errlen, "cannot read %s: %s", path, pier_strerror(rc));
  if (!rc && !(*out = pier_json_parse(pier_buf_slice(&b), 32, err, errlen))) rc = PIER_EINVAL;
  pier_buf_dispose(&b);
  return rc;
}

static int fill_spec(const cJSON *j, pier_sandbox_spec *s, sb_strv *argv, sb_strv *env, char *err, size_t errlen) {
  s->data_dir = pier_json_str(j, "data_dir");
  s->snapshot = pier_json_str(j, "snapshot");
  s->workdir = pier_json_str(j, "workdir");
  s->network = pier_json_bool(j, "network", false);
  s->gateway_socket = pier_json_str(j, "gateway_socket");
  s->gateway_port = (int)pier_json_num(j, "gateway_port", 0);
  s->cpus = (int)pier_json_num(j, "cpus", 0);
  s->procs_max = (int)pier_json_num(j, "procs_max", 0);
  s->timeout_ms = (uint64_t)pier_json_num(j, "timeout_ms", pier_json_num(j, "timeout_sec", 0) * 1000);
  s->output_bytes_max = (size_t)pier_json_num(j, "output_bytes_max", 0);
  const cJSON *mem = cJSON_GetObjectItemCaseSensitive(j, "memory");
  if (cJSON_IsNumber(mem)) s->memory_bytes = (uint64_t)mem->valuedouble;
  if (cJSON_IsString(mem) && pier_memory_parse(mem->valuestring, &s->memory_bytes)) {
    snprintf(err, errlen, "memory: expected a size like \"8G\" or \"512M\"");
    return PIER_EINVAL;
  }
  const char *agent = pier_json_str(j, "agent");
  char cmd[PATH_MAX];
  int rc = agent && s->data_dir ? pier_agent_command(s->data_dir, agent, cmd, sizeof cmd, err, errlen) : 0;
  if (rc || (agent && (rc = sb_strv_push(argv, cmd)))) return rc;
  const cJSON *a = cJSON_GetObjectItemCaseSensitive(j, "argv"), *e = cJSON_GetObjectItemCaseSensitive(j, "env");
  if (!cJSON_IsArray(a) || collect(a, false, argv) || (e && collect(e, cJSON_IsObject(e), env))) {
    snprintf(err, errlen, "argv must be a list of strings; env an object or a list of \"K=V\" strings");
    return PIER_EINVAL;
  }
  s->argv = (const char *const *)argv->v;
  s->env = (const char *const *)env->v;
  return 0;
}

int sb_run_main(int argc, char **argv) {
  if (argc != 2 || strcmp(argv[0], "--spec-json") != 0) {
    fputs("usage: pier sandbox-run --spec-json FILE\n", stderr);
    return 2;
  }
  char err[1024] = "", self[PATH_MAX];
  cJSON *j = NULL;
  if (read_spec(argv[1], &j, err, sizeof err)) return print_error(err);
  pier_sandbox_spec spec = {0};
  sb_strv av = {0}, env = {0};
  int rc = fill_spec(j, &spec, &av, &env, err, sizeof err);
  if (!rc && (rc = pier_sandbox_self_path(self, sizeof self))) snprintf(err, sizeof err, "cannot find pier's path");
  spec.pier_binary = self;
  uv_loop_t loop;
  uv_loop_init(&loop);
  run_ctx ctx = {0};
  pier_buf_init(&ctx.out, 0);
  pier_sandbox *sb = NULL;
  uv_timer_t cancel;
  uv_timer_init(&loop, &cancel);
  if (!rc) rc = pier_sandbox_start(&loop, &spec, on_exit_json, &ctx, &sb, err, sizeof err);
  double cancel_ms = pier_json_num(j, "cancel_after_ms", 0);
  if (!rc && cancel_ms > 0) {
    cancel.data = sb;
    uv_timer_start(&cancel, on_cancel_timer, (uint64_t)cancel_ms, 0);
  }
  while (!rc && !ctx.done) uv_run(&loop, UV_RUN_ONCE);
  uv_close((uv_handle_t *)&cancel, NULL);
  uv_run(&loop, UV_RUN_DEFAULT); /* let the sandbox's handles close */
  uv_loop_close(&loop);
  cJSON_Delete(j);
  sb_strv_dispose(&av);
  sb_strv_dispose(&env);
  if (rc) {
    pier_buf_dispose(&ctx.out);
    return print_error(err);
  }
  fputs(ctx.out.len ? ctx.out.ptr : "{\"error\": \"out of memory\"}\n", stdout);
  pier_buf_dispose(&ctx.out);
  return 0;
}
