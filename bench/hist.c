/* bench — log-linear histogram. See hist.h. */
#include "bench/hist.h"

#include <string.h>

_Static_assert(BENCH_HIST_BUCKETS == 3776, "index of UINT64_MAX is 57 * 64 + 127");

uint64_t bench_hist_bucket_low(size_t i)
{
    unsigned shift;
    if (i < 2 * (size_t)BENCH_HIST_SUB)
        return (uint64_t)i;
    shift = (unsigned)(i / BENCH_HIST_SUB) - 1;
    return (uint64_t)(i % BENCH_HIST_SUB + BENCH_HIST_SUB) << shift;
}

uint64_t bench_hist_bucket_high(size_t i)
{
    unsigned shift;
    if (i < 2 * (size_t)BENCH_HIST_SUB)
        return (uint64_t)i;
    shift = (unsigned)(i / BENCH_HIST_SUB) - 1;
    /* For the last bucket (m + 1) << shift is 2^64: the unsigned wrap gives UINT64_MAX. */
    return ((uint64_t)(i % BENCH_HIST_SUB + BENCH_HIST_SUB + 1) << shift) - 1;
}

void bench_hist_init(struct bench_hist *h)
{
    memset(h, 0, sizeof(*h));
    h->min = UINT64_MAX;
}

void bench_hist_merge(struct bench_hist *dst, const struct bench_hist *src)
{
    size_t i;
    if (src->count == 0)
        return;
    for (i = 0; i < BENCH_HIST_BUCKETS; i++)
        dst->counts[i] += src->counts[i];
    dst->count += src->count;
    dst->sum += src->sum;
    if (src->min < dst->min)
        dst->min = src->min;
    if (src->max > dst->max)
        dst->max = src->max;
}

/* Nearest rank: ceil(p/100 * count), in [1, count]. The small epsilon keeps a rank that is an
 * integer in exact arithmetic (99.9 % of 1000 = 999) from rounding up to the next one. */
static uint64_t rank_of(const struct bench_hist *h, double p)
{
    double r = p / 100.0 * (double)h->count;
    uint64_t rank = (uint64_t)r;
    if ((double)rank < r - 1e-9 * r)
        rank++;
    if (rank == 0)
        rank = 1;
    if (rank > h->count)
        rank = h->count;
    return rank;
}

uint64_t bench_hist_percentile(const struct bench_hist *h, double p)
{
    uint64_t rank, seen = 0;
    size_t i;
    if (h->count == 0)
        return 0;
    if (!(p > 0.0)) /* also NaN */
        return h->min;
    if (p >= 100.0)
        return h->max;
    rank = rank_of(h, p);
    for (i = 0; i < BENCH_HIST_BUCKETS; i++) {
        seen += h->counts[i];
        if (seen >= rank) {
            uint64_t v = bench_hist_bucket_high(i);
            if (v > h->max)
                v = h->max;
            if (v < h->min)
                v = h->min;
            return v;
        }
    }
    return h->max; /* not reached: the counts add up to count */
}

double bench_hist_mean(const struct bench_hist *h)
{
    return h->count ? (double)h->sum / (double)h->count : 0.0;
}

double bench_hist_trimmed_mean(const struct bench_hist *h, double p)
{
    uint64_t left;
    double sum = 0;
    size_t i;
    if (h->count == 0 || !(p > 0.0))
        return 0.0;
    if (p >= 100.0)
        return bench_hist_mean(h);
    left = rank_of(h, p);
    for (i = 0; i < BENCH_HIST_BUCKETS && left > 0; i++) {
        uint64_t n = h->counts[i] < left ? h->counts[i] : left;
        if (n == 0)
            continue;
        /* The middle of the bucket; exact for one-value buckets. */
        sum += (double)n * ((double)bench_hist_bucket_low(i) + (double)(bench_hist_bucket_high(i) - bench_hist_bucket_low(i)) / 2.0);
        left -= n;
    }
    return sum / (double)rank_of(h, p);
}
