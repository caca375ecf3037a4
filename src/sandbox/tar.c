/* tar.c — a streaming tar reader (ustar, GNU long names, pax path/linkpath/
 * size) feeding the snapshot writer. Grammar: 512-byte header blocks, each
 * followed by its data padded to 512; two zero blocks (or the end) finish.
 * Invariant: every member path goes through pier_snapshot_path_check before
 * the writer sees it; header-declared sizes are overflow-checked and metadata
 * (long names, pax records) is capped before anything is allocated. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sandbox/sandbox_int.h"

#define BLOCK 512
#define META_BYTES_MAX (1024 * 1024) /* a long name or a pax header */

typedef struct tar_state {
  sb_reader *r;
  sb_writer *w;
  pier_buf long_name, long_link; /* from GNU 'L'/'K' or pax path/linkpath */
  bool have_name, have_link, have_size;
  uint64_t pax_size;
} tar_state;

static int terr(tar_state *t, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int terr(tar_state *t, int rc, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(t->w->err, t->w->errlen, fmt, ap);
  va_end(ap);
  return rc;
}

/* Octal (NUL/space padded) or GNU base-256 numbers. */
static int parse_num(const unsigned char *f, size_t n, uint64_t *out) {
  uint64_t v = 0;
  if (f[0] & 0x80) { /* base-256, big endian; the first byte's top bit is the marker */
    if (f[0] != 0x80) return PIER_EINVAL; /* negative or too big */
    for (size_t i = 1; i < n; i++) {
      if (v >> 56) return PIER_EINVAL;
      v = (v << 8) | f[i];
    }
    *out = v;
    return 0;
  }
  size_t i = 0;
  while (i < n && f[i] == ' ') i++;
  for (; i < n && f[i] >= '0' && f[i] <= '7'; i++) {
    if (v >> 60) return PIER_EINVAL;
    v = (v << 3) | (uint64_t)(f[i] - '0');
  }
  for (; i < n; i++)
    if (f[i] != ' ' && f[i] != '\0') return PIER_EINVAL;
  *out = v;
  return 0;
}

static bool checksum_ok(const unsigned char *h) {
  uint64_t want;
  if (parse_num(h + 148, 8, &want)) return false;
  uint64_t u = 0;
  int64_t s = 0;
  for (int i = 0; i < BLOCK; i++) {
    unsigned char c = (i >= 148 && i < 156) ? ' ' : h[i];
    u += c;
    s += (signed char)c;
  }
  return want == u || (int64_t)want == s;
}

static int read_blocks(tar_state *t, void *buf, size_t n) {
  int rc = t->r->read(t->r->ctx, buf, n);
  return rc == PIER_EAGAIN ? terr(t, PIER_EPROTO, "the archive ends in the middle of an entry") : rc;
}

/* Skip size bytes of data plus padding. */
static int skip_data(tar_state *t, uint64_t size) {
  unsigned char buf[BLOCK * 16];
  uint64_t left = (size + BLOCK - 1) / BLOCK * BLOCK;
  while (left) {
    size_t k = left > sizeof buf ? sizeof buf : (size_t)left;
    int rc = read_blocks(t, buf, k);
    if (rc) return rc;
    left -= k;
  }
  return 0;
}

/* Read a metadata member (capped) into b. */
static int read_meta(tar_state *t, uint64_t size, pier_buf *b) {
  if (size > META_BYTES_MAX) return terr(t, PIER_ETOOBIG, "an archive header is larger than 1 MiB");
  pier_buf_reset(b);
  size_t padded = (size_t)((size + BLOCK - 1) / BLOCK * BLOCK);
  int rc = pier_buf_reserve(b, padded ? padded : 1);
  if (!rc) rc = read_blocks(t, b->ptr, padded);
  if (rc) return rc;
  b->len = (size_t)size;
  while (b->len && b->ptr[b->len - 1] == '\0') b->len--; /* GNU names are NUL-terminated */
  b->ptr[b->len] = '\0';
  return 0;
}

/* pax records: "LEN key=value\n"; only path, linkpath and size matter. */
static int parse_pax(tar_state *t, const pier_buf *b) {
  size_t i = 0;
  while (i < b->len) {
    size_t j = i, len = 0;
    while (j < b->len && b->ptr[j] >= '0' && b->ptr[j] <= '9' && len < META_BYTES_MAX)
      len = len * 10 + (size_t)(b->ptr[j++] - '0');
    if (j >= b->len || b->ptr[j] != ' ' || len <= j - i + 1 || i + len > b->len || b->ptr[i + len - 1] != '\n')
      return terr(t, PIER_EPROTO, "malformed pax header");
    const char *kv = b->ptr + j + 1, *end = b->ptr + i + len - 1;
    const char *eq = memchr(kv, '=', (size_t)(end - kv));
    if (!eq) return terr(t, PIER_EPROTO, "malformed pax record");
    size_t klen = (size_t)(eq - kv), vlen = (size_t)(end - eq - 1);
    int rc = 0;
    if (klen == 4 && memcmp(kv, "path", 4) == 0) {
      pier_buf_reset(&t->long_name);
      rc = pier_buf_append(&t->long_name, eq + 1, vlen);
      t->have_name = true;
    } else if (klen == 8 && memcmp(kv, "linkpath", 8) == 0) {
      pier_buf_reset(&t->long_link);
      rc = pier_buf_append(&t->long_link, eq + 1, vlen);
      t->have_link = true;
    } else if (klen == 4 && memcmp(kv, "size", 4) == 0) {
      unsigned long long v;
      if (pier_slice_to_u64(pier_slice_make(eq + 1, vlen), &v)) return terr(t, PIER_EPROTO, "bad pax size");
      t->pax_size = v;
      t->have_size = true;
    }
    if (rc) return rc;
    i += len;
  }
  return 0;
}

static int write_file(tar_state *t, const char *path, uint64_t mode, uint64_t size) {
  int fd = -1;
  int rc = sb_writer_file(t->w, path, (mode_t)mode, &fd);
  if (rc) return rc;
  unsigned char buf[BLOCK * 64];
  uint64_t left = size, padded = (size + BLOCK - 1) / BLOCK * BLOCK;
  while (!rc && padded) {
    size_t k = padded > sizeof buf ? sizeof buf : (size_t)padded;
    rc = read_blocks(t, buf, k);
    size_t data = left > k ? k : (size_t)left;
    for (size_t off = 0; !rc && off < data;) {
      ssize_t n = write(fd, buf + off, data - off);
      if (n <= 0) rc = terr(t, PIER_EIO, "cannot write %s", path);
      else off += (size_t)n;
    }
    left -= data;
    padded -= k;
  }
  close(fd);
  t->w->st.bytes += size;
  return rc;
}

/* Full member name: pax/GNU long name, else ustar prefix + "/" + name. */
static int header_name(tar_state *t, const unsigned char *h, pier_buf *out) {
  pier_buf_reset(out);
  if (t->have_name) return pier_buf_append_slice(out, pier_buf_slice(&t->long_name));
  bool ustar = memcmp(h + 257, "ustar", 5) == 0;
  size_t plen = ustar ? strnlen((const char *)h + 345, 155) : 0;
  int rc = plen ? pier_buf_append(out, h + 345, plen) : 0;
  if (!rc && plen) rc = pier_buf_putc(out, '/');
  if (!rc) rc = pier_buf_append(out, h, strnlen((const char *)h, 100));
  return rc;
}

static int member(tar_state *t, const unsigned char *h, uint64_t size) {
  char type = (char)h[156];
  pier_buf raw;
  pier_buf_init(&raw, 0);
  char path[PATH_MAX], link[PATH_MAX];
  int rc = header_name(t, h, &raw);
  if (rc) {
    pier_buf_dispose(&raw);
    return rc;
  }
  rc = raw.len ? pier_snapshot_path_check(raw.ptr, raw.len, path, sizeof path) : PIER_EINVAL;
  if (rc) {
    snprintf(t->w->err, t->w->errlen, "rejected: archive member \"%.200s\" %s", raw.ptr ? raw.ptr : "",
             rc == PIER_EFORBIDDEN ? "is absolute or contains \"..\"" : "has an invalid name");
    pier_buf_dispose(&raw);
    return PIER_EFORBIDDEN;
  }
  pier_buf_dispose(&raw);
  if (t->have_link) snprintf(link, sizeof link, "%s", t->long_link.ptr ? t->long_link.ptr : "");
  else snprintf(link, sizeof link, "%.*s", (int)strnlen((const char *)h + 157, 100), (const char *)h + 157);
  uint64_t mode = 0;
  if (parse_num(h + 100, 8, &mode)) return terr(t, PIER_EPROTO, "bad mode for %s", path);
  switch (type) {
    case '0': case '\0': case '7': return write_file(t, path, mode, size);
    case '5': rc = sb_writer_dir(t->w, path, (mode_t)mode); break;
    case '2': rc = sb_writer_symlink(t->w, path, link); break;
    case '1': rc = sb_writer_hardlink(t->w, path, link); break;
    case '3': case '4': case '6': t->w->st.skipped++; break; /* devices and fifos stay out */
    default: return terr(t, PIER_EPROTO, "unsupported archive entry type for %s", path);
  }
  return rc ? rc : skip_data(t, size);
}

static bool all_zero(const unsigned char *h) {
  for (int i = 0; i < BLOCK; i++)
    if (h[i]) return false;
  return true;
}

static int next(tar_state *t, unsigned char *h, bool *done) {
  int rc = t->r->read(t->r->ctx, h, BLOCK);
  if (rc == PIER_EAGAIN || (!rc && all_zero(h))) { /* end of archive */
    *done = true;
    return 0;
  }
  if (rc) return terr(t, rc, "cannot read the archive");
  if (!checksum_ok(h)) return terr(t, PIER_EPROTO, "not a tar archive (bad header checksum)");
  uint64_t size;
  if (parse_num(h + 124, 12, &size)) return terr(t, PIER_EPROTO, "bad size in the archive");
  char type = (char)h[156];
  if (type == 'L' || type == 'K') {
    pier_buf *b = type == 'L' ? &t->long_name : &t->long_link;
    if ((rc = read_meta(t, size, b))) return rc;
    *(type == 'L' ? &t->have_name : &t->have_link) = true;
    return 0;
  }
  if (type == 'x' || type == 'g') {
    pier_buf meta;
    pier_buf_init(&meta, META_BYTES_MAX + BLOCK);
    rc = read_meta(t, size, &meta);
    if (!rc && type == 'x') rc = parse_pax(t, &meta);
    pier_buf_dispose(&meta);
    return rc;
  }
  if (t->have_size) size = t->pax_size;
  rc = member(t, h, size);
  t->have_name = t->have_link = t->have_size = false;
  return rc;
}

int sb_tar_extract(sb_reader *r, sb_writer *w) {
  tar_state t = {.r = r, .w = w};
  pier_buf_init(&t.long_name, META_BYTES_MAX + BLOCK);
  pier_buf_init(&t.long_link, META_BYTES_MAX + BLOCK);
  unsigned char h[BLOCK];
  bool done = false;
  int rc = 0, n = 0;
  while (!rc && !done) {
    rc = next(&t, h, &done);
    n++;
  }
  if (!rc && n == 1) rc = terr(&t, PIER_EPROTO, "the archive is empty");
  pier_buf_dispose(&t.long_name);
  pier_buf_dispose(&t.long_link);
  return rc;
}
