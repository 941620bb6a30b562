/* Timers on a current-thread runtime with a paused clock, through the
 * public API only: sleeps of different lengths complete in deadline order
 * at exactly their virtual instants; auto-advance finishes a one-hour sleep
 * at once in real time; eddy_time_advance wakes what became due; an aborted
 * task's sleep is unlinked and never wakes anything; the clock calls fail
 * cleanly outside a runtime. */
#include <eddy.h>

#include "eddy_test.h"

#include <time.h>

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- deadline order ----------------------------------------------------------- */

enum { NSLEEPERS = 9 };
static const uint64_t sleeper_ms[NSLEEPERS] = {50, 10, 30, 20, 80, 5, 60, 40, 1};
static int done_id[NSLEEPERS];
static eddy_instant done_at[NSLEEPERS];
static int ndone;

struct sleeper {
    eddy_coro co;
    int id;
    int rc;
    eddy_sleep sl;
};

static eddy_poll sleeper_poll(struct sleeper *t, eddy_cx *cx, int *out)
{
    EDDY_BEGIN(&t->co, cx);
    EDDY_AWAIT(&t->rc, eddy_sleep, &t->sl, EDDY_MS(sleeper_ms[t->id]));
    done_id[ndone] = t->id;
    done_at[ndone] = eddy_now();
    ndone++;
    *out = t->rc;
    EDDY_END();
}
EDDY_CORO_VT(sleeper_vt, struct sleeper, int, sleeper_poll);

struct order_main {
    eddy_coro co;
    eddy_instant t0;
    int i;
    int outs[NSLEEPERS];
    eddy_join *jh[NSLEEPERS];
};

static eddy_poll order_main_poll(struct order_main *t, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&t->co, cx);
    t->t0 = eddy_now();
    for (t->i = 0; t->i < NSLEEPERS; t->i++) {
        struct sleeper s = {.co = EDDY_CORO_INIT, .id = t->i};
        CHECK_OK(eddy_spawn_local(&sleeper_vt, &s, &t->jh[t->i]));
    }
    for (t->i = 0; t->i < NSLEEPERS; t->i++) {
        EDDY_AWAIT_POLL(&t->outs[t->i], eddy_join, t->jh[t->i]);
        CHECK_EQ(eddy_join_status(t->jh[t->i]), 0);
        CHECK_EQ(t->outs[t->i], 0);
        eddy_join_detach(t->jh[t->i]);
    }
    EDDY_END();
}
EDDY_CORO_VT_VOID(order_main_vt, struct order_main, order_main_poll);

static void test_deadline_order(void)
{
    eddy_rt *rt;
    CHECK_OK(eddy_rt_new(&rt, &(eddy_rt_builder){.start_paused = true}));
    struct order_main m = {.co = EDDY_CORO_INIT};
    ndone = 0;
    double r0 = mono_s();
    CHECK_OK(eddy_block_on(rt, &order_main_vt, &m, NULL));
    CHECK(mono_s() - r0 < 1.0); /* 80 virtual ms, no real waiting */
    CHECK_EQ(ndone, NSLEEPERS);
    for (int k = 0; k < NSLEEPERS; k++) {
        int id = done_id[k];
        CHECK_EQ(done_at[k], m.t0 + EDDY_MS(sleeper_ms[id])); /* exactly on time */
        if (k > 0)
            CHECK(sleeper_ms[done_id[k - 1]] < sleeper_ms[id]);
    }
    eddy_rt_free(rt);
}

/* ---- one hour, instantly ---------------------------------------------------------- */

struct long_sleep {
    eddy_coro co;
    eddy_instant t0, t1;
    eddy_sleep sl;
};

static eddy_poll long_sleep_poll(struct long_sleep *t, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&t->co, cx);
    t->t0 = eddy_now();
    EDDY_AWAIT(NULL, eddy_sleep, &t->sl, EDDY_SEC(3600));
    t->t1 = eddy_now();
    EDDY_END();
}
EDDY_CORO_VT_VOID(long_sleep_vt, struct long_sleep, long_sleep_poll);

static void test_auto_advance_hour(void)
{
    eddy_rt *rt;
    CHECK_OK(eddy_rt_new(&rt, &(eddy_rt_builder){.start_paused = true}));
    struct long_sleep m = {.co = EDDY_CORO_INIT};
    double r0 = mono_s();
    CHECK_OK(eddy_block_on(rt, &long_sleep_vt, &m, NULL));
    double real = mono_s() - r0;
    CHECK_MSG(real < 1.0, "a virtual hour took %.3f real seconds", real);
    CHECK_EQ(m.t1 - m.t0, EDDY_SEC(3600));
    /* a second block_on on the same runtime continues the virtual clock */
    struct long_sleep m2 = {.co = EDDY_CORO_INIT};
    CHECK_OK(eddy_block_on(rt, &long_sleep_vt, &m2, NULL));
    CHECK_EQ(m2.t0, m.t1);
    CHECK_EQ(m2.t1, m.t1 + EDDY_SEC(3600));
    eddy_rt_free(rt);
}

/* ---- eddy_time_advance ---------------------------------------------------------------- */

static int adv_woke;
static eddy_instant adv_woke_at;

struct adv_sleeper {
    eddy_coro co;
    eddy_sleep sl;
};
static eddy_poll adv_sleeper_poll(struct adv_sleeper *t, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&t->co, cx);
    EDDY_AWAIT(NULL, eddy_sleep, &t->sl, EDDY_MS(100));
    adv_woke = 1;
    adv_woke_at = eddy_now();
    EDDY_END();
}
EDDY_CORO_VT_VOID(adv_sleeper_vt, struct adv_sleeper, adv_sleeper_poll);

struct adv_main {
    eddy_coro co;
    eddy_instant t0;
    eddy_join *jh;
    eddy_yield y;
};
static eddy_poll adv_main_poll(struct adv_main *t, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&t->co, cx);
    t->t0 = eddy_now();
    {
        struct adv_sleeper s = {.co = EDDY_CORO_INIT};
        CHECK_OK(eddy_spawn_local(&adv_sleeper_vt, &s, &t->jh));
    }
    EDDY_AWAIT(NULL, eddy_yield, &t->y); /* let it register its sleep */
    CHECK_OK(eddy_time_advance(EDDY_MS(99)));
    CHECK_EQ(eddy_now(), t->t0 + EDDY_MS(99));
    EDDY_AWAIT(NULL, eddy_yield, &t->y);
    CHECK_EQ(adv_woke, 0); /* 1 ms short */
    CHECK_OK(eddy_time_advance(EDDY_MS(1)));
    CHECK_EQ(adv_woke, 0); /* woken, not yet run */
    EDDY_AWAIT_POLL(NULL, eddy_join, t->jh);
    eddy_join_detach(t->jh);
    CHECK_EQ(adv_woke, 1);
    CHECK_EQ(adv_woke_at, t->t0 + EDDY_MS(100));
    /* pause is idempotent, and the clock stays where it is */
    CHECK_OK(eddy_time_pause());
    CHECK_EQ(eddy_now(), t->t0 + EDDY_MS(100));
    EDDY_END();
}
EDDY_CORO_VT_VOID(adv_main_vt, struct adv_main, adv_main_poll);

static void test_advance(void)
{
    eddy_rt *rt;
    CHECK_OK(eddy_rt_new(&rt, &(eddy_rt_builder){.start_paused = true}));
    struct adv_main m = {.co = EDDY_CORO_INIT};
    adv_woke = 0;
    CHECK_OK(eddy_block_on(rt, &adv_main_vt, &m, NULL));
    eddy_rt_free(rt);
}

/* ---- an aborted task's sleep ---------------------------------------------------------- */

static int victim_finally, victim_dropping;

struct victim {
    eddy_coro co;
    eddy_sleep sl;
};
static eddy_poll victim_poll(struct victim *t, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&t->co, cx);
    EDDY_AWAIT(NULL, eddy_sleep, &t->sl, EDDY_MS(50));
    CHECK_MSG(0, "the aborted task ran past its sleep");
    EDDY_FINALLY();
    victim_finally++;
    if (EDDY_DROPPING())
        victim_dropping++;
    EDDY_DONE();
}
EDDY_CORO_VT_VOID(victim_vt, struct victim, victim_poll);

struct abort_main {
    eddy_coro co;
    eddy_instant t0;
    eddy_join *jh;
    eddy_sleep sl;
};
static eddy_poll abort_main_poll(struct abort_main *t, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&t->co, cx);
    t->t0 = eddy_now();
    {
        struct victim v = {.co = EDDY_CORO_INIT};
        CHECK_OK(eddy_spawn_local(&victim_vt, &v, &t->jh));
    }
    EDDY_AWAIT(NULL, eddy_sleep, &t->sl, EDDY_MS(10));
    eddy_join_abort(t->jh);
    EDDY_AWAIT_POLL(NULL, eddy_join, t->jh);
    CHECK_EQ(eddy_join_status(t->jh), -ECANCELED);
    eddy_join_detach(t->jh);
    CHECK_EQ(victim_dropping, 1);
    /* the victim's 50 ms timer is gone: the next wake-up is ours, at 200 */
    EDDY_AWAIT(NULL, eddy_sleep, &t->sl, EDDY_MS(190));
    CHECK_EQ(eddy_now(), t->t0 + EDDY_MS(200));
    EDDY_END();
}
EDDY_CORO_VT_VOID(abort_main_vt, struct abort_main, abort_main_poll);

static void test_abort_unlinks(void)
{
    eddy_rt *rt;
    CHECK_OK(eddy_rt_new(&rt, &(eddy_rt_builder){.start_paused = true}));
    struct abort_main m = {.co = EDDY_CORO_INIT};
    CHECK_OK(eddy_block_on(rt, &abort_main_vt, &m, NULL));
    CHECK_EQ(victim_finally, 1);
    eddy_rt_free(rt);
}

/* ---- shutdown with sleeping tasks ---------------------------------------------------- */

static void test_shutdown_with_sleepers(void)
{
    eddy_rt *rt;
    CHECK_OK(eddy_rt_new(&rt, &(eddy_rt_builder){.start_paused = true}));
    victim_finally = victim_dropping = 0;
    struct victim v = {.co = EDDY_CORO_INIT};
    for (int i = 0; i < 5; i++)
        CHECK_OK(eddy_spawn(rt, &victim_vt, &v, NULL)); /* detached, never run */
    eddy_rt_free(rt); /* drops the never-run frames: their sleeps were never linked */
    CHECK_EQ(victim_finally, 5);
    CHECK_EQ(victim_dropping, 5);
}

struct arm_then_leave {
    eddy_coro co;
    eddy_yield y;
};
static eddy_poll arm_then_leave_poll(struct arm_then_leave *t, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&t->co, cx);
    EDDY_AWAIT(NULL, eddy_yield, &t->y);
    EDDY_AWAIT(NULL, eddy_yield, &t->y);
    EDDY_END();
}
EDDY_CORO_VT_VOID(arm_then_leave_vt, struct arm_then_leave, arm_then_leave_poll);

static void test_shutdown_with_armed_sleeps(void)
{
    eddy_rt *rt;
    CHECK_OK(eddy_rt_new(&rt, &(eddy_rt_builder){.start_paused = true}));
    victim_finally = victim_dropping = 0;
    struct victim v = {.co = EDDY_CORO_INIT};
    for (int i = 0; i < 5; i++)
        CHECK_OK(eddy_spawn(rt, &victim_vt, &v, NULL));
    /* two yields: the victims run once and arm their 50 ms timers */
    struct arm_then_leave m = {.co = EDDY_CORO_INIT};
    CHECK_OK(eddy_block_on(rt, &arm_then_leave_vt, &m, NULL));
    CHECK_EQ(victim_finally, 0);
    eddy_rt_free(rt); /* drops frames with linked timers, then frees the wheel */
    CHECK_EQ(victim_finally, 5);
    CHECK_EQ(victim_dropping, 5);
}

/* ---- outside a runtime -------------------------------------------------------------------- */

static void test_outside_runtime(void)
{
    CHECK_EQ(eddy_time_pause(), -EDDY_ENORUNTIME);
    CHECK_EQ(eddy_time_resume(), -EDDY_ENORUNTIME);
    CHECK_EQ(eddy_time_advance(1), -EDDY_ENORUNTIME);
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t a = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    eddy_instant n = eddy_now(); /* CLOCK_MONOTONIC outside a runtime */
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t b = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    CHECK(a <= n && n <= b);
}

int main(void)
{
    test_watchdog(30);
    test_outside_runtime();
    test_deadline_order();
    test_auto_advance_hour();
    test_advance();
    test_abort_unlinks();
    test_shutdown_with_sleepers();
    test_shutdown_with_armed_sleeps();
    printf("test_time_rt: ok\n");
    return 0;
}
