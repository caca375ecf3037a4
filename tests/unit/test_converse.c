/* test_converse.c — OpenAI <-> Converse: request bodies, replies, stream frames
 * -> the exact event list and the exact SSE bytes. JSON literals are written
 * with single quotes (q() turns them into double quotes); bodies and
 * completions are compared parsed, event lists and SSE streams byte for byte. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/json.h"
#include "llm/converse.h"
#include "llm/openai_sse.h"

#define MODEL "us.anthropic.claude-sonnet-4-6"

/* ---- helpers --------------------------------------------------------------- */

/* ' -> " and ` -> ' (for exact bytes that hold an apostrophe). */
static char *q(const char *s) {
  char *r = strdup(s);
  for (char *p = r; *p; p++)
    if (*p == '\'') *p = '"';
    else if (*p == '`') *p = '\'';
  return r;
}

static cJSON *J(const char *single_quoted) {
  char *s = q(single_quoted), err[128];
  cJSON *j = pier_json_parse(pier_slice_from(s), 64, err, sizeof err);
  if (!j) fail_msg("bad test JSON (%s): %s", err, s);
  free(s);
  return j;
}

static void json_eq(pier_slice actual, const char *expected_sq) {
  char err[128];
  cJSON *a = pier_json_parse(actual, 64, err, sizeof err);
  if (!a) fail_msg("output is not JSON (%s): %.*s", err, (int)actual.len, actual.ptr);
  cJSON *e = J(expected_sq);
  if (!cJSON_Compare(a, e, true)) {
    char *es = cJSON_PrintUnformatted(e);
    fail_msg("JSON differs\n  got:  %.*s\n  want: %s", (int)actual.len, actual.ptr, es);
  }
  cJSON_Delete(a);
  cJSON_Delete(e);
}

/* Build a Converse body from a single-quoted OpenAI request; assert the body. */
static void expect_body_m(const char *model, const char *req_sq, const char *body_sq, pier_converse_info *info_out) {
  cJSON *req = J(req_sq);
  pier_buf body;
  pier_buf_init(&body, 0);
  pier_converse_info info;
  char err[256];
  int rc = pier_converse_build(req, model, &body, &info, err, sizeof err);
  if (rc) fail_msg("build failed (%d): %s", rc, err);
  json_eq(pier_buf_slice(&body), body_sq);
  if (info_out) *info_out = info;
  pier_buf_dispose(&body);
  cJSON_Delete(req);
}
#define expect_body(req, body) expect_body_m(MODEL, req, body, NULL)

static void expect_error(const char *req_sq, int want_rc, const char *want_err) {
  cJSON *req = J(req_sq);
  pier_buf body;
  pier_buf_init(&body, 0);
  pier_converse_info info;
  char err[256] = "";
  int rc = pier_converse_build(req, MODEL, &body, &info, err, sizeof err);
  assert_int_equal(rc, want_rc);
  assert_int_equal(body.len, 0);
  if (strcmp(err, want_err)) fail_msg("error text\n  got:  %s\n  want: %s", err, want_err);
  pier_buf_dispose(&body);
  cJSON_Delete(req);
}

/* Event recorder: one line per event. */
typedef struct rec {
  pier_buf log;
  int fail_at; /* return PIER_ECANCELLED at this event number (1-based); 0 = never */
  int n;
} rec;

static int rec_on_event(void *arg, const pier_chat_event *ev) {
  rec *r = arg;
  pier_buf *b = &r->log;
  int rc = 0;
  switch (ev->kind) {
  case PIER_CHAT_EV_START: rc = pier_buf_append_cstr(b, "START\n"); break;
  case PIER_CHAT_EV_TEXT: rc = pier_buf_appendf(b, "TEXT %.*s\n", (int)ev->text.len, ev->text.ptr); break;
  case PIER_CHAT_EV_REASONING: rc = pier_buf_appendf(b, "REASONING %.*s\n", (int)ev->text.len, ev->text.ptr); break;
  case PIER_CHAT_EV_TOOL_START:
    rc = pier_buf_appendf(b, "TOOL_START %d %.*s %.*s\n", ev->tool_index, (int)ev->tool_id.len, ev->tool_id.ptr,
                          (int)ev->tool_name.len, ev->tool_name.ptr);
    break;
  case PIER_CHAT_EV_TOOL_ARGS:
    rc = pier_buf_appendf(b, "TOOL_ARGS %d %.*s\n", ev->tool_index, (int)ev->text.len, ev->text.ptr);
    break;
  case PIER_CHAT_EV_FINISH: rc = pier_buf_appendf(b, "FINISH %s\n", ev->finish_reason); break;
  case PIER_CHAT_EV_USAGE:
    rc = pier_buf_appendf(b, "USAGE %lld/%lld/%lld cr=%lld cw=%lld\n", (long long)ev->usage.prompt_tokens,
                          (long long)ev->usage.completion_tokens, (long long)ev->usage.total_tokens,
                          (long long)ev->usage.cache_read_tokens, (long long)ev->usage.cache_creation_tokens);
    break;
  case PIER_CHAT_EV_ERROR:
    rc = pier_buf_appendf(b, "ERROR %d %s %.*s\n", ev->http_status, ev->error_type ? ev->error_type : "-",
                          (int)ev->text.len, ev->text.ptr);
    break;
  }
  assert_int_equal(rc, 0);
  return ++r->n == r->fail_at ? PIER_ECANCELLED : 0;
}

static void log_eq(rec *r, const char *want) {
  if (strcmp(r->log.ptr ? r->log.ptr : "", want))
    fail_msg("events differ\n--- got:\n%s--- want:\n%s", r->log.ptr ? r->log.ptr : "", want);
}

typedef struct frame {
  const char *type; /* :message-type */
  const char *name; /* :event-type / :exception-type */
  const char *payload_sq;
} frame;

/* Feed frames; returns the first non-zero rc (frames after it are still fed to check stickiness). */
static int feed(pier_converse_stream *s, const frame *f, size_t n) {
  int first = 0;
  for (size_t i = 0; i < n; i++) {
    char *p = q(f[i].payload_sq);
    int rc = pier_converse_stream_on_frame(s, pier_slice_from(f[i].type), pier_slice_from(f[i].name),
                                           pier_slice_from(p));
    free(p);
    if (rc && !first) first = rc;
    if (first) assert_int_equal(rc, first);
  }
  return first;
}

static void run_stream(const pier_converse_info *info, const frame *f, size_t n, int want_rc, const char *want_log) {
  rec r = {0};
  pier_buf_init(&r.log, 0);
  pier_converse_stream s;
  pier_converse_stream_init(&s, info, rec_on_event, &r);
  assert_int_equal(feed(&s, f, n), want_rc);
  log_eq(&r, want_log);
  pier_buf_dispose(&r.log);
}

static const pier_openai_meta META = {.id = "chatcmpl-t", .model = "bedrock/" MODEL, .created = 1700000000};

/* Frames through the decoder into the SSE writer; assert the exact bytes. */
static void run_sse(const pier_converse_info *info, bool include_usage, const frame *f, size_t n,
                    const char *want_sq) {
  pier_buf out;
  pier_buf_init(&out, 0);
  pier_openai_meta m = META;
  m.include_usage = include_usage;
  pier_openai_sse w;
  assert_int_equal(pier_openai_sse_init(&w, &m, &out), 0);
  pier_converse_stream s;
  pier_converse_stream_init(&s, info, pier_openai_sse_on_event, &w);
  (void)feed(&s, f, n);
  assert_int_equal(pier_openai_sse_done(&w), 0);
  char *want = q(want_sq);
  if (strcmp(out.ptr, want)) fail_msg("SSE differs\n--- got:\n%s--- want:\n%s", out.ptr, want);
  free(want);
  pier_openai_sse_dispose(&w);
  pier_buf_dispose(&out);
}

/* ---- request: messages ------------------------------------------------------- */

static void test_request_minimal(void **state) {
  (void)state;
  pier_converse_info info;
  expect_body_m(MODEL,
                "{'model':'bedrock/x','messages':[{'role':'system','content':'You are terse.'},"
                "{'role':'user','content':'Hello'}],'max_tokens':64,'stream':true,"
                "'stream_options':{'include_usage':true}}",
                "{'system':[{'text':'You are terse.'}],'messages':[{'role':'user','content':[{'text':'Hello'}]}],"
                "'inferenceConfig':{'maxTokens':64}}",
                &info);
  assert_true(info.stream);
  assert_true(info.include_usage);
  assert_false(info.json_mode);
  assert_false(info.thinking);
}

static void test_request_system_parts_and_multipart_user(void **state) {
  (void)state;
  expect_body("{'messages':[{'role':'system','content':[{'type':'text','text':'A'},{'type':'text','text':''},"
              "{'type':'text','text':'B','cache_control':{'type':'ephemeral'}}]},"
              "{'role':'developer','content':'C'},"
              "{'role':'user','content':[{'type':'text','text':'look'},"
              "{'type':'image_url','image_url':{'url':'data:image/png;base64,iVBORw==','detail':'low'}}]}]}",
              "{'system':[{'text':'A'},{'text':'B'},{'cachePoint':{'type':'default'}},{'text':'C'}],"
              "'messages':[{'role':'user','content':[{'text':'look'},"
              "{'image':{'format':'png','source':{'bytes':'iVBORw=='}}}]}]}");
}

static void test_request_merges_same_role_turns(void **state) {
  (void)state;
  expect_body("{'messages':[{'role':'user','content':'a'},{'role':'user','content':[{'type':'text','text':'b'}]},"
              "{'role':'assistant','content':'c'},{'role':'assistant','content':'d'},"
              "{'role':'user','content':''},{'role':'assistant','content':null},{'role':'user','content':'e'}]}",
              "{'messages':[{'role':'user','content':[{'text':'a'},{'text':'b'}]},"
              "{'role':'assistant','content':[{'text':'c'},{'text':'d'}]},"
              "{'role':'user','content':[{'text':'e'}]}]}");
}

static void test_request_leading_assistant_gets_placeholder(void **state) {
  (void)state;
  expect_body("{'messages':[{'role':'system','content':'s'},{'role':'assistant','content':'Hi there'},"
              "{'role':'user','content':'yo'}]}",
              "{'system':[{'text':'s'}],'messages':[{'role':'user','content':[{'text':'. '}]},"
              "{'role':'assistant','content':[{'text':'Hi there'}]},{'role':'user','content':[{'text':'yo'}]}]}");
}

static void test_request_image_formats(void **state) {
  (void)state;
  expect_body("{'messages':[{'role':'user','content':["
              "{'type':'image_url','image_url':{'url':'data:image/jpeg;base64,/9j/'}},"
              "{'type':'image_url','image_url':'data:image/gif;base64,R0lG'},"
              "{'type':'image_url','image_url':{'url':'data:image/webp;base64,UklG'}},"
              "{'type':'image_url','image_url':{'url':'data:;base64,AAAA'}},"
              "{'type':'image_url','image_url':{'url':'DATA:image/JPG;base64,BBBB'}}]}]}",
              "{'messages':[{'role':'user','content':["
              "{'image':{'format':'jpeg','source':{'bytes':'/9j/'}}},"
              "{'image':{'format':'gif','source':{'bytes':'R0lG'}}},"
              "{'image':{'format':'webp','source':{'bytes':'UklG'}}},"
              "{'image':{'format':'jpeg','source':{'bytes':'AAAA'}}},"
              "{'image':{'format':'jpeg','source':{'bytes':'BBBB'}}}]}]}");
}

static void test_request_image_errors(void **state) {
  (void)state;
  expect_error("{'messages':[{'role':'user','content':'x'},{'role':'user','content':[{'type':'text','text':'a'},"
               "{'type':'image_url','image_url':{'url':'data:image/png,abc'}}]}]}",
               PIER_EINVAL,
               "messages[1].content[1].image_url.url: only base64 data URLs are supported (data:image/png;base64,...)");
  expect_error("{'messages':[{'role':'user','content':[{'type':'image_url','image_url':{'url':'ftp://x/y.png'}}]}]}",
               PIER_EINVAL,
               "messages[0].content[0].image_url.url must be an http(s) URL or a data URL like "
               "data:image/png;base64,...");
  expect_error("{'messages':[{'role':'user','content':[{'type':'image_url','image_url':{'url':'data:image/bmp;base64,"
               "Qk0='}}]}]}",
               PIER_EINVAL,
               "messages[0].content[0].image_url.url: image type \"image/bmp\" is not supported; Bedrock takes png, "
               "jpeg, gif or webp");
  expect_error("{'messages':[{'role':'user','content':[{'type':'image_url','image_url':{'url':'data:image/png;base64,"
               "a b'}}]}]}",
               PIER_EINVAL, "messages[0].content[0].image_url.url: the data after the comma is not valid base64");
  expect_error("{'messages':[{'role':'user','content':[{'type':'image_url','image_url':{'url':''}}]}]}", PIER_EINVAL,
               "messages[0].content[0].image_url.url must be a non-empty string, got an empty string");
  expect_error("{'messages':[{'role':'user','content':[{'type':'image_url','image_url':{}}]}]}", PIER_EINVAL,
               "messages[0].content[0].image_url.url must be a non-empty string, got missing");
  expect_error("{'messages':[{'role':'user','content':[{'type':'image_url','image_url':{'url':'https://x/y.png'}}]}]}",
               PIER_EAGAIN, "messages[0].content[0].image_url.url: remote image URL was not fetched before the Bedrock call");
  expect_error("{'messages':[{'role':'assistant','content':[{'type':'image_url','image_url':{'url':'data:;base64,AA=='}}]}]}",
               PIER_EINVAL, "messages[0].content[0]: image parts are only allowed in user messages");
}

static void test_request_remote_images_fetch_and_substitute(void **state) {
  (void)state;
  cJSON *req = J("{'messages':[{'role':'user','content':[{'type':'text','text':'two pics'},"
                 "{'type':'image_url','image_url':{'url':'https://example.com/a.png'}},"
                 "{'type':'image_url','image_url':'HTTP://example.com/b'},"
                 "{'type':'image_url','image_url':{'url':'data:image/png;base64,AAAA'}}]}]}");
  cJSON *nodes[1];
  assert_int_equal(pier_converse_remote_images(req, nodes, 1), 2);
  cJSON *all[4];
  assert_int_equal(pier_converse_remote_images(req, all, 4), 2);
  assert_string_equal(all[0]->valuestring, "https://example.com/a.png");
  assert_string_equal(all[1]->valuestring, "HTTP://example.com/b");
  static const char png[] = "\x89PNG\r\n\x1a\n\x01\x02";
  assert_int_equal(pier_converse_image_set_data(all[0], PIER_SLICE_LIT("application/octet-stream"),
                                                pier_slice_make(png, 10)),
                   0);
  assert_string_equal(all[0]->valuestring, "data:image/png;base64,iVBORw0KGgoBAg==");
  /* no magic bytes: the Content-Type decides; text/html is refused */
  assert_int_equal(pier_converse_image_set_data(all[1], PIER_SLICE_LIT("text/html"), PIER_SLICE_LIT("<html>")),
                   PIER_EINVAL);
  assert_int_equal(pier_converse_image_set_data(all[1], PIER_SLICE_LIT("image/webp; q=1"), PIER_SLICE_LIT("abc")), 0);
  assert_string_equal(all[1]->valuestring, "data:image/webp;base64,YWJj");
  assert_int_equal(pier_converse_image_set_data(all[1], PIER_SLICE_LIT("image/png"), PIER_SLICE_LIT("")), PIER_EINVAL);
  assert_int_equal(pier_converse_remote_images(req, all, 4), 0);
  pier_buf body;
  pier_buf_init(&body, 0);
  pier_converse_info info;
  char err[256];
  assert_int_equal(pier_converse_build(req, MODEL, &body, &info, err, sizeof err), 0);
  json_eq(pier_buf_slice(&body),
          "{'messages':[{'role':'user','content':[{'text':'two pics'},"
          "{'image':{'format':'png','source':{'bytes':'iVBORw0KGgoBAg=='}}},"
          "{'image':{'format':'webp','source':{'bytes':'YWJj'}}},"
          "{'image':{'format':'png','source':{'bytes':'AAAA'}}}]}]}");
  pier_buf_dispose(&body);
  cJSON_Delete(req);
}

/* ---- request: tools ---------------------------------------------------------- */

#define WEATHER_TOOL                                                                                       \
  "{'type':'function','function':{'name':'get_weather','description':'Weather by city','parameters':"     \
  "{'type':'object','properties':{'city':{'type':'string'}},'required':['city']}}}"
#define WEATHER_SPEC                                                                                       \
  "{'toolSpec':{'name':'get_weather','description':'Weather by city','inputSchema':{'json':"              \
  "{'type':'object','properties':{'city':{'type':'string'}},'required':['city']}}}}"
#define NOW_TOOL "{'type':'function','function':{'name':'now','description':''}}"
#define NOW_SPEC "{'toolSpec':{'name':'now','inputSchema':{'json':{'type':'object','properties':{}}}}}"
#define HI "{'role':'user','content':'hi'}"
#define HI_TURN "{'role':'user','content':[{'text':'hi'}]}"

static void test_request_tools_and_choices(void **state) {
  (void)state;
  expect_body("{'messages':[" HI "],'tools':[" WEATHER_TOOL "," NOW_TOOL "]}",
              "{'messages':[" HI_TURN "],'toolConfig':{'tools':[" WEATHER_SPEC "," NOW_SPEC "]}}");
  expect_body("{'messages':[" HI "],'tools':[" WEATHER_TOOL "],'tool_choice':'auto'}",
              "{'messages':[" HI_TURN "],'toolConfig':{'tools':[" WEATHER_SPEC "],'toolChoice':{'auto':{}}}}");
  expect_body("{'messages':[" HI "],'tools':[" WEATHER_TOOL "],'tool_choice':'required'}",
              "{'messages':[" HI_TURN "],'toolConfig':{'tools':[" WEATHER_SPEC "],'toolChoice':{'any':{}}}}");
  expect_body("{'messages':[" HI "],'tools':[" WEATHER_TOOL "," NOW_TOOL "],"
              "'tool_choice':{'type':'function','function':{'name':'now'}}}",
              "{'messages':[" HI_TURN "],'toolConfig':{'tools':[" WEATHER_SPEC "," NOW_SPEC
              "],'toolChoice':{'tool':{'name':'now'}}}}");
  /* "none" without tool history: no toolConfig at all */
  expect_body("{'messages':[" HI "],'tools':[" WEATHER_TOOL "],'tool_choice':'none'}", "{'messages':[" HI_TURN "]}");
  /* "auto" without tools is harmless */
  expect_body("{'messages':[" HI "],'tool_choice':'auto','tools':[]}", "{'messages':[" HI_TURN "]}");
}

#define CALL_TURNS                                                                                          \
  "{'role':'user','content':'weather in Paris and Rome?'},"                                                \
  "{'role':'assistant','content':'Checking.','tool_calls':["                                               \
  "{'id':'call_1','type':'function','function':{'name':'get_weather','arguments':'{\\'city\\':\\'Paris\\'}'}}," \
  "{'id':'call_2','type':'function','function':{'name':'get_weather','arguments':'{\\'city\\': \\'Rome\\'}'}}]}," \
  "{'role':'tool','tool_call_id':'call_1','content':'18C'},"                                                \
  "{'role':'tool','tool_call_id':'call_2','content':[{'type':'text','text':'21'},{'type':'text','text':'C'}]}"
#define CALL_BEDROCK                                                                                        \
  "{'role':'user','content':[{'text':'weather in Paris and Rome?'}]},"                                     \
  "{'role':'assistant','content':[{'text':'Checking.'},"                                                   \
  "{'toolUse':{'toolUseId':'call_1','name':'get_weather','input':{'city':'Paris'}}},"                       \
  "{'toolUse':{'toolUseId':'call_2','name':'get_weather','input':{'city':'Rome'}}}]},"                      \
  "{'role':'user','content':[{'toolResult':{'toolUseId':'call_1','content':[{'text':'18C'}]}},"              \
  "{'toolResult':{'toolUseId':'call_2','content':[{'text':'21C'}]}}]}"

static void test_request_parallel_tool_calls_and_results(void **state) {
  (void)state;
  expect_body("{'messages':[" CALL_TURNS "],'tools':[" WEATHER_TOOL "]}",
              "{'messages':[" CALL_BEDROCK "],'toolConfig':{'tools':[" WEATHER_SPEC "]}}");
}

static void test_request_tool_result_after_user_text_leads_the_turn(void **state) {
  (void)state;
  expect_body("{'messages':[{'role':'user','content':'q'},{'role':'assistant','tool_calls':[{'id':'c1','type':"
              "'function','function':{'name':'now','arguments':''}}]},"
              "{'role':'user','content':'also, be brief'},{'role':'tool','tool_call_id':'c1','content':''},"
              "{'role':'user','content':'thanks'}],'tools':[" NOW_TOOL "]}",
              "{'messages':[{'role':'user','content':[{'text':'q'}]},"
              "{'role':'assistant','content':[{'toolUse':{'toolUseId':'c1','name':'now','input':{}}}]},"
              "{'role':'user','content':[{'toolResult':{'toolUseId':'c1','content':[{'text':'. '}]}},"
              "{'text':'also, be brief'},{'text':'thanks'}]}],'toolConfig':{'tools':[" NOW_SPEC "]}}");
}

static void test_request_history_without_tools_synthesises_config(void **state) {
  (void)state;
  expect_body("{'messages':[" CALL_TURNS "]}",
              "{'messages':[" CALL_BEDROCK "],'toolConfig':{'tools':[{'toolSpec':{'name':'get_weather',"
              "'inputSchema':{'json':{'type':'object','properties':{}}}}}]}}");
  /* tool_choice none with history keeps the declared tools, without a toolChoice */
  expect_body("{'messages':[" CALL_TURNS "],'tools':[" WEATHER_TOOL "],'tool_choice':'none'}",
              "{'messages':[" CALL_BEDROCK "],'toolConfig':{'tools':[" WEATHER_SPEC "]}}");
  /* a tool result with no tool use anywhere still needs a toolConfig */
  expect_body("{'messages':[{'role':'tool','tool_call_id':'x','content':'r'}]}",
              "{'messages':[{'role':'user','content':[{'toolResult':{'toolUseId':'x','content':[{'text':'r'}]}}]}],"
              "'toolConfig':{'tools':[{'toolSpec':{'name':'dummy_tool','inputSchema':{'json':{'type':'object',"
              "'properties':{}}}}}]}}");
}

static void test_request_thinking_blocks_replayed(void **state) {
  (void)state;
  expect_body("{'messages':[" HI ",{'role':'assistant','content':'ok','thinking_blocks':["
              "{'type':'thinking','thinking':'hmm','signature':'sig=='},{'type':'redacted_thinking','data':'QUJD'}]}]}",
              "{'messages':[" HI_TURN ",{'role':'assistant','content':["
              "{'reasoningContent':{'reasoningText':{'text':'hmm','signature':'sig=='}}},"
              "{'reasoningContent':{'redactedContent':'QUJD'}},{'text':'ok'}]}]}");
}

static void test_request_response_format(void **state) {
  (void)state;
  pier_converse_info info;
  expect_body_m(MODEL, "{'messages':[" HI "],'response_format':{'type':'json_object'}}",
                "{'messages':[" HI_TURN "],'toolConfig':{'tools':[{'toolSpec':{'name':'json_tool_call',"
                "'description':'Return the final answer as this tool\\u0027s input.',"
                "'inputSchema':{'json':{'type':'object','additionalProperties':true,'properties':{}}}}}],"
                "'toolChoice':{'tool':{'name':'json_tool_call'}}}}",
                &info);
  assert_true(info.json_mode);
  expect_body_m(MODEL,
                "{'messages':[" HI "],'response_format':{'type':'json_schema','json_schema':{'name':'city',"
                "'description':'A city','schema':{'type':'object','properties':{'name':{'type':'string'}}}}}}",
                "{'messages':[" HI_TURN "],'toolConfig':{'tools':[{'toolSpec':{'name':'json_tool_call',"
                "'description':'A city','inputSchema':{'json':{'type':'object','properties':{'name':{'type':"
                "'string'}}}}}}],'toolChoice':{'tool':{'name':'json_tool_call'}}}}",
                &info);
  assert_true(info.json_mode);
  /* with user tools, the JSON tool is offered but not forced */
  expect_body_m(MODEL, "{'messages':[" HI "],'tools':[" NOW_TOOL "],'response_format':{'type':'json_object'}}",
                "{'messages':[" HI_TURN "],'toolConfig':{'tools':[" NOW_SPEC ",{'toolSpec':{'name':'json_tool_call',"
                "'description':'Return the final answer as this tool\\u0027s input.',"
                "'inputSchema':{'json':{'type':'object','additionalProperties':true,'properties':{}}}}}]}}",
                &info);
  expect_body_m(MODEL, "{'messages':[" HI "],'response_format':{'type':'text'}}", "{'messages':[" HI_TURN "]}",
                &info);
  assert_false(info.json_mode);
}

/* ---- request: parameters --------------------------------------------------- */

static void test_request_inference_params(void **state) {
  (void)state;
  expect_body("{'messages':[" HI "],'max_tokens':10,'max_completion_tokens':20,'temperature':1.7,'top_p':0.9,"
              "'stop':['END','','STOP'],'top_k':40,'seed':1,'user':'u','n':1,'parallel_tool_calls':true}",
              "{'messages':[" HI_TURN "],'inferenceConfig':{'maxTokens':20,'temperature':1,'topP':0.9,"
              "'stopSequences':['END','STOP']},'additionalModelRequestFields':{'top_k':40}}");
  expect_body("{'messages':[" HI "],'temperature':-0.5,'stop':'###'}",
              "{'messages':[" HI_TURN "],'inferenceConfig':{'temperature':0,'stopSequences':['###']}}");
  expect_body("{'messages':[" HI "],'temperature':null,'max_tokens':null,'stop':'','top_p':null}",
              "{'messages':[" HI_TURN "]}");
  expect_body("{'messages':[" HI "],'stop':['']}", "{'messages':[" HI_TURN "]}");
  expect_body_m("us.amazon.nova-pro-v1:0", "{'messages':[" HI "],'top_k':5}",
                "{'messages':[" HI_TURN "],'additionalModelRequestFields':{'inferenceConfig':{'topK':5}}}", NULL);
}

static void test_request_reasoning_effort(void **state) {
  (void)state;
  pier_converse_info info;
  expect_body_m(MODEL, "{'messages':[" HI "],'reasoning_effort':'medium','max_tokens':1000,'temperature':0.2}",
                "{'messages':[" HI_TURN "],'inferenceConfig':{'maxTokens':3048},"
                "'additionalModelRequestFields':{'thinking':{'type':'enabled','budget_tokens':2048}}}",
                &info);
  assert_true(info.thinking);
  expect_body("{'messages':[" HI "],'reasoning_effort':'low','max_tokens':8000,'tools':[" NOW_TOOL "],"
              "'tool_choice':'required'}",
              "{'messages':[" HI_TURN "],'inferenceConfig':{'maxTokens':8000},'toolConfig':{'tools':[" NOW_SPEC
              "],'toolChoice':{'auto':{}}},"
              "'additionalModelRequestFields':{'thinking':{'type':'enabled','budget_tokens':1024}}}");
  expect_body("{'messages':[" HI "],'reasoning_effort':'high'}",
              "{'messages':[" HI_TURN "],'inferenceConfig':{'maxTokens':5120},"
              "'additionalModelRequestFields':{'thinking':{'type':'enabled','budget_tokens':4096}}}");
  expect_body("{'messages':[" HI "],'reasoning_effort':'none'}", "{'messages':[" HI_TURN "]}");
  /* other families: not an Anthropic thinking budget */
  expect_body_m("meta.llama3-1-70b-instruct-v1:0", "{'messages':[" HI "],'reasoning_effort':'high'}",
                "{'messages':[" HI_TURN "]}", &info);
  assert_false(info.thinking);
  expect_body("{'messages':[" HI "],'thinking':{'type':'enabled','budget_tokens':3000},'max_tokens':100}",
              "{'messages':[" HI_TURN "],'inferenceConfig':{'maxTokens':3100},"
              "'additionalModelRequestFields':{'thinking':{'type':'enabled','budget_tokens':3000}}}");
}

static void test_request_errors_name_the_path(void **state) {
  (void)state;
  expect_error("{'model':'x'}", PIER_EINVAL, "messages must be a non-empty array of chat messages");
  expect_error("{'messages':[]}", PIER_EINVAL, "messages must be a non-empty array of chat messages");
  expect_error("{'messages':[{'role':'system','content':'only system'}]}", PIER_EINVAL,
               "messages: no user or assistant message has any content; Bedrock needs at least one");
  expect_error("{'messages':[" HI ",{'role':'robot','content':'x'}]}", PIER_EINVAL,
               "messages[1].role: unknown role \"robot\" (expected system, user, assistant or tool)");
  expect_error("{'messages':[" HI ",{'content':'x'}]}", PIER_EINVAL, "messages[1].role must be a string");
  expect_error("{'messages':[" HI ",'x']}", PIER_EINVAL, "messages[1] must be an object, got a string");
  expect_error("{'messages':[{'role':'user','content':5}]}", PIER_EINVAL,
               "messages[0].content must be a string or an array of content parts, got a number");
  expect_error("{'messages':[{'role':'user'}]}", PIER_EINVAL,
               "messages[0].content must be a string or an array of content parts, got missing");
  expect_error("{'messages':[{'role':'user','content':[{'type':'text','text':7}]}]}", PIER_EINVAL,
               "messages[0].content[0].text must be a string, got a number");
  expect_error("{'messages':[{'role':'user','content':[{'type':'input_audio'}]}]}", PIER_EINVAL,
               "messages[0].content[0].type: part type \"input_audio\" is not supported for Bedrock (use text or "
               "image_url)");
  expect_error("{'messages':[{'role':'user','content':[{'text':'no type'}]}]}", PIER_EINVAL,
               "messages[0].content[0] must be an object with a string \"type\"");
  expect_error("{'messages':[" HI ",{'role':'tool','content':'r'}]}", PIER_EINVAL,
               "messages[1].tool_call_id is required: the id of the assistant tool call this tool message answers");
  expect_error("{'messages':[" HI ",{'role':'tool','tool_call_id':'c','content':[{'type':'image_url'}]}]}",
               PIER_EINVAL, "messages[1].content[0]: a tool message takes only text parts");
  expect_error("{'messages':[" HI ",{'role':'assistant','tool_calls':[{'id':'c','function':{'name':'f',"
               "'arguments':'{oops'}}]}]}",
               PIER_EINVAL, "messages[1].tool_calls[0].function.arguments must be a JSON object (invalid JSON at byte 2)");
  expect_error("{'messages':[" HI ",{'role':'assistant','tool_calls':[{'id':'c','function':{'name':'f',"
               "'arguments':'[1]'}}]}]}",
               PIER_EINVAL, "messages[1].tool_calls[0].function.arguments must be a JSON object (it is not an object)");
  expect_error("{'messages':[" HI ",{'role':'assistant','tool_calls':[{'function':{'name':'f'}}]}]}", PIER_EINVAL,
               "messages[1].tool_calls[0].id must be a non-empty string");
  expect_error("{'messages':[" HI ",{'role':'assistant','tool_calls':{}}]}", PIER_EINVAL,
               "messages[1].tool_calls must be an array, got an object");
  expect_error("{'messages':[" HI "],'max_tokens':0}", PIER_EINVAL, "max_tokens must be an integer from 1 to 2147483647");
  expect_error("{'messages':[" HI "],'max_tokens':1.5}", PIER_EINVAL,
               "max_tokens must be an integer from 1 to 2147483647");
  expect_error("{'messages':[" HI "],'temperature':'hot'}", PIER_EINVAL, "temperature must be a number, got a string");
  expect_error("{'messages':[" HI "],'stop':[1]}", PIER_EINVAL, "stop[0] must be a string, got a number");
  expect_error("{'messages':[" HI "],'stop':{}}", PIER_EINVAL,
               "stop must be a string or an array of strings, got an object");
  expect_error("{'messages':[" HI "],'tools':[{'type':'retrieval'}]}", PIER_EINVAL,
               "tools[0].type: only \"function\" tools are supported, got \"retrieval\"");
  expect_error("{'messages':[" HI "],'tools':[{'type':'function','function':{'name':''}}]}", PIER_EINVAL,
               "tools[0].function.name must be a non-empty string");
  expect_error("{'messages':[" HI "],'tools':[{'type':'function','function':{'name':'f','parameters':[]}}]}",
               PIER_EINVAL, "tools[0].function.parameters must be a JSON Schema object, got an array");
  expect_error("{'messages':[" HI "],'tools':[" NOW_TOOL "],'tool_choice':{'type':'function','function':"
               "{'name':'nope'}}}",
               PIER_EINVAL, "tool_choice.function.name: no tool named \"nope\" in tools");
  expect_error("{'messages':[" HI "],'tool_choice':'required'}", PIER_EINVAL,
               "tool_choice: \"required\" needs at least one entry in tools");
  expect_error("{'messages':[" HI "],'tools':[" NOW_TOOL "],'tool_choice':'always'}", PIER_EINVAL,
               "tool_choice must be \"auto\", \"required\", \"none\" or {\"type\":\"function\",\"function\":"
               "{\"name\":...}}; got \"always\"");
  expect_error("{'messages':[" HI "],'response_format':{'type':'json_schema','json_schema':{'name':'x'}}}",
               PIER_EINVAL, "response_format.json_schema.schema must be an object");
  expect_error("{'messages':[" HI "],'response_format':{'type':'yaml'}}", PIER_EINVAL,
               "response_format.type must be text, json_object or json_schema; got \"yaml\"");
  expect_error("{'messages':[" HI "],'reasoning_effort':'max'}", PIER_EINVAL,
               "reasoning_effort must be one of none, minimal, low, medium, high; got \"max\"");
  expect_error("{'messages':[" HI "],'n':2}", PIER_EINVAL,
               "n: Bedrock returns a single choice, so n must be 1 (or left out)");
  expect_error("[1]", PIER_EINVAL, "the request body must be a JSON object");
}

static void test_request_body_cap(void **state) {
  (void)state;
  cJSON *req = J("{'messages':[" HI "]}");
  pier_buf body;
  pier_buf_init(&body, 10);
  pier_converse_info info;
  char err[128];
  assert_int_equal(pier_converse_build(req, MODEL, &body, &info, err, sizeof err), PIER_ETOOBIG);
  assert_int_equal(body.len, 0);
  assert_string_equal(err, "limit exceeded while building the Bedrock request");
  pier_buf_dispose(&body);
  cJSON_Delete(req);
}

/* ---- response (non-stream) --------------------------------------------------- */

static void expect_completion(const pier_converse_info *info, const char *resp_sq, const char *want_sq) {
  cJSON *resp = J(resp_sq);
  pier_buf out;
  pier_buf_init(&out, 0);
  char err[128];
  int rc = pier_converse_response(resp, info, &META, &out, err, sizeof err);
  if (rc) fail_msg("response failed: %s", err);
  json_eq(pier_buf_slice(&out), want_sq);
  pier_buf_dispose(&out);
  cJSON_Delete(resp);
}

#define COMPLETION_HEAD "{'id':'chatcmpl-t','object':'chat.completion','created':1700000000,'model':'bedrock/" MODEL "',"
#define USAGE_412_38 \
  "'usage':{'prompt_tokens':412,'completion_tokens':38,'total_tokens':450,'prompt_tokens_details':"          \
  "{'cached_tokens':0},'cache_creation_input_tokens':0,'cache_read_input_tokens':0}}"

static const pier_converse_info PLAIN = {0};
static const pier_converse_info JSON_MODE = {.json_mode = true};

static void test_response_text(void **state) {
  (void)state;
  expect_completion(&PLAIN,
                    "{'output':{'message':{'role':'assistant','content':[{'text':'Hel'},{'text':'lo'}]}},"
                    "'stopReason':'end_turn','usage':{'inputTokens':412,'outputTokens':38,'totalTokens':450},"
                    "'metrics':{'latencyMs':9}}",
                    COMPLETION_HEAD "'choices':[{'index':0,'message':{'role':'assistant','content':'Hello'},"
                    "'finish_reason':'stop'}]," USAGE_412_38);
}

static void test_response_tool_use(void **state) {
  (void)state;
  expect_completion(&PLAIN,
                    "{'output':{'message':{'role':'assistant','content':[{'text':'Let me check.'},"
                    "{'toolUse':{'toolUseId':'tooluse_1','name':'get_weather','input':{'city':'Paris','days':2}}},"
                    "{'toolUse':{'toolUseId':'tooluse_2','name':'now','input':{}}}]}},"
                    "'stopReason':'tool_use','usage':{'inputTokens':412,'outputTokens':38,'totalTokens':450}}",
                    COMPLETION_HEAD "'choices':[{'index':0,'message':{'role':'assistant','content':'Let me check.',"
                    "'tool_calls':[{'id':'tooluse_1','type':'function','function':{'name':'get_weather',"
                    "'arguments':'{\\'city\\':\\'Paris\\',\\'days\\':2}'}},"
                    "{'id':'tooluse_2','type':'function','function':{'name':'now','arguments':'{}'}}]},"
                    "'finish_reason':'tool_calls'}]," USAGE_412_38);
  /* no text: content is null */
  expect_completion(&PLAIN,
                    "{'output':{'message':{'role':'assistant','content':[{'toolUse':{'toolUseId':'t','name':'now',"
                    "'input':{}}}]}},'stopReason':'tool_use','usage':{'inputTokens':412,'outputTokens':38}}",
                    COMPLETION_HEAD "'choices':[{'index':0,'message':{'role':'assistant','content':null,"
                    "'tool_calls':[{'id':'t','type':'function','function':{'name':'now','arguments':'{}'}}]},"
                    "'finish_reason':'tool_calls'}]," USAGE_412_38);
}

static void test_response_reasoning_and_cache_usage(void **state) {
  (void)state;
  expect_completion(&PLAIN,
                    "{'output':{'message':{'role':'assistant','content':[{'reasoningContent':{'reasoningText':"
                    "{'text':'think','signature':'s'}}},{'reasoningContent':{'redactedContent':'QQ=='}},"
                    "{'text':'done'}]}},'stopReason':'max_tokens','usage':{'inputTokens':10,'outputTokens':5,"
                    "'totalTokens':115,'cacheReadInputTokens':80,'cacheWriteInputTokens':20}}",
                    COMPLETION_HEAD "'choices':[{'index':0,'message':{'role':'assistant','content':'done',"
                    "'reasoning_content':'think'},'finish_reason':'length'}],"
                    "'usage':{'prompt_tokens':110,'completion_tokens':5,'total_tokens':115,'prompt_tokens_details':"
                    "{'cached_tokens':80},'cache_creation_input_tokens':20,'cache_read_input_tokens':80}}");
}

static void test_response_json_mode(void **state) {
  (void)state;
  expect_completion(&JSON_MODE,
                    "{'output':{'message':{'role':'assistant','content':[{'text':'Here it is:'},{'toolUse':"
                    "{'toolUseId':'t1','name':'json_tool_call','input':{'name':'Paris','pop': 2.1}}}]}},"
                    "'stopReason':'tool_use','usage':{'inputTokens':412,'outputTokens':38}}",
                    COMPLETION_HEAD "'choices':[{'index':0,'message':{'role':'assistant',"
                    "'content':'{\\'name\\':\\'Paris\\',\\'pop\\':2.1}'},'finish_reason':'stop'}]," USAGE_412_38);
  /* JSON mode, model answered in text: text stays */
  expect_completion(&JSON_MODE,
                    "{'output':{'message':{'role':'assistant','content':[{'text':'{}'}]}},'stopReason':'end_turn',"
                    "'usage':{'inputTokens':412,'outputTokens':38}}",
                    COMPLETION_HEAD "'choices':[{'index':0,'message':{'role':'assistant','content':'{}'},"
                    "'finish_reason':'stop'}]," USAGE_412_38);
}

static void test_response_every_stop_reason(void **state) {
  (void)state;
  static const char *const map[][2] = {
    {"end_turn", "stop"},         {"stop_sequence", "stop"},         {"max_tokens", "length"},
    {"tool_use", "tool_calls"},   {"guardrail_intervened", "content_filter"},
    {"content_filtered", "content_filter"}, {"model_context_window_exceeded", "length"},
    {"malformed_model_output", "stop"},     {"malformed_tool_use", "stop"}, {"brand_new_reason", "stop"}};
  for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
    assert_string_equal(pier_converse_finish_reason(map[i][0]), map[i][1]);
    char resp[256], want[512];
    snprintf(resp, sizeof resp,
             "{'output':{'message':{'role':'assistant','content':[{'text':'x'}]}},'stopReason':'%s',"
             "'usage':{'inputTokens':412,'outputTokens':38}}",
             map[i][0]);
    snprintf(want, sizeof want,
             COMPLETION_HEAD "'choices':[{'index':0,'message':{'role':'assistant','content':'x'},"
                             "'finish_reason':'%s'}]," USAGE_412_38,
             map[i][1]);
    expect_completion(&PLAIN, resp, want);
  }
  assert_string_equal(pier_converse_finish_reason(NULL), "stop");
}

static void test_response_events_and_malformed(void **state) {
  (void)state;
  rec r = {0};
  pier_buf_init(&r.log, 0);
  char err[128];
  cJSON *resp = J("{'output':{'message':{'role':'assistant','content':[{'text':'a'},{'toolUse':{'toolUseId':'i',"
                  "'name':'n','input':{'k':[1,2]}}},{'image':{}}]}},'stopReason':'tool_use'}");
  assert_int_equal(pier_converse_response_events(resp, &PLAIN, rec_on_event, &r, err, sizeof err), 0);
  log_eq(&r, "START\nTEXT a\nTOOL_START 0 i n\nTOOL_ARGS 0 {\"k\":[1,2]}\nFINISH tool_calls\n"
             "USAGE 0/0/0 cr=0 cw=0\n");
  cJSON_Delete(resp);
  /* a callback error stops the walk and is passed through */
  pier_buf_reset(&r.log);
  r.n = 0;
  r.fail_at = 2;
  resp = J("{'output':{'message':{'content':[{'text':'a'},{'text':'b'}]}}}");
  assert_int_equal(pier_converse_response_events(resp, &PLAIN, rec_on_event, &r, err, sizeof err), PIER_ECANCELLED);
  log_eq(&r, "START\nTEXT a\n");
  cJSON_Delete(resp);
  resp = J("{'output':{}}");
  pier_buf out;
  pier_buf_init(&out, 0);
  assert_int_equal(pier_converse_response(resp, &PLAIN, &META, &out, err, sizeof err), PIER_EPROTO);
  assert_string_equal(err, "the Bedrock Converse reply has no output.message.content array");
  assert_int_equal(out.len, 0);
  pier_buf_dispose(&out);
  cJSON_Delete(resp);
  pier_buf_dispose(&r.log);
}

/* ---- stream ------------------------------------------------------------------ */

#define EV "event"
#define START_F {EV, "messageStart", "{'role':'assistant','p':'abcdefghij'}"}
#define META_F(i, o) \
  {EV, "metadata", "{'usage':{'inputTokens':" #i ",'outputTokens':" #o ",'totalTokens':0},'metrics':{'latencyMs':5}}"}

static const frame TEXT_ONLY[] = {
  START_F,
  {EV, "contentBlockDelta", "{'contentBlockIndex':0,'delta':{'text':'Hi'},'p':'abcd'}"},
  {EV, "contentBlockDelta", "{'contentBlockIndex':0,'delta':{'text':' there\\n'}}"},
  {EV, "contentBlockStop", "{'contentBlockIndex':0}"},
  {EV, "messageStop", "{'stopReason':'end_turn'}"},
  META_F(12, 3),
};

static void test_stream_text_only(void **state) {
  (void)state;
  run_stream(&PLAIN, TEXT_ONLY, 6, 0,
             "START\nTEXT Hi\nTEXT  there\n\nFINISH stop\nUSAGE 12/3/15 cr=0 cw=0\n");
}

static void test_stream_text_only_sse(void **state) {
  (void)state;
#define CH "data: {'id':'chatcmpl-t','object':'chat.completion.chunk','created':1700000000,'model':'bedrock/" MODEL "',"
  run_sse(&PLAIN, false, TEXT_ONLY, 6,
          CH "'choices':[{'index':0,'delta':{'role':'assistant','content':''},'finish_reason':null}]}\n\n"
          CH "'choices':[{'index':0,'delta':{'content':'Hi'},'finish_reason':null}]}\n\n"
          CH "'choices':[{'index':0,'delta':{'content':' there\\n'},'finish_reason':null}]}\n\n"
          CH "'choices':[{'index':0,'delta':{},'finish_reason':'stop'}]}\n\n"
          "data: [DONE]\n\n");
  run_sse(&PLAIN, true, TEXT_ONLY, 6,
          CH "'choices':[{'index':0,'delta':{'role':'assistant','content':''},'finish_reason':null}],'usage':null}\n\n"
          CH "'choices':[{'index':0,'delta':{'content':'Hi'},'finish_reason':null}],'usage':null}\n\n"
          CH "'choices':[{'index':0,'delta':{'content':' there\\n'},'finish_reason':null}],'usage':null}\n\n"
          CH "'choices':[{'index':0,'delta':{},'finish_reason':'stop'}],'usage':null}\n\n"
          CH "'choices':[],'usage':{'prompt_tokens':12,'completion_tokens':3,'total_tokens':15,"
          "'prompt_tokens_details':{'cached_tokens':0},'cache_creation_input_tokens':0,'cache_read_input_tokens':0}}\n\n"
          "data: [DONE]\n\n");
}

/* text, then two parallel tool calls whose argument fragments interleave:
 * state must follow contentBlockIndex, not arrival order. */
static const frame TOOLS[] = {
  START_F,
  {EV, "contentBlockDelta", "{'contentBlockIndex':0,'delta':{'text':'Checking.'}}"},
  {EV, "contentBlockStop", "{'contentBlockIndex':0}"},
  {EV, "contentBlockStart", "{'contentBlockIndex':1,'start':{'toolUse':{'toolUseId':'tu_a','name':'get_weather'}}}"},
  {EV, "contentBlockStart", "{'contentBlockIndex':2,'start':{'toolUse':{'toolUseId':'tu_b','name':'get_weather'}}}"},
  {EV, "contentBlockDelta", "{'contentBlockIndex':2,'delta':{'toolUse':{'input':'{\\'city\\':'}}}"},
  {EV, "contentBlockDelta", "{'contentBlockIndex':1,'delta':{'toolUse':{'input':'{\\'city\\':\\'Par'}}}"},
  {EV, "contentBlockDelta", "{'contentBlockIndex':1,'delta':{'toolUse':{'input':'is\\'}'}}}"},
  {EV, "contentBlockDelta", "{'contentBlockIndex':2,'delta':{'toolUse':{'input':'\\'Rome\\'}'}}}"},
  {EV, "contentBlockStop", "{'contentBlockIndex':2}"},
  {EV, "contentBlockStop", "{'contentBlockIndex':1}"},
  {EV, "messageStop", "{'stopReason':'tool_use'}"},
  {EV, "metadata", "{'usage':{'inputTokens':100,'outputTokens':20,'cacheReadInputTokens':50,"
                   "'cacheWriteInputTokens':7}}"},
};

static void test_stream_parallel_tools(void **state) {
  (void)state;
  run_stream(&PLAIN, TOOLS, sizeof TOOLS / sizeof TOOLS[0], 0,
             "START\nTEXT Checking.\n"
             "TOOL_START 0 tu_a get_weather\nTOOL_START 1 tu_b get_weather\n"
             "TOOL_ARGS 1 {\"city\":\nTOOL_ARGS 0 {\"city\":\"Par\nTOOL_ARGS 0 is\"}\nTOOL_ARGS 1 \"Rome\"}\n"
             "FINISH tool_calls\nUSAGE 157/20/177 cr=50 cw=7\n");
}

static void test_stream_parallel_tools_sse(void **state) {
  (void)state;
  run_sse(&PLAIN, true, TOOLS, sizeof TOOLS / sizeof TOOLS[0],
          CH "'choices':[{'index':0,'delta':{'role':'assistant','content':''},'finish_reason':null}],'usage':null}\n\n"
          CH "'choices':[{'index':0,'delta':{'content':'Checking.'},'finish_reason':null}],'usage':null}\n\n"
          CH "'choices':[{'index':0,'delta':{'tool_calls':[{'index':0,'id':'tu_a','type':'function','function':"
          "{'name':'get_weather','arguments':''}}]},'finish_reason':null}],'usage':null}\n\n"
          CH "'choices':[{'index':0,'delta':{'tool_calls':[{'index':1,'id':'tu_b','type':'function','function':"
          "{'name':'get_weather','arguments':''}}]},'finish_reason':null}],'usage':null}\n\n"
          CH "'choices':[{'index':0,'delta':{'tool_calls':[{'index':1,'function':{'arguments':'{\\'city\\':'}}]},"
          "'finish_reason':null}],'usage':null}\n\n"
          CH "'choices':[{'index':0,'delta':{'tool_calls':[{'index':0,'function':{'arguments':'{\\'city\\':\\'Par'}}]},"
          "'finish_reason':null}],'usage':null}\n\n"
          CH "'choices':[{'index':0,'delta':{'tool_calls':[{'index':0,'function':{'arguments':'is\\'}'}}]},"
          "'finish_reason':null}],'usage':null}\n\n"
          CH "'choices':[{'index':0,'delta':{'tool_calls':[{'index':1,'function':{'arguments':'\\'Rome\\'}'}}]},"
          "'finish_reason':null}],'usage':null}\n\n"
          CH "'choices':[{'index':0,'delta':{},'finish_reason':'tool_calls'}],'usage':null}\n\n"
          CH "'choices':[],'usage':{'prompt_tokens':157,'completion_tokens':20,'total_tokens':177,"
          "'prompt_tokens_details':{'cached_tokens':50},'cache_creation_input_tokens':7,"
          "'cache_read_input_tokens':50}}\n\n"
          "data: [DONE]\n\n");
}

static void test_stream_tool_without_input(void **state) {
  (void)state;
  static const frame f[] = {
    START_F,
    {EV, "contentBlockStart", "{'contentBlockIndex':0,'start':{'toolUse':{'toolUseId':'t0','name':'now'}}}"},
    {EV, "contentBlockDelta", "{'contentBlockIndex':0,'delta':{'toolUse':{'input':''}}}"},
    {EV, "contentBlockStop", "{'contentBlockIndex':0}"},
    {EV, "messageStop", "{'stopReason':'tool_use'}"},
  };
  run_stream(&PLAIN, f, 5, 0, "START\nTOOL_START 0 t0 now\nTOOL_ARGS 0 {}\nFINISH tool_calls\n");
}

static void test_stream_reasoning_and_unknowns(void **state) {
  (void)state;
  static const frame f[] = {
    START_F,
    {EV, "contentBlockDelta", "{'contentBlockIndex':0,'delta':{'reasoningContent':{'text':'Let me think'}}}"},
    {EV, "contentBlockDelta", "{'contentBlockIndex':0,'delta':{'reasoningContent':{'signature':'sig'}}}"},
    {EV, "contentBlockStop", "{'contentBlockIndex':0}"},
    {EV, "contentBlockDelta", "{'contentBlockIndex':1,'delta':{'citation':{'x':1}},'p':'zz'}"},
    {EV, "someFutureEvent", "{'a':1}"},
    {"weird", "x", "not json at all"},
    {EV, "contentBlockDelta", "{'contentBlockIndex':1,'delta':{'text':'42'}}"},
    {EV, "messageStop", "{'stopReason':'model_context_window_exceeded'}"},
  };
  run_stream(&PLAIN, f, sizeof f / sizeof f[0], 0,
             "START\nREASONING Let me think\nTEXT 42\nFINISH length\n");
}

static void test_stream_json_mode(void **state) {
  (void)state;
  static const frame f[] = {
    START_F,
    {EV, "contentBlockStart", "{'contentBlockIndex':0,'start':{'toolUse':{'toolUseId':'j','name':'json_tool_call'}}}"},
    {EV, "contentBlockDelta", "{'contentBlockIndex':0,'delta':{'toolUse':{'input':'{\\'a\\':'}}}"},
    {EV, "contentBlockDelta", "{'contentBlockIndex':0,'delta':{'toolUse':{'input':'1}'}}}"},
    {EV, "contentBlockStop", "{'contentBlockIndex':0}"},
    {EV, "messageStop", "{'stopReason':'tool_use'}"},
    META_F(5, 6),
  };
  run_stream(&JSON_MODE, f, 7, 0, "START\nTEXT {\"a\":\nTEXT 1}\nFINISH stop\nUSAGE 5/6/11 cr=0 cw=0\n");
  run_sse(&JSON_MODE, false, f, 7,
          CH "'choices':[{'index':0,'delta':{'role':'assistant','content':''},'finish_reason':null}]}\n\n"
          CH "'choices':[{'index':0,'delta':{'content':'{\\'a\\':'},'finish_reason':null}]}\n\n"
          CH "'choices':[{'index':0,'delta':{'content':'1}'},'finish_reason':null}]}\n\n"
          CH "'choices':[{'index':0,'delta':{},'finish_reason':'stop'}]}\n\n"
          "data: [DONE]\n\n");
  /* an empty JSON tool input is the answer "{}" */
  static const frame g[] = {
    {EV, "contentBlockStart", "{'contentBlockIndex':3,'start':{'toolUse':{'toolUseId':'j','name':'json_tool_call'}}}"},
    {EV, "contentBlockStop", "{'contentBlockIndex':3}"},
    {EV, "messageStop", "{'stopReason':'tool_use'}"},
  };
  run_stream(&JSON_MODE, g, 3, 0, "START\nTEXT {}\nFINISH stop\n");
  /* without JSON mode json_tool_call is an ordinary tool */
  run_stream(&PLAIN, g, 3, 0, "START\nTOOL_START 0 j json_tool_call\nTOOL_ARGS 0 {}\nFINISH tool_calls\n");
}

static const frame THROTTLED[] = {
  START_F,
  {EV, "contentBlockDelta", "{'contentBlockIndex':0,'delta':{'text':'Hi'}}"},
  {"exception", "throttlingException", "{'message':'Too many requests, please wait before trying again.'}"},
  {EV, "contentBlockDelta", "{'contentBlockIndex':0,'delta':{'text':'ignored'}}"},
};

static void test_stream_exception_frame(void **state) {
  (void)state;
  run_stream(&PLAIN, THROTTLED, 4, PIER_EUPSTREAM,
             "START\nTEXT Hi\nERROR 429 ThrottlingException ThrottlingException: Too many requests, please wait "
             "before trying again. Fix: the AWS account's Bedrock quota for this model is exceeded; wait and retry, "
             "or request a quota increase in the Service Quotas console.\n");
  run_sse(&PLAIN, false, THROTTLED, 4,
          CH "'choices':[{'index':0,'delta':{'role':'assistant','content':''},'finish_reason':null}]}\n\n"
          CH "'choices':[{'index':0,'delta':{'content':'Hi'},'finish_reason':null}]}\n\n"
          "data: {'error':{'message':'ThrottlingException: Too many requests, please wait before trying again. Fix: "
          "the AWS account`s Bedrock quota for this model is exceeded; wait and retry, or request a quota "
          "increase in the Service Quotas console.','type':'rate_limit_error','code':'ThrottlingException',"
          "'param':null}}\n\n"
          "data: [DONE]\n\n");
}

static void test_stream_exception_statuses(void **state) {
  (void)state;
  static const struct { const char *name; const char *log; } cases[] = {
    {"serviceUnavailableException", "ERROR 503 ServiceUnavailableException ServiceUnavailableException: busy\n"},
    {"modelStreamErrorException",
     "ERROR 424 ModelStreamErrorException ModelStreamErrorException: busy (model said: HTTP 500 overloaded)\n"},
    {"validationException", "ERROR 400 ValidationException ValidationException: busy\n"},
    {"internalServerException", "ERROR 502 InternalServerException InternalServerException: busy\n"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    frame f = {"exception", cases[i].name,
               i == 1 ? "{'message':'busy','originalStatusCode':500,'originalMessage':'overloaded'}"
                      : "{'message':'busy'}"};
    run_stream(&PLAIN, &f, 1, PIER_EUPSTREAM, cases[i].log);
  }
  frame e = {"error", "InternalFailure", "it broke"};
  run_stream(&PLAIN, &e, 1, PIER_EUPSTREAM, "ERROR 502 InternalFailure InternalFailure: it broke\n");
}

static void test_stream_protocol_errors(void **state) {
  (void)state;
  static const frame orphan[] = {
    START_F,
    {EV, "contentBlockDelta", "{'contentBlockIndex':4,'delta':{'toolUse':{'input':'{}'}}}"},
    {EV, "messageStop", "{'stopReason':'end_turn'}"},
  };
  run_stream(&PLAIN, orphan, 3, PIER_EPROTO,
             "START\nERROR 502 - Bedrock stream broke the ConverseStream protocol: toolUse delta for a block that had "
             "no toolUse start (contentBlockIndex 4)\n");
  static const frame bad_json[] = {{EV, "messageStop", "{'stopReason':"}};
  run_stream(&PLAIN, bad_json, 1, PIER_EPROTO,
             "ERROR 502 - Bedrock stream broke the ConverseStream protocol: event payload is not a JSON object\n");
  static const frame twice[] = {
    {EV, "contentBlockStart", "{'contentBlockIndex':0,'start':{'toolUse':{'toolUseId':'a','name':'n'}}}"},
    {EV, "contentBlockStart", "{'contentBlockIndex':0,'start':{'toolUse':{'toolUseId':'a','name':'n'}}}"},
  };
  run_stream(&PLAIN, twice, 2, PIER_EPROTO,
             "START\nTOOL_START 0 a n\nERROR 502 - Bedrock stream broke the ConverseStream protocol: second "
             "contentBlockStart for one block (contentBlockIndex 0)\n");
}

/* More open tool blocks than the table holds: an error, not an overflow; and
 * closed slots are reused, so many sequential tools are fine. */
static void test_stream_tool_table_bound(void **state) {
  (void)state;
  rec r = {0};
  pier_buf_init(&r.log, 0);
  pier_converse_stream s;
  pier_converse_stream_init(&s, &PLAIN, rec_on_event, &r);
  char p[160];
  for (int i = 0; i < 200; i++) { /* sequential: start+stop */
    snprintf(p, sizeof p, "{\"contentBlockIndex\":%d,\"start\":{\"toolUse\":{\"toolUseId\":\"t%d\",\"name\":\"n\"}}}",
             i, i);
    assert_int_equal(pier_converse_stream_on_frame(&s, PIER_SLICE_LIT("event"), PIER_SLICE_LIT("contentBlockStart"),
                                                   pier_slice_from(p)), 0);
    snprintf(p, sizeof p, "{\"contentBlockIndex\":%d}", i);
    assert_int_equal(pier_converse_stream_on_frame(&s, PIER_SLICE_LIT("event"), PIER_SLICE_LIT("contentBlockStop"),
                                                   pier_slice_from(p)), 0);
  }
  int rc = 0;
  for (int i = 1000; i < 1000 + PIER_CONVERSE_STREAM_TOOLS_MAX + 1 && !rc; i++) { /* all open at once */
    snprintf(p, sizeof p, "{\"contentBlockIndex\":%d,\"start\":{\"toolUse\":{\"toolUseId\":\"t\",\"name\":\"n\"}}}", i);
    rc = pier_converse_stream_on_frame(&s, PIER_SLICE_LIT("event"), PIER_SLICE_LIT("contentBlockStart"),
                                       pier_slice_from(p));
  }
  assert_int_equal(rc, PIER_EPROTO);
  assert_non_null(strstr(r.log.ptr, "too many tool blocks open at once"));
  assert_int_equal(s.next_tool, 200 + PIER_CONVERSE_STREAM_TOOLS_MAX);
  pier_buf_dispose(&r.log);
}

static void test_stream_callback_error_is_sticky(void **state) {
  (void)state;
  rec r = {0};
  pier_buf_init(&r.log, 0);
  r.fail_at = 2;
  pier_converse_stream s;
  pier_converse_stream_init(&s, &PLAIN, rec_on_event, &r);
  assert_int_equal(feed(&s, TEXT_ONLY, 6), PIER_ECANCELLED);
  log_eq(&r, "START\nTEXT Hi\n");
  pier_buf_dispose(&r.log);
}

/* The aggregator fed by the stream equals the non-stream mapping of the same answer. */
static void test_stream_aggregate_equals_non_stream(void **state) {
  (void)state;
  static const frame f[] = {
    START_F,
    {EV, "contentBlockDelta", "{'contentBlockIndex':0,'delta':{'reasoningContent':{'text':'plan'}}}"},
    {EV, "contentBlockStop", "{'contentBlockIndex':0}"},
    {EV, "contentBlockDelta", "{'contentBlockIndex':1,'delta':{'text':'Let me '}}"},
    {EV, "contentBlockDelta", "{'contentBlockIndex':1,'delta':{'text':'check.'}}"},
    {EV, "contentBlockStop", "{'contentBlockIndex':1}"},
    {EV, "contentBlockStart", "{'contentBlockIndex':2,'start':{'toolUse':{'toolUseId':'tu_a','name':'get_weather'}}}"},
    {EV, "contentBlockDelta", "{'contentBlockIndex':2,'delta':{'toolUse':{'input':'{\\'city\\':'}}}"},
    {EV, "contentBlockDelta", "{'contentBlockIndex':2,'delta':{'toolUse':{'input':'\\'Paris\\'}'}}}"},
    {EV, "contentBlockStop", "{'contentBlockIndex':2}"},
    {EV, "contentBlockStart", "{'contentBlockIndex':3,'start':{'toolUse':{'toolUseId':'tu_b','name':'now'}}}"},
    {EV, "contentBlockStop", "{'contentBlockIndex':3}"},
    {EV, "messageStop", "{'stopReason':'tool_use'}"},
    {EV, "metadata", "{'usage':{'inputTokens':30,'outputTokens':9,'cacheReadInputTokens':4}}"},
  };
  pier_openai_agg agg;
  assert_int_equal(pier_openai_agg_init(&agg, &META), 0);
  pier_converse_stream s;
  pier_converse_stream_init(&s, &PLAIN, pier_openai_agg_on_event, &agg);
  assert_int_equal(feed(&s, f, sizeof f / sizeof f[0]), 0);
  pier_buf streamed, direct;
  pier_buf_init(&streamed, 0);
  pier_buf_init(&direct, 0);
  assert_int_equal(pier_openai_agg_finish(&agg, &streamed), 0);
  cJSON *resp = J("{'output':{'message':{'role':'assistant','content':[{'reasoningContent':{'reasoningText':"
                  "{'text':'plan'}}},{'text':'Let me check.'},{'toolUse':{'toolUseId':'tu_a','name':'get_weather',"
                  "'input':{'city':'Paris'}}},{'toolUse':{'toolUseId':'tu_b','name':'now','input':{}}}]}},"
                  "'stopReason':'tool_use','usage':{'inputTokens':30,'outputTokens':9,'cacheReadInputTokens':4}}");
  char err[128];
  assert_int_equal(pier_converse_response(resp, &PLAIN, &META, &direct, err, sizeof err), 0);
  assert_string_equal(streamed.ptr, direct.ptr); /* byte for byte */
  json_eq(pier_buf_slice(&direct),
          COMPLETION_HEAD "'choices':[{'index':0,'message':{'role':'assistant','content':'Let me check.',"
          "'reasoning_content':'plan','tool_calls':[{'id':'tu_a','type':'function','function':{'name':'get_weather',"
          "'arguments':'{\\'city\\':\\'Paris\\'}'}},{'id':'tu_b','type':'function','function':{'name':'now',"
          "'arguments':'{}'}}]},'finish_reason':'tool_calls'}],'usage':{'prompt_tokens':34,'completion_tokens':9,"
          "'total_tokens':43,'prompt_tokens_details':{'cached_tokens':4},'cache_creation_input_tokens':0,"
          "'cache_read_input_tokens':4}}");
  cJSON_Delete(resp);
  pier_buf_dispose(&streamed);
  pier_buf_dispose(&direct);
  pier_openai_agg_dispose(&agg);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_request_minimal),
    cmocka_unit_test(test_request_system_parts_and_multipart_user),
    cmocka_unit_test(test_request_merges_same_role_turns),
    cmocka_unit_test(test_request_leading_assistant_gets_placeholder),
    cmocka_unit_test(test_request_image_formats),
    cmocka_unit_test(test_request_image_errors),
    cmocka_unit_test(test_request_remote_images_fetch_and_substitute),
    cmocka_unit_test(test_request_tools_and_choices),
    cmocka_unit_test(test_request_parallel_tool_calls_and_results),
    cmocka_unit_test(test_request_tool_result_after_user_text_leads_the_turn),
    cmocka_unit_test(test_request_history_without_tools_synthesises_config),
    cmocka_unit_test(test_request_thinking_blocks_replayed),
    cmocka_unit_test(test_request_response_format),
    cmocka_unit_test(test_request_inference_params),
    cmocka_unit_test(test_request_reasoning_effort),
    cmocka_unit_test(test_request_errors_name_the_path),
    cmocka_unit_test(test_request_body_cap),
    cmocka_unit_test(test_response_text),
    cmocka_unit_test(test_response_tool_use),
    cmocka_unit_test(test_response_reasoning_and_cache_usage),
    cmocka_unit_test(test_response_json_mode),
    cmocka_unit_test(test_response_every_stop_reason),
    cmocka_unit_test(test_response_events_and_malformed),
    cmocka_unit_test(test_stream_text_only),
    cmocka_unit_test(test_stream_text_only_sse),
    cmocka_unit_test(test_stream_parallel_tools),
    cmocka_unit_test(test_stream_parallel_tools_sse),
    cmocka_unit_test(test_stream_tool_without_input),
    cmocka_unit_test(test_stream_reasoning_and_unknowns),
    cmocka_unit_test(test_stream_json_mode),
    cmocka_unit_test(test_stream_exception_frame),
    cmocka_unit_test(test_stream_exception_statuses),
    cmocka_unit_test(test_stream_protocol_errors),
    cmocka_unit_test(test_stream_tool_table_bound),
    cmocka_unit_test(test_stream_callback_error_is_sticky),
    cmocka_unit_test(test_stream_aggregate_equals_non_stream),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
