/* shmring — the out-of-line half of the SPSC ring: attach, close, the slow path of reserve,
 * waiting and waking. The fast path is inline in include/shmring/spsc.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <unistd.h>

#include "internal.h"
#include "shmring/spsc.h"

static int check_capacity(uint64_t capacity)
{
    if (capacity < SHMRING_SPSC_CAPACITY_MIN || capacity > SHMRING_SPSC_CAPACITY_MAX ||
        (capacity & (capacity - 1)) != 0)
        return -EINVAL;
    return 0;
}

/* Positions start where the configuration says (tests start them near a wrap). */
static int spsc_init(struct shmring_header *hdr, const struct shmring_config *cfg)
{
    uint64_t start;
    if (cfg->flags & SHMRING_F_ALIGN64)
        hdr->ident.flags |= SHMRING_HDR_ALIGN64;
    start = cfg->start_position & ~(shmring__spsc_align(hdr->ident.flags) - 1);
    shmring__store(&hdr->prod.pos, start, relaxed);
    shmring__store(&hdr->cons.pos, start, relaxed);
    shmring__store(&hdr->freed.pos, start, relaxed);
    return 0;
}

int shmring_spsc_create(const char *name, const struct shmring_config *cfg)
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
    cap = cfg->capacity ? cfg->capacity : SHMRING_SPSC_CAPACITY_DEFAULT;
    if ((err = check_capacity(cap)) != 0)
        return err;
    err = shmring__seg_create(name, SHMRING_KIND_SPSC, cap, 0, SHMRING_HEADER_SIZE, cap, cfg,
                              spsc_init, &hdr, &size, &shmid, NULL);
    if (err)
        return err;
    shmring__seg_detach(hdr);
    return 0;
}

/* Recovers where the producer continues: after the last committed record. prod.pos is stored
 * after each commit, so a producer that died between its commit and that store left records
 * beyond it; walk them (each checked) up to the first 0 word, which the invariant guarantees. */
static int recover_tail(struct shmring_spsc *r, uint64_t *tail_out)
{
    /* The consumer's exact position bounds the walk and seeds head_cache: a predecessor may have
     * written up to it (refresh_exact, before sleeping). freed.pos trails it by less than a lap. */
    uint64_t head = shmring__load(&r->hdr->cons.pos, acquire);
    uint64_t freed = shmring__load(&r->hdr->freed.pos, acquire);
    uint64_t tail = shmring__load(&r->hdr->prod.pos, relaxed);
    if ((head | tail | freed) & r->align_mask || head - freed > r->capacity)
        return -EUCLEAN;
    if (tail - head > r->capacity) {
        /* The consumer may have released a record whose prod.pos store is not done yet. */
        if (head - tail > r->capacity)
            return -EUCLEAN;
        tail = head;
    }
    for (;;) {
        uint64_t off = tail & r->mask, w, size;
        if (tail + SHMRING_REC_HDR - head > r->capacity)
            break;
        w = shmring__load(SHMRING__U64_AT(r->data + off), acquire);
        if (w == 0)
            break;
        if (!SHMRING_REC_TAG_OK(w))
            return -EUCLEAN;
        if (SHMRING_REC_TYPE(w) == SHMRING_REC_DATA)
            size = shmring__spsc_size(r, SHMRING_REC_LEN(w));
        else if (SHMRING_REC_TYPE(w) == SHMRING_REC_PAD && off != 0 && SHMRING_REC_LEN(w) == r->capacity - off)
            size = SHMRING_REC_LEN(w);
        else
            return -EUCLEAN;
        if (off + size > r->capacity || tail + size + SHMRING_REC_HDR - head > r->capacity)
            return -EUCLEAN;
        tail += size;
    }
    *tail_out = tail;
    r->head_cache = head;
    r->freed_seen = freed;
    return 0;
}

/* Builds a handle on an attached segment and registers this process's presence. */
static int attach(struct shmring__map *m, int role, struct shmring_spsc **out)
{
    struct shmring_header *hdr = m->hdr;
    struct shmring_spsc *r;
    struct shmring__attach *a;
    int err;

    if (role != SHMRING_PRODUCER && role != SHMRING_CONSUMER)
        return -EINVAL;
    r = (struct shmring_spsc *)calloc(1, sizeof(*r));
    a = (struct shmring__attach *)calloc(1, sizeof(*a));
    if (r == NULL || a == NULL) {
        free(r);
        free(a);
        return -ENOMEM;
    }
    a->map = m;
    a->semid = m->ident.semid;
    a->role = role;
    a->waiter_mode = shmring__waiter_mode(&m->ident);
    a->pid = getpid();
    if (a->waiter_mode < 0) {
        err = a->waiter_mode;
        free(r);
        free(a);
        return err;
    }

    /* Geometry: copied once from the validated identity, never re-read. */
    r->hdr = hdr;
    r->data = (uint8_t *)hdr + SHMRING_HEADER_SIZE;
    r->capacity = m->ident.capacity;
    r->mask = r->capacity - 1;
    r->align_mask = shmring__spsc_align(m->ident.flags) - 1;
    r->max_record = shmring__spsc_max_record_of(r->capacity, m->ident.flags);
    r->fast_fence = a->waiter_mode != SHMRING__WAIT_MEMBARRIER;
    r->role = role;
    r->spin = SHMRING_DEFAULT_SPIN;
    r->att = a;

    /* A predecessor that died holding a side is reported (once) before we take its place. */
    shmring__reap_dead(m);
    /* Take the role first: it excludes a second producer (consumer) from touching the positions. */
    err = shmring__presence_attach(a->semid, role, 1);
    if (err) {
        free(r);
        free(a);
        return err;
    }
    if (role == SHMRING_PRODUCER) {
        err = recover_tail(r, &r->tail);
        if (err) {
            shmring__presence_detach(a->semid, role);
            free(r);
            free(a);
            return err;
        }
        r->committed = shmring__load(&r->hdr->prod.count, relaxed);
        shmring__store(&r->hdr->prod.pos, r->tail, relaxed);
        shmring__store(&hdr->wait.producer_closed, 0, relaxed);
        shmring__fetch_add(&hdr->stats.producer_attaches, 1, relaxed);
    } else {
        uint64_t head = shmring__load(&hdr->cons.pos, relaxed);
        uint64_t tail = shmring__load(&hdr->prod.pos, relaxed);
        /* Within a lap of the producer (either way: prod.pos is stored just after each commit, so
         * a consumer may have released past it for a moment). */
        if ((head & r->align_mask) || (tail - head > r->capacity && head - tail > r->capacity)) {
            shmring__presence_detach(a->semid, role);
            free(r);
            free(a);
            return -EUCLEAN;
        }
        r->head = r->next = r->published = head;
        r->publish_every = r->capacity / 4 < SHMRING_SPSC_PUBLISH_BYTES ? r->capacity / 4 : SHMRING_SPSC_PUBLISH_BYTES;
        r->released = shmring__load(&r->hdr->cons.count, relaxed);
        /* What a predecessor released and had not handed back yet (it died) is free now. */
        shmring__store(&hdr->freed.pos, head, release);
        shmring__fetch_add(&hdr->stats.consumer_attaches, 1, relaxed);
        /* A producer may be waiting on a full ring for its first consumer. */
        shmring__sem_post_capped(a->semid, SHMRING_SEM_PRODUCER_WAKE);
    }
    /* For the tools and for death events: who holds this side now. */
    shmring__store(role == SHMRING_PRODUCER ? &hdr->prod.owner : &hdr->cons.owner, shmring__self_owner(role), relaxed);
    shmring__registry_add(a);
    shmring__event(m, SHMRING_EV_ATTACH, role, a->pid);
    *out = r;
    return 0;
}

int shmring_spsc_open(const char *name, enum shmring_role role, struct shmring_spsc **out)
{
    struct shmring__map *m;
    int err;
    if (out == NULL)
        return -EINVAL;
    *out = NULL;
    if (role != SHMRING_PRODUCER && role != SHMRING_CONSUMER)
        return -EINVAL;
    /* Shares the process's mapping of the ring with its other handles (lib/registry.c). */
    err = shmring__map_open(name, SHMRING_KIND_SPSC, &m);
    if (err)
        return err;
    err = attach(m, (int)role, out);
    if (err)
        shmring__map_put(m);
    return err;
}

int shmring_spsc_pipe(const struct shmring_config *cfg, struct shmring_spsc **producer,
                      struct shmring_spsc **consumer)
{
    struct shmring_config defaults;
    struct shmring_header *hdr;
    struct shmring__map *m;
    struct shmring_ident ident;
    size_t size;
    uint64_t cap;
    int shmid, err;
    if (producer == NULL || consumer == NULL)
        return -EINVAL;
    *producer = *consumer = NULL;
    if (cfg == NULL) {
        shmring_config_init(&defaults);
        cfg = &defaults;
    }
    cap = cfg->capacity ? cfg->capacity : SHMRING_SPSC_CAPACITY_DEFAULT;
    if ((err = check_capacity(cap)) != 0)
        return err;
    err = shmring__seg_create(NULL, SHMRING_KIND_SPSC, cap, 0, SHMRING_HEADER_SIZE, cap, cfg,
                              spsc_init, &hdr, &size, &shmid, &ident);
    if (err)
        return err;
    /* One mapping, one reference per handle: the last close detaches it. */
    m = shmring__map_anon(hdr, size, shmid, &ident);
    if (m == NULL) {
        shmring__seg_remove_objects(&ident);
        shmring__seg_detach(hdr);
        return -ENOMEM;
    }
    shmring__map_ref(m);
    if ((err = attach(m, SHMRING_PRODUCER, producer)) != 0) {
        shmring__seg_remove_objects(&ident);
        shmring__map_put(m);
        shmring__map_put(m);
        return err;
    }
    if ((err = attach(m, SHMRING_CONSUMER, consumer)) != 0) {
        shmring__map_put(m);
        shmring_spsc_close(*producer); /* the last user: removes the objects */
        *producer = NULL;
        return err;
    }
    return 0;
}

int shmring_spsc_close(struct shmring_spsc *r)
{
    struct shmring__attach *a;
    if (r == NULL)
        return 0;
    a = r->att;
    if (a->pid == getpid())
        shmring__evfd_close(a);
    shmring__registry_remove(a);
    /* Only the process that registered presence may take it back (a forked child holds its own).
     * Uncommitted reservations are dropped: the word at pend_pos is still 0. */
    if (a->pid == getpid()) {
        /* Hand back what we released (a producer may be waiting for it); forward only: after
         * fork() the other process's copy of this handle may have consumed and handed back more. */
        if (r->role == SHMRING_CONSUMER && r->published != r->head) {
            uint64_t cur = shmring__load(&r->hdr->freed.pos, relaxed);
            while (cur != r->head && r->head - cur <= r->capacity &&
                   !shmring__cas(&r->hdr->freed.pos, &cur, r->head, release, relaxed))
                ;
            shmring__spsc_after_publish(r, &r->hdr->wait.producer_sleeping, SHMRING_SEM_PRODUCER_WAKE);
        }
        shmring__store(r->role == SHMRING_PRODUCER ? &r->hdr->prod.owner : &r->hdr->cons.owner, 0, relaxed);
        shmring__presence_detach(a->semid, a->role); /* also rings the peer's doorbell */
        shmring__event(a->map, SHMRING_EV_DETACH, a->role, a->pid);
        /* End of stream once the last producer handle is gone (a child closing the copy it
         * inherited is not the end). Pairs with the acquire load in shmring_spsc_peek(). If a new
         * producer attached meanwhile, take the mark back: it may have cleared it already. */
        if (r->role == SHMRING_PRODUCER && shmring__sem_getval(a->semid, SHMRING_SEM_PRODUCERS) == 0) {
            shmring__store(&r->hdr->wait.producer_closed, 1, release);
            if (shmring__sem_getval(a->semid, SHMRING_SEM_PRODUCERS) > 0)
                shmring__store(&r->hdr->wait.producer_closed, 0, release);
            shmring__sem_post_capped(a->semid, SHMRING_SEM_CONSUMER_WAKE);
            shmring__event(a->map, SHMRING_EV_EOS, a->role, a->pid);
        }
        if (a->map->anon && shmring__sem_getval(a->semid, SHMRING_SEM_USERS) == 0)
            shmring__seg_remove_objects(&a->map->ident);
    }
    shmring__map_put(a->map);
    free(a);
    free(r);
    return 0;
}

void shmring_spsc_set_spin(struct shmring_spsc *r, uint32_t spins)
{
    r->spin = spins;
}

int shmring_spsc_peer_count(const struct shmring_spsc *r)
{
    return shmring__peer_count(r->att);
}

/* Slow paths refuse a broken ring: found broken by us, or marked corrupt by another process. */
static int check_usable(struct shmring_spsc *r)
{
    return shmring__usable(r->hdr, &r->broken);
}

int shmring__spsc_corrupt(struct shmring_spsc *r)
{
    shmring__mark_corrupt(r->hdr, &r->broken);
    /* Send every later reserve out of line (where it sees r->broken) without a check on the fast
     * path: with the cached head a lap behind, nothing fits. */
    r->head_cache = r->tail - r->capacity;
    return -EUCLEAN;
}

/* The end of what we published: a consumer position past it is corruption. */
static uint64_t published_end(const struct shmring_spsc *r)
{
    return r->pend_word != 0 ? r->pend_pos : r->tail;
}

/* Reloads the space the consumer handed back (freed.pos) and checks it: it may only move forward,
 * and only over records we published (a consumer cannot have released what it could not see):
 * never into our own reserved, uncommitted records, which a position up to the tail would hand
 * back to us for reuse (test/adversarial/trust_test.c). Loaded once; a bad value is corruption.
 * It may trail head_cache (which refresh_exact may have moved further): then head_cache stays. */
static int refresh_head(struct shmring_spsc *r)
{
    /* Pairs with the release store in shmring__spsc_publish(): the consumer is done with the
     * records before that position, so we may overwrite them. */
    uint64_t head = shmring__load(&r->hdr->freed.pos, acquire);
    uint64_t published = published_end(r);
    if (head - r->freed_seen > published - r->freed_seen || (head & r->align_mask))
        return shmring__spsc_corrupt(r);
    r->freed_seen = head;
    if (head - r->head_cache <= published - r->head_cache)
        r->head_cache = head;
    return 0;
}

/* Before sleeping on a full ring: the consumer's exact position (cons.pos, stored at every
 * release), which may be ahead of what it handed back yet. Checked like freed.pos, from
 * head_cache: it never moves back. Read only here, so a producer that spins on a full ring does
 * not poll the line the consumer stores at every release. */
static int refresh_exact(struct shmring_spsc *r)
{
    /* Pairs with the release store in shmring_spsc_release(). */
    uint64_t head = shmring__load(&r->hdr->cons.pos, acquire);
    uint64_t published = published_end(r);
    if (head - r->head_cache > published - r->head_cache || (head & r->align_mask))
        return shmring__spsc_corrupt(r);
    r->head_cache = head;
    return 0;
}

/* Room for a record of `len` bytes at the current tail? 0 yes, -EAGAIN no, or an error. */
static int space_for(struct shmring_spsc *r, size_t len, uint64_t *pad_out, uint64_t *size_out)
{
    uint64_t size = shmring__spsc_size(r, len), off = r->tail & r->mask;
    uint64_t pad = off + size > r->capacity ? r->capacity - off : 0;
    int err;
    *pad_out = pad;
    *size_out = size;
    if (r->tail + pad + size + SHMRING_REC_HDR - r->head_cache <= r->capacity)
        return 0;
    if ((err = refresh_head(r)) != 0)
        return err;
    return r->tail + pad + size + SHMRING_REC_HDR - r->head_cache <= r->capacity ? 0 : -EAGAIN;
}

/* A record must wrap but does not fit together with its padding. If nothing is pending and the
 * padding alone fits, publish the padding now: once the consumer passes it (it gives padding back
 * at once) the record can start at offset 0, so records up to max_record always get through.
 * Returns 1 if it published the padding. */
static int publish_pad(struct shmring_spsc *r, uint64_t pad)
{
    if (!pad || r->pend_word != 0 || r->tail + pad + SHMRING_REC_HDR - r->head_cache > r->capacity)
        return 0;
    shmring__store(SHMRING__U64_AT(r->data + ((r->tail + pad) & r->mask)), 0, relaxed);
    /* Pairs with the acquire load in shmring_spsc_peek(), like a commit. */
    shmring__store(SHMRING__U64_AT(r->data + (r->tail & r->mask)), SHMRING_REC_WORD(SHMRING_REC_PAD, pad), release);
    SHMRING__TEST_POINT(SHMRING__TP_SPSC_PAD);
    r->tail += pad;
    shmring__store(&r->hdr->prod.pos, r->tail, relaxed);
    shmring__spsc_after_publish(r, &r->hdr->wait.consumer_sleeping, SHMRING_SEM_CONSUMER_WAKE);
    return 1;
}

int shmring__spsc_reserve_slow(struct shmring_spsc *r, size_t len, void **buf)
{
    uint64_t pad, size;
    int err;
    if ((err = check_usable(r)) != 0)
        return err;
    err = space_for(r, len, &pad, &size);
    if (err == 0) {
        *buf = shmring__spsc_place(r, pad, size, len);
        return 0;
    }
    if (err == -EAGAIN)
        publish_pad(r, pad);
    return err;
}

void shmring__spsc_wake(struct shmring_spsc *r, int sem)
{
    shmring__wake(r->hdr, r->att->semid, sem);
}

/* What the waiting code needs: the handle and, for a producer, the record size. */
struct spsc_wait {
    struct shmring_spsc *r;
    size_t len;
};

/* Consumer: 0 when there is something at the next position (or the producer closed). */
static int data_ready(void *ctx, int thorough)
{
    struct shmring_spsc *r = ((struct spsc_wait *)ctx)->r;
    (void)thorough;
    if (shmring__load(SHMRING__U64_AT(r->data + (r->next & r->mask)), acquire) != 0)
        return 0;
    return shmring__load(&r->hdr->wait.producer_closed, acquire) ? 0 : 1;
}

/* Producer: 0 when a record of `len` bytes fits, 1 when not, or an error. Lays down the padding in
 * front of a wrapping record as soon as it fits on its own. */
static int space_ready(void *ctx, int thorough)
{
    struct spsc_wait *w = (struct spsc_wait *)ctx;
    uint64_t pad, size;
    int err = space_for(w->r, w->len, &pad, &size);
    /* Announced and about to sleep: the consumer may have freed room it has not handed back. */
    if (err == -EAGAIN && thorough && (err = refresh_exact(w->r)) == 0)
        err = space_for(w->r, w->len, &pad, &size);
    if (err == -EAGAIN && publish_pad(w->r, pad))
        err = space_for(w->r, w->len, &pad, &size);
    return err == -EAGAIN ? 1 : err;
}

static int spsc_wait(struct shmring_spsc *r, size_t len, int64_t timeout_ns, int64_t *deadline)
{
    struct spsc_wait ctx = {r, len};
    struct shmring__wait_spec spec;
    int err = check_usable(r);
    if (err)
        return err;
    spec.a = r->att;
    spec.hdr = r->hdr;
    spec.consumer = r->role == SHMRING_CONSUMER;
    spec.spin = r->spin;
    spec.ready = spec.consumer ? data_ready : space_ready;
    spec.ctx = &ctx;
    return shmring__wait(&spec, timeout_ns, deadline);
}

int shmring__spsc_wait_data(struct shmring_spsc *r, int64_t timeout_ns, int64_t *deadline)
{
    if (r->role != SHMRING_CONSUMER)
        return -EINVAL;
    return spsc_wait(r, 0, timeout_ns, deadline);
}

int shmring__spsc_wait_space(struct shmring_spsc *r, size_t len, int64_t timeout_ns, int64_t *deadline)
{
    uint64_t size = shmring__spsc_size(r, len), off = r->tail & r->mask;
    uint64_t pad = off + size > r->capacity ? r->capacity - off : 0;
    uint64_t held = r->pend_word ? r->tail - r->pend_pos : 0;
    if (r->role != SHMRING_PRODUCER)
        return -EINVAL;
    if (len > r->max_record)
        return -EMSGSIZE;
    /* Our own uncommitted records are invisible to the consumer: it can never free them. (With
     * nothing pending, the padding is published on its own and the record starts at offset 0.) */
    if (held && held + pad + size + SHMRING_REC_HDR > r->capacity)
        return -EDEADLK;
    return spsc_wait(r, len, timeout_ns, deadline);
}
