/* sqlite_int.h — private to the SQLite backend (sqlite*.c). */
#ifndef PIER_STORE_SQLITE_INT_H
#define PIER_STORE_SQLITE_INT_H

#include <sqlite3.h>

#include "store/store.h"

#define PIER_SQLITE_STMTS_MAX 96

typedef struct pier_sqlite {
  pier_db base;
  sqlite3 *h;
  bool reader;
  struct {
    const char *sql; /* static string; its address is the cache key */
    sqlite3_stmt *stmt;
  } stmts[PIER_SQLITE_STMTS_MAX];
  int nstmts;
} pier_sqlite;

#define DB(b) ((pier_sqlite *)(b))

sqlite3_stmt *pier_sqlite_stmt(pier_sqlite *db, const char *sql);
int pier_sqlite_exec(pier_sqlite *db, const char *sql);
int pier_sqlite_done(pier_sqlite *db, sqlite3_stmt *st);
const char *pier_sqlite_text(pier_arena *a, sqlite3_stmt *st, int col);

int pier_sqlite_collection_list(pier_db *db, pier_arena *a, pier_collection **out, size_t *n);
int pier_sqlite_collection_get(pier_db *db, pier_arena *a, pier_slice name, pier_collection *out);
int pier_sqlite_collection_create(pier_db *db, pier_collection *c);
int pier_sqlite_collection_delete(pier_db *db, int64_t id);
int pier_sqlite_key_list(pier_db *db, pier_arena *a, int64_t collection_id, bool all, pier_api_key **out, size_t *n);
int pier_sqlite_key_get(pier_db *db, pier_arena *a, int64_t id, pier_api_key *out);
int pier_sqlite_key_create(pier_db *db, pier_api_key *k);
int pier_sqlite_key_update(pier_db *db, const pier_api_key *k);
int pier_sqlite_key_delete(pier_db *db, int64_t id);
int pier_sqlite_env_list(pier_db *db, pier_arena *a, int64_t collection_id, pier_env_var **out, size_t *n);
int pier_sqlite_env_put(pier_db *db, int64_t collection_id, const pier_env_var *v);
int pier_sqlite_env_delete(pier_db *db, int64_t collection_id, pier_slice name);
int pier_sqlite_env_clear(pier_db *db, int64_t collection_id);
int pier_sqlite_task_list(pier_db *db, pier_arena *a, int64_t collection_id, int64_t skip, int64_t limit,
                          pier_task **out, size_t *n);
int pier_sqlite_task_get(pier_db *db, pier_arena *a, int64_t collection_id, pier_slice name, pier_task *out);
int pier_sqlite_task_create(pier_db *db, pier_task *t);
int pier_sqlite_task_update(pier_db *db, const pier_task *t, pier_slice old_name);
int pier_sqlite_task_delete(pier_db *db, int64_t collection_id, pier_slice name);

int pier_sqlite_traj_put(pier_db *db, const pier_traj *t);
int pier_sqlite_traj_get(pier_db *db, pier_arena *a, int64_t collection_id, pier_slice task, pier_slice id,
                         pier_traj *out);
int pier_sqlite_traj_list(pier_db *db, pier_arena *a, int64_t collection_id, pier_slice task, int64_t offset,
                          int64_t limit, pier_traj **out, size_t *n, int64_t *total);
int pier_sqlite_traj_unfinished(pier_db *db, pier_arena *a, pier_traj **out, size_t *n);
int pier_sqlite_traj_children(pier_db *db, pier_arena *a, int64_t collection_id, pier_slice task, const char *parent_id,
                              const char *parent_step, int64_t since_us, pier_traj_child **out, size_t *n);
int pier_sqlite_traj_stats(pier_db *db, int64_t collection_id, pier_slice task, pier_traj_stats *out);
int pier_sqlite_label_add(pier_db *db, const char *traj_id, const pier_label *l);
int pier_sqlite_label_list(pier_db *db, pier_arena *a, const char *traj_id, pier_label **out, size_t *n);
int pier_sqlite_file_put(pier_db *db, const pier_file_rec *f);
int pier_sqlite_file_get(pier_db *db, pier_arena *a, pier_slice path, pier_file_rec *out);
int pier_sqlite_file_list(pier_db *db, pier_arena *a, pier_slice prefix, int64_t limit, pier_file_rec **out, size_t *n);
void *pier_sqlite_grow(pier_arena *a, void *arr, size_t n, size_t *cap, size_t elem);
/* Every row of st (bound, not yet stepped) read by read(a, st, row) into an
 * arena array of elem-sized rows. st is always reset. PIER_ENOMEM, PIER_EDB
 * when a step fails (never a silently short list), or read's error. */
typedef int (*pier_sqlite_row_fn)(pier_arena *a, sqlite3_stmt *st, void *row);
int pier_sqlite_rows(pier_arena *a, sqlite3_stmt *st, size_t elem, pier_sqlite_row_fn read, void **out, size_t *n);

#endif
