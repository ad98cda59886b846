#!/usr/bin/env bash
# Runs every `func FuzzXxx` target in the repository for a short time each
# (default 5s; scripts/fuzz.sh 60s for a longer session). The seed corpora (f.Add
# calls and testdata/fuzz/) already run as plain tests in `go test`; this explores
# beyond them. A crasher is written to testdata/fuzz/ and the script fails.
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZTIME="${1:-5s}"
grep -rl --include='*_test.go' '^func Fuzz' . | sort | while read -r file; do
  dir=$(dirname "$file")
  for name in $(grep -o '^func Fuzz[A-Za-z0-9_]*' "$file" | sed 's/^func //'); do
    echo "-- $dir $name ($FUZZTIME)"
    go test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" "$dir" > /tmp/fuzz-$$.log 2>&1 || {
      cat /tmp/fuzz-$$.log; echo "fuzz target $name in $dir failed"; exit 1; }
  done
done
echo "fuzzing done"
