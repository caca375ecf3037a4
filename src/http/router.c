/* router.c — segment-by-segment matching; tables are small (tens of routes), so
 * a linear scan with no allocation on a miss beats anything cleverer. */
#include "http/router.h"

#include <stdio.h>
#include <string.h>

static pier_slice strip_slash(pier_slice s) {
  while (s.len > 1 && s.ptr[s.len - 1] == '/') s.len--;
  return s;
}

static pier_slice next_seg(pier_slice *rest) {
  while (rest->len && rest->ptr[0] == '/') rest->ptr++, rest->len--;
  long slash = pier_slice_find(*rest, '/');
  size_t n = slash >= 0 ? (size_t)slash : rest->len;
  pier_slice seg = pier_slice_make(rest->ptr, n);
  rest->ptr += n;
  rest->len -= n;
  return seg;
}

/* Returns number of params captured (>= 0) or -1 on no match. */
static int match_path(const char *pattern, pier_slice path, pier_slice *params) {
  pier_slice pat = strip_slash(pier_slice_from(pattern));
  path = strip_slash(path);
  int np = 0;
  for (;;) {
    pier_slice ps = next_seg(&pat);
    if (ps.len == 0) return next_seg(&path).len == 0 ? np : -1;
    if (ps.len >= 3 && ps.ptr[0] == '{' && ps.ptr[ps.len - 2] == '*') { /* {rest*} */
      while (path.len && path.ptr[0] == '/') path.ptr++, path.len--;
      if (path.len == 0 || np >= PIER_HTTP_ROUTE_PARAMS_MAX) return -1;
      params[np++] = path;
      return np;
    }
    pier_slice seg = next_seg(&path);
    if (seg.len == 0) return -1;
    if (ps.ptr[0] == '{') {
      if (np >= PIER_HTTP_ROUTE_PARAMS_MAX) return -1;
      params[np++] = seg;
    } else if (!pier_slice_eq(ps, seg)) {
      return -1;
    }
  }
}

static const char *method_name(int m) {
  switch (m) {
  case PIER_HTTP_GET: return "GET";
  case PIER_HTTP_POST: return "POST";
  case PIER_HTTP_PUT: return "PUT";
  case PIER_HTTP_DELETE: return "DELETE";
  case PIER_HTTP_PATCH: return "PATCH";
  default: return "OPTIONS";
  }
}

int pier_router_match(const pier_http_route *routes, size_t n, pier_http_req *req, const pier_http_route **out, char *allow,
                      size_t allowlen) {
  pier_slice params[PIER_HTTP_ROUTE_PARAMS_MAX];
  int method = req->method == PIER_HTTP_HEAD ? PIER_HTTP_GET : req->method;
  bool path_matched = false;
  size_t alen = 0;
  if (allowlen) allow[0] = '\0';
  for (size_t i = 0; i < n; i++) {
    int np = match_path(routes[i].pattern, req->path, params);
    if (np < 0) continue;
    if (routes[i].method != method) {
      path_matched = true;
      const char *mn = method_name(routes[i].method);
      if (allowlen && !strstr(allow, mn)) {
        int w = snprintf(allow + alen, allowlen - alen, "%s%s", alen ? ", " : "", mn);
        if (w > 0 && (size_t)w < allowlen - alen) alen += (size_t)w;
      }
      continue;
    }
    for (int k = 0; k < np; k++)
      if (pier_http_pct_decode(&req->arena, params[k], false, &req->params[k]) != 0) return PIER_EPROTO;
    req->nparams = np;
    *out = &routes[i];
    return 0;
  }
  return path_matched ? PIER_EINVAL : PIER_ENOTFOUND;
}
