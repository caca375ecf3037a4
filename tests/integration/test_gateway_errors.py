"""Upstream (AWS) errors as the client sees them: the AWS name kept as `code`, AWS's
status, the OpenAI error shape {"error":{"message","type","code","param"}}, a fix in
the message, Retry-After after throttling, and no credential in any body."""

import json

import pytest

from gateway_util import (AKID, SECRET, SECRETS, SONNET, STS_TOKEN, TOKEN, assert_error, gateway_fixtures, hello)
from mocks.bedrock import DEFAULT_PROFILE_REQUIRED, Error, Reply, StreamException, on_demand_message

OLD_SONNET = "anthropic.claude-3-5-sonnet-20241022-v2:0"  # not in pier's list; the mock wants a profile for it

gateway, gw = gateway_fixtures(mock_kwargs={"profile_required": DEFAULT_PROFILE_REQUIRED | {OLD_SONNET}})


def n_requests(gw, n):
    gw.mock.wait_for_requests(n, finished=True)
    assert len(gw.mock.requests) == n, gw.mock.requests


@pytest.mark.parametrize("stream", [False, True])
def test_access_denied(gw, stream):
    gw.mock.script(Error("AccessDeniedException"))
    r = gw.chat(hello(stream=stream))
    assert_error(r, 403, "permission_error", "AccessDeniedException", [
        "AccessDeniedException: You don't have access to the model with the specified model ID.",
        "Model access", "bedrock:InvokeModel"])
    n_requests(gw, 1)  # not retried


@pytest.mark.parametrize("stream", [False, True])
def test_on_demand_validation_exception_hints_the_profile_id(gw, stream):
    r = gw.chat(hello(model="bedrock/" + OLD_SONNET, stream=stream))
    err = assert_error(r, 400, "invalid_request_error", "ValidationException", [
        "ValidationException: " + on_demand_message(OLD_SONNET), "inference-profile id", "us. / eu. / apac."])
    assert err["message"].count("Fix:") == 1
    n_requests(gw, 1)


@pytest.mark.parametrize("auth", ["bearer", "session"])
def test_expired_token(gw, auth):
    if auth == "session":
        gw.env_iam(session=True)
    gw.mock.script(Error("ExpiredTokenException"))
    r = gw.chat(hello())
    assert_error(r, 403, "authentication_error", "ExpiredTokenException", [
        "The security token included in the request is expired",
        "rotate AWS_BEARER_TOKEN_BEDROCK", "refresh AWS_SESSION_TOKEN"])
    n_requests(gw, 1)


@pytest.mark.parametrize("stream", [False, True])
def test_throttling_after_retries_is_429_with_retry_after(gw, stream):
    gw.mock.script(*[Error("ThrottlingException", retry_after=1)] * 2)
    r = gw.chat(hello(stream=stream, num_retries=1))
    assert_error(r, 429, "rate_limit_error", "ThrottlingException", [
        "ThrottlingException: Too many requests, please wait before trying again.", "pier retried 1 times",
        "quota"])
    assert r.headers["Retry-After"] == "1"
    n_requests(gw, 2)
    recs = gw.mock.requests
    assert recs[1].time - recs[0].time >= 0.95  # Retry-After was honoured


def test_throttling_without_retry_after_has_no_header(gw):
    gw.mock.script(*[Error("ThrottlingException")] * 4)
    r = gw.chat(hello())
    assert_error(r, 429, "rate_limit_error", "ThrottlingException", ["pier retried 3 times"])
    assert "Retry-After" not in r.headers
    n_requests(gw, 4)  # the first attempt + --upstream-retries default 3


def test_num_retries_zero_disables_retries(gw):
    gw.mock.script(Error("ServiceUnavailableException"), Reply())
    r = gw.chat(hello(num_retries=0))
    assert_error(r, 503, "api_error", "ServiceUnavailableException", ["Bedrock is unable to process your request."])
    n_requests(gw, 1)
    assert gw.mock.pending == 1


@pytest.mark.parametrize("name,status,etype,retried", [
    ("ResourceNotFoundException", 404, "not_found_error", False),
    ("ServiceQuotaExceededException", 400, "invalid_request_error", False),
    ("ModelTimeoutException", 504, "timeout_error", False),
    ("ModelErrorException", 424, "api_error", False),
    ("InternalServerException", 502, "api_error", True),
    ("ServiceUnavailableException", 503, "api_error", True),
    ("ModelNotReadyException", 429, "rate_limit_error", True),
    ("UnrecognizedClientException", 403, "authentication_error", False),
])
def test_error_table(gw, name, status, etype, retried):
    gw.mock.script(*[Error(name)] * 4)
    r = gw.chat(hello())
    assert_error(r, status, etype, name, [name + ": "])
    n_requests(gw, 4 if retried else 1)


def test_invalid_bearer_key(gw):
    bad = "ABSKbm90LXRoZS1yaWdodC1rZXk="
    gw.env_bearer(AWS_BEARER_TOKEN_BEDROCK=bad)
    r = gw.chat(hello())
    err = assert_error(r, 403, "authentication_error", "AccessDeniedException", [
        "Authentication failed: Please make sure your API Key is valid.", "check AWS_BEARER_TOKEN_BEDROCK"])
    assert bad not in r.text and bad not in gw.pier.stderr()
    assert err["message"].count("Fix:") == 1
    n_requests(gw, 1)


def test_bad_signature_hides_the_canonical_request(gw):
    """AWS quotes the canonical request (with x-amz-security-token) in
    InvalidSignatureException: none of it may reach the client."""
    gw.env({"AWS_ACCESS_KEY_ID": "ASIAGATEWAYTEST00002", "AWS_SECRET_ACCESS_KEY": SECRET,  # wrong secret
            "AWS_SESSION_TOKEN": STS_TOKEN, "AWS_REGION": "us-east-1"})
    r = gw.chat(hello())
    err = assert_error(r, 403, "authentication_error", "InvalidSignatureException", [
        "The request signature we calculated does not match", "AWS_SECRET_ACCESS_KEY"])
    (rec,) = gw.mock.wait_for_requests(1, finished=True)
    assert STS_TOKEN.encode() in rec.response_body  # the mock did quote it ...
    assert "Canonical" not in err["message"] and "x-amz-security-token" not in r.text  # ... pier did not
    assert "ASIAGATEWAYTEST00002" not in r.text


def test_unknown_access_key(gw):
    gw.env({"AWS_ACCESS_KEY_ID": "AKIAUNKNOWNKEY000001", "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_REGION": "us-east-1"})
    r = gw.chat(hello())
    assert_error(r, 403, "authentication_error", "UnrecognizedClientException",
                 ["The security token included in the request is invalid", "AWS_ACCESS_KEY_ID"])
    assert "AKIAUNKNOWNKEY000001" not in r.text


def test_aws_message_quoting_a_key_id_is_masked(gw):
    gw.mock.script(Error("AccessDeniedException", body_key="Message", message=(
        f"User: arn:aws:iam::123456789012:user/ci with key {AKID} is not authorized to perform: "
        "bedrock:InvokeModel on resource: arn:aws:bedrock:us-east-1::foundation-model/x")))
    r = gw.chat(hello())
    err = assert_error(r, 403, "permission_error", "AccessDeniedException", ["is not authorized to perform"])
    assert AKID not in r.text and "AKIA****************" in err["message"]


def test_in_stream_exception_before_output_in_a_non_stream_call(gw):
    """StreamException on a non-stream call = the HTTP error; a retried one succeeds."""
    gw.mock.script(StreamException("modelStreamErrorException"), Reply())
    r = gw.chat(hello())
    assert r.status_code == 200, r.text
    n_requests(gw, 2)


def test_model_stream_error_mid_stream_keeps_aws_detail(gw):
    gw.mock.script(StreamException("modelStreamErrorException", after_events=2))
    r = gw.chat(hello(stream=True))
    assert r.status_code == 200
    body = r.text
    assert body.endswith("data: [DONE]\n\n")
    err_line = [ln for ln in body.split("\n\n") if ln.startswith('data: {"error"')]
    assert len(err_line) == 1, body
    err = json.loads(err_line[0][6:])["error"]
    assert set(err) == {"message", "type", "code", "param"}
    assert err["code"] == "ModelStreamErrorException" and "model said: HTTP 500" in err["message"], err
    n_requests(gw, 1)


def test_no_secret_in_any_error_body(gw):
    """A sweep over error paths with every kind of credential configured."""
    bodies = []
    for env in ({"AWS_BEARER_TOKEN_BEDROCK": TOKEN},
                {"AWS_ACCESS_KEY_ID": AKID, "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_SESSION_TOKEN": STS_TOKEN}):
        for region in ("us-east-1", "eu-west-1", None):
            gw.env({**env, **({"AWS_REGION": region} if region else {})})
            for model in ("bedrock/" + SONNET, "bedrock/anthropic.claude-sonnet-4-6", SONNET, "nope"):
                gw.mock.script(Error("ExpiredTokenException"))
                bodies.append(gw.chat(hello(model=model, num_retries=0)).text)
                bodies.append(gw.chat(hello(model=model, stream=True, num_retries=0)).text)
            gw.mock.reset()
    for b in bodies:
        for s in SECRETS:
            assert s not in b
    assert any('"ExpiredTokenException"' in b for b in bodies)
