/* Many threads open, look up and close handles on the same and on different rings at once (the
 * registry's lock-free table and its reference counts), each pushing a record through its handle.
 * A plain program, so that it also runs under ThreadSanitizer. Exits non-zero on any failure.
 * SHMRING_STRESS_MS: run time in milliseconds (default 2000). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ipc.h>
#include <sys/shm.h>

#include "shmring/shmring.h"
#include "testutil.h"

#define THREADS 8
#define RINGS 4

static char names[RINGS][64];
static int64_t stop_at;
static int failed;

#define FAIL(...)                                                                                  \
    do {                                                                                           \
        fprintf(stderr, __VA_ARGS__);                                                              \
        fputc('\n', stderr);                                                                       \
        __atomic_store_n(&failed, 1, __ATOMIC_RELAXED);                                            \
        return NULL;                                                                               \
    } while (0)

static void *worker(void *arg)
{
    uint64_t seed = (uint64_t)(uintptr_t)arg * 7919 + 1, rounds = 0;
    while (testutil_now_ns() < stop_at && !__atomic_load_n(&failed, __ATOMIC_RELAXED)) {
        /* Rings 0 and 1 are shared by everybody; the others by half of the threads each. */
        unsigned r = (unsigned)(testutil_rand(&seed) % 2 ? testutil_rand(&seed) % 2 : 2 + (uintptr_t)arg % 2);
        struct shmring_mpmc *p, *c;
        struct shmring_control *ctl = NULL;
        uint64_t v = ((uint64_t)(uintptr_t)arg << 32) | rounds, got;
        int rc, n;

        if ((rc = shmring_mpmc_open(names[r], SHMRING_PRODUCER, &p)) != 0)
            FAIL("open producer %s: %s", names[r], shmring_err_name(rc));
        if ((rc = shmring_mpmc_open(names[r], SHMRING_CONSUMER, &c)) != 0)
            FAIL("open consumer %s: %s", names[r], shmring_err_name(rc));
        if (rounds % 8 == 0 && (rc = shmring_control_open(names[r], 0, &ctl)) != 0)
            FAIL("open control %s: %s", names[r], shmring_err_name(rc));
        if ((n = shmring_attached(names[r])) < 2)
            FAIL("attached(%s) = %d while holding 2", names[r], n);
        if ((rc = shmring_mpmc_push(p, &v, sizeof(v))) != 0)
            FAIL("push: %s", shmring_err_name(rc));
        /* Other threads share the ring: we get some record back, not necessarily ours. */
        if ((rc = (int)shmring_mpmc_pop_wait(c, &got, sizeof(got), 5LL * 1000 * 1000 * 1000)) != (int)sizeof(got))
            FAIL("pop: %s", shmring_err_name(rc));
        shmring_control_close(ctl);
        if (shmring_mpmc_close(c) != 0 || shmring_mpmc_close(p) != 0)
            FAIL("close");
        rounds++;
    }
    return (void *)(uintptr_t)rounds;
}

int main(void)
{
    pthread_t t[THREADS];
    const char *env = getenv("SHMRING_STRESS_MS");
    int64_t ms = env ? atoll(env) : 2000;
    uint64_t total = 0;
    unsigned i;
    struct shmring_config cfg;

    shmring_config_init(&cfg);
    cfg.capacity = 64;
    cfg.slot_size = 8;
    for (i = 0; i < RINGS; i++) {
        snprintf(names[i], sizeof(names[i]), "regthreads_%u", i);
        if (shmring_mpmc_create(names[i], &cfg) != 0) {
            fprintf(stderr, "create %s failed\n", names[i]);
            return 1;
        }
    }
    stop_at = testutil_now_ns() + ms * 1000 * 1000;
    for (i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)i);
    for (i = 0; i < THREADS; i++) {
        void *r;
        pthread_join(t[i], &r);
        total += (uint64_t)(uintptr_t)r;
    }
    for (i = 0; i < RINGS; i++) {
        struct shmid_ds ds;
        int id = shmget((key_t)shmring_name_key(names[i]), 0, 0);
        if (shmring_attached(names[i]) != 0) {
            fprintf(stderr, "%s: %d references left\n", names[i], shmring_attached(names[i]));
            failed = 1;
        }
        if (id < 0 || shmctl(id, IPC_STAT, &ds) != 0 || ds.shm_nattch != 0) {
            fprintf(stderr, "%s: segment still attached\n", names[i]);
            failed = 1;
        }
        shmring_unlink(names[i]);
    }
    if (testutil_ipc_objects() != 0) {
        testutil_ipc_dump();
        failed = 1;
    }
    printf("%d threads, %llu open/push/pop/close rounds on %d rings in %lld ms: %s\n", THREADS,
           (unsigned long long)total, RINGS, (long long)ms, failed ? "FAILED" : "ok");
    return failed || total == 0;
}
