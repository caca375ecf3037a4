/* sandbox.h — run one command under bubblewrap on the caller's libuv loop: a
 * read-only snapshot root, a writable /app, private /tmp and /proc, no view of
 * pier's files or environment, rlimits and a wall-clock timeout that kills the
 * whole process group. Invariant: on_exit runs exactly once per started sandbox
 * (exit, timeout or cancel), on the loop thread, and nothing of pier's own
 * environment, data directory or descriptors reaches the command. */
#ifndef PIER_SANDBOX_SANDBOX_H
#define PIER_SANDBOX_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "base/error.h"
#include "base/slice.h"

/* Paths inside the sandbox. */
#define PIER_SANDBOX_APP_DIR "/app"
#define PIER_SANDBOX_AGENTS_DIR "/opt/pier/agents"    /* <data-dir>/agents, read-only */
#define PIER_SANDBOX_GATEWAY_SOCK "/run/pier/gateway.sock"
#define PIER_SANDBOX_SNAPSHOT_DEFAULT "python312-uv" /* Jetty's default name */

typedef struct pier_sandbox pier_sandbox;

/* Live output (optional): each chunk read from the command's stdout or stderr,
 * as it arrives, on the loop thread, with the arg given to start. The bytes
 * are valid during the call only; the capture in the result is unaffected. */
typedef void (*pier_sandbox_on_output)(void *arg, bool is_stderr, pier_slice bytes);

/* Everything is borrowed for the duration of pier_sandbox_start only (it copies
 * what it keeps); the caller may free the spec as soon as start returns. */
typedef struct pier_sandbox_spec {
  const char *data_dir;       /* snapshots/ and agents/ live here; never visible inside */
  const char *snapshot;       /* name; NULL = "python312-uv"; "host" = the host's /usr */
  const char *workdir;        /* absolute host dir (with assets/, results/) bound rw at /app.
                               * When pier runs as root the tree is chowned to the run's
                               * private uid (the caller reads it back as root). */
  const char *const *argv;    /* command inside the sandbox, NULL-terminated, argv[0] a path
                               * or a name looked up in the sandbox's PATH */
  const char *const *env;     /* "NAME=value", NULL-terminated (may be NULL). Nothing else is
                               * inherited; PATH and HOME get defaults when absent. */
  bool network;               /* true: share the host network; false: own loopback only */
  const char *gateway_socket; /* !network: host Unix socket (connectable by the sandbox uid,
                               * e.g. mode 0666 in a 0700 directory) exposed inside as ... */
  int gateway_port;           /* ... 127.0.0.1:gateway_port through `pier bridge` */
  const char *pier_binary;    /* this executable (pier_sandbox_self_path) */
  int cpus;                   /* pin to this many CPUs (sched_setaffinity); 0 = all */
  uint64_t memory_bytes;      /* RLIMIT_AS of every process and the size of /tmp; 0 = none */
  int procs_max;              /* RLIMIT_NPROC (only enforced when pier runs as root: each run
                               * gets its own uid); 0 = PIER_SANDBOX_PROCS_DEFAULT */
  uint64_t timeout_ms;        /* wall clock; 0 = none */
  size_t output_bytes_max;    /* per stream, head + tail kept; 0 = PIER_SANDBOX_OUTPUT_DEFAULT */
  pier_sandbox_on_output on_output; /* may be NULL */
} pier_sandbox_spec;

#define PIER_SANDBOX_PROCS_DEFAULT 1024
#define PIER_SANDBOX_OUTPUT_DEFAULT (1024u * 1024)
#define PIER_SANDBOX_OUTPUT_MAX (64u * 1024 * 1024)
#define PIER_SANDBOX_KILL_GRACE_MS 3000 /* SIGTERM -> SIGKILL */
/* Exit status of the `sandbox-exec` step when it could not set the sandbox up
 * (the reason is on stderr); bwrap's own setup failures exit 1 with "bwrap: ...". */
#define PIER_SANDBOX_EXIT_SETUP 125

typedef struct pier_sandbox_result {
  int exit_status;         /* of the command (bwrap reports 128+N when it died of signal N) */
  int term_signal;         /* signal that ended the sandbox itself (timeout/cancel), or 0 */
  bool timed_out;          /* the caller fails the step with "timed out after N s" */
  bool cancelled;
  pier_slice out, err;     /* captured, capped: head + "[pier: N bytes dropped]" + tail;
                            * valid during on_exit only */
  uint64_t out_dropped, err_dropped; /* bytes left out of the middle */
  uint64_t duration_ms;
  const char *warning;     /* e.g. snapshot fallback, for the trajectory; NULL if none */
} pier_sandbox_result;

typedef void (*pier_sandbox_on_exit)(void *arg, const pier_sandbox_result *res);

/* Start the sandbox. On success *out (when out is not NULL) is a handle valid
 * until on_exit returns (the sandbox frees itself after that; never call
 * pier_sandbox_cancel on it later) and on_exit will run exactly once. On
 * failure nothing was started, on_exit never runs, and err holds a sentence for
 * the user (unknown snapshot, missing workdir, ...). A few stat/readdir calls on
 * local disk happen here; the process work (chown, mounts, exec) happens in the
 * child. The sandbox dies with the thread that started it (--die-with-parent
 * follows the forking thread), so start it from a loop thread that outlives it. */
int pier_sandbox_start(uv_loop_t *loop, const pier_sandbox_spec *spec, pier_sandbox_on_exit on_exit, void *arg,
                       pier_sandbox **out, char *err, size_t errlen) PIER_WUR;

/* SIGTERM the process group now, SIGKILL after the grace period; on_exit still
 * runs once, with cancelled=true. A no-op once the process has exited (the
 * result then reports how it ended). */
void pier_sandbox_cancel(pier_sandbox *sb);

/* The snapshot fallback warning decided at start (or NULL); valid like the handle. */
const char *pier_sandbox_warning(const pier_sandbox *sb);

/* Absolute path of the running executable (realpath of /proc/self/exe). */
int pier_sandbox_self_path(char *out, size_t cap) PIER_WUR;

/* "8G", "512M", "1.5G", "64k", "1073741824", "2Gi", "8GB" -> bytes (binary
 * multiples: K=1024). PIER_EINVAL on anything else or on overflow. */
int pier_memory_parse(const char *s, uint64_t *bytes) PIER_WUR;

/* Agents: "claude-code", "codex", "gemini-cli". Writes the command's path inside
 * the sandbox (e.g. /opt/pier/agents/claude-code/node_modules/.bin/claude) into
 * cmd. PIER_ENOTFOUND when not installed, with err naming the install command
 * (`pier agent install claude-code --data-dir DIR`); PIER_EINVAL for an unknown
 * agent. Installed = <data-dir>/agents/<name>/bin/<cmd> or
 * .../node_modules/.bin/<cmd> exists. */
int pier_agent_command(const char *data_dir, const char *agent, char *cmd, size_t cap, char *err,
                       size_t errlen) PIER_WUR;

/* Subcommands: snapshot, agent, bridge, sandbox-exec (internal), sandbox-run
 * (runs one spec given as JSON; used by the tests and for debugging). argv holds
 * the arguments after the subcommand. Returns the process exit status. */
bool pier_sandbox_cli_handles(const char *cmd);
int pier_sandbox_cli_main(const char *cmd, int argc, char **argv);

#endif
