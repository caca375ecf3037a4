/* error.h — the one error enum of pier: 0 or a negative PIER_E* code.
 * Every fallible function returns int from this table; pier_strerror() names it. */
#ifndef PIER_BASE_ERROR_H
#define PIER_BASE_ERROR_H

#define PIER_WUR __attribute__((warn_unused_result))

/* X(name, value, message) */
#define PIER_ERRORS(X)                                      \
  X(OK, 0, "success")                                       \
  X(NOMEM, -1, "out of memory")                             \
  X(INVAL, -2, "invalid argument")                          \
  X(TOOBIG, -3, "limit exceeded")                           \
  X(PROTO, -4, "protocol error")                            \
  X(NOTFOUND, -5, "not found")                              \
  X(EXISTS, -6, "already exists")                           \
  X(IO, -7, "input/output error")                           \
  X(DB, -8, "database error")                               \
  X(AGAIN, -9, "need more data")                            \
  X(CRYPTO, -10, "cryptographic failure")                   \
  X(AUTH, -11, "authentication failed")                     \
  X(TIMEOUT, -12, "timed out")                              \
  X(CANCELLED, -13, "cancelled")                            \
  X(UPSTREAM, -14, "upstream failure")                      \
  X(CHECKSUM, -15, "checksum mismatch")                     \
  X(BUSY, -16, "busy")                                      \
  X(FORBIDDEN, -17, "forbidden")                            \
  X(CONFLICT, -18, "conflict")

enum {
#define PIER_ERR_ENUM(name, value, msg) PIER_E##name = (value),
  PIER_ERRORS(PIER_ERR_ENUM)
#undef PIER_ERR_ENUM
};

/* Static string for any code (unknown codes get "unknown error"). */
const char *pier_strerror(int code);

#endif
