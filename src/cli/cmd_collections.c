/* cmd_collections.c — `pier collections`, `pier api-keys`, `pier env`: thin
 * views over /api/v1/collections, /api/v1/api-keys and .../environment.
 * Invariant: an environment value only ever comes from stdin or a hidden
 * prompt, and is zeroed once sent; listings print names, never values. */
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "cli/cli_int.h"

#define PATH_CAP 2048

/* --json: the server's bytes; else the human view. */
#define JSON_OR(cli, r, human) ((cli)->json ? pier_cli_print_raw(r) : (human))

/* ---- collections ------------------------------------------------------------------------ */

static int collections_human(pier_cli *cli, const cJSON *list) {
  static const char *head[] = {"NAME", "DESCRIPTION", "CREATED"};
  pier_cli_table t;
  pier_cli_table_init(&t, 3, head);
  const cJSON *c;
  int rc = 0;
  cJSON_ArrayForEach(c, list) {
    char age[32];
    pier_cli_fmt_age(pier_json_str(c, "created_at"), age, sizeof age);
    const char *desc = pier_json_str(c, "description");
    const char *row[] = {pier_json_str(c, "name"), desc && *desc ? desc : "-", age};
    if ((rc = pier_cli_table_row(&t, row)) != 0) break;
  }
  pier_cli_table_print(cli, &t, "collections");
  pier_cli_table_dispose(&t);
  return rc ? PIER_CLI_EXIT_FAIL : PIER_CLI_EXIT_OK;
}

static int cmd_collections_list(pier_cli *cli) {
  pier_cli_resp r;
  int rc = pier_cli_call(cli, "GET", "/api/v1/collections/?skip=0&limit=1000", NULL, &r);
  if (!rc) rc = JSON_OR(cli, &r, collections_human(cli, r.json));
  pier_cli_resp_dispose(&r);
  return rc;
}

static int cmd_collections_create(pier_cli *cli) {
  cJSON *body = cJSON_CreateObject();
  cJSON_AddStringToObject(body, "name", cli->pos[0]);
  const char *desc = pier_cli_opt_get(cli, "description");
  if (desc) cJSON_AddStringToObject(body, "description", desc);
  pier_cli_resp r;
  int rc = pier_cli_call(cli, "POST", "/api/v1/collections/", body, &r);
  cJSON_Delete(body);
  if (!rc && cli->json) pier_cli_print_raw(&r);
  else if (!rc) fprintf(stderr, "Created collection %s.\n", pier_json_str(r.json, "name"));
  pier_cli_resp_dispose(&r);
  return rc;
}

static int cmd_collections_delete(pier_cli *cli) {
  const char *name = cli->pos[0];
  if (!pier_cli_flag(cli, "yes")) {
    char q[256];
    snprintf(q, sizeof q, "Delete collection %s with all its tasks, runs, keys and environment?", name);
    if (!cli->tty_in) return pier_cli_usage_error(cli, "deleting a collection needs --yes when not run interactively");
    if (!pier_cli_confirm(cli, q)) {
      fputs("Nothing deleted.\n", stderr);
      return PIER_CLI_EXIT_FAIL;
    }
  }
  char path[PATH_CAP];
  if (pier_cli_path(path, sizeof path, "/api/v1/collections", name, NULL) != 0) return PIER_CLI_EXIT_USAGE;
  pier_cli_resp r;
  int rc = pier_cli_call(cli, "DELETE", path, NULL, &r);
  if (!rc && cli->json) fputs("{}\n", stdout);
  else if (!rc) fprintf(stderr, "Deleted collection %s.\n", name);
  pier_cli_resp_dispose(&r);
  return rc;
}

/* ---- API keys ------------------------------------------------------------------------------ */

static int keys_human(pier_cli *cli, const cJSON *list) {
  static const char *head[] = {"ID", "NAME", "PREFIX", "STATUS", "CREATED"};
  pier_cli_table t;
  pier_cli_table_init(&t, 5, head);
  const cJSON *k;
  int rc = 0;
  cJSON_ArrayForEach(k, list) {
    char id[32], age[32], status[48];
    snprintf(id, sizeof id, "%.0f", pier_json_num(k, "id", 0));
    pier_cli_fmt_age(pier_json_str(k, "created_at"), age, sizeof age);
    const char *st = pier_json_bool(k, "is_active", false) ? "active" : "revoked";
    snprintf(status, sizeof status, "%s%s%s", pier_cli_sgr(cli, stdout, pier_cli_status_style(st)), st,
             pier_cli_sgr(cli, stdout, PIER_CLI_RESET));
    const char *row[] = {id, pier_json_str(k, "name"), pier_json_str(k, "key_prefix"), status, age};
    if ((rc = pier_cli_table_row(&t, row)) != 0) break;
  }
  pier_cli_table_print(cli, &t, "API keys");
  pier_cli_table_dispose(&t);
  return rc ? PIER_CLI_EXIT_FAIL : PIER_CLI_EXIT_OK;
}

static int keys_get(pier_cli *cli, const char *coll, pier_cli_resp *r) {
  char path[PATH_CAP];
  if (pier_cli_path(path, sizeof path, "/api/v1/api-keys/collection", coll, NULL) != 0) return PIER_CLI_EXIT_USAGE;
  return pier_cli_call(cli, "GET", path, NULL, r);
}

static int cmd_keys_list(pier_cli *cli) {
  pier_cli_resp r;
  int rc = keys_get(cli, cli->pos[0], &r);
  if (!rc) rc = JSON_OR(cli, &r, keys_human(cli, r.json));
  pier_cli_resp_dispose(&r);
  return rc;
}

static int cmd_keys_create(pier_cli *cli) {
  const char *name = pier_cli_opt_get(cli, "name");
  cJSON *body = cJSON_CreateObject();
  cJSON_AddStringToObject(body, "name", name ? name : "cli");
  cJSON_AddStringToObject(body, "collection_name", cli->pos[0]);
  pier_cli_resp r;
  int rc = pier_cli_call(cli, "POST", "/api/v1/api-keys/", body, &r);
  cJSON_Delete(body);
  if (!rc && cli->json) {
    pier_cli_print_raw(&r);
  } else if (!rc) { /* the key alone on stdout: KEY=$(pier api-keys create acme) */
    printf("%s\n", pier_json_str(r.json, "api_key") ? pier_json_str(r.json, "api_key") : "");
    fprintf(stderr, "Created API key \"%s\" (id %.0f) for collection %s. It is shown only this once.\n",
            pier_json_str(r.json, "name"), pier_json_num(r.json, "id", 0), pier_json_str(r.json, "collection_name"));
  }
  pier_cli_resp_dispose(&r);
  return rc;
}

/* KEY is an id, a name or a key prefix; it must be one of the collection's. */
static int find_key(pier_cli *cli, const cJSON *list, const char *key, double *id) {
  const cJSON *k, *hit = NULL;
  int n = 0;
  cJSON_ArrayForEach(k, list) {
    char ids[32];
    snprintf(ids, sizeof ids, "%.0f", pier_json_num(k, "id", 0));
    const char *name = pier_json_str(k, "name"), *prefix = pier_json_str(k, "key_prefix");
    bool exact_id = !strcmp(ids, key);
    if (exact_id || (name && !strcmp(name, key)) || (prefix && !strncmp(key, prefix, strlen(prefix)))) {
      if (exact_id) { /* an id wins over a name that looks like one */
        hit = k;
        n = 1;
        break;
      }
      hit = k;
      n++;
    }
  }
  if (n == 0) {
    pier_cli_err(cli, "no API key \"%s\" in collection %s (give its id, name or prefix; see 'pier api-keys list %s')",
                 key, cli->pos[0], cli->pos[0]);
    return PIER_CLI_EXIT_NOTFOUND;
  }
  if (n > 1) return pier_cli_usage_error(cli, "\"%s\" names %d keys; give the id instead", key, n);
  *id = pier_json_num(hit, "id", 0);
  return 0;
}

static int cmd_keys_revoke(pier_cli *cli) {
  pier_cli_resp r, r2;
  int rc = keys_get(cli, cli->pos[0], &r);
  double id = 0;
  if (!rc) rc = find_key(cli, r.json, cli->pos[1], &id);
  pier_cli_resp_dispose(&r);
  if (rc) return rc;
  char ids[32], path[PATH_CAP];
  snprintf(ids, sizeof ids, "%.0f", id);
  if (pier_cli_path(path, sizeof path, "/api/v1/api-keys", ids, NULL) != 0) return PIER_CLI_EXIT_USAGE;
  bool del = pier_cli_flag(cli, "delete");
  cJSON *body = del ? NULL : cJSON_CreateObject();
  if (body) cJSON_AddFalseToObject(body, "is_active");
  rc = pier_cli_call(cli, del ? "DELETE" : "PUT", path, body, &r2);
  cJSON_Delete(body);
  if (!rc && cli->json) pier_cli_print_raw(&r2);
  else if (!rc) fprintf(stderr, "%s API key %s of collection %s.\n", del ? "Deleted" : "Revoked", ids, cli->pos[0]);
  pier_cli_resp_dispose(&r2);
  return rc;
}

/* ---- environment ------------------------------------------------------------------------- */

static int env_path(pier_cli *cli, char *path) {
  if (pier_cli_path(path, PATH_CAP, "/api/v1/collections", cli->pos[0], "environment", NULL) != 0)
    return pier_cli_usage_error(cli, "collection name too long");
  return 0;
}

static int env_names_human(const cJSON *env) {
  const cJSON *vars = cJSON_GetObjectItemCaseSensitive(env, "environment_variables"), *v;
  int n = 0;
  cJSON_ArrayForEach(v, vars) {
    printf("%s\n", v->string);
    n++;
  }
  if (!n) fputs("No environment variables.\n", stderr);
  return PIER_CLI_EXIT_OK;
}

static int cmd_env_list(pier_cli *cli) {
  char path[PATH_CAP];
  int rc = env_path(cli, path);
  if (rc) return rc;
  pier_cli_resp r;
  rc = pier_cli_call(cli, "GET", path, NULL, &r);
  if (!rc) rc = JSON_OR(cli, &r, env_names_human(r.json));
  pier_cli_resp_dispose(&r);
  return rc;
}

static bool valid_env_name(const char *s) {
  if (!*s || (*s >= '0' && *s <= '9') || strlen(s) > 128) return false;
  for (; *s; s++)
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '_'))
      return false;
  return true;
}

/* PATCH the variables (takes ownership of vars; their values are zeroed
 * before they are freed). */
static int env_patch(pier_cli *cli, cJSON *vars) {
  char path[PATH_CAP];
  int rc = env_path(cli, path);
  cJSON *body = cJSON_CreateObject();
  cJSON_AddItemToObject(body, "environment_variables", vars);
  pier_cli_resp r = {0};
  if (!rc) rc = pier_cli_call(cli, "PATCH", path, body, &r);
  for (cJSON *v = vars->child; v; v = v->next)
    if (cJSON_IsString(v)) explicit_bzero(v->valuestring, strlen(v->valuestring));
  cJSON_Delete(body);
  if (!rc && cli->json) pier_cli_print_raw(&r);
  pier_cli_resp_dispose(&r);
  return rc;
}

static int cmd_env_set(pier_cli *cli) {
  const char *name = cli->pos[1];
  if (strchr(name, '='))
    return pier_cli_usage_error(cli, "values are never taken from the command line (other users can read it): "
                                     "run 'pier env set %s NAME' and type the value, or pipe it on stdin",
                                cli->pos[0]);
  if (!valid_env_name(name))
    return pier_cli_usage_error(cli, "\"%s\" is not a variable name: letters, digits and '_', not starting with a digit",
                                name);
  pier_buf v;
  pier_buf_init(&v, PIER_CLI_SECRET_BYTES_MAX);
  char prompt[256];
  snprintf(prompt, sizeof prompt, "Value for %s (input hidden): ", name);
  int rc = pier_cli_read_secret(cli, prompt, &v);
  if (rc) {
    pier_cli_wipe(&v);
    if (rc == PIER_EINVAL) pier_cli_err(cli, "empty value: nothing set (use 'pier env unset' to delete %s)", name);
    else if (rc != PIER_ETOOBIG) pier_cli_err(cli, "could not read the value from stdin");
    return PIER_CLI_EXIT_USAGE;
  }
  cJSON *vars = cJSON_CreateObject();
  cJSON *val = cJSON_CreateString(v.ptr);
  pier_cli_wipe(&v);
  cJSON_AddItemToObject(vars, name, val);
  rc = env_patch(cli, vars); /* the serialized copy is wiped by pier_cli_call */
  if (!rc && !cli->json) fprintf(stderr, "Set %s on %s.\n", name, cli->pos[0]);
  return rc;
}

static int cmd_env_unset(pier_cli *cli) {
  cJSON *vars = cJSON_CreateObject();
  for (int i = 1; i < cli->npos; i++) {
    if (!valid_env_name(cli->pos[i])) {
      cJSON_Delete(vars);
      return pier_cli_usage_error(cli, "\"%s\" is not a variable name", cli->pos[i]);
    }
    cJSON_AddNullToObject(vars, cli->pos[i]);
  }
  int rc = env_patch(cli, vars);
  if (!rc && !cli->json) fprintf(stderr, "Unset %d variable%s on %s.\n", cli->npos - 1, cli->npos == 2 ? "" : "s", cli->pos[0]);
  return rc;
}

/* ---- table ----------------------------------------------------------------------------------- */

static const pier_cli_opt create_opts[] = {
    {"description", 'd', "TEXT", "a description"},
    {NULL, 0, NULL, NULL},
};
static const pier_cli_opt delete_opts[] = {
    {"yes", 'y', NULL, "do not ask for confirmation (required when not interactive)"},
    {NULL, 0, NULL, NULL},
};
static const pier_cli_opt key_create_opts[] = {
    {"name", 'n', "NAME", "a name for the key (default \"cli\")"},
    {NULL, 0, NULL, NULL},
};
static const pier_cli_opt key_revoke_opts[] = {
    {"delete", 0, NULL, "delete the key instead of deactivating it"},
    {NULL, 0, NULL, NULL},
};

const pier_cli_cmd pier_cli_cmds_collections[] = {
    {"collections", "list", NULL, 0, 0, NULL, cmd_collections_list, "List the collections the token can see.",
     "Examples:\n  pier collections list\n  pier collections list --json | jq -r '.[].name'\n", 0},
    {"collections", "create", "NAME", 1, 1, create_opts, cmd_collections_create,
     "Create a collection (admin token).", "Names are 1-64 of [A-Za-z0-9_-].\n\nExample:\n"
     "  pier collections create acme -d \"team acme\"\n", 0},
    {"collections", "delete", "NAME", 1, 1, delete_opts, cmd_collections_delete,
     "Delete a collection with its tasks, runs, keys and environment (admin token).",
     "Example:\n  pier collections delete acme --yes\n", 0},
    {"api-keys", "create", "COLLECTION", 1, 1, key_create_opts, cmd_keys_create,
     "Create an API key bound to COLLECTION; prints the key (shown only once).",
     "The key alone goes to stdout, the note to stderr.\n\nExample:\n"
     "  KEY=$(pier api-keys create acme --name ci)\n", 0},
    {"api-keys", "list", "COLLECTION", 1, 1, NULL, cmd_keys_list, "List a collection's API keys (no secrets).", NULL, 0},
    {"api-keys", "revoke", "COLLECTION KEY", 2, 2, key_revoke_opts, cmd_keys_revoke,
     "Deactivate a key at once (PUT is_active=false); --delete removes it.",
     "KEY is the key's id, name or prefix (mlc_xxxx), and must belong to COLLECTION.\n"
     "A revoked key stays listed as \"revoked\" so you can see it existed.\n\n"
     "Examples:\n  pier api-keys revoke acme 3\n  pier api-keys revoke acme ci --delete\n", 0},
    {"env", "list", "COLLECTION", 1, 1, NULL, cmd_env_list, "List the names of a collection's environment variables.",
     "Values are never shown (the server masks them).\n", 0},
    {"env", "set", "COLLECTION NAME", 2, 2, NULL, cmd_env_set,
     "Set one variable; the value is read from stdin or a hidden prompt, never argv.",
     "Examples:\n  pier env set acme AWS_BEARER_TOKEN_BEDROCK          # prompts, no echo\n"
     "  printf %s \"$KEY\" | pier env set acme OPENAI_API_KEY\n  pier env set acme AWS_REGION <<< us-east-1\n",
     0},
    {"env", "unset", "COLLECTION NAME...", 2, -1, NULL, cmd_env_unset, "Delete variables.",
     "Example:\n  pier env unset acme AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY\n", 0},
    {NULL, NULL, NULL, 0, 0, NULL, NULL, NULL, NULL, 0},
};
