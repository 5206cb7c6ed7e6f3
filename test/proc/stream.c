#include "stream.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

#define MIX1 UINT64_C(0xBF58476D1CE4E5B9)
#define MIX2 UINT64_C(0x94D049BB133111EB)

static uint64_t mix(uint64_t z)
{
    z = (z ^ (z >> 30)) * MIX1;
    z = (z ^ (z >> 27)) * MIX2;
    return z ^ (z >> 31);
}

static uint64_t record_hash(const uint8_t *p, size_t len, uint64_t seq)
{
    uint64_t h = mix(seq * UINT64_C(0x9E3779B97F4A7C15) + len);
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        h = mix(h ^ w);
    }
    if (i < len) {
        uint64_t w = 0;
        memcpy(&w, p + i, len - i);
        h = mix(h ^ w ^ ((uint64_t)(len - i) << 56));
    }
    return h;
}

static void put_prefix(uint8_t *p, size_t len, size_t at, uint64_t v)
{
    if (len > at) {
        size_t n = len - at < 8 ? len - at : 8;
        memcpy(p + at, &v, n); /* little-endian, truncated for short records */
    }
}

void stream_init(struct stream *s, uint64_t seed, uint32_t max_len)
{
    s->rng = seed;
    s->seq = 0;
    s->csum = 0;
    s->max_len = max_len;
}

size_t stream_next_len(struct stream *s)
{
    return (size_t)(testutil_rand(&s->rng) % ((uint64_t)s->max_len + 1));
}

void stream_make(struct stream *s, void *buf, size_t len)
{
    uint8_t *p = buf;
    testutil_fill(p, len, s->seq);
    put_prefix(p, len, 0, s->seq);
    put_prefix(p, len, 8, s->csum);
    s->csum = mix(s->csum + record_hash(p, len, s->seq));
    s->seq++;
}

int stream_check(struct stream *s, const void *buf, size_t len, size_t expect_len, char *msg, size_t msglen)
{
    /* Large enough for any record the tests use: records are at most capacity - 16 bytes. */
    static __thread uint8_t *scratch;
    static __thread size_t scratch_len;
    struct stream next = *s;
    const uint8_t *p = buf;
    size_t i;
    if (len != expect_len) {
        uint64_t got_seq = 0;
        memcpy(&got_seq, p, len < 8 ? len : 8);
        snprintf(msg, msglen, "record %" PRIu64 ": length %zu, expected %zu (its first word reads seq %" PRIu64 ")",
                 s->seq, len, expect_len, got_seq);
        return -1;
    }
    if (scratch_len < len) {
        free(scratch);
        scratch_len = len < 4096 ? 4096 : len;
        scratch = malloc(scratch_len);
        if (scratch == NULL) {
            scratch_len = 0;
            snprintf(msg, msglen, "out of memory");
            return -1;
        }
    }
    stream_make(&next, scratch, len);
    if (len && memcmp(scratch, p, len) != 0) {
        for (i = 0; i < len && scratch[i] == p[i]; i++)
            ;
        snprintf(msg, msglen,
                 "record %" PRIu64 " (%zu bytes): byte %zu is 0x%02x, expected 0x%02x (%s)", s->seq, len, i, p[i],
                 scratch[i], i < 8 ? "sequence number" : i < 16 ? "running checksum" : "content");
        return -1;
    }
    *s = next;
    return 0;
}

void stream_make_trailer(const struct stream *s, void *buf)
{
    uint64_t w[3] = {STREAM_TRAILER_MAGIC, s->seq, s->csum};
    memcpy(buf, w, sizeof(w));
}

int stream_check_trailer(const struct stream *s, const void *buf, size_t len, char *msg, size_t msglen)
{
    uint64_t w[3];
    if (len != STREAM_TRAILER_LEN) {
        snprintf(msg, msglen, "trailer: length %zu, expected %u", len, STREAM_TRAILER_LEN);
        return -1;
    }
    memcpy(w, buf, sizeof(w));
    if (w[0] != STREAM_TRAILER_MAGIC || w[1] != s->seq || w[2] != s->csum) {
        snprintf(msg, msglen,
                 "trailer: magic %#" PRIx64 " count %" PRIu64 " checksum %#" PRIx64 ", expected %#" PRIx64
                 " %" PRIu64 " %#" PRIx64,
                 w[0], w[1], w[2], STREAM_TRAILER_MAGIC, s->seq, s->csum);
        return -1;
    }
    return 0;
}

void stream_opts_init(struct stream_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->count = 1000;
    o->seed = 1;
    o->max_len = 256;
    o->api = STREAM_COPY;
    o->batch = 16;
    o->timeout_ns = 10 * 1000000000LL;
    o->spin = -1;
}

static void stall(uint32_t us)
{
    struct timespec ts = {(time_t)(us / 1000000u), (long)(us % 1000000u) * 1000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

__attribute__((format(printf, 3, 4))) static int fail(struct stream_report *rep, int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rep->msg, sizeof(rep->msg), fmt, ap);
    va_end(ap);
    rep->err = err;
    return -1;
}

static uint32_t draw_batch(uint64_t *rng, uint32_t batch)
{
    return batch <= 1 ? 1 : 1 + (uint32_t)(testutil_rand(rng) % batch);
}

/* Producer, zero-copy: reserve (waiting if needed), and commit what is pending if the wait would
 * otherwise be for our own records. */
static int reserve_one(struct shmring_spsc *r, size_t len, void **buf, int64_t timeout_ns, unsigned *pending)
{
    int err = shmring_spsc_reserve_wait(r, len, buf, timeout_ns);
    if (err == -EDEADLK && *pending) {
        unsigned n = shmring_spsc_commit(r);
        if (n != *pending)
            return -EPROTO;
        *pending = 0;
        err = shmring_spsc_reserve_wait(r, len, buf, timeout_ns);
    }
    return err;
}

int stream_produce(struct shmring_spsc *r, const struct stream_opts *o, struct stream_report *rep)
{
    struct stream s;
    uint64_t batch_rng = o->seed ^ UINT64_C(0xba7c4e5);
    size_t cap = (o->max_len > STREAM_TRAILER_LEN ? o->max_len : STREAM_TRAILER_LEN);
    uint8_t *tmp = malloc(cap);
    int err, ret = 0;

    memset(rep, 0, sizeof(*rep));
    if (tmp == NULL)
        return fail(rep, -ENOMEM, "out of memory");
    stream_init(&s, o->seed, o->max_len);
    if (o->spin >= 0)
        shmring_spsc_set_spin(r, (uint32_t)o->spin);

    while (s.seq < o->count) {
        if (o->stop_after && s.seq == o->stop_after)
            break;
        if (o->api == STREAM_COPY) {
            size_t len = stream_next_len(&s);
            uint64_t seq = s.seq;
            if (o->stall_every && seq && seq % o->stall_every == 0)
                stall(o->stall_us);
            stream_make(&s, tmp, len);
            err = shmring_spsc_push_wait(r, tmp, len, o->timeout_ns);
            if (err) {
                ret = fail(rep, err, "push_wait of record %" PRIu64 " (%zu bytes): %s", seq, len,
                           shmring_err_name(err));
                goto out;
            }
            rep->bytes += len;
        } else {
            uint32_t k = draw_batch(&batch_rng, o->batch), j;
            unsigned pending = 0, n;
            for (j = 0; j < k && s.seq < o->count && !(o->stop_after && s.seq == o->stop_after); j++) {
                size_t len = stream_next_len(&s);
                uint64_t seq = s.seq;
                void *buf = NULL;
                if (o->stall_every && seq && seq % o->stall_every == 0)
                    stall(o->stall_us);
                err = reserve_one(r, len, &buf, o->timeout_ns, &pending);
                if (err) {
                    ret = fail(rep, err, "reserve_wait of record %" PRIu64 " (%zu bytes, %u pending): %s", seq,
                               len, pending, shmring_err_name(err));
                    goto out;
                }
                stream_make(&s, buf, len);
                pending++;
                rep->bytes += len;
            }
            n = shmring_spsc_commit(r);
            if (n != pending) {
                ret = fail(rep, -EPROTO, "commit published %u records, %u were reserved", n, pending);
                goto out;
            }
        }
        rep->records = s.seq;
    }
    rep->records = s.seq;
    rep->csum = s.csum;
    if (o->stop_after && s.seq == o->stop_after) {
        for (uint32_t j = 0; j < o->leave_reserved; j++) {
            size_t len = stream_next_len(&s);
            void *buf = NULL;
            err = shmring_spsc_reserve_wait(r, len, &buf, o->timeout_ns);
            if (err) {
                ret = fail(rep, err, "reserve_wait of uncommitted record %u: %s", j, shmring_err_name(err));
                goto out;
            }
            stream_make(&s, buf, len);
        }
        ret = STREAM_STOPPED;
        goto out;
    }
    stream_make_trailer(&s, tmp);
    err = shmring_spsc_push_wait(r, tmp, STREAM_TRAILER_LEN, o->timeout_ns);
    if (err)
        ret = fail(rep, err, "push_wait of the trailer: %s", shmring_err_name(err));
out:
    free(tmp);
    return ret;
}

int stream_consume(struct shmring_spsc *r, const struct stream_opts *o, struct stream_report *rep)
{
    struct stream s;
    uint64_t batch_rng = o->seed ^ UINT64_C(0xba7c4e5);
    size_t cap = (o->max_len > STREAM_TRAILER_LEN ? o->max_len : STREAM_TRAILER_LEN);
    uint8_t *buf = malloc(cap);
    char msg[200];
    int err, ret = 0;
    ssize_t n;

    memset(rep, 0, sizeof(*rep));
    if (buf == NULL)
        return fail(rep, -ENOMEM, "out of memory");
    stream_init(&s, o->seed, o->max_len);
    if (o->spin >= 0)
        shmring_spsc_set_spin(r, (uint32_t)o->spin);
    while (s.seq < o->start_at)
        stream_make(&s, buf, stream_next_len(&s)); /* the records another consumer took */

    while (s.seq < o->count) {
        if (o->stop_after && s.seq == o->stop_after)
            break;
        if (o->api == STREAM_COPY) {
            size_t len = stream_next_len(&s);
            if (o->stall_every && s.seq % o->stall_every == o->stall_every / 2)
                stall(o->stall_us);
            n = shmring_spsc_pop_wait(r, buf, cap, o->timeout_ns);
            if (n < 0) {
                ret = fail(rep, (int)n, "pop_wait of record %" PRIu64 ": %s", s.seq, shmring_err_name((int)n));
                goto out;
            }
            if (stream_check(&s, buf, (size_t)n, len, msg, sizeof(msg)) != 0) {
                ret = fail(rep, -EBADMSG, "%s", msg);
                goto out;
            }
            rep->bytes += (size_t)n;
        } else {
            uint32_t k = draw_batch(&batch_rng, o->batch), j;
            unsigned released;
            for (j = 0; j < k && s.seq < o->count && !(o->stop_after && s.seq == o->stop_after); j++) {
                size_t len, got = 0;
                const void *p = NULL;
                if (o->stall_every && s.seq % o->stall_every == o->stall_every / 2)
                    stall(o->stall_us);
                /* The first record of a batch may be waited for; later ones only if present, so
                 * that we never sleep holding records the producer needs back. */
                err = j == 0 ? shmring_spsc_peek_wait(r, &p, &got, o->timeout_ns) : shmring_spsc_peek(r, &p, &got);
                if (err == -EAGAIN && j > 0)
                    break;
                len = stream_next_len(&s);
                if (err) {
                    ret = fail(rep, err, "%s of record %" PRIu64 ": %s", j == 0 ? "peek_wait" : "peek", s.seq,
                               shmring_err_name(err));
                    goto out;
                }
                if (stream_check(&s, p, got, len, msg, sizeof(msg)) != 0) {
                    ret = fail(rep, -EBADMSG, "%s", msg);
                    goto out;
                }
                rep->bytes += got;
            }
            released = shmring_spsc_release(r);
            if (released != j) {
                ret = fail(rep, -EPROTO, "release freed %u records, %u were peeked", released, j);
                goto out;
            }
        }
        rep->records = s.seq;
    }
    rep->records = s.seq;
    rep->csum = s.csum;
    if (o->stop_after && s.seq == o->stop_after) {
        for (uint32_t j = 0; j < o->peek_extra; j++) {
            size_t len = stream_next_len(&s), got = 0;
            const void *p = NULL;
            err = shmring_spsc_peek_wait(r, &p, &got, o->timeout_ns);
            if (err) {
                ret = fail(rep, err, "peek_wait of extra record %" PRIu64 ": %s", s.seq, shmring_err_name(err));
                goto out;
            }
            if (stream_check(&s, p, got, len, msg, sizeof(msg)) != 0) {
                ret = fail(rep, -EBADMSG, "%s", msg);
                goto out;
            }
        }
        ret = STREAM_STOPPED;
        goto out;
    }
    n = shmring_spsc_pop_wait(r, buf, cap, o->timeout_ns);
    if (n < 0) {
        ret = fail(rep, (int)n, "pop_wait of the trailer: %s", shmring_err_name((int)n));
        goto out;
    }
    if (stream_check_trailer(&s, buf, (size_t)n, msg, sizeof(msg)) != 0) {
        ret = fail(rep, -EBADMSG, "%s", msg);
        goto out;
    }
    if (o->no_eos)
        goto out;
    n = shmring_spsc_pop_wait(r, buf, cap, o->timeout_ns);
    if (n != -EPIPE) {
        ret = fail(rep, n < 0 ? (int)n : -EPROTO, "after the trailer: pop_wait returned %zd (%s), expected -EPIPE", n,
                   n < 0 ? shmring_err_name((int)n) : "a record");
        goto out;
    }
    rep->eos_ns = testutil_now_ns();
out:
    free(buf);
    return ret;
}

int stream_under_asan(void)
{
#if defined(__SANITIZE_ADDRESS__)
    return 1;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
    return 1;
#else
    return 0;
#endif
#else
    return 0;
#endif
}

uint64_t stream_scaled(uint64_t count, unsigned sanitizer_div)
{
    const char *env = getenv("SHMRING_TEST_SCALE");
    double scale = env && *env ? atof(env) : 1.0;
    double n = (double)count * (scale > 0 ? scale : 1.0);
    if (stream_under_asan() && sanitizer_div > 1)
        n /= sanitizer_div;
    return n < 1 ? 1 : (uint64_t)n;
}
