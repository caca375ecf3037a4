"""Shared plumbing of the workflow-run tests (test_runs.py, test_trajectories.py,
test_webhooks.py, test_run_durability.py, test_chat_recording.py): a pier with a
collection "acme" whose environment points at a mock Bedrock, task creation,
run submission (multipart as Jetty clients send it), trajectory reads, waiting
on observable conditions with deadlines, a webhook receiver and an SSE reader.

Invariant: nothing here sleeps to hide a race; every wait polls a condition that
the server or a mock makes true, and fails with what it saw at the deadline.
"""

import hashlib
import hmac
import http.client
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import PierServer
from mocks.bedrock import MockBedrock

# Distinctive credential strings: a leak is easy to spot.
TOKEN = "ABSKUnVuVXRpbFRlc3RCZWFyZXJUb2tlbi0wMQ=="
SONNET = "us.anthropic.claude-sonnet-4-6"
COLLECTION = "acme"
TS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")
TID = re.compile(r"[0-9a-f]{8}")
TERMINAL = ("completed", "failed", "cancelled")

# The page's litellm_chat example, verbatim (jetty-bedrock-page.md, "litellm_chat activity").
PAGE_TASK = {
    "init_params": {
        "model": "us.anthropic.claude-sonnet-4-6",
        "model_provider": "bedrock",
        "prompt": "Summarize the attached document in 3 bullets."
    },
    "step_configs": {
        "chat": {
            "activity": "litellm_chat",
            "max_tokens": 512,
            "model_path": "init_params.model",
            "model_provider_path": "init_params.model_provider",
            "prompt_path": "init_params.prompt"
        }
    },
    "steps": ["chat"]
}


def echo_task(text="hello", **extra_cfg):
    """One text_echo step "echo"."""
    return {"init_params": {}, "step_configs": {"echo": {"activity": "text_echo", "text": text, **extra_cfg}},
            "steps": ["echo"]}


def chat_task(prompt="Say PONG.", model=SONNET, **extra_cfg):
    """One litellm_chat step "chat" against the mock Bedrock."""
    cfg = {"activity": "litellm_chat", "model": model, "model_provider": "bedrock", "prompt": prompt,
           "max_tokens": 64, **extra_cfg}
    return {"init_params": {}, "step_configs": {"chat": cfg}, "steps": ["chat"]}


def wait_until(pred, timeout=10.0, what="condition"):
    """Poll pred() until it returns a truthy value (returned); AssertionError at the deadline."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = pred()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")
        time.sleep(0.01)


def form(init_params=None, files=(), **fields):
    """A multipart body for requests' files= argument: init_params (dict -> JSON string),
    files [(name, bytes, content_type)], other string fields (dicts -> JSON)."""
    parts = []
    if init_params is not None:
        parts.append(("init_params", (None, init_params if isinstance(init_params, str) else json.dumps(init_params))))
    for k, v in fields.items():
        parts.append((k, (None, v if isinstance(v, str) else json.dumps(v))))
    for name, data, ctype in files:
        parts.append(("files", (name, data, ctype)))
    if not parts:  # an empty multipart form still needs one part for requests to build it
        parts.append(("use_trial_keys", (None, "false")))
    return parts


class Stack:
    """pier + mock Bedrock + collection "acme" (env: bearer key, region, mock endpoint)
    and a collection API key for it."""

    def __init__(self, args=(), mock=None, env=None, threads=2, pier=None):
        self.own_mock = mock is None
        self.mock = mock or MockBedrock(bearer_tokens={TOKEN}).start()
        self.pier = pier or PierServer(args=["--upstream-retry-base-ms", "10", *args], threads=threads)
        if not self.pier.proc:
            self.pier.start()
        self.pier.create_collection(COLLECTION)
        self.env = {"AWS_BEARER_TOKEN_BEDROCK": TOKEN, "AWS_REGION": "us-east-1",
                    "AWS_BEDROCK_RUNTIME_ENDPOINT": self.mock.url, **(env or {})}
        self.pier.set_env(COLLECTION, self.env)
        self.key = self.pier.create_key(COLLECTION)["api_key"]
        self.tasks = set()

    # -- tasks ---------------------------------------------------------------------------
    def task(self, name, workflow, collection=COLLECTION):
        """Create (or replace) task `name`."""
        if (collection, name) in self.tasks:
            r = self.pier.put(f"/api/v1/tasks/{collection}/{name}", json={"workflow": workflow})
            assert r.status_code == 200, r.text
        else:
            r = self.pier.post(f"/api/v1/tasks/{collection}", json={"name": name, "workflow": workflow})
            assert r.status_code == 201, r.text
            self.tasks.add((collection, name))
        return name

    # -- runs ----------------------------------------------------------------------------
    def post_run(self, task, sync=True, init_params=None, files=(), collection=COLLECTION, token=None, timeout=60,
                 **fields):
        path = f"/api/v1/{'run-sync' if sync else 'run'}/{collection}/{task}"
        return self.pier.post(path, token=token or self.key, files=form(init_params, files, **fields),
                              timeout=timeout)

    def run_sync(self, task, **kw):
        r = self.post_run(task, sync=True, **kw)
        assert r.status_code == 200, r.text
        return r.json()

    def run_async(self, task, **kw):
        r = self.post_run(task, sync=False, **kw)
        assert r.status_code == 200, r.text
        return r.json()["trajectory_id"]

    # -- reads ---------------------------------------------------------------------------
    def traj_response(self, task, tid, collection=COLLECTION, prefix="/api/v1/db/trajectory"):
        return self.pier.get(f"{prefix}/{collection}/{task}/{tid}", token=self.key)

    def traj(self, task, tid, collection=COLLECTION):
        r = self.traj_response(task, tid, collection)
        assert r.status_code == 200, r.text
        return r.json()

    def wait_status(self, task, tid, statuses=TERMINAL, timeout=20, collection=COLLECTION):
        def check():
            t = self.traj(task, tid, collection)
            return t if t["status"] in statuses else None
        return wait_until(check, timeout, f"trajectory {tid} to reach {statuses}")

    def stats(self, task, collection=COLLECTION):
        r = self.pier.get(f"/api/v1/db/stats/{collection}/{task}", token=self.key)
        assert r.status_code == 200, r.text
        return r.json()

    def page(self, task, collection=COLLECTION, **q):
        r = self.pier.get(f"/api/v1/db/trajectories/{collection}/{task}", token=self.key, params=q)
        assert r.status_code == 200, r.text
        return r.json()

    def cancel(self, task, tid, collection=COLLECTION, token=None):
        return self.pier.post(f"/api/v1/trajectory/{collection}/{task}/statuses", token=token or self.key,
                              json={tid: "cancelled"})

    def mock_requests_with(self, needle):
        """Mock requests whose body contains needle (a str)."""
        return [r for r in self.mock.requests if needle.encode() in r.body]

    def close(self):
        try:
            if self.pier.proc:
                self.pier.stop()
        finally:
            self.pier.cleanup()
            if self.own_mock:
                self.mock.stop()


def fresh(stack):
    """Body of a per-test fixture: the stack with its mock reset; a mock bug fails the test."""
    stack.mock.reset()
    yield stack
    assert stack.mock.errors == [], stack.mock.errors[0]


def stack_fixtures(**stack_kw):
    """The fixture pair of a run-test module: `stack`, one Stack(**stack_kw) per module,
    and `st`, that stack freshened for each test. Use: stack, st = stack_fixtures()."""

    @pytest.fixture(scope="module")
    def stack():
        s = Stack(**stack_kw)
        yield s
        s.close()

    @pytest.fixture
    def st(stack):
        yield from fresh(stack)

    return stack, st


def converse_text(rec):
    """The user text of a Converse request the mock received."""
    msgs = rec.json["messages"]
    return "".join(c.get("text", "") for m in msgs for c in m["content"])


FIXED_ID = "abcdef01"
_SHIM_C = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stddef.h>
#include <string.h>
/* Every 4-byte random draw (trajectory ids, upload folders) returns ab cd ef 01;
 * everything else (keys, nonces) comes from libsodium as usual. */
void randombytes_buf(void *buf, size_t size) {
  static void (*real)(void *, size_t);
  if (size == 4) {
    memcpy(buf, "\xab\xcd\xef\x01", 4);
    return;
  }
  if (!real) real = (void (*)(void *, size_t))dlsym(RTLD_NEXT, "randombytes_buf");
  real(buf, size);
}
"""


def fixed_id_shim(tmp_dir):
    """Build an LD_PRELOAD library that makes every trajectory id FIXED_ID (gcc)."""
    import os
    import subprocess
    src = os.path.join(tmp_dir, "fixed_id.c")
    lib = os.path.join(tmp_dir, "fixed_id.so")
    with open(src, "w") as f:
        f.write(_SHIM_C)
    subprocess.run(["gcc", "-shared", "-fPIC", "-O1", "-o", lib, src, "-ldl"], check=True, capture_output=True)
    return lib


# ---------------------------------------------------------------------------------------
# Webhook receiver

class Delivery:
    def __init__(self, path, headers, body):
        self.time = time.monotonic()
        self.path = path
        self.headers = headers  # lower-case names
        self.body = body        # raw bytes
        self.json = json.loads(body) if body else None


class WebhookReceiver:
    """Tiny HTTP server on 127.0.0.1 recording every POST. statuses: answers in order
    (then 200 for everything)."""

    def __init__(self, statuses=()):
        self.deliveries = []
        self.statuses = list(statuses)
        self.cond = threading.Condition()
        recv = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n)
                with recv.cond:
                    status = recv.statuses.pop(0) if recv.statuses else 200
                    recv.deliveries.append(Delivery(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                    recv.cond.notify_all()
                out = b'{"ok":true}' if status < 300 else b'{"error":"try again"}'
                head = (f"HTTP/1.1 {status} {'OK' if status < 300 else 'Error'}\r\nContent-Type: application/json\r\n"
                        f"Content-Length: {len(out)}\r\n\r\n").encode()
                try:
                    self.wfile.write(head + out)
                except OSError:
                    pass  # pier gave up on this attempt; it is recorded anyway

            def log_message(self, *a):
                pass

        class Server(ThreadingHTTPServer):
            request_queue_size = 512  # 1,000 runs finishing together must not overflow the backlog

        self.server = Server(("127.0.0.1", 0), H)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/run-complete"

    def wait_for(self, n, timeout=15):
        deadline = time.monotonic() + timeout
        with self.cond:
            while len(self.deliveries) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"expected {n} webhook deliveries, got {len(self.deliveries)}")
                self.cond.wait(min(left, 0.1))
            return list(self.deliveries)

    def by_trajectory(self):
        with self.cond:
            out = {}
            for d in self.deliveries:
                out.setdefault(d.headers.get("x-mise-trajectory-id"), []).append(d)
            return out

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class SilentReceiver:
    """Accepts connections on 127.0.0.1 and never answers (a webhook receiver that hangs)."""

    def __init__(self):
        import socket
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.accepted = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.accepted.append(c)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}/hooks/never-answers"

    def close(self):
        self.sock.close()
        for c in self.accepted:
            c.close()


def signature(secret, timestamp, body):
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


# ---------------------------------------------------------------------------------------
# SSE

def sse_field(line):
    """An SSE 'field: value' line -> (field, value), one leading space of the value dropped."""
    field, _, value = line.partition(":")
    return field, value[1:] if value.startswith(" ") else value


class EventStream:
    """GET an SSE endpoint with http.client and read it event by event:
    next() -> (event name, data string) or None at the end of the body."""

    def __init__(self, pier, path, token, timeout=20):
        self.conn = http.client.HTTPConnection("127.0.0.1", pier.port, timeout=timeout)
        self.conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
        self.resp = self.conn.getresponse()
        self.comments = 0

    def next(self):
        name, data = None, []
        while True:
            line = self.resp.readline()
            if not line:
                return None if name is None and not data else (name, "\n".join(data))
            line = line.decode().rstrip("\r\n")
            if line == "":
                if name is None and not data:
                    continue
                return name, "\n".join(data)
            if line.startswith(":"):
                self.comments += 1
                continue
            field, value = sse_field(line)
            if field == "event":
                name = value
            elif field == "data":
                data.append(value)

    def all(self):
        out = []
        while True:
            ev = self.next()
            if ev is None:
                return out
            out.append(ev)

    def close(self):
        self.conn.close()
