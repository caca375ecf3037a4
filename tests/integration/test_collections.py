"""/api/v1/collections: list, get, create (case-insensitively unique, validated
names), delete (cascades to tasks, keys and environment), and the answers to
bad request bodies.
"""
import re
import threading

import pytest
import requests

COLLECTION_KEYS = {"id", "name", "description", "auth_org_id", "owner_identifier", "storage_provider",
                   "storage_info", "created_at"}
TS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")
WF = {"init_params": {}, "step_configs": {"chat": {"activity": "litellm_chat"}}, "steps": ["chat"]}
NAME_RULE = "name must be 1 to 64 characters of letters, digits, '_' and '-'"


def test_create_returns_the_collection(pier):
    r = pier.post("/api/v1/collections/", json={"name": "Acme", "description": "the acme one"})
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/json"
    c = r.json()
    assert set(c) == COLLECTION_KEYS
    assert isinstance(c["id"], int)
    assert (c["name"], c["description"]) == ("Acme", "the acme one")
    assert (c["auth_org_id"], c["owner_identifier"]) == (None, None)
    assert (c["storage_provider"], c["storage_info"]) == ("default", {})
    assert TS.fullmatch(c["created_at"])


def test_get_is_case_insensitive_and_returns_the_stored_name(pier):
    created = pier.create_collection("Acme")
    for name in ("Acme", "acme", "ACME"):
        r = pier.get(f"/api/v1/collections/{name}")
        assert r.status_code == 200
        assert r.json() == created


def test_description_defaults_to_empty(pier):
    assert pier.create_collection("plain")["description"] == ""
    r = pier.post("/api/v1/collections/", json={"name": "nulldesc", "description": None})
    assert (r.status_code, r.json()["description"]) == (200, "")


def test_list_and_paging(pier):
    made = [pier.create_collection(f"c{i}") for i in range(5)]
    r = pier.get("/api/v1/collections/")
    assert r.status_code == 200
    assert r.json() == made
    assert pier.get("/api/v1/collections/?skip=1&limit=2").json() == made[1:3]
    assert pier.get("/api/v1/collections?skip=4").json() == made[4:]
    assert pier.get("/api/v1/collections/?skip=9").json() == []


@pytest.mark.parametrize("query,detail", [
    ("limit=0", "query parameter limit must be a whole number from 1 to 1000"),
    ("limit=1001", "query parameter limit must be a whole number from 1 to 1000"),
    ("limit=ten", "query parameter limit must be a whole number from 1 to 1000"),
    ("skip=-1", "query parameter skip must be a whole number from 0 to 2147483647"),
])
def test_list_rejects_bad_paging(pier, query, detail):
    r = pier.get(f"/api/v1/collections/?{query}")
    assert (r.status_code, r.json()) == (422, {"detail": detail})


def test_duplicate_name_is_rejected_case_insensitively(pier):
    pier.create_collection("acme")
    for name in ("acme", "ACME", "AcMe"):
        r = pier.post("/api/v1/collections/", json={"name": name})
        assert r.status_code == 400
        assert r.json() == {"detail": "Collection already exists"}
    assert [c["name"] for c in pier.get("/api/v1/collections/").json()] == ["acme"]


def test_concurrent_creates_of_one_name_make_exactly_one(pier):
    statuses = []
    token = pier.admin_token

    def create(name):
        r = requests.post(pier.url + "/api/v1/collections/", json={"name": name},
                          headers={"Authorization": f"Bearer {token}"}, timeout=30)
        statuses.append((r.status_code, r.json()))

    threads = [threading.Thread(target=create, args=(n,)) for n in ["race", "RACE", "Race", "rAcE"] * 5]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(s for s, _ in statuses) == [200] + [400] * 19
    assert all(body == {"detail": "Collection already exists"} for s, body in statuses if s == 400)
    assert len(pier.get("/api/v1/collections/").json()) == 1


@pytest.mark.parametrize("name", ["a", "A_b-9", "x" * 64])
def test_valid_names(pier, name):
    r = pier.post("/api/v1/collections/", json={"name": name})
    assert r.status_code == 200 and r.json()["name"] == name


@pytest.mark.parametrize("name", ["", "x" * 65, "a b", "a.b", "a/b", "caf\u00e9", "semi;colon", "tab\t"])
def test_invalid_names_get_422(pier, name):
    r = pier.post("/api/v1/collections/", json={"name": name})
    assert r.status_code == 422
    assert r.json()["detail"].startswith(NAME_RULE)
    assert pier.get("/api/v1/collections/").json() == []


def test_name_with_nul_character_is_rejected(pier):
    """Regression (a NUL cut names short): "a\\u0000b" is cut at the NUL and creates a collection named "a"."""
    r = pier.post("/api/v1/collections/", json={"name": "a\u0000b"})
    assert (r.status_code, r.json()) == (400, {"detail": "JSON strings must not contain the NUL character (\\u0000)"})
    assert pier.get("/api/v1/collections/").json() == []


@pytest.mark.parametrize("body,status,detail", [
    ({}, 422, "name is required and must be a string"),
    ({"name": 5}, 422, "name is required and must be a string"),
    ({"name": None}, 422, "name is required and must be a string"),
    ({"name": "ok", "description": 5}, 422, "description must be a string of at most 16384 bytes"),
    ({"name": "ok", "description": "d" * 16385}, 422, "description must be a string of at most 16384 bytes"),
    ({"name": "ok", "environment_variables": ["A"]}, 422,
     'environment_variables must be an object of NAME: "value" (or null)'),
])
def test_create_rejects_wrong_fields(pier, body, status, detail):
    r = pier.post("/api/v1/collections/", json=body)
    assert (r.status_code, r.json()) == (status, {"detail": detail})
    assert pier.get("/api/v1/collections/").json() == []


@pytest.mark.parametrize("raw,ctype,status,detail", [
    (b"", "application/json", 400, "the body is empty; send a JSON document"),
    (b'{"name":', "application/json", 400, "invalid JSON at byte *"),
    (b"{name: 'x'}", "application/json", 400, "invalid JSON at byte *"),
    (b'{"name":"x"} trailing', "application/json", 400, "invalid JSON: unexpected data after the value at byte 13"),
    (b'{"name":"\xff\xfe"}', "application/json", 400, "the body is not valid UTF-8"),
    (b'{"name":"\xc0\xaf"}', "application/json", 400, "the body is not valid UTF-8"),
    (b"[" * 100 + b"]" * 100, "application/json", 400, "JSON nesting deeper than 64 levels"),
    (b'["acme"]', "application/json", 422, "the body must be a JSON object, not an array"),
    (b'"acme"', "application/json", 422, "the body must be a JSON object, not a string"),
    (b"null", "application/json", 422, "the body must be a JSON object, not null"),
])
def test_bad_bodies_get_specific_4xx_and_the_server_keeps_serving(pier, raw, ctype, status, detail):
    r = pier.post("/api/v1/collections/", data=raw, headers={"Content-Type": ctype})
    assert r.status_code == status
    assert r.headers["Content-Type"] == "application/json"
    if detail.endswith("*"):  # the offset is the JSON parser's business
        assert re.fullmatch(re.escape(detail[:-1]) + r"\d+", r.json()["detail"])
    else:
        assert r.json() == {"detail": detail}
    assert pier.get("/api/v1/collections/").json() == []
    assert pier.create_collection("after")["name"] == "after"


def test_json_labelled_as_form_is_accepted(pier):
    """curl -d labels JSON as a form; the server reads it as JSON anyway."""
    r = pier.post("/api/v1/collections/", data=b'{"name":"curly"}',
                  headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 200 and r.json()["name"] == "curly"


def test_multipart_body_gets_415(pier):
    r = pier.post("/api/v1/collections/", files={"name": ("n", b"acme")})
    assert r.status_code == 415
    assert r.json()["detail"].startswith("send the body as JSON with Content-Type: application/json")


def test_get_unknown_collection_gets_404(pier):
    r = pier.get("/api/v1/collections/nope")
    assert (r.status_code, r.json()) == (404, {"detail": "Collection 'nope' not found"})


def test_create_with_environment_variables(pier):
    r = pier.post("/api/v1/collections/", json={"name": "envd", "environment_variables": {"A": "1", "B": "2"}})
    assert r.status_code == 200
    env = pier.get("/api/v1/collections/envd/environment").json()["environment_variables"]
    assert sorted(env) == ["A", "B"]


def test_create_with_invalid_environment_creates_nothing(pier):
    r = pier.post("/api/v1/collections/", json={"name": "envd", "environment_variables": {"1BAD": "x"}})
    assert r.status_code == 422
    assert pier.get("/api/v1/collections/envd").status_code == 404


def test_delete_returns_204_and_the_collection_is_gone(pier):
    pier.create_collection("doomed")
    r = pier.delete("/api/v1/collections/DOOMED")
    assert r.status_code == 204
    assert r.content == b""
    assert pier.get("/api/v1/collections/doomed").status_code == 404
    assert pier.get("/api/v1/collections/").json() == []
    r = pier.delete("/api/v1/collections/doomed")
    assert (r.status_code, r.json()) == (404, {"detail": "Collection 'doomed' not found"})


def test_delete_cascades_to_tasks_keys_and_environment(pier):
    pier.create_collection("doomed")
    pier.create_collection("kept")
    for c in ("doomed", "kept"):
        assert pier.post(f"/api/v1/tasks/{c}", json={"name": "t1", "workflow": WF}).status_code == 201
        pier.set_env(c, {"SECRET": "x"})
    key = pier.create_key("doomed")
    kept_key = pier.create_key("kept")
    assert pier.get("/api/v1/collections/doomed", token=key["api_key"]).status_code == 200

    assert pier.delete("/api/v1/collections/doomed").status_code == 204

    r = pier.get("/api/v1/collections/doomed", token=key["api_key"])
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"] == "Bearer"
    assert pier.get(f"/api/v1/api-keys/{key['id']}").status_code == 404
    assert pier.get("/api/v1/tasks/doomed").status_code == 404
    # a new collection with the same name starts empty
    pier.create_collection("Doomed")
    assert pier.get("/api/v1/tasks/doomed").json() == []
    assert pier.get("/api/v1/tasks/doomed/t1").status_code == 404
    assert pier.get("/api/v1/collections/doomed/environment").json()["environment_variables"] == {}
    assert pier.get("/api/v1/api-keys/collection/doomed").json() == []
    r = pier.get("/api/v1/collections/doomed", token=key["api_key"])
    assert r.status_code == 401
    # the other collection is untouched
    assert pier.get("/api/v1/tasks/kept/t1").status_code == 200
    assert list(pier.get("/api/v1/collections/kept/environment").json()["environment_variables"]) == ["SECRET"]
    assert pier.get("/api/v1/collections/kept", token=kept_key["api_key"]).status_code == 200
