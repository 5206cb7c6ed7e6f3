/* shmring bench — peer rings from other libraries, measured by the same harness in the same run:
 * Concurrency Kit's ck_ring (libck-dev) and DPDK's rte_ring (dpdk-dev), each single-producer
 * single-consumer, both sides spinning, in one System V segment shared by the two processes.
 *
 * Both copy each record in on send and out on receive, as shmring's push/pop do (the `spsc-copy`
 * transport), so that "one record per call, copy in and out, the consumer reads every byte" is
 * compared like with like:
 *   ck-spsc   ck_ring's typed-record SPSC enqueue/dequeue (what CK_RING_PROTOTYPE generates:
 *             _ck_ring_enqueue_sp/_ck_ring_dequeue_sc with the record size as the entry size), the
 *             ring of `capacity` records of conf.size bytes each, inline in the buffer;
 *   rte-spsc  rte_ring_sp_enqueue_elem/rte_ring_sc_dequeue_elem with esize = conf.size rounded up
 *             to 4 bytes (rte_ring's unit), the ring set up by rte_ring_init on our memory (no EAL:
 *             rte_ring needs none for a ring in caller-provided memory).
 * Neither ring holds pointers (positions, masks, then the records), so it works mapped at
 * different addresses in the two processes. Neither has a sleeping mode: these are spinning
 * rows, to compare with `spsc-copy` (and `spsc`).
 *
 * The segment is removed right after it is attached (IPC_RMID): it lives while attached and
 * disappears with the last detach whatever happens to the processes.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>

#include <ck_ring.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>

#include "bench/bench.h"

#define PEER_ALIGN 128u /* each ring starts on its own pair of cache lines */

/* Records per ring: capacity bytes / record size, a power of two in [4, 2^24]. */
static uint32_t peer_count(const struct tp *t, uint32_t esize)
{
    uint64_t want = t->conf.capacity / esize, n = 4;
    while (n * 2 <= want && n * 2 <= (UINT64_C(1) << 24))
        n *= 2;
    return (uint32_t)n;
}

static uint32_t rte_esize(const struct tp *t)
{
    return (t->conf.size + 3u) & ~3u;
}

static size_t align_up(size_t x)
{
    return (x + PEER_ALIGN - 1) & ~(size_t)(PEER_ALIGN - 1);
}

/* One segment holding both directions' rings: [dir 0 ring][dir 1 ring], each `stride` bytes. */
static int peer_segment(struct tp *t, size_t stride)
{
    void *p;
    t->shmid = shmget(IPC_PRIVATE, 2 * stride, IPC_CREAT | 0600);
    if (t->shmid < 0) {
        bench_err("%s: shmget %zu bytes: %s", t->ops->name, 2 * stride, strerror(errno));
        return -errno;
    }
    p = shmat(t->shmid, NULL, 0);
    shmctl(t->shmid, IPC_RMID, NULL);
    t->shmid = -1;
    if (p == (void *)-1) {
        bench_err("%s: shmat: %s", t->ops->name, strerror(errno));
        return -errno;
    }
    t->shm = p;
    t->chunk = stride;
    return 0;
}

static void *peer_ring(const struct tp *t, int dir)
{
    return t->shm + (size_t)dir * t->chunk;
}

static int peer_attach(struct tp *t, int side)
{
    t->side = side;
    return 0;
}

static void peer_detach(struct tp *t)
{
    if (t->shm) {
        shmdt(t->shm);
        t->shm = NULL;
    }
}

static void peer_cleanup(struct tp *t)
{
    if (t->shmid >= 0) {
        shmctl(t->shmid, IPC_RMID, NULL);
        t->shmid = -1;
    }
}

/* --- ck_ring: [struct ck_ring][count records of conf.size bytes] ----------------------------- */

static size_t ck_header(void)
{
    return align_up(sizeof(struct ck_ring));
}

int peer_ck_setup(struct tp *t)
{
    uint32_t n = peer_count(t, t->conf.size);
    int d, err;
    if ((err = peer_segment(t, align_up(ck_header() + (size_t)n * t->conf.size))) != 0)
        return err;
    for (d = 0; d < 2; d++)
        ck_ring_init((struct ck_ring *)peer_ring(t, d), n);
    return 0;
}

int peer_ck_attach(struct tp *t, int side)
{
    return peer_attach(t, side);
}

int peer_ck_send(struct tp *t, int dir, const void *buf)
{
    char *base = peer_ring(t, dir);
    while (!_ck_ring_enqueue_sp((struct ck_ring *)base, base + ck_header(), buf, t->conf.size, NULL))
        if (relax())
            return -EINTR;
    return 0;
}

int peer_ck_recv(struct tp *t, int dir, void *buf)
{
    char *base = peer_ring(t, dir);
    while (!_ck_ring_dequeue_sc((struct ck_ring *)base, base + ck_header(), buf, t->conf.size))
        if (relax())
            return -EINTR;
    return 0;
}

void peer_ck_detach(struct tp *t)
{
    peer_detach(t);
}

void peer_ck_cleanup(struct tp *t)
{
    peer_cleanup(t);
}

/* --- rte_ring: rte_ring_get_memsize_elem() bytes per direction -------------------------------- */

int peer_rte_setup(struct tp *t)
{
    uint32_t es = rte_esize(t), n = peer_count(t, es);
    ssize_t sz = rte_ring_get_memsize_elem(es, n);
    int d, err;
    if (sz < 0) {
        bench_err("%s: rte_ring_get_memsize_elem(%u, %u): %s", t->ops->name, es, n, strerror((int)-sz));
        return (int)sz;
    }
    if ((err = peer_segment(t, align_up((size_t)sz))) != 0)
        return err;
    for (d = 0; d < 2; d++) {
        char name[RTE_RING_NAMESIZE];
        snprintf(name, sizeof(name), "bench%d", d);
        if ((err = rte_ring_init((struct rte_ring *)peer_ring(t, d), name, n, RING_F_SP_ENQ | RING_F_SC_DEQ)) != 0) {
            bench_err("%s: rte_ring_init: %s", t->ops->name, strerror(-err));
            return err;
        }
    }
    return 0;
}

int peer_rte_attach(struct tp *t, int side)
{
    t->scratch = malloc(rte_esize(t));
    if (t->scratch == NULL) {
        bench_err("%s: malloc: %s", t->ops->name, strerror(ENOMEM));
        return -ENOMEM;
    }
    return peer_attach(t, side);
}

/* esize may exceed conf.size by up to 3 bytes: copy through the scratch buffer then. */
int peer_rte_send(struct tp *t, int dir, const void *buf)
{
    struct rte_ring *r = peer_ring(t, dir);
    uint32_t es = rte_esize(t);
    if (es != t->conf.size) {
        memcpy(t->scratch, buf, t->conf.size);
        buf = t->scratch;
    }
    while (rte_ring_sp_enqueue_elem(r, (void *)(uintptr_t)buf, es) != 0)
        if (relax())
            return -EINTR;
    return 0;
}

int peer_rte_recv(struct tp *t, int dir, void *buf)
{
    struct rte_ring *r = peer_ring(t, dir);
    uint32_t es = rte_esize(t);
    void *dst = es != t->conf.size ? t->scratch : buf;
    while (rte_ring_sc_dequeue_elem(r, dst, es) != 0)
        if (relax())
            return -EINTR;
    if (dst != buf)
        memcpy(buf, dst, t->conf.size);
    return 0;
}

void peer_rte_detach(struct tp *t)
{
    free(t->scratch);
    t->scratch = NULL;
    peer_detach(t);
}

void peer_rte_cleanup(struct tp *t)
{
    peer_cleanup(t);
}
