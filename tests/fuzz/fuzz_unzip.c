/* fuzz_unzip.c — libFuzzer harness for the zip extractor. The input is the
 * archive; it is extracted into a fresh directory with small caps. Oracles:
 * nothing outside that directory is created (a sibling canary directory stays
 * empty), everything inside is a regular file or a directory (never a link),
 * and the bytes written never exceed the cap. */
#define _GNU_SOURCE
#include <dirent.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/activities/unzip.h"

#define CAP (1024 * 1024)

static uint64_t total;
static int check(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)path, (void)ftw;
  if (flag == FTW_SL || (!S_ISREG(st->st_mode) && !S_ISDIR(st->st_mode))) abort();
  if (S_ISREG(st->st_mode)) total += (uint64_t)st->st_size;
  return 0;
}
static int rm(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st, (void)flag, (void)ftw;
  return remove(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char root[] = "/tmp/fuzz-unzip-XXXXXX";
  if (!mkdtemp(root)) abort();
  char zip[64], dest[64], canary[64];
  snprintf(zip, sizeof zip, "%s/in.zip", root);
  snprintf(dest, sizeof dest, "%s/d/x", root);
  snprintf(canary, sizeof canary, "%s/d", root);
  FILE *f = fopen(zip, "wb");
  if (!f || fwrite(data, 1, size, f) != size) abort();
  fclose(f);
  if (mkdir(canary, 0700) || mkdir(dest, 0700)) abort();
  char err[400];
  pier_unzip_limits lim = {.bytes_max = CAP, .entries_max = 100};
  (void)pier_unzip(zip, dest, &lim, err, sizeof err);
  DIR *d = opendir(canary);
  int n = 0;
  for (struct dirent *e; (e = readdir(d));) n += e->d_name[0] != '.';
  closedir(d);
  if (n != 1) abort(); /* only x/ */
  total = 0;
  nftw(dest, check, 16, FTW_PHYS);
  if (total > CAP) abort();
  nftw(root, rm, 16, FTW_DEPTH | FTW_PHYS);
  return 0;
}
