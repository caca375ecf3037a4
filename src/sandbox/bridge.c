/* bridge.c — `pier bridge --listen 127.0.0.1:PORT --unix PATH [-- CMD...]`:
 * forward every TCP connection to a new connection on a Unix socket, both
 * directions, honouring half-closes. With a command it binds first, forks the
 * forwarder into the background and execs the command (inside a sandbox with
 * no network this makes pier's gateway reachable at 127.0.0.1:PORT).
 * Invariant: each direction stops reading while its peer has more than
 * QUEUE_HIGH bytes queued, so a slow side never grows memory without bound. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "sandbox/sandbox_int.h"

#define QUEUE_HIGH (1024 * 1024)
#define QUEUE_LOW (256 * 1024)
#define READ_CHUNK 65536
#define LISTEN_MAX 2

typedef struct br_conn br_conn;

typedef struct bridge {
  uv_loop_t loop;
  uv_tcp_t listeners[LISTEN_MAX];
  int nlisteners;
  uv_signal_t sigterm, sigint;
  const char *unix_path;
  br_conn *conns; /* open connections, for a clean stop */
} bridge;

/* One direction: bytes read from `from` are written to `to`. */
typedef struct br_dir {
  uv_stream_t *from, *to;
  bool eof;       /* from reached EOF (or failed) */
  bool shut_done; /* to's write side shut down */
  bool paused;    /* reading stopped for backpressure */
  uv_shutdown_t shut;
} br_dir;

struct br_conn {
  bridge *br;
  br_conn *prev, *next;
  uv_tcp_t tcp;
  uv_pipe_t up;
  uv_connect_t connect;
  br_dir dir[2]; /* 0: tcp -> unix, 1: unix -> tcp */
  int open_handles;
  bool closing;
};

typedef struct br_write {
  uv_write_t req;
  br_dir *d;
  char *data;
} br_write;

static void conn_closed(uv_handle_t *h) {
  br_conn *c = h->data;
  if (--c->open_handles > 0) return;
  if (c->prev) c->prev->next = c->next;
  else c->br->conns = c->next;
  if (c->next) c->next->prev = c->prev;
  free(c);
}

static void conn_close(br_conn *c) {
  if (c->closing) return;
  c->closing = true;
  uv_close((uv_handle_t *)&c->tcp, conn_closed);
  uv_close((uv_handle_t *)&c->up, conn_closed);
}

static br_conn *conn_of(uv_stream_t *s) { return s->data; }

static br_dir *dir_from(br_conn *c, uv_stream_t *from) {
  return from == (uv_stream_t *)&c->tcp ? &c->dir[0] : &c->dir[1];
}

static void maybe_done(br_conn *c) {
  if (c->dir[0].shut_done && c->dir[1].shut_done) conn_close(c);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)h;
  (void)suggested;
  buf->base = malloc(READ_CHUNK);
  buf->len = buf->base ? READ_CHUNK : 0;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);

static void on_written(uv_write_t *req, int status) {
  br_write *w = (br_write *)req;
  br_dir *d = w->d;
  free(w->data);
  free(w);
  br_conn *c = conn_of(d->to);
  if (c->closing) return;
  if (status < 0) {
    conn_close(c);
    return;
  }
  if (d->paused && d->to->write_queue_size < QUEUE_LOW && !d->eof) {
    d->paused = false;
    uv_read_start(d->from, on_alloc, on_read);
  }
}

static void on_shutdown(uv_shutdown_t *req, int status) {
  br_dir *d = req->data;
  br_conn *c = conn_of(d->to);
  if (c->closing) return;
  d->shut_done = true;
  if (status < 0) conn_close(c);
  else maybe_done(c);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  br_conn *c = conn_of(s);
  br_dir *d = dir_from(c, s);
  if (n > 0) {
    br_write *w = malloc(sizeof *w);
    uv_buf_t out = uv_buf_init(buf->base, (unsigned)n);
    if (!w || uv_write(&w->req, d->to, &out, 1, on_written) != 0) {
      free(w);
      free(buf->base);
      conn_close(c);
      return;
    }
    w->d = d;
    w->data = buf->base;
    if (d->to->write_queue_size > QUEUE_HIGH) {
      d->paused = true;
      uv_read_stop(s);
    }
    return;
  }
  free(buf->base);
  if (n == 0) return;
  uv_read_stop(s);
  if (n != UV_EOF) {
    conn_close(c);
    return;
  }
  d->eof = true; /* half-close: pass the EOF on once queued bytes are out */
  d->shut.data = d;
  if (uv_shutdown(&d->shut, d->to, on_shutdown) != 0) conn_close(c);
}

static void on_connected(uv_connect_t *req, int status) {
  br_conn *c = req->data;
  if (c->closing) return;
  if (status < 0) {
    fprintf(stderr, "pier bridge: cannot connect to the gateway socket: %s\n", uv_strerror(status));
    conn_close(c);
    return;
  }
  uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
  uv_read_start((uv_stream_t *)&c->up, on_alloc, on_read);
}

static void on_connection(uv_stream_t *server, int status) {
  bridge *br = server->data;
  if (status < 0) return;
  br_conn *c = calloc(1, sizeof *c);
  if (!c) return;
  uv_tcp_init(&br->loop, &c->tcp);
  uv_pipe_init(&br->loop, &c->up, 0);
  c->tcp.data = c->up.data = c->connect.data = c;
  c->open_handles = 2;
  c->br = br;
  c->next = br->conns;
  if (br->conns) br->conns->prev = c;
  br->conns = c;
  c->dir[0] = (br_dir){.from = (uv_stream_t *)&c->tcp, .to = (uv_stream_t *)&c->up};
  c->dir[1] = (br_dir){.from = (uv_stream_t *)&c->up, .to = (uv_stream_t *)&c->tcp};
  if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
    conn_close(c);
    return;
  }
  uv_pipe_connect(&c->connect, &c->up, br->unix_path, on_connected);
}

/* ---- set-up ------------------------------------------------------------- */

static int parse_listen(const char *s, char *host, size_t hostcap, int *port) {
  const char *colon = strrchr(s, ':');
  const char *ps = colon ? colon + 1 : s;
  unsigned long long p;
  if (pier_slice_to_u64(pier_slice_from(ps), &p) || p > 65535) return PIER_EINVAL;
  *port = (int)p;
  size_t hl = colon ? (size_t)(colon - s) : 0;
  if (hl >= 2 && s[0] == '[' && s[hl - 1] == ']') s++, hl -= 2;
  snprintf(host, hostcap, "%.*s", (int)(hl ? hl : 9), hl ? s : "127.0.0.1");
  return 0;
}

/* A bound, listening socket (CLOEXEC) for host:port; port 0 picks one. */
static int listen_fd(const char *host, int port, int *out_port) {
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  bool v6 = strchr(host, ':') != NULL;
  socklen_t len = v6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
  if (v6 ? uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss) : uv_ip4_addr(host, port, (struct sockaddr_in *)&ss))
    return -1;
  int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  if (fd < 0) return -1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (v6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  if (bind(fd, (struct sockaddr *)&ss, len) != 0 || listen(fd, 128) != 0 ||
      getsockname(fd, (struct sockaddr *)&ss, &len) != 0) {
    close(fd);
    return -1;
  }
  *out_port = ntohs(v6 ? ((struct sockaddr_in6 *)&ss)->sin6_port : ((struct sockaddr_in *)&ss)->sin_port);
  return fd;
}

/* Stop: close the listeners, every connection and the signal handles; the
 * loop then runs out of handles and serve() returns. */
static void on_signal(uv_signal_t *s, int signum) {
  (void)signum;
  bridge *br = s->data;
  for (int i = 0; i < br->nlisteners; i++) uv_close((uv_handle_t *)&br->listeners[i], NULL);
  for (br_conn *c = br->conns; c; c = c->next) conn_close(c);
  uv_close((uv_handle_t *)&br->sigterm, NULL);
  uv_close((uv_handle_t *)&br->sigint, NULL);
}

static int serve(bridge *br, const int *fds, int nfds, bool foreground) {
  if (uv_loop_init(&br->loop)) return 1;
  for (int i = 0; i < nfds; i++) {
    uv_tcp_t *l = &br->listeners[br->nlisteners];
    uv_tcp_init(&br->loop, l);
    l->data = br;
    if (uv_tcp_open(l, fds[i]) || uv_listen((uv_stream_t *)l, 128, on_connection)) {
      fprintf(stderr, "pier bridge: cannot listen\n");
      return 1;
    }
    br->nlisteners++;
  }
  if (foreground) {
    uv_signal_init(&br->loop, &br->sigterm);
    uv_signal_init(&br->loop, &br->sigint);
    br->sigterm.data = br->sigint.data = br;
    uv_signal_start(&br->sigterm, on_signal, SIGTERM);
    uv_signal_start(&br->sigint, on_signal, SIGINT);
  }
  uv_run(&br->loop, UV_RUN_DEFAULT);
  return uv_loop_close(&br->loop) == 0 ? 0 : 1;
}

/* Background forwarder + exec of the command in the foreground process. */
static int run_with_command(bridge *br, const int *fds, int nfds, char **cmd, unsigned long long command_memory) {
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    fprintf(stderr, "pier bridge: fork: %s\n", strerror(errno));
    return 125;
  }
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL); /* the command's process ends the bridge */
    if (getppid() != parent) _exit(0);
    _exit(serve(br, fds, nfds, false));
  }
  for (int i = 0; i < nfds; i++) close(fds[i]);
  if (command_memory) { /* the command's address space, not the forwarder's */
    struct rlimit rl = {(rlim_t)command_memory, (rlim_t)command_memory};
    if (setrlimit(RLIMIT_AS, &rl) != 0) {
      fprintf(stderr, "pier bridge: setrlimit(RLIMIT_AS): %s\n", strerror(errno));
      return 125;
    }
  }
  execvp(cmd[0], cmd);
  fprintf(stderr, "pier bridge: cannot run %s: %s\n", cmd[0], strerror(errno));
  return errno == ENOENT ? 127 : 126;
}

int sb_bridge_main(int argc, char **argv) {
  const char *listen = NULL;
  bridge br = {0};
  char **cmd = NULL;
  unsigned long long command_memory = 0;
  for (int i = 0; i < argc; i++) {
    if (strcmp(argv[i], "--") == 0) {
      cmd = argv + i + 1;
      break;
    }
    if (i + 1 < argc && strcmp(argv[i], "--listen") == 0) listen = argv[++i];
    else if (i + 1 < argc && strcmp(argv[i], "--unix") == 0) br.unix_path = argv[++i];
    else if (i + 1 < argc && strcmp(argv[i], "--command-memory") == 0) {
      char *end;
      command_memory = strtoull(argv[++i], &end, 10);
      if (*end || !command_memory) {
        fputs("pier bridge: --command-memory takes a number of bytes\n", stderr);
        return 2;
      }
    } else {
      fputs("usage: pier bridge --listen [HOST:]PORT --unix PATH [--command-memory BYTES] [-- COMMAND...]\n",
            stderr);
      return 2;
    }
  }
  char host[64];
  int port, bound = 0, fds[LISTEN_MAX], nfds = 0;
  if (!listen || !br.unix_path || parse_listen(listen, host, sizeof host, &port) || (cmd && !cmd[0])) {
    fputs("usage: pier bridge --listen [HOST:]PORT --unix PATH [-- COMMAND...]\n", stderr);
    return 2;
  }
  if ((fds[nfds] = listen_fd(host, port, &bound)) < 0) {
    fprintf(stderr, "pier bridge: cannot listen on %s:%d: %s\n", host, port, strerror(errno));
    return cmd ? 125 : 1;
  }
  nfds++;
  int port6;
  if (strcmp(host, "127.0.0.1") == 0 && (fds[nfds] = listen_fd("::1", bound, &port6)) >= 0)
    nfds++; /* best effort: clients that resolve "localhost" to ::1 */
  if (cmd) return run_with_command(&br, fds, nfds, cmd, command_memory);
  printf("bridge listening on %s:%d -> %s\n", host, bound, br.unix_path);
  fflush(stdout);
  return serve(&br, fds, nfds, true);
}
