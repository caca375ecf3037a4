#!/usr/bin/env python3
"""summarize.py RESULTS_DIR — turn bench/run.sh's results.jsonl + meta.json into
the Markdown tables of bench/README.md. Every number is the median over the
rounds; [min-max] over rounds is shown where rounds disagree the most."""

import json
import statistics
import sys
from pathlib import Path


def load(d):
    rows = [json.loads(line) for line in (d / "results.jsonl").read_text().splitlines() if line.strip()]
    meta = json.loads((d / "meta.json").read_text())
    by = {}
    for r in rows:
        by.setdefault(r["test"], []).append(r)
    return by, meta


def med(rows, *path):
    vals = []
    for r in rows:
        v = r
        for k in path:
            v = v[k]
        vals.append(float(v))
    return statistics.median(vals), min(vals), max(vals)


def us(t):
    m, lo, hi = t
    return f"{m:.0f} [{lo:.0f}-{hi:.0f}]" if len({round(lo), round(hi)}) > 1 else f"{m:.0f}"


def main():
    d = Path(sys.argv[1])
    by, meta = load(d)
    m = meta["machine"]
    out = []
    p = out.append
    p(f"Machine: {m['cpus']} vCPU {m['cpu']}, {m['mem_mb']} MB, kernel {m['kernel']}; nginx {m['nginx']}, "
      f"wrk {m['wrk']}, libcurl {m['curl']}; pier {m['pier_commit']} ({m.get('pier_bin', '')})"
      f"{' with `' + m['pier_args'] + '`' if m.get('pier_args') else ''}. {m['rounds']} rounds, median "
      f"[min-max over rounds].")
    p("")
    verdict, ratio = {}, {}
    for route, pre in (("Bedrock", ""), ("OpenAI", "oai_")):
        if not by.get(f"lat_{pre}c1") and not by.get(f"wrk_{pre}pier_c64"):
            continue
        verdict[route], ratio[route] = {}, {}
        p(f"### {route}: added latency, non-streaming (C client, direct and pier requests interleaved ABBA per client)")
        p("")
        p("| clients | direct p50 us | direct p99 us | pier p50 us | pier p99 us | added p50 us | added p99 us | req/s (both) |")
        p("|---|---|---|---|---|---|---|---|")
        for t, c in ((f"lat_{pre}c1", 1), (f"lat_{pre}c1_onecpu", "1, all on CPU 0"), (f"lat_{pre}c64", 64)):
            rows = by.get(t)
            if not rows:
                continue
            added = med(rows, "added", "p50_us")
            verdict[route][c] = added
            p(f"| {c} | {us(med(rows, 'direct', 'p50_us'))} | {us(med(rows, 'direct', 'p99_us'))} | "
              f"{us(med(rows, 'pier', 'p50_us'))} | {us(med(rows, 'pier', 'p99_us'))} | {us(added)} | "
              f"{us(med(rows, 'added', 'p99_us'))} | {us(med(rows, 'requests_per_s'))} |")
        rows = by.get(f"lat_{pre}stream_c1")
        if rows:
            what = ("converse-stream direct vs stream:true through pier; 12 eventstream frames -> 13 SSE events"
                    if not pre else "stream:true direct vs through pier; 12 SSE frames -> 11 (pier drops the "
                    "usage-only chunk it asked for)")
            p("")
            p(f"### {route}: streaming, 1 client ({what})")
            p("")
            p("| | direct | pier | added (p50 of pairs) |")
            p("|---|---|---|---|")
            p(f"| first body byte p50 us | {us(med(rows, 'ttfb_direct', 'p50_us'))} | {us(med(rows, 'ttfb_pier', 'p50_us'))} | |")
            p(f"| whole stream p50 us | {us(med(rows, 'direct', 'p50_us'))} | {us(med(rows, 'pier', 'p50_us'))} | "
              f"{us(med(rows, 'added', 'p50_us'))} |")
            p(f"| whole stream p99 us | {us(med(rows, 'direct', 'p99_us'))} | {us(med(rows, 'pier', 'p99_us'))} | "
              f"{us(med(rows, 'added', 'p99_us'))} |")
        p("")
        p(f"### {route}: throughput (wrk -t1, POST, keep-alive; requests/s)")
        p("")
        p("| connections | mock direct | nginx -> mock | pier -> mock | pier / nginx | pier p50 / p99 us | CPU us/req nginx | CPU us/req pier |")
        p("|---|---|---|---|---|---|---|---|")
        for c in (1, 64):
            dr, nr, pr = by.get(f"wrk_{pre}direct_c{c}"), by.get(f"wrk_{pre}nginx_c{c}"), by.get(f"wrk_{pre}pier_c{c}")
            if not (dr and nr and pr):
                continue
            ratios = [a["rps"] / b["rps"] for a, b in zip(pr, nr)]
            rt = (statistics.median(ratios), min(ratios), max(ratios))
            ratio[route][c] = rt
            p(f"| {c} | {us(med(dr, 'rps'))} | {us(med(nr, 'rps'))} | {us(med(pr, 'rps'))} | "
              f"{rt[0]:.2f} [{rt[1]:.2f}-{rt[2]:.2f}] | {us(med(pr, 'p50_us'))} / {us(med(pr, 'p99_us'))} | "
              f"{us(med(nr, 'proxy_cpu_us_per_req'))} | {us(med(pr, 'proxy_cpu_us_per_req'))} |")
        sr = by.get(f"wrk_{pre}pier_stream_c64")
        if sr:
            p(f"| 64, stream:true | | | {us(med(sr, 'rps'))} | | {us(med(sr, 'p50_us'))} / {us(med(sr, 'p99_us'))} | | "
              f"{us(med(sr, 'proxy_cpu_us_per_req'))} |")
        pr = by.get(f"wrk_{pre}pier_c64")
        if pr and "upstream_new_connections" in pr[0]:
            nc = sum(r["upstream_new_connections"] for r in pr)
            nq = sum(r["upstream_requests"] for r in pr)
            p("")
            p(f"Upstream connection reuse, pier at 64 connections: {nq:.0f} upstream requests on {nc:.0f} new "
              f"connections over all rounds.")
        p("")
    errs = sum(int(r.get(k, 0)) for t, rs in by.items() if t.startswith("wrk_") for r in rs
               for k in ("connect_err", "read_err", "write_err", "status_err", "timeout"))
    log = d / "logs" / "pier.err"
    if log.exists():
        import re
        behind = [int(x) for x in re.findall(r"the store is behind: (\d+) chat trajectories not recorded", log.read_text())]
        if behind:
            p(f"pier logged that its store writer fell behind and chat records were dropped: up to {max(behind)} "
              f"calls not recorded (pier logs the running count at most once a minute, so this is a lower bound).")
            p("")
    p(f"wrk errors over all runs: {errs}. CPU us/req = the proxy's utime+stime (all threads or workers) "
      f"over the run / requests, from /proc/PID/stat.")
    p("")
    p("### Memory with concurrent open streams (VmRSS from /proc/PID/status)")
    p("")
    p("| process | streams | all open at once | idle kB | all open kB | peak kB | after kB | per stream |")
    p("|---|---|---|---|---|---|---|---|")
    rss_open = {}
    for name, t in (("pier, Bedrock", "rss_pier"), ("pier, OpenAI", "rss_oai_pier"), ("nginx (2 workers, sum)", "rss_nginx")):
        rows = by.get(t)
        if not rows:
            continue
        r = rows[0]
        pids = sorted(k for k in r if k.startswith("pid"))
        if t != "rss_nginx":
            pids = pids[:1]  # pid1 is the slow mock
        s = {f: sum(r[k][f] for k in pids) for f in ("rss_idle_kb", "rss_all_open_kb", "rss_peak_kb", "rss_after_kb")}
        per = (s["rss_all_open_kb"] - s["rss_idle_kb"]) / max(1, r["streams"])
        if t != "rss_nginx":
            rss_open[name] = s["rss_all_open_kb"]
        p(f"| {name} | {r['streams']} ({r['completed']} completed, {r['failed']} failed) | "
          f"{'yes' if r['all_open'] else 'NO'} | {s['rss_idle_kb']} | {s['rss_all_open_kb']} | {s['rss_peak_kb']} | "
          f"{s['rss_after_kb']} | {per:.1f} kB |")
    p("")
    p(f"pier RSS right after start-up: {meta['idle']['rss_idle_kb']} kB; after the latency/throughput runs: "
      f"{meta['after_load']['rss_after_load_kb']} kB.")
    p("")
    if "OpenAI" in verdict and "Bedrock" in verdict:
        p("### Bedrock and OpenAI side by side (medians over rounds)")
        p("")
        p("| | Bedrock (translated) | OpenAI (relayed) |")
        p("|---|---|---|")
        def cell(t, *path):
            rows = by.get(t)
            return us(med(rows, *path)) if rows else ""
        for label, t, path in (("added p50 / p99 us, 1 client", "lat_{}c1", ("added",)),
                               ("added p50 / p99 us, 1 client, all on CPU 0", "lat_{}c1_onecpu", ("added",)),
                               ("added p50 / p99 us, 64 clients", "lat_{}c64", ("added",)),
                               ("streaming added p50 / p99 us, 1 client", "lat_{}stream_c1", ("added",))):
            p(f"| {label} | " + " | ".join(f"{cell(t.format(pre), *path, 'p50_us')} / {cell(t.format(pre), *path, 'p99_us')}"
                                           for pre in ("", "oai_")) + " |")
        p("| throughput at 64 connections, req/s | " + " | ".join(cell(f"wrk_{pre}pier_c64", "rps") for pre in ("", "oai_")) + " |")
        p("| pier / nginx at 64 connections | " + " | ".join(
            f"{ratio[r][64][0]:.2f} [{ratio[r][64][1]:.2f}-{ratio[r][64][2]:.2f}]" if 64 in ratio[r] else ""
            for r in ("Bedrock", "OpenAI")) + " |")
        p("| pier CPU us/req at 64 connections | " + " | ".join(
            cell(f"wrk_{pre}pier_c64", "proxy_cpu_us_per_req") for pre in ("", "oai_")) + " |")
        p("| pier CPU us/req at 64 connections, stream:true | " + " | ".join(
            cell(f"wrk_{pre}pier_stream_c64", "proxy_cpu_us_per_req") for pre in ("", "oai_")) + " |")
        p("| nginx CPU us/req at 64 connections (same reply bytes) | " + " | ".join(
            cell(f"wrk_{pre}nginx_c64", "proxy_cpu_us_per_req") for pre in ("", "oai_")) + " |")
        p("| RSS with all streams open, MB | " + " | ".join(
            f"{rss_open[k] / 1024:.1f}" if k in rss_open else "" for k in ("pier, Bedrock", "pier, OpenAI")) + " |")
        p("")
    p("### Targets")
    p("")
    for route in verdict:
        v = verdict[route]
        if 1 in v:
            p(f"- {route}, median added latency, 1 client: {us(v[1])} us (target <= 100 us): "
              f"{'MET' if v[1][0] <= 100 else 'MISSED'}")
        if "1, all on CPU 0" in v:
            x = v["1, all on CPU 0"]
            p(f"- {route}, the same with client, mock and pier on one CPU (pier's own cost, no cross-CPU wake-ups): "
              f"{us(x)} us: {'MET' if x[0] <= 100 else 'MISSED'}")
        if 64 in ratio[route]:
            rt = ratio[route][64]
            p(f"- {route}, throughput at 64 connections: {rt[0]:.2f} [{rt[1]:.2f}-{rt[2]:.2f}] x nginx (target >= 0.70): "
              f"{'MET' if rt[0] >= 0.7 else 'MISSED'}")
    for name, kb in rss_open.items():
        p(f"- {name}, {m['streams']} open streams: {kb / 1024:.1f} MB RSS (target < 64 MB): "
          f"{'MET' if kb < 64 * 1024 else 'MISSED'}")
    print("\n".join(out))


if __name__ == "__main__":
    main()
