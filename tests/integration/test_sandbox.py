"""The runbook sandbox, end to end through `pier sandbox-run --spec-json FILE`.

Proves the escapes fail (pier's data dir, /root, /etc/shadow, another run's
/app, pier's environment, descriptors), the network modes (isolated loopback
with the Unix-socket bridge to pier's gateway, or the host network), timeouts
and cancel kill the whole process group, output capping, rlimits, snapshot
import from a directory and a tarball (malicious tarballs rejected), and agent
resolution. Needs bwrap and user namespaces; skipped when the binary has no
sandbox subcommands.
"""
import io
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import tarfile
import tempfile
import threading
import time

import pytest

from conftest import PIER_BIN


def _has_sandbox():
    if not shutil.which("bwrap") or not os.path.exists(PIER_BIN):
        return False
    p = subprocess.run([PIER_BIN, "sandbox-run"], capture_output=True, text=True)
    return "usage: pier sandbox-run" in p.stderr


pytestmark = pytest.mark.skipif(not _has_sandbox(), reason="no bwrap, or pier without the sandbox subcommands")

IS_ROOT = os.geteuid() == 0


@pytest.fixture
def env(tmp_path):
    """A data dir with pier's secrets in it and two step workdirs."""
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    (data / "master.key").write_text("MASTER-KEY-BYTES")
    (data / "pier.db").write_text("SQLITE-DB")
    dirs = {}
    for name in ("a", "b"):
        w = tmp_path / "runs" / name
        (w / "assets").mkdir(parents=True)
        (w / "results").mkdir()
        (w / "assets" / "input.txt").write_text(f"input of {name}\n")
        os.chmod(w, 0o700)
        dirs[name] = str(w)
    os.chmod(tmp_path / "runs", 0o700)
    return {"data": str(data), "tmp": tmp_path, **dirs}


def run(spec, extra_env=None, timeout=60):
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(spec, f)
    try:
        penv = dict(os.environ)
        penv.update(extra_env or {})
        p = subprocess.run([PIER_BIN, "sandbox-run", "--spec-json", f.name], capture_output=True, text=True,
                           env=penv, timeout=timeout)
        assert p.stdout, p.stderr
        return json.loads(p.stdout)
    finally:
        os.unlink(f.name)


def sh(env, script, **kw):
    spec = {"data_dir": env["data"], "snapshot": "host", "workdir": env["a"], "argv": ["/bin/sh", "-c", script],
            "timeout_ms": 20000}
    spec.update(kw)
    return run(spec)


def host_cmdlines():
    out = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    out.append(f.read().replace(b"\0", b" ").decode(errors="replace"))
            except OSError:
                pass
    return out


# ---- isolation ---------------------------------------------------------------

def test_readonly_root_writable_app_unprivileged_user(env):
    r = sh(env, "id -u; id -un; cat /app/assets/input.txt; echo out > /app/results/r.txt && echo wrote;"
                " touch /x 2>&1; touch /usr/x 2>&1; echo t > /tmp/t && echo tmp-ok; echo $PWD")
    assert r["exit_status"] == 0, r
    lines = r["stdout"].splitlines()
    assert lines[:4] == ["1000", "agent", "input of a", "wrote"]
    assert "Read-only file system" in lines[4] and "Read-only file system" in lines[5]
    assert lines[6:] == ["tmp-ok", "/app"]
    assert open(os.path.join(env["a"], "results", "r.txt")).read() == "out\n"
    if IS_ROOT:  # the run's files belong to its private uid, not to root
        st = os.stat(os.path.join(env["a"], "results", "r.txt"))
        assert st.st_uid >= 1900000000


def test_cannot_read_pier_data_host_root_shadow_or_other_runs(env):
    data, other = env["data"], env["b"]
    script = (f"cat {data}/master.key; cat {data}/pier.db; ls {data}; cat {other}/assets/input.txt; "
              "ls /root; cat /etc/shadow; cat /etc/sudoers; "
              "find / -xdev \\( -name master.key -o -name pier.db -o -name shadow \\) 2>/dev/null; "
              "grep -rl MASTER-KEY-BYTES /app /tmp /opt /etc 2>/dev/null; ls /opt/pier/agents/.. 2>&1; echo end")
    r = sh(env, script)
    assert r["stdout"] == "end\n" or r["stdout"].endswith("end\n")
    assert "MASTER-KEY" not in r["stdout"] + r["stderr"]
    assert "SQLITE-DB" not in r["stdout"] + r["stderr"]
    assert "input of b" not in r["stdout"]
    for needle in ("master.key", "pier.db", "No such file or directory"):
        assert needle in r["stderr"]
    assert "/etc/shadow" not in r["stdout"] and "master.key" not in r["stdout"]


def test_environment_is_exactly_the_given_variables(env):
    secret = f"pier-secret-{random.randrange(10**9)}"
    spec = {"data_dir": env["data"], "snapshot": "host", "workdir": env["a"],
            "argv": ["/bin/sh", "-c", "sleep 1; env | sort"], "env": {"GIVEN": "yes", "TOKEN": secret},
            "timeout_ms": 20000}
    box = {}
    t = threading.Thread(target=lambda: box.update(r=run(spec, extra_env={"PIER_PARENT_SECRET": "leak-me",
                                                                          "AWS_SECRET_ACCESS_KEY": "leak-aws"})))
    t.start()
    time.sleep(0.5)
    cmdlines = host_cmdlines()  # while the sandbox runs: values never on a command line
    t.join()
    r = box["r"]
    names = sorted(line.split("=", 1)[0] for line in r["stdout"].splitlines())
    assert names == ["GIVEN", "HOME", "PATH", "PWD", "TOKEN"], r["stdout"]
    assert "leak-me" not in r["stdout"] and "leak-aws" not in r["stdout"]
    assert secret in r["stdout"]
    assert not [c for c in cmdlines if secret in c]


def test_no_descriptors_leak_into_the_sandbox(env):
    r = sh(env, "ls /proc/self/fd")  # ls's own directory fd is 3
    assert r["stdout"].split() == ["0", "1", "2", "3"], r


def test_no_new_user_namespaces_or_privileges(env):
    r = sh(env, "unshare -U true 2>/dev/null && echo userns-ok; grep -E '^(CapEff|NoNewPrivs)' /proc/self/status")
    assert "userns-ok" not in r["stdout"]
    assert "CapEff:\t0000000000000000" in r["stdout"]


# ---- network -------------------------------------------------------------------

@pytest.fixture
def host_tcp():
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    srv.settimeout(0.2)
    stop = threading.Event()

    def loop():
        while not stop.is_set():
            try:
                c, _ = srv.accept()
                c.sendall(b"host-tcp\n")
                c.close()
            except OSError:
                pass

    th = threading.Thread(target=loop, daemon=True)
    th.start()
    yield srv.getsockname()[1]
    stop.set()
    th.join()
    srv.close()


@pytest.fixture
def gateway(tmp_path):
    """A tiny HTTP-ish server on a Unix socket in a 0700 dir (like pier's)."""
    d = tmp_path / "gw"
    d.mkdir(mode=0o700)
    path = str(d / "gateway.sock")
    srv = socket.socket(socket.AF_UNIX)
    srv.bind(path)
    os.chmod(path, 0o666)
    srv.listen()
    srv.settimeout(0.2)
    stop = threading.Event()

    def handle(c):
        data = b""
        while True:
            chunk = c.recv(65536)
            if not chunk:
                break
            data += chunk
            if data.startswith(b"GET") and b"\r\n\r\n" in data:
                break
        if data.startswith(b"GET"):
            body = b"hello from the gateway"
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body))
        else:  # read to EOF (the client's half-close), then answer
            c.sendall(b"got %d bytes" % len(data))
        c.close()

    def loop():
        while not stop.is_set():
            try:
                c, _ = srv.accept()
                threading.Thread(target=handle, args=(c,), daemon=True).start()
            except OSError:
                pass

    th = threading.Thread(target=loop, daemon=True)
    th.start()
    yield path
    stop.set()
    th.join()
    srv.close()


CLIENT = r"""
import socket, sys, urllib.request
port = int(sys.argv[1]); gw = int(sys.argv[2])
try:
    s = socket.create_connection(("127.0.0.1", port), timeout=3); print("host:", s.recv(100).decode().strip())
except OSError as e:
    print("host: refused" if isinstance(e, ConnectionRefusedError) else "host: " + type(e).__name__)
if gw:
    print("gateway:", urllib.request.urlopen("http://127.0.0.1:%d/v1/models" % gw, timeout=5).read().decode())
    s = socket.create_connection(("127.0.0.1", gw), timeout=5)
    s.sendall(b"x" * 3000000); s.shutdown(socket.SHUT_WR)
    print("upload:", s.recv(100).decode())
"""


def test_isolated_network_reaches_only_the_gateway_bridge(env, host_tcp, gateway):
    r = run({"data_dir": env["data"], "snapshot": "host", "workdir": env["a"], "network": False,
             "gateway_socket": gateway, "gateway_port": 8080,
             "argv": ["/usr/bin/python3", "-c", CLIENT, str(host_tcp), "8080"], "timeout_ms": 20000})
    assert r["stdout"] == "host: refused\ngateway: hello from the gateway\nupload: got 3000000 bytes\n", r


def test_isolated_network_without_gateway(env, host_tcp):
    r = run({"data_dir": env["data"], "snapshot": "host", "workdir": env["a"], "network": False,
             "argv": ["/usr/bin/python3", "-c", CLIENT, str(host_tcp), "0"], "timeout_ms": 20000})
    assert r["stdout"] == "host: refused\n", r


def test_shared_network_reaches_the_host(env, host_tcp):
    r = run({"data_dir": env["data"], "snapshot": "host", "workdir": env["a"], "network": True,
             "argv": ["/usr/bin/python3", "-c", CLIENT, str(host_tcp), "0"], "timeout_ms": 20000})
    assert r["stdout"] == "host: host-tcp\n", r


def test_bridge_standalone(gateway):
    p = subprocess.Popen([PIER_BIN, "bridge", "--listen", "127.0.0.1:0", "--unix", gateway], stdout=subprocess.PIPE,
                         text=True)
    try:
        line = p.stdout.readline()
        assert line.startswith("bridge listening on 127.0.0.1:")
        port = int(line.split(":")[1].split()[0])
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        got = b""
        while chunk := s.recv(65536):
            got += chunk
        assert got.endswith(b"\r\n\r\nhello from the gateway")
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(b"y" * 100000)
        s.shutdown(socket.SHUT_WR)
        assert s.recv(100) == b"got 100000 bytes"
    finally:
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=5) == 0


# ---- timeouts, cancel, output, limits ---------------------------------------------

def survivors(marker):
    return [c for c in host_cmdlines() if marker in c]


SPAWNER = ("sleep {m} & (setsid sleep {m} &); nohup sleep {m} >/dev/null 2>&1 & "
           "sh -c 'trap \"\" TERM; sleep {m}' & trap '' TERM; echo started; sleep {m}")


def test_timeout_kills_the_whole_process_group(env):
    marker = f"{random.randrange(1000, 9999)}.{random.randrange(100, 999)}"
    t0 = time.time()
    r = sh(env, SPAWNER.format(m=marker), timeout_ms=1000)
    assert r["timed_out"] is True and r["cancelled"] is False
    assert r["stdout"] == "started\n"
    assert 0.9 < time.time() - t0 < 10
    time.sleep(0.2)
    assert survivors(marker) == []


def test_cancel_kills_too(env):
    marker = f"{random.randrange(1000, 9999)}.{random.randrange(100, 999)}"
    r = sh(env, SPAWNER.format(m=marker), timeout_ms=60000, cancel_after_ms=500)
    assert r["cancelled"] is True and r["timed_out"] is False
    time.sleep(0.2)
    assert survivors(marker) == []


def test_exit_status_and_signal(env):
    assert sh(env, "exit 7")["exit_status"] == 7
    r = sh(env, "kill -9 $$")
    assert r["exit_status"] == 128 + 9 and r["timed_out"] is False


def test_output_is_captured_and_capped(env):
    script = "i=0; while [ $i -lt 2000 ]; do echo line-$i; i=$((i+1)); done; echo err-side >&2"
    r = sh(env, script, output_bytes_max=200)
    out = r["stdout"]
    total = sum(len(f"line-{i}\n") for i in range(2000))
    assert r["stdout_dropped"] == total - 200
    assert out.startswith("line-0\nline-1\n")
    assert f"\n[pier: {total - 200} bytes dropped]\n" in out
    assert out.endswith("line-1998\nline-1999\n")
    assert len(out) == 200 + len(f"\n[pier: {total - 200} bytes dropped]\n")
    assert r["stderr"] == "err-side\n" and r["stderr_dropped"] == 0


def test_memory_limit(env):
    hog = "python3 -c 'x = bytearray(800 * 1024 * 1024); print(\"allocated\")'"
    r = sh(env, hog, memory="256M")
    assert r["exit_status"] == 1 and "MemoryError" in r["stderr"], r
    r = sh(env, hog, memory="2G")
    assert r["exit_status"] == 0 and r["stdout"] == "allocated\n", r


def test_tmp_is_capped_by_memory(env):
    r = sh(env, "head -c 20000000 /dev/zero > /tmp/big; echo rc=$?", memory="8M")
    assert r["stdout"] == "rc=1\n" and "No space left" in r["stderr"]


@pytest.mark.skipif(not IS_ROOT, reason="RLIMIT_NPROC is per sandbox only when pier runs as root")
def test_process_limit(env):
    r = sh(env, "for i in $(seq 1 40); do sleep 2 & done; wait; echo done", procs_max=10)
    assert "fork" in (r["stdout"] + r["stderr"]).lower(), r


def test_cpus_pins_affinity(env):
    r = sh(env, "nproc", cpus=1)
    assert r["stdout"] == "1\n"


# ---- snapshots -------------------------------------------------------------------------

def build_mini_root(dest):
    """bash, cat, ls, id and their libraries: enough of a root filesystem."""
    bins = ["/bin/bash", "/usr/bin/cat", "/usr/bin/ls", "/usr/bin/id"]
    libs, loader = set(), None
    for b in bins:
        for line in subprocess.run(["ldd", b], capture_output=True, text=True).stdout.splitlines():
            paths = [t for t in line.split() if t.startswith("/")]
            if paths and "ld-linux" in paths[0]:
                loader = paths[0]
            elif paths:
                libs.add(paths[0])
    libdir = f"{dest}/usr/lib/x86_64-linux-gnu"
    os.makedirs(f"{dest}/usr/bin")
    os.makedirs(libdir)
    for b in bins:
        shutil.copy(b, f"{dest}/usr/bin/")
    for lib in libs | {loader}:
        shutil.copy(lib, os.path.join(libdir, os.path.basename(lib)))  # under its soname
    os.makedirs(dest + os.path.dirname(loader), exist_ok=True)
    if not os.path.lexists(dest + loader):
        os.symlink("/usr/lib/x86_64-linux-gnu/" + os.path.basename(loader), dest + loader)
    os.symlink("usr/bin", f"{dest}/bin")
    os.symlink("usr/lib", f"{dest}/lib")
    os.makedirs(f"{dest}/etc")
    with open(f"{dest}/etc/passwd", "w") as f:
        f.write("root:x:0:0::/root:/bin/bash\n")
    with open(f"{dest}/marker", "w") as f:
        f.write("from the snapshot\n")


def snapshot_cli(*args):
    return subprocess.run([PIER_BIN, "snapshot", *args], capture_output=True, text=True)


def test_snapshot_import_dir_and_tarball_then_run(env, gateway):
    root = str(env["tmp"] / "root")
    build_mini_root(root)
    tgz = str(env["tmp"] / "root.tar.gz")
    with tarfile.open(tgz, "w:gz") as t:
        t.add(root, arcname=".")
    p = snapshot_cli("import", "mini-dir", root, "--data-dir", env["data"])
    assert p.returncode == 0 and p.stdout.startswith("imported snapshot mini-dir: "), p.stderr
    p = snapshot_cli("import", "mini-tgz", tgz, "--data-dir", env["data"])
    assert p.returncode == 0, p.stderr
    listed = snapshot_cli("list", "--data-dir", env["data"]).stdout.split()
    assert "host" in listed and "mini-dir" in listed and "mini-tgz" in listed
    p = snapshot_cli("import", "mini-dir", root, "--data-dir", env["data"])
    assert p.returncode == 1
    assert p.stderr == "pier snapshot: snapshot \"mini-dir\" already exists; remove it first: pier snapshot remove mini-dir\n"
    for name in ("mini-dir", "mini-tgz"):
        script = ("cat /marker; id -un; ls /usr/bin; exec 3<>/dev/tcp/127.0.0.1/9000; "
                  "printf 'GET / HTTP/1.0\\r\\n\\r\\n' >&3; cat <&3; echo")
        r = run({"data_dir": env["data"], "snapshot": name, "workdir": env["a"], "gateway_socket": gateway,
                 "gateway_port": 9000, "argv": ["/bin/bash", "-c", script], "timeout_ms": 20000})
        out = r["stdout"].splitlines()
        assert out[0] == "from the snapshot" and out[1] == "agent", r
        assert out[2:6] == ["bash", "cat", "id", "ls"]  # nothing of the host's /usr
        assert out[-1] == "hello from the gateway", r
    assert snapshot_cli("remove", "mini-dir", "--data-dir", env["data"]).returncode == 0
    assert not os.path.exists(os.path.join(env["data"], "snapshots", "mini-dir"))


def _tar(path, members, fmt=tarfile.GNU_FORMAT):
    with tarfile.open(path, "w", format=fmt) as t:
        for kind, name, arg in members:
            ti = tarfile.TarInfo(name)
            if kind == "file":
                ti.size = len(arg)
                t.addfile(ti, io.BytesIO(arg))
                continue
            ti.type = {"sym": tarfile.SYMTYPE, "hard": tarfile.LNKTYPE, "chr": tarfile.CHRTYPE}[kind]
            if kind == "chr":
                ti.devmajor, ti.devminor, ti.mode = 1, 3, 0o666
            else:
                ti.linkname = arg
            t.addfile(ti)


@pytest.mark.parametrize("case", ["absolute", "dotdot", "symlink-escape", "relative-symlink-escape",
                                  "hardlink-absolute", "hardlink-dotdot", "pax-dotdot"])
def test_malicious_tarball_rejected(env, case):
    outside = env["tmp"] / "outside"
    outside.mkdir()
    members = {
        "absolute": [("file", "ok", b"x"), ("file", str(outside / "evil"), b"x")],
        "dotdot": [("file", "a/../../../../outside/evil", b"x")],
        "symlink-escape": [("sym", "a", str(outside)), ("file", "a/evil", b"x")],
        "relative-symlink-escape": [("sym", "a", "../../../outside"), ("file", "a/evil", b"x")],
        "hardlink-absolute": [("hard", "h", "/etc/shadow")],
        "hardlink-dotdot": [("hard", "h", "../../../../etc/shadow")],
        "pax-dotdot": [("file", "../../outside/evil" + "z" * 120, b"x")],
    }[case]
    path = str(env["tmp"] / "bad.tar")
    _tar(path, members, fmt=tarfile.PAX_FORMAT if case.startswith("pax") else tarfile.GNU_FORMAT)
    p = snapshot_cli("import", "bad", path, "--data-dir", env["data"])
    assert p.returncode == 1 and p.stderr.startswith("pier snapshot: rejected: "), p.stderr
    assert list(outside.iterdir()) == []
    assert os.listdir(os.path.join(env["data"], "snapshots")) == []  # nothing half-imported


def test_devices_skipped_and_setuid_dropped(env):
    path = str(env["tmp"] / "dev.tar")
    _tar(path, [("chr", "null", None), ("file", "ok", b"fine")])
    p = snapshot_cli("import", "devs", path, "--data-dir", env["data"])
    assert p.returncode == 0 and "skipped 1 devices/fifos/sockets" in p.stdout
    assert os.listdir(os.path.join(env["data"], "snapshots", "devs")) == ["ok"]


def test_snapshot_names_and_fallback_warning(env):
    r = run({"data_dir": env["data"], "workdir": env["a"], "argv": ["/bin/true"], "timeout_ms": 20000})
    assert r["exit_status"] == 0
    assert r["warning"] == ('snapshot "python312-uv" is not installed on this server; the step ran on the "host" '
                            "snapshot (the host's /usr) instead. Install it with: pier snapshot import python312-uv "
                            "DIR|TARBALL")
    r = run({"data_dir": env["data"], "snapshot": "nope", "workdir": env["a"], "argv": ["/bin/true"]})
    assert r["error"] == ('snapshot "nope" is not installed on this server: import it with `pier snapshot import nope '
                          f'DIR|TARBALL --data-dir {env["data"]}`, or use "host"')
    p = snapshot_cli("import", "Bad/Name", "/nonexistent", "--data-dir", env["data"])
    assert p.returncode == 1 and "invalid snapshot name" in p.stderr


# ---- agents -------------------------------------------------------------------------------

def test_agent_resolution_and_node_inside(env):
    r = run({"data_dir": env["data"], "snapshot": "host", "workdir": env["a"], "agent": "claude-code", "argv": []})
    assert r["error"] == ('agent "claude-code" is not installed on this server; install it with: '
                          f'pier agent install claude-code --data-dir {env["data"]}')
    bindir = os.path.join(env["data"], "agents", "claude-code", "bin")
    os.makedirs(bindir)
    with open(os.path.join(bindir, "claude"), "w") as f:
        f.write("#!/usr/bin/env node\nconsole.log('claude ' + process.argv.slice(2).join(' ') + ' on node ' +"
                " process.version + ' in ' + process.cwd());\n")
    os.chmod(os.path.join(bindir, "claude"), 0o755)
    os.chmod(os.path.join(env["data"], "agents"), 0o755)
    os.chmod(os.path.join(env["data"], "agents", "claude-code"), 0o755)
    r = run({"data_dir": env["data"], "snapshot": "host", "workdir": env["a"], "agent": "claude-code",
             "argv": ["-p", "do it"], "memory": "4G", "timeout_ms": 20000})
    assert r["exit_status"] == 0, r
    assert r["stdout"].startswith("claude -p do it on node v") and r["stdout"].endswith(" in /app\n")
    listed = subprocess.run([PIER_BIN, "agent", "list", "--data-dir", env["data"]], capture_output=True, text=True)
    assert "/opt/pier/agents/claude-code/bin/claude" in listed.stdout
    assert "(not installed)" in listed.stdout  # codex, gemini-cli


def test_agent_install_runs_npm(env):
    fake = env["tmp"] / "fakebin"
    fake.mkdir()
    npm = fake / "npm"
    npm.write_text("#!/bin/sh\n# npm install --prefix DIR ... PKG\necho \"npm $*\"\n"
                   "mkdir -p \"$3/node_modules/.bin\" && printf '#!/bin/sh\\necho codex\\n' > \"$3/node_modules/.bin/codex\""
                   " && chmod 755 \"$3/node_modules/.bin/codex\"\n")
    npm.chmod(0o755)
    p = subprocess.run([PIER_BIN, "agent", "install", "codex", "--data-dir", env["data"]], capture_output=True,
                       text=True, env={**os.environ, "PATH": f"{fake}:{os.environ['PATH']}"})
    assert p.returncode == 0, p.stderr
    assert f"npm install --prefix {env['data']}/agents/codex --no-audit --no-fund" in p.stdout
    assert "@openai/codex@latest" in p.stdout
    assert p.stdout.endswith("installed codex; inside the sandbox it runs as "
                             "/opt/pier/agents/codex/node_modules/.bin/codex\n")
    p = subprocess.run([PIER_BIN, "agent", "install", "cursor", "--data-dir", env["data"]], capture_output=True,
                       text=True)
    assert p.returncode == 2 and "unknown agent \"cursor\"" in p.stderr
