/* MPMC ring, bad input: geometry and arguments the API must refuse, rings of the wrong kind, and
 * hostile shared memory: garbage sequence numbers, positions and lengths written between
 * operations. Calls return a count or a negative errno (often -EUCLEAN), never crash, and never
 * hand out a pointer outside the slot area. */
#include <criterion/criterion.h>

#include "mpmctest.h"

static int create_with(uint64_t capacity, uint32_t slot_size)
{
    struct shmring_config cfg;
    shmring_config_init(&cfg);
    cfg.capacity = capacity;
    cfg.slot_size = slot_size;
    return shmring_mpmc_create(testutil_name("bad"), &cfg);
}

MT_TEST(mpmc_badinput, create_rejects_bad_geometry, .timeout = 30)
{
    static const uint32_t bad_slots[] = {0, 1, 7, (1u << 20) + 1, (1u << 21), UINT32_MAX};
    static const uint64_t bad_caps[] = {1,  2,  3,   6,   12, 100, (UINT64_C(1) << 30) + 1,
                                        UINT64_C(1) << 31, UINT64_C(1) << 40, UINT64_MAX};
    struct shmring_config cfg;
    const char *name;
    unsigned i;
    for (i = 0; i < sizeof(bad_slots) / sizeof(bad_slots[0]); i++)
        mt_assert_rc(create_with(8, bad_slots[i]), -EINVAL, "slot size out of range");
    for (i = 0; i < sizeof(bad_caps) / sizeof(bad_caps[0]); i++) {
        int err = create_with(bad_caps[i], 64);
        cr_assert_eq(err, -EINVAL, "capacity %llu: %s, want EINVAL", (unsigned long long)bad_caps[i],
                     shmring_err_name(err));
    }
    mt_assert_no_ipc(); /* refused creations leave nothing */

    /* The edges that are allowed; capacity 0 means the default. */
    {
        struct shmring_mpmc *q = NULL;
        name = testutil_name("def");
        shmring_config_init(&cfg);
        mt_assert_rc(shmring_mpmc_create(name, &cfg), 0, "capacity 0 (default)");
        mt_assert_rc(shmring_mpmc_open(name, SHMRING_PRODUCER, &q), 0, "open");
        cr_assert_eq(shmring_mpmc_capacity(q), SHMRING_MPMC_SLOTS_DEFAULT);
        cr_assert_eq(shmring_mpmc_close(q), 0);
        mt_assert_rc(shmring_unlink(name), 0, "unlink");
    }
    name = mt_create(4, 8, 0);
    mt_assert_rc(shmring_unlink(name), 0, "unlink");
    name = mt_create(4, 1u << 20, 0);
    mt_assert_rc(shmring_unlink(name), 0, "unlink");

    /* Names, modes, flags. */
    shmring_config_init(&cfg);
    cfg.capacity = 8;
    mt_assert_rc(shmring_mpmc_create(NULL, &cfg), -EINVAL, "NULL name");
    mt_assert_rc(shmring_mpmc_create("", &cfg), -EINVAL, "empty name");
    mt_assert_rc(shmring_mpmc_create("a/b", &cfg), -EINVAL, "name with a slash");
    mt_assert_rc(shmring_mpmc_create("0123456789012345678901234567890123456789012345678901234567890123", &cfg),
                 -ENAMETOOLONG, "64-byte name");
    cfg.mode = 01000;
    mt_assert_rc(shmring_mpmc_create(testutil_name("bad"), &cfg), -EINVAL, "mode beyond 0777");
    cfg.mode = 0;
    cfg.flags = 0x100;
    mt_assert_rc(shmring_mpmc_create(testutil_name("bad"), &cfg), -EINVAL, "unknown flag");
    cfg.flags = 0;
    name = mt_create(8, 64, 0);
    mt_assert_rc(shmring_mpmc_create(name, &cfg), -EEXIST, "create twice");
    mt_assert_rc(shmring_unlink(name), 0, "unlink");
    mt_assert_no_ipc();
}

MT_TEST(mpmc_badinput, open_errors_and_wrong_kind, .timeout = 30)
{
    struct shmring_config cfg;
    struct shmring_mpmc *q = (struct shmring_mpmc *)1;
    struct shmring_spsc *r = (struct shmring_spsc *)1;
    const char *name;
    char spsc_name[SHMRING_NAME_MAX + 1];

    mt_assert_rc(shmring_mpmc_open(testutil_name("none"), SHMRING_CONSUMER, &q), -ENOENT, "open a missing ring");
    cr_assert_null(q, "a failed open left *out set");
    name = mt_create(8, 64, 0);
    mt_assert_rc(shmring_mpmc_open(name, (enum shmring_role)0, &q), -EINVAL, "role 0");
    mt_assert_rc(shmring_mpmc_open(name, (enum shmring_role)3, &q), -EINVAL, "role 3");
    mt_assert_rc(shmring_mpmc_open(name, SHMRING_PRODUCER, NULL), -EINVAL, "out NULL");
    /* An MPMC ring is not an SPSC ring... */
    mt_assert_rc(shmring_spsc_open(name, SHMRING_CONSUMER, &r), -EPROTONOSUPPORT, "SPSC open of an MPMC ring");
    mt_assert_rc(shmring_spsc_open(name, SHMRING_PRODUCER, &r), -EPROTONOSUPPORT, "SPSC open of an MPMC ring");
    /* ... and the other way round. */
    shmring_config_init(&cfg);
    cfg.capacity = 4096;
    snprintf(spsc_name, sizeof(spsc_name), "%s", testutil_name("spsc"));
    mt_assert_rc(shmring_spsc_create(spsc_name, &cfg), 0, "SPSC create");
    mt_assert_rc(shmring_mpmc_open(spsc_name, SHMRING_PRODUCER, &q), -EPROTONOSUPPORT, "MPMC open of an SPSC ring");
    mt_assert_rc(shmring_mpmc_open(spsc_name, SHMRING_CONSUMER, &q), -EPROTONOSUPPORT, "MPMC open of an SPSC ring");
    cr_assert_null(q);
    mt_assert_rc(shmring_unlink(spsc_name), 0, "unlink SPSC");
    mt_assert_rc(shmring_unlink(name), 0, "unlink");
    mt_assert_rc(shmring_mpmc_open(name, SHMRING_CONSUMER, &q), -ENOENT, "open after unlink");
    mt_assert_rc(shmring_unlink(name), -ENOENT, "unlink twice");
    mt_assert_no_ipc();
}

/* A slot length above slot_size: record() refuses it (-EUCLEAN, NULL, 0) and the ring is marked
 * corrupt (new opens refuse it); exactly slot_size is fine. */
MT_TEST(mpmc_badinput, garbage_length, .timeout = 30)
{
    static const uint32_t bad[] = {41, 1000, UINT32_MAX};
    unsigned i;
    for (i = 0; i < 3; i++) {
        const char *name = mt_create(4, 40, 0);
        struct shmring_mpmc *p = mt_open(name, SHMRING_PRODUCER), *c = mt_open(name, SHMRING_CONSUMER), *x = NULL;
        struct shmring_mpmc_span t = {0, 0};
        struct shmring_mpmc_slot_hdr *s;
        const void *b = (const void *)1;
        size_t len = 7;
        uint8_t buf[64] = {0};
        mt_assert_rc(shmring_mpmc_push(p, buf, 40), 0, "push");
        s = (struct shmring_mpmc_slot_hdr *)(void *)c->slots;
        cr_assert_eq(s->len, 40);
        mt_assert_rc(shmring_mpmc_take(c, 1, &t), 1, "take");
        mt_assert_rc(shmring_mpmc_record(c, &t, 0, &b, &len), 0, "record of exactly slot_size");
        cr_assert_eq(len, 40);
        s->len = bad[i];
        mt_assert_rc(shmring_mpmc_record(c, &t, 0, &b, &len), -EUCLEAN, "record with a garbage length");
        cr_assert_null(b);
        cr_assert_eq(len, 0);
        shmring_mpmc_release(c, &t);
        /* The copying path too. */
        mt_assert_rc(shmring_mpmc_push(p, buf, 3), 0, "push");
        ((struct shmring_mpmc_slot_hdr *)(void *)(c->slots + c->stride))->len = bad[i];
        mt_assert_rc(shmring_mpmc_pop(c, buf, sizeof(buf)), -EUCLEAN, "pop of a garbage length");
        cr_assert(atomic_load_explicit(&c->hdr->stats.state, memory_order_relaxed) & SHMRING_STATE_CORRUPT,
                  "the ring was not marked corrupt");
        mt_assert_rc(shmring_mpmc_open(name, SHMRING_CONSUMER, &x), -EUCLEAN, "open of a ring marked corrupt");
        cr_assert_eq(shmring_mpmc_close(p), 0);
        cr_assert_eq(shmring_mpmc_close(c), 0);
        mt_assert_rc(shmring_unlink(name), 0, "unlink a corrupt ring");
    }
    mt_assert_no_ipc();
}

/* Geometry in the header overwritten after attach: handles keep their own copy and stay inside the
 * segment; new opens refuse the ring. */
MT_TEST(mpmc_badinput, garbage_geometry_after_attach, .timeout = 30)
{
    const char *name = mt_create(8, 64, 0);
    struct shmring_mpmc *p = mt_open(name, SHMRING_PRODUCER), *c = mt_open(name, SHMRING_CONSUMER), *x = NULL;
    uint8_t buf[128] = {0};
    unsigned i;
    p->hdr->ident.capacity = UINT64_C(1) << 40;
    p->hdr->ident.slot_size = UINT32_MAX;
    for (i = 0; i < 100; i++) {
        testutil_fill(buf, 64, i);
        mt_assert_rc(shmring_mpmc_push(p, buf, 64), 0, "push after the geometry was overwritten");
        mt_assert_rc(shmring_mpmc_push(p, buf, 65), -EMSGSIZE, "push beyond the real slot size");
        mt_assert_rc(shmring_mpmc_pop(c, buf, sizeof(buf)), 64, "pop");
        cr_assert(testutil_check_fill(buf, 64, i));
    }
    cr_assert_eq(shmring_mpmc_capacity(c), 8);
    cr_assert_eq(shmring_mpmc_slot_size(c), 64);
    mt_assert_rc(shmring_mpmc_open(name, SHMRING_PRODUCER, &x), -EUCLEAN, "open of a ring with garbage geometry");
    cr_assert_eq(shmring_mpmc_close(p), 0);
    cr_assert_eq(shmring_mpmc_close(c), 0);
    mt_assert_rc(shmring_unlink(name), 0, "unlink");
    mt_assert_no_ipc();
}

/* --- Fuzz: garbage in sequence words, positions and lengths between operations ---------------- */

static uint64_t fuzz_iterations(void)
{
    const char *env = getenv("SHMRING_FUZZ_ITERATIONS");
    return env ? strtoull(env, NULL, 10) : 30000;
}

static int allowed_error(long long rc)
{
    return rc == -EAGAIN || rc == -EUCLEAN || rc == -ETIMEDOUT || rc == -EPIPE;
}

/* A garbage value for a word that should hold a position near `near`. */
static uint64_t garbage(uint64_t *rng, uint64_t near, uint64_t cap)
{
    switch (testutil_rand(rng) % 6) {
    case 0:
        return testutil_rand(rng); /* anything */
    case 1:
        return near + (testutil_rand(rng) % 7) - 3; /* just off */
    case 2:
        return near + cap * ((testutil_rand(rng) % 5) - 2) + (testutil_rand(rng) % 3); /* laps off */
    case 3:
        return near + (UINT64_C(1) << (testutil_rand(rng) % 64)); /* a huge jump */
    case 4:
        return near - (UINT64_C(1) << (testutil_rand(rng) % 64));
    default:
        return 0;
    }
}

static void corrupt_something(struct shmring_mpmc *q, uint64_t *rng)
{
    uint64_t slot = testutil_rand(rng) % q->capacity;
    struct shmring_mpmc_slot_hdr *s = (struct shmring_mpmc_slot_hdr *)(void *)(q->slots + slot * q->stride);
    uint64_t near = atomic_load(&q->hdr->prod.pos);
    switch (testutil_rand(rng) % 8) {
    case 0:
    case 1:
    case 2:
    case 3:
        atomic_store(&s->seq, garbage(rng, near + slot, q->capacity));
        break;
    case 4:
        s->len = (uint32_t)testutil_rand(rng);
        break;
    case 5:
        atomic_store(&q->hdr->prod.pos, garbage(rng, near, q->capacity));
        break;
    case 6:
        atomic_store(&q->hdr->cons.pos, garbage(rng, atomic_load(&q->hdr->cons.pos), q->capacity));
        break;
    default: { /* a participant's intent */
        struct shmring_participant *t = (struct shmring_participant *)(void *)((uint8_t *)q->hdr + SHMRING_HEADER_SIZE);
        unsigned i = (unsigned)(testutil_rand(rng) % 4);
        atomic_store(&t[i].intent_pos, garbage(rng, near, q->capacity));
        atomic_store(&t[i].intent_n, (uint32_t)testutil_rand(rng));
        break;
    }
    }
}

static void fuzz_producer(struct shmring_mpmc *p, uint64_t *rng, uint64_t *ops)
{
    struct shmring_mpmc_span c = {0, 0};
    unsigned want = 1 + (unsigned)(testutil_rand(rng) % p->capacity), i;
    uint8_t buf[128] = {0}; /* larger than a slot: gcc cannot see that push checks len first */
    int n;
    switch (testutil_rand(rng) % 5) {
    case 0:
        n = shmring_mpmc_claim(p, want, &c);
        break;
    case 1:
        n = shmring_mpmc_claim_bulk(p, want, &c);
        break;
    case 2:
        n = shmring_mpmc_claim_wait(p, want, &c, 0);
        break;
    case 3:
        n = shmring_mpmc_push(p, buf, testutil_rand(rng) % 65);
        cr_assert(n == 0 || allowed_error(n), "push: %d (%s)", n, shmring_err_name(n));
        ops[n == 0]++;
        return;
    default:
        n = shmring_mpmc_push_wait(p, buf, testutil_rand(rng) % 65, 1000);
        cr_assert(n == 0 || allowed_error(n), "push_wait: %d (%s)", n, shmring_err_name(n));
        ops[n == 0]++;
        return;
    }
    cr_assert(allowed_error(n) || (n >= 1 && n <= (int)want), "claim of %u: %d (%s)", want, n, shmring_err_name(n));
    ops[n > 0]++;
    if (n <= 0)
        return;
    cr_assert_eq(c.n, (uint32_t)n);
    for (i = 0; i < c.n; i++) {
        uint8_t *s = shmring_mpmc_slot(p, &c, i);
        cr_assert(mt_in_slots(p, s, p->slot_size), "claimed slot %u of %u at %p, outside [%p, %p)", i, c.n,
                  (void *)s, (void *)p->slots, (void *)(p->slots + p->capacity * p->stride));
        memset(s, 0xab, p->slot_size); /* the whole payload is ours to write */
    }
    shmring_mpmc_publish(p, &c, NULL);
}

static void fuzz_consumer(struct shmring_mpmc *q, uint64_t *rng, uint64_t *ops)
{
    struct shmring_mpmc_span c = {0, 0};
    unsigned want = 1 + (unsigned)(testutil_rand(rng) % q->capacity), i;
    uint8_t buf[64] = {0};
    int n;
    switch (testutil_rand(rng) % 5) {
    case 0:
        n = shmring_mpmc_take(q, want, &c);
        break;
    case 1:
        n = shmring_mpmc_take_bulk(q, want, &c);
        break;
    case 2:
        n = shmring_mpmc_take_wait(q, want, &c, 0);
        break;
    case 3: {
        ssize_t r = shmring_mpmc_pop(q, buf, sizeof(buf));
        cr_assert((r >= 0 && r <= 64) || allowed_error(r), "pop: %zd (%s)", r, shmring_err_name((int)r));
        ops[r >= 0]++;
        return;
    }
    default: {
        ssize_t r = shmring_mpmc_pop_wait(q, buf, sizeof(buf), 1000);
        cr_assert((r >= 0 && r <= 64) || allowed_error(r), "pop_wait: %zd (%s)", r, shmring_err_name((int)r));
        ops[r >= 0]++;
        return;
    }
    }
    cr_assert(allowed_error(n) || (n >= 1 && n <= (int)want), "take of %u: %d (%s)", want, n, shmring_err_name(n));
    ops[n > 0]++;
    if (n <= 0)
        return;
    cr_assert_eq(c.n, (uint32_t)n);
    for (i = 0; i < c.n; i++) {
        const void *b = NULL;
        size_t len = 0;
        int err = shmring_mpmc_record(q, &c, i, &b, &len);
        cr_assert(err == 0 || err == -EUCLEAN, "record: %s", shmring_err_name(err));
        if (err == 0) {
            cr_assert(len <= q->slot_size, "record length %zu > slot size", len);
            cr_assert(mt_in_slots(q, b, len), "record %u at %p (+%zu), outside [%p, %p)", i, b, len,
                      (const void *)q->slots, (const void *)(q->slots + q->capacity * q->stride));
            if (len) /* touch both ends: a bad pointer faults here */
                (void)(((const volatile uint8_t *)b)[0] + ((const volatile uint8_t *)b)[len - 1]);
        } else {
            cr_assert_null(b);
            cr_assert_eq(len, 0);
        }
    }
    shmring_mpmc_release(q, &c);
}

MT_TEST(mpmc_badinput, garbage_between_operations, .timeout = 60)
{
    static const uint64_t starts[] = {0, (UINT64_C(1) << 32) - 5, UINT64_MAX - 5};
    const uint64_t iters = fuzz_iterations();
    uint64_t k;
    for (k = 0; k < 3; k++) {
        const char *name = mt_create(8, 64, starts[k]);
        struct shmring_mpmc *p1 = mt_open(name, SHMRING_PRODUCER), *p2 = mt_open(name, SHMRING_PRODUCER);
        struct shmring_mpmc *c1 = mt_open(name, SHMRING_CONSUMER), *c2 = mt_open(name, SHMRING_CONSUMER);
        uint64_t rng = 0xdecafbad + k, i, ops[2] = {0, 0};
        shmring_mpmc_set_spin(p1, 0);
        shmring_mpmc_set_spin(p2, 0);
        shmring_mpmc_set_spin(c1, 0);
        shmring_mpmc_set_spin(c2, 0);
        for (i = 0; i < iters; i++) {
            if (testutil_rand(&rng) % 4 == 0)
                corrupt_something(p1, &rng);
            if (testutil_rand(&rng) & 1)
                fuzz_producer(testutil_rand(&rng) & 1 ? p1 : p2, &rng, ops);
            else
                fuzz_consumer(testutil_rand(&rng) & 1 ? c1 : c2, &rng, ops);
        }
        cr_log_info("start %#llx: %llu operations succeeded, %llu failed", (unsigned long long)starts[k],
                    (unsigned long long)ops[1], (unsigned long long)ops[0]);
        cr_assert_gt(ops[1], 0, "no operation ever succeeded");
        cr_assert_eq(shmring_mpmc_close(p1), 0);
        cr_assert_eq(shmring_mpmc_close(p2), 0);
        cr_assert_eq(shmring_mpmc_close(c1), 0);
        cr_assert_eq(shmring_mpmc_close(c2), 0);
        mt_assert_rc(shmring_unlink(name), 0, "unlink");
    }
    mt_assert_no_ipc();
}

/* Every slot's sequence word set to the same hostile value: claims and takes refuse or return a
 * bounded count, whatever the value. */
MT_TEST(mpmc_badinput, uniform_garbage, .timeout = 30)
{
    static const uint64_t values[] = {0, 1, 2, 3, 8, 9, UINT64_MAX, UINT64_MAX - 1, UINT64_C(1) << 63,
                                      (UINT64_C(1) << 63) - 1, UINT64_C(0xdeadbeefdeadbeef)};
    unsigned k;
    for (k = 0; k < sizeof(values) / sizeof(values[0]); k++) {
        const char *name = mt_create(8, 16, 0);
        struct shmring_mpmc *p = mt_open(name, SHMRING_PRODUCER), *c = mt_open(name, SHMRING_CONSUMER);
        struct shmring_mpmc_span cl = {0, 0};
        uint64_t i;
        int n;
        for (i = 0; i < 8; i++)
            atomic_store(&((struct shmring_mpmc_slot_hdr *)(void *)(p->slots + i * p->stride))->seq, values[k]);
        n = shmring_mpmc_claim(p, 8, &cl);
        cr_assert(allowed_error(n) || (n >= 1 && n <= 8), "claim over %#llx: %d", (unsigned long long)values[k], n);
        if (n > 0) {
            for (i = 0; i < cl.n; i++)
                cr_assert(mt_in_slots(p, shmring_mpmc_slot(p, &cl, (unsigned)i), 16));
            shmring_mpmc_publish(p, &cl, NULL);
        }
        n = shmring_mpmc_take(c, 8, &cl);
        cr_assert(allowed_error(n) || (n >= 1 && n <= 8), "take over %#llx: %d", (unsigned long long)values[k], n);
        if (n > 0) {
            for (i = 0; i < cl.n; i++) {
                const void *b;
                size_t len;
                if (shmring_mpmc_record(c, &cl, (unsigned)i, &b, &len) == 0)
                    cr_assert(mt_in_slots(c, b, len));
            }
            shmring_mpmc_release(c, &cl);
        }
        n = shmring_mpmc_take_wait(c, 8, &cl, 1000);
        cr_assert(allowed_error(n) || (n >= 1 && n <= 8), "take_wait over %#llx: %d", (unsigned long long)values[k], n);
        if (n > 0)
            shmring_mpmc_release(c, &cl);
        cr_assert_eq(shmring_mpmc_close(p), 0);
        cr_assert_eq(shmring_mpmc_close(c), 0);
        mt_assert_rc(shmring_unlink(name), 0, "unlink");
    }
    mt_assert_no_ipc();
}

/* A position far ahead of the other side's (a producer is never more than a lap ahead of the
 * consumers, a consumer never ahead of the producers): the waits report corruption at once instead
 * of "recovering" slot after slot towards it (found by the fuzzer: take_wait spun for ever). */
MT_TEST(mpmc_badinput, position_far_ahead, .timeout = 30)
{
    int side;
    for (side = 0; side < 2; side++) {
        const char *name = mt_create(8, 64, 0);
        struct shmring_mpmc *p = mt_open(name, SHMRING_PRODUCER), *c = mt_open(name, SHMRING_CONSUMER);
        struct shmring_mpmc_span span = {0, 0};
        uint8_t buf[64] = {0};
        int64_t t0 = testutil_now_ns();
        int rc;
        if (side == 0) {
            atomic_store_explicit((_Atomic uint64_t *)&p->hdr->prod.pos, UINT64_C(1) << 40, memory_order_relaxed);
            rc = shmring_mpmc_take_wait(c, 5, &span, 0);
            cr_assert_eq(rc, -EUCLEAN, "take_wait, timeout 0: %s", shmring_err_name(rc));
            rc = (int)shmring_mpmc_pop_wait(c, buf, sizeof(buf), 100 * 1000 * 1000);
        } else {
            /* Fill the ring, then put the consumers' position far ahead of the producers'. */
            while (shmring_mpmc_push(p, buf, 8) == 0)
                ;
            atomic_store_explicit((_Atomic uint64_t *)&p->hdr->cons.pos, UINT64_C(1) << 40, memory_order_relaxed);
            rc = shmring_mpmc_push_wait(p, buf, 8, 100 * 1000 * 1000);
        }
        cr_assert(rc == -EUCLEAN || rc == -ETIMEDOUT, "side %d: %s", side, shmring_err_name(rc));
        cr_assert(testutil_now_ns() - t0 < 5LL * 1000 * 1000 * 1000, "side %d: took %lld ns", side,
                  (long long)(testutil_now_ns() - t0));
        cr_assert_eq(shmring_mpmc_close(p), 0);
        cr_assert_eq(shmring_mpmc_close(c), 0);
        mt_assert_rc(shmring_unlink(name), 0, "unlink");
    }
    mt_assert_no_ipc();
}
