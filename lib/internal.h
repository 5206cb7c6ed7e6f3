/* shmring — declarations shared by the files of lib/. Not installed. */
#ifndef SHMRING_LIB_INTERNAL_H
#define SHMRING_LIB_INTERNAL_H

#include <stdint.h>
#include <sys/sem.h>
#include <sys/types.h>

#include "shmring/common.h"
#include "shmring/control.h"
#include "shmring/layout.h"

/* How a waiter makes its "I sleep" announcement visible before it re-checks the ring: the ring's
 * protocol (SHMRING_HDR_ASYM_WAKE), as this process runs it. There is no third, weaker mode: a
 * process that cannot run a ring's protocol cannot open it (wait.c). */
enum shmring__waiter_mode {
    SHMRING__WAIT_MEMBARRIER = 1, /* membarrier(GLOBAL_EXPEDITED): peers' fast paths need no fence */
    SHMRING__WAIT_FENCE = 2,      /* a full fence; the ring's fast paths fence too */
};

/* Longest single sleep: a waiter re-checks liveness at least this often. */
#define SHMRING__SLICE_NS (100 * 1000 * 1000LL)

/* The process's mapping of a ring segment, shared by all its handles on that ring (registry.c):
 * repeated opens of one name share one shmat(). Reference counted; `hdr` stays mapped until the last
 * handle is gone. The ids were checked against the ring's key at open. */
struct shmring__map {
    struct shmring_header *hdr; /* local address of the segment */
    size_t size;                /* bytes mapped */
    int shmid;
    int anon;                   /* anonymous ring: not in the registry's table */
    struct shmring_ident ident; /* the identity as validated at attach (kind, geometry, semid,
                                   msqid): handles take these from here, never from the (writable
                                   by anyone) header */
    char name[SHMRING_NAME_MAX + 1];
};

/* One process's attachment to a ring segment: the out-of-line part of a handle. */
struct shmring__attach {
    struct shmring__map *map; /* the shared mapping: segment, validated identity */
    int semid;       /* map->ident.semid, used on every wait and presence change */
    int role;        /* enum shmring_role */
    int waiter_mode; /* enum shmring__waiter_mode */
    pid_t pid;       /* process whose presence (SEM_UNDO) this attachment holds */
    void *handle;    /* the struct shmring_spsc / shmring_mpmc this belongs to */
    void (*fork_child)(struct shmring__attach *); /* kind-specific work in a forked child, or NULL */
    struct shmring__attach *prev, *next; /* the process's list, for fork */
    struct shmring__evfd *evfd; /* SPSC consumer: the event fd's helper thread, or NULL (evfd.c) */
};
/* Stops the helper thread of shmring_spsc_event_fd() and closes its fd (before detaching). */
void shmring__evfd_close(struct shmring__attach *a);
/* In a forked child: the helper thread did not come along; drop the parent's (its fd copy too). */
void shmring__evfd_fork_child(struct shmring__attach *a);

/* The fourth argument of semctl(), which the caller defines (semctl(2)). */
union shmring__semun {
    int val;
    struct semid_ds *buf;
    unsigned short *array;
};

/* --- life.c: whether a table entry's holder is alive (the kernel's SEM_UNDO, not a pid) --- */
/* Before taking entry `sem` (SHMRING_SEM_LIFE_* + index): +1 with SEM_UNDO. 0 or -errno. */
int shmring__life_hold(int semid, unsigned sem);
/* After giving an entry up (or losing the race for it): -1 with SEM_UNDO (never blocks). */
void shmring__life_drop(int semid, unsigned sem);
/* Is the holder of an entry whose owner word was `owner` (loaded before) gone? 1 only when
 * owner != 0 and the semaphore reads 0; cannot tell: 0. */
int shmring__life_dead(int semid, unsigned sem, uint64_t owner);
/* Every semaphore of the set at once (one system call for a whole table). 0 or -errno. */
int shmring__life_read(int semid, unsigned short vals[SHMRING_NSEMS]);

/* --- util.c --- */
int shmring__check_name(const char *name);            /* 0, -EINVAL, -ENAMETOOLONG */
key_t shmring__key(const char *name);                 /* name already checked */
int64_t shmring__now_ns(void);                        /* CLOCK_MONOTONIC */
/* This process's start time in clock ticks after boot (field 22 of /proc/self/stat), 0 if unknown. */
uint64_t shmring__self_start(void);
/* This process's owner word for `role` (layout.h): who holds an entry, for the tools and the
 * events. Whether that holder is alive is never judged from it (lib/life.c). */
uint64_t shmring__self_owner(int role);

/* --- segment.c --- */
/* Creates a segment of `kind` with `data_bytes` at `data_offset`, its semaphore set and message
 * queue, fills the identity, lets init() set up the kind's own state, publishes it and leaves it
 * attached at *hdr (size in *size, id in *shmid) and, if ident is not NULL, its identity as made
 * (from this process's own variables) in *ident. name NULL: anonymous (IPC_PRIVATE, already
 * marked for removal). */
int shmring__seg_create(const char *name, uint32_t kind, uint64_t capacity, uint32_t slot_size,
                        uint64_t data_offset, uint64_t data_bytes, const struct shmring_config *cfg,
                        int (*init)(struct shmring_header *, const struct shmring_config *),
                        struct shmring_header **hdr, size_t *size, int *shmid,
                        struct shmring_ident *ident);
/* Attaches the ring `name`, waits for its publication, validates its identity against `kind` (0:
 * either kind) and the kernel's idea of the segment size, and checks that the semaphore set and
 * queue the header names carry the ring's key. */
int shmring__seg_open(const char *name, uint32_t kind, struct shmring_header **hdr, size_t *size,
                      int *shmid, struct shmring_ident *ident);
void shmring__seg_detach(struct shmring_header *hdr);
/* Removes the semaphore set and queue an identity in process memory names (made by this process,
 * or validated at open), each only if it still carries the identity's key. */
void shmring__seg_remove_objects(const struct shmring_ident *ident);

/* Bytes between MPMC slots: header + payload rounded up so that no slot shares a cache line with
 * another (16, 32, 64, then multiples of 64). A 64-byte payload in an 80-byte stride shared its
 * last line with the next slot's sequence word, which the producer then had to take back from the
 * consumer on the next message: measured +90 ns per round trip. */
static inline uint64_t shmring__mpmc_stride(uint64_t slot_size)
{
    uint64_t need = SHMRING_MPMC_SLOT_HDR + slot_size, stride = SHMRING_MPMC_SLOT_HDR;
    if (need > SHMRING_CACHELINE)
        return (need + SHMRING_CACHELINE - 1) & ~(uint64_t)(SHMRING_CACHELINE - 1);
    while (stride < need)
        stride *= 2;
    return stride;
}

/* --- wait.c --- */
int shmring__membarrier_ok(void);        /* registers this process once; 1 if it can use membarrier */
void shmring__membarrier_reregister(void); /* in a forked child */
/* The waiter mode of this process for a ring with these flags, or -ENOSYS: the ring uses membarrier
 * and this process cannot. Called at every attach (it checks that membarrier still works here). */
int shmring__waiter_mode(const struct shmring_ident *ident);
/* The SHMRING_HDR_* wake-up bits of a new ring made with config flags cfg_flags by this process, or
 * -EINVAL (both protocols asked for) or -ENOSYS (membarrier asked for and not usable here). */
int shmring__wake_hdr_flags(uint32_t cfg_flags);
/* The waiter's barrier after announcing itself: 0, or -ENOSYS if membarrier() failed (a seccomp
 * filter installed after the ring was opened): the wait cannot go on soundly and says so. */
int shmring__waiter_fence(int waiter_mode);
/* Adds 1 to a wake-up semaphore only if it is 0: the value never exceeds 1 from posts. */
int shmring__sem_post_capped(int semid, int sem);
/* Sleeps on `sem` for at most ns. 0 woken, -EAGAIN slice over, -EIDRM removed. EINTR: 0. */
int shmring__sem_sleep(int semid, int sem, int64_t ns);
int shmring__sem_getval(int semid, int sem); /* value or -EIDRM */

/* One side waiting on a ring, for shmring__wait(). */
struct shmring__wait_spec {
    struct shmring__attach *a;
    struct shmring_header *hdr;
    int consumer;  /* the side that waits */
    uint32_t spin; /* spins before sleeping */
    /* 0 ready, 1 not yet, < 0 an error to return. `thorough` once the waiter has announced itself:
     * the MPMC ring then also frees slots held by dead processes. */
    int (*ready)(void *ctx, int thorough);
    void *ctx;
};

/* The waiting half of the eventcount protocol (top of wait.c): spin, then announce, re-check and
 * sleep in slices until ready, the peers are gone (-EPIPE), the deadline passes (-ETIMEDOUT;
 * timeout 0: -EAGAIN) or the ring is removed (-EIDRM). *deadline: 0 until the first wait of a call
 * sets it from timeout_ns. */
int shmring__wait(const struct shmring__wait_spec *w, int64_t timeout_ns, int64_t *deadline);
/* The waking half: called when the side that sleeps on `sem` announced a sleeper. At most one
 * post is under way at a time. */
void shmring__wake(struct shmring_header *hdr, int semid, int sem);
/* Presence of a side: attach (exclusive: fails with -EBUSY if the count is not 0), detach, and
 * the two halves of handing an attachment to a forked child. */
int shmring__presence_attach(int semid, int role, int exclusive);
int shmring__presence_detach(int semid, int role);
int shmring__presence_fork_prepare(int semid, int role);
int shmring__presence_fork_child(int semid, int role);

/* --- registry.c: the process's mappings (cds_lfht under RCU) and handles (re-registered in a
 * forked child) --- */
/* The process's mapping of ring `name` (kind 0: either kind), shared with its other handles: found
 * under RCU, else attached (shmring__seg_open) and added. A mapping whose ring was removed is not
 * reused. Returns 0 with a reference in *out, or the errors of shmring__seg_open(). */
int shmring__map_open(const char *name, uint32_t kind, struct shmring__map **out);
/* A private mapping for an anonymous ring (hdr attached by the caller), or NULL (ENOMEM). */
struct shmring__map *shmring__map_anon(struct shmring_header *hdr, size_t size, int shmid,
                                       const struct shmring_ident *ident);
/* Takes one more reference (the caller holds one). */
void shmring__map_ref(struct shmring__map *m);
/* Drops a reference; the last one detaches the segment and frees the mapping after a grace period. */
void shmring__map_put(struct shmring__map *m);
void shmring__registry_add(struct shmring__attach *a);
void shmring__registry_remove(struct shmring__attach *a);

/* --- control.c: lifecycle events on the ring's message queue (never blocks) --- */
/* Sends event `type` about (pid, role) to every subscriber that wants it. */
void shmring__event(const struct shmring__map *m, uint32_t type, int role, pid_t pid);
/* Looks for handles of the ring whose process died without closing them (SPSC side owners, MPMC
 * participants), frees their owner words (one CAS: each death is found once) and reports each as
 * SHMRING_EV_PEER_DIED. Returns how many it found. */
int shmring__reap_dead(const struct shmring__map *m);
/* SPSC: the side `role` holds an owner word but no presence count: its process exited without
 * closing (decided by the kernel's SEM_UNDO, not by its pid, so an exiting process or one in another
 * PID namespace is judged right). Clears the word, counts and reports the death once. 1 if reaped. */
int shmring__reap_absent(const struct shmring__map *m, int semid, int role);

/* --- bcast.c --- */
/* Frees the consumer entries of a broadcast ring whose holders died, reporting each (once) as
 * SHMRING_EV_PEER_DIED. Returns how many. */
int shmring__bcast_reap(const struct shmring__map *m);

/* --- state shared by both ring kinds (wait.c) --- */
/* 0 if the ring may be used: not found broken by this handle (*broken) nor marked corrupt by
 * anyone; else the error, which is also kept in *broken. */
int shmring__usable(struct shmring_header *hdr, int *broken);
/* A broken invariant: remember it in *broken, mark the ring corrupt for everyone; -EUCLEAN. */
int shmring__mark_corrupt(struct shmring_header *hdr, int *broken);
/* Attached handles of the other side than `role`, or -EIDRM. */
int shmring__peer_count(const struct shmring__attach *a);

/* --- error.c --- */
int shmring__errno(void); /* -errno, never 0 */

#endif
