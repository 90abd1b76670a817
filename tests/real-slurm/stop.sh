#!/usr/bin/env bash
# Stops the test cluster started by tests/real-slurm/start.sh: exactly the processes it started
# (their PIDs are in target/real-slurm/run/*.pid), in reverse order, and removes the env file so
# the tests see the cluster as absent. Safe to run when nothing is running.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
STATE="${TALLY_REAL_SLURM_DIR:-$ROOT/target/real-slurm}"

say() { printf '[real-slurm %(%H:%M:%S)T] %s\n' -1 "$*"; }

rm -f "$STATE/env"
# Jobs first, through Slurm (their processes are slurmd's, not ours): cancel all, wait briefly.
if [[ -s "$STATE/run/slurmctld.pid" ]] && kill -0 "$(cat "$STATE/run/slurmctld.pid")" 2>/dev/null; then
    export SLURM_CONF="$STATE/etc/slurm.conf"
    jobs=$(timeout 10 squeue -h -o %A 2>/dev/null || true)
    if [[ -n "$jobs" ]]; then
        # shellcheck disable=SC2086
        timeout 10 scancel $jobs 2>/dev/null || true
        for _ in $(seq 1 50); do
            [[ -z "$(timeout 5 squeue -h -o %A 2>/dev/null || true)" ]] && break
            sleep 0.2
        done
    fi
fi
stopped=0
for name in slurmd-node2 slurmd-node1 slurmctld slurmdbd mariadbd munged; do
    pidfile="$STATE/run/$name.pid"
    [[ -s "$pidfile" ]] || continue
    pid=$(cat "$pidfile")
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        t0=$SECONDS
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
        [[ $((SECONDS - t0)) -lt 3 ]] || say "$name took $((SECONDS - t0)) s to stop"
        if kill -0 "$pid" 2>/dev/null; then
            say "$name ($pid) did not stop on TERM: KILL"
            kill -KILL "$pid" 2>/dev/null || true
        fi
        stopped=$((stopped + 1))
    fi
    rm -f "$pidfile"
done
say "stopped $stopped daemon(s)"
