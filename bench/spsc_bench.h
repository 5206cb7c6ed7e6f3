/* spsc_bench — what the files of the spsc_bench program share: the options, the spin and signal
 * state, the control page the parent drives the child through, payload stamps, and the records of
 * a measurement. Not a library: the internals of one program.
 *
 *   spsc_bench.c        options, the cache-line, SPSC and pipe(2) measurements, the child's
 *                       command loop, the report, main()
 *   spsc_bench_mpmc.c   the MPMC measurements: 1P1C round trips and streams (run by the same
 *                       parent and child), and the 2x2 run (four worker processes of their own)
 */
#ifndef SHMRING_BENCH_SPSC_BENCH_H
#define SHMRING_BENCH_SPSC_BENCH_H

#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>

#include "bench/clock.h"
#include "bench/hist.h"
#include "shmring/mpmc.h"
#include "shmring/spsc.h"

#define MSG_MAX 4096u /* largest ping-pong message */
#define BIG_SIZE 4096u
#define INJECT_AT 1000u /* --inject-fault: the record whose sequence number goes wrong */
#define DEADLINE_EVERY 64u /* how often (in records) a copying producer looks at the clock */
#define MPMC_REC 64u       /* bytes of an MPMC stream record (the slot size of the stream rings) */

/* --- Options -------------------------------------------------------------------------------- */

/* In the order they run. The round trips come first (through T_LAT_LAST), then the streams; the
 * 2x2 run is last, after the child has gone (it forks four workers of its own). */
enum test_id {
    T_CL, T_SPSC, T_SPSCZC, T_SPSC56, T_PIPE, T_MPMC, T_MPMCZC, T_MPMC48,
    T_S64B, T_S64U, T_S4KA, T_S4KB, T_MS64B, T_MS64U, T_M2X2, T_COUNT
};
#define T_LAT_LAST T_MPMC48
#define T_CLX (T_LAT_LAST + 1) /* not a test: the cache line measured in blocks alternating with mpmc's */
#define PAIRED_BLOCKS 10       /* how many blocks of each */
#define T_THR_COUNT (T_COUNT - T_S64B) /* streams, the 2x2 run included */
#define T_ALL ((1u << T_COUNT) - 1)
extern const char *const test_names[T_COUNT];

/* Where the 2x2 run's four workers go. */
enum placement {
    PLACE_MIXED = 0, /* one producer and one consumer on each CPU of --cpus */
    PLACE_SPLIT,     /* both producers on the first CPU, both consumers on the second */
    PLACE_NONE,      /* unpinned: the scheduler decides */
};

struct opts {
    double seconds;       /* per measurement */
    double warmup;        /* seconds of warm-up before each measurement */
    uint64_t iters;       /* 0: by time; else round trips per latency test, records per stream */
    uint64_t capacity;    /* stream ring, bytes */
    uint64_t pp_capacity; /* each ping-pong ring, bytes */
    uint64_t mpmc_slots;  /* MPMC stream and 2x2 ring, slots */
    uint64_t mpmc_pp_slots; /* each MPMC ping-pong ring, slots */
    unsigned batch;       /* 64-byte stream: records per commit / per release (MPMC: claim / take) */
    unsigned batch4k;     /* 4 KiB stream */
    uint32_t msg_size;    /* ping-pong message bytes (spsc, pipe, mpmc) */
    uint32_t mpmc_spin;   /* 2x2: spins before a waiting call sleeps */
    int placement;        /* 2x2: enum placement */
    int cpu[2];           /* parent, child; -1: unpinned */
    int cpus_given;
    int ncpus;            /* CPUs this process may use */
    cpu_set_t allowed;    /* ... and which */
    int quick;
    int busy_spin;        /* spin without the CPU pause instruction */
    int inject_fault;
    unsigned tests;       /* bit (1 << enum test_id) per measurement to run */
};

/* --- Signals and spinning ------------------------------------------------------------------- */

extern volatile sig_atomic_t g_stop;   /* stop at the next spin: signal, or the peer died */
extern volatile sig_atomic_t g_signal; /* the signal that stopped us, 0 if none */
extern volatile pid_t g_child;         /* parent: the child's pid while it runs */
extern volatile pid_t g_workers[4];    /* parent: the 2x2 workers' pids while they run */
extern int g_yield;                    /* both processes may share a CPU: yield while spinning */
extern int g_pause;                    /* spin with the CPU pause instruction */

static inline void cpu_pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* One turn of a spin-wait. Returns non-zero when the run must stop. */
static inline int relax(void)
{
    if (g_pause)
        cpu_pause();
    if (g_yield)
        sched_yield();
    return g_stop;
}

int pin_to(int cpu);
uint64_t preemptions(void);
void fail_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int ring_error(const char *what, int err);

/* --- The shared control page ---------------------------------------------------------------- */

enum cmd {
    CMD_NONE = 0,
    CMD_CL_ECHO,      /* copy line A to line B until CL_STOP */
    CMD_SPSC_ECHO,    /* pop ping, push pong, until a 0-length record */
    CMD_SPSC_ZC_ECHO, /* the same with peek/reserve/commit/release */
    CMD_PIPE_ECHO,    /* read p2c, write c2p, until PIPE_STOP */
    CMD_STREAM,       /* consume the stream ring until a 0-length record */
    CMD_EXIT,
    CMD_MPMC_ATTACH,  /* open the MPMC rings named in mpmc_name[] (0: consumer, 1: producer) */
    CMD_MPMC_DETACH,  /* close them */
    CMD_MPMC_ECHO,    /* pop ring 0, push ring 1, until a 0-length record */
    CMD_MPMC_ZC_ECHO, /* the same with take/claim/publish/release */
};

enum stream_mode {
    STREAM_BATCHED = 1, /* zero-copy, up to `batch` records per commit / release */
    STREAM_COPY,        /* push / pop, one record each */
    STREAM_MPMC_BATCHED, /* MPMC ring 0: claim/publish and take/release up to `batch` slots */
    STREAM_MPMC_COPY,   /* MPMC ring 0: push / pop, one record each */
};

struct stream_args {
    uint32_t mode;     /* enum stream_mode */
    uint32_t rec_size; /* payload bytes */
    uint32_t batch;
    uint32_t fill;     /* 1: every payload word holds the sequence number (check the sum) */
};

/* One MAP_SHARED anonymous page. Lines A and B are the cache-line ping-pong's: each in its own
 * 128-byte pair (the adjacent-line prefetcher moves pairs), written by one side only. */
struct ctl {
    _Alignas(128) _Atomic uint64_t line_a; /* written by the parent */
    _Alignas(128) _Atomic uint64_t line_b; /* written by the child */
    /* Command: written by the parent, then published by cmd_seq (release). */
    _Alignas(128) _Atomic uint32_t cmd_seq;
    uint32_t cmd;
    uint32_t msg_size; /* ping-pong message bytes */
    struct stream_args stream;
    uint32_t mpmc_nrings; /* CMD_MPMC_ATTACH: 1 (a stream) or 2 (a ping-pong) */
    char mpmc_name[2][SHMRING_NAME_MAX + 1]; /* ring 0: parent -> child; ring 1: child -> parent */
    /* Reply: written by the child, then published by done_seq (release). */
    _Alignas(128) _Atomic uint32_t done_seq;
    int32_t status;    /* 0, or a negative errno / -EBADMSG for a verification failure */
    uint64_t count;    /* messages / records handled */
    uint64_t checksum; /* stream: sum of every word read (keeps the reads) */
    uint64_t nivcsw;   /* the child's involuntary context switches during the command */
};

_Static_assert(offsetof(struct ctl, line_a) == 0, "line A at 0");
_Static_assert(offsetof(struct ctl, line_b) == 128, "line B in the next 128-byte pair");
_Static_assert(sizeof(struct ctl) <= 4096, "one page");

#define MPMC_MADE_MAX 4 /* named rings the parent may hold at once */

/* Everything both processes use, made before fork(). */
struct bench {
    struct opts o;
    struct bench_clock clk;
    struct ctl *ctl;
    struct shmring_spsc *ping_p, *ping_c;     /* parent -> child */
    struct shmring_spsc *pong_p, *pong_c;     /* child -> parent */
    struct shmring_spsc *stream_p, *stream_c; /* parent -> child */
    int p2c[2], c2p[2];                       /* pipes */
    /* MPMC rings are named, made per measurement and opened by each process after fork(). */
    struct shmring_mpmc *mq_tx, *mq_rx;       /* this process's producer and consumer handles */
    pid_t parent;                             /* the parent's pid */
    unsigned mpmc_seq;                        /* parent: rings named so far */
    char mpmc_made[MPMC_MADE_MAX][SHMRING_NAME_MAX + 1]; /* parent: rings to unlink ("" = none) */
};

/* --- Payload stamps ------------------------------------------------------------------------- */

/* Every record's first and last 8 bytes hold its sequence number: a torn or misplaced record
 * fails the check. Payloads are 8-byte aligned (the ring's record alignment). */
static inline void stamp(void *p, uint32_t size, uint64_t seq)
{
    uint64_t *w = (uint64_t *)p;
    w[0] = seq;
    w[size / 8 - 1] = seq;
}

static inline int stamp_ok(const void *p, uint32_t size, uint64_t seq)
{
    const uint64_t *w = (const uint64_t *)p;
    return w[0] == seq && w[size / 8 - 1] == seq;
}

/* Every word holds seq. size is a multiple of 8. */
static inline void fill_words(void *p, uint32_t size, uint64_t seq)
{
    typedef uint64_t v2u64 __attribute__((vector_size(16)));
    v2u64 v = {seq, seq};
    char *c = (char *)p;
    uint32_t i;
    for (i = 0; i + 16 <= size; i += 16)
        memcpy(c + i, &v, sizeof(v)); /* unaligned 16-byte stores: payloads are 8-aligned */
    if (i < size)
        memcpy(c + i, &seq, 8);
}

/* Sum of the 64-bit words of p (size a multiple of 8): reads every byte, 16 bytes per load, four
 * independent sums. */
static inline uint64_t sum_words(const void *p, uint32_t size)
{
    typedef uint64_t v2u64 __attribute__((vector_size(16)));
    v2u64 s0 = {0, 0}, s1 = {0, 0}, s2 = {0, 0}, s3 = {0, 0}, x0, x1, x2, x3;
    const char *c = (const char *)p;
    uint32_t i;
    for (i = 0; i + 64 <= size; i += 64) {
        memcpy(&x0, c + i, 16);
        memcpy(&x1, c + i + 16, 16);
        memcpy(&x2, c + i + 32, 16);
        memcpy(&x3, c + i + 48, 16);
        s0 += x0;
        s1 += x1;
        s2 += x2;
        s3 += x3;
    }
    s0 += s1 + s2 + s3;
    {
        uint64_t t = s0[0] + s0[1], w;
        for (; i + 8 <= size; i += 8) {
            memcpy(&w, c + i, 8);
            t += w;
        }
        return t;
    }
}

int stream_mismatch(uint64_t expect, const void *p, size_t len, const char *why);

/* --- Commands ------------------------------------------------------------------------------- */

void issue(struct bench *b, uint32_t cmd);
int await_reply(struct bench *b);

/* A round trip in whole nanoseconds (rounded). */
static inline uint64_t ticks_ns(const struct bench *b, uint64_t ticks)
{
    return (uint64_t)(bench_ticks_to_ns(&b->clk, ticks) + 0.5);
}

/* --- Measurements --------------------------------------------------------------------------- */

struct latency {
    const char *label;
    int done;        /* measured */
    uint64_t preempt; /* involuntary context switches of both processes during the measurement */
    struct bench_hist h;
};

struct throughput {
    const char *label;
    int done;
    uint32_t rec_size;
    uint64_t records;
    double seconds;
    double mrps; /* M records/s */
    double gbps; /* payload GB/s (10^9 bytes) */
    uint64_t preempt;
};

/* The 2x2 run's details beyond its throughput row. */
struct m2x2_result {
    uint64_t sent[2];    /* records of producer 0 and 1 */
    uint64_t got[2];     /* records taken by consumer 0 and 1 */
    uint64_t sleeps;     /* voluntary context switches of the four workers: sleeps on the ring */
    int nprocs, ncpus;   /* 4 worker processes on ncpus CPUs */
    char placement[96];  /* where the workers ran, in words */
};

uint64_t deadline_in(const struct bench *b, double seconds);

typedef int (*pingpong_fn)(struct bench *, struct bench_hist *, uint64_t, uint64_t);
int cl_parent(struct bench *b, struct bench_hist *h, uint64_t deadline, uint64_t iters);
int run_latency(struct bench *b, pingpong_fn fn, uint32_t msg_size, struct latency *out);
int run_stream(struct bench *b, const struct stream_args *a, struct throughput *out);

/* --- MPMC (spsc_bench_mpmc.c) --------------------------------------------------------------- */

/* Parent: round trips over two MPMC rings (ring 0 ping, ring 1 pong), copying or zero-copy. */
int mpmc_parent(struct bench *b, struct bench_hist *h, uint64_t deadline, uint64_t iters);
int mpmc_zc_parent(struct bench *b, struct bench_hist *h, uint64_t deadline, uint64_t iters);
/* Parent: makes two rings of mpmc_pp_slots slots of msg_size bytes, has both sides open them, runs
 * run_latency(fn), closes and unlinks them. With `cl` non-NULL, the round trips are measured in
 * PAIRED_BLOCKS blocks alternating with blocks of the cache-line ping-pong, recorded in *cl. */
int run_mpmc_latency(struct bench *b, pingpong_fn fn, uint32_t msg_size, struct latency *out, struct latency *cl);
/* Parent: the same with one ring of mpmc_slots slots and run_stream(). */
int run_mpmc_stream(struct bench *b, const struct stream_args *a, struct throughput *out);
/* Parent, after the child is gone and no handle is open: the 2x2 run, warm-up included. */
int run_mpmc_2x2(struct bench *b, struct throughput *out, struct m2x2_result *res);

/* The producer and consumer sides of an MPMC stream (STREAM_MPMC_*), on ring 0. */
int mpmc_stream_parent(struct bench *b, const struct stream_args *a, uint64_t deadline, uint64_t iters,
                       uint64_t *sent);
int mpmc_stream_child(struct bench *b, const struct stream_args *a);

/* Child: the MPMC commands. */
int mpmc_child_attach(struct bench *b);
void mpmc_child_detach(struct bench *b);
int mpmc_child(struct bench *b, int inject);
int mpmc_zc_child(struct bench *b, int inject);

/* Either process: closes its MPMC handles. */
void mpmc_close(struct bench *b);
/* Parent: unlinks every ring it made and has not unlinked yet. Child or worker whose parent is
 * gone (nobody else will): unlinks the rings it knows of. */
void mpmc_unlink_all(struct bench *b);
void mpmc_orphan_cleanup(struct bench *b);

#endif /* SHMRING_BENCH_SPSC_BENCH_H */
