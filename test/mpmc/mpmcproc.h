/* Producer and consumer bodies for the multi-process MPMC tests: each opens the ring by name,
 * optionally meets the others at a start barrier, streams checked records (see mpmcutil.h) mixing
 * the copying and zero-copy paths with bursts, and reports through the shared ledger. Run them in
 * forked children with mt_spawn(mt_producer_main, &w). */
#ifndef SHMRING_TEST_MPMC_MPMCPROC_H
#define SHMRING_TEST_MPMC_MPMCPROC_H

#include "mpmcutil.h"

struct mt_worker {
    const char *ring;
    uint32_t id;                /* producer id (record field) or consumer id (< 64) */
    uint32_t nproducers;        /* records with a producer id >= this are bad */
    uint64_t count;             /* producer: sends sequences [0, count) */
    struct mt_ledger *ledger;   /* consumer: marks what it receives; both: report errors */
    struct mt_barrier *barrier; /* NULL: start at once */
    int64_t timeout_ns;         /* of each blocking call; running into it is an error */
};

/* Exit codes of the children. */
#define MT_EXIT_OK 0
#define MT_EXIT_OPEN 10    /* shmring_mpmc_open failed */
#define MT_EXIT_BARRIER 11 /* the start barrier timed out */
#define MT_EXIT_RING 12    /* a ring call failed (see the ledger's first error) */
#define MT_EXIT_DATA 13    /* a record was wrong (see the ledger's first error) */

/* Sends w->count records, then closes. */
int mt_producer_main(void *w);

/* Receives until -EPIPE (every producer gone, ring empty), then closes. Counts what it received in
 * ledger->per_consumer[id]. */
int mt_consumer_main(void *w);

#endif
