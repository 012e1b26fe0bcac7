#!/bin/sh
# on_hosts.sh: runs a cluster with every node on a host of its own, as far as the network stack is
# concerned: node i in network namespace <tag>h<i> with address 10.77.0.<i+1>/24 on a veth pair
# whose other end is on a bridge of this run only. Nodes reach each other through real interfaces,
# ARP and a bridge, not through one shared loopback; nothing of the machine's own network is
# touched (the bridge has no address, the namespaces no route out).
#
#   on_hosts.sh AETHER_RUN N [aether-run options] -- PROGRAM [ARGS...]
#   on_hosts.sh --mpirun N -- PROGRAM [ARGS...]
#
# ON_HOSTS_NEEDS names commands the program itself runs on its host (nft, to cut a link there);
# without them it is skipped too.
#
# aether-run starts and supervises the nodes as usual (exit status, --expect, --timeout); each node
# enters its namespace with `ip netns exec` (same process, no fork) and gets AETHER_PEERS with the
# namespace addresses, every node on port 7000. With --mpirun, Open MPI's mpirun starts them
# instead, as on a cluster: it runs on host 0 and starts its daemon on the other hosts through an
# "rsh agent" that is this script entering the host's namespace where ssh would log in; the nodes
# get no AETHER_* variables and find each other through PMIx. Needs root and `ip netns`: otherwise it exits 77
# (the test harness's "skipped") and says why. Everything it made is removed on exit.
set -eu

skip() {
    echo "on_hosts: skipped: $*" >&2
    exit 77
}

# Node mode, run by aether-run for each node: enter the node's namespace with the hosts' peer list.
if [ "${1:-}" = "--node" ]; then
    prefix=$2
    peers=$3
    shift 4 # --node PREFIX PEERS --
    exec ip netns exec "$prefix$AETHER_NODE_ID" env AETHER_PEERS="$peers" "$@"
fi
# rsh-agent mode, run by mpirun to start its daemon on host 10.77.0.<i+1>, the way it would run
# `ssh HOST COMMAND`: the command is one shell line. The hosts share one /tmp and one host name,
# where Open MPI's daemons keep session directories named after the host: each gets a /tmp of its
# own (TMPDIR), as separate machines would have.
if [ "${1:-}" = "--rsh-agent" ]; then
    host=$2
    shift 2
    i=$((${host##*.} - 1))
    mkdir -p "$ON_HOSTS_TMP/h$i"
    exec ip netns exec "${ON_HOSTS_TAG}h$i" env TMPDIR="$ON_HOSTS_TMP/h$i" sh -c "$*"
fi
launcher=aether-run
if [ "${1:-}" = "--mpirun" ]; then
    launcher=mpirun
    shift
    set -- mpirun "$@"
fi

[ $# -ge 4 ] || { echo "usage: on_hosts.sh AETHER_RUN N [aether-run options] -- PROGRAM [ARGS...]" >&2; exit 2; }
aether_run=$1
count=$2
shift 2

[ "$(id -u)" -eq 0 ] || skip "needs root (network namespaces, veth pairs, a bridge)"
command -v ip >/dev/null 2>&1 || skip "the ip command (iproute2) is not installed"
[ "$launcher" = aether-run ] || command -v mpirun >/dev/null 2>&1 || skip "mpirun (Debian: openmpi-bin) is not installed"
# ON_HOSTS_NEEDS: more commands the program runs on its hosts (nft, to cut links).
for tool in ${ON_HOSTS_NEEDS:-}; do
    command -v "$tool" >/dev/null 2>&1 || skip "the program needs $tool, which is not installed"
done

# Interface names have at most 15 characters: "a<pid>b", "a<pid>v<i>", "a<pid>p<i>".
tag="a$$"
bridge="${tag}b"
made_bridge=0
namespaces=""

hosts_tmp=""
cleanup() {
    [ -z "$hosts_tmp" ] || rm -rf "$hosts_tmp"
    for ns in $namespaces; do ip netns del "$ns" 2>/dev/null || true; done # takes its veth pair along
    [ "$made_bridge" -eq 0 ] || ip link del "$bridge" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

ip netns add "${tag}probe" 2>/dev/null || skip "cannot create a network namespace here (ip netns add failed)"
ip netns del "${tag}probe"
ip link add "$bridge" type bridge || skip "cannot create a bridge here"
made_bridge=1
ip link set "$bridge" up

peers=""
i=0
while [ "$i" -lt "$count" ]; do
    ns="${tag}h$i"
    addr="10.77.0.$((i + 1))"
    ip netns add "$ns"
    namespaces="$namespaces $ns"
    ip link add "${tag}v$i" type veth peer name "${tag}p$i"
    ip link set "${tag}p$i" netns "$ns"
    ip link set "${tag}v$i" master "$bridge" up
    ip netns exec "$ns" ip link set lo up
    ip netns exec "$ns" ip addr add "$addr/24" dev "${tag}p$i"
    ip netns exec "$ns" ip link set "${tag}p$i" up
    peers="$peers${peers:+,}$addr:7000"
    i=$((i + 1))
done

# aether-run options up to "--" (single words: --timeout 60, --expect 1=SIGKILL), then the program.
options=""
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
    options="$options $1"
    shift
done
[ $# -gt 1 ] || { echo "on_hosts: no program after --" >&2; exit 2; }
shift
self=$(readlink -f "$0")
status=0
if [ "$launcher" = mpirun ]; then
    hosts=$(echo "$peers" | sed 's/:7000//g')
    # The cluster comes from PMIx alone; the rsh agent finds the namespaces by the tag.
    unset AETHER_NODE_ID AETHER_NODE_COUNT AETHER_PEERS AETHER_SECRET AETHER_LISTEN_FD
    hosts_tmp=$(mktemp -d)
    mkdir -p "$hosts_tmp/h0"
    ON_HOSTS_TAG=$tag ON_HOSTS_TMP=$hosts_tmp TMPDIR=$hosts_tmp/h0 timeout 240 ip netns exec "${tag}h0" mpirun --allow-run-as-root --bind-to none \
        --mca plm_rsh_agent "$self --rsh-agent" --host "$hosts" -n "$count" "$@" || status=$?
    exit "$status"
fi
# shellcheck disable=SC2086 # the options are words
"$aether_run" -n "$count" --base-port 7000 $options -- "$self" --node "${tag}h" "$peers" -- "$@" || status=$?
exit "$status"
