#!/usr/bin/env bash
# Booking benchmark: one server on this machine, wrk for the steady endpoints and
# scripts/bench for the flash crowd, all in one run, printed as ratios against
# GET /healthz measured in the same run (absolute numbers depend on the machine).
#
#   scripts/bench-booking.sh            # DURATION=10s CONNS=64 THREADS=2 ROUNDS=3 FLASH_C=32
#
# Measures: GET /healthz (baseline), GET /api/v1/programs/{id} (catalogue),
# POST /api/v1/bookings on a sold-out session, a flash crowd of 2,000 distinct
# residents on a 12-place session with the gate, then the same with BOOKING_GATE=false,
# and the paid path beside the free one: 400 residents each getting a place in a
# 400-place session of a free program, then of a paid one, the server a WeChat Pay
# merchant of scripts/fakepay (on PAY_PORT, 18501), so every paid booking opens an
# order and places it at (fake) WeChat; and the 2,000-resident flash crowd on a
# paid 12-place session.
# Uses a throwaway database and Redis prefix and removes both at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

DURATION="${DURATION:-10s}"
CONNS="${CONNS:-64}"
THREADS="${THREADS:-2}"
ROUNDS="${ROUNDS:-3}"
FLASH_C="${FLASH_C:-32}"
RESIDENTS="${RESIDENTS:-2001}"   # 2,000 in the crowd + 1 who fills the sold-out session
PORT="${BENCH_PORT:-18089}"
PAY_PORT="${PAY_PORT:-18501}"
PAY_KEY="benchPayKey0123456789abcdefABCDE"
PAY_PID=""

ensure_wrk
ensure_mysql
ensure_redis

RUN="bench$$"
DB="nantian_bench_${RUN}"
PREFIX="bench:${RUN}:"
WORK=$(mktemp -d)
SERVER_PID=""
BENCH_SECRET="bench-jwt-secret-at-least-32-bytes-long-xx"
DSN="root:@tcp(${MYSQL_HOST}:${MYSQL_PORT})/${DB}?parseTime=true&loc=UTC&charset=utf8mb4"

cleanup() {
  bench_stop "$SERVER_PID"
  bench_stop "$PAY_PID"
  bench_drop "$DB" "$PREFIX"
  rm -rf "$WORK"
}
trap cleanup EXIT

mysql_cmd -e "CREATE DATABASE \`$DB\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
go build -o "$WORK/nantian" ./server
go build -o "$WORK/bench" ./scripts/bench
go build -o "$WORK/fakepay" ./scripts/fakepay/cmd/fakepay
"$WORK/fakepay" -addr "127.0.0.1:${PAY_PORT}" -appid wxdevappid -key "$PAY_KEY" -cert-dir "$WORK" >"$WORK/fakepay.out" 2>&1 &
PAY_PID=$!
for _ in $(seq 1 50); do [ -f "$WORK/ca.pem" ] && grep -q listening "$WORK/fakepay.out" && break; sleep 0.1; done

start_server() { # start_server GATE
  bench_serve "$WORK/nantian" "127.0.0.1:${PORT}" "$DSN" "$PREFIX" "$WORK/server.err" BOOKING_GATE="$1" \
    WECHATPAY_MCHID=1900000109 WECHATPAY_API_KEY="$PAY_KEY" WECHATPAY_CERT_P12="$WORK/apiclient_cert.p12" \
    WECHATPAY_API_CA="$WORK/ca.pem" WECHATPAY_API_BASE="https://127.0.0.1:${PAY_PORT}" WECHATPAY_NOTIFY_BASE="http://127.0.0.1:${PORT}"
  SERVER_PID=$BENCH_PID
  # Up to 60 s: on a busy machine the first start migrates a fresh database.
  bench_wait_ready "http://127.0.0.1:${PORT}" 60 "$WORK/server.err" || exit 1
}
stop_server() { bench_stop "$SERVER_PID"; SERVER_PID=""; }

BASE="http://127.0.0.1:${PORT}"
start_server true
"$WORK/bench" setup -dsn "$DSN" -secret "$BENCH_SECRET" -n "$RESIDENTS" -dir "$WORK"
eval "$("$WORK/bench" prepare -url "$BASE" -dir "$WORK")"
SOLDOUT_TOKEN=$(head -1 "$WORK/residents.tokens")

cat > "$WORK/soldout.lua" <<LUA
wrk.method = "POST"
wrk.body = '{"session_id": ${SOLDOUT_SESSION}}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer ${SOLDOUT_TOKEN}"
LUA

# run_wrk LABEL URL [LUA] → prints "LABEL rps p99ms"
run_wrk() {
  local label=$1 url=$2 script=${3:-}
  local out
  if [ -n "$script" ]; then out=$(wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency -s "$script" "$url")
  else out=$(wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency "$url"); fi
  local rps p99 non2xx
  read -r rps p99 non2xx <<<"$(wrk_figures <<<"$out")"
  printf "%-22s req/s=%-10s p99_ms=%-8s non2xx=%s\n" "$label" "$rps" "$p99" "$non2xx"
  eval "${label//[^A-Za-z0-9]/_}_RPS=$rps"
}

echo "== one server, ${THREADS} wrk threads, ${CONNS} connections, ${DURATION} each ($(nproc) cores)"
curl -fsS "$BASE/api/v1/programs/${PROGRAM_ID}" >/dev/null
run_wrk healthz "$BASE/healthz"
run_wrk catalogue "$BASE/api/v1/programs/${PROGRAM_ID}"
# Sanity: the sold-out answer is 409 session_full.
curl -sS -X POST -H "Authorization: Bearer ${SOLDOUT_TOKEN}" -H 'Content-Type: application/json' \
  -d "{\"session_id\": ${SOLDOUT_SESSION}}" "$BASE/api/v1/bookings" | grep -q session_full
run_wrk soldout "$BASE/api/v1/bookings" "$WORK/soldout.lua"

FLASH_GATE=$("$WORK/bench" flash -url "$BASE" -dir "$WORK" -program "$PROGRAM_ID" -rounds "$ROUNDS" -c "$FLASH_C" -label flash_gate)
echo "$FLASH_GATE"
PLACES_FREE=$("$WORK/bench" flash -url "$BASE" -dir "$WORK" -program "$FREE_PROGRAM" -rounds "$ROUNDS" -c "$FLASH_C" -capacity 400 -n 400 -label places_free)
echo "$PLACES_FREE"
PLACES_PAID=$("$WORK/bench" flash -url "$BASE" -dir "$WORK" -program "$PAID_PROGRAM" -rounds "$ROUNDS" -c "$FLASH_C" -capacity 400 -n 400 -label places_paid)
echo "$PLACES_PAID"
FLASH_PAID=$("$WORK/bench" flash -url "$BASE" -dir "$WORK" -program "$PAID_PROGRAM" -rounds "$ROUNDS" -c "$FLASH_C" -label flash_paid)
echo "$FLASH_PAID"
stop_server

start_server false
FLASH_NOGATE=$("$WORK/bench" flash -url "$BASE" -dir "$WORK" -program "$PROGRAM_ID" -rounds "$ROUNDS" -c "$FLASH_C" -label flash_nogate)
echo "$FLASH_NOGATE"
stop_server

g=$(echo "$FLASH_GATE" | sed -n 's/.*req_per_s=\([0-9.]*\).*/\1/p')
n=$(echo "$FLASH_NOGATE" | sed -n 's/.*req_per_s=\([0-9.]*\).*/\1/p')
gp99=$(echo "$FLASH_GATE" | sed -n 's/.*p99_ms=\([0-9.]*\).*/\1/p')
pf=$(echo "$PLACES_FREE" | sed -n 's/.*req_per_s=\([0-9.]*\).*/\1/p')
pp=$(echo "$PLACES_PAID" | sed -n 's/.*req_per_s=\([0-9.]*\).*/\1/p')
fp=$(echo "$FLASH_PAID" | sed -n 's/.*req_per_s=\([0-9.]*\).*/\1/p')
echo "== ratios (targets: sold-out >= 0.6, catalogue >= 0.5, gate/no-gate >= 3, flash p99 < 50 ms)"
awk -v s="$soldout_RPS" -v c="$catalogue_RPS" -v h="$healthz_RPS" -v g="$g" -v n="$n" -v p="$gp99" -v pf="$pf" -v pp="$pp" -v fp="$fp" 'BEGIN {
  printf "sold-out / healthz   = %.2f  %s\n", s/h, (s/h >= 0.6 ? "met" : "NOT met")
  printf "catalogue / healthz  = %.2f  %s\n", c/h, (c/h >= 0.5 ? "met" : "NOT met")
  printf "gate / no-gate       = %.2f  %s\n", g/n, (g/n >= 3 ? "met" : "NOT met")
  printf "flash p99 (gate)     = %.1f ms %s\n", p, (p < 50 ? "met" : "NOT met")
  printf "paid / free booking (every request gets a place) = %.2f  (the unified order round trip to WeChat Pay)\n", pp/pf
  printf "paid flash crowd / free flash crowd (12 places)   = %.2f\n", fp/g
}'
