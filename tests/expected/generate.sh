#!/bin/sh
# Regenerates the expected totals from the independent oracles (tests/oracle/): the Grid
# Engine and LSF specs (a "format" key) go to grid_totals.py, the sacct ones to sacct_totals.py.
# Run from the repository root: sh tests/expected/generate.sh
set -eu
for spec in tests/expected/*.spec.json; do
  out="${spec%.spec.json}.expected.json"
  case "$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1])).get("format", "sacct"))' "$spec")" in
    sge|lsf) python3 tests/oracle/grid_totals.py "$spec" > "$out" ;;
    *) python3 tests/oracle/sacct_totals.py "$spec" > "$out" ;;
  esac
  echo "$out"
done
