"""Compiler flags and test macros shared by every shmring package.

Usage from a BUILD file:

    load("//tools/bazel:copts.bzl", "SHMRING_COPTS", "shmring_cc_tests")

Every flag below was checked with gcc 12 and clang 14 (Debian 12) against the
public headers of Criterion 2.4 and liburcu 0.13.
"""

load("@rules_cc//cc:defs.bzl", "cc_test")

# Flags for the library, benchmarks and any other C11 code.
#
# Deliberately absent:
#   -Wcast-align  gcc ignores it on x86-64, but clang 14 enforces it there and
#                 fires on every liburcu container_of-style macro
#                 (caa_container_of, cds_list_for_each_entry, ...), because they
#                 cast through `char *`.
#   -Wconversion  too noisy.
#   -march=...    the binaries must run on any x86-64 CI machine.
SHMRING_COPTS = [
    "-std=c11",
    "-D_GNU_SOURCE",
    "-Wall",
    "-Wextra",
    "-Werror",
    "-Wshadow",
    "-Wstrict-prototypes",
    "-Wmissing-prototypes",
    "-Wpointer-arith",
    "-Wwrite-strings",
    "-Wundef",
    "-Wvla",
    "-Wformat=2",
]

# Flags for Criterion test files: SHMRING_COPTS minus
#   -Wmissing-prototypes  test files may define non-static helpers freely
#                         (Criterion's own Test/ParameterizedTest/Theory/
#                         ReportHook macros are in fact clean under it);
#   -Wwrite-strings       Criterion's new assertion API types `str` as
#                         `char *`, so the everyday `cr_assert(eq(str, s, "x"))`
#                         is an error under -Wwrite-strings -Werror (both
#                         gcc 12 and clang 14).
SHMRING_TEST_COPTS = [
    f
    for f in SHMRING_COPTS
    if f not in ("-Wmissing-prototypes", "-Wwrite-strings")
]

# Flags for C++ translation units that include the public headers
# (to check that the headers are C++-clean).
SHMRING_CXX_COPTS = [
    "-std=c++17",
    "-Wall",
    "-Wextra",
    "-Werror",
    "-Wshadow",
]

def _test_name(src):
    base = src.rsplit("/", 1)[-1].rsplit(":", 1)[-1]
    if not base.endswith(".c"):
        fail("shmring_cc_tests: %r is not a .c file" % src)
    return base[:-len(".c")]

def shmring_cc_tests(srcs, deps = [], **kwargs):
    """Declares one Criterion cc_test per source file.

    Links with -lcriterion and -Wl,--no-gc-sections (see below).

    Each test is named after its file's basename without ".c"
    (test/ring_basic.c -> :ring_basic).

    Args:
      srcs: the .c test files, one test each.
      deps: dependencies of every test.
      **kwargs: passed to every cc_test (tags, size, timeout, data, ...).
        Extra `copts` / `linkopts` are appended to the defaults.
    """
    copts = SHMRING_TEST_COPTS + kwargs.pop("copts", [])
    # -Wl,--no-gc-sections: Bazel's opt mode links with --gc-sections, which
    # drops Criterion's "cr_tst" section; the binary then runs 0 tests and
    # exits 0. (.bazelrc sets it globally too; repeated here so the macro is
    # safe on its own.)
    linkopts = ["-lcriterion", "-Wl,--no-gc-sections"] + kwargs.pop("linkopts", [])
    for src in srcs:
        cc_test(
            name = _test_name(src),
            srcs = [src],
            deps = deps,
            copts = copts,
            linkopts = linkopts,
            **kwargs
        )
