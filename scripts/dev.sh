#!/usr/bin/env bash
# Runs the API locally with the 南天社区 demo catalogue and the fake WeChat server.
#   scripts/dev.sh            # API on :8080, fake WeChat on :9100
# Stop with Ctrl-C. Settings can be overridden by environment variables or a .env file.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

ensure_mysql
ensure_redis

DB_NAME="${DEV_DB_NAME:-nantian}"
mysql_cmd -e "CREATE DATABASE IF NOT EXISTS \`$DB_NAME\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"

mkdir -p bin data/uploads
echo "building..."
go build -o bin/nantian ./server
go build -o bin/fakewechat ./scripts/fakewechat/cmd/fakewechat

FAKE_ADDR="${FAKE_WECHAT_ADDR:-127.0.0.1:9100}"
export APP_ENV="${APP_ENV:-dev}"
export HTTP_ADDR="${HTTP_ADDR:-:8080}"
export MYSQL_DSN="${MYSQL_DSN:-root:@tcp(${MYSQL_HOST}:${MYSQL_PORT})/${DB_NAME}?parseTime=true&loc=UTC&charset=utf8mb4}"
export REDIS_ADDR="${REDIS_ADDR:-${REDIS_HOST}:${REDIS_PORT}}"
export WECHAT_APPID="${WECHAT_APPID:-wxdevappid}"
export WECHAT_SECRET="${WECHAT_SECRET:-dev-wechat-secret}"
export WECHAT_API_BASE="${WECHAT_API_BASE:-http://$FAKE_ADDR}"
export DEMO_SEED=true

bin/fakewechat -addr "$FAKE_ADDR" -appid "$WECHAT_APPID" -secret "$WECHAT_SECRET" &
FAKE_PID=$!
trap 'kill $FAKE_PID 2>/dev/null || true' EXIT

cat <<MSG
fake WeChat on http://$FAKE_ADDR; API on http://127.0.0.1${HTTP_ADDR#*:}
try:  curl -s -XPOST localhost:8080/api/v1/auth/wechat -d '{"code":"alice:1"}'
      curl -s 'localhost:8080/api/v1/programs?kind=night_school'
MSG
bin/nantian serve
