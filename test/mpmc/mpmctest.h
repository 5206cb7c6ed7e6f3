/* Fixtures and assertions shared by the Criterion tests of test/mpmc. Tests of one binary run one
 * at a time (CRITERION_JOBS=1 in BUILD): they share the sandbox's IPC namespace. */
#ifndef SHMRING_TEST_MPMC_MPMCTEST_H
#define SHMRING_TEST_MPMC_MPMCTEST_H

#include <criterion/criterion.h>

#include "mpmcutil.h"

/* Every test ends with this: nothing of the test's System V objects may be left. */
#define mt_assert_no_ipc()                                                                     \
    do {                                                                                       \
        int left_ = testutil_ipc_objects();                                                    \
        if (left_ != 0)                                                                        \
            testutil_ipc_dump();                                                               \
        cr_assert_eq(left_, 0, "%d System V objects left at the end of the test", left_);      \
    } while (0)

/* Asserts that a shmring call returned `want` (both printed by name on failure). */
#define mt_assert_rc(got, want, what)                                                          \
    do {                                                                                       \
        long long g_ = (long long)(got), w_ = (long long)(want);                               \
        cr_assert_eq(g_, w_, "%s: got %lld (%s), want %lld (%s)", (what), g_,                  \
                     shmring_err_name((int)g_), w_, shmring_err_name((int)w_));                \
    } while (0)

static inline void mt_init(void)
{
    int n = testutil_ipc_objects();
    if (n != 0)
        testutil_ipc_dump();
    cr_assert_eq(n, 0, "%d System V objects exist before the test", n);
}

/* Also runs after a failed assertion: no child, no object survives a test. */
static inline void mt_fini(void)
{
    mt_kill_all();
    testutil_ipc_remove_all();
}

#define MT_TEST(suite, name, ...) Test(suite, name, .init = mt_init, .fini = mt_fini, __VA_ARGS__)

/* Creates an MPMC ring under a fresh name; returns the name (valid until the next call). */
static inline const char *mt_create(uint64_t capacity, uint32_t slot_size, uint64_t start)
{
    static char name[SHMRING_NAME_MAX + 1];
    struct shmring_config cfg;
    int err;
    shmring_config_init(&cfg);
    cfg.capacity = capacity;
    cfg.slot_size = slot_size;
    cfg.start_position = start;
    snprintf(name, sizeof(name), "%s", testutil_name("mpmc"));
    err = shmring_mpmc_create(name, &cfg);
    cr_assert_eq(err, 0, "create %s (capacity %llu, slot %u): %s", name, (unsigned long long)capacity, slot_size,
                 shmring_strerror(err));
    return name;
}

static inline struct shmring_mpmc *mt_open(const char *name, enum shmring_role role)
{
    struct shmring_mpmc *q = NULL;
    int err = shmring_mpmc_open(name, role, &q);
    cr_assert_eq(err, 0, "open %s as %s: %s", name, role == SHMRING_PRODUCER ? "producer" : "consumer",
                 shmring_strerror(err));
    return q;
}

/* Does [p, p + len) lie in the handle's slot area? */
static inline int mt_in_slots(const struct shmring_mpmc *q, const void *p, size_t len)
{
    const uint8_t *b = (const uint8_t *)p, *lo = q->slots, *hi = q->slots + q->capacity * q->stride;
    return b >= lo && b <= hi && len <= (size_t)(hi - b);
}

#endif
