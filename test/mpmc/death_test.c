/* MPMC ring, deaths: a producer killed (SIGKILL) between claim and publish, a consumer killed
 * between take and release. Survivors go on within 2 s of the kill, the dead holder's slots are
 * skipped (freed) and counted, and every published record is delivered exactly once. A slow but
 * live holder is never skipped; a handle closed while holding frees its slots at once.
 *
 * The kills are deterministic: the victim claims (takes), tells the test through a pipe, then
 * pause()s; the test kills it and reaps it at once (see zombie_* below for a victim not yet
 * reaped). The last tests are regression tests for defects these tests found (each comment says
 * which). */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <string.h>
#include <sys/sem.h>

#include "mpmcproc.h"
#include "mpmctest.h"

#define N_RECORDS 3000
#define RECOVERY_BOUND (2 * MT_SEC) /* survivors go on within this time after a kill */

/* A process that holds k slots: a producer that claimed them and wrote half of each payload, or a
 * consumer that took them. It reports on `fd` ('c' claimed; for a consumer 'o' opened first, then
 * the heads of the records it took), then holds them for hold_ns (0: until killed), then publishes
 * (releases) and closes. With hold_ns < 0 it publishes (releases) at once, says 'p', and stays
 * alive doing nothing until killed. */
struct holder {
    const char *ring;
    enum shmring_role role;
    unsigned k;
    uint32_t id;
    int fd;
    int64_t hold_ns;
};

static int holder_main(void *arg)
{
    struct holder *v = arg;
    struct shmring_mpmc *q = NULL;
    struct shmring_mpmc_span c = {0, 0};
    int64_t deadline = testutil_now_ns() + 10 * MT_SEC;
    unsigned i;
    int n;
    if (shmring_mpmc_open(v->ring, v->role, &q) != 0)
        return MT_EXIT_OPEN;
    if (v->role == SHMRING_PRODUCER) {
        uint32_t lens[8];
        uint32_t ss = shmring_mpmc_slot_size(q);
        if ((n = shmring_mpmc_claim_bulk(q, v->k, &c)) != (int)v->k)
            return MT_EXIT_RING;
        for (i = 0; i < v->k; i++) {
            /* The head and the first half of the payload: a record cut short by the kill. */
            mt_rec_write(shmring_mpmc_slot(q, &c, i), ss / 2, v->id, i);
            lens[i] = ss;
        }
        if (v->hold_ns < 0) {
            for (i = 0; i < v->k; i++)
                mt_rec_write(shmring_mpmc_slot(q, &c, i), ss, v->id, i);
            shmring_mpmc_publish(q, &c, lens);
            mt_write_byte(v->fd, 'p');
            for (;;)
                pause();
        }
        mt_write_byte(v->fd, 'c');
        if (v->hold_ns == 0)
            for (;;)
                pause();
        mt_sleep_ns(v->hold_ns);
        for (i = 0; i < v->k; i++)
            mt_rec_write(shmring_mpmc_slot(q, &c, i), ss, v->id, i);
        shmring_mpmc_publish(q, &c, lens);
    } else {
        mt_write_byte(v->fd, 'o');
        while ((n = shmring_mpmc_take_bulk(q, v->k, &c)) == -EAGAIN && testutil_now_ns() < deadline)
            mt_sleep_ns(200 * 1000);
        if (n != (int)v->k)
            return MT_EXIT_RING;
        for (i = 0; i < v->k; i++) {
            const void *b;
            size_t len;
            struct mt_rec_head h = {UINT32_MAX, 0, 0};
            if (shmring_mpmc_record(q, &c, i, &b, &len) == 0 && len >= sizeof(h))
                memcpy(&h, b, sizeof(h));
            mt_write_full(v->fd, &h, sizeof(h));
        }
        if (v->hold_ns < 0) {
            shmring_mpmc_release(q, &c);
            mt_write_byte(v->fd, 'p');
        }
        if (v->hold_ns <= 0)
            for (;;)
                pause();
        mt_sleep_ns(v->hold_ns);
        shmring_mpmc_release(q, &c);
    }
    shmring_mpmc_close(q);
    return MT_EXIT_OK;
}

static pid_t spawn_holder(struct holder *v, int fds[2], const char *ring, enum shmring_role role, unsigned k,
                          uint32_t id, int64_t hold_ns)
{
    pid_t pid;
    cr_assert_eq(pipe(fds), 0);
    *v = (struct holder){ring, role, k, id, fds[1], hold_ns};
    pid = mt_spawn(holder_main, v);
    cr_assert_gt(pid, 0);
    close(fds[1]);
    return pid;
}

static void expect_byte(int fd, int want, const char *what)
{
    int b = mt_read_byte(fd, 10 * MT_SEC);
    cr_assert_eq(b, want, "%s: got %d", what, b);
}

/* Producer and consumer children at a start barrier. */
static pid_t spawn_worker(struct mt_worker *w, int producer, const char *ring, uint32_t id, uint32_t nproducers,
                          uint64_t count, struct mt_ledger *l, struct mt_barrier *b)
{
    pid_t pid;
    *w = (struct mt_worker){ring, id, nproducers, count, l, b, 10 * MT_SEC};
    pid = mt_spawn(producer ? mt_producer_main : mt_consumer_main, w);
    cr_assert_gt(pid, 0);
    return pid;
}

static void open_gate(struct mt_barrier *b, int n)
{
    close(b->ready[1]);
    close(b->go[0]);
    b->ready[1] = b->go[0] = -1;
    cr_assert_eq(mt_barrier_release(b, n, 10 * MT_SEC), 0, "the children did not all attach");
}

static void join_all(pid_t *pids, int n, struct mt_ledger *l)
{
    int i;
    for (i = 0; i < n; i++) {
        int st = mt_join(pids[i], 20 * MT_SEC);
        cr_assert_eq(st, 0, "child %d exited with %d%s (first error: %s)", i, st,
                     st == TESTUTIL_WAIT_TIMEDOUT ? " (timed out: killed)" : "", l ? l->first_error : "-");
    }
}

static void check_ledger(struct mt_ledger *l, uint32_t from, uint32_t to, uint64_t n)
{
    uint32_t p;
    cr_assert_eq(atomic_load(&l->bad), 0, "%llu bad records; first: %s", (unsigned long long)atomic_load(&l->bad),
                 l->first_error);
    cr_assert_eq(atomic_load(&l->dups), 0, "%llu records delivered twice", (unsigned long long)atomic_load(&l->dups));
    for (p = from; p < to; p++) {
        uint64_t missing, first = mt_ledger_verify(l, p, n, &missing);
        cr_assert_eq(first, UINT64_MAX, "producer %u: %llu records missing or extra, the first is %llu", p,
                     (unsigned long long)missing, (unsigned long long)first);
    }
}

/* --- A producer dies between claim and publish --------------------------------------------- */

ParameterizedTestParameters(mpmc_death, producer_killed_holding_claim)
{
    static unsigned ks[] = {1, 3};
    return cr_make_param_array(unsigned, ks, 2);
}

ParameterizedTest(unsigned *kp, mpmc_death, producer_killed_holding_claim, .init = mt_init, .fini = mt_fini,
                  .timeout = 60)
{
    const unsigned k = *kp;
    const uint64_t start = UINT64_MAX - 7, cap = 16;
    const char *name = mt_create(cap, 64, start);
    struct mt_ledger *l = mt_ledger_new(3, N_RECORDS); /* producer 0: the victim */
    struct holder v;
    struct mt_barrier b;
    struct mt_worker w[4];
    pid_t victim, pids[4];
    const struct shmring_header *h;
    int fds[2];
    int64_t t_kill, t_pass;

    victim = spawn_holder(&v, fds, name, SHMRING_PRODUCER, k, 0, 0);
    expect_byte(fds[0], 'c', "the victim did not claim");
    cr_assert_eq(mt_barrier_init(&b), 0);
    pids[0] = spawn_worker(&w[0], 1, name, 1, 3, N_RECORDS, l, &b);
    pids[1] = spawn_worker(&w[1], 1, name, 2, 3, N_RECORDS, l, &b);
    pids[2] = spawn_worker(&w[2], 0, name, 0, 3, 0, l, &b);
    pids[3] = spawn_worker(&w[3], 0, name, 1, 3, 0, l, &b);
    open_gate(&b, 4);
    h = mt_observe(name);
    cr_assert_not_null(h);

    /* The consumers wait at the victim's first slot; the producers fill the ring behind it. The
     * victim is alive: nothing may be skipped. */
    cr_assert(MT_WAIT_UNTIL(MT_LOAD(h->prod.pos) - start == cap, 5 * MT_SEC), "the ring did not fill (prod.pos - start %llu)",
              (unsigned long long)(MT_LOAD(h->prod.pos) - start));
    mt_sleep_ns(300 * MT_MS);
    cr_assert_eq(MT_LOAD(h->stats.producer_skips), 0, "the slot of a live (stopped) producer was skipped");
    cr_assert_eq(MT_LOAD(h->cons.pos), start, "consumers went past a slot held by a live producer");
    cr_assert_eq(MT_LOAD(h->prod.pos) - start, cap);

    t_kill = testutil_now_ns();
    cr_assert_eq(mt_kill(victim), 128 + SIGKILL);
    cr_assert(MT_WAIT_UNTIL(MT_LOAD(h->cons.pos) - start > k, 10 * MT_SEC), "consumers stuck after the kill");
    t_pass = testutil_now_ns();
    cr_assert_lt(t_pass - t_kill, RECOVERY_BOUND, "consumers went on %lld ms after the kill",
                 (long long)((t_pass - t_kill) / MT_MS));
    cr_log_info("k=%u: consumers went on %lld ms after the kill", k, (long long)((t_pass - t_kill) / MT_MS));

    join_all(pids, 4, l);
    close(fds[0]);
    check_ledger(l, 0, 1, 0); /* nothing of the victim's half-written records */
    check_ledger(l, 1, 3, N_RECORDS);
    cr_assert_eq(atomic_load(&l->per_consumer[0]) + atomic_load(&l->per_consumer[1]), 2 * N_RECORDS);
    cr_assert_eq(MT_LOAD(h->stats.producer_skips), k, "producer_skips %llu, want %u",
                 (unsigned long long)MT_LOAD(h->stats.producer_skips), k);
    cr_assert_eq(MT_LOAD(h->stats.consumer_skips), 0);
    cr_assert_eq(MT_LOAD(h->prod.pos) - start, k + 2 * N_RECORDS);
    cr_assert_eq(MT_LOAD(h->cons.pos) - start, k + 2 * N_RECORDS);
    mt_unobserve(h);
    mt_ledger_free(l);
    mt_assert_rc(shmring_unlink(name), 0, "unlink");
    mt_assert_no_ipc();
}

/* --- A consumer dies between take and release ---------------------------------------------- */

ParameterizedTestParameters(mpmc_death, consumer_killed_holding_take)
{
    static unsigned ks[] = {1, 3};
    return cr_make_param_array(unsigned, ks, 2);
}

ParameterizedTest(unsigned *kp, mpmc_death, consumer_killed_holding_take, .init = mt_init, .fini = mt_fini,
                  .timeout = 60)
{
    const unsigned k = *kp;
    const uint64_t start = (UINT64_C(1) << 32) - 3, cap = 8;
    const char *name = mt_create(cap, 64, start);
    struct mt_ledger *l = mt_ledger_new(2, N_RECORDS);
    struct mt_rec_head taken[8];
    struct holder v;
    struct mt_barrier b1, b2;
    struct mt_worker w[4];
    pid_t victim, pids[4];
    const struct shmring_header *h;
    int fds[2];
    unsigned i;
    int64_t t_kill, t_pass;

    victim = spawn_holder(&v, fds, name, SHMRING_CONSUMER, k, 2, 0);
    expect_byte(fds[0], 'o', "the victim did not open");
    cr_assert_eq(mt_barrier_init(&b1), 0);
    pids[0] = spawn_worker(&w[0], 1, name, 0, 2, N_RECORDS, l, &b1);
    pids[1] = spawn_worker(&w[1], 1, name, 1, 2, N_RECORDS, l, &b1);
    open_gate(&b1, 2);
    cr_assert_eq(mt_read_full(fds[0], taken, k * sizeof(taken[0]), 10 * MT_SEC), 0, "the victim did not take");
    /* Consumers start after the victim took the first k records. */
    cr_assert_eq(mt_barrier_init(&b2), 0);
    pids[2] = spawn_worker(&w[2], 0, name, 0, 2, 0, l, &b2);
    pids[3] = spawn_worker(&w[3], 0, name, 1, 2, 0, l, &b2);
    open_gate(&b2, 2);
    h = mt_observe(name);
    cr_assert_not_null(h);

    /* The producers wait for the victim's first slot (a lap later); the consumers took the rest.
     * The victim is alive: nothing may be freed. */
    cr_assert(MT_WAIT_UNTIL(MT_LOAD(h->prod.pos) - start == cap && MT_LOAD(h->cons.pos) - start == cap, 5 * MT_SEC),
              "the ring did not settle: prod.pos - start %llu, cons.pos - start %llu",
              (unsigned long long)(MT_LOAD(h->prod.pos) - start), (unsigned long long)(MT_LOAD(h->cons.pos) - start));
    mt_sleep_ns(300 * MT_MS);
    cr_assert_eq(MT_LOAD(h->stats.consumer_skips), 0, "the slot of a live (stopped) consumer was freed");
    cr_assert_eq(MT_LOAD(h->prod.pos) - start, cap, "producers went past a slot held by a live consumer");

    t_kill = testutil_now_ns();
    cr_assert_eq(mt_kill(victim), 128 + SIGKILL);
    cr_assert(MT_WAIT_UNTIL(MT_LOAD(h->prod.pos) - start > cap, 10 * MT_SEC), "producers stuck after the kill");
    t_pass = testutil_now_ns();
    cr_assert_lt(t_pass - t_kill, RECOVERY_BOUND, "producers went on %lld ms after the kill",
                 (long long)((t_pass - t_kill) / MT_MS));
    cr_log_info("k=%u: producers went on %lld ms after the kill", k, (long long)((t_pass - t_kill) / MT_MS));

    join_all(pids, 4, l);
    close(fds[0]);
    /* What the victim took is lost with it (it never released it), and nobody else got it. */
    for (i = 0; i < k; i++) {
        cr_assert_lt(taken[i].producer, 2, "the victim took a record of producer %u", taken[i].producer);
        cr_assert_eq(mt_ledger_has(l, taken[i].producer, taken[i].seq), 0,
                     "record (%u, %llu), taken by the dead consumer, was delivered again", taken[i].producer,
                     (unsigned long long)taken[i].seq);
        mt_ledger_mark(l, taken[i].producer, taken[i].seq);
    }
    check_ledger(l, 0, 2, N_RECORDS);
    cr_assert_eq(atomic_load(&l->per_consumer[0]) + atomic_load(&l->per_consumer[1]), 2 * N_RECORDS - k);
    cr_assert_eq(MT_LOAD(h->stats.consumer_skips), k, "consumer_skips %llu, want %u",
                 (unsigned long long)MT_LOAD(h->stats.consumer_skips), k);
    cr_assert_eq(MT_LOAD(h->stats.producer_skips), 0);
    cr_assert_eq(MT_LOAD(h->prod.pos) - start, 2 * N_RECORDS);
    cr_assert_eq(MT_LOAD(h->cons.pos) - start, 2 * N_RECORDS);
    mt_unobserve(h);
    mt_ledger_free(l);
    mt_assert_rc(shmring_unlink(name), 0, "unlink");
    mt_assert_no_ipc();
}

/* --- Slow but live holders are never skipped ------------------------------------------------ */

MT_TEST(mpmc_death, slow_live_producer_is_not_skipped, .timeout = 30)
{
    const char *name = mt_create(8, 64, 0);
    struct holder v;
    struct shmring_mpmc *p, *c;
    pid_t slow;
    int fds[2];
    uint8_t buf[64] = {0};
    struct mt_rec_head rh;
    int64_t t0, dt;
    ssize_t n;
    unsigned i;

    slow = spawn_holder(&v, fds, name, SHMRING_PRODUCER, 1, 0, 1500 * MT_MS);
    expect_byte(fds[0], 'c', "the slow producer did not claim");
    t0 = testutil_now_ns();
    p = mt_open(name, SHMRING_PRODUCER);
    c = mt_open(name, SHMRING_CONSUMER);
    for (i = 0; i < 3; i++) {
        mt_rec_write(buf, 64, 1, i);
        mt_assert_rc(shmring_mpmc_push(p, buf, 64), 0, "push behind the slow claim");
    }
    /* The consumer waits the whole 1.5 s, checking liveness on every slice, and never skips. */
    n = shmring_mpmc_pop_wait(c, buf, sizeof(buf), 10 * MT_SEC);
    dt = testutil_now_ns() - t0;
    mt_assert_rc(n, 64, "pop_wait for the slow producer's record");
    cr_assert_null(mt_rec_check(buf, 64, 2, &rh), "the slow producer's record is damaged");
    cr_assert(rh.producer == 0 && rh.seq == 0, "got record (%u, %llu) first, want the slow producer's", rh.producer,
              (unsigned long long)rh.seq);
    cr_assert_geq(dt, 1000 * MT_MS, "the record came after only %lld ms", (long long)(dt / MT_MS));
    cr_assert_eq(MT_LOAD(c->hdr->stats.producer_skips), 0, "a live producer's slot was skipped");
    cr_assert_geq(MT_LOAD(c->hdr->stats.consumer_sleeps), 3, "the consumer did not wait in slices");
    for (i = 0; i < 3; i++) {
        mt_assert_rc(shmring_mpmc_pop(c, buf, sizeof(buf)), 64, "pop");
        cr_assert_null(mt_rec_check(buf, 64, 2, &rh));
        cr_assert(rh.producer == 1 && rh.seq == i);
    }
    cr_assert_eq(mt_join(slow, 10 * MT_SEC), 0, "the slow producer failed");
    close(fds[0]);
    cr_assert_eq(shmring_mpmc_close(p), 0);
    cr_assert_eq(shmring_mpmc_close(c), 0);
    mt_assert_rc(shmring_unlink(name), 0, "unlink");
    mt_assert_no_ipc();
}

MT_TEST(mpmc_death, slow_live_consumer_is_not_skipped, .timeout = 30)
{
    const char *name = mt_create(4, 64, 0);
    struct holder v;
    struct shmring_mpmc *p, *c;
    struct mt_rec_head taken;
    pid_t slow;
    int fds[2];
    uint8_t buf[64] = {0};
    int64_t t0, dt;
    unsigned i;

    slow = spawn_holder(&v, fds, name, SHMRING_CONSUMER, 1, 2, 1500 * MT_MS);
    expect_byte(fds[0], 'o', "the slow consumer did not open");
    p = mt_open(name, SHMRING_PRODUCER);
    c = mt_open(name, SHMRING_CONSUMER);
    mt_rec_write(buf, 64, 0, 0);
    mt_assert_rc(shmring_mpmc_push(p, buf, 64), 0, "push");
    cr_assert_eq(mt_read_full(fds[0], &taken, sizeof(taken), 10 * MT_SEC), 0, "the slow consumer did not take");
    t0 = testutil_now_ns();
    for (i = 1; i < 4; i++) {
        mt_rec_write(buf, 64, 0, i);
        mt_assert_rc(shmring_mpmc_push(p, buf, 64), 0, "push");
        mt_assert_rc(shmring_mpmc_pop(c, buf, sizeof(buf)), 64, "pop");
    }
    /* The ring is full of one slot: the one the slow consumer holds. */
    mt_rec_write(buf, 64, 0, 4);
    mt_assert_rc(shmring_mpmc_push_wait(p, buf, 64, 10 * MT_SEC), 0, "push_wait for the slow consumer's slot");
    dt = testutil_now_ns() - t0;
    cr_assert_geq(dt, 1000 * MT_MS, "the slot came free after only %lld ms", (long long)(dt / MT_MS));
    cr_assert_eq(MT_LOAD(p->hdr->stats.consumer_skips), 0, "a live consumer's slot was freed");
    cr_assert_geq(MT_LOAD(p->hdr->stats.producer_sleeps), 3, "the producer did not wait in slices");
    cr_assert_eq(mt_join(slow, 10 * MT_SEC), 0, "the slow consumer failed");
    close(fds[0]);
    cr_assert_eq(shmring_mpmc_close(p), 0);
    cr_assert_eq(shmring_mpmc_close(c), 0);
    mt_assert_rc(shmring_unlink(name), 0, "unlink");
    mt_assert_no_ipc();
}

/* --- A handle closed while holding frees its slots at once ---------------------------------- */

MT_TEST(mpmc_death, close_while_holding, .timeout = 30)
{
    const char *name = mt_create(4, 32, UINT64_MAX - 1);
    struct shmring_mpmc *p1 = mt_open(name, SHMRING_PRODUCER), *p2 = mt_open(name, SHMRING_PRODUCER);
    struct shmring_mpmc *c1 = mt_open(name, SHMRING_CONSUMER), *c2 = mt_open(name, SHMRING_CONSUMER);
    const struct shmring_header *h = c2->hdr;
    struct shmring_mpmc_span cl = {0, 0};
    uint8_t buf[32] = {0};
    unsigned i;

    mt_assert_rc(shmring_mpmc_claim(p1, 3, &cl), 3, "claim 3");
    for (i = 0; i < 3; i++)
        testutil_fill(shmring_mpmc_slot(p1, &cl, i), 32, 100 + i);
    testutil_fill(buf, 32, 1);
    mt_assert_rc(shmring_mpmc_push(p2, buf, 32), 0, "push behind the claim");
    mt_assert_rc(shmring_mpmc_pop(c1, buf, sizeof(buf)), -EAGAIN, "pop while a live producer holds the head");
    cr_assert_eq(shmring_mpmc_close(p1), 0);
    cr_assert_eq(MT_LOAD(h->stats.producer_skips), 3, "closing with 3 claimed slots skipped %llu",
                 (unsigned long long)MT_LOAD(h->stats.producer_skips));
    /* No wait: the skipped slots are passed over at once. */
    mt_assert_rc(shmring_mpmc_pop(c1, buf, sizeof(buf)), 32, "pop after the holder closed");
    cr_assert(testutil_check_fill(buf, 32, 1));
    cr_assert_eq(MT_LOAD(h->cons.pos), UINT64_MAX - 1 + 4);

    for (i = 0; i < 4; i++) {
        testutil_fill(buf, 32, 10 + i);
        mt_assert_rc(shmring_mpmc_push(p2, buf, 32), 0, "fill");
    }
    mt_assert_rc(shmring_mpmc_take(c1, 2, &cl), 2, "take 2");
    cr_assert_eq(shmring_mpmc_close(c1), 0);
    cr_assert_eq(MT_LOAD(h->stats.consumer_skips), 2, "closing with 2 taken slots freed %llu",
                 (unsigned long long)MT_LOAD(h->stats.consumer_skips));
    for (i = 0; i < 2; i++) {
        testutil_fill(buf, 32, 14 + i);
        mt_assert_rc(shmring_mpmc_push(p2, buf, 32), 0, "push into the slots the closed consumer freed");
    }
    for (i = 2; i < 6; i++) {
        mt_assert_rc(shmring_mpmc_pop(c2, buf, sizeof(buf)), 32, "pop");
        cr_assert(testutil_check_fill(buf, 32, 10 + i), "record %u", i);
    }
    mt_assert_rc(shmring_mpmc_pop(c2, buf, sizeof(buf)), -EAGAIN, "empty");
    cr_assert_eq(shmring_mpmc_close(p2), 0);
    cr_assert_eq(shmring_mpmc_close(c2), 0);
    mt_assert_rc(shmring_unlink(name), 0, "unlink");
    mt_assert_no_ipc();
}

/* A slot skipped (its producer closed or died holding it) between published records: bulk and
 * burst takes stop short of it or pass over it; they never call the ring corrupt.
 * Regression test: the bulk retry added in b0cf339 to shmring__mpmc_claim() (include/shmring/mpmc.h)
 * took a short range ending at a skipped slot (d == 1 on the consumer side) for garbage when its
 * view was current: take_bulk returned -EUCLEAN and marked the ring corrupt for every process. */
MT_TEST(mpmc_death, takes_across_a_skipped_slot, .timeout = 30)
{
    const char *name = mt_create(8, 32, UINT64_MAX - 1);
    struct shmring_mpmc *p1 = mt_open(name, SHMRING_PRODUCER), *p2 = mt_open(name, SHMRING_PRODUCER);
    struct shmring_mpmc *c = mt_open(name, SHMRING_CONSUMER), *x = NULL;
    const struct shmring_header *h = c->hdr;
    struct shmring_mpmc_span a = {0, 0}, b = {0, 0}, t = {0, 0};
    uint8_t buf[32] = {0};
    unsigned i;
    int n;

    /* Positions 0: p1, 1: p2 (closes holding it: skipped), 2-3: p1. */
    mt_assert_rc(shmring_mpmc_claim(p1, 1, &a), 1, "claim");
    mt_assert_rc(shmring_mpmc_claim(p2, 1, &b), 1, "claim");
    testutil_fill(shmring_mpmc_slot(p1, &a, 0), 32, 0);
    shmring_mpmc_publish(p1, &a, NULL);
    cr_assert_eq(shmring_mpmc_close(p2), 0);
    cr_assert_eq(MT_LOAD(h->stats.producer_skips), 1);
    for (i = 2; i < 4; i++) {
        testutil_fill(buf, 32, i);
        mt_assert_rc(shmring_mpmc_push(p1, buf, 32), 0, "push");
    }
    /* 3 records, not contiguous: a bulk take of 3 or 2 finds fewer and says so. */
    n = shmring_mpmc_take_bulk(c, 3, &t);
    cr_assert_eq(n, -EAGAIN, "take_bulk(3) over a skipped slot: %d (%s), want EAGAIN", n, shmring_err_name(n));
    n = shmring_mpmc_take_bulk(c, 2, &t);
    cr_assert_eq(n, -EAGAIN, "take_bulk(2) over a skipped slot: %d (%s), want EAGAIN", n, shmring_err_name(n));
    cr_assert_eq(atomic_load_explicit((_Atomic uint32_t *)&h->stats.state, memory_order_relaxed) & SHMRING_STATE_CORRUPT,
                 0, "a skipped slot made the ring corrupt");
    /* A burst stops before it; the next one passes over it. */
    mt_assert_rc(shmring_mpmc_take(c, 8, &t), 1, "take 8 before a skipped slot");
    cr_assert_eq(t.pos, UINT64_MAX - 1);
    shmring_mpmc_release(c, &t);
    mt_assert_rc(shmring_mpmc_take_bulk(c, 2, &t), 2, "take_bulk 2 after the skipped slot");
    cr_assert_eq(t.pos, UINT64_MAX - 1 + 2);
    for (i = 0; i < 2; i++) {
        const void *r;
        size_t len;
        mt_assert_rc(shmring_mpmc_record(c, &t, i, &r, &len), 0, "record");
        cr_assert(testutil_check_fill(r, len, 2 + i));
    }
    shmring_mpmc_release(c, &t);
    mt_assert_rc(shmring_mpmc_open(name, SHMRING_CONSUMER, &x), 0, "open after the skip");
    cr_assert_eq(shmring_mpmc_close(x), 0);
    cr_assert_eq(shmring_mpmc_close(p1), 0);
    cr_assert_eq(shmring_mpmc_close(c), 0);
    mt_assert_rc(shmring_unlink(name), 0, "unlink");
    mt_assert_no_ipc();
}

/* --- Regression tests for defects found by these tests (fixed in b0cf339) ---------------------- */

/* A consumer died holding a record; the producer that published that record is alive but idle.
 * Another producer, blocked on the full ring, must recover the slot within the bound.
 * Was: held_by_live() (lib/mpmc.c) looked at the intents of every participant whatever its role,
 * and an intent stays after its publish: the idle producer's old intent still covered the position,
 * so the dead consumer's slot counted as "held by a live process" for as long as that producer
 * stayed idle, and the other producer never got the slot (it timed out again and again). */
MT_TEST(mpmc_death, idle_publisher_does_not_block_recovery, .timeout = 30)
{
    const char *name = mt_create(4, 64, 0);
    struct holder v, iv;
    struct shmring_mpmc *p, *c;
    struct mt_rec_head taken;
    pid_t victim, idle;
    int vfd[2], ifd[2];
    uint8_t buf[64] = {0};
    int64_t t0, dt;
    unsigned i;
    int rc;

    victim = spawn_holder(&v, vfd, name, SHMRING_CONSUMER, 1, 9, 0);
    expect_byte(vfd[0], 'o', "the victim did not open");
    idle = spawn_holder(&iv, ifd, name, SHMRING_PRODUCER, 1, 0, -1);
    expect_byte(ifd[0], 'p', "the idle producer did not publish");
    cr_assert_eq(mt_read_full(vfd[0], &taken, sizeof(taken), 10 * MT_SEC), 0, "the victim did not take");
    cr_assert(taken.producer == 0 && taken.seq == 0, "the victim took (%u, %llu)", taken.producer,
              (unsigned long long)taken.seq);
    cr_assert_eq(mt_kill(victim), 128 + SIGKILL); /* killed and reaped */

    p = mt_open(name, SHMRING_PRODUCER);
    c = mt_open(name, SHMRING_CONSUMER);
    for (i = 0; i < 3; i++) {
        mt_rec_write(buf, 64, 1, i);
        mt_assert_rc(shmring_mpmc_push(p, buf, 64), 0, "push");
        mt_assert_rc(shmring_mpmc_pop(c, buf, sizeof(buf)), 64, "pop");
    }
    /* Full: the only slot left is the one the dead consumer held. */
    t0 = testutil_now_ns();
    mt_rec_write(buf, 64, 1, 3);
    rc = shmring_mpmc_push_wait(p, buf, 64, RECOVERY_BOUND);
    dt = testutil_now_ns() - t0;
    cr_assert_eq(rc, 0,
                 "push_wait: %s after %lld ms: the slot of a dead (reaped) consumer was not recovered while the "
                 "producer that published its record is alive and idle (consumer_skips %llu)",
                 shmring_err_name(rc), (long long)(dt / MT_MS), (unsigned long long)MT_LOAD(p->hdr->stats.consumer_skips));
    cr_assert_eq(MT_LOAD(p->hdr->stats.consumer_skips), 1);
    cr_assert_eq(mt_kill(idle), 128 + SIGKILL);
    close(vfd[0]);
    close(ifd[0]);
    cr_assert_eq(shmring_mpmc_close(p), 0);
    cr_assert_eq(shmring_mpmc_close(c), 0);
    mt_assert_rc(shmring_unlink(name), 0, "unlink");
    mt_assert_no_ipc();
}

/* The survivor is the dead consumer's parent: it is blocked in push_wait and has not reaped it yet
 * (a zombie). Was: owner_alive() (lib/mpmc.c) used kill(pid, 0) and /proc/pid/stat, which both
 * succeed for a zombie, so the slot was never recovered until someone reaped the child; a parent
 * blocked in push_wait never does. */
MT_TEST(mpmc_death, zombie_consumer_slot_is_recovered, .timeout = 30)
{
    const char *name = mt_create(4, 64, 0);
    struct holder v;
    struct shmring_mpmc *p, *c;
    struct mt_rec_head taken;
    pid_t victim;
    int vfd[2];
    uint8_t buf[64] = {0};
    unsigned i;
    int rc;
    int64_t t0, dt;

    victim = spawn_holder(&v, vfd, name, SHMRING_CONSUMER, 1, 9, 0);
    expect_byte(vfd[0], 'o', "the victim did not open");
    p = mt_open(name, SHMRING_PRODUCER);
    c = mt_open(name, SHMRING_CONSUMER);
    mt_rec_write(buf, 64, 0, 0);
    mt_assert_rc(shmring_mpmc_push(p, buf, 64), 0, "push");
    cr_assert_eq(mt_read_full(vfd[0], &taken, sizeof(taken), 10 * MT_SEC), 0, "the victim did not take");
    cr_assert_eq(kill(victim, SIGKILL), 0);
    cr_assert(MT_WAIT_UNTIL(mt_is_zombie(victim), 5 * MT_SEC), "the victim did not die");
    for (i = 1; i < 4; i++) {
        mt_rec_write(buf, 64, 0, i);
        mt_assert_rc(shmring_mpmc_push(p, buf, 64), 0, "push");
        mt_assert_rc(shmring_mpmc_pop(c, buf, sizeof(buf)), 64, "pop");
    }
    t0 = testutil_now_ns();
    rc = shmring_mpmc_push_wait(p, buf, 64, RECOVERY_BOUND);
    dt = testutil_now_ns() - t0;
    cr_expect_eq(rc, 0, "push_wait: %s after %lld ms: the slot of a dead consumer that is not reaped yet (zombie) "
                 "was not recovered", shmring_err_name(rc), (long long)(dt / MT_MS));
    /* Diagnosis: once reaped, the same call succeeds. */
    cr_assert_eq(mt_kill(victim), 128 + SIGKILL);
    if (rc != 0)
        mt_assert_rc(shmring_mpmc_push_wait(p, buf, 64, RECOVERY_BOUND), 0, "push_wait after reaping");
    cr_assert_eq(MT_LOAD(p->hdr->stats.consumer_skips), 1);
    close(vfd[0]);
    cr_assert_eq(shmring_mpmc_close(p), 0);
    cr_assert_eq(shmring_mpmc_close(c), 0);
    mt_assert_rc(shmring_unlink(name), 0, "unlink");
    mt_assert_no_ipc();
}

/* The same with a producer: a consumer whose parent-side producer child died holding a claim (not
 * reaped yet) after another producer published 5 records and closed. Every producer is gone, so
 * the consumer must deliver the 5 records, then -EPIPE. Was: recovery took the zombie for alive,
 * and shmring__mpmc_wait() then reported end of stream (-EPIPE) with 5 published records still in
 * the ring: lost to a consumer that stops at -EPIPE. */
MT_TEST(mpmc_death, zombie_producer_records_are_delivered, .timeout = 30)
{
    const char *name = mt_create(16, 64, 0);
    struct holder v, pv;
    struct shmring_mpmc *c;
    pid_t victim, prod;
    int vfd[2], pfd[2];
    uint8_t buf[64] = {0};
    unsigned got = 0, i;
    ssize_t n;

    victim = spawn_holder(&v, vfd, name, SHMRING_PRODUCER, 1, 0, 0);
    expect_byte(vfd[0], 'c', "the victim did not claim");
    prod = spawn_holder(&pv, pfd, name, SHMRING_PRODUCER, 5, 1, 1); /* publishes 5, closes, exits */
    cr_assert_eq(mt_join(prod, 10 * MT_SEC), 0, "the other producer failed");
    c = mt_open(name, SHMRING_CONSUMER);
    cr_assert_eq(kill(victim, SIGKILL), 0);
    cr_assert(MT_WAIT_UNTIL(mt_is_zombie(victim), 5 * MT_SEC), "the victim did not die");
    while ((n = shmring_mpmc_pop_wait(c, buf, sizeof(buf), RECOVERY_BOUND)) > 0) {
        struct mt_rec_head rh;
        cr_assert_null(mt_rec_check(buf, (size_t)n, 2, &rh));
        cr_assert(rh.producer == 1 && rh.seq == got, "record (%u, %llu), want (1, %u)", rh.producer,
                  (unsigned long long)rh.seq, got);
        got++;
    }
    cr_expect(got == 5 && n == -EPIPE,
              "got %u of the 5 published records, then %s: end of stream reported while a dead producer's "
              "claim (zombie, not reaped) hid published records", got, shmring_err_name((int)n));
    /* Diagnosis: once reaped, the records come. */
    cr_assert_eq(mt_kill(victim), 128 + SIGKILL);
    for (i = got; i < 5; i++)
        mt_assert_rc(shmring_mpmc_pop_wait(c, buf, sizeof(buf), RECOVERY_BOUND), 64, "pop_wait after reaping");
    mt_assert_rc(shmring_mpmc_pop_wait(c, buf, sizeof(buf), RECOVERY_BOUND), -EPIPE, "end of stream");
    close(vfd[0]);
    close(pfd[0]);
    cr_assert_eq(shmring_mpmc_close(c), 0);
    mt_assert_rc(shmring_unlink(name), 0, "unlink");
    mt_assert_no_ipc();
}

/* A child closes the handle it inherited through fork(); the parent goes on using its own.
 * Was: shmring_mpmc_close() in the child cleared the participant entry the child shared with the
 * parent (the registry's fork handler set a->pid = getpid() in the child, so close took the entry
 * for its own). The parent's claims were then unprotected: a consumer skipped the slot of the
 * live, merely slow parent, and when the parent published, its record was lost (and its store of
 * the sequence word landed on a slot that had moved on). */
MT_TEST(mpmc_death, child_closing_inherited_handle, .timeout = 30)
{
    const char *name = mt_create(4, 64, 0);
    struct shmring_mpmc *p = mt_open(name, SHMRING_PRODUCER), *c = mt_open(name, SHMRING_CONSUMER);
    struct shmring_mpmc_span pc = {0, 0}, tc = {0, 0};
    uint8_t buf[64] = {0};
    pid_t child;
    int rc;
    ssize_t n;

    fflush(NULL);
    child = fork();
    cr_assert_geq(child, 0);
    if (child == 0) {
        shmring_mpmc_close(p); /* the child does not produce */
        _exit(0);
    }
    cr_assert_eq(testutil_wait_timeout(child, 10 * MT_SEC), 0);
    /* The parent claims and is slow (alive). */
    mt_assert_rc(shmring_mpmc_claim(p, 1, &pc), 1, "claim");
    testutil_fill(shmring_mpmc_slot(p, &pc, 0), 64, 77);
    rc = shmring_mpmc_take_wait(c, 1, &tc, 300 * MT_MS);
    cr_expect_eq(rc, -ETIMEDOUT, "take_wait: %s", shmring_err_name(rc));
    cr_expect_eq(MT_LOAD(c->hdr->stats.producer_skips), 0,
                 "the slot of a live producer was skipped after a child closed its inherited copy of the handle");
    if (rc >= 0)
        shmring_mpmc_release(c, &tc);
    shmring_mpmc_publish(p, &pc, NULL);
    n = shmring_mpmc_pop(c, buf, sizeof(buf));
    cr_assert_eq(n, 64, "the live producer's record was lost: pop returned %s", shmring_err_name((int)n));
    cr_assert(testutil_check_fill(buf, 64, 77));
    cr_assert_eq(shmring_mpmc_close(p), 0);
    cr_assert_eq(shmring_mpmc_close(c), 0);
    mt_assert_rc(shmring_unlink(name), 0, "unlink");
    mt_assert_no_ipc();
}

/* A child claims through the handle it inherited through fork() and is killed holding the claim:
 * the child has a participant entry of its own, so its death is seen and its slot skipped, while
 * the parent (alive, same handle) goes on producing through the same ring. */
struct inherited {
    struct shmring_mpmc *q; /* the parent's handle, inherited by the child */
    int fd;
};

static int inherited_claimer(void *arg)
{
    struct inherited *v = arg;
    struct shmring_mpmc *q = v->q;
    struct shmring_mpmc_span c = {0, 0};
    if (shmring_mpmc_claim(q, 1, &c) != 1)
        return MT_EXIT_RING;
    mt_rec_write(shmring_mpmc_slot(q, &c, 0), 32, 1, 0);
    mt_write_byte(v->fd, 'c');
    for (;;)
        pause();
}

MT_TEST(mpmc_death, child_killed_holding_inherited_claim, .timeout = 30)
{
    const char *name = mt_create(8, 64, 0);
    struct shmring_mpmc *p = mt_open(name, SHMRING_PRODUCER), *c = mt_open(name, SHMRING_CONSUMER);
    struct inherited v;
    struct mt_rec_head rh;
    uint8_t buf[64] = {0};
    int fds[2];
    pid_t child;
    ssize_t n;
    int64_t t0;

    cr_assert_eq(pipe(fds), 0);
    v = (struct inherited){p, fds[1]};
    child = mt_spawn(inherited_claimer, &v);
    cr_assert_gt(child, 0);
    close(fds[1]);
    expect_byte(fds[0], 'c', "the child did not claim");
    mt_rec_write(buf, 64, 0, 0);
    mt_assert_rc(shmring_mpmc_push(p, buf, 64), 0, "the parent pushes behind the child's claim");
    mt_assert_rc(shmring_mpmc_pop(c, buf, sizeof(buf)), -EAGAIN, "pop while the live child holds the head");
    t0 = testutil_now_ns();
    cr_assert_eq(mt_kill(child), 128 + SIGKILL);
    n = shmring_mpmc_pop_wait(c, buf, sizeof(buf), RECOVERY_BOUND);
    mt_assert_rc(n, 64, "pop_wait after the child died holding a claim made through an inherited handle");
    cr_assert_lt(testutil_now_ns() - t0, RECOVERY_BOUND);
    cr_assert_null(mt_rec_check(buf, 64, 1, &rh));
    cr_assert(rh.producer == 0 && rh.seq == 0);
    cr_assert_eq(MT_LOAD(c->hdr->stats.producer_skips), 1);
    /* The parent's handle still works and still is the parent's. */
    mt_assert_rc(shmring_mpmc_push(p, buf, 64), 0, "push");
    mt_assert_rc(shmring_mpmc_pop(c, buf, sizeof(buf)), 64, "pop");
    close(fds[0]);
    cr_assert_eq(shmring_mpmc_close(p), 0);
    cr_assert_eq(shmring_mpmc_close(c), 0);
    mt_assert_rc(shmring_unlink(name), 0, "unlink");
    mt_assert_no_ipc();
}

/* Forges a "dead" verdict on a live handle: takes its life semaphore (lib/life.c) to 0, as if
 * the kernel had undone its hold. Only a hostile (or buggy) process can do this to a live one. */
static void forge_dead(struct shmring_mpmc *q)
{
    size_t index = (size_t)((const uint8_t *)q->self - ((const uint8_t *)q->hdr + SHMRING_HEADER_SIZE)) /
                   sizeof(struct shmring_participant);
    struct sembuf op = {(unsigned short)(SHMRING_SEM_LIFE_ENTRIES + index), -1, IPC_NOWAIT};
    cr_assert_eq(semop(q->hdr->ident.semid, &op, 1), 0, "semop: %s", strerror(errno));
}

/* A producer judged dead while it still lives (here: a forged verdict) has its claim skipped and
 * the slot reused a lap later. Its late publish must fail cleanly (-ESTALE) and change nothing:
 * the next lap's record in that slot is delivered intact, and the ring goes on. Was: publish was
 * a plain store of the sequence word (and the length), which put the slot a lap back: the next
 * lap's record was never delivered and the ring wedged. The same for a consumer's late release. */
MT_TEST(mpmc_death, late_publish_after_a_stale_verdict_fails_cleanly, .timeout = 30)
{
    const char *name = mt_create(4, 64, 0);
    struct shmring_mpmc *slow, *p, *c;
    struct shmring_mpmc_span sp = {0, 0};
    struct mt_rec_head rh;
    uint8_t buf[64];
    uint32_t late_len = 32;
    unsigned i;
    ssize_t n;
    int rc;

    slow = mt_open(name, SHMRING_PRODUCER);
    p = mt_open(name, SHMRING_PRODUCER);
    c = mt_open(name, SHMRING_CONSUMER);
    shmring_mpmc_set_spin(c, 0);
    mt_assert_rc(shmring_mpmc_claim(slow, 1, &sp), 1, "claim");
    mt_rec_write(shmring_mpmc_slot(slow, &sp, 0), 32, 1, 0);
    forge_dead(slow);
    /* The consumer waits at the slow producer's slot, finds it "dead", and skips the slot. */
    mt_assert_rc(shmring_mpmc_pop_wait(c, buf, sizeof(buf), 300 * MT_MS), -ETIMEDOUT, "pop_wait");
    cr_assert_eq(MT_LOAD(c->hdr->stats.producer_skips), 1, "the claim was skipped");
    /* A lap: the other producer's records fill positions 1..4, the last one in the skipped slot. */
    for (i = 0; i < 4; i++) {
        mt_rec_write(buf, 64, 0, i);
        mt_assert_rc(shmring_mpmc_push(p, buf, 64), 0, "push");
    }
    rc = shmring_mpmc_publish(slow, &sp, &late_len);
    cr_expect_eq(rc, -ESTALE, "the late publish returned %s, want ESTALE", shmring_err_name(rc));
    for (i = 0; i < 4; i++) {
        n = shmring_mpmc_pop_wait(c, buf, sizeof(buf), 1 * MT_SEC);
        mt_assert_rc(n, 64, "pop of the other producer's record after the late publish");
        cr_assert_null(mt_rec_check(buf, 64, 2, &rh));
        cr_assert(rh.producer == 0 && rh.seq == i, "record (%u, %llu), want (0, %u)", rh.producer,
                  (unsigned long long)rh.seq, i);
    }
    /* The ring goes on, lap after lap, for everybody (the slow handle too). */
    for (i = 0; i < 12; i++) {
        mt_rec_write(buf, 64, i % 2, 100 + i);
        mt_assert_rc(shmring_mpmc_push(i % 2 ? slow : p, buf, 64), 0, "push after");
        mt_assert_rc(shmring_mpmc_pop_wait(c, buf, sizeof(buf), 1 * MT_SEC), 64, "pop after");
    }
    cr_assert_eq(MT_LOAD(c->hdr->stats.state) & SHMRING_STATE_CORRUPT, 0, "the ring was marked corrupt");
    cr_assert_eq(shmring_mpmc_close(slow), 0);
    cr_assert_eq(shmring_mpmc_close(p), 0);
    cr_assert_eq(shmring_mpmc_close(c), 0);
    mt_assert_rc(shmring_unlink(name), 0, "unlink");
    mt_assert_no_ipc();
}
