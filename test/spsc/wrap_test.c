/* SPSC wraparound: many laps (push/pop and reserve/commit/peek/release), every record size at every start offset, and the padding rule for records that must wrap. */
#include <pthread.h>
#include <time.h>

#include "spsc_test.h"

SPSC_SUITE(wrap);

/* Length of record `seq` in the lap tests: mostly up to 512 bytes, one in eight up to `max`. */
static size_t lap_len(uint64_t seq, uint64_t max)
{
    uint64_t s = seq ^ UINT64_C(0x6c61707320617265);
    uint64_t r = testutil_rand(&s);
    uint64_t lim = (r & 7) == 0 || max < 512 ? max : 512;
    return (size_t)((r >> 8) % (lim + 1));
}

/* Laps with the copying calls: bursts of pushes until full, bursts of pops until empty. Positions
 * start at `start` (they are 64-bit byte counts; a start just below 2^64 makes them wrap). */
static void laps_push_pop(uint64_t cap, uint64_t laps, uint64_t start)
{
    struct shmring_spsc *p, *c;
    uint64_t sent = 0, recv = 0, rnd = cap, max;
    int idle = 0;
    uint8_t *in, *out;

    spsc_pipe_at(cap, start, &p, &c);
    max = shmring_spsc_max_record(p);
    in = malloc(cap);
    out = malloc(cap);
    cr_assert(in && out);
    while (spsc_cons_pos(c) - start < laps * cap) {
        unsigned burst = 1 + (unsigned)(testutil_rand(&rnd) % 24), i;
        int progress = 0;
        for (i = 0; i < burst; i++) {
            size_t len = lap_len(sent, max);
            int e;
            rec_fill(in, len, sent);
            e = shmring_spsc_push(p, in, len);
            if (e == -EAGAIN)
                break;
            SPSC_EQ(e, 0);
            sent++;
            progress = 1;
        }
        burst = 1 + (unsigned)(testutil_rand(&rnd) % 24);
        for (i = 0; i < burst; i++) {
            ssize_t n = shmring_spsc_pop(c, out, cap);
            if (n == -EAGAIN)
                break;
            cr_assert(n >= 0, "pop of record %" PRIu64 ": %zd (%s)", recv, n, shmring_err_name((int)n));
            SPSC_EQ(n, lap_len(recv, max));
            cr_assert(rec_check(out, (size_t)n, recv), "record %" PRIu64 " (%zd bytes) corrupted", recv, n);
            recv++;
            progress = 1;
        }
        /* A record that must wrap may fail once on an empty ring (its padding is published) and
         * the consumer's next pop passes the padding: at most two idle rounds in a row. */
        idle = progress ? 0 : idle + 1;
        cr_assert(idle < 3, "no progress: sent %" PRIu64 ", received %" PRIu64, sent, recv);
    }
    for (;;) {
        ssize_t n = shmring_spsc_pop(c, out, cap);
        if (n == -EAGAIN)
            break;
        SPSC_EQ(n, lap_len(recv, max));
        cr_assert(rec_check(out, (size_t)n, recv));
        cr_assert(++recv <= sent, "more records than were sent");
    }
    SPSC_EQU(recv, sent);
    SPSC_EQU(shmring__load(&p->hdr->prod.count, relaxed), sent);
    SPSC_EQU(shmring__load(&c->hdr->cons.count, relaxed), recv);
    cr_assert(spsc_prod_pos(p) - start >= laps * cap);
    free(in);
    free(out);
    spsc_close_pair(p, c);
}

SPSC_TEST(wrap, laps_push_pop_256)
{
    laps_push_pop(256, 2000, 0);
}

SPSC_TEST(wrap, laps_push_pop_4k)
{
    laps_push_pop(4096, 400, 0);
}

SPSC_TEST(wrap, laps_push_pop_64k)
{
    laps_push_pop(65536, 150, 0);
}

/* The same with positions crossing 2^32 and 2^64 during the run, from starts that are not
 * multiples of the capacity. */
SPSC_TEST(wrap, laps_push_pop_across_2_32)
{
    laps_push_pop(4096, 200, (UINT64_C(1) << 32) - 100 * 4096 - 8 * 37);
}

SPSC_TEST(wrap, laps_push_pop_across_2_64)
{
    laps_push_pop(256, 2000, UINT64_MAX - 1000 * 256 - 8 * 5);
    laps_push_pop(4096, 200, UINT64_MAX - 100 * 4096 - 8 * 300);
    laps_push_pop(65536, 50, UINT64_MAX - 20 * 65536 - 8 * 1234);
}

/* Laps in place: batches of reservations published by one commit, batches of peeks freed by one
 * release; payloads are written and checked inside the segment. */
static void laps_in_place(uint64_t cap, uint64_t laps, uint64_t start)
{
    struct shmring_spsc *p, *c;
    uint64_t sent = 0, recv = 0, rnd = cap ^ 0x77, max;
    int idle = 0;

    spsc_pipe_at(cap, start, &p, &c);
    max = shmring_spsc_max_record(p);
    while (spsc_cons_pos(c) - start < laps * cap) {
        unsigned batch = 1 + (unsigned)(testutil_rand(&rnd) % 8), i, pending = 0, peeked = 0;
        int progress = 0;
        for (i = 0; i < batch; i++) {
            size_t len = lap_len(sent + pending, max);
            void *buf = NULL;
            int e = shmring_spsc_reserve(p, len, &buf);
            if (e == -EAGAIN)
                break;
            SPSC_EQ(e, 0);
            spsc_payload_off(p, buf, len);
            rec_fill(buf, len, sent + pending);
            pending++;
        }
        SPSC_EQ(shmring_spsc_commit(p), pending);
        sent += pending;
        progress |= pending > 0;
        batch = 1 + (unsigned)(testutil_rand(&rnd) % 8);
        for (i = 0; i < batch; i++) {
            const void *buf = NULL;
            size_t len = 0;
            int e = shmring_spsc_peek(c, &buf, &len);
            if (e == -EAGAIN)
                break;
            SPSC_EQ(e, 0);
            SPSC_EQ(len, lap_len(recv + peeked, max));
            spsc_payload_off(c, buf, len);
            cr_assert(rec_check(buf, len, recv + peeked), "record %" PRIu64 " corrupted", recv + peeked);
            peeked++;
        }
        SPSC_EQ(shmring_spsc_release(c), peeked);
        recv += peeked;
        progress |= peeked > 0;
        idle = progress ? 0 : idle + 1;
        cr_assert(idle < 3, "no progress: sent %" PRIu64 ", received %" PRIu64, sent, recv);
    }
    SPSC_EQU(shmring__load(&p->hdr->prod.count, relaxed), sent);
    SPSC_EQU(shmring__load(&c->hdr->cons.count, relaxed), recv);
    spsc_close_pair(p, c);
}

SPSC_TEST(wrap, laps_in_place_256)
{
    laps_in_place(256, 2000, 0);
}

SPSC_TEST(wrap, laps_in_place_4k)
{
    laps_in_place(4096, 400, 0);
}

SPSC_TEST(wrap, laps_in_place_64k)
{
    laps_in_place(65536, 150, 0);
}

SPSC_TEST(wrap, laps_in_place_across_2_64)
{
    laps_in_place(256, 2000, UINT64_MAX - 1000 * 256 - 8 * 11);
    laps_in_place(4096, 200, UINT64_MAX - 100 * 4096 - 8 * 3);
    laps_in_place(65536, 50, UINT64_MAX - 20 * 65536);
}

/* Producer and consumer sessions (close, reopen) while the positions cross 2^64: a new producer
 * finds the end of the committed records, a new consumer the first unreleased one. */
SPSC_TEST(wrap, reopen_across_2_64)
{
    struct shmring_config cfg = spsc_cfg(1024);
    struct shmring_spsc *p, *c;
    char name[64];
    uint8_t buf[256];
    uint64_t rnd = 17, sent = 0, recv = 0;
    int session;
    cfg.start_position = UINT64_MAX - 50 * 1024 + 1;
    snprintf(name, sizeof(name), "%s", testutil_name("wrap64"));
    SPSC_EQ(shmring_spsc_create(name, &cfg), 0);
    spsc_open_pair(name, &p, &c);
    SPSC_EQU(spsc_prod_pos(p), cfg.start_position & ~UINT64_C(7));
    for (session = 0; session < 400; session++) {
        unsigned k = (unsigned)(testutil_rand(&rnd) % 8), i;
        for (i = 0; i < k; i++) {
            size_t len = (size_t)(testutil_rand(&rnd) % 250);
            int e;
            rec_fill(buf, len, sent);
            e = shmring_spsc_push(p, buf, len);
            if (e == -EAGAIN)
                break;
            SPSC_EQ(e, 0);
            sent++;
        }
        k = (unsigned)(testutil_rand(&rnd) % 8);
        for (i = 0; i < k; i++) {
            ssize_t n = shmring_spsc_pop(c, buf, sizeof(buf));
            if (n == -EAGAIN)
                break;
            cr_assert(n >= 0, "session %d: pop: %zd (%s)", session, n, shmring_err_name((int)n));
            cr_assert(rec_check(buf, (size_t)n, recv), "session %d: record %" PRIu64, session, recv);
            recv++;
        }
        if (session % 2) {
            SPSC_EQ(shmring_spsc_close(p), 0);
            SPSC_EQ(shmring_spsc_open(name, SHMRING_PRODUCER, &p), 0);
        } else {
            const void *b = NULL;
            size_t n = 0;
            (void)shmring_spsc_peek(c, &b, &n); /* peeked, not released: delivered again */
            SPSC_EQ(shmring_spsc_close(c), 0);
            SPSC_EQ(shmring_spsc_open(name, SHMRING_CONSUMER, &c), 0);
        }
    }
    cr_assert(spsc_prod_pos(p) < UINT64_C(1) << 20, "the positions did not cross 2^64 (%" PRIu64 ")", spsc_prod_pos(p));
    for (;;) {
        ssize_t n = shmring_spsc_pop(c, buf, sizeof(buf));
        if (n == -EAGAIN)
            break;
        cr_assert(n >= 0);
        cr_assert(rec_check(buf, (size_t)n, recv));
        cr_assert(++recv <= sent, "more records than were sent");
    }
    SPSC_EQU(recv, sent);
    spsc_close_pair(p, c);
    SPSC_EQ(shmring_unlink(name), 0);
}

/* One record of `len` bytes on the empty ring at data offset `off`, checked against the layout:
 *   - it fits before the end: placed at off;
 *   - it must wrap and fits with its padding (pad + size + 8 <= capacity, i.e. size + 8 <= off):
 *     padding to the end, record at offset 0;
 *   - otherwise (documented): -EAGAIN even though the ring is empty; the padding alone is
 *     published; -EAGAIN again until the consumer passes the padding (a pop/peek that returns
 *     -EAGAIN does that); then the record goes to offset 0.
 * in_place: reserve/commit + peek/release; else push + pop. */
static void one_record_at(struct shmring_spsc *p, struct shmring_spsc *c, uint64_t off, size_t len, uint64_t seq,
                          int in_place, uint8_t *tmp)
{
    uint64_t cap = shmring_spsc_capacity(p), size = shmring__spsc_size(p, len), at, tail0;
    int must_wait;
    int e;
    void *w = NULL;

    spsc_move_to(p, c, off);
    tail0 = spsc_prod_pos(p);
    if (off + size <= cap) {
        at = off;
        must_wait = 0;
    } else {
        at = 0;
        must_wait = size + 8 > off;
    }
    if (in_place) {
        e = shmring_spsc_reserve(p, len, &w);
    } else {
        rec_fill(tmp, len, seq);
        e = shmring_spsc_push(p, tmp, len);
    }
    if (must_wait) {
        const void *b = NULL;
        size_t n = 0;
        cr_assert(e == -EAGAIN, "len %zu at offset %" PRIu64 ": got %d (%s), expected -EAGAIN (wrap with padding does not fit)",
                  len, off, e, shmring_err_name(e));
        /* The padding alone was published. */
        SPSC_EQU(spsc_prod_pos(p), tail0 + (cap - off));
        /* Still -EAGAIN: the consumer has not passed the padding. */
        e = in_place ? shmring_spsc_reserve(p, len, &w) : shmring_spsc_push(p, tmp, len);
        SPSC_EQ(e, -EAGAIN);
        SPSC_EQU(spsc_prod_pos(p), tail0 + (cap - off));
        /* The consumer passes the padding and finds nothing. */
        if (seq & 1) {
            SPSC_EQ(shmring_spsc_peek(c, &b, &n), -EAGAIN);
        } else {
            SPSC_EQ(shmring_spsc_pop(c, tmp + cap, cap), -EAGAIN);
        }
        SPSC_EQU(spsc_cons_pos(c), tail0 + (cap - off));
        e = in_place ? shmring_spsc_reserve(p, len, &w) : shmring_spsc_push(p, tmp, len);
    }
    cr_assert(e == 0, "len %zu at offset %" PRIu64 ": got %d (%s)", len, off, e, shmring_err_name(e));
    if (in_place) {
        SPSC_EQU(spsc_payload_off(p, w, len), at + 8);
        rec_fill(w, len, seq);
        SPSC_EQ(shmring_spsc_commit(p), 1);
    }
    if (in_place) {
        const void *b = NULL;
        size_t n = 0;
        SPSC_EQ(shmring_spsc_peek(c, &b, &n), 0);
        SPSC_EQ(n, len);
        SPSC_EQU(spsc_payload_off(c, b, n), at + 8);
        cr_assert(rec_check(b, n, seq), "len %zu at offset %" PRIu64 ": contents", len, off);
        SPSC_EQ(shmring_spsc_release(c), 1);
    } else {
        ssize_t n = shmring_spsc_pop(c, tmp + cap, cap);
        SPSC_EQ(n, len);
        cr_assert(rec_check(tmp + cap, len, seq), "len %zu at offset %" PRIu64 ": contents", len, off);
    }
    SPSC_EQU(spsc_prod_pos(p) & (cap - 1), (at + size) & (cap - 1));
    SPSC_EQU(spsc_cons_pos(c), spsc_prod_pos(p));
}

/* Every size from 0 to max_record at every start offset a record can have (all 32 of a 256-byte
 * ring; with SHMRING_F_ALIGN64 every 64th). */
static void every_size_every_offset(uint64_t cap, uint32_t flags, int in_place)
{
    struct shmring_spsc *p, *c;
    uint8_t *tmp = malloc(2 * cap);
    uint64_t seq = 0, off, max;
    size_t len;
    cr_assert(tmp);
    spsc_pipe_flags(cap, flags, &p, &c);
    max = shmring_spsc_max_record(p);
    for (off = 0; off < cap; off += spsc_align(p))
        for (len = 0; len <= max; len++)
            one_record_at(p, c, off, len, seq++, in_place, tmp);
    /* max_record + 1 never fits. */
    SPSC_EQ(shmring_spsc_push(p, tmp, max + 1), -EMSGSIZE);
    free(tmp);
    spsc_close_pair(p, c);
}

SPSC_TEST(wrap, every_size_every_offset_256_push_pop)
{
    every_size_every_offset(256, 0, 0);
}

SPSC_TEST(wrap, every_size_every_offset_256_in_place)
{
    every_size_every_offset(256, 0, 1);
}

/* 64-byte records: each payload starts 8 bytes into a line of its own (one_record_at checks the
 * offset), padding runs in whole lines, max_record is capacity - 72. */
SPSC_TEST(wrap, align64_every_size_every_offset_256_push_pop)
{
    every_size_every_offset(256, SHMRING_F_ALIGN64, 0);
}

SPSC_TEST(wrap, align64_every_size_every_offset_256_in_place)
{
    every_size_every_offset(256, SHMRING_F_ALIGN64, 1);
}

SPSC_TEST(wrap, align64_every_size_every_offset_4k_in_place)
{
    every_size_every_offset(4096, SHMRING_F_ALIGN64, 1);
}

/* 4 KiB: every size at the offsets where the layout changes for that size (start, end, exact fit
 * at the end, one slot past it, the padding boundary size + 8 and its neighbours, the middle),
 * and every offset for the sizes at the boundaries (0, 1, 7, 8, 9, half, max - 1, max). */
static void every_size_4k(int in_place)
{
    const uint64_t cap = 4096;
    struct shmring_spsc *p, *c;
    uint8_t *tmp = malloc(2 * cap);
    uint64_t seq = 1, rnd = 42, max, off;
    size_t len;
    cr_assert(tmp);
    spsc_pipe(cap, &p, &c);
    max = shmring_spsc_max_record(p);
    for (len = 0; len <= max; len++) {
        uint64_t size = spsc_rec_size(len);
        uint64_t offs[] = {0, 8, cap / 2, cap - 8, cap - size, cap - size + 8, size, size + 8, size - 8,
                           (testutil_rand(&rnd) % (cap / 8)) * 8};
        size_t i;
        for (i = 0; i < sizeof(offs) / sizeof(offs[0]); i++)
            if (offs[i] < cap)
                one_record_at(p, c, offs[i], len, seq++, in_place, tmp);
    }
    {
        const size_t lens[] = {0, 1, 7, 8, 9, cap / 2 - 8, cap / 2, max - 1, max};
        size_t i;
        for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++)
            for (off = 0; off < cap; off += 8)
                one_record_at(p, c, off, lens[i], seq++, in_place, tmp);
    }
    free(tmp);
    spsc_close_pair(p, c);
}

SPSC_TEST(wrap, every_size_4k_push_pop)
{
    every_size_4k(0);
}

SPSC_TEST(wrap, every_size_4k_in_place)
{
    every_size_4k(1);
}

/* The documented padding rule, spelled out once: 256-byte ring, empty at offset 128, a record of
 * max_record (240) bytes needs 128 bytes of padding + 248 + 8 > 256. */
SPSC_TEST(wrap, wrap_on_empty_ring_needs_consumer_to_pass_padding)
{
    struct shmring_spsc *p, *c;
    uint8_t in[240], out[240];
    const void *b = NULL;
    size_t n = 0;
    spsc_pipe(256, &p, &c);
    spsc_move_to(p, c, 128);
    rec_fill(in, sizeof(in), 7);
    SPSC_EQ(shmring_spsc_push(p, in, 240), -EAGAIN);
    SPSC_EQU(spsc_prod_pos(p), 256); /* the padding (128 bytes) is published */
    SPSC_EQ(shmring_spsc_push(p, in, 240), -EAGAIN);
    SPSC_EQU(spsc_prod_pos(p), 256); /* and only once */
    SPSC_EQU(spsc_cons_pos(c), 128);
    /* A peek that returns -EAGAIN passes the padding and gives it back at once. */
    SPSC_EQ(shmring_spsc_peek(c, &b, &n), -EAGAIN);
    SPSC_EQU(spsc_cons_pos(c), 256);
    SPSC_EQU(shmring__load(&c->hdr->cons.count, relaxed), 1); /* padding is not a record */
    SPSC_EQ(shmring_spsc_push(p, in, 240), 0);
    SPSC_EQU(shmring__load(&p->hdr->prod.count, relaxed), 2);
    SPSC_EQ(shmring_spsc_pop(c, out, sizeof(out)), 240);
    cr_assert(rec_check(out, 240, 7));
    SPSC_EQU(spsc_prod_pos(p), 256 + 248);
    SPSC_EQU(spsc_cons_pos(c), 256 + 248);
    spsc_close_pair(p, c);
}

/* The padding is published alone only when nothing is pending: with reserved, uncommitted records
 * the call returns -EAGAIN and publishes nothing (commit, then retry). */
SPSC_TEST(wrap, padding_not_published_with_pending_batch)
{
    struct shmring_spsc *p, *c;
    void *w = NULL;
    const void *b = NULL;
    size_t n = 0;
    spsc_pipe(256, &p, &c);
    spsc_move_to(p, c, 96);
    SPSC_EQ(shmring_spsc_reserve(p, 8, &w), 0); /* 16 bytes at 96 */
    rec_fill(w, 8, 1);
    SPSC_EQ(shmring_spsc_reserve(p, 240, &w), -EAGAIN); /* 112 + 16 + 248 + 8 > 256 */
    SPSC_EQU(spsc_prod_pos(p), 96);                     /* nothing published */
    SPSC_EQ(shmring_spsc_peek(c, &b, &n), -EAGAIN);
    SPSC_EQ(shmring_spsc_commit(p), 1);
    SPSC_EQU(spsc_prod_pos(p), 112);
    /* Now nothing is pending: the padding (144 bytes) fits and is published, the record not. */
    SPSC_EQ(shmring_spsc_reserve(p, 240, &w), -EAGAIN);
    SPSC_EQU(spsc_prod_pos(p), 256);
    spsc_pop_rec(c, 8, 1);                          /* frees 96..112 */
    SPSC_EQ(shmring_spsc_peek(c, &b, &n), -EAGAIN); /* passes the padding */
    SPSC_EQU(spsc_cons_pos(c), 256);
    SPSC_EQ(shmring_spsc_reserve(p, 240, &w), 0);
    SPSC_EQU(spsc_payload_off(p, w, 240), 8);
    rec_fill(w, 240, 2);
    SPSC_EQ(shmring_spsc_commit(p), 1);
    spsc_pop_rec(c, 240, 2);
    spsc_close_pair(p, c);
}

/* A consumer that holds a record (peeked, not released) does not give the padding back at once;
 * after its release the producer can place the wrapped record. */
SPSC_TEST(wrap, padding_held_with_peeked_records)
{
    struct shmring_spsc *p, *c;
    void *w = NULL;
    const void *b = NULL;
    size_t n = 0;
    spsc_pipe(256, &p, &c);
    spsc_move_to(p, c, 112);
    spsc_push_rec(p, 8, 1); /* 112..128 */
    SPSC_EQ(shmring_spsc_peek(c, &b, &n), 0);
    SPSC_EQ(n, 8);
    /* 128 + 248 + 8 - 112 > 256 and the padding (128) alone fits: published. */
    SPSC_EQ(shmring_spsc_reserve(p, 240, &w), -EAGAIN);
    SPSC_EQU(spsc_prod_pos(p), 256);
    SPSC_EQ(shmring_spsc_peek(c, &b, &n), -EAGAIN); /* passes the padding, keeps it (record held) */
    SPSC_EQU(spsc_cons_pos(c), 112);
    SPSC_EQ(shmring_spsc_reserve(p, 240, &w), -EAGAIN);
    SPSC_EQ(shmring_spsc_release(c), 1); /* the record and the padding */
    SPSC_EQU(spsc_cons_pos(c), 256);
    SPSC_EQ(shmring_spsc_reserve(p, 240, &w), 0);
    rec_fill(w, 240, 2);
    SPSC_EQ(shmring_spsc_commit(p), 1);
    spsc_pop_rec(c, 240, 2);
    spsc_close_pair(p, c);
}

/* --- Blocking producer and a record that must wrap ------------------------------------------ */

struct drain {
    struct shmring_spsc *c;
    int64_t delay_ns;
    int want;      /* records to pop */
    int got;       /* records popped */
    ssize_t err;   /* last error, 0 if none */
    size_t lens[8];
};

static void *drain_thread(void *arg)
{
    struct drain *d = (struct drain *)arg;
    uint8_t buf[256];
    struct timespec ts = {0, (long)d->delay_ns};
    nanosleep(&ts, NULL);
    while (d->got < d->want) {
        ssize_t n = shmring_spsc_pop_wait(d->c, buf, sizeof(buf), 5LL * 1000 * 1000 * 1000);
        if (n < 0) {
            d->err = n;
            break;
        }
        d->lens[d->got++] = (size_t)n;
    }
    return NULL;
}

/* Ring of 256 bytes holding two unread records (tail at offset 128). A record of 240 bytes must
 * wrap; its padding (128) does not fit until the consumer frees space. Nothing is pending, so no
 * record of this producer holds the space: the consumer can free it, and the blocking forms must
 * wait (-EAGAIN for timeout 0, -ETIMEDOUT, or success when a consumer drains), never -EDEADLK
 * ("the space asked for is held by this producer's own uncommitted records"). */
SPSC_TEST(wrap, push_wait_wrapping_record_waits_for_consumer)
{
    struct shmring_spsc *p, *c;
    uint8_t big[240];
    struct drain d;
    pthread_t th;
    int e;
    memset(big, 0xab, sizeof(big));
    spsc_pipe(256, &p, &c);
    spsc_push_rec(p, 56, 0);
    spsc_push_rec(p, 56, 1);
    SPSC_EQU(spsc_prod_pos(p), 128);
    shmring_spsc_set_spin(p, 16);
    SPSC_EXPECT_EQ(shmring_spsc_push_wait(p, big, sizeof(big), 0), -EAGAIN);
    SPSC_EXPECT_EQ(shmring_spsc_push_wait(p, big, sizeof(big), 20 * 1000 * 1000), -ETIMEDOUT);

    memset(&d, 0, sizeof(d));
    d.c = c;
    d.delay_ns = 20 * 1000 * 1000;
    d.want = 3;
    cr_assert_eq(pthread_create(&th, NULL, drain_thread, &d), 0);
    e = shmring_spsc_push_wait(p, big, sizeof(big), 5LL * 1000 * 1000 * 1000);
    SPSC_EXPECT_EQ(e, 0);
    if (e != 0) {
        /* Let the drain thread finish: close the producer (end of stream). */
        shmring_spsc_close(p);
        p = NULL;
    }
    pthread_join(th, NULL);
    SPSC_EQ(e, 0);
    SPSC_EQ(d.err, 0);
    SPSC_EQ(d.got, 3);
    SPSC_EQ(d.lens[2], 240);
    spsc_close_pair(p, c);
}
