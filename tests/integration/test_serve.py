"""`pier serve` as an operator sees it: flags and their PIER_* twins, the first
stdout line, exit codes, SIGTERM/SIGINT draining, restart persistence, secrets
on disk (admin token file, master key, sealed environment values).
"""
import os
import re
import select
import signal
import socket
import stat
import subprocess
import time

import pytest
import requests

from conftest import PIER_BIN, jdump, parse_responses
from test_http import read_responses

WF = {"init_params": {}, "step_configs": {"chat": {"activity": "litellm_chat"}}, "steps": ["chat"]}
FIRST_LINE = re.compile(r"listening on http://127\.0\.0\.1:(\d+)\n")


class Proc:
    """`pier serve ARGS` with a clean environment plus `env`; stdout kept for the first line."""

    def __init__(self, args, env=None, cwd=None):
        full = {k: v for k, v in os.environ.items()
                if not k.startswith(("PIER_", "AWS_", "OPENAI_", "ANTHROPIC_", "GEMINI_", "OPENROUTER_"))}
        full.update(env or {})
        self.err_path = os.path.join(cwd or "/tmp", f"pier-serve-{os.getpid()}-{id(self)}.stderr")
        self._err = open(self.err_path, "wb")
        self.p = subprocess.Popen([PIER_BIN, "serve", *args], stdout=subprocess.PIPE, stderr=self._err,
                                  env=full, cwd=cwd)
        self.url = None

    def first_line(self, timeout=10):
        """The first stdout line ('' if the process exited without one)."""
        deadline = time.time() + timeout
        buf = b""
        while not buf.endswith(b"\n"):
            left = deadline - time.time()
            assert left > 0, f"no first line within {timeout}s; got {buf!r}\n{self.stderr()}"
            ready, _, _ = select.select([self.p.stdout], [], [], left)
            if ready:
                b = os.read(self.p.stdout.fileno(), 1)
                if not b:
                    break
                buf += b
        line = buf.decode()
        m = FIRST_LINE.fullmatch(line)
        if m:
            self.url = line.split(" ", 2)[2].strip()
            self.port = int(m.group(1))
        return line

    def wait(self, timeout=15):
        return self.p.wait(timeout=timeout)

    def stop(self, sig=signal.SIGTERM):
        if self.p.poll() is None:
            self.p.send_signal(sig)
        return self.wait()

    def stderr(self):
        with open(self.err_path, "rb") as f:
            return f.read().decode(errors="replace")

    def close(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()
        self.p.stdout.close()
        self._err.close()
        if os.path.exists(self.err_path):
            os.unlink(self.err_path)


@pytest.fixture
def spawn(tmp_path):
    made = []

    def run(*args, env=None, cwd=None):
        p = Proc(list(args), env=env, cwd=cwd or str(tmp_path))
        made.append(p)
        return p

    yield run
    for p in made:
        p.close()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def admin(data_dir):
    with open(os.path.join(data_dir, "admin.token")) as f:
        return {"Authorization": "Bearer " + f.read().strip()}


def db_bytes(data_dir):
    blob = b""
    for name in ("pier.db", "pier.db-wal", "pier.db-shm"):
        p = os.path.join(data_dir, name)
        if os.path.exists(p):
            with open(p, "rb") as f:
                blob += f.read()
    return blob


# ---- first line, flags, environment twins -------------------------------------------------

def test_first_line_names_the_real_port(spawn, tmp_path):
    p = spawn("--listen", "127.0.0.1:0", "--data-dir", str(tmp_path / "d"))
    line = p.first_line()
    assert FIRST_LINE.fullmatch(line), repr(line)
    assert p.port != 0
    assert requests.get(p.url + "/api/v1/health", timeout=5).status_code == 200
    assert p.stop() == 0


def test_listen_on_a_chosen_port(spawn, tmp_path):
    port = free_port()
    p = spawn(f"--listen=127.0.0.1:{port}", f"--data-dir={tmp_path / 'd'}")
    assert p.first_line() == f"listening on http://127.0.0.1:{port}\n"
    assert requests.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=5).status_code == 200
    assert p.stop() == 0


def test_listen_on_localhost_by_name(spawn, tmp_path):
    """Regression: `--listen localhost:0` exits 1 with 'cannot listen on localhost:0: invalid argument'."""
    p = spawn("--listen", "localhost:0", "--data-dir", str(tmp_path / "d"))
    line = p.first_line()
    assert re.fullmatch(r"listening on http://(localhost|127\.0\.0\.1|\[::1\]):\d+\n", line), (line, p.stderr())
    assert requests.get(line.split(" ", 2)[2].strip() + "/api/v1/health", timeout=5).status_code == 200
    assert p.stop() == 0


def test_environment_twins(spawn, tmp_path):
    data = tmp_path / "from-env"
    p = spawn(env={"PIER_LISTEN": "127.0.0.1:0", "PIER_DATA_DIR": str(data), "PIER_THREADS": "3",
                   "PIER_LOG_LEVEL": "debug", "PIER_MAX_BODY_BYTES": "2048", "PIER_REQUEST_TIMEOUT_MS": "500"})
    assert FIRST_LINE.fullmatch(p.first_line())
    assert {"admin.token", "master.key", "pier.db"} <= set(os.listdir(data))
    h = admin(data)
    r = requests.post(p.url + "/api/v1/collections/", data=b"x" * 2049, headers=h, timeout=5)
    assert (r.status_code, r.json()) == (413, {"detail": "request body is larger than 2048 bytes"})
    s = socket.create_connection(("127.0.0.1", p.port), timeout=5)
    t0 = time.time()
    s.sendall(b"GET /api/v1/health HTTP/1.1\r\n")
    [(status, _, _)] = read_responses(s, 1)
    s.close()
    assert status == 408 and time.time() - t0 < 4
    assert requests.get(p.url + "/api/v1/collections/", headers=h, timeout=5).status_code == 200
    assert p.stop() == 0
    assert re.search(r" debug .*GET /api/v1/collections/ -> 200", p.stderr()), p.stderr()


def test_flags_win_over_environment(spawn, tmp_path):
    p = spawn("--listen", "127.0.0.1:0", "--data-dir", str(tmp_path / "flag"), "--max-body-bytes=4096",
              "--log-level", "error",
              env={"PIER_DATA_DIR": str(tmp_path / "env"), "PIER_MAX_BODY_BYTES": "1024", "PIER_LOG_LEVEL": "debug"})
    assert FIRST_LINE.fullmatch(p.first_line())
    assert os.path.exists(tmp_path / "flag" / "admin.token")
    assert not os.path.exists(tmp_path / "env")
    body = jdump({"name": "ok", "description": "d" * 3000}).encode()
    r = requests.post(p.url + "/api/v1/collections/", data=body, headers=admin(tmp_path / "flag"), timeout=5)
    assert r.status_code == 200, r.text
    assert p.stop() == 0
    assert p.stderr() == ""  # --log-level error: a clean run logs nothing


def test_log_level_debug_logs_requests_and_info_does_not(spawn, tmp_path):
    dbg = spawn("--listen", "127.0.0.1:0", "--data-dir", str(tmp_path / "a"), "--log-level", "debug")
    inf = spawn("--listen", "127.0.0.1:0", "--data-dir", str(tmp_path / "b"))
    for p in (dbg, inf):
        assert FIRST_LINE.fullmatch(p.first_line())
        assert requests.get(p.url + "/api/v1/health", timeout=5).status_code == 200
        assert p.stop() == 0
    assert re.search(r" debug .*GET /api/v1/health -> 200", dbg.stderr())
    assert " debug " not in inf.stderr()
    assert " info " in inf.stderr()


@pytest.mark.parametrize("args,message", [
    (["--threads", "0"], '--threads must be a whole number from 1 to 256 (got "0")'),
    (["--threads", "many"], '--threads must be a whole number from 1 to 256 (got "many")'),
    (["--log-level", "loud"], '--log-level must be error, warn, info or debug (got "loud")'),
    (["--max-body-bytes", "10"], '--max-body-bytes must be a whole number from 1024 to 4294967296 (got "10")'),
    (["--request-timeout-ms", "1"], '--request-timeout-ms must be a whole number from 10 to 3600000 (got "1")'),
    (["--listen", "8080"], '--listen wants HOST:PORT, e.g. 127.0.0.1:8080 (got "8080")'),
    (["--listen", "127.0.0.1:70000"], '--listen port must be 0..65535 (got "70000")'),
    (["--data-dir"], "--data-dir needs a value (see pier serve --help)"),
    (["--bogus=1"], "unknown option --bogus (see pier serve --help)"),
])
def test_bad_flags_exit_2_with_a_message(spawn, tmp_path, args, message):
    p = spawn(*args)
    assert p.first_line() == ""
    assert p.wait() == 2
    assert p.stderr() == f"pier serve: {message}\n"


def test_bad_environment_twin_names_the_variable(spawn):
    p = spawn(env={"PIER_THREADS": "0"})
    assert p.first_line() == ""
    assert p.wait() == 2
    assert p.stderr() == 'pier serve: --threads must be a whole number from 1 to 256 (got "0") (from PIER_THREADS)\n'


def test_unknown_flag_without_value_is_called_unknown(spawn):
    """Regression: `pier serve --verbose` says '--verbose needs a value' instead of naming it unknown."""
    p = spawn("--verbose")
    assert p.wait() == 2
    assert p.stderr() == "pier serve: unknown option --verbose (see pier serve --help)\n"


def test_help(spawn):
    p = spawn("--help")
    assert p.wait() == 0
    out = p.p.stdout.read().decode()
    assert out.startswith("usage: pier serve [options]\n")
    for flag, twin in [("--listen", "PIER_LISTEN"), ("--data-dir", "PIER_DATA_DIR"), ("--threads", "PIER_THREADS"),
                       ("--log-level", "PIER_LOG_LEVEL"), ("--max-body-bytes", "PIER_MAX_BODY_BYTES"),
                       ("--request-timeout-ms", "PIER_REQUEST_TIMEOUT_MS")]:
        assert flag in out and twin in out


def test_port_in_use_by_another_program(spawn, tmp_path):
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    try:
        port = holder.getsockname()[1]
        p = spawn("--listen", f"127.0.0.1:{port}", "--data-dir", str(tmp_path / "d"))
        assert p.first_line() == ""
        assert p.wait() == 1
        assert f"cannot listen on 127.0.0.1:{port}: address already in use" in p.stderr()
    finally:
        holder.close()


def test_port_in_use_by_another_pier(spawn, tmp_path):
    """Regression: SO_REUSEPORT lets a second `pier serve` bind the same port; both print 'listening on'
    and the kernel splits connections between two servers with different data."""
    first = spawn("--listen", "127.0.0.1:0", "--data-dir", str(tmp_path / "a"))
    assert FIRST_LINE.fullmatch(first.first_line())
    assert requests.get(first.url + "/api/v1/health", timeout=5).status_code == 200
    second = spawn("--listen", f"127.0.0.1:{first.port}", "--data-dir", str(tmp_path / "b"))
    line = second.first_line()
    if line:
        second.stop()
    assert line == "", "a second server started on a port that is in use"
    assert second.wait() == 1
    assert "address already in use" in second.stderr()
    assert first.stop() == 0


# ---- signals -----------------------------------------------------------------------------------

def wait_refused(port, timeout=5):
    """Poll until nothing accepts on the port any more (a connect racing the
    listener's close may be reset or dropped instead: keep polling)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        except ConnectionRefusedError:
            return
        except OSError:
            pass
        time.sleep(0.002)  # poll interval
    raise AssertionError("the server still accepts connections after SIGTERM")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_finishes_an_upload_in_flight_then_exits_0(pier_factory, sig):
    srv = pier_factory().start()
    srv.create_collection("acme")
    idle = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
    idle.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: t\r\n\r\n")
    read_responses(idle, 1)
    body = jdump({"name": "late", "workflow": WF}).encode()
    up = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
    up.sendall(b"POST /api/v1/tasks/acme HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer " + srv.admin_token.encode() +
               b"\r\nExpect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(body) + body[:10])
    assert up.recv(64) == b"HTTP/1.1 100 Continue\r\n\r\n"  # the server has the headers

    t0 = time.time()
    srv.proc.send_signal(sig)
    wait_refused(srv.port)  # stops accepting
    assert idle.recv(100) == b""  # idle keep-alive connections are closed
    idle.close()
    assert srv.proc.poll() is None  # still finishing the upload
    up.sendall(body[10:])
    up.settimeout(5)
    raw = b""
    while True:
        b = up.recv(65536)
        if not b:
            break
        raw += b
    up.close()
    [(status, headers, out)] = parse_responses(raw)
    assert status == 201 and headers["connection"] == "close"
    assert srv.proc.wait(timeout=10) == 0
    assert time.time() - t0 < 8  # did not sit out the shutdown grace period
    assert srv.stop() == 0
    name = "SIGINT" if sig == signal.SIGINT else "SIGTERM"
    assert f"received {name}" in srv.stderr()
    srv.start()
    r = srv.get("/api/v1/tasks/acme/late")
    assert r.status_code == 200 and r.json()["workflow"] == WF


def test_repeated_sigterm_still_exits_cleanly(pier_factory):
    """Operators press Ctrl-C twice; supervisors resend SIGTERM.
    Regression: a second signal that lands after the handlers are closed (while the store is being
    flushed) kills pier by the default action: exit status -15 instead of 0."""
    srv = pier_factory().start()
    srv.create_collection("acme")
    assert srv.post("/api/v1/tasks/acme", json={"name": "t1", "workflow": WF}).status_code == 201
    deadline = time.time() + 10
    pid = srv.proc.pid
    while srv.proc.poll() is None and time.time() < deadline:
        try:
            os.kill(pid, signal.SIGTERM)  # keep signalling until it has exited
        except ProcessLookupError:
            break
    rc = srv.stop(check=False)
    assert rc == 0, f"exit status {rc}\n{srv.stderr()}"
    srv.start()
    assert srv.get("/api/v1/tasks/acme/t1").status_code == 200


def test_sigterm_on_an_idle_server_exits_promptly(pier_factory):
    srv = pier_factory().start()
    assert srv.get("/api/v1/health").status_code == 200
    t0 = time.time()
    assert srv.stop(sig=signal.SIGTERM) == 0
    assert time.time() - t0 < 5


def test_sigterm_right_after_the_first_line_exits_0(spawn, tmp_path):
    """A supervisor may signal as soon as it sees 'listening on'.
    Regression: the line is printed before the SIGTERM/SIGINT handlers are installed, so an early
    signal kills pier by the default action (exit status -15, store not closed)."""
    for i in range(80):  # the window is narrow: try often enough to hit it
        p = spawn("--listen", "127.0.0.1:0", "--data-dir", str(tmp_path / "d"))
        out = b""
        while not out.endswith(b"\n"):  # react to the line as fast as a supervisor would
            b = os.read(p.p.stdout.fileno(), 4096)
            assert b, f"exited before the first line\n{p.stderr()}"
            out += b
        assert FIRST_LINE.fullmatch(out.decode())
        rc = p.stop()
        assert rc == 0, f"start #{i}: exit status {rc}\n{p.stderr()}"
        p.close()


# ---- restart persistence ---------------------------------------------------------------------------

def test_restart_brings_back_collections_tasks_env_and_keys(pier_factory):
    srv = pier_factory().start()
    acme = srv.create_collection("Acme", description="first")
    other = srv.create_collection("other")
    srv.create_collection("gone")
    assert srv.delete("/api/v1/collections/gone").status_code == 204
    for name in ("t1", "t2"):
        assert srv.post("/api/v1/tasks/acme", json={"name": name, "workflow": WF, "description": name}).status_code == 201
    assert srv.put("/api/v1/tasks/acme/t1", json={"description": "v2"}).json()["version"] == 2
    t1 = srv.put("/api/v1/tasks/acme/t1", json={"is_private": False}).json()
    assert t1["version"] == 3
    assert srv.delete("/api/v1/tasks/acme/t2").status_code == 200
    srv.set_env("acme", {"API_KEY": "k1", "DB_URL": "postgres://u:p@h/db", "DROPPED": "x"})
    srv.set_env("acme", {"DROPPED": None})
    live = srv.create_key("acme", "live")
    off = srv.create_key("acme", "off")
    dead = srv.create_key("other", "dead")
    srv.put(f"/api/v1/api-keys/{off['id']}", json={"is_active": False})
    srv.delete(f"/api/v1/api-keys/{dead['id']}")
    token = srv.admin_token

    srv.restart()

    assert srv.admin_token == token
    assert srv.get("/api/v1/collections/").json() == [acme, other]
    assert srv.get("/api/v1/collections/gone").status_code == 404
    assert srv.get("/api/v1/tasks/acme/t1").json() == t1
    assert srv.get("/api/v1/tasks/acme/t2").status_code == 404
    assert [t["name"] for t in srv.get("/api/v1/tasks/acme").json()] == ["t1"]
    assert sorted(srv.get("/api/v1/collections/acme/environment").json()["environment_variables"]) == ["API_KEY", "DB_URL"]
    assert srv.get("/api/v1/collections/acme", token=live["api_key"]).status_code == 200
    assert srv.get("/api/v1/collections/other", token=live["api_key"]).status_code == 403
    assert srv.get("/api/v1/collections/acme", token=off["api_key"]).status_code == 401
    assert srv.get("/api/v1/collections/other", token=dead["api_key"]).status_code == 401
    assert [k["name"] for k in srv.get("/api/v1/api-keys/collection/acme").json()] == ["live", "off"]
    # ids keep counting after a restart
    assert srv.create_collection("third")["id"] > other["id"]
    assert srv.put("/api/v1/tasks/acme/t1", json={}).json()["version"] == 4


def test_many_writes_then_sigterm_are_all_durable(pier_factory):
    srv = pier_factory().start()
    srv.create_collection("acme")
    for i in range(60):
        assert srv.post("/api/v1/tasks/acme", json={"name": f"t{i}", "workflow": WF}).status_code == 201
    srv.restart()
    assert [t["name"] for t in srv.get("/api/v1/tasks/acme?limit=500").json()] == [f"t{i}" for i in range(60)]


# ---- secrets on disk -------------------------------------------------------------------------------------

def test_generated_admin_token_file(pier_factory):
    srv = pier_factory().start()
    path = os.path.join(srv.data_dir, "admin.token")
    st = os.stat(path)
    assert stat.S_IMODE(st.st_mode) == 0o600
    with open(path) as f:
        content = f.read()
    token = content.strip()
    assert re.fullmatch(r"mlc_[a-z0-9]{32}", token)
    assert srv.get("/api/v1/collections/", token=token).status_code == 200
    err = srv.stderr()
    assert path in err  # the path is logged ...
    assert token not in err and token[4:] not in err  # ... never the token
    srv.restart()
    with open(path) as f:
        assert f.read() == content  # reused, not regenerated
    assert srv.get("/api/v1/collections/", token=token).status_code == 200
    assert token not in srv.stderr()


def test_default_data_dir_is_pier_data_in_the_working_directory(spawn, tmp_path):
    p = spawn("--listen", "127.0.0.1:0", cwd=str(tmp_path))
    assert FIRST_LINE.fullmatch(p.first_line())
    assert requests.get(p.url + "/api/v1/health", timeout=5).status_code == 200
    assert p.stop() == 0
    assert {"admin.token", "master.key", "pier.db"} <= set(os.listdir(tmp_path / "pier-data"))


def test_empty_admin_token_file_refuses_to_start(spawn, tmp_path):
    data = tmp_path / "d"
    data.mkdir()
    (data / "admin.token").write_text("\n")
    p = spawn("--listen", "127.0.0.1:0", "--data-dir", str(data))
    assert p.first_line() == ""
    assert p.wait() == 1
    assert f"{data}/admin.token is empty; delete it to generate a new token" in p.stderr()


def test_master_key_file(pier_factory):
    srv = pier_factory().start()
    path = os.path.join(srv.data_dir, "master.key")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    with open(path) as f:
        key = f.read().strip()
    assert re.fullmatch(r"[0-9a-f]{64}", key)
    assert key not in srv.stderr()
    assert srv.get("/api/v1/health").status_code == 200
    srv.restart()
    with open(path) as f:
        assert f.read().strip() == key
    assert srv.get("/api/v1/health").status_code == 200


def test_master_key_from_environment(pier_factory):
    key = "ab" * 32
    srv = pier_factory(env={"PIER_MASTER_KEY": key}).start()
    srv.create_collection("acme")
    srv.set_env("acme", {"SECRET": "sealed-with-env-key"})
    assert not os.path.exists(os.path.join(srv.data_dir, "master.key"))
    srv.restart()
    assert list(srv.get("/api/v1/collections/acme/environment").json()["environment_variables"]) == ["SECRET"]
    assert key not in srv.stderr()


@pytest.mark.parametrize("bad", ["abc", "zz" * 32, "ab" * 33])
def test_malformed_master_key_refuses_to_start(spawn, tmp_path, bad):
    p = spawn("--listen", "127.0.0.1:0", "--data-dir", str(tmp_path / "d"), env={"PIER_MASTER_KEY": bad})
    assert p.first_line() == ""
    assert p.wait() == 1
    assert "PIER_MASTER_KEY must be 64 hexadecimal characters (32 bytes)" in p.stderr()
    assert bad not in p.stderr()


def test_environment_values_never_reach_the_database_files_or_the_log(pier_factory):
    srv = pier_factory(args=["--log-level", "debug"]).start()
    values = {
        "SHORT": "canary-7f3a9c",
        "TOKEN": "sk-PLAINTEXT-CANARY-0123456789abcdef",
        "UNICODE": "p\u00e4ssw\u00f6rd-\u2603-canary",
        "LONG": "".join(f"LONGCANARY{i:05d}" for i in range(2000)),  # spills into overflow pages
    }
    r = srv.post("/api/v1/collections/", json={"name": "sealed", "environment_variables": {"AT_CREATE": "create-canary-5d1e"}})
    assert r.status_code == 200
    srv.set_env("sealed", values)
    srv.set_env("sealed", {"SHORT": "canary-second-value-b2c4"})
    values["AT_CREATE"] = "create-canary-5d1e"
    values["OLD"] = "canary-7f3a9c"
    values["NEW"] = "canary-second-value-b2c4"
    needles = [v.encode() for v in values.values()] + [values["LONG"][5000:5032].encode()]

    def check(blob, where):
        for n in needles:
            assert n not in blob, f"{n[:40]!r} in plain text in {where}"

    check(db_bytes(srv.data_dir), "the database files (running)")
    srv.stop()
    check(db_bytes(srv.data_dir), "the database files (stopped)")
    check(srv.stderr().encode(), "the log")
    srv.start()
    assert sorted(srv.get("/api/v1/collections/sealed/environment").json()["environment_variables"]) == \
        ["AT_CREATE", "LONG", "SHORT", "TOKEN", "UNICODE"]
