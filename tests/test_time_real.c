/* Timers on the real clock (no pause).  The one promise checked strictly:
 * never early.  A 20 ms sleep never completes before 20 ms of
 * CLOCK_MONOTONIC have passed since just before it was awaited (repeated),
 * also as the first poll of a block_on that comes long after the previous
 * one; concurrent sleeps finish in deadline order and none early; interval
 * ticks are never observed before their scheduled instant and report that
 * instant exactly; a timeout never fires early.  Upper bounds are loose
 * (2 s): this machine may be busy. */
// eddy-test-labels: timing
#include <eddy.h>

#include "eddy_test.h"

#include <time.h>

#define LOOSE EDDY_SEC(2)

static uint64_t mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- repeated 20 ms sleeps --------------------------------------------------------- */

struct rep {
    eddy_coro co;
    int i, n;
    uint64_t before;
    eddy_sleep sl;
};
static eddy_poll rep_poll(struct rep *t, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&t->co, cx);
    for (t->i = 0; t->i < t->n; t->i++) {
        t->before = mono();
        EDDY_AWAIT(NULL, eddy_sleep, &t->sl, EDDY_MS(20));
        {
            uint64_t after = mono();
            uint64_t took = after - t->before;
            CHECK_MSG(took >= EDDY_MS(20), "a 20 ms sleep completed after %.3f ms", (double)took / 1e6);
            CHECK_MSG(took < LOOSE, "a 20 ms sleep took %.3f ms", (double)took / 1e6);
            /* the runtime's clock agrees: it has reached the deadline */
            CHECK(eddy_now() >= eddy_sleep_deadline(&t->sl));
            CHECK(eddy_sleep_deadline(&t->sl) >= t->before + EDDY_MS(20));
        }
    }
    EDDY_END();
}
EDDY_CORO_VT_VOID(rep_vt, struct rep, rep_poll);

static void test_sleep_not_early(eddy_rt *rt)
{
    struct rep r = {.co = EDDY_CORO_INIT, .n = 6};
    CHECK_OK(eddy_block_on(rt, &rep_vt, &r, NULL));
    /* The runtime has been idle for a while (its cached clock is old): the
     * first poll of the next block_on must still count from the real now. */
    struct timespec ts = {0, 60 * 1000 * 1000};
    nanosleep(&ts, NULL);
    r = (struct rep){.co = EDDY_CORO_INIT, .n = 2};
    CHECK_OK(eddy_block_on(rt, &rep_vt, &r, NULL));
}

/* ---- concurrent sleepers ---------------------------------------------------------------- */

enum { NS = 6 };
static const uint64_t ms_of[NS] = {35, 5, 25, 15, 30, 10};
static int order[NS], norder;

struct sleeper {
    eddy_coro co;
    int id;
    uint64_t before;
    eddy_sleep sl;
};
static eddy_poll sleeper_poll(struct sleeper *t, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&t->co, cx);
    t->before = mono();
    EDDY_AWAIT(NULL, eddy_sleep, &t->sl, EDDY_MS(ms_of[t->id]));
    CHECK(mono() - t->before >= EDDY_MS(ms_of[t->id]));
    order[norder++] = t->id;
    EDDY_END();
}
EDDY_CORO_VT_VOID(sleeper_vt, struct sleeper, sleeper_poll);

struct many {
    eddy_coro co;
    int i;
    eddy_join *jh[NS];
};
static eddy_poll many_poll(struct many *t, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&t->co, cx);
    for (t->i = 0; t->i < NS; t->i++) {
        struct sleeper s = {.co = EDDY_CORO_INIT, .id = t->i};
        CHECK_OK(eddy_spawn_local(&sleeper_vt, &s, &t->jh[t->i]));
    }
    for (t->i = 0; t->i < NS; t->i++) {
        EDDY_AWAIT_POLL(NULL, eddy_join, t->jh[t->i]);
        eddy_join_detach(t->jh[t->i]);
    }
    EDDY_END();
}
EDDY_CORO_VT_VOID(many_vt, struct many, many_poll);

static void test_concurrent(eddy_rt *rt)
{
    struct many m = {.co = EDDY_CORO_INIT};
    norder = 0;
    CHECK_OK(eddy_block_on(rt, &many_vt, &m, NULL));
    CHECK_EQ(norder, NS);
    /* 5 ms apart: wide enough for the order to be the deadline order */
    for (int k = 1; k < NS; k++)
        CHECK(ms_of[order[k - 1]] < ms_of[order[k]]);
}

/* ---- interval and timeout --------------------------------------------------------------- */

static int never_drops;
struct never {
    eddy_waker slot;
};
static eddy_poll never_poll(struct never *f, eddy_cx *cx, void *out)
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
EDDY_FUTURE_VT_VOID(never_vt, struct never, never_poll, never_drop);

struct ivt {
    eddy_coro co;
    int k;
    int st;
    uint64_t before;
    eddy_instant t0, at;
    eddy_interval iv;
    eddy_timeout to;
    struct never nv;
};
static eddy_poll ivt_poll(struct ivt *t, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&t->co, cx);
    eddy_interval_init(&t->iv, EDDY_MS(10));
    for (t->k = 0; t->k < 6; t->k++) {
        EDDY_AWAIT(&t->at, eddy_interval_tick, &t->iv);
        if (t->k == 0)
            t->t0 = t->at;
        CHECK_EQ(t->at, t->t0 + (uint64_t)t->k * EDDY_MS(10)); /* the schedule, exactly */
        CHECK(mono() >= t->at);                                /* never observed early */
        CHECK(mono() - t->at < LOOSE);
    }
    eddy_interval_drop(&t->iv);

    t->nv.slot = EDDY_WAKER_EMPTY;
    t->before = mono();
    EDDY_AWAIT(&t->st, eddy_timeout, &t->to, EDDY_MS(15), &never_vt, &t->nv, NULL);
    CHECK_EQ(t->st, -ETIMEDOUT);
    CHECK_EQ(never_drops, 1);
    CHECK(mono() - t->before >= EDDY_MS(15));
    CHECK(mono() - t->before < LOOSE);
    EDDY_END();
}
EDDY_CORO_VT_VOID(ivt_vt, struct ivt, ivt_poll);

static void test_interval_timeout(eddy_rt *rt)
{
    struct ivt m = {.co = EDDY_CORO_INIT};
    CHECK_OK(eddy_block_on(rt, &ivt_vt, &m, NULL));
}

int main(void)
{
    test_watchdog(30);
    eddy_rt *rt;
    CHECK_OK(eddy_rt_new(&rt, NULL));
    test_sleep_not_early(rt);
    test_concurrent(rt);
    test_interval_timeout(rt);
    eddy_rt_free(rt);
    printf("test_time_real: ok\n");
    return 0;
}
