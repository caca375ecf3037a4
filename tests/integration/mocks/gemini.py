"""Mock Gemini API (generativelanguage, v1beta and v1) for pier's integration tests:
POST /v1beta/models/{model}:generateContent, :streamGenerateContent (?alt=sse SSE, or the
streamed JSON array without alt), :countTokens, :embedContent, :batchEmbedContents;
GET /v1beta/models[/{model}].

Invariants: 127.0.0.1 only; the key (x-goog-api-key header, else ?key=) is checked before
the body; errors are google.rpc Status objects; SSE events end with CRLF CRLF like
Google's; bytes are cut at random (seedable) positions; proto-JSON field names are
accepted in lowerCamel and snake_case.
"""

import json
import re

from .common import (
    ALNUM, Answer, BaseHandler, BaseMock, DropMidStream, Error, ModelCatalog, ProviderError,
    Reply, SlowStream, Stall, StreamError, count_tokens, embedding_vector, input_tokens,
    is_num, rand_id, split_random,
)

__all__ = [
    "MockGemini", "Reply", "Error", "Stall", "DropMidStream", "SlowStream", "StreamError",
    "ERRORS", "gemini_embedding", "count_tokens", "embedding_vector",
]

# kind (google.rpc code name) -> (HTTP status, default message). Templates see {model}
# {version} {method} {tokens} {limit}.
ERRORS = {
    "INVALID_ARGUMENT": (400, "Request contains an invalid argument."),
    "FAILED_PRECONDITION": (400, "User location is not supported for the API use."),
    "CONTEXT_TOO_LONG": (400, "The input token count ({tokens}) exceeds the maximum number of "
                              "tokens allowed ({limit})."),
    "API_KEY_INVALID": (400, "API key not valid. Please pass a valid API key."),
    "UNAUTHENTICATED": (401, "Request had invalid authentication credentials. Expected OAuth 2 "
                             "access token, login cookie or other valid authentication "
                             "credential."),
    "PERMISSION_DENIED": (403, "The caller does not have permission"),
    "NOT_FOUND": (404, "models/{model} is not found for API version {version}, or is not "
                       "supported for {method}. Call ListModels to see the list of available "
                       "models and their supported methods."),
    "RESOURCE_EXHAUSTED": (429, "You exceeded your current quota, please check your plan and "
                                "billing details. For more information on this error, head to: "
                                "https://ai.google.dev/gemini-api/docs/rate-limits."),
    "CANCELLED": (499, "The operation was cancelled."),
    "INTERNAL": (500, "An internal error has occurred. Please retry or report in "
                      "https://developers.generativeai.google/guide/troubleshooting"),
    "UNAVAILABLE": (503, "The model is overloaded. Please try again later."),
    "DEADLINE_EXCEEDED": (504, "Deadline expired before operation could complete."),
}
STATUS_KINDS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
                404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED", 499: "CANCELLED",
                500: "INTERNAL", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}
_RPC_STATUS = {"CONTEXT_TOO_LONG": "INVALID_ARGUMENT", "API_KEY_INVALID": "INVALID_ARGUMENT"}

METHODS = ("generateContent", "streamGenerateContent", "countTokens", "embedContent",
           "batchEmbedContents")
SCRIPTED = ("generateContent", "streamGenerateContent", "embedContent", "batchEmbedContents")
GENERATE_FIELDS = ("contents", "tools", "toolConfig", "safetySettings", "systemInstruction",
                   "generationConfig", "cachedContent", "model", "labels")
GENCONFIG_FIELDS = ("stopSequences", "responseMimeType", "responseSchema", "responseJsonSchema",
                    "responseModalities", "candidateCount", "maxOutputTokens", "temperature",
                    "topP", "topK", "seed", "presencePenalty", "frequencyPenalty",
                    "responseLogprobs", "logprobs", "enableEnhancedCivicAnswers",
                    "speechConfig", "thinkingConfig", "imageConfig", "mediaResolution",
                    "_responseJsonSchema")
PART_DATA = ("text", "inlineData", "fileData", "functionCall", "functionResponse",
             "executableCode", "codeExecutionResult")
MIME_TYPES = ("text/plain", "application/json", "application/xml", "application/yaml",
              "text/x.enum")
EMBEDDING_DIMS = {"gemini-embedding-001": 3072, "text-embedding-004": 768,
                  "embedding-001": 768}
DEFAULT_MODELS = ("gemini-2.5-pro", "gemini-2.5-flash", "gemini-2.5-flash-lite",
                  "gemini-embedding-001", "text-embedding-004")
_ROUTE = re.compile(r"^/(v1beta|v1|v1alpha)/models/([^/:]+):([A-Za-z]+)$")
_MODEL_ROUTE = re.compile(r"^/(v1beta|v1|v1alpha)/models(?:/([^/:]+))?$")
_ID_ALPHABET = ALNUM + "-_"


def _snake(name):
    return re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), name)


def _camel(name):
    return re.sub(r"_([a-z])", lambda m: m.group(1).upper(), name)


def _get(d, camel, default=None):
    """Proto-JSON accepts both spellings of a field name."""
    if not isinstance(d, dict):
        return default
    if camel in d:
        return d[camel]
    return d.get(_snake(camel), default)


def _has(d, camel):
    return isinstance(d, dict) and (camel in d or _snake(camel) in d)


def rpc_error(code, status, message, details=None):
    err = {"code": code, "message": message, "status": status}
    if details:
        err["details"] = details
    return {"error": err}


def _bad(message, details=None):
    return ProviderError(400, rpc_error(400, "INVALID_ARGUMENT", message, details),
                         "INVALID_ARGUMENT", message)


def _field_bad(message):
    return _bad(message, [{"@type": "type.googleapis.com/google.rpc.BadRequest",
                           "fieldViolations": [{"description": message}]}])


def _unknown_fields(obj, allowed, where=None):
    for k in obj:
        if _camel(k) not in allowed:
            at = f" at '{where}'" if where else ""
            raise _field_bad(f'Invalid JSON payload received. Unknown name "{k}"{at}: '
                             "Cannot find field.")


def _content_texts(content):
    return [p.get("text") for p in (_get(content, "parts") or [])
            if isinstance(p, dict) and isinstance(p.get("text"), str)]


def _validate_parts(prefix, parts):
    if not isinstance(parts, list) or not parts:
        raise _bad(f"* {prefix}.parts: contents.parts must not be empty.\n")
    for j, p in enumerate(parts):
        pp = f"{prefix}.parts[{j}]"
        present = [f for f in PART_DATA if _has(p, f)]
        if not present:
            raise _bad(f"* {pp}.data: required oneof field 'data' must have one initialized "
                       "field\n")
        if len(present) > 1:
            raise _field_bad(f"Invalid value at '{_snake(pp)}' ({present[0]}), oneof field "
                             f"'data' is already set. Cannot set '{present[1]}'")
        if _has(p, "inlineData"):
            d = _get(p, "inlineData")
            if not _get(d, "mimeType"):
                raise _bad(f"* {pp}.inline_data.mime_type: Mime type cannot be empty.\n")
        for fc in ("functionCall", "functionResponse"):
            if _has(p, fc) and not _get(_get(p, fc), "name"):
                raise _bad(f"* {pp}.{_snake(fc)}.name: Name cannot be empty.\n")


def _validate_contents(contents, req="GenerateContentRequest", pairing=True):
    if not contents:
        raise _bad(f"* {req}.contents: contents is not specified\n")
    if not isinstance(contents, list):
        raise _field_bad("Invalid JSON payload received. Unknown name \"contents\": Proto field "
                         "is not repeating, cannot start list.")
    for i, c in enumerate(contents):
        if not isinstance(c, dict):
            raise _field_bad(f"Invalid value at 'contents[{i}]': expected an object")
        role = c.get("role")
        if role not in (None, "", "user", "model"):
            raise _bad("Please use a valid role: user, model.")
        _validate_parts(f"{req}.contents[{i}]", _get(c, "parts"))
    if not pairing:
        return

    def kinds(c):
        parts = _get(c, "parts")
        return (sum(1 for p in parts if _has(p, "functionCall")),
                sum(1 for p in parts if _has(p, "functionResponse")))

    for i, c in enumerate(contents):
        calls, responses = kinds(c)
        if calls:
            prev = contents[i - 1] if i else None
            if prev is None or (prev.get("role") or "user") != "user":
                raise _bad("Please ensure that function call turn comes immediately after a "
                           "user turn or after a function response turn.")
        if responses:
            prev = contents[i - 1] if i else None
            pcalls = kinds(prev)[0] if prev is not None else 0
            if prev is None or prev.get("role") != "model" or not pcalls:
                raise _bad("Please ensure that function response turn comes immediately after "
                           "a function call turn.")
            if responses != pcalls:
                raise _bad("Please ensure that the number of function response parts is equal "
                           "to the number of function call parts of the function call turn.")


def _range(cfg, camel, lo, hi, integer=False):
    v = _get(cfg, camel)
    if v is None:
        return
    snake = _snake(camel)
    if not is_num(v) or (integer and not isinstance(v, int)):
        raise _field_bad(f"Invalid value at 'generation_config.{snake}' ({type(v).__name__}), "
                         f"{json.dumps(v)}")
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        rng = f"[{lo}, {hi}]" if hi is not None else f">= {lo}"
        raise _bad(f"* GenerateContentRequest.generation_config.{snake}: {snake} must be in the "
                   f"range {rng}\n")


def validate_generate(body, strict=True):
    """Raise ProviderError (google.rpc INVALID_ARGUMENT) like generateContent does."""
    if strict:
        _unknown_fields(body, GENERATE_FIELDS)
    _validate_contents(_get(body, "contents"))
    si = _get(body, "systemInstruction")
    if si is not None:
        _validate_parts("GenerateContentRequest.system_instruction", _get(si, "parts"))
    cfg = _get(body, "generationConfig")
    if cfg is not None:
        if not isinstance(cfg, dict):
            raise _field_bad("Invalid value at 'generation_config': expected an object")
        if strict:
            _unknown_fields(cfg, GENCONFIG_FIELDS, "generation_config")
        _range(cfg, "temperature", 0.0, 2.0)
        _range(cfg, "topP", 0.0, 1.0)
        _range(cfg, "topK", 1, None, integer=True)
        _range(cfg, "candidateCount", 1, 8, integer=True)
        _range(cfg, "maxOutputTokens", 1, None, integer=True)
        _range(cfg, "presencePenalty", -2.0, 2.0)
        _range(cfg, "frequencyPenalty", -2.0, 2.0)
        stops = _get(cfg, "stopSequences")
        if stops is not None and (not isinstance(stops, list) or len(stops) > 5):
            raise _bad("* GenerateContentRequest.generation_config.stop_sequences: stop_sequences "
                       "must have at most 5 elements\n")
        mt = _get(cfg, "responseMimeType")
        if mt is not None and mt not in MIME_TYPES:
            raise _bad(f"* GenerateContentRequest.generation_config.response_mime_type: allowed "
                       f"mimetypes are {', '.join(repr(m) for m in MIME_TYPES)}.\n")
    tools = _get(body, "tools")
    if tools is not None:
        if not isinstance(tools, list):
            raise _field_bad("Invalid JSON payload received. Unknown name \"tools\": Proto field "
                             "is not repeating, cannot start list.")
        for i, t in enumerate(tools):
            for j, fd in enumerate(_get(t, "functionDeclarations") or []):
                name = _get(fd, "name")
                if not isinstance(name, str) or not re.match(r"^[a-zA-Z_][a-zA-Z0-9_.:-]{0,63}$",
                                                             name):
                    raise _bad(f"* GenerateContentRequest.tools[{i}].function_declarations[{j}]."
                               "name: Invalid function name. Must start with a letter or an "
                               "underscore. Must be alphameric (a-z, A-Z, 0-9), underscores (_), "
                               "dots (.), colons (:), or dashes (-), with a maximum length of "
                               "64.\n")


def gemini_embedding(text, native_dim, dim=None):
    """The vector MockGemini returns: the full-size unit vector, truncated to `dim` (not
    re-normalised, as Google documents for reduced outputDimensionality)."""
    vec = embedding_vector(text, native_dim, True)
    return vec[:dim] if dim else vec


class _Handler(BaseHandler):
    server_version = "scaffolding on HTTPServer2"
    json_content_type = "application/json; charset=UTF-8"

    def route(self):
        rec = self.rec
        m = _ROUTE.match(rec.route_path)
        alt = rec.query_params.get("alt", [None])[0]
        rec.extra["alt"] = alt
        if m and self.command == "POST" and m.group(3) in METHODS:
            rec.extra["api_version"] = m.group(1)
            rec.model = m.group(2)
            rec.operation = m.group(3)
            rec.stream = rec.operation == "streamGenerateContent"
            return
        m = _MODEL_ROUTE.match(rec.route_path)
        if m and self.command == "GET":
            rec.extra["api_version"] = m.group(1)
            rec.operation = "model" if m.group(2) else "models"
            rec.model = m.group(2)

    def not_found(self):
        return ProviderError(404, rpc_error(404, "NOT_FOUND", "Method not found."), "NOT_FOUND",
                             "Method not found.")

    def authenticate(self):
        mock, rec = self.mock, self.rec
        key = self.headers.get("x-goog-api-key")
        if key is not None:
            rec.auth, rec.api_key = "x-goog-api-key", key.strip()
        elif rec.query_params.get("key"):
            rec.auth, rec.api_key = "query-key", rec.query_params["key"][0]
        if not rec.api_key:
            msg = ("Method doesn't allow unregistered callers (callers without established "
                   "identity). Please use API Key or other form of API consumer identity to "
                   "call this API.")
            raise ProviderError(403, rpc_error(403, "PERMISSION_DENIED", msg),
                                "PERMISSION_DENIED", msg)
        if mock.api_keys is not None and rec.api_key not in mock.api_keys:
            raise self.error_for(Error("API_KEY_INVALID"))

    def scripted(self):
        return self.rec.operation in SCRIPTED

    def error_for(self, err, stream_error=False):
        mock, rec = self.mock, self.rec
        kind = err.kind if err.kind is not None else (
            "UNAVAILABLE" if stream_error else "INTERNAL")
        hint = kind if isinstance(kind, int) else None
        if isinstance(kind, int):
            kind = STATUS_KINDS.get(kind, "INTERNAL" if kind >= 500 else "INVALID_ARGUMENT")
        kind = kind.upper()
        status, template = ERRORS.get(kind, (400, kind))
        status = getattr(err, "status", None) or hint or status
        rpc_status = _RPC_STATUS.get(kind, kind)
        tokens = getattr(err, "tokens", None) or self._prompt_tokens()
        limit = getattr(err, "limit", None) or mock.window_for(rec.model) or 1048576
        msg = err.message if err.message is not None else template.format(
            model=rec.model, version=rec.extra.get("api_version", "v1beta"),
            method=rec.operation, tokens=tokens, limit=limit)
        details = None
        retry = getattr(err, "retry_after", None)
        if kind == "API_KEY_INVALID":
            details = [{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                        "reason": "API_KEY_INVALID", "domain": "googleapis.com",
                        "metadata": {"service": "generativelanguage.googleapis.com"}},
                       {"@type": "type.googleapis.com/google.rpc.LocalizedMessage",
                        "locale": "en-US", "message": msg}]
        elif kind == "RESOURCE_EXHAUSTED":
            details = [{"@type": "type.googleapis.com/google.rpc.QuotaFailure",
                        "violations": [{
                            "quotaMetric": "generativelanguage.googleapis.com/"
                                           "generate_content_free_tier_requests",
                            "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
                            "quotaDimensions": {"location": "global", "model": rec.model},
                            "quotaValue": "10"}]},
                       {"@type": "type.googleapis.com/google.rpc.Help",
                        "links": [{"description": "Learn more about Gemini API quotas",
                                   "url": "https://ai.google.dev/gemini-api/docs/rate-limits"}]},
                       {"@type": "type.googleapis.com/google.rpc.RetryInfo",
                        "retryDelay": f"{retry if retry not in (None, False) else 1}s"}]
        hdrs = dict(getattr(err, "headers", None) or {})
        if getattr(err, "body", None) is not None:
            return ProviderError(status, err.body, rpc_status, msg, hdrs)
        body = rpc_error(status, rpc_status, msg, details)
        body["error"].update(getattr(err, "fields", None) or {})
        return ProviderError(status, body, kind if kind in _RPC_STATUS else rpc_status, msg, hdrs)

    def internal_error(self, tb):
        return ProviderError(500, rpc_error(500, "INTERNAL", "mock bug: " + tb), "mock_bug", tb)

    def encode(self, obj):
        return (json.dumps(obj, ensure_ascii=False, indent=2) + "\n").encode("utf-8")

    def common_headers(self):
        return [("Vary", "Origin"), ("Vary", "X-Origin"), ("Vary", "Referer"),
                ("X-XSS-Protection", "0"), ("X-Frame-Options", "SAMEORIGIN"),
                ("X-Content-Type-Options", "nosniff"),
                ("Server-Timing", f"gfet4t7; dur={self.latency_ms()}")]

    # -- validation ----------------------------------------------------------------------
    def _gen_body(self):
        """The GenerateContentRequest of this call (countTokens may wrap it)."""
        b = self.rec.json if isinstance(self.rec.json, dict) else {}
        if self.rec.operation == "countTokens" and _has(b, "generateContentRequest"):
            return _get(b, "generateContentRequest") or {}
        return b

    def _prompt_tokens(self):
        b = self._gen_body()
        return input_tokens(_get(b, "contents"), _get(b, "systemInstruction"), _get(b, "tools"))

    def validate(self):
        rec, mock = self.rec, self.mock
        op = rec.operation
        if op in ("models", "model"):
            return
        if rec.json_error or not isinstance(rec.json, dict):
            raise _field_bad("Invalid JSON payload received. Unexpected token.")
        if mock.models is not None and mock.strict_models and rec.model not in mock.models:
            raise self.error_for(Error("NOT_FOUND"))
        body = rec.json
        if op in ("generateContent", "streamGenerateContent"):
            validate_generate(body, mock.strict_params)
            window = mock.window_for(rec.model)
            n = self._prompt_tokens()
            if window is not None and n > window:
                raise self.error_for(Error("CONTEXT_TOO_LONG", tokens=n, limit=window))
        elif op == "countTokens":
            if _has(body, "generateContentRequest"):
                validate_generate(_get(body, "generateContentRequest"), False)
            else:
                _validate_contents(_get(body, "contents"), "CountTokensRequest", pairing=False)
        elif op == "embedContent":
            self._validate_embed(body, "EmbedContentRequest")
        elif op == "batchEmbedContents":
            reqs = _get(body, "requests")
            if not isinstance(reqs, list) or not reqs:
                raise _bad("* BatchEmbedContentsRequest.requests: requests is not specified\n")
            if len(reqs) > 100:
                raise _bad("* BatchEmbedContentsRequest.requests: at most 100 requests can be in "
                           "one batch\n")
            for i, r in enumerate(reqs):
                model = _get(r, "model")
                if not isinstance(model, str) or not model.startswith("models/"):
                    raise _bad(f"* BatchEmbedContentsRequest.requests[{i}].model: unexpected "
                               "model name format\n")
                if model != f"models/{rec.model}":
                    raise _bad(f"Model {model} in request {i} does not match the model "
                               f"models/{rec.model} in the URL.")
                self._validate_embed(r, f"BatchEmbedContentsRequest.requests[{i}]")

    def _validate_embed(self, req, where):
        content = _get(req, "content")
        if not isinstance(content, dict):
            raise _bad(f"* {where}.content: content is not specified\n")
        _validate_parts(f"{where}.content", _get(content, "parts"))
        if not any(t.strip() for t in _content_texts(content)):
            raise _bad(f"* {where}.content.parts: contents must not be empty\n")
        dim = _get(req, "outputDimensionality")
        native = self.mock.native_dim(self.rec.model)
        if dim is not None and (not isinstance(dim, int) or dim < 1 or dim > native):
            raise _bad(f"* {where}.output_dimensionality: output_dimensionality must be in the "
                       f"range [1, {native}]\n")

    # -- answers -------------------------------------------------------------------------
    def _answer(self, reply):
        return Answer(reply, self.mock.default_text, self.rng, lambda r: None)

    def _usage(self, ans, final=True):
        p = self._prompt_tokens()
        u = ans.usage
        prompt = u.get("promptTokenCount", p)
        thoughts = u.get("thoughtsTokenCount", ans.reasoning_tokens())
        out = u.get("candidatesTokenCount",
                    max(1, ans.output_tokens() - ans.reasoning_tokens()))
        usage = {"promptTokenCount": prompt}
        if final:
            usage["candidatesTokenCount"] = out
        usage["totalTokenCount"] = u.get("totalTokenCount",
                                         prompt + thoughts + (out if final else 0))
        usage["promptTokensDetails"] = u.get("promptTokensDetails",
                                             [{"modality": "TEXT", "tokenCount": prompt}])
        if thoughts:
            usage["thoughtsTokenCount"] = thoughts
        for k, v in u.items():
            usage.setdefault(k, v)
        return usage

    def _fc_parts(self, ans):
        parts = []
        for k, t in enumerate(ans.tools):
            fc = {"name": t["name"], "args": t["input"] if t["input"] is not None else {}}
            if t["explicit_id"]:
                fc = {"id": t["id"], **fc}
            part = {"functionCall": fc}
            if k == 0 and ans.signature is not None:
                part["thoughtSignature"] = ans.signature
            parts.append(part)
        return parts

    def _finish(self, ans):
        return ans.finish_reason or "STOP"

    def _envelope(self, reply, parts, finish, usage):
        cand = {"content": {"parts": parts, "role": "model"}}
        if finish:
            cand["finishReason"] = finish
        cand["index"] = 0
        return {"candidates": [cand], "usageMetadata": usage,
                "modelVersion": reply.model or self.rec.model, "responseId": self._response_id}

    def respond(self, reply):
        rec, mock = self.rec, self.mock
        op = rec.operation
        if op == "models":
            return 200, {"models": [self._model_obj(m) for m in mock.model_list()]}, []
        if op == "model":
            if rec.model not in mock.model_list():
                raise self.error_for(Error("NOT_FOUND", message=f"models/{rec.model} is not "
                                           "found for API version "
                                           f"{rec.extra['api_version']}"))
            return 200, self._model_obj(rec.model), []
        if op == "countTokens":
            n = self._prompt_tokens()
            return 200, {"totalTokens": n,
                         "promptTokensDetails": [{"modality": "TEXT", "tokenCount": n}]}, []
        native = mock.native_dim(rec.model)
        if op == "embedContent":
            body = rec.json
            text = " ".join(_content_texts(_get(body, "content")))
            vec = gemini_embedding(text, native, _get(body, "outputDimensionality"))
            return 200, {"embedding": {"values": vec}}, []
        if op == "batchEmbedContents":
            embs = []
            for r in _get(rec.json, "requests"):
                text = " ".join(_content_texts(_get(r, "content")))
                embs.append({"values": gemini_embedding(text, native,
                                                        _get(r, "outputDimensionality"))})
            return 200, {"embeddings": embs}, []
        ans = self._answer(reply)
        self._response_id = rand_id(self.rng, 22, _ID_ALPHABET)
        parts = []
        if ans.reasoning is not None:
            parts.append({"text": ans.reasoning, "thought": True})
        if ans.text or not ans.tools:
            parts.append({"text": ans.text})
        parts += self._fc_parts(ans)
        return 200, self._envelope(reply, parts, self._finish(ans), self._usage(ans)), []

    @staticmethod
    def _model_obj(m):
        emb = "embed" in m
        return {"name": f"models/{m}", "version": "001", "displayName": m,
                "inputTokenLimit": 2048 if emb else 1048576,
                "outputTokenLimit": 1 if emb else 65536,
                "supportedGenerationMethods": ["embedContent", "batchEmbedContents"] if emb else
                ["generateContent", "countTokens", "createCachedContent", "batchGenerateContent"]}

    # -- streams -------------------------------------------------------------------------
    @property
    def _sse_mode(self):
        return self.rec.extra.get("alt") == "sse"

    def stream_headers(self, reply):
        if self._sse_mode:
            return [("Content-Type", "text/event-stream")]
        return [("Content-Type", self.json_content_type)]

    def _frame(self, obj, i, last):
        if isinstance(obj, (bytes, bytearray)):
            return bytes(obj)
        if self._sse_mode:
            data = json.dumps(obj, ensure_ascii=False, separators=(",", ": "))
            return b"data: " + data.encode("utf-8") + b"\r\n\r\n"
        text = ("[" if i == 0 else "\n,\r\n") + json.dumps(obj, ensure_ascii=False, indent=2)
        return (text + ("]" if last else "")).encode("utf-8")

    def stream_events(self, reply):
        if reply.events is not None:
            return [self._frame(e, i, i == len(reply.events) - 1)
                    for i, e in enumerate(reply.events)]
        ans = self._answer(reply)
        self._response_id = rand_id(self.rng, 22, _ID_ALPHABET)
        partial = self._usage(ans, final=False)
        chunks = []
        if ans.reasoning is not None:
            for piece in split_random(ans.reasoning, self.rng):
                chunks.append([{"text": piece, "thought": True}])
        for piece in ans.text_pieces(self.rng):
            chunks.append([{"text": piece}])
        fcs = self._fc_parts(ans)
        if fcs:
            last_parts = fcs  # function calls arrive whole, in the final chunk
        elif ans.text and chunks:
            last_parts = chunks.pop()  # the last text piece travels with finishReason
        else:
            last_parts = [{"text": ""}]
        objs = [self._envelope(reply, p, None, partial) for p in chunks]
        objs.append(self._envelope(reply, last_parts, self._finish(ans), self._usage(ans)))
        return [self._frame(o, i, i == len(objs) - 1) for i, o in enumerate(objs)]

    def stream_error_event(self, b):
        err = self.error_for(Error(b.kind or "UNAVAILABLE", message=b.message), stream_error=True)
        if self._sse_mode:
            return self._frame(err.body, 1, False)
        return ("\n,\r\n" + json.dumps(err.body, indent=2) + "]").encode("utf-8")


class MockGemini(ModelCatalog, BaseMock):
    """Mock Gemini API on http://127.0.0.1:<port> (base URL = mock.url; pier appends
    /v1beta/models/{model}:{method}).

    MockGemini(api_keys={"AIza..."} (None: any non-empty key), *, models=None (list for
               GET /v1beta/models and, with strict_models, the only models accepted ->
               404 NOT_FOUND; None: DEFAULT_MODELS listed, any accepted),
               strict_models=True, context_window=None (int or {model: int}: longer
               prompts -> 400 "The input token count (N) exceeds ..."), strict_params=True
               (unknown fields -> 400 'Unknown name "x": Cannot find field.'),
               embedding_dims=None ({model: dim}), default_embedding_dim=768, seed=None,
               validate=True)

    Operations (rec.operation = the method name): generateContent, streamGenerateContent,
    embedContent, batchEmbedContents (scripted), countTokens, models, model (not
    scripted). rec.model is the model from the URL; rec.extra: api_version, alt.
    Error kinds are google.rpc names: Error("RESOURCE_EXHAUSTED", retry_after=7) puts
    RetryInfo.retryDelay "7s" in details (no Retry-After header unless headers= says so).

    Example:
        with MockGemini(api_keys={"AIzaTest"}) as gm:
            gm.script(Reply(tool_calls=[{"name": "get_weather", "input": {"city": "Paris"}}]),
                      Error("UNAVAILABLE"), Error("CONTEXT_TOO_LONG"))
    """

    handler_class = _Handler
    thread_name = "mock-gemini"
    DEFAULT_MODELS = DEFAULT_MODELS

    def __init__(self, api_keys=None, *, models=None, strict_models=True, context_window=None,
                 strict_params=True, embedding_dims=None, default_embedding_dim=768, seed=None,
                 validate=True):
        super().__init__(seed=seed, validate=validate)
        self.api_keys = set(api_keys) if api_keys is not None else None
        self.models = list(models) if models is not None else None
        self.strict_models = strict_models
        self.context_window = context_window
        self.strict_params = strict_params
        self.embedding_dims = dict(EMBEDDING_DIMS, **(embedding_dims or {}))
        self.default_embedding_dim = default_embedding_dim
