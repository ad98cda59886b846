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

# ---- benchmark helpers (bench-booking.sh, bench-console.sh, bench-scale.sh) ----

# ensure_wrk installs wrk (Debian package) when it is missing: the benchmarks
# drive their HTTP load with it.
ensure_wrk() {
  command -v wrk >/dev/null 2>&1 && return 0
  echo "installing wrk (Debian package)..."
  if [ "$(id -u)" -eq 0 ]; then apt-get install -y wrk >/dev/null || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; }
  else sudo apt-get install -y wrk >/dev/null || { sudo apt-get update >/dev/null && sudo apt-get install -y wrk >/dev/null; }; fi
}

# wrk_figures reads `wrk --latency` output on stdin and prints "rps p99_ms non2xx"
# (p99 converted to milliseconds; 0 for a figure wrk did not print).
wrk_figures() {
  awk '/Requests\/sec/ {rps=$2}
    $1=="99%" {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v=v*1000}; p99=v}
    /Non-2xx/ {n=$NF}
    END {print (rps == "" ? 0 : rps), (p99 == "" ? 0 : p99), (n == "" ? 0 : n)}'
}

# bench_serve BIN ADDR DSN PREFIX ERRFILE [VAR=VALUE...] starts `BIN serve` in the
# background as a benchmark's server (APP_ENV=test, the fake WeChat address,
# release mode; stdout dropped, stderr to ERRFILE), with the extra settings
# given; its pid is left in BENCH_PID. Uses BENCH_SECRET as the JWT secret.
bench_serve() {
  local bin=$1 addr=$2 dsn=$3 prefix=$4 err=$5
  shift 5
  env APP_ENV=test HTTP_ADDR="$addr" MYSQL_DSN="$dsn" REDIS_ADDR="${REDIS_HOST}:${REDIS_PORT}" \
    REDIS_KEY_PREFIX="$prefix" JWT_SECRET="$BENCH_SECRET" WECHAT_API_BASE="http://127.0.0.1:9" GIN_MODE=release \
    "$@" "$bin" serve >/dev/null 2>"$err" &
  BENCH_PID=$!
}

# bench_wait_ready URL SECONDS ERRFILE waits until URL/readyz answers (a first
# start on a fresh or freshly seeded database migrates first, and a loaded
# machine starts slowly); on timeout prints the server's stderr and fails.
bench_wait_ready() {
  local url=$1 secs=$2 err=$3
  for _ in $(seq 1 "$((secs * 10))"); do
    curl -fsS "$url/readyz" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "server at $url did not start:"; cat "$err"; return 1
}

# bench_stop PID stops a benchmark's server (SIGTERM: graceful shutdown) and
# waits for it; nothing if PID is empty or gone.
bench_stop() {
  if [ -n "${1:-}" ] && kill "$1" 2>/dev/null; then wait "$1" 2>/dev/null || true; fi
}

# bench_drop DB PREFIX removes a benchmark's throwaway database and Redis keys.
bench_drop() {
  mysql_cmd -e "DROP DATABASE IF EXISTS \`$1\`" || true
  redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" --scan --pattern "$2*" | xargs -r -n 500 redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" DEL >/dev/null 2>&1 || true
}

# mysql_hosts_of PID... prints, as a SQL list ('127.0.0.1:port', ...), the
# client ends of the MySQL connections these processes hold: how their server
# threads show in information_schema.processlist's HOST. Empty when none.
mysql_hosts_of() {
  local pids="" p
  for p in "$@"; do pids="${pids:+$pids|}pid=$p,"; done
  [ -n "$pids" ] || return 0
  ss -Htnp state established "( dport = :${MYSQL_PORT} )" 2>/dev/null \
    | grep -E "$pids" | awk '{print $3}' | sed "s/.*/'&'/" | paste -sd, -
}

# queries_of HOSTS prints how many statements the connections HOSTS (a list from
# mysql_hosts_of) are running.
queries_of() {
  [ -n "$1" ] || { echo 0; return; }
  mysql_cmd -N -e "SELECT COUNT(*) FROM information_schema.processlist WHERE host IN ($1) AND command <> 'Sleep' AND id <> CONNECTION_ID()"
}

# kill_queries_of HOSTS stops (KILL QUERY) every statement the connections
# HOSTS are running, and prints how many it stopped. The connections themselves
# stay: only what runs on them for nobody is stopped.
kill_queries_of() {
  [ -n "$1" ] || { echo 0; return; }
  local ids id n=0
  ids=$(mysql_cmd -N -e "SELECT id FROM information_schema.processlist WHERE host IN ($1) AND command <> 'Sleep' AND id <> CONNECTION_ID()")
  for id in $ids; do mysql_cmd -e "KILL QUERY $id" 2>/dev/null && n=$((n + 1)); done
  echo "$n"
}
