/* SPSC rings whose shared memory is corrupt or hostile (header, positions, record words, foreign segments, fuzzing): clear errors, nothing read or written outside the segment. Run under --config=asan too. */
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <unistd.h>

#include "spsc_test.h"

SPSC_SUITE(corrupt);

#define MS ((int64_t)1000 * 1000)

union semun_arg {
    int val;
    struct semid_ds *buf;
    unsigned short *array;
};

/* Attaches the segment of ring `name` ourselves, as another process would. */
static struct shmring_header *raw_attach(const char *name)
{
    int id = shmget((key_t)shmring_name_key(name), 0, 0);
    void *a;
    cr_assert(id >= 0, "no segment for %s", name);
    a = shmat(id, NULL, 0);
    cr_assert(a != (void *)-1);
    return (struct shmring_header *)a;
}

/* Both roles fail to open with `err`; nothing is attached afterwards. */
static void open_fails(const char *name, int err)
{
    struct shmring_spsc *r = (struct shmring_spsc *)&r;
    SPSC_EQ(shmring_spsc_open(name, SHMRING_PRODUCER, &r), err);
    cr_assert_null(r);
    SPSC_EQ(shmring_spsc_open(name, SHMRING_CONSUMER, &r), err);
    cr_assert_null(r);
}

static void open_works(const char *name)
{
    struct shmring_spsc *p, *c;
    spsc_open_pair(name, &p, &c);
    spsc_push_rec(p, 12, 1);
    spsc_pop_rec(c, 12, 1);
    spsc_close_pair(p, c);
}

/* --- Header ----------------------------------------------------------------------------------- */

SPSC_TEST(corrupt, abi_version_and_kind)
{
    char name[64];
    struct shmring_header *h;
    const uint32_t versions[] = {0, SHMRING_ABI_VERSION - 1, 0xffffffffu, SHMRING_ABI_VERSION + 1};
    const uint32_t kinds[] = {0, SHMRING_KIND_MPMC, 3, 0xdeadbeefu};
    size_t i;
    spsc_create(name, "abi", 4096);
    h = raw_attach(name);
    for (i = 0; i < 4; i++) {
        h->ident.abi_version = versions[i];
        open_fails(name, -EPROTONOSUPPORT);
    }
    h->ident.abi_version = SHMRING_ABI_VERSION;
    for (i = 0; i < 4; i++) {
        h->ident.kind = kinds[i];
        open_fails(name, -EPROTONOSUPPORT);
    }
    h->ident.kind = SHMRING_KIND_SPSC;
    open_works(name);
    shmdt(h);
    SPSC_EQ(shmring_unlink(name), 0);
}

/* Header flags: a bit this ABI version does not define, or the 64-byte alignment on a ring kind
 * that has no variable-length records, is corruption (-EUCLEAN); clearing it repairs the ring. */
SPSC_TEST(corrupt, unknown_header_flags)
{
    const uint32_t bad[] = {0x10u, 0x80000000u, ~(uint32_t)SHMRING_HDR_KNOWN};
    char name[64];
    struct shmring_header *h;
    uint32_t f;
    size_t i;
    spsc_create(name, "flags", 4096);
    h = raw_attach(name);
    f = h->ident.flags;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        h->ident.flags = f | bad[i];
        open_fails(name, -EUCLEAN);
    }
    h->ident.flags = f;
    open_works(name);
    shmdt(h);
    SPSC_EQ(shmring_unlink(name), 0);
    {
        struct shmring_config cfg;
        struct shmring_mpmc *m = NULL;
        shmring_config_init(&cfg);
        snprintf(name, sizeof(name), "%s", testutil_name("mflags"));
        SPSC_EQ(shmring_mpmc_create(name, &cfg), 0);
        h = raw_attach(name);
        h->ident.flags |= SHMRING_HDR_ALIGN64;
        SPSC_EQ(shmring_mpmc_open(name, SHMRING_PRODUCER, &m), -EUCLEAN);
        h->ident.flags &= ~SHMRING_HDR_ALIGN64;
        SPSC_EQ(shmring_mpmc_open(name, SHMRING_PRODUCER, &m), 0);
        SPSC_EQ(shmring_mpmc_close(m), 0);
        shmdt(h);
        SPSC_EQ(shmring_unlink(name), 0);
    }
}

/* On a 64-byte-aligned ring a consumer position that is 8-aligned but not 64-aligned is impossible:
 * the producer refuses it at its next refresh, a new consumer or producer at attach. */
SPSC_TEST(corrupt, align64_misaligned_consumer_position)
{
    struct shmring_config cfg = spsc_cfg(4096);
    char name[64];
    struct shmring_spsc *p, *c, *r;
    uint64_t head;
    void *w = NULL;
    int e = 0, i;
    cfg.flags = SHMRING_F_ALIGN64;
    snprintf(name, sizeof(name), "%s", testutil_name("a64pos"));
    SPSC_EQ(shmring_spsc_create(name, &cfg), 0);
    spsc_open_pair(name, &p, &c);
    SPSC_EQU(spsc_align(p), 64);
    for (i = 0; i < 3; i++)
        spsc_push_rec(p, 100, (uint64_t)i);
    spsc_pop_rec(c, 100, 0);
    head = spsc_cons_pos(c);
    SPSC_EQU(head, 128);
    SPSC_EQ(shmring_spsc_close(c), 0);
    /* Misaligned: the position a successor consumer starts at, and the space the producer sees. */
    shmring__store(&p->hdr->cons.pos, head + 8, release);
    shmring__store(&p->hdr->freed.pos, head + 8, release);
    SPSC_EQ(shmring_spsc_open(name, SHMRING_CONSUMER, &r), -EUCLEAN);
    for (i = 0; i < 100; i++) {
        if ((e = shmring_spsc_reserve(p, 100, &w)) != 0)
            break;
        SPSC_EQ(shmring_spsc_commit(p), 1);
    }
    SPSC_EQ(e, -EUCLEAN);
    SPSC_EQ(shmring_spsc_close(p), 0);
    SPSC_EQ(shmring_unlink(name), 0);
}

/* Creation flags: SHMRING_F_ALIGN64 is for SPSC rings only. */
SPSC_TEST(corrupt, align64_only_for_spsc)
{
    struct shmring_config cfg;
    char name[64];
    shmring_config_init(&cfg);
    cfg.flags = SHMRING_F_ALIGN64;
    snprintf(name, sizeof(name), "%s", testutil_name("a64k"));
    SPSC_EQ(shmring_mpmc_create(name, &cfg), -EINVAL);
    SPSC_EQ(shmring_bcast_create(name, &cfg), -EINVAL);
    SPSC_EQ(testutil_ipc_objects(), 0);
}

/* Foreign magic: -EBADMSG from open and unlink, and unlink leaves everything in place. */
SPSC_TEST(corrupt, bad_magic)
{
    char name[64];
    struct shmring_header *h;
    spsc_create(name, "magic", 4096);
    h = raw_attach(name);
    shmring__store(&h->ident.magic, UINT64_C(0x1122334455667788), release);
    open_fails(name, -EBADMSG);
    SPSC_EQ(shmring_unlink(name), -EBADMSG);
    SPSC_EQ(shmring_unlink(name), -EBADMSG);
    SPSC_EQ(testutil_ipc_objects(), 3);
    SPSC_EQ(shmring_spsc_create(name, NULL), -EEXIST);
    shmring__store(&h->ident.magic, SHMRING_MAGIC ^ 1, release);
    open_fails(name, -EBADMSG);
    shmring__store(&h->ident.magic, SHMRING_MAGIC, release);
    open_works(name);
    shmdt(h);
    SPSC_EQ(shmring_unlink(name), 0);
}

/* Another program's segment (other bytes) at the ring's key: open and unlink say -EBADMSG, create
 * -EEXIST, and the segment is left as it was. Also a segment smaller than a ring header. */
SPSC_TEST(corrupt, foreign_segment_at_key)
{
    const size_t sizes[] = {65536, 100, 4096, 4097};
    size_t i;
    for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        char name[64];
        int id;
        uint8_t *a;
        snprintf(name, sizeof(name), "%s", testutil_name("foreign"));
        id = shmget((key_t)shmring_name_key(name), sizes[i], IPC_CREAT | IPC_EXCL | 0600);
        cr_assert(id >= 0);
        a = (uint8_t *)shmat(id, NULL, 0);
        cr_assert(a != (void *)-1);
        testutil_fill(a, sizes[i], 1000 + i);
        open_fails(name, -EBADMSG);
        SPSC_EQ(shmring_unlink(name), -EBADMSG);
        SPSC_EQ(shmring_spsc_create(name, NULL), -EEXIST);
        SPSC_EQ(shmring_unlink(name), -EBADMSG);
        SPSC_EQ(shmget((key_t)shmring_name_key(name), 0, 0), id);
        cr_assert(testutil_check_fill(a, sizes[i], 1000 + i), "the foreign segment was modified");
        SPSC_EQ(testutil_ipc_objects(), 1);
        shmdt(a);
        SPSC_EQ(shmctl(id, IPC_RMID, NULL), 0);
    }
}

/* A foreign segment whose first 8 bytes happen to be 0 (the rest is the other program's data),
 * made by a process that has exited. common.h: unlink of "a foreign segment" is -EBADMSG and it is
 * "left untouched"; create of a taken key is -EEXIST. A half-made ring of a dead creator looks
 * different (abi_version, kind, data_offset, segment_size and creator_pid are written before
 * anything can fail), so there is no need to take this one for it. */
SPSC_TEST(corrupt, foreign_segment_zero_first_word_dead_creator)
{
    char name[64];
    key_t key;
    pid_t pid;
    int id, e;
    uint8_t *a;
    snprintf(name, sizeof(name), "%s", testutil_name("foreign0"));
    key = (key_t)shmring_name_key(name);
    pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        int cid = shmget(key, 8192, IPC_CREAT | IPC_EXCL | 0600);
        uint8_t *ca = cid >= 0 ? (uint8_t *)shmat(cid, NULL, 0) : (uint8_t *)-1;
        if (ca == (uint8_t *)-1)
            _exit(1);
        memset(ca, 0, 8);
        testutil_fill(ca + 8, 8192 - 8, 77);
        shmdt(ca);
        _exit(0);
    }
    SPSC_EQ(testutil_wait_timeout(pid, 20 * 1000 * MS), 0);
    id = shmget(key, 0, 0);
    cr_assert(id >= 0);

    e = shmring_unlink(name);
    cr_expect(e == -EBADMSG, "unlink of a foreign segment: %d (%s), expected EBADMSG", e, shmring_err_name(e));
    if (shmget(key, 0, 0) == id) {
        e = shmring_spsc_create(name, NULL);
        cr_expect(e == -EEXIST, "create over a foreign segment: %d (%s), expected EEXIST", e, shmring_err_name(e));
        if (e == 0)
            shmring_unlink(name);
    }
    cr_assert(shmget(key, 0, 0) == id, "the foreign segment of a dead process was removed");
    a = (uint8_t *)shmat(id, NULL, 0);
    cr_assert(a != (void *)-1);
    cr_assert(testutil_check_fill(a + 8, 8192 - 8, 77), "the foreign segment was modified");
    shmdt(a);
    SPSC_EQ(shmctl(id, IPC_RMID, NULL), 0);
}

/* The same with a live creator (this process): open gives up within its bounded wait for
 * publication, unlink refuses, the segment is left alone. */
SPSC_TEST(corrupt, foreign_segment_zero_first_word_live_creator)
{
    char name[64];
    key_t key;
    int id, e;
    uint8_t *a;
    int64_t t0;
    snprintf(name, sizeof(name), "%s", testutil_name("foreign0"));
    key = (key_t)shmring_name_key(name);
    id = shmget(key, 8192, IPC_CREAT | IPC_EXCL | 0600);
    cr_assert(id >= 0);
    a = (uint8_t *)shmat(id, NULL, 0);
    cr_assert(a != (void *)-1);
    memset(a, 0, 8);
    testutil_fill(a + 8, 8192 - 8, 78);
    t0 = testutil_now_ns();
    {
        struct shmring_spsc *r = (struct shmring_spsc *)&r;
        e = shmring_spsc_open(name, SHMRING_CONSUMER, &r);
        cr_assert(e == -EBADMSG || e == -ENOENT, "open: %d (%s)", e, shmring_err_name(e));
        cr_assert_null(r);
    }
    cr_expect(testutil_now_ns() - t0 < 10000 * MS);
    e = shmring_unlink(name);
    cr_assert(e == -EBADMSG || e == -EBUSY, "unlink: %d (%s)", e, shmring_err_name(e));
    SPSC_EQ(shmring_spsc_create(name, NULL), -EEXIST);
    SPSC_EQ(shmget(key, 0, 0), id);
    cr_assert(testutil_check_fill(a + 8, 8192 - 8, 78));
    cr_assert(((uint64_t *)(void *)a)[0] == 0);
    shmdt(a);
    SPSC_EQ(shmctl(id, IPC_RMID, NULL), 0);
}

/* Geometry in the header that does not match the segment: -EUCLEAN. */
SPSC_TEST(corrupt, bad_geometry)
{
    char name[64];
    struct shmring_header *h;
    const uint64_t caps[] = {0, 12345, 128, 4096 + 8, 8192, UINT64_C(1) << 30, UINT64_MAX, UINT64_C(1) << 63};
    size_t i;
    spsc_create(name, "geom", 4096);
    h = raw_attach(name);
    for (i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
        h->ident.capacity = caps[i];
        open_fails(name, -EUCLEAN);
    }
    h->ident.capacity = 4096;
    h->ident.data_offset = 0;
    open_fails(name, -EUCLEAN);
    h->ident.data_offset = 8192;
    open_fails(name, -EUCLEAN);
    h->ident.data_offset = SHMRING_HEADER_SIZE;
    h->ident.segment_size = UINT64_C(1) << 40;
    open_fails(name, -EUCLEAN);
    h->ident.segment_size = 4096 + 4096;
    open_works(name);
    shmdt(h);
    SPSC_EQ(shmring_unlink(name), 0);
}

/* The semaphore set id in the header names nothing, or a set of another shape: open refuses. */
SPSC_TEST(corrupt, bad_semaphore_id)
{
    char name[64];
    struct shmring_header *h;
    int32_t semid;
    int other = semget(IPC_PRIVATE, 1, IPC_CREAT | 0600);
    cr_assert(other >= 0);
    spsc_create(name, "semid", 4096);
    h = raw_attach(name);
    semid = h->ident.semid;
    h->ident.semid = -1;
    {
        struct shmring_spsc *r = (struct shmring_spsc *)&r;
        int e = shmring_spsc_open(name, SHMRING_CONSUMER, &r);
        cr_assert(e == -ENOENT || e == -EUCLEAN, "semid -1: open returned %d (%s)", e, shmring_err_name(e));
        cr_assert_null(r);
    }
    h->ident.semid = other;
    open_fails(name, -EUCLEAN);
    h->ident.semid = semid;
    open_works(name);
    shmdt(h);
    SPSC_EQ(shmring_unlink(name), 0);
    SPSC_EQ(semctl(other, 0, IPC_RMID), 0);
}

/* unlink removes the objects whose ids the header holds. A corrupt header must not make it remove
 * somebody else's message queue or semaphore set. */
SPSC_TEST(corrupt, unlink_does_not_remove_foreign_objects)
{
    char name[64];
    struct shmring_header *h;
    int32_t semid, msqid;
    /* Another program's objects: made with keys of their own, and other permissions. */
    int fq = msgget((key_t)0x7e570001, IPC_CREAT | IPC_EXCL | 0640);
    int fs = semget((key_t)0x7e570002, SHMRING_NSEMS, IPC_CREAT | IPC_EXCL | 0666);
    struct msqid_ds mds;
    struct semid_ds sds;
    union semun_arg arg;
    int q_alive, s_alive;
    cr_assert(fq >= 0 && fs >= 0);
    spsc_create(name, "ids", 4096);
    h = raw_attach(name);
    semid = h->ident.semid;
    msqid = h->ident.msqid;
    h->ident.msqid = fq;
    h->ident.semid = fs;
    shmdt(h);
    SPSC_EQ(shmring_unlink(name), 0);
    q_alive = msgctl(fq, IPC_STAT, &mds) == 0;
    arg.buf = &sds;
    s_alive = semctl(fs, 0, IPC_STAT, arg) == 0;
    /* clean up whatever is left, then judge */
    msgctl(msqid, IPC_RMID, NULL);
    semctl(semid, 0, IPC_RMID);
    msgctl(fq, IPC_RMID, NULL);
    semctl(fs, 0, IPC_RMID);
    cr_expect(q_alive, "shmring_unlink removed a foreign message queue named by a corrupt header");
    cr_expect(s_alive, "shmring_unlink removed a foreign semaphore set named by a corrupt header");
}

/* Another name in the header (what a key collision looks like): not this ring. */
SPSC_TEST(corrupt, name_mismatch)
{
    char name[64], saved[SHMRING_NAME_MAX + 1];
    struct shmring_header *h;
    spsc_create(name, "coll", 4096);
    h = raw_attach(name);
    memcpy(saved, h->name, sizeof(saved));
    snprintf(h->name, sizeof(h->name), "%s", "someone-else");
    open_fails(name, -ENOENT);
    SPSC_EQ(shmring_unlink(name), -ENOENT);
    SPSC_EQ(shmring_spsc_create(name, NULL), -EEXIST);
    memset(h->name, 'x', sizeof(h->name)); /* not even NUL-terminated */
    open_fails(name, -ENOENT);
    SPSC_EQ(shmring_unlink(name), -ENOENT);
    SPSC_EQ(testutil_ipc_objects(), 3);
    memcpy(h->name, saved, sizeof(saved));
    open_works(name);
    shmdt(h);
    SPSC_EQ(shmring_unlink(name), 0);
}

/* A ring marked corrupt cannot be opened; it can be unlinked. */
SPSC_TEST(corrupt, corrupt_state_refuses_open)
{
    char name[64];
    struct shmring_header *h;
    spsc_create(name, "state", 4096);
    h = raw_attach(name);
    shmring__fetch_or(&h->stats.state, SHMRING_STATE_CORRUPT, relaxed);
    open_fails(name, -EUCLEAN);
    shmdt(h);
    SPSC_EQ(shmring_unlink(name), 0);
}

/* --- Positions -------------------------------------------------------------------------------- */

/* The consumer position the producer reads (freed.pos) overwritten with garbage: the producer works
 * on from its cached view of it, and when that runs out (ring looks full) it reloads it, finds it
 * impossible and returns -EUCLEAN; every reservation it made lies inside the data area. The ring
 * is then marked corrupt. */
SPSC_TEST(corrupt, garbage_consumer_position)
{
    int v;
    for (v = 0; v < 7; v++) {
        char name[64];
        struct shmring_spsc *p, *c;
        uint8_t buf[100] = {0};
        uint64_t head, tail, g = 0;
        void *w = NULL;
        int e = 0, i;
        spsc_create(name, "cpos", 4096);
        spsc_open_pair(name, &p, &c);
        for (i = 0; i < 10; i++)
            spsc_push_rec(p, 100, (uint64_t)i);
        for (i = 0; i < 5; i++)
            spsc_pop_rec(c, 100, (uint64_t)i);
        head = spsc_cons_pos(c);
        tail = spsc_prod_pos(p);
        switch (v) {
        case 0: g = head + 3; break;                        /* misaligned */
        /* Beyond anything the producer can reach before its cached view runs out (a value it
         * has passed by then is indistinguishable from a real position). */
        case 1: g = tail + 4096 + 8; break;
        case 2: g = tail + 3 * 4096; break;
        case 3: g = UINT64_MAX - 7; break;                  /* "behind" the cached position */
        case 4: g = UINT64_C(0xdeadbeefdeadbee8); break;
        case 5: g = head + (UINT64_C(1) << 40); break;
        default: g = tail | 1; break;
        }
        /* What the producer reads of the consumer's position: the space it handed back. */
        shmring__store(&c->hdr->freed.pos, g, release);
        for (i = 0; i < 100; i++) {
            e = shmring_spsc_reserve(p, 100, &w);
            if (e)
                break;
            spsc_payload_off(p, w, 100);
            memset(w, 0xee, 100);
            SPSC_EQ(shmring_spsc_commit(p), 1);
        }
        cr_assert(e == -EUCLEAN, "freed.pos %#" PRIx64 ": reserve returned %d (%s) after %d records", g, e,
                  shmring_err_name(e), i);
        /* It stays refused, blocking or not. */
        SPSC_EQ(shmring_spsc_push(p, buf, 100), -EUCLEAN);
        SPSC_EQ(shmring_spsc_push_wait(p, buf, 100, 0), -EUCLEAN);
        SPSC_EQ(shmring_spsc_push_wait(p, buf, 100, 100 * MS), -EUCLEAN);
        cr_assert(shmring__load(&p->hdr->stats.state, relaxed) & SHMRING_STATE_CORRUPT);
        spsc_close_pair(p, c);
        open_fails(name, -EUCLEAN);
        SPSC_EQ(shmring_unlink(name), 0);
    }
}

/* Positions found at attach time: a producer (consumer) refuses to attach to impossible positions
 * instead of using them. */
SPSC_TEST(corrupt, garbage_positions_at_attach)
{
    char name[64];
    struct shmring_spsc *p, *c, *r;
    uint64_t head, tail;
    spsc_create(name, "apos", 4096);
    spsc_open_pair(name, &p, &c);
    spsc_push_rec(p, 100, 0);
    spsc_push_rec(p, 100, 1);
    spsc_pop_rec(c, 100, 0);
    spsc_close_pair(p, c);
    {
        struct shmring_header *h = raw_attach(name);
        head = shmring__load(&h->cons.pos, relaxed);
        tail = shmring__load(&h->prod.pos, relaxed);
        SPSC_EQU(head, 112);
        SPSC_EQU(tail, 224);
        shmring__store(&h->prod.pos, tail + 4, relaxed);
        SPSC_EQ(shmring_spsc_open(name, SHMRING_PRODUCER, &r), -EUCLEAN);
        shmring__store(&h->prod.pos, tail + 2 * 4096, relaxed);
        SPSC_EQ(shmring_spsc_open(name, SHMRING_PRODUCER, &r), -EUCLEAN);
        shmring__store(&h->prod.pos, tail, relaxed);
        SPSC_EQU(shmring__load(&h->freed.pos, relaxed), head); /* the consumer's close handed it back */
        shmring__store(&h->freed.pos, head + 1, relaxed);
        SPSC_EQ(shmring_spsc_open(name, SHMRING_PRODUCER, &r), -EUCLEAN);
        shmring__store(&h->freed.pos, tail + 2 * 4096, relaxed);
        SPSC_EQ(shmring_spsc_open(name, SHMRING_PRODUCER, &r), -EUCLEAN);
        shmring__store(&h->freed.pos, head, relaxed);
        shmring__store(&h->cons.pos, head + 1, relaxed);
        SPSC_EQ(shmring_spsc_open(name, SHMRING_CONSUMER, &r), -EUCLEAN);
        shmring__store(&h->cons.pos, head, relaxed);
        /* A garbage record word where the producer resumes. */
        shmring__store(SHMRING__U64_AT((uint8_t *)h + SHMRING_HEADER_SIZE + tail), UINT64_C(0x0123456789abcdef), relaxed);
        SPSC_EQ(shmring_spsc_open(name, SHMRING_PRODUCER, &r), -EUCLEAN);
        shmring__store(SHMRING__U64_AT((uint8_t *)h + SHMRING_HEADER_SIZE + tail),
                       SHMRING_REC_WORD(SHMRING_REC_DATA, 0xfffffff0u), relaxed);
        SPSC_EQ(shmring_spsc_open(name, SHMRING_PRODUCER, &r), -EUCLEAN);
        shmring__store(SHMRING__U64_AT((uint8_t *)h + SHMRING_HEADER_SIZE + tail), 0, relaxed);
        shmdt(h);
    }
    /* Repaired: works again, and continues after record 1. */
    spsc_open_pair(name, &p, &c);
    spsc_push_rec(p, 5, 2);
    spsc_pop_rec(c, 100, 1);
    spsc_pop_rec(c, 5, 2);
    spsc_close_pair(p, c);
    SPSC_EQ(shmring_unlink(name), 0);
}

/* A consumer position that is aligned but more than a capacity away from the producer's breaks the
 * ring's invariant (tail - head <= capacity): a consumer attaching there must refuse (-EUCLEAN)
 * rather than deliver whatever old records lie at that offset. */
SPSC_TEST(corrupt, consumer_attach_checks_distance_to_producer)
{
    char name[64];
    struct shmring_spsc *p, *c, *r = NULL;
    struct shmring_header *h;
    uint64_t head, i, pos38 = 0;
    spsc_create(name, "dist", 1024);
    spsc_open_pair(name, &p, &c);
    for (i = 0; i < 40; i++) { /* about four laps: the area is full of old records */
        spsc_push_rec(p, 100, i);
        if (i == 38)
            pos38 = spsc_prod_pos(p) - 112; /* where record 38's header is */
        spsc_pop_rec(c, 100, i);
    }
    SPSC_EQ(shmring_spsc_close(c), 0);
    h = raw_attach(name);
    head = shmring__load(&h->cons.pos, relaxed);
    SPSC_EQU(head, spsc_prod_pos(p));
    /* Two laps behind, on the header of an old record. */
    shmring__store(&h->cons.pos, pos38 - 2 * 1024, relaxed);
    SPSC_EXPECT_EQ(shmring_spsc_open(name, SHMRING_CONSUMER, &r), -EUCLEAN);
    if (r) {
        const void *b = NULL;
        size_t n = 0;
        int e = shmring_spsc_peek(r, &b, &n);
        cr_log_warn("a consumer attached two laps behind the producer; its first peek returned %d (%s), "
                    "%zu bytes, the old record %s", e, shmring_err_name(e), n, e == 0 && rec_check(b, n, 38) ? "38" : "-");
        shmring_spsc_close(r);
        r = NULL;
    }
    shmring__store(&h->cons.pos, head + 2 * 1024, relaxed);
    SPSC_EXPECT_EQ(shmring_spsc_open(name, SHMRING_CONSUMER, &r), -EUCLEAN);
    if (r) {
        shmring_spsc_close(r);
        r = NULL;
    }
    shmring__store(&h->cons.pos, head, relaxed);
    shmdt(h);
    SPSC_EQ(shmring_spsc_open(name, SHMRING_CONSUMER, &c), 0);
    spsc_push_rec(p, 7, 100);
    spsc_pop_rec(c, 7, 100);
    spsc_close_pair(p, c);
    SPSC_EQ(shmring_unlink(name), 0);
}

/* --- Record words ----------------------------------------------------------------------------- */

/* Garbage in the record header word where the consumer reads next, at offset `off` of a 256-byte
 * ring: every consumer call returns -EUCLEAN at once (the blocking ones too) and reads nothing
 * outside the data area. */
static void bad_record_word(uint64_t off, uint64_t word)
{
    const uint64_t cap = 256;
    struct shmring_spsc *p, *c;
    uint8_t buf[256];
    const void *b = NULL;
    size_t n = 0;
    int64_t t0;
    spsc_pipe(cap, &p, &c);
    spsc_move_to(p, c, off);
    spsc_push_rec(p, 16, 1);
    spsc_push_rec(p, 16, 2);
    shmring__store(SHMRING__U64_AT(c->data + off), word, relaxed);
    SPSC_EQ(shmring_spsc_peek(c, &b, &n), -EUCLEAN);
    SPSC_EQ(shmring_spsc_read(c, buf, sizeof(buf)), -EUCLEAN);
    SPSC_EQ(shmring_spsc_pop(c, buf, sizeof(buf)), -EUCLEAN);
    t0 = testutil_now_ns();
    SPSC_EQ(shmring_spsc_peek_wait(c, &b, &n, 0), -EUCLEAN);
    SPSC_EQ(shmring_spsc_pop_wait(c, buf, sizeof(buf), 1000 * MS), -EUCLEAN);
    SPSC_EQ(shmring_spsc_peek_wait(c, &b, &n, SHMRING_FOREVER), -EUCLEAN);
    cr_expect(testutil_now_ns() - t0 < 500 * MS);
    SPSC_EQ(shmring_spsc_release(c), 0);
    cr_assert(shmring__load(&c->hdr->stats.state, relaxed) & SHMRING_STATE_CORRUPT);
    spsc_close_pair(p, c);
}

SPSC_TEST(corrupt, garbage_record_words)
{
    const uint64_t cap = 256;
    const uint64_t offs[] = {0, 8, 64, 128, 200, 240, 248};
    uint64_t rnd = 11;
    size_t i;
    for (i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
        uint64_t off = offs[i];
        int k;
        /* Random words (the tag does not match). */
        for (k = 0; k < 8; k++) {
            uint64_t w = testutil_rand(&rnd);
            if (SHMRING_REC_TAG_OK(w) || w == 0)
                w ^= UINT64_C(1) << 63;
            bad_record_word(off, w);
        }
        bad_record_word(off, UINT64_MAX);
        bad_record_word(off, 1);
        bad_record_word(off, SHMRING_REC_WORD(SHMRING_REC_DATA, 16) ^ (UINT64_C(1) << 40)); /* tag off by a bit */
        /* A valid tag with a huge length, or one that straddles the end. */
        bad_record_word(off, SHMRING_REC_WORD(SHMRING_REC_DATA, 0xffffffffu));
        bad_record_word(off, SHMRING_REC_WORD(SHMRING_REC_DATA, 0x80000000u));
        bad_record_word(off, SHMRING_REC_WORD(SHMRING_REC_DATA, cap));
        bad_record_word(off, SHMRING_REC_WORD(SHMRING_REC_DATA, cap - off - 8 + 1));
        bad_record_word(off, SHMRING_REC_WORD(SHMRING_REC_DATA, cap - off));
        /* A padding record that does not end exactly at the end of the area, or starts at 0. */
        if (off != 0) {
            bad_record_word(off, SHMRING_REC_WORD(SHMRING_REC_PAD, cap - off - 8));
            bad_record_word(off, SHMRING_REC_WORD(SHMRING_REC_PAD, cap - off + 8));
        } else {
            bad_record_word(off, SHMRING_REC_WORD(SHMRING_REC_PAD, cap));
        }
        bad_record_word(off, SHMRING_REC_WORD(SHMRING_REC_PAD, 0));
        bad_record_word(off, SHMRING_REC_WORD(SHMRING_REC_PAD, 0xffffffffu));
        bad_record_word(off, SHMRING_REC_WORD(SHMRING_REC_PAD, cap + cap - off));
        /* Unknown record types. */
        bad_record_word(off, SHMRING_REC_WORD(0, 16));
        bad_record_word(off, SHMRING_REC_WORD(3, 16));
        bad_record_word(off, SHMRING_REC_WORD(0xff, 16));
    }
}

/* A well-formed but forged record word (right tag, a length that fits before the end) is
 * delivered, and its payload lies inside the data area; a forged padding record that ends exactly
 * at the end is skipped to offset 0. */
SPSC_TEST(corrupt, forged_but_consistent_words_stay_inside)
{
    const uint64_t cap = 256;
    uint64_t off;
    for (off = 0; off < cap; off += 8) {
        struct shmring_spsc *p, *c;
        const void *b = NULL;
        size_t n = 0;
        uint64_t len = cap - off - 8;
        spsc_pipe(cap, &p, &c);
        spsc_move_to(p, c, off);
        spsc_push_rec(p, 0, 1);
        shmring__store(SHMRING__U64_AT(c->data + off), SHMRING_REC_WORD(SHMRING_REC_DATA, len), relaxed);
        SPSC_EQ(shmring_spsc_peek(c, &b, &n), 0);
        SPSC_EQ(n, len);
        cr_assert((const uint8_t *)b >= c->data && (const uint8_t *)b + n <= c->data + cap);
        SPSC_EQU(spsc_payload_off(c, b, n), off + 8);
        spsc_close_pair(p, c);
    }
}

/* The state flag says "someone found a broken invariant; every call now fails" (layout.h). After
 * the consumer found a corrupt record word, further calls on the ring fail even once the word
 * looks right again: the consumer's own peek, and the producer's calls that go out of line. */
SPSC_TEST(corrupt, corrupt_ring_fails_every_call)
{
    struct shmring_spsc *p, *c;
    uint8_t buf[64] = {0};
    const void *b = NULL;
    size_t n = 0;
    uint64_t saved;
    spsc_pipe(256, &p, &c);
    spsc_push_rec(p, 16, 1);
    saved = shmring__load(SHMRING__U64_AT(c->data), relaxed);
    shmring__store(SHMRING__U64_AT(c->data), UINT64_C(0x0badc0de0badc0de), relaxed);
    SPSC_EQ(shmring_spsc_peek(c, &b, &n), -EUCLEAN);
    cr_assert(shmring__load(&c->hdr->stats.state, relaxed) & SHMRING_STATE_CORRUPT);
    shmring__store(SHMRING__U64_AT(c->data), saved, relaxed);
    SPSC_EXPECT_EQ(shmring_spsc_peek(c, &b, &n), -EUCLEAN);
    SPSC_EXPECT_EQ(shmring_spsc_pop_wait(c, buf, sizeof(buf), 0), -EUCLEAN);
    /* The producer: fill the ring so that its calls go out of line. */
    spsc_fill(p, 56);
    SPSC_EXPECT_EQ(shmring_spsc_push(p, buf, 56), -EUCLEAN);
    SPSC_EXPECT_EQ(shmring_spsc_push_wait(p, buf, 56, 0), -EUCLEAN);
    spsc_close_pair(p, c);
}

/* --- Fuzz ------------------------------------------------------------------------------------- */

static int fuzz_ok(int e)
{
    return e == 0 || e == -EAGAIN || e == -EUCLEAN || e == -EMSGSIZE || e == -EPIPE || e == -EDEADLK ||
           e == -ETIMEDOUT;
}

/* A word to write at data offset `off` (ring of `cap` bytes) that was `old`. */
static uint64_t fuzz_word(uint64_t *rnd, uint64_t cap, uint64_t off, uint64_t old)
{
    uint64_t r = testutil_rand(rnd), x = testutil_rand(rnd);
    switch (r % 10) {
    case 0:
        return x;
    case 1:
        return 0;
    case 2:
        return SHMRING_REC_WORD(SHMRING_REC_DATA, (uint32_t)(x % (cap + 32)));
    case 3:
        return SHMRING_REC_WORD(SHMRING_REC_DATA, (uint32_t)x);
    case 4:
        return SHMRING_REC_WORD(SHMRING_REC_DATA, (uint32_t)(cap - off - 8 + (x % 5) * 8 - 16));
    case 5:
        return SHMRING_REC_WORD(SHMRING_REC_PAD, (uint32_t)(cap - off + (x % 3) * 8 - 8));
    case 6:
        return SHMRING_REC_WORD(SHMRING_REC_PAD, (uint32_t)x);
    case 7:
        return SHMRING_REC_WORD((x >> 32) & 0xff, (uint32_t)(x % cap));
    case 8:
        return old ^ (UINT64_C(1) << (x % 64));
    default:
        return SHMRING_REC_WORD(SHMRING_REC_DATA, (uint32_t)(x % 64));
    }
}

struct fuzz_stats {
    unsigned corruptions, ops, rounds, euclean, delivered;
};

/* One round on a fresh named ring: random operations of both sides interleaved with random
 * corruptions of data-area words (mostly where the consumer reads next) and, rarely, of the
 * positions; handles are now and then closed and reopened. Every call returns 0, a count or an
 * allowed negative errno; every pointer the ring hands out lies inside the data area. */
static void fuzz_round(uint64_t cap, uint64_t *rnd, struct fuzz_stats *st)
{
    char name[64];
    struct shmring_spsc *p = NULL, *c = NULL;
    uint8_t *buf = calloc(1, cap + 64);
    uint64_t max = cap - 16;
    unsigned i, stuck = 0;
    cr_assert(buf);
    spsc_create(name, "fuzz", cap);
    spsc_open_pair(name, &p, &c);
    shmring_spsc_set_spin(p, 4);
    shmring_spsc_set_spin(c, 4);
    /* A round ends after 600 operations, or once the consumer has been stuck on a corrupt word for
     * a while (nothing new happens after that). */
    for (i = 0; i < 600 && (p || c) && stuck < 30; i++) {
        uint64_t r = testutil_rand(rnd);
        uint8_t *data = p ? p->data : c->data;
        int e;
        st->ops++;
        switch (r % 100 < 4 ? 14 : (r >> 32) % 14) {
        case 0:
        case 1:
        case 2:
            if (p) {
                size_t len = (size_t)((r >> 8) % (max + 9));
                e = shmring_spsc_push(p, buf, len);
                cr_assert(fuzz_ok(e), "push(%zu): %d", len, e);
                if (len > max)
                    SPSC_EQ(e, -EMSGSIZE);
            }
            break;
        case 3:
        case 4:
            if (p) {
                size_t len = (size_t)((r >> 8) % (max + 1));
                void *w = NULL;
                e = shmring_spsc_reserve(p, len, &w);
                cr_assert(fuzz_ok(e), "reserve(%zu): %d", len, e);
                if (e == 0) {
                    spsc_payload_off(p, w, len);
                    memset(w, (int)(r >> 56), len);
                }
                if ((r >> 20) & 1)
                    shmring_spsc_commit(p);
            }
            break;
        case 5:
            if (p)
                shmring_spsc_commit(p);
            break;
        case 6:
        case 7:
        case 8:
            if (c) {
                const void *b = NULL;
                size_t n = 0;
                e = shmring_spsc_peek(c, &b, &n);
                cr_assert(fuzz_ok(e), "peek: %d", e);
                if (e == 0) {
                    const uint8_t *q = (const uint8_t *)b;
                    cr_assert(q >= c->data && q <= c->data + cap && n <= (size_t)(c->data + cap - q),
                              "peek returned %zu bytes at data%+td, outside [0, %" PRIu64 ")", n, q - c->data, cap);
                    cr_assert(n == 0 || q < c->data + cap);
                    memcpy(buf, b, n); /* read it all */
                    st->delivered++;
                }
                if (e == -EUCLEAN) {
                    st->euclean++;
                    stuck++;
                }
            }
            break;
        case 9:
            if (c)
                shmring_spsc_release(c);
            break;
        case 10:
        case 11: {
            if (c) {
                size_t capb = (size_t)((r >> 8) % (cap + 1));
                ssize_t n = (r >> 40) & 1 ? shmring_spsc_pop(c, buf, capb) : shmring_spsc_read(c, buf, capb);
                cr_assert(n >= 0 ? (size_t)n <= capb : fuzz_ok((int)n), "pop/read(%zu): %zd", capb, n);
                if (n >= 0)
                    st->delivered++;
            }
            break;
        }
        case 12:
            if (p) {
                e = shmring_spsc_push_wait(p, buf, (size_t)((r >> 8) % 64), 0);
                cr_assert(fuzz_ok(e), "push_wait: %d", e);
            }
            if (c) {
                ssize_t n = shmring_spsc_pop_wait(c, buf, cap, 0);
                cr_assert(n >= 0 || fuzz_ok((int)n), "pop_wait: %zd", n);
            }
            break;
        case 13:
            /* Reattach one side now and then (the ring may refuse: it is corrupt). */
            if ((r >> 8) % 8 == 0) {
                int prod = (r >> 12) & 1;
                struct shmring_spsc **h = prod ? &p : &c;
                if (*h) {
                    SPSC_EQ(shmring_spsc_close(*h), 0);
                    *h = NULL;
                }
                e = shmring_spsc_open(name, prod ? SHMRING_PRODUCER : SHMRING_CONSUMER, h);
                cr_assert(e == 0 || e == -EUCLEAN, "reopen: %d (%s)", e, shmring_err_name(e));
                if (e == 0)
                    shmring_spsc_set_spin(*h, 4);
            }
            break;
        default: {
            /* Corrupt a word: where the consumer reads next, or anywhere. */
            uint64_t off = c && (r >> 8) % 3 == 0 ? c->next & (cap - 1) : ((r >> 16) % (cap / 8)) * 8;
            if ((r >> 9) % 64 == 0) {
                /* rarely: a position */
                struct shmring_header *h = p ? p->hdr : c->hdr;
                uint64_t g = testutil_rand(rnd);
                if (g & 1)
                    shmring__store(&h->cons.pos, shmring__load(&h->cons.pos, relaxed) + (g % 4096) * 8, relaxed);
                else
                    shmring__store(&h->prod.pos, g, relaxed);
            } else if ((r >> 9) % 16 == 1) {
                /* unaligned bytes across two words */
                uint64_t x = testutil_rand(rnd), boff = (r >> 24) % (cap - 8);
                memcpy(data + boff, &x, 8);
            } else {
                uint64_t old = shmring__load(SHMRING__U64_AT(data + off), relaxed);
                shmring__store(SHMRING__U64_AT(data + off), fuzz_word(rnd, cap, off, old), relaxed);
            }
            st->corruptions++;
            break;
        }
        }
    }
    if (p)
        SPSC_EQ(shmring_spsc_close(p), 0);
    if (c)
        SPSC_EQ(shmring_spsc_close(c), 0);
    SPSC_EQ(shmring_unlink(name), 0);
    free(buf);
    st->rounds++;
}

SPSC_TEST(corrupt, fuzz_data_area)
{
    struct fuzz_stats st;
    uint64_t rnd = 0xf0220001;
    memset(&st, 0, sizeof(st));
    while (st.corruptions < 4000) {
        uint64_t cap = st.rounds % 3 == 2 ? 4096 : 256;
        fuzz_round(cap, &rnd, &st);
    }
    fprintf(stderr, "fuzz: %u rounds, %u ops, %u corruptions, %u records delivered, %u EUCLEAN\n", st.rounds, st.ops,
                st.corruptions, st.delivered, st.euclean);
    cr_assert(st.euclean > 100, "the fuzzer hardly ever hit a corrupt word (%u)", st.euclean);
    cr_assert(st.delivered > 3000, "the fuzzer hardly ever delivered a record (%u)", st.delivered);
}
