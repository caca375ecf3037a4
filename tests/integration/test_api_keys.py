"""/api/v1/api-keys: create (token shown once), list per collection, get,
update (name, is_active), delete; validation; a collection key manages only
its own collection's keys.
"""
import re

import pytest

KEY_KEYS = {"id", "collection_id", "collection_name", "name", "key_prefix", "created_at", "created_by_agent_id",
            "is_active"}
TS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")


@pytest.fixture
def acme(pier):
    pier.coll = pier.create_collection("Acme")
    return pier


def test_create_shows_the_token_once(acme):
    r = acme.post("/api/v1/api-keys/", json={"name": "ci", "collection_name": "acme"})
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/json"
    k = r.json()
    assert set(k) == KEY_KEYS | {"api_key"}
    assert re.fullmatch(r"mlc_[a-z0-9]{32}", k["api_key"])
    assert k["key_prefix"] == k["api_key"][:8]
    assert (k["collection_id"], k["collection_name"]) == (acme.coll["id"], "Acme")
    assert (k["name"], k["is_active"], k["created_by_agent_id"]) == ("ci", True, None)
    assert isinstance(k["id"], int)
    assert TS.fullmatch(k["created_at"])
    # never shown again
    got = acme.get(f"/api/v1/api-keys/{k['id']}")
    assert got.status_code == 200
    assert got.json() == {x: k[x] for x in KEY_KEYS}
    assert k["api_key"] not in got.text
    listed = acme.get("/api/v1/api-keys/collection/acme")
    assert listed.json() == [{x: k[x] for x in KEY_KEYS}]
    assert k["api_key"] not in listed.text


def test_each_key_is_different(acme):
    tokens = {acme.create_key("acme", name=f"k{i}")["api_key"] for i in range(10)}
    assert len(tokens) == 10


def test_list_is_per_collection_and_case_insensitive(acme):
    acme.create_collection("other")
    a1 = acme.create_key("acme", "a1")
    a2 = acme.create_key("ACME", "a2")
    acme.create_key("other", "o1")
    r = acme.get("/api/v1/api-keys/collection/aCmE")
    assert r.status_code == 200
    assert [k["name"] for k in r.json()] == ["a1", "a2"]
    assert [k["id"] for k in r.json()] == [a1["id"], a2["id"]]
    assert all(set(k) == KEY_KEYS for k in r.json())
    assert [k["name"] for k in acme.get("/api/v1/api-keys/collection/other").json()] == ["o1"]


def test_list_for_unknown_collection_gets_404(acme):
    r = acme.get("/api/v1/api-keys/collection/nope")
    assert (r.status_code, r.json()) == (404, {"detail": "Collection 'nope' not found"})


def test_update_name_and_is_active(acme):
    k = acme.create_key("acme", "before")
    r = acme.put(f"/api/v1/api-keys/{k['id']}", json={"name": "after"})
    assert r.status_code == 200
    assert r.json() == dict({x: k[x] for x in KEY_KEYS}, name="after")
    r = acme.put(f"/api/v1/api-keys/{k['id']}", json={"is_active": False})
    assert r.json() == dict({x: k[x] for x in KEY_KEYS}, name="after", is_active=False)
    assert acme.get(f"/api/v1/api-keys/{k['id']}").json()["is_active"] is False
    r = acme.put(f"/api/v1/api-keys/{k['id']}", json={})
    assert (r.status_code, r.json()["name"], r.json()["is_active"]) == (200, "after", False)


def test_delete(acme):
    k = acme.create_key("acme")
    r = acme.delete(f"/api/v1/api-keys/{k['id']}")
    assert r.status_code == 200
    assert r.json() == {"message": "API key deleted successfully"}
    assert acme.get(f"/api/v1/api-keys/{k['id']}").status_code == 404
    assert acme.get("/api/v1/api-keys/collection/acme").json() == []
    r = acme.delete(f"/api/v1/api-keys/{k['id']}")
    assert (r.status_code, r.json()) == (404, {"detail": "API key not found"})


@pytest.mark.parametrize("body,status,detail", [
    ({"collection_name": "acme"}, 422, "name is required: a string of 1 to 128 characters"),
    ({"name": "", "collection_name": "acme"}, 422, "name is required: a string of 1 to 128 characters"),
    ({"name": "n" * 129, "collection_name": "acme"}, 422, "name is required: a string of 1 to 128 characters"),
    ({"name": 5, "collection_name": "acme"}, 422, "name is required: a string of 1 to 128 characters"),
    ({"name": "k"}, 422, "collection_name is required: the collection the key will be bound to"),
    ({"name": "k", "collection_name": 3}, 422, "collection_name is required: the collection the key will be bound to"),
    ({"name": "k", "collection_name": "nope"}, 404, "Collection 'nope' not found"),
])
def test_create_validation(acme, body, status, detail):
    r = acme.post("/api/v1/api-keys/", json=body)
    assert (r.status_code, r.json()) == (status, {"detail": detail})
    assert acme.get("/api/v1/api-keys/collection/acme").json() == []


def test_name_of_128_characters_is_fine(acme):
    assert acme.create_key("acme", "n" * 128)["name"] == "n" * 128


@pytest.mark.parametrize("ident", ["abc", "0", "-1", "1.0", "99999999999999999999999"])
def test_bad_ids_get_422(acme, ident):
    for method in ("GET", "PUT", "DELETE"):
        r = acme.request(method, f"/api/v1/api-keys/{ident}", json={})
        assert (r.status_code, r.json()) == (422, {"detail": "API key id must be a positive whole number"})


def test_unknown_id_gets_404(acme):
    for method in ("GET", "PUT", "DELETE"):
        r = acme.request(method, "/api/v1/api-keys/4242", json={"name": "x"})
        assert (r.status_code, r.json()) == (404, {"detail": "API key not found"})


@pytest.mark.parametrize("body,detail", [
    ({"name": ""}, "name must be a string of 1 to 128 characters"),
    ({"name": 5}, "name must be a string of 1 to 128 characters"),
    ({"name": "n" * 129}, "name must be a string of 1 to 128 characters"),
    ({"is_active": "no"}, "is_active must be true or false"),
    ({"is_active": 0}, "is_active must be true or false"),
])
def test_update_validation(acme, body, detail):
    k = acme.create_key("acme", "orig")
    r = acme.put(f"/api/v1/api-keys/{k['id']}", json=body)
    assert (r.status_code, r.json()) == (422, {"detail": detail})
    assert acme.get(f"/api/v1/api-keys/{k['id']}").json() == {x: k[x] for x in KEY_KEYS}


def test_collection_key_manages_only_its_own_keys(acme):
    acme.create_collection("other")
    mine = acme.create_key("acme", "mine")
    theirs = acme.create_key("other", "theirs")
    tok = mine["api_key"]
    # its own collection: create, list, get, update, delete
    r = acme.post("/api/v1/api-keys/", token=tok, json={"name": "made-by-key", "collection_name": "ACME"})
    assert r.status_code == 200 and r.json()["collection_name"] == "Acme"
    made = r.json()
    assert [k["name"] for k in acme.get("/api/v1/api-keys/collection/acme", token=tok).json()] == ["mine", "made-by-key"]
    assert acme.get(f"/api/v1/api-keys/{made['id']}", token=tok).status_code == 200
    assert acme.put(f"/api/v1/api-keys/{made['id']}", token=tok, json={"name": "renamed"}).json()["name"] == "renamed"
    assert acme.delete(f"/api/v1/api-keys/{made['id']}", token=tok).status_code == 200
    # another collection's key is invisible: not found, and untouched
    for method, body in (("GET", None), ("PUT", {"is_active": False}), ("DELETE", None)):
        r = acme.request(method, f"/api/v1/api-keys/{theirs['id']}", token=tok, json=body)
        assert (r.status_code, r.json()) == (404, {"detail": "API key not found"})
    assert acme.get(f"/api/v1/api-keys/{theirs['id']}").json()["is_active"] is True
    assert acme.get("/api/v1/collections/other", token=theirs["api_key"]).status_code == 200


def test_key_can_deactivate_itself(acme):
    k = acme.create_key("acme")
    r = acme.put(f"/api/v1/api-keys/{k['id']}", token=k["api_key"], json={"is_active": False})
    assert r.status_code == 200 and r.json()["is_active"] is False
    r = acme.get("/api/v1/collections/acme", token=k["api_key"])
    assert (r.status_code, r.json()) == (401, {"detail": "Invalid or inactive API key"})
