#!/usr/bin/env bash
# Checks the Promela model of the directory protocol (runtime/directory.pml) with spin.
#
#   tests/model/check_model.sh CHECK [MODEL]
#
# CHECK is one of
#   safety                  assertions (single writer / many readers, the data-value invariant,
#                           the home idle at the end) and invalid end states (deadlock), exhaustive
#   liveness                the LTL property `answered` (every request is answered or VOID), built
#                           with -DLIVENESS, acceptance cycles (pan -a), exhaustive
#   late_deadline           safety with -DLATE_DEADLINE: the home's deadline for an invalidation
#                           may pass while it is still on its way or being answered (late
#                           messages: a recall held back across a cut), exhaustive
#   bug_grant_before_acks   the model with an injected bug: a round completes with an
#   bug_ignore_epoch        acknowledgement still out / a grant that crossed an invalidation is
#   bug_ignore_given_up     installed / the home takes an owner's empty answer (or its request)
#                           for "it never wrote" after the answer with its bytes was lost. These
#                           pass only when spin DOES report a violation, and show its
#                           counterexample.
#   bug_drop_late_owner_answer, bug_stale_invalidation
#                           late_deadline with the code as it was before the late-message fixes:
#                           the owner's late answer to a recall is dropped / a late invalidation
#                           takes a copy granted after it was sent. Must report a violation.
#
# MODEL defaults to $MODEL, then runtime/directory.pml next to this script. MODEL_DEFS adds spin
# -D options (other parameters, e.g. MODEL_DEFS="-DOPS1=2 -DREORDER"), PAN_DEPTH (default
# 100000) and MEMLIM (MB, default 1024; 3072 for late_deadline) bound the search; a search that hits either bound fails.
# Exit status: 0 the check passed, 1 it failed, 2 usage, 77 spin or a C compiler is missing.
set -u

check=${1:-}
case "$0" in
*/*) here=$(cd "${0%/*}" && pwd) ;;
*) here=$(pwd) ;;
esac
model=${2:-${MODEL:-$here/../../runtime/directory.pml}}
depth=${PAN_DEPTH:-100000}
memlim=${MEMLIM:-}
cc=${CC:-cc}

expect=pass
spin_defs=()
cc_defs=(-DSAFETY)
pan_args=()
case "$check" in
safety) ;;
liveness)
    spin_defs=(-DLIVENESS)
    cc_defs=(-DNFAIR=3)
    pan_args=(-a -N answered)
    ;;
bug_grant_before_acks)
    spin_defs=(-DBUG_GRANT_BEFORE_ACKS)
    expect=violation
    ;;
bug_ignore_epoch)
    spin_defs=(-DBUG_IGNORE_EPOCH)
    expect=violation
    ;;
bug_ignore_given_up)
    spin_defs=(-DBUG_IGNORE_GIVEN_UP)
    expect=violation
    ;;
late_deadline)
    spin_defs=(-DLATE_DEADLINE)
    memlim=${memlim:-3072} # 8.0 million states: about 1.45 GB
    ;;
bug_drop_late_owner_answer)
    spin_defs=(-DLATE_DEADLINE -DBUG_DROP_LATE_OWNER_ANSWER)
    expect=violation
    ;;
bug_stale_invalidation)
    spin_defs=(-DLATE_DEADLINE -DBUG_STALE_INVALIDATION)
    expect=violation
    ;;
*)
    echo "usage: $0 safety|liveness|late_deadline|bug_grant_before_acks|bug_ignore_epoch|bug_ignore_given_up|bug_drop_late_owner_answer|bug_stale_invalidation [MODEL]" >&2
    exit 2
    ;;
esac
memlim=${memlim:-1024}
# shellcheck disable=SC2206 # MODEL_DEFS is a list of options
spin_defs+=(${MODEL_DEFS:-})

if ! command -v spin >/dev/null 2>&1; then
    echo "SKIP: spin is not installed (Debian package 'spin')"
    exit 77
fi
if ! command -v "$cc" >/dev/null 2>&1; then
    echo "SKIP: no C compiler ($cc) to build spin's verifier"
    exit 77
fi
if [ ! -r "$model" ]; then
    echo "FAIL: no model at $model" >&2
    exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp "$model" "$tmp/directory.pml"
cd "$tmp" || exit 1

echo "check $check: spin ${spin_defs[*]} -a $(basename "$model")"
start=$(date +%s%N)
if ! spin "${spin_defs[@]}" -a directory.pml >spin.log 2>&1; then
    cat spin.log
    echo "FAIL: spin could not generate the verifier" >&2
    exit 1
fi
# (-w: gcc's bounds warnings on the generated code are noise)
if ! "$cc" -w -O2 "${cc_defs[@]}" -DMEMLIM="$memlim" -DCOLLAPSE -o pan pan.c >cc.log 2>&1; then
    cat cc.log
    echo "FAIL: the verifier did not compile" >&2
    exit 1
fi
./pan -m"$depth" "${pan_args[@]}" >pan.out 2>&1
pan_rc=$?
end=$(date +%s%N)

errors=$(sed -n 's/.*errors: \([0-9][0-9]*\).*/\1/p' pan.out | tail -1)
stored=$(sed -n 's/^ *\([0-9.e+]*\) states, stored.*/\1/p' pan.out | tail -1)
reached=$(sed -n 's/.*depth reached \([0-9]*\).*/\1/p' pan.out | tail -1)
pan_time=$(sed -n 's/^pan: elapsed time \(.*\) seconds.*/\1/p' pan.out | tail -1)
ms=$(((end - start) / 1000000))
printf 'states stored %s, depth reached %s, errors %s, pan %s s, total (spin + cc + pan) %d.%01d s\n' \
    "${stored:-?}" "${reached:-?}" "${errors:-?}" "${pan_time:-?}" $((ms / 1000)) $((ms % 1000 / 100))

truncated=
grep -q 'max search depth too small' pan.out && truncated="the search depth bound -m$depth was reached (PAN_DEPTH)"
grep -qE 'reached -DMEMLIM bound|out of memory' pan.out && truncated="the memory bound (MEMLIM=$memlim MB) was reached"

if [ -z "$errors" ]; then
    cat pan.out
    echo "FAIL: could not read pan's result (exit $pan_rc)" >&2
    exit 1
fi

trail_summary() {
    grep -E '^pan:[0-9]+:|assertion violated|acceptance cycle' pan.out | head -3
    echo "--- counterexample (spin -t -c: the messages, then the final copies) ---"
    spin "${spin_defs[@]}" -t -c directory.pml 2>&1 | sed -n '/^q\\p/,/trail ends/p' | head -60
    echo "(cst[2n+p], cval[2n+p]: node n's copy of page p, 0 invalid 1 shared 2 exclusive 3 frozen 4 void;"
    echo " last[p]: the last completed write; st/owner/shr/hval: the home's entry)"
    spin "${spin_defs[@]}" -t -c directory.pml 2>&1 |
        grep -E '^[[:space:]]+(cst|cval|last|st|owner|shr|hval)\[' | tr -s '\t ' ' ' | paste -sd' ' | fmt -w 100
}

if [ "$expect" = pass ]; then
    if [ "$errors" != 0 ]; then
        trail_summary
        echo "FAIL: $check: spin found $errors error(s)" >&2
        exit 1
    fi
    if [ -n "$truncated" ] || grep -q 'Search not completed' pan.out; then
        cat pan.out
        echo "FAIL: $check: the search was not exhaustive: ${truncated:-pan says 'Search not completed'}" >&2
        exit 1
    fi
    echo "PASS: $check: exhaustive, no violation"
    exit 0
fi

# An injected bug: the check passes only when spin reports the violation.
if [ "$errors" != 0 ]; then
    trail_summary
    echo "PASS: $check: spin caught the injected bug"
    exit 0
fi
[ -n "$truncated" ] && echo "($truncated)"
echo "FAIL: $check: spin found no violation although the bug is injected" >&2
exit 1
