/* shmring — the process-local registry: the table of attached rings and the list of handles.
 *
 * Mappings. All handles of one process on one named ring (producers, consumers, control handles)
 * share one shmat() of its segment: a `struct shmring__map`, reference counted, kept in a lock-free
 * hash table (liburcu's cds_lfht) keyed by name. Lookups run under rcu_read_lock() and take no
 * lock, so many threads can open and look rings up at once; the map is unlinked from the table when
 * its last reference goes and freed with call_rcu() once no reader can still see it. RCU protects
 * only this process-local memory, never shared memory. Flavor: urcu-bp ("bulletproof"), which needs
 * no thread registration: callers' threads are not ours to register.
 *
 * A reference is taken with "increment unless zero": a lookup that finds a map whose count already
 * fell to 0 (its last holder is removing it) treats it as absent and attaches afresh; adding then
 * waits for the dying entry to leave the table. A cached map whose ring was removed (unlinked, or
 * its segment marked for destruction by ipcrm) is taken out of the table and never handed out again:
 * a ring re-created under the same name is a new segment.
 *
 * Handles. SEM_UNDO adjustments are not inherited across fork(): without help, a child that holds a
 * handle it inherited would not be counted as present, and its death would go unnoticed. The
 * pthread_atfork handlers count the child before fork() and let it take that count over. The list
 * of handles is a plain mutex-protected list: only open, close and fork walk it; the fast path
 * never looks here. If fork() itself fails, the counts made for the child that never ran stay:
 * peers then notice the death of this process's handles only through their timeouts.
 *
 * liburcu's own fork handling (urcu_bp_*_fork, call_rcu_*_fork) is called from the same handlers,
 * so a child can keep using the registry (its call_rcu worker is restarted).
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <unistd.h>

#include <urcu-bp.h> /* the flavor, before the hash table header */
#include <urcu/rculfhash.h>

#include "internal.h"

#if defined(__SANITIZE_THREAD__)
#define SHMRING_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SHMRING_TSAN 1
#endif
#endif
#ifdef SHMRING_TSAN
/* ThreadSanitizer cannot see liburcu's grace periods (it is not instrumented): tell it that a
 * reader's critical section happens before the callback that frees what it read. */
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
static char rcu_hb;
#define RCU_READ_UNLOCK() (__tsan_release(&rcu_hb), urcu_bp_read_unlock())
#define RCU_FREED() __tsan_acquire(&rcu_hb)
/* ... and that an entry's initialisation happens before a reader that finds it in the table
 * (rcu_assign_pointer / rcu_dereference inside cds_lfht). */
#define RCU_PUBLISH(e) __tsan_release(e)
#define RCU_FOUND(e) __tsan_acquire((void *)(e))
#else
#define RCU_READ_UNLOCK() urcu_bp_read_unlock()
#define RCU_FREED() ((void)0)
#define RCU_PUBLISH(e) ((void)0)
#define RCU_FOUND(e) ((void)0)
#endif

struct entry {
    struct cds_lfht_node node;
    struct rcu_head rcu;
    unsigned long hash;
    long refs; /* atomic; 0: being removed */
    struct shmring__map map;
};

#define ENTRY_OF(m) ((struct entry *)((char *)(m)-offsetof(struct entry, map)))

static struct cds_lfht *table;
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

static pthread_mutex_t handles_lock = PTHREAD_MUTEX_INITIALIZER;
static struct shmring__attach *handles_head;

/* --- fork ------------------------------------------------------------------------------------ */

static void on_prepare(void)
{
    struct shmring__attach *a;
    pthread_mutex_lock(&handles_lock);
    for (a = handles_head; a; a = a->next)
        shmring__presence_fork_prepare(a->semid, a->role);
    urcu_bp_call_rcu_before_fork();
    urcu_bp_before_fork();
}

static void on_parent(void)
{
    urcu_bp_after_fork_parent();
    urcu_bp_call_rcu_after_fork_parent();
    pthread_mutex_unlock(&handles_lock);
}

static void on_child(void)
{
    struct shmring__attach *a;
    urcu_bp_after_fork_child();
    urcu_bp_call_rcu_after_fork_child();
    shmring__membarrier_reregister();
    for (a = handles_head; a; a = a->next) {
        shmring__presence_fork_child(a->semid, a->role);
        a->pid = getpid();
        shmring__evfd_fork_child(a);
        if (a->fork_child)
            a->fork_child(a);
    }
    pthread_mutex_unlock(&handles_lock);
}

static void registry_init(void)
{
    /* A fixed 256 buckets: a process attaches a handful of rings, rarely hundreds, and lookups are
     * on the slow path (open). No automatic resizing: it would run in liburcu's worker thread,
     * which ThreadSanitizer cannot follow (liburcu is not instrumented), and buys nothing here. */
    table = cds_lfht_new_flavor(256, 256, 256, 0, &urcu_bp_flavor, NULL);
    pthread_atfork(on_prepare, on_parent, on_child);
}

static int registry_ready(void)
{
    pthread_once(&table_once, registry_init);
    return table != NULL;
}

/* --- mappings -------------------------------------------------------------------------------- */

static unsigned long name_hash(const char *name)
{
    uint64_t h = UINT64_C(0xcbf29ce484222325); /* FNV-1a */
    for (; *name; name++)
        h = (h ^ (uint8_t)*name) * UINT64_C(0x100000001b3);
    return (unsigned long)h;
}

static int match(struct cds_lfht_node *node, const void *key)
{
    const struct entry *e = caa_container_of(node, struct entry, node);
    RCU_FOUND(e);
    return strcmp(e->map.name, (const char *)key) == 0;
}

/* Increment unless zero: a reference on a live entry, or 0 if it is being removed. */
static int try_get(struct entry *e)
{
    long n = __atomic_load_n(&e->refs, __ATOMIC_RELAXED);
    while (n > 0)
        if (__atomic_compare_exchange_n(&e->refs, &n, n + 1, 1, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
            return 1;
    return 0;
}

static void free_entry(struct rcu_head *head)
{
    RCU_FREED();
    free(caa_container_of(head, struct entry, rcu));
}

/* Still the ring its name means? Removed rings are not handed out again. An identity that
 * changed since it was validated means somebody wrote over it: the ring is marked corrupt (and a
 * fresh open then refuses it with -EUCLEAN). One system call. */
static int map_current(const struct shmring__map *m)
{
    struct shmid_ds ds;
    struct shmring_ident now;
    memcpy(&now, &m->hdr->ident, sizeof(now));
    if (memcmp(&now, &m->ident, sizeof(now)) != 0) {
        shmring__fetch_or(&m->hdr->stats.state, SHMRING_STATE_CORRUPT, relaxed);
        return 0;
    }
    if (shmring__load(&m->hdr->stats.state, relaxed) & (SHMRING_STATE_REMOVED | SHMRING_STATE_CORRUPT))
        return 0;
    if (shmctl(m->shmid, IPC_STAT, &ds) != 0)
        return 0;
    return !(ds.shm_perm.mode & SHM_DEST);
}

static void drop_from_table(struct entry *e)
{
    urcu_bp_read_lock();
    cds_lfht_del(table, &e->node); /* -ENOENT if someone did already: fine */
    RCU_READ_UNLOCK();
}

int shmring__map_open(const char *name, uint32_t kind, struct shmring__map **out)
{
    struct cds_lfht_iter iter;
    struct cds_lfht_node *node;
    struct entry *e, *fresh = NULL;
    unsigned long hash;
    int err;

    if ((err = shmring__check_name(name)) != 0)
        return err;
    if (!registry_ready())
        return -ENOMEM;
    hash = name_hash(name);
    for (;;) {
        /* Look it up. */
        e = NULL;
        urcu_bp_read_lock();
        cds_lfht_lookup(table, hash, match, name, &iter);
        node = cds_lfht_iter_get_node(&iter);
        if (node) {
            e = caa_container_of(node, struct entry, node);
            if (!try_get(e))
                e = NULL;
        }
        RCU_READ_UNLOCK();
        if (e) {
            if (map_current(&e->map)) {
                if (kind != 0 && e->map.ident.kind != kind) {
                    shmring__map_put(&e->map);
                    err = -EPROTONOSUPPORT;
                    break;
                }
                if (fresh) { /* lost a race to another opener: use theirs */
                    shmring__seg_detach(fresh->map.hdr);
                    free(fresh);
                }
                *out = &e->map;
                return 0;
            }
            drop_from_table(e); /* a removed ring: never again */
            shmring__map_put(&e->map);
            continue;
        }
        /* Not there: attach and add. */
        if (fresh == NULL) {
            fresh = (struct entry *)calloc(1, sizeof(*fresh));
            if (fresh == NULL)
                return -ENOMEM;
            err = shmring__seg_open(name, kind, &fresh->map.hdr, &fresh->map.size, &fresh->map.shmid,
                                    &fresh->map.ident);
            if (err) {
                free(fresh);
                return err;
            }
            strncpy(fresh->map.name, name, SHMRING_NAME_MAX);
            fresh->hash = hash;
            fresh->refs = 1;
        }
        RCU_PUBLISH(fresh);
        urcu_bp_read_lock();
        node = cds_lfht_add_unique(table, hash, match, name, &fresh->node);
        RCU_READ_UNLOCK();
        if (node == &fresh->node) {
            *out = &fresh->map;
            return 0;
        }
        /* Someone added one meanwhile: take theirs on the next turn. If it is dying, its remover
         * takes it out of the table soon: let it run. */
        sched_yield();
    }
    if (fresh) {
        shmring__seg_detach(fresh->map.hdr);
        free(fresh);
    }
    return err;
}

struct shmring__map *shmring__map_anon(struct shmring_header *hdr, size_t size, int shmid,
                                       const struct shmring_ident *ident)
{
    struct entry *e = (struct entry *)calloc(1, sizeof(*e));
    if (e == NULL)
        return NULL;
    e->map.hdr = hdr;
    e->map.size = size;
    e->map.shmid = shmid;
    e->map.ident = *ident; /* as the creator made it, not re-read from the segment */
    e->map.anon = 1;
    e->refs = 1;
    return &e->map;
}

void shmring__map_ref(struct shmring__map *m)
{
    __atomic_add_fetch(&ENTRY_OF(m)->refs, 1, __ATOMIC_RELAXED);
}

void shmring__map_put(struct shmring__map *m)
{
    struct entry *e = ENTRY_OF(m);
    /* Release: our uses of the map happen before whoever frees it (acquire fence below). */
    if (__atomic_sub_fetch(&e->refs, 1, __ATOMIC_RELEASE) != 0)
        return;
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    shmring__seg_detach(m->hdr);
    if (m->anon) {
        free(e);
        return;
    }
    drop_from_table(e);
    /* Readers that found it before the removal may still read its name and count. */
    urcu_bp_call_rcu(&e->rcu, free_entry);
}

int shmring_attached(const char *name)
{
    struct cds_lfht_iter iter;
    struct cds_lfht_node *node;
    long n = 0;
    int err;
    if ((err = shmring__check_name(name)) != 0)
        return err;
    if (!registry_ready())
        return -ENOMEM;
    urcu_bp_read_lock();
    cds_lfht_lookup(table, name_hash(name), match, name, &iter);
    node = cds_lfht_iter_get_node(&iter);
    if (node)
        n = __atomic_load_n(&caa_container_of(node, struct entry, node)->refs, __ATOMIC_RELAXED);
    RCU_READ_UNLOCK();
    return n > 0 ? (int)n : 0;
}

/* --- handles --------------------------------------------------------------------------------- */

void shmring__registry_add(struct shmring__attach *a)
{
    registry_ready();
    pthread_mutex_lock(&handles_lock);
    a->prev = NULL;
    a->next = handles_head;
    if (handles_head)
        handles_head->prev = a;
    handles_head = a;
    pthread_mutex_unlock(&handles_lock);
}

void shmring__registry_remove(struct shmring__attach *a)
{
    pthread_mutex_lock(&handles_lock);
    if (a->prev)
        a->prev->next = a->next;
    else
        handles_head = a->next;
    if (a->next)
        a->next->prev = a->prev;
    a->prev = a->next = NULL;
    pthread_mutex_unlock(&handles_lock);
}
