/* prompt.c — what the CLI reads: secrets (hidden prompt on a terminal, else
 * stdin; never argv), whole files, lines, confirmations. Invariant: the
 * terminal's echo is restored on every exit path, Ctrl-C included, and secret
 * buffers are zeroed before they are freed. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "cli/cli_int.h"

static struct termios saved_tio;
static volatile sig_atomic_t tio_saved;

static void restore_tty(void) {
  if (tio_saved) tcsetattr(0, TCSAFLUSH, &saved_tio);
  tio_saved = 0;
}

static void on_signal(int sig) {
  restore_tty();
  (void)!write(2, "\n", 1);
  signal(sig, SIG_DFL);
  raise(sig);
}

/* Read until newline or end of input into out (capped); no echo handling. */
static int read_fd_line(int fd, pier_buf *out, bool whole) {
  char c;
  for (;;) {
    ssize_t n = read(fd, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return n < 0 ? PIER_EIO : 0;
    if (!whole && c == '\n') return 0;
    int rc = pier_buf_putc(out, c);
    if (rc) return rc;
  }
}

/* Echo goes off before the prompt shows, so nothing typed after it echoes. */
static int read_hidden(const char *prompt, pier_buf *out) {
  struct termios t;
  if (tcgetattr(0, &saved_tio) != 0) return PIER_EIO;
  t = saved_tio;
  t.c_lflag &= ~(tcflag_t)ECHO;
  t.c_lflag |= ECHONL;
  struct sigaction sa = {.sa_handler = on_signal}, old_int, old_term, old_hup;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, &old_int);
  sigaction(SIGTERM, &sa, &old_term);
  sigaction(SIGHUP, &sa, &old_hup);
  tio_saved = 1;
  int rc = tcsetattr(0, TCSAFLUSH, &t) == 0 ? 0 : PIER_EIO;
  if (!rc) {
    fputs(prompt, stderr);
    fflush(stderr);
    rc = read_fd_line(0, out, false);
  }
  restore_tty();
  sigaction(SIGINT, &old_int, NULL);
  sigaction(SIGTERM, &old_term, NULL);
  sigaction(SIGHUP, &old_hup, NULL);
  return rc;
}

int pier_cli_read_secret(const pier_cli *cli, const char *prompt, pier_buf *out) {
  int rc;
  if (cli->tty_in) {
    rc = read_hidden(prompt, out);
    while (!rc && out->len && out->ptr[out->len - 1] == '\r') out->len--;
  } else {
    rc = read_fd_line(0, out, true);
    if (!rc && out->len && out->ptr[out->len - 1] == '\n') out->len--;
    if (!rc && out->len && out->ptr[out->len - 1] == '\r') out->len--;
  }
  if (rc == PIER_ETOOBIG) pier_cli_err(cli, "the value is longer than %u bytes", PIER_CLI_SECRET_BYTES_MAX);
  if (!rc && out->len == 0) rc = PIER_EINVAL;
  if (out->ptr) out->ptr[out->len] = '\0';
  return rc;
}

int pier_cli_read_file(const char *path, pier_buf *out) {
  bool std = !strcmp(path, "-");
  int fd = std ? 0 : open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno == ENOENT ? PIER_ENOTFOUND : PIER_EIO;
  if (out->max == 0 || out->max > PIER_CLI_INPUT_BYTES_MAX) out->max = PIER_CLI_INPUT_BYTES_MAX;
  char chunk[65536];
  int rc = 0;
  for (;;) {
    ssize_t n = read(fd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) rc = PIER_EIO;
    if (n <= 0 || (rc = pier_buf_append(out, chunk, (size_t)n)) != 0) break;
  }
  explicit_bzero(chunk, sizeof chunk);
  if (!std) close(fd);
  if (!rc && !out->ptr) rc = pier_buf_append(out, "", 0); /* "" rather than NULL */
  return rc;
}

int pier_cli_read_line(pier_buf *out) {
  pier_buf_reset(out);
  char c;
  bool any = false;
  for (;;) {
    ssize_t n = read(0, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return PIER_EIO;
    if (n == 0) return any ? 0 : PIER_ENOTFOUND;
    any = true;
    if (c == '\n') break;
    int rc = pier_buf_putc(out, c);
    if (rc) return rc;
  }
  if (out->len && out->ptr[out->len - 1] == '\r') out->len--;
  if (!out->ptr && pier_buf_append(out, "", 0) != 0) return PIER_ENOMEM;
  out->ptr[out->len] = '\0';
  return 0;
}

bool pier_cli_confirm(const pier_cli *cli, const char *question) {
  if (!cli->tty_in) return false;
  fprintf(stderr, "%s [y/N] ", question);
  fflush(stderr);
  pier_buf b;
  pier_buf_init(&b, 256);
  bool yes = pier_cli_read_line(&b) == 0 && b.len && (b.ptr[0] == 'y' || b.ptr[0] == 'Y');
  pier_buf_dispose(&b);
  return yes;
}

void pier_cli_wipe(pier_buf *b) {
  if (b->ptr) explicit_bzero(b->ptr, b->cap);
  pier_buf_dispose(b);
}
