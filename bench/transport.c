/* shmring bench — the transports. Each is a struct transport (bench.h): setup in the parent
 * before fork(), attach in each process after it, send/recv of one message of conf.size bytes in
 * a direction (0: parent -> child, 1: child -> parent), detach, cleanup of named objects.
 *
 * Kernel transports count their own system calls (every read/write/msgsnd/msgrcv/semop made for
 * a message, a partial transfer's extra calls included) in t->syscalls. Blocking calls are not
 * restarted after a signal (no SA_RESTART): they return EINTR, and the loops below give up when
 * g_stop is set (Ctrl-C, the peer died, the watchdog) and retry otherwise.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "bench/bench.h"

#define WAIT_SLICE_NS 100000000 /* *_wait calls: wake up this often to look at g_stop */

static int sys_error(const char *tp, const char *what, int err)
{
    bench_err("%s: %s: %s", tp, what, strerror(err));
    return -err;
}

static int ring_error(const char *tp, const char *what, int err)
{
    bench_err("%s: %s: %s (%s)", tp, what, shmring_strerror(err), shmring_err_name(err));
    return err;
}

static void close_fd(int *fd)
{
    if (*fd >= 0) {
        close(*fd);
        *fd = -1;
    }
}

/* Transfers exactly len bytes over fd. 0, -EINTR (stopped), -EPIPE (the peer closed) or -errno. */
static int full_io(struct tp *t, int fd, void *buf, size_t len, int writing)
{
    char *p = (char *)buf;
    while (len > 0) {
        ssize_t n = writing ? write(fd, p, len) : read(fd, p, len);
        t->syscalls++;
        if (n < 0) {
            if (errno == EINTR) {
                if (g_stop)
                    return -EINTR;
                continue;
            }
            return sys_error(t->ops->name, writing ? "write" : "read", errno);
        }
        if (n == 0) {
            bench_err("%s: read: the other process closed its end", t->ops->name);
            return -EPIPE;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* A private directory for FIFOs and sockets: $TMPDIR or /tmp. */
static int make_dir(struct tp *t)
{
    const char *base = getenv("TMPDIR");
    if (base == NULL || base[0] == '\0' || strlen(base) > 40)
        base = "/tmp";
    snprintf(t->dir, sizeof(t->dir), "%s/shmring-bench-XXXXXX", base);
    if (mkdtemp(t->dir) == NULL) {
        int err = errno;
        t->dir[0] = '\0';
        return sys_error(t->ops->name, "mkdtemp", err);
    }
    return 0;
}

/* Removes the FIFOs / socket file and the directory. */
static void remove_paths(struct tp *t)
{
    int i;
    for (i = 0; i < 2; i++) {
        if (t->path[i][0] != '\0') {
            unlink(t->path[i]);
            t->path[i][0] = '\0';
        }
    }
    if (t->dir[0] != '\0') {
        rmdir(t->dir);
        t->dir[0] = '\0';
    }
}

static void fds_detach(struct tp *t)
{
    int i;
    for (i = 0; i < 4; i++)
        close_fd(&t->fd[i]);
    close_fd(&t->listen_fd);
}

/* --- pipe(2) and FIFO: fd[2*dir] reads direction dir, fd[2*dir + 1] writes it ---------------- */

static int pipe_setup(struct tp *t)
{
    if (pipe(t->fd) != 0 || pipe(t->fd + 2) != 0)
        return sys_error(t->ops->name, "pipe", errno);
    return 0;
}

/* Side 0 writes direction 0 and reads direction 1; side 1 the other way round. */
static int pipe_attach(struct tp *t, int side)
{
    t->side = side;
    close_fd(&t->fd[side == 0 ? 0 : 1]);
    close_fd(&t->fd[side == 0 ? 3 : 2]);
    return 0;
}

static int fd_send(struct tp *t, int dir, const void *buf)
{
    return full_io(t, t->fd[2 * dir + 1], (void *)(uintptr_t)buf, t->conf.size, 1);
}

static int fd_recv(struct tp *t, int dir, void *buf)
{
    return full_io(t, t->fd[2 * dir], buf, t->conf.size, 0);
}

static void nothing_named(struct tp *t)
{
    (void)t;
}

static int fifo_setup(struct tp *t)
{
    int i, err;
    if ((err = make_dir(t)) != 0)
        return err;
    for (i = 0; i < 2; i++) {
        snprintf(t->path[i], sizeof(t->path[i]), "%s/dir%d", t->dir, i);
        if (mkfifo(t->path[i], 0600) != 0) {
            err = errno;
            t->path[i][0] = '\0';
            return sys_error(t->ops->name, "mkfifo", err);
        }
    }
    return 0;
}

/* Both sides open direction 0's FIFO first, so the blocking opens pair up. The parent removes the
 * FIFOs and the directory as soon as both are open: nothing is left on disk during the run. */
static int fifo_attach(struct tp *t, int side)
{
    int d;
    t->side = side;
    for (d = 0; d < 2; d++) {
        int writing = (side == 0) == (d == 0);
        int *fd = &t->fd[2 * d + (writing ? 1 : 0)];
        for (;;) {
            *fd = open(t->path[d], writing ? O_WRONLY : O_RDONLY);
            if (*fd >= 0)
                break;
            if (errno == EINTR && !g_stop)
                continue;
            return errno == EINTR ? -EINTR : sys_error(t->ops->name, t->path[d], errno);
        }
    }
    if (side == 0)
        remove_paths(t);
    return 0;
}

static void fifo_cleanup(struct tp *t)
{
    remove_paths(t);
}

/* --- Unix stream socket and TCP loopback: one connected socket, fd[0], both directions ------- */

static int unix_setup(struct tp *t)
{
    struct sockaddr_un a;
    int err;
    if ((err = make_dir(t)) != 0)
        return err;
    snprintf(t->path[0], sizeof(t->path[0]), "%s/sock", t->dir);
    memset(&a, 0, sizeof(a));
    a.sun_family = AF_UNIX;
    snprintf(a.sun_path, sizeof(a.sun_path), "%s", t->path[0]);
    if ((t->listen_fd = socket(AF_UNIX, SOCK_STREAM, 0)) < 0)
        return sys_error(t->ops->name, "socket", errno);
    if (bind(t->listen_fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        err = errno;
        t->path[0][0] = '\0';
        return sys_error(t->ops->name, "bind", err);
    }
    if (listen(t->listen_fd, 1) != 0)
        return sys_error(t->ops->name, "listen", errno);
    return 0;
}

static int tcp_setup(struct tp *t)
{
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    int one = 1;
    if ((t->listen_fd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
        return sys_error(t->ops->name, "socket", errno);
    setsockopt(t->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0; /* any free port */
    if (bind(t->listen_fd, (struct sockaddr *)&a, sizeof(a)) != 0)
        return sys_error(t->ops->name, "bind 127.0.0.1", errno);
    if (listen(t->listen_fd, 1) != 0)
        return sys_error(t->ops->name, "listen", errno);
    if (getsockname(t->listen_fd, (struct sockaddr *)&a, &len) != 0)
        return sys_error(t->ops->name, "getsockname", errno);
    t->port = ntohs(a.sin_port);
    return 0;
}

/* The parent accepts, the child connects (the socket listens since before fork()). */
static int sock_attach(struct tp *t, int side)
{
    int tcp = t->port != 0, one = 1;
    t->side = side;
    if (side == 0) {
        for (;;) {
            t->fd[0] = accept(t->listen_fd, NULL, NULL);
            if (t->fd[0] >= 0)
                break;
            if (errno == EINTR && !g_stop)
                continue;
            return errno == EINTR ? -EINTR : sys_error(t->ops->name, "accept", errno);
        }
        close_fd(&t->listen_fd);
        remove_paths(t); /* the socket file is not needed once connected */
    } else {
        close_fd(&t->listen_fd);
        t->fd[0] = socket(tcp ? AF_INET : AF_UNIX, SOCK_STREAM, 0);
        if (t->fd[0] < 0)
            return sys_error(t->ops->name, "socket", errno);
        if (tcp) {
            struct sockaddr_in a;
            memset(&a, 0, sizeof(a));
            a.sin_family = AF_INET;
            a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            a.sin_port = htons(t->port);
            if (connect(t->fd[0], (struct sockaddr *)&a, sizeof(a)) != 0)
                return sys_error(t->ops->name, "connect 127.0.0.1", errno);
        } else {
            struct sockaddr_un a;
            memset(&a, 0, sizeof(a));
            a.sun_family = AF_UNIX;
            snprintf(a.sun_path, sizeof(a.sun_path), "%s", t->path[0]);
            if (connect(t->fd[0], (struct sockaddr *)&a, sizeof(a)) != 0)
                return sys_error(t->ops->name, "connect", errno);
        }
    }
    /* Small messages go out at once, not after the peer's delayed ACK (Nagle). */
    if (tcp && setsockopt(t->fd[0], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0)
        return sys_error(t->ops->name, "TCP_NODELAY", errno);
    return 0;
}

static int sock_send(struct tp *t, int dir, const void *buf)
{
    (void)dir;
    return full_io(t, t->fd[0], (void *)(uintptr_t)buf, t->conf.size, 1);
}

static int sock_recv(struct tp *t, int dir, void *buf)
{
    (void)dir;
    return full_io(t, t->fd[0], buf, t->conf.size, 0);
}

static void sock_cleanup(struct tp *t)
{
    remove_paths(t);
}

/* --- System V message queue: one queue, message type dir + 1; a message larger than the queue
 * takes is sent in chunks (one msgsnd/msgrcv each) --------------------------------------------- */

struct msgbuf_hdr {
    long mtype;
    char mtext[];
};

static long read_proc_long(const char *path, long dflt)
{
    FILE *f = fopen(path, "r");
    long v = dflt;
    if (f) {
        if (fscanf(f, "%ld", &v) != 1)
            v = dflt;
        fclose(f);
    }
    return v;
}

static int msgq_setup(struct tp *t)
{
    long msgmax = read_proc_long("/proc/sys/kernel/msgmax", 8192);
    long msgmnb = read_proc_long("/proc/sys/kernel/msgmnb", 16384);
    long chunk = msgmax < msgmnb / 2 ? msgmax : msgmnb / 2; /* two chunks fit the queue at once */
    if (chunk < 8)
        chunk = 8;
    t->chunk = (size_t)chunk;
    t->msqid = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
    if (t->msqid < 0)
        return sys_error(t->ops->name, "msgget", errno);
    return 0;
}

static int msgq_attach(struct tp *t, int side)
{
    t->side = side;
    free(t->scratch);
    t->scratch = malloc(sizeof(struct msgbuf_hdr) + t->chunk);
    return t->scratch ? 0 : sys_error(t->ops->name, "malloc", ENOMEM);
}

static int msgq_send(struct tp *t, int dir, const void *buf)
{
    struct msgbuf_hdr *m = t->scratch;
    const char *p = buf;
    size_t left = t->conf.size;
    while (left > 0) {
        size_t n = left < t->chunk ? left : t->chunk;
        m->mtype = dir + 1;
        memcpy(m->mtext, p, n);
        for (;;) {
            t->syscalls++;
            if (msgsnd(t->msqid, m, n, 0) == 0)
                break;
            if (errno == EINTR && !g_stop)
                continue;
            return errno == EINTR ? -EINTR : sys_error(t->ops->name, "msgsnd", errno);
        }
        p += n;
        left -= n;
    }
    return 0;
}

static int msgq_recv(struct tp *t, int dir, void *buf)
{
    struct msgbuf_hdr *m = t->scratch;
    char *p = buf;
    size_t left = t->conf.size;
    while (left > 0) {
        size_t want = left < t->chunk ? left : t->chunk;
        ssize_t n;
        for (;;) {
            t->syscalls++;
            n = msgrcv(t->msqid, m, t->chunk, dir + 1, 0);
            if (n >= 0)
                break;
            if (errno == EINTR && !g_stop)
                continue;
            return errno == EINTR ? -EINTR : sys_error(t->ops->name, "msgrcv", errno);
        }
        if ((size_t)n != want) {
            bench_err("%s: msgrcv: got a %zd-byte message, expected %zu", t->ops->name, n, want);
            return -EBADMSG;
        }
        memcpy(p, m->mtext, (size_t)n);
        p += n;
        left -= (size_t)n;
    }
    return 0;
}

static void msgq_detach(struct tp *t)
{
    free(t->scratch);
    t->scratch = NULL;
}

static void msgq_cleanup(struct tp *t)
{
    if (t->msqid >= 0) {
        msgctl(t->msqid, IPC_RMID, NULL);
        t->msqid = -1;
    }
}

/* --- The textbook shared-memory segment guarded by a semaphore pair per direction: one message
 * at a time. Semaphore 2*dir is "slot empty" (starts at 1), 2*dir + 1 "slot full" (starts at 0);
 * the sender takes empty, copies in, posts full; the receiver takes full, copies out, posts empty.
 * semop(2)'s own ordering makes the copies visible (a system call is a full barrier). -------- */

static size_t shm_slot(const struct tp *t)
{
    return ((size_t)t->conf.size + 63) & ~(size_t)63;
}

static int shmsem_setup(struct tp *t)
{
    unsigned short init[4] = {1, 0, 1, 0};
    void *p;
    t->shmid = shmget(IPC_PRIVATE, 2 * shm_slot(t), IPC_CREAT | 0600);
    if (t->shmid < 0)
        return sys_error(t->ops->name, "shmget", errno);
    p = shmat(t->shmid, NULL, 0);
    if (p == (void *)-1)
        return sys_error(t->ops->name, "shmat", errno);
    t->shm = p;
    /* Removed at once: the segment lives while attached (fork() inherits the attachment) and
     * disappears with the last detach, whatever happens to us. */
    shmctl(t->shmid, IPC_RMID, NULL);
    t->shmid = -1;
    t->semid = semget(IPC_PRIVATE, 4, IPC_CREAT | 0600);
    if (t->semid < 0)
        return sys_error(t->ops->name, "semget", errno);
    if (semctl(t->semid, 0, SETALL, init) != 0)
        return sys_error(t->ops->name, "semctl SETALL", errno);
    return 0;
}

static int shmsem_attach(struct tp *t, int side)
{
    t->side = side;
    return 0;
}

static int sem_op(struct tp *t, unsigned short num, short op)
{
    struct sembuf sb;
    sb.sem_num = num;
    sb.sem_op = op;
    sb.sem_flg = 0;
    for (;;) {
        t->syscalls++;
        if (semop(t->semid, &sb, 1) == 0)
            return 0;
        if (errno == EINTR && !g_stop)
            continue;
        return errno == EINTR ? -EINTR : sys_error(t->ops->name, "semop", errno);
    }
}

static int shmsem_send(struct tp *t, int dir, const void *buf)
{
    int err;
    if ((err = sem_op(t, (unsigned short)(2 * dir), -1)) != 0)
        return err;
    memcpy(t->shm + (size_t)dir * shm_slot(t), buf, t->conf.size);
    return sem_op(t, (unsigned short)(2 * dir + 1), 1);
}

static int shmsem_recv(struct tp *t, int dir, void *buf)
{
    int err;
    if ((err = sem_op(t, (unsigned short)(2 * dir + 1), -1)) != 0)
        return err;
    memcpy(buf, t->shm + (size_t)dir * shm_slot(t), t->conf.size);
    return sem_op(t, (unsigned short)(2 * dir), 1);
}

static void shmsem_detach(struct tp *t)
{
    if (t->shm) {
        shmdt(t->shm);
        t->shm = NULL;
    }
}

static void shmsem_cleanup(struct tp *t)
{
    if (t->semid >= 0) {
        semctl(t->semid, 0, IPC_RMID);
        t->semid = -1;
    }
    if (t->shmid >= 0) {
        shmctl(t->shmid, IPC_RMID, NULL);
        t->shmid = -1;
    }
}

/* --- shmring SPSC: two anonymous rings (shmring_spsc_pipe), sp[dir][0] producer, [1] consumer.
 * Spinning flavour: the non-blocking calls in a loop. Sleep flavour: the *_wait calls with a small
 * spin count, so a waiting side sleeps on the ring's semaphore. ------------------------------- */

static void ring_cfg(const struct tp *t, struct shmring_config *cfg)
{
    shmring_config_init(cfg);
    cfg->capacity = t->conf.capacity;
    if (t->conf.huge)
        cfg->flags |= SHMRING_F_HUGEPAGES;
    cfg->flags |= t->conf.wake;
}

static int spsc_setup(struct tp *t)
{
    struct shmring_config cfg;
    int d, err;
    ring_cfg(t, &cfg);
    if (t->conf.align == 64)
        cfg.flags |= SHMRING_F_ALIGN64; /* SPSC only: the MPMC and BCAST rings refuse it */
    for (d = 0; d < 2; d++)
        if ((err = shmring_spsc_pipe(&cfg, &t->sp[d][0], &t->sp[d][1])) != 0)
            return ring_error(t->ops->name, "shmring_spsc_pipe", err);
    return 0;
}

static int spsc_attach(struct tp *t, int side)
{
    int d;
    t->side = side;
    /* Side 0 produces direction 0 and consumes direction 1. */
    for (d = 0; d < 2; d++) {
        int keep = (side == d) ? 0 : 1;
        shmring_spsc_close(t->sp[d][1 - keep]);
        t->sp[d][1 - keep] = NULL;
        if (t->conf.sleep)
            shmring_spsc_set_spin(t->sp[d][keep], t->conf.spin);
    }
    return 0;
}

static int spsc_send(struct tp *t, int dir, const void *buf)
{
    struct shmring_spsc *r = t->sp[dir][0];
    int err;
    if (t->conf.sleep) {
        while ((err = shmring_spsc_push_wait(r, buf, t->conf.size, WAIT_SLICE_NS)) == -ETIMEDOUT)
            if (g_stop)
                return -EINTR;
    } else {
        while ((err = shmring_spsc_push(r, buf, t->conf.size)) == -EAGAIN)
            if (relax())
                return -EINTR;
    }
    return err ? ring_error(t->ops->name, "push", err) : 0;
}

static int spsc_recv(struct tp *t, int dir, void *buf)
{
    struct shmring_spsc *r = t->sp[dir][1];
    ssize_t n;
    if (t->conf.sleep) {
        while ((n = shmring_spsc_pop_wait(r, buf, t->conf.size, WAIT_SLICE_NS)) == -ETIMEDOUT)
            if (g_stop)
                return -EINTR;
    } else {
        while ((n = shmring_spsc_pop(r, buf, t->conf.size)) == -EAGAIN)
            if (relax())
                return -EINTR;
    }
    if (n < 0)
        return ring_error(t->ops->name, "pop", (int)n);
    if ((uint32_t)n != t->conf.size) {
        bench_err("%s: pop: a %zd-byte record, expected %u", t->ops->name, n, t->conf.size);
        return -EBADMSG;
    }
    return 0;
}

/* Checks one received record (len bytes at p) against *expect and reads all of it. */
static int check_record(struct tp *t, const void *p, size_t len, uint64_t *expect, uint64_t *sum, int *stop)
{
    uint64_t a, b;
    if (len != t->conf.size) {
        bench_err("%s: record %" PRIu64 ": %zu bytes, expected %u", t->ops->name, *expect, len, t->conf.size);
        return -EBADMSG;
    }
    a = stamp_first(p);
    b = stamp_last(p, t->conf.size);
    if (a == SEQ_STOP && b == SEQ_STOP) {
        *stop = 1;
        return 0;
    }
    if (a != *expect || b != *expect) {
        bench_err("%s: sequence mismatch: expected record %" PRIu64 ", got one stamped %" PRIu64 "/%" PRIu64,
                  t->ops->name, *expect, a, b);
        return -EBADMSG;
    }
    *sum += sum_bytes(p, len);
    ++*expect;
    return 0;
}

static int spsc_send_batch(struct tp *t, uint64_t seq0, unsigned n)
{
    struct shmring_spsc *r = t->sp[0][0];
    unsigned i = 0;
    int err;
    while (i < n) {
        void *q = NULL;
        err = shmring_spsc_reserve(r, t->conf.size, &q);
        if (err == -EAGAIN) {
            if (i > 0)
                break;
            if (t->conf.sleep) {
                err = shmring_spsc_reserve_wait(r, t->conf.size, &q, WAIT_SLICE_NS);
                if (err == -ETIMEDOUT) {
                    if (g_stop)
                        return -EINTR;
                    continue;
                }
            } else {
                if (relax())
                    return -EINTR;
                continue;
            }
        }
        if (err)
            return ring_error(t->ops->name, "reserve", err);
        stamp(q, t->conf.size, seq0 + i);
        i++;
    }
    shmring_spsc_commit(r);
    return (int)i;
}

static int spsc_recv_batch(struct tp *t, uint64_t *expect, uint64_t *sum, int *stop)
{
    struct shmring_spsc *r = t->sp[0][1];
    unsigned i = 0;
    int err = 0;
    while (i < t->conf.batch && !*stop) {
        const void *p = NULL;
        size_t len = 0;
        err = shmring_spsc_peek(r, &p, &len);
        if (err == -EAGAIN) {
            if (i > 0)
                break;
            if (t->conf.sleep) {
                err = shmring_spsc_peek_wait(r, &p, &len, WAIT_SLICE_NS);
                if (err == -ETIMEDOUT) {
                    if (g_stop)
                        return -EINTR;
                    continue;
                }
            } else {
                if (relax())
                    return -EINTR;
                continue;
            }
        }
        if (err)
            return ring_error(t->ops->name, "peek", err);
        if ((err = check_record(t, p, len, expect, sum, stop)) != 0)
            return err;
        i++;
    }
    shmring_spsc_release(r);
    return (int)i;
}

static void spsc_detach(struct tp *t)
{
    int d, k;
    for (d = 0; d < 2; d++)
        for (k = 0; k < 2; k++)
            if (t->sp[d][k]) {
                shmring_spsc_close(t->sp[d][k]);
                t->sp[d][k] = NULL;
            }
}

/* --- shmring MPMC: two named rings (one per direction), one producer and one consumer each;
 * slot size = the message size. Named, so the parent unlinks them (cleanup). ---------------- */

static uint64_t mpmc_slots(const struct tp *t)
{
    uint64_t stride = ((uint64_t)t->conf.size + SHMRING_MPMC_SLOT_HDR + 63) & ~UINT64_C(63);
    uint64_t want = t->conf.capacity / stride, s = SHMRING_MPMC_SLOTS_MIN;
    while (s * 2 <= want && s * 2 <= SHMRING_MPMC_SLOTS_MAX)
        s *= 2;
    return s;
}

static int mpmc_setup(struct tp *t)
{
    struct shmring_config cfg;
    int d, err;
    ring_cfg(t, &cfg);
    cfg.capacity = mpmc_slots(t);
    cfg.slot_size = t->conf.size;
    for (d = 0; d < 2; d++) {
        snprintf(t->name[d], sizeof(t->name[d]), "bench-%ld-%u-%d", (long)t->conf.parent, t->conf.seq, d);
        if ((err = shmring_mpmc_create(t->name[d], &cfg)) != 0) {
            bench_err("%s: creating ring %s (%" PRIu64 " slots of %u B): %s (%s)", t->ops->name, t->name[d],
                      cfg.capacity, cfg.slot_size, shmring_strerror(err), shmring_err_name(err));
            t->name[d][0] = '\0';
            return err;
        }
    }
    return 0;
}

static int mpmc_attach(struct tp *t, int side)
{
    int d, err;
    t->side = side;
    for (d = 0; d < 2; d++) {
        int k = (side == d) ? 0 : 1; /* side 0 produces direction 0 */
        err = shmring_mpmc_open(t->name[d], k == 0 ? SHMRING_PRODUCER : SHMRING_CONSUMER, &t->mp[d][k]);
        if (err)
            return ring_error(t->ops->name, t->name[d], err);
        if (t->conf.sleep)
            shmring_mpmc_set_spin(t->mp[d][k], t->conf.spin);
    }
    return 0;
}

static int mpmc_send(struct tp *t, int dir, const void *buf)
{
    struct shmring_mpmc *q = t->mp[dir][0];
    int err;
    if (t->conf.sleep) {
        while ((err = shmring_mpmc_push_wait(q, buf, t->conf.size, WAIT_SLICE_NS)) == -ETIMEDOUT)
            if (g_stop)
                return -EINTR;
    } else {
        while ((err = shmring_mpmc_push(q, buf, t->conf.size)) == -EAGAIN)
            if (relax())
                return -EINTR;
    }
    return err ? ring_error(t->ops->name, "push", err) : 0;
}

static int mpmc_recv(struct tp *t, int dir, void *buf)
{
    struct shmring_mpmc *q = t->mp[dir][1];
    ssize_t n;
    if (t->conf.sleep) {
        while ((n = shmring_mpmc_pop_wait(q, buf, t->conf.size, WAIT_SLICE_NS)) == -ETIMEDOUT)
            if (g_stop)
                return -EINTR;
    } else {
        while ((n = shmring_mpmc_pop(q, buf, t->conf.size)) == -EAGAIN)
            if (relax())
                return -EINTR;
    }
    if (n < 0)
        return ring_error(t->ops->name, "pop", (int)n);
    if ((uint32_t)n != t->conf.size) {
        bench_err("%s: pop: a %zd-byte record, expected %u", t->ops->name, n, t->conf.size);
        return -EBADMSG;
    }
    return 0;
}

static int mpmc_send_batch(struct tp *t, uint64_t seq0, unsigned n)
{
    struct shmring_mpmc *q = t->mp[0][0];
    struct shmring_mpmc_span c = {0, 0};
    int got;
    unsigned i;
    if (n > shmring_mpmc_capacity(q)) /* a claim asks for at most the whole ring */
        n = (unsigned)shmring_mpmc_capacity(q);
    for (;;) {
        if (t->conf.sleep) {
            got = shmring_mpmc_claim_wait(q, n, &c, WAIT_SLICE_NS);
            if (got == -ETIMEDOUT) {
                if (g_stop)
                    return -EINTR;
                continue;
            }
        } else {
            got = shmring_mpmc_claim(q, n, &c);
            if (got == -EAGAIN) {
                if (relax())
                    return -EINTR;
                continue;
            }
        }
        break;
    }
    if (got < 0)
        return ring_error(t->ops->name, "claim", got);
    for (i = 0; i < (unsigned)got; i++)
        stamp(shmring_mpmc_slot(q, &c, i), t->conf.size, seq0 + i);
    (void)shmring_mpmc_publish(q, &c, NULL); /* -ESTALE only if someone tampers with the ring */
    return got;
}

static int mpmc_recv_batch(struct tp *t, uint64_t *expect, uint64_t *sum, int *stop)
{
    struct shmring_mpmc *q = t->mp[0][1];
    struct shmring_mpmc_span c = {0, 0};
    int got, err = 0;
    unsigned i, want = t->conf.batch;
    if (want > shmring_mpmc_capacity(q))
        want = (unsigned)shmring_mpmc_capacity(q);
    for (;;) {
        if (t->conf.sleep) {
            got = shmring_mpmc_take_wait(q, want, &c, WAIT_SLICE_NS);
            if (got == -ETIMEDOUT) {
                if (g_stop)
                    return -EINTR;
                continue;
            }
        } else {
            got = shmring_mpmc_take(q, want, &c);
            if (got == -EAGAIN) {
                if (relax())
                    return -EINTR;
                continue;
            }
        }
        break;
    }
    if (got < 0)
        return ring_error(t->ops->name, "take", got);
    for (i = 0; i < (unsigned)got && err == 0; i++) {
        const void *p = NULL;
        size_t len = 0;
        if ((err = shmring_mpmc_record(q, &c, i, &p, &len)) != 0)
            err = ring_error(t->ops->name, "record", err);
        else
            err = check_record(t, p, len, expect, sum, stop);
    }
    (void)shmring_mpmc_release(q, &c);
    return err ? err : got;
}

static void mpmc_detach(struct tp *t)
{
    int d, k;
    for (d = 0; d < 2; d++)
        for (k = 0; k < 2; k++)
            if (t->mp[d][k]) {
                shmring_mpmc_close(t->mp[d][k]);
                t->mp[d][k] = NULL;
            }
}

/* Unlinks the named rings (MPMC and BCAST). */
static void mpmc_cleanup(struct tp *t)
{
    int d;
    for (d = 0; d < 2; d++) {
        if (t->name[d][0] != '\0') {
            int err = shmring_unlink(t->name[d]);
            if (err != 0 && err != -ENOENT)
                bench_err("%s: unlinking ring %s: %s", t->ops->name, t->name[d], shmring_strerror(err));
            t->name[d][0] = '\0';
        }
    }
}

/* --- shmring BCAST: two named broadcast rings (one per direction), BLOCK policy, one producer and
 * one consumer each; slot size = the message size. Built as the MPMC transport is. The stream is
 * zero-copy: claim/publish --batch slots on the producer, peek/release up to --batch records on
 * the consumer (BLOCK: a peeked record cannot change before its release, so no validate). ----- */

static uint64_t bcast_slots(const struct tp *t)
{
    uint64_t stride = ((uint64_t)t->conf.size + SHMRING_MPMC_SLOT_HDR + 63) & ~UINT64_C(63);
    uint64_t want = t->conf.capacity / stride, s = SHMRING_BCAST_SLOTS_MIN;
    while (s * 2 <= want && s * 2 <= SHMRING_BCAST_SLOTS_MAX)
        s *= 2;
    return s;
}

static int bcast_setup(struct tp *t)
{
    struct shmring_config cfg;
    int d, err;
    ring_cfg(t, &cfg); /* no SHMRING_F_LOSSY: BLOCK */
    cfg.capacity = bcast_slots(t);
    cfg.slot_size = t->conf.size;
    for (d = 0; d < 2; d++) {
        snprintf(t->name[d], sizeof(t->name[d]), "bench-%ld-%u-%d", (long)t->conf.parent, t->conf.seq, d);
        if ((err = shmring_bcast_create(t->name[d], &cfg)) != 0) {
            bench_err("%s: creating ring %s (%" PRIu64 " slots of %u B): %s (%s)", t->ops->name, t->name[d],
                      cfg.capacity, cfg.slot_size, shmring_strerror(err), shmring_err_name(err));
            t->name[d][0] = '\0';
            return err;
        }
    }
    return 0;
}

/* The consumers register here, before the parent's first message (the NOP command waits for the
 * child's attach), so the producers' first records are theirs: a BLOCK producer with no consumer
 * registered would not wait. The rings are fresh, so OLDEST and the default start at the same
 * record. */
static int bcast_attach(struct tp *t, int side)
{
    int d, err;
    t->side = side;
    for (d = 0; d < 2; d++) {
        int k = (side == d) ? 0 : 1; /* side 0 produces direction 0 */
        err = shmring_bcast_open(t->name[d], k == 0 ? SHMRING_PRODUCER : SHMRING_CONSUMER,
                                 k == 0 ? 0 : SHMRING_BCAST_OLDEST, &t->bc[d][k]);
        if (err)
            return ring_error(t->ops->name, t->name[d], err);
        if (t->conf.sleep)
            shmring_bcast_set_spin(t->bc[d][k], t->conf.spin);
    }
    return 0;
}

static int bcast_send(struct tp *t, int dir, const void *buf)
{
    struct shmring_bcast *b = t->bc[dir][0];
    int err;
    if (t->conf.sleep) {
        while ((err = shmring_bcast_push_wait(b, buf, t->conf.size, WAIT_SLICE_NS)) == -ETIMEDOUT)
            if (g_stop)
                return -EINTR;
    } else {
        while ((err = shmring_bcast_push(b, buf, t->conf.size)) == -EAGAIN)
            if (relax())
                return -EINTR;
    }
    return err ? ring_error(t->ops->name, "push", err) : 0;
}

static int bcast_recv(struct tp *t, int dir, void *buf)
{
    struct shmring_bcast *b = t->bc[dir][1];
    ssize_t n;
    if (t->conf.sleep) {
        while ((n = shmring_bcast_pop_wait(b, buf, t->conf.size, WAIT_SLICE_NS)) == -ETIMEDOUT)
            if (g_stop)
                return -EINTR;
    } else {
        while ((n = shmring_bcast_pop(b, buf, t->conf.size)) == -EAGAIN)
            if (relax())
                return -EINTR;
    }
    if (n < 0)
        return ring_error(t->ops->name, "pop", (int)n);
    if ((uint32_t)n != t->conf.size) {
        bench_err("%s: pop: a %zd-byte record, expected %u", t->ops->name, n, t->conf.size);
        return -EBADMSG;
    }
    return 0;
}

static int bcast_send_batch(struct tp *t, uint64_t seq0, unsigned n)
{
    struct shmring_bcast *b = t->bc[0][0];
    struct shmring_bcast_span c = {0, 0};
    int got;
    unsigned i;
    if (n > shmring_bcast_capacity(b)) /* a claim gets at most the whole ring */
        n = (unsigned)shmring_bcast_capacity(b);
    for (;;) {
        if (t->conf.sleep) {
            got = shmring_bcast_claim_wait(b, n, &c, WAIT_SLICE_NS);
            if (got == -ETIMEDOUT) {
                if (g_stop)
                    return -EINTR;
                continue;
            }
        } else {
            got = shmring_bcast_claim(b, n, &c);
            if (got == -EAGAIN) {
                if (relax())
                    return -EINTR;
                continue;
            }
        }
        break;
    }
    if (got < 0)
        return ring_error(t->ops->name, "claim", got);
    for (i = 0; i < (unsigned)got; i++)
        stamp(shmring_bcast_slot(b, &c, i), t->conf.size, seq0 + i);
    shmring_bcast_publish(b, &c, NULL); /* NULL: slot_size (= the record size) each */
    return got;
}

static int bcast_recv_batch(struct tp *t, uint64_t *expect, uint64_t *sum, int *stop)
{
    struct shmring_bcast *b = t->bc[0][1];
    unsigned i = 0;
    int err = 0;
    while (i < t->conf.batch && !*stop) {
        const void *p = NULL;
        size_t len = 0;
        err = shmring_bcast_peek(b, &p, &len);
        if (err == -EAGAIN) {
            if (i > 0)
                break;
            if (t->conf.sleep) {
                err = shmring_bcast_peek_wait(b, &p, &len, WAIT_SLICE_NS);
                if (err == -ETIMEDOUT) {
                    if (g_stop)
                        return -EINTR;
                    continue;
                }
            } else {
                if (relax())
                    return -EINTR;
                continue;
            }
        }
        if (err)
            return ring_error(t->ops->name, "peek", err);
        if ((err = check_record(t, p, len, expect, sum, stop)) != 0)
            return err;
        i++;
    }
    shmring_bcast_release(b);
    return (int)i;
}

static void bcast_detach(struct tp *t)
{
    int d, k;
    for (d = 0; d < 2; d++)
        for (k = 0; k < 2; k++)
            if (t->bc[d][k]) {
                shmring_bcast_close(t->bc[d][k]);
                t->bc[d][k] = NULL;
            }
}

uint64_t tp_ring_semops(const struct tp *t)
{
    uint64_t n = 0;
    int d, k;
    for (d = 0; d < 2; d++) {
        const struct shmring_header *h = NULL;
        for (k = 0; k < 2 && h == NULL; k++) {
            if (t->sp[d][k])
                h = t->sp[d][k]->hdr;
            else if (t->mp[d][k])
                h = t->mp[d][k]->hdr;
            else if (t->bc[d][k])
                h = t->bc[d][k]->hdr;
        }
        if (h == NULL)
            continue;
        /* Counters only: relaxed loads, read after the measurement ended (the peer's final
         * values are published by the control page's release/acquire pair in run.c). */
        n += atomic_load_explicit(&h->stats.consumer_sleeps, memory_order_relaxed) +
             atomic_load_explicit(&h->stats.producer_sleeps, memory_order_relaxed) +
             atomic_load_explicit(&h->stats.consumer_wakeups, memory_order_relaxed) +
             atomic_load_explicit(&h->stats.producer_wakeups, memory_order_relaxed);
    }
    return n;
}

/* The floors are run by run.c itself; these entries give them a name and a description. */
static int floor_setup(struct tp *t)
{
    (void)t;
    return 0;
}

#define FD_OPS(setup_, attach_, send_, recv_, cleanup_) \
    setup_, attach_, send_, recv_, NULL, NULL, fds_detach, cleanup_

const struct transport transports[TP_COUNT] = {
    [TP_CACHELINE] = {"cacheline", "floor: one 64-byte line written by each side in turn (ping-pong only)", 0,
                      floor_setup, NULL, NULL, NULL, NULL, NULL, NULL, nothing_named},
    [TP_MEMCPY] = {"memcpy", "floor: single-core memcpy bandwidth, one process (stream only)", 0, floor_setup, NULL,
                   NULL, NULL, NULL, NULL, NULL, nothing_named},
    [TP_SPSC] = {"spsc", "shmring SPSC ring, both sides spinning", 1, spsc_setup, spsc_attach, spsc_send, spsc_recv,
                 spsc_send_batch, spsc_recv_batch, spsc_detach, nothing_named},
    [TP_SPSC_SLEEP] = {"spsc-sleep", "shmring SPSC ring, spin --spin times then sleep on the semaphore", 1,
                       spsc_setup, spsc_attach, spsc_send, spsc_recv, spsc_send_batch, spsc_recv_batch, spsc_detach,
                       nothing_named},
    [TP_MPMC] = {"mpmc", "shmring MPMC ring, one producer and one consumer, spinning", 1, mpmc_setup, mpmc_attach,
                 mpmc_send, mpmc_recv, mpmc_send_batch, mpmc_recv_batch, mpmc_detach, mpmc_cleanup},
    [TP_MPMC_SLEEP] = {"mpmc-sleep", "shmring MPMC ring, spin --spin times then sleep on the semaphore", 1,
                       mpmc_setup, mpmc_attach, mpmc_send, mpmc_recv, mpmc_send_batch, mpmc_recv_batch, mpmc_detach,
                       mpmc_cleanup},
    [TP_BCAST] = {"bcast", "shmring broadcast ring (BLOCK), one producer and one consumer, spinning", 1, bcast_setup,
                  bcast_attach, bcast_send, bcast_recv, bcast_send_batch, bcast_recv_batch, bcast_detach,
                  mpmc_cleanup},
    [TP_BCAST_SLEEP] = {"bcast-sleep", "shmring broadcast ring (BLOCK), spin --spin times then sleep on the semaphore",
                        1, bcast_setup, bcast_attach, bcast_send, bcast_recv, bcast_send_batch, bcast_recv_batch,
                        bcast_detach, mpmc_cleanup},
    [TP_SPSC_COPY] = {"spsc-copy", "shmring SPSC ring, spinning, push/pop: one record per call, copied in and out", 1,
                      spsc_setup, spsc_attach, spsc_send, spsc_recv, NULL, NULL, spsc_detach, nothing_named},
    [TP_PIPE] = {"pipe", "pipe(2), one per direction", 0, FD_OPS(pipe_setup, pipe_attach, fd_send, fd_recv,
                                                                   nothing_named)},
    [TP_FIFO] = {"fifo", "named FIFOs (mkfifo in a private temp dir, removed once open)", 0,
                 FD_OPS(fifo_setup, fifo_attach, fd_send, fd_recv, fifo_cleanup)},
    [TP_UNIX] = {"unix", "Unix stream socket (bound in a private temp dir, removed once connected)", 0,
                 FD_OPS(unix_setup, sock_attach, sock_send, sock_recv, sock_cleanup)},
    [TP_TCP] = {"tcp", "TCP over loopback, TCP_NODELAY", 0, FD_OPS(tcp_setup, sock_attach, sock_send, sock_recv,
                                                                     sock_cleanup)},
    [TP_MSGQ] = {"msgq", "System V message queue (messages over msgmax go in chunks)", 0, msgq_setup, msgq_attach,
                 msgq_send, msgq_recv, NULL, NULL, msgq_detach, msgq_cleanup},
    [TP_SHMSEM] = {"shmsem", "System V shm segment + semaphore pair per direction, one message at a time", 0,
                   shmsem_setup, shmsem_attach, shmsem_send, shmsem_recv, NULL, NULL, shmsem_detach,
                   shmsem_cleanup},
    [TP_CK] = {"ck-spsc", "peer: Concurrency Kit ck_ring SPSC, spinning, records copied in and out", 0, peer_ck_setup,
               peer_ck_attach, peer_ck_send, peer_ck_recv, NULL, NULL, peer_ck_detach, peer_ck_cleanup},
    [TP_RTE] = {"rte-spsc", "peer: DPDK rte_ring SPSC (elem API, no EAL), spinning, records copied in and out", 0,
                peer_rte_setup, peer_rte_attach, peer_rte_send, peer_rte_recv, NULL, NULL, peer_rte_detach,
                peer_rte_cleanup},
};
