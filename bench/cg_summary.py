#!/usr/bin/env python3
"""cg_summary.py CALLGRIND_OUT REQUESTS — per-request instruction counts from a
callgrind profile of pier: by shared object, by pier source file, the top
functions (exclusive and inclusive) and the hottest call counts (malloc,
getrandom, printf, ...). Needs callgrind_annotate on PATH."""

import collections
import re
import subprocess
import sys

LINE = re.compile(r"\s*([\d,]+) \(\s*[\d.]+%\)\s+(?:[*<>] +)?(\S+?):(\S+) \[(\S+)\](?: \(([\d,]+)x\))?")
SKIP = {"loop_main", "clone", "start_thread", "uv_run", "main"}


def annotate(path, *args):
    out = subprocess.run(["callgrind_annotate", "--threshold=100", "--auto=no", *args, path],
                         capture_output=True, text=True, check=True).stdout
    return out.splitlines()


def num(s):
    return int(s.replace(",", ""))


def main():
    path, n = sys.argv[1], int(sys.argv[2])
    excl = []
    for line in annotate(path):
        m = LINE.match(line)
        if m and m.group(3) not in SKIP:
            excl.append((num(m.group(1)), m.group(2), m.group(3), m.group(4).rsplit("/", 1)[-1]))
    total = sum(e[0] for e in excl)
    by_obj, by_src = collections.Counter(), collections.Counter()
    for ir, f, fn, obj in excl:
        by_obj[obj] += ir
        if obj == "pier":
            by_src[f.split("/src/")[-1] if "/src/" in f else f.rsplit("/", 1)[-1]] += ir
    print(f"instructions per request (user space, all threads): {total / n:,.0f}\n")
    print("by shared object (exclusive):")
    for o, ir in by_obj.most_common():
        if ir / n < 50:
            continue
        print(f"  {o:28s} {ir / n:9,.0f}  {100 * ir / total:5.1f}%")
    print("\npier, by source file (exclusive):")
    for o, ir in by_src.most_common(15):
        print(f"  {o:40s} {ir / n:9,.0f}  {100 * ir / total:5.1f}%")
    print("\ntop functions (exclusive):")
    for ir, f, fn, obj in sorted(excl, reverse=True)[:25]:
        print(f"  {ir / n:9,.0f}  {fn} [{obj}]")
    incl = []
    for line in annotate(path, "--inclusive=yes"):
        m = LINE.match(line)
        if m and m.group(3) not in SKIP and not m.group(3).startswith("0x"):
            incl.append((num(m.group(1)), m.group(3), m.group(4).rsplit("/", 1)[-1]))
    print("\ntop named functions (inclusive, callees included):")
    for ir, fn, obj in sorted(incl, reverse=True)[:45]:
        print(f"  {ir / n:9,.0f}  {fn} [{obj}]")
    # call counts: sum the "(Nx)" of every caller line above each "*" line
    calls, pending = collections.Counter(), []
    for line in annotate(path, "--tree=caller"):
        if "  < " in line:
            m = re.search(r"\(([\d,]+)x\)", line)
            if m:
                pending.append(num(m.group(1)))
        elif "  *  " in line:
            m = LINE.match(line)
            if m:
                calls[(m.group(3), m.group(4).rsplit("/", 1)[-1])] += sum(pending)
            pending = []
        else:
            pending = []
    want = ("malloc", "calloc", "realloc", "free", "getrandom", "__vfprintf_internal", "cJSON_Parse",
            "cJSON_ParseWithLengthOpts", "cJSON_GetObjectItemCaseSensitive", "curl_url_get", "curl_url_set",
            "curl_getenv", "curl_easy_reset", "uv_poll_init_socket", "uv_poll_start", "uv_close", "epoll_ctl",
            "poll", "pier_sha256_hex")
    print("\ncalls per request:")
    for (fn, obj), c in sorted(calls.items(), key=lambda kv: -kv[1]):
        if fn in want:
            print(f"  {c / n:8.1f}  {fn} [{obj}]")


if __name__ == "__main__":
    main()
