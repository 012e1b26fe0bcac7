#!/bin/sh
# The events an operator reads in the log, at info (AETHER_LOG per component): nodes coming up, a
# node going down, VOIDs by reason (at most a line a second), and a revocation. Runs
# events_cluster.c on 3 nodes and looks for node 0's lines.
# Usage: events.sh AETHER_RUN EVENTS_CLUSTER
set -eu
run=$1 prog=$2
log=$(mktemp)
trap 'rm -f "$log" "$log.2"' EXIT
AETHER_TIMEOUT_MS=500 AETHER_LOG="aether.runtime=info,aether.coherence=info,warn" \
    "$run" -n 3 --timeout 60 --expect 1=SIGKILL -- "$prog" >"$log" 2>&1 || { cat "$log"; echo "FAIL: the cluster failed"; exit 1; }
expect() {
    grep -E "^\[node 0\] .*$1" "$log" >/dev/null || { cat "$log"; echo "FAIL: node 0 did not log: $1"; exit 1; }
}
expect "\[aether.runtime\] \[info\] node 2 is up"
expect "\[aether.runtime\] \[info\] node 1 is down"
expect "\[aether.runtime\] \[info\] VOID in the last [0-9]+ ms: .*(NODE_CRASHED|UNREACHABLE|TIMEOUT|PARTITION) [0-9]+"
expect "\[aether.coherence\] \[info\] revoked the allocation at 0x[0-9a-f]+ \(1 pages\)"
# Levels are per component: with aether.coherence left at warn, its revocation line is gone
# while the runtime's lines stay.
AETHER_TIMEOUT_MS=500 AETHER_LOG="aether.runtime=info" \
    "$run" -n 3 --timeout 60 --expect 1=SIGKILL -- "$prog" >"$log.2" 2>&1 || { cat "$log.2"; echo "FAIL: the cluster failed"; exit 1; }
grep -E "^\[node 0\] .*\[aether.runtime\] \[info\] node 1 is down" "$log.2" >/dev/null || { cat "$log.2"; echo "FAIL: no runtime line"; exit 1; }
if grep -E "revoked the allocation" "$log.2" >/dev/null; then cat "$log.2"; echo "FAIL: a coherence info line at warn"; exit 1; fi
rm -f "$log.2"
voids=$(grep -cE "^\[node 0\] .*VOID in the last" "$log")
echo "node 0 logged: nodes up, node 1 down, $voids VOID report(s) over 2.5 s of VOID reads, the revocation"
[ "$voids" -le 4 ] || { echo "FAIL: $voids VOID lines in 2.5 s: not rate-limited"; exit 1; }
