/* Control events: lifecycle events from the library, application messages (broadcast and by pid),
 * masks, timeouts, removal, death, a full queue that never blocks anybody, dead subscribers,
 * malformed messages, bad input. */
#include <criterion/criterion.h>
#include <signal.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shmring/shmring.h"
#include "testutil.h"

#define MS (1000 * 1000LL)

static void assert_no_ipc(void)
{
    int n = testutil_ipc_objects();
    if (n != 0)
        testutil_ipc_dump();
    cr_assert_eq(n, 0, "%d System V objects left", n);
}

static const char *make_spsc(void)
{
    const char *name = testutil_name("ctl");
    struct shmring_config cfg;
    shmring_config_init(&cfg);
    cfg.capacity = 4096;
    cr_assert_eq(shmring_spsc_create(name, &cfg), 0);
    return name;
}

static const char *make_mpmc(void)
{
    const char *name = testutil_name("ctlm");
    struct shmring_config cfg;
    shmring_config_init(&cfg);
    cfg.capacity = 8;
    cfg.slot_size = 64;
    cr_assert_eq(shmring_mpmc_create(name, &cfg), 0);
    return name;
}

/* Receives one event within 5 s and checks its type (and role/pid unless 0/-1). */
static void expect(struct shmring_control *c, uint32_t type, uint32_t role, pid_t pid)
{
    struct shmring_event ev;
    int rc = shmring_control_recv(c, &ev, 5000 * MS);
    cr_assert_eq(rc, 0, "waiting for %s: %s", shmring_event_name(type), shmring_err_name(rc));
    cr_assert_eq(ev.type, type, "got %s, want %s", shmring_event_name(ev.type), shmring_event_name(type));
    if (role)
        cr_assert_eq(ev.role, role, "%s: role %u, want %u", shmring_event_name(type), ev.role, role);
    if (pid >= 0)
        cr_assert_eq(ev.pid, pid, "%s: pid %d, want %d", shmring_event_name(type), ev.pid, (int)pid);
}

static void expect_none(struct shmring_control *c)
{
    struct shmring_event ev;
    int rc = shmring_control_recv(c, &ev, 0);
    cr_assert_eq(rc, -EAGAIN, "expected no event, got rc %s type %s", shmring_err_name(rc),
                 rc == 0 ? shmring_event_name(ev.type) : "-");
}

/* A child process for the tests below: runs setup(name) (non-zero: exits with that status), tells
 * the parent it is ready, then exits with after(name), or with after NULL waits to be killed.
 * Returns the child's pid once it is ready. The child keeps what setup opened in statics. */
static pid_t spawn_ready(int (*setup)(const char *), int (*after)(const char *), const char *name)
{
    int ready[2], rc;
    pid_t child;
    char b;
    cr_assert_eq(pipe(ready), 0);
    child = fork();
    cr_assert(child >= 0);
    if (child == 0) {
        close(ready[0]);
        if ((rc = setup(name)) != 0)
            _exit(rc);
        if (write(ready[1], "r", 1) != 1)
            _exit(9);
        if (after)
            _exit(after(name));
        for (;;)
            pause();
    }
    close(ready[1]);
    cr_assert_eq(read(ready[0], &b, 1), 1, "the child failed before it was ready");
    close(ready[0]);
    return child;
}

/* Kills a child made by spawn_ready() and reaps it. */
static void kill_child(pid_t child)
{
    int st;
    cr_assert_eq(kill(child, SIGKILL), 0);
    cr_assert_eq(waitpid(child, &st, 0), child);
}

static struct shmring_control *child_ctl; /* in the child: its subscription */

static int subscribe_all(const char *name)
{
    return shmring_control_open(name, SHMRING_EV_ALL, &child_ctl) ? 10 : 0;
}

static int subscribe_app(const char *name)
{
    return shmring_control_open(name, SHMRING_EV_BIT(SHMRING_EV_APP), &child_ctl) ? 10 : 0;
}

Test(control, spsc_lifecycle_events)
{
    const char *name = make_spsc();
    struct shmring_control *c;
    struct shmring_spsc *p, *q;
    pid_t me = getpid();

    cr_assert_eq(shmring_control_open(name, SHMRING_EV_ALL, &c), 0);
    expect_none(c);
    cr_assert_eq(shmring_spsc_open(name, SHMRING_PRODUCER, &p), 0);
    cr_assert_eq(shmring_spsc_open(name, SHMRING_CONSUMER, &q), 0);
    expect(c, SHMRING_EV_ATTACH, SHMRING_PRODUCER, me);
    expect(c, SHMRING_EV_ATTACH, SHMRING_CONSUMER, me);
    cr_assert_eq(shmring_spsc_push(p, "x", 1), 0);
    cr_assert_eq(shmring_spsc_close(p), 0);
    expect(c, SHMRING_EV_DETACH, SHMRING_PRODUCER, me);
    expect(c, SHMRING_EV_EOS, SHMRING_PRODUCER, me);
    cr_assert_eq(shmring_spsc_close(q), 0);
    expect(c, SHMRING_EV_DETACH, SHMRING_CONSUMER, me);
    expect_none(c);
    cr_assert_eq(shmring_control_dropped(c), 0);
    cr_assert_eq(shmring_control_close(c), 0);
    cr_assert_eq(shmring_unlink(name), 0);
    assert_no_ipc();
}

Test(control, masks_filter_and_change)
{
    const char *name = make_spsc();
    struct shmring_control *c;
    struct shmring_spsc *p;

    cr_assert_eq(shmring_control_open(name, SHMRING_EV_BIT(SHMRING_EV_DETACH), &c), 0);
    cr_assert_eq(shmring_spsc_open(name, SHMRING_PRODUCER, &p), 0);
    cr_assert_eq(shmring_spsc_close(p), 0);
    expect(c, SHMRING_EV_DETACH, SHMRING_PRODUCER, getpid());
    expect_none(c); /* no ATTACH, no EOS */
    cr_assert_eq(shmring_control_set_mask(c, 0), 0);
    cr_assert_eq(shmring_spsc_open(name, SHMRING_PRODUCER, &p), 0);
    cr_assert_eq(shmring_spsc_close(p), 0);
    expect_none(c);
    cr_assert_eq(shmring_control_set_mask(c, SHMRING_EV_ALL + 1), -EINVAL);
    cr_assert_eq(shmring_control_close(c), 0);
    cr_assert_eq(shmring_unlink(name), 0);
    assert_no_ipc();
}

Test(control, app_broadcast_and_bad_input)
{
    const char *name = make_mpmc();
    struct shmring_control *a, *b, *s, *x;
    struct shmring_event ev;
    char big[SHMRING_EVENT_DATA_MAX + 1];

    cr_assert_eq(shmring_control_open(name, SHMRING_EV_BIT(SHMRING_EV_APP), &a), 0);
    cr_assert_eq(shmring_control_open(name, SHMRING_EV_ALL, &b), 0);
    cr_assert_eq(shmring_control_open(name, 0, &s), 0); /* send-only */
    cr_assert_eq(shmring_control_send(s, 0, 42, "hello", 5), 2);
    cr_assert_eq(shmring_control_recv(a, &ev, 0), 0);
    cr_assert_eq(ev.type, SHMRING_EV_APP);
    cr_assert_eq(ev.code, 42);
    cr_assert_eq(ev.len, 5);
    cr_assert_eq(memcmp(ev.data, "hello", 5), 0);
    cr_assert_eq(ev.pid, getpid());
    cr_assert_eq(ev.to_pid, 0);
    cr_assert_eq(shmring_control_recv(b, &ev, 0), 0);
    cr_assert_eq(ev.code, 42);
    /* Largest payload, then one byte too many. */
    memset(big, 'z', sizeof(big));
    cr_assert_eq(shmring_control_send(s, 0, 7, big, SHMRING_EVENT_DATA_MAX), 2);
    cr_assert_eq(shmring_control_recv(a, &ev, 0), 0);
    cr_assert_eq(ev.len, SHMRING_EVENT_DATA_MAX);
    cr_assert_eq(ev.data[SHMRING_EVENT_DATA_MAX - 1], 'z');
    cr_assert_eq(shmring_control_send(s, 0, 7, big, sizeof(big)), -EMSGSIZE);
    cr_assert_eq(shmring_control_send(s, -1, 7, NULL, 0), -EINVAL);
    cr_assert_eq(shmring_control_send(s, 0, 7, NULL, 3), -EINVAL);
    cr_assert_eq(shmring_control_send(NULL, 0, 7, NULL, 0), -EINVAL);
    cr_assert_eq(shmring_control_recv(s, &ev, 0), -EINVAL); /* send-only */
    cr_assert_eq(shmring_control_set_mask(s, SHMRING_EV_ALL), -EINVAL);
    cr_assert_eq(shmring_control_open(name, SHMRING_EV_ALL + 1, &x), -EINVAL);
    cr_assert_null(x);
    cr_assert_eq(shmring_control_open("no-such-ring", SHMRING_EV_ALL, &x), -ENOENT);
    cr_assert_eq(shmring_control_open("bad/name", SHMRING_EV_ALL, &x), -EINVAL);
    cr_assert_eq(shmring_control_open(name, SHMRING_EV_ALL, NULL), -EINVAL);
    cr_assert_str_eq(shmring_event_name(SHMRING_EV_PEER_DIED), "PEER_DIED");
    cr_assert_str_eq(shmring_event_name(99), "UNKNOWN");
    cr_assert_eq(shmring_control_recv(b, &ev, 0), 0); /* the big one */
    expect_none(b);
    cr_assert_eq(shmring_control_close(a), 0);
    cr_assert_eq(shmring_control_close(b), 0);
    cr_assert_eq(shmring_control_close(s), 0);
    cr_assert_eq(shmring_unlink(name), 0);
    assert_no_ipc();
}

/* A message for one pid reaches that process's subscriptions only; a timed receive in the child
 * is woken by it well before its timeout. */
/* The child of app_to_pid_wakes_timed_receiver: a timed receive woken by a message for its pid. */
static int receive_code_77(const char *name)
{
    struct shmring_event ev;
    int64_t t0 = testutil_now_ns();
    (void)name;
    if (shmring_control_recv(child_ctl, &ev, 20000 * MS) != 0) /* 20 s: it comes much earlier */
        return 12;
    if (ev.code != 77 || ev.to_pid != getpid() || testutil_now_ns() - t0 > 10000 * MS)
        return 13;
    shmring_control_close(child_ctl);
    return 0;
}

Test(control, app_to_pid_wakes_timed_receiver)
{
    const char *name = make_spsc();
    struct shmring_control *mine, *s;
    pid_t child;
    int rc;

    cr_assert_eq(shmring_control_open(name, SHMRING_EV_ALL, &mine), 0);
    child = spawn_ready(subscribe_app, receive_code_77, name);
    usleep(50 * 1000); /* let the child go to sleep in its timed receive */
    cr_assert_eq(shmring_control_open(name, 0, &s), 0);
    cr_assert_eq(shmring_control_send(s, child, 77, NULL, 0), 1);
    rc = testutil_wait_timeout(child, 30000 * MS);
    cr_assert_eq(rc, 0, "child exited %d", rc);
    expect_none(mine); /* addressed to the child only */
    cr_assert_eq(shmring_control_send(s, 999999, 1, NULL, 0), 0); /* nobody */
    cr_assert_eq(shmring_control_close(s), 0);
    cr_assert_eq(shmring_control_close(mine), 0);
    cr_assert_eq(shmring_unlink(name), 0);
    assert_no_ipc();
}

Test(control, timed_receive_times_out)
{
    const char *name = make_spsc();
    struct shmring_control *c;
    struct shmring_event ev;
    int64_t t0, dt;

    cr_assert_eq(shmring_control_open(name, SHMRING_EV_ALL, &c), 0);
    t0 = testutil_now_ns();
    cr_assert_eq(shmring_control_recv(c, &ev, 50 * MS), -ETIMEDOUT);
    dt = testutil_now_ns() - t0;
    cr_assert(dt >= 50 * MS && dt < 5000 * MS, "timed out after %lld ns", (long long)dt);
    cr_assert_eq(shmring_control_recv(c, &ev, 0), -EAGAIN);
    cr_assert_eq(shmring_control_close(c), 0);
    cr_assert_eq(shmring_unlink(name), 0);
    assert_no_ipc();
}

/* The child of removal_ends_a_blocking_receive: one REMOVED event, then -EIDRM. */
static int receive_removal(const char *name)
{
    struct shmring_event ev;
    (void)name;
    if (shmring_control_recv(child_ctl, &ev, SHMRING_FOREVER) != 0 || ev.type != SHMRING_EV_REMOVED)
        return 12;
    if (shmring_control_recv(child_ctl, &ev, 0) != -EIDRM || shmring_control_recv(child_ctl, &ev, SHMRING_FOREVER) != -EIDRM)
        return 13;
    shmring_control_close(child_ctl);
    return 0;
}

/* A receiver blocked without limit learns of the removal: one REMOVED event, then -EIDRM. */
Test(control, removal_ends_a_blocking_receive)
{
    const char *name = make_spsc();
    pid_t child = spawn_ready(subscribe_all, receive_removal, name);
    int rc;

    usleep(50 * 1000);
    cr_assert_eq(shmring_unlink(name), 0);
    rc = testutil_wait_timeout(child, 10000 * MS);
    cr_assert_eq(rc, 0, "child exited %d", rc);
    assert_no_ipc();
}

/* A producer killed with SIGKILL: the consumer's wait ends with end of stream, and the subscriber
 * hears PEER_DIED with the dead pid, exactly once. */
static int produce_abc(const char *name)
{
    struct shmring_spsc *p;
    if (shmring_spsc_open(name, SHMRING_PRODUCER, &p) != 0)
        return 10;
    return shmring_spsc_push(p, "abc", 3) ? 11 : 0;
}

Test(control, spsc_producer_death_is_reported_once)
{
    const char *name = make_spsc();
    struct shmring_control *c;
    struct shmring_spsc *q;
    struct shmring_event ev;
    uint8_t buf[16];
    pid_t child;

    cr_assert_eq(shmring_control_open(name, SHMRING_EV_BIT(SHMRING_EV_PEER_DIED), &c), 0);
    cr_assert_eq(shmring_spsc_open(name, SHMRING_CONSUMER, &q), 0);
    child = spawn_ready(produce_abc, NULL, name);
    kill_child(child);
    cr_assert_eq(shmring_spsc_pop_wait(q, buf, sizeof(buf), 5000 * MS), 3);
    cr_assert_eq(shmring_spsc_pop_wait(q, buf, sizeof(buf), 5000 * MS), -EPIPE);
    expect(c, SHMRING_EV_PEER_DIED, SHMRING_PRODUCER, child);
    cr_assert_eq(shmring_spsc_pop_wait(q, buf, sizeof(buf), 100 * MS), -EPIPE);
    cr_assert_eq(shmring_control_recv(c, &ev, 0), -EAGAIN, "death reported twice");
    cr_assert_eq(shmring_spsc_close(q), 0);
    cr_assert_eq(shmring_control_close(c), 0);
    cr_assert_eq(shmring_unlink(name), 0);
    assert_no_ipc();
}

/* The death of a producer whose owner word names a live process here (as a pid from another PID
 * namespace may, or a pid read while the dead process is still exiting) is still reported: the
 * verdict comes from the kernel's SEM_UNDO (no presence left), not from the pid. The parent writes
 * its own pid into the dead child's owner word to stage it. */
Test(control, spsc_death_judged_by_presence_not_pid)
{
    const char *name = make_spsc();
    struct shmring_control *c;
    struct shmring_spsc *q;
    uint8_t buf[16];
    pid_t child;

    cr_assert_eq(shmring_control_open(name, SHMRING_EV_BIT(SHMRING_EV_PEER_DIED), &c), 0);
    cr_assert_eq(shmring_spsc_open(name, SHMRING_CONSUMER, &q), 0);
    child = spawn_ready(produce_abc, NULL, name);
    kill_child(child);
    shmring__store(&q->hdr->prod.owner, shmring__owner_word(getpid(), 0, 0), relaxed);
    cr_assert_eq(shmring_spsc_pop_wait(q, buf, sizeof(buf), 5000 * MS), 3);
    cr_assert_eq(shmring_spsc_pop_wait(q, buf, sizeof(buf), 5000 * MS), -EPIPE);
    expect(c, SHMRING_EV_PEER_DIED, SHMRING_PRODUCER, getpid());
    cr_assert_eq(shmring_spsc_close(q), 0);
    cr_assert_eq(shmring_control_close(c), 0);
    cr_assert_eq(shmring_unlink(name), 0);
    assert_no_ipc();
}

/* An MPMC producer killed between claim and publish: the consumer's recovery skips the slot and
 * the subscriber hears PEER_DIED. */
static int claim_one(const char *name)
{
    struct shmring_mpmc *cp;
    struct shmring_mpmc_span span = {0, 0};
    if (shmring_mpmc_open(name, SHMRING_PRODUCER, &cp) != 0)
        return 10;
    return shmring_mpmc_claim(cp, 1, &span) == 1 ? 0 : 11; /* claimed, never published */
}

Test(control, mpmc_holder_death_is_reported)
{
    const char *name = make_mpmc();
    struct shmring_control *c;
    struct shmring_mpmc *q, *p;
    uint8_t buf[64];
    pid_t child;

    cr_assert_eq(shmring_control_open(name, SHMRING_EV_BIT(SHMRING_EV_PEER_DIED), &c), 0);
    cr_assert_eq(shmring_mpmc_open(name, SHMRING_CONSUMER, &q), 0);
    cr_assert_eq(shmring_mpmc_open(name, SHMRING_PRODUCER, &p), 0); /* stays: no end of stream */
    child = spawn_ready(claim_one, NULL, name);
    kill_child(child);
    cr_assert_eq(shmring_mpmc_push(p, "after", 5), 0);
    cr_assert_eq(shmring_mpmc_pop_wait(q, buf, sizeof(buf), 5000 * MS), 5);
    expect(c, SHMRING_EV_PEER_DIED, SHMRING_PRODUCER, child);
    cr_assert_eq(shmring_mpmc_close(p), 0);
    cr_assert_eq(shmring_mpmc_close(q), 0);
    cr_assert_eq(shmring_control_close(c), 0);
    cr_assert_eq(shmring_unlink(name), 0);
    assert_no_ipc();
}

/* Nobody reads: the queue fills to its byte limit. Opens, closes and the data path go on, never
 * blocked; the drops are counted for the subscriber and for the ring. */
Test(control, full_queue_drops_and_never_blocks)
{
    const char *name = make_spsc();
    struct shmring_control *c;
    struct shmring_spsc *p, *q;
    struct shmring_event ev;
    struct msqid_ds mds;
    uint8_t buf[64];
    int i, n = 0;

    cr_assert_eq(shmring_control_open(name, SHMRING_EV_ALL, &c), 0);
    cr_assert_eq(shmring_spsc_open(name, SHMRING_CONSUMER, &q), 0);
    for (i = 0; i < 2000; i++) {
        cr_assert_eq(shmring_spsc_open(name, SHMRING_PRODUCER, &p), 0);
        cr_assert_eq(shmring_spsc_push(p, &i, sizeof(i)), 0);
        cr_assert_eq(shmring_spsc_close(p), 0);
        cr_assert_eq(shmring_spsc_pop(q, buf, sizeof(buf)), (ssize_t)sizeof(i));
        cr_assert_eq(memcmp(buf, &i, sizeof(i)), 0);
    }
    cr_assert(shmring_control_dropped(c) > 0, "the queue never filled");
    cr_assert_eq(shmring_control_send(c, 0, 1, "x", 1), 0, "a full queue takes nothing more");
    /* What is queued reads back in order, then the queue takes messages again. */
    while (shmring_control_recv(c, &ev, 0) == 0)
        n++;
    cr_assert(n > 10, "only %d events were queued", n);
    cr_assert_eq(shmring_control_send(c, 0, 1, "x", 1), 1);
    cr_assert_eq(shmring_control_recv(c, &ev, 0), 0);
    cr_assert_eq(ev.type, SHMRING_EV_APP);
    cr_assert_eq(msgctl(msgget((key_t)shmring_name_key(name), 0), IPC_STAT, &mds), 0);
    cr_assert_eq(mds.msg_qnum, 0);
    cr_log_info("2000 open/push/close cycles: %d events queued, %llu dropped", n,
                (unsigned long long)shmring_control_dropped(c));
    cr_assert_eq(shmring_spsc_close(q), 0);
    cr_assert_eq(shmring_control_close(c), 0);
    cr_assert_eq(shmring_unlink(name), 0);
    assert_no_ipc();
}

/* A subscriber killed with a full queue of its messages: the next sender that finds the queue full
 * frees its slot and its messages, so live subscribers get events again. */
Test(control, dead_subscriber_is_reaped)
{
    const char *name = make_spsc();
    struct shmring_control *s, *live;
    struct shmring_event ev;
    pid_t child = spawn_ready(subscribe_all, NULL, name);
    int i;

    cr_assert_eq(shmring_control_open(name, 0, &s), 0);
    for (i = 0; i < 1000 && shmring_control_send(s, 0, 1, "0123456789", 10) == 1; i++)
        ;
    cr_assert(i < 1000, "the queue never filled");
    kill_child(child);
    cr_assert_eq(shmring_control_open(name, SHMRING_EV_BIT(SHMRING_EV_APP), &live), 0);
    /* Queue full of the dead one's messages: this send reaps it and gets through. */
    cr_assert_eq(shmring_control_send(s, 0, 2, NULL, 0), 1);
    cr_assert_eq(shmring_control_recv(live, &ev, 0), 0);
    cr_assert_eq(ev.code, 2);
    cr_assert_eq(shmring_control_close(live), 0);
    cr_assert_eq(shmring_control_close(s), 0);
    cr_assert_eq(shmring_unlink(name), 0);
    assert_no_ipc();
}

/* Garbage put on the queue by someone with write access is skipped and counted. */
Test(control, malformed_messages_are_skipped)
{
    const char *name = make_spsc();
    struct shmring_control *c, *s;
    struct shmring_event ev;
    struct {
        long mtype;
        char text[64];
    } junk;
    int msqid = msgget((key_t)shmring_name_key(name), 0);

    cr_assert(msqid >= 0);
    cr_assert_eq(shmring_control_open(name, SHMRING_EV_ALL, &c), 0);
    cr_assert_eq(shmring_control_open(name, 0, &s), 0);
    memset(&junk, 0xff, sizeof(junk));
    /* Our subscription is the first entry: mtype 1. */
    junk.mtype = 1;
    cr_assert_eq(msgsnd(msqid, &junk, 3, IPC_NOWAIT), 0);          /* too short */
    cr_assert_eq(msgsnd(msqid, &junk, sizeof(junk.text), IPC_NOWAIT), 0); /* bad type and length */
    cr_assert_eq(shmring_control_send(s, 0, 5, "ok", 2), 1);
    cr_assert_eq(shmring_control_recv(c, &ev, 0), 0);
    cr_assert_eq(ev.code, 5);
    cr_assert_eq(shmring_control_dropped(c), 2);
    cr_assert_eq(shmring_control_close(s), 0);
    cr_assert_eq(shmring_control_close(c), 0);
    cr_assert_eq(shmring_unlink(name), 0);
    assert_no_ipc();
}

/* A subscription belongs to the process that opened it: an inherited copy refuses to receive. */
Test(control, forked_copy_is_not_the_subscription)
{
    const char *name = make_spsc();
    struct shmring_control *c;
    pid_t child;
    int rc;

    cr_assert_eq(shmring_control_open(name, SHMRING_EV_ALL, &c), 0);
    child = fork();
    cr_assert(child >= 0);
    if (child == 0) {
        struct shmring_event ev;
        rc = shmring_control_recv(c, &ev, 0);
        shmring_control_close(c);
        _exit(rc == -ECHILD ? 0 : 1);
    }
    cr_assert_eq(testutil_wait_timeout(child, 10000 * MS), 0);
    cr_assert_eq(shmring_control_send(c, 0, 3, NULL, 0), 1, "the child's close took the parent's slot");
    cr_assert_eq(shmring_control_close(c), 0);
    cr_assert_eq(shmring_unlink(name), 0);
    assert_no_ipc();
}

Test(control, subscriptions_are_bounded)
{
    const char *name = make_spsc();
    struct shmring_control *c[SHMRING_SUBSCRIBERS + 1];
    unsigned i;
    for (i = 0; i < SHMRING_SUBSCRIBERS; i++)
        cr_assert_eq(shmring_control_open(name, SHMRING_EV_ALL, &c[i]), 0);
    cr_assert_eq(shmring_control_open(name, SHMRING_EV_ALL, &c[i]), -EUSERS);
    cr_assert_eq(shmring_control_open(name, 0, &c[i]), 0, "send-only handles take no slot");
    cr_assert_eq(shmring_control_send(c[i], 0, 1, NULL, 0), (int)SHMRING_SUBSCRIBERS);
    for (i = 0; i <= SHMRING_SUBSCRIBERS; i++)
        cr_assert_eq(shmring_control_close(c[i]), 0);
    cr_assert_eq(shmring_unlink(name), 0);
    assert_no_ipc();
}
