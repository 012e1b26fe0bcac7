#!/bin/sh
# Starts Aether nodes with Open MPI's mpirun, which runs a PMIx server: no AETHER_* variable
# describes the cluster. Usage: mpirun.sh api PROGRAM [ARGS] | preload PRELOAD_LIB WRITER READER
# Skips (77) when mpirun is not installed.
set -eu
command -v mpirun >/dev/null 2>&1 || { echo "SKIP: mpirun not found (Debian: openmpi-bin)"; exit 77; }
# The cluster must come from PMIx alone.
unset AETHER_NODE_ID AETHER_NODE_COUNT AETHER_PEERS AETHER_SECRET AETHER_LISTEN_FD || true
# More ranks than CPUs is fine here; root must be allowed explicitly (CI runs as root).

opts="--oversubscribe --bind-to none"
[ "$(id -u)" = 0 ] && opts="$opts --allow-run-as-root"
mode=$1
shift
case $mode in
api)
    exec timeout 120 mpirun $opts -n 3 "$@"
    ;;
preload)
    lib=$1 writer=$2 reader=$3
    dir=$(mktemp -d)
    trap 'rm -rf "$dir"' EXIT
    # Two different unmodified programs, one job (MPMD): rank 0 writes a list, rank 1 reads it.
    # mpirun's -x applies to the application context it is in, so each gets its own.
    env="-x LD_PRELOAD=$lib -x AETHER_HEAP=1"
    timeout 120 mpirun $opts -n 1 $env "$writer" "$dir/head" "$dir/done" : -n 1 $env "$reader" "$dir/head" "$dir/done"
    ;;
*)
    echo "usage: $0 api PROGRAM [ARGS] | preload LIB WRITER READER" >&2
    exit 2
    ;;
esac
