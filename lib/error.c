/* shmring — error codes and their messages, from one table. */
#include <errno.h>
#include <limits.h>
#include <string.h>

#include "internal.h"
#include "shmring/common.h"

/* The table is public: SHMRING_ERRNO_MAP in include/shmring/common.h. Codes not listed fall back
 * to the system's description. */

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
        SHMRING_ERRNO_MAP(SHMRING_MSG)
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
        SHMRING_ERRNO_MAP(SHMRING_NAME)
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
