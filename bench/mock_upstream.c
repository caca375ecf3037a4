/* mock_upstream.c — a fast mock of AWS Bedrock Runtime and of the OpenAI chat
 * completions API for pier's benchmark (libuv + llhttp + zlib's CRC-32). Every
 * reply is built once at start-up and written from static memory: the mock must
 * cost far less than what it measures.
 *
 *   POST /model/{id}/converse          200, fixed Converse JSON (Content-Length)
 *   POST /model/{id}/converse-stream   200, chunked application/vnd.amazon.eventstream:
 *        messageStart, contentBlockDelta x K, contentBlockStop, messageStop, metadata
 *        (one frame per HTTP chunk, CRCs correct, Bedrock-style "p" padding)
 *   POST /v1/chat/completions          200, fixed OpenAI chat.completion JSON (Content-Length);
 *        with "stream": true in the body, chunked text/event-stream of
 *        chat.completion.chunk frames: role, content delta x K, finish_reason,
 *        [usage-only chunk if "include_usage": true], data: [DONE]
 *        (one SSE frame per HTTP chunk, so K+4 chunks like the Converse stream)
 *   GET  /__stats                      counters as JSON (connections, requests, ...)
 * Streams: with --frame-delay-ms D one frame every D ms (the stream stays open).
 * Any Authorization is accepted. The body is read and ignored, except that the
 * chat completions route scans it, without copying, for "stream" and
 * "include_usage" set to true.
 * HTTP/1.1 keep-alive; pipelined requests are answered in order. */
#define _GNU_SOURCE
#include <errno.h>
#include <llhttp.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>
#include <zlib.h>

#define URL_MAX 1024
#define FRAMES_MAX 4100

typedef struct piece {
  const char *ptr;
  size_t len;
} piece;

/* A chunked stream reply. */
typedef struct stream_set {
  piece head;               /* status line + headers */
  piece chunk[FRAMES_MAX];  /* "<hex>\r\n" frame "\r\n" */
  int n;
  piece all;                /* head + every chunk + last-chunk, for --frame-delay-ms 0 */
} stream_set;

/* Replies, immutable after build_replies(). */
static piece converse_reply;          /* whole response: head + body */
static stream_set es_stream;          /* Bedrock converse-stream */
static piece chat_reply;              /* OpenAI chat.completion: head + body */
static stream_set sse_stream;         /* OpenAI "stream": true */
static stream_set sse_usage_stream;   /* ... with stream_options.include_usage (what pier sends) */
static const char stream_end[] = "0\r\n\r\n";
static const char notfound_reply[] =
    "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: 36\r\n"
    "x-amzn-ErrorType: UnknownOperationException:http://internal.amazon.com/coral/com.amazon.coral.service/\r\n\r\n"
    "{\"message\":\"UnknownOperationException\"}";

static struct {
  int deltas;
  const char *text;
  unsigned frame_delay_ms;
  int threads;
  char host[64];
  int port;
} opt = {8, "Hello! ", 0, 1, "127.0.0.1", 0};

static atomic_long st_conns, st_open_conns, st_requests, st_converse, st_streams, st_open_streams, st_other, st_chat,
    st_chat_streams;

enum { R_NONE, R_CONVERSE, R_STREAM, R_CHAT, R_STATS, R_404 };

/* Finds `"key" ws* : ws* true` in a body that arrives in pieces, without
 * copying it (pat is the key with its quotes; its only '"' are first and last). */
typedef struct kmatch {
  const char *pat;
  unsigned len, st;
  bool hit;
} kmatch;

typedef struct conn {
  uv_tcp_t tcp;
  uv_timer_t timer;
  llhttp_t parser;
  char url[URL_MAX];
  size_t url_len;
  int route;
  kmatch want_stream, want_usage; /* chat completions: "stream": true, "include_usage": true */
  const stream_set *ss;           /* the stream being written */
  bool keep_alive;
  bool streaming; /* an async stream is being written; parsing is paused */
  bool closing;
  int next_chunk;
  char *held;     /* bytes received while paused, parsed when the stream ends */
  size_t held_len;
  int handles;    /* tcp + timer still open */
} conn;

typedef struct wreq {
  uv_write_t w;
  conn *c;
  bool close_after;
  char *owned; /* freed with the request (used by /__stats only) */
} wreq;

/* ---- replies ------------------------------------------------------------------------ */

static char *xmalloc(size_t n) {
  char *p = malloc(n);
  if (!p) {
    fprintf(stderr, "mock_upstream: out of memory\n");
    exit(1);
  }
  return p;
}

static size_t put_u32(unsigned char *p, uint32_t v) {
  p[0] = (unsigned char)(v >> 24);
  p[1] = (unsigned char)(v >> 16);
  p[2] = (unsigned char)(v >> 8);
  p[3] = (unsigned char)v;
  return 4;
}

static size_t put_str_header(unsigned char *p, const char *name, const char *value) {
  size_t nl = strlen(name), vl = strlen(value), o = 0;
  p[o++] = (unsigned char)nl;
  memcpy(p + o, name, nl);
  o += nl;
  p[o++] = 7; /* string */
  p[o++] = (unsigned char)(vl >> 8);
  p[o++] = (unsigned char)vl;
  memcpy(p + o, value, vl);
  return o + vl;
}

/* One eventstream frame (bedrock.md 4.1) wrapped as one HTTP chunk. */
static piece event_chunk(const char *event_type, const char *payload) {
  unsigned char hdr[512], *f;
  size_t hl = 0, pl = strlen(payload);
  hl += put_str_header(hdr + hl, ":event-type", event_type);
  hl += put_str_header(hdr + hl, ":content-type", "application/json");
  hl += put_str_header(hdr + hl, ":message-type", "event");
  size_t total = 12 + hl + pl + 4;
  f = (unsigned char *)xmalloc(total);
  put_u32(f, (uint32_t)total);
  put_u32(f + 4, (uint32_t)hl);
  put_u32(f + 8, (uint32_t)crc32(0L, f, 8));
  memcpy(f + 12, hdr, hl);
  memcpy(f + 12 + hl, payload, pl);
  put_u32(f + total - 4, (uint32_t)crc32(0L, f, (uInt)(total - 4)));
  char *c = xmalloc(total + 32);
  int n = snprintf(c, 32, "%zx\r\n", total);
  memcpy(c + n, f, total);
  memcpy(c + n + total, "\r\n", 2);
  free(f);
  return (piece){c, (size_t)n + total + 2};
}

/* JSON-escape the delta text (it comes from the command line). */
static char *json_escape(const char *s) {
  char *o = xmalloc(strlen(s) * 6 + 1), *p = o;
  for (; *s; s++) {
    unsigned char ch = (unsigned char)*s;
    if (ch == '"' || ch == '\\') *p++ = '\\', *p++ = (char)ch;
    else if (ch < 0x20) p += sprintf(p, "\\u%04x", ch);
    else *p++ = (char)ch;
  }
  *p = '\0';
  return o;
}

/* One SSE frame, "data: <payload>\n\n", as one HTTP chunk. */
static piece sse_chunk(const char *payload) {
  size_t pl = strlen(payload), fl = 6 + pl + 2;
  char *c = xmalloc(fl + 32);
  int n = snprintf(c, 32, "%zx\r\n", fl);
  memcpy(c + n, "data: ", 6);
  memcpy(c + n + 6, payload, pl);
  memcpy(c + n + 6 + pl, "\n\n\r\n", 4);
  return (piece){c, (size_t)n + fl + 2};
}

/* head + every chunk + last-chunk in one piece, for --frame-delay-ms 0. */
static void finish_stream(stream_set *ss) {
  size_t total = ss->head.len + sizeof stream_end - 1;
  for (int i = 0; i < ss->n; i++) total += ss->chunk[i].len;
  char *s = xmalloc(total), *p = s;
  memcpy(p, ss->head.ptr, ss->head.len), p += ss->head.len;
  for (int i = 0; i < ss->n; i++) memcpy(p, ss->chunk[i].ptr, ss->chunk[i].len), p += ss->chunk[i].len;
  memcpy(p, stream_end, sizeof stream_end - 1);
  ss->all = (piece){s, total};
}

static void build_replies(void) {
  char *text = json_escape(opt.text);
  int in_tok = 8, out_tok = opt.deltas;
  char pay[4096];

  /* Converse: the same text the stream carries, in one block. */
  size_t tl = strlen(text);
  char *all = xmalloc(tl * (size_t)opt.deltas + 1);
  for (int i = 0; i < opt.deltas; i++) memcpy(all + tl * (size_t)i, text, tl);
  all[tl * (size_t)opt.deltas] = '\0';
  size_t bcap = strlen(all) + 512;
  char *body = xmalloc(bcap);
  int bl = snprintf(body, bcap,
                    "{\"metrics\":{\"latencyMs\":123},\"output\":{\"message\":{\"content\":[{\"text\":\"%s\"}],"
                    "\"role\":\"assistant\"}},\"stopReason\":\"end_turn\",\"usage\":{\"inputTokens\":%d,"
                    "\"outputTokens\":%d,\"totalTokens\":%d}}",
                    all, in_tok, out_tok, in_tok + out_tok);
  char *r = xmalloc((size_t)bl + 256);
  int rl = snprintf(r, 256,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
                    "x-amzn-RequestId: 0b7f1ed4-5b8a-4c1e-9a55-bench0000001\r\n\r\n",
                    bl);
  memcpy(r + rl, body, (size_t)bl);
  converse_reply = (piece){r, (size_t)rl + (size_t)bl};
  free(body);
  char *alltext = all;

  stream_set *es = &es_stream;
  es->head.ptr = "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.amazon.eventstream\r\n"
                 "Transfer-Encoding: chunked\r\nx-amzn-RequestId: 0b7f1ed4-5b8a-4c1e-9a55-bench0000002\r\n\r\n";
  es->head.len = strlen(es->head.ptr);
  int n = 0;
  es->chunk[n++] = event_chunk("messageStart", "{\"p\":\"abcdefghijklmnopqrstuvwxyzABCDEFGH\",\"role\":\"assistant\"}");
  for (int i = 0; i < opt.deltas; i++) {
    snprintf(pay, sizeof pay, "{\"contentBlockIndex\":0,\"delta\":{\"text\":\"%s\"},\"p\":\"abcdefghijk\"}", text);
    es->chunk[n++] = event_chunk("contentBlockDelta", pay);
  }
  es->chunk[n++] = event_chunk("contentBlockStop", "{\"contentBlockIndex\":0,\"p\":\"abcdefghijklmnopqrstuvw\"}");
  es->chunk[n++] = event_chunk("messageStop", "{\"p\":\"abcdefghijklmnopqrstuvwxyzABCDEFGHIJ\",\"stopReason\":\"end_turn\"}");
  snprintf(pay, sizeof pay,
           "{\"metrics\":{\"latencyMs\":123},\"p\":\"abcdefghijklmnopqrstuvwxyzABCDEF\",\"usage\":{\"inputTokens\":%d,"
           "\"outputTokens\":%d,\"totalTokens\":%d}}",
           in_tok, out_tok, in_tok + out_tok);
  es->chunk[n++] = event_chunk("metadata", pay);
  es->n = n;
  finish_stream(es);

  /* OpenAI: the same text, tokens and finish as the Converse replies. */
  static const char id[] = "\"id\":\"chatcmpl-Bbench00000000000000000001\"";
  static const char meta[] = "\"created\":1764250000,\"model\":\"gpt-4o-mini-2024-07-18\"";
  char usage[512];
  snprintf(usage, sizeof usage,
           "{\"prompt_tokens\":%d,\"completion_tokens\":%d,\"total_tokens\":%d,\"prompt_tokens_details\":"
           "{\"cached_tokens\":0,\"audio_tokens\":0},\"completion_tokens_details\":{\"reasoning_tokens\":0,"
           "\"audio_tokens\":0,\"accepted_prediction_tokens\":0,\"rejected_prediction_tokens\":0}}",
           in_tok, out_tok, in_tok + out_tok);
  bcap = strlen(alltext) + 2048;
  body = xmalloc(bcap);
  bl = snprintf(body, bcap,
                "{%s,\"object\":\"chat.completion\",%s,\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
                "\"content\":\"%s\",\"refusal\":null,\"annotations\":[]},\"logprobs\":null,\"finish_reason\":\"stop\"}],"
                "\"usage\":%s,\"service_tier\":\"default\",\"system_fingerprint\":\"fp_bench00001\"}",
                id, meta, alltext, usage);
  r = xmalloc((size_t)bl + 256);
  rl = snprintf(r, 256,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
                "x-request-id: req_bench000000000000000000000001\r\nopenai-processing-ms: 123\r\n\r\n",
                bl);
  memcpy(r + rl, body, (size_t)bl);
  chat_reply = (piece){r, (size_t)rl + (size_t)bl};
  free(body);
  free(alltext);

  for (int u = 0; u < 2; u++) {
    stream_set *ss = u ? &sse_usage_stream : &sse_stream;
    const char *tail = u ? ",\"usage\":null}" : "}"; /* OpenAI adds usage:null to each chunk then */
    ss->head.ptr = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\nTransfer-Encoding: chunked\r\n"
                   "x-request-id: req_bench000000000000000000000002\r\nopenai-processing-ms: 123\r\n\r\n";
    ss->head.len = strlen(ss->head.ptr);
    n = 0;
#define CHUNK_FMT "{%s,\"object\":\"chat.completion.chunk\",%s,\"service_tier\":\"default\",\"system_fingerprint\":\"fp_bench00001\",\"choices\":"
    snprintf(pay, sizeof pay,
             CHUNK_FMT "[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\",\"refusal\":null},\"logprobs\":null,"
                       "\"finish_reason\":null}]%s",
             id, meta, tail);
    ss->chunk[n++] = sse_chunk(pay);
    for (int i = 0; i < opt.deltas; i++) {
      snprintf(pay, sizeof pay,
               CHUNK_FMT "[{\"index\":0,\"delta\":{\"content\":\"%s\"},\"logprobs\":null,\"finish_reason\":null}]%s", id,
               meta, text, tail);
      ss->chunk[n++] = sse_chunk(pay);
    }
    snprintf(pay, sizeof pay, CHUNK_FMT "[{\"index\":0,\"delta\":{},\"logprobs\":null,\"finish_reason\":\"stop\"}]%s", id,
             meta, tail);
    ss->chunk[n++] = sse_chunk(pay);
    if (u) {
      snprintf(pay, sizeof pay, CHUNK_FMT "[],\"usage\":%s}", id, meta, usage);
      ss->chunk[n++] = sse_chunk(pay);
    }
#undef CHUNK_FMT
    ss->chunk[n++] = sse_chunk("[DONE]");
    ss->n = n;
    finish_stream(ss);
  }
  free(text);
}

/* ---- connections ----------------------------------------------------------------------- */

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf);
static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);
static void feed(conn *c, const char *data, size_t len);

static void on_handle_closed(uv_handle_t *h) {
  conn *c = h->data;
  if (--c->handles == 0) {
    free(c->held);
    free(c);
  }
}

static void conn_close(conn *c) {
  if (c->closing) return;
  c->closing = true;
  if (c->streaming) atomic_fetch_sub(&st_open_streams, 1);
  atomic_fetch_sub(&st_open_conns, 1);
  uv_timer_stop(&c->timer);
  uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
  uv_close((uv_handle_t *)&c->timer, on_handle_closed);
}

static void on_written(uv_write_t *w, int status) {
  wreq *wr = (wreq *)w;
  conn *c = wr->c;
  if (status < 0 || wr->close_after) conn_close(c);
  free(wr->owned);
  free(wr);
}

/* Write static bytes: try the fast path (no allocation), queue what is left. */
static void send_bufs(conn *c, uv_buf_t *bufs, unsigned nbufs, bool close_after, char *owned) {
  if (c->closing) {
    free(owned);
    return;
  }
  int n = uv_try_write((uv_stream_t *)&c->tcp, bufs, nbufs);
  if (n == UV_EAGAIN) n = 0;
  if (n < 0) {
    free(owned);
    conn_close(c);
    return;
  }
  size_t done = (size_t)n;
  unsigned i = 0;
  while (i < nbufs && done >= bufs[i].len) done -= bufs[i++].len;
  if (i == nbufs) {
    free(owned);
    if (close_after) conn_close(c);
    return;
  }
  bufs[i].base += done;
  bufs[i].len -= done;
  wreq *wr = (wreq *)xmalloc(sizeof *wr);
  wr->c = c;
  wr->close_after = close_after;
  wr->owned = owned;
  if (uv_write(&wr->w, (uv_stream_t *)&c->tcp, bufs + i, nbufs - i, on_written) != 0) {
    free(owned);
    free(wr);
    conn_close(c);
  }
}

static void send_piece(conn *c, piece p, bool close_after) {
  uv_buf_t b = uv_buf_init((char *)p.ptr, (unsigned)p.len);
  send_bufs(c, &b, 1, close_after, NULL);
}

static void stream_done(conn *c);

static void on_frame_timer(uv_timer_t *t) {
  conn *c = t->data;
  if (c->closing) return;
  const stream_set *ss = c->ss;
  uv_buf_t b[2];
  unsigned nb = 0;
  b[nb++] = uv_buf_init((char *)ss->chunk[c->next_chunk].ptr, (unsigned)ss->chunk[c->next_chunk].len);
  c->next_chunk++;
  bool last = c->next_chunk == ss->n;
  if (last) b[nb++] = uv_buf_init((char *)stream_end, sizeof stream_end - 1);
  send_bufs(c, b, nb, last && !c->keep_alive, NULL);
  if (last) stream_done(c);
  else if (!c->closing) uv_timer_start(&c->timer, on_frame_timer, opt.frame_delay_ms, 0);
}

static void stream_done(conn *c) {
  uv_timer_stop(&c->timer);
  if (c->closing) return;
  c->streaming = false;
  atomic_fetch_sub(&st_open_streams, 1);
  if (!c->keep_alive) return; /* closed once the last write is out */
  llhttp_resume(&c->parser);
  char *held = c->held;
  size_t hl = c->held_len;
  c->held = NULL;
  c->held_len = 0;
  uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
  if (hl) feed(c, held, hl);
  free(held);
}

static void send_stats(conn *c) {
  char *b = xmalloc(1024);
  char body[600];
  int bl = snprintf(body, sizeof body,
                    "{\"connections\":%ld,\"open_connections\":%ld,\"requests\":%ld,\"converse\":%ld,"
                    "\"streams\":%ld,\"chat_completions\":%ld,\"chat_streams\":%ld,\"open_streams\":%ld,"
                    "\"other\":%ld}",
                    atomic_load(&st_conns), atomic_load(&st_open_conns), atomic_load(&st_requests),
                    atomic_load(&st_converse), atomic_load(&st_streams), atomic_load(&st_chat),
                    atomic_load(&st_chat_streams), atomic_load(&st_open_streams), atomic_load(&st_other));
  int n = snprintf(b, 1024, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", bl,
                   body);
  uv_buf_t ub = uv_buf_init(b, (unsigned)n);
  send_bufs(c, &ub, 1, !c->keep_alive, b);
}

/* ---- parser callbacks ------------------------------------------------------------------- */

static int on_message_begin(llhttp_t *p) {
  conn *c = p->data;
  c->url_len = 0;
  c->route = R_NONE;
  c->want_stream = (kmatch){.pat = "\"stream\"", .len = 8};
  c->want_usage = (kmatch){.pat = "\"include_usage\"", .len = 15};
  return 0;
}

static bool is_ws(char ch) { return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n'; }

static void km_feed(kmatch *m, const char *p, size_t n) {
  static const char rue[] = "rue";
  const unsigned L = m->len;
  unsigned s = m->st;
  for (size_t i = 0; i < n && !m->hit; i++) {
    char ch = p[i];
    if (s < L) s = ch == m->pat[s] ? s + 1 : ch == '"';            /* the key, quotes included */
    else if (s == L) s = ch == ':' ? s + 1 : is_ws(ch) ? s : ch == '"'; /* ws* ':' */
    else if (s == L + 1) s = ch == 't' ? s + 1 : is_ws(ch) ? s : ch == '"'; /* ws* 't' */
    else if (ch == rue[s - L - 2]) m->hit = ++s == L + 5;           /* "rue" */
    else s = ch == '"';
  }
  m->st = s;
}

static int on_body(llhttp_t *p, const char *at, size_t len) {
  conn *c = p->data;
  if (c->route == R_CHAT) {
    km_feed(&c->want_stream, at, len);
    km_feed(&c->want_usage, at, len);
  }
  return 0;
}

static int on_url(llhttp_t *p, const char *at, size_t len) {
  conn *c = p->data;
  size_t room = sizeof c->url - 1 - c->url_len;
  if (len > room) len = room;
  memcpy(c->url + c->url_len, at, len);
  c->url_len += len;
  return 0;
}

static bool ends_with(const char *s, size_t n, const char *suffix) {
  size_t k = strlen(suffix);
  return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

static int on_headers_complete(llhttp_t *p) {
  conn *c = p->data;
  c->url[c->url_len] = '\0';
  char *q = memchr(c->url, '?', c->url_len);
  size_t n = q ? (size_t)(q - c->url) : c->url_len;
  bool model = n > 7 && memcmp(c->url, "/model/", 7) == 0;
  if (model && p->method == HTTP_POST && ends_with(c->url, n, "/converse")) c->route = R_CONVERSE;
  else if (model && p->method == HTTP_POST && ends_with(c->url, n, "/converse-stream")) c->route = R_STREAM;
  else if (p->method == HTTP_POST && n == 20 && memcmp(c->url, "/v1/chat/completions", 20) == 0) c->route = R_CHAT;
  else if (n == 8 && memcmp(c->url, "/__stats", 8) == 0) c->route = R_STATS;
  else c->route = R_404;
  return 0;
}

static int start_stream(conn *c, const stream_set *ss) {
  if (opt.frame_delay_ms == 0) {
    send_piece(c, ss->all, !c->keep_alive);
    return 0;
  }
  /* Paced stream: head + first frame now, the rest from the timer. Parsing
   * pauses so a pipelined next request waits for this answer to end. */
  atomic_fetch_add(&st_open_streams, 1);
  c->streaming = true;
  c->ss = ss;
  c->next_chunk = 1;
  uv_buf_t b[2] = {uv_buf_init((char *)ss->head.ptr, (unsigned)ss->head.len),
                   uv_buf_init((char *)ss->chunk[0].ptr, (unsigned)ss->chunk[0].len)};
  send_bufs(c, b, 2, false, NULL);
  if (!c->closing) uv_timer_start(&c->timer, on_frame_timer, opt.frame_delay_ms, 0);
  return HPE_PAUSED;
}

static int on_message_complete(llhttp_t *p) {
  conn *c = p->data;
  c->keep_alive = llhttp_should_keep_alive(p);
  atomic_fetch_add(&st_requests, 1);
  switch (c->route) {
  case R_CONVERSE:
    atomic_fetch_add(&st_converse, 1);
    send_piece(c, converse_reply, !c->keep_alive);
    return 0;
  case R_STREAM:
    atomic_fetch_add(&st_streams, 1);
    return start_stream(c, &es_stream);
  case R_CHAT:
    if (!c->want_stream.hit) {
      atomic_fetch_add(&st_chat, 1);
      send_piece(c, chat_reply, !c->keep_alive);
      return 0;
    }
    atomic_fetch_add(&st_chat_streams, 1);
    return start_stream(c, c->want_usage.hit ? &sse_usage_stream : &sse_stream);
  case R_STATS:
    send_stats(c);
    return 0;
  default:
    atomic_fetch_add(&st_other, 1);
    send_piece(c, (piece){notfound_reply, sizeof notfound_reply - 1}, !c->keep_alive);
    return 0;
  }
}

static const llhttp_settings_t settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

/* ---- reading ------------------------------------------------------------------------------- */

static void feed(conn *c, const char *data, size_t len) {
  llhttp_errno_t e = llhttp_execute(&c->parser, data, len);
  if (e == HPE_OK || c->closing) return;
  if (e == HPE_PAUSED) {
    const char *pos = llhttp_get_error_pos(&c->parser);
    size_t rest = pos ? (size_t)(data + len - pos) : 0;
    uv_read_stop((uv_stream_t *)&c->tcp);
    if (rest) {
      char *h = xmalloc(c->held_len + rest);
      if (c->held_len) memcpy(h, c->held, c->held_len);
      memcpy(h + c->held_len, pos, rest);
      free(c->held);
      c->held = h;
      c->held_len += rest;
    }
    return;
  }
  static const char bad[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
  send_piece(c, (piece){bad, sizeof bad - 1}, true);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
  (void)hint;
  static _Thread_local char rbuf[65536];
  (void)h;
  *buf = uv_buf_init(rbuf, sizeof rbuf);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  conn *c = s->data;
  if (n < 0) {
    conn_close(c);
    return;
  }
  if (n > 0) feed(c, buf->base, (size_t)n);
}

static void on_connection(uv_stream_t *server, int status) {
  if (status < 0) return;
  conn *c = calloc(1, sizeof *c);
  if (!c) return;
  uv_tcp_init(server->loop, &c->tcp);
  uv_timer_init(server->loop, &c->timer);
  c->tcp.data = c->timer.data = c;
  c->handles = 2;
  if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
    c->closing = true;
    uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
    uv_close((uv_handle_t *)&c->timer, on_handle_closed);
    return;
  }
  atomic_fetch_add(&st_conns, 1);
  atomic_fetch_add(&st_open_conns, 1);
  uv_tcp_nodelay(&c->tcp, 1);
  llhttp_init(&c->parser, HTTP_REQUEST, &settings);
  c->parser.data = c;
  uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

/* ---- loops ---------------------------------------------------------------------------------- */

static int listen_socket(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)port);
  if (uv_inet_pton(AF_INET, opt.host, &a.sin_addr) != 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

static void run_loop(void *arg) {
  int fd = (int)(intptr_t)arg;
  uv_loop_t loop;
  uv_tcp_t server;
  uv_loop_init(&loop);
  uv_tcp_init(&loop, &server);
  if (uv_tcp_open(&server, fd) != 0 || uv_listen((uv_stream_t *)&server, 4096, on_connection) != 0) {
    fprintf(stderr, "mock_upstream: listen failed\n");
    exit(1);
  }
  uv_run(&loop, UV_RUN_DEFAULT);
}

static void usage(void) {
  fprintf(stderr,
          "usage: mock_upstream [--listen HOST:PORT] [--threads N] [--deltas K] [--text S] [--frame-delay-ms D]\n"
          "  --listen          address (default 127.0.0.1:0 = any free port; first stdout line names it)\n"
          "  --threads         event loops with SO_REUSEPORT (default 1)\n"
          "  --deltas          text frames per stream (contentBlockDelta, content delta), also the text\n"
          "                    repeat of the non-streaming replies (default 8)\n"
          "  --text            text of each delta (default \"Hello! \")\n"
          "  --frame-delay-ms  pause between stream frames, 0 = all at once (default 0)\n");
  exit(2);
}

int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!v) usage();
    if (strcmp(a, "--listen") == 0) {
      const char *colon = strrchr(v, ':');
      if (!colon || (size_t)(colon - v) >= sizeof opt.host) usage();
      memcpy(opt.host, v, (size_t)(colon - v));
      opt.host[colon - v] = '\0';
      opt.port = (int)strtol(colon + 1, NULL, 10);
    } else if (strcmp(a, "--threads") == 0) {
      opt.threads = (int)strtol(v, NULL, 10);
    } else if (strcmp(a, "--deltas") == 0) {
      opt.deltas = (int)strtol(v, NULL, 10);
    } else if (strcmp(a, "--text") == 0) {
      opt.text = v;
    } else if (strcmp(a, "--frame-delay-ms") == 0) {
      opt.frame_delay_ms = (unsigned)strtoul(v, NULL, 10);
    } else {
      usage();
    }
    i++;
  }
  if (opt.threads < 1 || opt.threads > 64 || opt.deltas < 0 || opt.deltas > FRAMES_MAX - 8 ||
      strlen(opt.text) > 512)
    usage();
  signal(SIGPIPE, SIG_IGN);
  build_replies();

  int fds[64];
  fds[0] = listen_socket(opt.port);
  if (fds[0] < 0) {
    fprintf(stderr, "mock_upstream: cannot bind %s:%d: %s\n", opt.host, opt.port, strerror(errno));
    return 1;
  }
  struct sockaddr_in a;
  socklen_t al = sizeof a;
  getsockname(fds[0], (struct sockaddr *)&a, &al);
  int port = ntohs(a.sin_port);
  for (int i = 1; i < opt.threads; i++) {
    if ((fds[i] = listen_socket(port)) < 0) {
      fprintf(stderr, "mock_upstream: cannot bind a second socket to port %d\n", port);
      return 1;
    }
  }
  printf("listening on http://%s:%d\n", opt.host, port);
  fflush(stdout);
  uv_thread_t th[64];
  for (int i = 1; i < opt.threads; i++) uv_thread_create(&th[i], run_loop, (void *)(intptr_t)fds[i]);
  run_loop((void *)(intptr_t)fds[0]);
  return 0;
}
