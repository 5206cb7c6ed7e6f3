/* shmring — names, keys, clocks and process liveness. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ipc.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

void shmring_config_init(struct shmring_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->capacity = 0; /* the kind's default: SHMRING_SPSC_CAPACITY_DEFAULT, SHMRING_MPMC_SLOTS_DEFAULT */
    cfg->mode = SHMRING_DEFAULT_MODE;
    cfg->slot_size = 64;
}

int shmring__check_name(const char *name)
{
    size_t n;
    if (name == NULL || name[0] == '\0')
        return -EINVAL;
    n = strnlen(name, SHMRING_NAME_MAX + 1);
    if (n > SHMRING_NAME_MAX)
        return -ENAMETOOLONG;
    if (memchr(name, '/', n) != NULL)
        return -EINVAL;
    return 0;
}

/* FNV-1a over "shmring:" + name. Collisions are not silent: the header holds the full name and
 * open/unlink compare it. The result is never IPC_PRIVATE (0) nor -1. */
key_t shmring__key(const char *name)
{
    static const char prefix[] = "shmring:";
    uint32_t h = 2166136261u;
    const char *p;
    for (p = prefix; *p; p++)
        h = (h ^ (uint8_t)*p) * 16777619u;
    for (p = name; *p; p++)
        h = (h ^ (uint8_t)*p) * 16777619u;
    if (h == 0 || h == UINT32_MAX)
        h = 0x5348524e; /* "SHRN" */
    return (key_t)h;
}

int64_t shmring_name_key(const char *name)
{
    int err = shmring__check_name(name);
    if (err)
        return err;
    return (int64_t)(uint32_t)shmring__key(name);
}

int64_t shmring__now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Field 22 of /proc/self/stat: this process's start time in clock ticks after boot. Together with
 * the pid it names the process for the tools even after the pid is reused. */
uint64_t shmring__self_start(void)
{
    char buf[1024];
    ssize_t n;
    int fd, field;
    char *p;
    unsigned long long start;
    fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    p = strrchr(buf, ')'); /* field 2, the command name, may hold spaces and parentheses */
    if (p == NULL)
        return 0;
    p++; /* the space before field 3 */
    for (field = 3; field < 22 && p; field++)
        p = strchr(p + 1, ' ');
    if (p == NULL || sscanf(p, " %llu", &start) != 1)
        return 0;
    return (uint64_t)start;
}

uint64_t shmring__self_owner(int role)
{
    return shmring__owner_word(getpid(), shmring__self_start(), role == SHMRING_CONSUMER);
}
