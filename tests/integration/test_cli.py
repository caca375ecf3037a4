"""The `pier` command line against a real server: help and usage, exit codes per
error class, collections, API keys, environment (secrets never in argv or output),
tasks, login (file modes, where the token may go) and bash completion.

Runs, trajectories, chat and doctor are in test_cli_run.py, which imports the
helpers of this file. Invariant: every CLI call runs with a private HOME, no
terminal and a clean environment, so only what a test passes reaches it.
"""
import http.server
import json
import os
import pty
import re
import select
import stat
import subprocess
import tempfile
import termios
import threading
import time

import pytest

from conftest import PIER_BIN, ROOT, PierServer
from mocks.bedrock import MockBedrock

BEARER = "ABSKQ2xpVGVzdEJlYXJlclRva2VuLTAxMjM0NTY3ODk="  # distinctive, to spot leaks
ESC = "\x1b["
KEY_RE = re.compile(r"mlc_[a-z0-9]{32}")
SERVER_ARGS = ["--upstream-retry-base-ms", "10", "--upstream-retries", "1", "--run-sync-timeout-ms", "1500"]

ECHO_WF = {"init_params": {"name": "world"},
           "step_configs": {"a": {"activity": "text_echo", "text": "hello {{ init_params.name }}"},
                            "b": {"activity": "text_echo", "text": "b: {{ a.outputs.text }}"}},
           "steps": ["a", "b"]}


class Stack:
    """One pier + one mock Bedrock; collection "acme" points at the mock with a
    Bedrock API key, "other" is empty."""

    def __init__(self):
        self.mock = MockBedrock(bearer_tokens={BEARER}).start()
        self.pier = PierServer(args=SERVER_ARGS).start()
        self.pier.create_collection("acme")
        self.pier.create_collection("other")
        self.bedrock_env()
        self.home = tempfile.TemporaryDirectory(prefix="pier-cli-home-")

    def bedrock_env(self, **extra):
        names = ("AWS_BEARER_TOKEN_BEDROCK", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                 "AWS_REGION")
        values = {n: None for n in names}
        values.update({"AWS_BEARER_TOKEN_BEDROCK": BEARER, "AWS_REGION": "us-east-1",
                       "AWS_BEDROCK_RUNTIME_ENDPOINT": self.mock.url})
        values.update(extra)
        self.pier.set_env("acme", values)

    def env(self, token="admin", **extra):
        """Environment of a CLI call: clean, private HOME, URL and token of this server."""
        e = {k: v for k, v in os.environ.items()
             if not k.startswith(("PIER_", "AWS_", "XDG_", "NO_COLOR")) and k not in ("HOME", "TERM")}
        e["HOME"] = self.home.name
        e["PIER_URL"] = self.pier.url
        e["PIER_DATA_DIR"] = os.path.join(self.home.name, "no-data")
        if token == "admin":
            token = self.pier.admin_token
        if token:
            e["PIER_TOKEN"] = token
        e.update({k: v for k, v in extra.items() if v is not None})
        for k, v in extra.items():
            if v is None:
                e.pop(k, None)
        return e

    def cli(self, *args, input=None, token="admin", timeout=30, **env):
        """Run pier; returns CompletedProcess with text stdout/stderr."""
        p = subprocess.run([PIER_BIN, *args], input=input, capture_output=True, text=True,
                           env=self.env(token, **env), timeout=timeout, cwd=self.home.name)
        assert "AddressSanitizer" not in p.stderr and "runtime error:" not in p.stderr, p.stderr
        return p

    def ok(self, *args, **kw):
        p = self.cli(*args, **kw)
        assert p.returncode == 0, f"pier {' '.join(args)} -> {p.returncode}\n{p.stdout}\n{p.stderr}"
        return p

    def json(self, *args, **kw):
        return json.loads(self.ok(*args, "--json", **kw).stdout)

    def close(self):
        try:
            self.pier.stop()
        finally:
            self.pier.cleanup()
            self.mock.stop()
            self.home.cleanup()


@pytest.fixture(scope="module")
def stack():
    s = Stack()
    yield s
    s.close()


@pytest.fixture(autouse=True)
def _fresh_mock(stack):
    stack.mock.reset()
    yield
    assert not stack.mock.errors, stack.mock.errors


def no_escapes(p):
    assert ESC not in p.stdout and ESC not in p.stderr, (p.stdout, p.stderr)


# ---- help and usage -------------------------------------------------------------------------

def test_help_lists_every_command(stack):
    p = stack.ok("help")
    for cmd in ("serve", "login", "collections", "api-keys", "env", "tasks", "run", "trajectories", "chat", "doctor"):
        assert re.search(rf"^  {cmd}\s", p.stdout, re.M), cmd
    assert stack.ok("--help").stdout == p.stdout


@pytest.mark.parametrize("args", [
    ["collections", "list"], ["collections", "create"], ["collections", "delete"], ["api-keys", "create"],
    ["api-keys", "list"], ["api-keys", "revoke"], ["env", "list"], ["env", "set"], ["env", "unset"],
    ["tasks", "list"], ["tasks", "get"], ["tasks", "put"], ["tasks", "delete"], ["run"], ["trajectories", "list"],
    ["trajectory", "show"], ["trajectory", "follow"], ["trajectory", "cancel"], ["trajectory", "download"],
    ["chat"], ["doctor"], ["login"], ["logout"]])
def test_every_command_has_help(stack, args):
    p = stack.ok(*args, "--help", token=None)
    assert p.stdout.startswith("usage: pier " + " ".join(args).replace("trajectory", "trajectories"))
    assert "--json" in p.stdout and "--url" in p.stdout
    assert stack.ok("help", *args, token=None).stdout == p.stdout


def test_usage_errors_exit_2(stack):
    cases = [
        (["nosuchcommand"], "unknown command"),
        (["collections"], "usage: pier collections <verb>"),
        (["collections", "frobnicate"], "not a verb"),
        (["tasks", "get"], "missing arguments"),
        (["tasks", "get", "acme/t", "extra"], "too many arguments"),
        (["tasks", "get", "acme"], "expected COLLECTION/TASK"),
        (["trajectory", "show", "acme/t"], "expected COLLECTION/TASK/ID"),
        (["run", "acme/t", "--bogus"], "unknown option --bogus"),
        (["run", "acme/t", "-p"], "--param needs a value"),
        (["run", "acme/t", "-p", "novalue"], "name=value"),
        (["run", "acme/t", "--file", "/nonexistent/file"], "not a readable file"),
        (["collections", "list", "--json=yes"], "takes no value"),
    ]
    for args, msg in cases:
        p = stack.cli(*args)
        assert p.returncode == 2, (args, p.returncode, p.stderr)
        assert msg in p.stderr, (args, p.stderr)
        assert p.stdout == ""
    assert stack.cli().returncode == 2  # no command at all


# ---- exit codes per error class ---------------------------------------------------------------

def test_exit_codes_per_class(stack):
    p = stack.cli("collections", "list", token="not-a-real-token")
    assert p.returncode == 3 and "Invalid API key or JWT token (HTTP 401)" in p.stderr
    assert "from $PIER_TOKEN" in p.stderr  # says which token was refused, never the token
    assert "not-a-real-token" not in p.stderr

    key = stack.pier.create_key("other")["api_key"]
    p = stack.cli("tasks", "list", "acme", token=key)
    assert p.returncode == 3 and "API key not valid for this collection (HTTP 403)" in p.stderr

    p = stack.cli("tasks", "get", "acme/missing")
    assert p.returncode == 4 and "Task 'missing' not found in collection 'acme' (HTTP 404)" in p.stderr
    assert stack.cli("env", "list", "nosuch").returncode == 4

    p = stack.cli("collections", "list", PIER_URL="http://127.0.0.1:9")  # nothing listens on the discard port
    assert p.returncode == 5 and "cannot reach the pier server at http://127.0.0.1:9" in p.stderr

    p = stack.cli("collections", "create", "x" * 70)
    assert p.returncode == 1 and "(HTTP 422)" in p.stderr

    p = stack.cli("collections", "list", token=None)  # nothing configured, no admin.token at hand
    assert p.returncode == 3 and "no token" in p.stderr and "pier login" in p.stderr
    no_escapes(p)


def test_server_failure_exits_5(stack):
    stack.mock.script({"type": "error", "code": "ServiceUnavailableException"},
                      {"type": "error", "code": "ServiceUnavailableException"})
    p = stack.cli("chat", "us.anthropic.claude-sonnet-4-6", "hi", "-c", "acme")
    assert p.returncode == 5, p.stderr
    assert "ServiceUnavailableException" in p.stderr or "Bedrock is unable" in p.stderr, p.stderr


# ---- collections ------------------------------------------------------------------------------------

def test_collections_lifecycle(stack):
    p = stack.ok("collections", "create", "cli-temp", "-d", "made by the CLI")
    assert p.stdout == "" and "Created collection cli-temp." in p.stderr
    listed = stack.json("collections", "list")
    assert {"acme", "other", "cli-temp"} <= {c["name"] for c in listed}
    p = stack.ok("collections", "list")
    lines = p.stdout.splitlines()
    assert re.match(r"NAME\s+DESCRIPTION\s+CREATED$", lines[0])
    row = next(ln for ln in lines if ln.startswith("cli-temp"))
    assert "made by the CLI" in row and row.endswith("ago")
    # columns are aligned: DESCRIPTION starts at the same offset on every line
    col = lines[0].index("DESCRIPTION")
    assert all(ln[col - 2:col] == "  " for ln in lines[1:])
    no_escapes(p)

    dup = stack.cli("collections", "create", "CLI-TEMP")
    assert dup.returncode == 1 and "Collection already exists (HTTP 400)" in dup.stderr

    p = stack.cli("collections", "delete", "cli-temp")  # not interactive: needs --yes
    assert p.returncode == 2 and "--yes" in p.stderr
    assert "cli-temp" in {c["name"] for c in stack.json("collections", "list")}
    stack.ok("collections", "delete", "cli-temp", "--yes")
    assert "cli-temp" not in {c["name"] for c in stack.json("collections", "list")}
    assert stack.cli("collections", "delete", "cli-temp", "--yes").returncode == 4


def test_leading_global_options(stack):
    a = stack.ok("--json", "collections", "list").stdout
    assert json.loads(a) == stack.json("collections", "list")
    assert stack.ok("--url", stack.pier.url, "collections", "list", PIER_URL="http://127.0.0.1:9").returncode == 0


# ---- API keys ------------------------------------------------------------------------------------------

def test_api_keys_create_list_revoke(stack):
    p = stack.ok("api-keys", "create", "acme", "--name", "ci")
    key = p.stdout.strip()
    assert KEY_RE.fullmatch(key), p.stdout  # the key alone on stdout
    assert "shown only this once" in p.stderr and key not in p.stderr
    assert [c["name"] for c in stack.json("collections", "list", token=key)] == ["acme"]

    keys = stack.json("api-keys", "list", "acme")
    mine = next(k for k in keys if k["name"] == "ci")
    assert mine["is_active"] is True and "api_key" not in mine and key[:8] == mine["key_prefix"]
    table = stack.ok("api-keys", "list", "acme").stdout
    assert re.search(rf"^{mine['id']}\s+ci\s+{mine['key_prefix']}\s+active\s", table, re.M), table
    assert key not in table

    p = stack.ok("api-keys", "revoke", "acme", "ci")  # by name; PUT is_active=false
    assert f"Revoked API key {mine['id']} of collection acme." in p.stderr
    assert stack.cli("collections", "list", token=key).returncode == 3
    revoked = next(k for k in stack.json("api-keys", "list", "acme") if k["id"] == mine["id"])
    assert revoked["is_active"] is False
    assert re.search(rf"^{mine['id']}\s+ci\s+\S+\s+revoked\s", stack.ok("api-keys", "list", "acme").stdout, re.M)

    assert stack.cli("api-keys", "revoke", "other", str(mine["id"])).returncode == 4  # not other's key
    stack.ok("api-keys", "revoke", "acme", str(mine["id"]), "--delete")
    assert all(k["id"] != mine["id"] for k in stack.json("api-keys", "list", "acme"))
    assert stack.cli("api-keys", "revoke", "acme", "nosuchkey").returncode == 4

    created = stack.json("api-keys", "create", "acme")
    assert KEY_RE.fullmatch(created["api_key"]) and created["collection_name"] == "acme"


# ---- environment ---------------------------------------------------------------------------------------

def _cmdline(pid):
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        return f.read().decode(errors="replace")


def test_env_set_reads_the_value_from_stdin_never_argv(stack):
    secret = "sk-CliSecretValue-" + os.urandom(6).hex()
    proc = subprocess.Popen([PIER_BIN, "env", "set", "other", "OPENAI_API_KEY"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=stack.env())
    try:
        time.sleep(0.3)
        assert proc.poll() is None  # waiting for the value on stdin
        assert _cmdline(proc.pid) == f"{PIER_BIN}\0env\0set\0other\0OPENAI_API_KEY\0"
        out, err = proc.communicate(secret.encode() + b"\n", timeout=10)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert secret.encode() not in out + err and b"Set OPENAI_API_KEY on other." in err

    p = stack.ok("env", "list", "other")
    assert p.stdout == "OPENAI_API_KEY\n"
    raw = stack.ok("env", "list", "other", "--json").stdout
    assert json.loads(raw)["environment_variables"] == {"OPENAI_API_KEY": "********"}
    assert secret not in raw

    # a value on the command line is refused, and not echoed back
    p = stack.cli("env", "set", "other", f"OPENAI_API_KEY={secret}")
    assert p.returncode == 2 and secret not in p.stderr + p.stdout and "never taken from the command line" in p.stderr
    assert stack.cli("env", "set", "other", "EMPTY", input="").returncode == 2
    assert stack.cli("env", "set", "other", "9BAD", input="x").returncode == 2

    stack.ok("env", "set", "other", "SECOND", input="two\n")
    stack.ok("env", "set", "other", "THIRD", input="three")
    assert stack.ok("env", "list", "other").stdout.split() == ["OPENAI_API_KEY", "SECOND", "THIRD"]
    p = stack.ok("env", "unset", "other", "SECOND", "THIRD", "NEVER_SET")
    assert "Unset 3 variables on other." in p.stderr
    assert stack.ok("env", "list", "other").stdout == "OPENAI_API_KEY\n"
    stack.ok("env", "unset", "other", "OPENAI_API_KEY")
    p = stack.ok("env", "list", "other")
    assert p.stdout == "" and "No environment variables." in p.stderr


def read_chunk(fd, wait):
    """One read of fd (a pty's master side) within `wait` seconds: None if nothing came,
    b"" once the other side is closed."""
    if not select.select([fd], [], [], wait)[0]:
        return None
    try:
        return os.read(fd, 4096)
    except OSError:
        return b""


def _read_until(fd, needle, timeout=10):
    data, deadline = b"", time.monotonic() + timeout
    while needle not in data and time.monotonic() < deadline:
        chunk = read_chunk(fd, 0.2)
        if chunk == b"":
            break
        data += chunk or b""
    return data


def test_env_set_prompt_hides_input_on_a_terminal(stack):
    secret = "TypedSecret-" + os.urandom(4).hex()
    master, slave = pty.openpty()
    proc = subprocess.Popen([PIER_BIN, "env", "set", "other", "TYPED"], stdin=slave, stdout=subprocess.PIPE,
                            stderr=slave, env=stack.env())
    try:
        shown = _read_until(master, b"(input hidden): ")
        assert b"Value for TYPED (input hidden): " in shown, shown
        assert not termios.tcgetattr(slave)[3] & termios.ECHO  # echo is off while it waits
        os.write(master, secret.encode() + b"\n")
        proc.wait(10)
        shown += _read_until(master, b"Set TYPED", timeout=2)
    finally:
        proc.kill()
    assert proc.returncode == 0, shown
    assert secret.encode() not in shown + proc.stdout.read()
    assert termios.tcgetattr(slave)[3] & termios.ECHO  # and back on afterwards
    os.close(master)
    os.close(slave)
    assert "TYPED" in stack.ok("env", "list", "other").stdout
    stack.ok("env", "unset", "other", "TYPED")


def test_env_set_value_arrives_intact(stack):
    """The value piped to `env set` is the one the provider sees: the mock only
    accepts its own bearer token."""
    stack.bedrock_env(AWS_BEARER_TOKEN_BEDROCK="ABSKwrong")
    assert stack.cli("chat", "us.anthropic.claude-sonnet-4-6", "hi", "-c", "acme").returncode != 0
    stack.ok("env", "set", "acme", "AWS_BEARER_TOKEN_BEDROCK", input=BEARER + "\n")
    p = stack.ok("chat", "us.anthropic.claude-sonnet-4-6", "hi", "-c", "acme")
    assert p.stdout == "PONG\n"
    assert stack.mock.last_request.bearer_token == BEARER


# ---- tasks -------------------------------------------------------------------------------------------------

def test_tasks_put_get_list_delete(stack, tmp_path):
    wf = tmp_path / "wf.json"
    wf.write_text(json.dumps(ECHO_WF))
    p = stack.ok("tasks", "put", "acme/greet", "--file", str(wf))
    assert "Created acme/greet (version 1)." in p.stderr
    p = stack.ok("tasks", "put", "acme/greet", "--file", str(wf), "-d", "says hello")
    assert "Updated acme/greet (version 2)." in p.stderr
    task = stack.json("tasks", "get", "acme/greet")
    assert task["workflow"] == ECHO_WF and task["version"] == 2 and task["description"] == "says hello"

    p = stack.ok("tasks", "get", "acme/greet")
    assert json.loads(p.stdout) == ECHO_WF  # the workflow alone on stdout: get > f; put --file f round-trips
    assert '\n  "init_params": {' in p.stdout and "\t" not in p.stdout
    assert "version 2" in p.stderr and "a → b" in p.stderr

    # a task body on stdin, with its own description
    body = {"workflow": ECHO_WF, "description": "from stdin", "name": "ignored"}
    p = stack.ok("tasks", "put", "acme/greet2", input=json.dumps(body))
    assert stack.json("tasks", "get", "acme/greet2")["description"] == "from stdin"

    table = stack.ok("tasks", "list", "acme").stdout
    assert re.search(r"^greet\s+2\s+a → b\s+\S+ ago\s+says hello$", table, re.M), table
    names = {t["name"] for t in stack.json("tasks", "list", "acme")}
    assert {"greet", "greet2"} <= names

    p = stack.ok("tasks", "delete", "acme/greet2")
    assert "Deleted acme/greet2." in p.stderr
    assert stack.cli("tasks", "get", "acme/greet2").returncode == 4
    assert stack.cli("tasks", "delete", "acme/greet2").returncode == 4


def test_tasks_put_shows_the_servers_json_path(stack, tmp_path):
    bad = json.loads(json.dumps(ECHO_WF))
    bad["step_configs"]["a"]["activity"] = 5
    f = tmp_path / "bad.json"
    f.write_text(json.dumps(bad))
    for name in ("greet-bad", "greet-bad"):  # missing (POST) and, below, existing (PUT)
        p = stack.cli("tasks", "put", f"acme/{name}", "--file", str(f))
        assert p.returncode == 1
        assert "workflow.step_configs.a.activity: must be a string naming an activity" in p.stderr, p.stderr
        assert "(HTTP 422)" in p.stderr
    stack.ok("tasks", "put", "acme/greet-ok", input=json.dumps(ECHO_WF))
    p = stack.cli("tasks", "put", "acme/greet-ok", "--file", str(f))
    assert p.returncode == 1 and "workflow.step_configs.a.activity" in p.stderr
    assert stack.json("tasks", "get", "acme/greet-ok")["version"] == 1

    f.write_text("{not json")
    p = stack.cli("tasks", "put", "acme/greet-ok", "--file", str(f))
    assert p.returncode == 2 and "invalid JSON at byte" in p.stderr
    p = stack.cli("tasks", "put", "acme/greet-ok", "--file", str(tmp_path / "missing.json"))
    assert p.returncode == 2 and "cannot read" in p.stderr


# ---- login -------------------------------------------------------------------------------------------------

def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_login_stores_url_and_token_privately(stack, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    token = stack.pier.admin_token
    env = {"HOME": str(home), "PIER_URL": None}
    proc = subprocess.Popen([PIER_BIN, "login", "--url", stack.pier.url + "/"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=stack.env(None, **env))
    try:
        time.sleep(0.2)
        assert token not in _cmdline(proc.pid)
        out, err = proc.communicate((token + "\n").encode(), timeout=10)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert token.encode() not in out + err
    assert b"Logged in to " + stack.pier.url.encode() in err
    d = home / ".config" / "pier"
    assert _mode(d) == 0o700 and _mode(d / "token") == 0o600 and _mode(d / "config.json") == 0o600
    assert (d / "token").read_text() == token + "\n"  # like ~/.config/jetty/token: TOKEN=$(cat ...)
    assert json.loads((d / "config.json").read_text()) == {"url": stack.pier.url}

    # later commands use it with nothing else configured
    p = stack.cli("collections", "list", token=None, **env)
    assert p.returncode == 0 and "acme" in p.stdout

    # the stored token goes only to the URL it was stored for
    seen = []

    class Capture(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append(dict(self.headers))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"[]")

        def log_message(self, *a):
            pass

    srv = http.server.HTTPServer(("127.0.0.1", 0), Capture)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        p = stack.cli("collections", "list", "--url", f"http://127.0.0.1:{srv.server_port}", token=None, **env)
    finally:
        srv.shutdown()
    assert p.returncode == 3 and "no token" in p.stderr
    assert seen == []

    p = stack.ok("logout", token=None, **env)
    assert not (d / "token").exists()
    assert stack.cli("collections", "list", token=None, **env).returncode == 3


def test_login_refuses_a_bad_token_and_honours_xdg(stack, tmp_path):
    xdg = tmp_path / "xdg"
    env = {"HOME": str(tmp_path / "h"), "XDG_CONFIG_HOME": str(xdg), "PIER_URL": stack.pier.url}
    p = stack.cli("login", input="mlc_" + "x" * 32 + "\n", token=None, **env)
    assert p.returncode == 3 and "nothing was saved" in p.stderr
    assert not xdg.exists()
    p = stack.cli("login", input="", token=None, **env)
    assert p.returncode == 2
    p = stack.cli("login", input="anything\n", token=None, **{**env, "PIER_URL": "http://127.0.0.1:9"})
    assert p.returncode == 5 and not xdg.exists()
    key = stack.pier.create_key("acme")["api_key"]
    stack.ok("login", input=key + "\n", token=None, **env)
    assert (xdg / "pier" / "token").read_text() == key + "\n"
    assert not (tmp_path / "h" / ".config").exists()
    assert [c["name"] for c in stack.json("collections", "list", token=None, **env)] == ["acme"]
    # an explicit token still wins over the stored one
    assert stack.cli("collections", "list", token="bogus-token", **env).returncode == 3


def test_local_admin_token_is_used_when_nothing_is_configured(stack, tmp_path):
    env = {"HOME": str(tmp_path), "PIER_DATA_DIR": stack.pier.data_dir}
    p = stack.cli("collections", "list", token=None, **env)
    assert p.returncode == 0 and "acme" in p.stdout
    # ./pier-data is the default data dir
    os.symlink(stack.pier.data_dir, tmp_path / "pier-data")
    p = subprocess.run([PIER_BIN, "collections", "list"], capture_output=True, text=True, cwd=tmp_path,
                       env=stack.env(None, HOME=str(tmp_path), PIER_DATA_DIR=None))
    assert p.returncode == 0 and "acme" in p.stdout


# ---- completion ------------------------------------------------------------------------------------------------

def test_bash_completion(stack):
    script = os.path.join(ROOT, "scripts", "pier-completion.bash")
    assert subprocess.run(["bash", "-n", script]).returncode == 0
    stack.ok("tasks", "put", "acme/complete-me", input=json.dumps(ECHO_WF))
    bindir = tempfile.mkdtemp(prefix="pier-bin-")
    os.symlink(PIER_BIN, os.path.join(bindir, "pier"))
    prog = f"""
source {script}
t() {{ COMP_WORDS=("$@"); COMP_CWORD=$((${{#COMP_WORDS[@]}}-1)); COMPREPLY=(); _pier; echo "${{COMPREPLY[*]}}"; }}
t pier col
t pier trajectories ""
t pier run ac
t pier run acme/complete
t pier run acme/complete-me --fo
t pier env set ""
"""
    env = stack.env(PATH=bindir + ":" + os.environ.get("PATH", ""))
    out = subprocess.run(["bash", "-c", prog], capture_output=True, text=True, env=env, timeout=30).stdout
    assert out.splitlines() == ["collections", "list show follow cancel download", "acme/",
                                "acme/complete-me", "--follow", "acme other"], out
    assert stack.ok("__complete", "tasks", "acme").stdout.count("complete-me\n") == 1


def test_json_output_of_mutating_commands(stack):
    c = stack.json("collections", "create", "json-coll")
    assert c["name"] == "json-coll" and set(c) >= {"id", "created_at"}
    env = stack.json("env", "set", "json-coll", "ONE", input="1")
    assert env["environment_variables"] == {"ONE": "********"}
    assert stack.json("env", "unset", "json-coll", "ONE")["environment_variables"] == {}
    t = stack.json("tasks", "put", "json-coll/t", input=json.dumps(ECHO_WF))
    assert t["name"] == "t" and t["version"] == 1 and t["workflow"] == ECHO_WF
    assert stack.json("tasks", "put", "json-coll/t", input=json.dumps(ECHO_WF))["version"] == 2
    assert stack.json("tasks", "delete", "json-coll/t") == {"message": "Task deleted successfully"}
    k = stack.json("api-keys", "create", "json-coll", "-n", "k1")
    revoked = stack.json("api-keys", "revoke", "json-coll", str(k["id"]))
    assert revoked["id"] == k["id"] and revoked["is_active"] is False and "api_key" not in revoked
    assert stack.json("api-keys", "revoke", "json-coll", "k1", "--delete") == {"message": "API key deleted successfully"}
    assert stack.json("collections", "delete", "json-coll", "--yes") == {}
