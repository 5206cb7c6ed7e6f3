/* shmring — control events: who attached, detached, closed the stream, died; ring removal; small
 * application messages. Never data.
 *
 * Each ring has one System V message queue (created and removed with it). A process subscribes to
 * the event types it wants with shmring_control_open() and reads them with shmring_control_recv()
 * without blocking, blocking, or with a timeout. The library itself sends the lifecycle events from
 * its slow paths (open, close, waiting, recovery); applications send SHMRING_EV_APP messages to
 * every subscriber or to the subscribers of one process.
 *
 *   struct shmring_control *c;
 *   shmring_control_open("orders", SHMRING_EV_ALL, &c);
 *   struct shmring_event ev;
 *   while (shmring_control_recv(c, &ev, 100 * 1000 * 1000) == 0)   // 100 ms
 *       printf("%s pid %d\n", shmring_event_name(ev.type), ev.pid);
 *   shmring_control_close(c);
 *
 * Delivery: every send uses IPC_NOWAIT. When the queue is full the message is dropped and counted
 * (for the subscriber: shmring_control_dropped(); for the ring: stats.events_dropped, shown by
 * `shmring stat`), so a slow or absent reader never slows or blocks the data path or another
 * subscriber's sender. Events of one sender arrive in the order it sent them.
 * Subscriptions: at most SHMRING_SUBSCRIBERS per ring (a slot of a dead subscriber is reused).
 * A subscriber may see events sent shortly before it subscribed (never older ones).
 * Ring removal: shmring_unlink() removes the queue, which discards what it held; a subscriber learns
 * of the removal from its next receive, which returns one SHMRING_EV_REMOVED event (if subscribed),
 * then -EIDRM.
 * Liveness: SHMRING_EV_PEER_DIED is sent by whichever process first notices that a handle's
 * process died without closing it (a waiter whose peers vanished, an opener, MPMC recovery), once
 * per dead handle. Its pid is the dead process.
 * Anonymous rings (shmring_spsc_pipe) have no name and no subscribers.
 */
#ifndef SHMRING_CONTROL_H
#define SHMRING_CONTROL_H

#include <stddef.h>
#include <stdint.h>

#include "shmring/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Event types. A subscription mask has bit SHMRING_EV_BIT(type) set for each type wanted. */
enum shmring_event_type {
    SHMRING_EV_ATTACH = 1,    /* a producer or consumer handle was opened (role, pid) */
    SHMRING_EV_DETACH = 2,    /* a producer or consumer handle was closed (role, pid) */
    SHMRING_EV_EOS = 3,       /* SPSC: the last producer closed: end of stream (pid: the closer) */
    SHMRING_EV_PEER_DIED = 4, /* a process died holding a handle (role, pid: the dead process) */
    SHMRING_EV_REMOVED = 5,   /* the ring was removed (made by the receiver when the queue goes) */
    SHMRING_EV_APP = 6,       /* an application message (code, data, len; pid: the sender) */
};
#define SHMRING_EV_BIT(type) (1u << ((type)-1))
#define SHMRING_EV_ALL 0x3fu

/* Largest application payload, in bytes. */
#define SHMRING_EVENT_DATA_MAX 240u

/* One event as received. */
struct shmring_event {
    uint32_t type;    /* enum shmring_event_type */
    uint32_t role;    /* ATTACH, DETACH, PEER_DIED: enum shmring_role of the handle; else 0 */
    int32_t pid;      /* the process the event is about (APP: the sender) */
    uint32_t code;    /* APP: the sender's code; else 0 */
    int64_t time_ns;  /* CLOCK_REALTIME when it was sent (0 for REMOVED) */
    uint32_t len;     /* APP: bytes in data; else 0 */
    int32_t to_pid;   /* APP: the process it was addressed to, 0 for a broadcast */
    uint8_t data[SHMRING_EVENT_DATA_MAX];
};

struct shmring_control; /* a subscription (or a send-only handle): process-local, opaque */

/* Opens the control channel of the ring `name` (either kind). mask != 0 subscribes this process to
 * those event types (SHMRING_EV_BIT(...) | ..., or SHMRING_EV_ALL); mask 0 gives a send-only
 * handle. Shares the process's attachment of the ring with its other handles. Returns 0, -EINVAL
 * (bad mask), the errors of shmring_spsc_open() about the name, -EUSERS (all SHMRING_SUBSCRIBERS
 * subscriptions taken by live processes). Thread-safe. System calls: several. */
int shmring_control_open(const char *name, uint32_t mask, struct shmring_control **out);

/* Receives the next event for this subscription into *ev. timeout_ns: 0 does not wait (-EAGAIN if
 * none), < 0 waits without limit, > 0 waits at most that long (-ETIMEDOUT). A timed wait sleeps on
 * the ring's control semaphore in slices of at most 10 ms, so an event that races with the start of
 * a slice may be seen up to 10 ms late; the other modes are exact.
 * Returns 0 (event in *ev), -EAGAIN, -ETIMEDOUT, -EIDRM (the ring is gone; after the one
 * SHMRING_EV_REMOVED event if subscribed to it), -EINTR (a signal arrived while waiting without
 * limit), -EINVAL (send-only handle or NULL), -ECHILD (a handle inherited through fork(): the
 * subscription belongs to the parent; open your own). Messages that are malformed (anyone who may
 * write to the queue can put anything there) are skipped and counted in shmring_control_dropped().
 * One thread at a time per handle. */
int shmring_control_recv(struct shmring_control *c, struct shmring_event *ev, int64_t timeout_ns);

/* Sends an application message (type SHMRING_EV_APP) with `code` and `len` bytes of `data` to every
 * subscriber of SHMRING_EV_APP (to_pid 0) or to those of process to_pid. Never blocks: a full queue
 * drops the message for that subscriber (counted). Returns the number of subscribers it was queued
 * for (0 if nobody wants it), -EMSGSIZE (len > SHMRING_EVENT_DATA_MAX), -EINVAL (to_pid < 0, NULL),
 * -EIDRM (ring removed). Thread-safe. System calls: one msgsnd per subscriber reached, plus a
 * semaphore pulse to wake timed receivers. */
int shmring_control_send(struct shmring_control *c, int32_t to_pid, uint32_t code, const void *data, size_t len);

/* Changes the subscription's mask (0 stops events without giving up the slot; not for send-only
 * handles: -EINVAL). */
int shmring_control_set_mask(struct shmring_control *c, uint32_t mask);

/* Messages for this subscription that were dropped because the queue was full, plus malformed
 * ones skipped. */
uint64_t shmring_control_dropped(const struct shmring_control *c);

/* Ends the subscription (its pending messages are discarded) and frees the handle. 0. */
int shmring_control_close(struct shmring_control *c);

/* "ATTACH", "DETACH", ... or "UNKNOWN". */
const char *shmring_event_name(uint32_t type);

#ifdef __cplusplus
}
#endif

#endif /* SHMRING_CONTROL_H */
