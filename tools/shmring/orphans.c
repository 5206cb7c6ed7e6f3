/* `shmring rm --stale`, second half: what killed anonymous rings leave behind.
 *
 * An anonymous ring (shmring_spsc_pipe) has a key-0 segment that the kernel frees at the last
 * detach, and a key-0 semaphore set and queue that it never frees: System V has no "remove when
 * unused". When every holder is killed, the set and the queue stay and nothing names them. The
 * library tags such a set (SHMRING_SEM_ANON_TAG in include/shmring/layout.h): the tag value and
 * the queue's id, written by the SETALL that follows the set's creation (the queue is made first),
 * after the header holds both ids.
 *
 * A set is removed only when all of this holds (a key-0 set is anybody's, so each test is there
 * to leave alone what might be in use or might not be ours):
 *   - key 0, SHMRING_NSEMS semaphores, the tag value in its tag semaphore;
 *   - no attached handle: the presence semaphores (SEM_UNDO, so the kernel clears a dead holder's)
 *     and every life semaphore read 0;
 *   - no segment names it: every key-0 segment is read (a live anonymous ring's segment exists
 *     while anyone, a forked child included, has it attached, and its header names the set since
 *     before the tag was set). A key-0 segment we may not read spares every set of its creator.
 * The queue goes with its set when it still has key 0 and the set's creator, and no segment names
 * it either (ids are reused once an object is gone).
 *
 * Left: a creator killed inside shmring_spsc_pipe() between making the queue and tagging the set
 * (the set's creation: one system call) leaves a key-0 queue, or an untagged set, that cannot be
 * told from anybody else's. Its segment is marked for removal right after it is made.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <unistd.h>

#include "cli.h"
#include "shmring/layout.h"

union semun_arg {
    int val;
    struct semid_ds *buf;
    unsigned short *array;
};

struct orphan {
    int semid, msqid; /* msqid -1: no queue of its own found */
    uid_t cuid;
    int named;        /* a segment names the set or its queue: in use */
};

/* The tagged, unheld key-0 sets in /proc/sysvipc/sem. Returns how many (array in *out) or -errno. */
static int tagged_sets(struct orphan **out)
{
    FILE *f = fopen("/proc/sysvipc/sem", "r");
    struct orphan *v = NULL;
    char line[512];
    int n = 0, cap = 0;
    *out = NULL;
    if (f == NULL)
        return -errno;
    if (fgets(line, sizeof(line), f) == NULL) { /* column titles */
        fclose(f);
        return 0;
    }
    while (fgets(line, sizeof(line), f)) {
        unsigned short vals[SHMRING_NSEMS];
        union semun_arg arg;
        struct semid_ds sds;
        long long key;
        unsigned long nsems;
        unsigned perms;
        struct orphan o;
        int semid, held = 0, i;
        uint32_t msqid = 0;
        /* key semid perms nsems uid gid cuid cgid otime ctime */
        if (sscanf(line, "%lld %d %o %lu", &key, &semid, &perms, &nsems) != 4 || key != 0 || nsems != SHMRING_NSEMS)
            continue;
        arg.buf = &sds;
        if (semctl(semid, 0, IPC_STAT, arg) != 0 || sds.sem_perm.__key != 0 || sds.sem_nsems != SHMRING_NSEMS)
            continue;
        /* Only what we may remove (IPC_RMID: owner, creator or CAP_SYS_ADMIN): another user's
         * leftovers are theirs to clean, not an error of ours. */
        if (geteuid() != 0 && sds.sem_perm.uid != geteuid() && sds.sem_perm.cuid != geteuid())
            continue;
        arg.array = vals;
        if (semctl(semid, 0, GETALL, arg) != 0 || vals[SHMRING_SEM_ANON_TAG] != SHMRING_ANON_TAG)
            continue;
        held = vals[SHMRING_SEM_PRODUCERS] || vals[SHMRING_SEM_CONSUMERS] || vals[SHMRING_SEM_USERS];
        for (i = SHMRING_SEM_LIFE_SUBSCRIBERS; i < SHMRING_SEM_LIFE_END; i++)
            held |= vals[i] != 0;
        if (held)
            continue;
        for (i = 0; i < SHMRING_ANON_MSQ_PARTS; i++)
            msqid |= (uint32_t)vals[SHMRING_SEM_ANON_MSQ + i] << (i * SHMRING_ANON_MSQ_BITS);
        o.semid = semid;
        o.msqid = msqid <= INT32_MAX ? (int)msqid : -1;
        o.cuid = sds.sem_perm.cuid;
        o.named = 0;
        if (o.msqid >= 0) {
            struct msqid_ds mds;
            if (msgctl(o.msqid, IPC_STAT, &mds) != 0 || mds.msg_perm.__key != 0 || mds.msg_perm.cuid != o.cuid)
                o.msqid = -1;
        }
        struct orphan *nv = (struct orphan *)cli_append(v, &n, &cap, &o, sizeof(o));
        if (nv == NULL) {
            free(v);
            fclose(f);
            return -ENOMEM;
        }
        v = nv;
    }
    fclose(f);
    *out = v;
    return n;
}

/* Marks the sets (and queues) that a key-0 segment's header names. The ids are read from shared
 * memory, which anyone may have written: they are only ever used to spare an object. A segment we
 * may not read spares every set of its creator (the process that made an anonymous ring's segment
 * made its set: same creator uid). Returns 0 or -errno. */
static int mark_named(struct orphan *o, int n)
{
    struct shm_entry *segs;
    int ns = shm_list(&segs), i, j;
    if (ns < 0)
        return ns;
    for (i = 0; i < ns; i++) {
        const volatile struct shmring_ident *id;
        void *p;
        int32_t semid, msqid;
        if (segs[i].key != 0)
            continue;
        if (segs[i].size < sizeof(struct shmring_header))
            continue; /* too small to be a ring: names nothing */
        p = shmat(segs[i].shmid, NULL, SHM_RDONLY);
        if (p == (void *)-1) {
            if (errno != EIDRM && errno != EINVAL) /* else gone meanwhile */
                for (j = 0; j < n; j++)
                    o[j].named |= o[j].cuid == segs[i].cuid;
            continue;
        }
        id = &((const struct shmring_header *)p)->ident;
        semid = id->semid;
        msqid = id->msqid;
        for (j = 0; j < n; j++)
            if (o[j].semid == semid || (o[j].msqid >= 0 && o[j].msqid == msqid))
                o[j].named = 1;
        shmdt(p);
    }
    free(segs);
    return 0;
}

int rm_anon_leftovers(int dry_run)
{
    struct orphan *o;
    int n = tagged_sets(&o), i, err, rc = EXIT_OK;
    if (n < 0) {
        cli_err("cannot read /proc/sysvipc/sem: %s", shmring_strerror(n));
        return EXIT_FAIL;
    }
    if (n == 0)
        return EXIT_OK;
    if ((err = mark_named(o, n)) != 0) {
        cli_err("cannot read /proc/sysvipc/shm: %s; no anonymous ring leftover removed", shmring_strerror(err));
        free(o);
        return EXIT_FAIL;
    }
    for (i = 0; i < n; i++) {
        char q[32];
        if (o[i].named)
            continue;
        if (o[i].msqid >= 0)
            snprintf(q, sizeof(q), "queue %d", o[i].msqid);
        else
            snprintf(q, sizeof(q), "no queue of its own left");
        if (dry_run) {
            printf("would remove anonymous ring leftovers (semaphore set %d, %s: every holder gone)\n", o[i].semid, q);
            continue;
        }
        /* The queue first: once the set is gone nothing names the queue any more. */
        if (o[i].msqid >= 0 && msgctl(o[i].msqid, IPC_RMID, NULL) != 0 && errno != EINVAL && errno != EIDRM) {
            cli_err("anonymous ring leftovers: queue %d: cannot remove: %s", o[i].msqid, shmring_strerror(-errno));
            rc = EXIT_FAIL;
            continue;
        }
        if (semctl(o[i].semid, 0, IPC_RMID) != 0) {
            if (errno == EINVAL || errno == EIDRM)
                continue; /* somebody else removed it meanwhile */
            cli_err("anonymous ring leftovers: semaphore set %d: cannot remove: %s", o[i].semid,
                    shmring_strerror(-errno));
            rc = EXIT_FAIL;
            continue;
        }
        printf("removed anonymous ring leftovers (semaphore set %d, %s: every holder gone)\n", o[i].semid, q);
    }
    free(o);
    return rc;
}
