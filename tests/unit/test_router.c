/* test_router.c — route matching, params, 404 vs 405, percent-decoding. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "http/router.h"

static void h_a(pier_http_req *r) { (void)r; }
static void h_b(pier_http_req *r) { (void)r; }
static void h_c(pier_http_req *r) { (void)r; }
static void h_d(pier_http_req *r) { (void)r; }

static const pier_http_route routes[] = {
    {PIER_HTTP_GET, "/api/v1/collections", h_a, 0},
    {PIER_HTTP_POST, "/api/v1/collections", h_b, 0},
    {PIER_HTTP_GET, "/api/v1/collections/{c}/environment", h_c, 0},
    {PIER_HTTP_GET, "/api/v1/collections/{c}", h_d, 0},
    {PIER_HTTP_GET, "/api/v1/file/{path*}", h_a, 0},
};
#define N (sizeof routes / sizeof routes[0])

static int match(const char *method_path, pier_http_req *req, const pier_http_route **rt, char *allow) {
  memset(req, 0, sizeof *req);
  pier_arena_init(&req->arena);
  const char *sp = strchr(method_path, ' ');
  req->method = strncmp(method_path, "GET", 3) == 0    ? PIER_HTTP_GET
                : strncmp(method_path, "POST", 4) == 0 ? PIER_HTTP_POST
                : strncmp(method_path, "HEAD", 4) == 0 ? PIER_HTTP_HEAD
                                                       : PIER_HTTP_DELETE;
  req->path = pier_slice_from(sp + 1);
  return pier_router_match(routes, N, req, rt, allow, 64);
}

static void exact_and_trailing_slash(void **state) {
  pier_http_req req;
  const pier_http_route *rt;
  char allow[64];
  assert_int_equal(match("GET /api/v1/collections", &req, &rt, allow), 0);
  assert_ptr_equal(rt->handler, h_a);
  pier_arena_dispose(&req.arena);
  assert_int_equal(match("POST /api/v1/collections/", &req, &rt, allow), 0);
  assert_ptr_equal(rt->handler, h_b);
  pier_arena_dispose(&req.arena);
  assert_int_equal(match("HEAD /api/v1/collections", &req, &rt, allow), 0); /* HEAD uses GET routes */
  assert_ptr_equal(rt->handler, h_a);
  pier_arena_dispose(&req.arena);
}

static void params_decoded(void **state) {
  pier_http_req req;
  const pier_http_route *rt;
  char allow[64];
  assert_int_equal(match("GET /api/v1/collections/ac%2Dme/environment", &req, &rt, allow), 0);
  assert_ptr_equal(rt->handler, h_c);
  assert_int_equal(req.nparams, 1);
  assert_true(pier_slice_eq_cstr(req.params[0], "ac-me"));
  pier_arena_dispose(&req.arena);
  assert_int_equal(match("GET /api/v1/collections/acme", &req, &rt, allow), 0);
  assert_ptr_equal(rt->handler, h_d);
  pier_arena_dispose(&req.arena);
  assert_int_equal(match("GET /api/v1/file/acme/t/0000/a%20b.txt", &req, &rt, allow), 0);
  assert_true(pier_slice_eq_cstr(req.params[0], "acme/t/0000/a b.txt"));
  pier_arena_dispose(&req.arena);
}

static void not_found_vs_method(void **state) {
  pier_http_req req;
  const pier_http_route *rt;
  char allow[64];
  assert_int_equal(match("GET /api/v1/nothing", &req, &rt, allow), PIER_ENOTFOUND);
  pier_arena_dispose(&req.arena);
  assert_int_equal(match("GET /api/v1/collections/a/b/c", &req, &rt, allow), PIER_ENOTFOUND);
  pier_arena_dispose(&req.arena);
  assert_int_equal(match("DELETE /api/v1/collections", &req, &rt, allow), PIER_EINVAL);
  assert_string_equal(allow, "GET, POST");
  pier_arena_dispose(&req.arena);
  assert_int_equal(match("GET /api/v1/file/", &req, &rt, allow), PIER_ENOTFOUND);
  pier_arena_dispose(&req.arena);
}

static void bad_escape(void **state) {
  pier_http_req req;
  const pier_http_route *rt;
  char allow[64];
  assert_int_equal(match("GET /api/v1/collections/a%zz", &req, &rt, allow), PIER_EPROTO);
  pier_arena_dispose(&req.arena);
  assert_int_equal(match("GET /api/v1/collections/a%2", &req, &rt, allow), PIER_EPROTO);
  pier_arena_dispose(&req.arena);
}

static void pct_decode(void **state) {
  pier_arena a;
  pier_arena_init(&a);
  pier_slice out;
  assert_int_equal(pier_http_pct_decode(&a, pier_slice_from("a+b%3Ac"), true, &out), 0);
  assert_true(pier_slice_eq_cstr(out, "a b:c"));
  assert_int_equal(pier_http_pct_decode(&a, pier_slice_from("a+b"), false, &out), 0);
  assert_true(pier_slice_eq_cstr(out, "a+b"));
  assert_int_equal(pier_http_pct_decode(&a, pier_slice_from("%"), false, &out), PIER_EINVAL);
  pier_arena_dispose(&a);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(exact_and_trailing_slash), cmocka_unit_test(params_decoded),
      cmocka_unit_test(not_found_vs_method),      cmocka_unit_test(bad_escape),
      cmocka_unit_test(pct_decode),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
