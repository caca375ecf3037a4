/* engine_int.h — private structs of the engine (engine.c, run.c, step.c,
 * llmstep.c, watch.c, webhook.c). Lock order: engine->lock before nothing else. */
#ifndef PIER_ENGINE_ENGINE_INT_H
#define PIER_ENGINE_ENGINE_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "base/buf.h"
#include "base/map.h"
#include "engine/activity.h"
#include "engine/engine.h"

#define PIER_ENGINE_EXECUTORS_MAX 64
#define PIER_STEP_PROGRESS_MAX (64u * 1024) /* live text kept for watchers joining mid-step */

typedef enum run_state {
  RUN_QUEUED,   /* persisted pending, waiting for a slot */
  RUN_STARTING, /* loading the environment */
  RUN_STEP,     /* a step is executing */
  RUN_SAVING,   /* persisting after a step */
  RUN_ENDED,
} run_state;

typedef struct pier_op pier_op; /* an in-flight async operation of a step */

struct pier_step {
  pier_run *run;
  char *name;
  const pier_activity *act;
  cJSON *inputs;   /* resolved config (owned) */
  cJSON *outputs;  /* owned */
  cJSON *attempts; /* owned array or NULL */
  pier_usage usage;
  double cost_usd;
  int api_calls;
  int64_t started_us;
  void *state;
  pier_op *ops;    /* in flight */
  char *goto_step;
  pier_buf progress; /* live text so far (capped), replayed to watchers that join mid-step */
  bool ended, cancelled;
};

struct pier_run {
  pier_engine *e;
  pier_executor *ex;
  atomic_int refs;
  char id[16];
  int64_t collection_id;
  char *collection, *task, *parent_id, *author;
  cJSON *doc;       /* the trajectory document (owned) */
  cJSON *secrets;   /* secret_params (owned) or NULL */
  cJSON *env;       /* collection env + secrets (owned), loaded at start */
  char *webhook_url, *webhook_secret;
  run_state state;
  int step_index;
  pier_step *step;
  bool cancel_requested, queued, counted, paused;
  char *final_doc;  /* serialised doc once ended */
  size_t final_len;
  pier_watch *watchers;       /* attached (run's loop) */
  pier_watch *watchers_inbox; /* waiting to attach (engine lock) */
  pier_run *qnext;  /* queue link */
  int64_t created_us;
  uint64_t started_ms;
  pier_buf secrets_box;
  unsigned char secrets_nonce[PIER_SEAL_NONCE_BYTES];
  /* continuation after a persist */
  void (*after_save)(pier_run *r, int rc);
  bool saving;
  bool stored;      /* the first insert succeeded (later saves update) */
  bool restored;    /* read back from the store at start-up (a resumed run) */
  int id_tries;
  /* submitter's callback, called once the first state is durable */
  pier_run_created_fn created_cb;
  void *created_arg;
};

struct pier_engine {
  pier_store *store;
  pier_engine_config cfg;
  char *data_dir;
  pier_env_load_fn env_load;
  void *env_ctx;
  pthread_mutex_t lock;
  pier_map runs; /* id -> pier_run* (one ref) */
  pier_executor *exs[PIER_ENGINE_EXECUTORS_MAX];
  int nexs, rr;
  pier_run *qhead, *qtail; /* queued runs */
  struct pier_webhook *webhooks; /* deliveries in progress (lock) */
  int queued, running;
  bool shutting_down;
};

/* engine.c */
void pier_run_ref(pier_run *r);
void pier_run_unref(pier_run *r);
/* Post fn(r) to r's loop, holding a ref for the trip. false if the loop is gone. */
bool pier_run_post(pier_run *r, void (*fn)(pier_run *r));
/* A slot freed: admit the next queued run (any thread). */
void pier_engine_admit(pier_engine *e);
void pier_engine_forget(pier_engine *e, pier_run *r); /* registry removal at the end */

/* run.c */
pier_run *pier_run_new(pier_engine *e, pier_executor *ex);
void pier_run_free(pier_run *r);
void pier_run_start(pier_run *r);          /* on r's loop */
void pier_run_cancel_here(pier_run *r);    /* on r's loop */
void pier_run_pause(pier_run *r);          /* loop stopping: drop in-flight work, keep the durable state */
int pier_run_doc_init(pier_run *r, const pier_run_spec *spec) PIER_WUR;
void pier_run_persist(pier_run *r, void (*then)(pier_run *r, int rc));
int pier_run_seal_secrets(pier_run *r) PIER_WUR;
/* A step ended (status completed|failed|cancelled): record it, persist, go on. */
void pier_run_step_ended(pier_run *r, pier_step *s, const char *status, const char *error);
/* Copy of v with every secret value of env replaced by "[REDACTED]". */
cJSON *pier_redact(const cJSON *v, const cJSON *env);
/* The same for one string: a heap copy with secrets replaced, or NULL when
 * nothing had to change. */
char *pier_redact_str(const char *in, const cJSON *env);

/* watch.c */
void pier_run_notify(pier_run *r, const char *event, const cJSON *data); /* to every watcher */
/* A live "step_progress" event {step_name, text} (not stored in the trajectory). */
void pier_run_notify_progress(pier_run *r, const char *step, pier_slice text);
void pier_run_end_watchers(pier_run *r);                                /* final doc / NULL */
void pier_run_drop_watchers(pier_run *r);                               /* end them without a doc */
pier_watch *pier_watch_new(pier_executor *ex, const pier_watch_cbs *cbs, pier_run *r);

/* step.c */
pier_step *pier_step_new(pier_run *r, const char *name, const pier_activity *act, cJSON *inputs);
void pier_step_free(pier_step *s);
void pier_step_cancel_ops(pier_step *s);
/* llmstep.c: ops */
struct pier_op {
  pier_op *next;
  void (*cancel)(pier_op *op);
};
void pier_step_op_add(pier_step *s, pier_op *op);
void pier_step_op_remove(pier_step *s, pier_op *op);

/* webhook.c */
void pier_webhook_send(pier_run *r);
/* The loop of ex is stopping: drop its deliveries (on that loop). */
void pier_webhook_drop_executor(pier_engine *e, pier_executor *ex);

/* price.c */
double pier_price_cost(const char *model, const pier_usage *u);

#endif
