/* shmring bench — what the harness's files share. Not a library: the internals of one program.
 *
 *   opts.c        the command line (--help text, parsing, validation: bad values exit 2)
 *   transport.c   the transports: one struct of function pointers each (below)
 *   run.c         the two processes, the control page, the workloads, the cache-line probe,
 *                 cleanup on error and on signals, shmring_bench_main()
 *   report.c      the table, the targets, --csv, --json and --plot
 *
 * Every measurement runs between two processes: the parent (side 0, the sender of a stream, the
 * timer of a ping-pong) and a child forked for that one measurement (side 1). Direction 0 carries
 * messages from the parent to the child, direction 1 from the child to the parent.
 */
#ifndef SHMRING_BENCH_BENCH_H
#define SHMRING_BENCH_BENCH_H

#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>

#include "bench/clock.h"
#include "bench/hist.h"
#include "shmring/bcast.h"
#include "shmring/mpmc.h"
#include "shmring/spsc.h"

#define BENCH_SIZE_MIN 8u
#define BENCH_SIZE_MAX (1u << 20)
#define BENCH_MAX_SIZES 16
#define BENCH_MAX_RATES 9
#define BENCH_MAX_BATCHES 8
#define SEQ_STOP UINT64_MAX /* the sequence number of the record that ends a stream or ping-pong */
#define INJECT_AT 1000u     /* --inject-fault: the record whose sequence number goes wrong */

/* --- Options -------------------------------------------------------------------------------- */

enum workload { W_PINGPONG = 0, W_STREAM, W_PACED, W_COUNT };
extern const char *const workload_names[W_COUNT];

enum transport_id {
    TP_CACHELINE = 0, /* floor: a bare cache-line ping-pong (ping-pong only) */
    TP_MEMCPY,        /* floor: single-core memcpy bandwidth (stream only, no second process) */
    TP_SPSC,
    TP_SPSC_SLEEP,
    TP_MPMC,
    TP_MPMC_SLEEP,
    TP_BCAST,         /* shmring broadcast ring (BLOCK policy), one producer and one consumer */
    TP_BCAST_SLEEP,
    TP_SPSC_COPY,     /* shmring SPSC through push/pop: one record per call, copied in and out */
    TP_PIPE,
    TP_FIFO,
    TP_UNIX,
    TP_TCP,
    TP_MSGQ,
    TP_SHMSEM,
    TP_CK,            /* peer: Concurrency Kit ck_ring, SPSC (peers.c) */
    TP_RTE,           /* peer: DPDK rte_ring, SPSC (peers.c) */
    TP_COUNT
};

struct opts {
    uint32_t sizes[BENCH_MAX_SIZES]; /* record sizes, bytes */
    int nsizes;
    uint64_t capacity;  /* 0: per workload (see opts.c); else shmring ring capacity in bytes */
    unsigned batches[BENCH_MAX_BATCHES]; /* zero-copy shmring stream: records per commit/release
                           (MPMC: claim/take; BCAST: claim/publish and peek/release); one
                           measurement per value */
    int nbatches;
    uint32_t spin;      /* *-sleep transports: spins before a waiting call sleeps */
    int cpu[2];         /* parent, child; -1: unpinned */
    double duration;    /* seconds per measurement (when count == 0) */
    uint64_t count;     /* 0: by duration; else messages per measurement */
    double probe_ms;    /* cache-line probe before each measurement */
    double gap_us;      /* *-sleep ping-pong: idle time between round trips (the "low rate") */
    int rates[BENCH_MAX_RATES]; /* paced stream: percent of the measured maximum */
    int nrates;
    int huge;           /* shmring segments on huge pages */
    uint32_t wake;      /* shmring rings' creation flags for the wake-up protocol (0: default) */
    uint32_t align;     /* SPSC rings' record alignment, bytes: 8, or 64 (SHMRING_F_ALIGN64) */
    unsigned transports; /* bit per enum transport_id */
    unsigned workloads;  /* bit per enum workload */
    int sweep;
    int inject_fault;
    int quiet;          /* no progress lines */
    const char *csv, *json, *plot_dir;
};

/* Parses argv into *o. Returns 0, or 2 after printing a message naming the option and the cause
 * to stderr, or -1 after printing --help to stdout (exit 0). */
int bench_parse_opts(int argc, char **argv, struct opts *o);

/* --- Signals, spinning, errors -------------------------------------------------------------- */

extern volatile sig_atomic_t g_stop;   /* stop at the next spin or interrupted call */
extern volatile sig_atomic_t g_signal; /* the signal that stopped us, 0 if none */

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

extern int g_yield; /* 1: both processes share one CPU, so a spinning side yields to the other */

/* One turn of a spin-wait. Non-zero when the run must stop. */
static inline int relax(void)
{
    cpu_relax();
    if (g_yield)
        sched_yield();
    return g_stop;
}

void bench_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* --- Records -------------------------------------------------------------------------------- */

/* Every record's first and last 8 bytes hold its sequence number (any size >= 8; unaligned-safe).
 * A paced record also holds its scheduled send time (TSC ticks) in bytes 8..15 (size >= 16). */
static inline void stamp(void *p, uint32_t size, uint64_t seq)
{
    /* The last bytes first: a zero-copy row stamps the record in place, and the first bytes share
     * the line a caught-up consumer polls, so they go last, just before the commit (the order the
     * library's push uses and its docs advise: docs/performance.md, "Copy order in push"). */
    memcpy((char *)p + size - 8, &seq, 8);
    memcpy(p, &seq, 8);
}

static inline uint64_t stamp_first(const void *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static inline uint64_t stamp_last(const void *p, uint32_t size)
{
    uint64_t v;
    memcpy(&v, (const char *)p + size - 8, 8);
    return v;
}

/* Reads every byte of p: the sum of its 64-bit words (and of its tail bytes). 16-byte loads, four
 * independent sums. */
static inline uint64_t sum_bytes(const void *p, size_t size)
{
    typedef uint64_t v2u64 __attribute__((vector_size(16)));
    v2u64 s0 = {0, 0}, s1 = {0, 0}, s2 = {0, 0}, s3 = {0, 0}, x0, x1, x2, x3;
    const char *c = (const char *)p;
    size_t i;
    uint64_t t, w;
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
    t = s0[0] + s0[1];
    for (; i + 8 <= size; i += 8) {
        memcpy(&w, c + i, 8);
        t += w;
    }
    for (; i < size; i++)
        t += (unsigned char)c[i];
    return t;
}

/* --- Transports ----------------------------------------------------------------------------- */

/* Per-measurement configuration a transport is set up with. */
struct tp_conf {
    uint32_t size;      /* every message has exactly this many bytes */
    uint64_t capacity;  /* shmring: ring bytes (MPMC, BCAST: slots = capacity / slot stride) */
    unsigned batch;     /* zero-copy shmring stream: records per commit/release; 0 otherwise */
    uint32_t spin;      /* spins before sleeping (*-sleep) */
    int huge;
    uint32_t wake;      /* SHMRING_F_WAKE_* or 0 */
    uint32_t align;     /* SPSC rings: 8, or 64 (SHMRING_F_ALIGN64); the others ignore it */
    int sleep;          /* 1: the spin-then-sleep flavour */
    int gap;            /* 1: ping-pong leaves --gap-us idle between round trips (the sleeping
                           transports: *-sleep and the kernel ones, compared at the same rate) */
    pid_t parent;       /* the parent's pid (names) */
    unsigned seq;       /* a per-run counter (names) */
};

/* State of one transport instance: made by setup() in the parent, inherited by the child through
 * fork(), then narrowed by attach() in each process. */
struct tp {
    const struct transport *ops;
    struct tp_conf conf;
    int side;                      /* after attach: 0 parent, 1 child */
    uint64_t syscalls;             /* kernel transports: system calls this process made for messages */
    int fd[4];                     /* pipe/fifo ends; fd[0]: the bidirectional socket; -1 unused */
    int listen_fd;                 /* unix/tcp: listening socket (parent) */
    int msqid, semid, shmid;       /* System V ids; -1 none */
    char *shm;                     /* shmsem: the attached segment */
    char dir[64];                  /* private temp dir for FIFOs and the socket ("" none) */
    char path[2][96];              /* FIFOs / socket path ("" none or removed) */
    unsigned short port;           /* tcp */
    size_t chunk;                  /* msgq: largest message the queue takes */
    struct shmring_spsc *sp[2][2]; /* [dir][0 producer, 1 consumer] */
    struct shmring_mpmc *mp[2][2];
    struct shmring_bcast *bc[2][2];
    char name[2][SHMRING_NAME_MAX + 1]; /* MPMC / BCAST ring names ("" none or unlinked) */
    void *scratch;                 /* size bytes */
};

struct transport {
    const char *name; /* as on the command line */
    const char *desc; /* one line for --help and the table's legend */
    int shmring;      /* 1: a shmring ring (zero-copy stream, paced stream, ring counters) */
    /* Parent, before fork(): makes the objects. 0 or -errno (after a message); on error
     * cleanup() removes whatever was made. */
    int (*setup)(struct tp *t);
    /* Each process after fork(): closes what it does not use, connects, opens. 0 or -errno. */
    int (*attach)(struct tp *t, int side);
    /* Sends / receives exactly conf.size bytes in direction dir, blocking (spinning for the
     * spinning shmring flavours). 0, -EINTR (stopped), or -errno after a message. */
    int (*send)(struct tp *t, int dir, const void *buf);
    int (*recv)(struct tp *t, int dir, void *buf);
    /* Optional, shmring only: zero-copy stream in direction 0. send_batch writes records
     * seq0.. seq0+n-1 (stamped) in place, up to n at a time; returns how many (>= 1) or -errno.
     * recv_batch takes up to conf.batch records, checks each record's stamps against *expect
     * (advancing it), reads every byte into *sum, and sets *stop on the SEQ_STOP record; returns
     * how many or -errno (-EBADMSG on a mismatch, after a message). */
    int (*send_batch)(struct tp *t, uint64_t seq0, unsigned n);
    int (*recv_batch)(struct tp *t, uint64_t *expect, uint64_t *sum, int *stop);
    /* Each process: closes its handles and descriptors (no removal of names). */
    void (*detach)(struct tp *t);
    /* Removes every named object (FIFO, socket file, temp dir, System V ids, MPMC/BCAST names) this
     * instance made and not yet removed. Idempotent; called by the parent after the child has
     * gone (also after errors and signals: the handlers only set g_stop, the normal flow unwinds
     * to here), and by a child whose parent died. */
    void (*cleanup)(struct tp *t);
};

extern const struct transport transports[TP_COUNT];

/* peers.c: the other libraries' rings (setup, attach, send, recv, detach, cleanup as above). */
int peer_ck_setup(struct tp *t);
int peer_ck_attach(struct tp *t, int side);
int peer_ck_send(struct tp *t, int dir, const void *buf);
int peer_ck_recv(struct tp *t, int dir, void *buf);
void peer_ck_detach(struct tp *t);
void peer_ck_cleanup(struct tp *t);
int peer_rte_setup(struct tp *t);
int peer_rte_attach(struct tp *t, int side);
int peer_rte_send(struct tp *t, int dir, const void *buf);
int peer_rte_recv(struct tp *t, int dir, void *buf);
void peer_rte_detach(struct tp *t);
void peer_rte_cleanup(struct tp *t);

/* shmring transports: the semaphore operations their rings made so far (sleeps + wake-ups of
 * both sides, from the rings' shared counters); 0 for the others. */
uint64_t tp_ring_semops(const struct tp *t);

/* --- Results -------------------------------------------------------------------------------- */

struct result {
    int tp;             /* enum transport_id */
    int workload;       /* enum workload */
    uint32_t size;
    unsigned batch;     /* stream of a zero-copy shmring transport: records per commit/release; else 0 */
    int rate_pct;       /* paced: percent of the measured maximum; else 0 */
    double offered;     /* paced: records/s offered */
    struct bench_hist *lat; /* ping-pong: round trip; paced: one way from the scheduled time; NULL for streams */
    uint64_t msgs;      /* messages (ping-pong: round trips) */
    double seconds;
    double mrps;        /* stream/paced: M records/s received */
    double gbps;        /* stream: payload GB/s (10^9 bytes) */
    double syscalls;    /* per message, both processes; < 0 unknown */
    int syscalls_counted; /* 1: counted call by call (kernel transports); 0: semops from the ring counters */
    double csw;         /* context switches per message, both processes (getrusage, voluntary + involuntary) */
    double semops_per_m; /* shmring: semaphore operations per million messages */
    double cpu_share;   /* CPU time both processes got / (2 x wall time), < 0 unknown: 1.0 = two whole
                           CPUs (spinning); well below 1 for spinners = other load took the CPUs */
    uint64_t probe_p50, probe_p99; /* the cache-line probe just before this measurement (ns) */
};

struct results {
    struct result *r;
    int n, cap;
    struct bench_clock clk;
    const struct opts *o;
    char when[64];      /* UTC time the run started */
    double load1;       /* load average at the start */
};

void report_options(const struct opts *o, FILE *f);
void report_table(const struct results *rs, FILE *f);
void report_targets(const struct results *rs, FILE *f);
int report_csv(const struct results *rs, const char *path);
int report_json(const struct results *rs, const char *path);
int report_plots(const struct results *rs, const char *dir);

#endif /* SHMRING_BENCH_BENCH_H */
