"""Reading runs: one trajectory (both paths) in Jetty's §9 shape with usage and
cost, pages newest first, stats, labels, status changes (cancelling a running
run aborts its model call), the events stream, and secrets: an env value or a
secret_param never appears in a trajectory, an API answer, a webhook, the data
directory or the log."""

import datetime
import json
import os
import threading

import pytest

from conftest import PierServer
from mocks.bedrock import Reply, Stall
from run_util import (COLLECTION, FIXED_ID, SONNET, TS, EventStream, Stack, WebhookReceiver, chat_task,
                      converse_text, echo_task, fixed_id_shim, stack_fixtures, wait_until)

ENV_SECRET = "envsecret-Zq7RkW3mN9pX2vB5"
PARAM_SECRET = "paramsecret-Hd8Lt4Yc6Fj1Gs0"
TRAJ_KEYS = {"name", "trajectory_id", "collection", "task", "storage_path", "status", "created", "updated", "ended",
             "author", "metadata_uri", "org_id", "init_params", "step_configs", "steps", "total_steps",
             "completed_steps", "labels", "error", "triggered_by_routine_id", "webhook_url"}
STEP_KEYS = {"activity", "key", "status", "inputs", "outputs", "error", "depends_on", "created", "ended",
             "duration_seconds", "author", "origin", "config", "usage"}
USAGE_KEYS = {"prompt_tokens", "completion_tokens", "total_tokens", "cache_read_tokens", "cache_creation_tokens",
              "cost_usd", "api_calls"}
SONNET_PRICE = (3.0, 15.0)  # USD per million input / output tokens (src/engine/price.c)


stack, st = stack_fixtures(env={"MY_TOKEN": ENV_SECRET})


def parse_ts(s):
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ")


# -- one trajectory -----------------------------------------------------------------------

def test_trajectory_shape_usage_and_cost(st):
    wf = {"init_params": {"q": "What is 2+2?"},
          "step_configs": {"chat": {"activity": "litellm_chat", "model": SONNET, "model_provider": "bedrock",
                                    "prompt_path": "init_params.q", "max_tokens": 100},
                           "echo": {"activity": "text_echo", "text_path": "chat.outputs.text"}},
          "steps": ["chat", "echo"]}
    st.task("shape", wf)
    st.mock.script(Reply("Four.", usage={"inputTokens": 1234, "outputTokens": 567}))
    tid = st.run_sync("shape")["trajectory_id"]
    t = st.traj("shape", tid)
    assert set(t) == TRAJ_KEYS
    assert (t["name"], t["trajectory_id"], t["collection"], t["task"]) == (f"{COLLECTION}/shape", tid, COLLECTION, "shape")
    assert t["storage_path"] == f"{COLLECTION}/shape/0000"
    assert (t["status"], t["error"], t["author"], t["labels"]) == ("completed", None, "api-key", [])
    assert t["init_params"] == {"q": "What is 2+2?"} and t["step_configs"] == wf["step_configs"]
    assert t["total_steps"] == t["completed_steps"] == ["chat", "echo"]
    for k in ("created", "updated", "ended"):
        assert TS.fullmatch(t[k]), (k, t[k])
    assert t["created"] <= t["updated"] and t["created"] <= t["ended"]
    assert isinstance(t["steps"], dict) and list(t["steps"]) == ["chat", "echo"]
    chat = t["steps"]["chat"]
    assert set(chat) == STEP_KEYS | {"attempts"}
    assert (chat["activity"], chat["key"], chat["status"], chat["error"]) == ("litellm_chat", "chat", "completed", None)
    assert chat["inputs"] == {"activity": "litellm_chat", "model": SONNET, "model_provider": "bedrock",
                              "prompt": "What is 2+2?", "max_tokens": 100}
    assert chat["outputs"]["text"] == "Four." and chat["outputs"]["finish_reason"] == "stop"
    assert (chat["depends_on"], chat["origin"], chat["config"]) == ([], {}, wf["step_configs"]["chat"])
    assert TS.fullmatch(chat["created"]) and TS.fullmatch(chat["ended"])
    span = (parse_ts(chat["ended"]) - parse_ts(chat["created"])).total_seconds()
    assert chat["duration_seconds"] >= 0 and abs(chat["duration_seconds"] - span) < 0.01
    u = chat["usage"]
    assert set(u) == USAGE_KEYS
    assert (u["prompt_tokens"], u["completion_tokens"], u["total_tokens"], u["api_calls"]) == (1234, 567, 1801, 1)
    want = (1234 * SONNET_PRICE[0] + 567 * SONNET_PRICE[1]) / 1e6
    assert u["cost_usd"] == pytest.approx(want, rel=1e-9)  # 0.012207
    echo = t["steps"]["echo"]
    assert set(echo) == STEP_KEYS
    assert echo["inputs"]["text"] == "Four." and echo["outputs"] == {"text": "Four."}
    assert echo["usage"] == dict.fromkeys(USAGE_KEYS, 0)
    assert st.traj_response("shape", tid, prefix="/api/v1/trajectory").json() == t


def test_unknown_trajectory_task_or_collection_is_404(st):
    st.task("known", echo_task())
    tid = st.run_sync("known")["trajectory_id"]
    r = st.traj_response("known", "deadbeef")
    assert r.status_code == 404 and r.json() == {"detail": f"Trajectory 'deadbeef' not found in {COLLECTION}/known"}
    r = st.traj_response("other-task", tid)
    assert r.status_code == 404, "a trajectory is only found under its own task"
    r = st.pier.get(f"/api/v1/db/trajectory/nowhere/known/{tid}")
    assert r.status_code == 404 and r.json() == {"detail": "Collection 'nowhere' not found"}
    st.pier.create_collection("outsider")
    okey = st.pier.create_key("outsider")["api_key"]
    for path in (f"/api/v1/db/trajectory/{COLLECTION}/known/{tid}", f"/api/v1/trajectory/{COLLECTION}/known/{tid}",
                 f"/api/v1/db/trajectories/{COLLECTION}/known", f"/api/v1/db/stats/{COLLECTION}/known",
                 f"/api/v1/db/trajectory/{COLLECTION}/known/{tid}/events"):
        r = st.pier.get(path, token=okey)
        assert r.status_code == 403 and r.json() == {"detail": "API key not valid for this collection"}, path


def test_a_new_run_or_chat_record_never_overwrites_a_stored_trajectory_with_the_same_id(tmp_path):
    """Trajectory ids are 8 random hex digits, unique only among *live* runs. With the
    random draw pinned (LD_PRELOAD shim: every id is abcdef01) a second run — in another
    collection — and a chat record get the id of a finished trajectory: they must not
    replace it (a retry with another id, or an error, are both fine)."""
    env = {"LD_PRELOAD": fixed_id_shim(str(tmp_path)),
           "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0:verify_asan_link_order=0"}
    s = Stack(pier=PierServer(env=env, args=["--upstream-retry-base-ms", "10"]))
    try:
        s.task("first", echo_task("the first run"))
        first = s.run_sync("first")
        assert first["trajectory_id"] == FIXED_ID, "the shim pins ids"
        stored = s.traj("first", FIXED_ID)
        s.pier.create_collection("second-coll")
        s.pier.post("/api/v1/tasks/second-coll", json={"name": "second", "workflow": echo_task("the second run")})
        r = s.pier.post("/api/v1/run-sync/second-coll/second", files=[("use_trial_keys", (None, "false"))])
        assert r.status_code in (200, 500), r.text
        after = s.traj("first", FIXED_ID)
        assert (after["name"], after["steps"]["echo"]["outputs"]) == (stored["name"], stored["steps"]["echo"]["outputs"])
        assert after == stored
        if r.status_code == 200:
            tid = r.json()["trajectory_id"]
            assert tid != FIXED_ID
            assert s.pier.get(f"/api/v1/db/trajectory/second-coll/second/{tid}").json()["name"] == "second-coll/second"
        chat = s.pier.post("/v1/chat/completions", token=s.key,
                           json={"model": "bedrock/" + SONNET, "messages": [{"role": "user", "content": "hi"}]})
        assert chat.status_code == 200, chat.text
        # the record lands under _chat with another id, or (every id pinned here) is refused and
        # logged -- but never written over the first trajectory (the bug)
        wait_until(lambda: s.page("_chat")["total"] or "could not record chat trajectory" in s.pier.stderr()
                   or s.traj("first", FIXED_ID) != stored, 5, "the chat record")
        assert s.traj("first", FIXED_ID) == stored
    finally:
        s.close()


# -- pages ---------------------------------------------------------------------------------

def test_pages_are_newest_first(st):
    st.task("pages", echo_task(text_path="init_params.i"))
    ids = [st.run_sync("pages", init_params={"i": i})["trajectory_id"] for i in range(5)]
    newest_first = ids[::-1]
    p1 = st.page("pages", limit=2, page=1)
    assert set(p1) == {"trajectories", "total", "page", "limit", "has_more"}
    assert (p1["total"], p1["page"], p1["limit"], p1["has_more"]) == (5, 1, 2, True)
    assert [t["trajectory_id"] for t in p1["trajectories"]] == newest_first[:2]
    assert p1["trajectories"][0] == st.traj("pages", ids[-1])
    p2 = st.page("pages", limit=2, page=2)
    assert [t["trajectory_id"] for t in p2["trajectories"]] == newest_first[2:4] and p2["has_more"] is True
    p3 = st.page("pages", limit=2, page=3)
    assert [t["trajectory_id"] for t in p3["trajectories"]] == newest_first[4:] and p3["has_more"] is False
    p4 = st.page("pages", limit=2, page=4)
    assert (p4["trajectories"], p4["has_more"], p4["total"]) == ([], False, 5)
    default = st.page("pages")
    assert (default["page"], default["limit"], default["has_more"]) == (1, 10, False)
    assert [t["trajectory_id"] for t in default["trajectories"]] == newest_first
    assert st.page("no-runs-here") == {"trajectories": [], "total": 0, "page": 1, "limit": 10, "has_more": False}
    for bad in ({"page": "0"}, {"page": "x"}, {"limit": "-1"}):
        r = st.pier.get(f"/api/v1/db/trajectories/{COLLECTION}/pages", token=st.key, params=bad)
        assert r.status_code == 422, (bad, r.text)


# -- stats, labels, statuses -----------------------------------------------------------------

def test_stats_count_by_status_with_mean_duration(st):
    st.task("stats", echo_task(text_path="init_params.t"))
    done = [st.run_sync("stats", init_params={"t": str(i)}) for i in range(3)]
    failed = st.run_sync("stats", init_params={})
    assert failed["status"] == "failed"
    st.task("stats-chat", chat_task())
    st.mock.script(Stall(30))
    tid = st.run_async("stats-chat")
    st.mock.wait_for_requests(1)
    s = st.stats("stats-chat")
    assert (s["total"], s["completed"], s["mean_duration_seconds"]) == (1, 0, 0), s
    st.cancel("stats-chat", tid)
    st.wait_status("stats-chat", tid)
    s = st.stats("stats")
    counts = {"pending": 0, "running": 0, "completed": 3, "failed": 1, "cancelled": 0, "archived": 0}
    assert s == {"name": f"{COLLECTION}/stats", "total": 4, "by_status": counts, **counts,
                 "mean_duration_seconds": s["mean_duration_seconds"]}
    spans = [(parse_ts(t["updated"]) - parse_ts(t["created"])).total_seconds() for t in done + [failed]]
    assert s["mean_duration_seconds"] == pytest.approx(sum(spans) / 4, abs=0.005)
    s = st.stats("stats-chat")
    assert (s["total"], s["cancelled"], s["by_status"]["cancelled"]) == (1, 1, 1)
    assert s["mean_duration_seconds"] > 0


def test_labels_appear_in_get_and_list(st):
    st.task("labels", echo_task())
    tid = st.run_sync("labels")["trajectory_id"]
    url = f"/api/v1/trajectory/{COLLECTION}/labels/{tid}/labels"
    r = st.pier.post(url, token=st.key, json={"key": "quality", "value": "high", "author": "qa@example.com"})
    assert r.status_code == 200, r.text
    lab = r.json()
    assert set(lab) == {"key", "value", "author", "created", "trajectory_id"}
    assert (lab["key"], lab["value"], lab["author"], lab["trajectory_id"]) == ("quality", "high", "qa@example.com", tid)
    assert TS.fullmatch(lab["created"])
    r = st.pier.post(url, token=st.key, json={"key": "score.judge", "value": "0.8", "author": "judge"})
    assert r.status_code == 200
    want = [{"key": "quality", "value": "high", "author": "qa@example.com", "created": lab["created"]},
            {"key": "score.judge", "value": "0.8", "author": "judge", "created": r.json()["created"]}]
    assert st.traj("labels", tid)["labels"] == want
    assert st.page("labels")["trajectories"][0]["labels"] == want
    for body in ({"key": "k", "value": "v"}, {"key": "k", "value": 1, "author": "a"}, {"key": "", "value": "v", "author": "a"}):
        bad = st.pier.post(url, token=st.key, json=body)
        assert bad.status_code == 422, (body, bad.text)
    missing = st.pier.post(f"/api/v1/trajectory/{COLLECTION}/labels/deadbeef/labels", token=st.key,
                           json={"key": "k", "value": "v", "author": "a"})
    assert missing.status_code == 404 and missing.json() == {"detail": "Trajectory 'deadbeef' not found"}
    assert st.traj("labels", tid)["labels"] == want


def test_status_changes_of_stored_runs(st):
    st.task("statuses", echo_task())
    a = st.run_sync("statuses")["trajectory_id"]
    url = f"/api/v1/trajectory/{COLLECTION}/statuses/statuses"
    r = st.pier.post(url, token=st.key, json={a: "archived", "deadbeef": "archived"})
    assert r.status_code == 200, r.text
    assert r.json() == {"results": {a: "archived", "deadbeef": "not found"}}
    assert st.traj("statuses", a)["status"] == "archived"
    assert st.stats("statuses")["archived"] == 1
    r = st.pier.post(url, token=st.key, json={a: "bogus"})
    assert r.status_code == 422
    assert r.json() == {"detail": f"status of {a} must be one of pending, completed, failed, cancelled, archived"}
    r = st.pier.post(url, token=st.key, json={})
    assert r.status_code == 422 and r.json() == {"detail": 'send {"<trajectory_id>": "cancelled", ...}'}


def test_cancelling_a_running_trajectory_aborts_its_model_call(st):
    wf = chat_task()
    wf["step_configs"]["after"] = {"activity": "text_echo", "text": "never"}
    wf["steps"].append("after")
    st.task("cancel", wf)
    st.mock.script(Stall(30))
    tid = st.run_async("cancel")
    (rec,) = st.mock.wait_for_requests(1)
    r = st.cancel("cancel", tid)
    assert r.status_code == 200 and r.json() == {"results": {tid: "cancelled"}}
    gone = st.mock.wait_for_disconnect(10)
    assert gone is rec and not rec.completed
    t = st.wait_status("cancel", tid)
    msg = 'cancelled by a status change to "cancelled"'
    assert (t["status"], t["error"]) == ("cancelled", f'step "chat" cancelled: {msg}')
    assert (t["steps"]["chat"]["status"], t["steps"]["chat"]["error"]) == ("cancelled", msg)
    assert "after" not in t["steps"] and t["completed_steps"] == []
    assert len(st.mock.requests) == 1
    # cancelling it again changes nothing that matters
    again = st.cancel("cancel", tid)
    assert again.status_code == 200 and again.json() == {"results": {tid: "cancelled"}}
    assert st.traj("cancel", tid)["status"] == "cancelled"


def test_run_sync_waiter_gets_the_cancelled_trajectory(st):
    st.task("cancel-sync", chat_task())
    st.mock.script(Stall(30))
    out = {}
    th = threading.Thread(target=lambda: out.setdefault("r", st.post_run("cancel-sync")))
    th.start()
    st.mock.wait_for_requests(1)
    (t,) = wait_until(lambda: st.page("cancel-sync")["trajectories"], 10, "the run to be stored")
    assert st.cancel("cancel-sync", t["trajectory_id"]).json() == {"results": {t["trajectory_id"]: "cancelled"}}
    th.join(20)
    r = out["r"]
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "cancelled" and r.json()["trajectory"]["status"] == "cancelled"
    assert r.json()["trajectory"] == st.traj("cancel-sync", t["trajectory_id"])


def test_status_is_running_while_the_first_step_executes(st):
    """Jetty: pending = waiting for a slot, running = executing. A run whose first model
    call is in flight must read as running (GET, list, stats, events snapshot)."""
    st.task("running", chat_task())
    st.mock.script(Stall(30))
    tid = st.run_async("running")
    st.mock.wait_for_requests(1)
    try:
        assert st.traj("running", tid)["status"] == "running"
        assert st.page("running")["trajectories"][0]["status"] == "running"
        assert st.stats("running")["running"] == 1
        ev = EventStream(st.pier, f"/api/v1/db/trajectory/{COLLECTION}/running/{tid}/events", st.key)
        try:
            assert ev.next() == ("status", '{"status":"running"}')
        finally:
            ev.close()
    finally:
        st.cancel("running", tid)
        st.wait_status("running", tid)


def test_a_collection_key_cannot_cancel_another_collections_run(st):
    """POST /trajectory/{c}/{t}/statuses with {c} = the caller's collection must not
    reach a run of another collection (or of another task) by its id."""
    st.task("victim", chat_task())
    st.mock.script(Stall(30, then=Reply("survived")))
    tid = st.run_async("victim")
    st.mock.wait_for_requests(1)
    st.pier.create_collection("intruder")
    ikey = st.pier.create_key("intruder")["api_key"]
    try:
        r = st.pier.post("/api/v1/trajectory/intruder/anything/statuses", token=ikey, json={tid: "cancelled"})
        assert r.status_code == 200, r.text
        assert r.json() == {"results": {tid: "not found"}}
        r = st.pier.post(f"/api/v1/trajectory/{COLLECTION}/other-task/statuses", token=st.key, json={tid: "cancelled"})
        assert r.json() == {"results": {tid: "not found"}}
        assert not st.mock.disconnected.is_set(), "the victim's model call was aborted"
        assert st.traj("victim", tid)["status"] in ("pending", "running")
    finally:
        st.cancel("victim", tid)
        st.wait_status("victim", tid)


# -- events ---------------------------------------------------------------------------------

def test_events_of_a_finished_run_end_at_once(st):
    st.task("ev-done", echo_task("done"))
    tid = st.run_sync("ev-done")["trajectory_id"]
    ev = EventStream(st.pier, f"/api/v1/db/trajectory/{COLLECTION}/ev-done/{tid}/events", st.key)
    try:
        assert ev.resp.status == 200
        assert ev.resp.getheader("Content-Type") == "text/event-stream; charset=utf-8"
        assert ev.resp.getheader("Cache-Control") == "no-cache"
        events = ev.all()
    finally:
        ev.close()
    assert [name for name, _ in events] == ["end"]
    assert json.loads(events[0][1]) == st.traj("ev-done", tid)
    r = st.pier.get(f"/api/v1/db/trajectory/{COLLECTION}/ev-done/deadbeef/events", token=st.key)
    assert r.status_code == 404 and r.json() == {"detail": "Trajectory 'deadbeef' not found"}


def test_events_stream_step_events_until_the_run_ends():
    """One slot: a stalled blocker holds it, so the watched run is still queued when the
    stream opens; cancelling the blocker lets it run while we watch."""
    s = Stack(args=["--max-concurrent-runs", "1"])
    try:
        s.task("blocker", chat_task())
        s.task("watched", {"step_configs": {"a": {"activity": "text_echo", "text": "1"},
                                            "b": {"activity": "text_echo", "text": "{{ a.outputs.text }}2"}},
                           "steps": ["a", "b"]})
        s.mock.script(Stall(30))
        blocker = s.run_async("blocker")
        s.mock.wait_for_requests(1)
        tid = s.run_async("watched")
        assert s.traj("watched", tid)["status"] == "pending"
        ev = EventStream(s.pier, f"/api/v1/db/trajectory/{COLLECTION}/watched/{tid}/events", s.key)
        try:
            assert ev.next() == ("status", '{"status":"pending"}')
            s.cancel("blocker", blocker)
            events = ev.all()
        finally:
            ev.close()
        names = [n for n, _ in events]
        assert names == ["run_started", "step_started", "step_completed", "step_started", "step_completed",
                         "run_ended", "end"], names
        data = [json.loads(d) for _, d in events]
        for name, d in zip(names[:-1], data[:-1]):
            assert d["event"] == name and d["trajectory_id"] == tid
        assert [d["step"]["key"] for d in data[1:5]] == ["a", "a", "b", "b"]
        assert [d["step"]["status"] for d in data[1:5]] == ["running", "completed", "running", "completed"]
        assert data[4]["step"]["outputs"] == {"text": "12"}
        assert (data[5]["status"], data[0]["status"]) == ("completed", "running")
        final = data[-1]
        assert final["status"] == "completed" and final == s.traj("watched", tid)
    finally:
        s.close()


def test_events_keep_alive_and_a_watcher_leaving_early():
    """An idle stream gets ': keep-alive' comments; a client that goes away mid-run
    leaves the run (and the server) unharmed."""
    s = Stack(args=["--sse-keepalive-ms", "50"])
    try:
        s.task("idle", chat_task())
        s.mock.script(Stall(30, then=Reply("after")))
        tid = s.run_async("idle")
        s.mock.wait_for_requests(1)
        ev = EventStream(s.pier, f"/api/v1/db/trajectory/{COLLECTION}/idle/{tid}/events", s.key)
        assert ev.next()[0] == "status"
        name, data = ev.next()  # joining mid-step: the running step is announced first
        step = json.loads(data)["step"]
        assert name == "step_started" and (step["key"], step["status"]) == ("chat", "running")
        for _ in range(2):
            assert ev.resp.readline() == b": keep-alive\n" and ev.resp.readline() == b"\n"
        ev.close()
        leaver = EventStream(s.pier, f"/api/v1/db/trajectory/{COLLECTION}/idle/{tid}/events", s.key)
        assert leaver.next()[0] == "status"
        leaver.close()
        s.cancel("idle", tid)
        assert s.wait_status("idle", tid)["status"] == "cancelled"
        assert s.pier.get("/api/v1/health").status_code == 200
    finally:
        s.close()


def test_cancelling_a_queued_run_means_it_never_starts():
    s = Stack(args=["--max-concurrent-runs", "1"])
    try:
        s.task("blocker", chat_task())
        s.task("queued", echo_task("never"))
        s.mock.script(Stall(30))
        blocker = s.run_async("blocker")
        s.mock.wait_for_requests(1)
        q = s.run_async("queued")
        assert s.cancel("queued", q).json() == {"results": {q: "cancelled"}}
        t = s.wait_status("queued", q)
        assert (t["status"], t["error"], t["steps"]) == ("cancelled", "cancelled before it started", {})
        after = s.run_async("queued")  # queued behind the blocker too, and not cancelled
        s.cancel("blocker", blocker)
        assert s.wait_status("queued", after)["status"] == "completed"
        assert s.traj("queued", q) == t
    finally:
        s.close()


# -- secrets ---------------------------------------------------------------------------------

def secret_free(text, where):
    for secret in (ENV_SECRET, PARAM_SECRET):
        assert secret not in text, f"{secret[:10]}... leaked in {where}"


def test_secrets_are_redacted_from_trajectories_and_every_answer(st):
    wf = {"init_params": {"q": "hello"},
          "step_configs": {"chat": {"activity": "litellm_chat", "model": SONNET, "model_provider": "bedrock",
                                    "prompt": "Key {{ env.MY_TOKEN }} and {{ env.API_SECRET }}: {{ init_params.q }}",
                                    "system_prompt_path": "env.API_SECRET", "max_tokens": 50},
                           "echo": {"activity": "text_echo", "text": "ok"}},
          "steps": ["chat", "echo"]}
    st.task("secrets", wf)
    wh = WebhookReceiver()
    try:
        r = st.post_run("secrets", secret_params={"API_SECRET": PARAM_SECRET}, webhook_url=wh.url,
                        webhook_secret="whsec-secrets-test")
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["status"] == "completed", body["error"]
        tid = body["trajectory_id"]
        # the model got the real values
        (rec,) = st.mock.requests
        assert converse_text(rec) == f"Key {ENV_SECRET} and {PARAM_SECRET}: hello"
        assert rec.json["system"] == [{"text": PARAM_SECRET}]
        # the record shows they were there, not what they are
        inputs = body["steps"]["chat"]["inputs"]
        assert inputs["prompt"] == "Key [REDACTED] and [REDACTED]: hello"
        assert inputs["system_prompt"] == "[REDACTED]"
        answers = {"run-sync": r.text}
        for prefix in ("/api/v1/db/trajectory", "/api/v1/trajectory"):
            answers[prefix] = st.traj_response("secrets", tid, prefix=prefix).text
        answers["list"] = st.pier.get(f"/api/v1/db/trajectories/{COLLECTION}/secrets", token=st.key).text
        answers["stats"] = st.pier.get(f"/api/v1/db/stats/{COLLECTION}/secrets", token=st.key).text
        answers["label"] = st.pier.post(f"/api/v1/trajectory/{COLLECTION}/secrets/{tid}/labels", token=st.key,
                                        json={"key": "k", "value": "v", "author": "a"}).text
        ev = EventStream(st.pier, f"/api/v1/db/trajectory/{COLLECTION}/secrets/{tid}/events", st.key)
        answers["events"] = json.dumps(ev.all())
        ev.close()
        (d,) = wh.wait_for(1)
        answers["webhook"] = d.body.decode()
        for where, text in answers.items():
            secret_free(text, where)
            assert "whsec-secrets-test" not in text, where
        assert json.loads(answers["webhook"])["steps"]["chat"]["inputs"]["prompt"] == "Key [REDACTED] and [REDACTED]: hello"
    finally:
        wh.close()
    # nothing on disk in the clear, nothing in the log
    for root, _, files in os.walk(st.pier.data_dir):
        for f in files:
            if not os.path.isfile(os.path.join(root, f)) or os.path.islink(os.path.join(root, f)):
                continue  # sockets (gateway.sock) and links hold no data
            with open(os.path.join(root, f), "rb") as fh:
                data = fh.read()
            for secret in (ENV_SECRET, PARAM_SECRET, "whsec-secrets-test"):
                assert secret.encode() not in data, f"{secret[:10]}... in clear in {f}"
    secret_free(st.pier.stderr(), "pier's log")


def test_a_secret_passed_on_by_a_step_is_redacted_from_its_outputs(st):
    """A step that outputs an env value (here text_echo of {{ env.X }}) must not write
    it into the trajectory: STYLE.md, 'Secrets never reach ... a trajectory'."""
    st.task("echo-secret", {"step_configs": {"leak": {"activity": "text_echo", "text": "t={{ env.MY_TOKEN }}"},
                                             "leak2": {"activity": "text_echo", "text_path": "env.API_SECRET"}},
                            "steps": ["leak", "leak2"]})
    r = st.post_run("echo-secret", secret_params={"API_SECRET": PARAM_SECRET})
    assert r.status_code == 200 and r.json()["status"] == "completed", r.text
    assert r.json()["steps"]["leak"]["inputs"]["text"] == "t=[REDACTED]"
    secret_free(r.text, "the run-sync answer")
    secret_free(st.traj_response("echo-secret", r.json()["trajectory_id"]).text, "the stored trajectory")


def test_a_secret_quoted_in_a_step_error_is_redacted(st):
    """An error message that quotes a resolved input (here the model name, taken from a
    secret_param) must not carry the secret into the trajectory's error fields."""
    st.task("error-secret", {"step_configs": {"c": {"activity": "litellm_chat", "model_path": "env.API_SECRET",
                                                    "prompt": "x"}}, "steps": ["c"]})
    r = st.post_run("error-secret", secret_params={"API_SECRET": PARAM_SECRET})
    assert r.status_code == 200 and r.json()["status"] == "failed", r.text
    assert r.json()["steps"]["c"]["inputs"]["model"] == "[REDACTED]"
    assert r.json()["error"].startswith('step "c" failed: cannot tell which provider serves "')
    secret_free(r.text, "the run-sync answer")
    secret_free(st.traj_response("error-secret", r.json()["trajectory_id"]).text, "the stored trajectory")
    assert st.mock.requests == []
