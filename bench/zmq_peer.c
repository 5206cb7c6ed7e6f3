/* Raw ZeroMQ PUSH/PULL with the records of test/bridge/bridge_peer.c, for bench/bridge_bench.sh:
 * what `shmring bridge` costs beside ZeroMQ alone on the same link.
 *
 *   zmq_peer pull ENDPOINT N   binds ENDPOINT (PULL), receives and checks N records, then exits
 *   zmq_peer push ENDPOINT N   connects (PUSH), sends records 0..N-1, waits until they are on TCP
 *
 * Record i: 8 + i % 193 bytes, its number then byte j = (i * 31 + j) & 0xff (as bridge_peer).
 * High-water marks 1000 on both sides, as the bridge's default. Exit 0 when all N arrived intact.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "test/bridge/records.h"

int main(int argc, char **argv)
{
    unsigned char buf[256], want[256];
    int hwm = 1000, linger = -1, push;
    uint64_t n, i;
    void *ctx, *s;
    if (argc != 4 || (strcmp(argv[1], "push") != 0 && strcmp(argv[1], "pull") != 0)) {
        fprintf(stderr, "usage: zmq_peer push|pull ENDPOINT N\n");
        return 2;
    }
    push = strcmp(argv[1], "push") == 0;
    n = strtoull(argv[3], NULL, 10);
    ctx = zmq_ctx_new();
    s = zmq_socket(ctx, push ? ZMQ_PUSH : ZMQ_PULL);
    zmq_setsockopt(s, push ? ZMQ_SNDHWM : ZMQ_RCVHWM, &hwm, sizeof(hwm));
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof(linger));
    if ((push ? zmq_connect(s, argv[2]) : zmq_bind(s, argv[2])) != 0) {
        fprintf(stderr, "zmq_peer: %s %s: %s\n", push ? "connect" : "bind", argv[2], zmq_strerror(zmq_errno()));
        return 1;
    }
    for (i = 0; i < n; i++) {
        size_t len = bridge_record(i, want);
        if (push) {
            if (zmq_send(s, want, len, 0) < 0) {
                fprintf(stderr, "zmq_peer: send: %s\n", zmq_strerror(zmq_errno()));
                return 1;
            }
        } else {
            int got = zmq_recv(s, buf, sizeof(buf), 0);
            if (got != (int)len || memcmp(buf, want, len) != 0) {
                fprintf(stderr, "zmq_peer: record %llu wrong (%d bytes)\n", (unsigned long long)i, got);
                return 1;
            }
        }
    }
    zmq_close(s);
    zmq_ctx_term(ctx);
    return 0;
}
