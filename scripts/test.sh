#!/usr/bin/env bash
# The whole test suite on a fresh machine: set up what is missing, then run every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
report=$(mktemp)
trap 'rm -f "$report"' EXIT
status=0
# Tests are code: they type-check with the rest before they run.
npx tsc -p tsconfig.test.json || status=$?
npx vitest run --reporter=default --reporter=json --outputFile.json="$report" || status=$?
# A plain closing line any CI understands.
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const skipped = r.numPendingTests + r.numTodoTests;
  console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed` + (skipped ? `, ${skipped} skipped` : ""));
' "$report" || true
exit $status
