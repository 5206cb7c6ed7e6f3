#!/bin/bash
# Tests of `shmring bridge` (tools/shmring/bridge.c) over TCP on one host:
#   producer -> ring A -> bridge out -> tcp -> bridge in -> ring B -> consumer
#   - 1e6 records (SHMRING_BRIDGE_RECORDS overrides) byte-exact, in order, end of stream: all exit 0
#   - back-pressure: a small far ring and a slow consumer; nothing dropped
#   - MPMC rings at both ends
#   - kill -9 of `out`, of `in`, of the producer: every live process on the path ends with status 3
#     ("peer died") within the bound, none hangs; the consumer sees the death (not an end of stream)
#   - usage errors (status 2) and a missing ring (status 1)
# Every wait is bounded by wall time. Run in a private IPC namespace (Bazel's sandbox) or with
# unique ring names (NS below): at the end no ring of this test is left.
#
# Usage: bridge_test.sh PATH/TO/shmring PATH/TO/bridge_peer [HOST_A HOST_B NETNS_A NETNS_B]
# With the last four arguments (test/bridge/netns_test.sh passes them), `out` and the producer run
# in network namespace NETNS_A and `in` and the consumer in NETNS_B, `in` binding HOST_B.
set -u

TOOL=$(readlink -f "$1")
PEER=$(readlink -f "$2")
BIND_HOST=${4:-127.0.0.1}
NS_A=${5:-}
NS_B=${6:-}
N=${SHMRING_BRIDGE_RECORDS:-1000000}
T=${TEST_TMPDIR:-$(mktemp -d)}
NS=bt$$ # ring name prefix
fails=0
checks=0

fail() {
    echo "FAIL: $*"
    fails=$((fails + 1))
}

in_ns() { # in_ns NETNS CMD...: runs CMD in that network namespace (or here if NETNS is empty)
    local ns=$1
    shift
    # exec: the background job's pid is the program's own (kill -9 reaches it)
    if [ -n "$ns" ]; then exec ip netns exec "$ns" "$@"; else exec "$@"; fi
}

# wait_pid PID SECONDS: waits for a background child; sets st (its status, or "hung" after killing it).
wait_pid() {
    local pid=$1 limit=$2 t=0
    while kill -0 "$pid" 2>/dev/null && [ "$(ps -o stat= -p "$pid" 2>/dev/null | cut -c1)" != Z ]; do
        sleep 0.1
        t=$((t + 1))
        if [ "$t" -ge $((limit * 10)) ]; then
            kill -9 "$pid" 2>/dev/null
            wait "$pid" 2>/dev/null
            st=hung
            return
        fi
    done
    wait "$pid"
    st=$?
}

# expect_status NAME PID WANT SECONDS
expect_status() {
    checks=$((checks + 1))
    wait_pid "$2" "$4"
    if [ "$st" != "$3" ]; then
        fail "$1: status $st, expected $3; its stderr: $(cat "$T/$1.err" 2>/dev/null | tail -3)"
    fi
}

# start_path TAG KIND CAPACITY N PRODUCER_PAUSE CONSUMER_PAUSE: creates rings, starts the four
# processes (pids in P_IN P_CONS P_OUT P_PROD); files $T/TAG-*.err/out.
start_path() {
    local tag=$1 kind=$2 cap=$3 n=$4 ppause=$5 cpause=$6 a=$NS-$1-a b=$NS-$1-b opts
    if [ "$kind" = mpmc ]; then opts="--kind mpmc --capacity $cap --slot-size 256"; else opts="--capacity $cap"; fi
    "$TOOL" create "$a" $opts || fail "$tag: create $a"
    "$TOOL" create "$b" $opts || fail "$tag: create $b"
    rm -f "$T/$tag.ep"
    in_ns "$NS_B" "$TOOL" bridge in "@tcp://$BIND_HOST:*" "$b" --endpoint-file "$T/$tag.ep" --timeout 60 \
        2>"$T/$tag-in.err" &
    P_IN=$!
    in_ns "$NS_B" "$PEER" consume "$b" "$n" "$cpause" >"$T/$tag-cons.out" 2>"$T/$tag-cons.err" &
    P_CONS=$!
    for _ in $(seq 300); do [ -s "$T/$tag.ep" ] && break; sleep 0.1; done # 30 s: a loaded machine
    if [ ! -s "$T/$tag.ep" ]; then
        fail "$tag: bridge in wrote no endpoint: $(cat "$T/$tag-in.err")"
        kill -9 $P_IN $P_CONS 2>/dev/null
        echo "$checks checks, $fails failed"
        exit 1
    fi
    in_ns "$NS_A" "$TOOL" bridge out "$a" "$(cat "$T/$tag.ep")" --timeout 60 2>"$T/$tag-out.err" &
    P_OUT=$!
    in_ns "$NS_A" "$PEER" produce "$a" "$n" "$ppause" >"$T/$tag-prod.out" 2>"$T/$tag-prod.err" &
    P_PROD=$!
}

remove_rings() {
    "$TOOL" rm "$NS-$1-a" "$NS-$1-b" 2>/dev/null
}

# wait_progress TAG COUNT SECONDS: until ring B's consumer has taken COUNT records
# (its count in `shmring stat --json`).
wait_progress() {
    local tag=$1 want=$2 limit=$3 t=0 got
    while :; do
        got=$("$TOOL" stat --json "$NS-$tag-b" 2>/dev/null |
            /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["consumer"]["count"])' 2>/dev/null)
        [ -n "$got" ] && [ "$got" -ge "$want" ] && return 0
        sleep 0.1
        t=$((t + 1))
        [ "$t" -ge $((limit * 10)) ] && { fail "$tag: no progress to $want records in ${limit}s (at ${got:-?})"; return 1; }
    done
}

# --- 1. a long stream, byte-exact ------------------------------------------------------------------
start_path exact spsc 1M "$N" 0 0
t0=$(date +%s.%N)
expect_status exact-prod $P_PROD 0 600
expect_status exact-out $P_OUT 0 120
expect_status exact-in $P_IN 0 120
expect_status exact-cons $P_CONS 0 120
t1=$(date +%s.%N)
grep -q "^received $N\$" "$T/exact-cons.out" || fail "exact: consumer: $(cat "$T/exact-cons.out")"
echo "exact: $N records in $(echo "$t1 - $t0" | bc) s"
remove_rings exact

# run_clean TAG KIND CAPACITY N PRODUCER_PAUSE CONSUMER_PAUSE LIMIT: the path ends cleanly within
# LIMIT seconds (status 0 everywhere) with all N records received.
run_clean() {
    start_path "$1" "$2" "$3" "$4" "$5" "$6"
    expect_status "$1-prod" $P_PROD 0 "$7"
    expect_status "$1-out" $P_OUT 0 60
    expect_status "$1-in" $P_IN 0 60
    expect_status "$1-cons" $P_CONS 0 60
    grep -q "^received $4\$" "$T/$1-cons.out" || fail "$1: consumer: $(cat "$T/$1-cons.out")"
    remove_rings "$1"
}

# --- 2. back-pressure: the far ring holds 4 KiB and its consumer pauses ---------------------------
run_clean slow spsc 4K 20000 0 2000 120

# --- 3. MPMC rings at both ends ---------------------------------------------------------------------
run_clean mpmc mpmc 256 100000 0 0 300

# --- 4. deaths: every live process on the path ends with 3 -----------------------------------------
# run_death TAG VICTIM SAYS: kills process VICTIM (out, in or prod) mid-stream; every other process
# on the path must end with status 3 within 30 s; SAYS (a process tag, or empty) must have printed
# "peer died".
run_death() {
    local tag=$1 victim=$2 says=$3 p
    start_path "$tag" spsc 64K 100000000 0 0
    wait_progress "$tag" 10000 60
    case $victim in out) p=$P_OUT ;; in) p=$P_IN ;; prod) p=$P_PROD ;; esac
    kill -9 "$p"
    wait "$p" 2>/dev/null
    [ "$victim" = out ] || expect_status "$tag-out" $P_OUT 3 30
    [ "$victim" = in ] || expect_status "$tag-in" $P_IN 3 30
    [ "$victim" = prod ] || expect_status "$tag-prod" $P_PROD 3 30
    expect_status "$tag-cons" $P_CONS 3 30
    if [ -n "$says" ]; then
        grep -q "peer died" "$T/$tag-$says.err" || fail "$tag: bridge $says did not say 'peer died': $(cat "$T/$tag-$says.err")"
    fi
    remove_rings "$tag"
}
# `out` dies: `in` reports peer died; the consumer sees a producer death; the producer loses its
# consumer.
run_death kout out in
# `in` dies: `out` reports peer died, the producer and the consumer learn of it.
run_death kin in out
# The producer dies: `out` tells the far side ('X'); both bridges and the consumer end with 3.
run_death kprod prod ""

# --- 5. usage and missing rings ----------------------------------------------------------------------
try() { # try WANT CMD...
    local want=$1
    shift
    checks=$((checks + 1))
    timeout 30 "$@" >/dev/null 2>"$T/try.err"
    local rc=$?
    [ "$rc" = "$want" ] || fail "'$*' exited $rc, expected $want: $(cat "$T/try.err")"
    [ -s "$T/try.err" ] || [ "$want" = 0 ] || fail "'$*': no message on stderr"
}
try 0 "$TOOL" bridge --help
try 2 "$TOOL" bridge
try 2 "$TOOL" bridge sideways r tcp://127.0.0.1:1
try 2 "$TOOL" bridge out r not-an-endpoint
try 2 "$TOOL" bridge out r tcp://127.0.0.1:1 --hwm zero
try 1 "$TOOL" bridge out "$NS-nosuchring" tcp://127.0.0.1:1
"$TOOL" create "$NS-t" --capacity 4K >/dev/null
try 1 "$TOOL" bridge out "$NS-t" tcp://127.0.0.1:1 --timeout 0.5
try 1 "$TOOL" bridge in "@tcp://256.0.0.1:1" "$NS-t"
"$TOOL" rm "$NS-t"

left=$("$TOOL" ls 2>/dev/null | grep -c "$NS-" || true)
[ "$left" = 0 ] || fail "$left rings of this test left: $("$TOOL" ls)"

echo "$checks checks, $fails failed"
[ "$fails" = 0 ]
