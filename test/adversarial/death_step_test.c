/* Death at each step: a producer (consumer) is stopped deterministically right after one store of
 * its operation, then killed there, while the other side keeps running; a replacement attaches and
 * the stream goes on. Built with //:shmring_testpoints: the victim sets shmring__test_hook, which
 * at the k-th passage through the chosen test point (include/shmring/common.h) writes 's' to a pipe
 * and parks in pause(); the test then checks that a stalled (live) holder is waited for, not
 * skipped, SIGKILLs it there, and checks recovery:
 *   - nothing hangs: every child ends within its deadline, every blocking call within its timeout;
 *   - SPSC producer: exactly the records whose commit store happened are delivered (those of a
 *     batch killed before its commit never are), once each, in order; the replacement's records
 *     follow;
 *   - SPSC consumer: killed before its release store, the next consumer gets the peeked records
 *     again; after it, not (delivered once, to the victim);
 *   - MPMC producer: the slots it published are delivered once; the slots it claimed and did not
 *     publish are skipped, and stats.producer_skips says exactly how many; killed before its claim's
 *     CAS (intent stores), nothing is skipped;
 *   - MPMC consumer: records it released are delivered (to it) once; records it had taken and not
 *     released are lost by design and stats.consumer_skips says exactly how many;
 *   - every other record of every producer is delivered exactly once.
 * Steps with no shared store (a payload half written, records peeked/taken and read) are test
 * points of the test itself (USER_*). */
#include <criterion/parameterized.h>
#include <stdarg.h>

#include "advutil.h"

#define TP_USER_WRITE 100 /* producer: payload half written */
#define TP_USER_READ 101  /* consumer: records peeked (taken) and read, not released */

#define N_SURVIVOR 600u   /* records of each survivor and replacement producer */
#define MAX_SEQ 200000u
#define NPROD 4           /* producer ids: 0 victim, 1 survivor, 2 replacement */
#define MAXB 8

struct inflight {
    uint32_t n, released;
    uint32_t pid[MAXB];
    uint64_t seq[MAXB];
};

struct shared {
    /* The victim's view at the moment it stopped. */
    uint64_t committed;        /* records of the victim committed (published) before the current batch */
    uint32_t batch_n;          /* records in the current batch (claimed / reserved so far) */
    uint32_t batch_done;       /* MPMC: slots of the current batch published */
    int claimed;               /* MPMC: the current batch's claim CAS happened */
    uint64_t expect_delivered; /* victim producer: records that must be delivered */
    uint64_t expect_skips;     /* slots the victim held that survivors must skip / free */
    int stop_fd;
    struct inflight inf;       /* consumer victim's current batch */
    _Atomic int producers_done;
    _Atomic uint64_t bad, timeouts, max_call_ns;
    char first_error[256];
    _Atomic int error_taken;
    _Atomic uint8_t seen[NPROD][MAX_SEQ];
};

static struct shared *SH;
static const char *RING;
static int KIND;
static int g_target, g_k, g_hits; /* this process's stop point (victims only) */

static void err_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void err_msg(const char *fmt, ...)
{
    va_list ap;
    atomic_fetch_add(&SH->bad, 1);
    if (atomic_exchange(&SH->error_taken, 1) == 0) {
        va_start(ap, fmt);
        vsnprintf(SH->first_error, sizeof(SH->first_error), fmt, ap);
        va_end(ap);
    }
}

static int is_commit_point(int id)
{
    return id == SHMRING__TP_SPSC_COMMIT_WORD || id == SHMRING__TP_SPSC_COMMIT_POS ||
           id == SHMRING__TP_SPSC_COMMIT_COUNT;
}

/* The victim's hook: counts passages through the target point; at the k-th, records what the
 * survivors must see and stops. */
static void victim_hook(int id)
{
    if (id == SHMRING__TP_MPMC_PUBLISH_SEQ)
        SH->batch_done++;
    if (id == SHMRING__TP_MPMC_CLAIM_CAS)
        SH->claimed = 1;
    if (id == SHMRING__TP_SPSC_RELEASE_POS || id == SHMRING__TP_MPMC_RELEASE_SEQ) {
        if (id == SHMRING__TP_SPSC_RELEASE_POS)
            SH->inf.released = SH->inf.n;
        else
            SH->inf.released++;
    }
    if (id != g_target || ++g_hits != g_k)
        return;
    if (KIND == SHMRING_KIND_SPSC) {
        SH->expect_delivered = SH->committed + (is_commit_point(id) ? SH->batch_n : 0);
        SH->expect_skips = 0;
    } else {
        SH->expect_delivered = SH->committed + SH->batch_done;
        SH->expect_skips = SH->claimed ? SH->batch_n - SH->batch_done : 0;
    }
    adv_write_byte(SH->stop_fd, 's');
    /* Parked, alive, until the test kills it. (Not SIGSTOP: Criterion's runner takes the
     * stopped-child notification for one of its own and fails the test.) */
    for (;;)
        pause();
}

struct rec {
    uint32_t pid;
    uint32_t len;
    uint64_t seq;
};

static void rec_write(void *p, size_t len, uint32_t pid, uint64_t seq, int half)
{
    struct rec h = {pid, (uint32_t)len, seq};
    size_t body = len - sizeof(h);
    memcpy(p, &h, sizeof(h));
    testutil_fill((uint8_t *)p + sizeof(h), half ? body / 2 : body, ((uint64_t)pid << 40) ^ seq);
    if (half) {
        shmring__test_point(TP_USER_WRITE);
        testutil_fill((uint8_t *)p + sizeof(h), body, ((uint64_t)pid << 40) ^ seq);
    }
}

static int rec_read(const void *p, size_t len, uint32_t *pid, uint64_t *seq)
{
    struct rec h;
    if (len < sizeof(h))
        return -1;
    memcpy(&h, p, sizeof(h));
    if (h.pid >= NPROD || h.len != len || h.seq >= MAX_SEQ ||
        !testutil_check_fill((const uint8_t *)p + sizeof(h), len - sizeof(h), ((uint64_t)h.pid << 40) ^ h.seq))
        return -1;
    *pid = h.pid;
    *seq = h.seq;
    return 0;
}

static void mark(uint32_t pid, uint64_t seq)
{
    if (atomic_fetch_add(&SH->seen[pid][seq], 1) != 0)
        err_msg("record %u/%" PRIu64 " delivered twice", pid, seq);
}

static void note_call(int64_t t0, int rc)
{
    uint64_t d = (uint64_t)(testutil_now_ns() - t0), cur = atomic_load(&SH->max_call_ns);
    while (d > cur && !atomic_compare_exchange_weak(&SH->max_call_ns, &cur, d)) {
    }
    if (rc == -ETIMEDOUT)
        atomic_fetch_add(&SH->timeouts, 1);
}

struct role {
    int producer;
    uint32_t pid;     /* producer id */
    uint64_t count;   /* records to produce; UINT64_MAX: until killed */
    int victim;
    int target, k;
    int slow; /* consumer: pause 200 us after each batch (keeps the ring full) */
};

#define CALL_TIMEOUT (2 * ADV_SEC)
#define CHILD_DEADLINE (20 * ADV_SEC)

static int spsc_worker(void *arg)
{
    const struct role *r = arg;
    struct inflight local, *inf = r->victim ? &SH->inf : &local; /* only the victim's is watched */
    struct shmring_spsc *h = NULL;
    uint64_t rng = 0xd1e ^ r->pid, seq = 0;
    int64_t deadline = testutil_now_ns() + CHILD_DEADLINE;
    int err;
    while ((err = shmring_spsc_open(RING, r->producer ? SHMRING_PRODUCER : SHMRING_CONSUMER, &h)) == -EBUSY &&
           testutil_now_ns() < deadline)
        adv_sleep_ns(ADV_MS);
    if (err) {
        err_msg("spsc open: %s", shmring_err_name(err));
        return 2;
    }
    shmring_spsc_set_spin(h, 100);
    if (r->victim) {
        g_target = r->target;
        g_k = r->k;
        shmring__test_hook = victim_hook;
    }
    while (testutil_now_ns() < deadline) {
        if (r->producer) {
            uint32_t n = 1 + (uint32_t)(testutil_rand(&rng) % 3), i;
            if (seq >= r->count)
                break;
            if (n > r->count - seq)
                n = (uint32_t)(r->count - seq);
            if (r->victim)
                SH->batch_n = 0;
            for (i = 0; i < n; i++) {
                size_t len = sizeof(struct rec) + (size_t)(testutil_rand(&rng) % 300); /* 3 fit in half the ring (else EDEADLK) */
                void *buf = NULL;
                int64_t t0;
                do {
                    t0 = testutil_now_ns();
                    err = shmring_spsc_reserve_wait(h, len, &buf, CALL_TIMEOUT);
                    note_call(t0, err);
                    if (err == -EPIPE)
                        adv_sleep_ns(ADV_MS); /* no consumer now: one is coming */
                } while (err == -EPIPE && testutil_now_ns() < deadline);
                if (err) {
                    err_msg("spsc reserve_wait: %s", shmring_err_name(err));
                    return 3;
                }
                if (r->victim)
                    SH->batch_n = i + 1;
                rec_write(buf, len, r->pid, seq + i, r->victim);
            }
            shmring_spsc_commit(h);
            seq += n;
            if (r->victim)
                SH->committed = seq;
        } else {
            const void *buf = NULL;
            size_t len = 0;
            uint32_t want = 1 + (uint32_t)(testutil_rand(&rng) % 4), k = 0, pid;
            uint64_t s;
            int64_t t0 = testutil_now_ns();
            err = shmring_spsc_peek_wait(h, &buf, &len, CALL_TIMEOUT);
            note_call(t0, err);
            if (err == -EPIPE) {
                if (atomic_load(&SH->producers_done))
                    break;
                adv_sleep_ns(ADV_MS);
                continue;
            }
            if (err) {
                err_msg("spsc peek_wait: %s", shmring_err_name(err));
                return 3;
            }
            inf->n = inf->released = 0;
            do {
                if (rec_read(buf, len, &pid, &s) != 0) {
                    err_msg("spsc: a bad record (%zu bytes)", len);
                    return 4;
                }
                inf->pid[k] = pid;
                inf->seq[k] = s;
                inf->n = ++k;
            } while (k < want && shmring_spsc_peek(h, &buf, &len) == 0);
            if (r->victim)
                shmring__test_point(TP_USER_READ);
            shmring_spsc_release(h);
            for (uint32_t i = 0; i < k; i++)
                mark(inf->pid[i], inf->seq[i]);
            inf->n = 0;
            if (r->slow)
                adv_sleep_ns(200 * 1000);
        }
    }
    shmring__test_hook = NULL;
    shmring_spsc_close(h);
    return testutil_now_ns() < deadline ? 0 : 5;
}

static int mpmc_worker(void *arg)
{
    const struct role *r = arg;
    struct inflight local, *inf = r->victim ? &SH->inf : &local; /* only the victim's is watched */
    struct shmring_mpmc *q = NULL;
    uint64_t rng = 0xd1e ^ r->pid, seq = 0;
    int64_t deadline = testutil_now_ns() + CHILD_DEADLINE;
    int err = shmring_mpmc_open(RING, r->producer ? SHMRING_PRODUCER : SHMRING_CONSUMER, &q);
    if (err) {
        err_msg("mpmc open: %s", shmring_err_name(err));
        return 2;
    }
    shmring_mpmc_set_spin(q, 100);
    if (r->victim) {
        g_target = r->target;
        g_k = r->k;
        shmring__test_hook = victim_hook;
    }
    while (testutil_now_ns() < deadline) {
        struct shmring_mpmc_span c = {0, 0};
        unsigned want = 1 + (unsigned)(testutil_rand(&rng) % 3);
        int64_t t0;
        int n;
        if (r->producer) {
            if (seq >= r->count)
                break;
            if (want > r->count - seq)
                want = (unsigned)(r->count - seq);
            if (r->victim) { /* the victim's bookkeeping only: other producers run at the same time */
                SH->claimed = 0;
                SH->batch_done = 0;
                SH->batch_n = 0;
            }
            t0 = testutil_now_ns();
            n = shmring_mpmc_claim_wait(q, want, &c, CALL_TIMEOUT);
            note_call(t0, n);
            if (n == -EPIPE) {
                adv_sleep_ns(ADV_MS);
                continue;
            }
            if (n <= 0) {
                err_msg("mpmc claim_wait: %s", shmring_err_name(n));
                return 3;
            }
            if (r->victim)
                SH->batch_n = (uint32_t)n;
            for (int i = 0; i < n; i++)
                rec_write(shmring_mpmc_slot(q, &c, (unsigned)i), shmring_mpmc_slot_size(q), r->pid, seq + (uint64_t)i,
                          r->victim && i == 0);
            shmring_mpmc_publish(q, &c, NULL);
            seq += (uint64_t)n;
            if (r->victim)
                SH->committed = seq;
        } else {
            t0 = testutil_now_ns();
            n = shmring_mpmc_take_wait(q, want, &c, CALL_TIMEOUT);
            note_call(t0, n);
            if (n == -EPIPE) {
                if (atomic_load(&SH->producers_done))
                    break;
                adv_sleep_ns(ADV_MS);
                continue;
            }
            if (n <= 0) {
                err_msg("mpmc take_wait: %s", shmring_err_name(n));
                return 3;
            }
            inf->n = inf->released = 0;
            for (int i = 0; i < n; i++) {
                const void *buf = NULL;
                size_t len = 0;
                uint32_t pid;
                uint64_t s;
                if (shmring_mpmc_record(q, &c, (unsigned)i, &buf, &len) != 0 || rec_read(buf, len, &pid, &s) != 0) {
                    err_msg("mpmc: a bad record");
                    return 4;
                }
                inf->pid[i] = pid;
                inf->seq[i] = s;
            }
            inf->n = (uint32_t)n;
            if (r->victim)
                shmring__test_point(TP_USER_READ);
            shmring_mpmc_release(q, &c);
            for (int i = 0; i < n; i++)
                mark(inf->pid[i], inf->seq[i]);
            inf->n = 0;
        }
    }
    shmring__test_hook = NULL;
    shmring_mpmc_close(q);
    return testutil_now_ns() < deadline ? 0 : 5;
}

struct step {
    int kind;      /* SHMRING_KIND_* */
    int producer;  /* the victim's role */
    int point;     /* test point id */
    int k;         /* stop at its k-th passage */
    char label[96]; /* inline: Criterion copies parameters into the test's process */
};

static void run_step(const struct step *st)
{
    struct shmring_config cfg;
    const struct shmring_header *view;
    int (*worker)(void *) = st->kind == SHMRING_KIND_SPSC ? spsc_worker : mpmc_worker;
    struct role victim = {st->producer, 0, UINT64_MAX, 1, st->point, st->k, 0};
    struct role survivor = {!st->producer, 1, N_SURVIVOR, 0, 0, 0, st->producer};
    struct role replacement = {st->producer, 2, N_SURVIVOR, 0, 0, 0, 0};
    struct role extra = {1, 3, N_SURVIVOR, 0, 0, 0, 0}; /* MPMC: a second producer throughout */
    pid_t pv, ps, pr, pe = 0;
    int fds[2], b, rc;
    uint64_t skips_before, skips_after;
    char name[64];

    KIND = st->kind;
    SH = adv_shared(sizeof(*SH));
    snprintf(name, sizeof(name), "%s", testutil_name("step"));
    RING = name;
    shmring_config_init(&cfg);
    if (st->kind == SHMRING_KIND_SPSC) {
        cfg.capacity = 2048;
        cfg.start_position = UINT64_MAX - 4095; /* positions wrap 2^64 during the test */
        adv_assert_rc(shmring_spsc_create(name, &cfg), 0, "spsc create");
    } else {
        cfg.capacity = 8;
        cfg.slot_size = 64;
        cfg.start_position = UINT64_MAX - 31;
        adv_assert_rc(shmring_mpmc_create(name, &cfg), 0, "mpmc create");
    }
    view = adv_observe(name);
    cr_assert_not_null(view);
    cr_assert_eq(pipe(fds), 0);
    SH->stop_fd = fds[1];

    pv = adv_spawn(worker, &victim);
    ps = adv_spawn(worker, &survivor);
    if (st->kind == SHMRING_KIND_MPMC)
        pe = adv_spawn(worker, &extra);
    cr_assert(pv > 0 && ps > 0);
    b = adv_read_byte(fds[0], 10 * ADV_SEC);
    cr_assert_eq(b, 's', "%s: the victim never reached test point %d (passage %d): %s", st->label, st->point, st->k,
                 SH->first_error);

    /* Stopped, hence alive: what it holds must be waited for, not skipped. */
    skips_before = ADV_LOAD(view->stats.producer_skips) + ADV_LOAD(view->stats.consumer_skips);
    adv_sleep_ns(300 * ADV_MS);
    cr_assert_eq(ADV_LOAD(view->stats.producer_skips) + ADV_LOAD(view->stats.consumer_skips), skips_before,
                 "%s: a slot of a stopped (live) process was skipped", st->label);

    if (st->point == SHMRING__TP_MPMC_CLAIM_CAS) {
        /* The hook cannot see how many slots the claim took: its participant entry says. */
        const struct shmring_participant *t =
            (const struct shmring_participant *)(const void *)((const uint8_t *)view + SHMRING_HEADER_SIZE);
        for (unsigned i = 0; i < SHMRING_MPMC_PARTICIPANTS; i++)
            if (SHMRING_OWNER_PID(ADV_LOAD(t[i].owner)) == pv)
                SH->expect_skips = __atomic_load_n((const uint32_t *)&t[i].intent_n, __ATOMIC_ACQUIRE);
        cr_assert_gt(SH->expect_skips, 0, "%s: the victim's participant entry shows no claim", st->label);
    }
    rc = adv_kill(pv);
    cr_assert_eq(rc, 128 + SIGKILL, "%s: the victim ended with %d before the kill", st->label, rc);
    /* Settle the victim consumer's batch: what it released was delivered to it. */
    if (!st->producer) {
        for (uint32_t i = 0; i < SH->inf.released && i < SH->inf.n; i++)
            mark(SH->inf.pid[i], SH->inf.seq[i]);
    }
    pr = adv_spawn(worker, &replacement);
    cr_assert_gt(pr, 0);

    /* Producers finish; then consumers drain to end of stream. */
    if (st->producer) {
        rc = adv_join(pr, 30 * ADV_SEC);
        cr_assert_eq(rc, 0, "%s: replacement producer ended with %d: %s", st->label, rc, SH->first_error);
        if (pe) {
            rc = adv_join(pe, 30 * ADV_SEC);
            cr_assert_eq(rc, 0, "%s: second producer ended with %d: %s", st->label, rc, SH->first_error);
        }
        atomic_store(&SH->producers_done, 1);
        rc = adv_join(ps, 30 * ADV_SEC);
        cr_assert_eq(rc, 0, "%s: surviving consumer ended with %d: %s", st->label, rc, SH->first_error);
    } else {
        rc = adv_join(ps, 30 * ADV_SEC);
        cr_assert_eq(rc, 0, "%s: surviving producer ended with %d: %s", st->label, rc, SH->first_error);
        if (pe) {
            rc = adv_join(pe, 30 * ADV_SEC);
            cr_assert_eq(rc, 0, "%s: second producer ended with %d: %s", st->label, rc, SH->first_error);
        }
        atomic_store(&SH->producers_done, 1);
        rc = adv_join(pr, 30 * ADV_SEC);
        cr_assert_eq(rc, 0, "%s: replacement consumer ended with %d: %s", st->label, rc, SH->first_error);
    }
    cr_assert_eq(atomic_load(&SH->bad), 0, "%s: %s", st->label, SH->first_error);
    cr_assert_eq(atomic_load(&SH->timeouts), 0, "%s: %" PRIu64 " blocking calls timed out (%.0f ms max)", st->label,
                 atomic_load(&SH->timeouts), (double)atomic_load(&SH->max_call_ns) / ADV_MS);

    /* The ledger. */
    if (st->producer) {
        uint64_t s, first_missing = UINT64_MAX, beyond = 0;
        for (s = 0; s < MAX_SEQ; s++) {
            uint8_t v = atomic_load(&SH->seen[0][s]);
            if (s < SH->expect_delivered && v != 1 && first_missing == UINT64_MAX)
                first_missing = s;
            if (s >= SH->expect_delivered && v)
                beyond++;
        }
        cr_assert_eq(first_missing, UINT64_MAX, "%s: committed record %" PRIu64 " of the killed producer was not delivered",
                     st->label, first_missing);
        cr_assert_eq(beyond, 0, "%s: %" PRIu64 " uncommitted records of the killed producer were delivered (expected %" PRIu64 ")",
                     st->label, beyond, SH->expect_delivered);
    }
    {
        /* Producers of this scenario besides the victim: each wrote N_SURVIVOR records. */
        int is_prod[NPROD] = {0, !st->producer, st->producer, st->kind == SHMRING_KIND_MPMC};
        uint64_t other_missing = 0;
        for (uint32_t p = 1; p < NPROD; p++) {
            uint64_t n = is_prod[p] ? N_SURVIVOR : 0, missing = 0, extra_n = 0;
            for (uint64_t s = 0; s < MAX_SEQ; s++) {
                uint8_t v = atomic_load(&SH->seen[p][s]);
                if (s < n && v != 1)
                    missing++;
                if (s >= n && v)
                    extra_n++;
            }
            cr_assert_eq(extra_n, 0, "%s: producer %u: records delivered that it never wrote", st->label, p);
            other_missing += missing;
        }
        if (st->kind == SHMRING_KIND_SPSC || st->producer) {
            cr_assert_eq(other_missing, 0, "%s: %" PRIu64 " records of live producers not delivered", st->label,
                         other_missing);
        } else {
            /* The consumer lost exactly the records it held (taken, not released): none of them was
             * delivered to anybody else, every other record was, and consumer_skips counts them. */
            uint64_t held = SH->expect_skips;
            if (SH->inf.n) {
                held = 0;
                for (uint32_t i = SH->inf.released; i < SH->inf.n; i++) {
                    cr_assert_eq(atomic_load(&SH->seen[SH->inf.pid[i]][SH->inf.seq[i]]), 0,
                                 "%s: a record the killed consumer held was delivered again", st->label);
                    held++;
                }
            }
            cr_assert_eq(other_missing, held, "%s: %" PRIu64 " records missing, the victim held %" PRIu64, st->label,
                         other_missing, held);
            cr_assert_eq(ADV_LOAD(view->stats.consumer_skips), held,
                         "%s: consumer_skips %" PRIu64 ", the victim held %" PRIu64 " unreleased records", st->label,
                         (uint64_t)ADV_LOAD(view->stats.consumer_skips), held);
        }
    }
    skips_after = ADV_LOAD(view->stats.producer_skips);
    if (st->kind == SHMRING_KIND_MPMC && st->producer)
        cr_assert_eq(skips_after, SH->expect_skips, "%s: producer_skips %" PRIu64 ", the victim held %" PRIu64,
                     st->label, skips_after, SH->expect_skips);
    cr_log_info("%s: stopped and killed at point %d (passage %d); victim records delivered %" PRIu64
                ", skips %" PRIu64 "/%" PRIu64 ", max blocking call %.1f ms",
                st->label, st->point, st->k, SH->expect_delivered, (uint64_t)ADV_LOAD(view->stats.producer_skips),
                (uint64_t)ADV_LOAD(view->stats.consumer_skips), (double)atomic_load(&SH->max_call_ns) / ADV_MS);
    shmdt((const void *)view);
    close(fds[0]);
    close(fds[1]);
    adv_assert_rc(shmring_unlink(name), 0, "unlink");
    munmap(SH, sizeof(*SH));
    adv_assert_no_ipc();
}

#define STEP(kind, prod, point, k) {kind, prod, point, k, #kind " " #point " passage " #k}

ParameterizedTestParameters(death_step, spsc)
{
    static struct step steps[] = {
        STEP(SHMRING_KIND_SPSC, 1, SHMRING__TP_SPSC_PLACE, 1),
        STEP(SHMRING_KIND_SPSC, 1, SHMRING__TP_SPSC_PLACE, 37),
        STEP(SHMRING_KIND_SPSC, 1, TP_USER_WRITE, 41),
        STEP(SHMRING_KIND_SPSC, 1, SHMRING__TP_SPSC_COMMIT_WORD, 1),
        STEP(SHMRING_KIND_SPSC, 1, SHMRING__TP_SPSC_COMMIT_WORD, 23),
        STEP(SHMRING_KIND_SPSC, 1, SHMRING__TP_SPSC_COMMIT_POS, 24),
        STEP(SHMRING_KIND_SPSC, 1, SHMRING__TP_SPSC_COMMIT_COUNT, 25),
        STEP(SHMRING_KIND_SPSC, 1, SHMRING__TP_SPSC_PAD, 1),
        STEP(SHMRING_KIND_SPSC, 0, TP_USER_READ, 1),
        STEP(SHMRING_KIND_SPSC, 0, TP_USER_READ, 30),
        STEP(SHMRING_KIND_SPSC, 0, SHMRING__TP_SPSC_RELEASE_POS, 1),
        STEP(SHMRING_KIND_SPSC, 0, SHMRING__TP_SPSC_RELEASE_POS, 31),
        STEP(SHMRING_KIND_SPSC, 0, SHMRING__TP_SPSC_RELEASE_COUNT, 32),
        STEP(SHMRING_KIND_SPSC, 0, SHMRING__TP_SPSC_PUBLISH, 1),
        STEP(SHMRING_KIND_SPSC, 0, SHMRING__TP_SPSC_PUBLISH, 20),
    };
    return cr_make_param_array(struct step, steps, sizeof(steps) / sizeof(steps[0]));
}

ParameterizedTest(struct step *st, death_step, spsc, .init = adv_init, .fini = adv_fini, .timeout = 120)
{
    run_step(st);
}

ParameterizedTestParameters(death_step, mpmc)
{
    static struct step steps[] = {
        STEP(SHMRING_KIND_MPMC, 1, SHMRING__TP_MPMC_INTENT_N, 20),
        STEP(SHMRING_KIND_MPMC, 1, SHMRING__TP_MPMC_INTENT_POS, 21),
        STEP(SHMRING_KIND_MPMC, 1, SHMRING__TP_MPMC_CLAIM_CAS, 1),
        STEP(SHMRING_KIND_MPMC, 1, SHMRING__TP_MPMC_CLAIM_CAS, 22),
        STEP(SHMRING_KIND_MPMC, 1, TP_USER_WRITE, 23),
        STEP(SHMRING_KIND_MPMC, 1, SHMRING__TP_MPMC_PUBLISH_LEN, 40),
        STEP(SHMRING_KIND_MPMC, 1, SHMRING__TP_MPMC_PUBLISH_SEQ, 41),
        STEP(SHMRING_KIND_MPMC, 0, SHMRING__TP_MPMC_INTENT_N, 20),
        STEP(SHMRING_KIND_MPMC, 0, SHMRING__TP_MPMC_INTENT_POS, 21),
        STEP(SHMRING_KIND_MPMC, 0, SHMRING__TP_MPMC_CLAIM_CAS, 22),
        STEP(SHMRING_KIND_MPMC, 0, TP_USER_READ, 23),
        STEP(SHMRING_KIND_MPMC, 0, SHMRING__TP_MPMC_RELEASE_SEQ, 1),
        STEP(SHMRING_KIND_MPMC, 0, SHMRING__TP_MPMC_RELEASE_SEQ, 40),
    };
    return cr_make_param_array(struct step, steps, sizeof(steps) / sizeof(steps[0]));
}

ParameterizedTest(struct step *st, death_step, mpmc, .init = adv_init, .fini = adv_fini, .timeout = 120)
{
    run_step(st);
}

/* --- Death during recovery ----------------------------------------------------------------------
 * Producer A claims slots and dies holding them. Consumer B reaches them, finds A dead and starts
 * the recovery, and is itself killed right after one of its stores: the CAS that marks A's slot
 * skipped (ABANDONED, before the skip is counted), the CAS on cons.pos that takes the skipped slot
 * (SKIP_TAKEN), or the store that frees it (SKIP_FREED). A replacement consumer and a live
 * producer must carry on: every record of the live producer delivered once, nothing hangs, and the
 * counters say what happened (a kill between a CAS and its counter leaves one skip uncounted). */
ParameterizedTestParameters(death_step, mpmc_recovery)
{
    static int points[] = {SHMRING__TP_MPMC_ABANDONED, SHMRING__TP_MPMC_SKIP_TAKEN, SHMRING__TP_MPMC_SKIP_FREED};
    return cr_make_param_array(int, points, 3);
}

ParameterizedTest(int *point, death_step, mpmc_recovery, .init = adv_init, .fini = adv_fini, .timeout = 120)
{
    struct shmring_config cfg;
    const struct shmring_header *view;
    struct role a = {1, 0, UINT64_MAX, 1, SHMRING__TP_MPMC_CLAIM_CAS, 1, 0};
    struct role b = {0, 0, 0, 1, *point, 1, 0};
    struct role p = {1, 1, N_SURVIVOR, 0, 0, 0, 0};
    struct role c = {0, 2, 0, 0, 0, 0, 0};
    const struct shmring_participant *t;
    uint64_t held = 0, pskips, cskips, missing = 0, extra = 0;
    pid_t pa, pb, pp, pc;
    int fds[2], rc;
    char name[64];

    KIND = SHMRING_KIND_MPMC;
    SH = adv_shared(sizeof(*SH));
    snprintf(name, sizeof(name), "%s", testutil_name("recov"));
    RING = name;
    shmring_config_init(&cfg);
    cfg.capacity = 8;
    cfg.slot_size = 64;
    cfg.start_position = UINT64_MAX - 5;
    adv_assert_rc(shmring_mpmc_create(name, &cfg), 0, "create");
    view = adv_observe(name);
    cr_assert_not_null(view);
    cr_assert_eq(pipe(fds), 0);
    SH->stop_fd = fds[1];
    t = (const struct shmring_participant *)(const void *)((const uint8_t *)view + SHMRING_HEADER_SIZE);

    pa = adv_spawn(mpmc_worker, &a);
    cr_assert_eq(adv_read_byte(fds[0], 10 * ADV_SEC), 's', "producer A did not claim");
    for (unsigned i = 0; i < SHMRING_MPMC_PARTICIPANTS; i++)
        if (SHMRING_OWNER_PID(ADV_LOAD(t[i].owner)) == pa)
            held = __atomic_load_n((const uint32_t *)&t[i].intent_n, __ATOMIC_ACQUIRE);
    cr_assert_gt(held, 0);
    cr_assert_eq(adv_kill(pa), 128 + SIGKILL);

    pp = adv_spawn(mpmc_worker, &p);
    pb = adv_spawn(mpmc_worker, &b);
    cr_assert_eq(adv_read_byte(fds[0], 10 * ADV_SEC), 's', "consumer B never reached test point %d", *point);
    cr_assert_eq(adv_kill(pb), 128 + SIGKILL);
    pc = adv_spawn(mpmc_worker, &c);
    rc = adv_join(pp, 30 * ADV_SEC);
    cr_assert_eq(rc, 0, "the live producer ended with %d (hung on a slot the dead consumer left?): %s", rc,
                 SH->first_error);
    atomic_store(&SH->producers_done, 1);
    rc = adv_join(pc, 30 * ADV_SEC);
    cr_assert_eq(rc, 0, "the replacement consumer ended with %d: %s", rc, SH->first_error);
    cr_assert_eq(atomic_load(&SH->bad), 0, "%s", SH->first_error);
    cr_assert_eq(atomic_load(&SH->timeouts), 0, "%" PRIu64 " blocking calls timed out", atomic_load(&SH->timeouts));
    for (uint64_t s = 0; s < MAX_SEQ; s++) {
        uint8_t v = atomic_load(&SH->seen[1][s]);
        if (s < N_SURVIVOR && v != 1)
            missing++;
        if (s >= N_SURVIVOR && v)
            extra++;
        if (atomic_load(&SH->seen[0][s]))
            extra++; /* A published nothing */
    }
    cr_assert_eq(missing, 0, "%" PRIu64 " records of the live producer lost", missing);
    cr_assert_eq(extra, 0, "records delivered that nobody published");
    pskips = ADV_LOAD(view->stats.producer_skips);
    cskips = ADV_LOAD(view->stats.consumer_skips);
    if (*point == SHMRING__TP_MPMC_ABANDONED)
        cr_assert_eq(pskips, held - 1, "producer_skips %" PRIu64 ", A held %" PRIu64 " (one CAS done, not counted)",
                     pskips, held);
    else
        cr_assert_eq(pskips, held, "producer_skips %" PRIu64 ", A held %" PRIu64, pskips, held);
    cr_assert_eq(cskips, *point == SHMRING__TP_MPMC_SKIP_TAKEN ? 1u : 0u,
                 "consumer_skips %" PRIu64 " (B died holding a skipped slot: %s)", cskips,
                 *point == SHMRING__TP_MPMC_SKIP_TAKEN ? "yes" : "no");
    cr_log_info("recovery killed at point %d: A held %" PRIu64 " slots; skips %" PRIu64 "/%" PRIu64
                "; %u records of the live producer delivered once",
                *point, held, pskips, cskips, N_SURVIVOR);
    shmdt((const void *)view);
    close(fds[0]);
    close(fds[1]);
    adv_assert_rc(shmring_unlink(name), 0, "unlink");
    munmap(SH, sizeof(*SH));
    adv_assert_no_ipc();
}
