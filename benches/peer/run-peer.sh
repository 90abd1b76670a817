#!/usr/bin/env bash
# The project's runner of the peer: ONE usage-report cycle of waldur-site-agent (+ its SLURM
# plugin, "report" mode) against a Waldur-compatible API, with sacct/sacctmgr answered from a
# prepared dump by slurm_shim.py (beside this script). Used by benches/peer and
# tests/peer_smoke.rs; the peer itself is installed from PyPI into PEER_VENV.
#
# Required: WALDUR_URL (origin; "/api/" is appended), WALDUR_TOKEN, OFFERING_UUID,
#           SACCT_DUMP (`sacct --parsable2` with its header: Account, User, Elapsed, ReqTRES;
#           with JobID/Start/End the shim windows and clips per month as sacct does)
# Optional: PEER_NOW (ISO instant the peer takes as now; default the real clock)
#           COMPONENTS "TRES:unit_factor[:unit],..." (default cpu:60000:k-Hours,mem:61440:gb-Hours)
#           REPORTING_PERIODS (1..12; default 2, or 1 when the dump has no Start/End)
#           TIMEZONE (UTC), SHIM_TRES_COLUMN (ReqTRES), SHIM_DELIMITER (|)
#           PEER_VERSION (1.0.7), PEER_VENV (/tmp/peer-venv), PEER_WORK (new temp dir),
#           PEER_LOG_LEVEL (INFO), PEER_TIMEOUT (seconds, 3600)
# Writes PEER_WORK/{config.yaml, peer.log (the peer's JSON lines), shim.log (each sacct/sacctmgr
# call), bin/}. Exit 0: the cycle ran and logged no error; 3: it logged errors; else: setup failed.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

: "${WALDUR_URL:?WALDUR_URL is required}" "${WALDUR_TOKEN:?WALDUR_TOKEN is required}"
: "${OFFERING_UUID:?OFFERING_UUID is required}" "${SACCT_DUMP:?SACCT_DUMP is required}"
version=${PEER_VERSION:-1.0.7}
venv=${PEER_VENV:-/tmp/peer-venv}
components=${COMPONENTS:-cpu:60000:k-Hours,mem:61440:gb-Hours}
work=${PEER_WORK:-$(mktemp -d /tmp/peer-run.XXXXXX)}
delimiter=${SHIM_DELIMITER:-|}
dump=$(realpath "$SACCT_DUMP")
[ -r "$dump" ] || { echo "run-peer.sh: cannot read SACCT_DUMP=$SACCT_DUMP" >&2; exit 2; }
mkdir -p "$work/bin"

# the peer, pinned, and time-machine for PEER_NOW
if ! [ -x "$venv/bin/waldur_site_agent" ] || ! "$venv/bin/python" -c 'import time_machine' 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "waldur-site-agent==$version" "waldur-site-agent-slurm==$version" "time-machine>=2.10"
fi

# sacct, sacctmgr and the harmless others, all answered by the shim
cp "$here/slurm_shim.py" "$work/bin/slurm_shim.py"
chmod +x "$work/bin/slurm_shim.py"
for program in sacct sacctmgr sinfo scancel; do ln -sf slurm_shim.py "$work/bin/$program"; done

# a dump without Start/End cannot be split into months: one period
periods=${REPORTING_PERIODS:-}
if [ -z "$periods" ]; then
  columns=$(head -n1 "$dump" | tr '[:upper:]' '[:lower:]' | tr "$delimiter" '\n')
  if grep -qx start <<<"$columns" && grep -qx end <<<"$columns"; then
    periods=2
  else
    echo "note: the dump has no Start/End columns: REPORTING_PERIODS=1" >&2
    periods=1
  fi
fi

api=${WALDUR_URL%/}
[[ $api == */api ]] || api=$api/api
{
  printf 'timezone: "%s"\nreporting_periods: %s\nlog_level: "%s"\n' \
    "${TIMEZONE:-UTC}" "$periods" "${PEER_LOG_LEVEL:-INFO}"
  printf 'offerings:\n  - name: "side-by-side"\n'
  printf '    waldur_api_url: "%s/"\n    waldur_api_token: "%s"\n    waldur_offering_uuid: "%s"\n' \
    "$api" "$WALDUR_TOKEN" "$OFFERING_UUID"
  for key in username_management_backend:base order_processing_backend:slurm \
             membership_sync_backend:slurm reporting_backend:slurm backend_type:slurm; do
    printf '    %s: "%s"\n' "${key%%:*}" "${key#*:}"
  done
  printf '    stomp_enabled: false\n    backend_settings:\n'
  printf '      default_account: "root"\n      customer_prefix: ""\n      project_prefix: ""\n'
  printf '      allocation_prefix: ""\n      slurm_bin_path: "%s"\n' "$work/bin"
  printf '      enable_user_homedir_account_creation: false\n    backend_components:\n'
  IFS=',' read -ra specs <<<"$components"
  for spec in "${specs[@]}"; do
    IFS=':' read -r tres factor unit <<<"$spec"
    printf '      "%s":\n        measured_unit: "%s"\n        unit_factor: %s\n' "$tres" "${unit:-units}" "$factor"
    printf '        accounting_type: "usage"\n        label: "%s"\n' "$tres"
  done
} >"$work/config.yaml"

started=$(date +%s.%N)
set +e
SACCT_DUMP="$dump" PEER_NOW="${PEER_NOW:-}" SHIM_LOG="$work/shim.log" \
  SHIM_TRES_COLUMN="${SHIM_TRES_COLUMN:-ReqTRES}" SHIM_DELIMITER="$delimiter" \
  timeout "${PEER_TIMEOUT:-3600}" "$venv/bin/python" "$here/peer_cycle.py" "$work/config.yaml" \
  >"$work/peer.log" 2>&1
status=$?
set -e
finished=$(date +%s.%N)

count() { grep -c "$1" "$2" 2>/dev/null || true; }
errors=$(count '"level": "error"' "$work/peer.log")
echo "peer $version cycle: rc=$status wall=$(awk "BEGIN{printf \"%.2f\", $finished-$started}")s" \
  "sacct_calls=$(count '^sacct ' "$work/shim.log")" "sacctmgr_calls=$(count '^sacctmgr ' "$work/shim.log")" \
  "error_lines=$errors work=$work"
[ "$status" -eq 0 ] || exit "$status"
if [ "$errors" -gt 0 ]; then
  grep '"level": "error"' "$work/peer.log" | cut -c1-300 >&2
  exit 3
fi
