/* Misuse is detected and reported, not silently tolerated: each case runs
 * in a forked child whose stderr goes through a pipe; the child must die
 * of SIGABRT and its message must name the misuse.
 *   debug builds (EDDY_DEBUG=1):
 *     - polling a coroutine again after it returned READY
 *     - polling a coroutine frame that moved after its first poll
 *     - eddy_spawn_commit with a vtable other than the one prepared
 *   every build:
 *     - an EDDY_YIELD inside the user's own switch (rule 2), caught on resume
 *     - eddy_rt_free called from inside the runtime
 * When EDDY_DEBUG is 0 the debug-only cases are skipped with a note. */
// eddy-test-labels: flavors
#include <eddy.h>

#include <signal.h>
#include <sys/wait.h>

#include "eddy_test.h"

/* ---- the misbehaving programs ------------------------------------------- */

struct counter {
    eddy_coro co;
    int i;
};

static eddy_poll counter_poll(struct counter *f, eddy_cx *cx, int *out)
{
    EDDY_BEGIN(&f->co, cx);
    for (f->i = 0; f->i < 2; f->i++)
        EDDY_YIELD();
    *out = f->i;
    EDDY_END();
}
EDDY_CORO_VT(counter_vt, struct counter, int, counter_poll);

static void poll_after_ready(void)
{
    eddy_waker n = eddy_waker_noop();
    eddy_cx cx = {&n, NULL};
    struct counter f;
    eddy_coro_init(&f.co);
    int out = 0;
    for (int i = 0; i < 10; i++)
        if (counter_poll(&f, &cx, &out) == EDDY_READY)
            break;
    CHECK(eddy_coro_done(&f.co));
    (void)counter_poll(&f, &cx, &out); /* misuse: must abort */
}

static void moved_frame(void)
{
    eddy_waker n = eddy_waker_noop();
    eddy_cx cx = {&n, NULL};
    struct counter a, b;
    eddy_coro_init(&a.co);
    int out = 0;
    CHECK_EQ(counter_poll(&a, &cx, &out), EDDY_PENDING);
    memcpy(&b, &a, sizeof b);       /* the frame moves... */
    (void)counter_poll(&b, &cx, &out); /* ...and is polled there: must abort */
}

static void moved_frame_dropped(void)
{
    struct counter a, b;
    eddy_waker n = eddy_waker_noop();
    eddy_cx cx = {&n, NULL};
    int out = 0;
    eddy_coro_init(&a.co);
    CHECK_EQ(counter_poll(&a, &cx, &out), EDDY_PENDING);
    memcpy(&b, &a, sizeof b);
    counter_vt.drop(&b); /* dropping a moved frame is caught too */
}

struct sw {
    eddy_coro co;
    int mode;
};

static eddy_poll sw_poll(struct sw *f, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&f->co, cx);
    switch (f->mode) { /* rule 2 broken: a suspend point inside our own switch */
    case 1:
        EDDY_YIELD();
        break;
    default:
        break;
    }
    EDDY_END();
}

static void yield_inside_switch(void)
{
    eddy_waker n = eddy_waker_noop();
    eddy_cx cx = {&n, NULL};
    struct sw f = {.mode = 1};
    eddy_coro_init(&f.co);
    CHECK_EQ(sw_poll(&f, &cx, NULL), EDDY_PENDING);
    (void)sw_poll(&f, &cx, NULL); /* resumes at a case of the wrong switch */
}

struct freer {
    int dummy;
};
static eddy_poll freer_poll(struct freer *f, eddy_cx *cx, void *out)
{
    (void)f;
    (void)cx;
    (void)out;
    eddy_rt_free(eddy_rt_current()); /* misuse: from inside the runtime */
    return EDDY_READY;
}
static void freer_drop(struct freer *f) { (void)f; }
EDDY_FUTURE_VT_VOID(freer_vt, struct freer, freer_poll, freer_drop);

static void rt_free_inside(void)
{
    eddy_rt *rt;
    CHECK_OK(eddy_rt_new(&rt, test_builder(NULL)));
    struct freer f = {0};
    (void)eddy_block_on(rt, &freer_vt, &f, NULL);
}

static void commit_wrong_vt(void)
{
    eddy_rt *rt;
    CHECK_OK(eddy_rt_new(&rt, test_builder(NULL)));
    void *frame;
    CHECK_OK(eddy_spawn_prepare(rt, &counter_vt, &frame));
    eddy_coro_init(&((struct counter *)frame)->co);
    /* freer_vt has a different frame layout (and out_size): must abort */
    (void)eddy_spawn_commit(&freer_vt, frame, NULL);
}

int main(void)
{
    test_watchdog(60);
    test_expect_abort("yield inside a switch", yield_inside_switch, "switch");
    test_expect_abort("eddy_rt_free inside the runtime", rt_free_inside, "inside a runtime");
#if EDDY_DEBUG
    test_expect_abort("poll after READY", poll_after_ready, "polled again after it returned EDDY_READY");
    test_expect_abort("moved frame", moved_frame, "moved in memory");
    test_expect_abort("moved frame dropped", moved_frame_dropped, "moved in memory");
    test_expect_abort("commit with another vtable", commit_wrong_vt, "eddy_spawn_prepare");
    printf("test_coro_misuse: ok\n");
#else
    (void)poll_after_ready;
    (void)moved_frame;
    (void)moved_frame_dropped;
    (void)commit_wrong_vt;
    printf("test_coro_misuse: ok (debug-only checks skipped: EDDY_DEBUG is 0)\n");
#endif
    return 0;
}
