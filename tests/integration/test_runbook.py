"""The `runbook` activity end to end: a coding agent in the bubblewrap sandbox
reaching models only through pier.

A stand-in agent (agents/fake_agent.py, installed as the agent command) acts
like Claude Code in `-p` mode: it calls pier's /v1/messages with its run token
and writes files into /app/results, following a JSON plan given as the
instruction. Checked: the Jetty page's runbook example against the mock
Bedrock (bearer key and SigV4), outputs and file naming, usage metered by pier,
assets, escapes (data dir, /root, /etc/shadow, other runs, pier's env and
credentials, the network when isolated), the run token's scope and lifetime,
timeout and cancel killing the process group, config errors, and, when the
real Claude Code CLI is available, a real `claude -p` run.
"""
import io
import json
import os
import shutil
import stat
import subprocess
import zipfile

import pytest

from conftest import PIER_BIN
from mocks.bedrock import MockBedrock, Reply
from run_util import COLLECTION, SONNET, TOKEN, Stack, fresh, wait_until

HERE = os.path.dirname(os.path.abspath(__file__))
FAKE_AGENT = os.path.join(HERE, "agents", "fake_agent.py")
AGENT_CMDS = {"claude-code": "claude", "codex": "codex", "gemini-cli": "gemini"}
AKID, SECRET = "AKIDRUNBOOKTEST00001", "runbook/secret/KEY/0123456789abcdefghij"
PIER_ENV_SECRET = "PIER-PROCESS-SECRET-41d8cd98f00b"


def _has_sandbox():
    if not shutil.which("bwrap") or not os.path.exists(PIER_BIN):
        return False
    p = subprocess.run(["bwrap", "--unshare-user", "--unshare-pid", "--ro-bind", "/", "/", "true"],
                       capture_output=True)
    return p.returncode == 0


pytestmark = pytest.mark.skipif(not _has_sandbox(), reason="bwrap cannot create namespaces here")


def install_fake_agent(data_dir, agent="claude-code"):
    d = os.path.join(data_dir, "agents", agent, "bin")
    os.makedirs(d, exist_ok=True)
    shutil.copy(FAKE_AGENT, os.path.join(d, AGENT_CMDS[agent]))
    os.chmod(os.path.join(d, AGENT_CMDS[agent]), 0o755)


@pytest.fixture(scope="module")
def stack():
    mock = MockBedrock(bearer_tokens={TOKEN}, iam={AKID: (SECRET, None)}).start()
    from conftest import PierServer
    pier = PierServer(args=["--upstream-retry-base-ms", "10", "--sse-keepalive-ms", "100"],
                      env={"PIER_TEST_MARKER": PIER_ENV_SECRET})
    pier.start()
    s = Stack(mock=mock, pier=pier)
    install_fake_agent(pier.data_dir)
    yield s
    s.close()
    mock.stop()


@pytest.fixture
def st(stack):
    yield from fresh(stack)


def runbook_task(plan, **cfg):
    """The canonical stored runbook task of the reference (§6.2) with a JSON plan as instruction."""
    step = {"activity": "runbook", "agent_path": "init_params.agent", "model_path": "init_params.model",
            "model_provider_path": "init_params.model_provider", "snapshot_path": "init_params.snapshot",
            "instruction_path": "init_params.instruction", "template_variables_path": "init_params.vars",
            "files_path": "init_params.file_paths", "cpus": 1, "memory": "2G", "timeout_sec": 60,
            "network_enabled": True}
    step.update(cfg)
    return {"init_params": {"agent": "claude-code", "model": SONNET, "model_provider": "bedrock",
                            "snapshot": "python312-uv", "instruction": json.dumps(plan), "vars": {},
                            "file_paths": []},
            "step_configs": {"run": step}, "steps": ["run"]}


def get_file(st, path):
    r = st.pier.get(f"/api/v1/file/{path}", token=st.key)
    assert r.status_code == 200, r.text
    return r


def report_of(st, outputs):
    (rep,) = [f for f in outputs["results_files"] if f["sandbox_path"] == "/app/results/report.json"]
    return json.loads(get_file(st, rep["path"]).content)


def no_process_with(marker):
    out = subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True)
    return out.returncode == 1


def cost(u):
    fresh = u["prompt_tokens"] - u["cache_read_tokens"] - u["cache_creation_tokens"]
    return (fresh * 3.0 + u["completion_tokens"] * 15.0 + u["cache_read_tokens"] * 0.30 +
            u["cache_creation_tokens"] * 3.75) / 1e6


# -- the Jetty page's runbook example ---------------------------------------------------------

def test_page_runbook_example_on_bedrock(st):
    """agent claude-code, model us.anthropic.claude-sonnet-4-6, provider bedrock, snapshot
    python312-uv: the agent's two calls (one streamed) go to Bedrock's InvokeModel APIs with
    the collection's key, its files are stored with Jetty's naming, and pier meters the usage."""
    st.mock.script(Reply(text="Plan ready.", usage={"inputTokens": 120, "outputTokens": 7}),
                   Reply(text="Report written.", usage={"inputTokens": 300, "outputTokens": 11,
                                                        "cacheReadInputTokens": 100}))
    plan = {"actions": [{"do": "messages", "text": "Make a plan for {{topic}}."},
                        {"do": "messages", "text": "Write it.", "stream": True},
                        {"do": "write", "path": "summary.md", "content": "# Summary\n"},
                        {"do": "write", "path": "data/my.report.v2.json", "content": "{}"},
                        {"do": "http", "url": "http://127.0.0.1:%d/api/v1/collections" % st.pier.port}]}
    st.task("page-runbook", runbook_task(plan))
    body = st.run_sync("page-runbook", init_params={"vars": {"topic": "otters"}})
    traj = body["trajectory"]
    step = traj["steps"]["run"]
    assert (traj["status"], step["status"], step["error"]) == ("completed", "completed", None), step
    out = step["outputs"]
    tid = traj["trajectory_id"]
    prefix = f"{COLLECTION}/page-runbook/0000/{tid}.run."
    assert [(f["path"], f["sandbox_path"], f["content_type"], f["extension"]) for f in out["results_files"]] == [
        (prefix + "0000.app--results--data--my-report-v2.json", "/app/results/data/my.report.v2.json",
         "application/json", "json"),
        (prefix + "0001.app--results--report.json", "/app/results/report.json", "application/json", "json"),
        (prefix + "0002.app--results--summary.md", "/app/results/summary.md", "text/markdown", "md")]
    assert out["files"] == out["results_files"]
    assert out["success"] is True and out["exit_code"] == 0
    assert out["text"] == "Plan ready.\nReport written."
    assert out["agent"] == "claude-code" and out["model"] == SONNET
    assert "python312-uv" in out["warning"] and "pier snapshot import python312-uv" in out["warning"]
    r = get_file(st, prefix + "0002.app--results--summary.md")
    assert r.content == b"# Summary\n" and r.headers["content-type"].startswith("text/markdown")

    # the model calls: Bedrock InvokeModel (+ stream) with the collection's bearer key
    reqs = st.mock.requests
    assert [(q.operation, q.model_id, q.auth, q.bearer_token == TOKEN) for q in reqs] == [
        ("invoke", SONNET, "bearer", True), ("invoke-with-response-stream", SONNET, "bearer", True)]
    assert reqs[0].json["messages"] == [{"role": "user", "content": "Make a plan for otters."}]
    assert reqs[0].json["anthropic_version"] == "bedrock-2023-05-31"

    # usage counted by pier from the two responses (not the agent's word)
    u = out["usage"]
    assert (u["prompt_tokens"], u["completion_tokens"], u["total_tokens"], u["cache_read_tokens"],
            u["api_calls"]) == (120 + 400, 18, 538, 100, 2), u
    assert u["cost_usd"] == pytest.approx(cost(u), rel=1e-9)
    assert u["duration_seconds"] > 0
    assert {k: step["usage"][k] for k in step["usage"]} == {k: u[k] for k in step["usage"]}

    # inside: the agent saw the instruction rendered, its token, pier as the base URL
    rep = report_of(st, out)
    assert json.loads(rep["instruction"])["actions"][0]["text"] == "Make a plan for otters."
    assert rep["argv"] == ["-p", "--model", SONNET, "--dangerously-skip-permissions", "--output-format",
                           "stream-json", "--verbose"]
    lines = [json.loads(l) for l in out["transcript"]["stdout"].splitlines()]
    assert [e["type"] for e in lines] == ["assistant"] * 4 + ["result"]
    assert rep["cwd"] == "/app"
    env = rep["env"]
    assert env["ANTHROPIC_BASE_URL"] == f"http://127.0.0.1:{st.pier.port}"
    assert env["ANTHROPIC_AUTH_TOKEN"].startswith("pier_run_") and len(env["ANTHROPIC_AUTH_TOKEN"]) == 49
    assert env["ANTHROPIC_MODEL"] == SONNET and env["PIER_RESULTS_DIR"] == "/app/results"
    # the run token never works on the control plane, and stops working when the run ends
    assert rep["http"] == {f"http://127.0.0.1:{st.pier.port}/api/v1/collections": 401}
    r = st.pier.post("/v1/messages", token=env["ANTHROPIC_AUTH_TOKEN"],
                     json={"model": SONNET, "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]})
    assert r.status_code == 401, r.text
    assert r.json()["error"] == {"type": "authentication_error",
                                 "message": "this run token is no longer valid (its runbook step has ended)"}
    assert len(st.mock.requests) == 2


def test_runbook_with_iam_credentials_signs_with_sigv4(st):
    st.pier.set_env(COLLECTION, {"AWS_BEARER_TOKEN_BEDROCK": None, "AWS_ACCESS_KEY_ID": AKID,
                                 "AWS_SECRET_ACCESS_KEY": SECRET})
    try:
        st.task("iam-runbook", runbook_task({"actions": [{"do": "messages", "text": "hi", "stream": True}]}))
        traj = st.run_sync("iam-runbook")["trajectory"]
        assert traj["status"] == "completed", traj["steps"]["run"]
        (q,) = st.mock.requests
        assert (q.operation, q.auth, q.auth_ok, q.access_key_id) == ("invoke-with-response-stream", "sigv4", True,
                                                                     AKID)
        rep = report_of(st, traj["steps"]["run"]["outputs"])
        dump = json.dumps(rep)
        assert AKID not in dump and SECRET not in dump
    finally:
        st.pier.set_env(COLLECTION, {**st.env, "AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None})


# -- isolation ------------------------------------------------------------------------------------

def test_agent_cannot_reach_secrets_other_runs_or_the_network(st):
    """network_enabled false: the agent sees only its /app, its own processes, its loopback
    (where pier's gateway is bridged), and nothing of pier's data, env or credentials."""
    data = st.pier.data_dir
    sleeper = {"actions": [{"do": "write", "path": "secret-of-A.txt", "content": "A's result"},
                           {"do": "sleep", "seconds": 120}], "no_report": True}
    st.task("sleeper", runbook_task(sleeper))
    a = st.run_async("sleeper")
    wait_until(lambda: [d for d in os.listdir(os.path.join(data, "work")) if d.startswith(a)], 20,
               "run A's /app to exist")
    a_app = os.path.join(data, "work", [d for d in os.listdir(os.path.join(data, "work")) if d.startswith(a)][0])
    wait_until(lambda: os.path.exists(os.path.join(a_app, "results", "secret-of-A.txt")), 20, "run A to write")
    probes = [{"do": "read", "path": p} for p in (
        os.path.join(data, "master.key"), os.path.join(data, "pier.db"), os.path.join(data, "admin.token"),
        "/root/.bashrc", "/etc/shadow", os.path.join(a_app, "results", "secret-of-A.txt"))]
    probes += [{"do": "glob", "pattern": p} for p in (data + "/*", "/app/../*/results/*", "/tmp/*")]
    probes += [{"do": "connect", "host": "127.0.0.1", "port": int(st.mock.url.rsplit(":", 1)[1])},
               {"do": "connect", "host": "127.0.0.1", "port": st.pier.port},
               {"do": "read", "path": "/proc/1/environ"}, {"do": "procs"}, {"do": "messages", "text": "through the bridge"}]
    st.task("prober", runbook_task({"actions": probes}, network_enabled=False))
    traj = st.run_sync("prober")["trajectory"]
    assert traj["status"] == "completed", traj["steps"]["run"]
    rep = report_of(st, traj["steps"]["run"]["outputs"])
    pid1 = rep["read"].pop("/proc/1/environ")  # the sandbox's own init, not pier
    assert pid1["ok"] and "PIER" not in pid1["bytes"] and "AWS" not in pid1["bytes"], pid1
    assert {p: r["ok"] for p, r in rep["read"].items() if r["ok"]} == {}, rep["read"]
    assert rep["glob"] == {data + "/*": [], "/app/../*/results/*": [], "/tmp/*": []}
    assert rep["connect"] == {st.mock.url[len("http://"):]: "ConnectionRefusedError",
                              f"127.0.0.1:{st.pier.port}": "connected"}
    assert len(rep["procs"]) < 10, rep["procs"]  # the sandbox's own few processes only
    assert rep["results"][0]["text"] == "PONG"
    env = rep["env"]
    assert "PIER_TEST_MARKER" not in env and PIER_ENV_SECRET not in json.dumps(rep)
    assert not any(k.startswith("AWS_") for k in env), sorted(env)
    assert TOKEN not in json.dumps(rep)
    assert st.cancel("sleeper", a).status_code == 200
    assert st.wait_status("sleeper", a)["status"] == "cancelled"


def test_credentials_never_reach_the_trajectory_or_logs(st):
    st.task("quiet", runbook_task({"actions": [{"do": "messages", "text": "hello"}]}))
    body = st.run_sync("quiet")
    dump = json.dumps(body)
    assert TOKEN not in dump and "pier_run_" not in dump
    logs = st.pier.stderr()
    assert TOKEN not in logs and "pier_run_" not in logs


def test_network_enabled_shares_the_host_network(st):
    port = int(st.mock.url.rsplit(":", 1)[1])
    st.task("net-on", runbook_task({"actions": [{"do": "connect", "host": "127.0.0.1", "port": port}]},
                                   network_enabled=True))
    traj = st.run_sync("net-on")["trajectory"]
    assert report_of(st, traj["steps"]["run"]["outputs"])["connect"] == {f"127.0.0.1:{port}": "connected"}


# -- inputs -------------------------------------------------------------------------------------------

def test_uploaded_files_are_in_app_assets(st):
    st.task("assets", runbook_task({"actions": [{"do": "assets"}]}))
    body = st.run_sync("assets", files=[("notes.txt", b"first\n", "text/plain"),
                                        ("data.csv", b"a,b\n1,2\n", "text/csv")])
    traj = body["trajectory"]
    assert traj["status"] == "completed", traj["steps"]["run"]
    assert report_of(st, traj["steps"]["run"]["outputs"])["assets"] == {"notes.txt": "first\n",
                                                                      "data.csv": "a,b\n1,2\n"}


def make_zip(members, compression=zipfile.ZIP_DEFLATED):
    """members: [(name, bytes)] or [(ZipInfo, bytes)]."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as z:
        for name, data in members:
            z.writestr(name, data)
    return buf.getvalue()


def test_zip_inputs_are_extracted_into_app_assets(st):
    link = zipfile.ZipInfo("link-to-root")
    link.create_system = 3
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    z = make_zip([("src/main.py", b"print('hi')\n"), ("src/", b""), ("README", b"read me\n"), (link, b"/")])
    stored = make_zip([("plain.txt", b"stored member\n")], zipfile.ZIP_STORED)
    st.task("zips", runbook_task({"actions": [{"do": "assets"}, {"do": "glob", "pattern": "/app/assets/*"}]}))
    traj = st.run_sync("zips", files=[("project.zip", z, "application/zip"),
                                      ("stored.zip", stored, "application/zip")])["trajectory"]
    assert traj["status"] == "completed", traj["steps"]["run"]
    rep = report_of(st, traj["steps"]["run"]["outputs"])
    assets = rep["assets"]
    assert (assets["src/main.py"], assets["README"], assets["plain.txt"]) == ("print('hi')\n", "read me\n",
                                                                              "stored member\n")
    assert sorted(os.path.basename(p) for p in rep["glob"]["/app/assets/*"]) == [
        "README", "plain.txt", "project.zip", "src", "stored.zip"]  # the link was skipped


@pytest.mark.parametrize("members,error", [
    ([("../escape.txt", b"x")], 'zip member "../escape.txt" has an unsafe path'),
    ([("/etc/evil", b"x")], 'zip member "/etc/evil" has an unsafe path'),
    ([("a/./b", b"x")], 'zip member "a/./b" has an unsafe path'),
    ([("a\\b", b"x")], "has an unsafe path"),
    ([("same.txt", b"1"), ("same.txt", b"2")], "zip member same.txt: a file of the same name is already in"),
])
def test_hostile_zips_fail_the_step_and_write_nothing_outside(st, members, error):
    st.task("bad-zip", runbook_task({"actions": []}))
    traj = st.run_sync("bad-zip", files=[("evil.zip", make_zip(members), "application/zip")])["trajectory"]
    step = traj["steps"]["run"]
    assert (traj["status"], step["status"]) == ("failed", "failed")
    assert step["error"].startswith("input file evil.zip: ") and error in step["error"], step["error"]
    work = os.path.join(st.pier.data_dir, "work")
    assert not os.path.exists(os.path.join(work, "escape.txt"))
    # the step's /app is removed after the step ended (off the loop, so possibly after the reply)
    wait_until(lambda: not any(d.startswith(traj["trajectory_id"]) for d in os.listdir(work)), 10,
               "the run's /app to be removed")


def test_zip_bomb_stops_at_its_declared_size(st):
    data = bytearray(make_zip([("bomb.bin", b"\0" * 1_000_000)]))
    # claim 1,000 bytes in the central directory: pier stops inflating there
    cd = data.rfind(b"PK\x01\x02")
    data[cd + 24:cd + 28] = (1000).to_bytes(4, "little")
    st.task("bomb", runbook_task({"actions": []}))
    traj = st.run_sync("bomb", files=[("bomb.zip", bytes(data), "application/zip")])["trajectory"]
    assert traj["status"] == "failed"
    assert "zip member bomb.bin: its size does not match" in traj["steps"]["run"]["error"]


def test_not_a_zip(st):
    st.task("fake-zip", runbook_task({"actions": []}))
    traj = st.run_sync("fake-zip", files=[("data.zip", b"just text", "application/zip")])["trajectory"]
    assert traj["steps"]["run"]["error"] == "input file data.zip: not a zip archive (too short)"


def test_primary_outputs_in_declaration_order(st):
    plan = {"actions": [{"do": "write", "path": "a.md", "content": "a"},
                        {"do": "write", "path": "b/c.txt", "content": "c"}], "no_report": True}
    st.task("primary", runbook_task(plan, primary_outputs=["b/c.txt", "missing.md", "a.md"]))
    out = st.run_sync("primary")["trajectory"]["steps"]["run"]["outputs"]
    assert [f["sandbox_path"] for f in out["primary_files"]] == ["/app/results/b/c.txt", "/app/results/a.md"]


@pytest.mark.parametrize("cfg,error", [
    ({"instruction_path": None, "instruction": None}, "instruction is required"),
    ({"agent_path": None, "agent": "opencode"}, 'agent "opencode" is not supported'),
    ({"memory": "lots"}, "memory must be a size"),
    ({"cpus": 0}, "cpus must be an integer from 1"),
    ({"timeout_sec": "soon"}, "timeout_sec must be an integer"),
    ({"agent_env": {"ANTHROPIC_BASE_URL": "http://evil"}}, "agent_env may not set ANTHROPIC_BASE_URL"),
    ({"agent_env": {"BAD-NAME": "x"}}, 'agent_env: "BAD-NAME" is not a valid variable name'),
    ({"files_path": None, "files": ["other/t/0000/x.txt"]}, "is not a stored file of collection acme"),
    ({"files_path": None, "files": ["acme/../other/x.txt"]}, "is not a stored file of collection acme"),
])
def test_config_errors_fail_the_step_with_the_fix(st, cfg, error):
    wf = runbook_task({"actions": []})
    step = wf["step_configs"]["run"]
    for k, v in cfg.items():
        if v is None:
            step.pop(k, None)
        else:
            step[k] = v
    if "instruction" in cfg:
        wf["init_params"].pop("instruction")
    st.task("bad-config", wf)
    traj = st.run_sync("bad-config")["trajectory"]
    assert traj["status"] == "failed"
    assert error in traj["steps"]["run"]["error"], traj["steps"]["run"]["error"]
    assert st.mock.requests == []


def test_agent_env_reaches_the_agent(st):
    st.task("agent-env", runbook_task({"actions": []}, agent_env={"MY_FLAG": "on", "LEVEL": 3}))
    rep = report_of(st, st.run_sync("agent-env")["trajectory"]["steps"]["run"]["outputs"])
    assert (rep["env"]["MY_FLAG"], rep["env"]["LEVEL"]) == ("on", "3")


def test_missing_agent_fails_with_the_install_command(st):
    st.task("no-gemini", runbook_task({"actions": []}, agent_path=None, agent="gemini-cli"))
    traj = st.run_sync("no-gemini")["trajectory"]
    assert traj["status"] == "failed"
    assert "pier agent install gemini-cli" in traj["steps"]["run"]["error"], traj["steps"]["run"]["error"]


def test_codex_gets_its_provider_key_and_is_inferred_from_the_model(st):
    install_fake_agent(st.pier.data_dir, "codex")
    st.pier.set_env(COLLECTION, {**st.env, "OPENAI_API_KEY": "sk-openai-runbook-0123456789"})
    try:
        wf = runbook_task({"actions": []}, agent_path=None, model_provider_path=None)
        wf["init_params"]["model"] = "gpt-5.5"
        st.task("codex", wf)
        out = st.run_sync("codex")["trajectory"]["steps"]["run"]["outputs"]
        rep = report_of(st, out)
        assert out["agent"] == "codex"
        assert rep["argv"][:3] == ["exec", "--model", "gpt-5.5"]
        assert rep["env"]["OPENAI_API_KEY"] == "sk-openai-runbook-0123456789"
        assert "ANTHROPIC_BASE_URL" not in rep["env"] and TOKEN not in json.dumps(rep)
    finally:
        st.pier.set_env(COLLECTION, {"OPENAI_API_KEY": None})


# -- ending -------------------------------------------------------------------------------------------

def test_agent_failure_fails_the_step_with_its_stderr(st):
    st.task("crash", runbook_task({"actions": [{"do": "exit", "code": 3, "stderr": "model not found: xyz\n"}]}))
    traj = st.run_sync("crash")["trajectory"]
    step = traj["steps"]["run"]
    assert step["status"] == "failed"
    assert step["error"] == "the agent exited with status 3: model not found: xyz\n"
    assert step["outputs"]["success"] is False and step["outputs"]["exit_code"] == 3


def test_timeout_kills_the_process_group(st):
    marker = "pier-rb-timeout-%d" % os.getpid()
    st.task("slow", runbook_task({"actions": [{"do": "spawn", "marker": marker}, {"do": "sleep", "seconds": 300}],
                                  "no_report": True}, timeout_sec=2))
    traj = st.run_sync("slow")["trajectory"]
    step = traj["steps"]["run"]
    assert (traj["status"], step["status"], step["error"]) == ("failed", "failed", "timed out after 2 s")
    wait_until(lambda: no_process_with(marker), 10, "the agent's children to be killed")


def test_cancel_kills_the_agent_and_revokes_its_token(st):
    marker = "pier-rb-cancel-%d" % os.getpid()
    st.task("cancel-me", runbook_task({"actions": [{"do": "spawn", "marker": marker},
                                                   {"do": "sleep", "seconds": 300}]}))
    tid = st.run_async("cancel-me")
    wait_until(lambda: not no_process_with(marker), 20, "the agent to start")
    work = os.path.join(st.pier.data_dir, "work")
    (app,) = [os.path.join(work, d) for d in os.listdir(work) if d.startswith(tid)]
    report = os.path.join(app, "results", "report.json")
    wait_until(lambda: os.path.exists(report) and os.path.getsize(report) > 0, 20, "the report")
    token = json.load(open(report))["env"]["ANTHROPIC_AUTH_TOKEN"]
    r = st.pier.post("/v1/messages", token=token,
                     json={"model": SONNET, "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]})
    assert r.status_code == 200, r.text  # valid while the run runs
    assert st.cancel("cancel-me", tid).status_code == 200
    traj = st.wait_status("cancel-me", tid)
    assert (traj["status"], traj["steps"]["run"]["status"]) == ("cancelled", "cancelled")
    wait_until(lambda: no_process_with(marker), 10, "the agent's process group to be killed")
    wait_until(lambda: not os.path.exists(app), 10, "the run's /app to be removed")
    r = st.pier.post("/v1/messages", token=token,
                     json={"model": SONNET, "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]})
    assert r.status_code == 401


# -- runbook mode of /v1/chat/completions ---------------------------------------------------------

def chat_body(plan, stream=False, **jetty):
    body = {"model": SONNET, "stream": stream,
            "messages": [{"role": "system", "content": json.dumps(plan)},
                         {"role": "user", "content": "Execute the runbook."}],
            "jetty": {"runbook": True, "collection": COLLECTION, "task": "chat-runbook", "agent": "claude-code",
                      "model_provider": "bedrock", "snapshot": "python312-uv", **jetty}}
    return body


def test_chat_runbook_mode_answers_200_when_done(st):
    st.mock.script(Reply(text="Done: wrote out.md", usage={"inputTokens": 50, "outputTokens": 6}))
    plan = {"actions": [{"do": "write", "path": "out.md", "content": "{{greeting}}"},
                        {"do": "messages", "text": "finish"}]}
    r = st.pier.post("/v1/chat/completions", token=st.key,
                     json=chat_body(plan, template_variables={"greeting": "hi there"}, timeout_hint=120,
                                    labels=[{"key": "origin", "value": "chat"}]), timeout=150)
    assert r.status_code == 200, r.text
    c = r.json()
    meta = c["jetty_metadata"]
    tid = meta["trajectory_id"]
    assert c["id"] == f"chatcmpl-{tid}" and c["object"] == "chat.completion" and c["model"] == SONNET
    assert c["choices"] == [{"index": 0, "message": {"role": "assistant", "content": "Done: wrote out.md"},
                             "finish_reason": "stop"}]
    assert c["usage"] == {"prompt_tokens": 50, "completion_tokens": 6, "total_tokens": 56}
    assert (meta["mode"], meta["status"], meta["collection"], meta["task"], meta["workflow_id"]) == (
        "runbook", "completed", COLLECTION, "chat-runbook", f"{COLLECTION}-chat-runbook--{tid}")
    (f,) = [f for f in meta["files"] if f["sandbox_path"] == "/app/results/out.md"]
    assert get_file(st, f["path"]).content == b"hi there"
    traj = st.traj("chat-runbook", tid)
    assert traj["status"] == "completed"
    assert [(l["key"], l["value"]) for l in traj["labels"]] == [("origin", "chat")]
    rep = report_of(st, traj["steps"]["run"]["outputs"])
    assert rep["instruction"].endswith("\n\nExecute the runbook.")
    # the task was created with the canonical runbook workflow
    task = st.pier.get(f"/api/v1/tasks/{COLLECTION}/chat-runbook", token=st.key).json()
    assert task["workflow"]["step_configs"]["run"]["activity"] == "runbook"
    assert task["workflow"]["steps"] == ["run"]


def test_chat_runbook_mode_answers_202_after_timeout_hint(st):
    body = chat_body({"actions": [{"do": "say", "text": "late"}]}, timeout_hint=0)
    r = st.pier.post("/v1/chat/completions", token=st.key, json=body)
    assert r.status_code == 202, r.text
    c = r.json()
    meta = c["jetty_metadata"]
    tid = meta["trajectory_id"]
    assert c["id"] == f"chatcmpl-{COLLECTION}-chat-runbook--{tid}"
    assert (meta["mode"], meta["status"], meta["workflow_id"]) == ("runbook", "running",
                                                                   f"{COLLECTION}-chat-runbook--{tid}")
    traj = st.wait_status("chat-runbook", tid, timeout=60)
    assert traj["status"] == "completed" and traj["steps"]["run"]["outputs"]["text"] == "late"


def sse_chunks(resp):
    """(kind, payload) per SSE line group: ("chunk", dict), ("keepalive", None), ("done", None)."""
    for line in resp.iter_lines(decode_unicode=True):
        if line.startswith(":"):
            yield "keepalive", None
        elif line == "data: [DONE]":
            yield "done", None
        elif line.startswith("data: "):
            yield "chunk", json.loads(line[6:])


def test_chat_runbook_mode_streams_progress_with_keepalives(st):
    st.mock.script(Reply(text="Thinking done.", usage={"inputTokens": 30, "outputTokens": 4}))
    plan = {"actions": [{"do": "messages", "text": "think"},
                        {"do": "wait_for", "path": "/app/results/go"},
                        {"do": "write", "path": "final.txt", "content": "ok"},
                        {"do": "say", "text": "All finished."}]}
    body = chat_body(plan, stream=True)
    body["stream_options"] = {"include_usage": True}
    with st.pier.session.post(st.pier.url + "/v1/chat/completions", json=body, stream=True, timeout=120,
                              headers={"Authorization": f"Bearer {st.key}"}) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        events = []
        go_written = False
        for kind, chunk in sse_chunks(r):
            events.append((kind, chunk))
            if kind == "chunk" and not go_written and "Thinking done." in (
                    chunk["choices"][0]["delta"].get("content") or ""):
                tid = events[0][1]["jetty_metadata"]["trajectory_id"]
                work = os.path.join(st.pier.data_dir, "work")
                (app,) = [os.path.join(work, d) for d in os.listdir(work) if d.startswith(tid)]
                # hold the agent until a keep-alive went out, then let it go on
                go_written = "waiting"
            if kind == "keepalive" and go_written == "waiting":
                open(os.path.join(app, "results", "go"), "w").close()
                go_written = True
    kinds = [k for k, _ in events]
    assert kinds[-1] == "done" and "keepalive" in kinds
    chunks = [c for k, c in events if k == "chunk"]
    first, last = chunks[0], chunks[-1]
    tid = first["jetty_metadata"]["trajectory_id"]
    assert first["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert (first["jetty_metadata"]["status"], first["jetty_metadata"]["workflow_id"]) == (
        "running", f"{COLLECTION}-chat-runbook--{tid}")
    assert all(c["id"] == f"chatcmpl-{tid}" and c["object"] == "chat.completion.chunk" for c in chunks)
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
    assert text.startswith("Running agent: claude-code via bedrock (model us.anthropic.claude-sonnet-4-6)\n")
    assert "Thinking done.\n" in text and "> Write /app/results/final.txt\n" in text
    assert text.endswith("All finished.\n")
    assert last["choices"][0]["finish_reason"] == "stop"
    meta = last["jetty_metadata"]
    assert (meta["status"], meta["trajectory_id"], meta["result"]) == ("completed", tid,
                                                                       "Thinking done.\nAll finished.")
    assert last["usage"] == {"prompt_tokens": 30, "completion_tokens": 4, "total_tokens": 34}
    assert [c for c in chunks[1:-1] if "jetty_metadata" in c] == []


def test_events_stream_replays_progress_to_a_late_watcher(st):
    """A watcher that connects mid-step first gets the progress it missed."""
    plan = {"actions": [{"do": "say", "text": "halfway there"},
                        {"do": "write", "path": "ready", "content": ""},
                        {"do": "wait_for", "path": "/app/results/go"}], "no_report": True}
    st.task("late-watch", runbook_task(plan))
    tid = st.run_async("late-watch")
    work = os.path.join(st.pier.data_dir, "work")

    def app_dir():
        dirs = [os.path.join(work, d) for d in os.listdir(work) if d.startswith(tid)] if os.path.isdir(work) else []
        return dirs[0] if dirs and os.path.exists(os.path.join(dirs[0], "results", "ready")) else None
    app = wait_until(app_dir, 30, "the agent to have said something")
    url = f"{st.pier.url}/api/v1/db/trajectory/{COLLECTION}/late-watch/{tid}/events"
    with st.pier.session.get(url, stream=True, timeout=60, headers={"Authorization": f"Bearer {st.key}"}) as r:
        assert r.status_code == 200
        events, name = [], None
        for line in r.iter_lines(decode_unicode=True):
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                events.append((name, json.loads(line[6:])))
                if name == "step_progress" and "halfway there" in events[-1][1]["text"]:
                    open(os.path.join(app, "results", "go"), "w").close()
                if name == "end":
                    break
    names = [n for n, _ in events]
    assert names[:3] == ["status", "step_started", "step_progress"], names
    replay = events[2][1]
    assert replay["step_name"] == "run"
    assert replay["text"].startswith("Running agent: claude-code via bedrock")
    assert replay["text"].endswith("halfway there\n> Write /app/results/ready\n")
    assert events[-1][1]["status"] == "completed"


def test_progress_never_shows_the_collections_secret_values(st):
    """An agent that prints a secret of its environment (Codex and Gemini CLI hold the
    provider key) does not leak it to watchers: live progress is redacted like outputs.
    (The plan carries the value here only so the stand-in agent can print it.)"""
    plan = {"actions": [{"do": "say", "text": f"my key is {TOKEN} ok"},
                        {"do": "write", "path": "ready", "content": ""},
                        {"do": "wait_for", "path": "/app/results/go"}], "no_report": True}
    st.task("leaky", runbook_task(plan))
    tid = st.run_async("leaky")
    work = os.path.join(st.pier.data_dir, "work")

    def app_dir():
        dirs = [os.path.join(work, d) for d in os.listdir(work) if d.startswith(tid)] if os.path.isdir(work) else []
        return dirs[0] if dirs and os.path.exists(os.path.join(dirs[0], "results", "ready")) else None
    app = wait_until(app_dir, 30, "the agent to have spoken")
    url = f"{st.pier.url}/api/v1/db/trajectory/{COLLECTION}/leaky/{tid}/events"
    with st.pier.session.get(url, stream=True, timeout=60, headers={"Authorization": f"Bearer {st.key}"}) as r:
        assert r.status_code == 200
        progress, name = [], None
        for line in r.iter_lines(decode_unicode=True):
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: ") and name == "step_progress":
                progress.append(json.loads(line[6:])["text"])
                if "my key is" in progress[-1]:
                    open(os.path.join(app, "results", "go"), "w").close()
            elif name == "end":
                break
    assert any("my key is [REDACTED] ok" in t for t in progress), progress
    assert not any(TOKEN in t for t in progress)


def test_cli_follow_shows_the_agent_progress(st, tmp_path):
    plan = {"actions": [{"do": "say", "text": "checking the inputs"},
                        {"do": "write", "path": "out.md", "content": "x"}], "no_report": True}
    st.task("cli-follow", runbook_task(plan))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIER_", "AWS_"))}
    env.update({"HOME": str(tmp_path), "PIER_URL": st.pier.url, "PIER_TOKEN": st.key, "NO_COLOR": "1"})
    p = subprocess.run([PIER_BIN, "run", f"{COLLECTION}/cli-follow", "--follow"], capture_output=True, text=True,
                       env=env, timeout=120)
    assert p.returncode == 0, p.stderr
    lines = p.stderr.splitlines()
    assert "    checking the inputs" in lines, lines
    assert "    > Write /app/results/out.md" in lines, lines
    assert any(l.startswith("    Running agent: claude-code via bedrock") for l in lines), lines
    assert any(l.startswith("✓ run") for l in lines), lines
    assert "pier_run_" not in p.stderr + p.stdout and TOKEN not in p.stderr + p.stdout


def test_chat_runbook_mode_reports_a_failed_run(st):
    body = chat_body({"actions": [{"do": "exit", "code": 2, "result": "could not do it"}]}, timeout_hint=120)
    r = st.pier.post("/v1/chat/completions", token=st.key, json=body, timeout=150)
    assert r.status_code == 200, r.text
    c = r.json()
    assert c["jetty_metadata"]["status"] == "failed"
    assert c["choices"][0]["message"]["content"] == (
        'The runbook run failed: step "run" failed: the agent exited with status 2: could not do it')


@pytest.mark.parametrize("patch,error", [
    ({"jetty": {"runbook": True, "collection": COLLECTION, "cpus": "four"}}, "jetty.cpus must be a number"),
    ({"jetty": {"runbook": True, "collection": COLLECTION, "task": "bad name"}}, "jetty.task must be 1-128"),
    ({"jetty": {"runbook": True, "collection": COLLECTION, "timeout_hint": -1}}, "jetty.timeout_hint must be"),
    ({"jetty": {"runbook": True, "collection": COLLECTION, "labels": [{"key": 1}]}}, "jetty.labels must be"),
    ({"jetty": {"runbook": True, "collection": COLLECTION, "file_paths": "x"}}, "jetty.file_paths must be an array"),
    ({"messages": []}, "runbook mode needs the runbook as the system message"),
    ({"model": ""}, "model is required"),
])
def test_chat_runbook_mode_rejects_bad_requests(st, patch, error):
    body = chat_body({"actions": []})
    body.update(patch)
    r = st.pier.post("/v1/chat/completions", token=st.key, json=body)
    assert r.status_code == 400, r.text
    assert error in r.json()["error"]["message"], r.text


def test_chat_runbook_mode_refuses_run_tokens(st):
    # an agent (holding a run token) asks for a runbook of its own
    plan = {"actions": [{"do": "http_post", "path": "/v1/chat/completions",
                         "body": chat_body({"actions": []})}]}
    st.task("nested", runbook_task(plan))
    rep = report_of(st, st.run_sync("nested")["trajectory"]["steps"]["run"]["outputs"])
    (status, body), = rep["posts"]
    assert status == 403 and "cannot start runbooks" in body


# -- the real Claude Code ------------------------------------------------------------------------------

def claude_code_dir():
    """An installed Claude Code: PIER_TEST_CLAUDE_DIR (a `pier agent install` agents/claude-code
    dir), or build/test-agents/agents/claude-code as `make test` leaves it."""
    for d in (os.environ.get("PIER_TEST_CLAUDE_DIR"),
              os.path.join(HERE, "..", "..", "build", "test-agents", "agents", "claude-code")):
        if d and os.path.exists(os.path.join(d, "node_modules", ".bin", "claude")):
            return os.path.abspath(d)
    return None


@pytest.mark.skipif(claude_code_dir() is None, reason="Claude Code is not installed (make test-agents)")
def test_real_claude_code_writes_a_result_through_pier(tmp_path):
    mock = MockBedrock(bearer_tokens={TOKEN}).start()
    s = Stack(mock=mock)
    try:
        target = os.path.join(s.pier.data_dir, "agents", "claude-code")
        os.makedirs(os.path.dirname(target), exist_ok=True)
        subprocess.run(["cp", "-al", claude_code_dir(), target], check=True)
        mock.script(Reply(tool_calls=[{"name": "Write", "input": {"file_path": "/app/results/hello.md",
                                                                 "content": "hello from claude\n"}}],
                          usage={"inputTokens": 5000, "outputTokens": 40}),
                    Reply(text="Wrote /app/results/hello.md.", usage={"inputTokens": 5100, "outputTokens": 9}))
        wf = runbook_task({}, network_enabled=False, memory="8G", cpus=2, timeout_sec=180)
        wf["init_params"]["instruction"] = "Write 'hello from claude' to {{results_dir}}/hello.md."
        s.task("real-claude", wf)
        traj = s.run_sync("real-claude", timeout=240)["trajectory"]
        step = traj["steps"]["run"]
        assert traj["status"] == "completed", step
        out = step["outputs"]
        assert out["text"] == "Wrote /app/results/hello.md."
        (f,) = out["results_files"]
        assert f["sandbox_path"] == "/app/results/hello.md"
        assert get_file(s, f["path"]).content == b"hello from claude\n"
        reqs = [q for q in mock.requests if q.operation.startswith("invoke")]
        assert len(reqs) >= 2 and all(q.model_id == SONNET and q.auth == "bearer" for q in reqs)
        assert "/app/results/hello.md" in json.dumps(reqs[0].json["messages"])
        assert out["usage"]["api_calls"] == len(mock.requests)
        assert out["usage"]["completion_tokens"] >= 49 and out["usage"]["prompt_tokens"] >= 10100
    finally:
        s.close()
        mock.stop()
