/* The multi-thread runtime's task state protocol (docs/design/0009-multi-thread-plan.md,
 * docs/design/0011-mt-models.md): one atomic word per task holding the scheduling bits
 * and the reference count, every transition a compare-and-swap.
 *
 * Actors: 2 workers that pop the task and poll it (each poll returns READY or PENDING,
 * chosen by spin), 2 wakers each holding one waker clone (wake_by_ref up to NWAKE
 * times, then either drop the clone or wake by value), 1 joiner holding the join
 * handle (join_poll up to NJPOLL times, possibly waiting for its join waker, possibly
 * abort, then detach), and init, which plays the runtime's shutdown: either at an
 * arbitrary moment ("early") or once everything else is quiescent, when it first
 * checks the liveness properties below.
 *
 * A CAS loop whose new value is a pure function of the value it loaded is modelled as
 * one atomic step (the iteration whose CAS succeeds is the only one with an effect).
 * Steps that touch other memory between a load and a CAS (the join-waker field) are
 * separate steps.  Operations are sequentially consistent.
 *
 * Checked:
 *  (a) the future is never polled by two workers at once;
 *  (b) never polled after it completed or was cancelled;
 *  (c) the frame is dropped exactly once;
 *  (d) the block is freed exactly once, when the count reaches 0, never touched after
 *      (every access asserts !freed), and is freed at the end (no leak);
 *  (e) no lost wake: at quiescence, a wake since the start of the last poll implies
 *      the task completed; an abort implies the task completed;
 *  (f) join_poll gets the output iff the task completed READY, -ECANCELED iff it was
 *      cancelled; a joiner waiting on its registered waker is woken (else it blocks
 *      for ever: an invalid end state);
 *  (g) every join-waker clone is dropped exactly once, never woken after its drop;
 *  and: the task is in a run queue at most once.
 *
 * Mutants (spin -DMUTANT=k) re-introduce mistakes; each must fail:
 *   1  a wake while RUNNING is ignored (NOTIFIED not set)
 *   2  the runner releases the queue ref at PENDING without checking NOTIFIED
 *   3  abort does not enqueue an idle task (so it is never cancelled)
 *   4  join_poll sets JOIN_WAKER with a blind fetch_or, not a CAS that fails on COMPLETE
 *   5  the completer does not re-check JOIN_INTEREST when clearing JOIN_WAKER
 *   6  wake_by_ref does not take a reference for the queue entry
 *   7  poll end (PENDING) stores the state it computed instead of a CAS
 *   8  poll end (PENDING) does not check CANCELLED
 *   9  join detach lets the joiner drop the waker whenever the old state had COMPLETE
 *      (ignores that the completer still owns it while JOIN_WAKER is set)
 *  10  the completer releases its references before it is done with the join waker
 *  11  a wake by value whose task is RUNNING or NOTIFIED keeps the clone's reference
 */

#ifndef MUTANT
#define MUTANT 0
#endif
#ifndef NWAKE
#define NWAKE 1            /* wake_by_ref calls per waker before it drops / wakes by value */
#endif
#ifndef NJPOLL
#define NJPOLL 2           /* join_poll calls by the joiner */
#endif

#define NOTIFIED      1
#define RUNNING       2
#define COMPLETE      4
#define CANCELLED     8
#define JOIN_INTEREST 16
#define JOIN_WAKER    32
#define OUTPUT        64
#define REF_ONE       128   /* the count lives above the flags, as REF_ONE = 1<<16 in C */

#define has(s, b)     (((s) & (b)) != 0)
#define refs(s)       ((s) / REF_ONE)

/* join-waker clone states */
#define NONE    0
#define LIVE    1
#define DROPPED 2
#define NJW     (NJPOLL + 1)

/* join_poll results */
#define PENDING 0
#define READY   1

int  st;                 /* the task's state word */
bit  freed;              /* the block was freed */
bit  owned = 1;          /* in the runtime's owned list */
byte q;                  /* run-queue entries of the task */
bit  closed;             /* run queues closed by shutdown */
byte polling;            /* workers inside the future's poll */
bit  frame_dropped;
bit  ready_done;         /* ghost: completed READY */
bit  cancel_done;        /* ghost: completed by cancellation */
bit  wake_pending;       /* ghost: a wake since the last poll start */
bit  shutdown_req;
byte nstopped;           /* workers that stopped */
byte jw[NJW];            /* join-waker clones, index 0 unused */
byte jfield;             /* the clone in the task's join-waker field, 0 = empty */
byte njw;                /* clones made so far */
bit  joiner_woken;       /* the joiner's wake-up flag */

/* Decrement the count by n in the step that already changed st; free at zero. */
inline after_dec() {
    assert(st >= 0);
    if
    :: refs(st) == 0 ->
        assert(has(st, COMPLETE));      /* the owned ref is held until completion */
        assert(q == 0);
        assert(!freed);
        freed = 1
    :: else -> skip
    fi
}

inline ref_dec(n) {
    atomic {
        assert(!freed);
        assert(refs(st) >= n);          /* no underflow: no double release */
        st = st - n * REF_ONE;
        after_dec()
    }
}

/* Push the task with the queue reference already counted.  After shutdown the queue
 * is closed and the reference goes back instead. */
inline push() {
    atomic {
        assert(!freed);
        if
        :: closed -> ref_dec(1)
        :: else -> assert(q == 0); q++
        fi
    }
}

inline wake_by_ref(act) {
    atomic {
        assert(!freed);
        wake_pending = 1;
        if
        :: has(st, COMPLETE) || has(st, NOTIFIED) -> act = 0
        :: else ->
            if
            :: has(st, RUNNING) ->
#if MUTANT != 1
                st = st | NOTIFIED;
#endif
                act = 0
            :: else ->
#if MUTANT == 6
                st = st | NOTIFIED;
#else
                st = (st | NOTIFIED) + REF_ONE;
#endif
                act = 1
            fi
        fi
    };
    if
    :: act -> push(); act = 0
    :: else -> skip
    fi
}

/* Wake by value: the clone's reference becomes the queue entry's when the task is
 * pushed; otherwise it is released in the same CAS. */
inline wake_by_val(act) {
    atomic {
        assert(!freed);
        wake_pending = 1;
        if
        :: has(st, COMPLETE) || has(st, NOTIFIED) ->
#if MUTANT != 11
            st = st - REF_ONE;
#endif
            after_dec();
            act = 0
        :: else ->
            if
            :: has(st, RUNNING) ->
#if MUTANT == 1
                st = st - REF_ONE;
#else
                st = (st | NOTIFIED) - REF_ONE;
#endif
                assert(refs(st) > 0);    /* the runner holds one */
                act = 0
            :: else ->
                st = st | NOTIFIED;
                act = 1
            fi
        fi
    };
    if
    :: act -> push(); act = 0
    :: else -> skip
    fi
}

inline drop_jfield() {
    atomic {
        assert(!freed);
        assert(jfield != 0);
        assert(jw[jfield] == LIVE);      /* (g) dropped once */
        jw[jfield] = DROPPED;
        jfield = 0
    }
}

/* The runner (holding RUNNING) finishes the task: READY, or cancelled.  nref is the
 * number of references it releases at the end; unlist: it removes the task from the
 * owned list (shutdown has already taken it off). */
inline complete(rdy, nref, unlist, s, s1) {
    atomic {
        assert(!freed);
        assert(!frame_dropped);          /* (c) */
        frame_dropped = 1;               /* output written (if READY), frame dropped */
        if
        :: rdy -> ready_done = 1
        :: else -> cancel_done = 1
        fi
    };
    atomic {
        assert(!freed);
        assert(has(st, RUNNING) && !has(st, COMPLETE));
        s = st;
        st = (st & ~(RUNNING | NOTIFIED)) | COMPLETE;
        if
        :: rdy -> st = st | OUTPUT
        :: else -> skip
        fi
    };
#if MUTANT == 10
    if
    :: unlist -> atomic { assert(!freed && owned); owned = 0 }
    :: else -> skip
    fi;
    ref_dec(nref);
#endif
    if
    :: has(s, JOIN_INTEREST) && has(s, JOIN_WAKER) ->
        atomic {                         /* wake_by_ref the join waker */
            assert(!freed);
            assert(jfield != 0 && jw[jfield] == LIVE);   /* (g) not used after drop */
            joiner_woken = 1
        };
        s1 = s;
        atomic { assert(!freed); s = st; st = st & ~JOIN_WAKER };
#if MUTANT == 5
        s = s1;
#endif
        if
        :: !has(s, JOIN_INTEREST) -> drop_jfield()   /* the handle is gone: ours */
        :: else -> skip                              /* the joiner drops it */
        fi
    :: else -> skip
    fi;
#if MUTANT != 10
    if
    :: unlist -> atomic { assert(!freed && owned); owned = 0 }
    :: else -> skip
    fi;
    ref_dec(nref);
#endif
    s = 0; s1 = 0
}

#define A_NONE   0
#define A_DROP   1
#define A_CANCEL 2
#define A_POLL   3
#define A_PUSH   4

proctype worker()
{
    int s, s1;
    byte act;
    bit rdy;

    do
    :: atomic { q > 0 -> q-- };
        /* poll start: the popper holds the queue's reference */
        atomic {
            assert(!freed);
            if
            :: has(st, COMPLETE) -> act = A_DROP
            :: else ->
                assert(!has(st, RUNNING));
                st = (st & ~NOTIFIED) | RUNNING;
                wake_pending = 0;
                if
                :: has(st, CANCELLED) -> act = A_CANCEL
                :: else -> act = A_POLL
                fi
            fi
        };
        if
        :: act == A_DROP -> ref_dec(1)
        :: act == A_CANCEL -> complete(0, 2, 1, s, s1)
        :: act == A_POLL ->
            atomic {
                assert(!freed);
                assert(polling == 0);                            /* (a) */
                assert(!frame_dropped && !has(st, COMPLETE));    /* (b) */
                polling++
            };
            atomic {
                polling--;
                if
                :: rdy = 1
                :: rdy = 0
                fi
            };
            if
            :: rdy -> complete(1, 2, 1, s, s1)
            :: else ->
                /* poll end, PENDING */
#if MUTANT == 7
                atomic { assert(!freed); s = st };
                atomic {
                    assert(!freed);
                    if
                    :: has(s, CANCELLED) -> act = A_CANCEL
                    :: else ->
                        s = s & ~RUNNING;
                        if
                        :: has(s, NOTIFIED) -> act = A_PUSH
                        :: else -> s = s - REF_ONE; act = A_NONE
                        fi;
                        st = s;                  /* a store, not a CAS */
                        after_dec()
                    fi
                };
#else
                atomic {
                    assert(!freed);
                    assert(has(st, RUNNING));
                    if
#if MUTANT != 8
                    :: has(st, CANCELLED) -> act = A_CANCEL
#endif
                    :: else ->
                        st = st & ~RUNNING;
                        if
#if MUTANT != 2
                        :: has(st, NOTIFIED) -> act = A_PUSH
#endif
                        :: else -> st = st - REF_ONE; act = A_NONE; after_dec()
                        fi
                    fi
                };
#endif
                if
                :: act == A_CANCEL -> complete(0, 2, 1, s, s1)
                :: act == A_PUSH -> push()
                :: else -> skip
                fi
            fi
        fi;
        act = A_NONE; rdy = 0; s = 0
    :: shutdown_req -> break
    od;
    nstopped++
}

proctype waker()
{
    byte n, act;
    do
    :: n < NWAKE -> wake_by_ref(act); n++
    :: true -> break
    od;
    n = 0;
    if
    :: ref_dec(1)                 /* drop the clone */
    :: wake_by_val(act)           /* wake consuming the clone */
    fi
}

/* Store a new clone of the joiner's waker in the (joiner-owned) field. */
inline store_jw() {
    atomic {
        assert(!freed);
        assert(jfield == 0);             /* never overwrite a live waker */
        njw++;
        jw[njw] = LIVE;
        jfield = njw
    }
}

inline join_poll(res, s) {
    atomic { assert(!freed); s = st };
    if
    :: has(s, COMPLETE) -> res = READY
    :: !has(s, COMPLETE) && !has(s, JOIN_WAKER) ->
        store_jw();
        atomic {
            assert(!freed);
#if MUTANT == 4
            s = st; st = st | JOIN_WAKER; res = PENDING
#else
            if
            :: has(st, COMPLETE) -> s = st; res = READY
            :: else -> st = st | JOIN_WAKER; res = PENDING
            fi
#endif
        };
        if
        :: res == READY -> drop_jfield()
        :: else -> skip
        fi
    :: !has(s, COMPLETE) && has(s, JOIN_WAKER) ->
        if
        :: true -> res = PENDING         /* the stored waker wakes the same task */
        :: true ->                       /* a different waker: replace it */
            atomic {
                assert(!freed);
                if
                :: has(st, COMPLETE) -> s = st; res = READY
                :: else -> st = st & ~JOIN_WAKER; res = PENDING
                fi
            };
            if
            :: res == PENDING ->
                drop_jfield();
                store_jw();
                atomic {
                    assert(!freed);
                    if
                    :: has(st, COMPLETE) -> s = st; res = READY
                    :: else -> st = st | JOIN_WAKER; res = PENDING
                    fi
                };
                if
                :: res == READY -> drop_jfield()
                :: else -> skip
                fi
            :: else -> skip
            fi
        fi
    fi;
    if
    :: res == READY ->                   /* (f) read the output, or -ECANCELED */
        atomic {
            assert(!freed);
            assert(has(s, COMPLETE));
            assert(ready_done + cancel_done == 1);
            assert(has(s, OUTPUT) == (ready_done == 1))
        }
    :: else -> skip
    fi
}

proctype joiner()
{
    int s;
    byte res, npoll;
    bit aborted;
    byte act;

    do
    :: npoll < NJPOLL ->
        npoll++;
        join_poll(res, s);
        if
        :: res == READY -> break
        :: else ->
            if
            :: true -> joiner_woken == 1; joiner_woken = 0    /* wait for the wake */
            :: true -> skip
            fi
        fi
    :: !aborted ->
        aborted = 1;
        atomic {
            assert(!freed);
            if
            :: has(st, COMPLETE) || has(st, CANCELLED) -> act = 0
            :: has(st, RUNNING) && !has(st, COMPLETE | CANCELLED) ->
                st = st | CANCELLED; act = 0
            :: !has(st, RUNNING) && has(st, NOTIFIED) && !has(st, COMPLETE | CANCELLED) ->
                st = st | CANCELLED; act = 0
            :: !has(st, RUNNING | NOTIFIED | COMPLETE | CANCELLED) ->
#if MUTANT == 3
                st = st | CANCELLED; act = 0
#else
                st = (st | CANCELLED | NOTIFIED) + REF_ONE; act = 1
#endif
            fi
        };
        if
        :: act -> push(); act = 0
        :: else -> skip
        fi
    :: true -> break
    od;
    /* detach: drop the handle */
    atomic {
        assert(!freed);
        s = st;
        st = st & ~JOIN_INTEREST;
        if
        :: !has(s, COMPLETE) -> st = st & ~JOIN_WAKER
        :: else -> skip
        fi
    };
    if
#if MUTANT == 9
    :: has(s, COMPLETE) && has(s, JOIN_WAKER) && false -> skip
#else
    :: has(s, COMPLETE) && has(s, JOIN_WAKER) -> skip   /* the completer still owns it */
#endif
    :: else ->
        if
        :: jfield != 0 -> drop_jfield()
        :: else -> skip
        fi
    fi;
    ref_dec(1)
}

init {
    int s, s1;
    bit early, act;
    byte ndrain, i;

    /* spawn: NOTIFIED | JOIN_INTEREST; refs: owned + queue + handle + 2 waker clones */
    st = NOTIFIED | JOIN_INTEREST | (5 * REF_ONE);
    q = 1;
    if
    :: early = 1
    :: early = 0
    fi;
    atomic {
        run worker(); run worker();
        run waker(); run waker();
        run joiner()
    };
    if
    :: early -> shutdown_req = 1          /* shutdown at an arbitrary moment */
    :: !early ->
        timeout;                          /* everything else is quiescent: (e) */
        assert(!wake_pending || has(st, COMPLETE));
        assert(!has(st, CANCELLED) || has(st, COMPLETE));
        shutdown_req = 1
    fi;
    /* shutdown: the workers stop; close and drain the queues; cancel owned tasks */
    nstopped == 2;
    atomic { closed = 1; ndrain = q; q = 0 };
    do
    :: ndrain > 0 -> ref_dec(1); ndrain--
    :: else -> break
    od;
    atomic {
        if
        :: owned ->                       /* take it off the list with its reference */
            owned = 0;
            assert(!freed);
            assert(!has(st, RUNNING | COMPLETE));   /* no worker left to run or complete it */
            st = st | RUNNING | CANCELLED;
            act = 1
        :: else -> act = 0
        fi
    };
    if
    :: act -> complete(0, 1, 0, s, s1)
    :: else -> skip
    fi;
    /* the end: every other process has terminated */
    _nr_pr == 1;
    assert(freed);                                    /* (d) no leak */
    assert(frame_dropped);                            /* (c) */
    assert(polling == 0 && q == 0 && jfield == 0);
    i = 1;
    do
    :: i < NJW -> assert(jw[i] != LIVE); i++          /* (g) every clone dropped */
    :: else -> break
    od
}
