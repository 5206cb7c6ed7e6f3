/* Processes that share an IPC namespace but not a PID namespace (Kubernetes pods with a shared IPC
 * namespace, docker --ipc=container:X) judge each other's liveness right: a live holder in the
 * other namespace is never declared dead (no record skipped or lost), a dead one is (its slot is
 * recovered), whichever side is inside.
 *
 * Each case runs one side in a child that unshare()s a new PID namespace (and, where plain
 * CLONE_NEWPID is refused, a user namespace that maps our uid) and forks: the grandchild is pid 1
 * of the new namespace, its child (pid 2) runs the case's inner side and sees none of our pids, while
 * both sides share our IPC namespace. Without
 * namespaces to make (no privilege, user namespaces disabled) the cases are skipped.
 *
 * Was (before the life semaphores, lib/life.c): liveness was kill(pid, 0) plus /proc/pid/stat in
 * the judge's namespace. The consumer inside found the outside producer's pid absent, declared its
 * claim dead, skipped the slot, and the record the producer then published was lost.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "advutil.h"
#include "shmring/mpmc.h"

#define SKIP_STATUS 77

struct inner {
    int (*fn)(void *);
    void *arg;
};

static int write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC), ok;
    if (fd < 0)
        return -1;
    ok = write(fd, text, strlen(text)) == (ssize_t)strlen(text);
    close(fd);
    return ok ? 0 : -1;
}

/* In the child: a new PID namespace (a user namespace too if needed), then fork the process that
 * runs fn as pid 1 there. Exits with fn's status, or SKIP_STATUS if no namespace could be made. */
static int enter_pidns(void *arg)
{
    struct inner *in = (struct inner *)arg;
    pid_t pid;
    int st;
    if (unshare(CLONE_NEWPID) != 0) {
        char map[64];
        uid_t uid = getuid();
        gid_t gid = getgid();
        if (unshare(CLONE_NEWUSER | CLONE_NEWPID) != 0)
            return SKIP_STATUS;
        snprintf(map, sizeof(map), "0 %u 1\n", (unsigned)uid);
        if (write_file("/proc/self/uid_map", map) != 0)
            return SKIP_STATUS;
        write_file("/proc/self/setgroups", "deny\n");
        snprintf(map, sizeof(map), "0 %u 1\n", (unsigned)gid);
        if (write_file("/proc/self/gid_map", map) != 0)
            return SKIP_STATUS;
    }
    pid = fork();
    if (pid < 0)
        return SKIP_STATUS;
    if (pid == 0) {
        /* pid 1 of the namespace: it ignores even SIGKILL from inside, so the work runs in its
         * child (pid 2), and pid 1 passes on how that ended. */
        pid_t w;
        if (getpid() != 1)
            _exit(SKIP_STATUS);
        w = fork();
        if (w == 0)
            _exit(in->fn(in->arg));
        if (w < 0)
            _exit(SKIP_STATUS);
        while (waitpid(w, &st, 0) < 0 && errno == EINTR) {
        }
        _exit(WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0));
    }
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    if (WIFEXITED(st))
        return WEXITSTATUS(st);
    return 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

struct side {
    const char *name;
    int to_outer[2]; /* inner -> outer */
    int to_inner[2]; /* outer -> inner */
};

static struct side S;
static struct inner IN;

static void setup(void)
{
    adv_init();
    cr_assert_eq(pipe(S.to_outer), 0);
    cr_assert_eq(pipe(S.to_inner), 0);
}

static void teardown(void)
{
    close(S.to_outer[0]);
    close(S.to_outer[1]);
    close(S.to_inner[0]);
    close(S.to_inner[1]);
    adv_fini();
}

static pid_t start_inner(int (*fn)(void *))
{
    IN.fn = fn;
    IN.arg = &S;
    return adv_spawn(enter_pidns, &IN);
}

/* The inner side's first byte: 'r' ready, or 's' for "skip" when the child could not make the
 * namespace (it exits SKIP_STATUS without writing: a closed pipe). */
static void await_inner(pid_t child, int want)
{
    int b = adv_read_byte(S.to_outer[0], 20 * ADV_SEC);
    if (b != want) {
        int st = adv_join(child, 5 * ADV_SEC);
        if (st == SKIP_STATUS)
            cr_skip_test("cannot make a PID namespace here");
        cr_assert_fail("the inner side did not get ready (byte %d, status %d)", b, st);
    }
}

#define FAIL(code, ...)                                                                            \
    do {                                                                                           \
        fprintf(stderr, "inner: " __VA_ARGS__);                                                    \
        fputc('\n', stderr);                                                                       \
        return code;                                                                               \
    } while (0)

static void fill(uint8_t *buf, uint8_t seed)
{
    for (unsigned i = 0; i < 64; i++)
        buf[i] = (uint8_t)(seed + i);
}

/* The MPMC ring of a case: 8 slots of 64 bytes. */
static const char *make_ring(const char *tag)
{
    struct shmring_config cfg;
    const char *name = testutil_name(tag);
    shmring_config_init(&cfg);
    cfg.capacity = 8;
    cfg.slot_size = 64;
    adv_assert_rc(shmring_mpmc_create(name, &cfg), 0, "create");
    return name;
}

/* --- an outside producer holds a claim; the consumer inside waits ------------------------------ */

static int inner_consumer(void *arg)
{
    struct side *s = (struct side *)arg;
    struct shmring_mpmc *c;
    uint8_t buf[64], want[64];
    ssize_t n;
    int err;
    if ((err = shmring_mpmc_open(s->name, SHMRING_CONSUMER, &c)) != 0)
        FAIL(2, "open: %s", shmring_err_name(err));
    shmring_mpmc_set_spin(c, 0);
    adv_write_byte(s->to_outer[1], 'r');
    /* The slot is held by a live process that we cannot see by pid: wait, never skip it. */
    n = shmring_mpmc_pop_wait(c, buf, sizeof(buf), 1500 * ADV_MS);
    if (n != -ETIMEDOUT)
        FAIL(3, "first pop_wait: %s, want ETIMEDOUT (the claim of a live producer outside was taken "
                "for dead: %llu slots skipped)",
             n < 0 ? shmring_err_name((int)n) : "a record", (unsigned long long)ADV_LOAD(c->hdr->stats.producer_skips));
    adv_write_byte(s->to_outer[1], 'w');
    n = shmring_mpmc_pop_wait(c, buf, sizeof(buf), 10 * ADV_SEC);
    fill(want, 7);
    if (n != 64 || memcmp(buf, want, 64) != 0)
        FAIL(4, "second pop_wait: %s, want the producer's record (lost: %llu slots skipped)",
             n < 0 ? shmring_err_name((int)n) : "a wrong record", (unsigned long long)ADV_LOAD(c->hdr->stats.producer_skips));
    if (ADV_LOAD(c->hdr->stats.producer_skips) != 0)
        FAIL(5, "%llu slots skipped", (unsigned long long)ADV_LOAD(c->hdr->stats.producer_skips));
    shmring_mpmc_close(c);
    return 0;
}

Test(pidns, live_holder_outside_is_not_dead_inside, .init = setup, .fini = teardown, .timeout = 60)
{
    struct shmring_mpmc *p;
    struct shmring_mpmc_span sp;
    uint32_t len = 64;
    pid_t child;
    int st;
    S.name = make_ring("pidns_a");
    adv_assert_rc(shmring_mpmc_open(S.name, SHMRING_PRODUCER, &p), 0, "open");
    adv_assert_rc(shmring_mpmc_claim(p, 1, &sp), 1, "claim");
    fill((uint8_t *)shmring_mpmc_slot(p, &sp, 0), 7);
    child = start_inner(inner_consumer);
    await_inner(child, 'r');
    if (adv_read_byte(S.to_outer[0], 20 * ADV_SEC) != 'w') {
        st = adv_join(child, 5 * ADV_SEC);
        cr_assert_fail("the consumer inside did not wait (status %d; its message is above)", st);
    }
    shmring_mpmc_publish(p, &sp, &len);
    st = adv_join(child, 20 * ADV_SEC);
    cr_assert_eq(st, 0, "the consumer inside failed (status %d; its message is above)", st);
    cr_assert_eq(ADV_LOAD(p->hdr->stats.producer_skips), 0);
    adv_assert_rc(shmring_mpmc_close(p), 0, "close");
    adv_assert_rc(shmring_unlink(S.name), 0, "unlink");
    adv_assert_no_ipc();
}

/* --- a producer inside holds a claim; the consumer outside waits; then the same producer dies --- */

static int inner_producer(void *arg)
{
    struct side *s = (struct side *)arg;
    struct shmring_mpmc *p;
    struct shmring_mpmc_span sp;
    uint32_t len = 64;
    int err, cmd;
    if ((err = shmring_mpmc_open(s->name, SHMRING_PRODUCER, &p)) != 0)
        FAIL(2, "open: %s", shmring_err_name(err));
    if ((err = shmring_mpmc_claim(p, 1, &sp)) != 1)
        FAIL(3, "claim: %s", shmring_err_name(err));
    fill((uint8_t *)shmring_mpmc_slot(p, &sp, 0), 9);
    adv_write_byte(s->to_outer[1], 'r');
    cmd = adv_read_byte(s->to_inner[0], 20 * ADV_SEC);
    if (cmd == 'k') { /* die holding the claim */
        raise(SIGKILL);
    }
    if (cmd != 'p')
        FAIL(4, "no command from outside (%d)", cmd);
    shmring_mpmc_publish(p, &sp, &len);
    /* A second claim to die holding, on command. */
    if ((err = shmring_mpmc_claim(p, 1, &sp)) != 1)
        FAIL(5, "second claim: %s", shmring_err_name(err));
    adv_write_byte(s->to_outer[1], 'c');
    if (adv_read_byte(s->to_inner[0], 20 * ADV_SEC) == 'k')
        raise(SIGKILL);
    FAIL(6, "not told to die");
}

Test(pidns, holder_inside_alive_then_dead, .init = setup, .fini = teardown, .timeout = 60)
{
    struct shmring_mpmc *c, *p;
    uint8_t buf[64], want[64];
    ssize_t n;
    pid_t child;
    int st;
    int64_t t0, dt;
    S.name = make_ring("pidns_b");
    adv_assert_rc(shmring_mpmc_open(S.name, SHMRING_CONSUMER, &c), 0, "open consumer");
    /* A producer outside too, so that the inner one's death is not the end of the stream. */
    adv_assert_rc(shmring_mpmc_open(S.name, SHMRING_PRODUCER, &p), 0, "open producer");
    shmring_mpmc_set_spin(c, 0);
    child = start_inner(inner_producer);
    await_inner(child, 'r');
    /* Alive inside: its claim is waited for, not skipped. */
    n = shmring_mpmc_pop_wait(c, buf, sizeof(buf), 1500 * ADV_MS);
    cr_assert_eq(n, -ETIMEDOUT, "pop_wait: %s, want ETIMEDOUT (the claim of a live producer inside was taken for "
                 "dead: %llu skipped)", n < 0 ? shmring_err_name((int)n) : "a record",
                 (unsigned long long)ADV_LOAD(c->hdr->stats.producer_skips));
    adv_write_byte(S.to_inner[1], 'p');
    n = shmring_mpmc_pop_wait(c, buf, sizeof(buf), 10 * ADV_SEC);
    fill(want, 9);
    cr_assert(n == 64 && memcmp(buf, want, 64) == 0, "pop_wait: %s, want the inner producer's record",
              n < 0 ? shmring_err_name((int)n) : "a wrong record");
    /* Dead inside, holding its second claim: recovered (skipped) within the liveness bound. */
    cr_assert_eq(adv_read_byte(S.to_outer[0], 20 * ADV_SEC), 'c', "the inner producer did not claim again");
    adv_write_byte(S.to_inner[1], 'k');
    st = adv_join(child, 20 * ADV_SEC);
    cr_assert_eq(st, 128 + SIGKILL, "the inner producer did not die by SIGKILL (status %d)", st);
    fill(want, 11);
    adv_assert_rc(shmring_mpmc_push(p, want, 64), 0, "push after the dead claim");
    t0 = testutil_now_ns();
    n = shmring_mpmc_pop_wait(c, buf, sizeof(buf), 5 * ADV_SEC);
    dt = testutil_now_ns() - t0;
    cr_assert(n == 64 && memcmp(buf, want, 64) == 0, "pop_wait past the dead claim: %s after %lld ms",
              n < 0 ? shmring_err_name((int)n) : "a wrong record", (long long)(dt / ADV_MS));
    cr_assert_eq(ADV_LOAD(c->hdr->stats.producer_skips), 1, "the dead claim was skipped once");
    cr_log_info("a dead claim inside a PID namespace recovered from outside in %lld ms", (long long)(dt / ADV_MS));
    adv_assert_rc(shmring_mpmc_close(p), 0, "close");
    adv_assert_rc(shmring_mpmc_close(c), 0, "close");
    adv_assert_rc(shmring_unlink(S.name), 0, "unlink");
    adv_assert_no_ipc();
}
