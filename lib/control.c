/* shmring — control events over the ring's System V message queue (include/shmring/control.h).
 *
 * Addressing. A System V queue hands each message to one receiver, so a broadcast is one message
 * per subscriber: subscriber i (an entry of the header's subscriber table, taken by a CAS of its
 * owner word) receives the messages of mtype i + 1. An event for "process P" goes to every
 * subscription P holds. The table is in shared memory and untrusted: indices are ours, owner words
 * and masks are only compared, never used to address anything.
 *
 * Never blocking. Every msgsnd uses IPC_NOWAIT; EAGAIN (queue full) drops the message and counts
 * it (subscriber.dropped, stats.events_dropped). A subscriber that died without closing leaves its
 * messages in the queue; when a send finds the queue full, it frees the slots of dead subscribers
 * and discards their messages, then retries once.
 *
 * Timed receive. msgrcv cannot time out, so a timed receiver sleeps with semtimedop on the ring's
 * control semaphore (SHMRING_SEM_CONTROL), waiting for it to be 0. It rests at 1; a sender, after
 * queueing its messages, takes it to 0 and back to 1 (two semops), which wakes every waiter at once.
 * A receiver checks the queue (IPC_NOWAIT) before each sleep, so it can only miss a pulse that
 * falls between that check and the start of its sleep: each sleep lasts at most CONTROL_SLICE_NS
 * (10 ms), which bounds that delay. SEM_UNDO on both halves of the pulse: a sender killed between
 * them leaves the semaphore at 1, not stuck at 0 (which would make waiters spin).
 */
/* semtimedop needs _GNU_SOURCE, which the build defines for lib/ (tools/bazel/copts.bzl). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "shmring/control.h"

#define CONTROL_SLICE_NS (10 * 1000 * 1000LL)

/* What travels in the queue: the event without the unused part of data. */
struct ctl_msg {
    long mtype; /* subscriber index + 1 */
    struct shmring_event ev;
};
#define EV_HDR_BYTES offsetof(struct shmring_event, data)

struct shmring_control {
    struct shmring__map *map;
    int index;      /* subscriber entry, or -1 for a send-only handle */
    pid_t pid;      /* the process that subscribed */
    int removed;    /* 1: REMOVED delivered; further receives: -EIDRM */
    uint64_t bad;   /* malformed messages skipped */
};

const char *shmring_event_name(uint32_t type)
{
    switch (type) {
    case SHMRING_EV_ATTACH: return "ATTACH";
    case SHMRING_EV_DETACH: return "DETACH";
    case SHMRING_EV_EOS: return "EOS";
    case SHMRING_EV_PEER_DIED: return "PEER_DIED";
    case SHMRING_EV_REMOVED: return "REMOVED";
    case SHMRING_EV_APP: return "APP";
    default: return "UNKNOWN";
    }
}

static int64_t realtime_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Wakes every timed receiver: 1 -> 0 -> 1. If it is 0 already, another sender's pulse is under way
 * and wakes them too. */
static void pulse(int semid)
{
    struct sembuf down = {SHMRING_SEM_CONTROL, -1, IPC_NOWAIT | SEM_UNDO};
    struct sembuf up = {SHMRING_SEM_CONTROL, 1, SEM_UNDO};
    if (semop(semid, &down, 1) == 0)
        while (semop(semid, &up, 1) != 0 && errno == EINTR)
            ;
}

/* Discards every message queued for subscriber i. */
static void purge(int msqid, unsigned i)
{
    struct ctl_msg msg;
    while (msgrcv(msqid, &msg, sizeof(msg.ev), (long)i + 1, IPC_NOWAIT | MSG_NOERROR) >= 0)
        ;
}

/* Frees the entries of subscribers that died without closing, and their messages. */
static int reap_subscribers(const struct shmring__map *m)
{
    struct shmring_subscriber *t = m->hdr->subscribers;
    unsigned i;
    int n = 0;
    for (i = 0; i < SHMRING_SUBSCRIBERS; i++) {
        uint64_t owner = shmring__load(&t[i].owner, acquire);
        if (!shmring__life_dead(m->ident.semid, SHMRING_SEM_LIFE_SUBSCRIBERS + i, owner))
            continue;
        shmring__store(&t[i].mask, 0, relaxed);
        purge(m->ident.msqid, i);
        if (shmring__cas(&t[i].owner, &owner, 0, acq_rel, relaxed))
            n++;
    }
    return n;
}

/* Queues msg (len bytes of event) for every subscriber that wants its type and, if to_pid != 0,
 * belongs to process to_pid. Returns how many it reached, or -EIDRM. */
static int deliver(const struct shmring__map *m, struct ctl_msg *msg, size_t len, pid_t to_pid)
{
    struct shmring_subscriber *t = m->hdr->subscribers;
    uint32_t bit = SHMRING_EV_BIT(msg->ev.type);
    unsigned i;
    int sent = 0, reaped = 0;
    for (i = 0; i < SHMRING_SUBSCRIBERS; i++) {
        uint64_t owner = shmring__load(&t[i].owner, acquire);
        if (owner == 0 || !(shmring__load(&t[i].mask, relaxed) & bit))
            continue;
        if (to_pid != 0 && SHMRING_OWNER_PID(owner) != to_pid)
            continue;
        msg->mtype = (long)i + 1;
        for (;;) {
            if (msgsnd(m->ident.msqid, msg, len, IPC_NOWAIT) == 0) {
                sent++;
                break;
            }
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN && !reaped) {
                reaped = 1;
                if (reap_subscribers(m) > 0)
                    continue; /* room may have been made: once more */
            }
            if (errno == EIDRM || errno == EINVAL)
                return -EIDRM;
            /* Full (or not permitted): dropped, never waited for. */
            shmring__fetch_add(&t[i].dropped, 1, relaxed);
            shmring__fetch_add(&m->hdr->stats.events_dropped, 1, relaxed);
            break;
        }
    }
    if (sent) {
        shmring__fetch_add(&m->hdr->stats.events_sent, (uint64_t)sent, relaxed);
        pulse(m->ident.semid);
    }
    return sent;
}

/* Is anybody subscribed to this type at all? Most rings have no subscribers: then an event costs
 * one pass over 1 KiB of shared memory and no system call. */
static int wanted(const struct shmring__map *m, uint32_t type)
{
    struct shmring_subscriber *t = m->hdr->subscribers;
    unsigned i;
    for (i = 0; i < SHMRING_SUBSCRIBERS; i++)
        if (shmring__load(&t[i].owner, relaxed) != 0 && (shmring__load(&t[i].mask, relaxed) & SHMRING_EV_BIT(type)))
            return 1;
    return 0;
}

void shmring__event(const struct shmring__map *m, uint32_t type, int role, pid_t pid)
{
    struct ctl_msg msg;
    if (m == NULL || m->anon || !wanted(m, type))
        return;
    memset(&msg, 0, sizeof(msg));
    msg.ev.type = type;
    msg.ev.role = (uint32_t)role;
    msg.ev.pid = (int32_t)pid;
    msg.ev.time_ns = realtime_ns();
    deliver(m, &msg, EV_HDR_BYTES, 0);
}

/* Frees owner word `word` if its holder is gone: semaphore `sem` (a presence count or a life
 * semaphore, both SEM_UNDO, taken before the word was set and given back after it was cleared)
 * reads 0 after the word was loaded. Never judged by pid: that would be wrong across PID
 * namespaces. */
static int reap_word(const struct shmring__map *m, SHMRING_ATOMIC(uint64_t) *word, unsigned sem)
{
    uint64_t owner = shmring__load(word, acquire);
    if (!shmring__life_dead(m->ident.semid, sem, owner))
        return 0;
    if (!shmring__cas(word, &owner, 0, acq_rel, relaxed))
        return 0; /* someone else found it first (or a new owner came) */
    shmring__fetch_add(&m->hdr->stats.peer_deaths, 1, relaxed);
    shmring__event(m, SHMRING_EV_PEER_DIED,
                   (owner & SHMRING_OWNER_CONSUMER) ? SHMRING_CONSUMER : SHMRING_PRODUCER, SHMRING_OWNER_PID(owner));
    return 1;
}

int shmring__reap_absent(const struct shmring__map *m, int semid, int role)
{
    SHMRING_ATOMIC(uint64_t) *word;
    uint64_t owner;
    if (m->ident.kind != SHMRING_KIND_SPSC)
        return 0;
    word = role == SHMRING_PRODUCER ? &m->hdr->prod.owner : &m->hdr->cons.owner;
    /* Owner first, presence second: an attacher counts itself before it stores its owner word and a
     * closer clears the word before it uncounts itself, so a word seen before a count of 0 belongs to
     * a process whose SEM_UNDO adjustment the kernel has applied: it exited, whatever its pid looks
     * like from here (still exiting, or in another PID namespace). */
    owner = shmring__load(word, acquire);
    if (owner == 0 || shmring__sem_getval(semid, role == SHMRING_PRODUCER ? SHMRING_SEM_PRODUCERS
                                                                            : SHMRING_SEM_CONSUMERS) != 0)
        return 0;
    if (!shmring__cas(word, &owner, 0, acq_rel, relaxed))
        return 0;
    shmring__fetch_add(&m->hdr->stats.peer_deaths, 1, relaxed);
    shmring__event(m, SHMRING_EV_PEER_DIED, role, SHMRING_OWNER_PID(owner));
    return 1;
}

int shmring__reap_dead(const struct shmring__map *m)
{
    struct shmring_header *hdr = m->hdr;
    int n = 0;
    if (m->ident.kind == SHMRING_KIND_SPSC) {
        n += reap_word(m, &hdr->prod.owner, SHMRING_SEM_PRODUCERS);
        n += reap_word(m, &hdr->cons.owner, SHMRING_SEM_CONSUMERS);
    } else if (m->ident.kind == SHMRING_KIND_BCAST) {
        n += reap_word(m, &hdr->prod.owner, SHMRING_SEM_PRODUCERS);
        n += shmring__bcast_reap(m); /* the consumer table (lib/bcast.c) */
    } else {
        /* A dead participant's entry may go: recovery treats a position no live handle holds as
         * abandoned, entry or not (lib/mpmc.c held_by_live). */
        struct shmring_participant *t =
            (struct shmring_participant *)((uint8_t *)hdr + SHMRING_HEADER_SIZE);
        unsigned i;
        for (i = 0; i < SHMRING_MPMC_PARTICIPANTS; i++)
            n += reap_word(m, &t[i].owner, SHMRING_SEM_LIFE_ENTRIES + i);
    }
    return n;
}

/* --- the public API ---------------------------------------------------------------------------- */

int shmring_control_open(const char *name, uint32_t mask, struct shmring_control **out)
{
    struct shmring_control *c;
    struct shmring_subscriber *t;
    uint64_t mine;
    unsigned i;
    int err;

    if (out == NULL)
        return -EINVAL;
    *out = NULL;
    if (mask & ~SHMRING_EV_ALL)
        return -EINVAL;
    c = (struct shmring_control *)calloc(1, sizeof(*c));
    if (c == NULL)
        return -ENOMEM;
    if ((err = shmring__map_open(name, 0, &c->map)) != 0) {
        free(c);
        return err;
    }
    c->index = -1;
    c->pid = getpid();
    if (mask == 0) {
        *out = c;
        return 0;
    }
    t = c->map->hdr->subscribers;
    mine = shmring__self_owner(SHMRING_PRODUCER);
    for (i = 0; i < SHMRING_SUBSCRIBERS && c->index < 0; i++) {
        /* As an MPMC entry (lib/life.c): the word, then its semaphore; hold, then CAS. */
        unsigned sem = SHMRING_SEM_LIFE_SUBSCRIBERS + i;
        uint64_t cur = shmring__load(&t[i].owner, acquire);
        if (cur != 0 && !shmring__life_dead(c->map->ident.semid, sem, cur))
            continue;
        if ((err = shmring__life_hold(c->map->ident.semid, sem)) != 0) {
            shmring__map_put(c->map);
            free(c);
            return err;
        }
        if (shmring__cas(&t[i].owner, &cur, mine, acq_rel, relaxed))
            c->index = (int)i;
        else
            shmring__life_drop(c->map->ident.semid, sem);
    }
    if (c->index < 0) {
        shmring__map_put(c->map);
        free(c);
        return -EUSERS;
    }
    /* Ours now. Whatever an earlier (dead) owner left queued is not for us. */
    shmring__store(&t[c->index].mask, 0, relaxed);
    purge(c->map->ident.msqid, (unsigned)c->index);
    shmring__store(&t[c->index].dropped, 0, relaxed);
    /* Senders read the mask after the owner (acquire): from here on they queue for us. */
    shmring__store(&t[c->index].mask, mask, release);
    *out = c;
    return 0;
}

int shmring_control_set_mask(struct shmring_control *c, uint32_t mask)
{
    if (c == NULL || c->index < 0 || (mask & ~SHMRING_EV_ALL))
        return -EINVAL;
    if (c->pid != getpid())
        return -ECHILD;
    shmring__store(&c->map->hdr->subscribers[c->index].mask, mask, release);
    return 0;
}

uint64_t shmring_control_dropped(const struct shmring_control *c)
{
    if (c == NULL || c->index < 0)
        return 0;
    return shmring__load(&c->map->hdr->subscribers[c->index].dropped, relaxed) + c->bad;
}

/* The queue is gone: the ring was removed. */
static int removed(struct shmring_control *c, struct shmring_event *ev)
{
    if (c->removed)
        return -EIDRM;
    c->removed = 1;
    if (!(shmring__load(&c->map->hdr->subscribers[c->index].mask, relaxed) & SHMRING_EV_BIT(SHMRING_EV_REMOVED)))
        return -EIDRM;
    memset(ev, 0, EV_HDR_BYTES);
    ev->type = SHMRING_EV_REMOVED;
    return 0;
}

/* One msgrcv. 0: an event in *ev; 1: nothing (IPC_NOWAIT); < 0: error. */
static int receive(struct shmring_control *c, struct shmring_event *ev, int nowait)
{
    struct ctl_msg msg;
    for (;;) {
        ssize_t n = msgrcv(c->map->ident.msqid, &msg, sizeof(msg.ev), (long)c->index + 1,
                           (nowait ? IPC_NOWAIT : 0) | MSG_NOERROR);
        if (n < 0) {
            if (errno == ENOMSG)
                return 1;
            if (errno == EINTR)
                return -EINTR;
            if (errno == EIDRM || errno == EINVAL)
                return removed(c, ev);
            return shmring__errno();
        }
        /* Untrusted: anyone allowed to write to the queue can put anything there. */
        if ((size_t)n < EV_HDR_BYTES || msg.ev.len > SHMRING_EVENT_DATA_MAX || (size_t)n != EV_HDR_BYTES + msg.ev.len ||
            msg.ev.type < SHMRING_EV_ATTACH || msg.ev.type > SHMRING_EV_APP || msg.ev.type == SHMRING_EV_REMOVED) {
            c->bad++;
            continue;
        }
        memcpy(ev, &msg.ev, (size_t)n);
        return 0;
    }
}

int shmring_control_recv(struct shmring_control *c, struct shmring_event *ev, int64_t timeout_ns)
{
    int64_t deadline = 0;
    int rc;
    if (c == NULL || ev == NULL || c->index < 0)
        return -EINVAL;
    if (c->pid != getpid())
        return -ECHILD;
    if (c->removed)
        return -EIDRM;
    if (timeout_ns < 0)
        return receive(c, ev, 0);
    if (timeout_ns > 0)
        deadline = shmring__now_ns() + timeout_ns;
    for (;;) {
        struct sembuf zero = {SHMRING_SEM_CONTROL, 0, 0};
        struct timespec ts;
        int64_t left;
        if ((rc = receive(c, ev, 1)) <= 0)
            return rc;
        if (timeout_ns == 0)
            return -EAGAIN;
        left = deadline - shmring__now_ns();
        if (left <= 0)
            return -ETIMEDOUT;
        if (left > CONTROL_SLICE_NS)
            left = CONTROL_SLICE_NS;
        ts.tv_sec = (time_t)(left / 1000000000);
        ts.tv_nsec = (long)(left % 1000000000);
        if (semtimedop(c->map->ident.semid, &zero, 1, &ts) != 0 && (errno == EIDRM || errno == EINVAL))
            return removed(c, ev);
        /* Woken by a pulse, or the slice ended: look again. A semaphore stuck at 0 (someone
         * between the two halves of a pulse) just makes us look more often. */
    }
}

int shmring_control_send(struct shmring_control *c, int32_t to_pid, uint32_t code, const void *data, size_t len)
{
    struct ctl_msg msg;
    if (c == NULL || to_pid < 0 || (data == NULL && len > 0))
        return -EINVAL;
    if (len > SHMRING_EVENT_DATA_MAX)
        return -EMSGSIZE;
    memset(&msg, 0, sizeof(msg));
    msg.ev.type = SHMRING_EV_APP;
    msg.ev.pid = (int32_t)getpid();
    msg.ev.code = code;
    msg.ev.time_ns = realtime_ns();
    msg.ev.len = (uint32_t)len;
    msg.ev.to_pid = to_pid;
    if (len)
        memcpy(msg.ev.data, data, len);
    return deliver(c->map, &msg, EV_HDR_BYTES + len, to_pid);
}

int shmring_control_close(struct shmring_control *c)
{
    if (c == NULL)
        return 0;
    if (c->index >= 0 && c->pid == getpid()) {
        struct shmring_subscriber *e = &c->map->hdr->subscribers[c->index];
        uint64_t owner = shmring__load(&e->owner, acquire);
        shmring__store(&e->mask, 0, relaxed);
        if (!c->removed)
            purge(c->map->ident.msqid, (unsigned)c->index);
        /* Only if it is still ours (a corrupt table is not our problem to fix). */
        if (owner == shmring__self_owner(SHMRING_PRODUCER))
            shmring__cas(&e->owner, &owner, 0, release, relaxed);
        shmring__life_drop(c->map->ident.semid, SHMRING_SEM_LIFE_SUBSCRIBERS + (unsigned)c->index);
    }
    shmring__map_put(c->map);
    free(c);
    return 0;
}
