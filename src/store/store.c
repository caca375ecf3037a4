/* store.c — store threads. One writer thread drains the write queue in
 * batches and commits each batch in one transaction (group commit; one fsync
 * for many writes), each job in its own savepoint. Reader threads run read
 * jobs on their own WAL connections. Completions go back through mailboxes. */
#include "store/store.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/limits.h"
#include "base/log.h"

typedef struct job {
  pier_mail mail;
  struct job *next;
  pier_mailbox *mb;
  pier_store_work_fn work;
  pier_store_done_fn done;
  void *arg;
  int rc;
  bool sync, finished;
} job;

typedef struct reader_arg {
  pier_store *s;
  int index;
} reader_arg;

typedef struct queue {
  job *head, *tail;
  size_t len; /* jobs waiting */
  pthread_cond_t cv;
} queue;

struct pier_store {
  const pier_store_ops *ops;
  pthread_mutex_t lock;
  pthread_cond_t sync_cv;
  queue wq, rq;
  bool stopping;
  pthread_t writer, readers[PIER_STORE_READERS];
  pier_db *wdb, *rdb[PIER_STORE_READERS];
  reader_arg rargs[PIER_STORE_READERS];
  int nreaders, nthreads;
  bool writer_started;
};


static void deliver(void *arg) {
  job *j = arg;
  pier_mailbox *mb = j->mb;
  if (j->done) j->done(j->arg, j->rc);
  free(j);
  pier_mailbox_release(mb);
}

static void complete(pier_store *s, job *j) {
  if (j->sync) {
    pthread_mutex_lock(&s->lock);
    j->finished = true;
    pthread_cond_broadcast(&s->sync_cv);
    pthread_mutex_unlock(&s->lock);
  } else if (j->mb) {
    pier_mailbox_post(j->mb, &j->mail, deliver, j);
  } else {
    if (j->done) j->done(j->arg, j->rc);
    free(j);
  }
}

/* Take up to max jobs; NULL when stopping and empty. Lock held by caller. */
static job *take(pier_store *s, queue *q, int max) {
  while (!q->head && !s->stopping) pthread_cond_wait(&q->cv, &s->lock);
  job *first = q->head;
  job *last = first;
  int n = 1;
  for (; last && last->next && n < max; n++) last = last->next;
  if (first) {
    q->len -= (size_t)n;
    q->head = last->next;
    if (!q->head) q->tail = NULL;
    last->next = NULL;
  }
  return first;
}

static void run_batch(pier_store *s, job *batch) {
  pier_db *db = s->wdb;
  const pier_store_ops *ops = s->ops;
  int brc = ops->begin(db);
  for (job *j = batch; j; j = j->next) {
    if (brc) {
      j->rc = PIER_EDB;
      continue;
    }
    if (ops->savepoint_begin(db) != 0) {
      j->rc = PIER_EDB;
      continue;
    }
    j->rc = j->work(db, j->arg);
    if (ops->savepoint_end(db, j->rc == 0) != 0 && j->rc == 0) j->rc = PIER_EDB;
  }
  if (!brc && ops->commit(db) != 0) {
    PIER_LOG(PIER_LOG_ERROR, "store", "group commit failed; batch rolled back");
    ops->rollback(db);
    for (job *j = batch; j; j = j->next) j->rc = PIER_EDB;
  }
  job *next;
  for (job *j = batch; j; j = next) {
    next = j->next;
    complete(s, j);
  }
}

static void *writer_main(void *arg) {
  pier_store *s = arg;
  pthread_mutex_lock(&s->lock);
  for (;;) {
    job *batch = take(s, &s->wq, PIER_STORE_BATCH_MAX);
    if (!batch) break;
    pthread_mutex_unlock(&s->lock);
    run_batch(s, batch);
    pthread_mutex_lock(&s->lock);
  }
  pthread_mutex_unlock(&s->lock);
  return NULL;
}

static void *reader_main(void *arg) {
  reader_arg *ra = arg;
  pier_store *s = ra->s;
  pier_db *db = s->rdb[ra->index];
  pthread_mutex_lock(&s->lock);
  for (;;) {
    job *j = take(s, &s->rq, 1);
    if (!j) break;
    pthread_mutex_unlock(&s->lock);
    if (s->ops->begin(db) != 0) {
      j->rc = PIER_EDB;
    } else {
      j->rc = j->work(db, j->arg);
      s->ops->commit(db); /* read transaction: ends the snapshot */
    }
    complete(s, j);
    pthread_mutex_lock(&s->lock);
  }
  pthread_mutex_unlock(&s->lock);
  return NULL;
}

int pier_store_open(const char *data_dir, pier_store **out, char *err, size_t errlen) {
  pier_store *s = calloc(1, sizeof *s);
  if (!s) return PIER_ENOMEM;
  s->ops = &pier_store_sqlite_ops;
  pthread_mutex_init(&s->lock, NULL);
  pthread_cond_init(&s->sync_cv, NULL);
  pthread_cond_init(&s->wq.cv, NULL);
  pthread_cond_init(&s->rq.cv, NULL);
  char loc[4096];
  snprintf(loc, sizeof loc, "%s/pier.db", data_dir);
  int rc = s->ops->open(loc, false, &s->wdb, err, errlen);
  if (!rc) rc = s->ops->migrate(s->wdb, err, errlen);
  for (int i = 0; !rc && i < PIER_STORE_READERS; i++) {
    rc = s->ops->open(loc, true, &s->rdb[i], err, errlen);
    if (!rc) s->nreaders++;
  }
  if (!rc && pthread_create(&s->writer, NULL, writer_main, s) != 0) rc = PIER_EIO;
  if (!rc) s->writer_started = true;
  for (int i = 0; !rc && i < s->nreaders; i++) {
    reader_arg *ra = &s->rargs[i];
    ra->s = s;
    ra->index = i;
    if (pthread_create(&s->readers[i], NULL, reader_main, ra) != 0) rc = PIER_EIO;
    else s->nthreads++;
  }
  if (rc) {
    if (!err[0]) snprintf(err, errlen, "cannot open the store at %s: %s", loc, pier_strerror(rc));
    pier_store_close(s);
    return rc;
  }
  *out = s;
  return 0;
}

void pier_store_close(pier_store *s) {
  if (!s) return;
  pthread_mutex_lock(&s->lock);
  s->stopping = true;
  pthread_cond_broadcast(&s->wq.cv);
  pthread_cond_broadcast(&s->rq.cv);
  pthread_mutex_unlock(&s->lock);
  if (s->writer_started) pthread_join(s->writer, NULL);
  for (int i = 0; i < s->nthreads; i++) pthread_join(s->readers[i], NULL);
  for (int i = 0; i < s->nreaders; i++) s->ops->close(s->rdb[i]);
  if (s->wdb) s->ops->close(s->wdb);
  pthread_mutex_destroy(&s->lock);
  free(s);
}

static int enqueue(pier_store *s, int kind, job *j) {
  queue *q = kind == PIER_STORE_READ ? &s->rq : &s->wq;
  pthread_mutex_lock(&s->lock);
  if (s->stopping) {
    pthread_mutex_unlock(&s->lock);
    return PIER_ECANCELLED;
  }
  if (kind == PIER_STORE_WRITE_OPTIONAL && q->len >= PIER_STORE_OPTIONAL_QUEUE_MAX) {
    pthread_mutex_unlock(&s->lock);
    return PIER_EBUSY;
  }
  q->len++;
  if (q->tail) q->tail->next = j;
  else q->head = j;
  q->tail = j;
  pthread_cond_signal(&q->cv);
  pthread_mutex_unlock(&s->lock);
  return 0;
}

int pier_store_submit(pier_store *s, int kind, pier_mailbox *mb, pier_store_work_fn work, pier_store_done_fn done,
                      void *arg) {
  job *j = calloc(1, sizeof *j);
  if (!j) return PIER_ENOMEM;
  j->mb = mb;
  j->work = work;
  j->done = done;
  j->arg = arg;
  if (mb) pier_mailbox_hold(mb); /* the loop stays open for this completion */
  int rc = enqueue(s, kind, j);
  if (rc) {
    if (mb) pier_mailbox_release(mb);
    free(j);
  }
  return rc;
}

int pier_store_run_sync(pier_store *s, int kind, pier_store_work_fn work, void *arg) {
  job j;
  memset(&j, 0, sizeof j);
  j.work = work;
  j.arg = arg;
  j.sync = true;
  int rc = enqueue(s, kind, &j);
  if (rc) return rc;
  pthread_mutex_lock(&s->lock);
  while (!j.finished) pthread_cond_wait(&s->sync_cv, &s->lock);
  pthread_mutex_unlock(&s->lock);
  return j.rc;
}
