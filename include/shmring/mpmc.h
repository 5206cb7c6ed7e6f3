/* shmring — multi-producer multi-consumer ring of fixed-size slots.
 *
 * Any number of producer and consumer processes (and threads: one handle per thread) share a ring
 * by name. Each slot holds one record of up to slot_size bytes. The fast path below is inline,
 * makes no system call and takes no lock: a claim is one CAS on the side's position.
 *
 *   producer                                     consumer
 *   n = shmring_mpmc_claim(q, 8, &c)             n = shmring_mpmc_take(q, 8, &c)
 *   p = shmring_mpmc_slot(q, &c, i)  (i < n)     shmring_mpmc_record(q, &c, i, &p, &len)
 *   ... write up to slot_size bytes at p ...     ... read len bytes at p ...
 *   shmring_mpmc_publish(q, &c, lens)            shmring_mpmc_release(q, &c)
 *
 * Design: Vyukov's bounded queue with per-slot sequence numbers (see layout.h). A consumer waits on
 * the sequence word in the slot it will read, so a record costs it one cache-line transfer, not two
 * (head/tail indices in the style of DPDK's rte_ring would add a line and a serialised miss). The
 * claimed range is recorded in the handle's participant entry first, so that a slot claimed by a
 * process that dies before publishing (releasing) can be told from a slow one and skipped.
 *
 * Ordering: records of one producer are consumed in the order it published them (positions are
 * claimed in order); records of different producers interleave. Each published record is taken by
 * exactly one consumer.
 *
 * Concurrency: a handle is used by one thread at a time; open one handle per thread.
 *
 *   call                         producers      consumers     system calls
 *   claim/publish/push            many at once   -             none (semop if consumers sleep)
 *   take/record/release/pop       -              many at once  none (semop if producers sleep)
 *   *_wait                        yes            yes           only when the ring stays full/empty
 */
#ifndef SHMRING_MPMC_H
#define SHMRING_MPMC_H

#include <string.h>
#include <sys/types.h>

#include "shmring/common.h"
#include "shmring/layout.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SHMRING_MPMC_SLOTS_DEFAULT UINT64_C(4096) /* when the config says 0 */
#define SHMRING_MPMC_SLOTS_MIN UINT64_C(4)
#define SHMRING_MPMC_SLOTS_MAX (UINT64_C(1) << 30)
#define SHMRING_MPMC_SLOT_MIN 8u
#define SHMRING_MPMC_SLOT_MAX (1u << 20)

struct shmring__attach;

/* A process-local handle on an MPMC ring. Its fields are private: use the functions below. */
struct shmring_mpmc {
    /* Geometry: copied from the validated header at attach, never re-read from shared memory. */
    uint8_t *slots;                    /* local address of slot 0 */
    struct shmring_header *hdr;        /* local address of the shared header */
    struct shmring_participant *self;  /* this handle's participant entry */
    uint64_t capacity;                 /* slots, a power of two */
    uint64_t mask;                     /* capacity - 1 */
    uint32_t slot_size;                /* payload bytes per slot */
    uint32_t stride;                   /* bytes between slots */
    int fast_fence;                    /* 1: a full fence is needed before looking for sleepers */
    int role;                          /* enum shmring_role */
    uint32_t spin;                     /* spins before sleeping */
    uint32_t held;                     /* slots claimed (taken) and not yet published (released) */
    uint64_t held_pos;                 /* the first of them */
    int broken;                        /* 0, or -EUCLEAN once an invariant broke */
    struct shmring__attach *att;       /* segment, semaphores, pid: lib-private */
};

/* A claimed range of positions: n slots from pos. Filled by claim/take. */
struct shmring_mpmc_span {
    uint64_t pos;
    uint32_t n;
};

/* --- Lifecycle (out of line; several system calls each) ------------------------------------- */

/* Creates the MPMC ring `name`: cfg->capacity slots (a power of two) of cfg->slot_size bytes. Does
 * not attach. Errors as shmring_spsc_create(); -EINVAL also for a slot size out of range. */
int shmring_mpmc_create(const char *name, const struct shmring_config *cfg);

/* Attaches to the MPMC ring `name` as `role`. Returns 0, the errors of shmring_spsc_open() but
 * -EBUSY, and -EUSERS when all SHMRING_MPMC_PARTICIPANTS entries are taken by live handles. */
int shmring_mpmc_open(const char *name, enum shmring_role role, struct shmring_mpmc **out);

/* Detaches and frees the handle. Slots it claimed and did not publish (release) are skipped
 * (freed) at once, counted as if it had died. Returns 0. */
int shmring_mpmc_close(struct shmring_mpmc *q);

/* Spins a waiting call makes before it sleeps; 0 sleeps at once. */
void shmring_mpmc_set_spin(struct shmring_mpmc *q, uint32_t spins);

/* Attached handles of the other side, or a negative errno (-EIDRM). One system call. */
int shmring_mpmc_peer_count(const struct shmring_mpmc *q);

static inline uint64_t shmring_mpmc_capacity(const struct shmring_mpmc *q) { return q->capacity; }
static inline uint32_t shmring_mpmc_slot_size(const struct shmring_mpmc *q) { return q->slot_size; }

/* --- Out-of-line helpers of the inline fast path (not API) ------------------------------------ */
int shmring__mpmc_corrupt(struct shmring_mpmc *q);
void shmring__mpmc_wake(struct shmring_mpmc *q, int sem);
int shmring__mpmc_wait(struct shmring_mpmc *q, int64_t timeout_ns, int64_t *deadline); /* as SPSC's */
int shmring__mpmc_take_skipped(struct shmring_mpmc *q, uint64_t pos);

static inline struct shmring_mpmc_slot_hdr *shmring__mpmc_at(const struct shmring_mpmc *q, uint64_t pos)
{
    return (struct shmring_mpmc_slot_hdr *)(void *)(q->slots + (pos & q->mask) * q->stride);
}

static inline void shmring__mpmc_after_publish(struct shmring_mpmc *q, SHMRING_ATOMIC(uint32_t) *sleeping, int sem)
{
    /* See shmring__sleepers_after_publish. */
    if (shmring__sleepers_after_publish(q->fast_fence, sleeping))
        shmring__mpmc_wake(q, sem);
}

/* Claims up to `want` consecutive positions on `side` (prod.pos or cons.pos) whose slots hold
 * pos + `ready_delta` (0: free, for producers; 1: published, for consumers); with `bulk`, exactly
 * `want` or none (-EAGAIN). */
static SHMRING__ALWAYS_INLINE int shmring__mpmc_claim(struct shmring_mpmc *q, SHMRING_ATOMIC(uint64_t) *side,
                                                      uint64_t ready_delta,
                                      unsigned want, int bulk, struct shmring_mpmc_span *c)
{
    uint64_t pos;
    if (q->held || q->broken)
        return q->broken ? q->broken : -EBUSY;
    if (want == 0 || want > q->capacity)
        return want == 0 ? 0 : -EINVAL;
    pos = shmring__load(side, relaxed);
    for (;;) {
        unsigned n = 0;
        int64_t d = 0;
        while (n < want) {
            /* Producer: pairs with the release store in shmring_mpmc_release() (the last reader is
             * done). Consumer: pairs with the one in shmring_mpmc_publish() (the record is there). */
            uint64_t seq = shmring__load(&shmring__mpmc_at(q, pos + n)->seq, acquire);
            d = (int64_t)(seq - (pos + n + ready_delta));
            if (d == 0) {
                /* A record that runs into the slot's next line: fetch that line now, alongside
                 * the claim, rather than after it. */
                if (ready_delta && q->stride > SHMRING_CACHELINE)
                    __builtin_prefetch((const uint8_t *)shmring__mpmc_at(q, pos + n) + SHMRING_CACHELINE);
                n++;
                continue;
            }
            if (n > 0)
                break;
            if (ready_delta && d == 1) {
                /* Skipped: its producer died before publishing. Consume it and go on. */
                shmring__mpmc_take_skipped(q, pos);
                pos = shmring__load(side, relaxed);
                continue;
            }
            if (d < 0) {
                /* A lap behind: full (producer) or not yet published (consumer). */
                if (d < -(int64_t)q->capacity)
                    return shmring__mpmc_corrupt(q);
                return -EAGAIN;
            }
            /* Someone else took this position: move on, but only if the side really moved (the
             * acquire above makes their CAS visible), else the word is garbage. */
            {
                uint64_t now = shmring__load(side, relaxed);
                if (now == pos)
                    return shmring__mpmc_corrupt(q);
                pos = now;
            }
        }
        if (bulk && n < want) {
            /* Short because others took part of the range (d > 0): our view is stale, look again.
             * Short because the rest is not ready (d < 0): really fewer than asked. */
            uint64_t now = shmring__load(side, relaxed);
            if (d < 0 || (ready_delta && d == 1)) /* not ready, or a skipped slot splits the range */
                return -EAGAIN;
            if (now == pos) /* as above: a later slot is ahead of a side that did not move */
                return shmring__mpmc_corrupt(q);
            pos = now;
            continue;
        }
        /* Say what we claim before we claim it: the CAS's release orders these stores before
         * anyone who sees the new position (survivors judging a stuck slot read them). */
        shmring__store(&q->self->intent_n, n, relaxed);
        SHMRING__TEST_POINT(SHMRING__TP_MPMC_INTENT_N);
        shmring__store(&q->self->intent_pos, pos, relaxed);
        SHMRING__TEST_POINT(SHMRING__TP_MPMC_INTENT_POS);
        if (shmring__cas(side, &pos, pos + n, acq_rel, relaxed)) {
            SHMRING__TEST_POINT(SHMRING__TP_MPMC_CLAIM_CAS);
            c->pos = pos;
            c->n = n;
            q->held = n;
            q->held_pos = pos;
            return (int)n;
        }
        /* Lost the race: we hold nothing, so say so before we rescan from the side's current
         * value (now in pos) and perhaps return empty-handed. */
        shmring__store(&q->self->intent_n, 0, relaxed);
        SHMRING__TEST_POINT(SHMRING__TP_MPMC_CLAIM_LOST);
    }
}

/* --- Producer --------------------------------------------------------------------------------- */

/* Claims up to `want` free slots (as many as are free, at least 1) and fills *c. A handle holds
 * one claim at a time: publish it before claiming again. Returns how many, -EAGAIN (full), -EINVAL
 * (want > capacity; want 0 claims nothing and returns 0), -EBUSY (a claim is still held),
 * -EUCLEAN. */
static inline int shmring_mpmc_claim(struct shmring_mpmc *q, unsigned want, struct shmring_mpmc_span *c)
{
    return shmring__mpmc_claim(q, &q->hdr->prod.pos, 0, want, 0, c);
}

/* Claims exactly n free slots or none: returns n or -EAGAIN (fewer are free), else as claim. */
static inline int shmring_mpmc_claim_bulk(struct shmring_mpmc *q, unsigned n, struct shmring_mpmc_span *c)
{
    return shmring__mpmc_claim(q, &q->hdr->prod.pos, 0, n, 1, c);
}

/* The payload of claimed slot i (i < c->n): slot_size writable bytes in the segment. */
static inline void *shmring_mpmc_slot(const struct shmring_mpmc *q, const struct shmring_mpmc_span *c, unsigned i)
{
    return (uint8_t *)shmring__mpmc_at(q, c->pos + i) + SHMRING_MPMC_SLOT_HDR;
}

/* Publishes the claimed slots in order, with their lengths: lens[i] bytes for slot i, or slot_size
 * each when lens is NULL (lengths above slot_size are cut to it). Wakes a sleeping consumer.
 * Returns 0, or -ESTALE if another process judged this handle dead meanwhile and recovered some of
 * the slots (skipped them): those are not published (the others are), and nothing of the ring's
 * state is changed by the attempt. The kernel's word decides who is dead (lib/life.c), so only a
 * process tampering with the ring's semaphores can bring this about; what this handle wrote into
 * such a slot before publishing may have landed in a later record. */
static inline int shmring_mpmc_publish(struct shmring_mpmc *q, const struct shmring_mpmc_span *c,
                                       const uint32_t *lens)
{
    unsigned i, stale = 0;
    for (i = 0; i < c->n; i++) {
        struct shmring_mpmc_slot_hdr *s = shmring__mpmc_at(q, c->pos + i);
        uint64_t mine = c->pos + i;
        uint32_t len = lens ? lens[i] : q->slot_size;
        /* Still ours? (A slot recovered from us has moved on: leave its length alone.) */
        if (shmring__load(&s->seq, relaxed) != mine) {
            stale++;
            continue;
        }
        s->len = len < q->slot_size ? len : q->slot_size;
        SHMRING__TEST_POINT(SHMRING__TP_MPMC_PUBLISH_LEN);
        /* Publishes the record: pairs with the acquire load in shmring__mpmc_claim() (take). A CAS,
         * not a store: a survivor's recovery of the slot (lib/mpmc.c free_abandoned) is a CAS on
         * the same word, so exactly one of the two happens. */
        if (!shmring__cas(&s->seq, &mine, c->pos + i + 1, release, relaxed))
            stale++;
        SHMRING__TEST_POINT(SHMRING__TP_MPMC_PUBLISH_SEQ);
    }
    q->held = 0;
    shmring__mpmc_after_publish(q, &q->hdr->wait.consumer_sleeping, SHMRING_SEM_CONSUMER_WAKE);
    return stale ? -ESTALE : 0;
}

/* Claims one slot, copies len bytes into it and publishes it. Returns 0, -EAGAIN (full),
 * -EMSGSIZE (len > slot_size), -EUCLEAN, -ESTALE (as publish: the record was not published). */
static inline int shmring_mpmc_push(struct shmring_mpmc *q, const void *src, size_t len)
{
    struct shmring_mpmc_span c = {0, 0};
    uint32_t l = (uint32_t)len;
    int n;
    if (len > q->slot_size)
        return -EMSGSIZE;
    n = shmring_mpmc_claim(q, 1, &c);
    if (n < 0)
        return n;
    shmring__copy_in(shmring_mpmc_slot(q, &c, 0), src, len);
    return shmring_mpmc_publish(q, &c, &l);
}

/* --- Consumer --------------------------------------------------------------------------------- */

/* Takes up to `want` published records (as many as are there, at least 1) and fills *c. A handle
 * holds one take at a time: release it before taking again. Returns how many, -EAGAIN (empty),
 * -EINVAL, -EBUSY, -EUCLEAN. */
static inline int shmring_mpmc_take(struct shmring_mpmc *q, unsigned want, struct shmring_mpmc_span *c)
{
    return shmring__mpmc_claim(q, &q->hdr->cons.pos, 1, want, 0, c);
}

/* Takes exactly n records or none: returns n or -EAGAIN (fewer are there), else as take. */
static inline int shmring_mpmc_take_bulk(struct shmring_mpmc *q, unsigned n, struct shmring_mpmc_span *c)
{
    return shmring__mpmc_claim(q, &q->hdr->cons.pos, 1, n, 1, c);
}

/* Sets *buf and *len to record i (i < c->n) of a take, in place. Returns 0 or -EUCLEAN (its length
 * in shared memory is out of range; nothing outside the slot is ever returned). */
static inline int shmring_mpmc_record(struct shmring_mpmc *q, const struct shmring_mpmc_span *c, unsigned i,
                                      const void **buf, size_t *len)
{
    struct shmring_mpmc_slot_hdr *s = shmring__mpmc_at(q, c->pos + i);
    uint32_t l = s->len;
    if (l > q->slot_size) {
        *buf = NULL;
        *len = 0;
        return shmring__mpmc_corrupt(q);
    }
    *buf = (const uint8_t *)s + SHMRING_MPMC_SLOT_HDR;
    *len = l;
    return 0;
}

/* Frees the taken slots for the producers. Wakes a sleeping producer. Returns 0, or -ESTALE if
 * another process judged this handle dead meanwhile and freed some of the slots itself (as
 * publish: those are left alone; the records read from them may have been overwritten). */
static inline int shmring_mpmc_release(struct shmring_mpmc *q, const struct shmring_mpmc_span *c)
{
    unsigned i, stale = 0;
    for (i = 0; i < c->n; i++) {
        uint64_t mine = c->pos + i + 1; /* published: taken records only come from such slots */
        /* Hands the slot to the next lap's producer: pairs with the acquire load in claim. A CAS
         * against a survivor's recovery of it, as in publish. */
        if (!shmring__cas(&shmring__mpmc_at(q, c->pos + i)->seq, &mine, c->pos + i + q->capacity, release, relaxed))
            stale++;
        SHMRING__TEST_POINT(SHMRING__TP_MPMC_RELEASE_SEQ);
    }
    q->held = 0;
    shmring__mpmc_after_publish(q, &q->hdr->wait.producer_sleeping, SHMRING_SEM_PRODUCER_WAKE);
    return stale ? -ESTALE : 0;
}

/* Takes one record, copies it into dst and releases it. Returns its length, -EAGAIN, -EUCLEAN,
 * -ESTALE (as release: what was copied may be a later record's), or -EMSGSIZE when
 * cap < slot_size (checked first, so no record is ever taken and lost). */
static inline ssize_t shmring_mpmc_pop(struct shmring_mpmc *q, void *dst, size_t cap)
{
    struct shmring_mpmc_span c = {0, 0};
    const void *buf = NULL;
    size_t len = 0;
    int n, err;
    if (cap < q->slot_size)
        return -EMSGSIZE;
    n = shmring_mpmc_take(q, 1, &c);
    if (n < 0)
        return n;
    err = shmring_mpmc_record(q, &c, 0, &buf, &len);
    if (err == 0 && len && dst)
        memcpy(dst, buf, len);
    n = shmring_mpmc_release(q, &c);
    return err ? err : n ? n : (ssize_t)len;
}

/* --- Blocking forms ------------------------------------------------------------------------- */
/* As the SPSC ones: spin, then sleep on the ring's semaphore, with a timeout (SHMRING_FOREVER,
 * 0 = check once, > 0 ns). While waiting they also look for slots held by dead processes and skip
 * them. Extra errors: -ETIMEDOUT, -EAGAIN (timeout 0), -EPIPE (every process of the other side that
 * attached is gone, and for consumers the ring is empty), -EIDRM (removed). */

static inline int shmring_mpmc_claim_wait(struct shmring_mpmc *q, unsigned want, struct shmring_mpmc_span *c,
                                          int64_t timeout_ns)
{
    int64_t deadline = 0;
    for (;;) {
        int n = shmring_mpmc_claim(q, want, c), err;
        if (n != -EAGAIN)
            return n;
        if ((err = shmring__mpmc_wait(q, timeout_ns, &deadline)) != 0)
            return err;
    }
}

static inline int shmring_mpmc_take_wait(struct shmring_mpmc *q, unsigned want, struct shmring_mpmc_span *c,
                                         int64_t timeout_ns)
{
    int64_t deadline = 0;
    for (;;) {
        int n = shmring_mpmc_take(q, want, c), err;
        if (n != -EAGAIN)
            return n;
        if ((err = shmring__mpmc_wait(q, timeout_ns, &deadline)) != 0)
            return err;
    }
}

static inline int shmring_mpmc_push_wait(struct shmring_mpmc *q, const void *src, size_t len, int64_t timeout_ns)
{
    int64_t deadline = 0;
    for (;;) {
        int err = shmring_mpmc_push(q, src, len);
        if (err != -EAGAIN)
            return err;
        if ((err = shmring__mpmc_wait(q, timeout_ns, &deadline)) != 0)
            return err;
    }
}

static inline ssize_t shmring_mpmc_pop_wait(struct shmring_mpmc *q, void *dst, size_t cap, int64_t timeout_ns)
{
    int64_t deadline = 0;
    for (;;) {
        ssize_t n = shmring_mpmc_pop(q, dst, cap);
        int err;
        if (n != -EAGAIN)
            return n;
        if ((err = shmring__mpmc_wait(q, timeout_ns, &deadline)) != 0)
            return err;
    }
}

#ifdef __cplusplus
}
#endif

#endif /* SHMRING_MPMC_H */
