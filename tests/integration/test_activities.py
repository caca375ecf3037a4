"""The workflow activities (src/engine/activities/) driven through the real server:
litellm_vision, litellm_embeddings, litellm_function_call, litellm_batch, simple_judge,
text_template, conditional_branch (conditional_step), list_emit_await.

One pier, one mock Bedrock and one mock OpenAI per module; the collection "acme" holds
credentials for both, and every model-calling test runs once per provider (Bedrock via
model_provider "bedrock", OpenAI via OPENAI_BASE_URL). The mocks answer from a scripted
queue or, when a test sets `responder`, from a function of the request, so that answers
can depend on which prompt a request carries whatever order concurrent calls arrive in.
No sleeps: tests wait on the mocks' request events or on run-sync answers.
"""

import base64
import concurrent.futures
import itertools
import json
import struct
import threading
import time
import zlib

import pytest

from conftest import PierServer
from mocks import bedrock as bedrock_mod
from mocks import common as common_mod
from mocks.bedrock import MockBedrock, count_tokens, embedding_vector
from mocks.openai import MockOpenAI, openai_embedding

TOKEN = "ABSKQWN0aXZpdGllc1Rlc3RCZWFyZXJUb2tlbi0wMQ=="
OA_KEY = "sk-activities-test-0123456789abcdefXYZ"
SONNET = "us.anthropic.claude-sonnet-4-6"
GPT = "gpt-4o-mini"
COLL = "acme"


# ---------------------------------------------------------------------------------------
# mocks that can answer per request

class _Responder:
    """Scripted behaviours first; then responder(rec) when set (None -> default reply)."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.responder = None
        self._tl = threading.local()

    def _publish(self, rec):
        self._tl.rec = rec
        super()._publish(rec)

    def _next_behaviour(self):
        b = super()._next_behaviour()
        if b is None and self.responder is not None:
            b = self._coerce(self.responder(self._tl.rec))
        return b


class RBedrock(_Responder, MockBedrock):
    _coerce = staticmethod(bedrock_mod._coerce)


class ROpenAI(_Responder, MockOpenAI):
    _coerce = staticmethod(common_mod.coerce)


# ---------------------------------------------------------------------------------------
# providers: what a model call looks like on each mock

class Provider:
    def __init__(self, name, mock):
        self.name = name
        self.mock = mock

    @property
    def params(self):
        """init_params naming this provider's chat model."""
        if self.name == "bedrock":
            return {"model": SONNET, "model_provider": "bedrock"}
        return {"model": GPT, "model_provider": "openai"}

    @property
    def model(self):
        return self.params["model"]

    def error(self, message):
        """A non-retryable 400 from the provider."""
        if self.name == "bedrock":
            return {"type": "error", "code": "ValidationException", "message": message}
        return {"type": "error", "kind": "invalid_request_error", "message": message}

    def json_answer(self, obj):
        """How a JSON-mode answer arrives: Bedrock through pier's json_tool_call, OpenAI as text."""
        if self.name == "bedrock":
            return {"tool_calls": [{"name": "json_tool_call", "input": obj}]}
        return {"text": json.dumps(obj)}

    def chats(self):
        ops = ("converse", "converse-stream") if self.name == "bedrock" else ("chat",)
        return [r for r in self.mock.requests if r.operation in ops]

    def view(self, rec):
        """{system, messages: [{role, parts}], tools, tool_choice, json_mode} of a chat request;
        parts are ("text", s), ("image", mime, bytes) or ("image_url", url)."""
        return _bedrock_view(rec.json) if self.name == "bedrock" else _openai_view(rec.json)


def _bedrock_view(body):
    system = "".join(b.get("text", "") for b in body.get("system", [])) or None
    msgs = []
    for m in body["messages"]:
        parts = []
        for b in m["content"]:
            if "text" in b:
                parts.append(("text", b["text"]))
            elif "image" in b:
                parts.append(("image", "image/" + b["image"]["format"],
                              base64.b64decode(b["image"]["source"]["bytes"])))
        msgs.append({"role": m["role"], "parts": parts})
    tc = body.get("toolConfig") or {}
    specs = [t["toolSpec"] for t in tc.get("tools", [])]
    tools = [{"name": s["name"], "description": s.get("description"),
              "parameters": s.get("inputSchema", {}).get("json")}
             for s in specs if s["name"] != "json_tool_call"]
    choice = tc.get("toolChoice")
    if choice and "tool" in choice:
        choice = {"name": choice["tool"]["name"]}
    elif choice:
        choice = {"auto": "auto", "any": "required"}[next(iter(choice))]
    return {"system": system, "messages": msgs, "tools": tools, "tool_choice": choice,
            "json_mode": any(s["name"] == "json_tool_call" for s in specs)}


def _openai_view(body):
    msgs = list(body["messages"])
    system = msgs.pop(0)["content"] if msgs and msgs[0]["role"] == "system" else None
    out = []
    for m in msgs:
        c = m["content"]
        parts = []
        for p in ([{"type": "text", "text": c}] if isinstance(c, str) else c):
            if p["type"] == "text":
                parts.append(("text", p["text"]))
            else:
                url = p["image_url"]["url"]
                if url.startswith("data:"):
                    head, _, data = url.partition(",")
                    parts.append(("image", head[5:].split(";")[0], base64.b64decode(data)))
                else:
                    parts.append(("image_url", url))
        out.append({"role": m["role"], "parts": parts})
    tools = [{"name": t["function"]["name"], "description": t["function"].get("description"),
              "parameters": t["function"].get("parameters")} for t in body.get("tools", [])]
    choice = body.get("tool_choice")
    if isinstance(choice, dict):
        choice = {"name": choice["function"]["name"]}
    return {"system": system, "messages": out, "tools": tools, "tool_choice": choice,
            "json_mode": (body.get("response_format") or {}).get("type") == "json_object"}


def user_text(view):
    """The text of the last user message."""
    msg = [m for m in view["messages"] if m["role"] == "user"][-1]
    return "".join(p[1] for p in msg["parts"] if p[0] == "text")


# ---------------------------------------------------------------------------------------
# fixtures and helpers

class Env:
    def __init__(self):
        self.bk = RBedrock(bearer_tokens={TOKEN}).start()
        self.oa = ROpenAI(api_keys={OA_KEY}).start()
        self.srv = PierServer(args=["--upstream-retry-base-ms", "10"], threads=2).start()
        self.srv.create_collection(COLL)
        self.srv.create_collection("other")
        self.srv.set_env(COLL, {"AWS_BEARER_TOKEN_BEDROCK": TOKEN, "AWS_REGION": "us-east-1",
                                "AWS_BEDROCK_RUNTIME_ENDPOINT": self.bk.url,
                                "OPENAI_API_KEY": OA_KEY, "OPENAI_BASE_URL": self.oa.url + "/v1"})
        self.names = itertools.count()

    def stop(self):
        try:
            self.srv.stop()
            assert TOKEN not in self.srv.stderr() and OA_KEY not in self.srv.stderr()
        finally:
            self.srv.cleanup()
            self.bk.stop()
            self.oa.stop()

    def provider(self, name):
        return Provider(name, self.bk if name == "bedrock" else self.oa)

    def task(self, steps, order=None, init=None, name=None):
        """Store a workflow as a new task; returns its name."""
        name = name or f"t{next(self.names)}"
        wf = {"init_params": init or {}, "step_configs": steps, "steps": order or list(steps)}
        r = self.srv.post(f"/api/v1/tasks/{COLL}", json={"name": name, "workflow": wf})
        assert r.status_code == 201, r.text
        return name

    def run(self, task, init=None, files=()):
        """run-sync; returns the trajectory."""
        form = [("init_params", (None, json.dumps(init or {})))] + [("files", f) for f in files]
        r = self.srv.post(f"/api/v1/run-sync/{COLL}/{task}", files=form, timeout=30)
        assert r.status_code == 200, r.text
        return r.json()["trajectory"]

    def trajectory(self, task, tid):
        r = self.srv.get(f"/api/v1/db/trajectory/{COLL}/{task}/{tid}")
        assert r.status_code == 200, r.text
        return r.json()

    def one(self, config, init=None, files=()):
        """A one-step workflow ("s") run once; returns (trajectory, step record)."""
        t = self.run(self.task({"s": config}), init, files)
        return t, t["steps"]["s"]


@pytest.fixture(scope="module")
def env_module():
    e = Env()
    yield e
    e.stop()


@pytest.fixture
def env(env_module):
    for m in (env_module.bk, env_module.oa):
        m.reset()
        m.responder = None
    yield env_module
    assert env_module.bk.errors == [] and env_module.oa.errors == []


@pytest.fixture(params=["bedrock", "openai"])
def prov(request, env):
    return env.provider(request.param)


def failed(traj, step, message):
    """The run failed at `step` with exactly `message`."""
    rec = traj["steps"][step]
    assert rec["status"] == "failed", rec
    assert rec["error"] == message
    assert traj["status"] == "failed"
    assert traj["error"] == f'step "{step}" failed: {message}'


def png(width=2, height=2, rgb=(255, 0, 0)):
    """A real (tiny) PNG image."""
    raw = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\x00" * 64 + b"\xff\xd9"
USAGE_KEYS = {"prompt_tokens", "completion_tokens", "total_tokens"}


# ---------------------------------------------------------------------------------------
# litellm_vision

def test_vision_reads_the_uploaded_image_and_sends_its_bytes(env, prov):
    image, name, mime = (png(), "red.png", "image/png") if prov.name == "bedrock" else (JPEG, "photo.jpg", "image/jpeg")
    prov.mock.script({"text": "A red square."})
    t, s = env.one({"activity": "litellm_vision", "model_path": "init_params.model",
                    "model_provider_path": "init_params.model_provider", "prompt": "What is in the image?",
                    "image_path_path": "init_params.file_paths[0]", "max_tokens": 100},
                   {**prov.params}, files=[(name, image, mime)])
    assert s["status"] == "completed", s
    out = s["outputs"]
    assert out["text"] == out["content"] == "A red square."
    assert out["finish_reason"] == "stop" and out["model"] == prov.model
    assert USAGE_KEYS <= set(out["usage"])
    path = t["init_params"]["file_paths"][0]
    assert path.startswith(f"{COLL}/") and path.endswith("/" + name) and s["inputs"]["image_path"] == path
    [rec] = prov.chats()
    view = prov.view(rec)
    assert view["messages"] == [{"role": "user", "parts": [("text", "What is in the image?"), ("image", mime, image)]}]
    assert s["usage"]["api_calls"] == 1 and s["usage"]["total_tokens"] == out["usage"]["total_tokens"]


def test_vision_type_comes_from_the_bytes_not_the_name(env):
    p = env.provider("openai")
    t, s = env.one({"activity": "litellm_vision", "model": GPT, "prompt": "?",
                    "image_path_path": "init_params.file_paths"}, files=[("scan.dat", JPEG, "application/octet-stream")])
    assert s["status"] == "completed", s
    [rec] = p.chats()
    assert p.view(rec)["messages"][0]["parts"][1] == ("image", "image/jpeg", JPEG)


def test_vision_image_url_is_passed_through(env, prov):
    data_url = "data:image/png;base64," + base64.b64encode(png(1, 1)).decode()
    url = data_url if prov.name == "bedrock" else "https://images.example.com/cat.png"
    t, s = env.one({"activity": "litellm_vision", **prov.params, "prompt": "Describe.", "image_url": url,
                    "system_prompt": "Be brief."})
    assert s["status"] == "completed", s
    assert s["outputs"]["text"] == "PONG"
    view = prov.view(prov.chats()[0])
    assert view["system"] == "Be brief."
    want = ("image", "image/png", png(1, 1)) if prov.name == "bedrock" else ("image_url", url)
    assert view["messages"][0]["parts"] == [("text", "Describe."), want]


@pytest.mark.parametrize("config,files,message", [
    ({"image_path": "acme/nowhere/0000/missing.png"}, [],
     'image_path "acme/nowhere/0000/missing.png" was not found in storage; upload it with the run (multipart '
     'files) and pass init_params.file_paths[...]'),
    ({"image_path": "other/t/0000/x.png"}, [],
     'image_path "other/t/0000/x.png" is not a storage path of collection "acme" (expected "acme/...", e.g. the '
     'value of init_params.file_paths[0])'),
    ({"image_path": "https://example.com/a.png"}, [],
     'image_path "https://example.com/a.png" is not a storage path of collection "acme" (expected "acme/...", e.g. '
     'the value of init_params.file_paths[0]); for a URL use image_url'),
    ({"image_path": "acme/../etc/passwd"}, [],
     'image_path "acme/../etc/passwd" is not a storage path of collection "acme" (expected "acme/...", e.g. the '
     'value of init_params.file_paths[0])'),
    ({"image_path_path": "init_params.file_paths[0]"}, [("notes.txt", b"just text", "text/plain")],
     None),  # filled in below: depends on the upload path
    ({"image_path_path": "init_params.file_paths"}, [("a.png", png(), "image/png"), ("b.png", png(), "image/png")],
     'image_path must be one storage path (got an array of 2); pick one, e.g. image_path_path: '
     '"init_params.file_paths[0]"'),
    ({}, [], 'an image is required: image_path (a storage path, e.g. image_path_path: "init_params.file_paths[0]") '
             'or image_url (http(s) or data: URL)'),
    ({"image_url": "ftp://x/y.png"}, [],
     'image_url must be an http(s) URL or a data URL (data:image/png;base64,...), got "ftp://x/y.png"; for a '
     'stored file use image_path'),
    ({"image_url": "https://x/y.png", "image_path": "acme/x.png"}, [],
     "give either image_path (a stored file) or image_url, not both"),
    ({"image_url": "https://x/y.png", "prompt": ["a", "b"]}, [],
     "prompt must be one string (got an array); give prompt or prompt_path"),
    ({"image_url": "https://x/y.png", "model": ""}, [], "model is required (or model_path pointing at one)"),
])
def test_vision_errors_say_what_to_fix(env, config, files, message):
    t, s = env.one({"activity": "litellm_vision", "model": GPT, "prompt": "?", **config}, files=files)
    if message is None:
        message = (f'image_path "{t["init_params"]["file_paths"][0]}" is not an image (text/plain); give a .png, '
                   '.jpg, .gif or .webp file')
    failed(t, "s", message)
    assert env.oa.requests == []


def test_vision_image_over_3_75_mb_is_refused(env):
    big = png() + b"\x00" * (3932160 + 1 - len(png()))
    t, s = env.one({"activity": "litellm_vision", "model": GPT, "prompt": "?",
                    "image_path_path": "init_params.file_paths[0]"}, files=[("big.png", big, "image/png")])
    failed(t, "s", f'image_path "{t["init_params"]["file_paths"][0]}" is larger than 3.75 MB (the per-image limit); '
                   'resize or recompress it')
    assert env.oa.requests == []


# ---------------------------------------------------------------------------------------
# litellm_embeddings

def test_embeddings_bedrock_titan_one_vector_per_text_in_order(env):
    texts = ["alpha", "beta gamma", "delta, epsilon!"]
    t, s = env.one({"activity": "litellm_embeddings", "model": "amazon.titan-embed-text-v2:0",
                    "model_provider": "bedrock", "input_path": "init_params.texts", "dimensions": 256},
                   {"texts": texts})
    assert s["status"] == "completed", s
    out = s["outputs"]
    assert out["embeddings"] == [pytest.approx(embedding_vector(x, 256)) for x in texts]
    assert "embedding" not in out
    assert out["dimensions"] == 256 and out["count"] == 3
    assert out["usage"]["prompt_tokens"] == sum(count_tokens(x) for x in texts)
    recs = sorted(env.bk.requests, key=lambda r: r.json["inputText"])
    assert [(r.operation, r.model_id, r.json) for r in recs] == [
        ("invoke", "amazon.titan-embed-text-v2:0", {"inputText": x, "dimensions": 256}) for x in texts]
    assert s["usage"]["prompt_tokens"] == out["usage"]["prompt_tokens"]


def test_embeddings_bedrock_cohere_gets_input_type(env):
    t, s = env.one({"activity": "litellm_embeddings", "model": "cohere.embed-english-v3", "model_provider": "bedrock",
                    "texts": ["q one", "q two"], "input_type": "search_query"})
    assert s["status"] == "completed", s
    assert s["outputs"]["embeddings"] == [pytest.approx(embedding_vector(x, 1024)) for x in ("q one", "q two")]
    [rec] = env.bk.requests
    assert rec.json["texts"] == ["q one", "q two"] and rec.json["input_type"] == "search_query"


def test_embeddings_openai_single_string_and_no_input_type(env):
    t, s = env.one({"activity": "litellm_embeddings", "model": "text-embedding-3-small", "input": "hello world",
                    "input_type": "search_query", "dimensions": "64"})
    assert s["status"] == "completed", s
    out = s["outputs"]
    vec = pytest.approx(openai_embedding("hello world", 64))
    assert out["embeddings"] == [vec] and out["embedding"] == vec
    assert out["model"] == "text-embedding-3-small" and out["dimensions"] == 64 and out["count"] == 1
    assert out["usage"] == {"prompt_tokens": 2, "total_tokens": 2}
    [rec] = env.oa.requests
    assert rec.operation == "embeddings"
    assert rec.json == {"model": "text-embedding-3-small", "input": "hello world", "dimensions": 64}


def test_embeddings_fallback_model_after_a_failure(env):
    env.oa.script({"type": "error", "kind": "model_not_found"})
    t, s = env.one({"activity": "litellm_embeddings", "model": "text-embedding-3-large", "input": ["x"],
                    "fallbacks": ["text-embedding-3-small"]})
    assert s["status"] == "completed", s
    assert [r.json["model"] for r in env.oa.requests] == ["text-embedding-3-large", "text-embedding-3-small"]
    assert [a["model"] for a in s["attempts"]] == ["text-embedding-3-large", "text-embedding-3-small"]
    assert [a["status"] for a in s["attempts"]] == ["failed", "ok"]
    assert "text-embedding-3-large" in s["attempts"][0]["error"]
    assert s["outputs"]["model"] == "text-embedding-3-small"


@pytest.mark.parametrize("config,message", [
    ({"input": ["ok", 3]}, "input[1] must be a non-empty string (got a number)"),
    ({"texts": ["ok", ""]}, "texts[1] must be a non-empty string (got an empty string)"),
    ({"input": {"a": 1}}, "input must be a string or an array of strings (got an object); give input or input_path"),
    ({}, "input must be a string or an array of strings (got missing); give input or input_path"),
    ({"input": []}, "input must hold 1 to 2048 texts (got 0)"),
    ({"input": "x", "dimensions": "big"}, 'dimensions must be an integer from 1 to 65536 (got "big")'),
    ({"input": "x", "dimensions": 0}, "dimensions must be an integer from 1 to 65536 (got 0)"),
    ({"input": "x", "model": None}, "model is required (or model_path pointing at one), e.g. text-embedding-3-small "
                                    "or amazon.titan-embed-text-v2:0"),
])
def test_embeddings_errors(env, config, message):
    t, s = env.one({"activity": "litellm_embeddings", "model": "text-embedding-3-small", **config})
    failed(t, "s", message)
    assert env.oa.requests == []


def test_embeddings_provider_error_fails_the_step(env):
    env.oa.script({"type": "error", "kind": "invalid_request_error", "message": "input too long"})
    t, s = env.one({"activity": "litellm_embeddings", "model": "text-embedding-3-small", "input": "x"})
    assert s["status"] == "failed" and "input too long" in s["error"]


# ---------------------------------------------------------------------------------------
# litellm_function_call

WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather of a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
CLOCK = {"type": "function", "function": {
    "name": "get_time", "description": "Current time", "parameters": {"type": "object", "properties": {}}}}


def test_function_call_forwards_tools_and_returns_the_call(env, prov):
    prov.mock.script({"tool_calls": [{"name": "get_weather", "input": {"city": "Paris"}, "id": "call_w1"}]})
    t, s = env.one({"activity": "litellm_function_call", **prov.params, "system_prompt": "Use tools.",
                    "prompt_path": "init_params.q", "tools": [WEATHER, CLOCK], "tool_choice": "get_weather"},
                   {"q": "Weather in Paris?"})
    assert s["status"] == "completed", s
    out = s["outputs"]
    [call] = out["tool_calls"]
    assert call["id"] == "call_w1" and call["type"] == "function"
    assert call["function"]["name"] == "get_weather"
    assert json.loads(call["function"]["arguments"]) == {"city": "Paris"}
    assert out["function_name"] == "get_weather" and out["arguments"] == {"city": "Paris"}
    assert out["arguments_raw"] == call["function"]["arguments"]
    assert out["text"] == "" and out["finish_reason"] == "tool_calls"
    view = prov.view(prov.chats()[0])
    assert view["system"] == "Use tools." and user_text(view) == "Weather in Paris?"
    assert view["tools"] == [{"name": f["function"]["name"], "description": f["function"]["description"],
                              "parameters": f["function"]["parameters"]} for f in (WEATHER, CLOCK)]
    assert view["tool_choice"] == {"name": "get_weather"}


def test_function_call_legacy_functions_and_a_text_answer(env, prov):
    prov.mock.script({"text": "No tool needed."})
    t, s = env.one({"activity": "litellm_function_call", **prov.params, "prompt": "Hi",
                    "functions": [WEATHER["function"]], "function_call": {"name": "get_weather"}})
    assert s["status"] == "completed", s
    out = s["outputs"]
    assert out["tool_calls"] == [] and out["text"] == "No tool needed."
    assert out["function_name"] is None and out["arguments"] is None and out["arguments_raw"] is None
    view = prov.view(prov.chats()[0])
    assert [x["name"] for x in view["tools"]] == ["get_weather"]
    assert view["tool_choice"] == {"name": "get_weather"}


def test_function_call_parallel_calls_and_required(env):
    p = env.provider("openai")
    p.mock.script({"tool_calls": [{"name": "get_weather", "input": {"city": "Oslo"}},
                                  {"name": "get_time", "input": {}}]})
    t, s = env.one({"activity": "litellm_function_call", "model": GPT, "prompt": "Both please",
                    "tools": [WEATHER, CLOCK], "tool_choice": "required", "parallel_tool_calls": True})
    out = s["outputs"]
    assert [c["function"]["name"] for c in out["tool_calls"]] == ["get_weather", "get_time"]
    assert out["function_name"] == "get_weather" and out["arguments"] == {"city": "Oslo"}
    rec = p.chats()[0]
    assert rec.json["tool_choice"] == "required" and rec.json["parallel_tool_calls"] is True
    assert rec.json["tools"] == [WEATHER, CLOCK]


@pytest.mark.parametrize("config,message", [
    ({}, 'tools must be an array of 1 to 128 OpenAI tools, e.g. [{"type": "function", "function": {"name": '
         '"get_weather", "parameters": {"type": "object"}}}], or legacy functions (got missing)'),
    ({"tools": []}, 'tools must be an array of 1 to 128 OpenAI tools, e.g. [{"type": "function", "function": '
                    '{"name": "get_weather", "parameters": {"type": "object"}}}], or legacy functions (got 0 tools)'),
    ({"tools": [WEATHER, {"type": "retrieval"}]}, 'tools[1].type must be "function" (got "retrieval")'),
    ({"tools": [{"type": "function", "function": {"description": "x"}}]},
     'tools[0] needs a function name: {"type": "function", "function": {"name": "get_weather", "parameters": '
     '{...}}}'),
    ({"tools": [WEATHER], "tool_choice": "get_time"},
     'tool_choice must be "auto", "none", "required" or the name of one of the tools (got "get_time")'),
    ({"tools": [WEATHER], "tool_choice": 5},
     'tool_choice must be "auto", "none", "required" or the name of one of the tools (got a number)'),
    ({"tools": [WEATHER], "prompt": ["x"]}, "prompt must be one string (got an array); give prompt or prompt_path, "
                                            "or a messages array"),
])
def test_function_call_errors(env, config, message):
    t, s = env.one({"activity": "litellm_function_call", "model": GPT, "prompt": "x", **config})
    failed(t, "s", message)
    assert env.oa.requests == []


# ---------------------------------------------------------------------------------------
# litellm_batch

def test_batch_keeps_input_order_and_bounds_concurrency(env, prov):
    prompts = [f"p{i}" for i in range(6)]
    gates = {p: threading.Event() for p in ("p0", "p1")}

    def respond(rec):
        p = user_text(prov.view(rec))
        if p in gates:
            assert gates[p].wait(10)
        return {"text": f"answer to {p}"}
    prov.mock.responder = respond
    task = env.task({"b": {"activity": "litellm_batch", **prov.params, "prompts_path": "init_params.prompts",
                           "max_concurrency": 2, "system_prompt": "Answer."}})
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        fut = pool.submit(env.run, task, {"prompts": prompts})
        try:
            recs = prov.mock.wait_for_requests(2)
            assert sorted(user_text(prov.view(r)) for r in recs) == ["p0", "p1"]
            # Both slots are held by the mock: a third call must not come (negative check, short).
            with pytest.raises(TimeoutError):
                prov.mock.wait_for_requests(3, timeout=0.3)
            gates["p1"].set()
            recs = prov.mock.wait_for_requests(6)  # p2..p5 go one by one through the freed slot
            assert [user_text(prov.view(r)) for r in recs[2:]] == ["p2", "p3", "p4", "p5"]
            [p0] = [r for r in recs if user_text(prov.view(r)) == "p0"]
            assert not p0.done.is_set()  # the first prompt ends last
        finally:
            for g in gates.values():
                g.set()
        traj = fut.result(30)
    s = traj["steps"]["b"]
    assert s["status"] == "completed", s
    out = s["outputs"]
    assert [r["text"] for r in out["results"]] == [f"answer to {p}" for p in prompts]
    assert out["texts"] == [f"answer to {p}" for p in prompts]
    assert all(USAGE_KEYS <= set(r["usage"]) for r in out["results"])
    assert out["completed"] == 6 and out["failed"] == 0
    assert s["usage"]["api_calls"] == 6
    assert all(prov.view(r)["system"] == "Answer." for r in prov.chats())


def test_batch_a_failed_prompt_does_not_fail_the_batch(env, prov):
    prov.mock.responder = lambda rec: (prov.error("prompt b is not allowed") if user_text(prov.view(rec)) == "b"
                                       else {"text": user_text(prov.view(rec)).upper()})
    t, s = env.one({"activity": "litellm_batch", **prov.params, "items": ["a", "b", "c"]})
    assert s["status"] == "completed", s
    out = s["outputs"]
    assert out["results"][0]["text"] == "A" and out["results"][2]["text"] == "C"
    assert list(out["results"][1]) == ["error"] and "prompt b is not allowed" in out["results"][1]["error"]
    assert out["texts"] == ["A", None, "C"]
    assert out["completed"] == 2 and out["failed"] == 1


def test_batch_fail_fast_cancels_the_calls_in_flight(env, prov):
    def respond(rec):
        p = user_text(prov.view(rec))
        return prov.error("bad prompt") if p == "b" else {"type": "stall", "seconds": 20}
    prov.mock.responder = respond
    t, s = env.one({"activity": "litellm_batch", **prov.params, "prompts": ["a", "b", "c", "d", "e"],
                    "max_concurrency": 3, "fail_fast": True})
    assert s["status"] == "failed"
    assert s["error"].startswith("prompts[1] failed and fail_fast is on (the calls in flight were cancelled): ")
    assert "bad prompt" in s["error"]
    out = s["outputs"]
    assert out["results"][0] is None and out["results"][2:] == [None, None, None]
    assert "bad prompt" in out["results"][1]["error"]
    assert out["completed"] == 0 and out["failed"] == 1
    held = [r for r in prov.chats() if user_text(prov.view(r)) in ("a", "c")]
    assert len(held) == 2
    for r in held:  # pier hung up on both stalled calls
        assert r.disconnected.wait(5), r
    assert sorted(user_text(prov.view(r)) for r in prov.chats()) == ["a", "b", "c"]


def test_batch_every_prompt_failed_fails_the_step(env):
    p = env.provider("openai")
    p.mock.responder = lambda rec: p.error("nope")
    t, s = env.one({"activity": "litellm_batch", "model": GPT, "prompts": ["a", "b"], "max_concurrency": 1})
    assert s["status"] == "failed" and s["error"].startswith("all 2 prompts failed; prompts[0]: ")
    assert s["outputs"]["failed"] == 2


@pytest.mark.parametrize("config,message", [
    ({}, "prompts must be an array of at most 1000 strings (got missing); give prompts or prompts_path"),
    ({"prompts": "one"}, "prompts must be an array of at most 1000 strings (got a string); give prompts or "
                         "prompts_path"),
    ({"prompts": ["a", {"b": 1}]}, "prompts[1] must be a string (got an object)"),
    ({"prompts": ["a"], "max_concurrency": 0}, "max_concurrency must be an integer from 1 to 1000000 (got 0)"),
    ({"prompts": ["a"], "fail_fast": "maybe"}, "fail_fast must be true or false (got a string)"),
    ({"prompts": ["a"], "model": ""}, "model is required (or model_path pointing at one)"),
])
def test_batch_errors(env, config, message):
    t, s = env.one({"activity": "litellm_batch", "model": GPT, **config})
    failed(t, "s", message)


def test_batch_empty_list_completes_with_no_results(env):
    t, s = env.one({"activity": "litellm_batch", "model": GPT, "prompts": [], "max_concurrency": 500})
    assert s["status"] == "completed"
    assert s["outputs"] == {"results": [], "texts": [], "completed": 0, "failed": 0}


# ---------------------------------------------------------------------------------------
# simple_judge

def judge_system(spec, explain=True):
    tail = ', "explanation": "<one or two sentences>"' if explain else ""
    return ("You are a strict, impartial judge. Evaluate the item against the instruction. Reply with one JSON "
            f'object and nothing else: {{"score": <{spec}>{tail}}}.')


def test_judge_scale_items(env, prov):
    scores = {"a fine answer": 8, "a poor answer": 3}
    prov.mock.responder = lambda rec: prov.json_answer(
        {"score": scores[user_text(prov.view(rec)).rsplit("\n", 1)[1]], "explanation": "because"})
    t, s = env.one({"activity": "simple_judge", **prov.params, "items_path": "init_params.answers",
                    "instruction": "Rate the helpfulness.", "judge_type": "scale", "scale_range": [1, 10],
                    "temperature": 0}, {"answers": list(scores)})
    assert s["status"] == "completed", s
    out = s["outputs"]
    assert [(r["item_index"], r["score"], r["explanation"]) for r in out["results"]] == [
        (0, 8, "because"), (1, 3, "because")]
    assert [json.loads(r["raw_result"]) for r in out["results"]] == [
        {"score": 8, "explanation": "because"}, {"score": 3, "explanation": "because"}]
    assert out["average_score"] == 5.5 and out["judge_type"] == "scale"
    assert out["judged"] == 2 and out["failed"] == 0 and "judgment" not in out and "score" not in out
    recs = prov.chats()
    assert len(recs) == 2
    view = prov.view(recs[0])
    assert view["system"] == judge_system("a number from 1 to 10")
    assert view["json_mode"]
    assert sorted(user_text(prov.view(r)) for r in recs) == [
        f"Instruction:\nRate the helpfulness.\n\nItem to judge:\n{x}" for x in sorted(scores)]
    temp = recs[0].json["inferenceConfig"]["temperature"] if prov.name == "bedrock" else recs[0].json["temperature"]
    assert temp == 0


def test_judge_binary_retries_once_on_an_invalid_answer(env, prov):
    prov.mock.script(prov.json_answer({"score": "maybe", "explanation": "unsure"}),
                     prov.json_answer({"score": "Yes", "explanation": "it is polite"}))
    t, s = env.one({"activity": "simple_judge", **prov.params, "item": "Thank you kindly!",
                    "instruction": "Is it polite?", "judge_type": "binary"})
    assert s["status"] == "completed", s
    out = s["outputs"]
    assert out["judgment"] == "yes" and out["score"] == "yes" and out["explanation"] == "it is polite"
    assert json.loads(out["results"][0]["raw_result"]) == {"score": "Yes", "explanation": "it is polite"}
    assert "average_score" not in out
    first, second = prov.chats()
    v1, v2 = prov.view(first), prov.view(second)
    assert v1["system"] == v2["system"] == judge_system('"yes" or "no"')
    assert v2["messages"][:1] == v1["messages"]
    assert v2["messages"][1]["role"] == "assistant"
    assert json.loads(v2["messages"][1]["parts"][0][1]) == {"score": "maybe", "explanation": "unsure"}
    assert user_text(v2) == ('Your answer was not valid: "score" "maybe" is neither "yes" nor "no". Reply again '
                             'with only the JSON object, where "score" is "yes" or "no".')
    assert s["usage"]["api_calls"] == 2


def test_judge_gives_up_after_the_second_invalid_answer(env, prov):
    prov.mock.script(prov.json_answer({"score": "excellent"}), prov.json_answer({"score": "superb"}))
    t, s = env.one({"activity": "simple_judge", **prov.params, "item": "x", "instruction": "Grade it.",
                    "categories": ["good", "bad"], "with_explanation": False})
    failed(t, "s", 'the item could not be judged: the judge\'s answer did not fit after 2 attempts: "score" '
                   '"superb" is not one of the categories')
    [r] = s["outputs"]["results"]
    assert r["score"] is None and r["explanation"] is None and json.loads(r["raw_result"]) == {"score": "superb"}
    assert prov.view(prov.chats()[0])["system"] == judge_system('exactly one of "good", "bad"', explain=False)


def test_judge_categorical_from_a_score_range_list_and_text_answers(env):
    p = env.provider("openai")
    p.mock.script({"text": "```json\n{\"score\": \"b \", \"explanation\": \"middle\"}\n```"})
    t, s = env.one({"activity": "simple_judge", "model": GPT, "item": {"answer": 42},
                    "instruction": "Grade.", "score_range": ["A", "B", "C"], "explanation_required": True})
    assert s["status"] == "completed", s
    out = s["outputs"]
    assert out["judge_type"] == "categorical" and out["score"] == "B" and out["explanation"] == "middle"
    assert user_text(p.view(p.chats()[0])) == 'Instruction:\nGrade.\n\nItem to judge:\n{"answer":42}'


def test_judge_an_image_item_is_a_vision_request(env, prov):
    prov.mock.script(prov.json_answer({"score": 4, "explanation": "clear"}))
    image = png(3, 3, (0, 128, 255))
    t, s = env.one({"activity": "simple_judge", **prov.params, "item_path": "init_params.file_paths[0]",
                    "instruction": "How clear is the picture?"}, files=[("shot.png", image, "image/png")])
    assert s["status"] == "completed", s
    assert s["outputs"]["score"] == 4 and s["outputs"]["average_score"] == 4
    view = prov.view(prov.chats()[0])
    assert view["messages"] == [{"role": "user", "parts": [
        ("text", "Instruction:\nHow clear is the picture?\n\nThe item to judge is the attached image."),
        ("image", "image/png", image)]}]


def test_judge_partial_failure_and_average_of_the_rest(env):
    p = env.provider("openai")
    p.mock.responder = lambda rec: (p.error("model overloaded") if user_text(p.view(rec)).endswith("two")
                                    else {"text": '{"score": 2, "explanation": "ok"}'})
    t, s = env.one({"activity": "simple_judge", "model": GPT, "items": ["one", "two", "three"],
                    "instruction": "Rate.", "max_concurrency": 1})
    assert s["status"] == "completed", s
    out = s["outputs"]
    assert out["average_score"] == 2 and out["judged"] == 2 and out["failed"] == 1
    r = out["results"][1]
    assert r["score"] is None and r["raw_result"] is None and "model overloaded" in r["error"]


@pytest.mark.parametrize("config,message", [
    ({"item": "x"}, "instruction is required: what to judge the item on"),
    ({"item": "x", "criteria": "c"}, "instruction is required: what to judge the item on (criteria is not read; "
                                     "rename it to instruction)"),
    ({"instruction": "i", "content": "c"}, 'item or items is required: the text(s) to judge, e.g. item_path: '
                                           '"chat.outputs.text" (content is not read; rename it to item)'),
    ({"instruction": "i", "items": []}, "items must be an array of 1 to 1000 values to judge (got an array of the "
                                        "wrong size)"),
    ({"instruction": "i", "item": "x", "judge_type": "stars"},
     'judge_type must be "scale", "categorical" or "binary" (got "stars")'),
    ({"instruction": "i", "item": "x", "scale_range": [5, 1]},
     'scale_range must be [min, max] (or {"min": .., "max": ..}) with min < max, e.g. [1, 5]'),
    ({"instruction": "i", "item": "x", "judge_type": "categorical"},
     'categorical judging needs categories: an array of 2 to 100 labels, e.g. ["good", "bad"] (got missing)'),
    ({"instruction": "i", "item": "x", "categories": ["a", ""]}, "categories[1] must be a non-empty string (got a "
                                                                 "string)"),
])
def test_judge_errors(env, config, message):
    t, s = env.one({"activity": "simple_judge", "model": GPT, **config})
    failed(t, "s", message)
    assert env.oa.requests == []


# ---------------------------------------------------------------------------------------
# text_template

def test_template_variables_from_a_template_given_by_path(env):
    t, s = env.one({"activity": "text_template", "template_path": "init_params.tmpl",
                    "variables": {"name_path": "init_params.who", "age": 42, "user": {"role": "admin"},
                                  "tags": ["x", "y"], "a.b": "dotted"}},
                   {"tmpl": "Hello {{name}}, {{ age }} ({{user.role}}) {{tags}} {{tags[1]}} {{a.b}} {{}} {{ x",
                    "who": "Ada"})
    assert s["status"] == "completed", s
    assert s["outputs"] == {"text": 'Hello Ada, 42 (admin) ["x","y"] y dotted {{}} {{ x'}


def test_template_run_paths_in_a_literal_template_and_earlier_steps(env):
    task = env.task({
        "first": {"activity": "text_echo", "text": "from step one"},
        "t": {"activity": "text_template", "template": "Hi {{ init_params.who }}: {{first.outputs.text}}"}})
    traj = env.run(task, {"who": "Bo"})
    assert traj["steps"]["t"]["outputs"]["text"] == "Hi Bo: from step one"


def test_template_legacy_user_prompt_params(env):
    t, s = env.one({"activity": "text_template", "user_prompt_template_path": "init_params.tmpl",
                    "user_prompt_params": {"topic_path": "init_params.topic", "n": 3}},
                   {"tmpl": "Write {{n}} lines about {{topic}}.", "topic": "tea"})
    assert s["outputs"]["text"] == "Write 3 lines about tea."


def test_template_placeholders_without_values_fail_and_are_named(env):
    t, s = env.one({"activity": "text_template", "template_path": "init_params.tmpl", "variables": {"name": "x"}},
                   {"tmpl": "{{name}} {{x}} {{ y.z }} {{x}}"})
    failed(t, "s", "template has 3 placeholders with no value in variables: {{x}}, {{y.z}}, {{x}} (variables has "
                   "keys name); add them to variables or set strict: false to leave them as written")


def test_template_not_strict_leaves_unknown_placeholders(env):
    t, s = env.one({"activity": "text_template", "template_path": "init_params.tmpl", "strict": False},
                   {"tmpl": "{{a}} and {{ b }}"})
    assert s["outputs"]["text"] == "{{a}} and {{ b }}"


def test_template_literal_variables_are_rendered_by_the_engine_first(env):
    # Documented limitation (text_template.c header): the engine renders {{ }} in literal config strings
    # against the run before the activity starts, so a literal template cannot use variables.
    t, s = env.one({"activity": "text_template", "template": "Hello {{name}}", "variables": {"name": "x"}})
    assert s["status"] == "failed" and 'path "name" not found' in s["error"]


@pytest.mark.parametrize("config,message", [
    ({}, "template must be a string (got missing); give template or template_path"),
    ({"template": 5}, "template must be a string (got a number); give template or template_path"),
    ({"template": "x", "variables": ["a"]}, "variables must be an object of name -> value (got an array)"),
])
def test_template_errors(env, config, message):
    t, s = env.one({"activity": "text_template", **config})
    failed(t, "s", message)


# ---------------------------------------------------------------------------------------
# conditional_branch / conditional_step

BRANCHY = {
    "branch": {"activity": "conditional_branch", "condition_path": "init_params.flag", "true_step": "on_true",
               "false_step": "on_false"},
    "on_true": {"activity": "text_echo", "text": "took the true branch"},
    "join": {"activity": "conditional_step", "condition": True, "true_step": "end"},
    "on_false": {"activity": "text_echo", "text": "took the false branch"},
    "end": {"activity": "text_echo", "text": "end"},
}


@pytest.mark.parametrize("flag,ran,skipped", [
    (True, ["branch", "on_true", "join", "end"], ["on_false"]),
    ("no", ["branch", "on_false", "end"], ["on_true", "join"]),
])
def test_branch_runs_one_side_and_records_skipped_steps(env, flag, ran, skipped):
    traj = env.run(env.task(BRANCHY), {"flag": flag})
    assert traj["status"] == "completed"
    assert traj["completed_steps"] == ran
    steps = traj["steps"]
    assert {k: v["status"] for k, v in steps.items()} == {**{k: "completed" for k in ran},
                                                           **{k: "skipped" for k in skipped}}
    assert steps["branch"]["outputs"] == {"condition": flag is True,
                                          "next_step": "on_true" if flag is True else "on_false"}
    assert steps["join" if flag is True else "on_false"]["outputs"] == (
        {"condition": True, "next_step": "end"} if flag is True else {"text": "took the false branch"})


def test_branch_truthiness(env):
    task = env.task({"b": {"activity": "conditional_branch", "condition_path": "init_params.v"}})
    cases = [(True, True), (False, False), (None, False), (0, False), (0.5, True), (-1, True), ("", False),
             ("  FALSE ", False), ("No", False), ("off", False), ("0", False), ("none", False), ("null", False),
             ("yes", True), ("true", True), ("anything", True), ([], False), ([0], True), ({}, False),
             ({"a": 1}, True)]
    got = [(v, env.run(task, {"v": v})["steps"]["b"]["outputs"]) for v, _ in cases]
    assert got == [(v, {"condition": want, "next_step": None}) for v, want in cases]


@pytest.mark.parametrize("config,message", [
    ({"true_step": "s"}, 'true_step "s" is this step itself; a branch can only jump forward'),
    ({"true_step": "earlier"}, 'true_step "earlier" is not a step after "s" in this workflow\'s steps (a branch '
                               'can only jump forward)'),
    ({"true_step": "nowhere"}, 'true_step "nowhere" is not a step after "s" in this workflow\'s steps (a branch '
                               'can only jump forward)'),
    ({"true_step": ["later"]}, "true_step must be the name of a later step (got an array)"),
    ({"condition": None, "drop": True}, 'condition is required: a value or condition_path pointing at one (e.g. '
                                        '"judge.outputs.judgment")'),
])
def test_branch_errors(env, config, message):
    cfg = {"activity": "conditional_branch", "condition": True, **config}
    if cfg.pop("drop", False):
        del cfg["condition"]
    traj = env.run(env.task({"earlier": {"activity": "text_echo", "text": "e"}, "s": cfg,
                             "later": {"activity": "text_echo", "text": "l"}}))
    failed(traj, "s", message)
    assert "later" not in traj["steps"]


# ---------------------------------------------------------------------------------------
# list_emit_await

def child_task(env, prov, name=None):
    """A child task answering through the provider: its chat step echoes the item back."""
    prov.mock.responder = lambda rec: {"text": "echo: " + user_text(prov.view(rec))}
    return env.task({"chat": {"activity": "litellm_chat", "model_path": "init_params.model",
                              "model_provider_path": "init_params.model_provider",
                              "prompt": "{{ init_params.greeting }} {{ init_params.item }}"}},
                    init={"greeting": "hi", "item": "default", "model_provider": None}, name=name)


def test_list_emit_await_runs_one_child_per_item(env, prov):
    child = child_task(env, prov)
    parent = env.task({"fan": {"activity": "list_emit_await", "items_path": "init_params.names",
                               "child_workflow_name": child, "max_concurrency": 2,
                               "child_init_params": {"greeting": "hello", **prov.params}}})
    names = ["ann", "bob", "cy", "dee"]
    traj = env.run(parent, {"names": names})
    s = traj["steps"]["fan"]
    assert s["status"] == "completed", s
    refs = s["outputs"]["trajectory_references"]
    assert [(r["name"], r["status"], r["index"]) for r in refs] == [(f"{COLL}/{child}", "completed", i)
                                                                     for i in range(4)]
    assert len({r["trajectory_id"] for r in refs}) == 4
    assert s["outputs"]["completed"] == 4 and s["outputs"]["failed"] == 0
    for name, ref in zip(names, refs):
        c = env.trajectory(child, ref["trajectory_id"])
        assert c["parent_trajectory_id"] == traj["trajectory_id"]
        assert c["status"] == "completed" and c["init_params"]["item"] == name
        assert c["steps"]["chat"]["outputs"]["text"] == f"echo: hello {name}"
    assert sorted(user_text(prov.view(r)) for r in prov.chats()) == [f"hello {n}" for n in names]


def test_list_emit_await_item_wins_over_child_init_params_and_task_reference(env):
    prov = env.provider("openai")
    child = child_task(env, prov)
    parent = env.task({"fan": {"activity": "list_emit_await", "items_path": "init_params.things",
                               "task_reference": {"task_name": f"{COLL}/{child}"}, "item_param_name": "item",
                               "child_init_params_path": "init_params.common", "max_concurrency": 1}})
    traj = env.run(parent, {"things": [{"id": 1}, "two"], "common": {"item": "NOT THIS", "model": GPT}})
    refs = traj["steps"]["fan"]["outputs"]["trajectory_references"]
    kids = [env.trajectory(child, r["trajectory_id"]) for r in refs]
    assert [k["init_params"]["item"] for k in kids] == [{"id": 1}, "two"]
    assert [k["steps"]["chat"]["outputs"]["text"] for k in kids] == ['echo: hi {"id":1}', "echo: hi two"]
    # max_concurrency 1: the second child was created after the first one ended
    assert kids[1]["created"] >= kids[0]["ended"]


def test_list_emit_await_rejects_a_literal_items_array(env):
    t, s = env.one({"activity": "list_emit_await", "items": ["a"], "child_workflow_name": "x"})
    failed(t, "s", "items_path is required")


def picky_child(env):
    """A child that fails when its item is a template with a missing variable."""
    return env.task({"check": {"activity": "text_template", "template_path": "init_params.item"}})


def test_list_emit_await_failed_child_fails_the_step(env):
    child = picky_child(env)
    parent = env.task({"fan": {"activity": "list_emit_await", "items_path": "init_params.xs",
                               "child_workflow_name": child, "max_concurrency": 1}})
    traj = env.run(parent, {"xs": ["fine", "broken {{x}}", "never run"]})
    s = traj["steps"]["fan"]
    refs = s["outputs"]["trajectory_references"]
    assert refs[0]["status"] == "completed" and refs[1]["status"] == "failed" and refs[2] is None
    kid = refs[1]["trajectory_id"]
    child_error = ('step "check" failed: template has 1 placeholder with no value in variables: {{x}} (variables '
                   'has keys (none)); add them to variables or set strict: false to leave them as written')
    assert refs[1]["error"] == f"child run {kid} of {COLL}/{child} ended failed: {child_error}"
    failed(traj, "fan", f"items[1]: child run {kid} of {COLL}/{child} ended failed: {child_error} (set "
                        "continue_on_error: true to keep going; the other children were cancelled)")
    assert env.trajectory(child, kid)["status"] == "failed"


def test_list_emit_await_continue_on_error(env):
    child = picky_child(env)
    parent = env.task({"fan": {"activity": "list_emit_await", "items_path": "init_params.xs",
                               "child_workflow_name": child, "continue_on_error": True}})
    traj = env.run(parent, {"xs": ["broken {{x}}", "fine", "also {{y}}"]})
    s = traj["steps"]["fan"]
    assert s["status"] == "completed"
    assert [r["status"] for r in s["outputs"]["trajectory_references"]] == ["failed", "completed", "failed"]
    assert s["outputs"]["completed"] == 1 and s["outputs"]["failed"] == 2


def test_list_emit_await_failing_child_cancels_running_siblings(env):
    prov = env.provider("openai")
    child = child_task(env, prov)
    prov.mock.responder = lambda rec: (prov.error("refused") if user_text(prov.view(rec)).endswith("fail")
                                       else {"type": "stall", "seconds": 20})
    parent = env.task({"fan": {"activity": "list_emit_await", "items_path": "init_params.xs",
                               "child_workflow_name": child, "child_init_params": {"model": GPT}}})
    started = time.monotonic()
    traj = env.run(parent, {"xs": ["slow", "fail"]})
    assert time.monotonic() - started < 10
    s = traj["steps"]["fan"]
    assert s["status"] == "failed" and s["error"].startswith("items[1]: child run ")
    refs = s["outputs"]["trajectory_references"]
    assert refs[0] is None and refs[1]["status"] == "failed"
    [stalled] = [r for r in prov.chats() if user_text(prov.view(r)).endswith("slow")]
    assert stalled.disconnected.wait(5)  # the running sibling's model call was cut
    r = env.srv.get(f"/api/v1/db/trajectories/{COLL}/{child}")
    assert r.status_code == 200, r.text
    [tid] = [k["trajectory_id"] for k in r.json()["trajectories"] if k["init_params"]["item"] == "slow"]
    deadline = time.monotonic() + 5
    while env.trajectory(child, tid)["status"] == "running" and time.monotonic() < deadline:
        time.sleep(0.02)
    doc = env.trajectory(child, tid)
    assert doc["status"] == "cancelled" and doc["parent_trajectory_id"] == traj["trajectory_id"]


def test_list_emit_await_shutdown_while_children_run_does_not_fail_the_parent(env):
    # Regression: at shutdown the child's watch ends without a document; that was recorded as a failed
    # child, so the parent run was stored "failed" although it would have resumed after the restart.
    oa = env.oa
    gate = threading.Event()
    oa.responder = lambda rec: {"type": "stall", "seconds": 20} if not gate.is_set() else {"text": "late answer"}
    srv = PierServer(args=["--upstream-retry-base-ms", "10"], threads=2).start()
    try:
        srv.create_collection(COLL)
        srv.set_env(COLL, {"OPENAI_API_KEY": OA_KEY, "OPENAI_BASE_URL": oa.url + "/v1"})
        for name, steps in (("kid", {"chat": {"activity": "litellm_chat", "model": GPT,
                                              "prompt": "{{ init_params.item }}"}}),
                            ("mom", {"fan": {"activity": "list_emit_await", "items_path": "init_params.xs",
                                             "child_workflow_name": "kid"}})):
            r = srv.post(f"/api/v1/tasks/{COLL}", json={"name": name, "workflow": {
                "init_params": {}, "step_configs": steps, "steps": list(steps)}})
            assert r.status_code == 201, r.text
        r = srv.post(f"/api/v1/run/{COLL}/mom", files={"init_params": (None, json.dumps({"xs": ["one"]}))})
        assert r.status_code == 200, r.text
        tid = r.json()["trajectory_id"]
        oa.wait_for_requests(1)
        srv.stop()
        gate.set()
        srv.start()
        deadline = time.monotonic() + 15
        while True:
            doc = srv.get(f"/api/v1/db/trajectory/{COLL}/mom/{tid}").json()
            if doc["status"] not in ("pending", "running") or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        assert doc["status"] == "completed", doc
        [ref] = doc["steps"]["fan"]["outputs"]["trajectory_references"]
        assert ref["status"] == "completed"
        kid = srv.get(f"/api/v1/db/trajectory/{COLL}/kid/{ref['trajectory_id']}").json()
        assert kid["steps"]["chat"]["outputs"]["text"] == "late answer"
    finally:
        gate.set()
        srv.stop()
        srv.cleanup()


@pytest.mark.parametrize("config,message", [
    ({"child_workflow_name": "nope"}, None),
    ({}, "child_workflow_name is required: the name of a task in this collection to run per item"),
    ({"child_workflow_name": "other/t"}, 'child_workflow_name must be the name of a task in collection "acme" (got '
                                         '"other/t")'),
    ({"child_workflow_name": "SELF"}, None),
    ({"child_workflow_name": "x", "item_param_name": ""}, 'item_param_name must be a non-empty string such as "item" '
                                                          '(got a string)'),
    ({"child_workflow_name": "x", "child_init_params": [1]}, "child_init_params must be an object of init_params for "
                                                              "every child (got an array)"),
    ({"child_workflow_name": "x", "max_concurrency": "many"}, 'max_concurrency must be an integer from 1 to 1000000 '
                                                              '(got "many")'),
])
def test_list_emit_await_errors(env, config, message):
    name = f"self{next(env.names)}"
    if config.get("child_workflow_name") == "SELF":
        config = {**config, "child_workflow_name": name}
        message = f'child_workflow_name "{name}" is this task itself; a run cannot fan out to its own task'
    task = env.task({"s": {"activity": "list_emit_await", "items_path": "init_params.xs", **config}}, name=name)
    traj = env.run(task, {"xs": ["a"]})
    if message is None:
        s = traj["steps"]["s"]
        ref = s["outputs"]["trajectory_references"][0]
        assert ref == {"trajectory_id": None, "name": f"{COLL}/nope", "status": "failed", "index": 0,
                       "error": f'child task "nope" does not exist in collection "{COLL}"'}
        message = (f'items[0]: child task "nope" does not exist in collection "{COLL}" (set continue_on_error: true '
                   'to keep going; the other children were cancelled)')
    failed(traj, "s", message)


def test_list_emit_await_items_path_must_be_an_array(env):
    t, s = env.one({"activity": "list_emit_await", "items_path": "init_params.xs", "child_workflow_name": "x"},
                   {"xs": "abc"})
    failed(t, "s", "items_path must point at an array of at most 1000 items (got a string)")


def test_list_emit_await_empty_list(env):
    t, s = env.one({"activity": "list_emit_await", "items_path": "init_params.xs", "child_workflow_name": "x"},
                   {"xs": []})
    assert s["status"] == "completed"
    assert s["outputs"] == {"trajectory_references": [], "completed": 0, "failed": 0}


# ---------------------------------------------------------------------------------------
# activities together: a template feeds a judge whose verdict picks the branch

def test_pipeline_template_judge_branch(env, prov):
    prov.mock.script(prov.json_answer({"score": "no", "explanation": "rude"}))
    task = env.task({
        "prompt": {"activity": "text_template", "template_path": "init_params.tmpl",
                   "variables": {"reply_path": "init_params.reply"}},
        "judge": {"activity": "simple_judge", **prov.params, "item_path": "prompt.outputs.text",
                  "instruction": "Is this reply polite?", "judge_type": "binary"},
        "gate": {"activity": "conditional_branch", "condition_path": "judge.outputs.judgment",
                 "false_step": "rewrite"},
        "publish": {"activity": "text_echo", "text_path": "prompt.outputs.text"},
        "rewrite": {"activity": "text_echo", "text": "needs a rewrite: {{ judge.outputs.explanation }}"},
    })
    traj = env.run(task, {"tmpl": "Reply: {{reply}}", "reply": "Go away."})
    assert traj["status"] == "completed"
    st = traj["steps"]
    assert st["judge"]["outputs"]["judgment"] == "no"
    assert st["gate"]["outputs"] == {"condition": False, "next_step": "rewrite"}
    assert st["publish"]["status"] == "skipped"
    assert st["rewrite"]["outputs"]["text"] == "needs a rewrite: rude"
    assert user_text(prov.view(prov.chats()[0])) == "Instruction:\nIs this reply polite?\n\nItem to judge:\nReply: Go away."


def test_step_templates_describe_the_new_activities(env):
    r = env.srv.get("/api/v1/step-templates", token=None)
    assert r.status_code == 200, r.text
    by_name = {t["activity_name"]: t for t in r.json()["templates"]}
    want = {
        "litellm_vision": {"model", "prompt", "image_path", "image_url", "fallbacks"},
        "litellm_embeddings": {"model", "input", "dimensions", "input_type", "fallbacks"},
        "litellm_function_call": {"model", "prompt", "tools", "tool_choice"},
        "litellm_batch": {"model", "prompts", "max_concurrency", "fail_fast"},
        "simple_judge": {"item", "items", "instruction", "judge_type", "scale_range", "categories"},
        "text_template": {"template", "variables", "strict"},
        "conditional_branch": {"condition", "true_step", "false_step"},
        "conditional_step": {"condition", "true_step", "false_step"},
        "list_emit_await": {"items_path", "child_workflow_name", "item_param_name", "child_init_params",
                            "max_concurrency", "continue_on_error"},
    }
    for name, keys in want.items():
        assert keys <= set(by_name[name]["parameters"]), name
        assert by_name[name]["description"]
