/* A process that cannot use membarrier(2) (an old kernel, or a seccomp filter, as containers
 * install) never runs a weaker wake-up protocol than the ring's: a ring it creates with the default
 * protocol is fenced, it cannot create a membarrier ring, it cannot open one (-ENOSYS, with a
 * message that says why and what to do), and on a fenced ring it passes records and wake-ups with
 * a process that has membarrier. Both protocols carry a checked ping-pong in which every sleep is
 * ended by a post.
 *
 * The failure is the real one: membarrier_child --no-membarrier installs a seccomp filter
 * (PR_SET_NO_NEW_PRIVS + SECCOMP_SET_MODE_FILTER, no privilege needed) that makes membarrier()
 * fail with ENOSYS, then execs itself, so the library and liburcu start under the filter.
 * The program's path comes from Bazel: env MBCHILD = $(rootpath :membarrier_child).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mbutil.h"
#include "proctest.h"

#define ROUNDS 2000u

static const char *child_path(void)
{
    static char path[4096];
    const char *env = getenv("MBCHILD"), *srcdir = getenv("TEST_SRCDIR"), *ws = getenv("TEST_WORKSPACE");
    if (env && *env && access(env, X_OK) == 0)
        return env;
    if (srcdir && ws) {
        snprintf(path, sizeof(path), "%s/%s/test/proc/membarrier_child", srcdir, ws);
        if (access(path, X_OK) == 0)
            return path;
    }
    cr_assert_fail("cannot find membarrier_child (MBCHILD=%s)", env ? env : "(unset)");
    return NULL;
}

/* Starts membarrier_child [--no-membarrier] a0 a1 a2 a3 a4 (NULLs end the list early). */
static void start(struct proc_child *c, int no_mb, const char *a0, const char *a1, const char *a2, const char *a3,
                  const char *a4)
{
    char *argv[8];
    int i = 0;
    argv[i++] = (char *)child_path();
    if (no_mb)
        argv[i++] = (char *)"--no-membarrier";
    argv[i++] = (char *)a0;
    argv[i++] = (char *)a1;
    argv[i++] = (char *)a2;
    argv[i++] = (char *)a3;
    argv[i++] = (char *)a4;
    argv[i] = NULL;
    cr_assert_eq(proc_spawn_exec(c, argv), 0);
}

/* Waits for it; skips the test if the filter could not be installed. */
static void join(struct proc_child *c, const char *what)
{
    struct proc_result res;
    int st = proc_join(c, 60 * SEC, &res);
    if (st == MB_SKIP)
        cr_skip_test("cannot install a seccomp filter here");
    cr_assert_eq(st, 0, "%s: membarrier_child exit status %d (see its stderr)", what, st);
}

static void run(int no_mb, const char *what, const char *a0, const char *a1, const char *a2, const char *a3,
                const char *a4)
{
    struct proc_child c;
    start(&c, no_mb, a0, a1, a2, a3, a4);
    join(&c, what);
}

static const char *num(char *buf, size_t cap, long v)
{
    snprintf(buf, cap, "%ld", v);
    return buf;
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

static char *new_name(const char *tag)
{
    char *n = strdup(testutil_name(tag));
    cr_assert_not_null(n);
    proc_track_ring(n);
    return n;
}

/* --- create --------------------------------------------------------------------------------- */

PROC_TEST(membarrier, create_without_membarrier, .timeout = 60)
{
    char *s = new_name("mbc"), *m = new_name("mbc"), *x = new_name("mbc"), *f = new_name("mbc");
    char fl[16], e[16];
    /* The default: fenced, since this process could not open a membarrier ring. */
    run(1, "create spsc", "create", "spsc", s, "0", "0");
    run(1, "create mpmc", "create", "mpmc", m, "0", "0");
    cr_expect_eq(ring_flags(s) & SHMRING_HDR_ASYM_WAKE, 0, "SPSC ring made without membarrier uses it");
    cr_expect_eq(ring_flags(m) & SHMRING_HDR_ASYM_WAKE, 0, "MPMC ring made without membarrier uses it");
    /* Asking for membarrier: -ENOSYS, and nothing is made. */
    run(1, "create membarrier", "create", "spsc", x, num(fl, sizeof(fl), SHMRING_F_WAKE_MEMBARRIER),
        num(e, sizeof(e), ENOSYS));
    cr_expect_null(proc_observe(x), "a failed create left a segment");
    proc_untrack_ring(x);
    /* Asking for fenced: fine. */
    run(1, "create fenced", "create", "mpmc", f, num(fl, sizeof(fl), SHMRING_F_WAKE_FENCED), "0");
    cr_expect_eq(ring_flags(f) & SHMRING_HDR_ASYM_WAKE, 0);
    unlink_ring(s);
    unlink_ring(m);
    unlink_ring(f);
    free(s);
    free(m);
    free(x);
    free(f);
    assert_no_ipc_objects();
}

PROC_TEST(membarrier, both_protocols_is_einval, .timeout = 30)
{
    struct shmring_config cfg;
    struct shmring_spsc *p = NULL, *c = NULL;
    char *n = new_name("mbe");
    shmring_config_init(&cfg);
    cfg.flags = SHMRING_F_WAKE_FENCED | SHMRING_F_WAKE_MEMBARRIER;
    cr_expect_eq(shmring_spsc_create(n, &cfg), -EINVAL);
    cr_expect_eq(shmring_mpmc_create(n, &cfg), -EINVAL);
    cr_expect_eq(shmring_spsc_pipe(&cfg, &p, &c), -EINVAL);
    cr_expect(p == NULL && c == NULL);
    cfg.flags = 0x80000000u;
    cr_expect_eq(shmring_spsc_create(n, &cfg), -EINVAL, "unknown flags");
    proc_untrack_ring(n);
    free(n);
    assert_no_ipc_objects();
}

/* --- open ----------------------------------------------------------------------------------- */

/* A ring that uses membarrier wake-ups cannot be opened without membarrier: its peers' fast paths
 * rely on this process's barrier, which it cannot issue. */
PROC_TEST(membarrier, open_membarrier_ring_without_membarrier_fails, .timeout = 60)
{
    struct shmring_config cfg;
    struct shmring_spsc *r = NULL;
    char *s = new_name("mbo"), *m = new_name("mbo"), e[16];
    int err;
    const char *msg = shmring_strerror(-ENOSYS);
    shmring_config_init(&cfg);
    cfg.flags = SHMRING_F_WAKE_MEMBARRIER;
    err = shmring_spsc_create(s, &cfg);
    if (err == -ENOSYS)
        cr_skip_test("this process cannot use membarrier either: no membarrier ring to open");
    cr_assert_eq(err, 0, "create: %s", shmring_err_name(err));
    cr_assert_eq(shmring_mpmc_create(m, &cfg), 0);
    cr_assert_neq(ring_flags(s) & SHMRING_HDR_ASYM_WAKE, 0);
    cr_assert_neq(ring_flags(m) & SHMRING_HDR_ASYM_WAKE, 0);

    run(1, "open spsc", "open", "spsc", s, num(e, sizeof(e), ENOSYS), NULL);
    run(1, "open mpmc", "open", "mpmc", m, num(e, sizeof(e), ENOSYS), NULL);
    cr_expect(strstr(msg, "membarrier") != NULL && strstr(msg, "SHMRING_F_WAKE_FENCED") != NULL,
              "the message does not say why and what to do: \"%s\"", msg);
    cr_expect_str_eq(shmring_err_name(-ENOSYS), "ENOSYS");
    /* The failed opens left no presence behind, and a process with membarrier opens them. */
    cr_assert_eq(shmring_spsc_open(s, SHMRING_CONSUMER, &r), 0);
    cr_expect_eq(shmring_spsc_peer_count(r), 0, "the failed producer open left a presence count");
    shmring_spsc_close(r);
    run(0, "open spsc with membarrier", "open", "spsc", s, "0", NULL);
    run(0, "open mpmc with membarrier", "open", "mpmc", m, "0", NULL);
    unlink_ring(s);
    unlink_ring(m);
    free(s);
    free(m);
    assert_no_ipc_objects();
}

/* --- records and wake-ups ------------------------------------------------------------------- */

/* Sleeps that no post ended (they ran out their 100 ms slice): a lost wake-up, or a process kept
 * off its CPU for a whole slice by other load. */
static uint64_t unwoken(const struct shmring_header *h)
{
    uint64_t s = h->stats.consumer_sleeps + h->stats.producer_sleeps;
    uint64_t w = h->stats.consumer_wakeups + h->stats.producer_wakeups;
    return s > w ? s - w : 0;
}

/* A ping-pong of ROUNDS checked records between this process and an echo child, both sides with
 * spin 0 (every wait sleeps). no_mb: the child, and the creator of the rings, cannot use
 * membarrier (the rings get the default protocol, which must then be fenced); else this process
 * creates them with `flags`. */
static void pingpong(int mpmc, int no_mb, uint32_t flags)
{
    char *ping = new_name("mbp"), *pong = new_name("mbp"), rounds[16];
    const struct shmring_header *hping, *hpong;
    struct proc_child c;
    struct mb_ends e;
    uint64_t i, lost, sleeps;
    int err = 0;

    if (no_mb) {
        run(1, "create ping", "create", mpmc ? "mpmc" : "spsc", ping, "0", "0");
        run(1, "create pong", "create", mpmc ? "mpmc" : "spsc", pong, "0", "0");
    } else {
        struct shmring_config cfg;
        shmring_config_init(&cfg);
        cfg.flags = flags;
        cfg.slot_size = MB_REC;
        err = mpmc ? shmring_mpmc_create(ping, &cfg) : shmring_spsc_create(ping, &cfg);
        if (err == -ENOSYS)
            cr_skip_test("this process cannot use membarrier");
        cr_assert_eq(err, 0, "create: %s", shmring_err_name(err));
        err = mpmc ? shmring_mpmc_create(pong, &cfg) : shmring_spsc_create(pong, &cfg);
        cr_assert_eq(err, 0, "create: %s", shmring_err_name(err));
    }
    cr_assert_eq(!!(ring_flags(ping) & SHMRING_HDR_ASYM_WAKE), flags == SHMRING_F_WAKE_MEMBARRIER);
    cr_assert_eq(!!(ring_flags(pong) & SHMRING_HDR_ASYM_WAKE), flags == SHMRING_F_WAKE_MEMBARRIER);

    start(&c, no_mb, "echo", mpmc ? "mpmc" : "spsc", ping, pong, num(rounds, sizeof(rounds), ROUNDS));
    err = mb_open(mpmc, ping, pong, &e);
    cr_assert_eq(err, 0, "open: %s", shmring_err_name(err));
    for (i = 0; i < ROUNDS; i++)
        if ((err = mb_send(&e, i)) != 0 || (err = mb_recv(&e, i)) != 0)
            break;
    hping = proc_observe(ping);
    hpong = proc_observe(pong);
    cr_assert(hping != NULL && hpong != NULL);
    join(&c, "echo");
    sleeps = hping->stats.consumer_sleeps + hpong->stats.consumer_sleeps;
    lost = unwoken(hping) + unwoken(hpong);
    fprintf(stderr, "%s %s ping-pong%s: %" PRIu64 " rounds, %" PRIu64 " consumer sleeps, %" PRIu64
                    " sleeps ended by their slice\n",
            mpmc ? "MPMC" : "SPSC", flags == SHMRING_F_WAKE_MEMBARRIER ? "membarrier" : "fenced",
            no_mb ? " with a process without membarrier" : "", i, sleeps, lost);
    mb_close(&e);
    proc_unobserve(hping);
    proc_unobserve(hpong);
    cr_assert_eq(err, 0, "round %" PRIu64 ": %s", i, shmring_err_name(err));
    /* Spin 0: each side waits for almost every record. */
    cr_expect_gt(sleeps, ROUNDS / 4, "the consumers hardly slept (%" PRIu64 "): the test tests nothing", sleeps);
    /* A post for every sleep: a lost wake-up leaves a sleep to its 100 ms slice. A few are allowed,
     * for a process that other load kept off its CPU for a whole slice. */
    cr_expect_leq(lost, ROUNDS / 100, "%" PRIu64 " sleeps were not ended by a post", lost);
    unlink_ring(ping);
    unlink_ring(pong);
    free(ping);
    free(pong);
    assert_no_ipc_objects();
}

PROC_TEST(membarrier, fenced_spsc_without_membarrier, .timeout = 120)
{
    pingpong(0, 1, SHMRING_F_WAKE_FENCED);
}

PROC_TEST(membarrier, fenced_mpmc_without_membarrier, .timeout = 120)
{
    pingpong(1, 1, SHMRING_F_WAKE_FENCED);
}

PROC_TEST(membarrier, fenced_spsc, .timeout = 120)
{
    pingpong(0, 0, SHMRING_F_WAKE_FENCED);
}

PROC_TEST(membarrier, membarrier_spsc, .timeout = 120)
{
    pingpong(0, 0, SHMRING_F_WAKE_MEMBARRIER);
}

PROC_TEST(membarrier, membarrier_mpmc, .timeout = 120)
{
    pingpong(1, 0, SHMRING_F_WAKE_MEMBARRIER);
}
