/* End of stream across processes: a producer that closes or dies, a consumer that sleeps at that
 * moment or comes later; a consumer that dies under a blocked producer; a producer whose consumer
 * never came; handles inherited through fork(); a consumer replaced after it was killed. Except in
 * the fork() tests, every process opens the ring by name after the test created it (it inherits
 * no handle).
 *
 * Who kills: a separate "killer" child that watches the ring's header (read-only) until the
 * victim's peer is asleep on its semaphore, then sends SIGKILL and reports the instant; the
 * blocked side measures how long after it returned.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "proctest.h"
#include "stream.h"

#define N_RECORDS 10000u
#define SEED 0x5eed0e05ull

static void create_ring(const char *name, uint64_t capacity)
{
    struct shmring_config cfg;
    int err;
    shmring_config_init(&cfg);
    cfg.capacity = capacity;
    err = shmring_spsc_create(name, &cfg);
    cr_assert_eq(err, 0, "create %s: %s", name, shmring_err_name(err));
    proc_track_ring(name);
}

static void remove_ring(const char *name)
{
    int err = shmring_unlink(name);
    cr_assert_eq(err, 0, "unlink %s: %s", name, shmring_err_name(err));
    proc_untrack_ring(name);
}

static struct shmring_spsc *open_ring(const char *name, enum shmring_role role)
{
    struct shmring_spsc *r = NULL;
    int err = shmring_spsc_open(name, role, &r);
    cr_assert_eq(err, 0, "open %s: %s", name, shmring_err_name(err));
    return r;
}

/* --- children ------------------------------------------------------------------------------- */

struct side_args {
    const char *name;
    struct stream_opts o;
    int wait_consumer_asleep; /* producer: before closing, wait until the consumer read everything
                                 and sleeps */
    int64_t hold_ns;          /* after STREAM_STOPPED: stay attached this long (to be killed) */
    int gate[2];              /* producer: if gate[0] > 0, wait (10 s at most) for a byte on it
                                 before opening the ring */
};

static int cons_count_is(const struct shmring_header *h, uint64_t n)
{
    return shmring__load(&h->cons.count, acquire) == n;
}

static int64_t consumer_sleeps(const struct shmring_header *h)
{
    return (int64_t)shmring__load(&h->stats.consumer_sleeps, relaxed);
}

/* Producer child: stream_produce, then (STREAM_STOPPED) stay attached until killed, or close. */
static int producer_child(void *arg, struct proc_result *res)
{
    const struct side_args *a = arg;
    struct shmring_spsc *r = NULL;
    struct stream_report rep;
    int err, rc;
    if (a->gate[0] > 0) {
        struct pollfd pfd = {a->gate[0], POLLIN, 0};
        char ch;
        close(a->gate[1]);
        if (poll(&pfd, 1, 10000) != 1 || read(a->gate[0], &ch, 1) != 1) {
            snprintf(res->msg, sizeof(res->msg), "producer: no go from the test");
            return 1;
        }
    }
    err = shmring_spsc_open(a->name, SHMRING_PRODUCER, &r);
    if (err) {
        snprintf(res->msg, sizeof(res->msg), "producer open: %s", shmring_err_name(err));
        return 1;
    }
    rc = stream_produce(r, &a->o, &rep);
    res->n = rep.records;
    if (rc == STREAM_STOPPED) {
        proc_sleep_ns(a->hold_ns); /* the test kills us here */
        snprintf(res->msg, sizeof(res->msg), "producer: nobody killed me");
        return 3;
    }
    if (rc != 0) {
        snprintf(res->msg, sizeof(res->msg), "producer: %.200s", rep.msg);
        shmring_spsc_close(r);
        return 1;
    }
    if (a->wait_consumer_asleep) {
        /* Everything (records and trailer) read, and the consumer announced its sleep and counted
         * it (the counter moves just before semtimedop). */
        int64_t deadline = testutil_now_ns() + 10 * SEC;
        for (;;) {
            if (cons_count_is(r->hdr, a->o.count + 1) && proc_consumer_sleeping(r->hdr) && consumer_sleeps(r->hdr) > 0)
                break;
            if (testutil_now_ns() > deadline) {
                snprintf(res->msg, sizeof(res->msg), "producer: the consumer never went to sleep");
                shmring_spsc_close(r);
                return 1;
            }
            proc_sleep_ns(200 * 1000);
        }
        proc_sleep_ns(50 * MSEC); /* let it get into semtimedop */
        res->v[0] = (uint64_t)proc_consumer_sleeping(r->hdr);
    }
    res->t_ns[0] = testutil_now_ns();
    shmring_spsc_close(r);
    return 0;
}

/* Consumer child: stream_consume, then (STREAM_STOPPED) stay attached until killed. */
static int consumer_child(void *arg, struct proc_result *res)
{
    const struct side_args *a = arg;
    struct shmring_spsc *r = NULL;
    struct stream_report rep;
    int err = shmring_spsc_open(a->name, SHMRING_CONSUMER, &r), rc;
    if (err) {
        snprintf(res->msg, sizeof(res->msg), "consumer open: %s", shmring_err_name(err));
        return 1;
    }
    rc = stream_consume(r, &a->o, &rep);
    res->n = rep.records;
    if (rc == STREAM_STOPPED) {
        proc_sleep_ns(a->hold_ns);
        snprintf(res->msg, sizeof(res->msg), "consumer: nobody killed me");
        return 3;
    }
    shmring_spsc_close(r);
    if (rc != 0)
        snprintf(res->msg, sizeof(res->msg), "consumer: %.200s", rep.msg);
    return rc == 0 ? 0 : 1;
}

static void side_opts(struct side_args *a, const char *name, uint64_t count)
{
    memset(a, 0, sizeof(*a));
    a->name = name;
    stream_opts_init(&a->o);
    a->o.count = count;
    a->o.seed = SEED;
    a->hold_ns = 20 * SEC;
}

/* Started before the test opens its own handle, so that it inherits none. */
static void start_killer(struct proc_child *killer, struct proc_killer_args *ka, pid_t victim, const char *name,
                         uint64_t min_released, int (*wait_for)(const void *))
{
    memset(ka, 0, sizeof(*ka));
    ka->victim = victim;
    ka->ring = name;
    ka->min_released = min_released;
    ka->wait_for = wait_for;
    ka->delay_ns = 50 * MSEC;
    ka->timeout_ns = 10 * SEC;
    cr_assert_eq(proc_spawn(killer, proc_killer, ka), 0);
}

/* --- producer closes ------------------------------------------------------------------------ */

/* The consumer has read everything and sleeps in pop_wait when the producer closes: it wakes with
 * -EPIPE at once. */
PROC_TEST(eos, close_while_consumer_sleeps, .timeout = 60)
{
    const char *name = testutil_name("cs");
    struct side_args a;
    struct proc_child prod;
    struct proc_result pres;
    struct stream_report rep;
    struct shmring_spsc *r;
    int rc, status;

    create_ring(name, 1u << 16);
    side_opts(&a, name, N_RECORDS);
    a.wait_consumer_asleep = 1;
    cr_assert_eq(proc_spawn(&prod, producer_child, &a), 0);
    r = open_ring(name, SHMRING_CONSUMER);
    rc = stream_consume(r, &a.o, &rep);
    shmring_spsc_close(r);
    status = proc_join(&prod, 20 * SEC, &pres);
    cr_assert_eq(status, 0, "producer: %s", pres.msg);
    cr_assert_eq(rc, 0, "consumer: %s", rep.msg);
    cr_assert_eq(rep.records, N_RECORDS);
    cr_assert_eq(pres.v[0], 1, "the consumer was not asleep when the producer closed");
    cr_assert_gt(rep.eos_ns, 0);
    cr_expect_lt(rep.eos_ns - pres.t_ns[0], 1 * SEC, "end of stream %.3f s after the close",
                 (rep.eos_ns - pres.t_ns[0]) / 1e9);
    remove_ring(name);
    assert_no_ipc_objects();
}

/* The producer writes everything, closes and exits before the consumer opens the ring: the
 * consumer gets every record, then -EPIPE without waiting, and again on every later call. */
PROC_TEST(eos, consumer_arrives_after_close, .timeout = 60)
{
    const char *name = testutil_name("ca");
    struct side_args a;
    struct proc_child prod;
    struct proc_result pres;
    struct stream_report rep;
    struct shmring_spsc *r;
    const void *p;
    size_t len;
    char buf[64];
    int64_t t0;
    int rc, status;

    create_ring(name, 1u << 22); /* holds the whole stream */
    side_opts(&a, name, N_RECORDS);
    cr_assert_eq(proc_spawn(&prod, producer_child, &a), 0);
    status = proc_join(&prod, 20 * SEC, &pres);
    cr_assert_eq(status, 0, "producer: %s", pres.msg);

    r = open_ring(name, SHMRING_CONSUMER);
    t0 = testutil_now_ns();
    rc = stream_consume(r, &a.o, &rep);
    cr_assert_eq(rc, 0, "consumer: %s", rep.msg);
    cr_expect_lt(rep.eos_ns - t0, 1 * SEC, "end of stream took %.3f s", (rep.eos_ns - t0) / 1e9);
    cr_expect_eq(shmring_spsc_pop(r, buf, sizeof(buf)), -EPIPE);
    cr_expect_eq(shmring_spsc_peek(r, &p, &len), -EPIPE);
    cr_expect_eq(shmring_spsc_pop_wait(r, buf, sizeof(buf), 0), -EPIPE);
    cr_expect_eq(shmring_spsc_pop_wait(r, buf, sizeof(buf), SHMRING_FOREVER), -EPIPE);
    shmring_spsc_close(r);
    remove_ring(name);
    assert_no_ipc_objects();
}

/* --- producer killed ------------------------------------------------------------------------ */

/* The producer commits N records and stays attached; the consumer reads them all and sleeps in
 * pop_wait without a time limit; the producer is SIGKILLed: the consumer gets -EPIPE within 2 s
 * (at once, through the dead producer's doorbell). */
PROC_TEST(eos, producer_killed_consumer_sleeping, .timeout = 60)
{
    const char *name = testutil_name("pk");
    struct side_args a;
    struct proc_child prod, killer;
    struct proc_killer_args ka;
    struct proc_result pres, kres;
    struct stream_report rep;
    struct shmring_spsc *r;
    char buf[512];
    ssize_t n;
    int64_t t_ret;
    int rc, status;

    create_ring(name, 1u << 16);
    side_opts(&a, name, N_RECORDS * 10);
    a.o.stop_after = N_RECORDS;
    cr_assert_eq(proc_spawn(&prod, producer_child, &a), 0);
    start_killer(&killer, &ka, prod.pid, name, N_RECORDS, proc_consumer_sleeping);
    r = open_ring(name, SHMRING_CONSUMER);
    rc = stream_consume(r, &a.o, &rep);
    cr_assert_eq(rc, STREAM_STOPPED, "consumer: %s", rep.msg);
    cr_assert_eq(rep.records, N_RECORDS);
    n = shmring_spsc_pop_wait(r, buf, sizeof(buf), SHMRING_FOREVER);
    t_ret = testutil_now_ns();
    status = proc_join(&killer, 20 * SEC, &kres);
    cr_assert_eq(status, 0, "killer: %s", kres.msg);
    cr_assert_eq(n, -EPIPE, "pop_wait returned %zd (%s), expected -EPIPE", n, n < 0 ? shmring_err_name((int)n) : "data");
    cr_expect_lt(t_ret - kres.t_ns[0], 2 * SEC, "-EPIPE %.3f s after the kill", (t_ret - kres.t_ns[0]) / 1e9);
    /* End of stream stays. */
    cr_expect_eq(shmring_spsc_pop_wait(r, buf, sizeof(buf), 100 * MSEC), -EPIPE);
    shmring_spsc_close(r);
    status = proc_join(&prod, 10 * SEC, &pres);
    cr_assert_eq(status, 128 + SIGKILL, "producer status %d: %s", status, pres.msg);
    remove_ring(name);
    assert_no_ipc_objects();
}

/* The same with a long timeout instead of none, and a consumer that only arrives after the
 * producer was killed: it reads the N committed records, then -EPIPE without waiting for the
 * timeout. */
PROC_TEST(eos, producer_killed_before_consumer_arrives, .timeout = 60)
{
    const char *name = testutil_name("pb");
    struct side_args a;
    struct proc_child prod;
    struct proc_result pres;
    struct stream_report rep;
    struct shmring_spsc *r;
    const struct shmring_header *h;
    char buf[512];
    ssize_t n;
    int64_t t0;
    int rc, status;

    create_ring(name, 1u << 22);
    side_opts(&a, name, N_RECORDS * 10);
    a.o.stop_after = N_RECORDS;
    a.o.timeout_ns = 30 * SEC;
    cr_assert_eq(proc_spawn(&prod, producer_child, &a), 0);
    /* Wait until the producer committed N records (prod.count in the header). */
    h = proc_observe(name);
    cr_assert_not_null(h);
    t0 = testutil_now_ns();
    while (shmring__load((SHMRING_ATOMIC(uint64_t) *)&h->prod.count, acquire) < N_RECORDS &&
           testutil_now_ns() - t0 < 10 * SEC)
        proc_sleep_ns(MSEC);
    proc_unobserve(h);
    proc_kill(&prod);
    status = proc_join(&prod, 10 * SEC, &pres);
    cr_assert_eq(status, 128 + SIGKILL, "producer status %d: %s", status, pres.msg);

    r = open_ring(name, SHMRING_CONSUMER);
    t0 = testutil_now_ns();
    rc = stream_consume(r, &a.o, &rep);
    cr_assert_eq(rc, STREAM_STOPPED, "consumer: %s", rep.msg);
    n = shmring_spsc_pop_wait(r, buf, sizeof(buf), 30 * SEC);
    cr_assert_eq(n, -EPIPE, "pop_wait returned %zd (%s), expected -EPIPE", n, n < 0 ? shmring_err_name((int)n) : "data");
    cr_expect_lt(testutil_now_ns() - t0, 2 * SEC, "draining and -EPIPE took %.3f s", (testutil_now_ns() - t0) / 1e9);
    shmring_spsc_close(r);
    remove_ring(name);
    assert_no_ipc_objects();
}

/* The producer commits N records, then reserves and writes `left` more without committing them,
 * and is killed: the consumer gets exactly the N committed records, then -EPIPE; the uncommitted
 * ones never appear. Then a new producer attaches (it must continue after the last committed
 * record, ignoring what the dead one left in the ring) and streams M more records, which the same
 * consumer reads intact. */
static void killed_between_reserve_and_commit(int api, uint32_t left)
{
    const char *name = testutil_name("rc");
    struct side_args a, a2;
    struct proc_child prod, killer, prod2;
    struct proc_killer_args ka;
    struct proc_result pres, kres;
    struct stream_report rep;
    struct shmring_spsc *r;
    char buf[512];
    ssize_t n;
    int64_t t_ret;
    int rc, status;

    create_ring(name, 1u << 14);
    side_opts(&a, name, N_RECORDS * 10);
    a.o.api = api;
    a.o.stop_after = N_RECORDS;
    a.o.leave_reserved = left;
    cr_assert_eq(proc_spawn(&prod, producer_child, &a), 0);
    start_killer(&killer, &ka, prod.pid, name, N_RECORDS, proc_consumer_sleeping);
    /* The second producer, started now so that it inherits no handle, waits for our go. */
    side_opts(&a2, name, N_RECORDS);
    a2.o.seed = SEED + 1;
    a2.o.api = api;
    cr_assert_eq(pipe(a2.gate), 0);
    cr_assert_eq(proc_spawn(&prod2, producer_child, &a2), 0);
    close(a2.gate[0]);

    r = open_ring(name, SHMRING_CONSUMER);
    rc = stream_consume(r, &a.o, &rep);
    cr_assert_eq(rc, STREAM_STOPPED, "consumer: %s", rep.msg);
    n = shmring_spsc_pop_wait(r, buf, sizeof(buf), 30 * SEC);
    t_ret = testutil_now_ns();
    status = proc_join(&killer, 20 * SEC, &kres);
    cr_assert_eq(status, 0, "killer: %s", kres.msg);
    cr_assert_eq(n, -EPIPE, "pop_wait returned %zd (%s), expected -EPIPE: an uncommitted record was delivered?", n,
                 n < 0 ? shmring_err_name((int)n) : "data");
    cr_expect_lt(t_ret - kres.t_ns[0], 2 * SEC, "-EPIPE %.3f s after the kill", (t_ret - kres.t_ns[0]) / 1e9);
    status = proc_join(&prod, 10 * SEC, &pres);
    cr_assert_eq(status, 128 + SIGKILL, "producer status %d: %s", status, pres.msg);

    /* A new producer takes over. */
    cr_assert_eq(write(a2.gate[1], "g", 1), 1);
    close(a2.gate[1]);
    /* Until it attaches, the ring has no producer: pop_wait would rightly say -EPIPE. */
    t_ret = testutil_now_ns();
    while (shmring_spsc_peer_count(r) == 0 && testutil_now_ns() - t_ret < 10 * SEC)
        proc_sleep_ns(200 * 1000);
    cr_assert_eq(shmring_spsc_peer_count(r), 1, "the second producer did not attach");
    rc = stream_consume(r, &a2.o, &rep);
    shmring_spsc_close(r);
    status = proc_join(&prod2, 20 * SEC, &pres);
    cr_assert_eq(rc, 0, "consumer of the second producer: %s", rep.msg);
    cr_assert_eq(status, 0, "second producer: %s", pres.msg);
    remove_ring(name);
    assert_no_ipc_objects();
}

PROC_TEST(eos, killed_between_reserve_and_commit, .timeout = 60)
{
    killed_between_reserve_and_commit(STREAM_COPY, 1);
    assert_no_ipc_objects();
}

/* Several reserved records: all but the first have their headers in the ring already. */
PROC_TEST(eos, killed_with_uncommitted_batch, .timeout = 60)
{
    killed_between_reserve_and_commit(STREAM_ZC, 20);
    assert_no_ipc_objects();
}

/* --- consumer gone -------------------------------------------------------------------------- */

/* The consumer reads a few records and is SIGKILLed while the producer sleeps in push_wait on the
 * full ring: push_wait returns -EPIPE within 2 s (the consumer's doorbell), and so does any later
 * push_wait that would block, even with timeout 0. */
PROC_TEST(eos, consumer_killed_producer_blocked, .timeout = 60)
{
    const char *name = testutil_name("ck");
    struct side_args a;
    struct stream_opts po;
    struct proc_child cons, killer;
    struct proc_killer_args ka;
    struct proc_result cres, kres;
    struct stream_report rep;
    struct shmring_spsc *r;
    char buf[16] = {0};
    int64_t t_ret;
    int rc, status, err;

    create_ring(name, 1u << 14);
    side_opts(&a, name, N_RECORDS * 100);
    a.o.stop_after = 100;
    cr_assert_eq(proc_spawn(&cons, consumer_child, &a), 0);
    start_killer(&killer, &ka, cons.pid, name, 100, proc_producer_sleeping);
    r = open_ring(name, SHMRING_PRODUCER);
    po = a.o;
    po.stop_after = 0;
    rc = stream_produce(r, &po, &rep);
    t_ret = testutil_now_ns();
    status = proc_join(&killer, 20 * SEC, &kres);
    cr_assert_eq(status, 0, "killer: %s", kres.msg);
    cr_assert_eq(rc, -1, "the producer finished?");
    cr_assert_eq(rep.err, -EPIPE, "producer: %s", rep.msg);
    cr_expect_lt(t_ret - kres.t_ns[0], 2 * SEC, "-EPIPE %.3f s after the kill", (t_ret - kres.t_ns[0]) / 1e9);
    /* Records that still fit go in (nobody will read them); one that would block fails. */
    while ((err = shmring_spsc_push(r, buf, sizeof(buf))) == 0)
        ;
    cr_assert_eq(err, -EAGAIN);
    err = shmring_spsc_push_wait(r, buf, sizeof(buf), 0);
    cr_expect_eq(err, -EPIPE, "push_wait(timeout 0) after the consumer died: %s", shmring_err_name(err));
    err = shmring_spsc_push_wait(r, buf, sizeof(buf), SHMRING_FOREVER);
    cr_expect_eq(err, -EPIPE, "push_wait(FOREVER) after the consumer died: %s", shmring_err_name(err));
    shmring_spsc_close(r);
    status = proc_join(&cons, 10 * SEC, &cres);
    cr_assert_eq(status, 128 + SIGKILL, "consumer status %d: %s", status, cres.msg);
    remove_ring(name);
    assert_no_ipc_objects();
}

/* The consumer closes (cleanly) while the producer sleeps in push_wait: -EPIPE too. */
static int close_when_producer_sleeps(void *arg, struct proc_result *res)
{
    const char *name = arg;
    struct shmring_spsc *r = NULL;
    int64_t deadline = testutil_now_ns() + 10 * SEC;
    int err = shmring_spsc_open(name, SHMRING_CONSUMER, &r);
    if (err) {
        snprintf(res->msg, sizeof(res->msg), "consumer open: %s", shmring_err_name(err));
        return 1;
    }
    while (!proc_producer_sleeping(r->hdr) && testutil_now_ns() < deadline)
        proc_sleep_ns(200 * 1000);
    proc_sleep_ns(50 * MSEC);
    res->t_ns[0] = testutil_now_ns();
    shmring_spsc_close(r);
    return 0;
}

PROC_TEST(eos, consumer_closes_producer_blocked, .timeout = 60)
{
    const char *name = testutil_name("cc");
    struct proc_child cons;
    struct proc_result cres;
    struct shmring_spsc *r;
    char buf[100] = {0};
    int64_t t_ret;
    int err, status;

    create_ring(name, 4096);
    cr_assert_eq(proc_spawn(&cons, close_when_producer_sleeps, (void *)name), 0);
    r = open_ring(name, SHMRING_PRODUCER);
    while ((err = shmring_spsc_push(r, buf, sizeof(buf))) == 0)
        ;
    cr_assert_eq(err, -EAGAIN);
    err = shmring_spsc_push_wait(r, buf, sizeof(buf), 10 * SEC);
    t_ret = testutil_now_ns();
    status = proc_join(&cons, 20 * SEC, &cres);
    cr_assert_eq(status, 0, "consumer: %s", cres.msg);
    cr_assert_eq(err, -EPIPE, "push_wait returned %s, expected EPIPE", shmring_err_name(err));
    cr_expect_lt(t_ret - cres.t_ns[0], 1 * SEC, "-EPIPE %.3f s after the close", (t_ret - cres.t_ns[0]) / 1e9);
    shmring_spsc_close(r);
    remove_ring(name);
    assert_no_ipc_objects();
}

/* No consumer ever attached: a producer on a full ring waits for one until its timeout
 * (-ETIMEDOUT), it does not take the absence for a death (-EPIPE). */
PROC_TEST(eos, consumer_never_attached, .timeout = 60)
{
    const char *name = testutil_name("na");
    struct shmring_spsc *r;
    char buf[100] = {0};
    int64_t t0, dt;
    int err;

    create_ring(name, 4096);
    r = open_ring(name, SHMRING_PRODUCER);
    while ((err = shmring_spsc_push(r, buf, sizeof(buf))) == 0)
        ;
    cr_assert_eq(err, -EAGAIN);
    t0 = testutil_now_ns();
    err = shmring_spsc_push_wait(r, buf, sizeof(buf), 300 * MSEC);
    dt = testutil_now_ns() - t0;
    cr_expect_eq(err, -ETIMEDOUT, "push_wait returned %s, expected ETIMEDOUT", shmring_err_name(err));
    cr_expect_geq(dt, 300 * MSEC, "returned after %.3f s", dt / 1e9);
    cr_expect_lt(dt, 1300 * MSEC, "returned after %.3f s", dt / 1e9);
    err = shmring_spsc_push_wait(r, buf, sizeof(buf), 0);
    cr_expect_eq(err, -EAGAIN, "push_wait(timeout 0) returned %s, expected EAGAIN", shmring_err_name(err));
    shmring_spsc_close(r);
    remove_ring(name);
    assert_no_ipc_objects();
}

/* --- handles inherited through fork() --------------------------------------------------------- */

/* spsc.h: "After fork(), both processes hold the handles (as with a pipe's descriptors): close
 * the one you don't use." The child writes through its copy of the producer handle (slowly: 1 ms
 * between records); the parent closes its unused copy at once and reads. As with a pipe, the
 * stream ends only when the last holder of the producer end closes: the parent must get every
 * record, then -EPIPE. */
struct inherit_args {
    struct shmring_spsc *p, *c; /* the child's copies */
    struct stream_opts o;
};

static int inherited_producer(void *arg, struct proc_result *res)
{
    struct inherit_args *a = arg;
    struct stream_report rep;
    int rc;
    if (a->c)
        shmring_spsc_close(a->c); /* the end we don't use */
    rc = stream_produce(a->p, &a->o, &rep);
    shmring_spsc_close(a->p);
    res->n = rep.records;
    if (rc)
        snprintf(res->msg, sizeof(res->msg), "child producer: %.200s", rep.msg);
    return rc;
}

static void parent_closes_inherited_producer(int anonymous)
{
    const char *name = testutil_name("fk");
    struct shmring_config cfg;
    struct inherit_args a;
    struct stream_opts co;
    struct proc_child child;
    struct proc_result res;
    struct stream_report rep;
    struct shmring_spsc *p = NULL, *c = NULL;
    int rc, status;

    memset(&a, 0, sizeof(a));
    stream_opts_init(&a.o);
    a.o.count = 200;
    a.o.seed = SEED;
    a.o.stall_every = 1;
    a.o.stall_us = 1000;
    shmring_config_init(&cfg);
    cfg.capacity = 1u << 16;
    if (anonymous) {
        cr_assert_eq(shmring_spsc_pipe(&cfg, &p, &c), 0);
        a.c = c;
    } else {
        create_ring(name, cfg.capacity);
        c = open_ring(name, SHMRING_CONSUMER);
        p = open_ring(name, SHMRING_PRODUCER);
    }
    a.p = p;
    cr_assert_eq(proc_spawn(&child, inherited_producer, &a), 0);
    shmring_spsc_close(p); /* ours is the consumer end */
    co = a.o;
    co.stall_every = 0; /* we keep up with the producer: the ring is often empty */
    rc = stream_consume(c, &co, &rep);
    status = proc_join(&child, 20 * SEC, &res);
    shmring_spsc_close(c);
    if (!anonymous)
        remove_ring(name);
    cr_expect_eq(status, 0, "%s", res.msg);
    cr_expect_eq(rc, 0, "consumer, after %" PRIu64 " of %" PRIu64 " records: %s", rep.records, a.o.count, rep.msg);
}

PROC_TEST(eos, pipe_parent_closes_unused_producer_end, .timeout = 60)
{
    parent_closes_inherited_producer(1);
    assert_no_ipc_objects();
}

PROC_TEST(eos, named_parent_closes_inherited_producer, .timeout = 60)
{
    parent_closes_inherited_producer(0);
    assert_no_ipc_objects();
}

/* --- consumer replaced ---------------------------------------------------------------------- */

/* spsc.h/README: a consumer that opens after another continues at the first record not released;
 * records peeked but not released are delivered again. The producer writes the whole stream and
 * closes; consumer 1 releases 1000 records, peeks 7 more without releasing and is killed; consumer
 * 2 gets records 1000.. (the 7 again) up to the trailer, then end of stream. */
PROC_TEST(eos, consumer_killed_holding_peeked_records, .timeout = 60)
{
    const char *name = testutil_name("kp");
    struct side_args a, b;
    struct proc_child prod, cons;
    struct proc_result res;
    struct stream_report rep;
    struct shmring_spsc *r;
    const struct shmring_header *h;
    int64_t t0;
    int rc, status;

    create_ring(name, 1u << 22); /* holds the whole stream */
    side_opts(&a, name, N_RECORDS);
    cr_assert_eq(proc_spawn(&prod, producer_child, &a), 0);
    status = proc_join(&prod, 20 * SEC, &res);
    cr_assert_eq(status, 0, "producer: %s", res.msg);

    side_opts(&b, name, N_RECORDS);
    b.o.api = STREAM_ZC;
    b.o.stop_after = 1000;
    b.o.peek_extra = 7;
    cr_assert_eq(proc_spawn(&cons, consumer_child, &b), 0);
    h = proc_observe(name);
    cr_assert_not_null(h);
    t0 = testutil_now_ns();
    while (shmring__load((SHMRING_ATOMIC(uint64_t) *)&h->cons.count, acquire) < 1000 &&
           testutil_now_ns() - t0 < 10 * SEC)
        proc_sleep_ns(MSEC);
    proc_unobserve(h);
    proc_sleep_ns(50 * MSEC); /* it peeks the extra records (no trace in the header) */
    proc_kill(&cons);
    status = proc_join(&cons, 10 * SEC, &res);
    cr_assert_eq(status, 128 + SIGKILL, "consumer 1: status %d: %s", status, res.msg);

    r = open_ring(name, SHMRING_CONSUMER);
    b.o.stop_after = 0;
    b.o.peek_extra = 0;
    b.o.start_at = 1000;
    rc = stream_consume(r, &b.o, &rep);
    shmring_spsc_close(r);
    remove_ring(name);
    cr_assert_eq(rc, 0, "consumer 2: %s", rep.msg);
    assert_no_ipc_objects();
}
