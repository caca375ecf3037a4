/* runs_int.h — shared by the run handlers (h_runs.c, runs_form.c). */
#ifndef PIER_API_RUNS_INT_H
#define PIER_API_RUNS_INT_H

#include "api/api.h"

#define PIER_RUN_FILES_MAX 32

typedef struct run_file {
  char name[160];         /* sanitised basename */
  char content_type[128];
  pier_buf data;
  char *path;             /* storage path once stored (request arena) */
} run_file;

typedef struct run_form {
  cJSON *init_params;     /* object or NULL */
  cJSON *secret_params;   /* object or NULL */
  char *webhook_url, *webhook_secret;
  run_file files[PIER_RUN_FILES_MAX];
  int nfiles;
  /* parsing state */
  run_file *cur_file;
  pier_buf field;
  char field_name[64];
  bool in_file;
  char error[300];
} run_form;

/* Parse the request body (multipart/form-data, JSON, or empty) into form.
 * false = answered (400 with what is wrong). Everything is freed with the
 * request. */
bool pier_runs_parse_form(pier_http_req *req, run_form *form);
/* Write the uploaded files under <data-dir>/files/ (off the loop) and record
 * them; done(req, arg, rc) on the loop. */
typedef void (*pier_runs_files_cb)(pier_http_req *req, void *arg, int rc);
void pier_runs_store_files(pier_http_req *req, run_form *form, const char *collection, int64_t collection_id,
                           const char *task, pier_runs_files_cb done, void *arg);

#endif
