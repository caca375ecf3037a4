/* fuzz_path.c — libFuzzer harness for path expressions, templates and config resolution.
 * Invariant checked: success yields a value, failure yields NULL and a message. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "engine/path.h"

static const char CTX[] =
    "{\"init_params\": {\"prompt\": \"Hello\", \"file_paths\": [\"a/b.png\", \"c/d.pdf\"], \"n\": 3,"
    " \"weird.key\": {\"x\": [1, [2, 3], {\"y\": null}]}, \"vars\": {\"name\": \"Ada\"}},"
    " \"step1\": {\"inputs\": {\"prompt\": \"Hello\"}, \"outputs\": {\"text\": \"Hi\", \"usage\": {\"t\": 1}}},"
    " \"x\": {\"outputs\": {\"items\": [{\"id\": 1, \"tags\": [\"a\", \"b\"]}, {\"id\": 2, \"tags\": []},"
    " {\"id\": 3, \"tags\": [\"c\"]}], \"m\": [[1, 2], [3, 4], []]}}}";

static cJSON *ctx_once(void) {
  static cJSON *ctx;
  if (!ctx) {
    char err[64];
    ctx = pier_json_parse(PIER_SLICE_LIT(CTX), 64, err, sizeof(err));
    if (!ctx) abort();
  }
  return ctx;
}

static void check_msg(int rc, const char *err, size_t errlen) {
  if (memchr(err, '\0', errlen) == NULL) abort();
  if (rc && err[0] == '\0') abort(); /* every failure says why */
}

static void fuzz_eval(const cJSON *ctx, pier_slice s) {
  char err[256];
  cJSON *out = (cJSON *)1;
  int rc = pier_path_eval(ctx, s, &out, err, sizeof(err));
  check_msg(rc, err, sizeof(err));
  if ((rc == 0) != (out != NULL)) abort();
  int rc2 = pier_path_check(s, err, sizeof(err));
  if (rc2 && rc != rc2) abort(); /* a syntax error is reported the same way by both */
  cJSON_Delete(out);
}

static void fuzz_render(const cJSON *ctx, pier_slice s, bool vars) {
  char err[256];
  pier_buf b;
  pier_buf_init(&b, 1 << 20);
  if (vars) {
    const cJSON *v = cJSON_GetObjectItem(cJSON_GetObjectItem(ctx, "init_params"), "vars");
    int rc = pier_template_render_vars(v, s, &b);
    bool same = b.len == s.len && (s.len == 0 || memcmp(b.ptr, s.ptr, s.len) == 0);
    if (rc == 0 && !same && memchr(s.ptr, '{', s.len) == NULL) abort(); /* no braces: copied as is */
  } else {
    int rc = pier_template_render(ctx, s, &b, err, sizeof(err));
    check_msg(rc, err, sizeof(err));
  }
  pier_buf_dispose(&b);
}

static void fuzz_resolve(const cJSON *ctx, pier_slice s) {
  char err[256];
  cJSON *cfg = pier_json_parse(s, 64, err, sizeof(err));
  if (!cfg) return;
  cJSON *out = (cJSON *)1;
  int rc = pier_path_resolve_config(cfg, ctx, &out, err, sizeof(err));
  check_msg(rc, err, sizeof(err));
  if ((rc == 0) != (out != NULL)) abort();
  cJSON_Delete(out);
  cJSON_Delete(cfg);
}

/* "<json context> NUL <expression>": evaluate against a context from the input. */
static void fuzz_own_ctx(pier_slice s) {
  const char *nul = memchr(s.ptr, '\0', s.len);
  if (!nul) return;
  char err[256];
  cJSON *ctx = pier_json_parse(pier_slice_make(s.ptr, (size_t)(nul - s.ptr)), 64, err, sizeof(err));
  if (!ctx) return;
  fuzz_eval(ctx, pier_slice_make(nul + 1, s.len - (size_t)(nul - s.ptr) - 1));
  cJSON_Delete(ctx);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0) return 0;
  const cJSON *ctx = ctx_once();
  pier_slice s = pier_slice_make((const char *)data + 1, size - 1);
  switch (data[0] % 5) {
  case 0: fuzz_eval(ctx, s); break;
  case 1: fuzz_render(ctx, s, false); break;
  case 2: fuzz_render(ctx, s, true); break;
  case 3: fuzz_resolve(ctx, s); break;
  default: fuzz_own_ctx(s); break;
  }
  return 0;
}
