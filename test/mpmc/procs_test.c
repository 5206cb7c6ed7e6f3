/* MPMC ring, processes: 3 producer and 3 consumer processes (fork; each opens the ring by name)
 * stream checked records through a small ring with blocking push_wait/pop_wait and bursts; the
 * consumers end on -EPIPE once every producer closed and the ring is empty. Every record arrives
 * exactly once, in its producer's order as each consumer sees it, with its ownership stamps intact;
 * positions start at 0, near 2^32 and near 2^64. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include "mpmcproc.h"
#include "mpmctest.h"

#define NPROD 3
#define NCONS 3

static uint64_t per_producer(void)
{
    const char *env = getenv("SHMRING_PROCS_RECORDS");
    return env ? strtoull(env, NULL, 10) : 20000;
}

static void run(uint64_t start, uint64_t capacity, uint32_t slot_size, uint64_t n)
{
    const char *name = mt_create(capacity, slot_size, start);
    struct mt_ledger *l = mt_ledger_new(NPROD, n);
    struct mt_barrier b;
    struct mt_worker w[NPROD + NCONS];
    pid_t pids[NPROD + NCONS];
    const struct shmring_header *h;
    uint64_t total = 0;
    int64_t t0;
    int i;

    cr_assert_not_null(l);
    cr_assert_eq(mt_barrier_init(&b), 0);
    for (i = 0; i < NPROD + NCONS; i++) {
        int prod = i < NPROD;
        w[i] = (struct mt_worker){name, (uint32_t)(prod ? i : i - NPROD), NPROD, prod ? n : 0, l, &b, 10 * MT_SEC};
        pids[i] = mt_spawn(prod ? mt_producer_main : mt_consumer_main, &w[i]);
        cr_assert_gt(pids[i], 0, "fork");
    }
    close(b.ready[1]);
    close(b.go[0]);
    b.ready[1] = b.go[0] = -1;
    cr_assert_eq(mt_barrier_release(&b, NPROD + NCONS, 10 * MT_SEC), 0, "the children did not all attach");
    t0 = testutil_now_ns();
    for (i = 0; i < NPROD + NCONS; i++) {
        int st = mt_join(pids[i], 50 * MT_SEC);
        cr_assert_eq(st, 0, "%s %d exited with %d%s (first error: %s)", i < NPROD ? "producer" : "consumer",
                     i < NPROD ? i : i - NPROD, st, st == TESTUTIL_WAIT_TIMEDOUT ? " (timed out, killed)" : "",
                     l->first_error);
    }
    mt_barrier_close(&b);
    cr_log_info("%llu records from %d producers to %d consumers in %lld ms", (unsigned long long)(NPROD * n), NPROD,
                NCONS, (long long)((testutil_now_ns() - t0) / MT_MS));

    cr_assert_eq(atomic_load(&l->bad), 0, "%llu bad records; first: %s", (unsigned long long)atomic_load(&l->bad),
                 l->first_error);
    cr_assert_eq(atomic_load(&l->dups), 0, "%llu duplicates", (unsigned long long)atomic_load(&l->dups));
    for (i = 0; i < NPROD; i++) {
        uint64_t missing, first = mt_ledger_verify(l, (uint32_t)i, n, &missing);
        cr_assert_eq(first, UINT64_MAX, "producer %d: %llu records missing, the first is %llu", i,
                     (unsigned long long)missing, (unsigned long long)first);
    }
    for (i = 0; i < NCONS; i++)
        total += atomic_load(&l->per_consumer[i]);
    cr_assert_eq(total, NPROD * n, "consumers received %llu records, want %llu", (unsigned long long)total,
                 (unsigned long long)(NPROD * n));

    /* What a tool sees afterwards. */
    h = mt_observe(name);
    cr_assert_not_null(h);
    cr_assert_eq(MT_LOAD(h->prod.pos), start + NPROD * n, "prod.pos - start = %llu",
                 (unsigned long long)(MT_LOAD(h->prod.pos) - start));
    cr_assert_eq(MT_LOAD(h->cons.pos), start + NPROD * n, "cons.pos - start = %llu",
                 (unsigned long long)(MT_LOAD(h->cons.pos) - start));
    cr_assert_eq(MT_LOAD(h->stats.producer_skips), 0, "a producer slot was skipped though nobody died");
    cr_assert_eq(MT_LOAD(h->stats.consumer_skips), 0, "a consumer slot was freed though nobody died");
    cr_assert_eq(MT_LOAD(h->stats.producer_attaches), NPROD);
    cr_assert_eq(MT_LOAD(h->stats.consumer_attaches), NCONS);
    cr_assert_eq(atomic_load_explicit((_Atomic uint32_t *)&h->stats.state, memory_order_relaxed) & SHMRING_STATE_CORRUPT,
                 0, "the ring was marked corrupt");
    mt_unobserve(h);
    mt_ledger_free(l);
    mt_assert_rc(shmring_unlink(name), 0, "unlink");
    mt_assert_no_ipc();
}

ParameterizedTestParameters(mpmc_procs, three_by_three)
{
    static uint64_t starts[] = {0, (UINT64_C(1) << 32) - 1000, UINT64_MAX - 1000};
    return cr_make_param_array(uint64_t, starts, sizeof(starts) / sizeof(starts[0]));
}

ParameterizedTest(uint64_t *start, mpmc_procs, three_by_three, .init = mt_init, .fini = mt_fini, .timeout = 60)
{
    run(*start, 16, 64, per_producer());
}

/* Bigger records through a ring smaller than a burst: every claim and take is cut short. */
MT_TEST(mpmc_procs, tiny_ring_big_slots, .timeout = 60)
{
    run(UINT64_MAX - 3, 4, 4096, per_producer() / 4);
}
