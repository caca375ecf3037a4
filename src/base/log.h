/* log.h — one line per event on stderr: time, level, module, message.
 * PIER_LOG checks the level before evaluating its arguments. Never log secrets. */
#ifndef PIER_BASE_LOG_H
#define PIER_BASE_LOG_H

enum { PIER_LOG_ERROR = 0, PIER_LOG_WARN = 1, PIER_LOG_INFO = 2, PIER_LOG_DEBUG = 3 };

extern int pier_log_level; /* written once at start-up, read everywhere */

/* Parse "error|warn|info|debug"; returns PIER_EINVAL for anything else. */
int pier_log_parse_level(const char *name, int *out);
void pier_log_write(int level, const char *mod, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#define PIER_LOG(level, mod, ...)                                      \
  do {                                                                 \
    if ((level) <= pier_log_level) pier_log_write((level), (mod), __VA_ARGS__); \
  } while (0)

#endif
