/* watch.c — watchers of a run living on other loops (run-sync waiters, the
 * events stream). Each message to a watcher carries its own copy of the bytes
 * and a reference; a watcher closed by its owner silently drops what still
 * arrives. */
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "base/log.h"
#include "engine/engine_int.h"

struct pier_watch {
  pier_executor *ex;
  pier_watch_cbs cbs;
  atomic_int refs;
  atomic_bool closed;
  bool ended; /* on_end delivered (watcher's loop) */
  pier_watch *next; /* in the run's list (run's loop) */
};

typedef struct wmsg {
  pier_mail mail;
  pier_watch *w;
  bool end;
  size_t len;
  char *data; /* NULL with end = engine gave up (shutdown) */
} wmsg;

static void watch_unref(pier_watch *w) {
  if (atomic_fetch_sub(&w->refs, 1) == 1) free(w);
}

static void deliver(void *arg) {
  wmsg *m = arg;
  pier_watch *w = m->w;
  if (!atomic_load(&w->closed) && !w->ended) {
    if (m->end) {
      w->ended = true;
      if (w->cbs.on_end) w->cbs.on_end(w->cbs.arg, m->data, m->len);
    } else if (w->cbs.on_event) {
      w->cbs.on_event(w->cbs.arg, m->data, m->len);
    }
  }
  free(m->data);
  free(m);
  watch_unref(w);
}

/* Post a copy of data to the watcher's loop (data NULL allowed for end). */
static void post_msg(pier_engine *e, pier_watch *w, bool end, const char *data, size_t len) {
  wmsg *m = calloc(1, sizeof *m);
  if (!m) return;
  m->w = w;
  m->end = end;
  if (data && !(m->data = malloc(len + 1))) {
    free(m);
    return;
  }
  if (data) {
    memcpy(m->data, data, len);
    m->data[len] = '\0';
    m->len = len;
  }
  atomic_fetch_add(&w->refs, 1);
  pthread_mutex_lock(&e->lock);
  bool alive = false;
  for (int i = 0; i < e->nexs; i++) alive |= e->exs[i] == w->ex;
  if (alive) pier_mailbox_post(w->ex->mailbox, &m->mail, deliver, m);
  pthread_mutex_unlock(&e->lock);
  if (!alive) {
    free(m->data);
    free(m);
    watch_unref(w);
  }
}

static void attach_on_loop(pier_run *r);

pier_watch *pier_watch_new(pier_executor *ex, const pier_watch_cbs *cbs, pier_run *r) {
  pier_watch *w = calloc(1, sizeof *w);
  if (!w) return NULL;
  w->ex = ex;
  w->cbs = *cbs;
  atomic_init(&w->refs, 2); /* the owner's and the run's */
  /* The attach request rides on the run's mailbox; the run keeps a small
   * inbox of watchers to add. */
  pthread_mutex_lock(&r->e->lock);
  w->next = (pier_watch *)r->watchers_inbox;
  r->watchers_inbox = w;
  pthread_mutex_unlock(&r->e->lock);
  if (!pier_run_post(r, attach_on_loop)) {
    /* the run's loop is gone: the owner gets a NULL end */
    pthread_mutex_lock(&r->e->lock);
    r->watchers_inbox = w->next;
    pthread_mutex_unlock(&r->e->lock);
    atomic_fetch_sub(&w->refs, 1);
    post_msg(r->e, w, true, NULL, 0);
  }
  return w;
}

static void attach_on_loop(pier_run *r) {
  pthread_mutex_lock(&r->e->lock);
  pier_watch *list = r->watchers_inbox;
  r->watchers_inbox = NULL;
  pthread_mutex_unlock(&r->e->lock);
  while (list) {
    pier_watch *w = list;
    list = w->next;
    if (r->final_doc) { /* already over: the final document at once */
      post_msg(r->e, w, true, r->final_doc, r->final_len);
      watch_unref(w);
      continue;
    }
    w->next = r->watchers;
    r->watchers = w;
    if (r->step) { /* joined mid-step: tell this watcher which step is running */
      cJSON *rec = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(r->doc, "steps"), r->step->name);
      pier_watch *rest = w->next;
      w->next = NULL;
      r->watchers = w;
      pier_run_notify(r, "step_started", rec);
      pier_run_notify_progress(r, r->step->name, pier_buf_slice(&r->step->progress));
      w->next = rest;
      r->watchers = w;
    }
  }
}

void pier_watch_close(pier_watch *w) {
  if (!w) return;
  atomic_store(&w->closed, true);
  watch_unref(w);
}

/* Does any watcher take events (run-sync waiters only want the end)? */
static bool wants_events(const pier_run *r) {
  for (const pier_watch *w = r->watchers; w; w = w->next)
    if (w->cbs.on_event && !atomic_load(&w->closed)) return true;
  return false;
}

/* {"event", "trajectory_id", "status", ...o} as an SSE frame to every watcher
 * that takes events; takes o. */
static void broadcast(pier_run *r, const char *event, cJSON *o) {
  cJSON_AddStringToObject(o, "event", event);
  cJSON_AddStringToObject(o, "trajectory_id", r->id);
  cJSON_AddStringToObject(o, "status", cJSON_GetObjectItemCaseSensitive(r->doc, "status")->valuestring);
  char *json = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  if (!json) return;
  pier_buf frame;
  pier_buf_init(&frame, 0);
  if (pier_buf_appendf(&frame, "event: %s\ndata: %s\n\n", event, json) == 0)
    for (pier_watch *w = r->watchers; w; w = w->next)
      if (w->cbs.on_event && !atomic_load(&w->closed)) post_msg(r->e, w, false, frame.ptr, frame.len);
  pier_buf_dispose(&frame);
  cJSON_free(json);
}

void pier_run_notify(pier_run *r, const char *event, const cJSON *data) {
  if (!wants_events(r)) return;
  cJSON *o = cJSON_CreateObject();
  if (data) cJSON_AddItemReferenceToObject(o, "step", (cJSON *)data);
  broadcast(r, event, o);
}

void pier_run_notify_progress(pier_run *r, const char *step, pier_slice text) {
  if (!text.len || !wants_events(r)) return;
  char *t = pier_slice_dup(text);
  if (!t) return;
  pier_utf8_sanitize(t);
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "step_name", step);
  cJSON_AddStringToObject(o, "text", t);
  free(t);
  broadcast(r, "step_progress", o);
}

void pier_run_end_watchers(pier_run *r) {
  pier_watch *w = r->watchers;
  r->watchers = NULL;
  while (w) {
    pier_watch *next = w->next;
    post_msg(r->e, w, true, r->final_doc, r->final_len);
    watch_unref(w);
    w = next;
  }
}

/* Engine shutting down or the run paused: release watchers without a doc. */
void pier_run_drop_watchers(pier_run *r) {
  pier_watch *w = r->watchers;
  r->watchers = NULL;
  while (w) {
    pier_watch *next = w->next;
    post_msg(r->e, w, true, NULL, 0);
    watch_unref(w);
    w = next;
  }
}
