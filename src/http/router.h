/* router.h — match a request's method and path against a static route table.
 * Patterns are "/a/{name}/b" ({name} = one segment) or "/file/{path*}" (the
 * rest). A trailing slash is not significant. Params are percent-decoded. */
#ifndef PIER_HTTP_ROUTER_H
#define PIER_HTTP_ROUTER_H

#include "http/server.h"

typedef void (*pier_http_handler)(pier_http_req *req);

typedef struct pier_http_route {
  int method;              /* PIER_HTTP_*; HEAD requests match GET routes */
  const char *pattern;
  pier_http_handler handler;
  unsigned flags;          /* application-defined (auth kind, ...) */
} pier_http_route;

/* 0 and *out set: matched (req->params filled). PIER_ENOTFOUND: no pattern
 * matches the path. PIER_EINVAL: the path matches but not the method; `allow`
 * receives e.g. "GET, POST". PIER_EPROTO: a param has a bad %-escape. */
int pier_router_match(const pier_http_route *routes, size_t n, pier_http_req *req, const pier_http_route **out, char *allow,
                      size_t allowlen) PIER_WUR;

#endif
