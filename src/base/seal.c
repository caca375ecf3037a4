/* seal.c — secretbox wrappers and master-key loading. The key file holds the
 * key as 64 hex characters; it is created with O_EXCL and mode 0600. */
#include "base/seal.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/util.h"

int pier_seal(const unsigned char key[PIER_SEAL_KEY_BYTES], const void *plain, size_t len,
              unsigned char nonce[PIER_SEAL_NONCE_BYTES], pier_buf *out) {
  randombytes_buf(nonce, PIER_SEAL_NONCE_BYTES);
  pier_buf_reset(out);
  int rc = pier_buf_reserve(out, len + crypto_secretbox_MACBYTES);
  if (rc) return rc;
  crypto_secretbox_easy((unsigned char *)out->ptr, plain, len, nonce, key);
  out->len = len + crypto_secretbox_MACBYTES;
  out->ptr[out->len] = '\0';
  return 0;
}

int pier_unseal(const unsigned char key[PIER_SEAL_KEY_BYTES], const void *boxed, size_t len,
                const unsigned char nonce[PIER_SEAL_NONCE_BYTES], pier_buf *out) {
  if (len < crypto_secretbox_MACBYTES) return PIER_ECRYPTO;
  pier_buf_reset(out);
  size_t plen = len - crypto_secretbox_MACBYTES;
  int rc = pier_buf_reserve(out, plen);
  if (rc) return rc;
  if (crypto_secretbox_open_easy((unsigned char *)out->ptr, boxed, len, nonce, key) != 0) return PIER_ECRYPTO;
  out->len = plen;
  out->ptr[plen] = '\0';
  return 0;
}

static int read_key_file(const char *path, unsigned char key[PIER_SEAL_KEY_BYTES]) {
  char hex[65];
  FILE *f = fopen(path, "r");
  if (!f) return errno == ENOENT ? PIER_ENOTFOUND : PIER_EIO;
  size_t n = fread(hex, 1, 64, f);
  fclose(f);
  int rc = n == 64 ? pier_unhex(hex, 64, key, PIER_SEAL_KEY_BYTES) : PIER_EINVAL;
  sodium_memzero(hex, sizeof hex);
  return rc;
}

int pier_seal_load_key(const char *dir, unsigned char key[PIER_SEAL_KEY_BYTES], char *err, size_t errlen) {
  const char *env = getenv("PIER_MASTER_KEY");
  if (env && *env) {
    if (strlen(env) != 64 || pier_unhex(env, 64, key, PIER_SEAL_KEY_BYTES) != 0) {
      snprintf(err, errlen, "PIER_MASTER_KEY must be 64 hexadecimal characters (32 bytes)");
      return PIER_EINVAL;
    }
    return 0;
  }
  char path[4096];
  snprintf(path, sizeof path, "%s/master.key", dir);
  int rc = read_key_file(path, key);
  if (rc == 0) return 0;
  if (rc != PIER_ENOTFOUND) {
    snprintf(err, errlen, "%s is unreadable or not 64 hexadecimal characters", path);
    return rc;
  }
  randombytes_buf(key, PIER_SEAL_KEY_BYTES);
  char hex[65];
  pier_hex(key, PIER_SEAL_KEY_BYTES, hex);
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  bool ok = fd >= 0 && write(fd, hex, 64) == 64 && write(fd, "\n", 1) == 1 && fsync(fd) == 0;
  if (fd >= 0) close(fd);
  sodium_memzero(hex, sizeof hex);
  if (!ok) {
    snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
    return PIER_EIO;
  }
  return 0;
}
