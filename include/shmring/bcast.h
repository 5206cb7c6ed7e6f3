/* shmring — broadcast ring: one producer, many consumers, each consumer sees every record.
 *
 * One producer process and up to SHMRING_BCAST_CONSUMERS consumer processes (or threads: one handle
 * each) share a ring by name. Consumers join and leave at any time; each reads the records at its
 * own pace and none takes a record away from another. The fast path below is inline, makes no
 * system call and takes no lock:
 *
 *   producer                                     consumer
 *   n = shmring_bcast_claim(b, 8, &c)            shmring_bcast_peek(b, &p, &len)
 *   p = shmring_bcast_slot(b, &c, i)  (i < n)    ... read len bytes at p ...
 *   ... write up to slot_size bytes at p ...     shmring_bcast_validate(b)   (LOSSY: before use)
 *   shmring_bcast_publish(b, &c, lens)           shmring_bcast_release(b)
 *
 * Why fixed-size slots (not the SPSC ring's variable-length records): a consumer that falls a lap
 * behind must find out, and must find the oldest record still there. With fixed slots and a
 * sequence number per slot (as the LMAX Disruptor and Aeron's broadcast buffer do), both are one
 * comparison: the slot of position pos says which position it holds, and the oldest record still
 * present is at (the producer's claimed end) - capacity. In a byte ring a lapped reader's offset
 * points into the middle of somebody else's record, and finding the next record boundary needs an
 * index beside the data. The price is that every record occupies a whole slot.
 *
 * Slow consumers, chosen at creation (struct shmring_config.flags):
 *   BLOCK (default)    the producer never overwrites a record that a registered consumer has not
 *                      released: when the ring is full it waits (claim returns -EAGAIN; the _wait
 *                      forms sleep) for the slowest consumer. A consumer that dies without closing
 *                      (kill -9) stops holding the producer back within the liveness bound: its
 *                      death rings the producer's doorbell (a SEM_UNDO adjustment on the producer's
 *                      wake-up semaphore) and the producer, finding the entry's life semaphore at
 *                      0 (the kernel undid the consumer's SEM_UNDO hold), frees the entry. Bound: at once for a sleeping
 *                      producer, at most SHMRING_BCAST_LIVENESS_NS for one spinning on claim(),
 *                      plus one sleep slice (100 ms) if the doorbell is missed. A consumer that is
 *                      alive but stopped (SIGSTOP, a debugger) does hold the producer: that is what
 *                      BLOCK means. With no consumer registered the producer never waits.
 *   SHMRING_F_LOSSY    the producer never waits. A consumer that falls more than a ring behind is
 *                      lapped: its next call returns -ENOBUFS, shmring_bcast_lost() counts what it
 *                      missed, and the call after continues with the oldest record still present.
 *
 * Zero-copy reads in LOSSY mode follow the seqlock rule: the producer may overwrite a slot while a
 * consumer reads it. Whatever peek() returned must be treated as possibly torn until
 * shmring_bcast_validate() returns 0 after the reading; on -ENOBUFS, discard what was read from
 * every record peeked since the last release (they are counted as lost). Copy out what you need,
 * validate, then use the copy; shmring_bcast_pop() does exactly that. (In BLOCK mode a peeked
 * record cannot change before release, and validate() always returns 0 for a live consumer.)
 *
 * Joining. shmring_bcast_open() as a consumer registers in the ring's table of consumer entries and
 * starts at the newest record already published (default: the first record it reads is the most
 * recent one, then everything after it), or with SHMRING_BCAST_OLDEST at the oldest record still
 * present. "Present" excludes the records the producer may be overwriting at that moment (its
 * current claim): so in BLOCK mode the records returned from the first peek on are guaranteed.
 *
 * Ordering: every consumer sees the records in the order they were published, without gaps (BLOCK)
 * or with gaps that are reported (LOSSY).
 *
 * Concurrency: a handle is used by one thread at a time. One producer handle per ring (open
 * returns -EBUSY for a second); after fork() both processes hold it, as with a pipe's descriptors:
 * close the copy you don't use. A consumer handle inherited through fork() becomes a consumer of
 * its own in the child (its own entry, continuing where the parent had released).
 *
 *   call                             producer   consumer   system calls
 *   claim/slot/publish/push          yes        -          none (semop if a consumer sleeps)
 *   peek/validate/release/pop        -          yes        none (BLOCK: semop if the producer sleeps)
 *   *_wait                           yes        yes        only when the ring stays full/empty
 *   (the inline calls trust the role; the out-of-line ones check it.)
 */
#ifndef SHMRING_BCAST_H
#define SHMRING_BCAST_H

#include <string.h>
#include <sys/types.h>

#include "shmring/common.h"
#include "shmring/layout.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SHMRING_BCAST_SLOTS_DEFAULT UINT64_C(4096) /* when the config says 0 */
#define SHMRING_BCAST_SLOTS_MIN UINT64_C(4)
#define SHMRING_BCAST_SLOTS_MAX (UINT64_C(1) << 30)
#define SHMRING_BCAST_SLOT_MIN 8u
#define SHMRING_BCAST_SLOT_MAX (1u << 20)

/* shmring_bcast_open() flags (consumers). */
#define SHMRING_BCAST_OLDEST 0x1u /* start at the oldest record still present, not the newest */

/* A producer spinning on shmring_bcast_claim() against a full BLOCK ring looks at most this often
 * whether the consumers holding it back are alive (a few system calls each time). */
#define SHMRING_BCAST_LIVENESS_NS (10 * 1000 * 1000LL)

struct shmring__attach;

/* A process-local handle on a broadcast ring. Its fields are private: use the functions below. */
struct shmring_bcast {
    /* Geometry: copied from the validated header at attach, never re-read from shared memory. */
    uint8_t *slots;                       /* local address of slot 0 */
    struct shmring_header *hdr;           /* local address of the shared header */
    struct shmring_bcast_ctl *ctl;        /* the ring's own line */
    struct shmring_bcast_consumer *table; /* the consumer entries */
    uint64_t capacity;                    /* slots, a power of two */
    uint64_t mask;                        /* capacity - 1 */
    uint32_t slot_size;                   /* payload bytes per slot */
    uint32_t stride;                      /* bytes between slots */
    int lossy;                            /* 1: SHMRING_F_LOSSY */
    int fast_fence;                       /* 1: full fences are needed (no membarrier) */
    int role;                             /* enum shmring_role */
    uint32_t spin;                        /* spins before sleeping */
    int broken;                           /* 0, or the error every further call returns */

    /* Producer. */
    uint64_t pos;        /* next position to claim (everything before it is published) */
    uint64_t gate;       /* BLOCK: positions below it may be written (the slowest consumer + capacity
                            when the table was last read) */
    uint64_t joins;      /* BLOCK: ctl->joins when the table was last read */
    uint64_t published;  /* records published (mirrored to hdr->prod.count) */
    int64_t live_check;  /* BLOCK: when claim() may next look at the blockers' liveness (ns) */
    uint32_t held;       /* slots claimed and not yet published */

    /* Consumer. */
    struct shmring_bcast_consumer *self; /* this handle's entry */
    uint64_t head;     /* first position not released (mirrored to self->pos) */
    uint64_t next;     /* next position to peek */
    uint64_t lost;     /* records lost by being lapped, since open */
    uint64_t released; /* records released since open */

    struct shmring__attach *att; /* segment, semaphores, pid: lib-private */
};

/* A claimed range of positions: n slots from pos. Filled by claim. */
struct shmring_bcast_span {
    uint64_t pos;
    uint32_t n;
};

/* --- Lifecycle (out of line; several system calls each) ------------------------------------- */

/* Creates the broadcast ring `name`: cfg->capacity slots (a power of two in
 * [SHMRING_BCAST_SLOTS_MIN, SHMRING_BCAST_SLOTS_MAX]; 0: 4096) of cfg->slot_size bytes (in
 * [SHMRING_BCAST_SLOT_MIN, SHMRING_BCAST_SLOT_MAX]). cfg->flags: SHMRING_F_LOSSY for the lossy
 * policy (default BLOCK), SHMRING_F_HUGEPAGES. Does not attach. Returns 0, -EINVAL (bad name,
 * geometry or flags), -ENAMETOOLONG, -EEXIST, -ENOMEM/-ENOSPC, -EPERM. On error nothing is left
 * behind. Thread-safe. */
int shmring_bcast_create(const char *name, const struct shmring_config *cfg);

/* Attaches to the broadcast ring `name` as `role`. A producer continues after the last published
 * record (flags must be 0); a consumer registers in the consumer table and starts at the newest
 * record (flags 0) or the oldest still present (SHMRING_BCAST_OLDEST), see the top of this file.
 * Returns 0, -EINVAL (role, flags, NULL), -ENAMETOOLONG, -ENOENT, -EBADMSG, -EPROTONOSUPPORT
 * (another ABI version, or not a broadcast ring), -EUCLEAN (corrupt), -EBUSY (a producer is
 * attached), -EUSERS (all SHMRING_BCAST_CONSUMERS entries taken by live consumers), -EACCES,
 * -ENOMEM. Thread-safe. */
int shmring_bcast_open(const char *name, enum shmring_role role, uint32_t flags, struct shmring_bcast **out);

/* Detaches and frees the handle. A producer's close drops what it claimed and did not publish and
 * marks end of stream: consumers read every published record, then get -EPIPE. A consumer's close
 * frees its entry at once (a BLOCK producer waiting for it goes on). Returns 0. Not concurrently with
 * other calls on b. */
int shmring_bcast_close(struct shmring_bcast *b);

/* Spins a waiting call makes before it sleeps; 0 sleeps at once. */
void shmring_bcast_set_spin(struct shmring_bcast *b, uint32_t spins);

/* Consumer entries registered now (live, or dead and not yet noticed). No system call. */
int shmring_bcast_consumers(const struct shmring_bcast *b);

/* Attached handles of the other side (presence semaphore), or a negative errno (-EIDRM). One
 * system call. */
int shmring_bcast_peer_count(const struct shmring_bcast *b);

static inline uint64_t shmring_bcast_capacity(const struct shmring_bcast *b) { return b->capacity; }
static inline uint32_t shmring_bcast_slot_size(const struct shmring_bcast *b) { return b->slot_size; }
static inline int shmring_bcast_lossy(const struct shmring_bcast *b) { return b->lossy; }

/* Consumer: records lost by being lapped since open (LOSSY; also a BLOCK consumer whose entry was
 * taken from it). Every record from the start position on is either returned (and validated) or
 * counted here. */
static inline uint64_t shmring_bcast_lost(const struct shmring_bcast *b) { return b->lost; }

/* The position of the next record: for a producer the next it claims, for a consumer the next
 * peek() returns. Positions count records from the ring's creation (from cfg->start_position). */
static inline uint64_t shmring_bcast_position(const struct shmring_bcast *b)
{
    return b->role == SHMRING_PRODUCER ? b->pos : b->next;
}

/* --- Out-of-line helpers of the inline fast path (not API) ------------------------------------ */
int shmring__bcast_claim_slow(struct shmring_bcast *b, unsigned want, struct shmring_bcast_span *c);
int shmring__bcast_peek_slow(struct shmring_bcast *b, const void **buf, size_t *len);
int shmring__bcast_lapped(struct shmring_bcast *b, uint64_t floor);
void shmring__bcast_wake(struct shmring_bcast *b, int sem);
int shmring__bcast_wait(struct shmring_bcast *b, int64_t timeout_ns, int64_t *deadline); /* as SPSC's */

static inline struct shmring_bcast_slot_hdr *shmring__bcast_at(const struct shmring_bcast *b, uint64_t pos)
{
    return (struct shmring_bcast_slot_hdr *)(void *)(b->slots + (pos & b->mask) * b->stride);
}

static inline void shmring__bcast_after_publish(struct shmring_bcast *b, SHMRING_ATOMIC(uint32_t) *sleeping, int sem)
{
    /* See shmring__sleepers_after_publish. */
    if (shmring__sleepers_after_publish(b->fast_fence, sleeping))
        shmring__bcast_wake(b, sem);
}

/* --- Producer --------------------------------------------------------------------------------- */

/* Claims up to `want` consecutive slots (at most the capacity; BLOCK: as many as the slowest
 * consumer leaves, at least 1) and fills *c. A handle holds one claim at a time: publish it
 * before claiming again. LOSSY: never full; the claimed slots are marked "being written" first,
 * so that consumers reading them can tell. Returns how many, -EAGAIN (BLOCK: full), -EBUSY (a claim
 * is held), -EUCLEAN. want 0 claims nothing and returns 0. */
static SHMRING__ALWAYS_INLINE int shmring_bcast_claim(struct shmring_bcast *b, unsigned want,
                                                      struct shmring_bcast_span *c)
{
    uint64_t n, i;
    if (b->held || b->broken)
        return b->broken ? b->broken : -EBUSY;
    if (want == 0)
        return 0;
    n = want < b->capacity ? want : b->capacity;
    if (!b->lossy) {
        /* Within the gate, and no consumer joined since the gate was computed. The claim's end goes
         * out before we look at `joins`: a joiner bumps `joins`, then (membarrier, or a fence) reads
         * claim_end, so either we see its bump (and read the table again) or it sees this claim
         * (and starts after what it overwrites). The fence pairs with the joiner's in lib/bcast.c.
         * Release (free on x86): a reader that sees this claim_end also sees prod.pos >= b->pos. */
        if (b->gate - b->pos < n)
            return shmring__bcast_claim_slow(b, (unsigned)n, c);
        shmring__store(&b->ctl->claim_end, b->pos + n, release);
        if (b->fast_fence)
            shmring__thread_fence(seq_cst);
        else
            shmring__signal_fence(seq_cst);
        /* Pairs with the joiner's release increment: its entry is visible when we read the table. */
        if (shmring__load(&b->ctl->joins, acquire) != b->joins)
            return shmring__bcast_claim_slow(b, (unsigned)n, c);
    } else {
        shmring__store(&b->ctl->claim_end, b->pos + n, release);
        for (i = 0; i < n; i++)
            shmring__store(&shmring__bcast_at(b, b->pos + i)->seq, b->pos + i, relaxed);
        /* The "being written" marks (and claim_end) before any payload store: a consumer that read
         * a payload we overwrite then sees a mark (seqlock; pairs with the acquire fence in
         * shmring_bcast_validate()). */
        shmring__thread_fence(release);
    }
    c->pos = b->pos;
    c->n = (uint32_t)n;
    b->held = (uint32_t)n;
    return (int)n;
}

/* The payload of claimed slot i (i < c->n): slot_size writable bytes in the segment. */
static inline void *shmring_bcast_slot(const struct shmring_bcast *b, const struct shmring_bcast_span *c, unsigned i)
{
    return (uint8_t *)shmring__bcast_at(b, c->pos + i) + SHMRING_MPMC_SLOT_HDR;
}

/* Publishes the claimed slots in order, with their lengths: lens[i] bytes for slot i, or slot_size
 * each when lens is NULL (lengths above slot_size are cut to it). Wakes sleeping consumers. */
static inline void shmring_bcast_publish(struct shmring_bcast *b, const struct shmring_bcast_span *c,
                                         const uint32_t *lens)
{
    unsigned i;
    for (i = 0; i < c->n; i++) {
        struct shmring_bcast_slot_hdr *s = shmring__bcast_at(b, c->pos + i);
        uint32_t len = lens ? lens[i] : b->slot_size;
        shmring__store(&s->len, len < b->slot_size ? len : b->slot_size, relaxed);
        /* Publishes the record: pairs with the acquire load in shmring_bcast_peek(). */
        shmring__store(&s->seq, c->pos + i + 1, release);
    }
    b->pos = c->pos + c->n;
    b->held = 0;
    b->published += c->n;
    /* For joiners, lapped consumers, the next producer and the tools (never on a consumer's fast
     * path). Release: whoever reads it also sees claim_end >= it. */
    shmring__store(&b->hdr->prod.pos, b->pos, release);
    shmring__store(&b->hdr->prod.count, b->published, relaxed);
    shmring__bcast_after_publish(b, &b->hdr->wait.consumer_sleeping, SHMRING_SEM_CONSUMER_WAKE);
}

/* Claims one slot, copies len bytes into it and publishes it. Returns 0, -EAGAIN (BLOCK: full),
 * -EMSGSIZE (len > slot_size), -EBUSY, -EUCLEAN. */
static inline int shmring_bcast_push(struct shmring_bcast *b, const void *src, size_t len)
{
    struct shmring_bcast_span c = {0, 0};
    uint32_t l = (uint32_t)len;
    int n;
    if (len > b->slot_size)
        return -EMSGSIZE;
    n = shmring_bcast_claim(b, 1, &c);
    if (n < 0)
        return n;
    shmring__copy_in(shmring_bcast_slot(b, &c, 0), src, len);
    shmring_bcast_publish(b, &c, &l);
    return 0;
}

/* --- Consumer --------------------------------------------------------------------------------- */

/* Sets *buf and *len to the next record, in place in the segment, and moves on: each call returns
 * the record after the one it returned before, so several can be peeked, then validated and
 * released together. BLOCK: the record stays unchanged until release. LOSSY: it may be overwritten
 * at any time; see shmring_bcast_validate(). Returns 0, -EAGAIN (nothing new), -EPIPE (nothing new
 * and the producer closed), -ENOBUFS (lapped: see the top of this file; *buf is not set), -EUCLEAN
 * (a slot breaks the ring's invariants; nothing outside the slot is ever returned). No system call. */
static SHMRING__ALWAYS_INLINE int shmring_bcast_peek(struct shmring_bcast *b, const void **buf, size_t *len)
{
    const struct shmring_bcast_slot_hdr *s;
    uint64_t seq;
    uint32_t l;
    int64_t d;
    if (b->broken)
        return b->broken;
    s = shmring__bcast_at(b, b->next);
    /* Pairs with the release store in shmring_bcast_publish(): the record is visible. */
    seq = shmring__load(&s->seq, acquire);
    d = (int64_t)(seq - (b->next + 1));
    if (d != 0) {
        /* Not yet: being written (or never), or still the lap before. Everything else (lapped,
         * corrupt, end of stream) goes out of line. */
        if ((d == -1 || d == -(int64_t)b->capacity) && !shmring__load(&b->hdr->wait.producer_closed, acquire))
            return -EAGAIN;
        return shmring__bcast_peek_slow(b, buf, len);
    }
    l = shmring__load(&s->len, relaxed);
    if (l > b->slot_size) /* LOSSY: perhaps overwritten under us; else corrupt */
        return shmring__bcast_peek_slow(b, buf, len);
    *buf = (const uint8_t *)s + SHMRING_MPMC_SLOT_HDR;
    *len = l;
    b->next++;
    return 0;
}

/* After reading (or copying) the records peeked since the last release: were they intact? Returns
 * 0 (yes: what was read is the published records, untorn), or -ENOBUFS (the producer overwrote the
 * oldest of them while, or before, they were read: discard everything read from them; they are
 * counted as lost and the handle moved on to the oldest record still present). Required in LOSSY
 * mode before using what a zero-copy peek returned; in BLOCK mode it returns 0 for a live consumer.
 * Checking the oldest peeked record covers the later ones: the producer overwrites in order. No
 * system call. */
static inline int shmring_bcast_validate(struct shmring_bcast *b)
{
    if (b->head == b->next)
        return 0;
    /* Orders the caller's reads of the records before the load below: if they saw any of the
     * producer's overwriting stores, we see its "being written" mark (pairs with the release fence
     * in shmring_bcast_claim()). */
    shmring__thread_fence(acquire);
    if (shmring__load(&shmring__bcast_at(b, b->head)->seq, relaxed) == b->head + 1)
        return 0;
    return shmring__bcast_lapped(b, b->head + 1);
}

/* Lets go of every record peeked since the last release, with one store to this consumer's entry
 * (BLOCK: the producer may now overwrite them, and is woken if it waits for us). Returns how many.
 * It does not validate (LOSSY: validate first if you used the records). No system call unless a
 * BLOCK producer sleeps. */
static inline unsigned shmring_bcast_release(struct shmring_bcast *b)
{
    unsigned n = (unsigned)(b->next - b->head);
    if (n == 0)
        return 0;
    b->head = b->next;
    b->released += n;
    /* Pairs with the acquire load of our entry in the producer's look at the table (lib/bcast.c):
     * our reads of these records happen before it overwrites them. */
    shmring__store(&b->self->pos, b->head, release);
    shmring__store(&b->self->released, b->released, relaxed);
    if (!b->lossy)
        shmring__bcast_after_publish(b, &b->hdr->wait.producer_sleeping, SHMRING_SEM_PRODUCER_WAKE);
    return n;
}

/* Copies the next record into dst (cap bytes), validates the copy and releases it (with every
 * record peeked before). Returns its length, -EAGAIN, -EPIPE, -ENOBUFS (lapped: nothing was copied
 * that counts; call again for the oldest record still present), -EUCLEAN, or -EMSGSIZE when the
 * record is longer than cap (it stays next). */
static inline ssize_t shmring_bcast_pop(struct shmring_bcast *b, void *dst, size_t cap)
{
    const void *buf = NULL;
    size_t len = 0;
    int err = shmring_bcast_peek(b, &buf, &len);
    if (err)
        return err;
    if (len > cap) {
        b->next--;
        return -EMSGSIZE;
    }
    if (len && dst) /* dst may be NULL only with cap 0, so len 0 */
        memcpy(dst, buf, len);
    if ((err = shmring_bcast_validate(b)) != 0)
        return err;
    shmring_bcast_release(b);
    return (ssize_t)len;
}

/* --- Blocking forms ------------------------------------------------------------------------- */
/* As the SPSC ones: spin, then sleep on the ring's semaphore, with a timeout (SHMRING_FOREVER,
 * 0 = check once, > 0 ns). A waiting BLOCK producer also frees the entries of dead consumers that
 * hold it back. Extra errors: -ETIMEDOUT, -EAGAIN (timeout 0), -EPIPE (consumer: the producer
 * closed or died and every record was read), -EIDRM (removed). A LOSSY producer never waits. */

static inline int shmring_bcast_claim_wait(struct shmring_bcast *b, unsigned want, struct shmring_bcast_span *c,
                                           int64_t timeout_ns)
{
    int64_t deadline = 0;
    for (;;) {
        int n = shmring_bcast_claim(b, want, c), err;
        if (n != -EAGAIN)
            return n;
        if ((err = shmring__bcast_wait(b, timeout_ns, &deadline)) != 0)
            return err;
    }
}

static inline int shmring_bcast_push_wait(struct shmring_bcast *b, const void *src, size_t len, int64_t timeout_ns)
{
    int64_t deadline = 0;
    for (;;) {
        int err = shmring_bcast_push(b, src, len);
        if (err != -EAGAIN)
            return err;
        if ((err = shmring__bcast_wait(b, timeout_ns, &deadline)) != 0)
            return err;
    }
}

/* -ENOBUFS is returned, not waited through: the caller learns of every gap. */
static inline int shmring_bcast_peek_wait(struct shmring_bcast *b, const void **buf, size_t *len, int64_t timeout_ns)
{
    int64_t deadline = 0;
    for (;;) {
        int err = shmring_bcast_peek(b, buf, len);
        if (err != -EAGAIN)
            return err;
        if ((err = shmring__bcast_wait(b, timeout_ns, &deadline)) != 0)
            return err;
    }
}

static inline ssize_t shmring_bcast_pop_wait(struct shmring_bcast *b, void *dst, size_t cap, int64_t timeout_ns)
{
    int64_t deadline = 0;
    for (;;) {
        ssize_t n = shmring_bcast_pop(b, dst, cap);
        int err;
        if (n != -EAGAIN)
            return n;
        if ((err = shmring__bcast_wait(b, timeout_ns, &deadline)) != 0)
            return err;
    }
}

#ifdef __cplusplus
}
#endif

#endif /* SHMRING_BCAST_H */
