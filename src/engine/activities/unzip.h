/* unzip.h — extract a zip archive (stored and deflate members, zlib) into a
 * directory, treating the archive as hostile: member names are checked (no
 * absolute paths, no "." / ".." / empty segments, no backslashes), symlinks
 * and special files are skipped, nothing existing is overwritten, and the
 * total size, the member count and each member's declared size are capped so
 * a zip bomb stops at the cap. Zip64 and encrypted members are refused.
 * Blocking file I/O: call it from a worker thread. */
#ifndef PIER_ENGINE_ACTIVITIES_UNZIP_H
#define PIER_ENGINE_ACTIVITIES_UNZIP_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

typedef struct pier_unzip_limits {
  uint64_t bytes_max;   /* total bytes written */
  size_t entries_max;   /* members in the central directory */
} pier_unzip_limits;

/* Extract zip_path into dest_dir (which exists). 0, or PIER_EINVAL (not a zip,
 * bad member, unsupported feature), PIER_ETOOBIG (a cap), PIER_EEXISTS (a member
 * collides with an existing file), PIER_EIO; err gets a sentence naming the
 * member. On failure what was extracted so far stays (the caller removes dest). */
int pier_unzip(const char *zip_path, const char *dest_dir, const pier_unzip_limits *lim, char *err,
               size_t errlen) PIER_WUR;

#endif
