/* The name's key changes hands while an unlink (or a create's reap of a half-made ring) removes
 * the objects on it: the new ring's semaphore set and queue must survive.
 *
 * shmring_unlink() removes the set and queue on the name's key, then the segment. Between its look
 * at the key and its removals, another process may finish the same ring and create a new one of
 * the same name, on the same key. Before the fix, the late remover took the new ring's set and
 * queue: the new ring stayed listed, and every open or wait on it failed with EIDRM until it was
 * unlinked. The churn test (race_test.c, unlink_under_traffic_mpmc) hit it once under ASAN: "the
 * pair moves no data after the churn stopped".
 *
 * Here the race is made deterministic with the test points SHMRING__TP_LEFTOVERS (the remover
 * has looked at the key's segment and is about to read the ids of the objects on the key) and
 * SHMRING__TP_LEFTOVERS_IDS_READ (it has read them, and not yet checked the key again). At that moment
 * the hook (in the same process, with itself disabled) does what the other process would: unlink
 * and re-create, or create. Then the remover goes on. Checked: the new ring is whole (its set and
 * queue are there, a record goes through with blocking calls, an application message through its
 * queue), the remover's result says what it did, and nothing is left at the end. */
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>

#include "advutil.h"

enum race_kind {
    RACE_UNLINK_THEN_CREATE, /* another unlink finishes the ring, a create makes a new one */
    RACE_CREATE,             /* a create (over leftovers of a killed unlink) makes a new one */
};

static const char *g_name;
static enum race_kind g_race;
static int g_point = SHMRING__TP_LEFTOVERS; /* where the other process acts */
static int g_fired, g_inner_unlink, g_inner_create;

static int create_spsc(const char *name)
{
    struct shmring_config cfg;
    shmring_config_init(&cfg);
    cfg.capacity = 4096;
    return shmring_spsc_create(name, &cfg);
}

static void race_hook(int id)
{
    if (id != g_point || g_fired)
        return;
    g_fired = 1;
    shmring__test_hook = NULL; /* the inner calls pass the same point */
    if (g_race == RACE_UNLINK_THEN_CREATE)
        g_inner_unlink = shmring_unlink(g_name);
    g_inner_create = create_spsc(g_name);
}

/* The ring on the name is whole: both roles open, a record goes through with blocking calls (they
 * use the semaphore set), and a control message through the queue. */
static void assert_ring_whole(const char *name)
{
    struct shmring_spsc *p = NULL, *c = NULL;
    char buf[16];
    int64_t key = shmring_name_key(name);
    adv_assert_rc(shmring_spsc_open(name, SHMRING_PRODUCER, &p), 0, "open the new ring as producer");
    adv_assert_rc(shmring_spsc_open(name, SHMRING_CONSUMER, &c), 0, "open the new ring as consumer");
    cr_assert_geq(semget((key_t)key, 0, 0), 0, "the new ring's semaphore set is gone");
    cr_assert_geq(msgget((key_t)key, 0), 0, "the new ring's message queue is gone");
    adv_assert_rc(shmring_spsc_push_wait(p, "whole", 5, ADV_SEC), 0, "push_wait on the new ring");
    cr_assert_eq(shmring_spsc_pop_wait(c, buf, sizeof(buf), ADV_SEC), 5, "pop_wait on the new ring");
    cr_assert_eq(memcmp(buf, "whole", 5), 0);
    cr_assert_eq(shmring_spsc_pop_wait(c, buf, sizeof(buf), 10 * ADV_MS), -ETIMEDOUT,
                 "a wait on the empty new ring times out (its set is there)");
    shmring_spsc_close(c);
    shmring_spsc_close(p);
}

static void reset(enum race_kind race, const char *name)
{
    g_name = name;
    g_race = race;
    g_fired = 0;
    g_inner_unlink = g_inner_create = 1;
}

/* Another unlink finishes the ring and a create makes a new one while the first unlink is about
 * to read the ids on the key (the new ring's, then), or has read them (the old ring's, removed by
 * the other unlink): either way the first unlink reports the ring removed (it was) and leaves the
 * new one alone. */
static void unlink_loses_the_key(int point)
{
    const char *name = testutil_name("ur_unlink");
    int rc;
    reset(RACE_UNLINK_THEN_CREATE, name);
    g_point = point;
    adv_assert_rc(create_spsc(name), 0, "create");
    shmring__test_hook = race_hook;
    rc = shmring_unlink(name);
    shmring__test_hook = NULL;
    cr_assert(g_fired, "the unlink did not pass the test point");
    adv_assert_rc(g_inner_unlink, 0, "the inner unlink");
    adv_assert_rc(g_inner_create, 0, "the inner create");
    adv_assert_rc(rc, 0, "the first unlink");
    assert_ring_whole(name);
    adv_assert_rc(shmring_unlink(name), 0, "unlink the new ring");
    adv_assert_no_ipc();
}

Test(unlink_race, unlink_loses_the_key_before_reading_ids, .init = adv_init, .fini = adv_fini, .timeout = 30)
{
    unlink_loses_the_key(SHMRING__TP_LEFTOVERS);
}

Test(unlink_race, unlink_loses_the_key_after_reading_ids, .init = adv_init, .fini = adv_fini, .timeout = 30)
{
    unlink_loses_the_key(SHMRING__TP_LEFTOVERS_IDS_READ);
}

/* A set and queue are left on the key with no segment (an unlink killed between its removals).
 * An unlink of the name is about to read their ids, or has read them, when a create removes them
 * and makes a new ring: the unlink reports nothing removed and the new ring keeps its own. */
static void unlink_of_leftovers_meets_a_create(int point)
{
    const char *name = testutil_name("ur_left");
    key_t key = (key_t)shmring_name_key(name);
    int rc;
    reset(RACE_CREATE, name);
    g_point = point;
    cr_assert_geq(semget(key, SHMRING_NSEMS, IPC_CREAT | IPC_EXCL | 0600), 0, "make a leftover set");
    cr_assert_geq(msgget(key, IPC_CREAT | IPC_EXCL | 0600), 0, "make a leftover queue");
    shmring__test_hook = race_hook;
    rc = shmring_unlink(name);
    shmring__test_hook = NULL;
    cr_assert(g_fired, "the unlink did not pass the test point");
    adv_assert_rc(g_inner_create, 0, "the create over the leftovers");
    adv_assert_rc(rc, -ENOENT, "the unlink that found only leftovers, then a ring");
    assert_ring_whole(name);
    adv_assert_rc(shmring_unlink(name), 0, "unlink the new ring");
    adv_assert_no_ipc();
}

Test(unlink_race, unlink_of_leftovers_meets_a_create_before_reading_ids, .init = adv_init, .fini = adv_fini,
     .timeout = 30)
{
    unlink_of_leftovers_meets_a_create(SHMRING__TP_LEFTOVERS);
}

Test(unlink_race, unlink_of_leftovers_meets_a_create_after_reading_ids, .init = adv_init, .fini = adv_fini,
     .timeout = 30)
{
    unlink_of_leftovers_meets_a_create(SHMRING__TP_LEFTOVERS_IDS_READ);
}

/* A create over leftovers finds the set (then the queue) on the key, and an unlink of the name,
 * which had looked before the create made its segment, removes it first: the create is not told
 * the key is taken; it makes its own objects. */
static int g_left_hits;

static void vanish_hook(int id)
{
    key_t key;
    if (id != SHMRING__TP_CREATE_LEFTOVER)
        return;
    key = (key_t)shmring_name_key(g_name);
    if (++g_left_hits == 1)
        semctl(semget(key, 0, 0), 0, IPC_RMID); /* as the unlink's late removal of the set */
    else if (g_left_hits == 2)
        msgctl(msgget(key, 0), IPC_RMID, NULL); /* ... and of the queue */
}

Test(unlink_race, create_over_leftovers_that_vanish, .init = adv_init, .fini = adv_fini, .timeout = 30)
{
    const char *name = testutil_name("ur_vanish");
    key_t key = (key_t)shmring_name_key(name);
    int rc;
    g_name = name;
    g_left_hits = 0;
    cr_assert_geq(semget(key, SHMRING_NSEMS, IPC_CREAT | IPC_EXCL | 0600), 0, "make a leftover set");
    cr_assert_geq(msgget(key, IPC_CREAT | IPC_EXCL | 0600), 0, "make a leftover queue");
    shmring__test_hook = vanish_hook;
    rc = create_spsc(name);
    shmring__test_hook = NULL;
    cr_assert_eq(g_left_hits, 2, "the create found %d leftovers, want the set and the queue", g_left_hits);
    adv_assert_rc(rc, 0, "the create whose leftovers vanished");
    assert_ring_whole(name);
    adv_assert_rc(shmring_unlink(name), 0, "unlink the ring");
    adv_assert_no_ipc();
}

/* The same with nothing racing: the leftovers go and unlink says it removed something. */
Test(unlink_race, unlink_removes_leftovers, .init = adv_init, .fini = adv_fini, .timeout = 30)
{
    const char *name = testutil_name("ur_plain");
    key_t key = (key_t)shmring_name_key(name);
    cr_assert_geq(semget(key, SHMRING_NSEMS, IPC_CREAT | IPC_EXCL | 0600), 0, "make a leftover set");
    cr_assert_geq(msgget(key, IPC_CREAT | IPC_EXCL | 0600), 0, "make a leftover queue");
    adv_assert_rc(shmring_unlink(name), 0, "unlink of leftovers");
    adv_assert_rc(shmring_unlink(name), -ENOENT, "a second unlink");
    adv_assert_no_ipc();
}

/* A creator died half-way: its segment holds the key. Create A reaps it and has read the ids when
 * create B comes. B sees the remains attached (by A) and reports EEXIST, touching nothing; A
 * removes the remains and makes the ring. (A reaper that comes after A's removal finds the key
 * held by A's new ring, and remove_leftovers() leaves that alone: the check above.) */
static int half_made_creator(void *arg)
{
    key_t key = (key_t)shmring_name_key((const char *)arg);
    struct shmring_header *hdr;
    int id = shmget(key, SHMRING_HEADER_SIZE + 4096, IPC_CREAT | IPC_EXCL | 0600);
    if (id < 0 || (hdr = shmat(id, NULL, 0)) == (void *)-1)
        return 1;
    hdr->ident.building = SHMRING_BUILDING_MARK; /* as a real creator's first store */
    return 0;                                    /* and dies: nothing published */
}

Test(unlink_race, reap_of_a_half_made_ring_meets_another_create, .init = adv_init, .fini = adv_fini, .timeout = 30)
{
    const char *name = testutil_name("ur_half");
    char *shared_name = adv_shared(64);
    int rc;
    snprintf(shared_name, 64, "%s", name);
    reset(RACE_CREATE, name);
    cr_assert_eq(adv_join(adv_spawn(half_made_creator, shared_name), 10 * ADV_SEC), 0, "the half-made creator");
    shmring__test_hook = race_hook;
    rc = create_spsc(name);
    shmring__test_hook = NULL;
    cr_assert(g_fired, "the create did not reap the half-made ring");
    adv_assert_rc(g_inner_create, -EEXIST, "the create that came while the remains were reaped");
    adv_assert_rc(rc, 0, "the create that reaped the remains");
    assert_ring_whole(name);
    adv_assert_rc(shmring_unlink(name), 0, "unlink the ring");
    munmap(shared_name, 64);
    adv_assert_no_ipc();
}
