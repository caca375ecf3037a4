/* list_emit_await.c — fan out: one child run of `child_workflow_name` (a task
 * of this collection; also task_reference.task_name) per element of `items`,
 * at most max_concurrency at once, each with init_params {<item_param_name>:
 * item} over child_init_params (the item wins a clash: the per-item value must
 * reach the child) over the child task's own defaults. Waits for all and
 * outputs trajectory_references[] {trajectory_id, name, status, index} in
 * input order (+ error for a failed child) and completed/failed counts. A
 * failed child fails the step and cancels the children still running, unless
 * continue_on_error. Children carry parent_trajectory_id, parent_step and
 * parent_item. A server shutdown while children run leaves the step open; the
 * resumed run runs this step again, which first looks up the children it
 * started before the restart and waits for those (they resume too, or have
 * already ended) instead of starting a second child for their items.
 *
 * As in Jetty, the list must come from a path (items_path): a literal `items`
 * array in the config is refused with "items_path is required". */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "base/log.h"
#include "engine/activities/common.h"
#include "engine/activity.h"

#define ITEMS_MAX 1000
#define CONCURRENCY_MAX 50

typedef struct emit {
  pier_act_fan fan;
  const cJSON **items;  /* borrowed from the inputs */
  cJSON **refs;         /* owned, one per item */
  char (*kids)[16];     /* resumed run: the child each item already has, or "" */
  char task[256];
  const char *param;    /* item_param_name (inputs) */
  const cJSON *extra;   /* child_init_params (inputs) or NULL */
  bool continue_on_error;
  int completed, failed, first_failed;
  char first_error[800];
} emit;

static void emit_free(emit *e) {
  if (!e) return;
  for (int i = 0; e->refs && i < e->fan.n; i++) cJSON_Delete(e->refs[i]);
  free(e->refs);
  free(e->kids);
  free(e->items);
  free(e);
}

static void cancel(pier_step *s) {
  emit_free(pier_step_state(s));
  pier_step_set_state(s, NULL);
}

static void finish(pier_step *s, emit *e) {
  cJSON *out = pier_step_outputs(s), *refs = cJSON_AddArrayToObject(out, "trajectory_references");
  for (int i = 0; i < e->fan.n; i++) {
    cJSON_AddItemToArray(refs, e->refs[i] ? e->refs[i] : cJSON_CreateNull());
    e->refs[i] = NULL;
  }
  cJSON_AddNumberToObject(out, "completed", e->completed);
  cJSON_AddNumberToObject(out, "failed", e->failed);
  char msg[1000];
  bool abort = e->fan.abort;
  if (abort)
    snprintf(msg, sizeof msg, "items[%d]: %s (set continue_on_error: true to keep going; the other children were "
             "cancelled)", e->first_failed, e->first_error);
  pier_step_set_state(s, NULL);
  emit_free(e);
  if (abort) pier_step_fail(s, "%s", msg);
  else pier_step_done(s);
}

/* Item i is over: its reference, and the failure when error is set. */
static void record(pier_step *s, emit *e, int i, const char *run_id, const cJSON *doc, const char *error) {
  const char *status = doc ? pier_json_str(doc, "status") : NULL;
  bool ok = !error && status && !strcmp(status, "completed");
  cJSON *r = cJSON_CreateObject();
  if (run_id) cJSON_AddStringToObject(r, "trajectory_id", run_id);
  else cJSON_AddNullToObject(r, "trajectory_id");
  char name[600];
  snprintf(name, sizeof name, "%s/%s", pier_step_collection(s), e->task);
  cJSON_AddStringToObject(r, "name", doc && pier_json_str(doc, "name") ? pier_json_str(doc, "name") : name);
  cJSON_AddStringToObject(r, "status", status ? status : "failed");
  cJSON_AddNumberToObject(r, "index", i);
  if (!ok) {
    char why[700];
    const char *derr = doc ? pier_json_str(doc, "error") : NULL;
    if (error) snprintf(why, sizeof why, "%s", error);
    else snprintf(why, sizeof why, "child run %s of %s ended %s: %s", run_id ? run_id : "?", name,
                  status ? status : "without a status", derr ? derr : "no detail");
    cJSON_AddStringToObject(r, "error", why);
    e->failed++;
    if (e->first_failed < 0) {
      e->first_failed = i;
      snprintf(e->first_error, sizeof e->first_error, "%s", why);
    }
    if (!e->continue_on_error) e->fan.abort = true;
  } else {
    e->completed++;
  }
  e->refs[i] = r;
}

static void on_child(pier_step *s, void *arg, const char *run_id, const cJSON *doc, const char *error) {
  emit *e = pier_step_state(s);
  /* The server is stopping: the child was not watched to its end, it did not
   * fail. Leave the step open; the run pauses with its loop and this step runs
   * again after the restart. */
  if (!doc && run_id && pier_act_stopping(s)) return;
  record(s, e, (int)(intptr_t)arg, run_id, doc, error);
  pier_act_fan_ended(&e->fan);
  if (pier_act_fan_next(&e->fan, s)) finish(s, e);
}

static int launch(pier_step *s, int i) {
  emit *e = pier_step_state(s);
  cJSON *params = e->extra ? cJSON_Duplicate(e->extra, 1) : cJSON_CreateObject();
  cJSON_DeleteItemFromObjectCaseSensitive(params, e->param);
  cJSON_AddItemToObject(params, e->param, cJSON_Duplicate(e->items[i], 1));
  int rc = pier_step_run_child(s, e->task, i, params, on_child, (void *)(intptr_t)i);
  cJSON_Delete(params);
  if (rc) record(s, e, i, NULL, NULL, "the child run could not be started (out of memory or the store is closing)");
  return rc;
}

/* A resumed run: item i's child from before the restart is waited for instead
 * of starting a second one. */
static int adopt(pier_step *s, int i) {
  emit *e = pier_step_state(s);
  int rc = pier_step_adopt_child(s, e->task, e->kids[i], on_child, (void *)(intptr_t)i);
  if (rc) record(s, e, i, e->kids[i], NULL, "the child run started before the restart could not be followed");
  return rc;
}

static int launch_or_adopt(pier_step *s, int i) {
  emit *e = pier_step_state(s);
  return e->kids && e->kids[i][0] ? adopt(s, i) : launch(s, i);
}

static void on_kids(pier_step *s, void *arg, int rc, const pier_traj_child *kids, size_t n) {
  (void)arg;
  emit *e = pier_step_state(s);
  if (rc) { /* could not look: start every item afresh, as a first run would */
    PIER_LOG(PIER_LOG_WARN, "engine", "run=%s step=%s: children from before the restart could not be read: %s",
             pier_step_run_id(s), pier_step_name(s), pier_strerror(rc));
  } else if (n && (e->kids = calloc((size_t)e->fan.n, sizeof *e->kids))) {
    for (size_t k = 0; k < n; k++) /* oldest first: an item's latest child wins */
      if (kids[k].item >= 0 && kids[k].item < e->fan.n) snprintf(e->kids[kids[k].item], sizeof e->kids[0], "%s", kids[k].id);
  }
  if (pier_act_fan_next(&e->fan, s)) finish(s, e);
}

/* child_workflow_name or task_reference.task_name: a task of this collection
 * ("<collection>/<task>" is accepted for this collection). */
static int read_task(pier_step *s, const cJSON *in, emit *e, char *err, size_t errlen) {
  const char *t = pier_act_str(in, "child_workflow_name");
  if (!t) t = pier_act_str(cJSON_GetObjectItemCaseSensitive(in, "task_reference"), "task_name");
  if (!t) {
    snprintf(err, errlen, "child_workflow_name is required: the name of a task in this collection to run per item");
    return PIER_EINVAL;
  }
  const char *col = pier_step_collection(s);
  size_t cl = strlen(col);
  if (!strncmp(t, col, cl) && t[cl] == '/') t += cl + 1;
  if (strchr(t, '/') || strlen(t) >= sizeof e->task) {
    snprintf(err, errlen, "child_workflow_name must be the name of a task in collection \"%s\" (got \"%.200s\")", col, t);
    return PIER_EINVAL;
  }
  if (!strcmp(t, pier_step_task(s))) {
    snprintf(err, errlen, "child_workflow_name \"%s\" is this task itself; a run cannot fan out to its own task", t);
    return PIER_EINVAL;
  }
  snprintf(e->task, sizeof e->task, "%s", t);
  return 0;
}

static int read_items(pier_step *s, const cJSON *in, emit *e, char *err, size_t errlen) {
  const cJSON *raw = pier_act_raw_config(s);
  if (raw && !cJSON_GetObjectItemCaseSensitive(raw, "items_path")) {
    snprintf(err, errlen, "items_path is required");
    return PIER_EINVAL;
  }
  const cJSON *items = cJSON_GetObjectItemCaseSensitive(in, "items");
  int n = cJSON_GetArraySize(items);
  if (!cJSON_IsArray(items) || n > ITEMS_MAX) {
    char got[48];
    if (cJSON_IsArray(items)) snprintf(got, sizeof got, "%d items", n);
    else snprintf(got, sizeof got, "%s", pier_json_type_name(items));
    snprintf(err, errlen, "items_path must point at an array of at most %d items (got %s)", ITEMS_MAX, got);
    return PIER_EINVAL;
  }
  e->fan.n = n;
  e->items = calloc((size_t)n + 1, sizeof *e->items);
  e->refs = calloc((size_t)n + 1, sizeof *e->refs);
  if (!e->items || !e->refs) {
    snprintf(err, errlen, "out of memory");
    return PIER_ENOMEM;
  }
  int i = 0;
  for (const cJSON *it = items->child; it; it = it->next) e->items[i++] = it;
  return 0;
}

static int read_params(const cJSON *in, emit *e, char *err, size_t errlen) {
  const cJSON *p = cJSON_GetObjectItemCaseSensitive(in, "item_param_name");
  if (p && !cJSON_IsNull(p) && (!cJSON_IsString(p) || !p->valuestring[0])) {
    snprintf(err, errlen, "item_param_name must be a non-empty string such as \"item\" (got %s)", pier_json_type_name(p));
    return PIER_EINVAL;
  }
  e->param = cJSON_IsString(p) ? p->valuestring : "item";
  const cJSON *x = cJSON_GetObjectItemCaseSensitive(in, "child_init_params");
  if (x && !cJSON_IsNull(x) && !cJSON_IsObject(x)) {
    snprintf(err, errlen, "child_init_params must be an object of init_params for every child (got %s)",
             pier_json_type_name(x));
    return PIER_EINVAL;
  }
  e->extra = cJSON_IsObject(x) ? x : NULL;
  return 0;
}

static void start(pier_step *s) {
  const cJSON *in = pier_step_inputs(s);
  char err[600];
  emit *e = calloc(1, sizeof *e);
  if (!e) {
    pier_step_fail(s, "out of memory");
    return;
  }
  e->first_failed = -1;
  e->fan.launch = launch_or_adopt;
  int rc = read_items(s, in, e, err, sizeof err);
  if (!rc) rc = read_task(s, in, e, err, sizeof err);
  if (!rc) rc = read_params(in, e, err, sizeof err);
  if (!rc) rc = pier_act_int(in, "max_concurrency", 5, 1, 1000000, CONCURRENCY_MAX, &e->fan.max, err, sizeof err);
  if (!rc) rc = pier_act_bool(in, "continue_on_error", false, &e->continue_on_error, err, sizeof err);
  if (rc) {
    emit_free(e);
    pier_step_fail(s, "%s", err);
    return;
  }
  pier_step_set_state(s, e);
  if (pier_step_run_resumed(s) && pier_step_find_children(s, e->task, on_kids, NULL) == 0) return;
  if (pier_act_fan_next(&e->fan, s)) finish(s, e);
}

const pier_activity pier_act_list_emit_await = {
    .name = "list_emit_await",
    .category = "control",
    .description = "Run a child task once per item (bounded concurrency) and wait for all: "
                   "outputs.trajectory_references[].",
    .params_json =
        "{\"items_path\":{\"type\":\"string\",\"required\":true,\"description\":\"path to the array to fan out "
        "over (a literal items array is refused)\"},"
        "\"child_workflow_name\":{\"type\":\"string\",\"required\":true,\"description\":\"a task of this collection "
        "(also task_reference.task_name)\"},"
        "\"item_param_name\":{\"type\":\"string\",\"description\":\"init_params key of the item (default item)\"},"
        "\"child_init_params\":{\"type\":\"object\",\"description\":\"init_params for every child\"},"
        "\"max_concurrency\":{\"type\":\"integer\",\"description\":\"children at once (default 5, at most 50)\"},"
        "\"continue_on_error\":{\"type\":\"boolean\",\"description\":\"a failed child does not fail the step "
        "(default false)\"}}",
    .start = start,
    .cancel = cancel,
};
