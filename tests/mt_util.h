/* mt_util.h - helpers shared by the tests/test_mt_*.c that exercise sync
 * primitives, channels and combinators on the multi-thread runtime.
 *
 *   mt_new(workers, no_steal)  a multi-thread runtime.  With no_steal,
 *                              tasks spawned from outside the workers (the
 *                              main thread, block_on) go round robin to the
 *                              workers and stay there: task i runs on
 *                              worker i % workers, so "on different workers"
 *                              holds by construction, not by luck.
 *   mt_tid()                   a small id of the calling thread (1, 2, ...)
 *   mt_join_all(rt, jh, n)     block_on a future awaiting the n join
 *                              handles; each task must have completed (0)
 *   mt_until                   an awaitable that is READY once an atomic
 *                              counter reaches a target: a bounded poll loop
 *                              (yield, sched_yield) for the block_on thread,
 *                              failing the test after MT_WAIT_SECS
 *   mt_spread                  counts the distinct threads a set of tasks ran
 *                              on (proof that they really ran in parallel
 *                              places, not that they overlapped in time)
 *   mt_ready_or_announce(p, announce, announced)
 *                              true when p is READY; the first PENDING bumps
 *                              *announce: the future is now queued in its
 *                              primitive (it returns PENDING after queueing)
 *   MT_SCALE(n)                loop counts: n, divided by 4 under
 *                              ThreadSanitizer (every access is ~10x slower)
 *
 * Everything is static inline (or static data) so that a test using only
 * part of it gets no unused-function warning.
 */
#ifndef MT_UTIL_H
#define MT_UTIL_H

#include <eddy.h>

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include "eddy_test.h"

#define MT_SCALE(n) (TEST_TSAN ? (n) / 4 : (n))

/* How long a poll loop waits for a condition another thread establishes
 * before the test fails: far above any scheduling delay, far below the
 * CTest timeout. */
#define MT_WAIT_SECS 30

static inline eddy_rt *mt_new(unsigned workers, bool no_steal)
{
    eddy_rt *rt = NULL;
    CHECK_OK(eddy_rt_new(&rt, &(eddy_rt_builder){.flavor = EDDY_RT_MULTI_THREAD,
                                                   .workers = workers,
                                                   .no_steal = no_steal}));
    return rt;
}

static inline double mt_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static atomic_int mt_tid_next_;
static _Thread_local int mt_tid_;

static inline int mt_tid(void)
{
    if (!mt_tid_)
        mt_tid_ = atomic_fetch_add(&mt_tid_next_, 1) + 1;
    return mt_tid_;
}

/* A set of thread ids seen (small: a runtime has a handful of threads). */
typedef struct mt_spread {
    _Atomic int ids[16];
} mt_spread;

static inline void mt_spread_note(mt_spread *s)
{
    int id = mt_tid();
    for (int i = 0; i < 16; i++) {
        int cur = atomic_load(&s->ids[i]);
        if (cur == id)
            return;
        if (cur == 0) {
            int zero = 0;
            if (atomic_compare_exchange_strong(&s->ids[i], &zero, id))
                return;
            if (zero == id)
                return;
        }
    }
}

static inline int mt_spread_count(mt_spread *s)
{
    int n = 0;
    for (int i = 0; i < 16; i++)
        n += atomic_load(&s->ids[i]) != 0;
    return n;
}

/* ---- mt_until: wait until *counter >= target -------------------------------- */

typedef struct mt_until {
    atomic_long *counter;
    long target;
    double deadline;
    const char *what;
} mt_until;

static inline void mt_until_init(mt_until *u, atomic_long *counter, long target, const char *what)
{
    u->counter = counter;
    u->target = target;
    u->deadline = 0;
    u->what = what;
}

static inline eddy_poll mt_until_poll(mt_until *u, eddy_cx *cx, void *out)
{
    (void)out;
    if (atomic_load(u->counter) >= u->target)
        return EDDY_READY;
    double now = mt_now();
    if (u->deadline == 0)
        u->deadline = now + MT_WAIT_SECS;
    CHECK_MSG(now < u->deadline, "%s: still %ld < %ld after %d s", u->what, atomic_load(u->counter), u->target,
              MT_WAIT_SECS);
    /* Give the CPU to the workers (this machine may have as few cores as
     * the runtime has workers), then look again. */
    sched_yield();
    eddy_waker_wake_by_ref(cx->waker);
    return EDDY_PENDING;
}

static inline void mt_until_drop(mt_until *u) { (void)u; }

/* ---- join every handle ------------------------------------------------------- */

struct mt_joiner_ {
    eddy_coro co;
    eddy_join **jh;
    int n, i;
};

static inline eddy_poll mt_joiner_poll_(struct mt_joiner_ *j, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&j->co, cx);
    for (j->i = 0; j->i < j->n; j->i++) {
        EDDY_AWAIT_POLL(NULL, eddy_join, j->jh[j->i]);
        CHECK_MSG(eddy_join_status(j->jh[j->i]) == 0, "task %d ended with %d", j->i,
                  eddy_join_status(j->jh[j->i]));
        eddy_join_detach(j->jh[j->i]);
        j->jh[j->i] = NULL;
    }
    EDDY_END();
}
EDDY_STATIC_CORO_VT_VOID(mt_joiner_vt_, struct mt_joiner_, mt_joiner_poll_);

static inline void mt_join_all(eddy_rt *rt, eddy_join **jh, int n)
{
    struct mt_joiner_ j = {.jh = jh, .n = n};
    CHECK_OK(eddy_block_on(rt, &mt_joiner_vt_, &j, NULL));
}

static inline bool mt_ready_or_announce(eddy_poll p, atomic_long *announce, int *announced)
{
    if (p == EDDY_READY)
        return true;
    if (!*announced) {
        *announced = 1;
        atomic_fetch_add(announce, 1);
    }
    return false;
}

#endif
