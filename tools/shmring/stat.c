/* The `shmring` command: stat and watch (read-only views of one ring). */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/shm.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "json.h"
#include "shmring/shmring.h"

#define LD(p) shmring__load((SHMRING_ATOMIC(uint64_t) *)&(p), relaxed)
#define LD32(p) shmring__load((SHMRING_ATOMIC(uint32_t) *)&(p), relaxed)

/* The header's counters, in the order stat prints them. */
struct counter {
    const char *name;
    size_t off; /* in struct shmring_header */
};
#define C(f) {#f, offsetof(struct shmring_header, stats.f)}
static const struct counter counters[] = {
    C(producer_attaches), C(consumer_attaches), C(producer_sleeps), C(consumer_sleeps), C(producer_wakeups),
    C(consumer_wakeups),  C(producer_skips),    C(consumer_skips),  C(events_sent),     C(events_dropped),
    C(peer_deaths),
};
#undef C
#define NCOUNTERS (sizeof(counters) / sizeof(counters[0]))

static uint64_t counter_at(const struct ring_view *v, size_t off)
{
    return LD(*(const uint64_t *)(const void *)((const uint8_t *)v->hdr + off));
}

/* Names of the semaphores of enum shmring_sem; a semaphore added to the enum later shows as
 * "semN" until it is named here. */
static const char *const sem_known[] = {
    [SHMRING_SEM_CONSUMER_WAKE] = "consumer_wake",
    [SHMRING_SEM_PRODUCER_WAKE] = "producer_wake",
    [SHMRING_SEM_PRODUCERS] = "producers",
    [SHMRING_SEM_CONSUMERS] = "consumers",
    [SHMRING_SEM_USERS] = "users",
    [SHMRING_SEM_CONTROL] = "control",
};

static const char *sem_name(int i, char *buf, size_t cap)
{
    if ((size_t)i < sizeof(sem_known) / sizeof(sem_known[0]) && sem_known[i])
        return sem_known[i];
    snprintf(buf, cap, "sem%d", i);
    return buf;
}

/* One attached process, from an owner word. */
struct who {
    uint64_t owner;
    int consumer;
    int alive;
    int index;       /* MPMC participant entry, or -1 */
    uint64_t intent_pos;
    uint32_t intent_n;
};

/* Is the holder of an entry alive? The library's verdict (lib/life.c): semaphore `sem` (the
 * entry's life semaphore, or the side's presence count) is not 0. Only if the semaphores could
 * not be read, a guess from the owner word's pid (meaningless across PID namespaces). */
static int holder_alive(const struct ring_view *v, int sem, uint64_t owner)
{
    if (v->sem_ok)
        return v->semval[sem] > 0;
    return owner_alive(owner);
}

/* The attached handles: SPSC side owner words, or the MPMC participant table. Returns the count. */
static int attached(const struct ring_view *v, struct who *out, int cap)
{
    int n = 0;
    unsigned i;
    if (v->id.kind == SHMRING_KIND_SPSC) {
        uint64_t p = LD(v->hdr->prod.owner), c = LD(v->hdr->cons.owner);
        if (p && n < cap)
            out[n++] = (struct who){p, 0, holder_alive(v, SHMRING_SEM_PRODUCERS, p), -1, 0, 0};
        if (c && n < cap)
            out[n++] = (struct who){c, 1, holder_alive(v, SHMRING_SEM_CONSUMERS, c), -1, 0, 0};
        return n;
    }
    if (v->id.kind == SHMRING_KIND_BCAST) {
        /* The producer's owner word; the consumers are in the consumer table (bcast_entries). */
        uint64_t p = LD(v->hdr->prod.owner);
        if (p && n < cap)
            out[n++] = (struct who){p, 0, holder_alive(v, SHMRING_SEM_PRODUCERS, p), -1, 0, 0};
        return n;
    }
    /* The table lies between the header and the slots; check_ident made sure the segment holds it. */
    if (v->id.kind != SHMRING_KIND_MPMC || v->seg.size < SHMRING_MPMC_DATA_OFFSET)
        return 0;
    for (i = 0; i < SHMRING_MPMC_PARTICIPANTS && n < cap; i++) {
        const struct shmring_participant *t =
            (const struct shmring_participant *)(const void *)((const uint8_t *)v->hdr + SHMRING_HEADER_SIZE) + i;
        uint64_t o = LD(t->owner);
        if (o == 0)
            continue;
        out[n] = (struct who){o, (o & SHMRING_OWNER_CONSUMER) != 0,
                              holder_alive(v, SHMRING_SEM_LIFE_ENTRIES + (int)i, o), (int)i, LD(t->intent_pos),
                              LD32(t->intent_n)};
        n++;
    }
    return n;
}

/* One taken entry of a BCAST ring's consumer table, read once through atomic loads. */
struct bcast_entry {
    unsigned index;
    uint64_t owner;
    int alive, active;
    uint64_t pos, behind, lost, released;
    int behind_ok; /* behind makes sense (within a lap of the producer) */
};

/* The taken entries of the consumer table (at most SHMRING_BCAST_CONSUMERS). */
static int bcast_entries(const struct ring_view *v, struct bcast_entry *out)
{
    const struct shmring_bcast_consumer *t = view_bcast_table(v);
    uint64_t prod;
    unsigned i;
    int n = 0;
    if (t == NULL)
        return 0;
    prod = shmring__load((SHMRING_ATOMIC(uint64_t) *)&v->hdr->prod.pos, acquire);
    for (i = 0; i < SHMRING_BCAST_CONSUMERS; i++) {
        uint64_t o = shmring__load((SHMRING_ATOMIC(uint64_t) *)&t[i].owner, acquire), act, d;
        if (o == 0)
            continue;
        act = LD(t[i].active);
        out[n].index = i;
        out[n].owner = o;
        out[n].alive = holder_alive(v, SHMRING_SEM_LIFE_ENTRIES + (int)i, o);
        out[n].active = act != 0 && act == o;
        out[n].pos = LD(t[i].pos);
        out[n].lost = LD(t[i].lost);
        out[n].released = LD(t[i].released);
        d = prod - out[n].pos;
        out[n].behind_ok = out[n].active && (d <= v->id.capacity || (v->id.flags & SHMRING_HDR_LOSSY)) &&
                           (int64_t)d >= -(int64_t)v->id.capacity;
        out[n].behind = (int64_t)d < 0 ? 0 : d;
        n++;
    }
    return n;
}

static const char *iso_time(uint64_t ns, char *buf, size_t cap)
{
    time_t s = (time_t)(ns / 1000000000u);
    struct tm tm;
    if (ns == 0 || gmtime_r(&s, &tm) == NULL) {
        snprintf(buf, cap, "unknown");
        return buf;
    }
    strftime(buf, cap, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + strlen(buf), cap - strlen(buf), ".%03uZ", (unsigned)(ns % 1000000000u / 1000000u));
    return buf;
}

static const char stat_help[] =
    "Usage: shmring stat NAME [--json]\n"
    "\n"
    "Shows one ring: geometry, the producer's and consumer's positions and counts, fill, every\n"
    "counter in the header, the attached processes (SPSC: the holder of each side; MPMC: the\n"
    "participant table, with role and liveness; BCAST: the producer, the policy and the consumer\n"
    "table: entry, pid, alive/dead, active/joining, position, behind by, lost, released), the\n"
    "creator, the semaphores' values, and the\n"
    "control queue (messages pending, bytes, limit; the subscriber table; events sent, dropped,\n"
    "peer deaths). Reads the ring through a read-only attachment.\n"
    "\n"
    "      --json          one JSON object\n"
    "  -h, --help          this help\n"
    "\n"
    "Example:\n"
    "  shmring stat telemetry\n";

static void stat_text(struct ring_view *v)
{
    struct who who[SHMRING_MPMC_PARTICIPANTS];
    char shown[4 * SHMRING_NAME_MAX + 8], t[64], h[32];
    uint64_t fill, ppos, cpos;
    struct bcast_entry be[SHMRING_BCAST_CONSUMERS];
    int spsc = v->id.kind == SHMRING_KIND_SPSC, bcast = v->id.kind == SHMRING_KIND_BCAST, nw, i, nsub = 0, nb;
    unsigned s;

    printf("name:         %s\n", v->anon ? "(anonymous)" : name_for_text(v->name, shown, sizeof(shown)));
    printf("kind:         %s\n", kind_name(v->id.kind));
    printf("state:        %s%s%s\n", view_state(v), v->corrupt ? ": " : "", v->corrupt ? v->problem : "");
    printf("key:          0x%08x\n", (unsigned)v->id.key);
    printf("segment:      shmid %d, %" PRIu64 " bytes, perms %04o, uid %u, %" PRIu64 " attached\n", v->seg.shmid,
           v->seg.size, v->seg.perms & 0777u, (unsigned)v->seg.uid, v->seg.nattch);
    if (v->corrupt && (v->id.kind != SHMRING_KIND_SPSC && v->id.kind != SHMRING_KIND_MPMC &&
                       v->id.kind != SHMRING_KIND_BCAST))
        return;
    if (spsc) {
        printf("capacity:     %" PRIu64 " bytes (%s), largest record %" PRIu64 " bytes, records aligned to %" PRIu64
               "\n",
               v->id.capacity, human_size(v->id.capacity, h, sizeof(h)),
               shmring__spsc_max_record_of(v->id.capacity, v->id.flags), shmring__spsc_align(v->id.flags));
    } else
        printf("capacity:     %" PRIu64 " slots of %u bytes\n", v->id.capacity, v->id.slot_size);
    printf("flags:        %s%s%s%s%s\n", (v->id.flags & SHMRING_HDR_HUGEPAGES) ? "hugepages " : "",
           (v->id.flags & SHMRING_HDR_ASYM_WAKE) ? "membarrier-wake" : "fence-wake",
           (v->id.flags & SHMRING_HDR_LOSSY) ? " lossy" : "", (v->id.flags & SHMRING_HDR_ALIGN64) ? " align64" : "",
           (v->id.flags & ~SHMRING_HDR_KNOWN) ? " (unknown flags)" : "");
    if (bcast)
        printf("policy:       %s\n", (v->id.flags & SHMRING_HDR_LOSSY)
                                         ? "lossy (the producer never waits; lapped consumers lose records)"
                                         : "block (the producer waits for the slowest consumer)");
    printf("creator:      pid %d (%s), start %" PRIu64 " ticks after boot, created %s\n", (int)v->id.creator_pid,
           proc_alive(v->id.creator_pid, v->id.creator_start) ? "alive" : "gone", v->id.creator_start,
           iso_time(v->id.created_ns, t, sizeof(t)));
    cpos = LD(v->hdr->cons.pos);
    ppos = LD(v->hdr->prod.pos);
    if (spsc) {
        printf("producer:     position %" PRIu64 ", %" PRIu64 " records committed\n", ppos, LD(v->hdr->prod.count));
        printf("consumer:     position %" PRIu64 ", %" PRIu64 " records released, space handed back up to %" PRIu64 "\n",
               cpos, LD(v->hdr->cons.count), LD(v->hdr->freed.pos));
    } else if (bcast) {
        const struct shmring_bcast_ctl *ctl = view_bcast_ctl(v);
        printf("producer:     position %" PRIu64 ", claim end %" PRIu64 ", %" PRIu64 " records published\n", ppos,
               ctl ? LD(ctl->claim_end) : 0, LD(v->hdr->prod.count));
    } else {
        printf("producers:    position %" PRIu64 " (slots claimed since creation)\n", ppos);
        printf("consumers:    position %" PRIu64 " (slots taken since creation)\n", cpos);
    }
    if (view_fill(v, &fill))
        printf("fill:         %" PRIu64 " %s (%.1f%%)%s\n", fill, spsc ? "bytes" : "slots",
               100.0 * (double)fill / (double)v->id.capacity, bcast ? " behind the slowest consumer" : "");
    else if (bcast)
        printf("fill:         - (no active consumer)\n");
    else
        printf("fill:         unknown (positions inconsistent)\n");
    printf("sleeping:     %u producers, %u consumers\n", LD32(v->hdr->wait.producer_sleeping),
           LD32(v->hdr->wait.consumer_sleeping));
    if (spsc)
        printf("closed:       %s\n", LD32(v->hdr->wait.producer_closed) ? "yes (end of stream after the last record)"
                                                                        : "no");
    nw = attached(v, who, (int)(sizeof(who) / sizeof(who[0])));
    printf("attached:     %s\n", nw ? "" : "none");
    for (i = 0; i < nw; i++) {
        printf("  pid %-8d %-8s %-5s", (int)SHMRING_OWNER_PID(who[i].owner), who[i].consumer ? "consumer" : "producer",
               who[i].alive ? "alive" : "dead");
        if (who[i].index >= 0)
            printf("  entry %d, holds %u from position %" PRIu64, who[i].index, who[i].intent_n, who[i].intent_pos);
        putchar('\n');
    }
    if (bcast) {
        nb = bcast_entries(v, be);
        printf("consumers:    %s\n", nb ? "" : "none");
        for (i = 0; i < nb; i++) {
            printf("  entry %-3u pid %-8d %-5s %-7s position %" PRIu64, be[i].index,
                   (int)SHMRING_OWNER_PID(be[i].owner), be[i].alive ? "alive" : "dead",
                   be[i].active ? "active" : "joining", be[i].pos);
            if (be[i].behind_ok)
                printf(", behind by %" PRIu64, be[i].behind);
            else
                printf(", behind by -");
            printf(", lost %" PRIu64 ", released %" PRIu64 "\n", be[i].lost, be[i].released);
        }
    }
    printf("semaphores:   ");
    if (v->sem_ok) {
        printf("semid %d:", v->id.semid);
        int held = 0;
        for (i = 0; i < SHMRING_SEM_LIFE_SUBSCRIBERS; i++)
            printf(" %s=%d", sem_name(i, h, sizeof(h)), v->semval[i]);
        for (; i < SHMRING_SEM_LIFE_END; i++)
            held += v->semval[i] > 0;
        printf(" (life semaphores held: %d)\n", held);
    } else {
        printf("semid %d: %s\n", v->id.semid, v->sem_err == -ENOENT ? "missing (not the ring's)" : shmring_strerror(v->sem_err));
    }
    printf("counters:\n");
    for (s = 0; s < NCOUNTERS; s++)
        printf("  %-18s %" PRIu64 "\n", counters[s].name, counter_at(v, counters[s].off));
    printf("control queue: ");
    if (v->msq_ok)
        printf("msqid %d: %" PRIu64 " messages pending, %" PRIu64 " bytes, limit %" PRIu64 " bytes\n", v->id.msqid,
               v->msg_qnum, v->msg_cbytes, v->msg_qbytes);
    else
        printf("msqid %d: %s\n", v->id.msqid, v->msq_err == -ENOENT ? "missing (not the ring's)" : shmring_strerror(v->msq_err));
    for (s = 0; s < SHMRING_SUBSCRIBERS; s++) {
        const struct shmring_subscriber *sub = &v->hdr->subscribers[s];
        uint64_t o = LD(sub->owner);
        if (o == 0)
            continue;
        if (nsub++ == 0)
            printf("subscribers:\n");
        printf("  entry %-3u pid %-8d %-5s mask 0x%08x dropped %u\n", s, (int)SHMRING_OWNER_PID(o),
               holder_alive(v, SHMRING_SEM_LIFE_SUBSCRIBERS + (int)s, o) ? "alive" : "dead", LD32(sub->mask),
               LD32(sub->dropped));
    }
    if (nsub == 0)
        printf("subscribers:  none\n");
}

static void stat_json(struct ring_view *v)
{
    struct who who[SHMRING_MPMC_PARTICIPANTS];
    struct jw w;
    char t[64];
    uint64_t fill;
    struct bcast_entry be[SHMRING_BCAST_CONSUMERS];
    int spsc = v->id.kind == SHMRING_KIND_SPSC, bcast = v->id.kind == SHMRING_KIND_BCAST, nw, i, ok, nb;
    unsigned s;
    memset(&w, 0, sizeof(w));
    w.f = stdout;
    jw_open(&w, '{');
    fputc('\n', stdout);
    jw_key(&w, "name");
    if (v->anon)
        jw_null(&w);
    else
        jw_str(&w, v->name);
    jw_key(&w, "kind");
    jw_str(&w, kind_name(v->id.kind));
    jw_key(&w, "state");
    jw_str(&w, view_state(v));
    jw_key(&w, "problem");
    if (v->corrupt)
        jw_str(&w, v->problem);
    else
        jw_null(&w);
    snprintf(t, sizeof(t), "0x%08x", (unsigned)v->id.key);
    jw_key(&w, "key");
    jw_str(&w, t);
    jw_key(&w, "shmid");
    jw_i64(&w, v->seg.shmid);
    jw_key(&w, "bytes");
    jw_u64(&w, v->seg.size);
    snprintf(t, sizeof(t), "%04o", v->seg.perms & 0777u);
    jw_key(&w, "perms");
    jw_str(&w, t);
    jw_key(&w, "nattch");
    jw_u64(&w, v->seg.nattch);
    jw_key(&w, "capacity");
    jw_u64(&w, v->id.capacity);
    jw_key(&w, "slot_size");
    if (spsc)
        jw_null(&w);
    else
        jw_u64(&w, v->id.slot_size);
    jw_key(&w, "flags");
    jw_u64(&w, v->id.flags);
    jw_key(&w, "record_align");
    if (spsc)
        jw_u64(&w, shmring__spsc_align(v->id.flags));
    else
        jw_null(&w);
    jw_key(&w, "policy");
    if (bcast)
        jw_str(&w, (v->id.flags & SHMRING_HDR_LOSSY) ? "lossy" : "block");
    else
        jw_null(&w);
    jw_key(&w, "creator");
    jw_open(&w, '{');
    jw_key(&w, "pid");
    jw_i64(&w, v->id.creator_pid);
    jw_key(&w, "start");
    jw_u64(&w, v->id.creator_start);
    jw_key(&w, "alive");
    jw_bool(&w, proc_alive(v->id.creator_pid, v->id.creator_start));
    jw_key(&w, "created");
    jw_str(&w, iso_time(v->id.created_ns, t, sizeof(t)));
    jw_key(&w, "created_ns");
    jw_u64(&w, v->id.created_ns);
    jw_close(&w, '}');
    jw_key(&w, "producer");
    jw_open(&w, '{');
    jw_key(&w, "pos");
    jw_u64(&w, LD(v->hdr->prod.pos));
    jw_key(&w, "count");
    if (spsc || bcast)
        jw_u64(&w, LD(v->hdr->prod.count));
    else
        jw_null(&w);
    if (bcast) {
        const struct shmring_bcast_ctl *ctl = view_bcast_ctl(v);
        jw_key(&w, "claim_end");
        if (ctl)
            jw_u64(&w, LD(ctl->claim_end));
        else
            jw_null(&w);
    }
    jw_close(&w, '}');
    jw_key(&w, "consumer");
    jw_open(&w, '{');
    jw_key(&w, "pos");
    jw_u64(&w, LD(v->hdr->cons.pos));
    jw_key(&w, "count");
    if (spsc)
        jw_u64(&w, LD(v->hdr->cons.count));
    else
        jw_null(&w);
    jw_key(&w, "freed");
    if (spsc)
        jw_u64(&w, LD(v->hdr->freed.pos));
    else
        jw_null(&w);
    jw_close(&w, '}');
    ok = view_fill(v, &fill);
    jw_key(&w, "fill");
    if (ok)
        jw_u64(&w, fill);
    else
        jw_null(&w);
    jw_key(&w, "sleepers");
    jw_open(&w, '{');
    jw_key(&w, "producers");
    jw_u64(&w, LD32(v->hdr->wait.producer_sleeping));
    jw_key(&w, "consumers");
    jw_u64(&w, LD32(v->hdr->wait.consumer_sleeping));
    jw_close(&w, '}');
    jw_key(&w, "producer_closed");
    jw_bool(&w, LD32(v->hdr->wait.producer_closed) != 0);
    nw = attached(v, who, (int)(sizeof(who) / sizeof(who[0])));
    jw_key(&w, "attached");
    jw_open(&w, '[');
    for (i = 0; i < nw; i++) {
        jw_open(&w, '{');
        jw_key(&w, "pid");
        jw_i64(&w, SHMRING_OWNER_PID(who[i].owner));
        jw_key(&w, "role");
        jw_str(&w, who[i].consumer ? "consumer" : "producer");
        jw_key(&w, "alive");
        jw_bool(&w, who[i].alive);
        if (who[i].index >= 0) {
            jw_key(&w, "entry");
            jw_i64(&w, who[i].index);
            jw_key(&w, "intent_pos");
            jw_u64(&w, who[i].intent_pos);
            jw_key(&w, "intent_n");
            jw_u64(&w, who[i].intent_n);
        }
        jw_close(&w, '}');
    }
    jw_close(&w, ']');
    if (bcast) {
        nb = bcast_entries(v, be);
        jw_key(&w, "bcast_consumers");
        jw_open(&w, '[');
        for (i = 0; i < nb; i++) {
            jw_open(&w, '{');
            jw_key(&w, "entry");
            jw_u64(&w, be[i].index);
            jw_key(&w, "pid");
            jw_i64(&w, SHMRING_OWNER_PID(be[i].owner));
            jw_key(&w, "alive");
            jw_bool(&w, be[i].alive);
            jw_key(&w, "active");
            jw_bool(&w, be[i].active);
            jw_key(&w, "pos");
            jw_u64(&w, be[i].pos);
            jw_key(&w, "behind");
            if (be[i].behind_ok)
                jw_u64(&w, be[i].behind);
            else
                jw_null(&w);
            jw_key(&w, "lost");
            jw_u64(&w, be[i].lost);
            jw_key(&w, "released");
            jw_u64(&w, be[i].released);
            jw_close(&w, '}');
        }
        jw_close(&w, ']');
    }
    jw_key(&w, "semaphores");
    if (v->sem_ok) {
        jw_open(&w, '{');
        jw_key(&w, "semid");
        jw_i64(&w, v->id.semid);
        int held = 0;
        for (i = 0; i < SHMRING_SEM_LIFE_SUBSCRIBERS; i++) {
            jw_key(&w, sem_name(i, t, sizeof(t)));
            jw_i64(&w, v->semval[i]);
        }
        for (; i < SHMRING_SEM_LIFE_END; i++)
            held += v->semval[i] > 0;
        jw_key(&w, "life_held");
        jw_i64(&w, held);
        jw_close(&w, '}');
    } else {
        jw_null(&w);
    }
    jw_key(&w, "counters");
    jw_open(&w, '{');
    for (s = 0; s < NCOUNTERS; s++) {
        jw_key(&w, counters[s].name);
        jw_u64(&w, counter_at(v, counters[s].off));
    }
    jw_close(&w, '}');
    jw_key(&w, "control_queue");
    if (v->msq_ok) {
        jw_open(&w, '{');
        jw_key(&w, "msqid");
        jw_i64(&w, v->id.msqid);
        jw_key(&w, "messages");
        jw_u64(&w, v->msg_qnum);
        jw_key(&w, "bytes");
        jw_u64(&w, v->msg_cbytes);
        jw_key(&w, "limit");
        jw_u64(&w, v->msg_qbytes);
        jw_close(&w, '}');
    } else {
        jw_null(&w);
    }
    jw_key(&w, "subscribers");
    jw_open(&w, '[');
    for (s = 0; s < SHMRING_SUBSCRIBERS; s++) {
        const struct shmring_subscriber *sub = &v->hdr->subscribers[s];
        uint64_t o = LD(sub->owner);
        if (o == 0)
            continue;
        jw_open(&w, '{');
        jw_key(&w, "entry");
        jw_u64(&w, s);
        jw_key(&w, "pid");
        jw_i64(&w, SHMRING_OWNER_PID(o));
        jw_key(&w, "alive");
        jw_bool(&w, holder_alive(v, SHMRING_SEM_LIFE_SUBSCRIBERS + (int)s, o));
        jw_key(&w, "mask");
        jw_u64(&w, LD32(sub->mask));
        jw_key(&w, "dropped");
        jw_u64(&w, LD32(sub->dropped));
        jw_close(&w, '}');
    }
    jw_close(&w, ']');
    fputc('\n', stdout);
    jw_close(&w, '}');
    putchar('\n');
}

int cmd_stat(int argc, char **argv)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct ring_view v;
    int json = 0, c, rc;
    getopt_reset();
    while ((c = getopt_long(argc, argv, ":jh", opts, NULL)) != -1) {
        switch (c) {
        case 'j':
            json = 1;
            break;
        case 'h':
            fputs(stat_help, stdout);
            return EXIT_OK;
        default:
            return cli_bad_option(argv, c);
        }
    }
    if ((rc = cli_one_name(argc, argv)) != EXIT_OK)
        return rc;
    if ((rc = view_by_name(argv[optind], &v)) != EXIT_OK)
        return rc;
    if (v.what != VIEW_RING) {
        char shown[4 * SHMRING_NAME_MAX + 8];
        cli_err("%s: %s (creator pid %d)", name_for_text(argv[optind], shown, sizeof(shown)),
                v.what == VIEW_CREATING ? "still being created" : "half-made: its creator died while creating it",
                (int)v.seg.cpid);
        view_close(&v);
        return EXIT_FAIL;
    }
    if (json)
        stat_json(&v);
    else
        stat_text(&v);
    view_close(&v);
    return EXIT_OK;
}

/* ------------------------------------------------------------------------------------------- */
/* watch */

static const char watch_help[] =
    "Usage: shmring watch NAME [--interval SEC] [--count N]\n"
    "\n"
    "Prints one line per interval: records in (committed or claimed by producers) and out\n"
    "(released or taken by consumers) per second; bytes out per second (SPSC: from the consumer's\n"
    "position, record headers and padding included; '-' for MPMC); fill; producers/consumers\n"
    "asleep; semaphore wake-ups per second. Ends at Ctrl-C, after N lines, or when the ring is\n"
    "removed.\n"
    "\n"
    "  -i, --interval SEC  seconds between lines (default 1; fractions allowed, at least 0.01)\n"
    "  -n, --count N       stop after N lines\n"
    "  -h, --help          this help\n"
    "\n"
    "Example:\n"
    "  shmring watch telemetry --interval 0.5\n";

struct sample {
    int64_t t;
    uint64_t in, out, out_bytes, wakeups;
};

static void take_sample(const struct ring_view *v, struct sample *s)
{
    const struct shmring_header *h = v->hdr;
    s->t = now_mono_ns();
    if (v->id.kind == SHMRING_KIND_SPSC) {
        s->in = LD(h->prod.count);
        s->out = LD(h->cons.count);
    } else if (v->id.kind == SHMRING_KIND_BCAST) {
        /* Records published; out: records released by all consumers together (table, untrusted:
         * a sum that goes back shows as '-'). */
        const struct shmring_bcast_consumer *t = view_bcast_table(v);
        unsigned i;
        s->in = LD(h->prod.count);
        s->out = 0;
        for (i = 0; t && i < SHMRING_BCAST_CONSUMERS; i++)
            if (LD(t[i].owner) != 0)
                s->out += LD(t[i].released);
    } else {
        s->in = LD(h->prod.pos);
        s->out = LD(h->cons.pos);
    }
    s->out_bytes = LD(h->cons.pos);
    s->wakeups = LD(h->stats.consumer_wakeups) + LD(h->stats.producer_wakeups);
}

/* A rate, or "-" when the counter went back (a new handle restarted it) or cannot be known. */
static const char *rate(uint64_t a, uint64_t b, double dt, char *buf, size_t cap)
{
    if (b < a || dt <= 0) {
        snprintf(buf, cap, "-");
        return buf;
    }
    human_size((uint64_t)((double)(b - a) / dt + 0.5), buf, cap);
    return buf;
}

int cmd_watch(int argc, char **argv)
{
    static const struct option opts[] = {
        {"interval", required_argument, NULL, 'i'},
        {"count", required_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct ring_view v;
    struct sample prev, cur;
    double interval = 1.0;
    uint64_t count = 0, lines = 0;
    char shown[4 * SHMRING_NAME_MAX + 8];
    int c, rc;
    getopt_reset();
    while ((c = getopt_long(argc, argv, ":i:n:h", opts, NULL)) != -1) {
        switch (c) {
        case 'i':
            if (parse_seconds(optarg, &interval) != 0 || interval < 0.01)
                return cli_usage_err("bad interval '%s' (seconds, at least 0.01)", optarg);
            break;
        case 'n':
            if (parse_count(optarg, &count) != 0)
                return cli_usage_err("bad count '%s' (a positive number)", optarg);
            break;
        case 'h':
            fputs(watch_help, stdout);
            return EXIT_OK;
        default:
            return cli_bad_option(argv, c);
        }
    }
    if ((rc = cli_one_name(argc, argv)) != EXIT_OK)
        return rc;
    if ((rc = view_by_name(argv[optind], &v)) != EXIT_OK)
        return rc;
    name_for_text(argv[optind], shown, sizeof(shown));
    if (v.what != VIEW_RING || v.corrupt) {
        cli_err("%s: %s", shown, v.corrupt ? v.problem : "not ready (being created, or half-made)");
        view_close(&v);
        return EXIT_FAIL;
    }
    signals_setup();
    printf("%-8s %9s %9s %9s %9s %7s %9s\n", "TIME", "IN/s", "OUT/s", "OUT B/s", "FILL", "SLEEP", "WAKEUPS/s");
    fflush(stdout);
    take_sample(&v, &prev);
    rc = EXIT_OK;
    while (!cli_stop && (count == 0 || lines < count)) {
        struct timespec ts;
        int64_t until = prev.t + (int64_t)(interval * 1e9), left;
        char tbuf[16], in[16], out[16], ob[16], fb[16], sl[24], wk[16];
        uint64_t fill;
        time_t now;
        struct tm tm;
        double dt;
        while (!cli_stop && (left = until - now_mono_ns()) > 0) {
            ts.tv_sec = (time_t)(left / 1000000000LL);
            ts.tv_nsec = (long)(left % 1000000000LL);
            nanosleep(&ts, NULL); /* EINTR: the loop looks at cli_stop */
        }
        if (cli_stop)
            break;
        if (shm_refresh(&v.seg) != 0 || (v.seg.perms & SHM_DEST) ||
            (LD32(v.hdr->stats.state) & SHMRING_STATE_REMOVED)) {
            fprintf(stderr, "shmring watch: %s: ring removed\n", shown);
            break;
        }
        view_refresh_ipc(&v);
        take_sample(&v, &cur);
        dt = (double)(cur.t - prev.t) / 1e9;
        now = time(NULL);
        localtime_r(&now, &tm);
        strftime(tbuf, sizeof(tbuf), "%H:%M:%S", &tm);
        rate(prev.in, cur.in, dt, in, sizeof(in));
        rate(prev.out, cur.out, dt, out, sizeof(out));
        if (v.id.kind == SHMRING_KIND_SPSC)
            rate(prev.out_bytes, cur.out_bytes, dt, ob, sizeof(ob));
        else
            snprintf(ob, sizeof(ob), "-");
        rate(prev.wakeups, cur.wakeups, dt, wk, sizeof(wk));
        if (view_fill(&v, &fill)) {
            if (v.id.kind == SHMRING_KIND_SPSC)
                human_size(fill, fb, sizeof(fb));
            else
                snprintf(fb, sizeof(fb), "%llu", (unsigned long long)fill);
        } else {
            snprintf(fb, sizeof(fb), "-");
        }
        snprintf(sl, sizeof(sl), "%u/%u", LD32(v.hdr->wait.producer_sleeping), LD32(v.hdr->wait.consumer_sleeping));
        printf("%-8s %9s %9s %9s %9s %7s %9s\n", tbuf, in, out, ob, fb, sl, wk);
        if (fflush(stdout) != 0) {
            if (errno != EPIPE) { /* a closed stdout (| head) just ends the watch */
                cli_err("%s: writing to stdout: %s", shown, shmring_strerror(-errno));
                rc = EXIT_FAIL;
            }
            break;
        }
        prev = cur;
        lines++;
    }
    view_close(&v);
    signals_finish();
    return rc;
}
