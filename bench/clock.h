/* bench — timestamps for the benchmarks: the TSC, calibrated against CLOCK_MONOTONIC.
 *
 * On x86-64 a timestamp is `lfence; rdtsc` at the start of a timed region and `rdtscp; lfence` at
 * its end (the fences keep the region's own instructions between the two reads). The TSC must be
 * invariant (constant_tsc and nonstop_tsc in /proc/cpuinfo) and synchronised across CPUs, so that a
 * tick count taken on one CPU can be compared with one taken on another; bench_clock_init() says
 * whether the CPU claims so. Elsewhere the ticks are CLOCK_MONOTONIC nanoseconds.
 *
 * Not thread-safe to initialise; the readers are.
 */
#ifndef SHMRING_BENCH_CLOCK_H
#define SHMRING_BENCH_CLOCK_H

#include <stdint.h>

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#define BENCH_CLOCK_TSC 1
#else
#define BENCH_CLOCK_TSC 0
#endif

struct bench_clock {
    double ghz;              /* ticks per nanosecond */
    double ns_per_tick;      /* 1 / ghz */
    double overhead_ticks;   /* cost of bench_ticks_start() + bench_ticks_stop() back to back: the mean
                                of many pairs (less their top 1 %); with a clock that advances in steps
                                a mean is unbiased where a median is not */
    double overhead_ns;
    uint64_t step_ticks;     /* smallest non-zero difference of two consecutive reads: the clock's
                                resolution as seen here (some CPUs and VMs advance the TSC in steps) */
    double step_ns;
    int tsc;                 /* 1: the ticks are TSC ticks; 0: CLOCK_MONOTONIC ns */
    int invariant;           /* 1: /proc/cpuinfo lists constant_tsc and nonstop_tsc */
    int64_t calib_ns;        /* how long the calibration ran */
};

/* CLOCK_MONOTONIC in nanoseconds. */
int64_t bench_now_ns(void);

/* Calibrates the tick rate against CLOCK_MONOTONIC over about calib_ns nanoseconds (busy-waits)
 * and measures the cost of one timestamp pair. Returns 0. */
int bench_clock_init(struct bench_clock *c, int64_t calib_ns);

/* A timestamp that opens a timed region: earlier instructions finish first. */
static inline uint64_t bench_ticks_start(void)
{
#if BENCH_CLOCK_TSC
    uint64_t t;
    _mm_lfence();
    t = __rdtsc();
    return t;
#else
    return (uint64_t)bench_now_ns();
#endif
}

/* A timestamp that closes a timed region: the region's loads and instructions are done before it,
 * and later instructions do not start before it. */
static inline uint64_t bench_ticks_stop(void)
{
#if BENCH_CLOCK_TSC
    unsigned aux;
    uint64_t t = __rdtscp(&aux);
    _mm_lfence();
    return t;
#else
    return (uint64_t)bench_now_ns();
#endif
}

/* A plain timestamp for deadlines (no ordering, cheapest). */
static inline uint64_t bench_ticks(void)
{
#if BENCH_CLOCK_TSC
    return __rdtsc();
#else
    return (uint64_t)bench_now_ns();
#endif
}

static inline double bench_ticks_to_ns(const struct bench_clock *c, uint64_t ticks)
{
    return (double)ticks * c->ns_per_tick;
}

static inline uint64_t bench_ns_to_ticks(const struct bench_clock *c, double ns)
{
    return (uint64_t)(ns * c->ghz);
}

#endif /* SHMRING_BENCH_CLOCK_H */
