#include "procutil.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

#define MAX_TRACKED 16

static pid_t tracked_pids[MAX_TRACKED];
static char tracked_rings[MAX_TRACKED][SHMRING_NAME_MAX + 1];

static void track_pid(pid_t pid)
{
    for (int i = 0; i < MAX_TRACKED; i++)
        if (tracked_pids[i] == 0) {
            tracked_pids[i] = pid;
            return;
        }
}

static void untrack_pid(pid_t pid)
{
    for (int i = 0; i < MAX_TRACKED; i++)
        if (tracked_pids[i] == pid)
            tracked_pids[i] = 0;
}

static int write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int proc_spawn(struct proc_child *c, proc_fn fn, void *arg)
{
    int fds[2];
    pid_t pid;
    c->pid = -1;
    c->fd = -1;
    if (pipe(fds) != 0)
        return -errno;
    fflush(NULL);
    pid = fork();
    if (pid < 0) {
        int err = -errno;
        close(fds[0]);
        close(fds[1]);
        return err;
    }
    if (pid == 0) {
        struct proc_result res;
        memset(&res, 0, sizeof(res));
        close(fds[0]);
        res.rc = fn(arg, &res);
        if (res.rc != 0 && res.msg[0])
            fprintf(stderr, "child %d: %s\n", (int)getpid(), res.msg);
        write_all(fds[1], &res, sizeof(res));
        /* _exit: no atexit handlers (Criterion's, the sanitizers') in the child. */
        _exit(res.rc == 0 ? 0 : 1);
    }
    close(fds[1]);
    c->pid = pid;
    c->fd = fds[0];
    track_pid(pid);
    return 0;
}

int proc_spawn_exec(struct proc_child *c, char *const argv[])
{
    pid_t pid;
    c->pid = -1;
    c->fd = -1;
    fflush(NULL);
    pid = fork();
    if (pid < 0)
        return -errno;
    if (pid == 0) {
        execv(argv[0], argv);
        fprintf(stderr, "execv %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    c->pid = pid;
    track_pid(pid);
    return 0;
}

int proc_join(struct proc_child *c, int64_t timeout_ns, struct proc_result *res)
{
    int status;
    memset(res, 0, sizeof(*res));
    if (c->pid <= 0) {
        res->rc = -1;
        snprintf(res->msg, sizeof(res->msg), "no child");
        return -1;
    }
    status = testutil_wait_timeout(c->pid, timeout_ns);
    untrack_pid(c->pid);
    c->pid = -1;
    if (c->fd >= 0) {
        ssize_t n;
        do
            n = read(c->fd, res, sizeof(*res));
        while (n < 0 && errno == EINTR);
        if (n != (ssize_t)sizeof(*res)) {
            memset(res, 0, sizeof(*res));
            res->rc = -1;
            snprintf(res->msg, sizeof(res->msg), "the child sent no result (status %d)", status);
        }
        close(c->fd);
        c->fd = -1;
    }
    return status;
}

int64_t proc_kill(struct proc_child *c)
{
    int64_t t = testutil_now_ns();
    if (c->pid > 0)
        kill(c->pid, SIGKILL);
    return t;
}

void proc_track_ring(const char *name)
{
    for (int i = 0; i < MAX_TRACKED; i++)
        if (tracked_rings[i][0] == '\0') {
            snprintf(tracked_rings[i], sizeof(tracked_rings[i]), "%s", name);
            return;
        }
}

void proc_untrack_ring(const char *name)
{
    for (int i = 0; i < MAX_TRACKED; i++)
        if (strcmp(tracked_rings[i], name) == 0)
            tracked_rings[i][0] = '\0';
}

void proc_cleanup(void)
{
    int left;
    for (int i = 0; i < MAX_TRACKED; i++)
        if (tracked_pids[i] > 0) {
            testutil_kill_wait(tracked_pids[i]);
            tracked_pids[i] = 0;
        }
    for (int i = 0; i < MAX_TRACKED; i++)
        if (tracked_rings[i][0]) {
            shmring_unlink(tracked_rings[i]);
            tracked_rings[i][0] = '\0';
        }
    left = testutil_ipc_objects();
    if (left > 0) {
        fprintf(stderr, "cleanup: removing %d leftover System V objects:\n", left);
        testutil_ipc_dump();
        testutil_ipc_remove_all();
    }
}

const struct shmring_header *proc_observe(const char *name)
{
    int64_t key = shmring_name_key(name);
    int id;
    void *p;
    if (key < 0)
        return NULL;
    id = shmget((key_t)key, 0, 0);
    if (id < 0)
        return NULL;
    p = shmat(id, NULL, SHM_RDONLY);
    return p == (void *)-1 ? NULL : (const struct shmring_header *)p;
}

void proc_unobserve(const struct shmring_header *hdr)
{
    if (hdr)
        shmdt(hdr);
}

int proc_wait_for(int (*cond)(const void *arg), const void *arg, int64_t timeout_ns)
{
    int64_t deadline = testutil_now_ns() + timeout_ns;
    for (;;) {
        if (cond(arg))
            return 1;
        if (testutil_now_ns() >= deadline)
            return 0;
        proc_sleep_ns(200 * 1000);
    }
}

void proc_sleep_ns(int64_t ns)
{
    struct timespec ts = {(time_t)(ns / SEC), (long)(ns % SEC)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* The header is mapped read-only: only loads, which are plain moves for lock-free atomics. */
int proc_consumer_sleeping(const void *hdr)
{
    const struct shmring_header *h = hdr;
    return shmring__load((SHMRING_ATOMIC(uint32_t) *)&h->wait.consumer_sleeping, acquire) != 0;
}

int proc_producer_sleeping(const void *hdr)
{
    const struct shmring_header *h = hdr;
    return shmring__load((SHMRING_ATOMIC(uint32_t) *)&h->wait.producer_sleeping, acquire) != 0;
}

int proc_semval(const struct shmring_header *hdr, int sem)
{
    int v = semctl(hdr->ident.semid, sem, GETVAL);
    return v < 0 ? -errno : v;
}

static uint64_t sleeps_of(const struct shmring_header *h, int (*wait_for)(const void *))
{
    SHMRING_ATOMIC(uint64_t) *p = (SHMRING_ATOMIC(uint64_t) *)(wait_for == proc_producer_sleeping
                                                                  ? &h->stats.producer_sleeps
                                                                  : &h->stats.consumer_sleeps);
    return shmring__load(p, relaxed);
}

struct sleep_cond {
    const struct shmring_header *hdr;
    int (*wait_for)(const void *);
    uint64_t sleeps0;
};

static int sleep_cond_met(const void *arg)
{
    const struct sleep_cond *s = arg;
    return s->wait_for(s->hdr) && sleeps_of(s->hdr, s->wait_for) > s->sleeps0;
}

int proc_killer(void *arg, struct proc_result *res)
{
    const struct proc_killer_args *a = arg;
    int rc = 0;
    if (a->wait_for) {
        struct sleep_cond s;
        s.hdr = proc_observe(a->ring);
        s.wait_for = a->wait_for;
        if (s.hdr == NULL) {
            snprintf(res->msg, sizeof(res->msg), "killer: no ring %s", a->ring);
            rc = 1;
        } else {
            int64_t deadline = testutil_now_ns() + a->timeout_ns;
            while (shmring__load((SHMRING_ATOMIC(uint64_t) *)&s.hdr->cons.count, acquire) < a->min_released &&
                   testutil_now_ns() < deadline)
                proc_sleep_ns(200 * 1000);
            /* Sleeps counted before we looked may be over; wait for one that starts now or later,
             * unless the side is asleep already. */
            s.sleeps0 = a->wait_for(s.hdr) ? 0 : sleeps_of(s.hdr, a->wait_for);
            if (!proc_wait_for(sleep_cond_met, &s, deadline - testutil_now_ns())) {
                snprintf(res->msg, sizeof(res->msg), "killer: the side never went to sleep");
                rc = 1;
            }
            proc_unobserve(s.hdr);
        }
    }
    proc_sleep_ns(a->delay_ns);
    res->t_ns[0] = testutil_now_ns();
    kill(a->victim, a->sig ? a->sig : SIGKILL);
    return rc;
}
