/* The multi-thread runtime's idle/notify (parking) protocol
 * (docs/design/0009-multi-thread-plan.md, docs/design/0011-mt-models.md).
 *
 * Actors: NW = 3 workers (-DNW=2 for a quick run), each with a local run queue, and
 * 1 external pusher that pushes NEXT tasks on the global inject queue.  Tasks
 * 1 .. NSPAWN may each spawn one task on their worker's local queue.  A task may also
 * run "for ever" (at most NW - 1 do): it stands for a long CPU-bound task, during
 * which an idle worker must still run everything that is queued.
 *
 * Fix to the protocol as first written (mutant 9): a parking worker whose re-check
 * finds work and takes itself off the idle list leaves as a searcher (nsearching++),
 * so that when it finds work it runs the last-searcher check like any woken worker.
 *
 * Shared: nidle (workers parked or about to park), nsearching (workers woken to look
 * for work that have not found any yet), the idle list (under a mutex), a notified
 * flag per worker (the futex word; sleeping = futex_wait(&notified, 0), which is
 * exactly "block until notified == 1" because the kernel compares and sleeps
 * atomically and every store of 1 is followed by a futex wake).  Every shared access
 * is its own step; all of them are sequentially consistent, which stands for the
 * seq_cst fences of the C code.
 *
 * Checked, when nothing can move any more (timeout) and some worker sleeps:
 * no task is left in a queue (every pushed task has run), nobody is counted as
 * searching, nidle and the idle list agree with the sleepers; always: a task runs at
 * most once, the counters never go negative, a worker sleeps only at end_sleep.
 *
 * Mutants (spin -DMUTANT=k) re-introduce mistakes; each must fail:
 *   1  a parking worker increments nidle after re-checking the queues
 *   2  push reads nsearching / nidle before publishing the task
 *   3  the last searcher that finds work does not wake another worker
 *   4  a parking worker clears notified after the re-check, just before sleeping
 *   5  a worker that finds work at the re-check after a waker popped it from the
 *      idle list does not take over the searching role (nsearching never goes down)
 *   6  a searching worker that finds nothing parks without nsearching--
 *   7  a parking worker does not re-check the queues
 *   8  wake_one stores notified after releasing the lock
 *   9  a worker whose re-check finds work leaves the idle list as a non-searcher
 *      (the protocol as first written; needs NW=3: two workers busy, one asleep)
 */

#ifndef MUTANT
#define MUTANT 0
#endif
#ifndef NW
#define NW   3                 /* 2 or 3 workers */
#endif
#define NEXT 2                 /* tasks pushed by the external pusher: 1 .. NEXT */
#ifndef NSPAWN
#define NSPAWN 1               /* tasks 1 .. NSPAWN may spawn one task each */
#endif
#define NT   (NEXT + NSPAWN)   /* task NEXT+k may be spawned by task k */

chan inj = [NT] of { byte };
chan lq[NW] = [NT] of { byte };

short nidle, nsearching;
bit   lk;                      /* the idle-list mutex */
bit   inlist[NW];
bit   notified[NW];
bit   sleeping[NW];            /* ghost: blocked in end_sleep */
byte  ran[NT + 1];             /* ghost: times each task ran */
bit   pushed[NT + 1];          /* ghost */
byte  nlong;                   /* ghost: tasks running for ever (at most NW - 1) */

#if NW == 3
#define queued (len(inj) + len(lq[0]) + len(lq[1]) + len(lq[2]))
#define nsleeping (sleeping[0] + sleeping[1] + sleeping[2])
#else
#define queued (len(inj) + len(lq[0]) + len(lq[1]))
#define nsleeping (sleeping[0] + sleeping[1])
#endif

inline lock()   { atomic { lk == 0 -> lk = 1 } }
inline unlock() { lk = 0 }

/* Pop a sleeping (or about to sleep) worker from the idle list and hand it the
 * searching role. */
inline wake_one(w) {
    lock();
    if
    :: inlist[0] -> w = 0
    :: inlist[1] -> w = 1
#if NW == 3
    :: inlist[2] -> w = 2
#endif
    :: else -> w = NW
    fi;
    if
    :: w < NW ->
        inlist[w] = 0;
        nidle--;
        nsearching++;
#if MUTANT == 8
        unlock();
        notified[w] = 1
#else
        notified[w] = 1;
        unlock()
#endif
    :: else -> unlock()
    fi;
    w = 0
}

/* After publishing a task (the seq_cst fence is implied by the model). */
inline notify(v, w) {
    v = nsearching;
    if
    :: v == 0 ->
        v = nidle;
        if
        :: v > 0 -> wake_one(w)
        :: else -> skip
        fi
    :: else -> skip
    fi;
    v = 0
}

proctype pusher()
{
    byte t = 1;
    short v;
    byte w;
    do
    :: t <= NEXT ->
#if MUTANT == 2
        v = nsearching;
        if
        :: v == 0 -> v = nidle
        :: else -> v = 0
        fi;
        atomic { inj!t; pushed[t] = 1 };
        if
        :: v > 0 -> wake_one(w)
        :: else -> skip
        fi;
        v = 0;
#else
        atomic { inj!t; pushed[t] = 1 };
        notify(v, w);
#endif
        t++
    :: else -> break
    od
}

inline trypop(ch, t) {
    atomic {
        if
        :: len(ch) > 0 -> ch?t
        :: else -> t = 0
        fi
    }
}

/* Is any queue non-empty?  One queue per step, as the C code reads them. */
inline any_queued(f) {
    f = (len(inj) > 0);
    if
    :: !f -> f = (len(lq[0]) > 0)
    :: else -> skip
    fi;
    if
    :: !f -> f = (len(lq[1]) > 0)
    :: else -> skip
    fi;
#if NW == 3
    if
    :: !f -> f = (len(lq[2]) > 0)
    :: else -> skip
    fi;
#endif
    skip
}

proctype worker(byte me)
{
    byte t, w;
    bit searching, f;
    short v;

    do
    :: /* look for work: own queue, the inject queue, steal from the other */
        trypop(lq[me], t);
        if
        :: t == 0 -> trypop(inj, t)
        :: else -> skip
        fi;
        if
        :: t == 0 -> trypop(lq[(me + 1) % NW], t)
        :: else -> skip
        fi;
#if NW == 3
        if
        :: t == 0 -> trypop(lq[(me + 2) % NW], t)
        :: else -> skip
        fi;
#endif
        if
        :: t != 0 ->
            if
            :: searching ->
                searching = 0;
                atomic { nsearching--; v = nsearching; assert(nsearching >= 0) };
#if MUTANT != 3
                if
                :: v == 0 ->              /* the last searcher: keep the burst going */
                    any_queued(f);
                    if
                    :: f ->
                        v = nidle;
                        if
                        :: v > 0 -> wake_one(w)
                        :: else -> skip
                        fi
                    :: else -> skip
                    fi
                :: else -> skip
                fi;
#endif
                v = 0; f = 0
            :: else -> skip
            fi;
            /* run t */
            atomic { assert(ran[t] == 0); ran[t] = 1 };
            if
            :: t <= NSPAWN ->              /* spawn on the local queue */
                atomic { lq[me]!(t + NEXT); pushed[t + NEXT] = 1 };
                notify(v, w)
            :: true -> skip
            fi;
            if
            :: atomic { nlong < NW - 1 -> nlong++ };
end_busy:       false                      /* runs for ever */
            :: true -> skip
            fi;
            t = 0
        :: else ->
            /* nothing found: park */
            if
            :: searching ->
                searching = 0;
#if MUTANT != 6
                atomic { nsearching--; assert(nsearching >= 0) }
#else
                skip
#endif
            :: else -> skip
            fi;
            lock();
            inlist[me] = 1;
#if MUTANT != 1
            nidle++;
#endif
            unlock();
#if MUTANT == 7
            f = 0;
#else
            any_queued(f);
#endif
#if MUTANT == 1
            nidle++;
#endif
            if
            :: f ->
                f = 0;
                lock();
                if
                :: inlist[me] ->
                    inlist[me] = 0;
                    nidle--;
#if MUTANT != 9
                    /* leave idle as a searcher, as if woken (see 0011) */
                    nsearching++;
                    searching = 1
#endif
                :: else ->                 /* a waker popped us: we are a searcher */
                    notified[me] = 0;
#if MUTANT != 5
                    searching = 1
#endif
                fi;
                unlock()
            :: else ->
#if MUTANT == 4
                notified[me] = 0;
#endif
                sleeping[me] = 1;
end_sleep:      atomic { notified[me] == 1 -> sleeping[me] = 0 };
                notified[me] = 0;
                searching = 1
            fi
        fi
    od
}

init {
    byte i;
    atomic {
        run worker(0); run worker(1);
#if NW == 3
        run worker(2);
#endif
        run pusher()
    };
    timeout;
    /* Nothing can move: the pusher is done, the workers sleep or run for ever. */
    if
    :: nsleeping > 0 ->
        assert(queued == 0);                 /* nothing stranded while a worker sleeps */
        i = 1;
        do
        :: i <= NT -> assert(ran[i] == pushed[i]); i++
        :: else -> break
        od
    :: else -> skip
    fi;
    assert(nsearching == 0);                 /* else later pushes would wake nobody */
    assert(nidle == nsleeping);
    i = 0;
    do
    :: i < NW -> assert(inlist[i] == sleeping[i]); i++
    :: else -> break
    od;
    assert(lk == 0)
}
