/* engine.c — the run registry, executors, the async queue and the entry
 * points other loops use (submit, watch, cancel). Runs are reference counted:
 * the registry holds one, every mail in flight to a run holds one. */
#include "engine/engine_int.h"

#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/util.h"

int pier_engine_create(pier_store *store, const pier_engine_config *cfg, pier_env_load_fn env_load, void *env_ctx,
                       pier_engine **out) {
  pier_engine *e = calloc(1, sizeof *e);
  if (!e) return PIER_ENOMEM;
  e->store = store;
  e->cfg = *cfg;
  if (e->cfg.max_concurrent_runs < 1) e->cfg.max_concurrent_runs = 64;
  e->data_dir = strdup(cfg->data_dir);
  e->cfg.data_dir = e->data_dir;
  e->cfg.gateway_socket = cfg->gateway_socket ? strdup(cfg->gateway_socket) : NULL;
  e->cfg.pier_binary = cfg->pier_binary ? strdup(cfg->pier_binary) : NULL;
  e->env_load = env_load;
  e->env_ctx = env_ctx;
  pthread_mutex_init(&e->lock, NULL);
  pier_map_init(&e->runs);
  *out = e;
  return e->data_dir ? 0 : PIER_ENOMEM;
}

void pier_engine_destroy(pier_engine *e) {
  if (!e) return;
  while (e->qhead) { /* the queue's references (the runs stay stored as pending) */
    pier_run *r = e->qhead;
    e->qhead = r->qnext;
    pier_run_unref(r);
  }
  size_t it = 0;
  void *v;
  while (pier_map_next(&e->runs, &it, NULL, &v)) pier_run_unref(v);
  pier_map_dispose(&e->runs, NULL);
  pthread_mutex_destroy(&e->lock);
  free((char *)e->cfg.gateway_socket);
  free((char *)e->cfg.pier_binary);
  free(e->data_dir);
  free(e);
}

void pier_engine_add_executor(pier_engine *e, pier_executor *ex) {
  pthread_mutex_lock(&e->lock);
  if (e->nexs < PIER_ENGINE_EXECUTORS_MAX) e->exs[e->nexs++] = ex;
  pthread_mutex_unlock(&e->lock);
}

static pier_executor *pick_executor(pier_engine *e) {
  pier_executor *ex = NULL;
  pthread_mutex_lock(&e->lock);
  if (e->nexs) ex = e->exs[e->rr++ % e->nexs];
  pthread_mutex_unlock(&e->lock);
  return ex;
}

void pier_run_ref(pier_run *r) { atomic_fetch_add(&r->refs, 1); }
void pier_run_unref(pier_run *r) {
  if (atomic_fetch_sub(&r->refs, 1) == 1) pier_run_free(r);
}

typedef struct run_mail {
  pier_mail mail;
  pier_run *r;
  void (*fn)(pier_run *r);
} run_mail;

static void deliver(void *arg) {
  run_mail *m = arg;
  m->fn(m->r);
  pier_run_unref(m->r);
  free(m);
}

static bool executor_alive(pier_engine *e, pier_executor *ex) {
  for (int i = 0; i < e->nexs; i++)
    if (e->exs[i] == ex) return true;
  return false;
}

bool pier_run_post(pier_run *r, void (*fn)(pier_run *r)) {
  run_mail *m = malloc(sizeof *m);
  if (!m) return false;
  m->r = r;
  m->fn = fn;
  pier_run_ref(r);
  pthread_mutex_lock(&r->e->lock);
  bool alive = r->ex && executor_alive(r->e, r->ex);
  if (alive) pier_mailbox_post(r->ex->mailbox, &m->mail, deliver, m);
  pthread_mutex_unlock(&r->e->lock);
  if (!alive) {
    pier_run_unref(r);
    free(m);
  }
  return alive;
}

/* Runs whose loop is stopping keep their durable state; they resume at the
 * next start. */
void pier_engine_remove_executor(pier_engine *e, pier_executor *ex) {
  pthread_mutex_lock(&e->lock);
  for (int i = 0; i < e->nexs; i++)
    if (e->exs[i] == ex) e->exs[i] = e->exs[--e->nexs];
  pier_run *mine[256];
  int n = 0;
  size_t it = 0;
  void *v;
  while (pier_map_next(&e->runs, &it, NULL, &v) && n < 256) {
    pier_run *r = v;
    if (r->ex == ex && r->state != RUN_QUEUED) {
      pier_run_ref(r);
      mine[n++] = r;
    }
  }
  pthread_mutex_unlock(&e->lock);
  for (int i = 0; i < n; i++) {
    pier_run_pause(mine[i]);
    pier_run_unref(mine[i]);
  }
  pier_webhook_drop_executor(e, ex);
}

static void release_watchers(pier_run *r) { pier_run_drop_watchers(r); }

/* No new step starts from now on; run-sync waiters are let go at once (they
 * answer 202: the run resumes at the next start). */
void pier_engine_shutdown(pier_engine *e) {
  pier_run *all[1024];
  int n = 0;
  pthread_mutex_lock(&e->lock);
  e->shutting_down = true;
  size_t it = 0;
  void *v;
  while (pier_map_next(&e->runs, &it, NULL, &v) && n < 1024) {
    pier_run_ref(v);
    all[n++] = v;
  }
  pthread_mutex_unlock(&e->lock);
  for (int i = 0; i < n; i++) {
    pier_run_post(all[i], release_watchers);
    pier_run_unref(all[i]);
  }
}

void pier_engine_set_gateway(pier_engine *e, int port) { e->cfg.gateway_port = port; }

void pier_engine_counts(pier_engine *e, int *running, int *queued) {
  pthread_mutex_lock(&e->lock);
  *running = e->running;
  *queued = e->queued;
  pthread_mutex_unlock(&e->lock);
}

/* ---- queue ---------------------------------------------------------------------- */

static void start_on_loop(pier_run *r) { pier_run_start(r); }

void pier_engine_admit(pier_engine *e) {
  for (;;) {
    pthread_mutex_lock(&e->lock);
    pier_run *r = NULL;
    if (!e->shutting_down && e->qhead && e->nexs && e->running < e->cfg.max_concurrent_runs) {
      r = e->qhead;
      e->qhead = r->qnext;
      if (!e->qhead) e->qtail = NULL;
      r->qnext = NULL;
      e->queued--;
      e->running++;
      r->counted = true;
      if (!r->ex || !executor_alive(e, r->ex)) r->ex = e->nexs ? e->exs[e->rr++ % e->nexs] : NULL;
    }
    pthread_mutex_unlock(&e->lock);
    if (!r) return;
    if (!pier_run_post(r, start_on_loop)) {
      pthread_mutex_lock(&e->lock);
      e->running--;
      pthread_mutex_unlock(&e->lock);
    }
    pier_run_unref(r); /* the queue's reference */
  }
}

static void enqueue(pier_engine *e, pier_run *r) {
  pier_run_ref(r);
  pthread_mutex_lock(&e->lock);
  if (e->qtail) e->qtail->qnext = r;
  else e->qhead = r;
  e->qtail = r;
  e->queued++;
  pthread_mutex_unlock(&e->lock);
  pier_engine_admit(e);
}

/* Remove a queued run (cancel). true if it was waiting. */
static bool dequeue(pier_engine *e, pier_run *r) {
  bool found = false;
  pthread_mutex_lock(&e->lock);
  for (pier_run **p = &e->qhead; *p; p = &(*p)->qnext) {
    if (*p != r) continue;
    *p = r->qnext;
    if (e->qtail == r) {
      e->qtail = NULL;
      for (pier_run *q = e->qhead; q; q = q->qnext) e->qtail = q;
    }
    e->queued--;
    found = true;
    break;
  }
  pthread_mutex_unlock(&e->lock);
  if (found) pier_run_unref(r);
  return found;
}

void pier_engine_forget(pier_engine *e, pier_run *r) {
  pthread_mutex_lock(&e->lock);
  pier_run *mine = pier_map_del(&e->runs, pier_slice_from(r->id));
  if (r->counted) {
    e->running--;
    r->counted = false;
  }
  pthread_mutex_unlock(&e->lock);
  if (mine) pier_run_unref(mine);
  pier_engine_admit(e);
}

static int registry_add(pier_engine *e, pier_run *r) {
  pthread_mutex_lock(&e->lock);
  int rc = pier_map_get(&e->runs, pier_slice_from(r->id)) ? PIER_EEXISTS : pier_map_put(&e->runs, pier_slice_from(r->id), r, NULL);
  if (!rc) pier_run_ref(r);
  pthread_mutex_unlock(&e->lock);
  return rc;
}

static pier_run *registry_find(pier_engine *e, const char *id) {
  pthread_mutex_lock(&e->lock);
  pier_run *r = pier_map_get(&e->runs, pier_slice_from(id));
  if (r) pier_run_ref(r);
  pthread_mutex_unlock(&e->lock);
  return r;
}

/* ---- submit --------------------------------------------------------------------------- */

/* A stored trajectory (any collection) already has this id: take another. */
static bool new_id(pier_engine *e, pier_run *r) {
  if (++r->id_tries > 8) return false;
  pthread_mutex_lock(&e->lock);
  pier_run *mine = pier_map_del(&e->runs, pier_slice_from(r->id));
  int rc;
  do {
    unsigned char raw[4];
    pier_random(raw, sizeof raw);
    pier_hex(raw, sizeof raw, r->id);
  } while (pier_map_get(&e->runs, pier_slice_from(r->id)));
  rc = mine ? pier_map_put(&e->runs, pier_slice_from(r->id), mine, NULL) : 0;
  pthread_mutex_unlock(&e->lock);
  if (rc && mine) pier_run_unref(mine);
  cJSON_ReplaceItemInObjectCaseSensitive(r->doc, "trajectory_id", cJSON_CreateString(r->id));
  return rc == 0;
}

static void after_first_save(pier_run *r, int rc) {
  if (rc == PIER_EEXISTS && new_id(r->e, r)) {
    pier_run_persist(r, after_first_save);
    return;
  }
  if (r->created_cb) r->created_cb(r->created_arg, rc, r->id);
  r->created_cb = NULL;
  if (rc) {
    PIER_LOG(PIER_LOG_ERROR, "engine", "run=%s could not be stored: %s", r->id, pier_strerror(rc));
    r->state = RUN_ENDED;
    pier_engine_forget(r->e, r);
    return;
  }
  if (r->queued) {
    enqueue(r->e, r);
    return;
  }
  pthread_mutex_lock(&r->e->lock);
  r->e->running++;
  r->counted = true;
  pthread_mutex_unlock(&r->e->lock);
  pier_run_start(r);
}

int pier_engine_submit(pier_engine *e, pier_executor *ex, const pier_run_spec *spec, pier_run_created_fn cb,
                       void *arg) {
  pier_run *r = pier_run_new(e, ex);
  if (!r) return PIER_ENOMEM;
  int rc = pier_run_doc_init(r, spec);
  for (int tries = 0; !rc && tries < 8; tries++) { /* 32-bit ids: retry the rare collision */
    rc = registry_add(e, r);
    if (rc != PIER_EEXISTS) break;
    unsigned char raw[4];
    pier_random(raw, sizeof raw);
    pier_hex(raw, sizeof raw, r->id);
    cJSON_ReplaceItemInObjectCaseSensitive(r->doc, "trajectory_id", cJSON_CreateString(r->id));
    rc = 0;
    if (tries == 7) rc = PIER_EEXISTS;
  }
  if (!rc && (r->secrets || r->webhook_secret)) rc = pier_run_seal_secrets(r);
  if (rc) {
    if (registry_find(e, r->id) == r) { /* added: take it out again */
      pier_run_unref(r);
      pier_engine_forget(e, r);
    }
    pier_run_unref(r);
    return rc;
  }
  r->created_cb = cb;
  r->created_arg = arg;
  pier_run_persist(r, after_first_save);
  pier_run_unref(r); /* the registry holds it now */
  return 0;
}

/* ---- watch / cancel ----------------------------------------------------------------------- */

int pier_engine_watch(pier_engine *e, pier_executor *ex, const char *run_id, const pier_watch_cbs *cbs,
                      pier_watch **out) {
  pier_run *r = registry_find(e, run_id);
  if (!r) return PIER_ENOTFOUND;
  pier_watch *w = pier_watch_new(ex, cbs, r);
  pier_run_unref(r);
  if (!w) return PIER_ENOMEM;
  *out = w;
  return 0;
}

static void cancel_on_loop(pier_run *r) { pier_run_cancel_here(r); }

int pier_engine_cancel(pier_engine *e, const char *run_id, int64_t collection_id, const char *task) {
  pier_run *r = registry_find(e, run_id);
  if (!r) return PIER_ENOTFOUND;
  if (r->collection_id != collection_id || (task && strcmp(r->task, task) != 0)) {
    pier_run_unref(r); /* someone else's run: as good as absent */
    return PIER_ENOTFOUND;
  }
  int rc = 0;
  if (dequeue(e, r)) r->ex = r->ex ? r->ex : pick_executor(e);
  if (!pier_run_post(r, cancel_on_loop)) rc = PIER_EAGAIN;
  pier_run_unref(r);
  return rc;
}

/* ---- resume ----------------------------------------------------------------------------------- */

typedef struct resume_ctx {
  pier_engine *e;
  pier_arena a;
  pier_traj *rows;
  size_t n;
} resume_ctx;

static int resume_work(pier_db *db, void *arg) {
  resume_ctx *rc = arg;
  return db->ops->traj_unfinished(db, &rc->a, &rc->rows, &rc->n);
}

/* A resumed child of a fan-out step starts at once, outside the queue, as it
 * did when its parent started it: its parent holds a slot waiting for it. */
static void start_child_now(pier_engine *e, pier_run *r) {
  pthread_mutex_lock(&e->lock);
  e->running++;
  r->counted = true;
  pthread_mutex_unlock(&e->lock);
  if (!pier_run_post(r, start_on_loop)) {
    pthread_mutex_lock(&e->lock);
    e->running--;
    r->counted = false;
    pthread_mutex_unlock(&e->lock);
  }
}

int pier_engine_resume(pier_engine *e) {
  resume_ctx c = {.e = e};
  pier_arena_init(&c.a);
  int rc = pier_store_run_sync(e->store, PIER_STORE_READ, resume_work, &c);
  int resumed = 0;
  extern int pier_run_restore(pier_engine *e, const pier_traj *t, pier_run **out);
  pier_run **runs = !rc && c.n ? calloc(c.n, sizeof *runs) : NULL;
  if (!rc && c.n && !runs) rc = PIER_ENOMEM;
  /* every run is known (watchable) before any starts: a resumed parent looks
   * for its children among them */
  for (size_t i = 0; !rc && i < c.n; i++) {
    pier_run *r;
    if (pier_run_restore(e, &c.rows[i], &r) != 0) continue;
    if (registry_add(e, r) != 0) {
      pier_run_unref(r);
      continue;
    }
    runs[resumed++] = r;
  }
  for (int i = 0; i < resumed; i++) {
    pier_run *r = runs[i];
    r->ex = pick_executor(e);
    if (r->parent_id) {
      start_child_now(e, r);
    } else {
      r->queued = true; /* resumed runs take a slot like any other */
      enqueue(e, r);
    }
    pier_run_unref(r);
  }
  free(runs);
  if (resumed) PIER_LOG(PIER_LOG_INFO, "engine", "resuming %d unfinished run(s)", resumed);
  pier_arena_dispose(&c.a);
  return rc;
}
