#!/bin/sh
# shmring_bench's command line: every bad value exits 2 with a message that names the option and
# says what was expected; --help exits 0 and lists every transport; nothing runs (no IPC object).
set -u
bench=$1
fail=0
err=${TEST_TMPDIR:-/tmp}/bench_args.err

# expect_bad "MESSAGE FRAGMENT" ARGS...: exit status 2, the fragment on stderr, nothing on stdout.
expect_bad() {
    want=$1
    shift
    out=$("$bench" "$@" 2>"$err")
    rc=$?
    if [ $rc -ne 2 ]; then
        echo "FAIL: '$*' exited $rc, expected 2"
        fail=1
    elif ! grep -qF -- "$want" "$err"; then
        echo "FAIL: '$*': stderr lacks '$want':"
        cat "$err"
        fail=1
    elif [ -n "$out" ]; then
        echo "FAIL: '$*' printed on stdout: $out"
        fail=1
    else
        echo "ok: '$*' -> 2: $(head -n 1 "$err")"
    fi
}

expect_bad "--size: expected" --size 7
expect_bad "--size: expected" --size 2M
expect_bad "--size: expected" --size 64,,128
expect_bad "--size: expected" --size abc
expect_bad "--size: expected" --size ""
expect_bad "--capacity: expected a power of two" --capacity 1000
expect_bad "--capacity: expected a power of two" --capacity 128
expect_bad "does not fit" --capacity 4K --size 8K
expect_bad "--batch: expected" --batch 0
expect_bad "--batch: expected" --batch 70000
expect_bad "--batch: expected" --batch 1,0
expect_bad "--batch: expected" --batch 1,,64
expect_bad "--batch: expected" --batch 64,abc
expect_bad "--batch: expected" --batch 1,2,3,4,5,6,7,8,9
expect_bad "--align: expected 8 or 64" --align 32
expect_bad "--align: expected 8 or 64" --align ""
expect_bad "capacity - 72 in an SPSC ring with --align 64" --align 64 --capacity 256 --size 128 --transports spsc
expect_bad "--spin: expected" --spin -1
expect_bad "--spin: expected" --spin 5000000000
expect_bad "--cpus: expected A,B" --cpus 1
expect_bad "--cpus: expected A,B" --cpus a,b
expect_bad "--cpus: the two sides need two different CPUs" --cpus 0,0
expect_bad "--cpus: CPU" --cpus 0,1000
expect_bad "--duration: expected" --duration 0
expect_bad "--duration: expected" --duration 1e9
expect_bad "--duration: expected" --duration soon
expect_bad "--count: expected" --count 0
expect_bad "--count: expected" --count 12x
expect_bad "--transports: expected" --transports pipe,carrier-pigeon
expect_bad "--transports: expected" --transports ""
expect_bad "--workloads: expected" --workloads burst
expect_bad "--rates: expected" --rates 0
expect_bad "--rates: expected" --rates 50,101
expect_bad "--gap-us: expected" --gap-us -3
expect_bad "--probe-ms: expected" --probe-ms x
expect_bad "--sweep: chooses its own sizes" --sweep --size 64
expect_bad "24 bytes at least" --workloads paced --size 16
expect_bad "unknown option '--frobnicate'" --frobnicate
expect_bad "option '--size' needs a value" --size
expect_bad "unexpected argument 'extra'" extra

out=$("$bench" --help 2>&1)
rc=$?
if [ $rc -ne 0 ]; then
    echo "FAIL: --help exited $rc"
    fail=1
fi
for word in cacheline memcpy spsc spsc-sleep mpmc mpmc-sleep bcast bcast-sleep pipe fifo unix tcp msgq shmsem pingpong stream paced \
    --size --capacity --batch --align --wake --spin --cpus --duration --count --huge --transports --workloads --sweep --csv --json \
    --plot; do
    case "$out" in
    *"$word"*) ;;
    *)
        echo "FAIL: --help does not mention $word"
        fail=1
        ;;
    esac
done

for f in /proc/sysvipc/shm /proc/sysvipc/sem /proc/sysvipc/msg; do
    if [ -r "$f" ] && [ "$(wc -l <"$f")" -gt 1 ]; then
        echo "FAIL: a System V object exists after argument errors:"
        cat "$f"
        fail=1
    fi
done

[ $fail -eq 0 ] && echo "PASS"
exit $fail
