/* The two ends of a bridged stream, for the test/bridge scripts and the bridge bench:
 *
 *   bridge_peer produce RING N [PAUSE_US]   pushes records 0..N-1 (blocking), then closes the ring
 *   bridge_peer consume RING N [PAUSE_US]   pops until end of stream, checks every byte
 *
 * Record i is 8 + i % 193 bytes: its number (8 bytes, host order), then byte j = (i * 31 + j) & 0xff.
 * PAUSE_US sleeps that long every 1000 records (a slow side, for back-pressure).
 *
 * Prints one line, "produced N" / "received N", and exits 0 when the stream ended cleanly with
 * exactly N records, all intact and in order; 3 when the other end died (producer: -EPIPE on push;
 * consumer: end of stream with a PEER_DIED event for a producer); 1 for anything else (a record
 * missing, duplicated, out of order or garbled, an unexpected error; the first problem is printed).
 * Works with SPSC and MPMC rings.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shmring/shmring.h"
#include "test/bridge/records.h"

#define MAX_REC BRIDGE_RECORD_MAX
#define SLICE_NS (100 * 1000 * 1000LL)

static void pause_every(uint64_t i, long pause_us)
{
    if (pause_us > 0 && i % 1000 == 999)
        usleep((useconds_t)pause_us);
}

static int produce(const char *name, uint64_t n, long pause_us)
{
    struct shmring_spsc *s = NULL;
    struct shmring_mpmc *m = NULL;
    unsigned char buf[MAX_REC];
    uint64_t i;
    int err = shmring_spsc_open(name, SHMRING_PRODUCER, &s);
    if (err == -EPROTONOSUPPORT)
        err = shmring_mpmc_open(name, SHMRING_PRODUCER, &m);
    if (err) {
        fprintf(stderr, "produce: open %s: %s\n", name, shmring_strerror(err));
        return 1;
    }
    int status = 0;
    for (i = 0; i < n && status == 0; i++) {
        size_t len = bridge_record(i, buf);
        do
            err = s ? shmring_spsc_push_wait(s, buf, len, SLICE_NS) : shmring_mpmc_push_wait(m, buf, len, SLICE_NS);
        while (err == -ETIMEDOUT);
        if (err == -EPIPE) {
            printf("produced %" PRIu64 "\n", i);
            fprintf(stderr, "produce: the consumer went away after %" PRIu64 " records\n", i);
            status = 3;
        } else if (err) {
            fprintf(stderr, "produce: push %" PRIu64 ": %s\n", i, shmring_strerror(err));
            status = 1;
        } else {
            pause_every(i, pause_us);
        }
    }
    if (status == 0)
        printf("produced %" PRIu64 "\n", n);
    /* Closed on every path: a handle left open is a leak LeakSanitizer reports (asan config). */
    if (s)
        shmring_spsc_close(s);
    else
        shmring_mpmc_close(m);
    return status;
}

static int consume(const char *name, uint64_t n, long pause_us)
{
    struct shmring_spsc *s = NULL;
    struct shmring_mpmc *m = NULL;
    struct shmring_control *ctl = NULL;
    struct shmring_event ev;
    unsigned char buf[4096], want[MAX_REC]; /* buf: MPMC pops want a whole slot */
    uint64_t got = 0;
    int died = 0, bad = 0;
    int err = shmring_spsc_open(name, SHMRING_CONSUMER, &s);
    if (err == -EPROTONOSUPPORT)
        err = shmring_mpmc_open(name, SHMRING_CONSUMER, &m);
    if (err == 0)
        err = shmring_control_open(name, SHMRING_EV_BIT(SHMRING_EV_PEER_DIED) | SHMRING_EV_BIT(SHMRING_EV_EOS), &ctl);
    if (err) {
        fprintf(stderr, "consume: open %s: %s\n", name, shmring_strerror(err));
        if (s)
            shmring_spsc_close(s);
        if (m)
            shmring_mpmc_close(m);
        return 1;
    }
    for (;;) {
        ssize_t len = s ? shmring_spsc_pop_wait(s, buf, sizeof(buf), SLICE_NS)
                        : shmring_mpmc_pop_wait(m, buf, sizeof(buf), SLICE_NS);
        if (len == -ETIMEDOUT)
            continue;
        if (len == -EPIPE)
            break;
        if (len < 0) {
            fprintf(stderr, "consume: pop after %" PRIu64 ": %s\n", got, shmring_strerror((int)len));
            bad = 1; /* ends with status 1 after closing the handles */
            break;
        }
        if (!bad && ((size_t)len != bridge_record(got, want) || memcmp(buf, want, (size_t)len) != 0)) {
            uint64_t seq = 0;
            if (len >= 8)
                memcpy(&seq, buf, 8);
            fprintf(stderr, "consume: record %" PRIu64 " wrong (%zd bytes, number %" PRIu64 ")\n", got, len, seq);
            bad = 1;
        }
        got++;
        pause_every(got, pause_us);
    }
    while (shmring_control_recv(ctl, &ev, 0) == 0)
        if (ev.type == SHMRING_EV_PEER_DIED && ev.role == SHMRING_PRODUCER)
            died = 1;
    printf("received %" PRIu64 "%s\n", got, died ? " (producer died)" : "");
    shmring_control_close(ctl);
    if (s)
        shmring_spsc_close(s);
    else
        shmring_mpmc_close(m);
    if (bad)
        return 1;
    if (died)
        return 3;
    if (got != n) {
        fprintf(stderr, "consume: end of stream after %" PRIu64 " of %" PRIu64 " records\n", got, n);
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    uint64_t n;
    long pause_us = 0;
    if (argc < 4 || argc > 5) {
        fprintf(stderr, "usage: bridge_peer produce|consume RING N [PAUSE_US]\n");
        return 2;
    }
    n = strtoull(argv[3], NULL, 10);
    if (argc == 5)
        pause_us = strtol(argv[4], NULL, 10);
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (strcmp(argv[1], "produce") == 0)
        return produce(argv[2], n, pause_us);
    if (strcmp(argv[1], "consume") == 0)
        return consume(argv[2], n, pause_us);
    fprintf(stderr, "usage: bridge_peer produce|consume RING N [PAUSE_US]\n");
    return 2;
}
