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
SECRET="bench-jwt-secret-at-least-32-bytes-long-xx"

if ! command -v wrk >/dev/null 2>&1; then
  echo "installing wrk (Debian package)..."
  if [ "$(id -u)" -eq 0 ]; then apt-get install -y wrk >/dev/null || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; }
  else sudo apt-get install -y wrk >/dev/null || { sudo apt-get update >/dev/null && sudo apt-get install -y wrk >/dev/null; }; fi
fi
ensure_mysql
ensure_redis

WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null || true; done
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
  APP_ENV=test HTTP_ADDR="127.0.0.1:$2" METRICS_ADDR=off MYSQL_DSN="$(dsn "$1")" REDIS_ADDR="${REDIS_HOST}:${REDIS_PORT}" \
  REDIS_KEY_PREFIX="scale:$1:" JWT_SECRET="$SECRET" WECHAT_API_BASE="http://127.0.0.1:9" NOTIFY_WORKER=false \
  REPORT_CACHE_TTL=0 RATE_REPORT_PER_MIN=1000000 \
  GIN_MODE=release "$WORK/nantian" serve >/dev/null 2>"$WORK/server-$1.err" &
  PIDS+=($!)
}
wait_ready() { # wait_ready DB PORT: up to 10 minutes (the first start on a fresh seed applies later migrations' backfills)
  for _ in $(seq 1 6000); do
    curl -fsS "http://127.0.0.1:$2/readyz" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "server on $1 did not start:"; cat "$WORK/server-$1.err"; exit 1
}
start_server "$DEMO_DB" "$DEMO_PORT"
start_server "$DISTRICT_DB" "$DISTRICT_PORT"
wait_ready "$DEMO_DB" "$DEMO_PORT"
wait_ready "$DISTRICT_DB" "$DISTRICT_PORT"
mkdir -p "$WORK/demo" "$WORK/district"
"$WORK/benchscale" -dsn "$(dsn "$DEMO_DB")" -secret "$SECRET" -dir "$WORK/demo"
"$WORK/benchscale" -dsn "$(dsn "$DISTRICT_DB")" -secret "$SECRET" -dir "$WORK/district"

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
  local out
  out=$(wrk -t"$THREADS" -c"${3:-$CONNS}" -d"$DURATION" --latency --timeout 15s -s "$2" "$1")
  local rps p99 non2xx
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  p99=$(echo "$out" | awk '$1=="99%" {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v=v*1000}; print v}')
  non2xx=$(echo "$out" | awk '/Non-2xx/ {print $NF}')
  echo "${rps:-0} ${p99:-0} ${non2xx:-0}"
}

# settle waits (up to 120 s) until neither database runs a query: a request wrk
# gave up on may leave its query running in MariaDB, which would load the next
# measurement. Prints how many were still running if it gave up.
settle() {
  local n=0
  for _ in $(seq 1 240); do
    n=$(mysql_cmd -N -e "SELECT COUNT(*) FROM information_schema.processlist WHERE command = 'Query' AND db IN ('${DEMO_DB}', '${DISTRICT_DB}')")
    [ "$n" = 0 ] && return 0
    sleep 0.5
  done
  echo "   (still ${n} queries running after 120 s)"
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
  LOOPERS=()
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
  drop=$(awk -v a="$alone_rps" -v b="$busy_rps" 'BEGIN { if (a > 0) printf "%.1f", (a - b) / a * 100; else print "-" }')
  printf "resident alone: %s req/s p99 %sms; with two staff looping reports: %s req/s p99 %sms; drop %s%%\n" \
    "$alone_rps" "$alone_p99" "$busy_rps" "$busy_p99" "$drop"
done
