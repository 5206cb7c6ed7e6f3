/* Shared by the Criterion test files of test/proc. */
#ifndef SHMRING_TEST_PROC_PROCTEST_H
#define SHMRING_TEST_PROC_PROCTEST_H

#include <criterion/criterion.h>

#include "procutil.h"
#include "testutil.h"

/* Every test ends with this: nothing of the test's System V objects may be left. */
#define assert_no_ipc_objects()                                                        \
    do {                                                                               \
        int left_ = testutil_ipc_objects();                                            \
        if (left_ != 0)                                                                \
            testutil_ipc_dump();                                                       \
        cr_assert_eq(left_, 0, "%d System V objects left at the end of the test", left_); \
    } while (0)

/* .init: the namespace must be empty when a test starts (tests of a binary run one at a time:
 * CRITERION_JOBS=1 in BUILD). */
static inline void proctest_init(void)
{
    int n = testutil_ipc_objects();
    if (n != 0)
        testutil_ipc_dump();
    cr_assert_eq(n, 0, "%d System V objects exist before the test", n);
}

/* .fini: also runs after a failed assertion. */
static inline void proctest_fini(void)
{
    proc_cleanup();
}

/* A test with the fixtures above; pass at least its .timeout (seconds). */
#define PROC_TEST(suite, name, ...) \
    Test(suite, name, .init = proctest_init, .fini = proctest_fini, __VA_ARGS__)

#endif
