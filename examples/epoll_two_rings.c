/* Waits on two SPSC rings and a socket with one epoll loop (docs/guide.md, "Event loops").
 * Each ring's producer is a child process pushing 1000 numbers; a third child writes the socket.
 * Every child is forked before the first shmring_spsc_event_fd(), which starts a helper thread:
 * a child forked from a process with threads may only call async-signal-safe functions (a lock
 * another thread held at the fork stays locked in the child; an ASan build hung at exit in 2 of 40
 * runs that way). Each child closes the handles it inherited and does not use. */
#include <errno.h>
#include <shmring/shmring.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void)
{
    struct shmring_spsc *prod[2], *cons[2];
    int sv[2], ep = epoll_create1(0), fd, open_ends = 3, k;
    uint64_t got[2] = {0, 0}, v;
    if (ep < 0 || socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
        return 1;
    for (k = 0; k < 2; k++) {
        if (shmring_spsc_pipe(NULL, &prod[k], &cons[k]) != 0)
            return 1;
        if (fork() == 0) { /* producer */
            int j;
            for (j = 0; j <= k; j++)
                shmring_spsc_close(cons[j]);
            for (v = 0; v < 1000; v++)
                shmring_spsc_push_wait(prod[k], &v, sizeof(v), -1);
            return shmring_spsc_close(prod[k]); /* end of stream */
        }
        shmring_spsc_close(prod[k]);
    }
    if (fork() == 0) {
        shmring_spsc_close(cons[0]);
        shmring_spsc_close(cons[1]);
        return write(sv[1], "hi", 2) != 2;
    }
    close(sv[1]);
    for (k = 0; k < 2; k++) {
        shmring_spsc_event_fd(cons[k], &fd);
        epoll_ctl(ep, EPOLL_CTL_ADD, fd, &(struct epoll_event){.events = EPOLLIN, .data.u32 = k});
    }
    epoll_ctl(ep, EPOLL_CTL_ADD, sv[0], &(struct epoll_event){.events = EPOLLIN, .data.u32 = 2});
    while (open_ends > 0) {
        struct epoll_event e;
        char buf[16];
        ssize_t n;
        if (epoll_wait(ep, &e, 1, -1) != 1)
            continue;
        if (e.data.u32 == 2) { /* the socket: data, then end of file */
            if ((n = read(sv[0], buf, sizeof(buf))) <= 0 && (open_ends--, 1))
                epoll_ctl(ep, EPOLL_CTL_DEL, sv[0], NULL);
            continue;
        }
        k = (int)e.data.u32;
        while ((n = shmring_spsc_pop(cons[k], &v, sizeof(v))) > 0)
            got[k]++;
        if (n == -EAGAIN)
            shmring_spsc_event_rearm(cons[k]); /* drained: wake me at the next record */
        else if (shmring_spsc_event_fd(cons[k], &fd) == 0 && (open_ends--, 1))
            epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL); /* -EPIPE: end of stream */
    }
    printf("ring 0: %llu records, ring 1: %llu records\n", (unsigned long long)got[0], (unsigned long long)got[1]);
    while (wait(NULL) > 0)
        ;
    for (k = 0; k < 2; k++)
        shmring_spsc_close(cons[k]);
    return got[0] == 1000 && got[1] == 1000 ? 0 : 1;
}
