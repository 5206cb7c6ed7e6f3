/* shmring bench — the two processes, the workloads, cleanup, shmring_bench_main().
 *
 * Each measurement (a transport, a workload, a record size) gets a fresh transport instance and a
 * fresh child process: the parent runs setup(), forks, both attach(), the parent runs a short
 * cache-line probe with the child (so that every result carries the distance between the two CPUs
 * at that moment), then drives the workload through commands on a shared control page, then tells
 * the child to exit, detaches and removes every named object (cleanup()). A failure anywhere
 * (sequence mismatch, transport error, the child died, Ctrl-C) ends the whole run, after the same
 * teardown.
 *
 * Stopping: SIGINT/SIGTERM/SIGHUP set g_stop and forward SIGTERM to the child; an unexpected
 * SIGCHLD sets g_stop; a SIGALRM every second checks that the child is still alive (a SIGCHLD that
 * lands just before a blocking call would otherwise be missed) and interrupts blocking calls. No
 * handler uses SA_RESTART, so a blocked read/semop/msgrcv returns EINTR and its loop sees g_stop.
 * The child gets SIGTERM when the parent dies (PR_SET_PDEATHSIG) and, orphaned, removes the named
 * objects itself. The anonymous SPSC rings vanish with their last handle.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench/bench.h"
#include "bench/harness.h"

#define CL_STOP UINT64_MAX

volatile sig_atomic_t g_stop;
volatile sig_atomic_t g_signal;
int g_yield;
static volatile pid_t g_child;
static volatile sig_atomic_t g_expect_exit; /* the child was told to exit: its SIGCHLD is normal */

void bench_err(const char *fmt, ...)
{
    va_list ap;
    char buf[512];
    int n;
    va_start(ap, fmt);
    n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    (void)n;
    fprintf(stderr, "shmring_bench: %s\n", buf);
}

/* --- Signals -------------------------------------------------------------------------------- */

static void on_stop_signal(int sig)
{
    int saved = errno;
    g_stop = 1;
    if (g_signal == 0)
        g_signal = sig;
    if (g_child > 0)
        kill(g_child, SIGTERM);
    errno = saved;
}

static void on_child(int sig)
{
    (void)sig;
    if (!g_expect_exit)
        g_stop = 1;
}

/* Once a second: is the child gone (without our asking)? WNOWAIT: the main flow reaps it. */
static void on_alarm(int sig)
{
    int saved = errno;
    siginfo_t si;
    (void)sig;
    if (g_child > 0 && !g_expect_exit) {
        memset(&si, 0, sizeof(si));
        if (waitid(P_PID, (id_t)g_child, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == g_child)
            g_stop = 1;
    }
    errno = saved;
}

/* Child: every 200 ms. Interrupts a blocking call, so that a stop request that arrived just before
 * the call was entered is seen; and notices a parent that died. */
static pid_t g_parent;
static void on_child_alarm(int sig)
{
    (void)sig;
    if (getppid() != g_parent)
        g_stop = 1;
}

static void set_handler(int sig, void (*fn)(int))
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = fn;
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, NULL); /* no SA_RESTART: blocked calls return EINTR */
}

static int pin_to(int cpu)
{
    cpu_set_t set;
    if (cpu < 0)
        return 0;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return sched_setaffinity(0, sizeof(set), &set) == 0 ? 0 : -errno;
}

/* Voluntary + involuntary context switches of this process so far. */
static uint64_t ctx_switches(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0;
    return (uint64_t)ru.ru_nvcsw + (uint64_t)ru.ru_nivcsw;
}

/* CPU time (user + system) of this process so far, ns. */
static uint64_t cpu_ns(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0;
    return ((uint64_t)ru.ru_utime.tv_sec + (uint64_t)ru.ru_stime.tv_sec) * 1000000000u +
           ((uint64_t)ru.ru_utime.tv_usec + (uint64_t)ru.ru_stime.tv_usec) * 1000u;
}

/* --- The control page ----------------------------------------------------------------------- */

enum cmd { CMD_NONE = 0, CMD_NOP, CMD_CL_ECHO, CMD_ECHO, CMD_SINK, CMD_PACED, CMD_EXIT };

/* MAP_SHARED anonymous memory, made once before any fork(). Lines A and B (the cache-line
 * ping-pong) sit in separate 128-byte pairs (the adjacent-line prefetcher moves pairs). */
struct ctl {
    _Alignas(128) _Atomic uint64_t line_a; /* written by the parent */
    _Alignas(128) _Atomic uint64_t line_b; /* written by the child */
    /* Command: written by the parent, then published by cmd_seq (release). */
    _Alignas(128) _Atomic uint32_t cmd_seq;
    uint32_t cmd;
    /* Reply: written by the child, then published by done_seq (release). */
    _Alignas(128) _Atomic uint32_t done_seq;
    int32_t status;    /* 0 or a negative errno (-EBADMSG: verification failed) */
    uint64_t count;    /* messages received (the end record not counted) */
    uint64_t sum;      /* stream: sum of every byte read (keeps the reads) */
    uint64_t end_tick; /* stream: when the end record arrived (TSC) */
    uint64_t csw;      /* the child's context switches during the command */
    uint64_t syscalls; /* the child's counted system calls during the command */
    uint64_t cpu_ns;   /* the child's CPU time during the command */
    struct bench_hist hist; /* paced: one-way latencies, recorded by the child */
};

static struct ctl *g_ctl;
static uint32_t g_cmd_seq; /* parent: last command issued; child: last command run */
static struct bench_clock g_clk;
static const struct opts *g_o;

static void issue(uint32_t cmd)
{
    g_ctl->cmd = cmd;
    /* Publishes cmd: pairs with the acquire load of cmd_seq in child_main(). */
    atomic_store_explicit(&g_ctl->cmd_seq, ++g_cmd_seq, memory_order_release);
}

/* 0, or -EINTR when stopped. The reply fields are valid after 0. */
static int await_reply(void)
{
    unsigned spins = 0;
    /* Pairs with the release store of done_seq in child_main(): the reply fields are visible. */
    while (atomic_load_explicit(&g_ctl->done_seq, memory_order_acquire) != g_cmd_seq) {
        if (relax())
            return -EINTR;
        if (++spins % 256 == 0)
            sched_yield();
    }
    return 0;
}

static uint64_t ns_of(uint64_t ticks)
{
    return (uint64_t)(bench_ticks_to_ns(&g_clk, ticks) + 0.5);
}

/* The end of a measurement that started at tick `start`: a deadline in ticks (0 with --count). */
static uint64_t deadline_after(uint64_t start, double seconds)
{
    if (g_o->count)
        return 0;
    return start + bench_ns_to_ticks(&g_clk, seconds * 1e9);
}

static int done(uint64_t i, uint64_t count, uint64_t now, uint64_t deadline)
{
    return count ? i >= count : now >= deadline;
}

/* --- Child side ----------------------------------------------------------------------------- */

static int cl_child(void)
{
    uint64_t expect = 1, v;
    for (;;) {
        /* Pairs with the parent's release store of line A. */
        while ((v = atomic_load_explicit(&g_ctl->line_a, memory_order_acquire)) == expect - 1)
            if (relax())
                return -EINTR;
        if (v == CL_STOP)
            break;
        if (v != expect) {
            bench_err("child: cache-line ping-pong: expected %" PRIu64 ", got %" PRIu64, expect, v);
            return -EBADMSG;
        }
        /* Pairs with the parent's acquire load of line B. */
        atomic_store_explicit(&g_ctl->line_b, v, memory_order_release);
        expect++;
    }
    g_ctl->count = expect - 1;
    return 0;
}

static int check_stamps(struct tp *t, const void *buf, uint64_t expect, int *stop)
{
    uint64_t a = stamp_first(buf), b = stamp_last(buf, t->conf.size);
    if (a == SEQ_STOP && b == SEQ_STOP) {
        *stop = 1;
        return 0;
    }
    if (a != expect || b != expect) {
        bench_err("%s: sequence mismatch: expected record %" PRIu64 ", got one stamped %" PRIu64 "/%" PRIu64,
                  t->ops->name, expect, a, b);
        return -EBADMSG;
    }
    return 0;
}

/* Receives direction 0 and sends each message back on direction 1, until the end record. */
static int echo_child(struct tp *t, void *buf)
{
    uint64_t expect;
    int err, stop = 0;
    for (expect = 1;; expect++) {
        if ((err = t->ops->recv(t, 0, buf)) != 0)
            return err;
        if ((err = check_stamps(t, buf, expect, &stop)) != 0)
            return err;
        if (stop)
            break;
        if ((err = t->ops->send(t, 1, buf)) != 0)
            return err;
    }
    g_ctl->count = expect - 1;
    return 0;
}

/* Receives the stream until the end record, checking every record and reading every byte. */
static int sink_child(struct tp *t, void *buf)
{
    uint64_t expect = 1, sum = 0;
    int err, stop = 0;
    while (!stop) {
        if (t->ops->recv_batch) {
            if ((err = t->ops->recv_batch(t, &expect, &sum, &stop)) < 0)
                return err;
        } else {
            if ((err = t->ops->recv(t, 0, buf)) != 0)
                return err;
            if ((err = check_stamps(t, buf, expect, &stop)) != 0)
                return err;
            if (!stop) {
                sum += sum_bytes(buf, t->conf.size);
                expect++;
            }
        }
    }
    g_ctl->end_tick = bench_ticks_stop();
    g_ctl->count = expect - 1;
    g_ctl->sum = sum;
    return 0;
}

/* Receives a paced stream: records the latency of each record from its scheduled send time (bytes
 * 8..15, TSC ticks: the TSC is synchronised across CPUs, see clock.h) to its arrival here. */
static int paced_child(struct tp *t, void *buf)
{
    uint64_t expect = 1, sched, now;
    int err, stop = 0;
    bench_hist_init(&g_ctl->hist);
    for (;;) {
        if ((err = t->ops->recv(t, 0, buf)) != 0)
            return err;
        now = bench_ticks_stop();
        if ((err = check_stamps(t, buf, expect, &stop)) != 0)
            return err;
        if (stop)
            break;
        memcpy(&sched, (const char *)buf + 8, 8);
        bench_hist_record(&g_ctl->hist, now > sched ? ns_of(now - sched) : 0);
        expect++;
    }
    g_ctl->end_tick = now;
    g_ctl->count = expect - 1;
    return 0;
}

static void child_main(struct tp *t, pid_t parent)
{
    void *buf = malloc(t->conf.size);
    int err = 0, orphan;
    set_handler(SIGINT, on_stop_signal);
    set_handler(SIGTERM, on_stop_signal);
    set_handler(SIGHUP, on_stop_signal);
    signal(SIGCHLD, SIG_DFL);
    g_parent = parent;
    set_handler(SIGALRM, on_child_alarm);
    {
        struct itimerval every;
        memset(&every, 0, sizeof(every));
        every.it_interval.tv_usec = 200000;
        every.it_value.tv_usec = 200000;
        setitimer(ITIMER_REAL, &every, NULL);
    }
    g_child = 0;
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent)
        g_stop = 1;
    if (buf == NULL)
        err = -ENOMEM;
    if (!err && pin_to(g_o->cpu[1]) != 0)
        bench_err("child: cannot pin to CPU %d: %s", g_o->cpu[1], strerror(errno));
    if (!err && !g_stop && t->ops->attach)
        err = t->ops->attach(t, 1);
    while (!err && !g_stop) {
        uint32_t seq;
        unsigned spins = 0;
        uint64_t csw0, sys0, cpu0;
        int cmd;
        /* Pairs with the release store in issue(): cmd is visible. */
        while ((seq = atomic_load_explicit(&g_ctl->cmd_seq, memory_order_acquire)) == g_cmd_seq) {
            if (relax())
                break;
            if (++spins % 256 == 0)
                sched_yield();
        }
        if (g_stop)
            break;
        g_cmd_seq = seq;
        cmd = (int)g_ctl->cmd;
        if (cmd == CMD_EXIT)
            break;
        csw0 = ctx_switches();
        cpu0 = cpu_ns();
        sys0 = t->syscalls;
        g_ctl->count = 0;
        switch (cmd) {
        case CMD_NOP: break;
        case CMD_CL_ECHO: err = cl_child(); break;
        case CMD_ECHO: err = echo_child(t, buf); break;
        case CMD_SINK: err = sink_child(t, buf); break;
        case CMD_PACED: err = paced_child(t, buf); break;
        default: err = -EINVAL; break;
        }
        g_ctl->csw = ctx_switches() - csw0;
        g_ctl->cpu_ns = cpu_ns() - cpu0;
        g_ctl->syscalls = t->syscalls - sys0;
        g_ctl->status = err;
        /* Publishes the reply fields: pairs with the acquire load in await_reply(). */
        atomic_store_explicit(&g_ctl->done_seq, seq, memory_order_release);
    }
    if (t->ops->detach)
        t->ops->detach(t);
    orphan = getppid() != parent;
    if (orphan) /* nobody else will remove them */
        t->ops->cleanup(t);
    free(buf);
    _exit(err || (g_stop && orphan) ? 1 : 0);
}

/* --- Parent side: the workloads ------------------------------------------------------------- */

/* The cache-line ping-pong for `seconds` (or count round trips), into h. */
static int cl_run(struct bench_hist *h, double seconds, uint64_t count)
{
    uint64_t i, start = bench_ticks(), deadline = start + bench_ns_to_ticks(&g_clk, seconds * 1e9);
    atomic_store_explicit(&g_ctl->line_a, 0, memory_order_relaxed);
    atomic_store_explicit(&g_ctl->line_b, 0, memory_order_relaxed);
    issue(CMD_CL_ECHO);
    for (i = 1;; i++) {
        uint64_t t0 = bench_ticks_start(), t1, v;
        /* Pairs with the child's acquire load of line A. */
        atomic_store_explicit(&g_ctl->line_a, i, memory_order_release);
        /* Pairs with the child's release store of line B. */
        while ((v = atomic_load_explicit(&g_ctl->line_b, memory_order_acquire)) != i) {
            if (v != i - 1) {
                bench_err("cache-line ping-pong: sent %" PRIu64 ", got back %" PRIu64, i, v);
                return -EBADMSG;
            }
            if (relax())
                return -EINTR;
        }
        t1 = bench_ticks_stop();
        bench_hist_record(h, ns_of(t1 - t0));
        if (count ? i >= count : t1 >= deadline)
            break;
    }
    atomic_store_explicit(&g_ctl->line_a, CL_STOP, memory_order_release);
    return await_reply();
}

/* Counters around one command, both processes. */
struct counters {
    uint64_t csw, sys, semops, cpu, wall;
};

static void counters_start(struct tp *t, struct counters *c)
{
    c->cpu = cpu_ns();
    c->wall = (uint64_t)bench_now_ns();
    c->csw = ctx_switches();
    c->sys = t->syscalls;
    c->semops = tp_ring_semops(t);
}

static void counters_end(struct tp *t, const struct counters *c, uint64_t msgs, struct result *r)
{
    uint64_t csw = ctx_switches() - c->csw + g_ctl->csw;
    double m = msgs ? (double)msgs : 1.0;
    double wall = (double)((uint64_t)bench_now_ns() - c->wall);
    r->csw = (double)csw / m;
    /* Of the two CPUs' time during the measurement, how much the two processes got (getrusage
     * counts in ticks of the scheduler: coarse for short runs). */
    r->cpu_share = wall > 0 ? (double)(cpu_ns() - c->cpu + g_ctl->cpu_ns) / (2.0 * wall) : -1;
    if (t->ops->shmring) {
        uint64_t semops = tp_ring_semops(t) - c->semops;
        r->syscalls = (double)semops / m;
        r->semops_per_m = (double)semops * 1e6 / m;
        r->syscalls_counted = 0;
    } else {
        r->syscalls = (double)(t->syscalls - c->sys + g_ctl->syscalls) / m;
        r->semops_per_m = -1;
        r->syscalls_counted = 1;
    }
}

static int child_status(const char *what)
{
    if (g_ctl->status != 0) {
        if (g_ctl->status != -EINTR)
            bench_err("%s: the receiving process failed: %s", what, strerror(-g_ctl->status));
        return g_ctl->status;
    }
    return 0;
}

static void busy_wait_until(uint64_t tick)
{
    while (bench_ticks() < tick && !g_stop)
        cpu_relax();
}

static int pingpong_parent(struct tp *t, struct result *r)
{
    const uint32_t sz = t->conf.size;
    char *msg = calloc(1, sz), *back = calloc(1, sz);
    uint64_t i, start, deadline, warm, gap = 0;
    struct counters c;
    int err = 0;
    if (msg == NULL || back == NULL) {
        free(msg);
        free(back);
        return -ENOMEM;
    }
    if (t->conf.gap)
        gap = bench_ns_to_ticks(&g_clk, g_o->gap_us * 1e3);
    /* Warm-up: the first tenth (of the time or of the count) is not recorded. */
    warm = g_o->count ? g_o->count / 10 : 0;
    counters_start(t, &c);
    issue(CMD_ECHO);
    start = bench_ticks();
    deadline = deadline_after(start, g_o->duration * 1.1);
    {
        uint64_t warm_end = g_o->count ? 0 : start + bench_ns_to_ticks(&g_clk, g_o->duration * 0.1e9);
        for (i = 1;; i++) {
            uint64_t t0, t1, s = i;
            if (g_stop) {
                err = -EINTR;
                break;
            }
            if (g_o->inject_fault && i == INJECT_AT)
                s = i + 7;
            stamp(msg, sz, s);
            t0 = bench_ticks_start();
            if ((err = t->ops->send(t, 0, msg)) != 0)
                break;
            if ((err = t->ops->recv(t, 1, back)) != 0)
                break;
            t1 = bench_ticks_stop();
            if (stamp_first(back) != i || stamp_last(back, sz) != i) {
                bench_err("%s ping-pong: sent record %" PRIu64 ", got back one stamped %" PRIu64 "/%" PRIu64,
                          t->ops->name, i, stamp_first(back), stamp_last(back, sz));
                err = -EBADMSG;
                break;
            }
            if (g_o->count ? i > warm : t0 >= warm_end)
                bench_hist_record(r->lat, ns_of(t1 - t0));
            /* At least one round trip recorded, even when a preemption ate the whole time. */
            if (done(i, g_o->count ? g_o->count + warm : 0, t1, deadline) && r->lat->count > 0)
                break;
            if (gap)
                busy_wait_until(t1 + gap);
        }
    }
    if (err == 0) {
        stamp(msg, sz, SEQ_STOP);
        err = t->ops->send(t, 0, msg);
    }
    if (err == 0)
        err = await_reply();
    if (err == 0)
        err = child_status(t->ops->name);
    if (err == 0) {
        r->msgs = r->lat->count;
        r->seconds = bench_ticks_to_ns(&g_clk, bench_ticks() - start) * 1e-9;
        counters_end(t, &c, g_ctl->count, r);
    }
    free(msg);
    free(back);
    return err;
}

/* One stream of records 1.. from the parent, for `seconds` or `count` records (count != 0), and
 * at least min_records; fills mrps/gbps from the child's end tick. */
static int stream_parent(struct tp *t, struct result *r, double seconds, uint64_t count, uint64_t min_records)
{
    const uint32_t sz = t->conf.size;
    char *msg = calloc(1, sz);
    uint64_t seq = 1, start, deadline, now;
    /* The clock is read every `stride` sends, not after each: a timestamp costs about as much as
     * a one-record send (perf: rdtsc took about a fifth of the producer's time at batch 1), which
     * would weigh on one-record rows and not on batched ones. The stride doubles up to 64 while
     * that many sends take under 2 us, and halves when they take longer, so that slow transports
     * still stop on time. */
    uint64_t stride = 1, until_tick = 1, last;
    const uint64_t short_ticks = bench_ns_to_ticks(&g_clk, 2000);
    struct counters c;
    int err = 0;
    if (msg == NULL)
        return -ENOMEM;
    counters_start(t, &c);
    issue(CMD_SINK);
    start = now = bench_ticks_start();
    deadline = count ? 0 : start + bench_ns_to_ticks(&g_clk, seconds * 1e9);
    while (!done(seq - 1, count, now, deadline) || seq - 1 < min_records) {
        if (g_stop) { /* a send that never has to wait never sees it */
            err = -EINTR;
            break;
        }
        if (g_o->inject_fault && seq == INJECT_AT) {
            stamp(msg, sz, seq + 7);
            if ((err = t->ops->send(t, 0, msg)) != 0)
                break;
            seq++;
        } else if (t->ops->send_batch) {
            uint64_t n = t->conf.batch;
            if (count && seq - 1 < count && n > count - (seq - 1))
                n = count - (seq - 1);
            if (g_o->inject_fault && seq < INJECT_AT && seq + n > INJECT_AT)
                n = INJECT_AT - seq;
            if ((err = t->ops->send_batch(t, seq, (unsigned)n)) < 0)
                break;
            seq += (uint64_t)err;
            err = 0;
        } else {
            stamp(msg, sz, seq);
            if ((err = t->ops->send(t, 0, msg)) != 0)
                break;
            seq++;
        }
        if (--until_tick == 0) {
            last = now;
            now = bench_ticks();
            if (now - last < short_ticks)
                stride = stride < 64 ? stride * 2 : 64;
            else if (stride > 1)
                stride /= 2;
            until_tick = stride;
        }
    }
    if (err == 0) {
        stamp(msg, sz, SEQ_STOP);
        err = t->ops->send(t, 0, msg);
    }
    if (err == 0)
        err = await_reply();
    if (err == 0)
        err = child_status(t->ops->name);
    if (err == 0 && g_ctl->count != seq - 1) {
        bench_err("%s stream: sent %" PRIu64 " records, the receiver counted %" PRIu64, t->ops->name, seq - 1,
                  g_ctl->count);
        err = -EBADMSG;
    }
    if (err == 0) {
        uint64_t end = g_ctl->end_tick > start ? g_ctl->end_tick : bench_ticks();
        r->msgs = g_ctl->count;
        r->seconds = bench_ticks_to_ns(&g_clk, end - start) * 1e-9;
        r->mrps = (double)r->msgs / r->seconds * 1e-6;
        r->gbps = (double)r->msgs * sz / r->seconds * 1e-9;
        counters_end(t, &c, r->msgs, r);
    }
    free(msg);
    return err;
}

/* A paced stream: record i is due at start + i * interval ticks (interval 0: as fast as possible)
 * and carries that time; a sender that falls behind sends at once, and the lateness shows in the
 * receiver's latencies (no coordinated omission). */
static int paced_parent(struct tp *t, struct result *r, uint64_t interval, double seconds)
{
    const uint32_t sz = t->conf.size;
    char *msg = calloc(1, sz);
    uint64_t seq = 1, start, deadline, now, due;
    struct counters c;
    int err = 0;
    if (msg == NULL)
        return -ENOMEM;
    counters_start(t, &c);
    issue(CMD_PACED);
    start = now = bench_ticks() + bench_ns_to_ticks(&g_clk, 10e3);
    deadline = g_o->count && interval ? 0 : start + bench_ns_to_ticks(&g_clk, seconds * 1e9);
    due = start;
    while (!done(seq - 1, interval ? g_o->count : 0, now, deadline)) {
        uint64_t s = seq;
        if (g_stop) {
            err = -EINTR;
            break;
        }
        if (interval) {
            due = start + (seq - 1) * interval;
            while ((now = bench_ticks()) < due)
                if (g_stop)
                    break;
        } else {
            due = now = bench_ticks();
        }
        if (g_o->inject_fault && seq == INJECT_AT)
            s = seq + 7;
        stamp(msg, sz, s);
        memcpy(msg + 8, &due, 8);
        if ((err = t->ops->send(t, 0, msg)) != 0)
            break;
        seq++;
    }
    if (err == 0) {
        stamp(msg, sz, SEQ_STOP);
        err = t->ops->send(t, 0, msg);
    }
    if (err == 0)
        err = await_reply();
    if (err == 0)
        err = child_status(t->ops->name);
    if (err == 0) {
        uint64_t end = g_ctl->end_tick > start ? g_ctl->end_tick : bench_ticks();
        r->msgs = g_ctl->count;
        r->seconds = bench_ticks_to_ns(&g_clk, end - start) * 1e-9;
        r->mrps = (double)r->msgs / r->seconds * 1e-6;
        r->gbps = (double)r->msgs * sz / r->seconds * 1e-9;
        bench_hist_merge(r->lat, &g_ctl->hist);
        counters_end(t, &c, r->msgs, r);
    }
    free(msg);
    return err;
}

/* memcpy floor: one process copies size bytes from one buffer to another, repeatedly. The source
 * is page-aligned and the destination 64 bytes past a page boundary: on the project's AMD EPYC VM,
 * glibc's memcpy (rep movsb) is about 20x slower when (dst - src) mod 4096 is a small non-zero
 * number such as 16 (measured: 4 KiB copies 1.4 GB/s at +16, 32 GB/s at 0 or +64), which two
 * malloc()ed buffers in a row often are. */
static int memcpy_run(struct result *r, uint32_t size)
{
    char *sbuf = aligned_alloc(4096, ((size_t)size + 8191) & ~(size_t)4095);
    char *dbuf = aligned_alloc(4096, ((size_t)size + 8191) & ~(size_t)4095);
    char *src = sbuf, *dst = dbuf ? dbuf + 64 : NULL;
    uint64_t n = 0, start, now, deadline, cpu0;
    int64_t wall0;
    if (sbuf == NULL || dbuf == NULL) {
        free(sbuf);
        free(dbuf);
        return -ENOMEM;
    }
    memset(src, 1, size);
    memset(dst, 2, size);
    cpu0 = cpu_ns();
    wall0 = bench_now_ns();
    start = now = bench_ticks_start();
    deadline = deadline_after(start, g_o->duration);
    while (!done(n, g_o->count, now, deadline) && !g_stop) {
        unsigned k;
        for (k = 0; k < 16; k++) {
            memcpy(dst, src, size);
            __asm__ __volatile__("" : : "r"(dst) : "memory"); /* the copy is not dead */
        }
        n += 16;
        now = bench_ticks();
    }
    now = bench_ticks_stop();
    r->cpu_share = (double)(cpu_ns() - cpu0) / (2.0 * (double)(bench_now_ns() - wall0));
    free(sbuf);
    free(dbuf);
    if (g_stop)
        return -EINTR;
    r->msgs = n;
    r->seconds = bench_ticks_to_ns(&g_clk, now - start) * 1e-9;
    r->mrps = (double)n / r->seconds * 1e-6;
    r->gbps = (double)n * size / r->seconds * 1e-9;
    r->syscalls = 0;
    r->syscalls_counted = 1;
    r->csw = 0;
    r->semops_per_m = -1;
    return 0;
}

/* --- Results -------------------------------------------------------------------------------- */

static struct results g_rs;

static struct result *new_result(int tp, int wl, uint32_t size, int with_hist)
{
    struct result *r;
    if (g_rs.n == g_rs.cap) {
        int cap = g_rs.cap ? 2 * g_rs.cap : 64;
        struct result *nr = realloc(g_rs.r, (size_t)cap * sizeof(*nr));
        if (nr == NULL)
            return NULL;
        g_rs.r = nr;
        g_rs.cap = cap;
    }
    r = &g_rs.r[g_rs.n];
    memset(r, 0, sizeof(*r));
    r->tp = tp;
    r->workload = wl;
    r->size = size;
    r->syscalls = -1;
    r->semops_per_m = -1;
    r->cpu_share = -1;
    if (with_hist) {
        r->lat = malloc(sizeof(*r->lat));
        if (r->lat == NULL)
            return NULL;
        bench_hist_init(r->lat);
    }
    return r; /* counted by commit_result() */
}

static void commit_result(void)
{
    g_rs.n++;
}

static void drop_result(void)
{
    free(g_rs.r[g_rs.n].lat);
    g_rs.r[g_rs.n].lat = NULL;
}

/* --- One measurement ------------------------------------------------------------------------ */

static uint64_t pow2_at_least(uint64_t v)
{
    uint64_t p = 1;
    while (p < v)
        p *= 2;
    return p;
}

static void progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void progress(const char *fmt, ...)
{
    va_list ap;
    if (g_o->quiet)
        return;
    va_start(ap, fmt);
    fputs("  ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* Runs workload wl over transport tp with records of `size` bytes (a zero-copy stream: `batch`
 * records per commit/release, else batch 0): every result row it makes (paced: one per rate) is
 * appended to g_rs. 0, -EINTR, or another error (after a message). */
static int measure(int tp, int wl, uint32_t size, unsigned batch)
{
    static unsigned seq;
    const struct transport *ops = &transports[tp];
    struct tp t;
    struct bench_hist probe;
    uint64_t probe_p50 = 0, probe_p99 = 0;
    int err, status = 0, first = g_rs.n;
    pid_t pid;

    if (tp == TP_MEMCPY) {
        struct result *r = new_result(tp, wl, size, 0);
        if (r == NULL)
            return -ENOMEM;
        progress("memcpy %u B", size);
        if ((err = memcpy_run(r, size)) != 0)
            return err;
        commit_result();
        return 0;
    }

    memset(&t, 0, sizeof(t));
    t.ops = ops;
    t.fd[0] = t.fd[1] = t.fd[2] = t.fd[3] = t.listen_fd = -1;
    t.msqid = t.semid = t.shmid = -1;
    t.conf.size = size;
    t.conf.batch = batch;
    t.conf.spin = g_o->spin;
    t.conf.huge = g_o->huge;
    t.conf.wake = g_o->wake;
    t.conf.align = g_o->align;
    t.conf.sleep = tp == TP_SPSC_SLEEP || tp == TP_MPMC_SLEEP || tp == TP_BCAST_SLEEP;
    /* Every transport that sleeps is measured at the same low rate, so that the "spin-then-sleep
     * vs the best kernel mechanism" target compares like with like: with an idle gap the sleeping
     * side's CPU goes idle, and waking it costs the same for a pipe as for a semaphore. */
    t.conf.gap = t.conf.sleep || (tp >= TP_PIPE && tp <= TP_SHMSEM);
    t.conf.parent = getpid();
    t.conf.seq = ++seq;
    if (g_o->capacity) {
        t.conf.capacity = g_o->capacity;
    } else {
        /* Ping-pong: a small ring (its lines stay in the two cores' caches). Streams: a ring larger
         * than the L2 caches, so the L3 carries the stream (measured with the older spsc_bench on
         * the project's VM: 64-byte batched 135 -> 180 M rec/s from 256 KiB to 4 MiB). Either
         * holds four records at least. */
        uint64_t base = wl == W_PINGPONG ? 4096 : (4u << 20);
        uint64_t need = pow2_at_least(4 * ((uint64_t)size + 64));
        t.conf.capacity = base > need ? base : need;
    }
    if (batch)
        progress("%s %s %u B, batch %u", ops->name, workload_names[wl], size, batch);
    else
        progress("%s %s %u B", ops->name, workload_names[wl], size);

    if ((err = ops->setup(&t)) != 0) {
        ops->cleanup(&t);
        if (ops->detach)
            ops->detach(&t);
        return err;
    }
    g_expect_exit = 0;
    pid = fork();
    if (pid < 0) {
        err = -errno;
        bench_err("fork: %s", strerror(errno));
        goto teardown_no_child;
    }
    if (pid == 0)
        child_main(&t, getppid()); /* does not return */
    g_child = pid;
    if (g_stop) /* a signal came before g_child was set: it was not forwarded */
        kill(pid, SIGTERM);
    if (ops->attach && (err = ops->attach(&t, 0)) != 0)
        goto teardown;

    /* The child is attached and in its command loop. */
    issue(CMD_NOP);
    if ((err = await_reply()) != 0)
        goto teardown;
    /* The cache-line probe: how far apart the two CPUs are right now. */
    bench_hist_init(&probe);
    if (g_o->probe_ms > 0 || tp == TP_CACHELINE) {
        if ((err = cl_run(&probe, g_o->probe_ms * 1e-3, 0)) != 0)
            goto teardown;
        probe_p50 = bench_hist_percentile(&probe, 50);
        probe_p99 = bench_hist_percentile(&probe, 99);
    }

    if (tp == TP_CACHELINE) {
        struct result *r = new_result(tp, W_PINGPONG, size, 1);
        uint64_t t0 = bench_ticks();
        if (r == NULL) {
            err = -ENOMEM;
            goto teardown;
        }
        if ((err = cl_run(r->lat, g_o->duration, g_o->count)) != 0) {
            drop_result();
            goto teardown;
        }
        r->msgs = r->lat->count;
        r->seconds = bench_ticks_to_ns(&g_clk, bench_ticks() - t0) * 1e-9;
        r->syscalls = 0;
        r->syscalls_counted = 1;
        r->csw = -1;
        r->probe_p50 = probe_p50;
        r->probe_p99 = probe_p99;
        commit_result();
    } else if (wl == W_PINGPONG || wl == W_STREAM) {
        struct result *r = new_result(tp, wl, size, wl == W_PINGPONG);
        if (r == NULL) {
            err = -ENOMEM;
            goto teardown;
        }
        if (wl == W_PINGPONG) {
            err = pingpong_parent(&t, r);
        } else {
            /* Warm-up, not recorded: a fifth of the time, and two laps of a ring at least, so that
             * the measured stream finds every page of the ring mapped and warm. */
            struct result warm;
            uint64_t stride = ((uint64_t)size + 16 + t.conf.align - 1) & ~(uint64_t)(t.conf.align - 1);
            uint64_t laps = ops->shmring ? 2 * t.conf.capacity / stride : 0;
            memset(&warm, 0, sizeof(warm));
            err = stream_parent(&t, &warm, g_o->duration * 0.2, g_o->count ? g_o->count / 5 + 1 : 0, laps);
            if (err == 0)
                err = stream_parent(&t, r, g_o->duration, g_o->count, 0);
        }
        if (err) {
            drop_result();
            goto teardown;
        }
        r->batch = batch;
        r->probe_p50 = probe_p50;
        r->probe_p99 = probe_p99;
        commit_result();
    } else {
        /* Paced: first the maximum of this very path (one record per send, unthrottled), then
         * each rate as a percentage of it. */
        struct result cal;
        struct bench_hist calh;
        double max_rps;
        int k;
        memset(&cal, 0, sizeof(cal));
        bench_hist_init(&calh);
        cal.lat = &calh;
        if ((err = paced_parent(&t, &cal, 0, g_o->duration * 0.4)) != 0)
            goto teardown;
        max_rps = cal.mrps * 1e6;
        for (k = 0; k < g_o->nrates; k++) {
            struct result *r = new_result(tp, wl, size, 1);
            double rps = max_rps * g_o->rates[k] / 100.0;
            uint64_t interval;
            if (r == NULL) {
                err = -ENOMEM;
                goto teardown;
            }
            interval = bench_ns_to_ticks(&g_clk, 1e9 / (rps > 1.0 ? rps : 1.0));
            if (interval == 0)
                interval = 1;
            r->rate_pct = g_o->rates[k];
            r->offered = g_clk.ghz * 1e9 / (double)interval;
            if ((err = paced_parent(&t, r, interval, g_o->duration)) != 0) {
                drop_result();
                goto teardown;
            }
            r->probe_p50 = probe_p50;
            r->probe_p99 = probe_p99;
            commit_result();
        }
    }

teardown:
    g_expect_exit = 1;
    if (err == 0)
        issue(CMD_EXIT);
    else
        kill(pid, SIGTERM);
    {
        /* The child ends within a moment (its blocking calls are interrupted every 200 ms); if it
         * does not, it is killed, and the cleanup below still removes every named object. */
        int waited = 0;
        pid_t w;
        while ((w = waitpid(pid, &status, WNOHANG)) == 0 || (w < 0 && errno == EINTR)) {
            struct timespec ms = {0, 1000000};
            if (++waited == 5000) {
                bench_err("%s: the child process did not exit: killing it", ops->name);
                kill(pid, SIGKILL);
            }
            nanosleep(&ms, NULL);
        }
    }
    g_child = 0;
    if (err == 0 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
        bench_err("%s: the child process ended with %s %d", ops->name,
                  WIFEXITED(status) ? "status" : "signal", WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
        err = -ECHILD;
    }
teardown_no_child:
    if (ops->detach)
        ops->detach(&t);
    ops->cleanup(&t);
    if (err != 0) {
        while (g_rs.n > first) {
            g_rs.n--;
            drop_result();
        }
        if (g_stop && g_signal == 0 && err == -EINTR) {
            /* Pairs with the child's release store of done_seq: its status is visible. */
            if (atomic_load_explicit(&g_ctl->done_seq, memory_order_acquire) == g_cmd_seq && g_ctl->status != 0) {
                err = g_ctl->status; /* it said why (a sequence mismatch, a transport error) and exited */
            } else {
                bench_err("%s %s: the child process died", ops->name, workload_names[wl]);
                err = -ECHILD;
            }
        }
    }
    return err;
}

/* --- Main ----------------------------------------------------------------------------------- */

static const char *out_path(const char *p, char *buf, size_t cap)
{
    /* Under `bazel run` the working directory is the runfiles tree: relative paths are meant
     * relative to where the user typed the command. */
    const char *wd = getenv("BUILD_WORKING_DIRECTORY");
    if (p == NULL || p[0] == '/' || wd == NULL || wd[0] == '\0')
        return p;
    snprintf(buf, cap, "%s/%s", wd, p);
    return buf;
}

int shmring_bench_main(int argc, char **argv)
{
    struct opts o;
    int rc, tp, wl, k, b, err = 0;
    struct itimerval tick;
    char csv[4096], json[4096], plot[4096];
    time_t now = time(NULL);
    struct tm tm;
    double load[1] = {0};
    int64_t t_start = bench_now_ns();

    rc = bench_parse_opts(argc, argv, &o);
    if (rc == -1)
        return 0;
    if (rc != 0)
        return rc;
    g_o = &o;
    o.csv = out_path(o.csv, csv, sizeof(csv));
    o.json = out_path(o.json, json, sizeof(json));
    o.plot_dir = out_path(o.plot_dir, plot, sizeof(plot));

    g_ctl = mmap(NULL, sizeof(struct ctl), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (g_ctl == MAP_FAILED) {
        bench_err("mmap of the control page: %s", strerror(errno));
        return 1;
    }
    set_handler(SIGINT, on_stop_signal);
    set_handler(SIGTERM, on_stop_signal);
    set_handler(SIGHUP, on_stop_signal);
    set_handler(SIGCHLD, on_child);
    set_handler(SIGALRM, on_alarm);
    signal(SIGPIPE, SIG_IGN); /* a write to a dead peer returns EPIPE */
    memset(&tick, 0, sizeof(tick));
    tick.it_interval.tv_sec = 1;
    tick.it_value.tv_sec = 1;
    setitimer(ITIMER_REAL, &tick, NULL);

    {
        cpu_set_t allowed;
        if (o.cpu[0] < 0 && sched_getaffinity(0, sizeof(allowed), &allowed) == 0 && CPU_COUNT(&allowed) < 2) {
            g_yield = 1;
            printf("note: this process may use one CPU only: both sides share it and spinning waits yield; "
                   "the figures do not describe two CPUs\n");
        }
    }
    if (pin_to(o.cpu[0]) != 0)
        bench_err("cannot pin to CPU %d: %s (running unpinned)", o.cpu[0], strerror(errno));
    bench_clock_init(&g_clk, 100000000);
    memset(&g_rs, 0, sizeof(g_rs));
    g_rs.clk = g_clk;
    g_rs.o = &o;
    gmtime_r(&now, &tm);
    strftime(g_rs.when, sizeof(g_rs.when), "%Y-%m-%d %H:%M UTC", &tm);
    if (getloadavg(load, 1) == 1)
        g_rs.load1 = load[0];

    printf("shmring bench: %s, load average %.2f, CPUs %d,%d%s\n", g_rs.when, g_rs.load1, o.cpu[0], o.cpu[1],
           o.cpu[0] < 0 ? " (unpinned)" : "");
    printf("clock: %s at %.3f GHz, calibrated against CLOCK_MONOTONIC over %.0f ms; a timestamp pair costs "
           "%.1f ns (included in every round trip); resolution %.1f ns%s\n",
           g_clk.tsc ? "TSC" : "CLOCK_MONOTONIC", g_clk.ghz, g_clk.calib_ns * 1e-6, g_clk.overhead_ns,
           g_clk.step_ns, g_clk.invariant ? "" : "; WARNING: the CPU does not claim an invariant TSC");
    report_options(&o, stdout);
    fflush(stdout);

    for (wl = 0; wl < W_COUNT && !err; wl++) {
        if (!(o.workloads & (1u << wl)))
            continue;
        for (tp = 0; tp < TP_COUNT && !err; tp++) {
            if (!(o.transports & (1u << tp)))
                continue;
            if ((tp == TP_CACHELINE && wl != W_PINGPONG) || (tp == TP_MEMCPY && wl != W_STREAM))
                continue;
            if (wl == W_PACED && !transports[tp].shmring)
                continue;
            for (k = 0; k < o.nsizes && !err; k++) {
                /* A zero-copy stream runs once per --batch value; everything else once. */
                int batching = wl == W_STREAM && transports[tp].send_batch != NULL;
                if (wl == W_PACED && o.sizes[k] < 24) /* seq, scheduled time, seq */
                    continue;
                if (tp == TP_CACHELINE && k > 0)
                    break; /* one line: the size does not apply */
                for (b = 0; b < (batching ? o.nbatches : 1) && !err; b++) {
                    err = measure(tp, wl, o.sizes[k], batching ? o.batches[b] : 0);
                    if (g_stop && err == 0)
                        err = -EINTR;
                }
            }
        }
    }
    {
        struct itimerval none;
        memset(&none, 0, sizeof(none));
        setitimer(ITIMER_REAL, &none, NULL);
    }

    report_table(&g_rs, stdout);
    report_targets(&g_rs, stdout);
    printf("run took %.0f s\n", (double)(bench_now_ns() - t_start) * 1e-9);
    if (!err && o.csv && report_csv(&g_rs, o.csv) != 0)
        err = -EIO;
    if (!err && o.json && report_json(&g_rs, o.json) != 0)
        err = -EIO;
    if (!err && o.plot_dir && report_plots(&g_rs, o.plot_dir) != 0)
        err = -EIO;
    fflush(stdout);

    for (k = 0; k < g_rs.n; k++)
        free(g_rs.r[k].lat);
    free(g_rs.r);
    munmap(g_ctl, sizeof(struct ctl));
    if (g_signal) {
        bench_err("stopped by signal %d; every IPC object was removed", (int)g_signal);
        return 128 + g_signal;
    }
    return err ? 1 : 0;
}
