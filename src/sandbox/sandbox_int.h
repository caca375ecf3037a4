/* sandbox_int.h — private pieces shared inside src/sandbox/ only: string
 * vectors, the output capture, the sandbox layout and the argument builder, the
 * tar reader and the safe tree writer, and the subcommand mains.
 * Invariant: everything here is plain data + pure functions except the *_main
 * entry points and the probe/writer, which touch the filesystem. */
#ifndef PIER_SANDBOX_INT_H
#define PIER_SANDBOX_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/buf.h"
#include "base/error.h"
#include "sandbox/sandbox.h"
#include "sandbox/snapshot.h"

/* ---- string vectors: owned heap strings, always NULL-terminated ---------- */
typedef struct sb_strv {
  char **v;
  size_t n, cap;
} sb_strv;

void sb_strv_dispose(sb_strv *s);
int sb_strv_push(sb_strv *s, const char *str) PIER_WUR;
int sb_strv_pushn(sb_strv *s, const char *str, size_t len) PIER_WUR;
int sb_strv_pushf(sb_strv *s, const char *fmt, ...) PIER_WUR __attribute__((format(printf, 2, 3)));
/* NUL-separated serialisation (bwrap --args format) and back. */
int sb_strv_serialize(const sb_strv *s, pier_buf *out) PIER_WUR;
int sb_strv_parse(const char *data, size_t len, sb_strv *out) PIER_WUR;

/* ---- output capture: first head_max bytes, last tail_max bytes ---------- */
typedef struct sb_capture {
  size_t head_max, tail_max;
  char *head;          /* owned, head_max bytes once used */
  size_t head_len;
  char *tail;          /* owned ring of tail_max bytes */
  size_t tail_pos;     /* next write index */
  size_t tail_len;
  uint64_t total;
} sb_capture;

void sb_capture_init(sb_capture *c, size_t bytes_max);
void sb_capture_dispose(sb_capture *c);
int sb_capture_feed(sb_capture *c, const char *p, size_t n) PIER_WUR;
uint64_t sb_capture_dropped(const sb_capture *c);
/* head, then "\n[pier: N bytes dropped]\n" if anything was, then the tail. */
int sb_capture_render(const sb_capture *c, pier_buf *out) PIER_WUR;

/* ---- layout: what the sandbox's root is made of ------------------------- */
typedef struct sb_entry {
  char *name; /* one path component */
  char *link; /* symlink target, or NULL for a directory/file to bind */
} sb_entry;

typedef struct sb_entries {
  sb_entry *v;
  size_t n, cap;
} sb_entries;

typedef struct sb_layout {
  char *root;             /* custom snapshot root; NULL = host snapshot */
  sb_entries top;         /* entries of / to bind or link */
  sb_entries opt, run;    /* custom: children of the snapshot's /opt and /run */
  bool var_tmp;           /* custom: /var/tmp exists (gets a tmpfs) */
  bool etc_resolv;        /* custom: /etc/resolv.conf and /etc/hosts are files (network) */
  char *passwd, *group;   /* generated /etc/passwd and /etc/group, or NULL = keep */
  char *agents_dir;       /* <data-dir>/agents if it exists */
  uint32_t uid;           /* host uid for the run when pier is root, else 0 */
} sb_layout;

#define SB_INNER_UID 1000 /* uid/gid inside the sandbox ("agent") */
#define SB_PIER_DIR "/opt/pier"
#define SB_STAGE_DIR "/run/pier-sandbox" /* root only: private mount ns staging */

void sb_layout_dispose(sb_layout *l);
int sb_entries_add(sb_entries *e, const char *name, const char *link) PIER_WUR;
/* Fill l from the filesystem for a resolved snapshot dir ("" = host). */
int sb_layout_probe(const pier_sandbox_spec *spec, const char *snapshot_dir, sb_layout *l, char *err,
                    size_t errlen) PIER_WUR;
/* Append an "agent" line (uid/gid 1000) unless one exists; group=true for
 * /etc/group. Returns a heap string, or NULL when nothing needs to change (or
 * on OOM: *rc says which). */
char *sb_etc_with_agent(const char *content, size_t len, bool group, int *rc);

/* helper: [pier, "sandbox-exec", options, "--", command...];
 * bwrap: bwrap's arguments (with --pier-data / --pier-self pseudo options that
 * sandbox-exec expands), passed on fd 3 so env values never show in ps. */
int sb_build(const pier_sandbox_spec *spec, const sb_layout *l, sb_strv *helper, sb_strv *bwrap, char *err,
             size_t errlen) PIER_WUR;
bool sb_env_name_valid(const char *s, size_t len);

/* ---- tar reading and safe tree writing ----------------------------------- */
typedef struct sb_writer {
  int rootfd;                /* the staging root, O_DIRECTORY */
  pier_snapshot_stats st;
  char *err;                 /* caller's buffer */
  size_t errlen;
} sb_writer;

int sb_writer_dir(sb_writer *w, const char *path, mode_t mode) PIER_WUR;
/* Creates (replacing a non-directory) and returns a writable fd in *fd. */
int sb_writer_file(sb_writer *w, const char *path, mode_t mode, int *fd) PIER_WUR;
int sb_writer_symlink(sb_writer *w, const char *path, const char *target) PIER_WUR;
int sb_writer_hardlink(sb_writer *w, const char *path, const char *target) PIER_WUR;

typedef struct sb_reader {
  /* read exactly n bytes: 0, PIER_EAGAIN at a clean end of input, PIER_EIO */
  int (*read)(void *ctx, void *buf, size_t n);
  void *ctx;
} sb_reader;

int sb_tar_extract(sb_reader *r, sb_writer *w) PIER_WUR;
int sb_copy_tree(const char *src, sb_writer *w) PIER_WUR;

/* ---- subcommands ---------------------------------------------------------- */
int sb_exec_main(int argc, char **argv);
int sb_bridge_main(int argc, char **argv);
int sb_snapshot_main(int argc, char **argv);
int sb_agent_main(int argc, char **argv);
int sb_run_main(int argc, char **argv);

/* --data-dir DIR, else $PIER_DATA_DIR, else ./pier-data (as `pier serve`). */
const char *sb_default_data_dir(const char *flag);

#endif
