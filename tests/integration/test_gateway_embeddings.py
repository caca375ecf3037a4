"""POST /v1/embeddings on Bedrock InvokeModel: Titan Text Embeddings v2 (one call per
input) and Cohere Embed v3 (one batched call), single strings and arrays, the exact
vectors of the mock's embedding_vector, usage, retries, and the error paths.
pier runs with --upstream-retries 1 here so that Retry-After cases stay short."""

import base64
import json
import socket
import struct

import pytest

from gateway_util import COLLECTION, assert_error, gateway_fixtures, wait_until
from mocks.bedrock import Error, Stall, count_tokens, embedding_vector

gateway, gw = gateway_fixtures(args=["--upstream-retries", "1"])

TITAN = "bedrock/amazon.titan-embed-text-v2:0"
TITAN_PATH = "/model/amazon.titan-embed-text-v2%3A0/invoke"
COHERE = "bedrock/cohere.embed-english-v3"
COHERE_PATH = "/model/cohere.embed-english-v3/invoke"


def embed(gw, model, inp, path="/v1/embeddings", **extra):
    return gw.post(path, {"model": model, "input": inp, **extra})


def assert_embeddings(r, model, texts, dim=1024):
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"object", "data", "model", "usage"}
    assert body["object"] == "list" and body["model"] == model
    assert [d["index"] for d in body["data"]] == list(range(len(texts)))
    for d, t in zip(body["data"], texts):
        assert set(d) == {"object", "index", "embedding"} and d["object"] == "embedding"
        assert d["embedding"] == embedding_vector(t, dim), t
    return body


@pytest.mark.parametrize("path", ["/v1/embeddings", "/embeddings"])
def test_titan_single_string(gw, path):
    r = embed(gw, TITAN, "Hello, world!", path=path)
    body = assert_embeddings(r, TITAN, ["Hello, world!"])
    assert body["usage"] == {"prompt_tokens": count_tokens("Hello, world!"), "total_tokens": count_tokens("Hello, world!")}
    (rec,) = gw.mock.wait_for_requests(1, finished=True)
    assert (rec.path, rec.operation, rec.auth) == (TITAN_PATH, "invoke", "bearer")
    assert rec.json == {"inputText": "Hello, world!"}


def test_titan_array_makes_one_call_per_input_in_order(gw):
    texts = ["first text", "second, longer text here", "ünïcödé third", "4"]
    r = embed(gw, TITAN, texts)
    body = assert_embeddings(r, TITAN, texts)
    total = sum(count_tokens(t) for t in texts)
    assert body["usage"] == {"prompt_tokens": total, "total_tokens": total}
    recs = gw.mock.wait_for_requests(4, finished=True)
    assert len(recs) == 4 and all(rec.path == TITAN_PATH for rec in recs)
    assert sorted(rec.json["inputText"] for rec in recs) == sorted(texts)


def test_titan_dimensions(gw):
    r = embed(gw, TITAN, "short", dimensions=256)
    assert_embeddings(r, TITAN, ["short"], dim=256)
    assert gw.mock.wait_for_requests(1, finished=True)[0].json == {"inputText": "short", "dimensions": 256}
    assert_error(embed(gw, TITAN, "short", dimensions=100), 400, "invalid_request_error", None, ["256, 512 or 1024"])


def test_titan_base64_encoding(gw):
    r = embed(gw, TITAN, "encode me", encoding_format="base64")
    assert r.status_code == 200, r.text
    raw = base64.b64decode(r.json()["data"][0]["embedding"])
    got = struct.unpack(f"<{len(raw) // 4}f", raw)
    want = embedding_vector("encode me")
    assert len(got) == len(want) == 1024
    assert all(abs(g - w) < 1e-6 for g, w in zip(got, want))


@pytest.mark.parametrize("model", [COHERE, "bedrock/cohere.embed-multilingual-v3"])
def test_cohere_single_string(gw, model):
    r = embed(gw, model, "Hello, Cohere")
    body = assert_embeddings(r, model, ["Hello, Cohere"])
    n = count_tokens("Hello, Cohere")
    assert body["usage"] == {"prompt_tokens": n, "total_tokens": n}
    (rec,) = gw.mock.wait_for_requests(1, finished=True)
    assert rec.path == "/model/" + model[len("bedrock/"):] + "/invoke"
    assert rec.json == {"texts": ["Hello, Cohere"], "input_type": "search_document"}


def test_cohere_array_is_one_batched_call(gw):
    texts = [f"document number {i}" for i in range(10)]
    r = embed(gw, COHERE, texts, input_type="search_query")
    body = assert_embeddings(r, COHERE, texts)
    total = sum(count_tokens(t) for t in texts)
    assert body["usage"] == {"prompt_tokens": total, "total_tokens": total}
    (rec,) = gw.mock.wait_for_requests(1, finished=True)
    assert len(gw.mock.requests) == 1
    assert rec.path == COHERE_PATH and rec.json == {"texts": texts, "input_type": "search_query"}


def test_cohere_over_96_inputs_is_split_in_order(gw):
    texts = [f"t{i}" for i in range(100)]
    r = embed(gw, COHERE, texts)
    assert_embeddings(r, COHERE, texts)
    recs = gw.mock.wait_for_requests(2, finished=True)
    assert sorted(len(rec.json["texts"]) for rec in recs) == [4, 96]


@pytest.mark.parametrize("session", [False, True])
def test_embeddings_with_sigv4(gw, session):
    gw.env_iam(session=session)
    r = embed(gw, TITAN, ["a", "b"])
    assert_embeddings(r, TITAN, ["a", "b"])
    recs = gw.mock.wait_for_requests(2, finished=True)
    assert all(rec.auth == "sigv4" and rec.auth_ok for rec in recs), recs


def test_embeddings_as_admin_with_jetty_collection(gw):
    r = gw.post("/v1/embeddings", {"model": TITAN, "input": "x", "jetty": {"collection": COLLECTION}},
                token=gw.pier.admin_token)
    assert_embeddings(r, TITAN, ["x"])
    r = gw.post("/v1/embeddings", {"model": TITAN, "input": "x"}, token=gw.pier.admin_token)
    assert_error(r, 400, None, None, ["jetty"])


def test_throttled_embedding_call_is_retried(gw):
    gw.mock.script(Error("ThrottlingException"), Error("ServiceUnavailableException"))
    texts = ["one", "two"]
    r = embed(gw, TITAN, texts)
    assert_embeddings(r, TITAN, texts)
    assert len(gw.mock.wait_for_requests(4, finished=True)) == 4


def test_embedding_retry_honours_retry_after(gw):
    gw.mock.script(Error("ThrottlingException", retry_after=1))
    r = embed(gw, TITAN, "x")
    assert_embeddings(r, TITAN, ["x"])
    a, b = gw.mock.wait_for_requests(2, finished=True)
    assert b.time - a.time >= 0.95, b.time - a.time


def test_embedding_throttled_after_retries_is_429_with_retry_after(gw):
    gw.mock.script(*[Error("ThrottlingException", retry_after=1)] * 2)
    r = embed(gw, TITAN, "x")
    assert_error(r, 429, "rate_limit_error", "ThrottlingException", ["ThrottlingException: ", "pier retried 1 times"])
    assert r.headers.get("Retry-After") == "1"
    assert len(gw.mock.wait_for_requests(2, finished=True)) == 2


@pytest.mark.parametrize("name,status,etype", [("AccessDeniedException", 403, "permission_error"),
                                               ("ValidationException", 400, "invalid_request_error")])
def test_embedding_upstream_error(gw, name, status, etype):
    gw.mock.script(Error(name))
    r = embed(gw, COHERE, ["a", "b"])
    assert_error(r, status, etype, name, [name + ": "])


def test_embeddings_preflight_errors(gw):
    cases = [
        ({"model": TITAN}, 400, None, ["input"]),
        ({"model": TITAN, "input": []}, 400, None, ["at least one"]),
        ({"model": TITAN, "input": ["ok", ""]}, 400, None, ["input[1]"]),
        ({"model": TITAN, "input": [[1, 2, 3]]}, 400, None, ["input[0]"]),
        ({"model": "bedrock/" + "us.anthropic.claude-sonnet-4-6", "input": "x"}, 400, None, ["embedding model"]),
        ({"input": "x"}, 400, None, ["model is required"]),
    ]
    for body, status, code, words in cases:
        assert_error(gw.post("/v1/embeddings", body), status, "invalid_request_error", code, words)
    gw.env({"AWS_REGION": "us-east-1"})
    assert_error(embed(gw, TITAN, "x"), 400, "invalid_request_error", "missing_credentials",
                 ["AWS_BEARER_TOKEN_BEDROCK"])
    assert gw.mock.requests == []


def test_client_disconnect_cancels_every_embedding_call(gw):
    gw.mock.script(Stall(20), Stall(20))
    data = json.dumps({"model": TITAN, "input": ["x", "y"]}).encode()
    s = socket.create_connection(("127.0.0.1", gw.pier.port), timeout=5)
    s.sendall(b"POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + gw.key.encode() +
              b"\r\nContent-Type: application/json\r\nContent-Length: " + str(len(data)).encode() + b"\r\n\r\n" + data)
    recs = gw.mock.wait_for_requests(2)
    s.close()
    wait_until(lambda: all(r.disconnected.is_set() for r in recs), 1.0, "both calls cancelled")
    assert len(gw.mock.requests) == 2
