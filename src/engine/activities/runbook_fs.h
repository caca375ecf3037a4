/* runbook_fs.h — the file work of a runbook step, done off the loop (libuv's
 * thread pool): a fresh /app with assets/ and results/, input files copied in,
 * everything under results/ stored with Jetty's naming, and cleanup. */
#ifndef PIER_ENGINE_ACTIVITIES_RUNBOOK_FS_H
#define PIER_ENGINE_ACTIVITIES_RUNBOOK_FS_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

#define PIER_RB_RESULTS_MAX 1000
#define PIER_RB_RESULTS_BYTES_MAX (1024ull * 1024 * 1024)
#define PIER_RB_ZIP_ENTRIES_MAX 10000

typedef struct pier_rb_result {
  char *storage_path; /* "{c}/{t}/0000/{tid}.{step}.{NNNN}.app--results--out.md" (heap) */
  char *sandbox_path; /* "/app/results/out.md" (heap) */
  const char *content_type;
  char extension[16];
  int64_t size;
} pier_rb_result;

/* mkdir workdir/{assets,results} (0700) and copy each input file (host path)
 * into assets/ under its basename (deduplicated); a .zip is also extracted
 * into assets/ (pier_unzip: hostile-archive checks). err gets a sentence. */
int pier_rb_prepare(const char *workdir, char *const *inputs, size_t n, char *err, size_t errlen) PIER_WUR;
/* Walk workdir/results; copy each regular file to files_root/<prefix><NNNN>.<flattened>
 * (symlinks and special files are skipped). *out is a heap array (free with
 * pier_rb_results_free). */
int pier_rb_collect(const char *workdir, const char *files_root, const char *prefix, pier_rb_result **out,
                    size_t *n, char *err, size_t errlen) PIER_WUR;
void pier_rb_results_free(pier_rb_result *r, size_t n);
/* rm -rf (no symlink following). */
void pier_rb_remove(const char *dir);
/* "/app/results/my.report.v2.md" -> "app--results--my-report-v2.md" */
void pier_rb_flatten(const char *sandbox_path, char *out, size_t cap);

#endif
