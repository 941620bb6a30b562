/* Internal: what a scheduler needs from the timer wheel.  The wheel itself
 * (src/time/wheel.c) and the public futures (include/eddy/time.h) sit
 * behind this.  Single-thread mode (the current-thread runtime): all
 * functions run on the thread that owns the runtime core, and none takes a
 * lock.  Multi-thread mode (mt): one wheel per runtime shared by every
 * worker; every function may be called from any thread (a mutex inside),
 * entries are armed and cancelled by the task that owns them on whatever
 * worker polls it while the driver owner fires the wheel on another, and
 * the virtual clock (pause, advance, auto-advance) does not exist.
 * See docs/design/0004-timer-wheel.md. */
#ifndef EDDY_TIMERS_H
#define EDDY_TIMERS_H

#include "../core/internal.h"
#include <eddy/time.h>

struct eddy__timers;

/* Creates the wheel; paused = start with the virtual clock stopped; mt =
 * multi-thread mode.  Returns 0, -ENOMEM, or -ENOTSUP for paused && mt. */
EDDY_HIDDEN int eddy__timers_new(struct eddy__timers **out, bool paused, bool mt);

/* True for a wheel created in multi-thread mode. */
EDDY_HIDDEN bool eddy__timers_is_mt(const struct eddy__timers *t);

/* ---- multi-thread mode: the driver owner's sleep -----------------------
 * The worker that owns the driver sleeps in its wait with a timeout taken
 * from the wheel; a timer armed meanwhile with an earlier deadline (by a
 * task on another worker) must cut that sleep short.  Protocol for the
 * driver owner, each time it is about to block in the driver:
 *
 *     int64_t to = eddy__timers_sleep_begin(t, max_ns);   // -1: forever
 *     driver->ops->wait(driver, to);                      // 0: just look
 *     eddy__timers_sleep_end(t);
 *     eddy__timers_mt_tick_clock(t); eddy__timers_mt_fire(t);
 *
 * sleep_begin reads the clock, computes the timeout (as next_timeout,
 * capped at max_ns; max_ns < 0: no cap) and records the instant the wait
 * will end, all under the wheel's lock, which every insert also takes: an
 * insert before it is counted in the timeout, an insert after it that is
 * earlier than the recorded instant calls the unpark hook (once, then the
 * record is cleared until the next sleep_begin).  The hook must make the
 * driver's wait return (write the unpark eventfd); it is called with no
 * lock held, from the inserting thread, and may be called after the wait
 * already ended (a spurious early return of the next wait).  A returned
 * timeout of 0 records nothing (a timer is due: fire, do not sleep). */

/* Sets the hook (before any worker runs; NULL: none). */
EDDY_HIDDEN void eddy__timers_set_unpark(struct eddy__timers *t, void (*fn)(void *), void *arg);

/* See above.  mt mode only. */
EDDY_HIDDEN int64_t eddy__timers_sleep_begin(struct eddy__timers *t, int64_t max_ns);
EDDY_HIDDEN void eddy__timers_sleep_end(struct eddy__timers *t);

/* Frees the wheel.  Entries still linked (their futures outlive the
 * runtime) are unlinked and their wakers dropped. */
EDDY_HIDDEN void eddy__timers_free(struct eddy__timers *t);

/* Reads the monotonic clock once and caches it as "now" (no-op while the
 * clock is paused).  Called once per driver turn.  Single-thread wheel
 * only (no mode test, no lock; debug builds check): an mt scheduler calls
 * eddy__timers_mt_tick_clock, likewise for fire and next_timeout. */
EDDY_HIDDEN void eddy__timers_tick_clock(struct eddy__timers *t);
EDDY_HIDDEN void eddy__timers_mt_tick_clock(struct eddy__timers *t);

/* Wakes every timer whose deadline is <= now.  Returns how many fired.
 * The mt form wakes with the lock released, in batches, and only what was
 * due when it started (a timer armed due meanwhile waits for the next
 * fire; its insert unparks a sleeping driver owner). */
EDDY_HIDDEN size_t eddy__timers_fire(struct eddy__timers *t);
EDDY_HIDDEN size_t eddy__timers_mt_fire(struct eddy__timers *t);

/* Nanoseconds from now to the earliest deadline, 0 if one is due, -1 if no
 * timer is armed.  Precisely: to the wheel's next event, which is the
 * earliest deadline's 1 ms tick or an earlier cascade point (waking there
 * fires nothing; the next call gives the following event).  Never later
 * than the earliest deadline's tick; round it up, never down. */
EDDY_HIDDEN int64_t eddy__timers_next_timeout(struct eddy__timers *t);

/* True while the virtual clock is paused (never in mt mode). */
EDDY_HIDDEN bool eddy__timers_paused(const struct eddy__timers *t);

/* Paused clock only: moves now to the earliest deadline (the runtime is
 * idle, so nothing can happen before it); exactly, to that deadline's tick
 * (rounded up to the 1 ms grid that starts at the runtime's creation).
 * Does not wake: call fire next.  Returns false if no timer is armed (or
 * the clock is not paused); timers armed with EDDY_INSTANT_NEVER do not
 * count. */
EDDY_HIDDEN bool eddy__timers_auto_advance(struct eddy__timers *t);

/* While the clock is paused, next_timeout is a distance on the virtual
 * clock: sleeping that long in real time brings no timer closer.  A
 * scheduler that is idle under a paused clock looks at I/O without sleeping
 * and then calls auto_advance + fire (or blocks with no timeout if
 * auto_advance returns false). */

/* ---- added by the timer module (used by src/time/ and tests) ---------- */

/* The cached now (ns on the runtime's clock). */
EDDY_HIDDEN uint64_t eddy__timers_now(const struct eddy__timers *t);

/* The instant a relative duration counts from: the virtual now while
 * paused; otherwise a fresh clock reading (never below the cached now).
 * This is the one clock read outside tick_clock, and it is what keeps a
 * sleep of d from completing before d has really elapsed even when the
 * cached now is stale (a task woken by I/O after a long park).  It does
 * not change the cached now. */
EDDY_HIDDEN uint64_t eddy__timers_deadline_base(const struct eddy__timers *t);

/* Stops / restarts the virtual clock.  resume keeps the instant reached:
 * the next tick_clock continues from it (now never goes back).  Single-
 * thread mode only (eddy_time_pause refuses in mt mode), as is advance. */
EDDY_HIDDEN void eddy__timers_pause(struct eddy__timers *t);
EDDY_HIDDEN void eddy__timers_resume(struct eddy__timers *t);

/* Moves now forward by ns (saturating), paused or not.  Does not fire:
 * call eddy__timers_fire afterwards. */
EDDY_HIDDEN void eddy__timers_advance(struct eddy__timers *t, uint64_t ns);

/* Timers linked in the wheel (armed, not yet woken or cancelled). */
EDDY_HIDDEN size_t eddy__timers_armed(const struct eddy__timers *t);

/* Links e (not linked anywhere; e->deadline absolute) into the wheel in
 * O(1).  A deadline that is already due is queued to be woken by the next
 * eddy__timers_fire.  The waker stored in e is the one woken. */
EDDY_HIDDEN void eddy__timer_insert(struct eddy__timers *t, eddy__timer *e);

/* Unlinks e in O(1) if it is linked; keeps its waker. */
EDDY_HIDDEN void eddy__timer_remove(eddy__timer *e);

/* Cancel: unlinks e if linked and drops its waker.  O(1). */
EDDY_HIDDEN void eddy__timer_cancel(eddy__timer *e);

/* Arms e on t for its (absolute) deadline with cx_waker: links it if it is
 * not linked (re-links it if it is linked in another wheel) and stores the
 * waker (eddy_waker_set: no clone when it already wakes the same task). */
EDDY_HIDDEN void eddy__timer_arm(struct eddy__timers *t, eddy__timer *e, const eddy_waker *cx_waker);

/* Sets a new absolute deadline; a linked entry is re-linked in O(1). */
EDDY_HIDDEN void eddy__timer_set_deadline(eddy__timer *e, uint64_t deadline);

/* Debug builds: stops with eddy_misuse if e is linked and its neighbours do
 * not point back at it (the future holding it moved in memory).  what names
 * the future for the message.  Compiles to nothing without EDDY_DEBUG. */
EDDY_HIDDEN EDDY_NORETURN EDDY_COLD void eddy__timer_moved(const char *what);
#if EDDY_DEBUG
/* Out of line: in mt mode the neighbours are read under the wheel's lock. */
EDDY_HIDDEN void eddy__timer_check_slow(const eddy__timer *e, const char *what);
#endif
static inline void eddy__timer_check(const eddy__timer *e, const char *what)
{
#if EDDY_DEBUG
    eddy__timer_check_slow(e, what);
#else
    (void)e;
    (void)what;
#endif
}

/* The wheel's geometry, for tests and docs/design/0004-timer-wheel.md. */
#define EDDY__TIMER_RES_NS UINT64_C(1000000) /* one tick: 1 ms */
#define EDDY__TIMER_LEVEL_BITS 6
#define EDDY__TIMER_SLOTS 64                 /* slots per level */
#define EDDY__TIMER_LEVELS 6                 /* 64^6 ms ~ 2.2 years, then the overflow list */

#endif
