/* shmring — the out-of-line half of the MPMC ring: attach, close, waiting and waking, and the
 * recovery of slots held by processes that died. The fast path is inline in
 * include/shmring/mpmc.h; layout.h describes the slot states. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <unistd.h>

#include "internal.h"
#include "shmring/mpmc.h"

static struct shmring_participant *participants(struct shmring_header *hdr)
{
    return (struct shmring_participant *)(void *)((uint8_t *)hdr + SHMRING_HEADER_SIZE);
}

static int mpmc_init(struct shmring_header *hdr, const struct shmring_config *cfg)
{
    /* The capacity the creator settled on (cfg->capacity may be 0: the default). */
    uint64_t start = cfg->start_position, i, stride = shmring__mpmc_stride(cfg->slot_size), cap = hdr->ident.capacity;
    uint8_t *slots = (uint8_t *)hdr + SHMRING_MPMC_DATA_OFFSET;
    for (i = 0; i < cap; i++) {
        uint64_t pos = start + i;
        struct shmring_mpmc_slot_hdr *s = (struct shmring_mpmc_slot_hdr *)(void *)(slots + (pos & (cap - 1)) * stride);
        shmring__store(&s->seq, pos, relaxed);
    }
    shmring__store(&hdr->prod.pos, start, relaxed);
    shmring__store(&hdr->cons.pos, start, relaxed);
    return 0;
}

int shmring_mpmc_create(const char *name, const struct shmring_config *cfg)
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
    cap = cfg->capacity ? cfg->capacity : SHMRING_MPMC_SLOTS_DEFAULT;
    if (cap < SHMRING_MPMC_SLOTS_MIN || cap > SHMRING_MPMC_SLOTS_MAX || (cap & (cap - 1)) ||
        cfg->slot_size < SHMRING_MPMC_SLOT_MIN || cfg->slot_size > SHMRING_MPMC_SLOT_MAX)
        return -EINVAL;
    err = shmring__seg_create(name, SHMRING_KIND_MPMC, cap, cfg->slot_size, SHMRING_MPMC_DATA_OFFSET,
                              cap * shmring__mpmc_stride(cfg->slot_size), cfg, mpmc_init, &hdr, &size,
                              &shmid, NULL);
    if (err)
        return err;
    shmring__seg_detach(hdr);
    return 0;
}


static unsigned entry_sem(const struct shmring_mpmc *q, const struct shmring_participant *e)
{
    return SHMRING_SEM_LIFE_ENTRIES + (unsigned)(e - participants(q->hdr));
}

/* Takes a free entry, or one whose holder is gone (lib/life.c: hold its life semaphore first, then
 * CAS the owner word). Returns NULL if every entry is held (*err = -EUSERS) or on a semaphore error. */
static struct shmring_participant *take_entry(struct shmring_header *hdr, int semid, int role, int *err)
{
    struct shmring_participant *t = participants(hdr);
    uint64_t mine = shmring__self_owner(role);
    unsigned short life[SHMRING_NSEMS];
    unsigned i;
    if ((*err = shmring__life_read(semid, life)) != 0)
        return NULL;
    *err = -EUSERS;
    for (i = 0; i < SHMRING_MPMC_PARTICIPANTS; i++) {
        unsigned sem = SHMRING_SEM_LIFE_ENTRIES + i;
        uint64_t cur;
        int rc;
        if (life[sem] != 0)
            continue; /* held (or being taken) by a live process */
        /* The word first, its semaphore second (the judge's order): free, or its holder is gone. */
        cur = shmring__load(&t[i].owner, acquire);
        if (cur != 0 && !shmring__life_dead(semid, sem, cur))
            continue;
        if ((rc = shmring__life_hold(semid, sem)) != 0) {
            *err = rc;
            return NULL;
        }
        /* Ours if nobody changed the word since we loaded it (a newer taker's CAS makes ours fail). */
        if (shmring__cas(&t[i].owner, &cur, mine, acq_rel, relaxed)) {
            shmring__store(&t[i].intent_n, 0, relaxed);
            t[i].role = (uint32_t)role;
            *err = 0;
            return &t[i];
        }
        shmring__life_drop(semid, sem);
    }
    return NULL;
}

/* A forked child holds a copy of the parent's handle: give it a participant entry of its own, so
 * that the two processes' claims are told apart (and the parent's entry stays the parent's). If
 * the table is full, the child's copy is marked broken (-EUSERS) rather than share. */
static void mpmc_fork_child(struct shmring__attach *a)
{
    struct shmring_mpmc *q = (struct shmring_mpmc *)a->handle;
    int err;
    struct shmring_participant *e = take_entry(q->hdr, a->semid, q->role, &err);
    q->held = 0; /* the parent's claim stays the parent's */
    if (e == NULL) {
        q->broken = err; /* every call fails; close leaves the parent's entry alone */
        q->self = NULL;
        return;
    }
    q->self = e;
}

int shmring_mpmc_open(const char *name, enum shmring_role role, struct shmring_mpmc **out)
{
    struct shmring_header *hdr;
    struct shmring__map *m;
    struct shmring_mpmc *q = NULL;
    struct shmring__attach *a = NULL;
    int err;
    if (out == NULL)
        return -EINVAL;
    *out = NULL;
    if (role != SHMRING_PRODUCER && role != SHMRING_CONSUMER)
        return -EINVAL;
    /* Shares the process's mapping of the ring with its other handles (lib/registry.c). */
    err = shmring__map_open(name, SHMRING_KIND_MPMC, &m);
    if (err)
        return err;
    hdr = m->hdr;
    /* Handles that died without closing are reported (once) and their entries freed. */
    shmring__reap_dead(m);
    q = (struct shmring_mpmc *)calloc(1, sizeof(*q));
    a = (struct shmring__attach *)calloc(1, sizeof(*a));
    if (q == NULL || a == NULL) {
        err = -ENOMEM;
        goto fail;
    }
    a->map = m;
    a->semid = m->ident.semid;
    a->role = (int)role;
    if ((a->waiter_mode = shmring__waiter_mode(&m->ident)) < 0) {
        err = a->waiter_mode;
        goto fail;
    }
    a->pid = getpid();
    a->handle = q;
    a->fork_child = mpmc_fork_child;

    /* Geometry: copied once from the validated identity, never re-read. */
    q->hdr = hdr;
    q->slots = (uint8_t *)hdr + SHMRING_MPMC_DATA_OFFSET;
    q->capacity = m->ident.capacity;
    q->mask = q->capacity - 1;
    q->slot_size = m->ident.slot_size;
    q->stride = (uint32_t)shmring__mpmc_stride(q->slot_size);
    q->fast_fence = a->waiter_mode != SHMRING__WAIT_MEMBARRIER;
    q->role = (int)role;
    q->spin = SHMRING_DEFAULT_SPIN;
    q->att = a;
    q->self = take_entry(hdr, a->semid, (int)role, &err);
    if (q->self == NULL)
        goto fail;
    if ((err = shmring__presence_attach(a->semid, (int)role, 0)) != 0) {
        shmring__store(&q->self->owner, 0, release);
        shmring__life_drop(a->semid, entry_sem(q, q->self));
        goto fail;
    }
    if (role == SHMRING_PRODUCER) {
        shmring__fetch_add(&hdr->stats.producer_attaches, 1, relaxed);
    } else {
        shmring__fetch_add(&hdr->stats.consumer_attaches, 1, relaxed);
        shmring__sem_post_capped(a->semid, SHMRING_SEM_PRODUCER_WAKE);
    }
    shmring__registry_add(a);
    shmring__event(m, SHMRING_EV_ATTACH, (int)role, a->pid);
    *out = q;
    return 0;
fail:
    free(q);
    free(a);
    shmring__map_put(m);
    return err;
}

/* Frees slot pos held (claimed, taken) by a handle that is gone: a producer's unpublished slot
 * becomes "skipped", a consumer's unreleased slot becomes free for the next lap. Only a CAS on the
 * sequence word: if the slot moved on meanwhile, nothing happens. Returns 1 if it freed it. */
static int free_abandoned(struct shmring_mpmc *q, uint64_t pos, int producer_side)
{
    struct shmring_mpmc_slot_hdr *s = shmring__mpmc_at(q, pos);
    uint64_t seq = shmring__load(&s->seq, acquire);
    if (producer_side) {
        if (seq != pos)
            return 0;
        /* Pairs with the acquire load in shmring__mpmc_claim(): consumers see "skipped". */
        if (!shmring__cas(&s->seq, &seq, pos + 2, acq_rel, relaxed))
            return 0;
        SHMRING__TEST_POINT(SHMRING__TP_MPMC_ABANDONED);
        shmring__fetch_add(&q->hdr->stats.producer_skips, 1, relaxed);
        return 1;
    }
    if (seq != pos + 1 && seq != pos + 2)
        return 0;
    /* Pairs with the acquire load in a producer's claim: the slot is free for the next lap. */
    if (!shmring__cas(&s->seq, &seq, pos + q->capacity, acq_rel, relaxed))
        return 0;
    SHMRING__TEST_POINT(SHMRING__TP_MPMC_ABANDONED);
    shmring__fetch_add(&q->hdr->stats.consumer_skips, 1, relaxed);
    return 1;
}

int shmring_mpmc_close(struct shmring_mpmc *q)
{
    struct shmring__attach *a;
    if (q == NULL)
        return 0;
    a = q->att;
    shmring__registry_remove(a);
    if (q->held) {
        uint32_t i;
        for (i = 0; i < q->held; i++)
            free_abandoned(q, q->held_pos + i, q->role == SHMRING_PRODUCER);
        shmring__mpmc_after_publish(q,
                                    q->role == SHMRING_PRODUCER ? &q->hdr->wait.consumer_sleeping
                                                                : &q->hdr->wait.producer_sleeping,
                                    q->role == SHMRING_PRODUCER ? SHMRING_SEM_CONSUMER_WAKE : SHMRING_SEM_PRODUCER_WAKE);
    }
    if (a->pid == getpid()) {
        if (q->self != NULL) {
            shmring__store(&q->self->owner, 0, release);
            shmring__life_drop(a->semid, entry_sem(q, q->self));
        }
        shmring__presence_detach(a->semid, a->role);
        shmring__event(a->map, SHMRING_EV_DETACH, a->role, a->pid);
    }
    shmring__map_put(a->map);
    free(a);
    free(q);
    return 0;
}

void shmring_mpmc_set_spin(struct shmring_mpmc *q, uint32_t spins)
{
    q->spin = spins;
}

int shmring_mpmc_peer_count(const struct shmring_mpmc *q)
{
    return shmring__peer_count(q->att);
}

/* Slow paths refuse a broken ring: found broken by us, or marked corrupt by another process. */
static int check_usable(struct shmring_mpmc *q)
{
    return shmring__usable(q->hdr, &q->broken);
}

int shmring__mpmc_corrupt(struct shmring_mpmc *q)
{
    return shmring__mark_corrupt(q->hdr, &q->broken);
}

int shmring__mpmc_take_skipped(struct shmring_mpmc *q, uint64_t pos)
{
    uint64_t expect = pos;
    /* Like a take of one slot: our intent covers it while we hold it. */
    shmring__store(&q->self->intent_n, 1, relaxed);
    shmring__store(&q->self->intent_pos, pos, relaxed);
    if (!shmring__cas(&q->hdr->cons.pos, &expect, pos + 1, acq_rel, relaxed)) {
        shmring__store(&q->self->intent_n, 0, relaxed);
        return 0;
    }
    SHMRING__TEST_POINT(SHMRING__TP_MPMC_SKIP_TAKEN);
    /* A CAS, as every change of a sequence word not made by its holder (a survivor that found our
     * take abandoned may have freed it already: the same value). */
    expect = pos + 2;
    shmring__cas(&shmring__mpmc_at(q, pos)->seq, &expect, pos + q->capacity, release, relaxed);
    SHMRING__TEST_POINT(SHMRING__TP_MPMC_SKIP_FREED);
    shmring__mpmc_after_publish(q, &q->hdr->wait.producer_sleeping, SHMRING_SEM_PRODUCER_WAKE);
    return 1;
}

void shmring__mpmc_wake(struct shmring_mpmc *q, int sem)
{
    shmring__wake(q->hdr, q->att->semid, sem);
}

/* Is a live handle of `role` (other than us) holding position pos? A handle's intent covers pos
 * only if it claimed pos: it clears its intent when it loses the claim's CAS, and positions are
 * claimed once per side. */
static int held_by_live(struct shmring_mpmc *q, uint64_t pos, int role)
{
    struct shmring_participant *t = participants(q->hdr);
    uint64_t role_bit = role == SHMRING_CONSUMER ? SHMRING_OWNER_CONSUMER : 0;
    unsigned i;
    for (i = 0; i < SHMRING_MPMC_PARTICIPANTS; i++) {
        uint64_t owner = shmring__load(&t[i].owner, acquire);
        uint64_t ip;
        uint32_t in;
        if (owner == 0 || &t[i] == q->self || (owner & SHMRING_OWNER_CONSUMER) != role_bit)
            continue;
        ip = shmring__load(&t[i].intent_pos, acquire);
        in = shmring__load(&t[i].intent_n, acquire);
        if (pos - ip < in && !shmring__life_dead(q->att->semid, SHMRING_SEM_LIFE_ENTRIES + i, owner))
            return 1;
    }
    return 0;
}

/* The slot at our side's position is not ready. If that is because a handle of the other side
 * holds it (a producer claimed it and did not publish, for a consumer; a consumer took last lap's
 * record and did not release it, for a producer) and that handle's process is dead, free the slot.
 * Returns 1 if it freed one, 0 if not, -EUCLEAN if the positions break the ring's invariants. */
static int recover(struct shmring_mpmc *q)
{
    int consumer = q->role == SHMRING_CONSUMER;
    uint64_t pos, held_pos, other;
    if (consumer) {
        /* We wait at cons.pos for a record. Stuck if a producer claimed it and did not publish. */
        pos = shmring__load(&q->hdr->cons.pos, acquire);
        held_pos = pos;
        /* Pairs with the release of the producers' claim CAS: their intents are visible. */
        other = shmring__load(&q->hdr->prod.pos, acquire);
        if ((int64_t)(other - pos) <= 0)
            return 0; /* really empty */
        /* Producers claim a position only once its slot was freed a lap before: they are never
         * more than a lap ahead. Else prod.pos is garbage, and "recovering" slot after slot up to
         * it would never end (found by the fuzzer, test/fuzz). */
        if (other - pos > q->capacity)
            return shmring__mpmc_corrupt(q);
        if (shmring__load(&shmring__mpmc_at(q, pos)->seq, acquire) != pos)
            return 0;
    } else {
        /* We wait at prod.pos for a free slot. Stuck if a consumer took last lap's record there and
         * did not release it. */
        pos = shmring__load(&q->hdr->prod.pos, acquire);
        held_pos = pos - q->capacity;
        other = shmring__load(&q->hdr->cons.pos, acquire);
        if ((int64_t)(other - held_pos) <= 0)
            return 0; /* really full: nobody took it yet */
        /* Consumers take only published (or skipped) positions: never ahead of the producers. */
        if (other - held_pos > q->capacity)
            return shmring__mpmc_corrupt(q);
        {
            uint64_t seq = shmring__load(&shmring__mpmc_at(q, pos)->seq, acquire);
            if (seq != held_pos + 1 && seq != held_pos + 2)
                return 0;
        }
    }
    /* A consumer waits on a slot a producer holds, and the other way round. */
    if (held_by_live(q, held_pos, consumer ? SHMRING_PRODUCER : SHMRING_CONSUMER))
        return 0;
    if (!free_abandoned(q, held_pos, consumer))
        return 0;
    /* The holder died: say so (once per dead handle) and free its entry. */
    shmring__reap_dead(q->att->map);
    /* Whoever waits on the slot we freed may sleep. */
    if (consumer)
        shmring__mpmc_wake(q, SHMRING_SEM_CONSUMER_WAKE);
    else
        shmring__mpmc_wake(q, SHMRING_SEM_PRODUCER_WAKE);
    return 1;
}

/* 0 when the slot at our side's position is ready (or was skipped), 1 when not. Once the waiter
 * has announced itself (thorough), also free a slot held by a dead process. */
static int ready(void *ctx, int thorough)
{
    struct shmring_mpmc *q = (struct shmring_mpmc *)ctx;
    int not_ready;
    if (q->role == SHMRING_CONSUMER) {
        uint64_t pos = shmring__load(&q->hdr->cons.pos, relaxed);
        uint64_t seq = shmring__load(&shmring__mpmc_at(q, pos)->seq, acquire);
        not_ready = seq == pos + 1 || seq == pos + 2 || (int64_t)(seq - pos) > 2 ? 0 : 1;
    } else {
        uint64_t pos = shmring__load(&q->hdr->prod.pos, relaxed);
        uint64_t seq = shmring__load(&shmring__mpmc_at(q, pos)->seq, acquire);
        not_ready = (int64_t)(seq - pos) >= 0 ? 0 : 1;
    }
    if (not_ready && thorough) {
        int rc = recover(q);
        if (rc < 0)
            return rc; /* corrupt positions */
        if (rc > 0)
            not_ready = 0;
    }
    return not_ready;
}

int shmring__mpmc_wait(struct shmring_mpmc *q, int64_t timeout_ns, int64_t *deadline)
{
    struct shmring__wait_spec spec;
    int err = check_usable(q);
    if (err)
        return err;
    spec.a = q->att;
    spec.hdr = q->hdr;
    spec.consumer = q->role == SHMRING_CONSUMER;
    spec.spin = q->spin;
    spec.ready = ready;
    spec.ctx = q;
    return shmring__wait(&spec, timeout_ns, deadline);
}
