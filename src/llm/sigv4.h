/* sigv4.h — AWS Signature Version 4 (AWS4-HMAC-SHA256) on libsodium, as botocore
 * signs non-S3 services: the canonical URI is the wire path normalised and
 * percent-encoded once more ("%3A" -> "%253A"). Secrets never leave this module
 * except as the final signature; derived keys are wiped before returning. */
#ifndef PIER_LLM_SIGV4_H
#define PIER_LLM_SIGV4_H

#include <stddef.h>
#include <time.h>

#include "base/buf.h"
#include "base/error.h"
#include "base/slice.h"

/* Module caps (kept here rather than base/limits.h: nothing else uses them). */
#define PIER_SIGV4_HEADERS_MAX 32         /* extra signed headers per request */
#define PIER_SIGV4_QUERY_PARAMS_MAX 128   /* parameters in the query string */
#define PIER_SIGV4_SECRET_BYTES_MAX 256   /* secret access key length */
#define PIER_SIGV4_CANONICAL_BYTES_MAX (256 * 1024) /* canonical request size */
#define PIER_SIGV4_AMZ_DATE_BYTES 17      /* "YYYYMMDDTHHMMSSZ" + NUL */

/* RFC 3986 percent-encoding with uppercase hex, appended to `out`. Unreserved
 * bytes A-Za-z0-9 - . _ ~ are never encoded; bytes found in `safe` (NUL-
 * terminated, may be NULL) are kept as well. Used with safe "" for a Bedrock
 * modelId in a path ("v1:0" -> "v1%3A0", "/" -> "%2F"). On error `out` is left
 * as it was. `in` is borrowed. */
int pier_uri_encode(pier_buf *out, pier_slice in, const char *safe) PIER_WUR;

/* Format `t` (UTC) as the X-Amz-Date value "YYYYMMDDTHHMMSSZ" into `out`.
 * PIER_EINVAL if the year does not fit in four digits. */
int pier_sigv4_amz_date(time_t t, char out[PIER_SIGV4_AMZ_DATE_BYTES]) PIER_WUR;

/* One extra header to sign, exactly as it will be sent. Borrowed. */
typedef struct pier_sigv4_header {
  pier_slice name;  /* any case; lower-cased for signing */
  pier_slice value; /* trimmed, inner space/tab runs collapsed for signing */
} pier_sigv4_header;

/* What is signed. Every pointer is borrowed for the duration of the call. */
typedef struct pier_sigv4_request {
  const char *method; /* "POST", "GET" (upper case as sent) */
  pier_slice path;    /* wire path, already percent-encoded, starts with '/' (empty = "/") */
  pier_slice query;   /* wire query without '?'; may be empty */
  pier_slice host;    /* Host header value as sent (with ":port" if non-default) */
  const pier_sigv4_header *headers; /* extra headers, e.g. content-type; may be NULL */
  size_t headers_count;             /* <= PIER_SIGV4_HEADERS_MAX */
  pier_slice body;    /* the exact body bytes sent (empty for none) */
  const char *region;   /* "us-east-1" */
  const char *service;  /* signing name: "bedrock" (not "bedrock-runtime") */
  const char *amz_date; /* "YYYYMMDDTHHMMSSZ", also sent as X-Amz-Date */
} pier_sigv4_request;

/* Credentials. Borrowed; never copied except into wiped stack scratch. */
typedef struct pier_sigv4_creds {
  pier_slice access_key_id;
  pier_slice secret_access_key;
  pier_slice session_token; /* empty = none; else sent as X-Amz-Security-Token */
} pier_sigv4_creds;

/* Optional intermediates for tests and for debugging an InvalidSignatureException
 * (AWS echoes its canonical request and string to sign). The caller initialises
 * both buffers (pier_buf_init) and disposes them; sign() appends to them.
 * signing_key_hex is derived secret material: tests only, never log it. */
typedef struct pier_sigv4_debug {
  pier_buf canonical_request;
  pier_buf string_to_sign;
  char signing_key_hex[65];
} pier_sigv4_debug;

/* Sign `req` and append the Authorization header value to `authorization`:
 *   AWS4-HMAC-SHA256 Credential=AKID/yyyymmdd/region/service/aws4_request,
 *   SignedHeaders=a;b;c, Signature=<64 hex>
 * Always signed: host, x-amz-date, and x-amz-security-token when a session token
 * is given; the caller must send X-Amz-Date (req->amz_date) and that token header
 * with exactly those values, plus every header in req->headers. Those three names
 * (and authorization) must not appear in req->headers. Repeated extra header
 * names are joined with ',' in order, as AWS specifies.
 * Errors: PIER_EINVAL (malformed date/region/service/key id, a header with CR/LF,
 * bad %-escape in the query, path not starting with '/'), PIER_ETOOBIG (over a
 * cap above), PIER_ENOMEM. On error `authorization` is left as it was.
 * `debug` may be NULL. */
int pier_sigv4_sign(const pier_sigv4_request *req, const pier_sigv4_creds *creds,
                    pier_buf *authorization, pier_sigv4_debug *debug) PIER_WUR;

#endif
