/* shmring — error codes and their messages, from one table. */
#include <errno.h>
#include <limits.h>
#include <string.h>

#include "internal.h"
#include "shmring/common.h"

/* X(code, message as shmring means it). Codes not listed fall back to strerror(). */
#define SHMRING_ERRORS(X)                                                                       \
    X(EAGAIN, "ring is full (producer) or empty (consumer); try again")                        \
    X(EPIPE, "end of stream: the other side closed or died")                                   \
    X(ETIMEDOUT, "timed out waiting on the ring")                                              \
    X(EMSGSIZE, "record too large for the ring or for the buffer")                             \
    X(ENOENT, "no ring of that name")                                                          \
    X(EEXIST, "a ring or another System V object already holds that name's key")               \
    X(EBADMSG, "not a shmring segment (foreign magic); left untouched")                        \
    X(EPROTONOSUPPORT, "ring made by an incompatible shmring version, or of another kind")     \
    X(EUCLEAN, "ring is corrupt: its shared memory breaks the ring's invariants")              \
    X(EIDRM, "ring was removed")                                                               \
    X(EBUSY, "that side of the ring is already attached")                                      \
    X(EDEADLK, "would wait for space held by the caller's own uncommitted records")            \
    X(ENOSYS, "this ring uses membarrier(2) wake-ups, which this process cannot use; create it with SHMRING_F_WAKE_FENCED") \
    X(EUSERS, "every handle entry of the ring is taken by a live process")                    \
    X(ENOBUFS, "lapped by the producer: records were lost (broadcast ring)")                  \
    X(EINVAL, "invalid argument")                                                              \
    X(ENAMETOOLONG, "ring name too long (at most 63 bytes)")                                   \
    X(EACCES, "permission denied by the ring's mode")                                          \
    X(EPERM, "operation not permitted")                                                        \
    X(ENOMEM, "not enough memory, or a shared-memory limit was reached (shmmax, shmall; vm.nr_hugepages for huge pages)")          \
    X(ENOSPC, "system limit on System V objects reached (see ipcs -l)")

/* |err| without overflow: INT_MIN has no positive int, and is no errno anyway. */
static int magnitude(int err)
{
    return err == INT_MIN ? -1 : err < 0 ? -err : err;
}

const char *shmring_strerror(int err)
{
    err = magnitude(err);
    if (err < 0)
        return "unknown error";
    switch (err) {
#define SHMRING_MSG(code, msg) \
    case code:                 \
        return msg;
        SHMRING_ERRORS(SHMRING_MSG)
#undef SHMRING_MSG
    case 0:
        return "success";
    default: {
        /* strerror() may format unknown codes into a shared buffer: not thread-safe, not static. */
        const char *msg = strerrordesc_np(err);
        return msg ? msg : "unknown error";
    }
    }
}

const char *shmring_err_name(int err)
{
    err = magnitude(err);
    switch (err) {
#define SHMRING_NAME(code, msg) \
    case code:                  \
        return #code;
        SHMRING_ERRORS(SHMRING_NAME)
#undef SHMRING_NAME
    case 0:
        return "OK";
    default:
        return "UNKNOWN";
    }
}

int shmring__errno(void)
{
    return errno > 0 ? -errno : -EIO;
}
