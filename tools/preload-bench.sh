#!/bin/sh
# preload-bench.sh: wall time of three unmodified programs with and without the preload heap.
#
# Runs a Python json + sqlite3 workload, a Perl hash build and `sort` of a 300,000-line file, each
# plainly and under `aether-run -n 1 --preload` with AETHER_HEAP=1, checks that both produce the
# same output, and prints the median wall time of each over several runs and their ratio.
#
#   tools/preload-bench.sh [-r RUNS] [-b BUILD_DIR] [-o PROGRAM] [-c] [-q]
#
#   -r RUNS       timed runs per program and setting (default 5)
#   -b BUILD_DIR  where aether-run and libaether_preload.so were built (default: build)
#   -o PROGRAM    only this program: python, perl or sort
#   -c            check only: one run of each, compare the outputs, no timing
#   -q            smaller inputs (20,000 rows, 100,000 keys; the test suite runs -c -q)
#
# Timing runs hold /tmp/aether-bench.lock (flock), so two benchmarks on a shared machine never
# overlap; the check-only mode does not take it.
set -eu

runs=5
build=build
only=
check_only=0
rows=200000
keys=1000000
while getopts r:b:o:cq opt; do
    case $opt in
    r) runs=$OPTARG ;;
    b) build=$OPTARG ;;
    o) only=$OPTARG ;;
    c) check_only=1 ;;
    q) rows=20000 keys=100000 ;;
    *) sed -n '9,15p' "$0" >&2; exit 2 ;;
    esac
done

run_tool=${AETHER_RUN:-$build/tools/aether-run/aether-run}
AETHER_PRELOAD_LIB=${AETHER_PRELOAD_LIB:-$build/runtime/preload/libaether_preload.so}
export AETHER_PRELOAD_LIB
# The interpreter that runs under LD_PRELOAD: the system one (a pyenv shim is a bash script that
# execs the real interpreter, which then runs as an exec'd child, not as the node).
python=${AETHER_BENCH_PYTHON:-/usr/bin/python3}
for f in "$run_tool" "$AETHER_PRELOAD_LIB"; do
    if [ ! -e "$f" ]; then
        echo "preload-bench: $f not found (build first, or pass -b)" >&2
        exit 2
    fi
done

work=$(mktemp -d /tmp/preload-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT INT TERM

# ---- the workloads --------------------------------------------------------------------------------

cat > "$work/json_sqlite.py" <<'EOF'
# 200,000 rows through json and sqlite3: building dicts and strings, parsing, inserting, querying.
import json, sqlite3, sys
n = int(sys.argv[1])
rows = [{"id": i, "name": "user%d" % i, "score": (i * 7919) % 1000,
         "tags": ["t%d" % (i % 7), "g%d" % (i % 13)]} for i in range(n)]
text = json.dumps(rows)
back = json.loads(text)
db = sqlite3.connect(":memory:")
db.execute("create table t (id integer primary key, name text, score integer, tags text)")
db.executemany("insert into t values (?, ?, ?, ?)",
               ((r["id"], r["name"], r["score"], json.dumps(r["tags"])) for r in back))
db.commit()
with open(sys.argv[2], "w") as out:
    print(len(text), file=out)
    for row in db.execute("select score % 10, count(*), sum(score) from t group by 1 order by 1"):
        print(row, file=out)
    print(db.execute("select count(*), max(length(tags)) from t where name like 'user1%'").fetchone(), file=out)
    print(json.dumps(db.execute("select * from t order by score desc, id limit 3").fetchall()), file=out)
EOF

cat > "$work/hash_build.pl" <<'EOF'
# A hash of 1,000,000 keys with string values, then a pass over it.
use strict;
my ($n, $out) = @ARGV;
my %h;
for my $i (1 .. $n) { $h{"key$i"} = ("v" x ($i % 17)) . $i; }
my ($sum, $longest) = (0, 0);
for my $k (keys %h) { my $l = length $h{$k}; $sum += $l; $longest = $l if $l > $longest; }
open(my $fh, '>', $out) or die;
print $fh scalar(keys %h), " $sum $longest $h{key4242}\n";
close $fh;
EOF

# 300,000 lines of pseudo-random words (a fixed seed: the same file every run).
perl -e 'srand(42); my @w = map { join "", map { chr(97 + int rand 26) } 1 .. 3 + int rand 8 } 1 .. 5000;
         for (1 .. 300000) { print join(" ", map { $w[int rand @w] } 1 .. 1 + int rand 6), "\n" }' > "$work/lines.txt"

# prog NAME OUTFILE: the command line of one workload, writing its result to OUTFILE.
prog() {
    case $1 in
    python) echo "$python $work/json_sqlite.py $rows $2" ;;
    perl) echo "perl $work/hash_build.pl $keys $2" ;;
    sort) echo "sort -o $2 $work/lines.txt" ;;
    esac
}

now_ns() { date +%s%N; }

# run_once NAME MODE OUTFILE: runs the workload plainly (MODE plain) or as a node with the preload
# heap (MODE aether); prints its wall time in ms. A failed run stops the benchmark.
run_once() {
    cmd=$(prog "$1" "$3")
    t0=$(now_ns)
    if [ "$2" = plain ]; then
        # shellcheck disable=SC2086 # the command line is split into words on purpose
        LC_ALL=C $cmd > "$work/log" 2>&1 || { cat "$work/log" >&2; echo "preload-bench: $1 failed plainly" >&2; exit 1; }
    else
        # shellcheck disable=SC2086
        LC_ALL=C AETHER_HEAP=1 "$run_tool" -n 1 --preload --timeout 600 -- $cmd > "$work/log" 2>&1 ||
            { cat "$work/log" >&2; echo "preload-bench: $1 failed under the preload heap" >&2; exit 1; }
    fi
    t1=$(now_ns)
    echo $(((t1 - t0) / 1000000))
}

median() { tr ' ' '\n' | sed '/^$/d' | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : int((v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }

programs=
for p in ${only:-python perl sort}; do
    case $p in
    python) tool=$python ;;
    *) tool=$p ;;
    esac
    if command -v "$tool" > /dev/null 2>&1; then
        programs="$programs $p"
    else
        echo "preload-bench: $tool not found: $p left out" >&2
    fi
done
[ -n "$programs" ] || exit 77 # nothing to run (77: a test that cannot run here is skipped)
status=0

if [ "$check_only" = 1 ]; then
    for p in $programs; do
        run_once "$p" plain "$work/$p.plain" > /dev/null
        run_once "$p" aether "$work/$p.aether" > /dev/null
        if cmp -s "$work/$p.plain" "$work/$p.aether"; then
            echo "$p: same output under the preload heap ($(wc -c < "$work/$p.plain") bytes)"
        else
            echo "$p: OUTPUT DIFFERS under the preload heap" >&2
            diff "$work/$p.plain" "$work/$p.aether" | head -20 >&2 || true
            status=1
        fi
    done
    exit $status
fi

# The timed part: one benchmark on the machine at a time.
exec 9> /tmp/aether-bench.lock
flock 9
printf '%-8s %6s %12s %12s %7s\n' program runs "plain ms" "aether ms" ratio
for p in $programs; do
    plain_times=
    aether_times=
    i=0
    while [ $i -lt "$runs" ]; do
        # Alternate the settings so a slow spell of the machine hits both alike.
        plain_times="$plain_times $(run_once "$p" plain "$work/$p.plain")"
        aether_times="$aether_times $(run_once "$p" aether "$work/$p.aether")"
        if ! cmp -s "$work/$p.plain" "$work/$p.aether"; then
            echo "preload-bench: $p: output differs under the preload heap" >&2
            diff "$work/$p.plain" "$work/$p.aether" | head -20 >&2 || true
            exit 1
        fi
        i=$((i + 1))
    done
    mp=$(echo "$plain_times" | median)
    ma=$(echo "$aether_times" | median)
    ratio=$(awk -v a="$ma" -v b="$mp" 'BEGIN { printf "%.2f", (b > 0) ? a / b : 0 }')
    printf '%-8s %6s %12s %12s %7s\n' "$p" "$runs" "$mp" "$ma" "${ratio}x"
    echo "  plain:$plain_times ms; aether:$aether_times ms" >&2
done
