/* shmring — the out-of-line half of the broadcast ring: create, open (joining), close, the
 * producer's look at the consumer table, liveness of consumers, laps, waiting and waking. The fast
 * path is inline in include/shmring/bcast.h; layout.h describes the slot states and the table.
 *
 * Joining a BLOCK ring. The producer keeps a private gate (the slowest consumer's position plus the
 * capacity, from its last look at the table) and writes below it without looking again. A consumer
 * that joins behind the gate would have its records overwritten, so the two run a Dekker handshake:
 *   producer, every claim:  claim_end = pos + n; barrier; if joins changed: read the table again
 *   joiner:                 entry = X, active; joins += 1; barrier; read claim_end; X >= end - capacity
 * Either the producer sees the new `joins` (and then the entry), or the joiner sees the claim the
 * producer made without it, and starts after what that claim overwrites. The producer's barrier is
 * a compiler barrier when the joiner's is membarrier(GLOBAL_EXPEDITED) (which runs a barrier on the
 * producer's CPU), a full fence otherwise, as for the sleep/wake-up protocol (lib/wait.c): the
 * ring's wake-up protocol (docs/wakeup.md) decides which, and a process that cannot run it cannot
 * open the ring (-ENOSYS), so there is no weaker mode.
 * Until the joiner has settled on X, the producer may see its provisional position more than a lap
 * behind: it treats it as exactly a lap behind (and waits), never as corruption.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sem.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "shmring/bcast.h"

/* a comes after b, in positions that may wrap 2^64. */
static int later(uint64_t a, uint64_t b)
{
    return (int64_t)(a - b) > 0;
}

static struct shmring_bcast_consumer *table_of(struct shmring_header *hdr)
{
    return (struct shmring_bcast_consumer *)(void *)((uint8_t *)hdr + SHMRING_BCAST_TABLE_OFFSET);
}

static struct shmring_bcast_ctl *ctl_of(struct shmring_header *hdr)
{
    return (struct shmring_bcast_ctl *)(void *)((uint8_t *)hdr + SHMRING_BCAST_CTL_OFFSET);
}

static int bcast_init(struct shmring_header *hdr, const struct shmring_config *cfg)
{
    uint64_t start = cfg->start_position, cap = hdr->ident.capacity, stride = shmring__mpmc_stride(cfg->slot_size), i;
    uint8_t *slots = (uint8_t *)hdr + SHMRING_BCAST_DATA_OFFSET;
    struct shmring_bcast_ctl *ctl = ctl_of(hdr);
    /* Every slot "being written" for its position of the first lap: not ready for a reader there,
     * and never mistaken for a record of the lap before. */
    for (i = 0; i < cap; i++) {
        uint64_t pos = start + i;
        struct shmring_bcast_slot_hdr *s =
            (struct shmring_bcast_slot_hdr *)(void *)(slots + (pos & (cap - 1)) * stride);
        shmring__store(&s->seq, pos, relaxed);
    }
    ctl->first = start;
    shmring__store(&ctl->claim_end, start, relaxed);
    shmring__store(&hdr->prod.pos, start, relaxed);
    if (cfg->flags & SHMRING_F_LOSSY)
        hdr->ident.flags |= SHMRING_HDR_LOSSY;
    return 0;
}

int shmring_bcast_create(const char *name, const struct shmring_config *cfg)
{
    struct shmring_config defaults;
    struct shmring_header *hdr;
    size_t size;
    uint64_t cap;
    int shmid, err;
    if (cfg == NULL) {
        shmring_config_init(&defaults);
        cfg = &defaults;
    }
    if ((err = shmring__check_name(name)) != 0)
        return err;
    cap = cfg->capacity ? cfg->capacity : SHMRING_BCAST_SLOTS_DEFAULT;
    if (cap < SHMRING_BCAST_SLOTS_MIN || cap > SHMRING_BCAST_SLOTS_MAX || (cap & (cap - 1)) ||
        cfg->slot_size < SHMRING_BCAST_SLOT_MIN || cfg->slot_size > SHMRING_BCAST_SLOT_MAX ||
        (cfg->flags & ~(uint32_t)(SHMRING_F_HUGEPAGES | SHMRING_F_WAKE_FENCED | SHMRING_F_WAKE_MEMBARRIER |
                                     SHMRING_F_LOSSY)))
        return -EINVAL;
    err = shmring__seg_create(name, SHMRING_KIND_BCAST, cap, cfg->slot_size, SHMRING_BCAST_DATA_OFFSET,
                              cap * shmring__mpmc_stride(cfg->slot_size), cfg, bcast_init, &hdr, &size, &shmid, NULL);
    if (err)
        return err;
    shmring__seg_detach(hdr);
    return 0;
}

/* --- consumer entries ------------------------------------------------------------------------ */

/* Frees entry e if its holder died without closing: one CAS of `active`, then of `owner` (whoever
 * wins the second reports the death, once). Returns 1 if this call freed it. */
static int reap_entry(const struct shmring__map *m, struct shmring_bcast_consumer *e)
{
    uint64_t owner = shmring__load(&e->owner, acquire), act = owner;
    unsigned sem = SHMRING_SEM_LIFE_ENTRIES + (unsigned)(e - table_of(m->hdr));
    if (!shmring__life_dead(m->ident.semid, sem, owner))
        return 0;
    /* It may never have become active (died while joining): then `active` holds something else. */
    shmring__cas(&e->active, &act, 0, acq_rel, relaxed);
    if (!shmring__cas(&e->owner, &owner, 0, acq_rel, relaxed))
        return 0;
    shmring__fetch_add(&m->hdr->stats.peer_deaths, 1, relaxed);
    shmring__event(m, SHMRING_EV_PEER_DIED, SHMRING_CONSUMER, SHMRING_OWNER_PID(owner));
    return 1;
}

int shmring__bcast_reap(const struct shmring__map *m)
{
    struct shmring_bcast_consumer *t = table_of(m->hdr);
    unsigned i;
    int n = 0;
    for (i = 0; i < SHMRING_BCAST_CONSUMERS; i++)
        n += reap_entry(m, &t[i]);
    return n;
}

static unsigned entry_sem(const struct shmring_bcast *b, const struct shmring_bcast_consumer *e)
{
    return SHMRING_SEM_LIFE_ENTRIES + (unsigned)(e - b->table);
}

/* Takes a free entry for owner word `mine` and makes sure the producer's scan reaches it. The
 * entry's life semaphore is held before the owner word is set (lib/life.c). */
static struct shmring_bcast_consumer *take_entry(struct shmring_bcast *b, uint64_t mine)
{
    unsigned i;
    for (i = 0; i < SHMRING_BCAST_CONSUMERS; i++) {
        struct shmring_bcast_consumer *e = &b->table[i];
        uint64_t cur = 0;
        uint32_t hi;
        if (shmring__load(&e->owner, relaxed) != 0 || shmring__life_hold(b->att->semid, entry_sem(b, e)) != 0)
            continue;
        if (!shmring__cas(&e->owner, &cur, mine, acq_rel, relaxed)) {
            shmring__life_drop(b->att->semid, entry_sem(b, e));
            continue;
        }
        shmring__store(&e->active, 0, relaxed);
        hi = shmring__load(&b->ctl->hi, relaxed);
        while (hi < i + 1 && !shmring__cas(&b->ctl->hi, &hi, i + 1, acq_rel, relaxed))
            ;
        return e;
    }
    return NULL;
}

/* Publishes this consumer's entry, starting at `desired` (or, when have_desired is 0, at the
 * newest record or, with `oldest`, the oldest still present), moved forward past what the
 * producer may be overwriting. Sets head and next. 0 or -EUCLEAN. */
static int join(struct shmring_bcast *b, int have_desired, uint64_t desired, int oldest)
{
    uint64_t mine = shmring__load(&b->self->owner, relaxed);
    /* claim_end first, then prod.pos: the claim_end store is a release, so the prod.pos we then
     * read is at least the one that claim started from (end - capacity or later); read the other
     * way round, a slow reader could pair an old prod.pos with a claim_end laps newer. */
    uint64_t end = shmring__load(&b->ctl->claim_end, acquire);
    uint64_t pos = shmring__load(&b->hdr->prod.pos, acquire);
    uint64_t first = b->ctl->first, x;
    if (later(end, pos) && end - pos > b->capacity)
        return shmring__mark_corrupt(b->hdr, &b->broken);
    if (have_desired)
        x = desired;
    else if (oldest)
        x = pos - first < b->capacity ? first : pos - b->capacity;
    else
        x = pos != first ? pos - 1 : pos; /* the newest published record, if there is one */
    if (later(end - b->capacity, x))
        x = end - b->capacity;
    if (later(x, pos))
        x = pos;
    shmring__store(&b->self->pos, x, relaxed);
    shmring__store(&b->self->lost, 0, relaxed);
    shmring__store(&b->self->released, 0, relaxed);
    /* The entry counts from here on: pairs with the acquire load of `active` in rescan(). */
    shmring__store(&b->self->active, mine, release);
    if (!b->lossy) {
        /* The handshake of the top of this file. The increment releases our entry to a producer
         * that sees it (acquire load of `joins` in claim); the barrier pairs with the producer's
         * barrier between its claim_end store and that load. */
        int err;
        shmring__fetch_add(&b->ctl->joins, 1, seq_cst);
        /* Without the barrier the handshake does not hold: fail the join (the caller frees the
         * entry, as a close would) rather than risk reading records being overwritten. */
        if ((err = shmring__waiter_fence(b->att->waiter_mode)) != 0)
            return err;
        end = shmring__load(&b->ctl->claim_end, acquire);
        if (later(end - b->capacity, x)) {
            x = end - b->capacity;
            /* Forward only: never less than what the producer may have seen. */
            shmring__store(&b->self->pos, x, release);
        }
        /* The producer may be waiting on our provisional position. */
        shmring__bcast_after_publish(b, &b->hdr->wait.producer_sleeping, SHMRING_SEM_PRODUCER_WAKE);
    }
    b->head = b->next = x;
    return 0;
}

/* A forked child holds a copy of the parent's handle: a consumer copy becomes a consumer of its own,
 * with its own entry, continuing where the parent had released (records the producer overwrote in
 * the meantime are counted as lost). If the table is full, the copy is marked broken (-EUSERS). */
static void bcast_fork_child(struct shmring__attach *a)
{
    struct shmring_bcast *b = (struct shmring_bcast *)a->handle;
    uint64_t from = b->head;
    if (b->role != SHMRING_CONSUMER)
        return;
    b->self = take_entry(b, shmring__self_owner(SHMRING_CONSUMER));
    if (b->self == NULL) {
        b->broken = -EUSERS;
        return;
    }
    if ((b->broken = join(b, 1, from, 0)) != 0) {
        shmring__store(&b->self->active, 0, release);
        shmring__store(&b->self->owner, 0, release);
        shmring__life_drop(a->semid, entry_sem(b, b->self));
        b->self = NULL;
        return;
    }
    if (later(b->head, from))
        b->lost += b->head - from;
}

/* --- open, close ----------------------------------------------------------------------------- */

/* The producer continues after the last published record: prod.pos, or further if the producer
 * before it died between publishing slots and storing prod.pos (walks its claim, each slot checked). */
static int producer_attach(struct shmring_bcast *b)
{
    struct shmring_header *hdr = b->hdr;
    uint64_t pos = shmring__load(&hdr->prod.pos, acquire);
    uint64_t end = shmring__load(&b->ctl->claim_end, acquire);
    if (end - pos > b->capacity)
        return -EUCLEAN;
    while (pos != end && shmring__load(&shmring__bcast_at(b, pos)->seq, acquire) == pos + 1)
        pos++;
    b->pos = pos;
    b->published = shmring__load(&hdr->prod.count, relaxed);
    b->gate = pos; /* the first claim reads the table */
    shmring__store(&b->ctl->claim_end, pos, relaxed);
    shmring__store(&hdr->prod.pos, pos, release);
    shmring__store(&hdr->wait.producer_closed, 0, relaxed);
    shmring__store(&hdr->prod.owner, shmring__self_owner(SHMRING_PRODUCER), relaxed);
    shmring__fetch_add(&hdr->stats.producer_attaches, 1, relaxed);
    return 0;
}

int shmring_bcast_open(const char *name, enum shmring_role role, uint32_t flags, struct shmring_bcast **out)
{
    struct shmring__map *m;
    struct shmring_bcast *b = NULL;
    struct shmring__attach *a = NULL;
    int err, present = 0;
    if (out == NULL)
        return -EINVAL;
    *out = NULL;
    if ((role != SHMRING_PRODUCER && role != SHMRING_CONSUMER) || (flags & ~SHMRING_BCAST_OLDEST) ||
        (role == SHMRING_PRODUCER && flags != 0))
        return -EINVAL;
    /* Shares the process's mapping of the ring with its other handles (lib/registry.c). */
    if ((err = shmring__map_open(name, SHMRING_KIND_BCAST, &m)) != 0)
        return err;
    b = (struct shmring_bcast *)calloc(1, sizeof(*b));
    a = (struct shmring__attach *)calloc(1, sizeof(*a));
    if (b == NULL || a == NULL) {
        err = -ENOMEM;
        goto fail;
    }
    a->map = m;
    a->semid = m->ident.semid;
    a->role = (int)role;
    a->waiter_mode = shmring__waiter_mode(&m->ident);
    a->pid = getpid();
    a->handle = b;
    a->fork_child = bcast_fork_child;

    /* Geometry: copied once from the validated identity, never re-read. */
    b->hdr = m->hdr;
    b->slots = (uint8_t *)m->hdr + SHMRING_BCAST_DATA_OFFSET;
    b->ctl = ctl_of(m->hdr);
    b->table = table_of(m->hdr);
    b->capacity = m->ident.capacity;
    b->mask = b->capacity - 1;
    b->slot_size = m->ident.slot_size;
    b->stride = (uint32_t)shmring__mpmc_stride(b->slot_size);
    b->lossy = (m->ident.flags & SHMRING_HDR_LOSSY) != 0;
    b->fast_fence = a->waiter_mode != SHMRING__WAIT_MEMBARRIER;
    b->role = (int)role;
    b->spin = SHMRING_DEFAULT_SPIN;
    b->att = a;

    /* Handles that died without closing are reported (once) and their entries freed. */
    shmring__reap_dead(m);
    /* Presence first (closing undoes it last): a registered entry always has a counted process. */
    if ((err = shmring__presence_attach(a->semid, (int)role, role == SHMRING_PRODUCER)) != 0)
        goto fail;
    present = 1;
    if (role == SHMRING_PRODUCER) {
        if ((err = producer_attach(b)) != 0)
            goto fail;
    } else {
        b->self = take_entry(b, shmring__self_owner(SHMRING_CONSUMER));
        if (b->self == NULL) {
            err = -EUSERS;
            goto fail;
        }
        if ((err = join(b, 0, 0, (flags & SHMRING_BCAST_OLDEST) != 0)) != 0) {
            shmring__store(&b->self->active, 0, release);
            shmring__store(&b->self->owner, 0, release);
            shmring__life_drop(a->semid, entry_sem(b, b->self));
            goto fail;
        }
        shmring__fetch_add(&m->hdr->stats.consumer_attaches, 1, relaxed);
    }
    shmring__registry_add(a);
    shmring__event(m, SHMRING_EV_ATTACH, (int)role, a->pid);
    *out = b;
    return 0;
fail:
    if (present)
        shmring__presence_detach(a->semid, (int)role);
    free(b);
    free(a);
    shmring__map_put(m);
    return err;
}

int shmring_bcast_close(struct shmring_bcast *b)
{
    struct shmring__attach *a;
    if (b == NULL)
        return 0;
    a = b->att;
    shmring__registry_remove(a);
    /* Only the process that registered presence may take it back (a forked child holds its own). */
    if (a->pid == getpid()) {
        struct shmring_header *hdr = b->hdr;
        uint64_t mine = shmring__self_owner(b->role);
        if (b->role == SHMRING_CONSUMER && b->self != NULL) {
            uint64_t owner = mine;
            /* Out of the producer's count first, then the entry is free for the next consumer. */
            shmring__store(&b->self->active, 0, release);
            shmring__cas(&b->self->owner, &owner, 0, release, relaxed);
            shmring__life_drop(a->semid, entry_sem(b, b->self)); /* our own hold, whoever has the word */
        } else if (b->role == SHMRING_PRODUCER) {
            shmring__cas(&hdr->prod.owner, &mine, 0, relaxed, relaxed);
        }
        shmring__presence_detach(a->semid, a->role); /* also rings the other side's doorbell */
        shmring__event(a->map, SHMRING_EV_DETACH, a->role, a->pid);
        /* End of stream once the last producer handle is gone. Pairs with the acquire load in
         * shmring_bcast_peek(); if a new producer attached meanwhile, take the mark back. */
        if (b->role == SHMRING_PRODUCER && shmring__sem_getval(a->semid, SHMRING_SEM_PRODUCERS) == 0) {
            shmring__store(&hdr->wait.producer_closed, 1, release);
            if (shmring__sem_getval(a->semid, SHMRING_SEM_PRODUCERS) > 0)
                shmring__store(&hdr->wait.producer_closed, 0, release);
            shmring__sem_post_capped(a->semid, SHMRING_SEM_CONSUMER_WAKE);
            shmring__event(a->map, SHMRING_EV_EOS, a->role, a->pid);
        }
    }
    shmring__map_put(a->map);
    free(a);
    free(b);
    return 0;
}

void shmring_bcast_set_spin(struct shmring_bcast *b, uint32_t spins)
{
    b->spin = spins;
}

int shmring_bcast_peer_count(const struct shmring_bcast *b)
{
    return shmring__peer_count(b->att);
}

int shmring_bcast_consumers(const struct shmring_bcast *b)
{
    unsigned i;
    int n = 0;
    for (i = 0; i < SHMRING_BCAST_CONSUMERS; i++) {
        uint64_t act = shmring__load(&b->table[i].active, acquire);
        if (act != 0 && shmring__load(&b->table[i].owner, relaxed) == act)
            n++;
    }
    return n;
}

/* --- the producer's look at the table -------------------------------------------------------- */

static int corrupt(struct shmring_bcast *b)
{
    return shmring__mark_corrupt(b->hdr, &b->broken);
}

/* Recomputes the gate from the table: the slowest registered consumer's position + capacity
 * (pos + capacity with nobody registered). The positions are untrusted: a consumer ahead of the
 * producer is corruption; one more than a lap behind is a joiner still settling (see the top) and
 * holds the lap it is in. 0 or -EUCLEAN. */
static int rescan(struct shmring_bcast *b)
{
    uint32_t hi = shmring__load(&b->ctl->hi, acquire), i;
    uint64_t gate = b->pos + b->capacity;
    if (hi > SHMRING_BCAST_CONSUMERS)
        hi = SHMRING_BCAST_CONSUMERS;
    for (i = 0; i < hi; i++) {
        struct shmring_bcast_consumer *e = &b->table[i];
        /* Pairs with the release store of `active` in join(): its position is valid. */
        uint64_t act = shmring__load(&e->active, acquire), c;
        if (act == 0)
            continue;
        /* Pairs with the release store in shmring_bcast_release(): the consumer is done reading
         * every position before c, so we may overwrite them. */
        c = shmring__load(&e->pos, acquire);
        if (shmring__load(&e->owner, relaxed) != act)
            continue; /* leaving, or freed as dead and taken again */
        if (later(c, b->pos))
            return corrupt(b);
        if (b->pos - c > b->capacity)
            c = b->pos - b->capacity;
        if (later(gate, c + b->capacity))
            gate = c + b->capacity;
    }
    b->gate = gate;
    return 0;
}

/* The ring is full: free the entries of dead consumers that hold it (those a whole lap behind).
 * A few system calls per blocking consumer. Returns how many it freed. */
static int free_dead_blockers(struct shmring_bcast *b)
{
    uint32_t hi = shmring__load(&b->ctl->hi, acquire), i;
    int n = 0;
    if (hi > SHMRING_BCAST_CONSUMERS)
        hi = SHMRING_BCAST_CONSUMERS;
    for (i = 0; i < hi; i++) {
        struct shmring_bcast_consumer *e = &b->table[i];
        uint64_t act = shmring__load(&e->active, acquire), c;
        if (act == 0)
            continue;
        c = shmring__load(&e->pos, acquire);
        if (b->pos - c < b->capacity && !later(c, b->pos))
            continue; /* not holding us back */
        n += reap_entry(b->att->map, e);
    }
    return n;
}

static int check_usable(struct shmring_bcast *b)
{
    return shmring__usable(b->hdr, &b->broken);
}

int shmring__bcast_claim_slow(struct shmring_bcast *b, unsigned want, struct shmring_bcast_span *c)
{
    int err;
    if ((err = check_usable(b)) != 0)
        return err;
    if (b->role != SHMRING_PRODUCER)
        return -EINVAL;
    if (b->held)
        return -EBUSY;
    if (b->lossy) /* the inline claim never comes here for a lossy ring */
        return shmring_bcast_claim(b, want, c);
    for (;;) {
        /* Pairs with the joiners' release increment: their entries are visible to rescan(). */
        uint64_t joins = shmring__load(&b->ctl->joins, acquire), n;
        if ((err = rescan(b)) != 0)
            return err;
        b->joins = joins;
        n = b->gate - b->pos;
        if (n > want)
            n = want;
        if (n == 0) {
            /* Full. A consumer that died holds it until someone notices: look (a few system calls)
             * once the ring has stayed full for SHMRING_BCAST_LIVENESS_NS, and then as often, so that
             * a producer spinning here makes no system call in a short wait. Clocks are the vDSO's. */
            int64_t now = shmring__now_ns();
            if (b->live_check == 0) {
                b->live_check = now + SHMRING_BCAST_LIVENESS_NS;
            } else if (now >= b->live_check) {
                b->live_check = now + SHMRING_BCAST_LIVENESS_NS;
                if (free_dead_blockers(b) > 0)
                    continue;
            }
            return -EAGAIN;
        }
        /* The handshake with joiners (top of the file), with a full fence: this is the slow path. */
        shmring__store(&b->ctl->claim_end, b->pos + n, release);
        shmring__thread_fence(seq_cst);
        if (shmring__load(&b->ctl->joins, acquire) != joins)
            continue;
        b->live_check = 0;
        c->pos = b->pos;
        c->n = (uint32_t)n;
        b->held = (uint32_t)n;
        return (int)n;
    }
}

/* --- the consumer's slow paths --------------------------------------------------------------- */

int shmring__bcast_lapped(struct shmring_bcast *b, uint64_t floor)
{
    /* The oldest record the producer is not overwriting: claim_end - capacity (a garbage value
     * sends us somewhere whose slots then show it: corrupt). At least past the record we know is
     * gone. */
    uint64_t end = shmring__load(&b->ctl->claim_end, acquire), to = end - b->capacity;
    uint64_t pos = shmring__load(&b->hdr->prod.pos, acquire); /* after end: see join() */
    /* Both untrusted: the claim is at most a ring past the published end, and we were lapped, so
     * the producer is past what we hold. Else the count of lost records would be garbage. */
    if ((later(end, pos) && end - pos > b->capacity) || !later(end, b->head))
        return corrupt(b);
    if (later(floor, to))
        to = floor;
    b->lost += to - b->head;
    b->head = b->next = to;
    shmring__store(&b->self->pos, to, release);
    shmring__store(&b->self->lost, b->lost, relaxed);
    if (!b->lossy)
        shmring__bcast_after_publish(b, &b->hdr->wait.producer_sleeping, SHMRING_SEM_PRODUCER_WAKE);
    return -ENOBUFS;
}

int shmring__bcast_peek_slow(struct shmring_bcast *b, const void **buf, size_t *len)
{
    const struct shmring_bcast_slot_hdr *s;
    uint64_t seq, residue;
    int64_t d;
    int closed = 0;
    if (b->broken)
        return b->broken;
    if (b->role != SHMRING_CONSUMER)
        return -EINVAL;
    s = shmring__bcast_at(b, b->next);
    for (;;) {
        seq = shmring__load(&s->seq, acquire);
        d = (int64_t)(seq - (b->next + 1));
        if (d == 0) {
            uint32_t l = shmring__load(&s->len, relaxed);
            if (l > b->slot_size) {
                /* LOSSY: the producer may be rewriting the slot under us. */
                if (b->lossy) {
                    shmring__thread_fence(acquire);
                    if (shmring__load(&s->seq, relaxed) != seq)
                        return shmring__bcast_lapped(b, b->next + 1);
                }
                return corrupt(b);
            }
            *buf = (const uint8_t *)s + SHMRING_MPMC_SLOT_HDR;
            *len = l;
            b->next++;
            return 0;
        }
        if (d == -1 || d == -(int64_t)b->capacity) {
            if (closed)
                return -EPIPE;
            /* Pairs with the release store in close(): every record published before it is
             * visible, so if this slot is still not ready, the stream has ended. */
            if (!shmring__load(&b->hdr->wait.producer_closed, acquire))
                return -EAGAIN;
            closed = 1;
            continue;
        }
        break;
    }
    /* Lapped: a later lap's record or mark (k * capacity or k * capacity - 1 ahead). */
    residue = (uint64_t)d & b->mask;
    if (d > 0 && (residue == 0 || residue == b->mask))
        return shmring__bcast_lapped(b, b->next + 1);
    return corrupt(b);
}

/* --- waiting and waking ---------------------------------------------------------------------- */

void shmring__bcast_wake(struct shmring_bcast *b, int sem)
{
    shmring__wake(b->hdr, b->att->semid, sem);
}

/* Consumer: 0 when the next slot is not "not yet" (a record, a lap, or garbage: peek tells), or the
 * producer closed. */
static int consumer_ready(void *ctx, int thorough)
{
    struct shmring_bcast *b = (struct shmring_bcast *)ctx;
    int64_t d = (int64_t)(shmring__load(&shmring__bcast_at(b, b->next)->seq, acquire) - (b->next + 1));
    (void)thorough;
    if (d != -1 && d != -(int64_t)b->capacity)
        return 0;
    return shmring__load(&b->hdr->wait.producer_closed, acquire) ? 0 : 1;
}

/* BLOCK producer: 0 when at least one slot is free. Once announced (thorough), also free the
 * entries of dead consumers that hold the ring. */
static int producer_ready(void *ctx, int thorough)
{
    struct shmring_bcast *b = (struct shmring_bcast *)ctx;
    if (rescan(b) != 0)
        return -EUCLEAN;
    if (b->gate != b->pos)
        return 0;
    if (thorough && free_dead_blockers(b) > 0) {
        if (rescan(b) != 0)
            return -EUCLEAN;
        return b->gate != b->pos ? 0 : 1;
    }
    return 1;
}

int shmring__bcast_wait(struct shmring_bcast *b, int64_t timeout_ns, int64_t *deadline)
{
    struct shmring__wait_spec spec;
    int err = check_usable(b);
    if (err)
        return err;
    if (b->role == SHMRING_PRODUCER && b->lossy)
        return 0; /* never full */
    spec.a = b->att;
    spec.hdr = b->hdr;
    spec.consumer = b->role == SHMRING_CONSUMER;
    spec.spin = b->spin;
    spec.ready = spec.consumer ? consumer_ready : producer_ready;
    spec.ctx = b;
    err = shmring__wait(&spec, timeout_ns, deadline);
    if (err == -EPIPE && !spec.consumer) {
        /* No consumer present, yet the table still holds one back: a consumer killed a moment
         * ago has dropped its presence (SEM_UNDO, early in exit) but does not yet look dead to
         * the owner-word check. A broadcast producer without consumers never waits for good, so
         * this is not end of stream: pause briefly and let the caller claim again (the deadline,
         * and timeout 0, are checked by the next wait). */
        struct timespec ts = {0, 1000 * 1000};
        nanosleep(&ts, NULL);
        return 0;
    }
    return err;
}
