/* cmd_run.c — `pier run COLLECTION/TASK`: builds init_params from
 * --params-file and -p name=value (a value that parses as JSON is JSON, else a
 * string), posts the multipart form Jetty clients send (init_params + files,
 * like curl -F), then returns at once, waits (--sync) or follows (--follow). */
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/json.h"
#include "cli/cli_int.h"

#define PATH_CAP 2048
#define FILES_MAX 64

/* -p name=value over the --params-file object; NULL after printing why. */
static cJSON *build_params(pier_cli *cli, int *rc) {
  cJSON *params = NULL;
  const char *pf = pier_cli_opt_get(cli, "params-file");
  *rc = PIER_CLI_EXIT_USAGE;
  if (pf) {
    pier_buf b;
    pier_buf_init(&b, 0);
    char err[160] = "";
    int r = pier_cli_read_file(pf, &b);
    if (r == 0) params = pier_json_parse(pier_buf_slice(&b), 64, err, sizeof err);
    pier_buf_dispose(&b);
    if (r || !cJSON_IsObject(params)) {
      pier_cli_err(cli, "--params-file %s: %s", pf, r ? pier_strerror(r) : params ? "must hold a JSON object" : err);
      cJSON_Delete(params);
      return NULL;
    }
  } else {
    params = cJSON_CreateObject();
  }
  const char *ps[128];
  int n = pier_cli_opt_all(cli, "param", ps, 128);
  for (int i = 0; i < n; i++) {
    const char *eq = strchr(ps[i], '=');
    if (!eq || eq == ps[i]) {
      cJSON_Delete(params);
      pier_cli_usage_error(cli, "-p takes name=value (got \"%s\")", ps[i]);
      return NULL;
    }
    char name[256];
    snprintf(name, sizeof name, "%.*s", (int)(eq - ps[i] < 255 ? eq - ps[i] : 255), ps[i]);
    cJSON *v = *(eq + 1) ? pier_json_parse(pier_slice_from(eq + 1), 64, NULL, 0) : NULL;
    if (!v) v = cJSON_CreateString(eq + 1);
    cJSON_DeleteItemFromObjectCaseSensitive(params, name);
    cJSON_AddItemToObject(params, name, v);
  }
  *rc = 0;
  return params;
}

static curl_mime *build_form(pier_cli *cli, const cJSON *params, int *rc) {
  const char *files[FILES_MAX];
  int nf = pier_cli_opt_all(cli, "file", files, FILES_MAX);
  *rc = PIER_CLI_EXIT_USAGE;
  for (int i = 0; i < nf; i++) {
    struct stat st;
    if (stat(files[i], &st) != 0 || !S_ISREG(st.st_mode)) {
      pier_cli_usage_error(cli, "--file %s: not a readable file", files[i]);
      return NULL;
    }
  }
  if (!cli->curl && !(cli->curl = curl_easy_init())) return NULL;
  curl_mime *m = curl_mime_init(cli->curl);
  char *text = cJSON_PrintUnformatted(params);
  curl_mimepart *p = curl_mime_addpart(m);
  curl_mime_name(p, "init_params");
  curl_mime_data(p, text ? text : "{}", CURL_ZERO_TERMINATED);
  cJSON_free(text);
  for (int i = 0; i < nf; i++) {
    p = curl_mime_addpart(m);
    curl_mime_name(p, "files");
    if (curl_mime_filedata(p, files[i]) != CURLE_OK) {
      curl_mime_free(m);
      pier_cli_usage_error(cli, "--file %s: cannot be read", files[i]);
      return NULL;
    }
  }
  *rc = 0;
  return m;
}

/* Sends the form; returns an exit status and, on success, the answer. */
static int start(pier_cli *cli, const pier_cli_ref *ref, bool sync, pier_cli_resp *r) {
  memset(r, 0, sizeof *r);
  int rc = pier_cli_need_token(cli);
  if (rc) return rc;
  char path[PATH_CAP];
  if (pier_cli_path(path, sizeof path, sync ? "/api/v1/run-sync" : "/api/v1/run", ref->part[0], ref->part[1], NULL))
    return pier_cli_usage_error(cli, "names too long");
  cJSON *params = build_params(cli, &rc);
  if (!params) return rc;
  curl_mime *form = build_form(cli, params, &rc);
  cJSON_Delete(params);
  if (!form) return rc;
  pier_cli_req rq = {.method = "POST", .path = path, .mime = form};
  rc = pier_cli_send(cli, &rq, r) ? PIER_CLI_EXIT_SERVER : pier_cli_check(cli, r);
  curl_mime_free(form);
  return rc;
}

static int after_sync(pier_cli *cli, const pier_cli_ref *ref, pier_cli_resp *r) {
  const char *id = pier_json_str(r->json, "trajectory_id");
  if (r->status == 202 && id) { /* outlived the server's run-sync limit: keep waiting */
    if (!cli->json) fprintf(stderr, "Run %s is still going; following it.\n", id);
    return pier_cli_follow(cli, ref->part[0], ref->part[1], id, !cli->json);
  }
  const cJSON *traj = cJSON_GetObjectItemCaseSensitive(r->json, "trajectory");
  if (cli->json) {
    pier_cli_print_raw(r);
    return pier_cli_status_exit(pier_json_str(traj, "status"));
  }
  pier_cli_traj_steps(cli, stderr, traj);
  return pier_cli_traj_result(cli, traj, true);
}

static int cmd_run(pier_cli *cli) {
  pier_cli_ref ref;
  int rc = pier_cli_parse_ref(cli, cli->pos[0], 2, "COLLECTION/TASK", &ref);
  if (rc) return rc;
  bool follow = pier_cli_flag(cli, "follow"), sync = pier_cli_flag(cli, "sync") && !follow;
  pier_cli_resp r;
  rc = start(cli, &ref, sync, &r);
  const char *id = r.json ? pier_json_str(r.json, "trajectory_id") : NULL;
  if (!rc && sync) {
    rc = after_sync(cli, &ref, &r);
  } else if (!rc && !id) {
    pier_cli_err(cli, "the server's answer has no trajectory_id");
    rc = PIER_CLI_EXIT_SERVER;
  } else if (!rc && follow) {
    if (!cli->json) fprintf(stderr, "Run %s/%s/%s started.\n", ref.part[0], ref.part[1], id);
    rc = pier_cli_follow(cli, ref.part[0], ref.part[1], id, false);
  } else if (!rc && cli->json) {
    pier_cli_print_raw(&r);
  } else if (!rc) { /* the id alone on stdout: ID=$(pier run acme/pong) */
    printf("%s\n", id);
    fprintf(stderr, "Started run %s/%s/%s; follow it with: pier trajectory follow %s/%s/%s\n", ref.part[0],
            ref.part[1], id, ref.part[0], ref.part[1], id);
  }
  pier_cli_resp_dispose(&r);
  return rc;
}

static const pier_cli_opt run_opts[] = {
    {"param", 'p', "NAME=VALUE", "an init param; VALUE is JSON when it parses, else a string (repeatable)"},
    {"params-file", 0, "FILE", "init params from a JSON object file (- = stdin); -p wins"},
    {"file", 'f', "PATH", "upload a file (repeatable); its path lands in init_params.file_paths"},
    {"sync", 's', NULL, "wait for the end (POST /run-sync) and print the outputs"},
    {"follow", 'F', NULL, "show each step live, then the outputs"},
    {NULL, 0, NULL, NULL},
};

const pier_cli_cmd pier_cli_cmds_run[] = {
    {"run", NULL, "COLLECTION/TASK", 1, 1, run_opts, cmd_run, "Start a run of a task.",
     "Without --sync or --follow the trajectory id is printed and the run goes on\n"
     "in the background. --follow prints each step as it starts and ends (status,\n"
     "time, tokens, cost) on stderr, then the last step's outputs on stdout.\n"
     "Exit status: 0 only when the run completed, 1 when it failed or was cancelled.\n"
     "\nExamples:\n"
     "  pier run acme/pong -p prompt=Hello --follow\n"
     "  pier run acme/summarize -p max_words=50 --file report.pdf --sync\n"
     "  pier run acme/pong --params-file params.json -p 'tags=[\"a\",\"b\"]'\n"
     "  ID=$(pier run acme/pong -p prompt=Hi) && pier trajectory follow acme/pong/$ID\n",
     0},
    {NULL, NULL, NULL, 0, 0, NULL, NULL, NULL, NULL, 0},
};
