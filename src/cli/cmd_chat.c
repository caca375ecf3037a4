/* cmd_chat.c — `pier chat MODEL [MESSAGE]`: streams the answer from
 * /v1/chat/completions (stream: true, chat.completion.chunk frames) and writes
 * each delta the moment it arrives. Without MESSAGE: a conversation, one line
 * per turn, history kept, until end of input (Ctrl-D). */
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "cli/cli_int.h"

typedef struct chat_ctx {
  pier_cli *cli;
  pier_buf answer;   /* the assistant's text, for the history */
  char error[1024];  /* an error frame in the stream */
  bool done;
} chat_ctx;

static int on_chunk(void *arg, const char *event, const char *data, size_t len) {
  chat_ctx *x = arg;
  (void)event;
  if (len == 6 && !memcmp(data, "[DONE]", 6)) {
    x->done = true;
    return 0;
  }
  cJSON *c = pier_json_parse(pier_slice_make(data, len), 64, NULL, 0);
  const cJSON *err = cJSON_GetObjectItemCaseSensitive(c, "error");
  if (err) {
    const char *m = cJSON_IsString(err) ? err->valuestring : pier_json_str(err, "message");
    snprintf(x->error, sizeof x->error, "%s", m ? m : "the stream ended with an error");
  }
  const cJSON *choice = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(c, "choices"), 0);
  const char *delta = pier_json_str(cJSON_GetObjectItemCaseSensitive(choice, "delta"), "content");
  int rc = 0;
  if (delta && *delta) {
    size_t n = strlen(delta);
    fwrite(delta, 1, n, stdout);
    fflush(stdout);
    rc = pier_buf_append(&x->answer, delta, n) == 0 ? 0 : PIER_CLI_EXIT_FAIL;
  }
  cJSON_Delete(c);
  return rc;
}

static cJSON *request_body(pier_cli *cli, const cJSON *messages, bool stream) {
  cJSON *b = cJSON_CreateObject();
  cJSON_AddStringToObject(b, "model", cli->pos[0]);
  cJSON_AddItemReferenceToObject(b, "messages", (cJSON *)messages);
  cJSON_AddBoolToObject(b, "stream", stream);
  const char *prov = pier_cli_opt_get(cli, "provider"), *coll = pier_cli_opt_get(cli, "collection");
  const char *mt = pier_cli_opt_get(cli, "max-tokens"), *temp = pier_cli_opt_get(cli, "temperature");
  if (prov) cJSON_AddStringToObject(b, "model_provider", prov);
  if (mt) cJSON_AddNumberToObject(b, "max_tokens", strtod(mt, NULL));
  if (temp) cJSON_AddNumberToObject(b, "temperature", strtod(temp, NULL));
  if (coll) cJSON_AddStringToObject(cJSON_AddObjectToObject(b, "jetty"), "collection", coll);
  return b;
}

static void hint_collection(pier_cli *cli, const pier_cli_resp *r) {
  const cJSON *e = cJSON_GetObjectItemCaseSensitive(r->json, "error");
  const char *m = pier_json_str(e, "message");
  if (r->status == 400 && m && strstr(m, "jetty") && !pier_cli_opt_get(cli, "collection"))
    pier_cli_hint(cli, "with the admin token, name the collection whose credentials pay: --collection NAME");
}

/* One turn. On success the answer is appended to messages. */
static int turn(pier_cli *cli, cJSON *messages) {
  bool stream = !cli->json;
  cJSON *body = request_body(cli, messages, stream);
  chat_ctx x = {.cli = cli};
  pier_buf_init(&x.answer, 0);
  pier_cli_resp r;
  int rc;
  if (stream) {
    rc = pier_cli_stream(cli, "POST", "/v1/chat/completions", body, on_chunk, NULL, &x, &r);
    if (x.answer.len && x.answer.ptr[x.answer.len - 1] != '\n') fputc('\n', stdout);
    if (!rc && x.error[0]) {
      pier_cli_err(cli, "%s", x.error);
      rc = PIER_CLI_EXIT_SERVER;
    } else if (!rc && !x.done) {
      pier_cli_err(cli, "the answer stopped before its end ([DONE] never came)");
      rc = PIER_CLI_EXIT_SERVER;
    }
  } else {
    rc = pier_cli_call(cli, "POST", "/v1/chat/completions", body, &r);
    if (!rc) {
      pier_cli_print_raw(&r);
      const cJSON *msg = cJSON_GetObjectItemCaseSensitive(
          cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(r.json, "choices"), 0), "message");
      const char *text = pier_json_str(msg, "content");
      if (text && pier_buf_append_cstr(&x.answer, text) != 0) rc = PIER_CLI_EXIT_FAIL;
    }
  }
  if (rc) hint_collection(cli, &r);
  if (!rc) {
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "role", "assistant");
    cJSON_AddStringToObject(m, "content", x.answer.ptr ? x.answer.ptr : "");
    cJSON_AddItemToArray(messages, m);
  }
  fflush(stdout);
  pier_cli_resp_dispose(&r);
  pier_buf_dispose(&x.answer);
  cJSON_Delete(body);
  return rc;
}

static void add_message(cJSON *messages, const char *role, const char *content) {
  cJSON *m = cJSON_CreateObject();
  cJSON_AddStringToObject(m, "role", role);
  cJSON_AddStringToObject(m, "content", content);
  cJSON_AddItemToArray(messages, m);
}

static int conversation(pier_cli *cli, cJSON *messages) {
  pier_buf line;
  pier_buf_init(&line, 1u << 20);
  int last = 0;
  if (cli->tty_in) fprintf(stderr, "Chatting with %s. End with Ctrl-D.\n", cli->pos[0]);
  for (;;) {
    if (cli->tty_in) {
      fprintf(stderr, "%s> %s", pier_cli_sgr(cli, stderr, PIER_CLI_CYAN), pier_cli_sgr(cli, stderr, PIER_CLI_RESET));
      fflush(stderr);
    }
    int rc = pier_cli_read_line(&line);
    if (rc == PIER_ENOTFOUND) break;
    if (rc) {
      pier_cli_err(cli, rc == PIER_ETOOBIG ? "a line longer than 1 MiB" : "cannot read stdin");
      last = PIER_CLI_EXIT_USAGE;
      break;
    }
    if (!pier_slice_trim(pier_buf_slice(&line)).len) continue;
    add_message(messages, "user", line.ptr);
    last = turn(cli, messages);
    if (last) cJSON_DeleteItemFromArray(messages, cJSON_GetArraySize(messages) - 1); /* the unanswered turn */
    if (last == PIER_CLI_EXIT_AUTH) break;
    if (cli->tty_out) fputc('\n', stdout);
  }
  if (cli->tty_in) fputc('\n', stderr);
  pier_buf_dispose(&line);
  return last;
}

static int cmd_chat(pier_cli *cli) {
  int rc = pier_cli_need_token(cli);
  if (rc) return rc;
  cJSON *messages = cJSON_CreateArray();
  const char *sys = pier_cli_opt_get(cli, "system");
  if (sys) add_message(messages, "system", sys);
  if (cli->npos < 2) {
    rc = conversation(cli, messages);
    cJSON_Delete(messages);
    return rc;
  }
  pier_buf in;
  pier_buf_init(&in, 0);
  const char *msg = cli->pos[1];
  if (!strcmp(msg, "-")) { /* the message from stdin */
    if (pier_cli_read_file("-", &in) != 0) {
      pier_buf_dispose(&in);
      cJSON_Delete(messages);
      return pier_cli_usage_error(cli, "cannot read the message from stdin");
    }
    msg = in.ptr;
  }
  add_message(messages, "user", msg);
  pier_buf_dispose(&in);
  rc = turn(cli, messages);
  cJSON_Delete(messages);
  return rc;
}

static const pier_cli_opt chat_opts[] = {
    {"provider", 0, "NAME", "model_provider: bedrock, openai, anthropic, gemini, openrouter, ..."},
    {"system", 0, "TEXT", "a system message"},
    {"collection", 'c', "NAME", "whose credentials to use (needed with the admin token)"},
    {"max-tokens", 0, "N", "max_tokens of each answer"},
    {"temperature", 0, "T", "sampling temperature"},
    {NULL, 0, NULL, NULL},
};

const pier_cli_cmd pier_cli_cmds_chat[] = {
    {"chat", NULL, "MODEL [MESSAGE|-]", 1, 2, chat_opts, cmd_chat,
     "Chat with a model; the answer is streamed token by token.",
     "With MESSAGE (or - for stdin): one answer. Without: a conversation, one line per\n"
     "turn, history kept, until Ctrl-D. --json asks for the whole completion instead\n"
     "of a stream and prints the server's JSON.\n"
     "\nExamples:\n"
     "  pier chat bedrock/us.anthropic.claude-sonnet-4-6 \"Reply with PONG only.\" -c acme\n"
     "  pier chat us.anthropic.claude-haiku-4-5 --provider bedrock --system \"Be brief.\"\n"
     "  git diff | pier chat gpt-4o-mini -\n",
     0},
    {NULL, NULL, NULL, 0, 0, NULL, NULL, NULL, NULL, 0},
};
