/* The `shmring` command: read-only introspection of System V segments and the rings in them.
 *
 * The tool finds segments in /proc/sysvipc/shm (the kernel's table: trusted) and attaches each with
 * SHM_RDONLY, so it can never write to a segment, ours or anybody's. A header is untrusted: every
 * value from it is loaded once into a local, checked against the kernel's figure for the segment
 * size and the ring's geometry, and only then used (never as an offset before it is checked).
 * The ids of the semaphore set and queue in the header are used only after IPC_STAT shows that
 * the object carries the ring's key.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>

#include "cli.h"
#include "shmring/common.h"
#include "shmring/bcast.h"
#include "shmring/mpmc.h"
#include "shmring/spsc.h"

union semun_arg {
    int val;
    struct semid_ds *buf;
    unsigned short *array;
};

int shm_list(struct shm_entry **out)
{
    FILE *f = fopen("/proc/sysvipc/shm", "r");
    struct shm_entry *v = NULL;
    char line[512];
    int n = 0, cap = 0;
    if (f == NULL)
        return -errno;
    if (fgets(line, sizeof(line), f) == NULL) { /* column titles */
        fclose(f);
        *out = NULL;
        return 0;
    }
    while (fgets(line, sizeof(line), f)) {
        struct shm_entry e;
        long long key;
        unsigned long long size, nattch;
        int cpid, lpid;
        unsigned uid, gid, cuid;
        memset(&e, 0, sizeof(e));
        /* key shmid perms size cpid lpid nattch uid gid cuid cgid atime dtime ctime rss swap */
        if (sscanf(line, "%lld %d %o %llu %d %d %llu %u %u %u", &key, &e.shmid, &e.perms, &size, &cpid, &lpid,
                   &nattch, &uid, &gid, &cuid) != 10)
            continue;
        e.cuid = cuid;
        e.key = (int32_t)key;
        e.size = size;
        e.cpid = cpid;
        e.lpid = lpid;
        e.nattch = nattch;
        e.uid = uid;
        struct shm_entry *nv = (struct shm_entry *)cli_append(v, &n, &cap, &e, sizeof(e));
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

static void entry_from_ds(struct shm_entry *e, const struct shmid_ds *ds)
{
    e->key = (int32_t)ds->shm_perm.__key;
    e->perms = ds->shm_perm.mode & 01777u;
    e->size = ds->shm_segsz;
    e->cpid = ds->shm_cpid;
    e->lpid = ds->shm_lpid;
    e->nattch = ds->shm_nattch;
    e->uid = ds->shm_perm.uid;
    e->cuid = ds->shm_perm.cuid;
}

int shm_refresh(struct shm_entry *e)
{
    struct shmid_ds ds;
    if (shmctl(e->shmid, IPC_STAT, &ds) != 0)
        return -errno;
    entry_from_ds(e, &ds);
    return 0;
}

int shm_by_key(int32_t key, struct shm_entry *e)
{
    memset(e, 0, sizeof(*e));
    e->shmid = shmget((key_t)key, 0, 0);
    if (e->shmid < 0)
        return -errno;
    return shm_refresh(e);
}

const char *kind_name(uint32_t kind)
{
    return kind == SHMRING_KIND_SPSC    ? "spsc"
           : kind == SHMRING_KIND_MPMC  ? "mpmc"
           : kind == SHMRING_KIND_BCAST ? "bcast"
                                        : "?";
}

static int is_pow2(uint64_t x) { return x && !(x & (x - 1)); }

static void set_problem(struct ring_view *v, const char *what)
{
    v->corrupt = 1;
    if (v->problem[0] == '\0')
        snprintf(v->problem, sizeof(v->problem), "%s", what);
}

/* The identity against the kernel's segment size and the kind's limits (as the library's open
 * checks it), the name against the key. */
static void check_ident(struct ring_view *v)
{
    const struct shmring_ident *id = &v->id;
    uint64_t segsz = v->seg.size, room;
    if (id->kind != SHMRING_KIND_SPSC && id->kind != SHMRING_KIND_MPMC && id->kind != SHMRING_KIND_BCAST) {
        set_problem(v, "unknown ring kind in the header");
        return;
    }
    if (id->data_offset > segsz || id->segment_size > segsz) {
        set_problem(v, "header geometry larger than the segment");
        return;
    }
    room = segsz - id->data_offset;
    if (id->kind == SHMRING_KIND_SPSC) {
        if (id->data_offset != SHMRING_HEADER_SIZE || !is_pow2(id->capacity) ||
            id->capacity < SHMRING_SPSC_CAPACITY_MIN || id->capacity > SHMRING_SPSC_CAPACITY_MAX ||
            id->capacity > room)
            set_problem(v, "SPSC geometry out of range (capacity, data offset)");
    } else {
        uint64_t need = SHMRING_MPMC_SLOT_HDR + (uint64_t)id->slot_size, stride = SHMRING_MPMC_SLOT_HDR;
        /* The library's stride: header + payload rounded to 16, 32, 64, then multiples of 64. */
        if (need > SHMRING_CACHELINE)
            stride = (need + SHMRING_CACHELINE - 1) & ~(uint64_t)(SHMRING_CACHELINE - 1);
        else
            while (stride < need)
                stride *= 2;
        if (id->kind == SHMRING_KIND_BCAST) {
            /* As lib/segment.c validate_ident (and shmring_bcast_create) check it. */
            if (id->data_offset != SHMRING_BCAST_DATA_OFFSET || !is_pow2(id->capacity) ||
                id->capacity < SHMRING_BCAST_SLOTS_MIN || id->capacity > SHMRING_BCAST_SLOTS_MAX ||
                id->slot_size < SHMRING_BCAST_SLOT_MIN || id->slot_size > SHMRING_BCAST_SLOT_MAX ||
                id->capacity * stride > room)
                set_problem(v, "BCAST geometry out of range (slots, slot size, data offset)");
        } else if (id->data_offset != SHMRING_MPMC_DATA_OFFSET || !is_pow2(id->capacity) ||
            id->capacity < SHMRING_MPMC_SLOTS_MIN || id->capacity > SHMRING_MPMC_SLOTS_MAX ||
            id->slot_size < SHMRING_MPMC_SLOT_MIN || id->slot_size > SHMRING_MPMC_SLOT_MAX ||
            id->capacity * stride > room)
            set_problem(v, "MPMC geometry out of range (slots, slot size, data offset)");
    }
    if (memchr(v->hdr->name, '\0', sizeof(v->hdr->name)) == NULL) {
        set_problem(v, "name in the header is not terminated");
        v->name[0] = '\0';
    }
    v->anon = id->key == 0;
    if (v->anon) {
        if (v->name[0] != '\0')
            set_problem(v, "anonymous ring with a name");
    } else if (v->name[0] == '\0' || shmring_name_key(v->name) < 0 ||
               (uint32_t)shmring_name_key(v->name) != id->key) {
        set_problem(v, "name in the header does not map to the ring's key");
    } else if (!(v->seg.perms & SHM_DEST) && (uint32_t)v->seg.key != id->key) {
        set_problem(v, "ring's key differs from the segment's key");
    }
}

void view_refresh_ipc(struct ring_view *v)
{
    struct semid_ds sds;
    struct msqid_ds mds;
    union semun_arg arg;
    unsigned short vals[SHMRING_NSEMS];
    int i;
    key_t key = (key_t)v->id.key;
    v->sem_ok = v->msq_ok = 0;
    v->sem_err = v->msq_err = -ENOENT;
    /* Only objects that carry the ring's key (a header could name anybody's). */
    arg.buf = &sds;
    if (semctl(v->id.semid, 0, IPC_STAT, arg) != 0) {
        v->sem_err = errno == EINVAL || errno == EIDRM ? -ENOENT : -errno;
    } else if (sds.sem_nsems != SHMRING_NSEMS || sds.sem_perm.__key != key) {
        v->sem_err = -ENOENT;
    } else {
        arg.array = vals;
        if (semctl(v->id.semid, 0, GETALL, arg) != 0) {
            v->sem_err = -errno;
        } else {
            for (i = 0; i < SHMRING_NSEMS; i++)
                v->semval[i] = vals[i];
            v->sem_ok = 1;
        }
    }
    if (msgctl(v->id.msqid, IPC_STAT, &mds) != 0) {
        v->msq_err = errno == EINVAL || errno == EIDRM ? -ENOENT : -errno;
    } else if (mds.msg_perm.__key != key) {
        v->msq_err = -ENOENT;
    } else {
        v->msq_ok = 1;
        v->msg_qnum = mds.msg_qnum;
        v->msg_cbytes = mds.__msg_cbytes;
        v->msg_qbytes = mds.msg_qbytes;
    }
}

void view_open(const struct shm_entry *e, struct ring_view *v)
{
    const struct shmring_header *hdr;
    uint64_t magic;
    memset(v, 0, sizeof(*v));
    v->seg = *e;
    if (e->size < SHMRING_HEADER_SIZE) {
        v->what = VIEW_FOREIGN;
        return;
    }
    hdr = (const struct shmring_header *)shmat(e->shmid, NULL, SHM_RDONLY);
    if (hdr == (void *)-1) {
        v->what = errno == EACCES || errno == EPERM ? VIEW_NO_ACCESS : VIEW_GONE;
        return;
    }
    /* Pairs with the release store that publishes the header (lib/segment.c): if we see the
     * magic, we see the identity written before it. */
    magic = shmring__load((SHMRING_ATOMIC(uint64_t) *)&hdr->ident.magic, acquire);
    if (magic == 0 && hdr->ident.building == SHMRING_BUILDING_MARK) {
        v->hdr = hdr;
        v->what = proc_alive(e->cpid, 0) ? VIEW_CREATING : VIEW_HALF_MADE;
        memcpy(v->name, hdr->name, SHMRING_NAME_MAX);
        v->name[SHMRING_NAME_MAX] = '\0';
        return;
    }
    if (magic != SHMRING_MAGIC) {
        shmdt(hdr);
        v->what = VIEW_FOREIGN;
        return;
    }
    if (hdr->ident.abi_version != SHMRING_ABI_VERSION) {
        shmdt(hdr);
        v->what = VIEW_OTHER_ABI;
        return;
    }
    v->hdr = hdr;
    v->what = VIEW_RING;
    memcpy(&v->id, &hdr->ident, sizeof(v->id));
    memcpy(v->name, hdr->name, SHMRING_NAME_MAX);
    v->name[SHMRING_NAME_MAX] = '\0';
    check_ident(v);
    {
        uint32_t state = shmring__load((SHMRING_ATOMIC(uint32_t) *)&hdr->stats.state, relaxed);
        if (state & SHMRING_STATE_CORRUPT)
            set_problem(v, "marked corrupt by a process that found a broken invariant");
        if ((state & SHMRING_STATE_REMOVED) || (!v->anon && (e->perms & SHM_DEST)))
            v->removed = 1;
    }
    view_refresh_ipc(v);
}

void view_close(struct ring_view *v)
{
    if (v->hdr)
        shmdt(v->hdr);
    v->hdr = NULL;
}

const char *view_state(const struct ring_view *v)
{
    switch (v->what) {
    case VIEW_RING:
        return v->corrupt ? "corrupt" : v->removed ? "removed" : "ok";
    case VIEW_CREATING:
        return "creating";
    case VIEW_HALF_MADE:
        return "half-made";
    case VIEW_FOREIGN:
        return "not a shmring";
    case VIEW_OTHER_ABI:
        return "other ABI version";
    case VIEW_NO_ACCESS:
        return "no access";
    default:
        return "gone";
    }
}

const struct shmring_bcast_consumer *view_bcast_table(const struct ring_view *v)
{
    /* check_ident made sure the data area (after the table and the ctl line) lies in the segment. */
    if (v->what != VIEW_RING || v->corrupt || v->id.kind != SHMRING_KIND_BCAST ||
        v->seg.size < SHMRING_BCAST_DATA_OFFSET)
        return NULL;
    return (const struct shmring_bcast_consumer *)(const void *)((const uint8_t *)v->hdr +
                                                                 SHMRING_BCAST_TABLE_OFFSET);
}

const struct shmring_bcast_ctl *view_bcast_ctl(const struct ring_view *v)
{
    if (view_bcast_table(v) == NULL)
        return NULL;
    return (const struct shmring_bcast_ctl *)(const void *)((const uint8_t *)v->hdr + SHMRING_BCAST_CTL_OFFSET);
}

/* BCAST: producer position minus the slowest active consumer's; 0 (unknown) with no consumer or
 * positions that make no sense. Every value is untrusted: a consumer more than a lap behind or
 * ahead of the producer is skipped (a joiner's provisional position, or garbage). */
static int bcast_fill(const struct ring_view *v, uint64_t *fill)
{
    const struct shmring_bcast_consumer *t = view_bcast_table(v);
    uint64_t cap = v->id.capacity, worst = 0, prod;
    unsigned i;
    int any = 0;
    *fill = 0;
    if (t == NULL)
        return 0;
    prod = shmring__load((SHMRING_ATOMIC(uint64_t) *)&v->hdr->prod.pos, acquire);
    for (i = 0; i < SHMRING_BCAST_CONSUMERS; i++) {
        uint64_t act = shmring__load((SHMRING_ATOMIC(uint64_t) *)&t[i].active, acquire), d;
        if (act == 0 || shmring__load((SHMRING_ATOMIC(uint64_t) *)&t[i].owner, relaxed) != act)
            continue;
        d = prod - shmring__load((SHMRING_ATOMIC(uint64_t) *)&t[i].pos, relaxed);
        if ((int64_t)d < 0)
            d = 0; /* released just past our load of prod.pos */
        if (d > cap && !(v->id.flags & SHMRING_HDR_LOSSY))
            continue;
        if (d > cap)
            d = cap; /* LOSSY: lapped; what it can still read is at most a ring */
        if (!any || d > worst)
            worst = d;
        any = 1;
    }
    *fill = worst;
    return any;
}

int view_fill(const struct ring_view *v, uint64_t *fill)
{
    if (v->id.kind == SHMRING_KIND_BCAST)
        return bcast_fill(v, fill);
    {
    /* The consumer's position first: it never passes the producer's, so a later producer load
     * can only be further on. Acquire orders the second load after the first (both are plain
     * mirror stores for the tools; the exact edge does not matter, only the load order). */
    uint64_t head = shmring__load((SHMRING_ATOMIC(uint64_t) *)&v->hdr->cons.pos, acquire);
    uint64_t tail = shmring__load((SHMRING_ATOMIC(uint64_t) *)&v->hdr->prod.pos, relaxed);
    uint64_t cap = v->id.capacity, d = tail - head;
    *fill = 0;
    if (v->what != VIEW_RING || v->corrupt)
        return 0;
    if (d <= cap) {
        *fill = d;
        return 1;
    }
    /* A consumer may release just past the producer's mirror store (prod.pos is stored after
     * each commit): within a lap behind counts as empty. */
    if (head - tail <= cap)
        return 1;
    return 0;
    }
}

int view_by_name(const char *name, struct ring_view *v)
{
    struct shm_entry e;
    int64_t key = shmring_name_key(name);
    char shown[4 * SHMRING_NAME_MAX + 8];
    int err;
    memset(v, 0, sizeof(*v));
    if (key < 0)
        return cli_usage_err("invalid ring name '%s': %s", name_for_text(name, shown, sizeof(shown)),
                             shmring_strerror((int)key));
    name_for_text(name, shown, sizeof(shown));
    if ((err = shm_by_key((int32_t)key, &e)) != 0) {
        if (err == -ENOENT || err == -EINVAL || err == -EIDRM)
            cli_err("%s: no such ring (nothing on key 0x%08x)", shown, (unsigned)key);
        else
            cli_err("%s: cannot look at key 0x%08x: %s", shown, (unsigned)key, shmring_strerror(err));
        return EXIT_FAIL;
    }
    view_open(&e, v);
    switch (v->what) {
    case VIEW_RING:
    case VIEW_CREATING:
    case VIEW_HALF_MADE:
        if (strncmp(v->name, name, SHMRING_NAME_MAX + 1) != 0) {
            char other[4 * SHMRING_NAME_MAX + 8];
            cli_err("%s: no such ring (key 0x%08x holds ring '%s', whose name hashes to the same key)", shown,
                    (unsigned)key, name_for_text(v->name, other, sizeof(other)));
            view_close(v);
            return EXIT_FAIL;
        }
        return EXIT_OK;
    case VIEW_FOREIGN:
        cli_err("%s: not a shmring: segment %d on key 0x%08x has another format; left untouched", shown,
                e.shmid, (unsigned)key);
        return EXIT_FAIL;
    case VIEW_OTHER_ABI:
        cli_err("%s: %s (segment %d)", shown, shmring_strerror(-EPROTONOSUPPORT), e.shmid);
        return EXIT_FAIL;
    case VIEW_NO_ACCESS:
        cli_err("%s: cannot attach segment %d: %s", shown, e.shmid, shmring_strerror(-EACCES));
        return EXIT_FAIL;
    default:
        cli_err("%s: no such ring (removed while we looked)", shown);
        return EXIT_FAIL;
    }
}
