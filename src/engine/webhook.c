/* webhook.c — completion callbacks (Jetty's X-Mise-* contract): POST the
 * trajectory payload to webhook_url, signed hex(HMAC-SHA256(secret,
 * "{timestamp}.{body}")), retried with backoff on 429/5xx/network errors. The
 * webhook owns copies of everything; the run may be gone meanwhile. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/log.h"
#include "base/util.h"
#include "engine/engine_int.h"

typedef struct pier_webhook webhook;
struct pier_webhook {
  pier_engine *e;
  webhook *next; /* in e->webhooks */
  pier_upstream_req *ur;
  pier_executor *ex;
  char *url, *secret, *body;
  char id[16];
  int attempt, max_attempts;
  uint64_t base_ms;
  uv_timer_t timer;
};

static void unlink_wh(webhook *w) {
  pthread_mutex_lock(&w->e->lock);
  for (webhook **p = &w->e->webhooks; *p; p = &(*p)->next)
    if (*p == w) {
      *p = w->next;
      break;
    }
  pthread_mutex_unlock(&w->e->lock);
}

static void wh_free(uv_handle_t *h);

/* Finished (or given up): out of the list, timer closed, freed. */
static void wh_end(webhook *w) {
  unlink_wh(w);
  uv_close((uv_handle_t *)&w->timer, wh_free);
}

static void wh_free(uv_handle_t *h) {
  webhook *w = h->data;
  if (w->secret) sodium_memzero(w->secret, strlen(w->secret));
  free(w->url);
  free(w->secret);
  free(w->body);
  free(w);
}

static void wh_send(webhook *w);

static void on_timer(uv_timer_t *t) { wh_send(t->data); }

static void on_done(pier_upstream_req *r, void *arg, const pier_upstream_result *res) {
  (void)r;
  webhook *w = arg;
  w->ur = NULL;
  bool ok = res->fail == PIER_UP_OK && res->status >= 200 && res->status < 300;
  bool retry = !ok && (res->fail != PIER_UP_OK || res->status == 429 || res->status >= 500);
  if (ok || !retry || w->attempt >= w->max_attempts) {
    if (!ok)
      PIER_LOG(PIER_LOG_WARN, "webhook", "run=%s webhook gave up after %d attempt(s): %s", w->id, w->attempt,
               res->fail != PIER_UP_OK ? (res->detail ? res->detail : "no answer") : "HTTP error status");
    wh_end(w);
    return;
  }
  uint64_t wait = w->base_ms << (w->attempt - 1 < 10 ? w->attempt - 1 : 10);
  uv_timer_start(&w->timer, on_timer, wait / 2 + randombytes_uniform((uint32_t)(wait / 2 + 1)), 0);
}

static int add(pier_upstream_req *ur, const char *name, const char *value) {
  char line[512];
  snprintf(line, sizeof line, "%s: %s", name, value);
  return pier_upstream_req_header(ur, line);
}

static void wh_send(webhook *w) {
  w->attempt++;
  pier_upstream_opts uo = {.method = "POST", .url = w->url, .connect_timeout_ms = 10000, .total_timeout_ms = 30000,
                           .response_bytes_max = 1 << 20, .arg = w, .on_done = on_done};
  pier_upstream_req *ur;
  if (pier_upstream_req_new(w->ex->up, &uo, &ur) != 0) {
    wh_end(w);
    return;
  }
  char ts[24];
  snprintf(ts, sizeof ts, "%lld", (long long)time(NULL));
  int rc = add(ur, "Content-Type", "application/json");
  if (!rc) rc = add(ur, "X-Mise-Timestamp", ts);
  if (!rc) rc = add(ur, "X-Mise-Trajectory-Id", w->id);
  if (!rc && w->secret) {
    crypto_auth_hmacsha256_state st;
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    char hex[2 * sizeof mac + 1];
    crypto_auth_hmacsha256_init(&st, (const unsigned char *)w->secret, strlen(w->secret));
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)ts, strlen(ts));
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)".", 1);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)w->body, strlen(w->body));
    crypto_auth_hmacsha256_final(&st, mac);
    sodium_memzero(&st, sizeof st);
    pier_hex(mac, sizeof mac, hex);
    rc = add(ur, "X-Mise-Signature", hex);
  }
  pier_buf b;
  pier_buf_init(&b, 0);
  if (!rc) rc = pier_buf_append_cstr(&b, w->body);
  if (!rc) pier_upstream_req_body(ur, &b);
  pier_buf_dispose(&b);
  if (!rc) rc = pier_upstream_req_start(ur);
  if (rc) {
    pier_upstream_cancel(ur);
    wh_end(w);
    return;
  }
  w->ur = ur;
}

/* Jetty's payload: the trajectory's identity, status and steps. */
static char *payload(pier_run *r) {
  static const char *keys[] = {"name", "trajectory_id", "status", "storage_path", "steps", "completed_steps",
                               "total_steps", "init_params", "labels", "error", "created", "updated", NULL};
  cJSON *o = cJSON_CreateObject();
  for (int i = 0; keys[i]; i++) {
    cJSON *v = cJSON_GetObjectItemCaseSensitive(r->doc, keys[i]);
    if (v) cJSON_AddItemReferenceToObject(o, keys[i], v);
  }
  char *s = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  return s;
}

void pier_webhook_send(pier_run *r) {
  webhook *w = calloc(1, sizeof *w);
  if (!w) return;
  w->e = r->e;
  w->ex = r->ex;
  w->url = strdup(r->webhook_url);
  w->secret = r->webhook_secret ? strdup(r->webhook_secret) : NULL;
  w->body = payload(r);
  snprintf(w->id, sizeof w->id, "%s", r->id);
  w->max_attempts = 1 + (r->e->cfg.webhook_retries > 0 ? r->e->cfg.webhook_retries : 0);
  w->base_ms = r->e->cfg.webhook_retry_base_ms ? r->e->cfg.webhook_retry_base_ms : 1000;
  uv_timer_init(r->ex->loop, &w->timer);
  w->timer.data = w;
  pthread_mutex_lock(&w->e->lock);
  w->next = w->e->webhooks;
  w->e->webhooks = w;
  pthread_mutex_unlock(&w->e->lock);
  if (!w->url || !w->body) {
    wh_end(w);
    return;
  }
  wh_send(w);
}

void pier_webhook_drop_executor(pier_engine *e, pier_executor *ex) {
  for (;;) {
    webhook *w = NULL;
    pthread_mutex_lock(&e->lock);
    for (webhook *p = e->webhooks; p && !w; p = p->next)
      if (p->ex == ex) w = p;
    pthread_mutex_unlock(&e->lock);
    if (!w) return;
    PIER_LOG(PIER_LOG_WARN, "webhook", "run=%s webhook not delivered: the server is stopping", w->id);
    if (w->ur) pier_upstream_cancel(w->ur);
    w->ur = NULL;
    uv_timer_stop(&w->timer);
    wh_end(w);
  }
}
