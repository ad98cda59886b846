#!/usr/bin/env bash
# Staff-console benchmark: one server on this machine, a day of 200 sessions and
# 5,000 bookings (scripts/benchconsole seed), and wrk on the pages a clerk keeps
# open — Today, the session desk of a 300-booking session, the approval queue —
# with the console session cookie, printed beside GET /healthz in the same run
# (absolute numbers depend on the machine; the ratio does not, much). Then 200
# check-in scans one after another, each timed.
#
#   scripts/bench-console.sh            # DURATION=5s CONNS=8 THREADS=2
#
# Two wrk passes per page: one connection (the latency is the server's time for
# one page plus a loopback round trip: the "server-side render time"), then
# CONNS connections (throughput, the req/s ratio against /healthz).
# Targets: < 50 ms per page at one connection (p50 and p99), a scan < 200 ms.
# Uses a throwaway database and Redis prefix (ports 18400–18499) and removes both.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

DURATION="${DURATION:-5s}"
CONNS="${CONNS:-8}"
THREADS="${THREADS:-2}"
PORT="${BENCH_CONSOLE_PORT:-18410}"

command -v wrk >/dev/null 2>&1 || { echo "wrk is missing: apt-get install wrk"; exit 1; }
ensure_mysql
ensure_redis

RUN="bcon$$"
DB="nantian_bench_${RUN}"
PREFIX="bench:${RUN}:"
WORK=$(mktemp -d)
SERVER_PID=""
SECRET="bench-jwt-secret-at-least-32-bytes-long-xx"
DATA_KEY="bench-console-data-key-0123456789"
DSN="root:@tcp(${MYSQL_HOST}:${MYSQL_PORT})/${DB}?parseTime=true&loc=UTC&charset=utf8mb4"

cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null || true
  mysql_cmd -e "DROP DATABASE IF EXISTS \`$DB\`" || true
  redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" --scan --pattern "${PREFIX}*" | xargs -r -n 500 redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" DEL >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

mysql_cmd -e "CREATE DATABASE \`$DB\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
go build -o "$WORK/nantian" ./server
go build -o "$WORK/benchconsole" ./scripts/benchconsole

APP_ENV=test HTTP_ADDR="127.0.0.1:${PORT}" MYSQL_DSN="$DSN" REDIS_ADDR="${REDIS_HOST}:${REDIS_PORT}" \
REDIS_KEY_PREFIX="$PREFIX" JWT_SECRET="$SECRET" DATA_KEY="$DATA_KEY" WECHAT_API_BASE="http://127.0.0.1:9" \
GIN_MODE=release "$WORK/nantian" serve >/dev/null 2>"$WORK/server.err" &
SERVER_PID=$!
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:${PORT}/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fsS "http://127.0.0.1:${PORT}/readyz" >/dev/null || { echo "server did not start:"; cat "$WORK/server.err"; exit 1; }

BASE="http://127.0.0.1:${PORT}"
eval "$("$WORK/benchconsole" seed -dsn "$DSN" -url "$BASE" -dir "$WORK" -data-key "$DATA_KEY")"

cat > "$WORK/cookie.lua" <<LUA
wrk.headers["Cookie"] = "nt_console=${CONSOLE_COOKIE}"
LUA

# Sanity: each page answers 200 with what it should show.
check() { # check PATH TEXT
  curl -sS -o "$WORK/page.html" -w '%{http_code}' -H "Cookie: nt_console=${CONSOLE_COOKIE}" "$BASE$1" > "$WORK/page.status"
  grep -q "$2" "$WORK/page.html" || { echo "$1 ($(cat "$WORK/page.status")) does not show $2:"; head -c 1500 "$WORK/page.html"; exit 1; }
}
check "/console/" "今日场次 <small>200 场"
check "/console/sessions/${DESK_SESSION}" "名单 <small>300 人"
check "/console/approvals" "待审核"

ms() { awk '{v=$1; if (v ~ /us$/) {sub(/us/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v=v*1000}; print v}'; }
# run_wrk LABEL PATH → "LABEL one-connection p50/p99, CONNS-connection req/s"
run_wrk() {
  local label=$1 path=$2 one many
  one=$(wrk -t1 -c1 -d"$DURATION" --latency -s "$WORK/cookie.lua" "$BASE$path")
  many=$(wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency -s "$WORK/cookie.lua" "$BASE$path")
  local p50 p99 rps non2xx
  p50=$(echo "$one" | awk '$1=="50%" {print $2}' | ms)
  p99=$(echo "$one" | awk '$1=="99%" {print $2}' | ms)
  rps=$(echo "$many" | awk '/Requests\/sec/ {print $2}')
  non2xx=$(echo "$one$many" | awk '/Non-2xx/ {s+=$NF} END {print s+0}')
  printf "%-14s 1 conn: p50_ms=%-7s p99_ms=%-7s  %s conns: req/s=%-9s non2xx=%s\n" "$label" "$p50" "$p99" "$CONNS" "$rps" "$non2xx"
  eval "${label}_RPS=$rps ${label}_P50=$p50 ${label}_P99=$p99 ${label}_NON2XX=$non2xx"
}

echo "== one server, $(nproc) cores; a day of 200 sessions, 5,000 bookings (${PENDING} pending); wrk ${DURATION} per pass"
run_wrk healthz "/healthz"
run_wrk today "/console/"
run_wrk desk "/console/sessions/${DESK_SESSION}"
run_wrk approvals "/console/approvals"
run_wrk live "/console/today/live"
"$WORK/benchconsole" scan -url "$BASE" -dir "$WORK" -n 200 | tee "$WORK/scan.out"
scan_p99=$(sed -n 's/.*p99_ms=\([0-9.]*\).*/\1/p' "$WORK/scan.out")

echo "== ratios against /healthz (req/s) and targets (server time per page < 50 ms, scan < 200 ms)"
for p in today desk approvals live; do
  eval "rps=\$${p}_RPS p50=\$${p}_P50 p99=\$${p}_P99 bad=\$${p}_NON2XX"
  awk -v n="$p" -v r="$rps" -v h="$healthz_RPS" -v a="$p50" -v b="$p99" -v bad="$bad" 'BEGIN {
    printf "%-10s / healthz = %.3f   p50 %.1f ms, p99 %.1f ms  %s\n", n, r/h, a, b, (b < 50 && bad == 0 ? "met" : "NOT met") }'
done
awk -v s="$scan_p99" 'BEGIN { printf "check-in scan p99 = %.1f ms  %s\n", s, (s < 200 ? "met" : "NOT met") }'
