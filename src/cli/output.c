/* output.c — how the CLI writes: colour only on a terminal (and never with
 * NO_COLOR), errors and hints on stderr, durations and ages for humans, aligned
 * tables. Invariant: nothing here prints a token or an env value. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli_int.h"

static const char *const sgr_codes[] = {
    [PIER_CLI_BOLD] = "\033[1m",    [PIER_CLI_DIM] = "\033[2m",   [PIER_CLI_RED] = "\033[31m",
    [PIER_CLI_GREEN] = "\033[32m",  [PIER_CLI_YELLOW] = "\033[33m", [PIER_CLI_CYAN] = "\033[36m",
    [PIER_CLI_RESET] = "\033[0m",
};

const char *pier_cli_sgr(const pier_cli *cli, FILE *f, int style) {
  bool on = f == stdout ? cli->color_out : f == stderr ? cli->color_err : false;
  return on ? sgr_codes[style] : "";
}

__attribute__((format(printf, 4, 0))) static void vmsg(const pier_cli *cli, int style, const char *label,
                                                       const char *fmt, va_list ap) {
  fprintf(stderr, "%s%s%s", pier_cli_sgr(cli, stderr, style), label, pier_cli_sgr(cli, stderr, PIER_CLI_RESET));
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
}

void pier_cli_err(const pier_cli *cli, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vmsg(cli, PIER_CLI_RED, "pier: ", fmt, ap);
  va_end(ap);
}

void pier_cli_hint(const pier_cli *cli, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vmsg(cli, PIER_CLI_DIM, "hint: ", fmt, ap);
  va_end(ap);
}

int pier_cli_print_raw(const pier_cli_resp *r) {
  if (r->body.len) fwrite(r->body.ptr, 1, r->body.len, stdout);
  if (!r->body.len || r->body.ptr[r->body.len - 1] != '\n') fputc('\n', stdout);
  return PIER_CLI_EXIT_OK;
}

/* cJSON_Print indents with tabs and puts one after each colon; inside strings
 * a tab is always escaped, so every raw tab is layout: two spaces at the start
 * of a line, one space elsewhere. */
void pier_cli_print_json(FILE *f, const cJSON *v) {
  char *s = cJSON_Print(v);
  if (!s) return;
  bool line_start = true;
  for (const char *p = s; *p; p++) {
    if (*p == '\t') fputs(line_start ? "  " : " ", f);
    else fputc(*p, f);
    line_start = *p == '\n' || (line_start && *p == '\t');
  }
  fputc('\n', f);
  cJSON_free(s);
}

int pier_cli_status_style(const char *status) {
  if (!status) return PIER_CLI_DIM;
  if (!strcmp(status, "completed") || !strcmp(status, "active")) return PIER_CLI_GREEN;
  if (!strcmp(status, "failed") || !strcmp(status, "revoked")) return PIER_CLI_RED;
  if (!strcmp(status, "running") || !strcmp(status, "pending")) return PIER_CLI_YELLOW;
  return PIER_CLI_DIM;
}

int pier_cli_status_exit(const char *status) {
  return status && !strcmp(status, "completed") ? PIER_CLI_EXIT_OK : PIER_CLI_EXIT_FAIL;
}

void pier_cli_fmt_duration(double s, char *out, size_t cap) {
  if (!(s >= 0)) s = 0;
  if (s < 10) snprintf(out, cap, "%.2fs", s);
  else if (s < 60) snprintf(out, cap, "%.1fs", s);
  else if (s < 3600) snprintf(out, cap, "%dm%02ds", (int)s / 60, (int)s % 60);
  else snprintf(out, cap, "%dh%02dm", (int)(s / 3600), ((int)s % 3600) / 60);
}

/* Whole seconds since the epoch of "YYYY-MM-DDTHH:MM:SS[.frac]Z"; -1 if unparsable. */
static time_t parse_iso(const char *s) {
  if (!s || strlen(s) < 19) return -1;
  static const int at[] = {0, 5, 8, 11, 14, 17}, len[] = {4, 2, 2, 2, 2, 2};
  int v[6];
  for (int i = 0; i < 6; i++) {
    v[i] = 0;
    for (int k = 0; k < len[i]; k++) {
      char c = s[at[i] + k];
      if (c < '0' || c > '9') return -1;
      v[i] = v[i] * 10 + (c - '0');
    }
  }
  struct tm tm = {.tm_year = v[0] - 1900, .tm_mon = v[1] - 1, .tm_mday = v[2], .tm_hour = v[3], .tm_min = v[4],
                  .tm_sec = v[5]};
  return timegm(&tm);
}

double pier_cli_iso_seconds(const char *iso) {
  time_t t = parse_iso(iso);
  if (t < 0) return -1;
  double frac = 0, scale = 0.1;
  if (iso[19] == '.')
    for (const char *p = iso + 20; *p >= '0' && *p <= '9'; p++, scale /= 10) frac += (*p - '0') * scale;
  return (double)t + frac;
}

void pier_cli_fmt_age(const char *iso, char *out, size_t cap) {
  time_t t = parse_iso(iso);
  if (t < 0) {
    snprintf(out, cap, "-");
    return;
  }
  long d = (long)(time(NULL) - t);
  if (d < 0) d = 0;
  if (d < 60) snprintf(out, cap, "%lds ago", d);
  else if (d < 3600) snprintf(out, cap, "%ldm ago", d / 60);
  else if (d < 86400) snprintf(out, cap, "%ldh ago", d / 3600);
  else snprintf(out, cap, "%ldd ago", d / 86400);
}

size_t pier_cli_width(const char *s) {
  size_t w = 0;
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p == 0x1b && p[1] == '[') { /* CSI ... final byte */
      p += 2;
      while (*p && !(*p >= 0x40 && *p <= 0x7e)) p++;
      if (!*p) break;
      continue;
    }
    if ((*p & 0xc0) != 0x80) w++;
  }
  return w;
}

/* ---- tables ----------------------------------------------------------------------------- */

void pier_cli_table_init(pier_cli_table *t, int ncols, const char *const *head) {
  memset(t, 0, sizeof *t);
  t->ncols = ncols > 8 ? 8 : ncols;
  for (int i = 0; i < t->ncols; i++) t->head[i] = head[i];
}

int pier_cli_table_row(pier_cli_table *t, const char *const *cells) {
  if (t->nrows == t->cap) {
    size_t cap = t->cap ? t->cap * 2 : 16;
    char **p = realloc(t->cells, cap * (size_t)t->ncols * sizeof *p);
    if (!p) return PIER_ENOMEM;
    t->cells = p;
    t->cap = cap;
  }
  char **row = t->cells + t->nrows * (size_t)t->ncols;
  for (int i = 0; i < t->ncols; i++) {
    row[i] = strdup(cells[i] ? cells[i] : "");
    if (!row[i]) {
      while (i-- > 0) free(row[i]);
      return PIER_ENOMEM;
    }
  }
  t->nrows++;
  return 0;
}

static void print_cell(FILE *f, const char *s, size_t width, bool last) {
  fputs(s, f);
  if (last) return;
  for (size_t w = pier_cli_width(s); w < width + 2; w++) fputc(' ', f);
}

void pier_cli_table_print(const pier_cli *cli, const pier_cli_table *t, const char *what) {
  if (!t->nrows) {
    fprintf(stderr, "No %s.\n", what);
    return;
  }
  size_t width[8] = {0};
  for (int c = 0; c < t->ncols; c++) {
    width[c] = pier_cli_width(t->head[c]);
    for (size_t r = 0; r < t->nrows; r++) {
      size_t w = pier_cli_width(t->cells[r * (size_t)t->ncols + (size_t)c]);
      if (w > width[c]) width[c] = w;
    }
  }
  fputs(pier_cli_sgr(cli, stdout, PIER_CLI_BOLD), stdout);
  for (int c = 0; c < t->ncols; c++) print_cell(stdout, t->head[c], width[c], c + 1 == t->ncols);
  fprintf(stdout, "%s\n", pier_cli_sgr(cli, stdout, PIER_CLI_RESET));
  for (size_t r = 0; r < t->nrows; r++) {
    for (int c = 0; c < t->ncols; c++)
      print_cell(stdout, t->cells[r * (size_t)t->ncols + (size_t)c], width[c], c + 1 == t->ncols);
    fputc('\n', stdout);
  }
}

void pier_cli_table_dispose(pier_cli_table *t) {
  for (size_t i = 0; i < t->nrows * (size_t)t->ncols; i++) free(t->cells[i]);
  free(t->cells);
  memset(t, 0, sizeof *t);
}
