/* sqlite_ops.c — the queries of the SQLite backend, one small function per
 * store op. Result strings are copied into the caller's arena. */
#include <stdlib.h>
#include <string.h>

#include "store/sqlite_int.h"

/* Append one element to an arena-backed growing array. */
void *pier_sqlite_grow(pier_arena *a, void *arr, size_t n, size_t *cap, size_t elem) {
  if (n < *cap) return arr;
  size_t ncap = *cap ? *cap * 2 : 16;
  void *p = pier_arena_alloc(a, ncap * elem);
  if (!p) return NULL;
  if (n) memcpy(p, arr, n * elem);
  *cap = ncap;
  return p;
}

int pier_sqlite_rows(pier_arena *a, sqlite3_stmt *st, size_t elem, pier_sqlite_row_fn read, void **out, size_t *n) {
  size_t cap = 0, k = 0;
  char *arr = NULL;
  int rc = 0, step;
  while ((step = sqlite3_step(st)) == SQLITE_ROW) {
    if (!(arr = pier_sqlite_grow(a, arr, k, &cap, elem))) {
      rc = PIER_ENOMEM;
      break;
    }
    memset(arr + k * elem, 0, elem);
    if ((rc = read(a, st, arr + k++ * elem))) break;
  }
  if (!rc && step != SQLITE_DONE) rc = PIER_EDB;
  sqlite3_reset(st);
  *out = rc ? NULL : arr;
  *n = rc ? 0 : k;
  return rc;
}

static void bind_slice(sqlite3_stmt *st, int i, pier_slice s) {
  sqlite3_bind_text(st, i, s.ptr ? s.ptr : "", (int)s.len, SQLITE_TRANSIENT);
}

/* ---- collections ------------------------------------------------------------ */

static int read_collection(pier_arena *a, sqlite3_stmt *st, void *row) {
  pier_collection *c = row;
  c->id = sqlite3_column_int64(st, 0);
  c->name = pier_sqlite_text(a, st, 1);
  c->description = pier_sqlite_text(a, st, 2);
  c->created_us = sqlite3_column_int64(st, 3);
  return c->name && c->description ? 0 : PIER_ENOMEM;
}

int pier_sqlite_collection_list(pier_db *db, pier_arena *a, pier_collection **out, size_t *n) {
  static const char sql[] = "SELECT id, name, description, created_us FROM collections ORDER BY id";
  sqlite3_stmt *st = pier_sqlite_stmt(DB(db), sql);
  if (!st) return PIER_EDB;
  void *rows;
  int rc = pier_sqlite_rows(a, st, sizeof **out, read_collection, &rows, n);
  *out = rows;
  return rc;
}

int pier_sqlite_collection_get(pier_db *db, pier_arena *a, pier_slice name, pier_collection *out) {
  static const char sql[] = "SELECT id, name, description, created_us FROM collections WHERE name = ?1";
  sqlite3_stmt *st = pier_sqlite_stmt(DB(db), sql);
  if (!st) return PIER_EDB;
  bind_slice(st, 1, name);
  int rc = PIER_ENOTFOUND;
  if (sqlite3_step(st) == SQLITE_ROW) rc = read_collection(a, st, out);
  sqlite3_reset(st);
  return rc;
}

int pier_sqlite_collection_create(pier_db *db, pier_collection *c) {
  static const char sql[] = "INSERT INTO collections(name, description, created_us) VALUES(?1, ?2, ?3)";
  sqlite3_stmt *st = pier_sqlite_stmt(DB(db), sql);
  if (!st) return PIER_EDB;
  sqlite3_bind_text(st, 1, c->name, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(st, 2, c->description ? c->description : "", -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64(st, 3, c->created_us);
  int rc = pier_sqlite_done(DB(db), st);
  if (!rc) c->id = sqlite3_last_insert_rowid(DB(db)->h);
  return rc;
}

int pier_sqlite_collection_delete(pier_db *db, int64_t id) {
  static const char sql[] = "DELETE FROM collections WHERE id = ?1";
  sqlite3_stmt *st = pier_sqlite_stmt(DB(db), sql);
  if (!st) return PIER_EDB;
  sqlite3_bind_int64(st, 1, id);
  int rc = pier_sqlite_done(DB(db), st);
  if (!rc && sqlite3_changes(DB(db)->h) == 0) rc = PIER_ENOTFOUND;
  return rc;
}

/* ---- api keys ------------------------------------------------------------------ */

#define KEY_COLS "SELECT id, IFNULL(collection_id, 0), name, key_prefix, key_hash, is_active, created_us FROM api_keys "

static int read_key(pier_arena *a, sqlite3_stmt *st, void *row) {
  pier_api_key *k = row;
  k->id = sqlite3_column_int64(st, 0);
  k->collection_id = sqlite3_column_int64(st, 1);
  k->name = pier_sqlite_text(a, st, 2);
  const unsigned char *p = sqlite3_column_text(st, 3);
  snprintf(k->key_prefix, sizeof k->key_prefix, "%s", p ? (const char *)p : "");
  p = sqlite3_column_text(st, 4);
  snprintf(k->key_hash, sizeof k->key_hash, "%s", p ? (const char *)p : "");
  k->is_active = sqlite3_column_int(st, 5) != 0;
  k->created_us = sqlite3_column_int64(st, 6);
  return k->name ? 0 : PIER_ENOMEM;
}

int pier_sqlite_key_list(pier_db *db, pier_arena *a, int64_t collection_id, bool all, pier_api_key **out,
                         size_t *n) {
  static const char sql_all[] = KEY_COLS "ORDER BY id";
  static const char sql_one[] = KEY_COLS "WHERE collection_id = ?1 ORDER BY id";
  sqlite3_stmt *st = pier_sqlite_stmt(DB(db), all ? sql_all : sql_one);
  if (!st) return PIER_EDB;
  if (!all) sqlite3_bind_int64(st, 1, collection_id);
  void *rows;
  int rc = pier_sqlite_rows(a, st, sizeof **out, read_key, &rows, n);
  *out = rows;
  return rc;
}

int pier_sqlite_key_get(pier_db *db, pier_arena *a, int64_t id, pier_api_key *out) {
  static const char sql[] = KEY_COLS "WHERE id = ?1";
  sqlite3_stmt *st = pier_sqlite_stmt(DB(db), sql);
  if (!st) return PIER_EDB;
  sqlite3_bind_int64(st, 1, id);
  int rc = PIER_ENOTFOUND;
  if (sqlite3_step(st) == SQLITE_ROW) rc = read_key(a, st, out);
  sqlite3_reset(st);
  return rc;
}

int pier_sqlite_key_create(pier_db *db, pier_api_key *k) {
  static const char sql[] = "INSERT INTO api_keys(collection_id, name, key_prefix, key_hash, is_active, created_us) "
                            "VALUES(?1, ?2, ?3, ?4, ?5, ?6)";
  sqlite3_stmt *st = pier_sqlite_stmt(DB(db), sql);
  if (!st) return PIER_EDB;
  if (k->collection_id) sqlite3_bind_int64(st, 1, k->collection_id);
  else sqlite3_bind_null(st, 1);
  sqlite3_bind_text(st, 2, k->name, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(st, 3, k->key_prefix, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(st, 4, k->key_hash, -1, SQLITE_TRANSIENT);
  sqlite3_bind_int(st, 5, k->is_active);
  sqlite3_bind_int64(st, 6, k->created_us);
  int rc = pier_sqlite_done(DB(db), st);
  if (!rc) k->id = sqlite3_last_insert_rowid(DB(db)->h);
  return rc;
}

int pier_sqlite_key_update(pier_db *db, const pier_api_key *k) {
  static const char sql[] = "UPDATE api_keys SET name = ?2, is_active = ?3 WHERE id = ?1";
  sqlite3_stmt *st = pier_sqlite_stmt(DB(db), sql);
  if (!st) return PIER_EDB;
  sqlite3_bind_int64(st, 1, k->id);
  sqlite3_bind_text(st, 2, k->name, -1, SQLITE_TRANSIENT);
  sqlite3_bind_int(st, 3, k->is_active);
  int rc = pier_sqlite_done(DB(db), st);
  if (!rc && sqlite3_changes(DB(db)->h) == 0) rc = PIER_ENOTFOUND;
  return rc;
}

int pier_sqlite_key_delete(pier_db *db, int64_t id) {
  static const char sql[] = "DELETE FROM api_keys WHERE id = ?1";
  sqlite3_stmt *st = pier_sqlite_stmt(DB(db), sql);
  if (!st) return PIER_EDB;
  sqlite3_bind_int64(st, 1, id);
  int rc = pier_sqlite_done(DB(db), st);
  if (!rc && sqlite3_changes(DB(db)->h) == 0) rc = PIER_ENOTFOUND;
  return rc;
}

/* ---- environment ------------------------------------------------------------------ */

static int read_env(pier_arena *a, sqlite3_stmt *st, void *row) {
  pier_env_var *v = row;
  v->name = pier_sqlite_text(a, st, 0);
  int blen = sqlite3_column_bytes(st, 1);
  unsigned char *box = pier_arena_alloc(a, (size_t)blen + 1);
  if (!box || !v->name) return PIER_ENOMEM;
  if (blen) memcpy(box, sqlite3_column_blob(st, 1), (size_t)blen);
  v->box = box;
  v->box_len = (size_t)blen;
  if (sqlite3_column_bytes(st, 2) == (int)sizeof v->nonce) memcpy(v->nonce, sqlite3_column_blob(st, 2), sizeof v->nonce);
  v->updated_us = sqlite3_column_int64(st, 3);
  return 0;
}

int pier_sqlite_env_list(pier_db *db, pier_arena *a, int64_t collection_id, pier_env_var **out, size_t *n) {
  static const char sql[] = "SELECT name, value_ciphertext, nonce, updated_us FROM env_vars "
                            "WHERE collection_id = ?1 ORDER BY name";
  sqlite3_stmt *st = pier_sqlite_stmt(DB(db), sql);
  if (!st) return PIER_EDB;
  sqlite3_bind_int64(st, 1, collection_id);
  void *rows;
  int rc = pier_sqlite_rows(a, st, sizeof **out, read_env, &rows, n);
  *out = rows;
  return rc;
}

int pier_sqlite_env_put(pier_db *db, int64_t collection_id, const pier_env_var *v) {
  static const char sql[] = "INSERT INTO env_vars(collection_id, name, value_ciphertext, nonce, updated_us) "
                            "VALUES(?1, ?2, ?3, ?4, ?5) ON CONFLICT(collection_id, name) DO UPDATE SET "
                            "value_ciphertext = excluded.value_ciphertext, nonce = excluded.nonce, "
                            "updated_us = excluded.updated_us";
  sqlite3_stmt *st = pier_sqlite_stmt(DB(db), sql);
  if (!st) return PIER_EDB;
  sqlite3_bind_int64(st, 1, collection_id);
  sqlite3_bind_text(st, 2, v->name, -1, SQLITE_TRANSIENT);
  sqlite3_bind_blob(st, 3, v->box, (int)v->box_len, SQLITE_TRANSIENT);
  sqlite3_bind_blob(st, 4, v->nonce, (int)sizeof v->nonce, SQLITE_TRANSIENT);
  sqlite3_bind_int64(st, 5, v->updated_us);
  return pier_sqlite_done(DB(db), st);
}

int pier_sqlite_env_delete(pier_db *db, int64_t collection_id, pier_slice name) {
  static const char sql[] = "DELETE FROM env_vars WHERE collection_id = ?1 AND name = ?2";
  sqlite3_stmt *st = pier_sqlite_stmt(DB(db), sql);
  if (!st) return PIER_EDB;
  sqlite3_bind_int64(st, 1, collection_id);
  bind_slice(st, 2, name);
  return pier_sqlite_done(DB(db), st);
}

int pier_sqlite_env_clear(pier_db *db, int64_t collection_id) {
  static const char sql[] = "DELETE FROM env_vars WHERE collection_id = ?1";
  sqlite3_stmt *st = pier_sqlite_stmt(DB(db), sql);
  if (!st) return PIER_EDB;
  sqlite3_bind_int64(st, 1, collection_id);
  return pier_sqlite_done(DB(db), st);
}

/* ---- tasks ------------------------------------------------------------------------- */

#define TASK_COLS                                                                                        \
  "SELECT id, collection_id, name, workflow_json, description, version, has_file_uploads, is_private, " \
  "croissant_json, created_us, updated_us FROM tasks "

static int read_task(pier_arena *a, sqlite3_stmt *st, void *row) {
  pier_task *t = row;
  t->id = sqlite3_column_int64(st, 0);
  t->collection_id = sqlite3_column_int64(st, 1);
  t->name = pier_sqlite_text(a, st, 2);
  t->workflow_json = pier_sqlite_text(a, st, 3);
  t->description = pier_sqlite_text(a, st, 4);
  t->version = sqlite3_column_int64(st, 5);
  t->has_file_uploads = sqlite3_column_int(st, 6) != 0;
  t->is_private = sqlite3_column_int(st, 7) != 0;
  t->croissant_json = pier_sqlite_text(a, st, 8);
  t->created_us = sqlite3_column_int64(st, 9);
  t->updated_us = sqlite3_column_int64(st, 10);
  return t->name && t->workflow_json && t->description && t->croissant_json ? 0 : PIER_ENOMEM;
}

int pier_sqlite_task_list(pier_db *db, pier_arena *a, int64_t collection_id, int64_t skip, int64_t limit,
                          pier_task **out, size_t *n) {
  static const char sql[] = TASK_COLS "WHERE collection_id = ?1 ORDER BY id LIMIT ?2 OFFSET ?3";
  sqlite3_stmt *st = pier_sqlite_stmt(DB(db), sql);
  if (!st) return PIER_EDB;
  sqlite3_bind_int64(st, 1, collection_id);
  sqlite3_bind_int64(st, 2, limit);
  sqlite3_bind_int64(st, 3, skip);
  void *rows;
  int rc = pier_sqlite_rows(a, st, sizeof **out, read_task, &rows, n);
  *out = rows;
  return rc;
}

int pier_sqlite_task_get(pier_db *db, pier_arena *a, int64_t collection_id, pier_slice name, pier_task *out) {
  static const char sql[] = TASK_COLS "WHERE collection_id = ?1 AND name = ?2";
  sqlite3_stmt *st = pier_sqlite_stmt(DB(db), sql);
  if (!st) return PIER_EDB;
  sqlite3_bind_int64(st, 1, collection_id);
  bind_slice(st, 2, name);
  int rc = PIER_ENOTFOUND;
  if (sqlite3_step(st) == SQLITE_ROW) rc = read_task(a, st, out);
  sqlite3_reset(st);
  return rc;
}

static void bind_task(sqlite3_stmt *st, const pier_task *t) {
  sqlite3_bind_int64(st, 1, t->collection_id);
  sqlite3_bind_text(st, 2, t->name, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(st, 3, t->workflow_json, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(st, 4, t->description ? t->description : "", -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64(st, 5, t->version);
  sqlite3_bind_int(st, 6, t->has_file_uploads);
  sqlite3_bind_int(st, 7, t->is_private);
  sqlite3_bind_text(st, 8, t->croissant_json ? t->croissant_json : "null", -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64(st, 9, t->created_us);
  sqlite3_bind_int64(st, 10, t->updated_us);
}

int pier_sqlite_task_create(pier_db *db, pier_task *t) {
  static const char sql[] = "INSERT INTO tasks(collection_id, name, workflow_json, description, version, "
                            "has_file_uploads, is_private, croissant_json, created_us, updated_us) "
                            "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";
  sqlite3_stmt *st = pier_sqlite_stmt(DB(db), sql);
  if (!st) return PIER_EDB;
  bind_task(st, t);
  int rc = pier_sqlite_done(DB(db), st);
  if (!rc) t->id = sqlite3_last_insert_rowid(DB(db)->h);
  return rc;
}

int pier_sqlite_task_update(pier_db *db, const pier_task *t, pier_slice old_name) {
  static const char sql[] = "UPDATE tasks SET name = ?2, workflow_json = ?3, description = ?4, version = ?5, "
                            "has_file_uploads = ?6, is_private = ?7, croissant_json = ?8, updated_us = ?10 "
                            "WHERE collection_id = ?1 AND name = ?11 AND ?9 = ?9";
  sqlite3_stmt *st = pier_sqlite_stmt(DB(db), sql);
  if (!st) return PIER_EDB;
  bind_task(st, t);
  bind_slice(st, 11, old_name);
  int rc = pier_sqlite_done(DB(db), st);
  if (!rc && sqlite3_changes(DB(db)->h) == 0) rc = PIER_ENOTFOUND;
  return rc;
}

int pier_sqlite_task_delete(pier_db *db, int64_t collection_id, pier_slice name) {
  static const char sql[] = "DELETE FROM tasks WHERE collection_id = ?1 AND name = ?2";
  sqlite3_stmt *st = pier_sqlite_stmt(DB(db), sql);
  if (!st) return PIER_EDB;
  sqlite3_bind_int64(st, 1, collection_id);
  bind_slice(st, 2, name);
  int rc = pier_sqlite_done(DB(db), st);
  if (!rc && sqlite3_changes(DB(db)->h) == 0) rc = PIER_ENOTFOUND;
  return rc;
}
