/* The records of the bridge tests and bench (bridge_peer.c, bench/zmq_peer.c): record i is
 * 8 + i % 193 bytes, its number (8 bytes, host order), then byte j = (i * 31 + j) & 0xff. */
#ifndef SHMRING_TEST_BRIDGE_RECORDS_H
#define SHMRING_TEST_BRIDGE_RECORDS_H

#include <stdint.h>
#include <string.h>

#define BRIDGE_RECORD_MAX (8 + 192)

/* Writes record i into buf (BRIDGE_RECORD_MAX bytes) and returns its length. */
static inline size_t bridge_record(uint64_t i, unsigned char *buf)
{
    size_t len = 8 + i % 193, j;
    memcpy(buf, &i, 8);
    for (j = 8; j < len; j++)
        buf[j] = (unsigned char)((i * 31 + j) & 0xff);
    return len;
}

#endif
