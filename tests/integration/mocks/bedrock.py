"""Mock AWS Bedrock Runtime (Converse, ConverseStream, InvokeModel[WithResponseStream],
CountTokens) for pier's integration tests; wire formats per /work/shared/reference/bedrock.md.

Invariants: listens on 127.0.0.1 only; every request is authenticated like AWS
(bearer key or SigV4 recomputed with botocore) before anything else; scripted
behaviours are consumed FIFO, one per request that passes auth, routing and
body validation. Stream bytes are cut at random positions (seedable).
Server, request cycle, recording, stream writing and the Stall/SlowStream/DropMidStream
behaviours are mocks/common.py's, shared with the other provider mocks.
"""

import base64
import collections
import datetime
import email.utils
import hashlib
import hmac
import json
import random
import re
import urllib.parse
import uuid

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.compat import HTTPHeaders
from botocore.credentials import Credentials

from . import eventstream
from .common import (
    ALNUM, BaseHandler, BaseMock, DropMidStream, ProviderError, SlowStream, Stall, StreamError,
    _Behaviour, _ClientGone, coerce, count_tokens, dumps_compact, embedding_vector, is_int,
    is_num, rand_id, reply_texts, split_random, valid_b64,
)
from .common import RecordedRequest as _RecordedRequest

__all__ = [
    "MockBedrock", "Reply", "Error", "Stall", "DropMidStream", "StreamException",
    "SlowStream", "RecordedRequest", "verify_sigv4", "SigV4Result", "embedding_vector",
    "count_tokens", "titan_embedding_response", "cohere_embedding_response",
    "ERRORS", "DEFAULT_PROFILE_REQUIRED", "on_demand_message",
]

# ---------------------------------------------------------------------------------------
# Errors (bedrock.md section 5)

_NS_BEDROCK = "http://internal.amazon.com/coral/com.amazon.bedrock/"
_NS_CORAL = "http://internal.amazon.com/coral/com.amazon.coral.service/"

_SIG_MISMATCH = ("The request signature we calculated does not match the signature you "
                 "provided. Check your AWS Secret Access Key and signing method. Consult "
                 "the service documentation for details.")

# name -> (HTTP status, default message, x-amzn-ErrorType namespace)
ERRORS = {
    "ValidationException": (400, "Malformed input request, please reformat your input and try again.", _NS_BEDROCK),
    "AccessDeniedException": (403, "You don't have access to the model with the specified model ID.", _NS_BEDROCK),
    "ResourceNotFoundException": (404, "Could not resolve the foundation model from the provided model identifier.", _NS_BEDROCK),
    "ThrottlingException": (429, "Too many requests, please wait before trying again.", _NS_BEDROCK),
    "ModelNotReadyException": (429, "Model is not ready to serve inference requests. The AWS SDK will automatically retry the operation up to 5 times.", _NS_BEDROCK),
    "ServiceQuotaExceededException": (400, "Your request exceeds the service quota for your account. You can view your quotas at Viewing service quotas. You can resubmit your request later.", _NS_BEDROCK),
    "ModelTimeoutException": (408, "Model has timed out in processing the request. Try your request again.", _NS_BEDROCK),
    "ModelErrorException": (424, "The model encountered an unexpected error during processing. Try your request again.", _NS_BEDROCK),
    "ModelStreamErrorException": (424, "An error occurred while streaming the response. Retry your request.", _NS_BEDROCK),
    "InternalServerException": (500, "The server encountered an internal error while processing the request.", _NS_BEDROCK),
    "ServiceUnavailableException": (503, "Bedrock is unable to process your request.", _NS_BEDROCK),
    # Auth layer (not modelled in service-2.json).
    "ExpiredTokenException": (403, "The security token included in the request is expired", _NS_CORAL),
    "UnrecognizedClientException": (403, "The security token included in the request is invalid.", _NS_CORAL),
    "InvalidSignatureException": (403, _SIG_MISMATCH, _NS_CORAL),
    "IncompleteSignatureException": (403, "The request signature does not conform to AWS standards.", _NS_CORAL),
    "MissingAuthenticationTokenException": (403, "Missing Authentication Token", _NS_CORAL),
    "UnknownOperationException": (404, "UnknownOperationException", _NS_CORAL),
}

# In-stream exception members (ConverseStreamOutput / ResponseStream), lowerCamel.
STREAM_EXCEPTIONS = {
    "internalServerException": "InternalServerException",
    "modelStreamErrorException": "ModelStreamErrorException",
    "validationException": "ValidationException",
    "throttlingException": "ThrottlingException",
    "serviceUnavailableException": "ServiceUnavailableException",
    "modelTimeoutException": "ModelTimeoutException",
}

DEFAULT_PROFILE_REQUIRED = frozenset({
    "anthropic.claude-sonnet-4-6",
    "anthropic.claude-opus-4-7",
    "anthropic.claude-haiku-4-5-20251001-v1:0",
})

_GEO_PREFIXES = ("us-gov", "global", "apac", "us", "eu", "jp", "au", "ca")


def on_demand_message(model_id):
    """AWS's exact text, with the curly apostrophe (U+2019)."""
    return (f"Invocation of model ID {model_id} with on-demand throughput isn\u2019t "
            "supported. Retry your request with the ID or ARN of an inference profile "
            "that contains this model.")


class BedrockError(ProviderError):
    """An AWS error response (HTTP status + x-amzn-ErrorType + JSON body), rendered by
    _Handler._send_error."""

    def __init__(self, code, message=None, status=None, body_key="message", fields=None,
                 headers=None):
        st, default_msg, ns = ERRORS.get(code, (400, code, _NS_BEDROCK))
        self.code = code
        self.message = default_msg if message is None else message
        self.status = st if status is None else status
        self.namespace = ns
        self.body_key = body_key
        self.fields = dict(fields or {})
        self.headers = dict(headers or {})
        Exception.__init__(self, f"{code}: {self.message}")

def _validation(msg):
    return BedrockError("ValidationException", msg)


def _malformed(detail):
    return _validation(f"Malformed input request: {detail}, please reformat your input and try again.")


# ---------------------------------------------------------------------------------------
# Behaviours (scripted per request)

class Reply(_Behaviour):
    """A normal model answer.

    text: assistant text (None -> mock.default_text unless tool_calls are given;
      "" -> no text block when there are tool calls).
    tool_calls: [{"name": str, "input": json value (default {}), "id": optional,
      "fragments": optional list of str (streamed partial-JSON pieces)}].
    stop_reason: default "tool_use" if tool_calls else "end_turn" (Anthropic bodies
      get the same string).
    usage: Converse keys (inputTokens, outputTokens, totalTokens, cacheReadInputTokens,
      cacheWriteInputTokens) or Anthropic keys (input_tokens, ...); missing values are
      computed (see count_tokens); totalTokens = input+output+cacheRead+cacheWrite.
    reasoning / reasoning_signature: a reasoningContent / thinking block first.
    text_chunks: exact text delta pieces for streams (default: random split, >= 2).
    latency_ms: metrics.latencyMs (default: measured).
    raw: non-stream JSON body returned verbatim (any operation, incl. embeddings).
    events: stream override. converse-stream: list of (event_type, payload dict) or
      bytes (a pre-encoded frame, sent verbatim: use it for corrupt frames);
      invoke-with-response-stream: list of Anthropic event dicts or bytes.
      A "p" padding key is added to dict payloads that have none.
    headers: extra response headers.
    one_write: send the whole stream in one HTTP chunk (default: cut at random
      byte positions), so the client reads it all at once.
    """

    def __init__(self, text=None, tool_calls=None, stop_reason=None, usage=None,
                 reasoning=None, reasoning_signature=None, text_chunks=None,
                 latency_ms=None, raw=None, events=None, headers=None, one_write=False):
        self.text = text
        self.tool_calls = tool_calls
        self.stop_reason = stop_reason
        self.usage = usage
        self.reasoning = reasoning
        self.reasoning_signature = reasoning_signature
        self.text_chunks = text_chunks
        self.latency_ms = latency_ms
        self.raw = raw
        self.events = events
        self.headers = headers
        self.one_write = one_write


class Error(_Behaviour):
    """An HTTP error response before any body: Error("ThrottlingException") uses the
    real status (429) and default message. body_key "Message" for capital-M bodies;
    fields adds body keys (e.g. originalStatusCode); retry_after sets Retry-After."""

    def __init__(self, code, status=None, message=None, retry_after=None, body_key="message",
                 fields=None, headers=None):
        self.code = code
        self.status = status
        self.message = message
        self.retry_after = retry_after
        self.body_key = body_key
        self.fields = fields
        self.headers = headers

    def to_exception(self):
        hdrs = dict(self.headers or {})
        if self.retry_after is not None:
            hdrs["Retry-After"] = str(self.retry_after)
        return BedrockError(self.code, self.message, self.status, self.body_key,
                            self.fields, hdrs)


class StreamException(StreamError):
    """After `after_events` frames send an in-stream exception frame (4.2/4.3) and end
    the stream. exception_type is lowerCamel, e.g. "throttlingException". Non-stream
    operations get the matching HTTP error instead."""

    def __init__(self, exception_type, after_events=0, message=None, fields=None, reply=None):
        self.exception_type = exception_type
        self.after_events = after_events
        self.message = message
        self.fields = fields
        self.reply = reply


# Stall, SlowStream and DropMidStream (mid_frame=True: part of the next frame too) are
# common.py's.
_KINDS = {
    "reply": Reply, "error": Error, "stall": Stall, "drop": DropMidStream,
    "drop_mid_stream": DropMidStream, "dropmidstream": DropMidStream,
    "stream_exception": StreamException, "streamexception": StreamException,
    "slow": SlowStream, "slow_stream": SlowStream, "slowstream": SlowStream,
}


def _coerce(b):
    """Behaviour object, str (-> Reply(text)) or dict {"type" (or "kind"): kind, **kwargs}
    (no type -> Reply)."""
    return coerce(b, _KINDS, ("type", "kind"))
# ---------------------------------------------------------------------------------------
# Embeddings (count_tokens and embedding_vector: mocks/common.py)

def _int8(vec):
    m = max((abs(v) for v in vec), default=1.0) or 1.0
    return [max(-128, min(127, int(round(v / m * 127)))) for v in vec]


def _packbits(vec, signed):
    out = []
    for i in range(0, len(vec), 8):
        byte = 0
        for v in vec[i:i + 8]:
            byte = (byte << 1) | (1 if v > 0 else 0)
        out.append(byte - 128 if signed else byte)
    return out


def titan_embedding_response(text, dimensions=1024, normalize=True, embedding_types=("float",)):
    vec = embedding_vector(text, dimensions, normalize)
    by_type = {}
    for t in embedding_types:
        by_type[t] = vec if t == "float" else [1 if v > 0 else 0 for v in vec]
    return {"embedding": vec, "inputTextTokenCount": count_tokens(text),
            "embeddingsByType": by_type}


def cohere_embedding_response(texts, embedding_types=None, response_id=None):
    vecs = [embedding_vector(t, 1024, True) for t in texts]
    rid = response_id or str(uuid.uuid4())
    if not embedding_types:
        return {"id": rid, "embeddings": vecs, "texts": list(texts),
                "response_type": "embeddings_floats"}
    conv = {
        "float": lambda v: v, "int8": _int8,
        "uint8": lambda v: [x + 128 for x in _int8(v)],
        "binary": lambda v: _packbits(v, True), "ubinary": lambda v: _packbits(v, False),
    }
    by_type = {t: [conv[t](v) for v in vecs] for t in embedding_types}
    return {"id": rid, "embeddings": by_type, "texts": list(texts),
            "response_type": "embeddings_by_type"}


# ---------------------------------------------------------------------------------------
# SigV4 verification (recomputed through botocore's SigV4Auth)

SIGV4_TIMESTAMP = "%Y%m%dT%H%M%SZ"


class SigV4Result:
    """Outcome of verify_sigv4. ok, error (BedrockError or None), access_key_id,
    region, service, canonical_request, string_to_sign, expected_signature,
    provided_signature, signed_headers."""

    def __init__(self):
        self.ok = False
        self.error = None
        self.access_key_id = None
        self.region = None
        self.service = None
        self.signed_headers = []
        self.canonical_request = None
        self.string_to_sign = None
        self.expected_signature = None
        self.provided_signature = None
        self.session_token = None

    def __repr__(self):
        return (f"SigV4Result(ok={self.ok}, error={self.error!r}, "
                f"akid={self.access_key_id!r}, region={self.region!r})")


class _VerifierSigV4Auth(SigV4Auth):
    """SigV4Auth that signs exactly the headers the client listed in SignedHeaders,
    as AWS does (botocore's own blacklist does not apply on the server side)."""

    def __init__(self, credentials, service_name, region_name, signed_names):
        super().__init__(credentials, service_name, region_name)
        self._signed_names = set(signed_names)

    def headers_to_sign(self, request):
        header_map = HTTPHeaders()
        for name, value in request.headers.items():
            if name.lower() in self._signed_names:
                header_map[name.lower()] = value
        return header_map


def parse_sigv4_authorization(value):
    """'AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...' -> dict, or
    None if the scheme is not AWS4-HMAC-SHA256."""
    scheme, _, rest = value.strip().partition(" ")
    if scheme != "AWS4-HMAC-SHA256":
        return None
    params = {}
    for part in rest.split(","):
        k, sep, v = part.strip().partition("=")
        if sep:
            params[k.strip()] = v.strip()
    return params


def _fmt(dt):
    return dt.strftime(SIGV4_TIMESTAMP)


def verify_sigv4(method, path, headers, body, credentials, region=None, service="bedrock",
                 now=None, max_skew_seconds=300):
    """Verify a SigV4-signed request like AWS.

    path: the request-target exactly as received (percent-encoded, with query).
    headers: list of (name, value) pairs as received (or a dict).
    credentials: {access_key_id: (secret, session_token_or_None)}.
    region: required scope region (None: accept any). now: aware/naive-UTC datetime
    (default: current time); max_skew_seconds None disables the expiry check.
    Returns SigV4Result; result.error is the BedrockError to send when not ok."""
    res = SigV4Result()
    pairs = list(headers.items()) if isinstance(headers, dict) else list(headers)
    by_name = collections.defaultdict(list)
    for n, v in pairs:
        by_name[n.lower()].append(v)

    def fail(code, msg):
        res.error = BedrockError(code, msg)
        return res

    authz = (by_name.get("authorization") or [""])[0]
    params = parse_sigv4_authorization(authz)
    if params is None:
        return fail("IncompleteSignatureException",
                    f"Authorization header requires 'AWS4-HMAC-SHA256' scheme. Authorization={authz.split(' ')[0]}")
    missing = [k for k in ("Credential", "Signature", "SignedHeaders") if k not in params]
    amz_date = (by_name.get("x-amz-date") or [None])[0]
    date_hdr = (by_name.get("date") or [None])[0]
    problems = [f"Authorization header requires '{k}' parameter." for k in missing]
    if amz_date is None and date_hdr is None:
        problems.append("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
    if problems:
        return fail("IncompleteSignatureException",
                    " ".join(problems) + " Authorization=AWS4-HMAC-SHA256 (redacted)")

    cred = params["Credential"].split("/")
    if len(cred) != 5 or cred[4] != "aws4_request":
        return fail("IncompleteSignatureException",
                    "Credential should be scoped to a valid region, not '{}'. ".format(
                        cred[2] if len(cred) > 2 else ""))
    akid, scope_date, scope_region, scope_service, _ = cred
    res.access_key_id, res.region, res.service = akid, scope_region, scope_service
    res.provided_signature = params["Signature"]
    res.signed_headers = [h.strip().lower() for h in params["SignedHeaders"].split(";") if h.strip()]

    if akid not in credentials:
        return fail("UnrecognizedClientException", "The security token included in the request is invalid.")
    secret, token = credentials[akid]

    # Timestamp.
    try:
        if amz_date is not None:
            ts = datetime.datetime.strptime(amz_date.strip(), SIGV4_TIMESTAMP)
        else:
            ts = email.utils.parsedate_to_datetime(date_hdr).astimezone(
                datetime.timezone.utc).replace(tzinfo=None)
    except (ValueError, TypeError):
        return fail("IncompleteSignatureException",
                    f"Date must be in ISO-8601 'basic format'. Got '{amz_date or date_hdr}'. "
                    "See http://en.wikipedia.org/wiki/ISO_8601")
    timestamp = _fmt(ts)

    if scope_service != service:
        return fail("InvalidSignatureException",
                    f"Credential should be scoped to correct service: '{service}'. ")
    if region is not None and scope_region != region:
        return fail("InvalidSignatureException",
                    f"Credential should be scoped to a valid region, not '{scope_region}'. ")
    if scope_date != timestamp[:8]:
        return fail("InvalidSignatureException",
                    f"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of "
                    f"date from HTTP: '{scope_date}' != '{timestamp[:8]}', from '{timestamp}'.")
    if "host" not in res.signed_headers:
        return fail("InvalidSignatureException",
                    "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")

    if max_skew_seconds is not None:
        cur = now or datetime.datetime.now(datetime.timezone.utc)
        if cur.tzinfo is not None:
            cur = cur.astimezone(datetime.timezone.utc).replace(tzinfo=None)
        skew = datetime.timedelta(seconds=max_skew_seconds)
        if ts < cur - skew:
            return fail("InvalidSignatureException",
                        f"Signature expired: {timestamp} is now earlier than {_fmt(cur - skew)} "
                        f"({_fmt(cur)} - {max_skew_seconds // 60} min.)")
        if ts > cur + skew:
            return fail("InvalidSignatureException",
                        f"Signature not yet current: {timestamp} is still later than "
                        f"{_fmt(cur + skew)} ({_fmt(cur)} + {max_skew_seconds // 60} min.)")

    sent_tokens = by_name.get("x-amz-security-token") or []
    res.session_token = sent_tokens[0] if sent_tokens else None
    if token is not None:
        if sent_tokens != [token] or "x-amz-security-token" not in res.signed_headers:
            return fail("UnrecognizedClientException",
                        "The security token included in the request is invalid.")
    elif sent_tokens:
        return fail("UnrecognizedClientException",
                    "The security token included in the request is invalid.")

    body = body or b""
    declared = by_name.get("x-amz-content-sha256")
    if declared and declared[0] not in ("UNSIGNED-PAYLOAD",) and \
            declared[0] != hashlib.sha256(body).hexdigest():
        return fail("InvalidSignatureException",
                    "The provided 'x-amz-content-sha256' header does not match what was computed.")

    host = (by_name.get("host") or ["localhost"])[0]
    req = AWSRequest(method=method, url=f"http://{host}{path}", data=body)
    for n, v in pairs:
        if n.lower() in res.signed_headers:
            req.headers[n] = v
    req.context["timestamp"] = timestamp
    signer = _VerifierSigV4Auth(Credentials(akid, secret, token), scope_service, scope_region,
                                res.signed_headers)
    res.canonical_request = signer.canonical_request(req)
    res.string_to_sign = signer.string_to_sign(req, res.canonical_request)
    res.expected_signature = signer.signature(res.string_to_sign, req)
    if not hmac.compare_digest(res.expected_signature, res.provided_signature):
        return fail("InvalidSignatureException",
                    f"{_SIG_MISMATCH}\n\nThe Canonical String for this request should have been\n"
                    f"'{res.canonical_request}'\n\nThe String-to-Sign should have been\n"
                    f"'{res.string_to_sign}'\n")
    res.ok = True
    return res


# ---------------------------------------------------------------------------------------
# Recorded requests

class RecordedRequest(_RecordedRequest):
    """One request as the mock saw it (fields documented in MockBedrock)."""

    def __init__(self, index):
        super().__init__(index)
        self.model_id = None        # URL-decoded
        self.access_key_id = None
        self.bearer_token = None
        self.signing_region = None
        self.sigv4 = None           # SigV4Result
        # path: raw request-target, still percent-encoded; operation: converse |
        # converse-stream | invoke | invoke-with-response-stream | count-tokens; auth:
        # "bearer" | "sigv4" | None; stream: converse-stream, invoke-with-response-stream;
        # events_sent: complete frames written.

    def __repr__(self):
        return (f"<RecordedRequest #{self.index} {self.method} {self.path} op={self.operation} "
                f"auth={self.auth} status={self.status} err={self.error_type} "
                f"disconnected={self.client_disconnected}>")


# ---------------------------------------------------------------------------------------
# Body validation

_ROLES = ("user", "assistant")
_IMAGE_FORMATS = ("png", "jpeg", "gif", "webp")
_TOOL_NAME_RE = re.compile(r"^[a-zA-Z0-9_-]+$")
_TOOL_USE_ID_RE = re.compile(r"^[a-zA-Z0-9_.:-]+$")
_CONTENT_MEMBERS = ("text", "image", "document", "video", "audio", "toolUse", "toolResult",
                    "guardContent", "cachePoint", "reasoningContent", "citationsContent",
                    "searchResult", "toolAddition", "toolRemoval")


def _coral(errs):
    n = len(errs)
    return _validation(f"{n} validation error{'s' if n > 1 else ''} detected: " + "; ".join(errs))


def _fmtval(v):
    if isinstance(v, str):
        return v
    return json.dumps(v, ensure_ascii=False)


def validate_converse(body):
    """Raise BedrockError(ValidationException) the way Converse does: first the Coral
    constraint errors ("N validation errors detected: ..."), then the semantic ones."""
    if not isinstance(body, dict):
        raise _validation("Malformed input request, please reformat your input and try again.")
    errs = []
    msgs = body.get("messages", [])
    if msgs is None:
        msgs = []
    if not isinstance(msgs, list):
        raise _validation("Malformed input request, please reformat your input and try again.")

    ic = body.get("inferenceConfig")
    if ic is not None:
        if not isinstance(ic, dict):
            raise _validation("Malformed input request, please reformat your input and try again.")
        mt = ic.get("maxTokens")
        if mt is not None and (not is_int(mt) or mt < 1):
            errs.append(f"Value '{_fmtval(mt)}' at 'inferenceConfig.maxTokens' failed to satisfy "
                        "constraint: Member must have value greater than or equal to 1")
        for key in ("temperature", "topP"):
            v = ic.get(key)
            if v is None:
                continue
            if not is_num(v) or v < 0:
                errs.append(f"Value '{_fmtval(v)}' at 'inferenceConfig.{key}' failed to satisfy "
                            "constraint: Member must have value greater than or equal to 0")
            elif v > 1:
                errs.append(f"Value '{_fmtval(v)}' at 'inferenceConfig.{key}' failed to satisfy "
                            "constraint: Member must have value less than or equal to 1")
        stops = ic.get("stopSequences")
        if stops is not None and (not isinstance(stops, list) or any(
                not isinstance(s, str) or not s for s in stops)):
            errs.append(f"Value '{_fmtval(stops)}' at 'inferenceConfig.stopSequences' failed to "
                        "satisfy constraint: Member must satisfy constraint: [Member must have "
                        "length greater than or equal to 1]")

    tc = body.get("toolConfig")
    if tc is not None:
        tools = tc.get("tools") if isinstance(tc, dict) else None
        if not isinstance(tools, list) or not tools:
            errs.append(f"Value '{_fmtval(tools)}' at 'toolConfig.tools' failed to satisfy "
                        "constraint: Member must have length greater than or equal to 1")
        else:
            for i, tool in enumerate(tools, 1):
                spec = tool.get("toolSpec") if isinstance(tool, dict) else None
                if spec is None:
                    continue
                name = spec.get("name")
                p = f"toolConfig.tools.{i}.member.toolSpec"
                if not isinstance(name, str) or not _TOOL_NAME_RE.match(name):
                    errs.append(f"Value '{_fmtval(name)}' at '{p}.name' failed to satisfy "
                                "constraint: Member must satisfy regular expression pattern: "
                                "[a-zA-Z0-9_-]+")
                elif len(name) > 64:
                    errs.append(f"Value '{name}' at '{p}.name' failed to satisfy constraint: "
                                "Member must have length less than or equal to 64")
                if "description" in spec and (not isinstance(spec["description"], str)
                                              or not spec["description"]):
                    errs.append(f"Value '{_fmtval(spec['description'])}' at '{p}.description' "
                                "failed to satisfy constraint: Member must have length greater "
                                "than or equal to 1")
                schema = spec.get("inputSchema")
                if not isinstance(schema, dict) or "json" not in schema:
                    errs.append(f"Value null at '{p}.inputSchema' failed to satisfy constraint: "
                                "Member must not be null")

    for i, m in enumerate(msgs, 1):
        if not isinstance(m, dict):
            raise _validation("Malformed input request, please reformat your input and try again.")
        role = m.get("role")
        if role not in _ROLES:
            errs.append(f"Value '{_fmtval(role)}' at 'messages.{i}.member.role' failed to satisfy "
                        "constraint: Member must satisfy enum value set: [user, assistant]")
        content = m.get("content")
        if not isinstance(content, list):
            errs.append(f"Value null at 'messages.{i}.member.content' failed to satisfy "
                        "constraint: Member must not be null")
            continue
        for j, blk in enumerate(content, 1):
            p = f"messages.{i}.member.content.{j}.member"
            if not isinstance(blk, dict):
                raise _validation("Malformed input request, please reformat your input and try again.")
            members = [k for k in blk if k in _CONTENT_MEMBERS]
            if len(members) != 1:
                raise _validation(f"The content block at messages.{i - 1}.content.{j - 1} must set "
                                  "exactly one member of the ContentBlock union "
                                  f"(found: {', '.join(sorted(blk)) or 'none'}).")
            img = blk.get("image")
            if img is not None:
                fmt = img.get("format") if isinstance(img, dict) else None
                if fmt not in _IMAGE_FORMATS:
                    errs.append(f"Value '{_fmtval(fmt)}' at '{p}.image.format' failed to satisfy "
                                "constraint: Member must satisfy enum value set: [png, jpeg, gif, webp]")
                src = img.get("source") if isinstance(img, dict) else None
                if not isinstance(src, dict) or not ("bytes" in src or "s3Location" in src):
                    errs.append(f"Value null at '{p}.image.source' failed to satisfy constraint: "
                                "Member must not be null")
                elif "bytes" in src and (not valid_b64(src["bytes"]) or not src["bytes"]):
                    errs.append(f"Value at '{p}.image.source.bytes' failed to satisfy constraint: "
                                "Member must be a valid base64-encoded blob of length greater "
                                "than or equal to 1")
            for key in ("toolUse", "toolResult"):
                tu = blk.get(key)
                if tu is None:
                    continue
                tid = tu.get("toolUseId") if isinstance(tu, dict) else None
                if not isinstance(tid, str) or not _TOOL_USE_ID_RE.match(tid) or len(tid) > 64:
                    errs.append(f"Value '{_fmtval(tid)}' at '{p}.{key}.toolUseId' failed to "
                                "satisfy constraint: Member must satisfy regular expression "
                                "pattern: [a-zA-Z0-9_.:-]+")
    for i, s in enumerate(body.get("system") or [], 1):
        if isinstance(s, dict) and "text" in s and not isinstance(s["text"], str):
            errs.append(f"Value null at 'system.{i}.member.text' failed to satisfy constraint: "
                        "Member must not be null")
    if errs:
        raise _coral(errs)

    # Semantic checks.
    for i, s in enumerate(body.get("system") or []):
        if isinstance(s, dict) and isinstance(s.get("text"), str) and not s["text"].strip():
            raise _validation(f"The text field in the SystemContentBlock object at system.{i} is "
                              "blank. Add text to the text field, and try again.")
    if not msgs or msgs[0].get("role") != "user":
        raise _validation("A conversation must start with a user message. Try again with a "
                          "conversation that starts with a user message.")
    has_tools = False
    for i, m in enumerate(msgs):
        if i and m["role"] == msgs[i - 1]["role"]:
            raise _validation("A conversation must alternate between user and assistant roles. "
                              "Make sure the conversation alternates between user and assistant "
                              "roles and try again.")
        if not m["content"]:
            raise _validation(f"The content field in the Message object at messages.{i} is empty. "
                              "Add a ContentBlock object to the content field and try again.")
        for j, blk in enumerate(m["content"]):
            if "text" in blk and (not isinstance(blk["text"], str) or not blk["text"].strip()):
                raise _validation(f"The text field in the ContentBlock object at "
                                  f"messages.{i}.content.{j} is blank. Add text to the text "
                                  "field, and try again.")
            if "toolUse" in blk or "toolResult" in blk:
                has_tools = True
    if has_tools and not body.get("toolConfig"):
        raise _validation("The toolConfig field must be defined when using toolUse and "
                          "toolResult content blocks.")
    for i, m in enumerate(msgs):
        if m["role"] != "user":
            continue
        results = [b["toolResult"]["toolUseId"] for b in m["content"] if "toolResult" in b]
        prev_uses = []
        if i:
            prev_uses = [b["toolUse"]["toolUseId"] for b in msgs[i - 1]["content"] if "toolUse" in b]
        if len(results) > len(prev_uses):
            raise _validation(f"The number of toolResult blocks at messages.{i}.content exceeds "
                              "the number of toolUse blocks of previous turn.")
        missing = [t for t in prev_uses if t not in results]
        if missing:
            raise _validation(f"Expected toolResult blocks at messages.{i}.content for the "
                              f"following Ids: {', '.join(missing)}")
    # An assistant toolUse turn must be followed by a user turn unless it is the last one.


ANTHROPIC_VERSION = "bedrock-2023-05-31"


def validate_anthropic(body, forbidden_keys=("model", "stream")):
    """Anthropic Messages body on InvokeModel (bedrock.md 4.4)."""
    if not isinstance(body, dict):
        raise _malformed("#: expected type: JSONObject, found: " + type(body).__name__)
    extraneous = [k for k in body if k in forbidden_keys]
    if extraneous:
        detail = "#: ".join(f"extraneous key [{k}] is not permitted" for k in extraneous)
        raise _malformed("#: " + detail)
    for key in ("anthropic_version", "max_tokens", "messages"):
        if key not in body:
            raise _malformed(f"#: required key [{key}] not found")
    if body["anthropic_version"] != ANTHROPIC_VERSION:
        raise _malformed(f"#/anthropic_version: {body['anthropic_version']} is not a valid enum value")
    mt = body["max_tokens"]
    if not is_int(mt):
        raise _malformed(f"#/max_tokens: expected type: Integer, found: {type(mt).__name__}")
    if mt < 1:
        raise _malformed(f"#/max_tokens: {mt} is not greater or equal to 1")
    for key in ("temperature", "top_p"):
        v = body.get(key)
        if v is not None and (not is_num(v) or v < 0 or v > 1):
            raise _malformed(f"#/{key}: {_fmtval(v)} is not less or equal to 1"
                             if is_num(v) and v > 1 else f"#/{key}: {_fmtval(v)} is not greater or equal to 0")
    msgs = body["messages"]
    if not isinstance(msgs, list):
        raise _malformed("#/messages: expected type: JSONArray")
    if not msgs:
        raise _validation("messages: at least one message is required")
    for i, m in enumerate(msgs):
        if not isinstance(m, dict) or m.get("role") not in _ROLES:
            raise _validation(f"messages.{i}.role: Input should be 'user' or 'assistant'")
        content = m.get("content")
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        if not isinstance(blocks, list):
            raise _validation(f"messages.{i}.content: Input should be a valid list")
        for j, b in enumerate(blocks):
            if isinstance(b, dict) and b.get("type") == "text" and not str(b.get("text", "")).strip():
                raise _validation("messages: text content blocks must be non-empty")
        m["_blocks"] = blocks
    try:
        for i, m in enumerate(msgs):
            if m["role"] != "user":
                continue
            prev_ids = []
            if i and msgs[i - 1]["role"] == "assistant":
                prev_ids = [b.get("id") for b in msgs[i - 1]["_blocks"]
                            if isinstance(b, dict) and b.get("type") == "tool_use"]
            for j, b in enumerate(m["_blocks"]):
                if isinstance(b, dict) and b.get("type") == "tool_result" and \
                        b.get("tool_use_id") not in prev_ids:
                    raise _validation(
                        f"messages.{i}.content.{j}: unexpected `tool_use_id` found in "
                        f"`tool_result` blocks: {b.get('tool_use_id')}. Each `tool_result` block "
                        "must have a corresponding `tool_use` block in the previous message.")
        for i, m in enumerate(msgs[:-1]):
            if m["role"] != "assistant":
                continue
            ids = [b.get("id") for b in m["_blocks"] if isinstance(b, dict) and b.get("type") == "tool_use"]
            nxt = [b.get("tool_use_id") for b in msgs[i + 1]["_blocks"]
                   if isinstance(b, dict) and b.get("type") == "tool_result"]
            missing = [t for t in ids if t not in nxt]
            if missing:
                raise _validation(
                    f"messages.{i}: `tool_use` ids were found without `tool_result` blocks "
                    f"immediately after: {', '.join(map(str, missing))}. Each `tool_use` block "
                    "must have a corresponding `tool_result` block in the next message.")
    finally:
        for m in msgs:
            m.pop("_blocks", None)


def validate_titan_v2(body):
    if not isinstance(body, dict):
        raise _malformed("#: expected type: JSONObject")
    extra = [k for k in body if k not in ("inputText", "dimensions", "normalize", "embeddingTypes")]
    if extra:
        raise _malformed("#: " + "#: ".join(f"extraneous key [{k}] is not permitted" for k in extra))
    if "inputText" not in body:
        raise _malformed("#: required key [inputText] not found")
    text = body["inputText"]
    if not isinstance(text, str):
        raise _malformed("#/inputText: expected type: String")
    if not text:
        raise _malformed("#/inputText: expected minLength: 1, actual: 0")
    if len(text) > 50000:
        raise _malformed(f"#/inputText: expected maxLength: 50000, actual: {len(text)}")
    dims = body.get("dimensions", 1024)
    if dims not in (256, 512, 1024) or not is_int(dims):
        raise _malformed(f"#/dimensions: {_fmtval(dims)} is not a valid enum value")
    if "normalize" in body and not isinstance(body["normalize"], bool):
        raise _malformed("#/normalize: expected type: Boolean")
    types = body.get("embeddingTypes", ["float"])
    if not isinstance(types, list) or not types:
        raise _malformed("#/embeddingTypes: expected minimum item count: 1")
    for i, t in enumerate(types):
        if t not in ("float", "binary"):
            raise _malformed(f"#/embeddingTypes/{i}: {_fmtval(t)} is not a valid enum value")


def validate_titan_v1(body):
    if not isinstance(body, dict):
        raise _malformed("#: expected type: JSONObject")
    extra = [k for k in body if k != "inputText"]
    if extra:
        raise _malformed("#: " + "#: ".join(f"extraneous key [{k}] is not permitted" for k in extra))
    if not isinstance(body.get("inputText"), str) or not body["inputText"]:
        raise _malformed("#: required key [inputText] not found")


_COHERE_INPUT_TYPES = ("search_document", "search_query", "classification", "clustering", "image")
_COHERE_EMB_TYPES = ("float", "int8", "uint8", "binary", "ubinary")


def validate_cohere(body):
    if not isinstance(body, dict):
        raise _malformed("#: expected type: JSONObject")
    extra = [k for k in body if k not in ("texts", "images", "input_type", "truncate", "embedding_types")]
    if extra:
        raise _malformed("#: " + "#: ".join(f"extraneous key [{k}] is not permitted" for k in extra))
    if "texts" not in body and "images" not in body:
        raise _malformed("#: required key [texts] not found")
    if "input_type" not in body:
        raise _malformed("#: required key [input_type] not found")
    if body["input_type"] not in _COHERE_INPUT_TYPES:
        raise _malformed(f"#/input_type: {_fmtval(body['input_type'])} is not a valid enum value")
    texts = body.get("texts", [])
    if not isinstance(texts, list):
        raise _malformed("#/texts: expected type: JSONArray")
    if len(texts) > 96:
        raise _malformed(f"#/texts: expected maximum item count: 96, found: {len(texts)}")
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise _malformed(f"#/texts/{i}: expected type: String")
        if len(t) > 2048:
            raise _malformed(f"#/texts/{i}: expected maxLength: 2048, actual: {len(t)}")
    if "truncate" in body and body["truncate"] not in ("NONE", "START", "END"):
        raise _malformed(f"#/truncate: {_fmtval(body['truncate'])} is not a valid enum value")
    for i, t in enumerate(body.get("embedding_types") or []):
        if t not in _COHERE_EMB_TYPES:
            raise _malformed(f"#/embedding_types/{i}: {_fmtval(t)} is not a valid enum value")


# ---------------------------------------------------------------------------------------
# Model ids

def base_model_id(model_id):
    """Strip ARN wrapping and a geo prefix: 'us.anthropic.x' -> 'anthropic.x'.
    Returns None for application inference profiles and other opaque ARNs."""
    mid = model_id
    if mid.startswith("arn:"):
        parts = mid.split(":", 5)
        if len(parts) < 6:
            return None
        kind, _, rest = parts[5].partition("/")
        if kind not in ("foundation-model", "inference-profile"):
            return None
        mid = rest
    for geo in _GEO_PREFIXES:
        if mid.startswith(geo + "."):
            return mid[len(geo) + 1:]
    return mid


def _is_bare(model_id):
    if model_id.startswith("arn:"):
        return ":foundation-model/" in model_id
    return not any(model_id.startswith(g + ".") for g in _GEO_PREFIXES)


def _family(model_id, body):
    base = base_model_id(model_id) or ""
    if "titan-embed-text-v2" in base:
        return "titan-v2"
    if "titan-embed-text-v1" in base or "titan-embed-g1-text" in base:
        return "titan-v1"
    if base.startswith("cohere.embed"):
        return "cohere"
    if base.startswith("anthropic."):
        return "anthropic"
    if isinstance(body, dict):
        if "anthropic_version" in body:
            return "anthropic"
        if "inputText" in body:
            return "titan-v2"
        if "texts" in body:
            return "cohere"
    return None


def _anthropic_model_name(model_id):
    base = base_model_id(model_id) or "claude"
    name = base[len("anthropic."):] if base.startswith("anthropic.") else base
    return re.sub(r"-v\d+(:\d+)?$", "", name)


# ---------------------------------------------------------------------------------------
# Response construction

_PAD_ALPHABET = _ID_ALPHABET = ALNUM


def _collect_texts(obj, out):
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k in ("text", "inputText", "content", "system", "thinking") and isinstance(v, str):
                out.append(v)
            else:
                _collect_texts(v, out)
    elif isinstance(obj, list):
        for v in obj:
            if isinstance(v, str):
                out.append(v)
            else:
                _collect_texts(v, out)


def request_input_tokens(body):
    """Default input token count of a chat request: count_tokens over every text in
    messages and system."""
    if not isinstance(body, dict):
        return 1
    texts = []
    for part in (body.get("messages"), body.get("system")):
        if isinstance(part, str):
            texts.append(part)
        else:
            _collect_texts(part, texts)
    return max(1, sum(count_tokens(t) for t in texts))


class _Answer:
    """A Reply resolved against one request: concrete text, tools, usage."""

    def __init__(self, reply, default_text, body, rng, latency_ms, anthropic):
        tools, self.text, self.reasoning, self.signature = reply_texts(reply, default_text, 2)
        self.tools = []
        for t in tools:
            tid = t.get("id") or (
                ("toolu_bdrk_01" if anthropic else "tooluse_")
                + rand_id(rng, 22, _ID_ALPHABET + ("" if anthropic else "_-")))
            self.tools.append({"id": tid, "name": t["name"], "input": t.get("input", {}),
                               "fragments": t.get("fragments")})
        self.stop_reason = reply.stop_reason or ("tool_use" if self.tools else "end_turn")
        out_texts = [self.text, self.reasoning or ""] + [json.dumps(t["input"]) for t in self.tools]
        u = dict(reply.usage or {})
        alias = {"input_tokens": "inputTokens", "output_tokens": "outputTokens",
                 "cache_read_input_tokens": "cacheReadInputTokens",
                 "cache_creation_input_tokens": "cacheWriteInputTokens"}
        for a, b in alias.items():
            if a in u:
                u[b] = u.pop(a)
        usage = {"inputTokens": u.get("inputTokens", request_input_tokens(body)),
                 "outputTokens": u.get("outputTokens",
                                       max(1, sum(count_tokens(x) for x in out_texts if x)))}
        for k in ("cacheReadInputTokens", "cacheWriteInputTokens"):
            if k in u:
                usage[k] = u[k]
        usage["totalTokens"] = u.get("totalTokens", usage["inputTokens"] + usage["outputTokens"]
                                     + usage.get("cacheReadInputTokens", 0)
                                     + usage.get("cacheWriteInputTokens", 0))
        for k, v in u.items():
            usage.setdefault(k, v)
        self.usage = usage
        self.latency_ms = reply.latency_ms if reply.latency_ms is not None else latency_ms
        self.text_chunks = reply.text_chunks

    def anthropic_usage(self):
        return {"input_tokens": self.usage["inputTokens"],
                "cache_creation_input_tokens": self.usage.get("cacheWriteInputTokens", 0),
                "cache_read_input_tokens": self.usage.get("cacheReadInputTokens", 0),
                "output_tokens": self.usage["outputTokens"]}


def _tool_fragments(tool, rng):
    if tool["fragments"] is not None:
        return list(tool["fragments"])
    inp = tool["input"]
    if inp == {}:
        return []
    s = inp if isinstance(inp, str) else json.dumps(inp, ensure_ascii=False)
    return split_random(s, rng)


def converse_body(ans):
    content = []
    if ans.reasoning is not None:
        content.append({"reasoningContent": {"reasoningText": {"text": ans.reasoning,
                                                               "signature": ans.signature}}})
    if ans.text or not ans.tools:
        content.append({"text": ans.text})
    for t in ans.tools:
        inp = t["input"]
        if isinstance(inp, str):
            try:
                inp = json.loads(inp)
            except ValueError:
                pass
        content.append({"toolUse": {"toolUseId": t["id"], "name": t["name"], "input": inp}})
    return {"output": {"message": {"role": "assistant", "content": content}},
            "stopReason": ans.stop_reason, "usage": ans.usage,
            "metrics": {"latencyMs": ans.latency_ms}}


def converse_stream_events(ans, rng):
    """[(event_type, payload)] without padding."""
    ev = [("messageStart", {"role": "assistant"})]
    idx = 0
    if ans.reasoning is not None:
        for piece in split_random(ans.reasoning, rng):
            ev.append(("contentBlockDelta", {"contentBlockIndex": idx,
                                             "delta": {"reasoningContent": {"text": piece}}}))
        ev.append(("contentBlockDelta", {"contentBlockIndex": idx,
                                         "delta": {"reasoningContent": {"signature": ans.signature}}}))
        ev.append(("contentBlockStop", {"contentBlockIndex": idx}))
        idx += 1
    if ans.text or not ans.tools:
        chunks = ans.text_chunks if ans.text_chunks is not None else split_random(ans.text, rng)
        for piece in chunks:
            ev.append(("contentBlockDelta", {"contentBlockIndex": idx, "delta": {"text": piece}}))
        ev.append(("contentBlockStop", {"contentBlockIndex": idx}))
        idx += 1
    for t in ans.tools:
        ev.append(("contentBlockStart", {"contentBlockIndex": idx, "start": {
            "toolUse": {"toolUseId": t["id"], "name": t["name"]}}}))
        for frag in _tool_fragments(t, rng):
            ev.append(("contentBlockDelta", {"contentBlockIndex": idx,
                                             "delta": {"toolUse": {"input": frag}}}))
        ev.append(("contentBlockStop", {"contentBlockIndex": idx}))
        idx += 1
    ev.append(("messageStop", {"stopReason": ans.stop_reason}))
    ev.append(("metadata", {"usage": ans.usage, "metrics": {"latencyMs": ans.latency_ms}}))
    return ev


def anthropic_body(ans, model_id, rng, msg_id):
    content = []
    if ans.reasoning is not None:
        content.append({"type": "thinking", "thinking": ans.reasoning, "signature": ans.signature})
    if ans.text or not ans.tools:
        content.append({"type": "text", "text": ans.text})
    for t in ans.tools:
        content.append({"type": "tool_use", "id": t["id"], "name": t["name"], "input": t["input"]})
    return {"id": msg_id, "type": "message", "role": "assistant",
            "model": _anthropic_model_name(model_id), "content": content,
            "stop_reason": ans.stop_reason, "stop_sequence": None, "usage": ans.anthropic_usage()}


def anthropic_stream_events(ans, model_id, rng, msg_id):
    u = ans.anthropic_usage()
    start_usage = dict(u, output_tokens=1)
    ev = [{"type": "message_start", "message": {
        "id": msg_id, "type": "message", "role": "assistant",
        "model": _anthropic_model_name(model_id), "content": [], "stop_reason": None,
        "stop_sequence": None, "usage": start_usage}}]
    idx = 0
    if ans.reasoning is not None:
        ev.append({"type": "content_block_start", "index": idx,
                   "content_block": {"type": "thinking", "thinking": "", "signature": ""}})
        for piece in split_random(ans.reasoning, rng):
            ev.append({"type": "content_block_delta", "index": idx,
                       "delta": {"type": "thinking_delta", "thinking": piece}})
        ev.append({"type": "content_block_delta", "index": idx,
                   "delta": {"type": "signature_delta", "signature": ans.signature}})
        ev.append({"type": "content_block_stop", "index": idx})
        idx += 1
    if ans.text or not ans.tools:
        ev.append({"type": "content_block_start", "index": idx,
                   "content_block": {"type": "text", "text": ""}})
        chunks = ans.text_chunks if ans.text_chunks is not None else split_random(ans.text, rng)
        for piece in chunks:
            ev.append({"type": "content_block_delta", "index": idx,
                       "delta": {"type": "text_delta", "text": piece}})
        ev.append({"type": "content_block_stop", "index": idx})
        idx += 1
    for t in ans.tools:
        ev.append({"type": "content_block_start", "index": idx, "content_block": {
            "type": "tool_use", "id": t["id"], "name": t["name"], "input": {}}})
        frags = _tool_fragments(t, rng) or [""]
        for frag in frags:
            ev.append({"type": "content_block_delta", "index": idx,
                       "delta": {"type": "input_json_delta", "partial_json": frag}})
        ev.append({"type": "content_block_stop", "index": idx})
        idx += 1
    ev.append({"type": "message_delta",
               "delta": {"stop_reason": ans.stop_reason, "stop_sequence": None},
               "usage": {"output_tokens": u["output_tokens"]}})
    ev.append({"type": "message_stop", "amazon-bedrock-invocationMetrics": {
        "inputTokenCount": u["input_tokens"], "outputTokenCount": u["output_tokens"],
        "invocationLatency": ans.latency_ms, "firstByteLatency": max(1, ans.latency_ms // 2)}})
    return ev


# ---------------------------------------------------------------------------------------
# HTTP server

_OPERATIONS = ("converse", "converse-stream", "invoke", "invoke-with-response-stream", "count-tokens")
_STREAM_OPS = ("converse-stream", "invoke-with-response-stream")


class _Handler(BaseHandler):
    """common.BaseHandler's request cycle with Bedrock's auth, routing, errors and
    eventstream framing."""

    server_version = "Server"
    record_class = RecordedRequest
    drop_tail = 1  # mid_frame: 1 .. len(frame) - 1 bytes of the next frame

    def _handle(self):
        self.request_id = str(uuid.UUID(int=random.getrandbits(128), version=4))
        super()._handle()

    def common_headers(self):
        return [("x-amzn-RequestId", self.request_id)]

    def internal_error(self, tb):
        return BedrockError("InternalServerException", "mock bug: " + tb)

    def _send_error(self, err):
        body = {err.body_key: err.message}
        body.update(err.fields)
        hdrs = [("x-amzn-ErrorType", f"{err.code}:{err.namespace}")] + list(err.headers.items())
        self.rec.error_type = err.code
        self.rec.error_message = err.message
        self._send_json(err.status, body, hdrs)

    # -- streams --------------------------------------------------------------------------

    def _stream_head(self, extra):
        self._send_head(200, [("Content-Type", "application/vnd.amazon.eventstream"),
                              ("Transfer-Encoding", "chunked"),
                              ("x-amzn-RequestId", self.request_id)] + list(extra))

    def stream_error_event(self, b):
        etype = b.exception_type
        code = STREAM_EXCEPTIONS.get(etype, etype[:1].upper() + etype[1:])
        payload = {"message": b.message if b.message is not None else ERRORS.get(
            code, (0, "An error occurred."))[1]}
        if etype == "modelStreamErrorException":
            payload.setdefault("originalStatusCode", 500)
            payload.setdefault("originalMessage", "Internal server error")
        payload.update(b.fields or {})
        return eventstream.exception_frame(etype, payload)

    def _pad(self):
        return _PAD_ALPHABET[:self.rng.randint(1, len(_PAD_ALPHABET))]

    def _frames_converse(self, ans, reply):
        events = reply.events if reply.events is not None else converse_stream_events(ans, self.rng)
        frames = []
        for e in events:
            if isinstance(e, (bytes, bytearray)):
                frames.append(bytes(e))
                continue
            etype, payload = e
            payload = dict(payload)
            payload.setdefault("p", self._pad())
            frames.append(eventstream.event_frame(etype, payload))
        return frames

    def _frames_anthropic(self, ans, reply, model_id, msg_id):
        events = reply.events if reply.events is not None else \
            anthropic_stream_events(ans, model_id, self.rng, msg_id)
        frames = []
        for e in events:
            if isinstance(e, (bytes, bytearray)):
                frames.append(bytes(e))
                continue
            inner = base64.b64encode(dumps_compact(e)).decode()
            frames.append(eventstream.event_frame("chunk", {"bytes": inner, "p": self._pad()}))
        return frames

    # -- request handling -----------------------------------------------------------------

    def authenticate(self):
        mock, rec = self.mock, self.rec
        authz = self.headers.get("Authorization")
        has_sigv4_hdrs = "X-Amz-Date" in self.headers or "X-Amz-Security-Token" in self.headers
        if authz is None:
            raise BedrockError("MissingAuthenticationTokenException", "Missing Authentication Token")
        scheme = authz.strip().split(" ", 1)[0]
        if scheme.lower() == "bearer":
            rec.auth = "bearer"
            token = authz.strip()[len(scheme):].strip()
            rec.bearer_token = token
            if has_sigv4_hdrs:
                raise BedrockError(
                    "IncompleteSignatureException",
                    "Authorization header requires 'Credential' parameter. Authorization header "
                    "requires 'Signature' parameter. Authorization header requires "
                    "'SignedHeaders' parameter. Authorization=Bearer (redacted)")
            if token not in mock.bearer_tokens:
                if token.startswith(("ABSK", "bedrock-api-key-")):
                    msg = "Authentication failed: Please make sure your API Key is valid."
                else:
                    msg = "Invalid API Key format: Must start with pre-defined prefix"
                raise BedrockError("AccessDeniedException", msg, body_key="Message")
            rec.auth_ok = True
            return
        if scheme == "AWS4-HMAC-SHA256":
            rec.auth = "sigv4"
            res = verify_sigv4(self.command, self.path, rec.raw_headers, rec.body, mock.iam,
                               region=mock.region, now=mock._now(),
                               max_skew_seconds=mock.max_skew_seconds)
            rec.sigv4 = res
            rec.access_key_id = res.access_key_id
            rec.signing_region = res.region
            if not res.ok:
                raise res.error
            rec.auth_ok = True
            return
        raise BedrockError("IncompleteSignatureException",
                           f"Authorization header requires 'Credential' parameter. Authorization "
                           f"header requires 'Signature' parameter. Authorization header requires "
                           f"'SignedHeaders' parameter. Authorization={scheme} (redacted)")

    def route(self):
        """Fill rec.model_id/operation (also for requests that then fail auth)."""
        rec = self.rec
        raw_path, _, query = self.path.partition("?")
        rec.query = query
        parts = raw_path.split("/")
        if len(parts) == 4 and parts[0] == "" and parts[1] == "model" and parts[2] \
                and parts[3] in _OPERATIONS:
            rec.model_id = urllib.parse.unquote(parts[2])
            rec.operation = parts[3]
            rec.stream = parts[3] in _STREAM_OPS

    def routed(self):
        return self.rec.operation is not None and self.command == "POST"

    def not_found(self):
        return BedrockError("UnknownOperationException", None, 404)

    def precheck(self):
        rec = self.rec
        self._check_model(rec.operation, rec.model_id)
        if rec.operation in ("invoke", "invoke-with-response-stream"):
            self.family = _family(rec.model_id, rec.json)
        else:
            self.family = None

    def _check_model(self, op, model_id):
        mock = self.mock
        base = base_model_id(model_id)
        if _is_bare(model_id) and (base in mock.profile_required or model_id in mock.profile_required):
            raise _validation(on_demand_message(model_id))
        if mock.known_models is not None and model_id not in mock.known_models:
            raise BedrockError("ResourceNotFoundException")

    def validate(self):
        rec, op, family = self.rec, self.rec.operation, self.family
        body = rec.json
        if rec.body and body is None:
            raise _validation("Malformed input request, please reformat your input and try again.")
        if op in ("converse", "converse-stream"):
            if family is None and _family(rec.model_id, None) in ("titan-v2", "titan-v1", "cohere"):
                raise _validation("This action doesn't support the model that you provided. Try "
                                  "again with a supported text or chat model.")
            validate_converse(body if body is not None else {})
        elif op == "count-tokens":
            if not isinstance(body, dict) or not isinstance(body.get("input"), dict):
                raise _validation("1 validation error detected: Value null at 'input' failed to "
                                  "satisfy constraint: Member must not be null")
            inp = body["input"]
            if "converse" in inp:
                validate_converse(inp["converse"])
            elif "invokeModel" in inp:
                try:
                    inner = json.loads(inp["invokeModel"].get("body", ""))
                except (ValueError, AttributeError):
                    raise _validation("Malformed input request, please reformat your input and try again.")
                validate_anthropic(inner, self.mock.anthropic_forbidden_keys)
        elif family == "anthropic":
            validate_anthropic(body, self.mock.anthropic_forbidden_keys)
        elif family in ("titan-v2", "titan-v1", "cohere"):
            if op == "invoke-with-response-stream":
                raise _validation("The model is unsupported for streaming.")
            {"titan-v2": validate_titan_v2, "titan-v1": validate_titan_v1,
             "cohere": validate_cohere}[family](body)

    def _execute(self, b):
        mock, op, model_id, family = self.mock, self.rec.operation, self.rec.model_id, self.family
        if b is None:
            b = Reply()
        if isinstance(b, Error):
            raise b.to_exception()
        if isinstance(b, Stall) and (b.after_events is None or op not in _STREAM_OPS):
            if not self._wait_watching(b.seconds):
                raise _ClientGone()
            return self._execute(_coerce(b.then) or Reply())
        if isinstance(b, StreamException) and op not in _STREAM_OPS:
            et = b.exception_type
            code = STREAM_EXCEPTIONS.get(et, et[:1].upper() + et[1:])
            raise BedrockError(code, b.message, fields=b.fields)
        inner = _coerce(b.then if isinstance(b, Stall) else getattr(b, "reply", None))  # Stall: its `then`
        reply = b if isinstance(b, Reply) else (inner if isinstance(inner, Reply) else Reply())

        if op in _STREAM_OPS:
            anthropic = op == "invoke-with-response-stream"
            if anthropic and family != "anthropic" and reply.events is None:
                raise _validation(f"mock: InvokeModelWithResponseStream for model {model_id} "
                                  "needs an Anthropic body or Reply(events=...)")
            ans = _Answer(reply, mock.default_text, self.rec.json, self.rng, self.latency_ms(), anthropic)
            if anthropic:
                msg_id = "msg_bdrk_01" + rand_id(self.rng, 22)
                frames = self._frames_anthropic(ans, reply, model_id, msg_id)
                extra = [("X-Amzn-Bedrock-Content-Type", "application/json")]
            else:
                frames = self._frames_converse(ans, reply)
                extra = []
            extra += list((reply.headers or {}).items())
            return self._run_stream(frames, b, extra)

        # Non-stream operations.
        extra = list((reply.headers or {}).items())
        if reply.raw is not None:
            body_obj = reply.raw
        elif op == "converse":
            ans = _Answer(reply, mock.default_text, self.rec.json, self.rng, self.latency_ms(), False)
            body_obj = converse_body(ans)
        elif op == "count-tokens":
            inp = self.rec.json["input"]
            inner = inp.get("converse") or json.loads(inp.get("invokeModel", {}).get("body", "{}"))
            body_obj = {"inputTokens": request_input_tokens(inner)}
        elif family == "anthropic":
            ans = _Answer(reply, mock.default_text, self.rec.json, self.rng, self.latency_ms(), True)
            msg_id = "msg_bdrk_01" + rand_id(self.rng, 22)
            body_obj = anthropic_body(ans, model_id, self.rng, msg_id)
            extra += [("X-Amzn-Bedrock-Input-Token-Count", str(ans.usage["inputTokens"])),
                      ("X-Amzn-Bedrock-Output-Token-Count", str(ans.usage["outputTokens"])),
                      ("X-Amzn-Bedrock-Invocation-Latency", str(ans.latency_ms))]
        elif family in ("titan-v2", "titan-v1"):
            body = self.rec.json
            if family == "titan-v1":
                body_obj = titan_embedding_response(body["inputText"], 1536, False, ())
                del body_obj["embeddingsByType"]
            else:
                body_obj = titan_embedding_response(body["inputText"], body.get("dimensions", 1024),
                                                    body.get("normalize", True),
                                                    body.get("embeddingTypes", ["float"]))
            extra += [("x-amzn-bedrock-input-token-count", str(body_obj["inputTextTokenCount"])),
                      ("x-amzn-bedrock-invocation-latency", str(self.latency_ms()))]
        elif family == "cohere":
            body = self.rec.json
            texts = body.get("texts", [])
            rid = str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
            body_obj = cohere_embedding_response(texts, body.get("embedding_types"), rid)
            extra += [("x-amzn-bedrock-input-token-count", str(sum(count_tokens(t) for t in texts))),
                      ("x-amzn-bedrock-invocation-latency", str(self.latency_ms()))]
        else:
            raise _validation(f"mock: InvokeModel body family not supported for model {model_id}; "
                              "script Reply(raw=...)")

        if isinstance(b, DropMidStream):
            self._send_half_and_drop(200, body_obj, extra, b.rst)
        self._send_json(200, body_obj, extra)


class MockBedrock(BaseMock):
    """Mock Bedrock Runtime on http://127.0.0.1:<port>.

    MockBedrock(bearer_tokens={"ABSK..."}, iam={"AKID": ("secret", None | "token")},
                region="us-east-1", *, profile_required=DEFAULT_PROFILE_REQUIRED,
                known_models=None (None: any id is fine; else a set -> others 404),
                seed=None, clock=None (callable -> UTC datetime), max_skew_seconds=300
                (None disables), anthropic_forbidden_keys=("model", "stream"),
                validate=True)

    Scripting: mock.default_text, mock.script(*behaviours), mock.reset().
    Recording: mock.requests (list of RecordedRequest), mock.last_request,
      mock.wait_for_requests(n, timeout, finished=False), mock.disconnected (Event),
      mock.wait_for_disconnect(timeout), mock.errors (tracebacks of mock bugs).
    RecordedRequest fields: index, time, method, path (raw), query, model_id (decoded),
      operation, client_address, headers (case-insensitive dict), raw_headers, body (bytes), json,
      auth ("bearer"/"sigv4"/None), auth_ok, access_key_id, bearer_token,
      signing_region, sigv4 (SigV4Result), behaviour, stream, status, error_type,
      error_message, response_body, events_sent, completed, client_disconnected,
      disconnected (Event), done (Event), wait_done(timeout).

    Example:
        with MockBedrock(bearer_tokens={"ABSKtest"}, iam={"AKID": ("secret", None)}) as bk:
            bk.script(Reply(tool_calls=[{"name": "get_weather", "input": {"city": "Paris"}}]),
                      Error("ThrottlingException", retry_after=1),
                      StreamException("throttlingException", after_events=3),
                      Stall(30))
            ...point pier at bk.url, drive it...
            rec = bk.wait_for_requests(1)[0]
            assert rec.operation == "converse-stream" and rec.auth == "sigv4"
            bk.wait_for_disconnect(timeout=5)   # pier gave up on the stalled call
    """

    handler_class = _Handler
    thread_name = "mock-bedrock"
    _coerce = staticmethod(_coerce)

    def __init__(self, bearer_tokens=(), iam=None, region="us-east-1", *,
                 profile_required=DEFAULT_PROFILE_REQUIRED, known_models=None, seed=None,
                 clock=None, max_skew_seconds=300, anthropic_forbidden_keys=("model", "stream"),
                 validate=True):
        super().__init__(seed=seed, validate=validate)
        self.bearer_tokens = set(bearer_tokens or ())
        self.iam = dict(iam or {})
        self.region = region
        self.profile_required = set(profile_required or ())
        self.known_models = set(known_models) if known_models is not None else None
        self.clock = clock
        self.max_skew_seconds = max_skew_seconds
        self.anthropic_forbidden_keys = tuple(anthropic_forbidden_keys)

    def _now(self):
        if self.clock is not None:
            return self.clock()
        return datetime.datetime.now(datetime.timezone.utc)
