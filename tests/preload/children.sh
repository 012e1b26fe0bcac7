#!/bin/sh
# children.sh SCENARIO AETHER_RUN [ARGS]: a program that starts children, run as a node with the
# preload heap (AETHER_HEAP=1), must print what it prints without Aether.
#   pipeline: sh -c 'gzip -c FILE | wc -c' (the shell forks the pipeline's commands)
#   python PY_SCRIPT: python3 running PY_SCRIPT (its last line of output is compared)
set -u
scenario=$1
run=$2
work=$(mktemp -d /tmp/aether-children.XXXXXX)
trap 'rm -rf "$work"' EXIT

# What a node printed: aether-run prefixes each line with the node id.
as_node() { AETHER_HEAP=1 "$run" -n 1 --preload --timeout 120 -- "$@" 2> "$work/stderr" | sed 's/^\[node 0\] //'; }

case $scenario in
pipeline)
    seq 1 50000 > "$work/input"
    want=$(sh -c "gzip -c $work/input | wc -c")
    got=$(as_node sh -c "gzip -c $work/input | wc -c")
    ;;
python)
    # The interpreter that runs under LD_PRELOAD: the system one (a pyenv shim is a script that
    # execs the interpreter, which then runs as an exec'd child, not as the node).
    py=/usr/bin/python3
    [ -x "$py" ] || py=$(command -v python3) || { echo "no python3: skipped"; exit 77; }
    want=$("$py" "$3" | tail -n 1)
    got=$(as_node "$py" "$3" | tail -n 1)
    ;;
*)
    echo "children.sh: unknown scenario $scenario" >&2
    exit 2
    ;;
esac
cat "$work/stderr" >&2
echo "without Aether: $want"
echo "as a node with the preload heap: $got"
[ -n "$want" ] && [ "$want" = "$got" ]
