"""Self-tests of the mock Bedrock Runtime (tests/integration/mocks/bedrock.py) so pier's
integration tests can trust it: wire vectors from bedrock.md, auth, shapes, behaviours."""

import base64
import datetime
import json
import shutil
import subprocess
import time
import urllib.parse
from unittest import mock as umock

import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.eventstream import ChecksumMismatch, EventStreamBuffer

from conftest import raw_http
from mocks import eventstream
from mocks.bedrock import (
    ERRORS, DropMidStream, Error, MockBedrock, Reply, SlowStream, Stall, StreamException,
    count_tokens, embedding_vector, on_demand_message, verify_sigv4,
)

TOKEN = "ABSKdGVzdC1rZXk="
AKID, SECRET = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
AKID_STS, SECRET_STS, STS_TOKEN = "ASIAEXAMPLE", "c2VjcmV0LXN0cw", "FQoGZXIvYXdzEXAMPLETOKEN"
HAIKU = "us.anthropic.claude-haiku-4-5-20251001-v1:0"
HAIKU_PATH = "/model/us.anthropic.claude-haiku-4-5-20251001-v1%3A0"
HELLO = {"messages": [{"role": "user", "content": [{"text": "Hello"}]}],
         "inferenceConfig": {"maxTokens": 64}}
VECTOR_BODY = (b'{"messages":[{"role":"user","content":[{"text":"Hello"}]}],'
               b'"inferenceConfig":{"maxTokens":64}}')


@pytest.fixture(scope="module")
def server():
    m = MockBedrock(bearer_tokens={TOKEN},
                    iam={AKID: (SECRET, None), AKID_STS: (SECRET_STS, STS_TOKEN)})
    m.start()
    yield m
    m.stop()


@pytest.fixture
def mock(server):
    server.reset()
    server.clock = None
    yield server
    assert server.errors == [], server.errors[0]


def bearer(token=TOKEN):
    return {"Authorization": f"Bearer {token}"}


def post(mock, path, body=None, headers=None, raw=None, **kw):
    data = raw if raw is not None else json.dumps(body if body is not None else HELLO).encode()
    hdrs = {"Content-Type": "application/json"}
    hdrs.update(bearer() if headers is None else headers)
    return requests.post(mock.url + path, data=data, headers=hdrs, timeout=kw.pop("timeout", 5), **kw)


def sigv4_headers(url, body, akid=AKID, secret=SECRET, token=None, region="us-east-1",
                  when=None):
    req = AWSRequest(method="POST", url=url, data=body,
                     headers={"Content-Type": "application/json"})
    auth = SigV4Auth(Credentials(akid, secret, token), "bedrock", region)
    if when is None:
        auth.add_auth(req)
    else:
        with umock.patch("botocore.auth.datetime") as fake:
            fake.datetime.utcnow.return_value = when
            auth.add_auth(req)
    return dict(req.headers.items())


def decode_stream(data):
    """Decode with botocore's own EventStreamBuffer, feeding a few bytes at a time."""
    buf = EventStreamBuffer()
    out = []
    for i in range(0, len(data), 7):
        buf.add_data(data[i:i + 7])
        out.extend(buf)
    return out


def events_of(data):
    res = []
    for m in decode_stream(data):
        etype = m.headers.get(":event-type") or m.headers.get(":exception-type")
        res.append((m.headers[":message-type"], etype, json.loads(m.payload)))
    return res


def raw_post(mock, path, body, headers=None, on_chunk=None, timeout=5):
    """POST over a raw socket, keeping the HTTP chunk boundaries as sent by the mock.
    on_chunk(resp) returning True closes the connection early."""
    return raw_http(mock.port, "POST", path, body, bearer() if headers is None else headers,
                    on_chunk, timeout)


# ------------------------------------------------------------------------- event stream

def test_encoder_reproduces_official_vectors():
    assert eventstream.encode_message([], b"").hex(" ") == \
        "00 00 00 10 00 00 00 00 05 c2 48 eb 7d 98 c8 ff"
    assert eventstream.encode_message([], b"{'foo':'bar'}").hex(" ") == (
        "00 00 00 1d 00 00 00 00 fd 52 8c 5a 7b 27 66 6f 6f 27 3a 27 62 61 72 27 7d c3 65 39 36")
    assert eventstream.encode_message([("content-type", "application/json")],
                                      b"{'foo':'bar'}").hex(" ") == (
        "00 00 00 3d 00 00 00 20 07 fd 83 96 0c 63 6f 6e 74 65 6e 74 2d 74 79 70 65 07 00 10 61 "
        "70 70 6c 69 63 61 74 69 6f 6e 2f 6a 73 6f 6e 7b 27 66 6f 6f 27 3a 27 62 61 72 27 7d 8d "
        "9c 08 b1")


def test_encoder_reproduces_bedrock_frames():
    frame = eventstream.event_frame(
        "contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Hi"}, "p": "abcd"})
    assert len(frame) == 159
    assert frame.hex() == (
        "0000009f00000057c37babff0b3a6576656e742d74797065070011636f6e74656e74426c6f636b44656c74"
        "610d3a636f6e74656e742d747970650700106170706c69636174696f6e2f6a736f6e0d3a6d657373616765"
        "2d747970650700056576656e747b22636f6e74656e74426c6f636b496e646578223a302c2264656c746122"
        "3a7b2274657874223a224869227d2c2270223a2261626364227df2ace5ff")
    exc = eventstream.exception_frame(
        "throttlingException", {"message": "Too many requests, please wait before trying again."})
    assert len(exc) == 178
    assert exc.hex() == (
        "000000b2000000613590d5d30f3a657863657074696f6e2d747970650700137468726f74746c696e674578"
        "63657074696f6e0d3a636f6e74656e742d747970650700106170706c69636174696f6e2f6a736f6e0d3a6d"
        "6573736167652d74797065070009657863657074696f6e7b226d657373616765223a22546f6f206d616e79"
        "2072657175657374732c20706c656173652077616974206265666f726520747279696e6720616761696e2e"
        "227de8ffb26a")
    (msg,) = decode_stream(frame)
    assert msg.headers == {":event-type": "contentBlockDelta",
                           ":content-type": "application/json", ":message-type": "event"}


def test_decoder_round_trip_and_crc_detection():
    frames = [eventstream.event_frame("chunk", {"bytes": "eyJ9", "p": "ab"}),
              eventstream.event_frame("x", {"t": "h\u00e9llo \U0001F30D"})]
    data = b"".join(frames)
    dec = eventstream.Decoder()
    got = []
    for b in data:
        got.extend(dec.feed(bytes([b])))
    assert [m.json() for m in got] == [{"bytes": "eyJ9", "p": "ab"}, {"t": "h\u00e9llo \U0001F30D"}]
    bad = bytearray(frames[0])
    bad[-6] ^= 1
    with pytest.raises(eventstream.DecodeError):
        eventstream.decode_all(bytes(bad))
    with pytest.raises(ChecksumMismatch):
        decode_stream(bytes(bad))


# ------------------------------------------------------------------------- SigV4 verifier

def vector_headers(signature, token=None):
    hdrs = [("Host", "bedrock-runtime.us-east-1.amazonaws.com"),
            ("Content-Type", "application/json"), ("X-Amz-Date", "20150830T123600Z")]
    signed = "content-type;host;x-amz-date"
    if token:
        hdrs.append(("X-Amz-Security-Token", token))
        signed += ";x-amz-security-token"
    hdrs.append(("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/"
                                  f"bedrock/aws4_request, SignedHeaders={signed}, Signature={signature}"))
    return hdrs


VECTOR_NOW = datetime.datetime(2015, 8, 30, 12, 38, 0)
SIG_2_2_2 = "c570ff35f9f2cfb793a08e63a1f4b54138a86f9a25ec6cd58a6642488af6945c"
SIG_2_2_2_TOKEN = "915afa673c802cfe48a608bd7358da9c676c7b8721c33814eb4a229a0f43acfb"


def test_verifier_reproduces_bedrock_vector_2_2_2():
    res = verify_sigv4("POST", HAIKU_PATH + "/converse", vector_headers(SIG_2_2_2), VECTOR_BODY,
                       {AKID: (SECRET, None)}, region="us-east-1", now=VECTOR_NOW)
    assert res.ok, res.error
    assert res.canonical_request == (
        "POST\n/model/us.anthropic.claude-haiku-4-5-20251001-v1%253A0/converse\n\n"
        "content-type:application/json\nhost:bedrock-runtime.us-east-1.amazonaws.com\n"
        "x-amz-date:20150830T123600Z\n\ncontent-type;host;x-amz-date\n"
        "f5b802cc64a01910fd197a46e9e959f3a5795f7728fa5710fb28f1ec3019f545")
    assert res.string_to_sign == (
        "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/bedrock/aws4_request\n"
        "3ff91cbf5dbe8afb81b8712b32d6f19234ba883f37f020fa0ca37f6c9346a858")
    res = verify_sigv4("POST", HAIKU_PATH + "/converse",
                       vector_headers(SIG_2_2_2_TOKEN, "FQoGZXIvYXdzEXAMPLETOKEN"), VECTOR_BODY,
                       {AKID: (SECRET, "FQoGZXIvYXdzEXAMPLETOKEN")}, now=VECTOR_NOW)
    assert res.ok, res.error


@pytest.mark.parametrize("what", ["body", "path", "header", "signature"])
def test_verifier_rejects_one_changed_byte(what):
    body, path, hdrs = VECTOR_BODY, HAIKU_PATH + "/converse", vector_headers(SIG_2_2_2)
    if what == "body":
        body = body.replace(b"Hello", b"Hellp")
    elif what == "path":
        path = path.replace("%3A0", "%3A1")
    elif what == "header":
        hdrs[1] = ("Content-Type", "application/jsoN")
    else:
        hdrs[-1] = (hdrs[-1][0], hdrs[-1][1][:-1] + "d")
    res = verify_sigv4("POST", path, hdrs, body, {AKID: (SECRET, None)}, now=VECTOR_NOW)
    assert not res.ok
    assert res.error.code == "InvalidSignatureException"
    assert "The Canonical String for this request should have been" in res.error.message
    assert "The String-to-Sign should have been" in res.error.message


def test_verifier_reproduces_official_aws4_suite():
    # post-vanilla, get-vanilla-with-session-token, normalize-path/get-space (service "service").
    cases = [
        ("POST", "/", [], "host;x-amz-date",
         "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b", None),
        ("GET", "/", [("X-Amz-Security-Token", "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267")],
         "host;x-amz-date;x-amz-security-token",
         "07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8",
         "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267"),
        ("GET", "/example space/", [], "host;x-amz-date",
         "652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741", None),
    ]
    for method, path, extra, signed, sig, token in cases:
        hdrs = [("Host", "example.amazonaws.com"), ("X-Amz-Date", "20150830T123600Z")] + extra
        hdrs.append(("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/"
                                      f"service/aws4_request, SignedHeaders={signed}, Signature={sig}"))
        res = verify_sigv4(method, path, hdrs, b"", {AKID: (SECRET, token)}, service="service",
                           now=VECTOR_NOW)
        assert res.ok, (path, res.error)


# ------------------------------------------------------------------------- auth over HTTP

def assert_aws_error(r, code, status, key="message"):
    assert r.status_code == status, r.text
    assert r.headers["x-amzn-ErrorType"].split(":", 1)[0] == code
    assert r.headers["x-amzn-ErrorType"].startswith(code + ":http://internal.amazon.com/coral/")
    assert r.headers["Content-Type"] == "application/json"
    assert r.headers["x-amzn-RequestId"]
    return r.json()[key]


def test_listens_on_loopback_only(mock):
    assert mock._server.server_address[0] == "127.0.0.1"
    assert mock.url == f"http://127.0.0.1:{mock.port}"


def test_bearer_ok_and_keep_alive(mock):
    with requests.Session() as s:
        for _ in range(2):
            r = s.post(mock.url + HAIKU_PATH + "/converse", json=HELLO, headers=bearer(), timeout=5)
            assert r.status_code == 200
    a, b = mock.requests
    assert a.auth == b.auth == "bearer" and a.auth_ok and a.bearer_token == TOKEN
    assert a.client_address == b.client_address  # same TCP connection


def test_bearer_bad(mock):
    msg = assert_aws_error(post(mock, HAIKU_PATH + "/converse", headers=bearer("ABSKwrong")),
                           "AccessDeniedException", 403, key="Message")
    assert msg == "Authentication failed: Please make sure your API Key is valid."
    msg = assert_aws_error(post(mock, HAIKU_PATH + "/converse", headers=bearer("nope")),
                           "AccessDeniedException", 403, key="Message")
    assert "pre-defined prefix" in msg
    assert mock.requests[0].auth == "bearer" and not mock.requests[0].auth_ok


def test_bearer_with_sigv4_headers_rejected(mock):
    for extra in ({"X-Amz-Date": "20260101T000000Z"}, {"X-Amz-Security-Token": "x"}):
        r = post(mock, HAIKU_PATH + "/converse", headers=dict(bearer(), **extra))
        assert_aws_error(r, "IncompleteSignatureException", 403)


def test_no_auth(mock):
    msg = assert_aws_error(post(mock, HAIKU_PATH + "/converse", headers={}),
                           "MissingAuthenticationTokenException", 403)
    assert msg == "Missing Authentication Token"
    assert mock.requests[0].auth is None


@pytest.mark.parametrize("with_token", [False, True])
def test_sigv4_ok(mock, with_token):
    url = mock.url + HAIKU_PATH + "/converse"
    body = json.dumps(HELLO).encode()
    akid, secret, token = (AKID_STS, SECRET_STS, STS_TOKEN) if with_token else (AKID, SECRET, None)
    r = requests.post(url, data=body, headers=sigv4_headers(url, body, akid, secret, token), timeout=5)
    assert r.status_code == 200, r.text
    rec = mock.last_request
    assert rec.auth == "sigv4" and rec.access_key_id == akid and rec.signing_region == "us-east-1"
    assert rec.model_id == HAIKU and rec.path == HAIKU_PATH + "/converse"
    assert "%253A0" in rec.sigv4.canonical_request


def test_sigv4_tampered_and_wrong_creds(mock):
    url = mock.url + HAIKU_PATH + "/converse"
    body = json.dumps(HELLO).encode()
    hdrs = sigv4_headers(url, body)
    msg = assert_aws_error(requests.post(url, data=body.replace(b"Hello", b"Jello"), headers=hdrs),
                           "InvalidSignatureException", 403)
    assert msg.startswith("The request signature we calculated does not match")
    assert "/model/us.anthropic.claude-haiku-4-5-20251001-v1%253A0/converse" in msg
    assert "AWS4-HMAC-SHA256\n" in msg
    # Wrong secret.
    r = requests.post(url, data=body, headers=sigv4_headers(url, body, secret="x" * 40))
    assert_aws_error(r, "InvalidSignatureException", 403)
    # Unknown key.
    r = requests.post(url, data=body, headers=sigv4_headers(url, body, akid="AKIDUNKNOWN"))
    assert assert_aws_error(r, "UnrecognizedClientException", 403) == \
        "The security token included in the request is invalid."
    # Session credentials without / with a wrong token.
    for token in (None, "WRONG"):
        r = requests.post(url, data=body, headers=sigv4_headers(url, body, AKID_STS, SECRET_STS, token))
        assert_aws_error(r, "UnrecognizedClientException", 403)
    # Wrong region in the scope.
    r = requests.post(url, data=body, headers=sigv4_headers(url, body, region="eu-west-1"))
    assert "valid region" in assert_aws_error(r, "InvalidSignatureException", 403)


def test_sigv4_expired_and_vector_over_http(mock):
    url = mock.url + HAIKU_PATH + "/converse"
    body = json.dumps(HELLO).encode()
    old = datetime.datetime.utcnow() - datetime.timedelta(minutes=6)
    msg = assert_aws_error(requests.post(url, data=body, headers=sigv4_headers(url, body, when=old)),
                           "InvalidSignatureException", 403)
    assert msg.startswith("Signature expired: ") and "is now earlier than" in msg
    # The bedrock.md 2.2.2 request, byte for byte, with the mock's clock pinned.
    mock.clock = lambda: datetime.datetime(2015, 8, 30, 12, 37, 0, tzinfo=datetime.timezone.utc)
    hdrs = dict(vector_headers(SIG_2_2_2))
    r = requests.post(url, data=VECTOR_BODY, headers=hdrs, timeout=5)
    assert r.status_code == 200, r.text
    r = requests.post(url, data=VECTOR_BODY + b" ", headers=hdrs, timeout=5)
    assert_aws_error(r, "InvalidSignatureException", 403)


@pytest.mark.skipif(not shutil.which("curl"), reason="curl not installed")
def test_sigv4_cross_checked_with_curl(mock):
    """An independent signer agrees with the verifier. Debian 12's curl (7.88 < 8.14)
    signs '%3A' single-encoded, which AWS rejects (bedrock.md 2.3): so does the mock."""
    version = tuple(int(x) for x in subprocess.run(
        ["curl", "--version"], capture_output=True, text=True).stdout.split()[1].split(".")[:2])

    def curl(path):
        out = subprocess.run(
            ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--aws-sigv4",
             "aws:amz:us-east-1:bedrock", "--user", f"{AKID}:{SECRET}",
             "-H", "Content-Type: application/json", "--data-binary", json.dumps(HELLO),
             mock.url + path], capture_output=True, text=True, timeout=10)
        return int(out.stdout)
    assert curl("/model/us.anthropic.claude-sonnet-4-6/converse") == 200
    assert curl(HAIKU_PATH + "/converse") == (200 if version >= (8, 14) else 403)


def test_auth_failure_still_recorded(mock):
    post(mock, HAIKU_PATH + "/converse-stream", headers=bearer("ABSKbad"))
    rec = mock.wait_for_requests(1, finished=True)[0]
    assert (rec.model_id, rec.operation, rec.stream, rec.auth, rec.auth_ok) == \
        (HAIKU, "converse-stream", True, "bearer", False)
    assert (rec.status, rec.error_type, rec.behaviour) == (403, "AccessDeniedException", None)


# ------------------------------------------------------------------------- converse

def test_converse_default_shape(mock):
    r = post(mock, HAIKU_PATH + "/converse")
    assert r.status_code == 200
    j = r.json()
    assert j["output"]["message"] == {"role": "assistant", "content": [{"text": "PONG"}]}
    assert j["stopReason"] == "end_turn"
    assert j["usage"] == {"inputTokens": 1, "outputTokens": 1, "totalTokens": 2}
    assert isinstance(j["metrics"]["latencyMs"], int)
    rec = mock.last_request
    assert (rec.method, rec.operation, rec.json, rec.body) == \
        ("POST", "converse", HELLO, json.dumps(HELLO).encode())
    assert rec.headers["content-type"] == "application/json" and rec.status == 200


def test_converse_scripted_tool_call_and_usage(mock):
    mock.default_text = "ignored"
    mock.script(Reply(text="Let me check.", tool_calls=[
        {"name": "get_weather", "input": {"city": "Paris"}, "id": "tooluse_abc"}],
        usage={"inputTokens": 412, "outputTokens": 38, "cacheReadInputTokens": 100},
        latency_ms=912))
    j = post(mock, HAIKU_PATH + "/converse").json()
    assert j == {"output": {"message": {"role": "assistant", "content": [
        {"text": "Let me check."},
        {"toolUse": {"toolUseId": "tooluse_abc", "name": "get_weather", "input": {"city": "Paris"}}}]}},
        "stopReason": "tool_use",
        "usage": {"inputTokens": 412, "outputTokens": 38, "cacheReadInputTokens": 100,
                  "totalTokens": 550},
        "metrics": {"latencyMs": 912}}
    assert post(mock, HAIKU_PATH + "/converse").json()["output"]["message"]["content"] == \
        [{"text": "ignored"}]


def test_count_tokens(mock):
    r = post(mock, HAIKU_PATH + "/count-tokens", {"input": {"converse": HELLO}})
    assert r.status_code == 200 and r.json() == {"inputTokens": 1}


# ------------------------------------------------------------------------- converse-stream

def test_converse_stream_decoded_by_botocore(mock):
    mock.default_text = "Hello, w\u00f6rld \U0001F30D!"
    mock.script(Reply(text=None, tool_calls=[]), Reply(text="ok", tool_calls=[
        {"name": "get_weather", "input": {"city": "Paris", "days": [1, 2]}}]))
    resp = raw_post(mock, HAIKU_PATH + "/converse-stream", json.dumps(HELLO).encode())
    assert resp.status == 200 and resp.complete
    assert resp.headers["content-type"] == "application/vnd.amazon.eventstream"
    assert resp.headers["transfer-encoding"] == "chunked"
    msgs = decode_stream(resp.body)
    # Cut at random byte positions: HTTP chunks do not line up with frames.
    assert len(resp.chunks) > len(msgs)
    frame_ends, pos = set(), 0
    for m in msgs:
        pos += m.prelude.total_length
        frame_ends.add(pos)
    chunk_ends, pos = set(), 0
    for c in resp.chunks:
        pos += len(c)
        chunk_ends.add(pos)
    assert chunk_ends - frame_ends
    evs = events_of(resp.body)
    for m in msgs:
        assert m.headers[":content-type"] == "application/json"
        assert m.headers[":message-type"] == "event"
        assert json.loads(m.payload)["p"]
    names = [e[1] for e in evs]
    assert names[0] == "messageStart" and names[-2:] == ["messageStop", "metadata"]
    deltas = [e[2]["delta"]["text"] for e in evs if e[1] == "contentBlockDelta"]
    assert len(deltas) >= 2 and "".join(deltas) == mock.default_text
    assert evs[-2][2]["stopReason"] == "end_turn"
    meta = evs[-1][2]
    assert set(meta["usage"]) == {"inputTokens", "outputTokens", "totalTokens"}
    assert "latencyMs" in meta["metrics"]

    evs = events_of(raw_post(mock, HAIKU_PATH + "/converse-stream", json.dumps(HELLO).encode()).body)
    names = [e[1] for e in evs]
    assert names.count("contentBlockStart") == 1
    start = next(e[2] for e in evs if e[1] == "contentBlockStart")
    assert start["contentBlockIndex"] == 1
    assert start["start"]["toolUse"]["name"] == "get_weather"
    assert start["start"]["toolUse"]["toolUseId"].startswith("tooluse_")
    frags = [e[2]["delta"]["toolUse"]["input"] for e in evs
             if e[1] == "contentBlockDelta" and e[2]["contentBlockIndex"] == 1]
    assert len(frags) >= 2 and json.loads("".join(frags)) == {"city": "Paris", "days": [1, 2]}
    assert [e[2]["contentBlockIndex"] for e in evs if e[1] == "contentBlockStop"] == [0, 1]
    assert evs[-2][2]["stopReason"] == "tool_use"


def test_stream_reasoning_and_custom_events(mock):
    bad = bytearray(eventstream.event_frame("contentBlockDelta", {"x": 1}))
    bad[-1] ^= 0xFF
    mock.script(Reply(text="A", reasoning="think", text_chunks=["A"]),
                Reply(events=[("messageStart", {"role": "assistant"}), bytes(bad)]))
    evs = events_of(raw_post(mock, HAIKU_PATH + "/converse-stream", json.dumps(HELLO).encode()).body)
    rc = [e[2]["delta"]["reasoningContent"] for e in evs
          if e[1] == "contentBlockDelta" and e[2]["contentBlockIndex"] == 0]
    assert "".join(x.get("text", "") for x in rc) == "think" and "signature" in rc[-1]
    assert [e[2]["delta"] for e in evs if e[1] == "contentBlockDelta" and e[2]["contentBlockIndex"] == 1] \
        == [{"text": "A"}]
    resp = raw_post(mock, HAIKU_PATH + "/converse-stream", json.dumps(HELLO).encode())
    assert resp.body.endswith(bytes(bad))


# ------------------------------------------------------------------------- InvokeModel (Anthropic)

ANTH = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 100,
        "messages": [{"role": "user", "content": "hi there"}]}


def test_invoke_anthropic(mock):
    r = post(mock, HAIKU_PATH + "/invoke", ANTH)
    assert r.status_code == 200
    j = r.json()
    assert j["type"] == "message" and j["role"] == "assistant" and j["id"].startswith("msg_bdrk_")
    assert j["content"] == [{"type": "text", "text": "PONG"}]
    assert j["stop_reason"] == "end_turn" and j["usage"]["input_tokens"] == 2
    assert r.headers["X-Amzn-Bedrock-Input-Token-Count"] == "2"
    msg = assert_aws_error(post(mock, HAIKU_PATH + "/invoke", dict(ANTH, stream=True)),
                           "ValidationException", 400)
    assert "extraneous key [stream] is not permitted" in msg
    msg = assert_aws_error(post(mock, HAIKU_PATH + "/invoke", dict(ANTH, stream=True, model="x")),
                           "ValidationException", 400)
    assert "#: extraneous key [stream] is not permitted#: extraneous key [model] is not permitted" in msg
    bad = dict(ANTH, messages=[{"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "toolu_x", "content": "1"}]}])
    assert "unexpected `tool_use_id`" in assert_aws_error(
        post(mock, HAIKU_PATH + "/invoke", bad), "ValidationException", 400)


def test_invoke_with_response_stream_anthropic(mock):
    mock.script(Reply(text="Hi!", tool_calls=[{"name": "calc", "input": {"x": 1}}],
                      usage={"input_tokens": 7, "output_tokens": 5}))
    resp = raw_post(mock, HAIKU_PATH + "/invoke-with-response-stream", json.dumps(ANTH).encode())
    assert resp.status == 200 and resp.complete
    assert resp.headers["x-amzn-bedrock-content-type"] == "application/json"
    inner = []
    for mtype, etype, payload in events_of(resp.body):
        assert (mtype, etype) == ("event", "chunk") and payload["p"]
        inner.append(json.loads(base64.b64decode(payload["bytes"])))
    types = [e["type"] for e in inner]
    assert types[0] == "message_start" and types[-2:] == ["message_delta", "message_stop"]
    assert inner[0]["message"]["usage"]["input_tokens"] == 7
    text = "".join(e["delta"]["text"] for e in inner if e["type"] == "content_block_delta"
                   and e["delta"]["type"] == "text_delta")
    assert text == "Hi!"
    tool_start = [e for e in inner if e["type"] == "content_block_start"][1]
    assert tool_start["index"] == 1 and tool_start["content_block"]["name"] == "calc"
    js = "".join(e["delta"]["partial_json"] for e in inner if e["type"] == "content_block_delta"
                 and e["delta"]["type"] == "input_json_delta")
    assert json.loads(js) == {"x": 1}
    assert inner[-2]["delta"]["stop_reason"] == "tool_use"
    assert inner[-2]["usage"] == {"output_tokens": 5}
    assert inner[-1]["amazon-bedrock-invocationMetrics"]["inputTokenCount"] == 7


# ------------------------------------------------------------------------- embeddings

def test_titan_v2_embeddings(mock):
    path = "/model/amazon.titan-embed-text-v2%3A0/invoke"
    j1 = post(mock, path, {"inputText": "hello world"}).json()
    j2 = post(mock, path, {"inputText": "hello world"}).json()
    assert j1 == j2
    assert j1["embedding"] == embedding_vector("hello world", 1024) and len(j1["embedding"]) == 1024
    assert j1["inputTextTokenCount"] == count_tokens("hello world") == 2
    assert j1["embeddingsByType"] == {"float": j1["embedding"]}
    assert abs(sum(v * v for v in j1["embedding"]) - 1) < 1e-3
    r = post(mock, path, {"inputText": "other", "dimensions": 256, "normalize": False,
                          "embeddingTypes": ["float", "binary"]})
    j = r.json()
    assert j["embedding"] == embedding_vector("other", 256, normalize=False)
    assert j["embeddingsByType"]["binary"] == [1 if v > 0 else 0 for v in j["embedding"]]
    assert r.headers["x-amzn-bedrock-input-token-count"] == "1"
    assert post(mock, path, {"inputText": "a", "dimensions": 512}).json()["embedding"] == \
        embedding_vector("a", 512)
    assert "#/dimensions: 100 is not a valid enum value" in assert_aws_error(
        post(mock, path, {"inputText": "x", "dimensions": 100}), "ValidationException", 400)
    assert "required key [inputText]" in assert_aws_error(
        post(mock, path, {}), "ValidationException", 400)


def test_cohere_embeddings(mock):
    path = "/model/cohere.embed-english-v3/invoke"
    r = post(mock, path, {"texts": ["hello world", "bye"], "input_type": "search_document"})
    j = r.json()
    assert j["response_type"] == "embeddings_floats" and j["texts"] == ["hello world", "bye"]
    assert j["embeddings"] == [embedding_vector("hello world"), embedding_vector("bye")]
    assert j["id"]
    assert r.headers["x-amzn-bedrock-input-token-count"] == "3"
    j = post(mock, "/model/cohere.embed-multilingual-v3/invoke",
             {"texts": ["x"], "input_type": "search_query", "embedding_types": ["float", "int8"]}).json()
    assert j["response_type"] == "embeddings_by_type"
    assert j["embeddings"]["float"] == [embedding_vector("x")] and len(j["embeddings"]["int8"][0]) == 1024
    assert "required key [input_type]" in assert_aws_error(
        post(mock, path, {"texts": ["x"]}), "ValidationException", 400)
    assert "This action doesn't support the model" in assert_aws_error(
        post(mock, "/model/cohere.embed-english-v3/converse"), "ValidationException", 400)


# ------------------------------------------------------------------------- validation & models

def conv(messages, **kw):
    return dict({"messages": messages}, **kw)


U = {"role": "user", "content": [{"text": "hi"}]}
A = {"role": "assistant", "content": [{"text": "yo"}]}
TOOL = {"tools": [{"toolSpec": {"name": "get_weather", "inputSchema": {"json": {"type": "object"}}}}]}
TU = {"role": "assistant", "content": [{"toolUse": {"toolUseId": "t1", "name": "get_weather", "input": {}}}]}
TR = {"role": "user", "content": [{"toolResult": {"toolUseId": "t1", "content": [{"text": "sunny"}]}}]}


@pytest.mark.parametrize("body,expect", [
    (conv([]), "A conversation must start with a user message."),
    (conv([A]), "A conversation must start with a user message."),
    (conv([U, U]), "A conversation must alternate between user and assistant roles."),
    (conv([{"role": "user", "content": [{"text": " "}]}]),
     "The text field in the ContentBlock object at messages.0.content.0 is blank."),
    (conv([U, TU, TR]), "The toolConfig field must be defined when using toolUse and toolResult "
                        "content blocks."),
    (conv([U, TU, U], toolConfig=TOOL), "Expected toolResult blocks at messages.2.content for the "
                                        "following Ids: t1"),
    (conv([U], inferenceConfig={"temperature": 1.5}),
     "1 validation error detected: Value '1.5' at 'inferenceConfig.temperature' failed to satisfy "
     "constraint: Member must have value less than or equal to 1"),
    (conv([U], inferenceConfig={"topP": -0.1, "maxTokens": 0}), "2 validation errors detected: "),
    (conv([{"role": "user", "content": [{"image": {"format": "bmp", "source": {"bytes": "iVBORw=="}}}]}]),
     "Member must satisfy enum value set: [png, jpeg, gif, webp]"),
    (conv([{"role": "user", "content": [{"image": {"format": "png", "source": {"bytes": "**"}}}]}]),
     "image.source.bytes"),
    (conv([U], toolConfig={"tools": [{"toolSpec": {"name": "bad name", "inputSchema": {"json": {}}}}]}),
     "Value 'bad name' at 'toolConfig.tools.1.member.toolSpec.name' failed to satisfy constraint: "
     "Member must satisfy regular expression pattern: [a-zA-Z0-9_-]+"),
])
def test_converse_validation(mock, body, expect):
    for op in ("converse", "converse-stream"):
        msg = assert_aws_error(post(mock, HAIKU_PATH + "/" + op, body), "ValidationException", 400)
        assert expect in msg
    assert mock.pending == 0


def test_valid_tool_history_passes(mock):
    assert post(mock, HAIKU_PATH + "/converse", conv([U, TU, TR], toolConfig=TOOL)).status_code == 200
    body = conv([U, A, {"role": "user", "content": [
        {"text": "look"}, {"image": {"format": "png", "source": {"bytes": "iVBORw=="}}}]}])
    assert post(mock, HAIKU_PATH + "/converse", body).status_code == 200


def test_model_ids(mock):
    for bare in ("anthropic.claude-sonnet-4-6", "anthropic.claude-opus-4-7",
                 "anthropic.claude-haiku-4-5-20251001-v1:0"):
        path = "/model/" + urllib.parse.quote(bare, safe="") + "/converse"
        msg = assert_aws_error(post(mock, path), "ValidationException", 400)
        assert msg == on_demand_message(bare)
        assert "isn\u2019t supported" in msg
    assert post(mock, "/model/us.anthropic.claude-sonnet-4-6/converse").status_code == 200
    arn = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc123def456"
    assert post(mock, "/model/" + urllib.parse.quote(arn, safe="") + "/converse").status_code == 200
    assert mock.last_request.model_id == arn
    mock.known_models = {"us.anthropic.claude-sonnet-4-6"}
    try:
        assert_aws_error(post(mock, "/model/us.meta.llama3-1-70b-instruct-v1%3A0/converse"),
                         "ResourceNotFoundException", 404)
        assert post(mock, "/model/us.anthropic.claude-sonnet-4-6/converse").status_code == 200
    finally:
        mock.known_models = None
    assert_aws_error(post(mock, HAIKU_PATH + "/converse/stream"), "UnknownOperationException", 404)


# ------------------------------------------------------------------------- behaviours

TABLE = ["ValidationException", "AccessDeniedException", "ResourceNotFoundException",
         "ThrottlingException", "ModelNotReadyException", "ServiceQuotaExceededException",
         "ModelTimeoutException", "ModelErrorException", "ModelStreamErrorException",
         "InternalServerException", "ServiceUnavailableException", "ExpiredTokenException",
         "UnrecognizedClientException", "InvalidSignatureException"]
STATUS = [400, 403, 404, 429, 429, 400, 408, 424, 424, 500, 503, 403, 403, 403]


def test_every_error_of_the_table(mock):
    mock.script(*[Error(code) for code in TABLE])
    for code, status in zip(TABLE, STATUS):
        assert ERRORS[code][0] == status
        op = "converse-stream" if code == "ThrottlingException" else "converse"
        msg = assert_aws_error(post(mock, HAIKU_PATH + "/" + op), code, status)
        assert msg == ERRORS[code][1]
    mock.script(Error("ThrottlingException", message="slow down", retry_after=3),
                {"type": "error", "code": "AccessDeniedException", "body_key": "Message",
                 "message": "User: arn:x is not authorized"},
                Error("ModelErrorException", fields={"originalStatusCode": 500, "resourceName": "m"}))
    r = post(mock, HAIKU_PATH + "/converse")
    assert assert_aws_error(r, "ThrottlingException", 429) == "slow down"
    assert r.headers["Retry-After"] == "3"
    assert assert_aws_error(post(mock, HAIKU_PATH + "/converse"), "AccessDeniedException", 403,
                            key="Message").startswith("User: arn:x")
    assert post(mock, HAIKU_PATH + "/converse").json()["originalStatusCode"] == 500
    assert post(mock, HAIKU_PATH + "/converse").status_code == 200  # queue empty again


def test_script_fifo_and_dicts(mock):
    mock.script("one", {"text": "two"}, Reply(text="three"))
    got = [post(mock, HAIKU_PATH + "/converse").json()["output"]["message"]["content"][0]["text"]
           for _ in range(4)]
    assert got == ["one", "two", "three", "PONG"]
    assert [type(r.behaviour).__name__ for r in mock.requests] == ["Reply", "Reply", "Reply", "NoneType"]


def test_stall_then_reply(mock):
    mock.script(Stall(0.3))
    t0 = time.monotonic()
    r = post(mock, HAIKU_PATH + "/converse")
    assert r.status_code == 200 and time.monotonic() - t0 >= 0.3
    assert not mock.last_request.client_disconnected


def test_stall_client_gives_up(mock):
    mock.script(Stall(30))
    t0 = time.monotonic()
    with pytest.raises(requests.exceptions.ReadTimeout):
        post(mock, HAIKU_PATH + "/converse-stream", timeout=0.3)
    rec = mock.wait_for_disconnect(timeout=3)
    assert rec.client_disconnected and rec.status is None and rec.disconnected.is_set()
    rec.wait_done(2)
    assert time.monotonic() - t0 < 5


def test_stall_mid_stream(mock):
    mock.script(Stall(0.3, after_events=2))
    t0 = time.monotonic()
    seen = []

    def on_chunk(resp):
        if not seen and len(decode_stream(resp.body)) >= 2:
            seen.append(time.monotonic() - t0)
    resp = raw_post(mock, HAIKU_PATH + "/converse-stream", json.dumps(HELLO).encode(), on_chunk=on_chunk)
    assert resp.complete and seen[0] < 0.25 and time.monotonic() - t0 >= 0.3


@pytest.mark.parametrize("mid_frame", [False, True])
def test_drop_mid_stream(mock, mid_frame):
    mock.script(DropMidStream(after_events=3, mid_frame=mid_frame))
    resp = raw_post(mock, HAIKU_PATH + "/converse-stream", json.dumps(HELLO).encode())
    assert resp.status == 200 and not resp.complete
    dec = eventstream.Decoder()
    assert len(dec.feed(resp.body)) == 3
    assert (dec.pending_bytes > 0) == mid_frame
    rec = mock.last_request.wait_done()
    assert rec.events_sent == 3 and not rec.completed
    # requests/urllib3 surfaces it as an incomplete chunked body.
    mock.script(DropMidStream(after_events=2))
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        post(mock, HAIKU_PATH + "/converse-stream").content


def test_drop_rst_and_non_stream(mock):
    mock.script(DropMidStream(after_events=1, rst=True), DropMidStream())
    resp = raw_post(mock, HAIKU_PATH + "/converse-stream", json.dumps(HELLO).encode())
    assert not resp.complete
    assert mock.last_request.wait_done().events_sent == 1
    resp = raw_post(mock, HAIKU_PATH + "/converse", json.dumps(HELLO).encode())
    assert resp.status == 200
    assert 0 < len(resp.body) < int(resp.headers["content-length"])


def test_stream_exception(mock):
    mock.script(StreamException("throttlingException", after_events=2),
                StreamException("modelStreamErrorException", after_events=0, message="boom"),
                StreamException("throttlingException"))
    resp = raw_post(mock, HAIKU_PATH + "/converse-stream", json.dumps(HELLO).encode())
    assert resp.status == 200 and resp.complete
    evs = events_of(resp.body)
    assert [e[1] for e in evs] == ["messageStart", "contentBlockDelta", "throttlingException"]
    assert evs[-1][0] == "exception"
    assert evs[-1][2] == {"message": "Too many requests, please wait before trying again."}
    evs = events_of(raw_post(mock, HAIKU_PATH + "/invoke-with-response-stream",
                             json.dumps(ANTH).encode()).body)
    assert evs == [("exception", "modelStreamErrorException",
                    {"message": "boom", "originalStatusCode": 500,
                     "originalMessage": "Internal server error"})]
    assert_aws_error(post(mock, HAIKU_PATH + "/converse"), "ThrottlingException", 429)


def test_slow_stream_and_client_cancel(mock):
    mock.script(SlowStream(0.04))
    t0 = time.monotonic()
    resp = raw_post(mock, HAIKU_PATH + "/converse-stream", json.dumps(HELLO).encode())
    n = len(decode_stream(resp.body))
    assert resp.complete and time.monotonic() - t0 >= 0.04 * (n - 1)
    assert not mock.disconnected.is_set()
    # Client hangs up after the first frame: the mock notices without blind sleeps.
    mock.script(SlowStream(0.2))
    resp = raw_post(mock, HAIKU_PATH + "/converse-stream", json.dumps(HELLO).encode(),
                    on_chunk=lambda r: len(decode_stream(r.body)) >= 1)
    assert not resp.complete
    rec = mock.wait_for_disconnect(timeout=3)
    assert rec.client_disconnected and not rec.completed and rec.events_sent < n
    assert rec.wait_done(2).done.is_set()


def test_wait_for_requests_and_reset(mock):
    post(mock, HAIKU_PATH + "/converse")
    assert len(mock.wait_for_requests(1, timeout=1, finished=True)) == 1
    with pytest.raises(TimeoutError):
        mock.wait_for_requests(2, timeout=0.1)
    mock.script(Error("ThrottlingException"))
    mock.default_text = "X"
    mock.reset()
    assert mock.requests == [] and mock.pending == 0 and mock.default_text == "PONG"
