/* The `shmring` command: bridge, which forwards a ring to a ZeroMQ socket and back, so that a ring's
 * records can cross to another host (or network namespace):
 *
 *   host A:  producer -> ring "orders" -> shmring bridge out orders tcp://B:5555
 *   host B:  shmring bridge in @tcp://0.0.0.0:5555 orders-copy -> ring "orders-copy" -> consumer
 *
 * Wire format (ZeroMQ PUSH -> PULL, one TCP connection): one record is one single-part message
 * holding exactly the record's bytes (record boundaries and order are ZeroMQ's message boundaries
 * and order). Control messages are two-part: an empty first frame, then one byte:
 *   'E'  end of stream: the producer of the source ring closed it and every record was sent;
 *   'X'  the producer of the source ring died (kill -9, crash) before closing it.
 * A data message is never multi-part, so the two cannot be confused, and data costs no header.
 *
 * Back-pressure, nothing dropped: `in` pushes each message into its ring with a blocking push; when
 * that ring is full it stops reading the socket, ZeroMQ's receive queue (--hwm messages) and the TCP
 * window fill, and `out`'s blocking send stops it popping its own ring, which then fills and blocks
 * its producer. A PUSH socket blocks at its high-water mark instead of dropping.
 *
 * Deaths (reported, never a hang): each side watches its socket with a ZeroMQ monitor and ZMTP
 * heartbeats (--heartbeat). When the connection breaks after the handshake and no end of stream was
 * seen, or the far side reports 'X', the bridge says "peer died" on stderr and exits with status 3
 * WITHOUT closing its ring handle, so that the library reports the death on this host too: the
 * local consumer of `in`'s ring gets -EPIPE and a SHMRING_EV_PEER_DIED event (not an EOS), the local
 * producer of `out`'s ring gets -EPIPE. So a death anywhere on the path reaches both ends as a death.
 * Records that were in flight when a bridge died are lost (there is no end-to-end acknowledgement);
 * a clean end of stream loses nothing: `out` exits 0 only once ZeroMQ has handed every message to
 * TCP (linger), and `in` exits 0 only after every record is in its ring and the ring is closed.
 *
 * Decisions recorded here (the issue is silent): `in` binds and `out` connects unless the endpoint
 * says otherwise ('@' prefix: bind, '>' prefix: connect, as CZMQ writes them); a wildcard port
 * ("tcp://127.0.0.1:*") is allowed for a bind and the real endpoint is written to --endpoint-file;
 * a reconnection after a break is not attempted (the stream's integrity would be unknown).
 *
 * Exit status: 0 end of stream forwarded, 1 operational error, 2 usage error, 3 peer died.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "cli.h"
#include "shmring/shmring.h"

#define EXIT_PEER_DIED 3
#define SLICE_MS 100                   /* longest blocking step: signals and deaths seen this fast */
#define SLICE_NS (SLICE_MS * 1000000LL)
#define DRAIN_AFTER_BREAK_MS 200       /* after a break, read what arrived before it this long */

/* One attached ring of either kind. */
struct bring {
    const char *name;
    struct shmring_spsc *s;
    struct shmring_mpmc *m;
    struct shmring_control *ctl; /* out: EOS / PEER_DIED of the source's producer */
    size_t max_record;
};

struct bridge {
    int out;          /* 1: ring -> socket (PUSH); 0: socket -> ring (PULL) */
    const char *endpoint;
    int bind;
    int hwm;
    int heartbeat_ms;
    int64_t timeout_ns; /* longest wait for the first peer; 0 = no limit */
    const char *endpoint_file;
    void *ctx, *sock, *mon;
    int connected;    /* handshake done with a peer */
    int broken;       /* the connection broke after the handshake */
    struct bring ring;
};

static void bridge_usage(FILE *f)
{
    fputs("Usage: shmring bridge out RING ENDPOINT [OPTIONS]\n"
          "       shmring bridge in ENDPOINT RING [OPTIONS]\n"
          "\n"
          "Forwards the records of a ring to a ZeroMQ socket (out: this process is the ring's\n"
          "consumer) or from a ZeroMQ socket into a ring (in: this process is its producer),\n"
          "keeping record boundaries, order and end of stream; a full ring at either end slows\n"
          "the other (nothing is dropped). The ring must exist (shmring create). ENDPOINT is a\n"
          "ZeroMQ endpoint (tcp://HOST:PORT, ipc://PATH); '@' in front binds it, '>' connects;\n"
          "by default `in` binds and `out` connects.\n"
          "\n"
          "Options:\n"
          "  --hwm N               ZeroMQ high-water mark, messages (default 1000)\n"
          "  --heartbeat SECONDS   ZMTP heartbeat interval; a silent peer is dead after 3\n"
          "                        intervals (default 1; 0 turns heartbeats off)\n"
          "  --timeout SECONDS     give up if no peer connects within this time (default: wait)\n"
          "  --endpoint-file FILE  after binding, write the bound endpoint to FILE (for port *)\n"
          "\n"
          "Exit status: 0 end of stream forwarded, 1 error, 2 usage error, 3 peer died (the\n"
          "far bridge or the far ring's producer died; the ring handle is left for the library\n"
          "to report the death to the local peer).\n",
          f);
}

/* --- the ring side ------------------------------------------------------------------------- */

static int bring_open(struct bring *r, enum shmring_role role)
{
    int err = shmring_spsc_open(r->name, role, &r->s);
    if (err == -EPROTONOSUPPORT)
        err = shmring_mpmc_open(r->name, role, &r->m);
    if (err) {
        cli_err("%s: cannot open as %s: %s", r->name, role == SHMRING_PRODUCER ? "producer" : "consumer",
                shmring_strerror(err));
        return err == -EINVAL || err == -ENAMETOOLONG ? EXIT_USAGE : EXIT_FAIL;
    }
    r->max_record = r->s ? (size_t)shmring_spsc_max_record(r->s) : shmring_mpmc_slot_size(r->m);
    if (role == SHMRING_CONSUMER) {
        /* To tell the producer's clean close (EOS) from its death when the ring says -EPIPE. Without
         * the subscription (all taken) a death is reported as an end of stream, with a warning. */
        err = shmring_control_open(r->name, SHMRING_EV_BIT(SHMRING_EV_EOS) | SHMRING_EV_BIT(SHMRING_EV_PEER_DIED),
                                   &r->ctl);
        if (err) {
            cli_err("%s: warning: no control subscription (%s): a producer's death will look like an end of "
                    "stream",
                    r->name, shmring_strerror(err));
            r->ctl = NULL;
        }
    }
    return EXIT_OK;
}

static void bring_close(struct bring *r)
{
    if (r->ctl)
        shmring_control_close(r->ctl);
    if (r->s)
        shmring_spsc_close(r->s);
    if (r->m)
        shmring_mpmc_close(r->m);
    r->ctl = NULL;
    r->s = NULL;
    r->m = NULL;
}

/* After -EPIPE on the consumer side: did the producer die (1) or close (0)? */
static int producer_died(struct bring *r)
{
    struct shmring_event ev;
    int died = 0;
    if (!r->ctl)
        return 0;
    while (shmring_control_recv(r->ctl, &ev, 0) == 0)
        if (ev.type == SHMRING_EV_PEER_DIED && ev.role == SHMRING_PRODUCER)
            died = 1;
    return died;
}

/* --- the socket side ----------------------------------------------------------------------- */

static int zerr(const char *what, const struct bridge *b)
{
    cli_err("%s %s: %s", what, b->endpoint, zmq_strerror(zmq_errno()));
    return EXIT_FAIL;
}

static int socket_open(struct bridge *b)
{
    int linger = -1, tmo = SLICE_MS, ivl = b->heartbeat_ms, hb_timeout = 3 * b->heartbeat_ms;
    char mon_ep[64];
    b->ctx = zmq_ctx_new();
    if (!b->ctx)
        return zerr("cannot make a ZeroMQ context for", b);
    b->sock = zmq_socket(b->ctx, b->out ? ZMQ_PUSH : ZMQ_PULL);
    if (!b->sock)
        return zerr("cannot make a socket for", b);
    /* linger -1: a clean close waits until every message is handed to TCP (end of stream loses
     * nothing); the deaths path exits without closing. */
    if (zmq_setsockopt(b->sock, b->out ? ZMQ_SNDHWM : ZMQ_RCVHWM, &b->hwm, sizeof(b->hwm)) != 0 ||
        zmq_setsockopt(b->sock, ZMQ_LINGER, &linger, sizeof(linger)) != 0 ||
        zmq_setsockopt(b->sock, b->out ? ZMQ_SNDTIMEO : ZMQ_RCVTIMEO, &tmo, sizeof(tmo)) != 0)
        return zerr("cannot set socket options for", b);
    if (ivl > 0 && (zmq_setsockopt(b->sock, ZMQ_HEARTBEAT_IVL, &ivl, sizeof(ivl)) != 0 ||
                    zmq_setsockopt(b->sock, ZMQ_HEARTBEAT_TIMEOUT, &hb_timeout, sizeof(hb_timeout)) != 0))
        return zerr("cannot set heartbeats for", b);
    snprintf(mon_ep, sizeof(mon_ep), "inproc://bridge-monitor-%d", (int)getpid());
    if (zmq_socket_monitor(b->sock, mon_ep, ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_DISCONNECTED) != 0)
        return zerr("cannot monitor the socket for", b);
    b->mon = zmq_socket(b->ctx, ZMQ_PAIR);
    if (!b->mon || zmq_connect(b->mon, mon_ep) != 0)
        return zerr("cannot attach the monitor of", b);
    if (b->bind) {
        if (zmq_bind(b->sock, b->endpoint) != 0)
            return zerr("cannot bind", b);
        if (b->endpoint_file) {
            char ep[256];
            size_t len = sizeof(ep);
            FILE *f;
            if (zmq_getsockopt(b->sock, ZMQ_LAST_ENDPOINT, ep, &len) != 0)
                return zerr("cannot read the bound endpoint of", b);
            f = fopen(b->endpoint_file, "w");
            if (!f || fprintf(f, "%s\n", ep) < 0 || fclose(f) != 0) {
                cli_err("cannot write %s: %s", b->endpoint_file, strerror(errno));
                return EXIT_FAIL;
            }
        }
    } else if (zmq_connect(b->sock, b->endpoint) != 0) {
        return zerr("cannot connect to", b);
    }
    return EXIT_OK;
}

/* Reads the monitor's events (never waits): handshakes and breaks. */
static void monitor_poll(struct bridge *b)
{
    for (;;) {
        zmq_msg_t frame;
        uint16_t event;
        int more;
        zmq_msg_init(&frame);
        if (zmq_msg_recv(&frame, b->mon, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&frame);
            return;
        }
        /* Frame 1: 16-bit event, 32-bit value; frame 2: the endpoint. */
        if (zmq_msg_size(&frame) >= sizeof(event)) {
            memcpy(&event, zmq_msg_data(&frame), sizeof(event));
            if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED)
                b->connected = 1;
            else if (event == ZMQ_EVENT_DISCONNECTED && b->connected)
                b->broken = 1;
        }
        more = zmq_msg_more(&frame);
        zmq_msg_close(&frame);
        while (more) {
            zmq_msg_init(&frame);
            if (zmq_msg_recv(&frame, b->mon, 0) < 0)
                more = 0;
            else
                more = zmq_msg_more(&frame);
            zmq_msg_close(&frame);
        }
    }
}

/* Ends the process after a death: no close of the ring handle (the library reports the death of
 * this process to the local peer) and no ZeroMQ teardown (linger would wait on a dead peer). */
static _Noreturn void die_as_peer(const struct bridge *b, const char *why)
{
    cli_err("%s: peer died: %s", b->ring.name, why);
    fflush(stderr);
    _exit(EXIT_PEER_DIED);
}

/* Waits for the first peer's handshake, or the --timeout. */
static int wait_first_peer(struct bridge *b, int64_t start)
{
    while (!b->connected) {
        zmq_pollitem_t it = {b->mon, 0, ZMQ_POLLIN, 0};
        if (cli_stop)
            return -EINTR;
        if (b->timeout_ns && now_mono_ns() - start >= b->timeout_ns) {
            cli_err("%s: no peer on %s within the timeout", b->ring.name, b->endpoint);
            return -ETIMEDOUT;
        }
        zmq_poll(&it, 1, SLICE_MS);
        monitor_poll(b);
    }
    return 0;
}

/* Sends one message (flags: ZMQ_SNDMORE or 0), blocking in slices; watches for breaks. */
static int send_msg(struct bridge *b, const void *buf, size_t len, int flags)
{
    for (;;) {
        if (zmq_send(b->sock, buf, len, flags) >= 0)
            return 0;
        if (zmq_errno() != EAGAIN && zmq_errno() != EINTR)
            return zerr("cannot send to", b);
        if (cli_stop)
            return -EINTR;
        monitor_poll(b);
        if (b->broken)
            die_as_peer(b, "the receiving bridge went away (connection broken)");
    }
}

static int send_control(struct bridge *b, char what)
{
    int err = send_msg(b, "", 0, ZMQ_SNDMORE);
    return err ? err : send_msg(b, &what, 1, 0);
}

/* --- out: ring -> socket ------------------------------------------------------------------- */

static int run_out(struct bridge *b)
{
    char *buf = malloc(b->ring.max_record ? b->ring.max_record : 1);
    uint64_t since_poll = 0;
    int rc = EXIT_OK;
    if (!buf) {
        cli_err("out of memory");
        return EXIT_FAIL;
    }
    for (;;) {
        const void *rec = NULL;
        size_t len = 0;
        ssize_t n;
        int err;
        if (cli_stop) {
            rc = EXIT_FAIL;
            break;
        }
        /* SPSC: zero copy (ZeroMQ copies the record once, into its message). MPMC: pop. */
        if (b->ring.s) {
            err = shmring_spsc_peek_wait(b->ring.s, &rec, &len, SLICE_NS);
            n = err ? err : (ssize_t)len;
        } else {
            n = shmring_mpmc_pop_wait(b->ring.m, buf, b->ring.max_record, SLICE_NS);
            rec = buf;
            len = n > 0 ? (size_t)n : 0;
        }
        if (n == -ETIMEDOUT) {
            monitor_poll(b);
            if (b->broken)
                die_as_peer(b, "the receiving bridge went away (connection broken)");
            continue;
        }
        if (n == -EPIPE) {
            int died = producer_died(&b->ring);
            if ((err = send_control(b, died ? 'X' : 'E')) != 0) {
                rc = EXIT_FAIL;
                break;
            }
            if (died) {
                cli_err("%s: the ring's producer died; told the far side", b->ring.name);
                rc = EXIT_PEER_DIED;
            }
            break;
        }
        if (n < 0) {
            cli_err("%s: cannot read: %s", b->ring.name, shmring_strerror((int)n));
            rc = EXIT_FAIL;
            break;
        }
        err = send_msg(b, rec, len, 0);
        if (b->ring.s)
            shmring_spsc_release(b->ring.s);
        if (err) {
            rc = EXIT_FAIL;
            break;
        }
        if (++since_poll == 4096) { /* a break while the receiver still takes everything */
            since_poll = 0;
            monitor_poll(b);
            if (b->broken)
                die_as_peer(b, "the receiving bridge went away (connection broken)");
        }
    }
    free(buf);
    return rc;
}

/* --- in: socket -> ring -------------------------------------------------------------------- */

static int push_record(struct bridge *b, const void *data, size_t len)
{
    for (;;) {
        int err = b->ring.s ? shmring_spsc_push_wait(b->ring.s, data, len, SLICE_NS)
                            : shmring_mpmc_push_wait(b->ring.m, data, len, SLICE_NS);
        if (err == 0)
            return 0;
        if (err == -ETIMEDOUT && !cli_stop)
            continue; /* the ring is full: back-pressure; ZeroMQ holds the rest */
        if (err == -EPIPE) {
            /* Our consumer died: stop reading; the far side sees the break as our death. */
            cli_err("%s: the ring's consumer went away; stopping", b->ring.name);
            fflush(stderr);
            _exit(EXIT_PEER_DIED);
        }
        if (err == -EMSGSIZE)
            cli_err("%s: a %zu-byte record does not fit this ring (largest %zu)", b->ring.name, len,
                    b->ring.max_record);
        else
            cli_err("%s: cannot write: %s", b->ring.name, shmring_strerror(err));
        return err;
    }
}

static int run_in(struct bridge *b)
{
    int64_t broke_at = 0;
    for (;;) {
        zmq_msg_t msg;
        int n;
        if (cli_stop)
            return EXIT_FAIL;
        zmq_msg_init(&msg);
        n = zmq_msg_recv(&msg, b->sock, 0);
        if (n < 0) {
            zmq_msg_close(&msg);
            if (zmq_errno() != EAGAIN && zmq_errno() != EINTR)
                return zerr("cannot receive from", b);
            monitor_poll(b);
            if (b->broken) {
                /* Read what arrived before the break (ZeroMQ may report it first), then decide. */
                if (!broke_at)
                    broke_at = now_mono_ns();
                else if (now_mono_ns() - broke_at >= DRAIN_AFTER_BREAK_MS * 1000000LL)
                    die_as_peer(b, "the sending bridge went away before the end of stream");
            }
            continue;
        }
        if (zmq_msg_more(&msg)) { /* a control message: empty frame, then one byte */
            zmq_msg_t what;
            char c = 0;
            zmq_msg_close(&msg);
            zmq_msg_init(&what);
            if (zmq_msg_recv(&what, b->sock, 0) == 1)
                c = *(const char *)zmq_msg_data(&what);
            zmq_msg_close(&what);
            if (c == 'E')
                return EXIT_OK;
            if (c == 'X')
                die_as_peer(b, "the far ring's producer died");
            cli_err("%s: malformed control message from %s; ignored", b->ring.name, b->endpoint);
            continue;
        }
        if (push_record(b, zmq_msg_data(&msg), zmq_msg_size(&msg)) != 0) {
            /* Mid-stream: a close would tell the local consumer "end of stream" although records
             * are missing; leave the handle so that it learns of a death instead. */
            fflush(stderr);
            _exit(EXIT_FAIL);
        }
        zmq_msg_close(&msg);
    }
}

int cmd_bridge(int argc, char **argv)
{
    static const struct option opts[] = {
        {"hwm", required_argument, NULL, 'w'},
        {"heartbeat", required_argument, NULL, 'b'},
        {"timeout", required_argument, NULL, 't'},
        {"endpoint-file", required_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct bridge b = {0};
    const char *ring, *endpoint;
    uint64_t hwm = 1000;
    double heartbeat = 1, timeout = 0;
    int c, rc;
    getopt_reset();
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'w':
            if (parse_count(optarg, &hwm) != 0 || hwm > 1000000000)
                return cli_usage_err("--hwm wants a count of messages, not '%s'", optarg);
            break;
        case 'b':
            if (parse_seconds(optarg, &heartbeat) != 0 || heartbeat > 3600)
                return cli_usage_err("--heartbeat wants seconds, not '%s'", optarg);
            break;
        case 't':
            if (parse_seconds(optarg, &timeout) != 0)
                return cli_usage_err("--timeout wants seconds, not '%s'", optarg);
            break;
        case 'f':
            b.endpoint_file = optarg;
            break;
        case 'h':
            bridge_usage(stdout);
            return EXIT_OK;
        default:
            return cli_bad_option(argv, c);
        }
    }
    if (argc - optind != 3)
        return cli_usage_err("want 'out RING ENDPOINT' or 'in ENDPOINT RING'");
    if (strcmp(argv[optind], "out") == 0) {
        b.out = 1;
        ring = argv[optind + 1];
        endpoint = argv[optind + 2];
    } else if (strcmp(argv[optind], "in") == 0) {
        endpoint = argv[optind + 1];
        ring = argv[optind + 2];
    } else {
        return cli_usage_err("unknown direction '%s' (out or in)", argv[optind]);
    }
    b.bind = !b.out;
    if (endpoint[0] == '@' || endpoint[0] == '>') {
        b.bind = endpoint[0] == '@';
        endpoint++;
    }
    if (strstr(endpoint, "://") == NULL)
        return cli_usage_err("'%s' is not a ZeroMQ endpoint (tcp://HOST:PORT, ipc://PATH)", endpoint);
    b.endpoint = endpoint;
    b.hwm = (int)hwm;
    b.heartbeat_ms = (int)(heartbeat * 1000);
    b.timeout_ns = (int64_t)(timeout * 1e9);
    b.ring.name = ring;

    signals_setup();
    rc = bring_open(&b.ring, b.out ? SHMRING_CONSUMER : SHMRING_PRODUCER);
    if (rc == EXIT_OK)
        rc = socket_open(&b);
    if (rc == EXIT_OK)
        rc = wait_first_peer(&b, now_mono_ns()) ? EXIT_FAIL : EXIT_OK;
    if (rc == EXIT_OK)
        rc = b.out ? run_out(&b) : run_in(&b);
    if (rc == EXIT_PEER_DIED && b.out) {
        /* The source's producer died and the far side was told; close the socket cleanly so the
         * 'X' gets there, and leave the ring as it is (its producer is gone anyway). */
        zmq_close(b.mon);
        zmq_close(b.sock);
        zmq_ctx_term(b.ctx);
        bring_close(&b.ring);
        return rc;
    }
    /* Clean end (or an error): close the ring (the local consumer of `in` sees the end of stream),
     * then the socket, which waits until ZeroMQ has handed everything to TCP. */
    bring_close(&b.ring);
    if (b.mon)
        zmq_close(b.mon);
    if (b.sock)
        zmq_close(b.sock);
    if (b.ctx)
        zmq_ctx_term(b.ctx);
    signals_finish();
    return rc;
}
