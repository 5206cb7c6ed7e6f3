/* What a process that can write one ring's shared memory can NOT do (issue 12 part 1):
 *   - make unlink/rm/the reaper of its ring remove another ring's semaphore set or queue, by
 *     writing that ring's key and ids into its own header (named rings and anonymous ones);
 *   - make a producer reuse space it has reserved and not committed, by writing a consumer
 *     position past the committed records.
 * Each case stages the hostile write directly in the segment, as such a process would. */
#include <sys/msg.h>
#include <sys/sem.h>

#include "advutil.h"

#define MS (1000 * 1000LL)

static struct shmring_header *attach_rw(const char *name)
{
    int shmid = shmget((key_t)shmring_name_key(name), 0, 0);
    void *p;
    cr_assert(shmid >= 0, "shmget %s", name);
    p = shmat(shmid, NULL, 0);
    cr_assert(p != (void *)-1);
    return (struct shmring_header *)p;
}

static int sem_exists(int semid)
{
    struct semid_ds ds;
    union {
        int val;
        struct semid_ds *buf;
    } arg;
    arg.buf = &ds;
    return semctl(semid, 0, IPC_STAT, arg) == 0;
}

static int msq_exists(int msqid)
{
    struct msqid_ds ds;
    return msgctl(msqid, IPC_STAT, &ds) == 0;
}

/* The victim still works: a record goes through and a blocking wait ends with it. */
static void victim_works(struct shmring_spsc *p, struct shmring_spsc *c)
{
    char buf[8];
    cr_assert_eq(shmring_spsc_push(p, "ok", 2), 0);
    cr_assert_eq(shmring_spsc_pop_wait(c, buf, sizeof(buf), 2000 * MS), 2);
    cr_assert_eq(shmring_spsc_pop_wait(c, buf, sizeof(buf), 10 * MS), -ETIMEDOUT,
                 "the wait failed otherwise than by its timeout: the semaphores are gone");
}

Test(trust, unlink_of_a_ring_naming_another_rings_ids_removes_only_its_own)
{
    char victim[64], evil[64]; /* testutil_name() returns a static buffer */
    snprintf(victim, sizeof(victim), "%s", testutil_name("victim"));
    snprintf(evil, sizeof(evil), "%s", testutil_name("evil"));
    struct shmring_spsc *p, *c;
    struct shmring_header *vh, *eh;
    struct shmring_config cfg;
    shmring_config_init(&cfg);
    cfg.capacity = 4096;
    cr_assert_eq(shmring_spsc_create(victim, &cfg), 0);
    cr_assert_eq(shmring_spsc_create(evil, &cfg), 0);
    cr_assert_eq(shmring_spsc_open(victim, SHMRING_PRODUCER, &p), 0);
    cr_assert_eq(shmring_spsc_open(victim, SHMRING_CONSUMER, &c), 0);
    vh = attach_rw(victim);
    eh = attach_rw(evil);
    int evil_sem = eh->ident.semid, evil_msq = eh->ident.msqid;
    /* The hostile write: evil's header names victim's key and objects. */
    eh->ident.key = vh->ident.key;
    eh->ident.semid = vh->ident.semid;
    eh->ident.msqid = vh->ident.msqid;
    shmdt(eh);
    cr_assert_eq(shmring_unlink(evil), 0);
    cr_assert(sem_exists(vh->ident.semid), "unlink(evil) removed victim's semaphore set");
    cr_assert(msq_exists(vh->ident.msqid), "unlink(evil) removed victim's queue");
    cr_assert(!sem_exists(evil_sem), "evil's own semaphore set is left");
    cr_assert(!msq_exists(evil_msq), "evil's own queue is left");
    victim_works(p, c);
    shmdt(vh);
    cr_assert_eq(shmring_spsc_close(p), 0);
    cr_assert_eq(shmring_spsc_close(c), 0);
    cr_assert_eq(shmring_unlink(victim), 0);
    cr_assert_eq(testutil_ipc_objects(), 0);
}

Test(trust, last_close_of_an_anonymous_ring_naming_another_rings_ids_removes_only_its_own)
{
    struct shmring_spsc *vp, *vc, *ep, *ec;
    int victim_sem, victim_msq, evil_sem, evil_msq;
    cr_assert_eq(shmring_spsc_pipe(NULL, &vp, &vc), 0);
    cr_assert_eq(shmring_spsc_pipe(NULL, &ep, &ec), 0);
    victim_sem = vp->hdr->ident.semid;
    victim_msq = vp->hdr->ident.msqid;
    evil_sem = ep->hdr->ident.semid;
    evil_msq = ep->hdr->ident.msqid;
    ep->hdr->ident.semid = victim_sem;
    ep->hdr->ident.msqid = victim_msq;
    cr_assert_eq(shmring_spsc_close(ep), 0);
    cr_assert_eq(shmring_spsc_close(ec), 0);
    cr_assert(sem_exists(victim_sem), "closing the evil pipe removed the victim's semaphore set");
    cr_assert(msq_exists(victim_msq), "closing the evil pipe removed the victim's queue");
    cr_assert(!sem_exists(evil_sem), "the evil pipe's own semaphore set is left");
    cr_assert(!msq_exists(evil_msq), "the evil pipe's own queue is left");
    victim_works(vp, vc);
    cr_assert_eq(shmring_spsc_close(vp), 0);
    cr_assert_eq(shmring_spsc_close(vc), 0);
    cr_assert_eq(testutil_ipc_objects(), 0);
}

Test(trust, consumer_position_past_the_committed_records_is_corruption)
{
    const char *name = testutil_name("head");
    struct shmring_spsc *p;
    struct shmring_config cfg;
    void *pending, *buf;
    int i, err = 0;
    shmring_config_init(&cfg);
    cfg.capacity = 4096;
    cr_assert_eq(shmring_spsc_create(name, &cfg), 0);
    cr_assert_eq(shmring_spsc_open(name, SHMRING_PRODUCER, &p), 0);
    cr_assert_eq(shmring_spsc_reserve(p, 1000, &pending), 0);
    memset(pending, 0xab, 1000);
    /* The hostile write: a consumer position that "frees" the uncommitted reservation too. */
    shmring__store(&p->hdr->freed.pos, p->tail, release);
    for (i = 0; i < 16; i++) {
        err = shmring_spsc_reserve(p, 1000, &buf);
        if (err)
            break;
        memset(buf, 0xcd, 1000);
    }
    cr_assert_eq(err, -EUCLEAN, "reserve after the bad position: %s (the reservation at %p was %s)",
                 shmring_err_name(err), pending,
                 ((unsigned char *)pending)[0] == 0xab ? "intact" : "overwritten by a later reservation");
    cr_assert_eq(shmring_spsc_close(p), 0);
    cr_assert_eq(shmring_unlink(name), 0);
    cr_assert_eq(testutil_ipc_objects(), 0);
}
