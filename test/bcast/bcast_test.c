/* Broadcast ring: one producer, consumer processes that each see every record. Records are
 * 16 bytes: their position and its complement, so a consumer checks order, gaps and tearing.
 * Every test is bounded by wall time (children are killed past a deadline, never waited for
 * without limit) and asserts protocol invariants only, never timing ratios. */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shmring/shmring.h"
#include "testutil.h"

#define SEC (1000 * 1000 * 1000LL)
#define CHILD_BOUND (120 * SEC) /* a child that runs longer is killed: the test fails, never hangs */

enum { EXIT_OK = 0, EXIT_OPEN = 10, EXIT_ORDER = 11, EXIT_TORN = 12, EXIT_COUNT = 13, EXIT_RING = 14 };

struct rec {
    uint64_t pos, inv;
};

static void rec_make(struct rec *r, uint64_t pos)
{
    r->pos = pos;
    r->inv = ~pos;
}

static void make_ring(const char *name, uint64_t cap, uint32_t flags)
{
    struct shmring_config cfg;
    shmring_config_init(&cfg);
    cfg.capacity = cap;
    cfg.slot_size = sizeof(struct rec);
    cfg.flags = flags;
    cr_assert_eq(shmring_bcast_create(name, &cfg), 0);
}

static void write_byte(int fd, char c)
{
    if (write(fd, &c, 1) != 1)
        _exit(EXIT_RING);
}

static char read_byte(int fd)
{
    char c = 0;
    if (read(fd, &c, 1) != 1)
        return 0;
    return c;
}

/* A consumer process: opens (flags), says 'o' on ready_fd, optionally waits for a byte on go_fd,
 * then reads to end of stream. Every record must be the next position, or (lossy) the position
 * after the ones counted lost: pos == start + received + lost. It expects `expect` records
 * accounted for (received + lost), and in BLOCK mode none lost. sleep_every: sleeps 1 ms after
 * that many records (0: never), a slow consumer. */
struct consumer_args {
    const char *name;
    uint32_t flags;
    int ready_fd, go_fd;
    uint64_t start, expect;
    unsigned sleep_every;
    int lossy;
    int out_fd; /* if >= 0: receives the received and lost counts */
};

static int consumer_main(const struct consumer_args *a)
{
    struct shmring_bcast *b;
    uint64_t received = 0;
    struct rec r;
    ssize_t n;
    if (shmring_bcast_open(a->name, SHMRING_CONSUMER, a->flags, &b) != 0)
        return EXIT_OPEN;
    write_byte(a->ready_fd, 'o');
    if (a->go_fd >= 0 && read_byte(a->go_fd) != 'g')
        return EXIT_RING;
    for (;;) {
        n = shmring_bcast_pop_wait(b, &r, sizeof(r), 30 * SEC);
        if (n == -ENOBUFS) {
            if (!a->lossy)
                return EXIT_COUNT;
            continue;
        }
        if (n == -EPIPE)
            break;
        if (n != (ssize_t)sizeof(r))
            return EXIT_RING;
        if (r.inv != ~r.pos)
            return EXIT_TORN;
        if (r.pos != a->start + received + shmring_bcast_lost(b))
            return EXIT_ORDER;
        received++;
        if (a->sleep_every && received % a->sleep_every == 0)
            usleep(1000);
    }
    if (a->out_fd >= 0) {
        uint64_t v[2] = {received, shmring_bcast_lost(b)};
        if (write(a->out_fd, v, sizeof(v)) != (ssize_t)sizeof(v))
            return EXIT_RING;
    }
    if (received + shmring_bcast_lost(b) != a->expect || (!a->lossy && shmring_bcast_lost(b) != 0))
        return EXIT_COUNT;
    shmring_bcast_close(b);
    return EXIT_OK;
}

static pid_t spawn_consumer(const struct consumer_args *a)
{
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0)
        _exit(consumer_main(a));
    return pid;
}

/* Producer in this process: n records from position `from`, blocking. */
static void produce(struct shmring_bcast *p, uint64_t from, uint64_t n)
{
    struct rec r;
    uint64_t i;
    for (i = 0; i < n; i++) {
        rec_make(&r, from + i);
        cr_assert_eq(shmring_bcast_push_wait(p, &r, sizeof(r), 30 * SEC), 0, "record %llu",
                     (unsigned long long)(from + i));
    }
}

static void finish(const char *name)
{
    cr_expect_eq(shmring_unlink(name), 0);
    cr_expect_eq(testutil_ipc_objects(), 0, "System V objects left");
}

/* 1 producer, 4 consumer processes, 1e6 records each, every one in order (BLOCK), none lost. */
static void many_consumers(uint32_t flags, uint64_t cap, uint64_t n, int lossy)
{
    const char *name = testutil_name("many");
    struct shmring_bcast *p;
    pid_t pid[4];
    int ready[2], i;
    int64_t t0;
    make_ring(name, cap, flags);
    cr_assert_eq(pipe(ready), 0);
    for (i = 0; i < 4; i++) {
        struct consumer_args a = {name, SHMRING_BCAST_OLDEST, ready[1], -1, 0, n, 0, lossy, -1};
        pid[i] = spawn_consumer(&a);
    }
    for (i = 0; i < 4; i++)
        cr_assert_eq(read_byte(ready[0]), 'o');
    cr_assert_eq(shmring_bcast_open(name, SHMRING_PRODUCER, 0, &p), 0);
    cr_assert_eq(shmring_bcast_consumers(p), 4);
    t0 = testutil_now_ns();
    produce(p, 0, n);
    cr_assert_eq(shmring_bcast_close(p), 0);
    for (i = 0; i < 4; i++) {
        int st = testutil_wait_timeout(pid[i], CHILD_BOUND);
        cr_assert_eq(st, EXIT_OK, "consumer %d exit %d", i, st);
    }
    cr_log_info("%llu records to 4 consumers in %.1f ms (loaded machine: no figure)", (unsigned long long)n,
                (double)(testutil_now_ns() - t0) / 1e6);
    close(ready[0]);
    close(ready[1]);
    finish(name);
}

Test(bcast, block_four_consumers_million, .timeout = 300)
{
    many_consumers(0, 1024, 1000000, 0);
}

/* LOSSY: each consumer's received + lost == produced, records in order, untorn. */
Test(bcast, lossy_four_consumers_million, .timeout = 300)
{
    many_consumers(SHMRING_F_LOSSY, 64, 1000000, 1);
}

/* A consumer killed (SIGKILL) while it holds the ring full does not block a BLOCK producer past
 * the liveness bound; a second, live consumer still gets everything. */
Test(bcast, killed_consumer_frees_block_producer, .timeout = 120)
{
    const char *name = testutil_name("kill");
    struct shmring_bcast *p;
    struct rec r;
    int ready[2], go[2];
    pid_t victim, live;
    int64_t t0, dt;
    make_ring(name, 64, 0);
    cr_assert_eq(pipe(ready), 0);
    cr_assert_eq(pipe(go), 0);
    victim = fork();
    cr_assert_neq(victim, -1);
    if (victim == 0) {
        struct shmring_bcast *b;
        const void *buf;
        size_t len;
        if (shmring_bcast_open(name, SHMRING_CONSUMER, SHMRING_BCAST_OLDEST, &b) != 0)
            _exit(EXIT_OPEN);
        /* Mid-read: one record peeked and never released. */
        if (shmring_bcast_peek_wait(b, &buf, &len, 30 * SEC) != 0)
            _exit(EXIT_RING);
        write_byte(ready[1], 'o');
        for (;;)
            pause();
    }
    {
        struct consumer_args a = {name, SHMRING_BCAST_OLDEST, ready[1], go[0], 0, 200, 0, 0, -1};
        live = spawn_consumer(&a);
    }
    cr_assert_eq(read_byte(ready[0]), 'o');
    cr_assert_eq(shmring_bcast_open(name, SHMRING_PRODUCER, 0, &p), 0);
    rec_make(&r, 0);
    cr_assert_eq(shmring_bcast_push(p, &r, sizeof(r)), 0);
    cr_assert_eq(read_byte(ready[0]), 'o'); /* the victim peeked record 0 */
    produce(p, 1, 63);
    rec_make(&r, 64);
    cr_assert_eq(shmring_bcast_push(p, &r, sizeof(r)), -EAGAIN, "full: both consumers hold it");
    write_byte(go[1], 'g'); /* the live one drains; the victim still holds record 0 */
    cr_assert_eq(shmring_bcast_push_wait(p, &r, sizeof(r), 0), -EAGAIN);
    t0 = testutil_now_ns();
    cr_assert_eq(testutil_kill_wait(victim), 128 + SIGKILL);
    cr_assert_eq(shmring_bcast_push_wait(p, &r, sizeof(r), 5 * SEC), 0, "producer still blocked by a dead consumer");
    dt = testutil_now_ns() - t0;
    cr_log_info("producer went on %.2f ms after the kill", (double)dt / 1e6);
    cr_assert_lt(dt, 2 * SEC);
    produce(p, 65, 135);
    cr_assert_eq(shmring_bcast_consumers(p), 1);
    cr_assert_eq(shmring_bcast_close(p), 0);
    cr_assert_eq(testutil_wait_timeout(live, CHILD_BOUND), EXIT_OK);
    finish(name);
}

/* The same with the producer asleep in push_wait when the consumer dies: it is woken (the death
 * rings its doorbell) or finds it at its next liveness look. */
Test(bcast, killed_consumer_wakes_sleeping_producer, .timeout = 120)
{
    const char *name = testutil_name("killsleep");
    struct shmring_bcast *p;
    struct rec r;
    int ready[2];
    pid_t victim, killer;
    int64_t t0, dt;
    make_ring(name, 16, 0);
    cr_assert_eq(pipe(ready), 0);
    victim = fork();
    cr_assert_neq(victim, -1);
    if (victim == 0) {
        struct shmring_bcast *b;
        if (shmring_bcast_open(name, SHMRING_CONSUMER, SHMRING_BCAST_OLDEST, &b) != 0)
            _exit(EXIT_OPEN);
        write_byte(ready[1], 'o');
        for (;;)
            pause();
    }
    cr_assert_eq(read_byte(ready[0]), 'o');
    cr_assert_eq(shmring_bcast_open(name, SHMRING_PRODUCER, 0, &p), 0);
    produce(p, 0, 16);
    killer = fork();
    cr_assert_neq(killer, -1);
    if (killer == 0) {
        usleep(300 * 1000); /* the producer is asleep by now (or spinning: the bound holds too) */
        kill(victim, SIGKILL);
        _exit(0);
    }
    t0 = testutil_now_ns();
    rec_make(&r, 16);
    shmring_bcast_set_spin(p, 0);
    cr_assert_eq(shmring_bcast_push_wait(p, &r, sizeof(r), 10 * SEC), 0);
    dt = testutil_now_ns() - t0;
    cr_log_info("sleeping producer went on %.2f ms after the wait began (kill at +300 ms)", (double)dt / 1e6);
    cr_assert_lt(dt, 3 * SEC);
    {
        int ks = testutil_wait_timeout(killer, CHILD_BOUND), vs = testutil_wait_timeout(victim, CHILD_BOUND);
        cr_assert_eq(ks, 0, "killer status %d", ks);
        cr_assert_eq(vs, 128 + SIGKILL, "victim status %d", vs);
    }
    cr_assert_eq(shmring_bcast_close(p), 0);
    finish(name);
}

/* A slow consumer. BLOCK: it holds the producer (full after one ring) and then gets every record.
 * LOSSY: the producer never waits; a consumer that starts reading only after the producer is done
 * gets at most a ring's worth, and counts the rest as lost. */
Test(bcast, slow_consumer_block, .timeout = 120)
{
    const char *name = testutil_name("slowb");
    struct shmring_bcast *p;
    struct rec r;
    int ready[2], go[2];
    pid_t slow;
    make_ring(name, 64, 0);
    cr_assert_eq(pipe(ready), 0);
    cr_assert_eq(pipe(go), 0);
    {
        struct consumer_args a = {name, SHMRING_BCAST_OLDEST, ready[1], go[0], 0, 5000, 100, 0, -1};
        slow = spawn_consumer(&a);
    }
    cr_assert_eq(read_byte(ready[0]), 'o');
    cr_assert_eq(shmring_bcast_open(name, SHMRING_PRODUCER, 0, &p), 0);
    produce(p, 0, 64);
    rec_make(&r, 64);
    cr_assert_eq(shmring_bcast_push(p, &r, sizeof(r)), -EAGAIN);
    cr_assert_eq(shmring_bcast_push_wait(p, &r, sizeof(r), 50 * 1000 * 1000LL), -ETIMEDOUT);
    write_byte(go[1], 'g');
    produce(p, 64, 5000 - 64);
    cr_assert_eq(shmring_bcast_close(p), 0);
    cr_assert_eq(testutil_wait_timeout(slow, CHILD_BOUND), EXIT_OK);
    finish(name);
}

Test(bcast, slow_consumer_lossy, .timeout = 120)
{
    const char *name = testutil_name("slowl");
    struct shmring_bcast *p;
    uint64_t v[2];
    int ready[2], go[2], out[2];
    pid_t slow;
    make_ring(name, 64, SHMRING_F_LOSSY);
    cr_assert_eq(pipe(ready), 0);
    cr_assert_eq(pipe(go), 0);
    cr_assert_eq(pipe(out), 0);
    {
        struct consumer_args a = {name, SHMRING_BCAST_OLDEST, ready[1], go[0], 0, 5000, 100, 1, out[1]};
        slow = spawn_consumer(&a);
    }
    cr_assert_eq(read_byte(ready[0]), 'o');
    cr_assert_eq(shmring_bcast_open(name, SHMRING_PRODUCER, 0, &p), 0);
    produce(p, 0, 5000); /* never waits: the push_wait timeout is never reached */
    cr_assert_eq(shmring_bcast_close(p), 0);
    write_byte(go[1], 'g');
    cr_assert_eq(read(out[0], v, sizeof(v)), (ssize_t)sizeof(v));
    cr_assert_eq(testutil_wait_timeout(slow, CHILD_BOUND), EXIT_OK);
    cr_log_info("slow lossy consumer: %llu received, %llu lost", (unsigned long long)v[0], (unsigned long long)v[1]);
    cr_assert_leq(v[0], 64);
    cr_assert_eq(v[0] + v[1], 5000);
    finish(name);
}

/* Join at the newest record (default) or the oldest still present, both policies. */
static void join_case(uint32_t flags, uint64_t produced, uint64_t want_oldest)
{
    const char *name = testutil_name("join");
    struct shmring_bcast *p, *old, *newest;
    struct rec r;
    make_ring(name, 16, flags);
    cr_assert_eq(shmring_bcast_open(name, SHMRING_PRODUCER, 0, &p), 0);
    produce(p, 0, produced);
    cr_assert_eq(shmring_bcast_open(name, SHMRING_CONSUMER, SHMRING_BCAST_OLDEST, &old), 0);
    cr_assert_eq(shmring_bcast_open(name, SHMRING_CONSUMER, 0, &newest), 0);
    cr_assert_eq(shmring_bcast_pop(old, &r, sizeof(r)), (ssize_t)sizeof(r));
    cr_assert_eq(r.pos, want_oldest);
    cr_assert_eq(shmring_bcast_pop(newest, &r, sizeof(r)), (ssize_t)sizeof(r));
    cr_assert_eq(r.pos, produced - 1);
    cr_assert_eq(shmring_bcast_pop(newest, &r, sizeof(r)), -EAGAIN);
    produce(p, produced, 3);
    cr_assert_eq(shmring_bcast_pop(newest, &r, sizeof(r)), (ssize_t)sizeof(r));
    cr_assert_eq(r.pos, produced);
    cr_assert_eq(shmring_bcast_close(p), 0);
    cr_assert_eq(shmring_bcast_pop(newest, &r, sizeof(r)), (ssize_t)sizeof(r));
    cr_assert_eq(shmring_bcast_pop(newest, &r, sizeof(r)), (ssize_t)sizeof(r));
    cr_assert_eq(r.pos, produced + 2);
    cr_assert_eq(shmring_bcast_pop(newest, &r, sizeof(r)), -EPIPE);
    cr_assert_eq(shmring_bcast_close(old), 0);
    cr_assert_eq(shmring_bcast_close(newest), 0);
    finish(name);
}

Test(bcast, join_block)
{
    join_case(0, 10, 0);
}

Test(bcast, join_lossy_after_laps)
{
    join_case(SHMRING_F_LOSSY, 40, 40 - 16);
}

/* Zero-copy: several records peeked, validated and released together. */
Test(bcast, peek_release_batch)
{
    const char *name = testutil_name("peek");
    struct shmring_bcast *p, *c;
    const void *buf[4];
    size_t len;
    int i;
    make_ring(name, 16, 0);
    cr_assert_eq(shmring_bcast_open(name, SHMRING_CONSUMER, SHMRING_BCAST_OLDEST, &c), 0);
    cr_assert_eq(shmring_bcast_open(name, SHMRING_PRODUCER, 0, &p), 0);
    produce(p, 0, 16);
    for (i = 0; i < 4; i++) {
        cr_assert_eq(shmring_bcast_peek(c, &buf[i], &len), 0);
        cr_assert_eq(len, sizeof(struct rec));
        cr_assert_eq(((const struct rec *)buf[i])->pos, (uint64_t)i);
    }
    cr_assert_eq(shmring_bcast_push(p, buf[0], len), -EAGAIN, "nothing released yet");
    cr_assert_eq(shmring_bcast_validate(c), 0);
    cr_assert_eq(shmring_bcast_release(c), 4);
    produce(p, 16, 4);
    cr_assert_eq(shmring_bcast_close(p), 0);
    cr_assert_eq(shmring_bcast_close(c), 0);
    finish(name);
}

Test(bcast, bad_inputs)
{
    const char *name = testutil_name("bad");
    struct shmring_config cfg;
    struct shmring_bcast *p, *c[SHMRING_BCAST_CONSUMERS], *x = (struct shmring_bcast *)1;
    struct rec r[2];
    unsigned i;
    shmring_config_init(&cfg);
    cfg.slot_size = 16;
    cfg.capacity = 3;
    cr_assert_eq(shmring_bcast_create(name, &cfg), -EINVAL);
    cfg.capacity = 2;
    cr_assert_eq(shmring_bcast_create(name, &cfg), -EINVAL);
    cfg.capacity = 16;
    cfg.slot_size = 0;
    cr_assert_eq(shmring_bcast_create(name, &cfg), -EINVAL);
    cfg.slot_size = SHMRING_BCAST_SLOT_MAX + 1;
    cr_assert_eq(shmring_bcast_create(name, &cfg), -EINVAL);
    cfg.slot_size = 16;
    cfg.flags = 0x80000000u;
    cr_assert_eq(shmring_bcast_create(name, &cfg), -EINVAL);
    cfg.flags = 0;
    cr_assert_eq(shmring_bcast_create(NULL, &cfg), -EINVAL);
    cr_assert_eq(shmring_bcast_open(name, SHMRING_CONSUMER, 0, &x), -ENOENT);
    cr_assert_null(x);
    /* LOSSY means something only for broadcast rings. */
    cfg.flags = SHMRING_F_LOSSY;
    cr_assert_eq(shmring_mpmc_create(name, &cfg), -EINVAL);
    cfg.flags = 0;

    cr_assert_eq(shmring_bcast_create(name, &cfg), 0);
    cr_assert_eq(shmring_bcast_create(name, &cfg), -EEXIST);
    cr_assert_eq(shmring_bcast_open(name, (enum shmring_role)7, 0, &p), -EINVAL);
    cr_assert_eq(shmring_bcast_open(name, SHMRING_PRODUCER, SHMRING_BCAST_OLDEST, &p), -EINVAL);
    cr_assert_eq(shmring_bcast_open(name, SHMRING_CONSUMER, 0x10, &p), -EINVAL);
    cr_assert_eq(shmring_bcast_open(name, SHMRING_CONSUMER, 0, NULL), -EINVAL);
    {
        struct shmring_mpmc *q;
        struct shmring_spsc *s;
        cr_assert_eq(shmring_mpmc_open(name, SHMRING_PRODUCER, &q), -EPROTONOSUPPORT);
        cr_assert_eq(shmring_spsc_open(name, SHMRING_PRODUCER, &s), -EPROTONOSUPPORT);
    }
    cr_assert_eq(shmring_bcast_open(name, SHMRING_PRODUCER, 0, &p), 0);
    cr_assert_eq(shmring_bcast_open(name, SHMRING_PRODUCER, 0, &x), -EBUSY);
    cr_assert_eq(shmring_bcast_push(p, r, sizeof(r)), -EMSGSIZE);
    for (i = 0; i < SHMRING_BCAST_CONSUMERS; i++)
        cr_assert_eq(shmring_bcast_open(name, SHMRING_CONSUMER, 0, &c[i]), 0, "consumer %u", i);
    cr_assert_eq(shmring_bcast_open(name, SHMRING_CONSUMER, 0, &x), -EUSERS, "table full");
    cr_assert_eq(shmring_bcast_consumers(p), (int)SHMRING_BCAST_CONSUMERS);
    cr_assert_eq(shmring_bcast_close(c[5]), 0);
    cr_assert_eq(shmring_bcast_open(name, SHMRING_CONSUMER, 0, &c[5]), 0, "a freed entry is taken again");
    for (i = 0; i < SHMRING_BCAST_CONSUMERS; i++)
        cr_assert_eq(shmring_bcast_close(c[i]), 0);
    cr_assert_eq(shmring_bcast_close(p), 0);
    cr_assert_eq(shmring_unlink(name), 0);

    /* A broadcast open of another kind of ring. */
    cr_assert_eq(shmring_mpmc_create(name, &cfg), 0);
    cr_assert_eq(shmring_bcast_open(name, SHMRING_CONSUMER, 0, &x), -EPROTONOSUPPORT);
    finish(name);
}

/* A producer killed (SIGKILL) is end of stream: a consumer gets every record it published, then
 * -EPIPE from the blocking pop, within the wait's bound. */
Test(bcast, killed_producer_is_end_of_stream, .timeout = 120)
{
    const char *name = testutil_name("pkill");
    struct shmring_bcast *c;
    struct rec r;
    int ready[2];
    uint64_t i;
    pid_t prod;
    ssize_t n;
    make_ring(name, 64, 0);
    cr_assert_eq(pipe(ready), 0);
    cr_assert_eq(shmring_bcast_open(name, SHMRING_CONSUMER, SHMRING_BCAST_OLDEST, &c), 0);
    prod = fork();
    cr_assert_neq(prod, -1);
    if (prod == 0) {
        struct shmring_bcast *p;
        if (shmring_bcast_open(name, SHMRING_PRODUCER, 0, &p) != 0)
            _exit(EXIT_OPEN);
        for (i = 0; i < 40; i++) {
            rec_make(&r, i);
            if (shmring_bcast_push(p, &r, sizeof(r)) != 0)
                _exit(EXIT_RING);
        }
        write_byte(ready[1], 'p');
        for (;;)
            pause();
    }
    cr_assert_eq(read_byte(ready[0]), 'p');
    cr_assert_eq(testutil_kill_wait(prod), 128 + SIGKILL);
    for (i = 0; i < 40; i++) {
        cr_assert_eq(shmring_bcast_pop_wait(c, &r, sizeof(r), 5 * SEC), (ssize_t)sizeof(r));
        cr_assert_eq(r.pos, i);
    }
    n = shmring_bcast_pop_wait(c, &r, sizeof(r), 5 * SEC);
    cr_assert_eq(n, -EPIPE, "got %zd", n);
    cr_assert_eq(shmring_bcast_close(c), 0);
    finish(name);
}
