/* shmring — the process's list of attachments, so that fork() hands them to the child.
 *
 * SEM_UNDO adjustments are not inherited across fork(): without help, a child that holds a handle
 * it inherited would not be counted as present, and its death would go unnoticed. The atfork
 * handlers count the child before fork() and let it take that count over.
 *
 * A mutex-protected list: attach and close are slow-path calls, and the fast path never looks
 * here. (The lock-free, RCU-read registry with lookup by name is a later step.)
 *
 * If fork() itself fails, the counts made for the child that never ran stay: peers then notice
 * the death of this process's handles only through their timeouts. fork() failing is rare.
 */
#include <pthread.h>
#include <unistd.h>

#include "internal.h"

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct shmring__attach *registry_head;
static pthread_once_t registry_once = PTHREAD_ONCE_INIT;

static void on_prepare(void)
{
    struct shmring__attach *a;
    pthread_mutex_lock(&registry_lock);
    for (a = registry_head; a; a = a->next)
        shmring__presence_fork_prepare(a->semid, a->role);
}

static void on_parent(void)
{
    pthread_mutex_unlock(&registry_lock);
}

static void on_child(void)
{
    struct shmring__attach *a;
    shmring__membarrier_reregister();
    for (a = registry_head; a; a = a->next) {
        shmring__presence_fork_child(a->semid, a->role);
        a->pid = getpid();
        if (a->fork_child)
            a->fork_child(a);
    }
    pthread_mutex_unlock(&registry_lock);
}

static void registry_init(void)
{
    pthread_atfork(on_prepare, on_parent, on_child);
}

void shmring__registry_add(struct shmring__attach *a)
{
    pthread_once(&registry_once, registry_init);
    pthread_mutex_lock(&registry_lock);
    a->prev = NULL;
    a->next = registry_head;
    if (registry_head)
        registry_head->prev = a;
    registry_head = a;
    pthread_mutex_unlock(&registry_lock);
}

void shmring__registry_remove(struct shmring__attach *a)
{
    pthread_mutex_lock(&registry_lock);
    if (a->prev)
        a->prev->next = a->next;
    else
        registry_head = a->next;
    if (a->next)
        a->next->prev = a->prev;
    a->prev = a->next = NULL;
    pthread_mutex_unlock(&registry_lock);
}
