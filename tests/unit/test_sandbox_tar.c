/* test_sandbox_tar.c — snapshot archive safety: member path normalisation and
 * the tar reader + writer on archives built in memory: good trees extract
 * byte-exact; absolute paths, "..", writes through symlinks, hard links out of
 * the tree and malformed headers are rejected; devices are skipped. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "sandbox/sandbox_int.h"

/* ---- path checks ---------------------------------------------------------- */

static void check_path(const char *in, int want_rc, const char *want) {
  char out[256] = "unchanged";
  int rc = pier_snapshot_path_check(in, strlen(in), out, sizeof out);
  if (rc != want_rc) fail_msg("%s: rc %d, want %d", in, rc, want_rc);
  if (!rc) assert_string_equal(out, want);
}

static void test_path_check(void **state) {
  check_path("a/b/c", 0, "a/b/c");
  check_path("./a//b/./c/", 0, "a/b/c");
  check_path("./", 0, "");
  check_path(".", 0, "");
  check_path("a..b/..c/d..", 0, "a..b/..c/d..");
  check_path("...", 0, "...");
  check_path("/etc/passwd", PIER_EFORBIDDEN, NULL);
  check_path("//x", PIER_EFORBIDDEN, NULL);
  check_path("..", PIER_EFORBIDDEN, NULL);
  check_path("../x", PIER_EFORBIDDEN, NULL);
  check_path("a/../../x", PIER_EFORBIDDEN, NULL);
  check_path("a/..", PIER_EFORBIDDEN, NULL);
  check_path("a/b\nc", PIER_EINVAL, NULL);
  check_path("", PIER_EINVAL, NULL);
  char small[4];
  assert_int_equal(pier_snapshot_path_check("abcdef", 6, small, sizeof small), PIER_EINVAL);
}

/* ---- building archives in memory -------------------------------------------- */

static void octal(char *f, size_t n, uint64_t v) {
  char tmp[32]; /* n - 1 octal digits and the NUL, as ustar wants */
  int w = snprintf(tmp, sizeof tmp, "%0*llo", (int)n - 1, (unsigned long long)v);
  assert_true(w == (int)n - 1);
  memcpy(f, tmp, n);
}

static void add_raw(pier_buf *t, const char *name, char type, const char *link, const void *data, size_t len,
                    unsigned mode) {
  char h[512];
  memset(h, 0, sizeof h);
  memcpy(h, name, strlen(name) > 100 ? 100 : strlen(name));
  octal(h + 100, 8, mode);
  octal(h + 108, 8, 0);
  octal(h + 116, 8, 0);
  octal(h + 124, 12, len);
  octal(h + 136, 12, 0);
  h[156] = type;
  if (link) memcpy(h + 157, link, strlen(link) > 100 ? 100 : strlen(link));
  memcpy(h + 257, "ustar", 6);
  memcpy(h + 263, "00", 2);
  memset(h + 148, ' ', 8);
  unsigned sum = 0;
  for (int i = 0; i < 512; i++) sum += (unsigned char)h[i];
  snprintf(h + 148, 8, "%06o", sum);
  assert_int_equal(pier_buf_append(t, h, 512), 0);
  if (len) {
    assert_int_equal(pier_buf_append(t, data, len), 0);
    static const char zeros[512];
    if (len % 512) assert_int_equal(pier_buf_append(t, zeros, 512 - len % 512), 0);
  }
}

static void add(pier_buf *t, const char *name, char type, const char *link, const char *data) {
  add_raw(t, name, type, link, data, data ? strlen(data) : 0, type == '5' ? 0755 : 0644);
}

static void finish(pier_buf *t) {
  static const char zeros[1024];
  assert_int_equal(pier_buf_append(t, zeros, sizeof zeros), 0);
}

typedef struct mem_src {
  const char *p;
  size_t len, off;
} mem_src;

static int mem_read(void *ctx, void *buf, size_t n) {
  mem_src *m = ctx;
  if (m->off == m->len) return PIER_EAGAIN;
  if (m->len - m->off < n) return PIER_EIO;
  memcpy(buf, m->p + m->off, n);
  m->off += n;
  return 0;
}

static char root[128];
static char err[512];

static int setup(void **state) {
  snprintf(root, sizeof root, "/tmp/pier-test-tar-XXXXXX");
  assert_non_null(mkdtemp(root));
  char p[256];
  snprintf(p, sizeof p, "%s/tree", root);
  assert_int_equal(mkdir(p, 0755), 0);
  snprintf(p, sizeof p, "%s/outside", root);
  assert_int_equal(mkdir(p, 0755), 0);
  return 0;
}

static int teardown(void **state) {
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
  return system(cmd) == 0 ? 0 : -1;
}

static int extract(pier_buf *t, pier_snapshot_stats *st) {
  char p[256];
  snprintf(p, sizeof p, "%s/tree", root);
  sb_writer w = {.rootfd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC), .err = err, .errlen = sizeof err};
  assert_true(w.rootfd >= 0);
  mem_src m = {t->ptr, t->len, 0};
  sb_reader r = {mem_read, &m};
  err[0] = '\0';
  int rc = sb_tar_extract(&r, &w);
  close(w.rootfd);
  if (st) *st = w.st;
  pier_buf_dispose(t);
  return rc;
}

static char *slurp(const char *rel) {
  char p[512];
  snprintf(p, sizeof p, "%s/%s", root, rel);
  FILE *f = fopen(p, "r");
  if (!f) return NULL;
  static char buf[4096];
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  buf[n] = '\0';
  fclose(f);
  return buf;
}

static bool outside_empty(void) {
  char cmd[300];
  snprintf(cmd, sizeof cmd, "test -z \"$(ls -A '%s/outside')\"", root);
  return system(cmd) == 0;
}

/* ---- extraction ---------------------------------------------------------------- */

static void test_extract_good(void **state) {
  pier_buf t;
  pier_buf_init(&t, 0);
  add(&t, "./", '5', NULL, NULL);
  add(&t, "./usr/", '5', NULL, NULL);
  add(&t, "./usr/bin/tool", '0', NULL, "#!/bin/sh\necho hi\n");
  add(&t, "./bin", '2', "usr/bin", NULL);
  add(&t, "./etc/passwd", '0', NULL, "root:x:0:0::/root:/bin/sh\n");
  add(&t, "./etc/passwd2", '1', "./etc/passwd", NULL);
  add(&t, "./etc/abs", '2', "/etc/passwd", NULL); /* absolute targets are fine: resolved inside */
  add(&t, "./dev/null", '3', NULL, NULL);
  add(&t, "./fifo", '6', NULL, NULL);
  char big[1500];
  memset(big, 'z', sizeof big);
  add_raw(&t, "usr/big", '0', NULL, big, sizeof big, 04755); /* setuid bit dropped */
  add(&t, "./usr/bin/tool", '0', NULL, "replaced\n");        /* later entries win */
  finish(&t);
  pier_snapshot_stats st;
  assert_int_equal(extract(&t, &st), 0);
  assert_string_equal(slurp("tree/usr/bin/tool"), "replaced\n");
  assert_string_equal(slurp("tree/bin/tool"), "replaced\n");
  assert_string_equal(slurp("tree/etc/passwd2"), "root:x:0:0::/root:/bin/sh\n");
  assert_int_equal(st.skipped, 2);
  assert_int_equal(st.hardlinks, 1);
  assert_int_equal(st.symlinks, 2);
  assert_int_equal(st.bytes, 18 + 26 + 1500 + 9);
  struct stat sb;
  char p[256];
  snprintf(p, sizeof p, "%s/tree/usr/big", root);
  assert_int_equal(stat(p, &sb), 0);
  assert_int_equal(sb.st_mode & 07777, 0755);
  assert_int_equal(sb.st_size, 1500);
  snprintf(p, sizeof p, "%s/tree/dev/null", root);
  assert_int_not_equal(lstat(p, &sb), 0);
  char target[64] = "";
  snprintf(p, sizeof p, "%s/tree/etc/abs", root);
  assert_int_equal(readlink(p, target, sizeof target - 1), 11);
}

static void test_gnu_long_name_and_pax(void **state) {
  pier_buf t;
  pier_buf_init(&t, 0);
  char longname[300];
  memset(longname, 'a', 150);
  snprintf(longname + 150, sizeof longname - 150, "/file");
  add_raw(&t, "././@LongLink", 'L', NULL, longname, strlen(longname) + 1, 0644);
  add(&t, "truncated", '0', NULL, "long\n");
  const char *pax = "28 path=pax/dir/renamed.txt\n";
  add_raw(&t, "PaxHeaders/x", 'x', NULL, pax, strlen(pax), 0644);
  add(&t, "short", '0', NULL, "pax\n");
  finish(&t);
  assert_int_equal(extract(&t, NULL), 0);
  char rel[400];
  snprintf(rel, sizeof rel, "tree/%s", longname);
  assert_string_equal(slurp(rel), "long\n");
  assert_string_equal(slurp("tree/pax/dir/renamed.txt"), "pax\n");
  assert_null(slurp("tree/short"));
}

static void expect_rejected(pier_buf *t, const char *want_err) {
  finish(t);
  int rc = extract(t, NULL);
  assert_int_not_equal(rc, 0);
  if (want_err) assert_string_equal(err, want_err);
  assert_true(outside_empty());
}

static void test_reject_absolute(void **state) {
  pier_buf t;
  pier_buf_init(&t, 0);
  char abs[200];
  snprintf(abs, sizeof abs, "%s/outside/evil", root);
  add(&t, abs, '0', NULL, "x");
  char want[400];
  snprintf(want, sizeof want, "rejected: archive member \"%s\" is absolute or contains \"..\"", abs);
  expect_rejected(&t, want);
}

static void test_reject_dotdot(void **state) {
  pier_buf t;
  pier_buf_init(&t, 0);
  add(&t, "a/../../outside/evil", '0', NULL, "x");
  expect_rejected(&t, "rejected: archive member \"a/../../outside/evil\" is absolute or contains \"..\"");
}

static void test_reject_through_symlink(void **state) {
  char target[200];
  snprintf(target, sizeof target, "%s/outside", root);
  const char *targets[] = {target, "../outside", NULL};
  for (int i = 0; targets[i]; i++) {
    pier_buf t;
    pier_buf_init(&t, 0);
    add(&t, "link", '2', targets[i], NULL);
    add(&t, "link/evil", '0', NULL, "x");
    expect_rejected(&t, "rejected: link/evil goes through a symlink or a file");
    teardown(state);
    setup(state);
  }
  /* a directory entry through the link, and a hard link through a link */
  pier_buf t;
  pier_buf_init(&t, 0);
  add(&t, "etc", '2', "/etc", NULL);
  add(&t, "h", '1', "etc/shadow", NULL);
  expect_rejected(&t, "rejected: etc/shadow goes through a symlink or a file");
}

static void test_reject_hardlink_out(void **state) {
  const char *targets[] = {"/etc/shadow", "../../../../etc/shadow", NULL};
  for (int i = 0; targets[i]; i++) {
    pier_buf t;
    pier_buf_init(&t, 0);
    add(&t, "h", '1', targets[i], NULL);
    expect_rejected(&t, "rejected: h is a hard link out of the archive");
  }
}

static void test_reject_pax_dotdot(void **state) {
  pier_buf t;
  pier_buf_init(&t, 0);
  const char *pax = "28 path=../outside/evil.txt\n";
  add_raw(&t, "PaxHeaders/x", 'x', NULL, pax, strlen(pax), 0644);
  add(&t, "innocent", '0', NULL, "x");
  expect_rejected(&t, "rejected: archive member \"../outside/evil.txt\" is absolute or contains \"..\"");
}

static void test_reject_malformed(void **state) {
  pier_buf t;
  pier_buf_init(&t, 0);
  assert_int_equal(pier_buf_append_cstr(&t, "this is not a tar archive"), 0);
  char pad[512 - 25];
  memset(pad, 'x', sizeof pad);
  assert_int_equal(pier_buf_append(&t, pad, sizeof pad), 0);
  assert_int_equal(extract(&t, NULL), PIER_EPROTO);
  assert_string_equal(err, "not a tar archive (bad header checksum)");
  /* truncated data */
  pier_buf_init(&t, 0);
  add(&t, "f", '0', NULL, "0123456789");
  t.len -= 512;
  assert_int_equal(extract(&t, NULL), PIER_EPROTO);
  assert_string_equal(err, "the archive ends in the middle of an entry");
  /* sparse and other exotic types */
  pier_buf_init(&t, 0);
  add(&t, "s", 'S', NULL, NULL);
  finish(&t);
  assert_int_equal(extract(&t, NULL), PIER_EPROTO);
  assert_string_equal(err, "unsupported archive entry type for s");
  /* an empty archive */
  pier_buf_init(&t, 0);
  finish(&t);
  assert_int_equal(extract(&t, NULL), PIER_EPROTO);
  assert_string_equal(err, "the archive is empty");
  /* a GNU long name bigger than the cap is refused before allocation */
  pier_buf_init(&t, 0);
  char h[512];
  memset(h, 0, sizeof h);
  add_raw(&t, "././@LongLink", 'L', NULL, h, 0, 0644);
  memcpy(t.ptr + 124, "77777777777", 11); /* 8 GiB declared */
  memset(t.ptr + 148, ' ', 8);
  unsigned sum = 0;
  for (int i = 0; i < 512; i++) sum += (unsigned char)t.ptr[i];
  snprintf(t.ptr + 148, 8, "%06o", sum);
  assert_int_equal(extract(&t, NULL), PIER_ETOOBIG);
}

static void test_dir_replacing_file(void **state) {
  pier_buf t;
  pier_buf_init(&t, 0);
  add(&t, "x", '5', NULL, NULL);
  add(&t, "x", '0', NULL, "file over dir");
  expect_rejected(&t, "rejected: x replaces a directory");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_path_check),
      cmocka_unit_test_setup_teardown(test_extract_good, setup, teardown),
      cmocka_unit_test_setup_teardown(test_gnu_long_name_and_pax, setup, teardown),
      cmocka_unit_test_setup_teardown(test_reject_absolute, setup, teardown),
      cmocka_unit_test_setup_teardown(test_reject_dotdot, setup, teardown),
      cmocka_unit_test_setup_teardown(test_reject_through_symlink, setup, teardown),
      cmocka_unit_test_setup_teardown(test_reject_hardlink_out, setup, teardown),
      cmocka_unit_test_setup_teardown(test_reject_pax_dotdot, setup, teardown),
      cmocka_unit_test_setup_teardown(test_reject_malformed, setup, teardown),
      cmocka_unit_test_setup_teardown(test_dir_replacing_file, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
