/* snapshot.c — snapshot names, resolution, import (directory copy or tar) and
 * removal, and the writer both importers go through. Invariant: the writer
 * walks every parent with O_NOFOLLOW from the staging root, so no entry can
 * land outside it, and it never creates devices or setuid files. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "sandbox/sandbox_int.h"

#define COPY_DEPTH_MAX 128

bool pier_snapshot_name_valid(const char *name) {
  if (!name) return false;
  size_t n = strlen(name);
  if (n == 0 || n > PIER_SNAPSHOT_NAME_BYTES_MAX || strcmp(name, PIER_SNAPSHOT_HOST) == 0) return false;
  for (size_t i = 0; i < n; i++) {
    char c = name[i];
    bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '-'))) return false;
  }
  return true;
}

static bool jetty_name(const char *name) {
  return strcmp(name, "python312-uv") == 0 || strcmp(name, "prism-playwright") == 0;
}

int pier_snapshot_resolve(const char *data_dir, const char *name, char *dir, size_t dircap, char *warning,
                          size_t warncap, char *err, size_t errlen) {
  if (!name || !*name) name = PIER_SANDBOX_SNAPSHOT_DEFAULT;
  warning[0] = '\0';
  dir[0] = '\0';
  if (strcmp(name, PIER_SNAPSHOT_HOST) == 0) return 0;
  if (!pier_snapshot_name_valid(name)) {
    snprintf(err, errlen, "invalid snapshot name \"%.80s\": use lowercase letters, digits, '.', '_' and '-'", name);
    return PIER_EINVAL;
  }
  struct stat st;
  if ((size_t)snprintf(dir, dircap, "%s/snapshots/%s", data_dir, name) >= dircap) return PIER_ETOOBIG;
  if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode)) return 0;
  dir[0] = '\0';
  if (jetty_name(name)) {
    snprintf(warning, warncap,
             "snapshot \"%s\" is not installed on this server; the step ran on the \"host\" snapshot (the "
             "host's /usr) instead. Install it with: pier snapshot import %s DIR|TARBALL",
             name, name);
    return 0;
  }
  snprintf(err, errlen,
           "snapshot \"%s\" is not installed on this server: import it with `pier snapshot import %s DIR|TARBALL "
           "--data-dir %s`, or use \"host\"",
           name, name, data_dir);
  return PIER_ENOTFOUND;
}

/* ---- member paths -------------------------------------------------------- */

int pier_snapshot_path_check(const char *in, size_t len, char *out, size_t cap) {
  if (len == 0 || len >= PATH_MAX || cap == 0) return PIER_EINVAL;
  if (in[0] == '/') return PIER_EFORBIDDEN;
  size_t o = 0, i = 0;
  while (i < len) {
    size_t j = i;
    while (j < len && in[j] != '/') j++;
    size_t n = j - i;
    for (size_t k = i; k < j; k++)
      if ((unsigned char)in[k] < 0x20 || in[k] == 0x7f) return PIER_EINVAL;
    if (n == 2 && in[i] == '.' && in[i + 1] == '.') return PIER_EFORBIDDEN;
    if (n > 0 && !(n == 1 && in[i] == '.')) {
      if (o + (o ? 1 : 0) + n + 1 > cap) return PIER_EINVAL;
      if (o) out[o++] = '/';
      memcpy(out + o, in + i, n);
      o += n;
    }
    i = j + 1;
  }
  out[o] = '\0';
  return 0;
}

/* ---- the writer ------------------------------------------------------------ */

static int werr(sb_writer *w, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int werr(sb_writer *w, int rc, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(w->err, w->errlen, fmt, ap);
  va_end(ap);
  return rc;
}

/* Open the directory that holds path's last component, creating missing
 * parents; *base points at that component inside path. */
static int open_parent(sb_writer *w, const char *path, bool create, int *dirfd, const char **base) {
  int fd = dup(w->rootfd);
  if (fd < 0) return werr(w, PIER_EIO, "cannot open the staging directory (%s)", path);
  const char *p = path;
  const char *slash;
  char comp[NAME_MAX + 1];
  while ((slash = strchr(p, '/'))) {
    size_t n = (size_t)(slash - p);
    if (n > NAME_MAX) {
      close(fd);
      return werr(w, PIER_EINVAL, "a path component is too long in %s", path);
    }
    memcpy(comp, p, n);
    comp[n] = '\0';
    if (create && mkdirat(fd, comp, 0755) != 0 && errno != EEXIST) {
      close(fd);
      return werr(w, PIER_EIO, "cannot create the directories of %s", path);
    }
    int next = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    close(fd);
    if (next < 0)
      return werr(w, PIER_EFORBIDDEN, "rejected: %s goes through a symlink or a file", path);
    fd = next;
    p = slash + 1;
  }
  if (strlen(p) > NAME_MAX) {
    close(fd);
    return werr(w, PIER_EINVAL, "a path component is too long in %s", path);
  }
  *dirfd = fd;
  *base = p;
  return 0;
}

/* Remove a non-directory already at dirfd/name (later archive entries win). */
static int clear_slot(sb_writer *w, int dirfd, const char *name, const char *path) {
  struct stat st;
  if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) return 0;
  if (S_ISDIR(st.st_mode)) return werr(w, PIER_EFORBIDDEN, "rejected: %s replaces a directory", path);
  return unlinkat(dirfd, name, 0) == 0 ? 0 : werr(w, PIER_EIO, "cannot replace %s", path);
}

int sb_writer_dir(sb_writer *w, const char *path, mode_t mode) {
  if (!*path) return 0; /* the root itself */
  int dirfd;
  const char *base;
  int rc = open_parent(w, path, true, &dirfd, &base);
  if (rc) return rc;
  mode = (mode & 01777) | 0700; /* owner rwx so the tree can be filled and removed */
  struct stat st;
  if (fstatat(dirfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0) {
    if (!S_ISDIR(st.st_mode)) rc = werr(w, PIER_EFORBIDDEN, "rejected: directory %s replaces a file", path);
  } else if (mkdirat(dirfd, base, mode) != 0) {
    rc = werr(w, PIER_EIO, "cannot create %s", path);
  }
  if (!rc && fchmodat(dirfd, base, mode, 0) != 0) rc = werr(w, PIER_EIO, "cannot set the mode of %s", path);
  if (!rc) w->st.dirs++;
  close(dirfd);
  return rc;
}

int sb_writer_file(sb_writer *w, const char *path, mode_t mode, int *fd) {
  if (!*path) return werr(w, PIER_EFORBIDDEN, "rejected: a file entry names the root");
  int dirfd;
  const char *base;
  int rc = open_parent(w, path, true, &dirfd, &base);
  if (rc) return rc;
  if (!(rc = clear_slot(w, dirfd, base, path))) {
    *fd = openat(dirfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (*fd < 0 || fchmod(*fd, mode & 0777) != 0) rc = werr(w, PIER_EIO, "cannot create %s", path);
    if (rc && *fd >= 0) close(*fd);
  }
  if (!rc) w->st.files++;
  close(dirfd);
  return rc;
}

int sb_writer_symlink(sb_writer *w, const char *path, const char *target) {
  if (!*path || !*target) return werr(w, PIER_EINVAL, "rejected: empty symlink %s", path);
  int dirfd;
  const char *base;
  int rc = open_parent(w, path, true, &dirfd, &base);
  if (rc) return rc;
  /* the target is read inside the sandbox's root, never followed here */
  if (!(rc = clear_slot(w, dirfd, base, path)) && symlinkat(target, dirfd, base) != 0)
    rc = werr(w, PIER_EIO, "cannot create the symlink %s", path);
  if (!rc) w->st.symlinks++;
  close(dirfd);
  return rc;
}

int sb_writer_hardlink(sb_writer *w, const char *path, const char *target) {
  char t[PATH_MAX];
  int rc = pier_snapshot_path_check(target, strlen(target), t, sizeof t);
  if (rc) return werr(w, PIER_EFORBIDDEN, "rejected: %s is a hard link out of the archive", path);
  int sdir, ddir;
  const char *sbase, *dbase;
  if ((rc = open_parent(w, t, false, &sdir, &sbase))) return rc;
  if ((rc = open_parent(w, path, true, &ddir, &dbase))) {
    close(sdir);
    return rc;
  }
  struct stat st;
  if (fstatat(sdir, sbase, &st, AT_SYMLINK_NOFOLLOW) != 0 || S_ISDIR(st.st_mode))
    rc = werr(w, PIER_EFORBIDDEN, "rejected: hard link %s to a missing file or a directory", path);
  if (!rc) rc = clear_slot(w, ddir, dbase, path);
  if (!rc && linkat(sdir, sbase, ddir, dbase, 0) != 0) rc = werr(w, PIER_EIO, "cannot create the hard link %s", path);
  if (!rc) w->st.hardlinks++;
  close(sdir);
  close(ddir);
  return rc;
}

/* ---- copying a directory tree --------------------------------------------- */

static int copy_fd(int in, int out, uint64_t *bytes) {
  char buf[65536];
  ssize_t n;
  while ((n = read(in, buf, sizeof buf)) > 0) {
    for (ssize_t off = 0; off < n;) {
      ssize_t k = write(out, buf + off, (size_t)(n - off));
      if (k <= 0) return PIER_EIO;
      off += k;
    }
    *bytes += (uint64_t)n;
  }
  return n < 0 ? PIER_EIO : 0;
}

static int copy_dir(int srcfd, char *rel, size_t rlen, int depth, sb_writer *w);

static int copy_entry(int srcfd, const char *name, char *rel, size_t rlen, int depth, sb_writer *w) {
  struct stat st;
  size_t nlen = strlen(name);
  if (rlen + nlen + 2 >= PATH_MAX) return werr(w, PIER_EINVAL, "path too long under %s", rel);
  if (rlen) rel[rlen++] = '/';
  memcpy(rel + rlen, name, nlen + 1);
  rlen += nlen;
  if (fstatat(srcfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) return werr(w, PIER_EIO, "cannot stat %s", rel);
  int rc = 0;
  if (S_ISDIR(st.st_mode)) {
    int sub = openat(srcfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (sub < 0) return werr(w, PIER_EIO, "cannot open %s", rel);
    rc = sb_writer_dir(w, rel, st.st_mode);
    if (!rc) rc = copy_dir(sub, rel, rlen, depth + 1, w); /* takes sub */
    else close(sub);
  } else if (S_ISREG(st.st_mode)) {
    int in = openat(srcfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC), out = -1;
    if (in < 0) return werr(w, PIER_EIO, "cannot read %s", rel);
    rc = sb_writer_file(w, rel, st.st_mode, &out);
    if (!rc && copy_fd(in, out, &w->st.bytes)) rc = werr(w, PIER_EIO, "cannot copy %s", rel);
    if (out >= 0) close(out);
    close(in);
  } else if (S_ISLNK(st.st_mode)) {
    char target[PATH_MAX];
    ssize_t n = readlinkat(srcfd, name, target, sizeof target - 1);
    if (n < 0) return werr(w, PIER_EIO, "cannot read the symlink %s", rel);
    target[n] = '\0';
    rc = sb_writer_symlink(w, rel, target);
  } else {
    w->st.skipped++; /* devices, fifos, sockets never enter a snapshot */
  }
  return rc;
}

static int copy_dir(int srcfd, char *rel, size_t rlen, int depth, sb_writer *w) {
  if (depth > COPY_DEPTH_MAX) {
    close(srcfd);
    return werr(w, PIER_ETOOBIG, "directories nested too deep at %s", rel);
  }
  DIR *d = fdopendir(srcfd);
  if (!d) {
    close(srcfd);
    return werr(w, PIER_EIO, "cannot list %s", rel);
  }
  int rc = 0;
  struct dirent *de;
  while (!rc && (de = readdir(d))) {
    if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) continue;
    rc = copy_entry(dirfd(d), de->d_name, rel, rlen, depth, w);
    rel[rlen] = '\0';
  }
  closedir(d);
  return rc;
}

int sb_copy_tree(const char *src, sb_writer *w) {
  int fd = open(src, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return werr(w, PIER_ENOTFOUND, "cannot open the directory %s", src);
  char rel[PATH_MAX] = "";
  return copy_dir(fd, rel, 0, 0, w);
}

/* ---- import and removal ------------------------------------------------------ */

static int gz_read(void *ctx, void *buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    int k = gzread((gzFile)ctx, (char *)buf + got, (unsigned)(n - got > 1u << 30 ? 1u << 30 : n - got));
    if (k < 0) return PIER_EIO;
    if (k == 0) return got == 0 ? PIER_EAGAIN : PIER_EIO;
    got += (size_t)k;
  }
  return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st;
  (void)ftw;
  return (flag == FTW_DP ? rmdir(path) : unlink(path)) == 0 ? 0 : -1;
}

static int rm_tree(const char *path) { return nftw(path, rm_one, 32, FTW_DEPTH | FTW_PHYS) == 0 ? 0 : PIER_EIO; }

static int fill(const char *src, sb_writer *w) {
  struct stat st;
  if (stat(src, &st) != 0) return werr(w, PIER_ENOTFOUND, "%s does not exist", src);
  if (S_ISDIR(st.st_mode)) return sb_copy_tree(src, w);
  gzFile gz = gzopen(src, "rb"); /* reads plain tar too */
  if (!gz) return werr(w, PIER_EIO, "cannot open %s", src);
  gzbuffer(gz, 1u << 17);
  sb_reader r = {gz_read, gz};
  int rc = sb_tar_extract(&r, w);
  gzclose(gz);
  return rc;
}

static int ensure_dir(const char *path) { return mkdir(path, 0700) == 0 || errno == EEXIST ? 0 : PIER_EIO; }

int pier_snapshot_import(const char *data_dir, const char *name, const char *src, pier_snapshot_stats *st,
                         char *err, size_t errlen) {
  if (!pier_snapshot_name_valid(name)) {
    snprintf(err, errlen, "invalid snapshot name \"%.80s\": lowercase letters, digits, '.', '_', '-' (not \"host\")",
             name);
    return PIER_EINVAL;
  }
  char dir[PATH_MAX], final[PATH_MAX + 128], stage[PATH_MAX + 128];
  if ((size_t)snprintf(dir, sizeof dir, "%s/snapshots", data_dir) >= sizeof dir - 100) {
    snprintf(err, errlen, "the data directory's path is too long");
    return PIER_ETOOBIG;
  }
  snprintf(final, sizeof final, "%s/%s", dir, name);
  snprintf(stage, sizeof stage, "%s/.import-%s-XXXXXX", dir, name);
  if (access(final, F_OK) == 0) {
    snprintf(err, errlen, "snapshot \"%s\" already exists; remove it first: pier snapshot remove %s", name, name);
    return PIER_EEXISTS;
  }
  if (ensure_dir(data_dir) || ensure_dir(dir) || !mkdtemp(stage)) {
    snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
    return PIER_EIO;
  }
  sb_writer w = {.rootfd = open(stage, O_RDONLY | O_DIRECTORY | O_CLOEXEC), .err = err, .errlen = errlen};
  int rc = w.rootfd < 0 ? PIER_EIO : fill(src, &w);
  if (w.rootfd >= 0) close(w.rootfd);
  if (!rc && chmod(stage, 0755) != 0) rc = PIER_EIO;
  if (!rc && rename(stage, final) != 0) {
    snprintf(err, errlen, "cannot move the snapshot into place: %s", strerror(errno));
    rc = PIER_EIO;
  }
  if (rc) rm_tree(stage);
  if (st) *st = w.st;
  return rc;
}

int pier_snapshot_remove(const char *data_dir, const char *name, char *err, size_t errlen) {
  if (!pier_snapshot_name_valid(name)) {
    snprintf(err, errlen, "invalid snapshot name \"%.80s\"", name);
    return PIER_EINVAL;
  }
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/snapshots/%s", data_dir, name);
  if (access(path, F_OK) != 0) {
    snprintf(err, errlen, "snapshot \"%s\" is not installed", name);
    return PIER_ENOTFOUND;
  }
  if (rm_tree(path)) {
    snprintf(err, errlen, "cannot remove %s: %s", path, strerror(errno));
    return PIER_EIO;
  }
  return 0;
}
