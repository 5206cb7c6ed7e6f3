/* Helpers shared by the shmring tests. */
#ifndef SHMRING_TESTUTIL_H
#define SHMRING_TESTUTIL_H

#include <stdint.h>
#include <sys/types.h>

/* System V objects in this IPC namespace (segments + semaphore sets + message queues), read from
 * /proc/sysvipc. Tests run in Bazel's sandbox, which gives each test binary its own namespace, so
 * anything counted here was made by the test. Returns -1 if /proc/sysvipc cannot be read. */
int testutil_ipc_objects(void);

/* Prints the objects (like ipcs) to stderr: for failure messages. */
void testutil_ipc_dump(void);

/* Removes every System V object in this namespace; returns how many. For test cleanup only. */
int testutil_ipc_remove_all(void);

/* A unique ring name for this process and a counter: "t<pid>_<tag>_<n>". */
const char *testutil_name(const char *tag);

/* splitmix64: a fast, seedable generator for record sizes and contents. */
static inline uint64_t testutil_rand(uint64_t *state)
{
    uint64_t z = (*state += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

/* Fills buf with bytes derived from seq (verifiable with testutil_check_fill). */
void testutil_fill(void *buf, size_t len, uint64_t seq);
/* 1 if buf holds what testutil_fill(buf, len, seq) wrote. */
int testutil_check_fill(const void *buf, size_t len, uint64_t seq);

/* Waits for a child; returns its exit status (0..255), 128+signal if killed, -1 on error. */
int testutil_wait(pid_t pid);

/* Like testutil_wait(), but gives up after timeout_ns: then it kills the child (SIGKILL), reaps it
 * and returns TESTUTIL_WAIT_TIMEDOUT. Never hangs. */
#define TESTUTIL_WAIT_TIMEDOUT (-2)
int testutil_wait_timeout(pid_t pid, int64_t timeout_ns);

/* Kills a child (SIGKILL) and reaps it; returns its status as testutil_wait(). pid <= 0: no-op, -1. */
int testutil_kill_wait(pid_t pid);

/* Monotonic clock in nanoseconds. */
int64_t testutil_now_ns(void);

/* How long a wall-time-bounded test runs: long_s with SHMRING_LONG=1 in the environment (the
 * long/strict mode), short_s otherwise; in nanoseconds. */
int64_t testutil_run_ns(int64_t short_s, int64_t long_s);

#endif
