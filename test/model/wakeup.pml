/* shmring — a Promela model of the sleep/wake (eventcount) protocol, as implemented.
 *
 * Checked with spin by test/model/check.sh (README.md in this directory explains what the model
 * covers and what it abstracts). References "file:line" are to the sources at commit 9d9e7b7 (the
 * waiter's exit after a wake-up was added later and is named, not numbered); the function names
 * are the stable part.
 *
 * The ring: NPROD producer processes publish NMSG records each into CAP slots; NCONS consumer
 * processes take them (the MPMC ring: claim = CAS on prod.pos, publish = release store of the slot's
 * sequence word; take = CAS on cons.pos, release = release store of the sequence word). With
 * NPROD = NCONS = 1 and -DSPSC it is the SPSC ring: same waiting code, plus the producer_closed
 * flag that the SPSC consumer's ready() also looks at.
 *
 * Memory model: spin interleaves whole statements, i.e. sequential consistency. The code is not
 * SC (relaxed loads and stores), but every access the protocol depends on is ordered by the
 * waiter's barrier (membarrier(GLOBAL_EXPEDITED), or a seq_cst fence on both sides): README.md
 * gives the argument. So the model treats the waiter's barrier and the publisher's
 * signal_fence/thread_fence as "nothing is reordered across this point", which SC gives for free.
 *
 * Build-time options (spin -D...):
 *   NPROD, NCONS, NMSG, CAP   the configuration (defaults 1, 1, 3, 2)
 *   SPSC                      SPSC ring (NPROD = NCONS = 1): producer_closed, EPIPE from peek
 *   ENDINGS                   each side may, between two operations, stop for good (stay attached,
 *                             never call again), close, or die; else producers close after NMSG
 *                             records and consumers run until end of stream
 *   MAX_EINTR                 how many times in a run a sleep may return early with EINTR
 *                             (sem_sleep turns it into 0, "woken"); default 1
 *   CHECK_EOS                 also require that end of stream (all peers gone) wakes every
 *                             sleeper (a waiter leaving with -EPIPE passes the wake-up on; the
 *                             first version of the implementation did not, which this model found)
 * Deliberately broken variants, which spin must reject:
 *   BROKEN_NO_RECHECK         the waiter looks at the ring before it announces, not after
 *   BROKEN_CHECK_FIRST        the publisher looks for sleepers before its release store
 *   BROKEN_NO_BATON           a woken waiter does not pass the wake-up on (MPMC, 2 waiters)
 *   BROKEN_UNCAPPED           posts always add 1 (no "only if 0" test)
 *   BROKEN_EOS_NO_BATON       a waiter leaving with -EPIPE does not pass the wake-up on (the first
 *                             implementation: with CHECK_EOS and two sleepers, spin rejects it)
 *
 * Properties:
 *   - no lost wake-up: the semaphore wait has no timeout here (the implementation sleeps in
 *     100 ms slices; a lost wake-up would cost a slice). At a global deadlock (spin's `timeout`:
 *     nobody can move) the watchdog asserts that no process is blocked on its semaphore while its
 *     ready() condition holds (data to take, a slot to fill). Blocking with nothing to do (the
 *     other side stopped for good) is a valid end state.
 *   - bounded semaphores: after every increment, sem <= 1 + deaths of the other side (the doorbells;
 *     lib/wait.c says "at most 1 plus the deaths of the other side since its last attach").
 */

#ifndef NPROD
#define NPROD 1
#endif
#ifndef NCONS
#define NCONS 1
#endif
#ifndef NMSG
#define NMSG 3
#endif
#ifndef CAP
#define CAP 2
#endif
#ifndef MAX_EINTR
#define MAX_EINTR 1
#endif
#define TOTAL (NPROD * NMSG)

#define EPIPE 32

/* --- shared memory (struct shmring_header, layout.h) --------------------------------------- */
byte prod_pos;             /* hdr->prod.pos: next position a producer claims (MPMC); SPSC: tail */
byte cons_pos;             /* hdr->cons.pos: next position a consumer takes */
bool pubd[TOTAL];          /* slot seq == pos + 1 (MPMC) / record header word != 0 (SPSC) */
bool rel[TOTAL];           /* slot seq == pos + CAP: position pos was released */
byte c_sleeping;           /* hdr->wait.consumer_sleeping */
byte p_sleeping;           /* hdr->wait.producer_sleeping */
byte c_gen;                /* hdr->wait.consumer_wake_gen (32 bits there; wraps at 256 here) */
byte p_gen;                /* hdr->wait.producer_wake_gen */
bit producer_closed;       /* hdr->wait.producer_closed (SPSC) */

/* --- the semaphore set (enum shmring_sem, layout.h) ---------------------------------------- */
byte sem_c;                /* SHMRING_SEM_CONSUMER_WAKE */
byte sem_p;                /* SHMRING_SEM_PRODUCER_WAKE */
byte producers = NPROD;    /* SHMRING_SEM_PRODUCERS (SEM_UNDO presence count) */
byte consumers = NCONS;    /* SHMRING_SEM_CONSUMERS */

/* --- ghosts: for the properties only, no counterpart in the code --------------------------- */
byte p_deaths;             /* producers that died: each added 1 to sem_c (doorbell) */
byte c_deaths;
byte c_in_sem;             /* consumers inside their semaphore wait */
byte p_in_sem;
byte eintrs;               /* EINTRs so far (bounded by MAX_EINTR) */

/* The slot at position p is free for its producer (slot seq == p, i.e. seq - p >= 0 in
 * shmring__mpmc_claim and ready() in lib/mpmc.c). */
#define SLOT_FREE(p) ((p) < CAP || rel[(p) - CAP])
/* What a consumer (producer) blocked on its semaphore could do right now. */
#define DATA_AVAIL (cons_pos < TOTAL && pubd[cons_pos])
#define SPACE_AVAIL (prod_pos < TOTAL && SLOT_FREE(prod_pos))

/* lib/wait.c:86 shmring__sem_post_capped: semop {sem, 0, IPC_NOWAIT}, {sem, +1, 0}: the kernel
 * tests and adds in one operation. EAGAIN ("already posted") is success. */
#ifdef BROKEN_UNCAPPED
#define CAPPED_ADD(sem) sem++
#else
#define CAPPED_ADD(sem) if :: sem == 0 -> sem = 1 :: else -> skip fi
#endif
inline post_capped(sem, bound) {
    atomic { CAPPED_ADD(sem); assert(sem <= 1 + bound) }
}

/* lib/wait.c shmring__wake: the wake-up generation (even: no post made in it; odd: one was).
 * Load it; if even, post FIRST, then mark it with a CAS that fails if it moved on. */
inline wake(gen, sem, bound) {
    old = gen;                                   /* load(gen, relaxed) */
    if
    :: old & 1 -> skip                           /* odd: a post of this generation was made */
    :: else ->
        post_capped(sem, bound);
        atomic { if :: gen == old -> gen = old + 1 :: else -> skip fi } /* cas(gen, w, w + 1) */
    fi
}

/* The publishing side, after its release store (spsc.h:202 commit's store of the record word,
 * spsc.h:251 release's store of cons.pos; mpmc.h:230 publish, mpmc.h:293 release): layout.h:124
 * shmring__sleepers_after_publish = signal_fence (membarrier mode) or thread_fence, then
 * load(sleeping, relaxed); spsc.h:166 / mpmc.h:112 call wake if it is not 0. */
inline after_publish(sleeping, gen, sem, bound) {
    if
    :: sleeping > 0 -> wake(gen, sem, bound)
    :: else -> skip
    fi
}

/* ready(ctx, 1) as the waiter re-checks (rc 0 in r: ready; 1: not yet).
 * Consumer, lib/mpmc.c ready(): pos = load(cons.pos, relaxed); seq = load(slot(pos)->seq,
 * acquire); ready if seq - pos in {1, 2} or > 2 (moved on): two separate loads, so `pos` may be
 * stale; for a stale pos the slot was published, so "pubd[pos]" is exact.
 * SPSC lib/spsc.c:364 data_ready(): the word at `next` is not 0, or producer_closed. */
inline c_ready(r) {
    pos = cons_pos;
#ifdef SPSC
    if
    :: (pos < TOTAL && pubd[pos]) || producer_closed -> r = 0
    :: else -> r = 1
    fi
#else
    if
    :: pos < TOTAL && pubd[pos] -> r = 0
    :: else -> r = 1
    fi
#endif
}
/* Producer, lib/mpmc.c ready(): pos = load(prod.pos); ready if seq(slot(pos)) - pos >= 0.
 * SPSC lib/spsc.c space_ready(): cons.pos reloaded and the record fits. */
inline p_ready(r) {
    pos = prod_pos;
    if
    :: pos < TOTAL && SLOT_FREE(pos) -> r = 0
    :: else -> r = 1
    fi
}

/* lib/wait.c:238 shmring__wait with timeout SHMRING_FOREVER. The spin loop (:254) only calls
 * ready(ctx, 0) and returns if ready: the caller's own retry of the fast path models it. */
#ifdef BROKEN_NO_RECHECK
#define ANNOUNCE_AND_CHECK(sleeping, READY) READY(r); sleeping++
#else
#define ANNOUNCE_AND_CHECK(sleeping, READY) sleeping++; READY(r)
#endif
#define WAIT(sleeping, gen, sem, peers, in_sem, READY, bound)                                  \
    woken = 0;                                                                                 \
    early = 0;                                                                                 \
    do                                                                                         \
    :: ANNOUNCE_AND_CHECK(sleeping, READY);  /* :264 fetch_add(sleeping), :265 barrier, :266 */ \
        if                                                                                     \
        :: r == 0 -> rc = 0; break           /* :266-267 ready: leave the loop */               \
        :: else -> skip                                                                        \
        fi;                                                                                    \
        if                                                                                     \
        :: peers == 0 ->                     /* :268-273 GETVAL(peers) == 0, attached once */  \
            READY(r);                        /* :275 */                                         \
            if                                                                                 \
            :: r == 0 -> rc = 0                                                                \
            :: else -> rc = EPIPE            /* :276-277 */                                     \
            fi;                                                                                \
            break                                                                              \
        :: else -> skip                                                                        \
        fi;                                                                                    \
        in_sem++;                            /* ghost */                                       \
end_sleep:                                   /* :295 semtimedop(sem, -1), no timeout here */   \
        if                                                                                     \
        :: atomic { sem > 0 -> sem--; in_sem-- }                                               \
        :: atomic { eintrs < MAX_EINTR -> eintrs++; in_sem-- } /* EINTR: sem_sleep returns 0 */ \
        fi;                                                                                    \
        sleeping--;                          /* fetch_sub(sleeping) after sem_sleep */          \
        woken = 1;                           /* rc == 0 */                                      \
        gen = (gen | 1) + 1;                 /* wake_gen_advance: CAS loop, next even value */  \
        READY(r);                            /* woken: ready(ctx, 0) before announcing again */  \
        if                                                                                     \
        :: r == 0 -> rc = 0; early = 1; break /* goto out: `sleeping` already taken back */     \
        :: else -> skip                                                                        \
        fi                                                                                     \
    od;                                                                                        \
    if                                                                                         \
    :: early == 0 -> sleeping--              /* the fetch_sub after the loop */                \
    :: else -> skip                                                                            \
    fi;                                                                                        \
    BATON(sleeping, gen, sem, bound)

#ifdef BROKEN_NO_BATON
#define BATON(sleeping, gen, sem, bound) skip
#else
/* :306-307 if (rc == 0 && woken && load(sleeping)) wake(self) */
/* out: if (((rc == 0 && woken) || rc == -EPIPE) && load(sleeping)) wake(self) */
#ifdef BROKEN_EOS_NO_BATON
#define BATON_WHEN rc == 0 && woken
#else
#define BATON_WHEN (rc == 0 && woken) || rc == EPIPE
#endif
#define BATON(sleeping, gen, sem, bound)                                                   \
    if                                                                                         \
    :: BATON_WHEN ->                                                                           \
        if                                                                                     \
        :: sleeping > 0 -> wake(gen, sem, bound)                                           \
        :: else -> skip                                                                        \
        fi                                                                                     \
    :: else -> skip                                                                            \
    fi
#endif

proctype producer()
{
    byte sent, mypos, pos, r, rc, old;
    bit woken, got, early;

    do
    :: sent == NMSG -> break
#ifdef ENDINGS
    :: goto ending                               /* stop producing at any point */
#endif
    :: sent < NMSG ->
        /* claim: mpmc.h shmring__mpmc_claim (ready_delta 0): the slot at prod.pos is free and
         * the CAS on prod.pos wins. SPSC: spsc.h reserve (tail + size - head_cache <= capacity,
         * refresh_head on a miss). One atomic step: how the claim races is not the protocol's
         * concern; only its outcome (space or -EAGAIN) is. */
        atomic {
            if
            :: SPACE_AVAIL -> mypos = prod_pos; prod_pos++; got = 1
            :: else -> got = 0
            fi
        }
        if
        :: got ->
#ifdef BROKEN_CHECK_FIRST
            /* The publisher looks for sleepers first, then stores. */
            if
            :: c_sleeping > 0 -> pubd[mypos] = 1; wake(c_gen, sem_c, p_deaths)
            :: else -> pubd[mypos] = 1
            fi;
#else
            pubd[mypos] = 1;                     /* release store: mpmc.h:230, spsc.h:202 */
            after_publish(c_sleeping, c_gen, sem_c, p_deaths);
#endif
            sent++
        :: else ->
            /* claim_wait / reserve_wait: -EAGAIN, so wait for space (mpmc.c shmring__mpmc_wait,
             * spsc.c spsc_wait -> shmring__wait). */
            WAIT(p_sleeping, p_gen, sem_p, consumers, p_in_sem, p_ready, c_deaths);
            if
            :: rc == EPIPE -> goto ending        /* every consumer is gone */
            :: else -> skip
            fi
        fi
    od;
ending:
#ifdef ENDINGS
    if
    :: skip                                      /* stays attached and never calls again */
    :: goto close
    :: atomic { producers--; sem_c++; p_deaths++; assert(sem_c <= 1 + p_deaths) }
                                                 /* dies: the kernel undoes its presence (-1) and
                                                    its doorbell (+1 on sem_c), in one exit */
    fi;
    goto done;
#endif
close:
    /* spsc.c:247 / mpmc.c:204 presence_detach (wait.c:183): presence -1 and the doorbell's undo
     * cancelled in one semop, then a capped post of the bell. */
    producers--;
    post_capped(sem_c, p_deaths);
#ifdef SPSC
    /* spsc.c:251-255: the last producer marks end of stream (release) and posts again. */
    if
    :: producers == 0 -> producer_closed = 1; post_capped(sem_c, p_deaths)
    :: else -> skip
    fi;
#endif
done:
    skip
}

proctype consumer()
{
    byte mypos, pos, r, rc, old;
    bit woken, got, early;

    do
#ifdef ENDINGS
    :: goto ending                               /* stop consuming at any point */
#endif
    :: true ->
        /* take: mpmc.h shmring__mpmc_claim (ready_delta 1): slot at cons.pos published, CAS on
         * cons.pos. SPSC: spsc.h peek (word at next != 0). One atomic step, as the claim. */
        atomic {
            if
            :: DATA_AVAIL -> mypos = cons_pos; cons_pos++; got = 1
            :: else -> got = 0
            fi
        }
        if
        :: got ->
#ifdef BROKEN_CHECK_FIRST
            if
            :: p_sleeping > 0 -> rel[mypos] = 1; wake(p_gen, sem_p, c_deaths)
            :: else -> rel[mypos] = 1
            fi
#else
            rel[mypos] = 1;                      /* release store: mpmc.h:293, spsc.h:251 */
            after_publish(p_sleeping, p_gen, sem_p, c_deaths)
#endif
        :: else ->
#ifdef SPSC
            /* spsc.h peek: empty and producer_closed (acquire), word still 0: -EPIPE. */
            if
            :: producer_closed && !DATA_AVAIL -> break
            :: else -> skip
            fi;
#endif
            WAIT(c_sleeping, c_gen, sem_c, producers, c_in_sem, c_ready, p_deaths);
            if
            :: rc == EPIPE -> break              /* end of stream: producers gone, ring empty */
            :: else -> skip
            fi
        fi
    od;
    goto done;
ending:
#ifdef ENDINGS
    if
    :: skip                                      /* stays attached and never calls again */
    :: consumers--; post_capped(sem_p, c_deaths) /* close: presence_detach (wait.c:183) */
    :: atomic { consumers--; sem_p++; c_deaths++; assert(sem_p <= 1 + c_deaths) } /* dies */
    fi;
#endif
done:
    skip
}

/* At a global deadlock nobody may be blocked on a semaphore with something to do. */
active proctype watchdog()
{
end_watch:
    timeout ->
    assert(!(c_in_sem > 0 && DATA_AVAIL));       /* a consumer sleeps, a record waits */
    assert(!(p_in_sem > 0 && SPACE_AVAIL));      /* a producer sleeps, a slot is free */
#ifdef CHECK_EOS
    assert(!(c_in_sem > 0 && producers == 0));   /* a consumer sleeps past end of stream */
    assert(!(p_in_sem > 0 && consumers == 0));   /* a producer sleeps with no consumer left */
#endif
}

init
{
    byte i;
    atomic {
        i = 0;
        do
        :: i < NPROD -> run producer(); i++
        :: else -> break
        od;
        i = 0;
        do
        :: i < NCONS -> run consumer(); i++
        :: else -> break
        od
    }
}
