"""Completion webhooks (Jetty's X-Mise-* contract): POSTed on completion, failure
and cancellation, signed hex(HMAC-SHA256(secret, "{timestamp}.{raw_body}")),
carrying the trajectory payload, retried with backoff when the receiver fails,
and resumed runs still deliver theirs."""

import json
import signal
import time

import pytest

from mocks.bedrock import Stall
from run_util import (COLLECTION, TID, SilentReceiver, Stack, WebhookReceiver, chat_task, echo_task, signature,
                      stack_fixtures, wait_until)

SECRET = "whsec-0f1e2d3c4b5a69788796a5b4"
PAYLOAD_KEYS = {"name", "trajectory_id", "status", "storage_path", "steps", "completed_steps", "total_steps",
                "init_params", "labels", "error", "created", "updated"}


stack, st = stack_fixtures()


@pytest.fixture
def hook():
    wh = WebhookReceiver()
    yield wh
    wh.close()


def check_signed(d, secret=SECRET):
    ts = d.headers["x-mise-timestamp"]
    assert ts.isdigit() and abs(int(ts) - time.time()) < 120, ts
    assert d.headers["x-mise-signature"] == signature(secret, ts, d.body)
    assert d.headers["content-type"] == "application/json"


def test_completion_webhook_is_signed_and_carries_the_trajectory(st, hook):
    st.task("wh-ok", echo_task(text_path="init_params.x"))
    r = st.run_sync("wh-ok", init_params={"x": "payload"}, webhook_url=hook.url, webhook_secret=SECRET)
    tid = r["trajectory_id"]
    (d,) = hook.wait_for(1)
    assert d.path == "/hooks/run-complete"
    assert d.headers["x-mise-trajectory-id"] == tid
    check_signed(d)
    body = d.json
    assert set(body) == PAYLOAD_KEYS
    t = st.traj("wh-ok", tid)
    assert body == {k: t[k] for k in PAYLOAD_KEYS}
    assert (body["name"], body["trajectory_id"], body["status"]) == (f"{COLLECTION}/wh-ok", tid, "completed")
    assert body["steps"]["echo"]["outputs"] == {"text": "payload"}
    assert body["completed_steps"] == body["total_steps"] == ["echo"]
    assert t["webhook_url"] == hook.url
    assert SECRET not in json.dumps(t) and SECRET not in d.body.decode()
    # a tampered body or another secret does not verify
    assert signature(SECRET, d.headers["x-mise-timestamp"], d.body + b" ") != d.headers["x-mise-signature"]
    assert signature("whsec-other", d.headers["x-mise-timestamp"], d.body) != d.headers["x-mise-signature"]


def test_failure_webhook(st, hook):
    st.task("wh-fail", echo_task(text_path="init_params.missing"))
    tid = st.run_async("wh-fail", webhook_url=hook.url, webhook_secret=SECRET)
    (d,) = hook.wait_for(1)
    check_signed(d)
    assert d.headers["x-mise-trajectory-id"] == tid
    err = 'text_path: path "init_params.missing" not found: "init_params" is an empty object'
    assert (d.json["status"], d.json["error"]) == ("failed", f'step "echo" failed: {err}')
    assert d.json["steps"]["echo"]["status"] == "failed" and d.json["completed_steps"] == []
    assert d.json == {k: v for k, v in st.traj("wh-fail", tid).items() if k in PAYLOAD_KEYS}


def test_cancelled_run_webhook(st, hook):
    st.task("wh-cancel", chat_task())
    st.mock.script(Stall(30))
    tid = st.run_async("wh-cancel", webhook_url=hook.url, webhook_secret=SECRET)
    st.mock.wait_for_requests(1)
    assert hook.deliveries == []
    st.cancel("wh-cancel", tid)
    (d,) = hook.wait_for(1)
    check_signed(d)
    assert d.json["status"] == "cancelled" and d.json["trajectory_id"] == tid


def test_webhook_is_retried_with_backoff_after_a_500(st):
    hook = WebhookReceiver(statuses=[500, 503])
    try:
        st.task("wh-retry", echo_task())
        tid = st.run_async("wh-retry", webhook_url=hook.url, webhook_secret=SECRET)
        d1, d2, d3 = hook.wait_for(3, timeout=20)
        for d in (d1, d2, d3):
            assert d.headers["x-mise-trajectory-id"] == tid
            check_signed(d)
        assert d1.body == d2.body == d3.body, "every attempt carries the same payload"
        # backoff: base 1 s, attempt n waits in [base*2^(n-1)/2, base*2^(n-1)]
        assert d2.time - d1.time >= 0.45, d2.time - d1.time
        assert d3.time - d2.time >= 0.95, d3.time - d2.time
        assert d1.json["status"] == "completed"
    finally:
        hook.close()


def test_webhook_without_a_secret_is_still_sent(st, hook):
    st.task("wh-nosecret", echo_task())
    tid = st.run_sync("wh-nosecret", webhook_url=hook.url)["trajectory_id"]
    (d,) = hook.wait_for(1)
    assert d.headers["x-mise-trajectory-id"] == tid and d.json["status"] == "completed"
    assert d.headers["x-mise-timestamp"].isdigit()


def test_a_resumed_run_still_delivers_its_signed_webhook(tmp_path):
    """The webhook secret is sealed with the run; after a SIGKILL mid-run the resumed run
    signs its webhook with the same secret."""
    s = Stack()
    hook = WebhookReceiver()
    try:
        s.task("wh-resume", chat_task())
        s.mock.script(Stall(60))
        tid = s.run_async("wh-resume", webhook_url=hook.url, webhook_secret=SECRET)
        s.mock.wait_for_requests(1)
        s.pier.kill()
        s.pier.start()
        assert TID.fullmatch(tid)
        (d,) = hook.wait_for(1, timeout=20)
        check_signed(d)
        assert d.json["status"] == "completed" and d.json["trajectory_id"] == tid
        assert d.json["steps"]["chat"]["outputs"]["text"] == "PONG"
    finally:
        hook.close()
        s.close()


def test_sigterm_while_a_webhook_retry_is_pending_exits_cleanly():
    """The receiver answered 500; the retry waits on a backoff timer when SIGTERM comes.
    pier must exit 0 (no crash, no sanitizer report)."""
    s = Stack()
    hook = WebhookReceiver(statuses=[500])
    try:
        s.task("wh-stop", echo_task())
        s.run_async("wh-stop", webhook_url=hook.url, webhook_secret=SECRET)
        hook.wait_for(1)
        rc = s.pier.stop(sig=signal.SIGTERM, check=False)
        err = s.pier.stderr()
        assert rc == 0, f"exit code {rc}\n{err[-3000:]}"
        assert "AddressSanitizer" not in err and "LeakSanitizer" not in err, err[-3000:]
    finally:
        hook.close()
        s.close()


def test_sigterm_while_a_webhook_is_in_flight_exits_cleanly():
    """The receiver accepted the connection and never answers when SIGTERM comes."""
    s = Stack()
    silent = SilentReceiver()
    try:
        s.task("wh-hang", echo_task())
        tid = s.run_async("wh-hang", webhook_url=silent.url, webhook_secret=SECRET)
        assert s.wait_status("wh-hang", tid)["status"] == "completed"
        wait_until(lambda: silent.accepted, 10, "pier to connect to the webhook receiver")
        rc = s.pier.stop(sig=signal.SIGTERM, check=False)
        err = s.pier.stderr()
        assert rc == 0, f"exit code {rc}\n{err[-3000:]}"
        assert "AddressSanitizer" not in err and "LeakSanitizer" not in err, err[-3000:]
    finally:
        silent.close()
        s.close()
