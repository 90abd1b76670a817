#!/usr/bin/env bash
# Starts tally's single-machine Slurm 22.05 test cluster (cluster `tallytest`, two nodes on
# 127.0.0.1, slurmdbd on a private MariaDB) and writes target/real-slurm/env, which the tests in
# tests/real_slurm.rs look for. Root on Debian 12; installs the packages if they are missing.
# Idempotent: if the cluster is already up this is a no-op; otherwise a half-started or stale one
# is stopped (stop.sh) and a fresh one started. Stop it with tests/real-slurm/stop.sh.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
STATE="${TALLY_REAL_SLURM_DIR:-$ROOT/target/real-slurm}"
# Loopback ports (override if they clash with something else on the machine).
DB_PORT="${TALLY_REAL_SLURM_DB_PORT:-16306}"
DBD_PORT="${TALLY_REAL_SLURM_DBD_PORT:-16819}"
CTLD_PORT="${TALLY_REAL_SLURM_CTLD_PORT:-16817}"
N1_PORT="${TALLY_REAL_SLURM_N1_PORT:-16818}"
N2_PORT="${TALLY_REAL_SLURM_N2_PORT:-16820}"
PACKAGES=(munge mariadb-server slurm-wlm slurmctld slurmd slurmdbd slurm-client)
CLUSTER=tallytest
ACCOUNTS=(proj_alpha proj_beta hpc_x42)
USERS=(alice bob)

say() { printf '[real-slurm %(%H:%M:%S)T] %s\n' -1 "$*"; }
die() { say "ERROR: $*" >&2; exit 1; }

[[ $(id -u) -eq 0 ]] || die "run as root (it installs packages, adds users and starts daemons): sudo $0"

alive() { [[ -s "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

export SLURM_CONF="$STATE/etc/slurm.conf"

# --- Already running? Then nothing to do.
if [[ -s "$STATE/env" ]]; then
    all=1
    for p in munged mariadbd slurmdbd slurmctld slurmd-node1 slurmd-node2; do
        alive "$STATE/run/$p.pid" || all=0
    done
    if [[ $all -eq 1 ]] && timeout 10 sinfo -h -o '%t' 2>/dev/null | grep -qE '^(idle|mix|alloc)'; then
        say "already running ($STATE/env); nothing to do"
        exit 0
    fi
    say "a previous cluster is incomplete: stopping it and starting afresh"
fi
if compgen -G "$STATE/run/*.pid" >/dev/null; then
    "$HERE/stop.sh"
fi

# --- Packages (no services started by the packages themselves: policy-rc.d exits 101).
missing=()
for pkg in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if [[ ${#missing[@]} -gt 0 ]]; then
    t0=$SECONDS
    say "installing ${missing[*]}"
    policy_created=0
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        policy_created=1
    fi
    cleanup_policy() { [[ $policy_created -eq 1 ]] && rm -f /usr/sbin/policy-rc.d; return 0; }
    trap cleanup_policy EXIT
    if ! apt-cache policy slurmctld 2>/dev/null | grep -q 'Candidate: [0-9]'; then
        apt-get update -q
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
    cleanup_policy
    trap - EXIT
    say "installed in $((SECONDS - t0)) s"
fi
say "Slurm $(dpkg-query -W -f='${Version}' slurm-client)"

t0=$SECONDS
# --- Local users who submit the jobs.
for u in "${USERS[@]}"; do
    id -u "$u" >/dev/null 2>&1 || useradd --no-create-home --shell /bin/bash "$u"
done

# --- Fresh private state.
rm -rf "$STATE"
mkdir -p "$STATE"/{etc,run,log,munge,ctld,spool/node1,spool/node2,dev/node1,dev/node2,mysql,jobs}
chmod 755 "$STATE" "$STATE/etc" "$STATE/munge"
chmod 1777 "$STATE/jobs"
for n in node1 node2; do
    for i in 0 1; do mknod "$STATE/dev/$n/nvidia$i" c 195 "$i"; done
done
fill() {
    sed -e "s#@STATE@#$STATE#g" -e "s#@DB_PORT@#$DB_PORT#g" -e "s#@DBD_PORT@#$DBD_PORT#g" \
        -e "s#@CTLD_PORT@#$CTLD_PORT#g" -e "s#@N1_PORT@#$N1_PORT#g" -e "s#@N2_PORT@#$N2_PORT#g" "$1" > "$2"
}
fill "$HERE/slurm.conf.in" "$STATE/etc/slurm.conf"
fill "$HERE/gres.conf.in" "$STATE/etc/gres.conf"
fill "$HERE/slurmdbd.conf.in" "$STATE/etc/slurmdbd.conf"
chmod 644 "$STATE/etc/slurm.conf" "$STATE/etc/gres.conf"
chmod 600 "$STATE/etc/slurmdbd.conf"

wait_for() { # seconds, description, command...
    local deadline=$((SECONDS + $1)) what=$2; shift 2
    until "$@" >/dev/null 2>&1; do
        [[ $SECONDS -lt $deadline ]] || die "timed out waiting for $what (logs in $STATE/log)"
        sleep 0.3
    done
}
# Starts a daemon in the foreground mode in the background and records its PID.
launch() { # name, command...
    local name=$1; shift
    setsid "$@" >"$STATE/log/$name.out" 2>&1 < /dev/null &
    echo $! > "$STATE/run/$name.pid"
}

# --- munged on a private key and socket.
dd if=/dev/urandom of="$STATE/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$STATE/munge/munge.key"
launch munged munged --foreground --force --key-file="$STATE/munge/munge.key" \
    --socket="$STATE/munge/munge.socket" --pid-file="$STATE/run/munged-internal.pid" \
    --log-file="$STATE/log/munged.log" --seed-file="$STATE/munge/munged.seed"
wait_for 10 munged munge --socket="$STATE/munge/munge.socket" -n

# --- MariaDB on a private datadir, loopback only.
mariadb-install-db --no-defaults --user=root --datadir="$STATE/mysql" --auth-root-authentication-method=socket \
    --skip-test-db >"$STATE/log/mariadb-install.out" 2>&1 || die "mariadb-install-db failed: $(tail -5 "$STATE/log/mariadb-install.out")"
launch mariadbd mariadbd --no-defaults --user=root --datadir="$STATE/mysql" --bind-address=127.0.0.1 \
    --port="$DB_PORT" --socket="$STATE/run/mysql.sock" --pid-file="$STATE/run/mariadbd-internal.pid" \
    --log-error="$STATE/log/mariadbd.log" --innodb-buffer-pool-size=64M --skip-name-resolve
wait_for 30 mariadbd mariadb --no-defaults --socket="$STATE/run/mysql.sock" -e 'select 1'
mariadb --no-defaults --socket="$STATE/run/mysql.sock" <<SQL
CREATE USER 'slurm'@'127.0.0.1' IDENTIFIED BY 'tally-test-only';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
SQL

# --- slurmdbd, then the cluster, accounts and users in it.
launch slurmdbd slurmdbd -D
wait_for 30 slurmdbd sacctmgr -i list cluster
sacctmgr -i add cluster "$CLUSTER" >/dev/null
sacctmgr -i add account "${ACCOUNTS[@]}" cluster="$CLUSTER" >/dev/null
sacctmgr -i add user alice account=proj_alpha,hpc_x42 defaultaccount=proj_alpha cluster="$CLUSTER" >/dev/null
sacctmgr -i add user bob account=proj_beta,hpc_x42 defaultaccount=proj_beta cluster="$CLUSTER" >/dev/null
sacctmgr -i add user root account=proj_alpha,proj_beta,hpc_x42 defaultaccount=proj_alpha cluster="$CLUSTER" >/dev/null

# --- slurmctld and two slurmd on loopback.
launch slurmctld slurmctld -D -i
wait_for 30 slurmctld scontrol ping
launch slurmd-node1 slurmd -D -N node1
launch slurmd-node2 slurmd -D -N node2
idle() { [[ $(sinfo -h -N -o '%N %t' | grep -c ' idle$') -eq 2 ]]; }
wait_for 60 "both nodes idle" idle

cat > "$STATE/env" <<ENV
# Written by tests/real-slurm/start.sh; read by tests/real_slurm.rs. Remove with stop.sh.
SLURM_CONF=$SLURM_CONF
TALLY_REAL_SLURM_DIR=$STATE
TALLY_REAL_SLURM_CLUSTER=$CLUSTER
TALLY_REAL_SLURM_JOBS=$STATE/jobs
ENV
say "cluster $CLUSTER up in $((SECONDS - t0)) s: $(sinfo -h -N -o '%N/%t' | tr '\n' ' ')"
say "use it with: export SLURM_CONF=$SLURM_CONF"
