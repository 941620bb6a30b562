/* eddy/time.h - instants, sleeps, intervals, timeouts, and the test clock.
 *
 * Time in eddy is a count of nanoseconds.  An eddy_instant is a point on the
 * clock of the runtime that runs the calling code; a duration is a plain
 * uint64_t of nanoseconds (EDDY_MS(10) and friends build them).
 *
 * Every future here follows the awaitable convention of eddy/coro.h:
 *
 *     EDDY_AWAIT(NULL, eddy_sleep, &t->sl, EDDY_MS(10));         // sleep 10 ms
 *     EDDY_AWAIT(&t->at, eddy_interval_tick, &t->iv);            // next tick
 *     EDDY_AWAIT(&t->st, eddy_timeout, &t->to, EDDY_SEC(1),      // child, or
 *                &child_vt, &t->child, &t->child_out);           //   -ETIMEDOUT
 *
 * The rules every timer follows.
 * - Never early: a timer wakes its task at or after its deadline, never
 *   before.  The wheel works in 1 ms ticks counted from the runtime's start
 *   and rounds every deadline up to the next tick, so a wake-up may come up
 *   to about 1 ms (plus scheduling noise) after the deadline.
 * - One clock read per scheduler turn: "now" inside a poll (eddy_now(), and
 *   what deadlines are compared with) is the value the runtime cached at
 *   the start of the turn, so every future polled in one turn agrees on the
 *   time.
 * - Inert until polled: a sleep given as a duration starts counting at its
 *   first poll, and nothing is registered before that poll.  The duration
 *   counts from a fresh clock reading taken at that poll (the virtual now
 *   while paused), so a sleep of d never completes before d has really
 *   elapsed, even when the turn's cached now is a little old.
 * - A polled timer future must not move: the wheel links it in place (debug
 *   builds detect a move and stop the program with eddy_misuse).  Dropping
 *   it (X_drop) unlinks it in O(1) and releases the stored waker; after the
 *   drop nothing refers to it and it will never be woken.
 * - Timers belong to the runtime thread that polls them.
 *
 * The test clock.  A runtime built with start_paused (or after
 * eddy_time_pause) has a virtual clock: it moves only by eddy_time_advance,
 * or, when every task is idle and no I/O is ready, by jumping straight to
 * the next timer ("auto-advance").  A test that sleeps an hour finishes at
 * once, and timers fire in exactly the order and at exactly the virtual
 * instants they would in real time.
 */
#ifndef EDDY_TIME_H
#define EDDY_TIME_H

#include <eddy/future.h>

EDDY_BEGIN_DECLS

/* A point in time, in nanoseconds, on the clock of a runtime.  Instants of
 * one runtime compare and subtract as plain integers; instants of two
 * different runtimes are not comparable (a paused clock drifts from the
 * system clock).  The clock is CLOCK_MONOTONIC until it is first paused or
 * advanced. */
typedef uint64_t eddy_instant;

/* Durations in nanoseconds. */
#define EDDY_NS(n) ((uint64_t)(n))
#define EDDY_US(n) ((uint64_t)(n) * UINT64_C(1000))
#define EDDY_MS(n) ((uint64_t)(n) * UINT64_C(1000000))
#define EDDY_SEC(n) ((uint64_t)(n) * UINT64_C(1000000000))

/* An instant no deadline ever reaches: a sleep until it never completes. */
#define EDDY_INSTANT_NEVER UINT64_MAX

/* The runtime's current time: inside a runtime (a task, or the future given
 * to eddy_block_on) the instant cached at the start of the current
 * scheduler turn, which is what every timer compares its deadline with.
 * Outside any runtime it reads CLOCK_MONOTONIC.  Never fails. */
EDDY_API eddy_instant eddy_now(void);

/* ---- the test clock (current runtime) ----------------------------------
 * These act on the runtime running on the calling thread and return
 * -EDDY_ENORUNTIME when there is none. */

/* Stops the runtime's clock at the current instant (idempotent).  From now
 * on time moves only by eddy_time_advance or by auto-advance.  Returns 0,
 * -EDDY_ENORUNTIME, or -ENOTSUP on the multi-thread runtime (the virtual
 * clock needs the current-thread runtime, as in Tokio). */
EDDY_API int eddy_time_pause(void);

/* Lets the clock run again from the instant where it stands: it never goes
 * back, so virtual time already advanced is kept (the clock is then ahead of
 * CLOCK_MONOTONIC by that much).  Idempotent.  Returns 0 or
 * -EDDY_ENORUNTIME (0 on the multi-thread runtime, whose clock never
 * pauses). */
EDDY_API int eddy_time_resume(void);

/* Moves the clock forward by ns (saturating) and wakes every timer that
 * became due; the woken tasks run when the scheduler next gets control
 * (after the calling task returns PENDING).  Works paused or running; a
 * running clock continues from the advanced point.  Returns 0,
 * -EDDY_ENORUNTIME, or -ENOTSUP on the multi-thread runtime. */
EDDY_API int eddy_time_advance(uint64_t ns);

/* ---- internal: the wheel entry -----------------------------------------
 * Embedded in every timer future so that the wheel needs no allocation.
 * The layout is public only so that futures have a compile-time size; do
 * not touch the fields. */
typedef struct eddy__tlink {
    struct eddy__tlink *next, *prev;
} eddy__tlink;

typedef struct eddy__timer {
    eddy__tlink link;            /* in a wheel slot while armed */
    uint64_t deadline;           /* ns; a duration while EDDY__TM_RELATIVE */
    eddy_waker waker;            /* woken when the deadline passes */
    struct eddy__timers *wheel;  /* the wheel it is linked in; NULL if not */
    uint32_t where;              /* slot index inside the wheel */
    uint32_t flags;              /* EDDY__TM_* */
} eddy__timer;

enum {
    EDDY__TM_RELATIVE = 1u << 0, /* deadline holds a duration from the first poll */
    EDDY__TM_DONE = 1u << 1,     /* returned READY (poll-after-READY check) */
};

/* ---- sleep ---------------------------------------------------------------
 * A future that completes once the runtime's clock reaches a deadline.
 * Output: int, 0 when the deadline passed, -EDDY_ENORUNTIME if it was
 * polled outside a runtime (it completes at once in that case).  The out
 * pointer may be NULL.
 *
 *     eddy_sleep sl;                               // a frame field
 *     EDDY_AWAIT(NULL, eddy_sleep, &t->sl, EDDY_MS(250));
 *     EDDY_AWAIT(&t->rc, eddy_sleep_until, &t->sl, t->deadline);
 */
typedef struct eddy_sleep {
    eddy__timer tm;
} eddy_sleep;

/* Prepares a sleep of ns nanoseconds.  The deadline is fixed at the first
 * poll (the clock at that poll + ns, saturating), not here: the future is
 * inert until then.
 * Registers nothing; a sleep that is never polled needs no drop (dropping
 * it is harmless).  ns = 0 completes on the first poll. */
EDDY_API void eddy_sleep_init(eddy_sleep *s, uint64_t ns);

/* Prepares a sleep until the absolute instant `deadline` (of the runtime
 * that will poll it).  A deadline in the past completes on the first poll;
 * EDDY_INSTANT_NEVER never completes. */
EDDY_API void eddy_sleep_until_init(eddy_sleep *s, eddy_instant deadline);

/* Polls the sleep: READY (and *out = 0) once now >= deadline; otherwise
 * links the timer into the runtime's wheel (first poll) or updates its
 * waker (later polls, O(1)) and returns PENDING.  Outside a runtime (cx
 * without a core) it returns READY with *out = -EDDY_ENORUNTIME.  After
 * READY the sleep holds nothing; polling it again is a misuse (detected in
 * debug builds) unless it was re-armed with eddy_sleep_reset. */
EDDY_API eddy_poll eddy_sleep_poll(eddy_sleep *s, eddy_cx *cx, int *out);

/* Cancels: unlinks the timer if it is linked and drops the stored waker.
 * O(1).  Valid in any state after init; the sleep may then be freed or
 * re-initialised. */
EDDY_API void eddy_sleep_drop(eddy_sleep *s);

/* Moves the deadline to `deadline`, keeping the sleep where it is: a linked
 * sleep is re-linked in O(1) (its waker stays), a finished one becomes
 * pollable again.  Must be called on the runtime thread that polls it. */
EDDY_API void eddy_sleep_reset(eddy_sleep *s, eddy_instant deadline);

/* The sleep's deadline, or 0 while it is still a duration waiting for its
 * first poll. */
EDDY_API eddy_instant eddy_sleep_deadline(const eddy_sleep *s);

/* True while the sleep is linked in a wheel (polled, pending, not yet fired
 * or cancelled).  For tests and diagnostics. */
EDDY_API bool eddy_sleep_is_armed(const eddy_sleep *s);

/* eddy_sleep_until is the same future with another constructor. */
EDDY_INLINE eddy_poll eddy_sleep_until_poll(eddy_sleep *s, eddy_cx *cx, int *out)
{
    return eddy_sleep_poll(s, cx, out);
}
EDDY_INLINE void eddy_sleep_until_drop(eddy_sleep *s) { eddy_sleep_drop(s); }

/* ---- interval ------------------------------------------------------------
 * A periodic tick.  Tick k is scheduled at start + k * period; awaiting a
 * tick completes when the clock reaches the scheduled instant and outputs
 * that scheduled instant (not the time it was observed), so the schedule
 * never drifts however late the task runs.  The first tick is due at
 * `start` and completes at once when start has passed.
 *
 *     eddy_interval_init(&t->iv, EDDY_MS(100));
 *     for (;;) {
 *         EDDY_AWAIT(&t->at, eddy_interval_tick, &t->iv);
 *         ...
 *     }
 *     EDDY_FINALLY();
 *     eddy_interval_drop(&t->iv);
 *
 * Missed ticks.  A tick is "missed" when, by the time it is observed, the
 * next scheduled tick is due as well (the task was late by at least one
 * period).  Being late by less than a period changes nothing: the next tick
 * stays on the schedule.  When ticks are missed: */
typedef enum eddy_missed_tick {
    /* Default.  Every missed tick is delivered, back to back, until the
     * schedule is caught up; the schedule itself never moves (tick k always
     * reports start + k * period). */
    EDDY_MISSED_TICK_BURST = 0,
    /* Deliver one tick now, then restart the schedule one period after the
     * instant the late tick was observed: the ticks keep at least `period`
     * apart, the schedule shifts by the delay. */
    EDDY_MISSED_TICK_DELAY = 1,
    /* Deliver one tick now and drop the missed ones: the next tick is the
     * first instant of the original schedule that lies strictly after the
     * instant the late tick was observed. */
    EDDY_MISSED_TICK_SKIP = 2,
} eddy_missed_tick;

typedef struct eddy_interval {
    eddy__timer tm;    /* its deadline is the next tick's scheduled instant */
    uint64_t period;   /* ns, > 0 */
    uint32_t missed;   /* eddy_missed_tick */
    uint32_t reserved;
} eddy_interval;

/* Prepares an interval whose first tick is due at the instant of its first
 * poll.  period must be > 0 (0 is a misuse: eddy_misuse stops the program).
 * Behaviour on missed ticks: EDDY_MISSED_TICK_BURST.  Registers nothing. */
EDDY_API void eddy_interval_init(eddy_interval *iv, uint64_t period);

/* Prepares an interval whose first tick is due at `start`. */
EDDY_API void eddy_interval_init_at(eddy_interval *iv, eddy_instant start, uint64_t period);

/* Chooses what happens to missed ticks (see eddy_missed_tick); takes effect
 * from the next tick on.  Unknown values are a misuse. */
EDDY_API void eddy_interval_set_missed_tick(eddy_interval *iv, eddy_missed_tick behaviour);

/* Restarts the schedule: the next tick is due at `next`, the ones after it
 * every period.  The interval's waker, if any, is kept. */
EDDY_API void eddy_interval_reset_at(eddy_interval *iv, eddy_instant next);

/* The scheduled instant of the next tick (0 before the first poll of an
 * interval built with eddy_interval_init). */
EDDY_API eddy_instant eddy_interval_next(const eddy_interval *iv);

/* Awaiting one tick.  _init does nothing (the interval carries the state);
 * _poll returns READY when the next tick is due, writes its scheduled
 * instant to *out (may be NULL) and moves the schedule on according to the
 * missed-tick behaviour; otherwise it links the interval's timer and
 * returns PENDING.  Outside a runtime: READY with *out = 0 (a value no real
 * tick has).  _drop abandons the wait for this tick: the timer is unlinked,
 * the schedule is kept, and a later tick poll re-registers. */
EDDY_INLINE void eddy_interval_tick_init(eddy_interval *iv) { (void)iv; }
EDDY_API eddy_poll eddy_interval_tick_poll(eddy_interval *iv, eddy_cx *cx, eddy_instant *out);
EDDY_API void eddy_interval_tick_drop(eddy_interval *iv);

/* Releases the interval: unlinks its timer and drops its waker.  O(1). */
EDDY_API void eddy_interval_drop(eddy_interval *iv);

/* ---- timeout -------------------------------------------------------------
 * Runs a child future with a deadline.  The child is given by its vtable,
 * its frame and its output slot, and is polled in place through vt->poll
 * (the timeout never copies or moves it).  Output: int, 0 when the child
 * completed in time (its output is then in child_out), -ETIMEDOUT when the
 * deadline passed first, -EDDY_ENORUNTIME outside a runtime.  The out
 * pointer may be NULL.
 *
 * Ownership: the timeout does not own the child's memory, but from init on
 * it owns the child's life.  The child is dropped with vt->drop (when
 * vt->drop is not NULL) exactly once if it is abandoned: when the deadline
 * passes first, when the timeout itself is dropped before the child
 * finished (even if it was never polled), or when there is no runtime.  A
 * child that completed is not dropped (a finished future holds nothing).
 * Either way the caller may reuse or free the child's frame once the
 * timeout has completed or been dropped.
 *
 * The child is polled before the deadline is checked, so a child that is
 * ready on the same turn as the deadline wins.
 *
 *     EDDY_AWAIT(&t->st, eddy_timeout, &t->to, EDDY_MS(500),
 *                &reader_vt, &t->reader, &t->nread);
 *     if (t->st == -ETIMEDOUT) ...
 */
typedef struct eddy_timeout {
    eddy_sleep sl;
    const eddy_future_vt *vt;
    void *child;
    void *child_out;
    uint32_t state; /* 0 running, 1 finished (child done or dropped) */
    uint32_t reserved;
} eddy_timeout;

/* Prepares a timeout of ns nanoseconds from its first poll around the child
 * (vt, child, child_out).  child_out may be NULL if the child accepts it. */
EDDY_API void eddy_timeout_init(eddy_timeout *t, uint64_t ns, const eddy_future_vt *vt, void *child,
                                void *child_out);

/* Same with an absolute deadline. */
EDDY_API void eddy_timeout_at_init(eddy_timeout *t, eddy_instant deadline, const eddy_future_vt *vt, void *child,
                                   void *child_out);

/* Polls the child, then the deadline (see above).  Polling again after
 * READY is a misuse (debug builds). */
EDDY_API eddy_poll eddy_timeout_poll(eddy_timeout *t, eddy_cx *cx, int *out);

/* Cancels: unlinks the timer and, if the child has neither completed nor
 * been dropped, drops it (vt->drop).  Valid in any state after init. */
EDDY_API void eddy_timeout_drop(eddy_timeout *t);

EDDY_INLINE eddy_poll eddy_timeout_at_poll(eddy_timeout *t, eddy_cx *cx, int *out)
{
    return eddy_timeout_poll(t, cx, out);
}
EDDY_INLINE void eddy_timeout_at_drop(eddy_timeout *t) { eddy_timeout_drop(t); }

EDDY_END_DECLS

#endif
