#!/bin/sh
# Starts Aether nodes with Slurm's `srun --mpi=pmix`, on a private one-machine Slurm cluster this
# script brings up for the run: munged with its own key and socket, slurmctld and slurmd with
# their own configuration, state and ports, all in a temporary directory and ended on exit.
#
#   srun.sh PROGRAM
#
# Needs root (slurmd starts job steps as their user) and Debian's slurmd, slurmctld, slurm-client
# and munge; otherwise it exits 77 (skipped) and says why.
set -eu

skip() {
    echo "srun.sh: skipped: $*" >&2
    exit 77
}

[ $# -eq 1 ] || { echo "usage: srun.sh PROGRAM" >&2; exit 2; }
program=$1
[ "$(id -u)" -eq 0 ] || skip "needs root (slurmd runs job steps as their user)"
for tool in munged slurmctld slurmd srun sinfo; do
    command -v "$tool" >/dev/null 2>&1 || skip "$tool is not installed (Debian: munge slurmctld slurmd slurm-client)"
done
# The cluster must come from PMIx alone.
unset AETHER_NODE_ID AETHER_NODE_COUNT AETHER_PEERS AETHER_SECRET AETHER_LISTEN_FD || true

dir=$(mktemp -d)
chmod 755 "$dir" # munged wants its socket's directory searchable by all
cleanup() {
    for pidfile in "$dir/slurmd.pid" "$dir/slurmctld.pid" "$dir/munged.pid"; do
        [ -f "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null || true
    done
    # Daemons gone before their directory goes (slurmctld saves its state first: seconds).
    for _ in $(seq 1 50); do
        pgrep -f "$dir" >/dev/null 2>&1 || break
        sleep 0.2
    done
    pkill -KILL -f "$dir" 2>/dev/null || true
    rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT
mkdir -p "$dir/state" "$dir/spool"

# Two free TCP ports for slurmctld and slurmd.
free_port() {
    port=$1
    while ss -Htln "sport = :$port" | grep -q .; do port=$((port + 1)); done
    echo "$port"
}
ctld_port=$(free_port $((20000 + $$ % 20000)))
slurmd_port=$(free_port $((ctld_port + 1)))

dd if=/dev/urandom of="$dir/munge.key" bs=1024 count=1 2>/dev/null
chmod 600 "$dir/munge.key"
munged --key-file="$dir/munge.key" --socket="$dir/munge.socket" --pid-file="$dir/munged.pid" \
    --log-file="$dir/munged.log" --seed-file="$dir/munge.seed" || skip "munged does not start here (see $dir/munged.log)"

host=$(hostname -s)
cat >"$dir/slurm.conf" <<CONF
ClusterName=aethertest
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
AuthType=auth/munge
AuthInfo=socket=$dir/munge.socket
CredType=cred/munge
SlurmUser=root
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
NodeName=$host NodeAddr=127.0.0.1 CPUs=$(nproc) State=UNKNOWN
PartitionName=aether Nodes=$host Default=YES MaxTime=10 State=UP
CONF
export SLURM_CONF="$dir/slurm.conf"
slurmctld -f "$SLURM_CONF"
slurmd -f "$SLURM_CONF"

# Ready when the node is idle in its partition (slurmd registered with slurmctld).
ready=0
for _ in $(seq 1 150); do
    if [ "$(sinfo -h -o %T 2>/dev/null)" = idle ]; then
        ready=1
        break
    fi
    sleep 0.2
done
if [ "$ready" -ne 1 ]; then
    echo "srun.sh: the private Slurm cluster did not become ready in 30 s:" >&2
    tail -n 5 "$dir/slurmctld.log" "$dir/slurmd.log" >&2 || true
    exit 1
fi

# Three tasks on however many CPUs (-O: overcommit), started through Slurm's PMIx plugin.
timeout 120 srun --mpi=pmix -n 3 -O "$program"
