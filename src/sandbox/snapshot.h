/* snapshot.h — named root filesystems under <data-dir>/snapshots/NAME/ and the
 * built-in "host" snapshot. Invariant: an import never writes outside its own
 * staging directory (no absolute paths, no "..", nothing through a symlink, no
 * hard link to a file outside the tree, no device nodes, no setuid bits) and a
 * snapshot appears under its name only once it is complete. */
#ifndef PIER_SANDBOX_SNAPSHOT_H
#define PIER_SANDBOX_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

#define PIER_SNAPSHOT_HOST "host"
#define PIER_SNAPSHOT_NAME_BYTES_MAX 64

/* [a-z0-9][a-z0-9._-]{0,63}, not "host". */
bool pier_snapshot_name_valid(const char *name);

/* Resolve a step's snapshot name. NULL/"" means PIER_SANDBOX_SNAPSHOT_DEFAULT.
 * On success dir is the snapshot's root directory, or "" for the host snapshot.
 * Jetty's names (python312-uv, prism-playwright) fall back to the host snapshot
 * when not installed, with a sentence in warning (else warning is ""). Other
 * names that are not installed: PIER_ENOTFOUND with err saying how to import. */
int pier_snapshot_resolve(const char *data_dir, const char *name, char *dir, size_t dircap, char *warning,
                          size_t warncap, char *err, size_t errlen) PIER_WUR;

typedef struct pier_snapshot_stats {
  uint64_t files, dirs, symlinks, hardlinks, bytes;
  uint64_t skipped; /* device nodes, fifos, sockets */
} pier_snapshot_stats;

/* Import a directory tree or a .tar/.tar.gz file as snapshot NAME. PIER_EEXISTS
 * when the name is taken; PIER_EFORBIDDEN for an entry that would escape (the
 * whole import is rejected and nothing is left behind); err says which entry. */
int pier_snapshot_import(const char *data_dir, const char *name, const char *src, pier_snapshot_stats *st,
                         char *err, size_t errlen) PIER_WUR;
int pier_snapshot_remove(const char *data_dir, const char *name, char *err, size_t errlen) PIER_WUR;

/* Normalise an archive member path into out: strips "./" and repeated or
 * trailing slashes. PIER_EFORBIDDEN for absolute paths and ".." components,
 * PIER_EINVAL for empty/too long paths or control characters; out = "" for the
 * archive root ("." or "./"). */
int pier_snapshot_path_check(const char *in, size_t len, char *out, size_t cap) PIER_WUR;

#endif
