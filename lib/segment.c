/* shmring — ring segments: create, open, validate, unlink.
 *
 * A named ring is three System V objects on the key derived from its name (ipcs shows them side by
 * side): the segment, a semaphore set and a message queue. The header holds the ids of the last two.
 * Creation uses IPC_CREAT|IPC_EXCL on the segment first: whoever creates the segment owns the name.
 * The header's magic is stored last, with release; openers wait (boundedly) for it, so they never
 * see a half-made ring.
 *
 * The header is untrusted, and so are the ids in it: an opener checks that the objects the header
 * names carry the key derived from the name (and, for the set, our number of semaphores) and keeps
 * its own copy; nothing is ever removed by an id read from shared memory: unlink and the reaper
 * remove what is on the name's key, an anonymous ring's last close what its creator made.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "shmring/bcast.h"
#include "shmring/mpmc.h"
#include "shmring/spsc.h"

/* ident.reserved0 bits while the header is being built, so that the remains of a creator that
 * died half-way can be removed completely. */
#define SEG_INIT_SEM 0x1u
#define SEG_INIT_MSQ 0x2u

/* How long an opener waits for a live creator to publish the header. */
#define SEG_PUBLISH_WAIT_NS (2 * 1000 * 1000 * 1000LL)

/* May the creator of segment shmid (IPC_STAT in *ds) still be building it? The caller holds `mine`
 * attachments. A creator attaches right after shmget() and stays attached until it has published
 * the header, and the kernel detaches a process that dies: anybody else attached may be it. Before
 * its shmat() only its pid tells, and a pid means something only in our PID namespace: a creator
 * we cannot see (shm_cpid 0: another namespace) is given the benefit of the doubt while the segment
 * is young. Cannot tell: yes. */
static int creator_may_be_at_work(int shmid, const struct shmid_ds *ds, unsigned mine)
{
    struct shmid_ds now;
    if (shmctl(shmid, IPC_STAT, &now) != 0)
        return errno != EINVAL && errno != EIDRM;
    if (now.shm_nattch > mine)
        return 1;
    if (ds->shm_cpid > 0)
        return !(kill(ds->shm_cpid, 0) != 0 && errno == ESRCH);
    return time(NULL) - ds->shm_ctime < SEG_PUBLISH_WAIT_NS / 1000000000LL + 1;
}

/* The header's magic once published: waits (boundedly) while it is 0 and the creator may still be
 * at work (someone besides us has the segment attached). Returns 0 if it never came: the creator
 * died or stalled half-way. Pairs with the release store that publishes the header in
 * shmring__seg_create(). */
static uint64_t await_magic(const struct shmring_header *hdr, int shmid, const struct shmid_ds *ds)
{
    int64_t deadline = shmring__now_ns() + SEG_PUBLISH_WAIT_NS;
    uint64_t magic;
    while ((magic = shmring__load(&hdr->ident.magic, acquire)) == 0 && creator_may_be_at_work(shmid, ds, 1) &&
           shmring__now_ns() < deadline)
        usleep(1000);
    /* Look once more: the creator may have published and exited since our last look. */
    return magic ? magic : shmring__load(&hdr->ident.magic, acquire);
}

static uint64_t hugepage_size(void)
{
    return UINT64_C(2) << 20; /* x86-64 and arm64 default; SHM_HUGETLB uses the default size */
}

/* Do the ids in the header name objects of this ring (its key; our number of semaphores)? */
static int sem_is_ours(int semid, key_t key)
{
    union shmring__semun arg;
    struct semid_ds sds;
    arg.buf = &sds;
    return semctl(semid, 0, IPC_STAT, arg) == 0 && sds.sem_nsems == SHMRING_NSEMS && sds.sem_perm.__key == key;
}

static int msq_is_ours(int msqid, key_t key)
{
    struct msqid_ds mds;
    return msgctl(msqid, IPC_STAT, &mds) == 0 && mds.msg_perm.__key == key;
}

/* Removes a semaphore set and a queue known from process memory (the ids this process made, or
 * validated at open), each only if it still carries `key` (ids are reused once an object is gone).
 * Never called with ids read back from shared memory: anyone who can write the header could name
 * another ring's objects there. -1: none. */
static void remove_ids(key_t key, int semid, int msqid)
{
    if (semid >= 0 && sem_is_ours(semid, key))
        semctl(semid, 0, IPC_RMID);
    if (msqid >= 0 && msq_is_ours(msqid, key))
        msgctl(msqid, IPC_RMID, NULL);
}

void shmring__seg_remove_objects(const struct shmring_ident *id)
{
    remove_ids((key_t)id->key, id->semid, id->msqid);
}

/* A segment whose header was never published: is it a ring that a creator began? The creator's
 * first store is the SHMRING_BUILDING_MARK mark, so a foreign segment (whose first word may well be 0) is
 * not taken for one; a header still all zero is one whose creator died before that store. */
static int looks_half_made(const struct shmring_header *hdr)
{
    static const uint8_t zero[SHMRING_HEADER_SIZE];
    if (shmring__load(&hdr->ident.magic, acquire) != 0)
        return 0;
    /* The creator's first store, one aligned word: the mark, or (dead before it) all zero. A live
     * creator may store the mark between our two looks: if anything is non-zero, the mark (its
     * first store) is there by now, so look at it once more. */
    return hdr->ident.building == SHMRING_BUILDING_MARK || memcmp(hdr, zero, sizeof(zero)) == 0 ||
           shmring__load((const SHMRING_ATOMIC(uint64_t) *)&hdr->ident.building, relaxed) == SHMRING_BUILDING_MARK;
}

static int remove_leftovers(key_t key, int shmid);

/* The key holds a half-made ring whose creator is dead: remove it and what it had made.
 * Returns 1 if removed. */
static int reap_half_made(key_t key)
{
    struct shmid_ds ds;
    struct shmring_header *hdr;
    int shmid = shmget(key, 0, 0), reaped = 0;
    if (shmid < 0 || shmctl(shmid, IPC_STAT, &ds) != 0)
        return 0;
    if (ds.shm_segsz < SHMRING_HEADER_SIZE || creator_may_be_at_work(shmid, &ds, 0))
        return 0;
    hdr = (struct shmring_header *)shmat(shmid, NULL, 0);
    if (hdr == (void *)-1)
        return 0;
    /* The mark first, the attach count second: a creator attaches before it writes the mark, so
     * once we see the mark its attachment shows, unless it is gone. */
    if (looks_half_made(hdr) && !creator_may_be_at_work(shmid, &ds, 1)) {
        /* What is on the name's key is the ring's; the header's ids are not looked at. */
        remove_leftovers(key, shmid);
        shmctl(shmid, IPC_RMID, NULL);
        reaped = 1;
    }
    shmdt(hdr);
    return reaped;
}

/* semget/msgget with IPC_EXCL on the ring's key. The segment's key is already ours (we created it
 * exclusively), so an object found on the key is a leftover of an earlier ring of this name whose
 * segment is gone: remove it if it has the shape of ours (a set of our size; an empty queue),
 * else report the key as taken. A leftover that vanishes while we look (a concurrent unlink of the
 * name removed it: remove_leftovers) is not a taken key: try again, a few times. */
#define MAKE_TRIES 4

static int vanished(void)
{
    return errno == EINVAL || errno == EIDRM || errno == ENOENT;
}

static int make_sem(key_t key, int mode)
{
    int tries;
    for (tries = 1; tries <= MAKE_TRIES; tries++) {
        union shmring__semun arg;
        struct semid_ds sds;
        int id = semget(key, SHMRING_NSEMS, IPC_CREAT | IPC_EXCL | mode);
        if (id >= 0 || errno != EEXIST || key == IPC_PRIVATE)
            return id >= 0 ? id : shmring__errno();
        arg.buf = &sds;
        id = semget(key, 0, 0);
        SHMRING__TEST_POINT(SHMRING__TP_CREATE_LEFTOVER);
        if (id < 0 || semctl(id, 0, IPC_STAT, arg) != 0) {
            if (vanished() && tries < MAKE_TRIES)
                continue;
            return -EEXIST;
        }
        if (sds.sem_nsems != SHMRING_NSEMS || sds.sem_perm.__key != key)
            return -EEXIST; /* somebody else's */
        if (semctl(id, 0, IPC_RMID) != 0 && !(vanished() && tries < MAKE_TRIES))
            return -EEXIST;
    }
    return -EEXIST;
}

static int make_msq(key_t key, int mode)
{
    int tries;
    for (tries = 1; tries <= MAKE_TRIES; tries++) {
        struct msqid_ds mds;
        int id = msgget(key, IPC_CREAT | IPC_EXCL | mode);
        if (id >= 0 || errno != EEXIST || key == IPC_PRIVATE)
            return id >= 0 ? id : shmring__errno();
        id = msgget(key, 0);
        SHMRING__TEST_POINT(SHMRING__TP_CREATE_LEFTOVER);
        if (id < 0 || msgctl(id, IPC_STAT, &mds) != 0) {
            if (vanished() && tries < MAKE_TRIES)
                continue;
            return -EEXIST;
        }
        if (mds.msg_qnum != 0)
            return -EEXIST; /* holds somebody's messages */
        if (msgctl(id, IPC_RMID, NULL) != 0 && !(vanished() && tries < MAKE_TRIES))
            return -EEXIST;
    }
    return -EEXIST;
}

/* Makes the ring's queue and records it in the header. Returns its id, or -1 with errno set. */
static int add_msq(struct shmring_header *hdr, key_t key, int mode)
{
    int id = make_msq(key, mode);
    if (id < 0) {
        errno = -id;
        return -1;
    }
    hdr->ident.msqid = id;
    hdr->ident.reserved0 |= SEG_INIT_MSQ;
    SHMRING__TEST_POINT(SHMRING__TP_CREATE_STEP);
    return id;
}

/* The initial values of an anonymous ring's set that tag it (see SHMRING_SEM_ANON_TAG): the tag
 * and the queue's id. They go in with the set's other initial values, in the one SETALL that
 * follows its creation, after the header holds both ids: whoever sees the tag sees the id, and a
 * segment that names the set. */
static void tag_anonymous(unsigned short *vals, int msqid)
{
    unsigned i;
    for (i = 0; i < SHMRING_ANON_MSQ_PARTS; i++)
        vals[SHMRING_SEM_ANON_MSQ + i] =
            (unsigned short)(((uint32_t)msqid >> (i * SHMRING_ANON_MSQ_BITS)) & ((1u << SHMRING_ANON_MSQ_BITS) - 1));
    vals[SHMRING_SEM_ANON_TAG] = SHMRING_ANON_TAG;
}

int shmring__seg_create(const char *name, uint32_t kind, uint64_t capacity, uint32_t slot_size,
                        uint64_t data_offset, uint64_t data_bytes, const struct shmring_config *cfg,
                        int (*init)(struct shmring_header *, const struct shmring_config *),
                        struct shmring_header **out, size_t *out_size, int *out_shmid,
                        struct shmring_ident *out_id)
{
    struct shmring_config defaults;
    union shmring__semun arg;
    unsigned short zeros[SHMRING_NSEMS];
    struct shmring_header *hdr;
    uint64_t size;
    key_t key = IPC_PRIVATE;
    int shmid, flags, err, tries, wake, semid = -1, msqid = -1;
    uint32_t mode;

    if (cfg == NULL) {
        shmring_config_init(&defaults);
        cfg = &defaults;
    }
    if (name != NULL) {
        if ((err = shmring__check_name(name)) != 0)
            return err;
        key = shmring__key(name);
    }
    if (cfg->flags & ~(uint32_t)(SHMRING_F_HUGEPAGES | SHMRING_F_WAKE_FENCED | SHMRING_F_WAKE_MEMBARRIER |
                                 (kind == SHMRING_KIND_BCAST ? SHMRING_F_LOSSY : 0) |
                                 (kind == SHMRING_KIND_SPSC ? SHMRING_F_ALIGN64 : 0)))
        return -EINVAL;
    if ((wake = shmring__wake_hdr_flags(cfg->flags)) < 0)
        return wake;
    if (cfg->mode & ~0777u)
        return -EINVAL;
    mode = cfg->mode ? cfg->mode : SHMRING_DEFAULT_MODE;
    /* The creator must be able to use its own ring. */
    mode |= 0600;
    if (data_bytes > UINT64_MAX / 2)
        return -ENOMEM;
    size = data_offset + data_bytes;
    flags = IPC_CREAT | IPC_EXCL | (int)mode;
    if (cfg->flags & SHMRING_F_HUGEPAGES) {
        size = (size + hugepage_size() - 1) & ~(hugepage_size() - 1);
        flags |= SHM_HUGETLB;
    }
    if (size != (size_t)size)
        return -ENOMEM;

    for (tries = 0;; tries++) {
        shmid = shmget(key, (size_t)size, flags);
        if (shmid >= 0)
            break;
        err = shmring__errno();
        if (err == -EEXIST && tries == 0 && name != NULL && reap_half_made(key))
            continue;
        if (err == -EINVAL) /* larger than SHMMAX, or an existing smaller segment on the key */
            return key != IPC_PRIVATE && shmget(key, 0, 0) >= 0 ? -EEXIST : -ENOMEM;
        return err;
    }
    hdr = (struct shmring_header *)shmat(shmid, NULL, 0);
    if (hdr == (void *)-1) {
        err = shmring__errno();
        shmctl(shmid, IPC_RMID, NULL);
        return err;
    }
    /* An anonymous ring's segment is freed when the last process detaches (Linux lets its holders'
     * forked children keep it, and the tool still lists it). Marked at once, so a creator killed
     * from here on leaves no segment. */
    if (key == IPC_PRIVATE)
        shmctl(shmid, IPC_RMID, NULL);
    SHMRING__TEST_POINT(SHMRING__TP_CREATE_STEP);
    /* The segment is zero-filled: only non-zero fields are written. The mark first: it identifies a
     * half-made ring if we die before publishing it. */
    hdr->ident.building = SHMRING_BUILDING_MARK;
    if (name != NULL)
        strncpy(hdr->name, name, SHMRING_NAME_MAX);
    hdr->ident.abi_version = SHMRING_ABI_VERSION;
    hdr->ident.kind = kind;
    hdr->ident.key = (uint32_t)key;
    hdr->ident.capacity = capacity;
    hdr->ident.slot_size = slot_size;
    hdr->ident.data_offset = data_offset;
    hdr->ident.segment_size = size;
    hdr->ident.creator_pid = (int32_t)getpid();
    hdr->ident.creator_start = shmring__self_start();
    hdr->ident.mode = mode;
    {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        hdr->ident.created_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    }
    if (cfg->flags & SHMRING_F_HUGEPAGES)
        hdr->ident.flags |= SHMRING_HDR_HUGEPAGES;
    hdr->ident.flags |= (uint32_t)wake;

    /* An anonymous ring makes its queue first, so that its set is tagged (with the queue's id) by
     * the SETALL right after its creation: killed at any point, the creator leaves at most a
     * key-0 queue or an untagged set from the one system call in between, and `shmring rm
     * --stale` recognises everything else (tools/shmring/orphans.c). A named ring makes its set
     * first: on its key, only a set of our shape shows that the queue beside it is ours too
     * (remove_leftovers). */
    if (key == IPC_PRIVATE && (msqid = add_msq(hdr, key, (int)mode)) < 0)
        goto fail;
    if ((err = make_sem(key, (int)mode)) < 0) {
        errno = -err;
        goto fail;
    }
    hdr->ident.semid = semid = err;
    hdr->ident.reserved0 |= SEG_INIT_SEM;
    SHMRING__TEST_POINT(SHMRING__TP_CREATE_STEP);
    /* Linux zeroes new semaphores; POSIX leaves them undefined, so say it. */
    memset(zeros, 0, sizeof(zeros));
    zeros[SHMRING_SEM_CONTROL] = 1; /* at rest; see control.c */
    if (key == IPC_PRIVATE)
        tag_anonymous(zeros, msqid);
    arg.array = zeros;
    if (semctl(semid, 0, SETALL, arg) != 0)
        goto fail;
    SHMRING__TEST_POINT(SHMRING__TP_CREATE_STEP);
    if (key != IPC_PRIVATE && (msqid = add_msq(hdr, key, (int)mode)) < 0)
        goto fail;
    if (init && (err = init(hdr, cfg)) != 0) {
        errno = -err;
        goto fail;
    }

    if (out_id) {
        /* The identity as this process made it: the fields it acts on come from its own
         * variables, not from the (writable by others) header. */
        memcpy(out_id, &hdr->ident, sizeof(*out_id));
        out_id->key = (uint32_t)key;
        out_id->kind = kind;
        out_id->capacity = capacity;
        out_id->slot_size = slot_size;
        out_id->data_offset = data_offset;
        out_id->segment_size = size;
        out_id->semid = semid;
        out_id->msqid = msqid;
        out_id->magic = SHMRING_MAGIC;
    }
    /* Publishes the header: pairs with the acquire load in shmring__seg_open(). */
    shmring__store(&hdr->ident.magic, SHMRING_MAGIC, release);
    *out = hdr;
    *out_size = (size_t)size;
    *out_shmid = shmid;
    return 0;

fail:
    err = shmring__errno();
    remove_ids(key, semid, msqid);
    /* Before the detach: an anonymous segment (marked already) is freed by it, and its id may
     * then name somebody else's. */
    shmctl(shmid, IPC_RMID, NULL);
    shmdt(hdr);
    return err;
}

static int is_pow2(uint64_t x) { return x && !(x & (x - 1)); }

/* Checks the published identity of a segment of `segsz` bytes (the kernel's figure, trusted). */
static int validate_ident(const struct shmring_header *hdr, const struct shmring_ident *id, uint64_t segsz,
                          uint32_t kind, const char *name)
{
    uint64_t room;
    if (id->abi_version != SHMRING_ABI_VERSION)
        return -EPROTONOSUPPORT;
    if ((kind != 0 && id->kind != kind) ||
        (id->kind != SHMRING_KIND_SPSC && id->kind != SHMRING_KIND_MPMC && id->kind != SHMRING_KIND_BCAST))
        return -EPROTONOSUPPORT;
    kind = id->kind;
    /* Every flag of this ABI version is known (a version that adds one changes SHMRING_ABI_VERSION,
     * since a flag may change the layout): any other bit is garbage. */
    if ((id->flags & ~SHMRING_HDR_KNOWN) || ((id->flags & SHMRING_HDR_ALIGN64) && kind != SHMRING_KIND_SPSC))
        return -EUCLEAN;
    if (id->segment_size > segsz || id->data_offset > segsz)
        return -EUCLEAN;
    room = segsz - id->data_offset;
    if (kind == SHMRING_KIND_SPSC) {
        if (id->data_offset != SHMRING_HEADER_SIZE || !is_pow2(id->capacity) ||
            id->capacity < SHMRING_SPSC_CAPACITY_MIN || id->capacity > SHMRING_SPSC_CAPACITY_MAX ||
            id->capacity > room)
            return -EUCLEAN;
    } else if (kind == SHMRING_KIND_BCAST) {
        if (id->data_offset != SHMRING_BCAST_DATA_OFFSET || !is_pow2(id->capacity) ||
            id->capacity < SHMRING_BCAST_SLOTS_MIN || id->capacity > SHMRING_BCAST_SLOTS_MAX ||
            id->slot_size < SHMRING_BCAST_SLOT_MIN || id->slot_size > SHMRING_BCAST_SLOT_MAX ||
            id->capacity * shmring__mpmc_stride(id->slot_size) > room)
            return -EUCLEAN;
    } else {
        if (id->data_offset != SHMRING_MPMC_DATA_OFFSET || !is_pow2(id->capacity) ||
            id->capacity < SHMRING_MPMC_SLOTS_MIN || id->capacity > SHMRING_MPMC_SLOTS_MAX ||
            id->slot_size < SHMRING_MPMC_SLOT_MIN || id->slot_size > SHMRING_MPMC_SLOT_MAX ||
            id->capacity * shmring__mpmc_stride(id->slot_size) > room)
            return -EUCLEAN;
    }
    if (name != NULL && strncmp(hdr->name, name, SHMRING_NAME_MAX + 1) != 0)
        return -ENOENT; /* another name hashed to this key */
    if (shmring__load(&hdr->stats.state, acquire) & SHMRING_STATE_CORRUPT)
        return -EUCLEAN;
    return 0;
}

/* Attaches the segment on `key` (read-write), with the kernel's view of it in *ds. -ENOENT if there
 * is none (or it is being removed), -EBADMSG if it is too small to be a ring. */
static int attach_key(key_t key, int *shmid, struct shmid_ds *ds, struct shmring_header **hdr)
{
    *shmid = shmget(key, 0, 0);
    if (*shmid < 0)
        return errno == ENOENT ? -ENOENT : shmring__errno();
    if (shmctl(*shmid, IPC_STAT, ds) != 0)
        return errno == EINVAL || errno == EIDRM ? -ENOENT : shmring__errno();
    if (ds->shm_segsz < SHMRING_HEADER_SIZE)
        return -EBADMSG;
    *hdr = (struct shmring_header *)shmat(*shmid, NULL, 0);
    if (*hdr == (void *)-1)
        return errno == EINVAL || errno == EIDRM ? -ENOENT : shmring__errno();
    return 0;
}

int shmring__seg_open(const char *name, uint32_t kind, struct shmring_header **out, size_t *out_size,
                      int *out_shmid, struct shmring_ident *id)
{
    struct shmid_ds ds;
    struct shmring_header *hdr;
    struct semid_ds sds;
    union shmring__semun arg;
    uint64_t magic;
    int shmid, err;

    if ((err = shmring__check_name(name)) != 0)
        return err;
    if ((err = attach_key(shmring__key(name), &shmid, &ds, &hdr)) != 0)
        return err;

    if ((magic = await_magic(hdr, shmid, &ds)) == 0) {
        err = -ENOENT; /* a creator that died (or stalled) half-way: not a ring */
        goto fail;
    }
    if (magic != SHMRING_MAGIC) {
        err = -EBADMSG;
        goto fail;
    }
    /* Check a private copy and hand out only that: the header may change under us at any time. */
    memcpy(id, &hdr->ident, sizeof(*id));
    if ((err = validate_ident(hdr, id, ds.shm_segsz, kind, name)) != 0)
        goto fail;
    /* The semaphore set must be the ring's (a corrupt header could name anybody's). */
    arg.buf = &sds;
    if (semctl(id->semid, 0, IPC_STAT, arg) != 0) {
        err = errno == EACCES ? -EACCES : -ENOENT; /* removed underneath us */
        goto fail;
    }
    if (sds.sem_nsems != SHMRING_NSEMS || sds.sem_perm.__key != (key_t)id->key ||
        id->key != (uint32_t)shmring__key(name)) {
        err = -EUCLEAN;
        goto fail;
    }
    {
        struct msqid_ds mds;
        if (msgctl(id->msqid, IPC_STAT, &mds) != 0) {
            err = errno == EACCES ? -EACCES : -ENOENT; /* removed underneath us (an unlink under way) */
            goto fail;
        }
        if (mds.msg_perm.__key != (key_t)id->key) {
            err = -EUCLEAN;
            goto fail;
        }
    }
    *out = hdr;
    *out_size = ds.shm_segsz;
    *out_shmid = shmid;
    return 0;
fail:
    shmdt(hdr);
    return err;
}

void shmring__seg_detach(struct shmring_header *hdr)
{
    shmdt(hdr);
}

/* Objects on the ring's key that nothing names any more (a creator or an unlink killed half-way),
 * or the objects of a ring being removed. `shmid`: the segment that holds the key, so what is on
 * the key is its ring's; -1: no segment holds it, and only a semaphore set of our shape shows that
 * the queue beside it is ours too.
 *
 * The key can change hands while we work: another unlink may finish the ring and a create make a
 * new one on the same key, whose objects must survive. So the ids are read first, and only then
 * is the key checked to be still held as expected (by `shmid`, or by nobody). A segment keeps its
 * key from its creation to its removal and never gets it back, and a creator makes its segment
 * before its set and queue: so if the check holds, the objects read before it are the ones meant
 * (a new ring's would have been made after its segment). Removal is by those ids, never by key.
 * (Modulo id reuse, which needs the id's sequence number to wrap in between.) Found by the churn
 * test (test/adversarial/race_test.c) and pinned by unlink_race_test.c.
 * Returns how many it removed. */
static int remove_leftovers(key_t key, int shmid)
{
    int semid, msqid, now, n = 0, ours = shmid >= 0;
    SHMRING__TEST_POINT(SHMRING__TP_LEFTOVERS);
    semid = semget(key, 0, 0);
    msqid = msgget(key, 0);
    SHMRING__TEST_POINT(SHMRING__TP_LEFTOVERS_IDS_READ);
    now = shmget(key, 0, 0);
    if (shmid >= 0 ? now != shmid : now >= 0 || errno != ENOENT)
        return 0;
    if (semid >= 0 && sem_is_ours(semid, key)) {
        if (semctl(semid, 0, IPC_RMID) == 0)
            n++;
        ours = 1;
    }
    if (ours && msqid >= 0 && msq_is_ours(msqid, key) && msgctl(msqid, IPC_RMID, NULL) == 0)
        n++;
    return n;
}

int shmring_unlink(const char *name)
{
    struct shmid_ds ds;
    struct shmring_header *hdr;
    uint64_t magic;
    key_t key;
    int shmid, err;

    if ((err = shmring__check_name(name)) != 0)
        return err;
    key = shmring__key(name);
    err = attach_key(key, &shmid, &ds, &hdr);
    if (err == -ENOENT) /* no segment: perhaps an earlier unlink was killed after removing it */
        return remove_leftovers(key, -1) ? 0 : -ENOENT;
    if (err)
        return err;
    /* Being created: give a live creator the time an opener gives it to publish. */
    magic = await_magic(hdr, shmid, &ds);
    if (magic == 0 && looks_half_made(hdr)) {
        /* Half made: ours to remove only if its creator is dead. */
        err = creator_may_be_at_work(shmid, &ds, 1) ? -EBUSY : 0;
    } else if (magic != SHMRING_MAGIC) {
        err = -EBADMSG;
    } else if (strncmp(hdr->name, name, SHMRING_NAME_MAX + 1) != 0) {
        err = -ENOENT;
    } else {
        err = 0;
    }
    if (err) {
        shmdt(hdr);
        return err;
    }
    /* Only the owner, the creator or a privileged process may remove System V objects: refuse
     * before marking the ring removed (a refused unlink must leave the ring as it was). Root is
     * taken as privileged (CAP_IPC_OWNER); the kernel has the last word below. */
    if (geteuid() != 0 && geteuid() != ds.shm_perm.uid && geteuid() != ds.shm_perm.cuid) {
        shmdt(hdr);
        return -EPERM;
    }
    /* Mark it first, so an attached process that looks at the state knows why. */
    if (magic != 0)
        shmring__fetch_or(&hdr->stats.state, SHMRING_STATE_REMOVED, release);
    /* The semaphores and queue before the segment: if we are killed in between, the segment still
     * names the ring and another unlink finishes the job. Removing the semaphores wakes every
     * sleeper with EIDRM. They are the objects on the name's key (a ring's three objects share
     * it): the ids in the header are never used here, since whoever can write the header could
     * name another ring's objects there (test/adversarial/trust_test.c). */
    remove_leftovers(key, shmid);
    if (shmctl(shmid, IPC_RMID, NULL) != 0) {
        err = shmring__errno();
        shmdt(hdr);
        return err;
    }
    shmdt(hdr);
    return 0;
}
