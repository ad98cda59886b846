#!/usr/bin/env bash
# Checks openapi.yaml the way the front-end team uses it:
#   1. `redocly lint` with redocly.yaml (recommended-strict: zero errors and zero
#      warnings; the few excused spots are in .redocly.lint-ignore.yaml, with why);
#   2. openapi-typescript generates the TypeScript types (scripts/openapi-client/generated/);
#   3. `tsc --noEmit` type-checks scripts/openapi-client/client.ts against them.
# The tools are the versions pinned in package.json + package-lock.json; node_modules
# is (re)installed with `npm ci` when missing or when the lockfile changed since.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v npm >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then
  cat >&2 <<'MSG'
openapi: Node.js and npm are needed for the OpenAPI lint and the TypeScript client check.
Install them (Debian/Ubuntu):   sudo apt-get update && sudo apt-get install -y nodejs npm
(Node.js 20 or newer), then run scripts/test.sh again; it runs `npm ci` itself.
MSG
  exit 1
fi

# node_modules is current when it was installed from this very lockfile.
stamp=node_modules/.nantian-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ] || [ ! -x node_modules/.bin/redocly ]; then
  echo "openapi: node_modules missing or stale: npm ci"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$want" > "$stamp"
fi

echo "openapi: redocly lint"
npx --no-install redocly lint openapi.yaml --format=codeframe

echo "openapi: openapi-typescript"
out=scripts/openapi-client/generated/api.d.ts
mkdir -p "$(dirname "$out")"
npx --no-install openapi-typescript openapi.yaml --redocly scripts/openapi-client/redocly.yaml -o "$out" --silent

echo "openapi: tsc --noEmit"
npx --no-install tsc --noEmit -p scripts/openapi-client
echo "openapi: ok"
