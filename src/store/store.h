/* store.h — pier's persistent store behind an ops table (SQLite now, PostgreSQL
 * later) so handlers never see a backend. No database call runs on an event
 * loop thread: handlers submit jobs that run on store threads (one writer that
 * group-commits, a few readers) and get their completion back on their loop. */
#ifndef PIER_STORE_STORE_H
#define PIER_STORE_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include "base/arena.h"
#include "base/error.h"
#include "base/mailbox.h"
#include "base/seal.h"
#include "base/slice.h"

typedef struct pier_store pier_store;
typedef struct pier_db pier_db; /* one backend connection, used by one thread */

/* ---- records (strings owned by the arena passed to the call) ---------------- */

typedef struct pier_collection {
  int64_t id;
  const char *name;
  const char *description; /* may be "" */
  int64_t created_us;
} pier_collection;

typedef struct pier_api_key {
  int64_t id;
  int64_t collection_id; /* 0 = admin key */
  const char *name;
  char key_prefix[16];
  char key_hash[65];     /* sha256 hex of the token */
  bool is_active;
  int64_t created_us;
} pier_api_key;

typedef struct pier_task {
  int64_t id;
  int64_t collection_id;
  const char *name;
  const char *workflow_json;
  const char *description;
  int64_t version;
  bool has_file_uploads;
  bool is_private;
  const char *croissant_json; /* "null" or JSON */
  int64_t created_us, updated_us;
} pier_task;

typedef struct pier_env_var {
  const char *name;
  const unsigned char *box; /* sealed value (MAC + ciphertext) */
  size_t box_len;
  unsigned char nonce[PIER_SEAL_NONCE_BYTES];
  int64_t updated_us;
} pier_env_var;

typedef struct pier_traj {
  char id[16];             /* 8 lowercase hex */
  int64_t collection_id;
  const char *task;        /* task name */
  const char *status;      /* pending|running|completed|failed|cancelled|archived */
  const char *doc;         /* the trajectory JSON document */
  const unsigned char *secrets_box; /* sealed secret_params (never in doc); may be NULL */
  size_t secrets_len;
  unsigned char secrets_nonce[PIER_SEAL_NONCE_BYTES];
  int64_t created_us, updated_us;
  double duration_s;       /* for stats; < 0 when not finished */
  bool create;             /* insert only: PIER_EEXISTS if the id is taken */
} pier_traj;

/* A child run of a fan-out step (list_emit_await), as stored. */
typedef struct pier_traj_child {
  char id[16];
  const char *status;
  int64_t item; /* the parent's item index; -1 when not recorded */
} pier_traj_child;

typedef struct pier_traj_stats {
  int64_t pending, running, completed, failed, cancelled, archived, total;
  double mean_duration_s;  /* over finished runs with a duration */
} pier_traj_stats;

typedef struct pier_file_rec {
  const char *path;        /* storage path, "{collection}/..." */
  int64_t collection_id;
  const char *content_type;
  int64_t size;
  int64_t created_us;
} pier_file_rec;

typedef struct pier_label {
  const char *key, *value, *author;
  int64_t created_us;
} pier_label;

/* ---- backend ops ------------------------------------------------------------ */

typedef struct pier_store_ops {
  const char *name;
  int (*open)(const char *location, bool reader, pier_db **out, char *err, size_t errlen);
  int (*migrate)(pier_db *db, char *err, size_t errlen);
  void (*close)(pier_db *db);
  int (*begin)(pier_db *db);
  int (*commit)(pier_db *db);
  int (*rollback)(pier_db *db);
  int (*savepoint_begin)(pier_db *db);
  int (*savepoint_end)(pier_db *db, bool ok); /* release, or roll back to it */

  int (*collection_list)(pier_db *db, pier_arena *a, pier_collection **out, size_t *n);
  int (*collection_get)(pier_db *db, pier_arena *a, pier_slice name, pier_collection *out);
  int (*collection_create)(pier_db *db, pier_collection *c); /* fills id; PIER_EEXISTS */
  int (*collection_delete)(pier_db *db, int64_t id);         /* cascades */

  int (*key_list)(pier_db *db, pier_arena *a, int64_t collection_id, bool all, pier_api_key **out, size_t *n);
  int (*key_get)(pier_db *db, pier_arena *a, int64_t id, pier_api_key *out);
  int (*key_create)(pier_db *db, pier_api_key *k); /* fills id */
  int (*key_update)(pier_db *db, const pier_api_key *k);
  int (*key_delete)(pier_db *db, int64_t id);

  int (*env_list)(pier_db *db, pier_arena *a, int64_t collection_id, pier_env_var **out, size_t *n);
  int (*env_put)(pier_db *db, int64_t collection_id, const pier_env_var *v);
  int (*env_delete)(pier_db *db, int64_t collection_id, pier_slice name);
  int (*env_clear)(pier_db *db, int64_t collection_id);

  int (*task_list)(pier_db *db, pier_arena *a, int64_t collection_id, int64_t skip, int64_t limit,
                   pier_task **out, size_t *n);
  int (*task_get)(pier_db *db, pier_arena *a, int64_t collection_id, pier_slice name, pier_task *out);
  int (*task_create)(pier_db *db, pier_task *t); /* fills id; PIER_EEXISTS */
  int (*task_update)(pier_db *db, const pier_task *t, pier_slice old_name);
  int (*task_delete)(pier_db *db, int64_t collection_id, pier_slice name);

  int (*traj_put)(pier_db *db, const pier_traj *t); /* insert or replace by id */
  int (*traj_get)(pier_db *db, pier_arena *a, int64_t collection_id, pier_slice task, pier_slice id, pier_traj *out);
  int (*traj_list)(pier_db *db, pier_arena *a, int64_t collection_id, pier_slice task, int64_t offset, int64_t limit,
                   pier_traj **out, size_t *n, int64_t *total);
  int (*traj_unfinished)(pier_db *db, pier_arena *a, pier_traj **out, size_t *n); /* pending + running, oldest first */
  int (*traj_stats)(pier_db *db, int64_t collection_id, pier_slice task, pier_traj_stats *out);
  /* Runs of `task` started by step `parent_step` of run `parent_id` (created at
   * since_us, which bounds the scan: children are younger), oldest first. */
  int (*traj_children)(pier_db *db, pier_arena *a, int64_t collection_id, pier_slice task, const char *parent_id,
                       const char *parent_step, int64_t since_us, pier_traj_child **out, size_t *n);

  int (*label_add)(pier_db *db, const char *traj_id, const pier_label *l);
  int (*label_list)(pier_db *db, pier_arena *a, const char *traj_id, pier_label **out, size_t *n);

  int (*file_put)(pier_db *db, const pier_file_rec *f);
  int (*file_get)(pier_db *db, pier_arena *a, pier_slice path, pier_file_rec *out);
  int (*file_list)(pier_db *db, pier_arena *a, pier_slice prefix, int64_t limit, pier_file_rec **out, size_t *n);
} pier_store_ops;

extern const pier_store_ops pier_store_sqlite_ops;

struct pier_db {
  const pier_store_ops *ops;
};

/* ---- the store: threads and jobs --------------------------------------------- */

/* WRITE_OPTIONAL: a write that may be refused (PIER_EBUSY) when the writer is
 * PIER_STORE_OPTIONAL_QUEUE_MAX jobs behind — records nothing waits for (chat
 * trajectories), so a flood of them never grows memory without bound. */
enum { PIER_STORE_READ = 0, PIER_STORE_WRITE = 1, PIER_STORE_WRITE_OPTIONAL = 2 };
#define PIER_STORE_OPTIONAL_QUEUE_MAX 4096

/* Runs on a store thread with exclusive use of db. For writes it runs inside
 * a savepoint of the group transaction: a negative return rolls back only
 * this job. */
typedef int (*pier_store_work_fn)(pier_db *db, void *arg);
/* Runs on the submitter's loop (through its mailbox) after the commit. */
typedef void (*pier_store_done_fn)(void *arg, int rc);

/* Open <data_dir>/pier.db (WAL, migrations) and start the threads. */
int pier_store_open(const char *data_dir, pier_store **out, char *err, size_t errlen) PIER_WUR;
/* Finish queued jobs, commit, stop the threads, close connections. */
void pier_store_close(pier_store *s);

int pier_store_submit(pier_store *s, int kind, pier_mailbox *mb, pier_store_work_fn work, pier_store_done_fn done,
                      void *arg) PIER_WUR;
/* Blocking variant for start-up and tools (never on a loop thread). */
int pier_store_run_sync(pier_store *s, int kind, pier_store_work_fn work, void *arg) PIER_WUR;

#endif
