/* A child program for membarrier_test: does one thing on rings by name, optionally as a process
 * that cannot use membarrier(2).
 *
 *   membarrier_child [--no-membarrier] create spsc|mpmc NAME FLAGS EXPECT
 *       creates NAME with config flags FLAGS; exit 0 if the result is -EXPECT (0: success)
 *   membarrier_child [--no-membarrier] open spsc|mpmc NAME EXPECT
 *       opens NAME as producer, then as consumer; exit 0 if both return -EXPECT (0: success)
 *   membarrier_child [--no-membarrier] echo spsc|mpmc PING PONG ROUNDS
 *       receives ROUNDS checked records on PING and sends each back on PONG (spin 0)
 *
 * --no-membarrier installs a seccomp filter that makes membarrier() fail with ENOSYS and then
 * execs this program again: the filter is in place before anything of the new image runs,
 * liburcu's initialisation included (as in a container whose profile forbids membarrier; a
 * process that already initialised liburcu with membarrier would abort in it). Exit status 77:
 * the filter could not be installed. Other failures: 1, with the reason on stderr.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "mbutil.h"

static int fail(const char *what, int err)
{
    fprintf(stderr, "membarrier_child: %s: %s (%s)\n", what, shmring_err_name(err), shmring_strerror(err));
    return 1;
}

int main(int argc, char **argv)
{
    int mpmc, err;
    if (argc > 1 && strcmp(argv[1], "--no-membarrier") == 0) {
        if ((err = mb_no_membarrier()) != 0) {
            fprintf(stderr, "membarrier_child: cannot install the seccomp filter: %s\n", strerror(-err));
            return MB_SKIP;
        }
        argv[1] = argv[0];
        execv("/proc/self/exe", argv + 1);
        fprintf(stderr, "membarrier_child: exec: %s\n", strerror(errno));
        return 1;
    }
    if (argc < 4) {
        fprintf(stderr, "usage: see membarrier_child.c\n");
        return 2;
    }
    mpmc = strcmp(argv[2], "mpmc") == 0;
    if (strcmp(argv[1], "create") == 0 && argc == 6) {
        struct shmring_config cfg;
        int expect = -atoi(argv[5]);
        shmring_config_init(&cfg);
        cfg.flags = (uint32_t)strtoul(argv[4], NULL, 0);
        err = mpmc ? shmring_mpmc_create(argv[3], &cfg) : shmring_spsc_create(argv[3], &cfg);
        return err == expect ? 0 : fail("create", err);
    }
    if (strcmp(argv[1], "open") == 0 && argc == 5) {
        int expect = -atoi(argv[4]), role;
        for (role = SHMRING_PRODUCER; role <= SHMRING_CONSUMER; role++) {
            struct shmring_spsc *r = NULL;
            struct shmring_mpmc *q = NULL;
            err = mpmc ? shmring_mpmc_open(argv[3], (enum shmring_role)role, &q)
                       : shmring_spsc_open(argv[3], (enum shmring_role)role, &r);
            if (err != expect)
                return fail(role == SHMRING_PRODUCER ? "open as producer" : "open as consumer", err);
            if (err == 0) {
                if (r)
                    shmring_spsc_close(r);
                if (q)
                    shmring_mpmc_close(q);
            } else if (r != NULL || q != NULL) {
                fprintf(stderr, "membarrier_child: a failed open returned a handle\n");
                return 1;
            }
            /* A failed open leaves nothing attached in this process. */
            if (shmring_attached(argv[3]) != 0) {
                fprintf(stderr, "membarrier_child: a failed open left an attachment\n");
                return 1;
            }
        }
        return 0;
    }
    if (strcmp(argv[1], "echo") == 0 && argc == 6) {
        struct mb_ends e;
        uint64_t i, rounds = strtoull(argv[5], NULL, 0);
        if ((err = mb_open(mpmc, argv[4], argv[3], &e)) != 0)
            return fail("open", err);
        for (i = 0; i < rounds; i++) {
            if ((err = mb_recv(&e, i)) != 0 || (err = mb_send(&e, i)) != 0) {
                fprintf(stderr, "membarrier_child: round %" PRIu64 ":\n", i);
                mb_close(&e);
                return fail("echo", err);
            }
        }
        mb_close(&e);
        return 0;
    }
    fprintf(stderr, "usage: see membarrier_child.c\n");
    return 2;
}
