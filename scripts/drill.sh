#!/usr/bin/env bash
# Fault drills: the real server behind toxiproxy (embedded in scripts/drill) with
# MySQL and Redis on this machine, booking crowds while Redis is cut, MySQL is cut,
# the Redis keys are flushed and the server is SIGKILLed and restarted, plus a
# points crowd with both stores cut, and a payments drill (WeChat Pay notifications
# applied while the server is SIGKILLed and while MySQL is cut, refunds in the
# outbox at a SIGKILL; scripts/fakepay as WeChat Pay). After each drill the invariants are checked
# in MySQL; a table is printed and the exit status is 1 if any failed.
#
#   scripts/drill.sh                    # about 1-2 minutes
#   scripts/drill.sh -crowd 500 -keep-log
#
# Uses a throwaway database (nantian_drill_*) and Redis prefix (drill:<run>:) and
# removes both at the end. Not part of scripts/test.sh (it takes too long).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

ensure_mysql
ensure_redis

BIN=$(mktemp -d)
trap 'rm -rf "$BIN"' EXIT
go build -o "$BIN/drill" ./scripts/drill
"$BIN/drill" -mysql "${MYSQL_HOST}:${MYSQL_PORT}" -redis "${REDIS_HOST}:${REDIS_PORT}" "$@"
