"""Streaming chat completions (stream: true -> ConverseStream): SSE headers and
framing, chunks flushed as each upstream event arrives (read while the mock is still
holding the rest), keep-alive comments on idle gaps, include_usage, streamed tool
calls with OpenAI indices, JSON mode, and frames cut at random byte positions."""

import json
import threading
import time

import pytest

from gateway_util import (SONNET, SSE, assert_chunks, assert_error, gateway_fixtures, hello, sse_from_bytes,
                          stream_chat)
from mocks.bedrock import Error, Reply, Stall

gateway, gw = gateway_fixtures(args=["--sse-keepalive-ms", "100"])

MODEL = "bedrock/" + SONNET


def test_jetty_page_example_streamed(gw):
    body = {"model": "bedrock/us.anthropic.claude-sonnet-4-6",
            "messages": [{"role": "user", "content": "Reply with PONG only."}], "max_tokens": 32, "stream": True}
    gw.mock.script(Reply(text_chunks=["PO", "N", "G"]))
    r, chunks = stream_chat(gw, body)
    assert r.headers["Content-Type"] == "text/event-stream; charset=utf-8"
    assert r.headers["Cache-Control"] == "no-cache"
    assert r.headers["X-Accel-Buffering"] == "no"
    content, finish, usage = assert_chunks(chunks, MODEL)
    assert (content, finish, usage) == ("PONG", "stop", None)
    # one chunk per upstream event: role, the three text deltas, the finish
    assert [c["choices"][0]["delta"] for c in chunks] == [
        {"role": "assistant", "content": ""}, {"content": "PO"}, {"content": "N"}, {"content": "G"}, {}]
    for c in chunks:
        assert "usage" not in c
    (rec,) = gw.mock.wait_for_requests(1, finished=True)
    assert rec.path == "/model/us.anthropic.claude-sonnet-4-6/converse-stream" and rec.operation == "converse-stream"
    assert rec.json == {"messages": [{"role": "user", "content": [{"text": "Reply with PONG only."}]}],
                        "inferenceConfig": {"maxTokens": 32}}
    assert rec.completed


def test_include_usage_adds_a_final_usage_chunk(gw):
    gw.mock.script(Reply(usage={"inputTokens": 11, "outputTokens": 7, "cacheReadInputTokens": 100,
                                "cacheWriteInputTokens": 20}))
    _, chunks = stream_chat(gw, hello(stream=True, stream_options={"include_usage": True}))
    content, finish, usage = assert_chunks(chunks, MODEL, include_usage=True)
    assert (content, finish) == ("PONG", "stop")
    assert chunks[-1]["choices"] == [] and chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert usage == {"prompt_tokens": 131, "completion_tokens": 7, "total_tokens": 138,
                     "prompt_tokens_details": {"cached_tokens": 100},
                     "cache_creation_input_tokens": 20, "cache_read_input_tokens": 100}


@pytest.mark.parametrize("opts", [None, {"include_usage": False}, {}])
def test_no_usage_chunk_without_include_usage(gw, opts):
    body = hello(stream=True)
    if opts is not None:
        body["stream_options"] = opts
    _, chunks = stream_chat(gw, body)
    assert all(c["choices"] for c in chunks)
    assert all("usage" not in c for c in chunks)


def test_chunks_are_flushed_as_upstream_events_arrive(gw):
    """The client reads the first text chunk while the mock still holds the rest."""
    gw.mock.script(Stall(1.0, after_events=2, then=Reply(text_chunks=["PO", "NG"])))
    conn, resp = gw.open_stream(hello(stream=True))
    try:
        assert resp.status == 200
        sse = SSE(resp)
        t0 = time.monotonic()
        first = sse.next_data()
        assert first["choices"][0]["delta"] == {"role": "assistant", "content": ""}
        second = sse.next_data()
        assert second["choices"][0]["delta"] == {"content": "PO"}
        (rec,) = gw.mock.requests
        assert rec.events_sent <= 2 and not rec.completed, rec   # the rest is not sent yet
        assert time.monotonic() - t0 < 0.9
        rest = sse.read_all()
        assert [c["choices"][0]["delta"] for c in rest] == [{"content": "NG"}, {}]
        assert rec.wait_done(2).completed
    finally:
        conn.close()


def test_keep_alive_comments_fill_idle_gaps(gw):
    gw.mock.script(Stall(0.6, after_events=2, then=Reply(text_chunks=["PO", "NG"])))
    conn, resp = gw.open_stream(hello(stream=True))
    try:
        sse = SSE(resp)
        chunks = sse.read_all()
    finally:
        conn.close()
    deltas = [c["choices"][0]["delta"] for c in chunks]
    assert deltas == [{"role": "assistant", "content": ""}, {"content": "PO"}, {"content": "NG"}, {}]
    kinds = ["comment" if ev[0].startswith(":") else json.loads(ev[0][6:])["choices"][0]["delta"].get("content")
             if ev[0] != "data: [DONE]" else "done" for ev in sse.events]
    po, ng = kinds.index("PO"), kinds.index("NG")
    between = kinds[po + 1:ng]
    assert len(between) >= 2 and set(between) == {"comment"}, kinds
    assert all(ev == [": keep-alive"] for ev in sse.comments), sse.comments
    assert b": keep-alive\n\n" in sse.raw


def test_streamed_tool_calls_keep_openai_indices(gw):
    gw.mock.script(Reply(text="Checking.", text_chunks=["Check", "ing."], tool_calls=[
        {"name": "get_weather", "id": "tooluse_w1", "input": {"city": "Paris"}, "fragments": ['{"ci', 'ty": "Pa', 'ris"}']},
        {"name": "get_time", "id": "tooluse_t2", "input": {"tz": "UTC"}, "fragments": ['{"tz"', ': "UTC"}']},
        {"name": "get_date", "id": "tooluse_d3", "input": {}}]))
    _, chunks = stream_chat(gw, hello(stream=True))
    content, finish, _ = assert_chunks(chunks, MODEL)
    assert (content, finish) == ("Checking.", "tool_calls")
    calls = [c["choices"][0]["delta"]["tool_calls"] for c in chunks if "tool_calls" in c["choices"][0]["delta"]]
    for tc in calls:
        assert len(tc) == 1
    starts = [tc[0] for tc in calls if "id" in tc[0]]
    assert starts == [
        {"index": 0, "id": "tooluse_w1", "type": "function", "function": {"name": "get_weather", "arguments": ""}},
        {"index": 1, "id": "tooluse_t2", "type": "function", "function": {"name": "get_time", "arguments": ""}},
        {"index": 2, "id": "tooluse_d3", "type": "function", "function": {"name": "get_date", "arguments": ""}}]
    frags = [(tc[0]["index"], tc[0]["function"]["arguments"]) for tc in calls if "id" not in tc[0]]
    assert frags == [(0, '{"ci'), (0, 'ty": "Pa'), (0, 'ris"}'), (1, '{"tz"'), (1, ': "UTC"}'), (2, "{}")]
    for tc in calls:
        if "id" not in tc[0]:
            assert set(tc[0]) == {"index", "function"} and set(tc[0]["function"]) == {"arguments"}


def test_streamed_json_mode_emits_content(gw):
    gw.mock.script(Reply(tool_calls=[{"name": "json_tool_call", "input": {"answer": "PONG"},
                                      "fragments": ['{"ans', 'wer": "PONG"}']}]))
    _, chunks = stream_chat(gw, hello(stream=True, response_format={"type": "json_object"}))
    content, finish, _ = assert_chunks(chunks, MODEL)
    assert json.loads(content) == {"answer": "PONG"} and finish == "stop"
    assert not any("tool_calls" in c["choices"][0]["delta"] for c in chunks)


@pytest.mark.parametrize("stop_reason,finish", [("max_tokens", "length"), ("content_filtered", "content_filter"),
                                                ("stop_sequence", "stop")])
def test_streamed_finish_reason(gw, stop_reason, finish):
    gw.mock.script(Reply(text="PO", stop_reason=stop_reason))
    _, chunks = stream_chat(gw, hello(stream=True))
    assert assert_chunks(chunks, MODEL)[:2] == ("PO", finish)


def test_frames_cut_at_random_byte_positions_reassemble(gw):
    text = "The quick brown fox jumps over the lazy dog. " * 8
    pieces = [text[i:i + 7] for i in range(0, len(text), 7)]
    for _ in range(12):  # each request gets other random cut points
        gw.mock.script(Reply(text=text, text_chunks=pieces))
    for _ in range(12):
        _, chunks = stream_chat(gw, hello(stream=True, stream_options={"include_usage": True}))
        content, finish, usage = assert_chunks(chunks, MODEL, include_usage=True)
        assert content == text and finish == "stop" and usage["completion_tokens"] > 0
        assert [c["choices"][0]["delta"].get("content") for c in chunks[1:-2]] == pieces


def test_stream_error_before_any_output_keeps_its_status(gw):
    """Nothing sent yet: a real HTTP status and an OpenAI error body, not SSE."""
    gw.mock.script(Error("AccessDeniedException"))
    r = gw.chat(hello(stream=True))
    assert_error(r, 403, "permission_error", "AccessDeniedException", ["AccessDeniedException"])
    assert len(gw.mock.requests) == 1


def test_stream_through_legacy_path(gw):
    r, chunks = stream_chat(gw, hello(stream=True), path="/chat/completions")
    assert assert_chunks(chunks, MODEL)[:2] == ("PONG", "stop")


def test_concurrent_streams_stay_separate(gw):
    """Eight streams at once through one pier: each gets its own id and a whole answer,
    and the mock saw each question exactly once."""
    results = {}

    def run(i):
        results[i] = gw.chat(hello(text=f"question {i}", stream=True))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert sorted(results) == list(range(8))
    ids = set()
    for r in results.values():
        assert r.status_code == 200, r.text
        chunks = sse_from_bytes(r.content)
        assert assert_chunks(chunks, MODEL)[:2] == ("PONG", "stop")
        ids.add(chunks[0]["id"])
    assert len(ids) == 8
    assert sorted(rec.json["messages"][0]["content"][0]["text"] for rec in gw.mock.requests) == sorted(
        f"question {i}" for i in range(8))
