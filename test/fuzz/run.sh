#!/usr/bin/env bash
# Builds the hostile-peer fuzz target (test/fuzz/fuzz_ring.c + lib/*.c) with clang-14 under
# libFuzzer, ASan and UBSan, and runs it for a bounded time on the seed corpus.
#
# Usage: test/fuzz/run.sh [SECONDS]        (default 60)
#   FUZZ_JOBS=N     run N fuzzing processes (default: one, in this process)
#   FUZZ_CFLAGS=... extra compiler flags
#   FUZZ_OUT=DIR    keep the build, the grown corpus and any crash input in DIR (default: a temp dir,
#                   removed at the end unless something crashed)
# Needs clang-14 and libclang-rt-14-dev (tools/setup installs them).
# Prints libFuzzer's last status line (executions, cov:, ft:, corpus) and a summary.
# Exit status: 0 no crash, 1 a crash/sanitizer report/timeout (input kept and named), 2 cannot run.
set -uo pipefail
FUZZ_CFLAGS=${FUZZ_CFLAGS:-}

secs=${1:-60}
root=$(cd "$(dirname "$0")/../.." && pwd)
if ! command -v clang-14 >/dev/null 2>&1; then
    echo "run.sh: error: clang-14 not found (install clang-14 and libclang-rt-14-dev: tools/setup)" >&2
    exit 2
fi
out=${FUZZ_OUT:-$(mktemp -d /tmp/shmring-fuzz.XXXXXX)}
mkdir -p "$out/corpus" "$out/crashes"
keep=${FUZZ_OUT:+1}

bin=$out/fuzz_ring
# -Wl,--wrap: the target puts guard pages around every segment the library maps.
if ! clang-14 -std=c11 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
    -Wall -Wextra -Werror -Wno-unused-parameter \
    -I"$root/include" -I"$root/lib" $FUZZ_CFLAGS \
    "$root/test/fuzz/fuzz_ring.c" "$root"/lib/*.c \
    -Wl,--wrap=shmat -Wl,--wrap=shmdt -lurcu-bp -lurcu-cds -lpthread -o "$bin" 2>"$out/build.log"; then
    cat "$out/build.log" >&2
    echo "run.sh: error: building the fuzz target failed" >&2
    exit 2
fi

# Every ring the target makes is removed again; a private IPC namespace (root only) also sweeps up
# whatever a crash leaves, and keeps the run from seeing other users' objects.
ns=()
if [[ $(id -u) == 0 ]] && unshare --ipc true 2>/dev/null; then
    ns=(unshare --ipc)
fi

# The guard pages work: reading the byte after a segment must kill the target.
echo x >"$out/selftest.in"
if FUZZ_GUARD_SELFTEST=1 "${ns[@]}" "$bin" -runs=1 "$out/selftest.in" >"$out/selftest.log" 2>&1 ||
    ! grep -q 'SEGV' "$out/selftest.log"; then
    cat "$out/selftest.log" >&2
    echo "run.sh: error: the guard page after the segment did not stop a read past its end" >&2
    exit 1
fi
echo "run.sh: guard pages ok (a read past the segment's end faults)"

log=$out/fuzz.log
# -timeout: no input may take more than 10 s (every wait in the target has timeout 0);
# -rss_limit_mb: the rings are small, so a leak shows.
"${ns[@]}" "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    ${FUZZ_JOBS:+-jobs=$FUZZ_JOBS -workers=$FUZZ_JOBS} \
    -artifact_prefix="$out/crashes/" "$out/corpus" "$root/test/fuzz/corpus" >"$log" 2>&1
rc=$?
# Workers write their own logs (fuzz-N.log in the current directory) when -jobs > 1.
status=$(grep -E '^#[0-9]+' "$log" | tail -1)
echo "=== libFuzzer, $secs s: ${status:-no status line}"
grep -E '^stat::' "$log" | sed 's/^/    /'
crashes=$(find "$out/crashes" -type f | wc -l)
if ((rc != 0 || crashes > 0)); then
    grep -E 'ERROR|SUMMARY|fuzz_ring:|runtime error|deadly signal|timeout' "$log" | head -20
    echo "run.sh: FAILED (exit $rc, $crashes crash input(s) in $out/crashes; log $log)"
    exit 1
fi
echo "run.sh: ok, no crash (log $log)"
if [[ -z $keep ]]; then
    rm -rf "$out"
fi
exit 0
