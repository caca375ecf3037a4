"""Runs survive the server: killed (SIGKILL) or stopped (SIGTERM) while a model call
is stalled in the mock, the restarted server resumes each run from its last
completed step — completed steps never run again, the step in flight runs again.
Async runs wait in a persistent queue under --max-concurrent-runs; 1,000 of them
all complete exactly once across a restart in the middle."""

import signal
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from mocks.bedrock import Reply, Stall
from run_util import (COLLECTION, SONNET, EventStream, Stack, WebhookReceiver, chat_task, converse_text, echo_task,
                      form, wait_until)

THREE = {"init_params": {},
         "step_configs": {n: {"activity": "litellm_chat", "model": SONNET, "model_provider": "bedrock",
                              "prompt": f"this is step {n}", "max_tokens": 16} for n in ("one", "two", "three")},
         "steps": ["one", "two", "three"]}


def restart(pier, how, leaks_checked_elsewhere=False):
    """SIGKILL or SIGTERM, then start on the same data directory. PierServer.stop checks
    the exit code and, under sanitizers, the report; leaks_checked_elsewhere keeps every
    check but LeakSanitizer's (a known leak has its own test, see
    test_sigterm_with_runs_waiting_in_the_queue_exits_cleanly_and_they_resume)."""
    if how == "SIGKILL":
        pier.kill()
    elif leaks_checked_elsewhere:
        rc = pier.stop(sig=signal.SIGTERM, check=False)
        err = pier.stderr()
        assert rc == 0 or ("LeakSanitizer" in err and "ERROR: AddressSanitizer" not in err), f"exit {rc}\n{err[-3000:]}"
        assert "ERROR: AddressSanitizer" not in err and "runtime error:" not in err, err[-3000:]
    else:
        assert pier.stop(sig=signal.SIGTERM) == 0
    pier.start()


def prompts(mock):
    return [converse_text(r) for r in mock.requests]


@pytest.mark.parametrize("how", ["SIGKILL", "SIGTERM"])
def test_a_run_resumes_from_its_last_completed_step(how):
    s = Stack()
    try:
        s.task("three", THREE)
        s.mock.script(Reply("A"), Stall(60), Reply("B"), Reply("C"))
        tid = s.run_async("three")
        s.mock.wait_for_requests(2)
        before = s.traj("three", tid)
        assert before["completed_steps"] == ["one"], "step one is durable before step two starts"
        assert before["status"] == "running"
        restart(s.pier, how)
        t = s.wait_status("three", tid)
        assert t["status"] == "completed", t["error"]
        assert prompts(s.mock) == ["this is step one", "this is step two", "this is step two", "this is step three"]
        first_two = s.mock.requests[1]
        assert first_two.client_disconnected and not first_two.completed
        assert [t["steps"][n]["outputs"]["text"] for n in ("one", "two", "three")] == ["A", "B", "C"]
        assert t["steps"]["one"] == before["steps"]["one"], "a completed step is kept as it was"
        assert t["completed_steps"] == ["one", "two", "three"]
        assert t["created"] == before["created"]
        assert [x["trajectory_id"] for x in s.page("three")["trajectories"]] == [tid]
    finally:
        s.close()


def test_run_sync_waiter_gets_202_on_sigterm_and_the_run_resumes():
    s = Stack()
    try:
        s.task("sync-stop", chat_task())
        s.mock.script(Stall(60))
        out = {}
        th = threading.Thread(target=lambda: out.setdefault("r", s.post_run("sync-stop")))
        th.start()
        s.mock.wait_for_requests(1)
        assert s.pier.stop(sig=signal.SIGTERM) == 0
        th.join(20)
        r = out["r"]
        assert r.status_code == 202, r.text
        tid = r.json()["trajectory_id"]
        assert r.json() == {"message": "Workflow still running; it resumes when the server restarts",
                            "workflow_id": f"{COLLECTION}-sync-stop--{tid}", "trajectory_id": tid, "result": {},
                            "status": "running", "trajectory": {}, "metadata": ""}
        s.pier.start()
        t = s.wait_status("sync-stop", tid)
        assert t["status"] == "completed" and t["steps"]["chat"]["outputs"]["text"] == "PONG"
        assert len(s.mock.requests) == 2
    finally:
        s.close()


def test_cancelled_runs_stay_cancelled_after_a_restart():
    s = Stack()
    try:
        s.task("cancel-restart", chat_task())
        s.mock.script(Stall(60))
        tid = s.run_async("cancel-restart")
        s.mock.wait_for_requests(1)
        s.cancel("cancel-restart", tid)
        assert s.wait_status("cancel-restart", tid)["status"] == "cancelled"
        s.pier.kill()
        s.pier.start()
        assert s.traj("cancel-restart", tid)["status"] == "cancelled"
        assert len(s.mock.requests) == 1
    finally:
        s.close()


def test_async_runs_wait_for_a_slot_under_max_concurrent_runs():
    """--max-concurrent-runs 2: two stalled async runs hold both slots; an async echo run
    submitted next stays pending while a run-sync echo (which does not queue) submitted
    after it completes; freeing a slot lets the queued one run."""
    s = Stack(args=["--max-concurrent-runs", "2"])
    try:
        s.task("stalled", chat_task())
        s.task("quick", echo_task("quick"))
        s.mock.script(Stall(30), Stall(30))
        a, b = s.run_async("stalled"), s.run_async("stalled")
        s.mock.wait_for_requests(2)
        queued = s.run_async("quick")
        assert s.run_sync("quick")["status"] == "completed"
        assert s.traj("quick", queued)["status"] == "pending"
        assert s.stats("quick")["pending"] == 1
        s.cancel("stalled", a)
        assert s.wait_status("quick", queued)["status"] == "completed"
        assert s.traj("stalled", b)["status"] in ("pending", "running")
        assert len(s.mock.requests) == 2
        s.cancel("stalled", b)
        assert s.wait_status("stalled", b)["status"] == "cancelled"
    finally:
        s.close()


def test_sigterm_with_runs_waiting_in_the_queue_exits_cleanly_and_they_resume():
    """SIGTERM while async runs wait for a slot: exit 0 with nothing leaked (checked under
    sanitizers by PierServer.stop), watchers told "shutdown", and the runs finish after
    the restart."""
    s = Stack(args=["--max-concurrent-runs", "1"])
    try:
        s.task("holder", chat_task())
        s.task("waiting", echo_task("resumed"))
        s.mock.script(Stall(60))
        holder = s.run_async("holder")
        s.mock.wait_for_requests(1)
        waiting = [s.run_async("waiting") for _ in range(3)]
        assert s.stats("waiting")["pending"] == 3
        ev = EventStream(s.pier, f"/api/v1/db/trajectory/{COLLECTION}/waiting/{waiting[0]}/events", s.key)
        assert ev.next() == ("status", '{"status":"pending"}')
        s.pier.stop(sig=signal.SIGTERM)  # asserts exit 0 and no sanitizer report
        assert ev.all() == [("shutdown", "{}")]
        ev.close()
        s.pier.start()
        for tid in waiting:
            t = s.wait_status("waiting", tid)
            assert t["status"] == "completed" and t["steps"]["echo"]["outputs"] == {"text": "resumed"}
        assert s.wait_status("holder", holder)["status"] == "completed"
    finally:
        s.close()


class Submitter:
    """Submit async runs from a few threads, each with its own keep-alive session."""

    def __init__(self, stack, task, webhook_url):
        self.url = f"{stack.pier.url}/api/v1/run/{COLLECTION}/{task}"
        self.headers = {"Authorization": f"Bearer {stack.key}"}
        self.webhook_url = webhook_url
        self.local = threading.local()

    def one(self, n):
        sess = getattr(self.local, "s", None) or requests.Session()
        self.local.s = sess
        r = sess.post(self.url, headers=self.headers, timeout=60,
                      files=form({"n": n}, webhook_url=self.webhook_url))
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["status"] == "pending"
        return body["trajectory_id"], n

    def many(self, ns):
        with ThreadPoolExecutor(8) as ex:
            return dict(ex.map(self.one, ns))


def all_trajectories(s, task):
    out, page = [], 1
    while True:
        p = s.page(task, limit=100, page=page)
        out += p["trajectories"]
        if not p["has_more"]:
            return out
        page += 1


@pytest.mark.parametrize("how", ["SIGTERM", "SIGKILL"])
def test_a_thousand_queued_runs_complete_exactly_once_across_a_restart(how):
    """500 echo runs drain through 4 slots; 4 stalled blockers then hold every slot, so the
    next 500 wait in the queue; the server restarts; everything completes, each run once
    (one webhook per trajectory), none lost, each with its own input."""
    s = Stack(args=["--max-concurrent-runs", "4"])
    hook = WebhookReceiver()
    try:
        s.task("echo", echo_task(text_path="init_params.n"))
        s.task("blocker", chat_task(prompt="block"))
        sub = Submitter(s, "echo", hook.url)
        ids = sub.many(range(500))
        wait_until(lambda: s.stats("echo")["completed"] == 500, 60, "the first 500 runs")
        hook.wait_for(500, timeout=60)
        s.mock.script(*[Stall(60)] * 4)
        blockers = [s.run_async("blocker") for _ in range(4)]
        s.mock.wait_for_requests(4)
        ids.update(sub.many(range(500, 1000)))
        assert len(ids) == 1000
        stats = s.stats("echo")
        assert (stats["completed"], stats["pending"], stats["total"]) == (500, 500, 1000), stats
        assert len(hook.deliveries) == 500
        restart(s.pier, how, leaks_checked_elsewhere=True)
        wait_until(lambda: s.stats("echo")["completed"] == 1000, 90, "all 1000 runs")
        wait_until(lambda: s.stats("blocker")["completed"] == 4, 30, "the blockers")
        stats = s.stats("echo")
        assert stats["total"] == 1000 and stats["by_status"] == {"pending": 0, "running": 0, "completed": 1000,
                                                                 "failed": 0, "cancelled": 0, "archived": 0}
        trajs = all_trajectories(s, "echo")
        assert sorted(t["trajectory_id"] for t in trajs) == sorted(ids)
        for t in trajs:
            assert t["status"] == "completed" and t["completed_steps"] == ["echo"], t
            assert t["steps"]["echo"]["outputs"] == {"text": str(ids[t["trajectory_id"]])}
        hook.wait_for(1000, timeout=60)
        per_run = hook.by_trajectory()
        assert set(per_run) == set(ids)
        twice = {tid: len(ds) for tid, ds in per_run.items() if len(ds) != 1}
        assert twice == {}, f"runs completed more than once: {twice}"
        for tid in blockers:
            assert s.traj("blocker", tid)["status"] == "completed"
        assert prompts(s.mock) == ["block"] * 8  # 4 stalled, 4 after the restart
    finally:
        hook.close()
        s.close()


@pytest.mark.parametrize("how", ["SIGKILL", "SIGTERM"])
def test_a_resumed_fan_out_waits_for_its_children_instead_of_starting_them_again(how):
    """list_emit_await with one child at a time: child "a" completes, child "b" is stalled
    in the mock when the server goes down, "c" has not started. After the restart the
    parent takes over a (ended) and b (resumed: its chat step runs again), then starts c:
    three children in all, four model calls, and the references name the children of
    before the restart. --max-concurrent-runs 1: the resumed parent holds the only slot
    while its resumed child runs."""
    s = Stack(args=["--max-concurrent-runs", "1"])
    try:
        s.task("kid", {"init_params": {"item": "none"},
                       "step_configs": {"chat": {"activity": "litellm_chat", "model": SONNET,
                                                 "model_provider": "bedrock", "prompt": "kid {{ init_params.item }}",
                                                 "max_tokens": 8}},
                       "steps": ["chat"]})
        s.task("fan", {"init_params": {},
                       "step_configs": {"fan": {"activity": "list_emit_await", "items_path": "init_params.names",
                                                "child_workflow_name": "kid", "item_param_name": "item",
                                                "max_concurrency": 1}},
                       "steps": ["fan"]})
        s.mock.script(Reply("A"), Stall(60))
        tid = s.run_async("fan", init_params={"names": ["a", "b", "c"]})
        s.mock.wait_for_requests(2)
        before = {t["init_params"]["item"]: t for t in all_trajectories(s, "kid")}
        assert sorted(before) == ["a", "b"]
        assert before["a"]["status"] == "completed" and before["b"]["status"] == "running"
        assert [(before[k]["parent_trajectory_id"], before[k]["parent_step"], before[k]["parent_item"])
                for k in "ab"] == [(tid, "fan", 0), (tid, "fan", 1)]
        s.mock.script(Reply("B"), Reply("C"))
        restart(s.pier, how)
        t = s.wait_status("fan", tid)
        assert t["status"] == "completed", t["error"]
        refs = t["steps"]["fan"]["outputs"]["trajectory_references"]
        all_kids = all_trajectories(s, "kid")
        assert sorted(k["init_params"]["item"] for k in all_kids) == ["a", "b", "c"], "none started twice"
        kids = {k["init_params"]["item"]: k for k in all_kids}
        assert [r["trajectory_id"] for r in refs] == [kids[k]["trajectory_id"] for k in "abc"]
        assert refs[0]["trajectory_id"] == before["a"]["trajectory_id"]
        assert refs[1]["trajectory_id"] == before["b"]["trajectory_id"]
        assert [(r["status"], r["index"]) for r in refs] == [("completed", 0), ("completed", 1), ("completed", 2)]
        assert [kids[k]["steps"]["chat"]["outputs"]["text"] for k in "abc"] == ["A", "B", "C"]
        assert prompts(s.mock) == ["kid a", "kid b", "kid b", "kid c"]
        assert t["steps"]["fan"]["outputs"]["completed"] == 3 and t["steps"]["fan"]["outputs"]["failed"] == 0
    finally:
        s.close()
