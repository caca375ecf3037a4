/* unzip.c — see unzip.h. Layout per PKWARE's APPNOTE: the End Of Central
 * Directory record at the end, the central directory it points to, and for
 * each member a local header followed by its data. Only the central directory
 * is trusted for names and sizes; the local header only gives the data offset. */
#define _GNU_SOURCE
#include "engine/activities/unzip.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define EOCD_SIG 0x06054b50u
#define CDIR_SIG 0x02014b50u
#define LOCAL_SIG 0x04034b50u
#define EOCD_MIN 22
#define COMMENT_MAX 65535
#define CDIR_MAX (64u * 1024 * 1024)
#define NAME_MAX_LEN 1024
#define CHUNK 65536

static uint16_t u16(const unsigned char *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t u32(const unsigned char *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static bool read_at(int fd, void *buf, size_t n, uint64_t off) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = pread(fd, (char *)buf + got, n - got, (off_t)(off + got));
    if (r <= 0) {
      if (r < 0 && errno == EINTR) continue;
      return false;
    }
    got += (size_t)r;
  }
  return true;
}

/* "a/b/c.txt" or "a/b/" (a directory): every segment non-empty and neither
 * "." nor "..", no leading "/", no backslash or NUL. */
static bool name_ok(const char *name, size_t len) {
  if (!len || name[0] == '/') return false;
  if (name[len - 1] == '/') len--; /* the directory marker */
  if (!len) return false;
  for (size_t i = 0; i < len; i++)
    if (name[i] == '\\' || name[i] == '\0') return false;
  for (size_t i = 0; i <= len;) {
    size_t j = i;
    while (j < len && name[j] != '/') j++;
    size_t seg = j - i;
    if (seg == 0 || (seg == 1 && name[i] == '.') || (seg == 2 && name[i] == '.' && name[i + 1] == '.'))
      return false;
    i = j + 1;
  }
  return true;
}

static int mkdirs_under(const char *dest, const char *rel, bool include_last, char *err, size_t errlen) {
  char path[4096];
  int n = snprintf(path, sizeof path, "%s/%s", dest, rel);
  if (n < 0 || (size_t)n >= sizeof path) {
    snprintf(err, errlen, "zip member %.200s: path too long", rel);
    return PIER_EINVAL;
  }
  size_t base = strlen(dest) + 1;
  for (char *p = path + base; *p; p++) {
    if (*p != '/') continue;
    *p = '\0';
    if (mkdir(path, 0700) != 0 && errno != EEXIST) goto fail;
    struct stat st;
    if (lstat(path, &st) != 0 || !S_ISDIR(st.st_mode)) goto fail; /* a file or link in the way */
    *p = '/';
  }
  if (include_last && path[strlen(path) - 1] != '/' && mkdir(path, 0700) != 0 && errno != EEXIST) goto fail;
  return 0;
fail:
  snprintf(err, errlen, "zip member %.200s: cannot create its directory (a file of the same name exists)", rel);
  return PIER_EEXISTS;
}

typedef struct member {
  const char *name;
  uint16_t flags, method;
  uint32_t crc, csize, usize, local_off;
} member;

static int extract(int fd, uint64_t zip_size, const char *dest, const member *m, uint64_t *budget, char *err,
                   size_t errlen) {
  unsigned char lh[30];
  if (!read_at(fd, lh, sizeof lh, m->local_off) || u32(lh) != LOCAL_SIG) {
    snprintf(err, errlen, "zip member %.200s: its local header is missing or damaged", m->name);
    return PIER_EINVAL;
  }
  uint64_t data = (uint64_t)m->local_off + 30 + u16(lh + 26) + u16(lh + 28);
  if (data + m->csize > zip_size) {
    snprintf(err, errlen, "zip member %.200s: its data runs past the end of the archive", m->name);
    return PIER_EINVAL;
  }
  if ((uint64_t)m->usize > *budget) {
    snprintf(err, errlen, "zip member %.200s: the archive expands beyond the size limit", m->name);
    return PIER_ETOOBIG;
  }
  int rc = mkdirs_under(dest, m->name, false, err, errlen);
  if (rc) return rc;
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dest, m->name);
  int out = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (out < 0) {
    snprintf(err, errlen, "zip member %.200s: %s", m->name,
             errno == EEXIST ? "a file of the same name is already in /app/assets" : "cannot be created");
    return errno == EEXIST ? PIER_EEXISTS : PIER_EIO;
  }
  z_stream z = {0};
  bool inflating = m->method == 8;
  if (inflating && inflateInit2(&z, -MAX_WBITS) != Z_OK) {
    close(out);
    snprintf(err, errlen, "zip member %.200s: out of memory for the decompressor", m->name);
    return PIER_ENOMEM;
  }
  unsigned char *in = malloc(CHUNK), *buf = malloc(CHUNK);
  uint64_t left = m->csize, written = 0;
  uLong crc = crc32(0, Z_NULL, 0);
  rc = in && buf ? 0 : PIER_ENOMEM;
  bool ended = !inflating && left == 0;
  while (!rc && left > 0) {
    size_t n = left < CHUNK ? (size_t)left : CHUNK;
    if (!read_at(fd, in, n, data)) {
      rc = PIER_EIO;
      break;
    }
    data += n;
    left -= n;
    if (!inflating) {
      written += n;
      if (written > m->usize) break;
      crc = crc32(crc, in, (uInt)n);
      if (write(out, in, n) != (ssize_t)n) rc = PIER_EIO;
      ended = left == 0;
      continue;
    }
    z.next_in = in;
    z.avail_in = (uInt)n;
    while (!rc && z.avail_in > 0 && !ended) {
      z.next_out = buf;
      z.avail_out = CHUNK;
      int zr = inflate(&z, Z_NO_FLUSH);
      if (zr != Z_OK && zr != Z_STREAM_END) {
        snprintf(err, errlen, "zip member %.200s: its compressed data is damaged", m->name);
        rc = PIER_EINVAL;
        break;
      }
      size_t got = CHUNK - z.avail_out;
      written += got;
      if (written > m->usize) break; /* more than it declared: a bomb or a lie */
      crc = crc32(crc, buf, (uInt)got);
      if (got && write(out, buf, got) != (ssize_t)got) rc = PIER_EIO;
      if (zr == Z_STREAM_END) ended = true;
    }
    if (written > m->usize) break;
  }
  if (inflating) inflateEnd(&z);
  free(in);
  free(buf);
  close(out);
  if (!rc && (written != m->usize || !ended)) {
    snprintf(err, errlen, "zip member %.200s: its size does not match the archive's directory", m->name);
    rc = PIER_EINVAL;
  }
  if (!rc && crc != m->crc) {
    snprintf(err, errlen, "zip member %.200s: CRC mismatch (the archive is damaged)", m->name);
    rc = PIER_EINVAL;
  }
  if (rc == PIER_EIO && !err[0]) snprintf(err, errlen, "zip member %.200s: could not be written", m->name);
  if (rc == PIER_ENOMEM) snprintf(err, errlen, "out of memory");
  if (!rc) *budget -= written;
  return rc;
}

int pier_unzip(const char *zip_path, const char *dest_dir, const pier_unzip_limits *lim, char *err, size_t errlen) {
  err[0] = '\0';
  int fd = open(zip_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) != 0) {
    if (fd >= 0) close(fd);
    snprintf(err, errlen, "the zip archive cannot be opened");
    return PIER_EIO;
  }
  uint64_t size = (uint64_t)st.st_size;
  size_t tail = size < EOCD_MIN + COMMENT_MAX ? (size_t)size : EOCD_MIN + COMMENT_MAX;
  unsigned char *t = malloc(tail ? tail : 1);
  unsigned char *cd = NULL;
  int rc = 0;
  if (!t || size < EOCD_MIN || !read_at(fd, t, tail, size - tail)) {
    rc = t ? PIER_EINVAL : PIER_ENOMEM;
    snprintf(err, errlen, "not a zip archive (too short)");
    goto out;
  }
  const unsigned char *eocd = NULL;
  for (size_t i = tail - EOCD_MIN + 1; i-- > 0;)
    if (u32(t + i) == EOCD_SIG) {
      eocd = t + i;
      break;
    }
  if (!eocd) {
    rc = PIER_EINVAL;
    snprintf(err, errlen, "not a zip archive (no end of central directory record)");
    goto out;
  }
  uint16_t entries = u16(eocd + 10);
  uint32_t cd_size = u32(eocd + 12), cd_off = u32(eocd + 16);
  if (entries == 0xFFFF || cd_size == 0xFFFFFFFFu || cd_off == 0xFFFFFFFFu) {
    rc = PIER_EINVAL;
    snprintf(err, errlen, "Zip64 archives are not supported; make a plain zip (under 4 GiB, 65535 members)");
    goto out;
  }
  if (entries > lim->entries_max) {
    rc = PIER_ETOOBIG;
    snprintf(err, errlen, "the zip archive has %u members; at most %zu are extracted", entries, lim->entries_max);
    goto out;
  }
  if (cd_size > CDIR_MAX || (uint64_t)cd_off + cd_size > size) {
    rc = PIER_EINVAL;
    snprintf(err, errlen, "the zip archive's central directory is damaged");
    goto out;
  }
  cd = malloc(cd_size ? cd_size : 1);
  if (!cd || !read_at(fd, cd, cd_size, cd_off)) {
    rc = cd ? PIER_EIO : PIER_ENOMEM;
    snprintf(err, errlen, "the zip archive's central directory cannot be read");
    goto out;
  }
  uint64_t budget = lim->bytes_max;
  size_t pos = 0;
  for (unsigned i = 0; i < entries && !rc; i++) {
    if (pos + 46 > cd_size || u32(cd + pos) != CDIR_SIG) {
      rc = PIER_EINVAL;
      snprintf(err, errlen, "the zip archive's central directory is damaged");
      break;
    }
    const unsigned char *e = cd + pos;
    size_t nlen = u16(e + 28), xlen = u16(e + 30), clen = u16(e + 32);
    if (pos + 46 + nlen + xlen + clen > cd_size) {
      rc = PIER_EINVAL;
      snprintf(err, errlen, "the zip archive's central directory is damaged");
      break;
    }
    char name[NAME_MAX_LEN + 1];
    if (nlen > NAME_MAX_LEN) {
      rc = PIER_EINVAL;
      snprintf(err, errlen, "a zip member's name is longer than %d bytes", NAME_MAX_LEN);
      break;
    }
    memcpy(name, e + 46, nlen);
    name[nlen] = '\0';
    pos += 46 + nlen + xlen + clen;
    member m = {.name = name, .flags = u16(e + 8), .method = u16(e + 10), .crc = u32(e + 16),
                .csize = u32(e + 20), .usize = u32(e + 24), .local_off = u32(e + 42)};
    if (!name_ok(name, nlen)) {
      rc = PIER_EINVAL;
      snprintf(err, errlen, "zip member \"%.200s\" has an unsafe path (absolute, \"..\", \".\" or backslashes)",
               name);
      break;
    }
    uint32_t mode = u32(e + 38) >> 16;
    bool unix_made = (u16(e + 4) >> 8) == 3;
    /* symlinks, devices, fifos: skipped (no type bits: a plain file) */
    if (unix_made && (mode & S_IFMT) && !S_ISREG(mode) && !S_ISDIR(mode)) continue;
    if (name[nlen - 1] == '/') {
      rc = mkdirs_under(dest_dir, name, true, err, errlen);
      continue;
    }
    if (m.flags & 1) {
      rc = PIER_EINVAL;
      snprintf(err, errlen, "zip member %.200s is encrypted; encrypted archives are not supported", name);
      break;
    }
    if (m.method != 0 && m.method != 8) {
      rc = PIER_EINVAL;
      snprintf(err, errlen, "zip member %.200s uses compression method %u; only stored and deflate are supported",
               name, m.method);
      break;
    }
    if (m.csize == 0xFFFFFFFFu || m.usize == 0xFFFFFFFFu || m.local_off == 0xFFFFFFFFu) {
      rc = PIER_EINVAL;
      snprintf(err, errlen, "zip member %.200s needs Zip64, which is not supported", name);
      break;
    }
    rc = extract(fd, size, dest_dir, &m, &budget, err, errlen);
  }
out:
  free(t);
  free(cd);
  close(fd);
  return rc;
}
