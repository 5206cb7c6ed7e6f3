/* shmring — the shared-memory layout (ABI) of a ring segment.
 *
 * A segment is one System V shared-memory segment: a 4 KiB header followed by the data area.
 * Processes map it at different addresses, so it holds no pointers: only fixed-width integers,
 * offsets and System V ids. Everything a process reads from it is untrusted (another process may
 * have written anything): readers load a value once, check it against the geometry they cached at
 * attach time, and use only their local copy.
 *
 * The header is written by the creator while `magic` is 0 and published by a release store of
 * SHMRING_MAGIC; an opener that reads the magic with acquire sees a fully initialised header,
 * semaphores included.
 *
 * Cache lines: the producer's line and the consumer's line are each followed by a guard line (the
 * adjacent-line prefetcher pulls pairs of lines), so neither side's stores invalidate the other's.
 * The wait line is read on every commit and release but written only by a side about to sleep.
 *
 * SPSC data area: a sequence of records, each an 8-byte header word followed by the payload,
 * padded to 8 bytes. Header word: bits 0-31 the payload length (for a padding record: the bytes
 * it skips, header included), bits 32-39 the record type, bits 40-63 SHMRING_REC_TAG.
 * A header word of 0 means "nothing here yet". A record never straddles the end of the area: when
 * one would, a padding record fills the rest and the record starts at offset 0.
 * Invariant kept by the producer: the word where the consumer will look next is either 0 or the
 * header of a committed record of this lap. It keeps it by zeroing the word after each record
 * before it publishes the record, and never writes that word while the consumer may still need it
 * (it keeps 8 bytes of slack: tail + 8 - head <= capacity).
 */
#ifndef SHMRING_LAYOUT_H
#define SHMRING_LAYOUT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "shmring/atomic.h"
#include "shmring/common.h" /* SHMRING_NAME_MAX */

#define SHMRING_MAGIC UINT64_C(0x31474E49524D4853) /* "SHMRING1", little-endian */
#define SHMRING_ABI_VERSION 5u /* 4: the set gained the anonymous-ring tag semaphores; 5: SPSC: the
                                  producer reads the consumer's position from the freed line */
#define SHMRING_BUILDING_MARK UINT64_C(0x444c494247524853) /* ident.building: "SHRGBILD" */
#define SHMRING_CACHELINE 64
#define SHMRING_HEADER_SIZE 4096u /* the data area starts here */

/* Record header word. */
#define SHMRING_REC_DATA 1u
#define SHMRING_REC_PAD 2u
#define SHMRING_REC_TAG UINT64_C(0x5a17e5) /* 24 bits: catches garbage and stale words */
#define SHMRING_REC_HDR 8u                 /* bytes of a record header */
#define SHMRING_REC_ALIGN 8u   /* record alignment, unless SHMRING_HDR_ALIGN64 */
#define SHMRING_REC_ALIGN64 64u

#define SHMRING_REC_WORD(type, len) \
    ((SHMRING_REC_TAG << 40) | ((uint64_t)(type) << 32) | (uint64_t)(uint32_t)(len))
#define SHMRING_REC_LEN(w) ((uint32_t)(w))
#define SHMRING_REC_TYPE(w) ((uint32_t)((w) >> 32) & 0xffu)
#define SHMRING_REC_TAG_OK(w) (((w) >> 40) == SHMRING_REC_TAG)

/* Header flags (shmring_ident.flags), fixed at creation. */
#define SHMRING_HDR_HUGEPAGES 0x1u /* segment backed by huge pages */
#define SHMRING_HDR_ASYM_WAKE 0x2u /* the membarrier wake-up protocol (SHMRING_F_WAKE_MEMBARRIER): waiters
                                      call membarrier(), publishers use only a compiler barrier; clear:
                                      the fenced protocol (a full fence on both sides) */
#define SHMRING_HDR_LOSSY 0x4u     /* BCAST: the producer never waits; lapped consumers lose records */
#define SHMRING_HDR_ALIGN64 0x8u   /* SPSC: records are aligned to 64 bytes, not SHMRING_REC_ALIGN */
#define SHMRING_HDR_KNOWN (SHMRING_HDR_HUGEPAGES | SHMRING_HDR_ASYM_WAKE | SHMRING_HDR_LOSSY | SHMRING_HDR_ALIGN64)

/* The record alignment of an SPSC ring whose header flags are hdr_flags (ident.flags). */
static inline uint64_t shmring__spsc_align(uint32_t hdr_flags)
{
    return (hdr_flags & SHMRING_HDR_ALIGN64) ? SHMRING_REC_ALIGN64 : SHMRING_REC_ALIGN;
}

/* State bits (shmring_state.flags), set at run time. */
#define SHMRING_STATE_CORRUPT 0x1u /* someone found a broken invariant; every call now fails */
#define SHMRING_STATE_REMOVED 0x2u /* shmring_unlink() ran */

/* Semaphores of a ring's set. Wake-up semaphores never take SEM_UNDO for posts (the kernel would
 * undo a dead poster's posts); each attached side holds a "doorbell" adjustment of +1 on the other
 * side's wake-up semaphore, so that its death wakes the other side. Presence semaphores count the
 * attached producers and consumers with SEM_UNDO, so the kernel corrects them when a process dies. */
enum shmring_sem {
    SHMRING_SEM_CONSUMER_WAKE = 0, /* a sleeping consumer waits here: data, close, death of a producer */
    SHMRING_SEM_PRODUCER_WAKE = 1, /* a sleeping producer waits here: space, consumer attach or death */
    SHMRING_SEM_PRODUCERS = 2,     /* attached producers (SEM_UNDO) */
    SHMRING_SEM_CONSUMERS = 3,     /* attached consumers (SEM_UNDO) */
    SHMRING_SEM_USERS = 4,         /* attached handles of an anonymous ring (SEM_UNDO) */
    SHMRING_SEM_CONTROL = 5,       /* 1 at rest; a control sender takes it to 0 and back to wake every
                                      timed receiver (they wait for zero): lib/control.c */
    /* Life semaphores (lib/life.c): > 0 while a live process holds the table entry (SEM_UNDO). */
    SHMRING_SEM_LIFE_SUBSCRIBERS = 6,  /* + i: control subscriber i (SHMRING_SUBSCRIBERS of them) */
    SHMRING_SEM_LIFE_ENTRIES = 6 + 64, /* + i: MPMC participant i, or BCAST consumer i */
    SHMRING_SEM_LIFE_END = 6 + 64 + 128, /* one past the last life semaphore */
    /* Anonymous rings only (0 in a named ring's set). System V cannot remove a set or a queue when
     * nobody uses it, so when every holder of an anonymous ring is killed these two stay behind
     * with key 0 and nothing else names them. The set therefore says what it is and which queue
     * goes with it, for `shmring rm --stale` (tools/shmring/orphans.c). Set by the SETALL that
     * follows the set's creation (the queue is made first), after the header holds both ids. */
    SHMRING_SEM_ANON_TAG = SHMRING_SEM_LIFE_END, /* SHMRING_ANON_TAG */
    SHMRING_SEM_ANON_MSQ = SHMRING_SEM_LIFE_END + 1, /* + 0..2: the queue's id, 11 bits each, low bits first */
    SHMRING_NSEMS = SHMRING_SEM_LIFE_END + 4
};
#define SHMRING_ANON_TAG 0x5a17 /* below SEMVMX (32767) */
#define SHMRING_ANON_MSQ_BITS 11
#define SHMRING_ANON_MSQ_PARTS 3 /* 33 bits hold any (non-negative int) id */

/* Line 0-1: identity and geometry. Written before publication, read-only afterwards. */
struct shmring_ident {
    SHMRING_ATOMIC(uint64_t) magic; /* SHMRING_MAGIC once published (release), 0 before */
    uint32_t abi_version;           /* SHMRING_ABI_VERSION */
    uint32_t kind;                  /* enum shmring_kind */
    uint64_t capacity;              /* SPSC: bytes of the data area; MPMC: slots (a power of two) */
    uint32_t slot_size;             /* MPMC: bytes per slot; 0 for SPSC */
    uint32_t flags;                 /* SHMRING_HDR_* */
    uint64_t data_offset;           /* SPSC: SHMRING_HEADER_SIZE; MPMC: SHMRING_MPMC_DATA_OFFSET */
    uint64_t segment_size;          /* bytes the creator asked shmget for */
    int32_t semid;                  /* the ring's semaphore set (SHMRING_NSEMS semaphores) */
    int32_t msqid;                  /* the ring's control message queue */
    int32_t creator_pid;
    uint32_t mode;                  /* permission bits given at creation */
    uint64_t creator_start;         /* creator's start time (clock ticks after boot), tells pid reuse */
    uint64_t created_ns;            /* CLOCK_REALTIME at creation */
    uint32_t key;                   /* the System V key (0 for an anonymous ring) */
    uint32_t reserved0;             /* creation progress, for cleaning up after a dead creator */
    uint64_t building;              /* SHMRING_BUILDING_MARK, the creator's very first store: tells a
                                       half-made ring from a foreign segment */
    uint64_t reserved[4];
};

/* Line 3: the producer's own line. Only the producer writes it. */
struct shmring_side {
    SHMRING_ATOMIC(uint64_t) pos;   /* SPSC producer: end of committed records (tail);
                                       SPSC consumer: end of released records (head) */
    SHMRING_ATOMIC(uint64_t) count; /* records committed / released */
    SHMRING_ATOMIC(uint64_t) owner; /* SPSC: owner word (shmring__owner_word) of the attached handle
                                       of this side, 0 when none; for the tools and death events */
    uint64_t reserved[5];
};

/* The wait line: read after every commit and release, written only by a side about to sleep. */
struct shmring_wait {
    SHMRING_ATOMIC(uint32_t) consumer_sleeping; /* consumers announced asleep (lib/wait.c) */
    SHMRING_ATOMIC(uint32_t) producer_sleeping; /* producers announced asleep */
    SHMRING_ATOMIC(uint32_t) producer_closed;   /* SPSC: set when the last producer closes, cleared at
                                                   producer attach */
    SHMRING_ATOMIC(uint32_t) consumer_wake_gen; /* wake-up generation of the consumers: odd once a
                                                   post was made in it; advanced by each waiter
                                                   whose sleep returns (lib/wait.c) */
    SHMRING_ATOMIC(uint32_t) producer_wake_gen; /* the same for the producers */
    uint32_t reserved0;
    uint64_t reserved[5];
};

/* After a release store that the other side may sleep waiting for: does that side have sleepers
 * to wake? Pairs with the waiter's "announce; membarrier (or fence); re-check" (lib/wait.c) so that
 * either the waiter sees our store or we see its announcement. With membarrier() the waiter's
 * barrier runs on our CPU too, so a compiler barrier is enough here; without it, a full fence. */
static inline int shmring__sleepers_after_publish(int fast_fence, SHMRING_ATOMIC(uint32_t) *sleeping)
{
    if (fast_fence)
        shmring__thread_fence(seq_cst);
    else
        shmring__signal_fence(seq_cst);
    return shmring__load(sleeping, relaxed) != 0;
}

/* Copies a payload into a ring (push). A waiting consumer polls the word that publishes the
 * record (SPSC header, MPMC/BCAST slot sequence), which sits in the same line as the start of
 * the payload whenever they share one. So the bytes past that line go first and the bytes in it
 * last, right before the publishing store: the line is then taken from the polling consumer once
 * per record instead of twice (once for the payload, and again for the publish after the consumer
 * read it back in between). Measured: 64-byte spsc-copy stream 3.0-3.9 -> 5.0-5.5 M records/s
 * (far vCPUs, ten alternating rounds; docs/performance.md, "Copy order in push"). */
static inline void shmring__copy_in(void *dst, const void *src, size_t len)
{
    size_t first = SHMRING_CACHELINE - ((uintptr_t)dst & (SHMRING_CACHELINE - 1));
    if (len == 0 || src == NULL) /* src may be NULL only with len 0: tell the compiler */
        return;
    if (first < len) {
        memcpy((char *)dst + first, (const char *)src + first, len - first);
        memcpy(dst, src, first);
    } else {
        memcpy(dst, src, len);
    }
}

/* Line 12 (SPSC): how far the consumer has handed space back to the producer. Only the consumer
 * writes it, lazily: cons.pos is the exact position (stored at every release, for the tools and
 * for a successor consumer) and is read by nobody on the fast path; this line is what a producer
 * that finds the ring full reads, so it is stored once per SHMRING_SPSC_PUBLISH_BYTES released (or
 * when the consumer finds the ring empty, sleeps, closes, or sees the producer asleep), not once
 * per record: a producer polling a full ring then takes the line from the consumer once per few
 * KiB instead of once per record (docs/performance.md, "Lazy release"). freed.pos <= cons.pos. */
struct shmring_freed {
    SHMRING_ATOMIC(uint64_t) pos; /* end of the space handed back (a record boundary) */
    uint64_t reserved[7];
};

/* Rarely written: run-time state and slow-path counters, for the tools. */
struct shmring_stats {
    SHMRING_ATOMIC(uint32_t) state;             /* SHMRING_STATE_* */
    uint32_t reserved0;
    SHMRING_ATOMIC(uint64_t) producer_attaches;
    SHMRING_ATOMIC(uint64_t) consumer_attaches;
    SHMRING_ATOMIC(uint64_t) consumer_sleeps;   /* times a consumer went to sleep */
    SHMRING_ATOMIC(uint64_t) producer_sleeps;
    SHMRING_ATOMIC(uint64_t) consumer_wakeups;  /* semaphore posts made to wake a consumer */
    SHMRING_ATOMIC(uint64_t) producer_wakeups;
    SHMRING_ATOMIC(uint64_t) producer_skips;    /* MPMC: slots skipped because their producer died */
    SHMRING_ATOMIC(uint64_t) consumer_skips;    /* MPMC: slots freed because their consumer died */
    SHMRING_ATOMIC(uint64_t) events_sent;       /* control messages put on the queue */
    SHMRING_ATOMIC(uint64_t) events_dropped;    /* control messages dropped (queue full, IPC_NOWAIT) */
    SHMRING_ATOMIC(uint64_t) peer_deaths;       /* handles found dead (and reported as events) */
    SHMRING_ATOMIC(uint64_t) reserved[4];
};

/* Control subscribers (lib/control.c): one entry per subscription, at SHMRING_SUBSCRIBERS_OFFSET.
 * A control message for subscriber i travels on the ring's message queue with mtype i + 1. */
#define SHMRING_SUBSCRIBERS 64u
#define SHMRING_SUBSCRIBERS_OFFSET 1024u
struct shmring_subscriber {
    SHMRING_ATOMIC(uint64_t) owner;   /* 0: free; else the subscriber's owner word */
    SHMRING_ATOMIC(uint32_t) mask;    /* event types wanted: bit (type - 1) */
    SHMRING_ATOMIC(uint32_t) dropped; /* messages for it that the full queue refused */
};

struct shmring_header {
    struct shmring_ident ident;        /*    0: 128 bytes */
    char name[SHMRING_NAME_MAX + 1];   /*  128: NUL-terminated, NUL-padded */
    uint8_t guard0[64];                /*  192 */
    struct shmring_side prod;          /*  256 */
    uint8_t guard1[64];                /*  320 */
    struct shmring_side cons;          /*  384 */
    uint8_t guard2[64];                /*  448 */
    struct shmring_wait wait;          /*  512 */
    uint8_t guard3[64];                /*  576 */
    struct shmring_stats stats;        /*  640: 128 bytes */
    struct shmring_freed freed;        /*  768: SPSC */
    uint8_t reserved1[SHMRING_SUBSCRIBERS_OFFSET - 832];
    struct shmring_subscriber subscribers[SHMRING_SUBSCRIBERS]; /* 1024: 1 KiB */
    uint8_t reserved[SHMRING_HEADER_SIZE - SHMRING_SUBSCRIBERS_OFFSET - SHMRING_SUBSCRIBERS * 16];
};

/* The owner word of a handle (SPSC side lines, MPMC participants, control subscribers): pid, 31
 * bits of its start time (clock ticks after boot, tells pid reuse; 0 if unknown) and the role in
 * the top bit, stored as one word so nobody sees one owner's pid with another's start time. It
 * says who holds an entry (for the tools and the death events, in the holder's PID namespace) and
 * is the word a taker or a reaper CASes; whether the holder lives is the kernel's word: the entry's
 * life semaphore or the side's presence count (lib/life.c). */
#define SHMRING_OWNER_CONSUMER (UINT64_C(1) << 63)
#define SHMRING_OWNER_PID(w) ((int32_t)(uint32_t)(w))
#define SHMRING_OWNER_START(w) (((w) >> 32) & 0x7fffffffu)
static inline uint64_t shmring__owner_word(int32_t pid, uint64_t start, int consumer)
{
    return (uint64_t)(uint32_t)pid | (start & 0x7fffffffu) << 32 | (consumer ? SHMRING_OWNER_CONSUMER : 0);
}

SHMRING__STATIC_ASSERT(sizeof(struct shmring_ident) == 128, "ident is two lines");
SHMRING__STATIC_ASSERT(sizeof(struct shmring_side) == SHMRING_CACHELINE, "side is one line");
SHMRING__STATIC_ASSERT(sizeof(struct shmring_wait) == SHMRING_CACHELINE, "wait is one line");
SHMRING__STATIC_ASSERT(sizeof(struct shmring_stats) == 128, "stats are two lines");
SHMRING__STATIC_ASSERT(offsetof(struct shmring_header, name) == 128, "ABI: name");
SHMRING__STATIC_ASSERT(offsetof(struct shmring_header, prod) == 256, "ABI: producer line");
SHMRING__STATIC_ASSERT(offsetof(struct shmring_header, cons) == 384, "ABI: consumer line");
SHMRING__STATIC_ASSERT(offsetof(struct shmring_header, wait) == 512, "ABI: wait line");
SHMRING__STATIC_ASSERT(offsetof(struct shmring_wait, consumer_wake_gen) == 12 &&
                           offsetof(struct shmring_wait, producer_wake_gen) == 16,
                       "ABI: the wake-up generations where the pending words were");
SHMRING__STATIC_ASSERT(offsetof(struct shmring_header, stats) == 640, "ABI: stats");
SHMRING__STATIC_ASSERT(sizeof(struct shmring_freed) == SHMRING_CACHELINE, "freed is one line");
SHMRING__STATIC_ASSERT(offsetof(struct shmring_header, freed) == 768, "ABI: freed line");
SHMRING__STATIC_ASSERT(sizeof(struct shmring_subscriber) == 16, "ABI: subscriber entry");
SHMRING__STATIC_ASSERT(offsetof(struct shmring_header, subscribers) == SHMRING_SUBSCRIBERS_OFFSET, "ABI: subscribers");
SHMRING__STATIC_ASSERT(sizeof(struct shmring_header) == SHMRING_HEADER_SIZE, "ABI: header size");
SHMRING__STATIC_ASSERT(sizeof(SHMRING_ATOMIC(uint64_t)) == 8, "ABI: 64-bit atomics are plain words");
SHMRING__STATIC_ASSERT(sizeof(SHMRING_ATOMIC(uint32_t)) == 4, "ABI: 32-bit atomics are plain words");

/* --- MPMC ring ------------------------------------------------------------------------------
 * After the header: a table of SHMRING_MPMC_PARTICIPANTS entries, one per attached handle, then
 * `capacity` slots of `stride` bytes (16 + slot_size rounded up to 16, 32, 64 or a multiple of 64:
 * no two slots share a cache line). A slot is a
 * 16-byte header and the payload. Slot sequence numbers follow Vyukov's bounded queue, on 64-bit
 * positions compared as differences (so any start works, and wrapping 2^64 is harmless):
 *   seq == pos              free for the producer of position pos
 *   seq == pos + 1          published: the record of position pos is there
 *   seq == pos + 2          skipped: position pos was claimed by a producer that died
 *   seq == pos + capacity   consumed: free for position pos + capacity
 * (capacity >= 4, so the four never meet.) Positions are claimed by a CAS on prod.pos (producers)
 * and cons.pos (consumers). Before its CAS a handle writes what it claims into its participant
 * entry, so that when a slot stays claimed but unpublished (unreleased), survivors can tell a slow
 * owner (alive: wait) from a dead one (skip it; alive means its life semaphore, lib/life.c, is not
 * 0). A survivor changes a slot only by a CAS on its sequence word, and so do the holder's publish
 * and release: a late survivor, or a holder judged dead, can never damage a slot that has moved on.
 */
#define SHMRING_MPMC_PARTICIPANTS 128u
#define SHMRING_MPMC_SLOT_HDR 16u

struct shmring_participant {
    SHMRING_ATOMIC(uint64_t) owner;      /* 0: free; else pid | (start time & 0x7fffffff) << 32 |
                                            (consumer ? 1 << 63 : 0), set by one CAS at attach (pid and
                                            start together tell pid reuse), cleared at close */
    uint32_t role;                       /* enum shmring_role (for the tools) */
    uint32_t reserved0;
    SHMRING_ATOMIC(uint64_t) intent_pos; /* first position this handle claims or holds */
    SHMRING_ATOMIC(uint32_t) intent_n;   /* how many from intent_pos */
    uint32_t reserved1;
    uint64_t reserved[4];
};

struct shmring_mpmc_slot_hdr {
    SHMRING_ATOMIC(uint64_t) seq; /* see above */
    uint32_t len;                 /* bytes of the record, <= slot_size */
    uint32_t reserved;
};

SHMRING__STATIC_ASSERT(sizeof(struct shmring_participant) == SHMRING_CACHELINE, "participant is one line");
SHMRING__STATIC_ASSERT(sizeof(struct shmring_mpmc_slot_hdr) == SHMRING_MPMC_SLOT_HDR, "slot header size");
#define SHMRING_MPMC_TABLE_SIZE (SHMRING_MPMC_PARTICIPANTS * SHMRING_CACHELINE)
#define SHMRING_MPMC_DATA_OFFSET (SHMRING_HEADER_SIZE + SHMRING_MPMC_TABLE_SIZE)

/* --- Broadcast ring (include/shmring/bcast.h) -----------------------------------------------
 * After the header: the consumer table (SHMRING_BCAST_CONSUMERS entries of one line each), the
 * ring's own line (struct shmring_bcast_ctl) and a guard line, then `capacity` slots of `stride`
 * bytes (the MPMC stride: shmring__mpmc_stride). A slot is a 16-byte header and the payload.
 * One producer writes positions in order; every consumer reads every position. The sequence word
 * of the slot of position pos says:
 *   seq == pos + 1          published: the record of position pos is there
 *   seq == pos              being written (LOSSY only: stored by claim before the payload is
 *                           touched, so a reader who read the slot can tell it was overwritten)
 * so the slot of index i only ever holds values = i or i + 1 (mod capacity); anything else is
 * corruption. A reader at pos computes d = seq - (pos + 1): 0 ready; -1 (being written, or never
 * written) or -capacity (the lap before) not yet; k * capacity or k * capacity - 1 (k >= 1) lapped:
 * the producer has reused the slot for a later lap. Slots start in the "being written" state of
 * the first lap (seq == pos).
 *
 * Consumer entries. A consumer takes a free entry by a CAS of its owner word (0 -> its owner
 * word), stores its start position, then sets `active` to the same owner word (release): the
 * producer counts an entry only when active == owner, so it never reads the position a previous
 * holder left. `pos` is the next position the consumer reads: every position before it was
 * released (BLOCK: the producer may overwrite them). An entry whose owner is dead is freed by
 * whoever notices (one CAS of active, then of owner: each death is found once).
 */
#define SHMRING_BCAST_CONSUMERS 64u

struct shmring_bcast_consumer {
    SHMRING_ATOMIC(uint64_t) owner;    /* 0: free; else the holder's owner word (consumer bit set) */
    SHMRING_ATOMIC(uint64_t) active;   /* == owner once pos is valid; 0 while joining or leaving */
    SHMRING_ATOMIC(uint64_t) pos;      /* next position it reads; the ones before are released */
    SHMRING_ATOMIC(uint64_t) lost;     /* records it lost by being lapped (for the tools) */
    SHMRING_ATOMIC(uint64_t) released; /* records it released (for the tools) */
    uint64_t reserved[3];
};

/* The ring's own line: written by the producer at every claim (claim_end) and by consumers when they
 * join (joins, hi); read by the producer at every claim (joins). */
struct shmring_bcast_ctl {
    SHMRING_ATOMIC(uint64_t) claim_end; /* end of the positions the producer claimed (>= prod.pos,
                                           <= prod.pos + capacity): it may be writing [prod.pos,
                                           claim_end), and so overwriting [prod.pos - capacity,
                                           claim_end - capacity) */
    SHMRING_ATOMIC(uint64_t) joins;     /* bumped by every consumer that registers: the producer
                                           (BLOCK) then looks at the table again */
    SHMRING_ATOMIC(uint32_t) hi;        /* entries ever taken are below this (consumers raise it) */
    uint32_t reserved0;
    uint64_t first;                     /* the first position (cfg->start_position); read-only */
    uint64_t reserved[4];
};

struct shmring_bcast_slot_hdr {
    SHMRING_ATOMIC(uint64_t) seq; /* see above */
    SHMRING_ATOMIC(uint32_t) len; /* bytes of the record, <= slot_size (atomic: LOSSY readers may
                                     read it while the producer rewrites it) */
    uint32_t reserved;
};

SHMRING__STATIC_ASSERT(sizeof(struct shmring_bcast_consumer) == SHMRING_CACHELINE, "bcast consumer is one line");
SHMRING__STATIC_ASSERT(sizeof(struct shmring_bcast_ctl) == SHMRING_CACHELINE, "bcast ctl is one line");
SHMRING__STATIC_ASSERT(sizeof(struct shmring_bcast_slot_hdr) == SHMRING_MPMC_SLOT_HDR, "bcast slot header size");
#define SHMRING_BCAST_TABLE_OFFSET SHMRING_HEADER_SIZE
#define SHMRING_BCAST_CTL_OFFSET (SHMRING_BCAST_TABLE_OFFSET + SHMRING_BCAST_CONSUMERS * SHMRING_CACHELINE)
#define SHMRING_BCAST_DATA_OFFSET (SHMRING_BCAST_CTL_OFFSET + 2 * SHMRING_CACHELINE)

#endif /* SHMRING_LAYOUT_H */
