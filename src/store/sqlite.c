/* sqlite.c — the SQLite backend of store.h. WAL mode, synchronous=FULL (a
 * commit is durable when it returns), foreign keys with cascades, versioned
 * migrations in PRAGMA user_version, prepared statements cached per connection. */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "store/sqlite_int.h"

static const char *migrations[] = {
    /* v1: control plane */
    "CREATE TABLE collections("
    " id INTEGER PRIMARY KEY,"
    " name TEXT NOT NULL UNIQUE COLLATE NOCASE,"
    " description TEXT NOT NULL DEFAULT '',"
    " created_us INTEGER NOT NULL);"
    "CREATE TABLE api_keys("
    " id INTEGER PRIMARY KEY,"
    " collection_id INTEGER REFERENCES collections(id) ON DELETE CASCADE,"
    " name TEXT NOT NULL,"
    " key_prefix TEXT NOT NULL,"
    " key_hash TEXT NOT NULL UNIQUE,"
    " is_active INTEGER NOT NULL DEFAULT 1,"
    " created_us INTEGER NOT NULL);"
    "CREATE INDEX api_keys_collection ON api_keys(collection_id);"
    "CREATE TABLE env_vars("
    " collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,"
    " name TEXT NOT NULL,"
    " value_ciphertext BLOB NOT NULL,"
    " nonce BLOB NOT NULL,"
    " updated_us INTEGER NOT NULL,"
    " PRIMARY KEY(collection_id, name));"
    "CREATE TABLE tasks("
    " id INTEGER PRIMARY KEY,"
    " collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,"
    " name TEXT NOT NULL,"
    " workflow_json TEXT NOT NULL,"
    " description TEXT NOT NULL DEFAULT '',"
    " version INTEGER NOT NULL DEFAULT 1,"
    " has_file_uploads INTEGER NOT NULL DEFAULT 0,"
    " is_private INTEGER NOT NULL DEFAULT 1,"
    " croissant_json TEXT NOT NULL DEFAULT 'null',"
    " created_us INTEGER NOT NULL,"
    " updated_us INTEGER NOT NULL,"
    " UNIQUE(collection_id, name));",
    /* v2: runs and files */
    "CREATE TABLE trajectories("
    " id TEXT PRIMARY KEY,"
    " collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,"
    " task TEXT NOT NULL,"
    " status TEXT NOT NULL,"
    " doc TEXT NOT NULL,"
    " secrets_box BLOB,"
    " secrets_nonce BLOB,"
    " created_us INTEGER NOT NULL,"
    " updated_us INTEGER NOT NULL,"
    " duration_s REAL NOT NULL DEFAULT -1);"
    "CREATE INDEX trajectories_task ON trajectories(collection_id, task, created_us DESC);"
    "CREATE INDEX trajectories_open ON trajectories(status, created_us) WHERE status IN ('pending', 'running');"
    "CREATE TABLE files("
    " path TEXT PRIMARY KEY,"
    " collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,"
    " content_type TEXT NOT NULL,"
    " size INTEGER NOT NULL,"
    " created_us INTEGER NOT NULL);",
    /* v3: labels, kept apart from the document a running run rewrites */
    "CREATE TABLE labels("
    " trajectory_id TEXT NOT NULL REFERENCES trajectories(id) ON DELETE CASCADE,"
    " key TEXT NOT NULL,"
    " value TEXT NOT NULL,"
    " author TEXT NOT NULL,"
    " created_us INTEGER NOT NULL);"
    "CREATE INDEX labels_trajectory ON labels(trajectory_id, created_us);",
};

static void db_close(pier_db *base) {
  pier_sqlite *db = (pier_sqlite *)base;
  if (!db) return;
  for (int i = 0; i < db->nstmts; i++) sqlite3_finalize(db->stmts[i].stmt);
  sqlite3_close_v2(db->h);
  free(db);
}

static int db_open(const char *location, bool reader, pier_db **out, char *err, size_t errlen) {
  pier_sqlite *db = calloc(1, sizeof *db);
  if (!db) return PIER_ENOMEM;
  db->reader = reader;
  db->base.ops = &pier_store_sqlite_ops;
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  if (sqlite3_open_v2(location, &db->h, flags, NULL) != SQLITE_OK) {
    snprintf(err, errlen, "cannot open %s: %s", location, db->h ? sqlite3_errmsg(db->h) : "out of memory");
    db_close(&db->base);
    return PIER_EDB;
  }
  sqlite3_busy_timeout(db->h, 10000);
  const char *pragmas = "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;";
  if (sqlite3_exec(db->h, pragmas, NULL, NULL, NULL) != SQLITE_OK) {
    snprintf(err, errlen, "cannot configure %s: %s", location, sqlite3_errmsg(db->h));
    db_close(&db->base);
    return PIER_EDB;
  }
  *out = &db->base;
  return 0;
}

static int db_migrate(pier_db *base, char *err, size_t errlen) {
  pier_sqlite *db = (pier_sqlite *)base;
  sqlite3_stmt *st;
  int version = 0;
  if (sqlite3_prepare_v2(db->h, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK) {
    if (sqlite3_step(st) == SQLITE_ROW) version = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
  }
  int target = (int)(sizeof migrations / sizeof migrations[0]);
  if (version > target) {
    snprintf(err, errlen, "the database has schema version %d but this pier knows only %d; upgrade pier", version,
             target);
    return PIER_EDB;
  }
  for (int v = version; v < target; v++) {
    char *msg = NULL;
    char set[64];
    snprintf(set, sizeof set, "PRAGMA user_version=%d;", v + 1);
    if (sqlite3_exec(db->h, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_exec(db->h, migrations[v], NULL, NULL, &msg) != SQLITE_OK ||
        sqlite3_exec(db->h, set, NULL, NULL, &msg) != SQLITE_OK ||
        sqlite3_exec(db->h, "COMMIT", NULL, NULL, &msg) != SQLITE_OK) {
      snprintf(err, errlen, "migration to schema version %d failed: %s", v + 1, msg ? msg : sqlite3_errmsg(db->h));
      sqlite3_free(msg);
      sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
      return PIER_EDB;
    }
    PIER_LOG(PIER_LOG_INFO, "store", "migrated the database to schema version %d", v + 1);
  }
  return 0;
}

sqlite3_stmt *pier_sqlite_stmt(pier_sqlite *db, const char *sql) {
  for (int i = 0; i < db->nstmts; i++) {
    if (db->stmts[i].sql == sql) {
      sqlite3_reset(db->stmts[i].stmt);
      sqlite3_clear_bindings(db->stmts[i].stmt);
      return db->stmts[i].stmt;
    }
  }
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v3(db->h, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK) {
    PIER_LOG(PIER_LOG_ERROR, "store", "prepare failed: %s", sqlite3_errmsg(db->h));
    return NULL;
  }
  if (db->nstmts < PIER_SQLITE_STMTS_MAX) {
    db->stmts[db->nstmts].sql = sql;
    db->stmts[db->nstmts].stmt = st;
    db->nstmts++;
  }
  return st;
}

int pier_sqlite_exec(pier_sqlite *db, const char *sql) {
  char *msg = NULL;
  if (sqlite3_exec(db->h, sql, NULL, NULL, &msg) != SQLITE_OK) {
    PIER_LOG(PIER_LOG_ERROR, "store", "%s: %s", sql, msg ? msg : "?");
    sqlite3_free(msg);
    return PIER_EDB;
  }
  return 0;
}

/* Step a statement that returns no rows. Maps constraint failures. */
int pier_sqlite_done(pier_sqlite *db, sqlite3_stmt *st) {
  int rc = sqlite3_step(st);
  sqlite3_reset(st);
  if (rc == SQLITE_DONE || rc == SQLITE_ROW) return 0;
  if (rc == SQLITE_CONSTRAINT) {
    int ext = sqlite3_extended_errcode(db->h);
    if (ext == SQLITE_CONSTRAINT_UNIQUE || ext == SQLITE_CONSTRAINT_PRIMARYKEY) return PIER_EEXISTS;
    if (ext == SQLITE_CONSTRAINT_FOREIGNKEY) return PIER_ENOTFOUND;
    return PIER_EINVAL;
  }
  PIER_LOG(PIER_LOG_ERROR, "store", "step failed: %s", sqlite3_errmsg(db->h));
  return PIER_EDB;
}

const char *pier_sqlite_text(pier_arena *a, sqlite3_stmt *st, int col) {
  const unsigned char *t = sqlite3_column_text(st, col);
  int n = sqlite3_column_bytes(st, col);
  return pier_arena_strdup(a, pier_slice_make(t ? (const char *)t : "", t ? (size_t)n : 0));
}

/* Transaction statements run for every store job: prepared once per
 * connection (pier_sqlite_stmt caches by the address of these arrays). */
static const char SQL_BEGIN_IMMEDIATE[] = "BEGIN IMMEDIATE", SQL_BEGIN[] = "BEGIN", SQL_COMMIT[] = "COMMIT",
                  SQL_ROLLBACK[] = "ROLLBACK", SQL_SAVEPOINT[] = "SAVEPOINT job", SQL_ROLLBACK_TO[] = "ROLLBACK TO job",
                  SQL_RELEASE[] = "RELEASE job";

static int exec_cached(pier_sqlite *db, const char *sql) {
  sqlite3_stmt *st = pier_sqlite_stmt(db, sql);
  if (!st) return pier_sqlite_exec(db, sql);
  int rc = sqlite3_step(st);
  sqlite3_reset(st);
  if (rc == SQLITE_DONE || rc == SQLITE_ROW) return 0;
  PIER_LOG(PIER_LOG_ERROR, "store", "%s: %s", sql, sqlite3_errmsg(db->h));
  return PIER_EDB;
}

static int db_begin(pier_db *b) { return exec_cached((pier_sqlite *)b, SQL_BEGIN_IMMEDIATE); }
static int db_begin_read(pier_sqlite *db) { return exec_cached(db, SQL_BEGIN); }
static int db_commit(pier_db *b) { return exec_cached((pier_sqlite *)b, SQL_COMMIT); }
static int db_rollback(pier_db *b) { return exec_cached((pier_sqlite *)b, SQL_ROLLBACK); }
static int db_sp_begin(pier_db *b) { return exec_cached((pier_sqlite *)b, SQL_SAVEPOINT); }
static int db_sp_end(pier_db *b, bool ok) {
  pier_sqlite *db = (pier_sqlite *)b;
  if (!ok && exec_cached(db, SQL_ROLLBACK_TO) != 0) return PIER_EDB;
  return exec_cached(db, SQL_RELEASE);
}

/* Readers open read transactions; writers take the write lock up front. */
static int db_begin_any(pier_db *b) {
  pier_sqlite *db = (pier_sqlite *)b;
  return db->reader ? db_begin_read(db) : db_begin(b);
}

const pier_store_ops pier_store_sqlite_ops = {
    .name = "sqlite",
    .open = db_open,
    .migrate = db_migrate,
    .close = db_close,
    .begin = db_begin_any,
    .commit = db_commit,
    .rollback = db_rollback,
    .savepoint_begin = db_sp_begin,
    .savepoint_end = db_sp_end,
    .collection_list = pier_sqlite_collection_list,
    .collection_get = pier_sqlite_collection_get,
    .collection_create = pier_sqlite_collection_create,
    .collection_delete = pier_sqlite_collection_delete,
    .key_list = pier_sqlite_key_list,
    .key_get = pier_sqlite_key_get,
    .key_create = pier_sqlite_key_create,
    .key_update = pier_sqlite_key_update,
    .key_delete = pier_sqlite_key_delete,
    .env_list = pier_sqlite_env_list,
    .env_put = pier_sqlite_env_put,
    .env_delete = pier_sqlite_env_delete,
    .env_clear = pier_sqlite_env_clear,
    .task_list = pier_sqlite_task_list,
    .task_get = pier_sqlite_task_get,
    .task_create = pier_sqlite_task_create,
    .task_update = pier_sqlite_task_update,
    .task_delete = pier_sqlite_task_delete,
    .traj_put = pier_sqlite_traj_put,
    .traj_get = pier_sqlite_traj_get,
    .traj_list = pier_sqlite_traj_list,
    .traj_unfinished = pier_sqlite_traj_unfinished,
    .traj_children = pier_sqlite_traj_children,
    .traj_stats = pier_sqlite_traj_stats,
    .label_add = pier_sqlite_label_add,
    .label_list = pier_sqlite_label_list,
    .file_put = pier_sqlite_file_put,
    .file_get = pier_sqlite_file_get,
    .file_list = pier_sqlite_file_list,
};
