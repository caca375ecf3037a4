"""Encoder (and a strict incremental decoder) for application/vnd.amazon.eventstream.

Frame grammar (all integers big-endian, CRC = zlib CRC-32):
    total_len:u32 headers_len:u32 prelude_crc:u32 headers payload message_crc:u32
    header = name_len:u8 name type:u8 value      (type 7: value_len:u16 utf8)
The encoder reproduces the byte vectors of bedrock.md section 4.2 exactly.
"""

import json
import struct
import uuid
import zlib

PRELUDE_LEN = 12
CRC_LEN = 4
MAX_HEADERS_LEN = 128 * 1024
MAX_PAYLOAD_LEN = 24 * 1024 * 1024

# Header value types.
TYPE_TRUE, TYPE_FALSE, TYPE_BYTE, TYPE_SHORT, TYPE_INT, TYPE_LONG = 0, 1, 2, 3, 4, 5
TYPE_BYTES, TYPE_STRING, TYPE_TIMESTAMP, TYPE_UUID = 6, 7, 8, 9


def crc32(data, seed=0):
    return zlib.crc32(data, seed) & 0xFFFFFFFF


def encode_header(name, value):
    """One header. str -> type 7 (string), bytes -> 6, bool -> 0/1, int -> 4
    (int32), uuid.UUID -> 9. Use a (type, value) tuple to force another type."""
    raw_name = name.encode("utf-8")
    if len(raw_name) > 255:
        raise ValueError("header name longer than 255 bytes")
    out = struct.pack(">B", len(raw_name)) + raw_name
    if isinstance(value, tuple):
        htype, value = value
    elif isinstance(value, bool):
        htype = TYPE_TRUE if value else TYPE_FALSE
    elif isinstance(value, int):
        htype = TYPE_INT
    elif isinstance(value, (bytes, bytearray)):
        htype = TYPE_BYTES
    elif isinstance(value, uuid.UUID):
        htype = TYPE_UUID
    else:
        htype = TYPE_STRING
    out += struct.pack(">B", htype)
    if htype in (TYPE_TRUE, TYPE_FALSE):
        return out
    if htype == TYPE_BYTE:
        return out + struct.pack(">b", value)
    if htype == TYPE_SHORT:
        return out + struct.pack(">h", value)
    if htype == TYPE_INT:
        return out + struct.pack(">i", value)
    if htype in (TYPE_LONG, TYPE_TIMESTAMP):
        return out + struct.pack(">q", value)
    if htype == TYPE_UUID:
        return out + (value.bytes if isinstance(value, uuid.UUID) else bytes(value))
    data = value.encode("utf-8") if isinstance(value, str) else bytes(value)
    if len(data) > 0x7FFF:
        raise ValueError("header value longer than INT16_MAX")
    return out + struct.pack(">H", len(data)) + data


def encode_message(headers=(), payload=b""):
    """A whole frame. headers: iterable of (name, value) pairs (order kept) or a
    dict; payload: bytes."""
    if isinstance(headers, dict):
        headers = list(headers.items())
    hdr = b"".join(encode_header(n, v) for n, v in headers)
    payload = bytes(payload)
    total = PRELUDE_LEN + len(hdr) + len(payload) + CRC_LEN
    head = struct.pack(">II", total, len(hdr))
    prelude = head + struct.pack(">I", crc32(head))
    body = prelude + hdr + payload
    return body + struct.pack(">I", crc32(body))


def _json_bytes(payload):
    if isinstance(payload, (bytes, bytearray)):
        return bytes(payload)
    if isinstance(payload, str):
        return payload.encode("utf-8")
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def event_frame(event_type, payload):
    """A Bedrock event frame, header order as real Bedrock / bedrock.md 4.2:
    :event-type, :content-type, :message-type. payload: dict (compact JSON),
    str or bytes."""
    return encode_message(
        [(":event-type", event_type), (":content-type", "application/json"),
         (":message-type", "event")],
        _json_bytes(payload))


def exception_frame(exception_type, payload):
    """An in-stream exception frame (:message-type exception)."""
    return encode_message(
        [(":exception-type", exception_type), (":content-type", "application/json"),
         (":message-type", "exception")],
        _json_bytes(payload))


def error_frame(error_code, error_message):
    """A :message-type error frame (:error-code / :error-message, empty payload)."""
    return encode_message(
        [(":error-code", error_code), (":error-message", error_message),
         (":message-type", "error")], b"")


class DecodeError(Exception):
    pass


class Message:
    __slots__ = ("headers", "payload")

    def __init__(self, headers, payload):
        self.headers = headers
        self.payload = payload

    def json(self):
        return json.loads(self.payload.decode("utf-8"))

    @property
    def message_type(self):
        return self.headers.get(":message-type")

    @property
    def event_type(self):
        return self.headers.get(":event-type") or self.headers.get(":exception-type")

    def __repr__(self):
        return f"Message({self.headers!r}, {self.payload!r})"


def _decode_headers(data):
    headers = {}
    pos = 0
    while pos < len(data):
        nlen = data[pos]
        pos += 1
        name = data[pos:pos + nlen].decode("utf-8")
        pos += nlen
        if pos >= len(data):
            raise DecodeError("truncated header")
        htype = data[pos]
        pos += 1
        if htype == TYPE_TRUE:
            val = True
        elif htype == TYPE_FALSE:
            val = False
        elif htype in (TYPE_BYTE, TYPE_SHORT, TYPE_INT, TYPE_LONG, TYPE_TIMESTAMP):
            fmt = {TYPE_BYTE: ">b", TYPE_SHORT: ">h", TYPE_INT: ">i",
                   TYPE_LONG: ">q", TYPE_TIMESTAMP: ">q"}[htype]
            size = struct.calcsize(fmt)
            (val,) = struct.unpack(fmt, data[pos:pos + size])
            pos += size
        elif htype == TYPE_UUID:
            val = uuid.UUID(bytes=bytes(data[pos:pos + 16]))
            pos += 16
        elif htype in (TYPE_BYTES, TYPE_STRING):
            (vlen,) = struct.unpack(">H", data[pos:pos + 2])
            pos += 2
            val = bytes(data[pos:pos + vlen])
            if len(val) != vlen:
                raise DecodeError("truncated header value")
            pos += vlen
            if htype == TYPE_STRING:
                val = val.decode("utf-8")
        else:
            raise DecodeError(f"unknown header type {htype}")
        if name in headers:
            raise DecodeError(f"duplicate header {name}")
        headers[name] = val
    if pos != len(data):
        raise DecodeError("header block overrun")
    return headers


class Decoder:
    """Incremental decoder: feed(bytes) returns the list of complete Messages.
    Verifies both CRCs; errors are sticky (DecodeError)."""

    def __init__(self):
        self._buf = bytearray()
        self._error = None

    def feed(self, data):
        if self._error:
            raise self._error
        self._buf += data
        out = []
        try:
            while len(self._buf) >= PRELUDE_LEN:
                total, hlen, pcrc = struct.unpack(">III", self._buf[:PRELUDE_LEN])
                if crc32(bytes(self._buf[:8])) != pcrc:
                    raise DecodeError("prelude CRC mismatch")
                if hlen > MAX_HEADERS_LEN or total < PRELUDE_LEN + hlen + CRC_LEN \
                        or total - hlen - PRELUDE_LEN - CRC_LEN > MAX_PAYLOAD_LEN:
                    raise DecodeError("bad lengths in prelude")
                if len(self._buf) < total:
                    break
                frame = bytes(self._buf[:total])
                del self._buf[:total]
                (mcrc,) = struct.unpack(">I", frame[-4:])
                if crc32(frame[:-4]) != mcrc:
                    raise DecodeError("message CRC mismatch")
                headers = _decode_headers(frame[PRELUDE_LEN:PRELUDE_LEN + hlen])
                out.append(Message(headers, frame[PRELUDE_LEN + hlen:-4]))
        except DecodeError as e:
            self._error = e
            raise
        return out

    @property
    def pending_bytes(self):
        return len(self._buf)


def decode_all(data):
    """Decode a complete byte string; raises DecodeError on trailing bytes."""
    dec = Decoder()
    msgs = dec.feed(data)
    if dec.pending_bytes:
        raise DecodeError(f"{dec.pending_bytes} trailing bytes")
    return msgs
