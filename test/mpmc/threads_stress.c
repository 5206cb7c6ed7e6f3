/* MPMC ring, threads: 4 producer threads and 4 consumer threads in one process, each with its own
 * handle, for SHMRING_STRESS_MS milliseconds (default 2000). Every record carries its producer's
 * id and a per-producer sequence number; every consumer checks contents, per-producer order as it
 * sees it, and ownership stamps (it writes its id into each slot it takes and checks it is still
 * there just before it releases; producers do the same between claim and publish), and marks each
 * record in a shared ledger that catches duplicates. At the end: nothing lost, nothing twice,
 * positions and counters as expected.
 *
 * A plain program (Criterion does not run under ThreadSanitizer): exits 0 on success, 1 on any
 * failure, with the first failure on stderr.
 *   bazel test --config=tsan --test_tag_filters=tsan //test/mpmc:threads_stress
 *
 * Note for TSan: every handle attaches the segment at its own address, so TSan sees the slots and
 * sequence words of different threads at different addresses; what it checks here is the
 * process-local state (handles, registry, the test's ledger), not the shared ring itself.
 */
#include <pthread.h>
#include <sched.h>

#include "mpmcutil.h"

#define NPROD 4
#define NCONS 4
#define SLOT 64
#define CAPACITY 64
#define MAX_PER_PRODUCER (UINT64_C(1) << 22)
#define WAIT_NS (5 * MT_SEC) /* a blocking call that waits this long means a hang */

static const char *ring;
static struct mt_ledger *ledger;
static int64_t deadline;
static _Atomic int failed;

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "threads_stress: FAIL: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    atomic_store(&failed, 1);
}

static int in_slots(const struct shmring_mpmc *q, const void *p, size_t len)
{
    const uint8_t *b = (const uint8_t *)p, *lo = q->slots, *hi = q->slots + q->capacity * q->stride;
    return b >= lo && b <= hi && len <= (size_t)(hi - b);
}

struct producer {
    pthread_t th;
    uint32_t id;
    uint64_t sent;
    uint64_t bursts, bulks, pushes;
};

struct consumer {
    pthread_t th;
    uint32_t id;
    uint64_t got;
    uint64_t last[NPROD]; /* last sequence seen from each producer, + 1 (0: none yet) */
    uint64_t bursts, bulks, pops;
};

/* Zero-copy: fill the claimed slots, stamp them, check the stamps are still ours, publish. */
static int fill_claim(struct producer *pr, struct shmring_mpmc *q, struct shmring_mpmc_span *c, uint64_t *rng)
{
    uint32_t lens[8];
    unsigned i;
    for (i = 0; i < c->n; i++) {
        void *s = shmring_mpmc_slot(q, c, i);
        if (!in_slots(q, s, SLOT)) {
            fail("producer %u: slot pointer outside the slot area", pr->id);
            return -1;
        }
        lens[i] = (uint32_t)mt_rand_len(rng, SLOT);
        mt_rec_write(s, lens[i], pr->id, pr->sent + i);
    }
    sched_yield(); /* widen the window for a second owner */
    for (i = 0; i < c->n; i++)
        if (mt_rec_stamp(shmring_mpmc_slot(q, c, i)) != (MT_STAMP_PROD | pr->id)) {
            fail("producer %u: stamp of claimed slot %u overwritten (%#x): two owners", pr->id, i,
                 mt_rec_stamp(shmring_mpmc_slot(q, c, i)));
            return -1;
        }
    shmring_mpmc_publish(q, c, lens);
    pr->sent += c->n;
    return 0;
}

static void *producer_main(void *arg)
{
    struct producer *pr = arg;
    struct shmring_mpmc *q = NULL;
    struct shmring_mpmc_span c = {0, 0};
    uint64_t rng = 0x1234 + pr->id;
    uint8_t buf[SLOT] = {0};
    int err = shmring_mpmc_open(ring, SHMRING_PRODUCER, &q);
    if (err) {
        fail("producer %u: open: %s", pr->id, shmring_strerror(err));
        return NULL;
    }
    if (pr->id & 1)
        shmring_mpmc_set_spin(q, 64); /* half of them sleep early */
    while (!atomic_load(&failed) && testutil_now_ns() < deadline && pr->sent + 8 <= MAX_PER_PRODUCER) {
        unsigned want = 1 + (unsigned)(testutil_rand(&rng) % 8);
        size_t len;
        int n;
        switch (testutil_rand(&rng) % 4) {
        case 0: /* blocking copy */
            len = mt_rand_len(&rng, SLOT);
            mt_rec_write(buf, len, pr->id, pr->sent);
            err = shmring_mpmc_push_wait(q, buf, len, WAIT_NS);
            if (err) {
                fail("producer %u: push_wait: %s", pr->id, shmring_err_name(err));
                goto out;
            }
            pr->sent++;
            pr->pushes++;
            break;
        case 1: /* blocking burst */
            n = shmring_mpmc_claim_wait(q, want, &c, WAIT_NS);
            if (n < 1 || n > (int)want) {
                fail("producer %u: claim_wait(%u): %d (%s)", pr->id, want, n, shmring_err_name(n));
                goto out;
            }
            if (c.n != (uint32_t)n || fill_claim(pr, q, &c, &rng))
                goto out;
            pr->bursts++;
            break;
        case 2: /* bulk, all or nothing */
            n = shmring_mpmc_claim_bulk(q, want, &c);
            if (n == -EAGAIN) {
                sched_yield();
                break;
            }
            if (n != (int)want) {
                fail("producer %u: claim_bulk(%u): %d (%s)", pr->id, want, n, shmring_err_name(n));
                goto out;
            }
            if (fill_claim(pr, q, &c, &rng))
                goto out;
            pr->bulks++;
            break;
        default: /* non-blocking copy */
            len = mt_rand_len(&rng, SLOT);
            mt_rec_write(buf, len, pr->id, pr->sent);
            err = shmring_mpmc_push(q, buf, len);
            if (err == -EAGAIN) {
                sched_yield();
                break;
            }
            if (err) {
                fail("producer %u: push: %s", pr->id, shmring_err_name(err));
                goto out;
            }
            pr->sent++;
            pr->pushes++;
            break;
        }
    }
out:
    shmring_mpmc_close(q); /* the last producer's close ends the stream */
    return NULL;
}

/* Checks one record (content, order) and marks it delivered. */
static int consume_one(struct consumer *co, const void *b, size_t len)
{
    struct mt_rec_head h;
    const char *why = mt_rec_check(b, len, NPROD, &h);
    if (why) {
        fail("consumer %u: %s (len %zu)", co->id, why, len);
        return -1;
    }
    if (h.seq + 1 <= co->last[h.producer]) {
        fail("consumer %u: producer %u's record %llu after %llu: out of order", co->id, h.producer,
             (unsigned long long)h.seq, (unsigned long long)(co->last[h.producer] - 1));
        return -1;
    }
    co->last[h.producer] = h.seq + 1;
    if (mt_ledger_mark(ledger, h.producer, h.seq)) {
        fail("consumer %u: %s", co->id, ledger->first_error);
        return -1;
    }
    co->got++;
    return 0;
}

/* Zero-copy: check and stamp every taken record, then check the stamps are still ours, release. */
static int drain_take(struct consumer *co, struct shmring_mpmc *q, struct shmring_mpmc_span *c)
{
    const uint32_t mine = MT_STAMP_CONS | co->id;
    unsigned i;
    for (i = 0; i < c->n; i++) {
        const void *b;
        size_t len;
        struct mt_rec_head h;
        int err = shmring_mpmc_record(q, c, i, &b, &len);
        if (err) {
            fail("consumer %u: record: %s", co->id, shmring_err_name(err));
            return -1;
        }
        if (!in_slots(q, b, len)) {
            fail("consumer %u: record outside the slot area", co->id);
            return -1;
        }
        if (mt_rec_check(b, len, NPROD, &h) == NULL && mt_rec_stamp(b) != (MT_STAMP_PROD | h.producer)) {
            fail("consumer %u: record of producer %u stamped %#x on arrival", co->id, h.producer, mt_rec_stamp(b));
            return -1;
        }
        if (consume_one(co, b, len))
            return -1;
        mt_rec_set_stamp((void *)(uintptr_t)b, mine); /* taking ownership, in place */
    }
    sched_yield();
    for (i = 0; i < c->n; i++) {
        const void *b;
        size_t len;
        shmring_mpmc_record(q, c, i, &b, &len);
        if (mt_rec_stamp(b) != mine) {
            fail("consumer %u: stamp of taken slot %u overwritten (%#x): two owners", co->id, i, mt_rec_stamp(b));
            return -1;
        }
    }
    shmring_mpmc_release(q, c);
    return 0;
}

static void *consumer_main(void *arg)
{
    struct consumer *co = arg;
    struct shmring_mpmc *q = NULL;
    struct shmring_mpmc_span c = {0, 0};
    uint64_t rng = 0x5678 + co->id;
    uint8_t buf[SLOT] = {0};
    int err = shmring_mpmc_open(ring, SHMRING_CONSUMER, &q);
    if (err) {
        fail("consumer %u: open: %s", co->id, shmring_strerror(err));
        return NULL;
    }
    if (co->id & 1)
        shmring_mpmc_set_spin(q, 64);
    while (!atomic_load(&failed)) {
        unsigned want = 1 + (unsigned)(testutil_rand(&rng) % 8);
        ssize_t r;
        int n;
        switch (testutil_rand(&rng) % 4) {
        case 0: /* blocking copy */
            r = shmring_mpmc_pop_wait(q, buf, sizeof(buf), WAIT_NS);
            if (r == -EPIPE)
                goto out;
            if (r < 0) {
                fail("consumer %u: pop_wait: %s", co->id, shmring_err_name((int)r));
                goto out;
            }
            if (consume_one(co, buf, (size_t)r))
                goto out;
            co->pops++;
            break;
        case 1: /* blocking burst */
            n = shmring_mpmc_take_wait(q, want, &c, WAIT_NS);
            if (n == -EPIPE)
                goto out;
            if (n < 1 || n > (int)want || c.n != (uint32_t)n) {
                fail("consumer %u: take_wait(%u): %d (%s)", co->id, want, n, shmring_err_name(n));
                goto out;
            }
            if (drain_take(co, q, &c))
                goto out;
            co->bursts++;
            break;
        case 2: /* bulk */
            n = shmring_mpmc_take_bulk(q, want, &c);
            if (n == -EAGAIN) {
                sched_yield();
                break;
            }
            if (n != (int)want) {
                fail("consumer %u: take_bulk(%u): %d (%s)", co->id, want, n, shmring_err_name(n));
                goto out;
            }
            if (drain_take(co, q, &c))
                goto out;
            co->bulks++;
            break;
        default: /* non-blocking copy */
            r = shmring_mpmc_pop(q, buf, sizeof(buf));
            if (r == -EAGAIN) {
                sched_yield();
                break;
            }
            if (r < 0) {
                fail("consumer %u: pop: %s", co->id, shmring_err_name((int)r));
                goto out;
            }
            if (consume_one(co, buf, (size_t)r))
                goto out;
            co->pops++;
            break;
        }
    }
out:
    shmring_mpmc_close(q);
    return NULL;
}

static void on_alarm(int sig)
{
    (void)sig;
    static const char msg[] = "threads_stress: FAIL: watchdog: the run did not finish in time\n";
    if (write(2, msg, sizeof(msg) - 1) < 0) {
    }
    _exit(2);
}

int main(void)
{
    static struct producer prods[NPROD];
    static struct consumer conss[NCONS];
    static char name[SHMRING_NAME_MAX + 1];
    struct shmring_config cfg;
    struct shmring_mpmc *obs = NULL;
    const char *env = getenv("SHMRING_STRESS_MS");
    int64_t ms = env ? atoll(env) : 2000, t0;
    uint64_t total_sent = 0, total_got = 0, start = UINT64_MAX - 1000, i;
    int err;

    if (ms <= 0)
        ms = 2000;
    signal(SIGALRM, on_alarm);
    alarm((unsigned)(ms / 1000) + 90);
    if (testutil_ipc_objects() != 0) {
        fprintf(stderr, "threads_stress: System V objects exist before the test\n");
        testutil_ipc_dump();
        return 1;
    }
    snprintf(name, sizeof(name), "%s", testutil_name("stress"));
    ring = name;
    shmring_config_init(&cfg);
    cfg.capacity = CAPACITY;
    cfg.slot_size = SLOT;
    cfg.start_position = start; /* positions wrap 2^64 early in the run */
    if ((err = shmring_mpmc_create(ring, &cfg)) != 0) {
        fprintf(stderr, "threads_stress: create: %s\n", shmring_strerror(err));
        return 1;
    }
    ledger = mt_ledger_new(NPROD, MAX_PER_PRODUCER);
    if (ledger == NULL) {
        fprintf(stderr, "threads_stress: mmap failed\n");
        shmring_unlink(ring);
        return 1;
    }
    t0 = testutil_now_ns();
    deadline = t0 + ms * MT_MS;
    for (i = 0; i < NCONS; i++) {
        conss[i].id = (uint32_t)i;
        pthread_create(&conss[i].th, NULL, consumer_main, &conss[i]);
    }
    /* Consumers first, producers after: a consumer that found the stream ended before any
     * producer attached would be wrong (it waits for a first producer instead). */
    for (i = 0; i < NPROD; i++) {
        prods[i].id = (uint32_t)i;
        pthread_create(&prods[i].th, NULL, producer_main, &prods[i]);
    }
    for (i = 0; i < NPROD; i++)
        pthread_join(prods[i].th, NULL);
    for (i = 0; i < NCONS; i++)
        pthread_join(conss[i].th, NULL);

    for (i = 0; i < NPROD; i++) {
        uint64_t missing, first = mt_ledger_verify(ledger, (uint32_t)i, prods[i].sent, &missing);
        total_sent += prods[i].sent;
        if (first != UINT64_MAX)
            fail("producer %llu: sent %llu, %llu of them missing or extra (first: %llu)", (unsigned long long)i,
                 (unsigned long long)prods[i].sent, (unsigned long long)missing, (unsigned long long)first);
        printf("producer %llu: %llu records (%llu pushes, %llu bursts, %llu bulks)\n", (unsigned long long)i,
               (unsigned long long)prods[i].sent, (unsigned long long)prods[i].pushes,
               (unsigned long long)prods[i].bursts, (unsigned long long)prods[i].bulks);
    }
    for (i = 0; i < NCONS; i++) {
        total_got += conss[i].got;
        printf("consumer %llu: %llu records (%llu pops, %llu bursts, %llu bulks)\n", (unsigned long long)i,
               (unsigned long long)conss[i].got, (unsigned long long)conss[i].pops,
               (unsigned long long)conss[i].bursts, (unsigned long long)conss[i].bulks);
    }
    if (total_got != total_sent)
        fail("%llu records sent, %llu received", (unsigned long long)total_sent, (unsigned long long)total_got);
    if (atomic_load(&ledger->dups) || atomic_load(&ledger->bad))
        fail("ledger: %llu duplicates, %llu bad records", (unsigned long long)atomic_load(&ledger->dups),
             (unsigned long long)atomic_load(&ledger->bad));
    if (total_sent < 1000)
        fail("only %llu records in %lld ms", (unsigned long long)total_sent, (long long)ms);

    /* What a tool sees: positions moved by exactly what went through, no skip (nobody died). */
    if ((err = shmring_mpmc_open(ring, SHMRING_CONSUMER, &obs)) != 0) {
        fail("open to read counters: %s", shmring_strerror(err));
    } else {
        const struct shmring_header *h = obs->hdr;
        if (MT_LOAD(h->prod.pos) != start + total_sent || MT_LOAD(h->cons.pos) != start + total_sent)
            fail("prod.pos - start %llu, cons.pos - start %llu, want %llu",
                 (unsigned long long)(MT_LOAD(h->prod.pos) - start), (unsigned long long)(MT_LOAD(h->cons.pos) - start),
                 (unsigned long long)total_sent);
        if (MT_LOAD(h->stats.producer_skips) || MT_LOAD(h->stats.consumer_skips))
            fail("skips counted without deaths: producer %llu, consumer %llu",
                 (unsigned long long)MT_LOAD(h->stats.producer_skips),
                 (unsigned long long)MT_LOAD(h->stats.consumer_skips));
        if (atomic_load_explicit((_Atomic uint32_t *)&h->stats.state, memory_order_acquire) & SHMRING_STATE_CORRUPT)
            fail("the ring was marked corrupt");
        printf("sleeps: consumer %llu producer %llu; wake-ups: consumer %llu producer %llu\n",
               (unsigned long long)MT_LOAD(h->stats.consumer_sleeps), (unsigned long long)MT_LOAD(h->stats.producer_sleeps),
               (unsigned long long)MT_LOAD(h->stats.consumer_wakeups),
               (unsigned long long)MT_LOAD(h->stats.producer_wakeups));
        shmring_mpmc_close(obs);
    }
    printf("%llu records in %lld ms\n", (unsigned long long)total_sent, (long long)((testutil_now_ns() - t0) / MT_MS));
    mt_ledger_free(ledger);
    if ((err = shmring_unlink(ring)) != 0)
        fail("unlink: %s", shmring_strerror(err));
    if (testutil_ipc_objects() != 0) {
        testutil_ipc_dump();
        fail("System V objects left at the end");
    }
    if (atomic_load(&failed)) {
        printf("FAILED\n");
        return 1;
    }
    printf("PASSED\n");
    return 0;
}
