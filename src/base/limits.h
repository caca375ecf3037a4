/* limits.h — every cap on something that can grow lives here, in one place.
 * Runtime-configurable ones are defaults for pier_config. */
#ifndef PIER_BASE_LIMITS_H
#define PIER_BASE_LIMITS_H

/* HTTP server */
#define PIER_HTTP_URL_BYTES_MAX (8 * 1024)
#define PIER_HTTP_HEADER_BYTES_MAX (64 * 1024)
#define PIER_HTTP_HEADERS_COUNT_MAX 128
#define PIER_HTTP_BODY_BYTES_DEFAULT (32u * 1024 * 1024)
#define PIER_HTTP_REQUEST_TIMEOUT_MS_DEFAULT 30000 /* stall mid-request -> 408 */
#define PIER_HTTP_KEEPALIVE_TIMEOUT_MS 75000
#define PIER_HTTP_SHUTDOWN_GRACE_MS 10000
#define PIER_HTTP_ROUTE_PARAMS_MAX 8
#define PIER_HTTP_READ_CHUNK 65536

/* JSON */
#define PIER_JSON_DEPTH_MAX 64

/* Names and values */
#define PIER_NAME_BYTES_MAX 64       /* collection names */
#define PIER_TASK_NAME_BYTES_MAX 128
#define PIER_ENV_NAME_BYTES_MAX 128
#define PIER_ENV_VALUE_BYTES_MAX (64 * 1024)
#define PIER_ENV_VARS_MAX 512        /* per collection */
#define PIER_DESCRIPTION_BYTES_MAX (16 * 1024)
#define PIER_WORKFLOW_BYTES_MAX (4 * 1024 * 1024)
#define PIER_LIST_LIMIT_MAX 500

/* Store */
#define PIER_STORE_READERS 2
#define PIER_STORE_BATCH_MAX 256     /* writes per group commit */

#endif
