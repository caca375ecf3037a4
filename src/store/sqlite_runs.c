/* sqlite_runs.c — trajectories and file records in SQLite. A trajectory row
 * holds the whole JSON document plus the columns needed to find it (task,
 * status, times); sealed secret_params sit in their own column, never in doc. */
#include <stdio.h>
#include <string.h>

#include "store/sqlite_int.h"

static void bind_slice(sqlite3_stmt *st, int i, pier_slice s) {
  sqlite3_bind_text(st, i, s.ptr ? s.ptr : "", (int)s.len, SQLITE_TRANSIENT);
}

int pier_sqlite_traj_put(pier_db *db, const pier_traj *t) {
  static const char create_sql[] =
      "INSERT INTO trajectories(id, collection_id, task, status, doc, secrets_box, secrets_nonce, created_us, "
      "updated_us, duration_s) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";
  static const char sql[] =
      "INSERT INTO trajectories(id, collection_id, task, status, doc, secrets_box, secrets_nonce, created_us, "
      "updated_us, duration_s) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) ON CONFLICT(id) DO UPDATE SET "
      "status = excluded.status, doc = excluded.doc, updated_us = excluded.updated_us, "
      "duration_s = excluded.duration_s, secrets_box = COALESCE(excluded.secrets_box, secrets_box), "
      "secrets_nonce = COALESCE(excluded.secrets_nonce, secrets_nonce)";
  sqlite3_stmt *st = pier_sqlite_stmt(DB(db), t->create ? create_sql : sql);
  if (!st) return PIER_EDB;
  sqlite3_bind_text(st, 1, t->id, -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64(st, 2, t->collection_id);
  sqlite3_bind_text(st, 3, t->task, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(st, 4, t->status, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(st, 5, t->doc, -1, SQLITE_TRANSIENT);
  if (t->secrets_box) {
    sqlite3_bind_blob(st, 6, t->secrets_box, (int)t->secrets_len, SQLITE_TRANSIENT);
    sqlite3_bind_blob(st, 7, t->secrets_nonce, (int)sizeof t->secrets_nonce, SQLITE_TRANSIENT);
  }
  sqlite3_bind_int64(st, 8, t->created_us);
  sqlite3_bind_int64(st, 9, t->updated_us);
  sqlite3_bind_double(st, 10, t->duration_s);
  return pier_sqlite_done(DB(db), st);
}

#define TRAJ_COLS                                                                                       \
  "SELECT id, collection_id, task, status, doc, secrets_box, secrets_nonce, created_us, updated_us, " \
  "duration_s FROM trajectories "

static int read_traj(pier_arena *a, sqlite3_stmt *st, void *row) {
  pier_traj *t = row;
  memset(t, 0, sizeof *t);
  const unsigned char *id = sqlite3_column_text(st, 0);
  strncpy(t->id, id ? (const char *)id : "", sizeof t->id - 1);
  t->collection_id = sqlite3_column_int64(st, 1);
  t->task = pier_sqlite_text(a, st, 2);
  t->status = pier_sqlite_text(a, st, 3);
  t->doc = pier_sqlite_text(a, st, 4);
  int blen = sqlite3_column_bytes(st, 5);
  if (blen > 0 && sqlite3_column_bytes(st, 6) == (int)sizeof t->secrets_nonce) {
    unsigned char *box = pier_arena_alloc(a, (size_t)blen);
    if (!box) return PIER_ENOMEM;
    memcpy(box, sqlite3_column_blob(st, 5), (size_t)blen);
    t->secrets_box = box;
    t->secrets_len = (size_t)blen;
    memcpy(t->secrets_nonce, sqlite3_column_blob(st, 6), sizeof t->secrets_nonce);
  }
  t->created_us = sqlite3_column_int64(st, 7);
  t->updated_us = sqlite3_column_int64(st, 8);
  t->duration_s = sqlite3_column_double(st, 9);
  return (t->task && t->status && t->doc) ? 0 : PIER_ENOMEM;
}

int pier_sqlite_traj_get(pier_db *db, pier_arena *a, int64_t collection_id, pier_slice task, pier_slice id,
                         pier_traj *out) {
  static const char sql[] = TRAJ_COLS "WHERE id = ?1 AND collection_id = ?2 AND task = ?3";
  sqlite3_stmt *st = pier_sqlite_stmt(DB(db), sql);
  if (!st) return PIER_EDB;
  bind_slice(st, 1, id);
  sqlite3_bind_int64(st, 2, collection_id);
  bind_slice(st, 3, task);
  int rc = sqlite3_step(st) == SQLITE_ROW ? read_traj(a, st, out) : PIER_ENOTFOUND;
  sqlite3_reset(st);
  return rc;
}

int pier_sqlite_traj_list(pier_db *db, pier_arena *a, int64_t collection_id, pier_slice task, int64_t offset,
                          int64_t limit, pier_traj **out, size_t *n, int64_t *total) {
  static const char count_sql[] = "SELECT COUNT(*) FROM trajectories WHERE collection_id = ?1 AND task = ?2";
  static const char sql[] = TRAJ_COLS "WHERE collection_id = ?1 AND task = ?2 ORDER BY created_us DESC, id "
                                      "LIMIT ?3 OFFSET ?4";
  sqlite3_stmt *st = pier_sqlite_stmt(DB(db), count_sql);
  if (!st) return PIER_EDB;
  sqlite3_bind_int64(st, 1, collection_id);
  bind_slice(st, 2, task);
  *total = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
  sqlite3_reset(st);
  if (!(st = pier_sqlite_stmt(DB(db), sql))) return PIER_EDB;
  sqlite3_bind_int64(st, 1, collection_id);
  bind_slice(st, 2, task);
  sqlite3_bind_int64(st, 3, limit);
  sqlite3_bind_int64(st, 4, offset);
  void *rows;
  int rc = pier_sqlite_rows(a, st, sizeof **out, read_traj, &rows, n);
  *out = rows;
  return rc;
}

int pier_sqlite_traj_unfinished(pier_db *db, pier_arena *a, pier_traj **out, size_t *n) {
  static const char sql[] = TRAJ_COLS "WHERE status IN ('pending', 'running') ORDER BY created_us, id";
  sqlite3_stmt *st = pier_sqlite_stmt(DB(db), sql);
  if (!st) return PIER_EDB;
  void *rows;
  int rc = pier_sqlite_rows(a, st, sizeof **out, read_traj, &rows, n);
  *out = rows;
  return rc;
}

static int read_child(pier_arena *a, sqlite3_stmt *st, void *row) {
  pier_traj_child *c = row;
  const unsigned char *id = sqlite3_column_text(st, 0);
  snprintf(c->id, sizeof c->id, "%s", id ? (const char *)id : "");
  c->status = pier_sqlite_text(a, st, 1);
  c->item = sqlite3_column_type(st, 2) == SQLITE_INTEGER ? sqlite3_column_int64(st, 2) : -1;
  return c->status ? 0 : PIER_ENOMEM;
}

int pier_sqlite_traj_children(pier_db *db, pier_arena *a, int64_t collection_id, pier_slice task, const char *parent_id,
                              const char *parent_step, int64_t since_us, pier_traj_child **out, size_t *n) {
  /* by (collection, task, created_us >= the parent's) through trajectories_task, then the doc's fields */
  static const char sql[] = "SELECT id, status, json_extract(doc, '$.parent_item') FROM trajectories "
                            "WHERE collection_id = ?1 AND task = ?2 AND json_extract(doc, '$.parent_trajectory_id') = ?3 "
                            "AND json_extract(doc, '$.parent_step') = ?4 AND created_us >= ?5 ORDER BY created_us, id";
  sqlite3_stmt *st = pier_sqlite_stmt(DB(db), sql);
  if (!st) return PIER_EDB;
  sqlite3_bind_int64(st, 1, collection_id);
  bind_slice(st, 2, task);
  sqlite3_bind_text(st, 3, parent_id, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 4, parent_step, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 5, since_us);
  void *rows;
  int rc = pier_sqlite_rows(a, st, sizeof **out, read_child, &rows, n);
  *out = rows;
  return rc;
}

int pier_sqlite_traj_stats(pier_db *db, int64_t collection_id, pier_slice task, pier_traj_stats *out) {
  static const char sql[] = "SELECT status, COUNT(*), AVG(CASE WHEN duration_s >= 0 THEN duration_s END) "
                            "FROM trajectories WHERE collection_id = ?1 AND task = ?2 GROUP BY status";
  sqlite3_stmt *st = pier_sqlite_stmt(DB(db), sql);
  if (!st) return PIER_EDB;
  sqlite3_bind_int64(st, 1, collection_id);
  bind_slice(st, 2, task);
  memset(out, 0, sizeof *out);
  double sum = 0;
  int64_t timed = 0;
  while (sqlite3_step(st) == SQLITE_ROW) {
    const char *s = (const char *)sqlite3_column_text(st, 0);
    int64_t c = sqlite3_column_int64(st, 1);
    int64_t *slot = !s                            ? NULL
                    : !strcmp(s, "pending")       ? &out->pending
                    : !strcmp(s, "running")       ? &out->running
                    : !strcmp(s, "completed")     ? &out->completed
                    : !strcmp(s, "failed")        ? &out->failed
                    : !strcmp(s, "cancelled")     ? &out->cancelled
                    : !strcmp(s, "archived")      ? &out->archived
                                                  : NULL;
    if (slot) *slot += c;
    out->total += c;
    if (sqlite3_column_type(st, 2) != SQLITE_NULL && s && strcmp(s, "pending") && strcmp(s, "running")) {
      sum += sqlite3_column_double(st, 2) * (double)c;
      timed += c;
    }
  }
  sqlite3_reset(st);
  out->mean_duration_s = timed ? sum / (double)timed : 0;
  return 0;
}

int pier_sqlite_file_put(pier_db *db, const pier_file_rec *f) {
  static const char sql[] = "INSERT OR REPLACE INTO files(path, collection_id, content_type, size, created_us) "
                            "VALUES(?1, ?2, ?3, ?4, ?5)";
  sqlite3_stmt *st = pier_sqlite_stmt(DB(db), sql);
  if (!st) return PIER_EDB;
  sqlite3_bind_text(st, 1, f->path, -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64(st, 2, f->collection_id);
  sqlite3_bind_text(st, 3, f->content_type, -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64(st, 4, f->size);
  sqlite3_bind_int64(st, 5, f->created_us);
  return pier_sqlite_done(DB(db), st);
}

static int read_file(pier_arena *a, sqlite3_stmt *st, void *row) {
  pier_file_rec *f = row;
  f->path = pier_sqlite_text(a, st, 0);
  f->collection_id = sqlite3_column_int64(st, 1);
  f->content_type = pier_sqlite_text(a, st, 2);
  f->size = sqlite3_column_int64(st, 3);
  f->created_us = sqlite3_column_int64(st, 4);
  return f->path && f->content_type ? 0 : PIER_ENOMEM;
}

int pier_sqlite_file_get(pier_db *db, pier_arena *a, pier_slice path, pier_file_rec *out) {
  static const char sql[] = "SELECT path, collection_id, content_type, size, created_us FROM files WHERE path = ?1";
  sqlite3_stmt *st = pier_sqlite_stmt(DB(db), sql);
  if (!st) return PIER_EDB;
  bind_slice(st, 1, path);
  int rc = PIER_ENOTFOUND;
  if (sqlite3_step(st) == SQLITE_ROW) rc = read_file(a, st, out);
  sqlite3_reset(st);
  return rc;
}

int pier_sqlite_file_list(pier_db *db, pier_arena *a, pier_slice prefix, int64_t limit, pier_file_rec **out,
                          size_t *n) {
  static const char sql[] = "SELECT path, collection_id, content_type, size, created_us FROM files "
                            "WHERE substr(path, 1, length(?1)) = ?1 ORDER BY path LIMIT ?2";
  sqlite3_stmt *st = pier_sqlite_stmt(DB(db), sql);
  if (!st) return PIER_EDB;
  bind_slice(st, 1, prefix);
  sqlite3_bind_int64(st, 2, limit);
  void *rows;
  int rc = pier_sqlite_rows(a, st, sizeof **out, read_file, &rows, n);
  *out = rows;
  return rc;
}

int pier_sqlite_label_add(pier_db *db, const char *traj_id, const pier_label *l) {
  static const char sql[] = "INSERT INTO labels(trajectory_id, key, value, author, created_us) VALUES(?1, ?2, ?3, ?4, ?5)";
  sqlite3_stmt *st = pier_sqlite_stmt(DB(db), sql);
  if (!st) return PIER_EDB;
  sqlite3_bind_text(st, 1, traj_id, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(st, 2, l->key, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(st, 3, l->value, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(st, 4, l->author, -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64(st, 5, l->created_us);
  return pier_sqlite_done(DB(db), st);
}

static int read_label(pier_arena *a, sqlite3_stmt *st, void *row) {
  pier_label *l = row;
  l->key = pier_sqlite_text(a, st, 0);
  l->value = pier_sqlite_text(a, st, 1);
  l->author = pier_sqlite_text(a, st, 2);
  l->created_us = sqlite3_column_int64(st, 3);
  return l->key && l->value && l->author ? 0 : PIER_ENOMEM;
}

int pier_sqlite_label_list(pier_db *db, pier_arena *a, const char *traj_id, pier_label **out, size_t *n) {
  static const char sql[] = "SELECT key, value, author, created_us FROM labels WHERE trajectory_id = ?1 "
                            "ORDER BY created_us, rowid";
  sqlite3_stmt *st = pier_sqlite_stmt(DB(db), sql);
  if (!st) return PIER_EDB;
  sqlite3_bind_text(st, 1, traj_id, -1, SQLITE_TRANSIENT);
  void *rows;
  int rc = pier_sqlite_rows(a, st, sizeof **out, read_label, &rows, n);
  *out = rows;
  return rc;
}
