/* cmd_traj.c — `pier trajectories list` and `pier trajectory
 * show|follow|cancel|download`. download writes the trajectory JSON and its
 * files (init_params.file_paths, outputs files/results_files) under one
 * directory. Invariant: a server-given path never escapes that directory. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/json.h"
#include "cli/cli_int.h"

#define PATH_CAP 4096

/* "C/T/ID", or "C/T" and "ID" as two arguments. */
static int traj_ref(pier_cli *cli, pier_cli_ref *ref) {
  char joined[1024];
  if (cli->npos == 2) snprintf(joined, sizeof joined, "%s/%s", cli->pos[0], cli->pos[1]);
  else snprintf(joined, sizeof joined, "%s", cli->pos[0]);
  return pier_cli_parse_ref(cli, joined, 3, "COLLECTION/TASK/ID", ref);
}

static int get_traj(pier_cli *cli, const pier_cli_ref *ref, pier_cli_resp *r) {
  char path[PATH_CAP];
  if (pier_cli_path(path, sizeof path, "/api/v1/db/trajectory", ref->part[0], ref->part[1], ref->part[2], NULL))
    return pier_cli_usage_error(cli, "names too long");
  return pier_cli_call(cli, "GET", path, NULL, r);
}

/* ---- list ------------------------------------------------------------------------------------ */

static double traj_seconds(const cJSON *t) {
  double t0 = pier_cli_iso_seconds(pier_json_str(t, "created"));
  double t1 = pier_cli_iso_seconds(pier_json_str(t, "ended"));
  return t0 > 0 && t1 >= t0 ? t1 - t0 : -1;
}

static int list_human(pier_cli *cli, const cJSON *page) {
  static const char *head[] = {"ID", "STATUS", "STEPS", "DURATION", "CREATED"};
  pier_cli_table t;
  pier_cli_table_init(&t, 5, head);
  const cJSON *k;
  int rc = 0;
  cJSON_ArrayForEach(k, cJSON_GetObjectItemCaseSensitive(page, "trajectories")) {
    char age[32], dur[32] = "-", steps[32], status[64];
    pier_cli_fmt_age(pier_json_str(k, "created"), age, sizeof age);
    double s = traj_seconds(k);
    if (s >= 0) pier_cli_fmt_duration(s, dur, sizeof dur);
    snprintf(steps, sizeof steps, "%d/%d", cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(k, "completed_steps")),
             cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(k, "total_steps")));
    const char *st = pier_json_str(k, "status");
    snprintf(status, sizeof status, "%s%s%s", pier_cli_sgr(cli, stdout, pier_cli_status_style(st)), st ? st : "?",
             pier_cli_sgr(cli, stdout, PIER_CLI_RESET));
    const char *row[] = {pier_json_str(k, "trajectory_id"), status, steps, dur, age};
    if ((rc = pier_cli_table_row(&t, row)) != 0) break;
  }
  pier_cli_table_print(cli, &t, "runs");
  if (pier_json_bool(page, "has_more", false))
    fprintf(stderr, "%.0f runs in all; see more with --page %.0f\n", pier_json_num(page, "total", 0),
            pier_json_num(page, "page", 1) + 1);
  pier_cli_table_dispose(&t);
  return rc ? PIER_CLI_EXIT_FAIL : PIER_CLI_EXIT_OK;
}

static int cmd_list(pier_cli *cli) {
  pier_cli_ref ref;
  int rc = pier_cli_parse_ref(cli, cli->pos[0], 2, "COLLECTION/TASK", &ref);
  if (rc) return rc;
  const char *limit = pier_cli_opt_get(cli, "limit"), *page = pier_cli_opt_get(cli, "page");
  char path[PATH_CAP];
  if (pier_cli_path(path, sizeof path, "/api/v1/db/trajectories", ref.part[0], ref.part[1], NULL))
    return pier_cli_usage_error(cli, "names too long");
  for (const char *p = limit ? limit : ""; *p; p++)
    if (*p < '0' || *p > '9') return pier_cli_usage_error(cli, "--limit takes a number");
  for (const char *p = page ? page : ""; *p; p++)
    if (*p < '0' || *p > '9') return pier_cli_usage_error(cli, "--page takes a number");
  size_t n = strlen(path);
  snprintf(path + n, sizeof path - n, "?limit=%.6s&page=%.7s", limit && *limit ? limit : "20", page && *page ? page : "1");
  pier_cli_resp r;
  rc = pier_cli_call(cli, "GET", path, NULL, &r);
  if (!rc) rc = cli->json ? pier_cli_print_raw(&r) : list_human(cli, r.json);
  pier_cli_resp_dispose(&r);
  return rc;
}

/* ---- show / follow / cancel ---------------------------------------------------------------- */

static int show_human(pier_cli *cli, const pier_cli_ref *ref, const cJSON *t) {
  const char *st = pier_json_str(t, "status");
  char age[32], dur[32] = "";
  pier_cli_fmt_age(pier_json_str(t, "created"), age, sizeof age);
  double s = traj_seconds(t);
  if (s >= 0) pier_cli_fmt_duration(s, dur, sizeof dur);
  printf("%s%s/%s/%s%s  %s%s%s  created %s%s%s\n", pier_cli_sgr(cli, stdout, PIER_CLI_BOLD), ref->part[0],
         ref->part[1], ref->part[2], pier_cli_sgr(cli, stdout, PIER_CLI_RESET),
         pier_cli_sgr(cli, stdout, pier_cli_status_style(st)), st ? st : "?", pier_cli_sgr(cli, stdout, PIER_CLI_RESET),
         age, dur[0] ? ", took " : "", dur);
  pier_cli_traj_steps(cli, stdout, t);
  const cJSON *labels = cJSON_GetObjectItemCaseSensitive(t, "labels"), *l;
  cJSON_ArrayForEach(l, labels) printf("label %s=%s\n", pier_json_str(l, "key"), pier_json_str(l, "value"));
  fputc('\n', stdout);
  pier_cli_traj_result(cli, t, true);
  return PIER_CLI_EXIT_OK;
}

static int cmd_show(pier_cli *cli) {
  pier_cli_ref ref;
  int rc = traj_ref(cli, &ref);
  if (rc) return rc;
  pier_cli_resp r;
  rc = get_traj(cli, &ref, &r);
  if (!rc) rc = cli->json ? pier_cli_print_raw(&r) : show_human(cli, &ref, r.json);
  pier_cli_resp_dispose(&r);
  return rc;
}

static int cmd_follow(pier_cli *cli) {
  pier_cli_ref ref;
  int rc = traj_ref(cli, &ref);
  if (rc) return rc;
  return pier_cli_follow(cli, ref.part[0], ref.part[1], ref.part[2], false);
}

static int cmd_cancel(pier_cli *cli) {
  pier_cli_ref ref;
  int rc = traj_ref(cli, &ref);
  if (rc) return rc;
  pier_cli_resp r;
  if ((rc = get_traj(cli, &ref, &r)) != 0) {
    pier_cli_resp_dispose(&r);
    return rc;
  }
  const char *st = pier_json_str(r.json, "status");
  if (st && strcmp(st, "pending") && strcmp(st, "running")) { /* the server would overwrite the final status */
    pier_cli_err(cli, "run %s already ended (%s); nothing to cancel", ref.part[2], st);
    pier_cli_resp_dispose(&r);
    return PIER_CLI_EXIT_FAIL;
  }
  pier_cli_resp_dispose(&r);
  char path[PATH_CAP];
  if (pier_cli_path(path, sizeof path, "/api/v1/trajectory", ref.part[0], ref.part[1], "statuses", NULL))
    return pier_cli_usage_error(cli, "names too long");
  cJSON *body = cJSON_CreateObject();
  cJSON_AddStringToObject(body, ref.part[2], "cancelled");
  rc = pier_cli_call(cli, "POST", path, body, &r);
  cJSON_Delete(body);
  const char *outcome = pier_json_str(cJSON_GetObjectItemCaseSensitive(r.json, "results"), ref.part[2]);
  if (!rc && outcome && strcmp(outcome, "cancelled")) {
    pier_cli_err(cli, "run %s: %s", ref.part[2], outcome);
    rc = !strcmp(outcome, "not found") ? PIER_CLI_EXIT_NOTFOUND : PIER_CLI_EXIT_SERVER;
  } else if (!rc && cli->json) {
    pier_cli_print_raw(&r);
  } else if (!rc) {
    fprintf(stderr, "Cancelled run %s/%s/%s.\n", ref.part[0], ref.part[1], ref.part[2]);
  }
  pier_cli_resp_dispose(&r);
  return rc;
}

/* ---- download ------------------------------------------------------------------------------ */

/* mkdir -p of the directories above `path` (relative to an existing dir). */
static int make_parents(char *path) {
  for (char *p = path + 1; *p; p++) {
    if (*p != '/') continue;
    *p = '\0';
    int rc = mkdir(path, 0755) == 0 || errno == EEXIST ? 0 : PIER_EIO;
    *p = '/';
    if (rc) return rc;
  }
  return 0;
}

/* Where a storage path goes under dir: after "{c}/{t}/0000/" when it starts
 * so, else after "{c}/". false for empty, "." or ".." segments. */
static bool local_name(const char *storage_prefix, const char *path, char *out, size_t cap) {
  size_t pl = strlen(storage_prefix);
  const char *rel = !strncmp(path, storage_prefix, pl) && path[pl] == '/' ? path + pl + 1 : strchr(path, '/');
  if (!rel) return false;
  if (*rel == '/') rel++;
  for (const char *seg = rel; *seg;) {
    size_t n = strcspn(seg, "/");
    if (n == 0 || (n == 1 && seg[0] == '.') || (n == 2 && seg[0] == '.' && seg[1] == '.')) return false;
    seg += n + (seg[n] == '/');
  }
  int w = snprintf(out, cap, "%s", rel);
  return *rel && w > 0 && (size_t)w < cap;
}

static int write_fd(void *arg, const char *p, size_t n) {
  int fd = *(int *)arg;
  while (n) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return PIER_CLI_EXIT_FAIL;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

static int fetch_file(pier_cli *cli, const char *storage_path, const char *dest) {
  char url[PATH_CAP], tmp[PATH_CAP];
  if (pier_cli_path(url, sizeof url, "/api/v1/file", NULL) != 0) return PIER_CLI_EXIT_USAGE;
  size_t n = strlen(url); /* each segment encoded, the slashes kept */
  for (const char *seg = storage_path; *seg && n + 1 < sizeof url;) {
    size_t len = strcspn(seg, "/");
    snprintf(tmp, sizeof tmp, "%.*s", (int)len, seg);
    if (pier_cli_path(url + n, sizeof url - n, "", tmp, NULL) != 0) return PIER_CLI_EXIT_USAGE;
    n = strlen(url);
    seg += len + (seg[len] == '/');
  }
  snprintf(tmp, sizeof tmp, "%s", dest);
  if (make_parents(tmp) != 0) return PIER_CLI_EXIT_FAIL;
  int fd = open(dest, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0) {
    pier_cli_err(cli, "cannot write %s: %s", dest, strerror(errno));
    return PIER_CLI_EXIT_FAIL;
  }
  pier_cli_req rq = {.method = "GET", .path = url, .on_data = write_fd, .arg = &fd};
  pier_cli_resp r;
  int rc = pier_cli_send(cli, &rq, &r);
  rc = rc > 0 ? rc : rc ? PIER_CLI_EXIT_SERVER : pier_cli_check(cli, &r);
  if (close(fd) != 0 && !rc) rc = PIER_CLI_EXIT_FAIL;
  if (rc) unlink(dest);
  pier_cli_resp_dispose(&r);
  return rc;
}

static void add_path(cJSON *list, const cJSON *v) {
  const char *p = cJSON_IsString(v) ? v->valuestring : pier_json_str(v, "path");
  if (!p) p = pier_json_str(v, "storage_path");
  if (!p || !*p) return;
  const cJSON *e;
  cJSON_ArrayForEach(e, list) if (!strcmp(e->valuestring, p)) return;
  cJSON_AddItemToArray(list, cJSON_CreateString(p));
}

static cJSON *file_paths(const cJSON *t) {
  cJSON *list = cJSON_CreateArray();
  const cJSON *v, *step;
  cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(t, "init_params"), "file_paths"))
    add_path(list, v);
  cJSON_ArrayForEach(step, cJSON_GetObjectItemCaseSensitive(t, "steps")) {
    const cJSON *out = cJSON_GetObjectItemCaseSensitive(step, "outputs");
    static const char *keys[] = {"files", "results_files"};
    for (int k = 0; k < 2; k++) {
      const cJSON *arr = cJSON_GetObjectItemCaseSensitive(out, keys[k]);
      if (cJSON_IsArray(arr)) cJSON_ArrayForEach(v, arr) add_path(list, v);
      else add_path(list, arr);
    }
  }
  return list;
}

static int save_doc(pier_cli *cli, const char *dir, const pier_cli_resp *r) {
  char path[PATH_CAP];
  snprintf(path, sizeof path, "%s/trajectory.json", dir);
  if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
    pier_cli_err(cli, "cannot create %s: %s", dir, strerror(errno));
    return PIER_CLI_EXIT_FAIL;
  }
  char *pretty = cJSON_Print(r->json);
  int fd = pretty ? open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644) : -1;
  int rc = fd >= 0 && write_fd(&fd, pretty, strlen(pretty)) == 0 && write_fd(&fd, "\n", 1) == 0 ? 0 : PIER_CLI_EXIT_FAIL;
  if (fd >= 0 && close(fd) != 0) rc = PIER_CLI_EXIT_FAIL;
  cJSON_free(pretty);
  if (rc) pier_cli_err(cli, "cannot write %s: %s", path, strerror(errno));
  return rc;
}

static int download_files(pier_cli *cli, const cJSON *t, const char *dir, cJSON *saved) {
  cJSON *paths = file_paths(t);
  const char *prefix = pier_json_str(t, "storage_path");
  const cJSON *p;
  int rc = 0;
  cJSON_ArrayForEach(p, paths) {
    char rel[PATH_CAP], dest[PATH_CAP];
    if (!local_name(prefix ? prefix : "", p->valuestring, rel, sizeof rel)) {
      pier_cli_err(cli, "skipping %s: not a safe relative path", p->valuestring);
      continue;
    }
    int w = snprintf(dest, sizeof dest, "%s/%s", dir, rel);
    if (w < 0 || (size_t)w >= sizeof dest) {
      pier_cli_err(cli, "skipping %s: the local path is too long", p->valuestring);
      continue;
    }
    if ((rc = fetch_file(cli, p->valuestring, dest)) != 0) break;
    cJSON_AddItemToArray(saved, cJSON_CreateString(dest));
    if (!cli->json) fprintf(stderr, "  %s\n", dest);
  }
  cJSON_Delete(paths);
  return rc;
}

static int cmd_download(pier_cli *cli) {
  pier_cli_ref ref;
  int rc = traj_ref(cli, &ref);
  if (rc) return rc;
  const char *dir = pier_cli_opt_get(cli, "output");
  if (!dir || !*dir) dir = ref.part[2];
  pier_cli_resp r;
  if ((rc = get_traj(cli, &ref, &r)) != 0) {
    pier_cli_resp_dispose(&r);
    return rc;
  }
  cJSON *saved = cJSON_CreateArray();
  rc = save_doc(cli, dir, &r);
  if (!rc && !cli->json) fprintf(stderr, "  %s/trajectory.json\n", dir);
  if (!rc) rc = download_files(cli, r.json, dir, saved);
  if (!rc && cli->json) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "directory", dir);
    cJSON_AddItemToObject(o, "files", saved);
    saved = NULL;
    char *s = cJSON_PrintUnformatted(o);
    if (s) printf("%s\n", s);
    cJSON_free(s);
    cJSON_Delete(o);
  } else if (!rc) {
    fprintf(stderr, "Downloaded run %s and %d file%s to %s/\n", ref.part[2], cJSON_GetArraySize(saved),
            cJSON_GetArraySize(saved) == 1 ? "" : "s", dir);
  }
  cJSON_Delete(saved);
  pier_cli_resp_dispose(&r);
  return rc;
}

static const pier_cli_opt list_opts[] = {
    {"limit", 'n', "N", "runs per page (default 20, at most 100)"},
    {"page", 0, "N", "page number, newest first (default 1)"},
    {NULL, 0, NULL, NULL},
};
static const pier_cli_opt download_opts[] = {
    {"output", 'o', "DIR", "directory to write to (default: the trajectory id)"},
    {NULL, 0, NULL, NULL},
};

const pier_cli_cmd pier_cli_cmds_traj[] = {
    {"trajectories", "list", "COLLECTION/TASK", 1, 1, list_opts, cmd_list, "List a task's runs, newest first.", NULL, 0},
    {"trajectories", "show", "COLLECTION/TASK/ID", 1, 2, NULL, cmd_show,
     "Show a run: status, each step (time, tokens, cost), labels and the outputs.",
     "Example:\n  pier trajectory show acme/pong/3bc97289\n"
     "  pier trajectory show acme/pong/3bc97289 --json | jq .steps.chat.outputs.text\n", 0},
    {"trajectories", "follow", "COLLECTION/TASK/ID", 1, 2, NULL, cmd_follow,
     "Follow a run live until it ends (exit 0 only if it completed).", NULL, 0},
    {"trajectories", "cancel", "COLLECTION/TASK/ID", 1, 2, NULL, cmd_cancel,
     "Cancel a pending or running run (its model calls are aborted).", NULL, 0},
    {"trajectories", "download", "COLLECTION/TASK/ID", 1, 2, download_opts, cmd_download,
     "Save the trajectory JSON and its files into a directory.",
     "Files are the run's uploads (init_params.file_paths) and the steps' output\n"
     "files (outputs.files, outputs.results_files), fetched from GET /api/v1/file/...\n"
     "and written below the directory by their path inside the run's storage.\n"
     "\nExample:\n  pier trajectory download acme/pong/3bc97289 -o ./run\n", 0},
    {NULL, NULL, NULL, 0, 0, NULL, NULL, NULL, NULL, 0},
};
