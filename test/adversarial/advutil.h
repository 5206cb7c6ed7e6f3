/* Helpers of the adversarial Criterion tests: children that are always reaped, pipes with
 * timeouts, a read-only view of a ring's header, and the "no System V object left" check. */
#ifndef SHMRING_TEST_ADVERSARIAL_ADVUTIL_H
#define SHMRING_TEST_ADVERSARIAL_ADVUTIL_H

#include <criterion/criterion.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "shmring/shmring.h"
#include "testutil.h"

#define ADV_MS 1000000LL
#define ADV_SEC 1000000000LL

/* Children started by adv_spawn(); killed and reaped by adv_fini() whatever happened. */
#define ADV_MAX_CHILDREN 128
static pid_t adv_children[ADV_MAX_CHILDREN];

static inline pid_t adv_spawn(int (*fn)(void *), void *arg)
{
    pid_t pid;
    fflush(NULL);
    pid = fork();
    if (pid == 0)
        _exit(fn(arg));
    if (pid > 0)
        for (int i = 0; i < ADV_MAX_CHILDREN; i++)
            if (adv_children[i] == 0) {
                adv_children[i] = pid;
                break;
            }
    return pid;
}

static inline void adv_forget(pid_t pid)
{
    for (int i = 0; i < ADV_MAX_CHILDREN; i++)
        if (adv_children[i] == pid)
            adv_children[i] = 0;
}

/* Waits for a child at most timeout_ns (then kills it): its status as testutil_wait_timeout(). */
static inline int adv_join(pid_t pid, int64_t timeout_ns)
{
    int st = testutil_wait_timeout(pid, timeout_ns);
    adv_forget(pid);
    return st;
}

static inline int adv_kill(pid_t pid)
{
    int st = testutil_kill_wait(pid);
    adv_forget(pid);
    return st;
}

static inline void adv_sleep_ns(int64_t ns)
{
    struct timespec ts = {(time_t)(ns / ADV_SEC), (long)(ns % ADV_SEC)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* One byte from fd within timeout_ns: the byte, -1 on timeout or EOF. */
static inline int adv_read_byte(int fd, int64_t timeout_ns)
{
    struct pollfd p = {fd, POLLIN, 0};
    unsigned char b;
    int r = poll(&p, 1, (int)(timeout_ns / ADV_MS));
    if (r <= 0 || read(fd, &b, 1) != 1)
        return -1;
    return b;
}

static inline void adv_write_byte(int fd, int b)
{
    unsigned char c = (unsigned char)b;
    while (write(fd, &c, 1) < 0 && errno == EINTR) {
    }
}

static inline void *adv_shared(size_t bytes)
{
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    cr_assert_neq(p, MAP_FAILED, "mmap of %zu shared bytes", bytes);
    memset(p, 0, bytes);
    return p;
}

/* A read-only view of the header of the ring `name` (NULL if there is none). */
static inline const struct shmring_header *adv_observe(const char *name)
{
    int id = shmget((key_t)shmring_name_key(name), 0, 0);
    void *p = id >= 0 ? shmat(id, NULL, SHM_RDONLY) : (void *)-1;
    return p == (void *)-1 ? NULL : (const struct shmring_header *)p;
}

#define ADV_LOAD(field) __atomic_load_n((const uint64_t *)&(field), __ATOMIC_ACQUIRE)

static inline void adv_init(void)
{
    int n = testutil_ipc_objects();
    if (n != 0)
        testutil_ipc_dump();
    cr_assert_eq(n, 0, "%d System V objects exist before the test", n);
}

static inline void adv_fini(void)
{
    for (int i = 0; i < ADV_MAX_CHILDREN; i++)
        if (adv_children[i] > 0) {
            testutil_kill_wait(adv_children[i]);
            adv_children[i] = 0;
        }
    testutil_ipc_remove_all();
}

#define adv_assert_no_ipc()                                                                    \
    do {                                                                                       \
        int left_ = testutil_ipc_objects();                                                    \
        if (left_ != 0)                                                                        \
            testutil_ipc_dump();                                                               \
        cr_assert_eq(left_, 0, "%d System V objects left at the end of the test", left_);      \
    } while (0)

#define adv_assert_rc(got, want, what)                                                         \
    do {                                                                                       \
        long long g_ = (long long)(got), w_ = (long long)(want);                               \
        cr_assert_eq(g_, w_, "%s: got %lld (%s), want %lld (%s)", (what), g_,                  \
                     shmring_err_name((int)g_), w_, shmring_err_name((int)w_));                \
    } while (0)

#endif
