# Shared helpers for the scripts: find or start MariaDB/MySQL and Redis.
# shellcheck shell=bash

MYSQL_HOST="${MYSQL_HOST:-127.0.0.1}"
MYSQL_PORT="${MYSQL_PORT:-3306}"
REDIS_HOST="${REDIS_HOST:-127.0.0.1}"
REDIS_PORT="${REDIS_PORT:-6379}"

mysql_client() {
  if command -v mariadb >/dev/null 2>&1; then echo mariadb; elif command -v mysql >/dev/null 2>&1; then echo mysql; fi
}

mysql_cmd() {
  "$(mysql_client)" -h "$MYSQL_HOST" -P "$MYSQL_PORT" -uroot "$@"
}

mysql_up() {
  [ -n "$(mysql_client)" ] && mysql_cmd -e 'SELECT 1' >/dev/null 2>&1
}

wait_for() { # wait_for SECONDS CHECK-FUNCTION
  local n=$1 check=$2
  for _ in $(seq 1 "$((n * 4))"); do
    if "$check"; then return 0; fi
    sleep 0.25
  done
  return 1
}

ensure_mysql() {
  if mysql_up; then return 0; fi
  local server=""
  for s in /usr/sbin/mariadbd /usr/sbin/mysqld; do [ -x "$s" ] && server=$s && break; done
  if [ -z "$server" ] || [ -z "$(mysql_client)" ]; then
    cat >&2 <<MSG
MariaDB/MySQL is not answering on $MYSQL_HOST:$MYSQL_PORT and is not installed.
Install it (Debian/Ubuntu):   sudo apt-get update && sudo apt-get install -y mariadb-server mariadb-client
or point TEST_MYSQL_DSN at a MySQL 8 / MariaDB 10.6+ server (root or a user allowed to CREATE/DROP DATABASE).
MSG
    exit 1
  fi
  echo "starting MariaDB ($server)..."
  mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld 2>/dev/null || true
  if [ ! -d /var/lib/mysql/mysql ] && command -v mariadb-install-db >/dev/null 2>&1; then
    mariadb-install-db --user=mysql --datadir=/var/lib/mysql >/dev/null
  fi
  start-stop-daemon --start --oknodo --background --exec "$server" -- --user=mysql >/dev/null 2>&1 \
    || (service mariadb start || service mysql start) >/dev/null 2>&1 || true
  if ! wait_for 30 mysql_up; then
    echo "MariaDB did not come up on $MYSQL_HOST:$MYSQL_PORT; check its log (journalctl -u mariadb or /var/log/mysql)." >&2
    exit 1
  fi
}

redis_up() {
  command -v redis-cli >/dev/null 2>&1 && [ "$(redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" ping 2>/dev/null)" = "PONG" ]
}

ensure_redis() {
  if redis_up; then return 0; fi
  if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
    cat >&2 <<MSG
Redis is not answering on $REDIS_HOST:$REDIS_PORT and is not installed.
Install it (Debian/Ubuntu):   sudo apt-get update && sudo apt-get install -y redis-server
MSG
    exit 1
  fi
  echo "starting Redis..."
  redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no >/dev/null
  if ! wait_for 10 redis_up; then
    echo "Redis did not come up on $REDIS_HOST:$REDIS_PORT" >&2
    exit 1
  fi
}

# ensure_chromium makes sure Debian's chromium is installed (the console's browser
# tests drive it through chromedp), installing it with apt when possible.
ensure_chromium() {
  if [ -x /usr/bin/chromium ]; then return 0; fi
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "installing chromium (console browser tests)..."
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  fi
  if [ ! -x /usr/bin/chromium ]; then
    echo "the console's browser tests need Chromium at /usr/bin/chromium: apt-get install chromium" >&2
    return 1
  fi
}

# ensure_cjk_fonts installs Noto CJK so console screenshots show Chinese, not boxes.
ensure_cjk_fonts() {
  if fc-list 2>/dev/null | grep -qi "Noto Sans CJK"; then return 0; fi
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    apt-get install -y -qq fonts-noto-cjk >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq fonts-noto-cjk >/dev/null; }
  else
    echo "screenshots need CJK fonts: apt-get install fonts-noto-cjk" >&2
  fi
}
