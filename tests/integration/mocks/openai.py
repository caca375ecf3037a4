"""Mock OpenAI API (and OpenAI-compatible servers: OpenRouter, Groq, vLLM...) for pier's
integration tests: POST {prefix}/chat/completions (JSON or SSE), POST {prefix}/embeddings,
GET {prefix}/models[/{id}].

Invariants: 127.0.0.1 only; Bearer auth is checked before the body; the answer echoes the
model name exactly as received; SSE bytes are cut at random (seedable) positions.
"""

import base64
import json
import re
import struct
import time

from .common import (
    Answer, BaseHandler, BaseMock, DropMidStream, Error, ModelCatalog, ProviderError, Reply,
    SlowStream, Stall, StreamError, count_tokens, dumps_compact, embedding_vector,
    input_tokens, is_num, rand_id,
)

__all__ = [
    "MockOpenAI", "Reply", "Error", "Stall", "DropMidStream", "SlowStream", "StreamError",
    "ERRORS", "mask_key", "embedding_vector", "count_tokens", "openai_embedding",
]

# kind -> (status, type, code, param, message template). Templates see {key} {org}
# {model} {tokens} {limit} {retry}.
ERRORS = {
    "missing_api_key": (401, "invalid_request_error", None, None,
                        "You didn't provide an API key. You need to provide your API key in an "
                        "Authorization header using Bearer auth (i.e. Authorization: Bearer "
                        "YOUR_KEY), or as the password field (with blank username) if you're "
                        "accessing the API from your browser and are prompted for a username and "
                        "password. You can obtain an API key from "
                        "https://platform.openai.com/account/api-keys."),
    "invalid_api_key": (401, "invalid_request_error", "invalid_api_key", None,
                        "Incorrect API key provided: {key}. You can find your API key at "
                        "https://platform.openai.com/account/api-keys."),
    "no_such_organization": (401, "invalid_request_error", "no_such_organization", None,
                             "No such organization: {org}."),
    "invalid_request_error": (400, "invalid_request_error", None, None,
                              "Invalid request."),
    "context_length_exceeded": (400, "invalid_request_error", "context_length_exceeded",
                                "messages",
                                "This model's maximum context length is {limit} tokens. However, "
                                "your messages resulted in {tokens} tokens. Please reduce the "
                                "length of the messages."),
    "unsupported_country_region_territory": (403, "request_forbidden",
                                             "unsupported_country_region_territory", None,
                                             "Country, region, or territory not supported"),
    "model_not_found": (404, "invalid_request_error", "model_not_found", None,
                        "The model `{model}` does not exist or you do not have access to it."),
    "rate_limit_exceeded": (429, "tokens", "rate_limit_exceeded", None,
                            "Rate limit reached for {model} in organization {org} on tokens per "
                            "min (TPM): Limit 30000, Used 29000, Requested {tokens}. Please try "
                            "again in {retry}s. Visit https://platform.openai.com/account/"
                            "rate-limits to learn more."),
    "insufficient_quota": (429, "insufficient_quota", "insufficient_quota", None,
                           "You exceeded your current quota, please check your plan and billing "
                           "details. For more information on this error, read the docs: "
                           "https://platform.openai.com/docs/guides/error-codes/api-errors."),
    "server_error": (500, "server_error", None, None,
                     "The server had an error while processing your request. Sorry about that!"),
    "service_unavailable": (503, "server_error", None, None,
                            "That model is currently overloaded with other requests. You can "
                            "retry your request, or contact us through our help center at "
                            "help.openai.com if the error persists."),
}
ERRORS["overloaded"] = ERRORS["service_unavailable"]
STATUS_KINDS = {400: "invalid_request_error", 401: "invalid_api_key",
                403: "unsupported_country_region_territory", 404: "model_not_found",
                429: "rate_limit_exceeded", 500: "server_error", 503: "service_unavailable"}

CHAT_PARAMS = frozenset((
    "model", "messages", "audio", "frequency_penalty", "function_call", "functions",
    "logit_bias", "logprobs", "max_completion_tokens", "max_tokens", "metadata", "modalities",
    "n", "parallel_tool_calls", "prediction", "presence_penalty", "prompt_cache_key",
    "prompt_cache_retention", "reasoning_effort", "response_format", "safety_identifier",
    "seed", "service_tier", "stop", "store", "stream", "stream_options", "temperature",
    "tool_choice", "tools", "top_logprobs", "top_p", "user", "verbosity", "web_search_options",
))
EMBEDDING_PARAMS = frozenset(("model", "input", "encoding_format", "dimensions", "user"))
ROLES = ("system", "assistant", "user", "function", "tool", "developer")
PART_TYPES = ("text", "image_url", "input_audio", "refusal", "audio", "file")
ROLE_PARTS = {"user": ("text", "image_url", "input_audio", "file"), "system": ("text",),
              "developer": ("text",), "assistant": ("text", "refusal"), "tool": ("text",)}
EMBEDDING_DIMS = {"text-embedding-3-small": 1536, "text-embedding-3-large": 3072,
                  "text-embedding-ada-002": 1536}
# Reasoning models reject max_tokens and a non-default temperature.
REASONING_PREFIXES = ("o1", "o3", "o4", "gpt-5")
DEFAULT_MODELS = ("gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-5", "o4-mini",
                  "text-embedding-3-small", "text-embedding-3-large")
_PARSE_ERROR = ("We could not parse the JSON body of your request. (HINT: This likely means "
                "you aren't using your HTTP library correctly. The OpenAI API expects a JSON "
                "payload, but what was sent was not valid JSON. If you have trouble figuring "
                "out how to fix this, please contact us through our help center at "
                "help.openai.com.)")
_MISSING = object()


def mask_key(key):
    """OpenAI's redaction in 'Incorrect API key provided': first 8 chars, one '*' per
    hidden char, last 4 (sk-proj-****...abcd)."""
    if len(key) > 12:
        return key[:8] + "*" * (len(key) - 12) + key[-4:]
    if len(key) > 4:
        return key[:2] + "*" * (len(key) - 4) + key[-2:]
    return "*" * len(key)


def _tname(v):
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "a boolean"
    if isinstance(v, int):
        return "an integer"
    if isinstance(v, float):
        return "a decimal"
    if isinstance(v, str):
        return "a string"
    if isinstance(v, list):
        return "an array"
    return "an object"


def _fmt(v):
    return json.dumps(v) if not isinstance(v, str) else v


def error_body(etype, message, code=None, param=None, fields=None):
    err = {"message": message, "type": etype, "param": param, "code": code}
    err.update(fields or {})
    return {"error": err}


def _bad(message, param=None, code=None, status=400, etype="invalid_request_error"):
    return ProviderError(status, error_body(etype, message, code, param), code or etype, message)


def _supported(values):
    q = [f"'{v}'" for v in values]
    return ", ".join(q[:-1]) + (", and " if len(q) > 2 else " and ") + q[-1]


def _check_type(v, want, param):
    ok = {"string": isinstance(v, str), "boolean": isinstance(v, bool),
          "integer": isinstance(v, int) and not isinstance(v, bool),
          "number": is_num(v), "array": isinstance(v, list), "object": isinstance(v, dict)}[want]
    if not ok:
        art = "an" if want[0] in "aeiou" else "a"
        raise _bad(f"Invalid type for '{param}': expected {art} {want}, but got {_tname(v)} "
                   "instead.", param, "invalid_type")


def _check_range(body, key, lo, hi, integer=False):
    if key not in body or body[key] is None:
        return
    v = body[key]
    _check_type(v, "integer" if integer else "number", key)
    kind = "integer" if integer else "decimal"
    if lo is not None and v < lo:
        raise _bad(f"Invalid '{key}': {kind} below minimum value. Expected a value >= {lo}, "
                   f"but got {_fmt(v)} instead.", key, f"{kind}_below_min_value")
    if hi is not None and v > hi:
        raise _bad(f"Invalid '{key}': {kind} above maximum value. Expected a value <= {hi}, "
                   f"but got {_fmt(v)} instead.", key, f"{kind}_above_max_value")


def _missing(param):
    return _bad(f"Missing required parameter: '{param}'.", param, "missing_required_parameter")


def _validate_content_parts(i, role, content):
    p = f"messages[{i}].content"
    if isinstance(content, str):
        return
    if not isinstance(content, list):
        raise _bad(f"Invalid type for '{p}': expected one of a string or array of objects, but "
                   f"got {_tname(content)} instead.", p, "invalid_type")
    if not content:
        raise _bad(f"Invalid '{p}': empty array. Expected an array with minimum length 1, but "
                   "got an empty array instead.", p, "empty_array")
    for j, part in enumerate(content):
        pp = f"{p}[{j}]"
        if not isinstance(part, dict):
            raise _bad(f"Invalid type for '{pp}': expected an object, but got {_tname(part)} "
                       "instead.", pp, "invalid_type")
        t = part.get("type")
        if t is None:
            raise _missing(f"{pp}.type")
        if t not in ROLE_PARTS.get(role, PART_TYPES):
            raise _bad(f"Invalid value: '{t}'. Supported values are: "
                       f"{_supported(ROLE_PARTS.get(role, PART_TYPES))}.", f"{pp}.type",
                       "invalid_value")
        if t == "text" and not isinstance(part.get("text"), str):
            if "text" not in part:
                raise _missing(f"{pp}.text")
            _check_type(part["text"], "string", f"{pp}.text")
        if t == "image_url":
            iu = part.get("image_url")
            if not isinstance(iu, dict) or "url" not in iu:
                raise _missing(f"{pp}.image_url" if not isinstance(iu, dict) else f"{pp}.image_url.url")
            url = iu["url"]
            if not isinstance(url, str) or not url.startswith(("http://", "https://", "data:image/")):
                raise _bad(f"Invalid '{pp}.image_url.url'. Expected a valid URL, but got a value "
                           "with an invalid format.", f"{pp}.image_url.url", "invalid_value")


def _validate_messages(msgs):
    if not isinstance(msgs, list):
        _check_type(msgs, "array", "messages")
    if not msgs:
        raise _bad("Invalid 'messages': empty array. Expected an array with minimum length 1, "
                   "but got an empty array instead.", "messages", "empty_array")
    for i, m in enumerate(msgs):
        if not isinstance(m, dict):
            _check_type(m, "object", f"messages[{i}]")
        role = m.get("role")
        if role is None:
            raise _missing(f"messages[{i}].role")
        if role not in ROLES:
            raise _bad(f"Invalid value: '{_fmt(role)}'. Supported values are: "
                       f"{_supported(ROLES)}.", f"messages[{i}].role", "invalid_value")
        content = m.get("content", _MISSING)
        if role in ("system", "developer", "user", "tool"):
            if content is _MISSING:
                raise _missing(f"messages[{i}].content")
            _validate_content_parts(i, role, content)
        if role == "tool" and not m.get("tool_call_id"):
            raise _bad("Missing parameter 'tool_call_id': messages with role 'tool' must have a "
                       "'tool_call_id'.", f"messages.[{i}].tool_call_id")
        if role == "assistant":
            tcs = m.get("tool_calls")
            if content not in (_MISSING, None):
                _validate_content_parts(i, role, content)
            elif tcs is None and m.get("function_call") is None and m.get("audio") is None \
                    and m.get("refusal") is None:
                raise _bad("Invalid value for 'content': expected a string, got null.",
                           f"messages.[{i}].content")
            if tcs is not None:
                p = f"messages[{i}].tool_calls"
                _check_type(tcs, "array", p)
                if not tcs:
                    raise _bad(f"Invalid '{p}': empty array. Expected an array with minimum "
                               "length 1, but got an empty array instead.", p, "empty_array")
                for j, tc in enumerate(tcs):
                    q = f"{p}[{j}]"
                    _check_type(tc, "object", q)
                    for key in ("id", "type", "function"):
                        if key not in tc:
                            raise _missing(f"{q}.{key}")
                    if tc["type"] != "function":
                        raise _bad(f"Invalid value: '{_fmt(tc['type'])}'. Supported values are: "
                                   "'function'.", f"{q}.type", "invalid_value")
                    fn = tc["function"]
                    _check_type(fn, "object", f"{q}.function")
                    for key in ("name", "arguments"):
                        if key not in fn:
                            raise _missing(f"{q}.function.{key}")
                        _check_type(fn[key], "string", f"{q}.function.{key}")
    # Pairing: an assistant turn with tool_calls must be followed by one tool message per
    # id; a tool message must answer the tool_calls right before it.
    pending, pending_at, in_block = [], None, False
    for i, m in enumerate(msgs):
        if m["role"] == "tool":
            if not in_block:
                raise _bad("Invalid parameter: messages with role 'tool' must be a response to a "
                           "preceeding message with 'tool_calls'.", f"messages.[{i}].role")
            tid = m["tool_call_id"]
            if tid in pending:
                pending.remove(tid)
            elif tid not in [tc.get("id") for tc in msgs[pending_at]["tool_calls"]]:
                raise _bad(f"Invalid parameter: 'tool_call_id' of '{tid}' not found in "
                           "'tool_calls' of previous message.", f"messages.[{i}].tool_call_id")
            continue
        if pending:
            break
        in_block = m["role"] == "assistant" and bool(m.get("tool_calls"))
        if in_block:
            pending = [tc["id"] for tc in m["tool_calls"]]
            pending_at = i
    if pending:
        raise _bad("An assistant message with 'tool_calls' must be followed by tool messages "
                   "responding to each 'tool_call_id'. The following tool_call_ids did not have "
                   f"response messages: {', '.join(pending)}", f"messages.[{pending_at}].role")


def _validate_tools(body):
    tools = body.get("tools")
    if tools is not None:
        _check_type(tools, "array", "tools")
        for i, t in enumerate(tools):
            p = f"tools[{i}]"
            _check_type(t, "object", p)
            if t.get("type") not in ("function", "custom"):
                if "type" not in t:
                    raise _missing(f"{p}.type")
                raise _bad(f"Invalid value: '{_fmt(t['type'])}'. Supported values are: "
                           "'function' and 'custom'.", f"{p}.type", "invalid_value")
            if t["type"] == "function":
                fn = t.get("function")
                if fn is None:
                    raise _missing(f"{p}.function")
                _check_type(fn, "object", f"{p}.function")
                name = fn.get("name")
                if name is None:
                    raise _missing(f"{p}.function.name")
                if not isinstance(name, str) or not re.match(r"^[a-zA-Z0-9_-]{1,64}$", name):
                    raise _bad(f"Invalid '{p}.function.name': string does not match pattern. "
                               "Expected a string that matches the pattern '^[a-zA-Z0-9_-]+$'.",
                               f"{p}.function.name", "invalid_value")
    tc = body.get("tool_choice")
    if tc is not None:
        if not tools:
            raise _bad("Invalid value for 'tool_choice': 'tool_choice' is only allowed when "
                       "'tools' are specified.", "tool_choice")
        if isinstance(tc, str):
            if tc not in ("none", "auto", "required"):
                raise _bad(f"Invalid value: '{tc}'. Supported values are: 'none', 'auto', and "
                           "'required'.", "tool_choice", "invalid_value")
        elif isinstance(tc, dict):
            if tc.get("type") == "function":
                fn = tc.get("function")
                if not isinstance(fn, dict) or "name" not in fn:
                    raise _missing("tool_choice.function.name" if isinstance(fn, dict)
                                   else "tool_choice.function")
            elif tc.get("type") not in ("allowed_tools", "custom"):
                raise _bad(f"Invalid value: '{_fmt(tc.get('type'))}'. Supported values are: "
                           "'function', 'allowed_tools', and 'custom'.", "tool_choice.type",
                           "invalid_value")
        else:
            raise _bad(f"Invalid type for 'tool_choice': expected one of a string or an object, "
                       f"but got {_tname(tc)} instead.", "tool_choice", "invalid_type")
    if body.get("parallel_tool_calls") is not None and not tools:
        raise _bad("Invalid value for 'parallel_tool_calls': 'parallel_tool_calls' is only "
                   "allowed when 'tools' are specified.", "parallel_tool_calls")


def validate_chat(body, strict=True, extra_params=()):
    """Raise ProviderError (OpenAI's 400 shape) the way /v1/chat/completions does.
    The model check is done by the caller (needs the mock's model list)."""
    unknown = [k for k in body if k not in CHAT_PARAMS and k not in extra_params]
    if strict and unknown:
        if len(unknown) == 1:
            raise _bad(f"Unrecognized request argument supplied: {unknown[0]}")
        raise _bad(f"Unrecognized request arguments supplied: {', '.join(unknown)}")
    if "messages" not in body:
        raise _missing("messages")
    _validate_messages(body["messages"])
    if "stream" in body and body["stream"] is not None:
        _check_type(body["stream"], "boolean", "stream")
    if body.get("stream_options") is not None:
        _check_type(body["stream_options"], "object", "stream_options")
        if not body.get("stream"):
            raise _bad("The 'stream_options' parameter is only allowed when 'stream' is "
                       "enabled.", "stream_options")
    _check_range(body, "n", 1, 128, integer=True)
    _check_range(body, "temperature", 0, 2)
    _check_range(body, "top_p", 0, 1)
    _check_range(body, "presence_penalty", -2, 2)
    _check_range(body, "frequency_penalty", -2, 2)
    _check_range(body, "max_tokens", 1, None, integer=True)
    _check_range(body, "max_completion_tokens", 1, None, integer=True)
    _check_range(body, "top_logprobs", 0, 20, integer=True)
    stop = body.get("stop")
    if stop is not None and not isinstance(stop, str):
        _check_type(stop, "array", "stop")
        if len(stop) > 4:
            raise _bad("Invalid 'stop': array too long. Expected an array with maximum length 4, "
                       f"but got an array with length {len(stop)} instead.", "stop",
                       "array_above_max_length")
    rf = body.get("response_format")
    if rf is not None:
        _check_type(rf, "object", "response_format")
        if rf.get("type") not in ("text", "json_object", "json_schema"):
            raise _bad(f"Invalid value: '{_fmt(rf.get('type'))}'. Supported values are: "
                       "'json_object', 'json_schema', and 'text'.", "response_format.type",
                       "invalid_value")
    _validate_tools(body)
    model = body.get("model") or ""
    if model.startswith(REASONING_PREFIXES):
        if body.get("max_tokens") is not None:
            raise _bad("Unsupported parameter: 'max_tokens' is not supported with this model. "
                       "Use 'max_completion_tokens' instead.", "max_tokens",
                       "unsupported_parameter")
        t = body.get("temperature")
        if t is not None and t != 1:
            raise _bad(f"Unsupported value: 'temperature' does not support {_fmt(t)} with this "
                       "model. Only the default (1) value is supported.", "temperature",
                       "unsupported_value")


def _embedding_inputs(inp):
    """-> list of (text for the vector, token count) or None if invalid."""
    if isinstance(inp, str):
        return [(inp, count_tokens(inp))] if inp else None
    if not isinstance(inp, list) or not inp or len(inp) > 2048:
        return None
    if all(isinstance(x, int) and not isinstance(x, bool) for x in inp):
        return [(" ".join(map(str, inp)), len(inp))]
    out = []
    for x in inp:
        if isinstance(x, str) and x:
            out.append((x, count_tokens(x)))
        elif isinstance(x, list) and x and all(isinstance(t, int) and not isinstance(t, bool)
                                               for t in x):
            out.append((" ".join(map(str, x)), len(x)))
        else:
            return None
    return out


def openai_embedding(text, dim):
    """The vector MockOpenAI returns for `text` at `dim` dimensions."""
    return embedding_vector(text, dim, True)


class _Handler(BaseHandler):
    server_version = "cloudflare"

    # -- routing / auth ----------------------------------------------------------------
    def route(self):
        rec, mock = self.rec, self.mock
        path = rec.route_path
        if not path.startswith(mock.path_prefix + "/"):
            return
        rest = path[len(mock.path_prefix):]
        if self.command == "POST" and rest == "/chat/completions":
            rec.operation = "chat"
        elif self.command == "POST" and rest == "/embeddings":
            rec.operation = "embeddings"
        elif self.command == "GET" and rest == "/models":
            rec.operation = "models"
        elif self.command == "GET" and rest.startswith("/models/") and len(rest) > 8:
            rec.operation = "model"
            rec.model = rest[len("/models/"):]
        self.model_from_body(("chat", "embeddings"), "chat")

    def not_found(self):
        raw = self.rec.path.partition("?")[0]
        return _bad(f"Invalid URL ({self.command} {raw})", status=404)

    def authenticate(self):
        mock, rec = self.mock, self.rec
        rec.extra["organization"] = self.headers.get("OpenAI-Organization")
        rec.extra["project"] = self.headers.get("OpenAI-Project")
        authz = (self.headers.get("Authorization") or "").strip()
        scheme, _, token = authz.partition(" ")
        token = token.strip()
        if scheme.lower() == "bearer" and token:
            rec.auth = "bearer"
            rec.api_key = token
        elif mock.require_auth:
            raise self.error_for(Error("missing_api_key"))
        else:
            return
        if mock.api_keys is not None and token not in mock.api_keys:
            raise self.error_for(Error("invalid_api_key"))
        org = rec.extra["organization"]
        if mock.organization is not None and org is not None and org != mock.organization:
            raise self.error_for(Error("no_such_organization"))

    def scripted(self):
        return self.rec.operation in ("chat", "embeddings")

    # -- errors --------------------------------------------------------------------------
    def error_for(self, err, stream_error=False):
        mock, rec = self.mock, self.rec
        kind = err.kind if err.kind is not None else "server_error"
        hint = kind if isinstance(kind, int) else None
        if isinstance(kind, int):
            kind = STATUS_KINDS.get(kind, "server_error" if kind >= 500 else "invalid_request_error")
        status, etype, code, param, template = ERRORS.get(
            kind, (400, "invalid_request_error", kind, None, kind))
        status = getattr(err, "status", None) or hint or status
        retry = getattr(err, "retry_after", None)
        if retry is None and status == 429:
            retry = 1
        body = rec.json if isinstance(rec.json, dict) else {}
        tokens = getattr(err, "tokens", None) or input_tokens(body.get("messages"))
        limit = getattr(err, "limit", None) or mock.window_for(rec.model) or 128000
        msg = err.message
        if msg is None:
            msg = template.format(key=mask_key(rec.api_key or ""),
                                  org=rec.extra.get("organization") or mock.organization or
                                  "org-mock",
                                  model=rec.model, tokens=tokens, limit=limit,
                                  retry=retry if retry not in (None, False) else 1)
        hdrs = dict(getattr(err, "headers", None) or {})
        if status == 429 and retry is not False:
            hdrs.setdefault("Retry-After", str(retry))
            hdrs.setdefault("x-ratelimit-limit-tokens", "30000")
            hdrs.setdefault("x-ratelimit-remaining-tokens", "0")
            hdrs.setdefault("x-ratelimit-reset-tokens", f"{retry}s")
        elif retry not in (None, False):
            hdrs.setdefault("Retry-After", str(retry))
        if getattr(err, "body", None) is not None:
            return ProviderError(status, err.body, kind, msg, hdrs)
        eb = error_body(etype, msg, code, param, getattr(err, "fields", None))
        return ProviderError(status, eb, code or etype, msg, hdrs)

    def internal_error(self, tb):
        return ProviderError(500, error_body("server_error", "mock bug: " + tb), "mock_bug", tb)

    def encode(self, obj):
        indent = 4 if isinstance(obj, dict) and set(obj) == {"error"} else 2
        return (json.dumps(obj, ensure_ascii=False, indent=indent) + "\n").encode("utf-8")

    def common_headers(self):
        mock, rec = self.mock, self.rec
        return [("x-request-id", "req_" + rand_id(self.rng, 32, "0123456789abcdef")),
                ("openai-organization", rec.extra.get("organization") or mock.organization or
                 "user-mock"),
                ("openai-processing-ms", str(self.latency_ms())),
                ("openai-version", "2020-10-01")]

    # -- validation ----------------------------------------------------------------------
    def validate(self):
        rec, mock = self.rec, self.mock
        op = rec.operation
        if op not in ("chat", "embeddings"):
            return
        body = rec.json
        if rec.json_error or not isinstance(body, dict):
            raise _bad(_PARSE_ERROR)
        if body.get("model") in (None, ""):
            raise _bad("you must provide a model parameter")
        _check_type(body["model"], "string", "model")
        if mock.models is not None and body["model"] not in mock.models and mock.strict_models:
            raise self.error_for(Error("model_not_found"))
        if op == "chat":
            validate_chat(body, mock.strict_params, mock.extra_params)
            window = mock.window_for(rec.model)
            n = input_tokens(body.get("messages"), body.get("tools"))
            if window is not None and n > window:
                raise self.error_for(Error("context_length_exceeded", tokens=n, limit=window))
        else:
            self._validate_embeddings(body)

    def _validate_embeddings(self, body):
        mock = self.mock
        unknown = [k for k in body if k not in EMBEDDING_PARAMS and k not in mock.extra_params]
        if mock.strict_params and unknown:
            raise _bad(f"Unrecognized request argument supplied: {unknown[0]}")
        if "input" not in body:
            raise _missing("input")
        if _embedding_inputs(body["input"]) is None:
            raise _bad("'$.input' is invalid. Please check the API reference: "
                       "https://platform.openai.com/docs/api-reference.")
        fmt = body.get("encoding_format")
        if fmt is not None and fmt not in ("float", "base64"):
            raise _bad(f"Invalid value: '{_fmt(fmt)}'. Supported values are: 'float' and "
                       "'base64'.", "encoding_format", "invalid_value")
        if body.get("dimensions") is not None:
            if body["model"] == "text-embedding-ada-002":
                raise _bad("This model does not support specifying dimensions.")
            _check_range(body, "dimensions", 1, mock.native_dim(body["model"]), integer=True)

    # -- answers -------------------------------------------------------------------------
    def _answer(self, reply):
        return Answer(reply, self.mock.default_text, self.rng,
                      lambda r: "call_" + rand_id(r, 24))

    def _usage(self, ans, n):
        body = self.rec.json
        u = ans.usage
        pt = u.get("prompt_tokens", input_tokens(body.get("messages"), body.get("tools")))
        ct = u.get("completion_tokens", ans.output_tokens() * n)
        return {"prompt_tokens": pt, "completion_tokens": ct,
                "total_tokens": u.get("total_tokens", pt + ct),
                "prompt_tokens_details": u.get("prompt_tokens_details", {
                    "cached_tokens": u.get("cached_tokens", 0), "audio_tokens": 0}),
                "completion_tokens_details": u.get("completion_tokens_details", {
                    "reasoning_tokens": u.get("reasoning_tokens", 0), "audio_tokens": 0,
                    "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0})}

    def _ids(self, reply):
        return ("chatcmpl-" + rand_id(self.rng, 29), int(time.time()),
                reply.model or self.rec.model)

    def respond(self, reply):
        op = self.rec.operation
        if op == "models":
            return 200, {"object": "list", "data": [self._model_obj(m) for m in self.mock.model_list()]}, []
        if op == "model":
            if self.rec.model not in self.mock.model_list():
                raise _bad(f"The model '{self.rec.model}' does not exist", "model",
                           "model_not_found", status=404)
            return 200, self._model_obj(self.rec.model), []
        if op == "embeddings":
            return 200, self._embeddings(reply), []
        ans = self._answer(reply)
        n = self.rec.json.get("n") or 1
        cid, created, model = self._ids(reply)
        finish = ans.finish_reason or ("tool_calls" if ans.tools else "stop")
        msg = {"role": "assistant", "content": ans.text if (ans.text or not ans.tools) else None,
               "refusal": None, "annotations": []}
        if ans.tools:
            msg["tool_calls"] = [{"id": t["id"], "type": "function",
                                  "function": {"name": t["name"], "arguments": t["arguments"]}}
                                 for t in ans.tools]
        return 200, {
            "id": cid, "object": "chat.completion", "created": created, "model": model,
            "choices": [{"index": i, "message": msg, "logprobs": None, "finish_reason": finish}
                        for i in range(n)],
            "usage": self._usage(ans, n), "service_tier": "default",
            "system_fingerprint": self.mock.system_fingerprint,
        }, []

    @staticmethod
    def _model_obj(m):
        return {"id": m, "object": "model", "created": 1686935002, "owned_by": "openai"}

    def _embeddings(self, reply):
        body = self.rec.json
        model = body["model"]
        dim = body.get("dimensions") or self.mock.native_dim(model)
        items = _embedding_inputs(body["input"])
        data = []
        for i, (text, _) in enumerate(items):
            vec = openai_embedding(text, dim)
            if body.get("encoding_format") == "base64":
                vec = base64.b64encode(struct.pack(f"<{dim}f", *vec)).decode()
            data.append({"object": "embedding", "index": i, "embedding": vec})
        toks = sum(t for _, t in items)
        usage = dict({"prompt_tokens": toks, "total_tokens": toks}, **(reply.usage or {}))
        return {"object": "list", "data": data, "model": reply.model or model, "usage": usage}

    # -- streams -------------------------------------------------------------------------
    def stream_headers(self, reply):
        return [("Content-Type", "text/event-stream; charset=utf-8")]

    def _sse(self, obj):
        if isinstance(obj, (bytes, bytearray)):
            return bytes(obj)
        if obj == "[DONE]":
            return b"data: [DONE]\n\n"
        return b"data: " + dumps_compact(obj) + b"\n\n"

    def stream_events(self, reply):
        if reply.events is not None:
            return [self._sse(e) for e in reply.events]
        body = self.rec.json
        opts = body.get("stream_options") or {}
        include_usage = bool(opts.get("include_usage"))
        obfuscate = self.mock.obfuscation and opts.get("include_obfuscation", True) is not False
        ans = self._answer(reply)
        n = body.get("n") or 1
        cid, created, model = self._ids(reply)
        base = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
                "service_tier": "default", "system_fingerprint": self.mock.system_fingerprint}

        def chunk(choices, usage=None):
            d = dict(base, choices=choices)
            if include_usage:
                d["usage"] = usage
            if obfuscate:
                d["obfuscation"] = rand_id(self.rng, self.rng.randint(1, 16))
            return d

        def choice(i, delta, finish=None):
            return {"index": i, "delta": delta, "logprobs": None, "finish_reason": finish}

        def tool_head(k, t):
            return {"index": k, "id": t["id"], "type": "function",
                    "function": {"name": t["name"], "arguments": ""}}

        finish = ans.finish_reason or ("tool_calls" if ans.tools else "stop")
        out = []
        for c in range(n):
            with_text = bool(ans.text) or not ans.tools
            first = {"role": "assistant", "content": "" if with_text else None, "refusal": None}
            if not with_text:
                first = {"role": "assistant", "content": None,
                         "tool_calls": [tool_head(0, ans.tools[0])], "refusal": None}
            out.append(chunk([choice(c, first)]))
            for piece in ans.text_pieces(self.rng):
                out.append(chunk([choice(c, {"content": piece})]))
            for k, t in enumerate(ans.tools):
                if with_text or k:
                    out.append(chunk([choice(c, {"tool_calls": [tool_head(k, t)]})]))
                for frag in t["fragments"]:
                    out.append(chunk([choice(c, {"tool_calls": [
                        {"index": k, "function": {"arguments": frag}}]})]))
            out.append(chunk([choice(c, {}, finish)]))
        if include_usage:
            out.append(chunk([], self._usage(ans, n)))
        return [self._sse(o) for o in out] + [b"data: [DONE]\n\n"]

    def stream_error_event(self, b):
        err = self.error_for(Error(b.kind or "server_error", message=b.message))
        return self._sse(err.body)


class MockOpenAI(ModelCatalog, BaseMock):
    """Mock OpenAI-compatible API on http://127.0.0.1:<port>{path_prefix}.

    MockOpenAI(api_keys={"sk-..."} (None: any non-empty Bearer key), organization=None
               (set: an OpenAI-Organization header naming another org -> 401),
               path_prefix="/v1" ("/api/v1" OpenRouter, "/openai/v1" Groq, "" bare), *,
               models=None (list for GET /models and, with strict_models, the only models
               chat/embeddings accept; None: DEFAULT_MODELS listed, any accepted),
               strict_models=True, context_window=None (int or {model: int}: longer
               prompts get 400 context_length_exceeded), strict_params=True (unknown
               top-level keys -> 400 "Unrecognized request argument supplied"),
               extra_params=() (extra keys to accept), embedding_dims=None ({model: dim}),
               default_embedding_dim=1536, obfuscation=True (stream chunks carry
               "obfuscation" unless stream_options.include_obfuscation is false),
               require_auth=True, system_fingerprint="fp_...", seed=None, validate=True)

    Operations (rec.operation): chat, embeddings (scripted), models, model (not scripted).
    Scripting/recording: see common.BaseMock and common.RecordedRequest (rec.body holds the
    raw bytes as received, rec.json the parsed body, rec.model the name received).

    Example:
        with MockOpenAI(api_keys={"sk-test"}) as oa:
            oa.script(Reply(tool_calls=[{"name": "get_weather", "input": {"city": "Paris"}}]),
                      Error("rate_limit_exceeded", retry_after=2),
                      Error("context_length_exceeded"), Stall(30))
            ...point pier at oa.url + "/v1"...
            rec = oa.wait_for_requests(1)[0]
            assert rec.json["model"] == "gpt-4o" and rec.auth_ok
    """

    handler_class = _Handler
    thread_name = "mock-openai"
    DEFAULT_MODELS = DEFAULT_MODELS

    def __init__(self, api_keys=None, organization=None, path_prefix="/v1", *, models=None,
                 strict_models=True, context_window=None, strict_params=True, extra_params=(),
                 embedding_dims=None, default_embedding_dim=1536, obfuscation=True,
                 require_auth=True, system_fingerprint="fp_c4585b5b9c", seed=None,
                 validate=True):
        super().__init__(seed=seed, validate=validate)
        self.api_keys = set(api_keys) if api_keys is not None else None
        self.organization = organization
        self.path_prefix = path_prefix.rstrip("/")
        self.models = list(models) if models is not None else None
        self.strict_models = strict_models
        self.context_window = context_window
        self.strict_params = strict_params
        self.extra_params = frozenset(extra_params)
        self.embedding_dims = dict(EMBEDDING_DIMS, **(embedding_dims or {}))
        self.default_embedding_dim = default_embedding_dim
        self.obfuscation = obfuscation
        self.require_auth = require_auth
        self.system_fingerprint = system_fingerprint

    @property
    def base_url(self):
        return self.url + self.path_prefix
