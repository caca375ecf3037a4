/* build.c — what a sandbox is made of: probe the snapshot (host or a directory)
 * into a layout, then turn spec + layout into the sandbox-exec command line and
 * bubblewrap's arguments. Invariant: the only host paths that reach bwrap are
 * the snapshot's entries, the host /etc allowlist, the workdir, <data-dir>/agents
 * and the gateway socket — never the data directory itself. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sandbox/sandbox_int.h"

#define SB_ENTRIES_MAX 4096
#define SB_ETC_BYTES_MAX (1024 * 1024)

/* ---- memory sizes -------------------------------------------------------- */

int pier_memory_parse(const char *s, uint64_t *bytes) {
  if (!s || !*s) return PIER_EINVAL;
  const char *p = s;
  uint64_t whole = 0, frac = 0, frac_div = 1;
  bool digits = false;
  for (; *p >= '0' && *p <= '9'; p++, digits = true) {
    if (whole > (UINT64_MAX - 9) / 10) return PIER_EINVAL;
    whole = whole * 10 + (uint64_t)(*p - '0');
  }
  if (*p == '.') {
    for (p++; *p >= '0' && *p <= '9'; p++, digits = true)
      if (frac_div < 1000000000) frac = frac * 10 + (uint64_t)(*p - '0'), frac_div *= 10;
  }
  if (!digits) return PIER_EINVAL;
  uint64_t mult = 1;
  switch (*p) {
    case '\0': break;
    case 'k': case 'K': mult = 1ull << 10; p++; break;
    case 'm': case 'M': mult = 1ull << 20; p++; break;
    case 'g': case 'G': mult = 1ull << 30; p++; break;
    case 't': case 'T': mult = 1ull << 40; p++; break;
    default: return PIER_EINVAL;
  }
  if (mult > 1 && (*p == 'i' || *p == 'I')) p++;        /* "Gi" */
  if (mult > 1 && (*p == 'b' || *p == 'B')) p++;        /* "GB" */
  if (*p != '\0' || (frac && mult == 1)) return PIER_EINVAL;
  if (whole > UINT64_MAX / mult) return PIER_EINVAL;
  uint64_t v = whole * mult + (frac * mult) / frac_div;
  if (v == 0) return PIER_EINVAL;
  *bytes = v;
  return 0;
}

/* ---- layout ---------------------------------------------------------------- */

int sb_entries_add(sb_entries *e, const char *name, const char *link) {
  if (e->n >= SB_ENTRIES_MAX) return PIER_ETOOBIG;
  if (e->n == e->cap) {
    size_t cap = e->cap ? e->cap * 2 : 16;
    sb_entry *v = realloc(e->v, cap * sizeof *v);
    if (!v) return PIER_ENOMEM;
    e->v = v;
    e->cap = cap;
  }
  sb_entry *x = &e->v[e->n];
  x->name = strdup(name);
  x->link = link ? strdup(link) : NULL;
  if (!x->name || (link && !x->link)) {
    free(x->name);
    free(x->link);
    return PIER_ENOMEM;
  }
  e->n++;
  return 0;
}

static void entries_dispose(sb_entries *e) {
  for (size_t i = 0; i < e->n; i++) {
    free(e->v[i].name);
    free(e->v[i].link);
  }
  free(e->v);
  memset(e, 0, sizeof *e);
}

void sb_layout_dispose(sb_layout *l) {
  free(l->root);
  entries_dispose(&l->top);
  entries_dispose(&l->opt);
  entries_dispose(&l->run);
  free(l->passwd);
  free(l->group);
  free(l->agents_dir);
  memset(l, 0, sizeof *l);
}

/* Add dir/name as a bind (dir or file) or a symlink; missing entries are skipped. */
static int add_probed(sb_entries *e, const char *dir, const char *name) {
  char path[PATH_MAX], target[PATH_MAX];
  if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path) return PIER_ETOOBIG;
  struct stat st;
  if (lstat(path, &st) != 0) return 0;
  if (S_ISLNK(st.st_mode)) {
    ssize_t n = readlink(path, target, sizeof target - 1);
    if (n < 0) return PIER_EIO;
    target[n] = '\0';
    return sb_entries_add(e, name, target);
  }
  if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) return 0; /* no devices, fifos, sockets */
  return sb_entries_add(e, name, NULL);
}

static bool reserved_top(const char *name) {
  static const char *const names[] = {"app", "tmp", "proc", "dev", "opt", "run", NULL};
  for (int i = 0; names[i]; i++)
    if (strcmp(name, names[i]) == 0) return true;
  return false;
}

/* Every entry of dir (but . and ..), minus reserved top-level names when top. */
static int probe_dir(const char *dir, bool top, sb_entries *e) {
  DIR *d = opendir(dir);
  if (!d) return errno == ENOENT || errno == ENOTDIR ? 0 : PIER_EIO;
  int rc = 0;
  struct dirent *de;
  while (!rc && (de = readdir(d))) {
    const char *n = de->d_name;
    if (strcmp(n, ".") == 0 || strcmp(n, "..") == 0) continue;
    if (top ? reserved_top(n) : strcmp(n, "pier") == 0) continue;
    rc = add_probed(e, dir, n);
  }
  closedir(d);
  return rc;
}

static bool is_dir(const char *path) {
  struct stat st;
  return lstat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool is_file(const char *path) {
  struct stat st;
  return lstat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* True when a passwd/group line has "1000" as its third field. */
static bool has_id_1000(const char *p, size_t len) {
  size_t i = 0;
  while (i < len) {
    size_t end = i;
    while (end < len && p[end] != '\n') end++;
    int field = 0;
    size_t f = i;
    for (size_t k = i; k <= end && field < 3; k++) {
      if (k < end && p[k] != ':') continue;
      if (field == 2 && k - f == 4 && memcmp(p + f, "1000", 4) == 0) return true;
      field++;
      f = k + 1;
    }
    i = end + 1;
  }
  return false;
}

char *sb_etc_with_agent(const char *content, size_t len, bool group, int *rc) {
  *rc = 0;
  if (has_id_1000(content, len)) return NULL;
  const char *line = group ? "agent:x:1000:\n" : "agent:x:1000:1000:pier sandbox:/tmp:/bin/sh\n";
  pier_buf b;
  pier_buf_init(&b, 0);
  *rc = pier_buf_append(&b, content, len);
  if (!*rc && len && content[len - 1] != '\n') *rc = pier_buf_putc(&b, '\n');
  if (!*rc) *rc = pier_buf_append_cstr(&b, line);
  if (*rc) {
    pier_buf_dispose(&b);
    return NULL;
  }
  return pier_buf_detach(&b, NULL);
}

static int read_small(const char *path, pier_buf *out) {
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return PIER_ENOTFOUND;
  char chunk[8192];
  ssize_t n;
  int rc = 0;
  while (!rc && (n = read(fd, chunk, sizeof chunk)) > 0) rc = pier_buf_append(out, chunk, (size_t)n);
  if (!rc && n < 0) rc = PIER_EIO;
  close(fd);
  return rc;
}

/* The snapshot's own /etc/passwd|group plus an agent entry, or NULL to keep it. */
static int custom_etc(const char *root, const char *name, bool group, char **out) {
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/etc/%s", root, name);
  if (!is_file(path)) return 0;
  pier_buf b;
  pier_buf_init(&b, SB_ETC_BYTES_MAX);
  int rc = read_small(path, &b);
  if (!rc) *out = sb_etc_with_agent(b.ptr ? b.ptr : "", b.len, group, &rc);
  pier_buf_dispose(&b);
  return rc == PIER_ETOOBIG ? 0 : rc; /* a huge passwd is left alone */
}

static const char HOST_PASSWD[] = "root:x:0:0:root:/root:/bin/sh\n"
                                  "agent:x:1000:1000:pier sandbox:/tmp:/bin/sh\n"
                                  "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n";
static const char HOST_GROUP[] = "root:x:0:\nagent:x:1000:\nnogroup:x:65534:\n";

static int probe_host(sb_layout *l) {
  static const char *const tops[] = {"usr", "bin", "sbin", "lib", "lib64", "lib32", "libx32", NULL};
  int rc = 0;
  for (int i = 0; !rc && tops[i]; i++) rc = add_probed(&l->top, "", tops[i]);
  l->passwd = strdup(HOST_PASSWD);
  l->group = strdup(HOST_GROUP);
  return rc ? rc : (l->passwd && l->group ? 0 : PIER_ENOMEM);
}

static int probe_custom(sb_layout *l, const char *root) {
  char path[PATH_MAX];
  if (!(l->root = strdup(root))) return PIER_ENOMEM;
  int rc = probe_dir(root, true, &l->top);
  snprintf(path, sizeof path, "%s/opt", root);
  if (!rc && is_dir(path)) rc = probe_dir(path, false, &l->opt);
  snprintf(path, sizeof path, "%s/run", root);
  if (!rc && is_dir(path)) rc = probe_dir(path, false, &l->run);
  snprintf(path, sizeof path, "%s/var/tmp", root);
  l->var_tmp = is_dir(path);
  char p2[PATH_MAX];
  snprintf(path, sizeof path, "%s/etc/resolv.conf", root);
  snprintf(p2, sizeof p2, "%s/etc/hosts", root);
  l->etc_resolv = is_file(path) && is_file(p2);
  if (!rc) rc = custom_etc(root, "passwd", false, &l->passwd);
  if (!rc) rc = custom_etc(root, "group", true, &l->group);
  return rc;
}

int sb_layout_probe(const pier_sandbox_spec *spec, const char *snapshot_dir, sb_layout *l, char *err,
                    size_t errlen) {
  memset(l, 0, sizeof *l);
  int rc = *snapshot_dir ? probe_custom(l, snapshot_dir) : probe_host(l);
  if (rc) {
    snprintf(err, errlen, "cannot read the snapshot %s: %s", *snapshot_dir ? snapshot_dir : "host",
             pier_strerror(rc));
    sb_layout_dispose(l);
    return rc;
  }
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/agents", spec->data_dir);
  if (is_dir(path) && !(l->agents_dir = strdup(path))) rc = PIER_ENOMEM;
  return rc;
}
