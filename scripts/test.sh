#!/usr/bin/env bash
# Runs every test: gofmt, go vet, go test -race against real MariaDB/MySQL and Redis,
# and short fuzz runs. Makes sure the databases answer first (starting them when
# installed but stopped), uses a throwaway database per test package and a unique
# Redis key prefix per test, and removes what this run created.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

ensure_mysql
ensure_redis
ensure_chromium

export TEST_RUN_ID="r$(date +%s)$$"
export TEST_MYSQL_DSN="${TEST_MYSQL_DSN:-root:@tcp(${MYSQL_HOST}:${MYSQL_PORT})/?parseTime=true&loc=UTC&charset=utf8mb4}"
export TEST_REDIS_ADDR="${TEST_REDIS_ADDR:-${REDIS_HOST}:${REDIS_PORT}}"

cleanup() {
  # Only databases and keys this run created (their names carry TEST_RUN_ID).
  local dbs
  dbs=$(mysql_cmd -N -e "SHOW DATABASES LIKE 'nantian\\_test\\_${TEST_RUN_ID}\\_%'" 2>/dev/null || true)
  for db in $dbs; do mysql_cmd -e "DROP DATABASE IF EXISTS \`$db\`" || true; done
  redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" --scan --pattern "test:${TEST_RUN_ID}:*" 2>/dev/null \
    | xargs -r -n 500 redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" DEL >/dev/null 2>&1 || true
}
trap cleanup EXIT

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './vendor/*'))
if [ -n "$unformatted" ]; then
  echo "gofmt needed on:"; echo "$unformatted"; exit 1
fi

echo "== go vet"
go vet ./...

echo "== openapi (redocly lint, TypeScript client)"
bash scripts/openapi.sh

echo "== alert rules (promtool)"
bash scripts/alerts.sh

echo "== go test -race"
go test -race -count=1 -timeout 15m ./... 2>&1 | tee /tmp/nantian-test-$TEST_RUN_ID.log
status=${PIPESTATUS[0]}
if [ "$status" -ne 0 ]; then
  echo "FAILED"; exit "$status"
fi

if [ -f scripts/fuzz.sh ]; then
  echo "== fuzz (short)"
  bash scripts/fuzz.sh --self-test
  bash scripts/fuzz.sh "${FUZZTIME:-5s}"
fi
echo "== all tests passed"
