/* Two independently started programs share a ring by name only: the test creates the ring and
 * starts the `peer` program (fork + execv: a fresh process image that inherits no handle, no
 * mapping, no library state), which opens the ring by name as producer or consumer and sends or
 * checks the record stream of stream.h. The test is the other side, or starts a second peer.
 *
 * The peer's path comes from Bazel: env PEER = $(rootpath :peer) (relative to the test's working
 * directory, the runfiles tree); as fallbacks args = [$(location :peer)] (see capture_peer_arg)
 * and the runfiles tree.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proctest.h"
#include "stream.h"

#define SEED 0x5eedb1a3ull
#define TIMEOUT_MS 10000

/* Criterion runs each test in a worker that BoxFort re-executes as "boxfort-worker": the test's
 * own arguments are gone there. This constructor runs in the runner process too, where
 * /proc/self/cmdline still holds them, and hands the peer's path on in the environment. */
__attribute__((constructor)) static void capture_peer_arg(void)
{
    char buf[8192];
    size_t n = 0, i;
    FILE *f = fopen("/proc/self/cmdline", "r");
    if (f) {
        n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
    }
    buf[n] = '\0';
    for (i = 0; i < n; i += strlen(buf + i) + 1) {
        const char *arg = buf + i, *base = strrchr(arg, '/');
        if (strcmp(base ? base + 1 : arg, "peer") == 0 && access(arg, X_OK) == 0) {
            setenv("PEER_FROM_ARGS", arg, 0);
            return;
        }
    }
}

/* The peer's path: env PEER (the `env` attribute), else the `args` attribute, else the runfiles
 * tree ($TEST_SRCDIR/$TEST_WORKSPACE/test/proc/peer). */
static const char *peer_path(void)
{
    static char path[4096];
    const char *env = getenv("PEER"), *arg = getenv("PEER_FROM_ARGS");
    const char *srcdir = getenv("TEST_SRCDIR"), *ws = getenv("TEST_WORKSPACE");
    if (env && *env && access(env, X_OK) == 0)
        return env;
    if (arg && *arg && access(arg, X_OK) == 0)
        return arg;
    if (srcdir && ws) {
        snprintf(path, sizeof(path), "%s/%s/test/proc/peer", srcdir, ws);
        if (access(path, X_OK) == 0)
            return path;
    }
    cr_assert_fail("cannot find the peer program (PEER=%s, PEER_FROM_ARGS=%s)", env ? env : "(unset)",
                   arg ? arg : "(unset)");
    return NULL;
}

/* Starts `peer ROLE NAME COUNT SEED TIMEOUT_MS extra...`. */
static void start_peer(struct proc_child *c, const char *role, const char *name, uint64_t count,
                       const char *extra1, const char *extra2)
{
    char count_s[32], seed_s[32], timeout_s[32];
    char *argv[10];
    int i = 0;
    snprintf(count_s, sizeof(count_s), "%" PRIu64, count);
    snprintf(seed_s, sizeof(seed_s), "%llu", SEED);
    snprintf(timeout_s, sizeof(timeout_s), "%d", TIMEOUT_MS);
    argv[i++] = (char *)peer_path();
    argv[i++] = (char *)role;
    argv[i++] = (char *)name;
    argv[i++] = count_s;
    argv[i++] = seed_s;
    argv[i++] = timeout_s;
    if (extra1)
        argv[i++] = (char *)extra1;
    if (extra2)
        argv[i++] = (char *)extra2;
    argv[i] = NULL;
    cr_assert_eq(proc_spawn_exec(c, argv), 0, "cannot start %s", argv[0]);
}

static void create_ring(const char *name, uint64_t capacity)
{
    struct shmring_config cfg;
    int err;
    shmring_config_init(&cfg);
    cfg.capacity = capacity;
    err = shmring_spsc_create(name, &cfg);
    cr_assert_eq(err, 0, "create %s: %s", name, shmring_err_name(err));
    proc_track_ring(name);
}

static void remove_ring(const char *name)
{
    int err = shmring_unlink(name);
    cr_assert_eq(err, 0, "unlink %s: %s", name, shmring_err_name(err));
    proc_untrack_ring(name);
}

static struct shmring_spsc *open_ring(const char *name, enum shmring_role role)
{
    struct shmring_spsc *r = NULL;
    int err = shmring_spsc_open(name, role, &r);
    cr_assert_eq(err, 0, "open %s: %s", name, shmring_err_name(err));
    return r;
}

static void opts(struct stream_opts *o, uint64_t count)
{
    stream_opts_init(o);
    o->count = count;
    o->seed = SEED;
    o->timeout_ns = TIMEOUT_MS * MSEC;
}

static void join_peer(struct proc_child *c, const char *what)
{
    struct proc_result res;
    int status = proc_join(c, 30 * SEC, &res);
    cr_assert_eq(status, 0, "%s exited with status %d%s", what, status,
                 status == TESTUTIL_WAIT_TIMEDOUT ? " (timed out, killed)" : "");
}

/* The peer produces, the test consumes and checks. */
PROC_TEST(byname, peer_produces, .timeout = 120)
{
    const char *name = testutil_name("pp");
    uint64_t count = stream_scaled(1000000, 4);
    struct proc_child peer;
    struct stream_opts o;
    struct stream_report rep;
    struct shmring_spsc *r;
    int rc;

    create_ring(name, 1u << 16);
    start_peer(&peer, "producer", name, count, NULL, NULL);
    r = open_ring(name, SHMRING_CONSUMER);
    opts(&o, count);
    rc = stream_consume(r, &o, &rep);
    shmring_spsc_close(r);
    cr_assert_eq(rc, 0, "consumer: %s", rep.msg);
    cr_assert_eq(rep.records, count);
    join_peer(&peer, "peer producer");
    remove_ring(name);
    assert_no_ipc_objects();
}

/* The test produces, the peer consumes and checks. */
PROC_TEST(byname, peer_consumes, .timeout = 120)
{
    const char *name = testutil_name("pc");
    uint64_t count = stream_scaled(1000000, 4);
    struct proc_child peer;
    struct stream_opts o;
    struct stream_report rep;
    struct shmring_spsc *r;
    int rc;

    create_ring(name, 1u << 16);
    start_peer(&peer, "consumer", name, count, NULL, NULL);
    r = open_ring(name, SHMRING_PRODUCER);
    opts(&o, count);
    rc = stream_produce(r, &o, &rep);
    shmring_spsc_close(r);
    cr_assert_eq(rc, 0, "producer: %s", rep.msg);
    join_peer(&peer, "peer consumer");
    remove_ring(name);
    assert_no_ipc_objects();
}

/* Both ends are peers, zero-copy with batches; the test only made the ring. */
PROC_TEST(byname, two_peers_zerocopy, .timeout = 120)
{
    const char *name = testutil_name("pz");
    uint64_t count = stream_scaled(1000000, 4);
    char count_s[32];
    struct proc_child prod, cons;

    snprintf(count_s, sizeof(count_s), "%" PRIu64, count);
    create_ring(name, 1u << 14);
    start_peer(&cons, "consumer", name, count, "--api=zc", "--batch=32");
    start_peer(&prod, "producer", name, count, "--api=zc", "--batch=8");
    join_peer(&prod, "peer producer");
    join_peer(&cons, "peer consumer");
    remove_ring(name);
    assert_no_ipc_objects();
}

/* The peer producer commits 5000 records and stays attached; the test reads them and sleeps in
 * pop_wait (no time limit); a killer process SIGKILLs the peer. The test gets -EPIPE at once. */
PROC_TEST(byname, peer_producer_killed, .timeout = 60)
{
    const char *name = testutil_name("pk");
    struct proc_child peer, killer;
    struct proc_killer_args ka;
    struct proc_result kres;
    struct stream_opts o;
    struct stream_report rep;
    struct shmring_spsc *r;
    uint8_t buf[512];
    ssize_t n;
    int64_t t_ret;
    int rc, status;

    create_ring(name, 1u << 16);
    start_peer(&peer, "producer", name, 100000, "--stop-after=5000", NULL);
    /* The killer is forked before we open the ring: it inherits no handle. */
    memset(&ka, 0, sizeof(ka));
    ka.victim = peer.pid;
    ka.ring = name;
    ka.min_released = 5000;
    ka.wait_for = proc_consumer_sleeping;
    ka.delay_ns = 50 * MSEC;
    ka.timeout_ns = 10 * SEC;
    cr_assert_eq(proc_spawn(&killer, proc_killer, &ka), 0);
    r = open_ring(name, SHMRING_CONSUMER);
    opts(&o, 100000);
    o.stop_after = 5000;
    rc = stream_consume(r, &o, &rep);
    cr_assert_eq(rc, STREAM_STOPPED, "consumer: %s", rep.msg);
    n = shmring_spsc_pop_wait(r, buf, sizeof(buf), SHMRING_FOREVER);
    t_ret = testutil_now_ns();
    status = proc_join(&killer, 10 * SEC, &kres);
    shmring_spsc_close(r);
    cr_assert_eq(status, 0, "killer: %s", kres.msg);
    cr_assert_eq(n, -EPIPE, "pop_wait returned %zd (%s), expected -EPIPE", n, n < 0 ? shmring_err_name((int)n) : "data");
    cr_expect_lt(t_ret - kres.t_ns[0], 2 * SEC, "end of stream %.3f s after the kill", (t_ret - kres.t_ns[0]) / 1e9);
    status = proc_join(&peer, 10 * SEC, &kres);
    cr_assert_eq(status, 128 + SIGKILL, "peer status %d", status);
    remove_ring(name);
    assert_no_ipc_objects();
}

/* The peer consumer reads 1000 records and stays attached; the test fills the ring and sleeps in
 * push_wait; a killer SIGKILLs the peer: push_wait returns -EPIPE at once. */
PROC_TEST(byname, peer_consumer_killed, .timeout = 60)
{
    const char *name = testutil_name("ck");
    struct proc_child peer, killer;
    struct proc_killer_args ka;
    struct proc_result kres;
    struct stream_opts o;
    struct stream_report rep;
    struct shmring_spsc *r;
    int64_t t_ret;
    int rc, status;

    create_ring(name, 1u << 14);
    start_peer(&peer, "consumer", name, 1000000, "--stop-after=1000", NULL);
    memset(&ka, 0, sizeof(ka));
    ka.victim = peer.pid;
    ka.ring = name;
    ka.min_released = 1000;
    ka.wait_for = proc_producer_sleeping;
    ka.delay_ns = 50 * MSEC;
    ka.timeout_ns = 10 * SEC;
    cr_assert_eq(proc_spawn(&killer, proc_killer, &ka), 0);
    r = open_ring(name, SHMRING_PRODUCER);
    opts(&o, 1000000);
    rc = stream_produce(r, &o, &rep);
    t_ret = testutil_now_ns();
    status = proc_join(&killer, 10 * SEC, &kres);
    shmring_spsc_close(r);
    cr_assert_eq(status, 0, "killer: %s", kres.msg);
    cr_assert_eq(rc, -1, "the producer finished?");
    cr_assert_eq(rep.err, -EPIPE, "producer: %s", rep.msg);
    cr_expect_lt(t_ret - kres.t_ns[0], 2 * SEC, "-EPIPE %.3f s after the kill", (t_ret - kres.t_ns[0]) / 1e9);
    status = proc_join(&peer, 10 * SEC, &kres);
    cr_assert_eq(status, 128 + SIGKILL, "peer status %d", status);
    remove_ring(name);
    assert_no_ipc_objects();
}
