/* seal.h — secrets at rest: libsodium crypto_secretbox (XSalsa20-Poly1305)
 * under the server's 32-byte master key, a fresh random nonce per value. */
#ifndef PIER_BASE_SEAL_H
#define PIER_BASE_SEAL_H

#include <stddef.h>

#include "base/buf.h"
#include "base/error.h"

#define PIER_SEAL_KEY_BYTES 32
#define PIER_SEAL_NONCE_BYTES 24
#define PIER_SEAL_MAC_BYTES 16

/* out receives MAC+ciphertext (len + 16 bytes); nonce is filled. */
int pier_seal(const unsigned char key[PIER_SEAL_KEY_BYTES], const void *plain, size_t len,
              unsigned char nonce[PIER_SEAL_NONCE_BYTES], pier_buf *out) PIER_WUR;
/* PIER_ECRYPTO when the box does not authenticate (wrong key, tampered data). */
int pier_unseal(const unsigned char key[PIER_SEAL_KEY_BYTES], const void *boxed, size_t len,
                const unsigned char nonce[PIER_SEAL_NONCE_BYTES], pier_buf *out) PIER_WUR;
/* Load the master key from env PIER_MASTER_KEY (64 hex chars) or <dir>/master.key
 * (created 0600 with a random key on first use). err gets a sentence on failure. */
int pier_seal_load_key(const char *data_dir, unsigned char key[PIER_SEAL_KEY_BYTES], char *err,
                       size_t errlen) PIER_WUR;

#endif
