"""/api/v1/collections/{c}/environment: GET shows names with masked values,
PATCH merges (null deletes, whole-map null clears), names and values are
validated, and concurrent PATCHes of different keys all survive.
(Sealing at rest and restart persistence are in test_serve.py.)
"""
import threading

import pytest
import requests

COLLECTION_KEYS = {"id", "name", "description", "auth_org_id", "owner_identifier", "storage_provider",
                   "storage_info", "created_at"}
ENV = "/api/v1/collections/acme/environment"
NAME_RULE = ("is invalid: use letters, digits and '_', not starting with a digit, at most 128 characters")


@pytest.fixture
def acme(pier):
    pier.create_collection("acme", description="d")
    return pier


def env_of(pier, coll="acme"):
    r = pier.get(f"/api/v1/collections/{coll}/environment")
    assert r.status_code == 200, r.text
    return r.json()["environment_variables"]


def test_get_is_the_collection_plus_an_empty_environment(acme):
    r = acme.get(ENV)
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/json"
    body = r.json()
    assert set(body) == COLLECTION_KEYS | {"environment_variables"}
    coll = acme.get("/api/v1/collections/acme").json()
    assert {k: v for k, v in body.items() if k != "environment_variables"} == coll
    assert body["environment_variables"] == {}


def test_patch_returns_names_with_masked_values(acme):
    secrets = {"OPENAI_API_KEY": "sk-live-abcdef0123456789", "DB_PASSWORD": "hunter2-hunter2", "_X1": "short"}
    r = acme.patch(ENV, json={"environment_variables": secrets})
    assert r.status_code == 200
    body = r.json()
    assert set(body) == COLLECTION_KEYS | {"environment_variables"}
    assert sorted(body["environment_variables"]) == sorted(secrets)
    for name, value in body["environment_variables"].items():
        assert isinstance(value, str) and value != secrets[name]
    for v in secrets.values():
        assert v not in r.text
    g = acme.get(ENV)
    assert sorted(g.json()["environment_variables"]) == sorted(secrets)
    for v in secrets.values():
        assert v not in g.text


def test_patch_merges_overwrites_and_deletes(acme):
    acme.set_env("acme", {"A": "1", "B": "2", "C": "3"})
    r = acme.patch(ENV, json={"environment_variables": {"B": "22", "C": None, "D": "4"}})
    assert r.status_code == 200
    assert sorted(r.json()["environment_variables"]) == ["A", "B", "D"]
    assert sorted(env_of(acme)) == ["A", "B", "D"]
    # deleting a name that does not exist is fine
    assert sorted(acme.set_env("acme", {"NOPE": None})["environment_variables"]) == ["A", "B", "D"]
    # an empty map changes nothing
    assert sorted(acme.set_env("acme", {})["environment_variables"]) == ["A", "B", "D"]


def test_patch_with_null_map_clears_everything(acme):
    acme.set_env("acme", {"A": "1", "B": "2"})
    r = acme.patch(ENV, json={"environment_variables": None})
    assert r.status_code == 200
    assert r.json()["environment_variables"] == {}
    assert env_of(acme) == {}


def test_collection_path_is_case_insensitive(acme):
    r = acme.patch("/api/v1/collections/ACME/environment", json={"environment_variables": {"K": "v"}})
    assert r.status_code == 200 and r.json()["name"] == "acme"
    assert list(env_of(acme, "Acme")) == ["K"]


def test_unknown_collection_gets_404(acme):
    r = acme.patch("/api/v1/collections/nope/environment", json={"environment_variables": {"K": "v"}})
    assert (r.status_code, r.json()) == (404, {"detail": "Collection 'nope' not found"})
    r = acme.get("/api/v1/collections/nope/environment")
    assert (r.status_code, r.json()) == (404, {"detail": "Collection 'nope' not found"})


@pytest.mark.parametrize("name", ["1BAD", "A-B", "A B", "", "A.B", "X" * 129, "\u00c9T\u00c9"])
def test_invalid_names_get_422_and_change_nothing(acme, name):
    acme.set_env("acme", {"KEEP": "x"})
    r = acme.patch(ENV, json={"environment_variables": {"GOOD": "1", name: "v"}})
    assert r.status_code == 422
    assert r.json() == {"detail": f'environment variable name "{name[:80]}" {NAME_RULE}'}  # echoed up to 80
    assert list(env_of(acme)) == ["KEEP"]


def test_name_of_128_characters_is_fine(acme):
    assert list(acme.set_env("acme", {"N" * 128: "v"})["environment_variables"]) == ["N" * 128]


def test_name_with_nul_character_is_rejected(acme):
    """Regression (a NUL cut names short): "A\\u0000B" is cut at the NUL and stored as a variable named "A"."""
    r = acme.patch(ENV, json={"environment_variables": {"A\u0000B": "v"}})
    assert (r.status_code, r.json()) == (400, {"detail": "JSON strings must not contain the NUL character (\\u0000)"})
    assert env_of(acme) == {}


@pytest.mark.parametrize("value,kind", [(5, "number"), (True, "bool"), (["x"], "list"), ({"x": "y"}, "object")])
def test_non_string_values_get_422(acme, value, kind):
    r = acme.patch(ENV, json={"environment_variables": {"A": value}})
    assert (r.status_code, r.json()) == (422, {"detail": "environment_variables.A must be a string, or null to delete it"})
    assert env_of(acme) == {}


def test_value_size_limit_is_64_kib(acme):
    r = acme.patch(ENV, json={"environment_variables": {"BIG": "v" * 65536}})
    assert r.status_code == 200
    r = acme.patch(ENV, json={"environment_variables": {"BIGGER": "v" * 65537}})
    assert (r.status_code, r.json()) == (422, {"detail": "environment_variables.BIGGER is longer than 65536 bytes"})
    # bytes, not characters: 32769 two-byte characters are 65538 bytes
    r = acme.patch(ENV, json={"environment_variables": {"WIDE": "\u00e9" * 32769}})
    assert (r.status_code, r.json()) == (422, {"detail": "environment_variables.WIDE is longer than 65536 bytes"})
    assert list(env_of(acme)) == ["BIG"]


@pytest.mark.parametrize("body,detail", [
    ({}, 'environment_variables is required: {"environment_variables": {"NAME": "value"}} (null deletes a variable)'),
    ({"environment_variables": ["A"]}, 'environment_variables must be an object of NAME: "value" (or null)'),
    ({"environment_variables": "A=1"}, 'environment_variables must be an object of NAME: "value" (or null)'),
])
def test_bad_patch_bodies_get_422(acme, body, detail):
    r = acme.patch(ENV, json=body)
    assert (r.status_code, r.json()) == (422, {"detail": detail})


def test_bad_json_gets_400(acme):
    r = acme.patch(ENV, data=b'{"environment_variables": {"A": "1"', headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    assert r.json()["detail"].startswith("invalid JSON")
    assert env_of(acme) == {}


def test_at_most_512_variables(acme):
    many = {f"V{i}": "x" for i in range(512)}
    assert len(acme.set_env("acme", many)["environment_variables"]) == 512
    r = acme.patch(ENV, json={"environment_variables": {"ONE_MORE": "x"}})
    assert (r.status_code, r.json()) == (422, {"detail": "a collection holds at most 512 environment variables"})
    env = env_of(acme)
    assert len(env) == 512 and "ONE_MORE" not in env
    # replacing existing names is still fine at the cap
    assert len(acme.set_env("acme", {"V0": "y", "V1": None, "NEW": "z"})["environment_variables"]) == 512


def test_concurrent_patches_of_different_keys_all_survive(pier_factory):
    srv = pier_factory(threads=4).start()
    srv.create_collection("acme")
    srv.set_env("acme", {"PRE": "existing"})
    token = srv.admin_token
    results = []

    def patch(i):
        with requests.Session() as s:
            for j in range(3):
                r = s.patch(srv.url + ENV, json={"environment_variables": {f"K_{i}_{j}": f"value-{i}-{j}"}},
                            headers={"Authorization": f"Bearer {token}"}, timeout=30)
                results.append(r.status_code)

    threads = [threading.Thread(target=patch, args=(i,)) for i in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [200] * 96
    env = env_of(srv)
    assert sorted(env) == sorted(["PRE"] + [f"K_{i}_{j}" for i in range(32) for j in range(3)])
