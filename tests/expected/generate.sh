#!/bin/sh
# Regenerates the expected totals from the independent oracle (tests/oracle/sacct_totals.py).
# Run from the repository root: sh tests/expected/generate.sh
set -eu
for spec in tests/expected/*.spec.json; do
  out="${spec%.spec.json}.expected.json"
  python3 tests/oracle/sacct_totals.py "$spec" > "$out"
  echo "$out"
done
