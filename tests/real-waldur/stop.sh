#!/usr/bin/env bash
# Stops what start.sh started (gunicorn, redis, PostgreSQL, each by its PID or pg_ctl), keeping the
# data, so that the next start takes seconds. CI calls it at the end; on a shared machine leave a
# server others use running.
set -euo pipefail
rw=${RW:-/tmp/real-waldur}
if [ -f "$rw/stop.sh" ]; then
  bash "$rw/stop.sh"
else
  echo "stop.sh: nothing to stop ($rw/stop.sh is missing)"
fi
