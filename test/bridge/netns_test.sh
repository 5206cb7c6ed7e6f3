#!/bin/bash
# `shmring bridge` between two network namespaces joined by a veth pair, as between two hosts:
# runs bridge_test.sh with `out` and the producer in one namespace and `in` and the consumer in the
# other (all in this IPC namespace). Needs root and iproute2; .ci/run runs it outside Bazel's
# sandbox after the build.
#
# Usage: netns_test.sh PATH/TO/shmring PATH/TO/bridge_peer
set -u
here=$(dirname "$(readlink -f "$0")")
if [ "$(id -u)" != 0 ] || ! command -v ip >/dev/null; then
    echo "netns_test: needs root and ip (iproute2)" >&2
    exit 1
fi
A=shmring-bt-a-$$
B=shmring-bt-b-$$
cleanup() {
    ip netns del "$A" 2>/dev/null
    ip netns del "$B" 2>/dev/null
}
trap cleanup EXIT
set -e
ip netns add "$A"
ip netns add "$B"
ip link add "va$$" netns "$A" type veth peer name "vb$$" netns "$B"
ip -n "$A" addr add 10.213.0.1/24 dev "va$$"
ip -n "$B" addr add 10.213.0.2/24 dev "vb$$"
ip -n "$A" link set "va$$" up
ip -n "$B" link set "vb$$" up
ip -n "$A" link set lo up
ip -n "$B" link set lo up
ip -n "$A" route get 10.213.0.2 >/dev/null # the route is there (no ping on a minimal machine)
set +e
"$here/bridge_test.sh" "$1" "$2" 10.213.0.1 10.213.0.2 "$A" "$B"
