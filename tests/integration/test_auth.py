"""Authentication and collection scoping: Bearer tokens on everything except
health, the 401 family with WWW-Authenticate, admin vs collection API keys,
403 for another collection, case-insensitive collection names.
"""
import hashlib
import os
import re

import pytest


WF = {"init_params": {}, "step_configs": {"chat": {"activity": "litellm_chat"}}, "steps": ["chat"]}
NOT_YOURS = {"detail": "API key not valid for this collection"}
ADMIN_ONLY = {"detail": "this operation needs the admin token; collection API keys cannot do it"}


def assert_401(r, detail):
    assert r.status_code == 401, r.text
    assert r.headers["WWW-Authenticate"] == "Bearer"
    assert r.headers["Content-Type"] == "application/json"
    assert r.json() == {"detail": detail}


PROTECTED = [
    ("GET", "/api/v1/collections/"),
    ("POST", "/api/v1/collections/"),
    ("GET", "/api/v1/collections/acme"),
    ("DELETE", "/api/v1/collections/acme"),
    ("GET", "/api/v1/collections/acme/environment"),
    ("PATCH", "/api/v1/collections/acme/environment"),
    ("GET", "/api/v1/tasks/acme"),
    ("POST", "/api/v1/tasks/acme"),
    ("GET", "/api/v1/tasks/acme/t1"),
    ("PUT", "/api/v1/tasks/acme/t1"),
    ("DELETE", "/api/v1/tasks/acme/t1"),
    ("POST", "/api/v1/api-keys/"),
    ("GET", "/api/v1/api-keys/collection/acme"),
    ("GET", "/api/v1/api-keys/1"),
    ("PUT", "/api/v1/api-keys/1"),
    ("DELETE", "/api/v1/api-keys/1"),
]


def test_every_route_but_health_needs_a_token(pier):
    pier.create_collection("acme")
    assert pier.post("/api/v1/tasks/acme", json={"name": "t1", "workflow": WF}).status_code == 201
    pier.create_key("acme")
    for method, path in PROTECTED:
        r = pier.request(method, path, token=None, json={"name": "x"})
        assert_401(r, "Not authenticated: send the header Authorization: Bearer <token>")
    # nothing changed
    assert pier.get("/api/v1/tasks/acme/t1").status_code == 200
    assert pier.get("/api/v1/api-keys/1").json()["is_active"] is True
    assert pier.get("/api/v1/health", token=None).status_code == 200


@pytest.mark.parametrize("header,detail", [
    ("Basic YWRtaW46YWRtaW4=", "Authorization must use the Bearer scheme: Authorization: Bearer <token>"),
    ("Token abc", "Authorization must use the Bearer scheme: Authorization: Bearer <token>"),
    ("Bearer mlc_short", "Invalid API key format"),
    ("Bearer mlc_" + "a" * 40, "Invalid API key format"),
    ("Bearer mlc_" + "a" * 32, "Invalid or inactive API key"),
    ("Bearer eyJhbGciOiJSUzI1NiJ9.e30.sig", "Invalid API key or JWT token"),
])
def test_bad_tokens_get_401_with_www_authenticate(pier, header, detail):
    r = pier.get("/api/v1/collections/", token=None, headers={"Authorization": header})
    assert_401(r, detail)


def test_admin_token_from_environment(pier_factory):
    srv = pier_factory(env={"PIER_ADMIN_TOKEN": "s3cret-admin-token"}).start()
    assert srv.get("/api/v1/collections/", token="s3cret-admin-token").status_code == 200
    assert_401(srv.get("/api/v1/collections/", token="s3cret-admin-token-x"), "Invalid API key or JWT token")
    assert not os.path.exists(os.path.join(srv.data_dir, "admin.token"))
    assert "s3cret-admin-token" not in srv.stderr()


def test_scheme_name_is_case_insensitive(pier):
    r = pier.get("/api/v1/collections/", token=None, headers={"Authorization": "bearer " + pier.admin_token})
    assert r.status_code == 200


def test_collection_key_lists_exactly_its_collection(pier):
    for n in ("acme", "globex", "initech"):
        pier.create_collection(n)
    key = pier.create_key("globex")["api_key"]
    r = pier.get("/api/v1/collections/", token=key)
    assert r.status_code == 200
    assert [c["name"] for c in r.json()] == ["globex"]
    assert [c["name"] for c in pier.get("/api/v1/collections/").json()] == ["acme", "globex", "initech"]


@pytest.mark.parametrize("method,path", [
    ("GET", "/api/v1/collections/other"),
    ("GET", "/api/v1/collections/other/environment"),
    ("PATCH", "/api/v1/collections/other/environment"),
    ("GET", "/api/v1/tasks/other"),
    ("POST", "/api/v1/tasks/other"),
    ("GET", "/api/v1/tasks/other/t1"),
    ("PUT", "/api/v1/tasks/other/t1"),
    ("DELETE", "/api/v1/tasks/other/t1"),
    ("GET", "/api/v1/api-keys/collection/other"),
    ("DELETE", "/api/v1/collections/other"),
])
def test_collection_key_gets_403_for_another_collection(pier, method, path):
    pier.create_collection("acme")
    pier.create_collection("other")
    assert pier.post("/api/v1/tasks/other", json={"name": "t1", "workflow": WF}).status_code == 201
    key = pier.create_key("acme")["api_key"]
    body = {"environment_variables": {"X": "1"}} if method == "PATCH" else {"name": "t2", "workflow": WF}
    r = pier.request(method, path, token=key, json=body)
    assert r.status_code == 403
    assert r.json() == NOT_YOURS
    # the other collection is untouched
    assert pier.get("/api/v1/tasks/other/t1").json()["version"] == 1
    assert pier.get("/api/v1/collections/other/environment").json()["environment_variables"] == {}


def test_collection_key_cannot_create_a_key_for_another_collection(pier):
    pier.create_collection("acme")
    pier.create_collection("other")
    key = pier.create_key("acme")["api_key"]
    r = pier.post("/api/v1/api-keys/", token=key, json={"name": "sneaky", "collection_name": "other"})
    assert r.status_code == 403
    assert r.json() == NOT_YOURS
    assert pier.get("/api/v1/api-keys/collection/other").json() == []


def test_collection_key_uses_its_collection_case_insensitively(pier):
    pier.create_collection("acme")
    key = pier.create_key("acme")["api_key"]
    r = pier.get("/api/v1/collections/ACME", token=key)
    assert r.status_code == 200 and r.json()["name"] == "acme"
    r = pier.post("/api/v1/tasks/AcMe", token=key, json={"name": "t1", "workflow": WF})
    assert r.status_code == 201
    assert pier.get("/api/v1/tasks/acme/t1", token=key).status_code == 200
    r = pier.patch("/api/v1/collections/Acme/environment", token=key, json={"environment_variables": {"K": "v"}})
    assert r.status_code == 200 and list(r.json()["environment_variables"]) == ["K"]
    assert pier.get("/api/v1/api-keys/collection/ACME", token=key).status_code == 200


def test_collection_key_cannot_do_admin_operations(pier):
    pier.create_collection("acme")
    key = pier.create_key("acme")["api_key"]
    r = pier.post("/api/v1/collections/", token=key, json={"name": "mine"})
    assert (r.status_code, r.json()) == (403, ADMIN_ONLY)
    r = pier.delete("/api/v1/collections/acme", token=key)
    assert (r.status_code, r.json()) == (403, ADMIN_ONLY)
    assert pier.get("/api/v1/collections/acme").status_code == 200
    assert pier.get("/api/v1/collections/mine").status_code == 404


def test_inactive_then_reactivated_then_deleted_key(pier):
    pier.create_collection("acme")
    k = pier.create_key("acme")
    assert pier.get("/api/v1/collections/acme", token=k["api_key"]).status_code == 200
    assert pier.put(f"/api/v1/api-keys/{k['id']}", json={"is_active": False}).status_code == 200
    assert_401(pier.get("/api/v1/collections/acme", token=k["api_key"]), "Invalid or inactive API key")
    assert pier.put(f"/api/v1/api-keys/{k['id']}", json={"is_active": True}).status_code == 200
    assert pier.get("/api/v1/collections/acme", token=k["api_key"]).status_code == 200
    assert pier.delete(f"/api/v1/api-keys/{k['id']}").status_code == 200
    assert_401(pier.get("/api/v1/collections/acme", token=k["api_key"]), "Invalid or inactive API key")


def test_keys_are_stored_only_as_sha256(pier):
    pier.create_collection("acme")
    k = pier.create_key("acme")
    token = k["api_key"]
    assert re.fullmatch(r"mlc_[a-z0-9]{32}", token)
    digest = hashlib.sha256(token.encode()).hexdigest().encode()
    pier.stop()  # flush everything to the files
    blob = b""
    for name in ("pier.db", "pier.db-wal", "pier.db-shm"):
        p = os.path.join(pier.data_dir, name)
        if os.path.exists(p):
            with open(p, "rb") as f:
                blob += f.read()
    assert token.encode() not in blob
    assert token[4:].encode() not in blob
    assert digest in blob
    assert pier.admin_token.encode() not in blob
    err = pier.stderr()
    assert token not in err and token[4:] not in err
    assert pier.admin_token not in err
    pier.start()
    assert pier.get("/api/v1/collections/acme", token=token).status_code == 200
