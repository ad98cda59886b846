#!/usr/bin/env bash
# Staff-console benchmark: one server on this machine, a day of 200 sessions and
# 5,000 bookings (scripts/benchconsole seed, with complaints, redemptions, bins
# and audit entries around it), and every console page a clerk opens — Today,
# the day's sessions, the session desk of a 300-booking session, approvals,
# programs, complaints, points, reports, users, audit — timed beside GET /healthz
# in the same run (absolute numbers depend on the machine; the ratio does not,
# much). Then 200 check-in scans one after another, each timed.
#
#   scripts/bench-console.sh            # DURATION=5s CONNS=8
#   ONLY=today,desk scripts/bench-console.sh
#   HOLD=/tmp/bc.dir SERVER_BIN=... scripts/bench-console.sh   # keep it up to profile
#
# Per page, two passes of DURATION (scripts/benchconsole pages):
#  - one request after another: the server-side render time is the page's
#    Server-Timing header (the console stamps every answer with the time from
#    the request's arrival to its first byte: queries plus rendering), p50/p99;
#    the client's time beside it, and its ratio to /healthz's; and the server
#    process's CPU time per request (/proc), which a loaded machine does not
#    inflate the way it does the wall-clock times;
#  - CONNS connections at once: req/s, and its ratio to /healthz's req/s.
# Targets: server time < 50 ms at p50 on every page, a scan < 200 ms.
# Prints `uptime` first: the figures mean little on a loaded machine.
# Uses a throwaway database and Redis prefix (ports 18400–18499) and removes both.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

DURATION="${DURATION:-5s}"
CONNS="${CONNS:-8}"
ONLY="${ONLY:-}"
PORT="${BENCH_CONSOLE_PORT:-18410}"

ensure_mysql
ensure_redis
RUN="bcon$$"
DB="nantian_bench_${RUN}"
PREFIX="bench:${RUN}:"
WORK=$(mktemp -d)
SERVER_PID=""
BENCH_SECRET="bench-jwt-secret-at-least-32-bytes-long-xx"
DATA_KEY="bench-console-data-key-0123456789"
DSN="root:@tcp(${MYSQL_HOST}:${MYSQL_PORT})/${DB}?parseTime=true&loc=UTC&charset=utf8mb4"

cleanup() {
  bench_stop "$SERVER_PID"
  bench_drop "$DB" "$PREFIX"
  rm -rf "$WORK"
}
trap cleanup EXIT

mysql_cmd -e "CREATE DATABASE \`$DB\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
go build -o "$WORK/nantian" ./server
[ -n "${SERVER_BIN:-}" ] && cp "$SERVER_BIN" "$WORK/nantian"  # e.g. a build with net/http/pprof, to profile the pages
go build -o "$WORK/benchconsole" ./scripts/benchconsole

bench_serve "$WORK/nantian" "127.0.0.1:${PORT}" "$DSN" "$PREFIX" "$WORK/server.err" DATA_KEY="$DATA_KEY"
SERVER_PID=$BENCH_PID
bench_wait_ready "http://127.0.0.1:${PORT}" 60 "$WORK/server.err" || exit 1  # up to 60 s: a loaded machine starts it slowly

BASE="http://127.0.0.1:${PORT}"
eval "$("$WORK/benchconsole" seed -dsn "$DSN" -url "$BASE" -dir "$WORK" -data-key "$DATA_KEY")"

# Sanity: the big pages answer 200 with what they should show.
check() { # check PATH TEXT
  curl -sS -o "$WORK/page.html" -w '%{http_code}' -H "Cookie: nt_console=${CONSOLE_COOKIE}" "$BASE$1" > "$WORK/page.status"
  grep -q "$2" "$WORK/page.html" || { echo "$1 ($(cat "$WORK/page.status")) does not show $2:"; head -c 1500 "$WORK/page.html"; exit 1; }
}
check "/console/" "今日场次 <small>200 场"
check "/console/sessions/${DESK_SESSION}" "名单 <small>300 人"
check "/console/approvals" "待审核"
check "/console/complaints" "工单 <small>200 件"

if [ -n "${HOLD:-}" ]; then
  # Keep the seeded server up for profiling by hand: benchconsole pages -dir
  # reads the sessions from the directory written to $HOLD. Ctrl-C (or kill)
  # cleans up as usual.
  echo "$WORK" > "$HOLD"
  echo "holding: server $BASE, seed dir $WORK (written to $HOLD)"
  trap 'exit 0' INT TERM
  while :; do sleep 1; done
fi

echo "== $(uptime)"
echo "== one server, $(nproc) cores; a day of 200 sessions, 5,000 bookings (${PENDING} pending); ${DURATION} per page and pass"
status=0
"$WORK/benchconsole" pages -url "$BASE" -dir "$WORK" -d "$DURATION" -conns "$CONNS" -only "$ONLY" -pid "$SERVER_PID" || status=1
"$WORK/benchconsole" scan -url "$BASE" -dir "$WORK" -n 200 | tee "$WORK/scan.out" || status=1
scan_p99=$(sed -n 's/.*p99_ms=\([0-9.]*\).*/\1/p' "$WORK/scan.out")
awk -v s="$scan_p99" 'BEGIN { printf "check-in scan p99 = %.1f ms  %s\n", s, (s < 200 ? "met" : "NOT met") }'
echo "== $(uptime)"
exit "$status"
