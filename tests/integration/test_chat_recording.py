"""Every POST /v1/chat/completions is recorded as a one-step trajectory under task
`_chat` of the caller's collection (or `jetty.task`): model, messages (large
base64 data URLs cut out, secret values redacted), the answer, finish_reason,
usage, cost and latency. The record is written after the answer is on its way:
tests assert presence and ordering only, never timing."""

import base64
import json
import os
import struct
import subprocess
import zlib

import pytest

from conftest import PIER_BIN

from mocks.bedrock import Error, Reply
from run_util import COLLECTION, SONNET, TID, TS, Stack, stack_fixtures, wait_until

ENV_SECRET = "chatsecret-Vb3Nq8Rw1Lk5"
STEP_KEYS = {"activity", "key", "status", "inputs", "outputs", "error", "usage", "latency_ms", "created", "ended",
             "duration_seconds"}


stack, st = stack_fixtures(env={"CHAT_TOKEN": ENV_SECRET})


def chat(st, body, token=None):
    return st.pier.post("/v1/chat/completions", token=token or st.key, json=body)


def recorded(st, task, n):
    """The newest n trajectories of task once there are n of them."""
    return wait_until(lambda: (lambda p: p["trajectories"] if p["total"] >= n else None)(st.page(task, limit=n)),
                      10, f"{n} recorded chat trajectories under {task}")


def png(w, h):
    raw = b"".join(b"\x00" + os.urandom(w * 3) for _ in range(h))

    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def test_a_chat_call_is_recorded_under_the_chat_task(st):
    st.mock.script(Reply("PONG!", usage={"inputTokens": 20, "outputTokens": 3}))
    body = {"model": "bedrock/" + SONNET, "messages": [{"role": "system", "content": "Be terse."},
                                                       {"role": "user", "content": "Reply with PONG only."}],
            "max_tokens": 32, "temperature": 0.2}
    r = chat(st, body)
    assert r.status_code == 200, r.text
    answer = r.json()
    (t,) = recorded(st, "_chat", 1)
    assert TID.fullmatch(t["trajectory_id"])
    assert (t["name"], t["collection"], t["task"], t["storage_path"]) == (f"{COLLECTION}/_chat", COLLECTION, "_chat",
                                                                           f"{COLLECTION}/_chat/0000")
    assert (t["status"], t["error"], t["author"]) == ("completed", None, "api-key")
    assert t["total_steps"] == t["completed_steps"] == ["completion"]
    assert TS.fullmatch(t["created"]) and TS.fullmatch(t["updated"])
    s = t["steps"]["completion"]
    assert set(s) >= STEP_KEYS
    assert (s["activity"], s["key"], s["status"], s["error"]) == ("completion", "completion", "completed", None)
    assert s["inputs"] == {"model": "bedrock/" + SONNET, "messages": body["messages"], "max_tokens": 32,
                           "temperature": 0.2, "stream": False}
    assert s["outputs"]["text"] == answer["choices"][0]["message"]["content"] == "PONG!"
    assert s["outputs"]["finish_reason"] == answer["choices"][0]["finish_reason"] == "stop"
    assert s["outputs"]["provider"] == "bedrock"
    u = s["usage"]
    assert (u["prompt_tokens"], u["completion_tokens"], u["total_tokens"]) == (20, 3, 23)
    assert (u["prompt_tokens"], u["completion_tokens"]) == (answer["usage"]["prompt_tokens"],
                                                            answer["usage"]["completion_tokens"])
    assert u["cost_usd"] == pytest.approx((20 * 3.0 + 3 * 15.0) / 1e6, rel=1e-9)
    assert isinstance(s["latency_ms"], (int, float)) and s["latency_ms"] >= 0
    assert TS.fullmatch(s["created"]) and TS.fullmatch(s["ended"]) and s["created"] <= s["ended"]
    # readable like any trajectory
    assert st.traj("_chat", t["trajectory_id"]) == t


def test_each_call_is_its_own_trajectory_newest_first(st):
    before = st.page("_chat")["total"]
    for i in range(3):
        st.mock.script(Reply(f"answer {i}"))
        r = chat(st, {"model": "bedrock/" + SONNET, "messages": [{"role": "user", "content": f"question {i}"}]})
        assert r.status_code == 200
    ts = recorded(st, "_chat", before + 3)[:3]
    assert [t["steps"]["completion"]["outputs"]["text"] for t in ts] == ["answer 2", "answer 1", "answer 0"]
    assert len({t["trajectory_id"] for t in ts}) == 3


def test_a_streamed_call_is_recorded_with_its_text(st):
    st.mock.script(Reply("streamed words here", text_chunks=["streamed ", "words ", "here"]))
    r = chat(st, {"model": "bedrock/" + SONNET, "messages": [{"role": "user", "content": "stream please"}],
                  "stream": True, "jetty": {"task": "streamed"}})
    assert r.status_code == 200 and r.content.endswith(b"data: [DONE]\n\n")
    (t,) = recorded(st, "streamed", 1)
    s = t["steps"]["completion"]
    assert s["inputs"]["stream"] is True
    assert (s["outputs"]["text"], s["outputs"]["finish_reason"], t["status"]) == ("streamed words here", "stop",
                                                                                 "completed")
    in_chat = [x for x in st.page("_chat", limit=100)["trajectories"]
               if x["steps"]["completion"]["inputs"]["messages"][-1]["content"] == "stream please"]
    assert in_chat == [], "jetty.task decides where it is recorded"


def test_large_base64_images_are_cut_out_and_secrets_redacted(st):
    img = base64.b64encode(png(96, 96)).decode()
    assert len(img) > 20000
    body = {"model": "bedrock/" + SONNET, "jetty": {"task": "vision-chat"},
            "messages": [{"role": "user", "content": [
                {"type": "text", "text": f"What is this? my key is {ENV_SECRET}"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64," + img}}]}]}
    r = chat(st, body)
    assert r.status_code == 200, r.text
    (rec,) = st.mock.requests
    assert ENV_SECRET in rec.body.decode(), "the model gets the message as sent"
    (t,) = recorded(st, "vision-chat", 1)
    content = t["steps"]["completion"]["inputs"]["messages"][0]["content"]
    assert content == [{"type": "text", "text": "What is this? my key is [REDACTED]"},
                       {"type": "image_url",
                        "image_url": {"url": f"data:image/png;base64,[{len(img)} bytes of base64 redacted]"}}]
    text = json.dumps(t)
    assert img[:64] not in text and ENV_SECRET not in text


def test_a_failed_call_is_recorded_as_failed(st):
    st.mock.script(*[Error("ValidationException", message="The provided model identifier is invalid.")])
    r = chat(st, {"model": "bedrock/" + SONNET, "messages": [{"role": "user", "content": "x"}],
                  "jetty": {"task": "chat-fail"}})
    assert r.status_code == 400, r.text
    (t,) = recorded(st, "chat-fail", 1)
    s = t["steps"]["completion"]
    assert (t["status"], s["status"]) == ("failed", "failed")
    assert t["error"] == s["error"] == r.json()["error"]["message"]
    assert t["completed_steps"] == [] and s["outputs"]["text"] == ""


def test_admin_token_with_jetty_collection_is_recorded_there(st):
    r = chat(st, {"model": "bedrock/" + SONNET, "messages": [{"role": "user", "content": "admin call"}],
                  "jetty": {"collection": COLLECTION, "task": "admin-chat"}}, token=st.pier.admin_token)
    assert r.status_code == 200, r.text
    (t,) = recorded(st, "admin-chat", 1)
    assert t["author"] == "admin" and t["collection"] == COLLECTION


def test_an_invalid_jetty_task_falls_back_to_chat(st):
    before = st.page("_chat")["total"]
    r = chat(st, {"model": "bedrock/" + SONNET, "messages": [{"role": "user", "content": "bad task name"}],
                  "jetty": {"task": "../../etc"}})
    assert r.status_code == 200
    newest = recorded(st, "_chat", before + 1)[0]
    assert newest["steps"]["completion"]["inputs"]["messages"] == [{"role": "user", "content": "bad task name"}]


def test_very_long_strings_are_shortened_with_a_note_of_their_size(st):
    """A 40,000-byte message is not stored whole: the record keeps the first 32 KiB and says
    how much was cut (not a silent end after 32 KiB)."""
    long_text = "0123456789" * 4000
    r = chat(st, {"model": "bedrock/" + SONNET, "messages": [{"role": "user", "content": long_text}],
                  "jetty": {"task": "long-chat"}})
    assert r.status_code == 200, r.text
    (t,) = recorded(st, "long-chat", 1)
    stored = t["steps"]["completion"]["inputs"]["messages"][0]["content"]
    assert len(stored) == 32 * 1024
    note = "...[7232 more bytes not recorded]"
    assert stored.endswith(note) and stored[:-len(note)] == long_text[:32 * 1024 - len(note)], stored[-80:]


def test_the_chat_completions_alias_is_recorded_too(st):
    r = st.pier.post("/chat/completions", token=st.key,
                     json={"model": "bedrock/" + SONNET, "messages": [{"role": "user", "content": "via the alias"}],
                           "jetty": {"task": "alias-chat"}})
    assert r.status_code == 200, r.text
    (t,) = recorded(st, "alias-chat", 1)
    assert t["steps"]["completion"]["inputs"]["messages"] == [{"role": "user", "content": "via the alias"}]
    assert t["steps"]["completion"]["outputs"]["text"] == r.json()["choices"][0]["message"]["content"]


def test_record_chat_off_records_nothing():
    """--record-chat off: calls are answered and metered but never stored. The store's writer
    is first-in first-out, so once a later run-sync is durable, a record would be too."""
    s = Stack(args=["--record-chat", "off"])
    try:
        r = s.pier.post("/v1/chat/completions", token=s.key,
                        json={"model": "bedrock/" + SONNET, "messages": [{"role": "user", "content": "not kept"}]})
        assert r.status_code == 200, r.text
        s.task("barrier", {"init_params": {}, "step_configs": {"e": {"activity": "text_echo", "text": "x"}},
                           "steps": ["e"]})
        s.run_sync("barrier")
        assert s.page("_chat")["total"] == 0
    finally:
        s.close()


def test_record_chat_rejects_other_values(tmp_path):
    p = subprocess.run([PIER_BIN, "serve", "--listen", "127.0.0.1:0", "--data-dir", str(tmp_path / "d"),
                        "--record-chat", "maybe"], capture_output=True, text=True, timeout=20)
    assert p.returncode == 2, p
    assert '--record-chat wants on or off (got "maybe")' in p.stderr
