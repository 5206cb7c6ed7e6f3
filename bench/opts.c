/* shmring bench — the command line. See bench.h and usage() below. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench.h"

const char *const workload_names[W_COUNT] = {"pingpong", "stream", "paced"};

static void usage(FILE *f)
{
    int i;
    fprintf(f,
            "usage: shmring_bench [options]        (also: shmring bench [options])\n"
            "\n"
            "Measures latency and throughput between two processes pinned to two CPUs, over the\n"
            "shmring rings and the classic IPC mechanisms, in one run, through one harness:\n"
            "\n"
            "workloads (--workloads):\n"
            "  pingpong  round trips of one message each way; percentiles of the round-trip time\n"
            "  stream    one-way stream; records/s and GB/s received (shmring: zero-copy, --batch\n"
            "            records per commit/release, the consumer reads every byte)\n"
            "  paced     shmring only, records of 24 bytes or more: a stream sent at fixed rates (--rates,\n"
            "            percent of the maximum measured first); the latency of every record is taken\n"
            "            from its scheduled send time, so a stall delays every later record (no\n"
            "            coordinated omission)\n"
            "\n"
            "transports (--transports):\n");
    for (i = 0; i < TP_COUNT; i++)
        fprintf(f, "  %-11s %s\n", transports[i].name, transports[i].desc);
    fprintf(f,
            "\n"
            "options:\n"
            "  --size LIST        record sizes in bytes, comma-separated, each in [8, 1M]; K/M\n"
            "                     suffixes are binary (default 64,4096)\n"
            "  --capacity BYTES   shmring ring capacity, a power of two in [256, 16G] (default: 4K\n"
            "                     for ping-pong, 4M for streams, raised to hold 4 records)\n"
            "  --batch LIST       zero-copy shmring stream (spsc, mpmc, bcast and their -sleep flavours):\n"
            "                     records per commit/release, comma-separated, each in [1, 65536]; the\n"
            "                     stream runs once per value (default 1,64; with --sweep 64)\n"
            "  --spin N           *-sleep transports: spins before a wait sleeps on the semaphore,\n"
            "                     in [0, 2^32) (default 64)\n"
            "  --gap-us US        *-sleep and kernel ping-pong: idle time between round trips, so the peer\n"
            "                     sleeps (the low-rate case), in [0, 1e6] (default 50)\n"
            "  --rates LIST       paced stream: percents of the measured maximum, each in [1, 100]\n"
            "                     (default 10,50,90)\n"
            "  --cpus A,B         pin the parent to CPU A and the child to CPU B (default 0,1;\n"
            "                     unpinned when this process may not use both)\n"
            "  --duration S       seconds per measurement, in (0, 3600] (default 0.5)\n"
            "  --count N          messages per measurement instead of --duration, in [1, 2^40]\n"
            "  --probe-ms MS      length of the cache-line probe before each measurement (default 20)\n"
            "  --huge             shmring segments on huge pages (needs vm.nr_hugepages)\n"
            "  --wake PROTOCOL    shmring rings' wake-up protocol: fenced, membarrier or default\n"
            "                     (the library's; docs/wakeup.md)\n"
            "  --align BYTES      SPSC rings (spsc, spsc-sleep, spsc-copy): record alignment, 8 or 64;\n"
            "                     64 creates them with SHMRING_F_ALIGN64, every record on a cache line\n"
            "                     of its own (default 8)\n"
            "  --transports LIST  comma-separated names from the list above, or the groups all,\n"
            "                     floor, shmring, kernel, peers (default all)\n"
            "  --workloads LIST   pingpong, stream, paced, or all (default all)\n"
            "  --sweep            the README's performance run: every transport, every workload, sizes\n"
            "                     8,64,512,4K,64K,1M, 0.3 s each; writes the plots when --plot is given\n"
            "                     (about 2-3 minutes on 2 CPUs)\n"
            "  --csv FILE         also write every result as CSV\n"
            "  --json FILE        also write every result as JSON\n"
            "  --plot DIR         write gnuplot PNGs into DIR (made if missing): latency CDF per\n"
            "                     transport, throughput against record size (needs gnuplot)\n"
            "  --quick            short run for smoke tests (20 ms per measurement, 2 ms probes)\n"
            "  --quiet            no progress lines on stderr\n"
            "  --inject-fault     test the verification: the parent sends record %u with a wrong\n"
            "                     sequence number; the run must fail with status 1\n"
            "  --help             this text\n"
            "\n"
            "Timing: rdtsc/rdtscp calibrated against CLOCK_MONOTONIC; the cost of one timestamp pair\n"
            "is measured and printed (round trips include it). Syscalls per message: counted call by\n"
            "call for the kernel transports; for shmring, the semaphore operations from the rings'\n"
            "own sleep and wake-up counters. Context switches per message: getrusage of both sides.\n"
            "\n"
            "exit status: 0 done, 1 run-time failure, 2 bad usage, 128+N stopped by signal N\n",
            INJECT_AT);
}

static int bad(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int bad(const char *fmt, ...)
{
    va_list ap;
    fputs("shmring_bench: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\n(try --help)\n", stderr);
    return 2;
}

/* A whole number, with an optional binary K/M/G suffix. 0 or -1. */
static int parse_u64(const char *s, uint64_t *out, int allow_suffix)
{
    char *end;
    unsigned long long v;
    uint64_t mul = 1;
    if (s == NULL || *s < '0' || *s > '9')
        return -1;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0)
        return -1;
    if (allow_suffix && *end != '\0' && end[1] == '\0') {
        switch (*end) {
        case 'k': case 'K': mul = UINT64_C(1) << 10; end++; break;
        case 'm': case 'M': mul = UINT64_C(1) << 20; end++; break;
        case 'g': case 'G': mul = UINT64_C(1) << 30; end++; break;
        default: return -1;
        }
    }
    if (*end != '\0' || (v != 0 && mul > UINT64_MAX / v))
        return -1;
    *out = (uint64_t)v * mul;
    return 0;
}

static int parse_double(const char *s, double lo, double hi, double *out)
{
    char *end;
    double v;
    if (s == NULL || *s == '\0')
        return -1;
    errno = 0;
    v = strtod(s, &end);
    if (errno != 0 || *end != '\0' || !(v >= lo) || !(v <= hi))
        return -1;
    *out = v;
    return 0;
}

/* Splits a comma list into items; calls fn(item, len, ctx) for each. -1 on an empty item. */
static int each_item(const char *s, int (*fn)(const char *, size_t, void *), void *ctx)
{
    if (s == NULL || *s == '\0')
        return -1;
    for (;;) {
        size_t n = strcspn(s, ",");
        if (n == 0 || fn(s, n, ctx) != 0)
            return -1;
        s += n;
        if (*s == '\0')
            return 0;
        s++;
    }
}

static int item_eq(const char *s, size_t n, const char *name)
{
    return strlen(name) == n && strncmp(s, name, n) == 0;
}

static int add_transport(const char *s, size_t n, void *ctx)
{
    unsigned *mask = ctx;
    int i;
    if (item_eq(s, n, "all")) {
        *mask |= (1u << TP_COUNT) - 1;
        return 0;
    }
    if (item_eq(s, n, "floor")) {
        *mask |= 1u << TP_CACHELINE | 1u << TP_MEMCPY;
        return 0;
    }
    if (item_eq(s, n, "shmring")) {
        *mask |= 1u << TP_SPSC | 1u << TP_SPSC_SLEEP | 1u << TP_MPMC | 1u << TP_MPMC_SLEEP | 1u << TP_BCAST |
                 1u << TP_BCAST_SLEEP | 1u << TP_SPSC_COPY;
        return 0;
    }
    if (item_eq(s, n, "peers")) {
        *mask |= 1u << TP_CK | 1u << TP_RTE;
        return 0;
    }
    if (item_eq(s, n, "kernel")) {
        for (i = TP_PIPE; i <= TP_SHMSEM; i++)
            *mask |= 1u << i;
        return 0;
    }
    for (i = 0; i < TP_COUNT; i++) {
        if (item_eq(s, n, transports[i].name)) {
            *mask |= 1u << i;
            return 0;
        }
    }
    return -1;
}

static int add_workload(const char *s, size_t n, void *ctx)
{
    unsigned *mask = ctx;
    int i;
    if (item_eq(s, n, "all")) {
        *mask |= (1u << W_COUNT) - 1;
        return 0;
    }
    for (i = 0; i < W_COUNT; i++) {
        if (item_eq(s, n, workload_names[i])) {
            *mask |= 1u << i;
            return 0;
        }
    }
    return -1;
}

/* One list item as a whole number (K/M/G suffixes when allowed) in [lo, hi]. 0 or -1. */
static int item_u64(const char *s, size_t n, int allow_suffix, uint64_t lo, uint64_t hi, uint64_t *out)
{
    char buf[32];
    if (n >= sizeof(buf))
        return -1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    if (parse_u64(buf, out, allow_suffix) != 0 || *out < lo || *out > hi)
        return -1;
    return 0;
}

static int add_size(const char *s, size_t n, void *ctx)
{
    struct opts *o = ctx;
    uint64_t v;
    if (o->nsizes == BENCH_MAX_SIZES || item_u64(s, n, 1, BENCH_SIZE_MIN, BENCH_SIZE_MAX, &v) != 0)
        return -1;
    o->sizes[o->nsizes++] = (uint32_t)v;
    return 0;
}

static int add_rate(const char *s, size_t n, void *ctx)
{
    struct opts *o = ctx;
    uint64_t v;
    if (o->nrates == BENCH_MAX_RATES || item_u64(s, n, 0, 1, 100, &v) != 0)
        return -1;
    o->rates[o->nrates++] = (int)v;
    return 0;
}

static int add_batch(const char *s, size_t n, void *ctx)
{
    struct opts *o = ctx;
    uint64_t v;
    if (o->nbatches == BENCH_MAX_BATCHES || item_u64(s, n, 0, 1, 65536, &v) != 0)
        return -1;
    o->batches[o->nbatches++] = (unsigned)v;
    return 0;
}

int bench_parse_opts(int argc, char **argv, struct opts *o)
{
    enum { O_SIZE = 256, O_CAPACITY, O_BATCH, O_SPIN, O_GAP, O_RATES, O_CPUS, O_DURATION, O_COUNT,
           O_PROBE, O_HUGE, O_WAKE, O_ALIGN, O_TRANSPORTS, O_WORKLOADS, O_SWEEP, O_CSV, O_JSON, O_PLOT, O_QUICK,
           O_QUIET, O_INJECT, O_HELP };
    static const struct option longopts[] = {
        {"size", required_argument, NULL, O_SIZE},
        {"capacity", required_argument, NULL, O_CAPACITY},
        {"batch", required_argument, NULL, O_BATCH},
        {"spin", required_argument, NULL, O_SPIN},
        {"gap-us", required_argument, NULL, O_GAP},
        {"rates", required_argument, NULL, O_RATES},
        {"cpus", required_argument, NULL, O_CPUS},
        {"duration", required_argument, NULL, O_DURATION},
        {"count", required_argument, NULL, O_COUNT},
        {"probe-ms", required_argument, NULL, O_PROBE},
        {"huge", no_argument, NULL, O_HUGE},
        {"wake", required_argument, NULL, O_WAKE},
        {"align", required_argument, NULL, O_ALIGN},
        {"transports", required_argument, NULL, O_TRANSPORTS},
        {"workloads", required_argument, NULL, O_WORKLOADS},
        {"sweep", no_argument, NULL, O_SWEEP},
        {"csv", required_argument, NULL, O_CSV},
        {"json", required_argument, NULL, O_JSON},
        {"plot", required_argument, NULL, O_PLOT},
        {"quick", no_argument, NULL, O_QUICK},
        {"quiet", no_argument, NULL, O_QUIET},
        {"inject-fault", no_argument, NULL, O_INJECT},
        {"help", no_argument, NULL, O_HELP},
        {NULL, 0, NULL, 0},
    };
    int c, duration_given = 0, probe_given = 0, sizes_given = 0, quick = 0;
    uint64_t v;
    cpu_set_t allowed;

    memset(o, 0, sizeof(*o));
    o->align = 8;
    o->spin = 64;
    o->gap_us = 50.0;
    o->cpu[0] = 0;
    o->cpu[1] = 1;
    o->duration = 0.5;
    o->probe_ms = 20.0;

    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case O_SIZE:
            o->nsizes = 0;
            if (each_item(optarg, add_size, o) != 0)
                return bad("--size: expected up to %d comma-separated sizes, each in [8, 1M] bytes "
                           "(K/M suffixes), got '%s'", BENCH_MAX_SIZES, optarg);
            sizes_given = 1;
            break;
        case O_CAPACITY:
            if (parse_u64(optarg, &v, 1) != 0 || v < SHMRING_SPSC_CAPACITY_MIN || v > (UINT64_C(1) << 34) ||
                (v & (v - 1)) != 0)
                return bad("--capacity: expected a power of two in [256, 16G] bytes (K/M/G suffixes), got '%s'",
                           optarg);
            o->capacity = v;
            break;
        case O_BATCH:
            o->nbatches = 0;
            if (each_item(optarg, add_batch, o) != 0)
                return bad("--batch: expected up to %d comma-separated whole numbers, each in [1, 65536], got '%s'",
                           BENCH_MAX_BATCHES, optarg);
            break;
        case O_SPIN:
            if (parse_u64(optarg, &v, 0) != 0 || v > UINT32_MAX)
                return bad("--spin: expected a whole number in [0, 2^32), got '%s'", optarg);
            o->spin = (uint32_t)v;
            break;
        case O_GAP:
            if (parse_double(optarg, 0.0, 1e6, &o->gap_us) != 0)
                return bad("--gap-us: expected microseconds in [0, 1e6], got '%s'", optarg);
            break;
        case O_RATES:
            o->nrates = 0;
            if (each_item(optarg, add_rate, o) != 0)
                return bad("--rates: expected up to %d comma-separated percents, each in [1, 100], got '%s'",
                           BENCH_MAX_RATES, optarg);
            break;
        case O_CPUS: {
            const char *comma = strchr(optarg, ',');
            char a[24], b[24];
            uint64_t x, y;
            if (comma == NULL || (size_t)(comma - optarg) >= sizeof(a) || strlen(comma + 1) >= sizeof(b))
                return bad("--cpus: expected A,B (two CPU numbers), got '%s'", optarg);
            memcpy(a, optarg, (size_t)(comma - optarg));
            a[comma - optarg] = '\0';
            strcpy(b, comma + 1);
            if (parse_u64(a, &x, 0) != 0 || parse_u64(b, &y, 0) != 0 || x >= CPU_SETSIZE || y >= CPU_SETSIZE)
                return bad("--cpus: expected A,B (two CPU numbers), got '%s'", optarg);
            if (x == y)
                return bad("--cpus: the two sides need two different CPUs, got '%s'", optarg);
            o->cpu[0] = (int)x;
            o->cpu[1] = (int)y;
            if (sched_getaffinity(0, sizeof(allowed), &allowed) != 0)
                return bad("--cpus: cannot read this process's CPU affinity");
            if (!CPU_ISSET(o->cpu[0], &allowed) || !CPU_ISSET(o->cpu[1], &allowed))
                return bad("--cpus: CPU %d or %d is not available to this process (it may use %d CPUs)", o->cpu[0],
                           o->cpu[1], CPU_COUNT(&allowed));
            break;
        }
        case O_DURATION:
            if (parse_double(optarg, 1e-6, 3600.0, &o->duration) != 0)
                return bad("--duration: expected seconds in (0, 3600], got '%s'", optarg);
            duration_given = 1;
            break;
        case O_COUNT:
            if (parse_u64(optarg, &v, 0) != 0 || v == 0 || v > (UINT64_C(1) << 40))
                return bad("--count: expected a whole number in [1, 2^40], got '%s'", optarg);
            o->count = v;
            break;
        case O_PROBE:
            if (parse_double(optarg, 0.0, 10000.0, &o->probe_ms) != 0)
                return bad("--probe-ms: expected milliseconds in [0, 10000], got '%s'", optarg);
            probe_given = 1;
            break;
        case O_HUGE:
            o->huge = 1;
            break;
        case O_WAKE:
            if (strcmp(optarg, "fenced") == 0)
                o->wake = SHMRING_F_WAKE_FENCED;
            else if (strcmp(optarg, "membarrier") == 0)
                o->wake = SHMRING_F_WAKE_MEMBARRIER;
            else if (strcmp(optarg, "default") == 0)
                o->wake = 0;
            else
                return bad("--wake: expected fenced, membarrier or default, got '%s'", optarg);
            break;
        case O_ALIGN:
            if (strcmp(optarg, "8") == 0)
                o->align = 8;
            else if (strcmp(optarg, "64") == 0)
                o->align = 64;
            else
                return bad("--align: expected 8 or 64 (bytes: SPSC record alignment), got '%s'", optarg);
            break;
        case O_TRANSPORTS:
            o->transports = 0;
            if (each_item(optarg, add_transport, &o->transports) != 0)
                return bad("--transports: expected a comma-separated list of transport names or all, floor, "
                           "shmring, kernel, peers (see --help), got '%s'", optarg);
            break;
        case O_WORKLOADS:
            o->workloads = 0;
            if (each_item(optarg, add_workload, &o->workloads) != 0)
                return bad("--workloads: expected a comma-separated list of pingpong, stream, paced or all, "
                           "got '%s'", optarg);
            break;
        case O_SWEEP:
            o->sweep = 1;
            break;
        case O_CSV:
            o->csv = optarg;
            break;
        case O_JSON:
            o->json = optarg;
            break;
        case O_PLOT:
            if (optarg[0] == '\0')
                return bad("--plot: expected a directory, got ''");
            o->plot_dir = optarg;
            break;
        case O_QUICK:
            quick = 1;
            break;
        case O_QUIET:
            o->quiet = 1;
            break;
        case O_INJECT:
            o->inject_fault = 1;
            break;
        case 'h':
        case O_HELP:
            usage(stdout);
            return -1;
        default:
            if (optopt >= O_SIZE)
                return bad("option '%s' needs a value", argv[optind - 1]);
            return bad("unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return bad("unexpected argument '%s'", argv[optind]);
    if (o->sweep && sizes_given)
        return bad("--sweep: chooses its own sizes (8,64,512,4K,64K,1M); drop --size");
    if (o->sweep) {
        static const uint32_t sweep_sizes[] = {8, 64, 512, 4096, 65536, 1u << 20};
        o->nsizes = (int)(sizeof(sweep_sizes) / sizeof(sweep_sizes[0]));
        memcpy(o->sizes, sweep_sizes, sizeof(sweep_sizes));
        if (!duration_given)
            o->duration = 0.3;
    }
    if (o->nsizes == 0) {
        o->sizes[0] = 64;
        o->sizes[1] = 4096;
        o->nsizes = 2;
    }
    if (o->nbatches == 0) {
        /* Batch 1 beside 64 for the issue-13 target; the sweep (the README's table) keeps 64 only. */
        o->batches[o->nbatches++] = o->sweep ? 64 : 1;
        if (!o->sweep)
            o->batches[o->nbatches++] = 64;
    }
    if (o->nrates == 0) {
        o->rates[0] = 10;
        o->rates[1] = 50;
        o->rates[2] = 90;
        o->nrates = 3;
    }
    if (o->transports == 0)
        o->transports = (1u << TP_COUNT) - 1;
    if (o->workloads == 0)
        o->workloads = (1u << W_COUNT) - 1;
    if (quick) {
        if (!duration_given)
            o->duration = 0.02;
        if (!probe_given)
            o->probe_ms = 2.0;
    }
    if (o->capacity) {
        /* SPSC rings with 64-byte records: the largest record is capacity - 72, and a header takes a line. */
        unsigned spsc = 1u << TP_SPSC | 1u << TP_SPSC_SLEEP | 1u << TP_SPSC_COPY;
        uint64_t room = o->align == 64 && (o->transports & spsc) ? 136 : 32;
        int i;
        for (i = 0; i < o->nsizes; i++)
            if ((uint64_t)o->sizes[i] + room > o->capacity)
                return bad("--capacity %" PRIu64 ": a record of %u bytes does not fit (largest record: "
                           "capacity - %s, and ping-pong needs room for one more header)",
                           o->capacity, o->sizes[i], room == 32 ? "16" : "72 in an SPSC ring with --align 64");
    }
    if (o->workloads & (1u << W_PACED)) {
        int i;
        for (i = 0; i < o->nsizes; i++)
            if (o->sizes[i] < 24 && (o->workloads & ~(1u << W_PACED)) == 0)
                return bad("--size %u: a paced record holds its sequence number twice and its scheduled time "
                           "(24 bytes at least)", o->sizes[i]);
    }
    /* Default placement: pinned to 0 and 1 when this process may use both, else unpinned. */
    if (sched_getaffinity(0, sizeof(allowed), &allowed) == 0 && !(CPU_ISSET(o->cpu[0], &allowed) &&
                                                                  CPU_ISSET(o->cpu[1], &allowed))) {
        o->cpu[0] = -1;
        o->cpu[1] = -1;
    }
    return 0;
}
