#!/usr/bin/env bash
# District-scale benchmark (issue 15): one server on the demo-size database and one
# on the district-size database, both started at once and measured in the same run,
# so the ratio district/demo is fair on a shared, loaded machine.
#
#   scripts/bench-scale.sh     # DURATION=10s CONNS=16 THREADS=2 RUNS=2
#
# Databases: nantian_scale_demo and nantian_scale (DEMO_DB, DISTRICT_DB), built by
# scripts/scale-seed if missing; kept afterwards (they are not throwaway). Each
# server gets its own Redis prefix scale:<db>: (the booking gate rebuilds from
# MySQL on demand, so a fresh prefix is a consistent gate).
#
# For every staff endpoint of issue 15 and one resident endpoint it prints req/s,
# p99 and non-2xx for demo and district, and district/demo req/s; then resident
# throughput on the district server alone and while two staff loop the heaviest
# reports (annual report, points stats, complaint stats).
#
# The servers run with the report cache off and no report rate limit
# (REPORT_CACHE_TTL=0, RATE_REPORT_PER_MIN=1000000): every report request runs its
# queries, so the figures are the queries' cost, and the resident measurement is the
# worst case (a deployment's 30 s cache and 30 reports per staff member a minute
# leave the two looping staff far fewer queries than here).
#
# It leaves nothing running on MariaDB: before each measurement it waits for the
# databases to go idle (and stops, with KILL QUERY, what the servers' own
# connections still run after 120 s), and at exit, however it exits, it stops
# the servers and then whatever their connections were still running.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

DURATION="${DURATION:-10s}"
CONNS="${CONNS:-16}"
THREADS="${THREADS:-2}"
RUNS="${RUNS:-2}"
DEMO_DB="${DEMO_DB:-nantian_scale_demo}"
DISTRICT_DB="${DISTRICT_DB:-nantian_scale}"
DEMO_PORT="${DEMO_PORT:-18210}"
DISTRICT_PORT="${DISTRICT_PORT:-18211}"
BENCH_SECRET="bench-jwt-secret-at-least-32-bytes-long-xx"

ensure_wrk
ensure_mysql
ensure_redis

WORK=$(mktemp -d)
PIDS=()     # the two servers
LOOPERS=()  # the staff report loops of a run
# cleanup leaves nothing of the run behind, on MariaDB either: a statement a
# server was running when it stopped (an abandoned report, a request cut by the
# shutdown) would keep running for nobody on a shared machine, so whatever
# the servers' connections still run after they exit is stopped (KILL QUERY).
cleanup() {
  local hosts left
  for p in "${LOOPERS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null || true; done
  hosts=$(mysql_hosts_of "${PIDS[@]}")
  for p in "${PIDS[@]}"; do bench_stop "$p"; done
  left=$(kill_queries_of "$hosts")
  [ "$left" = 0 ] || echo "stopped ${left} statements the servers left running"
  rm -rf "$WORK"
}
trap cleanup EXIT

go build -o "$WORK/nantian" ./server
go build -o "$WORK/benchscale" ./scripts/benchscale
dsn() { echo "root:@tcp(${MYSQL_HOST}:${MYSQL_PORT})/$1?parseTime=true&loc=UTC&charset=utf8mb4"; }
for db in "$DEMO_DB" "$DISTRICT_DB"; do
  if ! mysql_cmd -N -e "SELECT 1 FROM \`$db\`.bookings LIMIT 1" >/dev/null 2>&1; then
    echo "building $db with scripts/scale-seed..."
    scripts/scale-seed -db "$db"
  fi
done

start_server() { # start_server DB PORT
  bench_serve "$WORK/nantian" "127.0.0.1:$2" "$(dsn "$1")" "scale:$1:" "$WORK/server-$1.err" METRICS_ADDR=off NOTIFY_WORKER=false \
    REPORT_CACHE_TTL=0 RATE_REPORT_PER_MIN=1000000
  PIDS+=("$BENCH_PID")
}
wait_ready() { # wait_ready DB PORT: up to 10 minutes (the first start on a fresh seed applies later migrations' backfills)
  bench_wait_ready "http://127.0.0.1:$2" 600 "$WORK/server-$1.err" || exit 1
}
start_server "$DEMO_DB" "$DEMO_PORT"
start_server "$DISTRICT_DB" "$DISTRICT_PORT"
wait_ready "$DEMO_DB" "$DEMO_PORT"
wait_ready "$DISTRICT_DB" "$DISTRICT_PORT"
mkdir -p "$WORK/demo" "$WORK/district"
"$WORK/benchscale" -dsn "$(dsn "$DEMO_DB")" -secret "$BENCH_SECRET" -dir "$WORK/demo"
"$WORK/benchscale" -dsn "$(dsn "$DISTRICT_DB")" -secret "$BENCH_SECRET" -dir "$WORK/district"

YEAR=$(TZ=Asia/Shanghai date +%Y)
CAT=$(python3 -c 'import urllib.parse; print(urllib.parse.quote("物业管理"))')
EST=$(python3 -c 'import urllib.parse; print(urllib.parse.quote("南天一花园"))')
# label|path|who
ENDPOINTS=(
  "staff_bookings|/api/v1/staff/bookings|staff"
  "staff_bookings_attended|/api/v1/staff/bookings?status=attended|staff"
  "reports_annual|/api/v1/staff/reports/annual?year=${YEAR}|staff"
  "points_stats|/api/v1/staff/points/stats|staff"
  "complaints_stats|/api/v1/staff/complaints/stats|staff"
  "complaints_overdue|/api/v1/staff/complaints?overdue=true|staff"
  "complaints_needs_review|/api/v1/staff/complaints?needs_review=true|staff"
  "complaints_cat_estate|/api/v1/staff/complaints?category=${CAT}&estate=${EST}|staff"
  "staff_residents|/api/v1/staff/residents|staff"
  "resident_bookings|/api/v1/bookings|resident"
)

lua() { # lua TOKENFILE → a wrk script sending the bearer token
  local f="$WORK/$(basename "$(dirname "$1")")-$(basename "$1").lua"
  printf 'wrk.headers["Authorization"] = "Bearer %s"\n' "$(cat "$1")" >"$f"
  echo "$f"
}
# wrk_once URL LUA [CONNS] → "rps p99ms non2xx"
wrk_once() {
  wrk -t"$THREADS" -c"${3:-$CONNS}" -d"$DURATION" --latency --timeout 15s -s "$2" "$1" | wrk_figures
}

# settle waits (up to 120 s) until neither database runs a statement: a request
# wrk gave up on may leave its statement running in MariaDB, which would load
# the next measurement. Every state but Sleep counts: the servers' statements
# are prepared, so they show as Execute, not Query (which is all it counted
# before). If the servers' own connections still run statements then, it stops
# them (KILL QUERY) and says how many: no measurement starts with the last
# one's work still running.
settle() {
  local n=0 hosts
  for _ in $(seq 1 240); do
    n=$(mysql_cmd -N -e "SELECT COUNT(*) FROM information_schema.processlist WHERE command NOT IN ('Sleep', 'Daemon') AND id <> CONNECTION_ID() AND db IN ('${DEMO_DB}', '${DISTRICT_DB}')")
    [ "$n" = 0 ] && return 0
    sleep 0.5
  done
  hosts=$(mysql_hosts_of "${PIDS[@]}")
  echo "   (still ${n} queries running after 120 s; stopped the servers' $(kill_queries_of "$hosts"))"
}

echo "== $(date -u +%FT%TZ) $(nproc) cores, load: $(uptime | sed 's/.*load average/load average/')"
echo "== wrk ${THREADS} threads, ${CONNS} connections, ${DURATION} per measurement, ${RUNS} runs; demo=${DEMO_DB} district=${DISTRICT_DB}"
for run in $(seq 1 "$RUNS"); do
  echo
  echo "-- run ${run} (load: $(cut -d' ' -f1-3 /proc/loadavg))"
  printf "%-26s %10s %9s %7s | %10s %9s %7s | %8s\n" endpoint demo_rps demo_p99 non2xx district_rps dist_p99 non2xx ratio
  for e in "${ENDPOINTS[@]}"; do
    IFS='|' read -r label path who <<<"$e"
    settle
    read -r drps dp99 dn <<<"$(wrk_once "http://127.0.0.1:${DEMO_PORT}${path}" "$(lua "$WORK/demo/${who}.token")")"
    settle
    read -r xrps xp99 xn <<<"$(wrk_once "http://127.0.0.1:${DISTRICT_PORT}${path}" "$(lua "$WORK/district/${who}.token")")"
    ratio=$(awk -v a="$xrps" -v b="$drps" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')
    printf "%-26s %10s %8sms %7s | %10s %8sms %7s | %8s\n" "$label" "$drps" "$dp99" "$dn" "$xrps" "$xp99" "$xn" "$ratio"
  done

  # Resident throughput on the district server alone, then while two staff
  # members loop the heaviest reports (one connection each, back to back).
  RES_LUA=$(lua "$WORK/district/resident.token")
  settle
  read -r alone_rps alone_p99 _ <<<"$(wrk_once "http://127.0.0.1:${DISTRICT_PORT}/api/v1/bookings" "$RES_LUA")"
  STAFF_TOKEN=$(cat "$WORK/district/staff.token")
  for s in 1 2; do
    (
      while :; do
        for p in "/api/v1/staff/reports/annual?year=${YEAR}" /api/v1/staff/points/stats /api/v1/staff/complaints/stats; do
          curl -s -o /dev/null -H "Authorization: Bearer ${STAFF_TOKEN}" "http://127.0.0.1:${DISTRICT_PORT}${p}"
        done
      done
    ) &
    LOOPERS+=($!)
  done
  sleep 1
  read -r busy_rps busy_p99 _ <<<"$(wrk_once "http://127.0.0.1:${DISTRICT_PORT}/api/v1/bookings" "$RES_LUA")"
  for p in "${LOOPERS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null || true; done
  LOOPERS=()
  drop=$(awk -v a="$alone_rps" -v b="$busy_rps" 'BEGIN { if (a > 0) printf "%.1f", (a - b) / a * 100; else print "-" }')
  printf "resident alone: %s req/s p99 %sms; with two staff looping reports: %s req/s p99 %sms; drop %s%%\n" \
    "$alone_rps" "$alone_p99" "$busy_rps" "$busy_p99" "$drop"
done
