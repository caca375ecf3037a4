#!/usr/bin/python3
"""A stand-in coding agent for the runbook tests, installed as the agent's
command (<data-dir>/agents/claude-code/bin/claude, .../codex/bin/codex, ...).

Like Claude Code in `-p` mode it reads its instruction on stdin (Gemini CLI:
from -p) and talks to $ANTHROPIC_BASE_URL/v1/messages with
$ANTHROPIC_AUTH_TOKEN. The instruction is JSON: {"actions": [...]}, each
action one thing to do; what it saw goes to /app/results/report.json (unless
"no_report"), and "say" lines go to stdout as the agent's final text.
Only the standard library: it runs on the host snapshot's /usr/bin/python3.
"""
import glob
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

RESULTS = "/app/results"


def messages(action):
    body = {"model": os.environ.get("ANTHROPIC_MODEL", ""), "max_tokens": 64,
            "messages": [{"role": "user", "content": action.get("text", "hi")}]}
    if action.get("stream"):
        body["stream"] = True
    req = urllib.request.Request(
        os.environ["ANTHROPIC_BASE_URL"] + "/v1/messages", data=json.dumps(body).encode(),
        headers={"Authorization": "Bearer " + os.environ["ANTHROPIC_AUTH_TOKEN"],
                 "anthropic-version": "2023-06-01", "content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        raw = r.read().decode()
    if not action.get("stream"):
        j = json.loads(raw)
        return {"text": j["content"][0]["text"], "usage": j["usage"]}
    text, usage = "", {}
    for line in raw.splitlines():
        if not line.startswith("data: "):
            continue
        ev = json.loads(line[6:])
        if ev["type"] == "content_block_delta":
            text += ev["delta"].get("text", "")
        elif ev["type"] == "message_start":
            usage.update(ev["message"]["usage"])
        elif ev["type"] == "message_delta":
            usage.update(ev["usage"])
    return {"text": text, "usage": usage}


def http_status(url, token):
    req = urllib.request.Request(url, headers={"Authorization": "Bearer " + token})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError as e:
        return "error: %s" % e


def read(path):
    try:
        with open(path, "rb") as f:
            return {"ok": True, "bytes": f.read(200).decode("latin-1")}
    except OSError as e:
        return {"ok": False, "error": type(e).__name__}


def connect(host, port):
    try:
        with socket.create_connection((host, port), timeout=3):
            return "connected"
    except OSError as e:
        return type(e).__name__


STREAM_JSON = "--output-format" in sys.argv and "stream-json" in sys.argv


def emit(event):
    """Claude Code's stream-json: one JSON object per line, flushed."""
    if STREAM_JSON:
        sys.stdout.write(json.dumps(event) + "\n")
        sys.stdout.flush()


def main():
    if "-p" in sys.argv and sys.argv[sys.argv.index("-p") + 1:] and not sys.stdin.isatty() and \
            os.path.basename(sys.argv[0]) == "gemini":
        instruction = sys.argv[sys.argv.index("-p") + 1]
    else:
        instruction = sys.stdin.read()
    plan, _ = json.JSONDecoder().raw_decode(instruction)  # a user message may follow the plan
    report = {"argv": sys.argv[1:], "cwd": os.getcwd(), "uid": os.getuid(), "env": dict(os.environ),
              "instruction": instruction, "results": []}
    say = []
    for a in plan["actions"]:
        kind = a["do"]
        if kind == "messages":
            out = messages(a)
            say.append(out["text"])
            report["results"].append(out)
            emit({"type": "assistant", "message": {"content": [{"type": "text", "text": out["text"]}]}})
        elif kind == "write":
            path = os.path.join(RESULTS, a["path"])
            os.makedirs(os.path.dirname(path), exist_ok=True)
            emit({"type": "assistant", "message": {"content": [
                {"type": "tool_use", "name": "Write", "input": {"file_path": path, "content": a["content"]}}]}})
            with open(path, "w") as f:
                f.write(a["content"])
        elif kind == "assets":
            report["assets"] = {p[len("/app/assets/"):]: open(p, "rb").read().decode("latin-1")
                                for p in sorted(glob.glob("/app/assets/**", recursive=True)) if os.path.isfile(p)}
        elif kind == "read":
            report.setdefault("read", {})[a["path"]] = read(a["path"])
        elif kind == "glob":
            report.setdefault("glob", {})[a["pattern"]] = glob.glob(a["pattern"])
        elif kind == "connect":
            report.setdefault("connect", {})["%s:%d" % (a["host"], a["port"])] = connect(a["host"], a["port"])
        elif kind == "http":
            report.setdefault("http", {})[a["url"]] = http_status(a["url"], os.environ.get("ANTHROPIC_AUTH_TOKEN", ""))
        elif kind == "http_post":
            req = urllib.request.Request(
                os.environ["ANTHROPIC_BASE_URL"] + a["path"], data=json.dumps(a["body"]).encode(),
                headers={"Authorization": "Bearer " + os.environ["ANTHROPIC_AUTH_TOKEN"],
                         "content-type": "application/json"})
            try:
                with urllib.request.urlopen(req, timeout=30) as r:
                    got = (r.status, r.read().decode())
            except urllib.error.HTTPError as e:
                got = (e.code, e.read().decode())
            report.setdefault("posts", []).append(got)
        elif kind == "procs":
            report["procs"] = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
        elif kind == "spawn":  # a child in our process group that outlives nothing on its own
            subprocess.Popen(["/usr/bin/python3", "-c", "import time; time.sleep(600)", a["marker"]])
        elif kind == "say":
            say.append(a["text"])
            emit({"type": "assistant", "message": {"content": [{"type": "text", "text": a["text"]}]}})
        elif kind == "wait_for":  # until the test creates this file (host side: <work>/<id>/...)
            while not os.path.exists(a["path"]):
                time.sleep(0.02)
        elif kind == "sleep":
            if not plan.get("no_report"):
                with open(os.path.join(RESULTS, "report.json"), "w") as f:
                    json.dump(report, f)
            time.sleep(a["seconds"])
        elif kind == "exit":
            sys.stderr.write(a.get("stderr", ""))
            if "result" in a:
                emit({"type": "result", "subtype": "error", "is_error": True, "result": a["result"]})
            sys.exit(a["code"])
    if not plan.get("no_report"):
        os.makedirs(RESULTS, exist_ok=True)
        with open(os.path.join(RESULTS, "report.json"), "w") as f:
            json.dump(report, f)
    if STREAM_JSON:
        emit({"type": "result", "subtype": "success", "is_error": False, "result": "\n".join(say)})
    else:
        print("\n".join(say))


main()
