"""/api/v1/tasks/{c}[/{t}]: list with paging, get, create (201), partial PUT
with version increments, delete, and workflow validation with the JSON path of
the first problem.
"""
import copy
import json
import re

import pytest

WF = {"init_params": {"prompt": "hi"}, "step_configs": {"chat": {"activity": "litellm_chat", "model": "m"}},
      "steps": ["chat"]}
WF2 = {"init_params": {}, "step_configs": {"a": {"activity": "x"}, "b": {"activity": "y"}}, "steps": ["a", "b"]}
TASK_KEYS = {"id", "name", "workflow", "collection_id", "version", "description", "has_file_uploads", "entity_type",
             "is_private", "croissant_metadata", "created_at", "updated_at", "environment_variables", "storage_info",
             "storage_provider"}
LIST_KEYS = (TASK_KEYS - {"environment_variables", "storage_info", "storage_provider"}) | {"collection_name"}
TS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")
NAME_RULE = "name must be 1 to 128 characters of letters, digits, '_', '-' and '.', not starting with '.'"


@pytest.fixture
def acme(pier):
    pier.coll = pier.create_collection("Acme")
    return pier


def create(pier, name, workflow=WF, coll="acme", **extra):
    r = pier.post(f"/api/v1/tasks/{coll}", json={"name": name, "workflow": workflow, **extra})
    assert r.status_code == 201, r.text
    return r.json()


def test_create_returns_201_and_the_task(acme):
    r = acme.post("/api/v1/tasks/acme", json={"name": "t1", "workflow": WF, "description": "first"})
    assert r.status_code == 201
    assert r.headers["Content-Type"] == "application/json"
    t = r.json()
    assert set(t) == TASK_KEYS
    assert isinstance(t["id"], int)
    assert t["name"] == "t1"
    assert t["workflow"] == WF
    assert list(t["workflow"]) == list(WF)  # key order kept
    assert t["collection_id"] == acme.coll["id"]
    assert t["version"] == 1
    assert t["description"] == "first"
    assert (t["has_file_uploads"], t["entity_type"], t["is_private"]) == (False, "task", True)
    assert t["croissant_metadata"] is None
    assert TS.fullmatch(t["created_at"]) and t["updated_at"] == t["created_at"]
    assert (t["environment_variables"], t["storage_info"], t["storage_provider"]) == ({}, {}, "default")
    assert acme.get("/api/v1/tasks/acme/t1").json() == t


def test_create_stores_optional_fields(acme):
    cm = {"@type": "sc:Dataset", "name": "d", "fields": [1, 2.5, None, True]}
    t = create(acme, "t1", description="x", has_file_uploads=True, is_private=False, croissant_metadata=cm)
    assert (t["has_file_uploads"], t["is_private"], t["croissant_metadata"]) == (True, False, cm)
    assert acme.get("/api/v1/tasks/acme/t1").json() == t


def test_collection_name_is_case_insensitive(acme):
    t = create(acme, "t1", coll="ACME")
    assert acme.get("/api/v1/tasks/acme/t1").json() == t
    assert [x["name"] for x in acme.get("/api/v1/tasks/aCmE").json()] == ["t1"]


def test_list_shape_and_paging(acme):
    made = [create(acme, f"t{i}") for i in range(5)]
    r = acme.get("/api/v1/tasks/acme")
    assert r.status_code == 200
    items = r.json()
    assert [x["name"] for x in items] == [f"t{i}" for i in range(5)]
    for item, full in zip(items, made):
        assert set(item) == LIST_KEYS
        assert item["collection_name"] == "Acme"
        assert {k: v for k, v in item.items() if k != "collection_name"} == {k: full[k] for k in LIST_KEYS - {"collection_name"}}
    assert [x["name"] for x in acme.get("/api/v1/tasks/acme/?skip=1&limit=2").json()] == ["t1", "t2"]
    assert [x["name"] for x in acme.get("/api/v1/tasks/acme?skip=3").json()] == ["t3", "t4"]
    assert acme.get("/api/v1/tasks/acme?skip=5").json() == []
    assert len(acme.get("/api/v1/tasks/acme?limit=500").json()) == 5


def test_list_of_an_empty_collection(acme):
    r = acme.get("/api/v1/tasks/acme")
    assert (r.status_code, r.json()) == (200, [])


@pytest.mark.parametrize("query,detail", [
    ("limit=501", "query parameter limit must be a whole number from 1 to 500"),
    ("limit=0", "query parameter limit must be a whole number from 1 to 500"),
    ("limit=x", "query parameter limit must be a whole number from 1 to 500"),
    ("skip=-1", "query parameter skip must be a whole number from 0 to 2147483647"),
    ("skip=1.5", "query parameter skip must be a whole number from 0 to 2147483647"),
])
def test_list_rejects_bad_paging(acme, query, detail):
    r = acme.get(f"/api/v1/tasks/acme?{query}")
    assert (r.status_code, r.json()) == (422, {"detail": detail})


def test_unknown_collection_and_task_get_404(acme):
    r = acme.get("/api/v1/tasks/nope")
    assert (r.status_code, r.json()) == (404, {"detail": "Collection 'nope' not found"})
    r = acme.post("/api/v1/tasks/nope", json={"name": "t1", "workflow": WF})
    assert (r.status_code, r.json()) == (404, {"detail": "Collection 'nope' not found"})
    r = acme.get("/api/v1/tasks/acme/ghost")
    assert (r.status_code, r.json()) == (404, {"detail": "Task 'ghost' not found in collection 'Acme'"})
    r = acme.put("/api/v1/tasks/acme/ghost", json={"description": "x"})
    assert (r.status_code, r.json()) == (404, {"detail": "Task 'ghost' not found in collection 'Acme'"})
    r = acme.delete("/api/v1/tasks/acme/ghost")
    assert (r.status_code, r.json()) == (404, {"detail": "Task 'ghost' not found in collection 'Acme'"})


def test_duplicate_name_gets_400(acme):
    create(acme, "t1")
    r = acme.post("/api/v1/tasks/acme", json={"name": "t1", "workflow": WF2})
    assert (r.status_code, r.json()) == (400, {"detail": "Task 't1' already exists in collection 'Acme'"})
    assert acme.get("/api/v1/tasks/acme/t1").json()["workflow"] == WF


def test_same_task_name_in_two_collections(acme):
    acme.create_collection("other")
    a = create(acme, "t1", WF)
    b = create(acme, "t1", WF2, coll="other")
    assert a["id"] != b["id"]
    assert acme.get("/api/v1/tasks/acme/t1").json()["workflow"] == WF
    assert acme.get("/api/v1/tasks/other/t1").json()["workflow"] == WF2


def test_partial_put_increments_version_and_keeps_other_fields(acme):
    cm = {"k": "v"}
    t1 = create(acme, "t1", description="orig", has_file_uploads=True, is_private=False, croissant_metadata=cm)
    r = acme.put("/api/v1/tasks/acme/t1", json={"description": "changed"})
    assert r.status_code == 200
    t2 = r.json()
    assert set(t2) == TASK_KEYS
    assert t2["version"] == 2
    assert t2["description"] == "changed"
    same = {k: t1[k] for k in ("id", "name", "workflow", "collection_id", "has_file_uploads", "is_private",
                               "croissant_metadata", "created_at")}
    assert {k: t2[k] for k in same} == same
    assert t2["updated_at"] >= t1["updated_at"]

    t3 = acme.put("/api/v1/tasks/acme/t1", json={"workflow": WF2, "is_private": True}).json()
    assert (t3["version"], t3["workflow"], t3["is_private"]) == (3, WF2, True)
    assert (t3["description"], t3["has_file_uploads"], t3["croissant_metadata"]) == ("changed", True, cm)

    t4 = acme.put("/api/v1/tasks/acme/t1", json={}).json()
    assert t4["version"] == 4
    assert acme.get("/api/v1/tasks/acme/t1").json() == t4


def test_put_can_rename(acme):
    create(acme, "old")
    r = acme.put("/api/v1/tasks/acme/old", json={"name": "new"})
    assert r.status_code == 200
    assert (r.json()["name"], r.json()["version"]) == ("new", 2)
    assert acme.get("/api/v1/tasks/acme/old").status_code == 404
    assert acme.get("/api/v1/tasks/acme/new").json()["version"] == 2


def test_put_rename_onto_an_existing_task_gets_400(acme):
    create(acme, "a", WF)
    create(acme, "b", WF2)
    r = acme.put("/api/v1/tasks/acme/a", json={"name": "b"})
    assert (r.status_code, r.json()) == (400, {"detail": "Task 'b' already exists in collection 'Acme'"})
    assert acme.get("/api/v1/tasks/acme/a").json()["version"] == 1
    assert acme.get("/api/v1/tasks/acme/b").json()["workflow"] == WF2


@pytest.mark.parametrize("body,detail", [
    ({"has_file_uploads": "yes"}, "has_file_uploads must be true or false"),
    ({"is_private": 1}, "is_private must be true or false"),
    ({"description": 5}, "description must be a string of at most 16384 bytes"),
    ({"name": "bad name"}, NAME_RULE),
    ({"name": 7}, NAME_RULE),
    ({"workflow": {"step_configs": {}, "steps": ["x"]}}, 'workflow.steps[0]: "x" is not a key of workflow.step_configs'),
])
def test_bad_put_gets_422_and_changes_nothing(acme, body, detail):
    t = create(acme, "t1")
    r = acme.put("/api/v1/tasks/acme/t1", json=body)
    assert (r.status_code, r.json()) == (422, {"detail": detail})
    assert acme.get("/api/v1/tasks/acme/t1").json() == t


def test_delete(acme):
    create(acme, "t1")
    create(acme, "t2")
    r = acme.delete("/api/v1/tasks/acme/t1")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/json"
    assert r.content == b'{"message":"Task deleted successfully"}'
    assert acme.get("/api/v1/tasks/acme/t1").status_code == 404
    assert [x["name"] for x in acme.get("/api/v1/tasks/acme").json()] == ["t2"]
    assert acme.delete("/api/v1/tasks/acme/t1").status_code == 404
    # the name is free again
    assert create(acme, "t1")["version"] == 1


@pytest.mark.parametrize("name", ["t", "my-task_1.v2", "x" * 128])
def test_valid_task_names(acme, name):
    assert create(acme, name)["name"] == name
    assert acme.get(f"/api/v1/tasks/acme/{name}").status_code == 200


@pytest.mark.parametrize("name", ["", "x" * 129, "a b", "a/b", "caf\u00e9", ".", "..", ".hidden"])
def test_invalid_task_names_get_422(acme, name):
    r = acme.post("/api/v1/tasks/acme", json={"name": name, "workflow": WF})
    assert (r.status_code, r.json()) == (422, {"detail": NAME_RULE})
    assert acme.get("/api/v1/tasks/acme").json() == []


def test_task_name_with_nul_character_is_rejected(acme):
    """Regression (a NUL cut names short): "a\u0000b" is cut at the NUL and creates a task named "a"."""
    r = acme.post("/api/v1/tasks/acme", json={"name": "a\u0000b", "workflow": WF})
    assert (r.status_code, r.json()) == (400, {"detail": "JSON strings must not contain the NUL character (\\u0000)"})
    assert acme.get("/api/v1/tasks/acme").json() == []


def test_missing_name_gets_422(acme):
    r = acme.post("/api/v1/tasks/acme", json={"workflow": WF})
    assert (r.status_code, r.json()) == (422, {"detail": NAME_RULE})


def wf_with(**changes):
    wf = copy.deepcopy(WF)
    for k, v in changes.items():
        if v is ...:
            del wf[k]
        else:
            wf[k] = v
    return wf


BAD_WORKFLOWS = [
    (5, "workflow: must be an object with init_params, step_configs and steps (got a number)"),
    ([], "workflow: must be an object with init_params, step_configs and steps (got an array)"),
    (wf_with(init_params=[]), "workflow.init_params: must be an object (got an array)"),
    (wf_with(init_params="p"), "workflow.init_params: must be an object (got a string)"),
    (wf_with(step_configs=...), "workflow.step_configs: is required (got missing)"),
    (wf_with(step_configs=[]), "workflow.step_configs: must be an object of step name -> config (got an array)"),
    (wf_with(step_configs={"chat": 3}), 'workflow.step_configs.chat: must be an object with an "activity" (got a number)'),
    (wf_with(step_configs={"chat": {"model": "m"}}),
     'workflow.step_configs.chat.activity: must be a string naming an activity, e.g. "litellm_chat" (got missing)'),
    (wf_with(step_configs={"chat": {"activity": 5}}),
     'workflow.step_configs.chat.activity: must be a string naming an activity, e.g. "litellm_chat" (got a number)'),
    (wf_with(step_configs={"ok": {"activity": "x"}, "chat": {"activity": None}}),
     'workflow.step_configs.chat.activity: must be a string naming an activity, e.g. "litellm_chat" (got null)'),
    (wf_with(steps=...), "workflow.steps: is required (got missing)"),
    (wf_with(steps="chat"), "workflow.steps: must be an array of step names (got a string)"),
    (wf_with(steps=["chat", "nope"]), 'workflow.steps[1]: "nope" is not a key of workflow.step_configs'),
    (wf_with(steps=["chat", 3]), "workflow.steps[1]: must be a string naming a key of step_configs (got a number)"),
]


@pytest.mark.parametrize("workflow,detail", BAD_WORKFLOWS)
def test_bad_workflow_gets_422_with_the_json_path(acme, workflow, detail):
    r = acme.post("/api/v1/tasks/acme", json={"name": "t1", "workflow": workflow})
    assert (r.status_code, r.json()) == (422, {"detail": detail})
    assert acme.get("/api/v1/tasks/acme").json() == []


def test_bad_workflow_on_put_gets_422_with_the_json_path(acme):
    t = create(acme, "t1")
    r = acme.put("/api/v1/tasks/acme/t1", json={"workflow": wf_with(steps=["chat", "nope"])})
    assert (r.status_code, r.json()) == (422, {"detail": 'workflow.steps[1]: "nope" is not a key of workflow.step_configs'})
    assert acme.get("/api/v1/tasks/acme/t1").json() == t


def test_missing_workflow_gets_422(acme):
    r = acme.post("/api/v1/tasks/acme", json={"name": "t1"})
    assert r.status_code == 422
    assert r.json()["detail"].startswith("workflow is required")


def test_the_workflow_the_error_suggests_is_accepted(acme):
    """Regression: the 'workflow is required' detail suggests {"init_params": {}, "step_configs": {}, "steps": []},
    and posting exactly that is rejected with 'workflow.steps: must name at least one step'."""
    detail = acme.post("/api/v1/tasks/acme", json={"name": "t1"}).json()["detail"]
    suggested = json.loads(detail.split("e.g. ", 1)[1])
    r = acme.post("/api/v1/tasks/acme", json={"name": "t1", "workflow": suggested})
    assert r.status_code == 201, r.text


def test_extra_workflow_keys_are_kept(acme):
    wf = dict(WF, name="wf", version="1.0", description="jetty files carry these")
    assert create(acme, "t1", wf)["workflow"] == wf


def test_workflow_over_4_mib_gets_413(acme):
    wf = wf_with(init_params={"blob": "a" * (4 * 1024 * 1024)})
    r = acme.post("/api/v1/tasks/acme", json={"name": "big", "workflow": wf})
    assert (r.status_code, r.json()) == (413, {"detail": "workflow is larger than 4194304 bytes"})
    assert acme.get("/api/v1/tasks/acme/big").status_code == 404


def test_version_in_body_does_not_override_the_server(acme):
    t = create(acme, "t1", version=7)
    assert t["version"] == 1
    assert acme.put("/api/v1/tasks/acme/t1", json={"version": 99}).json()["version"] == 2
