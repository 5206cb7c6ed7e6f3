/* SPSC anonymous rings (shmring_spsc_pipe): in one process, across fork() with 1 million records, presence across fork, and no System V object left once both ends are closed. */
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "spsc_test.h"

SPSC_SUITE(anon);

#define MS ((int64_t)1000 * 1000)
#define SEC (1000 * MS)

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000 * 1000};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* Length of record `seq` in the fork tests: 0..64 bytes. */
static size_t fork_len(uint64_t seq)
{
    return (size_t)(((seq * UINT64_C(2654435761)) >> 7) % 65);
}

SPSC_TEST(anon, in_one_process)
{
    struct shmring_spsc *p, *c;
    uint8_t buf[512];
    uint64_t sent = 0, recv = 0, rnd = 3;
    int idle = 0;
    spsc_pipe(4096, &p, &c);
    /* A segment (already marked for removal), a semaphore set and a message queue. */
    SPSC_EQ(testutil_ipc_objects(), 3);
    SPSC_EQ(shmring_spsc_peer_count(p), 1);
    SPSC_EQ(shmring_spsc_peer_count(c), 1);
    while (recv < 20000) {
        unsigned k = (unsigned)(testutil_rand(&rnd) % 20), i;
        uint64_t before = sent + recv;
        for (i = 0; i < k; i++) {
            size_t len = (size_t)(testutil_rand(&rnd) % 500);
            rec_fill(buf, len, sent);
            if (shmring_spsc_push(p, buf, len) != 0)
                break;
            sent++;
        }
        k = (unsigned)(testutil_rand(&rnd) % 20);
        for (i = 0; i < k; i++) {
            ssize_t n = shmring_spsc_pop(c, buf, sizeof(buf));
            if (n == -EAGAIN)
                break;
            cr_assert(n >= 0, "pop: %zd", n);
            cr_assert(rec_check(buf, (size_t)n, recv), "record %" PRIu64, recv);
            recv++;
        }
        idle = sent + recv == before ? idle + 1 : 0;
        cr_assert(idle < 100, "no progress: sent %" PRIu64 ", received %" PRIu64, sent, recv);
    }
    SPSC_EQ(shmring_spsc_close(p), 0);
    SPSC_EQ(testutil_ipc_objects(), 3); /* the consumer still holds it */
    while (recv < sent) {
        ssize_t n = shmring_spsc_pop(c, buf, sizeof(buf));
        cr_assert(n >= 0, "drain: %zd", n);
        cr_assert(rec_check(buf, (size_t)n, recv));
        recv++;
    }
    SPSC_EQ(shmring_spsc_pop(c, buf, sizeof(buf)), -EPIPE);
    SPSC_EQ(shmring_spsc_close(c), 0);
}

SPSC_TEST(anon, either_close_order_removes_everything)
{
    int order;
    for (order = 0; order < 2; order++) {
        struct shmring_spsc *p, *c;
        spsc_pipe(256, &p, &c);
        spsc_push_rec(p, 3, 1);
        if (order) {
            SPSC_EQ(shmring_spsc_close(c), 0);
            SPSC_EQ(testutil_ipc_objects(), 3);
            SPSC_EQ(shmring_spsc_close(p), 0);
        } else {
            SPSC_EQ(shmring_spsc_close(p), 0);
            SPSC_EQ(testutil_ipc_objects(), 3);
            SPSC_EQ(shmring_spsc_close(c), 0);
        }
        spsc_assert_no_ipc();
    }
    /* Many rings, one after another: nothing accumulates. */
    for (order = 0; order < 200; order++) {
        struct shmring_spsc *p, *c;
        spsc_pipe(256 << (order % 8), &p, &c);
        spsc_close_pair(p, c);
    }
}

SPSC_TEST(anon, bad_arguments)
{
    struct shmring_config cfg = spsc_cfg(4096);
    struct shmring_spsc *p = (struct shmring_spsc *)&cfg, *c = (struct shmring_spsc *)&cfg;
    SPSC_EQ(shmring_spsc_pipe(&cfg, NULL, &c), -EINVAL);
    SPSC_EQ(shmring_spsc_pipe(&cfg, &p, NULL), -EINVAL);
    cfg.capacity = 1000;
    SPSC_EQ(shmring_spsc_pipe(&cfg, &p, &c), -EINVAL);
    cr_assert(p == NULL && c == NULL);
    cfg.capacity = 128;
    SPSC_EQ(shmring_spsc_pipe(&cfg, &p, &c), -EINVAL);
    cfg.capacity = 4096;
    cfg.flags = 0x80;
    SPSC_EQ(shmring_spsc_pipe(&cfg, &p, &c), -EINVAL);
    cfg.flags = 0;
    cfg.mode = 01777;
    SPSC_EQ(shmring_spsc_pipe(&cfg, &p, &c), -EINVAL);
    /* NULL configuration: the defaults (1 MiB). */
    SPSC_EQ(shmring_spsc_pipe(NULL, &p, &c), 0);
    SPSC_EQU(shmring_spsc_capacity(p), 1u << 20);
    spsc_close_pair(p, c);
}

/* The child's side of the fork tests: pops `count` records with the blocking call, checking each,
 * then (eof) expects end of stream. Returns an exit status (0: all good). */
static int consume(struct shmring_spsc *c, uint64_t count, int eof)
{
    uint8_t buf[128];
    uint64_t seq;
    ssize_t n;
    for (seq = 0; seq < count; seq++) {
        n = shmring_spsc_pop_wait(c, buf, sizeof(buf), 10 * SEC);
        if (n < 0) {
            fprintf(stderr, "child: record %" PRIu64 ": pop_wait: %s\n", seq, shmring_err_name((int)n));
            return 1;
        }
        if ((size_t)n != fork_len(seq)) {
            fprintf(stderr, "child: record %" PRIu64 ": %zd bytes, expected %zu\n", seq, n, fork_len(seq));
            return 2;
        }
        if (!rec_check(buf, (size_t)n, seq)) {
            fprintf(stderr, "child: record %" PRIu64 ": wrong contents\n", seq);
            return 3;
        }
    }
    if (!eof)
        return 0;
    n = shmring_spsc_pop_wait(c, buf, sizeof(buf), 10 * SEC);
    if (n != -EPIPE) {
        fprintf(stderr, "child: after the last record: %zd (%s), expected EPIPE\n", n, shmring_err_name((int)n));
        return 4;
    }
    return 0;
}

/* The parent's side: pushes `count` records with the blocking call. Returns 0 or the error. */
static int produce(struct shmring_spsc *p, uint64_t from, uint64_t count)
{
    uint8_t buf[128];
    uint64_t seq;
    for (seq = from; seq < count; seq++) {
        size_t len = fork_len(seq);
        int e;
        rec_fill(buf, len, seq);
        e = shmring_spsc_push_wait(p, buf, len, 10 * SEC);
        if (e) {
            cr_log_error("parent: record %" PRIu64 ": push_wait: %s", seq, shmring_err_name(e));
            return e;
        }
    }
    return 0;
}

static void expect_child_ok(pid_t pid, const char *what)
{
    int st = testutil_wait_timeout(pid, 45 * SEC);
    cr_assert(st == 0, "%s: child exit status %d (see its message above)", what, st);
}

/* The documented use: fork(), each process closes the end it does not use (as with pipe(2)). Child
 * consumer, parent producer, 1 million records verified, end of stream after the parent's close. */
SPSC_TEST(anon, fork_million_records)
{
    struct shmring_spsc *p, *c;
    const uint64_t count = 1000000;
    pid_t pid;
    int e;
    spsc_pipe(65536, &p, &c);
    pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        int st;
        shmring_spsc_close(p);
        st = consume(c, count, 1);
        shmring_spsc_close(c);
        _exit(st);
    }
    SPSC_EQ(shmring_spsc_close(c), 0);
    e = produce(p, 0, count);
    SPSC_EQ(shmring_spsc_close(p), 0);
    expect_child_ok(pid, "fork_million_records");
    SPSC_EQ(e, 0);
}

/* The same transfer, without the end of stream: the child keeps its copy of the producer handle
 * until it has read every record (so this checks the data path across fork() apart from what
 * closing an inherited producer handle does; as with a pipe, an unused producer copy left open
 * means no end of stream, so the child does not wait for one). */
SPSC_TEST(anon, fork_million_records_data_path)
{
    struct shmring_spsc *p, *c;
    const uint64_t count = 1000000;
    pid_t pid;
    int e;
    spsc_pipe(65536, &p, &c);
    pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        int st = consume(c, count, 0);
        shmring_spsc_close(c);
        shmring_spsc_close(p);
        _exit(st);
    }
    SPSC_EQ(shmring_spsc_close(c), 0);
    e = produce(p, 0, count);
    SPSC_EQ(shmring_spsc_close(p), 0);
    expect_child_ok(pid, "fork_million_records_data_path");
    SPSC_EQ(e, 0);
}

/* A child that closes the producer handle it inherited (and does not use) must not end the
 * stream: the parent's producer is still attached. Deterministic: the parent keeps its producer
 * open until the child has exited. */
SPSC_TEST(anon, child_closing_inherited_producer_is_not_end_of_stream)
{
    struct shmring_spsc *p, *c;
    pid_t pid;
    spsc_pipe(256, &p, &c);
    spsc_push_rec(p, 10, 0);
    pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        uint8_t buf[64];
        ssize_t n;
        int st = 0;
        shmring_spsc_close(p);
        n = shmring_spsc_pop(c, buf, sizeof(buf));
        if (n != 10 || !rec_check(buf, 10, 0)) {
            fprintf(stderr, "child: first record: %zd\n", n);
            st = 1;
        }
        n = shmring_spsc_pop(c, buf, sizeof(buf));
        if (st == 0 && n != -EAGAIN) {
            fprintf(stderr, "child: empty ring, parent's producer attached: pop returned %zd (%s), expected EAGAIN\n", n,
                    shmring_err_name((int)n));
            st = 2;
        }
        n = shmring_spsc_pop_wait(c, buf, sizeof(buf), 50 * MS);
        if (st == 0 && n != -ETIMEDOUT) {
            fprintf(stderr, "child: pop_wait returned %zd (%s), expected ETIMEDOUT\n", n, shmring_err_name((int)n));
            st = 3;
        }
        shmring_spsc_close(c);
        _exit(st);
    }
    SPSC_EQ(shmring_spsc_close(c), 0);
    expect_child_ok(pid, "child_closing_inherited_producer_is_not_end_of_stream");
    SPSC_EQ(shmring_spsc_close(p), 0);
}

/* The parent closes its consumer end right after fork(): the child still holds a consumer, so the
 * parent's producer must wait for it, never see "no consumer" (-EPIPE). */
SPSC_TEST(anon, parent_closing_consumer_after_fork_is_not_epipe)
{
    struct shmring_spsc *p, *c;
    const uint64_t count = 2000;
    uint8_t buf[128];
    uint64_t sent = 0;
    pid_t pid;
    int e;
    spsc_pipe(4096, &p, &c);
    pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        int st;
        sleep_ms(300); /* the parent finds the ring full meanwhile */
        st = consume(c, count, 0);
        shmring_spsc_close(c);
        shmring_spsc_close(p);
        _exit(st);
    }
    SPSC_EQ(shmring_spsc_close(c), 0);
    SPSC_EQ(shmring_spsc_peer_count(p), 1);
    for (;;) {
        size_t len = fork_len(sent);
        rec_fill(buf, len, sent);
        if (shmring_spsc_push(p, buf, len) != 0)
            break;
        cr_assert(++sent < count, "the ring never fills up");
    }
    SPSC_EXPECT_EQ(shmring_spsc_push_wait(p, buf, fork_len(sent), 0), -EAGAIN);
    SPSC_EXPECT_EQ(shmring_spsc_peer_count(p), 1);
    e = produce(p, sent, count);
    SPSC_EQ(shmring_spsc_close(p), 0);
    expect_child_ok(pid, "parent_closing_consumer_after_fork_is_not_epipe");
    SPSC_EQ(e, 0);
}

/* The child that held the consumer dies without closing anything: the parent's blocking push
 * learns it at once (-EPIPE), and the parent's closes still remove every object. */
SPSC_TEST(anon, child_death_is_noticed_and_cleaned_up)
{
    struct shmring_spsc *p, *c;
    uint8_t buf[64];
    int64_t t0;
    pid_t pid;
    memset(buf, 0, sizeof(buf));
    spsc_pipe(256, &p, &c);
    pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0)
        _exit(0);
    SPSC_EQ(shmring_spsc_close(c), 0);
    SPSC_EQ(testutil_wait_timeout(pid, 20 * SEC), 0);
    SPSC_EQ(shmring_spsc_peer_count(p), 0);
    cr_assert(spsc_fill(p, 56) > 0);
    t0 = testutil_now_ns();
    SPSC_EQ(shmring_spsc_push_wait(p, buf, 56, 5 * SEC), -EPIPE);
    cr_expect(testutil_now_ns() - t0 < 2 * SEC);
    SPSC_EQ(shmring_spsc_close(p), 0);
}

/* A child blocked in pop_wait is woken when the parent's producer closes (end of stream), not
 * before: the parent closes 300 ms after fork(). */
SPSC_TEST(anon, blocked_consumer_woken_by_producer_close)
{
    struct shmring_spsc *p, *c;
    uint8_t buf[64];
    pid_t pid;
    int64_t t0;
    memset(buf, 0, sizeof(buf));
    spsc_pipe(256, &p, &c);
    pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        ssize_t n;
        int64_t c0 = testutil_now_ns(), dt;
        shmring_spsc_close(p); /* the end it does not use */
        shmring_spsc_set_spin(c, 0);
        n = shmring_spsc_pop_wait(c, buf, sizeof(buf), 10 * SEC);
        dt = testutil_now_ns() - c0;
        shmring_spsc_close(c); /* the last handle: removes the ring */
        if (n != -EPIPE) {
            fprintf(stderr, "child: pop_wait returned %zd (%s), expected EPIPE\n", n, shmring_err_name((int)n));
            _exit(1);
        }
        if (dt < 50 * MS) {
            fprintf(stderr, "child: end of stream after %" PRId64 " ms, before the parent closed its producer\n",
                    (int64_t)(dt / MS));
            _exit(2);
        }
        _exit(0);
    }
    SPSC_EQ(shmring_spsc_close(c), 0);
    sleep_ms(300); /* let the child go to sleep */
    t0 = testutil_now_ns();
    SPSC_EQ(shmring_spsc_close(p), 0);
    expect_child_ok(pid, "blocked_consumer_woken_by_producer_close");
    cr_expect(testutil_now_ns() - t0 < 3 * SEC, "the child took %" PRId64 " ms to see end of stream",
              (testutil_now_ns() - t0) / MS);
}

/* A parent blocked in push_wait on a full ring is woken when the child holding the consumer dies
 * (without closing): -EPIPE soon after the death, long before the timeout. */
SPSC_TEST(anon, blocked_producer_woken_by_consumer_death)
{
    struct shmring_spsc *p, *c;
    uint8_t buf[64];
    pid_t pid;
    int64_t t0, dt;
    memset(buf, 0, sizeof(buf));
    spsc_pipe(256, &p, &c);
    pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        sleep_ms(200);
        _exit(0);
    }
    SPSC_EQ(shmring_spsc_close(c), 0);
    shmring_spsc_set_spin(p, 0);
    cr_assert(spsc_fill(p, 56) > 0);
    t0 = testutil_now_ns();
    SPSC_EQ(shmring_spsc_push_wait(p, buf, 56, 10 * SEC), -EPIPE);
    dt = testutil_now_ns() - t0;
    SPSC_EQ(testutil_wait_timeout(pid, 20 * SEC), 0);
    cr_expect(dt < 3 * SEC, "push_wait took %" PRId64 " ms to notice the consumer's death", dt / MS);
    SPSC_EQ(shmring_spsc_close(p), 0);
}
