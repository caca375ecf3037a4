/* cmd_tasks.c — `pier tasks list|get|put|delete`. `put` is an upsert (PUT,
 * then POST when the task is missing); the server validates the workflow and
 * its 422 detail, with the JSON path of the problem, is shown as it is. */
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "base/limits.h"
#include "cli/cli_int.h"

#define PATH_CAP 2048

static void steps_line(const cJSON *workflow, char *out, size_t cap) {
  const cJSON *steps = cJSON_GetObjectItemCaseSensitive(workflow, "steps"), *s;
  size_t n = 0;
  out[0] = '\0';
  cJSON_ArrayForEach(s, steps) {
    if (!cJSON_IsString(s)) continue;
    int w = snprintf(out + n, cap - n, "%s%s", n ? " → " : "", s->valuestring);
    if (w < 0 || (size_t)w >= cap - n) break;
    n += (size_t)w;
  }
  if (!n) snprintf(out, cap, "-");
}

static int tasks_human(pier_cli *cli, const cJSON *list) {
  static const char *head[] = {"NAME", "VERSION", "STEPS", "UPDATED", "DESCRIPTION"};
  pier_cli_table t;
  pier_cli_table_init(&t, 5, head);
  const cJSON *k;
  int rc = 0;
  cJSON_ArrayForEach(k, list) {
    char ver[32], age[32], steps[512];
    snprintf(ver, sizeof ver, "%.0f", pier_json_num(k, "version", 0));
    pier_cli_fmt_age(pier_json_str(k, "updated_at"), age, sizeof age);
    steps_line(cJSON_GetObjectItemCaseSensitive(k, "workflow"), steps, sizeof steps);
    const char *desc = pier_json_str(k, "description");
    const char *row[] = {pier_json_str(k, "name"), ver, steps, age, desc && *desc ? desc : "-"};
    if ((rc = pier_cli_table_row(&t, row)) != 0) break;
  }
  pier_cli_table_print(cli, &t, "tasks");
  pier_cli_table_dispose(&t);
  return rc ? PIER_CLI_EXIT_FAIL : PIER_CLI_EXIT_OK;
}

static int cmd_tasks_list(pier_cli *cli) {
  char path[PATH_CAP];
  if (pier_cli_path(path, sizeof path, "/api/v1/tasks", cli->pos[0], NULL) != 0) return PIER_CLI_EXIT_USAGE;
  size_t n = strlen(path);
  snprintf(path + n, sizeof path - n, "?skip=0&limit=500");
  pier_cli_resp r;
  int rc = pier_cli_call(cli, "GET", path, NULL, &r);
  if (!rc) rc = cli->json ? pier_cli_print_raw(&r) : tasks_human(cli, r.json);
  pier_cli_resp_dispose(&r);
  return rc;
}

static int task_path(pier_cli *cli, pier_cli_ref *ref, char *path) {
  int rc = pier_cli_parse_ref(cli, cli->pos[0], 2, "COLLECTION/TASK", ref);
  if (!rc && pier_cli_path(path, PATH_CAP, "/api/v1/tasks", ref->part[0], ref->part[1], NULL) != 0)
    rc = pier_cli_usage_error(cli, "task name too long");
  return rc;
}

/* Human view: the workflow JSON on stdout (so `get > wf.json; put --file
 * wf.json` round-trips), what it is on stderr. */
static int task_human(pier_cli *cli, const cJSON *task) {
  const cJSON *wf = cJSON_GetObjectItemCaseSensitive(task, "workflow");
  char steps[512], age[32];
  steps_line(wf, steps, sizeof steps);
  pier_cli_fmt_age(pier_json_str(task, "updated_at"), age, sizeof age);
  const char *desc = pier_json_str(task, "description");
  fprintf(stderr, "%s%s%s  version %.0f, updated %s, steps %s%s%s\n", pier_cli_sgr(cli, stderr, PIER_CLI_BOLD),
          pier_json_str(task, "name"), pier_cli_sgr(cli, stderr, PIER_CLI_RESET), pier_json_num(task, "version", 0), age,
          steps, desc && *desc ? "\n" : "", desc && *desc ? desc : "");
  pier_cli_print_json(stdout, wf);
  return PIER_CLI_EXIT_OK;
}

static int cmd_tasks_get(pier_cli *cli) {
  pier_cli_ref ref;
  char path[PATH_CAP];
  int rc = task_path(cli, &ref, path);
  if (rc) return rc;
  pier_cli_resp r;
  rc = pier_cli_call(cli, "GET", path, NULL, &r);
  if (!rc) rc = cli->json ? pier_cli_print_raw(&r) : task_human(cli, r.json);
  pier_cli_resp_dispose(&r);
  return rc;
}

/* The file is a workflow ({init_params, step_configs, steps}) or a task body
 * ({workflow, description?, ...}); returns the body to send, or NULL after
 * printing why. */
static cJSON *load_task_body(pier_cli *cli, const char *file) {
  pier_buf b;
  pier_buf_init(&b, PIER_WORKFLOW_BYTES_MAX + 64 * 1024);
  int rc = pier_cli_read_file(file, &b);
  cJSON *doc = NULL;
  char err[200] = "";
  if (rc == 0) doc = pier_json_parse(pier_buf_slice(&b), PIER_JSON_DEPTH_MAX, err, sizeof err);
  pier_buf_dispose(&b);
  const char *shown = strcmp(file, "-") ? file : "stdin";
  if (rc) {
    pier_cli_err(cli, "cannot read %s: %s", shown, rc == PIER_ETOOBIG ? "larger than 4 MiB" : pier_strerror(rc));
    return NULL;
  }
  if (!doc || !cJSON_IsObject(doc)) {
    pier_cli_err(cli, "%s: %s", shown, doc ? "a workflow must be a JSON object" : err);
    cJSON_Delete(doc);
    return NULL;
  }
  if (cJSON_GetObjectItemCaseSensitive(doc, "workflow")) {
    cJSON_DeleteItemFromObjectCaseSensitive(doc, "name");
    return doc;
  }
  cJSON *body = cJSON_CreateObject();
  cJSON_AddItemToObject(body, "workflow", doc);
  return body;
}

static int send_body(pier_cli *cli, const char *method, const char *path, const cJSON *body, pier_cli_resp *r) {
  char *text = cJSON_PrintUnformatted(body);
  if (!text) return PIER_ENOMEM;
  pier_cli_req rq = {.method = method, .path = path, .body = text, .body_len = strlen(text)};
  int rc = pier_cli_send(cli, &rq, r);
  cJSON_free(text);
  return rc;
}

static int upsert(pier_cli *cli, const pier_cli_ref *ref, const char *path, cJSON *body, bool *created,
                  pier_cli_resp *r) {
  *created = false;
  if (send_body(cli, "PUT", path, body, r) != 0) return PIER_CLI_EXIT_SERVER;
  const char *detail = pier_json_str(r->json, "detail");
  if (r->status == 404 && detail && !strncmp(detail, "Task ", 5)) {
    pier_cli_resp_dispose(r);
    char post[PATH_CAP];
    if (pier_cli_path(post, sizeof post, "/api/v1/tasks", ref->part[0], NULL) != 0) return PIER_CLI_EXIT_USAGE;
    cJSON_AddStringToObject(body, "name", ref->part[1]);
    if (send_body(cli, "POST", post, body, r) != 0) return PIER_CLI_EXIT_SERVER;
    *created = true;
  }
  return pier_cli_check(cli, r);
}

static int cmd_tasks_put(pier_cli *cli) {
  pier_cli_ref ref;
  char path[PATH_CAP];
  int rc = task_path(cli, &ref, path);
  if (rc) return rc;
  const char *file = pier_cli_opt_get(cli, "file");
  if (!file && cli->tty_in) return pier_cli_usage_error(cli, "give the workflow with --file FILE (or pipe it on stdin)");
  if ((rc = pier_cli_need_token(cli)) != 0) return rc;
  cJSON *body = load_task_body(cli, file ? file : "-");
  if (!body) return PIER_CLI_EXIT_USAGE;
  const char *desc = pier_cli_opt_get(cli, "description");
  if (desc) {
    cJSON_DeleteItemFromObjectCaseSensitive(body, "description");
    cJSON_AddStringToObject(body, "description", desc);
  }
  bool created;
  pier_cli_resp r;
  rc = upsert(cli, &ref, path, body, &created, &r);
  cJSON_Delete(body);
  if (!rc && cli->json) pier_cli_print_raw(&r);
  else if (!rc)
    fprintf(stderr, "%s %s/%s (version %.0f).\n", created ? "Created" : "Updated", ref.part[0], ref.part[1],
            pier_json_num(r.json, "version", 0));
  pier_cli_resp_dispose(&r);
  return rc;
}

static int cmd_tasks_delete(pier_cli *cli) {
  pier_cli_ref ref;
  char path[PATH_CAP];
  int rc = task_path(cli, &ref, path);
  if (rc) return rc;
  pier_cli_resp r;
  rc = pier_cli_call(cli, "DELETE", path, NULL, &r);
  if (!rc && cli->json) pier_cli_print_raw(&r);
  else if (!rc) fprintf(stderr, "Deleted %s/%s.\n", ref.part[0], ref.part[1]);
  pier_cli_resp_dispose(&r);
  return rc;
}

static const pier_cli_opt put_opts[] = {
    {"file", 'f', "FILE", "the workflow JSON, or a task body {workflow, description, ...}; - = stdin"},
    {"description", 'd', "TEXT", "set the task's description"},
    {NULL, 0, NULL, NULL},
};

const pier_cli_cmd pier_cli_cmds_tasks[] = {
    {"tasks", "list", "COLLECTION", 1, 1, NULL, cmd_tasks_list, "List a collection's tasks.", NULL, 0},
    {"tasks", "get", "COLLECTION/TASK", 1, 1, NULL, cmd_tasks_get,
     "Print a task's workflow JSON (details on stderr; --json: the whole task).",
     "Example:\n  pier tasks get acme/pong > pong.json\n", 0},
    {"tasks", "put", "COLLECTION/TASK", 1, 1, put_opts, cmd_tasks_put,
     "Create or update a task from a workflow file (PUT, then POST if it is missing).",
     "The server validates the workflow; its error names the JSON path of the first\n"
     "problem, e.g. workflow.step_configs.chat.activity: must be a string ...\n"
     "\nExamples:\n  pier tasks put acme/pong --file pong.json\n"
     "  pier tasks get acme/pong | sed s/Hello/Hi/ | pier tasks put acme/pong\n", 0},
    {"tasks", "delete", "COLLECTION/TASK", 1, 1, NULL, cmd_tasks_delete, "Delete a task.", NULL, 0},
    {NULL, NULL, NULL, 0, 0, NULL, NULL, NULL, NULL, 0},
};
