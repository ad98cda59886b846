#!/usr/bin/env bash
# Checks the monitoring files in deploy/ with promtool (Debian's `prometheus`
# package): the alert rules parse, their unit tests (alerts_test.yml) pass, the
# compose stack's prometheus.yml is valid, and every PromQL expression of the
# Grafana dashboards parses. Which series they name is checked against the live
# service by server/deploy_metrics_test.go.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v promtool >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "alerts: promtool missing: apt-get install prometheus (Debian's package ships promtool)"
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
    # The package starts a Prometheus server on :9090; only promtool is needed here.
    systemctl disable --now prometheus >/dev/null 2>&1 || service prometheus stop >/dev/null 2>&1 || true
  fi
  if ! command -v promtool >/dev/null 2>&1; then
    cat >&2 <<'MSG'
alerts: promtool is needed to test the alert rules. Install it (Debian/Ubuntu):
  sudo apt-get update && sudo apt-get install -y prometheus
(or put the promtool binary of a Prometheus 2.x release on PATH), then run scripts/test.sh again.
MSG
    exit 1
  fi
fi

promtool check rules deploy/prometheus/alerts.yml
promtool test rules deploy/prometheus/alerts_test.yml
promtool check config deploy/prometheus/prometheus.yml

# Dashboard expressions, as recording rules promtool can parse (JSON-unescaped).
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
{
  echo "groups:"
  echo "  - name: dashboard-exprs"
  echo "    rules:"
  n=0
  for f in deploy/grafana/dashboards/*.json; do
    grep -o '"expr": "[^"\\]*\(\\.[^"\\]*\)*"' "$f" \
      | sed -e 's/^"expr": "//' -e 's/"$//' -e 's/\\"/"/g' -e 's/\\\\/\\/g' \
      | while IFS= read -r expr; do
          n=$((n + 1))
          printf "      - record: dashboard:expr:%d\n        expr: '%s'\n" "$n" "${expr//\'/\'\'}"
        done
  done
} > "$tmp/dashboard-rules.yml"
count=$(grep -c 'record:' "$tmp/dashboard-rules.yml" || true)
if [ "$count" -lt 10 ]; then
  echo "alerts: found only $count expressions in the dashboards" >&2; exit 1
fi
promtool check rules "$tmp/dashboard-rules.yml" >/dev/null || { promtool check rules "$tmp/dashboard-rules.yml"; exit 1; }
echo "alerts: ok (dashboard: $count expressions parse)"
