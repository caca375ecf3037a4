"""The upstream client under stress: connection reuse, connect / first-byte / idle /
total timeouts (504, OpenAI-shaped, or an SSE error frame once output has started),
retries with exponential backoff + jitter honouring Retry-After only while nothing
was sent to the client, and cancellation of the upstream call when the client leaves.

Four pier servers share one mock: `gw` (long timeouts: nothing times out unless a
test wants it), `short` (400 ms first-byte/idle, 300 ms connect), `total` (500 ms
whole call, long first-byte) and `slow_retry` (100 ms backoff base)."""

import json
import socket
import time

import pytest

from gateway_util import (SONNET, SSE, Gateway, assert_chunks, assert_completion, assert_error, gateway_fixtures,
                          hello, sse_from_bytes, stream_chat)
from mocks.bedrock import DropMidStream, Error, Reply, SlowStream, Stall, StreamException
from mocks.eventstream import event_frame

gateway, gw = gateway_fixtures()
MODEL = "bedrock/" + SONNET


def _sub_gateway(gateway, args):
    return Gateway(args, mock=gateway.mock)


@pytest.fixture(scope="module")
def short_gw(gateway):
    g = _sub_gateway(gateway, ["--upstream-ttfb-timeout-ms", "400", "--upstream-idle-timeout-ms", "400",
                               "--upstream-connect-timeout-ms", "300"])
    yield g
    g.close()


@pytest.fixture(scope="module")
def total_gw(gateway):
    g = _sub_gateway(gateway, ["--upstream-ttfb-timeout-ms", "5000", "--upstream-timeout-ms", "500"])
    yield g
    g.close()


@pytest.fixture(scope="module")
def slow_retry_gw(gateway):
    g = _sub_gateway(gateway, ["--upstream-retry-base-ms", "100"])
    yield g
    g.close()


@pytest.fixture
def short(gw, short_gw):
    return short_gw


@pytest.fixture
def total(gw, total_gw):
    return total_gw


@pytest.fixture
def slow_retry(gw, slow_retry_gw):
    return slow_retry_gw


def n_requests(mock, n):
    mock.wait_for_requests(n, finished=True)
    assert len(mock.requests) == n, mock.requests
    return mock.requests


def assert_stream_ends_with_error(r, code, etype, before=("PO",), contains=()):
    """A 200 SSE stream: role chunk, the text chunks `before`, exactly one error frame
    {"error":{...}}, then [DONE] and the end of the body."""
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/event-stream"), r.text
    *chunks, err = sse_from_bytes(r.content)
    assert set(err) == {"error"}, err
    assert set(err["error"]) == {"message", "type", "code", "param"}, err
    assert err["error"]["code"] == code and err["error"]["type"] == etype, err
    for s in contains:
        assert s in err["error"]["message"], err
    assert [c["choices"][0]["delta"] for c in chunks] == [{"role": "assistant", "content": ""}] + [
        {"content": t} for t in before]
    assert all(c["choices"][0]["finish_reason"] is None for c in chunks)
    return err["error"]


# -- connection reuse -----------------------------------------------------------------------

def test_upstream_connections_are_reused(gw):
    gw.mock.script(Reply(), Error("ThrottlingException"), Reply(), Reply(), Reply())
    for stream in (False, False, True, False):
        r = gw.chat(hello(stream=stream))
        assert r.status_code == 200, r.text
    recs = n_requests(gw.mock, 5)
    assert len({rec.client_address for rec in recs}) == 1, [rec.client_address for rec in recs]


def test_sigv4_retry_is_signed_afresh(gw):
    gw.env_iam(session=True)
    gw.mock.script(Error("ServiceUnavailableException"), Reply())
    r = gw.chat(hello())
    assert r.status_code == 200, r.text
    recs = n_requests(gw.mock, 2)
    assert all(rec.auth == "sigv4" and rec.auth_ok for rec in recs), recs


# -- retries ------------------------------------------------------------------------------------

RETRYABLE = [Error("ThrottlingException"), Error("ServiceUnavailableException"), Error("ModelNotReadyException"),
             Error("InternalServerException"), Error("SlowDown", status=429), Error("BadGateway", status=502),
             Error("ModelStreamErrorException")]


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("first", RETRYABLE, ids=lambda e: f"{e.code}-{e.status}")
def test_retryable_errors_are_retried(gw, first, stream):
    gw.mock.script(first, first, Reply(text="PONG"))
    r = gw.chat(hello(stream=stream))
    assert r.status_code == 200, r.text
    if stream:
        assert assert_chunks(sse_from_bytes(r.content), MODEL)[:2] == ("PONG", "stop")
    else:
        assert_completion(r.json(), MODEL, "PONG")
    n_requests(gw.mock, 3)


@pytest.mark.parametrize("drop", [DropMidStream(rst=True), DropMidStream(rst=False)], ids=["rst", "fin"])
def test_connection_reset_before_output_is_retried(gw, drop):
    gw.mock.script(drop, Reply())  # non-stream: headers + half the body, then the socket dies
    r = gw.chat(hello())
    assert r.status_code == 200, r.text
    assert_completion(r.json(), MODEL)
    n_requests(gw.mock, 2)


@pytest.mark.parametrize("first", [DropMidStream(after_events=0, rst=True), DropMidStream(after_events=0),
                                   StreamException("throttlingException", after_events=0),
                                   StreamException("serviceUnavailableException", after_events=0)],
                         ids=["rst", "fin", "throttling-frame", "unavailable-frame"])
def test_stream_failing_before_any_output_is_retried(gw, first):
    gw.mock.script(first, Reply(text_chunks=["PO", "NG"]))
    r, chunks = stream_chat(gw, hello(stream=True))
    assert [c["choices"][0]["delta"] for c in chunks] == [
        {"role": "assistant", "content": ""}, {"content": "PO"}, {"content": "NG"}, {}]
    assert "error" not in r.text
    n_requests(gw.mock, 2)


@pytest.mark.parametrize("failure,code,etype,words", [
    (StreamException("throttlingException", after_events=2), "ThrottlingException", "rate_limit_error",
     ["Too many requests"]),
    (StreamException("internalServerException", after_events=3), "InternalServerException", "api_error", []),
    (DropMidStream(after_events=2), "upstream_connection_reset", "api_error", ["dropped"]),
    (DropMidStream(after_events=2, mid_frame=True), "upstream_connection_reset", "api_error", []),
], ids=["throttling", "internal", "fin", "mid-frame"])
def test_stream_failing_after_output_ends_with_error_frame_not_retry(gw, failure, code, etype, words):
    # (no RST variant here: a peer's RST may discard bytes pier has not read yet, so
    # what was delivered before it is not deterministic; RST before output is below)
    failure.reply = Reply(text_chunks=["PO", "NG"])
    gw.mock.script(failure, Reply())  # a retry would find this Reply
    r = gw.chat(hello(stream=True), timeout=10)
    before = ["PO"] if failure.after_events == 2 else ["PO", "NG"]
    assert_stream_ends_with_error(r, code, etype, before, words)
    n_requests(gw.mock, 1)
    assert gw.mock.pending == 1


def test_retry_after_is_honoured(gw):
    gw.mock.script(Error("ThrottlingException", retry_after=1), Reply())
    r = gw.chat(hello())
    assert r.status_code == 200, r.text
    a, b = n_requests(gw.mock, 2)
    assert b.time - a.time >= 0.95, b.time - a.time


def test_backoff_is_exponential(slow_retry):
    """base 100 ms: waits in [50,100], [100,200], [200,400] ms (half jitter)."""
    mock = slow_retry.mock
    mock.script(Error("InternalServerException"), Error("InternalServerException"), Error("InternalServerException"),
                Reply())
    r = slow_retry.chat(hello())
    assert r.status_code == 200, r.text
    recs = n_requests(mock, 4)
    gaps = [recs[i + 1].time - recs[i].time for i in range(3)]
    for k, g in enumerate(gaps):
        lo, hi = 0.05 * 2 ** k, 0.1 * 2 ** k
        assert lo - 0.002 <= g <= hi + 0.15, (k, gaps)


def test_backoff_has_jitter(slow_retry):
    mock = slow_retry.mock
    firsts = []
    for _ in range(6):
        mock.reset()
        mock.script(Error("ThrottlingException"), Reply())
        assert slow_retry.chat(hello()).status_code == 200
        a, b = n_requests(mock, 2)
        firsts.append(b.time - a.time)
    assert all(0.048 <= g <= 0.18 for g in firsts), firsts
    assert max(firsts) - min(firsts) > 0.003, firsts


# -- timeouts ------------------------------------------------------------------------------------

@pytest.mark.parametrize("stream", [False, True])
def test_first_byte_timeout_is_504(short, stream):
    short.mock.script(Stall(5))
    t0 = time.monotonic()
    r = short.chat(hello(stream=stream))
    assert_error(r, 504, "timeout_error", "upstream_ttfb_timeout", ["400 ms", "--upstream-ttfb-timeout-ms"])
    assert time.monotonic() - t0 < 2.0
    rec = short.mock.wait_for_disconnect(2)  # pier hung up on the stalled call
    assert rec is short.mock.requests[0]
    n_requests(short.mock, 1)  # a timeout is not retried


def test_idle_gap_mid_stream_ends_with_error_frame(short):
    short.mock.script(Stall(5, after_events=2, then=Reply(text_chunks=["PO", "NG"])), Reply())
    t0 = time.monotonic()
    r = short.chat(hello(stream=True))
    assert r.status_code == 200
    assert_stream_ends_with_error(r, "upstream_idle_timeout", "timeout_error", ["PO"], ["400 ms"])
    assert time.monotonic() - t0 < 2.0
    short.mock.wait_for_disconnect(2)
    n_requests(short.mock, 1)


def test_idle_gap_shorter_than_the_timeout_is_fine(short):
    short.mock.script(SlowStream(0.15, reply=Reply(text_chunks=["P", "O", "N", "G"])))
    _, chunks = stream_chat(short, hello(stream=True))
    assert assert_chunks(chunks, MODEL)[:2] == ("PONG", "stop")


def _blackhole():
    """A listening socket whose accept queue is full: new SYNs are dropped, so a
    connect() never completes. Returns (listener, fillers, url)."""
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(0)
    port = lsock.getsockname()[1]
    fillers = []
    for _ in range(4):
        c = socket.socket()
        c.setblocking(False)
        try:
            c.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        fillers.append(c)
    probe = socket.socket()
    probe.settimeout(0.3)
    with pytest.raises(socket.timeout):  # prove the trick works on this kernel
        probe.connect(("127.0.0.1", port))
    probe.close()
    return lsock, fillers, f"http://127.0.0.1:{port}"


def test_connect_timeout_is_504(short):
    lsock, fillers, url = _blackhole()
    try:
        short.env_bearer(AWS_BEDROCK_RUNTIME_ENDPOINT=url)
        t0 = time.monotonic()
        r = short.chat(hello(num_retries=0))
        assert_error(r, 504, "timeout_error", "upstream_connect_timeout", [url, "300 ms"])
        assert time.monotonic() - t0 < 2.0
    finally:
        for s in fillers + [lsock]:
            s.close()
        short.env_bearer()


def test_connect_refused_is_502(gw):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{s.getsockname()[1]}"
    s.close()  # nothing listens there now
    gw.env_bearer(AWS_BEDROCK_RUNTIME_ENDPOINT=url)
    r = gw.chat(hello())
    assert_error(r, 502, "api_error", "upstream_connect_error", ["could not connect", url])
    r = gw.chat(hello(stream=True))
    assert_error(r, 502, "api_error", "upstream_connect_error")


def test_total_timeout_non_stream_is_504(total):
    total.mock.script(Stall(5))
    t0 = time.monotonic()
    r = total.chat(hello())
    assert_error(r, 504, "timeout_error", "upstream_timeout", ["500 ms"])
    assert time.monotonic() - t0 < 2.0
    total.mock.wait_for_disconnect(2)
    n_requests(total.mock, 1)


def test_total_timeout_mid_stream_ends_with_error_frame(total):
    total.mock.script(SlowStream(0.3, reply=Reply(text_chunks=["PO", "NG", "!"])))
    r = total.chat(hello(stream=True))
    assert r.status_code == 200
    # frames at ~0, 0.3, 0.6 s: role + "PO" arrive before the 500 ms limit, "NG" after it
    assert_stream_ends_with_error(r, "upstream_timeout", "timeout_error", ["PO"], ["500 ms"])
    total.mock.wait_for_disconnect(2)
    n_requests(total.mock, 1)


@pytest.mark.parametrize("stream", [False, True])
def test_total_timeout_on_a_reused_connection(total, stream):
    """Regression: curl reports connect time 0 on a reused connection; the timeout
    must still be the whole-call one (504 upstream_timeout, not retried), not
    "could not connect" (upstream_connect_timeout, retryable)."""
    assert total.chat(hello()).status_code == 200  # leaves a pooled connection to the mock
    total.mock.reset()
    if stream:
        total.mock.script(SlowStream(0.3, reply=Reply(text_chunks=["PO", "NG", "!"])), Reply())
        r = total.chat(hello(stream=True))
        assert_stream_ends_with_error(r, "upstream_timeout", "timeout_error", ["PO"], ["500 ms"])
    else:
        total.mock.script(Stall(5), Reply())
        r = total.chat(hello())
        assert_error(r, 504, "timeout_error", "upstream_timeout", ["500 ms"])
    total.mock.wait_for_disconnect(2)
    n_requests(total.mock, 1)
    assert total.mock.pending == 1


def test_per_request_timeout_overrides_the_total(gw):
    assert gw.chat(hello()).status_code == 200
    gw.mock.reset()
    gw.mock.script(SlowStream(0.3, reply=Reply(text_chunks=["PO", "NG", "!"])))
    r = gw.chat(hello(stream=True, timeout=0.5))
    assert_stream_ends_with_error(r, "upstream_timeout", "timeout_error", ["PO"], ["500 ms"])
    gw.mock.wait_for_disconnect(2)


# -- client disconnects --------------------------------------------------------------------------

def _raw_post(gw, body):
    data = json.dumps(body).encode()
    s = socket.create_connection(("127.0.0.1", gw.pier.port), timeout=5)
    s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + gw.key.encode() +
              b"\r\nContent-Type: application/json\r\nContent-Length: " + str(len(data)).encode() + b"\r\n\r\n" + data)
    return s


@pytest.mark.parametrize("stream", [False, True])
def test_client_disconnect_while_waiting_cancels_upstream(gw, stream):
    gw.mock.script(Stall(20), Reply())
    s = _raw_post(gw, hello(stream=stream))
    (rec,) = gw.mock.wait_for_requests(1)
    s.close()
    t0 = time.monotonic()
    got = gw.mock.wait_for_disconnect(3)
    assert got is rec and time.monotonic() - t0 < 1.0
    assert len(gw.mock.requests) == 1 and gw.mock.pending == 1
    assert gw.chat(hello()).status_code == 200  # pier is fine afterwards


def test_client_disconnect_mid_stream_cancels_upstream(gw):
    gw.mock.script(Stall(20, after_events=2, then=Reply(text_chunks=["PO", "NG"])), Reply())
    conn, resp = gw.open_stream(hello(stream=True))
    sse = SSE(resp)
    assert sse.next_data()["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert sse.next_data()["choices"][0]["delta"] == {"content": "PO"}
    (rec,) = gw.mock.requests
    conn.close()
    resp.close()
    t0 = time.monotonic()
    got = gw.mock.wait_for_disconnect(3)
    assert got is rec and time.monotonic() - t0 < 1.0
    assert not rec.completed and rec.events_sent == 2
    assert len(gw.mock.requests) == 1 and gw.mock.pending == 1
    assert gw.chat(hello()).status_code == 200


def test_client_disconnect_during_backoff_stops_retrying(gw):
    gw.mock.script(Error("ThrottlingException", retry_after=1), Reply())
    s = _raw_post(gw, hello())
    gw.mock.wait_for_requests(1, finished=True)
    s.close()
    with pytest.raises(TimeoutError):  # the retry due after 1 s must never come
        gw.mock.wait_for_requests(2, timeout=1.5)
    assert gw.mock.pending == 1


# -- broken upstream streams never hang --------------------------------------------------------

CORRUPT = b"\x00\x00\x00\x20garbage-that-is-not-a-frame-at-all!!"  # prelude CRC cannot match


@pytest.mark.parametrize("tail,words", [
    ([], ["ended the answer early"]),                                   # clean end, no messageStop
    ([CORRUPT], ["could not decode"]),                                  # CRC / prelude mismatch
], ids=["truncated", "corrupt"])
def test_broken_stream_after_output_ends_with_error_frame(gw, tail, words):
    events = [("messageStart", {"role": "assistant"}),
              ("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "PO"}}), *tail]
    gw.mock.script(Reply(events=events), Reply())
    r = gw.chat(hello(stream=True), timeout=10)
    assert r.status_code == 200
    assert_stream_ends_with_error(r, "upstream_protocol_error", "api_error", ["PO"], words)
    n_requests(gw.mock, 1)
    assert gw.mock.pending == 1


def test_output_and_a_broken_frame_in_one_chunk_still_end_with_an_error_frame(gw):
    """Text and the corrupt frame after it arrive in one write: the text pier already
    decoded commits the stream just as if it had arrived alone (no 502, no retry)."""
    one_write = (event_frame("messageStart", {"role": "assistant", "p": "x"}) +
                 event_frame("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "PO"}, "p": "x"}) +
                 CORRUPT)
    gw.mock.script(Reply(events=[one_write], one_write=True), Reply())
    r = gw.chat(hello(stream=True), timeout=10)
    assert r.status_code == 200
    assert_stream_ends_with_error(r, "upstream_protocol_error", "api_error", ["PO"], ["could not decode"])
    n_requests(gw.mock, 1)
    assert gw.mock.pending == 1


@pytest.mark.parametrize("events", [[], [CORRUPT]], ids=["empty", "corrupt"])
def test_broken_stream_before_output_is_a_clean_502(gw, events):
    """Whatever the retry policy, every attempt broken -> 502 upstream_protocol_error
    with a message about the stream, not a transport error."""
    gw.mock.script(*[Reply(events=events)] * 4)
    r = gw.chat(hello(stream=True))
    assert_error(r, 502, "api_error", "upstream_protocol_error", ["could not decode"])
    assert "Failure writing output" not in r.text


def test_non_converse_json_reply_is_502(gw):
    gw.mock.script(Reply(raw={"unexpected": True}))
    r = gw.chat(hello())
    assert_error(r, 502, "api_error", "upstream_protocol_error", ["output.message.content"])
    n_requests(gw.mock, 1)
