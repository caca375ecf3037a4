#!/usr/bin/env bash
# bench/run.sh — pier's gateway benchmark (issues #3, #4): latency pier adds over a
# fast C mock of Bedrock and of the OpenAI API (pier's byte-relay fast path),
# throughput against nginx proxy_pass to the same mock, and RSS with 1,000 open
# streams. Everything listens on 127.0.0.1 only.
# Not part of `make test`. See bench/README.md for what each number means.
#
# Knobs (environment): ROUNDS (5), DURATION (wrk seconds per run, 5),
# PAIRS1 (pairs at 1 client, 20000), PAIRS64 (pairs at 64 clients, 100000),
# STREAMS (1000), STREAM_FRAMES (32 frames at 1 per second), OPENAI (1|0: also
# measure the OpenAI route), PROFILE (0|1: perf and callgrind profiles of pier),
# OUT (results dir, bench/results/<time>), PIER_BIN (use this
# pier binary instead of building the repo root; PIER_LABEL describes it), PIER_ARGS (extra
# `pier serve` arguments, e.g. "--record-chat off").
set -euo pipefail
{ # the whole script is one compound command: bash reads it all before running, so
  # editing this file while a run is in progress cannot derail that run.

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-5}
PAIRS1=${PAIRS1:-20000}
PAIRS64=${PAIRS64:-100000}
STREAMS=${STREAMS:-1000}
STREAM_FRAMES=${STREAM_FRAMES:-32}
PROFILE=${PROFILE:-0}
OPENAI=${OPENAI:-1}
OUT=${OUT:-$HERE/results/$(date -u +%Y%m%dT%H%M%SZ)}
MODEL=us.anthropic.claude-sonnet-4-6

BENCH_NAME=bench
. "$HERE/lib.sh"

# ---- dependencies ---------------------------------------------------------------------------
need=($(base_needs))
command -v wrk >/dev/null || need+=(wrk)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx-light)
install_missing "${need[@]}"
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

# ---- build -------------------------------------------------------------------------------------
if [ -n "${PIER_BIN:-}" ]; then
  PIER=$PIER_BIN
else
  log "building pier (RelWithDebInfo)"
  (cd "$ROOT" && cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null && cmake --build build -j "$(nproc)" >/dev/null)
  PIER=$ROOT/build/pier
fi
log "building the bench tools"
make -s -C "$HERE" >/dev/null
MOCK=$HERE/build/mock_upstream
LAT=$HERE/build/latency

# 1,000 client sockets + 1,000 upstream sockets in pier, the same again in nginx.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
[ "$(ulimit -n)" -ge $((STREAMS * 2 + 200)) ] || die "ulimit -n $(ulimit -n) is too low for $STREAMS streams"

mkdir -p "$OUT"
WORK=$(mktemp -d /tmp/pier-bench.XXXXXX)
save_logs() { # the servers' stdout/stderr (pier's warnings, e.g. dropped chat records) to $OUT/logs
  local f
  mkdir -p "$OUT/logs"
  for f in "$WORK"/*.err "$WORK"/*.out; do [ -f "$f" ] && cp "$f" "$OUT/logs/" || true; done
  [ -f "$WORK/nginx/error.log" ] && cp "$WORK/nginx/error.log" "$OUT/logs/nginx_error.log" || true
}
cleanup() { # only the processes this script started, by pid
  local f
  for f in "$WORK"/*.pid; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true; done
  wait 2>/dev/null || true
  save_logs
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rss_kb() { awk '/^VmRSS:/{print $2}' "/proc/$1/status"; }

start_pier() {
  PIER_PORT=$(start_server pier "$PIER" serve --listen 127.0.0.1:0 --data-dir "$WORK/data" --threads 2 --log-level warn ${PIER_ARGS:-})
  ADMIN=$(cat "$WORK/data/admin.token")
  PIER_URL=http://127.0.0.1:$PIER_PORT/v1/chat/completions
  local pid i
  pid=$(cat "$WORK/pier.pid")
  for i in $(seq 50); do # it answers HTTP (any status), or say why not
    curl -s -o /dev/null "http://127.0.0.1:$PIER_PORT/" && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  die "pier (pid $pid, $(kill -0 "$pid" 2>/dev/null && echo running || echo exited)) does not answer on port $PIER_PORT; its stderr: $(tail -5 "$WORK/pier.err")"
}

# ---- servers --------------------------------------------------------------------------------------
log "starting the mocks and pier"
MOCK_PORT=$(start_server mock "$MOCK" --threads 1)
SLOW_DELTAS=$((STREAM_FRAMES - 4))
SLOW_PORT=$(start_server slowmock "$MOCK" --threads 1 --frame-delay-ms 1000 --deltas "$SLOW_DELTAS")
start_pier
api POST /api/v1/collections/ '{"name":"bench"}' >/dev/null
api POST /api/v1/collections/ '{"name":"slow"}' >/dev/null
envjson() {
  printf '{"environment_variables":{"AWS_BEARER_TOKEN_BEDROCK":"ABSKbench","AWS_REGION":"us-east-1","AWS_BEDROCK_RUNTIME_ENDPOINT":"http://127.0.0.1:%s"}}' "$1"
}
api PATCH /api/v1/collections/bench/environment "$(envjson "$MOCK_PORT")" >/dev/null
api PATCH /api/v1/collections/slow/environment "$(envjson "$SLOW_PORT")" >/dev/null
KEY=$(api POST /api/v1/api-keys/ '{"name":"b","collection_name":"bench"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["api_key"])')
SLOW_KEY=$(api POST /api/v1/api-keys/ '{"name":"s","collection_name":"slow"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["api_key"])')
# OpenAI fast path: own collections (so the Bedrock collection's environment stays as it was).
api POST /api/v1/collections/ '{"name":"oai"}' >/dev/null
api POST /api/v1/collections/ '{"name":"oaislow"}' >/dev/null
oaienv() {
  printf '{"environment_variables":{"OPENAI_API_KEY":"sk-bench","OPENAI_BASE_URL":"http://127.0.0.1:%s/v1"}}' "$1"
}
api PATCH /api/v1/collections/oai/environment "$(oaienv "$MOCK_PORT")" >/dev/null
api PATCH /api/v1/collections/oaislow/environment "$(oaienv "$SLOW_PORT")" >/dev/null
OAI_KEY=$(api POST /api/v1/api-keys/ '{"name":"o","collection_name":"oai"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["api_key"])')
OAI_SLOW_KEY=$(api POST /api/v1/api-keys/ '{"name":"os","collection_name":"oaislow"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["api_key"])')

# The same request both ways: OpenAI format to pier, its Converse translation to the mock.
printf '{"model":"bedrock/%s","messages":[{"role":"user","content":"hi"}],"max_tokens":32}' "$MODEL" >"$WORK/pier.json"
printf '{"model":"bedrock/%s","messages":[{"role":"user","content":"hi"}],"max_tokens":32,"stream":true}' "$MODEL" >"$WORK/pier_stream.json"
printf '{"messages":[{"role":"user","content":[{"text":"hi"}]}],"inferenceConfig":{"maxTokens":32}}' >"$WORK/direct.json"
DIRECT_URL=http://127.0.0.1:$MOCK_PORT/model/$MODEL/converse
DIRECT_STREAM_URL=http://127.0.0.1:$MOCK_PORT/model/$MODEL/converse-stream
# OpenAI: pier relays the body with only "model" rewritten (and, for streams, stream_options
# added); the mock directly gets exactly what pier sends (checked below).
OAI_MODEL=gpt-4o-mini
printf '{"model":"openai/%s","messages":[{"role":"user","content":"hi"}],"max_tokens":32}' "$OAI_MODEL" >"$WORK/oai_pier.json"
printf '{"model":"openai/%s","messages":[{"role":"user","content":"hi"}],"max_tokens":32,"stream":true}' "$OAI_MODEL" >"$WORK/oai_pier_stream.json"
printf '{"model":"%s","messages":[{"role":"user","content":"hi"}],"max_tokens":32}' "$OAI_MODEL" >"$WORK/oai_direct.json"
printf '{"model":"%s","messages":[{"role":"user","content":"hi"}],"max_tokens":32,"stream":true,"stream_options":{"include_usage":true}}' \
  "$OAI_MODEL" >"$WORK/oai_direct_stream.json"
OAI_DIRECT_URL=http://127.0.0.1:$MOCK_PORT/v1/chat/completions

# nginx: two workers like pier's two loops, upstream keepalive, no access log.
NGINX_PORT=$(free_port)
NGINX_SLOW_PORT=$(free_port)
mkdir -p "$WORK/nginx"
cat >"$WORK/nginx/nginx.conf" <<EOF
worker_processes 2;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 8192; }
worker_rlimit_nofile 16384;
http {
  access_log off;
  client_body_temp_path $WORK/nginx/body;
  proxy_temp_path $WORK/nginx/proxy;
  fastcgi_temp_path $WORK/nginx/fastcgi;
  uwsgi_temp_path $WORK/nginx/uwsgi;
  scgi_temp_path $WORK/nginx/scgi;
  upstream mock { server 127.0.0.1:$MOCK_PORT; keepalive 256; }
  upstream slowmock { server 127.0.0.1:$SLOW_PORT; keepalive 256; }
  proxy_http_version 1.1;
  proxy_set_header Connection "";
  server { listen 127.0.0.1:$NGINX_PORT; location / { proxy_pass http://mock; } }
  server { listen 127.0.0.1:$NGINX_SLOW_PORT; location / { proxy_pass http://slowmock; proxy_buffering off; } }
}
EOF
"$NGINX" -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -g 'daemon off;' >"$WORK/nginx/out" 2>&1 &
echo $! >"$WORK/nginx.pid"
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$NGINX_PORT/" && break; sleep 0.1; done
NGINX_URL=http://127.0.0.1:$NGINX_PORT/model/$MODEL/converse
OAI_NGINX_URL=http://127.0.0.1:$NGINX_PORT/v1/chat/completions

# ---- sanity: the same answer both ways -------------------------------------------------------------
log "checking the answers"
curl -sS -f -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' --data @"$WORK/pier.json" "$PIER_URL" |
  grep -q '"content":"Hello! Hello! ' || die "pier's non-streaming answer is wrong"
curl -sS -f -N -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' --data @"$WORK/pier_stream.json" "$PIER_URL" |
  grep -q 'data: \[DONE\]' || die "pier's stream is wrong"
curl -sS -f --data @"$WORK/direct.json" "$NGINX_URL" | grep -q '"stopReason":"end_turn"' || die "nginx does not reach the mock"
curl -sS -f --data @"$WORK/direct.json" -o "$WORK/es.bin" "$DIRECT_STREAM_URL"
(cd "$ROOT/tests/integration/mocks" && python3 -c '
import sys, eventstream
msgs = eventstream.decode_all(open(sys.argv[1], "rb").read())
assert [m.event_type for m in msgs][0] == "messageStart" and msgs[-1].event_type == "metadata", msgs
' "$WORK/es.bin") || die "the mock's eventstream does not decode"
if [ "$OPENAI" = 1 ]; then
  # pier's OpenAI route must answer 200 with the mock's bytes, only "model" changed. A
  # capture of what pier sends upstream shows the direct bodies above are the same bytes.
  oai_pier() { # body-file out-file -> HTTP status
    curl -sS -N -o "$2" -w '%{http_code}' -H "Authorization: Bearer $OAI_KEY" -H 'Content-Type: application/json' \
      --data @"$1" "$PIER_URL"
  }
  s0=$(curl -s "http://127.0.0.1:$MOCK_PORT/__stats")
  [ "$(oai_pier "$WORK/oai_pier.json" "$WORK/oai_pier.out")" = 200 ] || die "pier's OpenAI route did not answer 200: $(cat "$WORK/oai_pier.out")"
  [ "$(oai_pier "$WORK/oai_pier_stream.json" "$WORK/oai_pier_stream.out")" = 200 ] || die "pier's OpenAI stream did not answer 200"
  s1=$(curl -s "http://127.0.0.1:$MOCK_PORT/__stats")
  curl -sS -f -H 'Authorization: Bearer sk-bench' --data @"$WORK/oai_direct.json" -o "$WORK/oai_direct.out" "$OAI_DIRECT_URL"
  curl -sS -f -N -H 'Authorization: Bearer sk-bench' --data @"$WORK/oai_direct_stream.json" -o "$WORK/oai_direct_stream.out" "$OAI_DIRECT_URL"
  curl -sS -f -H 'Authorization: Bearer sk-bench' --data @"$WORK/oai_direct.json" "$OAI_NGINX_URL" | cmp -s - "$WORK/oai_direct.out" ||
    die "nginx does not relay the mock's OpenAI answer"
  python3 - "$WORK" "$s0" "$s1" <<'PY' || die "pier's OpenAI answers differ from the mock's by more than the model"
import json, sys
w, s0, s1 = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
rd = lambda n: open(f"{w}/{n}", "rb").read()
fix = lambda b: b.replace(b'"model":"gpt-4o-mini-2024-07-18"', b'"model":"openai/gpt-4o-mini"')
direct, pier = rd("oai_direct.out"), rd("oai_pier.out")
assert b'"model":"gpt-4o-mini-2024-07-18"' in direct and fix(direct) == pier, (direct, pier)
# stream: the same frames, model rewritten, minus the usage-only chunk pier asked for itself
frames = [f for f in rd("oai_direct_stream.out").split(b"\n\n") if f]
assert frames[-1] == b"data: [DONE]" and b'"choices":[],"usage"' in frames[-2], frames[-2:]
want = b"".join(fix(f) + b"\n\n" for f in frames if b'"choices":[],' not in f)
got = rd("oai_pier_stream.out")
assert got == want, (got, want)
assert s1["chat_completions"] - s0["chat_completions"] == 1 and s1["chat_streams"] - s0["chat_streams"] == 1, (s0, s1)
print(f"OpenAI route ok: {len(pier)}-byte answer and {len(frames) - 1} of {len(frames)} stream frames as the mock sent them, model rewritten",
      file=sys.stderr)
PY
fi

RESULTS=$OUT/results.jsonl
: >"$RESULTS"
emit() { # test round json...
  python3 -c 'import json,sys; d=json.loads(sys.argv[3]); d["test"]=sys.argv[1]; d["round"]=int(sys.argv[2]); print(json.dumps(d))' "$@" >>"$RESULTS"
}
cpu_ticks() { # summed utime+stime (clock ticks) of the given pids, all threads
  local t=0 p
  for p in "$@"; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done
  echo "$t"
}
wrk_run() { # test round conns url body auth pid... (the proxy whose CPU time is charged)
  local line t0 t1 c0 c1
  local test=$1 round=$2 conns=$3 url=$4 body=$5 auth=$6
  shift 6
  t0=$(cpu_ticks "$@")
  c0=$(curl -s "http://127.0.0.1:$MOCK_PORT/__stats")
  line=$(BODY_FILE=$body AUTH=$auth wrk -t1 -c"$conns" -d"${DURATION}s" -s "$HERE/post.lua" "$url" | grep '^RESULT') ||
    die "wrk failed for $test"
  t1=$(cpu_ticks "$@")
  c1=$(curl -s "http://127.0.0.1:$MOCK_PORT/__stats")
  emit "$test" "$round" "$(python3 -c '
import json, os, sys
d = {k: float(v) for k, v in (x.split("=") for x in sys.argv[1].split()[1:])}
ticks, hz = int(sys.argv[2]), os.sysconf("SC_CLK_TCK")
d["proxy_cpu_us_per_req"] = ticks / hz * 1e6 / d["requests"] if d["requests"] else 0
a, b = json.loads(sys.argv[3]), json.loads(sys.argv[4])
d["upstream_new_connections"] = b["connections"] - a["connections"] - 1  # minus the stats request
d["upstream_requests"] = b["requests"] - a["requests"] - 1
print(json.dumps(d))' "$line" $((t1 - t0)) "$c0" "$c1")"
}
lat_run() { # test round clients pairs a_url b_url b_body [a_body a_auth b_key]: Bedrock unless given
  local j
  j=$(${LAT_PREFIX:-} "$LAT" --json -c "$3" -n "$4" -w $(($4 / 10)) --a-name direct --a-url "$5" \
      --a-body "${8:-$WORK/direct.json}" --a-header "Authorization: Bearer ${9:-ABSKbench}" --b-name pier --b-url "$6" \
      --b-body "$7" --b-header "Authorization: Bearer ${10:-$KEY}") || {
    kill -0 "$(cat "$WORK/pier.pid")" 2>/dev/null || die "pier died during $1 (crash? see dmesg; stderr: $(tail -3 "$WORK/pier.err"))"
    die "latency client failed for $1"
  }
  emit "$1" "$2" "$j"
}

# ---- latency and throughput, rounds interleaved ------------------------------------------------------
PIER_PID=$(cat "$WORK/pier.pid")
NGINX_WORKERS=$(pgrep -P "$(cat "$WORK/nginx.pid")" | tr '\n' ' ')
echo "{\"rss_idle_kb\": $(rss_kb "$PIER_PID")}" >"$WORK/idle0.json"
for r in $(seq "$ROUNDS"); do
  log "round $r/$ROUNDS: paired latency (direct vs pier), 1 and 64 clients"
  lat_run lat_c1 "$r" 1 "$PAIRS1" "$DIRECT_URL" "$PIER_URL" "$WORK/pier.json"
  lat_run lat_c64 "$r" 64 "$PAIRS64" "$DIRECT_URL" "$PIER_URL" "$WORK/pier.json"
  lat_run lat_stream_c1 "$r" 1 $((PAIRS1 / 2)) "$DIRECT_STREAM_URL" "$PIER_URL" "$WORK/pier_stream.json"
  if [ "$OPENAI" = 1 ]; then
    log "round $r/$ROUNDS: paired latency, OpenAI route (direct to the mock vs pier)"
    OAI_ARGS=("$WORK/oai_direct.json" sk-bench "$OAI_KEY")
    lat_run lat_oai_c1 "$r" 1 "$PAIRS1" "$OAI_DIRECT_URL" "$PIER_URL" "$WORK/oai_pier.json" "${OAI_ARGS[@]}"
    lat_run lat_oai_c64 "$r" 64 "$PAIRS64" "$OAI_DIRECT_URL" "$PIER_URL" "$WORK/oai_pier.json" "${OAI_ARGS[@]}"
    lat_run lat_oai_stream_c1 "$r" 1 $((PAIRS1 / 2)) "$OAI_DIRECT_URL" "$PIER_URL" "$WORK/oai_pier_stream.json" \
      "$WORK/oai_direct_stream.json" sk-bench "$OAI_KEY"
  fi
  if [ "$(nproc)" -gt 1 ] && command -v taskset >/dev/null; then
    # The same 1-client run with client, mock and pier (all threads) on CPU 0: no
    # cross-CPU wake-ups, so "added" is pier's own processing cost.
    taskset -acp 0 "$PIER_PID" >/dev/null && taskset -acp 0 "$(cat "$WORK/mock.pid")" >/dev/null
    LAT_PREFIX="taskset -c 0" lat_run lat_c1_onecpu "$r" 1 "$PAIRS1" "$DIRECT_URL" "$PIER_URL" "$WORK/pier.json"
    if [ "$OPENAI" = 1 ]; then
      LAT_PREFIX="taskset -c 0" lat_run lat_oai_c1_onecpu "$r" 1 "$PAIRS1" "$OAI_DIRECT_URL" "$PIER_URL" \
        "$WORK/oai_pier.json" "${OAI_ARGS[@]}"
    fi
    taskset -acp "0-$(($(nproc) - 1))" "$PIER_PID" >/dev/null
    taskset -acp "0-$(($(nproc) - 1))" "$(cat "$WORK/mock.pid")" >/dev/null
  fi
  log "round $r/$ROUNDS: throughput (wrk, ${DURATION}s each)"
  for c in 1 64; do
    wrk_run "wrk_direct_c$c" "$r" "$c" "$DIRECT_URL" "$WORK/direct.json" "Bearer ABSKbench" "$(cat "$WORK/mock.pid")"
    wrk_run "wrk_nginx_c$c" "$r" "$c" "$NGINX_URL" "$WORK/direct.json" "Bearer ABSKbench" $NGINX_WORKERS
    wrk_run "wrk_pier_c$c" "$r" "$c" "$PIER_URL" "$WORK/pier.json" "Bearer $KEY" "$PIER_PID"
  done
  wrk_run wrk_pier_stream_c64 "$r" 64 "$PIER_URL" "$WORK/pier_stream.json" "Bearer $KEY" "$PIER_PID"
  if [ "$OPENAI" = 1 ]; then
    log "round $r/$ROUNDS: throughput, OpenAI route (wrk, ${DURATION}s each)"
    wrk_run wrk_oai_direct_c64 "$r" 64 "$OAI_DIRECT_URL" "$WORK/oai_direct.json" "Bearer sk-bench" "$(cat "$WORK/mock.pid")"
    wrk_run wrk_oai_nginx_c64 "$r" 64 "$OAI_NGINX_URL" "$WORK/oai_direct.json" "Bearer sk-bench" $NGINX_WORKERS
    wrk_run wrk_oai_pier_c64 "$r" 64 "$PIER_URL" "$WORK/oai_pier.json" "Bearer $OAI_KEY" "$PIER_PID"
    wrk_run wrk_oai_pier_stream_c64 "$r" 64 "$PIER_URL" "$WORK/oai_pier_stream.json" "Bearer $OAI_KEY" "$PIER_PID"
  fi
done
curl -s "http://127.0.0.1:$MOCK_PORT/__stats" >"$OUT/mock_stats.json"
echo "{\"rss_after_load_kb\": $(rss_kb "$PIER_PID")}" >"$WORK/load.json"

# ---- optional profiles ------------------------------------------------------------------------------------
if [ "$PROFILE" = 1 ]; then
  if command -v perf >/dev/null; then
    log "profiling pier: perf record (cpu-clock) under wrk -c64"
    perf record -e cpu-clock -F 2999 -g -p "$PIER_PID" -o "$OUT/perf.data" -- \
      env BODY_FILE="$WORK/pier.json" AUTH="Bearer $KEY" wrk -t1 -c64 -d10s -s "$HERE/post.lua" "$PIER_URL" \
      >/dev/null 2>&1 || true
    perf report -i "$OUT/perf.data" --no-children --sort dso -g none 2>/dev/null | grep '%' >"$OUT/perf_dso.txt" || true
    perf report -i "$OUT/perf.data" --no-children --sort dso,symbol -g none 2>/dev/null | grep '%' |
      head -60 >"$OUT/perf_top.txt" || true
    if [ "$OPENAI" = 1 ]; then
      log "profiling pier: perf record (cpu-clock) under wrk -c64, OpenAI route"
      perf record -e cpu-clock -F 2999 -g -p "$PIER_PID" -o "$OUT/perf_openai.data" -- \
        env BODY_FILE="$WORK/oai_pier.json" AUTH="Bearer $OAI_KEY" wrk -t1 -c64 -d10s -s "$HERE/post.lua" "$PIER_URL" \
        >/dev/null 2>&1 || true
      perf report -i "$OUT/perf_openai.data" --no-children --sort dso -g none 2>/dev/null | grep '%' \
        >"$OUT/perf_openai_dso.txt" || true
      perf report -i "$OUT/perf_openai.data" --no-children --sort dso,symbol -g none 2>/dev/null | grep '%' |
        head -60 >"$OUT/perf_openai_top.txt" || true
    fi
  fi
  if command -v valgrind >/dev/null; then
    cg_run() { # name requests direct_url direct_body pier_body key: pier under callgrind, 4 latency clients
      log "profiling pier: callgrind, $2 requests from 4 clients ($1)"
      PIER_PORT=$(start_server pier valgrind --tool=callgrind --callgrind-out-file="$OUT/$1.out" \
        "$PIER" serve --listen 127.0.0.1:0 --data-dir "$WORK/data" --threads 2 --log-level warn ${PIER_ARGS:-})
      PIER_URL=http://127.0.0.1:$PIER_PORT/v1/chat/completions
      "$LAT" -c 4 -n "$2" -w 0 --a-url "$3" --a-body "$4" --b-url "$PIER_URL" --b-body "$5" \
        --b-header "Authorization: Bearer $6" >/dev/null
      stop_server pier
      python3 "$HERE/cg_summary.py" "$OUT/$1.out" "$2" >"$OUT/$1_summary.txt" || true
      log "callgrind summary in $OUT/$1_summary.txt"
    }
    stop_server pier
    cg_run callgrind 5000 "$DIRECT_URL" "$WORK/direct.json" "$WORK/pier.json" "$KEY"
    cg_run callgrind_stream 5000 "$DIRECT_STREAM_URL" "$WORK/direct.json" "$WORK/pier_stream.json" "$KEY"
    if [ "$OPENAI" = 1 ]; then
      cg_run callgrind_openai 5000 "$OAI_DIRECT_URL" "$WORK/oai_direct.json" "$WORK/oai_pier.json" "$OAI_KEY"
      cg_run callgrind_openai_stream 5000 "$OAI_DIRECT_URL" "$WORK/oai_direct_stream.json" "$WORK/oai_pier_stream.json" "$OAI_KEY"
    fi
  fi
fi

# ---- RSS: 1,000 concurrent streams, on a fresh pier ------------------------------------------------------------
log "RSS: $STREAMS concurrent streams through pier (1 frame/s, $STREAM_FRAMES frames)"
stop_server pier
start_pier
PIER_PID=$(cat "$WORK/pier.pid")
# One request each way first so both loops have their libraries and pools warm.
for _ in 1 2 3 4; do
  curl -s -o /dev/null -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' --data @"$WORK/pier.json" "$PIER_URL"
done
sleep 0.5
printf '{"model":"bedrock/%s","messages":[{"role":"user","content":"hi"}],"max_tokens":32,"stream":true}' "$MODEL" >"$WORK/slow.json"
j=$("$LAT" --json --hold "$STREAMS" --timeout $((STREAM_FRAMES + 60)) --pid "$PIER_PID" --pid "$(cat "$WORK/slowmock.pid")" \
    --b-url "$PIER_URL" --b-body "$WORK/slow.json" --b-header "Authorization: Bearer $SLOW_KEY") || die "hold run failed: $j"
emit rss_pier 1 "$j"
if [ "$OPENAI" = 1 ]; then
  log "RSS: $STREAMS concurrent streams through pier's OpenAI route (same slow mock)"
  stop_server pier
  start_pier
  PIER_PID=$(cat "$WORK/pier.pid")
  for _ in 1 2 3 4; do
    curl -s -o /dev/null -H "Authorization: Bearer $OAI_KEY" -H 'Content-Type: application/json' --data @"$WORK/oai_pier.json" "$PIER_URL"
  done
  sleep 0.5
  j=$("$LAT" --json --hold "$STREAMS" --timeout $((STREAM_FRAMES + 60)) --pid "$PIER_PID" --pid "$(cat "$WORK/slowmock.pid")" \
      --b-url "$PIER_URL" --b-body "$WORK/oai_pier_stream.json" --b-header "Authorization: Bearer $OAI_SLOW_KEY") ||
    die "OpenAI hold run failed: $j"
  emit rss_oai_pier 1 "$j"
fi
log "RSS: $STREAMS concurrent streams through nginx (same slow mock), for comparison"
NW=()
for p in $(pgrep -P "$(cat "$WORK/nginx.pid")"); do NW+=(--pid "$p"); done
j=$("$LAT" --json --hold "$STREAMS" --timeout $((STREAM_FRAMES + 60)) "${NW[@]}" \
    --b-url "http://127.0.0.1:$NGINX_SLOW_PORT/model/$MODEL/converse-stream" --b-body "$WORK/direct.json") || die "nginx hold run failed"
emit rss_nginx 1 "$j"

# ---- report -------------------------------------------------------------------------------------------------------
{
  echo "{\"machine\": {\"cpus\": $(nproc), \"cpu\": \"$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')\","
  echo " \"kernel\": \"$(uname -r)\", \"mem_mb\": $(free -m | awk '/^Mem:/{print $2}'),"
  echo " \"nginx\": \"$("$NGINX" -v 2>&1 | sed 's/.*\///')\", \"wrk\": \"$(wrk -v 2>&1 | head -1 | awk '{print $2}')\","
  echo " \"curl\": \"$(curl-config --version 2>/dev/null | awk '{print $2}')\", \"pier_commit\": \"$([ -n "${PIER_BIN:-}" ] && echo prebuilt || (cd "$ROOT" && git describe --always --dirty))\","
  echo " \"pier_bin\": \"${PIER_LABEL:-$PIER}\", \"pier_args\": \"${PIER_ARGS:-}\","
  echo " \"rounds\": $ROUNDS, \"duration_s\": $DURATION, \"streams\": $STREAMS},"
  echo " \"idle\": $(cat "$WORK/idle0.json"), \"after_load\": $(cat "$WORK/load.json"), \"mock_stats\": $(cat "$OUT/mock_stats.json")}"
} >"$OUT/meta.json"
save_logs
python3 "$HERE/summarize.py" "$OUT" | tee "$OUT/summary.md"
exit
}
