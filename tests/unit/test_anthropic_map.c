/* test_anthropic_map.c — OpenAI <-> Anthropic Messages: request bodies both
 * ways, replies and SSE streams -> the exact event list, events -> the exact
 * Messages SSE bytes and Message object, error mapping. JSON literals are
 * written with single quotes (q() turns them into double quotes); bodies are
 * compared parsed, event lists and SSE streams byte for byte. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/json.h"
#include "llm/anthropic_map.h"
#include "llm/openai_sse.h"

#define MODEL "claude-sonnet-4-5"

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

static void json_eq_j(pier_slice actual, const cJSON *e) {
  char err[128];
  cJSON *a = pier_json_parse(actual, 64, err, sizeof err);
  if (!a) fail_msg("output is not JSON (%s): %.*s", err, (int)actual.len, actual.ptr);
  if (!cJSON_Compare(a, e, true)) {
    char *es = cJSON_PrintUnformatted(e);
    fail_msg("JSON differs\n  got:  %.*s\n  want: %s", (int)actual.len, actual.ptr, es);
  }
  cJSON_Delete(a);
}

static void json_eq(pier_slice actual, const char *expected_sq) {
  cJSON *e = J(expected_sq);
  json_eq_j(actual, e);
  cJSON_Delete(e);
}

static void str_eq(const char *got, const char *want) {
  if (strcmp(got ? got : "(null)", want)) fail_msg("text differs\n  got:  %s\n  want: %s", got ? got : "(null)", want);
}

/* Build a body from a single-quoted OpenAI request; assert the whole body. */
static void expect_body_x(bool bedrock, const char *req_sq, const char *body_sq, pier_anthropic_info *info_out) {
  cJSON *req = J(req_sq);
  pier_buf body;
  pier_buf_init(&body, 0);
  pier_anthropic_info info;
  char err[256];
  int rc = bedrock ? pier_anthropic_build_bedrock(req, NULL, &body, &info, err, sizeof err)
                   : pier_anthropic_build(req, MODEL, &body, &info, err, sizeof err);
  if (rc) fail_msg("build failed (%d): %s", rc, err);
  json_eq(pier_buf_slice(&body), body_sq);
  if (info_out) *info_out = info;
  pier_buf_dispose(&body);
  cJSON_Delete(req);
}
#define expect_body(req, body) expect_body_x(false, req, body, NULL)

/* Only body[member] (want_sq NULL: the member is absent). */
static void expect_member(const char *req_sq, const char *member, const char *want_sq) {
  cJSON *req = J(req_sq);
  pier_buf body;
  pier_buf_init(&body, 0);
  pier_anthropic_info info;
  char err[256];
  int rc = pier_anthropic_build(req, MODEL, &body, &info, err, sizeof err);
  if (rc) fail_msg("build failed (%d): %s", rc, err);
  cJSON *b = pier_json_parse(pier_slice_from(body.ptr), 64, err, sizeof err);
  const cJSON *m = cJSON_GetObjectItemCaseSensitive(b, member);
  if (!want_sq) {
    if (m) fail_msg("%s should be absent: %s", member, body.ptr);
  } else {
    char *ms = m ? cJSON_PrintUnformatted(m) : NULL;
    json_eq(pier_slice_from(ms ? ms : "null"), want_sq);
    free(ms);
  }
  cJSON_Delete(b);
  pier_buf_dispose(&body);
  cJSON_Delete(req);
}

static void expect_error_x(bool bedrock, const char *req_sq, int want_rc, const char *want_err) {
  cJSON *req = J(req_sq);
  pier_buf body;
  pier_buf_init(&body, 0);
  pier_anthropic_info info;
  char err[256] = "";
  int rc = bedrock ? pier_anthropic_build_bedrock(req, NULL, &body, &info, err, sizeof err)
                   : pier_anthropic_build(req, MODEL, &body, &info, err, sizeof err);
  assert_int_equal(rc, want_rc);
  assert_int_equal(body.len, 0);
  str_eq(err, want_err);
  pier_buf_dispose(&body);
  cJSON_Delete(req);
}
#define expect_error(req, err) expect_error_x(false, req, PIER_EINVAL, err)

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

/* ---- request: messages ---------------------------------------------------------- */

static void test_build_minimal(void **state) {
  (void)state;
  pier_anthropic_info info;
  expect_body_x(false,
                "{'model':'anthropic/claude-sonnet-4-5','messages':[{'role':'system','content':'You are terse.'},"
                "{'role':'user','content':'Hello'}],'stream':true,'stream_options':{'include_usage':true}}",
                "{'model':'claude-sonnet-4-5','system':'You are terse.','messages':[{'role':'user','content':'Hello'}],"
                "'max_tokens':4096,'stream':true}",
                &info);
  assert_true(info.stream);
  assert_true(info.include_usage);
  assert_false(info.json_mode);
  assert_false(info.thinking);
}

static void test_build_system_blocks_and_merged_turns(void **state) {
  (void)state;
  expect_body("{'messages':[{'role':'system','content':[{'type':'text','text':'A'},{'type':'text','text':''},"
              "{'type':'text','text':'B','cache_control':{'type':'ephemeral'}}]},{'role':'developer','content':'C'},"
              "{'role':'user','content':'one'},"
              "{'role':'user','content':[{'type':'text','text':'two','cache_control':{'type':'ephemeral'}}]},"
              "{'role':'assistant','content':'ok'},{'role':'assistant','content':[{'type':'text','text':'more'}]},"
              "{'role':'assistant','content':''},{'role':'user','content':'three'}]}",
              "{'model':'" MODEL "','system':[{'type':'text','text':'A'},"
              "{'type':'text','text':'B','cache_control':{'type':'ephemeral'}},{'type':'text','text':'C'}],"
              "'messages':[{'role':'user','content':[{'type':'text','text':'one'},"
              "{'type':'text','text':'two','cache_control':{'type':'ephemeral'}}]},"
              "{'role':'assistant','content':[{'type':'text','text':'ok'},{'type':'text','text':'more'}]},"
              "{'role':'user','content':'three'}],'max_tokens':4096}");
}

static void test_build_leading_assistant_gets_placeholder(void **state) {
  (void)state;
  expect_body("{'messages':[{'role':'assistant','content':'Hi'},{'role':'user','content':'x'}]}",
              "{'model':'" MODEL "','messages':[{'role':'user','content':'.'},{'role':'assistant','content':'Hi'},"
              "{'role':'user','content':'x'}],'max_tokens':4096}");
  expect_error("{'messages':[{'role':'system','content':'s'},{'role':'user','content':''}]}",
               "messages: no user or assistant message has any content; Anthropic needs at least one");
}

static void test_build_images_and_documents(void **state) {
  (void)state;
  expect_body("{'messages':[{'role':'user','content':[{'type':'text','text':'look'},"
              "{'type':'image_url','image_url':{'url':'data:image/png;base64,iVBORw0KGgoAAAA='}},"
              "{'type':'image_url','image_url':'data:image/jpg;base64,/9j/4AAQ'},"
              "{'type':'image_url','image_url':{'url':'data:;base64,R0lGODlhAQAB'}},"
              "{'type':'image_url','image_url':{'url':'https://example.com/cat.webp','detail':'high'},"
              "'cache_control':{'type':'ephemeral'}},"
              "{'type':'file','file':{'file_data':'data:application/pdf;base64,JVBERi0x','filename':'a.pdf'}}]}]}",
              "{'model':'" MODEL "','messages':[{'role':'user','content':[{'type':'text','text':'look'},"
              "{'type':'image','source':{'type':'base64','media_type':'image/png','data':'iVBORw0KGgoAAAA='}},"
              "{'type':'image','source':{'type':'base64','media_type':'image/jpeg','data':'/9j/4AAQ'}},"
              "{'type':'image','source':{'type':'base64','media_type':'image/gif','data':'R0lGODlhAQAB'}},"
              "{'type':'image','source':{'type':'url','url':'https://example.com/cat.webp'},"
              "'cache_control':{'type':'ephemeral'}},"
              "{'type':'document','source':{'type':'base64','media_type':'application/pdf','data':'JVBERi0x'}}]}],"
              "'max_tokens':4096}");
}

static void test_build_image_errors(void **state) {
  (void)state;
  expect_error("{'messages':[{'role':'user','content':[{'type':'image_url','image_url':{'url':'data:image/tiff;base64,"
               "AAAA'}}]}]}",
               "messages[0].content[0].image_url.url: image type \"image/tiff\" is not supported; Anthropic takes png, "
               "jpeg, gif or webp");
  expect_error("{'messages':[{'role':'user','content':[{'type':'image_url','image_url':{'url':'data:image/png;base64,"
               "@@'}}]}]}",
               "messages[0].content[0].image_url.url: the data after the comma is not valid base64");
  expect_error("{'messages':[{'role':'user','content':[{'type':'image_url','image_url':{'url':'ftp://x/y.png'}}]}]}",
               "messages[0].content[0].image_url.url must be an http(s) URL or a base64 data URL like "
               "data:image/png;base64,...");
  expect_error("{'messages':[{'role':'user','content':'q'},{'role':'assistant','content':[{'type':'image_url',"
               "'image_url':{'url':'https://x/y.png'}}]}]}",
               "messages[1].content[0]: image_url parts are only allowed in user and tool messages");
  expect_error("{'messages':[{'role':'user','content':[{'type':'file','file':{'file_id':'file-1'}}]}]}",
               "messages[0].content[0].file.file_data must be a data URL (data:application/pdf;base64,...); file_id "
               "references are not supported for Anthropic");
  expect_error("{'messages':[{'role':'user','content':[{'type':'input_audio','input_audio':{}}]}]}",
               "messages[0].content[0].type: part type \"input_audio\" is not supported for Anthropic (use text, "
               "image_url or file)");
}

/* ---- request: tools ------------------------------------------------------------------ */

#define WEATHER_TOOL                                                                                            \
  "{'type':'function','function':{'name':'get_weather','description':'Weather by city','parameters':{'type':" \
  "'object','properties':{'city':{'type':'string'}},'required':['city']}}}"
#define WEATHER_SPEC                                                                                   \
  "{'name':'get_weather','description':'Weather by city','input_schema':{'type':'object','properties':" \
  "{'city':{'type':'string'}},'required':['city']}}"

static void test_build_parallel_tool_calls_and_results(void **state) {
  (void)state;
  expect_body("{'messages':[{'role':'user','content':'Weather in Paris, and the time?'},"
              "{'role':'assistant','content':'Checking.','tool_calls':["
              "{'id':'call_1','type':'function','function':{'name':'get_weather','arguments':'{\\'city\\':\\'Paris\\'}'}},"
              "{'id':'call_2','type':'function','function':{'name':'now','arguments':''}}]},"
              "{'role':'tool','tool_call_id':'call_1','content':'18C'},"
              "{'role':'tool','tool_call_id':'call_2','content':[{'type':'text','text':'12:00'}],'is_error':true},"
              "{'role':'user','content':'thanks'}],"
              "'tools':[" WEATHER_TOOL ",{'type':'function','function':{'name':'now'}}],'tool_choice':'auto'}",
              "{'model':'" MODEL "','messages':[{'role':'user','content':'Weather in Paris, and the time?'},"
              "{'role':'assistant','content':[{'type':'text','text':'Checking.'},"
              "{'type':'tool_use','id':'call_1','name':'get_weather','input':{'city':'Paris'}},"
              "{'type':'tool_use','id':'call_2','name':'now','input':{}}]},"
              "{'role':'user','content':[{'type':'tool_result','tool_use_id':'call_1','content':'18C'},"
              "{'type':'tool_result','tool_use_id':'call_2','content':[{'type':'text','text':'12:00'}],'is_error':true},"
              "{'type':'text','text':'thanks'}]}],'max_tokens':4096,"
              "'tools':[" WEATHER_SPEC ",{'name':'now','input_schema':{'type':'object','properties':{}}}],"
              "'tool_choice':{'type':'auto'}}");
}

static void test_build_tool_result_leads_its_turn(void **state) {
  (void)state;
  /* a tool message after user text still goes first; image parts and cache_control ride along */
  expect_body("{'messages':[{'role':'user','content':'hi'},{'role':'assistant','tool_calls':[{'id':'c1','type':"
              "'function','function':{'name':'shot','arguments':'{}'}}]},{'role':'user','content':'wait'},"
              "{'role':'tool','tool_call_id':'c1','cache_control':{'type':'ephemeral'},'content':[{'type':'text',"
              "'text':'screen:'},{'type':'image_url','image_url':{'url':'data:image/png;base64,iVBORw0KGgo='}}]},"
              "{'role':'tool','tool_call_id':'c2','content':''}],"
              "'tools':[{'type':'function','function':{'name':'shot','parameters':{'type':'object'}}}]}",
              "{'model':'" MODEL "','messages':[{'role':'user','content':'hi'},{'role':'assistant','content':["
              "{'type':'tool_use','id':'c1','name':'shot','input':{}}]},{'role':'user','content':["
              "{'type':'tool_result','tool_use_id':'c1','content':[{'type':'text','text':'screen:'},"
              "{'type':'image','source':{'type':'base64','media_type':'image/png','data':'iVBORw0KGgo='}}],"
              "'cache_control':{'type':'ephemeral'}},{'type':'tool_result','tool_use_id':'c2'},"
              "{'type':'text','text':'wait'}]}],'max_tokens':4096,"
              "'tools':[{'name':'shot','input_schema':{'type':'object'}}]}");
}

#define ONE_TOOL "'messages':[{'role':'user','content':'q'}],'tools':[" WEATHER_TOOL "]"

static void test_build_tool_choice_variants(void **state) {
  (void)state;
  expect_member("{" ONE_TOOL ",'tool_choice':'auto'}", "tool_choice", "{'type':'auto'}");
  expect_member("{" ONE_TOOL ",'tool_choice':'required'}", "tool_choice", "{'type':'any'}");
  expect_member("{" ONE_TOOL ",'tool_choice':'none'}", "tool_choice", "{'type':'none'}");
  expect_member("{" ONE_TOOL ",'tool_choice':'none'}", "tools", "[" WEATHER_SPEC "]");
  expect_member("{" ONE_TOOL ",'tool_choice':{'type':'function','function':{'name':'get_weather'}}}", "tool_choice",
                "{'type':'tool','name':'get_weather'}");
  expect_member("{" ONE_TOOL ",'tool_choice':'auto','parallel_tool_calls':false}", "tool_choice",
                "{'type':'auto','disable_parallel_tool_use':true}");
  expect_member("{" ONE_TOOL ",'parallel_tool_calls':false}", "tool_choice",
                "{'type':'auto','disable_parallel_tool_use':true}");
  expect_member("{" ONE_TOOL ",'tool_choice':'required','parallel_tool_calls':false}", "tool_choice",
                "{'type':'any','disable_parallel_tool_use':true}");
  expect_member("{" ONE_TOOL ",'tool_choice':'none','parallel_tool_calls':false}", "tool_choice", "{'type':'none'}");
  expect_member("{" ONE_TOOL ",'parallel_tool_calls':true}", "tool_choice", NULL);
  expect_member("{'messages':[{'role':'user','content':'q'}],'tool_choice':'auto','parallel_tool_calls':false}",
                "tool_choice", NULL);
  expect_error("{'messages':[{'role':'user','content':'q'}],'tool_choice':'required'}",
               "tool_choice: \"required\" needs at least one entry in tools");
  expect_error("{" ONE_TOOL ",'tool_choice':{'type':'function','function':{'name':'nope'}}}",
               "tool_choice.function.name: no tool named \"nope\" in tools");
  expect_error("{" ONE_TOOL ",'tool_choice':'sometimes'}",
               "tool_choice must be \"auto\", \"required\", \"none\" or {\"type\":\"function\",\"function\":"
               "{\"name\":...}}; got \"sometimes\"");
  expect_error("{'messages':[{'role':'user','content':'q'}],'tools':[{'type':'retrieval'}]}",
               "tools[0].type: only \"function\" tools are supported, got \"retrieval\"");
  expect_error("{" ONE_TOOL ",'parallel_tool_calls':'no'}", "parallel_tool_calls must be a boolean");
}

static void test_build_history_without_tools_declares_them_unusable(void **state) {
  (void)state;
  expect_body("{'messages':[{'role':'user','content':'q'},{'role':'assistant','content':null,'tool_calls':["
              "{'id':'c1','type':'function','function':{'name':'lookup','arguments':'{}'}}]},"
              "{'role':'tool','tool_call_id':'c1','content':'r'},{'role':'user','content':'summarise'}]}",
              "{'model':'" MODEL "','messages':[{'role':'user','content':'q'},{'role':'assistant','content':["
              "{'type':'tool_use','id':'c1','name':'lookup','input':{}}]},{'role':'user','content':["
              "{'type':'tool_result','tool_use_id':'c1','content':'r'},{'type':'text','text':'summarise'}]}],"
              "'max_tokens':4096,'tools':[{'name':'lookup','input_schema':{'type':'object','properties':{}}}],"
              "'tool_choice':{'type':'none'}}");
}

/* ---- request: parameters ------------------------------------------------------------- */

static void test_build_stop_sampling_metadata(void **state) {
  (void)state;
  expect_body("{'messages':[{'role':'user','content':'q'}],'stop':['END','','STOP'],'temperature':1.7,'top_p':0.9,"
              "'top_k':40,'user':'u-42','frequency_penalty':0.5,'seed':7}",
              "{'model':'" MODEL "','messages':[{'role':'user','content':'q'}],'max_tokens':4096,'temperature':1,"
              "'top_p':0.9,'top_k':40,'stop_sequences':['END','STOP'],'metadata':{'user_id':'u-42'}}");
  expect_member("{'messages':[{'role':'user','content':'q'}],'stop':'X','temperature':-1}", "stop_sequences", "['X']");
  expect_member("{'messages':[{'role':'user','content':'q'}],'stop':'X','temperature':-1}", "temperature", "0");
  expect_member("{'messages':[{'role':'user','content':'q'}],'stop':''}", "stop_sequences", NULL);
  expect_member("{'messages':[{'role':'user','content':'q'}],'stop':null,'user':''}", "metadata", NULL);
  expect_error("{'messages':[{'role':'user','content':'q'}],'stop':[1]}", "stop[0] must be a string, got a number");
  expect_error("{'messages':[{'role':'user','content':'q'}],'top_k':-1}", "top_k must be an integer from 0 to 2147483647");
}

static void test_build_max_tokens(void **state) {
  (void)state;
  expect_member("{'messages':[{'role':'user','content':'q'}],'max_tokens':100}", "max_tokens", "100");
  expect_member("{'messages':[{'role':'user','content':'q'}],'max_completion_tokens':200,'max_tokens':100}",
                "max_tokens", "200");
  expect_member("{'messages':[{'role':'user','content':'q'}],'max_tokens':null}", "max_tokens", "4096");
  expect_error("{'messages':[{'role':'user','content':'q'}],'max_tokens':0}",
               "max_tokens must be an integer from 1 to 2147483647");
  expect_error("{'messages':[{'role':'user','content':'q'}],'max_completion_tokens':'x'}",
               "max_completion_tokens must be a number, got a string");
}

static void test_build_json_mode(void **state) {
  (void)state;
  pier_anthropic_info info;
  expect_body_x(false,
                "{'messages':[{'role':'user','content':'Who?'}],'response_format':{'type':'json_schema','json_schema':"
                "{'name':'person','schema':{'type':'object','properties':{'name':{'type':'string'}}}}}}",
                "{'model':'" MODEL "','messages':[{'role':'user','content':'Who?'}],'max_tokens':4096,"
                "'tools':[{'name':'json_tool_call','description':'Return the final answer as this tool`s input.',"
                "'input_schema':{'type':'object','properties':{'name':{'type':'string'}}}}],"
                "'tool_choice':{'type':'tool','name':'json_tool_call'}}",
                &info);
  assert_true(info.json_mode);
  expect_member("{'messages':[{'role':'user','content':'q'}],'response_format':{'type':'json_object'}}", "tools",
                "[{'name':'json_tool_call','description':'Return the final answer as this tool`s input.',"
                "'input_schema':{'type':'object','additionalProperties':true,'properties':{}}}]");
  /* with the caller's own tools the choice stays the caller's */
  expect_member("{" ONE_TOOL ",'tool_choice':'auto','response_format':{'type':'json_object'}}", "tool_choice",
                "{'type':'auto'}");
  expect_member("{'messages':[{'role':'user','content':'q'}],'response_format':{'type':'text'}}", "tools", NULL);
  expect_error("{'messages':[{'role':'user','content':'q'}],'response_format':{'type':'yaml'}}",
               "response_format.type must be text, json_object or json_schema; got \"yaml\"");
}

static void test_build_thinking(void **state) {
  (void)state;
  pier_anthropic_info info;
  expect_body_x(false,
                "{'messages':[{'role':'user','content':'hi'}],'reasoning_effort':'high','temperature':0.5,'top_k':5,"
                "'top_p':0.9,'tools':[" WEATHER_TOOL "],'tool_choice':'required'}",
                "{'model':'" MODEL "','messages':[{'role':'user','content':'hi'}],'max_tokens':8192,"
                "'tools':[" WEATHER_SPEC "],'tool_choice':{'type':'auto'},"
                "'thinking':{'type':'enabled','budget_tokens':4096}}",
                &info);
  assert_true(info.thinking);
  expect_member("{'messages':[{'role':'user','content':'hi'}],'thinking':{'type':'enabled','budget_tokens':2000},"
                "'max_tokens':1000}", "max_tokens", "3000");
  expect_member("{'messages':[{'role':'user','content':'hi'}],'thinking':{'type':'enabled','budget_tokens':2000},"
                "'max_tokens':1000}", "thinking", "{'type':'enabled','budget_tokens':2000}");
  expect_member("{'messages':[{'role':'user','content':'hi'}],'reasoning_effort':'low','max_tokens':16000}",
                "max_tokens", "16000");
  expect_member("{'messages':[{'role':'user','content':'hi'}],'reasoning_effort':'none','temperature':0.2}",
                "thinking", NULL);
  expect_member("{'messages':[{'role':'user','content':'hi'}],'thinking':{'type':'disabled'},'temperature':0.2}",
                "temperature", "0.2");
  expect_error("{'messages':[{'role':'user','content':'q'}],'reasoning_effort':'extreme'}",
               "reasoning_effort must be one of none, minimal, low, medium, high; got \"extreme\"");
}

static void test_build_thinking_blocks_replayed(void **state) {
  (void)state;
  expect_body("{'messages':[{'role':'user','content':'q'},{'role':'assistant','content':'answer','thinking_blocks':["
              "{'type':'thinking','thinking':'hmm','signature':'sig1'},{'type':'thinking','thinking':'unsigned'},"
              "{'type':'redacted_thinking','data':'xyz'}],'tool_calls':[{'id':'c1','type':'function','function':"
              "{'name':'get_weather','arguments':'{}'}}]},{'role':'tool','tool_call_id':'c1','content':'ok'}],"
              "'tools':[" WEATHER_TOOL "]}",
              "{'model':'" MODEL "','messages':[{'role':'user','content':'q'},{'role':'assistant','content':["
              "{'type':'thinking','thinking':'hmm','signature':'sig1'},{'type':'redacted_thinking','data':'xyz'},"
              "{'type':'text','text':'answer'},{'type':'tool_use','id':'c1','name':'get_weather','input':{}}]},"
              "{'role':'user','content':[{'type':'tool_result','tool_use_id':'c1','content':'ok'}]}],"
              "'max_tokens':4096,'tools':[" WEATHER_SPEC "]}");
}

static void test_build_bedrock_invoke_body(void **state) {
  (void)state;
  pier_anthropic_info info;
  expect_body_x(true,
                "{'model':'bedrock/us.anthropic.claude-sonnet-4-5','messages':[{'role':'system','content':'S'},"
                "{'role':'user','content':'Hi'}],'stream':true,'user':'u1','max_tokens':10,'stop':'END'}",
                "{'anthropic_version':'bedrock-2023-05-31','system':'S','messages':[{'role':'user','content':'Hi'}],"
                "'max_tokens':10,'stop_sequences':['END']}",
                &info);
  assert_true(info.stream);
  expect_error_x(true,
                 "{'messages':[{'role':'user','content':[{'type':'image_url','image_url':{'url':'https://x/a.png'}}]}]}",
                 PIER_EAGAIN, "messages[0].content[0].image_url.url: remote image URL was not fetched before the "
                              "Bedrock call");
}

static void test_build_errors_name_the_path(void **state) {
  (void)state;
  expect_error("{'messages':[{'role':'user','content':'q'},{'role':'assistant','tool_calls':[{'id':'c','type':"
               "'function','function':{'name':'f','arguments':'{bad'}}]}]}",
               "messages[1].tool_calls[0].function.arguments must be a JSON object (invalid JSON at byte 2)");
  expect_error("{'messages':[{'role':'user','content':'q'},{'role':'assistant','tool_calls':[{'id':'c','type':"
               "'function','function':{'name':'f','arguments':'[1]'}}]}]}",
               "messages[1].tool_calls[0].function.arguments must be a JSON object (it is not an object)");
  expect_error("{'messages':[{'role':'user','content':'q'},{'role':'assistant','tool_calls':[{'type':'function',"
               "'function':{'name':'f'}}]}]}",
               "messages[1].tool_calls[0].id must be a non-empty string");
  expect_error("{'messages':[{'role':'tool','content':'r'}]}",
               "messages[0].tool_call_id is required: the id of the assistant tool call this tool message answers");
  expect_error("{'messages':[{'role':'function','content':'r'}]}",
               "messages[0].role: unknown role \"function\" (expected system, user, assistant or tool)");
  expect_error("{'messages':[{'role':'user','content':5}]}",
               "messages[0].content must be a string or an array of content parts, got a number");
  expect_error("{'messages':[{'role':'user'}]}", "messages[0].content is required");
  expect_error("{'messages':[]}", "messages must be a non-empty array of chat messages");
  expect_error("{'messages':[{'role':'user','content':'q'}],'n':2}",
               "n: Anthropic returns a single choice, so n must be 1 (or left out)");
  expect_error("{'messages':[{'role':'user','content':'q'}],'tools':[{'type':'function','function':{'name':'f',"
               "'parameters':[]}}]}",
               "tools[0].function.parameters must be a JSON Schema object, got an array");
  /* no model name from routing */
  cJSON *req = J("{'messages':[{'role':'user','content':'q'}]}");
  pier_buf body;
  pier_buf_init(&body, 0);
  pier_anthropic_info info;
  char err[256];
  assert_int_equal(pier_anthropic_build(req, "", &body, &info, err, sizeof err), PIER_EINVAL);
  str_eq(err, "model: no Anthropic model name to send; name one like anthropic/claude-sonnet-4-5");
  pier_buf_dispose(&body);
  cJSON_Delete(req);
}

static void test_build_body_cap(void **state) {
  (void)state;
  cJSON *req = J("{'messages':[{'role':'user','content':'a long enough question for a tiny buffer'}]}");
  pier_buf body;
  pier_buf_init(&body, 32);
  pier_anthropic_info info;
  char err[256];
  assert_int_equal(pier_anthropic_build(req, MODEL, &body, &info, err, sizeof err), PIER_ETOOBIG);
  assert_int_equal(body.len, 0);
  str_eq(err, "limit exceeded while building the Anthropic request");
  pier_buf_dispose(&body);
  cJSON_Delete(req);
}

/* ---- response (non-stream) --------------------------------------------------------------- */

static const pier_anthropic_info PLAIN = {0};
static const pier_anthropic_info JSON_MODE = {.json_mode = true};

static void run_response(const pier_anthropic_info *info, const char *resp_sq, int want_rc, const char *want_log) {
  cJSON *resp = J(resp_sq);
  rec r = {0};
  pier_buf_init(&r.log, 0);
  char err[256] = "";
  int rc = pier_anthropic_response_events(resp, info, rec_on_event, &r, err, sizeof err);
  if (rc != want_rc) fail_msg("rc %d, want %d (%s)", rc, want_rc, err);
  log_eq(&r, want_log);
  pier_buf_dispose(&r.log);
  cJSON_Delete(resp);
}

#define RESP_TOOLS                                                                                                 \
  "{'id':'msg_1','type':'message','role':'assistant','model':'claude-sonnet-4-5','content':["                     \
  "{'type':'thinking','thinking':'plan','signature':'sig'},{'type':'text','text':'Let me check.'},"                \
  "{'type':'tool_use','id':'toolu_a','name':'get_weather','input':{'city':'Paris'}},"                              \
  "{'type':'tool_use','id':'toolu_b','name':'now','input':{}}],'stop_reason':'tool_use','stop_sequence':null,"    \
  "'usage':{'input_tokens':30,'output_tokens':9,'cache_creation_input_tokens':2,'cache_read_input_tokens':4}}"

static const pier_openai_meta META = {.id = "chatcmpl-t", .model = "anthropic/" MODEL, .created = 1700000000};

static void test_response_text_with_cache_usage(void **state) {
  (void)state;
  run_response(&PLAIN,
               "{'id':'msg_1','type':'message','role':'assistant','model':'" MODEL "','content':[{'type':'text',"
               "'text':'Hello!'}],'stop_reason':'end_turn','stop_sequence':null,'usage':{'input_tokens':10,"
               "'output_tokens':3,'cache_creation_input_tokens':5,'cache_read_input_tokens':20}}",
               0, "START\nTEXT Hello!\nFINISH stop\nUSAGE 35/3/38 cr=20 cw=5\n");
}

static void test_response_thinking_and_tools(void **state) {
  (void)state;
  run_response(&PLAIN, RESP_TOOLS, 0,
               "START\nREASONING plan\nTEXT Let me check.\nTOOL_START 0 toolu_a get_weather\n"
               "TOOL_ARGS 0 {\"city\":\"Paris\"}\nTOOL_START 1 toolu_b now\nTOOL_ARGS 1 {}\nFINISH tool_calls\n"
               "USAGE 36/9/45 cr=4 cw=2\n");
  cJSON *resp = J(RESP_TOOLS);
  pier_buf out;
  pier_buf_init(&out, 0);
  char err[128];
  assert_int_equal(pier_anthropic_response(resp, &PLAIN, &META, &out, err, sizeof err), 0);
  json_eq(pier_buf_slice(&out),
          "{'id':'chatcmpl-t','object':'chat.completion','created':1700000000,'model':'anthropic/" MODEL "',"
          "'choices':[{'index':0,'message':{'role':'assistant','content':'Let me check.','reasoning_content':'plan',"
          "'tool_calls':[{'id':'toolu_a','type':'function','function':{'name':'get_weather','arguments':"
          "'{\\'city\\':\\'Paris\\'}'}},{'id':'toolu_b','type':'function','function':{'name':'now','arguments':'{}'}}]},"
          "'finish_reason':'tool_calls'}],'usage':{'prompt_tokens':36,'completion_tokens':9,'total_tokens':45,"
          "'prompt_tokens_details':{'cached_tokens':4},'cache_creation_input_tokens':2,'cache_read_input_tokens':4}}");
  pier_buf_dispose(&out);
  cJSON_Delete(resp);
}

static void test_response_every_stop_reason(void **state) {
  (void)state;
  static const char *const map[][2] = {{"end_turn", "stop"},          {"stop_sequence", "stop"},
                                       {"pause_turn", "stop"},        {"max_tokens", "length"},
                                       {"tool_use", "tool_calls"},    {"refusal", "content_filter"},
                                       {"model_context_window_exceeded", "length"}, {"something_new", "stop"}};
  for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) str_eq(pier_anthropic_finish_reason(map[i][0]), map[i][1]);
  str_eq(pier_anthropic_finish_reason(NULL), "stop");
  static const char *const back[][2] = {{"stop", "end_turn"}, {"length", "max_tokens"}, {"tool_calls", "tool_use"},
                                        {"content_filter", "refusal"}, {"function_call", "end_turn"}};
  for (size_t i = 0; i < sizeof back / sizeof back[0]; i++) str_eq(pier_anthropic_stop_reason(back[i][0]), back[i][1]);
  run_response(&PLAIN, "{'content':[],'stop_reason':'max_tokens','usage':{'input_tokens':1,'output_tokens':2}}", 0,
               "START\nFINISH length\nUSAGE 1/2/3 cr=0 cw=0\n");
}

static void test_response_json_mode(void **state) {
  (void)state;
  run_response(&JSON_MODE,
               "{'content':[{'type':'text','text':'ignored'},{'type':'tool_use','id':'t','name':'json_tool_call',"
               "'input':{'name':'Ada'}}],'stop_reason':'tool_use','usage':{'input_tokens':5,'output_tokens':6}}",
               0, "START\nTEXT {\"name\":\"Ada\"}\nFINISH stop\nUSAGE 5/6/11 cr=0 cw=0\n");
  /* without JSON mode the same reply is an ordinary tool call */
  run_response(&PLAIN,
               "{'content':[{'type':'tool_use','id':'t','name':'json_tool_call','input':{}}],'stop_reason':'tool_use'}",
               0, "START\nTOOL_START 0 t json_tool_call\nTOOL_ARGS 0 {}\nFINISH tool_calls\nUSAGE 0/0/0 cr=0 cw=0\n");
}

static void test_response_error_object_and_malformed(void **state) {
  (void)state;
  run_response(&PLAIN, "{'type':'error','error':{'type':'overloaded_error','message':'Overloaded'}}", PIER_EUPSTREAM,
               "ERROR 503 overloaded_error Anthropic overloaded_error: Overloaded. Fix: Anthropic is overloaded right "
               "now; retry shortly\n");
  cJSON *resp = J("{'id':'x'}");
  rec r = {0};
  pier_buf_init(&r.log, 0);
  char err[128];
  assert_int_equal(pier_anthropic_response_events(resp, &PLAIN, rec_on_event, &r, err, sizeof err), PIER_EPROTO);
  str_eq(err, "the Anthropic reply has no content array");
  log_eq(&r, "");
  r.fail_at = 2; /* a callback error passes through */
  cJSON_Delete(resp);
  resp = J(RESP_TOOLS);
  assert_int_equal(pier_anthropic_response_events(resp, &PLAIN, rec_on_event, &r, err, sizeof err), PIER_ECANCELLED);
  pier_buf_dispose(&r.log);
  cJSON_Delete(resp);
}

/* ---- stream ---------------------------------------------------------------------------------- */

typedef struct sse_ev {
  const char *name; /* event: */
  const char *data_sq;
} sse_ev;

/* Feed events; returns the first non-zero rc (later events still go in, to check stickiness). */
static int feed(pier_anthropic_stream *s, const sse_ev *e, size_t n) {
  int first = 0;
  for (size_t i = 0; i < n; i++) {
    char *d = q(e[i].data_sq);
    int rc = pier_anthropic_stream_on_event(s, pier_slice_from(e[i].name), pier_slice_from(d));
    free(d);
    if (rc && !first) first = rc;
    if (first) assert_int_equal(rc, first);
  }
  return first;
}

static void run_stream(const pier_anthropic_info *info, const sse_ev *e, size_t n, int want_rc, const char *want_log) {
  rec r = {0};
  pier_buf_init(&r.log, 0);
  pier_anthropic_stream s;
  pier_anthropic_stream_init(&s, info, rec_on_event, &r);
  assert_int_equal(feed(&s, e, n), want_rc);
  log_eq(&r, want_log);
  pier_buf_dispose(&r.log);
}

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define MSG_START(in, cr)                                                                                        \
  {"message_start", "{'type':'message_start','message':{'id':'msg_1','type':'message','role':'assistant',"     \
                    "'content':[],'model':'" MODEL "','stop_reason':null,'stop_sequence':null,'usage':"       \
                    "{'input_tokens':" #in ",'cache_creation_input_tokens':0,'cache_read_input_tokens':" #cr \
                    ",'output_tokens':1}}}"}
#define BLOCK_START(i, cb) {"content_block_start", "{'type':'content_block_start','index':" #i ",'content_block':" cb "}"}
#define DELTA(i, d) {"content_block_delta", "{'type':'content_block_delta','index':" #i ",'delta':" d "}"}
#define TEXT_DELTA(i, t) DELTA(i, "{'type':'text_delta','text':'" t "'}")
#define JSON_DELTA(i, t) DELTA(i, "{'type':'input_json_delta','partial_json':'" t "'}")
#define BLOCK_STOP(i) {"content_block_stop", "{'type':'content_block_stop','index':" #i "}"}
#define MSG_DELTA(stop, out)                                                                       \
  {"message_delta", "{'type':'message_delta','delta':{'stop_reason':'" stop "','stop_sequence':null}," \
                    "'usage':{'output_tokens':" #out "}}"}
#define MSG_STOP {"message_stop", "{'type':'message_stop'}"}
#define PING {"ping", "{'type':'ping'}"}

static const sse_ev TEXT_ONLY[] = {
  MSG_START(25, 100), BLOCK_START(0, "{'type':'text','text':''}"), PING, TEXT_DELTA(0, "Hello"),
  TEXT_DELTA(0, " world"), BLOCK_STOP(0), MSG_DELTA("end_turn", 15), MSG_STOP};
#define TEXT_ONLY_LOG "START\nTEXT Hello\nTEXT  world\nFINISH stop\nUSAGE 125/15/140 cr=100 cw=0\n"

static const sse_ev TWO_TOOLS[] = {
  MSG_START(50, 0), BLOCK_START(0, "{'type':'text','text':''}"), TEXT_DELTA(0, "Let me check."), BLOCK_STOP(0),
  BLOCK_START(1, "{'type':'tool_use','id':'toolu_a','name':'get_weather','input':{}}"), JSON_DELTA(1, ""),
  JSON_DELTA(1, "{\\'city\\': \\'Pa"), PING, JSON_DELTA(1, "ris\\'}"), BLOCK_STOP(1),
  BLOCK_START(2, "{'type':'tool_use','id':'toolu_b','name':'now','input':{}}"), BLOCK_STOP(2),
  MSG_DELTA("tool_use", 40), MSG_STOP};
#define TWO_TOOLS_LOG                                                                                          \
  "START\nTEXT Let me check.\nTOOL_START 0 toolu_a get_weather\nTOOL_ARGS 0 {\"city\": \"Pa\nTOOL_ARGS 0 ris\"}\n" \
  "TOOL_START 1 toolu_b now\nTOOL_ARGS 1 {}\nFINISH tool_calls\nUSAGE 50/40/90 cr=0 cw=0\n"

static const sse_ev THINKING[] = {
  MSG_START(12, 0), BLOCK_START(0, "{'type':'thinking','thinking':''}"),
  DELTA(0, "{'type':'thinking_delta','thinking':'Let me think'}"), DELTA(0, "{'type':'thinking_delta','thinking':'...'}"),
  DELTA(0, "{'type':'signature_delta','signature':'EqQBCkYIARgCIkA'}"), BLOCK_STOP(0),
  BLOCK_START(1, "{'type':'redacted_thinking','data':'abc'}"), BLOCK_STOP(1),
  BLOCK_START(2, "{'type':'text','text':''}"), TEXT_DELTA(2, "42"), BLOCK_STOP(2), MSG_DELTA("end_turn", 30), MSG_STOP};
#define THINKING_LOG "START\nREASONING Let me think\nREASONING ...\nTEXT 42\nFINISH stop\nUSAGE 12/30/42 cr=0 cw=0\n"

static const sse_ev OVERLOADED[] = {
  MSG_START(7, 0), BLOCK_START(0, "{'type':'text','text':''}"), TEXT_DELTA(0, "Hel"),
  {"error", "{'type':'error','error':{'type':'overloaded_error','message':'Overloaded'}}"}, TEXT_DELTA(0, "lo")};
#define OVERLOADED_LOG                                                                                           \
  "START\nTEXT Hel\nERROR 503 overloaded_error Anthropic overloaded_error: Overloaded. Fix: Anthropic is overloaded " \
  "right now; retry shortly\n"

static void test_stream_text_only(void **state) {
  (void)state;
  run_stream(&PLAIN, TEXT_ONLY, N(TEXT_ONLY), 0, TEXT_ONLY_LOG);
}

static void test_stream_text_and_two_tools(void **state) {
  (void)state;
  run_stream(&PLAIN, TWO_TOOLS, N(TWO_TOOLS), 0, TWO_TOOLS_LOG);
}

static void test_stream_thinking_with_signature(void **state) {
  (void)state;
  run_stream(&PLAIN, THINKING, N(THINKING), 0, THINKING_LOG);
}

static void test_stream_error_event(void **state) {
  (void)state;
  run_stream(&PLAIN, OVERLOADED, N(OVERLOADED), PIER_EUPSTREAM, OVERLOADED_LOG);
  static const char *const cases[][2] = {
    {"rate_limit_error", "ERROR 429 rate_limit_error Anthropic rate_limit_error: slow down. Fix: the organisation hit "
                         "an Anthropic rate limit; slow down or retry later\n"},
    {"api_error", "ERROR 502 api_error Anthropic api_error: slow down\n"},
    {"invalid_request_error", "ERROR 400 invalid_request_error Anthropic invalid_request_error: slow down\n"},
    {"brand_new_error", "ERROR 502 brand_new_error Anthropic brand_new_error: slow down\n"}};
  for (size_t i = 0; i < N(cases); i++) {
    char data[160];
    snprintf(data, sizeof data, "{'type':'error','error':{'type':'%s','message':'slow down'}}", cases[i][0]);
    sse_ev e[] = {{"error", data}};
    run_stream(&PLAIN, e, 1, PIER_EUPSTREAM, cases[i][1]);
  }
}

static void test_stream_json_mode(void **state) {
  (void)state;
  static const sse_ev e[] = {
    MSG_START(5, 0), BLOCK_START(0, "{'type':'tool_use','id':'t1','name':'json_tool_call','input':{}}"),
    JSON_DELTA(0, "{\\'name\\':"), JSON_DELTA(0, "\\'Ada\\'}"), BLOCK_STOP(0), MSG_DELTA("tool_use", 8), MSG_STOP};
  run_stream(&JSON_MODE, e, N(e), 0, "START\nTEXT {\"name\":\nTEXT \"Ada\"}\nFINISH stop\nUSAGE 5/8/13 cr=0 cw=0\n");
}

static void test_stream_bedrock_chunks_without_event_names(void **state) {
  (void)state;
  /* InvokeModelWithResponseStream: the JSON's type names the event; message_delta may carry the input side too */
  sse_ev e[N(TEXT_ONLY)];
  for (size_t i = 0; i < N(TEXT_ONLY); i++) e[i] = (sse_ev){"", TEXT_ONLY[i].data_sq};
  run_stream(&PLAIN, e, N(e), 0, TEXT_ONLY_LOG);
  static const sse_ev upd[] = {
    MSG_START(25, 100), BLOCK_START(0, "{'type':'text','text':'Hi'}"), BLOCK_STOP(0),
    {"", "{'type':'message_delta','delta':{'stop_reason':'end_turn'},'usage':{'input_tokens':30,"
         "'cache_read_input_tokens':0,'cache_creation_input_tokens':6,'output_tokens':7}}"},
    {"", "{'type':'message_stop','amazon-bedrock-invocationMetrics':{'inputTokenCount':36}}"}};
  run_stream(&PLAIN, upd, N(upd), 0, "START\nTEXT Hi\nFINISH stop\nUSAGE 36/7/43 cr=0 cw=6\n");
  static const sse_ev err[] = {{"", "{'type':'error','error':{'type':'overloaded_error','message':'Overloaded'}}"}};
  run_stream(&PLAIN, err, 1, PIER_EUPSTREAM,
             "ERROR 503 overloaded_error Anthropic overloaded_error: Overloaded. Fix: Anthropic is overloaded right now; "
             "retry shortly\n");
}

static void test_stream_protocol_errors(void **state) {
  (void)state;
  static const sse_ev orphan[] = {MSG_START(1, 0), JSON_DELTA(3, "{}"), MSG_STOP};
  run_stream(&PLAIN, orphan, N(orphan), PIER_EPROTO,
             "START\nERROR 502 - Anthropic stream broke the Messages streaming protocol: input_json_delta for a block "
             "that had no tool_use start (content block 3)\n");
  static const sse_ev garbage[] = {{"content_block_delta", "{'type':"}};
  run_stream(&PLAIN, garbage, 1, PIER_EPROTO,
             "ERROR 502 - Anthropic stream broke the Messages streaming protocol: event data is not a JSON object with "
             "a type\n");
  static const sse_ev twice[] = {BLOCK_START(0, "{'type':'tool_use','id':'a','name':'f','input':{}}"),
                                 BLOCK_START(0, "{'type':'tool_use','id':'a','name':'f','input':{}}")};
  run_stream(&PLAIN, twice, N(twice), PIER_EPROTO,
             "START\nTOOL_START 0 a f\nERROR 502 - Anthropic stream broke the Messages streaming protocol: second "
             "content_block_start for one block (content block 0)\n");
  static const sse_ev noname[] = {BLOCK_START(0, "{'type':'tool_use','id':'a','input':{}}")};
  run_stream(&PLAIN, noname, 1, PIER_EPROTO,
             "START\nERROR 502 - Anthropic stream broke the Messages streaming protocol: tool_use start without id or "
             "name (content block 0)\n");
  /* a stream cut before message_stop */
  rec r = {0};
  pier_buf_init(&r.log, 0);
  pier_anthropic_stream s;
  pier_anthropic_stream_init(&s, &PLAIN, rec_on_event, &r);
  assert_int_equal(feed(&s, TEXT_ONLY, 4), 0);
  assert_int_equal(pier_anthropic_stream_end(&s), PIER_EPROTO);
  assert_int_equal(pier_anthropic_stream_end(&s), PIER_EPROTO);
  log_eq(&r, "START\nTEXT Hello\nERROR 502 - Anthropic stream broke the Messages streaming protocol: the stream ended "
             "before message_stop\n");
  pier_anthropic_stream_init(&s, &PLAIN, rec_on_event, &r);
  assert_int_equal(feed(&s, TEXT_ONLY, N(TEXT_ONLY)), 0);
  assert_int_equal(pier_anthropic_stream_end(&s), 0);
  pier_buf_dispose(&r.log);
}

static void test_stream_block_table_bound(void **state) {
  (void)state;
  rec r = {0};
  pier_buf_init(&r.log, 0);
  pier_anthropic_stream s;
  pier_anthropic_stream_init(&s, &PLAIN, rec_on_event, &r);
  char data[160];
  int rc = 0;
  for (int i = 0; i <= PIER_ANTHROPIC_STREAM_BLOCKS_MAX && !rc; i++) {
    snprintf(data, sizeof data,
             "{\"type\":\"content_block_start\",\"index\":%d,\"content_block\":{\"type\":\"server_tool_use\","
             "\"id\":\"s%d\",\"name\":\"web_search\",\"input\":{}}}", i, i);
    rc = pier_anthropic_stream_on_event(&s, PIER_SLICE_LIT("content_block_start"), pier_slice_from(data));
  }
  assert_int_equal(rc, PIER_EPROTO);
  assert_non_null(strstr(r.log.ptr, "too many content blocks open at once (content block 64)"));
  pier_buf_dispose(&r.log);
}

static void test_stream_callback_error_is_sticky(void **state) {
  (void)state;
  rec r = {.fail_at = 3};
  pier_buf_init(&r.log, 0);
  pier_anthropic_stream s;
  pier_anthropic_stream_init(&s, &PLAIN, rec_on_event, &r);
  assert_int_equal(feed(&s, TWO_TOOLS, N(TWO_TOOLS)), PIER_ECANCELLED);
  log_eq(&r, "START\nTEXT Let me check.\nTOOL_START 0 toolu_a get_weather\n");
  assert_int_equal(pier_anthropic_stream_end(&s), PIER_ECANCELLED);
  pier_buf_dispose(&r.log);
}

/* Streamed and non-streamed replies give the same chat.completion, byte for byte. */
static void test_stream_aggregate_equals_non_stream(void **state) {
  (void)state;
  static const sse_ev e[] = {
    MSG_START(30, 4), BLOCK_START(0, "{'type':'thinking','thinking':''}"),
    DELTA(0, "{'type':'thinking_delta','thinking':'pl'}"), DELTA(0, "{'type':'thinking_delta','thinking':'an'}"),
    BLOCK_STOP(0), BLOCK_START(1, "{'type':'text','text':''}"), TEXT_DELTA(1, "Let me check."), BLOCK_STOP(1),
    BLOCK_START(2, "{'type':'tool_use','id':'toolu_a','name':'get_weather','input':{}}"),
    JSON_DELTA(2, "{\\'city\\':"), JSON_DELTA(2, "\\'Paris\\'}"), BLOCK_STOP(2),
    BLOCK_START(3, "{'type':'tool_use','id':'toolu_b','name':'now','input':{}}"), BLOCK_STOP(3),
    {"message_delta", "{'type':'message_delta','delta':{'stop_reason':'tool_use'},'usage':{'output_tokens':9,"
                      "'cache_creation_input_tokens':2}}"},
    MSG_STOP};
  pier_openai_agg agg;
  assert_int_equal(pier_openai_agg_init(&agg, &META), 0);
  pier_anthropic_stream s;
  pier_anthropic_stream_init(&s, &PLAIN, pier_openai_agg_on_event, &agg);
  assert_int_equal(feed(&s, e, N(e)), 0);
  pier_buf streamed, direct;
  pier_buf_init(&streamed, 0);
  pier_buf_init(&direct, 0);
  assert_int_equal(pier_openai_agg_finish(&agg, &streamed), 0);
  cJSON *resp = J(RESP_TOOLS);
  char err[128];
  assert_int_equal(pier_anthropic_response(resp, &PLAIN, &META, &direct, err, sizeof err), 0);
  str_eq(streamed.ptr, direct.ptr);
  cJSON_Delete(resp);
  pier_buf_dispose(&streamed);
  pier_buf_dispose(&direct);
  pier_openai_agg_dispose(&agg);
}

/* ---- error mapping --------------------------------------------------------------------- */

typedef struct err_case {
  int http;
  const char *body_sq;
  int status;
  const char *type;
  const char *code;
  bool retry;
  const char *message;
} err_case;

#define ERRB(t, m) "{'type':'error','error':{'type':'" t "','message':'" m "'},'request_id':'req_1'}"

static void test_error_map_per_type(void **state) {
  (void)state;
  static const err_case cases[] = {
    {400, ERRB("invalid_request_error", "max_tokens: Field required"), 400, "invalid_request_error",
     "invalid_request_error", false, "Anthropic invalid_request_error: max_tokens: Field required"},
    {400, ERRB("invalid_request_error", "prompt is too long: 210000 tokens > 200000 maximum"), 400,
     "invalid_request_error", "context_length_exceeded", false,
     "Anthropic invalid_request_error: prompt is too long: 210000 tokens > 200000 maximum. Fix: shorten the "
     "conversation or lower max_tokens so prompt and answer fit the model`s context window"},
    {401, ERRB("authentication_error", "invalid x-api-key"), 401, "authentication_error", "authentication_error",
     false, "Anthropic authentication_error: invalid x-api-key. Fix: check ANTHROPIC_API_KEY on the collection: the "
            "key is missing, mistyped or revoked (keys start with sk-ant-)"},
    {402, ERRB("billing_error", "credit balance too low"), 402, "api_error", "billing_error", false,
     "Anthropic billing_error: credit balance too low. Fix: add credit or a payment method for the organisation in "
     "the Anthropic console"},
    {403, ERRB("permission_error", "no access"), 403, "permission_error", "permission_error", false,
     "Anthropic permission_error: no access. Fix: the ANTHROPIC_API_KEY in use may not use this model or feature; "
     "check its workspace in the Anthropic console"},
    {404, ERRB("not_found_error", "model: claude-9"), 404, "not_found_error", "not_found_error", false,
     "Anthropic not_found_error: model: claude-9. Fix: check the model name (e.g. anthropic/claude-sonnet-4-5) and "
     "ANTHROPIC_BASE_URL"},
    {413, "<html>413 Request Entity Too Large</html>", 413, "invalid_request_error", "request_too_large", false,
     "Anthropic returned HTTP 413 (request_too_large). Fix: Anthropic takes at most 32 MB per request; send fewer or "
     "smaller images and documents"},
    {429, ERRB("rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit"), 429,
     "rate_limit_error", "rate_limit_error", true,
     "Anthropic rate_limit_error: Number of request tokens has exceeded your per-minute rate limit. Fix: the "
     "organisation hit an Anthropic rate limit; slow down or retry later"},
    {500, ERRB("api_error", "Internal server error"), 502, "api_error", "api_error", true,
     "Anthropic api_error: Internal server error"},
    {529, ERRB("overloaded_error", "Overloaded"), 503, "api_error", "overloaded_error", true,
     "Anthropic overloaded_error: Overloaded. Fix: Anthropic is overloaded right now; retry shortly"},
    {503, "", 503, "api_error", "overloaded_error", true,
     "Anthropic returned HTTP 503 (overloaded_error). Fix: Anthropic is overloaded right now; retry shortly"},
    {502, "bad gateway", 502, "api_error", "api_error", true, "Anthropic returned HTTP 502 (api_error)"},
    {504, ERRB("timeout_error", "Request timed out"), 504, "timeout_error", "timeout_error", true,
     "Anthropic timeout_error: Request timed out"},
    {418, ERRB("teapot_error", "short and stout"), 418, "api_error", "teapot_error", false,
     "Anthropic teapot_error: short and stout"},
    {401, ERRB("authentication_error", "key sk-ant-api03-abcDEF123 is revoked"), 401, "authentication_error",
     "authentication_error", false,
     "Anthropic authentication_error: key sk-ant-*** is revoked. Fix: check ANTHROPIC_API_KEY on the collection: the "
     "key is missing, mistyped or revoked (keys start with sk-ant-)"},
    {0, ERRB("overloaded_error", "Overloaded"), 503, "api_error", "overloaded_error", true,
     "Anthropic overloaded_error: Overloaded. Fix: Anthropic is overloaded right now; retry shortly"},
    {0, ERRB("invalid_request_error", "bad"), 400, "invalid_request_error", "invalid_request_error", false,
     "Anthropic invalid_request_error: bad"},
  };
  for (size_t i = 0; i < N(cases); i++) {
    const err_case *c = &cases[i];
    char *body = q(c->body_sq), *msg = q(c->message);
    pier_anthropic_error e;
    pier_anthropic_error_map(c->http, pier_slice_from(body), &e);
    if (e.status != c->status || strcmp(e.type, c->type) || strcmp(e.code, c->code) || e.retryable != c->retry ||
        strcmp(e.message, msg))
      fail_msg("case %zu (HTTP %d): got %d %s %s %d \"%s\"", i, c->http, e.status, e.type, e.code, e.retryable,
               e.message);
    free(body);
    free(msg);
  }
}

static void test_error_map_long_text_is_cut_on_a_character(void **state) {
  (void)state;
  pier_buf body;
  pier_buf_init(&body, 0);
  assert_int_equal(pier_buf_append_cstr(&body, "{\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":\""), 0);
  for (int i = 0; i < 400; i++) assert_int_equal(pier_buf_append_cstr(&body, "\xc3\xa9"), 0); /* é */
  assert_int_equal(pier_buf_append_cstr(&body, "\"}}"), 0);
  pier_anthropic_error e;
  pier_anthropic_error_map(500, pier_buf_slice(&body), &e);
  assert_true(pier_utf8_valid(pier_slice_from(e.message)));
  assert_int_equal(strlen(e.message), strlen("Anthropic api_error: ") + 480);
  pier_buf_dispose(&body);
}

static void test_error_body_per_status(void **state) {
  (void)state;
  static const struct { int status; const char *type; } cases[] = {
    {400, "invalid_request_error"}, {422, "invalid_request_error"}, {401, "authentication_error"},
    {402, "billing_error"},         {403, "permission_error"},      {404, "not_found_error"},
    {413, "request_too_large"},     {429, "rate_limit_error"},      {500, "api_error"},
    {502, "api_error"},             {503, "overloaded_error"},      {529, "overloaded_error"},
    {504, "timeout_error"}};
  for (size_t i = 0; i < N(cases); i++) {
    pier_buf out;
    pier_buf_init(&out, 0);
    assert_int_equal(pier_anthropic_error_body(&out, cases[i].status, PIER_SLICE_LIT("it \"broke\"")), 0);
    char want[160];
    snprintf(want, sizeof want, "{\"type\":\"error\",\"error\":{\"type\":\"%s\",\"message\":\"it \\\"broke\\\"\"}}",
             cases[i].type);
    str_eq(out.ptr, want);
    pier_buf_dispose(&out);
  }
}

/* ---- serving: Anthropic request -> OpenAI request ------------------------------------------ */

static void expect_openai(const char *anthropic_sq, const char *openai_sq) {
  cJSON *req = J(anthropic_sq), *out = NULL;
  char err[256];
  int rc = pier_anthropic_to_openai(req, &out, err, sizeof err);
  if (rc) fail_msg("to_openai failed (%d): %s", rc, err);
  char *s = cJSON_PrintUnformatted(out);
  json_eq(pier_slice_from(s), openai_sq);
  free(s);
  cJSON_Delete(out);
  cJSON_Delete(req);
}

static void expect_serve_error(const char *anthropic_sq, const char *want) {
  cJSON *req = J(anthropic_sq), *out = (cJSON *)1;
  char err[256];
  assert_int_equal(pier_anthropic_to_openai(req, &out, err, sizeof err), PIER_EINVAL);
  assert_null(out);
  char *w = q(want);
  str_eq(err, w);
  free(w);
  cJSON_Delete(req);
}

static void test_to_openai_claude_code_request(void **state) {
  (void)state;
  expect_openai(
    "{'model':'claude-sonnet-4-5','max_tokens':32000,'stream':true,'temperature':1,'stop_sequences':['</done>'],"
    "'system':[{'type':'text','text':'You are Claude Code.','cache_control':{'type':'ephemeral'}},"
    "{'type':'text','text':'Env: linux'}],"
    "'messages':[{'role':'user','content':[{'type':'text','text':'<system-reminder>ctx</system-reminder>'},"
    "{'type':'text','text':'List files','cache_control':{'type':'ephemeral'}}]},"
    "{'role':'assistant','content':[{'type':'thinking','thinking':'I should run ls','signature':'sig-1'},"
    "{'type':'text','text':'Running ls.'},{'type':'tool_use','id':'toolu_1','name':'Bash','input':{'command':'ls'}},"
    "{'type':'tool_use','id':'toolu_2','name':'Read','input':{'file_path':'/a.png'}}]},"
    "{'role':'user','content':[{'type':'tool_result','tool_use_id':'toolu_1','content':'a.png\\nb.txt'},"
    "{'type':'tool_result','tool_use_id':'toolu_2','content':[{'type':'text','text':'image:'},{'type':'image',"
    "'source':{'type':'base64','media_type':'image/png','data':'iVBORw0KGgo='}}],'is_error':false},"
    "{'type':'text','text':'Describe it','cache_control':{'type':'ephemeral'}}]}],"
    "'tools':[{'name':'Bash','description':'Run a command','input_schema':{'type':'object','properties':"
    "{'command':{'type':'string'}},'required':['command']}},{'name':'Read','input_schema':{'type':'object',"
    "'properties':{'file_path':{'type':'string'}}},'cache_control':{'type':'ephemeral'}},"
    "{'type':'web_search_20250305','name':'web_search','max_uses':5}],"
    "'tool_choice':{'type':'auto','disable_parallel_tool_use':true},"
    "'metadata':{'user_id':'user_abc_account__session_1'}}",
    "{'model':'claude-sonnet-4-5','messages':["
    "{'role':'system','content':[{'type':'text','text':'You are Claude Code.','cache_control':{'type':'ephemeral'}},"
    "{'type':'text','text':'Env: linux'}]},"
    "{'role':'user','content':[{'type':'text','text':'<system-reminder>ctx</system-reminder>'},"
    "{'type':'text','text':'List files','cache_control':{'type':'ephemeral'}}]},"
    "{'role':'assistant','content':'Running ls.','tool_calls':[{'id':'toolu_1','type':'function','function':"
    "{'name':'Bash','arguments':'{\\'command\\':\\'ls\\'}'}},{'id':'toolu_2','type':'function','function':"
    "{'name':'Read','arguments':'{\\'file_path\\':\\'/a.png\\'}'}}],"
    "'thinking_blocks':[{'type':'thinking','thinking':'I should run ls','signature':'sig-1'}]},"
    "{'role':'tool','tool_call_id':'toolu_1','content':'a.png\\nb.txt'},"
    "{'role':'tool','tool_call_id':'toolu_2','content':[{'type':'text','text':'image:'}]},"
    "{'role':'user','content':[{'type':'image_url','image_url':{'url':'data:image/png;base64,iVBORw0KGgo='}},"
    "{'type':'text','text':'Describe it','cache_control':{'type':'ephemeral'}}]}],"
    "'max_tokens':32000,'temperature':1,'stop':['</done>'],"
    "'tools':[{'type':'function','function':{'name':'Bash','description':'Run a command','parameters':"
    "{'type':'object','properties':{'command':{'type':'string'}},'required':['command']}}},"
    "{'type':'function','function':{'name':'Read','parameters':{'type':'object','properties':"
    "{'file_path':{'type':'string'}}}},'cache_control':{'type':'ephemeral'}}],"
    "'tool_choice':'auto','parallel_tool_calls':false,'stream':true,'stream_options':{'include_usage':true},"
    "'user':'user_abc_account__session_1'}");
}

static void test_to_openai_shapes(void **state) {
  (void)state;
  /* string system and contents; assistant with only tool_use; unsigned thinking dropped, redacted kept */
  expect_openai("{'model':'m','max_tokens':5,'system':'Be brief.','messages':[{'role':'user','content':'hi'},"
                "{'role':'assistant','content':[{'type':'thinking','thinking':'x','signature':''},"
                "{'type':'redacted_thinking','data':'R'},{'type':'text','text':''},"
                "{'type':'tool_use','id':'t1','name':'f','input':{}}]},"
                "{'role':'user','content':[{'type':'tool_result','tool_use_id':'t1'}]},"
                "{'role':'assistant','content':[]}],'tool_choice':{'type':'any'},'top_k':3,'top_p':0.5}",
                "{'model':'m','messages':[{'role':'system','content':'Be brief.'},{'role':'user','content':'hi'},"
                "{'role':'assistant','content':null,'tool_calls':[{'id':'t1','type':'function','function':{'name':'f',"
                "'arguments':'{}'}}],'thinking_blocks':[{'type':'redacted_thinking','data':'R'}]},"
                "{'role':'tool','tool_call_id':'t1','content':''},{'role':'assistant','content':''}],"
                "'max_tokens':5,'top_p':0.5,'top_k':3,'tool_choice':'required'}");
  /* documents, URL images, forced tool, none, thinking copied */
  expect_openai("{'model':'m','max_tokens':5,'messages':[{'role':'user','content':["
                "{'type':'document','source':{'type':'base64','media_type':'application/pdf','data':'JVBERi0x'},"
                "'cache_control':{'type':'ephemeral'}},"
                "{'type':'document','source':{'type':'text','media_type':'text/plain','data':'notes'}},"
                "{'type':'image','source':{'type':'url','url':'https://x/cat.png'}}]},"
                "{'role':'assistant','content':[{'type':'text','text':'a'},{'type':'text','text':'b'}]}],"
                "'tools':[{'name':'f','input_schema':{'type':'object'}}],'tool_choice':{'type':'tool','name':'f'},"
                "'thinking':{'type':'enabled','budget_tokens':1024},'stream':false}",
                "{'model':'m','messages':[{'role':'user','content':[{'type':'file','file':{'file_data':"
                "'data:application/pdf;base64,JVBERi0x'},'cache_control':{'type':'ephemeral'}},"
                "{'type':'text','text':'notes'},{'type':'image_url','image_url':{'url':'https://x/cat.png'}}]},"
                "{'role':'assistant','content':[{'type':'text','text':'a'},{'type':'text','text':'b'}]}],"
                "'max_tokens':5,'tools':[{'type':'function','function':{'name':'f','parameters':{'type':'object'}}}],"
                "'tool_choice':{'type':'function','function':{'name':'f'}},"
                "'thinking':{'type':'enabled','budget_tokens':1024}}");
  expect_openai("{'model':'m','max_tokens':5,'messages':[{'role':'user','content':'q'}],'tool_choice':{'type':'none'},"
                "'system':[]}",
                "{'model':'m','messages':[{'role':'user','content':'q'}],'max_tokens':5,'tool_choice':'none'}");
}

static void test_to_openai_validation(void **state) {
  (void)state;
  expect_serve_error("[]", "the request body must be a JSON object");
  expect_serve_error("{'max_tokens':1,'messages':[]}", "model: Field required");
  expect_serve_error("{'model':'m','messages':[{'role':'user','content':'q'}]}", "max_tokens: Field required");
  expect_serve_error("{'model':'m','max_tokens':1}", "messages: Field required");
  expect_serve_error("{'model':'m','max_tokens':1,'messages':{}}", "messages: Input should be a valid list");
  expect_serve_error("{'model':'m','max_tokens':1,'messages':[]}", "messages: at least one message is required");
  expect_serve_error("{'model':'m','max_tokens':1.5,'messages':[{'role':'user','content':'q'}]}",
                     "max_tokens: Input should be a valid integer");
  expect_serve_error("{'model':'m','max_tokens':0,'messages':[{'role':'user','content':'q'}]}",
                     "max_tokens: Input should be greater than or equal to 1");
  expect_serve_error("{'model':'m','max_tokens':1,'messages':[{'role':'system','content':'q'}]}",
                     "messages.0.role: Input should be `user` or `assistant`");
  expect_serve_error("{'model':'m','max_tokens':1,'messages':[{'role':'user'}]}", "messages.0.content: Field required");
  expect_serve_error("{'model':'m','max_tokens':1,'messages':[{'role':'user','content':5}]}",
                     "messages.0.content: Input should be a valid string or list");
  expect_serve_error("{'model':'m','max_tokens':1,'messages':[{'role':'user','content':[{'type':'audio'}]}]}",
                     "messages.0.content.0.type: Input tag `audio` found using `type` does not match any of the "
                     "expected tags: `text`, `image`, `document`, `tool_result`");
  expect_serve_error("{'model':'m','max_tokens':1,'messages':[{'role':'user','content':[{'text':'x'}]}]}",
                     "messages.0.content.0.type: Field required");
  expect_serve_error("{'model':'m','max_tokens':1,'messages':[{'role':'user','content':[{'type':'tool_result'}]}]}",
                     "messages.0.content.0.tool_use_id: Field required");
  expect_serve_error("{'model':'m','max_tokens':1,'messages':[{'role':'user','content':'q'},{'role':'assistant',"
                     "'content':[{'type':'tool_use','id':'t','name':'f','input':'ls'}]}]}",
                     "messages.1.content.0.input: Input should be a valid dictionary");
  expect_serve_error("{'model':'m','max_tokens':1,'messages':[{'role':'assistant','content':[{'type':'tool_result',"
                     "'tool_use_id':'t'}]}]}",
                     "messages.0.content.0.type: Input tag `tool_result` found using `type` does not match any of the "
                     "expected tags: `text`, `tool_use`, `thinking`, `redacted_thinking`");
  expect_serve_error("{'model':'m','max_tokens':1,'messages':[{'role':'user','content':[{'type':'image','source':"
                     "{'type':'file','file_id':'f'}}]}]}",
                     "messages.0.content.0.source.type: source type `file` is not supported by this gateway (use "
                     "`base64` or `url`)");
  expect_serve_error("{'model':'m','max_tokens':1,'temperature':2,'messages':[{'role':'user','content':'q'}]}",
                     "temperature: Input should be less than or equal to 1");
  expect_serve_error("{'model':'m','max_tokens':1,'system':5,'messages':[{'role':'user','content':'q'}]}",
                     "system: Input should be a valid string or list");
  expect_serve_error("{'model':'m','max_tokens':1,'system':[{'type':'image'}],'messages':[{'role':'user','content':"
                     "'q'}]}",
                     "system.0.type: Input tag `image` found using `type` does not match any of the expected tags: "
                     "`text`");
  expect_serve_error("{'model':'m','max_tokens':1,'messages':[{'role':'user','content':'q'}],'tools':[{'name':'f'}]}",
                     "tools.0.input_schema: Field required (a JSON Schema object)");
  expect_serve_error("{'model':'m','max_tokens':1,'messages':[{'role':'user','content':'q'}],'tool_choice':{'type':"
                     "'sometimes'}}",
                     "tool_choice.type: Input tag `sometimes` found using `type` does not match any of the expected "
                     "tags: `auto`, `any`, `tool`, `none`");
  expect_serve_error("{'model':'m','max_tokens':1,'messages':[{'role':'user','content':'q'}],'tool_choice':{'type':"
                     "'tool'}}",
                     "tool_choice.name: Field required");
  expect_serve_error("{'model':'m','max_tokens':1,'messages':[{'role':'user','content':'q'}],'stop_sequences':'x'}",
                     "stop_sequences: Input should be a valid list");
}

/* Claude Code -> pier (OpenAI form) -> an Anthropic upstream: the body that
 * leaves pier is the body Claude Code sent. */
#define CC_REQUEST                                                                                                  \
  "{'model':'claude-sonnet-4-5','max_tokens':16000,'stream':true,"                                                 \
  "'system':[{'type':'text','text':'You are Claude Code.','cache_control':{'type':'ephemeral'}},"                  \
  "{'type':'text','text':'Env: linux'}],"                                                                           \
  "'messages':[{'role':'user','content':[{'type':'text','text':'<system-reminder>ctx</system-reminder>'},"         \
  "{'type':'text','text':'Fix the bug','cache_control':{'type':'ephemeral'}}]},"                                   \
  "{'role':'assistant','content':[{'type':'thinking','thinking':'Look first','signature':'sig-1'},"               \
  "{'type':'text','text':'Reading.'},{'type':'tool_use','id':'toolu_1','name':'Read','input':{'file_path':'a.c'}}," \
  "{'type':'tool_use','id':'toolu_2','name':'Bash','input':{'command':'make','timeout':60}}]},"                    \
  "{'role':'user','content':[{'type':'tool_result','tool_use_id':'toolu_1','content':'int main(){}'},"            \
  "{'type':'tool_result','tool_use_id':'toolu_2','content':[{'type':'text','text':'error: x'}],'is_error':true,"   \
  "'cache_control':{'type':'ephemeral'}}]}],"                                                                       \
  "'tools':[{'name':'Read','description':'Read a file','input_schema':{'$schema':"                                 \
  "'http://json-schema.org/draft-07/schema#','type':'object','properties':{'file_path':{'type':'string'}},"        \
  "'required':['file_path'],'additionalProperties':false}},{'name':'Bash','input_schema':{'type':'object',"        \
  "'properties':{'command':{'type':'string'},'timeout':{'type':'number'}}},'cache_control':{'type':'ephemeral'}}],"\
  "'tool_choice':{'type':'auto'},'thinking':{'type':'enabled','budget_tokens':8000},"                              \
  "'metadata':{'user_id':'user_1_account__session_2'},'stop_sequences':['</done>']}"

static void round_trip(const char *anthropic_sq, const char *want_sq) {
  cJSON *req = J(anthropic_sq), *openai = NULL;
  char err[256];
  assert_int_equal(pier_anthropic_to_openai(req, &openai, err, sizeof err), 0);
  pier_buf body;
  pier_buf_init(&body, 0);
  pier_anthropic_info info;
  if (pier_anthropic_build(openai, pier_json_str(req, "model"), &body, &info, err, sizeof err))
    fail_msg("build failed: %s", err);
  json_eq(pier_buf_slice(&body), want_sq ? want_sq : anthropic_sq);
  pier_buf_dispose(&body);
  cJSON_Delete(openai);
  cJSON_Delete(req);
}

static void test_round_trip_claude_code_request(void **state) {
  (void)state;
  round_trip(CC_REQUEST, NULL);
  /* what is normalised on the way: one plain text block becomes its string */
  round_trip("{'model':'m','max_tokens':5,'system':[{'type':'text','text':'S'}],'messages':[{'role':'user','content':"
             "[{'type':'text','text':'hi'}]}]}",
             "{'model':'m','max_tokens':5,'system':'S','messages':[{'role':'user','content':'hi'}]}");
}

/* ---- serving: events -> Messages SSE bytes and Message object ------------------------------- */

static const pier_anthropic_meta AMETA = {.id = "msg_t", .model = "claude-x"};

#define FRAME(name, json) "event: " name "\ndata: " json "\n\n"
#define F_MSG_START(in)                                                                                           \
  FRAME("message_start", "{'type':'message_start','message':{'id':'msg_t','type':'message','role':'assistant',"   \
                         "'model':'claude-x','content':[],'stop_reason':null,'stop_sequence':null,'usage':"      \
                         "{'input_tokens':" #in ",'cache_creation_input_tokens':0,'cache_read_input_tokens':0,"  \
                         "'output_tokens':0}}}")
#define F_START_TEXT(i) \
  FRAME("content_block_start", "{'type':'content_block_start','index':" #i ",'content_block':{'type':'text','text':''}}")
#define F_START_THINK(i)                                                                      \
  FRAME("content_block_start", "{'type':'content_block_start','index':" #i ",'content_block':" \
                               "{'type':'thinking','thinking':''}}")
#define F_START_TOOL(i, id, name)                                                             \
  FRAME("content_block_start", "{'type':'content_block_start','index':" #i ",'content_block':" \
                               "{'type':'tool_use','id':'" id "','name':'" name "','input':{}}}")
#define F_DELTA(i, d) FRAME("content_block_delta", "{'type':'content_block_delta','index':" #i ",'delta':" d "}")
#define F_TEXT(i, t) F_DELTA(i, "{'type':'text_delta','text':'" t "'}")
#define F_THINK(i, t) F_DELTA(i, "{'type':'thinking_delta','thinking':'" t "'}")
#define F_JSON(i, t) F_DELTA(i, "{'type':'input_json_delta','partial_json':'" t "'}")
#define F_STOP(i) FRAME("content_block_stop", "{'type':'content_block_stop','index':" #i "}")
#define F_MSG_DELTA(stop, in, cw, cr, out)                                                                       \
  FRAME("message_delta", "{'type':'message_delta','delta':{'stop_reason':'" stop "','stop_sequence':null},"       \
                         "'usage':{'input_tokens':" #in ",'cache_creation_input_tokens':" #cw                     \
                         ",'cache_read_input_tokens':" #cr ",'output_tokens':" #out "}}")
#define F_MSG_STOP FRAME("message_stop", "{'type':'message_stop'}")

/* Anthropic SSE in -> pier events -> Anthropic SSE out; assert the exact bytes. */
static void run_reencode(const sse_ev *e, size_t n, int want_rc, const char *want_sq) {
  pier_buf out;
  pier_buf_init(&out, 0);
  pier_anthropic_sse w;
  assert_int_equal(pier_anthropic_sse_init(&w, &AMETA, &out), 0);
  pier_anthropic_stream s;
  pier_anthropic_stream_init(&s, &PLAIN, pier_anthropic_sse_on_event, &w);
  assert_int_equal(feed(&s, e, n), want_rc);
  assert_int_equal(pier_anthropic_sse_done(&w), 0);
  char *want = q(want_sq);
  if (strcmp(out.ptr, want)) fail_msg("SSE differs\n--- got:\n%s--- want:\n%s", out.ptr, want);
  free(want);
  pier_anthropic_sse_dispose(&w);
  pier_buf_dispose(&out);
}

static void test_sse_text_only_bytes(void **state) {
  (void)state;
  run_reencode(TEXT_ONLY, N(TEXT_ONLY), 0,
               F_MSG_START(0) F_START_TEXT(0) F_TEXT(0, "Hello") F_TEXT(0, " world") F_STOP(0)
               F_MSG_DELTA("end_turn", 25, 0, 100, 15) F_MSG_STOP);
}

static void test_sse_text_and_two_tools_bytes(void **state) {
  (void)state;
  run_reencode(TWO_TOOLS, N(TWO_TOOLS), 0,
               F_MSG_START(0) F_START_TEXT(0) F_TEXT(0, "Let me check.") F_STOP(0)
               F_START_TOOL(1, "toolu_a", "get_weather") F_JSON(1, "{\\'city\\': \\'Pa")
               F_JSON(1, "ris\\'}") F_STOP(1) F_START_TOOL(2, "toolu_b", "now") F_JSON(2, "{}") F_STOP(2)
               F_MSG_DELTA("tool_use", 50, 0, 0, 40) F_MSG_STOP);
}

static void test_sse_thinking_bytes(void **state) {
  (void)state;
  run_reencode(THINKING, N(THINKING), 0,
               F_MSG_START(0) F_START_THINK(0) F_THINK(0, "Let me think") F_THINK(0, "...") F_STOP(0)
               F_START_TEXT(1) F_TEXT(1, "42") F_STOP(1) F_MSG_DELTA("end_turn", 12, 0, 0, 30) F_MSG_STOP);
}

static void test_sse_error_bytes(void **state) {
  (void)state;
  run_reencode(OVERLOADED, N(OVERLOADED), PIER_EUPSTREAM,
               F_MSG_START(0) F_START_TEXT(0) F_TEXT(0, "Hel")
               FRAME("error", "{'type':'error','error':{'type':'overloaded_error','message':'Anthropic "
                              "overloaded_error: Overloaded. Fix: Anthropic is overloaded right now; retry shortly'}}"));
}

static int push_event(pier_anthropic_sse *w, pier_chat_ev_kind kind, int tool, const char *text) {
  pier_chat_event ev = {.kind = kind, .tool_index = tool, .text = pier_slice_from(text)};
  if (kind == PIER_CHAT_EV_TOOL_START) {
    ev.tool_id = pier_slice_from(text);
    ev.tool_name = PIER_SLICE_LIT("f");
    ev.text = PIER_SLICE_NULL;
  }
  if (kind == PIER_CHAT_EV_FINISH) ev.finish_reason = text;
  if (kind == PIER_CHAT_EV_USAGE)
    ev.usage = (pier_usage){.prompt_tokens = 110, .completion_tokens = 7, .total_tokens = 117,
                            .cache_read_tokens = 100, .cache_creation_tokens = 0};
  return pier_anthropic_sse_on_event(w, &ev);
}

/* Events as an OpenAI or Bedrock decoder gives them: usage before finish,
 * text after a tool, a ping, a capped buffer. */
static void test_sse_writer_direct_events(void **state) {
  (void)state;
  pier_buf out;
  pier_buf_init(&out, 0);
  pier_anthropic_sse w;
  pier_anthropic_meta m = AMETA;
  m.input_tokens = 9;
  assert_int_equal(pier_anthropic_sse_init(&w, &m, &out), 0);
  assert_int_equal(push_event(&w, PIER_CHAT_EV_START, 0, ""), 0);
  assert_int_equal(pier_anthropic_sse_ping(&w), 0);
  assert_int_equal(push_event(&w, PIER_CHAT_EV_TEXT, 0, "a"), 0);
  assert_int_equal(push_event(&w, PIER_CHAT_EV_TOOL_START, 0, "call_1"), 0);
  assert_int_equal(push_event(&w, PIER_CHAT_EV_TOOL_ARGS, 0, "{}"), 0);
  assert_int_equal(push_event(&w, PIER_CHAT_EV_TOOL_ARGS, 1, "{}"), PIER_EPROTO); /* not the open block */
  assert_int_equal(push_event(&w, PIER_CHAT_EV_TEXT, 0, "b"), 0);
  assert_int_equal(push_event(&w, PIER_CHAT_EV_TOOL_ARGS, 0, "{}"), PIER_EPROTO); /* closed: cannot reopen */
  assert_int_equal(push_event(&w, PIER_CHAT_EV_USAGE, 0, ""), 0);
  assert_int_equal(push_event(&w, PIER_CHAT_EV_FINISH, 0, "length"), 0);
  assert_int_equal(pier_anthropic_sse_done(&w), 0);
  assert_int_equal(pier_anthropic_sse_done(&w), 0);
  assert_int_equal(push_event(&w, PIER_CHAT_EV_TEXT, 0, "late"), 0);
  char *want = q(F_MSG_START(9) FRAME("ping", "{'type':'ping'}") F_START_TEXT(0) F_TEXT(0, "a") F_STOP(0)
                 F_START_TOOL(1, "call_1", "f") F_JSON(1, "{}") F_STOP(1) F_START_TEXT(2) F_TEXT(2, "b") F_STOP(2)
                 F_MSG_DELTA("max_tokens", 10, 0, 100, 7) F_MSG_STOP);
  str_eq(out.ptr, want);
  free(want);
  pier_anthropic_sse_dispose(&w);
  /* a frame that does not fit leaves nothing half-written, and the next event can still go */
  pier_buf small;
  pier_buf_init(&small, 640);
  assert_int_equal(pier_anthropic_sse_init(&w, &AMETA, &small), 0);
  assert_int_equal(push_event(&w, PIER_CHAT_EV_START, 0, ""), 0);
  size_t before = small.len;
  char big[400];
  memset(big, 'x', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  assert_int_equal(push_event(&w, PIER_CHAT_EV_TEXT, 0, big), PIER_ETOOBIG);
  assert_int_equal(small.len, before);
  assert_int_equal(w.open_kind, 0);
  assert_int_equal(push_event(&w, PIER_CHAT_EV_TEXT, 0, "ok"), 0);
  assert_non_null(strstr(small.ptr, "\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"ok\"}"));
  pier_anthropic_sse_dispose(&w);
  pier_buf_dispose(&small);
  pier_buf_dispose(&out);
}

static void test_sse_generated_id(void **state) {
  (void)state;
  pier_buf out;
  pier_buf_init(&out, 0);
  pier_anthropic_sse w;
  pier_anthropic_meta m = {.model = "claude-x"};
  assert_int_equal(pier_anthropic_sse_init(&w, &m, &out), 0);
  assert_int_equal(pier_anthropic_sse_done(&w), 0);
  const char *id = strstr(out.ptr, "\"id\":\"msg_");
  assert_non_null(id);
  for (int i = 0; i < 24; i++) assert_true((id[10 + i] >= 'a' && id[10 + i] <= 'z') || (id[10 + i] >= '0' && id[10 + i] <= '9'));
  assert_int_equal(id[34], '"');
  assert_non_null(strstr(out.ptr, "\"stop_reason\":\"end_turn\""));
  pier_anthropic_sse_dispose(&w);
  pier_anthropic_meta bad = {.id = "x"};
  assert_int_equal(pier_anthropic_sse_init(&w, &bad, &out), PIER_EINVAL);
  pier_buf_dispose(&out);
}

#define MESSAGE_TOOLS                                                                                          \
  "{'id':'msg_t','type':'message','role':'assistant','model':'claude-x','content':["                          \
  "{'type':'thinking','thinking':'plan','signature':''},{'type':'text','text':'Let me check.'},"               \
  "{'type':'tool_use','id':'toolu_a','name':'get_weather','input':{'city':'Paris'}},"                          \
  "{'type':'tool_use','id':'toolu_b','name':'now','input':{}}],'stop_reason':'tool_use','stop_sequence':null," \
  "'usage':{'input_tokens':30,'cache_creation_input_tokens':2,'cache_read_input_tokens':4,'output_tokens':9}}"

/* A Messages reply through pier's events and back is the same reply (the
 * signature aside: pier's events do not carry it). */
static void test_agg_reproduces_the_reply(void **state) {
  (void)state;
  cJSON *resp = J(RESP_TOOLS);
  pier_anthropic_agg a;
  assert_int_equal(pier_anthropic_agg_init(&a, &AMETA), 0);
  char err[128];
  assert_int_equal(pier_anthropic_response_events(resp, &PLAIN, pier_anthropic_agg_on_event, &a, err, sizeof err), 0);
  pier_buf direct;
  pier_buf_init(&direct, 0);
  assert_int_equal(pier_anthropic_agg_finish(&a, &direct), 0);
  json_eq(pier_buf_slice(&direct), MESSAGE_TOOLS);
  pier_anthropic_agg_dispose(&a);
  /* the streamed equivalent aggregates to the same bytes */
  static const sse_ev e[] = {
    MSG_START(30, 4), BLOCK_START(0, "{'type':'thinking','thinking':''}"),
    DELTA(0, "{'type':'thinking_delta','thinking':'pl'}"), DELTA(0, "{'type':'thinking_delta','thinking':'an'}"),
    BLOCK_STOP(0), BLOCK_START(1, "{'type':'text','text':''}"), TEXT_DELTA(1, "Let me "), TEXT_DELTA(1, "check."),
    BLOCK_STOP(1), BLOCK_START(2, "{'type':'tool_use','id':'toolu_a','name':'get_weather','input':{}}"),
    JSON_DELTA(2, "{\\'city\\': "), JSON_DELTA(2, "\\'Paris\\'}"), BLOCK_STOP(2),
    BLOCK_START(3, "{'type':'tool_use','id':'toolu_b','name':'now','input':{}}"), BLOCK_STOP(3),
    {"message_delta", "{'type':'message_delta','delta':{'stop_reason':'tool_use'},'usage':{'output_tokens':9,"
                      "'cache_creation_input_tokens':2}}"},
    MSG_STOP};
  assert_int_equal(pier_anthropic_agg_init(&a, &AMETA), 0);
  pier_anthropic_stream s;
  pier_anthropic_stream_init(&s, &PLAIN, pier_anthropic_agg_on_event, &a);
  assert_int_equal(feed(&s, e, N(e)), 0);
  pier_buf streamed;
  pier_buf_init(&streamed, 0);
  assert_int_equal(pier_anthropic_agg_finish(&a, &streamed), 0);
  str_eq(streamed.ptr, direct.ptr);
  pier_anthropic_agg_dispose(&a);
  pier_buf_dispose(&streamed);
  pier_buf_dispose(&direct);
  cJSON_Delete(resp);
}

static void test_agg_errors(void **state) {
  (void)state;
  pier_anthropic_agg a;
  pier_buf out;
  pier_buf_init(&out, 0);
  assert_int_equal(pier_anthropic_agg_init(&a, &AMETA), 0);
  pier_anthropic_stream s;
  pier_anthropic_stream_init(&s, &PLAIN, pier_anthropic_agg_on_event, &a);
  assert_int_equal(feed(&s, OVERLOADED, N(OVERLOADED)), PIER_EUPSTREAM);
  assert_int_equal(pier_anthropic_agg_finish(&a, &out), PIER_EUPSTREAM);
  assert_int_equal(a.error_status, 503);
  json_eq(pier_buf_slice(&out), "{'type':'error','error':{'type':'overloaded_error','message':'Anthropic "
                                "overloaded_error: Overloaded. Fix: Anthropic is overloaded right now; retry shortly'}}");
  pier_anthropic_agg_dispose(&a);
  /* arguments that are not an object */
  pier_buf_reset(&out);
  assert_int_equal(pier_anthropic_agg_init(&a, &AMETA), 0);
  pier_chat_event ev = {.kind = PIER_CHAT_EV_TOOL_START, .tool_id = PIER_SLICE_LIT("c"), .tool_name = PIER_SLICE_LIT("f")};
  assert_int_equal(pier_anthropic_agg_on_event(&a, &ev), 0);
  ev = (pier_chat_event){.kind = PIER_CHAT_EV_TOOL_ARGS, .text = PIER_SLICE_LIT("{\"a\":")};
  assert_int_equal(pier_anthropic_agg_on_event(&a, &ev), 0);
  ev.tool_index = 1;
  assert_int_equal(pier_anthropic_agg_on_event(&a, &ev), PIER_EPROTO);
  assert_int_equal(pier_anthropic_agg_finish(&a, &out), PIER_EUPSTREAM);
  assert_int_equal(a.error_status, 502);
  str_eq(out.ptr, "{\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":\"the model's tool call arguments "
                  "are not a JSON object\"}}");
  pier_anthropic_agg_dispose(&a);
  /* an empty answer */
  pier_buf_reset(&out);
  assert_int_equal(pier_anthropic_agg_init(&a, &AMETA), 0);
  assert_int_equal(pier_anthropic_agg_finish(&a, &out), 0);
  str_eq(out.ptr, "{\"id\":\"msg_t\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-x\",\"content\":[],"
                  "\"stop_reason\":\"end_turn\",\"stop_sequence\":null,\"usage\":{\"input_tokens\":0,"
                  "\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":0,\"output_tokens\":0}}");
  pier_anthropic_agg_dispose(&a);
  pier_buf_dispose(&out);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_build_minimal),
    cmocka_unit_test(test_build_system_blocks_and_merged_turns),
    cmocka_unit_test(test_build_leading_assistant_gets_placeholder),
    cmocka_unit_test(test_build_images_and_documents),
    cmocka_unit_test(test_build_image_errors),
    cmocka_unit_test(test_build_parallel_tool_calls_and_results),
    cmocka_unit_test(test_build_tool_result_leads_its_turn),
    cmocka_unit_test(test_build_tool_choice_variants),
    cmocka_unit_test(test_build_history_without_tools_declares_them_unusable),
    cmocka_unit_test(test_build_stop_sampling_metadata),
    cmocka_unit_test(test_build_max_tokens),
    cmocka_unit_test(test_build_json_mode),
    cmocka_unit_test(test_build_thinking),
    cmocka_unit_test(test_build_thinking_blocks_replayed),
    cmocka_unit_test(test_build_bedrock_invoke_body),
    cmocka_unit_test(test_build_errors_name_the_path),
    cmocka_unit_test(test_build_body_cap),
    cmocka_unit_test(test_response_text_with_cache_usage),
    cmocka_unit_test(test_response_thinking_and_tools),
    cmocka_unit_test(test_response_every_stop_reason),
    cmocka_unit_test(test_response_json_mode),
    cmocka_unit_test(test_response_error_object_and_malformed),
    cmocka_unit_test(test_stream_text_only),
    cmocka_unit_test(test_stream_text_and_two_tools),
    cmocka_unit_test(test_stream_thinking_with_signature),
    cmocka_unit_test(test_stream_error_event),
    cmocka_unit_test(test_stream_json_mode),
    cmocka_unit_test(test_stream_bedrock_chunks_without_event_names),
    cmocka_unit_test(test_stream_protocol_errors),
    cmocka_unit_test(test_stream_block_table_bound),
    cmocka_unit_test(test_stream_callback_error_is_sticky),
    cmocka_unit_test(test_stream_aggregate_equals_non_stream),
    cmocka_unit_test(test_error_map_per_type),
    cmocka_unit_test(test_error_map_long_text_is_cut_on_a_character),
    cmocka_unit_test(test_error_body_per_status),
    cmocka_unit_test(test_to_openai_claude_code_request),
    cmocka_unit_test(test_to_openai_shapes),
    cmocka_unit_test(test_to_openai_validation),
    cmocka_unit_test(test_round_trip_claude_code_request),
    cmocka_unit_test(test_sse_text_only_bytes),
    cmocka_unit_test(test_sse_text_and_two_tools_bytes),
    cmocka_unit_test(test_sse_thinking_bytes),
    cmocka_unit_test(test_sse_error_bytes),
    cmocka_unit_test(test_sse_writer_direct_events),
    cmocka_unit_test(test_sse_generated_id),
    cmocka_unit_test(test_agg_reproduces_the_reply),
    cmocka_unit_test(test_agg_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
