/* mailbox.c — intrusive MPSC queue drained by a uv_async_t. uv_async_send
 * coalesces wake-ups, so the drain loop takes everything queued at once. */
#include "base/mailbox.h"

static void drain(uv_async_t *a) {
  pier_mailbox *mb = a->data;
  pthread_mutex_lock(&mb->lock);
  pier_mail *m = mb->head;
  mb->head = mb->tail = NULL;
  pthread_mutex_unlock(&mb->lock);
  while (m) {
    pier_mail *next = m->next; /* m may be freed by its fn */
    m->fn(m->arg);
    m = next;
  }
}

int pier_mailbox_init(pier_mailbox *mb, uv_loop_t *loop) {
  mb->head = mb->tail = NULL;
  mb->promised = 0;
  if (pthread_mutex_init(&mb->lock, NULL)) return PIER_ENOMEM;
  if (uv_async_init(loop, &mb->async, drain)) return PIER_EIO;
  mb->async.data = mb;
  return 0;
}

void pier_mailbox_close(pier_mailbox *mb) {
  drain(&mb->async);
  uv_close((uv_handle_t *)&mb->async, NULL);
}

void pier_mailbox_post(pier_mailbox *mb, pier_mail *m, pier_mail_fn fn, void *arg) {
  m->next = NULL;
  m->fn = fn;
  m->arg = arg;
  pthread_mutex_lock(&mb->lock);
  if (mb->tail) mb->tail->next = m;
  else mb->head = m;
  mb->tail = m;
  pthread_mutex_unlock(&mb->lock);
  uv_async_send(&mb->async);
}

void pier_mailbox_hold(pier_mailbox *mb) {
  pthread_mutex_lock(&mb->lock);
  mb->promised++;
  pthread_mutex_unlock(&mb->lock);
}

void pier_mailbox_release(pier_mailbox *mb) {
  pthread_mutex_lock(&mb->lock);
  mb->promised--;
  pthread_mutex_unlock(&mb->lock);
}

int pier_mailbox_promised(pier_mailbox *mb) {
  pthread_mutex_lock(&mb->lock);
  int n = mb->promised;
  pthread_mutex_unlock(&mb->lock);
  return n;
}
