/* MPMC ring, bulk claims under contention: claim_bulk(n) returns n or -EAGAIN "when fewer are
 * free". Three producer threads (one handle each) claim 8 at a time from a ring that is never more
 * than 90% full, so every -EAGAIN is wrong; consumers do the same with take_bulk from a ring that
 * always holds more than they take. Rounds repeat for SHMRING_STRESS_MS milliseconds (default
 * 2000). A plain program: exits 0 on success, 1 with the counts on stderr.
 *
 * Regression test (fixed in b0cf339; include/shmring/mpmc.h, shmring__mpmc_claim): a producer
 * that loaded prod.pos just before other producers moved it scanned from the stale position; slots
 * there that another producer claimed but had not published still read "free" (seq == pos), the
 * first slot that one published stopped the scan at n < want, and the bulk path returned -EAGAIN
 * without looking at the current position, however empty the ring was. Consumers likewise. */
#include <pthread.h>
#include <sched.h>

#include "mpmcutil.h"

#define THREADS 3
#define CAPACITY 4096u
#define WANT 8u
#define BULKS_PER_ROUND 150u /* 3 x 150 x 8 = 3600 < 4096: the ring never fills */

static const char *ring;
static _Atomic uint64_t spurious[2], done[2];
static _Atomic int failed;

struct arg {
    enum shmring_role role;
    unsigned id;
};

static void *worker(void *p)
{
    struct arg *a = p;
    struct shmring_mpmc *q = NULL;
    struct shmring_mpmc_span c = {0, 0};
    int side = a->role == SHMRING_CONSUMER;
    unsigned i = 0, spins = 0;
    if (shmring_mpmc_open(ring, a->role, &q) != 0) {
        atomic_store(&failed, 1);
        return NULL;
    }
    while (i < BULKS_PER_ROUND) {
        int n = side ? shmring_mpmc_take_bulk(q, WANT, &c) : shmring_mpmc_claim_bulk(q, WANT, &c);
        if (n == -EAGAIN) {
            atomic_fetch_add(&spurious[side], 1);
            continue;
        }
        if (n != (int)WANT) {
            fprintf(stderr, "bulk_contention: %s_bulk(%u): %d (%s)\n", side ? "take" : "claim", WANT, n,
                    shmring_err_name(n));
            atomic_store(&failed, 1);
            break;
        }
        if (++spins % 8 == 0)
            sched_yield(); /* let the others run while we hold */
        if (side)
            shmring_mpmc_release(q, &c);
        else
            shmring_mpmc_publish(q, &c, NULL);
        i++;
    }
    atomic_fetch_add(&done[side], i);
    shmring_mpmc_close(q);
    return NULL;
}

static void run_threads(enum shmring_role role)
{
    pthread_t th[THREADS];
    struct arg args[THREADS];
    unsigned i;
    for (i = 0; i < THREADS; i++) {
        args[i] = (struct arg){role, i};
        pthread_create(&th[i], NULL, worker, &args[i]);
    }
    for (i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
}

int main(void)
{
    static char name[SHMRING_NAME_MAX + 1];
    struct shmring_config cfg;
    struct shmring_mpmc *p = NULL, *c = NULL;
    const char *env = getenv("SHMRING_STRESS_MS");
    int64_t ms = env ? atoll(env) : 2000, deadline;
    uint64_t rounds = 0, i;
    uint8_t rec[8] = {0};
    int err, rc = 0;

    alarm((unsigned)(ms / 1000) + 60);
    snprintf(name, sizeof(name), "%s", testutil_name("bulk"));
    ring = name;
    shmring_config_init(&cfg);
    cfg.capacity = CAPACITY;
    cfg.slot_size = 8;
    cfg.start_position = UINT64_MAX - 100;
    if ((err = shmring_mpmc_create(ring, &cfg)) != 0 || (err = shmring_mpmc_open(ring, SHMRING_PRODUCER, &p)) != 0 ||
        (err = shmring_mpmc_open(ring, SHMRING_CONSUMER, &c)) != 0) {
        fprintf(stderr, "bulk_contention: setup: %s\n", shmring_strerror(err));
        return 1;
    }
    deadline = testutil_now_ns() + ms * MT_MS;
    while (testutil_now_ns() < deadline && !atomic_load(&failed) && atomic_load(&spurious[0]) + atomic_load(&spurious[1]) == 0) {
        /* Producers into an empty ring; then drain. */
        run_threads(SHMRING_PRODUCER);
        while (shmring_mpmc_pop(c, rec, sizeof(rec)) >= 0)
            ;
        /* Consumers from a ring that holds more than they will take. */
        for (i = 0; i < CAPACITY - 8; i++)
            shmring_mpmc_push(p, rec, sizeof(rec));
        run_threads(SHMRING_CONSUMER);
        while (shmring_mpmc_pop(c, rec, sizeof(rec)) >= 0)
            ;
        rounds++;
    }
    printf("%llu rounds: claim_bulk %llu ok, %llu spurious -EAGAIN; take_bulk %llu ok, %llu spurious -EAGAIN\n",
           (unsigned long long)rounds, (unsigned long long)atomic_load(&done[0]),
           (unsigned long long)atomic_load(&spurious[0]), (unsigned long long)atomic_load(&done[1]),
           (unsigned long long)atomic_load(&spurious[1]));
    if (atomic_load(&spurious[0]) || atomic_load(&spurious[1])) {
        fprintf(stderr, "bulk_contention: FAIL: a bulk call returned -EAGAIN though enough slots were %s\n",
                atomic_load(&spurious[0]) ? "free" : "published");
        rc = 1;
    }
    if (atomic_load(&failed))
        rc = 1;
    shmring_mpmc_close(p);
    shmring_mpmc_close(c);
    if (shmring_unlink(ring) != 0 || testutil_ipc_objects() != 0) {
        fprintf(stderr, "bulk_contention: FAIL: objects left\n");
        rc = 1;
    }
    printf(rc ? "FAILED\n" : "PASSED\n");
    return rc;
}
