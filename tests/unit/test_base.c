#define _GNU_SOURCE
/* test_base.c — buf, slice, map, json guards, utf-8, hex/sha256, sealing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sodium.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/json.h"
#include "base/map.h"
#include "base/seal.h"
#include "base/util.h"

static void buf_caps(void **state) {
  pier_buf b;
  pier_buf_init(&b, 8);
  assert_int_equal(pier_buf_append(&b, "12345678", 8), 0);
  assert_int_equal(pier_buf_append(&b, "9", 1), PIER_ETOOBIG);
  assert_int_equal(b.len, 8);
  assert_string_equal(b.ptr, "12345678");
  pier_buf_consume(&b, 3);
  assert_string_equal(b.ptr, "45678");
  pier_buf_dispose(&b);
}

static void buf_json_escape(void **state) {
  pier_buf b;
  pier_buf_init(&b, 0);
  assert_int_equal(pier_buf_append_json_str(&b, pier_slice_make("a\"b\\c\n\x01\xc3\xa9", 9)), 0);
  assert_string_equal(b.ptr, "\"a\\\"b\\\\c\\n\\u0001\xc3\xa9\"");
  pier_buf_dispose(&b);
}

/* appendf formats into the spare room, re-formats only what did not fit, and
 * honours the cap exactly. */
static void buf_appendf(void **state) {
  (void)state;
  pier_buf b;
  pier_buf_init(&b, 0);
  for (int i = 0; i < 1000; i++) assert_int_equal(pier_buf_appendf(&b, "%d,", i), 0);
  assert_int_equal(b.len, 3890);
  assert_memory_equal(b.ptr, "0,1,2,", 6);
  assert_string_equal(b.ptr + b.len - 4, "999,");
  char big[3000];
  memset(big, 'x', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  size_t before = b.len;
  assert_int_equal(pier_buf_appendf(&b, "[%s]", big), 0); /* longer than any spare room */
  assert_int_equal(b.len, before + 3001);
  assert_int_equal(b.ptr[b.len - 1], ']');
  assert_int_equal(b.ptr[b.len], '\0');
  pier_buf_dispose(&b);

  pier_buf c;
  pier_buf_init(&c, 10);
  assert_int_equal(pier_buf_appendf(&c, "%s", "0123456789"), 0);
  assert_int_equal(pier_buf_appendf(&c, "%d", 1), PIER_ETOOBIG);
  assert_int_equal(c.len, 10);
  assert_string_equal(c.ptr, "0123456789");
  pier_buf_reset(&c);
  assert_int_equal(pier_buf_appendf(&c, "%s", "0123456789A"), PIER_ETOOBIG);
  assert_int_equal(c.len, 0);
  assert_string_equal(c.ptr, "");
  pier_buf_dispose(&c);
}

/* Ids are [a-z0-9] and every symbol turns up (no modulo bias to a subset). */
static void random_ids(void **state) {
  (void)state;
  int seen[36] = {0};
  for (int r = 0; r < 200; r++) {
    char id[65];
    pier_random_alnum(id, 64);
    assert_int_equal(strlen(id), 64);
    for (int i = 0; i < 64; i++) {
      char ch = id[i];
      assert_true((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9'));
      seen[ch <= '9' ? 26 + ch - '0' : ch - 'a']++;
    }
  }
  for (int i = 0; i < 36; i++) assert_true(seen[i] > 150); /* 12,800 draws: ~356 each */
}

static void slice_u64(void **state) {
  unsigned long long v;
  assert_int_equal(pier_slice_to_u64(pier_slice_from("18446744073709551615"), &v), 0);
  assert_true(v == 18446744073709551615ULL);
  assert_int_equal(pier_slice_to_u64(pier_slice_from("18446744073709551616"), &v), PIER_ETOOBIG);
  assert_int_equal(pier_slice_to_u64(pier_slice_from("12a"), &v), PIER_EINVAL);
  assert_int_equal(pier_slice_to_u64(pier_slice_from(""), &v), PIER_EINVAL);
  assert_true(pier_slice_ieq_cstr(pier_slice_from("AcMe"), "acme"));
}

static void map_ops(void **state) {
  pier_map m;
  pier_map_init(&m);
  char key[32];
  for (int i = 0; i < 1000; i++) {
    snprintf(key, sizeof key, "k%d", i);
    assert_int_equal(pier_map_put(&m, pier_slice_from(key), (void *)(intptr_t)(i + 1), NULL), 0);
  }
  for (int i = 0; i < 1000; i += 2) {
    snprintf(key, sizeof key, "k%d", i);
    assert_ptr_equal(pier_map_del(&m, pier_slice_from(key)), (void *)(intptr_t)(i + 1));
  }
  assert_int_equal(m.count, 500);
  for (int i = 0; i < 1000; i++) {
    snprintf(key, sizeof key, "k%d", i);
    void *v = pier_map_get(&m, pier_slice_from(key));
    if (i % 2) assert_ptr_equal(v, (void *)(intptr_t)(i + 1));
    else assert_null(v);
  }
  void *old;
  assert_int_equal(pier_map_put(&m, pier_slice_from("k1"), (void *)7, &old), 0);
  assert_ptr_equal(old, (void *)2);
  size_t it = 0, n = 0;
  while (pier_map_next(&m, &it, NULL, NULL)) n++;
  assert_int_equal(n, 500);
  pier_map_dispose(&m, NULL);
}

static void utf8(void **state) {
  assert_true(pier_utf8_valid(pier_slice_from("plain ascii")));
  assert_true(pier_utf8_valid(pier_slice_from("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80")));
  assert_false(pier_utf8_valid(pier_slice_from("\xc3")));          /* truncated */
  assert_false(pier_utf8_valid(pier_slice_from("\xc0\xaf")));      /* overlong */
  assert_false(pier_utf8_valid(pier_slice_from("\xed\xa0\x80")));  /* surrogate */
  assert_false(pier_utf8_valid(pier_slice_from("\xf4\x90\x80\x80"))); /* > U+10FFFF */
  assert_false(pier_utf8_valid(pier_slice_from("\xff")));
}

static void json_guards(void **state) {
  char err[128];
  cJSON *v = pier_json_parse(pier_slice_from("{\"a\":[1,2]}"), 4, err, sizeof err);
  assert_non_null(v);
  cJSON_Delete(v);
  assert_null(pier_json_parse(pier_slice_from("[[[[[1]]]]]"), 4, err, sizeof err));
  assert_string_equal(err, "JSON nesting deeper than 4 levels");
  assert_null(pier_json_parse(pier_slice_from("{\"a\":1} x"), 4, err, sizeof err));
  assert_string_equal(err, "invalid JSON: unexpected data after the value at byte 8");
  assert_null(pier_json_parse(pier_slice_from("{\"a\":"), 4, err, sizeof err));
  assert_string_equal(err, "invalid JSON at byte 4");
  assert_null(pier_json_parse(pier_slice_from("\"\xff\""), 4, err, sizeof err));
  assert_string_equal(err, "the body is not valid UTF-8");
  assert_null(pier_json_parse(pier_slice_from(""), 4, err, sizeof err));
  /* brackets inside strings do not count towards depth */
  v = pier_json_parse(pier_slice_from("{\"a\":\"[[[[[[[[\"}"), 2, err, sizeof err);
  assert_non_null(v);
  cJSON_Delete(v);
}

static void token_hash(void **state) {
  char hex[65];
  pier_sha256_hex("abc", 3, hex);
  assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  char tok[37];
  pier_random_alnum(tok, 36);
  for (int i = 0; i < 36; i++) assert_true((tok[i] >= 'a' && tok[i] <= 'z') || (tok[i] >= '0' && tok[i] <= '9'));
  unsigned char raw[4];
  assert_int_equal(pier_unhex("deadBEEF", 8, raw, 4), 0);
  assert_int_equal(raw[0], 0xde);
  assert_int_equal(pier_unhex("zz", 2, raw, 1), PIER_EINVAL);
}

static void seal_roundtrip(void **state) {
  unsigned char key[PIER_SEAL_KEY_BYTES], key2[PIER_SEAL_KEY_BYTES], nonce[PIER_SEAL_NONCE_BYTES];
  randombytes_buf(key, sizeof key);
  randombytes_buf(key2, sizeof key2);
  pier_buf box, out;
  pier_buf_init(&box, 0);
  pier_buf_init(&out, 0);
  const char *secret = "ABSK-very-secret";
  assert_int_equal(pier_seal(key, secret, strlen(secret), nonce, &box), 0);
  assert_int_equal(box.len, strlen(secret) + PIER_SEAL_MAC_BYTES);
  assert_null(memmem(box.ptr, box.len, secret, strlen(secret)));
  assert_int_equal(pier_unseal(key, box.ptr, box.len, nonce, &out), 0);
  assert_string_equal(out.ptr, secret);
  assert_int_equal(pier_unseal(key2, box.ptr, box.len, nonce, &out), PIER_ECRYPTO);
  box.ptr[3] ^= 1;
  assert_int_equal(pier_unseal(key, box.ptr, box.len, nonce, &out), PIER_ECRYPTO);
  assert_int_equal(pier_unseal(key, box.ptr, 5, nonce, &out), PIER_ECRYPTO);
  pier_buf_dispose(&box);
  pier_buf_dispose(&out);
}

static void seal_key_file(void **state) {
  char dir[] = "/tmp/pier-seal-XXXXXX";
  assert_non_null(mkdtemp(dir));
  unsigned char k1[PIER_SEAL_KEY_BYTES], k2[PIER_SEAL_KEY_BYTES];
  char err[256];
  unsetenv("PIER_MASTER_KEY");
  assert_int_equal(pier_seal_load_key(dir, k1, err, sizeof err), 0);
  assert_int_equal(pier_seal_load_key(dir, k2, err, sizeof err), 0);
  assert_memory_equal(k1, k2, sizeof k1);
  char path[300];
  snprintf(path, sizeof path, "%s/master.key", dir);
  struct stat st;
  assert_int_equal(stat(path, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0600);
  setenv("PIER_MASTER_KEY", "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff", 1);
  assert_int_equal(pier_seal_load_key(dir, k2, err, sizeof err), 0);
  assert_int_equal(k2[1], 0x11);
  setenv("PIER_MASTER_KEY", "short", 1);
  assert_int_equal(pier_seal_load_key(dir, k2, err, sizeof err), PIER_EINVAL);
  assert_string_equal(err, "PIER_MASTER_KEY must be 64 hexadecimal characters (32 bytes)");
  unsetenv("PIER_MASTER_KEY");
  unlink(path);
  rmdir(dir);
}

static void iso_time(void **state) {
  char ts[32];
  pier_iso8601(1780801558374055LL, ts);
  assert_string_equal(ts, "2026-06-07T03:05:58.374055Z");
  /* against gmtime_r over leap days, century rules and year ends */
  for (int64_t secs = 0; secs < 4102444800LL; secs += 86400 * 7 + 3601) {
    time_t t = (time_t)secs;
    struct tm tm;
    gmtime_r(&t, &tm);
    char want[96];
    snprintf(want, sizeof want, "%04d-%02d-%02dT%02d:%02d:%02d.000007Z", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    pier_iso8601(secs * 1000000 + 7, ts);
    assert_string_equal(ts, want);
  }
  pier_iso8601(951782400LL * 1000000, ts); /* 2000-02-29 */
  assert_string_equal(ts, "2000-02-29T00:00:00.000000Z");
}

int main(void) {
  if (sodium_init() < 0) return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(buf_caps),    cmocka_unit_test(buf_appendf), cmocka_unit_test(random_ids), cmocka_unit_test(buf_json_escape), cmocka_unit_test(slice_u64),
      cmocka_unit_test(map_ops),     cmocka_unit_test(utf8),            cmocka_unit_test(json_guards),
      cmocka_unit_test(token_hash),  cmocka_unit_test(seal_roundtrip),  cmocka_unit_test(seal_key_file),
      cmocka_unit_test(iso_time),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
