#!/bin/sh
# Smoke test of spsc_bench: a --quick run exits 0 and prints a SUMMARY line with every key; runs
# with --inject-fault fail with status 1 (the verification works: SPSC, and each kind of MPMC
# measurement); SIGINT during an MPMC measurement stops the run with status 130; a bad flag exits 2;
# no run leaves a System V object behind (under `bazel test` the sandbox gives us our own IPC
# namespace, so anything in /proc/sysvipc is ours). No figure is asserted.
set -u
bench=$1
fail=0
out=${TEST_TMPDIR:-/tmp}/spsc_bench.out

ipc_objects() {
    n=0
    for f in /proc/sysvipc/shm /proc/sysvipc/sem /proc/sysvipc/msg; do
        [ -r "$f" ] || continue
        n=$((n + $(($(wc -l <"$f") - 1))))
    done
    echo "$n"
}

check_ipc() {
    left=$(ipc_objects)
    if [ "$left" != "$before" ]; then
        echo "FAIL: $1 left System V objects behind ($before before, $left after):"
        cat /proc/sysvipc/shm /proc/sysvipc/sem /proc/sysvipc/msg
        fail=1
    fi
}

before=$(ipc_objects)

"$bench" --quick >"$out" 2>&1
rc=$?
cat "$out"
if [ $rc -ne 0 ]; then
    echo "FAIL: spsc_bench --quick exited $rc"
    fail=1
fi
summary=$(grep '^SUMMARY ' "$out")
if [ -z "$summary" ]; then
    echo "FAIL: no SUMMARY line"
    fail=1
fi
for key in cl_rtt_p50_ns spsc_rtt_p50_ns spsc_rtt_ratio pipe_rtt_p50_ns stream64_mrps_batched \
    stream64_mrps_unbatched stream4k_gbps_stamp stream4k_gbps_fill mpmc_rtt_p50_ns mpmc_rtt_ratio \
    mpmc_stream64_mrps_batched mpmc_stream64_mrps_unbatched mpmc_2x2_mrps; do
    case " $summary " in
    *" $key="[0-9]*) ;;
    *)
        echo "FAIL: SUMMARY lacks $key=<number>"
        fail=1
        ;;
    esac
done
check_ipc "spsc_bench --quick"

"$bench" --quick --inject-fault >"$out" 2>&1
rc=$?
if [ $rc -ne 1 ]; then
    cat "$out"
    echo "FAIL: spsc_bench --quick --inject-fault exited $rc, expected 1"
    fail=1
fi
check_ipc "spsc_bench --inject-fault"

# The MPMC measurements verify too. --iters makes sure the faulty record (the 1000th) is sent
# (mpmc: in each of its 10 blocks).
for t in mpmc ms64b m2x2; do
    "$bench" --quick --inject-fault --iters 20000 --tests "$t" >"$out" 2>&1
    rc=$?
    if [ $rc -ne 1 ]; then
        cat "$out"
        echo "FAIL: spsc_bench --quick --inject-fault --iters 20000 --tests $t exited $rc, expected 1"
        fail=1
    fi
    check_ipc "spsc_bench --inject-fault --tests $t"
done

# Ctrl-C in the middle of an MPMC measurement: named rings and four worker processes to clean up.
for t in mpmc m2x2; do
    "$bench" --quick --seconds 5 --tests "$t" >"$out" 2>&1 &
    pid=$!
    sleep 0.5
    kill -INT $pid
    wait $pid
    rc=$?
    if [ $rc -ne 130 ]; then
        cat "$out"
        echo "FAIL: spsc_bench --tests $t stopped by SIGINT exited $rc, expected 130"
        fail=1
    fi
    check_ipc "spsc_bench --tests $t stopped by SIGINT"
done

"$bench" --capacity 1000 >"$out" 2>&1
rc=$?
if [ $rc -ne 2 ]; then
    cat "$out"
    echo "FAIL: spsc_bench --capacity 1000 exited $rc, expected 2"
    fail=1
fi

"$bench" --mpmc-slots 100 >"$out" 2>&1
rc=$?
if [ $rc -ne 2 ]; then
    cat "$out"
    echo "FAIL: spsc_bench --mpmc-slots 100 exited $rc, expected 2"
    fail=1
fi

[ $fail -eq 0 ] && echo PASS
exit $fail
