/* SPSC lazy release: the consumer's exact position (cons.pos) moves at every release, the space it
 * hands the producer (freed.pos) at the points shmring_spsc_release() documents: a quarter of the
 * ring or SHMRING_SPSC_PUBLISH_BYTES released, the ring found empty, the producer asleep, padding,
 * close, and the attach of a successor consumer; a producer about to sleep reads cons.pos itself.
 * Each test checks one of them and that no record and no byte of space is lost. */
#include <pthread.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "spsc_test.h"

SPSC_SUITE(lazy);

static uint64_t freed_pos(const struct shmring_spsc *r)
{
    return shmring__load(&r->hdr->freed.pos, acquire);
}

/* Fills a 4 KiB ring with 120-byte records (128 bytes each); returns how many. */
static unsigned fill_128(struct shmring_spsc *p, uint64_t first_seq)
{
    unsigned n = 0;
    void *buf = NULL;
    while (n < 64 && shmring_spsc_reserve(p, 120, &buf) == 0) {
        rec_fill(buf, 120, first_seq + n);
        SPSC_EQ(shmring_spsc_commit(p), 1);
        n++;
    }
    return n;
}

/* A full ring: each pop moves cons.pos at once; the producer gets the space once a quarter of the
 * ring (1 KiB of a 4 KiB ring) is released, in one piece; nothing is lost. */
SPSC_TEST(lazy, full_ring_gets_space_a_quarter_at_a_time)
{
    struct shmring_spsc *p, *c;
    unsigned n, i, more;
    void *buf = NULL;
    spsc_pipe(4096, &p, &c);
    SPSC_EQU(c->publish_every, 1024);
    n = fill_128(p, 0);
    SPSC_EQ(n, 31); /* 31 * 128 + 8 <= 4096 */
    for (i = 0; i < 7; i++) {
        spsc_pop_rec(c, 120, i);
        SPSC_EQU(spsc_cons_pos(c), 128 * (i + 1));
        SPSC_EQU(freed_pos(c), 0);
        SPSC_EQ(shmring_spsc_reserve(p, 120, &buf), -EAGAIN);
    }
    spsc_pop_rec(c, 120, 7); /* 8 * 128 = 1024 released */
    SPSC_EQU(freed_pos(c), 1024);
    more = fill_128(p, n);
    SPSC_EQ(more, 8);
    for (i = 8; i < n + more; i++)
        spsc_pop_rec(c, 120, i);
    SPSC_EQU(spsc_cons_pos(c), spsc_prod_pos(p));
    spsc_close_pair(p, c);
}

/* A consumer that finds the ring empty hands back everything it released, whatever the amount. */
SPSC_TEST(lazy, empty_ring_hands_everything_back)
{
    struct shmring_spsc *p, *c;
    const void *b = NULL;
    size_t len = 0;
    spsc_pipe(1 << 20, &p, &c);
    SPSC_EQU(c->publish_every, SHMRING_SPSC_PUBLISH_BYTES);
    spsc_push_rec(p, 40, 1);
    spsc_push_rec(p, 40, 2);
    spsc_pop_rec(c, 40, 1);
    SPSC_EQU(freed_pos(c), 0);
    spsc_pop_rec(c, 40, 2);
    SPSC_EQU(freed_pos(c), 0);
    SPSC_EQU(spsc_cons_pos(c), 96);
    SPSC_EQ(shmring_spsc_peek(c, &b, &len), -EAGAIN);
    SPSC_EQU(freed_pos(c), 96);
    /* Peeked but not released is not handed back. */
    spsc_push_rec(p, 40, 3);
    SPSC_EQ(shmring_spsc_peek(c, &b, &len), 0);
    SPSC_EQ(shmring_spsc_peek(c, &b, &len), -EAGAIN);
    SPSC_EQU(freed_pos(c), 96);
    SPSC_EQ(shmring_spsc_release(c), 1);
    SPSC_EQ(shmring_spsc_peek(c, &b, &len), -EAGAIN);
    SPSC_EQU(freed_pos(c), 144);
    spsc_close_pair(p, c);
}

/* End of stream: the empty peek that returns -EPIPE hands the space back too. */
SPSC_TEST(lazy, end_of_stream_hands_back)
{
    struct shmring_spsc *p, *c;
    const void *b = NULL;
    size_t len = 0;
    spsc_pipe(1 << 16, &p, &c);
    spsc_push_rec(p, 40, 1);
    SPSC_EQ(shmring_spsc_close(p), 0);
    spsc_pop_rec(c, 40, 1);
    SPSC_EQU(freed_pos(c), 0);
    SPSC_EQ(shmring_spsc_peek(c, &b, &len), -EPIPE);
    SPSC_EQU(freed_pos(c), 48);
    SPSC_EQ(shmring_spsc_close(c), 0);
}

/* Closing a consumer hands back what it released; a successor starts after those records. */
SPSC_TEST(lazy, close_hands_back_and_the_successor_continues)
{
    char name[64];
    struct shmring_spsc *p, *c;
    unsigned n, i;
    void *buf = NULL;
    spsc_create(name, "lazyclose", 4096);
    spsc_open_pair(name, &p, &c);
    n = fill_128(p, 0);
    spsc_pop_rec(c, 120, 0);
    spsc_pop_rec(c, 120, 1);
    SPSC_EQ(shmring_spsc_reserve(p, 120, &buf), -EAGAIN);
    SPSC_EQ(shmring_spsc_close(c), 0);
    SPSC_EQU(shmring__load(&p->hdr->freed.pos, acquire), 256);
    SPSC_EQ(fill_128(p, n), 2);
    SPSC_EQ(shmring_spsc_open(name, SHMRING_CONSUMER, &c), 0);
    for (i = 2; i < n + 2; i++)
        spsc_pop_rec(c, 120, i);
    spsc_close_pair(p, c);
    SPSC_EQ(shmring_unlink(name), 0);
}

/* A consumer that dies (a forked child that pops and _exits without closing) after releasing
 * records it had not handed back: the successor starts after them, not at freed.pos, and hands
 * them back when it attaches. */
SPSC_TEST(lazy, successor_of_a_dead_consumer_skips_what_it_released)
{
    char name[64];
    struct shmring_spsc *p, *c;
    unsigned n, i;
    int status = 0;
    pid_t pid;
    spsc_create(name, "lazydead", 4096);
    SPSC_EQ(shmring_spsc_open(name, SHMRING_PRODUCER, &p), 0);
    n = fill_128(p, 0);
    pid = fork();
    cr_assert(pid >= 0, "fork");
    if (pid == 0) {
        const void *b = NULL;
        size_t len = 0;
        int ok = shmring_spsc_open(name, SHMRING_CONSUMER, &c) == 0;
        for (i = 0; ok && i < 3; i++) {
            ok = shmring_spsc_peek(c, &b, &len) == 0 && len == 120 && rec_check(b, len, i) &&
                 shmring_spsc_release(c) == 1;
        }
        ok = ok && shmring__load(&c->hdr->cons.pos, acquire) == 384 && shmring__load(&c->hdr->freed.pos, acquire) == 0;
        _exit(ok ? 0 : 1); /* no close: what a killed consumer leaves */
    }
    SPSC_EQ(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child's pops (status %d)", status);
    SPSC_EQU(shmring__load(&p->hdr->freed.pos, acquire), 0);
    SPSC_EQ(shmring_spsc_open(name, SHMRING_CONSUMER, &c), 0);
    SPSC_EQU(freed_pos(c), 384);
    SPSC_EQ(fill_128(p, n), 3);
    for (i = 3; i < n + 3; i++)
        spsc_pop_rec(c, 120, i);
    spsc_close_pair(p, c);
    SPSC_EQ(shmring_unlink(name), 0);
}

/* A blocking producer that finds the ring full after a release that was not handed back (the
 * producer was not asleep yet) takes the consumer's exact position before it would sleep: it
 * never sleeps while room was freed. */
SPSC_TEST(lazy, blocking_producer_takes_the_exact_position_before_sleeping)
{
    struct shmring_spsc *p, *c;
    uint8_t rec[120];
    unsigned n, i;
    void *buf = NULL;
    spsc_pipe(4096, &p, &c);
    shmring_spsc_set_spin(p, 0);
    n = fill_128(p, 0);
    spsc_pop_rec(c, 120, 0);
    SPSC_EQU(freed_pos(c), 0);
    SPSC_EQ(shmring_spsc_reserve(p, 120, &buf), -EAGAIN); /* the non-blocking call sees freed.pos */
    rec_fill(rec, sizeof(rec), n);
    SPSC_EQ(shmring_spsc_push_wait(p, rec, sizeof(rec), INT64_C(2000000000)), 0);
    SPSC_EQU(shmring__load(&p->hdr->stats.producer_sleeps, relaxed), 0);
    SPSC_EQU(freed_pos(c), 0);
    /* Full again, and nothing more was freed: a wait that must not sleep says so. */
    SPSC_EQ(shmring_spsc_push_wait(p, rec, sizeof(rec), 0), -EAGAIN);
    for (i = 1; i <= n; i++)
        spsc_pop_rec(c, 120, i);
    spsc_close_pair(p, c);
}

struct sleeper {
    struct shmring_spsc *p;
    int rc;
};

static void *push_wait_thread(void *arg)
{
    struct sleeper *s = (struct sleeper *)arg;
    uint8_t rec[120];
    rec_fill(rec, sizeof(rec), 31);
    s->rc = shmring_spsc_push_wait(s->p, rec, sizeof(rec), INT64_C(20000000000));
    return NULL;
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* A producer asleep on a full ring gets the space of a single release: the release sees it asleep
 * and hands the space back with a wake-up. Liveness, bounded by wall time: the push returns well before its 20 s
 * timeout, and the consumer reads nothing more until it has. */
SPSC_TEST(lazy, sleeping_producer_gets_a_single_release)
{
    struct shmring_spsc *p, *c;
    struct sleeper s;
    pthread_t t;
    int64_t deadline;
    unsigned n, i;
    spsc_pipe(4096, &p, &c);
    shmring_spsc_set_spin(p, 0);
    n = fill_128(p, 0);
    s.p = p;
    s.rc = 1;
    SPSC_EQ(pthread_create(&t, NULL, push_wait_thread, &s), 0);
    deadline = now_ns() + 10 * (int64_t)1000000000;
    while (shmring__load(&p->hdr->stats.producer_sleeps, acquire) == 0 && now_ns() < deadline)
        usleep(1000);
    cr_assert(shmring__load(&p->hdr->stats.producer_sleeps, acquire) != 0, "the producer never slept");
    /* Either the release sees it announced and hands the space back (freed.pos 128), or it is
     * between two slices and its next look before sleeping reads cons.pos: it gets the space. */
    spsc_pop_rec(c, 120, 0);
    SPSC_EQ(pthread_join(t, NULL), 0);
    SPSC_EQ(s.rc, 0);
    for (i = 1; i <= n; i++)
        spsc_pop_rec(c, 120, i);
    spsc_close_pair(p, c);
}
