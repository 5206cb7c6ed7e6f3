/* Permissions and foreign objects on a ring's key.
 *   - A ring created 0600 cannot be opened (nor removed) by another uid: -EACCES (-EPERM).
 *   - A ring created 0660 by one uid opens for another uid of the same group (and works), and not
 *     for a uid of another group.
 *   - A key already holding somebody else's segment, semaphore set or message queue is refused
 *     (create -EEXIST; open/unlink -EBADMSG, or -ENOENT/-EBUSY for an all-zero segment whose
 *     creator lives, which looks like a ring being made), and the foreign object is left exactly as
 *     it was.
 * Dropping privileges needs root (the sandbox runs tests as root); otherwise those tests skip. */
#include "advutil.h"

#include <fcntl.h>
#include <grp.h>
#include <sys/stat.h>
#include <sys/msg.h>
#include <sys/sem.h>

#include "shmring/layout.h"

#define UID_A 64001
#define UID_B 64002
#define UID_C 64003
#define GID_SHARED 64100
#define GID_OTHER 64101

/* In a child: become uid/gid (no supplementary groups). */
static int become(uid_t uid, gid_t gid)
{
    if (setgroups(0, NULL) != 0 || setgid(gid) != 0 || setuid(uid) != 0)
        return -1;
    return 0;
}

static int try_become(void *arg)
{
    (void)arg;
    return become(UID_C, GID_OTHER) == 0 ? 0 : 1;
}

/* Switching uids needs root, and a user namespace that maps the uids used here (Bazel's
 * linux-sandbox may map root alone): otherwise skip, saying why. */
static void need_root(void)
{
    char map[128] = "?";
    FILE *f;
    pid_t pid;
    if (geteuid() != 0)
        cr_skip_test("needs root to switch to other uids (running as uid %d)", (int)geteuid());
    pid = adv_spawn(try_become, NULL);
    if (pid > 0 && adv_join(pid, 10 * ADV_SEC) == 0)
        return;
    if ((f = fopen("/proc/self/uid_map", "r")) != NULL) {
        size_t n = fread(map, 1, sizeof(map) - 1, f);
        map[n] = '\0';
        fclose(f);
    }
    cr_skip_test("cannot switch to uid %d / gid %d here (uid_map: %s); run the test binary as root outside "
                 "the sandbox to exercise it", UID_C, GID_OTHER, map);
}

struct who {
    const char *name;
    uid_t uid;
    gid_t gid;
    int want_open;    /* expected open result */
    int want_unlink;  /* expected unlink result, or 1 to skip */
    int push;         /* producer: push one record "hello" then close; consumer: pop it */
};

static int open_as(void *arg)
{
    const struct who *w = arg;
    struct shmring_spsc *r = NULL;
    int err;
    if (become(w->uid, w->gid) != 0)
        return 90;
    err = shmring_spsc_open(w->name, w->push == 2 ? SHMRING_CONSUMER : SHMRING_PRODUCER, &r);
    if (err != w->want_open) {
        fprintf(stderr, "uid %d gid %d: open gave %s, want %s\n", (int)w->uid, (int)w->gid, shmring_err_name(err),
                shmring_err_name(w->want_open));
        return 91;
    }
    if (err == 0 && w->push == 1 && shmring_spsc_push_wait(r, "hello", 5, 2 * ADV_SEC) != 0)
        return 92;
    if (err == 0 && w->push == 2) {
        char buf[16];
        ssize_t n = shmring_spsc_pop_wait(r, buf, sizeof(buf), 2 * ADV_SEC);
        if (n != 5 || memcmp(buf, "hello", 5) != 0) {
            fprintf(stderr, "uid %d: pop gave %zd\n", (int)w->uid, n);
            return 93;
        }
    }
    if (r)
        shmring_spsc_close(r);
    if (w->want_unlink != 1 && (err = shmring_unlink(w->name)) != w->want_unlink) {
        fprintf(stderr, "uid %d: unlink gave %s, want %s\n", (int)w->uid, shmring_err_name(err),
                shmring_err_name(w->want_unlink));
        return 94;
    }
    return 0;
}

static int create_as(void *arg)
{
    const struct who *w = arg;
    struct shmring_config cfg;
    if (become(w->uid, w->gid) != 0)
        return 90;
    shmring_config_init(&cfg);
    cfg.capacity = 4096;
    cfg.mode = 0660;
    return shmring_spsc_create(w->name, &cfg) == 0 ? 0 : 95;
}

static void run_as(int (*fn)(void *), struct who *w)
{
    pid_t pid = adv_spawn(fn, w);
    int st;
    cr_assert_gt(pid, 0);
    st = adv_join(pid, 20 * ADV_SEC);
    cr_assert_eq(st, 0, "child as uid %d gid %d ended with %d", (int)w->uid, (int)w->gid, st);
}

Test(perm, mode_0600_refuses_other_uid, .init = adv_init, .fini = adv_fini, .timeout = 60)
{
    const char *name = testutil_name("perm");
    struct shmring_config cfg;
    struct who w = {name, UID_A, GID_OTHER, -EACCES, 1, 0};
    struct shmring_spsc *p = NULL, *c = NULL;
    need_root();
    shmring_config_init(&cfg);
    cfg.capacity = 4096; /* mode 0: the default, 0600 */
    adv_assert_rc(shmring_spsc_create(name, &cfg), 0, "create");
    /* Another uid can neither open nor remove it (unlink attaches first: -EACCES). */
    w.want_unlink = -EACCES;
    run_as(open_as, &w);
    /* The owner still uses it. */
    adv_assert_rc(shmring_spsc_open(name, SHMRING_PRODUCER, &p), 0, "owner opens producer");
    adv_assert_rc(shmring_spsc_open(name, SHMRING_CONSUMER, &c), 0, "owner opens consumer");
    adv_assert_rc(shmring_spsc_push(p, "x", 1), 0, "push");
    {
        char b[4];
        adv_assert_rc(shmring_spsc_pop(c, b, sizeof(b)), 1, "pop");
    }
    shmring_spsc_close(p);
    shmring_spsc_close(c);
    adv_assert_rc(shmring_unlink(name), 0, "unlink");
    adv_assert_no_ipc();
}

Test(perm, mode_0660_shared_group, .init = adv_init, .fini = adv_fini, .timeout = 60)
{
    const char *name = testutil_name("perm");
    struct who creator = {name, UID_A, GID_SHARED, 0, 1, 0};
    struct who producer = {name, UID_A, GID_SHARED, 0, 1, 1};
    struct who consumer = {name, UID_B, GID_SHARED, 0, 1, 2};
    struct who stranger = {name, UID_C, GID_OTHER, -EACCES, 1, 2};
    need_root();
    run_as(create_as, &creator);
    run_as(open_as, &stranger);
    run_as(open_as, &producer); /* pushes "hello" and closes: end of stream after it */
    /* Another uid of the group pops it. It may not remove the ring: IPC_RMID needs the owner. */
    consumer.want_unlink = -EPERM;
    run_as(open_as, &consumer);
    {
        const struct shmring_header *h = adv_observe(name);
        struct shmring_spsc *p = NULL, *c = NULL;
        char b[8];
        cr_assert_not_null(h, "the ring is gone after a refused unlink");
        if (__atomic_load_n((const uint32_t *)&h->stats.state, __ATOMIC_RELAXED) & SHMRING_STATE_REMOVED)
            cr_log_warn("a refused unlink (-EPERM) left SHMRING_STATE_REMOVED set on a ring that still exists");
        shmdt((const void *)h);
        /* Still complete and usable (root passes the permission checks). */
        adv_assert_rc(shmring_spsc_open(name, SHMRING_PRODUCER, &p), 0, "open after a refused unlink");
        adv_assert_rc(shmring_spsc_open(name, SHMRING_CONSUMER, &c), 0, "open after a refused unlink");
        adv_assert_rc(shmring_spsc_push(p, "again", 5), 0, "push");
        adv_assert_rc(shmring_spsc_pop(c, b, sizeof(b)), 5, "pop");
        shmring_spsc_close(p);
        shmring_spsc_close(c);
    }
    adv_assert_rc(shmring_unlink(name), 0, "unlink by root");
    adv_assert_no_ipc();
}

/* --- Foreign objects on the key ---------------------------------------------------------------- */

static void fill_pattern(uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(0xA5 ^ (i * 7));
}

static int pattern_intact(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != (uint8_t)(0xA5 ^ (i * 7)))
            return 0;
    return 1;
}

static void foreign_segment(size_t size, int zero)
{
    const char *name = testutil_name("foreign");
    key_t key = (key_t)shmring_name_key(name);
    int id = shmget(key, size, IPC_CREAT | IPC_EXCL | 0600), err;
    struct shmring_spsc *r = NULL;
    struct shmring_mpmc *q = NULL;
    uint8_t *p;
    cr_assert_geq(id, 0, "a foreign segment on the key: %s", strerror(errno));
    p = shmat(id, NULL, 0);
    cr_assert_neq(p, (void *)-1);
    if (!zero)
        fill_pattern(p, size);

    adv_assert_rc(shmring_spsc_create(name, NULL), -EEXIST, "create over a foreign segment");
    adv_assert_rc(shmring_mpmc_create(name, NULL), -EEXIST, "mpmc create over a foreign segment");
    err = shmring_spsc_open(name, SHMRING_CONSUMER, &r);
    if (zero && size >= SHMRING_HEADER_SIZE)
        adv_assert_rc(err, -ENOENT, "open of an all-zero segment (a ring being made by a live process)");
    else
        adv_assert_rc(err, -EBADMSG, "open of a foreign segment");
    err = shmring_mpmc_open(name, SHMRING_PRODUCER, &q);
    cr_assert(err == -EBADMSG || (zero && err == -ENOENT), "mpmc open of a foreign segment: %s", shmring_err_name(err));
    err = shmring_unlink(name);
    if (zero && size >= SHMRING_HEADER_SIZE)
        adv_assert_rc(err, -EBUSY, "unlink of an all-zero segment whose creator lives");
    else
        adv_assert_rc(err, -EBADMSG, "unlink of a foreign segment");

    /* Untouched: same id, same size, same bytes; nothing else made on the key. */
    cr_assert_eq(shmget(key, 0, 0), id, "the foreign segment was replaced");
    if (zero) {
        for (size_t i = 0; i < size; i++)
            cr_assert_eq(p[i], 0, "the foreign segment was written at byte %zu", i);
    } else {
        cr_assert(pattern_intact(p, size), "the foreign segment was modified");
    }
    cr_assert_lt(semget(key, 0, 0), 0, "a semaphore set was left on the key");
    cr_assert_lt(msgget(key, 0), 0, "a message queue was left on the key");
    shmdt(p);
    shmctl(id, IPC_RMID, NULL);
    adv_assert_no_ipc();
}

Test(perm, foreign_segment_refused, .init = adv_init, .fini = adv_fini, .timeout = 60)
{
    foreign_segment(8192, 0);
}

Test(perm, foreign_small_segment_refused, .init = adv_init, .fini = adv_fini, .timeout = 60)
{
    foreign_segment(512, 0);
}

Test(perm, foreign_zero_segment_not_reused, .init = adv_init, .fini = adv_fini, .timeout = 60)
{
    foreign_segment(8192, 1);
}

Test(perm, foreign_semaphores_and_queue_refused, .init = adv_init, .fini = adv_fini, .timeout = 60)
{
    const char *name = testutil_name("foreign");
    key_t key = (key_t)shmring_name_key(name);
    struct {
        long mtype;
        char text[8];
    } msg = {7, "theirs"}, got;
    int semid = semget(key, 3, IPC_CREAT | IPC_EXCL | 0600), msqid, err;
    cr_assert_geq(semid, 0);
    cr_assert_eq(semctl(semid, 1, SETVAL, 42), 0);
    /* A set that is not of the ring's shape: the create must refuse, and remove its own segment. */
    err = shmring_spsc_create(name, NULL);
    adv_assert_rc(err, -EEXIST, "create over a foreign semaphore set");
    cr_assert_lt(shmget(key, 0, 0), 0, "create left its segment behind");
    cr_assert_eq(semctl(semid, 1, GETVAL), 42, "the foreign semaphore set was changed");
    semctl(semid, 0, IPC_RMID);

    /* A queue holding somebody's message. */
    msqid = msgget(key, IPC_CREAT | IPC_EXCL | 0600);
    cr_assert_geq(msqid, 0);
    cr_assert_eq(msgsnd(msqid, &msg, sizeof(msg.text), IPC_NOWAIT), 0);
    err = shmring_mpmc_create(name, NULL);
    adv_assert_rc(err, -EEXIST, "create over a foreign message queue");
    cr_assert_lt(shmget(key, 0, 0), 0, "create left its segment behind");
    cr_assert_lt(semget(key, 0, 0), 0, "create left its semaphore set behind");
    cr_assert_eq(msgrcv(msqid, &got, sizeof(got.text), 0, IPC_NOWAIT), (ssize_t)sizeof(msg.text),
                 "the foreign queue lost its message");
    cr_assert_str_eq(got.text, "theirs");
    msgctl(msqid, IPC_RMID, NULL);
    adv_assert_no_ipc();
}

/* `shmring rm --stale` run by a user who may not read a key-0 segment of their own (mode 0: only
 * root bypasses it) must spare that user's tagged anonymous-ring sets: the segment may be the live
 * ring that names them (tools/shmring/orphans.c). Once the segment is gone, the set is removed.
 * Needs the tool: SHMRING_TOOL names it (.ci/run's perm-uids step); it is copied to a directory
 * the test uid can reach. */
struct stale_as {
    const char *tool;
    int semid, shmid; /* made by the child as UID_A */
    int make;         /* 1: make the set and segment, then run the tool; 0: only run the tool */
};

static int stale_run_as(void *arg)
{
    struct stale_as *s = arg;
    int st;
    pid_t pid;
    if (become(UID_A, GID_OTHER) != 0)
        return 90;
    if (s->make) {
        struct sembuf op = {SHMRING_SEM_ANON_TAG, SHMRING_ANON_TAG, 0};
        s->semid = semget(IPC_PRIVATE, SHMRING_NSEMS, IPC_CREAT | 0600);
        if (s->semid < 0 || semop(s->semid, &op, 1) != 0)
            return 91;
        s->shmid = shmget(IPC_PRIVATE, SHMRING_HEADER_SIZE, IPC_CREAT | 0000);
        if (s->shmid < 0)
            return 92;
        if (shmat(s->shmid, NULL, SHM_RDONLY) != (void *)-1)
            return 93; /* readable after all: the test would prove nothing */
    }
    pid = fork();
    if (pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0)
            dup2(devnull, STDOUT_FILENO);
        execl(s->tool, "shmring", "rm", "--stale", (char *)NULL);
        _exit(127);
    }
    if (pid < 0 || waitpid(pid, &st, 0) != pid)
        return 94;
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 95;
}

static int set_exists(int semid)
{
    return semctl(semid, 0, IPC_STAT, &(struct semid_ds){0}) == 0;
}

Test(perm, mode_rm_stale_spares_sets_of_an_unreadable_segment, .init = adv_init, .fini = adv_fini, .timeout = 60)
{
    const char *src = getenv("SHMRING_TOOL");
    char dir[] = "/tmp/shmring_perm_XXXXXX", tool[64], cmd[4200];
    struct stale_as *s;
    need_root();
    if (src == NULL || access(src, X_OK) != 0)
        cr_skip_test("SHMRING_TOOL does not name the shmring tool (.ci/run's perm-uids step sets it)");
    cr_assert_neq(mkdtemp(dir), NULL);
    cr_assert_eq(chmod(dir, 0755), 0);
    snprintf(tool, sizeof(tool), "%s/shmring", dir);
    cr_assert_lt(strlen(src), 4000, "SHMRING_TOOL is too long");
    snprintf(cmd, sizeof(cmd), "cp '%s' '%s' && chmod 755 '%s'", src, tool, tool);
    cr_assert_eq(system(cmd), 0, "copy the tool");
    s = adv_shared(sizeof(*s));
    s->tool = tool;
    s->make = 1;
    {
        /* Every step first, the checks after the temporary copy of the tool is gone. */
        int st1 = adv_join(adv_spawn(stale_run_as, s), 20 * ADV_SEC), spared = st1 == 0 && set_exists(s->semid);
        int rm = st1 == 0 ? shmctl(s->shmid, IPC_RMID, NULL) : -1, st2 = -1, removed = 0;
        if (rm == 0) {
            s->make = 0;
            st2 = adv_join(adv_spawn(stale_run_as, s), 20 * ADV_SEC);
            removed = st2 == 0 && !set_exists(s->semid);
        }
        unlink(tool);
        rmdir(dir);
        cr_assert_eq(st1, 0, "uid %d: make the set and the unreadable segment, run rm --stale: %d", UID_A, st1);
        cr_assert(spared, "rm --stale removed a set that an unreadable segment of its creator may name");
        cr_assert_eq(rm, 0, "remove the segment");
        cr_assert_eq(st2, 0, "uid %d: run rm --stale again: %d", UID_A, st2);
        cr_assert(removed, "rm --stale left the set once no segment could name it");
    }
    munmap(s, sizeof(*s));
    adv_assert_no_ipc();
}
