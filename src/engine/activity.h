/* activity.h — the contract of a workflow activity (one file each under
 * src/engine/activities/). start() begins the step and returns; the activity
 * ends it exactly once with pier_step_done or pier_step_fail, possibly later
 * from a callback on the same loop. cancel() aborts in-flight work; the engine
 * then ends the step itself and the activity must not touch it again. */
#ifndef PIER_ENGINE_ACTIVITY_H
#define PIER_ENGINE_ACTIVITY_H

#include <cjson/cJSON.h>

#include "engine/engine.h"
#include "llm/call.h"

typedef struct pier_step pier_step;

typedef struct pier_activity {
  const char *name;
  const char *category;
  const char *description;
  const char *params_json; /* JSON object describing the parameters (step-templates) */
  void (*start)(pier_step *s);
  void (*cancel)(pier_step *s); /* may be NULL when start always ends synchronously */
} pier_activity;

const pier_activity *pier_activity_find(const char *name);
const pier_activity *const *pier_activity_all(void); /* NULL-terminated */

/* ---- the step, for activities --------------------------------------------- */

const cJSON *pier_step_inputs(const pier_step *s);   /* resolved config (incl. "activity") */
cJSON *pier_step_outputs(pier_step *s);              /* fill this object */
const char *pier_step_name(const pier_step *s);
const char *pier_step_run_id(const pier_step *s);
/* The run was read back from the store at start-up: a step may have run
 * before and left work behind (list_emit_await's children). */
bool pier_step_run_resumed(const pier_step *s);
const char *pier_step_collection(const pier_step *s);
int64_t pier_step_collection_id(const pier_step *s);
const char *pier_step_task(const pier_step *s);
const cJSON *pier_step_env(const pier_step *s);      /* collection env + secret_params */
const cJSON *pier_step_server_env(const pier_step *s);
pier_executor *pier_step_executor(pier_step *s);
pier_engine *pier_step_engine(pier_step *s);
const pier_llm_limits *pier_step_limits(const pier_step *s);
const char *pier_step_data_dir(const pier_step *s);
const pier_engine_config *pier_step_engine_config(const pier_step *s);
/* The step's config as written in the task (before X_path / {{ }} resolution). */
const cJSON *pier_step_config(const pier_step *s);
/* The server is shutting down: the run will resume after the restart. */
bool pier_step_stopping(const pier_step *s);
void *pier_step_state(pier_step *s);
void pier_step_set_state(pier_step *s, void *state);
bool pier_step_cancelled(const pier_step *s);

/* Tokens and cost of one model call (cost from the price table). */
void pier_step_add_usage(pier_step *s, const char *model, const pier_usage *u);
/* Record one model attempt (fallbacks) in the step's `attempts`. */
void pier_step_add_attempt(pier_step *s, const char *model, bool ok, const char *error);
/* conditional_branch: continue at this (later) step; steps skipped get "skipped". */
int pier_step_goto(pier_step *s, const char *step_name) PIER_WUR;

void pier_step_done(pier_step *s);
void pier_step_fail(pier_step *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Helpers shared by the litellm_* activities (llmstep.c). */
typedef void (*pier_step_chat_cb)(pier_step *s, void *arg, const pier_chat_result *res, const cJSON *completion);
/* Run one chat completion for the step: routing with model/model_provider,
 * fallbacks from the step's `fallbacks`, usage/cost/attempts recorded. req is
 * taken. cb gets the OpenAI chat.completion (NULL on error). */
int pier_step_chat(pier_step *s, cJSON *req, pier_step_chat_cb cb, void *arg) PIER_WUR;
/* Same for /v1/embeddings requests: cb gets the OpenAI list object. */
typedef void (*pier_step_embed_cb)(pier_step *s, void *arg, bool ok, const char *error, const cJSON *result);
int pier_step_embed(pier_step *s, cJSON *req, pier_step_embed_cb cb, void *arg) PIER_WUR;
/* Read a stored file (storage path) off the loop; cb on the loop. */
typedef void (*pier_step_file_cb)(pier_step *s, void *arg, int rc, pier_slice bytes, const char *content_type);
int pier_step_read_file(pier_step *s, const char *storage_path, size_t max_bytes, pier_step_file_cb cb,
                        void *arg) PIER_WUR;
/* Start a child run of another task in the same collection and get its final
 * trajectory (cb on the loop; doc NULL on failure with error set). */
typedef void (*pier_step_child_cb)(pier_step *s, void *arg, const char *run_id, const cJSON *doc, const char *error);
/* item: the index the child is for, stored in it (parent_step, parent_item)
 * so that a resumed step can find it again. */
int pier_step_run_child(pier_step *s, const char *task, int item, const cJSON *init_params, pier_step_child_cb cb,
                        void *arg) PIER_WUR;
/* The child runs of `task` this step started before the server restarted,
 * oldest first (cb on the loop; rc != 0 when they could not be read). */
typedef void (*pier_step_kids_cb)(pier_step *s, void *arg, int rc, const pier_traj_child *kids, size_t n);
int pier_step_find_children(pier_step *s, const char *task, pier_step_kids_cb cb, void *arg) PIER_WUR;
/* Take over such a child: cb as for pier_step_run_child, with its final
 * trajectory (at once when it already ended, else when it ends). */
int pier_step_adopt_child(pier_step *s, const char *task, const char *run_id, pier_step_child_cb cb,
                          void *arg) PIER_WUR;

/* Record stored files (the rows only; the bytes are already on disk). recs are
 * copied; cb(s, arg, rc) on the loop, never after the step was cancelled. */
typedef void (*pier_step_done_cb)(pier_step *s, void *arg, int rc);
int pier_step_record_files(pier_step *s, const pier_file_rec *recs, size_t n, pier_step_done_cb cb, void *arg) PIER_WUR;

/* Run fn(arg) on a worker thread (file work), then after(s, arg, ok) on the
 * loop. When the step was cancelled meanwhile, after gets s == NULL and must
 * only release arg. */
typedef void (*pier_step_after_cb)(pier_step *s, void *arg, bool ok);
int pier_step_work(pier_step *s, void (*fn)(void *arg), pier_step_after_cb after, void *arg) PIER_WUR;
/* True for "{collection}/..." of the step's collection with no empty, "." or
 * ".." segment: a stored file this step may read. */
bool pier_step_storage_path_ok(const pier_step *s, const char *storage_path);
/* Live progress text for whoever watches the run (SSE "step_progress" events,
 * runbook chat streams); not stored. */
void pier_step_progress(pier_step *s, pier_slice text);
/* Usage metered elsewhere (a runbook's agent through its run token). */
void pier_step_set_usage(pier_step *s, const pier_usage *u, double cost_usd, int api_calls);
/* The step's usage so far as {prompt_tokens, completion_tokens, total_tokens,
 * cache_read_tokens, cache_creation_tokens, cost_usd, api_calls} into u. */
void pier_step_usage_json(const pier_step *s, cJSON *u);

#endif
