/* shmring_spsc_event_fd: an eventfd readable when the ring has data, for epoll loops (issue 14 part 2). */
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "spsc_test.h"

SPSC_SUITE(event);

static int readable(int fd, int ms)
{
    struct pollfd p = {fd, POLLIN, 0};
    return poll(&p, 1, ms) == 1 && (p.revents & POLLIN);
}

SPSC_TEST(event, bad_input)
{
    struct shmring_spsc *p, *c;
    int fd = -1;
    SPSC_EQ(shmring_spsc_pipe(NULL, &p, &c), 0);
    SPSC_EQ(shmring_spsc_event_fd(p, &fd), -EINVAL);
    SPSC_EQ(shmring_spsc_event_fd(NULL, &fd), -EINVAL);
    SPSC_EQ(shmring_spsc_event_fd(c, NULL), -EINVAL);
    SPSC_EQ(shmring_spsc_event_rearm(c), -EINVAL); /* no event fd yet */
    SPSC_EQ(shmring_spsc_event_rearm(p), -EINVAL);
    SPSC_EQ(shmring_spsc_event_rearm(NULL), -EINVAL);
    SPSC_EQ(fd, -1);
    SPSC_EQ(shmring_spsc_close(c), 0);
    SPSC_EQ(shmring_spsc_close(p), 0);
}

/* Readable within a bound after a push to an empty ring, not while drained, and at end of stream. */
SPSC_TEST(event, readable_on_data_and_eos)
{
    struct shmring_spsc *p, *c;
    char buf[64];
    int fd, fd2, i;
    SPSC_EQ(shmring_spsc_pipe(NULL, &p, &c), 0);
    SPSC_EQ(shmring_spsc_event_fd(c, &fd), 0);
    SPSC_EQ(shmring_spsc_event_fd(c, &fd2), 0);
    SPSC_EQ(fd2, fd);
    for (i = 0; i < 20; i++) {
        int64_t t0;
        cr_assert(!readable(fd, i == 0 ? 200 : 20), "readable while the ring is empty (round %d)", i);
        t0 = testutil_now_ns();
        SPSC_EQ(shmring_spsc_push(p, "hello", 5), 0);
        cr_assert(readable(fd, 2000), "not readable 2 s after a push (round %d)", i);
        cr_assert(testutil_now_ns() - t0 < 2000000000LL);
        SPSC_EQ(shmring_spsc_pop(c, buf, sizeof(buf)), 5);
        SPSC_EQ(shmring_spsc_pop(c, buf, sizeof(buf)), -EAGAIN);
        SPSC_EQ(shmring_spsc_event_rearm(c), 0);
    }
    /* Data pushed before the rearm is seen at once. */
    SPSC_EQ(shmring_spsc_push(p, "x", 1), 0);
    cr_assert(readable(fd, 2000));
    SPSC_EQ(shmring_spsc_pop(c, buf, sizeof(buf)), 1);
    SPSC_EQ(shmring_spsc_pop(c, buf, sizeof(buf)), -EAGAIN);
    SPSC_EQ(shmring_spsc_event_rearm(c), 0);
    cr_assert(!readable(fd, 200), "readable while drained and nothing pushed");
    SPSC_EQ(shmring_spsc_close(p), 0);
    cr_assert(readable(fd, 2000), "end of stream did not make the fd readable");
    SPSC_EQ(shmring_spsc_pop(c, buf, sizeof(buf)), -EPIPE);
    SPSC_EQ(shmring_spsc_close(c), 0);
}

#define N_RECORDS 20000

/* A child producing N_RECORDS sequence numbers, pausing now and then so the ring runs empty. */
static pid_t spawn_producer(struct shmring_spsc *p, struct shmring_spsc *c, int sock)
{
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        uint64_t i;
        shmring_spsc_close(c);
        for (i = 0; i < N_RECORDS; i++) {
            if (shmring_spsc_push_wait(p, &i, sizeof(i), 10000000000LL) != 0)
                _exit(2);
            if (i % 1000 == 0)
                usleep(1000);
        }
        if (sock >= 0 && write(sock, "done", 4) != 4)
            _exit(3);
        shmring_spsc_close(p);
        _exit(0);
    }
    return pid;
}

SPSC_TEST(event, epoll_two_rings_and_socket)
{
    struct shmring_spsc *p[2], *c[2];
    uint64_t expect[2] = {0, 0}, v;
    int sv[2], fd[2], ep, k, eos = 0, sock_done = 0, status;
    pid_t pid[2];
    int64_t end = testutil_now_ns() + 30000000000LL;
    cr_assert(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    for (k = 0; k < 2; k++) {
        SPSC_EQ(shmring_spsc_pipe(NULL, &p[k], &c[k]), 0);
        pid[k] = spawn_producer(p[k], c[k], k == 0 ? sv[1] : -1);
        SPSC_EQ(shmring_spsc_close(p[k]), 0);
    }
    close(sv[1]);
    ep = epoll_create1(EPOLL_CLOEXEC);
    cr_assert(ep >= 0);
    for (k = 0; k < 2; k++) {
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)k};
        SPSC_EQ(shmring_spsc_event_fd(c[k], &fd[k]), 0);
        cr_assert(epoll_ctl(ep, EPOLL_CTL_ADD, fd[k], &ev) == 0);
    }
    {
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = 2};
        cr_assert(epoll_ctl(ep, EPOLL_CTL_ADD, sv[0], &ev) == 0);
    }
    while (eos < 2 || !sock_done) {
        struct epoll_event evs[3];
        int n = epoll_wait(ep, evs, 3, 5000), i;
        cr_assert(n > 0, "nothing readable for 5 s (ends of stream %d, socket %d)", eos, sock_done);
        cr_assert(testutil_now_ns() < end, "over 30 s");
        for (i = 0; i < n; i++) {
            uint32_t id = evs[i].data.u32;
            ssize_t got;
            if (id == 2) {
                char b[8];
                got = read(sv[0], b, sizeof(b));
                if (got == 0) {
                    epoll_ctl(ep, EPOLL_CTL_DEL, sv[0], NULL);
                    sock_done = 1;
                }
                continue;
            }
            while ((got = shmring_spsc_pop(c[id], &v, sizeof(v))) == (ssize_t)sizeof(v)) {
                cr_assert(v == expect[id], "ring %u: got %" PRIu64 ", expected %" PRIu64, id, v, expect[id]);
                expect[id]++;
            }
            if (got == -EPIPE) {
                epoll_ctl(ep, EPOLL_CTL_DEL, fd[id], NULL);
                eos++;
                continue;
            }
            SPSC_EQ(got, -EAGAIN);
            SPSC_EQ(shmring_spsc_event_rearm(c[id]), 0);
        }
    }
    for (k = 0; k < 2; k++) {
        SPSC_EQ(expect[k], N_RECORDS);
        status = testutil_wait(pid[k]);
        SPSC_EQ(status, 0);
        SPSC_EQ(shmring_spsc_close(c[k]), 0);
    }
    close(ep);
    close(sv[0]);
}
