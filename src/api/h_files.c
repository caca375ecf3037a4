/* h_files.c — GET /api/v1/file/{storage_path} (raw bytes of a stored file,
 * read off the loop) and GET /api/v1/list-files?prefix=. A storage path starts
 * with its collection's name, which the token must own. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/api.h"
#include "base/json.h"
#include "base/util.h"

#define FILE_BYTES_MAX (256u * 1024 * 1024)

typedef struct file_ctx {
  pier_http_req *req;
  pier_collection col;
  pier_slice path;
  pier_file_rec rec;
  pier_file_rec *list;
  size_t n;
  uv_work_t work;
  char *disk;
  pier_buf data;
  int rc;
} file_ctx;

/* "{collection}/..." with no empty, "." or ".." segment. */
static bool split_scope(pier_http_req *req, pier_slice path, pier_collection *col) {
  long slash = pier_slice_find(path, '/');
  bool ok = slash > 0;
  for (pier_slice rest = path; ok && rest.len;) {
    long s = pier_slice_find(rest, '/');
    pier_slice seg = pier_slice_make(rest.ptr, s >= 0 ? (size_t)s : rest.len);
    ok = seg.len && !pier_slice_eq_cstr(seg, ".") && !pier_slice_eq_cstr(seg, "..");
    rest = s >= 0 ? pier_slice_make(rest.ptr + s + 1, rest.len - (size_t)s - 1) : PIER_SLICE_NULL;
  }
  if (!ok) {
    pier_http_respond_error(req, 400, "a storage path looks like {collection}/{task}/0000/...; no empty, \".\" or "
                                      "\"..\" segments");
    return false;
  }
  return pier_api_collection(req, pier_slice_make(path.ptr, (size_t)slash), col);
}

static void read_file(uv_work_t *w) {
  file_ctx *x = w->data;
  int fd = open(x->disk, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    x->rc = PIER_ENOTFOUND;
    return;
  }
  char chunk[65536];
  ssize_t n;
  while ((n = read(fd, chunk, sizeof chunk)) > 0)
    if ((x->rc = pier_buf_append(&x->data, chunk, (size_t)n)) != 0) break;
  if (n < 0) x->rc = PIER_EIO;
  close(fd);
}

static void file_read_done(uv_work_t *w, int status) {
  file_ctx *x = w->data;
  if (status || x->rc) {
    pier_buf_dispose(&x->data);
    pier_http_respond_error(x->req, x->rc == PIER_ENOTFOUND ? 404 : 500, "the file %.*s could not be read",
                            (int)x->path.len, x->path.ptr);
    return;
  }
  const char *base = strrchr(x->rec.path, '/');
  char *extra = pier_arena_printf(&x->req->arena, "Content-Disposition: inline; filename=\"%s\"\r\n",
                                  base ? base + 1 : x->rec.path);
  pier_http_respond_buf(x->req, 200, x->rec.content_type, extra, &x->data);
}

static int rec_work(pier_db *db, void *arg) {
  file_ctx *x = arg;
  return db->ops->file_get(db, &x->req->arena, x->path, &x->rec);
}

static void rec_done(void *arg, int rc) {
  file_ctx *x = arg;
  if (rc == PIER_ENOTFOUND) {
    pier_http_respond_error(x->req, 404, "no stored file at %.*s", (int)x->path.len, x->path.ptr);
    return;
  }
  if (rc) {
    pier_api_db_error(x->req, rc, "file");
    return;
  }
  x->disk = pier_arena_printf(&x->req->arena, "%s/files/%s", APP(x->req)->cfg.data_dir, x->rec.path);
  pier_buf_init(&x->data, FILE_BYTES_MAX);
  x->work.data = x;
  if (!x->disk || uv_queue_work(pier_http_loop_uv(x->req->loop), &x->work, read_file, file_read_done) != 0)
    pier_http_respond_error(x->req, 500, "could not read the file");
}

void pier_h_file_get(pier_http_req *req) {
  file_ctx *x = pier_arena_calloc(&req->arena, sizeof *x);
  if (!x) {
    pier_http_respond_error(req, 500, "out of memory");
    return;
  }
  x->req = req;
  x->path = req->params[0];
  if (!split_scope(req, x->path, &x->col)) return;
  pier_api_db(req, PIER_STORE_READ, rec_work, rec_done, x);
}

static int list_work(pier_db *db, void *arg) {
  file_ctx *x = arg;
  return db->ops->file_list(db, &x->req->arena, x->path, 1000, &x->list, &x->n);
}

static void list_done(void *arg, int rc) {
  file_ctx *x = arg;
  if (rc) {
    pier_api_db_error(x->req, rc, "files");
    return;
  }
  cJSON *o = cJSON_CreateObject();
  cJSON *arr = cJSON_AddArrayToObject(o, "files");
  for (size_t i = 0; i < x->n; i++) {
    cJSON *f = cJSON_CreateObject();
    cJSON_AddStringToObject(f, "path", x->list[i].path);
    cJSON_AddNumberToObject(f, "size", (double)x->list[i].size);
    cJSON_AddStringToObject(f, "content_type", x->list[i].content_type);
    pier_api_add_time(f, "created_at", x->list[i].created_us);
    cJSON_AddItemToArray(arr, f);
  }
  pier_http_respond_json(x->req, 200, o);
  cJSON_Delete(o);
}

void pier_h_files_list(pier_http_req *req) {
  file_ctx *x = pier_arena_calloc(&req->arena, sizeof *x);
  if (!x) {
    pier_http_respond_error(req, 500, "out of memory");
    return;
  }
  x->req = req;
  if (!pier_http_query_get(req, "prefix", &x->path) || !x->path.len) {
    pier_http_respond_error(req, 422, "prefix is required, e.g. ?prefix={collection}/{task}/0000");
    return;
  }
  pier_slice scope = x->path;
  long slash = pier_slice_find(scope, '/');
  if (slash > 0) scope.len = (size_t)slash;
  if (!pier_api_collection(req, scope, &x->col)) return;
  if (slash < 0) { /* "acme" lists acme/..., never acme2/... */
    char *p = pier_arena_printf(&req->arena, "%.*s/", (int)x->path.len, x->path.ptr);
    if (p) x->path = pier_slice_from(p);
  }
  pier_api_db(req, PIER_STORE_READ, list_work, list_done, x);
}
