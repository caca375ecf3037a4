/* runbook_fs.c — see runbook_fs.h. Runs on a worker thread: plain blocking
 * POSIX calls are fine here, and nothing here touches the loop's state. */
#define _GNU_SOURCE
#include "engine/activities/runbook_fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/buf.h"
#include "engine/activities/unzip.h"

static int mkdirs(const char *path) {
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s", path);
  for (char *p = tmp + 1; *p; p++) {
    if (*p != '/') continue;
    *p = '\0';
    if (mkdir(tmp, 0700) != 0 && errno != EEXIST) return PIER_EIO;
    *p = '/';
  }
  return mkdir(tmp, 0700) == 0 || errno == EEXIST ? 0 : PIER_EIO;
}

static int copy_file(const char *from, const char *to, int64_t *size, uint64_t budget) {
  int in = open(from, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (in < 0) return PIER_ENOTFOUND;
  int out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (out < 0) {
    close(in);
    return PIER_EIO;
  }
  char buf[65536];
  ssize_t n;
  int rc = 0;
  int64_t total = 0;
  while ((n = read(in, buf, sizeof buf)) > 0) {
    total += n;
    if ((uint64_t)total > budget || write(out, buf, (size_t)n) != n) {
      rc = (uint64_t)total > budget ? PIER_ETOOBIG : PIER_EIO;
      break;
    }
  }
  if (n < 0) rc = PIER_EIO;
  close(in);
  close(out);
  if (rc) unlink(to);
  if (size) *size = total;
  return rc;
}

int pier_rb_prepare(const char *workdir, char *const *inputs, size_t n, char *err, size_t errlen) {
  char path[4096];
  snprintf(path, sizeof path, "%s/assets", workdir);
  int rc = mkdirs(path);
  snprintf(path, sizeof path, "%s/results", workdir);
  if (!rc) rc = mkdirs(path);
  if (rc) {
    snprintf(err, errlen, "cannot create the step's working directory");
    return rc;
  }
  for (size_t i = 0; i < n; i++) {
    const char *base = strrchr(inputs[i], '/');
    base = base ? base + 1 : inputs[i];
    snprintf(path, sizeof path, "%s/assets/%s", workdir, base);
    if (access(path, F_OK) == 0) snprintf(path, sizeof path, "%s/assets/%zu-%s", workdir, i, base);
    rc = copy_file(inputs[i], path, NULL, PIER_RB_RESULTS_BYTES_MAX);
    if (rc) {
      snprintf(err, errlen, "input file %s %s", base, rc == PIER_ENOTFOUND ? "does not exist" : "could not be copied");
      return rc;
    }
    size_t bl = strlen(base);
    if (bl > 4 && strcasecmp(base + bl - 4, ".zip") == 0) { /* members land in assets/ next to it */
      char dest[4096], why[400];
      snprintf(dest, sizeof dest, "%s/assets", workdir);
      pier_unzip_limits lim = {.bytes_max = PIER_RB_RESULTS_BYTES_MAX, .entries_max = PIER_RB_ZIP_ENTRIES_MAX};
      rc = pier_unzip(path, dest, &lim, why, sizeof why);
      if (rc) {
        snprintf(err, errlen, "input file %s: %s", base, why);
        return rc;
      }
    }
  }
  return 0;
}

void pier_rb_flatten(const char *sandbox_path, char *out, size_t cap) {
  const char *p = sandbox_path[0] == '/' ? sandbox_path + 1 : sandbox_path;
  const char *base = strrchr(p, '/');
  base = base ? base + 1 : p;
  const char *ext = strrchr(base, '.');
  if (ext == base) ext = NULL; /* ".hidden" has no extension */
  size_t n = 0;
  for (const char *c = p; *c && n + 3 < cap; c++) {
    if (*c == '/') {
      out[n++] = '-';
      out[n++] = '-';
    } else if (*c == '.' && c >= base && c != ext) {
      out[n++] = '-'; /* dots in the stem */
    } else {
      out[n++] = *c;
    }
  }
  out[n] = '\0';
}

static const char *content_type_of(const char *name, char ext_out[16]) {
  const char *dot = strrchr(name, '.');
  snprintf(ext_out, 16, "%s", dot && strlen(dot) < 16 ? dot + 1 : "");
  static const char *map[][2] = {{"md", "text/markdown"}, {"txt", "text/plain"}, {"json", "application/json"},
                                 {"csv", "text/csv"}, {"html", "text/html"}, {"pdf", "application/pdf"},
                                 {"png", "image/png"}, {"jpg", "image/jpeg"}, {"jpeg", "image/jpeg"},
                                 {"gif", "image/gif"}, {"webp", "image/webp"}, {"svg", "image/svg+xml"},
                                 {"xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"},
                                 {"zip", "application/zip"}, {"py", "text/x-python"}, {NULL, NULL}};
  for (int i = 0; map[i][0]; i++)
    if (strcasecmp(ext_out, map[i][0]) == 0) return map[i][1];
  return "application/octet-stream";
}

typedef struct walk {
  const char *files_root, *prefix;
  pier_buf list; /* pier_rb_result entries */
  size_t n;
  uint64_t bytes;
  char err[256];
  int rc;
} walk;

static int add_result(walk *w, const char *host, const char *rel) {
  if (w->n >= PIER_RB_RESULTS_MAX) return PIER_ETOOBIG;
  char sandbox[4096], flat[4096];
  int w_len = snprintf(sandbox, sizeof sandbox, "/app/results/%s", rel);
  if (w_len < 0 || (size_t)w_len >= sizeof sandbox) return PIER_ETOOBIG;
  pier_rb_flatten(sandbox, flat, sizeof flat);
  pier_rb_result r = {0};
  pier_buf storage, dest;
  pier_buf_init(&storage, 0);
  pier_buf_init(&dest, 0);
  int rc = pier_buf_appendf(&storage, "%s%04zu.%s", w->prefix, w->n, flat);
  if (!rc) rc = pier_buf_appendf(&dest, "%s/%s", w->files_root, storage.ptr);
  if (!rc) {
    char *slash = strrchr(dest.ptr, '/');
    *slash = '\0';
    rc = mkdirs(dest.ptr);
    *slash = '/';
  }
  if (!rc) rc = copy_file(host, dest.ptr, &r.size, PIER_RB_RESULTS_BYTES_MAX - w->bytes);
  pier_buf_dispose(&dest);
  if (rc) {
    pier_buf_dispose(&storage);
    return rc;
  }
  r.storage_path = pier_buf_detach(&storage, NULL);
  w->bytes += (uint64_t)r.size;
  r.sandbox_path = strdup(sandbox);
  r.content_type = content_type_of(rel, r.extension);
  if (!r.storage_path || !r.sandbox_path || pier_buf_append(&w->list, &r, sizeof r) != 0) {
    free(r.storage_path);
    free(r.sandbox_path);
    return PIER_ENOMEM;
  }
  w->n++;
  return 0;
}

/* Depth-first, sorted by name so numbering is stable. */
static int walk_dir(walk *w, const char *host, const char *rel, int depth) {
  if (depth > 32) return 0;
  struct dirent **names;
  int n = scandir(host, &names, NULL, alphasort);
  if (n < 0) return 0;
  int rc = 0;
  for (int i = 0; i < n; i++) {
    const char *nm = names[i]->d_name;
    if (!rc && strcmp(nm, ".") && strcmp(nm, "..")) {
      char hp[4096], rp[4096];
      snprintf(hp, sizeof hp, "%s/%s", host, nm);
      snprintf(rp, sizeof rp, "%s%s%s", rel, rel[0] ? "/" : "", nm);
      struct stat st;
      if (lstat(hp, &st) == 0 && S_ISDIR(st.st_mode)) rc = walk_dir(w, hp, rp, depth + 1);
      else if (lstat(hp, &st) == 0 && S_ISREG(st.st_mode)) rc = add_result(w, hp, rp);
    }
    free(names[i]);
  }
  free(names);
  return rc;
}

int pier_rb_collect(const char *workdir, const char *files_root, const char *prefix, pier_rb_result **out, size_t *n,
                    char *err, size_t errlen) {
  walk w = {.files_root = files_root, .prefix = prefix};
  pier_buf_init(&w.list, 0);
  char root[4096];
  snprintf(root, sizeof root, "%s/results", workdir);
  int rc = walk_dir(&w, root, "", 0);
  if (rc) {
    snprintf(err, errlen, rc == PIER_ETOOBIG ? "the agent left more than %d files or more than 1 GiB in /app/results"
                                             : "could not store the agent's results",
             PIER_RB_RESULTS_MAX);
    pier_rb_results_free((pier_rb_result *)w.list.ptr, w.n);
    return rc;
  }
  *out = (pier_rb_result *)pier_buf_detach(&w.list, NULL);
  *n = w.n;
  return 0;
}

void pier_rb_results_free(pier_rb_result *r, size_t n) {
  for (size_t i = 0; r && i < n; i++) {
    free(r[i].storage_path);
    free(r[i].sandbox_path);
  }
  free(r);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st, (void)flag, (void)ftw;
  remove(path);
  return 0;
}

void pier_rb_remove(const char *dir) { nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS); }
