/* fuzz_jscan.c — libFuzzer harness for the allocation-free JSON scanner that
 * reads provider replies and stream chunks (untrusted upstream text).
 * Invariants: every span lies inside the input; pier_jscan_pick agrees with
 * pier_jscan_find key by key; unescape never reads outside its token. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/jscan.h"

static const char *const KEYS[] = {"error", "choices", "usage", "model", "id", ""};
#define NKEYS (sizeof KEYS / sizeof KEYS[0])

static void inside(pier_slice in, pier_slice v) {
  if (!v.ptr) return;
  if (v.ptr < in.ptr || v.ptr + v.len > in.ptr + in.len) abort();
}

static int count_member(void *arg, pier_slice key, pier_slice value) {
  pier_slice *in = arg;
  inside(*in, key);
  inside(*in, value);
  if (key.len < 2 || key.ptr[0] != '"') abort();
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *copy = malloc(size ? size : 1); /* exact size: ASan catches any read past the end */
  if (!copy) return 0;
  memcpy(copy, data, size);
  pier_slice in = pier_slice_make(copy, size);
  pier_slice out[NKEYS], v;
  int rc = pier_jscan_pick(in, KEYS, NKEYS, out);
  for (size_t i = 0; i < NKEYS; i++) {
    inside(in, out[i]);
    if (rc && out[i].ptr) abort(); /* a failed pick reports nothing */
    if (rc || !KEYS[i][0]) continue;
    int frc = pier_jscan_find(in, KEYS[i], &v);
    if (out[i].ptr ? frc != 0 || v.ptr != out[i].ptr || v.len != out[i].len : frc != PIER_ENOTFOUND) abort();
  }
  (void)pier_jscan_members(in, count_member, &in);
  static const char *const PATHS[] = {"choices.0.delta.content", "choices.1.message.tool_calls.0.function.arguments",
                                      "usage.prompt_tokens_details.cached_tokens", "error.message", "0", "a.b.c.d"};
  pier_buf b;
  pier_buf_init(&b, 1 << 20);
  for (size_t i = 0; i < sizeof PATHS / sizeof PATHS[0]; i++) {
    if (pier_jscan_find(in, PATHS[i], &v) != 0) continue;
    inside(in, v);
    long long n;
    (void)pier_jscan_int(v, &n);
    pier_buf_reset(&b);
    if (v.len && v.ptr[0] == '"' && pier_jscan_unescape(v, &b) == 0 && b.len > v.len * 3) abort();
  }
  pier_buf_dispose(&b);
  free(copy);
  return 0;
}
