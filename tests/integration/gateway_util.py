"""Shared plumbing of the gateway tests (test_gateway_*.py): one mock Bedrock and
one pier per module, a collection "acme" whose environment points at the mock with
a Bedrock API key, a collection key for it, and strict readers for OpenAI bodies
and SSE streams (read event by event, with deadlines, never with sleeps).

Invariant: at module teardown pier's stderr holds none of the credential strings
of this file (pier runs with --log-level debug so every log line is exercised).
"""

import http.client
import json
import re
import time

import pytest

from conftest import PierServer
from mocks.bedrock import MockBedrock

# Credentials known to the mock. Distinctive strings so a leak is easy to spot.
TOKEN = "ABSKR2F0ZXdheVRlc3RCZWFyZXJUb2tlbi0wMQ=="
AKID, SECRET = "AKIAGATEWAYTEST00001", "gwSecret/0123456789abcdefGHIJKLMNOPQRSTu"
AKID_STS, SECRET_STS = "ASIAGATEWAYTEST00002", "stsSecret/abcdefghij0123456789KLMNOPQRS"
STS_TOKEN = "IQoJb3JpZ2luX2VjGatewaySessionToken0123456789abcdefXYZ"
SECRETS = (TOKEN, SECRET, SECRET_STS, STS_TOKEN)

SONNET = "us.anthropic.claude-sonnet-4-6"
COLLECTION = "acme"
CHATCMPL_ID = re.compile(r"chatcmpl-[A-Za-z0-9]+")
ERROR_KEYS = {"message", "type", "code", "param"}

# Every env var a test may set: a reset deletes the ones it does not set again.
ENV_NAMES = ("AWS_BEARER_TOKEN_BEDROCK", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
             "AWS_REGION", "AWS_REGION_NAME", "AWS_DEFAULT_REGION", "AWS_BEDROCK_RUNTIME_ENDPOINT")

FAST_ARGS = ["--log-level", "debug", "--upstream-retry-base-ms", "10"]


class Gateway:
    """pier + mock Bedrock + collection + key, shared by the tests of one module."""

    def __init__(self, args=(), mock_kwargs=None, threads=2, mock=None):
        self.own_mock = mock is None
        if mock is None:
            kw = {"bearer_tokens": {TOKEN}, "iam": {AKID: (SECRET, None), AKID_STS: (SECRET_STS, STS_TOKEN)}}
            kw.update(mock_kwargs or {})
            mock = MockBedrock(**kw).start()
        self.mock = mock
        self.pier = PierServer(args=[*FAST_ARGS, *args], threads=threads).start()
        self.pier.create_collection(COLLECTION)
        self.pier.create_collection("other")
        self.key = self.pier.create_key(COLLECTION)["api_key"]
        self.other_key = self.pier.create_key("other")["api_key"]
        self.env_bearer()

    # -- environment -------------------------------------------------------------------
    def env(self, values, collection=COLLECTION):
        """Replace the collection's AWS environment by `values` (+ the mock endpoint)."""
        full = {n: None for n in ENV_NAMES}
        full["AWS_BEDROCK_RUNTIME_ENDPOINT"] = self.mock.url
        full.update(values)
        self.pier.set_env(collection, full)

    def env_bearer(self, region="us-east-1", **more):
        self.env({"AWS_BEARER_TOKEN_BEDROCK": TOKEN, "AWS_REGION": region, **more})

    def env_iam(self, session=False, region="us-east-1", **more):
        if session:
            creds = {"AWS_ACCESS_KEY_ID": AKID_STS, "AWS_SECRET_ACCESS_KEY": SECRET_STS,
                     "AWS_SESSION_TOKEN": STS_TOKEN}
        else:
            creds = {"AWS_ACCESS_KEY_ID": AKID, "AWS_SECRET_ACCESS_KEY": SECRET}
        self.env({**creds, "AWS_REGION": region, **more})

    # -- requests ----------------------------------------------------------------------
    def post(self, path, body, token=None, **kw):
        return self.pier.post(path, token=token or self.key, json=body, **kw)

    def chat(self, body, token=None, path="/v1/chat/completions", **kw):
        return self.post(path, body, token=token, **kw)

    def open_stream(self, body, token=None, path="/v1/chat/completions", timeout=10):
        """POST a chat request with http.client; the caller reads it with SSE."""
        conn = http.client.HTTPConnection("127.0.0.1", self.pier.port, timeout=timeout)
        conn.request("POST", path, body=json.dumps(body),
                     headers={"Authorization": f"Bearer {token or self.key}", "Content-Type": "application/json"})
        return conn, conn.getresponse()

    def close(self):
        try:
            self.pier.stop()
            err = self.pier.stderr()
            for s in SECRETS:
                assert s not in err, f"a credential reached pier's stderr: {s[:8]}..."
        finally:
            self.pier.cleanup()
            if self.own_mock:
                self.mock.stop()


def gateway_fixtures(args=(), mock_kwargs=None, threads=2):
    """(module fixture, function fixture) for a module: `gw` is the shared Gateway with
    the mock reset and the bearer environment restored before each test."""

    @pytest.fixture(scope="module")
    def gateway():
        g = Gateway(args, mock_kwargs, threads)
        yield g
        g.close()

    @pytest.fixture
    def gw(gateway):
        gateway.mock.reset()
        gateway.env_bearer()
        yield gateway
        assert gateway.mock.errors == [], gateway.mock.errors[0]

    return gateway, gw


# -- OpenAI shapes -----------------------------------------------------------------------

def hello(model="bedrock/" + SONNET, text="Reply with PONG only.", **extra):
    return {"model": model, "messages": [{"role": "user", "content": text}], "max_tokens": 32, **extra}


def assert_error(r, status, etype=None, code=None, contains=()):
    """An OpenAI-shaped error: {"error":{"message","type","code","param"}}; no secrets."""
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["Content-Type"].startswith("application/json"), r.headers
    body = r.json()
    assert set(body) == {"error"}, body
    err = body["error"]
    assert set(err) == ERROR_KEYS, err
    assert isinstance(err["message"], str) and err["message"], err
    assert err["param"] is None
    if etype is not None:
        assert err["type"] == etype, err
    if code is not None:
        assert err["code"] == code, err
    for s in contains:
        assert s in err["message"], (s, err["message"])
    for s in SECRETS:
        assert s not in r.text
    return err


def assert_completion(body, model, content="PONG", finish="stop"):
    """Exact chat.completion shape; returns the message."""
    assert set(body) == {"id", "object", "created", "model", "choices", "usage"}, body
    assert CHATCMPL_ID.fullmatch(body["id"]), body["id"]
    assert body["object"] == "chat.completion"
    assert isinstance(body["created"], int) and abs(body["created"] - time.time()) < 120
    assert body["model"] == model
    assert len(body["choices"]) == 1
    ch = body["choices"][0]
    assert ch["index"] == 0 and ch["finish_reason"] == finish, ch
    msg = ch["message"]
    assert msg["role"] == "assistant"
    if content is not None:
        assert msg["content"] == content
    u = body["usage"]
    assert u["total_tokens"] == u["prompt_tokens"] + u["completion_tokens"], u
    return msg


# -- SSE ---------------------------------------------------------------------------------

class SSE:
    """Reads a text/event-stream response event by event. Each event is the list of its
    lines; `comments` counts ': ...' comment events seen so far."""

    def __init__(self, resp):
        self.resp = resp
        self.events = []     # every event read, comments included, in order
        self.raw = b""

    def next(self):
        """Next event (list of lines), or None at the end of the body."""
        lines = []
        while True:
            line = self.resp.readline()
            self.raw += line
            if not line:
                return lines or None
            line = line.rstrip(b"\r\n").decode()
            if line == "":
                if lines:
                    self.events.append(lines)
                    return lines
                continue
            lines.append(line)

    def next_data(self):
        """Next data event (comments skipped): the parsed JSON, or the string "[DONE]"."""
        while True:
            ev = self.next()
            if ev is None:
                return None
            data = [ln[6:] for ln in ev if ln.startswith("data: ")]
            if not data:
                assert all(ln.startswith(":") for ln in ev), ev
                continue
            assert len(data) == 1 and len(ev) == 1, ev
            return "[DONE]" if data[0] == "[DONE]" else json.loads(data[0])

    def read_all(self):
        """Every data event until [DONE]; asserts [DONE] is last and the body then ends."""
        out = []
        while True:
            d = self.next_data()
            assert d is not None, f"stream ended without [DONE]: {self.raw!r}"
            if d == "[DONE]":
                assert self.next() is None, "bytes after [DONE]"
                return out
            out.append(d)

    @property
    def comments(self):
        return [ev for ev in self.events if all(ln.startswith(":") for ln in ev)]


def sse_from_bytes(raw):
    """Data events of a complete SSE body (bytes) up to [DONE]; asserts framing."""
    assert raw.endswith(b"data: [DONE]\n\n"), raw[-200:]
    out = []
    for block in raw.decode().split("\n\n")[:-1]:
        lines = block.split("\n")
        if all(ln.startswith(":") for ln in lines):
            continue
        assert len(lines) == 1 and lines[0].startswith("data: "), block
        d = lines[0][6:]
        out.append(d if d == "[DONE]" else json.loads(d))
    assert out[-1] == "[DONE]" and "[DONE]" not in out[:-1]
    return out[:-1]


def assert_chunks(chunks, model, include_usage=False):
    """Common shape of chat.completion.chunk events; returns (content, finish_reason, usage)."""
    ids = {c["id"] for c in chunks}
    assert len(ids) == 1 and CHATCMPL_ID.fullmatch(ids.pop()), chunks
    created = {c["created"] for c in chunks}
    assert len(created) == 1
    content, finish, usage = "", None, None
    for i, c in enumerate(chunks):
        assert c["object"] == "chat.completion.chunk" and c["model"] == model, c
        if c["choices"] == []:
            assert include_usage and i == len(chunks) - 1, "usage chunk must be last"
            usage = c["usage"]
            continue
        keys = {"id", "object", "created", "model", "choices"} | ({"usage"} if include_usage else set())
        assert set(c) == keys, c
        if include_usage:
            assert c["usage"] is None
        (ch,) = c["choices"]
        assert ch["index"] == 0
        content += ch["delta"].get("content") or ""
        if ch["finish_reason"] is not None:
            assert finish is None, "two finish_reason chunks"
            finish = ch["finish_reason"]
    first = chunks[0]["choices"][0]["delta"]
    assert first.get("role") == "assistant", chunks[0]
    if include_usage:
        assert usage is not None, "include_usage but no usage chunk"
    return content, finish, usage


def stream_chat(gw, body, token=None, path="/v1/chat/completions"):
    """Streamed chat via requests: (response, data events before [DONE])."""
    r = gw.chat(body, token=token, path=path)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("text/event-stream"), r.headers
    return r, sse_from_bytes(r.content)


def wait_until(pred, timeout=5.0, what="condition"):
    """Poll `pred` (a cheap check of state another thread updates) until true."""
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)
