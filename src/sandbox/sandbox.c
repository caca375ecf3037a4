/* sandbox.c — one sandboxed command on a libuv loop: spawn `pier sandbox-exec`
 * (which sets limits and execs bwrap) as the leader of a new process group,
 * capture stdout/stderr, enforce the wall clock, report once.
 * Invariant: on_exit runs exactly once, after the process has exited and both
 * pipes are drained (or a short grace passed); the handle is freed only after
 * every libuv handle's close callback, never while on_exit is on the stack. */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <unistd.h>

#include "base/log.h"
#include "base/util.h"
#include "sandbox/sandbox_int.h"

#define EOF_GRACE_MS 2000 /* after exit, wait this long for the pipes to drain */
#define UID_BASE 1900000000u
#define UID_COUNT 1000000u

typedef enum { PHASE_RUN, PHASE_TERM, PHASE_DRAIN } sb_phase;

struct pier_sandbox {
  uv_loop_t *loop;
  uv_process_t proc;
  uv_pipe_t out_pipe, err_pipe;
  uv_timer_t timer;
  sb_capture out, err;
  sb_phase phase;
  int open_handles;
  bool exited, out_eof, err_eof, reported, timed_out, cancelled;
  int64_t exit_status;
  int term_signal;
  pid_t pgid;
  uint64_t started_ms;
  char warning[512];
  pier_sandbox_on_exit on_exit;
  pier_sandbox_on_output on_output;
  void *arg;
};

const char *pier_sandbox_warning(const pier_sandbox *sb) { return sb->warning[0] ? sb->warning : NULL; }

int pier_sandbox_self_path(char *out, size_t cap) {
  char buf[PATH_MAX];
  if (!realpath("/proc/self/exe", buf)) return PIER_EIO;
  if (strlen(buf) >= cap) return PIER_ETOOBIG;
  memcpy(out, buf, strlen(buf) + 1);
  return 0;
}

/* ---- teardown ---------------------------------------------------------- */

static void on_closed(uv_handle_t *h) {
  pier_sandbox *sb = h->data;
  if (--sb->open_handles > 0) return;
  sb_capture_dispose(&sb->out);
  sb_capture_dispose(&sb->err);
  free(sb);
}

static void close_all(pier_sandbox *sb) {
  uv_handle_t *hs[] = {(uv_handle_t *)&sb->proc, (uv_handle_t *)&sb->out_pipe, (uv_handle_t *)&sb->err_pipe,
                       (uv_handle_t *)&sb->timer};
  for (size_t i = 0; i < sizeof hs / sizeof hs[0]; i++)
    if (!uv_is_closing(hs[i])) uv_close(hs[i], on_closed);
}

static void report(pier_sandbox *sb) {
  if (sb->reported) return;
  sb->reported = true;
  uv_timer_stop(&sb->timer);
  pier_buf out, err;
  pier_buf_init(&out, 0);
  pier_buf_init(&err, 0);
  /* on OOM the result carries what fitted; the exit status is what matters */
  if (sb_capture_render(&sb->out, &out) || sb_capture_render(&sb->err, &err))
    PIER_LOG(PIER_LOG_WARN, "sandbox", "out of memory rendering captured output");
  pier_sandbox_result res = {
      .exit_status = (int)sb->exit_status,
      .term_signal = sb->term_signal,
      .timed_out = sb->timed_out,
      .cancelled = sb->cancelled,
      .out = pier_buf_slice(&out),
      .err = pier_buf_slice(&err),
      .out_dropped = sb_capture_dropped(&sb->out),
      .err_dropped = sb_capture_dropped(&sb->err),
      .duration_ms = pier_mono_ms() - sb->started_ms,
      .warning = pier_sandbox_warning(sb),
  };
  PIER_LOG(PIER_LOG_INFO, "sandbox", "pid=%d exited status=%d signal=%d timed_out=%d cancelled=%d duration_ms=%llu",
           (int)sb->pgid, res.exit_status, res.term_signal, res.timed_out, res.cancelled,
           (unsigned long long)res.duration_ms);
  sb->on_exit(sb->arg, &res);
  pier_buf_dispose(&out);
  pier_buf_dispose(&err);
  close_all(sb);
}

static void maybe_report(pier_sandbox *sb) {
  if (sb->exited && sb->out_eof && sb->err_eof) report(sb);
}

/* ---- signals and timers ------------------------------------------------ */

static void on_timer(uv_timer_t *t);

/* The group is the sandbox-exec process (now bwrap) and everything it started
 * outside the pid namespace; when bwrap's monitor dies the kernel's
 * --die-with-parent and pid-namespace teardown kill everything inside. */
static void kill_group(pier_sandbox *sb, int sig) {
  if (sb->exited || sb->pgid <= 0) return;
  if (kill(-sb->pgid, sig) != 0 && errno != ESRCH)
    PIER_LOG(PIER_LOG_WARN, "sandbox", "kill(-%d, %d): %s", (int)sb->pgid, sig, strerror(errno));
}

static void terminate(pier_sandbox *sb) {
  if (sb->phase != PHASE_RUN) return;
  sb->phase = PHASE_TERM;
  kill_group(sb, SIGTERM);
  uv_timer_start(&sb->timer, on_timer, PIER_SANDBOX_KILL_GRACE_MS, 0);
}

static void on_timer(uv_timer_t *t) {
  pier_sandbox *sb = t->data;
  switch (sb->phase) {
    case PHASE_RUN:
      sb->timed_out = true;
      terminate(sb);
      break;
    case PHASE_TERM: /* still alive after the grace period */
      kill_group(sb, SIGKILL);
      uv_timer_start(&sb->timer, on_timer, PIER_SANDBOX_KILL_GRACE_MS, 0);
      break;
    case PHASE_DRAIN: /* exited, but something still holds a pipe open */
      sb->out_eof = sb->err_eof = true;
      report(sb);
      break;
  }
}

void pier_sandbox_cancel(pier_sandbox *sb) {
  if (!sb || sb->reported || sb->exited) return;
  sb->cancelled = true;
  terminate(sb);
}

static void on_exit_cb(uv_process_t *p, int64_t exit_status, int term_signal) {
  pier_sandbox *sb = p->data;
  sb->exited = true;
  sb->exit_status = exit_status;
  sb->term_signal = term_signal;
  sb->phase = PHASE_DRAIN;
  uv_timer_stop(&sb->timer);
  uv_timer_start(&sb->timer, on_timer, EOF_GRACE_MS, 0);
  maybe_report(sb);
}

/* ---- output ------------------------------------------------------------ */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)h;
  (void)suggested;
  static __thread char chunk[65536]; /* consumed synchronously in on_read */
  buf->base = chunk;
  buf->len = sizeof chunk;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  pier_sandbox *sb = s->data;
  bool is_out = s == (uv_stream_t *)&sb->out_pipe;
  if (n > 0) {
    if (sb_capture_feed(is_out ? &sb->out : &sb->err, buf->base, (size_t)n))
      PIER_LOG(PIER_LOG_WARN, "sandbox", "out of memory capturing output");
    if (sb->on_output) sb->on_output(sb->arg, !is_out, pier_slice_make(buf->base, (size_t)n));
    return;
  }
  if (n == 0) return;
  uv_read_stop(s);
  if (is_out)
    sb->out_eof = true;
  else
    sb->err_eof = true;
  maybe_report(sb);
}

/* ---- start ------------------------------------------------------------- */

static uint32_t pick_uid(void) {
  if (geteuid() != 0) return 0;
  uint32_t r = 0;
  if (getrandom(&r, sizeof r, 0) != sizeof r) r = (uint32_t)getpid() ^ (uint32_t)pier_mono_ms();
  return UID_BASE + r % UID_COUNT;
}

/* bwrap's arguments in a sealed-off memfd that becomes the child's fd 3. */
static int args_memfd(const sb_strv *bwrap, int *fd_out) {
  pier_buf b;
  pier_buf_init(&b, 0);
  int rc = sb_strv_serialize(bwrap, &b);
  int fd = rc ? -1 : memfd_create("pier-sandbox-args", MFD_CLOEXEC);
  if (!rc && fd < 0) rc = PIER_EIO;
  for (size_t off = 0; !rc && off < b.len;) {
    ssize_t n = write(fd, b.ptr + off, b.len - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) rc = PIER_EIO;
    else off += (size_t)n;
  }
  if (!rc && lseek(fd, 0, SEEK_SET) != 0) rc = PIER_EIO;
  pier_buf_dispose(&b);
  if (rc && fd >= 0) close(fd);
  if (!rc) *fd_out = fd;
  return rc;
}

static int spawn(pier_sandbox *sb, const sb_strv *helper, int argsfd, char *err, size_t errlen) {
  /* nothing of pier's environment: sandbox-exec needs none, bwrap gets none */
  static char path_env[] = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  char *helper_env[] = {path_env, NULL};
  uv_stdio_container_t stdio[4] = {
      {.flags = UV_IGNORE},
      {.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&sb->out_pipe},
      {.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&sb->err_pipe},
      {.flags = UV_INHERIT_FD, .data.fd = argsfd},
  };
  uv_process_options_t o = {
      .exit_cb = on_exit_cb,
      .file = helper->v[0],
      .args = helper->v,
      .env = helper_env,
      .flags = UV_PROCESS_DETACHED, /* setsid: the sandbox is its own process group */
      .stdio_count = 4,
      .stdio = stdio,
  };
  int urc = uv_spawn(sb->loop, &sb->proc, &o);
  if (urc) {
    snprintf(err, errlen, "cannot start the sandbox (%s): %s", helper->v[0], uv_strerror(urc));
    return PIER_EIO;
  }
  sb->pgid = sb->proc.pid;
  uv_read_start((uv_stream_t *)&sb->out_pipe, on_alloc, on_read);
  uv_read_start((uv_stream_t *)&sb->err_pipe, on_alloc, on_read);
  return 0;
}

static int prepare(const pier_sandbox_spec *spec, pier_sandbox *sb, sb_strv *helper, sb_strv *bwrap, char *err,
                   size_t errlen) {
  char snapdir[PATH_MAX];
  if (!spec->data_dir || !spec->workdir) {
    snprintf(err, errlen, "the sandbox needs a data directory and a working directory");
    return PIER_EINVAL;
  }
  int rc = pier_snapshot_resolve(spec->data_dir, spec->snapshot, snapdir, sizeof snapdir, sb->warning,
                                 sizeof sb->warning, err, errlen);
  if (rc) return rc;
  if (access(spec->workdir, F_OK) != 0) {
    snprintf(err, errlen, "the sandbox's working directory %s does not exist", spec->workdir);
    return PIER_ENOTFOUND;
  }
  sb_layout lay;
  if ((rc = sb_layout_probe(spec, snapdir, &lay, err, errlen))) return rc;
  lay.uid = pick_uid();
  rc = sb_build(spec, &lay, helper, bwrap, err, errlen);
  sb_layout_dispose(&lay);
  return rc;
}

int pier_sandbox_start(uv_loop_t *loop, const pier_sandbox_spec *spec, pier_sandbox_on_exit on_exit, void *arg,
                       pier_sandbox **out, char *err, size_t errlen) {
  pier_sandbox *sb = calloc(1, sizeof *sb);
  if (!sb) return PIER_ENOMEM;
  sb_strv helper = {0}, bwrap = {0};
  int argsfd = -1;
  int rc = prepare(spec, sb, &helper, &bwrap, err, errlen);
  if (!rc && (rc = args_memfd(&bwrap, &argsfd))) snprintf(err, errlen, "cannot pass the sandbox's arguments");
  if (rc) goto out;
  size_t max = spec->output_bytes_max ? spec->output_bytes_max : PIER_SANDBOX_OUTPUT_DEFAULT;
  sb_capture_init(&sb->out, max > PIER_SANDBOX_OUTPUT_MAX ? PIER_SANDBOX_OUTPUT_MAX : max);
  sb_capture_init(&sb->err, max > PIER_SANDBOX_OUTPUT_MAX ? PIER_SANDBOX_OUTPUT_MAX : max);
  sb->loop = loop;
  sb->on_exit = on_exit;
  sb->on_output = spec->on_output;
  sb->arg = arg;
  sb->started_ms = pier_mono_ms();
  uv_pipe_init(loop, &sb->out_pipe, 0);
  uv_pipe_init(loop, &sb->err_pipe, 0);
  uv_timer_init(loop, &sb->timer);
  sb->proc.data = sb->out_pipe.data = sb->err_pipe.data = sb->timer.data = sb;
  sb->open_handles = 4;
  if ((rc = spawn(sb, &helper, argsfd, err, errlen))) {
    /* uv_spawn failed: the process handle was initialised but never started */
    sb->reported = true;
    close_all(sb);
    sb = NULL;
    goto out;
  }
  if (spec->timeout_ms) uv_timer_start(&sb->timer, on_timer, spec->timeout_ms, 0);
  PIER_LOG(PIER_LOG_INFO, "sandbox", "pid=%d started snapshot=%s network=%s timeout_ms=%llu", (int)sb->pgid,
           spec->snapshot && *spec->snapshot ? spec->snapshot : PIER_SANDBOX_SNAPSHOT_DEFAULT,
           spec->network ? "host" : (spec->gateway_socket ? "bridge" : "none"), (unsigned long long)spec->timeout_ms);
  if (out) *out = sb;
  sb = NULL;
out:
  if (argsfd >= 0) close(argsfd);
  sb_strv_dispose(&helper);
  sb_strv_dispose(&bwrap);
  free(sb);
  return rc;
}
