/* Kill soak: producers and consumers of one ring run as separate processes while a driver sends
 * SIGKILL to a random one at random moments and restarts it. A plain program (exits non-zero on
 * failure) so that it also runs outside Bazel with any number of kills:
 *
 *   kill_soak [--kind spsc|mpmc|both] [--kills N] [--long] [--mean-ms M] [--seed S]
 *             [--producers P] [--consumers C] [--bound-ms B] [--quiet]
 *
 * --long is 1000 kills per ring kind; SHMRING_SOAK_KILLS in the environment overrides --kills.
 * Defaults (what the cc_test runs): 300 kills per kind, mean 40 ms between kills, MPMC with 3
 * producers and 3 consumers. It ends with one SUMMARY line per kind.
 *
 * What is checked, and the delivery semantics it relies on:
 *   - Every producer incarnation takes fresh global record ids (gid) from a shared counter and
 *     writes records (gid, incarnation, sequence, length, payload derived from the gid). The
 *     shared ledger (MAP_SHARED|MAP_ANONYMOUS, made before any fork) holds per gid: its state
 *     (1 written in the ring, 2 known committed) and the batch that delivered it.
 *   - "Delivered" means released. A consumer peeks/takes a batch, copies its gids into its
 *     in-flight slot (shared), releases, then marks the gids with the batch's id and clears the
 *     slot. Marking the same batch twice is harmless; a gid marked by two batches is a duplicate.
 *     When the driver reaps a killed consumer it settles its in-flight batch:
 *       SPSC: the release is one store of cons.pos, so the batch was released iff cons.pos moved
 *             from the position saved with the batch: then it is marked, else it is dropped (the
 *             next consumer gets the same records again: that is the ring's contract, and no
 *             duplicate).
 *       MPMC: the release is one store per slot; the test-point hook after each store counts them
 *             in the in-flight slot, so the first `released` were released (marked), the rest were
 *             still taken: those records are lost by design, their slots freed by the survivors
 *             and counted in stats.consumer_skips. A kill between a slot's store and the hook's
 *             count leaves one record ambiguous; such kills are counted and allowed for.
 *   - Committed: SPSC: commit returned (state 2); MPMC: the hook after a slot's publish store set
 *     state 2. A producer killed before that leaves records in state 1: SPSC drops them (they are
 *     a suffix of that incarnation's records); MPMC skips their claimed slots (stats.producer_skips).
 *   Pass:
 *     no record with a bad length or payload; no duplicate;
 *     SPSC: every committed record delivered, records delivered in gid order (FIFO across
 *       incarnations), an incarnation's undelivered records only after its delivered ones;
 *     MPMC: committed records missing <= consumer_skips + ambiguous kills; all records missing
 *       <= producer_skips + consumer_skips + ambiguous kills;
 *     no blocking call of a survivor took longer than the bound (liveness bound 100 ms + 1 s;
 *       each call is made with that timeout, and a -ETIMEDOUT counts as a stall);
 *     afterwards a clean producer/consumer pass moves records through the same ring, in order.
 * The driver uses //:shmring_testpoints only for the MPMC counts above; no test point stops anyone.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "shmring/shmring.h"
#include "testutil.h"

#define MS 1000000LL
#define SEC 1000000000LL
#define MAX_GIDS (UINT64_C(1) << 26) /* records per run: 64 Mi (9 bytes of ledger each, touched lazily) */
#define GID_MARGIN 4096u
#define MAX_WORKERS 16
#define MAX_BATCH 16
#define REC_HDR 24u

enum { ROLE_P = 0, ROLE_C = 1 };

/* A consumer's batch between its release and the ledger marks. */
struct inflight {
    _Atomic int valid;
    uint32_t batch;
    uint32_t n;
    _Atomic uint32_t released; /* MPMC: slots released so far (test-point hook) */
    uint64_t head_before;      /* SPSC: cons.pos before the release */
    uint64_t gids[MAX_BATCH];
};

struct shared {
    _Atomic uint64_t next_gid;
    _Atomic uint32_t next_batch;
    _Atomic uint32_t next_inc;
    _Atomic int stop;
    _Atomic int producers_done;
    _Atomic int ledger_full;
    _Atomic uint64_t bad, dups, stalls, fatal;
    _Atomic uint64_t calls[2], max_call_ns[2], epipe[2], records_out;
    _Atomic int error_taken;
    char first_error[512];
    struct inflight inflight[MAX_WORKERS];
};

struct opts {
    int kills;
    int64_t mean_ns;
    uint64_t seed;
    int producers, consumers;
    int64_t bound_ns;
    int quiet;
};

static struct shared *S;
static uint8_t *gstate;   /* per gid: 0 unused, 1 written, 2 committed */
static uint32_t *dmark;   /* per gid: delivering batch id, 0 none */
static uint32_t *ginc;    /* per gid: incarnation + 1 */
static const char *g_name;
static int g_kind;
static int g_nworkers;

static void fail_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail_msg(const char *fmt, ...)
{
    va_list ap;
    if (atomic_exchange(&S->error_taken, 1) == 0) {
        va_start(ap, fmt);
        vsnprintf(S->first_error, sizeof(S->first_error), fmt, ap);
        va_end(ap);
    }
}

static int64_t now_ns(void) { return testutil_now_ns(); }

static void sleep_ns(int64_t ns)
{
    struct timespec ts = {(time_t)(ns / SEC), (long)(ns % SEC)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static void note_call(int role, int64_t t0, int rc, int64_t bound)
{
    int64_t d = now_ns() - t0;
    uint64_t cur = atomic_load(&S->max_call_ns[role]);
    atomic_fetch_add(&S->calls[role], 1);
    if (rc == -EPIPE)
        atomic_fetch_add(&S->epipe[role], 1);
    if (atomic_load(&S->ledger_full) || atomic_load(&S->stop))
        return; /* producers idle or stopping: waiting is legitimate, not a stall */
    while ((uint64_t)d > cur && !atomic_compare_exchange_weak(&S->max_call_ns[role], &cur, (uint64_t)d)) {
    }
    /* Blocked for the whole bound without progress (the peer was there or being restarted), or
     * the call overran its own timeout by half. */
    if (rc == -ETIMEDOUT || d > bound + bound / 2) {
        atomic_fetch_add(&S->stalls, 1);
        fail_msg("%s pid %d: a blocking call took %.3f s and returned %s", role == ROLE_P ? "producer" : "consumer",
                 (int)getpid(), (double)d / SEC, shmring_err_name(rc));
    }
}

struct rec {
    uint64_t gid;
    uint32_t inc;
    uint32_t len;
    uint64_t seq;
};

static void rec_write(void *p, size_t len, uint64_t gid, uint32_t inc, uint64_t seq)
{
    struct rec h = {gid, inc, (uint32_t)len, seq};
    memcpy(p, &h, sizeof(h));
    testutil_fill((uint8_t *)p + sizeof(h), len - sizeof(h), gid ^ UINT64_C(0x9e3779b97f4a7c15));
}

/* Checks a delivered record; returns its gid or UINT64_MAX (bad, counted). */
static uint64_t rec_check(const void *p, size_t len)
{
    struct rec h;
    if (len < REC_HDR) {
        atomic_fetch_add(&S->bad, 1);
        fail_msg("record of %zu bytes, shorter than its header", len);
        return UINT64_MAX;
    }
    memcpy(&h, p, sizeof(h));
    if (h.gid >= MAX_GIDS || h.len != len || gstate[h.gid] == 0 ||
        !testutil_check_fill((const uint8_t *)p + sizeof(h), len - sizeof(h), h.gid ^ UINT64_C(0x9e3779b97f4a7c15))) {
        atomic_fetch_add(&S->bad, 1);
        fail_msg("bad record: gid %" PRIu64 " len %zu (stamped %u), state %u", h.gid, len, h.len,
                 h.gid < MAX_GIDS ? gstate[h.gid] : 0);
        return UINT64_MAX;
    }
    return h.gid;
}

/* Marks a released batch as delivered. Idempotent for the same batch. */
static void apply_batch(const struct inflight *f, uint32_t upto)
{
    for (uint32_t i = 0; i < upto; i++) {
        uint64_t g = f->gids[i];
        uint32_t m;
        if (g == UINT64_MAX)
            continue;
        m = __atomic_load_n(&dmark[g], __ATOMIC_RELAXED);
        if (m != 0 && m != f->batch) {
            atomic_fetch_add(&S->dups, 1);
            fail_msg("gid %" PRIu64 " delivered twice: batches %u and %u", g, m, f->batch);
            continue;
        }
        if (m == 0)
            atomic_fetch_add(&S->records_out, 1);
        __atomic_store_n(&dmark[g], f->batch, __ATOMIC_RELAXED);
    }
}

/* --- test-point hooks (MPMC) ----------------------------------------------------------------- */
static struct inflight *g_inf;  /* consumer: this process's in-flight slot */
static uint64_t g_pub_base;     /* producer: gids of the batch being published */
static uint32_t g_pub_n, g_pub_done;

static void hook(int id)
{
    if (id == SHMRING__TP_MPMC_RELEASE_SEQ && g_inf)
        atomic_fetch_add(&g_inf->released, 1);
    else if (id == SHMRING__TP_MPMC_PUBLISH_SEQ && g_pub_done < g_pub_n)
        __atomic_store_n(&gstate[g_pub_base + g_pub_done++], 2, __ATOMIC_RELAXED);
}

/* --- workers --------------------------------------------------------------------------------- */

static uint32_t new_incarnation(void) { return atomic_fetch_add(&S->next_inc, 1); }

/* Takes n fresh gids, or returns UINT64_MAX when the ledger is nearly full. */
static uint64_t take_gids(uint32_t n)
{
    uint64_t g;
    if (atomic_load(&S->next_gid) > MAX_GIDS - GID_MARGIN) {
        atomic_store(&S->ledger_full, 1);
        return UINT64_MAX;
    }
    g = atomic_fetch_add(&S->next_gid, n);
    return g;
}

static int spsc_producer(const struct opts *o, uint64_t rng)
{
    struct shmring_spsc *p = NULL;
    uint32_t inc = new_incarnation();
    uint64_t seq = 0;
    int err;
    int64_t t_end = now_ns() + 5 * SEC;
    while ((err = shmring_spsc_open(g_name, SHMRING_PRODUCER, &p)) == -EBUSY && now_ns() < t_end)
        sleep_ns(200 * 1000);
    if (err) {
        fail_msg("spsc producer open: %s", shmring_strerror(err));
        return 2;
    }
    shmring_spsc_set_spin(p, (uint32_t)(testutil_rand(&rng) % 2) * 1000);
    while (!atomic_load(&S->stop)) {
        uint32_t n = 1 + (uint32_t)(testutil_rand(&rng) % 8), i;
        uint64_t base = take_gids(n);
        if (base == UINT64_MAX) {
            sleep_ns(MS);
            continue;
        }
        for (i = 0; i < n; i++) {
            size_t len = REC_HDR + (size_t)(testutil_rand(&rng) % 200);
            void *buf = NULL;
            for (;;) {
                int64_t t0 = now_ns();
                err = shmring_spsc_reserve_wait(p, len, &buf, o->bound_ns);
                note_call(ROLE_P, t0, err, o->bound_ns);
                if (err == 0)
                    break;
                if (err == -EPIPE || err == -ETIMEDOUT) { /* no consumer now: the driver restarts it */
                    if (atomic_load(&S->stop))
                        break;
                    sleep_ns(200 * 1000);
                    continue;
                }
                fail_msg("spsc reserve_wait: %s", shmring_strerror(err));
                return 3;
            }
            if (err)
                break;
            ginc[base + i] = inc + 1;
            rec_write(buf, len, base + i, inc, seq++);
            __atomic_store_n(&gstate[base + i], 1, __ATOMIC_RELAXED);
        }
        shmring_spsc_commit(p);
        for (uint32_t j = 0; j < i; j++)
            __atomic_store_n(&gstate[base + j], 2, __ATOMIC_RELAXED);
    }
    shmring_spsc_close(p);
    return 0;
}

static int spsc_consumer(int slot, const struct opts *o, uint64_t rng)
{
    struct shmring_spsc *c = NULL;
    struct inflight *f = &S->inflight[slot];
    int err;
    int64_t t_end = now_ns() + 5 * SEC;
    while ((err = shmring_spsc_open(g_name, SHMRING_CONSUMER, &c)) == -EBUSY && now_ns() < t_end)
        sleep_ns(200 * 1000);
    if (err) {
        fail_msg("spsc consumer open: %s", shmring_strerror(err));
        return 2;
    }
    shmring_spsc_set_spin(c, (uint32_t)(testutil_rand(&rng) % 2) * 1000);
    for (;;) {
        const void *buf = NULL;
        size_t len = 0;
        uint32_t want = 1 + (uint32_t)(testutil_rand(&rng) % MAX_BATCH), k = 0;
        int64_t t0 = now_ns();
        err = shmring_spsc_peek_wait(c, &buf, &len, o->bound_ns);
        note_call(ROLE_C, t0, err, o->bound_ns);
        if (err == -EPIPE || err == -ETIMEDOUT) {
            if (atomic_load(&S->producers_done))
                break;
            sleep_ns(200 * 1000);
            continue;
        }
        if (err) {
            fail_msg("spsc peek_wait: %s", shmring_strerror(err));
            return 3;
        }
        f->gids[k++] = rec_check(buf, len);
        while (k < want && shmring_spsc_peek(c, &buf, &len) == 0)
            f->gids[k++] = rec_check(buf, len);
        f->n = k;
        f->batch = atomic_fetch_add(&S->next_batch, 1) + 1;
        f->head_before = c->head; /* == cons.pos: nothing released since the first peek */
        atomic_store(&f->valid, 1);
        shmring_spsc_release(c);
        apply_batch(f, k);
        atomic_store(&f->valid, 0);
    }
    shmring_spsc_close(c);
    return 0;
}

static int mpmc_producer(const struct opts *o, uint64_t rng)
{
    struct shmring_mpmc *q = NULL;
    uint32_t inc = new_incarnation();
    uint64_t seq = 0;
    int err = shmring_mpmc_open(g_name, SHMRING_PRODUCER, &q);
    if (err) {
        fail_msg("mpmc producer open: %s", shmring_strerror(err));
        return 2;
    }
    shmring_mpmc_set_spin(q, (uint32_t)(testutil_rand(&rng) % 2) * 1000);
    shmring__test_hook = hook;
    while (!atomic_load(&S->stop)) {
        struct shmring_mpmc_span c;
        unsigned want = 1 + (unsigned)(testutil_rand(&rng) % 4);
        uint64_t base;
        int64_t t0;
        int n;
        if (atomic_load(&S->next_gid) > MAX_GIDS - GID_MARGIN) {
            atomic_store(&S->ledger_full, 1);
            sleep_ns(MS);
            continue;
        }
        t0 = now_ns();
        n = shmring_mpmc_claim_wait(q, want, &c, o->bound_ns);
        note_call(ROLE_P, t0, n, o->bound_ns);
        if (n == -EPIPE || n == -ETIMEDOUT) {
            sleep_ns(200 * 1000);
            continue;
        }
        if (n <= 0) {
            fail_msg("mpmc claim_wait: %s", shmring_strerror(n));
            return 3;
        }
        base = atomic_fetch_add(&S->next_gid, (uint64_t)n);
        g_pub_n = 0;
        g_pub_done = 0;
        for (int i = 0; i < n; i++) {
            ginc[base + i] = inc + 1;
            rec_write(shmring_mpmc_slot(q, &c, (unsigned)i), shmring_mpmc_slot_size(q), base + i, inc, seq++);
            __atomic_store_n(&gstate[base + i], 1, __ATOMIC_RELAXED);
        }
        g_pub_base = base;
        g_pub_n = (uint32_t)n;
        shmring_mpmc_publish(q, &c, NULL);
    }
    shmring__test_hook = NULL;
    shmring_mpmc_close(q);
    return 0;
}

static int mpmc_consumer(int slot, const struct opts *o, uint64_t rng)
{
    struct shmring_mpmc *q = NULL;
    struct inflight *f = &S->inflight[slot];
    int err = shmring_mpmc_open(g_name, SHMRING_CONSUMER, &q);
    if (err) {
        fail_msg("mpmc consumer open: %s", shmring_strerror(err));
        return 2;
    }
    shmring_mpmc_set_spin(q, (uint32_t)(testutil_rand(&rng) % 2) * 1000);
    g_inf = f;
    shmring__test_hook = hook;
    for (;;) {
        struct shmring_mpmc_span c;
        unsigned want = 1 + (unsigned)(testutil_rand(&rng) % 8);
        int64_t t0 = now_ns();
        int n = shmring_mpmc_take_wait(q, want, &c, o->bound_ns);
        note_call(ROLE_C, t0, n, o->bound_ns);
        if (n == -EPIPE || n == -ETIMEDOUT) {
            if (atomic_load(&S->producers_done))
                break;
            sleep_ns(200 * 1000);
            continue;
        }
        if (n <= 0) {
            fail_msg("mpmc take_wait: %s", shmring_strerror(n));
            return 3;
        }
        for (int i = 0; i < n; i++) {
            const void *buf = NULL;
            size_t len = 0;
            if (shmring_mpmc_record(q, &c, (unsigned)i, &buf, &len) != 0) {
                atomic_fetch_add(&S->bad, 1);
                fail_msg("mpmc record: corrupt length");
                f->gids[i] = UINT64_MAX;
            } else {
                f->gids[i] = rec_check(buf, len);
            }
        }
        f->n = (uint32_t)n;
        f->batch = atomic_fetch_add(&S->next_batch, 1) + 1;
        atomic_store(&f->released, 0);
        atomic_store(&f->valid, 1);
        shmring_mpmc_release(q, &c);
        apply_batch(f, (uint32_t)n);
        atomic_store(&f->valid, 0);
    }
    shmring__test_hook = NULL;
    shmring_mpmc_close(q);
    return 0;
}

/* --- driver ---------------------------------------------------------------------------------- */

struct worker {
    int role;
    pid_t pid;
};

static struct worker W[MAX_WORKERS];
static const struct shmring_header *g_view; /* read-only view of the ring, for cons.pos and stats */

static pid_t start_worker(int slot, const struct opts *o, uint64_t seed)
{
    pid_t pid;
    fflush(NULL);
    pid = fork();
    if (pid == 0) {
        int rc;
        if (g_kind == SHMRING_KIND_SPSC)
            rc = W[slot].role == ROLE_P ? spsc_producer(o, seed) : spsc_consumer(slot, o, seed);
        else
            rc = W[slot].role == ROLE_P ? mpmc_producer(o, seed) : mpmc_consumer(slot, o, seed);
        if (rc)
            atomic_fetch_add(&S->fatal, 1);
        _exit(rc);
    }
    W[slot].pid = pid;
    return pid;
}

static uint64_t settled_ambiguous;
static uint64_t g_used; /* ledger entries a previous run may have touched */

/* A consumer in `slot` was killed: settle its in-flight batch (see the top of the file). */
static void settle(int slot)
{
    struct inflight *f = &S->inflight[slot];
    if (!atomic_load(&f->valid))
        return;
    if (g_kind == SHMRING_KIND_SPSC) {
        uint64_t pos = __atomic_load_n((const uint64_t *)&g_view->cons.pos, __ATOMIC_ACQUIRE);
        if (pos != f->head_before)
            apply_batch(f, f->n);
    } else {
        uint32_t r = atomic_load(&f->released);
        apply_batch(f, r < f->n ? r : f->n);
        if (r < f->n)
            settled_ambiguous++;
    }
    atomic_store(&f->valid, 0);
}

static void kill_all(void)
{
    for (int i = 0; i < g_nworkers; i++)
        if (W[i].pid > 0) {
            testutil_kill_wait(W[i].pid);
            W[i].pid = 0;
        }
}

static void on_signal(int sig)
{
    (void)sig;
    kill_all();
    if (g_name)
        shmring_unlink(g_name);
    _exit(130);
}

static uint64_t load_stat(const _Atomic uint64_t *p) { return atomic_load_explicit(p, memory_order_relaxed); }

/* A producer and a consumer of this process move `count` records through the ring, in order. */
static int clean_pass(uint64_t count)
{
    char buf[300], out[300];
    uint64_t i, got = 0;
    int err;
    if (g_kind == SHMRING_KIND_SPSC) {
        struct shmring_spsc *p = NULL, *c = NULL;
        if ((err = shmring_spsc_open(g_name, SHMRING_PRODUCER, &p)) != 0 ||
            (err = shmring_spsc_open(g_name, SHMRING_CONSUMER, &c)) != 0) {
            fprintf(stderr, "clean pass: open: %s\n", shmring_strerror(err));
            shmring_spsc_close(p);
            return 1;
        }
        for (i = 0; i < count; i++) {
            size_t len = 8 + i % 200;
            ssize_t n;
            testutil_fill(buf, len, i);
            if ((err = shmring_spsc_push_wait(p, buf, len, 2 * SEC)) != 0) {
                fprintf(stderr, "clean pass: push %" PRIu64 ": %s\n", i, shmring_strerror(err));
                break;
            }
            n = shmring_spsc_pop_wait(c, out, sizeof(out), 2 * SEC);
            if (n != (ssize_t)len || !testutil_check_fill(out, len, i)) {
                fprintf(stderr, "clean pass: record %" PRIu64 ": got %zd (%s)\n", i, n,
                        n < 0 ? shmring_strerror((int)n) : "wrong contents");
                break;
            }
            got++;
        }
        shmring_spsc_close(p);
        shmring_spsc_close(c);
    } else {
        struct shmring_mpmc *p = NULL, *c = NULL;
        if ((err = shmring_mpmc_open(g_name, SHMRING_PRODUCER, &p)) != 0 ||
            (err = shmring_mpmc_open(g_name, SHMRING_CONSUMER, &c)) != 0) {
            fprintf(stderr, "clean pass: open: %s\n", shmring_strerror(err));
            shmring_mpmc_close(p);
            return 1;
        }
        /* Whole laps: fill the ring, then empty it, so every slot is used (and a slot a killed
         * consumer left taken is recovered on the way). */
        for (i = 0; i < count;) {
            uint64_t lap = shmring_mpmc_capacity(p), j;
            for (j = 0; j < lap; j++) {
                testutil_fill(buf, 64, i + j);
                if ((err = shmring_mpmc_push_wait(p, buf, 64, 2 * SEC)) != 0) {
                    fprintf(stderr, "clean pass: push %" PRIu64 ": %s\n", i + j, shmring_strerror(err));
                    goto mpmc_done;
                }
            }
            for (j = 0; j < lap; j++) {
                ssize_t n = shmring_mpmc_pop_wait(c, out, sizeof(out), 2 * SEC);
                if (n != 64 || !testutil_check_fill(out, 64, i + j)) {
                    fprintf(stderr, "clean pass: record %" PRIu64 ": got %zd (%s)\n", i + j, n,
                            n < 0 ? shmring_strerror((int)n) : "wrong contents or order");
                    goto mpmc_done;
                }
                got++;
            }
            i += lap;
        }
    mpmc_done:
        shmring_mpmc_close(p);
        shmring_mpmc_close(c);
    }
    return got == count ? 0 : 1;
}

struct verdict {
    uint64_t written, committed, delivered, missing_committed, missing_written, gaps, order;
};

static int verify(struct verdict *v)
{
    uint64_t n = atomic_load(&S->next_gid), last_batch = 0, g;
    if (n > MAX_GIDS)
        n = MAX_GIDS;
    memset(v, 0, sizeof(*v));
    /* SPSC: per incarnation, the first undelivered written record; nothing of it after that. */
    uint32_t inc_gap = 0;
    for (g = 0; g < n; g++) {
        uint8_t st = gstate[g];
        uint32_t m = dmark[g];
        if (st == 0) {
            if (m)
                v->order++; /* delivered without ever being written: impossible */
            continue;
        }
        v->written++;
        if (st == 2)
            v->committed++;
        if (m) {
            v->delivered++;
            if (g_kind == SHMRING_KIND_SPSC) {
                if (m < last_batch)
                    v->order++;
                last_batch = m;
                if (inc_gap == ginc[g])
                    v->gaps++;
            }
            continue;
        }
        if (st == 2)
            v->missing_committed++;
        else
            v->missing_written++;
        if (g_kind == SHMRING_KIND_SPSC)
            inc_gap = ginc[g];
    }
    return 0;
}

static int run_kind(int kind, const struct opts *o)
{
    struct shmring_config cfg;
    char name[64];
    uint64_t rng = o->seed ^ (uint64_t)kind * UINT64_C(0x1234567);
    int kills[2] = {0, 0}, err, failed = 0, i;
    int64_t t_start, t_kills_done, t_end;
    uint64_t pskips, cskips;
    struct verdict v;
    int shmid;

    g_kind = kind;
    memset(S, 0, sizeof(*S));
    memset(gstate, 0, g_used);
    memset(dmark, 0, g_used * sizeof(uint32_t));
    memset(ginc, 0, g_used * sizeof(uint32_t));
    settled_ambiguous = 0;
    snprintf(name, sizeof(name), "soak_%d_%s", (int)getpid(), kind == SHMRING_KIND_SPSC ? "spsc" : "mpmc");
    g_name = name;
    shmring_config_init(&cfg);
    if (kind == SHMRING_KIND_SPSC) {
        cfg.capacity = 4096;
        err = shmring_spsc_create(name, &cfg);
    } else {
        cfg.capacity = 16;
        cfg.slot_size = 64;
        err = shmring_mpmc_create(name, &cfg);
    }
    if (err) {
        fprintf(stderr, "create %s: %s\n", name, shmring_strerror(err));
        return 1;
    }
    shmid = shmget((key_t)shmring_name_key(name), 0, 0);
    g_view = shmid >= 0 ? (const struct shmring_header *)shmat(shmid, NULL, SHM_RDONLY) : (void *)-1;
    if (g_view == (void *)-1) {
        perror("shmat (read-only view)");
        shmring_unlink(name);
        return 1;
    }
    if (kind == SHMRING_KIND_SPSC) {
        g_nworkers = 2;
        W[0].role = ROLE_P;
        W[1].role = ROLE_C;
    } else {
        g_nworkers = o->producers + o->consumers;
        for (i = 0; i < g_nworkers; i++)
            W[i].role = i < o->producers ? ROLE_P : ROLE_C;
    }
    t_start = now_ns();
    for (i = 0; i < g_nworkers; i++)
        start_worker(i, o, testutil_rand(&rng));

    for (int k = 0; k < o->kills && !failed; k++) {
        int slot;
        int64_t d = (int64_t)(testutil_rand(&rng) % (uint64_t)(2 * o->mean_ns + 1));
        sleep_ns(d);
        /* Anyone gone on its own is a failure. */
        for (i = 0; i < g_nworkers; i++) {
            int st;
            if (waitpid(W[i].pid, &st, WNOHANG) == W[i].pid) {
                fprintf(stderr, "worker %d (%s) exited on its own: status 0x%x; %s\n", i,
                        W[i].role == ROLE_P ? "producer" : "consumer", st, S->first_error);
                W[i].pid = 0;
                failed = 1;
            }
        }
        if (failed)
            break;
        slot = (int)(testutil_rand(&rng) % (uint64_t)g_nworkers);
        testutil_kill_wait(W[slot].pid);
        W[slot].pid = 0;
        kills[W[slot].role]++;
        if (W[slot].role == ROLE_C)
            settle(slot);
        start_worker(slot, o, testutil_rand(&rng));
    }
    t_kills_done = now_ns();

    /* Stop: producers close (end of stream), then consumers drain to -EPIPE. */
    atomic_store(&S->stop, 1);
    for (i = 0; i < g_nworkers; i++)
        if (W[i].role == ROLE_P && W[i].pid > 0) {
            int st = testutil_wait_timeout(W[i].pid, 10 * SEC);
            W[i].pid = 0;
            if (st != 0) {
                fprintf(stderr, "producer %d ended with %d%s\n", i, st, st == TESTUTIL_WAIT_TIMEDOUT ? " (hung: killed)" : "");
                failed = 1;
            }
        }
    atomic_store(&S->producers_done, 1);
    for (i = 0; i < g_nworkers; i++)
        if (W[i].role == ROLE_C && W[i].pid > 0) {
            int st = testutil_wait_timeout(W[i].pid, 10 * SEC);
            W[i].pid = 0;
            if (st != 0) {
                fprintf(stderr, "consumer %d ended with %d%s\n", i, st, st == TESTUTIL_WAIT_TIMEDOUT ? " (hung: killed)" : "");
                failed = 1;
            }
        }

    if (clean_pass(kind == SHMRING_KIND_SPSC ? 20000 : 20000) != 0) {
        fprintf(stderr, "the ring is not usable after the soak\n");
        failed = 1;
    }
    pskips = load_stat(&g_view->stats.producer_skips);
    cskips = load_stat(&g_view->stats.consumer_skips);
    if (atomic_load_explicit(&g_view->stats.state, memory_order_relaxed) & SHMRING_STATE_CORRUPT) {
        fprintf(stderr, "the ring was marked corrupt\n");
        failed = 1;
    }
    shmdt((const void *)g_view);
    err = shmring_unlink(name);
    if (err) {
        fprintf(stderr, "unlink: %s\n", shmring_strerror(err));
        failed = 1;
    }
    g_name = NULL;
    t_end = now_ns();

    g_used = atomic_load(&S->next_gid) + GID_MARGIN;
    if (g_used > MAX_GIDS)
        g_used = MAX_GIDS;
    verify(&v);
    if (atomic_load(&S->bad) || atomic_load(&S->dups) || atomic_load(&S->stalls) || atomic_load(&S->fatal)) {
        fprintf(stderr, "bad %" PRIu64 ", duplicates %" PRIu64 ", stalls %" PRIu64 ", worker errors %" PRIu64
                        "; first: %s\n",
                atomic_load(&S->bad), atomic_load(&S->dups), atomic_load(&S->stalls), atomic_load(&S->fatal),
                S->first_error);
        failed = 1;
    }
    if (v.order || v.gaps) {
        fprintf(stderr, "out of order deliveries %" PRIu64 ", gaps inside an incarnation %" PRIu64 "\n", v.order, v.gaps);
        failed = 1;
    }
    if (kind == SHMRING_KIND_SPSC) {
        if (v.missing_committed) {
            fprintf(stderr, "%" PRIu64 " committed records never delivered\n", v.missing_committed);
            failed = 1;
        }
    } else {
        if (v.missing_committed > cskips + settled_ambiguous ||
            v.missing_committed + v.missing_written > pskips + cskips + settled_ambiguous) {
            fprintf(stderr,
                    "records missing beyond the skip counters: committed %" PRIu64 ", written %" PRIu64
                    "; producer_skips %" PRIu64 ", consumer_skips %" PRIu64 ", ambiguous kills %" PRIu64 "\n",
                    v.missing_committed, v.missing_written, pskips, cskips, settled_ambiguous);
            failed = 1;
        }
    }
    if (atomic_load(&S->ledger_full))
        fprintf(stderr, "note: the ledger filled up (%" PRIu64 " records); producers idled\n", (uint64_t)MAX_GIDS);
    printf("SUMMARY kind=%s kills=%d (producers %d, consumers %d) workers=%d records_written=%" PRIu64
           " committed=%" PRIu64 " delivered=%" PRIu64 " missing_committed=%" PRIu64 " missing_uncommitted=%" PRIu64
           " producer_skips=%" PRIu64 " consumer_skips=%" PRIu64 " ambiguous=%" PRIu64 " duplicates=%" PRIu64
           " bad=%" PRIu64 " stalls=%" PRIu64 " max_call_ms producer=%.1f consumer=%.1f calls=%" PRIu64
           " epipe=%" PRIu64 "/%" PRIu64 " soak_s=%.2f total_s=%.2f result=%s\n",
           kind == SHMRING_KIND_SPSC ? "spsc" : "mpmc", kills[0] + kills[1], kills[0], kills[1], g_nworkers, v.written,
           v.committed, v.delivered, v.missing_committed, v.missing_written, pskips, cskips, settled_ambiguous,
           atomic_load(&S->dups), atomic_load(&S->bad), atomic_load(&S->stalls),
           (double)atomic_load(&S->max_call_ns[0]) / MS, (double)atomic_load(&S->max_call_ns[1]) / MS,
           atomic_load(&S->calls[0]) + atomic_load(&S->calls[1]), atomic_load(&S->epipe[0]), atomic_load(&S->epipe[1]),
           (double)(t_kills_done - t_start) / SEC, (double)(t_end - t_start) / SEC, failed ? "FAIL" : "PASS");
    fflush(stdout);
    return failed;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: kill_soak [--kind spsc|mpmc|both] [--kills N] [--long] [--mean-ms M] [--seed S]\n"
            "                 [--producers P] [--consumers C] [--bound-ms B]\n"
            "  SIGKILLs random producers/consumers of a ring and restarts them; checks exactly-once\n"
            "  delivery of committed records (see the top of test/adversarial/kill_soak.c), liveness,\n"
            "  and that the ring works afterwards. --long: 1000 kills per kind. SHMRING_SOAK_KILLS\n"
            "  overrides --kills. Exit status 0 on success.\n");
}

int main(int argc, char **argv)
{
    struct opts o = {300, 40 * MS, 0x50a4c0de, 3, 3, 1100 * MS, 0};
    int kinds = 3, failed = 0;
    const char *env = getenv("SHMRING_SOAK_KILLS");
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--long")) {
            o.kills = 1000;
            continue;
        }
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage();
            return 0;
        }
        if (val == NULL) {
            usage();
            return 2;
        }
        i++;
        if (!strcmp(a, "--kind"))
            kinds = !strcmp(val, "spsc") ? 1 : !strcmp(val, "mpmc") ? 2 : !strcmp(val, "both") ? 3 : 0;
        else if (!strcmp(a, "--kills"))
            o.kills = atoi(val);
        else if (!strcmp(a, "--mean-ms"))
            o.mean_ns = atoll(val) * MS;
        else if (!strcmp(a, "--seed"))
            o.seed = strtoull(val, NULL, 0);
        else if (!strcmp(a, "--producers"))
            o.producers = atoi(val);
        else if (!strcmp(a, "--consumers"))
            o.consumers = atoi(val);
        else if (!strcmp(a, "--bound-ms"))
            o.bound_ns = atoll(val) * MS;
        else {
            usage();
            return 2;
        }
    }
    if (env && *env)
        o.kills = atoi(env);
    if (kinds == 0 || o.kills < 0 || o.mean_ns < 0 || o.producers < 1 || o.consumers < 1 ||
        o.producers + o.consumers > MAX_WORKERS || o.bound_ns <= 0) {
        usage();
        return 2;
    }
    S = mmap(NULL, sizeof(*S), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    gstate = mmap(NULL, MAX_GIDS, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    dmark = mmap(NULL, MAX_GIDS * 4, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    ginc = mmap(NULL, MAX_GIDS * 4, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (S == MAP_FAILED || gstate == MAP_FAILED || dmark == MAP_FAILED || ginc == MAP_FAILED) {
        perror("mmap");
        return 1;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    printf("kill_soak: %d kills per kind, mean %.0f ms between kills, seed 0x%" PRIx64 ", bound %.0f ms\n", o.kills,
           (double)o.mean_ns / MS, o.seed, (double)o.bound_ns / MS);
    if (kinds & 1)
        failed |= run_kind(SHMRING_KIND_SPSC, &o);
    if (kinds & 2)
        failed |= run_kind(SHMRING_KIND_MPMC, &o);
    kill_all();
    return failed;
}
