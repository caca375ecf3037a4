/* runbook.c — Jetty's `runbook` activity: a coding agent (Claude Code, Codex,
 * Gemini CLI) runs the instruction inside a bubblewrap sandbox with /app/assets
 * (the step's files) and /app/results (what it leaves behind is stored).
 * Claude Code reaches models only through pier, with a token scoped to this run:
 * the collection's credentials never enter the sandbox, and pier meters every
 * call. Lifecycle: prepare /app (worker) -> sandbox -> collect results
 * (worker) -> record files -> outputs; a cancel kills the sandbox. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "base/json.h"
#include "base/log.h"
#include "base/util.h"
#include "engine/activities/common.h"
#include "engine/activities/runbook_fs.h"
#include "engine/path.h"
#include "sandbox/sandbox.h"

#define TEXT_MAX (64 * 1024)
#define INSTRUCTION_MAX (1024 * 1024)
#define FILES_MAX 100
#define AGENT_ENV_MAX 64

typedef struct rb {
  pier_step *s; /* NULL once the step is gone (cancelled) */
  uv_loop_t *loop;
  char agent[32], model[256], provider[32], token[64];
  char *instruction, *workdir, *files_root, *prefix, *snapshot;
  char **inputs;
  size_t ninputs;
  int cpus, timeout_s;
  int64_t started_us;
  uint64_t memory;
  bool network;
  char **env; /* NAME=value, NULL-terminated (holds the token: wiped in rb_free) */
  size_t nenv;
  pier_sandbox *sb;
  /* results */
  pier_rb_result *results;
  size_t nresults;
  pier_file_rec *recs;
  int exit_status;
  bool timed_out;
  char *out, *err, *warning;
  char fs_err[256];
  int fs_rc;
  /* live output: Claude Code's stream-json lines */
  pier_buf line;
  bool line_skip;      /* the current line outgrew the buffer: ignore it */
  char *result;        /* the "result" event's text */
  bool result_error;
} rb;

static void rb_free(rb *x) {
  free(x->instruction);
  free(x->workdir);
  free(x->files_root);
  free(x->prefix);
  free(x->snapshot);
  for (size_t i = 0; i < x->ninputs; i++) free(x->inputs[i]);
  free(x->inputs);
  pier_rb_results_free(x->results, x->nresults);
  free(x->recs);
  free(x->out);
  free(x->err);
  free(x->warning);
  free(x->result);
  pier_buf_dispose(&x->line);
  for (size_t i = 0; i < x->nenv; i++) {
    sodium_memzero(x->env[i], strlen(x->env[i]));
    free(x->env[i]);
  }
  free(x->env);
  sodium_memzero(x->token, sizeof x->token);
  free(x);
}

/* The agent's token stops working now; what it metered goes on the step. */
static void rb_revoke(rb *x, pier_step *s) {
  if (!x->token[0] || !s) return;
  const pier_engine_config *cfg = pier_step_engine_config(s);
  pier_usage u = {0};
  double cost = 0;
  int calls = 0;
  if (cfg->token_revoke) cfg->token_revoke(cfg->token_ctx, x->token, &u, &cost, &calls);
  memset(x->token, 0, sizeof x->token);
  pier_step_set_usage(s, &u, cost, calls);
}

static void cleanup_run(uv_work_t *w) { pier_rb_remove(((rb *)w->data)->workdir); }
static void cleanup_done(uv_work_t *w, int status) {
  (void)status;
  rb_free(w->data);
  free(w);
}

/* The end, whichever way: /app is removed off the loop, then x is freed. */
static void finish(rb *x) {
  if (x->s) pier_step_set_state(x->s, NULL);
  x->s = NULL;
  uv_work_t *w = malloc(sizeof *w);
  if (w) w->data = x;
  if (!w || !x->workdir || uv_queue_work(x->loop, w, cleanup_run, cleanup_done) != 0) {
    free(w);
    if (x->workdir) pier_rb_remove(x->workdir);
    rb_free(x);
  }
}

/* ---- outputs ------------------------------------------------------------------------- */

static cJSON *file_json(const pier_rb_result *r) {
  cJSON *f = cJSON_CreateObject();
  cJSON_AddStringToObject(f, "path", r->storage_path);
  cJSON_AddStringToObject(f, "sandbox_path", r->sandbox_path);
  cJSON_AddStringToObject(f, "content_type", r->content_type);
  cJSON_AddStringToObject(f, "extension", r->extension);
  cJSON_AddNumberToObject(f, "size", (double)r->size);
  return f;
}

/* primary_outputs: names relative to /app/results, in declaration order. */
static cJSON *primary_files(rb *x, const cJSON *primary) {
  cJSON *arr = cJSON_CreateArray();
  for (const cJSON *p = cJSON_IsArray(primary) ? primary->child : primary; p; p = cJSON_IsArray(primary) ? p->next : NULL) {
    if (!cJSON_IsString(p)) continue;
    char want[600];
    snprintf(want, sizeof want, "/app/results/%s", p->valuestring[0] == '/' ? p->valuestring + 1 : p->valuestring);
    for (size_t i = 0; i < x->nresults; i++)
      if (!strcmp(x->results[i].sandbox_path, want) || !strcmp(x->results[i].sandbox_path, p->valuestring))
        cJSON_AddItemToArray(arr, file_json(&x->results[i]));
  }
  return arr;
}

static void put_outputs(rb *x, pier_step *s) {
  cJSON *out = pier_step_outputs(s);
  bool ok = x->exit_status == 0 && !x->timed_out;
  cJSON_AddBoolToObject(out, "success", ok);
  cJSON *files = cJSON_AddArrayToObject(out, "results_files");
  cJSON *all = cJSON_AddArrayToObject(out, "files");
  for (size_t i = 0; i < x->nresults; i++) {
    cJSON_AddItemToArray(files, file_json(&x->results[i]));
    cJSON_AddItemToArray(all, file_json(&x->results[i]));
  }
  cJSON_AddItemToObject(out, "primary_files", primary_files(x, cJSON_GetObjectItemCaseSensitive(pier_step_inputs(s), "primary_outputs")));
  const char *final = x->result ? x->result : x->out ? x->out : ""; /* Claude Code's result, else stdout */
  size_t n = strlen(final);
  while (n && (final[n - 1] == '\n' || final[n - 1] == ' ')) n--;
  char *text = pier_slice_dup(pier_slice_make(final, n < TEXT_MAX ? n : TEXT_MAX));
  cJSON_AddStringToObject(out, "text", text ? text : "");
  free(text);
  cJSON *tr = cJSON_AddObjectToObject(out, "transcript");
  cJSON_AddStringToObject(tr, "stdout", x->out ? x->out : "");
  cJSON_AddStringToObject(tr, "stderr", x->err ? x->err : "");
  cJSON_AddNumberToObject(out, "exit_code", x->exit_status);
  cJSON_AddStringToObject(out, "agent", x->agent);
  cJSON_AddStringToObject(out, "model", x->model);
  if (x->warning) cJSON_AddStringToObject(out, "warning", x->warning);
}

/* usage in the outputs too (Jetty's runbook shape), once revoke filled the step's */
static void put_usage(pier_step *s, double seconds) {
  cJSON *u = cJSON_CreateObject();
  pier_step_usage_json(s, u);
  cJSON_AddNumberToObject(u, "duration_seconds", seconds);
  cJSON_AddItemToObject(pier_step_outputs(s), "usage", u);
}

/* ---- the pipeline -------------------------------------------------------------------------- */

/* Ending the step may free it at once: x lets go of it first. */
static void end_step(rb *x, pier_step *s, const char *error) {
  rb_revoke(x, s);
  if (!error) put_usage(s, (double)(pier_now_us() - x->started_us) / 1e6);
  pier_step_set_state(s, NULL);
  x->s = NULL;
  if (error) pier_step_fail(s, "%s", error);
  else pier_step_done(s);
  finish(x);
}

static void recorded(pier_step *s, void *arg, int rc) {
  rb *x = arg;
  if (rc) {
    end_step(x, s, "could not record the agent's result files");
    return;
  }
  rb_revoke(x, s); /* the usage is final now */
  put_outputs(x, s);
  char err[600] = "";
  if (x->exit_status != 0) {
    const char *tail = x->result && x->result_error ? x->result : x->err && x->err[0] ? x->err : x->out ? x->out : "";
    size_t n = strlen(tail);
    snprintf(err, sizeof err, "the agent exited with status %d: %s", x->exit_status, n > 400 ? tail + n - 400 : tail);
  }
  end_step(x, s, err[0] ? err : NULL);
}

static void collect_work(void *arg) {
  rb *x = arg;
  x->fs_rc = pier_rb_collect(x->workdir, x->files_root, x->prefix, &x->results, &x->nresults, x->fs_err,
                             sizeof x->fs_err);
}

static void collected(pier_step *s, void *arg, bool ok) {
  rb *x = arg;
  if (!s) {
    finish(x);
    return;
  }
  if (!ok || x->fs_rc) {
    end_step(x, s, x->fs_err[0] ? x->fs_err : "could not collect the agent's results");
    return;
  }
  if (!x->nresults) {
    recorded(s, x, 0);
    return;
  }
  x->recs = calloc(x->nresults, sizeof *x->recs);
  for (size_t i = 0; x->recs && i < x->nresults; i++)
    x->recs[i] = (pier_file_rec){.path = x->results[i].storage_path, .collection_id = pier_step_collection_id(s),
                                 .content_type = x->results[i].content_type, .size = x->results[i].size,
                                 .created_us = pier_now_us()};
  if (!x->recs || pier_step_record_files(s, x->recs, x->nresults, recorded, x) != 0)
    end_step(x, s, "could not record the agent's result files");
}

/* One line of `claude -p --output-format stream-json`: assistant text and tool
 * calls become progress; the "result" event is the step's text. */
static void stream_json_line(rb *x, pier_slice line) {
  char err[64];
  cJSON *ev = pier_json_parse(line, 64, err, sizeof err);
  const char *type = ev ? pier_json_str(ev, "type") : NULL;
  if (type && !strcmp(type, "result")) {
    const char *r = pier_json_str(ev, "result");
    free(x->result);
    x->result = r ? strdup(r) : NULL;
    x->result_error = pier_json_bool(ev, "is_error", false);
  } else if (type && !strcmp(type, "assistant")) {
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(ev, "message"), "content");
    pier_buf b;
    pier_buf_init(&b, 8192);
    for (const cJSON *c = cJSON_IsArray(content) ? content->child : NULL; c; c = c->next) {
      const char *ct = pier_json_str(c, "type");
      int rc = 0;
      if (ct && !strcmp(ct, "text") && pier_json_str(c, "text")) {
        rc = pier_buf_appendf(&b, "%s\n", pier_json_str(c, "text"));
      } else if (ct && !strcmp(ct, "tool_use")) {
        const cJSON *in = cJSON_GetObjectItemCaseSensitive(c, "input");
        static const char *const keys[] = {"file_path", "command", "pattern", "path", "url", "description", NULL};
        const cJSON *what = pier_act_first(in, keys, NULL);
        const char *name = pier_json_str(c, "name");
        rc = pier_buf_appendf(&b, "> %s %.200s\n", name ? name : "tool", cJSON_IsString(what) ? what->valuestring : "");
      }
      if (rc) break;
    }
    if (b.len && x->s) pier_step_progress(x->s, pier_buf_slice(&b));
    pier_buf_dispose(&b);
  }
  cJSON_Delete(ev);
}

static void on_sandbox_output(void *arg, bool is_stderr, pier_slice bytes) {
  rb *x = arg;
  if (!x->s || is_stderr) return;
  if (strcmp(x->agent, "claude-code") != 0) { /* plain text agents: their stdout as it comes */
    pier_step_progress(x->s, bytes);
    return;
  }
  for (size_t i = 0; i < bytes.len;) {
    const char *nl = memchr(bytes.ptr + i, '\n', bytes.len - i);
    size_t n = nl ? (size_t)(nl - (bytes.ptr + i)) : bytes.len - i;
    if (!x->line_skip && pier_buf_append(&x->line, bytes.ptr + i, n) != 0) x->line_skip = true;
    i += n + (nl ? 1 : 0);
    if (!nl) break;
    if (!x->line_skip && x->line.len) stream_json_line(x, pier_buf_slice(&x->line));
    pier_buf_reset(&x->line);
    x->line_skip = false;
  }
}

static void on_sandbox_exit(void *arg, const pier_sandbox_result *res) {
  rb *x = arg;
  x->sb = NULL;
  pier_step *s = x->s;
  if (!s) { /* cancelled: the step is gone */
    finish(x);
    return;
  }
  x->exit_status = res->exit_status;
  x->timed_out = res->timed_out;
  x->out = pier_slice_dup(res->out);
  x->err = pier_slice_dup(res->err);
  if (res->warning && !x->warning) x->warning = strdup(res->warning);
  if (res->timed_out) {
    char msg[64];
    snprintf(msg, sizeof msg, "timed out after %d s", x->timeout_s);
    end_step(x, s, msg);
    return;
  }
  if (pier_step_work(s, collect_work, collected, x) != 0) end_step(x, s, "could not collect the agent's results");
}

/* ---- start: prepare /app, then the sandbox ----------------------------------------------- */

static void prepare_work(void *arg) {
  rb *x = arg;
  x->fs_rc = pier_rb_prepare(x->workdir, x->inputs, x->ninputs, x->fs_err, sizeof x->fs_err);
  if (x->fs_rc) return;
  /* the instruction goes in a file, not argv (visible to every process) */
  char path[4200];
  snprintf(path, sizeof path, "%s/.pier", x->workdir);
  if (mkdir(path, 0700) != 0) {
    x->fs_rc = PIER_EIO;
    snprintf(x->fs_err, sizeof x->fs_err, "could not create the sandbox's /app/.pier");
    return;
  }
  snprintf(path, sizeof path, "%s/.pier/instruction.md", x->workdir);
  FILE *f = fopen(path, "wx");
  size_t n = strlen(x->instruction);
  if (!f || fwrite(x->instruction, 1, n, f) != n || fclose(f) != 0) {
    if (f) fclose(f);
    x->fs_rc = PIER_EIO;
    snprintf(x->fs_err, sizeof x->fs_err, "could not write the instruction into the sandbox");
  }
}

/* How each agent is started: the instruction comes from a file on stdin (or
 * read by the shell for Gemini CLI), the model from $PIER_MODEL. */
static const char *agent_script(const char *agent) {
  if (!strcmp(agent, "codex"))
    return "exec \"$0\" exec --model \"$PIER_MODEL\" --skip-git-repo-check "
           "--dangerously-bypass-approvals-and-sandbox - < /app/.pier/instruction.md";
  if (!strcmp(agent, "gemini-cli"))
    return "exec \"$0\" -m \"$PIER_MODEL\" -y -p \"$(cat /app/.pier/instruction.md)\" < /dev/null";
  return "exec \"$0\" -p --model \"$PIER_MODEL\" --dangerously-skip-permissions --output-format stream-json "
         "--verbose < /app/.pier/instruction.md";
}

static void prepared(pier_step *s, void *arg, bool ok) {
  rb *x = arg;
  if (!s) {
    finish(x);
    return;
  }
  if (!ok || x->fs_rc) {
    end_step(x, s, x->fs_err[0] ? x->fs_err : "could not prepare the sandbox's /app");
    return;
  }
  const pier_engine_config *cfg = pier_step_engine_config(s);
  char cmd[1024], err[512];
  if (pier_agent_command(pier_step_data_dir(s), x->agent, cmd, sizeof cmd, err, sizeof err) != 0) {
    end_step(x, s, err);
    return;
  }
  const char *argv[] = {"/bin/sh", "-c", agent_script(x->agent), cmd, NULL};
  pier_sandbox_spec spec = {
      .data_dir = pier_step_data_dir(s),
      .snapshot = x->snapshot,
      .workdir = x->workdir,
      .argv = argv,
      .env = (const char *const *)x->env,
      .network = x->network,
      .gateway_socket = cfg->gateway_socket,
      .gateway_port = cfg->gateway_port,
      .pier_binary = cfg->pier_binary,
      .cpus = x->cpus,
      .memory_bytes = x->memory,
      .timeout_ms = (uint64_t)x->timeout_s * 1000,
      .on_output = on_sandbox_output,
  };
  if (pier_sandbox_start(x->loop, &spec, on_sandbox_exit, x, &x->sb, err, sizeof err) != 0) {
    x->sb = NULL;
    end_step(x, s, err);
    return;
  }
  const char *w = pier_sandbox_warning(x->sb);
  if (w && !x->warning) x->warning = strdup(w);
  char line[600];
  int n = snprintf(line, sizeof line, "Running agent: %s via %s (model %s)\n%s%s", x->agent,
                   x->provider[0] ? x->provider : "pier", x->model, w ? w : "", w ? "\n" : "");
  pier_step_progress(s, pier_slice_make(line, n > 0 && (size_t)n < sizeof line ? (size_t)n : 0));
}

/* ---- inputs ------------------------------------------------------------------------------- */

static bool has_prefix(const char *s, const char *p) { return strncmp(s, p, strlen(p)) == 0; }

/* Jetty's inference when `agent` is unset: by the model's family. */
static const char *infer_agent(const char *model) {
  if (!model) return "claude-code";
  const char *m = strrchr(model, '/') ? strrchr(model, '/') + 1 : model;
  if (has_prefix(m, "gpt-") || has_prefix(m, "o1") || has_prefix(m, "o3") || has_prefix(m, "o4") ||
      has_prefix(model, "openai/") || has_prefix(m, "codex"))
    return "codex";
  if (has_prefix(m, "gemini") || has_prefix(model, "gemini/")) return "gemini-cli";
  return "claude-code";
}

static const char *default_model(const char *agent) {
  if (!strcmp(agent, "codex")) return "gpt-5.5";
  if (!strcmp(agent, "gemini-cli")) return "gemini-3.1-pro-preview";
  return "claude-sonnet-4-6";
}

static int push_env(rb *x, const char *name, const char *value) {
  char **grown = realloc(x->env, (x->nenv + 2) * sizeof *grown);
  if (!grown) return PIER_ENOMEM;
  x->env = grown;
  size_t n = strlen(name) + strlen(value) + 2;
  char *e = malloc(n);
  if (!e) return PIER_ENOMEM;
  snprintf(e, n, "%s=%s", name, value);
  x->env[x->nenv++] = e;
  x->env[x->nenv] = NULL;
  return 0;
}

static bool env_name_ok(const char *n) {
  if (!n[0] || strlen(n) > 128 || (n[0] >= '0' && n[0] <= '9')) return false;
  for (const char *p = n; *p; p++)
    if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
      return false;
  return true;
}

/* Names pier sets for the agent and agent_env may not replace: they are how it
 * reaches models only through pier. */
static bool env_reserved(const char *n) {
  static const char *const reserved[] = {"ANTHROPIC_BASE_URL", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_API_KEY",
                                         "PIER_RUN_TOKEN", "PIER_GATEWAY_URL", "PIER_MODEL", NULL};
  for (int i = 0; reserved[i]; i++)
    if (!strcmp(n, reserved[i])) return true;
  return false;
}

static int build_env(rb *x, pier_step *s, const cJSON *in, char *err, size_t errlen) {
  char url[64];
  snprintf(url, sizeof url, "http://127.0.0.1:%d", pier_step_engine_config(s)->gateway_port);
  int rc = push_env(x, "PIER_MODEL", x->model);
  if (!rc) rc = push_env(x, "PIER_RESULTS_DIR", "/app/results");
  if (!rc) rc = push_env(x, "PIER_RUN_ID", pier_step_run_id(s));
  if (!rc) rc = push_env(x, "PIER_GATEWAY_URL", url);
  if (!rc) rc = push_env(x, "PIER_RUN_TOKEN", x->token);
  if (!strcmp(x->agent, "claude-code")) {
    if (!rc) rc = push_env(x, "ANTHROPIC_BASE_URL", url);
    if (!rc) rc = push_env(x, "ANTHROPIC_AUTH_TOKEN", x->token);
    if (!rc) rc = push_env(x, "ANTHROPIC_MODEL", x->model);
    /* background calls (titles, summaries) use the same model, so a Bedrock
     * collection needs no second inference profile */
    if (!rc) rc = push_env(x, "ANTHROPIC_SMALL_FAST_MODEL", x->model);
    if (!rc) rc = push_env(x, "ANTHROPIC_DEFAULT_HAIKU_MODEL", x->model);
    if (!rc) rc = push_env(x, "DISABLE_AUTOUPDATER", "1");
    if (!rc) rc = push_env(x, "DISABLE_TELEMETRY", "1");
    if (!rc) rc = push_env(x, "DISABLE_ERROR_REPORTING", "1");
    if (!rc) rc = push_env(x, "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1");
  } else {
    /* Codex and Gemini CLI speak APIs pier does not serve yet: they get their
     * provider's key, as Jetty does */
    const cJSON *env = pier_step_env(s);
    const char *k = !strcmp(x->agent, "codex") ? pier_act_str(env, "OPENAI_API_KEY") : NULL;
    if (!rc && k) rc = push_env(x, "OPENAI_API_KEY", k);
    const char *base = !strcmp(x->agent, "codex") ? pier_act_str(env, "OPENAI_BASE_URL") : NULL;
    if (!rc && base) rc = push_env(x, "OPENAI_BASE_URL", base);
    if (!strcmp(x->agent, "gemini-cli")) {
      const char *g = pier_act_str(env, "GEMINI_API_KEY");
      if (!g) g = pier_act_str(env, "GOOGLE_API_KEY");
      if (!rc && g) rc = push_env(x, "GEMINI_API_KEY", g);
      if (!rc && g) rc = push_env(x, "GOOGLE_API_KEY", g);
    }
  }
  const cJSON *extra = cJSON_GetObjectItemCaseSensitive(in, "agent_env");
  if (!rc && extra && !cJSON_IsNull(extra)) {
    if (!cJSON_IsObject(extra)) {
      snprintf(err, errlen, "agent_env must be an object of NAME: value");
      return PIER_EINVAL;
    }
    int n = 0;
    for (const cJSON *v = extra->child; !rc && v; v = v->next) {
      if (++n > AGENT_ENV_MAX) {
        snprintf(err, errlen, "agent_env has more than %d variables", AGENT_ENV_MAX);
        return PIER_EINVAL;
      }
      if (!env_name_ok(v->string)) {
        snprintf(err, errlen, "agent_env: \"%.80s\" is not a valid variable name (letters, digits, _)", v->string);
        return PIER_EINVAL;
      }
      if (env_reserved(v->string)) {
        snprintf(err, errlen, "agent_env may not set %s: pier sets it so the agent reaches models through pier",
                 v->string);
        return PIER_EINVAL;
      }
      char num[64];
      const char *val = cJSON_IsString(v) ? v->valuestring : NULL;
      if (cJSON_IsNumber(v)) {
        snprintf(num, sizeof num, "%.17g", v->valuedouble);
        val = num;
      } else if (cJSON_IsBool(v)) {
        val = cJSON_IsTrue(v) ? "true" : "false";
      }
      if (!val || strlen(val) > 32768) {
        snprintf(err, errlen, "agent_env.%.80s must be a string, number or boolean (at most 32 KiB)", v->string);
        return PIER_EINVAL;
      }
      rc = push_env(x, v->string, val);
    }
  }
  if (rc) snprintf(err, errlen, "out of memory");
  return rc;
}

/* files: storage paths of this collection -> host paths under <data-dir>/files. */
static int input_files(rb *x, pier_step *s, const cJSON *in, char *err, size_t errlen) {
  const char *which = NULL;
  static const char *const keys[] = {"files", "file_paths", NULL};
  const cJSON *f = pier_act_first(in, keys, &which);
  if (!f) return 0;
  if (cJSON_IsString(f) && !f->valuestring[0]) return 0;
  if (!cJSON_IsString(f) && !cJSON_IsArray(f)) {
    snprintf(err, errlen, "%s must be a list of storage paths", which);
    return PIER_EINVAL;
  }
  int n = cJSON_IsArray(f) ? cJSON_GetArraySize(f) : 1;
  if (n > FILES_MAX) {
    snprintf(err, errlen, "%s has %d entries; at most %d files go into a sandbox", which, n, FILES_MAX);
    return PIER_EINVAL;
  }
  x->inputs = calloc((size_t)n + 1, sizeof *x->inputs);
  if (!x->inputs) return PIER_ENOMEM;
  const char *dd = pier_step_data_dir(s);
  for (const cJSON *p = cJSON_IsArray(f) ? f->child : f; p; p = cJSON_IsArray(f) ? p->next : NULL) {
    if (!cJSON_IsString(p) || !pier_step_storage_path_ok(s, p->valuestring)) {
      snprintf(err, errlen, "%s: %.200s is not a stored file of collection %s (a storage path looks like "
               "%s/{task}/0000/...)", which, cJSON_IsString(p) ? p->valuestring : "(not a string)",
               pier_step_collection(s), pier_step_collection(s));
      return PIER_EINVAL;
    }
    size_t len = strlen(dd) + strlen(p->valuestring) + 8;
    char *host = malloc(len);
    if (!host) return PIER_ENOMEM;
    snprintf(host, len, "%s/files/%s", dd, p->valuestring);
    x->inputs[x->ninputs++] = host;
  }
  return 0;
}

static int instruction(rb *x, const cJSON *in, char *err, size_t errlen) {
  const char *text = pier_act_str(in, "instruction");
  if (!text) text = pier_act_str(in, "runbook");
  if (!text) {
    snprintf(err, errlen, "instruction is required: the runbook the agent follows (markdown)");
    return PIER_EINVAL;
  }
  const char *which = NULL;
  static const char *const keys[] = {"template_variables", "vars", NULL};
  const cJSON *vars = pier_act_first(in, keys, &which);
  if (vars && !cJSON_IsObject(vars)) {
    snprintf(err, errlen, "%s must be an object of name: value", which);
    return PIER_EINVAL;
  }
  cJSON *all = vars ? cJSON_Duplicate(vars, true) : cJSON_CreateObject();
  if (!all) return PIER_ENOMEM;
  if (!cJSON_GetObjectItemCaseSensitive(all, "results_dir")) cJSON_AddStringToObject(all, "results_dir", "/app/results");
  pier_buf b;
  pier_buf_init(&b, INSTRUCTION_MAX);
  int rc = pier_template_render_vars(all, pier_slice_from(text), &b);
  cJSON_Delete(all);
  if (rc) {
    pier_buf_dispose(&b);
    snprintf(err, errlen, rc == PIER_ETOOBIG ? "the instruction is larger than 1 MiB after {{var}} substitution"
                                             : "out of memory");
    return rc;
  }
  x->instruction = pier_buf_detach(&b, NULL);
  return x->instruction ? 0 : PIER_ENOMEM;
}

static int parse(rb *x, pier_step *s, char *err, size_t errlen) {
  const cJSON *in = pier_step_inputs(s);
  const char *agent = pier_act_str(in, "agent");
  const char *model = pier_act_str(in, "model");
  if (!agent) agent = infer_agent(model);
  if (strcmp(agent, "claude-code") && strcmp(agent, "codex") && strcmp(agent, "gemini-cli")) {
    snprintf(err, errlen, "agent \"%.40s\" is not supported; use claude-code, codex or gemini-cli", agent);
    return PIER_EINVAL;
  }
  if (!model) model = default_model(agent);
  const char *provider = pier_act_str(in, "model_provider");
  if (strlen(model) >= sizeof x->model || (provider && strlen(provider) >= sizeof x->provider)) {
    snprintf(err, errlen, "model or model_provider is too long");
    return PIER_EINVAL;
  }
  snprintf(x->agent, sizeof x->agent, "%s", agent);
  snprintf(x->model, sizeof x->model, "%s", model);
  snprintf(x->provider, sizeof x->provider, "%s", provider ? provider : "");
  const char *snap = pier_act_str(in, "snapshot");
  if (!snap) snap = pier_act_str(in, "image");
  x->snapshot = strdup(snap ? snap : PIER_SANDBOX_SNAPSHOT_DEFAULT);
  if (!x->snapshot) return PIER_ENOMEM;
  int rc = pier_act_int(in, "cpus", 4, 1, 1024, 0, &x->cpus, err, errlen);
  if (!rc) rc = pier_act_int(in, "timeout_sec", 1200, 1, 7 * 24 * 3600, 0, &x->timeout_s, err, errlen);
  if (!rc && cJSON_GetObjectItemCaseSensitive(in, "timeout") && !cJSON_GetObjectItemCaseSensitive(in, "timeout_sec"))
    rc = pier_act_int(in, "timeout", 1200, 1, 7 * 24 * 3600, 0, &x->timeout_s, err, errlen);
  if (!rc) rc = pier_act_bool(in, "network_enabled", true, &x->network, err, errlen);
  if (rc) return rc;
  const cJSON *mem = cJSON_GetObjectItemCaseSensitive(in, "memory");
  char membuf[32];
  const char *ms = cJSON_IsString(mem) ? mem->valuestring : "8G";
  if (cJSON_IsNumber(mem)) {
    snprintf(membuf, sizeof membuf, "%.0f", mem->valuedouble);
    ms = membuf;
  }
  if ((mem && !cJSON_IsNull(mem) && !cJSON_IsString(mem) && !cJSON_IsNumber(mem)) ||
      pier_memory_parse(ms, &x->memory) != 0 || x->memory < 64ull * 1024 * 1024) {
    snprintf(err, errlen, "memory must be a size of at least 64M such as \"8G\" or \"512M\" (got %.40s)",
             cJSON_IsString(mem) ? mem->valuestring : "a non-size value");
    return PIER_EINVAL;
  }
  rc = instruction(x, in, err, errlen);
  if (!rc) rc = input_files(x, s, in, err, errlen);
  return rc;
}

static void start(pier_step *s) {
  rb *x = calloc(1, sizeof *x);
  if (!x) {
    pier_step_fail(s, "out of memory");
    return;
  }
  x->s = s;
  x->loop = pier_step_executor(s)->loop;
  pier_buf_init(&x->line, 4u * 1024 * 1024);
  x->started_us = pier_now_us();
  char err[600] = "";
  int rc = parse(x, s, err, sizeof err);
  const pier_engine_config *cfg = pier_step_engine_config(s);
  if (!rc && (!cfg->token_issue || !cfg->gateway_port)) {
    snprintf(err, sizeof err, "runbooks need the gateway: this server has no model endpoint for agents");
    rc = PIER_EINVAL;
  }
  if (!rc && cfg->token_issue(cfg->token_ctx, pier_step_collection_id(s), pier_step_run_id(s), x->provider,
                              x->token) != 0) {
    snprintf(err, sizeof err, "could not issue the agent's run token");
    rc = PIER_ENOMEM;
  }
  if (!rc) rc = build_env(x, s, pier_step_inputs(s), err, sizeof err);
  char rnd[13];
  pier_random_alnum(rnd, 12);
  rnd[12] = '\0';
  size_t wl = strlen(pier_step_data_dir(s)) + strlen(pier_step_run_id(s)) + strlen(pier_step_name(s)) + 40;
  if (!rc && (x->workdir = malloc(wl)) != NULL) {
    /* created with its parents by pier_rb_prepare, on a worker thread */
    snprintf(x->workdir, wl, "%s/work/%s-%s", pier_step_data_dir(s), pier_step_run_id(s), rnd);
  }
  size_t fl = strlen(pier_step_data_dir(s)) + 8;
  size_t pl = strlen(pier_step_collection(s)) + strlen(pier_step_task(s)) + strlen(pier_step_run_id(s)) +
              strlen(pier_step_name(s)) + 16;
  if (!rc && (!x->workdir || !(x->files_root = malloc(fl)) || !(x->prefix = malloc(pl)))) rc = PIER_ENOMEM;
  if (!rc) {
    snprintf(x->files_root, fl, "%s/files", pier_step_data_dir(s));
    snprintf(x->prefix, pl, "%s/%s/0000/%s.%s.", pier_step_collection(s), pier_step_task(s), pier_step_run_id(s),
             pier_step_name(s));
  }
  if (rc) {
    if (!err[0]) snprintf(err, sizeof err, "out of memory");
    end_step(x, s, err);
    return;
  }
  pier_step_set_state(s, x);
  if (pier_step_work(s, prepare_work, prepared, x) != 0) end_step(x, s, "could not prepare the sandbox's /app");
}

/* The engine ends the step itself; the token stops working now and the
 * sandbox's process group is killed. What is still in flight (a worker job,
 * the sandbox's exit) releases x when it comes back. */
static void cancel(pier_step *s) {
  rb *x = pier_step_state(s);
  if (!x) return;
  rb_revoke(x, s);
  pier_step_set_state(s, NULL);
  x->s = NULL;
  if (x->sb) {
    pier_sandbox_cancel(x->sb); /* on_sandbox_exit finishes */
    return;
  }
  /* a worker job's completion gets s == NULL and finishes; a pending file
   * record never calls back once cancelled, so finish here */
  if (x->recs) finish(x);
}

const pier_activity pier_act_runbook = {
    .name = "runbook",
    .category = "agents",
    .description = "Run a coding agent (Claude Code, Codex, Gemini CLI) on an instruction inside a sandbox; "
                   "files left in /app/results are stored. Claude Code reaches models only through pier with "
                   "a token scoped to the run, and every call is metered.",
    .params_json =
        "{\"instruction\":{\"type\":\"string\",\"required\":true,\"description\":\"the runbook (markdown); "
        "{{var}} placeholders are filled from template_variables\"},"
        "\"agent\":{\"type\":\"string\",\"description\":\"claude-code (default), codex, gemini-cli\"},"
        "\"model\":{\"type\":\"string\",\"description\":\"e.g. us.anthropic.claude-sonnet-4-6; default by agent\"},"
        "\"model_provider\":{\"type\":\"string\",\"description\":\"bedrock, anthropic, openrouter, openai, gemini\"},"
        "\"snapshot\":{\"type\":\"string\",\"description\":\"root filesystem: python312-uv (default), "
        "prism-playwright, host, or one imported with pier snapshot import\"},"
        "\"template_variables\":{\"type\":\"object\",\"description\":\"values for {{var}}; results_dir is "
        "/app/results\"},"
        "\"files\":{\"type\":\"array\",\"description\":\"storage paths copied into /app/assets\"},"
        "\"primary_outputs\":{\"type\":\"array\",\"description\":\"files under /app/results listed in "
        "outputs.primary_files\"},"
        "\"cpus\":{\"type\":\"integer\",\"default\":4},\"memory\":{\"type\":\"string\",\"default\":\"8G\"},"
        "\"timeout_sec\":{\"type\":\"integer\",\"default\":1200},"
        "\"network_enabled\":{\"type\":\"boolean\",\"default\":true,\"description\":\"false: only pier's gateway "
        "is reachable\"},"
        "\"agent_env\":{\"type\":\"object\",\"description\":\"extra environment variables for the agent\"}}",
    .start = start,
    .cancel = cancel,
};
