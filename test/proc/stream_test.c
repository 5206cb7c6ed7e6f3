/* Two processes stream millions of checked records through a named SPSC ring: the test process
 * creates the ring, forks, and each side opens it by name (the child after the parent created it,
 * so nothing but the name is inherited). Both sides block (push_wait / pop_wait, or the zero-copy
 * reserve_wait / peek_wait in batches) with a generous timeout; the consumer checks order, length,
 * content, the running checksum carried by every record and the final checksum in the trailer, and
 * then end of stream.
 *
 * Counts: 10 million records by default; divided by 4 under AddressSanitizer, and multiplied by
 * SHMRING_TEST_SCALE from the environment if set.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "proctest.h"
#include "stream.h"

struct pair {
    const char *name;
    uint64_t capacity;
    uint64_t start_position; /* cfg.start_position: where the ring's byte positions start */
    uint32_t flags;          /* cfg.flags */
    int child_role;       /* the role the forked child opens */
    struct stream_opts o;
};

struct pair_out {
    struct stream_report parent;
    struct proc_result child;
    uint64_t consumer_sleeps, producer_sleeps, consumer_wakeups, producer_wakeups;
    uint64_t start_pos, end_pos; /* cons.pos when the parent opened, and when it finished */
    int64_t elapsed_ns;
};

static int child_side(void *arg, struct proc_result *res)
{
    const struct pair *p = arg;
    struct shmring_spsc *r = NULL;
    struct stream_report rep;
    int err = shmring_spsc_open(p->name, (enum shmring_role)p->child_role, &r);
    int rc;
    if (err) {
        res->err = err;
        snprintf(res->msg, sizeof(res->msg), "open by name as %s: %s",
                 p->child_role == SHMRING_PRODUCER ? "producer" : "consumer", shmring_err_name(err));
        return 1;
    }
    rc = p->child_role == SHMRING_PRODUCER ? stream_produce(r, &p->o, &rep) : stream_consume(r, &p->o, &rep);
    shmring_spsc_close(r); /* the producer's close is the end of stream */
    res->n = rep.records;
    res->v[0] = rep.csum;
    res->v[1] = rep.bytes;
    res->err = rep.err;
    snprintf(res->msg, sizeof(res->msg), "%s", rep.msg);
    return rc;
}

static void run_pair(const struct pair *p, struct pair_out *out)
{
    struct shmring_config cfg;
    struct shmring_spsc *r = NULL;
    struct proc_child child;
    int parent_role = p->child_role == SHMRING_PRODUCER ? SHMRING_CONSUMER : SHMRING_PRODUCER;
    int64_t t0;
    int err, rc, status;

    memset(out, 0, sizeof(*out));
    shmring_config_init(&cfg);
    cfg.capacity = p->capacity;
    cfg.start_position = p->start_position;
    cfg.flags = p->flags;
    err = shmring_spsc_create(p->name, &cfg);
    cr_assert_eq(err, 0, "create: %s", shmring_err_name(err));
    proc_track_ring(p->name);

    t0 = testutil_now_ns();
    cr_assert_eq(proc_spawn(&child, child_side, (void *)p), 0);
    /* Opened after fork(): the child inherits no handle. */
    err = shmring_spsc_open(p->name, (enum shmring_role)parent_role, &r);
    cr_assert_eq(err, 0, "open: %s", shmring_err_name(err));
    out->start_pos = shmring__load(&r->hdr->cons.pos, relaxed);

    rc = parent_role == SHMRING_PRODUCER ? stream_produce(r, &p->o, &out->parent)
                                         : stream_consume(r, &p->o, &out->parent);
    out->end_pos = shmring__load(&r->hdr->cons.pos, relaxed);
    out->consumer_sleeps = shmring__load(&r->hdr->stats.consumer_sleeps, relaxed);
    out->producer_sleeps = shmring__load(&r->hdr->stats.producer_sleeps, relaxed);
    out->consumer_wakeups = shmring__load(&r->hdr->stats.consumer_wakeups, relaxed);
    out->producer_wakeups = shmring__load(&r->hdr->stats.producer_wakeups, relaxed);
    if (rc != 0) {
        /* Keep the child's side of the story: stop it and collect its message. */
        struct proc_result cres;
        proc_kill(&child);
        proc_join(&child, 5 * SEC, &cres);
        shmring_spsc_close(r);
        cr_assert_fail("%s (parent, %s): %s; child: %s", parent_role == SHMRING_PRODUCER ? "producer" : "consumer",
                       shmring_err_name(out->parent.err), out->parent.msg, cres.msg);
    }
    err = shmring_spsc_close(r);
    cr_assert_eq(err, 0);
    status = proc_join(&child, 60 * SEC, &out->child);
    out->elapsed_ns = testutil_now_ns() - t0;
    cr_assert_eq(status, 0, "child (%s) exited with status %d: %s",
                 p->child_role == SHMRING_PRODUCER ? "producer" : "consumer", status, out->child.msg);
    cr_assert_eq(out->child.rc, 0, "child: %s", out->child.msg);

    cr_assert_eq(out->parent.records, p->o.count);
    cr_assert_eq(out->child.n, p->o.count, "child handled %" PRIu64 " records, expected %" PRIu64, out->child.n,
                 p->o.count);
    cr_assert_eq(out->child.v[0], out->parent.csum, "checksums differ: child %#" PRIx64 ", parent %#" PRIx64,
                 out->child.v[0], out->parent.csum);
    cr_assert_eq(out->child.v[1], out->parent.bytes);

    err = shmring_unlink(p->name);
    cr_assert_eq(err, 0, "unlink: %s", shmring_err_name(err));
    proc_untrack_ring(p->name);
    fprintf(stderr,
            "%s: %" PRIu64 " records, %" PRIu64 " bytes in %.2f s; sleeps: consumer %" PRIu64 " producer %" PRIu64
            ", wake-ups: consumer %" PRIu64 " producer %" PRIu64 "\n",
            p->name, p->o.count, out->parent.bytes, (double)out->elapsed_ns / 1e9, out->consumer_sleeps,
            out->producer_sleeps, out->consumer_wakeups, out->producer_wakeups);
}

#define TEN_MILLION 10000000u

/* push_wait / pop_wait, child produces, parent consumes. */
PROC_TEST(stream, copy_10M, .timeout = 300)
{
    struct pair p;
    struct pair_out out;
    memset(&p, 0, sizeof(p));
    p.name = testutil_name("copy");
    p.capacity = 1u << 20;
    p.child_role = SHMRING_PRODUCER;
    stream_opts_init(&p.o);
    p.o.count = stream_scaled(TEN_MILLION, 4);
    p.o.seed = 0x5eed0001;
    p.o.max_len = 256;
    run_pair(&p, &out);
    assert_no_ipc_objects();
}

/* reserve K / commit and peek K / release, parent produces, child consumes. */
PROC_TEST(stream, zerocopy_batch_10M, .timeout = 300)
{
    struct pair p;
    struct pair_out out;
    memset(&p, 0, sizeof(p));
    p.name = testutil_name("zc");
    p.capacity = 1u << 20;
    p.child_role = SHMRING_CONSUMER;
    stream_opts_init(&p.o);
    p.o.count = stream_scaled(TEN_MILLION, 4);
    p.o.seed = 0x5eed0002;
    p.o.max_len = 256;
    p.o.api = STREAM_ZC;
    p.o.batch = 32;
    run_pair(&p, &out);
    assert_no_ipc_objects();
}

/* A 4 KiB ring holds a few dozen records: both sides keep running into a full or empty ring, and
 * periodic stalls (a few ms every 5000 records, on each side in turn) make the other side go all
 * the way to sleep on its semaphore. The counters in the shared header prove it did. */
PROC_TEST(stream, small_ring_sleeps, .timeout = 300)
{
    struct pair p;
    struct pair_out out;
    memset(&p, 0, sizeof(p));
    p.name = testutil_name("small");
    p.capacity = 4096;
    p.child_role = SHMRING_PRODUCER;
    stream_opts_init(&p.o);
    p.o.count = stream_scaled(500000, 4);
    p.o.seed = 0x5eed0003;
    p.o.max_len = 256;
    p.o.stall_every = 5000;
    p.o.stall_us = 3000;
    run_pair(&p, &out);
    cr_expect_gt(out.consumer_sleeps, 0, "the consumer never slept");
    cr_expect_gt(out.producer_sleeps, 0, "the producer never slept");
    cr_expect_gt(out.consumer_wakeups, 0, "nobody woke the consumer");
    cr_expect_gt(out.producer_wakeups, 0, "nobody woke the producer");
    assert_no_ipc_objects();
}

/* The same with zero-copy batches of up to 64 records, more than a 4 KiB ring holds: the producer
 * runs into -EDEADLK (its own uncommitted records fill the ring) and commits early. No spinning:
 * every wait sleeps. */
PROC_TEST(stream, small_ring_zerocopy_nospin, .timeout = 300)
{
    struct pair p;
    struct pair_out out;
    memset(&p, 0, sizeof(p));
    p.name = testutil_name("smallzc");
    p.capacity = 4096;
    p.child_role = SHMRING_CONSUMER;
    stream_opts_init(&p.o);
    p.o.count = stream_scaled(1000000, 4);
    p.o.seed = 0x5eed0004;
    p.o.max_len = 256;
    p.o.api = STREAM_ZC;
    p.o.batch = 64;
    p.o.spin = 0;
    run_pair(&p, &out);
    cr_expect_gt(out.consumer_sleeps, 0, "the consumer never slept");
    cr_expect_gt(out.producer_sleeps, 0, "the producer never slept");
    assert_no_ipc_objects();
}

/* Records of any size up to the largest a 4 KiB ring takes (capacity - 16): almost every record
 * wraps with a padding record, and the largest only fit once the ring is empty. */
PROC_TEST(stream, big_records_wrap, .timeout = 300)
{
    struct pair p;
    struct pair_out out;
    memset(&p, 0, sizeof(p));
    p.name = testutil_name("big");
    p.capacity = 4096;
    p.child_role = SHMRING_PRODUCER;
    stream_opts_init(&p.o);
    p.o.count = stream_scaled(40000, 4);
    p.o.seed = 0x5eed0005;
    p.o.max_len = 4096 - 16;
    run_pair(&p, &out);
    assert_no_ipc_objects();
}

/* The same, zero-copy with batches: a record that must wrap while others are pending cannot
 * publish its padding early. */
PROC_TEST(stream, big_records_wrap_zerocopy, .timeout = 300)
{
    struct pair p;
    struct pair_out out;
    memset(&p, 0, sizeof(p));
    p.name = testutil_name("bigzc");
    p.capacity = 4096;
    p.child_role = SHMRING_CONSUMER;
    stream_opts_init(&p.o);
    p.o.count = stream_scaled(40000, 4);
    p.o.seed = 0x5eed0006;
    p.o.max_len = 4096 - 16;
    p.o.api = STREAM_ZC;
    p.o.batch = 4;
    run_pair(&p, &out);
    assert_no_ipc_objects();
}

/* 64-byte records (SHMRING_F_ALIGN64) between two processes: copies of every length up to 256 in
 * a 64 KiB ring, then zero-copy batches of records up to the largest a 4 KiB ring takes
 * (capacity - 72), which wrap with whole-line padding. */
PROC_TEST(stream, align64_copy, .timeout = 300)
{
    struct pair p;
    struct pair_out out;
    memset(&p, 0, sizeof(p));
    p.name = testutil_name("a64");
    p.capacity = 1u << 16;
    p.flags = SHMRING_F_ALIGN64;
    p.child_role = SHMRING_PRODUCER;
    stream_opts_init(&p.o);
    p.o.count = stream_scaled(2000000, 4);
    p.o.seed = 0x5eed0009;
    p.o.max_len = 256;
    run_pair(&p, &out);
    assert_no_ipc_objects();
}

PROC_TEST(stream, align64_big_records_wrap_zerocopy, .timeout = 300)
{
    struct pair p;
    struct pair_out out;
    memset(&p, 0, sizeof(p));
    p.name = testutil_name("a64big");
    p.capacity = 4096;
    p.flags = SHMRING_F_ALIGN64;
    p.start_position = UINT64_MAX - 4096 * 8 + 1; /* rounded down to 64; passes 2^64 */
    p.child_role = SHMRING_CONSUMER;
    stream_opts_init(&p.o);
    p.o.count = stream_scaled(40000, 4);
    p.o.seed = 0x5eed000a;
    p.o.max_len = 4096 - 72;
    p.o.api = STREAM_ZC;
    p.o.batch = 4;
    run_pair(&p, &out);
    cr_expect_eq(out.start_pos, (UINT64_MAX - 4096 * 8 + 1) & ~UINT64_C(63), "the ring started at %#" PRIx64,
                 out.start_pos);
    assert_no_ipc_objects();
}

/* Byte positions that pass 2^32 and 2^64 during the stream (they are 64-bit counters compared by
 * difference; cfg.start_position puts them just below the wrap). */
static void positions_wrap(uint64_t start, uint64_t boundary, uint64_t seed)
{
    struct pair p;
    struct pair_out out;
    memset(&p, 0, sizeof(p));
    p.name = testutil_name("wrap64");
    p.capacity = 4096;
    p.start_position = start;
    p.child_role = SHMRING_PRODUCER;
    stream_opts_init(&p.o);
    p.o.count = stream_scaled(300000, 4);
    p.o.seed = seed;
    p.o.max_len = 512;
    p.o.api = STREAM_ZC;
    p.o.batch = 8;
    run_pair(&p, &out);
    cr_expect_eq(out.start_pos, start & ~UINT64_C(7), "the ring started at %#" PRIx64, out.start_pos);
    cr_expect_gt(out.end_pos - out.start_pos, boundary - start, "positions did not pass %#" PRIx64 ": %#" PRIx64
                 " .. %#" PRIx64, boundary, out.start_pos, out.end_pos);
}

PROC_TEST(stream, positions_pass_2_64, .timeout = 300)
{
    positions_wrap(UINT64_MAX - 3 * 4096 + 1, 0, 0x5eed0007);
    assert_no_ipc_objects();
}

PROC_TEST(stream, positions_pass_2_32, .timeout = 300)
{
    positions_wrap((UINT64_C(1) << 32) - 3 * 4096 + 8, UINT64_C(1) << 32, 0x5eed0008);
    assert_no_ipc_objects();
}

/* The smallest form of what big_records_wrap runs into. A 4 KiB ring holds a 1500-byte record
 * (1512 bytes with its header) that the consumer has not read yet; the producer asks push_wait for
 * a 2931-byte record. It cannot go at offset 1512 (it would straddle the end), so it needs padding
 * to the end (2584 bytes) and then goes at offset 0 once the consumer has read the first record.
 * Nothing is reserved and uncommitted, so this is an ordinary wait for space: the consumer reads
 * both records 200 ms later. Expected: push_wait returns 0 and both records arrive. */
struct wrap_args {
    const char *name;
};

static int wrap_producer(void *arg, struct proc_result *res)
{
    const struct wrap_args *a = arg;
    static uint8_t buf[4096];
    struct shmring_spsc *r = NULL;
    int err = shmring_spsc_open(a->name, SHMRING_PRODUCER, &r);
    if (err) {
        snprintf(res->msg, sizeof(res->msg), "open: %s", shmring_err_name(err));
        return 1;
    }
    testutil_fill(buf, 1500, 1);
    err = shmring_spsc_push_wait(r, buf, 1500, 5 * SEC);
    if (err == 0) {
        testutil_fill(buf, 2931, 2);
        res->t_ns[0] = testutil_now_ns();
        err = shmring_spsc_push_wait(r, buf, 2931, 5 * SEC);
        res->t_ns[1] = testutil_now_ns();
    }
    res->err = err;
    if (err)
        snprintf(res->msg, sizeof(res->msg), "push_wait of the 2931-byte record returned %s after %.3f s",
                 shmring_err_name(err), (double)(res->t_ns[1] - res->t_ns[0]) / 1e9);
    shmring_spsc_close(r);
    return err ? 1 : 0;
}

PROC_TEST(stream, wrapping_record_waits_for_space, .timeout = 30)
{
    struct shmring_config cfg;
    struct shmring_spsc *c = NULL;
    struct proc_child child;
    struct proc_result res;
    struct wrap_args a = {testutil_name("wrap")};
    static uint8_t buf[4096];
    ssize_t n1 = 0, n2 = 0, n3 = 0;
    int err, status;

    shmring_config_init(&cfg);
    cfg.capacity = 4096;
    cr_assert_eq(shmring_spsc_create(a.name, &cfg), 0);
    proc_track_ring(a.name);
    err = shmring_spsc_open(a.name, SHMRING_CONSUMER, &c);
    cr_assert_eq(err, 0, "open: %s", shmring_err_name(err));
    cr_assert_eq(proc_spawn(&child, wrap_producer, &a), 0);
    proc_sleep_ns(200 * MSEC);
    n1 = shmring_spsc_pop_wait(c, buf, sizeof(buf), 5 * SEC);
    if (n1 == 1500)
        n2 = shmring_spsc_pop_wait(c, buf, sizeof(buf), 5 * SEC);
    if (n2 == 2931)
        n3 = shmring_spsc_pop_wait(c, buf, sizeof(buf), 5 * SEC);
    status = proc_join(&child, 10 * SEC, &res);
    shmring_spsc_close(c);
    cr_assert_eq(shmring_unlink(a.name), 0);
    proc_untrack_ring(a.name);
    cr_expect_eq(status, 0, "producer: %s", res.msg);
    cr_expect_eq(n1, 1500, "first pop_wait returned %zd", n1);
    cr_expect_eq(n2, 2931, "second pop_wait returned %zd (%s)", n2, n2 < 0 ? shmring_err_name((int)n2) : "");
    cr_expect(n2 != 2931 || testutil_check_fill(buf, 2931, 2), "the 2931-byte record is damaged");
    cr_expect_eq(n3, -EPIPE, "third pop_wait returned %zd, expected -EPIPE", n3);
    assert_no_ipc_objects();
}
