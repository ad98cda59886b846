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
go build -o bin/fakepay ./scripts/fakepay/cmd/fakepay

FAKE_ADDR="${FAKE_WECHAT_ADDR:-127.0.0.1:9100}"
export APP_ENV="${APP_ENV:-dev}"
export HTTP_ADDR="${HTTP_ADDR:-:8080}"
export MYSQL_DSN="${MYSQL_DSN:-root:@tcp(${MYSQL_HOST}:${MYSQL_PORT})/${DB_NAME}?parseTime=true&loc=UTC&charset=utf8mb4}"
export REDIS_ADDR="${REDIS_ADDR:-${REDIS_HOST}:${REDIS_PORT}}"
export WECHAT_APPID="${WECHAT_APPID:-wxdevappid}"
export WECHAT_SECRET="${WECHAT_SECRET:-dev-wechat-secret}"
export WECHAT_API_BASE="${WECHAT_API_BASE:-http://$FAKE_ADDR}"
export DEMO_SEED=true
# WeChat Pay: the fake on 127.0.0.1:9101 (https, a throwaway CA and merchant
# certificate written to data/fakepay at each start), unless a merchant is set.
PAY_ADDR="${FAKE_PAY_ADDR:-127.0.0.1:9101}"
if [ -z "${WECHATPAY_MCHID:-}" ]; then
  mkdir -p data/fakepay
  export WECHATPAY_MCHID=1900000109
  export WECHATPAY_API_KEY=devPayKey0123456789abcdefABCDEFG
  export WECHATPAY_CERT_P12="$PWD/data/fakepay/apiclient_cert.p12"
  export WECHATPAY_API_CA="$PWD/data/fakepay/ca.pem"
  export WECHATPAY_API_BASE="https://$PAY_ADDR"
  export WECHATPAY_NOTIFY_BASE="${WECHATPAY_NOTIFY_BASE:-http://127.0.0.1:${HTTP_ADDR##*:}}"
  START_FAKE_PAY=1
fi

# The API runs in the background and the script waits for it, so a SIGTERM to
# this script (not only Ctrl-C, which reaches the whole process group) stops the
# API gracefully and the fake WeChat with it, instead of leaving an orphaned API
# holding the port.
API_PID=""
FAKE_PID=""
cleanup() {
  if [ -n "$API_PID" ]; then
    kill -TERM "$API_PID" 2>/dev/null || true
    wait "$API_PID" 2>/dev/null || true
  fi
  if [ -n "$FAKE_PID" ]; then kill "$FAKE_PID" 2>/dev/null || true; fi
  if [ -n "${PAY_PID:-}" ]; then kill "$PAY_PID" 2>/dev/null || true; fi
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

bin/fakewechat -addr "$FAKE_ADDR" -appid "$WECHAT_APPID" -secret "$WECHAT_SECRET" &
FAKE_PID=$!
if [ -n "${START_FAKE_PAY:-}" ]; then
  rm -f data/fakepay/ca.pem
  bin/fakepay -addr "$PAY_ADDR" -appid "$WECHAT_APPID" -mchid "$WECHATPAY_MCHID" -key "$WECHATPAY_API_KEY" -cert-dir data/fakepay &
  PAY_PID=$!
  for _ in $(seq 1 50); do [ -f data/fakepay/ca.pem ] && break; sleep 0.1; done
fi

API_PORT="${HTTP_ADDR##*:}"
cat <<MSG
fake WeChat on http://$FAKE_ADDR; API on http://127.0.0.1:$API_PORT
staff console: http://127.0.0.1:$API_PORT/console/  (dev login: grant-role an openid as staff, then use the dev form)
try:  curl -s -XPOST localhost:$API_PORT/api/v1/auth/wechat -d '{"code":"alice:1"}'
      curl -s 'localhost:$API_PORT/api/v1/programs?kind=night_school'
MSG
bin/nantian serve &
API_PID=$!
wait "$API_PID"
