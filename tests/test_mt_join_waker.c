/* Reproducer: on the multi-thread runtime, eddy_join_drop (and an
 * eddy_join_poll that returns READY) can leave the joiner's waker clone
 * stored in the task until eddy_join_detach, when they run while the
 * finishing task is between publishing COMPLETE and clearing JOIN_WAKER
 * (task_complete: it is calling wake_by_ref on that waker).  The future
 * contract says a future's drop releases every waker clone it made; the
 * combinators rely on it (their wakers point into the caller's memory), so
 * join_all / select / timeout over join handles abort in debug builds
 * ("a child's waker outlived the child") or, in release builds, leave a
 * clone that is a use after free when the handle is detached later.
 *
 * Part 1 makes the window wide and deterministic: a waker whose
 * wake_by_ref holds the finishing worker until the test lets it go.
 * Part 2 is the symptom seen from user code: join_all over the join
 * handles of tasks running on two workers. */
// eddy-test-timeout: 60
#include <eddy.h>

#include "eddy_test.h"
#include "mt_util.h"

/* ---- a waker that can hold a wake in progress ---------------------------------- */

static atomic_long g_live;       /* clones alive */
static atomic_int g_in_wake;     /* a wake_by_ref has started */
static atomic_int g_release;     /* the test lets it finish */
static atomic_int g_wake_done;

static eddy_waker hw_clone(const void *p);
/* Holds the wake until the test says so, or for at most half a second:
 * long enough for the test thread's two calls, and short enough that a
 * fix which makes eddy_join_drop wait for the wake in progress passes. */
static void hw_wake_by_ref(const void *p)
{
    (void)p;
    atomic_store(&g_in_wake, 1);
    double until = mt_now() + 0.5;
    while (!atomic_load(&g_release) && mt_now() < until)
        sched_yield();
    atomic_store(&g_wake_done, 1);
}
static void hw_drop(const void *p)
{
    (void)p;
    atomic_fetch_sub(&g_live, 1);
}
static void hw_wake(const void *p)
{
    hw_wake_by_ref(p);
    hw_drop(p);
}
static const eddy_waker_vtable hw_vt = {hw_clone, hw_wake, hw_wake_by_ref, hw_drop};
static eddy_waker hw_clone(const void *p)
{
    atomic_fetch_add(&g_live, 1);
    return (eddy_waker){&hw_vt, p};
}

/* A task that finishes once g_go is set (it polls, yielding, meanwhile). */
static atomic_int g_go;
struct gated {
    int unused;
};
static eddy_poll gated_poll(struct gated *g, eddy_cx *cx, void *out)
{
    (void)g, (void)out;
    if (atomic_load(&g_go))
        return EDDY_READY;
    sched_yield();
    eddy_waker_wake_by_ref(cx->waker);
    return EDDY_PENDING;
}
static void gated_drop(struct gated *g) { (void)g; }
EDDY_STATIC_FUTURE_VT_VOID(gated_vt, struct gated, gated_poll, gated_drop);

static void wait_flag(atomic_int *f, const char *what)
{
    double until = mt_now() + 10;
    while (!atomic_load(f)) {
        CHECK_MSG(mt_now() < until, "%s did not happen", what);
        sched_yield();
    }
}

static void part1(void)
{
    eddy_rt *rt = mt_new(2, false);
    eddy_join *jh;
    CHECK_OK(eddy_spawn(rt, &gated_vt, &(struct gated){0}, &jh));
    int token = 0;
    eddy_waker w = {&hw_vt, &token}; /* borrowed: not counted */
    eddy_cx cx = {&w, NULL};
    /* The join waker is registered (a clone) while the task still runs. */
    CHECK_EQ(eddy_join_poll(jh, &cx, NULL), EDDY_PENDING);
    CHECK_EQ(atomic_load(&g_live), 1);
    atomic_store(&g_go, 1);
    /* The task completes on a worker, which is now inside wake_by_ref. */
    wait_flag(&g_in_wake, "the join wake");
    CHECK_EQ(eddy_join_poll(jh, &cx, NULL), EDDY_READY);
    eddy_join_drop(jh); /* the awaitable's drop: must release our clone */
    atomic_store(&g_release, 1);
    wait_flag(&g_wake_done, "the end of the join wake");
    /* Give the worker time to finish task_complete (a few atomics). */
    double until = mt_now() + 2;
    while (atomic_load(&g_live) != 0 && mt_now() < until)
        sched_yield();
    CHECK_MSG(atomic_load(&g_live) == 0,
              "the joiner's waker clone is still stored in the task after eddy_join_poll returned READY and "
              "eddy_join_drop returned (%ld alive); it is released only by eddy_join_detach",
              atomic_load(&g_live));
    eddy_join_detach(jh);
    CHECK_EQ(atomic_load(&g_live), 0);
    eddy_rt_free(rt);
}

/* ---- part 2: join_all over join handles --------------------------------------- */

struct jfut {
    eddy_join *jh;
};
static eddy_poll jfut_poll(struct jfut *f, eddy_cx *cx, long *out) { return eddy_join_poll(f->jh, cx, out); }
static void jfut_drop(struct jfut *f) { eddy_join_drop(f->jh); }
EDDY_STATIC_FUTURE_VT(jfut_vt, struct jfut, long, jfut_poll, jfut_drop);

struct square {
    eddy_coro co;
    long n, k;
    eddy_yield y;
};
static eddy_poll square_poll(struct square *t, eddy_cx *cx, long *out)
{
    EDDY_BEGIN(&t->co, cx);
    for (t->k = 0; t->k < 20; t->k++)
        EDDY_AWAIT(NULL, eddy_yield, &t->y);
    *out = t->n * t->n;
    EDDY_END();
}
EDDY_STATIC_CORO_VT(square_vt, struct square, long, square_poll);

enum { JN = 16 };

struct join_root {
    eddy_coro co;
    struct jfut f[JN];
    long out[JN];
    eddy_child kids[JN];
    eddy_join_all j;
    int rc;
};

static eddy_poll join_root_poll(struct join_root *t, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&t->co, cx);
    for (int i = 0; i < JN; i++) {
        t->out[i] = -1;
        t->kids[i] = EDDY_CHILD(&jfut_vt, &t->f[i], &t->out[i]);
    }
    EDDY_AWAIT(&t->rc, eddy_join_all, &t->j, t->kids, JN);
    CHECK_EQ(t->rc, 0);
    EDDY_END();
}
EDDY_STATIC_CORO_VT_VOID(join_root_vt, struct join_root, join_root_poll);

static void part2(void)
{
    eddy_rt *rt = mt_new(2, true);
    for (int r = 0; r < 200; r++) {
        struct join_root *root = calloc(1, sizeof *root);
        CHECK(root);
        for (int i = 0; i < JN; i++)
            CHECK_OK(eddy_spawn(rt, &square_vt, &(struct square){.n = i}, &root->f[i].jh));
        CHECK_OK(eddy_block_on(rt, &join_root_vt, root, NULL));
        for (int i = 0; i < JN; i++) {
            CHECK_EQ(eddy_join_status(root->f[i].jh), 0);
            CHECK_EQ(root->out[i], (long)i * i);
            eddy_join_detach(root->f[i].jh);
        }
        free(root);
    }
    eddy_rt_free(rt);
}

int main(void)
{
    test_watchdog(55);
    part1();
    part2();
    printf("ok\n");
    return 0;
}
