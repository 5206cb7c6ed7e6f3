/* MPMC ring, one process: laps, full/empty edges, bursts and bulk on both sides, argument errors,
 * every slot size class, copying push/pop, positions near 2^32 and 2^64, counters, timeouts,
 * wake-ups and end of stream. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <pthread.h>

#include "mpmctest.h"

static uint64_t prod_pos(const struct shmring_mpmc *q) { return MT_LOAD(q->hdr->prod.pos); }
static uint64_t cons_pos(const struct shmring_mpmc *q) { return MT_LOAD(q->hdr->cons.pos); }

static void close_unlink(const char *name, struct shmring_mpmc *a, struct shmring_mpmc *b)
{
    cr_assert_eq(shmring_mpmc_close(a), 0);
    cr_assert_eq(shmring_mpmc_close(b), 0);
    mt_assert_rc(shmring_unlink(name), 0, "unlink");
    mt_assert_no_ipc();
}

/* Pushes record `seq` (len bytes of testutil_fill) through the zero-copy path or push. */
static void put(struct shmring_mpmc *p, uint64_t seq, size_t len, int zero_copy)
{
    if (zero_copy) {
        struct shmring_mpmc_span c = {0, 0};
        uint32_t l = (uint32_t)len;
        void *s;
        mt_assert_rc(shmring_mpmc_claim(p, 1, &c), 1, "claim");
        s = shmring_mpmc_slot(p, &c, 0);
        cr_assert(mt_in_slots(p, s, shmring_mpmc_slot_size(p)), "slot pointer outside the slots");
        testutil_fill(s, len, seq);
        shmring_mpmc_publish(p, &c, &l);
    } else {
        uint8_t buf[256] = {0};
        cr_assert(len <= sizeof(buf));
        testutil_fill(buf, len, seq);
        mt_assert_rc(shmring_mpmc_push(p, buf, len), 0, "push");
    }
}

/* Takes one record and checks it is `seq` of len bytes. */
static void get(struct shmring_mpmc *c, uint64_t seq, size_t len, int zero_copy)
{
    if (zero_copy) {
        struct shmring_mpmc_span t = {0, 0};
        const void *b;
        size_t l;
        mt_assert_rc(shmring_mpmc_take(c, 1, &t), 1, "take");
        mt_assert_rc(shmring_mpmc_record(c, &t, 0, &b, &l), 0, "record");
        cr_assert(mt_in_slots(c, b, l), "record outside the slots");
        cr_assert_eq(l, len, "record %llu: length %zu, want %zu", (unsigned long long)seq, l, len);
        cr_assert(testutil_check_fill(b, l, seq), "record %llu: wrong contents", (unsigned long long)seq);
        shmring_mpmc_release(c, &t);
    } else {
        uint8_t buf[256] = {0};
        ssize_t n = shmring_mpmc_pop(c, buf, sizeof(buf));
        cr_assert_eq(n, (ssize_t)len, "pop record %llu: %zd (%s), want %zu", (unsigned long long)seq, n,
                     shmring_err_name((int)n), len);
        cr_assert(testutil_check_fill(buf, len, seq), "record %llu: wrong contents", (unsigned long long)seq);
    }
}

/* Many laps of a small ring at random fill levels, mixing the copying and zero-copy paths and
 * bursts; FIFO order and contents checked record by record, positions at the end. */
static void run_laps(uint64_t start, uint64_t records)
{
    const char *name = mt_create(8, 64, start);
    struct shmring_mpmc *p = mt_open(name, SHMRING_PRODUCER), *c = mt_open(name, SHMRING_CONSUMER);
    uint64_t rng = start ^ 42, sent = 0, got = 0;
    while (got < records) {
        uint64_t room = 8 - (sent - got), k = testutil_rand(&rng) % (room + 1);
        if (sent + k > records)
            k = records - sent;
        if (testutil_rand(&rng) % 3 == 0 && k > 0) {
            /* A burst: claim k at once, publish with lengths. */
            struct shmring_mpmc_span cl = {0, 0};
            uint32_t lens[8];
            unsigned i;
            mt_assert_rc(shmring_mpmc_claim(p, (unsigned)k, &cl), (int)k, "claim burst");
            cr_assert_eq(cl.pos, start + sent, "claim at %llu, want %llu", (unsigned long long)cl.pos,
                         (unsigned long long)(start + sent));
            for (i = 0; i < k; i++) {
                lens[i] = (uint32_t)((sent + i) % 65);
                testutil_fill(shmring_mpmc_slot(p, &cl, i), lens[i], sent + i);
            }
            shmring_mpmc_publish(p, &cl, lens);
            sent += k;
        } else {
            for (; k > 0; k--, sent++)
                put(p, sent, (size_t)(sent % 65), (int)(sent & 1));
        }
        if (sent - got == 8)
            mt_assert_rc(shmring_mpmc_push(p, "x", 1), -EAGAIN, "push into a full ring");
        k = testutil_rand(&rng) % (sent - got + 1);
        if (testutil_rand(&rng) % 3 == 0 && k > 0) {
            struct shmring_mpmc_span t = {0, 0};
            unsigned i;
            mt_assert_rc(shmring_mpmc_take(c, (unsigned)k, &t), (int)k, "take burst");
            cr_assert_eq(t.pos, start + got);
            for (i = 0; i < k; i++) {
                const void *b;
                size_t l;
                mt_assert_rc(shmring_mpmc_record(c, &t, i, &b, &l), 0, "record");
                cr_assert_eq(l, (got + i) % 65);
                cr_assert(testutil_check_fill(b, l, got + i), "record %llu: wrong contents",
                          (unsigned long long)(got + i));
            }
            shmring_mpmc_release(c, &t);
            got += k;
        } else {
            for (; k > 0; k--, got++)
                get(c, got, (size_t)(got % 65), (int)((got >> 1) & 1));
        }
        if (sent == got)
            mt_assert_rc(shmring_mpmc_pop(c, (uint8_t[64]){0}, 64), -EAGAIN, "pop from an empty ring");
    }
    cr_assert_eq(prod_pos(p), start + records, "prod.pos %llu, want %llu", (unsigned long long)prod_pos(p),
                 (unsigned long long)(start + records));
    cr_assert_eq(cons_pos(c), start + records);
    close_unlink(name, p, c);
}

MT_TEST(mpmc_single, laps, .timeout = 30)
{
    run_laps(0, 20000);
}

/* Exactly `capacity` records fit; then full; then empty. Every capacity class edge. */
MT_TEST(mpmc_single, full_and_empty_edges, .timeout = 30)
{
    static const uint64_t caps[] = {4, 8, 64};
    unsigned k;
    for (k = 0; k < sizeof(caps) / sizeof(caps[0]); k++) {
        uint64_t cap = caps[k], i;
        const char *name = mt_create(cap, 16, 0);
        struct shmring_mpmc *p = mt_open(name, SHMRING_PRODUCER), *c = mt_open(name, SHMRING_CONSUMER);
        struct shmring_mpmc_span cl = {0, 0};
        cr_assert_eq(shmring_mpmc_capacity(p), cap);
        mt_assert_rc(shmring_mpmc_take(c, 1, &cl), -EAGAIN, "take from an empty ring");
        mt_assert_rc(shmring_mpmc_take_bulk(c, 1, &cl), -EAGAIN, "take_bulk from an empty ring");
        for (i = 0; i < cap; i++)
            put(p, i, 16, (int)(i & 1));
        mt_assert_rc(shmring_mpmc_push(p, "x", 1), -EAGAIN, "push into a full ring");
        mt_assert_rc(shmring_mpmc_claim(p, 1, &cl), -EAGAIN, "claim in a full ring");
        mt_assert_rc(shmring_mpmc_claim_bulk(p, 1, &cl), -EAGAIN, "claim_bulk in a full ring");
        cr_assert_eq(prod_pos(p), cap);
        get(c, 0, 16, 0);
        put(p, cap, 16, 1); /* one freed, one fits */
        mt_assert_rc(shmring_mpmc_push(p, "x", 1), -EAGAIN, "push into a full ring");
        for (i = 1; i <= cap; i++)
            get(c, i, 16, (int)(i & 1));
        mt_assert_rc(shmring_mpmc_pop(c, (uint8_t[16]){0}, 16), -EAGAIN, "pop from an empty ring");
        /* A whole ring in one claim and one take. */
        mt_assert_rc(shmring_mpmc_claim_bulk(p, (unsigned)cap, &cl), (int)cap, "claim_bulk of capacity");
        shmring_mpmc_publish(p, &cl, NULL);
        mt_assert_rc(shmring_mpmc_take_bulk(c, (unsigned)cap, &cl), (int)cap, "take_bulk of capacity");
        shmring_mpmc_release(c, &cl);
        close_unlink(name, p, c);
    }
}

/* claim 8 with 5 free -> 5; claim_bulk 8 with 5 free -> -EAGAIN, nothing claimed. */
MT_TEST(mpmc_single, producer_burst_and_bulk, .timeout = 30)
{
    const char *name = mt_create(8, 32, 0);
    struct shmring_mpmc *p = mt_open(name, SHMRING_PRODUCER), *c = mt_open(name, SHMRING_CONSUMER);
    struct shmring_mpmc_span cl = {0, 0};
    unsigned i;
    for (i = 0; i < 3; i++)
        put(p, i, 32, 0);
    /* Bulk first: all or nothing. */
    mt_assert_rc(shmring_mpmc_claim_bulk(p, 8, &cl), -EAGAIN, "claim_bulk 8 with 5 free");
    mt_assert_rc(shmring_mpmc_claim_bulk(p, 6, &cl), -EAGAIN, "claim_bulk 6 with 5 free");
    cr_assert_eq(prod_pos(p), 3, "a failed bulk claim moved prod.pos to %llu", (unsigned long long)prod_pos(p));
    cr_assert_eq(p->held, 0, "a failed bulk claim left the handle holding %u slots", p->held);
    /* Nothing is held: a burst works at once (no -EBUSY). */
    mt_assert_rc(shmring_mpmc_claim(p, 8, &cl), 5, "claim 8 with 5 free");
    cr_assert_eq(cl.pos, 3);
    cr_assert_eq(cl.n, 5);
    for (i = 0; i < 5; i++) {
        void *s = shmring_mpmc_slot(p, &cl, i);
        cr_assert(mt_in_slots(p, s, 32));
        testutil_fill(s, 32, 3 + i);
    }
    shmring_mpmc_publish(p, &cl, NULL);
    cr_assert_eq(prod_pos(p), 8);
    for (i = 0; i < 8; i++)
        get(c, i, 32, (int)(i & 1));
    /* 5 free again, bulk of exactly 5 works. */
    for (i = 0; i < 3; i++)
        put(p, 8 + i, 32, 1);
    for (i = 0; i < 3; i++)
        get(c, 8 + i, 32, 0);
    for (i = 0; i < 3; i++)
        put(p, 11 + i, 32, 0);
    mt_assert_rc(shmring_mpmc_claim_bulk(p, 5, &cl), 5, "claim_bulk 5 with 5 free");
    cr_assert_eq(cl.pos, 14);
    for (i = 0; i < 5; i++)
        testutil_fill(shmring_mpmc_slot(p, &cl, i), 32, 14 + i);
    shmring_mpmc_publish(p, &cl, NULL);
    for (i = 0; i < 8; i++)
        get(c, 11 + i, 32, 1);
    close_unlink(name, p, c);
}

/* take 8 with 5 published -> 5; take_bulk 8 with 5 -> -EAGAIN, nothing taken. */
MT_TEST(mpmc_single, consumer_burst_and_bulk, .timeout = 30)
{
    const char *name = mt_create(8, 32, 0);
    struct shmring_mpmc *p = mt_open(name, SHMRING_PRODUCER), *c = mt_open(name, SHMRING_CONSUMER);
    struct shmring_mpmc_span t = {0, 0};
    unsigned i;
    for (i = 0; i < 5; i++)
        put(p, i, 32, 1);
    mt_assert_rc(shmring_mpmc_take_bulk(c, 8, &t), -EAGAIN, "take_bulk 8 with 5 published");
    mt_assert_rc(shmring_mpmc_take_bulk(c, 6, &t), -EAGAIN, "take_bulk 6 with 5 published");
    cr_assert_eq(cons_pos(c), 0, "a failed bulk take moved cons.pos");
    cr_assert_eq(c->held, 0);
    mt_assert_rc(shmring_mpmc_take(c, 8, &t), 5, "take 8 with 5 published");
    cr_assert_eq(t.pos, 0);
    for (i = 0; i < 5; i++) {
        const void *b;
        size_t l;
        mt_assert_rc(shmring_mpmc_record(c, &t, i, &b, &l), 0, "record");
        cr_assert(mt_in_slots(c, b, l));
        cr_assert_eq(l, 32);
        cr_assert(testutil_check_fill(b, l, i));
    }
    /* Not released yet: producers see only 3 free slots. */
    mt_assert_rc(shmring_mpmc_claim_bulk(p, 4, &t), -EAGAIN, "claim_bulk 4 while 5 are taken");
    shmring_mpmc_release(c, &t);
    cr_assert_eq(cons_pos(c), 5);
    for (i = 5; i < 10; i++)
        put(p, i, 32, 0);
    mt_assert_rc(shmring_mpmc_take_bulk(c, 5, &t), 5, "take_bulk 5 with 5 published");
    cr_assert_eq(t.pos, 5);
    shmring_mpmc_release(c, &t);
    mt_assert_rc(shmring_mpmc_take(c, 8, &t), -EAGAIN, "take from an empty ring");
    close_unlink(name, p, c);
}

/* want 0 -> 0 (nothing claimed); want > capacity -> -EINVAL; on both sides, burst and bulk. */
MT_TEST(mpmc_single, want_zero_and_too_many, .timeout = 30)
{
    const char *name = mt_create(8, 16, 0);
    struct shmring_mpmc *p = mt_open(name, SHMRING_PRODUCER), *c = mt_open(name, SHMRING_CONSUMER);
    struct shmring_mpmc_span t = {0, 0};
    mt_assert_rc(shmring_mpmc_claim(p, 0, &t), 0, "claim 0");
    mt_assert_rc(shmring_mpmc_claim_bulk(p, 0, &t), 0, "claim_bulk 0");
    cr_assert_eq(p->held, 0);
    cr_assert_eq(prod_pos(p), 0);
    mt_assert_rc(shmring_mpmc_claim(p, 9, &t), -EINVAL, "claim capacity + 1");
    mt_assert_rc(shmring_mpmc_claim_bulk(p, 9, &t), -EINVAL, "claim_bulk capacity + 1");
    mt_assert_rc(shmring_mpmc_claim(p, UINT32_MAX, &t), -EINVAL, "claim UINT32_MAX");
    mt_assert_rc(shmring_mpmc_claim_wait(p, 9, &t, 0), -EINVAL, "claim_wait capacity + 1");
    mt_assert_rc(shmring_mpmc_take(c, 0, &t), 0, "take 0");
    mt_assert_rc(shmring_mpmc_take_bulk(c, 0, &t), 0, "take_bulk 0");
    mt_assert_rc(shmring_mpmc_take(c, 9, &t), -EINVAL, "take capacity + 1");
    mt_assert_rc(shmring_mpmc_take_bulk(c, 9, &t), -EINVAL, "take_bulk capacity + 1");
    mt_assert_rc(shmring_mpmc_take_wait(c, 9, &t, 0), -EINVAL, "take_wait capacity + 1");
    cr_assert_eq(prod_pos(p), 0);
    cr_assert_eq(cons_pos(c), 0);
    /* Still usable. */
    put(p, 7, 16, 1);
    get(c, 7, 16, 1);
    close_unlink(name, p, c);
}

/* A handle holds one claim (take) at a time. */
MT_TEST(mpmc_single, busy_while_holding, .timeout = 30)
{
    const char *name = mt_create(8, 16, 0);
    struct shmring_mpmc *p = mt_open(name, SHMRING_PRODUCER), *c = mt_open(name, SHMRING_CONSUMER);
    struct shmring_mpmc_span a = {0, 0}, b = {0, 0};
    uint8_t buf[16] = {0};
    mt_assert_rc(shmring_mpmc_claim(p, 2, &a), 2, "claim 2");
    mt_assert_rc(shmring_mpmc_claim(p, 1, &b), -EBUSY, "claim while holding");
    mt_assert_rc(shmring_mpmc_claim_bulk(p, 1, &b), -EBUSY, "claim_bulk while holding");
    mt_assert_rc(shmring_mpmc_claim_wait(p, 1, &b, 0), -EBUSY, "claim_wait while holding");
    mt_assert_rc(shmring_mpmc_push(p, buf, 1), -EBUSY, "push while holding");
    mt_assert_rc(shmring_mpmc_push_wait(p, buf, 1, 0), -EBUSY, "push_wait while holding");
    cr_assert_eq(prod_pos(p), 2, "a refused claim moved prod.pos");
    testutil_fill(shmring_mpmc_slot(p, &a, 0), 16, 0);
    testutil_fill(shmring_mpmc_slot(p, &a, 1), 16, 1);
    shmring_mpmc_publish(p, &a, NULL);
    put(p, 2, 16, 0); /* free again */

    mt_assert_rc(shmring_mpmc_take(c, 1, &a), 1, "take 1");
    mt_assert_rc(shmring_mpmc_take(c, 1, &b), -EBUSY, "take while holding");
    mt_assert_rc(shmring_mpmc_take_bulk(c, 1, &b), -EBUSY, "take_bulk while holding");
    mt_assert_rc(shmring_mpmc_take_wait(c, 1, &b, 0), -EBUSY, "take_wait while holding");
    mt_assert_rc(shmring_mpmc_pop(c, buf, sizeof(buf)), -EBUSY, "pop while holding");
    mt_assert_rc(shmring_mpmc_pop_wait(c, buf, sizeof(buf), 0), -EBUSY, "pop_wait while holding");
    cr_assert_eq(cons_pos(c), 1, "a refused take moved cons.pos");
    shmring_mpmc_release(c, &a);
    get(c, 1, 16, 0);
    get(c, 2, 16, 1);
    close_unlink(name, p, c);
}

/* publish(lens NULL): every record is slot_size long; with lens: as given, cut to slot_size. */
MT_TEST(mpmc_single, publish_lengths, .timeout = 30)
{
    const char *name = mt_create(8, 24, 0);
    struct shmring_mpmc *p = mt_open(name, SHMRING_PRODUCER), *c = mt_open(name, SHMRING_CONSUMER);
    struct shmring_mpmc_span cl = {0, 0};
    const uint32_t lens[4] = {0, 1, 24, 1000};
    const size_t want[4] = {0, 1, 24, 24};
    unsigned i;
    mt_assert_rc(shmring_mpmc_claim(p, 3, &cl), 3, "claim 3");
    for (i = 0; i < 3; i++)
        testutil_fill(shmring_mpmc_slot(p, &cl, i), 24, 100 + i);
    shmring_mpmc_publish(p, &cl, NULL);
    mt_assert_rc(shmring_mpmc_claim(p, 4, &cl), 4, "claim 4");
    for (i = 0; i < 4; i++)
        testutil_fill(shmring_mpmc_slot(p, &cl, i), 24, 200 + i);
    shmring_mpmc_publish(p, &cl, lens);
    mt_assert_rc(shmring_mpmc_take(c, 8, &cl), 7, "take all");
    for (i = 0; i < 7; i++) {
        const void *b;
        size_t l;
        mt_assert_rc(shmring_mpmc_record(c, &cl, i, &b, &l), 0, "record");
        cr_assert(mt_in_slots(c, b, l));
        if (i < 3) {
            cr_assert_eq(l, 24, "record %u published with lens NULL: length %zu, want 24", i, l);
            cr_assert(testutil_check_fill(b, 24, 100 + i));
        } else {
            cr_assert_eq(l, want[i - 3], "record %u published with len %u: length %zu, want %zu", i,
                         lens[i - 3], l, want[i - 3]);
            cr_assert(testutil_check_fill(b, l, 200 + i - 3));
        }
    }
    shmring_mpmc_release(c, &cl);
    close_unlink(name, p, c);
}

/* Every slot size class, content verified through both paths, records that fill their slot
 * entirely next to each other (a wrong stride or overlap would show), alignment of the payload. */
ParameterizedTestParameters(mpmc_single, slot_sizes)
{
    static uint32_t sizes[] = {8, 9, 63, 64, 65, 4096, 65536, 1u << 20};
    return cr_make_param_array(uint32_t, sizes, sizeof(sizes) / sizeof(sizes[0]));
}

ParameterizedTest(uint32_t *size, mpmc_single, slot_sizes, .init = mt_init, .fini = mt_fini, .timeout = 30)
{
    uint32_t s = *size;
    uint64_t cap = s >= 65536 ? 4 : 8, i, seq = 0;
    const char *name = mt_create(cap, s, 0);
    struct shmring_mpmc *p = mt_open(name, SHMRING_PRODUCER), *c = mt_open(name, SHMRING_CONSUMER);
    const size_t lens[] = {0, 1, s / 2, s - 1, s};
    uint8_t *buf = malloc(s + 1);
    struct shmring_mpmc_span cl = {0, 0};
    unsigned k, lap;
    cr_assert_not_null(buf);
    cr_assert_eq(shmring_mpmc_slot_size(p), s);
    mt_assert_rc(shmring_mpmc_push(p, buf, (size_t)s + 1), -EMSGSIZE, "push slot_size + 1");
    for (lap = 0; lap < 3; lap++) {
        /* Copying path, every length. */
        for (k = 0; k < sizeof(lens) / sizeof(lens[0]); k++) {
            testutil_fill(buf, lens[k], seq);
            mt_assert_rc(shmring_mpmc_push(p, buf, lens[k]), 0, "push");
            memset(buf, 0, s);
            mt_assert_rc(shmring_mpmc_pop(c, buf, s), (ssize_t)lens[k], "pop");
            cr_assert(testutil_check_fill(buf, lens[k], seq), "slot %u, length %zu: wrong contents", s, lens[k]);
            seq++;
        }
        /* Zero-copy, the whole ring full of full slots. */
        mt_assert_rc(shmring_mpmc_claim_bulk(p, (unsigned)cap, &cl), (int)cap, "claim the whole ring");
        for (i = 0; i < cap; i++) {
            uint8_t *sp = shmring_mpmc_slot(p, &cl, (unsigned)i);
            cr_assert(mt_in_slots(p, sp, s), "slot %llu outside the slot area", (unsigned long long)i);
            cr_assert_eq((uintptr_t)sp % 16, 0, "payload not 16-byte aligned");
            testutil_fill(sp, s, seq + i);
        }
        shmring_mpmc_publish(p, &cl, NULL);
        mt_assert_rc(shmring_mpmc_take_bulk(c, (unsigned)cap, &cl), (int)cap, "take the whole ring");
        for (i = 0; i < cap; i++) {
            const void *b;
            size_t l;
            mt_assert_rc(shmring_mpmc_record(c, &cl, (unsigned)i, &b, &l), 0, "record");
            cr_assert_eq(l, s);
            cr_assert(mt_in_slots(c, b, l));
            cr_assert(testutil_check_fill(b, l, seq + i), "slot size %u, record %llu: wrong contents", s,
                      (unsigned long long)i);
        }
        shmring_mpmc_release(c, &cl);
        seq += cap;
    }
    free(buf);
    close_unlink(name, p, c);
}

/* push of len > slot_size: -EMSGSIZE, nothing pushed. pop with cap < slot_size: -EMSGSIZE, and the
 * record is still there for a pop with a large enough buffer. */
MT_TEST(mpmc_single, message_size, .timeout = 30)
{
    const char *name = mt_create(4, 40, 0);
    struct shmring_mpmc *p = mt_open(name, SHMRING_PRODUCER), *c = mt_open(name, SHMRING_CONSUMER);
    uint8_t buf[64] = {0};
    testutil_fill(buf, 41, 5);
    mt_assert_rc(shmring_mpmc_push(p, buf, 41), -EMSGSIZE, "push 41 bytes into 40-byte slots");
    mt_assert_rc(shmring_mpmc_push(p, buf, SIZE_MAX), -EMSGSIZE, "push SIZE_MAX bytes");
    mt_assert_rc(shmring_mpmc_push_wait(p, buf, 41, 0), -EMSGSIZE, "push_wait 41 bytes");
    cr_assert_eq(prod_pos(p), 0, "a refused push moved prod.pos");
    mt_assert_rc(shmring_mpmc_pop(c, buf, sizeof(buf)), -EAGAIN, "the refused push left a record");
    testutil_fill(buf, 7, 6);
    mt_assert_rc(shmring_mpmc_push(p, buf, 7), 0, "push 7");
    mt_assert_rc(shmring_mpmc_pop(c, buf, 39), -EMSGSIZE, "pop with a 39-byte buffer");
    mt_assert_rc(shmring_mpmc_pop(c, buf, 0), -EMSGSIZE, "pop with a 0-byte buffer");
    mt_assert_rc(shmring_mpmc_pop_wait(c, buf, 39, 0), -EMSGSIZE, "pop_wait with a 39-byte buffer");
    cr_assert_eq(cons_pos(c), 0, "a refused pop moved cons.pos");
    memset(buf, 0, sizeof(buf));
    mt_assert_rc(shmring_mpmc_pop(c, buf, 40), 7, "pop with a 40-byte buffer after -EMSGSIZE");
    cr_assert(testutil_check_fill(buf, 7, 6));
    close_unlink(name, p, c);
}

/* Positions near 2^32 and 2^64: bursts that wrap in their middle, and many laps. */
ParameterizedTestParameters(mpmc_single, start_positions)
{
    static uint64_t starts[] = {
        0,
        (UINT64_C(1) << 32) - 5,
        (UINT64_C(1) << 32) - 3,
        UINT64_MAX - 5,
        UINT64_MAX - 2,
        UINT64_MAX,
    };
    return cr_make_param_array(uint64_t, starts, sizeof(starts) / sizeof(starts[0]));
}

ParameterizedTest(uint64_t *startp, mpmc_single, start_positions, .init = mt_init, .fini = mt_fini, .timeout = 30)
{
    uint64_t start = *startp;
    const char *name = mt_create(8, 16, start);
    struct shmring_mpmc *p = mt_open(name, SHMRING_PRODUCER), *c = mt_open(name, SHMRING_CONSUMER);
    struct shmring_mpmc_span cl = {0, 0};
    unsigned i, round;
    uint64_t seq = 0;
    cr_assert_eq(prod_pos(p), start);
    cr_assert_eq(cons_pos(c), start);
    for (round = 0; round < 4; round++) {
        /* 3 then 5 on the producer side, 4 and 4 on the consumer side: each burst of the first
         * rounds crosses the wrap point for some start. */
        unsigned sizes[2] = {3, 5};
        for (i = 0; i < 2; i++) {
            unsigned j;
            mt_assert_rc(shmring_mpmc_claim(p, sizes[i], &cl), (int)sizes[i], "claim burst");
            cr_assert_eq(cl.pos, start + seq, "claim at %#llx, want %#llx", (unsigned long long)cl.pos,
                         (unsigned long long)(start + seq));
            for (j = 0; j < sizes[i]; j++) {
                void *s = shmring_mpmc_slot(p, &cl, j);
                cr_assert(mt_in_slots(p, s, 16));
                testutil_fill(s, 16, seq + j);
            }
            shmring_mpmc_publish(p, &cl, NULL);
            seq += sizes[i];
        }
        mt_assert_rc(shmring_mpmc_push(p, "x", 1), -EAGAIN, "push into a full ring");
        for (i = 0; i < 2; i++) {
            unsigned j;
            uint64_t first = seq - 8 + 4 * i;
            mt_assert_rc(shmring_mpmc_take_bulk(c, 4, &cl), 4, "take_bulk 4");
            cr_assert_eq(cl.pos, start + first);
            for (j = 0; j < 4; j++) {
                const void *b;
                size_t l;
                mt_assert_rc(shmring_mpmc_record(c, &cl, j, &b, &l), 0, "record");
                cr_assert(mt_in_slots(c, b, l));
                cr_assert_eq(l, 16);
                cr_assert(testutil_check_fill(b, 16, first + j), "position %#llx: wrong contents",
                          (unsigned long long)(start + first + j));
            }
            shmring_mpmc_release(c, &cl);
        }
        cr_assert_eq(prod_pos(p), start + seq);
        cr_assert_eq(cons_pos(c), start + seq);
    }
    close_unlink(name, p, c);
    run_laps(start, 3000);
}

/* Counters a tool reads: positions, attaches; no sleep and no wake-up while nobody sleeps. */
MT_TEST(mpmc_single, counters_without_sleepers, .timeout = 30)
{
    const char *name = mt_create(16, 16, 1000);
    struct shmring_mpmc *p = mt_open(name, SHMRING_PRODUCER), *p2 = mt_open(name, SHMRING_PRODUCER);
    struct shmring_mpmc *c = mt_open(name, SHMRING_CONSUMER);
    const struct shmring_header *h = p->hdr;
    unsigned i;
    for (i = 0; i < 5000; i++) {
        put(i & 1 ? p : p2, i, 16, (int)(i & 2));
        if (i % 3 == 2) {
            get(c, i - 2, 16, 1);
            get(c, i - 1, 16, 0);
            get(c, i, 16, 1);
        }
    }
    while (cons_pos(c) != prod_pos(c))
        cr_assert_geq(shmring_mpmc_pop(c, (uint8_t[16]){0}, 16), 0);
    cr_assert_eq(MT_LOAD(h->prod.pos), 1000 + 5000);
    cr_assert_eq(MT_LOAD(h->cons.pos), 1000 + 5000);
    cr_assert_eq(MT_LOAD(h->stats.producer_attaches), 2);
    cr_assert_eq(MT_LOAD(h->stats.consumer_attaches), 1);
    cr_assert_eq(MT_LOAD(h->stats.consumer_sleeps), 0);
    cr_assert_eq(MT_LOAD(h->stats.producer_sleeps), 0);
    cr_assert_eq(MT_LOAD(h->stats.consumer_wakeups), 0, "a wake-up was posted while nobody slept");
    cr_assert_eq(MT_LOAD(h->stats.producer_wakeups), 0, "a wake-up was posted while nobody slept");
    cr_assert_eq(MT_LOAD(h->stats.producer_skips), 0);
    cr_assert_eq(MT_LOAD(h->stats.consumer_skips), 0);
    cr_assert_eq(shmring_mpmc_peer_count(p), 1);
    cr_assert_eq(shmring_mpmc_peer_count(c), 2);
    cr_assert_eq(shmring_mpmc_close(p2), 0);
    close_unlink(name, p, c);
}

/* Timeouts: 0 checks once (-EAGAIN), > 0 waits about that long (-ETIMEDOUT), both sides. */
MT_TEST(mpmc_single, timeouts, .timeout = 30)
{
    const char *name = mt_create(4, 16, 0);
    struct shmring_mpmc *p = mt_open(name, SHMRING_PRODUCER), *c = mt_open(name, SHMRING_CONSUMER);
    uint8_t buf[16] = {0};
    struct shmring_mpmc_span cl = {0, 0};
    int64_t t0, dt;
    unsigned i;
    shmring_mpmc_set_spin(c, 0);
    shmring_mpmc_set_spin(p, 100);
    mt_assert_rc(shmring_mpmc_pop_wait(c, buf, sizeof(buf), 0), -EAGAIN, "pop_wait(0) on empty");
    mt_assert_rc(shmring_mpmc_take_wait(c, 2, &cl, 0), -EAGAIN, "take_wait(0) on empty");
    t0 = testutil_now_ns();
    mt_assert_rc(shmring_mpmc_pop_wait(c, buf, sizeof(buf), 150 * MT_MS), -ETIMEDOUT, "pop_wait(150 ms) on empty");
    dt = testutil_now_ns() - t0;
    cr_assert(dt >= 150 * MT_MS && dt < 1500 * MT_MS, "pop_wait(150 ms) took %lld ms", (long long)(dt / MT_MS));
    cr_assert_geq(MT_LOAD(c->hdr->stats.consumer_sleeps), 1, "the consumer never slept");
    for (i = 0; i < 4; i++)
        mt_assert_rc(shmring_mpmc_push(p, buf, 16), 0, "push");
    mt_assert_rc(shmring_mpmc_push_wait(p, buf, 16, 0), -EAGAIN, "push_wait(0) on full");
    mt_assert_rc(shmring_mpmc_claim_wait(p, 1, &cl, 0), -EAGAIN, "claim_wait(0) on full");
    t0 = testutil_now_ns();
    mt_assert_rc(shmring_mpmc_claim_wait(p, 3, &cl, 150 * MT_MS), -ETIMEDOUT, "claim_wait(150 ms) on full");
    dt = testutil_now_ns() - t0;
    cr_assert(dt >= 150 * MT_MS && dt < 1500 * MT_MS, "claim_wait(150 ms) took %lld ms", (long long)(dt / MT_MS));
    cr_assert_geq(MT_LOAD(p->hdr->stats.producer_sleeps), 1, "the producer never slept");
    /* Ready now: the waits return at once. */
    mt_assert_rc(shmring_mpmc_pop_wait(c, buf, sizeof(buf), 0), 16, "pop_wait(0) with data");
    mt_assert_rc(shmring_mpmc_claim_wait(p, 3, &cl, 0), 1, "claim_wait(0) with one free slot");
    shmring_mpmc_publish(p, &cl, NULL);
    close_unlink(name, p, c);
}

/* A sleeper is woken by the other side, promptly, and the wake-up is counted. */
struct sleeper {
    struct shmring_mpmc *q;
    ssize_t rc;
    int64_t t_done;
};

static void *consumer_sleeper(void *arg)
{
    struct sleeper *s = arg;
    uint8_t buf[16] = {0};
    s->rc = shmring_mpmc_pop_wait(s->q, buf, sizeof(buf), 5 * MT_SEC);
    s->t_done = testutil_now_ns();
    return NULL;
}

static void *producer_sleeper(void *arg)
{
    struct sleeper *s = arg;
    uint8_t buf[16] = {0};
    s->rc = shmring_mpmc_push_wait(s->q, buf, sizeof(buf), 5 * MT_SEC);
    s->t_done = testutil_now_ns();
    return NULL;
}

static int wait_sleeping(_Atomic uint32_t *flag, _Atomic uint64_t *sleeps, int64_t timeout_ns)
{
    int64_t deadline = testutil_now_ns() + timeout_ns;
    while (testutil_now_ns() < deadline) {
        if (atomic_load(flag) > 0 && atomic_load(sleeps) > 0)
            return 1;
        mt_sleep_ns(MT_MS);
    }
    return 0;
}

MT_TEST(mpmc_single, wakeups, .timeout = 30)
{
    const char *name = mt_create(4, 16, 0);
    struct shmring_mpmc *p = mt_open(name, SHMRING_PRODUCER), *c = mt_open(name, SHMRING_CONSUMER);
    struct shmring_mpmc *c2 = mt_open(name, SHMRING_CONSUMER), *p2 = mt_open(name, SHMRING_PRODUCER);
    struct shmring_header *h = p->hdr;
    struct sleeper s = {c2, 0, 0};
    pthread_t th;
    uint8_t buf[16] = {0};
    int64_t t0;
    unsigned i;

    shmring_mpmc_set_spin(c2, 0);
    cr_assert_eq(pthread_create(&th, NULL, consumer_sleeper, &s), 0);
    cr_assert(wait_sleeping(&h->wait.consumer_sleeping, &h->stats.consumer_sleeps, 3 * MT_SEC),
              "the consumer thread did not go to sleep");
    t0 = testutil_now_ns();
    mt_assert_rc(shmring_mpmc_push(p, buf, 16), 0, "push");
    pthread_join(th, NULL);
    mt_assert_rc(s.rc, 16, "pop_wait woken by a push");
    cr_assert_lt(s.t_done - t0, 500 * MT_MS, "the sleeping consumer took %lld ms to wake",
                 (long long)((s.t_done - t0) / MT_MS));
    cr_assert_geq(MT_LOAD(h->stats.consumer_wakeups), 1, "no consumer wake-up counted");

    for (i = 0; i < 4; i++)
        mt_assert_rc(shmring_mpmc_push(p, buf, 16), 0, "fill");
    s.q = p2;
    shmring_mpmc_set_spin(p2, 0);
    cr_assert_eq(pthread_create(&th, NULL, producer_sleeper, &s), 0);
    cr_assert(wait_sleeping(&h->wait.producer_sleeping, &h->stats.producer_sleeps, 3 * MT_SEC),
              "the producer thread did not go to sleep");
    t0 = testutil_now_ns();
    mt_assert_rc(shmring_mpmc_pop(c, buf, 16), 16, "pop");
    pthread_join(th, NULL);
    mt_assert_rc(s.rc, 0, "push_wait woken by a pop");
    cr_assert_lt(s.t_done - t0, 500 * MT_MS, "the sleeping producer took %lld ms to wake",
                 (long long)((s.t_done - t0) / MT_MS));
    cr_assert_geq(MT_LOAD(h->stats.producer_wakeups), 1, "no producer wake-up counted");
    cr_assert_eq(shmring_mpmc_close(c2), 0);
    cr_assert_eq(shmring_mpmc_close(p2), 0);
    close_unlink(name, p, c);
}

/* End of stream: a consumer drains what was published, then -EPIPE; a producer facing a full ring
 * with every consumer gone gets -EPIPE instead of blocking. */
MT_TEST(mpmc_single, end_of_stream, .timeout = 30)
{
    const char *name = mt_create(4, 16, 0);
    struct shmring_mpmc *p = mt_open(name, SHMRING_PRODUCER), *c = mt_open(name, SHMRING_CONSUMER);
    uint8_t buf[16] = {0};
    unsigned i;
    int64_t t0;
    for (i = 0; i < 3; i++)
        put(p, i, 16, 0);
    cr_assert_eq(shmring_mpmc_close(p), 0);
    t0 = testutil_now_ns();
    for (i = 0; i < 3; i++)
        get(c, i, 16, (int)(i & 1));
    mt_assert_rc(shmring_mpmc_pop_wait(c, buf, sizeof(buf), 2 * MT_SEC), -EPIPE, "pop_wait after the last producer closed");
    cr_assert_lt(testutil_now_ns() - t0, 1 * MT_SEC);
    /* A new producer: the stream goes on. */
    p = mt_open(name, SHMRING_PRODUCER);
    for (i = 0; i < 4; i++)
        put(p, 10 + i, 16, 1);
    cr_assert_eq(shmring_mpmc_close(c), 0);
    t0 = testutil_now_ns();
    mt_assert_rc(shmring_mpmc_push_wait(p, buf, sizeof(buf), 2 * MT_SEC), -EPIPE, "push_wait on full, no consumer");
    cr_assert_lt(testutil_now_ns() - t0, 1 * MT_SEC);
    c = mt_open(name, SHMRING_CONSUMER);
    for (i = 0; i < 4; i++)
        get(c, 10 + i, 16, 0);
    close_unlink(name, p, c);
}

static long entry_index(const struct shmring_mpmc *q)
{
    return (long)(q->self - (struct shmring_participant *)(void *)((uint8_t *)q->hdr + SHMRING_HEADER_SIZE));
}

/* SHMRING_MPMC_PARTICIPANTS live handles fit; one more gets -EUSERS; a closed handle's entry is
 * free again. Handles of one process are as distinct as handles of different processes.
 * Regression test (fixed in b0cf339): shmring__proc_start() read field 23 of /proc/PID/stat (vsize)
 * instead of 22 (start time), so a live process whose memory map had grown since it attached
 * looked dead: its entry was handed out again and its claims skipped. */
MT_TEST(mpmc_single, participant_table_full, .timeout = 30)
{
    static struct shmring_mpmc *h[SHMRING_MPMC_PARTICIPANTS];
    const char *name = mt_create(4, 8, 0);
    struct shmring_mpmc *x = NULL;
    unsigned i, j;
    int err;
    for (i = 0; i < SHMRING_MPMC_PARTICIPANTS; i++) {
        h[i] = mt_open(name, i & 1 ? SHMRING_CONSUMER : SHMRING_PRODUCER);
        /* Allocate between opens, as real programs do. */
        free(malloc(1u << 20));
    }
    /* Each handle maps the segment at its own address: compare entry indices. */
    for (i = 0; i < SHMRING_MPMC_PARTICIPANTS; i++)
        for (j = 0; j < i; j++)
            cr_assert_neq(entry_index(h[i]), entry_index(h[j]), "handles %u and %u share participant entry %ld", j, i,
                          entry_index(h[i]));
    err = shmring_mpmc_open(name, SHMRING_PRODUCER, &x);
    mt_assert_rc(err, -EUSERS, "open with every participant entry taken by a live handle");
    cr_assert_null(x);
    cr_assert_eq(shmring_mpmc_close(h[5]), 0);
    h[5] = mt_open(name, SHMRING_PRODUCER);
    for (i = 0; i < SHMRING_MPMC_PARTICIPANTS; i++)
        cr_assert_eq(shmring_mpmc_close(h[i]), 0);
    mt_assert_rc(shmring_unlink(name), 0, "unlink");
    mt_assert_no_ipc();
}

/* The ring is removed while a consumer sleeps in it: the sleeper gets -EIDRM at once, not a
 * timeout; handles still close cleanly and nothing is left. */
MT_TEST(mpmc_single, removed_while_sleeping, .timeout = 30)
{
    const char *name = mt_create(4, 16, 0);
    struct shmring_mpmc *p = mt_open(name, SHMRING_PRODUCER), *c = mt_open(name, SHMRING_CONSUMER);
    struct shmring_header *h = c->hdr;
    struct sleeper s = {c, 0, 0};
    pthread_t th;
    int64_t t0;
    shmring_mpmc_set_spin(c, 0);
    cr_assert_eq(pthread_create(&th, NULL, consumer_sleeper, &s), 0);
    cr_assert(wait_sleeping(&h->wait.consumer_sleeping, &h->stats.consumer_sleeps, 3 * MT_SEC),
              "the consumer thread did not go to sleep");
    t0 = testutil_now_ns();
    mt_assert_rc(shmring_unlink(name), 0, "unlink");
    pthread_join(th, NULL);
    mt_assert_rc(s.rc, -EIDRM, "pop_wait in a removed ring");
    cr_assert_lt(s.t_done - t0, 1 * MT_SEC, "the sleeper noticed the removal after %lld ms",
                 (long long)((s.t_done - t0) / MT_MS));
    cr_assert(atomic_load(&h->stats.state) & SHMRING_STATE_REMOVED);
    cr_assert_eq(shmring_mpmc_close(p), 0);
    cr_assert_eq(shmring_mpmc_close(c), 0);
    mt_assert_no_ipc();
}
