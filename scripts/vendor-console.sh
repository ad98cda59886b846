#!/usr/bin/env bash
# Copies the browser libraries the staff console embeds (htmx 2, ECharts) from
# node_modules into console/assets/vendor/, where they are committed: nothing at
# build, run or test time needs Node. Run after changing their versions in
# package.json (npm ci first):
#   npm ci && bash scripts/vendor-console.sh
# (go generate ./console runs this script too.)
set -euo pipefail
cd "$(dirname "$0")/.."
NODE_MODULES="${NODE_MODULES:-node_modules}"
out=console/assets/vendor
mkdir -p "$out"
cp "$NODE_MODULES/htmx.org/dist/htmx.min.js" "$out/htmx.min.js"
cp "$NODE_MODULES/echarts/dist/echarts.min.js" "$out/echarts.min.js"
version() { sed -n 's/^  "version": *"\([^"]*\)".*/\1/p' "$NODE_MODULES/$1/package.json" | head -1; }
printf 'htmx.org %s\necharts %s\n' "$(version htmx.org)" "$(version echarts)" > "$out/VERSIONS"
echo "vendored into $out:"; cat "$out/VERSIONS"
