/* error.c — names for the PIER_E* table. */
#include "base/error.h"

const char *pier_strerror(int code) {
  switch (code) {
#define PIER_ERR_CASE(name, value, msg) \
  case (value):                         \
    return (msg);
    PIER_ERRORS(PIER_ERR_CASE)
#undef PIER_ERR_CASE
  default:
    return "unknown error";
  }
}
