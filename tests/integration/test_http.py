"""HTTP/1.1 behaviour of `pier serve`, checked on raw sockets: keep-alive,
pipelining, chunked bodies, Expect: 100-continue, limits (408/413/414/431),
404/405 answers, garbage on one connection, and error bodies that are JSON.
"""
import re
import json
import socket
import time

import pytest

from conftest import final_head, jdump, parse_responses

JSON = "application/json"


def connect(pier, timeout=5.0):
    s = socket.create_connection(("127.0.0.1", pier.port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def auth(pier):
    return b"Authorization: Bearer " + pier.admin_token.encode() + b"\r\n"


def get(path, extra=b""):
    return b"GET " + path.encode() + b" HTTP/1.1\r\nHost: t\r\n" + extra + b"\r\n"


def post_json(pier, path, obj, extra=b""):
    body = jdump(obj).encode()
    return (b"POST " + path.encode() + b" HTTP/1.1\r\nHost: t\r\n" + auth(pier) + extra +
            b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body)


DATE_RE = re.compile(rb"Date: [A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT\r\n")


def without_date(raw):
    """Responses carry an RFC 9110 Date header (checked for format) that tests cannot predict."""
    assert DATE_RE.search(raw), raw[:200]
    return DATE_RE.sub(b"", raw, count=1)


def read_until_close(sock, timeout=5.0):
    sock.settimeout(timeout)
    chunks = []
    while True:
        b = sock.recv(65536)
        if not b:
            return b"".join(chunks)
        chunks.append(b)


def read_responses(sock, count, timeout=5.0):
    """Read `count` final responses (Content-Length framed; 100 Continue skipped) from an open socket.

    Returns [(status, headers_dict, body_bytes)]. Fails the test if the peer
    closes or the deadline passes first, showing what arrived.
    """
    deadline = time.time() + timeout
    buf = b""
    out = []
    while True:
        while len(out) < count:
            got = final_head(buf)
            if got is None:
                break
            status, headers, rest = got
            n = int(headers.get("content-length", "0"))
            if len(rest) < n:
                break
            out.append((status, headers, rest[:n]))
            buf = rest[n:]
        if len(out) >= count:
            return out
        left = deadline - time.time()
        if left <= 0:
            raise AssertionError(f"timed out waiting for {count} responses; got {out!r} + {buf!r}")
        sock.settimeout(left)
        try:
            b = sock.recv(65536)
        except socket.timeout:
            continue
        if not b:
            raise AssertionError(f"connection closed after {len(out)} of {count} responses; got {out!r} + {buf!r}")
        buf += b


def detail(body):
    return json.loads(body.decode("utf-8"))["detail"]


HEALTH_BODY = b'{"status":"ok","service":"pier"}'


@pytest.fixture
def limited(pier_factory):
    """A server with small limits: 2 KiB bodies, 500 ms request timeout."""
    return pier_factory(args=["--max-body-bytes", "2048", "--request-timeout-ms", "500"]).start()


# ---- basics --------------------------------------------------------------------------

def test_health_needs_no_token(pier):
    r = pier.get("/api/v1/health", token=None)
    assert r.status_code == 200
    assert r.headers["Content-Type"] == JSON
    assert r.json()["status"] == "ok"


def test_keep_alive_serves_sequential_requests_on_one_connection(pier):
    s = connect(pier)
    try:
        for _ in range(3):
            s.sendall(get("/api/v1/health"))
            [(status, headers, body)] = read_responses(s, 1)
            assert status == 200
            assert body == HEALTH_BODY
            assert "connection" not in headers  # stays open
        s.sendall(get("/api/v1/collections/", auth(pier)))
        [(status, headers, body)] = read_responses(s, 1)
        assert (status, json.loads(body)) == (200, [])
    finally:
        s.close()


def test_pipelined_requests_are_answered_in_order(pier):
    pier.create_collection("acme")
    data = b""
    expect = []
    for i in range(12):
        if i % 3 == 0:
            data += post_json(pier, "/api/v1/collections/", {"name": f"p{i}"})
            expect.append((200, f"p{i}"))
        elif i % 3 == 1:
            data += get("/api/v1/collections/acme", auth(pier))
            expect.append((200, "acme"))
        else:
            data += get(f"/api/v1/no-such-{i}")
            expect.append((404, f"Not Found: no route for GET /api/v1/no-such-{i}"))
    data += get("/api/v1/health", b"Connection: close\r\n")
    raw = pier.raw(data)
    got = parse_responses(raw)
    assert len(got) == 13, raw
    for (status, headers, body), (want_status, want) in zip(got, expect):
        v = json.loads(body)
        assert status == want_status
        assert (v["name"] if status == 200 else v["detail"]) == want
    assert got[12][0] == 200 and got[12][2] == HEALTH_BODY
    assert got[12][1]["connection"] == "close"


def test_request_split_into_single_bytes_is_parsed(pier):
    pier.create_collection("acme")
    s = connect(pier)
    try:
        for b in get("/api/v1/collections/acme", auth(pier)):
            s.send(bytes([b]))
        [(status, _, body)] = read_responses(s, 1)
        assert status == 200 and json.loads(body)["name"] == "acme"
    finally:
        s.close()


def test_http10_request_gets_connection_close(pier):
    raw = pier.raw(b"GET /api/v1/health HTTP/1.0\r\n\r\n")
    [(status, headers, body)] = parse_responses(raw)
    assert (status, body) == (200, HEALTH_BODY)
    assert headers["connection"] == "close"


def test_connection_close_header_closes_after_response(pier):
    s = connect(pier)
    try:
        s.sendall(get("/api/v1/health", b"Connection: close\r\n"))
        raw = without_date(read_until_close(s))
    finally:
        s.close()
    assert raw == (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 32\r\n"
                   b"Connection: close\r\n\r\n" + HEALTH_BODY)


def test_head_request_has_headers_but_no_body(pier):
    raw = without_date(pier.raw(b"HEAD /api/v1/health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"))
    assert raw == (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 32\r\n"
                   b"Connection: close\r\n\r\n")


# ---- request bodies ---------------------------------------------------------------------

def test_chunked_request_body(pier):
    body = jdump({"name": "chunky", "description": "sent in chunks"}).encode()
    parts = [body[:3], body[3:20], body[20:]]
    data = (b"POST /api/v1/collections/ HTTP/1.1\r\nHost: t\r\n" + auth(pier) +
            b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
    for p in parts:
        data += b"%x\r\n%s\r\n" % (len(p), p)
    data += b"0\r\n\r\n" + get("/api/v1/collections/chunky", auth(pier) + b"Connection: close\r\n")
    got = parse_responses(pier.raw(data))
    assert [g[0] for g in got] == [200, 200]
    created, fetched = json.loads(got[0][2]), json.loads(got[1][2])
    assert created["name"] == "chunky" and created["description"] == "sent in chunks"
    assert fetched == created


def test_chunked_request_body_with_extension_and_trailer(pier):
    body = jdump({"name": "trailer"}).encode()
    data = (b"POST /api/v1/collections/ HTTP/1.1\r\nHost: t\r\n" + auth(pier) +
            b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" +
            b"%x;ext=1\r\n%s\r\n" % (len(body), body) + b"0\r\nX-Trailer: yes\r\n\r\n")
    [(status, _, out)] = parse_responses(pier.raw(data))
    assert status == 200 and json.loads(out)["name"] == "trailer"


def test_expect_100_continue(pier):
    body = jdump({"name": "patient"}).encode()
    s = connect(pier)
    try:
        s.sendall(b"POST /api/v1/collections/ HTTP/1.1\r\nHost: t\r\n" + auth(pier) +
                  b"Expect: 100-continue\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body))
        interim = b""
        while not interim.endswith(b"\r\n\r\n"):
            b = s.recv(1)
            assert b, f"closed before 100 Continue: {interim!r}"
            interim += b
        assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
        s.sendall(body)
        [(status, _, out)] = read_responses(s, 1)
    finally:
        s.close()
    assert status == 200 and json.loads(out)["name"] == "patient"


def test_expect_100_continue_with_too_large_body_gets_413_without_continue(limited):
    raw = limited.raw(b"POST /api/v1/collections/ HTTP/1.1\r\nHost: t\r\n" + auth(limited) +
                      b"Expect: 100-continue\r\nContent-Length: 4096\r\n\r\n")
    assert raw.startswith(b"HTTP/1.1 413 ")
    assert b"100 Continue" not in raw


def test_unsupported_expectation_gets_417(pier):
    raw = pier.raw(b"POST /api/v1/collections/ HTTP/1.1\r\nHost: t\r\nExpect: teapot\r\nContent-Length: 2\r\n\r\n")
    [(status, headers, body)] = parse_responses(raw)
    assert status == 417
    assert headers["content-type"] == JSON
    assert detail(body) == "unsupported Expect header; only 100-continue is supported"


# ---- limits ------------------------------------------------------------------------------

def test_declared_content_length_over_limit_gets_413(limited):
    t0 = time.time()
    raw = limited.raw(b"POST /api/v1/collections/ HTTP/1.1\r\nHost: t\r\n" + auth(limited) +
                      b"Content-Type: application/json\r\nContent-Length: 2049\r\n\r\n")
    # answered from the headers alone: no waiting for a body that never comes
    assert time.time() - t0 < 2
    [(status, headers, body)] = parse_responses(raw)
    assert status == 413
    assert headers["content-type"] == JSON and headers["connection"] == "close"
    assert detail(body) == "request body is larger than 2048 bytes"


def test_body_exactly_at_limit_is_accepted(limited):
    body = b'{"name":"' + b"b" * (2048 - 11) + b'"}'
    assert len(body) == 2048
    raw = limited.raw(b"POST /api/v1/collections/ HTTP/1.1\r\nHost: t\r\n" + auth(limited) +
                      b"Connection: close\r\nContent-Length: 2048\r\n\r\n" + body)
    [(status, _, out)] = parse_responses(raw)
    assert status == 422  # reached the handler: the name is too long, the body was fine
    assert detail(out).startswith("name must be 1 to 64 characters")


def test_chunked_body_over_limit_gets_413(limited):
    chunk = b"400\r\n" + b"a" * 1024 + b"\r\n"
    raw = limited.raw(b"POST /api/v1/collections/ HTTP/1.1\r\nHost: t\r\n" + auth(limited) +
                      b"Transfer-Encoding: chunked\r\n\r\n" + chunk * 3 + b"0\r\n\r\n")
    [(status, headers, body)] = parse_responses(raw)
    assert status == 413
    assert headers["content-type"] == JSON
    assert detail(body) == "request body is larger than 2048 bytes"
    assert limited.get("/api/v1/health").status_code == 200


def test_headers_too_large_get_431(pier):
    raw = pier.raw(b"GET /api/v1/health HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * 70000 + b"\r\n\r\n")
    [(status, headers, body)] = parse_responses(raw)
    assert status == 431
    assert headers["content-type"] == JSON
    assert detail(body) == "request headers are larger than 65536 bytes or more than 128 headers"


def test_too_many_headers_get_431(pier):
    many = b"".join(b"X-H%d: v\r\n" % i for i in range(200))
    [(status, _, body)] = parse_responses(pier.raw(b"GET /api/v1/health HTTP/1.1\r\n" + many + b"\r\n"))
    assert status == 431
    assert detail(body) == "request headers are larger than 65536 bytes or more than 128 headers"


def test_headers_under_the_limit_are_fine(pier):
    raw = pier.raw(b"GET /api/v1/health HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * 60000 +
                   b"\r\nConnection: close\r\n\r\n")
    [(status, _, body)] = parse_responses(raw)
    assert (status, body) == (200, HEALTH_BODY)


def test_url_too_long_gets_414(pier):
    [(status, _, body)] = parse_responses(pier.raw(b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: t\r\n\r\n"))
    assert status == 414
    assert detail(body) == "request URL is longer than 8192 bytes"


STALL_408 = "request not received in time; the client stalled mid-request"


def test_client_stalling_in_headers_gets_408(limited):
    t0 = time.time()
    raw = limited.raw(b"GET /api/v1/health HTTP/1.1\r\nHost: t\r\n", read_timeout=5)
    took = time.time() - t0
    [(status, headers, body)] = parse_responses(raw)
    assert status == 408
    assert headers["content-type"] == JSON and headers["connection"] == "close"
    assert detail(body) == STALL_408
    assert 0.4 <= took < 4, took


def test_client_stalling_in_body_gets_408(limited):
    raw = limited.raw(b"POST /api/v1/collections/ HTTP/1.1\r\nHost: t\r\n" + auth(limited) +
                      b"Content-Length: 100\r\n\r\n{\"na", read_timeout=5)
    [(status, _, body)] = parse_responses(raw)
    assert status == 408
    assert detail(body) == STALL_408
    # nothing was created from the partial body
    assert limited.get("/api/v1/collections/").json() == []


def test_idle_keep_alive_connection_is_not_408(limited):
    s = connect(limited)
    try:
        s.sendall(get("/api/v1/health"))
        assert read_responses(s, 1)[0][0] == 200
        time.sleep(0.8)  # the client idles between requests (longer than the request timeout)
        s.sendall(get("/api/v1/health"))
        [(status, _, body)] = read_responses(s, 1)
        assert (status, body) == (200, HEALTH_BODY)
    finally:
        s.close()


# ---- routing ------------------------------------------------------------------------------

def test_unknown_route_gets_404_json(pier):
    r = pier.get("/api/v1/nothing-here")
    assert r.status_code == 404
    assert r.headers["Content-Type"] == JSON
    assert r.json() == {"detail": "Not Found: no route for GET /api/v1/nothing-here"}


@pytest.mark.parametrize("method,path,allow", [
    ("POST", "/api/v1/health", "GET"),
    ("PUT", "/api/v1/collections/", "GET, POST"),
    ("PATCH", "/api/v1/collections/acme", "GET, DELETE"),
    ("POST", "/api/v1/collections/acme/environment", "GET, PATCH"),
    ("DELETE", "/api/v1/tasks/acme", "GET, POST"),
    ("PATCH", "/api/v1/tasks/acme/t", "GET, PUT, DELETE"),
    ("GET", "/api/v1/api-keys/", "POST"),
    ("POST", "/api/v1/api-keys/7", "GET, PUT, DELETE"),
])
def test_wrong_method_gets_405_with_allow(pier, method, path, allow):
    r = pier.request(method, path)
    assert r.status_code == 405
    assert r.headers["Content-Type"] == JSON
    assert r.headers["Allow"] == allow
    assert r.json() == {"detail": f"Method Not Allowed: use {allow}"}


def test_keep_alive_survives_error_answers(pier):
    """4xx answers from handlers keep the connection: the next request is served on it."""
    s = connect(pier)
    try:
        s.sendall(get("/api/v1/nope") + get("/api/v1/collections/") +
                  b"POST /api/v1/collections/ HTTP/1.1\r\nHost: t\r\n" + auth(pier) + b"Content-Length: 3\r\n\r\n{x}" +
                  get("/api/v1/health"))
        got = read_responses(s, 4)
    finally:
        s.close()
    assert [g[0] for g in got] == [404, 401, 400, 200]
    assert all("connection" not in h for _, h, _ in got)


# ---- garbage ---------------------------------------------------------------------------------

def test_garbage_closes_only_that_connection(pier):
    pier.create_collection("acme")
    other = connect(pier)
    try:
        other.sendall(b"GET /api/v1/collections/acme HTTP/1.1\r\nHost: t\r\n")  # mid-request
        raw = pier.raw(b"\x00\x01\xffGARBAGE garbage\r\n\r\n")
        [(status, headers, body)] = parse_responses(raw)
        assert status == 400
        assert headers["content-type"] == JSON and headers["connection"] == "close"
        assert detail(body).startswith("malformed HTTP request")
        other.sendall(auth(pier) + b"\r\n")
        [(status, _, body)] = read_responses(other, 1)
        assert status == 200 and json.loads(body)["name"] == "acme"
    finally:
        other.close()
    assert pier.get("/api/v1/collections/acme").status_code == 200


@pytest.mark.parametrize("garbage", [
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(40)),  # a TLS ClientHello
    b"\x00" * 100,
    b"GET / HTTP/1.1\r\nHost: t\r\nContent-Length: -1\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
    b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"GET /api/v1/health HTTP/1.1\r\nHost t\r\n\r\n",
])
def test_malformed_requests_get_400_and_close(pier, garbage):
    t0 = time.time()
    raw = pier.raw(garbage)
    assert time.time() - t0 < 4  # answered and closed, not left to time out
    [(status, headers, body)] = parse_responses(raw)
    assert status == 400
    assert headers["content-type"] == JSON and headers["connection"] == "close"
    assert detail(body).startswith("malformed HTTP request: ")
    assert pier.get("/api/v1/health").status_code == 200


def test_garbage_after_a_valid_request_on_the_same_connection(pier):
    raw = pier.raw(get("/api/v1/health") + b"NOT HTTP AT ALL\r\n\r\n")
    got = parse_responses(raw)
    assert [g[0] for g in got] == [200, 400]
    assert got[0][2] == HEALTH_BODY
    assert detail(got[1][2]).startswith("malformed HTTP request")


def test_content_length_with_transfer_encoding_is_rejected(pier):
    raw = pier.raw(b"POST /api/v1/collections/ HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n"
                   b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
    [(status, _, body)] = parse_responses(raw)
    assert status == 400
    assert detail(body).startswith("malformed HTTP request")
    assert pier.get("/api/v1/health").status_code == 200


# ---- regressions found while writing these tests ------------------------------------------------

def test_error_body_is_valid_utf8_json_for_non_utf8_path(pier):
    """Regression: the 404 detail echoes raw path bytes; 0xFF is not UTF-8, so the body is not JSON."""
    r = pier.get("/api/v1/collections/%FF")
    assert r.status_code == 404
    assert r.content.decode("utf-8")  # raises on invalid UTF-8
    assert r.json()["detail"].startswith("Collection '")
    raw = pier.raw(b"GET /api/v1/\xff\xfe HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    [(status, _, body)] = parse_responses(raw)
    assert status in (400, 404)
    detail(body)


def test_error_body_is_valid_utf8_json_when_echoed_input_is_truncated(pier):
    """Regression: details echo names with %.80s, which can cut a multi-byte character in half."""
    r = pier.post("/api/v1/collections/", json={"name": "a" * 79 + "\u00e9"})
    assert r.status_code == 422
    assert r.content.decode("utf-8")
    assert r.json()["detail"].startswith("name must be 1 to 64 characters")


def test_half_closed_client_still_gets_its_response(pier):
    """A client that sends a full request and then shuts down its sending side
    (`printf ... | nc`, HTTP/1.0 tools) must still receive the answer.
    Regression: answered only when the handler responds synchronously; store-backed
    requests get the connection closed with no response (and writes are committed)."""
    pier.create_collection("acme")
    raw = pier.raw(get("/api/v1/health", b"Connection: close\r\n"), shutdown=True)
    assert parse_responses(raw)[0][2] == HEALTH_BODY  # synchronous handler: answered
    raw = pier.raw(get("/api/v1/tasks/acme", auth(pier) + b"Connection: close\r\n"), shutdown=True)
    got = parse_responses(raw)
    assert [(g[0], g[2]) for g in got] == [(200, b"[]")], raw
    raw = pier.raw(post_json(pier, "/api/v1/collections/", {"name": "halfclosed"}, b"Connection: close\r\n"),
                   shutdown=True)
    got = parse_responses(raw)
    assert [g[0] for g in got] == [200], raw


def test_absolute_form_request_target_is_accepted(pier):
    """RFC 9112 section 3.2.2: a server MUST accept the absolute-form.
    Regression: answered 400 'malformed HTTP request: `on_url_complete` callback error'."""
    raw = pier.raw(b"GET http://127.0.0.1/api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    [(status, _, body)] = parse_responses(raw)
    assert (status, body) == (200, HEALTH_BODY)


def test_rejected_request_target_detail_says_what_is_wrong(pier):
    """Regression: the detail is llhttp's internal '`on_url_complete` callback error' instead of the
    reason the server set ('request target must be an absolute path')."""
    [(status, _, body)] = parse_responses(pier.raw(b"OPTIONS * HTTP/1.1\r\nHost: t\r\n\r\n"))
    assert 400 <= status < 500
    assert "callback" not in detail(body)
    assert "target" in detail(body)


def test_204_has_no_content_length(pier):
    """RFC 9110 section 8.6: a server MUST NOT send Content-Length in a 204 response.
    Regression: DELETE /api/v1/collections/{c} answers with 'Content-Length: 0'."""
    pier.create_collection("doomed")
    raw = pier.raw(b"DELETE /api/v1/collections/doomed HTTP/1.1\r\nHost: t\r\n" + auth(pier) +
                   b"Connection: close\r\n\r\n")
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 204 No Content\r\n")
    assert b"content-length" not in head.lower()
    assert body == b""
