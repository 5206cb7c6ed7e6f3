#!/bin/bash
# What `shmring bridge` costs beside raw ZeroMQ on the same link, in one run:
#   bridge: producer -> ring -> shmring bridge out -> tcp -> shmring bridge in -> ring -> consumer
#   raw:    zmq_peer push -> tcp -> zmq_peer pull
# N records (default 1000000) of 8..200 bytes (mean 104), checked byte for byte at the far end;
# each path 3 times, interleaved; prints each run and the medians, and the ratio bridge / raw.
# The rate is records from the producer's start to the consumer's end (process start-up included,
# a few ms). Over 127.0.0.1 by default; HOST=... to bind another address.
#   bazel run //bench:bridge_bench [-- N]
# Runs in the machine's IPC namespace (bazel run): its rings are named bb<pid>-* and removed.
set -u
TOOL=$(readlink -f "$1")
PEER=$(readlink -f "$2")
ZPEER=$(readlink -f "$3")
N=${4:-1000000}
HOST=${HOST:-127.0.0.1}
T=$(mktemp -d)
trap 'rm -rf "$T"; "$TOOL" rm bb$$-a bb$$-b 2>/dev/null' EXIT
now() { date +%s.%N; }

port() { # a free TCP port: ask the kernel, via python3's bind to port 0
    /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("'"$HOST"'",0)); print(s.getsockname()[1])'
}

run_raw() {
    local ep="tcp://$HOST:$(port)" t0 t1 pull
    t0=$(now)
    "$ZPEER" pull "$ep" "$N" &
    pull=$!
    "$ZPEER" push "$ep" "$N" || return 1
    wait $pull || return 1
    t1=$(now)
    echo "$t0 $t1" | awk -v n="$N" '{printf "%.3f\n", n / ($2 - $1) / 1e6}'
}

run_bridge() {
    local a=bb$$-a b=bb$$-b t0 t1 cons pin pout
    "$TOOL" create $a --capacity 1M && "$TOOL" create $b --capacity 1M || return 1
    rm -f "$T/ep"
    t0=$(now)
    "$TOOL" bridge in "@tcp://$HOST:*" $b --endpoint-file "$T/ep" --timeout 30 &
    pin=$!
    "$PEER" consume $b "$N" >/dev/null &
    cons=$!
    while [ ! -s "$T/ep" ]; do sleep 0.005; done
    "$TOOL" bridge out $a "$(cat "$T/ep")" --timeout 30 &
    pout=$!
    "$PEER" produce $a "$N" >/dev/null || return 1
    wait $cons || return 1
    t1=$(now)
    wait $pout $pin
    "$TOOL" rm $a $b
    echo "$t0 $t1" | awk -v n="$N" '{printf "%.3f\n", n / ($2 - $1) / 1e6}'
}

median() { sort -g | sed -n 2p; }
echo "bridge bench: $N records of 8..200 B (mean 104) over tcp://$HOST, $(nproc) CPUs, $(date -u +%FT%TZ)"
: >"$T/raw"
: >"$T/bridge"
for i in 1 2 3; do
    r=$(run_raw) || { echo "raw run failed" >&2; exit 1; }
    b=$(run_bridge) || { echo "bridge run failed" >&2; exit 1; }
    echo "run $i: raw zmq $r M rec/s, bridge $b M rec/s"
    echo "$r" >>"$T/raw"
    echo "$b" >>"$T/bridge"
done
r=$(median <"$T/raw")
b=$(median <"$T/bridge")
echo "median: raw zmq $r M rec/s, bridge $b M rec/s, bridge/raw $(echo "$b $r" | awk '{printf "%.2f", $1 / $2}')"
