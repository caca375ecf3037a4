# bench/lib.sh — sourced by run.sh and runs.sh: logging, installing what is
# missing, starting and stopping servers, the admin API. Uses BENCH_NAME (for
# messages), WORK (the scratch dir), and for api(): ADMIN and PIER_PORT.

log() { printf '== %s\n' "$*" >&2; }
die() { printf '%s: %s\n' "$BENCH_NAME" "$*" >&2; exit 1; }

# install_missing PACKAGE...: apt-get install them (root only). Debian starts
# nginx.service on 0.0.0.0:80 after its install; a policy-rc.d that forbids
# starting services keeps the machine listening on nothing new.
install_missing() {
  [ $# -gt 0 ] || return 0
  [ "$(id -u)" -eq 0 ] || die "missing $*: install them (apt-get install $*) or run as root"
  log "installing $*"
  local made_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && made_policy=1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y --no-install-recommends "$@" >&2 ||
    { apt-get update >&2 && apt-get install -y --no-install-recommends "$@" >&2; }
  if [ $made_policy -eq 1 ]; then rm -f /usr/sbin/policy-rc.d; fi
}

# The packages every bench needs, for install_missing.
base_needs() {
  [ -f /usr/include/uv.h ] || echo libuv1-dev
  [ -f /usr/include/zlib.h ] || echo zlib1g-dev
  [ -f /usr/share/llhttp/llhttp.c ] || echo node-llhttp
  command -v python3 >/dev/null || echo python3
  command -v curl >/dev/null || echo curl
}

# start_server NAME CMD...: start CMD in the background, wait for its first
# stdout line "listening on http://127.0.0.1:PORT", echo the port.
start_server() {
  local name=$1; shift
  echo "== $(date -u +%H:%M:%S) start: $*" >>"$WORK/$name.err"
  "$@" >"$WORK/$name.out" 2>>"$WORK/$name.err" &
  local pid=$!
  echo "$pid" >"$WORK/$name.pid" # start_server runs in $(...): the pid file is the record
  for _ in $(seq 100); do
    if grep -q '^listening on http://127.0.0.1:' "$WORK/$name.out" 2>/dev/null; then
      sed -n '1s/.*:\([0-9]*\)$/\1/p' "$WORK/$name.out"
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  cat "$WORK/$name.err" >&2
  die "$name did not start"
}

# stop_server NAME [SIGNAL]: signal it (TERM) and wait until it is gone.
stop_server() {
  local pid
  [ -f "$WORK/$1.pid" ] || return 0
  pid=$(cat "$WORK/$1.pid")
  kill "-${2:-TERM}" "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
  rm -f "$WORK/$1.pid"
}

api() { # METHOD PATH BODY -> response body; fails on a non-2xx status
  curl -sS -f -X "$1" -H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json' \
    --data "$3" "http://127.0.0.1:$PIER_PORT$2"
}
