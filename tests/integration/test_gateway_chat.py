"""POST /v1/chat/completions (non-streaming) against the mock Bedrock: the Jetty
page's example (also through the real curl binary), Bedrock credentials on the wire
(bearer, SigV4 checked by botocore, session token signed), model ids percent-encoded
in the path, and the OpenAI -> Converse -> OpenAI mapping checked on the exact body
the mock received and the exact answer the client got."""

import base64
import json
import os
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from gateway_util import (AKID, AKID_STS, SONNET, STS_TOKEN, TOKEN, assert_completion, assert_error,
                          gateway_fixtures, hello, stream_chat)
from mocks.bedrock import Reply

gateway, gw = gateway_fixtures()

SONNET_PATH = "/model/us.anthropic.claude-sonnet-4-6/converse"
PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==")
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9"


def one_request(gw):
    (rec,) = gw.mock.wait_for_requests(1, finished=True)
    assert len(gw.mock.requests) == 1, gw.mock.requests
    return rec


# -- the Jetty page ----------------------------------------------------------------------

def test_jetty_page_example_answers_pong(gw):
    body = {"model": "bedrock/us.anthropic.claude-sonnet-4-6",
            "messages": [{"role": "user", "content": "Reply with PONG only."}], "max_tokens": 32}
    r = gw.chat(body)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    out = r.json()
    assert_completion(out, "bedrock/us.anthropic.claude-sonnet-4-6", "PONG", "stop")
    rec = one_request(gw)
    assert (rec.method, rec.path, rec.operation) == ("POST", SONNET_PATH, "converse")
    assert rec.json == {"messages": [{"role": "user", "content": [{"text": "Reply with PONG only."}]}],
                        "inferenceConfig": {"maxTokens": 32}}
    # usage is the mock's (inputTokens = its token count of the request, outputTokens of "PONG")
    assert out["usage"] == {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6,
                            "prompt_tokens_details": {"cached_tokens": 0},
                            "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}


def test_jetty_page_curl_command_verbatim(gw, tmp_path):
    """The page's command run by the real curl binary, token read from ~/.config/jetty/token."""
    (tmp_path / ".config" / "jetty").mkdir(parents=True)
    (tmp_path / ".config" / "jetty" / "token").write_text(gw.key + "\n")
    script = (
        'TOKEN="$(cat ~/.config/jetty/token)"\n'
        'curl -s -X POST -H "Authorization: Bearer $TOKEN" \\\n'
        '-H "Content-Type: application/json" \\\n'
        f'"{gw.pier.url}/v1/chat/completions" \\\n'
        "-d '{\n"
        '"model": "bedrock/us.anthropic.claude-sonnet-4-6",\n'
        '"messages": [{"role":"user","content":"Reply with PONG only."}],\n'
        '"max_tokens": 32\n'
        "}'\n")
    env = {"HOME": str(tmp_path), "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    p = subprocess.run(["bash", "-c", script], env=env, capture_output=True, timeout=20)
    assert p.returncode == 0, p.stderr
    assert_completion(json.loads(p.stdout), "bedrock/us.anthropic.claude-sonnet-4-6", "PONG", "stop")
    assert one_request(gw).path == SONNET_PATH


def test_both_paths_serve_chat_completions(gw):
    for path in ("/v1/chat/completions", "/chat/completions"):
        gw.mock.reset()
        r = gw.chat(hello(), path=path)
        assert r.status_code == 200, (path, r.text)
        assert_completion(r.json(), "bedrock/" + SONNET)
        assert one_request(gw).path == SONNET_PATH


# -- credentials on the wire ------------------------------------------------------------------

def test_bearer_key_is_the_only_credential_sent(gw):
    r = gw.chat(hello())
    assert r.status_code == 200, r.text
    rec = one_request(gw)
    assert rec.auth == "bearer" and rec.auth_ok and rec.bearer_token == TOKEN
    names = [n.lower() for n, _ in rec.raw_headers]
    assert [v for n, v in rec.raw_headers if n.lower() == "authorization"] == [f"Bearer {TOKEN}"]
    assert not [n for n in names if n.startswith("x-amz-")], rec.raw_headers
    assert rec.headers["content-type"] == "application/json"


def test_iam_keys_sign_sigv4_verified_by_botocore(gw):
    gw.env_iam()
    r = gw.chat(hello())
    assert r.status_code == 200, r.text
    assert_completion(r.json(), "bedrock/" + SONNET)
    rec = one_request(gw)
    assert rec.auth == "sigv4" and rec.auth_ok, rec.sigv4
    assert rec.access_key_id == AKID and rec.signing_region == "us-east-1"
    assert rec.sigv4.service == "bedrock"
    assert rec.sigv4.signed_headers == ["content-type", "host", "x-amz-date"]
    assert "x-amz-security-token" not in rec.headers


def test_session_token_is_sent_and_signed(gw):
    gw.env_iam(session=True)
    r = gw.chat(hello())
    assert r.status_code == 200, r.text
    rec = one_request(gw)
    assert rec.auth == "sigv4" and rec.auth_ok, rec.sigv4
    assert rec.access_key_id == AKID_STS
    assert rec.headers["x-amz-security-token"] == STS_TOKEN
    assert rec.sigv4.signed_headers == ["content-type", "host", "x-amz-date", "x-amz-security-token"]


MODEL_PATHS = [
    ("bedrock/us.meta.llama3-1-70b-instruct-v1:0", "/model/us.meta.llama3-1-70b-instruct-v1%3A0/converse",
     "us.meta.llama3-1-70b-instruct-v1:0"),
    ("bedrock/us.anthropic.claude-haiku-4-5-20251001-v1:0",
     "/model/us.anthropic.claude-haiku-4-5-20251001-v1%3A0/converse", "us.anthropic.claude-haiku-4-5-20251001-v1:0"),
    ("bedrock/arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc123def456",
     "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Aapplication-inference-profile%2Fabc123def456/converse",
     "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc123def456"),
]


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("auth", ["bearer", "sigv4"])
@pytest.mark.parametrize("model,path,model_id", MODEL_PATHS, ids=["colon", "dated-colon", "arn"])
def test_model_ids_are_percent_encoded_in_the_path(gw, auth, model, path, model_id, stream):
    """':' and '/' are %3A/%2F on the wire; with SigV4 the signature (double-encoded
    canonical URI) must still verify."""
    if auth == "sigv4":
        gw.env_iam(session=True)
    if stream:
        path = path[:-len("converse")] + "converse-stream"
        r, chunks = stream_chat(gw, hello(model=model, stream=True))
        assert chunks[0]["model"] == model
    else:
        r = gw.chat(hello(model=model))
        assert r.status_code == 200, r.text
        assert_completion(r.json(), model)
    rec = one_request(gw)
    assert rec.path == path and rec.model_id == model_id
    assert rec.auth == auth and rec.auth_ok, rec.sigv4


# -- request mapping ----------------------------------------------------------------------------

def test_system_multipart_and_same_role_turns_merged(gw):
    msgs = [
        {"role": "system", "content": "You are terse."},
        {"role": "developer", "content": [{"type": "text", "text": "Answer in English."}]},
        {"role": "user", "content": "Hello"},
        {"role": "user", "content": [{"type": "text", "text": "Part one."}, {"type": "text", "text": "Part two."}]},
        {"role": "assistant", "content": "Hi."},
        {"role": "assistant", "content": [{"type": "text", "text": "How can I help?"}]},
        {"role": "user", "content": "Say PONG."},
    ]
    r = gw.chat({"model": "bedrock/" + SONNET, "messages": msgs})
    assert r.status_code == 200, r.text
    assert one_request(gw).json == {
        "system": [{"text": "You are terse."}, {"text": "Answer in English."}],
        "messages": [
            {"role": "user", "content": [{"text": "Hello"}, {"text": "Part one."}, {"text": "Part two."}]},
            {"role": "assistant", "content": [{"text": "Hi."}, {"text": "How can I help?"}]},
            {"role": "user", "content": [{"text": "Say PONG."}]},
        ]}


def test_image_data_urls_become_image_blocks(gw):
    png64 = base64.b64encode(PNG).decode()
    jpg64 = base64.b64encode(JPEG).decode()
    content = [{"type": "text", "text": "What is in these?"},
               {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{png64}"}},
               {"type": "image_url", "image_url": {"url": f"data:image/jpeg;base64,{jpg64}", "detail": "low"}}]
    r = gw.chat({"model": "bedrock/" + SONNET, "messages": [{"role": "user", "content": content}]})
    assert r.status_code == 200, r.text
    assert one_request(gw).json["messages"] == [{"role": "user", "content": [
        {"text": "What is in these?"},
        {"image": {"format": "png", "source": {"bytes": png64}}},
        {"image": {"format": "jpeg", "source": {"bytes": jpg64}}}]}]


class _ImageServer:
    """A tiny HTTP server on 127.0.0.1 serving fixed bytes per path; records request headers."""

    def __init__(self, files):
        self.files = files
        self.seen = []
        outer = self

        class H(BaseHTTPRequestHandler):
            def do_GET(self):
                outer.seen.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
                ctype, data = outer.files.get(self.path, (None, None))
                if data is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                try:
                    self.wfile.write(data)
                except OSError:
                    pass

            def log_message(self, *a):
                pass

        self.srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.srv.daemon_threads = True
        self.thread = threading.Thread(target=self.srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.srv.server_address[1]}"

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


@pytest.fixture
def images():
    big = b"\x89PNG\r\n\x1a\n" + b"\0" * (4 * 1024 * 1024)
    s = _ImageServer({"/cat.png": ("image/png", PNG), "/dog": ("image/jpeg", JPEG),
                      "/big.png": ("image/png", big), "/page.html": ("text/html", b"<html>hi</html>")})
    yield s
    s.close()


def test_image_http_url_is_fetched_and_inlined(gw, images):
    content = [{"type": "image_url", "image_url": {"url": images.url + "/cat.png"}},
               {"type": "image_url", "image_url": images.url + "/dog"},
               {"type": "text", "text": "Describe."}]
    r = gw.chat({"model": "bedrock/" + SONNET, "messages": [{"role": "user", "content": content}]})
    assert r.status_code == 200, r.text
    assert one_request(gw).json["messages"] == [{"role": "user", "content": [
        {"image": {"format": "png", "source": {"bytes": base64.b64encode(PNG).decode()}}},
        {"image": {"format": "jpeg", "source": {"bytes": base64.b64encode(JPEG).decode()}}},
        {"text": "Describe."}]}]
    assert sorted(p for p, _ in images.seen) == ["/cat.png", "/dog"]
    for _, headers in images.seen:  # the Bedrock credential must not travel to an image host
        assert "authorization" not in headers and not any(h.startswith("x-amz") for h in headers), headers


@pytest.mark.parametrize("path,status,words", [
    ("/big.png", 413, ["3.75 MB"]),
    ("/page.html", 400, ["png, jpeg, gif or webp"]),
    ("/missing.png", 400, ["did not answer 200"]),
])
def test_bad_image_url_fails_before_bedrock(gw, images, path, status, words):
    content = [{"type": "text", "text": "Describe."}, {"type": "image_url", "image_url": {"url": images.url + path}}]
    r = gw.chat({"model": "bedrock/" + SONNET, "messages": [{"role": "user", "content": content}]})
    assert_error(r, status, "invalid_request_error", "image_fetch_failed", [images.url + path, *words])
    assert gw.mock.requests == []


WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Weather by city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
CLOCK = {"type": "function", "function": {"name": "get_time", "parameters": {
    "type": "object", "properties": {"tz": {"type": "string"}}}}}
SPECS = [{"toolSpec": {"name": "get_weather", "description": "Weather by city", "inputSchema": {"json": {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}},
    {"toolSpec": {"name": "get_time", "inputSchema": {"json": {
        "type": "object", "properties": {"tz": {"type": "string"}}}}}}]


@pytest.mark.parametrize("choice,tool_config", [
    (None, {"tools": SPECS}),
    ("auto", {"tools": SPECS, "toolChoice": {"auto": {}}}),
    ("required", {"tools": SPECS, "toolChoice": {"any": {}}}),
    ({"type": "function", "function": {"name": "get_time"}}, {"tools": SPECS, "toolChoice": {"tool": {"name": "get_time"}}}),
    ("none", None),
])
def test_tools_and_tool_choice(gw, choice, tool_config):
    body = hello(tools=[WEATHER, CLOCK])
    if choice is not None:
        body["tool_choice"] = choice
    r = gw.chat(body)
    assert r.status_code == 200, r.text
    got = one_request(gw).json
    assert got.get("toolConfig") == tool_config


def test_assistant_tool_calls_and_tool_results(gw):
    msgs = [
        {"role": "user", "content": "Weather in Paris and time in Tokyo?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
            {"id": "call_2", "type": "function", "function": {"name": "get_time", "arguments": "{\"tz\":\"Asia/Tokyo\"}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
        {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "09:"}, {"type": "text", "text": "30"}]},
    ]
    r = gw.chat({"model": "bedrock/" + SONNET, "messages": msgs, "tools": [WEATHER, CLOCK]})
    assert r.status_code == 200, r.text
    got = one_request(gw).json
    assert got["messages"] == [
        {"role": "user", "content": [{"text": "Weather in Paris and time in Tokyo?"}]},
        {"role": "assistant", "content": [
            {"toolUse": {"toolUseId": "call_1", "name": "get_weather", "input": {"city": "Paris"}}},
            {"toolUse": {"toolUseId": "call_2", "name": "get_time", "input": {"tz": "Asia/Tokyo"}}}]},
        {"role": "user", "content": [
            {"toolResult": {"toolUseId": "call_1", "content": [{"text": "18C"}]}},
            {"toolResult": {"toolUseId": "call_2", "content": [{"text": "09:30"}]}}]},
    ]
    assert got["toolConfig"] == {"tools": SPECS}


def test_parallel_tool_calls_in_the_answer(gw):
    gw.mock.script(Reply(text="Checking both.", tool_calls=[
        {"name": "get_weather", "input": {"city": "Paris"}, "id": "tooluse_weather01"},
        {"name": "get_time", "input": {"tz": "Asia/Tokyo"}, "id": "tooluse_clock002"}]))
    r = gw.chat(hello(tools=[WEATHER, CLOCK]))
    assert r.status_code == 200, r.text
    msg = assert_completion(r.json(), "bedrock/" + SONNET, "Checking both.", "tool_calls")
    calls = msg["tool_calls"]
    assert [(c["id"], c["type"], c["function"]["name"]) for c in calls] == [
        ("tooluse_weather01", "function", "get_weather"), ("tooluse_clock002", "function", "get_time")]
    assert [json.loads(c["function"]["arguments"]) for c in calls] == [{"city": "Paris"}, {"tz": "Asia/Tokyo"}]


def test_tool_call_only_answer_has_null_content(gw):
    gw.mock.script(Reply(tool_calls=[{"name": "get_time", "id": "tooluse_noargs01"}]))
    r = gw.chat(hello(tools=[CLOCK]))
    assert r.status_code == 200, r.text
    msg = assert_completion(r.json(), "bedrock/" + SONNET, None, "tool_calls")
    assert msg["content"] is None
    assert msg["tool_calls"] == [{"id": "tooluse_noargs01", "type": "function",
                                  "function": {"name": "get_time", "arguments": "{}"}}]


@pytest.mark.parametrize("params,inference", [
    ({"max_tokens": 32, "temperature": 1.7, "top_p": 0.9, "stop": ["END", ""]},
     {"maxTokens": 32, "temperature": 1, "topP": 0.9, "stopSequences": ["END"]}),
    ({"max_completion_tokens": 64, "temperature": 0, "stop": "STOP"},
     {"maxTokens": 64, "temperature": 0, "stopSequences": ["STOP"]}),
    ({"max_tokens": 10, "max_completion_tokens": 20, "top_p": 1.5, "temperature": -0.5},
     {"maxTokens": 20, "topP": 1, "temperature": 0}),
    ({}, None),
])
def test_inference_parameters(gw, params, inference):
    r = gw.chat({"model": "bedrock/" + SONNET, "messages": [{"role": "user", "content": "hi"}], **params})
    assert r.status_code == 200, r.text
    assert one_request(gw).json.get("inferenceConfig") == inference


@pytest.mark.parametrize("fmt,schema", [
    ({"type": "json_object"}, None),
    ({"type": "json_schema", "json_schema": {"name": "answer", "schema": {
        "type": "object", "properties": {"answer": {"type": "string"}, "n": {"type": "integer"}},
        "required": ["answer"]}}},
     {"type": "object", "properties": {"answer": {"type": "string"}, "n": {"type": "integer"}}, "required": ["answer"]}),
])
def test_response_format_json(gw, fmt, schema):
    gw.mock.script(Reply(tool_calls=[{"name": "json_tool_call", "input": {"answer": "PONG", "n": 2}}]))
    r = gw.chat(hello(response_format=fmt))
    assert r.status_code == 200, r.text
    msg = assert_completion(r.json(), "bedrock/" + SONNET, None, "stop")
    assert json.loads(msg["content"]) == {"answer": "PONG", "n": 2}
    assert "tool_calls" not in msg
    tc = one_request(gw).json["toolConfig"]
    assert tc["toolChoice"] == {"tool": {"name": "json_tool_call"}}
    (spec,) = tc["tools"]
    assert spec["toolSpec"]["name"] == "json_tool_call"
    if schema is not None:
        assert spec["toolSpec"]["inputSchema"]["json"] == schema
    else:
        assert spec["toolSpec"]["inputSchema"]["json"]["type"] == "object"


# -- response mapping -----------------------------------------------------------------------------

@pytest.mark.parametrize("stop_reason,finish", [
    ("end_turn", "stop"), ("stop_sequence", "stop"), ("max_tokens", "length"),
    ("guardrail_intervened", "content_filter"), ("content_filtered", "content_filter"),
    ("model_context_window_exceeded", "length"),
])
def test_finish_reason_mapping(gw, stop_reason, finish):
    gw.mock.script(Reply(text="PO", stop_reason=stop_reason))
    r = gw.chat(hello())
    assert r.status_code == 200, r.text
    assert_completion(r.json(), "bedrock/" + SONNET, "PO", finish)


CACHE_USAGE = {"inputTokens": 11, "outputTokens": 7, "cacheReadInputTokens": 100, "cacheWriteInputTokens": 20}
OPENAI_CACHE_USAGE = {"prompt_tokens": 131, "completion_tokens": 7, "total_tokens": 138,
                      "prompt_tokens_details": {"cached_tokens": 100},
                      "cache_creation_input_tokens": 20, "cache_read_input_tokens": 100}


def test_usage_with_cache_tokens(gw):
    gw.mock.script(Reply(usage=CACHE_USAGE))
    r = gw.chat(hello())
    assert r.status_code == 200, r.text
    assert r.json()["usage"] == OPENAI_CACHE_USAGE


def test_model_echoes_what_the_client_sent(gw):
    r = gw.chat({"model": SONNET, "model_provider": "bedrock", "messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 200, r.text
    assert r.json()["model"] == SONNET


# -- mock_response ---------------------------------------------------------------------------------

@pytest.mark.parametrize("creds", [True, False])
def test_mock_response_makes_no_network_call(gw, creds):
    if not creds:
        gw.env({})
    text = "Hello from mock_response, with \"quotes\" and ünïcode."
    r = gw.chat(hello(mock_response=text))
    assert r.status_code == 200, r.text
    assert_completion(r.json(), "bedrock/" + SONNET, text, "stop")
    r, chunks = stream_chat(gw, hello(mock_response=text, stream=True))
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"]) == text
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert gw.mock.requests == []
