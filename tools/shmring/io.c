/* The `shmring` command: put (stdin -> ring) and get (ring -> stdout), so that a ring can sit in a
 * shell pipeline as a FIFO does: `producer | shmring put r` and `shmring get r | consumer`.
 *
 * Both wait with the library's blocking calls in slices of WAIT_SLICE_NS, so that a signal
 * (SIGINT, SIGTERM, SIGHUP) is noticed within a slice whatever the ring does; then the handle is
 * closed (a producer's close is the consumer's end of stream) and the process dies of the signal.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "shmring/shmring.h"

#define WAIT_SLICE_NS (100 * 1000 * 1000LL)
#define READ_CHUNK (256 * 1024)   /* bytes read from stdin at a time */
#define BATCH_RECORDS 256         /* records written to stdout with one writev */
#define BATCH_BYTES (1024 * 1024) /* ... or this many bytes */

/* One attached ring of any kind (one of s, m, b is set). */
struct ring {
    const char *shown; /* the name, for messages */
    struct shmring_spsc *s;
    struct shmring_mpmc *m;
    struct shmring_bcast *b;
    uint64_t max_record; /* largest record: shmring_spsc_max_record() (SPSC), the slot size (MPMC, BCAST) */
    int64_t timeout_ns;  /* --timeout: longest wait for space or data; 0 none */
    /* The other side, as a FIFO's reader and writer wait for each other: a read-only view of the
     * header, to tell "the peer went away" (end of stream) from "no peer came yet" (wait). */
    struct ring_view view;
    int have_view;
    int role;                /* ours */
    uint64_t peer_attaches0; /* the peer side's attach counter when we started */
    int peer_seen;           /* a peer was attached when we started */
};

static uint64_t peer_attaches(const struct ring *r)
{
    const struct shmring_stats *st = &r->view.hdr->stats;
    /* Relaxed: a counter that only grows; we only compare it with an older value. */
    return shmring__load((SHMRING_ATOMIC(uint64_t) *)(r->role == SHMRING_PRODUCER ? &st->consumer_attaches
                                                                                   : &st->producer_attaches),
                         relaxed);
}

static void peer_watch_init(struct ring *r, const char *name)
{
    r->have_view = view_by_name(name, &r->view) == EXIT_OK && r->view.what == VIEW_RING;
    if (!r->have_view)
        return;
    r->peer_attaches0 = peer_attaches(r);
    r->peer_seen = r->view.sem_ok &&
                   r->view.semval[r->role == SHMRING_PRODUCER ? SHMRING_SEM_CONSUMERS : SHMRING_SEM_PRODUCERS] > 0;
}

/* Has a peer been attached at some time since we started? Then its absence is the end. */
static int peer_came(const struct ring *r)
{
    return !r->have_view || r->peer_seen || peer_attaches(r) != r->peer_attaches0;
}

/* Waits until a peer attaches (polled: a tool can afford 20 ms). 0, -ETIMEDOUT or -EINTR. */
static int wait_peer(const struct ring *r, int64_t deadline)
{
    while (peer_attaches(r) == r->peer_attaches0) {
        struct timespec ts = {0, 20 * 1000 * 1000};
        if (cli_stop)
            return -EINTR;
        if (deadline && now_mono_ns() >= deadline)
            return -ETIMEDOUT;
        nanosleep(&ts, NULL);
    }
    return 0;
}

/* bcast_flags: shmring_bcast_open() flags for a consumer of a broadcast ring. */
static int open_ring(struct ring *r, const char *name, enum shmring_role role, uint32_t bcast_flags)
{
    int err = shmring_spsc_open(name, role, &r->s);
    if (err == -EPROTONOSUPPORT) /* perhaps another kind */
        err = shmring_mpmc_open(name, role, &r->m);
    if (err == -EPROTONOSUPPORT)
        err = shmring_bcast_open(name, role, role == SHMRING_CONSUMER ? bcast_flags : 0, &r->b);
    if (err == 0) {
        r->max_record = r->s ? shmring_spsc_max_record(r->s)
                        : r->m ? shmring_mpmc_slot_size(r->m)
                               : shmring_bcast_slot_size(r->b);
        r->role = role;
        peer_watch_init(r, name);
        return EXIT_OK;
    }
    switch (err) {
    case -ENOENT:
        cli_err("%s: no such ring", r->shown);
        break;
    case -EBADMSG:
        cli_err("%s: not a shmring: the segment on its key has another format; left untouched", r->shown);
        break;
    case -EBUSY:
        cli_err("%s: a %s is already attached (an SPSC ring takes one, a broadcast ring one producer)", r->shown,
                role == SHMRING_PRODUCER ? "producer" : "consumer");
        break;
    case -EUSERS:
        cli_err("%s: every consumer entry is taken by a live consumer (a broadcast ring has %u)", r->shown,
                SHMRING_BCAST_CONSUMERS);
        break;
    case -EINVAL:
    case -ENAMETOOLONG:
        cli_err("invalid ring name '%s': %s", r->shown, shmring_strerror(err));
        return EXIT_USAGE;
    default:
        cli_err("%s: cannot open: %s", r->shown, shmring_strerror(err));
        break;
    }
    return EXIT_FAIL;
}

static void close_ring(struct ring *r)
{
    if (r->s)
        shmring_spsc_close(r->s);
    if (r->m)
        shmring_mpmc_close(r->m);
    if (r->b)
        shmring_bcast_close(r->b);
    r->s = NULL;
    r->m = NULL;
    r->b = NULL;
    if (r->have_view)
        view_close(&r->view);
    r->have_view = 0;
}

/* The length of the next wait slice, or 0 when --timeout has expired. */
static int64_t slice_ns(const struct ring *r, int64_t deadline)
{
    int64_t left;
    if (r->timeout_ns == 0)
        return WAIT_SLICE_NS;
    left = deadline - now_mono_ns();
    if (left <= 0)
        return 0;
    return left < WAIT_SLICE_NS ? left : WAIT_SLICE_NS;
}

/* Reports a ring error that ends put/get; returns the exit status. */
static int ring_error(const struct ring *r, int err, const char *doing)
{
    if (err == -ETIMEDOUT)
        cli_err("%s: timed out after %.3g s %s", r->shown, (double)r->timeout_ns / 1e9, doing);
    else if (err == -EPIPE && r->role == SHMRING_PRODUCER)
        cli_err("%s: the consumer went away (%s)", r->shown, shmring_strerror(err));
    else
        cli_err("%s: %s: %s", r->shown, doing, shmring_strerror(err));
    return EXIT_FAIL;
}

/* ------------------------------------------------------------------------------------------- */
/* put */

/* Copies one record into the ring (SPSC: reserved, published by put_flush; MPMC, BCAST: published).
 * Waits for space in slices. Returns 0, -EINTR (a signal asked us to stop) or a ring error. */
static int put_record(struct ring *r, const void *p, size_t len)
{
    int64_t deadline = r->timeout_ns ? now_mono_ns() + r->timeout_ns : 0;
    void *buf = NULL;
    int err;
    if (r->s) {
        err = shmring_spsc_reserve(r->s, len, &buf);
        if (err != -EAGAIN)
            goto done;
        /* Full: publish what we hold (the consumer can only free space we published). */
        shmring_spsc_commit(r->s);
    }
    for (;;) {
        int64_t slice = slice_ns(r, deadline);
        if (slice == 0)
            return -ETIMEDOUT;
        if (r->s)
            err = shmring_spsc_reserve_wait(r->s, len, &buf, slice);
        else if (r->m)
            err = shmring_mpmc_push_wait(r->m, p, len, slice);
        else /* never -EPIPE: a broadcast producer does not wait for consumers */
            err = shmring_bcast_push_wait(r->b, p, len, slice);
        if (err == -ETIMEDOUT) {
            if (cli_stop)
                return -EINTR;
            continue;
        }
        /* "The consumer is gone" while none came since we started: one from before left; wait for
         * a reader, as a FIFO's writer does. */
        if (err == -EPIPE && !peer_came(r)) {
            if ((err = wait_peer(r, deadline)) != 0)
                return err;
            continue;
        }
        break;
    }
done:
    if (err == 0 && r->s && len)
        memcpy(buf, p, len);
    return err;
}

static void put_flush(struct ring *r)
{
    if (r->s)
        shmring_spsc_commit(r->s);
}

/* Reads up to cap bytes from stdin; waits in poll so that a signal is seen. Returns the count, 0 at
 * end of file, -EINTR when asked to stop, or -errno. */
static ssize_t read_in(void *buf, size_t cap)
{
    for (;;) {
        struct pollfd pfd = {0, POLLIN, 0};
        ssize_t n;
        if (cli_stop)
            return -EINTR;
        if (poll(&pfd, 1, 100) < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (pfd.revents == 0)
            continue;
        n = read(0, buf, cap);
        if (n >= 0)
            return n;
        if (errno != EINTR && errno != EAGAIN)
            return -errno;
    }
}

static const char put_help[] =
    "Usage: shmring put NAME [--lines | --block N] [--timeout SEC]\n"
    "\n"
    "Attaches to the ring NAME as its producer and copies stdin into it: one record per line\n"
    "(without the newline; a last line without a newline is a record too), or with --block N one\n"
    "record per N bytes (the last one may be shorter). At end of input it closes the ring: the\n"
    "consumer ('shmring get') then reads every record and ends. When the ring is full it waits for\n"
    "the consumer. Ctrl-C (SIGINT, SIGTERM, SIGHUP) publishes what was read, closes the ring and\n"
    "ends. MPMC and broadcast rings work too, with records of at most the slot size; a broadcast\n"
    "producer does not wait for consumers to come (BLOCK: it waits for the slowest one attached).\n"
    "\n"
    "  -l, --lines         one record per line (default)\n"
    "  -b, --block N       one record per N bytes (K, M, G suffixes)\n"
    "  -t, --timeout SEC   give up (status 1) if the ring stays full for SEC seconds\n"
    "  -h, --help          this help\n"
    "\n"
    "Example:\n"
    "  seq 1000000 | shmring put numbers\n";

static int put_lines(struct ring *r)
{
    size_t cap = READ_CHUNK * 2, have = 0;
    char *buf = (char *)malloc(cap);
    int rc = EXIT_OK, err = 0;
    if (buf == NULL) {
        cli_err("out of memory");
        return EXIT_FAIL;
    }
    for (;;) {
        ssize_t n;
        size_t start = 0;
        char *nl;
        if (cap - have < READ_CHUNK) {
            /* A line longer than what we hold: grow, up to the largest record (+ its newline). */
            size_t ncap = cap * 2;
            char *nb;
            if (have > r->max_record) {
                cli_err("%s: a line of more than %llu bytes does not fit in a record (largest: %llu bytes); use "
                        "--block",
                        r->shown, (unsigned long long)have, (unsigned long long)r->max_record);
                rc = EXIT_FAIL;
                break;
            }
            if ((nb = (char *)realloc(buf, ncap)) == NULL) {
                cli_err("out of memory for a line of %zu bytes", have);
                rc = EXIT_FAIL;
                break;
            }
            buf = nb;
            cap = ncap;
        }
        n = read_in(buf + have, cap - have);
        if (n == -EINTR)
            break;
        if (n < 0) {
            cli_err("%s: reading stdin: %s", r->shown, shmring_strerror((int)n));
            rc = EXIT_FAIL;
            break;
        }
        if (n == 0) { /* end of input: a last line without newline is a record too */
            if (have > r->max_record) {
                cli_err("%s: a line of %zu bytes does not fit in a record (largest: %llu bytes)", r->shown, have,
                        (unsigned long long)r->max_record);
                rc = EXIT_FAIL;
            } else if (have > 0 && (err = put_record(r, buf, have)) != 0) {
                break;
            }
            break;
        }
        have += (size_t)n;
        while ((nl = (char *)memchr(buf + start, '\n', have - start)) != NULL) {
            size_t len = (size_t)(nl - (buf + start));
            if (len > r->max_record) {
                cli_err("%s: a line of %zu bytes does not fit in a record (largest: %llu bytes); use --block",
                        r->shown, len, (unsigned long long)r->max_record);
                rc = EXIT_FAIL;
                goto out;
            }
            if ((err = put_record(r, buf + start, len)) != 0)
                goto out;
            start += len + 1;
        }
        put_flush(r); /* one publication per chunk read */
        memmove(buf, buf + start, have - start);
        have -= start;
    }
out:
    if (err && err != -EINTR)
        rc = ring_error(r, err, "waiting for space");
    free(buf);
    return rc;
}

static int put_blocks(struct ring *r, size_t block)
{
    char *buf = (char *)malloc(block ? block : 1);
    int rc = EXIT_OK, err = 0, eof = 0;
    if (buf == NULL) {
        cli_err("out of memory for a block of %zu bytes", block);
        return EXIT_FAIL;
    }
    while (!eof) {
        size_t have = 0;
        while (have < block) {
            ssize_t n = read_in(buf + have, block - have);
            if (n == -EINTR)
                goto out;
            if (n < 0) {
                cli_err("%s: reading stdin: %s", r->shown, shmring_strerror((int)n));
                rc = EXIT_FAIL;
                goto out;
            }
            if (n == 0) {
                eof = 1;
                break;
            }
            have += (size_t)n;
        }
        if (have == 0)
            break;
        if ((err = put_record(r, buf, have)) != 0)
            break;
        put_flush(r);
    }
out:
    if (err && err != -EINTR)
        rc = ring_error(r, err, "waiting for space");
    free(buf);
    return rc;
}

int cmd_put(int argc, char **argv)
{
    static const struct option opts[] = {
        {"lines", no_argument, NULL, 'l'},
        {"block", required_argument, NULL, 'b'},
        {"timeout", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct ring r;
    char shown[4 * SHMRING_NAME_MAX + 8];
    uint64_t block = 0;
    double timeout = 0;
    int lines = 0, c, rc;
    getopt_reset();
    while ((c = getopt_long(argc, argv, ":lb:t:h", opts, NULL)) != -1) {
        switch (c) {
        case 'l':
            lines = 1;
            break;
        case 'b':
            if (parse_size(optarg, &block) != 0 || block == 0 || block > (1ull << 32))
                return cli_usage_err("bad block size '%s' (1 byte to 4G)", optarg);
            break;
        case 't':
            if (parse_seconds(optarg, &timeout) != 0 || timeout <= 0)
                return cli_usage_err("bad timeout '%s' (seconds, more than 0)", optarg);
            break;
        case 'h':
            fputs(put_help, stdout);
            return EXIT_OK;
        default:
            return cli_bad_option(argv, c);
        }
    }
    if (lines && block)
        return cli_usage_err("--lines and --block exclude each other");
    if ((rc = cli_one_name(argc, argv)) != EXIT_OK)
        return rc;
    memset(&r, 0, sizeof(r));
    r.shown = name_for_text(argv[optind], shown, sizeof(shown));
    r.timeout_ns = (int64_t)(timeout * 1e9);
    if ((rc = open_ring(&r, argv[optind], SHMRING_PRODUCER, 0)) != EXIT_OK)
        return rc;
    if (block > r.max_record) {
        cli_err("%s: --block %llu is larger than the ring's largest record (%llu bytes)", r.shown,
                (unsigned long long)block, (unsigned long long)r.max_record);
        close_ring(&r);
        return EXIT_FAIL;
    }
    signals_setup();
    rc = block ? put_blocks(&r, (size_t)block) : put_lines(&r);
    put_flush(&r);
    close_ring(&r); /* end of stream for the consumer */
    signals_finish();
    return rc;
}

/* ------------------------------------------------------------------------------------------- */
/* get */

static const char get_help[] =
    "Usage: shmring get NAME [--lines | --raw] [--max N] [--timeout SEC] [--oldest]\n"
    "\n"
    "Attaches to the ring NAME as a consumer and copies its records to stdout until end of stream\n"
    "(the producer closed or died and every record was read), then exits 0. While the ring is\n"
    "empty it waits (also for a producer that has not come yet). A record leaves the ring only\n"
    "once it was written out: if stdout is closed (e.g. '| head'), get stops quietly, with status\n"
    "0, and an SPSC ring keeps what was not written. Ctrl-C (SIGINT, SIGTERM, SIGHUP) closes the\n"
    "ring and ends.\n"
    "\n"
    "A broadcast ring: each get is a consumer of its own and sees every record, from the newest one\n"
    "already published (or with --oldest the oldest still there), then everything after it. A\n"
    "lossy ring's producer may lap a slow get: it says on stderr how many records it lost and goes\n"
    "on with the oldest still there.\n"
    "\n"
    "  -l, --lines         write each record followed by a newline (default)\n"
    "  -r, --raw           write the records' bytes only, back to back\n"
    "  -n, --max N         stop after N records\n"
    "  -t, --timeout SEC   give up (status 1) if no record comes for SEC seconds\n"
    "  -o, --oldest        broadcast rings: start at the oldest record still there\n"
    "  -h, --help          this help\n"
    "\n"
    "Example:\n"
    "  shmring get numbers | wc -l\n";

/* Writes the iovecs completely (advancing them on partial writes). Returns 0, -EINTR (a signal
 * asked us to stop; *done says how many bytes went out) or -errno. */
static int write_all(struct iovec *iov, int cnt, size_t *done)
{
    *done = 0;
    while (cnt > 0) {
        ssize_t n = writev(1, iov, cnt > IOV_MAX ? IOV_MAX : cnt);
        if (n < 0) {
            if (errno == EINTR) {
                if (cli_stop)
                    return -EINTR;
                continue;
            }
            return -errno;
        }
        *done += (size_t)n;
        while (cnt > 0 && (size_t)n >= iov->iov_len) {
            n -= (ssize_t)iov->iov_len;
            iov++;
            cnt--;
        }
        if (cnt > 0) {
            if (cli_stop) /* a signal cut the write short: do not block again */
                return -EINTR;
            iov->iov_base = (char *)iov->iov_base + n;
            iov->iov_len -= (size_t)n;
        }
    }
    return 0;
}

/* Adds a record (and, unless raw, its newline) to the iovecs of one writev. Returns the new count. */
static int add_record(struct iovec *iov, int cnt, const void *p, size_t len, int raw)
{
    static char newline[1] = {'\n'};
    iov[cnt].iov_base = (void *)(uintptr_t)p;
    iov[cnt++].iov_len = len;
    if (!raw) {
        iov[cnt].iov_base = newline;
        iov[cnt++].iov_len = 1;
    }
    return cnt;
}

/* Says on stderr how many records a lapped broadcast consumer lost since it last said so. */
static void report_lost(const struct ring *r, uint64_t *told)
{
    uint64_t lost = shmring_bcast_lost(r->b);
    if (lost > *told)
        cli_err("%s: lapped by the producer: %llu records lost (%llu in all)", r->shown,
                (unsigned long long)(lost - *told), (unsigned long long)lost);
    *told = lost;
}

/* get from a broadcast ring. BLOCK: the records are written from the segment in place and released
 * once written (they cannot change before). LOSSY: the producer may overwrite a record while we
 * read it, so a batch is copied out, validated, released, and only then written; a batch the
 * producer lapped is dropped (it counts as lost) and reported. */
static int get_bcast(struct ring *r, int raw, uint64_t max)
{
    struct iovec iov[2 * BATCH_RECORDS];
    const int lossy = shmring_bcast_lossy(r->b);
    char *copy = NULL;
    uint64_t got = 0, told = 0;
    int rc = EXIT_OK;
    if (lossy && (copy = (char *)malloc(BATCH_BYTES + r->max_record)) == NULL) {
        cli_err("out of memory");
        return EXIT_FAIL;
    }
    while ((max == 0 || got < max) && !cli_stop) { /* a LOSSY producer never waits: look each time */
        int64_t deadline = r->timeout_ns ? now_mono_ns() + r->timeout_ns : 0;
        const void *rec = NULL;
        size_t len = 0, bytes = 0, done = 0, want_n = BATCH_RECORDS;
        int n = 0, cnt = 0, err;
        if (max && max - got < want_n)
            want_n = (size_t)(max - got);
        for (;;) {
            int64_t slice = slice_ns(r, deadline);
            if (slice == 0) {
                err = -ETIMEDOUT;
                break;
            }
            err = shmring_bcast_peek_wait(r->b, &rec, &len, slice);
            /* The end of a stream that ended before we came, and nothing of it left for us: wait
             * for a producer, as a FIFO's reader waits for a writer (as for SPSC). */
            if (err == -EPIPE && got == 0 && !peer_came(r)) {
                if ((err = wait_peer(r, deadline)) == 0)
                    continue;
                break;
            }
            if (err != -ETIMEDOUT || cli_stop)
                break;
        }
        if (err == -ENOBUFS) {
            report_lost(r, &told);
            continue;
        }
        if (err == -EPIPE)
            break; /* end of stream */
        if ((err == -ETIMEDOUT && cli_stop) || err == -EINTR)
            break;
        if (err) {
            rc = ring_error(r, err, err == -ETIMEDOUT ? "waiting for a record" : "reading");
            break;
        }
        do {
            const void *p = rec;
            if (lossy) { /* bytes < BATCH_BYTES and len <= max_record: it fits */
                memcpy(copy + bytes, rec, len);
                p = copy + bytes;
            }
            cnt = add_record(iov, cnt, p, len, raw);
            bytes += len;
            n++;
        } while ((size_t)n < want_n && bytes < BATCH_BYTES && (err = shmring_bcast_peek(r->b, &rec, &len)) == 0);
        if (err != -ENOBUFS)
            err = shmring_bcast_validate(r->b);
        if (err == -ENOBUFS) {
            /* Lapped while gathering or copying: the batch is lost (and counted); go on from the
             * oldest record still there. */
            report_lost(r, &told);
            continue;
        }
        if (err) { /* validate's -EUCLEAN: nothing of the batch is written */
            rc = ring_error(r, err, "reading");
            break;
        }
        if (lossy)
            shmring_bcast_release(r->b);
        err = write_all(iov, cnt, &done);
        if (!lossy)
            shmring_bcast_release(r->b);
        if (err == 0)
            got += (uint64_t)n;
        if (err == -EINTR)
            break;
        if (err == -EPIPE)
            break; /* stdout closed: stop quietly */
        if (err) {
            cli_err("%s: writing to stdout: %s", r->shown, shmring_strerror(err));
            rc = EXIT_FAIL;
            break;
        }
    }
    report_lost(r, &told);
    free(copy);
    return rc;
}

int cmd_get(int argc, char **argv)
{
    static const struct option opts[] = {
        {"lines", no_argument, NULL, 'l'},
        {"raw", no_argument, NULL, 'r'},
        {"max", required_argument, NULL, 'n'},
        {"timeout", required_argument, NULL, 't'},
        {"oldest", no_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct iovec iov[2 * BATCH_RECORDS];
    struct ring r;
    char shown[4 * SHMRING_NAME_MAX + 8];
    uint64_t max = 0, got = 0;
    double timeout = 0;
    int raw = 0, lines = 0, oldest = 0, c, rc;
    getopt_reset();
    while ((c = getopt_long(argc, argv, ":lrn:t:oh", opts, NULL)) != -1) {
        switch (c) {
        case 'l':
            lines = 1;
            break;
        case 'r':
            raw = 1;
            break;
        case 'o':
            oldest = 1;
            break;
        case 'n':
            if (parse_count(optarg, &max) != 0)
                return cli_usage_err("bad --max '%s' (a positive number of records)", optarg);
            break;
        case 't':
            if (parse_seconds(optarg, &timeout) != 0 || timeout <= 0)
                return cli_usage_err("bad timeout '%s' (seconds, more than 0)", optarg);
            break;
        case 'h':
            fputs(get_help, stdout);
            return EXIT_OK;
        default:
            return cli_bad_option(argv, c);
        }
    }
    if (lines && raw)
        return cli_usage_err("--lines and --raw exclude each other");
    if ((rc = cli_one_name(argc, argv)) != EXIT_OK)
        return rc;
    memset(&r, 0, sizeof(r));
    r.shown = name_for_text(argv[optind], shown, sizeof(shown));
    r.timeout_ns = (int64_t)(timeout * 1e9);
    if (oldest) { /* before attaching: a consumer that comes and goes would end a waiting put */
        struct shm_entry e;
        int64_t key = shmring_name_key(argv[optind]);
        int other = 0;
        if (key >= 0 && shm_by_key((int32_t)key, &e) == 0) { /* quietly: open_ring reports what is wrong */
            struct ring_view v;
            view_open(&e, &v);
            other = v.what == VIEW_RING && v.id.kind != SHMRING_KIND_BCAST;
            view_close(&v);
        }
        if (other)
            return cli_usage_err("--oldest is for broadcast rings ('%s' is not one)", r.shown);
    }
    if ((rc = open_ring(&r, argv[optind], SHMRING_CONSUMER, oldest ? SHMRING_BCAST_OLDEST : 0)) != EXIT_OK)
        return rc;
    signals_setup();
    if (r.b) {
        rc = get_bcast(&r, raw, max);
        close_ring(&r);
        signals_finish();
        return rc;
    }
    rc = EXIT_OK;
    while (max == 0 || got < max) {
        int64_t deadline = r.timeout_ns ? now_mono_ns() + r.timeout_ns : 0;
        struct shmring_mpmc_span span = {0, 0};
        const void *rec = NULL;
        size_t len = 0, bytes = 0, done = 0, want_n;
        int n = 0, cnt = 0, err, i;
        want_n = BATCH_RECORDS;
        if (max && max - got < want_n)
            want_n = (size_t)(max - got);
        if (r.m && want_n > shmring_mpmc_capacity(r.m))
            want_n = (size_t)shmring_mpmc_capacity(r.m);
        /* Wait for the first record, in slices. */
        for (;;) {
            int64_t slice = slice_ns(&r, deadline);
            if (slice == 0) {
                err = -ETIMEDOUT;
                break;
            }
            if (r.s)
                err = shmring_spsc_peek_wait(r.s, &rec, &len, slice);
            else
                err = n = shmring_mpmc_take_wait(r.m, (unsigned)want_n, &span, slice);
            if (err >= 0)
                err = 0;
            /* End of a stream that ended before we came, and nothing left: wait for a writer, as
             * a FIFO's reader does. */
            if (err == -EPIPE && got == 0 && !peer_came(&r)) {
                if ((err = wait_peer(&r, deadline)) == 0)
                    continue;
                break;
            }
            if (err != -ETIMEDOUT || cli_stop)
                break;
        }
        if (err == -EPIPE)
            break; /* end of stream */
        if ((err == -ETIMEDOUT && cli_stop) || err == -EINTR)
            break;
        if (err) {
            rc = ring_error(&r, err, err == -ETIMEDOUT ? "waiting for a record" : "reading");
            break;
        }
        /* Gather what is there (in place in the segment) and write it with one writev. */
        if (r.s) {
            n = 0;
            do {
                cnt = add_record(iov, cnt, rec, len, raw);
                bytes += len;
                n++;
            } while ((size_t)n < want_n && bytes < BATCH_BYTES && shmring_spsc_peek(r.s, &rec, &len) == 0);
        } else {
            for (i = 0; i < n; i++) {
                if ((err = shmring_mpmc_record(r.m, &span, (unsigned)i, &rec, &len)) != 0)
                    break;
                cnt = add_record(iov, cnt, rec, len, raw);
            }
            if (err) {
                shmring_mpmc_release(r.m, &span);
                rc = ring_error(&r, err, "reading");
                break;
            }
        }
        err = write_all(iov, cnt, &done);
        /* A record leaves the ring once the whole batch is out. If writing fails part way, an
         * SPSC consumer releases nothing: the next reader starts at the batch's first record, so
         * records of it may come out twice but none is lost (at least once). MPMC takes cannot
         * be handed back: closing frees them, as after a death. */
        if (r.s) {
            if (err == 0)
                shmring_spsc_release(r.s);
        } else if (shmring_mpmc_release(r.m, &span) != 0 && err == 0) {
            rc = ring_error(&r, -ESTALE, "reading"); /* what was written may be a later record's */
            break;
        }
        (void)done;
        if (err == 0)
            got += (uint64_t)n;
        if (err == -EINTR)
            break;
        if (err == -EPIPE)
            break; /* stdout closed: stop quietly */
        if (err) {
            cli_err("%s: writing to stdout: %s", r.shown, shmring_strerror(err));
            rc = EXIT_FAIL;
            break;
        }
    }
    close_ring(&r);
    signals_finish();
    return rc;
}
