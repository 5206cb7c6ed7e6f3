#!/usr/bin/env bash
# Model-checks the wake-up protocol (test/model/wakeup.pml) with spin: every configuration of the
# correct model must verify with no error, and every deliberately broken variant must be rejected
# with the violation it is meant to show. See test/model/README.md.
#
# Usage: test/model/check.sh [--long] [path/to/wakeup.pml]
#   --long   also two larger configurations (31.5 M and 48 M states: about 2 minutes more)
# Needs spin (Debian package `spin`, tools/setup installs it) and gcc on PATH.
# Exit status: 0 all as expected, 1 something was not, 2 cannot run (spin or gcc missing).
set -uo pipefail

long=0
model=""
for a in "$@"; do
    case $a in
    --long) long=1 ;;
    -h | --help)
        sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    *) model=$a ;;
    esac
done
if [[ -z $model ]]; then
    model="$(dirname "$0")/wakeup.pml"
fi
if [[ ! -r $model ]]; then
    echo "check.sh: error: cannot read the model $model" >&2
    exit 2
fi
for tool in spin gcc; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "check.sh: error: '$tool' not found on PATH (install the Debian package: tools/setup, or apt-get install $tool)" >&2
        exit 2
    fi
done

work=$(mktemp -d "${TEST_TMPDIR:-/tmp}/shmring-model.XXXXXX")
trap 'rm -rf "$work"' EXIT
cp "$model" "$work/wakeup.pml"

ok=0
bad=0

# Two runs at a time (results in $work/NAME.result, printed in order at the end).
names=()
run() {
    local name=$1
    names+=("$name")
    while (($(jobs -rp | wc -l) >= ${MODEL_JOBS:-2})); do
        wait -n
    done
    run1 "$@" >"$work/$name.result" 2>&1 &
}

# run1 NAME EXPECT DEFINES...
#   EXPECT: "verify", or "reject:TEXT" where TEXT must appear in spin's report of the violation.
run1() {
    local name=$1 expect=$2 dir="$work/$1" t0 t1 states errors violation
    shift 2
    mkdir -p "$dir"
    cp "$work/wakeup.pml" "$dir/"
    t0=$(date +%s%N)
    if ! (cd "$dir" && spin "$@" -a wakeup.pml >spin.log 2>&1); then
        echo "FAIL  $name: spin -a failed:"
        sed 's/^/      /' "$dir/spin.log"
        echo BAD
        return
    fi
    # -DSAFETY: safety properties only (assertions, end states); -DCOLLAPSE: compress states.
    if ! (cd "$dir" && gcc -O1 -DSAFETY -DCOLLAPSE -DVECTORSZ=2048 -o pan pan.c >gcc.log 2>&1); then
        echo "FAIL  $name: gcc pan.c failed:"
        sed 's/^/      /' "$dir/gcc.log"
        echo BAD
        return
    fi
    # -m: search depth; -w: hash table of 2^w slots. -E is NOT given: invalid end states count.
    (cd "$dir" && ./pan -m200000 -w24 >pan.log 2>&1)
    t1=$(date +%s%N)
    states=$(sed -nE 's/^ *([0-9.e+]+) states, stored.*/\1/p' "$dir/pan.log" | head -1)
    errors=$(sed -nE 's/.*errors: ([0-9]+).*/\1/p' "$dir/pan.log" | head -1)
    violation=$(grep -m1 -E '^pan:[0-9]+: ' "$dir/pan.log")
    local when
    when=$(printf '%s states, %.1f s' "${states:-?}" "$(echo "($t1 - $t0) / 1000000000" | bc -l)")
    if grep -q 'max search depth too small' "$dir/pan.log"; then
        echo "FAIL  $name ($*): search incomplete (max search depth too small)"
        echo BAD
        return
    fi
    if [[ -z $errors ]]; then
        echo "FAIL  $name ($*): pan did not finish:"
        tail -5 "$dir/pan.log" | sed 's/^/      /'
        echo BAD
        return
    fi
    case $expect in
    verify)
        if [[ $errors == 0 ]]; then
            echo "ok    $name: verified ($when) [$*]"
            echo OK
        else
            echo "FAIL  $name ($*): the correct model has an error: $violation"
            (cd "$dir" && spin "$@" -t -p -g wakeup.pml 2>&1 | tail -60 | sed 's/^/      /')
            echo BAD
        fi
        ;;
    reject:*)
        local want=${expect#reject:}
        if [[ $errors != 0 && $violation == *"$want"* ]]; then
            echo "ok    $name: rejected as it must be ($when): $violation"
            echo OK
        elif [[ $errors == 0 ]]; then
            echo "FAIL  $name ($*): this broken variant verified; spin must reject it ($want)"
            echo BAD
        else
            echo "FAIL  $name ($*): rejected for another reason than expected ($want): $violation"
            echo BAD
        fi
        ;;
    esac
}

LOST_C='!(((c_in_sem>0)&&'
BOUND='assertion violated (sem_'
EOS_C='!(((c_in_sem>0)&&(producers==0)))'

echo "=== spin $(spin -V 2>&1 | head -1 | sed 's/^Spin Version //'): the implemented protocol must verify, broken variants must be rejected"
run spsc-endings verify -DSPSC -DENDINGS -DCHECK_EOS
run spsc-close verify -DSPSC -DCHECK_EOS -DMAX_EINTR=2
run mpmc-1p1c-endings verify -DENDINGS -DCHECK_EOS
run mpmc-1p2c-endings verify -DNCONS=2 -DNMSG=2 -DENDINGS
run mpmc-1p2c-close verify -DNCONS=2 -DNMSG=2
run mpmc-2p1c-endings verify -DNPROD=2 -DNMSG=1 -DCAP=1 -DENDINGS -DCHECK_EOS
run mpmc-1p2c-eos verify -DNCONS=2 -DNMSG=2 -DENDINGS -DCHECK_EOS
if ((long)); then
    run long-mpmc-1p2c-3msg verify -DNCONS=2 -DNMSG=3 -DENDINGS
    run long-mpmc-2p1c-2msg verify -DNPROD=2 -DNMSG=2 -DCAP=1 -DENDINGS
fi

run broken-no-recheck "reject:in_sem>0" -DENDINGS -DBROKEN_NO_RECHECK
run broken-no-recheck-spsc "reject:in_sem>0" -DSPSC -DENDINGS -DBROKEN_NO_RECHECK
run broken-check-first "reject:in_sem>0" -DENDINGS -DBROKEN_CHECK_FIRST
run broken-no-baton "reject:$LOST_C" -DNCONS=2 -DNMSG=2 -DENDINGS -DBROKEN_NO_BATON
run broken-uncapped "reject:$BOUND" -DBROKEN_UNCAPPED

run broken-eos-no-baton "reject:$EOS_C" -DNCONS=2 -DNMSG=2 -DENDINGS -DCHECK_EOS -DBROKEN_EOS_NO_BATON

wait
for n in "${names[@]}"; do
    grep -v -E '^(OK|BAD)$' "$work/$n.result"
    if grep -qx OK "$work/$n.result" && ! grep -qx BAD "$work/$n.result"; then
        ok=$((ok + 1))
    else
        bad=$((bad + 1))
    fi
done
echo "model check: $ok as expected, $bad not"
((bad == 0))
