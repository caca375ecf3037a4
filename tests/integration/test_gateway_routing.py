"""Routing a chat request to Bedrock (Jetty's three ways), region resolution, the
preflight checks that answer 400 without calling AWS, who may call the endpoint
(collection key, admin + jetty.collection) and GET /v1/models."""

import pytest

from gateway_util import (COLLECTION, SONNET, TOKEN, assert_completion, assert_error, gateway_fixtures, hello)

# region=None: the mock accepts a SigV4 scope of any region, so the signing region shows what pier chose.
gateway, gw = gateway_fixtures(mock_kwargs={"region": None})

MSGS = [{"role": "user", "content": "Reply with PONG only."}]


def only_request(gw):
    (rec,) = gw.mock.wait_for_requests(1, finished=True)
    assert len(gw.mock.requests) == 1
    return rec


# -- Jetty's three ways ------------------------------------------------------------------

THREE_WAYS = [
    {"model": SONNET, "model_provider": "bedrock"},
    {"model": "bedrock/" + SONNET},
    {"model": SONNET},
]


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("auth", ["bearer", "sigv4"])
def test_three_ways_produce_the_same_upstream_call(gw, auth, stream):
    if auth == "sigv4":
        gw.env_iam(session=True)
    calls = []
    for way in THREE_WAYS:
        gw.mock.reset()
        r = gw.chat({**way, "messages": MSGS, "max_tokens": 32, "stream": stream})
        assert r.status_code == 200, (way, r.text)
        if not stream:
            assert_completion(r.json(), way["model"])
        rec = only_request(gw)
        assert rec.auth == auth and rec.auth_ok
        calls.append((rec.method, rec.path, rec.body, rec.headers.get("content-type"), rec.signing_region,
                      rec.access_key_id, rec.bearer_token))
    assert calls[0] == calls[1] == calls[2], calls
    op = "converse-stream" if stream else "converse"
    assert calls[0][1] == f"/model/{SONNET}/{op}"


def test_model_provider_inside_the_jetty_block(gw):
    r = gw.chat({"model": SONNET, "messages": MSGS, "jetty": {"model_provider": "bedrock"}})
    assert r.status_code == 200, r.text
    assert only_request(gw).path == f"/model/{SONNET}/converse"


@pytest.mark.parametrize("model,region", [
    ("us.anthropic.claude-sonnet-4-6", "us-west-2"),
    ("eu.anthropic.claude-sonnet-4-6", "eu-west-1"),
    ("apac.anthropic.claude-3-5-sonnet-20240620-v1:0", "ap-southeast-1"),
    ("global.anthropic.claude-sonnet-4-6", "us-east-1"),
    ("jp.anthropic.claude-sonnet-4-6", "ap-northeast-1"),
    ("au.anthropic.claude-sonnet-4-6", "ap-southeast-2"),
])
def test_bare_profile_id_routes_to_bedrock_with_credentials(gw, model, region):
    gw.env_iam(region=region)
    r = gw.chat({"model": model, "messages": MSGS})
    assert r.status_code == 200, r.text
    assert_completion(r.json(), model)
    rec = only_request(gw)
    assert rec.model_id == model and rec.operation == "converse"
    assert rec.signing_region == region


def test_bare_profile_id_without_credentials_says_how_to_name_the_provider(gw):
    gw.env({"AWS_REGION": "us-east-1"})
    r = gw.chat({"model": SONNET, "messages": MSGS})
    assert_error(r, 400, "invalid_request_error", "invalid_model",
                 [f"bedrock/{SONNET}", "model_provider", "Bedrock credentials"])
    assert gw.mock.requests == []


def test_unknown_model_without_provider(gw):
    r = gw.chat({"model": "some-model", "messages": MSGS})
    assert_error(r, 400, "invalid_request_error", "invalid_model", ["bedrock/some-model", "model_provider"])
    r = gw.chat({"model": SONNET, "model_provider": "nosuch", "messages": MSGS})
    assert_error(r, 400, "invalid_request_error", None, ["nosuch", "bedrock"])
    assert gw.mock.requests == []


# -- region ------------------------------------------------------------------------------------

@pytest.mark.parametrize("env,region", [
    ({"AWS_REGION_NAME": "us-west-2", "AWS_REGION": "us-east-2", "AWS_DEFAULT_REGION": "us-west-1"}, "us-west-2"),
    ({"AWS_REGION": "us-east-2", "AWS_DEFAULT_REGION": "us-west-1"}, "us-east-2"),
    ({"AWS_DEFAULT_REGION": "us-west-1"}, "us-west-1"),
])
def test_region_precedence(gw, env, region):
    gw.env({"AWS_ACCESS_KEY_ID": "AKIAGATEWAYTEST00001", "AWS_SECRET_ACCESS_KEY": gw.mock.iam["AKIAGATEWAYTEST00001"][0],
            **env})
    r = gw.chat(hello())
    assert r.status_code == 200, r.text
    rec = only_request(gw)
    assert rec.auth_ok and rec.signing_region == region


def test_no_region_is_a_preflight_error(gw):
    gw.env({"AWS_BEARER_TOKEN_BEDROCK": TOKEN})
    r = gw.chat(hello())
    assert_error(r, 400, "invalid_request_error", "missing_credentials", ["AWS_REGION"])
    assert gw.mock.requests == []


# -- preflight failures: 400, the fix named, nothing sent to AWS ------------------------------------

@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("env,missing", [
    ({"AWS_REGION": "us-east-1"}, None),
    ({"AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "AKIAGATEWAYTEST00001"}, "AWS_SECRET_ACCESS_KEY is missing"),
    ({"AWS_REGION": "us-east-1", "AWS_SECRET_ACCESS_KEY": "x" * 40}, "AWS_ACCESS_KEY_ID is missing"),
])
def test_no_bedrock_credentials(gw, env, missing, stream):
    gw.env(env)
    r = gw.chat(hello(stream=stream))
    err = assert_error(r, 400, "invalid_request_error", "missing_credentials",
                       ["AWS_BEARER_TOKEN_BEDROCK", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION",
                        "/api/v1/collections/{collection}/environment"])
    if missing:
        assert missing in err["message"]
    assert gw.mock.requests == []


@pytest.mark.parametrize("model", ["bedrock/eu.anthropic.claude-sonnet-4-6", "eu.anthropic.claude-sonnet-4-6"])
def test_profile_prefix_must_match_the_region(gw, model):
    r = gw.chat(hello(model=model))
    assert_error(r, 400, "invalid_request_error", "invalid_model",
                 ["eu.anthropic.claude-sonnet-4-6", "\"eu.\"", "AWS_REGION is us-east-1", "eu-central-1"])
    assert gw.mock.requests == []


@pytest.mark.parametrize("model", ["bedrock/anthropic.claude-sonnet-4-6", "anthropic.claude-sonnet-4-6"])
def test_bare_foundation_id_needs_a_profile(gw, model):
    body = hello(model=model)
    if not model.startswith("bedrock/"):
        body["model_provider"] = "bedrock"
    r = gw.chat(body)
    assert_error(r, 400, "invalid_request_error", "invalid_model",
                 ["anthropic.claude-sonnet-4-6", "inference profile", "us.anthropic.claude-sonnet-4-6"])
    assert gw.mock.requests == []


def test_bad_request_bodies(gw):
    cases = [
        ({"messages": MSGS}, "model is required"),
        ({"model": "bedrock/" + SONNET}, "messages is required"),
        ({"model": "bedrock/" + SONNET, "messages": []}, "messages is required"),
        ({"model": "bedrock/" + SONNET, "messages": MSGS, "stream": "yes"}, "stream must be true or false"),
        ({"model": "bedrock/" + SONNET, "messages": [{"role": "wizard", "content": "x"}]}, "unknown role"),
        ({"model": "bedrock/" + SONNET, "messages": MSGS, "n": 2}, "n must be 1"),
        ({"model": "bedrock/" + SONNET, "messages": MSGS, "tool_choice": "required"}, "tool_choice"),
    ]
    for body, words in cases:
        assert_error(gw.chat(body), 400, "invalid_request_error", None, [words])
    r = gw.pier.post("/v1/chat/completions", token=gw.key, data=b"{not json",
                     headers={"Content-Type": "application/json"})
    assert_error(r, 400)
    assert gw.mock.requests == []


# -- who may call ------------------------------------------------------------------------------------

def test_admin_token_with_jetty_collection(gw):
    r = gw.chat(hello(jetty={"collection": COLLECTION}), token=gw.pier.admin_token)
    assert r.status_code == 200, r.text
    assert_completion(r.json(), "bedrock/" + SONNET)
    assert only_request(gw).bearer_token == TOKEN


def test_admin_token_without_collection_is_400(gw):
    r = gw.chat(hello(), token=gw.pier.admin_token)
    assert_error(r, 400, "invalid_request_error", None, ["jetty", "collection"])
    r = gw.chat(hello(stream=True), token=gw.pier.admin_token)
    assert_error(r, 400, "invalid_request_error", None, ["jetty", "collection"])
    assert gw.mock.requests == []


def test_key_naming_another_collection_is_403(gw):
    r = gw.chat(hello(jetty={"collection": "other"}))
    assert_error(r, 403, "permission_error", None, ["not valid for this collection"])
    r = gw.chat(hello(jetty={"collection": COLLECTION}))
    assert r.status_code == 200, r.text
    assert len(gw.mock.requests) == 1


def test_admin_token_with_unknown_collection_is_404(gw):
    r = gw.chat(hello(jetty={"collection": "nope"}), token=gw.pier.admin_token)
    assert_error(r, 404, "not_found_error", None, ["Collection 'nope' not found"])
    assert gw.mock.requests == []


def test_other_collections_key_uses_its_own_environment(gw):
    """The key of 'other' (no Bedrock credentials) cannot use acme's."""
    r = gw.chat(hello(), token=gw.other_key)
    assert_error(r, 400, "invalid_request_error", "missing_credentials", ["AWS_BEARER_TOKEN_BEDROCK"])
    assert gw.mock.requests == []


@pytest.mark.parametrize("header", [None, "Bearer mlc_00000000000000000000000000000000", "Basic abc"])
def test_missing_or_bad_token_is_401(gw, header):
    headers = {"Authorization": header} if header else {}
    r = gw.pier.post("/v1/chat/completions", token=None, json=hello(), headers=headers)
    assert_error(r, 401, "authentication_error")
    assert r.headers["WWW-Authenticate"] == "Bearer"
    assert gw.mock.requests == []


# -- GET /v1/models ------------------------------------------------------------------------------------

JETTY_PROFILES = ["bedrock/us.anthropic.claude-sonnet-4-6", "bedrock/us.anthropic.claude-opus-4-7",
                  "bedrock/us.meta.llama3-1-70b-instruct-v1:0", "bedrock/us.mistral.mistral-large-2407-v1:0"]


@pytest.mark.parametrize("path", ["/v1/models", "/models"])
def test_models_lists_bedrock_profiles_with_credentials(gw, path):
    r = gw.pier.get(path, token=gw.key)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["object"] == "list"
    ids = [m["id"] for m in body["data"]]
    for want in JETTY_PROFILES:
        assert want in ids, (want, ids)
    assert any(i.startswith("bedrock/us.anthropic.claude-haiku-4-5") for i in ids)
    assert len(ids) == len(set(ids))
    for m in body["data"]:
        assert set(m) == {"id", "object", "created", "owned_by"}, m
        assert m["object"] == "model" and m["owned_by"] == "bedrock" and isinstance(m["created"], int)


def test_models_with_iam_credentials_too(gw):
    gw.env_iam()
    ids = [m["id"] for m in gw.pier.get("/v1/models", token=gw.key).json()["data"]]
    assert "bedrock/us.anthropic.claude-sonnet-4-6" in ids


def test_models_without_credentials_lists_no_bedrock_model(gw):
    gw.env({"AWS_REGION": "us-east-1"})
    r = gw.pier.get("/v1/models", token=gw.key)
    assert r.status_code == 200 and r.json() == {"object": "list", "data": []}
    r = gw.pier.get("/v1/models", token=gw.other_key)
    assert r.status_code == 200 and r.json() == {"object": "list", "data": []}


def test_models_as_admin_needs_a_collection(gw):
    admin = gw.pier.admin_token
    r = gw.pier.get(f"/v1/models?collection={COLLECTION}", token=admin)
    assert r.status_code == 200
    assert "bedrock/us.anthropic.claude-sonnet-4-6" in [m["id"] for m in r.json()["data"]]
    assert_error(gw.pier.get("/v1/models", token=admin), 400, None, None, ["collection"])
    assert_error(gw.pier.get("/v1/models?collection=other", token=gw.key), 403)
    assert gw.mock.requests == []
