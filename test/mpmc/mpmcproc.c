#include "mpmcproc.h"

#include <sched.h>

static int producer_burst(struct mt_worker *w, struct shmring_mpmc *q, uint64_t *seq, uint64_t *rng)
{
    struct shmring_mpmc_span c = {0, 0};
    uint32_t lens[8];
    uint64_t left = w->count - *seq;
    unsigned want = 1 + (unsigned)(testutil_rand(rng) % 8), i;
    int n;
    if (want > left)
        want = (unsigned)left;
    if (want > shmring_mpmc_capacity(q))
        want = (unsigned)shmring_mpmc_capacity(q);
    n = shmring_mpmc_claim_wait(q, want, &c, w->timeout_ns);
    if (n < 1 || n > (int)want || c.n != (uint32_t)n) {
        mt_ledger_error(w->ledger, "producer %u: claim_wait(%u): %d (%s)", w->id, want, n, shmring_err_name(n));
        return MT_EXIT_RING;
    }
    for (i = 0; i < c.n; i++) {
        lens[i] = (uint32_t)mt_rand_len(rng, shmring_mpmc_slot_size(q));
        mt_rec_write(shmring_mpmc_slot(q, &c, i), lens[i], w->id, *seq + i);
    }
    sched_yield();
    for (i = 0; i < c.n; i++)
        if (mt_rec_stamp(shmring_mpmc_slot(q, &c, i)) != (MT_STAMP_PROD | w->id)) {
            mt_ledger_error(w->ledger, "producer %u: stamp of a claimed slot overwritten (%#x): two owners", w->id,
                            mt_rec_stamp(shmring_mpmc_slot(q, &c, i)));
            return MT_EXIT_DATA;
        }
    shmring_mpmc_publish(q, &c, lens);
    *seq += c.n;
    return 0;
}

int mt_producer_main(void *arg)
{
    struct mt_worker *w = arg;
    struct shmring_mpmc *q = NULL;
    uint64_t seq = 0, rng = 0xfeed + w->id;
    uint8_t *buf;
    int err, rc = MT_EXIT_OK;
    if (w->barrier)
        mt_barrier_child(w->barrier);
    if ((err = shmring_mpmc_open(w->ring, SHMRING_PRODUCER, &q)) != 0) {
        mt_ledger_error(w->ledger, "producer %u: open: %s", w->id, shmring_strerror(err));
        return MT_EXIT_OPEN;
    }
    if (w->barrier && mt_barrier_wait(w->barrier) != 0)
        return MT_EXIT_BARRIER;
    buf = malloc(shmring_mpmc_slot_size(q));
    while (seq < w->count) {
        if (testutil_rand(&rng) & 1) {
            if ((rc = producer_burst(w, q, &seq, &rng)) != 0)
                break;
        } else {
            size_t len = mt_rand_len(&rng, shmring_mpmc_slot_size(q));
            mt_rec_write(buf, len, w->id, seq);
            if ((err = shmring_mpmc_push_wait(q, buf, len, w->timeout_ns)) != 0) {
                mt_ledger_error(w->ledger, "producer %u: push_wait of record %llu: %s", w->id,
                                (unsigned long long)seq, shmring_err_name(err));
                rc = MT_EXIT_RING;
                break;
            }
            seq++;
        }
    }
    free(buf);
    shmring_mpmc_close(q);
    return rc;
}

struct consumer_state {
    struct mt_worker *w;
    uint64_t got;
    uint64_t last[64]; /* per producer: last sequence seen + 1 */
};

static int consume(struct consumer_state *st, const void *b, size_t len)
{
    struct mt_worker *w = st->w;
    struct mt_rec_head h;
    const char *why = mt_rec_check(b, len, w->nproducers, &h);
    if (why) {
        mt_ledger_error(w->ledger, "consumer %u: %s (length %zu)", w->id, why, len);
        return MT_EXIT_DATA;
    }
    if (h.seq + 1 <= st->last[h.producer]) {
        mt_ledger_error(w->ledger, "consumer %u: producer %u's record %llu after its record %llu", w->id, h.producer,
                        (unsigned long long)h.seq, (unsigned long long)(st->last[h.producer] - 1));
        return MT_EXIT_DATA;
    }
    st->last[h.producer] = h.seq + 1;
    if (mt_ledger_mark(w->ledger, h.producer, h.seq))
        return MT_EXIT_DATA;
    st->got++;
    return 0;
}

static int consumer_burst(struct consumer_state *st, struct shmring_mpmc *q, uint64_t *rng)
{
    struct mt_worker *w = st->w;
    struct shmring_mpmc_span c = {0, 0};
    const uint32_t mine = MT_STAMP_CONS | w->id;
    unsigned want = 1 + (unsigned)(testutil_rand(rng) % 8), i;
    int n, rc;
    if (want > shmring_mpmc_capacity(q))
        want = (unsigned)shmring_mpmc_capacity(q);
    n = shmring_mpmc_take_wait(q, want, &c, w->timeout_ns);
    if (n == -EPIPE)
        return -EPIPE;
    if (n < 1 || n > (int)want || c.n != (uint32_t)n) {
        mt_ledger_error(w->ledger, "consumer %u: take_wait(%u): %d (%s)", w->id, want, n, shmring_err_name(n));
        return MT_EXIT_RING;
    }
    for (i = 0; i < c.n; i++) {
        const void *b;
        size_t len;
        int err = shmring_mpmc_record(q, &c, i, &b, &len);
        if (err) {
            mt_ledger_error(w->ledger, "consumer %u: record: %s", w->id, shmring_err_name(err));
            return MT_EXIT_RING;
        }
        if ((rc = consume(st, b, len)) != 0)
            return rc;
        mt_rec_set_stamp((void *)(uintptr_t)b, mine);
    }
    sched_yield();
    for (i = 0; i < c.n; i++) {
        const void *b;
        size_t len;
        shmring_mpmc_record(q, &c, i, &b, &len);
        if (mt_rec_stamp(b) != mine) {
            mt_ledger_error(w->ledger, "consumer %u: stamp of a taken slot overwritten (%#x): two owners", w->id,
                            mt_rec_stamp(b));
            return MT_EXIT_DATA;
        }
    }
    shmring_mpmc_release(q, &c);
    return 0;
}

int mt_consumer_main(void *arg)
{
    struct mt_worker *w = arg;
    struct consumer_state st;
    struct shmring_mpmc *q = NULL;
    uint64_t rng = 0xbeef + w->id;
    uint8_t *buf;
    int err, rc = MT_EXIT_OK;
    memset(&st, 0, sizeof(st));
    st.w = w;
    if (w->barrier)
        mt_barrier_child(w->barrier);
    if ((err = shmring_mpmc_open(w->ring, SHMRING_CONSUMER, &q)) != 0) {
        mt_ledger_error(w->ledger, "consumer %u: open: %s", w->id, shmring_strerror(err));
        return MT_EXIT_OPEN;
    }
    if (w->barrier && mt_barrier_wait(w->barrier) != 0)
        return MT_EXIT_BARRIER;
    buf = malloc(shmring_mpmc_slot_size(q));
    for (;;) {
        if (testutil_rand(&rng) & 1) {
            rc = consumer_burst(&st, q, &rng);
            if (rc == -EPIPE) {
                rc = MT_EXIT_OK;
                break;
            }
            if (rc)
                break;
        } else {
            ssize_t n = shmring_mpmc_pop_wait(q, buf, shmring_mpmc_slot_size(q), w->timeout_ns);
            if (n == -EPIPE)
                break;
            if (n < 0) {
                mt_ledger_error(w->ledger, "consumer %u: pop_wait: %s", w->id, shmring_err_name((int)n));
                rc = MT_EXIT_RING;
                break;
            }
            if ((rc = consume(&st, buf, (size_t)n)) != 0)
                break;
        }
    }
    atomic_store(&w->ledger->per_consumer[w->id], st.got);
    free(buf);
    shmring_mpmc_close(q);
    return rc;
}
