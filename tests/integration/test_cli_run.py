"""`pier run`, `pier trajectory ...`, `pier chat` and `pier doctor` against a real
server and the mock Bedrock: --follow output of a multi-step run (text_echo +
litellm_chat) with and without a terminal, exit codes of failed and cancelled
runs, uploads and downloads, chat streaming token by token and the interactive
conversation, doctor's auth styles, region checks and fixes. No secret of the
collection ever shows in any output.
"""
import json
import os
import pty
import re
import subprocess
import time

import pytest

from conftest import PIER_BIN
from mocks.bedrock import Error, Reply, SlowStream, Stall
from test_cli import BEARER, ECHO_WF, ESC, Stack, no_escapes, read_chunk

SONNET = "us.anthropic.claude-sonnet-4-6"
AKID, SECRET = "AKIACLITESTKEY000001", "cliSecret/0123456789abcdefGHIJKLMNOPQRSTu"
AKID_STS, SECRET_STS = "ASIACLITESTKEY000002", "cliStsSecret/abcdefghij0123456789KLMNOPQR"
STS_TOKEN = "IQoJb3JpZ2luX2VjCliSessionToken0123456789abcdef"
SECRETS = (BEARER, SECRET, SECRET_STS, STS_TOKEN)

CHAT_WF = {
    "init_params": {"model": SONNET, "model_provider": "bedrock", "prompt": "Say PONG"},
    "step_configs": {
        "chat": {"activity": "litellm_chat", "max_tokens": 16, "model_path": "init_params.model",
                 "model_provider_path": "init_params.model_provider", "prompt_path": "init_params.prompt"},
        "echo": {"activity": "text_echo", "text": "The model said: {{ chat.outputs.text }}"}},
    "steps": ["chat", "echo"]}
STEP_LINE = r"^([✓✗•-]) (\S+) +(\S+) +(\S+) *(\S+)?(.*)$"


@pytest.fixture(scope="module")
def stack():
    s = Stack()
    s.mock.iam = {AKID: (SECRET, None), AKID_STS: (SECRET_STS, STS_TOKEN)}
    s.pier.post("/api/v1/tasks/acme", json={"name": "pong", "workflow": CHAT_WF})
    s.pier.post("/api/v1/tasks/acme", json={"name": "echo", "workflow": ECHO_WF})
    yield s
    s.close()


@pytest.fixture(autouse=True)
def _fresh(stack):
    stack.mock.reset()
    stack.bedrock_env()
    yield
    assert not stack.mock.errors, stack.mock.errors


def steps_of(stderr):
    return [m.groups() for m in re.finditer(STEP_LINE, stderr, re.M)]


def assert_no_secrets(*texts):
    for t in texts:
        for s in SECRETS:
            assert s not in t


def trajectory(stack, ref):
    return stack.json("trajectory", "show", ref)


# ---- run --follow -----------------------------------------------------------------------------

def test_run_follow_multi_step(stack):
    p = stack.ok("run", "acme/pong", "-p", "prompt=Hello there", "--follow")
    assert p.stdout == "The model said: PONG\n"
    m = re.search(r"^Run acme/pong/([0-9a-f]{8}) started\.$", p.stderr, re.M)
    assert m, p.stderr
    lines = [s for s in steps_of(p.stderr) if s[0] != "•"]
    assert [(s[0], s[1], s[2], s[3]) for s in lines] == [("✓", "chat", "litellm_chat", "completed"),
                                                       ("✓", "echo", "text_echo", "completed")], p.stderr
    assert re.search(r"^✓ chat\s+litellm_chat\s+completed\s+\d+\.\d\ds\s+tokens \d+→\d+\s+\$0\.\d{6}$", p.stderr,
                     re.M), p.stderr
    assert re.search(rf"^run {m.group(1)} completed in \d", p.stderr, re.M)
    rec = stack.mock.last_request
    assert rec.json["messages"][0]["content"][0]["text"] == "Hello there"
    no_escapes(p)
    assert_no_secrets(p.stdout, p.stderr)


def test_follow_shows_a_slow_step_running_then_done(stack):
    stack.mock.script(Stall(0.8, then=Reply(text="slow answer")))
    p = stack.ok("run", "acme/pong", "--follow")
    assert p.stdout == "The model said: slow answer\n"
    steps = steps_of(p.stderr)
    assert [(s[0], s[1]) for s in steps] == [("•", "chat"), ("✓", "chat"), ("•", "echo"), ("✓", "echo")] or \
        [(s[0], s[1]) for s in steps] == [("•", "chat"), ("✓", "chat"), ("✓", "echo")], p.stderr
    chat_done = next(s for s in steps if s[0] == "✓" and s[1] == "chat")
    assert float(chat_done[4].rstrip("s")) >= 0.7


def read_pty(master, idle):
    """What the pty's master side gets until the other side closes or `idle` seconds pass
    without output."""
    data = b""
    while True:
        chunk = read_chunk(master, idle)
        if not chunk:
            return data
        data += chunk


def test_follow_on_a_terminal_draws_a_spinner(stack):
    stack.mock.script(Stall(0.8, then=Reply(text="tty")))
    master, slave = pty.openpty()
    proc = subprocess.Popen([PIER_BIN, "run", "acme/pong", "--follow"], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=slave, env=stack.env())
    os.close(slave)
    try:
        err = read_pty(master, 10)
    finally:
        out = proc.stdout.read()
        proc.wait(10)
        os.close(master)
    text = err.decode()
    assert proc.returncode == 0 and out == b"The model said: tty\n"
    frames = re.findall(r"\r\x1b\[K\x1b\[33m([⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏]) chat", text)
    assert len(frames) >= 3 and len(set(frames)) >= 3, text  # redrawn while the step runs
    assert re.search(r"\x1b\[32m✓ chat\s+\x1b\[0m litellm_chat", text), text  # coloured on a terminal
    assert ESC not in out.decode()  # stdout is a pipe: no colour there


def test_follow_no_color_on_a_terminal(stack):
    master, slave = pty.openpty()
    proc = subprocess.run([PIER_BIN, "run", "acme/echo", "--follow"], stdout=subprocess.PIPE, stderr=slave,
                          env=stack.env(NO_COLOR="1"), timeout=30)
    os.close(slave)
    data = read_pty(master, 0.2)
    os.close(master)
    assert proc.returncode == 0 and b"\x1b[3" not in data and "✓ a".encode() in data


def test_follow_failed_run_exits_1(stack):
    p = stack.cli("run", "acme/pong", "-p", "model=eu.anthropic.claude-sonnet-4-6", "--follow")
    assert p.returncode == 1
    assert re.search(r"^✗ chat\s+litellm_chat\s+failed", p.stderr, re.M), p.stderr
    assert "AWS_REGION" in p.stderr and "eu-central-1" in p.stderr  # the fix, from the server
    assert re.search(r"^pier: run [0-9a-f]{8} failed$", p.stderr, re.M)
    assert p.stdout == ""
    assert "echo" not in [s[1] for s in steps_of(p.stderr)]

    stack.mock.script(Error("AccessDeniedException"), Error("AccessDeniedException"))
    p = stack.cli("run", "acme/pong", "--sync")
    assert p.returncode == 1 and "AccessDeniedException" in p.stderr and "Model access" in p.stderr
    assert_no_secrets(p.stdout, p.stderr)


# ---- run modes ------------------------------------------------------------------------------------------

def test_run_async_prints_the_id_and_params_parse_as_json(stack, tmp_path):
    pf = tmp_path / "params.json"
    pf.write_text(json.dumps({"name": "from-file", "keep": {"a": 1}, "n": 1}))
    p = stack.ok("run", "acme/echo", "--params-file", str(pf), "-p", "n=5", "-p", 'list=[1,"x"]', "-p",
                 "flag=true", "-p", "s=hello world", "-p", "obj={bad json", "-p", "empty=", "-p", "q=\"7\"")
    rid = p.stdout.strip()
    assert re.fullmatch(r"[0-9a-f]{8}", rid), p.stdout
    assert f"pier trajectory follow acme/echo/{rid}" in p.stderr
    rc = stack.cli("trajectory", "follow", f"acme/echo/{rid}")
    assert rc.returncode == 0 and rc.stdout == "b: hello from-file\n"
    t = trajectory(stack, f"acme/echo/{rid}")
    assert t["init_params"] == {"name": "from-file", "keep": {"a": 1}, "n": 5, "list": [1, "x"], "flag": True,
                                "s": "hello world", "obj": "{bad json", "empty": "", "q": "7"}

    started = stack.json("run", "acme/echo")
    assert started["status"] == "pending" and re.fullmatch(r"[0-9a-f]{8}", started["trajectory_id"])


def test_run_sync(stack):
    p = stack.ok("run", "acme/pong", "-p", "prompt=sync please", "--sync")
    assert p.stdout == "The model said: PONG\n"
    assert [s[1] for s in steps_of(p.stderr)] == ["chat", "echo"]
    j = stack.json("run", "acme/pong", "--sync")
    assert j["status"] == "completed" and j["trajectory"]["steps"]["chat"]["outputs"]["text"] == "PONG"


def test_run_sync_that_outlives_the_server_limit_keeps_following(stack):
    stack.mock.script(Stall(2.5, then=Reply(text="late")))  # run-sync answers 202 after 1.5 s
    p = stack.ok("run", "acme/pong", "--sync", timeout=30)
    assert "is still going; following it" in p.stderr
    assert p.stdout == "The model said: late\n"


def test_run_with_files_and_download(stack, tmp_path):
    a = tmp_path / "notes.txt"
    a.write_bytes(b"first file\n")
    b = tmp_path / "data.bin"
    b.write_bytes(bytes(range(256)) * 40)
    rid = stack.ok("run", "acme/echo", "--file", str(a), "-f", str(b)).stdout.strip()
    assert stack.cli("trajectory", "follow", f"acme/echo/{rid}").returncode == 0
    paths = trajectory(stack, f"acme/echo/{rid}")["init_params"]["file_paths"]
    assert len(paths) == 2 and paths[0].endswith("/notes.txt") and paths[1].endswith("/data.bin")

    out = tmp_path / "dl"
    p = stack.ok("trajectory", "download", f"acme/echo/{rid}", "-o", str(out))
    assert f"Downloaded run {rid} and 2 files to {out}/" in p.stderr
    saved = json.loads((out / "trajectory.json").read_text())
    assert saved["trajectory_id"] == rid and saved["status"] == "completed"
    prefix = saved["storage_path"] + "/"
    for src, path in ((a, paths[0]), (b, paths[1])):
        assert path.startswith(prefix)
        assert (out / path[len(prefix):]).read_bytes() == src.read_bytes()

    j = stack.json("trajectory", "download", "acme/echo", rid, "-o", str(tmp_path / "dl2"))
    assert j["directory"] == str(tmp_path / "dl2") and len(j["files"]) == 2
    assert all(os.path.isfile(f) for f in j["files"])
    assert stack.cli("trajectory", "download", "acme/echo/ffffffff", "-o", str(tmp_path / "x")).returncode == 4


# ---- trajectories ---------------------------------------------------------------------------------------

def test_trajectories_list_show_cancel(stack):
    ids = [stack.ok("run", "acme/echo", "-p", f"name=n{i}").stdout.strip() for i in range(3)]
    for rid in ids:
        stack.ok("trajectory", "follow", f"acme/echo/{rid}")
    page = stack.json("trajectories", "list", "acme/echo", "--limit", "2")
    assert page["limit"] == 2 and len(page["trajectories"]) == 2 and page["has_more"] is True
    assert page["trajectories"][0]["trajectory_id"] == ids[-1]  # newest first
    p = stack.ok("trajectories", "list", "acme/echo", "-n", "2")
    lines = p.stdout.splitlines()
    assert re.match(r"ID\s+STATUS\s+STEPS\s+DURATION\s+CREATED$", lines[0])
    assert re.match(rf"{ids[-1]}\s+completed\s+2/2\s+\d+\.\d\ds\s+\d+s ago$", lines[1]), lines
    assert "see more with --page 2" in p.stderr

    p = stack.ok("trajectory", "show", f"acme/echo/{ids[0]}")
    assert p.stdout.startswith(f"acme/echo/{ids[0]}  completed  created ")
    assert [s[1] for s in steps_of(p.stdout)] == ["a", "b"]
    assert p.stdout.endswith("\nb: hello n0\n")
    assert stack.cli("trajectory", "show", "acme/echo/00000000").returncode == 4

    # cancel a run that is waiting on the model
    stack.mock.script(Stall(20))
    rid = stack.ok("run", "acme/pong").stdout.strip()
    stack.mock.wait_for_requests(1, timeout=10)
    p = stack.ok("trajectory", "cancel", f"acme/pong/{rid}", "--json")
    assert json.loads(p.stdout) == {"results": {rid: "cancelled"}}
    f = stack.cli("trajectory", "follow", f"acme/pong/{rid}")
    assert f.returncode == 1 and "cancelled" in f.stderr
    assert trajectory(stack, f"acme/pong/{rid}")["status"] == "cancelled"
    p = stack.cli("trajectory", "cancel", f"acme/pong/{rid}")
    assert p.returncode == 1 and "already ended (cancelled)" in p.stderr
    p = stack.cli("trajectory", "cancel", f"acme/echo/{ids[0]}")  # a completed run stays completed
    assert p.returncode == 1 and trajectory(stack, f"acme/echo/{ids[0]}")["status"] == "completed"


def test_follow_a_running_run_from_another_terminal(stack):
    stack.mock.script(Stall(1.0, then=Reply(text="later")))
    rid = stack.ok("run", "acme/pong").stdout.strip()
    stack.mock.wait_for_requests(1, timeout=10)
    p = stack.ok("trajectory", "follow", f"acme/pong/{rid}", "--json")
    doc = json.loads(p.stdout)
    assert doc["status"] == "completed" and doc["steps"]["echo"]["outputs"]["text"] == "The model said: later"
    assert [s[1] for s in steps_of(p.stderr) if s[0] != "•"] == ["chat", "echo"]


# ---- chat -------------------------------------------------------------------------------------------------

def test_chat_streams_token_by_token(stack):
    chunks = ["Alpha ", "beta ", "gamma ", "delta"]
    stack.mock.script(SlowStream(0.3, reply=Reply(text="".join(chunks), text_chunks=chunks)))
    proc = subprocess.Popen([PIER_BIN, "chat", SONNET, "stream please", "-c", "acme"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=stack.env())
    seen, times = b"", []
    fd = proc.stdout.fileno()
    while True:
        b = os.read(fd, 4096)
        if not b:
            break
        seen += b
        times.append((time.monotonic(), seen.decode(errors="replace")))
    proc.wait(10)
    assert proc.returncode == 0, proc.stderr.read()
    assert seen.decode() == "Alpha beta gamma delta\n"
    # the first words were on stdout well before the last one existed
    first = next(t for t, s in times if s.startswith("Alpha"))
    last = next(t for t, s in times if "delta" in s)
    assert last - first >= 0.5, times
    prefixes = [s for _, s in times]
    assert all("".join(chunks).startswith(x.rstrip("\n")) for x in prefixes)  # in order, nothing lost
    rec = stack.mock.last_request
    assert rec.operation == "converse-stream"


def test_chat_interactive_keeps_history(stack):
    stack.mock.script(Reply(text="First answer"), Reply(text="Second answer"))
    p = stack.ok("chat", "bedrock/" + SONNET, "--system", "Be brief.", "-c", "acme",
                 input="hello\n\nand then?\n")
    assert p.stdout == "First answer\nSecond answer\n"
    recs = stack.mock.requests
    assert len(recs) == 2
    second = recs[1].json
    assert second["system"] == [{"text": "Be brief."}]
    assert [(m["role"], m["content"][0]["text"]) for m in second["messages"]] == [
        ("user", "hello"), ("assistant", "First answer"), ("user", "and then?")]
    no_escapes(p)


def test_chat_options_and_errors(stack):
    j = stack.json("chat", SONNET, "hi", "-c", "acme", "--max-tokens", "7", "--provider", "bedrock")
    assert j["object"] == "chat.completion" and j["choices"][0]["message"]["content"] == "PONG"
    assert stack.mock.last_request.json["inferenceConfig"]["maxTokens"] == 7

    p = stack.cli("chat", SONNET, "hi")  # admin token and no collection
    assert p.returncode == 1 and "--collection" in p.stderr
    key = stack.pier.create_key("acme")["api_key"]
    assert stack.ok("chat", SONNET, "-", input="from stdin", token=key).stdout == "PONG\n"
    assert stack.mock.last_request.json["messages"][0]["content"][0]["text"] == "from stdin"

    stack.mock.script(Error("AccessDeniedException"))
    p = stack.cli("chat", SONNET, "hi", "-c", "acme")
    assert p.returncode == 3 and "AccessDeniedException" in p.stderr and "Model access" in p.stderr
    assert stack.cli("chat", SONNET, "hi", "-c", "nosuch").returncode == 4
    assert_no_secrets(p.stdout, p.stderr)


# ---- doctor -----------------------------------------------------------------------------------------------

def test_doctor_bedrock_api_key(stack):
    p = stack.ok("doctor", "acme")
    assert "bedrock\n" in p.stdout
    assert "auth: Bedrock API key (AWS_BEARER_TOKEN_BEDROCK" in p.stdout
    assert 'region: from AWS_REGION; us.anthropic.claude-haiku-4-5 is an inference profile of the "us." pool' \
        in p.stdout
    assert re.search(r"✓ one-token call to us\.anthropic\.claude-haiku-4-5 answered in \d+ ms", p.stdout), p.stdout
    rec = stack.mock.last_request
    assert rec.json["inferenceConfig"]["maxTokens"] == 1 and rec.auth == "bearer"
    assert_no_secrets(p.stdout, p.stderr)

    j = stack.json("doctor", "acme")
    assert j["ok"] is True and j["providers"][0]["provider"] == "bedrock"
    assert j["providers"][0]["auth"] == "bedrock_api_key" and j["providers"][0]["latency_ms"] >= 0


def test_doctor_iam_styles_and_failures(stack):
    stack.bedrock_env(AWS_BEARER_TOKEN_BEDROCK=None, AWS_ACCESS_KEY_ID=AKID_STS, AWS_SECRET_ACCESS_KEY=SECRET_STS,
                      AWS_SESSION_TOKEN=STS_TOKEN)
    p = stack.ok("doctor", "acme", "--model", "bedrock/" + SONNET)
    assert "auth: IAM access keys, SigV4-signed, with AWS_SESSION_TOKEN" in p.stdout
    assert stack.mock.last_request.auth == "sigv4" and stack.mock.last_request.model_id == SONNET
    assert_no_secrets(p.stdout, p.stderr)

    stack.bedrock_env(AWS_BEARER_TOKEN_BEDROCK=None, AWS_ACCESS_KEY_ID=AKID, AWS_SECRET_ACCESS_KEY=SECRET)
    p = stack.ok("doctor", "acme")
    assert "no session token (long-term keys)" in p.stdout

    # a profile from another pool: the server's fix is printed, exit 1
    p = stack.cli("doctor", "acme", "--model", "eu.anthropic.claude-sonnet-4-6")
    assert p.returncode == 1
    assert "✗ one-token call to eu.anthropic.claude-sonnet-4-6 failed (HTTP 400" in p.stdout
    assert "set AWS_REGION to a region in the same pool (e.g. eu-central-1)" in p.stdout

    stack.mock.script(Error("ExpiredTokenException"))
    p = stack.cli("doctor", "acme")
    assert p.returncode == 1 and "ExpiredTokenException" in p.stdout and "refresh AWS_SESSION_TOKEN" in p.stdout

    stack.bedrock_env(AWS_BEARER_TOKEN_BEDROCK=None, AWS_ACCESS_KEY_ID=AKID, AWS_REGION=None)
    stack.mock.reset()
    p = stack.cli("doctor", "acme")
    assert p.returncode == 1 and "AWS_ACCESS_KEY_ID is set without AWS_SECRET_ACCESS_KEY" in p.stdout
    assert stack.mock.requests == []  # nothing sent when the setup cannot work

    stack.bedrock_env(AWS_REGION=None)
    p = stack.cli("doctor", "acme")
    assert p.returncode == 1 and "region: none set; set AWS_REGION" in p.stdout

    p = stack.cli("doctor", "other")
    assert p.returncode == 1 and "has no provider credentials" in p.stderr
    assert stack.cli("doctor", "nosuch").returncode == 4
    assert_no_secrets(p.stdout, p.stderr)
