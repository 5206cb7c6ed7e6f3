/* shmring — life semaphores: whether the process holding a table entry is alive, decided by the
 * kernel, not by a pid.
 *
 * Each entry of the ring's tables (MPMC participants, BCAST consumers, control subscribers) has a
 * semaphore of its own in the ring's set (layout.h: SHMRING_SEM_LIFE_*). A process holds +1 on it
 * with SEM_UNDO while it owns the entry; the kernel takes that back when the process exits, however
 * it exits. So "the semaphore is 0" means "nobody holds this entry": a fact about the IPC namespace,
 * which every process using the ring shares, while a pid means something only in a PID namespace
 * (containers that share IPC but not PIDs see each other's pids as absent, or as somebody else's),
 * and only until it is reused.
 *
 * The order that makes a "dead" verdict sound:
 *   taker:  hold (+1, SEM_UNDO); CAS owner from free (or from a dead owner) to its owner word; on a
 *           lost CAS, drop (-1, SEM_UNDO)
 *   closer: store owner 0; drop
 *   judge:  load owner (acquire); read the semaphore; dead if the owner word is not 0 and the
 *           semaphore is 0
 * A judge that sees an owner word sees its taker's hold too (the hold came before the CAS), so a 0
 * read afterwards means that process exited or closed. A taker racing for a dead owner's entry makes
 * the semaphore 1 for a moment: the judge then says "alive", which only defers the recovery. The
 * judge acts on its verdict by a CAS on the owner word (or on a slot's sequence word), so a verdict
 * that went stale meanwhile changes nothing.
 *
 * SEM_UNDO adjustments are per process (threads share them), not inherited by fork() (a forked
 * child takes entries of its own: lib/mpmc.c, lib/bcast.c), and kept across execve(). */
#include <errno.h>
#include <sys/sem.h>

#include "internal.h"

static int life_op(int semid, unsigned sem, short delta)
{
    struct sembuf op = {(unsigned short)sem, delta, (short)(SEM_UNDO | (delta < 0 ? IPC_NOWAIT : 0))};
    while (semop(semid, &op, 1) != 0) {
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN)
            return -EBUSY; /* a drop with nothing to drop: somebody forged the value; ignore */
        return errno == EINVAL || errno == EIDRM ? -EIDRM : shmring__errno();
    }
    return 0;
}

int shmring__life_hold(int semid, unsigned sem)
{
    return life_op(semid, sem, 1);
}

void shmring__life_drop(int semid, unsigned sem)
{
    (void)life_op(semid, sem, -1);
}

int shmring__life_dead(int semid, unsigned sem, uint64_t owner)
{
    int v;
    if (owner == 0)
        return 0;
    v = semctl(semid, (int)sem, GETVAL);
    /* Cannot tell (the set is gone, or we may not read it): not dead. */
    return v == 0;
}

int shmring__life_read(int semid, unsigned short vals[SHMRING_NSEMS])
{
    union shmring__semun arg;
    arg.array = vals;
    if (semctl(semid, 0, GETALL, arg) == 0)
        return 0;
    return errno == EINVAL || errno == EIDRM ? -EIDRM : shmring__errno();
}
