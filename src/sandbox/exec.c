/* exec.c — `pier sandbox-exec`: the short-lived step between pier and bwrap.
 * Reads bwrap's arguments from fd 3, and when pier runs as root: chowns the
 * workdir to the run's uid, stages every bind source in a private mount
 * namespace (so an unprivileged bwrap can reach sources below 0700 dirs), sets
 * rlimits and CPU affinity, drops to that uid and execs bwrap with an empty
 * environment. Invariant: bwrap never runs as root, and no descriptor but
 * 0-2 and the ones bwrap consumes survives into it. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <limits.h>
#include <link.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/slice.h"
#include "sandbox/sandbox_int.h"

#define ARGS_BYTES_MAX (64u * 1024 * 1024)

typedef struct exec_opts {
  uint64_t memory;
  unsigned long cpus, nproc;
  uid_t uid;
  const char *chown_dir, *stage;
  char **cmd;
} exec_opts;

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("pier sandbox-exec: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  return PIER_SANDBOX_EXIT_SETUP;
}

static bool parse_ulong(const char *s, unsigned long long *out) {
  unsigned long long v;
  if (pier_slice_to_u64(pier_slice_from(s), &v) != 0) return false;
  *out = v;
  return true;
}

static int parse_opts(int argc, char **argv, exec_opts *o) {
  memset(o, 0, sizeof *o);
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--") == 0) {
      o->cmd = argv + i + 1;
      return o->cmd[0] ? 0 : fail("no command after --");
    }
    if (i + 1 >= argc) return fail("%s needs a value", a);
    const char *v = argv[++i];
    unsigned long long n = 0;
    bool num = parse_ulong(v, &n);
    if (strcmp(a, "--memory") == 0 && num) o->memory = n;
    else if (strcmp(a, "--cpus") == 0 && num) o->cpus = (unsigned long)n;
    else if (strcmp(a, "--nproc") == 0 && num) o->nproc = (unsigned long)n;
    else if (strcmp(a, "--uid") == 0 && num && n > 0 && n < 0xfffffffful) o->uid = (uid_t)n;
    else if (strcmp(a, "--chown") == 0 && v[0] == '/') o->chown_dir = v;
    else if (strcmp(a, "--stage") == 0 && v[0] == '/') o->stage = v;
    else return fail("bad option %s %s", a, v);
  }
  return fail("missing -- and the command");
}

static int read_all(int fd, pier_buf *b) {
  char chunk[65536];
  for (;;) {
    ssize_t n = read(fd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return PIER_EIO;
    if (n == 0) return 0;
    int rc = pier_buf_append(b, chunk, (size_t)n);
    if (rc) return rc;
  }
}

/* A memfd holding data, positioned at 0, inherited by bwrap. */
static int data_fd(const char *data, size_t len) {
  int fd = memfd_create("pier-sandbox", 0);
  if (fd < 0) return -1;
  for (size_t off = 0; off < len;) {
    ssize_t n = write(fd, data + off, len - off);
    if (n <= 0 && errno != EINTR) {
      close(fd);
      return -1;
    }
    if (n > 0) off += (size_t)n;
  }
  if (lseek(fd, 0, SEEK_SET) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

/* ---- --pier-self: this executable, its libraries and its loader ----------- */

typedef struct self_ctx {
  sb_strv *out;
  const char *libdir;
  const char *interp; /* PT_INTERP of the main program */
  int rc;
} self_ctx;

static int bind_ro(sb_strv *out, const char *src, const char *dest_dir, const char *dest_name) {
  int rc = sb_strv_push(out, "--ro-bind");
  if (!rc) rc = sb_strv_push(out, src);
  if (!rc) rc = sb_strv_pushf(out, "%s/%s", dest_dir, dest_name);
  return rc;
}

static int on_object(struct dl_phdr_info *info, size_t size, void *arg) {
  (void)size;
  self_ctx *c = arg;
  if (c->rc) return 1;
  if (!info->dlpi_name || !info->dlpi_name[0]) { /* the main program: find its loader */
    for (int i = 0; i < info->dlpi_phnum; i++)
      if (info->dlpi_phdr[i].p_type == PT_INTERP)
        c->interp = (const char *)(info->dlpi_addr + info->dlpi_phdr[i].p_vaddr);
    return 0;
  }
  if (info->dlpi_name[0] != '/') return 0; /* the vDSO */
  const char *base = strrchr(info->dlpi_name, '/') + 1;
  c->rc = bind_ro(c->out, info->dlpi_name, c->libdir, base);
  return c->rc ? 1 : 0;
}

static int add_self(sb_strv *out, const char *bindir, const char *libdir) {
  char exe[PATH_MAX];
  if (pier_sandbox_self_path(exe, sizeof exe)) return fail("cannot resolve /proc/self/exe");
  self_ctx c = {.out = out, .libdir = libdir};
  dl_iterate_phdr(on_object, &c);
  if (c.rc || !c.interp) return fail("cannot list pier's shared libraries");
  int rc = bind_ro(out, exe, bindir, "pier");
  if (!rc) rc = bind_ro(out, c.interp, libdir, "ld.so");
  return rc ? fail("out of memory") : 0;
}

/* ---- expanding the argument stream --------------------------------------- */

static int arity(const char *opt) {
  static const char *const zero[] = {"--unshare-user", "--disable-userns", "--unshare-pid", "--unshare-ipc",
                                     "--unshare-uts", "--unshare-cgroup-try", "--unshare-net",
                                     "--die-with-parent", "--clearenv", NULL};
  static const char *const one[] = {"--uid", "--gid", "--hostname", "--dir", "--proc", "--dev", "--tmpfs",
                                    "--perms", "--size", "--remount-ro", "--chdir", NULL};
  static const char *const two[] = {"--symlink", "--ro-bind", "--bind", "--ro-bind-try", "--bind-try",
                                    "--setenv", "--pier-data", "--pier-self", NULL};
  for (int i = 0; zero[i]; i++)
    if (strcmp(opt, zero[i]) == 0) return 0;
  for (int i = 0; one[i]; i++)
    if (strcmp(opt, one[i]) == 0) return 1;
  for (int i = 0; two[i]; i++)
    if (strcmp(opt, two[i]) == 0) return 2;
  return -1;
}

static bool is_bind(const char *opt) { return strncmp(opt, "--ro-bind", 9) == 0 || strncmp(opt, "--bind", 6) == 0; }

/* Stage source `src` under stage/N (root only); writes the staged path. */
static int stage_source(const char *stage, int n, const char *src, bool try, char *out, size_t cap, bool *skip) {
  int fd = open(src, O_PATH | O_CLOEXEC);
  if (fd < 0 && try && errno == ENOENT) {
    *skip = true;
    return 0;
  }
  if (fd < 0) return fail("cannot open %s: %s", src, strerror(errno));
  struct stat st;
  snprintf(out, cap, "%s/%d", stage, n);
  int rc = fstat(fd, &st);
  if (!rc && S_ISDIR(st.st_mode)) rc = mkdir(out, 0755);
  else if (!rc) {
    int f = open(out, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
    rc = f < 0 ? -1 : close(f);
  }
  char proc[64];
  snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
  if (!rc) rc = mount(proc, out, NULL, MS_BIND | MS_REC, NULL);
  int e = errno;
  close(fd);
  return rc ? fail("cannot stage %s: %s", src, strerror(e)) : 0;
}

static int stage_begin(const char *stage) {
  if (mkdir(stage, 0755) != 0 && errno != EEXIST) return fail("cannot create %s: %s", stage, strerror(errno));
  if (unshare(CLONE_NEWNS) != 0) return fail("cannot create a mount namespace: %s", strerror(errno));
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
    return fail("cannot make mounts private: %s", strerror(errno));
  if (mount("tmpfs", stage, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0755,size=1m") != 0)
    return fail("cannot mount the staging tmpfs: %s", strerror(errno));
  return 0;
}

/* in -> out: pseudo options expanded, bind sources staged when o->stage. */
static int expand(const exec_opts *o, const sb_strv *in, sb_strv *out) {
  static int staged_count; /* names stage/0, stage/1, ... across recursion */
  int rc = 0;
  for (size_t i = 0; i < in->n && !rc; i++) {
    const char *opt = in->v[i];
    int n = arity(opt);
    if (n < 0) return fail("unexpected bwrap argument %s", opt);
    if (i + (size_t)n >= in->n) return fail("%s lacks its value", opt);
    if (strcmp(opt, "--pier-data") == 0) {
      int fd = data_fd(in->v[i + 2], strlen(in->v[i + 2]));
      if (fd < 0) return fail("cannot create a memfd: %s", strerror(errno));
      rc = sb_strv_push(out, "--perms");
      if (!rc) rc = sb_strv_push(out, "0644");
      if (!rc) rc = sb_strv_push(out, "--ro-bind-data");
      if (!rc) rc = sb_strv_pushf(out, "%d", fd);
      if (!rc) rc = sb_strv_push(out, in->v[i + 1]);
    } else if (strcmp(opt, "--pier-self") == 0) {
      sb_strv self = {0};
      rc = add_self(&self, in->v[i + 1], in->v[i + 2]);
      sb_strv expanded = {0};
      if (!rc) rc = expand(o, &self, &expanded);
      for (size_t k = 0; !rc && k < expanded.n; k++) rc = sb_strv_push(out, expanded.v[k]);
      sb_strv_dispose(&self);
      sb_strv_dispose(&expanded);
    } else if (is_bind(opt) && o->stage) {
      char staged[PATH_MAX];
      bool skip = false;
      rc = stage_source(o->stage, staged_count++, in->v[i + 1], strstr(opt, "-try") != NULL, staged,
                        sizeof staged, &skip);
      if (!rc && !skip) {
        rc = sb_strv_push(out, strstr(opt, "ro-") ? "--ro-bind" : "--bind");
        if (!rc) rc = sb_strv_push(out, staged);
        if (!rc) rc = sb_strv_push(out, in->v[i + 2]);
      }
    } else {
      for (int k = 0; k <= n && !rc; k++) rc = sb_strv_push(out, in->v[i + (size_t)k]);
    }
    i += (size_t)n;
  }
  return rc;
}

/* ---- limits, ownership, identity ----------------------------------------- */

static uid_t chown_uid;

static int chown_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st;
  (void)flag;
  (void)ftw;
  return lchown(path, chown_uid, chown_uid) == 0 ? 0 : -1;
}

/* CPU affinity to `cpus` of the CPUs we may use, from a random offset so that
 * concurrent sandboxes spread out. */
static int pin_cpus(unsigned long cpus) {
  cpu_set_t have, want;
  if (sched_getaffinity(0, sizeof have, &have) != 0) return fail("sched_getaffinity: %s", strerror(errno));
  int n = CPU_COUNT(&have);
  if (cpus == 0 || cpus >= (unsigned long)n) return 0;
  unsigned r = 0;
  if (getrandom(&r, sizeof r, 0) != sizeof r) r = (unsigned)getpid();
  int skip = (int)(r % (unsigned)n), taken = 0;
  CPU_ZERO(&want);
  for (int pass = 0; pass < 2 && taken < (int)cpus; pass++)
    for (int c = 0; c < CPU_SETSIZE && taken < (int)cpus; c++) {
      if (!CPU_ISSET(c, &have) || CPU_ISSET(c, &want)) continue;
      if (pass == 0 && skip > 0) {
        skip--;
        continue;
      }
      CPU_SET(c, &want);
      taken++;
    }
  if (sched_setaffinity(0, sizeof want, &want) != 0) return fail("sched_setaffinity: %s", strerror(errno));
  return 0;
}

static int set_limit(int res, rlim_t v, const char *name) {
  struct rlimit rl = {v, v};
  if (setrlimit(res, &rl) != 0) return fail("setrlimit(%s): %s", name, strerror(errno));
  return 0;
}

static int limits(const exec_opts *o) {
  int rc = set_limit(RLIMIT_CORE, 0, "RLIMIT_CORE");
  if (!rc && o->memory) rc = set_limit(RLIMIT_AS, (rlim_t)o->memory, "RLIMIT_AS");
  if (!rc && o->nproc && o->uid) rc = set_limit(RLIMIT_NPROC, (rlim_t)o->nproc, "RLIMIT_NPROC");
  if (!rc) rc = pin_cpus(o->cpus);
  return rc;
}

static int drop_to(uid_t uid) {
  if (setgroups(0, NULL) != 0 || setresgid(uid, uid, uid) != 0 || setresuid(uid, uid, uid) != 0)
    return fail("cannot switch to uid %u: %s", (unsigned)uid, strerror(errno));
  if (getuid() != uid || geteuid() != uid || getgid() != uid || setuid(0) == 0)
    return fail("still privileged after switching to uid %u", (unsigned)uid);
  return 0;
}

static const char *find_bwrap(void) {
  static const char *const paths[] = {"/usr/bin/bwrap", "/usr/local/bin/bwrap", "/bin/bwrap", NULL};
  for (int i = 0; paths[i]; i++)
    if (access(paths[i], X_OK) == 0) return paths[i];
  return NULL;
}

/* bwrap's argv, its arguments in a memfd; everything allocated before the
 * rlimits apply (a sanitizer build cannot map memory under a small RLIMIT_AS). */
static int prepare_bwrap(const sb_strv *args, char **cmd, sb_strv *argv, const char **bwrap) {
  if (!(*bwrap = find_bwrap())) return fail("bubblewrap (bwrap) is not installed: apt-get install bubblewrap");
  pier_buf b;
  pier_buf_init(&b, 0);
  if (sb_strv_serialize(args, &b)) return fail("out of memory");
  int fd = data_fd(b.ptr ? b.ptr : "", b.len);
  pier_buf_dispose(&b);
  if (fd < 0) return fail("cannot create a memfd: %s", strerror(errno));
  int rc = sb_strv_push(argv, "bwrap");
  if (!rc) rc = sb_strv_push(argv, "--args");
  if (!rc) rc = sb_strv_pushf(argv, "%d", fd);
  if (!rc) rc = sb_strv_push(argv, "--");
  for (size_t i = 0; !rc && cmd[i]; i++) rc = sb_strv_push(argv, cmd[i]);
  return rc ? fail("out of memory") : 0;
}

int sb_exec_main(int argc, char **argv) {
  exec_opts o;
  if (parse_opts(argc, argv, &o)) return PIER_SANDBOX_EXIT_SETUP;
  close_range(4, ~0u, 0); /* nothing of pier's reaches bwrap but fd 3, read below */
  pier_buf raw;
  pier_buf_init(&raw, ARGS_BYTES_MAX);
  sb_strv in = {0}, out = {0}, bargv = {0};
  int rc = read_all(3, &raw);
  close(3);
  if (rc || sb_strv_parse(raw.ptr ? raw.ptr : "", raw.len, &in)) return fail("cannot read the arguments on fd 3");
  pier_buf_dispose(&raw);
  if (o.uid && geteuid() != 0) return fail("--uid needs root");
  if (o.uid && o.chown_dir) {
    chown_uid = o.uid;
    if (nftw(o.chown_dir, chown_one, 32, FTW_PHYS | FTW_MOUNT) != 0)
      return fail("cannot hand %s to the sandbox's uid: %s", o.chown_dir, strerror(errno));
  }
  if (o.stage && (rc = stage_begin(o.stage))) return rc;
  if ((rc = expand(&o, &in, &out))) return rc < 0 ? fail("out of memory") : rc;
  const char *bwrap = NULL;
  if ((rc = prepare_bwrap(&out, o.cmd, &bargv, &bwrap))) return rc;
  if ((rc = limits(&o))) return rc;
  if (o.uid && (rc = drop_to(o.uid))) return rc;
  char *envp[] = {NULL};
  execve(bwrap, bargv.v, envp);
  return fail("cannot exec %s: %s", bwrap, strerror(errno));
}
