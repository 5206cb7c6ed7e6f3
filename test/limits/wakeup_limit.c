/* The wake-up semaphores stay bounded over millions of wake-ups (no ERANGE, ever).
 *
 * A parent and a forked child bounce one record back and forth over two SPSC rings ("ping":
 * parent -> child, "pong": child -> parent), with spinning off, so that nearly every wait sleeps on
 * its semaphore and nearly every publish posts one. The run lasts a fixed wall time (how many waits
 * really sleep depends on the scheduler and on how far apart the host placed the two vCPUs: from
 * ~17% to ~60% of them, measured; a count of wake-ups would take 30 s on one machine and time out on
 * another), or, if asked, until the rings' counters (stats.consumer_wakeups +
 * stats.producer_wakeups: the posts shmring__wake made) reach a target.
 * Every 1024 round trips the parent reads all four wake-up semaphores with semctl(GETVAL): each
 * must be <= 1 (lib/wait.c: capped posts keep a value at most 1 plus the deaths of the other side
 * since its last attach; nobody dies or detaches during the run). Every record is checked (its
 * round number). At the end: the wake-up count was reached, every sleep and post counter is
 * consistent (posts <= sleeps + 1 per side: a post is made only for an announced sleeper), there
 * was at least one wake-up (else the run measured nothing), the
 * child got end of stream, the pong ring's semaphores are still <= 1 after the child's close (a
 * close rings with a capped post), and nothing is left in the IPC namespace.
 *
 * Length: SHMRING_LIMITS_SECONDS (default 15; 180 with SHMRING_LONG=1), or SHMRING_LIMITS_WAKEUPS=N
 * to run until N wake-ups (posts) instead (the long run: 10000000, with a generous
 * --test_timeout). A plain program (not Criterion): prints a summary line, exits 0 on success, 1
 * on failure.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sem.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "shmring/shmring.h"
#include "testutil.h"

#define SEC INT64_C(1000000000)

static char ping_name[64], pong_name[64];

static void cleanup(void)
{
    shmring_unlink(ping_name);
    shmring_unlink(pong_name);
}

#define FAIL(...)                                                                                  \
    do {                                                                                           \
        fprintf(stderr, "wakeup_limit: FAIL: " __VA_ARGS__);                                       \
        fprintf(stderr, "\n");                                                                     \
        cleanup();                                                                                 \
        exit(1);                                                                                   \
    } while (0)

static int semval(const struct shmring_header *h, int sem)
{
    int v = semctl(h->ident.semid, sem, GETVAL);
    return v < 0 ? -errno : v;
}

/* The child: answers every ping with a pong carrying the same round number, until end of stream. */
static int child(void)
{
    struct shmring_spsc *in = NULL, *out = NULL;
    uint64_t v, expect = 0;
    ssize_t n;
    int err;
    if ((err = shmring_spsc_open(ping_name, SHMRING_CONSUMER, &in)) != 0 ||
        (err = shmring_spsc_open(pong_name, SHMRING_PRODUCER, &out)) != 0) {
        fprintf(stderr, "wakeup_limit: child: open: %s\n", shmring_strerror(err));
        return 1;
    }
    shmring_spsc_set_spin(in, 0);
    shmring_spsc_set_spin(out, 0);
    for (;;) {
        n = shmring_spsc_pop_wait(in, &v, sizeof(v), 30 * SEC);
        if (n == -EPIPE)
            break;
        if (n != (ssize_t)sizeof(v) || v != expect) {
            fprintf(stderr, "wakeup_limit: child: ping %" PRIu64 ": got %zd bytes, value %" PRIu64 " (%s)\n", expect, n,
                    v, n < 0 ? shmring_strerror((int)n) : "");
            return 1;
        }
        expect++;
        if ((err = shmring_spsc_push_wait(out, &v, sizeof(v), 30 * SEC)) != 0) {
            fprintf(stderr, "wakeup_limit: child: pong %" PRIu64 ": %s\n", v, shmring_strerror(err));
            return 1;
        }
    }
    shmring_spsc_close(in);
    shmring_spsc_close(out);
    return 0;
}

static uint64_t posts(const struct shmring_header *h)
{
    return shmring__load(&h->stats.consumer_wakeups, relaxed) + shmring__load(&h->stats.producer_wakeups, relaxed);
}

static void check_sems(const char *when, uint64_t round, const struct shmring_header *a, const struct shmring_header *b,
                       int bound)
{
    const struct shmring_header *h[2] = {a, b};
    for (int i = 0; i < 2; i++)
        for (int s = SHMRING_SEM_CONSUMER_WAKE; s <= SHMRING_SEM_PRODUCER_WAKE; s++) {
            int v = semval(h[i], s);
            if (v < 0 || v > bound)
                FAIL("%s, round %" PRIu64 ": %s ring's %s wake-up semaphore is %d (bound %d)%s", when, round,
                     i ? "pong" : "ping", s == SHMRING_SEM_CONSUMER_WAKE ? "consumer" : "producer", v, bound,
                     v < 0 ? ": semctl failed" : "");
        }
}

int main(void)
{
    const char *env = getenv("SHMRING_LIMITS_WAKEUPS");
    const char *envs = getenv("SHMRING_LIMITS_SECONDS");
    uint64_t target = env && strtoull(env, NULL, 10) > 0 ? strtoull(env, NULL, 10) : 0; /* 0: by time */
    int64_t run_ns = envs && strtoll(envs, NULL, 10) > 0 ? strtoll(envs, NULL, 10) * SEC : testutil_run_ns(15, 180);
    struct shmring_config cfg;
    struct shmring_spsc *out = NULL, *in = NULL;
    struct shmring_header *hping, *hpong;
    uint64_t round = 0, v, checks = 0, done;
    int64_t t0, dt, limit;
    int err, status;
    pid_t pid;
    ssize_t n;

    snprintf(ping_name, sizeof(ping_name), "wl_ping_%d", (int)getpid());
    snprintf(pong_name, sizeof(pong_name), "wl_pong_%d", (int)getpid());
    shmring_config_init(&cfg);
    cfg.capacity = 4096;
    if ((err = shmring_spsc_create(ping_name, &cfg)) != 0 || (err = shmring_spsc_create(pong_name, &cfg)) != 0)
        FAIL("create: %s", shmring_strerror(err));
    pid = fork();
    if (pid < 0)
        FAIL("fork: %s", strerror(errno));
    if (pid == 0)
        _exit(child());
    if ((err = shmring_spsc_open(ping_name, SHMRING_PRODUCER, &out)) != 0 ||
        (err = shmring_spsc_open(pong_name, SHMRING_CONSUMER, &in)) != 0) {
        kill(pid, SIGKILL);
        FAIL("open: %s", shmring_strerror(err));
    }
    shmring_spsc_set_spin(out, 0);
    shmring_spsc_set_spin(in, 0);
    hping = out->hdr;
    hpong = in->hdr;

    /* By count: a hard stop far beyond the expected time (10 000 to 70 000 wake-ups/s measured on
     * 2 shared CPUs): 1 ms per wake-up. By time: the run itself. */
    limit = target ? (int64_t)(target / 1000 + 60) * SEC : run_ns;
    t0 = testutil_now_ns();
    for (;;) {
        if ((round & 1023) == 0) {
            check_sems("during the run", round, hping, hpong, 1);
            checks++;
            if (target ? posts(hping) + posts(hpong) >= target : testutil_now_ns() - t0 >= limit)
                break;
            if (testutil_now_ns() - t0 > limit) {
                kill(pid, SIGKILL);
                FAIL("only %" PRIu64 " wake-ups after %" PRId64 " s", posts(hping) + posts(hpong), limit / SEC);
            }
        }
        if ((err = shmring_spsc_push_wait(out, &round, sizeof(round), 30 * SEC)) != 0) {
            kill(pid, SIGKILL);
            FAIL("ping %" PRIu64 ": %s", round, shmring_strerror(err));
        }
        n = shmring_spsc_pop_wait(in, &v, sizeof(v), 30 * SEC);
        if (n != (ssize_t)sizeof(v) || v != round) {
            kill(pid, SIGKILL);
            FAIL("pong %" PRIu64 ": got %zd bytes, value %" PRIu64 " (%s)", round, n, v,
                 n < 0 ? shmring_strerror((int)n) : "");
        }
        round++;
    }
    dt = testutil_now_ns() - t0;
    done = posts(hping) + posts(hpong);
    printf("wakeup_limit: %" PRIu64 " round trips, %" PRIu64 " wake-ups (posts) in %.2f s: %.0f wake-ups/s; "
           "sleeps: ping consumer %" PRIu64 " producer %" PRIu64 ", pong consumer %" PRIu64 " producer %" PRIu64
           "; semaphores read %" PRIu64 " times, all <= 1\n",
           round, done, (double)dt / 1e9, (double)done / ((double)dt / 1e9),
           (uint64_t)shmring__load(&hping->stats.consumer_sleeps, relaxed),
           (uint64_t)shmring__load(&hping->stats.producer_sleeps, relaxed),
           (uint64_t)shmring__load(&hpong->stats.consumer_sleeps, relaxed),
           (uint64_t)shmring__load(&hpong->stats.producer_sleeps, relaxed), checks * 4);
    /* A post is made only for an announced sleeper, and one at a time: per side, posts cannot
     * run ahead of sleeps by more than the one in flight. */
    {
        const struct shmring_header *h[2] = {hping, hpong};
        for (int i = 0; i < 2; i++) {
            uint64_t cw = shmring__load(&h[i]->stats.consumer_wakeups, relaxed);
            uint64_t cs = shmring__load(&h[i]->stats.consumer_sleeps, relaxed);
            uint64_t pw = shmring__load(&h[i]->stats.producer_wakeups, relaxed);
            uint64_t ps = shmring__load(&h[i]->stats.producer_sleeps, relaxed);
            if (cw > cs + 1 || pw > ps + 1)
                FAIL("%s ring: consumer posts %" PRIu64 " vs sleeps %" PRIu64 ", producer posts %" PRIu64
                     " vs sleeps %" PRIu64,
                     i ? "pong" : "ping", cw, cs, pw, ps);
        }
    }
    /* How many receives really sleep is the scheduler's business (0.17 to 0.6 posts per round trip
     * measured, near and far vCPU placements): printed above, not asserted. A run with no wake-up
     * at all did not test what it says. */
    if (done == 0)
        FAIL("no wake-up in %" PRIu64 " round trips: nothing slept on a semaphore", round);

    /* End of stream: the child drains and exits; every close rings a doorbell, capped. */
    shmring_spsc_close(out);
    status = testutil_wait_timeout(pid, 30 * SEC);
    if (status != 0)
        FAIL("child exited with status %d", status);
    n = shmring_spsc_pop_wait(in, &v, sizeof(v), 10 * SEC);
    if (n != -EPIPE)
        FAIL("pong after the child closed: %zd, expected EPIPE", n);
    check_sems("after the closes", round, hpong, hpong, 1);
    shmring_spsc_close(in);
    cleanup();
    if (testutil_ipc_objects() != 0 && getenv("TEST_TMPDIR")) {
        testutil_ipc_dump();
        fprintf(stderr, "wakeup_limit: FAIL: System V objects left behind\n");
        return 1;
    }
    printf("SUMMARY wakeup_limit wakeups=%" PRIu64 " seconds=%.2f per_second=%.0f max_semval=1 ok\n", done,
           (double)dt / 1e9, (double)done / ((double)dt / 1e9));
    return 0;
}
