#!/usr/bin/env bash
# Every error code the library's sources return (a literal -ECODE in lib/ or in the public headers)
# is in the public table SHMRING_ERRNO_MAP (include/shmring/common.h, one of the arguments), so
# shmring_err_name() and shmring_strerror() know it. Arguments: the sources.
set -u
table=$(printf '%s\n' "$@" | grep '/shmring/common\.h$' | head -1)
[ -n "$table" ] || { echo "FAIL: include/shmring/common.h is not among the arguments"; exit 1; }
listed=$(sed -n '/^#define SHMRING_ERRNO_MAP/,/^$/p' "$table" | grep -oE 'X\(E[A-Z0-9]+' | cut -c3- | sort -u)
[ -n "$listed" ] || { echo "FAIL: no SHMRING_ERRNO_MAP in $table"; exit 1; }
used=$(cat "$@" | grep -oE -- '-E[A-Z0-9]{2,}\b' | cut -c2- | sort -u)
missing=$(comm -23 <(echo "$used") <(echo "$listed"))
echo "table: $(echo "$listed" | wc -l) codes; sources return $(echo "$used" | wc -l) distinct literal codes"
if [ -n "$missing" ]; then
    echo "FAIL: returned by the library but not in SHMRING_ERRNO_MAP: $missing"
    exit 1
fi
echo "ok: every literal code is in the table"
