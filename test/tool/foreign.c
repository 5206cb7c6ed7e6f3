/* Test helper: a System V segment that is not a shmring (or a shmring of another ABI version), to
 * check that the `shmring` command lists it as not ours and never touches it.
 *
 *   foreign create KEY SIZE [abi | corrupt NAME]
 *                                   makes a segment on KEY (hex or decimal) filled with a known
 *                                   pattern, prints its shmid; "abi": the pattern starts with
 *                                   SHMRING_MAGIC and ABI version 99 (another shmring version);
 *                                   "corrupt": a header of our ABI named NAME with a broken
 *                                   geometry and the ids of objects that are not the ring's
 *   foreign check SHMID             exit 0 if the segment still holds the pattern and is not
 *                                   marked for removal, 1 otherwise
 *   foreign rm SHMID                removes it
 *   foreign pipe                    makes an anonymous ring (shmring_spsc_pipe), prints "ready",
 *                                   holds it until stdin ends, then closes both ends
 *   foreign semset [tagged-held]    makes a key-0 semaphore set of a ring's size and prints its
 *                                   id: untagged (not an anonymous ring's), or tagged as one with
 *                                   a handle counted (in use); neither is rm --stale's to remove
 *   foreign named-set               a tagged set no handle holds, named by a key-0 segment's header:
 *                                   prints "SEMID SHMID" (the segment spares the set)
 *   foreign semrm ID                removes the set
 *   foreign tagged-set MSQID        a tagged set no handle holds whose tag names queue MSQID (as a
 *                                   killed anonymous ring's does): prints its id
 *   foreign msq KEY                 makes a queue on KEY (0: private), prints its id
 *   foreign msqrm ID                removes the queue
 *   foreign bcast NAME N            joins the broadcast ring NAME as a consumer, prints "ready",
 *                                   pushes nothing; holds it until stdin ends; N producer pushes
 *                                   are made first when N > 0 (as producer, then closed)
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>

#include "shmring/bcast.h"
#include "shmring/common.h"
#include "shmring/layout.h"
#include "shmring/spsc.h"

enum { PLAIN, OTHER_ABI, CORRUPT };

/* The segment's contents. CORRUPT: a shmring header of our ABI with a capacity that is no power
 * of two, semaphore and queue ids 0 (somebody else's objects, in a test), and the given name. */
static void pattern(uint8_t *p, size_t n, int how, const char *name, key_t key)
{
    size_t i;
    uint64_t magic = SHMRING_MAGIC, capacity = 1000, off = SHMRING_HEADER_SIZE;
    uint32_t version = how == OTHER_ABI ? 99 : SHMRING_ABI_VERSION, kind = SHMRING_KIND_SPSC, k = (uint32_t)key;
    for (i = 0; i < n; i++)
        p[i] = (uint8_t)(i * 131u + 7u);
    if (how == PLAIN) {
        memcpy(p, "NOTARING", 8);
        return;
    }
    memcpy(p + offsetof(struct shmring_header, ident.magic), &magic, 8);
    memcpy(p + offsetof(struct shmring_header, ident.abi_version), &version, 4);
    if (how == OTHER_ABI)
        return;
    memcpy(p + offsetof(struct shmring_header, ident.kind), &kind, 4);
    memcpy(p + offsetof(struct shmring_header, ident.capacity), &capacity, 8);
    memcpy(p + offsetof(struct shmring_header, ident.data_offset), &off, 8);
    {
        uint64_t segsz = n;
        memcpy(p + offsetof(struct shmring_header, ident.segment_size), &segsz, 8);
    }
    memset(p + offsetof(struct shmring_header, ident.semid), 0, 8); /* semid, msqid */
    memset(p + offsetof(struct shmring_header, ident.creator_pid), 0, 4);
    memcpy(p + offsetof(struct shmring_header, ident.key), &k, 4);
    memset(p + offsetof(struct shmring_header, ident.reserved0), 0, 4);
    memset(p + offsetof(struct shmring_header, stats), 0, sizeof(struct shmring_stats));
    memset(p + offsetof(struct shmring_header, wait), 0, sizeof(struct shmring_wait));
    memset(p + offsetof(struct shmring_header, subscribers), 0, SHMRING_SUBSCRIBERS * 16);
    memset(p + offsetof(struct shmring_header, name), 0, SHMRING_NAME_MAX + 1);
    strncpy((char *)p + offsetof(struct shmring_header, name), name, SHMRING_NAME_MAX);
}

int main(int argc, char **argv)
{
    if (argc >= 4 && strcmp(argv[1], "create") == 0) {
        key_t key = (key_t)strtoul(argv[2], NULL, 0);
        size_t size = (size_t)strtoul(argv[3], NULL, 0);
        int how = argc > 4 && strcmp(argv[4], "abi") == 0 ? OTHER_ABI : argc > 5 && strcmp(argv[4], "corrupt") == 0 ? CORRUPT : PLAIN;
        int id = shmget(key, size, IPC_CREAT | IPC_EXCL | 0600);
        uint8_t *p;
        if (id < 0) {
            perror("foreign: shmget");
            return 1;
        }
        p = (uint8_t *)shmat(id, NULL, 0);
        if (p == (void *)-1) {
            perror("foreign: shmat");
            shmctl(id, IPC_RMID, NULL);
            return 1;
        }
        pattern(p, size, how, how == CORRUPT ? argv[5] : "", key);
        shmdt(p);
        printf("%d\n", id);
        return 0;
    }
    if (argc == 3 && strcmp(argv[1], "check") == 0) {
        int id = atoi(argv[2]);
        struct shmid_ds ds;
        uint8_t *p, *want;
        int ok;
        if (shmctl(id, IPC_STAT, &ds) != 0 || (ds.shm_perm.mode & SHM_DEST)) {
            fprintf(stderr, "foreign: segment %d is gone or marked for removal\n", id);
            return 1;
        }
        p = (uint8_t *)shmat(id, NULL, SHM_RDONLY);
        want = (uint8_t *)malloc(ds.shm_segsz);
        if (p == (void *)-1 || want == NULL)
            return 1;
        {
            uint32_t version;
            int how = PLAIN;
            memcpy(&version, p + offsetof(struct shmring_header, ident.abi_version), 4);
            if (memcmp(p, "NOTARING", 8) != 0)
                how = version == 99 ? OTHER_ABI : CORRUPT;
            pattern(want, ds.shm_segsz, how, (const char *)p + offsetof(struct shmring_header, name),
                    ds.shm_perm.__key);
        }
        ok = memcmp(p, want, ds.shm_segsz) == 0;
        shmdt(p);
        free(want);
        if (!ok)
            fprintf(stderr, "foreign: segment %d was modified\n", id);
        return ok ? 0 : 1;
    }
    if (argc == 2 && strcmp(argv[1], "pipe") == 0) {
        struct shmring_spsc *p, *c;
        char line[64];
        int err = shmring_spsc_pipe(NULL, &p, &c);
        if (err) {
            fprintf(stderr, "foreign: pipe: %s\n", shmring_strerror(err));
            return 1;
        }
        printf("ready\n");
        fflush(stdout);
        while (fgets(line, sizeof(line), stdin))
            ;
        shmring_spsc_close(p);
        shmring_spsc_close(c);
        return 0;
    }
    if (argc == 4 && strcmp(argv[1], "bcast") == 0) {
        struct shmring_bcast *pr = NULL, *c = NULL;
        char line[64];
        int n = atoi(argv[3]), i, err = shmring_bcast_open(argv[2], SHMRING_CONSUMER, SHMRING_BCAST_OLDEST, &c);
        if (err == 0 && n > 0 && (err = shmring_bcast_open(argv[2], SHMRING_PRODUCER, 0, &pr)) == 0) {
            for (i = 0; i < n && err == 0; i++)
                err = shmring_bcast_push(pr, "rec", 3);
            shmring_bcast_close(pr);
        }
        if (err) {
            fprintf(stderr, "foreign: bcast: %s\n", shmring_strerror(err));
            return 1;
        }
        printf("ready\n");
        fflush(stdout);
        while (fgets(line, sizeof(line), stdin))
            ;
        shmring_bcast_close(c);
        return 0;
    }
    if ((argc == 2 || argc == 3) && strcmp(argv[1], "semset") == 0) {
        int id = semget(IPC_PRIVATE, SHMRING_NSEMS, IPC_CREAT | 0600);
        if (id < 0) {
            perror("foreign: semget");
            return 1;
        }
        if (argc == 3) {
            struct sembuf ops[2] = {{SHMRING_SEM_ANON_TAG, SHMRING_ANON_TAG, 0}, {SHMRING_SEM_USERS, 1, 0}};
            if (semop(id, ops, 2) != 0) {
                perror("foreign: semop");
                semctl(id, 0, IPC_RMID);
                return 1;
            }
        }
        printf("%d\n", id);
        return 0;
    }
    if (argc == 2 && strcmp(argv[1], "named-set") == 0) {
        /* A tagged set that no handle holds, and a key-0 segment whose header names it (as a live
         * anonymous ring's does): prints "SEMID SHMID". */
        struct sembuf op = {SHMRING_SEM_ANON_TAG, SHMRING_ANON_TAG, 0};
        int sem = semget(IPC_PRIVATE, SHMRING_NSEMS, IPC_CREAT | 0600), shm;
        struct shmring_header *h;
        if (sem < 0 || semop(sem, &op, 1) != 0) {
            perror("foreign: semget/semop");
            return 1;
        }
        shm = shmget(IPC_PRIVATE, SHMRING_HEADER_SIZE, IPC_CREAT | 0600);
        if (shm < 0 || (h = (struct shmring_header *)shmat(shm, NULL, 0)) == (void *)-1) {
            perror("foreign: shmget/shmat");
            return 1;
        }
        h->ident.semid = sem;
        h->ident.msqid = -1;
        shmdt(h);
        printf("%d %d\n", sem, shm);
        return 0;
    }
    if (argc == 3 && strcmp(argv[1], "tagged-set") == 0) {
        struct sembuf ops[1 + SHMRING_ANON_MSQ_PARTS];
        uint32_t msqid = (uint32_t)strtoul(argv[2], NULL, 0);
        int sem = semget(IPC_PRIVATE, SHMRING_NSEMS, IPC_CREAT | 0600);
        unsigned i, n = 0;
        for (i = 0; i < SHMRING_ANON_MSQ_PARTS; i++) {
            unsigned short part = (unsigned short)((msqid >> (i * SHMRING_ANON_MSQ_BITS)) & ((1u << SHMRING_ANON_MSQ_BITS) - 1));
            if (part) /* an op of 0 would mean "wait for zero": skip it */
                ops[n++] = (struct sembuf){(unsigned short)(SHMRING_SEM_ANON_MSQ + i), (short)part, 0};
        }
        ops[n++] = (struct sembuf){SHMRING_SEM_ANON_TAG, SHMRING_ANON_TAG, 0};
        if (sem < 0 || semop(sem, ops, n) != 0) {
            perror("foreign: tagged-set");
            return 1;
        }
        printf("%d\n", sem);
        return 0;
    }
    if (argc == 3 && strcmp(argv[1], "msq") == 0) {
        int id = msgget((key_t)strtol(argv[2], NULL, 0), IPC_CREAT | IPC_EXCL | 0600);
        if (id < 0) {
            perror("foreign: msgget");
            return 1;
        }
        printf("%d\n", id);
        return 0;
    }
    if (argc == 3 && strcmp(argv[1], "msqrm") == 0)
        return msgctl(atoi(argv[2]), IPC_RMID, NULL) == 0 ? 0 : 1;
    if (argc == 3 && strcmp(argv[1], "semrm") == 0)
        return semctl(atoi(argv[2]), 0, IPC_RMID) == 0 ? 0 : 1;
    if (argc == 3 && strcmp(argv[1], "rm") == 0)
        return shmctl(atoi(argv[2]), IPC_RMID, NULL) == 0 ? 0 : 1;
    fprintf(stderr, "usage: foreign create KEY SIZE [abi] | check SHMID | rm SHMID | pipe | semset [tagged-held] | semrm ID | tagged-set MSQID | msq KEY | msqrm ID | bcast NAME N\n");
    return 2;
}
