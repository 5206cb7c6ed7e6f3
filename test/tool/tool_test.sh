#!/bin/bash
# Tests of the `shmring` command, run as a user runs it: the real binary, started from the shell.
#   - help and usage errors (status 2, message), missing rings (status 1, message naming the ring)
#   - create / ls / ls --json (parsed by python3) / stat / stat --json / rm, for SPSC and MPMC rings,
#     with a name that needs escaping
#   - put/get round trips compared by checksum: several MiB of random lines through a ring much
#     smaller than the data, a binary file in --block/--raw mode, an MPMC ring; --max; a line too
#     long for the ring; get started before put; stdout closed early; SIGTERM/SIGINT
#   - a foreign System V segment (and one of another ABI version) on a ring's key: listed as not
#     ours with --all, refused by stat/rm/get/put, left byte for byte as it was
#   - rm --stale removes a ring whose producer was killed (and an idle one), leaves a ring in use
#   - watch --count
#   - events (lines and --json, types, removal) and send
# Under `bazel test` the sandbox gives this test its own IPC namespace: at the end nothing may be
# left in /proc/sysvipc.
#
# Usage: tool_test.sh PATH/TO/shmring PATH/TO/foreign
set -u

TOOL=$(readlink -f "$1")
FOREIGN=$(readlink -f "$2")
PY=/usr/bin/python3 # Debian's python3 (bazel-bootstrap depends on it)
T=${TEST_TMPDIR:-$(mktemp -d)}
fails=0
checks=0

fail() {
    echo "FAIL: $*"
    fails=$((fails + 1))
}

# run CMD...: runs with a time limit; sets rc, out (stdout file), err (stderr text).
run() {
    timeout 120 "$@" >"$T/out" 2>"$T/err"
    rc=$?
    err=$(cat "$T/err")
}

# expect RC STDERR_SUBSTRING CMD...: runs CMD and checks its status and (if not empty) that stderr
# contains the substring.
expect() {
    local want=$1 msg=$2
    shift 2
    run "$@"
    checks=$((checks + 1))
    if [ "$rc" != "$want" ]; then
        fail "'$*' exited $rc, expected $want; stderr: $err"
    elif [ -n "$msg" ] && [[ "$err" != *"$msg"* ]]; then
        fail "'$*': stderr lacks '$msg': $err"
    fi
}

# contains FILE SUBSTRING DESCRIPTION
contains() {
    checks=$((checks + 1))
    if ! grep -qF -- "$2" "$1"; then
        fail "$3: '$2' not in output:"
        cat "$1"
    fi
}

lacks() {
    checks=$((checks + 1))
    if grep -qF -- "$2" "$1"; then
        fail "$3: '$2' unexpectedly in output:"
        cat "$1"
    fi
}

# py CODE: python3 over the JSON in $T/out; the code sets ok = True/False and may print why.
py_check() {
    checks=$((checks + 1))
    if ! "$PY" -c "
import json, sys
d = json.load(open('$T/out'))
$1
" ; then
        fail "JSON check failed: $1"
        cat "$T/out"
    fi
}

same_file() {
    checks=$((checks + 1))
    local a b
    a=$(sha256sum <"$1" | cut -d' ' -f1)
    b=$(sha256sum <"$2" | cut -d' ' -f1)
    if [ "$a" != "$b" ]; then
        fail "$3: checksums differ ($(wc -c <"$1") vs $(wc -c <"$2") bytes)"
        cmp "$1" "$2" | head -3
    fi
}

ipc_count() {
    local n=0 f
    for f in /proc/sysvipc/shm /proc/sysvipc/sem /proc/sysvipc/msg; do
        n=$((n + $(wc -l <"$f") - 1))
    done
    echo "$n"
}

# Waits (bounded) until `shmring ls --json` shows ring $1 with $2 == $3 (e.g. producers 1).
wait_ring() {
    local i
    for i in $(seq 1 200); do
        "$TOOL" ls --json >"$T/wait.json" 2>/dev/null
        if "$PY" -c "
import json, sys
d = [r for r in json.load(open('$T/wait.json')) if r['name'] == sys.argv[1]]
sys.exit(0 if d and d[0].get(sys.argv[2]) == int(sys.argv[3]) else 1)" "$1" "$2" "$3"; then
            return 0
        fi
        sleep 0.05
    done
    fail "ring $1 never had $2 == $3"
    return 1
}

# wait_bcast_joined NAME: waits (bounded) until a consumer of broadcast ring NAME has joined (its
# entry is active), not only attached: only then does a BLOCK producer wait for it.
wait_bcast_joined() {
    local i
    for i in $(seq 1 200); do
        "$TOOL" stat "$1" --json >"$T/wait.json" 2>/dev/null
        if "$PY" -c "
import json, sys
d = json.load(open('$T/wait.json'))
sys.exit(0 if any(c.get('active') for c in d.get('bcast_consumers') or []) else 1)"; then
            return 0
        fi
        sleep 0.05
    done
    fail "no consumer of $1 ever joined"
    return 1
}

# Waits (bounded) for a background job; sets wrc to its status. (Jobs that the test signals run
# without `timeout`, so that the signal reaches the tool itself; this bound kills them instead.)
wait_pid() {
    local i
    for i in $(seq 1 600); do
        if ! kill -0 "$1" 2>/dev/null; then
            wait "$1"
            wrc=$?
            return 0
        fi
        sleep 0.05
    done
    fail "process $1 did not end within 30 s"
    kill -9 "$1" 2>/dev/null
    wait "$1"
    wrc=$?
}

before=$(ipc_count)
if [ "$before" != 0 ]; then
    echo "note: $before System V objects exist before the test (not in a private IPC namespace?)"
fi

echo "== help and usage errors"
expect 0 "" "$TOOL" --help
contains "$T/out" "Usage: shmring" "shmring --help"
for sub in create rm ls stat watch put get; do
    expect 0 "" "$TOOL" "$sub" --help
    contains "$T/out" "Usage: shmring $sub" "shmring $sub --help"
    expect 0 "" "$TOOL" "$sub" -h
    contains "$T/out" "Usage: shmring $sub" "shmring $sub -h"
done
lacks "$T/out" "bench" "help mentions no bench yet"
expect 2 "missing subcommand" "$TOOL"
expect 2 "unknown subcommand 'frobnicate'" "$TOOL" frobnicate
expect 2 "missing ring name" "$TOOL" create --capacity 1M
expect 2 "missing --capacity" "$TOOL" create r
expect 2 "bad capacity 'lots'" "$TOOL" create r --capacity lots
expect 2 "bad capacity 1000" "$TOOL" create r --capacity 1000
expect 2 "bad capacity 2" "$TOOL" create r --kind mpmc --capacity 2
expect 2 "bad kind 'ring'" "$TOOL" create r --capacity 1M --kind ring
expect 2 "--slot-size is for MPMC" "$TOOL" create r --capacity 1M --slot-size 64
expect 2 "bad slot size 4" "$TOOL" create r --kind mpmc --capacity 16 --slot-size 4
expect 2 "bad mode '0999'" "$TOOL" create r --capacity 1M --mode 0999
expect 2 "unknown option '--bogus'" "$TOOL" create r --capacity 1M --bogus
expect 2 "option '--capacity' needs a value" "$TOOL" create r --capacity
expect 2 "invalid ring name 'a/b'" "$TOOL" create a/b --capacity 1M
expect 2 "invalid ring name" "$TOOL" stat "$(printf 'x%.0s' $(seq 1 64))"
expect 2 "unexpected argument 'x'" "$TOOL" ls x
expect 2 "--lines and --raw" "$TOOL" get r --lines --raw
expect 2 "--lines and --block" "$TOOL" put r --lines --block 10
expect 2 "bad interval '0'" "$TOOL" watch r --interval 0
expect 2 "bad --max '0'" "$TOOL" get r --max 0
expect 2 "missing ring name (or --stale)" "$TOOL" rm
expect 2 "--stale takes no ring names" "$TOOL" rm --stale r
[ "$(ipc_count)" = "$before" ] || fail "usage errors created System V objects"

echo "== rings that do not exist"
expect 1 "nope: no such ring" "$TOOL" stat nope
expect 1 "nope: no such ring" "$TOOL" rm nope
expect 1 "nope: no such ring" "$TOOL" watch nope --count 1
expect 1 "nope: no such ring" "$TOOL" get nope
expect 1 "nope: no such ring" "$TOOL" put nope </dev/null

echo "== create, ls, stat, rm"
weird=$'we"ird\\ na\tme'
expect 0 "" "$TOOL" create spsc1 --capacity 64K
expect 0 "" "$TOOL" create mpmc1 --kind mpmc --capacity 256 --slot-size 512 --mode 0640
expect 0 "" "$TOOL" create "$weird" --capacity 4K
expect 1 "spsc1: already exists" "$TOOL" create spsc1 --capacity 64K
expect 0 "" "$TOOL" ls
contains "$T/out" "NAME" "ls header"
contains "$T/out" "spsc1" "ls lists spsc1"
contains "$T/out" "mpmc1" "ls lists mpmc1"
contains "$T/out" 'we"ird\x5c\x20na\x09me' "ls escapes odd bytes"
expect 0 "" "$TOOL" ls --json
py_check "
r = {x['name']: x for x in d}
assert set(r) == {'spsc1', 'mpmc1', '''$weird'''}, r.keys()
assert r['spsc1']['kind'] == 'spsc' and r['spsc1']['capacity'] == 65536 and r['spsc1']['slot_size'] is None
assert r['mpmc1']['kind'] == 'mpmc' and r['mpmc1']['capacity'] == 256 and r['mpmc1']['slot_size'] == 512
assert r['mpmc1']['perms'] == '0640'
for x in d:
    assert x['state'] == 'ok' and x['fill'] == 0 and x['producers'] == 0 and x['consumers'] == 0, x
    assert x['sleepers'] == {'producers': 0, 'consumers': 0}, x
    assert x['key'].startswith('0x') and isinstance(x['shmid'], int)
"
expect 0 "" "$TOOL" stat spsc1
contains "$T/out" "capacity:     65536 bytes" "stat capacity"
contains "$T/out" "largest record 65520 bytes, records aligned to 8" "stat largest record"
contains "$T/out" "control queue: msqid" "stat queue"
contains "$T/out" "events_dropped" "stat counters"
# --align 64: every record on its own cache lines; shown by stat (text and JSON), refused elsewhere.
expect 0 "" "$TOOL" create a64 --capacity 4K --align 64
expect 0 "" "$TOOL" stat a64
contains "$T/out" "largest record 4024 bytes, records aligned to 64" "stat align64 largest record"
contains "$T/out" "align64" "stat align64 flag"
expect 0 "" "$TOOL" stat a64 --json
py_check "assert d['record_align'] == 64 and d['flags'] & 0x8, d"
printf 'hello\n' | "$TOOL" put a64
expect 0 "" "$TOOL" get a64 --max 1
contains "$T/out" "hello" "get from an align64 ring"
expect 0 "" "$TOOL" rm a64
expect 2 "bad alignment '32' (8 or 64)" "$TOOL" create a32 --capacity 4K --align 32
expect 2 "--align is for SPSC rings" "$TOOL" create a64m --capacity 64 --kind mpmc --align 64
expect 0 "" "$TOOL" stat mpmc1 --json
py_check "
assert d['name'] == 'mpmc1' and d['kind'] == 'mpmc' and d['capacity'] == 256 and d['slot_size'] == 512
assert d['semaphores']['producers'] == 0 and d['control_queue']['messages'] == 0
assert d['attached'] == [] and d['subscribers'] == [] and d['counters']['peer_deaths'] == 0
assert d['creator']['alive'] is False
"
expect 0 "" "$TOOL" stat "$weird" --json
py_check "assert d['name'] == '''$weird''', d['name']"
expect 0 "" "$TOOL" rm spsc1 mpmc1 "$weird"
expect 0 "" "$TOOL" ls --json
py_check "assert d == [], d"
[ "$(ipc_count)" = "$before" ] || fail "rm left System V objects"
# Huge pages: created if the machine has some reserved, else a message that says what is missing.
run "$TOOL" create huge --capacity 4K --huge
checks=$((checks + 1))
if [ "$rc" = 0 ]; then
    expect 0 "" "$TOOL" stat huge
    contains "$T/out" "hugepages" "stat shows the huge-page flag"
    expect 0 "" "$TOOL" rm huge
elif [ "$rc" != 1 ] || [[ "$err" != *"huge: cannot create"*"nr_hugepages"* ]]; then
    fail "create --huge: status $rc, stderr: $err"
fi

echo "== put/get round trips"
"$PY" - "$T/lines.txt" <<'EOF'
import random, sys
r = random.Random(4242)
table = bytes((b % 94) + 32 for b in range(256))  # printable, no newline
total, out = 0, []
while total < 6 * 1024 * 1024:
    n = r.choice([0, 1, 7, 56, 200, 1000, r.randint(0, 5000), r.randint(0, 5000), 40000])
    line = r.randbytes(n).translate(table)
    out.append(line)
    total += n + 1
open(sys.argv[1], 'wb').write(b'\n'.join(out) + b'\n')
EOF
expect 0 "" "$TOOL" create pipe1 --capacity 64K
# The consumer first (it waits for a producer), then the producer.
timeout 120 "$TOOL" get pipe1 >"$T/lines.out" 2>"$T/get.err" &
getpid=$!
expect 0 "" "$TOOL" put pipe1 <"$T/lines.txt"
wait_pid $getpid
[ "$wrc" = 0 ] || fail "get exited $wrc: $(cat "$T/get.err")"
same_file "$T/lines.txt" "$T/lines.out" "lines through a 64K SPSC ring"
expect 0 "" "$TOOL" stat pipe1 --json
py_check "
n = sum(1 for _ in open('$T/lines.txt', 'rb'))
assert d['producer']['count'] == n and d['consumer']['count'] == n, (d['producer'], n)
assert d['fill'] == 0 and d['producer_closed'] is True
"

head -c 5242877 /dev/urandom >"$T/bin"
timeout 120 "$TOOL" get pipe1 --raw >"$T/bin.out" 2>"$T/get.err" &
getpid=$!
expect 0 "" "$TOOL" put pipe1 --block 4K <"$T/bin"
wait_pid $getpid
[ "$wrc" = 0 ] || fail "get --raw exited $wrc: $(cat "$T/get.err")"
same_file "$T/bin" "$T/bin.out" "binary file in 4K blocks"

# Producer first this time: it fills the ring and waits for the consumer.
timeout 120 "$TOOL" put pipe1 --block 60000 <"$T/bin" 2>"$T/put.err" &
putpid=$!
expect 0 "" "$TOOL" get pipe1 --raw
wait_pid $putpid
[ "$wrc" = 0 ] || fail "put --block 60000 exited $wrc: $(cat "$T/put.err")"
same_file "$T/bin" "$T/out" "binary file in 60000-byte blocks (larger than half the ring)"

# A line too long for the ring.
head -c 70000 /dev/zero | tr '\0' x >"$T/long"
expect 1 "pipe1: a line of" "$TOOL" put pipe1 <"$T/long"
contains "$T/err" "largest: 65520 bytes" "long line message"
# The stream ended before this reader came and the ring is empty: it waits for a writer.
expect 1 "pipe1: timed out after 0.3 s waiting for a record" "$TOOL" get pipe1 --timeout 0.3
expect 1 "larger than the ring's largest record" "$TOOL" put pipe1 --block 1M </dev/null

# --max, then the rest: a consumer continues where the last one released.
seq 1 100 | "$TOOL" put pipe1
expect 0 "" "$TOOL" get pipe1 --max 10
[ "$(cat "$T/out")" = "$(seq 1 10)" ] || fail "get --max 10 gave: $(head -c 200 "$T/out")"
expect 0 "" "$TOOL" get pipe1
[ "$(cat "$T/out")" = "$(seq 11 100)" ] || fail "get after --max gave: $(head -c 200 "$T/out")"

# Empty lines and a last line without newline.
printf 'a\n\n\nb' | "$TOOL" put pipe1
expect 0 "" "$TOOL" get pipe1
[ "$(od -c <"$T/out")" = "$(printf 'a\n\n\nb\n' | od -c)" ] || fail "empty lines: $(od -c <"$T/out")"

# stdout closed early: get stops quietly with status 0.
seq 1 200000 | timeout 120 "$TOOL" put pipe1 2>"$T/put.err" &
putpid=$!
timeout 120 "$TOOL" get pipe1 2>"$T/get.err" | head -n 3 >"$T/head.out"
st=("${PIPESTATUS[@]}")
checks=$((checks + 1))
[ "${st[0]}" = 0 ] || fail "get | head: get exited ${st[0]}: $(cat "$T/get.err")"
[ -s "$T/get.err" ] && fail "get | head: get printed: $(cat "$T/get.err")"
[ "$(cat "$T/head.out")" = "$(seq 1 3)" ] || fail "get | head gave $(cat "$T/head.out")"
# The producer was waiting for space: its reader went away, so it fails (as a FIFO's writer).
wait_pid $putpid
[ "$wrc" = 1 ] || fail "put after get|head exited $wrc: $(cat "$T/put.err")"
grep -qF "pipe1: the consumer went away" "$T/put.err" || fail "put after get|head said: $(cat "$T/put.err")"
expect 0 "" "$TOOL" get pipe1 # what is left, then end of stream (the producer closed)
# Records that went into the pipe to head are gone with it (as with any pipe); the rest is one
# run of consecutive lines.
checks=$((checks + 1))
awk 'NR == 1 { s = $1 } $1 != s + NR - 1 { bad = 1 } END { exit (bad || NR == 0 || s <= 3) }' "$T/out" ||
    fail "the next reader did not get one run of lines after head's: $(head -n 2 "$T/out")"
expect 0 "" "$TOOL" rm pipe1

# MPMC: lines up to the slot size.
expect 0 "" "$TOOL" create mq --kind mpmc --capacity 64 --slot-size 256
seq 1 300000 >"$T/seq"
timeout 120 "$TOOL" get mq >"$T/seq.out" 2>"$T/get.err" &
getpid=$!
expect 0 "" "$TOOL" put mq <"$T/seq"
wait_pid $getpid
[ "$wrc" = 0 ] || fail "mpmc get exited $wrc: $(cat "$T/get.err")"
same_file "$T/seq" "$T/seq.out" "lines through an MPMC ring"
head -c 300 /dev/zero | tr '\0' y >"$T/long"
expect 1 "mq: a line of" "$TOOL" put mq <"$T/long"
expect 1 "mq: timed out" "$TOOL" get mq --timeout 0.3
expect 0 "" "$TOOL" rm mq

echo "== signals end put and get cleanly"
expect 0 "" "$TOOL" create sig --capacity 4K
timeout 120 "$TOOL" get sig >"$T/sig.out" 2>"$T/get.err" &
getpid=$!
# The producer reads a FIFO that this shell holds open (no sleeping writer to wait for).
mkfifo "$T/fifo"
"$TOOL" put sig <"$T/fifo" 2>"$T/put.err" &
putpid=$!
exec 3>"$T/fifo"
echo first >&3
wait_ring sig producers 1
wait_ring sig consumers 1
expect 1 "sig: a producer is already attached" "$TOOL" put sig </dev/null
expect 1 "sig: a consumer is already attached" "$TOOL" get sig
kill -TERM $putpid
wait_pid $putpid
exec 3>&-
[ "$wrc" = 143 ] || fail "put after SIGTERM exited $wrc (expected death by SIGTERM, 143): $(cat "$T/put.err")"
wait_pid $getpid # the producer's close is the end of stream
[ "$wrc" = 0 ] || fail "get after the producer's SIGTERM exited $wrc: $(cat "$T/get.err")"
[ "$(cat "$T/sig.out")" = first ] || fail "get after SIGTERM gave: $(cat "$T/sig.out")"
"$TOOL" get sig >/dev/null 2>"$T/get.err" &
getpid=$!
wait_ring sig consumers 1
kill -INT $getpid
wait_pid $getpid
[ "$wrc" = 130 ] || fail "get after SIGINT exited $wrc: $(cat "$T/get.err")"
expect 0 "" "$TOOL" ls --json
py_check "
r = [x for x in d if x['name'] == 'sig'][0]
assert r['producers'] == 0 and r['consumers'] == 0, r
"
expect 1 "sig: timed out" "$TOOL" get sig --timeout 0.2
expect 0 "" "$TOOL" rm sig

echo "== foreign segments are listed as not ours and never touched"
expect 0 "" "$TOOL" create alien --capacity 4K
expect 0 "" "$TOOL" ls --json
key=$("$PY" -c "import json; print([x['key'] for x in json.load(open('$T/out')) if x['name'] == 'alien'][0])")
expect 0 "" "$TOOL" rm alien
run "$FOREIGN" create "$key" 8192
fid=$(cat "$T/out")
[ "$rc" = 0 ] || fail "foreign create: $err"
run "$FOREIGN" create 0x12345 4096 abi
aid=$(cat "$T/out")
[ "$rc" = 0 ] || fail "foreign create abi: $err"
run "$FOREIGN" create 0x54321 100
sid=$(cat "$T/out")
expect 0 "" "$TOOL" ls
lacks "$T/out" "$key" "ls without --all"
expect 0 "" "$TOOL" ls --all
contains "$T/out" "not a shmring" "ls --all"
contains "$T/out" "other ABI version" "ls --all, other ABI"
expect 0 "" "$TOOL" ls --all --json
py_check "
s = {x['shmid']: x for x in d}
assert s[$fid]['state'] == 'not a shmring' and s[$fid]['name'] is None and s[$fid]['key'] == '$key', s[$fid]
assert s[$aid]['state'] == 'other ABI version', s[$aid]
assert s[$sid]['state'] == 'not a shmring' and s[$sid]['bytes'] == 100, s[$sid]
"
expect 1 "alien: not a shmring" "$TOOL" stat alien
expect 1 "alien: not a shmring" "$TOOL" rm alien
expect 1 "alien: not a shmring" "$TOOL" get alien
expect 1 "alien: not a shmring" "$TOOL" put alien </dev/null
expect 1 "alien: already exists" "$TOOL" create alien --capacity 4K
expect 1 "alien: not a shmring" "$TOOL" watch alien --count 1
expect 0 "" "$TOOL" rm --stale
lacks "$T/out" "removed" "rm --stale with foreign segments"
for id in $fid $aid; do
    run "$FOREIGN" check "$id"
    checks=$((checks + 1))
    [ "$rc" = 0 ] || fail "foreign segment $id was touched: $err"
done
"$FOREIGN" rm "$fid"
"$FOREIGN" rm "$aid"
"$FOREIGN" rm "$sid"

echo "== a corrupt header is reported, never trusted"
expect 0 "" "$TOOL" create other --capacity 4K # owns semaphore set and queue id 0 in our namespace
expect 0 "" "$TOOL" create broken --capacity 4K
expect 0 "" "$TOOL" ls --json
key=$("$PY" -c "import json; print([x['key'] for x in json.load(open('$T/out')) if x['name'] == 'broken'][0])")
expect 0 "" "$TOOL" rm broken
run "$FOREIGN" create "$key" 8192 corrupt broken
cid=$(cat "$T/out")
expect 0 "" "$TOOL" ls --json
py_check "
b = [x for x in d if x['name'] == 'broken'][0]
assert b['state'] == 'corrupt' and b['kind'] is None and b['producers'] is None, b
"
expect 0 "" "$TOOL" stat broken
contains "$T/out" "state:        corrupt: SPSC geometry out of range" "stat of a corrupt ring"
contains "$T/out" "missing (not the ring's)" "stat ignores semaphores that are not the ring's"
run "$FOREIGN" check "$cid"
checks=$((checks + 1))
[ "$rc" = 0 ] || fail "ls/stat changed the corrupt segment: $err"
expect 1 "broken: cannot open: ring is corrupt" "$TOOL" get broken
expect 0 "" "$TOOL" rm broken other # ours by magic and name: rm removes it
[ "$(ipc_count)" = "$before" ] || fail "rm of a corrupt ring left objects"

echo "== rm --stale"
expect 0 "" "$TOOL" create dead --capacity 4K
expect 0 "" "$TOOL" create live --capacity 4K
expect 0 "" "$TOOL" create idle --kind mpmc --capacity 4
"$TOOL" put dead <"$T/fifo" 2>/dev/null &
putpid=$!
exec 3>"$T/fifo"
timeout 120 "$TOOL" get live >"$T/live.out" 2>"$T/get.err" &
getpid=$!
wait_ring dead producers 1
wait_ring live consumers 1
expect 0 "" "$TOOL" rm --stale --dry-run
contains "$T/out" "would remove idle" "dry run lists the idle ring"
lacks "$T/out" "dead" "dry run while the producer lives"
lacks "$T/out" "live" "dry run, live ring"
kill -KILL $putpid
wait_pid $putpid
exec 3>&-
checks=$((checks + 1))
[ "$wrc" = 137 ] || fail "put after SIGKILL: status $wrc"
expect 0 "" "$TOOL" rm --stale
contains "$T/out" "removed dead" "rm --stale removes the ring whose producer was killed"
contains "$T/out" "removed idle" "rm --stale removes the idle ring"
lacks "$T/out" "live" "rm --stale leaves the ring in use"
expect 0 "" "$TOOL" ls --json
py_check "assert [x['name'] for x in d] == ['live'], d"
expect 0 "" "$TOOL" stat live --json
py_check "
a = d['attached']
assert len(a) == 1 and a[0]['role'] == 'consumer' and a[0]['alive'] is True, a
"
echo done | "$TOOL" put live
wait_pid $getpid
[ "$wrc" = 0 ] || fail "get live exited $wrc: $(cat "$T/get.err")"
[ "$(cat "$T/live.out")" = done ] || fail "get live gave $(cat "$T/live.out")"
expect 0 "" "$TOOL" rm live

echo "== MPMC participants, anonymous rings"
expect 0 "" "$TOOL" create mq2 --kind mpmc --capacity 16 --slot-size 64
timeout 120 "$TOOL" get mq2 >"$T/mq2.out" 2>"$T/get.err" &
getpid=$!
wait_ring mq2 consumers 1
expect 0 "" "$TOOL" stat mq2 --json
py_check "
a = d['attached']
assert len(a) == 1 and a[0]['role'] == 'consumer' and a[0]['alive'] is True and 'entry' in a[0], a
assert d['semaphores']['consumers'] == 1 and d['counters']['consumer_attaches'] == 1, d
"
expect 0 "" "$TOOL" stat mq2
contains "$T/out" "consumer alive" "stat lists the MPMC participant"
"$TOOL" put mq2 </dev/null # a producer comes and goes: end of stream
wait_pid $getpid
[ "$wrc" = 0 ] || fail "mpmc get after an empty put exited $wrc: $(cat "$T/get.err")"
expect 0 "" "$TOOL" rm mq2
"$FOREIGN" pipe <"$T/fifo" >"$T/pipe.out" &
pipepid=$!
exec 3>"$T/fifo"
for i in $(seq 1 200); do grep -q ready "$T/pipe.out" && break; sleep 0.05; done
expect 0 "" "$TOOL" ls --json
py_check "
assert len(d) == 1, d
a = d[0]
assert a['name'] is None and a['state'] == 'ok' and a['producers'] == 1 and a['consumers'] == 1, a
"
expect 0 "" "$TOOL" ls
contains "$T/out" "(anonymous)" "ls shows the anonymous ring"
expect 0 "" "$TOOL" rm --stale
expect 0 "" "$TOOL" ls --json
py_check "assert len(d) == 1 and d[0]['anonymous'], d"
exec 3>&-
wait_pid $pipepid
[ "$wrc" = 0 ] || fail "foreign pipe exited $wrc"

echo "== rm --stale: what killed anonymous rings leave"
sems0=$(($(wc -l </proc/sysvipc/sem) - 1))
msqs0=$(($(wc -l </proc/sysvipc/msg) - 1))
plain=$("$FOREIGN" semset)           # a key-0 set of our size, untagged: not ours
held=$("$FOREIGN" semset tagged-held) # tagged, a handle counted: in use
"$FOREIGN" pipe <"$T/fifo" >"$T/pipe.out" &
pipepid=$!
exec 3>"$T/fifo"
for i in $(seq 1 200); do grep -q ready "$T/pipe.out" && break; sleep 0.05; done
mkfifo "$T/fifo2"
"$FOREIGN" pipe <"$T/fifo2" >"$T/victim.out" &
victim=$!
exec 4>"$T/fifo2"
for i in $(seq 1 200); do grep -q ready "$T/victim.out" && break; sleep 0.05; done
kill -KILL $victim
wait_pid $victim
exec 4>&-
checks=$((checks + 1))
[ "$wrc" = 137 ] || fail "anonymous ring holder after SIGKILL: status $wrc"
sems=$(($(wc -l </proc/sysvipc/sem) - 1 - sems0))
msqs=$(($(wc -l </proc/sysvipc/msg) - 1 - msqs0))
checks=$((checks + 1))
[ "$sems/$msqs" = "4/2" ] || fail "before rm --stale: $sems sets, $msqs queues (want 4/2)"
expect 0 "" "$TOOL" rm --stale --dry-run
checks=$((checks + 1))
[ "$(grep -c "would remove anonymous ring leftovers" "$T/out")" = 1 ] || fail "dry run: $(cat "$T/out")"
[ "$(($(wc -l </proc/sysvipc/sem) - 1 - sems0))" = 4 ] || fail "the dry run removed something"
expect 0 "" "$TOOL" rm --stale
checks=$((checks + 1))
[ "$(grep -c "removed anonymous ring leftovers" "$T/out")" = 1 ] || fail "rm --stale: $(cat "$T/out")"
sems=$(($(wc -l </proc/sysvipc/sem) - 1 - sems0))
msqs=$(($(wc -l </proc/sysvipc/msg) - 1 - msqs0))
checks=$((checks + 1))
[ "$sems/$msqs" = "3/1" ] || fail "after rm --stale: $sems sets, $msqs queues (want 3/1: the live ring's and the two foreign sets)"
checks=$((checks + 1))
awk -v a="$plain" -v b="$held" '$2 == a || $2 == b' /proc/sysvipc/sem | wc -l | grep -qx 2 ||
    fail "rm --stale removed a set that is not a dead anonymous ring's"
expect 0 "" "$TOOL" ls --json
py_check "
assert len(d) == 1 and d[0]['anonymous'] and d[0]['state'] == 'ok' and d[0]['producers'] == 1, d
"
exec 3>&-
wait_pid $pipepid
[ "$wrc" = 0 ] || fail "foreign pipe exited $wrc"
expect 0 "" "$TOOL" rm --stale
lacks "$T/out" "removed" "rm --stale once every anonymous ring closed"
read -r nsem nshm <<<"$("$FOREIGN" named-set)"
expect 0 "" "$TOOL" rm --stale
lacks "$T/out" "semaphore set $nsem," "rm --stale spares a set that a segment names"
"$FOREIGN" rm "$nshm"
expect 0 "" "$TOOL" rm --stale
contains "$T/out" "removed anonymous ring leftovers (semaphore set $nsem, no queue of its own left" \
    "rm --stale removes the set once no segment names it"
# A tag that names a queue with a key (a named ring's, say): the set goes, that queue stays.
kq=$("$FOREIGN" msq 0x5eed0001) || fail "foreign msq"
kset=$("$FOREIGN" tagged-set "$kq") || fail "foreign tagged-set"
expect 0 "" "$TOOL" rm --stale
contains "$T/out" "removed anonymous ring leftovers (semaphore set $kset, no queue of its own left" \
    "rm --stale removes a tagged set whose tag names a keyed queue"
checks=$((checks + 1))
awk -v q="$kq" '$2 == q' /proc/sysvipc/msg | grep -q . || fail "rm --stale removed a queue that has a key"
"$FOREIGN" msqrm "$kq"
# A tag that names a key-0 queue: set and queue go together (what a killed holder leaves).
zq=$("$FOREIGN" msq 0) || fail "foreign msq"
zset=$("$FOREIGN" tagged-set "$zq") || fail "foreign tagged-set"
expect 0 "" "$TOOL" rm --stale
contains "$T/out" "removed anonymous ring leftovers (semaphore set $zset, queue $zq:" \
    "rm --stale removes a tagged set and the key-0 queue it names"
checks=$((checks + 1))
awk -v q="$zq" '$2 == q' /proc/sysvipc/msg | grep -q . && fail "rm --stale left the key-0 queue of the set it removed"
"$FOREIGN" semrm "$plain"
"$FOREIGN" semrm "$held"
checks=$((checks + 1))
[ "$(($(wc -l </proc/sysvipc/sem) - 1 - sems0))/$(($(wc -l </proc/sysvipc/msg) - 1 - msqs0))" = 0/0 ] ||
    fail "anonymous rings left objects after a clean close"

echo "== broadcast rings"
expect 2 "--lossy is for broadcast rings" "$TOOL" create r --capacity 4K --lossy
expect 2 "bad capacity 3" "$TOOL" create r --kind bcast --capacity 3
expect 0 "" "$TOOL" create bc --kind bcast --capacity 16 --slot-size 100
expect 0 "" "$TOOL" create bcl --kind bcast --capacity 8 --lossy
expect 0 "" "$TOOL" ls
contains "$T/out" "bcast" "ls shows the bcast kind"
expect 0 "" "$TOOL" ls --json
py_check "
r = {x['name']: x for x in d}
assert r['bc']['kind'] == 'bcast' and r['bc']['capacity'] == 16 and r['bc']['slot_size'] == 100, r['bc']
assert r['bc']['state'] == 'ok' and r['bc']['fill'] is None and r['bc']['consumers'] == 0, r['bc']
assert r['bcl']['slot_size'] == 64, r['bcl']
"
expect 0 "" "$TOOL" stat bc
contains "$T/out" "kind:         bcast" "stat bcast kind"
contains "$T/out" "policy:       block" "stat bcast policy"
expect 0 "" "$TOOL" stat bcl --json
py_check "assert d['kind'] == 'bcast' and d['policy'] == 'lossy' and d['bcast_consumers'] == [], d"
"$FOREIGN" bcast bc 5 <"$T/fifo" >"$T/bc.out" 2>"$T/bc.err" &
bcpid=$!
exec 3>"$T/fifo"
for i in $(seq 1 200); do grep -q ready "$T/bc.out" && break; sleep 0.05; done
expect 0 "" "$TOOL" stat bc --json
py_check "
c = d['bcast_consumers']
assert len(c) == 1 and c[0]['alive'] is True and c[0]['active'] is True, c
assert c[0]['behind'] == 5 and d['producer']['pos'] == 5 and d['producer']['claim_end'] == 5, d
"
expect 0 "" "$TOOL" stat bc
contains "$T/out" "alive active  position 0, behind by 5" "stat lists the bcast consumer"
expect 0 "" "$TOOL" ls --json
py_check "
b = [x for x in d if x['name'] == 'bc'][0]
assert b['fill'] == 5 and b['consumers'] == 1, b
"
expect 0 "" "$TOOL" watch bc --interval 0.05 --count 2
exec 3>&-
wait_pid $bcpid
[ "$wrc" = 0 ] || fail "foreign bcast exited $wrc: $(cat "$T/bc.err")"

echo "== put and get on broadcast rings"
seq 10 | timeout 120 "$TOOL" put bc || fail "put bc exited $?"
expect 0 "" "$TOOL" get bc --oldest # the helper's five records, then ours
checks=$((checks + 1))
[ "$(tr '\n' ' ' <"$T/out")" = "rec rec rec rec rec 1 2 3 4 5 6 7 8 9 10 " ] || fail "get --oldest: $(cat "$T/out")"
expect 0 "" "$TOOL" get bc # from the newest; the producer is gone: the end
checks=$((checks + 1))
[ "$(cat "$T/out")" = 10 ] || fail "get from the newest: $(cat "$T/out")"
expect 0 "" "$TOOL" get bc --oldest --max 3 --raw
checks=$((checks + 1))
[ "$(cat "$T/out")" = recrecrec ] || fail "get --max 3 --raw: $(cat "$T/out")"
expect 1 "larger than the ring's largest record" "$TOOL" put bc --block 101 </dev/null
# A get that comes first waits for a producer; a BLOCK producer then waits for it: nothing lost.
expect 0 "" "$TOOL" create bcf --kind bcast --capacity 16 --slot-size 16
timeout 120 "$TOOL" get bcf >"$T/bcf.out" 2>"$T/get.err" &
getpid=$!
wait_bcast_joined bcf
seq 1000 | timeout 120 "$TOOL" put bcf || fail "put bcf exited $?"
wait_pid $getpid
[ "$wrc" = 0 ] || fail "get bcf exited $wrc: $(cat "$T/get.err")"
checks=$((checks + 1))
seq 1000 | cmp -s - "$T/bcf.out" || fail "get bcf: $(wc -l <"$T/bcf.out") lines, not 1..1000 in order"
# A stopped get on a LOSSY ring is lapped: it reports the loss and goes on with what is there.
# (no `timeout`: the STOP must reach the tool itself; wait_pid bounds it)
"$TOOL" get bcl >"$T/bcl.out" 2>"$T/get.err" &
getpid=$!
wait_bcast_joined bcl
kill -STOP $getpid
seq 100 | timeout 120 "$TOOL" put bcl || fail "put bcl exited $?"
kill -CONT $getpid
wait_pid $getpid
[ "$wrc" = 0 ] || fail "get bcl exited $wrc: $(cat "$T/get.err")"
checks=$((checks + 1))
seq 93 100 | cmp -s - "$T/bcl.out" || fail "lapped get: $(tr '\n' ' ' <"$T/bcl.out")"
contains "$T/get.err" "lapped by the producer: 92 records lost" "lapped get reports its loss"
expect 0 "" "$TOOL" create nb --capacity 4K
expect 2 "--oldest is for broadcast rings" "$TOOL" get nb --oldest
expect 0 "" "$TOOL" rm bc bcl bcf nb
expect 0 "" "$TOOL" ls --json
py_check "assert d == [], d"

echo "== watch"
expect 0 "" "$TOOL" create w --capacity 4K
expect 0 "" "$TOOL" watch w --interval 0.05 --count 3
checks=$((checks + 1))
[ "$(wc -l <"$T/out")" = 4 ] || fail "watch --count 3 printed: $(cat "$T/out")"
contains "$T/out" "OUT/s" "watch header"
# A reader waiting on a ring that is removed ends with status 1; watch ends with status 0.
timeout 120 "$TOOL" get w >/dev/null 2>"$T/get.err" &
getpid=$!
timeout 120 "$TOOL" watch w --interval 0.05 >/dev/null 2>"$T/watch.err" &
watchpid=$!
wait_ring w consumers 1
expect 0 "" "$TOOL" rm w
wait_pid $getpid
[ "$wrc" = 1 ] || fail "get on a removed ring exited $wrc"
grep -qF "w: reading: ring was removed" "$T/get.err" || fail "get on a removed ring said: $(cat "$T/get.err")"
wait_pid $watchpid
[ "$wrc" = 0 ] || fail "watch on a removed ring exited $wrc"
grep -qF "w: ring removed" "$T/watch.err" || fail "watch on a removed ring said: $(cat "$T/watch.err")"

echo "== bench (the harness of bench/, as a subcommand)"
expect 0 "" "$TOOL" bench --help
contains "$T/out" "shmring bench" "bench --help"
expect 2 "--size" "$TOOL" bench --size 3

echo "== events and send"
expect 0 "" "$TOOL" create ev --capacity 64K
timeout 60 "$TOOL" events ev --count 7 >"$T/events.out" 2>"$T/events.err" &
evpid=$!
# The subscription exists once a message reaches somebody.
for i in $(seq 1 200); do
    n=$("$TOOL" send ev --code 1 sync 2>/dev/null)
    [ "$n" = 1 ] && break
    sleep 0.05
done
checks=$((checks + 1))
[ "$n" = 1 ] || fail "send never reached the events subscriber (last: $n)"
printf 'one\ntwo\n' | timeout 60 "$TOOL" put ev &
putpid=$!
run "$TOOL" get ev --max 2
wait_pid $putpid
expect 0 "" "$TOOL" send ev --code 0x2a "hello world"
wait_pid $evpid
checks=$((checks + 1))
[ "$wrc" = 0 ] || fail "events exited $wrc: $(cat "$T/events.err")"
contains "$T/events.out" "APP       pid" "events shows the sync message"
contains "$T/events.out" "ATTACH    role producer" "events shows the producer's attach"
contains "$T/events.out" "ATTACH    role consumer" "events shows the consumer's attach"
contains "$T/events.out" "EOS" "events shows the end of stream"
contains "$T/events.out" "code 42 to 0 data hello\\x20world" "events shows the application message"
# JSON lines, and the removal ends the subscription.
timeout 60 "$TOOL" events ev --json --type removed,app >"$T/events.json" 2>"$T/events.err" &
evpid=$!
for i in $(seq 1 200); do
    n=$("$TOOL" send ev --code 7 2>/dev/null)
    [ "$n" = 1 ] && break
    sleep 0.05
done
expect 0 "" "$TOOL" rm ev
wait_pid $evpid
checks=$((checks + 1))
[ "$wrc" = 0 ] || fail "events on a removed ring exited $wrc"
contains "$T/events.err" "ev: ring removed" "events says the ring was removed"
checks=$((checks + 1))
"$PY" -c "
import json, sys
evs = [json.loads(l) for l in open('$T/events.json')]
assert evs[0]['type'] == 'APP' and evs[0]['code'] == 7, evs
assert evs[-1]['type'] == 'REMOVED', evs
" || fail "events --json: $(cat "$T/events.json")"
expect 2 "bad event types" "$TOOL" events ev --type bogus
expect 2 "missing ring name" "$TOOL" events
expect 1 "nope: no ring of that name" "$TOOL" send nope hi
expect 2 "bad pid" "$TOOL" send ev --to -3 hi
expect 2 "at most 240" "$TOOL" send ev "$(printf '%0241d' 0)"

left=$(ipc_count)
checks=$((checks + 1))
if [ "$left" != "$before" ]; then
    fail "System V objects left behind ($before before, $left after):"
    cat /proc/sysvipc/shm /proc/sysvipc/sem /proc/sysvipc/msg
fi
echo "$checks checks, $fails failed"
[ "$fails" = 0 ]
