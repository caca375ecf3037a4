"""Self-tests of the mock OpenAI, Anthropic and Gemini APIs (tests/integration/mocks/) so
pier's integration tests can trust them: auth, body validation, exact shapes, SSE parsed
back with a tiny parser, random byte splits, every scripted behaviour, embeddings."""

import base64
import json
import struct
import time

import pytest
import requests

from conftest import raw_http
from mocks.anthropic import MockAnthropic
from mocks.common import (
    DropMidStream, Error, Reply, SlowStream, Stall, StreamError, embedding_vector,
)
from mocks.gemini import MockGemini, gemini_embedding
from mocks.openai import MockOpenAI, mask_key
from run_util import sse_field

OA_KEY = "sk-proj-" + "a1B2c3D4" * 6 + "wxyz"
AN_KEY = "sk-ant-api03-test-key"
AN_TOKEN = "sk-ant-oat01-claude-code-token"
GM_KEY = "AIzaSyTestKey0123456789abcdefghijklmno"


# ---------------------------------------------------------------------------------------
# fixtures and client helpers

@pytest.fixture(scope="module")
def oa_server():
    m = MockOpenAI(api_keys={OA_KEY}, organization="org-pier", seed=7).start()
    yield m
    m.stop()


@pytest.fixture(scope="module")
def an_server():
    m = MockAnthropic(api_keys={AN_KEY}, auth_tokens={AN_TOKEN}, seed=7).start()
    yield m
    m.stop()


@pytest.fixture(scope="module")
def gm_server():
    m = MockGemini(api_keys={GM_KEY}, seed=7).start()
    yield m
    m.stop()


def _fresh(server):
    server.reset()
    yield server
    assert server.errors == [], server.errors[0]


@pytest.fixture
def oa(oa_server):
    yield from _fresh(oa_server)


@pytest.fixture
def an(an_server):
    yield from _fresh(an_server)


@pytest.fixture
def gm(gm_server):
    yield from _fresh(gm_server)


OA_H = {"Authorization": f"Bearer {OA_KEY}"}
AN_H = {"x-api-key": AN_KEY, "anthropic-version": "2023-06-01"}
GM_H = {"x-goog-api-key": GM_KEY}
OA_CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Say PONG"}]}
AN_MSG = {"model": "claude-sonnet-4-5-20250929", "max_tokens": 256,
          "messages": [{"role": "user", "content": "Say PONG"}]}
GM_BODY = {"contents": [{"role": "user", "parts": [{"text": "Say PONG"}]}]}
GM_PATH = "/v1beta/models/gemini-2.5-flash"


def oa_post(m, body=None, headers=None, path="/v1/chat/completions", **kw):
    return requests.post(m.url + path, json=OA_CHAT if body is None else body,
                         headers=OA_H if headers is None else headers,
                         timeout=kw.pop("timeout", 5), **kw)


def an_post(m, body=None, headers=None, path="/v1/messages", **kw):
    return requests.post(m.url + path, json=AN_MSG if body is None else body,
                         headers=AN_H if headers is None else headers,
                         timeout=kw.pop("timeout", 5), **kw)


def gm_post(m, body=None, headers=None, method="generateContent", model_path=GM_PATH, **kw):
    return requests.post(f"{m.url}{model_path}:{method}", json=GM_BODY if body is None else body,
                         headers=GM_H if headers is None else headers,
                         timeout=kw.pop("timeout", 5), **kw)


def raw_request(mock, path, body, headers, method="POST", on_chunk=None, timeout=5):
    """HTTP/1.1 over a raw socket, keeping the chunk boundaries as the mock sent them.
    on_chunk(resp) returning True closes the connection early."""
    data = json.dumps(body).encode() if not isinstance(body, bytes) else body
    return raw_http(mock.port, method, path, data, headers, on_chunk, timeout)


def sse_parse(data):
    """Minimal text/event-stream parser (WHATWG rules that these APIs use): events are
    separated by a blank line (LF or CRLF); 'event:' names it, 'data:' lines are joined
    with LF; comments (':') ignored. Returns [(event or None, data)] of complete events
    and the undecoded tail."""
    text = data.decode("utf-8")
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    events, name, datas = [], None, []
    consumed = 0
    for idx, line in enumerate(lines[:-1]):  # the last piece has no terminator yet
        if line == "":
            if datas or name:
                events.append((name, "\n".join(datas)))
            name, datas = None, []
            consumed = idx + 1
            continue
        if line.startswith(":"):
            continue
        field, value = sse_field(line)
        if field == "event":
            name = value
        elif field == "data":
            datas.append(value)
    tail = "\n".join(lines[consumed:])
    return events, tail


def sse_json(data):
    events, tail = sse_parse(data)
    assert tail == "", f"unterminated event: {tail!r}"
    return [(n, d if d == "[DONE]" else json.loads(d)) for n, d in events]


def event_ends(data, sep):
    ends, pos = [], 0
    while True:
        i = data.find(sep, pos)
        if i < 0:
            return ends
        pos = i + len(sep)
        ends.append(pos)


def assert_split_inside_events(resp, sep):
    """Chunk boundaries fall inside events, not only between them."""
    assert len(resp.chunks) > 3
    bounds, pos = set(), 0
    for c in resp.chunks[:-1]:
        pos += len(c)
        bounds.add(pos)
    assert bounds - set(event_ends(resp.body, sep)), "every chunk ended on an event boundary"


# ---------------------------------------------------------------------------------------
# A provider table so the behaviour tests run against all three mocks.

class P:
    def __init__(self, name, stream_path, body, headers, sep, parse_text, non_stream_path=None,
                 non_stream_body=None):
        self.name = name
        self.stream_path = stream_path
        self.body = body
        self.headers = headers
        self.sep = sep
        self.parse_text = parse_text
        self.non_stream_path = non_stream_path or stream_path
        self.non_stream_body = non_stream_body or body


def _oa_text(data):
    return "".join(c["choices"][0]["delta"].get("content") or ""
                   for _, c in sse_json(data) if c != "[DONE]" and c.get("choices"))


def _an_text(data):
    return "".join(d["delta"].get("text", "") for n, d in sse_json(data)
                   if n == "content_block_delta")


def _gm_text(data):
    return "".join(p.get("text", "") for _, c in sse_json(data)
                   for p in c["candidates"][0]["content"]["parts"])


PROVIDERS = {
    "openai": P("openai", "/v1/chat/completions", dict(OA_CHAT, stream=True), OA_H, b"\n\n",
                _oa_text, non_stream_body=OA_CHAT),
    "anthropic": P("anthropic", "/v1/messages", dict(AN_MSG, stream=True), AN_H, b"\n\n",
                   _an_text, non_stream_body=AN_MSG),
    "gemini": P("gemini", GM_PATH + ":streamGenerateContent?alt=sse", GM_BODY, GM_H,
                b"\r\n\r\n", _gm_text, non_stream_path=GM_PATH + ":generateContent"),
}


@pytest.fixture(params=sorted(PROVIDERS))
def prov(request, oa, an, gm):
    mock = {"openai": oa, "anthropic": an, "gemini": gm}[request.param]
    return mock, PROVIDERS[request.param]


def stream(mock, p, **kw):
    return raw_request(mock, p.stream_path, p.body, p.headers, **kw)


def non_stream(mock, p, **kw):
    return requests.post(mock.url + p.non_stream_path, json=p.non_stream_body,
                         headers=p.headers, timeout=kw.pop("timeout", 5), **kw)


# ---------------------------------------------------------------------------------------
# shared behaviour (all providers)

def test_loopback_keepalive_and_recording(prov):
    mock, p = prov
    assert mock._server.server_address[0] == "127.0.0.1"
    with requests.Session() as s:
        for _ in range(2):
            r = s.post(mock.url + p.non_stream_path, json=p.non_stream_body, headers=p.headers,
                       timeout=5)
            assert r.status_code == 200, r.text
    a, b = mock.wait_for_requests(2, finished=True)
    assert a.client_address == b.client_address  # one TCP connection
    assert a.auth_ok and a.body == json.dumps(p.non_stream_body).encode()
    assert a.json == p.non_stream_body and a.completed and not a.client_disconnected


def test_stream_default_text_and_random_splits(prov):
    mock, p = prov
    resp = stream(mock, p)
    assert resp.status == 200 and resp.complete
    assert resp.headers["content-type"].startswith("text/event-stream")
    assert p.parse_text(resp.body) == "PONG"
    assert_split_inside_events(resp, p.sep)
    rec = mock.last_request.wait_done()
    assert rec.stream and rec.completed and rec.events_sent == len(event_ends(resp.body, p.sep))
    assert bytes(rec.stream_body) == resp.body


def test_script_fifo_strings_and_dicts(prov):
    mock, p = prov
    mock.script("one", {"text": "two"}, Reply(text="three", text_chunks=["th", "r", "ee"]))
    got = [p.parse_text(stream(mock, p).body) for _ in range(4)]
    assert got == ["one", "two", "three", "PONG"]
    assert mock.pending == 0
    assert [type(r.behaviour).__name__ for r in mock.requests] == ["Reply"] * 3 + ["NoneType"]


def test_stall_then_reply(prov):
    mock, p = prov
    mock.script(Stall(0.3))
    t0 = time.monotonic()
    assert non_stream(mock, p).status_code == 200
    assert time.monotonic() - t0 >= 0.3 and not mock.last_request.client_disconnected


def test_stall_client_gives_up(prov):
    mock, p = prov
    mock.script(Stall(30))
    t0 = time.monotonic()
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.post(mock.url + p.stream_path, json=p.body, headers=p.headers, timeout=0.3)
    rec = mock.wait_for_disconnect(timeout=3)
    assert rec.client_disconnected and rec.status is None
    rec.wait_done(2)
    assert time.monotonic() - t0 < 5


def test_stall_mid_stream(prov):
    mock, p = prov
    mock.script(Stall(0.3, after_events=1))
    t0 = time.monotonic()
    seen = []

    def on_chunk(resp):
        if not seen and len(event_ends(resp.body, p.sep)) >= 1:
            seen.append(time.monotonic() - t0)
    resp = stream(mock, p, on_chunk=on_chunk)
    assert resp.complete and seen[0] < 0.25 and time.monotonic() - t0 >= 0.3
    assert p.parse_text(resp.body) == "PONG"


@pytest.mark.parametrize("mid_event", [False, True])
def test_drop_mid_stream(prov, mid_event):
    mock, p = prov
    mock.script(DropMidStream(after_events=2, mid_event=mid_event,
                              reply=Reply(text_chunks=["a", "b", "c", "d"])))
    resp = stream(mock, p)
    assert resp.status == 200 and not resp.complete
    events, tail = sse_parse(resp.body)
    assert len(events) == 2 and (tail != "") == mid_event
    rec = mock.last_request.wait_done()
    assert rec.events_sent == 2 and not rec.completed
    mock.script(DropMidStream(after_events=1))
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        requests.post(mock.url + p.stream_path, json=p.body, headers=p.headers, timeout=5).content


def test_drop_rst_and_non_stream(prov):
    mock, p = prov
    mock.script(DropMidStream(after_events=1, rst=True), DropMidStream())
    assert not stream(mock, p).complete
    assert mock.last_request.wait_done().events_sent == 1
    resp = raw_request(mock, p.non_stream_path, p.non_stream_body, p.headers)
    assert resp.status == 200
    assert 0 < len(resp.body) < int(resp.headers["content-length"])


def test_slow_stream_and_client_cancel(prov):
    mock, p = prov
    mock.script(SlowStream(0.03, reply=Reply(text_chunks=["a", "b", "c"])))
    t0 = time.monotonic()
    resp = stream(mock, p)
    n = len(event_ends(resp.body, p.sep))
    assert resp.complete and time.monotonic() - t0 >= 0.03 * (n - 1)
    assert p.parse_text(resp.body) == "abc"
    mock.script(SlowStream(0.2))
    resp = stream(mock, p, on_chunk=lambda r: len(event_ends(r.body, p.sep)) >= 1)
    assert not resp.complete
    rec = mock.wait_for_disconnect(timeout=3)
    assert rec.client_disconnected and not rec.completed and rec.events_sent < n
    assert rec.wait_done(2).done.is_set()


def test_wait_for_requests_and_reset(prov):
    mock, p = prov
    non_stream(mock, p)
    assert len(mock.wait_for_requests(1, timeout=1, finished=True)) == 1
    with pytest.raises(TimeoutError):
        mock.wait_for_requests(2, timeout=0.1)
    mock.script(Error(500))
    mock.default_text = "X"
    mock.reset()
    assert mock.requests == [] and mock.pending == 0 and mock.default_text == "PONG"


def test_seeded_streams_are_reproducible():
    bodies = []
    for _ in range(2):
        with MockOpenAI(api_keys={OA_KEY}, seed=42, obfuscation=False) as m:
            r = raw_request(m, "/v1/chat/completions", dict(OA_CHAT, stream=True), OA_H)
            bodies.append([len(c) for c in r.chunks])
    assert bodies[0] == bodies[1]


# ---------------------------------------------------------------------------------------
# OpenAI

def oa_error(r, status, code=None, param=None, etype="invalid_request_error"):
    assert r.status_code == status, r.text
    assert r.headers["Content-Type"] == "application/json"
    err = r.json()["error"]
    assert set(err) == {"message", "type", "param", "code"}
    assert (err["type"], err["code"], err["param"]) == (etype, code, param), err
    return err["message"]


def test_openai_auth(oa):
    msg = oa_error(oa_post(oa, headers={}), 401)
    assert msg.startswith("You didn't provide an API key.")
    bad = "sk-proj-" + "Z" * 40 + "9876"
    msg = oa_error(oa_post(oa, headers={"Authorization": f"Bearer {bad}"}), 401, "invalid_api_key")
    assert msg == (f"Incorrect API key provided: sk-proj-{'*' * 40}9876. You can find your API "
                   "key at https://platform.openai.com/account/api-keys.")
    assert mask_key(bad) == f"sk-proj-{'*' * 40}9876"
    assert oa_error(oa_post(oa, headers=dict(OA_H, **{"OpenAI-Organization": "org-other"})),
                    401, "no_such_organization") == "No such organization: org-other."
    r = oa_post(oa, headers=dict(OA_H, **{"OpenAI-Organization": "org-pier"}))
    assert r.status_code == 200 and r.headers["openai-organization"] == "org-pier"
    recs = oa.requests
    assert [(x.auth, x.auth_ok) for x in recs] == [(None, False), ("bearer", False),
                                                  ("bearer", False), ("bearer", True)]
    assert recs[1].api_key == bad and recs[3].extra["organization"] == "org-pier"


def test_openai_non_stream_shape_and_passthrough(oa):
    raw = (b'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say PONG"}],'
           b'"temperature":0.25,"seed":7,"logit_bias":{"50256":-100}}')
    r = requests.post(oa.url + "/v1/chat/completions", data=raw,
                      headers=dict(OA_H, **{"Content-Type": "application/json"}), timeout=5)
    assert r.status_code == 200
    assert r.headers["x-request-id"].startswith("req_") and r.headers["openai-version"]
    body = r.json()
    assert list(body) == ["id", "object", "created", "model", "choices", "usage",
                          "service_tier", "system_fingerprint"]
    assert body["id"].startswith("chatcmpl-") and body["object"] == "chat.completion"
    assert body["model"] == "gpt-4o-mini" and body["system_fingerprint"].startswith("fp_")
    assert body["choices"] == [{"index": 0, "message": {
        "role": "assistant", "content": "PONG", "refusal": None, "annotations": []},
        "logprobs": None, "finish_reason": "stop"}]
    u = body["usage"]
    assert u["total_tokens"] == u["prompt_tokens"] + u["completion_tokens"]
    assert u["prompt_tokens_details"] == {"cached_tokens": 0, "audio_tokens": 0}
    assert set(u["completion_tokens_details"]) == {
        "reasoning_tokens", "audio_tokens", "accepted_prediction_tokens",
        "rejected_prediction_tokens"}
    rec = oa.last_request
    assert rec.body == raw and rec.model == "gpt-4o-mini" and rec.operation == "chat"


def test_openai_tool_calls_non_stream_and_n(oa):
    oa.script(Reply(tool_calls=[{"name": "get_weather", "input": {"city": "Paris"}},
                                {"name": "get_time", "arguments": '{"tz":"CET"}', "id": "call_x"}],
                    usage={"prompt_tokens": 11, "completion_tokens": 5}))
    body = oa_post(oa).json()
    msg = body["choices"][0]["message"]
    assert msg["content"] is None and body["choices"][0]["finish_reason"] == "tool_calls"
    a, b = msg["tool_calls"]
    assert a["id"].startswith("call_") and len(a["id"]) == 29 and a["type"] == "function"
    assert json.loads(a["function"]["arguments"]) == {"city": "Paris"}
    assert b == {"id": "call_x", "type": "function",
                 "function": {"name": "get_time", "arguments": '{"tz":"CET"}'}}
    assert body["usage"]["total_tokens"] == 16
    body = oa_post(oa, dict(OA_CHAT, n=3)).json()
    assert [c["index"] for c in body["choices"]] == [0, 1, 2]


def test_openai_stream_sequence_usage_and_obfuscation(oa):
    oa.script(Reply(text="Hello world", text_chunks=["Hel", "lo ", "world"]))
    resp = raw_request(oa, "/v1/chat/completions",
                       dict(OA_CHAT, stream=True, stream_options={"include_usage": True}), OA_H)
    evs = sse_json(resp.body)
    assert all(n is None for n, _ in evs) and evs[-1][1] == "[DONE]"
    chunks = [c for _, c in evs[:-1]]
    ids = {c["id"] for c in chunks}
    assert len(ids) == 1 and ids.pop().startswith("chatcmpl-")
    assert all(c["object"] == "chat.completion.chunk" and c["model"] == "gpt-4o-mini"
               and "obfuscation" in c for c in chunks)
    deltas = [c["choices"][0]["delta"] for c in chunks[:-1]]
    assert deltas == [{"role": "assistant", "content": "", "refusal": None},
                      {"content": "Hel"}, {"content": "lo "}, {"content": "world"}, {}]
    assert [c["choices"][0]["finish_reason"] for c in chunks[:-1]] == [None] * 4 + ["stop"]
    assert all(c["usage"] is None for c in chunks[:-1])
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] >= 1
    # no usage chunk, no obfuscation when asked
    resp = raw_request(oa, "/v1/chat/completions", dict(OA_CHAT, stream=True, stream_options={
        "include_obfuscation": False}), OA_H)
    chunks = [c for _, c in sse_json(resp.body)[:-1]]
    assert all("usage" not in c and "obfuscation" not in c for c in chunks)


def test_openai_stream_parallel_tool_calls(oa):
    oa.script(Reply(tool_calls=[
        {"name": "get_weather", "input": {"city": "Paris"}, "fragments": ['{"ci', 'ty": "Paris"}']},
        {"name": "get_time", "input": {"tz": "CET"}}]))
    resp = raw_request(oa, "/v1/chat/completions", dict(OA_CHAT, stream=True), OA_H)
    chunks = [c for _, c in sse_json(resp.body)[:-1]]
    first = chunks[0]["choices"][0]["delta"]
    assert first["role"] == "assistant" and first["content"] is None
    assert first["tool_calls"][0]["index"] == 0 and first["tool_calls"][0]["function"] == {
        "name": "get_weather", "arguments": ""}
    calls = {}
    for c in chunks:
        for tc in c["choices"][0]["delta"].get("tool_calls", []):
            slot = calls.setdefault(tc["index"], {"id": None, "name": None, "args": ""})
            if "id" in tc:
                assert slot["id"] is None and tc["type"] == "function"
                slot["id"], slot["name"] = tc["id"], tc["function"]["name"]
            slot["args"] += tc["function"].get("arguments", "")
    assert [calls[i]["name"] for i in (0, 1)] == ["get_weather", "get_time"]
    assert json.loads(calls[0]["args"]) == {"city": "Paris"}
    assert json.loads(calls[1]["args"]) == {"tz": "CET"}
    frag_deltas = [c["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"]
                   for c in chunks if "tool_calls" in c["choices"][0]["delta"]
                   and c["choices"][0]["delta"]["tool_calls"][0]["index"] == 0][1:]
    assert frag_deltas == ['{"ci', 'ty": "Paris"}']
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


TOOL_HIST = [{"role": "user", "content": "weather?"},
             {"role": "assistant", "content": None, "tool_calls": [
                 {"id": "call_1", "type": "function",
                  "function": {"name": "w", "arguments": "{}"}},
                 {"id": "call_2", "type": "function",
                  "function": {"name": "w", "arguments": "{}"}}]},
             {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
             {"role": "tool", "tool_call_id": "call_2", "content": "rainy"}]


@pytest.mark.parametrize("body,code,param,needle", [
    ({"messages": [{"role": "user", "content": "x"}]}, None, None,
     "you must provide a model parameter"),
    ({"model": "gpt-4o"}, "missing_required_parameter", "messages",
     "Missing required parameter: 'messages'."),
    ({"model": "gpt-4o", "messages": []}, "empty_array", "messages",
     "Invalid 'messages': empty array. Expected an array with minimum length 1"),
    ({"model": "gpt-4o", "messages": [{"role": "robot", "content": "x"}]}, "invalid_value",
     "messages[0].role", "Invalid value: 'robot'. Supported values are: 'system', 'assistant', "
     "'user', 'function', 'tool', and 'developer'."),
    ({"model": "gpt-4o", "messages": [{"role": "user"}]}, "missing_required_parameter",
     "messages[0].content", "Missing required parameter: 'messages[0].content'."),
    ({"model": "gpt-4o", "messages": TOOL_HIST[:3] + [{"role": "tool", "content": "x"}]}, None,
     "messages.[3].tool_call_id", "Missing parameter 'tool_call_id': messages with role 'tool' "
     "must have a 'tool_call_id'."),
    ({"model": "gpt-4o", "messages": [TOOL_HIST[0], TOOL_HIST[2]]}, None, "messages.[1].role",
     "Invalid parameter: messages with role 'tool' must be a response to a preceeding message "
     "with 'tool_calls'."),
    ({"model": "gpt-4o", "messages": TOOL_HIST[:3] + [{"role": "user", "content": "?"}]}, None,
     "messages.[1].role", "The following tool_call_ids did not have response messages: call_2"),
    ({"model": "gpt-4o", "messages": [{"role": "assistant"}]}, None, "messages.[0].content",
     "Invalid value for 'content': expected a string, got null."),
    (dict(OA_CHAT, n=0), "integer_below_min_value", "n",
     "Invalid 'n': integer below minimum value. Expected a value >= 1, but got 0 instead."),
    (dict(OA_CHAT, temperature=3), "decimal_above_max_value", "temperature",
     "Invalid 'temperature': decimal above maximum value. Expected a value <= 2, but got 3"),
    (dict(OA_CHAT, stream="yes"), "invalid_type", "stream",
     "Invalid type for 'stream': expected a boolean, but got a string instead."),
    (dict(OA_CHAT, stream_options={"include_usage": True}), None, "stream_options",
     "The 'stream_options' parameter is only allowed when 'stream' is enabled."),
    (dict(OA_CHAT, tool_choice="auto"), None, "tool_choice",
     "'tool_choice' is only allowed when 'tools' are specified."),
    (dict(OA_CHAT, tools=[{"type": "function", "function": {"name": "bad name"}}]),
     "invalid_value", "tools[0].function.name", "string does not match pattern"),
    (dict(OA_CHAT, frobnicate=1), None, None, "Unrecognized request argument supplied: frobnicate"),
    (dict(OA_CHAT, model="o4-mini", max_tokens=10), "unsupported_parameter", "max_tokens",
     "Unsupported parameter: 'max_tokens' is not supported with this model. Use "
     "'max_completion_tokens' instead."),
    (dict(OA_CHAT, model="gpt-5", temperature=0.2), "unsupported_value", "temperature",
     "Unsupported value: 'temperature' does not support 0.2 with this model. Only the default "
     "(1) value is supported."),
    ({"model": "gpt-4o", "messages": [{"role": "user", "content": [{"type": "video"}]}]},
     "invalid_value", "messages[0].content[0].type", "Invalid value: 'video'."),
])
def test_openai_validation(oa, body, code, param, needle):
    msg = oa_error(oa_post(oa, body), 400, code, param)
    assert needle in msg
    assert oa.pending == 0 and oa.last_request.behaviour is None


def test_openai_valid_history_and_bad_json(oa):
    assert oa_post(oa, {"model": "gpt-4o", "messages": TOOL_HIST + [
        {"role": "assistant", "content": "done"}, {"role": "user", "content": [
            {"type": "text", "text": "look"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}]}],
        "tools": [{"type": "function", "function": {"name": "w", "parameters": {}}}],
        "tool_choice": {"type": "function", "function": {"name": "w"}}}).status_code == 200
    r = requests.post(oa.url + "/v1/chat/completions", data=b"{nope", headers=OA_H, timeout=5)
    assert oa_error(r, 400).startswith("We could not parse the JSON body of your request.")
    r = requests.post(oa.url + "/v1/chat/completion", json=OA_CHAT, headers=OA_H, timeout=5)
    assert oa_error(r, 404) == "Invalid URL (POST /v1/chat/completion)"


def test_openai_scripted_errors(oa):
    oa.script(Error(401), Error("model_not_found"), Error("rate_limit_exceeded", retry_after=2),
              Error(500), Error(503), Error("context_length_exceeded", tokens=130000,
                                            limit=128000),
              Error("insufficient_quota"), Error(418, message="teapot", body={"odd": True}))
    assert oa_error(oa_post(oa), 401, "invalid_api_key").startswith("Incorrect API key provided")
    assert oa_error(oa_post(oa), 404, "model_not_found") == (
        "The model `gpt-4o-mini` does not exist or you do not have access to it.")
    r = oa_post(oa)
    msg = oa_error(r, 429, "rate_limit_exceeded", etype="tokens")
    assert r.headers["Retry-After"] == "2" and "Please try again in 2s." in msg
    assert msg.startswith("Rate limit reached for gpt-4o-mini in organization ")
    assert oa_error(oa_post(oa), 500, etype="server_error") == (
        "The server had an error while processing your request. Sorry about that!")
    assert "overloaded" in oa_error(oa_post(oa), 503, etype="server_error")
    assert oa_error(oa_post(oa), 400, "context_length_exceeded", "messages") == (
        "This model's maximum context length is 128000 tokens. However, your messages resulted "
        "in 130000 tokens. Please reduce the length of the messages.")
    oa_error(oa_post(oa), 429, "insufficient_quota", etype="insufficient_quota")
    r = oa_post(oa)
    assert r.status_code == 418 and r.json() == {"odd": True}
    assert [x.error_type for x in oa.requests][:3] == ["invalid_api_key", "model_not_found",
                                                      "rate_limit_exceeded"]


def test_openai_limits_models_and_prefix():
    with MockOpenAI(api_keys=None, path_prefix="/api/v1", models=["m-small"],
                    context_window={"m-small": 5}, obfuscation=False) as m:
        h = {"Authorization": "Bearer anything"}
        r = requests.post(m.url + "/api/v1/chat/completions", json=dict(OA_CHAT, model="m-big"),
                          headers=h, timeout=5)
        assert oa_error(r, 404, "model_not_found").startswith("The model `m-big` does not exist")
        long = {"model": "m-small", "messages": [{"role": "user", "content": "a b c d e f g"}]}
        r = requests.post(m.url + "/api/v1/chat/completions", json=long, headers=h, timeout=5)
        assert oa_error(r, 400, "context_length_exceeded", "messages") == (
            "This model's maximum context length is 5 tokens. However, your messages resulted "
            "in 7 tokens. Please reduce the length of the messages.")
        r = requests.get(m.url + "/api/v1/models", headers=h, timeout=5)
        assert r.json() == {"object": "list", "data": [
            {"id": "m-small", "object": "model", "created": 1686935002, "owned_by": "openai"}]}
        assert requests.get(m.url + "/api/v1/models/m-small", headers=h,
                            timeout=5).json()["id"] == "m-small"
        assert m.pending == 0 and all(x.behaviour is None for x in m.requests)


def test_openai_stream_error_event(oa):
    oa.script(StreamError("server_error", after_events=2, message="boom"))
    evs = sse_json(raw_request(oa, "/v1/chat/completions", dict(OA_CHAT, stream=True), OA_H).body)
    assert len(evs) == 3 and evs[-1][1] == {"error": {
        "message": "boom", "type": "server_error", "param": None, "code": None}}
    oa.script(StreamError(after_events=1))
    oa_error(oa_post(oa), 500, etype="server_error")


def test_openai_embeddings(oa):
    r = oa_post(oa, {"model": "text-embedding-3-small", "input": ["hello", "world"]},
                path="/v1/embeddings")
    body = r.json()
    assert list(body) == ["object", "data", "model", "usage"] and body["object"] == "list"
    assert [d["index"] for d in body["data"]] == [0, 1]
    assert all(d["object"] == "embedding" and len(d["embedding"]) == 1536 for d in body["data"])
    assert body["data"][0]["embedding"] == embedding_vector("hello", 1536)
    assert body["usage"] == {"prompt_tokens": 2, "total_tokens": 2}
    again = oa_post(oa, {"model": "text-embedding-3-small", "input": "hello"},
                    path="/v1/embeddings").json()
    assert again["data"][0]["embedding"] == body["data"][0]["embedding"]
    small = oa_post(oa, {"model": "text-embedding-3-large", "input": "hello", "dimensions": 8,
                         "encoding_format": "base64"}, path="/v1/embeddings").json()
    vec = struct.unpack("<8f", base64.b64decode(small["data"][0]["embedding"]))
    assert vec == pytest.approx(embedding_vector("hello", 8), abs=1e-6)
    assert abs(sum(v * v for v in vec) - 1) < 1e-4
    tokens = oa_post(oa, {"model": "text-embedding-3-small", "input": [[1, 2, 3]]},
                     path="/v1/embeddings").json()
    assert tokens["usage"]["prompt_tokens"] == 3
    for bad, needle in [({"model": "text-embedding-3-small", "input": ""}, "'$.input' is invalid"),
                        ({"model": "text-embedding-ada-002", "input": "x", "dimensions": 8},
                         "This model does not support specifying dimensions.")]:
        assert needle in oa_error(oa_post(oa, bad, path="/v1/embeddings"), 400)
    oa.script(Error(429))
    assert oa_post(oa, {"model": "text-embedding-3-small", "input": "x"},
                   path="/v1/embeddings").status_code == 429


# ---------------------------------------------------------------------------------------
# Anthropic

def an_error(r, status, etype, message=None):
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"type", "error", "request_id"} and body["type"] == "error"
    assert body["request_id"] == r.headers["request-id"] and body["request_id"].startswith("req_")
    assert body["error"]["type"] == etype
    if message is not None:
        assert body["error"]["message"] == message
    return body["error"]["message"]


def test_anthropic_auth_and_version(an):
    an_error(an_post(an, headers={"anthropic-version": "2023-06-01"}), 401,
             "authentication_error", "x-api-key header is required")
    an_error(an_post(an, headers=dict(AN_H, **{"x-api-key": "nope"})), 401,
             "authentication_error", "invalid x-api-key")
    bearer = {"Authorization": f"Bearer {AN_TOKEN}", "anthropic-version": "2023-06-01"}
    assert an_post(an, headers=bearer).status_code == 200
    an_error(an_post(an, headers=dict(bearer, Authorization="Bearer nope")), 401,
             "authentication_error")
    an_error(an_post(an, headers={"x-api-key": AN_KEY}), 400, "invalid_request_error",
             "anthropic-version: header is required")
    an_error(an_post(an, headers=dict(AN_H, **{"anthropic-version": "2024-13-01"})), 400,
             "invalid_request_error", 'anthropic-version: "2024-13-01" is not a valid version')
    r = an_post(an, headers=dict(AN_H, **{"anthropic-beta": "a-2025, b-2025"}))
    assert r.status_code == 200
    recs = an.requests
    assert [x.auth for x in recs] == [None, "x-api-key", "bearer", "bearer", "x-api-key",
                                      "x-api-key", "x-api-key"]
    assert recs[2].api_key == AN_TOKEN and recs[-1].extra["betas"] == ["a-2025", "b-2025"]


def test_anthropic_non_stream_shape(an):
    an.script(Reply(text="Let me check.", reasoning="user wants weather",
                    tool_calls=[{"name": "get_weather", "input": {"city": "Paris"}}],
                    usage={"cache_read_input_tokens": 7}))
    r = an_post(an)
    body = r.json()
    assert list(body) == ["id", "type", "role", "model", "content", "stop_reason",
                          "stop_sequence", "usage"]
    assert body["id"].startswith("msg_01") and body["type"] == "message"
    assert body["model"] == "claude-sonnet-4-5-20250929" and body["stop_reason"] == "tool_use"
    think, text, tool = body["content"]
    assert think["type"] == "thinking" and think["thinking"] == "user wants weather"
    assert think["signature"]
    assert text == {"type": "text", "text": "Let me check."}
    assert tool["type"] == "tool_use" and tool["id"].startswith("toolu_01")
    assert tool["input"] == {"city": "Paris"} and tool["name"] == "get_weather"
    u = body["usage"]
    assert set(u) >= {"input_tokens", "output_tokens", "cache_creation_input_tokens",
                      "cache_read_input_tokens", "cache_creation", "service_tier"}
    assert u["cache_read_input_tokens"] == 7 and body["stop_sequence"] is None
    assert r.headers["request-id"].startswith("req_011C")
    an.script(Reply(text="x", finish_reason="stop_sequence", stop_sequence="###"))
    body = an_post(an).json()
    assert (body["stop_reason"], body["stop_sequence"]) == ("stop_sequence", "###")


def test_anthropic_stream_sequence(an):
    an.script(Reply(text="Hi there", text_chunks=["Hi", " there"], reasoning="hmm",
                    tool_calls=[{"name": "ls", "input": {"path": "/"}},
                                {"name": "pwd", "input": {}}]))
    resp = raw_request(an, "/v1/messages", dict(AN_MSG, stream=True), AN_H)
    assert resp.headers["content-type"] == "text/event-stream; charset=utf-8"
    evs = sse_json(resp.body)
    assert all(n == d["type"] for n, d in evs)
    names = [n for n, _ in evs]
    assert names[0] == "message_start" and names[1] == "content_block_start"
    assert names[2] == "ping" and names[-2:] == ["message_delta", "message_stop"]
    assert b'data: {"type": "ping"}' in resp.body
    start = evs[0][1]["message"]
    assert start["content"] == [] and start["stop_reason"] is None
    assert start["model"] == AN_MSG["model"]
    blocks = {}
    for n, d in evs:
        if n == "content_block_start":
            blocks[d["index"]] = dict(d["content_block"], _json="")
        elif n == "content_block_delta":
            b, delta = blocks[d["index"]], d["delta"]
            if delta["type"] == "text_delta":
                b["text"] += delta["text"]
            elif delta["type"] == "thinking_delta":
                b["thinking"] += delta["thinking"]
            elif delta["type"] == "signature_delta":
                b["signature"] += delta["signature"]
            elif delta["type"] == "input_json_delta":
                b["_json"] += delta["partial_json"]
    assert [b["type"] for b in blocks.values()] == ["thinking", "text", "tool_use", "tool_use"]
    assert blocks[0]["thinking"] == "hmm" and blocks[0]["signature"]
    assert blocks[1]["text"] == "Hi there"
    assert json.loads(blocks[2]["_json"]) == {"path": "/"} and blocks[3]["_json"] == "{}"
    md = evs[-2][1]
    assert md["delta"] == {"stop_reason": "tool_use", "stop_sequence": None}
    assert md["usage"]["output_tokens"] >= 1
    stops = [d["index"] for n, d in evs if n == "content_block_stop"]
    assert stops == [0, 1, 2, 3]


def an_body(messages, **kw):
    return dict({"model": "claude-sonnet-4-5-20250929", "max_tokens": 100,
                 "messages": messages}, **kw)


U = {"role": "user", "content": "hi"}
TU = {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "ls",
                                        "input": {}}]}
TR = {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1",
                                   "content": "ok"}]}


@pytest.mark.parametrize("body,message", [
    ({"model": "c", "messages": [U]}, "max_tokens: Field required"),
    (an_body([]), "messages: at least one message is required"),
    (an_body([{"role": "system", "content": "x"}]),
     "messages.0.role: Input should be 'user' or 'assistant'"),
    (an_body([U, TU, {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "toolu_9", "content": "x"}]}]),
     "messages.2.content.0: unexpected `tool_use_id` found in `tool_result` blocks: toolu_9. "
     "Each `tool_result` block must have a corresponding `tool_use` block in the previous "
     "message."),
    (an_body([U, TU, U]), "messages.1: `tool_use` ids were found without `tool_result` blocks "
                          "immediately after: toolu_1. Each `tool_use` block must have a "
                          "corresponding `tool_result` block in the next message."),
    (an_body([U, {"role": "user", "content": ""}]),
     "messages.1: all messages must have non-empty content except for the optional final "
     "assistant message"),
    (an_body([{"role": "user", "content": [{"type": "text", "text": "  "}]}]),
     "messages: text content blocks must contain non-whitespace text"),
    (an_body([U, {"role": "assistant", "content": "Sure "}]),
     "messages: final assistant content cannot end with trailing whitespace"),
    (an_body([{"role": "user", "content": [{"type": "image", "source": {
        "type": "base64", "media_type": "image/bmp", "data": "AAAA"}}]}]),
     "messages.0.content.0.image.source.base64.media_type: Input should be 'image/jpeg', "
     "'image/png', 'image/gif' or 'image/webp'"),
    (an_body([{"role": "user", "content": [{"type": "image", "source": {
        "type": "base64", "media_type": "image/png", "data": "not base64!"}}]}]),
     "messages.0.content.0.image.source.base64.data: Input should be a valid base64 string"),
    (an_body([{"role": "user", "content": [{"type": "video"}]}]),
     "messages.0.content.0: Input tag 'video' found using 'type' does not match any of the "
     "expected tags: " + ", ".join(f"'{t}'" for t in (
         "text", "image", "document", "search_result", "tool_use", "tool_result", "thinking",
         "redacted_thinking", "server_tool_use", "web_search_tool_result",
         "web_fetch_tool_result", "code_execution_tool_result", "mcp_tool_use",
         "mcp_tool_result", "container_upload"))),
    (an_body([U], system=[{"type": "image"}]), "system.0.type: Input should be 'text'"),
    (an_body([U], tool_choice={"type": "some"}),
     "tool_choice: Input tag 'some' found using 'type' does not match any of the expected "
     "tags: 'auto', 'any', 'tool', 'none'"),
    (an_body([U], tools=[{"name": "x"}]), "tools.0.custom.input_schema: Field required"),
    (an_body([U], temperature=1.5), "temperature: Input should be less than or equal to 1"),
    (an_body([U], thinking={"type": "enabled", "budget_tokens": 4000}),
     "`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our "
     "documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking"
     "#max-tokens-and-context-window-size"),
    (an_body([U], frobnicate=1), "frobnicate: Extra inputs are not permitted"),
])
def test_anthropic_validation(an, body, message):
    an_error(an_post(an, body), 400, "invalid_request_error", message)
    assert an.last_request.behaviour is None


def test_anthropic_accepts_merged_turns_and_media(an):
    ok = [
        an_body([U, U, {"role": "assistant", "content": "a"}, {"role": "assistant",
                                                              "content": "b"}, U]),
        an_body([{"role": "assistant", "content": "I start"}, U]),
        an_body([U, TU, {"role": "user", "content": "note"}, TR]),  # merged user turn
        an_body([U, {"role": "assistant", "content": ""}]),  # empty final prefill
        an_body([{"role": "user", "content": [
            {"type": "image", "source": {"type": "url", "url": "https://x/y.png"}},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                         "data": "iVBORw0KGgo="}},
            {"type": "text", "text": "what?"}]}],
            system=[{"type": "text", "text": "be brief", "cache_control": {"type": "ephemeral"}}],
            tools=[{"name": "ls", "input_schema": {"type": "object"}},
                   {"type": "web_search_20250305", "name": "web_search"}],
            tool_choice={"type": "tool", "name": "ls"},
            thinking={"type": "enabled", "budget_tokens": 1024}, max_tokens=2048),
    ]
    for body in ok:
        r = an_post(an, body)
        assert r.status_code == 200, (body, r.text)


def test_anthropic_scripted_errors(an):
    table = [("invalid_request_error", 400), ("authentication_error", 401),
             ("billing_error", 402), ("permission_error", 403), ("not_found_error", 404),
             ("request_too_large", 413), ("rate_limit_error", 429), ("api_error", 500),
             ("timeout_error", 504), ("overloaded_error", 529)]
    an.script(*[Error(k) for k, _ in table])
    for kind, status in table:
        r = an_post(an)
        msg = an_error(r, status, kind)
        if status == 429:
            assert r.headers["retry-after"] == "1"
    assert an.requests[4].error_message == "model: claude-sonnet-4-5-20250929"
    assert an.requests[-1].error_message == "Overloaded"
    an.script(Error(429, retry_after=17), Error("prompt_too_long", tokens=210000, limit=200000))
    assert an_post(an).headers["retry-after"] == "17"
    an_error(an_post(an), 400, "invalid_request_error",
             "prompt is too long: 210000 tokens > 200000 maximum")
    assert msg


def test_anthropic_limits_and_models():
    with MockAnthropic(api_keys=None, models=["claude-a"], context_window=5,
                       max_output_tokens=64) as m:
        h = {"x-api-key": "any", "anthropic-version": "2023-06-01"}
        an_error(an_post(m, an_body([U]), headers=h), 404, "not_found_error",
                 "model: claude-sonnet-4-5-20250929")
        an_error(an_post(m, an_body([U], model="claude-a", max_tokens=100), headers=h), 400,
                 "invalid_request_error", "max_tokens: 100 > 64, which is the maximum allowed "
                                          "number of output tokens for claude-a")
        long = an_body([{"role": "user", "content": "a b c d e f g"}], model="claude-a",
                       max_tokens=10)
        an_error(an_post(m, long, headers=h), 400, "invalid_request_error",
                 "prompt is too long: 7 tokens > 5 maximum")
        r = requests.get(m.url + "/v1/models", headers=h, timeout=5).json()
        assert [x["id"] for x in r["data"]] == ["claude-a"] and r["has_more"] is False


def test_anthropic_stream_error_and_count_tokens(an):
    an.script(StreamError("overloaded_error", after_events=3), Reply(text="after"))
    evs = sse_json(raw_request(an, "/v1/messages", dict(AN_MSG, stream=True), AN_H).body)
    assert [n for n, _ in evs] == ["message_start", "content_block_start", "ping", "error"]
    assert evs[-1][1] == {"type": "error", "error": {"type": "overloaded_error",
                                                     "message": "Overloaded"}}
    r = an_post(an, {"model": "claude-x", "system": "be brief",
                     "messages": [{"role": "user", "content": "one two three"}]},
                path="/v1/messages/count_tokens")
    assert r.json() == {"input_tokens": 5} and an.pending == 1  # not scripted
    assert an_post(an).json()["content"][0]["text"] == "after"
    r = requests.post(an.url + "/v1/nothing", json={}, headers=AN_H, timeout=5)
    an_error(r, 404, "not_found_error", "Not Found")


# ---------------------------------------------------------------------------------------
# Gemini

def gm_error(r, status, rpc, message=None):
    assert r.status_code == status, r.text
    assert r.headers["Content-Type"] == "application/json; charset=UTF-8"
    err = r.json()["error"]
    assert err["code"] == status and err["status"] == rpc
    if message is not None:
        assert err["message"] == message
    return err


def test_gemini_auth(gm):
    assert gm_post(gm).status_code == 200
    r = requests.post(f"{gm.url}{GM_PATH}:generateContent?key={GM_KEY}", json=GM_BODY, timeout=5)
    assert r.status_code == 200
    err = gm_error(gm_post(gm, headers={"x-goog-api-key": "AIzaWrong"}), 400, "INVALID_ARGUMENT",
                   "API key not valid. Please pass a valid API key.")
    assert err["details"] == [
        {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
         "domain": "googleapis.com",
         "metadata": {"service": "generativelanguage.googleapis.com"}},
        {"@type": "type.googleapis.com/google.rpc.LocalizedMessage", "locale": "en-US",
         "message": "API key not valid. Please pass a valid API key."}]
    gm_error(gm_post(gm, headers={}), 403, "PERMISSION_DENIED")
    assert [x.auth for x in gm.requests] == ["x-goog-api-key", "query-key", "x-goog-api-key", None]
    assert gm.requests[1].api_key == GM_KEY and gm.requests[2].error_type == "API_KEY_INVALID"


def test_gemini_non_stream_shape(gm):
    gm.script(Reply(text="Checking", reasoning="think",
                    tool_calls=[{"name": "get_weather", "input": {"city": "Paris"}}]))
    body = gm_post(gm).json()
    assert list(body) == ["candidates", "usageMetadata", "modelVersion", "responseId"]
    cand = body["candidates"][0]
    assert cand["finishReason"] == "STOP" and cand["index"] == 0
    assert cand["content"]["role"] == "model"
    thought, text, call = cand["content"]["parts"]
    assert thought == {"text": "think", "thought": True} and text == {"text": "Checking"}
    assert call["functionCall"] == {"name": "get_weather", "args": {"city": "Paris"}}
    assert call["thoughtSignature"]
    u = body["usageMetadata"]
    assert u["totalTokenCount"] == u["promptTokenCount"] + u["candidatesTokenCount"] + \
        u["thoughtsTokenCount"]
    assert u["promptTokensDetails"] == [{"modality": "TEXT", "tokenCount": 2}]
    assert body["modelVersion"] == "gemini-2.5-flash" and len(body["responseId"]) == 22
    gm.script(Reply(text="cut", finish_reason="MAX_TOKENS"))
    assert gm_post(gm).json()["candidates"][0]["finishReason"] == "MAX_TOKENS"


def test_gemini_sse_stream(gm):
    gm.script(Reply(text="Hello there world", text_chunks=["Hello", " there", " world"]))
    resp = raw_request(gm, GM_PATH + ":streamGenerateContent?alt=sse", GM_BODY, GM_H)
    assert resp.headers["content-type"] == "text/event-stream"
    assert resp.body.count(b"\r\n\r\n") == 3 and b"\n\n" not in resp.body.replace(
        b"\r\n\r\n", b"")
    evs = [d for _, d in sse_json(resp.body)]
    texts = [e["candidates"][0]["content"]["parts"][0]["text"] for e in evs]
    assert texts == ["Hello", " there", " world"]
    assert [e["candidates"][0].get("finishReason") for e in evs] == [None, None, "STOP"]
    assert "candidatesTokenCount" not in evs[0]["usageMetadata"]
    assert evs[-1]["usageMetadata"]["candidatesTokenCount"] == 3
    assert len({e["responseId"] for e in evs}) == 1
    assert b'"candidates": [{"content": {"parts": [{"text": "Hello"}],"role": "model"}' \
        in resp.body
    gm.script(Reply(text="", tool_calls=[{"name": "a", "input": {"x": 1}},
                                         {"name": "b", "input": {}}]))
    evs = [d for _, d in sse_json(raw_request(gm, GM_PATH + ":streamGenerateContent?alt=sse",
                                              GM_BODY, GM_H).body)]
    assert len(evs) == 1
    assert [p["functionCall"]["name"] for p in evs[0]["candidates"][0]["content"]["parts"]] == \
        ["a", "b"]
    # Without alt=sse: one JSON array, streamed.
    r = gm_post(gm, method="streamGenerateContent")
    arr = json.loads(r.text)
    assert isinstance(arr, list) and "".join(
        e["candidates"][0]["content"]["parts"][0]["text"] for e in arr) == "PONG"


GM_CALL = {"role": "model", "parts": [{"functionCall": {"name": "f", "args": {}}},
                                      {"functionCall": {"name": "g", "args": {}}}]}
GM_RESP = {"role": "user", "parts": [{"functionResponse": {"name": "f", "response": {}}},
                                     {"functionResponse": {"name": "g", "response": {}}}]}
GM_USER = {"role": "user", "parts": [{"text": "hi"}]}


@pytest.mark.parametrize("body,message", [
    ({}, "* GenerateContentRequest.contents: contents is not specified\n"),
    ({"contents": [{"role": "system", "parts": [{"text": "x"}]}]},
     "Please use a valid role: user, model."),
    ({"contents": [{"role": "user", "parts": []}]},
     "* GenerateContentRequest.contents[0].parts: contents.parts must not be empty.\n"),
    ({"contents": [{"role": "user", "parts": [{}]}]},
     "* GenerateContentRequest.contents[0].parts[0].data: required oneof field 'data' must "
     "have one initialized field\n"),
    ({"contents": [GM_USER, GM_RESP]},
     "Please ensure that function response turn comes immediately after a function call turn."),
    ({"contents": [GM_USER, GM_CALL, dict(GM_RESP, parts=GM_RESP["parts"][:1])]},
     "Please ensure that the number of function response parts is equal to the number of "
     "function call parts of the function call turn."),
    ({"contents": [GM_CALL, GM_RESP]},
     "Please ensure that function call turn comes immediately after a user turn or after a "
     "function response turn."),
    (dict(GM_BODY, generationConfig={"temperature": 2.5}),
     "* GenerateContentRequest.generation_config.temperature: temperature must be in the range "
     "[0.0, 2.0]\n"),
    (dict(GM_BODY, frobnicate=1),
     'Invalid JSON payload received. Unknown name "frobnicate": Cannot find field.'),
    (dict(GM_BODY, generationConfig={"frob": 1}),
     "Invalid JSON payload received. Unknown name \"frob\" at 'generation_config': Cannot find "
     "field."),
])
def test_gemini_validation(gm, body, message):
    gm_error(gm_post(gm, body), 400, "INVALID_ARGUMENT", message)
    assert gm.last_request.behaviour is None


def test_gemini_accepts_valid_history_and_snake_case(gm):
    body = {"contents": [GM_USER, GM_CALL, GM_RESP, {"role": "model", "parts": [{"text": "ok"}]},
                         {"parts": [{"text": "next"}]}],
            "system_instruction": {"parts": [{"text": "be brief"}]},
            "generation_config": {"max_output_tokens": 10, "temperature": 0.2,
                                  "thinkingConfig": {"thinkingBudget": 0}},
            "tools": [{"functionDeclarations": [{"name": "f", "parameters": {}}]}]}
    assert gm_post(gm, body).status_code == 200


def test_gemini_scripted_errors(gm):
    gm.script(Error("RESOURCE_EXHAUSTED", retry_after=7), Error(500), Error("UNAVAILABLE"),
              Error(404), Error("CONTEXT_TOO_LONG", tokens=1200000, limit=1048576))
    err = gm_error(gm_post(gm), 429, "RESOURCE_EXHAUSTED")
    assert err["message"].startswith("You exceeded your current quota")
    assert {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "7s"} in \
        err["details"]
    gm_error(gm_post(gm), 500, "INTERNAL", "An internal error has occurred. Please retry or "
             "report in https://developers.generativeai.google/guide/troubleshooting")
    gm_error(gm_post(gm), 503, "UNAVAILABLE", "The model is overloaded. Please try again later.")
    gm_error(gm_post(gm), 404, "NOT_FOUND", "models/gemini-2.5-flash is not found for API "
             "version v1beta, or is not supported for generateContent. Call ListModels to see "
             "the list of available models and their supported methods.")
    gm_error(gm_post(gm), 400, "INVALID_ARGUMENT", "The input token count (1200000) exceeds the "
             "maximum number of tokens allowed (1048576).")


def test_gemini_limits_models_and_stream_error():
    with MockGemini(api_keys=None, models=["gemini-x"], context_window=3) as m:
        h = {"x-goog-api-key": "any"}
        gm_error(gm_post(m, headers=h), 404, "NOT_FOUND")
        long = {"contents": [{"parts": [{"text": "a b c d"}]}]}
        gm_error(gm_post(m, long, headers=h, model_path="/v1beta/models/gemini-x"), 400,
                 "INVALID_ARGUMENT", "The input token count (4) exceeds the maximum number of "
                 "tokens allowed (3).")
        r = requests.get(m.url + "/v1beta/models", headers=h, timeout=5).json()
        assert [x["name"] for x in r["models"]] == ["models/gemini-x"]
        m.script(StreamError("UNAVAILABLE", after_events=1, reply=Reply(text_chunks=["a", "b"])))
        evs = sse_json(raw_request(m, "/v1beta/models/gemini-x:streamGenerateContent?alt=sse",
                                   GM_BODY, h).body)
        assert len(evs) == 2 and evs[-1][1]["error"]["status"] == "UNAVAILABLE"


def test_gemini_embeddings_and_count_tokens(gm):
    path = "/v1beta/models/gemini-embedding-001"
    req = {"model": "models/gemini-embedding-001", "content": {"parts": [{"text": "hello"}]}}
    r = gm_post(gm, {"requests": [req, dict(req, outputDimensionality=16)]},
                method="batchEmbedContents", model_path=path)
    e1, e2 = r.json()["embeddings"]
    assert len(e1["values"]) == 3072 and e1["values"] == gemini_embedding("hello", 3072)
    assert e2["values"] == e1["values"][:16]
    again = gm_post(gm, {"content": {"parts": [{"text": "hello"}]}}, method="embedContent",
                    model_path=path).json()
    assert again == {"embedding": {"values": e1["values"]}}
    gm_error(gm_post(gm, {"requests": [dict(req, model="models/other")]},
                     method="batchEmbedContents", model_path=path), 400, "INVALID_ARGUMENT")
    r = gm_post(gm, {"contents": [{"parts": [{"text": "one two three"}]}]}, method="countTokens")
    assert r.json() == {"totalTokens": 3,
                        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 3}]}
    assert gm.last_request.behaviour is None
