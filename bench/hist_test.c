/* The benchmark histogram: known inputs give known percentiles; the bucket map has no gaps. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>

#include "bench/hist.h"

static struct bench_hist h, h2;

static void fill_range(struct bench_hist *x, uint64_t lo, uint64_t hi)
{
    uint64_t v;
    for (v = lo; v <= hi; v++)
        bench_hist_record(x, v);
}

Test(hist, empty)
{
    bench_hist_init(&h);
    cr_expect_eq(h.count, 0);
    cr_expect_eq(bench_hist_percentile(&h, 50), 0);
    cr_expect_eq(bench_hist_percentile(&h, 100), 0);
    cr_expect(bench_hist_mean(&h) == 0.0);
}

Test(hist, exact_region_1_to_100)
{
    bench_hist_init(&h);
    fill_range(&h, 1, 100);
    cr_expect_eq(h.count, 100);
    cr_expect_eq(bench_hist_percentile(&h, 0), 1);
    cr_expect_eq(bench_hist_percentile(&h, 1), 1);
    cr_expect_eq(bench_hist_percentile(&h, 50), 50);
    cr_expect_eq(bench_hist_percentile(&h, 90), 90);
    cr_expect_eq(bench_hist_percentile(&h, 99), 99);
    cr_expect_eq(bench_hist_percentile(&h, 99.9), 100);
    cr_expect_eq(bench_hist_percentile(&h, 100), 100);
    cr_expect(bench_hist_mean(&h) == 50.5, "mean %f", bench_hist_mean(&h));
}

Test(hist, log_region_1_to_1000)
{
    /* Above 127 a bucket holds 2^(e-6) values; the percentile is its highest value. */
    bench_hist_init(&h);
    fill_range(&h, 1, 1000);
    cr_expect_eq(bench_hist_percentile(&h, 10), 100);  /* rank 100: exact region */
    cr_expect_eq(bench_hist_percentile(&h, 50), 503);  /* rank 500: bucket [500, 503] */
    cr_expect_eq(bench_hist_percentile(&h, 90), 903);  /* rank 900: bucket [896, 903] */
    cr_expect_eq(bench_hist_percentile(&h, 99), 991);  /* rank 990: bucket [984, 991] */
    cr_expect_eq(bench_hist_percentile(&h, 99.9), 999); /* rank 999: bucket [992, 999] */
    cr_expect_eq(bench_hist_percentile(&h, 100), 1000);
    cr_expect_eq(h.min, 1);
    cr_expect_eq(h.max, 1000);
    cr_expect(bench_hist_mean(&h) == 500.5, "mean %f", bench_hist_mean(&h));
}

Test(hist, bimodal_tail)
{
    /* 990 fast round trips and 10 slow ones: the median hides the tail, p99.9 shows it. */
    bench_hist_init(&h);
    bench_hist_record_n(&h, 100, 990);
    bench_hist_record_n(&h, 10000, 10);
    cr_expect_eq(h.count, 1000);
    cr_expect_eq(bench_hist_percentile(&h, 50), 100);
    cr_expect_eq(bench_hist_percentile(&h, 99), 100);   /* rank 990 */
    cr_expect_eq(bench_hist_percentile(&h, 99.1), 10000); /* rank 991; bucket high 10111 capped at max */
    cr_expect_eq(bench_hist_percentile(&h, 99.9), 10000);
    cr_expect_eq(bench_hist_percentile(&h, 100), 10000);
}

Test(hist, single_value_is_exact_everywhere)
{
    bench_hist_init(&h);
    bench_hist_record_n(&h, 123456789, 7);
    cr_expect_eq(bench_hist_percentile(&h, 0), 123456789);
    cr_expect_eq(bench_hist_percentile(&h, 50), 123456789);
    cr_expect_eq(bench_hist_percentile(&h, 99.9), 123456789);
}

Test(hist, bucket_map_is_contiguous_and_fine)
{
    size_t i;
    cr_assert_eq(bench_hist_bucket_low(0), 0);
    for (i = 0; i + 1 < BENCH_HIST_BUCKETS; i++) {
        uint64_t lo = bench_hist_bucket_low(i), hi = bench_hist_bucket_high(i);
        cr_assert_leq(lo, hi, "bucket %zu: [%lu, %lu]", i, (unsigned long)lo, (unsigned long)hi);
        cr_assert_eq(hi + 1, bench_hist_bucket_low(i + 1), "gap after bucket %zu", i);
        cr_assert_eq(bench_hist_index(lo), i, "low of bucket %zu", i);
        cr_assert_eq(bench_hist_index(hi), i, "high of bucket %zu", i);
        /* Width at most 1/64 of the bucket's values (1 in the exact region). */
        cr_assert_leq(hi - lo + 1, lo / BENCH_HIST_SUB > 1 ? lo / BENCH_HIST_SUB : 1, "bucket %zu too wide", i);
    }
    cr_assert_eq(bench_hist_index(UINT64_MAX), BENCH_HIST_BUCKETS - 1);
    cr_assert_eq(bench_hist_bucket_high(BENCH_HIST_BUCKETS - 1), UINT64_MAX);
}

Test(hist, random_values_land_in_their_bucket)
{
    uint64_t s = 42;
    int i;
    for (i = 0; i < 100000; i++) {
        uint64_t v;
        size_t b;
        s = s * 6364136223846793005u + 1442695040888963407u;
        v = s >> (s & 63); /* all magnitudes */
        b = bench_hist_index(v);
        cr_assert_lt(b, BENCH_HIST_BUCKETS);
        cr_assert(bench_hist_bucket_low(b) <= v && v <= bench_hist_bucket_high(b), "v=%lu", (unsigned long)v);
    }
}

Test(hist, merge_equals_recording_everything)
{
    static struct bench_hist all;
    size_t i;
    bench_hist_init(&h);
    bench_hist_init(&h2);
    bench_hist_init(&all);
    fill_range(&h, 1, 600);
    fill_range(&h2, 601, 5000);
    fill_range(&all, 1, 5000);
    bench_hist_merge(&h, &h2);
    cr_expect_eq(h.count, all.count);
    cr_expect_eq(h.min, all.min);
    cr_expect_eq(h.max, all.max);
    cr_expect_eq(h.sum, all.sum);
    for (i = 0; i < BENCH_HIST_BUCKETS; i++)
        cr_assert_eq(h.counts[i], all.counts[i], "bucket %zu", i);
    cr_expect_eq(bench_hist_percentile(&h, 50), bench_hist_percentile(&all, 50));
}

Test(hist, trimmed_mean_drops_the_tail)
{
    bench_hist_init(&h);
    bench_hist_record_n(&h, 100, 990);
    bench_hist_record_n(&h, 120, 9);
    bench_hist_record(&h, 27000000); /* one preempted round trip */
    cr_expect(bench_hist_mean(&h) > 27000.0, "plain mean %f", bench_hist_mean(&h));
    /* The lowest 999 values: 990 x 100 and 9 x 120 (both exact buckets). */
    cr_expect(bench_hist_trimmed_mean(&h, 99.9) == (990.0 * 100 + 9 * 120) / 999.0, "trimmed %f",
              bench_hist_trimmed_mean(&h, 99.9));
    cr_expect(bench_hist_trimmed_mean(&h, 50) == 100.0);
    cr_expect(bench_hist_trimmed_mean(&h, 100) == bench_hist_mean(&h));
    /* Above 127 a value counts as the middle of its bucket: 1000 is in [1000, 1007]. */
    bench_hist_init(&h);
    bench_hist_record(&h, 1000);
    cr_expect(bench_hist_trimmed_mean(&h, 50) == 1003.5, "%f", bench_hist_trimmed_mean(&h, 50));
}
