/* A creator killed inside shmring_spsc_pipe() leaves nothing that `shmring rm --stale` cannot
 * recognise, except in the documented one-call window.
 *
 * A child creates an anonymous ring and dies (_exit from the test hook) right after step k of the
 * creation (SHMRING__TP_CREATE_STEP): 1 the segment attached and marked for removal, 2 the queue
 * made, 3 the set made, 4 the set's initial values (the tag) set. Then, in the sandbox's own IPC
 * namespace:
 *   - no segment is ever left (the kernel frees a removed segment at its last detach);
 *   - after step 1: nothing at all;
 *   - after steps 2 and 3 (the window): a key-0 queue, and after 3 an untagged set;
 *   - after step 4: the set carries the tag and the id of the queue that is left, and counts no
 *     holder, which is what `rm --stale` removes (test/tool/tool_test.sh checks that removal). */
#include <sys/msg.h>
#include <sys/sem.h>

#include "advutil.h"
#include "shmring/layout.h"

static int g_stop_at, g_hits;

static void die_hook(int id)
{
    if (id == SHMRING__TP_CREATE_STEP && ++g_hits == g_stop_at)
        _exit(0);
}

static int pipe_child(void *arg)
{
    struct shmring_spsc *p = NULL, *c = NULL;
    g_stop_at = *(const int *)arg;
    g_hits = 0;
    shmring__test_hook = die_hook;
    /* Reached only if the step was never hit: the test's picture of the creation is wrong. */
    return shmring_spsc_pipe(NULL, &p, &c) == 0 ? 3 : 4;
}

/* The ids in /proc/sysvipc/<what> (at most `max`); returns how many. */
static int ipc_ids(const char *what, int *ids, int max)
{
    char path[64], line[512];
    FILE *f;
    int n = 0, key, id;
    snprintf(path, sizeof(path), "/proc/sysvipc/%s", what);
    f = fopen(path, "r");
    cr_assert_not_null(f, "%s", path);
    if (fgets(line, sizeof(line), f) == NULL) {
        fclose(f);
        return 0;
    }
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "%d %d", &key, &id) == 2 && n < max)
            ids[n++] = id;
    fclose(f);
    return n;
}

static void killed_at(int step)
{
    int *arg = adv_shared(sizeof(int)), shm[4], sem[4], msq[4], nshm, nsem, nmsq, st;
    *arg = step;
    st = adv_join(adv_spawn(pipe_child, arg), 20 * ADV_SEC);
    munmap(arg, sizeof(int));
    cr_assert_eq(st, 0, "step %d: the creator did not die at the step (status %d)", step, st);
    /* The child's detach happens as its memory is torn down, normally before it can be reaped;
     * someone holding a reference to that memory (a reader of its /proc files) delays it. */
    for (int64_t end = testutil_now_ns() + 5 * ADV_SEC; (nshm = ipc_ids("shm", shm, 4)) != 0 && testutil_now_ns() < end;)
        adv_sleep_ns(ADV_MS);
    nsem = ipc_ids("sem", sem, 4);
    nmsq = ipc_ids("msg", msq, 4);
    cr_assert_eq(nshm, 0, "step %d: %d segment(s) left by a killed anonymous creator", step, nshm);
    switch (step) {
    case 1:
        cr_assert_eq(nsem + nmsq, 0, "step 1: %d set(s), %d queue(s) left", nsem, nmsq);
        break;
    case 2:
    case 3:
        cr_assert_eq(nmsq, 1, "step %d: %d queues", step, nmsq);
        cr_assert_eq(nsem, step == 3, "step %d: %d sets", step, nsem);
        if (step == 3)
            cr_assert_eq(semctl(sem[0], SHMRING_SEM_ANON_TAG, GETVAL), 0, "step 3: the set is tagged already");
        break;
    default: {
        unsigned short vals[SHMRING_NSEMS];
        union {
            int val;
            struct semid_ds *buf;
            unsigned short *array;
        } a;
        uint32_t named = 0;
        unsigned i;
        cr_assert_eq(nsem, 1, "step 4: %d sets", nsem);
        cr_assert_eq(nmsq, 1, "step 4: %d queues", nmsq);
        a.array = vals;
        cr_assert_eq(semctl(sem[0], 0, GETALL, a), 0);
        cr_assert_eq(vals[SHMRING_SEM_ANON_TAG], SHMRING_ANON_TAG, "step 4: the set is not tagged");
        for (i = 0; i < SHMRING_ANON_MSQ_PARTS; i++)
            named |= (uint32_t)vals[SHMRING_SEM_ANON_MSQ + i] << (i * SHMRING_ANON_MSQ_BITS);
        cr_assert_eq(named, (uint32_t)msq[0], "step 4: the tag names queue %u, the queue left is %d", named, msq[0]);
        cr_assert_eq(vals[SHMRING_SEM_PRODUCERS] + vals[SHMRING_SEM_CONSUMERS] + vals[SHMRING_SEM_USERS], 0,
                     "step 4: a holder is counted");
    }
    }
    testutil_ipc_remove_all();
    adv_assert_no_ipc();
}

Test(anon_create_kill, after_the_segment, .init = adv_init, .fini = adv_fini, .timeout = 30) { killed_at(1); }
Test(anon_create_kill, after_the_queue, .init = adv_init, .fini = adv_fini, .timeout = 30) { killed_at(2); }
Test(anon_create_kill, after_the_set, .init = adv_init, .fini = adv_fini, .timeout = 30) { killed_at(3); }
Test(anon_create_kill, after_the_tag, .init = adv_init, .fini = adv_fini, .timeout = 30) { killed_at(4); }
