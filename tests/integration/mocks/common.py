"""Shared plumbing of the mock provider APIs (OpenAI, Anthropic, Gemini): a loopback
ThreadingHTTPServer speaking HTTP/1.1 keep-alive, scripted behaviours, request recording,
SSE bodies written as HTTP chunks cut at random (seedable) byte positions.

Invariants: listens on 127.0.0.1 only; a scripted behaviour is consumed FIFO by exactly
one request of a scripted operation that passed routing, auth and body validation.
mocks/bedrock.py builds on the same pieces (nothing here imports botocore).
"""

import base64
import collections
import hashlib
import json
import math
import random
import re
import select
import socket
import string
import struct
import threading
import time
import traceback
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

__all__ = [
    "Reply", "Error", "Stall", "DropMidStream", "SlowStream", "StreamError", "StreamException",
    "RecordedRequest", "Headers", "ProviderError", "count_tokens", "embedding_vector",
    "split_random", "reply_texts", "is_num", "is_int", "valid_b64", "BaseMock", "BaseHandler",
    "ModelCatalog", "per_model",
]

ALNUM = string.ascii_letters + string.digits


# ---------------------------------------------------------------------------------------
# Behaviours (scripted per request)

class _Behaviour:
    def _kw(self):
        return {k: v for k, v in vars(self).items() if v is not None}

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self._kw().items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other):
        return type(self) is type(other) and vars(self) == vars(other)


class Reply(_Behaviour):
    """A normal model answer, rendered in the provider's own wire format.

    text: assistant text (None -> mock.default_text unless tool_calls are given;
      "" with tool calls -> no text part).
    tool_calls: [{"name": str, "input": JSON value (default {}) or "arguments": str (raw
      JSON text, sent verbatim), "id": optional, "fragments": optional list of str (the
      streamed argument pieces; default: random split)}]. Several = parallel calls.
    finish_reason: provider-native value ("stop"/"length"/"tool_calls"/"content_filter" for
      OpenAI, "end_turn"/"max_tokens"/"stop_sequence"/"tool_use"/"pause_turn"/"refusal" for
      Anthropic, "STOP"/"MAX_TOKENS"/"SAFETY"/... for Gemini); default derived.
      stop_reason is an alias.
    stop_sequence: Anthropic stop_sequence value (with finish_reason "stop_sequence").
    usage: provider-native usage keys that override the computed ones (counts come from
      count_tokens over the request and the answer).
    reasoning / reasoning_signature: a thinking block (Anthropic), thought part (Gemini).
    text_chunks: exact text pieces for streams (default: random split into >= 2 pieces).
    model: the model name echoed in the answer (default: the one the request named).
    raw: non-stream body sent verbatim (dict -> JSON, bytes as is).
    events: stream override: list of provider events (dict, (event, dict) for Anthropic) or
      bytes (sent verbatim, e.g. a malformed event).
    headers: extra response headers (dict).
    """

    def __init__(self, text=None, tool_calls=None, finish_reason=None, usage=None,
                 reasoning=None, reasoning_signature=None, text_chunks=None, model=None,
                 raw=None, events=None, headers=None, stop_reason=None, stop_sequence=None):
        self.text = text
        self.tool_calls = tool_calls
        self.finish_reason = finish_reason if finish_reason is not None else stop_reason
        self.usage = usage
        self.reasoning = reasoning
        self.reasoning_signature = reasoning_signature
        self.text_chunks = text_chunks
        self.model = model
        self.raw = raw
        self.events = events
        self.headers = headers
        self.stop_sequence = stop_sequence


class Error(_Behaviour):
    """An HTTP error response before any body byte: kind is a key of the mock's ERRORS
    table (e.g. "rate_limit_exceeded", "overloaded_error", "RESOURCE_EXHAUSTED") or an
    HTTP status (int) mapped to that status' usual kind. status/message override the
    table; retry_after sets Retry-After (Gemini: RetryInfo.retryDelay); fields are merged
    into the error object; body (dict or bytes) replaces the whole body; tokens/limit
    parameterise context-length messages."""

    def __init__(self, kind, status=None, message=None, retry_after=None, headers=None,
                 fields=None, body=None, tokens=None, limit=None):
        self.kind = kind
        self.status = status
        self.message = message
        self.retry_after = retry_after
        self.headers = headers
        self.fields = fields
        self.body = body
        self.tokens = tokens
        self.limit = limit


class Stall(_Behaviour):
    """Send nothing for `seconds` (or until the client goes away, recorded as
    client_disconnected). after_events=n on a stream: headers + n events first.
    Afterwards continue with `then` (default Reply())."""

    def __init__(self, seconds, after_events=None, then=None):
        self.seconds = seconds
        self.after_events = after_events
        self.then = then


class DropMidStream(_Behaviour):
    """Stream `after_events` SSE events then close the socket without the terminating
    chunk. mid_event=True also sends part of the next event; rst=True resets (RST)
    instead of FIN. Non-stream operations: headers and half the body, then drop."""

    def __init__(self, after_events=0, mid_event=False, rst=False, reply=None, mid_frame=None):
        self.after_events = after_events
        self.mid_event = bool(mid_event or mid_frame)
        self.rst = rst
        self.reply = reply

    @property
    def mid_frame(self):
        """Bedrock's name for mid_event (the stream is made of eventstream frames)."""
        return self.mid_event


class SlowStream(_Behaviour):
    """Sleep gap_seconds between SSE events (each fully flushed before the gap).
    No effect on non-stream operations."""

    def __init__(self, gap_seconds, reply=None):
        self.gap_seconds = gap_seconds
        self.reply = reply


class StreamError(_Behaviour):
    """After `after_events` events send the provider's in-stream error event (OpenAI
    `data: {"error":...}`, Anthropic `event: error`, Gemini `data: {"error":...}`) and end
    the stream. Non-stream operations get the matching HTTP error instead."""

    def __init__(self, kind=None, after_events=0, message=None, reply=None):
        self.kind = kind
        self.after_events = after_events
        self.message = message
        self.reply = reply


StreamException = StreamError

_KINDS = {
    "reply": Reply, "error": Error, "stall": Stall, "drop": DropMidStream,
    "drop_mid_stream": DropMidStream, "dropmidstream": DropMidStream,
    "slow": SlowStream, "slow_stream": SlowStream, "slowstream": SlowStream,
    "stream_error": StreamError, "streamerror": StreamError,
    "stream_exception": StreamError,
}


def coerce(b, kinds=None, type_keys=("type",)):
    """Behaviour object, str (-> Reply(text)) or dict {"type": kind, **kwargs}
    (no "type" -> Reply). Error's own kind goes in "kind" ("code" also accepted).
    kinds: the name -> class table (default: this module's); type_keys: the dict keys
    naming the kind, all removed, the first present wins."""
    kinds = _KINDS if kinds is None else kinds
    if b is None or isinstance(b, _Behaviour):
        return b
    if isinstance(b, str):
        return kinds["reply"](text=b)
    if isinstance(b, dict):
        d = dict(b)
        named = [d.pop(k) for k in type_keys if k in d]
        kind = str(named[0] if named else "reply").lower()
        if kind not in kinds:
            raise ValueError(f"unknown behaviour type {kind!r}")
        if kinds[kind] is Error and "code" in d and "kind" not in d:
            d["kind"] = d.pop("code")
        for k in ("reply", "then"):
            if k in d:
                d[k] = coerce(d[k], kinds, type_keys)
        return kinds[kind](**d)
    raise TypeError(f"not a behaviour: {b!r}")


# ---------------------------------------------------------------------------------------
# Deterministic token counts and embeddings (mocks/bedrock.py uses these too)

_TOKEN_RE = re.compile(r"\w+|[^\w\s]", re.UNICODE)


def count_tokens(text):
    """Mock tokenizer: words and punctuation marks; at least 1 for non-empty text."""
    if not text:
        return 0
    return max(1, len(_TOKEN_RE.findall(text)))


def embedding_vector(text, dim=1024, normalize=True):
    """Deterministic embedding: sha256-derived values in [-1, 1], unit-normalised if
    asked, rounded to 6 decimals. The first k values of a longer vector are the
    (pre-normalisation) values of the shorter one, as with Matryoshka truncation."""
    seed = hashlib.sha256(text.encode("utf-8")).digest()
    vals = []
    counter = 0
    while len(vals) < dim:
        block = hashlib.sha256(seed + counter.to_bytes(4, "big")).digest()
        for i in range(0, 32, 2):
            vals.append(int.from_bytes(block[i:i + 2], "big") / 32767.5 - 1.0)
        counter += 1
    vals = vals[:dim]
    if normalize:
        norm = math.sqrt(sum(v * v for v in vals)) or 1.0
        vals = [v / norm for v in vals]
    return [round(v, 6) for v in vals]


_TEXT_KEYS = ("text", "content", "arguments", "thinking", "system", "prompt", "partial_json")
_JSON_KEYS = ("input", "args", "response", "parameters", "input_schema")


def request_texts(obj, out=None):
    """Strings a tokenizer would see in a chat request (texts, tool arguments/results),
    skipping ids, roles, media data and URLs."""
    if out is None:
        out = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            if isinstance(v, str) and k in _TEXT_KEYS:
                out.append(v)
            elif k in _JSON_KEYS and isinstance(v, (dict, list)):
                out.append(json.dumps(v, sort_keys=True))
            elif isinstance(v, (dict, list)):
                request_texts(v, out)
    elif isinstance(obj, list):
        for v in obj:
            if isinstance(v, str):
                out.append(v)
            else:
                request_texts(v, out)
    return out


def input_tokens(*parts):
    texts = []
    for p in parts:
        if isinstance(p, str):
            texts.append(p)
        else:
            request_texts(p, texts)
    return max(1, sum(count_tokens(t) for t in texts))


def split_random(s, rng, min_pieces=2, max_pieces=5):
    if len(s) < 2:
        return [s]
    k = min(len(s), rng.randint(min_pieces, max_pieces))
    cuts = sorted(rng.sample(range(1, len(s)), k - 1))
    return [s[a:b] for a, b in zip([0] + cuts, cuts + [len(s)])]


def rand_id(rng, n, alphabet=ALNUM):
    return "".join(rng.choice(alphabet) for _ in range(n))


# Value checks of body validation.

_B64_RE = re.compile(r"^[A-Za-z0-9+/]*={0,2}$")


def is_num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def valid_b64(s):
    """Padded standard base64 (the empty string included)."""
    if not isinstance(s, str) or len(s) % 4 or not _B64_RE.match(s):
        return False
    try:
        base64.b64decode(s, validate=True)
        return True
    except ValueError:
        return False


def reply_texts(reply, default_text, signature_blocks=3):
    """(tool_calls, text, reasoning, signature) of a Reply: text is default_text unless
    given or there are tool calls; a missing reasoning signature is made up from the
    reasoning (its sha256 repeated signature_blocks times, base64)."""
    tools = reply.tool_calls or []
    text = reply.text
    if text is None:
        text = "" if tools else default_text
    signature = reply.reasoning_signature
    if reply.reasoning is not None and signature is None:
        signature = base64.b64encode(
            hashlib.sha256(reply.reasoning.encode()).digest() * signature_blocks).decode()
    return tools, text, reply.reasoning, signature


class Answer:
    """A Reply resolved against one request: concrete text, tool calls, reasoning.
    tools: [{"id", "name", "input" (parsed value or None), "arguments" (JSON text),
    "fragments"}]. id_fn(rng) makes provider-style ids."""

    def __init__(self, reply, default_text, rng, id_fn):
        tools, self.text, self.reasoning, self.signature = reply_texts(reply, default_text)
        self.tools = []
        for t in tools:
            if "arguments" in t and isinstance(t["arguments"], str):
                args = t["arguments"]
                try:
                    inp = json.loads(args)
                except ValueError:
                    inp = None
            else:
                inp = t.get("input", {})
                args = inp if isinstance(inp, str) else json.dumps(inp, ensure_ascii=False)
                if isinstance(inp, str):
                    try:
                        inp = json.loads(inp)
                    except ValueError:
                        inp = None
            frags = t.get("fragments")
            if frags is None:
                frags = split_random(args, rng) if args not in ("", "{}") else ([args] if args else [])
            self.tools.append({"id": t.get("id") or id_fn(rng), "name": t["name"], "input": inp,
                               "arguments": args, "fragments": list(frags),
                               "explicit_id": "id" in t})
        self.finish_reason = reply.finish_reason
        self.text_chunks = reply.text_chunks
        self.usage = dict(reply.usage or {})

    def text_pieces(self, rng):
        if self.text_chunks is not None:
            return list(self.text_chunks)
        return split_random(self.text, rng) if self.text else []

    def output_tokens(self):
        outs = [self.text, self.reasoning or ""] + [t["arguments"] for t in self.tools]
        return max(1, sum(count_tokens(x) for x in outs if x))

    def reasoning_tokens(self):
        return count_tokens(self.reasoning or "")


# ---------------------------------------------------------------------------------------
# Recorded requests

class Headers(dict):
    """Case-insensitive header dict (keys stored lower-case; first value wins)."""

    def __init__(self, pairs=()):
        super().__init__()
        for k, v in pairs:
            if k.lower() not in self:
                super().__setitem__(k.lower(), v)

    def __getitem__(self, k):
        return super().__getitem__(k.lower())

    def __contains__(self, k):
        return super().__contains__(k.lower())

    def get(self, k, default=None):
        return super().get(k.lower(), default)


class RecordedRequest:
    """One request as the mock saw it.

    index, time, client_address ((host, port): same port = same connection), method,
    path (raw request-target with query), route_path (path without query, decoded),
    query (raw), query_params ({name: [values]}), operation, model, headers
    (case-insensitive), raw_headers [(name, value)], body (raw bytes), json (parsed body
    or None), json_error (body present but not JSON), auth (how the key came: "bearer",
    "x-api-key", "x-goog-api-key", "query-key" or None), auth_ok, api_key, extra
    (provider-specific: organization, anthropic_version, betas, alt, ...), behaviour
    (the scripted one applied; None: default reply or not scripted), stream, status (sent;
    None if nothing was sent), error_type, error_message, response_body (non-stream
    bytes), stream_body (all stream bytes written), events_sent (complete SSE events
    written), completed, client_disconnected, disconnected (Event), done (Event)."""

    def __init__(self, index):
        self.index = index
        self.time = time.time()
        self.client_address = None
        self.method = None
        self.path = None
        self.route_path = None
        self.query = ""
        self.query_params = {}
        self.operation = None
        self.model = None
        self.headers = Headers()
        self.raw_headers = []
        self.body = b""
        self.json = None
        self.json_error = False
        self.auth = None
        self.auth_ok = False
        self.api_key = None
        self.extra = {}
        self.behaviour = None
        self.stream = False
        self.status = None
        self.error_type = None
        self.error_message = None
        self.response_body = None
        self.stream_body = bytearray()
        self.events_sent = 0
        self.completed = False
        self.client_disconnected = False
        self.disconnected = threading.Event()
        self.done = threading.Event()

    def wait_done(self, timeout=5.0):
        if not self.done.wait(timeout):
            raise TimeoutError(f"request {self.index} not finished after {timeout}s")
        return self

    def __repr__(self):
        return (f"<RecordedRequest #{self.index} {self.method} {self.path} op={self.operation} "
                f"model={self.model} auth={self.auth}/{self.auth_ok} status={self.status} "
                f"err={self.error_type} disconnected={self.client_disconnected}>")


class ProviderError(Exception):
    """An HTTP error response: status, body (dict -> JSON via the handler's encoder, or
    bytes), extra headers, and the kind/message recorded on the request."""

    def __init__(self, status, body, kind, message, headers=None):
        self.status = status
        self.body = body
        self.kind = kind
        self.message = message
        self.headers = dict(headers or {})
        super().__init__(f"{status} {kind}: {message}")


class _ClientGone(Exception):
    pass


class _Dropped(Exception):
    pass


def dumps_compact(obj):
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


# ---------------------------------------------------------------------------------------
# HTTP server

class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, mock, handler):
        self.mock = mock
        super().__init__(("127.0.0.1", 0), handler)

    def get_request(self):
        sock, addr = super().get_request()
        with self.mock._lock:
            self.mock._conns.add(sock)
        return sock, addr

    def shutdown_request(self, request):
        with self.mock._lock:
            self.mock._conns.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request, client_address):
        pass  # connection-level errors (client went away) are expected in these tests


class BaseHandler(BaseHTTPRequestHandler):
    """Request cycle: read body -> route() -> authenticate() -> (unknown route error unless
    routed()) -> publish -> precheck() -> validate() -> behaviour -> execute. Subclasses
    provide route, authenticate, not_found, validate, scripted(), error_for(Error),
    respond(answer-ish), stream_events(reply), stream_error_event(StreamError),
    stream_headers, and encode(obj) for JSON bodies."""
    _one_write = False  # the current stream goes out in one chunk (Reply(one_write=True))

    protocol_version = "HTTP/1.1"
    server_version = "mock"
    sys_version = ""
    timeout = 120
    json_content_type = "application/json"
    record_class = RecordedRequest
    # DropMidStream(mid_event=True) sends 1 .. len(event) - drop_tail bytes of the next event.
    drop_tail = 4

    def setup(self):
        super().setup()
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass

    def log_message(self, fmt, *args):
        pass

    def version_string(self):
        return self.server_version

    do_POST = do_GET = do_PUT = do_DELETE = do_PATCH = lambda self: self._handle()

    @property
    def mock(self):
        return self.server.mock

    # -- to override -------------------------------------------------------------------
    def route(self):
        raise NotImplementedError

    def authenticate(self):
        raise NotImplementedError

    def not_found(self):
        raise NotImplementedError

    def routed(self):
        return self.rec.operation is not None

    def precheck(self):
        """Checks made after publishing whatever mock.validate says."""

    def validate(self):
        pass

    def scripted(self):
        return True

    def error_for(self, err, stream_error=False):
        raise NotImplementedError

    def respond(self, reply):
        """-> (status, body obj or bytes, [(header, value)])"""
        raise NotImplementedError

    def stream_events(self, reply):
        """-> list of complete SSE events (bytes)"""
        raise NotImplementedError

    def stream_error_event(self, b):
        raise NotImplementedError

    def stream_headers(self, reply):
        return [("Content-Type", "text/event-stream; charset=utf-8")]

    def common_headers(self):
        return []

    def encode(self, obj):
        return dumps_compact(obj)

    def internal_error(self, tb):
        return ProviderError(500, {"error": {"message": "mock bug: " + tb}}, "mock_bug", tb)

    def model_from_body(self, ops, stream_op):
        """For the operations `ops` whose JSON body names the model: rec.model from its
        "model", rec.stream from its "stream": true (operation stream_op only)."""
        rec = self.rec
        if rec.operation in ops and isinstance(rec.json, dict):
            if isinstance(rec.json.get("model"), str):
                rec.model = rec.json["model"]
            rec.stream = rec.operation == stream_op and rec.json.get("stream") is True

    # -- plumbing ------------------------------------------------------------------------
    def _read_body(self):
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            out = bytearray()
            while True:
                line = self.rfile.readline(65537)
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(out)
                out += self.rfile.read(size)
                self.rfile.readline(65537)
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def _client_gone(self):
        try:
            r, _, _ = select.select([self.connection], [], [], 0)
            if r:
                return self.connection.recv(1, socket.MSG_PEEK) == b""
        except (OSError, ValueError):
            return True
        return False

    def _wait_watching(self, seconds):
        """Sleep up to `seconds`; False as soon as the client closes its side."""
        deadline = time.monotonic() + seconds
        while True:
            if self.mock._stopping.is_set():
                return False
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return True
            try:
                r, _, _ = select.select([self.connection], [], [], min(0.02, remaining))
                if r and self.connection.recv(1, socket.MSG_PEEK) == b"":
                    return False
            except (OSError, ValueError):
                return False

    def _send_head(self, status, headers):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.rec.status = status

    def _body_bytes(self, obj):
        return obj if isinstance(obj, (bytes, bytearray)) else self.encode(obj)

    def _send_json(self, status, obj, extra=()):
        data = self._body_bytes(obj)
        hdrs = [("Content-Type", self.json_content_type), ("Content-Length", str(len(data)))]
        hdrs += self.common_headers() + list(extra)
        self._send_head(status, hdrs)
        self.rec.response_body = bytes(data)
        try:
            # Two writes so clients see the body arrive in more than one read.
            cut = self.rng.randint(0, len(data)) if data else 0
            self.wfile.write(data[:cut])
            if cut < len(data):
                self.wfile.write(data[cut:])
        except OSError:
            raise _ClientGone()
        self.rec.completed = True

    def _send_error(self, err):
        self.rec.error_type = err.kind
        self.rec.error_message = err.message
        self._send_json(err.status, err.body, list(err.headers.items()))

    def _send_half_and_drop(self, status, body, hdrs, rst):
        """Headers and half the body, then close: DropMidStream on a non-stream call."""
        data = self._body_bytes(body)
        self._send_head(status, [("Content-Type", self.json_content_type),
                                 ("Content-Length", str(len(data)))]
                        + self.common_headers() + list(hdrs))
        try:
            self.wfile.write(data[:len(data) // 2])
        except OSError:
            raise _ClientGone()
        self._abort(rst)
        raise _Dropped()

    def _abort(self, rst):
        self.close_connection = True
        sock = self.connection
        try:
            if rst:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.rfile.close()
                sock.close()
            else:
                sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    # -- streams -------------------------------------------------------------------------
    def _write_chunk(self, piece):
        if not piece:
            return
        try:
            self.connection.sendall(b"%x\r\n" % len(piece) + piece + b"\r\n")
        except OSError:
            raise _ClientGone()
        self.rec.stream_body += piece

    def _piece_len(self):
        if self._one_write:
            return 1 << 30
        r = self.rng.random()
        if r < 0.3:
            return self.rng.randint(1, 4)
        if r < 0.85:
            return self.rng.randint(5, 48)
        return self.rng.randint(49, 300)

    def _write_pieces(self, data, event_ends=None):
        """Write data as HTTP chunks cut at random byte positions, with small pauses;
        event_ends (cumulative offsets) keeps rec.events_sent up to date."""
        pos = 0
        n = 0
        while pos < len(data):
            if n % 8 == 0 and self._client_gone():
                raise _ClientGone()
            size = self._piece_len()
            self._write_chunk(data[pos:pos + size])
            pos += size
            n += 1
            if event_ends:
                while event_ends and event_ends[0] <= pos:
                    event_ends.pop(0)
                    self.rec.events_sent += 1
            if not self._one_write and self.rng.random() < 0.2:
                time.sleep(self.rng.uniform(0.0002, 0.002))

    def _emit(self, events, gap):
        if not events:
            return
        if gap <= 0:
            ends, total = [], 0
            for e in events:
                total += len(e)
                ends.append(total)
            self._write_pieces(b"".join(events), ends)
            return
        for e in events:
            if self._emitted_any and not self._wait_watching(gap):
                raise _ClientGone()
            self._write_pieces(e, [len(e)])
            self._emitted_any = True

    def _stream_head(self, headers):
        self._send_head(200, list(headers) + [("Transfer-Encoding", "chunked")])

    def _run_stream(self, events, b, headers):
        self.rec.stream = True
        gap = b.gap_seconds if isinstance(b, SlowStream) else 0.0
        cut = len(events)
        if isinstance(b, (DropMidStream, StreamError)) or (
                isinstance(b, Stall) and b.after_events is not None):
            cut = min(b.after_events, len(events))
        self._emitted_any = False
        self._one_write = getattr(b, "one_write", False)
        self._stream_head(headers)
        self._emit(events[:cut], gap)
        if isinstance(b, DropMidStream):
            if b.mid_event and cut < len(events) and len(events[cut]) > 1:
                nxt = events[cut]
                # SSE: never the whole event nor all but its blank-line terminator.
                self._write_pieces(nxt[:self.rng.randint(1, max(1, len(nxt) - self.drop_tail))])
            self._abort(b.rst)
            raise _Dropped()
        if isinstance(b, StreamError):
            self._emit([self.stream_error_event(b)], 0)
        else:
            if isinstance(b, Stall):
                if not self._wait_watching(b.seconds):
                    raise _ClientGone()
            self._emit(events[cut:], gap)
        try:
            self.connection.sendall(b"0\r\n\r\n")
        except OSError:
            raise _ClientGone()
        self.rec.completed = True

    # -- request handling ----------------------------------------------------------------
    def _handle(self):
        mock = self.mock
        self.rec = rec = self.record_class(mock._next_index())
        self.rng = random.Random(f"{mock.seed}-{rec.index}")
        self.t0 = time.monotonic()
        rec.client_address = self.client_address
        rec.method = self.command
        rec.path = self.path
        raw_path, _, rec.query = self.path.partition("?")
        rec.route_path = urllib.parse.unquote(raw_path)
        rec.query_params = urllib.parse.parse_qs(rec.query, keep_blank_values=True)
        rec.raw_headers = list(self.headers.items())
        rec.headers = Headers(rec.raw_headers)
        published = False
        try:
            rec.body = self._read_body()
            if rec.body:
                try:
                    rec.json = json.loads(rec.body)
                except ValueError:
                    rec.json_error = True
            self.route()
            self.authenticate()
            rec.auth_ok = True
            if not self.routed():
                raise self.not_found()
            mock._publish(rec)
            published = True
            self.precheck()
            if mock.validate:
                self.validate()
            b = mock._next_behaviour() if self.scripted() else None
            rec.behaviour = b
            self._execute(b)
        except ProviderError as e:
            if not published:
                mock._publish(rec)
                published = True
            if rec.status is None:
                try:
                    self._send_error(e)
                except _ClientGone:
                    self._mark_disconnected()
        except _ClientGone:
            self._mark_disconnected()
        except _Dropped:
            self.close_connection = True
        except Exception:  # a bug in the mock: make it loud
            tb = traceback.format_exc()
            mock.errors.append(tb)
            if not published:
                mock._publish(rec)
                published = True
            if rec.status is None:
                try:
                    self._send_error(self.internal_error(tb))
                except Exception:
                    pass
            self.close_connection = True
        finally:
            if not published:
                mock._publish(rec)
            rec.done.set()
            with mock._cond:
                mock._cond.notify_all()

    def _mark_disconnected(self):
        self.rec.client_disconnected = True
        self.rec.disconnected.set()
        self.mock.disconnected.set()
        self.close_connection = True

    def _execute(self, b):
        rec = self.rec
        if b is None:
            b = Reply()
        if isinstance(b, Error):
            raise self.error_for(b)
        if isinstance(b, Stall) and (b.after_events is None or not rec.stream):
            if not self._wait_watching(b.seconds):
                raise _ClientGone()
            return self._execute(coerce(b.then) or Reply())
        if isinstance(b, StreamError) and not rec.stream:
            raise self.error_for(b, stream_error=True)
        reply = b if isinstance(b, Reply) else (coerce(getattr(b, "reply", None)) or Reply())
        extra = list((reply.headers or {}).items())
        if rec.stream:
            events = self.stream_events(reply)
            hdrs = self.stream_headers(reply) + self.common_headers() + extra
            return self._run_stream(events, b, hdrs)
        status, body, hdrs = self.respond(reply)
        if reply.raw is not None:
            body = reply.raw
        hdrs = list(hdrs) + extra
        if isinstance(b, DropMidStream):
            self._send_half_and_drop(status, body, hdrs, b.rst)
        self._send_json(status, body, hdrs)

    def latency_ms(self):
        return max(1, int((time.monotonic() - self.t0) * 1000))


class BaseMock:
    """Lifecycle, scripting and recording shared by the provider mocks.

    Scripting: mock.default_text, mock.script(*behaviours), mock.pending, mock.reset().
    Recording: mock.requests, mock.last_request, mock.wait_for_requests(n, timeout,
      finished=False), mock.disconnected (Event), mock.wait_for_disconnect(timeout),
      mock.errors (tracebacks of mock bugs: assert it stays empty)."""

    DEFAULT_TEXT = "PONG"
    handler_class = BaseHandler
    thread_name = "mock-provider"
    _coerce = staticmethod(coerce)  # how script() reads its arguments

    def __init__(self, seed=None, validate=True):
        self.seed = seed if seed is not None else random.randrange(1 << 32)
        self.validate = validate
        self.default_text = self.DEFAULT_TEXT
        self.errors = []
        self.disconnected = threading.Event()
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._queue = collections.deque()
        self._records = []
        self._counter = 0
        self._conns = set()
        self._stopping = threading.Event()
        self._server = None
        self._thread = None

    # lifecycle
    def start(self):
        if self._server is not None:
            return self
        self._stopping.clear()
        self._server = _Server(self, self.handler_class)
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05},
                                        name=self.thread_name, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        if self._server is None:
            return
        self._stopping.set()
        self._server.shutdown()
        with self._lock:
            conns = list(self._conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._server.server_close()
        self._thread.join(5)
        self._server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def port(self):
        return self._server.server_address[1]

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    # scripting
    def script(self, *behaviours):
        items = [self._coerce(b) for b in behaviours]
        with self._lock:
            self._queue.extend(items)
        return self

    @property
    def pending(self):
        """Number of scripted behaviours not yet consumed."""
        with self._lock:
            return len(self._queue)

    def reset(self):
        """Clear script, recordings, errors and the disconnect event; restore
        default_text. Configuration (keys, models, limits) is kept."""
        with self._lock:
            self._queue.clear()
            self._records.clear()
            self.errors.clear()
            self.disconnected.clear()
            self.default_text = self.DEFAULT_TEXT

    # recording
    @property
    def requests(self):
        with self._lock:
            return list(self._records)

    @property
    def last_request(self):
        with self._lock:
            return self._records[-1] if self._records else None

    def wait_for_requests(self, n, timeout=5.0, finished=False):
        """Wait until n requests were received (body read, route and auth decided);
        finished=True also waits until the first n responses are done."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                recs = self._records[:n]
                if len(recs) >= n and (not finished or all(r.done.is_set() for r in recs)):
                    return list(self._records)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"expected {n} requests, got {len(self._records)} "
                                       f"after {timeout}s: {self._records!r}")
                self._cond.wait(min(left, 0.1))

    def wait_for_disconnect(self, timeout=5.0):
        """Return the first request whose client went away before the response ended."""
        if not self.disconnected.wait(timeout):
            raise TimeoutError(f"no client disconnect observed within {timeout}s")
        for r in self.requests:
            if r.client_disconnected:
                return r
        raise AssertionError("disconnect event set but no request is marked")

    # internals
    def _next_index(self):
        with self._lock:
            self._counter += 1
            return self._counter - 1

    def _publish(self, rec):
        with self._cond:
            self._records.append(rec)
            self._cond.notify_all()

    def _next_behaviour(self):
        with self._lock:
            return self._queue.popleft() if self._queue else None


def per_model(setting, model):
    """The value of an int-or-{model: int} setting for one model (None: not set)."""
    if isinstance(setting, dict):
        return setting.get(model)
    return setting


class ModelCatalog:
    """Model listing and per-model limits of a provider mock: needs self.models (list or
    None), self.context_window and, for native_dim, self.embedding_dims and
    self.default_embedding_dim; DEFAULT_MODELS is listed when models is None."""

    DEFAULT_MODELS = ()

    def model_list(self):
        return list(self.models) if self.models is not None else list(self.DEFAULT_MODELS)

    def window_for(self, model):
        return per_model(self.context_window, model)

    def native_dim(self, model):
        return self.embedding_dims.get(model, self.default_embedding_dim)
