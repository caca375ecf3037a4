/* server_int.h — private structs of the HTTP server module (server.c, conn.c). */
#ifndef PIER_HTTP_SERVER_INT_H
#define PIER_HTTP_SERVER_INT_H

#include <llhttp.h>
#include <stdatomic.h>

#include "http/server.h"

struct pier_http_server {
  pier_http_config cfg;
  int port;
  int nloops;
  pier_http_loop *loops;
  atomic_uint_fast64_t next_req_id;
  bool started;
  uv_sem_t ready; /* each loop posts once it is set up */
};

struct pier_http_loop {
  pier_http_server *srv;
  int index;
  uv_loop_t uv;
  uv_thread_t thread;
  int listen_fd;
  uv_tcp_t listener;
  uv_pipe_t unix_listener; /* loop 0 only, when configured */
  bool unix_open;
  uv_async_t stop_async;
  uv_timer_t grace_timer;
  pier_mailbox mailbox;
  bool stopping;
  bool stop_hook_done;
  bool listener_open;
  void *data;
  pier_http_conn *conns; /* doubly linked list of live connections */
  /* Ended requests, freed in the check phase of this loop iteration: never
   * while a handler's callback that ended one is still on the stack. */
  pier_http_req *dead;
  uv_check_t reaper;
  int nconns;
  char readbuf[PIER_HTTP_READ_CHUNK];
  time_t date_secs;
  char date[40];
};

/* Free the ended requests now (the reaper's work; also at loop close). */
void pier_http_loop_reap(pier_http_loop *l);

struct pier_http_conn {
  union { /* TCP, or the Unix socket that runbook sandboxes reach pier through */
    uv_tcp_t tcp;
    uv_pipe_t pipe;
  };
  uv_timer_t timer;
  pier_http_loop *loop;
  pier_http_conn *prev, *next;
  llhttp_t parser;
  pier_buf pending;  /* received, not yet parsed */
  pier_buf url, hfield, hvalue;
  pier_http_req *req; /* being parsed or handled */
  size_t header_bytes;
  size_t write_pending; /* bytes queued to the kernel */
  int error_status;  /* limit hit inside a parser callback: 413/414/431 */
  const char *error_reason; /* static sentence for that error */
  int refs;          /* tcp + timer + a handled request */
  bool in_request;   /* between message_begin and message_complete */
  bool handling;     /* dispatched, not yet ended */
  bool in_drive;
  bool closing;      /* close once the queued writes are done */
  bool closed;
  bool lingering;    /* write side shut, discarding input until timeout */
  bool reading;
};

/* conn.c */
void pier_http_conn_accept(pier_http_loop *l, uv_stream_t *server, bool is_unix);
void pier_http_conn_close(pier_http_conn *c);
void pier_http_conn_stop_idle(pier_http_conn *c); /* shutdown: close if idle */

#endif
