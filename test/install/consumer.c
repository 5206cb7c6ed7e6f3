/* A program built outside Bazel against an installed shmring (test/install/install_test.sh):
 * creates an SPSC ring, forks, the child produces N records, the parent consumes and checks them,
 * then removes the ring. Exit 0 when all N arrived intact and in order.
 * Usage: consumer RING N */
#include <shmring/shmring.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    struct shmring_config cfg;
    struct shmring_spsc *r;
    uint64_t n, i, got = 0;
    int err, st;
    pid_t child;
    if (argc != 3)
        return 2;
    n = strtoull(argv[2], NULL, 10);
    shmring_config_init(&cfg);
    cfg.capacity = 1 << 16;
    if ((err = shmring_spsc_create(argv[1], &cfg)) != 0) {
        fprintf(stderr, "create: %s\n", shmring_strerror(err));
        return 1;
    }
    child = fork();
    if (child == 0) {
        if (shmring_spsc_open(argv[1], SHMRING_PRODUCER, &r) != 0)
            _exit(1);
        for (i = 0; i < n; i++)
            if (shmring_spsc_push_wait(r, &i, sizeof(i), SHMRING_FOREVER) != 0)
                _exit(1);
        shmring_spsc_close(r);
        _exit(0);
    }
    if ((err = shmring_spsc_open(argv[1], SHMRING_CONSUMER, &r)) != 0) {
        fprintf(stderr, "open: %s\n", shmring_strerror(err));
        return 1;
    }
    for (;;) {
        uint64_t v;
        ssize_t len = shmring_spsc_pop_wait(r, &v, sizeof(v), 10 * 1000 * 1000 * 1000LL);
        if (len == -EPIPE)
            break;
        if (len != (ssize_t)sizeof(v) || v != got) {
            fprintf(stderr, "record %llu: len %zd (%s), value %llu\n", (unsigned long long)got, len,
                    len < 0 ? shmring_err_name((int)len) : "-", (unsigned long long)v);
            return 1;
        }
        got++;
    }
    shmring_spsc_close(r);
    shmring_unlink(argv[1]);
    if (waitpid(child, &st, 0) != child || !WIFEXITED(st) || WEXITSTATUS(st) != 0 || got != n) {
        fprintf(stderr, "producer failed or %llu of %llu records\n", (unsigned long long)got, (unsigned long long)n);
        return 1;
    }
    printf("%llu records ok (shmring %s)\n", (unsigned long long)got, SHMRING_VERSION_STRING);
    return 0;
}
