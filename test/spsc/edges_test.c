/* SPSC full/empty edges: exact fill counts (and a layout model), -EAGAIN/-EMSGSIZE/-EPIPE/-EBUSY/-EDEADLK/-ETIMEDOUT, and producer/consumer reopen. */
#include <sys/shm.h>

#include "spsc_test.h"

SPSC_SUITE(edges);

#define MS ((int64_t)1000 * 1000)

/* --- Fill counts ------------------------------------------------------------------------------ */

/* From an empty ring at offset 0, records of `len` bytes fit while n * size + 8 <= capacity (the
 * producer keeps 8 bytes of slack); the next one needs padding that does not fit either. */
static void fill_count(uint64_t cap, size_t len)
{
    struct shmring_spsc *p, *c;
    uint64_t size = spsc_rec_size(len), expect = (cap - 8) / size, n = 0, i;
    uint8_t *buf = malloc(cap);
    int zero;
    cr_assert(buf);
    spsc_pipe(cap, &p, &c);
    for (;;) {
        int e;
        rec_fill(buf, len, n);
        e = shmring_spsc_push(p, buf, len);
        if (e == -EAGAIN)
            break;
        SPSC_EQ(e, 0);
        n++;
        cr_assert(n <= expect, "cap %" PRIu64 " len %zu: more than %" PRIu64 " records fit", cap, len, expect);
    }
    cr_assert(n == expect, "cap %" PRIu64 " len %zu: %" PRIu64 " records fit, expected %" PRIu64, cap, len, n, expect);
    SPSC_EQU(spsc_prod_pos(p), n * size); /* the failed push published nothing (no padding) */
    /* A 0-byte record (8 bytes) still fits if 16 bytes are left before the end. */
    zero = n * size + 16 <= cap;
    SPSC_EQ(shmring_spsc_push(p, buf, 0), zero ? 0 : -EAGAIN);
    SPSC_EQU(spsc_prod_pos(p), n * size + (zero ? 8 : 0));
    for (i = 0; i < n; i++) {
        ssize_t got = shmring_spsc_pop(c, buf, cap);
        SPSC_EQ(got, len);
        cr_assert(rec_check(buf, len, i));
    }
    SPSC_EQ(shmring_spsc_pop(c, buf, cap), zero ? 0 : -EAGAIN);
    SPSC_EQ(shmring_spsc_pop(c, buf, cap), -EAGAIN);
    free(buf);
    spsc_close_pair(p, c);
}

SPSC_TEST(edges, fill_count_exact)
{
    const size_t lens256[] = {0, 1, 7, 8, 9, 15, 16, 17, 24, 40, 56, 57, 100, 112, 119, 120, 121, 240};
    const size_t lens4k[] = {0, 1, 8, 24, 56, 100, 120, 248, 500, 1000, 1016, 1017, 2040, 2041, 4080};
    size_t i;
    for (i = 0; i < sizeof(lens256) / sizeof(lens256[0]); i++)
        fill_count(256, lens256[i]);
    for (i = 0; i < sizeof(lens4k) / sizeof(lens4k[0]); i++)
        fill_count(4096, lens4k[i]);
}

/* Records whose size divides the capacity: a full ring stays exactly full, and the pops that
 * release a quarter of the ring (the consumer hands space back in such steps while the ring is not
 * empty) make room for exactly as many pushes, around many laps. */
SPSC_TEST(edges, pop_one_push_one_when_full)
{
    const uint64_t caps[] = {256, 4096};
    size_t ci;
    for (ci = 0; ci < 2; ci++) {
        uint64_t cap = caps[ci], size;
        for (size = 8; size <= cap / 2; size *= 2) {
            struct shmring_spsc *p, *c;
            size_t len = (size_t)size - 8;
            uint8_t buf[2048];
            uint64_t sent = 0, recv = 0, i, k, step;
            spsc_pipe(cap, &p, &c);
            for (;;) {
                int e;
                rec_fill(buf, len, sent);
                e = shmring_spsc_push(p, buf, len);
                if (e)
                    break;
                cr_assert(++sent <= cap / 8, "the ring never fills up");
            }
            SPSC_EQU(sent, (cap - 8) / size);
            step = (cap / 4 + size - 1) / size; /* pops that release a quarter of the ring */
            for (i = 0; i < 3 * cap / size + 10; i++) {
                for (k = 0; k < step; k++) {
                    if (k > 0)
                        SPSC_EQ(shmring_spsc_push(p, buf, len), -EAGAIN); /* not handed back yet */
                    SPSC_EQ(shmring_spsc_pop(c, buf, sizeof(buf)), len);
                    cr_assert(rec_check(buf, len, recv));
                    recv++;
                }
                for (k = 0; k < step; k++) {
                    rec_fill(buf, len, sent);
                    SPSC_EQ(shmring_spsc_push(p, buf, len), 0);
                    sent++;
                }
                SPSC_EQ(shmring_spsc_push(p, buf, len), -EAGAIN); /* full again */
            }
            while (recv < sent) {
                SPSC_EQ(shmring_spsc_pop(c, buf, sizeof(buf)), len);
                cr_assert(rec_check(buf, len, recv));
                recv++;
            }
            SPSC_EQ(shmring_spsc_pop(c, buf, sizeof(buf)), -EAGAIN);
            spsc_close_pair(p, c);
        }
    }
}

/* --- A model of the layout -------------------------------------------------------------------- */

/* What the ring should do, from the layout rules alone: records take align8(8 + len) bytes, never
 * straddle the end (padding to the end first), the producer keeps 8 bytes of slack; a push that
 * needs padding that fits alone, with nothing pending, publishes the padding and fails; a
 * consumer gives padding back as soon as it passes it. The producer sees the space the consumer
 * handed back (freed), which follows its position (head) lazily: once a quarter of the ring (at
 * most SHMRING_SPSC_PUBLISH_BYTES) is released, when a peek finds the ring empty, and at padding. */
struct model_ent {
    uint64_t size;
    int64_t len; /* -1: padding */
    uint64_t seq;
};

struct model {
    uint64_t cap, tail, head, freed, every;
    struct model_ent *q;
    size_t qn, qh, qt; /* circular queue of published entries */
};

static void model_enqueue(struct model *m, uint64_t size, int64_t len, uint64_t seq)
{
    struct model_ent *e = &m->q[m->qt++ % m->qn];
    e->size = size;
    e->len = len;
    e->seq = seq;
    cr_assert(m->qt - m->qh <= m->qn);
}

/* 0 and the payload offset in *at, or -EAGAIN. */
static int model_push(struct model *m, size_t len, uint64_t seq, uint64_t *at)
{
    uint64_t size = spsc_rec_size(len), off = m->tail & (m->cap - 1);
    uint64_t pad = off + size > m->cap ? m->cap - off : 0;
    if (m->tail + pad + size + 8 - m->freed <= m->cap) {
        if (pad)
            model_enqueue(m, pad, -1, 0);
        model_enqueue(m, size, (int64_t)len, seq);
        m->tail += pad;
        *at = (m->tail & (m->cap - 1)) + 8;
        m->tail += size;
        return 0;
    }
    if (pad && m->tail + pad + 8 - m->freed <= m->cap) {
        model_enqueue(m, pad, -1, 0);
        m->tail += pad;
    }
    return -EAGAIN;
}

/* 0 with the record's length, seq and payload offset, or -EAGAIN. */
static int model_pop(struct model *m, int64_t *len, uint64_t *seq, uint64_t *at)
{
    while (m->qh != m->qt && m->q[m->qh % m->qn].len < 0) {
        m->head += m->q[m->qh % m->qn].size;
        m->qh++;
        m->freed = m->head; /* nothing else is held here: padding goes back at once */
    }
    if (m->qh == m->qt) {
        m->freed = m->head;
        return -EAGAIN;
    }
    *len = m->q[m->qh % m->qn].len;
    *seq = m->q[m->qh % m->qn].seq;
    *at = (m->head & (m->cap - 1)) + 8;
    m->head += m->q[m->qh % m->qn].size;
    m->qh++;
    /* The caller releases it at once. */
    if (m->head - m->freed >= m->every)
        m->freed = m->head;
    return 0;
}

/* Random pushes and pops of random sizes; every result, payload offset and shared position
 * matches the model. Covers the fill counts and padding decisions at every offset. */
static void model_run(uint64_t cap, unsigned ops, uint64_t seed, uint64_t start)
{
    struct shmring_spsc *p, *c;
    struct model m;
    uint64_t rnd = seed, seq = 0, max;
    uint8_t *buf = malloc(cap);
    unsigned i;
    cr_assert(buf);
    spsc_pipe_at(cap, start, &p, &c);
    max = shmring_spsc_max_record(p);
    memset(&m, 0, sizeof(m));
    m.cap = cap;
    m.tail = m.head = m.freed = start & ~UINT64_C(7);
    m.every = cap / 4 < SHMRING_SPSC_PUBLISH_BYTES ? cap / 4 : SHMRING_SPSC_PUBLISH_BYTES;
    m.qn = (size_t)(cap / 8 + 4);
    m.q = calloc(m.qn, sizeof(*m.q));
    cr_assert(m.q);
    for (i = 0; i < ops; i++) {
        uint64_t r = testutil_rand(&rnd);
        if (r % 100 < 55) {
            /* Sizes: small, around the padding boundaries, or anything up to max. */
            size_t len;
            uint64_t at = 0;
            void *w = NULL;
            int want, got;
            switch ((r >> 8) % 4) {
            case 0:
                len = (size_t)((r >> 16) % 33);
                break;
            case 1:
                len = (size_t)((r >> 16) % (max + 1));
                break;
            case 2: /* exactly the room left before the end, +-8 */
                len = (size_t)((cap - (m.tail & (cap - 1))) + ((r >> 16) % 3) * 8 - 16);
                if (len > max)
                    len = (size_t)max;
                break;
            default:
                len = (size_t)(max - (r >> 16) % 24);
                break;
            }
            want = model_push(&m, len, seq, &at);
            got = shmring_spsc_reserve(p, len, &w);
            cr_assert(got == want, "op %u: reserve(%zu) at tail %" PRIu64 " head %" PRIu64 ": got %d (%s), model %d",
                      i, len, spsc_prod_pos(p), spsc_cons_pos(c), got, shmring_err_name(got), want);
            if (got == 0) {
                SPSC_EQU(spsc_payload_off(p, w, len), at);
                rec_fill(w, len, seq);
                SPSC_EQ(shmring_spsc_commit(p), 1);
                seq++;
            }
        } else {
            int64_t mlen = 0;
            uint64_t mseq = 0, at = 0;
            const void *b = NULL;
            size_t n = 0;
            int want = model_pop(&m, &mlen, &mseq, &at);
            int got = shmring_spsc_peek(c, &b, &n);
            cr_assert(got == want, "op %u: peek: got %d (%s), model %d", i, got, shmring_err_name(got), want);
            if (got == 0) {
                SPSC_EQ(n, mlen);
                SPSC_EQU(spsc_payload_off(c, b, n), at);
                cr_assert(rec_check(b, n, mseq), "op %u: record %" PRIu64 " corrupted", i, mseq);
                SPSC_EQ(shmring_spsc_release(c), 1);
            }
        }
        SPSC_EQU(spsc_prod_pos(p), m.tail);
        SPSC_EQU(spsc_cons_pos(c), m.head);
        SPSC_EQU(shmring__load(&c->hdr->freed.pos, relaxed), m.freed);
    }
    free(m.q);
    free(buf);
    spsc_close_pair(p, c);
}

SPSC_TEST(edges, layout_model_256)
{
    model_run(256, 40000, 1, 0);
}

SPSC_TEST(edges, layout_model_4k)
{
    model_run(4096, 40000, 2, 0);
}

/* From positions that are not multiples of the capacity, and across 2^32 and 2^64. */
SPSC_TEST(edges, layout_model_odd_starts)
{
    model_run(256, 20000, 3, 8 * 13);
    model_run(256, 20000, 4, (UINT64_C(1) << 32) - 256 * 100 - 8 * 7);
    model_run(256, 20000, 5, UINT64_MAX - 256 * 100 - 8 * 3);
    model_run(4096, 20000, 6, UINT64_MAX - 4096 * 10 - 8 * 301);
}

/* --- Empty ------------------------------------------------------------------------------------ */

SPSC_TEST(edges, empty_is_eagain)
{
    struct shmring_spsc *p, *c;
    const void *b = (const void *)&b;
    size_t n = 12345;
    uint8_t buf[64];
    spsc_pipe(256, &p, &c);
    SPSC_EQ(shmring_spsc_peek(c, &b, &n), -EAGAIN);
    SPSC_EQ(shmring_spsc_read(c, buf, sizeof(buf)), -EAGAIN);
    SPSC_EQ(shmring_spsc_pop(c, buf, sizeof(buf)), -EAGAIN);
    SPSC_EQ(shmring_spsc_release(c), 0);
    spsc_push_rec(p, 10, 1);
    spsc_pop_rec(c, 10, 1);
    SPSC_EQ(shmring_spsc_peek(c, &b, &n), -EAGAIN);
    SPSC_EQ(shmring_spsc_pop(c, buf, sizeof(buf)), -EAGAIN);
    /* Zero-length records are records. */
    SPSC_EQ(shmring_spsc_push(p, NULL, 0), 0);
    SPSC_EQ(shmring_spsc_pop(c, NULL, 0), 0);
    SPSC_EQ(shmring_spsc_pop(c, NULL, 0), -EAGAIN);
    spsc_close_pair(p, c);
}

/* --- Buffers too small, records too large ---------------------------------------------------- */

/* read/pop into a buffer smaller than the record: -EMSGSIZE, and the record stays next. */
SPSC_TEST(edges, small_buffer_keeps_record)
{
    struct shmring_spsc *p, *c;
    uint8_t buf[128];
    const void *b = NULL;
    size_t n = 0;
    uint64_t released;
    spsc_pipe(256, &p, &c);
    spsc_push_rec(p, 100, 1);
    spsc_push_rec(p, 0, 2);
    SPSC_EQ(shmring_spsc_read(c, buf, 99), -EMSGSIZE);
    SPSC_EQ(shmring_spsc_pop(c, buf, 0), -EMSGSIZE);
    SPSC_EQ(shmring_spsc_pop(c, buf, 50), -EMSGSIZE);
    SPSC_EQ(shmring_spsc_release(c), 0); /* nothing was peeked */
    SPSC_EQU(spsc_cons_pos(c), 0);
    SPSC_EQU(shmring__load(&c->hdr->cons.count, relaxed), 0);
    /* peek shows the record's length */
    SPSC_EQ(shmring_spsc_peek(c, &b, &n), 0);
    SPSC_EQ(n, 100);
    cr_assert(rec_check(b, n, 1));
    SPSC_EQ(shmring_spsc_release(c), 1);
    SPSC_EQ(shmring_spsc_pop(c, NULL, 0), 0); /* the 0-byte record fits a 0-byte buffer */
    SPSC_EQ(shmring_spsc_pop(c, buf, sizeof(buf)), -EAGAIN);

    /* After a held record and a padding record: the too-small read leaves the wrapped record next
     * and the release frees the held record and the padding. */
    spsc_move_to(p, c, 200);
    released = shmring__load(&c->hdr->cons.count, relaxed);
    spsc_push_rec(p, 16, 3);  /* 200..224 */
    spsc_push_rec(p, 100, 4); /* padding 224..256, record at 0..112 */
    SPSC_EQ(shmring_spsc_peek(c, &b, &n), 0);
    SPSC_EQ(n, 16);
    SPSC_EQ(shmring_spsc_read(c, buf, 99), -EMSGSIZE);
    SPSC_EQ(shmring_spsc_read(c, buf, 99), -EMSGSIZE);
    SPSC_EQ(shmring_spsc_release(c), 1);
    SPSC_EQU(spsc_cons_pos(c) & 255, 0);
    SPSC_EQ(shmring_spsc_read(c, buf, 100), 100);
    cr_assert(rec_check(buf, 100, 4));
    SPSC_EQ(shmring_spsc_release(c), 1);
    SPSC_EQU(spsc_cons_pos(c), spsc_prod_pos(p));
    SPSC_EQU(shmring__load(&c->hdr->cons.count, relaxed), released + 2);
    spsc_close_pair(p, c);
}

/* max_record + 1 is -EMSGSIZE for every producer call, whatever the ring holds. */
SPSC_TEST(edges, record_too_large)
{
    const uint64_t caps[] = {256, 4096, 1u << 20};
    size_t i;
    for (i = 0; i < 3; i++) {
        struct shmring_spsc *p, *c;
        uint64_t max;
        uint8_t *buf;
        void *w = NULL;
        spsc_pipe(caps[i], &p, &c);
        max = shmring_spsc_max_record(p);
        buf = calloc(1, (size_t)max + 1);
        cr_assert(buf);
        SPSC_EQ(shmring_spsc_reserve(p, (size_t)max + 1, &w), -EMSGSIZE);
        SPSC_EQ(shmring_spsc_write(p, buf, (size_t)max + 1), -EMSGSIZE);
        SPSC_EQ(shmring_spsc_push(p, buf, (size_t)max + 1), -EMSGSIZE);
        SPSC_EQ(shmring_spsc_push_wait(p, buf, (size_t)max + 1, 0), -EMSGSIZE);
        SPSC_EQ(shmring_spsc_push_wait(p, buf, (size_t)max + 1, SHMRING_FOREVER), -EMSGSIZE);
        SPSC_EQ(shmring_spsc_reserve_wait(p, (size_t)max + 1, &w, 10 * MS), -EMSGSIZE);
        SPSC_EQ(shmring_spsc_reserve(p, SIZE_MAX, &w), -EMSGSIZE);
        SPSC_EQ(shmring_spsc_reserve(p, (size_t)UINT32_MAX + 1, &w), -EMSGSIZE);
        SPSC_EQ(shmring_spsc_commit(p), 0);
        SPSC_EQU(spsc_prod_pos(p), 0);
        /* max_record itself goes through, on the empty ring at offset 0. */
        rec_fill(buf, (size_t)max, 9);
        SPSC_EQ(shmring_spsc_push(p, buf, (size_t)max), 0);
        SPSC_EQ(shmring_spsc_push(p, buf, 0), -EAGAIN); /* exactly full: 8 bytes of slack left */
        memset(buf, 0, (size_t)max);
        SPSC_EQ(shmring_spsc_pop(c, buf, (size_t)max), max);
        cr_assert(rec_check(buf, (size_t)max, 9));
        free(buf);
        spsc_close_pair(p, c);
    }
}

/* A record header stores the length in 32 bits. On a ring larger than 4 GiB, max_record is above
 * UINT32_MAX: a record of 4 GiB + 8 bytes must either be refused (-EMSGSIZE) or arrive with its
 * length. Uses an 8 GiB segment, of which only a few pages are touched (skipped if the system
 * refuses the segment). */
SPSC_TEST(edges, record_length_above_32_bits)
{
    struct shmring_config cfg = spsc_cfg(UINT64_C(8) << 30);
    struct shmring_spsc *p, *c;
    const uint64_t len = (UINT64_C(1) << 32) + 8;
    void *w = NULL;
    const void *b = NULL;
    size_t n = 0;
    int e = shmring_spsc_pipe(&cfg, &p, &c);
    if (e == -ENOMEM || e == -ENOSPC) {
        spsc_assert_no_ipc();
        cr_skip_test("no 8 GiB segment on this machine: %s", shmring_err_name(e));
    }
    SPSC_EQ(e, 0);
    cr_log_info("max_record of an 8 GiB ring: %" PRIu64, shmring_spsc_max_record(p));
    e = shmring_spsc_reserve(p, (size_t)len, &w);
    if (e == 0) {
        /* Only the first and last bytes of the payload are written (pages are touched lazily). */
        ((uint8_t *)w)[0] = 0x11;
        ((uint8_t *)w)[len - 1] = 0x22;
        SPSC_EQ(shmring_spsc_commit(p), 1);
        SPSC_EQ(shmring_spsc_peek(c, &b, &n), 0);
        cr_expect(n == len, "record of %" PRIu64 " bytes arrived with length %zu (32-bit length field)", len, n);
        SPSC_EQU(spsc_payload_off(c, b, 0), spsc_payload_off(p, w, 0)); /* each handle maps the ring itself */
    } else {
        SPSC_EQ(e, -EMSGSIZE);
        cr_expect(shmring_spsc_max_record(p) <= UINT32_MAX, "max_record %" PRIu64 " but a smaller record was refused",
                  shmring_spsc_max_record(p));
    }
    spsc_close_pair(p, c);
}

/* --- End of stream ---------------------------------------------------------------------------- */

/* Everything pushed before the producer closed is read first, then -EPIPE from every consumer
 * call, including the blocking ones, at once. */
SPSC_TEST(edges, epipe_after_producer_close)
{
    char name[64];
    struct shmring_spsc *p, *c;
    uint8_t buf[64];
    const void *b = NULL;
    size_t n = 0;
    int64_t t0;
    uint64_t i;
    spsc_create(name, "eof", 1024);
    spsc_open_pair(name, &p, &c);
    for (i = 0; i < 20; i++)
        spsc_push_rec(p, (size_t)(i * 3 % 40), i);
    SPSC_EQ(shmring_spsc_close(p), 0);
    SPSC_EQ(shmring_spsc_peer_count(c), 0);
    for (i = 0; i < 20; i++) {
        ssize_t got = i % 2 ? shmring_spsc_pop(c, buf, sizeof(buf)) : shmring_spsc_pop_wait(c, buf, sizeof(buf), 0);
        SPSC_EQ(got, i * 3 % 40);
        cr_assert(rec_check(buf, (size_t)got, i));
    }
    SPSC_EQ(shmring_spsc_pop(c, buf, sizeof(buf)), -EPIPE);
    SPSC_EQ(shmring_spsc_peek(c, &b, &n), -EPIPE);
    SPSC_EQ(shmring_spsc_read(c, buf, sizeof(buf)), -EPIPE);
    SPSC_EQ(shmring_spsc_pop_wait(c, buf, sizeof(buf), 0), -EPIPE);
    t0 = testutil_now_ns();
    SPSC_EQ(shmring_spsc_pop_wait(c, buf, sizeof(buf), 2000 * MS), -EPIPE);
    SPSC_EQ(shmring_spsc_peek_wait(c, &b, &n, SHMRING_FOREVER), -EPIPE);
    cr_expect(testutil_now_ns() - t0 < 1000 * MS, "end of stream took %" PRId64 " ms", (testutil_now_ns() - t0) / MS);
    SPSC_EQ(shmring_spsc_close(c), 0);
    SPSC_EQ(shmring_unlink(name), 0);
}

/* A producer that reattaches continues after the last committed record; reserved but
 * uncommitted records of the closed producer are dropped; the consumer reads on without a gap. */
SPSC_TEST(edges, producer_reopen_continues)
{
    char name[64];
    struct shmring_spsc *p, *c;
    uint8_t buf[64];
    void *w = NULL;
    spsc_create(name, "reop", 256);
    spsc_open_pair(name, &p, &c);
    spsc_push_rec(p, 10, 0);
    spsc_push_rec(p, 20, 1);
    spsc_push_rec(p, 30, 2);
    SPSC_EQ(shmring_spsc_reserve(p, 40, &w), 0); /* never committed */
    memset(w, 0x5a, 40);
    SPSC_EQ(shmring_spsc_reserve(p, 8, &w), 0);
    memset(w, 0x5a, 8);
    SPSC_EQ(shmring_spsc_close(p), 0);
    spsc_pop_rec(c, 10, 0);
    SPSC_EQ(shmring_spsc_open(name, SHMRING_PRODUCER, &p), 0);
    SPSC_EQU(shmring__load(&p->hdr->prod.count, relaxed), 3);
    spsc_push_rec(p, 5, 3);
    spsc_push_rec(p, 6, 4);
    spsc_pop_rec(c, 20, 1);
    spsc_pop_rec(c, 30, 2);
    spsc_pop_rec(c, 5, 3);
    spsc_pop_rec(c, 6, 4);
    SPSC_EQ(shmring_spsc_pop(c, buf, sizeof(buf)), -EAGAIN); /* a producer is attached again */
    SPSC_EQU(shmring__load(&p->hdr->prod.count, relaxed), 5);
    SPSC_EQU(shmring__load(&c->hdr->cons.count, relaxed), 5);
    spsc_close_pair(p, c);
    SPSC_EQ(shmring_unlink(name), 0);
}

/* Many producer sessions of random records, around many laps; sometimes the consumer is behind
 * when the producer reattaches, sometimes the last commit's prod.pos store is rolled back (as if
 * the producer died between its commit and that store): the new producer finds the end of the
 * committed records by walking them. */
SPSC_TEST(edges, producer_reopen_many_sessions)
{
    char name[64];
    struct shmring_spsc *p, *c;
    uint8_t buf[256];
    uint64_t rnd = 99, sent = 0, recv = 0;
    int session;
    spsc_create(name, "sess", 1024);
    spsc_open_pair(name, &p, &c);
    for (session = 0; session < 300; session++) {
        unsigned k = (unsigned)(testutil_rand(&rnd) % 6), i;
        uint64_t prev_pos = spsc_prod_pos(p);
        for (i = 0; i < k; i++) {
            size_t len = (size_t)(testutil_rand(&rnd) % 200);
            int e;
            rec_fill(buf, len, sent);
            e = shmring_spsc_push(p, buf, len);
            if (e == -EAGAIN)
                break;
            SPSC_EQ(e, 0);
            prev_pos = spsc_prod_pos(p) - spsc_rec_size(len);
            sent++;
        }
        if (testutil_rand(&rnd) % 3 == 0 && k > 0) {
            /* Roll prod.pos back to the start of the last record (which may follow padding, so
             * only when that start is the record's own position). */
            uint64_t pos = spsc_prod_pos(p);
            if (prev_pos < pos && prev_pos >= spsc_cons_pos(c))
                shmring__store(&p->hdr->prod.pos, prev_pos, relaxed);
        }
        SPSC_EQ(shmring_spsc_close(p), 0);
        /* The consumer reads some of it. */
        k = (unsigned)(testutil_rand(&rnd) % 8);
        for (i = 0; i < k && recv < sent; i++) {
            ssize_t n = shmring_spsc_pop(c, buf, sizeof(buf));
            if (n == -EAGAIN || n == -EPIPE)
                break; /* a padding record the producer published alone */
            cr_assert(n >= 0, "session %d: pop: %zd", session, n);
            cr_assert(rec_check(buf, (size_t)n, recv), "session %d: record %" PRIu64, session, recv);
            recv++;
        }
        SPSC_EQ(shmring_spsc_open(name, SHMRING_PRODUCER, &p), 0);
        SPSC_EQU(shmring__load(&p->hdr->prod.count, relaxed), sent);
    }
    for (;;) {
        ssize_t n = shmring_spsc_pop(c, buf, sizeof(buf));
        if (n == -EAGAIN)
            break;
        cr_assert(n >= 0, "drain: pop: %zd", n);
        cr_assert(rec_check(buf, (size_t)n, recv), "drain: record %" PRIu64, recv);
        cr_assert(++recv <= sent, "more records than were sent");
    }
    SPSC_EQU(recv, sent);
    spsc_close_pair(p, c);
    SPSC_EQ(shmring_unlink(name), 0);
}

/* A new consumer starts at the first record not released: records its predecessor peeked but did
 * not release are delivered again. */
SPSC_TEST(edges, consumer_reopen_redelivers_unreleased)
{
    char name[64];
    struct shmring_spsc *p, *c;
    const void *b = NULL;
    size_t n = 0;
    uint64_t i;
    spsc_create(name, "creop", 1024);
    spsc_open_pair(name, &p, &c);
    for (i = 0; i < 6; i++)
        spsc_push_rec(p, 24 + i, i);
    spsc_pop_rec(c, 24, 0);
    spsc_pop_rec(c, 25, 1);
    SPSC_EQ(shmring_spsc_peek(c, &b, &n), 0); /* 2 */
    SPSC_EQ(shmring_spsc_peek(c, &b, &n), 0); /* 3 */
    SPSC_EQ(shmring_spsc_close(c), 0);
    SPSC_EQ(shmring_spsc_open(name, SHMRING_CONSUMER, &c), 0);
    SPSC_EQU(shmring__load(&c->hdr->cons.count, relaxed), 2);
    for (i = 2; i < 6; i++)
        spsc_pop_rec(c, 24 + i, i);
    SPSC_EQU(shmring__load(&c->hdr->cons.count, relaxed), 6);
    spsc_close_pair(p, c);
    SPSC_EQ(shmring_unlink(name), 0);
}

/* --- One producer, one consumer --------------------------------------------------------------- */

SPSC_TEST(edges, second_producer_or_consumer_is_busy)
{
    char name[64];
    struct shmring_spsc *p, *c, *x = (struct shmring_spsc *)&x;
    spsc_create(name, "busy", 256);
    spsc_open_pair(name, &p, &c);
    SPSC_EQ(shmring_spsc_open(name, SHMRING_PRODUCER, &x), -EBUSY);
    cr_assert_null(x);
    SPSC_EQ(shmring_spsc_open(name, SHMRING_CONSUMER, &x), -EBUSY);
    cr_assert_null(x);
    SPSC_EQ(shmring_spsc_peer_count(p), 1);
    SPSC_EQ(shmring_spsc_peer_count(c), 1);
    /* Once the role is free, it can be taken again. */
    SPSC_EQ(shmring_spsc_close(p), 0);
    SPSC_EQ(shmring_spsc_peer_count(c), 0);
    SPSC_EQ(shmring_spsc_open(name, SHMRING_PRODUCER, &p), 0);
    SPSC_EQ(shmring_spsc_close(c), 0);
    SPSC_EQ(shmring_spsc_peer_count(p), 0);
    SPSC_EQ(shmring_spsc_open(name, SHMRING_CONSUMER, &c), 0);
    SPSC_EQ(shmring_spsc_open(name, SHMRING_CONSUMER, &x), -EBUSY);
    spsc_push_rec(p, 3, 3);
    spsc_pop_rec(c, 3, 3);
    spsc_close_pair(p, c);
    SPSC_EQ(shmring_unlink(name), 0);
}

/* --- Blocking forms --------------------------------------------------------------------------- */

/* Fills the ring with 56-byte records; returns how many. */
static unsigned fill_up(struct shmring_spsc *p)
{
    return spsc_fill(p, 56);
}

SPSC_TEST(edges, timeout_zero_is_eagain)
{
    struct shmring_spsc *p, *c;
    uint8_t buf[64];
    const void *b = NULL;
    size_t n = 0;
    void *w = NULL;
    int spin;
    spsc_pipe(256, &p, &c);
    for (spin = 0; spin < 2; spin++) {
        if (spin) {
            shmring_spsc_set_spin(p, 0);
            shmring_spsc_set_spin(c, 0);
        }
        SPSC_EQ(shmring_spsc_pop_wait(c, buf, sizeof(buf), 0), -EAGAIN);
        SPSC_EQ(shmring_spsc_peek_wait(c, &b, &n, 0), -EAGAIN);
        cr_assert(fill_up(p) > 0);
        SPSC_EQ(shmring_spsc_push_wait(p, buf, 56, 0), -EAGAIN);
        SPSC_EQ(shmring_spsc_reserve_wait(p, 56, &w, 0), -EAGAIN);
        spsc_drain(c, NULL);
    }
    spsc_close_pair(p, c);
}

/* A small timeout expires: -ETIMEDOUT, not before the timeout, and within generous bounds. */
SPSC_TEST(edges, small_timeout_expires)
{
    struct shmring_spsc *p, *c;
    uint8_t buf[64];
    const void *b = NULL;
    size_t n = 0;
    void *w = NULL;
    const int64_t tmo = 50 * MS;
    int64_t t0, dt;
    int k;
    spsc_pipe(256, &p, &c);
    cr_assert(fill_up(p) > 0);
    for (k = 0; k < 4; k++) {
        int e;
        t0 = testutil_now_ns();
        switch (k) {
        case 0:
            e = shmring_spsc_push_wait(p, buf, 56, tmo);
            break;
        case 1:
            e = shmring_spsc_reserve_wait(p, 56, &w, tmo);
            break;
        case 2:
            spsc_drain(c, NULL);
            t0 = testutil_now_ns();
            e = (int)shmring_spsc_pop_wait(c, buf, sizeof(buf), tmo);
            break;
        default:
            e = shmring_spsc_peek_wait(c, &b, &n, tmo);
            break;
        }
        dt = testutil_now_ns() - t0;
        cr_assert(e == -ETIMEDOUT, "call %d: got %d (%s), expected -ETIMEDOUT", k, e, shmring_err_name(e));
        cr_assert(dt >= tmo - MS, "call %d returned after %" PRId64 " us, before its %" PRId64 " ms timeout", k,
                  dt / 1000, tmo / MS);
        cr_assert(dt < 5000 * MS, "call %d took %" PRId64 " ms for a %" PRId64 " ms timeout", k, dt / MS, tmo / MS);
    }
    spsc_close_pair(p, c);
}

/* A producer whose consumer has gone: -EPIPE from the blocking calls on a full ring (the
 * non-blocking ones say -EAGAIN); a new consumer makes them work again. */
SPSC_TEST(edges, producer_epipe_when_consumer_gone)
{
    char name[64];
    struct shmring_spsc *p, *c;
    uint8_t buf[64];
    int64_t t0;
    memset(buf, 0, sizeof(buf));
    spsc_create(name, "nocons", 256);
    spsc_open_pair(name, &p, &c);
    SPSC_EQ(shmring_spsc_close(c), 0);
    SPSC_EQ(shmring_spsc_peer_count(p), 0);
    SPSC_EQ(shmring_spsc_push_wait(p, buf, 56, 0), 0); /* room: no wait, no error */
    cr_assert(fill_up(p) > 0);
    SPSC_EQ(shmring_spsc_push(p, buf, 56), -EAGAIN);
    SPSC_EQ(shmring_spsc_push_wait(p, buf, 56, 0), -EPIPE);
    t0 = testutil_now_ns();
    SPSC_EQ(shmring_spsc_push_wait(p, buf, 56, 3000 * MS), -EPIPE);
    cr_expect(testutil_now_ns() - t0 < 1000 * MS);
    SPSC_EQ(shmring_spsc_open(name, SHMRING_CONSUMER, &c), 0);
    SPSC_EQ(shmring_spsc_pop(c, buf, sizeof(buf)), 56);
    SPSC_EQ(shmring_spsc_push_wait(p, buf, 56, 1000 * MS), 0);
    spsc_close_pair(p, c);
    SPSC_EQ(shmring_unlink(name), 0);
}

/* A producer whose consumer never came: a blocking push on a full ring waits (times out); it is
 * not end of stream. */
SPSC_TEST(edges, producer_without_consumer_yet_waits)
{
    char name[64];
    struct shmring_spsc *p;
    uint8_t buf[64];
    memset(buf, 0, sizeof(buf));
    spsc_create(name, "nocons", 256);
    SPSC_EQ(shmring_spsc_open(name, SHMRING_PRODUCER, &p), 0);
    SPSC_EQ(shmring_spsc_peer_count(p), 0);
    cr_assert(fill_up(p) > 0);
    SPSC_EQ(shmring_spsc_push_wait(p, buf, 56, 0), -EAGAIN);
    SPSC_EQ(shmring_spsc_push_wait(p, buf, 56, 20 * MS), -ETIMEDOUT);
    SPSC_EQ(shmring_spsc_close(p), 0);
    SPSC_EQ(shmring_unlink(name), 0);
}

/* A consumer whose producer never came: waits (times out), not end of stream. */
SPSC_TEST(edges, consumer_without_producer_yet_waits)
{
    char name[64];
    struct shmring_spsc *c;
    uint8_t buf[64];
    spsc_create(name, "noprod", 256);
    SPSC_EQ(shmring_spsc_open(name, SHMRING_CONSUMER, &c), 0);
    SPSC_EQ(shmring_spsc_pop(c, buf, sizeof(buf)), -EAGAIN);
    SPSC_EQ(shmring_spsc_pop_wait(c, buf, sizeof(buf), 0), -EAGAIN);
    SPSC_EQ(shmring_spsc_pop_wait(c, buf, sizeof(buf), 20 * MS), -ETIMEDOUT);
    SPSC_EQ(shmring_spsc_close(c), 0);
    SPSC_EQ(shmring_unlink(name), 0);
}

/* reserve_wait for space that only the caller's own uncommitted records hold: -EDEADLK at once
 * (whatever the timeout); once they are committed it is an ordinary wait for the consumer. */
SPSC_TEST(edges, reserve_wait_own_records_edeadlk)
{
    struct shmring_spsc *p, *c;
    void *w = NULL;
    uint8_t buf[64];
    int64_t t0;
    int i;
    spsc_pipe(256, &p, &c);
    for (i = 0; i < 3; i++)
        SPSC_EQ(shmring_spsc_reserve(p, 56, &w), 0); /* 192 bytes held, uncommitted */
    SPSC_EQ(shmring_spsc_reserve(p, 56, &w), -EAGAIN);
    t0 = testutil_now_ns();
    SPSC_EQ(shmring_spsc_reserve_wait(p, 56, &w, 0), -EDEADLK);
    SPSC_EQ(shmring_spsc_reserve_wait(p, 56, &w, 2000 * MS), -EDEADLK);
    SPSC_EQ(shmring_spsc_reserve_wait(p, 56, &w, SHMRING_FOREVER), -EDEADLK);
    SPSC_EQ(shmring_spsc_push_wait(p, buf, 56, SHMRING_FOREVER), -EDEADLK);
    cr_expect(testutil_now_ns() - t0 < 1000 * MS);
    /* Smaller records that fit beside the held ones are no deadlock. */
    SPSC_EQ(shmring_spsc_reserve_wait(p, 40, &w, 0), 0);
    SPSC_EQ(shmring_spsc_commit(p), 4);
    /* Committed: the consumer can free them, so this is an ordinary full ring. */
    SPSC_EQ(shmring_spsc_reserve_wait(p, 56, &w, 0), -EAGAIN);
    for (i = 0; i < 3; i++)
        SPSC_EQ(shmring_spsc_pop(c, buf, sizeof(buf)), 56);
    SPSC_EQ(shmring_spsc_pop(c, buf, sizeof(buf)), 40);
    SPSC_EQ(shmring_spsc_reserve_wait(p, 56, &w, 0), 0);
    SPSC_EQ(shmring_spsc_commit(p), 1);
    spsc_close_pair(p, c);
}

/* "peek/release/pop/read on a producer handle, reserve/commit/push/write on a consumer handle:
 * -EINVAL, checked only by the out-of-line calls" (spsc.h). The blocking forms reach the
 * out-of-line wait when the fast path cannot complete: there the wrong role must be -EINVAL. */
SPSC_TEST(edges, wrong_role_in_blocking_calls)
{
    struct shmring_spsc *p, *c;
    uint8_t buf[64];
    const void *b = NULL;
    size_t n = 0;
    spsc_pipe(256, &p, &c);
    shmring_spsc_set_spin(p, 0);
    shmring_spsc_set_spin(c, 0);
    /* Producer handle, empty ring: peek_wait/pop_wait cannot complete inline. */
    SPSC_EXPECT_EQ(shmring_spsc_pop_wait(p, buf, sizeof(buf), 10 * MS), -EINVAL);
    SPSC_EXPECT_EQ(shmring_spsc_peek_wait(p, &b, &n, 0), -EINVAL);
    SPSC_EQU(spsc_cons_pos(c), 0);
    spsc_close_pair(p, c);
}

/* --- Copy order --------------------------------------------------------------------------------- */

/* shmring__copy_in (push on every ring kind) copies the bytes past the destination's first cache
 * line before those in it: every byte lands where it belongs, and nothing outside [dst, dst + len)
 * is written, at every offset in a line and for lengths across one, two and three lines. */
Test(edges, copy_in_every_offset_and_length)
{
    static uint8_t area[512] __attribute__((aligned(64)));
    uint8_t src[256];
    size_t off, len, i;
    for (i = 0; i < sizeof(src); i++)
        src[i] = (uint8_t)(i * 7 + 1);
    for (off = 0; off < 128; off++) {
        for (len = 0; len <= 200; len++) {
            memset(area, 0xEE, sizeof(area));
            shmring__copy_in(area + off, src, len);
            for (i = 0; i < sizeof(area); i++) {
                uint8_t want = (i >= off && i < off + len) ? src[i - off] : 0xEE;
                cr_assert(area[i] == want, "offset %zu length %zu: byte %zu is 0x%02x, expected 0x%02x", off, len,
                          i, area[i], want);
            }
        }
    }
    memset(area, 0xEE, sizeof(area));
    shmring__copy_in(area + 3, NULL, 0); /* NULL source with length 0: nothing is written */
    for (i = 0; i < sizeof(area); i++)
        cr_assert(area[i] == 0xEE, "length 0 wrote byte %zu", i);
}
