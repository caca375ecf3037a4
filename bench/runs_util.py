#!/usr/bin/env python3
"""runs_util.py — helpers for bench/runs.sh (standard library only). None of this
generates load: the throughput numbers come from bench/build/loadgen (C).

  emit TEST ROUND JSON [KEY=VALUE...]     one results.jsonl line (VALUE parsed as JSON if it is)
  check-sync FILE BASE KEY                a run-sync answer is a completed run with the mock's text,
                                          and GET trajectory returns it completed at once
  check-count STATS_JSON N LABEL          the stats show exactly N completed runs, none failed/pending
  poll BASE KEY TASK N POLL_MS TIMEOUT_S  poll /db/stats until N runs have ended; JSON to stdout
  verify BASE KEY TASK N LOADGEN_JSON     list every trajectory of TASK: count, statuses, timestamps
  summary OUT_DIR                         Markdown tables from OUT_DIR/results.jsonl + meta.json
"""

import datetime
import http.client
import json
import os
import statistics
import sys
import time
import urllib.parse


def jval(s):
    try:
        return json.loads(s)
    except ValueError:
        return s


def cmd_emit(test, rnd, j, *kv):
    d = json.loads(j)
    d["test"], d["round"] = test, int(rnd)
    for x in kv:
        k, _, v = x.partition("=")
        d[k] = jval(v)
    if "cpu_ticks" in d:
        hz = os.sysconf("SC_CLK_TCK")
        runs = d.get("requests") or 0
        d["cpu_s"] = d["cpu_ticks"] / hz
        d["cpu_us_per_run"] = d["cpu_s"] * 1e6 / runs if runs else None
        if "cpu_user_ticks" in d and runs:
            d["cpu_user_us_per_run"] = d["cpu_user_ticks"] / hz * 1e6 / runs
            d["cpu_sys_us_per_run"] = d["cpu_us_per_run"] - d["cpu_user_us_per_run"]
    print(json.dumps(d))


class Client:
    def __init__(self, base, key):
        u = urllib.parse.urlparse(base)
        self.conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
        self.key = key

    def get(self, path):
        self.conn.request("GET", path, headers={"Authorization": "Bearer " + self.key})
        r = self.conn.getresponse()
        body = r.read()
        if r.status != 200:
            raise RuntimeError(f"GET {path}: {r.status} {body[:200]!r}")
        return json.loads(body)


def cmd_check_sync(path, base, key):
    d = json.load(open(path))
    ok = (d.get("status") == "completed" and d["trajectory"]["status"] == "completed"
          and d["trajectory"]["steps"]["chat"]["outputs"]["text"].startswith("Hello! "))
    if not ok:
        print("unexpected run-sync answer:", json.dumps(d)[:500], file=sys.stderr)
        return 1
    c = Client(base, key)
    name = d["trajectory"]["name"]  # "bench/sync"
    t = c.get(f"/api/v1/db/trajectory/{name}/{d['trajectory_id']}")
    if t.get("status") != "completed":
        print("trajectory not completed right after the 200:", json.dumps(t)[:300], file=sys.stderr)
        return 1
    return 0


def ended_count(s):
    return s["completed"] + s["failed"] + s["cancelled"]


def cmd_check_count(stats_json, n, label):
    s = json.loads(stats_json)
    n = int(n)
    if s["completed"] != n or s["failed"] or s["pending"] or s["running"]:
        print(f"{label}: expected {n} completed runs, stats say {json.dumps(s)}", file=sys.stderr)
        return 1
    print(f"{label}: {n} runs answered 200, {s['completed']} completed trajectories", file=sys.stderr)
    return 0


def cmd_poll(base, key, task, n, poll_ms, timeout_s):
    n, poll_s, deadline = int(n), int(poll_ms) / 1000, time.time() + float(timeout_s)
    c = Client(base, key)
    polls = max_pending = max_running = 0
    t_first_seen = None
    while True:
        s = c.get(f"/api/v1/db/stats/bench/{task}")
        now = time.time()
        polls += 1
        max_pending = max(max_pending, s["pending"])
        max_running = max(max_running, s["running"])
        if t_first_seen is None and s["total"] > 0:
            t_first_seen = now
        if ended_count(s) >= n:
            break
        if now > deadline:
            print(json.dumps({"timeout": True, "stats": s, "polls": polls}))
            return 1
        time.sleep(poll_s)
    print(json.dumps({"wall_all_ended_seen": now, "polls": polls, "max_pending_seen": max_pending,
                      "max_running_seen": max_running, "stats": s}))
    return 0 if s["failed"] == 0 and s["cancelled"] == 0 and s["completed"] == n else 1


def ts(s):
    return datetime.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp() if s else None


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(p / 100 * (len(v) - 1) + 0.5))] if v else None


def cmd_verify(base, key, task, n, loadgen_json):
    n, lg = int(n), json.loads(loadgen_json)
    c = Client(base, key)
    rows, page = [], 1
    while True:
        d = c.get(f"/api/v1/db/trajectories/bench/{task}?limit=100&page={page}")
        rows += [(t["trajectory_id"], t["status"], ts(t["created"]), ts(t.get("ended"))) for t in d["trajectories"]]
        if not d["has_more"]:
            break
        page += 1
    by = {}
    for r in rows:
        by[r[1]] = by.get(r[1], 0) + 1
    created = [r[2] for r in rows]
    ended = [r[3] for r in rows if r[3] is not None]
    wait = [(r[3] - r[2]) * 1e3 for r in rows if r[3] is not None]
    first, last = lg["wall_first_send"], max(ended) if ended else None
    out = {"listed": len(rows), "distinct_ids": len({r[0] for r in rows}), "by_status": by,
           "first_submit": first, "first_created": min(created) if created else None,
           "last_created": max(created) if created else None, "last_ended": last,
           "e2e_seconds": (last - first) if last else None,
           "e2e_runs_per_s": n / (last - first) if last else None,
           "created_to_ended_ms": {"p50": pct(wait, 50), "p99": pct(wait, 99), "max": max(wait) if wait else None}}
    out["ok"] = out["listed"] == n and out["distinct_ids"] == n and by.get("completed", 0) == n
    print(json.dumps(out))
    if not out["ok"]:
        print(f"async verify: expected {n} completed, got {json.dumps(out)}", file=sys.stderr)
    return 0


def cmd_summary(out):
    d = os.path.abspath(out)
    rows = [json.loads(x) for x in open(os.path.join(d, "results.jsonl")) if x.strip()]
    meta = json.load(open(os.path.join(d, "meta.json")))
    by = {}
    for r in rows:
        by.setdefault(r["test"], []).append(r)

    def med(rs, f):
        v = [f(r) for r in rs]
        m = statistics.median(v)
        lo, hi = min(v), max(v)
        return m, lo, hi

    def fmt(t, nd=0):
        m, lo, hi = t
        s = f"{m:,.{nd}f}"
        return s if round(lo, nd) == round(hi, nd) else f"{s} [{lo:,.{nd}f}-{hi:,.{nd}f}]"

    m = meta["machine"]
    p = print
    p(f"pier {meta['pier_commit']}, {meta['date']}; {m['cpus']} vCPU {m['cpu']}, {m['mem_mb']} MB, "
      f"{m['os']}, Linux {m['kernel']}. run-sync: {meta['rounds']} round(s) of {meta['duration_s']} s per client "
      f"count after {meta['warmup']} warm-up runs; median [min-max] over rounds.")
    p("")
    p("### run-sync (one-step litellm_chat, instant mock Bedrock)")
    p("")
    p("| clients | runs/s | p50 ms | p99 ms | pier CPU us/run | of which user / sys | non-200 | runs measured |")
    p("|---|---|---|---|---|---|---|---|")
    best = 0
    for c in (1, 64):
        rs = by.get(f"sync_c{c}", [])
        if not rs:
            continue
        rps = med(rs, lambda r: r["rps"])
        best = max(best, rps[0])
        p(f"| {c} | {fmt(rps)} | {fmt(med(rs, lambda r: r['p50_us'] / 1e3), 2)} | "
          f"{fmt(med(rs, lambda r: r['p99_us'] / 1e3), 2)} | {fmt(med(rs, lambda r: r['cpu_us_per_run']))} | "
          f"{med(rs, lambda r: r.get('cpu_user_us_per_run', 0))[0]:.0f} / {med(rs, lambda r: r.get('cpu_sys_us_per_run', 0))[0]:.0f} | "
          f"{sum(r['status_202'] + r['status_other'] + r['conn_errors'] for r in rs)} | "
          f"{sum(r['requests'] for r in rs):,} |")
    for ck in by.get("sync_check", []):
        b, a = ck["stats_before_kill"], ck["stats_after_restart"]
        p("")
        p(f"Every run answered 200 ({ck['answered_200']:,} incl. warm-up and sanity runs) is a completed trajectory: "
          f"{b['completed']:,} completed / {b['failed']} failed before `kill -9`, {a['completed']:,} completed "
          f"after restarting on the same data directory ({ck['data_dir_kb'] / 1024:.0f} MB).")
    p("")
    a = by.get("async", [])
    if a:
        p(f"### async: {meta['async_runs']:,} runs via POST /run ({meta['submit_conns']} connections), "
          f"--max-concurrent-runs {meta['max_concurrent_runs']}")
        p("")
        p("| round | submit runs/s | submit p50 / p99 ms | end-to-end runs/s | first submit -> last ended s | "
          "completed | failed | max running seen | pier CPU us/run (user / sys) |")
        p("|---|---|---|---|---|---|---|---|---|")
        for r in a:
            v, pl = r["verify"], r["poll"]
            p(f"| {r['round']} | {r['rps']:,.0f} | {r['p50_us'] / 1e3:.2f} / {r['p99_us'] / 1e3:.2f} | "
              f"**{v['e2e_runs_per_s']:,.0f}** | {v['e2e_seconds']:.2f} | {v['by_status'].get('completed', 0):,} | "
              f"{pl['stats']['failed']} | {pl['max_running_seen']} | {r['cpu_us_per_run']:.0f} "
              f"({r.get('cpu_user_us_per_run', 0):.0f} / {r.get('cpu_sys_us_per_run', 0):.0f}) |")
        ok = all(r["verify"]["ok"] and r["status_200"] == meta["async_runs"] for r in a)
        p("")
        p(f"All {meta['async_runs']:,} submits answered 200 and all {meta['async_runs']:,} runs completed "
          f"(listed through /db/trajectories, distinct ids): **{'yes' if ok else 'NO'}**. Run created -> ended "
          f"p50 {statistics.median(r['verify']['created_to_ended_ms']['p50'] for r in a):,.0f} ms, "
          f"p99 {statistics.median(r['verify']['created_to_ended_ms']['p99'] for r in a):,.0f} ms (queue wait included); "
          f"polling /db/stats every {meta['poll_ms']} ms saw the last run end "
          f"{statistics.median(r['poll']['wall_all_ended_seen'] - r['verify']['last_ended'] for r in a) * 1e3:.0f} ms "
          f"after its `ended` timestamp.")
        p("")
    if best:
        p(f"Target >= 500 run-sync/s: best median {best:,.0f} runs/s -> **{'met' if best >= 500 else 'missed'}**.")
    return 0


def main():
    cmds = {"emit": cmd_emit, "check-sync": cmd_check_sync, "check-count": cmd_check_count, "poll": cmd_poll,
            "verify": cmd_verify, "summary": cmd_summary}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds:
        print(__doc__, file=sys.stderr)
        return 2
    return cmds[sys.argv[1]](*sys.argv[2:]) or 0


if __name__ == "__main__":
    sys.exit(main())
