/* log.c — stderr logger. Lines are formatted into one buffer and written with a
 * single write(2) so lines from different threads never interleave. */
#include "base/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "base/error.h"

int pier_log_level = PIER_LOG_INFO;

static const char *names[] = {"error", "warn", "info", "debug"};

int pier_log_parse_level(const char *name, int *out) {
  for (int i = 0; i < 4; i++)
    if (strcmp(name, names[i]) == 0) return *out = i, 0;
  if (strcmp(name, "warning") == 0) return *out = PIER_LOG_WARN, 0;
  return PIER_EINVAL;
}

void pier_log_write(int level, const char *mod, const char *fmt, ...) {
  char line[2048];
  struct timeval tv;
  struct tm tm;
  gettimeofday(&tv, NULL);
  gmtime_r(&tv.tv_sec, &tm);
  int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ %-5s %-8s ", tm.tm_year + 1900,
                   tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(tv.tv_usec / 1000),
                   names[level < 0 ? 0 : level > 3 ? 3 : level], mod);
  va_list ap;
  va_start(ap, fmt);
  int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
  va_end(ap);
  size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
  if (len > sizeof line - 2) len = sizeof line - 2;
  line[len++] = '\n';
  ssize_t w = write(STDERR_FILENO, line, len);
  (void)w;
}
