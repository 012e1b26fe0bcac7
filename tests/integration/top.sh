#!/bin/sh
# `aetherctl top` in a real terminal: tmux runs it against three live nodes (metrics_cluster.c,
# where nodes 0 and 2 keep taking one page of node 1 from each other); the pane must show a row
# per node, redraw (the refresh count goes up), show that page as the hottest, and the program must
# end when q is sent to it, leaving no session behind.
# Usage: top.sh AETHER_RUN CLUSTER_PROGRAM AETHERCTL. Skips (77) without tmux.
set -eu
run=$1 prog=$2 ctl=$3
command -v tmux >/dev/null || { echo "SKIP: tmux is not installed"; exit 77; }

work=$(mktemp -d)
session="aether-top-$$"
cluster=
cleanup() {
    tmux kill-session -t "$session" 2>/dev/null || true
    touch "$work/stop"
    [ -n "$cluster" ] && wait "$cluster" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; echo "--- pane:"; cat "$work/pane" 2>/dev/null; echo "--- cluster:"; tail -n 20 "$work/cluster.log"; exit 1; }
. "$(dirname "$0")/within.sh"

# A secret of our own (aether-run keeps it), for top over the cluster port at the end.
export AETHER_ADMIN_DIR="$work/admin" AETHER_TIMEOUT_MS=1000 AETHER_SECRET="top-test-$$"
"$run" -n 3 --timeout 150 -- "$prog" "$work/ready" "$work/stop" busy >"$work/cluster.log" 2>&1 &
cluster=$!
within 60 test -e "$work/ready" || fail "the cluster did not get ready"

# A terminal of its own (tmux's server gets this environment, so aetherctl finds the directory).
tmux -f /dev/null new-session -d -s "$session" -x 200 -y 30 "$ctl top --dir $AETHER_ADMIN_DIR --interval-ms 300"
pane() { tmux capture-pane -p -t "$session" >"$work/pane" 2>/dev/null; }
rows_shown() { pane && [ "$(grep -cE '^[0-2] +up ' "$work/pane")" -eq 3 ]; }
refresh_of() { sed -n 's/.*refresh \([0-9]*\) every.*/\1/p' "$work/pane"; }
within 20 rows_shown || fail "top did not show the three nodes"
first=$(refresh_of)
redrawn() { pane && [ "$(refresh_of)" -gt "$first" ] 2>/dev/null; }
within 10 redrawn || fail "top did not redraw (refresh stayed $first)"
grep -q "FAULTS PER S" "$work/pane" || fail "no rates column"
# The hottest page: the first row under the hot-page table's header is the page the nodes fight over.
block=$(cat "$work/ready")
hottest() { pane && sed -n '/^hottest pages/,$p' "$work/pane" | sed -n 3p | grep -qE "^$block +1 +[0-9.]+ "; }
within 10 hottest || fail "top did not show $block (home 1) as the hottest page"
echo "top showed the three nodes and redrew (refresh $first, then $(refresh_of)):"
cat "$work/pane" | sed '/^$/d'

tmux send-keys -t "$session" q
gone() { ! tmux has-session -t "$session" 2>/dev/null; }
within 5 gone || fail "top did not quit on q"
echo "q: top quit"

# The same view from another machine's point of view: over node 1's cluster port (--peer), two
# frames to a pipe (no terminal: one frame per refresh).
addr=$("$ctl" nodes --dir "$AETHER_ADMIN_DIR" --json | grep -o '"address": "[^"]*"' | sed -n 2p | cut -d'"' -f4)
[ -n "$addr" ] || fail "no address for node 1"
"$ctl" top --peer "$addr" --frames 2 --interval-ms 300 </dev/null >"$work/pane" 2>&1 || fail "top --peer $addr failed"
[ "$(grep -cE '^[0-2] +up ' "$work/pane")" -eq 6 ] || fail "top --peer did not show the three nodes twice"
grep -qE "^$block +1 +[0-9.]+ " "$work/pane" || fail "top --peer did not show $block among the hottest pages"
echo "top --peer $addr: the three nodes and the hottest page, over the cluster port"
