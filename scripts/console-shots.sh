#!/usr/bin/env bash
# Writes a PNG screenshot of each staff-console page into a directory (default
# docs/console-shots/, or the first argument), by running the console's browser
# tests with CONSOLE_SHOTS set: each journey test saves its page as it goes.
#   scripts/console-shots.sh [DIR]
# Pages: login, today, approvals, desk, complaints, complaint, points (+ scanned,
# bin), reports (+ reports-print.pdf, the A4 print), imports (errors, preview),
# admin-users, admin-audit.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
ensure_mysql
ensure_redis
ensure_chromium
ensure_cjk_fonts
out="${1:-docs/console-shots}"
mkdir -p "$out"
export TEST_RUN_ID="shots$(date +%s)$$"
export CONSOLE_SHOTS="$(cd "$out" && pwd)"
go test -count=1 -run 'TestConsole' ./server
ls -1 "$out"/*.png
