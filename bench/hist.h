/* bench — a log-linear histogram of non-negative integers (latencies in ns), HdrHistogram-style.
 *
 * Values below 2 * BENCH_HIST_SUB (128) have a bucket each, so they are recorded exactly. Above,
 * every power-of-two range [2^e, 2^(e+1)) is cut into BENCH_HIST_SUB (64) equal buckets, so a
 * bucket is at most 1/64 (1.6 %) of the values it holds wide. Every uint64_t value has a bucket
 * (59 * 64 = 3776 buckets, 30 KiB): nothing is clipped. Recording is a few instructions and no
 * branch on the value's range beyond one compare.
 *
 * Percentiles use the nearest-rank method: the value at rank ceil(p/100 * count) in sorted order
 * (rank 1 for p = 0). The histogram reports the HIGHEST value of that rank's bucket, capped at the
 * largest value recorded: a reported p99 of 503 means "99 % of the values were at most 503", never
 * an understatement. min, max and the sum (for the mean) are exact.
 *
 * A histogram is a plain struct: one writer at a time, no allocation.
 */
#ifndef SHMRING_BENCH_HIST_H
#define SHMRING_BENCH_HIST_H

#include <stddef.h>
#include <stdint.h>

#define BENCH_HIST_SUB_BITS 6
#define BENCH_HIST_SUB (1u << BENCH_HIST_SUB_BITS) /* linear sub-buckets per power of two */
/* Exact region: [0, 2*SUB) (two groups). Then one group of SUB buckets per exponent e in
 * [SUB_BITS+1, 63]: 2 + 63 - SUB_BITS groups. */
#define BENCH_HIST_BUCKETS ((size_t)(65 - BENCH_HIST_SUB_BITS) * BENCH_HIST_SUB)

struct bench_hist {
    uint64_t count;
    uint64_t min; /* UINT64_MAX when empty */
    uint64_t max;
    uint64_t sum; /* wraps after 2^64: 584 years of nanoseconds */
    uint64_t counts[BENCH_HIST_BUCKETS];
};

/* The bucket that holds v. */
static inline size_t bench_hist_index(uint64_t v)
{
    unsigned e, shift;
    if (v < 2 * (uint64_t)BENCH_HIST_SUB)
        return (size_t)v;
    e = 63u - (unsigned)__builtin_clzll(v); /* v >= 2^(SUB_BITS+1), so e >= SUB_BITS + 1 */
    shift = e - BENCH_HIST_SUB_BITS;
    /* v >> shift is in [SUB, 2*SUB); groups follow each other without gaps. */
    return (size_t)shift * BENCH_HIST_SUB + (size_t)(v >> shift);
}

/* Smallest and largest value of bucket i (i < BENCH_HIST_BUCKETS). */
uint64_t bench_hist_bucket_low(size_t i);
uint64_t bench_hist_bucket_high(size_t i);

/* Empties h. */
void bench_hist_init(struct bench_hist *h);

static inline void bench_hist_record_n(struct bench_hist *h, uint64_t v, uint64_t n)
{
    if (n == 0)
        return;
    h->counts[bench_hist_index(v)] += n;
    h->count += n;
    h->sum += v * n;
    if (v < h->min)
        h->min = v;
    if (v > h->max)
        h->max = v;
}

static inline void bench_hist_record(struct bench_hist *h, uint64_t v)
{
    bench_hist_record_n(h, v, 1);
}

/* Adds every value of src to dst. */
void bench_hist_merge(struct bench_hist *dst, const struct bench_hist *src);

/* The p-th percentile (p in [0, 100]; out of range is clamped) as described above; 0 when empty.
 * p = 100 gives the exact max, p = 0 the exact min. */
uint64_t bench_hist_percentile(const struct bench_hist *h, double p);

/* The exact mean; 0 when empty. Never report it alone. */
double bench_hist_mean(const struct bench_hist *h);

/* The mean of the lowest ceil(p/100 * count) values (p in (0, 100]), which leaves out the rare
 * huge values (a preempted round trip) that swamp the plain mean. Each value counts as the middle
 * of its bucket: exact below 128, within 0.8 % above. 0 when empty. With a coarse clock (a TSC
 * that advances in steps) it is a finer estimate of the typical value than any percentile. */
double bench_hist_trimmed_mean(const struct bench_hist *h, double p);

#endif /* SHMRING_BENCH_HIST_H */
