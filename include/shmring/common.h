/* shmring — definitions shared by every ring kind: errors, configuration, roles, lifecycle.
 *
 * Conventions of the whole API:
 *   - setup calls (create, open, close, unlink) return 0 or a negative errno and never leave a
 *     half-made object behind;
 *   - fast-path calls return a count, 0, or a negative errno (-EAGAIN when full or empty) and
 *     never touch errno;
 *   - nothing here makes a system call unless its comment says so.
 */
#ifndef SHMRING_COMMON_H
#define SHMRING_COMMON_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* This release of the library (shmring.pc's Version comes from here). The shared-memory layout has
 * its own version (SHMRING_ABI_VERSION in layout.h), checked when a ring is opened. */
#define SHMRING_VERSION_MAJOR 1
#define SHMRING_VERSION_MINOR 0
#define SHMRING_VERSION_PATCH 0
#define SHMRING_VERSION_STRING "1.0.0"

/* Longest ring name, in bytes, without the terminating NUL. Names are any bytes but '\0' and '/'. */
#define SHMRING_NAME_MAX 63

/* Permission bits a ring gets when the configuration leaves `mode` at 0. */
#define SHMRING_DEFAULT_MODE 0600u

/* Spins (each a load and a CPU pause) before a waiting side goes to sleep on a semaphore. */
#define SHMRING_DEFAULT_SPIN 4096u

/* Timeouts, in nanoseconds, for the blocking calls: < 0 waits without limit (still with periodic
 * liveness checks), 0 does not sleep but checks that the peer is alive (one system call), > 0 waits
 * at most that long. */
#define SHMRING_FOREVER (-1)

/* Creation flags (struct shmring_config.flags). */
#define SHMRING_F_HUGEPAGES 0x1u /* back the segment with huge pages (SHM_HUGETLB); needs vm.nr_hugepages */
/* The wake-up protocol of the ring (docs/wakeup.md), fixed at creation for every process that uses
 * it; at most one of the two. Neither: SHMRING_F_WAKE_DEFAULT, except that a process that cannot use
 * membarrier(2) makes a fenced ring (a ring is never made with a protocol its creator cannot run).
 *   FENCED      a full fence after each publish (commit, release) before looking for sleepers,
 *               and one when a side announces that it sleeps. Works in every process.
 *   MEMBARRIER  the publishers need only a compiler barrier; a side about to sleep calls
 *               membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED), which interrupts every CPU running a
 *               process registered for it. Every process that opens the ring must be able to
 *               register (kernel >= 4.16, no seccomp filter against membarrier): create and open
 *               fail with -ENOSYS where it cannot. */
#define SHMRING_F_WAKE_FENCED 0x2u
#define SHMRING_F_WAKE_MEMBARRIER 0x4u
/* The protocol of a ring created with neither flag: membarrier, as before the choice existed. Both
 * were measured in one session (bench --wake fenced|membarrier, 64 B spsc-sleep/mpmc-sleep round
 * trips, far placement, a machine at load 9): p50 32-46 us fenced vs 31-36 us membarrier, spinning
 * spsc 527-767 vs 527-535 ns, within that run's noise (docs/wakeup.md). Revisit on a quiet machine. */
#define SHMRING_F_WAKE_DEFAULT SHMRING_F_WAKE_MEMBARRIER
#define SHMRING_F_LOSSY 0x8u     /* BCAST only: the producer never waits for consumers; a consumer it
                                    laps is told how many records it lost (include/shmring/bcast.h).
                                    Without it (BLOCK) the producer waits for the slowest consumer */
#define SHMRING_F_ALIGN64 0x10u  /* SPSC only: every record starts on a 64-byte cache line (header word
                                    + payload rounded up to 64 bytes, not 8), so two records never
                                    share a line: the consumer never reads a line the producer is
                                    still writing the next record into. Costs space (an 8-byte record
                                    takes 64 bytes); measured in docs/performance.md */

/* What a process attaches as. */
enum shmring_role {
    SHMRING_PRODUCER = 1,
    SHMRING_CONSUMER = 2,
};

/* Ring kinds, as stored in the shared header. */
enum shmring_kind {
    SHMRING_KIND_SPSC = 1, /* one producer, one consumer, variable-length records */
    SHMRING_KIND_MPMC = 2, /* many producers, many consumers, fixed-size slots */
    SHMRING_KIND_BCAST = 3, /* one producer, many consumers that each see every record, fixed-size slots */
};

/* Creation parameters. Initialise with shmring_config_init() and set what you need. */
struct shmring_config {
    uint64_t capacity;       /* SPSC: bytes of the data area, a power of two in
                                [SHMRING_SPSC_CAPACITY_MIN, SHMRING_SPSC_CAPACITY_MAX];
                                MPMC, BCAST: number of slots, a power of two in
                                [SHMRING_MPMC_SLOTS_MIN, SHMRING_MPMC_SLOTS_MAX];
                                0: the kind's default (SPSC 1 MiB, MPMC and BCAST 4096 slots) */
    uint32_t mode;           /* permission bits (like open(2)'s mode, & 0777); 0 means 0600 */
    uint32_t flags;          /* SHMRING_F_* */
    uint32_t slot_size;      /* MPMC, BCAST: payload bytes per slot, [SHMRING_MPMC_SLOT_MIN,
                                SHMRING_MPMC_SLOT_MAX]; ignored by SPSC */
    uint32_t reserved0;      /* 0 */
    uint64_t start_position; /* where the positions start (SPSC: rounded down to the record
                                alignment, 8 or 64). 0 normally;
                                tests set it near 2^32 or 2^64 to exercise wraparound */
};

/* Fills *cfg with the defaults (capacity 0: 1 MiB for SPSC, 4096 slots for MPMC; slot size 64 for
 * MPMC; mode 0600; no flags; positions from 0). Thread-safe. */
void shmring_config_init(struct shmring_config *cfg);

/* Error codes beyond the usual errno meanings, as shmring uses them:
 *   -EAGAIN           the ring is full (producer) or empty (consumer); try again
 *   -EPIPE            end of stream: the producer closed or died and everything was read, or the
 *                     consumer is gone and a blocking push would never finish
 *   -ETIMEDOUT        a blocking call's timeout expired
 *   -EMSGSIZE         a record larger than the ring allows, or than the caller's buffer
 *   -ENOENT           no ring of that name
 *   -EEXIST           a ring (or another System V object) already holds that name's key
 *   -EBADMSG          the segment under that name is not a shmring (foreign magic)
 *   -EPROTONOSUPPORT  the ring was made by an incompatible version of shmring (ABI) or is of
 *                     another kind than asked for
 *   -EUCLEAN          the ring's shared memory holds values that break its invariants (corrupt)
 *   -EIDRM            the ring was removed while in use
 *   -EBUSY            the role is taken (an SPSC ring has one producer and one consumer)
 *   -EDEADLK          the call would wait for space that only this caller can free
 *   -ENOSYS           the ring uses membarrier(2) wake-ups (SHMRING_F_WAKE_MEMBARRIER), which this
 *                     process cannot use (old kernel, seccomp filter): create the ring with
 *                     SHMRING_F_WAKE_FENCED (or let a process without membarrier create it)
 *   -EUSERS           every entry of a ring's table of handles (MPMC participants, BCAST consumers,
 *                     control subscribers) is taken by a live process
 *   -ECHILD           a control handle inherited through fork(): open one in this process
 *   -EINTR            a signal arrived while a control call waited without limit
 *   -ENOBUFS          BCAST consumer: the producer lapped it; the records it missed are counted
 *                     (shmring_bcast_lost()) and the next call reads the oldest record still there
 */

/* Every code a shmring call can return (negated), with the message shmring_strerror() gives it:
 * SHMRING_ERRNO_MAP(X) expands X(NAME, "message") once per code, as libuv's UV_ERRNO_MAP does, so a
 * program can build its own tables (a switch, a name lookup, a binding's exceptions):
 *
 *     #define CASE(name, msg) case -name: return #name;
 *     switch (err) { SHMRING_ERRNO_MAP(CASE) }
 *
 * The first group are shmring's own meanings (above); the second are the usual errno meanings,
 * passed through from the system calls the library makes (shmget, semop, msgsnd, eventfd, ...).
 * test/errors checks that the library's sources return no code outside this table. */
#define SHMRING_ERRNO_MAP(X)                                                                       \
    X(EAGAIN, "ring is full (producer) or empty (consumer); try again")                           \
    X(EPIPE, "end of stream: the other side closed or died")                                      \
    X(ETIMEDOUT, "timed out waiting on the ring")                                                 \
    X(EMSGSIZE, "record too large for the ring or for the buffer")                                \
    X(ENOENT, "no ring of that name")                                                             \
    X(EEXIST, "a ring or another System V object already holds that name's key")                  \
    X(EBADMSG, "not a shmring segment (foreign magic); left untouched")                           \
    X(EPROTONOSUPPORT, "ring made by an incompatible shmring version, or of another kind")        \
    X(EUCLEAN, "ring is corrupt: its shared memory breaks the ring's invariants")                 \
    X(EIDRM, "ring was removed")                                                                  \
    X(EBUSY, "that side of the ring is already attached")                                         \
    X(EDEADLK, "would wait for space held by the caller's own uncommitted records")               \
    X(ENOSYS, "this ring uses membarrier(2) wake-ups, which this process cannot use; "            \
              "create it with SHMRING_F_WAKE_FENCED")                                             \
    X(EUSERS, "every handle (participant, consumer or subscriber) entry of the ring is taken")    \
    X(ENOBUFS, "lapped by the producer: records were lost (broadcast ring)")                      \
    X(ECHILD, "handle inherited through fork(): open the ring again in this process")             \
    X(ESTALE, "this handle's claim was recovered by another process that judged it dead (MPMC)") \
    X(EINTR, "interrupted by a signal while waiting")                                             \
    X(EINVAL, "invalid argument")                                                                 \
    X(ENAMETOOLONG, "ring name too long (at most 63 bytes)")                                      \
    X(EACCES, "permission denied by the ring's mode")                                             \
    X(EPERM, "operation not permitted")                                                           \
    X(ENOMEM, "not enough memory, or a shared-memory limit was reached (shmmax, shmall; "         \
              "vm.nr_hugepages for huge pages)")                                                  \
    X(ENOSPC, "system limit on System V objects reached (see ipcs -l)")                           \
    X(ERANGE, "a semaphore's value would exceed its limit (SEMVMX)")                              \
    X(EFBIG, "size too large for the system")                                                     \
    X(E2BIG, "argument list or message too long for the system")                                  \
    X(EOVERFLOW, "value too large for the system's data type")                                    \
    X(EMFILE, "too many open files in this process (eventfd)")                                    \
    X(ENFILE, "too many open files in the system (eventfd)")                                      \
    X(EFAULT, "bad address passed to the kernel")                                                 \
    X(EIO, "input/output error (a system call failed without saying why)")

/* A static, human-readable message for a code returned by any shmring call (negative or positive
 * errno): SHMRING_ERRNO_MAP's message, "success" for 0, the system's description of any other
 * errno, or "unknown error". Thread-safe; never returns NULL. */
const char *shmring_strerror(int err);

/* The symbolic name of a code ("EAGAIN", ...: every code of SHMRING_ERRNO_MAP), "OK" for 0, or
 * "UNKNOWN". Thread-safe; never returns NULL. */
const char *shmring_err_name(int err);

/* Test points (test builds only). The rings' operations call SHMRING__TEST_POINT(id) right after
 * each store to shared memory (and after each claim/take CAS), so that adversarial tests can stop
 * or kill a process at exactly that step (test/adversarial/). In a normal build the macro expands
 * to nothing and the code is unchanged; a build with SHMRING_TEST_POINTS defined (the Bazel target
 * //:shmring_testpoints, for tests only) calls shmring__test_hook(id) when a test has set it. */
enum shmring__test_point_id {
    SHMRING__TP_SPSC_PLACE = 1,       /* reserve: header word(s) and the zero word after the record stored */
    SHMRING__TP_SPSC_COMMIT_WORD,     /* commit: the first header word released (records committed) */
    SHMRING__TP_SPSC_COMMIT_POS,      /* commit: prod.pos stored */
    SHMRING__TP_SPSC_COMMIT_COUNT,    /* commit: prod.count stored */
    SHMRING__TP_SPSC_PAD,             /* reserve slow path: a padding record published on its own */
    SHMRING__TP_SPSC_RELEASE_POS,     /* release: cons.pos stored (records freed) */
    SHMRING__TP_SPSC_RELEASE_COUNT,   /* release: cons.count stored */
    SHMRING__TP_SPSC_PUBLISH,         /* release, peek: freed.pos stored (space handed to the producer) */
    SHMRING__TP_MPMC_INTENT_N,        /* claim/take: intent_n stored */
    SHMRING__TP_MPMC_INTENT_POS,      /* claim/take: intent_pos stored */
    SHMRING__TP_MPMC_CLAIM_CAS,       /* claim/take: the side's position CAS succeeded */
    SHMRING__TP_MPMC_CLAIM_LOST,      /* claim/take: lost the CAS, intent_n cleared */
    SHMRING__TP_MPMC_PUBLISH_LEN,     /* publish: a slot's length stored */
    SHMRING__TP_MPMC_PUBLISH_SEQ,     /* publish: a slot's sequence released (record committed) */
    SHMRING__TP_MPMC_RELEASE_SEQ,     /* release: a slot's sequence handed to the next lap */
    SHMRING__TP_MPMC_SKIP_TAKEN,      /* a consumer took a skipped slot (cons.pos CAS) */
    SHMRING__TP_MPMC_SKIP_FREED,      /* ... and freed it for the next lap */
    SHMRING__TP_MPMC_ABANDONED,       /* recovery: a dead holder's slot freed (sequence CAS) */
    SHMRING__TP_WAKE_BEFORE_POST,     /* wake: decided to post (someone asleep), the post not made yet */
    SHMRING__TP_WAKE_BEFORE_MARK,     /* wake: the post made, the generation not marked yet */
    SHMRING__TP_LEFTOVERS,            /* unlink, or create's reap of a half-made ring: the key's segment
                                         looked at, the set and queue on the key not read yet */
    SHMRING__TP_LEFTOVERS_IDS_READ,   /* ... their ids read, the key not checked again yet */
    SHMRING__TP_CREATE_LEFTOVER,      /* create: a set (then a queue) found on the key, not looked at yet */
    SHMRING__TP_CREATE_STEP,          /* create: the segment attached (an anonymous one marked for
                                         removal); the queue made (an anonymous ring's first, a
                                         named one's last); the set made; its initial values (an
                                         anonymous ring's tag) set */
    SHMRING__TP_COUNT
};
#ifdef SHMRING_TEST_POINTS
extern void (*volatile shmring__test_hook)(int id);
static inline void shmring__test_point(int id)
{
    void (*hook)(int) = shmring__test_hook;
    if (hook)
        hook(id);
}
#define SHMRING__TEST_POINT(id) shmring__test_point(id)
#else
#define SHMRING__TEST_POINT(id) ((void)0)
#endif

/* Removes the ring called `name`, of any kind: its segment (freed by the kernel once the last
 * process detaches), its semaphore set and its message queue (at once: processes waiting on them
 * get -EIDRM). Attached processes keep their mapping, so nobody reads unmapped memory.
 * Returns 0, -ENOENT (no such ring), -EBADMSG (the key holds a foreign segment, left untouched),
 * -EBUSY (a ring still being created by a live process), -EPERM/-EACCES, -EINVAL (bad name).
 * Any thread or process may call it. Concurrent unlinks and creates of one name are safe: an
 * unlink removes only the ring it found, never a ring created under the name meanwhile (that one
 * keeps its semaphore set and queue). System calls: several. */
int shmring_unlink(const char *name);

/* How many references this process holds on its shared attachment of the ring `name`: one per open
 * ring or control handle (repeated opens of one name in a process share one mapping of the
 * segment). 0 if none. A lock-free lookup (RCU) in the process's registry: safe from any thread, no
 * system call. -EINVAL / -ENAMETOOLONG for a bad name. */
int shmring_attached(const char *name);

/* The System V key that `name` maps to (what ipcs shows), or -EINVAL / -ENAMETOOLONG for a bad name
 * (as a negative value in the returned int64_t). Thread-safe, no system call. */
int64_t shmring_name_key(const char *name);

#ifdef __cplusplus
}
#endif

#endif /* SHMRING_COMMON_H */
