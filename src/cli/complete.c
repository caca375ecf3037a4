/* complete.c — `pier __complete KIND [ARG]`, the hidden helper behind the bash
 * completion script: prints collection names, task names or run ids, one a
 * line, and nothing else. Failures are silent (exit status only). */
#include <string.h>

#include "base/json.h"
#include "cli/cli_int.h"

static void print_field(const cJSON *arr, const char *field) {
  const cJSON *e;
  cJSON_ArrayForEach(e, arr) {
    const char *v = pier_json_str(e, field);
    if (v) printf("%s\n", v);
  }
}

static int cmd_complete(pier_cli *cli) {
  const char *kind = cli->pos[0], *arg = cli->npos > 1 ? cli->pos[1] : "";
  char path[2048];
  int rc;
  pier_cli_ref ref;
  if (!cli->token) return PIER_CLI_EXIT_AUTH;
  if (!strcmp(kind, "collections")) {
    rc = pier_cli_path(path, sizeof path, "/api/v1/collections/?limit=1000", NULL);
  } else if (!strcmp(kind, "tasks") && *arg && !strchr(arg, '/')) {
    rc = pier_cli_path(path, sizeof path, "/api/v1/tasks", arg, NULL);
  } else if (!strcmp(kind, "trajectories") && *arg) {
    rc = pier_cli_parse_ref(cli, arg, 2, "COLLECTION/TASK", &ref);
    if (!rc) rc = pier_cli_path(path, sizeof path, "/api/v1/db/trajectories", ref.part[0], ref.part[1], NULL);
    size_t n = strlen(path);
    if (!rc) snprintf(path + n, sizeof path - n, "?limit=100");
  } else {
    return PIER_CLI_EXIT_USAGE;
  }
  if (rc) return PIER_CLI_EXIT_USAGE;
  pier_cli_req rq = {.method = "GET", .path = path};
  pier_cli_resp r;
  rc = pier_cli_send(cli, &rq, &r) ? PIER_CLI_EXIT_SERVER : pier_cli_exit_for_status(r.status);
  if (!rc && !strcmp(kind, "trajectories"))
    print_field(cJSON_GetObjectItemCaseSensitive(r.json, "trajectories"), "trajectory_id");
  else if (!rc)
    print_field(r.json, "name");
  pier_cli_resp_dispose(&r);
  return rc;
}

const pier_cli_cmd pier_cli_cmds_complete[] = {
    {"__complete", NULL, "KIND [ARG]", 1, 2, NULL, cmd_complete, "Completion helper (collections, tasks C, "
     "trajectories C/T).", NULL, 0},
    {NULL, NULL, NULL, 0, 0, NULL, NULL, NULL, NULL, 0},
};
