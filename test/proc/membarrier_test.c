/* A process that cannot use membarrier(2) (an old kernel, or a seccomp filter, as containers
 * install) never runs a weaker wake-up protocol than the ring's: a ring it creates uses the fenced
 * protocol; it cannot open a ring that uses membarrier wake-ups (-ENOSYS, with a message that says
 * why and what to do); and on a fenced ring it passes records and wake-ups with everyone else.
 *
 * The failure is the real one: each such child installs a seccomp filter (PR_SET_NO_NEW_PRIVS +
 * SECCOMP_SET_MODE_FILTER, no privilege needed) that makes membarrier() fail with ENOSYS, right
 * after fork() and before it calls the library.
 */
#include <errno.h>
#include <inttypes.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "proctest.h"

#define SKIP_RC 77 /* a child that could not install the filter */

/* Makes every later membarrier() of this process (and its children) fail with ENOSYS. 0 or -errno. */
static int no_membarrier(void)
{
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW), /* another ABI: not ours to judge */
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_membarrier, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA)),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {(unsigned short)(sizeof(f) / sizeof(f[0])), f};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return -errno;
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0)
        return -errno;
    /* The filter works: the call that the library depends on now fails. */
    if (syscall(SYS_membarrier, 0 /* MEMBARRIER_CMD_QUERY */, 0, 0) != -1 || errno != ENOSYS)
        return -EPROTO;
    return 0;
}

static int child_no_membarrier(struct proc_result *res)
{
    int err = no_membarrier();
    if (err) {
        snprintf(res->msg, sizeof(res->msg), "cannot install the seccomp filter: %s", strerror(-err));
        return SKIP_RC;
    }
    return 0;
}

/* Joins a child; skips the test if it could not install its filter. */
static void join_child(struct proc_child *c, struct proc_result *res, const char *what)
{
    int st = proc_join(c, 60 * SEC, res);
    if (st == SKIP_RC)
        cr_skip_test("%s", res->msg);
    cr_assert_eq(st, 0, "%s: status %d: %s", what, st, res->msg);
}

static uint32_t ring_flags(const char *name)
{
    const struct shmring_header *h = proc_observe(name);
    uint32_t f;
    cr_assert_not_null(h, "observe %s", name);
    f = h->ident.flags;
    proc_unobserve(h);
    return f;
}

static void unlink_ring(const char *name)
{
    int err = shmring_unlink(name);
    cr_assert_eq(err, 0, "unlink %s: %s", name, shmring_err_name(err));
    proc_untrack_ring(name);
}

/* --- create --------------------------------------------------------------------------------- */

struct names {
    char spsc[SHMRING_NAME_MAX + 1];
    char mpmc[SHMRING_NAME_MAX + 1];
};

static int create_child(void *arg, struct proc_result *res)
{
    const struct names *n = arg;
    struct shmring_config cfg;
    int rc, err;
    if ((rc = child_no_membarrier(res)) != 0)
        return rc;
    shmring_config_init(&cfg);
    if ((err = shmring_spsc_create(n->spsc, &cfg)) != 0) {
        snprintf(res->msg, sizeof(res->msg), "spsc create: %s", shmring_err_name(err));
        return 1;
    }
    cfg.slot_size = 64;
    if ((err = shmring_mpmc_create(n->mpmc, &cfg)) != 0) {
        snprintf(res->msg, sizeof(res->msg), "mpmc create: %s", shmring_err_name(err));
        return 1;
    }
    return 0;
}

/* Without membarrier, a ring made with the default protocol gets the fenced one. */
PROC_TEST(membarrier, create_without_membarrier_is_fenced, .timeout = 60)
{
    struct names n;
    struct proc_child c;
    struct proc_result res;
    snprintf(n.spsc, sizeof(n.spsc), "%s", testutil_name("mbc"));
    snprintf(n.mpmc, sizeof(n.mpmc), "%s", testutil_name("mbc"));
    proc_track_ring(n.spsc);
    proc_track_ring(n.mpmc);
    cr_assert_eq(proc_spawn(&c, create_child, &n), 0);
    join_child(&c, &res, "creator");
    cr_expect_eq(ring_flags(n.spsc) & SHMRING_HDR_ASYM_WAKE, 0, "SPSC ring made without membarrier uses it");
    cr_expect_eq(ring_flags(n.mpmc) & SHMRING_HDR_ASYM_WAKE, 0, "MPMC ring made without membarrier uses it");
    unlink_ring(n.spsc);
    unlink_ring(n.mpmc);
    assert_no_ipc_objects();
}

/* --- open ----------------------------------------------------------------------------------- */

static int open_child(void *arg, struct proc_result *res)
{
    const struct names *n = arg;
    struct shmring_spsc *r = NULL;
    struct shmring_mpmc *q = NULL;
    int rc, role, err;
    if ((rc = child_no_membarrier(res)) != 0)
        return rc;
    for (role = SHMRING_PRODUCER; role <= SHMRING_CONSUMER; role++) {
        err = shmring_spsc_open(n->spsc, (enum shmring_role)role, &r);
        if (err != -ENOSYS || r != NULL) {
            snprintf(res->msg, sizeof(res->msg), "spsc open as %d: %s, expected ENOSYS", role, shmring_err_name(err));
            return 1;
        }
        err = shmring_mpmc_open(n->mpmc, (enum shmring_role)role, &q);
        if (err != -ENOSYS || q != NULL) {
            snprintf(res->msg, sizeof(res->msg), "mpmc open as %d: %s, expected ENOSYS", role, shmring_err_name(err));
            return 1;
        }
    }
    if (strstr(shmring_strerror(-ENOSYS), "membarrier") == NULL) {
        snprintf(res->msg, sizeof(res->msg), "the message does not say why: \"%s\"", shmring_strerror(-ENOSYS));
        return 1;
    }
    /* Nothing of this process stays attached: the failed opens left no presence behind. */
    if (shmring_attached(n->spsc) != 0 || shmring_attached(n->mpmc) != 0) {
        snprintf(res->msg, sizeof(res->msg), "a failed open left an attachment");
        return 1;
    }
    return 0;
}

/* A ring that uses membarrier wake-ups cannot be opened without membarrier: its peers' fast paths
 * rely on this process's barrier, which it cannot issue. */
PROC_TEST(membarrier, open_membarrier_ring_without_membarrier_fails, .timeout = 60)
{
    struct names n;
    struct proc_child c;
    struct proc_result res;
    struct shmring_config cfg;
    snprintf(n.spsc, sizeof(n.spsc), "%s", testutil_name("mbo"));
    snprintf(n.mpmc, sizeof(n.mpmc), "%s", testutil_name("mbo"));
    shmring_config_init(&cfg);
    cr_assert_eq(shmring_spsc_create(n.spsc, &cfg), 0);
    proc_track_ring(n.spsc);
    cfg.slot_size = 64;
    cr_assert_eq(shmring_mpmc_create(n.mpmc, &cfg), 0);
    proc_track_ring(n.mpmc);
    if (!(ring_flags(n.spsc) & SHMRING_HDR_ASYM_WAKE))
        cr_skip_test("this process cannot use membarrier either: no membarrier ring to open");
    cr_assert_eq(proc_spawn(&c, open_child, &n), 0);
    join_child(&c, &res, "opener");
    /* The rings are intact for those who can use them. */
    {
        struct shmring_spsc *r = NULL;
        cr_assert_eq(shmring_spsc_open(n.spsc, SHMRING_CONSUMER, &r), 0);
        cr_assert_eq(shmring_spsc_peer_count(r), 0, "the failed producer open left a presence count");
        shmring_spsc_close(r);
    }
    unlink_ring(n.spsc);
    unlink_ring(n.mpmc);
    assert_no_ipc_objects();
}

/* --- records and wake-ups on a fenced ring -------------------------------------------------- */

#define ROUNDS 2000u
#define REC 64u

/* A round trip between this process and a child that cannot use membarrier, over two rings made
 * by another such child (so fenced), both sides with spin 0: every wait sleeps. */
struct pp_args {
    struct names ping, pong; /* ping: parent -> child; pong: child -> parent */
    int mpmc;
};

struct pp_ends {
    struct shmring_spsc *sp_out, *sp_in;
    struct shmring_mpmc *mp_out, *mp_in;
};

static int pp_open(const struct pp_args *a, int child, struct pp_ends *e)
{
    const char *out = child ? (a->mpmc ? a->pong.mpmc : a->pong.spsc) : (a->mpmc ? a->ping.mpmc : a->ping.spsc);
    const char *in = child ? (a->mpmc ? a->ping.mpmc : a->ping.spsc) : (a->mpmc ? a->pong.mpmc : a->pong.spsc);
    int err;
    memset(e, 0, sizeof(*e));
    if (a->mpmc) {
        if ((err = shmring_mpmc_open(out, SHMRING_PRODUCER, &e->mp_out)) != 0)
            return err;
        if ((err = shmring_mpmc_open(in, SHMRING_CONSUMER, &e->mp_in)) != 0)
            return err;
        shmring_mpmc_set_spin(e->mp_out, 0);
        shmring_mpmc_set_spin(e->mp_in, 0);
    } else {
        if ((err = shmring_spsc_open(out, SHMRING_PRODUCER, &e->sp_out)) != 0)
            return err;
        if ((err = shmring_spsc_open(in, SHMRING_CONSUMER, &e->sp_in)) != 0)
            return err;
        shmring_spsc_set_spin(e->sp_out, 0);
        shmring_spsc_set_spin(e->sp_in, 0);
    }
    return 0;
}

static void pp_close(struct pp_ends *e)
{
    if (e->sp_out)
        shmring_spsc_close(e->sp_out);
    if (e->sp_in)
        shmring_spsc_close(e->sp_in);
    if (e->mp_out)
        shmring_mpmc_close(e->mp_out);
    if (e->mp_in)
        shmring_mpmc_close(e->mp_in);
}

static int pp_send(struct pp_ends *e, uint64_t seq)
{
    uint8_t buf[REC];
    testutil_fill(buf, sizeof(buf), seq);
    return e->sp_out ? shmring_spsc_push_wait(e->sp_out, buf, sizeof(buf), 5 * SEC)
                     : shmring_mpmc_push_wait(e->mp_out, buf, sizeof(buf), 5 * SEC);
}

static int pp_recv(struct pp_ends *e, uint64_t seq)
{
    uint8_t buf[REC];
    ssize_t n = e->sp_in ? shmring_spsc_pop_wait(e->sp_in, buf, sizeof(buf), 5 * SEC)
                         : shmring_mpmc_pop_wait(e->mp_in, buf, sizeof(buf), 5 * SEC);
    if (n < 0)
        return (int)n;
    return n == REC && testutil_check_fill(buf, REC, seq) ? 0 : -EBADMSG;
}

static int pp_child(void *arg, struct proc_result *res)
{
    const struct pp_args *a = arg;
    struct pp_ends e;
    uint64_t i;
    int rc, err;
    if ((rc = child_no_membarrier(res)) != 0)
        return rc;
    if ((err = pp_open(a, 1, &e)) != 0) {
        snprintf(res->msg, sizeof(res->msg), "open: %s", shmring_err_name(err));
        pp_close(&e);
        return 1;
    }
    for (i = 0; i < ROUNDS; i++) {
        if ((err = pp_recv(&e, i)) != 0 || (err = pp_send(&e, i)) != 0) {
            snprintf(res->msg, sizeof(res->msg), "round %" PRIu64 ": %s", i, shmring_err_name(err));
            pp_close(&e);
            return 1;
        }
    }
    res->n = i;
    pp_close(&e);
    return 0;
}

static int create_pair_child(void *arg, struct proc_result *res)
{
    const struct pp_args *a = arg;
    struct proc_result r2;
    int rc;
    if ((rc = create_child((void *)&a->ping, res)) != 0)
        return rc;
    memset(&r2, 0, sizeof(r2));
    if ((rc = create_child((void *)&a->pong, &r2)) != 0) {
        memcpy(res->msg, r2.msg, sizeof(res->msg));
        return rc;
    }
    return 0;
}

/* Sleeps that no post ended (they ran out their 100 ms slice): a lost wake-up, or a process kept
 * off its CPU for a whole slice by other load. */
static uint64_t unwoken(const struct shmring_header *h, int consumer)
{
    uint64_t s = consumer ? h->stats.consumer_sleeps : h->stats.producer_sleeps;
    uint64_t w = consumer ? h->stats.consumer_wakeups : h->stats.producer_wakeups;
    return s > w ? s - w : 0;
}

static void fenced_pingpong(int mpmc)
{
    struct pp_args a;
    struct proc_child c;
    struct proc_result res;
    struct pp_ends e;
    const struct shmring_header *hping, *hpong;
    const char *ping, *pong;
    uint64_t i, lost, sleeps;
    int err;

    memset(&a, 0, sizeof(a));
    a.mpmc = mpmc;
    snprintf(a.ping.spsc, sizeof(a.ping.spsc), "%s", testutil_name("mbp"));
    snprintf(a.ping.mpmc, sizeof(a.ping.mpmc), "%s", testutil_name("mbp"));
    snprintf(a.pong.spsc, sizeof(a.pong.spsc), "%s", testutil_name("mbp"));
    snprintf(a.pong.mpmc, sizeof(a.pong.mpmc), "%s", testutil_name("mbp"));
    proc_track_ring(a.ping.spsc);
    proc_track_ring(a.ping.mpmc);
    proc_track_ring(a.pong.spsc);
    proc_track_ring(a.pong.mpmc);
    cr_assert_eq(proc_spawn(&c, create_pair_child, &a), 0);
    join_child(&c, &res, "creator");
    ping = mpmc ? a.ping.mpmc : a.ping.spsc;
    pong = mpmc ? a.pong.mpmc : a.pong.spsc;
    cr_assert_eq(ring_flags(ping) & SHMRING_HDR_ASYM_WAKE, 0, "the rings must be fenced");
    cr_assert_eq(ring_flags(pong) & SHMRING_HDR_ASYM_WAKE, 0, "the rings must be fenced");

    cr_assert_eq(proc_spawn(&c, pp_child, &a), 0);
    err = pp_open(&a, 0, &e);
    cr_assert_eq(err, 0, "open: %s", shmring_err_name(err));
    for (i = 0; i < ROUNDS; i++) {
        if ((err = pp_send(&e, i)) != 0 || (err = pp_recv(&e, i)) != 0)
            break;
    }
    hping = proc_observe(ping);
    hpong = proc_observe(pong);
    cr_assert(hping != NULL && hpong != NULL);
    if (err == 0)
        join_child(&c, &res, "echo child");
    /* Each direction: the consumer side slept (spin 0: it waits for every record) and was woken. */
    sleeps = hping->stats.consumer_sleeps + hpong->stats.consumer_sleeps;
    lost = unwoken(hping, 1) + unwoken(hpong, 1) + unwoken(hping, 0) + unwoken(hpong, 0);
    fprintf(stderr, "%s fenced ping-pong: %" PRIu64 " rounds, %" PRIu64 " consumer sleeps, %" PRIu64
                    " sleeps ended by their slice\n",
            mpmc ? "MPMC" : "SPSC", i, sleeps, lost);
    pp_close(&e);
    cr_assert_eq(err, 0, "round %" PRIu64 ": %s", i, shmring_err_name(err));
    cr_assert_eq(res.n, ROUNDS);
    cr_expect_gt(sleeps, ROUNDS / 4, "the consumers hardly slept (%" PRIu64 "): the test tests nothing", sleeps);
    /* A post for every sleep: a lost wake-up leaves a sleep to its 100 ms slice. A few are allowed,
     * for a process that other load kept off its CPU for a whole slice. */
    cr_expect_leq(lost, ROUNDS / 100, "%" PRIu64 " sleeps were not ended by a post", lost);
    proc_unobserve(hping);
    proc_unobserve(hpong);
    unlink_ring(a.ping.spsc);
    unlink_ring(a.ping.mpmc);
    unlink_ring(a.pong.spsc);
    unlink_ring(a.pong.mpmc);
    assert_no_ipc_objects();
}

PROC_TEST(membarrier, fenced_spsc_pingpong_with_a_process_without_membarrier, .timeout = 120)
{
    fenced_pingpong(0);
}

PROC_TEST(membarrier, fenced_mpmc_pingpong_with_a_process_without_membarrier, .timeout = 120)
{
    fenced_pingpong(1);
}
