/* Helpers shared by the MPMC tests (plain programs and Criterion tests alike): the checked record
 * format, a delivery ledger that many threads or processes can mark, a read-only view of a ring's
 * header, tracked children and start barriers.
 *
 * Record format (at least MT_REC_MIN bytes; the rest of the record is testutil_fill()ed):
 *   bytes 0-3   producer id
 *   bytes 4-7   ownership stamp: MT_STAMP_PROD | producer while a producer holds the slot,
 *               MT_STAMP_CONS | consumer while a consumer holds it (DPDK-style: a holder writes its
 *               stamp, and checks it is still there just before it lets the slot go; a second
 *               owner of the same slot overwrites it)
 *   bytes 8-15  per-producer sequence number (0, 1, 2, ...)
 */
#ifndef SHMRING_TEST_MPMC_MPMCUTIL_H
#define SHMRING_TEST_MPMC_MPMCUTIL_H

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "shmring/shmring.h"
#include "testutil.h"

#define MT_MS (1000000LL)
#define MT_SEC (1000000000LL)

#define MT_REC_MIN 16u
#define MT_STAMP_PROD 0x50000000u
#define MT_STAMP_CONS 0xC0000000u

struct mt_rec_head {
    uint32_t producer;
    uint32_t stamp;
    uint64_t seq;
};

static inline uint64_t mt_seed(uint32_t producer, uint64_t seq)
{
    return ((uint64_t)producer << 48) ^ seq ^ UINT64_C(0xa5a5a5a5);
}

/* Writes a record of len bytes (len >= MT_REC_MIN) at p, stamped as held by its producer. */
static inline void mt_rec_write(void *p, size_t len, uint32_t producer, uint64_t seq)
{
    struct mt_rec_head h = {producer, MT_STAMP_PROD | producer, seq};
    memcpy(p, &h, sizeof(h));
    testutil_fill((uint8_t *)p + sizeof(h), len - sizeof(h), mt_seed(producer, seq));
}

static inline uint32_t mt_rec_stamp(const void *p)
{
    uint32_t s;
    memcpy(&s, (const uint8_t *)p + 4, 4);
    return s;
}

static inline void mt_rec_set_stamp(void *p, uint32_t stamp)
{
    memcpy((uint8_t *)p + 4, &stamp, 4);
}

/* Checks a record's length and contents (not its stamp). Returns NULL or what is wrong. */
static inline const char *mt_rec_check(const void *p, size_t len, uint32_t nproducers, struct mt_rec_head *out)
{
    struct mt_rec_head h;
    if (len < MT_REC_MIN)
        return "record shorter than its header";
    memcpy(&h, p, sizeof(h));
    if (h.producer >= nproducers)
        return "unknown producer id";
    if (!testutil_check_fill((const uint8_t *)p + sizeof(h), len - sizeof(h), mt_seed(h.producer, h.seq)))
        return "payload does not match its producer and sequence";
    *out = h;
    return NULL;
}

/* Random record length in [MT_REC_MIN, slot_size]. */
static inline size_t mt_rand_len(uint64_t *rng, uint32_t slot_size)
{
    return MT_REC_MIN + (size_t)(testutil_rand(rng) % (slot_size - MT_REC_MIN + 1));
}

/* --- Delivery ledger: one bit per (producer, sequence); markable from any thread or process ---- */

struct mt_ledger {
    _Atomic uint64_t dups;   /* a bit that was already set */
    _Atomic uint64_t bad;    /* records that failed a check (content, stamp, order, range) */
    _Atomic uint64_t total;  /* records marked */
    uint32_t nproducers;
    uint32_t reserved;
    uint64_t max_seq;        /* bits per producer */
    uint64_t words;          /* 64-bit words per producer */
    size_t bytes;            /* of the whole mapping */
    char first_error[256];   /* the first problem found (best effort) */
    _Atomic int first_error_taken;
    _Atomic uint64_t per_consumer[64];
    _Atomic uint64_t bits[];
};

/* Shared anonymous memory: survives fork(), so children mark what their parent checks. */
static inline struct mt_ledger *mt_ledger_new(uint32_t nproducers, uint64_t max_seq)
{
    uint64_t words = (max_seq + 63) / 64;
    size_t bytes = sizeof(struct mt_ledger) + (size_t)(nproducers * words) * sizeof(uint64_t);
    struct mt_ledger *l = (struct mt_ledger *)mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (l == MAP_FAILED)
        return NULL;
    l->nproducers = nproducers;
    l->max_seq = max_seq;
    l->words = words;
    l->bytes = bytes;
    return l;
}

static inline void mt_ledger_free(struct mt_ledger *l)
{
    if (l)
        munmap(l, l->bytes);
}

static inline void mt_ledger_error(struct mt_ledger *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static inline void mt_ledger_error(struct mt_ledger *l, const char *fmt, ...)
{
    atomic_fetch_add(&l->bad, 1);
    if (atomic_exchange(&l->first_error_taken, 1) == 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(l->first_error, sizeof(l->first_error), fmt, ap);
        va_end(ap);
        fprintf(stderr, "mpmc test: %s\n", l->first_error);
    }
}

/* Marks (producer, seq) delivered. Returns 0, or -1 (out of range or already delivered: counted). */
static inline int mt_ledger_mark(struct mt_ledger *l, uint32_t producer, uint64_t seq)
{
    uint64_t bit, old;
    if (producer >= l->nproducers || seq >= l->max_seq) {
        mt_ledger_error(l, "record (%u, %llu) out of range", producer, (unsigned long long)seq);
        return -1;
    }
    bit = UINT64_C(1) << (seq % 64);
    old = atomic_fetch_or(&l->bits[producer * l->words + seq / 64], bit);
    atomic_fetch_add(&l->total, 1);
    if (old & bit) {
        atomic_fetch_add(&l->dups, 1);
        mt_ledger_error(l, "record (%u, %llu) delivered twice", producer, (unsigned long long)seq);
        return -1;
    }
    return 0;
}

static inline int mt_ledger_has(const struct mt_ledger *l, uint32_t producer, uint64_t seq)
{
    return (atomic_load(&l->bits[producer * l->words + seq / 64]) >> (seq % 64)) & 1;
}

/* Checks that exactly the sequences [0, sent) of `producer` were delivered. Returns the first
 * missing (or extra) sequence, or UINT64_MAX when all is well. *missing counts what is missing. */
static inline uint64_t mt_ledger_verify(const struct mt_ledger *l, uint32_t producer, uint64_t sent, uint64_t *missing)
{
    uint64_t first = UINT64_MAX, w, n = 0;
    for (w = 0; w < l->words; w++) {
        uint64_t have = atomic_load_explicit(&l->bits[producer * l->words + w], memory_order_relaxed), want;
        if (sent >= (w + 1) * 64)
            want = UINT64_MAX;
        else if (sent <= w * 64)
            want = 0;
        else
            want = (UINT64_C(1) << (sent - w * 64)) - 1;
        if (have != want) {
            if (first == UINT64_MAX)
                first = w * 64 + (uint64_t)__builtin_ctzll(have ^ want);
            n += (uint64_t)__builtin_popcountll(have ^ want);
        }
    }
    *missing = n;
    return first;
}

/* --- Reading a ring's header the way a tool does: a read-only attachment of its segment ------- */

static inline const struct shmring_header *mt_observe(const char *name)
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

static inline void mt_unobserve(const struct shmring_header *hdr)
{
    if (hdr)
        shmdt(hdr);
}

/* Reads an atomic counter of an observed header. */
#define MT_LOAD(field) atomic_load_explicit((_Atomic uint64_t *)&(field), memory_order_acquire)

/* --- Children ------------------------------------------------------------------------------- */

#define MT_MAX_CHILDREN 32
static pid_t mt_children[MT_MAX_CHILDREN];

/* Forks a tracked child that runs fn(arg) and _exits with its return value. Returns the pid or -1. */
static inline pid_t mt_spawn(int (*fn)(void *), void *arg)
{
    pid_t pid;
    int i;
    fflush(NULL);
    pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        /* A watchdog: no child outlives a wedged test by more than a minute. */
        alarm(60);
        _exit(fn(arg));
    }
    for (i = 0; i < MT_MAX_CHILDREN; i++)
        if (mt_children[i] == 0) {
            mt_children[i] = pid;
            break;
        }
    return pid;
}

static inline void mt_forget(pid_t pid)
{
    int i;
    for (i = 0; i < MT_MAX_CHILDREN; i++)
        if (mt_children[i] == pid)
            mt_children[i] = 0;
}

/* Waits at most timeout_ns for a tracked child (kills it then). Status as testutil_wait_timeout. */
static inline int mt_join(pid_t pid, int64_t timeout_ns)
{
    int st = testutil_wait_timeout(pid, timeout_ns);
    mt_forget(pid);
    return st;
}

/* Kills and reaps a tracked child. */
static inline int mt_kill(pid_t pid)
{
    int st = testutil_kill_wait(pid);
    mt_forget(pid);
    return st;
}

/* Kills and reaps every tracked child (for cleanup after a failure). */
static inline void mt_kill_all(void)
{
    int i;
    for (i = 0; i < MT_MAX_CHILDREN; i++)
        if (mt_children[i] > 0) {
            testutil_kill_wait(mt_children[i]);
            mt_children[i] = 0;
        }
}

static inline void mt_sleep_ns(int64_t ns)
{
    struct timespec ts = {(time_t)(ns / MT_SEC), (long)(ns % MT_SEC)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* --- Pipes as signals and barriers ---------------------------------------------------------- */

/* Reads one byte within timeout_ns. Returns the byte (0..255), -ETIMEDOUT, or -EPIPE (closed). */
static inline int mt_read_byte(int fd, int64_t timeout_ns)
{
    int64_t deadline = testutil_now_ns() + timeout_ns;
    for (;;) {
        struct pollfd p = {fd, POLLIN, 0};
        int64_t left = deadline - testutil_now_ns();
        unsigned char b;
        ssize_t r;
        if (left <= 0)
            return -ETIMEDOUT;
        r = poll(&p, 1, (int)(left / MT_MS) + 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            continue;
        r = read(fd, &b, 1);
        if (r == 1)
            return b;
        if (r == 0)
            return -EPIPE;
        if (errno != EINTR)
            return -errno;
    }
}

/* Reads exactly n bytes within timeout_ns. Returns 0, -ETIMEDOUT or -EPIPE. */
static inline int mt_read_full(int fd, void *buf, size_t n, int64_t timeout_ns)
{
    int64_t deadline = testutil_now_ns() + timeout_ns;
    size_t got = 0;
    while (got < n) {
        struct pollfd p = {fd, POLLIN, 0};
        int64_t left = deadline - testutil_now_ns();
        ssize_t r;
        if (left <= 0)
            return -ETIMEDOUT;
        r = poll(&p, 1, (int)(left / MT_MS) + 1);
        if (r <= 0)
            continue;
        r = read(fd, (uint8_t *)buf + got, n - got);
        if (r == 0)
            return -EPIPE;
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        got += (size_t)r;
    }
    return 0;
}

static inline void mt_write_full(int fd, const void *buf, size_t n)
{
    size_t done = 0;
    while (done < n) {
        ssize_t r = write(fd, (const uint8_t *)buf + done, n - done);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return;
        done += (size_t)r;
    }
}

/* Polls `cond` (an expression) every 200 us for at most timeout_ns; the value is the last result. */
#define MT_WAIT_UNTIL(cond, timeout_ns)                                \
    __extension__({                                                    \
        int64_t mt_deadline_ = testutil_now_ns() + (timeout_ns);       \
        int mt_ok_;                                                    \
        while (!(mt_ok_ = !!(cond)) && testutil_now_ns() < mt_deadline_) \
            mt_sleep_ns(200 * 1000);                                   \
        mt_ok_;                                                        \
    })

static inline void mt_write_byte(int fd, unsigned char b)
{
    while (write(fd, &b, 1) < 0 && errno == EINTR)
        ;
}

/* A start barrier: children say "ready" (one byte each), then block until the parent opens the
 * gate (closes its write end of `go`: every child's read returns 0 at once). */
struct mt_barrier {
    int ready[2];
    int go[2];
};

static inline int mt_barrier_init(struct mt_barrier *b)
{
    if (pipe(b->ready) != 0)
        return -errno;
    if (pipe(b->go) != 0) {
        close(b->ready[0]);
        close(b->ready[1]);
        return -errno;
    }
    return 0;
}

/* In a child, first thing after fork. */
static inline void mt_barrier_child(struct mt_barrier *b)
{
    close(b->go[1]);
    close(b->ready[0]);
}

/* In a child: ready, then wait for the gate (at most 20 s). Returns 0 or -ETIMEDOUT. */
static inline int mt_barrier_wait(struct mt_barrier *b)
{
    int r;
    mt_write_byte(b->ready[1], 'r');
    r = mt_read_byte(b->go[0], 20 * MT_SEC);
    return r == -EPIPE ? 0 : -ETIMEDOUT;
}

/* In the parent: wait for n children to be ready (at most timeout_ns), then open the gate.
 * Returns 0 or -ETIMEDOUT. The gate is opened in both cases. */
static inline int mt_barrier_release(struct mt_barrier *b, int n, int64_t timeout_ns)
{
    int i, err = 0;
    for (i = 0; i < n; i++)
        if (mt_read_byte(b->ready[0], timeout_ns) < 0) {
            err = -ETIMEDOUT;
            break;
        }
    close(b->go[1]);
    b->go[1] = -1;
    return err;
}

static inline void mt_barrier_close(struct mt_barrier *b)
{
    int i;
    for (i = 0; i < 2; i++) {
        if (b->ready[i] >= 0)
            close(b->ready[i]);
        if (b->go[i] >= 0)
            close(b->go[i]);
        b->ready[i] = b->go[i] = -1;
    }
}

/* Is pid a zombie (dead, not reaped)? */
static inline int mt_is_zombie(pid_t pid)
{
    char path[64], buf[512];
    FILE *f;
    char *p;
    size_t n;
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    f = fopen(path, "r");
    if (f == NULL)
        return 0;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    p = strrchr(buf, ')');
    return p != NULL && p[1] == ' ' && p[2] == 'Z';
}

#endif
