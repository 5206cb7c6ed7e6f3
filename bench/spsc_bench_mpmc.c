/* spsc_bench — the MPMC measurements (see spsc_bench.h for how the files divide the work).
 *
 *   mpmc      64-byte messages (--msg-size, which is also the slot size) over two MPMC rings of
 *             --mpmc-pp-slots slots (ping parent -> child, pong child -> parent), one producer and
 *             one consumer each, push/pop, spinning on -EAGAIN; round trips
 *   mpmczc    the same with the zero-copy calls (claim/slot/publish, take/record/release)
 *   mpmc48    push/pop with 48-byte slots: the 16-byte slot header and the payload fill exactly
 *             one cache line (stride 64, where 64-byte slots have a stride of 80 and straddle)
 *   ms64b     parent -> child stream of 64-byte records over an MPMC ring of --mpmc-slots slots:
 *             up to --batch slots per claim/publish and per take/release; records/s
 *   ms64u     the same, one push/pop per record
 *   m2x2      two producer and two consumer processes on one ring of --mpmc-slots slots,
 *             push_wait/pop_wait (spin --mpmc-spin times, then sleep on the ring's semaphore);
 *             aggregate records/s. Four processes on the two CPUs of --cpus: oversubscribed.
 *
 * The 1P1C measurements run between the bench's parent and child, over rings made for each
 * measurement: the parent creates them (named "bench-mpmc-<parent pid>-<n>"), opens its ends,
 * and tells the child (CMD_MPMC_ATTACH) to open the other ends by name; afterwards both close and
 * the parent unlinks them. The 2x2 run comes last, after the child has exited and every handle is
 * closed, so that its four workers inherit nothing: the parent creates the ring, forks the
 * workers, which open it, and waits for them (blocked, not spinning: it would be a fifth process
 * on two CPUs).
 *
 * Verification: ping-pong and stream records carry their sequence number as in the SPSC tests (the
 * 64-byte stream records in every word, and the consumer checks their sum). A 2x2 record holds its
 * producer's number and sequence number; each consumer checks that every producer's numbers
 * increase, and the parent that the consumers together got every record of each producer exactly
 * once (count and sum of sequence numbers per producer).
 *
 * Clean-up: a named ring cannot be unlinked while it is in use (unlinking removes its semaphores at
 * once, and the sides would get -EIDRM), so the parent unlinks each ring when both sides are done
 * with it, and in every error and signal path (mpmc_unlink_all() from main's teardown). A child or
 * worker whose parent died (PR_SET_PDEATHSIG) unlinks the rings it knows of on its way out, so that
 * even SIGKILL of the parent leaves nothing behind.
 */
#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/spsc_bench.h"

/* Longest a blocking call of the 2x2 run waits before the caller looks at g_stop again. */
#define WAIT_SLICE_NS (20 * 1000 * 1000)

/* --- Rings: names, creation, clean-up ------------------------------------------------------- */

/* Creates a ring of `slots` slots of `slot_size` bytes under a new name, and remembers the name for
 * the clean-up before anything can interrupt us. 0 or a negative errno. */
static int mpmc_make(struct bench *b, uint64_t slots, uint32_t slot_size, char *name)
{
    struct shmring_config cfg;
    int i, err;
    for (i = 0; i < MPMC_MADE_MAX && b->mpmc_made[i][0] != '\0'; i++)
        ;
    if (i == MPMC_MADE_MAX) {
        fail_msg("internal error: too many MPMC rings at once");
        return -ENOSPC;
    }
    snprintf(name, SHMRING_NAME_MAX + 1, "bench-mpmc-%ld-%u", (long)b->parent, ++b->mpmc_seq);
    shmring_config_init(&cfg);
    cfg.capacity = slots;
    cfg.slot_size = slot_size;
    /* Remembered first: if create is interrupted half-way, the unlink finishes the job. */
    memcpy(b->mpmc_made[i], name, SHMRING_NAME_MAX + 1);
    if ((err = shmring_mpmc_create(name, &cfg)) != 0) {
        b->mpmc_made[i][0] = '\0';
        fail_msg("creating MPMC ring %s (%" PRIu64 " slots of %u B): %s (%s)", name, slots, slot_size,
                 shmring_strerror(err), shmring_err_name(err));
        return err;
    }
    return 0;
}

/* Unlinks a ring the parent made. */
static void mpmc_unmake(struct bench *b, const char *name)
{
    int i, err;
    for (i = 0; i < MPMC_MADE_MAX; i++) {
        if (b->mpmc_made[i][0] == '\0' || strcmp(b->mpmc_made[i], name) != 0)
            continue;
        if ((err = shmring_unlink(name)) != 0 && err != -ENOENT)
            fail_msg("unlinking MPMC ring %s: %s (%s)", name, shmring_strerror(err), shmring_err_name(err));
        b->mpmc_made[i][0] = '\0';
    }
}

void mpmc_unlink_all(struct bench *b)
{
    char name[SHMRING_NAME_MAX + 1];
    int i;
    for (i = 0; i < MPMC_MADE_MAX; i++) {
        if (b->mpmc_made[i][0] == '\0')
            continue;
        memcpy(name, b->mpmc_made[i], sizeof(name));
        mpmc_unmake(b, name);
    }
}

void mpmc_orphan_cleanup(struct bench *b)
{
    unsigned i;
    if (getppid() == b->parent)
        return;
    for (i = 0; i < 2 && i < b->ctl->mpmc_nrings; i++)
        if (b->ctl->mpmc_name[i][0] != '\0')
            shmring_unlink(b->ctl->mpmc_name[i]);
}

void mpmc_close(struct bench *b)
{
    if (b->mq_tx) {
        shmring_mpmc_close(b->mq_tx);
        b->mq_tx = NULL;
    }
    if (b->mq_rx) {
        shmring_mpmc_close(b->mq_rx);
        b->mq_rx = NULL;
    }
}

static int mpmc_open(const char *who, const char *name, enum shmring_role role, struct shmring_mpmc **q)
{
    int err = shmring_mpmc_open(name, role, q);
    if (err != 0)
        fail_msg("%sopening MPMC ring %s as %s: %s (%s)", who, name, role == SHMRING_PRODUCER ? "producer" : "consumer",
                 shmring_strerror(err), shmring_err_name(err));
    return err;
}

/* Parent: makes `nrings` rings (ring 0 parent -> child, ring 1 child -> parent), opens its ends and
 * has the child open the others. */
static int mpmc_setup(struct bench *b, unsigned nrings, uint64_t slots, uint32_t slot_size)
{
    struct ctl *c = b->ctl;
    unsigned i;
    int err;
    memset(c->mpmc_name, 0, sizeof(c->mpmc_name));
    c->mpmc_nrings = nrings;
    for (i = 0; i < nrings; i++)
        if ((err = mpmc_make(b, slots, slot_size, c->mpmc_name[i])) != 0)
            return err;
    if ((err = mpmc_open("", c->mpmc_name[0], SHMRING_PRODUCER, &b->mq_tx)) != 0)
        return err;
    if (nrings > 1 && (err = mpmc_open("", c->mpmc_name[1], SHMRING_CONSUMER, &b->mq_rx)) != 0)
        return err;
    issue(b, CMD_MPMC_ATTACH);
    if ((err = await_reply(b)) != 0)
        return err;
    return c->status;
}

/* Parent: both sides close, then the rings go. */
static int mpmc_teardown(struct bench *b)
{
    struct ctl *c = b->ctl;
    unsigned i;
    int err;
    issue(b, CMD_MPMC_DETACH);
    if ((err = await_reply(b)) != 0)
        return err;
    mpmc_close(b);
    for (i = 0; i < c->mpmc_nrings; i++)
        mpmc_unmake(b, c->mpmc_name[i]);
    c->mpmc_nrings = 0;
    return c->status;
}

int mpmc_child_attach(struct bench *b)
{
    struct ctl *c = b->ctl;
    int err;
    if ((err = mpmc_open("child: ", c->mpmc_name[0], SHMRING_CONSUMER, &b->mq_rx)) != 0)
        return err;
    if (c->mpmc_nrings > 1 && (err = mpmc_open("child: ", c->mpmc_name[1], SHMRING_PRODUCER, &b->mq_tx)) != 0)
        return err;
    return 0;
}

void mpmc_child_detach(struct bench *b)
{
    mpmc_close(b);
}

/* --- 1P1C ping-pong --------------------------------------------------------------------------- */

int mpmc_parent(struct bench *b, struct bench_hist *h, uint64_t deadline, uint64_t iters)
{
    uint64_t msg[MSG_MAX / 8], back[MSG_MAX / 8], i;
    const uint32_t sz = b->ctl->msg_size;
    ssize_t n;
    int err;
    memset(msg, 0, sizeof(msg));
    issue(b, CMD_MPMC_ECHO);
    for (i = 1;; i++) {
        uint64_t t0, t1;
        stamp(msg, sz, i);
        t0 = bench_ticks_start();
        while ((err = shmring_mpmc_push(b->mq_tx, msg, sz)) == -EAGAIN)
            if (relax())
                return -EINTR;
        if (err)
            return ring_error("mpmc ping-pong: push", err);
        while ((n = shmring_mpmc_pop(b->mq_rx, back, sizeof(back))) == -EAGAIN)
            if (relax())
                return -EINTR;
        t1 = bench_ticks_stop();
        if (n < 0)
            return ring_error("mpmc ping-pong: pop", (int)n);
        if (n != sz || !stamp_ok(back, sz, i)) {
            fail_msg("mpmc ping-pong: sent record %" PRIu64 ", got back %zd bytes stamped %" PRIu64 "/%" PRIu64, i,
                     n, back[0], back[sz / 8 - 1]);
            return -EBADMSG;
        }
        bench_hist_record(h, ticks_ns(b, t1 - t0));
        if (i == iters || t1 >= deadline)
            break;
    }
    /* End of the test: a 0-length record. */
    while ((err = shmring_mpmc_push(b->mq_tx, msg, 0)) == -EAGAIN)
        if (relax())
            return -EINTR;
    if (err)
        return ring_error("mpmc ping-pong: push", err);
    return await_reply(b);
}

int mpmc_child(struct bench *b, int inject)
{
    uint64_t msg[MSG_MAX / 8], expect;
    const uint32_t sz = b->ctl->msg_size;
    ssize_t n;
    int err;
    for (expect = 1;; expect++) {
        while ((n = shmring_mpmc_pop(b->mq_rx, msg, sizeof(msg))) == -EAGAIN)
            if (relax())
                return -EINTR;
        if (n == 0)
            break;
        if (n < 0)
            return ring_error("child: mpmc ping-pong: pop", (int)n);
        if (n != sz || !stamp_ok(msg, sz, expect)) {
            fail_msg("child: mpmc ping-pong: expected record %" PRIu64 ", got %zd bytes stamped %" PRIu64 "/%" PRIu64,
                     expect, n, msg[0], msg[sz / 8 - 1]);
            return -EBADMSG;
        }
        if (inject && expect == INJECT_AT)
            msg[0]++;
        while ((err = shmring_mpmc_push(b->mq_tx, msg, sz)) == -EAGAIN)
            if (relax())
                return -EINTR;
        if (err)
            return ring_error("child: mpmc ping-pong: push", err);
    }
    b->ctl->count = expect - 1;
    return 0;
}

/* Zero-copy: the parent writes its message in its claimed slot and reads the reply in the taken
 * slot; the child copies the message from the taken ping slot straight into a claimed pong slot,
 * and publishes the pong before it releases the ping (as spsc_zc_child). */
int mpmc_zc_parent(struct bench *b, struct bench_hist *h, uint64_t deadline, uint64_t iters)
{
    const uint32_t sz = b->ctl->msg_size;
    uint64_t i;
    int n;
    issue(b, CMD_MPMC_ZC_ECHO);
    for (i = 1;; i++) {
        struct shmring_mpmc_span c = {0, 0};
        const void *p = NULL;
        size_t len = 0;
        uint64_t t0, t1;
        int err;
        t0 = bench_ticks_start();
        while ((n = shmring_mpmc_claim(b->mq_tx, 1, &c)) == -EAGAIN)
            if (relax())
                return -EINTR;
        if (n < 0)
            return ring_error("mpmc zero-copy ping-pong: claim", n);
        fill_words(shmring_mpmc_slot(b->mq_tx, &c, 0), sz, i);
        shmring_mpmc_publish(b->mq_tx, &c, &sz);
        while ((n = shmring_mpmc_take(b->mq_rx, 1, &c)) == -EAGAIN)
            if (relax())
                return -EINTR;
        if (n < 0)
            return ring_error("mpmc zero-copy ping-pong: take", n);
        if ((err = shmring_mpmc_record(b->mq_rx, &c, 0, &p, &len)) != 0)
            return ring_error("mpmc zero-copy ping-pong: record", err);
        if (len != sz || !stamp_ok(p, sz, i)) {
            fail_msg("mpmc zero-copy ping-pong: sent record %" PRIu64 ", got back %zu bytes stamped %" PRIu64
                     "/%" PRIu64,
                     i, len, len >= 8 ? ((const uint64_t *)p)[0] : 0, len >= 8 ? ((const uint64_t *)p)[len / 8 - 1] : 0);
            return -EBADMSG;
        }
        shmring_mpmc_release(b->mq_rx, &c);
        t1 = bench_ticks_stop();
        bench_hist_record(h, ticks_ns(b, t1 - t0));
        if (i == iters || t1 >= deadline)
            break;
    }
    while ((n = shmring_mpmc_push(b->mq_tx, &i, 0)) == -EAGAIN)
        if (relax())
            return -EINTR;
    if (n)
        return ring_error("mpmc zero-copy ping-pong: push", n);
    return await_reply(b);
}

int mpmc_zc_child(struct bench *b, int inject)
{
    uint64_t expect;
    int n, err;
    for (expect = 1;; expect++) {
        struct shmring_mpmc_span in = {0, 0}, out = {0, 0};
        const void *p = NULL;
        size_t len = 0;
        uint32_t len32;
        void *q;
        while ((n = shmring_mpmc_take(b->mq_rx, 1, &in)) == -EAGAIN)
            if (relax())
                return -EINTR;
        if (n < 0)
            return ring_error("child: mpmc zero-copy ping-pong: take", n);
        if ((err = shmring_mpmc_record(b->mq_rx, &in, 0, &p, &len)) != 0)
            return ring_error("child: mpmc zero-copy ping-pong: record", err);
        if (len == 0) {
            shmring_mpmc_release(b->mq_rx, &in);
            break;
        }
        if (len != b->ctl->msg_size || !stamp_ok(p, (uint32_t)len, expect))
            return stream_mismatch(expect, p, len, "mpmc zero-copy ping-pong: bad stamp");
        while ((n = shmring_mpmc_claim(b->mq_tx, 1, &out)) == -EAGAIN)
            if (relax())
                return -EINTR;
        if (n < 0)
            return ring_error("child: mpmc zero-copy ping-pong: claim", n);
        q = shmring_mpmc_slot(b->mq_tx, &out, 0);
        memcpy(q, p, len);
        if (inject && expect == INJECT_AT)
            ((uint64_t *)q)[0]++;
        len32 = (uint32_t)len;
        shmring_mpmc_publish(b->mq_tx, &out, &len32);
        shmring_mpmc_release(b->mq_rx, &in);
    }
    b->ctl->count = expect - 1;
    return 0;
}

/* One block of round trips, added to out->h: the child's reply must be clean and its count match. */
static int latency_block(struct bench *b, pingpong_fn fn, struct latency *out, double seconds, uint64_t iters)
{
    uint64_t before = out->h.count, csw = preemptions();
    int err = fn(b, &out->h, deadline_in(b, seconds), iters);
    if (err != 0)
        return err;
    out->preempt += preemptions() - csw + b->ctl->nivcsw;
    if (b->ctl->status != 0)
        return b->ctl->status;
    if (b->ctl->count != out->h.count - before) {
        fail_msg("%s: the child echoed %" PRIu64 " messages, the parent timed %" PRIu64, out->label, b->ctl->count,
                 out->h.count - before);
        return -EBADMSG;
    }
    return 0;
}

/* The cross-CPU latency of this kind of VM moves while it runs (the host places its vCPUs anew: a
 * cache-line round trip of 120 ns became 391 ns within one run), so a ratio to a floor measured
 * seconds earlier can say anything. Here the floor and the ring take turns in short blocks and
 * see the same conditions. */
static int run_paired(struct bench *b, pingpong_fn fn, uint32_t msg_size, struct latency *out, struct latency *cl)
{
    static struct bench_hist scratch;
    const double block = b->o.seconds / PAIRED_BLOCKS;
    int k, err;
    b->ctl->msg_size = msg_size;
    if (b->o.warmup > 0) {
        bench_hist_init(&scratch);
        if ((err = fn(b, &scratch, deadline_in(b, b->o.warmup), 0)) != 0)
            return err;
        if (b->ctl->status != 0)
            return b->ctl->status;
    }
    bench_hist_init(&out->h);
    bench_hist_init(&cl->h);
    out->preempt = cl->preempt = 0;
    for (k = 0; k < PAIRED_BLOCKS; k++) {
        /* --iters: that many round trips of each in all. */
        uint64_t iters = b->o.iters ? b->o.iters / PAIRED_BLOCKS + ((uint64_t)k < b->o.iters % PAIRED_BLOCKS) : 0;
        if (b->o.iters && iters == 0)
            continue;
        if ((err = latency_block(b, cl_parent, cl, block, iters)) != 0)
            return err;
        if ((err = latency_block(b, fn, out, block, iters)) != 0)
            return err;
    }
    out->done = cl->done = 1;
    return 0;
}

int run_mpmc_latency(struct bench *b, pingpong_fn fn, uint32_t msg_size, struct latency *out, struct latency *cl)
{
    int err = mpmc_setup(b, 2, b->o.mpmc_pp_slots, msg_size);
    if (err == 0)
        err = cl ? run_paired(b, fn, msg_size, out, cl) : run_latency(b, fn, msg_size, out);
    if (err == 0)
        err = mpmc_teardown(b);
    return err;
}

/* --- 1P1C stream ------------------------------------------------------------------------------ */

int mpmc_stream_parent(struct bench *b, const struct stream_args *a, uint64_t deadline, uint64_t iters,
                       uint64_t *sent)
{
    struct shmring_mpmc *q = b->mq_tx;
    uint64_t seq = 1, last = iters ? iters : UINT64_MAX;
    uint64_t local[MPMC_REC / 8];
    uint64_t bad = b->o.inject_fault ? INJECT_AT : 0; /* --inject-fault: this record's stamp is wrong */
    unsigned batch = a->batch;
    int err;

    if (batch > shmring_mpmc_capacity(q))
        batch = (unsigned)shmring_mpmc_capacity(q);
    memset(local, 0, sizeof(local));
    if (a->mode == STREAM_MPMC_COPY) {
        for (;;) {
            unsigned k;
            for (k = 0; k < DEADLINE_EVERY && seq <= last; k++, seq++) {
                fill_words(local, a->rec_size, seq == bad ? seq + 1 : seq);
                while ((err = shmring_mpmc_push(q, local, a->rec_size)) == -EAGAIN)
                    if (relax())
                        return -EINTR;
                if (err)
                    return ring_error("mpmc stream: push", err);
            }
            if (seq > last || bench_ticks() >= deadline)
                break;
        }
    } else {
        for (;;) {
            struct shmring_mpmc_span c = {0, 0};
            uint64_t left = last - seq + 1;
            int n, k;
            n = shmring_mpmc_claim(q, left < batch ? (unsigned)left : batch, &c);
            if (n == -EAGAIN) {
                if (relax())
                    return -EINTR;
                continue;
            }
            if (n < 0)
                return ring_error("mpmc stream: claim", n);
            for (k = 0; k < n; k++, seq++)
                fill_words(shmring_mpmc_slot(q, &c, (unsigned)k), a->rec_size, seq == bad ? seq + 1 : seq);
            shmring_mpmc_publish(q, &c, NULL); /* every record fills its slot */
            if (seq > last || bench_ticks() >= deadline)
                break;
        }
    }
    *sent = seq - 1;
    while ((err = shmring_mpmc_push(q, local, 0)) == -EAGAIN)
        if (relax())
            return -EINTR;
    if (err)
        return ring_error("mpmc stream: push", err);
    return 0;
}

int mpmc_stream_child(struct bench *b, const struct stream_args *a)
{
    struct shmring_mpmc *q = b->mq_rx;
    uint64_t expect = 1, sum = 0;
    const uint64_t words = a->rec_size / 8;
    unsigned batch = a->batch;

    if (batch > shmring_mpmc_capacity(q))
        batch = (unsigned)shmring_mpmc_capacity(q);
    if (a->mode == STREAM_MPMC_COPY) {
        uint64_t local[BIG_SIZE / 8];
        for (;; expect++) {
            ssize_t n;
            while ((n = shmring_mpmc_pop(q, local, sizeof(local))) == -EAGAIN)
                if (relax())
                    return -EINTR;
            if (n == 0)
                break;
            if (n < 0)
                return ring_error("child: mpmc stream: pop", (int)n);
            if ((uint32_t)n != a->rec_size || !stamp_ok(local, a->rec_size, expect))
                return stream_mismatch(expect, local, (size_t)n, "mpmc stream: bad stamp");
            {
                uint64_t s = sum_words(local, a->rec_size);
                if (s != expect * words)
                    return stream_mismatch(expect, local, (size_t)n, "mpmc stream: bad sum of words");
                sum += s;
            }
        }
    } else {
        int end = 0;
        while (!end) {
            struct shmring_mpmc_span c = {0, 0};
            int n, k, err;
            n = shmring_mpmc_take(q, batch, &c);
            if (n == -EAGAIN) {
                if (relax())
                    return -EINTR;
                continue;
            }
            if (n < 0)
                return ring_error("child: mpmc stream: take", n);
            for (k = 0; k < n; k++) {
                const void *p = NULL;
                size_t len = 0;
                uint64_t s;
                if ((err = shmring_mpmc_record(q, &c, (unsigned)k, &p, &len)) != 0)
                    return ring_error("child: mpmc stream: record", err);
                if (len == 0) {
                    if (k != n - 1)
                        return stream_mismatch(expect, p, len, "mpmc stream: records after the end record");
                    end = 1;
                    break;
                }
                if (len != a->rec_size || !stamp_ok(p, a->rec_size, expect))
                    return stream_mismatch(expect, p, len, "mpmc stream: bad stamp");
                s = sum_words(p, a->rec_size);
                if (s != expect * words)
                    return stream_mismatch(expect, p, len, "mpmc stream: bad sum of words");
                sum += s;
                expect++;
            }
            shmring_mpmc_release(q, &c);
        }
    }
    b->ctl->count = expect - 1;
    b->ctl->checksum = sum;
    return 0;
}

int run_mpmc_stream(struct bench *b, const struct stream_args *a, struct throughput *out)
{
    int err = mpmc_setup(b, 1, b->o.mpmc_slots, a->rec_size);
    if (err == 0)
        err = run_stream(b, a, out);
    if (err == 0)
        err = mpmc_teardown(b);
    return err;
}

/* --- 2x2 -------------------------------------------------------------------------------------- */

/* What the workers report: one MAP_SHARED page, a line per worker. */
struct m2x2_shared {
    _Alignas(64) _Atomic uint32_t producers_done; /* producers that sent their last record */
    struct {
        _Alignas(64) uint64_t sent; /* records 1..sent */
        uint64_t t_start;           /* ticks at its first push */
        uint64_t nvcsw, nivcsw;     /* context switches: voluntary (sleeps), involuntary */
    } prod[2];
    struct {
        _Alignas(64) uint64_t count[2]; /* records of producer 0 and 1 */
        uint64_t sum[2];                /* sum of their sequence numbers */
        uint64_t t_end;                 /* ticks when it took its end record */
        uint64_t nvcsw, nivcsw;
    } cons[2];
};
_Static_assert(sizeof(struct m2x2_shared) <= 4096, "one page");

/* A 2x2 record: the sequence number in the first and last word, the producer in the second. */
#define M2X2_WORDS (MPMC_REC / 8)

static void worker_switches(uint64_t *nvcsw, uint64_t *nivcsw)
{
    struct rusage ru;
    *nvcsw = *nivcsw = 0;
    if (getrusage(RUSAGE_SELF, &ru) == 0) {
        *nvcsw = (uint64_t)ru.ru_nvcsw;
        *nivcsw = (uint64_t)ru.ru_nivcsw;
    }
}

/* Waits for the start: the parent closes the write end of the go pipe. 0, or -EINTR. */
static int await_go(int go_fd)
{
    char ch;
    for (;;) {
        ssize_t n = read(go_fd, &ch, 1);
        if (n >= 0)
            return 0;
        if (errno != EINTR || g_stop)
            return -EINTR;
    }
}

/* Sends records 1..iters (UINT64_MAX: until `seconds` have passed). */
static int m2x2_producer(struct bench *b, struct m2x2_shared *s, struct shmring_mpmc *q, int id, int go_fd,
                         double seconds, uint64_t iters)
{
    uint64_t rec[M2X2_WORDS], seq = 1, last = iters, deadline;
    /* --inject-fault: producer 1 sends record INJECT_AT twice. */
    uint64_t dup = b->o.inject_fault && id == 1 ? INJECT_AT : 0;
    int err, k;

    if (await_go(go_fd) != 0)
        return -EINTR;
    s->prod[id].t_start = bench_ticks();
    deadline = s->prod[id].t_start + bench_ns_to_ticks(&b->clk, seconds * 1e9);
    memset(rec, 0, sizeof(rec));
    rec[1] = (uint64_t)id;
    for (;;) {
        unsigned j;
        for (j = 0; j < DEADLINE_EVERY && seq <= last; j++) {
            rec[0] = rec[M2X2_WORDS - 1] = seq;
            while ((err = shmring_mpmc_push_wait(q, rec, sizeof(rec), WAIT_SLICE_NS)) == -ETIMEDOUT)
                if (g_stop)
                    return -EINTR;
            if (err)
                return ring_error("2x2 producer: push_wait", err);
            if (seq == dup)
                dup = 0; /* send it again */
            else
                seq++;
        }
        if (seq > last || g_stop || bench_ticks() >= deadline)
            break;
    }
    if (g_stop)
        return -EINTR;
    s->prod[id].sent = seq - 1;
    /* The last producer to finish sends one end record per consumer: every data record has an
     * earlier position (the other producer published its last one before its increment, which
     * our acq_rel increment sees), and a consumer stops at the first end record it takes. */
    if (atomic_fetch_add_explicit(&s->producers_done, 1, memory_order_acq_rel) == 1) {
        for (k = 0; k < 2; k++) {
            while ((err = shmring_mpmc_push_wait(q, rec, 0, WAIT_SLICE_NS)) == -ETIMEDOUT)
                if (g_stop)
                    return -EINTR;
            if (err)
                return ring_error("2x2 producer: push_wait (end record)", err);
        }
    }
    return 0;
}

static int m2x2_consumer(struct m2x2_shared *s, struct shmring_mpmc *q, int id, int go_fd)
{
    uint64_t rec[M2X2_WORDS], last[2] = {0, 0};
    unsigned k = 0;
    if (await_go(go_fd) != 0)
        return -EINTR;
    for (;;) {
        ssize_t n = shmring_mpmc_pop_wait(q, rec, sizeof(rec), WAIT_SLICE_NS);
        uint64_t p, seq;
        if (n == -ETIMEDOUT || (++k % DEADLINE_EVERY == 0 && g_stop)) {
            if (g_stop)
                return -EINTR;
            continue;
        }
        if (n == 0)
            break;
        if (n < 0)
            return ring_error(n == -EPIPE ? "2x2 consumer: pop_wait (the producers left without an end record)"
                                          : "2x2 consumer: pop_wait",
                              (int)n);
        p = rec[1];
        seq = rec[0];
        if (n != MPMC_REC || rec[M2X2_WORDS - 1] != seq || p > 1) {
            fail_msg("2x2 consumer %d: bad record: %zd bytes, producer %" PRIu64 ", stamped %" PRIu64 "/%" PRIu64, id, n,
                     p, seq, rec[M2X2_WORDS - 1]);
            return -EBADMSG;
        }
        if (seq <= last[p]) {
            fail_msg("2x2 consumer %d: producer %" PRIu64 "'s record %" PRIu64 " after its record %" PRIu64
                     " (out of order)",
                     id, p, seq, last[p]);
            return -EBADMSG;
        }
        last[p] = seq;
        s->cons[id].count[p]++;
        s->cons[id].sum[p] += seq;
    }
    s->cons[id].t_end = bench_ticks();
    return 0;
}

/* The CPU of worker w (producers 0, 1 are workers 0, 1; consumers 0, 1 are workers 2, 3), or -1. */
static int worker_cpu(const struct opts *o, int w)
{
    int producer = w < 2, idx = w & 1;
    if (o->placement == PLACE_NONE || o->cpu[0] < 0)
        return -1;
    if (o->placement == PLACE_SPLIT)
        return producer ? o->cpu[0] : o->cpu[1];
    return o->cpu[idx];
}

/* A worker process: never returns. */
static void m2x2_worker(struct bench *b, struct m2x2_shared *s, const char *name, int w, int ready_fd, int go_fd,
                        double seconds, uint64_t iters)
{
    struct shmring_mpmc *q = NULL;
    int producer = w < 2, id = w & 1, cpu = worker_cpu(&b->o, w), err, i;
    uint64_t vcsw, ivcsw;
    char ch = 'r';
    for (i = 0; i < 4; i++)
        g_workers[i] = 0; /* our signal handler must not kill our siblings */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != b->parent)
        g_stop = 1; /* the parent died before prctl */
    /* Unpinned: undo the parent's pinning, which we inherited. */
    if (cpu < 0)
        err = sched_setaffinity(0, sizeof(b->o.allowed), &b->o.allowed) == 0 ? 0 : -errno;
    else
        err = pin_to(cpu);
    if (err != 0) {
        fail_msg("2x2 worker: cannot pin to CPU %d: %s", cpu, strerror(-err));
        _exit(1);
    }
    if ((err = mpmc_open("2x2 worker: ", name, producer ? SHMRING_PRODUCER : SHMRING_CONSUMER, &q)) != 0)
        _exit(1);
    shmring_mpmc_set_spin(q, b->o.mpmc_spin);
    /* Ready: attached, so no consumer can see "every producer gone" before they all started. */
    if (write(ready_fd, &ch, 1) != 1)
        err = -EPIPE;
    close(ready_fd);
    if (err == 0)
        err = producer ? m2x2_producer(b, s, q, id, go_fd, seconds, iters) : m2x2_consumer(s, q, id, go_fd);
    worker_switches(&vcsw, &ivcsw);
    if (producer) {
        s->prod[id].nvcsw = vcsw;
        s->prod[id].nivcsw = ivcsw;
    } else {
        s->cons[id].nvcsw = vcsw;
        s->cons[id].nivcsw = ivcsw;
    }
    shmring_mpmc_close(q);
    if (getppid() != b->parent)
        shmring_unlink(name); /* nobody else will */
    _exit(err == 0 ? 0 : g_stop && g_signal ? 128 + g_signal : 1);
}

static volatile sig_atomic_t g_alarm;

static void on_alarm(int sig)
{
    (void)sig;
    g_alarm = 1;
}

static void kill_workers(pid_t *pids, int sig)
{
    int w;
    for (w = 0; w < 4; w++)
        if (pids[w] > 0)
            kill(pids[w], sig);
}

/* Reaps every worker still listed in pids[]: SIGTERM after ms / 2 milliseconds, SIGKILL after ms. */
static void reap_workers(pid_t *pids, int ms)
{
    int i, w, status;
    for (i = 0;; i++) {
        int running = 0;
        for (w = 0; w < 4; w++) {
            pid_t r;
            if (pids[w] <= 0)
                continue;
            r = waitpid(pids[w], &status, i > ms ? 0 : WNOHANG);
            if (r == 0 || (r < 0 && errno == EINTR)) {
                running++;
                continue;
            }
            pids[w] = 0;
            g_workers[w] = 0;
        }
        if (running == 0)
            return;
        if (i == ms / 2)
            kill_workers(pids, SIGTERM);
        if (i == ms)
            kill_workers(pids, SIGKILL);
        usleep(1000);
    }
}

/* One 2x2 run of `seconds` (or `iters` records): four fresh workers on the ring `name`. */
static int m2x2_once(struct bench *b, const char *name, double seconds, uint64_t iters, struct throughput *out,
                     struct m2x2_result *res)
{
    struct m2x2_shared *s;
    pid_t pids[4] = {0, 0, 0, 0};
    int ready[2] = {-1, -1}, go[2] = {-1, -1};
    int err = 0, w, got = 0, status;
    uint64_t per[2], t0, t1, total = 0;

    s = (struct m2x2_shared *)mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (s == MAP_FAILED) {
        fail_msg("mmap: %s", strerror(errno));
        return -ENOMEM;
    }
    if (pipe(ready) != 0 || pipe(go) != 0) {
        err = -errno;
        fail_msg("pipe: %s", strerror(errno));
        goto out;
    }
    /* --iters: that many records in all, half from each producer; else by time. */
    per[0] = iters ? (iters + 1) / 2 : UINT64_MAX;
    per[1] = iters ? iters / 2 : UINT64_MAX;
    fflush(NULL);
    for (w = 0; w < 4 && !g_stop; w++) {
        pid_t pid = fork();
        if (pid < 0) {
            err = -errno;
            fail_msg("fork: %s", strerror(errno));
            break;
        }
        if (pid == 0) {
            close(ready[0]);
            close(go[1]);
            m2x2_worker(b, s, name, w, ready[1], go[0], seconds, per[w & 1]);
        }
        pids[w] = pid;
        g_workers[w] = pid;
    }
    close(ready[1]);
    close(go[0]);
    ready[1] = go[0] = -1;
    /* Every worker writes one byte when it is attached, and holds the write end until then: EOF
     * before four bytes means one died. */
    while (err == 0 && got < 4 && !g_stop) {
        char buf[4];
        ssize_t n = read(ready[0], buf, sizeof(buf) - (size_t)got);
        if (n > 0)
            got += (int)n;
        else if (n == 0 || errno != EINTR)
            err = -EPIPE;
    }
    if (err != 0 || g_stop) {
        if (err == -EPIPE)
            fail_msg("2x2: a worker failed before the start");
        kill_workers(pids, SIGTERM);
        reap_workers(pids, 2000);
        if (err == 0)
            err = -EINTR;
        goto out;
    }
    /* Go: EOF for every worker at once. Then wait for them, blocked (SIGCHLD keeps its default
     * action; a stop signal or the watchdog alarm interrupts the wait). */
    close(go[1]);
    go[1] = -1;
    g_alarm = 0;
    alarm((unsigned)(seconds + 30.0));
    for (w = 0; w < 4; w++) {
        pid_t r;
        if (pids[w] <= 0)
            continue;
        r = waitpid(pids[w], &status, 0);
        if (r < 0 && errno == EINTR) {
            if (g_stop || g_alarm) {
                if (g_alarm && !g_stop)
                    fail_msg("2x2: the workers did not finish within %.0f s", seconds + 30.0);
                err = g_stop ? -EINTR : -ETIMEDOUT;
                break;
            }
            w--;
            continue;
        }
        pids[w] = 0;
        g_workers[w] = 0;
        if (r < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            if (r < 0)
                fail_msg("2x2: lost %s %d", w < 2 ? "producer" : "consumer", w & 1);
            else if (WIFSIGNALED(status))
                fail_msg("2x2: %s %d died of signal %d", w < 2 ? "producer" : "consumer", w & 1, WTERMSIG(status));
            else
                fail_msg("2x2: %s %d failed (status %d)", w < 2 ? "producer" : "consumer", w & 1, WEXITSTATUS(status));
            err = -EPIPE;
            break;
        }
    }
    alarm(0);
    if (err != 0) {
        /* A worker failed (it said why) or we were stopped: the others may wait for it. */
        kill_workers(pids, SIGTERM);
        reap_workers(pids, 2000);
        goto out;
    }

    /* Exactly once, in order per producer (the order was checked by the consumers). */
    for (w = 0; w < 2; w++) {
        uint64_t n = s->prod[w].sent, count = s->cons[0].count[w] + s->cons[1].count[w];
        uint64_t sum = s->cons[0].sum[w] + s->cons[1].sum[w];
        /* n (n + 1) / 2 without overflow: n < 2^40. */
        uint64_t want = n % 2 == 0 ? n / 2 * (n + 1) : (n + 1) / 2 * n;
        if (count != n || sum != want) {
            fail_msg("2x2: producer %d sent records 1..%" PRIu64 "; the consumers got %" PRIu64
                     " of its records, sequence numbers summing to %" PRIu64 " (expected %" PRIu64 ")",
                     w, n, count, sum, want);
            err = -EBADMSG;
            goto out;
        }
        total += n;
    }
    t0 = s->prod[0].t_start < s->prod[1].t_start ? s->prod[0].t_start : s->prod[1].t_start;
    t1 = s->cons[0].t_end > s->cons[1].t_end ? s->cons[0].t_end : s->cons[1].t_end;
    out->records = total;
    out->seconds = bench_ticks_to_ns(&b->clk, t1 - t0) / 1e9;
    out->mrps = (double)total / out->seconds / 1e6;
    out->gbps = (double)total * MPMC_REC / out->seconds / 1e9;
    out->preempt = s->prod[0].nivcsw + s->prod[1].nivcsw + s->cons[0].nivcsw + s->cons[1].nivcsw;
    res->sent[0] = s->prod[0].sent;
    res->sent[1] = s->prod[1].sent;
    res->got[0] = s->cons[0].count[0] + s->cons[0].count[1];
    res->got[1] = s->cons[1].count[0] + s->cons[1].count[1];
    res->sleeps = s->prod[0].nvcsw + s->prod[1].nvcsw + s->cons[0].nvcsw + s->cons[1].nvcsw;
    out->done = 1;
out:
    for (w = 0; w < 2; w++) {
        if (ready[w] >= 0)
            close(ready[w]);
        if (go[w] >= 0)
            close(go[w]);
    }
    munmap(s, 4096);
    return err;
}

int run_mpmc_2x2(struct bench *b, struct throughput *out, struct m2x2_result *res)
{
    char name[SHMRING_NAME_MAX + 1];
    struct throughput scratch = *out;
    struct m2x2_result scratch_res = *res;
    struct sigaction sa;
    const struct opts *o = &b->o;
    int err;

    /* Where the workers go, in words, and how many CPUs they share. */
    res->nprocs = 4;
    if (o->placement == PLACE_NONE || o->cpu[0] < 0) {
        res->ncpus = o->ncpus;
        snprintf(res->placement, sizeof(res->placement), "unpinned, on the %d CPUs this process may use", o->ncpus);
    } else {
        res->ncpus = o->cpu[0] == o->cpu[1] ? 1 : 2;
        if (o->placement == PLACE_SPLIT)
            snprintf(res->placement, sizeof(res->placement), "both producers on CPU %d, both consumers on CPU %d",
                     o->cpu[0], o->cpu[1]);
        else
            snprintf(res->placement, sizeof(res->placement),
                     "producer 0 and consumer 0 on CPU %d, producer 1 and consumer 1 on CPU %d", o->cpu[0], o->cpu[1]);
    }
    scratch_res = *res;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_alarm;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, NULL); /* no SA_RESTART: the wait for the workers returns EINTR */
    if ((err = mpmc_make(b, o->mpmc_slots, MPMC_REC, name)) != 0)
        return err;
    if (o->warmup > 0)
        err = m2x2_once(b, name, o->warmup, 0, &scratch, &scratch_res);
    if (err == 0 && !g_stop)
        err = m2x2_once(b, name, o->seconds, o->iters, out, res);
    if (err == 0 && g_stop)
        err = -EINTR;
    mpmc_unmake(b, name);
    return err;
}
