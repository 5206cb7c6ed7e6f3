#!/bin/bash
# The library as a user outside Bazel gets it: tools/layout-install (what tools/install runs after
# its build) lays out a prefix from Bazel's outputs, then plain cc and pkg-config build against it:
#   - a two-process program (100000 records through an SPSC ring), linked shared and static
#   - the .so: soname libshmring.so.2, exports exactly the functions the headers declare
#     (tools/exports), no libstdc++, DT_NEEDED liburcu
#   - every public header alone from C11 -pedantic and from C++17, -Wall -Wextra -Werror
#   - every man page renders without a warning (man --warnings; mandoc -Tlint -Wwarning if present)
#   - the installed tool runs
# Usage: install_test.sh   (from Bazel's runfiles root: sources and outputs side by side)
set -u
R=$PWD
T=${TEST_TMPDIR:-$(mktemp -d)}
P=$T/prefix
fails=0
fail() {
    echo "FAIL: $*"
    fails=$((fails + 1))
}
ok() { echo "ok: $*"; }

"$R/tools/layout-install" "$R" "$R" "$P" || { echo "FAIL: layout-install"; exit 1; }
"$R/tools/layout-install" "$R" "$R" "$P" >/dev/null || fail "layout-install is not idempotent"
export PKG_CONFIG_PATH=$P/lib/pkgconfig

for f in lib/libshmring.so.2 lib/libshmring.so lib/libshmring.a lib/pkgconfig/shmring.pc \
    include/shmring/shmring.h bin/shmring share/man/man1/shmring.1 share/man/man7/shmring.7 \
    share/man/man3/shmring_spsc.3 share/man/man3/shmring_mpmc.3 share/man/man3/shmring_control.3 \
    share/man/man3/shmring_strerror.3 share/man/man3/shmring_bcast.3; do
    [ -e "$P/$f" ] || fail "not installed: $f"
done
[ "$(readlink "$P/lib/libshmring.so")" = libshmring.so.2 ] || fail "libshmring.so is not a link to libshmring.so.2"
[ "$(pkg-config --modversion shmring)" = "$(sed -n 's/^#define SHMRING_VERSION_STRING "\(.*\)"$/\1/p' "$R/include/shmring/common.h")" ] ||
    fail "shmring.pc version differs from SHMRING_VERSION_STRING"

# The shared library's interface.
so=$P/lib/libshmring.so.2
objdump -p "$so" | grep -q 'SONAME *libshmring.so.2' || fail "soname is not libshmring.so.2"
objdump -p "$so" | grep -q 'NEEDED *liburcu-bp' || fail "no DT_NEEDED liburcu-bp"
if objdump -p "$so" | grep -q 'NEEDED *libstdc++'; then fail "libshmring.so.2 needs libstdc++"; fi
ldd "$so" | grep -q 'libstdc++' && fail "ldd shows libstdc++"
nm -D --defined-only "$so" | awk '$2 == "T" {print $3}' | sed 's/@.*//' | sort >"$T/exported"
"$R/tools/exports" "$R"/include/shmring/*.h >"$T/declared"
if diff "$T/declared" "$T/exported" >"$T/diff"; then
    ok "exports exactly the $(wc -l <"$T/declared") functions the headers declare"
else
    fail "exported symbols differ from the headers' declarations (< declared, > exported): $(cat "$T/diff")"
fi
nm -D --defined-only "$so" | awk '$2 != "T" && $2 != "A"' | grep . && fail "exports data symbols"
[ "$(wc -l <"$T/declared")" -ge 30 ] || fail "suspiciously few declarations found"

# A program built with plain cc and pkg-config, shared then static.
src=$R/test/install/consumer.c
# shellcheck disable=SC2046
cc -std=c11 -Wall -Wextra -Werror -o "$T/consumer" "$src" $(pkg-config --cflags --libs shmring) ||
    fail "cc with pkg-config --libs shmring"
if [ -x "$T/consumer" ]; then
    out=$(LD_LIBRARY_PATH=$P/lib timeout 120 "$T/consumer" "inst-$$" 100000) && ok "shared: $out" ||
        fail "shared consumer: $out"
    ldd "$T/consumer" | grep -q "$P/lib/libshmring.so.2" || LD_LIBRARY_PATH=$P/lib ldd "$T/consumer" |
        grep -q "$P/lib/libshmring.so.2" || fail "consumer does not load the installed .so"
fi
# shellcheck disable=SC2046
cc -std=c11 -static-libgcc -o "$T/consumer_static" "$src" -Wl,-Bstatic $(pkg-config --cflags --libs-only-L shmring) \
    -lshmring -Wl,-Bdynamic $(pkg-config --static --libs-only-l shmring | sed 's/-lshmring//') ||
    fail "static link with pkg-config --static"
if [ -x "$T/consumer_static" ]; then
    ldd "$T/consumer_static" | grep -q libshmring && fail "static consumer still loads libshmring.so"
    out=$(timeout 120 "$T/consumer_static" "insts-$$" 100000) && ok "static: $out" || fail "static consumer: $out"
fi

# Every public header on its own, from C and from C++.
for h in "$P"/include/shmring/*.h; do
    b=$(basename "$h")
    echo "#include <shmring/$b>" >"$T/h.c"
    cp "$T/h.c" "$T/h.cc"
    gcc -std=c11 -pedantic -Wall -Wextra -Werror -I"$P/include" -c "$T/h.c" -o /dev/null 2>"$T/err" ||
        fail "C11 -pedantic: $b: $(head -3 "$T/err")"
    g++ -std=c++17 -Wall -Wextra -Werror -I"$P/include" -c "$T/h.cc" -o /dev/null 2>"$T/err" ||
        fail "C++17: $b: $(head -3 "$T/err")"
done
ok "headers compile alone from C11 and C++17"

# Man pages.
for page in "$P"/share/man/man*/*; do
    LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -E UTF-8 -l "$page" >/dev/null 2>"$T/err"
    [ -s "$T/err" ] && fail "man -l $(basename "$page"): $(head -3 "$T/err")"
    if command -v mandoc >/dev/null; then
        mandoc -Tlint -Wwarning "$page" >"$T/err" 2>&1 || fail "mandoc -Tlint $(basename "$page"): $(head -3 "$T/err")"
    fi
done
ok "man pages render without warnings"

"$P/bin/shmring" --help | grep -q bridge || fail "installed shmring --help"

echo "$fails failed"
[ "$fails" = 0 ]
