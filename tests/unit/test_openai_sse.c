/* test_openai_sse.c — pier_chat_events -> OpenAI SSE bytes, the aggregated
 * chat.completion and the error body; every expectation is the exact bytes
 * (single quotes in literals stand for double quotes, ` for an apostrophe). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "llm/openai_sse.h"

static char *q(const char *s) {
  char *r = strdup(s);
  for (char *p = r; *p; p++)
    if (*p == '\'') *p = '"';
    else if (*p == '`') *p = '\'';
  return r;
}

static void bytes_eq(const pier_buf *b, const char *want_sq) {
  char *want = q(want_sq);
  const char *got = b->ptr ? b->ptr : "";
  if (strcmp(got, want)) fail_msg("bytes differ\n--- got:\n%s\n--- want:\n%s", got, want);
  free(want);
}

static const pier_openai_meta META = {.id = "chatcmpl-x", .model = "m", .created = 7};
#define CH "data: {'id':'chatcmpl-x','object':'chat.completion.chunk','created':7,'model':'m',"
#define ROLE CH "'choices':[{'index':0,'delta':{'role':'assistant','content':''},'finish_reason':null}]"

static pier_chat_event ev_text(pier_chat_ev_kind k, const char *t) {
  return (pier_chat_event){.kind = k, .text = pier_slice_from(t)};
}
static pier_chat_event ev_tool(int i, const char *id, const char *name) {
  return (pier_chat_event){.kind = PIER_CHAT_EV_TOOL_START, .tool_index = i, .tool_id = pier_slice_from(id),
                           .tool_name = pier_slice_from(name)};
}
static pier_chat_event ev_args(int i, const char *frag) {
  return (pier_chat_event){.kind = PIER_CHAT_EV_TOOL_ARGS, .tool_index = i, .text = pier_slice_from(frag)};
}
static pier_chat_event ev_finish(const char *r) {
  return (pier_chat_event){.kind = PIER_CHAT_EV_FINISH, .finish_reason = r};
}
static pier_chat_event ev_usage(int64_t p, int64_t c, int64_t cr, int64_t cw) {
  return (pier_chat_event){.kind = PIER_CHAT_EV_USAGE,
                           .usage = {.prompt_tokens = p, .completion_tokens = c, .total_tokens = p + c,
                                     .cache_read_tokens = cr, .cache_creation_tokens = cw}};
}
static pier_chat_event ev_error(int status, const char *type, const char *msg) {
  return (pier_chat_event){.kind = PIER_CHAT_EV_ERROR, .http_status = status, .error_type = type,
                           .text = pier_slice_from(msg)};
}

static void write_all(pier_openai_sse *w, const pier_chat_event *evs, size_t n) {
  for (size_t i = 0; i < n; i++) assert_int_equal(pier_openai_sse_on_event(w, &evs[i]), 0);
}

static void test_sse_text_with_usage_before_finish(void **state) {
  (void)state;
  pier_buf out;
  pier_buf_init(&out, 0);
  pier_openai_meta m = META;
  m.include_usage = true;
  pier_openai_sse w;
  assert_int_equal(pier_openai_sse_init(&w, &m, &out), 0);
  /* no START: the role chunk is still first; USAGE before FINISH waits for it; empty text is no chunk */
  pier_chat_event evs[] = {ev_text(PIER_CHAT_EV_TEXT, "a \"q\"\n\x01 é"), ev_text(PIER_CHAT_EV_TEXT, ""),
                           ev_text(PIER_CHAT_EV_REASONING, "hm"), ev_usage(10, 2, 3, 4), ev_finish("length")};
  write_all(&w, evs, 5);
  assert_int_equal(pier_openai_sse_done(&w), 0);
  assert_int_equal(pier_openai_sse_done(&w), 0); /* idempotent */
  bytes_eq(&out,
           ROLE ",'usage':null}\n\n"
           CH "'choices':[{'index':0,'delta':{'content':'a \\'q\\'\\n\\u0001 é'},'finish_reason':null}],'usage':null}\n\n"
           CH "'choices':[{'index':0,'delta':{'reasoning_content':'hm'},'finish_reason':null}],'usage':null}\n\n"
           CH "'choices':[{'index':0,'delta':{},'finish_reason':'length'}],'usage':null}\n\n"
           CH "'choices':[],'usage':{'prompt_tokens':10,'completion_tokens':2,'total_tokens':12,"
           "'prompt_tokens_details':{'cached_tokens':3},'cache_creation_input_tokens':4,'cache_read_input_tokens':3}}\n\n"
           "data: [DONE]\n\n");
  pier_openai_sse_dispose(&w);
  pier_buf_dispose(&out);
}

static void test_sse_tool_calls_without_usage(void **state) {
  (void)state;
  pier_buf out;
  pier_buf_init(&out, 0);
  pier_openai_sse w;
  assert_int_equal(pier_openai_sse_init(&w, &META, &out), 0);
  pier_chat_event evs[] = {{.kind = PIER_CHAT_EV_START}, {.kind = PIER_CHAT_EV_START}, ev_tool(0, "call_1", "f"),
                           ev_args(0, "{\"a\":"), ev_args(0, "1}"), ev_args(0, ""), ev_usage(1, 1, 0, 0),
                           ev_finish("tool_calls")};
  write_all(&w, evs, sizeof evs / sizeof evs[0]);
  assert_int_equal(pier_openai_sse_done(&w), 0);
  bytes_eq(&out,
           ROLE "}\n\n"
           CH "'choices':[{'index':0,'delta':{'tool_calls':[{'index':0,'id':'call_1','type':'function','function':"
           "{'name':'f','arguments':''}}]},'finish_reason':null}]}\n\n"
           CH "'choices':[{'index':0,'delta':{'tool_calls':[{'index':0,'function':{'arguments':'{\\'a\\':'}}]},"
           "'finish_reason':null}]}\n\n"
           CH "'choices':[{'index':0,'delta':{'tool_calls':[{'index':0,'function':{'arguments':'1}'}}]},"
           "'finish_reason':null}]}\n\n"
           CH "'choices':[{'index':0,'delta':{'tool_calls':[{'index':0,'function':{'arguments':''}}]},"
           "'finish_reason':null}]}\n\n"
           CH "'choices':[{'index':0,'delta':{},'finish_reason':'tool_calls'}]}\n\n"
           "data: [DONE]\n\n");
  pier_openai_sse_dispose(&w);
  pier_buf_dispose(&out);
}

static void test_sse_error_and_pending_usage(void **state) {
  (void)state;
  pier_buf out;
  pier_buf_init(&out, 0);
  pier_openai_meta m = META;
  m.include_usage = true;
  pier_openai_sse w;
  assert_int_equal(pier_openai_sse_init(&w, &m, &out), 0);
  pier_chat_event evs[] = {ev_usage(5, 0, 0, 0), ev_error(502, NULL, "upstream said 'no'")};
  write_all(&w, evs, 2);
  assert_int_equal(pier_openai_sse_done(&w), 0);
  /* an error needs no role chunk; usage seen but never finished goes out before [DONE] */
  bytes_eq(&out,
           "data: {'error':{'message':'upstream said `no`','type':'api_error','code':null,'param':null}}\n\n"
           CH "'choices':[],'usage':{'prompt_tokens':5,'completion_tokens':0,'total_tokens':5,"
           "'prompt_tokens_details':{'cached_tokens':0},'cache_creation_input_tokens':0,'cache_read_input_tokens':0}}\n\n"
           "data: [DONE]\n\n");
  pier_openai_sse_dispose(&w);
  pier_buf_dispose(&out);
}

/* A frame that does not fit leaves no half line behind. */
static void test_sse_frame_is_all_or_nothing(void **state) {
  (void)state;
  pier_buf out;
  pier_buf_init(&out, 420);
  pier_openai_sse w;
  assert_int_equal(pier_openai_sse_init(&w, &META, &out), 0);
  pier_chat_event t = ev_text(PIER_CHAT_EV_TEXT, "ok");
  assert_int_equal(pier_openai_sse_on_event(&w, &t), 0);
  size_t len = out.len;
  char big[400];
  memset(big, 'x', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  t = ev_text(PIER_CHAT_EV_TEXT, big);
  assert_int_equal(pier_openai_sse_on_event(&w, &t), PIER_ETOOBIG);
  assert_int_equal(out.len, len);
  assert_int_equal(out.ptr[len], '\0');
  pier_chat_event tool = ev_tool(0, big, "f");
  assert_int_equal(pier_openai_sse_on_event(&w, &tool), PIER_ETOOBIG);
  pier_chat_event e = ev_error(400, "X", big);
  assert_int_equal(pier_openai_sse_on_event(&w, &e), PIER_ETOOBIG);
  assert_int_equal(out.len, len);
  pier_buf_reset(&out); /* the caller drained it */
  assert_int_equal(pier_openai_sse_done(&w), 0);
  bytes_eq(&out, "data: [DONE]\n\n");
  pier_openai_sse_dispose(&w);
  pier_buf_dispose(&out);
}

static void test_meta_generated_id_and_bad_model(void **state) {
  (void)state;
  pier_buf out;
  pier_buf_init(&out, 0);
  pier_openai_meta m = {.model = "m"};
  pier_openai_sse w;
  assert_int_equal(pier_openai_sse_init(&w, &m, &out), 0);
  const char *p = w.prefix.ptr;
  assert_int_equal(strncmp(p, "{\"id\":\"chatcmpl-", 16), 0);
  for (int i = 16; i < 40; i++) assert_true((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= '0' && p[i] <= '9'));
  const char *mid = "\",\"object\":\"chat.completion.chunk\",\"created\":";
  assert_int_equal(strncmp(p + 40, mid, strlen(mid)), 0);
  assert_true(strtoll(p + 40 + strlen(mid), NULL, 10) > 1700000000);
  pier_openai_sse_dispose(&w);
  m.model = NULL;
  assert_int_equal(pier_openai_sse_init(&w, &m, &out), PIER_EINVAL);
  char *long_model = calloc(1, PIER_OPENAI_MODEL_BYTES_MAX + 2);
  memset(long_model, 'm', PIER_OPENAI_MODEL_BYTES_MAX + 1);
  m.model = long_model;
  pier_openai_agg a;
  assert_int_equal(pier_openai_agg_init(&a, &m), PIER_ETOOBIG);
  free(long_model);
  pier_buf_dispose(&out);
}

static void test_error_body_and_types(void **state) {
  (void)state;
  static const struct { int status; const char *type; } types[] = {
    {400, "invalid_request_error"}, {413, "invalid_request_error"}, {422, "invalid_request_error"},
    {401, "authentication_error"},  {403, "permission_error"},      {404, "not_found_error"},
    {408, "timeout_error"},         {504, "timeout_error"},         {429, "rate_limit_error"},
    {500, "api_error"},             {502, "api_error"},             {424, "api_error"}};
  for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
    assert_string_equal(pier_openai_error_type(types[i].status), types[i].type);
  pier_buf out;
  pier_buf_init(&out, 0);
  assert_int_equal(pier_openai_error_body(&out, 404, NULL, "model_not_found", PIER_SLICE_LIT("no \"x\"")), 0);
  bytes_eq(&out, "{'error':{'message':'no \\'x\\'','type':'not_found_error','code':'model_not_found','param':null}}");
  pier_buf_reset(&out);
  assert_int_equal(pier_openai_error_body(&out, 403, "authentication_error", NULL, PIER_SLICE_LIT("m")), 0);
  bytes_eq(&out, "{'error':{'message':'m','type':'authentication_error','code':null,'param':null}}");
  pier_buf_dispose(&out);
}

/* ---- aggregator ---------------------------------------------------------- */

#define COMPLETION "{'id':'chatcmpl-x','object':'chat.completion','created':7,'model':'m',"
#define ZERO_USAGE                                                                                        \
  "'usage':{'prompt_tokens':0,'completion_tokens':0,'total_tokens':0,'prompt_tokens_details':"            \
  "{'cached_tokens':0},'cache_creation_input_tokens':0,'cache_read_input_tokens':0}}"

static void agg_run(const pier_chat_event *evs, size_t n, int want_rc, const char *want_sq) {
  pier_openai_agg a;
  assert_int_equal(pier_openai_agg_init(&a, &META), 0);
  for (size_t i = 0; i < n; i++) assert_int_equal(pier_openai_agg_on_event(&a, &evs[i]), 0);
  pier_buf out;
  pier_buf_init(&out, 0);
  assert_int_equal(pier_openai_agg_finish(&a, &out), want_rc);
  bytes_eq(&out, want_sq);
  pier_buf_dispose(&out);
  pier_openai_agg_dispose(&a);
}

static void test_agg_text_tools_usage(void **state) {
  (void)state;
  pier_chat_event evs[] = {{.kind = PIER_CHAT_EV_START}, ev_text(PIER_CHAT_EV_REASONING, "r1"),
                           ev_text(PIER_CHAT_EV_TEXT, "He"), ev_text(PIER_CHAT_EV_TEXT, "llo"),
                           ev_text(PIER_CHAT_EV_REASONING, "r2"), ev_tool(0, "a", "f"), ev_tool(1, "b", "g"),
                           ev_args(1, "{\"y\":"), ev_args(0, "{}"), ev_args(1, "2}"), ev_finish("tool_calls"),
                           ev_usage(9, 1, 2, 3)};
  agg_run(evs, sizeof evs / sizeof evs[0], 0,
          COMPLETION "'choices':[{'index':0,'message':{'role':'assistant','content':'Hello','reasoning_content':'r1r2',"
          "'tool_calls':[{'id':'a','type':'function','function':{'name':'f','arguments':'{}'}},"
          "{'id':'b','type':'function','function':{'name':'g','arguments':'{\\'y\\':2}'}}]},"
          "'finish_reason':'tool_calls'}],'usage':{'prompt_tokens':9,'completion_tokens':1,'total_tokens':10,"
          "'prompt_tokens_details':{'cached_tokens':2},'cache_creation_input_tokens':3,'cache_read_input_tokens':2}}");
}

static void test_agg_defaults(void **state) {
  (void)state;
  /* nothing at all: empty content, stop */
  agg_run(NULL, 0, 0,
          COMPLETION "'choices':[{'index':0,'message':{'role':'assistant','content':''},'finish_reason':'stop'}],"
          ZERO_USAGE);
  /* tool call, no FINISH, no args: content null, tool_calls, arguments {} */
  pier_chat_event evs[] = {ev_tool(0, "a", "f")};
  agg_run(evs, 1, 0,
          COMPLETION "'choices':[{'index':0,'message':{'role':'assistant','content':null,'tool_calls':[{'id':'a',"
          "'type':'function','function':{'name':'f','arguments':'{}'}}]},'finish_reason':'tool_calls'}]," ZERO_USAGE);
}

static void test_agg_error(void **state) {
  (void)state;
  pier_chat_event evs[] = {ev_text(PIER_CHAT_EV_TEXT, "partial"),
                           ev_error(429, "ThrottlingException", "ThrottlingException: slow down")};
  agg_run(evs, 2, PIER_EUPSTREAM,
          "{'error':{'message':'ThrottlingException: slow down','type':'rate_limit_error',"
          "'code':'ThrottlingException','param':null}}");
  pier_openai_agg a;
  assert_int_equal(pier_openai_agg_init(&a, &META), 0);
  pier_chat_event e = ev_error(0, NULL, "x");
  assert_int_equal(pier_openai_agg_on_event(&a, &e), 0);
  assert_int_equal(a.error_status, 502);
  pier_openai_agg_dispose(&a);
}

static void test_agg_protocol_and_caps(void **state) {
  (void)state;
  pier_openai_agg a;
  assert_int_equal(pier_openai_agg_init(&a, &META), 0);
  pier_chat_event e = ev_args(3, "{}");
  assert_int_equal(pier_openai_agg_on_event(&a, &e), PIER_EPROTO); /* args for a tool never started */
  e = ev_tool(0, "a", "f");
  assert_int_equal(pier_openai_agg_on_event(&a, &e), 0);
  assert_int_equal(pier_openai_agg_on_event(&a, &e), PIER_EPROTO); /* started twice */
  for (int i = 1; i < PIER_OPENAI_AGG_TOOLS_MAX; i++) {
    e = ev_tool(i, "a", "f");
    assert_int_equal(pier_openai_agg_on_event(&a, &e), 0);
  }
  e = ev_tool(PIER_OPENAI_AGG_TOOLS_MAX, "a", "f");
  assert_int_equal(pier_openai_agg_on_event(&a, &e), PIER_ETOOBIG);
  /* an output buffer too small: nothing half-written */
  pier_buf out;
  pier_buf_init(&out, 100);
  assert_int_equal(pier_buf_append_cstr(&out, "keep"), 0);
  assert_int_equal(pier_openai_agg_finish(&a, &out), PIER_ETOOBIG);
  assert_string_equal(out.ptr, "keep");
  pier_buf_dispose(&out);
  pier_openai_agg_dispose(&a);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_sse_text_with_usage_before_finish),
    cmocka_unit_test(test_sse_tool_calls_without_usage),
    cmocka_unit_test(test_sse_error_and_pending_usage),
    cmocka_unit_test(test_sse_frame_is_all_or_nothing),
    cmocka_unit_test(test_meta_generated_id_and_bad_model),
    cmocka_unit_test(test_error_body_and_types),
    cmocka_unit_test(test_agg_text_tools_usage),
    cmocka_unit_test(test_agg_defaults),
    cmocka_unit_test(test_agg_error),
    cmocka_unit_test(test_agg_protocol_and_caps),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
