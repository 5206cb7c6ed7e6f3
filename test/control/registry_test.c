/* The process-local registry: repeated opens share one mapping, a removed ring is never handed out
 * again, kinds are checked against the cached mapping, references are counted. */
#include <criterion/criterion.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <unistd.h>

#include "shmring/shmring.h"
#include "testutil.h"

static void assert_no_ipc(void)
{
    int n = testutil_ipc_objects();
    if (n != 0)
        testutil_ipc_dump();
    cr_assert_eq(n, 0, "%d System V objects left", n);
}

/* Processes attached to the segment of `name` (the kernel's count). */
static int nattch(const char *name)
{
    struct shmid_ds ds;
    int id = shmget((key_t)shmring_name_key(name), 0, 0);
    cr_assert(id >= 0, "no segment for %s", name);
    cr_assert_eq(shmctl(id, IPC_STAT, &ds), 0);
    return (int)ds.shm_nattch;
}

Test(registry, opens_share_one_mapping)
{
    const char *name = testutil_name("reg");
    struct shmring_spsc *p, *q, *x;
    struct shmring_control *c;
    char buf[8];

    cr_assert_eq(shmring_spsc_create(name, NULL), 0);
    cr_assert_eq(shmring_attached(name), 0);
    cr_assert_eq(shmring_spsc_open(name, SHMRING_PRODUCER, &p), 0);
    cr_assert_eq(shmring_attached(name), 1);
    cr_assert_eq(shmring_spsc_open(name, SHMRING_CONSUMER, &q), 0);
    cr_assert_eq(shmring_control_open(name, SHMRING_EV_ALL, &c), 0);
    cr_assert_eq(shmring_attached(name), 3);
    cr_assert_eq(nattch(name), 1, "three handles, one shmat");
    cr_assert_eq(shmring_spsc_push(p, "abc", 3), 0);
    cr_assert_eq(shmring_spsc_pop(q, buf, sizeof(buf)), 3);
    cr_assert_eq(shmring_spsc_open(name, SHMRING_PRODUCER, &x), -EBUSY, "the SPSC role stays exclusive");
    cr_assert_eq(shmring_attached(name), 3, "a failed open gives its reference back");
    cr_assert_eq(shmring_spsc_close(q), 0);
    cr_assert_eq(shmring_control_close(c), 0);
    cr_assert_eq(shmring_attached(name), 1);
    cr_assert_eq(nattch(name), 1);
    cr_assert_eq(shmring_spsc_close(p), 0);
    cr_assert_eq(shmring_attached(name), 0);
    cr_assert_eq(nattch(name), 0);
    cr_assert_eq(shmring_attached("bad/name"), -EINVAL);
    cr_assert_eq(shmring_unlink(name), 0);
    assert_no_ipc();
}

Test(registry, kind_checked_against_the_cached_mapping)
{
    const char *name = testutil_name("regk");
    struct shmring_spsc *p;
    struct shmring_mpmc *m;
    cr_assert_eq(shmring_spsc_create(name, NULL), 0);
    cr_assert_eq(shmring_spsc_open(name, SHMRING_PRODUCER, &p), 0);
    cr_assert_eq(shmring_mpmc_open(name, SHMRING_CONSUMER, &m), -EPROTONOSUPPORT);
    cr_assert_eq(shmring_attached(name), 1);
    cr_assert_eq(shmring_spsc_close(p), 0);
    cr_assert_eq(shmring_mpmc_open(name, SHMRING_CONSUMER, &m), -EPROTONOSUPPORT);
    cr_assert_eq(shmring_unlink(name), 0);
    assert_no_ipc();
}

/* A ring removed while this process still holds it, then created again under the same name: the
 * next open attaches the new segment, not the cached old one. */
Test(registry, removed_ring_is_not_reused)
{
    const char *name = testutil_name("regr");
    struct shmring_mpmc *old_p, *p, *c;
    struct shmring_config cfg;
    char buf[64];

    shmring_config_init(&cfg);
    cfg.capacity = 16;
    cr_assert_eq(shmring_mpmc_create(name, &cfg), 0);
    cr_assert_eq(shmring_mpmc_open(name, SHMRING_PRODUCER, &old_p), 0);
    cr_assert_eq(shmring_unlink(name), 0);
    cr_assert_eq(shmring_mpmc_open(name, SHMRING_CONSUMER, &c), -ENOENT);
    cr_assert_eq(shmring_mpmc_create(name, &cfg), 0);
    cr_assert_eq(shmring_mpmc_open(name, SHMRING_PRODUCER, &p), 0);
    cr_assert_eq(shmring_mpmc_open(name, SHMRING_CONSUMER, &c), 0);
    cr_assert_eq(nattch(name), 1, "the new ring is attached once");
    cr_assert_eq(shmring_attached(name), 2, "the old mapping left the table");
    cr_assert_eq(shmring_mpmc_push(p, "new", 3), 0);
    cr_assert_eq(shmring_mpmc_pop(c, buf, sizeof(buf)), 3);
    cr_assert_eq(shmring_mpmc_push(old_p, "old", 3), 0, "the old handle keeps its own (removed) ring");
    cr_assert_eq(shmring_mpmc_pop(c, buf, sizeof(buf)), -EAGAIN, "the old ring's record must not appear");
    cr_assert_eq(shmring_mpmc_close(old_p), 0);
    cr_assert_eq(shmring_mpmc_close(p), 0);
    cr_assert_eq(shmring_mpmc_close(c), 0);
    cr_assert_eq(shmring_attached(name), 0);
    cr_assert_eq(shmring_unlink(name), 0);
    assert_no_ipc();
}
