/* A verifiable record stream for the multi-process tests, and producer/consumer loops over an
 * SPSC ring that send and check it.
 *
 * Record i (a 64-bit sequence number, from 0) has a length drawn from a generator seeded with the
 * stream's seed, uniform in [0, max_len]. Its bytes are testutil_fill(seq), then the first 8 bytes
 * (as far as the record reaches) are overwritten with seq and the next 8 with the running checksum
 * of every record before it. After `count` records the producer sends a trailer
 * {STREAM_TRAILER_MAGIC, count, final checksum} and closes; the consumer checks order, every
 * length, every byte, the running and final checksums, and then expects end of stream (-EPIPE).
 * Both sides compute everything from (seed, seq), so a producer and a consumer in unrelated
 * processes agree with nothing shared but the ring's name and the parameters.
 */
#ifndef SHMRING_TEST_PROC_STREAM_H
#define SHMRING_TEST_PROC_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include "shmring/shmring.h"

#define STREAM_TRAILER_MAGIC UINT64_C(0x52454c494152545f) /* "_TRAILER" */
#define STREAM_TRAILER_LEN 24u

/* The generator state of one side. */
struct stream {
    uint64_t rng;     /* lengths */
    uint64_t seq;     /* next record */
    uint64_t csum;    /* running checksum of records 0..seq-1 */
    uint32_t max_len;
};

void stream_init(struct stream *s, uint64_t seed, uint32_t max_len);
/* Length of the next record (advances the length generator; call once per record). */
size_t stream_next_len(struct stream *s);
/* Writes record s->seq of `len` bytes into buf and advances seq and csum. */
void stream_make(struct stream *s, void *buf, size_t len);
/* Checks that buf holds record s->seq of `len` bytes, advances on success. Returns 0, or -1 with a
 * message in msg. */
int stream_check(struct stream *s, const void *buf, size_t len, size_t expect_len, char *msg, size_t msglen);
/* The trailer after the last record. */
void stream_make_trailer(const struct stream *s, void *buf);
int stream_check_trailer(const struct stream *s, const void *buf, size_t len, char *msg, size_t msglen);

enum stream_api {
    STREAM_COPY = 0, /* push_wait / pop_wait */
    STREAM_ZC = 1,   /* reserve(_wait) K, commit / peek(_wait) K, release */
};

struct stream_opts {
    uint64_t count;       /* data records (a trailer follows) */
    uint64_t seed;
    uint32_t max_len;     /* record lengths in [0, max_len] */
    int api;              /* enum stream_api */
    uint32_t batch;       /* STREAM_ZC: 1..batch records per commit / release (drawn per batch) */
    int64_t timeout_ns;   /* of every blocking call */
    int64_t spin;         /* < 0: the library's default */
    uint64_t stall_every; /* 0, or sleep stall_us every so many records (producer at multiples,
                             consumer half-way between), so that the other side must sleep */
    uint32_t stall_us;
    uint64_t stop_after;  /* 0, or return STREAM_STOPPED once this many records are committed
                             (released), without trailer or end of stream */
    uint32_t leave_reserved; /* producer with stop_after: then reserve this many more records,
                                write them and leave them uncommitted */
    int no_eos;           /* consumer: do not wait for -EPIPE after the trailer */
    uint32_t peek_extra;  /* consumer with stop_after: then peek (and check) this many more
                             records and do not release them */
    uint64_t start_at;    /* consumer: the first record to expect (a consumer that takes over
                             from another one) */
};

void stream_opts_init(struct stream_opts *o);

#define STREAM_STOPPED 1

/* What a loop did. */
struct stream_report {
    uint64_t records;  /* data records committed / checked and released */
    uint64_t bytes;    /* their payload bytes */
    uint64_t csum;     /* final running checksum */
    int err;           /* the shmring error that ended the loop badly, or 0 */
    int64_t eos_ns;    /* consumer: CLOCK_MONOTONIC when -EPIPE was returned (0: not seen) */
    char msg[256];     /* why it failed */
};

/* Produces o->count records and the trailer into r (a producer handle). Does not close r.
 * Returns 0, STREAM_STOPPED, or -1 (rep->msg says why). */
int stream_produce(struct shmring_spsc *r, const struct stream_opts *o, struct stream_report *rep);

/* Consumes and checks o->count records and the trailer from r (a consumer handle), then (unless
 * o->no_eos) waits for end of stream. Does not close r. Returns 0, STREAM_STOPPED or -1. */
int stream_consume(struct shmring_spsc *r, const struct stream_opts *o, struct stream_report *rep);

/* Multiplies a default count by SHMRING_TEST_SCALE (a float in the environment, default 1) and
 * divides it by `sanitizer_div` when built with AddressSanitizer. At least 1. */
uint64_t stream_scaled(uint64_t count, unsigned sanitizer_div);

/* 1 when built with AddressSanitizer. */
int stream_under_asan(void);

#endif
