"""POST /api/v1/run-sync/{c}/{t} and /api/v1/run/{c}/{t}: the multipart form as
Jetty clients send it (real curl included), init_params merging, uploads stored
and served back, malformed forms, the reply shape (sync, async, 202 after the
run-sync limit), the Jetty Bedrock page's litellm_chat example verbatim and its
three routing ways, the workflow engine's semantics (order, X_path, paths,
templates, exact error messages) and the step templates."""

import json
import os
import subprocess

import pytest

from mocks.bedrock import Reply, Stall
from run_util import (COLLECTION, PAGE_TASK, SONNET, TID, TS, Stack, chat_task, converse_text, echo_task, form,
                      stack_fixtures, wait_until)

ENVELOPE = {"message", "workflow_id", "trajectory_id", "result", "trajectory", "metadata"}


stack, st = stack_fixtures()


def assert_no_trajectories(st, task):
    page = st.page(task)
    assert (page["total"], page["trajectories"]) == (0, []), page


# -- the Jetty page, verbatim -------------------------------------------------------------

def test_page_litellm_chat_example_with_curl_and_jq(st, tmp_path):
    st.task("bedrock-chat", PAGE_TASK)
    st.mock.default_text = "Hello from the mock Bedrock!"
    script = (
        'curl -s -X POST -H "Authorization: Bearer $TOKEN" \\\n'
        "-F 'init_params={\"model\":\"us.anthropic.claude-sonnet-4-6\",\"model_provider\":\"bedrock\","
        "\"prompt\":\"Hello!\"}' \\\n"
        f'"{st.pier.url}/api/v1/run-sync/{COLLECTION}/bedrock-chat" \\\n'
        "| jq '.trajectory.steps.chat.outputs.text'\n")
    out = subprocess.run(["bash", "-c", "set -o pipefail\n" + script], env={**os.environ, "TOKEN": st.key},
                         capture_output=True, timeout=60)
    assert out.returncode == 0, out
    assert out.stdout == b'"Hello from the mock Bedrock!"\n'
    (rec,) = st.mock.requests
    assert rec.path == f"/model/{SONNET}/converse" and rec.auth == "bearer"
    assert rec.json["messages"] == [{"role": "user", "content": [{"text": "Hello!"}]}]
    assert rec.json["inferenceConfig"] == {"maxTokens": 512}


THREE_WAYS = [
    pytest.param({"model": SONNET, "model_provider": "bedrock"}, id="model_provider"),
    pytest.param({"model": "bedrock/" + SONNET}, id="bedrock-prefix"),
    pytest.param({"model": SONNET}, id="bare-profile-id"),
]


@pytest.mark.parametrize("way", THREE_WAYS)
def test_three_routing_ways_reach_bedrock(st, way):
    cfg = {"activity": "litellm_chat", "prompt": "Reply with the single word PONG and nothing else.",
           "max_tokens": 256, **way}
    st.task("route", {"init_params": {}, "step_configs": {"chat": cfg}, "steps": ["chat"]})
    r = st.run_sync("route")
    assert r["status"] == "completed", r["error"]
    assert r["steps"]["chat"]["outputs"]["text"] == "PONG"
    (rec,) = st.mock.requests
    assert (rec.path, rec.auth, rec.bearer_token) == (f"/model/{SONNET}/converse", "bearer", st.env["AWS_BEARER_TOKEN_BEDROCK"])
    assert converse_text(rec) == "Reply with the single word PONG and nothing else."


def test_model_provider_from_init_params_paths(st):
    """The page's first way with every value coming from init_params (model_provider_path)."""
    cfg = {"activity": "litellm_chat", "model_path": "init_params.model",
           "model_provider_path": "init_params.model_provider", "prompt_path": "init_params.prompt", "max_tokens": 256}
    st.task("route-paths", {"init_params": {}, "step_configs": {"chat": cfg}, "steps": ["chat"]})
    r = st.run_sync("route-paths", init_params={"model": SONNET, "model_provider": "bedrock",
                                                 "prompt": "Reply with the single word PONG and nothing else."})
    assert r["status"] == "completed", r["error"]
    assert r["steps"]["chat"]["inputs"] == {"activity": "litellm_chat", "model": SONNET, "model_provider": "bedrock",
                                            "prompt": "Reply with the single word PONG and nothing else.",
                                            "max_tokens": 256}
    assert st.mock.requests[0].path == f"/model/{SONNET}/converse"


# -- reply shapes -------------------------------------------------------------------------

def test_run_sync_reply_is_the_durable_trajectory_plus_its_fields_at_the_top(st):
    st.task("shape", echo_task("hi"))
    r = st.post_run("shape")
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/json"
    body = r.json()
    traj = body["trajectory"]
    tid = traj["trajectory_id"]
    assert TID.fullmatch(tid)
    assert set(body) == ENVELOPE | set(traj)
    assert body["message"] == "Workflow completed"
    assert body["workflow_id"] == f"{COLLECTION}-shape--{tid}"
    assert body["workflow_id"].rsplit("--", 1)[1] == tid
    assert (body["result"], body["metadata"]) == ({}, "")
    for k, v in traj.items():
        assert body[k] == v, k
    assert traj["status"] == "completed" and traj["steps"]["echo"]["outputs"] == {"text": "hi"}
    # durable before the answer: read back at once, identical
    assert st.traj("shape", tid) == traj
    assert st.traj_response("shape", tid, prefix="/api/v1/trajectory").json() == traj


def test_workflow_id_uses_the_stored_collection_name_with_slashes_replaced(st):
    st.pier.create_collection("Mixed_Case")
    st.pier.post("/api/v1/tasks/Mixed_Case", json={"name": "t.v2", "workflow": echo_task()})
    r = st.pier.post("/api/v1/run-sync/mixed_case/t.v2", files=form({}))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["workflow_id"] == f"Mixed_Case-t.v2--{body['trajectory_id']}"
    assert body["name"] == "Mixed_Case/t.v2" and body["storage_path"] == "Mixed_Case/t.v2/0000"


def test_async_run_answers_while_the_model_call_is_still_in_flight(st):
    st.task("slow", chat_task())
    st.mock.script(Stall(30))
    r = st.post_run("slow", sync=False)
    assert r.status_code == 200, r.text
    body = r.json()
    tid = body["trajectory_id"]
    assert body == {"message": "Workflow started", "workflow_id": f"{COLLECTION}-slow--{tid}", "trajectory_id": tid,
                    "result": {}, "status": "pending", "trajectory": {}, "metadata": ""}
    (rec,) = st.mock.wait_for_requests(1)
    assert not rec.done.is_set(), "the model call must still be running"
    assert st.cancel("slow", tid).json() == {"results": {tid: "cancelled"}}
    st.mock.wait_for_disconnect(10)
    assert st.wait_status("slow", tid)["status"] == "cancelled"


def test_run_sync_past_the_limit_answers_202_and_the_run_goes_on(tmp_path):
    s = Stack(args=["--run-sync-timeout-ms", "150"])
    try:
        s.task("slow", chat_task())
        s.mock.script(Stall(2.0, then=Reply("late but fine")))
        r = s.post_run("slow")
        assert r.status_code == 202, r.text
        body = r.json()
        tid = body["trajectory_id"]
        assert TID.fullmatch(tid)
        assert body == {"message": "Workflow still running; poll GET /api/v1/db/trajectory/{collection}/{task}/{trajectory_id}",
                        "workflow_id": f"{COLLECTION}-slow--{tid}", "trajectory_id": tid, "result": {},
                        "status": "running", "trajectory": {}, "metadata": ""}
        (rec,) = s.mock.wait_for_requests(1)
        assert not rec.done.is_set()
        t = s.wait_status("slow", tid)
        assert t["status"] == "completed", t["error"]
        assert t["steps"]["chat"]["outputs"]["text"] == "late but fine"
        assert len(s.mock.requests) == 1
    finally:
        s.close()


def test_a_run_sync_client_that_goes_away_does_not_stop_the_run(st):
    import socket
    st.task("leaver", chat_task())
    st.mock.script(Stall(1.0, then=Reply("finished anyway")))
    body = b'--b\r\nContent-Disposition: form-data; name="init_params"\r\n\r\n{}\r\n--b--\r\n'
    head = (f"POST /api/v1/run-sync/{COLLECTION}/leaver HTTP/1.1\r\nHost: pier\r\nAuthorization: Bearer {st.key}\r\n"
            f"Content-Type: multipart/form-data; boundary=b\r\nContent-Length: {len(body)}\r\n\r\n").encode()
    sock = socket.create_connection(("127.0.0.1", st.pier.port))
    sock.sendall(head + body)
    st.mock.wait_for_requests(1)
    sock.close()
    (t,) = wait_until(lambda: st.page("leaver")["trajectories"], 10, "the run to be stored")
    done = st.wait_status("leaver", t["trajectory_id"])
    assert done["status"] == "completed", done["error"]
    assert done["steps"]["chat"]["outputs"]["text"] == "finished anyway"
    assert not st.mock.disconnected.is_set(), "the model call belongs to the run, not to the client"
    assert st.pier.get("/api/v1/health", token=None).status_code == 200


# -- the form ------------------------------------------------------------------------------

def test_init_params_are_shallow_merged_over_the_tasks(st):
    wf = echo_task(text_path="init_params")
    wf["init_params"] = {"a": {"x": 1, "y": 2}, "b": "keep", "c": 1}
    st.task("merge", wf)
    r = st.run_sync("merge", init_params={"a": {"x": 9}, "c": 2, "d": [1, "two"]})
    want = {"a": {"x": 9}, "b": "keep", "c": 2, "d": [1, "two"]}
    assert r["init_params"] == want
    assert r["steps"]["echo"]["inputs"]["text"] == want
    # no form at all: the task's own
    r = st.run_sync("merge")
    assert r["init_params"] == wf["init_params"]


def test_json_body_is_accepted_too(st):
    st.task("json-body", echo_task(text_path="init_params.p"))
    r = st.pier.post(f"/api/v1/run-sync/{COLLECTION}/json-body", token=st.key, json={"init_params": {"p": "as json"}})
    assert r.status_code == 200, r.text
    assert r.json()["steps"]["echo"]["outputs"] == {"text": "as json"}
    r = st.pier.post(f"/api/v1/run-sync/{COLLECTION}/json-body", token=st.key,
                     json={"init_params": json.dumps({"p": "a JSON string of JSON"})})
    assert r.json()["steps"]["echo"]["outputs"] == {"text": "a JSON string of JSON"}


ALL_BYTES = bytes(range(256)) * 40 + b"\r\n--not-a-boundary\r\n"


def test_uploads_are_stored_listed_and_served_back(st):
    wf = echo_task(text_path="init_params.file_paths")
    wf["init_params"] = {"file_paths": [f"{COLLECTION}/pre/0000/existing.txt"]}
    st.task("up", wf)
    files = [("data one.bin", ALL_BYTES, "application/x-custom"), ("notes.md", "# hé\n".encode(), "text/markdown"),
             ("data one.bin", b"same name, other bytes", "text/plain"), ("../../etc/passwd", b"root", "text/plain")]
    r = st.run_sync("up", init_params={"k": "v"}, files=files)
    assert r["status"] == "completed", r["error"]
    paths = r["init_params"]["file_paths"]
    assert r["init_params"]["k"] == "v"
    assert paths[0] == f"{COLLECTION}/pre/0000/existing.txt" and len(paths) == 5
    prefix = paths[1].rsplit("/", 1)[0]
    assert prefix.startswith(f"{COLLECTION}/up/0000/") and all(p.startswith(prefix + "/") for p in paths[1:])
    names = [p.rsplit("/", 1)[1] for p in paths[1:]]
    assert names[0] == "data_one.bin" and names[1] == "notes.md" and names[3] == "passwd"
    assert len(set(paths)) == 5, "two uploads with one name must not overwrite each other"
    assert r["steps"]["echo"]["inputs"]["text"] == paths
    for path, (_, data, ctype) in zip(paths[1:], files):
        g = st.pier.get(f"/api/v1/file/{path}", token=st.key)
        assert g.status_code == 200, g.text
        assert g.content == data
        assert g.headers["Content-Type"] == ctype
        assert g.headers["Content-Disposition"] == f'inline; filename="{path.rsplit("/", 1)[1]}"'
    listed = st.pier.get("/api/v1/list-files", token=st.key, params={"prefix": f"{COLLECTION}/up/0000"})
    assert listed.status_code == 200
    entries = listed.json()["files"]
    assert sorted(e["path"] for e in entries) == sorted(paths[1:])
    for e in entries:
        (_, data, ctype), = [f for p, f in zip(paths[1:], files) if p == e["path"]]
        assert (e["size"], e["content_type"]) == (len(data), ctype)
        assert TS.fullmatch(e["created_at"])


def test_empty_files_and_dot_names_upload(st):
    st.task("odd-files", echo_task())
    r = st.run_sync("odd-files", files=[("empty.txt", b"", "text/plain"), ("..", b"dots", "text/plain")])
    paths = r["init_params"]["file_paths"]
    assert [p.rsplit("/", 1)[1] for p in paths] == ["empty.txt", "file"]
    g = st.pier.get(f"/api/v1/file/{paths[0]}", token=st.key)
    assert (g.status_code, g.content, g.headers["Content-Length"]) == (200, b"", "0")
    assert st.pier.get(f"/api/v1/file/{paths[1]}", token=st.key).content == b"dots"


def test_a_renamed_duplicate_upload_does_not_collide_with_another_file(st):
    """Two uploads named a.txt: the second is stored as 1-a.txt. A third upload really
    named 1-a.txt must get its own path, not a 500."""
    st.task("collide", echo_task())
    files = [("a.txt", b"first", "text/plain"), ("a.txt", b"second", "text/plain"), ("1-a.txt", b"third", "text/plain")]
    r = st.post_run("collide", files=files)
    assert r.status_code == 200, r.text
    paths = r.json()["init_params"]["file_paths"]
    assert len(set(paths)) == 3
    assert [st.pier.get(f"/api/v1/file/{p}", token=st.key).content for p in paths] == [b"first", b"second", b"third"]


def test_files_are_scoped_to_their_collection(st):
    st.task("scoped", echo_task())
    r = st.run_sync("scoped", files=[("a.txt", b"mine", "text/plain")])
    path = r["init_params"]["file_paths"][0]
    st.pier.create_collection("other-files")
    other_key = st.pier.create_key("other-files")["api_key"]
    assert st.pier.get(f"/api/v1/file/{path}", token=other_key).status_code == 403
    assert st.pier.get("/api/v1/list-files", token=other_key, params={"prefix": path}).status_code == 403
    missing = st.pier.get(f"/api/v1/file/{COLLECTION}/scoped/0000/uploads/nope.txt", token=st.key)
    assert missing.status_code == 404 and missing.json() == {"detail": f"no stored file at {COLLECTION}/scoped/0000/uploads/nope.txt"}
    bad = st.pier.get(f"/api/v1/file/{COLLECTION}/a/%2E%2E/x", token=st.key)
    assert bad.status_code == 400


def test_list_files_prefix_does_not_cross_into_a_longer_collection_name(st):
    """A key of "acme" listing prefix "acme" must not see the files of collection "acme2"."""
    st.pier.create_collection("acme2")
    st.pier.post("/api/v1/tasks/acme2", json={"name": "t", "workflow": echo_task()})
    r = st.pier.post("/api/v1/run-sync/acme2/t", files=form({}, [("private.txt", b"acme2 only", "text/plain")]))
    assert r.status_code == 200, r.text
    leaked = st.pier.get("/api/v1/list-files", token=st.key, params={"prefix": COLLECTION})
    assert leaked.status_code == 200, leaked.text
    assert [f["path"] for f in leaked.json()["files"] if not f["path"].startswith(COLLECTION + "/")] == []


def test_the_form_exactly_as_curl_sends_it(st, tmp_path):
    """Every Jetty form field through the real curl binary: init_params, two files (one
    big enough for Expect: 100-continue), secret_params, webhook_url, webhook_secret."""
    from run_util import WebhookReceiver, signature
    wf = echo_task(text="{{ init_params.who }} / {{ env.CURL_SECRET }}")
    st.task("curl-form", wf)
    small = tmp_path / "hello.txt"
    small.write_bytes(b"hello from curl\n")
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(1_500_000))
    wh = WebhookReceiver()
    try:
        cmd = ["curl", "-s", "-S", "-X", "POST", "-H", f"Authorization: Bearer {st.key}",
               "-F", 'init_params={"who":"curl"}',
               "-F", f"files=@{small};type=text/plain", "-F", f"files=@{big}",
               "-F", 'secret_params={"CURL_SECRET":"curl-secret-value-42"}',
               "-F", f"webhook_url={wh.url}", "-F", "webhook_secret=whsec-curl-0001",
               "-w", "\\n%{http_code}", f"{st.pier.url}/api/v1/run-sync/{COLLECTION}/curl-form"]
        out = subprocess.run(cmd, capture_output=True, timeout=60)
        assert out.returncode == 0, out
        text, _, code = out.stdout.decode().rpartition("\n")
        assert code == "200", text
        body = json.loads(text)
        assert body["status"] == "completed", body["error"]
        paths = body["init_params"]["file_paths"]
        assert [p.rsplit("/", 1)[1] for p in paths] == ["hello.txt", "big.bin"]
        assert st.pier.get(f"/api/v1/file/{paths[0]}", token=st.key).content == small.read_bytes()
        g = st.pier.get(f"/api/v1/file/{paths[1]}", token=st.key)
        assert g.content == big.read_bytes() and g.headers["Content-Type"] == "application/octet-stream"
        assert body["steps"]["echo"]["inputs"]["text"] == "curl / [REDACTED]"
        assert "curl-secret-value-42" not in json.dumps(body["init_params"]) + json.dumps(body["steps"]["echo"]["inputs"])
        assert "whsec-curl-0001" not in text
        (d,) = wh.wait_for(1)
        assert d.headers["x-mise-trajectory-id"] == body["trajectory_id"]
        assert d.headers["x-mise-signature"] == signature("whsec-curl-0001", d.headers["x-mise-timestamp"], d.body)
    finally:
        wh.close()


MP = "multipart/form-data; boundary=XyZ"


def part(name, value, filename=None):
    disp = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
    return f"--XyZ\r\nContent-Disposition: {disp}\r\n\r\n".encode() + value + b"\r\n"


BAD_FORMS = [
    pytest.param("multipart/form-data", part("init_params", b"{}") + b"--XyZ--\r\n",
                 "multipart/form-data needs a boundary parameter in Content-Type", id="no-boundary"),
    pytest.param(MP, b"--XyZ\r\nContent-Disposition: form-data; name=\"init_params\"\r\n\r\n{}",
                 'malformed multipart/form-data body: missing closing boundary: the body ended inside part 1 ("init_params")',
                 id="unterminated"),
    pytest.param(MP, b"", "malformed multipart/form-data body: the form data is empty", id="empty"),
    pytest.param(MP, b"init_params={}", 'malformed multipart/form-data body: missing opening boundary: no "--XyZ" line in the body',
                 id="not-multipart"),
    pytest.param(MP, part("init_params", b"{not json}") + b"--XyZ--\r\n",
                 "malformed multipart/form-data body: init_params must be a JSON object (invalid JSON at byte 2)",
                 id="init-params-not-json"),
    pytest.param(MP, part("init_params", b"[1, 2]") + b"--XyZ--\r\n",
                 "malformed multipart/form-data body: init_params must be a JSON object (got another JSON type)",
                 id="init-params-array"),
    pytest.param(MP, part("secret_params", b'"s3cr3t"') + b"--XyZ--\r\n",
                 "malformed multipart/form-data body: secret_params must be a JSON object (got another JSON type)",
                 id="secret-params-string"),
    pytest.param(MP, b"".join(part("files", b"x", f"f{i}.txt") for i in range(33)) + b"--XyZ--\r\n",
                 "malformed multipart/form-data body: at most 32 files per run", id="too-many-files"),
    pytest.param(MP, part("document", b"x", "a.pdf") + b"--XyZ--\r\n",
                 'malformed multipart/form-data body: file part "document" is not understood: send uploads as the field "files"',
                 id="file-under-another-name"),
    pytest.param(MP, part("webhook_url", b"ftp://example.com/x") + b"--XyZ--\r\n",
                 "webhook_url must be an http:// or https:// URL", id="webhook-not-http"),
]


@pytest.mark.parametrize("sync", [True, False], ids=["run-sync", "run"])
@pytest.mark.parametrize("ctype,body,detail", BAD_FORMS)
def test_malformed_forms_are_400_saying_what_is_wrong(st, ctype, body, detail, sync):
    st.task("forms", echo_task())
    path = f"/api/v1/{'run-sync' if sync else 'run'}/{COLLECTION}/forms"
    r = st.pier.post(path, token=st.key, data=body, headers={"Content-Type": ctype})
    assert r.status_code == 400, r.text
    assert r.json() == {"detail": detail}
    assert_no_trajectories(st, "forms")


def test_unknown_task_collection_and_foreign_key(st):
    r = st.post_run("no-such-task")
    assert r.status_code == 404 and r.json() == {"detail": f"Task 'no-such-task' not found in collection '{COLLECTION}'"}
    r = st.pier.post("/api/v1/run-sync/nowhere/t", files=form({}))
    assert r.status_code == 404 and r.json() == {"detail": "Collection 'nowhere' not found"}
    st.pier.create_collection("foreign")
    fkey = st.pier.create_key("foreign")["api_key"]
    st.task("mine", echo_task())
    for sync in (True, False):
        r = st.post_run("mine", sync=sync, token=fkey)
        assert r.status_code == 403 and r.json() == {"detail": "API key not valid for this collection"}
    r = st.pier.post(f"/api/v1/run/{COLLECTION}/mine", token=None, files=form({}))
    assert r.status_code == 401
    assert_no_trajectories(st, "mine")


# -- engine semantics ------------------------------------------------------------------------

CHAIN = {
    "init_params": {"list": [{"id": 1, "name": "one"}, {"id": 2, "name": "two"}, {"id": 3, "name": "three"}],
                    "groups": [{"items": [{"id": "a"}, {"id": "b"}]}, {"items": [{"id": "c"}]}], "num": 3},
    "step_configs": {
        "s1": {"activity": "text_echo", "text": "a"},
        "s2": {"activity": "text_echo", "text": "{{ s1.outputs.text }}b n={{init_params.num}} o={{ init_params.list[0] }}"},
        "s3": {"activity": "text_echo", "text_path": "s2.outputs.text", "text": "the _path key wins"},
        "s4": {"activity": "text_echo", "text": {
            "nested": {"v_path": "init_params.list[1].name", "lit": "x", "deep": [{"q_path": "s1.inputs.text"}]},
            "all_path": "init_params.list[*].id",
            "groups_path": "init_params.groups[*].items[*].id",
            "pair_path": ["init_params.num", "s3.outputs.text"],
            "image_path": "acme/t/0000/x.png"}},
    },
    "steps": ["s1", "s2", "s3", "s4"],
}


def test_steps_run_in_order_with_paths_templates_and_fan_out(st):
    st.task("chain", CHAIN)
    r = st.run_sync("chain")
    assert r["status"] == "completed", r["error"]
    steps = r["steps"]
    assert list(steps) == ["s1", "s2", "s3", "s4"]
    assert r["completed_steps"] == r["total_steps"] == ["s1", "s2", "s3", "s4"]
    s2_text = 'ab n=3 o={"id":1,"name":"one"}'
    assert steps["s2"]["outputs"] == {"text": s2_text}
    assert steps["s3"]["inputs"] == {"activity": "text_echo", "text": s2_text}
    resolved = {"nested": {"v": "two", "lit": "x", "deep": [{"q": "a"}]}, "all": [1, 2, 3],
                "groups": [["a", "b"], ["c"]], "pair": [3, s2_text], "image_path": "acme/t/0000/x.png"}
    assert steps["s4"]["inputs"] == {"activity": "text_echo", "text": resolved}
    assert json.loads(steps["s4"]["outputs"]["text"]) == resolved
    # sequential: each step starts after the previous one ended
    for a, b in zip(["s1", "s2", "s3"], ["s2", "s3", "s4"]):
        assert steps[a]["ended"] <= steps[b]["created"], (a, b)
    for s in steps.values():
        assert s["status"] == "completed" and s["error"] is None
        assert s["config"] == CHAIN["step_configs"][s["key"]]


PATH_ERRORS = [
    pytest.param({"step_configs": {"echo": {"activity": "text_echo", "text_path": "init_params.prompt"}}, "steps": ["echo"]},
                 {"promt": "typo", "model": "m"}, "echo",
                 'text_path: path "init_params.prompt" not found: "init_params" has keys promt, model', id="missing-key"),
    pytest.param({"step_configs": {"echo": {"activity": "text_echo", "text_path": "init_params.list[5]"}}, "steps": ["echo"]},
                 {"list": [1, 2, 3]}, "echo",
                 'text_path: path "init_params.list[5]" not found: index 5 out of range: "init_params.list" has 3 elements',
                 id="index-out-of-range"),
    pytest.param({"step_configs": {"echo": {"activity": "text_echo", "text_path": "init_params.prompt[0]"}}, "steps": ["echo"]},
                 {"prompt": "abc"}, "echo",
                 'text_path: path "init_params.prompt[0]" not found: "init_params.prompt" is a string, cannot index [0]',
                 id="wrong-type"),
    pytest.param({"step_configs": {"s1": {"activity": "text_echo", "text": "a"},
                                   "s2": {"activity": "text_echo", "text": "x {{ s1.outputs.nope }}"}}, "steps": ["s1", "s2"]},
                 {}, "s2", 'text: path "s1.outputs.nope" not found: "s1.outputs" has keys text', id="template"),
    pytest.param({"step_configs": {"s1": {"activity": "text_echo", "text": {"deep": {"v_path": "init_params.items[*].id"}}}},
                  "steps": ["s1"]},
                 {"items": [{"id": 1}, {"name": "no id"}]}, "s1",
                 'text.deep.v_path: path "init_params.items[*].id" not found: "init_params.items[1]" has keys name',
                 id="fan-out-element"),
    pytest.param({"step_configs": {"s1": {"activity": "text_echo", "text_path": "s2.outputs.text"},
                                   "s2": {"activity": "text_echo", "text": "later"}}, "steps": ["s1", "s2"]},
                 {}, "s1", 'text_path: path "s2.outputs.text" not found: the context has keys init_params, env',
                 id="later-step"),
    pytest.param({"step_configs": {"s1": {"activity": "text_echo", "text": "{{ init_params.a"}}, "steps": ["s1"]},
                 {"a": 1}, "s1", 'text: unclosed "{{" at byte 0', id="unclosed-template"),
]


@pytest.mark.parametrize("workflow,init,step,error", PATH_ERRORS)
def test_a_path_that_resolves_to_nothing_fails_the_step_with_an_exact_message(st, workflow, init, step, error):
    st.task("paths", workflow)
    r = st.run_sync("paths", init_params=init)
    assert r["status"] == "failed"
    assert r["error"] == f'step "{step}" failed: {error}'
    s = r["steps"][step]
    assert (s["status"], s["error"], s["outputs"]) == ("failed", error, {})
    assert TS.fullmatch(s["ended"]) and s["duration_seconds"] >= 0
    assert step not in r["completed_steps"]
    assert list(r["steps"])[-1] == step, "no step runs after a failed one"


def test_unknown_activity_fails_with_a_clear_message_and_stops_the_run(st):
    wf = {"step_configs": {"s1": {"activity": "text_echo", "text": "a"}, "s2": {"activity": "no_such_activity", "x": 1},
                           "s3": {"activity": "text_echo", "text": "c"}}, "steps": ["s1", "s2", "s3"]}
    st.task("unknown-act", wf)
    r = st.run_sync("unknown-act")
    msg = 'unknown activity "no_such_activity"; see GET /api/v1/step-templates'
    assert (r["status"], r["error"]) == ("failed", f'step "s2" failed: {msg}')
    assert list(r["steps"]) == ["s1", "s2"]
    assert r["steps"]["s2"]["status"] == "failed" and r["steps"]["s2"]["error"] == msg
    assert r["steps"]["s2"]["activity"] == "no_such_activity"
    assert r["completed_steps"] == ["s1"] and r["total_steps"] == ["s1", "s2", "s3"]


def test_an_activity_error_fails_the_run(st):
    st.task("no-text", {"step_configs": {"e": {"activity": "text_echo"}}, "steps": ["e"]})
    r = st.run_sync("no-text")
    assert r["error"] == 'step "e" failed: text is required (or text_path pointing at one)'
    chat = chat_task()
    del chat["step_configs"]["chat"]["model"]
    st.task("no-model", chat)
    r = st.run_sync("no-model")
    assert r["error"] == 'step "chat" failed: model is required (or model_path pointing at one)'
    assert st.mock.requests == []


# -- step templates ---------------------------------------------------------------------------

def test_step_templates_need_no_auth(st):
    r = st.pier.get("/api/v1/step-templates", token=None)
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"templates", "categories", "total_count"}
    assert body["total_count"] == len(body["templates"])
    by_name = {t["activity_name"]: t for t in body["templates"]}
    assert {"litellm_chat", "text_echo"} <= set(by_name)
    for t in body["templates"]:
        assert t["name"] == t["activity_name"]
        assert t["category"] in body["categories"]
        assert isinstance(t["description"], str) and t["description"]
        assert isinstance(t["parameters"], dict)
    assert len(set(body["categories"])) == len(body["categories"])
    assert by_name["text_echo"]["parameters"] == {"text": {"type": "string", "required": True,
                                                           "description": "the text to echo"}}
    assert {"model", "prompt"} <= set(by_name["litellm_chat"]["parameters"])
    one = st.pier.get("/api/v1/step-templates/text_echo", token=None)
    assert one.status_code == 200 and one.json() == by_name["text_echo"]
    missing = st.pier.get("/api/v1/step-templates/no_such_activity", token=None)
    assert missing.status_code == 404
    assert missing.json() == {"detail": 'no activity named "no_such_activity"; GET /api/v1/step-templates lists them'}
