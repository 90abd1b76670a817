#!/usr/bin/env bash
# Starts the genuine Waldur (waldur-mastermind) that tests/real_waldur.rs runs against, on loopback:
# runs setup.sh of the project's real-Waldur kit (the server's source tarball, MIT, and the script
# that installs and starts it), by default ../shared/real-waldur/setup.sh beside the repository
# (TALLY_REAL_WALDUR_SETUP names another). Idempotent: 7-10 min the first time on 2 cores, about a
# second when the server runs already. Needs root (apt-get, a private PostgreSQL run as postgres).
# Arguments go to setup.sh ([SOURCE] [PORT]); RW, PGPORT, REDIS_PORT, FAKE_NOW are honoured by it.
# The tests then find the server through /tmp/real-waldur/env.sh (TALLY_REAL_WALDUR_ENV moves it).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
setup=${TALLY_REAL_WALDUR_SETUP:-$repo/../shared/real-waldur/setup.sh}
if [ ! -f "$setup" ]; then
  echo "start.sh: $setup is missing: check out the project's shared/ folder beside the repository" \
       "or set TALLY_REAL_WALDUR_SETUP to the kit's setup.sh" >&2
  exit 2
fi
started=$(date +%s)
bash "$setup" "$@"
echo "real Waldur ready after $(( $(date +%s) - started )) s; the tests read ${RW:-/tmp/real-waldur}/env.sh"
