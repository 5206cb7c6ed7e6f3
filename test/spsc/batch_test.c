/* SPSC batches: N reservations published by one commit, N peeks freed by one release, batches across a wrap, write/read, empty commit/release, and the shared counters. */
#include "spsc_test.h"

SPSC_SUITE(batch);

/* N reserved records are invisible until the one commit, which returns N; then the consumer sees
 * all N in order. */
SPSC_TEST(batch, reserve_n_commit_once)
{
    struct shmring_spsc *p, *c;
    const void *b = NULL;
    size_t n = 0;
    void *w[10];
    uint64_t i;
    spsc_pipe(4096, &p, &c);
    for (i = 0; i < 10; i++) {
        SPSC_EQ(shmring_spsc_reserve(p, 10 + 7 * i, &w[i]), 0);
        rec_fill(w[i], 10 + 7 * i, i);
        if (i > 0)
            cr_assert((uint8_t *)w[i] > (uint8_t *)w[i - 1], "reservations go forward");
        SPSC_EQ(shmring_spsc_peek(c, &b, &n), -EAGAIN); /* nothing published yet */
    }
    SPSC_EQU(spsc_prod_pos(p), 0);
    SPSC_EQU(shmring__load(&p->hdr->prod.count, relaxed), 0);
    SPSC_EQ(shmring_spsc_commit(p), 10);
    SPSC_EQU(shmring__load(&p->hdr->prod.count, relaxed), 10);
    SPSC_EQ(shmring_spsc_commit(p), 0);
    for (i = 0; i < 10; i++) {
        SPSC_EQ(shmring_spsc_peek(c, &b, &n), 0);
        SPSC_EQ(n, 10 + 7 * i);
        SPSC_EQU(spsc_payload_off(c, b, n), spsc_payload_off(p, w[i], n));
        cr_assert(rec_check(b, n, i), "record %" PRIu64, i);
    }
    SPSC_EQ(shmring_spsc_peek(c, &b, &n), -EAGAIN);
    SPSC_EQ(shmring_spsc_release(c), 10);
    SPSC_EQU(spsc_cons_pos(c), spsc_prod_pos(p));
    spsc_close_pair(p, c);
}

/* N peeks, one release returning N; the space comes back only then. */
SPSC_TEST(batch, peek_n_release_once)
{
    struct shmring_spsc *p, *c;
    const void *b[16];
    size_t n = 0;
    uint64_t i, pos;
    uint8_t buf[64];
    spsc_pipe(256, &p, &c);
    for (i = 0; i < 7; i++)
        spsc_push_rec(p, 24, i); /* 7 * 32 = 224; 224 + 32 + 8 > 256: full */
    SPSC_EQ(shmring_spsc_push(p, buf, 24), -EAGAIN);
    for (i = 0; i < 7; i++) {
        SPSC_EQ(shmring_spsc_peek(c, &b[i], &n), 0);
        SPSC_EQ(n, 24);
        cr_assert(rec_check(b[i], n, i));
        if (i > 0)
            SPSC_EQU(spsc_payload_off(c, b[i], n) - spsc_payload_off(c, b[i - 1], n), 32);
    }
    SPSC_EQ(shmring_spsc_peek(c, &b[7], &n), -EAGAIN);
    pos = spsc_cons_pos(c);
    SPSC_EQU(pos, 0);
    SPSC_EQ(shmring_spsc_push(p, buf, 24), -EAGAIN); /* peeked is not freed */
    /* Peeked payloads stay valid and unchanged until the release. */
    for (i = 0; i < 7; i++)
        cr_assert(rec_check(b[i], 24, i));
    SPSC_EQ(shmring_spsc_release(c), 7);
    SPSC_EQ(shmring_spsc_release(c), 0);
    SPSC_EQU(spsc_cons_pos(c), 224);
    SPSC_EQU(shmring__load(&c->hdr->cons.count, relaxed), 7);
    SPSC_EQ(shmring_spsc_push(p, buf, 24), 0);
    spsc_close_pair(p, c);
}

/* A batch with a padding record in the middle: A before the end, padding, B at offset 0, C after
 * it; invisible until the commit (3), peeked in order, one release (3) frees them and the padding. */
SPSC_TEST(batch, batch_across_wrap)
{
    struct shmring_spsc *p, *c;
    const void *b = NULL;
    size_t n = 0;
    void *wa = NULL, *wb = NULL, *wc = NULL;
    uint64_t start;
    spsc_pipe(256, &p, &c);
    spsc_move_to(p, c, 192);
    start = spsc_prod_pos(p);
    SPSC_EQ(shmring_spsc_reserve(p, 40, &wa), 0); /* 192..240 */
    SPSC_EQ(shmring_spsc_reserve(p, 56, &wb), 0); /* padding 240..256, then 0..64 */
    SPSC_EQ(shmring_spsc_reserve(p, 8, &wc), 0);  /* 64..80 */
    SPSC_EQU(spsc_payload_off(p, wa, 40), 200);
    SPSC_EQU(spsc_payload_off(p, wb, 56), 8);
    SPSC_EQU(spsc_payload_off(p, wc, 8), 72);
    rec_fill(wa, 40, 1);
    rec_fill(wb, 56, 2);
    rec_fill(wc, 8, 3);
    SPSC_EQ(shmring_spsc_peek(c, &b, &n), -EAGAIN);
    SPSC_EQU(spsc_prod_pos(p), start);
    SPSC_EQ(shmring_spsc_commit(p), 3); /* padding is not counted */
    SPSC_EQU(spsc_prod_pos(p), start + 48 + 16 + 64 + 16);
    SPSC_EQ(shmring_spsc_peek(c, &b, &n), 0);
    SPSC_EQ(n, 40);
    cr_assert(rec_check(b, n, 1));
    SPSC_EQ(shmring_spsc_peek(c, &b, &n), 0);
    SPSC_EQ(n, 56);
    SPSC_EQU(spsc_payload_off(c, b, n), 8);
    cr_assert(rec_check(b, n, 2));
    SPSC_EQ(shmring_spsc_peek(c, &b, &n), 0);
    SPSC_EQ(n, 8);
    cr_assert(rec_check(b, n, 3));
    SPSC_EQ(shmring_spsc_peek(c, &b, &n), -EAGAIN);
    SPSC_EQU(spsc_cons_pos(c), start); /* the padding was passed but is held with A */
    SPSC_EQ(shmring_spsc_release(c), 3);
    SPSC_EQU(spsc_cons_pos(c), spsc_prod_pos(p));
    spsc_close_pair(p, c);
}

/* A batch that starts with the padding: the first word of the batch (held back for the commit) is
 * the padding record's. */
SPSC_TEST(batch, batch_starting_with_padding)
{
    struct shmring_spsc *p, *c;
    const void *b = NULL;
    size_t n = 0;
    void *w = NULL;
    uint64_t start, i;
    spsc_pipe(256, &p, &c);
    spsc_move_to(p, c, 232);
    start = spsc_prod_pos(p);
    for (i = 0; i < 4; i++) {
        SPSC_EQ(shmring_spsc_reserve(p, 24, &w), 0); /* padding 232..256, then 0..32, ... */
        SPSC_EQU(spsc_payload_off(p, w, 24), 32 * i + 8);
        rec_fill(w, 24, i);
    }
    SPSC_EQ(shmring_spsc_peek(c, &b, &n), -EAGAIN);
    SPSC_EQU(spsc_cons_pos(c), start); /* not even the padding is visible */
    SPSC_EQ(shmring_spsc_commit(p), 4);
    for (i = 0; i < 4; i++) {
        SPSC_EQ(shmring_spsc_peek(c, &b, &n), 0);
        SPSC_EQ(n, 24);
        cr_assert(rec_check(b, n, i));
    }
    SPSC_EQ(shmring_spsc_release(c), 4);
    SPSC_EQU(spsc_cons_pos(c), start + 24 + 4 * 32);
    spsc_close_pair(p, c);
}

/* When a reservation in a batch finds the ring full, what was reserved before is intact: commit
 * publishes it (and only it). */
SPSC_TEST(batch, batch_until_full)
{
    struct shmring_spsc *p, *c;
    void *w = NULL;
    uint64_t k = 0, i;
    spsc_pipe(1024, &p, &c);
    for (;;) {
        int e = shmring_spsc_reserve(p, 100, &w);
        if (e == -EAGAIN)
            break;
        SPSC_EQ(e, 0);
        rec_fill(w, 100, k++);
        cr_assert(k <= 1024 / 112, "more reservations than fit");
    }
    SPSC_EQU(k, (1024 - 8) / 112);
    SPSC_EQU(spsc_prod_pos(p), 0);
    SPSC_EQ(shmring_spsc_commit(p), k);
    for (i = 0; i < k; i++)
        spsc_pop_rec(c, 100, i);
    SPSC_EQ(shmring_spsc_pop(c, &k, sizeof(k)), -EAGAIN);
    spsc_close_pair(p, c);
}

/* write N + commit, read N + release. */
SPSC_TEST(batch, write_commit_read_release)
{
    struct shmring_spsc *p, *c;
    uint8_t buf[300];
    uint64_t i, round;
    spsc_pipe(4096, &p, &c);
    for (round = 0; round < 50; round++) {
        unsigned k = 1 + (unsigned)(round % 12);
        for (i = 0; i < k; i++) {
            rec_fill(buf, (size_t)(round * 13 + i) % 300, round * 100 + i);
            SPSC_EQ(shmring_spsc_write(p, buf, (size_t)(round * 13 + i) % 300), 0);
        }
        SPSC_EQ(shmring_spsc_read(c, buf, sizeof(buf)), -EAGAIN);
        SPSC_EQ(shmring_spsc_commit(p), k);
        for (i = 0; i < k; i++) {
            ssize_t n = shmring_spsc_read(c, buf, sizeof(buf));
            SPSC_EQ(n, (round * 13 + i) % 300);
            cr_assert(rec_check(buf, (size_t)n, round * 100 + i));
        }
        SPSC_EQ(shmring_spsc_read(c, buf, sizeof(buf)), -EAGAIN);
        SPSC_EQ(shmring_spsc_release(c), k);
    }
    spsc_close_pair(p, c);
}

/* push publishes everything reserved before it too; pop frees everything peeked before it. */
SPSC_TEST(batch, push_and_pop_close_the_batch)
{
    struct shmring_spsc *p, *c;
    uint8_t buf[64];
    void *w = NULL;
    const void *b = NULL;
    size_t n = 0;
    spsc_pipe(1024, &p, &c);
    SPSC_EQ(shmring_spsc_reserve(p, 16, &w), 0);
    rec_fill(w, 16, 0);
    SPSC_EQ(shmring_spsc_write(p, buf, 0), 0);
    rec_fill(buf, 20, 2);
    SPSC_EQ(shmring_spsc_push(p, buf, 20), 0);
    SPSC_EQU(shmring__load(&p->hdr->prod.count, relaxed), 3);
    SPSC_EQ(shmring_spsc_commit(p), 0);
    SPSC_EQ(shmring_spsc_peek(c, &b, &n), 0);
    SPSC_EQ(n, 16);
    SPSC_EQ(shmring_spsc_read(c, buf, sizeof(buf)), 0);
    SPSC_EQ(shmring_spsc_pop(c, buf, sizeof(buf)), 20);
    cr_assert(rec_check(buf, 20, 2));
    SPSC_EQU(shmring__load(&c->hdr->cons.count, relaxed), 3);
    SPSC_EQ(shmring_spsc_release(c), 0);
    SPSC_EQU(spsc_cons_pos(c), spsc_prod_pos(p));
    spsc_close_pair(p, c);
}

SPSC_TEST(batch, empty_commit_and_release_return_zero)
{
    struct shmring_spsc *p, *c;
    uint8_t buf[64];
    spsc_pipe(256, &p, &c);
    SPSC_EQ(shmring_spsc_commit(p), 0);
    SPSC_EQ(shmring_spsc_release(c), 0);
    SPSC_EQU(spsc_prod_pos(p), 0);
    SPSC_EQU(spsc_cons_pos(c), 0);
    spsc_push_rec(p, 5, 5);
    SPSC_EQ(shmring_spsc_commit(p), 0);
    SPSC_EQ(shmring_spsc_release(c), 0);
    /* A too-small read peeks nothing: the release after it frees nothing. */
    SPSC_EQ(shmring_spsc_read(c, buf, 4), -EMSGSIZE);
    SPSC_EQ(shmring_spsc_release(c), 0);
    SPSC_EQU(spsc_cons_pos(c), 0);
    spsc_pop_rec(c, 5, 5);
    SPSC_EQ(shmring_spsc_release(c), 0);
    SPSC_EQ(shmring_spsc_commit(p), 0);
    SPSC_EQU(shmring__load(&p->hdr->prod.count, relaxed), 1);
    SPSC_EQU(shmring__load(&c->hdr->cons.count, relaxed), 1);
    spsc_close_pair(p, c);
}

/* hdr->prod.count / hdr->cons.count follow the committed / released records (never the padding),
 * over random batches around many laps; prod.pos / cons.pos move only at commit / release. */
SPSC_TEST(batch, counters_mirror_records)
{
    struct shmring_spsc *p, *c;
    uint64_t rnd = 5, committed = 0, released = 0, reserved = 0, peeked = 0;
    int i;
    spsc_pipe(512, &p, &c);
    for (i = 0; i < 20000; i++) {
        uint64_t r = testutil_rand(&rnd);
        uint64_t ppos = spsc_prod_pos(p), cpos = spsc_cons_pos(c);
        switch (r % 4) {
        case 0: {
            void *w = NULL;
            size_t len = (size_t)((r >> 8) % 497);
            int e = shmring_spsc_reserve(p, len, &w);
            cr_assert(e == 0 || e == -EAGAIN, "reserve: %d", e);
            if (e == 0) {
                rec_fill(w, len, committed + reserved);
                reserved++;
            }
            if (reserved)
                SPSC_EQU(spsc_prod_pos(p), ppos);
            break;
        }
        case 1:
            SPSC_EQ(shmring_spsc_commit(p), reserved);
            committed += reserved;
            reserved = 0;
            break;
        case 2: {
            const void *b = NULL;
            size_t n = 0;
            uint64_t held = peeked; /* with nothing held, a peek gives passed padding back */
            int e = shmring_spsc_peek(c, &b, &n);
            if (e == 0) {
                cr_assert(rec_check(b, n, released + peeked), "record %" PRIu64, released + peeked);
                peeked++;
            } else {
                SPSC_EQ(e, -EAGAIN);
            }
            if (held)
                SPSC_EQU(spsc_cons_pos(c), cpos);
            break;
        }
        default:
            SPSC_EQ(shmring_spsc_release(c), peeked);
            released += peeked;
            peeked = 0;
            break;
        }
        SPSC_EQU(shmring__load(&p->hdr->prod.count, relaxed), committed);
        SPSC_EQU(shmring__load(&c->hdr->cons.count, relaxed), released);
        cr_assert(spsc_cons_pos(c) <= spsc_prod_pos(p));
    }
    cr_assert(spsc_prod_pos(p) > 100 * 512, "only %" PRIu64 " bytes went through", spsc_prod_pos(p));
    spsc_close_pair(p, c);
}

/* While the consumer holds peeked records (not released), the producer fills every byte it may use
 * with small records, one commit each, from every start offset: the held payloads never change
 * (nothing the producer writes ahead of its records, zeroed header words included, may reach
 * space the consumer has not released), and everything arrives intact afterwards. */
static void held_records_stay_intact(uint64_t cap)
{
    struct shmring_spsc *p, *c;
    uint64_t off, rnd = cap;
    uint8_t buf[64];
    spsc_pipe(cap, &p, &c);
    for (off = 0; off < cap; off += 8) {
        const void *held[4];
        size_t held_len[4];
        uint64_t seq = 0, recv = 0, nheld = 1 + testutil_rand(&rnd) % 4, i;
        spsc_move_to(p, c, off);
        /* A few records, all peeked and held. */
        for (i = 0; i < nheld; i++)
            spsc_push_rec(p, (size_t)(8 + testutil_rand(&rnd) % 40), seq++);
        for (i = 0; i < nheld; i++) {
            SPSC_EQ(shmring_spsc_peek(c, &held[i], &held_len[i]), 0);
            cr_assert(rec_check(held[i], held_len[i], i));
        }
        /* Fill the rest with small records, one commit each (0..24 bytes). */
        for (;;) {
            size_t len = (size_t)(testutil_rand(&rnd) % 25);
            int e;
            rec_fill(buf, len, seq);
            e = shmring_spsc_push(p, buf, len);
            if (e == -EAGAIN) {
                /* The padding may have been published alone: try once more with the smallest. */
                if (shmring_spsc_push(p, buf, 0) != 0)
                    break;
                seq++;
                continue;
            }
            SPSC_EQ(e, 0);
            cr_assert(++seq < cap, "the ring never fills up");
        }
        for (i = 0; i < nheld; i++)
            cr_assert(rec_check(held[i], held_len[i], i), "offset %" PRIu64 ": held record %" PRIu64 " changed", off, i);
        SPSC_EQ(shmring_spsc_release(c), nheld);
        for (recv = nheld; recv < seq; recv++) {
            ssize_t n = shmring_spsc_pop(c, buf, sizeof(buf));
            cr_assert(n >= 0, "offset %" PRIu64 ": record %" PRIu64 ": %zd", off, recv, n);
            cr_assert(rec_check(buf, (size_t)n, recv), "offset %" PRIu64 ": record %" PRIu64 " corrupted", off, recv);
        }
        SPSC_EQ(shmring_spsc_pop(c, buf, sizeof(buf)), -EAGAIN);
    }
    spsc_close_pair(p, c);
}

SPSC_TEST(batch, held_records_stay_intact_256)
{
    held_records_stay_intact(256);
}

SPSC_TEST(batch, held_records_stay_intact_4k)
{
    held_records_stay_intact(4096);
}
