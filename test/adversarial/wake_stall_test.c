/* A stopped waker must not delay the others' wake-ups (issue 12.3).
 *
 * An MPMC ring with two producers and one consumer C that sleeps (spin 0) whenever the ring is
 * empty. Producer A is SIGSTOPped, for 2 s, inside shmring__wake() the first time it is about to
 * wake the sleeping consumer: at the test point before its post (SHMRING__TP_WAKE_BEFORE_POST), or
 * after the post, before it marks the generation (SHMRING__TP_WAKE_BEFORE_MARK). Meanwhile
 * producer B makes round trips with C: it pushes a record (C is asleep: B paces its rounds by
 * 1 ms), C answers each of B's records on a pipe. Checked, bounded by wall time, not by scheduler
 * ratios:
 *   - while A is stopped, B's round trips keep their latency: median < 20 ms, and at least 5 were
 *     made. (A waker that makes everybody else depend on its progress leaves every sleeper to the
 *     end of its 100 ms sleep slice: ~100 ms per round trip.)
 *   - after A is continued, likewise (a late mark by A must not silence the next wake-ups);
 *   - A, continued, completes its push and pushes more; every record of A and B is delivered
 *     exactly once; everybody ends; no System V object is left.
 * A is a grandchild (a helper child forks it and reaps it): the Criterion runner must not see a
 * stopped child of the test process (see death_step_test.c). */
#include <fcntl.h>
#include <stdarg.h>

#include "advutil.h"

#define RING "ws_ring"
#define MAX_RT 20000u   /* B's round trips recorded */
#define MAX_SEQ 40000u
#define A_EXTRA 50u     /* records A pushes after it is continued */
#define STOP_NS (2 * ADV_SEC)
#define AFTER_NS (300 * ADV_MS) /* B goes on this long after A is continued */
#define PACE_NS (1 * ADV_MS)

enum { P_A = 0, P_B = 1 };

struct rec {
    uint32_t pid;
    uint32_t pad;
    uint64_t seq;
    int64_t t_push;
};

struct rt {
    int64_t start, end;
};

struct shared {
    int target;                 /* the test point A stops at */
    _Atomic int b_ready, a_stopped, continued, a_fired;
    _Atomic pid_t a_pid;
    _Atomic int64_t t_stop, t_cont;
    uint64_t a_count, b_count;  /* records each producer pushed */
    uint64_t a_stalled_seq;     /* A's record whose wake-up stopped */
    int64_t a_stalled_latency;  /* C: push to receipt of that record */
    uint32_t n_rt;
    struct rt rt[MAX_RT];
    _Atomic uint64_t bad;
    char first_error[256];
    _Atomic int error_taken;
    _Atomic uint8_t seen[2][MAX_SEQ];
    int reply[2];               /* pipe: C -> B, one byte per record of B */
};

static struct shared *SH;

static void err_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void err_msg(const char *fmt, ...)
{
    va_list ap;
    atomic_fetch_add(&SH->bad, 1);
    if (atomic_exchange(&SH->error_taken, 1) == 0) {
        va_start(ap, fmt);
        vsnprintf(SH->first_error, sizeof(SH->first_error), fmt, ap);
        va_end(ap);
    }
}

static int push_rec(struct shmring_mpmc *q, uint32_t pid, uint64_t seq)
{
    struct rec r = {pid, 0, seq, testutil_now_ns()};
    return shmring_mpmc_push(q, &r, sizeof(r));
}

/* A's hook: the first time A reaches the target point (it only gets there with a consumer asleep),
 * it tells the test and stops itself. */
static void a_hook(int id)
{
    if (id != SH->target || atomic_exchange(&SH->a_fired, 1))
        return;
    atomic_store(&SH->t_stop, testutil_now_ns());
    atomic_store(&SH->a_stopped, 1);
    raise(SIGSTOP);
}

static int consumer_asleep(struct shmring_mpmc *q)
{
    return __atomic_load_n((const uint32_t *)&q->hdr->wait.consumer_sleeping, __ATOMIC_ACQUIRE) > 0;
}

static int producer_a(void *arg)
{
    struct shmring_mpmc *q = NULL;
    int64_t deadline = testutil_now_ns() + 10 * ADV_SEC;
    uint64_t seq = 0;
    int err;
    (void)arg;
    if ((err = shmring_mpmc_open(RING, SHMRING_PRODUCER, &q)) != 0) {
        err_msg("A: open: %s", shmring_err_name(err));
        return 2;
    }
    while (!atomic_load(&SH->b_ready) && testutil_now_ns() < deadline)
        adv_sleep_ns(ADV_MS);
    shmring__test_hook = a_hook;
    /* Push one record at a time with the consumer asleep until the hook has fired (and A has been
     * continued: the push that stopped returns only then). */
    while (!atomic_load(&SH->a_fired) && testutil_now_ns() < deadline) {
        while (!consumer_asleep(q) && testutil_now_ns() < deadline)
            adv_sleep_ns(100 * 1000);
        SH->a_stalled_seq = seq;
        if ((err = push_rec(q, P_A, seq)) != 0) {
            err_msg("A: push %" PRIu64 ": %s", seq, shmring_err_name(err));
            return 3;
        }
        seq++;
        if (!atomic_load(&SH->a_fired))
            adv_sleep_ns(2 * ADV_MS);
    }
    shmring__test_hook = NULL;
    if (!atomic_load(&SH->a_fired)) {
        err_msg("A: never reached test point %d with the consumer asleep (%" PRIu64 " pushes)", SH->target, seq);
        return 4;
    }
    for (uint32_t i = 0; i < A_EXTRA; i++, seq++)
        if ((err = push_rec(q, P_A, seq)) != 0) {
            err_msg("A: push %" PRIu64 " after SIGCONT: %s", seq, shmring_err_name(err));
            return 3;
        }
    SH->a_count = seq;
    shmring_mpmc_close(q);
    return 0;
}

/* A's parent: forks A and reaps it (A's stop is reported to this process, not to the test's). */
static int a_keeper(void *arg)
{
    int st;
    pid_t pid = adv_spawn(producer_a, arg);
    if (pid < 0)
        return 10;
    atomic_store(&SH->a_pid, pid);
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return 11;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int producer_b(void *arg)
{
    struct shmring_mpmc *q = NULL;
    int64_t deadline = testutil_now_ns() + 15 * ADV_SEC, now;
    uint64_t seq = 0;
    int err;
    (void)arg;
    close(SH->reply[1]);
    if ((err = shmring_mpmc_open(RING, SHMRING_PRODUCER, &q)) != 0) {
        err_msg("B: open: %s", shmring_err_name(err));
        return 2;
    }
    atomic_store(&SH->b_ready, 1);
    while (!atomic_load(&SH->a_stopped) && testutil_now_ns() < deadline)
        adv_sleep_ns(ADV_MS);
    for (;;) {
        now = testutil_now_ns();
        if (now > deadline) {
            err_msg("B: deadline");
            return 5;
        }
        if (atomic_load(&SH->continued) && now - atomic_load(&SH->t_cont) > AFTER_NS)
            break;
        if (seq >= MAX_SEQ || SH->n_rt >= MAX_RT) {
            err_msg("B: too many round trips");
            return 6;
        }
        if ((err = push_rec(q, P_B, seq)) != 0) {
            err_msg("B: push %" PRIu64 ": %s", seq, shmring_err_name(err));
            return 3;
        }
        seq++;
        if (adv_read_byte(SH->reply[0], 3 * ADV_SEC) != 'r') {
            err_msg("B: no answer to record %" PRIu64 " within 3 s", seq - 1);
            return 4;
        }
        SH->rt[SH->n_rt++] = (struct rt){now, testutil_now_ns()};
        adv_sleep_ns(PACE_NS); /* the consumer goes back to sleep */
    }
    SH->b_count = seq;
    shmring_mpmc_close(q);
    return 0;
}

static int consumer_c(void *arg)
{
    struct shmring_mpmc *q = NULL;
    uint8_t buf[64]; /* pop_wait wants room for a whole slot */
    struct rec r;
    ssize_t n;
    int err;
    (void)arg;
    close(SH->reply[0]);
    if ((err = shmring_mpmc_open(RING, SHMRING_CONSUMER, &q)) != 0) {
        err_msg("C: open: %s", shmring_err_name(err));
        return 2;
    }
    shmring_mpmc_set_spin(q, 0); /* every wait sleeps */
    for (;;) {
        n = shmring_mpmc_pop_wait(q, buf, sizeof(buf), 8 * ADV_SEC);
        if (n == -EPIPE)
            break;
        memcpy(&r, buf, sizeof(r));
        if (n != (ssize_t)sizeof(r)) {
            err_msg("C: pop_wait: %zd (%s)", n, n < 0 ? shmring_err_name((int)n) : "bad length");
            return 3;
        }
        if (r.pid > P_B || r.seq >= MAX_SEQ) {
            err_msg("C: a bad record (producer %u, seq %" PRIu64 ")", r.pid, r.seq);
            return 4;
        }
        if (atomic_fetch_add(&SH->seen[r.pid][r.seq], 1) != 0)
            err_msg("C: record %c/%" PRIu64 " delivered twice", r.pid == P_A ? 'A' : 'B', r.seq);
        if (r.pid == P_A && atomic_load(&SH->a_fired) && r.seq == SH->a_stalled_seq)
            SH->a_stalled_latency = testutil_now_ns() - r.t_push;
        if (r.pid == P_B)
            adv_write_byte(SH->reply[1], 'r');
    }
    shmring_mpmc_close(q);
    return 0;
}

static char proc_state(pid_t pid)
{
    char path[64], b[512], *p;
    ssize_t n;
    int fd;
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return '?';
    n = read(fd, b, sizeof(b) - 1);
    close(fd);
    if (n <= 0)
        return '?';
    b[n] = '\0';
    p = strrchr(b, ')');
    return p && p[1] == ' ' ? p[2] : '?';
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* Round trips that started at or after `from` and ended before `to`: count, median, max. */
static uint32_t rt_stats(int64_t from, int64_t to, int64_t *median, int64_t *max)
{
    static int64_t d[MAX_RT];
    uint32_t k = 0;
    for (uint32_t i = 0; i < SH->n_rt; i++)
        if (SH->rt[i].start >= from && SH->rt[i].end <= to)
            d[k++] = SH->rt[i].end - SH->rt[i].start;
    qsort(d, k, sizeof(d[0]), cmp_i64);
    *median = k ? d[k / 2] : 0;
    *max = k ? d[k - 1] : 0;
    return k;
}

static void ws_fini(void)
{
    if (SH && SH->a_pid > 0)
        kill(SH->a_pid, SIGKILL); /* a grandchild: not in adv_fini's list */
    adv_fini();
}

static void stall(int target)
{
    struct shmring_config cfg;
    pid_t c, b, keeper, a;
    int64_t t0, med_during, max_during, med_after, max_after;
    uint32_t n_during, n_after;
    int st_c, st_b, st_a;
    char state = '?';

    SH = adv_shared(sizeof(*SH));
    SH->target = target;
    cr_assert_eq(pipe(SH->reply), 0);
    shmring_config_init(&cfg);
    cfg.capacity = 4096;
    cfg.slot_size = 64;
    adv_assert_rc(shmring_mpmc_create(RING, &cfg), 0, "mpmc create");

    c = adv_spawn(consumer_c, NULL);
    b = adv_spawn(producer_b, NULL);
    keeper = adv_spawn(a_keeper, NULL);
    cr_assert(c > 0 && b > 0 && keeper > 0, "fork failed");
    close(SH->reply[0]);
    close(SH->reply[1]);

    /* A stops at its test point; make sure it really is stopped, then leave it so for 2 s. */
    t0 = testutil_now_ns();
    while (!atomic_load(&SH->a_stopped) && atomic_load(&SH->bad) == 0 && testutil_now_ns() - t0 < 10 * ADV_SEC)
        adv_sleep_ns(ADV_MS);
    cr_assert(atomic_load(&SH->a_stopped), "A never stopped at test point %d: %s", target,
              SH->bad ? SH->first_error : "(no error)");
    a = atomic_load(&SH->a_pid);
    t0 = testutil_now_ns();
    while ((state = proc_state(a)) != 'T' && testutil_now_ns() - t0 < 2 * ADV_SEC)
        adv_sleep_ns(100 * 1000);
    cr_assert_eq(state, 'T', "A (pid %d) is not stopped: state %c", (int)a, state);
    adv_sleep_ns(STOP_NS);
    atomic_store(&SH->t_cont, testutil_now_ns());
    kill(a, SIGCONT);
    atomic_store(&SH->continued, 1);

    st_a = adv_join(keeper, 10 * ADV_SEC);
    st_b = adv_join(b, 10 * ADV_SEC);
    st_c = adv_join(c, 10 * ADV_SEC);
    SH->a_pid = 0;

    n_during = rt_stats(SH->t_stop, SH->t_cont, &med_during, &max_during);
    n_after = rt_stats(SH->t_cont, SH->t_cont + 10 * ADV_SEC, &med_after, &max_after);
    fprintf(stderr,
            "wake_stall(%s): A stopped %.2f s; B's round trips while A was stopped: %u, median %.3f ms, max %.3f "
            "ms; after SIGCONT: %u, median %.3f ms, max %.3f ms; A's stalled record reached C after %.1f ms; "
            "records: A %" PRIu64 ", B %" PRIu64 "\n",
            target == SHMRING__TP_WAKE_BEFORE_POST ? "before post" : "before mark",
            (double)(SH->t_cont - SH->t_stop) / 1e9, n_during, med_during / 1e6, max_during / 1e6, n_after,
            med_after / 1e6, max_after / 1e6, SH->a_stalled_latency / 1e6, SH->a_count, SH->b_count);

    cr_expect_eq(SH->bad, 0, "%" PRIu64 " errors, the first: %s", (uint64_t)SH->bad, SH->first_error);
    cr_expect_eq(st_a, 0, "producer A ended with status %d", st_a);
    cr_expect_eq(st_b, 0, "producer B ended with status %d", st_b);
    cr_expect_eq(st_c, 0, "consumer C ended with status %d", st_c);
    cr_expect_geq(n_during, 5, "only %u round trips in the %.2f s A was stopped (median %.1f ms)", n_during,
                  (double)(SH->t_cont - SH->t_stop) / 1e9, med_during / 1e6);
    cr_expect_lt(med_during, 20 * ADV_MS,
                 "while A was stopped in shmring__wake(), B's round trips took %.1f ms (median of %u): the "
                 "sleeper waited for its sleep slice",
                 med_during / 1e6, n_during);
    cr_expect_geq(n_after, 5, "only %u round trips after SIGCONT", n_after);
    cr_expect_lt(med_after, 20 * ADV_MS, "after A was continued, B's round trips took %.1f ms (median of %u)",
                 med_after / 1e6, n_after);
    cr_expect_geq(SH->a_count, A_EXTRA + 1, "A pushed %" PRIu64 " records", SH->a_count);
    for (uint64_t s = 0; s < MAX_SEQ; s++) {
        for (int p = P_A; p <= P_B; p++) {
            uint64_t want = s < (p == P_A ? SH->a_count : SH->b_count) ? 1 : 0;
            if (SH->seen[p][s] != want) {
                cr_expect_fail("record %c/%" PRIu64 " delivered %u times, expected %" PRIu64, p == P_A ? 'A' : 'B', s,
                               (unsigned)SH->seen[p][s], want);
                s = MAX_SEQ;
                break;
            }
        }
    }
    adv_assert_rc(shmring_unlink(RING), 0, "unlink");
    adv_assert_no_ipc();
}

Test(wake_stall, before_post, .init = adv_init, .fini = ws_fini, .timeout = 60)
{
    stall(SHMRING__TP_WAKE_BEFORE_POST);
}

Test(wake_stall, before_mark, .init = adv_init, .fini = ws_fini, .timeout = 60)
{
    stall(SHMRING__TP_WAKE_BEFORE_MARK);
}
