/* test_sandbox.c — the sandbox's pure parts: memory sizes, the exact
 * sandbox-exec/bwrap arguments for host and custom snapshots with and without
 * network, output capping, /etc/passwd generation, snapshot name resolution
 * and agent resolution with the error texts a user reads. */
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

/* ---- helpers ------------------------------------------------------------- */

/* Index of the first run of n consecutive tokens equal to want, or -1. */
static long find_seq(const sb_strv *v, const char *const *want, size_t n) {
  for (size_t i = 0; i + n <= v->n; i++) {
    size_t k = 0;
    while (k < n && strcmp(v->v[i + k], want[k]) == 0) k++;
    if (k == n) return (long)i;
  }
  return -1;
}
#define SEQ(v, ...) find_seq((v), (const char *const[]){__VA_ARGS__}, sizeof((const char *const[]){__VA_ARGS__}) / sizeof(char *))

static bool contains_substr(const sb_strv *v, const char *needle) {
  for (size_t i = 0; i < v->n; i++)
    if (strstr(v->v[i], needle)) return true;
  return false;
}

static void host_layout(sb_layout *l) {
  memset(l, 0, sizeof *l);
  assert_int_equal(sb_entries_add(&l->top, "usr", NULL), 0);
  assert_int_equal(sb_entries_add(&l->top, "bin", "usr/bin"), 0);
  assert_int_equal(sb_entries_add(&l->top, "lib64", "usr/lib64"), 0);
  l->passwd = strdup("root:x:0:0::/root:/bin/sh\nagent:x:1000:1000::/tmp:/bin/sh\n");
  l->group = strdup("root:x:0:\nagent:x:1000:\n");
  l->agents_dir = strdup("/srv/pier/agents");
}

static const char *const ARGV[] = {"/opt/pier/agents/claude-code/bin/claude", "-p", "hello world", NULL};
static const char *const ENV[] = {"ANTHROPIC_BASE_URL=http://127.0.0.1:8080", "TOKEN=s3cret value", NULL};

static pier_sandbox_spec base_spec(void) {
  return (pier_sandbox_spec){.data_dir = "/srv/pier",
                             .workdir = "/srv/pier/runs/r1/app",
                             .argv = ARGV,
                             .env = ENV,
                             .pier_binary = "/usr/local/bin/pier",
                             .memory_bytes = 8ull << 30,
                             .cpus = 4,
                             .timeout_ms = 1000};
}

/* ---- memory ---------------------------------------------------------------- */

static void test_memory_parse(void **state) {
  uint64_t b = 0;
  assert_int_equal(pier_memory_parse("8G", &b), 0);
  assert_int_equal(b, 8ull << 30);
  assert_int_equal(pier_memory_parse("512M", &b), 0);
  assert_int_equal(b, 512ull << 20);
  assert_int_equal(pier_memory_parse("1073741824", &b), 0);
  assert_int_equal(b, 1073741824ull);
  assert_int_equal(pier_memory_parse("1.5G", &b), 0);
  assert_int_equal(b, 3ull << 29);
  assert_int_equal(pier_memory_parse("2Gi", &b), 0);
  assert_int_equal(b, 2ull << 30);
  assert_int_equal(pier_memory_parse("64kb", &b), 0);
  assert_int_equal(b, 64ull << 10);
  assert_int_equal(pier_memory_parse("1T", &b), 0);
  assert_int_equal(b, 1ull << 40);
  const char *bad[] = {"", "G", "8X", "-1G", "8 G", "0", "1.5", "99999999999999999999", "16777216T", "8GiB!", NULL};
  for (int i = 0; bad[i]; i++) {
    b = 7;
    assert_int_equal(pier_memory_parse(bad[i], &b), PIER_EINVAL);
    assert_int_equal(b, 7);
  }
  assert_int_equal(pier_memory_parse(NULL, &b), PIER_EINVAL);
}

/* ---- argument building ----------------------------------------------------- */

static void test_build_host_network_on(void **state) {
  sb_layout l;
  host_layout(&l);
  l.uid = 1900000123;
  pier_sandbox_spec spec = base_spec();
  spec.network = true;
  sb_strv h = {0}, b = {0};
  char err[256] = "";
  assert_int_equal(sb_build(&spec, &l, &h, &b, err, sizeof err), 0);
  const char *want_helper[] = {"/usr/local/bin/pier", "sandbox-exec", "--memory", "8589934592", "--cpus", "4",
                               "--uid", "1900000123", "--nproc", "1024", "--chown", "/srv/pier/runs/r1/app",
                               "--stage", "/run/pier-sandbox", "--", "/opt/pier/agents/claude-code/bin/claude",
                               "-p", "hello world", NULL};
  for (size_t i = 0; want_helper[i]; i++) assert_string_equal(h.v[i], want_helper[i]);
  assert_null(h.v[18]);
  assert_true(SEQ(&b, "--unshare-user", "--uid", "1000", "--gid", "1000", "--disable-userns", "--unshare-pid",
                  "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try", "--hostname") == 0);
  assert_true(SEQ(&b, "--unshare-net") < 0);
  assert_true(SEQ(&b, "--die-with-parent") > 0);
  assert_true(SEQ(&b, "--ro-bind", "/usr", "/usr") > 0);
  assert_true(SEQ(&b, "--symlink", "usr/bin", "/bin") > 0);
  assert_true(SEQ(&b, "--ro-bind-try", "/etc/resolv.conf", "/etc/resolv.conf") > 0);
  assert_true(SEQ(&b, "--pier-data", "/etc/passwd") > 0);
  assert_true(SEQ(&b, "--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--size", "8589934592", "--tmpfs",
                  "/tmp") > 0);
  assert_true(SEQ(&b, "--bind", "/srv/pier/runs/r1/app", "/app") > 0);
  assert_true(SEQ(&b, "--ro-bind", "/srv/pier/agents", "/opt/pier/agents") > 0);
  long ro = SEQ(&b, "--remount-ro", "/", "--chdir", "/app", "--clearenv");
  assert_true(ro > SEQ(&b, "--bind", "/srv/pier/runs/r1/app", "/app"));
  assert_true(SEQ(&b, "--setenv", "ANTHROPIC_BASE_URL", "http://127.0.0.1:8080") > ro);
  assert_true(SEQ(&b, "--setenv", "TOKEN", "s3cret value") > ro);
  assert_true(SEQ(&b, "--setenv", "PATH") > ro);
  assert_true(SEQ(&b, "--setenv", "HOME", "/tmp") > ro);
  /* no gateway bridge when the network is shared; no host /etc secrets */
  assert_false(contains_substr(&b, "gateway"));
  assert_false(contains_substr(&b, "shadow"));
  assert_false(contains_substr(&h, "s3cret")); /* env values only on fd 3, never in ps */
  for (size_t i = 0; i < b.n; i++) assert_string_not_equal(b.v[i], "/srv/pier");
  sb_strv_dispose(&h);
  sb_strv_dispose(&b);
  sb_layout_dispose(&l);
}

static void test_build_isolated_bridge(void **state) {
  sb_layout l;
  host_layout(&l);
  pier_sandbox_spec spec = base_spec();
  spec.gateway_socket = "/srv/pier/gateway.sock";
  spec.gateway_port = 8080;
  spec.memory_bytes = 0;
  spec.cpus = 0;
  sb_strv h = {0}, b = {0};
  char err[256] = "";
  assert_int_equal(sb_build(&spec, &l, &h, &b, err, sizeof err), 0);
  const char *want_helper[] = {"/usr/local/bin/pier", "sandbox-exec", "--", "/opt/pier/lib/ld.so",
                               "--library-path", "/opt/pier/lib", "/opt/pier/bin/pier", "bridge", "--listen",
                               "127.0.0.1:8080", "--unix", "/run/pier/gateway.sock", "--",
                               "/opt/pier/agents/claude-code/bin/claude", "-p", "hello world", NULL};
  for (size_t i = 0; want_helper[i]; i++) assert_string_equal(h.v[i], want_helper[i]);
  assert_int_equal(h.n, 16);
  assert_true(SEQ(&b, "--unshare-net") > 0);
  assert_true(SEQ(&b, "--bind", "/srv/pier/gateway.sock", "/run/pier/gateway.sock") > 0);
  assert_true(SEQ(&b, "--pier-self", "/opt/pier/bin", "/opt/pier/lib") > 0);
  assert_true(SEQ(&b, "--perms", "1777", "--tmpfs", "/tmp") > 0); /* no --size without memory */
  assert_true(SEQ(&b, "--size") < 0);
  sb_strv_dispose(&h);
  sb_strv_dispose(&b);
  /* network off without a socket: no bridge at all */
  spec.gateway_socket = NULL;
  assert_int_equal(sb_build(&spec, &l, &h, &b, err, sizeof err), 0);
  assert_string_equal(h.v[3], ARGV[0]);
  assert_true(SEQ(&b, "--unshare-net") > 0);
  assert_false(contains_substr(&b, "gateway"));
  sb_strv_dispose(&h);
  sb_strv_dispose(&b);
  sb_layout_dispose(&l);
}

static void test_build_custom_snapshot(void **state) {
  sb_layout l = {0};
  l.root = strdup("/srv/pier/snapshots/py");
  assert_int_equal(sb_entries_add(&l.top, "usr", NULL), 0);
  assert_int_equal(sb_entries_add(&l.top, "etc", NULL), 0);
  assert_int_equal(sb_entries_add(&l.top, "bin", "usr/bin"), 0);
  assert_int_equal(sb_entries_add(&l.opt, "conda", NULL), 0);
  l.var_tmp = true;
  l.etc_resolv = true;
  pier_sandbox_spec spec = base_spec();
  spec.network = true;
  sb_strv h = {0}, b = {0};
  char err[256] = "";
  assert_int_equal(sb_build(&spec, &l, &h, &b, err, sizeof err), 0);
  assert_true(SEQ(&b, "--ro-bind", "/srv/pier/snapshots/py/usr", "/usr") > 0);
  assert_true(SEQ(&b, "--ro-bind", "/srv/pier/snapshots/py/etc", "/etc") > 0);
  assert_true(SEQ(&b, "--symlink", "usr/bin", "/bin") > 0);
  assert_true(SEQ(&b, "--ro-bind", "/srv/pier/snapshots/py/opt/conda", "/opt/conda") > 0);
  assert_true(SEQ(&b, "--ro-bind-try", "/etc/resolv.conf", "/etc/resolv.conf") > 0);
  assert_true(SEQ(&b, "--tmpfs", "/var/tmp") > 0);
  assert_true(SEQ(&b, "--pier-data") < 0); /* passwd kept: it already had uid 1000 */
  assert_true(SEQ(&b, "--dir", "/etc") < 0);
  sb_strv_dispose(&h);
  sb_strv_dispose(&b);
  sb_layout_dispose(&l);
}

static void test_build_rejects(void **state) {
  sb_layout l;
  host_layout(&l);
  sb_strv h = {0}, b = {0};
  char err[256] = "";
  pier_sandbox_spec spec = base_spec();
  const char *bad_env[] = {"GOOD=1", "BAD-NAME=x", NULL};
  spec.env = bad_env;
  assert_int_equal(sb_build(&spec, &l, &h, &b, err, sizeof err), PIER_EINVAL);
  assert_string_equal(err, "invalid environment variable name \"BAD-NAME\" (letters, digits and _ only)");
  sb_strv_dispose(&h);
  sb_strv_dispose(&b);
  const char *no_eq[] = {"JUSTNAME", NULL};
  spec.env = no_eq;
  assert_int_equal(sb_build(&spec, &l, &h, &b, err, sizeof err), PIER_EINVAL);
  sb_strv_dispose(&h);
  sb_strv_dispose(&b);
  spec = base_spec();
  spec.workdir = "relative/app";
  assert_int_equal(sb_build(&spec, &l, &h, &b, err, sizeof err), PIER_EINVAL);
  assert_string_equal(err, "the sandbox's working directory must be an absolute path");
  sb_strv_dispose(&h);
  sb_strv_dispose(&b);
  spec = base_spec();
  spec.gateway_socket = "/srv/pier/gateway.sock";
  spec.gateway_port = 0;
  assert_int_equal(sb_build(&spec, &l, &h, &b, err, sizeof err), PIER_EINVAL);
  assert_string_equal(err, "gateway_port must be 1-65535 to reach pier from an isolated sandbox");
  sb_strv_dispose(&h);
  sb_strv_dispose(&b);
  sb_layout_dispose(&l);
}

static void test_env_names(void **state) {
  assert_true(sb_env_name_valid("PATH", 4));
  assert_true(sb_env_name_valid("_x1", 3));
  assert_false(sb_env_name_valid("1X", 2));
  assert_false(sb_env_name_valid("", 0));
  assert_false(sb_env_name_valid("A B", 3));
}

static void test_strv_roundtrip(void **state) {
  sb_strv a = {0}, b = {0};
  assert_int_equal(sb_strv_push(&a, "--setenv"), 0);
  assert_int_equal(sb_strv_push(&a, ""), 0);
  assert_int_equal(sb_strv_pushf(&a, "%d", 42), 0);
  pier_buf buf;
  pier_buf_init(&buf, 0);
  assert_int_equal(sb_strv_serialize(&a, &buf), 0);
  assert_int_equal(buf.len, 9 + 1 + 3);
  assert_int_equal(sb_strv_parse(buf.ptr, buf.len, &b), 0);
  assert_int_equal(b.n, 3);
  assert_string_equal(b.v[1], "");
  assert_string_equal(b.v[2], "42");
  assert_null(b.v[3]);
  sb_strv c = {0};
  assert_int_equal(sb_strv_parse("abc", 3, &c), PIER_EINVAL); /* unterminated */
  pier_buf_dispose(&buf);
  sb_strv_dispose(&a);
  sb_strv_dispose(&b);
  sb_strv_dispose(&c);
}

/* ---- output capture ----------------------------------------------------------- */

static char *render(sb_capture *c) {
  pier_buf b;
  pier_buf_init(&b, 0);
  assert_int_equal(sb_capture_render(c, &b), 0);
  return pier_buf_detach(&b, NULL) ?: strdup("");
}

static void test_capture_small(void **state) {
  sb_capture c;
  sb_capture_init(&c, 10);
  assert_int_equal(sb_capture_feed(&c, "hello", 5), 0);
  assert_int_equal(sb_capture_feed(&c, "12345", 5), 0);
  char *s = render(&c);
  assert_string_equal(s, "hello12345");
  assert_int_equal(sb_capture_dropped(&c), 0);
  free(s);
  sb_capture_dispose(&c);
}

static void test_capture_head_tail(void **state) {
  sb_capture c;
  sb_capture_init(&c, 10);
  const char *chunks[] = {"abc", "defgh", "ijklm", "nopq", "r", "stuvwxyz"};
  for (size_t i = 0; i < 6; i++) assert_int_equal(sb_capture_feed(&c, chunks[i], strlen(chunks[i])), 0);
  char *s = render(&c);
  assert_string_equal(s, "abcde\n[pier: 16 bytes dropped]\nvwxyz");
  assert_int_equal(sb_capture_dropped(&c), 16);
  free(s);
  sb_capture_dispose(&c);
  /* one chunk larger than everything */
  sb_capture_init(&c, 6);
  assert_int_equal(sb_capture_feed(&c, "0123456789ABCDEF", 16), 0);
  s = render(&c);
  assert_string_equal(s, "012\n[pier: 10 bytes dropped]\nDEF");
  free(s);
  sb_capture_dispose(&c);
  /* wrap-around in the ring, byte by byte */
  sb_capture_init(&c, 4);
  for (char ch = 'a'; ch <= 'z'; ch++) assert_int_equal(sb_capture_feed(&c, &ch, 1), 0);
  s = render(&c);
  assert_string_equal(s, "ab\n[pier: 22 bytes dropped]\nyz");
  free(s);
  sb_capture_dispose(&c);
}

static void test_capture_empty(void **state) {
  sb_capture c;
  sb_capture_init(&c, 1024);
  char *s = render(&c);
  assert_string_equal(s, "");
  free(s);
  sb_capture_dispose(&c);
}

/* ---- /etc/passwd --------------------------------------------------------------- */

static void test_etc_with_agent(void **state) {
  int rc;
  char *p = sb_etc_with_agent("root:x:0:0::/root:/bin/sh", 25, false, &rc);
  assert_int_equal(rc, 0);
  assert_string_equal(p, "root:x:0:0::/root:/bin/sh\nagent:x:1000:1000:pier sandbox:/tmp:/bin/sh\n");
  free(p);
  const char *has = "root:x:0:0::/root:/bin/sh\nnode:x:1000:1000::/home/node:/bin/sh\n";
  assert_null(sb_etc_with_agent(has, strlen(has), false, &rc));
  assert_int_equal(rc, 0);
  const char *grp = "root:x:0:\nusers:x:100:10000\n"; /* 10000 is a member list, not the gid */
  p = sb_etc_with_agent(grp, strlen(grp), true, &rc);
  assert_string_equal(p, "root:x:0:\nusers:x:100:10000\nagent:x:1000:\n");
  free(p);
}

/* ---- snapshots and agents on a scratch data dir ----------------------------------- */

static char scratch[256];

static int make_scratch(void **state) {
  snprintf(scratch, sizeof scratch, "/tmp/pier-test-sandbox-XXXXXX");
  assert_non_null(mkdtemp(scratch));
  return 0;
}

static int rm_scratch(void **state) {
  char cmd[400];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", scratch);
  return system(cmd) == 0 ? 0 : -1;
}

static void touch_exec(const char *path) {
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs("#!/bin/sh\necho agent\n", f);
  fclose(f);
  assert_int_equal(chmod(path, 0755), 0);
}

static void test_snapshot_resolve(void **state) {
  char dir[512], warn[512], err[512];
  assert_int_equal(pier_snapshot_resolve(scratch, "host", dir, sizeof dir, warn, sizeof warn, err, sizeof err), 0);
  assert_string_equal(dir, "");
  assert_string_equal(warn, "");
  assert_int_equal(pier_snapshot_resolve(scratch, NULL, dir, sizeof dir, warn, sizeof warn, err, sizeof err), 0);
  assert_string_equal(dir, "");
  assert_string_equal(warn,
                      "snapshot \"python312-uv\" is not installed on this server; the step ran on the \"host\" "
                      "snapshot (the host's /usr) instead. Install it with: pier snapshot import python312-uv "
                      "DIR|TARBALL");
  assert_int_equal(pier_snapshot_resolve(scratch, "prism-playwright", dir, sizeof dir, warn, sizeof warn, err,
                                         sizeof err), 0);
  assert_non_null(strstr(warn, "\"prism-playwright\" is not installed"));
  assert_int_equal(pier_snapshot_resolve(scratch, "mine", dir, sizeof dir, warn, sizeof warn, err, sizeof err),
                   PIER_ENOTFOUND);
  char want[600];
  snprintf(want, sizeof want,
           "snapshot \"mine\" is not installed on this server: import it with `pier snapshot import mine "
           "DIR|TARBALL --data-dir %s`, or use \"host\"",
           scratch);
  assert_string_equal(err, want);
  assert_int_equal(pier_snapshot_resolve(scratch, "../etc", dir, sizeof dir, warn, sizeof warn, err, sizeof err),
                   PIER_EINVAL);
  char path[512];
  snprintf(path, sizeof path, "%s/snapshots", scratch);
  mkdir(path, 0700);
  snprintf(path, sizeof path, "%s/snapshots/python312-uv", scratch);
  assert_int_equal(mkdir(path, 0755), 0);
  assert_int_equal(pier_snapshot_resolve(scratch, NULL, dir, sizeof dir, warn, sizeof warn, err, sizeof err), 0);
  assert_string_equal(dir, path);
  assert_string_equal(warn, "");
}

static void test_snapshot_names(void **state) {
  assert_true(pier_snapshot_name_valid("python312-uv"));
  assert_true(pier_snapshot_name_valid("a.b_c-1"));
  assert_false(pier_snapshot_name_valid("host"));
  assert_false(pier_snapshot_name_valid(""));
  assert_false(pier_snapshot_name_valid(".hidden"));
  assert_false(pier_snapshot_name_valid("-x"));
  assert_false(pier_snapshot_name_valid("Upper"));
  assert_false(pier_snapshot_name_valid("a/b"));
  assert_false(pier_snapshot_name_valid(".."));
  assert_false(pier_snapshot_name_valid("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")); /* 65 */
}

static void test_agent_command(void **state) {
  char cmd[512], err[512], path[512], want[700];
  assert_int_equal(pier_agent_command(scratch, "claude-code", cmd, sizeof cmd, err, sizeof err), PIER_ENOTFOUND);
  snprintf(want, sizeof want,
           "agent \"claude-code\" is not installed on this server; install it with: pier agent install claude-code "
           "--data-dir %s",
           scratch);
  assert_string_equal(err, want);
  assert_int_equal(pier_agent_command(scratch, "cursor", cmd, sizeof cmd, err, sizeof err), PIER_EINVAL);
  assert_string_equal(err, "unknown agent \"cursor\"; known agents: claude-code, codex, gemini-cli");
  /* npm layout: node_modules/.bin/codex */
  snprintf(path, sizeof path, "%s/agents/codex/node_modules/.bin", scratch);
  char mk[1200];
  snprintf(mk, sizeof mk, "mkdir -p '%s'", path);
  assert_int_equal(system(mk), 0);
  strncat(path, "/codex", sizeof path - strlen(path) - 1);
  touch_exec(path);
  assert_int_equal(pier_agent_command(scratch, "codex", cmd, sizeof cmd, err, sizeof err), 0);
  assert_string_equal(cmd, "/opt/pier/agents/codex/node_modules/.bin/codex");
  /* bin/<cmd> wins (tests and custom installs) */
  snprintf(path, sizeof path, "%s/agents/codex/bin", scratch);
  mkdir(path, 0755);
  strncat(path, "/codex", sizeof path - strlen(path) - 1);
  touch_exec(path);
  assert_int_equal(pier_agent_command(scratch, "codex", cmd, sizeof cmd, err, sizeof err), 0);
  assert_string_equal(cmd, "/opt/pier/agents/codex/bin/codex");
  /* not executable = not installed */
  snprintf(path, sizeof path, "%s/agents/gemini-cli/bin", scratch);
  snprintf(mk, sizeof mk, "mkdir -p '%s' && touch '%s/gemini'", path, path);
  assert_int_equal(system(mk), 0);
  assert_int_equal(pier_agent_command(scratch, "gemini-cli", cmd, sizeof cmd, err, sizeof err), PIER_ENOTFOUND);
}

static void test_layout_probe_custom(void **state) {
  char root[512], cmd[5000], err[256];
  snprintf(root, sizeof root, "%s/snapshots/probe", scratch);
  snprintf(cmd, sizeof cmd,
           "mkdir -p '%s/usr/bin' '%s/etc' '%s/opt/x' '%s/opt/pier' '%s/app' '%s/var/tmp' && ln -s usr/bin '%s/bin' && "
           "printf 'root:x:0:0::/root:/bin/sh\\n' > '%s/etc/passwd'",
           root, root, root, root, root, root, root, root);
  assert_int_equal(system(cmd), 0);
  pier_sandbox_spec spec = base_spec();
  spec.data_dir = scratch;
  sb_layout l;
  assert_int_equal(sb_layout_probe(&spec, root, &l, err, sizeof err), 0);
  bool usr = false, bin = false, app = false;
  for (size_t i = 0; i < l.top.n; i++) {
    usr |= strcmp(l.top.v[i].name, "usr") == 0 && !l.top.v[i].link;
    bin |= strcmp(l.top.v[i].name, "bin") == 0 && l.top.v[i].link && strcmp(l.top.v[i].link, "usr/bin") == 0;
    app |= strcmp(l.top.v[i].name, "app") == 0 || strcmp(l.top.v[i].name, "opt") == 0;
  }
  assert_true(usr && bin && !app);
  assert_int_equal(l.opt.n, 1); /* x, but never the snapshot's own /opt/pier */
  assert_string_equal(l.opt.v[0].name, "x");
  assert_true(l.var_tmp);
  assert_string_equal(l.passwd, "root:x:0:0::/root:/bin/sh\nagent:x:1000:1000:pier sandbox:/tmp:/bin/sh\n");
  assert_null(l.group);
  sb_layout_dispose(&l);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_memory_parse),
      cmocka_unit_test(test_build_host_network_on),
      cmocka_unit_test(test_build_isolated_bridge),
      cmocka_unit_test(test_build_custom_snapshot),
      cmocka_unit_test(test_build_rejects),
      cmocka_unit_test(test_env_names),
      cmocka_unit_test(test_strv_roundtrip),
      cmocka_unit_test(test_capture_small),
      cmocka_unit_test(test_capture_head_tail),
      cmocka_unit_test(test_capture_empty),
      cmocka_unit_test(test_etc_with_agent),
      cmocka_unit_test(test_snapshot_names),
      cmocka_unit_test_setup_teardown(test_snapshot_resolve, make_scratch, rm_scratch),
      cmocka_unit_test_setup_teardown(test_agent_command, make_scratch, rm_scratch),
      cmocka_unit_test_setup_teardown(test_layout_probe_custom, make_scratch, rm_scratch),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
