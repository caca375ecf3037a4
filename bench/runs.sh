#!/usr/bin/env bash
# bench/runs.sh — pier's workflow-engine benchmark (issue #5): run-sync throughput
# and latency of a one-step litellm_chat workflow against the instant C mock of
# Bedrock, and async throughput of 10,000 queued runs. Everything listens on
# 127.0.0.1 only. Not part of `make test`. See bench/README.md ("Workflow runs").
#
# Knobs (environment): ROUNDS (3), DURATION (seconds per run-sync measurement, 10),
# WARMUP (run-sync warm-up requests before each measurement, 200), ASYNC_RUNS (10000),
# ASYNC_ROUNDS (1), SUBMIT_CONNS (connections submitting async runs, 64),
# MAX_RUNS (--max-concurrent-runs, 64), POLL_MS (stats polling interval, 50),
# QUICK=1 (ROUNDS=1 DURATION=3 WARMUP=100: under a minute), PROFILE=1 (perf record
# of pier under the 64-client run-sync load, and callgrind over CG_RUNS=2000 run-sync runs), OUT (bench/results/runs-<time>),
# BUILD_DIR (/tmp/benchbuild), REV (build this commit from a clean `git archive` export
# instead of the working tree), PIER_BIN (measure this binary, no build; PIER_LABEL
# describes it).
set -euo pipefail
{ # one compound command: bash reads it all before running it, so editing this file
  # during a run cannot derail the run.

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
if [ "${QUICK:-0}" = 1 ]; then
  ROUNDS=${ROUNDS:-1} DURATION=${DURATION:-3} WARMUP=${WARMUP:-100}
fi
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-200}
ASYNC_RUNS=${ASYNC_RUNS:-10000}
ASYNC_ROUNDS=${ASYNC_ROUNDS:-1}
SUBMIT_CONNS=${SUBMIT_CONNS:-64}
MAX_RUNS=${MAX_RUNS:-64}
POLL_MS=${POLL_MS:-50}
PROFILE=${PROFILE:-0}
BUILD_DIR=${BUILD_DIR:-/tmp/benchbuild}
OUT=${OUT:-$HERE/results/runs-$(date -u +%Y%m%dT%H%M%SZ)}
MODEL=us.anthropic.claude-sonnet-4-6
BOUNDARY=------------------------pierbench7d3f0a1c9e2b
UTIL=$HERE/runs_util.py

BENCH_NAME=bench/runs
. "$HERE/lib.sh"

# ---- dependencies ---------------------------------------------------------------------------
install_missing $(base_needs)

# ---- build ----------------------------------------------------------------------------------
if [ -n "${PIER_BIN:-}" ]; then
  PIER=$PIER_BIN
  COMMIT=${PIER_LABEL:-prebuilt}
elif [ -n "${REV:-}" ]; then
  # a clean export of one commit (git archive: the working tree and .git are not touched)
  COMMIT=$(git -C "$ROOT" rev-parse --short "$REV^{commit}") || die "unknown REV $REV"
  SRC=$BUILD_DIR-src-$COMMIT
  if [ ! -f "$SRC/CMakeLists.txt" ]; then
    rm -rf "$SRC" && mkdir -p "$SRC"
    git -C "$ROOT" archive "$COMMIT" | tar -x -C "$SRC"
  fi
  log "building pier $COMMIT (clean export, RelWithDebInfo) in $BUILD_DIR-$COMMIT"
  cmake -S "$SRC" -B "$BUILD_DIR-$COMMIT" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$BUILD_DIR-$COMMIT" -j "$(nproc)" --target pier >/dev/null
  PIER=$BUILD_DIR-$COMMIT/pier
else
  COMMIT=$(git -C "$ROOT" rev-parse --short HEAD)
  # src/ may be edited while we build: record whether the tree differed from HEAD.
  if [ -n "$(git -C "$ROOT" status --porcelain -- src CMakeLists.txt 2>/dev/null)" ]; then COMMIT="$COMMIT+dirty"; fi
  log "building pier $COMMIT (RelWithDebInfo) in $BUILD_DIR"
  cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$BUILD_DIR" -j "$(nproc)" --target pier >/dev/null
  PIER=$BUILD_DIR/pier
fi
log "building the bench tools"
make -s -C "$HERE" >/dev/null
MOCK=$HERE/build/mock_upstream
LOADGEN=$HERE/build/loadgen

mkdir -p "$OUT"
WORK=$(mktemp -d /tmp/pier-runs-bench.XXXXXX)
cleanup() { # only the processes this script started, by pid
  local f
  for f in "$WORK"/*.pid; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; } # utime+stime of all threads
utime() { awk '{print $14}' "/proc/$1/stat"; }

stats() { # task -> the stats JSON
  curl -sS -f -H "Authorization: Bearer $KEY" "http://127.0.0.1:$PIER_PORT/api/v1/db/stats/bench/$1"
}
workflow='{"init_params":{"prompt":"hi"},"step_configs":{"chat":{"activity":"litellm_chat","model":"'$MODEL'","model_provider":"bedrock","prompt_path":"init_params.prompt","max_tokens":32}},"steps":["chat"]}'

# A fresh pier on data dir $1 with extra flags; collection "bench" pointed at the mock,
# an API key in $KEY, and the tasks named in $TASKS (all the same one-step workflow).
start_pier() {
  local dir=$1; shift
  PIER_PORT=$(start_server pier "$PIER" serve --listen 127.0.0.1:0 --data-dir "$dir" --threads 2 --log-level warn "$@")
  PIER_PID=$(cat "$WORK/pier.pid")
  ADMIN=$(cat "$dir/admin.token")
}
setup_pier() {
  api POST /api/v1/collections/ '{"name":"bench"}' >/dev/null
  api PATCH /api/v1/collections/bench/environment \
    '{"environment_variables":{"AWS_BEARER_TOKEN_BEDROCK":"ABSKbench","AWS_REGION":"us-east-1","AWS_BEDROCK_RUNTIME_ENDPOINT":"http://127.0.0.1:'"$MOCK_PORT"'"}}' >/dev/null
  KEY=$(api POST /api/v1/api-keys/ '{"name":"k","collection_name":"bench"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["api_key"])')
  local t
  for t in "$@"; do api POST /api/v1/tasks/bench '{"name":"'"$t"'","workflow":'"$workflow"'}' >/dev/null; done
}

# The body `curl -F 'init_params={"prompt":"hi"}'` sends, with a fixed boundary.
printf -- '--%s\r\nContent-Disposition: form-data; name="init_params"\r\n\r\n{"prompt":"hi"}\r\n--%s--\r\n' \
  "$BOUNDARY" "$BOUNDARY" >"$WORK/form.body"
CT="multipart/form-data; boundary=$BOUNDARY"

RESULTS=$OUT/results.jsonl
: >"$RESULTS"
emit() { python3 "$UTIL" emit "$@" >>"$RESULTS"; } # test round json [key=value...]

log "starting the mock"
MOCK_PORT=$(start_server mock "$MOCK" --threads 1)

# ---- 1. run-sync -------------------------------------------------------------------------------------
log "run-sync: fresh pier, one-step litellm_chat task"
start_pier "$WORK/sync"
setup_pier sync
SYNC_URL=http://127.0.0.1:$PIER_PORT/api/v1/run-sync/bench/sync
# Sanity: the curl form as documented; 200, completed, the mock's text; readable at once.
code=$(curl -sS -o "$WORK/sanity.json" -w '%{http_code}' -H "Authorization: Bearer $KEY" -F 'init_params={"prompt":"hi"}' "$SYNC_URL")
[ "$code" = 200 ] || die "run-sync answered $code: $(head -c 300 "$WORK/sanity.json")"
python3 "$UTIL" check-sync "$WORK/sanity.json" "http://127.0.0.1:$PIER_PORT" "$KEY" || die "run-sync's answer is wrong"
# The fixed body loadgen sends gives the same answer.
curl -sS -f -o "$WORK/sanity2.json" -H "Authorization: Bearer $KEY" -H "Content-Type: $CT" --data-binary @"$WORK/form.body" "$SYNC_URL"
python3 "$UTIL" check-sync "$WORK/sanity2.json" "http://127.0.0.1:$PIER_PORT" "$KEY" || die "run-sync's answer to the fixed form is wrong"
sync_sent=2 # runs whose 200 we have seen

sync_run() { # round conns
  local j t0 t1 r=$1 c=$2
  "$LOADGEN" --url "$SYNC_URL" --body "$WORK/form.body" --content-type "$CT" --header "Authorization: Bearer $KEY" \
    -c "$c" -n "$WARMUP" --json >"$WORK/warm.json" || die "run-sync warm-up failed: $(cat "$WORK/warm.json")"
  sync_sent=$((sync_sent + WARMUP))
  t0=$(cpu_ticks "$PIER_PID") u0=$(utime "$PIER_PID")
  j=$("$LOADGEN" --url "$SYNC_URL" --body "$WORK/form.body" --content-type "$CT" --header "Authorization: Bearer $KEY" \
    -c "$c" -d "$DURATION" --json) || {
    kill -0 "$PIER_PID" 2>/dev/null || die "pier died during run-sync c$c (stderr: $(tail -3 "$WORK/pier.err"))"
    die "run-sync c$c: not every reply was 200: $j"
  }
  t1=$(cpu_ticks "$PIER_PID") u1=$(utime "$PIER_PID")
  sync_sent=$((sync_sent + $(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["status_200"])' "$j")))
  emit "sync_c$c" "$r" "$j" "cpu_ticks=$((t1 - t0))" "cpu_user_ticks=$((u1 - u0))" "rss_kb=$(awk '/^VmRSS:/{print $2}' "/proc/$PIER_PID/status")"
}
for r in $(seq "$ROUNDS"); do
  for c in 1 64; do
    log "run-sync round $r/$ROUNDS: $c client(s), ${DURATION}s"
    sync_run "$r" "$c"
  done
done

if [ "$PROFILE" = 1 ] && command -v perf >/dev/null; then
  log "profiling pier: perf record -e cpu-clock under run-sync, 64 clients, 10 s"
  perf record -e cpu-clock -F 1999 -g -p "$PIER_PID" -o "$OUT/perf.data" -- \
    "$LOADGEN" --url "$SYNC_URL" --body "$WORK/form.body" --content-type "$CT" --header "Authorization: Bearer $KEY" \
    -c 64 -d 10 --json >"$WORK/prof.json" 2>/dev/null || true
  sync_sent=$((sync_sent + $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["status_200"])' "$WORK/prof.json")))
  cp "$WORK/prof.json" "$OUT/perf_load.json"
  perf report -i "$OUT/perf.data" --no-children --sort dso -g none 2>/dev/null | grep '%' >"$OUT/perf_dso.txt" || true
  perf report -i "$OUT/perf.data" --no-children --sort dso,symbol -g none 2>/dev/null | grep '%' | head -80 >"$OUT/perf_top.txt" || true
  perf report -i "$OUT/perf.data" --children --sort symbol -g none 2>/dev/null | grep '%' | head -80 >"$OUT/perf_children.txt" || true
fi

# Every 200 must be a durable, completed trajectory: count them, then kill -9 pier,
# restart it on the same data directory and count again.
log "run-sync: checking that every 200 is a completed trajectory, before and after kill -9"
before=$(stats sync)
db_kb=$(du -sk "$WORK/sync" | cut -f1)
stop_server pier KILL
start_pier "$WORK/sync"
after=$(stats sync)
emit sync_check 1 "{}" "answered_200=$sync_sent" "stats_before_kill=$before" "stats_after_restart=$after" "data_dir_kb=$db_kb"
python3 "$UTIL" check-count "$before" "$sync_sent" "before kill -9" || die "run-sync: trajectory count does not match"
python3 "$UTIL" check-count "$after" "$sync_sent" "after kill -9 and restart" || die "run-sync: trajectories lost by kill -9"
stop_server pier

if [ "$PROFILE" = 1 ] && command -v valgrind >/dev/null; then
  CG_RUNS=${CG_RUNS:-2000}
  log "profiling pier: callgrind, $CG_RUNS run-sync runs from 4 clients (fresh data dir)"
  PIER_PORT=$(start_server pier valgrind --tool=callgrind --callgrind-out-file="$OUT/callgrind.out" \
    "$PIER" serve --listen 127.0.0.1:0 --data-dir "$WORK/cg" --threads 2 --log-level warn)
  PIER_PID=$(cat "$WORK/pier.pid")
  ADMIN=$(cat "$WORK/cg/admin.token")
  setup_pier sync
  "$LOADGEN" --url "http://127.0.0.1:$PIER_PORT/api/v1/run-sync/bench/sync" --body "$WORK/form.body" --content-type "$CT" \
    --header "Authorization: Bearer $KEY" -c 4 -n "$CG_RUNS" --json >"$OUT/callgrind_load.json" || die "callgrind load failed"
  stop_server pier
  python3 "$HERE/cg_summary.py" "$OUT/callgrind.out" "$CG_RUNS" >"$OUT/callgrind_summary.txt" || true
fi

# ---- 2. async: 10,000 queued runs -------------------------------------------------------------------------
for r in $(seq "$ASYNC_ROUNDS"); do
  log "async round $r/$ASYNC_ROUNDS: fresh pier (--max-concurrent-runs $MAX_RUNS), $ASYNC_RUNS runs from $SUBMIT_CONNS connections"
  rm -rf "$WORK/async"
  start_pier "$WORK/async" --max-concurrent-runs "$MAX_RUNS"
  setup_pier warm async
  RUN_URL=http://127.0.0.1:$PIER_PORT/api/v1/run/bench
  # warm-up on another task: both loops, the curl handles and the database are warm
  "$LOADGEN" --url "$RUN_URL/warm" --body "$WORK/form.body" --content-type "$CT" --header "Authorization: Bearer $KEY" \
    -c 8 -n 200 --json >/dev/null || die "async warm-up failed"
  python3 "$UTIL" poll "http://127.0.0.1:$PIER_PORT" "$KEY" warm 200 "$POLL_MS" 60 >/dev/null || die "async warm-up runs did not complete"
  t0=$(cpu_ticks "$PIER_PID") u0=$(utime "$PIER_PID")
  # the poller starts first and stops when completed + failed + cancelled reaches ASYNC_RUNS
  python3 "$UTIL" poll "http://127.0.0.1:$PIER_PORT" "$KEY" async "$ASYNC_RUNS" "$POLL_MS" 600 >"$WORK/poll.json" &
  poll_pid=$!
  echo "$poll_pid" >"$WORK/poller.pid"
  j=$("$LOADGEN" --url "$RUN_URL/async" --body "$WORK/form.body" --content-type "$CT" --header "Authorization: Bearer $KEY" \
    -c "$SUBMIT_CONNS" -n "$ASYNC_RUNS" --json) || die "async submit: not every reply was 200: $j"
  wait "$poll_pid" || die "async runs did not all end: $(cat "$WORK/poll.json")"
  rm -f "$WORK/poller.pid"
  t1=$(cpu_ticks "$PIER_PID") u1=$(utime "$PIER_PID")
  rss=$(awk '/^VmRSS:/{print $2}' "/proc/$PIER_PID/status")
  # every trajectory of the task, with its server-side timestamps
  v=$(python3 "$UTIL" verify "http://127.0.0.1:$PIER_PORT" "$KEY" async "$ASYNC_RUNS" "$j")
  emit async "$r" "$j" "poll=$(cat "$WORK/poll.json")" "verify=$v" "cpu_ticks=$((t1 - t0))" "cpu_user_ticks=$((u1 - u0))" "rss_kb=$rss" \
    "max_concurrent_runs=$MAX_RUNS" "data_dir_kb=$(du -sk "$WORK/async" | cut -f1)"
  stop_server pier
done

# ---- report -------------------------------------------------------------------------------------------------
python3 - "$OUT/meta.json" <<EOF
import json, os, platform, subprocess
def sh(c):
    try: return subprocess.run(c, shell=True, capture_output=True, text=True).stdout.strip()
    except Exception: return ""
json.dump({"machine": {"cpus": os.cpu_count(), "cpu": sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2").strip(),
           "kernel": platform.release(), "mem_mb": int(sh("free -m | awk '/^Mem:/{print \$2}'") or 0),
           "os": sh(". /etc/os-release && echo \$PRETTY_NAME")},
           "pier_commit": "$COMMIT", "pier_bin": "$PIER", "rounds": $ROUNDS, "duration_s": $DURATION,
           "warmup": $WARMUP, "async_runs": $ASYNC_RUNS, "submit_conns": $SUBMIT_CONNS, "max_concurrent_runs": $MAX_RUNS,
           "poll_ms": $POLL_MS, "date": sh("date -u +%Y-%m-%dT%H:%MZ")}, open("$OUT/meta.json", "w"), indent=1)
EOF
python3 "$UTIL" summary "$OUT" | tee "$OUT/summary.md"
exit
}
