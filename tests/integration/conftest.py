"""Shared fixtures: start the real pier binary on 127.0.0.1:0 and talk to it.

PIER_BIN points at the binary (make test sets it). Each PierServer gets its own
data directory; stop() sends SIGTERM and checks for a clean exit and, under
sanitizers, for sanitizer reports in stderr.
"""
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

import pytest
import requests

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PIER_BIN = os.environ.get("PIER_BIN", os.path.join(ROOT, "build", "pier"))
SANITIZED = os.environ.get("PIER_SANITIZED") == "1"


class PierServer:
    def __init__(self, data_dir=None, env=None, args=None, threads=2):
        self._tmp = None
        if data_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="pier-test-")
            data_dir = os.path.join(self._tmp.name, "data")
        self.data_dir = data_dir
        self.extra_env = dict(env or {})
        self.args = list(args or [])
        self.threads = threads
        self.proc = None
        self.port = None
        self.url = None
        self.stderr_path = None
        self.session = requests.Session()

    # -- lifecycle -------------------------------------------------------
    def start(self, timeout=20):
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PIER_", "AWS_", "OPENAI_", "ANTHROPIC_", "GEMINI_", "OPENROUTER_"))}
        env.update(self.extra_env)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        os.makedirs(os.path.dirname(self.data_dir) or ".", exist_ok=True)
        fd, self.stderr_path = tempfile.mkstemp(prefix="pier-stderr-", suffix=".log")
        os.close(fd)
        self._stderr = open(self.stderr_path, "wb")
        cmd = [PIER_BIN, "serve", "--listen", "127.0.0.1:0", "--data-dir", self.data_dir,
               "--threads", str(self.threads), *self.args]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self._stderr, env=env)
        deadline = time.time() + timeout
        line = self.proc.stdout.readline().decode()
        if not line.startswith("listening on http://"):
            self.proc.kill()
            raise RuntimeError(f"pier did not start: {line!r}\n{self.stderr()}")
        self.url = line.strip().split(" ", 2)[2]
        self.port = int(self.url.rsplit(":", 1)[1])
        assert time.time() < deadline
        return self

    def stop(self, sig=signal.SIGTERM, timeout=30, check=True):
        if not self.proc:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
            if check:
                raise AssertionError("pier did not exit after SIGTERM\n" + self.stderr())
        self._stderr.close()
        self.proc.stdout.close()
        self.proc = None
        if check:
            err = self.stderr()
            assert "AddressSanitizer" not in err and "runtime error:" not in err and "LeakSanitizer" not in err, err
            if sig in (signal.SIGTERM, signal.SIGINT):
                assert rc == 0, f"exit code {rc}\n{err}"
        return rc

    def kill(self):
        return self.stop(sig=signal.SIGKILL, check=False)

    def restart(self):
        self.stop()
        return self.start()

    def cleanup(self):
        if self.proc:
            self.stop(check=False)
        if self._tmp:
            self._tmp.cleanup()

    def stderr(self):
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read().decode(errors="replace")
        except (OSError, TypeError):
            return ""

    # -- client helpers ----------------------------------------------------
    @property
    def admin_token(self):
        if "PIER_ADMIN_TOKEN" in self.extra_env:
            return self.extra_env["PIER_ADMIN_TOKEN"]
        with open(os.path.join(self.data_dir, "admin.token")) as f:
            return f.read().strip()

    def request(self, method, path, token="admin", **kw):
        headers = dict(kw.pop("headers", {}) or {})
        if token == "admin":
            token = self.admin_token
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        kw.setdefault("timeout", 30)
        return self.session.request(method, self.url + path, headers=headers, **kw)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, **kw):
        return self.request("POST", path, **kw)

    def put(self, path, **kw):
        return self.request("PUT", path, **kw)

    def patch(self, path, **kw):
        return self.request("PATCH", path, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    def create_collection(self, name, **extra):
        r = self.post("/api/v1/collections/", json={"name": name, **extra})
        assert r.status_code == 200, r.text
        return r.json()

    def set_env(self, collection, values):
        r = self.patch(f"/api/v1/collections/{collection}/environment", json={"environment_variables": values})
        assert r.status_code == 200, r.text
        return r.json()

    def create_key(self, collection, name="test-key"):
        r = self.post("/api/v1/api-keys/", json={"name": name, "collection_name": collection})
        assert r.status_code == 200, r.text
        return r.json()

    def raw(self, data, read_timeout=5.0, shutdown=False):
        """Send raw bytes on a fresh connection; return everything read until close/timeout."""
        s = socket.create_connection(("127.0.0.1", self.port), timeout=read_timeout)
        try:
            s.sendall(data)
            if shutdown:
                s.shutdown(socket.SHUT_WR)
            chunks = []
            while True:
                try:
                    b = s.recv(65536)
                except socket.timeout:
                    break
                if not b:
                    break
                chunks.append(b)
            return b"".join(chunks)
        finally:
            s.close()


@pytest.fixture
def pier():
    srv = PierServer().start()
    yield srv
    try:
        srv.stop()
    finally:
        srv.cleanup()


@pytest.fixture
def pier_factory():
    made = []

    def make(**kw):
        srv = PierServer(**kw)
        made.append(srv)
        return srv

    yield make
    for srv in made:
        try:
            if srv.proc:
                srv.stop()
        finally:
            srv.cleanup()


def parse_head(head):
    """(status, headers_dict with lower-case names) of a raw HTTP/1.1 response head (bytes,
    without the blank line)."""
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        headers[k.strip().lower()] = v.strip()
    return status, headers


def final_head(buf):
    """(status, headers_dict, rest) of the first response head in raw bytes that is not a
    100 Continue; None while no such head is complete."""
    while True:
        head, sep, rest = buf.partition(b"\r\n\r\n")
        if not sep:
            return None
        status, headers = parse_head(head)
        if status != 100:
            return status, headers, rest
        buf = rest


def parse_responses(raw):
    """Split raw HTTP/1.1 bytes into [(status, headers_dict, body_bytes)] (Content-Length or chunked)."""
    out = []
    buf = raw
    while buf:
        got = final_head(buf)
        if got is None:
            break
        status, headers, rest = got
        if headers.get("transfer-encoding") == "chunked":
            body = b""
            while True:
                size_line, _, rest = rest.partition(b"\r\n")
                n = int(size_line, 16)
                if n == 0:
                    rest = rest[2:]
                    break
                body += rest[:n]
                rest = rest[n + 2:]
        else:
            n = int(headers.get("content-length", "0"))
            body, rest = rest[:n], rest[n:]
        out.append((status, headers, body))
        buf = rest
    return out


def jdump(v):
    return json.dumps(v, separators=(",", ":"))


class RawResponse:
    """What raw_http read: status, headers (lower-case names), chunks (the HTTP chunks
    as sent; one piece for a Content-Length body), complete (the body ended properly),
    error (the OSError that cut the read short, if any)."""

    def __init__(self):
        self.status = None
        self.headers = {}
        self.chunks = []
        self.complete = False
        self.error = None

    @property
    def body(self):
        return b"".join(self.chunks)


def raw_http(port, method, path, data, headers, on_chunk=None, timeout=5):
    """One HTTP/1.1 request over a raw socket to 127.0.0.1:port (data: body bytes, sent
    as application/json), keeping the chunk boundaries as the server sent them.
    on_chunk(resp) returning True closes the connection early."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    hdrs = {"Host": f"127.0.0.1:{port}", "Content-Type": "application/json",
            "Content-Length": str(len(data))}
    hdrs.update(headers)
    head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hdrs.items())
    sock.sendall(head.encode() + b"\r\n" + data)
    f = sock.makefile("rb")
    resp = RawResponse()
    try:
        resp.status = int(f.readline().split()[1])
        while True:
            line = f.readline().decode().rstrip("\r\n")
            if not line:
                break
            k, _, v = line.partition(":")
            resp.headers[k.strip().lower()] = v.strip()
        if "content-length" in resp.headers:
            resp.chunks.append(f.read(int(resp.headers["content-length"])))
            resp.complete = True
        else:
            while True:
                line = f.readline()
                if not line.endswith(b"\r\n"):
                    break
                size = int(line.strip(), 16)
                if size == 0:
                    f.readline()
                    resp.complete = True
                    break
                piece = f.read(size)
                resp.chunks.append(piece)
                if len(piece) < size:
                    break
                f.read(2)
                if on_chunk and on_chunk(resp):
                    break
    except OSError as e:
        resp.error = e
    finally:
        f.close()
        sock.close()
    return resp
