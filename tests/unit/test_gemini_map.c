/* test_gemini_map.c — OpenAI <-> Gemini generateContent / stream / errors /
 * batchEmbedContents: request bodies, replies and stream payloads -> the exact
 * event list and the exact OpenAI bytes. JSON literals are written with single
 * quotes (q() turns them into double quotes, ` into '); bodies and completions
 * are compared parsed, event lists, SSE streams and embeddings byte for byte.
 * Random tool ids ("call_" + 24 [a-z0-9]) print as "call_*". */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/json.h"
#include "llm/gemini_map.h"
#include "llm/openai_sse.h"

#define MODEL "gemini-2.5-flash"

/* ---- helpers --------------------------------------------------------------- */

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

static void json_eq_j(const cJSON *a, const char *expected_sq) {
  cJSON *e = J(expected_sq);
  if (!cJSON_Compare(a, e, true)) {
    char *as = cJSON_PrintUnformatted(a), *es = cJSON_PrintUnformatted(e);
    fail_msg("JSON differs\n  got:  %s\n  want: %s", as, es);
  }
  cJSON_Delete(e);
}

static void json_eq(pier_slice actual, const char *expected_sq) {
  char err[128];
  cJSON *a = pier_json_parse(actual, 64, err, sizeof err);
  if (!a) fail_msg("output is not JSON (%s): %.*s", err, (int)actual.len, actual.ptr);
  json_eq_j(a, expected_sq);
  cJSON_Delete(a);
}

static void str_eq(const char *got, const char *want_sq) {
  char *want = q(want_sq);
  if (strcmp(got ? got : "", want)) fail_msg("differs\n  got:  %s\n  want: %s", got ? got : "", want);
  free(want);
}

static void expect_body_m(const char *model, const char *req_sq, const char *body_sq, pier_gemini_info *info_out) {
  cJSON *req = J(req_sq);
  pier_buf body;
  pier_buf_init(&body, 0);
  pier_gemini_info info;
  char err[256];
  int rc = pier_gemini_build(req, model, &body, &info, err, sizeof err);
  if (rc) fail_msg("build failed (%d): %s", rc, err);
  json_eq(pier_buf_slice(&body), body_sq);
  if (info_out) *info_out = info;
  pier_buf_dispose(&body);
  cJSON_Delete(req);
}
#define expect_body(req, body) expect_body_m(MODEL, req, body, NULL)

static void expect_error(const char *req_sq, int want_rc, const char *want_err_sq) {
  cJSON *req = J(req_sq);
  pier_buf body;
  pier_buf_init(&body, 0);
  pier_gemini_info info;
  char err[512] = "";
  int rc = pier_gemini_build(req, MODEL, &body, &info, err, sizeof err);
  assert_int_equal(rc, want_rc);
  assert_int_equal(body.len, 0);
  str_eq(err, want_err_sq);
  pier_buf_dispose(&body);
  cJSON_Delete(req);
}

/* A random tool id "call_" + 24 [a-z0-9] prints as "call_*" + whatever follows. */
static bool random_id(pier_slice id) {
  if (id.len < 29 || memcmp(id.ptr, "call_", 5)) return false;
  for (size_t i = 5; i < 29; i++)
    if (!((id.ptr[i] >= 'a' && id.ptr[i] <= 'z') || (id.ptr[i] >= '0' && id.ptr[i] <= '9'))) return false;
  return true;
}

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
  case PIER_CHAT_EV_TOOL_START: {
    pier_slice id = ev->tool_id;
    bool rnd = random_id(id);
    if (rnd) id.ptr += 29, id.len -= 29;
    rc = pier_buf_appendf(b, "TOOL_START %d %s%.*s %.*s\n", ev->tool_index, rnd ? "call_*" : "", (int)id.len, id.ptr,
                          (int)ev->tool_name.len, ev->tool_name.ptr);
    break;
  }
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

static void log_eq(rec *r, const char *want_sq) { str_eq(r->log.ptr, want_sq); }

static const pier_openai_meta META = {.id = "chatcmpl-t", .model = "gemini/" MODEL, .created = 1700000000};
static const pier_gemini_info PLAIN = {0};

/* ---- request: messages ------------------------------------------------------- */

static void test_request_minimal(void **state) {
  (void)state;
  pier_gemini_info info;
  expect_body_m(MODEL,
                "{'model':'gemini/x','messages':[{'role':'system','content':'You are terse.'},"
                "{'role':'user','content':'Hello'}],'max_tokens':64,'stream':true,"
                "'stream_options':{'include_usage':true}}",
                "{'systemInstruction':{'parts':[{'text':'You are terse.'}]},"
                "'contents':[{'role':'user','parts':[{'text':'Hello'}]}],'generationConfig':{'maxOutputTokens':64}}",
                &info);
  assert_true(info.stream);
  assert_true(info.include_usage);
  assert_false(info.json_mode);
  assert_false(info.thinking);
}

static void test_request_system_parts_and_developer(void **state) {
  (void)state;
  expect_body("{'messages':[{'role':'system','content':[{'type':'text','text':'A'},{'type':'text','text':''}]},"
              "{'role':'developer','content':'B'},"
              "{'role':'user','content':[{'type':'text','text':'look'},{'type':'text','text':'here'}]},"
              "{'role':'system','content':'C'}]}",
              "{'systemInstruction':{'parts':[{'text':'A'},{'text':'B'},{'text':'C'}]},"
              "'contents':[{'role':'user','parts':[{'text':'look'},{'text':'here'}]}]}");
}

static void test_request_merges_same_role_turns(void **state) {
  (void)state;
  expect_body("{'messages':[{'role':'user','content':'a'},{'role':'user','content':'b'},"
              "{'role':'assistant','content':'c'},{'role':'assistant','content':'d'},{'role':'user','content':'e'},"
              "{'role':'assistant','content':null},{'role':'user','content':''}]}",
              "{'contents':[{'role':'user','parts':[{'text':'a'},{'text':'b'}]},"
              "{'role':'model','parts':[{'text':'c'},{'text':'d'}]},{'role':'user','parts':[{'text':'e'}]}]}");
}

static void test_request_leading_assistant_gets_placeholder(void **state) {
  (void)state;
  expect_body("{'messages':[{'role':'system','content':'s'},{'role':'assistant','content':'hi'},"
              "{'role':'user','content':'q'}]}",
              "{'systemInstruction':{'parts':[{'text':'s'}]},'contents':[{'role':'user','parts':[{'text':'.'}]},"
              "{'role':'model','parts':[{'text':'hi'}]},{'role':'user','parts':[{'text':'q'}]}]}");
}

static void test_request_media_both_kinds(void **state) {
  (void)state;
  expect_body(
    "{'messages':[{'role':'user','content':[{'type':'text','text':'what'},"
    "{'type':'image_url','image_url':{'url':'data:image/png;base64,iVBORw0KGgo='}},"
    "{'type':'image_url','image_url':'data:;base64,/9j/4AAQ'},"
    "{'type':'image_url','image_url':{'url':'https://ex.com/a/cat.PNG?sig=1#x','detail':'high'}},"
    "{'type':'image_url','image_url':{'url':'http://ex.com/photo'}},"
    "{'type':'image_url','image_url':{'url':'https://ex.com/v.webp'}},"
    "{'type':'image_url','image_url':{'url':'https://youtu.be/abc','format':'video/mp4'}},"
    "{'type':'image_url','image_url':{'url':'gs://bucket/doc.pdf'}},"
    "{'type':'input_audio','input_audio':{'data':'UklGRg==','format':'wav'}},"
    "{'type':'file','file':{'file_data':'data:application/pdf;base64,JVBERi0=','filename':'a.pdf'}},"
    "{'type':'file','file':{'file_id':'https://generativelanguage.googleapis.com/v1beta/files/abc',"
    "'format':'application/pdf'}}]}]}",
    "{'contents':[{'role':'user','parts':[{'text':'what'},"
    "{'inlineData':{'mimeType':'image/png','data':'iVBORw0KGgo='}},"
    "{'inlineData':{'mimeType':'image/jpeg','data':'/9j/4AAQ'}},"
    "{'fileData':{'mimeType':'image/png','fileUri':'https://ex.com/a/cat.PNG?sig=1#x'}},"
    "{'fileData':{'mimeType':'image/jpeg','fileUri':'http://ex.com/photo'}},"
    "{'fileData':{'mimeType':'image/webp','fileUri':'https://ex.com/v.webp'}},"
    "{'fileData':{'mimeType':'video/mp4','fileUri':'https://youtu.be/abc'}},"
    "{'fileData':{'mimeType':'application/pdf','fileUri':'gs://bucket/doc.pdf'}},"
    "{'inlineData':{'mimeType':'audio/wav','data':'UklGRg=='}},"
    "{'inlineData':{'mimeType':'application/pdf','data':'JVBERi0='}},"
    "{'fileData':{'mimeType':'application/pdf',"
    "'fileUri':'https://generativelanguage.googleapis.com/v1beta/files/abc'}}]}]}");
}

static void test_request_media_errors(void **state) {
  (void)state;
#define USER_PART(p) "{'messages':[{'role':'user','content':[" p "]}]}"
  expect_error(USER_PART("{'type':'image_url','image_url':{'url':''}}"), PIER_EINVAL,
               "messages[0].content[0].image_url.url must be a non-empty string, got an empty string");
  expect_error(USER_PART("{'type':'image_url','image_url':{'url':'ftp://x/y.png'}}"), PIER_EINVAL,
               "messages[0].content[0].image_url.url must be an http(s) URL or a data URL like "
               "data:image/png;base64,...");
  expect_error(USER_PART("{'type':'image_url','image_url':{'url':'data:image/png,abc'}}"), PIER_EINVAL,
               "messages[0].content[0].image_url.url: only base64 data URLs are supported "
               "(data:image/png;base64,...)");
  expect_error(USER_PART("{'type':'image_url','image_url':{'url':'data:image/png;base64,@@'}}"), PIER_EINVAL,
               "messages[0].content[0].image_url.url: the data after the comma is not valid base64");
  expect_error(USER_PART("{'type':'image_url','image_url':{'url':'data:png;base64,AAAA'}}"), PIER_EINVAL,
               "messages[0].content[0].image_url.url: 'png' is not a media type like image/png");
  expect_error(USER_PART("{'type':'file','file':{'file_data':'data:;base64,AAAA'}}"), PIER_EINVAL,
               "messages[0].content[0].file.file_data: the data URL names no media type");
  expect_error(USER_PART("{'type':'file','file':{'file_id':'file-123'}}"), PIER_EINVAL,
               "messages[0].content[0].file needs file_data (a base64 data URL) or file_id (an https:// or gs:// "
               "file URI)");
  expect_error(USER_PART("{'type':'input_audio','input_audio':{'data':'AAAA'}}"), PIER_EINVAL,
               "messages[0].content[0].input_audio.format must name the audio format (wav, mp3)");
  expect_error(USER_PART("{'type':'video','video':{}}"), PIER_EINVAL,
               "messages[0].content[0].type: part type 'video' is not supported for Gemini (use text, image_url, "
               "input_audio or file)");
  expect_error("{'messages':[{'role':'user','content':'q'},{'role':'assistant','content':[{'type':'image_url',"
               "'image_url':{'url':'https://x/y.png'}}]}]}",
               PIER_EINVAL, "messages[1].content[0]: image_url parts are only allowed in user messages");
  expect_error("{'messages':[{'role':'system','content':[{'type':'file','file':{'file_id':'gs://b/x.pdf'}}]},"
               "{'role':'user','content':'q'}]}",
               PIER_EINVAL, "messages[0].content[0]: file parts are only allowed in user messages");
#undef USER_PART
}

/* ---- request: tools ------------------------------------------------------------ */

#define HI "'messages':[{'role':'user','content':'hi'}]"
#define HI_PARTS "'contents':[{'role':'user','parts':[{'text':'hi'}]}]"
#define TOOLS3                                                                                                   \
  "'tools':[{'type':'function','function':{'name':'get_weather','description':'Weather now','strict':true,"     \
  "'parameters':{'$schema':'http://json-schema.org/draft-07/schema#','type':'object',"                          \
  "'additionalProperties':false,'properties':{'city':{'type':'string','description':'City name','minLength':1},"  \
  "'unit':{'type':'string','enum':['c','f']},'days':{'type':['integer','null'],'minimum':1,'maximum':7}},"       \
  "'required':['city','ghost']}}},{'type':'function','function':{'name':'now'}},"                               \
  "{'type':'function','function':{'name':'ping','description':'','parameters':{'type':'object','properties':{}}}}]"
#define DECLS3                                                                                                    \
  "'tools':[{'functionDeclarations':[{'name':'get_weather','description':'Weather now','parameters':"           \
  "{'type':'OBJECT','properties':{'city':{'type':'STRING','description':'City name','minLength':1},"            \
  "'unit':{'type':'STRING','enum':['c','f']},'days':{'nullable':true,'type':'INTEGER','minimum':1,"             \
  "'maximum':7}},'required':['city']}},{'name':'now'},{'name':'ping'}]}]"

static void test_request_tools_and_choices(void **state) {
  (void)state;
  expect_body("{" HI "," TOOLS3 "}", "{" HI_PARTS "," DECLS3 "}");
  expect_body("{" HI "," TOOLS3 ",'tool_choice':'auto'}",
              "{" HI_PARTS "," DECLS3 ",'toolConfig':{'functionCallingConfig':{'mode':'AUTO'}}}");
  expect_body("{" HI "," TOOLS3 ",'tool_choice':'required'}",
              "{" HI_PARTS "," DECLS3 ",'toolConfig':{'functionCallingConfig':{'mode':'ANY'}}}");
  expect_body("{" HI "," TOOLS3 ",'tool_choice':'none'}",
              "{" HI_PARTS "," DECLS3 ",'toolConfig':{'functionCallingConfig':{'mode':'NONE'}}}");
  expect_body("{" HI "," TOOLS3 ",'tool_choice':{'type':'function','function':{'name':'now'}}}",
              "{" HI_PARTS "," DECLS3 ",'toolConfig':{'functionCallingConfig':{'mode':'ANY',"
              "'allowedFunctionNames':['now']}}}");
  /* auto / none without tools: nothing to configure; an empty tools array is no tools */
  expect_body("{" HI ",'tools':[],'tool_choice':'auto'}", "{" HI_PARTS "}");
  expect_body("{" HI ",'tool_choice':'none'}", "{" HI_PARTS "}");
  expect_error("{" HI "," TOOLS3 ",'tool_choice':{'type':'function','function':{'name':'nope'}}}", PIER_EINVAL,
               "tool_choice.function.name: no tool named 'nope' in tools");
  expect_error("{" HI ",'tool_choice':'required'}", PIER_EINVAL,
               "tool_choice: 'required' needs at least one entry in tools");
  expect_error("{" HI "," TOOLS3 ",'tool_choice':'sometimes'}", PIER_EINVAL,
               "tool_choice must be 'auto', 'required', 'none' or {'type':'function','function':{'name':...}}; "
               "got 'sometimes'");
  expect_error("{" HI ",'tools':[{'type':'retrieval'}]}", PIER_EINVAL,
               "tools[0].type: only 'function' tools are supported, got 'retrieval'");
  expect_error("{" HI ",'tools':[{'type':'function','function':{'name':'f','parameters':{'type':'object',"
               "'properties':{'a':{'type':'strange'}}}}}]}",
               PIER_EINVAL,
               "tools[0].function.parameters.properties.a.type: unknown JSON Schema type 'strange' (use string, "
               "number, integer, boolean, array, object, null)");
  expect_error("{" HI ",'tools':[{'type':'function','function':{'name':''}}]}", PIER_EINVAL,
               "tools[0].function.name must be a non-empty string");
  expect_error("{" HI ",'tools':[{'type':'function','function':{'name':'ok_1'}},{'type':'function','function':"
               "{'name':'get weather'}}]}",
               PIER_EINVAL,
               "tools[1].function.name: 'get weather' is not a valid Gemini function name (start with a letter or "
               "_, then letters, digits, _ . : -, at most 64 characters)");
  expect_error("{" HI ",'tools':[{'type':'function','function':{'name':'"
               "a2345678901234567890123456789012345678901234567890123456789012345'}}]}",
               PIER_EINVAL,
               "tools[0].function.name: 'a2345678901234567890123456789012345678901234567890123456789012345' is not a "
               "valid Gemini function name (start with a letter or _, then letters, digits, _ . : -, at most 64 "
               "characters)");
  expect_body("{" HI ",'tools':[{'type':'function','function':{'name':'"
              "_234567890123456789012345678901234567890123456789012345678901.:-'}}]}",
              "{" HI_PARTS ",'tools':[{'functionDeclarations':[{'name':'"
              "_234567890123456789012345678901234567890123456789012345678901.:-'}]}]}");
}

/* user asks, the model calls two functions in parallel, both results come back
 * (one a JSON object, one plain text in parts), the model answers. */
static void test_request_function_call_round(void **state) {
  (void)state;
  expect_body("{'messages':[{'role':'system','content':'Use tools.'},"
              "{'role':'user','content':'Weather in Paris and Rome?'},"
              "{'role':'assistant','content':null,'tool_calls':["
              "{'id':'call_a','type':'function','function':{'name':'get_weather','arguments':'{\\'city\\':\\'Paris\\'}'}},"
              "{'id':'call_b','type':'function','function':{'name':'get_time','arguments':''}}]},"
              "{'role':'tool','tool_call_id':'call_a','content':'{\\'temp\\':18,\\'sky\\':\\'rain\\'}'},"
              "{'role':'tool','tool_call_id':'call_b','content':[{'type':'text','text':'12:00 '},"
              "{'type':'text','text':'CET'}]},"
              "{'role':'assistant','content':'Paris: 18 C and rain at noon.'},{'role':'user','content':'Thanks'}]}",
              "{'systemInstruction':{'parts':[{'text':'Use tools.'}]},'contents':["
              "{'role':'user','parts':[{'text':'Weather in Paris and Rome?'}]},"
              "{'role':'model','parts':[{'functionCall':{'name':'get_weather','args':{'city':'Paris'}}},"
              "{'functionCall':{'name':'get_time','args':{}}}]},"
              "{'role':'user','parts':[{'functionResponse':{'name':'get_weather','response':{'temp':18,'sky':'rain'}}},"
              "{'functionResponse':{'name':'get_time','response':{'content':'12:00 CET'}}}]},"
              "{'role':'model','parts':[{'text':'Paris: 18 C and rain at noon.'}]},"
              "{'role':'user','parts':[{'text':'Thanks'}]}]}");
}

static void test_request_function_response_leads_user_turn(void **state) {
  (void)state;
  /* a JSON array or number is not an object: it is wrapped as content text;
   * text next to a tool result comes after it in the same user turn */
  expect_body("{'messages':[{'role':'user','content':'q'},{'role':'assistant','content':'Looking.','tool_calls':["
              "{'id':'t1','type':'function','function':{'name':'list','arguments':'{}'}}]},"
              "{'role':'user','content':'also this'},{'role':'tool','tool_call_id':'t1','content':'[1,2]'}]}",
              "{'contents':[{'role':'user','parts':[{'text':'q'}]},{'role':'model','parts':[{'text':'Looking.'},"
              "{'functionCall':{'name':'list','args':{}}}]},{'role':'user','parts':[{'functionResponse':"
              "{'name':'list','response':{'content':'[1,2]'}}},{'text':'also this'}]}]}");
}

static void test_request_function_name_recovery(void **state) {
  (void)state;
  /* no matching call: the tool message's own name is used (and the result leads the merged user turn) */
  expect_body("{'messages':[{'role':'user','content':'q'},{'role':'tool','tool_call_id':'zzz','name':'lookup',"
              "'content':''}]}",
              "{'contents':[{'role':'user','parts':[{'functionResponse':{'name':'lookup',"
              "'response':{'content':''}}},{'text':'q'}]}]}");
  expect_error("{'messages':[{'role':'user','content':'q'},{'role':'assistant','tool_calls':[{'id':'a',"
               "'type':'function','function':{'name':'f','arguments':'{}'}}]},"
               "{'role':'tool','tool_call_id':'zzz','content':'x'}]}",
               PIER_EINVAL,
               "messages[2].tool_call_id: no earlier assistant tool call has id 'zzz'; Gemini needs the function "
               "name of every tool result");
  expect_error("{'messages':[{'role':'user','content':'q'},{'role':'tool','content':'x'}]}", PIER_EINVAL,
               "messages[1].tool_call_id is required: the id of the assistant tool call this tool message answers");
  expect_error("{'messages':[{'role':'user','content':'q'},{'role':'assistant','tool_calls':[{'id':'a',"
               "'type':'function','function':{'name':'f','arguments':'[1]'}}]}]}",
               PIER_EINVAL, "messages[1].tool_calls[0].function.arguments must be a JSON object (it is not an object)");
  expect_error("{'messages':[{'role':'user','content':'q'},{'role':'assistant','tool_calls':[{'id':'a',"
               "'type':'function','function':{'name':'f','arguments':'{nope'}}]}]}",
               PIER_EINVAL, "messages[1].tool_calls[0].function.arguments must be a JSON object (invalid JSON at byte 2)");
  expect_error("{'messages':[{'role':'user','content':'q'},{'role':'tool','tool_call_id':'a','name':'f','content':[{'type':"
               "'image_url','image_url':'x'}]}]}",
               PIER_EINVAL, "messages[1].content[0]: a tool message takes only text parts");
}

#define SIG_HISTORY                                                                                            \
  "{'messages':[{'role':'user','content':'q'},{'role':'assistant','tool_calls':["                               \
  "{'id':'call_x__thought__SIGA','type':'function','function':{'name':'now','arguments':'{}'}},"              \
  "{'id':'call_y','type':'function','function':{'name':'now','arguments':'{}'},"                               \
  "'extra_content':{'google':{'thought_signature':'SIGB'}}}]},"                                                 \
  "{'role':'tool','tool_call_id':'call_x__thought__SIGA','content':'1'},"                                       \
  "{'role':'tool','tool_call_id':'call_y','content':'2'},"                                                      \
  "{'role':'assistant','tool_calls':[{'id':'c1','type':'function','function':{'name':'now','arguments':'{}'}},"\
  "{'id':'c2','type':'function','function':{'name':'now','arguments':'{}'}}]}]}"
#define SIG_CONTENTS(skip)                                                                                     \
  "{'contents':[{'role':'user','parts':[{'text':'q'}]},{'role':'model','parts':["                              \
  "{'functionCall':{'name':'now','args':{}},'thoughtSignature':'SIGA'},"                                        \
  "{'functionCall':{'name':'now','args':{}},'thoughtSignature':'SIGB'}]},"                                      \
  "{'role':'user','parts':[{'functionResponse':{'name':'now','response':{'content':'1'}}},"                     \
  "{'functionResponse':{'name':'now','response':{'content':'2'}}}]},"                                           \
  "{'role':'model','parts':[{'functionCall':{'name':'now','args':{}}" skip "},{'functionCall':{'name':'now','args':{}}}]}]}"

static void test_request_thought_signatures(void **state) {
  (void)state;
  /* signatures handed back (in the id, or as Gemini's OpenAI API puts them) go back on their part */
  expect_body_m("gemini-2.5-pro", SIG_HISTORY, SIG_CONTENTS(""), NULL);
  /* gemini-3+ rejects a function call without one: the first call of a turn gets the skip value */
  expect_body_m("gemini-3-pro-preview", SIG_HISTORY,
                SIG_CONTENTS(",'thoughtSignature':'skip_thought_signature_validator'"), NULL);
  expect_body_m("models/gemini-3.1-flash", SIG_HISTORY,
                SIG_CONTENTS(",'thoughtSignature':'skip_thought_signature_validator'"), NULL);
  expect_body_m("gemini-exp-1206", SIG_HISTORY, SIG_CONTENTS(""), NULL);
}

/* ---- request: generation config ----------------------------------------------- */

static void test_request_generation_config(void **state) {
  (void)state;
  expect_body("{" HI ",'temperature':3,'top_p':1.5,'top_k':40,'max_tokens':100,'max_completion_tokens':200,"
              "'stop':['END','','STOP'],'seed':7,'presence_penalty':0.5,'frequency_penalty':-0.5,'n':1,"
              "'parallel_tool_calls':true,'user':'u1'}",
              "{" HI_PARTS ",'generationConfig':{'temperature':2,'topP':1,'topK':40,'maxOutputTokens':200,"
              "'stopSequences':['END','STOP'],'seed':7,'presencePenalty':0.5,'frequencyPenalty':-0.5}}");
  expect_body("{" HI ",'temperature':-1,'top_p':-0.2,'stop':'X','max_tokens':5}",
              "{" HI_PARTS ",'generationConfig':{'temperature':0,'topP':0,'stopSequences':['X'],'maxOutputTokens':5}}");
  expect_body("{" HI ",'temperature':0.7,'stop':'','top_p':null,'n':null}",
              "{" HI_PARTS ",'generationConfig':{'temperature':0.7}}");
  expect_body("{" HI ",'stop':['a','b','c','d','e','']}",
              "{" HI_PARTS ",'generationConfig':{'stopSequences':['a','b','c','d','e']}}");
  expect_error("{" HI ",'stop':['a','b','c','d','e','f']}", PIER_EINVAL,
               "stop: Gemini takes at most 5 stop sequences, got 6");
  expect_error("{" HI ",'stop':[1]}", PIER_EINVAL, "stop[0] must be a string, got a number");
  expect_error("{" HI ",'n':2}", PIER_EINVAL, "n: pier decodes one Gemini candidate, so n must be 1 (or left out)");
  expect_error("{" HI ",'top_k':0}", PIER_EINVAL, "top_k must be an integer from 1 to 2147483647");
  expect_error("{" HI ",'max_tokens':0}", PIER_EINVAL, "max_tokens must be an integer from 1 to 2147483647");
  expect_error("{" HI ",'max_completion_tokens':1.5}", PIER_EINVAL,
               "max_completion_tokens must be an integer from 1 to 2147483647");
  expect_error("{" HI ",'temperature':'hot'}", PIER_EINVAL, "temperature must be a number, got a string");
}

static void test_request_json_mode(void **state) {
  (void)state;
  pier_gemini_info info;
  expect_body_m(MODEL, "{" HI ",'response_format':{'type':'json_object'}}",
                "{" HI_PARTS ",'generationConfig':{'responseMimeType':'application/json'}}", &info);
  assert_true(info.json_mode);
  expect_body_m(MODEL, "{" HI ",'response_format':{'type':'text'}}", "{" HI_PARTS "}", &info);
  assert_false(info.json_mode);
  /* a bare object schema cannot be a responseSchema: plain JSON mode */
  expect_body("{" HI ",'response_format':{'type':'json_schema','json_schema':{'name':'x','schema':{'type':'object',"
              "'additionalProperties':false},'strict':true}}}",
              "{" HI_PARTS ",'generationConfig':{'responseMimeType':'application/json'}}");
#define PLACE_OUT                                                                                          \
  "{'type':'OBJECT','properties':{'name':{'type':'STRING'},'when':{'type':'STRING','format':'date-time'}," \
  "'url':{'type':'STRING'}},'required':['name']"
  expect_body_m(
    MODEL,
    "{" HI ",'response_format':{'type':'json_schema','json_schema':{'name':'trip','strict':true,'schema':{"
    "'$schema':'https://json-schema.org/draft/2020-12/schema','type':'object','additionalProperties':false,"
    "'$defs':{'Place':{'type':'object','properties':{'name':{'type':'string'},'when':{'type':'string',"
    "'format':'date-time'},'url':{'type':'string','format':'uri'}},'required':['name'],"
    "'additionalProperties':false}},"
    "'properties':{'home':{'$ref':'#/$defs/Place','description':'Where I live'},"
    "'visits':{'type':'array','items':{'$ref':'#/$defs/Place'},'minItems':1},"
    "'note':{'anyOf':[{'type':'string'},{'type':'null'}],'default':null},"
    "'kind':{'const':'trip'},'score':{'oneOf':[{'type':'integer'},{'type':'number'}]},"
    "'level':{'type':'integer','enum':[1,2]},'tags':{'type':['string','number','null']},"
    "'meta':{'allOf':[{'$ref':'#/$defs/Place'}],'title':'Meta'}},"
    "'required':['home','kind'],'propertyOrdering':['home','visits']}}}}",
    "{" HI_PARTS ",'generationConfig':{'responseMimeType':'application/json','responseSchema':{"
    "'type':'OBJECT','properties':{"
    "'home':" PLACE_OUT ",'description':'Where I live'},"
    "'visits':{'type':'ARRAY','minItems':1,'items':" PLACE_OUT "}},"
    "'note':{'default':null,'nullable':true,'type':'STRING'},"
    "'kind':{'type':'STRING','enum':['trip']},"
    "'score':{'anyOf':[{'type':'INTEGER'},{'type':'NUMBER'}]},"
    "'level':{'type':'INTEGER'},"
    "'tags':{'nullable':true,'anyOf':[{'type':'STRING'},{'type':'NUMBER'}]},"
    "'meta':{'title':'Meta','type':'OBJECT','properties':{'name':{'type':'STRING'},'when':{'type':'STRING',"
    "'format':'date-time'},'url':{'type':'STRING'}},'required':['name']}},"
    "'required':['home','kind'],'propertyOrdering':['home','visits']}}}",
    &info);
  assert_true(info.json_mode);
  expect_error("{" HI ",'response_format':{'type':'json_schema','json_schema':{'name':'x'}}}", PIER_EINVAL,
               "response_format.json_schema.schema must be an object");
  expect_error("{" HI ",'response_format':{'type':'yaml'}}", PIER_EINVAL,
               "response_format.type must be text, json_object or json_schema; got 'yaml'");
}

static void schema_err(const char *schema_sq, const char *want_sq) {
  cJSON *s = J(schema_sq), *out = (cJSON *)1;
  char err[256] = "";
  assert_int_equal(pier_gemini_schema(s, "p", &out, err, sizeof err), PIER_EINVAL);
  assert_null(out);
  str_eq(err, want_sq);
  cJSON_Delete(s);
}

static void test_schema_conversion_errors(void **state) {
  (void)state;
  schema_err("{'$defs':{'Node':{'type':'object','properties':{'next':{'$ref':'#/$defs/Node'}}}},"
             "'$ref':'#/$defs/Node'}",
             "p.properties.next: $ref '#/$defs/Node' is recursive; Gemini schemas cannot express recursion");
  schema_err("{'type':'object','properties':{'x':{'$ref':'#/components/schemas/X'}}}",
             "p.properties.x: $ref '#/components/schemas/X' does not resolve; only local refs like #/$defs/Name "
             "are supported");
  schema_err("{'type':'object','properties':{'x':true}}", "p.properties.x: must be a JSON Schema object, got a boolean");
  schema_err("{'type':'array','items':{'anyOf':{'type':'string'}}}", "p.items.anyOf: must be an array of schemas");
  schema_err("{'type':['string',3]}", "p.type: unknown JSON Schema type a number (use string, number, integer, "
                                      "boolean, array, object, null)");
  schema_err("[]", "p: must be a JSON Schema object, got an array");
  /* definitions (draft 7) resolve too; the ref's description wins */
  cJSON *s = J("{'definitions':{'A':{'type':'string','description':'inner'}},'type':'object','properties':"
               "{'a':{'$ref':'#/definitions/A','description':'outer'},'b':{'$ref':'#/definitions/A'}}}"),
        *out = NULL;
  char err[128];
  assert_int_equal(pier_gemini_schema(s, NULL, &out, err, sizeof err), 0);
  json_eq_j(out, "{'type':'OBJECT','properties':{'a':{'type':'STRING','description':'outer'},"
                 "'b':{'type':'STRING','description':'inner'}}}");
  cJSON_Delete(out);
  cJSON_Delete(s);
}

static void test_request_reasoning_effort(void **state) {
  (void)state;
  pier_gemini_info info;
  static const struct { const char *effort; const char *cfg; bool thinking; } cases[] = {
    {"none", "{'thinkingBudget':0}", false},
    {"minimal", "{'thinkingBudget':512,'includeThoughts':true}", true},
    {"low", "{'thinkingBudget':1024,'includeThoughts':true}", true},
    {"medium", "{'thinkingBudget':8192,'includeThoughts':true}", true},
    {"high", "{'thinkingBudget':24576,'includeThoughts':true}", true},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char req[256], body[256];
    snprintf(req, sizeof req, "{" HI ",'reasoning_effort':'%s'}", cases[i].effort);
    snprintf(body, sizeof body, "{" HI_PARTS ",'generationConfig':{'thinkingConfig':%s}}", cases[i].cfg);
    expect_body_m(MODEL, req, body, &info);
    assert_int_equal(info.thinking, cases[i].thinking);
  }
  expect_body_m(MODEL, "{" HI ",'thinking':{'type':'enabled','budget_tokens':2000},'max_tokens':4000}",
                "{" HI_PARTS ",'generationConfig':{'maxOutputTokens':4000,'thinkingConfig':{'thinkingBudget':2000,"
                "'includeThoughts':true}}}",
                &info);
  assert_true(info.thinking);
  expect_body("{" HI ",'thinking':{'type':'disabled'}}", "{" HI_PARTS "}");
  expect_error("{" HI ",'reasoning_effort':'extreme'}", PIER_EINVAL,
               "reasoning_effort must be one of none, minimal, low, medium, high; got 'extreme'");
  expect_error("{" HI ",'thinking':{'type':'enabled','budget_tokens':-5}}", PIER_EINVAL,
               "thinking.budget_tokens must be a non-negative integer");
}

static void test_request_errors_name_the_path(void **state) {
  (void)state;
  expect_error("[]", PIER_EINVAL, "the request body must be a JSON object");
  expect_error("{'messages':[]}", PIER_EINVAL, "messages must be a non-empty array of chat messages");
  expect_error("{'messages':[{'role':'system','content':'only me'}]}", PIER_EINVAL,
               "messages: no user or assistant message has any content; Gemini needs at least one");
  expect_error("{'messages':[{'role':'robot','content':'x'}]}", PIER_EINVAL,
               "messages[0].role: unknown role 'robot' (expected system, user, assistant or tool)");
  expect_error("{'messages':[3]}", PIER_EINVAL, "messages[0] must be an object, got a number");
  expect_error("{'messages':[{'content':'x'}]}", PIER_EINVAL, "messages[0].role must be a string");
  expect_error("{'messages':[{'role':'user','content':5}]}", PIER_EINVAL,
               "messages[0].content must be a string or an array of content parts, got a number");
  expect_error("{'messages':[{'role':'user','content':[{'type':'text','text':7}]}]}", PIER_EINVAL,
               "messages[0].content[0].text must be a string, got a number");
  expect_error("{'messages':[{'role':'user','content':[{'text':'x'}]}]}", PIER_EINVAL,
               "messages[0].content[0] must be an object with a string 'type'");
  expect_error("{'messages':[{'role':'user','content':'q'},{'role':'assistant','tool_calls':{}}]}", PIER_EINVAL,
               "messages[1].tool_calls must be an array, got an object");
  expect_error("{'messages':[{'role':'user','content':'q'},{'role':'assistant','tool_calls':[{'id':'a',"
               "'function':{'arguments':'{}'}}]}]}",
               PIER_EINVAL, "messages[1].tool_calls[0].function.name must be a non-empty string");
  expect_error("{" HI ",'tools':{}}", PIER_EINVAL, "tools must be an array");
}

/* cJSON allocations fail from the n-th on; every OOM path must return
 * PIER_ENOMEM without leaking (ASan checks the leaks). */
static long alloc_left = -1;
static void *failing_malloc(size_t n) {
  if (alloc_left == 0) return NULL;
  if (alloc_left > 0) alloc_left--;
  return malloc(n);
}

static void test_request_every_allocation_failure(void **state) {
  (void)state;
  cJSON *req = J("{'messages':[{'role':'system','content':'s'},{'role':'user','content':[{'type':'text','text':'q'},"
                 "{'type':'image_url','image_url':{'url':'data:image/png;base64,AAAA'}},{'type':'image_url',"
                 "'image_url':{'url':'https://x/y.pdf'}}]},{'role':'assistant','content':'a','tool_calls':[{'id':"
                 "'c1__thought__S','type':'function','function':{'name':'f','arguments':'{\\'x\\':1}'}}]},"
                 "{'role':'tool','tool_call_id':'c1__thought__S','content':'{\\'ok\\':true}'},"
                 "{'role':'tool','tool_call_id':'c1__thought__S','content':'plain'}],"
                 "'tools':[{'type':'function','function':{'name':'f','description':'d','parameters':{'type':'object',"
                 "'$defs':{'D':{'type':'string','enum':['a']}},'properties':{'x':{'type':['integer','null']},"
                 "'y':{'$ref':'#/$defs/D','description':'yy'},'z':{'anyOf':[{'type':'string'},{'type':'number'}]}},"
                 "'required':['x']}}}],'tool_choice':{'type':'function','function':{'name':'f'}},"
                 "'temperature':1,'stop':['a','b'],'reasoning_effort':'low',"
                 "'response_format':{'type':'json_schema','json_schema':{'schema':{'type':'object','properties':"
                 "{'k':{'type':'array','items':{'type':'string'}}}}}}}");
  cJSON_Hooks hooks = {.malloc_fn = failing_malloc, .free_fn = free};
  bool finished = false;
  for (long n = 0; n < 5000 && !finished; n++) {
    pier_buf body;
    pier_buf_init(&body, 0);
    pier_gemini_info info;
    char err[256];
    alloc_left = n;
    cJSON_InitHooks(&hooks);
    int rc = pier_gemini_build(req, "gemini-3-pro", &body, &info, err, sizeof err);
    cJSON_InitHooks(NULL);
    alloc_left = -1;
    /* pier_json_parse reports cJSON's own OOM as "invalid JSON": the one EINVAL allowed here */
    bool parse_oom = rc == PIER_EINVAL && strstr(err, "(invalid JSON at byte");
    if (rc == 0) finished = true;
    else if (rc != PIER_ENOMEM && !parse_oom) fail_msg("allocation %ld: rc %d (%s)", n, rc, err);
    else assert_int_equal(body.len, 0);
    pier_buf_dispose(&body);
  }
  assert_true(finished);
  cJSON_Delete(req);
}

static void test_request_body_cap(void **state) {
  (void)state;
  cJSON *req = J("{" HI "}");
  pier_buf body;
  pier_buf_init(&body, 16);
  pier_gemini_info info;
  char err[128];
  assert_int_equal(pier_gemini_build(req, MODEL, &body, &info, err, sizeof err), PIER_ETOOBIG);
  assert_int_equal(body.len, 0);
  assert_string_equal(err, "limit exceeded while building the Gemini request");
  pier_buf_dispose(&body);
  cJSON_Delete(req);
}

static void path_eq(const char *model, pier_gemini_method m, const char *want) {
  pier_buf out;
  pier_buf_init(&out, 0);
  assert_int_equal(pier_gemini_path(model, m, &out), 0);
  assert_string_equal(out.ptr, want);
  pier_buf_dispose(&out);
}

static void test_method_path(void **state) {
  (void)state;
  path_eq("gemini-2.5-flash", PIER_GEMINI_GENERATE, "models/gemini-2.5-flash:generateContent");
  path_eq("models/gemini-2.5-flash", PIER_GEMINI_STREAM, "models/gemini-2.5-flash:streamGenerateContent?alt=sse");
  path_eq("tunedModels/my-tune-7", PIER_GEMINI_GENERATE, "tunedModels/my-tune-7:generateContent");
  path_eq("gemini-embedding-001", PIER_GEMINI_BATCH_EMBED, "models/gemini-embedding-001:batchEmbedContents");
  path_eq("odd id/x:y?z", PIER_GEMINI_GENERATE, "models/odd%20id%2Fx%3Ay%3Fz:generateContent");
  pier_buf out;
  pier_buf_init(&out, 0);
  assert_int_equal(pier_buf_append_cstr(&out, "/v1beta/"), 0);
  assert_int_equal(pier_gemini_path("", PIER_GEMINI_GENERATE, &out), PIER_EINVAL);
  assert_int_equal(pier_gemini_path("models/", PIER_GEMINI_GENERATE, &out), PIER_EINVAL);
  assert_string_equal(out.ptr, "/v1beta/");
  pier_buf_dispose(&out);
}

/* ---- response (non-stream) ------------------------------------------------- */

/* The completion for a reply, with random tool ids masked as "call_*...". */
static void expect_completion(const char *resp_sq, const char *want_sq) {
  cJSON *resp = J(resp_sq);
  pier_buf out;
  pier_buf_init(&out, 0);
  char err[256];
  int rc = pier_gemini_response(resp, &PLAIN, &META, &out, err, sizeof err);
  if (rc) fail_msg("response failed: %s", err);
  cJSON *got = J(out.ptr);
  const cJSON *calls = cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(got,
                                                               "choices"), 0), "message"), "tool_calls"), *c;
  cJSON_ArrayForEach(c, calls) {
    cJSON *id = cJSON_GetObjectItem(c, "id");
    if (random_id(pier_slice_from(id->valuestring))) {
      char masked[1100];
      snprintf(masked, sizeof masked, "call_*%s", id->valuestring + 29);
      cJSON_SetValuestring(id, masked);
    }
  }
  json_eq_j(got, want_sq);
  cJSON_Delete(got);
  pier_buf_dispose(&out);
  cJSON_Delete(resp);
}

static void expect_events(const char *resp_sq, int want_rc, const char *want_log_sq) {
  rec r = {0};
  pier_buf_init(&r.log, 0);
  cJSON *resp = J(resp_sq);
  char err[256] = "";
  assert_int_equal(pier_gemini_response_events(resp, &PLAIN, rec_on_event, &r, err, sizeof err), want_rc);
  log_eq(&r, want_log_sq);
  cJSON_Delete(resp);
  pier_buf_dispose(&r.log);
}

#define COMPLETION_HEAD "{'id':'chatcmpl-t','object':'chat.completion','created':1700000000,'model':'gemini/" MODEL "',"
#define USAGE_412_38 \
  "'usage':{'prompt_tokens':412,'completion_tokens':38,'total_tokens':450,'prompt_tokens_details':"          \
  "{'cached_tokens':0},'cache_creation_input_tokens':0,'cache_read_input_tokens':0}}"
#define UM_412_38 "'usageMetadata':{'promptTokenCount':412,'candidatesTokenCount':38,'totalTokenCount':450}"

static void test_response_text(void **state) {
  (void)state;
  expect_completion("{'candidates':[{'content':{'role':'model','parts':[{'text':'Hel'},{'text':'lo'}]},"
                    "'finishReason':'STOP','index':0,'safetyRatings':[]}]," UM_412_38 ","
                    "'modelVersion':'gemini-2.5-flash','responseId':'r1'}",
                    COMPLETION_HEAD "'choices':[{'index':0,'message':{'role':'assistant','content':'Hello'},"
                    "'finish_reason':'stop'}]," USAGE_412_38);
  /* only candidate 0 counts, wherever it sits */
  expect_completion("{'candidates':[{'index':1,'content':{'parts':[{'text':'other'}]},'finishReason':'STOP'},"
                    "{'index':0,'content':{'parts':[{'text':'mine'}]},'finishReason':'STOP'}]," UM_412_38 "}",
                    COMPLETION_HEAD "'choices':[{'index':0,'message':{'role':'assistant','content':'mine'},"
                    "'finish_reason':'stop'}]," USAGE_412_38);
}

static void test_response_thought_and_usage(void **state) {
  (void)state;
  expect_completion("{'candidates':[{'content':{'role':'model','parts':[{'text':'plan ','thought':true},"
                    "{'text':'more','thought':true},{'text':'done','thoughtSignature':'c2ln'},"
                    "{'executableCode':{'language':'PYTHON','code':'1'}}]},'finishReason':'MAX_TOKENS'}],"
                    "'usageMetadata':{'promptTokenCount':100,'candidatesTokenCount':10,'thoughtsTokenCount':30,"
                    "'cachedContentTokenCount':60,'toolUsePromptTokenCount':5,'totalTokenCount':145}}",
                    COMPLETION_HEAD "'choices':[{'index':0,'message':{'role':'assistant','content':'done',"
                    "'reasoning_content':'plan more'},'finish_reason':'length'}],"
                    "'usage':{'prompt_tokens':105,'completion_tokens':40,'total_tokens':145,'prompt_tokens_details':"
                    "{'cached_tokens':60},'cache_creation_input_tokens':0,'cache_read_input_tokens':60}}");
  /* no usageMetadata: zeros */
  expect_events("{'candidates':[{'content':{'parts':[{'text':'x'}]}}]}",
                0, "START\nTEXT x\nFINISH stop\nUSAGE 0/0/0 cr=0 cw=0\n");
}

#define PARALLEL_CALLS                                                                                          \
  "{'candidates':[{'content':{'role':'model','parts':[{'text':'Checking.'},"                                    \
  "{'functionCall':{'name':'get_weather','args':{'city':'Paris'}},'thoughtSignature':'c2ln'},"                  \
  "{'functionCall':{'name':'get_weather','args':{'city':'Rome'}}},{'functionCall':{'id':'fc-7','name':'now'}}]}," \
  "'finishReason':'STOP'}]," UM_412_38 "}"

static void test_response_parallel_function_calls(void **state) {
  (void)state;
  expect_events(PARALLEL_CALLS, 0,
                "START\nTEXT Checking.\nTOOL_START 0 call_*__thought__c2ln get_weather\n"
                "TOOL_ARGS 0 {'city':'Paris'}\nTOOL_START 1 call_* get_weather\nTOOL_ARGS 1 {'city':'Rome'}\n"
                "TOOL_START 2 fc-7 now\nTOOL_ARGS 2 {}\nFINISH tool_calls\nUSAGE 412/38/450 cr=0 cw=0\n");
  expect_completion(PARALLEL_CALLS,
                    COMPLETION_HEAD "'choices':[{'index':0,'message':{'role':'assistant','content':'Checking.',"
                    "'tool_calls':[{'id':'call_*__thought__c2ln','type':'function','function':{'name':'get_weather',"
                    "'arguments':'{\\'city\\':\\'Paris\\'}'}},{'id':'call_*','type':'function','function':"
                    "{'name':'get_weather','arguments':'{\\'city\\':\\'Rome\\'}'}},{'id':'fc-7','type':'function',"
                    "'function':{'name':'now','arguments':'{}'}}]},'finish_reason':'tool_calls'}]," USAGE_412_38);
  /* two generated ids differ */
  pier_buf out;
  pier_buf_init(&out, 0);
  char err[128];
  cJSON *resp = J(PARALLEL_CALLS);
  assert_int_equal(pier_gemini_response(resp, &PLAIN, &META, &out, err, sizeof err), 0);
  cJSON *got = J(out.ptr);
  const cJSON *calls =
    cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(got, "choices"), 0), "message"),
                        "tool_calls");
  const char *a = cJSON_GetObjectItem(cJSON_GetArrayItem(calls, 0), "id")->valuestring;
  const char *b = cJSON_GetObjectItem(cJSON_GetArrayItem(calls, 1), "id")->valuestring;
  assert_true(strncmp(a, b, 29) != 0);
  cJSON_Delete(got);
  cJSON_Delete(resp);
  pier_buf_dispose(&out);
}

static void test_response_every_allocation_failure(void **state) {
  (void)state;
  cJSON *resp = J(PARALLEL_CALLS);
  cJSON_Hooks hooks = {.malloc_fn = failing_malloc, .free_fn = free};
  bool finished = false;
  for (long n = 0; n < 100 && !finished; n++) {
    pier_buf out;
    pier_buf_init(&out, 0);
    char err[256];
    alloc_left = n;
    cJSON_InitHooks(&hooks);
    int rc = pier_gemini_response(resp, &PLAIN, &META, &out, err, sizeof err);
    cJSON_InitHooks(NULL);
    alloc_left = -1;
    if (rc == 0) finished = true;
    else if (rc != PIER_ENOMEM) fail_msg("allocation %ld: rc %d (%s)", n, rc, err);
    else assert_string_equal(err, "out of memory while writing the chat completion");
    pier_buf_dispose(&out);
  }
  assert_true(finished);
  cJSON_Delete(resp);
}

static void test_response_long_signature_stays_out_of_the_id(void **state) {
  (void)state;
  char sig[1101], resp[1400];
  memset(sig, 'A', 1100);
  sig[1100] = '\0';
  snprintf(resp, sizeof resp,
           "{'candidates':[{'content':{'parts':[{'functionCall':{'name':'now','args':{}},'thoughtSignature':'%s'}]},"
           "'finishReason':'STOP'}]}",
           sig);
  expect_events(resp, 0, "START\nTOOL_START 0 call_* now\nTOOL_ARGS 0 {}\nFINISH tool_calls\nUSAGE 0/0/0 cr=0 cw=0\n");
}

static void test_response_every_finish_reason(void **state) {
  (void)state;
  static const char *const map[][2] = {
    {"STOP", "stop"},           {"MAX_TOKENS", "length"},          {"SAFETY", "content_filter"},
    {"RECITATION", "content_filter"}, {"BLOCKLIST", "content_filter"}, {"PROHIBITED_CONTENT", "content_filter"},
    {"SPII", "content_filter"}, {"IMAGE_SAFETY", "content_filter"}, {"OTHER", "stop"},
    {"LANGUAGE", "stop"},       {"MALFORMED_FUNCTION_CALL", "stop"}, {"FINISH_REASON_UNSPECIFIED", "stop"},
    {"BRAND_NEW_REASON", "stop"}};
  for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
    assert_string_equal(pier_gemini_finish_reason(map[i][0], false), map[i][1]);
    char resp[256], want[512];
    snprintf(resp, sizeof resp, "{'candidates':[{'content':{'parts':[{'text':'x'}]},'finishReason':'%s'}]," UM_412_38 "}",
             map[i][0]);
    snprintf(want, sizeof want,
             COMPLETION_HEAD "'choices':[{'index':0,'message':{'role':'assistant','content':'x'},"
                             "'finish_reason':'%s'}]," USAGE_412_38,
             map[i][1]);
    expect_completion(resp, want);
  }
  assert_string_equal(pier_gemini_finish_reason(NULL, false), "stop");
  assert_string_equal(pier_gemini_finish_reason("STOP", true), "tool_calls");
  assert_string_equal(pier_gemini_finish_reason(NULL, true), "tool_calls");
  assert_string_equal(pier_gemini_finish_reason("MAX_TOKENS", true), "length");
  assert_string_equal(pier_gemini_finish_reason("SAFETY", true), "content_filter");
  /* a candidate cut by the filter may carry no content at all */
  expect_events("{'candidates':[{'finishReason':'SAFETY','index':0,'safetyRatings':[{'category':"
                "'HARM_CATEGORY_HARASSMENT','probability':'HIGH','blocked':true}]}]," UM_412_38 "}",
                0, "START\nFINISH content_filter\nUSAGE 412/38/450 cr=0 cw=0\n");
}

#define BLOCKED_TEXT                                                                                         \
  "Gemini blocked the prompt (promptFeedback.blockReason SAFETY); rephrase the request or remove the content " \
  "its safety filters flagged"

static void test_response_blocked_prompt(void **state) {
  (void)state;
  const char *resp_sq = "{'promptFeedback':{'blockReason':'SAFETY','safetyRatings':[]},"
                        "'usageMetadata':{'promptTokenCount':8,'totalTokenCount':8},'modelVersion':'m'}";
  expect_events(resp_sq, PIER_EUPSTREAM, "ERROR 400 content_filter " BLOCKED_TEXT "\n");
  expect_events("{'candidates':[],'promptFeedback':{'blockReason':'OTHER','blockReasonMessage':'policy 7'}}",
                PIER_EUPSTREAM,
                "ERROR 400 content_filter Gemini blocked the prompt (promptFeedback.blockReason OTHER: policy 7); "
                "rephrase the request or remove the content its safety filters flagged\n");
  cJSON *resp = J(resp_sq);
  pier_buf out;
  pier_buf_init(&out, 0);
  char err[512];
  assert_int_equal(pier_gemini_response(resp, &PLAIN, &META, &out, err, sizeof err), PIER_EUPSTREAM);
  assert_string_equal(err, BLOCKED_TEXT);
  json_eq(pier_buf_slice(&out), "{'error':{'message':'" BLOCKED_TEXT "','type':'invalid_request_error',"
                                "'code':'content_filter','param':null}}");
  pier_buf_dispose(&out);
  cJSON_Delete(resp);
}

static void test_response_malformed_and_callback_error(void **state) {
  (void)state;
  cJSON *resp = J("{'usageMetadata':{}}");
  pier_buf out;
  pier_buf_init(&out, 0);
  char err[256];
  assert_int_equal(pier_gemini_response(resp, &PLAIN, &META, &out, err, sizeof err), PIER_EPROTO);
  assert_string_equal(err, "the Gemini reply has no candidates[0] and no promptFeedback.blockReason");
  assert_int_equal(out.len, 0);
  pier_buf_dispose(&out);
  cJSON_Delete(resp);
  rec r = {.fail_at = 2};
  pier_buf_init(&r.log, 0);
  resp = J("{'candidates':[{'content':{'parts':[{'text':'a'},{'text':'b'}]}}]}");
  assert_int_equal(pier_gemini_response_events(resp, &PLAIN, rec_on_event, &r, err, sizeof err), PIER_ECANCELLED);
  log_eq(&r, "START\nTEXT a\n");
  cJSON_Delete(resp);
  pier_buf_dispose(&r.log);
}

/* ---- stream --------------------------------------------------------------------- */

/* Feed payloads; returns the first non-zero rc (later payloads are still fed
 * to check that the error is sticky), then pier_gemini_stream_end's rc. */
static int feed(pier_gemini_stream *s, const char *const *chunks, size_t n, int *end_rc) {
  int first = 0;
  for (size_t i = 0; i < n; i++) {
    char *p = q(chunks[i]);
    int rc = pier_gemini_stream_on_data(s, pier_slice_from(p));
    free(p);
    if (rc && !first) first = rc;
    if (first) assert_int_equal(rc, first);
  }
  *end_rc = pier_gemini_stream_end(s);
  if (first) assert_int_equal(*end_rc, first);
  return first;
}

static void run_stream(const char *const *chunks, size_t n, int want_rc, int want_end_rc, const char *want_log_sq) {
  rec r = {0};
  pier_buf_init(&r.log, 0);
  pier_gemini_stream s;
  int end_rc;
  pier_gemini_stream_init(&s, &PLAIN, rec_on_event, &r);
  assert_int_equal(feed(&s, chunks, n, &end_rc), want_rc);
  assert_int_equal(end_rc, want_end_rc);
  log_eq(&r, want_log_sq);
  pier_buf_dispose(&r.log);
}
#define N(a) (sizeof(a) / sizeof((a)[0]))

static const char *const TEXT_SPLIT[] = {
  "{'candidates':[{'content':{'role':'model','parts':[{'text':'Hel'}]},'index':0}],"
  "'usageMetadata':{'promptTokenCount':12,'totalTokenCount':12},'modelVersion':'gemini-2.5-flash','responseId':'r'}",
  "{'candidates':[{'content':{'role':'model','parts':[{'text':'lo there\\n'}]},'index':0}],"
  "'usageMetadata':{'promptTokenCount':12,'totalTokenCount':12}}",
  "{'candidates':[{'content':{'role':'model','parts':[{'text':''}]},'finishReason':'STOP','index':0}],"
  "'usageMetadata':{'promptTokenCount':12,'candidatesTokenCount':3,'totalTokenCount':15}}",
};

static void test_stream_text_split_across_chunks(void **state) {
  (void)state;
  run_stream(TEXT_SPLIT, N(TEXT_SPLIT), 0, 0,
             "START\nTEXT Hel\nTEXT lo there\n\nFINISH stop\nUSAGE 12/3/15 cr=0 cw=0\n");
}

static void test_stream_thoughts_then_text(void **state) {
  (void)state;
  static const char *const c[] = {
    "{'candidates':[{'content':{'parts':[{'text':'Let me think','thought':true}]}}]}",
    "{'candidates':[{'content':{'parts':[{'text':'Answer','thoughtSignature':'xx'}]}}]}",
    "{'candidates':[{'content':{'parts':[{'text':'.'}]},'finishReason':'MAX_TOKENS'}],"
    "'usageMetadata':{'promptTokenCount':5,'candidatesTokenCount':1,'thoughtsTokenCount':4,'totalTokenCount':10}}",
  };
  run_stream(c, N(c), 0, 0, "START\nREASONING Let me think\nTEXT Answer\nTEXT .\nFINISH length\nUSAGE 5/5/10 cr=0 cw=0\n");
}

static const char *const CALLS[] = {
  "{'candidates':[{'content':{'role':'model','parts':[{'text':'Checking.'}]},'index':0}],"
  "'usageMetadata':{'promptTokenCount':100,'totalTokenCount':100}}",
  "{'candidates':[{'content':{'role':'model','parts':[{'functionCall':{'id':'a1','name':'get_weather','args':"
  "{'city':'Paris'}}},{'functionCall':{'id':'a2','name':'get_weather','args':{'city':'Rome'}}}]},"
  "'finishReason':'STOP','index':0}],'usageMetadata':{'promptTokenCount':100,'candidatesTokenCount':20,"
  "'cachedContentTokenCount':50,'totalTokenCount':120}}",
};

static void test_stream_function_calls(void **state) {
  (void)state;
  run_stream(CALLS, N(CALLS), 0, 0,
             "START\nTEXT Checking.\nTOOL_START 0 a1 get_weather\nTOOL_ARGS 0 {'city':'Paris'}\n"
             "TOOL_START 1 a2 get_weather\nTOOL_ARGS 1 {'city':'Rome'}\nFINISH tool_calls\n"
             "USAGE 100/20/120 cr=50 cw=0\n");
  /* calls in separate chunks keep counting; generated ids carry the signature */
  static const char *const c[] = {
    "{'candidates':[{'content':{'parts':[{'functionCall':{'name':'a','args':{'x':[1,2]}},'thoughtSignature':'S1'}]}}]}",
    "{'candidates':[{'content':{'parts':[{'functionCall':{'name':'b'}}]}}]}",
    "{'candidates':[{'content':{'parts':[]},'finishReason':'STOP'}]}",
  };
  run_stream(c, N(c), 0, 0,
             "START\nTOOL_START 0 call_*__thought__S1 a\nTOOL_ARGS 0 {'x':[1,2]}\nTOOL_START 1 call_* b\n"
             "TOOL_ARGS 1 {}\nFINISH tool_calls\n");
}

static void run_sse(const char *const *chunks, size_t n, bool include_usage, const char *want_sq) {
  pier_buf out;
  pier_buf_init(&out, 0);
  pier_openai_meta m = META;
  m.include_usage = include_usage;
  pier_openai_sse w;
  assert_int_equal(pier_openai_sse_init(&w, &m, &out), 0);
  pier_gemini_stream s;
  int end_rc;
  pier_gemini_stream_init(&s, &PLAIN, pier_openai_sse_on_event, &w);
  (void)feed(&s, chunks, n, &end_rc);
  assert_int_equal(pier_openai_sse_done(&w), 0);
  char *want = q(want_sq);
  if (strcmp(out.ptr, want)) fail_msg("SSE differs\n--- got:\n%s--- want:\n%s", out.ptr, want);
  free(want);
  pier_openai_sse_dispose(&w);
  pier_buf_dispose(&out);
}

#define CH "data: {'id':'chatcmpl-t','object':'chat.completion.chunk','created':1700000000,'model':'gemini/" MODEL "',"

static void test_stream_sse_bytes(void **state) {
  (void)state;
  run_sse(TEXT_SPLIT, N(TEXT_SPLIT), false,
          CH "'choices':[{'index':0,'delta':{'role':'assistant','content':''},'finish_reason':null}]}\n\n"
          CH "'choices':[{'index':0,'delta':{'content':'Hel'},'finish_reason':null}]}\n\n"
          CH "'choices':[{'index':0,'delta':{'content':'lo there\\n'},'finish_reason':null}]}\n\n"
          CH "'choices':[{'index':0,'delta':{},'finish_reason':'stop'}]}\n\n"
          "data: [DONE]\n\n");
  run_sse(CALLS, N(CALLS), true,
          CH "'choices':[{'index':0,'delta':{'role':'assistant','content':''},'finish_reason':null}],'usage':null}\n\n"
          CH "'choices':[{'index':0,'delta':{'content':'Checking.'},'finish_reason':null}],'usage':null}\n\n"
          CH "'choices':[{'index':0,'delta':{'tool_calls':[{'index':0,'id':'a1','type':'function','function':"
          "{'name':'get_weather','arguments':''}}]},'finish_reason':null}],'usage':null}\n\n"
          CH "'choices':[{'index':0,'delta':{'tool_calls':[{'index':0,'function':{'arguments':'{\\'city\\':\\'Paris\\'}'}}]},"
          "'finish_reason':null}],'usage':null}\n\n"
          CH "'choices':[{'index':0,'delta':{'tool_calls':[{'index':1,'id':'a2','type':'function','function':"
          "{'name':'get_weather','arguments':''}}]},'finish_reason':null}],'usage':null}\n\n"
          CH "'choices':[{'index':0,'delta':{'tool_calls':[{'index':1,'function':{'arguments':'{\\'city\\':\\'Rome\\'}'}}]},"
          "'finish_reason':null}],'usage':null}\n\n"
          CH "'choices':[{'index':0,'delta':{},'finish_reason':'tool_calls'}],'usage':null}\n\n"
          CH "'choices':[],'usage':{'prompt_tokens':100,'completion_tokens':20,'total_tokens':120,"
          "'prompt_tokens_details':{'cached_tokens':50},'cache_creation_input_tokens':0,"
          "'cache_read_input_tokens':50}}\n\n"
          "data: [DONE]\n\n");
}

static void test_stream_usage_placement(void **state) {
  (void)state;
  /* finish first, usage in a later chunk: USAGE right after it; text after the finish is ignored */
  static const char *const later[] = {
    "{'candidates':[{'content':{'parts':[{'text':'ok'}]},'finishReason':'STOP'}]}",
    "{'candidates':[{'content':{'parts':[{'text':'ignored'}]}}]}",
    "{'usageMetadata':{'promptTokenCount':3,'candidatesTokenCount':1,'totalTokenCount':4}}",
    "{'usageMetadata':{'promptTokenCount':9,'candidatesTokenCount':9,'totalTokenCount':18}}",
  };
  run_stream(later, N(later), 0, 0, "START\nTEXT ok\nFINISH stop\nUSAGE 3/1/4 cr=0 cw=0\n");
  /* no usage at all: none is invented */
  static const char *const none[] = {"{'candidates':[{'content':{'parts':[{'text':'ok'}]},'finishReason':'STOP'}]}",
                                     "", "[DONE]"};
  run_stream(none, N(none), 0, 0, "START\nTEXT ok\nFINISH stop\n");
}

static void test_stream_error_chunk(void **state) {
  (void)state;
  static const char *const c[] = {
    "{'candidates':[{'content':{'parts':[{'text':'Hi'}]}}]}",
    "{'error':{'code':429,'message':'Resource has been exhausted (e.g. check quota).','status':'RESOURCE_EXHAUSTED'}}",
    "{'candidates':[{'content':{'parts':[{'text':'late'}]}}]}",
  };
  run_stream(c, N(c), PIER_EUPSTREAM, PIER_EUPSTREAM,
             "START\nTEXT Hi\nERROR 429 RESOURCE_EXHAUSTED RESOURCE_EXHAUSTED: Resource has been exhausted (e.g. "
             "check quota). Fix: the Gemini quota of the key`s project is exhausted; wait and retry, or raise the "
             "quota (billing tier) in Google AI Studio.\n");
  static const char *const c2[] = {
    "{'error':{'code':503,'message':'The model is overloaded. Please try again later.','status':'UNAVAILABLE'}}"};
  run_stream(c2, 1, PIER_EUPSTREAM, PIER_EUPSTREAM,
             "ERROR 503 UNAVAILABLE UNAVAILABLE: The model is overloaded. Please try again later. Fix: the model is "
             "overloaded; retry later or use another model.\n");
  run_sse(c, N(c), false,
          CH "'choices':[{'index':0,'delta':{'role':'assistant','content':''},'finish_reason':null}]}\n\n"
          CH "'choices':[{'index':0,'delta':{'content':'Hi'},'finish_reason':null}]}\n\n"
          "data: {'error':{'message':'RESOURCE_EXHAUSTED: Resource has been exhausted (e.g. check quota). Fix: the "
          "Gemini quota of the key`s project is exhausted; wait and retry, or raise the quota (billing tier) in "
          "Google AI Studio.','type':'rate_limit_error','code':'RESOURCE_EXHAUSTED','param':null}}\n\n"
          "data: [DONE]\n\n");
}

static void test_stream_blocked_and_broken(void **state) {
  (void)state;
  static const char *const blocked[] = {
    "{'promptFeedback':{'blockReason':'PROHIBITED_CONTENT'},'usageMetadata':{'promptTokenCount':9}}"};
  run_stream(blocked, 1, PIER_EUPSTREAM, PIER_EUPSTREAM,
             "ERROR 400 content_filter Gemini blocked the prompt (promptFeedback.blockReason PROHIBITED_CONTENT); "
             "rephrase the request or remove the content its safety filters flagged\n");
  static const char *const junk[] = {"{'candidates':[{'content':{'parts':[{'text':'a'}]}}]}", "not json"};
  run_stream(junk, N(junk), PIER_EPROTO, PIER_EPROTO,
             "START\nTEXT a\nERROR 502 - Gemini stream broke the protocol: a data payload is not a JSON object\n");
  static const char *const cut[] = {"{'candidates':[{'content':{'parts':[{'text':'a'}]}}]}"};
  run_stream(cut, 1, 0, PIER_EPROTO,
             "START\nTEXT a\nERROR 502 - Gemini stream broke the protocol: the stream ended before any candidate had "
             "a finishReason\n");
}

static void test_stream_callback_error_is_sticky(void **state) {
  (void)state;
  rec r = {.fail_at = 2};
  pier_buf_init(&r.log, 0);
  pier_gemini_stream s;
  int end_rc;
  pier_gemini_stream_init(&s, &PLAIN, rec_on_event, &r);
  assert_int_equal(feed(&s, TEXT_SPLIT, N(TEXT_SPLIT), &end_rc), PIER_ECANCELLED);
  assert_int_equal(end_rc, PIER_ECANCELLED);
  log_eq(&r, "START\nTEXT Hel\n");
  pier_buf_dispose(&r.log);
}

/* The same answer streamed and buffered aggregates to the same completion. */
static void test_stream_aggregate_equals_non_stream(void **state) {
  (void)state;
  pier_openai_agg agg;
  pier_buf streamed, direct;
  pier_buf_init(&streamed, 0);
  pier_buf_init(&direct, 0);
  assert_int_equal(pier_openai_agg_init(&agg, &META), 0);
  pier_gemini_stream s;
  int end_rc;
  pier_gemini_stream_init(&s, &PLAIN, pier_openai_agg_on_event, &agg);
  assert_int_equal(feed(&s, CALLS, N(CALLS), &end_rc), 0);
  assert_int_equal(pier_openai_agg_finish(&agg, &streamed), 0);
  cJSON *resp = J("{'candidates':[{'content':{'parts':[{'text':'Checking.'},{'functionCall':{'id':'a1','name':"
                  "'get_weather','args':{'city':'Paris'}}},{'functionCall':{'id':'a2','name':'get_weather','args':"
                  "{'city':'Rome'}}}]},'finishReason':'STOP'}],'usageMetadata':{'promptTokenCount':100,"
                  "'candidatesTokenCount':20,'cachedContentTokenCount':50,'totalTokenCount':120}}");
  char err[128];
  assert_int_equal(pier_gemini_response(resp, &PLAIN, &META, &direct, err, sizeof err), 0);
  assert_string_equal(streamed.ptr, direct.ptr);
  cJSON_Delete(resp);
  pier_buf_dispose(&streamed);
  pier_buf_dispose(&direct);
  pier_openai_agg_dispose(&agg);
}

/* ---- errors --------------------------------------------------------------------- */

typedef struct err_case {
  int http;
  const char *body_sq;
  int status;
  const char *type;
  const char *code; /* "" = none */
  bool retryable;
  uint64_t retry_ms;
  const char *message_sq;
} err_case;

#define GERR(code, status, msg) "{'error':{'code':" #code ",'message':'" msg "','status':'" status "'}}"

static void test_error_map_per_status(void **state) {
  (void)state;
  static const err_case cases[] = {
    {400, GERR(400, "INVALID_ARGUMENT", "* GenerateContentRequest.contents: contents is not specified\\n"), 400,
     "invalid_request_error", "INVALID_ARGUMENT", false, 0,
     "INVALID_ARGUMENT: * GenerateContentRequest.contents: contents is not specified"},
    {400,
     "{'error':{'code':400,'message':'API key not valid. Please pass a valid API key.','status':'INVALID_ARGUMENT',"
     "'details':[{'@type':'type.googleapis.com/google.rpc.ErrorInfo','reason':'API_KEY_INVALID','domain':"
     "'googleapis.com','metadata':{'service':'generativelanguage.googleapis.com'}}]}}",
     401, "authentication_error", "INVALID_ARGUMENT", false, 0,
     "INVALID_ARGUMENT: API key not valid. Please pass a valid API key. Fix: check GEMINI_API_KEY on the "
     "collection: Gemini says the key is not valid (create one in Google AI Studio)."},
    {401, GERR(401, "UNAUTHENTICATED", "Request had invalid authentication credentials."), 401,
     "authentication_error", "UNAUTHENTICATED", false, 0,
     "UNAUTHENTICATED: Request had invalid authentication credentials. Fix: set GEMINI_API_KEY on the collection "
     "to a valid Gemini API key."},
    {403, GERR(403, "PERMISSION_DENIED", "Method doesn`t allow unregistered callers."), 403, "permission_error",
     "PERMISSION_DENIED", false, 0,
     "PERMISSION_DENIED: Method doesn`t allow unregistered callers. Fix: make sure the project of GEMINI_API_KEY "
     "has the Generative Language API enabled and may use this model."},
    {404, GERR(404, "NOT_FOUND", "models/gemini-9 is not found for API version v1beta."), 404, "not_found_error",
     "NOT_FOUND", false, 0,
     "NOT_FOUND: models/gemini-9 is not found for API version v1beta. Fix: check the model id; GET /v1beta/models "
     "on the Gemini API lists the models the key can use."},
    {429,
     "{'error':{'code':429,'message':'You exceeded your current quota.','status':'RESOURCE_EXHAUSTED','details':["
     "{'@type':'type.googleapis.com/google.rpc.QuotaFailure','violations':[]},"
     "{'@type':'type.googleapis.com/google.rpc.RetryInfo','retryDelay':'37s'}]}}",
     429, "rate_limit_error", "RESOURCE_EXHAUSTED", true, 37000,
     "RESOURCE_EXHAUSTED: You exceeded your current quota. Fix: the Gemini quota of the key`s project is "
     "exhausted; wait and retry, or raise the quota (billing tier) in Google AI Studio (Gemini asks to wait 37000 "
     "ms)."},
    {500, GERR(500, "INTERNAL", "An internal error has occurred."), 502, "api_error", "INTERNAL", true, 0,
     "INTERNAL: An internal error has occurred. Fix: Gemini failed internally; retry, and shorten the input if it "
     "is very long."},
    {503, GERR(503, "UNAVAILABLE", "The model is overloaded."), 503, "api_error", "UNAVAILABLE", true, 0,
     "UNAVAILABLE: The model is overloaded. Fix: the model is overloaded; retry later or use another model."},
    {504, GERR(504, "DEADLINE_EXCEEDED", "Deadline expired before operation could complete."), 504, "timeout_error",
     "DEADLINE_EXCEEDED", true, 0,
     "DEADLINE_EXCEEDED: Deadline expired before operation could complete. Fix: Gemini ran out of time; retry with "
     "a shorter input or a lower max_tokens."},
    {400,
     GERR(400, "INVALID_ARGUMENT",
          "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576)."),
     400, "invalid_request_error", "context_length_exceeded", false, 0,
     "INVALID_ARGUMENT: The input token count (1200000) exceeds the maximum number of tokens allowed (1048576). "
     "Fix: shorten the conversation or pick a model with a larger context window."},
    {400, GERR(400, "FAILED_PRECONDITION", "User location is not supported for the API use."), 400,
     "invalid_request_error", "FAILED_PRECONDITION", false, 0,
     "FAILED_PRECONDITION: User location is not supported for the API use. Fix: enable billing for the project of "
     "GEMINI_API_KEY in Google AI Studio (the free tier is not offered in every region)."},
    {502, "<html>bad gateway</html>", 502, "api_error", "", false, 0, "Gemini returned HTTP 502: (no error detail)"},
    {400, "", 400, "invalid_request_error", "", false, 0, "Gemini returned HTTP 400: (no error detail)"},
    {408, "", 504, "timeout_error", "", false, 0, "Gemini returned HTTP 408: (no error detail)"},
    /* in-stream chunks: the status comes from the body */
    {0, GERR(500, "INTERNAL", "boom"), 502, "api_error", "INTERNAL", true, 0,
     "INTERNAL: boom. Fix: Gemini failed internally; retry, and shorten the input if it is very long."},
    {0, "{'error':{'message':'slow down','status':'RESOURCE_EXHAUSTED','details':[{'@type':"
        "'type.googleapis.com/google.rpc.RetryInfo','retryDelay':'1.5s'}]}}",
     429, "rate_limit_error", "RESOURCE_EXHAUSTED", true, 1500,
     "RESOURCE_EXHAUSTED: slow down. Fix: the Gemini quota of the key`s project is exhausted; wait and retry, or "
     "raise the quota (billing tier) in Google AI Studio (Gemini asks to wait 1500 ms)."},
    {0, "not json", 502, "api_error", "", false, 0, "Gemini returned HTTP 502: (no error detail)"},
    /* the non-SSE stream wraps errors in an array; a key in the text is masked */
    {400, "[{'error':{'code':400,'message':'bad key AIzaSyD0123456789abcdefghijklmnopqrstuv here',"
          "'status':'INVALID_ARGUMENT'}}]",
     400, "invalid_request_error", "INVALID_ARGUMENT", false, 0,
     "INVALID_ARGUMENT: bad key AIza*********************************** here"},
  };
  for (size_t i = 0; i < N(cases); i++) {
    const err_case *c = &cases[i];
    char *body = q(c->body_sq);
    pier_gemini_error e;
    pier_gemini_error_map(c->http, pier_slice_from(body), &e);
    free(body);
    if (e.status != c->status) fail_msg("case %zu: status %d, want %d", i, e.status, c->status);
    assert_string_equal(e.type, c->type);
    assert_string_equal(e.code, c->code);
    if (!c->code[0]) assert_null(pier_gemini_error_code(&e));
    if (e.retryable != c->retryable) fail_msg("case %zu: retryable %d", i, e.retryable);
    assert_int_equal(e.retry_after_ms, c->retry_ms);
    str_eq(e.message, c->message_sq);
  }
}

static void test_error_map_caps_long_text(void **state) {
  (void)state;
  char body[4096] = "{\"error\":{\"code\":400,\"status\":\"INVALID_ARGUMENT\",\"message\":\"";
  size_t n = strlen(body);
  for (int i = 0; i < 1500; i++) {
    if (i % 2) body[n++] = 'x';
    else body[n++] = '\\', body[n++] = 'n'; /* escaped newline */
  }
  memcpy(body + n, "\"}}", 4);
  pier_gemini_error e;
  pier_gemini_error_map(400, pier_slice_from(body), &e);
  assert_true(strlen(e.message) < sizeof e.message);
  assert_null(strchr(e.message, '\n'));
  assert_true(strncmp(e.message, "INVALID_ARGUMENT: x x x", 23) == 0);
  assert_true(strlen(e.message) > 600); /* Gemini's text kept up to its cap */
}

/* ---- embeddings ----------------------------------------------------------------- */

static cJSON *kept[16];
static int nkept;

static int free_kept(void **state) {
  (void)state;
  while (nkept) cJSON_Delete(kept[--nkept]);
  return 0;
}

static pier_gemini_embed *plan(const char *req_sq, const char *model, size_t want_calls) {
  cJSON *req = J(req_sq);
  pier_gemini_embed *e = NULL;
  char err[512];
  int rc = pier_gemini_embed_create(req, model, &e, err, sizeof err);
  if (rc) fail_msg("create failed: %s", err);
  assert_int_equal(pier_gemini_embed_calls(e), want_calls);
  assert_true(nkept < 16);
  kept[nkept++] = req; /* the request must outlive the plan */
  return e;
}

static void embed_body_eq(const pier_gemini_embed *e, size_t call, const char *want_sq) {
  pier_buf b;
  pier_buf_init(&b, 0);
  assert_int_equal(pier_gemini_embed_body(e, call, &b), 0);
  str_eq(b.ptr, want_sq);
  pier_buf_dispose(&b);
}

static void answer(pier_gemini_embed *e, size_t call, const char *resp_sq) {
  char *r = q(resp_sq), err[256];
  int rc = pier_gemini_embed_add_response(e, call, pier_slice_from(r), err, sizeof err);
  if (rc) fail_msg("add_response(%zu) failed: %s", call, err);
  free(r);
}

static void finish_eq(pier_gemini_embed *e, const char *model, const char *want_sq) {
  pier_buf out;
  pier_buf_init(&out, 0);
  char err[256];
  int rc = pier_gemini_embed_finish(e, model, &out, err, sizeof err);
  if (rc) fail_msg("finish failed: %s", err);
  str_eq(out.ptr, want_sq);
  pier_buf_dispose(&out);
}

static void test_embed_string_input(void **state) {
  (void)state;
  pier_gemini_embed *e = plan("{'input':'hello world','model':'gemini/gemini-embedding-001'}",
                              "gemini-embedding-001", 1);
  embed_body_eq(e, 0, "{'requests':[{'model':'models/gemini-embedding-001','content':{'parts':[{'text':"
                      "'hello world'}]}}]}");
  answer(e, 0, "{'embeddings':[{'values':[0.25,-0.5,1,0.1]}]}");
  finish_eq(e, "gemini/gemini-embedding-001",
            "{'object':'list','data':[{'object':'embedding','index':0,'embedding':[0.25,-0.5,1,0.1]}],"
            "'model':'gemini/gemini-embedding-001','usage':{'prompt_tokens':3,'total_tokens':3}}");
  pier_gemini_embed_destroy(e);
}

static void test_embed_array_and_options(void **state) {
  (void)state;
  pier_gemini_embed *e = plan("{'input':['a','h\\u00e9llo'],'dimensions':256,'input_type':'search_query',"
                              "'encoding_format':'base64'}",
                              "models/text-embedding-004", 1);
  embed_body_eq(e, 0,
                "{'requests':[{'model':'models/text-embedding-004','content':{'parts':[{'text':'a'}]},"
                "'taskType':'RETRIEVAL_QUERY','outputDimensionality':256},{'model':'models/text-embedding-004',"
                "'content':{'parts':[{'text':'h\xc3\xa9llo'}]},'taskType':'RETRIEVAL_QUERY',"
                "'outputDimensionality':256}]}");
  answer(e, 0, "{'embeddings':[{'values':[1,2]},{'values':[-1]}]}");
  finish_eq(e, "m",
            "{'object':'list','data':[{'object':'embedding','index':0,'embedding':'AACAPwAAAEA='},"
            "{'object':'embedding','index':1,'embedding':'AACAvw=='}],'model':'m','usage':{'prompt_tokens':3,"
            "'total_tokens':3}}");
  pier_gemini_embed_destroy(e);
  e = plan("{'input':['x'],'task_type':'Clustering'}", "e", 1);
  embed_body_eq(e, 0, "{'requests':[{'model':'models/e','content':{'parts':[{'text':'x'}]},'taskType':'CLUSTERING'}]}");
  pier_gemini_embed_destroy(e);
  e = plan("{'input':['x'],'task_type':'SEMANTIC_SIMILARITY','input_type':'search_document'}", "e", 1);
  embed_body_eq(e, 0,
                "{'requests':[{'model':'models/e','content':{'parts':[{'text':'x'}]},'taskType':'SEMANTIC_SIMILARITY'}]}");
  pier_gemini_embed_destroy(e);
}

static void test_embed_more_than_100_inputs(void **state) {
  (void)state;
  char req[8192] = "{'input':[";
  size_t n = strlen(req);
  for (int k = 0; k < 250; k++) n += (size_t)snprintf(req + n, sizeof req - n, "%s't%d'", k ? "," : "", k);
  snprintf(req + n, sizeof req - n, "]}");
  pier_gemini_embed *e = plan(req, "gemini-embedding-001", 3);
  size_t want[3] = {100, 100, 50};
  for (size_t c = 0; c < 3; c++) {
    pier_buf b;
    pier_buf_init(&b, 0);
    assert_int_equal(pier_gemini_embed_body(e, c, &b), 0);
    cJSON *j = J(b.ptr);
    cJSON *reqs = cJSON_GetObjectItem(j, "requests");
    assert_int_equal(cJSON_GetArraySize(reqs), want[c]);
    char first[16];
    snprintf(first, sizeof first, "t%zu", c * 100);
    assert_string_equal(
      cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetArrayItem(reqs, 0),
                                                                                     "content"), "parts"), 0), "text")
        ->valuestring,
      first);
    cJSON_Delete(j);
    pier_buf_dispose(&b);
  }
  /* replies in any order; each vector holds its input's number */
  for (size_t c = 3; c-- > 0;) {
    pier_buf r;
    pier_buf_init(&r, 0);
    assert_int_equal(pier_buf_append_cstr(&r, "{'embeddings':["), 0);
    for (size_t k = 0; k < want[c]; k++)
      assert_int_equal(pier_buf_appendf(&r, "%s{'values':[%zu]}", k ? "," : "", c * 100 + k), 0);
    assert_int_equal(pier_buf_append_cstr(&r, "]}"), 0);
    answer(e, c, r.ptr);
    pier_buf_dispose(&r);
  }
  pier_buf out;
  pier_buf_init(&out, 0);
  char err[128];
  assert_int_equal(pier_gemini_embed_finish(e, "g", &out, err, sizeof err), 0);
  cJSON *j = J(out.ptr);
  cJSON *data = cJSON_GetObjectItem(j, "data");
  assert_int_equal(cJSON_GetArraySize(data), 250);
  int k = 0;
  for (cJSON *d = data->child; d; d = d->next, k++) {
    assert_int_equal(cJSON_GetObjectItem(d, "index")->valueint, k);
    assert_int_equal(cJSON_GetArrayItem(cJSON_GetObjectItem(d, "embedding"), 0)->valueint, k);
  }
  assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "usage"), "prompt_tokens")->valueint, 250);
  cJSON_Delete(j);
  pier_buf_dispose(&out);
  pier_gemini_embed_destroy(e);
}

static void embed_create_err(const char *req_sq, const char *model, const char *want_sq) {
  cJSON *req = J(req_sq);
  pier_gemini_embed *e = (pier_gemini_embed *)1;
  char err[512] = "";
  assert_int_equal(pier_gemini_embed_create(req, model, &e, err, sizeof err), PIER_EINVAL);
  assert_null(e);
  str_eq(err, want_sq);
  cJSON_Delete(req);
}

static void test_embed_errors(void **state) {
  (void)state;
  embed_create_err("{'input':5}", "e", "input must be a string or an array of strings, got a number");
  embed_create_err("{'input':[]}", "e", "input must hold at least one string");
  embed_create_err("{'input':['a','']}", "e", "input[1] is an empty string");
  embed_create_err("{'input':[[1,2]]}", "e",
                   "input[0] must be a string (token-id arrays are not supported for Gemini models)");
  embed_create_err("{'input':'a','dimensions':0}", "e", "dimensions must be an integer from 1 to 65536");
  embed_create_err("{'input':'a','encoding_format':'hex'}", "e", "encoding_format must be 'float' or 'base64'");
  embed_create_err("{'input':'a','input_type':'poetry'}", "e",
                   "input_type must be a Gemini task type (RETRIEVAL_QUERY, RETRIEVAL_DOCUMENT, SEMANTIC_SIMILARITY, "
                   "CLASSIFICATION, CLUSTERING, QUESTION_ANSWERING, FACT_VERIFICATION, CODE_RETRIEVAL_QUERY) or "
                   "search_query / search_document");
  embed_create_err("{'input':'a'}", "models/", "model: name a Gemini embedding model, e.g. gemini-embedding-001");
  pier_buf big;
  pier_buf_init(&big, 0);
  assert_int_equal(pier_buf_append_cstr(&big, "{'input':["), 0);
  for (int k = 0; k <= PIER_GEMINI_EMBED_INPUTS_MAX; k++)
    assert_int_equal(pier_buf_append_cstr(&big, k ? ",'x'" : "'x'"), 0);
  assert_int_equal(pier_buf_append_cstr(&big, "]}"), 0);
  embed_create_err(big.ptr, "e", "input holds 2049 strings; at most 2048 per request");
  pier_buf_dispose(&big);

  pier_gemini_embed *e = plan("{'input':['a','b']}", "e", 1);
  char err[256];
  pier_buf out;
  pier_buf_init(&out, 0);
  assert_int_equal(pier_gemini_embed_body(e, 1, &out), PIER_EINVAL);
  assert_int_equal(pier_gemini_embed_finish(e, "m", &out, err, sizeof err), PIER_EINVAL);
  assert_string_equal(err, "embedding call 0 has no reply yet");
  char *r = q("{'embeddings':[{'values':[1]}]}");
  assert_int_equal(pier_gemini_embed_add_response(e, 0, pier_slice_from(r), err, sizeof err), PIER_EPROTO);
  assert_string_equal(err, "Gemini batchEmbedContents reply for inputs 0..1 does not hold 2 embeddings with "
                           "numeric values");
  free(r);
  r = q("{'embeddings':[{'values':[1]},{'values':['x']}]}");
  assert_int_equal(pier_gemini_embed_add_response(e, 0, pier_slice_from(r), err, sizeof err), PIER_EPROTO);
  free(r);
  assert_int_equal(pier_gemini_embed_add_response(e, 0, PIER_SLICE_LIT("<html>"), err, sizeof err), PIER_EPROTO);
  assert_string_equal(err, "Gemini embedding reply is not a JSON object (invalid JSON at byte 0)");
  answer(e, 0, "{'embeddings':[{'values':[1]},{'values':[2]}]}");
  assert_int_equal(pier_gemini_embed_add_response(e, 0, PIER_SLICE_LIT("{}"), err, sizeof err), PIER_EINVAL);
  assert_string_equal(err, "embedding call 0: no such call or already answered");
  assert_int_equal(out.len, 0);
  pier_buf_dispose(&out);
  pier_gemini_embed_destroy(e);
  pier_gemini_embed_destroy(NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_request_minimal),
    cmocka_unit_test(test_request_system_parts_and_developer),
    cmocka_unit_test(test_request_merges_same_role_turns),
    cmocka_unit_test(test_request_leading_assistant_gets_placeholder),
    cmocka_unit_test(test_request_media_both_kinds),
    cmocka_unit_test(test_request_media_errors),
    cmocka_unit_test(test_request_tools_and_choices),
    cmocka_unit_test(test_request_function_call_round),
    cmocka_unit_test(test_request_function_response_leads_user_turn),
    cmocka_unit_test(test_request_function_name_recovery),
    cmocka_unit_test(test_request_thought_signatures),
    cmocka_unit_test(test_request_generation_config),
    cmocka_unit_test(test_request_json_mode),
    cmocka_unit_test(test_schema_conversion_errors),
    cmocka_unit_test(test_request_reasoning_effort),
    cmocka_unit_test(test_request_errors_name_the_path),
    cmocka_unit_test(test_request_every_allocation_failure),
    cmocka_unit_test(test_request_body_cap),
    cmocka_unit_test(test_method_path),
    cmocka_unit_test(test_response_text),
    cmocka_unit_test(test_response_thought_and_usage),
    cmocka_unit_test(test_response_parallel_function_calls),
    cmocka_unit_test(test_response_every_allocation_failure),
    cmocka_unit_test(test_response_long_signature_stays_out_of_the_id),
    cmocka_unit_test(test_response_every_finish_reason),
    cmocka_unit_test(test_response_blocked_prompt),
    cmocka_unit_test(test_response_malformed_and_callback_error),
    cmocka_unit_test(test_stream_text_split_across_chunks),
    cmocka_unit_test(test_stream_thoughts_then_text),
    cmocka_unit_test(test_stream_function_calls),
    cmocka_unit_test(test_stream_sse_bytes),
    cmocka_unit_test(test_stream_usage_placement),
    cmocka_unit_test(test_stream_error_chunk),
    cmocka_unit_test(test_stream_blocked_and_broken),
    cmocka_unit_test(test_stream_callback_error_is_sticky),
    cmocka_unit_test(test_stream_aggregate_equals_non_stream),
    cmocka_unit_test(test_error_map_per_status),
    cmocka_unit_test(test_error_map_caps_long_text),
    cmocka_unit_test(test_embed_string_input),
    cmocka_unit_test(test_embed_array_and_options),
    cmocka_unit_test(test_embed_more_than_100_inputs),
    cmocka_unit_test(test_embed_errors),
  };
  return cmocka_run_group_tests(tests, NULL, free_kept);
}
