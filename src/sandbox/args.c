/* args.c — spec + layout -> the sandbox-exec command line and bwrap's
 * arguments. Pure: no filesystem access, so tests pin the exact arguments.
 * Invariant: every sandbox gets new user/pid/ipc/uts namespaces, no further
 * user namespaces, a read-only root, --die-with-parent and --clearenv; the
 * environment is exactly the spec's (plus PATH/HOME defaults). */
#include <stdio.h>
#include <string.h>

#include "base/limits.h"
#include "sandbox/sandbox_int.h"

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define DEFAULT_HOME "/tmp"
#define PIER_IN_BIN SB_PIER_DIR "/bin"
#define PIER_IN_LIB SB_PIER_DIR "/lib"

/* Host /etc files a dynamic binary, TLS and DNS need; nothing else of /etc. */
static const char *const HOST_ETC[] = {
    "ssl", "ca-certificates", "ca-certificates.conf", "pki", "resolv.conf", "hosts", "host.conf",
    "nsswitch.conf", "gai.conf", "alternatives", "ld.so.cache", "ld.so.conf", "ld.so.conf.d",
    "localtime", "timezone", "mime.types", "protocols", "services", NULL};

bool sb_env_name_valid(const char *s, size_t len) {
  if (len == 0 || len > PIER_ENV_NAME_BYTES_MAX) return false;
  for (size_t i = 0; i < len; i++) {
    char c = s[i];
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' || (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

#define PUSH(v, s)                  \
  do {                              \
    if ((rc = sb_strv_push(v, s))) return rc; \
  } while (0)
#define PUSHF(v, ...)                            \
  do {                                           \
    if ((rc = sb_strv_pushf(v, __VA_ARGS__))) return rc; \
  } while (0)

static int push3(sb_strv *v, const char *a, const char *b, const char *c) {
  int rc = sb_strv_push(v, a);
  if (!rc) rc = sb_strv_push(v, b);
  if (!rc && c) rc = sb_strv_push(v, c);
  return rc;
}

/* Bind or link each entry of dir (host: "") at prefix/name. */
static int add_entries(sb_strv *b, const sb_entries *e, const char *dir, const char *prefix) {
  int rc = 0;
  for (size_t i = 0; i < e->n && !rc; i++) {
    const sb_entry *x = &e->v[i];
    if (x->link) {
      rc = push3(b, "--symlink", x->link, NULL);
      if (!rc) rc = sb_strv_pushf(b, "%s/%s", prefix, x->name);
      continue;
    }
    rc = sb_strv_push(b, "--ro-bind");
    if (!rc) rc = sb_strv_pushf(b, "%s/%s", dir, x->name);
    if (!rc) rc = sb_strv_pushf(b, "%s/%s", prefix, x->name);
  }
  return rc;
}

static int add_namespaces(sb_strv *b, const pier_sandbox_spec *spec) {
  int rc = 0;
  PUSH(b, "--unshare-user");
  PUSH(b, "--uid");
  PUSHF(b, "%d", SB_INNER_UID);
  PUSH(b, "--gid");
  PUSHF(b, "%d", SB_INNER_UID);
  PUSH(b, "--disable-userns");
  PUSH(b, "--unshare-pid");
  PUSH(b, "--unshare-ipc");
  PUSH(b, "--unshare-uts");
  PUSH(b, "--unshare-cgroup-try");
  if (!spec->network) PUSH(b, "--unshare-net");
  if ((rc = push3(b, "--hostname", "pier-sandbox", NULL))) return rc;
  PUSH(b, "--die-with-parent");
  return 0;
}

static int add_tmpfs(sb_strv *b, const pier_sandbox_spec *spec, const char *dest) {
  int rc = push3(b, "--perms", "1777", NULL);
  if (!rc && spec->memory_bytes) {
    PUSH(b, "--size");
    PUSHF(b, "%llu", (unsigned long long)spec->memory_bytes);
  }
  if (!rc) rc = push3(b, "--tmpfs", dest, NULL);
  return rc;
}

static int add_etc(sb_strv *b, const pier_sandbox_spec *spec, const sb_layout *l) {
  int rc = 0;
  if (!l->root) {
    PUSH(b, "--dir");
    PUSH(b, "/etc");
    for (int i = 0; HOST_ETC[i] && !rc; i++) {
      PUSH(b, "--ro-bind-try");
      PUSHF(b, "/etc/%s", HOST_ETC[i]);
      PUSHF(b, "/etc/%s", HOST_ETC[i]);
    }
  } else if (spec->network && l->etc_resolv) { /* the host's DNS, over the snapshot's */
    rc = push3(b, "--ro-bind-try", "/etc/resolv.conf", "/etc/resolv.conf");
    if (!rc) rc = push3(b, "--ro-bind-try", "/etc/hosts", "/etc/hosts");
  }
  if (!rc && l->passwd) rc = push3(b, "--pier-data", "/etc/passwd", l->passwd);
  if (!rc && l->group) rc = push3(b, "--pier-data", "/etc/group", l->group);
  return rc;
}

static bool bridge_wanted(const pier_sandbox_spec *spec) { return !spec->network && spec->gateway_socket; }

static int add_mounts(sb_strv *b, const pier_sandbox_spec *spec, const sb_layout *l) {
  const char *root = l->root ? l->root : "";
  int rc = add_entries(b, &l->top, root, "");
  if (!rc) rc = add_etc(b, spec, l);
  char sub[4200];
  snprintf(sub, sizeof sub, "%s/opt", root);
  if (!rc) rc = add_entries(b, &l->opt, sub, "/opt");
  snprintf(sub, sizeof sub, "%s/run", root);
  if (!rc) rc = add_entries(b, &l->run, sub, "/run");
  if (!rc) rc = push3(b, "--proc", "/proc", NULL);
  if (!rc) rc = push3(b, "--dev", "/dev", NULL);
  if (!rc) rc = add_tmpfs(b, spec, "/tmp");
  if (!rc && (!l->root || l->var_tmp)) rc = add_tmpfs(b, spec, "/var/tmp");
  if (!rc) rc = push3(b, "--bind", spec->workdir, PIER_SANDBOX_APP_DIR);
  if (!rc && l->agents_dir) rc = push3(b, "--ro-bind", l->agents_dir, PIER_SANDBOX_AGENTS_DIR);
  if (!rc && bridge_wanted(spec)) {
    rc = push3(b, "--bind", spec->gateway_socket, PIER_SANDBOX_GATEWAY_SOCK);
    if (!rc) rc = push3(b, "--pier-self", PIER_IN_BIN, PIER_IN_LIB);
  }
  if (!rc) rc = push3(b, "--remount-ro", "/", NULL);
  if (!rc) rc = push3(b, "--chdir", PIER_SANDBOX_APP_DIR, NULL);
  return rc;
}

static int add_env(sb_strv *b, const pier_sandbox_spec *spec, char *err, size_t errlen) {
  int rc = sb_strv_push(b, "--clearenv");
  bool path = false, home = false;
  for (size_t i = 0; !rc && spec->env && spec->env[i]; i++) {
    const char *kv = spec->env[i], *eq = strchr(kv, '=');
    size_t nlen = eq ? (size_t)(eq - kv) : strlen(kv);
    if (!eq || !sb_env_name_valid(kv, nlen)) {
      snprintf(err, errlen, "invalid environment variable name \"%.*s\" (letters, digits and _ only)",
               (int)(nlen > 64 ? 64 : nlen), kv);
      return PIER_EINVAL;
    }
    path |= nlen == 4 && memcmp(kv, "PATH", 4) == 0;
    home |= nlen == 4 && memcmp(kv, "HOME", 4) == 0;
    rc = sb_strv_push(b, "--setenv");
    if (!rc) rc = sb_strv_pushn(b, kv, nlen);
    if (!rc) rc = sb_strv_push(b, eq + 1);
  }
  if (!rc && !path) rc = push3(b, "--setenv", "PATH", DEFAULT_PATH);
  if (!rc && !home) rc = push3(b, "--setenv", "HOME", DEFAULT_HOME);
  return rc;
}

static int add_helper(sb_strv *h, const pier_sandbox_spec *spec, const sb_layout *l) {
  int rc = push3(h, spec->pier_binary, "sandbox-exec", NULL);
  /* With the bridge, RLIMIT_AS is set by the bridge on the command alone:
   * pier's own bridge (a sanitizer build above all) needs address space of its own. */
  if (!rc && spec->memory_bytes && !bridge_wanted(spec)) {
    PUSH(h, "--memory");
    PUSHF(h, "%llu", (unsigned long long)spec->memory_bytes);
  }
  if (!rc && spec->cpus > 0) {
    PUSH(h, "--cpus");
    PUSHF(h, "%d", spec->cpus);
  }
  if (!rc && l->uid) {
    PUSH(h, "--uid");
    PUSHF(h, "%u", (unsigned)l->uid);
    PUSH(h, "--nproc");
    PUSHF(h, "%d", spec->procs_max > 0 ? spec->procs_max : PIER_SANDBOX_PROCS_DEFAULT);
    rc = push3(h, "--chown", spec->workdir, NULL);
    if (!rc) rc = push3(h, "--stage", SB_STAGE_DIR, NULL);
  }
  if (!rc) rc = sb_strv_push(h, "--");
  if (!rc && bridge_wanted(spec)) {
    /* the host's loader runs pier's own libraries, whatever the snapshot has */
    rc = push3(h, PIER_IN_LIB "/ld.so", "--library-path", PIER_IN_LIB);
    if (!rc) rc = push3(h, PIER_IN_BIN "/pier", "bridge", "--listen");
    if (!rc) rc = sb_strv_pushf(h, "127.0.0.1:%d", spec->gateway_port);
    if (!rc) rc = push3(h, "--unix", PIER_SANDBOX_GATEWAY_SOCK, NULL);
    if (!rc && spec->memory_bytes) {
      PUSH(h, "--command-memory");
      PUSHF(h, "%llu", (unsigned long long)spec->memory_bytes);
    }
    if (!rc) rc = sb_strv_push(h, "--");
  }
  for (size_t i = 0; !rc && spec->argv[i]; i++) rc = sb_strv_push(h, spec->argv[i]);
  return rc;
}

static int check_spec(const pier_sandbox_spec *spec, char *err, size_t errlen) {
  if (!spec->argv || !spec->argv[0] || !*spec->argv[0]) {
    snprintf(err, errlen, "the sandbox needs a command to run");
    return PIER_EINVAL;
  }
  if (!spec->workdir || spec->workdir[0] != '/') {
    snprintf(err, errlen, "the sandbox's working directory must be an absolute path");
    return PIER_EINVAL;
  }
  if (!spec->pier_binary || spec->pier_binary[0] != '/' || !spec->data_dir || !*spec->data_dir) {
    snprintf(err, errlen, "the sandbox needs pier's own path and the data directory");
    return PIER_EINVAL;
  }
  if (bridge_wanted(spec) && (spec->gateway_port < 1 || spec->gateway_port > 65535)) {
    snprintf(err, errlen, "gateway_port must be 1-65535 to reach pier from an isolated sandbox");
    return PIER_EINVAL;
  }
  if (spec->cpus < 0 || spec->procs_max < 0) {
    snprintf(err, errlen, "cpus and procs_max must not be negative");
    return PIER_EINVAL;
  }
  return 0;
}

int sb_build(const pier_sandbox_spec *spec, const sb_layout *l, sb_strv *helper, sb_strv *bwrap, char *err,
             size_t errlen) {
  int rc = check_spec(spec, err, errlen);
  if (!rc) rc = add_namespaces(bwrap, spec);
  if (!rc) rc = add_mounts(bwrap, spec, l);
  if (!rc) rc = add_env(bwrap, spec, err, errlen);
  if (!rc) rc = add_helper(helper, spec, l);
  if (rc && rc != PIER_EINVAL) snprintf(err, errlen, "cannot build the sandbox's arguments: %s", pier_strerror(rc));
  return rc;
}
