/* peer — one end of a named SPSC ring, as an independent program (not a Criterion test).
 *
 *   peer producer|consumer NAME COUNT SEED TIMEOUT_MS [options]
 *
 * Opens the existing ring NAME (waiting up to TIMEOUT_MS for it to appear) and produces or
 * consumes the checked record stream of test/proc/stream.h: COUNT records from SEED, then a
 * trailer; the producer then closes (end of stream), the consumer checks every record and waits
 * for end of stream. Every blocking call uses TIMEOUT_MS.
 *
 * Options:
 *   --max-len=N       record lengths in [0, N] (default 256)
 *   --api=copy|zc     push_wait/pop_wait (default) or zero-copy batches
 *   --batch=K         zero-copy batch size limit (default 16)
 *   --spin=N          spins before sleeping (default: the library's)
 *   --stop-after=N    stop after N records committed (released) and stay attached without closing,
 *                     waiting to be killed; exit 3 if nobody kills it within TIMEOUT_MS
 *   --leave-reserved=K  with --stop-after, as producer: then reserve and write K more records,
 *                     and do not commit them
 *
 * Exit status: 0 success, 1 failure (message on stderr), 2 usage, 3 stopped and not killed.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "shmring/shmring.h"
#include "stream.h"
#include "testutil.h"

static int usage(void)
{
    fprintf(stderr, "usage: peer producer|consumer NAME COUNT SEED TIMEOUT_MS [--max-len=N] [--api=copy|zc] "
                    "[--batch=K] [--spin=N] [--stop-after=N] [--leave-reserved=K]\n");
    return 2;
}

static int parse_u64(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    *out = strtoull(s, &end, 0);
    return errno == 0 && end != s && *end == '\0' ? 0 : -1;
}

int main(int argc, char **argv)
{
    struct stream_opts o;
    struct stream_report rep;
    struct shmring_spsc *r = NULL;
    uint64_t timeout_ms, v;
    int64_t deadline;
    enum shmring_role role;
    const char *name;
    int err, rc, i;

    if (argc < 6)
        return usage();
    if (strcmp(argv[1], "producer") == 0)
        role = SHMRING_PRODUCER;
    else if (strcmp(argv[1], "consumer") == 0)
        role = SHMRING_CONSUMER;
    else
        return usage();
    name = argv[2];
    stream_opts_init(&o);
    if (parse_u64(argv[3], &o.count) || parse_u64(argv[4], &o.seed) || parse_u64(argv[5], &timeout_ms))
        return usage();
    o.timeout_ns = (int64_t)timeout_ms * 1000000LL;
    for (i = 6; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--max-len=", 10) == 0 && parse_u64(a + 10, &v) == 0 && v <= UINT32_MAX)
            o.max_len = (uint32_t)v;
        else if (strcmp(a, "--api=copy") == 0)
            o.api = STREAM_COPY;
        else if (strcmp(a, "--api=zc") == 0)
            o.api = STREAM_ZC;
        else if (strncmp(a, "--batch=", 8) == 0 && parse_u64(a + 8, &v) == 0 && v >= 1 && v <= UINT32_MAX)
            o.batch = (uint32_t)v;
        else if (strncmp(a, "--spin=", 7) == 0 && parse_u64(a + 7, &v) == 0 && v <= UINT32_MAX)
            o.spin = (int64_t)v;
        else if (strncmp(a, "--stop-after=", 13) == 0 && parse_u64(a + 13, &v) == 0)
            o.stop_after = v;
        else if (strncmp(a, "--leave-reserved=", 17) == 0 && parse_u64(a + 17, &v) == 0 && v <= 1000)
            o.leave_reserved = (uint32_t)v;
        else
            return usage();
    }

    /* Started independently: the ring may not be there yet. */
    deadline = testutil_now_ns() + o.timeout_ns;
    while ((err = shmring_spsc_open(name, role, &r)) == -ENOENT && testutil_now_ns() < deadline)
        usleep(1000);
    if (err) {
        fprintf(stderr, "peer %s: open %s: %s\n", argv[1], name, shmring_strerror(err));
        return 1;
    }

    rc = role == SHMRING_PRODUCER ? stream_produce(r, &o, &rep) : stream_consume(r, &o, &rep);
    if (rc == STREAM_STOPPED) {
        /* Stay attached, holding whatever we hold, until killed; bounded so we never linger. */
        fprintf(stderr, "peer %s: stopped after %" PRIu64 " records, waiting to be killed\n", argv[1], rep.records);
        deadline = testutil_now_ns() + o.timeout_ns;
        while (testutil_now_ns() < deadline)
            usleep(10000);
        fprintf(stderr, "peer %s: nobody killed me\n", argv[1]);
        return 3;
    }
    shmring_spsc_close(r);
    if (rc != 0) {
        fprintf(stderr, "peer %s: %s\n", argv[1], rep.msg);
        return 1;
    }
    fprintf(stderr, "peer %s: %" PRIu64 " records, %" PRIu64 " bytes, checksum %#" PRIx64 "\n", argv[1], rep.records,
            rep.bytes, rep.csum);
    return 0;
}
