/* Child processes for the multi-process tests: spawn (fork or exec), bounded join with a result
 * passed back through a pipe, and cleanup of everything a failed test leaves behind; plus a
 * read-only view of a ring's shared header, for tests that must wait until a side sleeps.
 *
 * Every child is tracked; proc_cleanup() (call it from a Criterion .fini, which also runs after a
 * failed assertion) kills and reaps the tracked children and unlinks the tracked rings, so that a
 * failure can neither hang the test binary nor leave objects that make the next test fail too.
 */
#ifndef SHMRING_TEST_PROC_PROCUTIL_H
#define SHMRING_TEST_PROC_PROCUTIL_H

#include <stdint.h>
#include <sys/types.h>

#include "shmring/shmring.h"

#define SEC (1000000000LL)
#define MSEC (1000000LL)

/* What a forked child hands back. */
struct proc_result {
    int rc;            /* the child function's return value (0: success) */
    int err;           /* a shmring error, if that is what failed */
    uint64_t n;        /* records, rounds, ... */
    int64_t t_ns[4];   /* CLOCK_MONOTONIC instants (same clock in every process) */
    uint64_t v[4];     /* anything else */
    char msg[256];     /* why it failed */
};

struct proc_child {
    pid_t pid;
    int fd; /* read end of the result pipe, -1 for an exec'd child */
};

typedef int (*proc_fn)(void *arg, struct proc_result *res);

/* Forks; the child runs fn(arg, &res), writes res to the pipe and _exits with 0 if fn returned 0,
 * else 1 (never returns into the test). Returns 0 or -errno. */
int proc_spawn(struct proc_child *c, proc_fn fn, void *arg);

/* fork + execv(argv[0], argv). The child's stdout/stderr are the test's. Returns 0 or -errno. */
int proc_spawn_exec(struct proc_child *c, char *const argv[]);

/* Waits at most timeout_ns for the child (then kills it), reads its result if it sent one (else
 * res->rc = -1 and res->msg says so). Returns the status as testutil_wait_timeout(). */
int proc_join(struct proc_child *c, int64_t timeout_ns, struct proc_result *res);

/* Sends SIGKILL (does not reap: proc_join does). Returns CLOCK_MONOTONIC at the kill. */
int64_t proc_kill(struct proc_child *c);

/* Remembers a ring name that proc_cleanup() unlinks. */
void proc_track_ring(const char *name);
/* Forgets it (the test removed it itself). */
void proc_untrack_ring(const char *name);

/* Kills and reaps tracked children, unlinks tracked rings, then removes any System V object left
 * (reporting them on stderr) so the next test starts clean. For .fini only: the test itself must
 * have asserted that nothing was left. */
void proc_cleanup(void);

/* Maps the header of ring `name` read-only (NULL if there is no such segment). Only atomics may be
 * read through it. Unmap with proc_unobserve() before the test checks for leftover objects. */
const struct shmring_header *proc_observe(const char *name);
void proc_unobserve(const struct shmring_header *hdr);

/* Polls cond(arg) every 200 us until it returns non-zero or timeout_ns passes. Returns 1 or 0. */
int proc_wait_for(int (*cond)(const void *arg), const void *arg, int64_t timeout_ns);

/* Sleeps (retrying after signals). */
void proc_sleep_ns(int64_t ns);

/* Conditions on an observed header (arg: the header). */
int proc_consumer_sleeping(const void *hdr);
int proc_producer_sleeping(const void *hdr);

/* A child that kills another process once a ring's side has gone to sleep: run it with
 * proc_spawn(&c, proc_killer, &args). It waits (at most timeout_ns) until the flag `wait_for`
 * (proc_consumer_sleeping or proc_producer_sleeping; NULL: no wait) is set and the matching sleep
 * counter has moved past the value it had when the killer started (or when cons.count reached
 * min_released, if that is later), then for delay_ns more (so the
 * sleeper is inside semtimedop), then sends `sig` to `victim`. res->t_ns[0] is the instant of the
 * kill; rc 1 if the condition never came (the victim is then killed anyway). */
struct proc_killer_args {
    pid_t victim;
    int sig;
    const char *ring;
    uint64_t min_released; /* first wait until the consumer released this many records */
    int (*wait_for)(const void *hdr);
    int64_t delay_ns;
    int64_t timeout_ns;
};
int proc_killer(void *arg, struct proc_result *res);

/* The value of a semaphore of the ring's set, or -errno. */
int proc_semval(const struct shmring_header *hdr, int sem);

#endif
