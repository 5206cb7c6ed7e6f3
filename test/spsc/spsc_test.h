/* Helpers shared by the SPSC tests: an IPC leak check after every test, ring setup, records. */
#ifndef SHMRING_TEST_SPSC_TEST_H
#define SHMRING_TEST_SPSC_TEST_H

#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <criterion/options.h>
#include <inttypes.h>
#include <shmring/shmring.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

/* Criterion runs tests in parallel by default (one job per core). The tests of one binary share
 * its IPC namespace and count the objects in it, so they must run one at a time. A --jobs or
 * CRITERION_JOBS given at run time still overrides this. */
__attribute__((constructor)) static void spsc_test_one_job(void)
{
    criterion_options.jobs = 1;
}

/* Checked at the end of every SPSC_TEST body: the test left no System V object behind. */
static inline void spsc_assert_no_ipc(void)
{
    int n = testutil_ipc_objects();
    if (n != 0)
        testutil_ipc_dump();
    cr_assert(n == 0, "%d System V object(s) left behind (listed above on stderr)", n);
}

/* Criterion reports a failed assertion in .init/.fini only as a warning, so the leak check proper
 * is the one at the end of each test body. These only keep a test that crashed or failed half-way
 * from leaking its objects into the next test. */
static void spsc_test_init(void)
{
    int n = testutil_ipc_objects();
    if (n > 0) {
        cr_log_warn("%d System V object(s) left by an earlier test; removing them", n);
        testutil_ipc_dump();
        testutil_ipc_remove_all();
    }
}

static void spsc_test_fini(void)
{
    int n = testutil_ipc_objects();
    if (n > 0)
        testutil_ipc_remove_all();
}

/* A suite whose tests are bounded in time and cleaned up after. */
#define SPSC_SUITE(suite) TestSuite(suite, .init = spsc_test_init, .fini = spsc_test_fini, .timeout = 60)

/* A test that ends with the leak check (which a failed assertion in the body skips: the test has
 * failed already, and .fini removes what it left). */
#define SPSC_TEST(suite, name)           \
    static void suite##__##name(void);   \
    Test(suite, name)                    \
    {                                    \
        suite##__##name();               \
        spsc_assert_no_ipc();            \
    }                                    \
    static void suite##__##name(void)

/* --- Assertions that print both sides -------------------------------------------------------- */

/* An integer result (return code, count, length) against its expected value. Negative values are
 * printed with their errno name as well. */
#define SPSC_EQ(actual, expected)                                                                   \
    do {                                                                                            \
        int64_t spsc_a_ = (int64_t)(actual), spsc_e_ = (int64_t)(expected);                         \
        cr_assert(spsc_a_ == spsc_e_, "%s: got %" PRId64 " (%s), expected %" PRId64 " (%s)", #actual, \
                  spsc_a_, spsc_a_ < 0 ? shmring_err_name((int)spsc_a_) : "-", spsc_e_,               \
                  spsc_e_ < 0 ? shmring_err_name((int)spsc_e_) : "-");                               \
    } while (0)

/* Same, continuing the test on failure. */
#define SPSC_EXPECT_EQ(actual, expected)                                                            \
    do {                                                                                            \
        int64_t spsc_a_ = (int64_t)(actual), spsc_e_ = (int64_t)(expected);                         \
        cr_expect(spsc_a_ == spsc_e_, "%s: got %" PRId64 " (%s), expected %" PRId64 " (%s)", #actual, \
                  spsc_a_, spsc_a_ < 0 ? shmring_err_name((int)spsc_a_) : "-", spsc_e_,               \
                  spsc_e_ < 0 ? shmring_err_name((int)spsc_e_) : "-");                               \
    } while (0)

/* Unsigned 64-bit values (positions, counters). */
#define SPSC_EQU(actual, expected)                                                                  \
    do {                                                                                            \
        uint64_t spsc_a_ = (uint64_t)(actual), spsc_e_ = (uint64_t)(expected);                      \
        cr_assert(spsc_a_ == spsc_e_, "%s: got %" PRIu64 ", expected %" PRIu64, #actual, spsc_a_, spsc_e_); \
    } while (0)

/* --- Rings ----------------------------------------------------------------------------------- */

static inline struct shmring_config spsc_cfg(uint64_t capacity)
{
    struct shmring_config cfg;
    shmring_config_init(&cfg);
    cfg.capacity = capacity;
    return cfg;
}

/* Record alignment of the ring: 8, or 64 (SHMRING_F_ALIGN64). */
static inline uint64_t spsc_align(const struct shmring_spsc *r)
{
    return r->align_mask + 1;
}

/* An anonymous ring of `capacity` bytes created with `flags`: both ends in this process. */
static inline void spsc_pipe_flags(uint64_t capacity, uint32_t flags, struct shmring_spsc **p,
                                   struct shmring_spsc **c)
{
    struct shmring_config cfg = spsc_cfg(capacity);
    uint64_t align = (flags & SHMRING_F_ALIGN64) ? 64 : 8;
    cfg.flags = flags;
    SPSC_EQ(shmring_spsc_pipe(&cfg, p, c), 0);
    cr_assert(*p != NULL && *c != NULL);
    SPSC_EQU(shmring_spsc_capacity(*p), capacity);
    SPSC_EQU(spsc_align(*p), align);
    SPSC_EQU(spsc_align(*c), align);
    SPSC_EQU(shmring_spsc_max_record(*p), capacity - align - 8);
}

/* An anonymous ring of `capacity` bytes: both ends in this process. */
static inline void spsc_pipe(uint64_t capacity, struct shmring_spsc **p, struct shmring_spsc **c)
{
    spsc_pipe_flags(capacity, 0, p, c);
}

/* The same with positions starting at `start` (rounded down to 8), e.g. just before 2^32 or 2^64. */
static inline void spsc_pipe_at(uint64_t capacity, uint64_t start, struct shmring_spsc **p, struct shmring_spsc **c)
{
    struct shmring_config cfg = spsc_cfg(capacity);
    cfg.start_position = start;
    SPSC_EQ(shmring_spsc_pipe(&cfg, p, c), 0);
    SPSC_EQU(shmring__load(&(*p)->hdr->prod.pos, relaxed), start & ~UINT64_C(7));
    SPSC_EQU(shmring__load(&(*c)->hdr->cons.pos, relaxed), start & ~UINT64_C(7));
}

/* Creates a named ring of `capacity` bytes with a fresh name (copied into name[64]). */
static inline void spsc_create(char name[64], const char *tag, uint64_t capacity)
{
    struct shmring_config cfg = spsc_cfg(capacity);
    snprintf(name, 64, "%s", testutil_name(tag));
    SPSC_EQ(shmring_spsc_create(name, &cfg), 0);
}

/* Opens both ends of the named ring. */
static inline void spsc_open_pair(const char *name, struct shmring_spsc **p, struct shmring_spsc **c)
{
    SPSC_EQ(shmring_spsc_open(name, SHMRING_PRODUCER, p), 0);
    SPSC_EQ(shmring_spsc_open(name, SHMRING_CONSUMER, c), 0);
}

static inline void spsc_close_pair(struct shmring_spsc *p, struct shmring_spsc *c)
{
    SPSC_EQ(shmring_spsc_close(p), 0);
    SPSC_EQ(shmring_spsc_close(c), 0);
}

/* Bytes a record of `len` payload bytes takes in the data area: header word + payload, 8-aligned. */
static inline uint64_t spsc_rec_size(uint64_t len)
{
    return (len + 8 + 7) & ~UINT64_C(7);
}

/* Shared positions, as the ring publishes them (producer: after each commit; consumer: after each
 * release). */
static inline uint64_t spsc_prod_pos(const struct shmring_spsc *r)
{
    return shmring__load(&r->hdr->prod.pos, acquire);
}

static inline uint64_t spsc_cons_pos(const struct shmring_spsc *r)
{
    return shmring__load(&r->hdr->cons.pos, acquire);
}

/* Offset in the data area of the payload at `buf` (asserts it lies inside the data area with its
 * `len` bytes). */
static inline uint64_t spsc_payload_off(const struct shmring_spsc *r, const void *buf, size_t len)
{
    const uint8_t *b = (const uint8_t *)buf;
    uint64_t cap = shmring_spsc_capacity(r);
    cr_assert(b >= r->data && b <= r->data + cap && (uint64_t)(r->data + cap - b) >= len,
              "payload %p (+%zu bytes) outside the data area [%p, %p)", buf, len, (void *)r->data,
              (void *)(r->data + cap));
    return (uint64_t)(b - r->data);
}

/* --- Records: a sequence number in the first 8 bytes (when there is room), then testutil_fill
 * contents derived from it. ------------------------------------------------------------------- */

static inline void rec_fill(void *buf, size_t len, uint64_t seq)
{
    if (len >= 8) {
        memcpy(buf, &seq, 8);
        testutil_fill((uint8_t *)buf + 8, len - 8, seq);
    } else {
        testutil_fill(buf, len, seq);
    }
}

static inline int rec_check(const void *buf, size_t len, uint64_t seq)
{
    if (len >= 8) {
        uint64_t s;
        memcpy(&s, buf, 8);
        return s == seq && testutil_check_fill((const uint8_t *)buf + 8, len - 8, seq);
    }
    return testutil_check_fill(buf, len, seq);
}

/* Pushes one record of `len` bytes for `seq` (asserting success). */
static inline void spsc_push_rec(struct shmring_spsc *p, size_t len, uint64_t seq)
{
    void *buf = NULL;
    SPSC_EQ(shmring_spsc_reserve(p, len, &buf), 0);
    rec_fill(buf, len, seq);
    SPSC_EQ(shmring_spsc_commit(p), 1);
}

/* Pops one record and checks it is `seq` of `len` bytes. */
static inline void spsc_pop_rec(struct shmring_spsc *c, size_t len, uint64_t seq)
{
    const void *buf = NULL;
    size_t n = 0;
    SPSC_EQ(shmring_spsc_peek(c, &buf, &n), 0);
    SPSC_EQ(n, len);
    spsc_payload_off(c, buf, n);
    cr_assert(rec_check(buf, n, seq), "record %" PRIu64 " (%zu bytes) has wrong contents", seq, n);
    SPSC_EQ(shmring_spsc_release(c), 1);
}

/* Pushes records of `len` bytes (contents irrelevant) until the ring refuses one; returns how many.
 * Bounded, so that a broken ring fails the test instead of hanging it. */
static inline unsigned spsc_fill(struct shmring_spsc *p, size_t len)
{
    static const uint8_t zeros[256];
    unsigned n = 0;
    cr_assert(len <= sizeof(zeros));
    while (shmring_spsc_push(p, zeros, len) == 0)
        cr_assert(++n < 1000000, "the ring never fills up");
    return n;
}

/* Pops records until the ring says -EAGAIN (or another error, returned in *err if not NULL);
 * returns how many. Bounded like spsc_fill(). */
static inline unsigned spsc_drain(struct shmring_spsc *c, int *err)
{
    static uint8_t sink[1 << 16];
    unsigned n = 0;
    ssize_t r;
    while ((r = shmring_spsc_pop(c, sink, sizeof(sink))) >= 0)
        cr_assert(++n < 1000000, "the ring never empties");
    if (err)
        *err = (int)r;
    return n;
}

/* Moves an empty ring (producer and consumer at the same position) to data offset `off` by
 * pushing and popping filler records that end exactly there (never a padding record). A peek of
 * the empty ring after each pop (and first) gives the producer all the space back. */
static inline void spsc_move_to(struct shmring_spsc *p, struct shmring_spsc *c, uint64_t off)
{
    uint64_t cap = shmring_spsc_capacity(p), cur = spsc_prod_pos(p) & (cap - 1);
    cr_assert(off % spsc_align(p) == 0 && off < cap);
    SPSC_EQU(spsc_cons_pos(c), spsc_prod_pos(p));
    {
        const void *buf = NULL;
        size_t n = 0;
        SPSC_EQ(shmring_spsc_peek(c, &buf, &n), -EAGAIN); /* hands back what the caller released */
    }
    while (cur != off) {
        uint64_t d = off > cur ? off - cur : cap - cur; /* to the end of the area first */
        const void *buf = NULL;
        void *w = NULL;
        size_t n = 0;
        SPSC_EQ(shmring_spsc_reserve(p, d - 8, &w), 0);
        SPSC_EQ(shmring_spsc_commit(p), 1);
        SPSC_EQ(shmring_spsc_peek(c, &buf, &n), 0);
        SPSC_EQ(n, d - 8);
        SPSC_EQ(shmring_spsc_release(c), 1);
        SPSC_EQ(shmring_spsc_peek(c, &buf, &n), -EAGAIN); /* empty: hands the space back */
        cur = (cur + d) & (cap - 1);
    }
    SPSC_EQU(spsc_prod_pos(p) & (cap - 1), off);
    SPSC_EQU(spsc_cons_pos(c), spsc_prod_pos(p));
}

#endif /* SHMRING_TEST_SPSC_TEST_H */
