#include "testutil.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *const ipc_files[3] = {"/proc/sysvipc/shm", "/proc/sysvipc/sem", "/proc/sysvipc/msg"};

/* Calls fn(kind, id) for every object; returns the count or -1. */
static int for_each_object(void (*fn)(int kind, int id))
{
    int total = 0;
    for (int k = 0; k < 3; k++) {
        FILE *f = fopen(ipc_files[k], "r");
        char line[512];
        if (f == NULL)
            return -1;
        if (fgets(line, sizeof(line), f) == NULL) { /* column titles */
            fclose(f);
            continue;
        }
        while (fgets(line, sizeof(line), f)) {
            int key, id;
            if (sscanf(line, "%d %d", &key, &id) == 2) {
                total++;
                if (fn)
                    fn(k, id);
            }
        }
        fclose(f);
    }
    return total;
}

int testutil_ipc_objects(void)
{
    return for_each_object(NULL);
}

static void dump_one(int kind, int id)
{
    static const char *const names[3] = {"shm", "sem", "msg"};
    fprintf(stderr, "  leftover %s id %d\n", names[kind], id);
}

void testutil_ipc_dump(void)
{
    for_each_object(dump_one);
}

static void remove_one(int kind, int id)
{
    if (kind == 0)
        shmctl(id, IPC_RMID, NULL);
    else if (kind == 1)
        semctl(id, 0, IPC_RMID);
    else
        msgctl(id, IPC_RMID, NULL);
}

int testutil_ipc_remove_all(void)
{
    return for_each_object(remove_one);
}

const char *testutil_name(const char *tag)
{
    static __thread char buf[64];
    static int counter;
    snprintf(buf, sizeof(buf), "t%d_%s_%d", (int)getpid(), tag, __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED));
    return buf;
}

void testutil_fill(void *buf, size_t len, uint64_t seq)
{
    uint64_t s = seq;
    unsigned char *p = buf;
    size_t i = 0;
    while (i < len) {
        uint64_t r = testutil_rand(&s);
        for (int b = 0; b < 8 && i < len; b++, i++)
            p[i] = (unsigned char)(r >> (8 * b));
    }
}

int testutil_check_fill(const void *buf, size_t len, uint64_t seq)
{
    uint64_t s = seq;
    const unsigned char *p = buf;
    size_t i = 0;
    while (i < len) {
        uint64_t r = testutil_rand(&s);
        for (int b = 0; b < 8 && i < len; b++, i++)
            if (p[i] != (unsigned char)(r >> (8 * b)))
                return 0;
    }
    return 1;
}

int testutil_wait(pid_t pid)
{
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return -1;
}

int64_t testutil_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int64_t testutil_run_ns(int64_t short_s, int64_t long_s)
{
    const char *env = getenv("SHMRING_LONG");
    return (env && strcmp(env, "1") == 0 ? long_s : short_s) * 1000000000LL;
}

static int decode_status(int status)
{
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return -1;
}

int testutil_wait_timeout(pid_t pid, int64_t timeout_ns)
{
    int64_t deadline = testutil_now_ns() + timeout_ns;
    for (;;) {
        int status;
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            return decode_status(status);
        if (r < 0 && errno != EINTR)
            return -1;
        if (testutil_now_ns() >= deadline) {
            testutil_kill_wait(pid);
            return TESTUTIL_WAIT_TIMEDOUT;
        }
        usleep(1000);
    }
}

int testutil_kill_wait(pid_t pid)
{
    if (pid <= 0)
        return -1;
    kill(pid, SIGKILL);
    return testutil_wait(pid);
}
