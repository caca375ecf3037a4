/* bedrock_error.h — a Bedrock error (HTTP reply or in-stream exception frame)
 * -> the status, OpenAI error type and message pier tells its client, with the
 * fix from Jetty's troubleshooting table. Never fails; never echoes a credential. */
#ifndef PIER_LLM_BEDROCK_ERROR_H
#define PIER_LLM_BEDROCK_ERROR_H

#include <stdbool.h>

#include "base/slice.h"

typedef struct pier_bedrock_error {
  char name[64];       /* AWS name, capitalised ("ThrottlingException"); "" when unknown */
  int status;          /* HTTP status for pier's client (5xx except 503 -> 502, 408 -> 504) */
  const char *type;    /* static OpenAI error type: invalid_request_error, authentication_error,
                          permission_error, not_found_error, rate_limit_error, api_error, timeout_error */
  bool retryable;      /* 429, 5xx, ThrottlingException, ModelNotReadyException, ServiceUnavailable-,
                          InternalServer-, ModelStreamErrorException */
  char message[1024];  /* "<Name>: <AWS text>. Fix: <hint>" (NUL-terminated, valid UTF-8) */
} pier_bedrock_error;

/* http_status: Bedrock's status, or 0 for an in-stream exception (the status
 * then comes from the error name). error_type: the x-amzn-ErrorType header
 * (cut at the first ':' and after the last '#'), or the :exception-type of a
 * frame (lowerCamel is capitalised); may be empty, then the body's
 * __type/code is used. body: the JSON error body / frame payload (`message`
 * or `Message`; modelStreamErrorException's originalStatusCode/originalMessage
 * are appended), may be empty or not JSON. retries: how many times pier
 * already retried (quoted in the ThrottlingException hint when > 0). */
void pier_bedrock_error_map(int http_status, pier_slice error_type, pier_slice body, int retries,
                            pier_bedrock_error *out);

/* OpenAI `code` for the error body: the AWS name, or NULL when unknown. */
static inline const char *pier_bedrock_error_code(const pier_bedrock_error *e) {
  return e->name[0] ? e->name : (const char *)0;
}

#endif
