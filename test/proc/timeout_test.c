/* Timeouts and removal across processes: a blocking call whose peer is alive but idle returns
 * -ETIMEDOUT after about its timeout (loose bounds: at least the timeout, less than a second
 * more); timeout 0 never sleeps (-EAGAIN); removing the ring (shmring_unlink from a third
 * process) wakes a sleeper at once with -EIDRM.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "proctest.h"

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

static struct shmring_spsc *open_ring(const char *name, enum shmring_role role)
{
    struct shmring_spsc *r = NULL;
    int err = shmring_spsc_open(name, role, &r);
    cr_assert_eq(err, 0, "open %s: %s", name, shmring_err_name(err));
    return r;
}

/* An idle peer: opens the ring by name as `role`, then does nothing until killed (at most 30 s). */
struct idle_args {
    const char *name;
    int role;
};

static int idle_peer(void *arg, struct proc_result *res)
{
    const struct idle_args *a = arg;
    struct shmring_spsc *r = NULL;
    int err = shmring_spsc_open(a->name, (enum shmring_role)a->role, &r);
    if (err) {
        snprintf(res->msg, sizeof(res->msg), "idle peer: open: %s", shmring_err_name(err));
        return 1;
    }
    proc_sleep_ns(30 * SEC);
    shmring_spsc_close(r);
    snprintf(res->msg, sizeof(res->msg), "idle peer: nobody stopped me");
    return 3;
}

/* Starts an idle peer (before the test opens its handle, so that it inherits none). */
static void start_idle_peer(struct proc_child *c, struct idle_args *a, const char *name, int role)
{
    a->name = name;
    a->role = role;
    cr_assert_eq(proc_spawn(c, idle_peer, a), 0);
}

/* Waits until it is attached (r: our handle on the other side). */
static void wait_idle_peer(struct shmring_spsc *r)
{
    int64_t t0 = testutil_now_ns();
    while (shmring_spsc_peer_count(r) < 1 && testutil_now_ns() - t0 < 10 * SEC)
        proc_sleep_ns(MSEC);
    cr_assert_eq(shmring_spsc_peer_count(r), 1, "the idle peer did not attach");
}

static void stop_idle_peer(struct proc_child *c)
{
    struct proc_result res;
    int status;
    proc_kill(c);
    status = proc_join(c, 10 * SEC, &res);
    cr_assert_eq(status, 128 + SIGKILL, "idle peer: status %d: %s", status, res.msg);
}

static void fill(struct shmring_spsc *r)
{
    char buf[100] = {0};
    int err;
    while ((err = shmring_spsc_push(r, buf, sizeof(buf))) == 0)
        ;
    cr_assert_eq(err, -EAGAIN);
}

static const int64_t timeouts[] = {1 * MSEC, 20 * MSEC, 150 * MSEC, 450 * MSEC, 1100 * MSEC};
#define N_TIMEOUTS (sizeof(timeouts) / sizeof(timeouts[0]))

static void check_elapsed(const char *what, int64_t timeout, int64_t dt)
{
    cr_expect_geq(dt, timeout, "%s(%.3f s) returned after %.3f s, before its timeout", what, timeout / 1e9, dt / 1e9);
    cr_expect_lt(dt, timeout + 1 * SEC, "%s(%.3f s) returned after %.3f s", what, timeout / 1e9, dt / 1e9);
}

static void pop_times_out(uint32_t spin)
{
    const char *name = testutil_name("pt");
    struct proc_child peer;
    struct idle_args ia;
    struct shmring_spsc *r;
    const void *p;
    size_t len;
    char buf[64];

    create_ring(name, 4096);
    start_idle_peer(&peer, &ia, name, SHMRING_PRODUCER);
    r = open_ring(name, SHMRING_CONSUMER);
    shmring_spsc_set_spin(r, spin);
    wait_idle_peer(r);
    for (size_t i = 0; i < N_TIMEOUTS; i++) {
        int64_t t0 = testutil_now_ns(), dt;
        ssize_t n = shmring_spsc_pop_wait(r, buf, sizeof(buf), timeouts[i]);
        dt = testutil_now_ns() - t0;
        cr_expect_eq(n, -ETIMEDOUT, "pop_wait returned %zd (%s), expected ETIMEDOUT", n,
                     n < 0 ? shmring_err_name((int)n) : "data");
        check_elapsed("pop_wait", timeouts[i], dt);
        t0 = testutil_now_ns();
        n = shmring_spsc_peek_wait(r, &p, &len, timeouts[i]);
        dt = testutil_now_ns() - t0;
        cr_expect_eq(n, -ETIMEDOUT, "peek_wait returned %s, expected ETIMEDOUT", shmring_err_name((int)n));
        check_elapsed("peek_wait", timeouts[i], dt);
    }
    stop_idle_peer(&peer);
    shmring_spsc_close(r);
    cr_assert_eq(shmring_unlink(name), 0);
    proc_untrack_ring(name);
}

PROC_TEST(timeout, pop_wait_idle_producer, .timeout = 60)
{
    pop_times_out(SHMRING_DEFAULT_SPIN);
    assert_no_ipc_objects();
}

PROC_TEST(timeout, pop_wait_idle_producer_nospin, .timeout = 60)
{
    pop_times_out(0);
    assert_no_ipc_objects();
}

PROC_TEST(timeout, push_wait_idle_consumer, .timeout = 60)
{
    const char *name = testutil_name("ph");
    struct proc_child peer;
    struct idle_args ia;
    struct shmring_spsc *r;
    char buf[100] = {0};
    void *p;

    create_ring(name, 4096);
    start_idle_peer(&peer, &ia, name, SHMRING_CONSUMER);
    r = open_ring(name, SHMRING_PRODUCER);
    wait_idle_peer(r);
    fill(r);
    for (size_t i = 0; i < N_TIMEOUTS; i++) {
        int64_t t0 = testutil_now_ns(), dt;
        int err = shmring_spsc_push_wait(r, buf, sizeof(buf), timeouts[i]);
        dt = testutil_now_ns() - t0;
        cr_expect_eq(err, -ETIMEDOUT, "push_wait returned %s, expected ETIMEDOUT", shmring_err_name(err));
        check_elapsed("push_wait", timeouts[i], dt);
        t0 = testutil_now_ns();
        err = shmring_spsc_reserve_wait(r, sizeof(buf), &p, timeouts[i]);
        dt = testutil_now_ns() - t0;
        cr_expect_eq(err, -ETIMEDOUT, "reserve_wait returned %s, expected ETIMEDOUT", shmring_err_name(err));
        check_elapsed("reserve_wait", timeouts[i], dt);
    }
    stop_idle_peer(&peer);
    shmring_spsc_close(r);
    cr_assert_eq(shmring_unlink(name), 0);
    proc_untrack_ring(name);
    assert_no_ipc_objects();
}

/* Timeout 0 with a live peer: -EAGAIN at once, from all four blocking calls. */
PROC_TEST(timeout, zero_is_eagain, .timeout = 60)
{
    const char *name = testutil_name("z");
    struct proc_child pp, pc;
    struct idle_args ia, ib;
    struct shmring_spsc *c, *pr;
    char buf[100] = {0};
    const void *cp;
    void *p;
    size_t len;
    int64_t t0, dt;
    ssize_t n;
    int err;

    /* An empty ring with a live producer elsewhere. */
    create_ring(name, 4096);
    start_idle_peer(&pp, &ia, name, SHMRING_PRODUCER);
    c = open_ring(name, SHMRING_CONSUMER);
    wait_idle_peer(c);
    t0 = testutil_now_ns();
    n = shmring_spsc_pop_wait(c, buf, sizeof(buf), 0);
    cr_expect_eq(n, -EAGAIN, "pop_wait(0) returned %zd", n);
    err = shmring_spsc_peek_wait(c, &cp, &len, 0);
    cr_expect_eq(err, -EAGAIN, "peek_wait(0) returned %s", shmring_err_name(err));
    dt = testutil_now_ns() - t0;
    cr_expect_lt(dt, 1 * SEC, "timeout 0 took %.3f s", dt / 1e9);
    stop_idle_peer(&pp);
    shmring_spsc_close(c);
    cr_assert_eq(shmring_unlink(name), 0);
    proc_untrack_ring(name);

    /* A full ring with a live consumer elsewhere. */
    name = testutil_name("z");
    create_ring(name, 4096);
    start_idle_peer(&pc, &ib, name, SHMRING_CONSUMER);
    pr = open_ring(name, SHMRING_PRODUCER);
    wait_idle_peer(pr);
    fill(pr);
    t0 = testutil_now_ns();
    err = shmring_spsc_push_wait(pr, buf, sizeof(buf), 0);
    cr_expect_eq(err, -EAGAIN, "push_wait(0) returned %s", shmring_err_name(err));
    err = shmring_spsc_reserve_wait(pr, sizeof(buf), &p, 0);
    cr_expect_eq(err, -EAGAIN, "reserve_wait(0) returned %s", shmring_err_name(err));
    dt = testutil_now_ns() - t0;
    cr_expect_lt(dt, 1 * SEC, "timeout 0 took %.3f s", dt / 1e9);
    stop_idle_peer(&pc);
    shmring_spsc_close(pr);
    cr_assert_eq(shmring_unlink(name), 0);
    proc_untrack_ring(name);
    assert_no_ipc_objects();
}

/* --- removal -------------------------------------------------------------------------------- */

/* A third process: waits until the side watched by `wait_for` sleeps, then unlinks the ring. */
struct unlinker_args {
    const char *name;
    int (*wait_for)(const void *hdr);
};

static int unlinker(void *arg, struct proc_result *res)
{
    const struct unlinker_args *a = arg;
    const struct shmring_header *h = proc_observe(a->name);
    int err;
    if (h == NULL) {
        snprintf(res->msg, sizeof(res->msg), "unlinker: no ring");
        return 1;
    }
    if (!proc_wait_for(a->wait_for, h, 10 * SEC)) {
        proc_unobserve(h);
        snprintf(res->msg, sizeof(res->msg), "unlinker: the side never slept");
        return 1;
    }
    proc_unobserve(h);
    proc_sleep_ns(50 * MSEC);
    res->t_ns[0] = testutil_now_ns();
    err = shmring_unlink(a->name);
    if (err) {
        snprintf(res->msg, sizeof(res->msg), "unlinker: unlink: %s", shmring_err_name(err));
        return 1;
    }
    return 0;
}

/* The consumer sleeps in pop_wait (10 s, or no limit), the producer is alive and idle, a third
 * process removes the ring: -EIDRM within 1 s; later calls keep failing cleanly; the name is gone;
 * nothing is left once everybody closed. */
static void unlink_wakes_consumer(int64_t timeout)
{
    const char *name = testutil_name("uc");
    struct proc_child peer, ul;
    struct idle_args ia;
    struct unlinker_args ua = {name, proc_consumer_sleeping};
    struct proc_result ures;
    struct shmring_spsc *r, *r2 = NULL;
    char buf[64];
    ssize_t n;
    int64_t t_ret;
    int status, err;

    create_ring(name, 4096);
    start_idle_peer(&peer, &ia, name, SHMRING_PRODUCER);
    cr_assert_eq(proc_spawn(&ul, unlinker, &ua), 0);
    r = open_ring(name, SHMRING_CONSUMER);
    wait_idle_peer(r);
    n = shmring_spsc_pop_wait(r, buf, sizeof(buf), timeout);
    t_ret = testutil_now_ns();
    status = proc_join(&ul, 20 * SEC, &ures);
    cr_assert_eq(status, 0, "%s", ures.msg);
    proc_untrack_ring(name);
    cr_expect_eq(n, -EIDRM, "pop_wait returned %zd (%s), expected EIDRM", n, n < 0 ? shmring_err_name((int)n) : "data");
    cr_expect_lt(t_ret - ures.t_ns[0], 1 * SEC, "-EIDRM %.3f s after the unlink", (t_ret - ures.t_ns[0]) / 1e9);
    n = shmring_spsc_pop_wait(r, buf, sizeof(buf), 200 * MSEC);
    cr_expect_eq(n, -EIDRM, "pop_wait after removal returned %zd (%s)", n, n < 0 ? shmring_err_name((int)n) : "data");
    n = shmring_spsc_pop(r, buf, sizeof(buf));
    cr_expect_eq(n, -EAGAIN, "pop after removal returned %zd", n);
    err = shmring_spsc_open(name, SHMRING_PRODUCER, &r2);
    cr_expect_eq(err, -ENOENT, "open after removal: %s", shmring_err_name(err));
    if (err == 0)
        shmring_spsc_close(r2);
    cr_expect_eq(shmring_spsc_peer_count(r), -EIDRM);
    cr_expect_eq(shmring_spsc_close(r), 0);
    stop_idle_peer(&peer);
}

PROC_TEST(timeout, unlink_wakes_sleeping_consumer, .timeout = 60)
{
    unlink_wakes_consumer(10 * SEC);
    assert_no_ipc_objects();
}

PROC_TEST(timeout, unlink_wakes_consumer_waiting_forever, .timeout = 60)
{
    unlink_wakes_consumer(SHMRING_FOREVER);
    assert_no_ipc_objects();
}

/* The same for a producer asleep in push_wait on a full ring. */
PROC_TEST(timeout, unlink_wakes_sleeping_producer, .timeout = 60)
{
    const char *name = testutil_name("up");
    struct proc_child peer, ul;
    struct idle_args ia;
    struct unlinker_args ua = {name, proc_producer_sleeping};
    struct proc_result ures;
    struct shmring_spsc *r;
    char buf[100] = {0};
    int64_t t_ret;
    int status, err;

    create_ring(name, 4096);
    start_idle_peer(&peer, &ia, name, SHMRING_CONSUMER);
    cr_assert_eq(proc_spawn(&ul, unlinker, &ua), 0);
    r = open_ring(name, SHMRING_PRODUCER);
    wait_idle_peer(r);
    fill(r);
    err = shmring_spsc_push_wait(r, buf, sizeof(buf), 10 * SEC);
    t_ret = testutil_now_ns();
    status = proc_join(&ul, 20 * SEC, &ures);
    cr_assert_eq(status, 0, "%s", ures.msg);
    proc_untrack_ring(name);
    cr_expect_eq(err, -EIDRM, "push_wait returned %s, expected EIDRM", shmring_err_name(err));
    cr_expect_lt(t_ret - ures.t_ns[0], 1 * SEC, "-EIDRM %.3f s after the unlink", (t_ret - ures.t_ns[0]) / 1e9);
    err = shmring_spsc_push_wait(r, buf, sizeof(buf), 200 * MSEC);
    cr_expect_eq(err, -EIDRM, "push_wait after removal returned %s", shmring_err_name(err));
    cr_expect_eq(shmring_spsc_close(r), 0);
    stop_idle_peer(&peer);
    assert_no_ipc_objects();
}

/* The timeout bounds the whole call. Here the producer publishes only a padding record while the
 * consumer sleeps in pop_wait(2 s): a 2500-byte record does not fit before the end of a 4 KiB
 * ring, so the non-blocking reserve publishes the padding to the end (to let the consumer pass the
 * end) and returns -EAGAIN; the producer then stays idle. The consumer wakes, skips the padding,
 * finds nothing, and must still return -ETIMEDOUT 2 s after it was called. */
struct pad_args {
    const char *name;
};

static int pad_producer(void *arg, struct proc_result *res)
{
    const struct pad_args *a = arg;
    struct shmring_spsc *r = NULL;
    char buf[2000] = {0};
    void *p;
    int64_t t0;
    int err = shmring_spsc_open(a->name, SHMRING_PRODUCER, &r);
    if (err) {
        snprintf(res->msg, sizeof(res->msg), "producer: open: %s", shmring_err_name(err));
        return 1;
    }
    err = shmring_spsc_push(r, buf, sizeof(buf));
    if (err) {
        snprintf(res->msg, sizeof(res->msg), "producer: push: %s", shmring_err_name(err));
        goto out;
    }
    /* The consumer took it and sleeps in its next pop_wait. */
    t0 = testutil_now_ns();
    while (!(shmring__load(&r->hdr->cons.count, acquire) == 1 && proc_consumer_sleeping(r->hdr)) &&
           testutil_now_ns() - t0 < 10 * SEC)
        proc_sleep_ns(200 * 1000);
    proc_sleep_ns(1500 * MSEC);
    err = shmring_spsc_reserve(r, 2500, &p);
    if (err != -EAGAIN) {
        snprintf(res->msg, sizeof(res->msg), "producer: reserve(2500) returned %s, expected EAGAIN", shmring_err_name(err));
        err = -EPROTO;
        goto out;
    }
    err = 0;
    proc_sleep_ns(30 * SEC); /* idle until killed */
out:
    shmring_spsc_close(r);
    return err ? 1 : 3;
}

PROC_TEST(timeout, timeout_bounds_the_whole_call, .timeout = 60)
{
    const char *name = testutil_name("pad");
    struct pad_args a = {name};
    struct proc_child prod;
    struct proc_result res;
    struct shmring_spsc *r;
    char buf[4096];
    int64_t t0, dt;
    uint64_t prod_pos;
    ssize_t n;
    int status;

    create_ring(name, 4096);
    cr_assert_eq(proc_spawn(&prod, pad_producer, &a), 0);
    r = open_ring(name, SHMRING_CONSUMER);
    n = shmring_spsc_pop_wait(r, buf, sizeof(buf), 5 * SEC);
    cr_assert_eq(n, 2000, "first record: %zd", n);
    t0 = testutil_now_ns();
    n = shmring_spsc_pop_wait(r, buf, sizeof(buf), 2 * SEC);
    dt = testutil_now_ns() - t0;
    prod_pos = shmring__load(&r->hdr->prod.pos, relaxed);
    proc_kill(&prod);
    status = proc_join(&prod, 10 * SEC, &res);
    shmring_spsc_close(r);
    cr_assert_eq(shmring_unlink(name), 0);
    proc_untrack_ring(name);
    cr_assert_eq(status, 128 + SIGKILL, "producer: status %d: %s", status, res.msg);
    cr_assert_eq(prod_pos, 4096, "the producer did not publish the padding (prod.pos %" PRIu64 ")", prod_pos);
    cr_expect_eq(n, -ETIMEDOUT, "pop_wait returned %zd (%s)", n, n < 0 ? shmring_err_name((int)n) : "data");
    check_elapsed("pop_wait", 2 * SEC, dt);
    assert_no_ipc_objects();
}
