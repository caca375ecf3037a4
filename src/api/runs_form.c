/* runs_form.c — the form a run is started with, as Jetty clients send it:
 * multipart/form-data (init_params, secret_params, webhook_url,
 * webhook_secret, repeatable files) — also JSON ({"init_params": ...}) or an
 * empty body. Uploaded files are written off the loop and recorded. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/runs_int.h"
#include "base/json.h"
#include "base/limits.h"
#include "base/util.h"
#include "http/multipart.h"

static void form_free(void *p) {
  run_form *f = p;
  cJSON_Delete(f->init_params);
  cJSON_Delete(f->secret_params);
  free(f->webhook_url);
  if (f->webhook_secret) free(f->webhook_secret);
  for (int i = 0; i < f->nfiles; i++) pier_buf_dispose(&f->files[i].data);
  pier_buf_dispose(&f->field);
}

static void sanitize_name(pier_slice in, char *out, size_t cap) {
  for (size_t i = in.len; i > 0; i--) /* basename: after the last / or \ */
    if (in.ptr[i - 1] == '/' || in.ptr[i - 1] == '\\') {
      in = pier_slice_make(in.ptr + i, in.len - i);
      break;
    }
  size_t n = 0;
  for (size_t i = 0; i < in.len && n + 1 < cap; i++) {
    char c = in.ptr[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
    if (n == 0 && c == '.') continue; /* no hidden files, no ".." */
    out[n++] = ok ? c : '_';
  }
  out[n] = '\0';
  if (!n) snprintf(out, cap, "file");
}

static int on_begin(void *ud, const pier_multipart_part *p) {
  run_form *f = ud;
  pier_buf_reset(&f->field);
  f->in_file = p->filename.ptr != NULL;
  snprintf(f->field_name, sizeof f->field_name, "%.*s", (int)(p->name.len < 63 ? p->name.len : 63), p->name.ptr);
  if (!f->in_file) return 0;
  if (!pier_slice_eq_cstr(p->name, "files") && !pier_slice_eq_cstr(p->name, "file")) {
    snprintf(f->error, sizeof f->error, "file part \"%s\" is not understood: send uploads as the field \"files\"",
             f->field_name);
    return PIER_EINVAL;
  }
  if (f->nfiles >= PIER_RUN_FILES_MAX) {
    snprintf(f->error, sizeof f->error, "at most %d files per run", PIER_RUN_FILES_MAX);
    return PIER_ETOOBIG;
  }
  f->cur_file = &f->files[f->nfiles++];
  sanitize_name(p->filename, f->cur_file->name, sizeof f->cur_file->name);
  snprintf(f->cur_file->content_type, sizeof f->cur_file->content_type, "%.*s",
           (int)(p->content_type.len < 127 ? p->content_type.len : 127), p->content_type.ptr);
  pier_buf_init(&f->cur_file->data, 0);
  return 0;
}

static int on_data(void *ud, pier_slice d) {
  run_form *f = ud;
  return pier_buf_append_slice(f->in_file ? &f->cur_file->data : &f->field, d);
}

/* A JSON object field (init_params, secret_params). */
static int json_field(run_form *f, cJSON **dst) {
  char err[160];
  cJSON *v = pier_json_parse(pier_buf_slice(&f->field), PIER_JSON_DEPTH_MAX, err, sizeof err);
  if (!v || !cJSON_IsObject(v)) {
    snprintf(f->error, sizeof f->error, "%s must be a JSON object (%s)", f->field_name, v ? "got another JSON type" : err);
    cJSON_Delete(v);
    return PIER_EINVAL;
  }
  cJSON_Delete(*dst);
  *dst = v;
  return 0;
}

static int on_end(void *ud) {
  run_form *f = ud;
  if (f->in_file) return 0;
  if (!strcmp(f->field_name, "init_params")) return json_field(f, &f->init_params);
  if (!strcmp(f->field_name, "secret_params")) return json_field(f, &f->secret_params);
  char **dst = !strcmp(f->field_name, "webhook_url") ? &f->webhook_url
               : !strcmp(f->field_name, "webhook_secret") ? &f->webhook_secret
                                                          : NULL;
  if (!dst) return 0; /* use_trial_keys, bakery_host, subscription_credential: accepted, unused */
  free(*dst);
  *dst = pier_slice_dup(pier_buf_slice(&f->field));
  return *dst ? 0 : PIER_ENOMEM;
}

static bool parse_multipart(pier_http_req *req, run_form *f, pier_slice ct) {
  pier_slice boundary;
  if (pier_multipart_boundary(ct, &boundary) != 0) {
    pier_http_respond_error(req, 400, "multipart/form-data needs a boundary parameter in Content-Type");
    return false;
  }
  pier_multipart_limits lim;
  pier_multipart_limits_default(&lim);
  lim.parts_max = PIER_RUN_FILES_MAX + 16;
  pier_multipart_callbacks cbs = {on_begin, on_data, on_end};
  pier_multipart *mp;
  if (pier_multipart_create(boundary, &lim, &cbs, f, &mp) != 0) {
    pier_http_respond_error(req, 500, "out of memory");
    return false;
  }
  int rc = pier_multipart_feed(mp, req->body.ptr, req->body.len);
  if (!rc) rc = pier_multipart_finish(mp);
  if (rc) {
    pier_http_respond_error(req, 400, "malformed multipart/form-data body: %s",
                            f->error[0] ? f->error : pier_multipart_error(mp));
    pier_multipart_destroy(mp);
    return false;
  }
  pier_multipart_destroy(mp);
  return true;
}

static bool parse_json_form(pier_http_req *req, run_form *f) {
  cJSON *body = pier_api_body_object(req);
  if (!body) return false;
  static const char *objs[] = {"init_params", "secret_params"};
  cJSON **dst[] = {&f->init_params, &f->secret_params};
  for (int i = 0; i < 2; i++) {
    cJSON *v = cJSON_GetObjectItemCaseSensitive(body, objs[i]);
    if (!v || cJSON_IsNull(v)) continue;
    if (cJSON_IsString(v)) { /* a JSON string holding JSON, as the form sends it */
      char err[160];
      cJSON *p = pier_json_parse(pier_slice_from(v->valuestring), PIER_JSON_DEPTH_MAX, err, sizeof err);
      if (!cJSON_IsObject(p)) {
        cJSON_Delete(p);
        pier_http_respond_error(req, 400, "%s must be a JSON object", objs[i]);
        return false;
      }
      *dst[i] = p;
    } else if (cJSON_IsObject(v)) {
      *dst[i] = cJSON_Duplicate(v, 1);
    } else {
      pier_http_respond_error(req, 400, "%s must be a JSON object", objs[i]);
      return false;
    }
  }
  const char *u = pier_json_str(body, "webhook_url"), *s = pier_json_str(body, "webhook_secret");
  if (u) f->webhook_url = strdup(u);
  if (s) f->webhook_secret = strdup(s);
  return true;
}

bool pier_runs_parse_form(pier_http_req *req, run_form *f) {
  memset(f, 0, sizeof *f);
  pier_buf_init(&f->field, PIER_MULTIPART_FIELD_BYTES_MAX);
  if (pier_arena_defer_call(&req->arena, form_free, f) != 0) {
    pier_http_respond_error(req, 500, "out of memory");
    return false;
  }
  pier_slice ct = pier_http_header_get(req, "content-type");
  bool ok = true;
  if (pier_slice_istarts_with(ct, "multipart/form-data")) ok = parse_multipart(req, f, ct);
  else if (req->body.len) ok = parse_json_form(req, f);
  if (ok && f->webhook_url && strncmp(f->webhook_url, "http://", 7) && strncmp(f->webhook_url, "https://", 8)) {
    pier_http_respond_error(req, 400, "webhook_url must be an http:// or https:// URL");
    return false;
  }
  return ok;
}

/* ---- storing uploads -------------------------------------------------------------- */

typedef struct files_job {
  uv_work_t work;
  pier_http_req *req;
  run_form *form;
  char *dir; /* request arena */
  int64_t collection_id;
  int rc;
  pier_runs_files_cb done;
  void *arg;
} files_job;

static int mkdirs(char *path) {
  for (char *p = path + 1; *p; p++) {
    if (*p != '/') continue;
    *p = '\0';
    int rc = mkdir(path, 0700);
    *p = '/';
    if (rc != 0 && errno != EEXIST) return PIER_EIO;
  }
  return mkdir(path, 0700) == 0 || errno == EEXIST ? 0 : PIER_EIO;
}

static int write_file(const char *path, pier_slice data) {
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return PIER_EIO;
  size_t off = 0;
  while (off < data.len) {
    ssize_t n = write(fd, data.ptr + off, data.len - off);
    if (n <= 0) break;
    off += (size_t)n;
  }
  int rc = off == data.len && fsync(fd) == 0 ? 0 : PIER_EIO;
  close(fd);
  return rc;
}

static void files_write(uv_work_t *w) {
  files_job *j = w->data;
  pier_buf tmp;
  pier_buf_init(&tmp, 0);
  j->rc = pier_buf_append_cstr(&tmp, j->dir);
  if (!j->rc) j->rc = mkdirs(tmp.ptr);
  for (int i = 0; !j->rc && i < j->form->nfiles; i++) {
    pier_buf_reset(&tmp);
    j->rc = pier_buf_appendf(&tmp, "%s/%s", j->dir, strrchr(j->form->files[i].path, '/') + 1);
    if (!j->rc) j->rc = write_file(tmp.ptr, pier_buf_slice(&j->form->files[i].data));
  }
  pier_buf_dispose(&tmp);
}

static int files_record(pier_db *db, void *arg) {
  files_job *j = arg;
  int rc = 0;
  for (int i = 0; !rc && i < j->form->nfiles; i++) {
    run_file *f = &j->form->files[i];
    pier_file_rec r = {.path = f->path, .collection_id = j->collection_id, .content_type = f->content_type,
                       .size = (int64_t)f->data.len, .created_us = pier_now_us()};
    rc = db->ops->file_put(db, &r);
  }
  return rc;
}

static void files_recorded(void *arg, int rc) {
  files_job *j = arg;
  j->done(j->req, j->arg, rc);
}

static void files_written(uv_work_t *w, int status) {
  files_job *j = w->data;
  if (status || j->rc) {
    j->done(j->req, j->arg, status ? PIER_ECANCELLED : j->rc);
    return;
  }
  if (pier_store_submit(APP(j->req)->store, PIER_STORE_WRITE, pier_http_loop_mailbox(j->req->loop), files_record,
                        files_recorded, j) != 0)
    j->done(j->req, j->arg, PIER_ECANCELLED);
}

void pier_runs_store_files(pier_http_req *req, run_form *form, const char *collection, int64_t collection_id,
                           const char *task, pier_runs_files_cb done, void *arg) {
  pier_arena *a = &req->arena;
  files_job *j = pier_arena_calloc(a, sizeof *j);
  unsigned char raw[4];
  char upload[9];
  pier_random(raw, sizeof raw);
  pier_hex(raw, sizeof raw, upload);
  char *rel = pier_arena_printf(a, "%s/%s/0000/uploads/%s", collection, task, upload);
  bool ok = j && rel;
  for (int i = 0; ok && i < form->nfiles; i++) { /* unique names: "a.txt", then "2-a.txt", "3-a.txt", ... */
    run_file *f = &form->files[i];
    for (int n = 1; ok; n++) {
      f->path = n == 1 ? pier_arena_printf(a, "%s/%s", rel, f->name) : pier_arena_printf(a, "%s/%d-%s", rel, n, f->name);
      ok = f->path != NULL;
      bool taken = false;
      for (int k = 0; ok && k < i; k++) taken |= strcmp(form->files[k].path, f->path) == 0;
      if (!taken) break;
    }
  }
  if (ok) {
    *j = (files_job){.req = req, .form = form, .collection_id = collection_id, .done = done, .arg = arg,
                     .dir = pier_arena_printf(a, "%s/files/%s", APP(req)->cfg.data_dir, rel)};
    j->work.data = j;
    ok = j->dir != NULL;
  }
  if (!ok) {
    done(req, arg, PIER_ENOMEM);
    return;
  }
  if (uv_queue_work(pier_http_loop_uv(req->loop), &j->work, files_write, files_written) != 0)
    done(req, arg, PIER_EIO);
}
