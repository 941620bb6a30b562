/* Awaiting a join handle borrows it: a coroutine dropped while it awaits
 * the handle stops waiting (eddy_join_drop) but keeps the handle, and its
 * EDDY_FINALLY releases it exactly once with eddy_join_detach.  Before this
 * rule, the await's drop released the handle and the cleanup released it a
 * second time (ASan reports that as a use after free). */

#include "eddy_test.h"

#include <eddy.h>

static int child_drops, parent_cleanups;

/* A child that never completes on its own. */
struct child {
    eddy_coro co;
};
static eddy_poll child_poll(struct child *c, eddy_cx *cx, int *out)
{
    EDDY_BEGIN(&c->co, cx);
    EDDY_SUSPEND(); /* nobody will wake it */
    *out = 1;
    EDDY_FINALLY();
    if (EDDY_DROPPING())
        child_drops++;
    EDDY_DONE();
}
EDDY_STATIC_CORO_VT(child_vt, struct child, int, child_poll);

struct parent {
    eddy_coro co;
    eddy_join *jh;
    int out;
};
static eddy_poll parent_poll(struct parent *p, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&p->co, cx);
    CHECK_OK(eddy_spawn_local(&child_vt, &(struct child){0}, &p->jh));
    EDDY_AWAIT_POLL(&p->out, eddy_join, p->jh); /* never ready: the parent is aborted here */
    EDDY_FINALLY();
    parent_cleanups++;
    /* The handle is still ours, whether or not the await finished. */
    CHECK_EQ(eddy_join_status(p->jh), -EAGAIN);
    eddy_join_detach(p->jh);
    p->jh = NULL;
    EDDY_DONE();
}
EDDY_STATIC_CORO_VT_VOID(parent_vt, struct parent, parent_poll);

struct root {
    eddy_coro co;
    eddy_join *parent;
    eddy_yield y;
    int i;
};
static eddy_poll root_poll(struct root *r, eddy_cx *cx, int *out)
{
    EDDY_BEGIN(&r->co, cx);
    CHECK_OK(eddy_spawn_local(&parent_vt, &(struct parent){0}, &r->parent));
    for (r->i = 0; r->i < 3; r->i++) /* the parent runs and suspends in the await */
        EDDY_AWAIT(NULL, eddy_yield, &r->y);
    CHECK_EQ(parent_cleanups, 0);
    eddy_join_abort(r->parent);
    EDDY_AWAIT_POLL(NULL, eddy_join, r->parent);
    CHECK_EQ(eddy_join_status(r->parent), -ECANCELED);
    CHECK_EQ(parent_cleanups, 1);
    CHECK_EQ(child_drops, 0); /* detached by the parent, not cancelled */
    eddy_join_detach(r->parent);
    *out = 0;
    EDDY_END();
}
EDDY_STATIC_CORO_VT(root_vt, struct root, int, root_poll);

int main(void)
{
    test_watchdog(30);
    eddy_rt *rt;
    CHECK_OK(eddy_rt_new(&rt, test_builder(NULL)));
    struct root r = {0};
    int out = -1;
    CHECK_OK(eddy_block_on(rt, &root_vt, &r, &out));
    CHECK_EQ(out, 0);
    eddy_rt_free(rt); /* drops the detached child */
    CHECK_EQ(child_drops, 1);
    printf("test_rt_join_await_drop: ok\n");
    return 0;
}
