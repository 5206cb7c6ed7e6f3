/* shmring — event-loop integration: an eventfd that becomes readable when a consumer's ring has
 * data, for epoll/poll/libuv/libevent.
 *
 * A helper thread in the consumer's process does the sleeping, with the library's own protocol
 * (shmring__wait: announce on consumer_sleeping, the ring's waiter fence, re-check, semaphore sleep
 * in slices), so the producer side is unchanged: it makes a system call only when it sees a
 * sleeper announced, and the helper is announced only while armed and the ring is empty. (An
 * eventfd written by the producer itself would cost it a system call per wake-up and an fd passed
 * between unrelated processes; a futex is not pollable.)
 *
 * The helper never touches the handle's fields: it reads the immutable geometry and the shared
 * header, and the position to watch, which shmring_spsc_event_rearm() hands over under `lock`.
 * Arming has a generation: a rearm that races with the helper firing for the previous arming
 * makes it wait again at the new position, rather than being lost (a spurious readable fd is
 * harmless, a lost one hangs the application). */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "internal.h"
#include "shmring/spsc.h"

struct shmring__evfd {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int fd;
    int armed;                    /* under lock */
    uint64_t gen;                 /* under lock: rearms so far */
    SHMRING_ATOMIC(uint64_t) pos; /* the position watched */
    SHMRING_ATOMIC(uint32_t) stop;
    /* Copies of the handle's immutable geometry. */
    struct shmring_header *hdr;
    const uint8_t *data;
    uint64_t mask;
    struct shmring__attach *att;
};

static int ev_ready(void *ctx, int thorough)
{
    struct shmring__evfd *e = (struct shmring__evfd *)ctx;
    uint64_t pos = shmring__load(&e->pos, relaxed);
    (void)thorough;
    if (shmring__load(&e->stop, acquire))
        return 0;
    if (shmring__load(SHMRING__U64_AT(e->data + (pos & e->mask)), acquire) != 0)
        return 0;
    return shmring__load(&e->hdr->wait.producer_closed, acquire) ? 0 : 1;
}

static void ev_signal(int fd)
{
    uint64_t one = 1;
    /* EAGAIN: the counter is full, i.e. already readable. */
    while (write(fd, &one, sizeof(one)) < 0 && errno == EINTR)
        ;
}

static void *ev_thread(void *arg)
{
    struct shmring__evfd *e = (struct shmring__evfd *)arg;
    struct shmring__wait_spec spec;
    uint64_t gen;
    int64_t deadline;
    int rc;
    spec.a = e->att;
    spec.hdr = e->hdr;
    spec.consumer = 1;
    spec.spin = 0;
    spec.ready = ev_ready;
    spec.ctx = e;
    for (;;) {
        pthread_mutex_lock(&e->lock);
        while (!e->armed && !shmring__load(&e->stop, relaxed))
            pthread_cond_wait(&e->cond, &e->lock);
        gen = e->gen;
        pthread_mutex_unlock(&e->lock);
        if (shmring__load(&e->stop, acquire))
            break;
        deadline = 0;
        rc = shmring__wait(&spec, -1, &deadline);
        if (shmring__load(&e->stop, acquire))
            break;
        /* Data, end of stream, the producer's death (-EPIPE), removal (-EIDRM), or another error:
         * each is something the application learns by popping, so each makes the fd readable. */
        ev_signal(e->fd);
        pthread_mutex_lock(&e->lock);
        if (e->gen == gen)
            e->armed = 0;
        pthread_mutex_unlock(&e->lock);
        if (rc == -EIDRM) {
            /* The semaphores are gone: nothing left to sleep on. Wait for close. */
            pthread_mutex_lock(&e->lock);
            while (!shmring__load(&e->stop, relaxed))
                pthread_cond_wait(&e->cond, &e->lock);
            pthread_mutex_unlock(&e->lock);
            break;
        }
    }
    return NULL;
}

int shmring_spsc_event_fd(struct shmring_spsc *r, int *fd)
{
    struct shmring__evfd *e;
    int err;
    if (r == NULL || fd == NULL || r->role != SHMRING_CONSUMER || r->att->pid != getpid())
        return -EINVAL;
    if (r->att->evfd != NULL) {
        *fd = r->att->evfd->fd;
        return 0;
    }
    e = (struct shmring__evfd *)calloc(1, sizeof(*e));
    if (e == NULL)
        return -ENOMEM;
    e->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (e->fd < 0) {
        err = -errno;
        free(e);
        return err;
    }
    pthread_mutex_init(&e->lock, NULL);
    pthread_cond_init(&e->cond, NULL);
    e->hdr = r->hdr;
    e->data = r->data;
    e->mask = r->mask;
    e->att = r->att;
    /* Armed at once at the handle's current position. */
    e->armed = 1;
    shmring__store(&e->pos, r->next, relaxed);
    err = pthread_create(&e->thread, NULL, ev_thread, e);
    if (err) {
        close(e->fd);
        pthread_cond_destroy(&e->cond);
        pthread_mutex_destroy(&e->lock);
        free(e);
        return -err;
    }
    r->att->evfd = e;
    *fd = e->fd;
    return 0;
}

int shmring_spsc_event_rearm(struct shmring_spsc *r)
{
    struct shmring__evfd *e;
    uint64_t v;
    if (r == NULL || r->role != SHMRING_CONSUMER || (e = r->att->evfd) == NULL)
        return -EINVAL;
    /* Clear the fd first: a write after this is for the arming below (or a spurious one). */
    while (read(e->fd, &v, sizeof(v)) == (ssize_t)sizeof(v))
        ;
    pthread_mutex_lock(&e->lock);
    shmring__store(&e->pos, r->next, relaxed);
    e->gen++;
    e->armed = 1;
    pthread_cond_signal(&e->cond);
    pthread_mutex_unlock(&e->lock);
    return 0;
}

void shmring__evfd_close(struct shmring__attach *a)
{
    struct shmring__evfd *e = a->evfd;
    if (e == NULL)
        return;
    a->evfd = NULL;
    pthread_mutex_lock(&e->lock);
    shmring__store(&e->stop, 1, release);
    pthread_cond_signal(&e->cond);
    pthread_mutex_unlock(&e->lock);
    /* A helper asleep on the semaphore: its ready() sees `stop` once woken. */
    shmring__sem_post_capped(a->semid, SHMRING_SEM_CONSUMER_WAKE);
    pthread_join(e->thread, NULL);
    close(e->fd);
    pthread_cond_destroy(&e->cond);
    pthread_mutex_destroy(&e->lock);
    free(e);
}

void shmring__evfd_fork_child(struct shmring__attach *a)
{
    /* The struct is left as is (its lock may have been held by the thread fork did not copy);
     * a small leak per inherited event fd, in the child only. */
    if (a->evfd != NULL) {
        close(a->evfd->fd);
        a->evfd = NULL;
    }
}
