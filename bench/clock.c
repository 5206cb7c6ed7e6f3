/* bench — TSC calibration. See clock.h. */
#include "bench/clock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* A (ticks, ns) pair read as close together as we can: the tick reads bracket the clock read, and
 * of a few tries the tightest bracket wins. */
static void sample(uint64_t *ticks, int64_t *ns)
{
    uint64_t best = UINT64_MAX;
    int i;
    *ticks = 0;
    *ns = 0;
    for (i = 0; i < 8; i++) {
        uint64_t t0 = bench_ticks_start();
        int64_t n = bench_now_ns();
        uint64_t t1 = bench_ticks_stop();
        if (t1 - t0 < best) {
            best = t1 - t0;
            *ticks = t0 + (t1 - t0) / 2;
            *ns = n;
        }
    }
}

static int cpuinfo_has(const char *flag)
{
    char line[8192];
    size_t n = strlen(flag);
    int found = 0;
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f == NULL)
        return 0;
    while (!found && fgets(line, sizeof(line), f) != NULL) {
        const char *p;
        if (strncmp(line, "flags", 5) != 0)
            continue;
        for (p = strstr(line, flag); p != NULL; p = strstr(p + 1, flag)) {
            if ((p == line || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\n' || p[n] == '\0')) {
                found = 1;
                break;
            }
        }
    }
    fclose(f);
    return found;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int bench_clock_init(struct bench_clock *c, int64_t calib_ns)
{
    enum { OVERHEAD_SAMPLES = 4001 };
    static uint64_t d[OVERHEAD_SAMPLES];
    uint64_t t0 = 0, t1 = 0;
    int64_t n0 = 0, n1 = 0;
    int i;

    memset(c, 0, sizeof(*c));
    c->tsc = BENCH_CLOCK_TSC;
    c->invariant = BENCH_CLOCK_TSC ? cpuinfo_has("constant_tsc") && cpuinfo_has("nonstop_tsc") : 1;
    if (calib_ns < 1000000)
        calib_ns = 1000000;
    sample(&t0, &n0);
    do
        sample(&t1, &n1);
    while (n1 - n0 < calib_ns);
    c->calib_ns = n1 - n0;
    c->ghz = BENCH_CLOCK_TSC ? (double)(t1 - t0) / (double)(n1 - n0) : 1.0;
    c->ns_per_tick = 1.0 / c->ghz;

    for (i = 0; i < OVERHEAD_SAMPLES; i++) {
        uint64_t a = bench_ticks_start();
        uint64_t b = bench_ticks_stop();
        d[i] = b - a;
    }
    qsort(d, OVERHEAD_SAMPLES, sizeof(d[0]), cmp_u64);
    {
        int keep = OVERHEAD_SAMPLES - OVERHEAD_SAMPLES / 100;
        double sum = 0;
        for (i = 0; i < keep; i++)
            sum += (double)d[i];
        c->overhead_ticks = sum / keep;
    }
    c->overhead_ns = c->overhead_ticks * c->ns_per_tick;

    c->step_ticks = UINT64_MAX;
    for (i = 0; i < OVERHEAD_SAMPLES; i++) {
        uint64_t a = bench_ticks(), b;
        while ((b = bench_ticks()) == a)
            ;
        if (b - a < c->step_ticks)
            c->step_ticks = b - a;
    }
    c->step_ns = (double)c->step_ticks * c->ns_per_tick;
    return 0;
}
