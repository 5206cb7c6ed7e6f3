/* shmring — single-producer single-consumer ring of variable-length records.
 *
 * One producer process (or thread) and one consumer process share a ring by name. The fast path
 * below is inline, runs in the caller's thread, makes no system call and takes no lock:
 *
 *   producer                                  consumer
 *   shmring_spsc_reserve(r, len, &buf)        shmring_spsc_peek(r, &buf, &len)
 *   ... write len bytes at buf ...            ... read len bytes at buf ...
 *   shmring_spsc_commit(r)                    shmring_spsc_release(r)
 *
 * Reserve several records and commit once to publish them together; peek several and release
 * once to free them together (one shared store per batch). shmring_spsc_push()/pop() copy.
 * The *_wait() forms block: they spin, then sleep on a System V semaphore, with a timeout.
 *
 * Concurrency: one handle is used by one thread at a time. A ring has at most one attached
 * producer handle and one consumer handle (open returns -EBUSY for a second one). After fork(),
 * both processes hold the handles (as with a pipe's descriptors): close the one you don't use.
 *
 *   call                      producer handle   consumer handle   system calls
 *   reserve/commit/push/write    yes               -EINVAL*        none (semop if the consumer sleeps)
 *   peek/release/pop/read        -EINVAL*          yes             none (semop if the producer sleeps)
 *   *_wait                       yes               yes             only when the ring stays full/empty
 *   (* checked only by the out-of-line calls; the inline calls trust the role.)
 *
 * Largest record: shmring_spsc_max_record() = capacity - 16 bytes (capacity - 72 on a ring created
 * with SHMRING_F_ALIGN64), at most SHMRING_SPSC_RECORD_MAX.
 * Space: a record takes its length + 8 bytes of header, rounded up to 8 (to 64 with
 * SHMRING_F_ALIGN64, where each record starts on a cache line of its own).
 */
#ifndef SHMRING_SPSC_H
#define SHMRING_SPSC_H

#include <string.h>
#include <sys/types.h>

#include "shmring/common.h"
#include "shmring/layout.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SHMRING_SPSC_CAPACITY_DEFAULT (UINT64_C(1) << 20) /* bytes, when the config says 0 */
#define SHMRING_SPSC_CAPACITY_MIN UINT64_C(256)
#define SHMRING_SPSC_CAPACITY_MAX (UINT64_C(1) << 40)
#define SHMRING_SPSC_RECORD_MAX (UINT32_MAX - 15u) /* the header's length field is 32 bits */
/* A consumer hands released space back to the producer (hdr->freed.pos) once this many bytes are
 * released, or earlier (shmring_spsc_release() says when). At most a quarter of the capacity. */
#define SHMRING_SPSC_PUBLISH_BYTES UINT64_C(4096)

struct shmring__attach; /* out-of-line state of an attachment (lib/) */

/* A process-local handle on an SPSC ring. Its fields are private: use the functions below. */
struct shmring_spsc {
    /* Geometry: copied from the validated header at attach, never re-read from shared memory. */
    uint8_t *data;              /* local address of the data area */
    struct shmring_header *hdr; /* local address of the shared header */
    uint64_t capacity;          /* bytes of the data area, a power of two */
    uint64_t mask;              /* capacity - 1 */
    uint64_t max_record;        /* min(capacity - 8 - alignment, SHMRING_SPSC_RECORD_MAX) */
    uint64_t align_mask;        /* record alignment - 1: 7, or 63 with SHMRING_F_ALIGN64 */
    int fast_fence;             /* 1: a full fence is needed before looking for sleepers */
    int role;                   /* enum shmring_role */

    /* Producer: positions are byte counts since creation (they never wrap in practice: 2^64). */
    uint64_t tail;       /* end of what this producer reserved */
    uint64_t head_cache; /* the consumer position we may write up to: the furthest validated of
                            freed.pos and (before sleeping) cons.pos (<= tail) */
    uint64_t freed_seen; /* freed.pos last read and validated (<= head_cache) */
    uint64_t pend_pos;   /* position of the first reserved, uncommitted record */
    uint64_t pend_word;  /* its header word, stored by commit; 0 when nothing is pending */
    uint64_t committed;  /* records committed through this handle (mirrored to hdr->prod.count) */
    uint32_t pend_count; /* data records reserved since the last commit */

    /* Consumer. */
    uint32_t peeked;    /* records peeked since the last release */
    uint64_t head;      /* end of what this consumer released (mirrored to hdr->cons.pos) */
    uint64_t next;      /* end of what this consumer peeked */
    uint64_t released;  /* records released through this handle (mirrored to hdr->cons.count) */
    uint64_t published; /* the head last stored to hdr->freed.pos (<= head) */
    uint64_t publish_every; /* bytes released before freed.pos is stored: SHMRING_SPSC_PUBLISH_BYTES,
                               at most a quarter of the ring */

    uint32_t spin;                 /* spins before sleeping (shmring_spsc_set_spin) */
    int broken;                    /* 0, or the error every further slow-path call returns */
    struct shmring__attach *att;   /* segment, semaphores, pid: lib-private */
};

/* --- Lifecycle (out of line; several system calls each) ------------------------------------- */

/* Creates the SPSC ring `name` with cfg (NULL: defaults) and does not attach to it. The segment,
 * its semaphore set and its message queue exist once this returns 0; a racing opener sees either
 * nothing (-ENOENT) or the complete ring. Returns 0, -EINVAL (bad name or capacity),
 * -ENAMETOOLONG, -EEXIST (the name, or another object on its key, exists), -ENOMEM/-ENOSPC (system
 * limits; huge pages not available), -EPERM. On error nothing is left behind. Thread-safe. */
int shmring_spsc_create(const char *name, const struct shmring_config *cfg);

/* Attaches to the existing SPSC ring `name` as `role` and returns a handle in *out. The new
 * producer continues after the last committed record; the new consumer starts at the first record
 * not released. Returns 0, -EINVAL, -ENAMETOOLONG, -ENOENT, -EBADMSG (foreign segment),
 * -EPROTONOSUPPORT (other ABI version or kind), -EUCLEAN (corrupt header), -EBUSY (role taken),
 * -EACCES, -ENOMEM. Thread-safe. */
int shmring_spsc_open(const char *name, enum shmring_role role, struct shmring_spsc **out);

/* Creates an anonymous ring for related processes, like pipe(2): both ends in one call, no name.
 * fork(), then each process closes the end it does not use. The ring disappears when the last
 * handle on it is closed (if every holder is killed, its semaphore set and queue remain until
 * `shmring rm --stale`: docs/guide.md). Returns 0 or the errors of shmring_spsc_create(). Thread-safe. */
int shmring_spsc_pipe(const struct shmring_config *cfg, struct shmring_spsc **producer,
                      struct shmring_spsc **consumer);

/* Detaches and frees the handle. A producer's close publishes nothing it had reserved and not
 * committed, and marks end of stream: the consumer reads every committed record, then -EPIPE.
 * A consumer's close leaves unreleased records in the ring for the next consumer. Returns 0 (the
 * handle is freed even when an error is returned). Not concurrently with other calls on r. */
int shmring_spsc_close(struct shmring_spsc *r);

/* Spins (load + CPU pause) a waiting call makes before it sleeps; 0 sleeps at once. */
void shmring_spsc_set_spin(struct shmring_spsc *r, uint32_t spins);

/* Attached handles of the other side: consumers for a producer handle, producers for a consumer
 * handle (0 or 1, or more briefly after fork), or a negative errno (-EIDRM: removed). One system
 * call. */
int shmring_spsc_peer_count(const struct shmring_spsc *r);

/* Event loops (docs/guide.md, "Event loops"): a file descriptor for epoll/poll/select, libuv or
 * libevent that becomes readable when the consumer `r` has a record at the position it was armed
 * at, or at end of stream, the producer's death or the ring's removal (the next pop says which).
 * The first call makes an eventfd (non-blocking, close-on-exec) and a helper thread in this
 * process, armed at the current read position; later calls return the same fd. The helper sleeps
 * with the library's usual protocol, so the producer still makes no system call while nobody
 * sleeps. The fd stays readable until shmring_spsc_event_rearm(). Consumer handles of this
 * process only (else -EINVAL); -ENOMEM, or the errno of eventfd/pthread_create. The fd belongs
 * to the handle: shmring_spsc_close() stops the thread and closes it. A child inherits no
 * helper thread across fork(): it calls this again on its own handle. */
int shmring_spsc_event_fd(struct shmring_spsc *r, int *fd);
/* After the application popped until -EAGAIN: clears the fd and arms the helper at the current
 * read position (records peeked but not released count as read). From the consumer's thread.
 * 0, or -EINVAL if `r` has no event fd. */
int shmring_spsc_event_rearm(struct shmring_spsc *r);

static inline uint64_t shmring_spsc_capacity(const struct shmring_spsc *r) { return r->capacity; }
static inline uint64_t shmring_spsc_max_record(const struct shmring_spsc *r) { return r->max_record; }

/* --- Out-of-line helpers of the inline fast path (not API) ------------------------------------ */
int shmring__spsc_reserve_slow(struct shmring_spsc *r, size_t len, void **buf);
int shmring__spsc_corrupt(struct shmring_spsc *r);
void shmring__spsc_wake(struct shmring_spsc *r, int sem);
/* Wait until ready, an error, or the deadline; *deadline is 0 until the first wait of a call sets it
 * from timeout_ns, so that a call that waits several times still ends on time. */
int shmring__spsc_wait_space(struct shmring_spsc *r, size_t len, int64_t timeout_ns, int64_t *deadline);
int shmring__spsc_wait_data(struct shmring_spsc *r, int64_t timeout_ns, int64_t *deadline);

/* The largest record of an SPSC ring of `capacity` bytes with header flags hdr_flags: its size,
 * with the 8 bytes of slack after it, fits the whole area (what shmring_spsc_max_record() returns;
 * also used by the tools). */
static inline uint64_t shmring__spsc_max_record_of(uint64_t capacity, uint32_t hdr_flags)
{
    uint64_t max = capacity - shmring__spsc_align(hdr_flags) - SHMRING_REC_HDR;
    return max < SHMRING_SPSC_RECORD_MAX ? max : (uint64_t)SHMRING_SPSC_RECORD_MAX;
}

/* Bytes a record of `len` payload bytes takes in r's data area, header included. */
static inline uint64_t shmring__spsc_size(const struct shmring_spsc *r, size_t len)
{
    return ((uint64_t)len + SHMRING_REC_HDR + r->align_mask) & ~r->align_mask;
}

/* Stores a record header word. The first word of a batch is kept back for commit; later ones can
 * go now, since the consumer cannot reach them before the first is published. */
static inline void shmring__spsc_put_word(struct shmring_spsc *r, uint64_t pos, uint64_t word)
{
    if (r->pend_word == 0) {
        r->pend_pos = pos;
        r->pend_word = word;
    } else {
        shmring__store(SHMRING__U64_AT(r->data + (pos & r->mask)), word, relaxed);
    }
}

/* Places a record of `len` bytes (size with header: `size`) at r->tail after `pad` bytes of
 * padding. The caller checked that tail + pad + size + 8 - head <= capacity. */
static inline void *shmring__spsc_place(struct shmring_spsc *r, uint64_t pad, uint64_t size, size_t len)
{
    uint64_t pos = r->tail;
    if (pad) {
        shmring__spsc_put_word(r, pos, SHMRING_REC_WORD(SHMRING_REC_PAD, pad));
        pos += pad;
    }
    shmring__spsc_put_word(r, pos, SHMRING_REC_WORD(SHMRING_REC_DATA, len));
    /* Keep the invariant: the word after this record reads 0 until the next record is committed.
     * Ordered before the commit's release store, like the payload. (Zeroing further ahead after
     * each commit, to keep this store off the record's path, doubled the producer's instructions
     * and gained nothing measurable in the ping-pong: bench notes in the README.) */
    shmring__store(SHMRING__U64_AT(r->data + ((pos + size) & r->mask)), 0, relaxed);
    SHMRING__TEST_POINT(SHMRING__TP_SPSC_PLACE);
    r->tail = pos + size;
    r->pend_count++;
    return r->data + (pos & r->mask) + SHMRING_REC_HDR;
}

/* After a release store: wake the other side if it sleeps (see shmring__sleepers_after_publish). */
static inline void shmring__spsc_after_publish(struct shmring_spsc *r, SHMRING_ATOMIC(uint32_t) *sleeping,
                                               int sem)
{
    if (shmring__sleepers_after_publish(r->fast_fence, sleeping))
        shmring__spsc_wake(r, sem);
}

/* --- Producer fast path --------------------------------------------------------------------- */

/* Reserves room for a record of `len` bytes (0 allowed) and sets *buf to where its payload goes,
 * inside the segment. The record is invisible to the consumer until shmring_spsc_commit(). Several
 * reservations may precede one commit. Returns 0, -EAGAIN (full: commit what you reserved, retry
 * later), -EMSGSIZE (len > shmring_spsc_max_record()), -EUCLEAN (the consumer's position is
 * corrupt). No system call. Speed: a consumer that keeps up waits on the line that holds the
 * record's header and the first bytes of *buf (up to the next 64-byte boundary); writing those
 * bytes last, just before the commit, moves that line between the cores once instead of twice
 * (push does so; docs/performance.md, "Copy order in push"). */
static inline int shmring_spsc_reserve(struct shmring_spsc *r, size_t len, void **buf)
{
    uint64_t size, off, pad;
    if (len > r->max_record)
        return -EMSGSIZE;
    size = shmring__spsc_size(r, len);
    off = r->tail & r->mask;
    pad = off + size > r->capacity ? r->capacity - off : 0;
    /* + 8: the word after the record, which we zero. head_cache <= tail, so no underflow. */
    if (r->tail + pad + size + SHMRING_REC_HDR - r->head_cache > r->capacity)
        return shmring__spsc_reserve_slow(r, len, buf);
    *buf = shmring__spsc_place(r, pad, size, len);
    return 0;
}

/* Publishes every record reserved since the last commit with one release store, and wakes the
 * consumer if it sleeps. Returns the number of records published. No system call unless the
 * consumer sleeps. */
static inline unsigned shmring_spsc_commit(struct shmring_spsc *r)
{
    unsigned n = r->pend_count;
    if (r->pend_word == 0)
        return 0;
    /* Publishes the records' headers and payloads: pairs with the acquire load in
     * shmring_spsc_peek(). */
    shmring__store(SHMRING__U64_AT(r->data + (r->pend_pos & r->mask)), r->pend_word, release);
    SHMRING__TEST_POINT(SHMRING__TP_SPSC_COMMIT_WORD);
    r->pend_word = 0;
    r->pend_count = 0;
    r->committed += n;
    /* For the tools and for a later producer's recovery only: nobody waits on these. */
    shmring__store(&r->hdr->prod.pos, r->tail, relaxed);
    SHMRING__TEST_POINT(SHMRING__TP_SPSC_COMMIT_POS);
    shmring__store(&r->hdr->prod.count, r->committed, relaxed);
    SHMRING__TEST_POINT(SHMRING__TP_SPSC_COMMIT_COUNT);
    shmring__spsc_after_publish(r, &r->hdr->wait.consumer_sleeping, SHMRING_SEM_CONSUMER_WAKE);
    return n;
}

/* Copies a record into the ring without publishing it (publish a batch with commit). Returns as
 * shmring_spsc_reserve(). */
static inline int shmring_spsc_write(struct shmring_spsc *r, const void *src, size_t len)
{
    void *buf = NULL;
    int err = shmring_spsc_reserve(r, len, &buf);
    if (err)
        return err;
    shmring__copy_in(buf, src, len);
    return 0;
}

/* Copies a record into the ring and publishes it (with anything reserved before). Returns 0,
 * -EAGAIN (full), -EMSGSIZE, -EUCLEAN. */
static inline int shmring_spsc_push(struct shmring_spsc *r, const void *src, size_t len)
{
    int err = shmring_spsc_write(r, src, len);
    if (err)
        return err;
    shmring_spsc_commit(r);
    return 0;
}

/* --- Consumer fast path --------------------------------------------------------------------- */

/* Hands every released byte back to the producer now (hdr->freed.pos), and wakes it if it sleeps. */
static inline void shmring__spsc_publish(struct shmring_spsc *r)
{
    r->published = r->head;
    /* Pairs with the acquire load of freed.pos in the producer (refresh_head), so our reads of
     * these records happen before it overwrites them. */
    shmring__store(&r->hdr->freed.pos, r->head, release);
    SHMRING__TEST_POINT(SHMRING__TP_SPSC_PUBLISH);
    shmring__spsc_after_publish(r, &r->hdr->wait.producer_sleeping, SHMRING_SEM_PRODUCER_WAKE);
}

/* Frees every record peeked since the last release. Returns the number of records freed. No system
 * call unless the producer sleeps. The position (hdr->cons.pos) is stored at once: a consumer that
 * attaches after this one dies or closes starts after these records. The producer gets the space
 * lazily: once SHMRING_SPSC_PUBLISH_BYTES (at most a quarter of the ring) are released, when peek
 * finds the ring empty (so before any wait sleeps), at padding and at close; a producer about to
 * sleep on a full ring takes the exact position itself, and one asleep is handed the space by the
 * next release. So a producer that polls a full ring without waiting (reserve/push returning
 * -EAGAIN) may see up to that many bytes less room than was freed; a blocking one never sleeps
 * while room was freed. Why: a producer polling a full ring would otherwise take the consumer's
 * line once per record (docs/performance.md, "Lazy release"). */
static inline unsigned shmring_spsc_release(struct shmring_spsc *r)
{
    unsigned n = r->peeked;
    if (r->next == r->head)
        return 0;
    r->head = r->next;
    r->peeked = 0;
    r->released += n;
    /* For a successor consumer and the tools: only this consumer's line, which nobody polls. Release:
     * a successor that reads this position also sees everything we did before. */
    shmring__store(&r->hdr->cons.pos, r->head, release);
    SHMRING__TEST_POINT(SHMRING__TP_SPSC_RELEASE_POS);
    shmring__store(&r->hdr->cons.count, r->released, relaxed);
    SHMRING__TEST_POINT(SHMRING__TP_SPSC_RELEASE_COUNT);
    /* A producer about to sleep announces itself, then looks at cons.pos (and freed.pos): either
     * it sees this store, or we see its announcement here and hand the space back with a wake-up
     * (the barrier pairs with its membarrier or fence, as in shmring__sleepers_after_publish). The
     * wait line is read-mostly (written only by a side about to sleep): a cache hit. */
    if (r->head - r->published >= r->publish_every ||
        shmring__sleepers_after_publish(r->fast_fence, &r->hdr->wait.producer_sleeping))
        shmring__spsc_publish(r);
    return n;
}

/* Sets *buf and *len to the next record, in place in the segment; it stays valid and unchanged
 * until shmring_spsc_release(). Each call returns the record after the one it returned before, so
 * several can be peeked and released together. Returns 0, -EAGAIN (empty), -EPIPE (empty and the
 * producer closed), -EUCLEAN (a record header breaks the ring's geometry; nothing is read outside
 * the segment). No system call. */
static inline int shmring_spsc_peek(struct shmring_spsc *r, const void **buf, size_t *len)
{
    if (r->broken)
        return r->broken;
    for (;;) {
        uint64_t off = r->next & r->mask;
        /* Pairs with the release store in shmring_spsc_commit(): the payload is visible. */
        uint64_t w = shmring__load(SHMRING__U64_AT(r->data + off), acquire);
        uint64_t size;
        if (w == 0) {
            /* Empty: the producer may be about to wait for what we released. */
            if (r->published != r->head)
                shmring__spsc_publish(r);
            /* Pairs with the release store in close(): every record committed before it is
             * visible, so an empty ring now is the end of the stream. */
            if (!shmring__load(&r->hdr->wait.producer_closed, acquire)) {
                /* While we wait, keep the line after the next header warm: a record that spills
                 * into it (a 64-byte payload does) then costs one miss, not two in a row.
                 * Measured: 64-byte ping-pong 203 -> 191 ns (trimmed means, bench/spsc_bench, since replaced by bench/shmring_bench). */
                __builtin_prefetch(r->data + ((off + SHMRING_CACHELINE) & r->mask));
                return -EAGAIN;
            }
            w = shmring__load(SHMRING__U64_AT(r->data + off), acquire);
            if (w == 0)
                return -EPIPE;
        }
        if (!SHMRING_REC_TAG_OK(w))
            return shmring__spsc_corrupt(r);
        if (SHMRING_REC_TYPE(w) == SHMRING_REC_DATA) {
            size = shmring__spsc_size(r, SHMRING_REC_LEN(w));
            if (off + size > r->capacity)
                return shmring__spsc_corrupt(r);
            *buf = r->data + off + SHMRING_REC_HDR;
            *len = SHMRING_REC_LEN(w);
            r->next += size;
            r->peeked++;
            return 0;
        }
        /* A padding record runs exactly to the end of the area and never starts at 0. */
        if (SHMRING_REC_TYPE(w) != SHMRING_REC_PAD || off == 0 || SHMRING_REC_LEN(w) != r->capacity - off)
            return shmring__spsc_corrupt(r);
        r->next += SHMRING_REC_LEN(w);
        /* Give the padding back at once if nothing else is held: a producer waiting to place a
         * large record at offset 0 may need exactly this space. */
        if (r->peeked == 0) {
            shmring_spsc_release(r);
            if (r->published != r->head) /* unless the release just did */
                shmring__spsc_publish(r);
        }
    }
}

/* Copies the next record into buf (at most cap bytes) and marks it peeked, without freeing it
 * (free a batch with release). Returns its length, -EAGAIN, -EPIPE, -EUCLEAN, or -EMSGSIZE when
 * cap is too small: then the record stays next in the ring (peek shows its length). */
static inline ssize_t shmring_spsc_read(struct shmring_spsc *r, void *dst, size_t cap)
{
    const void *buf = NULL;
    size_t len = 0;
    int err = shmring_spsc_peek(r, &buf, &len);
    if (err)
        return err;
    if (len > cap) {
        r->next -= shmring__spsc_size(r, len);
        r->peeked--;
        return -EMSGSIZE;
    }
    if (len && dst) /* dst may be NULL only with cap 0, so len 0: tell the compiler */
        memcpy(dst, buf, len);
    return (ssize_t)len;
}

/* Copies the next record into buf and frees it (with every record peeked before). Returns as
 * shmring_spsc_read(). */
static inline ssize_t shmring_spsc_pop(struct shmring_spsc *r, void *dst, size_t cap)
{
    ssize_t n = shmring_spsc_read(r, dst, cap);
    if (n >= 0)
        shmring_spsc_release(r);
    return n;
}

/* --- Blocking forms ------------------------------------------------------------------------- */
/* They try the fast path first; when the ring is full (empty) they spin, then sleep on the ring's
 * semaphore until space (data) arrives, the peer goes away, or timeout_ns passes (see
 * SHMRING_FOREVER). Errors besides the fast path's: -ETIMEDOUT (timeout > 0 expired), -EAGAIN
 * (timeout 0 and would block), -EPIPE (the other side is gone: a consumer that attached once has
 * closed or died, for a producer; a producer closed or died and every record was read, for a
 * consumer), -EIDRM (the ring was removed), -EDEADLK (the space asked for is held by this
 * producer's own uncommitted records). A waiting call never releases records the caller peeked,
 * and never commits records it reserved, except push_wait which publishes its record. */

static inline int shmring_spsc_reserve_wait(struct shmring_spsc *r, size_t len, void **buf, int64_t timeout_ns)
{
    int64_t deadline = 0;
    for (;;) {
        int err = shmring_spsc_reserve(r, len, buf);
        if (err != -EAGAIN)
            return err;
        if ((err = shmring__spsc_wait_space(r, len, timeout_ns, &deadline)) != 0)
            return err;
    }
}

static inline int shmring_spsc_push_wait(struct shmring_spsc *r, const void *src, size_t len, int64_t timeout_ns)
{
    void *buf = NULL;
    int err = shmring_spsc_reserve_wait(r, len, &buf, timeout_ns);
    if (err)
        return err;
    shmring__copy_in(buf, src, len);
    shmring_spsc_commit(r);
    return 0;
}

static inline int shmring_spsc_peek_wait(struct shmring_spsc *r, const void **buf, size_t *len, int64_t timeout_ns)
{
    int64_t deadline = 0;
    for (;;) {
        int err = shmring_spsc_peek(r, buf, len);
        if (err != -EAGAIN)
            return err;
        if ((err = shmring__spsc_wait_data(r, timeout_ns, &deadline)) != 0)
            return err;
    }
}

static inline ssize_t shmring_spsc_pop_wait(struct shmring_spsc *r, void *dst, size_t cap, int64_t timeout_ns)
{
    int64_t deadline = 0;
    for (;;) {
        ssize_t n = shmring_spsc_pop(r, dst, cap);
        if (n != -EAGAIN)
            return n;
        n = shmring__spsc_wait_data(r, timeout_ns, &deadline);
        if (n)
            return n;
    }
}

#ifdef __cplusplus
}
#endif

#endif /* SHMRING_SPSC_H */
