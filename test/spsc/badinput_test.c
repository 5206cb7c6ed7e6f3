/* SPSC setup calls given bad input: names, capacities, modes, flags, roles, existing/missing rings; error strings; name keys. Each fails cleanly and leaves nothing behind. */
#include <limits.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>

#include "spsc_test.h"

SPSC_SUITE(badinput);

/* create, open (both roles), unlink and name_key all refuse `name` with `err`. */
static void refuse_name(const char *name, int err)
{
    struct shmring_config cfg = spsc_cfg(4096);
    struct shmring_spsc *r = (struct shmring_spsc *)&cfg;
    SPSC_EQ(shmring_spsc_create(name, &cfg), err);
    SPSC_EQ(shmring_spsc_create(name, NULL), err);
    SPSC_EQ(shmring_spsc_open(name, SHMRING_PRODUCER, &r), err);
    cr_assert_null(r);
    SPSC_EQ(shmring_spsc_open(name, SHMRING_CONSUMER, &r), err);
    SPSC_EQ(shmring_unlink(name), err);
    SPSC_EQ(shmring_name_key(name), err);
    spsc_assert_no_ipc();
}

SPSC_TEST(badinput, bad_names)
{
    char n64[65], n63[64];
    memset(n64, 'a', 64);
    n64[64] = '\0';
    memset(n63, 'b', 63);
    n63[63] = '\0';
    refuse_name(NULL, -EINVAL);
    refuse_name("", -EINVAL);
    refuse_name(n64, -ENAMETOOLONG);
    refuse_name("a/b", -EINVAL);
    refuse_name("/ring", -EINVAL);
    refuse_name("ring/", -EINVAL);
    refuse_name("/", -EINVAL);
    n63[10] = '/';
    refuse_name(n63, -EINVAL);
    n63[10] = 'b';
    /* 63 bytes is the longest name; any byte but NUL and '/' is allowed. */
    {
        struct shmring_config cfg = spsc_cfg(4096);
        struct shmring_spsc *p, *c;
        const char odd[] = "ring with spaces, \xc3\xa9\xff and \x01 \\ : * ?";
        SPSC_EQ(shmring_spsc_create(n63, &cfg), 0);
        SPSC_EQ(shmring_spsc_create(odd, &cfg), 0);
        spsc_open_pair(n63, &p, &c);
        cr_assert_str_eq(p->hdr->name, n63);
        spsc_close_pair(p, c);
        spsc_open_pair(odd, &p, &c);
        cr_assert_str_eq(p->hdr->name, odd);
        spsc_close_pair(p, c);
        SPSC_EQ(shmring_unlink(n63), 0);
        SPSC_EQ(shmring_unlink(odd), 0);
    }
}

SPSC_TEST(badinput, bad_capacities)
{
    const uint64_t bad[] = {
                            1,
                            8,
                            128,
                            255,
                            257,
                            100,
                            1000,
                            3u << 10,
                            (1u << 20) + 8,
                            SHMRING_SPSC_CAPACITY_MIN / 2,
                            SHMRING_SPSC_CAPACITY_MIN - 1,
                            SHMRING_SPSC_CAPACITY_MIN + 8,
                            SHMRING_SPSC_CAPACITY_MAX * 2,
                            SHMRING_SPSC_CAPACITY_MAX + 4096,
                            UINT64_C(1) << 63,
                            UINT64_MAX,
                            UINT64_MAX - 4095};
    size_t i;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct shmring_config cfg = spsc_cfg(bad[i]);
        struct shmring_spsc *p = NULL, *c = NULL;
        const char *name = testutil_name("cap");
        int e = shmring_spsc_create(name, &cfg);
        cr_assert(e == -EINVAL, "capacity %" PRIu64 ": create returned %d (%s), expected EINVAL", bad[i], e,
                  shmring_err_name(e));
        e = shmring_spsc_pipe(&cfg, &p, &c);
        cr_assert(e == -EINVAL, "capacity %" PRIu64 ": pipe returned %d (%s), expected EINVAL", bad[i], e,
                  shmring_err_name(e));
        SPSC_EQ(shmring_spsc_open(name, SHMRING_PRODUCER, &p), -ENOENT);
        spsc_assert_no_ipc();
    }
    /* 0 means the default (1 MiB). */
    {
        char name[64];
        struct shmring_spsc *p, *c;
        spsc_create(name, "def", 0);
        spsc_open_pair(name, &p, &c);
        SPSC_EQU(shmring_spsc_capacity(p), SHMRING_SPSC_CAPACITY_DEFAULT);
        spsc_close_pair(p, c);
        SPSC_EQ(shmring_unlink(name), 0);
    }
    /* The smallest one works. */
    {
        char name[64];
        struct shmring_spsc *p, *c;
        spsc_create(name, "min", SHMRING_SPSC_CAPACITY_MIN);
        spsc_open_pair(name, &p, &c);
        SPSC_EQU(shmring_spsc_capacity(p), SHMRING_SPSC_CAPACITY_MIN);
        SPSC_EQU(shmring_spsc_max_record(c), SHMRING_SPSC_CAPACITY_MIN - 16);
        spsc_close_pair(p, c);
        SPSC_EQ(shmring_unlink(name), 0);
    }
}

/* A valid capacity (the largest, 1 TiB) that the system cannot back. spsc.h: "-ENOMEM/-ENOSPC
 * (system limits; huge pages not available)"; common.h's strerror text for ENOMEM says the same.
 * On a machine that overcommits without limit (vm.overcommit_memory = 1) the segment may exist:
 * then it is simply removed again. */
SPSC_TEST(badinput, capacity_beyond_system_limits)
{
    struct shmring_config cfg = spsc_cfg(SHMRING_SPSC_CAPACITY_MAX);
    struct shmring_spsc *p = NULL, *c = NULL;
    char name[64];
    int e;
    snprintf(name, sizeof(name), "%s", testutil_name("huge"));
    e = shmring_spsc_create(name, &cfg);
    if (e == 0) {
        cr_log_warn("a 1 TiB segment was granted (overcommit?): cannot test the limit here");
        SPSC_EQ(shmring_unlink(name), 0);
    } else {
        cr_assert(e == -ENOMEM || e == -ENOSPC, "create of 1 TiB: %d (%s), expected ENOMEM or ENOSPC", e,
                  shmring_err_name(e));
        SPSC_EQ(shmring_spsc_open(name, SHMRING_CONSUMER, &c), -ENOENT);
    }
    spsc_assert_no_ipc();
    e = shmring_spsc_pipe(&cfg, &p, &c);
    if (e == 0) {
        spsc_close_pair(p, c);
    } else {
        cr_assert(e == -ENOMEM || e == -ENOSPC, "pipe of 1 TiB: %d (%s)", e, shmring_err_name(e));
        cr_assert(p == NULL && c == NULL);
    }
}

/* Huge pages: with none configured, creation fails cleanly (or succeeds where they exist). */
SPSC_TEST(badinput, hugepages_flag)
{
    struct shmring_config cfg = spsc_cfg(4096);
    char name[64];
    int e;
    cfg.flags = SHMRING_F_HUGEPAGES;
    snprintf(name, sizeof(name), "%s", testutil_name("hp"));
    e = shmring_spsc_create(name, &cfg);
    if (e == 0) {
        struct shmring_spsc *p, *c;
        spsc_open_pair(name, &p, &c);
        spsc_push_rec(p, 100, 1);
        spsc_pop_rec(c, 100, 1);
        spsc_close_pair(p, c);
        SPSC_EQ(shmring_unlink(name), 0);
    } else {
        cr_assert(e == -ENOMEM || e == -ENOSPC || e == -EPERM, "huge pages: %d (%s)", e, shmring_err_name(e));
    }
}

SPSC_TEST(badinput, bad_mode_and_flags)
{
    const uint32_t modes[] = {01000, 02000, 04000, 01777, 0x10000, 0x80000000u, 07777};
    /* Unknown bits, and both wake-up protocols at once. */
    const uint32_t flags[] = {0x8, 0x100, 0x80000000u, 0xffffffffu, SHMRING_F_HUGEPAGES | 0x8,
                              SHMRING_F_WAKE_FENCED | SHMRING_F_WAKE_MEMBARRIER};
    size_t i;
    for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
        struct shmring_config cfg = spsc_cfg(4096);
        const char *name = testutil_name("mode");
        cfg.mode = modes[i];
        SPSC_EQ(shmring_spsc_create(name, &cfg), -EINVAL);
        SPSC_EQ(shmring_unlink(name), -ENOENT);
    }
    for (i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
        struct shmring_config cfg = spsc_cfg(4096);
        const char *name = testutil_name("flags");
        cfg.flags = flags[i];
        SPSC_EQ(shmring_spsc_create(name, &cfg), -EINVAL);
        SPSC_EQ(shmring_unlink(name), -ENOENT);
    }
}

/* Valid modes reach the System V objects: the segment, the semaphore set and the queue. */
SPSC_TEST(badinput, mode_is_applied)
{
    const uint32_t modes[] = {0, 0600, 0640, 0666, 0644, 0400};
    const uint32_t expect[] = {0600, 0600, 0640, 0666, 0644, 0600}; /* the creator keeps rw */
    size_t i;
    for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
        struct shmring_config cfg = spsc_cfg(4096);
        struct shmring_spsc *p;
        struct shmid_ds ds;
        struct semid_ds sds;
        struct msqid_ds mds;
        union {
            int val;
            struct semid_ds *buf;
        } arg;
        char name[64];
        int shmid;
        cfg.mode = modes[i];
        snprintf(name, sizeof(name), "%s", testutil_name("perm"));
        SPSC_EQ(shmring_spsc_create(name, &cfg), 0);
        shmid = shmget((key_t)shmring_name_key(name), 0, 0);
        cr_assert(shmid >= 0);
        cr_assert(shmctl(shmid, IPC_STAT, &ds) == 0);
        cr_assert((ds.shm_perm.mode & 0777) == expect[i], "mode %o: segment has %o", modes[i], ds.shm_perm.mode & 0777);
        SPSC_EQ(shmring_spsc_open(name, SHMRING_PRODUCER, &p), 0);
        SPSC_EQU(p->hdr->ident.mode, expect[i]);
        arg.buf = &sds;
        cr_assert(semctl(p->hdr->ident.semid, 0, IPC_STAT, arg) == 0);
        cr_assert((sds.sem_perm.mode & 0777) == expect[i], "mode %o: semaphores have %o", modes[i],
                  sds.sem_perm.mode & 0777);
        cr_assert(msgctl(p->hdr->ident.msqid, IPC_STAT, &mds) == 0);
        cr_assert((mds.msg_perm.mode & 0777) == expect[i], "mode %o: queue has %o", modes[i], mds.msg_perm.mode & 0777);
        SPSC_EQ(shmring_spsc_close(p), 0);
        SPSC_EQ(shmring_unlink(name), 0);
    }
}

SPSC_TEST(badinput, create_existing_is_eexist)
{
    char name[64];
    struct shmring_config cfg = spsc_cfg(8192);
    struct shmring_spsc *p;
    spsc_create(name, "dup", 4096);
    SPSC_EQ(shmring_spsc_create(name, &cfg), -EEXIST);
    SPSC_EQ(shmring_spsc_create(name, NULL), -EEXIST);
    cfg.capacity = 256; /* smaller than the existing segment */
    SPSC_EQ(shmring_spsc_create(name, &cfg), -EEXIST);
    /* The existing ring is untouched. */
    SPSC_EQ(shmring_spsc_open(name, SHMRING_PRODUCER, &p), 0);
    SPSC_EQU(shmring_spsc_capacity(p), 4096);
    SPSC_EQ(shmring_spsc_close(p), 0);
    SPSC_EQ(testutil_ipc_objects(), 3);
    SPSC_EQ(shmring_unlink(name), 0);
}

SPSC_TEST(badinput, missing_ring_is_enoent)
{
    struct shmring_spsc *r = (struct shmring_spsc *)&r;
    char name[64];
    snprintf(name, sizeof(name), "%s", testutil_name("none"));
    SPSC_EQ(shmring_spsc_open(name, SHMRING_PRODUCER, &r), -ENOENT);
    cr_assert_null(r);
    SPSC_EQ(shmring_spsc_open(name, SHMRING_CONSUMER, &r), -ENOENT);
    SPSC_EQ(shmring_unlink(name), -ENOENT);
    spsc_create(name, "twice", 256);
    SPSC_EQ(shmring_unlink(name), 0);
    SPSC_EQ(shmring_unlink(name), -ENOENT);
    SPSC_EQ(shmring_spsc_open(name, SHMRING_CONSUMER, &r), -ENOENT);
    /* unlink while attached: the handles keep working on their mapping; the name is free. */
    spsc_create(name, "busy", 256);
    {
        struct shmring_spsc *p, *c;
        spsc_open_pair(name, &p, &c);
        SPSC_EQ(shmring_unlink(name), 0);
        SPSC_EQ(shmring_unlink(name), -ENOENT);
        SPSC_EQ(shmring_spsc_open(name, SHMRING_CONSUMER, &r), -ENOENT);
        spsc_push_rec(p, 9, 9);
        spsc_pop_rec(c, 9, 9);
        SPSC_EQ(shmring_spsc_peer_count(p), -EIDRM);
        spsc_close_pair(p, c);
    }
}

SPSC_TEST(badinput, bad_roles)
{
    char name[64];
    struct shmring_spsc *r = (struct shmring_spsc *)&r;
    const int roles[] = {0, 3, -1, 4, 255, INT_MAX, INT_MIN};
    size_t i;
    spsc_create(name, "role", 256);
    for (i = 0; i < sizeof(roles) / sizeof(roles[0]); i++) {
        r = (struct shmring_spsc *)&r;
        SPSC_EQ(shmring_spsc_open(name, (enum shmring_role)roles[i], &r), -EINVAL);
        cr_assert_null(r);
    }
    SPSC_EQ(shmring_spsc_open(name, SHMRING_PRODUCER, NULL), -EINVAL);
    SPSC_EQ(shmring_spsc_close(NULL), 0);
    /* Nothing was taken: both roles are still free. */
    {
        struct shmring_spsc *p, *c;
        spsc_open_pair(name, &p, &c);
        spsc_close_pair(p, c);
    }
    SPSC_EQ(shmring_unlink(name), 0);
}

/* --- Error strings ---------------------------------------------------------------------------- */

static const struct {
    int code;
    const char *name;
} codes[] = {
    {EAGAIN, "EAGAIN"},     {EPIPE, "EPIPE"},   {ETIMEDOUT, "ETIMEDOUT"}, {EMSGSIZE, "EMSGSIZE"},
    {ENOENT, "ENOENT"},     {EEXIST, "EEXIST"}, {EBADMSG, "EBADMSG"},     {EPROTONOSUPPORT, "EPROTONOSUPPORT"},
    {EUCLEAN, "EUCLEAN"},   {EIDRM, "EIDRM"},   {EBUSY, "EBUSY"},         {EDEADLK, "EDEADLK"},
    {EINVAL, "EINVAL"},     {ENAMETOOLONG, "ENAMETOOLONG"},               {EACCES, "EACCES"},
    {EPERM, "EPERM"},       {ENOMEM, "ENOMEM"}, {ENOSPC, "ENOSPC"},
};

SPSC_TEST(badinput, strerror_known_codes)
{
    size_t i, j;
    for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        const char *m = shmring_strerror(-codes[i].code);
        cr_assert(m != NULL && m[0] != '\0', "%s: empty message", codes[i].name);
        cr_assert_str_eq(shmring_strerror(codes[i].code), m, "%s: positive and negative codes differ", codes[i].name);
        cr_assert_str_eq(shmring_err_name(-codes[i].code), codes[i].name);
        cr_assert_str_eq(shmring_err_name(codes[i].code), codes[i].name);
        /* Each shmring code has its own message. */
        for (j = 0; j < i; j++)
            cr_assert_str_neq(shmring_strerror(-codes[j].code), m, "%s and %s share a message", codes[j].name,
                              codes[i].name);
    }
    cr_assert_str_eq(shmring_err_name(0), "OK");
    cr_assert(shmring_strerror(0) != NULL && shmring_strerror(0)[0] != '\0');
}

SPSC_TEST(badinput, strerror_unknown_codes)
{
    const int unknown[] = {4095, -4095, 100000, -100000, INT_MAX, -INT_MAX, 1000, EIO, -EIO, EINTR};
    size_t i;
    for (i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
        const char *m = shmring_strerror(unknown[i]);
        cr_assert(m != NULL && m[0] != '\0', "code %d: no message", unknown[i]);
        cr_assert_not_null(shmring_err_name(unknown[i]));
    }
    cr_assert_str_eq(shmring_err_name(100000), "UNKNOWN");
    cr_assert_str_eq(shmring_err_name(-4095), "UNKNOWN");
    cr_assert_str_eq(shmring_err_name(INT_MAX), "UNKNOWN");
}

/* INT_MIN is an int like any other: no undefined behaviour (negating it overflows; run under
 * --config=ubsan to see it). */
SPSC_TEST(badinput, strerror_int_min)
{
    cr_assert_not_null(shmring_strerror(INT_MIN));
    cr_assert_str_eq(shmring_err_name(INT_MIN), "UNKNOWN");
}

/* common.h: "A static, human-readable message ... Thread-safe". A message for an unknown code must
 * stay valid (and unchanged) after later calls. */
SPSC_TEST(badinput, strerror_unknown_message_is_static)
{
    char copy[128];
    const char *m1 = shmring_strerror(-100001);
    snprintf(copy, sizeof(copy), "%s", m1);
    (void)shmring_strerror(-100002);
    (void)shmring_strerror(-123456789);
    cr_assert_str_eq(m1, copy, "message of an unknown code changed (or was freed) by a later call");
}

/* --- Name keys -------------------------------------------------------------------------------- */

/* FNV-1a over "shmring:" + name, as documented in lib/util.c: the key is part of the ABI (every
 * version must find the same ring under the same name), so it is pinned here independently. */
static uint32_t fnv_key(const char *name)
{
    const char *prefix = "shmring:", *q;
    uint32_t h = 2166136261u;
    for (q = prefix; *q; q++)
        h = (h ^ (uint8_t)*q) * 16777619u;
    for (q = name; *q; q++)
        h = (h ^ (uint8_t)*q) * 16777619u;
    if (h == 0 || h == UINT32_MAX)
        h = 0x5348524e;
    return h;
}

SPSC_TEST(badinput, name_key_stable_and_visible)
{
    const char *names[] = {"a", "ring", "telemetry.frames", "x y z", "0123456789012345678901234567890123456789012345678901234567890ab"};
    size_t i;
    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        int64_t k = shmring_name_key(names[i]);
        cr_assert(k > 0 && k <= UINT32_MAX, "%s: key %" PRId64, names[i], k);
        cr_assert(k != (int64_t)(uint32_t)IPC_PRIVATE);
        SPSC_EQ(shmring_name_key(names[i]), k);
        SPSC_EQU((uint64_t)k, fnv_key(names[i]));
    }
    cr_assert(shmring_name_key("a") != shmring_name_key("b"));
    /* What ipcs shows: the key of the ring's segment (/proc/sysvipc/shm holds it as a signed int). */
    {
        char name[64], line[512];
        int64_t k;
        int found = 0;
        FILE *f;
        struct shmid_ds ds;
        int shmid;
        spsc_create(name, "key", 4096);
        k = shmring_name_key(name);
        shmid = shmget((key_t)k, 0, 0);
        cr_assert(shmid >= 0);
        cr_assert(shmctl(shmid, IPC_STAT, &ds) == 0);
        SPSC_EQU((uint32_t)ds.shm_perm.__key, (uint64_t)k);
        f = fopen("/proc/sysvipc/shm", "r");
        cr_assert_not_null(f);
        while (fgets(line, sizeof(line), f)) {
            int key, id;
            if (sscanf(line, "%d %d", &key, &id) == 2 && id == shmid) {
                SPSC_EQU((uint32_t)key, (uint64_t)k);
                found = 1;
            }
        }
        fclose(f);
        cr_assert(found, "segment %d not in /proc/sysvipc/shm", shmid);
        {
            struct shmring_spsc *p;
            SPSC_EQ(shmring_spsc_open(name, SHMRING_PRODUCER, &p), 0);
            SPSC_EQU(p->hdr->ident.key, (uint64_t)k);
            SPSC_EQ(shmring_spsc_close(p), 0);
        }
        SPSC_EQ(shmring_unlink(name), 0);
    }
}
