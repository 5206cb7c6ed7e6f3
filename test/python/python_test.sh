#!/bin/bash
# The Python binding: installs python/ with pip from the checkout (Debian's python3-pip; no
# network: the build backend is Debian's setuptools and wheel), then runs test_shmring.py against
# the built libshmring.so.2 with the installed package, and once more from the source folder with
# the python3 first on PATH if it is another interpreter (the binding is pure Python: any
# python3 >= 3.8 with ctypes).
# Usage: python_test.sh   (from Bazel's runfiles root)
set -u
R=$PWD
T=${TEST_TMPDIR:-$(mktemp -d)}
export SHMRING_LIB=$R/dist/libshmring.so.2
export HOME=$T PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
PY=/usr/bin/python3
fails=0
cp -r "$R/python" "$T/src" # pip builds in the source folder; runfiles are read-only
if "$PY" -m pip install --no-build-isolation --no-deps --no-index --target "$T/site" "$T/src" >"$T/pip.log" 2>&1; then
    echo "ok: pip install ./python ($("$PY" --version))"
    (cd "$R/test/python" && PYTHONPATH=$T/site timeout 300 "$PY" -m unittest -v test_shmring) || fails=$((fails + 1))
    PYTHONPATH=$T/site "$PY" -c 'import shmring, sys; assert shmring.__file__.startswith(sys.argv[1]), shmring.__file__' "$T/site" ||
        { echo "FAIL: the installed package was not the one imported"; fails=$((fails + 1)); }
else
    echo "FAIL: pip install of python/ (with $PY):"
    cat "$T/pip.log"
    fails=$((fails + 1))
fi
other=$(command -v python3)
if [ -n "$other" ] && [ "$(readlink -f "$other")" != "$(readlink -f "$PY")" ]; then
    echo "also with $other ($("$other" --version 2>&1))"
    (cd "$R/test/python" && PYTHONPATH=$R/python timeout 300 "$other" -m unittest test_shmring) || fails=$((fails + 1))
fi
echo "$fails failed"
[ "$fails" = 0 ]
