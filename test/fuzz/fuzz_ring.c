/* Hostile-peer fuzzing: a correct producer and consumer work on a live ring while the fuzz input
 * also writes garbage into the segment (header fields, positions, record header words, MPMC slot
 * sequence words and lengths, participant entries), as a broken or malicious peer could.
 *
 * Pass: no sanitizer report, no access outside the segment, every call returns a documented code
 * (corruption shows as -EUCLEAN, -EMSGSIZE, ...), every record a call hands out lies inside the
 * segment, no call hangs (every wait uses timeout 0 and spin 0), and when the input mutated nothing
 * every record comes back exactly as it was written, in order.
 *
 * Out-of-segment accesses: the library's shmat() is wrapped (-Wl,--wrap=shmat,--wrap=shmdt) so
 * that every segment it maps lies between two PROT_NONE guard pages: a read or write past either
 * end faults at once (ASan does not watch shared memory).
 *
 * Input: byte 0 picks the ring kind and geometry, then a sequence of operations (one byte of
 * opcode, arguments from the following bytes). Built and run by test/fuzz/run.sh (clang-14,
 * -fsanitize=fuzzer,address,undefined).
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <unistd.h>

#include "shmring/shmring.h"

/* --- guard pages around every segment the library maps -------------------------------------- */

void *__real_shmat(int shmid, const void *addr, int flags);
int __real_shmdt(const void *addr);
void *__wrap_shmat(int shmid, const void *addr, int flags);
int __wrap_shmdt(const void *addr);

#define MAX_MAPS 16
static struct {
    uint8_t *base; /* the reservation: guard page, segment, guard page */
    size_t len;
} maps[MAX_MAPS];
static size_t page;

void *__wrap_shmat(int shmid, const void *addr, int flags)
{
    struct shmid_ds ds;
    size_t seg, len;
    uint8_t *r;
    void *p;
    int i;
    if (addr != NULL || shmctl(shmid, IPC_STAT, &ds) != 0)
        return __real_shmat(shmid, addr, flags);
    seg = (ds.shm_segsz + page - 1) & ~(page - 1);
    len = seg + 2 * page;
    r = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (r == MAP_FAILED)
        return (void *)-1;
    p = __real_shmat(shmid, r + page, flags | SHM_REMAP);
    if (p == (void *)-1) {
        munmap(r, len);
        return p;
    }
    for (i = 0; i < MAX_MAPS; i++)
        if (maps[i].base == NULL) {
            maps[i].base = r;
            maps[i].len = len;
            return p;
        }
    fprintf(stderr, "fuzz_ring: more than %d segments mapped at once\n", MAX_MAPS);
    abort();
}

int __wrap_shmdt(const void *addr)
{
    int i, rc = __real_shmdt(addr);
    for (i = 0; i < MAX_MAPS; i++)
        if (maps[i].base != NULL && maps[i].base + page == (const uint8_t *)addr) {
            /* The two guard pages only. Not the whole reservation: the segment's range is a hole
             * since shmdt, and another thread (liburcu's call_rcu worker, the sanitizer's
             * allocator) may have mapped something there meanwhile, which munmap would pull from
             * under it (found by the fuzzer: a SEGV on a write in thread T2). */
            munmap(maps[i].base, page);
            munmap(maps[i].base + maps[i].len - page, page);
            maps[i].base = NULL;
        }
    return rc;
}

/* --- input --------------------------------------------------------------------------------- */

struct in {
    const uint8_t *p;
    size_t n;
};

static unsigned u8(struct in *in)
{
    if (in->n == 0)
        return 0;
    in->n--;
    return *in->p++;
}

static uint64_t u64(struct in *in)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)u8(in) << (8 * i);
    return v;
}

#define FAIL(...)                                                                                  \
    do {                                                                                           \
        fprintf(stderr, "fuzz_ring: " __VA_ARGS__);                                                \
        fprintf(stderr, "\n");                                                                     \
        abort();                                                                                   \
    } while (0)

/* Codes any fast-path or waiting call may return on a ring that another process damaged. */
static void check_code(const char *what, long rc)
{
    switch (-rc) {
    case EAGAIN:
    case EUCLEAN:
    case EMSGSIZE:
    case EPIPE:
    case EDEADLK:
    case EBUSY:
    case ETIMEDOUT:
        return;
    default:
        FAIL("%s returned %ld (%s)", what, rc, shmring_err_name((int)rc));
    }
}

/* A value to write over a 64-bit word: garbage, or near what is there (more likely to pass the
 * cheap checks and reach the deeper ones). */
static uint64_t mutant(struct in *in, uint64_t cur)
{
    switch (u8(in) % 6) {
    case 0:
        return u64(in);
    case 1:
        return cur + (uint64_t)(int8_t)u8(in);
    case 2:
        return cur ^ (UINT64_C(1) << (u8(in) % 64));
    case 3: /* a record header word with the right tag */
        return SHMRING_REC_WORD(1 + u8(in) % 3, (uint32_t)u64(in) % 8192);
    case 4:
        return 0;
    default:
        return ~UINT64_C(0) - u8(in);
    }
}

static void mutate_at(struct in *in, void *word)
{
    _Atomic uint64_t *w = (_Atomic uint64_t *)word;
    atomic_store_explicit(w, mutant(in, atomic_load_explicit(w, memory_order_relaxed)), memory_order_relaxed);
}

static char name[64];
static unsigned serial;

static void fill(uint8_t *p, size_t len, uint64_t seq)
{
    for (size_t i = 0; i < len; i++)
        p[i] = (uint8_t)(seq * 131 + i * 7 + 1);
}

static int check_fill(const uint8_t *p, size_t len, uint64_t seq)
{
    for (size_t i = 0; i < len; i++)
        if (p[i] != (uint8_t)(seq * 131 + i * 7 + 1))
            return 0;
    return 1;
}

/* --- SPSC ---------------------------------------------------------------------------------- */

/* Inside [lo, hi)? */
static void in_range(const char *what, const void *p, size_t len, const void *lo, const void *hi)
{
    const uint8_t *a = p, *l = lo, *h = hi;
    if (a < l || a > h || len > (size_t)(h - a))
        FAIL("%s: %zu bytes at %p, outside [%p, %p)", what, len, p, lo, hi);
}

static void fuzz_spsc(struct in *in, unsigned geo)
{
    struct shmring_config cfg;
    struct shmring_spsc *p = NULL, *c = NULL;
    uint64_t sent = 0, got = 0, cap;
    int mutated = 0, err;
    uint8_t buf[8192];

    shmring_config_init(&cfg);
    cfg.capacity = UINT64_C(256) << (geo % 5); /* 256 B .. 4 KiB */
    if (geo & 0x80)
        cfg.start_position = UINT64_MAX - 512; /* positions wrap 2^64 during the run */
    cap = cfg.capacity;
    if ((err = shmring_spsc_create(name, &cfg)) != 0)
        FAIL("create %s: %s", name, shmring_strerror(err));
    if (shmring_spsc_open(name, SHMRING_PRODUCER, &p) != 0 || shmring_spsc_open(name, SHMRING_CONSUMER, &c) != 0)
        FAIL("open %s", name);
    shmring_spsc_set_spin(p, 0);
    shmring_spsc_set_spin(c, 0);

    for (int ops = 0; in->n > 0 && ops < 256; ops++) {
        unsigned op = u8(in) % 12;
        struct shmring_header *h = p ? p->hdr : c ? c->hdr : NULL;
        uint8_t *data = h ? (uint8_t *)h + SHMRING_HEADER_SIZE : NULL;
        switch (op) {
        case 0: /* push */
        case 1: {
            if (!p)
                break;
            size_t len = u8(in) * (1 + u8(in) % 16) % (cap + 16);
            fill(buf, len, sent);
            err = op == 0 ? shmring_spsc_push(p, buf, len) : shmring_spsc_push_wait(p, buf, len, 0);
            if (err == 0)
                sent++;
            else
                check_code("push", err);
            break;
        }
        case 2: { /* reserve several, commit once */
            if (!p)
                break;
            unsigned n = 1 + u8(in) % 4, i;
            for (i = 0; i < n; i++) {
                void *b = NULL;
                size_t len = u8(in) % 200;
                err = shmring_spsc_reserve(p, len, &b);
                if (err) {
                    check_code("reserve", err);
                    break;
                }
                in_range("reserve", b, len, p->data, p->data + cap);
                fill(b, len, sent + i);
            }
            if (shmring_spsc_commit(p) != i)
                FAIL("commit of %u records returned another count", i);
            sent += i;
            break;
        }
        case 3: /* pop */
        case 4: {
            if (!c)
                break;
            size_t want = op == 3 ? sizeof(buf) : u8(in);
            ssize_t n = op == 3 ? shmring_spsc_pop(c, buf, want) : shmring_spsc_pop_wait(c, buf, want, 0);
            if (n < 0) {
                check_code("pop", n);
                break;
            }
            if ((size_t)n > want)
                FAIL("pop returned %zd bytes into a %zu-byte buffer", n, want);
            if (!mutated && !check_fill(buf, (size_t)n, got))
                FAIL("record %llu: wrong contents with no corruption", (unsigned long long)got);
            got++;
            break;
        }
        case 5: { /* peek several in place, release once */
            if (!c)
                break;
            unsigned n = 1 + u8(in) % 4;
            for (unsigned i = 0; i < n; i++) {
                const void *b = NULL;
                size_t len = 0;
                err = shmring_spsc_peek(c, &b, &len);
                if (err) {
                    check_code("peek", err);
                    break;
                }
                in_range("peek", b, len, c->data, c->data + cap);
                if (!mutated && !check_fill(b, len, got))
                    FAIL("record %llu: wrong contents with no corruption", (unsigned long long)got);
                got++;
            }
            shmring_spsc_release(c);
            break;
        }
        case 6: { /* wait for data / space, timeout 0 */
            const void *b = NULL;
            size_t len = 0;
            if (c && (err = shmring_spsc_peek_wait(c, &b, &len, 0)) != 0)
                check_code("peek_wait", err);
            else if (c) {
                in_range("peek_wait", b, len, c->data, c->data + cap);
                if (!mutated && !check_fill(b, len, got))
                    FAIL("record %llu: wrong contents with no corruption", (unsigned long long)got);
                got++;
                shmring_spsc_release(c);
            }
            if (p) {
                void *w = NULL;
                size_t l = u8(in) * 8u;
                if ((err = shmring_spsc_reserve_wait(p, l, &w, 0)) != 0)
                    check_code("reserve_wait", err);
                else {
                    in_range("reserve_wait", w, l, p->data, p->data + cap);
                    fill(w, l, sent++);
                    shmring_spsc_commit(p);
                }
            }
            break;
        }
        case 7: { /* garbage into a header word the sides use (768: freed.pos) */
            static const unsigned off[] = {256, 264, 384, 392, 512, 516, 520, 524, 528, 640, 768};
            if (!h)
                break;
            unsigned o = off[u8(in) % (sizeof(off) / sizeof(off[0]))];
            if (o >= 512 && o < 640) /* 32-bit fields */
                *(volatile uint32_t *)((uint8_t *)h + o) = (uint32_t)mutant(in, 0);
            else
                mutate_at(in, (uint8_t *)h + o);
            mutated = 1;
            break;
        }
        case 8: /* garbage into the data area: where the consumer looks next, or anywhere */
            if (!h)
                break;
            if (c && u8(in) & 1)
                mutate_at(in, data + (c->next & (cap - 1)));
            else
                mutate_at(in, data + (u64(in) % cap & ~(uint64_t)7));
            mutated = 1;
            break;
        case 9: /* identity and geometry (seen by the next open; magic left alone, see run.sh) */
            if (!h)
                break;
            mutate_at(in, (uint8_t *)h + 8 * (1 + u8(in) % 15));
            mutated = 1;
            break;
        case 10: /* the consumer goes and comes back */
            if (c)
                shmring_spsc_close(c);
            c = NULL;
            if ((err = shmring_spsc_open(name, SHMRING_CONSUMER, &c)) != 0) {
                if (!mutated)
                    FAIL("consumer reopen on an intact ring: %s", shmring_strerror(err));
                c = NULL;
            } else {
                shmring_spsc_set_spin(c, 0);
                if (!mutated)
                    got = c->released;
            }
            break;
        case 11: /* the producer goes and comes back (recovers its tail by walking the records) */
            if (p)
                shmring_spsc_close(p);
            p = NULL;
            if ((err = shmring_spsc_open(name, SHMRING_PRODUCER, &p)) != 0) {
                if (!mutated)
                    FAIL("producer reopen on an intact ring: %s", shmring_strerror(err));
                p = NULL;
            } else {
                shmring_spsc_set_spin(p, 0);
                if (!mutated)
                    sent = p->committed;
            }
            break;
        }
    }
    shmring_spsc_close(p);
    shmring_spsc_close(c);
    if ((err = shmring_unlink(name)) != 0)
        FAIL("unlink %s: %s", name, shmring_strerror(err));
}

/* --- MPMC ---------------------------------------------------------------------------------- */

static void fuzz_mpmc(struct in *in, unsigned geo)
{
    struct shmring_config cfg;
    struct shmring_mpmc *q[4] = {NULL, NULL, NULL, NULL}; /* producers 0, 1; consumers 2, 3 */
    struct shmring_mpmc_span span[4];
    int held[4] = {0, 0, 0, 0};
    uint64_t cap;
    uint32_t slot;
    int mutated = 0, err;
    uint8_t buf[1024];

    shmring_config_init(&cfg);
    cfg.capacity = UINT64_C(4) << (geo % 3);         /* 4 .. 16 slots */
    cfg.slot_size = 8u << ((geo >> 2) % 5);          /* 8 .. 128 bytes */
    if (geo & 0x80)
        cfg.start_position = UINT64_MAX - 5;
    cap = cfg.capacity;
    slot = cfg.slot_size;
    if ((err = shmring_mpmc_create(name, &cfg)) != 0)
        FAIL("create %s: %s", name, shmring_strerror(err));
    for (int i = 0; i < 4; i++) {
        if ((err = shmring_mpmc_open(name, i < 2 ? SHMRING_PRODUCER : SHMRING_CONSUMER, &q[i])) != 0)
            FAIL("open %s: %s", name, shmring_strerror(err));
        shmring_mpmc_set_spin(q[i], 0);
    }
    uint64_t stride = q[0]->stride;

    for (int ops = 0; in->n > 0 && ops < 256; ops++) {
        unsigned op = u8(in) % 9, who = u8(in) % 4;
        struct shmring_mpmc *m = q[who];
        int producer = who < 2;
        if (!m)
            continue;
        /* Each handle has its own mapping of the segment. */
        struct shmring_header *h = m->hdr;
        uint8_t *slots = m->slots, *end = slots + cap * stride;
        switch (op) {
        case 0: /* claim or take (some), or the _wait form with timeout 0 */
        case 1: {
            unsigned want = 1 + u8(in) % 5;
            int n;
            if (held[who])
                break;
            if (op == 0)
                n = producer ? shmring_mpmc_claim(m, want, &span[who]) : shmring_mpmc_take(m, want, &span[who]);
            else
                n = producer ? shmring_mpmc_claim_wait(m, want, &span[who], 0)
                             : shmring_mpmc_take_wait(m, want, &span[who], 0);
            if (n < 0) {
                if (n != -EINVAL || want <= cap)
                    check_code("claim/take", n);
                break;
            }
            if (n == 0 || (unsigned)n > want)
                FAIL("claim/take of %u returned %d", want, n);
            held[who] = 1;
            for (int i = 0; i < n; i++) {
                if (producer) {
                    uint8_t *s = shmring_mpmc_slot(m, &span[who], (unsigned)i);
                    in_range("slot", s, slot, slots, end);
                    memset(s, 0x5a, slot);
                } else {
                    const void *b = NULL;
                    size_t len = 0;
                    err = shmring_mpmc_record(m, &span[who], (unsigned)i, &b, &len);
                    if (err)
                        check_code("record", err);
                    else {
                        in_range("record", b, len, slots, end);
                        if (len > slot)
                            FAIL("record of %zu bytes in %u-byte slots", len, slot);
                        memcpy(buf, b, len);
                    }
                }
            }
            break;
        }
        case 2: { /* publish or release what is held */
            uint32_t lens[8];
            if (!held[who])
                break;
            for (unsigned i = 0; i < 8; i++)
                lens[i] = u8(in) * 3u;
            if (producer)
                shmring_mpmc_publish(m, &span[who], lens);
            else
                shmring_mpmc_release(m, &span[who]);
            held[who] = 0;
            break;
        }
        case 3: { /* push / pop */
            ssize_t n;
            if (held[who])
                break;
            if (producer) {
                size_t len = u8(in) % (slot + 4);
                memset(buf, 0x33, len);
                err = shmring_mpmc_push(m, buf, len);
                if (err)
                    check_code("push", err);
            } else {
                n = shmring_mpmc_pop(m, buf, sizeof(buf));
                if (n < 0)
                    check_code("pop", n);
                else if ((size_t)n > slot)
                    FAIL("pop of %zd bytes from %u-byte slots", n, slot);
            }
            break;
        }
        case 4: /* garbage into a slot's sequence word or length */
        case 5: {
            uint64_t pos = u8(in) & 1 ? shmring__load(producer ? &h->prod.pos : &h->cons.pos, relaxed) : u8(in);
            uint8_t *s = slots + (pos & (cap - 1)) * stride;
            if (op == 4)
                mutate_at(in, s);
            else
                mutate_at(in, s + 8); /* len and its reserved neighbour */
            mutated = 1;
            break;
        }
        case 6: { /* garbage into the positions, wait line, state */
            static const unsigned off[] = {256, 384, 512, 520, 528, 640};
            unsigned o = off[u8(in) % (sizeof(off) / sizeof(off[0]))];
            /* Half of the time a position lands within a lap of the other side's (plausible
             * values reach deeper code), else anything. (A producer position more than a lap
             * ahead used to make take_wait skip slots forever: fixed, recover() in lib/mpmc.c.) */
            if ((o == 256 || o == 384) && u8(in) % 2) {
                uint64_t other = shmring__load(o == 256 ? &h->cons.pos : &h->prod.pos, relaxed);
                uint64_t d = u8(in) % (cap + 1);
                shmring__store(o == 256 ? &h->prod.pos : &h->cons.pos, o == 256 ? other + d : other - d, relaxed);
                mutated = 1;
                break;
            }
            mutate_at(in, (uint8_t *)h + o);
            mutated = 1;
            break;
        }
        case 7: { /* garbage into a participant entry (owner, intent) */
            uint8_t *t = (uint8_t *)h + SHMRING_HEADER_SIZE + (u8(in) % 8) * 64u;
            mutate_at(in, t + (u8(in) % 4) * 8);
            mutated = 1;
            break;
        }
        case 8: /* a handle closes (its held slots are freed) and another opens */
            shmring_mpmc_close(m);
            held[who] = 0;
            q[who] = NULL;
            if ((err = shmring_mpmc_open(name, producer ? SHMRING_PRODUCER : SHMRING_CONSUMER, &q[who])) != 0) {
                if (!mutated)
                    FAIL("reopen on an intact ring: %s", shmring_strerror(err));
                q[who] = NULL;
            } else {
                shmring_mpmc_set_spin(q[who], 0);
            }
            break;
        }
    }
    (void)mutated;
    for (int i = 0; i < 4; i++)
        shmring_mpmc_close(q[i]);
    if ((err = shmring_unlink(name)) != 0)
        FAIL("unlink %s: %s", name, shmring_strerror(err));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct in in = {data, size};
    unsigned kind, geo;
    if (size < 2)
        return 0;
    if (page == 0)
        page = (size_t)sysconf(_SC_PAGESIZE);
    kind = u8(&in);
    geo = u8(&in);
    snprintf(name, sizeof(name), "fz%d_%u", (int)getpid(), serial++);
    if (getenv("FUZZ_GUARD_SELFTEST")) {
        /* run.sh checks that this dies: the byte after a mapped segment is a guard page. */
        struct shmring_spsc *r = NULL;
        struct shmring_config cfg;
        shmring_config_init(&cfg);
        cfg.capacity = 4096;
        if (shmring_spsc_create(name, &cfg) != 0 || shmring_spsc_open(name, SHMRING_CONSUMER, &r) != 0)
            FAIL("selftest: cannot make a ring");
        shmring_unlink(name); /* the segment goes with the process */
        fprintf(stderr, "fuzz_ring: selftest: reading the byte after the segment\n");
        volatile uint8_t *after = r->data + r->capacity;
        fprintf(stderr, "fuzz_ring: selftest: read %u: NO GUARD PAGE\n", *after);
        exit(0);
    }
    if (kind & 1)
        fuzz_mpmc(&in, geo);
    else
        fuzz_spsc(&in, geo);
    return 0;
}
