/* The current-thread runtime's park/unpark protocol (src/rt/current_thread.c,
 * docs/design/0003-task-and-scheduler.md), checked for lost wake-ups.
 *
 * Actors: the runtime thread, and NW wakers on other threads.  A waker
 * pushes its task on the remote stack, then, if the runtime looks parked,
 * writes the eventfd unless an unpark is already in flight (unpark_sent).
 * The runtime drains the stack, and either takes a busy turn (a
 * non-blocking driver wait, which may consume the eventfd; or no wait at
 * all when no descriptor is registered) or parks: parked = 1, re-check the
 * stack (Dekker), sleep until the eventfd is readable.
 *
 * Property: every push is eventually drained.  A runtime asleep for ever
 * with a task on the stack is a blocked process in an invalid end state,
 * which spin reports.  Operations are sequentially consistent, as in the
 * code (atomic_store / atomic_load / atomic_exchange / CAS, default order).
 *
 * Mutants (spin -DMUTANT=k) re-introduce mistakes; each must fail:
 *   1  a non-blocking wait that eats the eventfd does not clear unpark_sent
 *      (the bug found in this project, fixed by clearing after every wait)
 *   2  the runtime does not re-check the stack after setting parked
 *   3  the waker reads parked before pushing
 *   4  the runtime clears parked before it sleeps
 *   5  the waker sets unpark_sent but never writes the eventfd
 *   6  a blocking wait does not clear unpark_sent after waking
 */

#ifndef NW
#define NW 2
#endif
#ifndef MUTANT
#define MUTANT 0
#endif

bit parked = 0;
bit unpark_sent = 0;
bit evfd = 0;
byte remote = 0;   /* pushed and not yet drained */
byte drained = 0;

inline unpark() {
    bit mine = 0;
    atomic {
        if
        :: unpark_sent == 0 -> unpark_sent = 1; mine = 1
        :: else -> mine = 0
        fi
    };
    if
#if MUTANT == 5
    :: mine -> skip
#else
    :: mine -> evfd = 1
#endif
    :: else -> skip
    fi
}

active [NW] proctype waker()
{
#if MUTANT == 3
    if
    :: parked == 1 -> remote++; unpark()
    :: else -> remote++
    fi
#else
    remote++;
    if
    :: parked == 1 -> unpark()
    :: else -> skip
    fi
#endif
}

inline driver_wait_nonblocking() {
    if
    :: evfd == 1 -> evfd = 0
    :: else -> skip
    fi;
#if MUTANT != 1
    unpark_sent = 0
#endif
}

active proctype runtime()
{
    do
    :: drained == NW -> break
    :: else ->
        atomic {
            if
            :: remote > 0 -> drained = drained + remote; remote = 0
            :: else -> skip
            fi
        };
        if
        :: drained == NW -> break
        :: else -> skip
        fi;
        if
        :: true -> driver_wait_nonblocking()   /* busy turn */
        :: true -> skip                        /* busy turn, no descriptor registered */
        :: true ->                             /* nothing runnable: park */
            parked = 1;
#if MUTANT == 2
            if
            :: true ->
#else
            if
            :: remote > 0 -> parked = 0
            :: else ->
#endif
#if MUTANT == 4
                parked = 0;
#endif
                evfd == 1;                     /* epoll_wait blocks here */
                evfd = 0;
                parked = 0;
#if MUTANT != 6
                unpark_sent = 0
#else
                skip
#endif
            fi
        fi
    od
}
