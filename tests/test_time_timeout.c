/* eddy_timeout on a paused runtime: a child that never completes is
 * dropped exactly once when the deadline passes (-ETIMEDOUT at exactly the
 * deadline); a child that completes in time passes its output through, is
 * not dropped, and leaves no timer behind; a coroutine child's cleanup runs
 * once and unlinks its own timers; aborting the task that awaits a timeout
 * drops the child once; nested timeouts; a timeout created with an
 * absolute deadline. */
#include <eddy.h>

#include "eddy_test.h"
#include "time/timers.h"

static size_t armed_now(void) { return eddy__timers_armed(eddy__tls_core->timers); }

/* ---- children ------------------------------------------------------------------ */

/* Never completes; counts its drops.  Keeps the waker like a real leaf. */
static int never_drops;
struct never {
    eddy_waker slot;
};
static eddy_poll never_poll(struct never *f, eddy_cx *cx, int *out)
{
    (void)out;
    eddy_waker_set(&f->slot, cx->waker);
    return EDDY_PENDING;
}
static void never_drop(struct never *f)
{
    never_drops++;
    eddy_waker_drop(&f->slot);
}
EDDY_FUTURE_VT(never_vt, struct never, int, never_poll, never_drop);

/* A coroutine child: sleeps `ms`, then outputs `value`; counts cleanups. */
static int slow_finally, slow_dropping;
struct slow {
    eddy_coro co;
    uint64_t ms;
    int value;
    eddy_sleep sl;
};
static eddy_poll slow_poll(struct slow *t, eddy_cx *cx, int *out)
{
    EDDY_BEGIN(&t->co, cx);
    EDDY_AWAIT(NULL, eddy_sleep, &t->sl, EDDY_MS(t->ms));
    *out = t->value;
    EDDY_FINALLY();
    slow_finally++;
    if (EDDY_DROPPING())
        slow_dropping++;
    EDDY_DONE();
}
EDDY_CORO_VT(slow_vt, struct slow, int, slow_poll);

/* ---- the scenarios, in one root coroutine -------------------------------------------- */

struct inner_to {
    eddy_coro co;
    int st;
    eddy_timeout to;
    struct never nv;
};
/* a timeout (20 ms) around a never-child, itself usable as a child */
static eddy_poll inner_to_poll(struct inner_to *t, eddy_cx *cx, int *out)
{
    EDDY_BEGIN(&t->co, cx);
    t->nv.slot = EDDY_WAKER_EMPTY;
    EDDY_AWAIT(&t->st, eddy_timeout, &t->to, EDDY_MS(20), &never_vt, &t->nv, NULL);
    *out = t->st;
    EDDY_END();
}
EDDY_CORO_VT(inner_to_vt, struct inner_to, int, inner_to_poll);

struct root {
    eddy_coro co;
    eddy_instant t0;
    int st, out;
    eddy_timeout to;
    union {
        struct never nv;
        struct slow sw;
        struct inner_to in;
    } ch;
    eddy_sleep sl;
};

static eddy_poll root_poll(struct root *t, eddy_cx *cx, void *unused)
{
    (void)unused;
    EDDY_BEGIN(&t->co, cx);

    /* 1. never completes: -ETIMEDOUT at exactly 50 ms, dropped once */
    t->t0 = eddy_now();
    t->ch.nv.slot = EDDY_WAKER_EMPTY;
    never_drops = 0;
    EDDY_AWAIT(&t->st, eddy_timeout, &t->to, EDDY_MS(50), &never_vt, &t->ch.nv, &t->out);
    CHECK_EQ(t->st, -ETIMEDOUT);
    CHECK_EQ(never_drops, 1);
    CHECK_EQ(eddy_now(), t->t0 + EDDY_MS(50));
    CHECK_EQ(armed_now(), 0);

    /* 2. completes in time: output passed, not dropped, timer gone */
    t->t0 = eddy_now();
    t->ch.sw = (struct slow){.co = EDDY_CORO_INIT, .ms = 10, .value = 42};
    slow_finally = slow_dropping = 0;
    t->out = 0;
    EDDY_AWAIT(&t->st, eddy_timeout, &t->to, EDDY_MS(100), &slow_vt, &t->ch.sw, &t->out);
    CHECK_EQ(t->st, 0);
    CHECK_EQ(t->out, 42);
    CHECK_EQ(slow_finally, 1);
    CHECK_EQ(slow_dropping, 0);
    CHECK_EQ(eddy_now(), t->t0 + EDDY_MS(10));
    CHECK_EQ(armed_now(), 0); /* the 100 ms timer was cancelled */
    /* nothing wakes at +100: the next event is this sleep */
    EDDY_AWAIT(NULL, eddy_sleep, &t->sl, EDDY_MS(500));
    CHECK_EQ(eddy_now(), t->t0 + EDDY_MS(510));

    /* 3. a coroutine child that is too slow: its cleanup runs once, as a
     * drop, and its own one-hour timer is unlinked */
    t->t0 = eddy_now();
    t->ch.sw = (struct slow){.co = EDDY_CORO_INIT, .ms = 3600 * 1000, .value = 1};
    slow_finally = slow_dropping = 0;
    t->out = -1;
    EDDY_AWAIT(&t->st, eddy_timeout, &t->to, EDDY_MS(30), &slow_vt, &t->ch.sw, &t->out);
    CHECK_EQ(t->st, -ETIMEDOUT);
    CHECK_EQ(t->out, -1);
    CHECK_EQ(slow_finally, 1);
    CHECK_EQ(slow_dropping, 1);
    CHECK_EQ(eddy_now(), t->t0 + EDDY_MS(30));
    CHECK_EQ(armed_now(), 0);

    /* 4. nested: the inner 20 ms timeout wins over the outer 40 ms one,
     * and its result is the outer child's output */
    t->t0 = eddy_now();
    t->ch.in = (struct inner_to){.co = EDDY_CORO_INIT};
    never_drops = 0;
    EDDY_AWAIT(&t->st, eddy_timeout, &t->to, EDDY_MS(40), &inner_to_vt, &t->ch.in, &t->out);
    CHECK_EQ(t->st, 0);
    CHECK_EQ(t->out, -ETIMEDOUT);
    CHECK_EQ(never_drops, 1);
    CHECK_EQ(eddy_now(), t->t0 + EDDY_MS(20));
    /* ... and the other way round: the outer 10 ms one drops the inner
     * coroutine, which drops its own timeout, which drops the never-child */
    t->t0 = eddy_now();
    t->ch.in = (struct inner_to){.co = EDDY_CORO_INIT};
    never_drops = 0;
    EDDY_AWAIT(&t->st, eddy_timeout, &t->to, EDDY_MS(10), &inner_to_vt, &t->ch.in, &t->out);
    CHECK_EQ(t->st, -ETIMEDOUT);
    CHECK_EQ(never_drops, 1);
    CHECK_EQ(eddy_now(), t->t0 + EDDY_MS(10));
    CHECK_EQ(armed_now(), 0);

    /* 5. absolute deadline, already passed: a pending child times out on
     * the first poll */
    t->ch.nv.slot = EDDY_WAKER_EMPTY;
    never_drops = 0;
    EDDY_AWAIT(&t->st, eddy_timeout_at, &t->to, eddy_now(), &never_vt, &t->ch.nv, NULL);
    CHECK_EQ(t->st, -ETIMEDOUT);
    CHECK_EQ(never_drops, 1);
    EDDY_END();
}
EDDY_CORO_VT_VOID(root_vt, struct root, root_poll);

/* ---- abort the task that awaits a timeout ---------------------------------------------- */

struct waiter {
    eddy_coro co;
    int st;
    eddy_timeout to;
    struct never nv;
};
static eddy_poll waiter_poll(struct waiter *t, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&t->co, cx);
    t->nv.slot = EDDY_WAKER_EMPTY;
    EDDY_AWAIT(&t->st, eddy_timeout, &t->to, EDDY_SEC(3600), &never_vt, &t->nv, NULL);
    CHECK_MSG(0, "the aborted waiter completed");
    EDDY_END();
}
EDDY_CORO_VT_VOID(waiter_vt, struct waiter, waiter_poll);

struct abort_root {
    eddy_coro co;
    eddy_instant t0;
    eddy_join *jh;
    eddy_sleep sl;
};
static eddy_poll abort_root_poll(struct abort_root *t, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&t->co, cx);
    never_drops = 0;
    t->t0 = eddy_now();
    {
        struct waiter w = {.co = EDDY_CORO_INIT};
        CHECK_OK(eddy_spawn_local(&waiter_vt, &w, &t->jh));
    }
    EDDY_AWAIT(NULL, eddy_sleep, &t->sl, EDDY_MS(10));
    CHECK_EQ(armed_now(), 1); /* the waiter's one-hour timer */
    eddy_join_abort(t->jh);
    EDDY_AWAIT_POLL(NULL, eddy_join, t->jh);
    CHECK_EQ(eddy_join_status(t->jh), -ECANCELED);
    eddy_join_detach(t->jh);
    CHECK_EQ(never_drops, 1);
    CHECK_EQ(armed_now(), 0);
    EDDY_END();
}
EDDY_CORO_VT_VOID(abort_root_vt, struct abort_root, abort_root_poll);

int main(void)
{
    test_watchdog(30);
    eddy_rt *rt;
    CHECK_OK(eddy_rt_new(&rt, &(eddy_rt_builder){.start_paused = true}));
    struct root r = {.co = EDDY_CORO_INIT};
    CHECK_OK(eddy_block_on(rt, &root_vt, &r, NULL));
    struct abort_root a = {.co = EDDY_CORO_INIT};
    CHECK_OK(eddy_block_on(rt, &abort_root_vt, &a, NULL));
    eddy_rt_free(rt);
    CHECK_EQ(never_drops, 1); /* shutdown dropped nothing twice */
    printf("test_time_timeout: ok\n");
    return 0;
}
