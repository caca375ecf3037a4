/* mailbox.h — post a function to run on a libuv loop from any thread.
 * Worker threads (store, resolver) hand results back to a loop through this;
 * callbacks run on the loop thread in FIFO order. */
#ifndef PIER_BASE_MAILBOX_H
#define PIER_BASE_MAILBOX_H

#include <pthread.h>
#include <uv.h>

#include "base/error.h"

typedef void (*pier_mail_fn)(void *arg);

typedef struct pier_mail {
  struct pier_mail *next;
  pier_mail_fn fn;
  void *arg;
} pier_mail;

typedef struct pier_mailbox {
  uv_async_t async;
  pthread_mutex_t lock;
  pier_mail *head, *tail;
  int promised; /* mail announced with _hold and not yet delivered */
} pier_mailbox;

/* Must be called on the loop's thread. */
int pier_mailbox_init(pier_mailbox *mb, uv_loop_t *loop) PIER_WUR;
/* Closes the async handle; pending mail is run first. On the loop's thread. */
void pier_mailbox_close(pier_mailbox *mb);
/* Any thread. `m` is caller-owned storage that must live until fn runs (embed it
 * in the job). */
void pier_mailbox_post(pier_mailbox *mb, pier_mail *m, pier_mail_fn fn, void *arg);
/* Announce mail that will come later (e.g. a store job's completion): the
 * owner does not close the mailbox while promises are outstanding. _release
 * once the promised mail has been handled (or will never come). Any thread. */
void pier_mailbox_hold(pier_mailbox *mb);
void pier_mailbox_release(pier_mailbox *mb);
int pier_mailbox_promised(pier_mailbox *mb);

#endif
