/* Join handles and detaching.
 * - a handle dropped before the task completes detaches it: the task still
 *   runs to completion (its output is discarded, its frame dropped once);
 * - dropped before the task's first poll: same;
 * - dropped after completion: the task block is freed (LSan checks);
 * - a coroutine awaiting a join handle that is itself aborted drops the
 *   handle (EDDY_AWAIT_POLL's drop path) and the joined task keeps running;
 * - handles kept past eddy_rt_free: a completed task still reports 0 and
 *   its output, one that never completed reports -ECANCELED; dropping them
 *   afterwards frees everything. */

#include <eddy.h>

#include "eddy_test.h"

enum { NF = 16 };
static struct fstat {
    int polls, completions, drops;
    int go;
    eddy_waker *slot;
} fs[NF];

struct finisher {
    int id;
    eddy_waker slot;
};

static eddy_poll finisher_poll(struct finisher *f, eddy_cx *cx, int *out)
{
    struct fstat *s = &fs[f->id];
    s->polls++;
    if (!s->go) {
        s->slot = &f->slot;
        eddy_waker_set(&f->slot, cx->waker);
        return EDDY_PENDING;
    }
    eddy_waker_drop(&f->slot);
    s->slot = NULL;
    s->completions++;
    *out = 10 * f->id;
    return EDDY_READY;
}

static void finisher_drop(struct finisher *f)
{
    fs[f->id].drops++;
    fs[f->id].slot = NULL;
    eddy_waker_drop(&f->slot);
}
EDDY_FUTURE_VT(finisher_vt, struct finisher, int, finisher_poll, finisher_drop);

static void spawn_finisher(int id, int go, eddy_join **jh)
{
    fs[id].go = go;
    struct finisher f = {id, EDDY_WAKER_EMPTY};
    CHECK_OK(eddy_spawn_local(&finisher_vt, &f, jh));
}

static void release(int id)
{
    fs[id].go = 1;
    if (fs[id].slot)
        eddy_waker_wake_by_ref(fs[id].slot);
}

/* A coroutine that awaits a join handle it owns. */
static int awaiter_cleanup;
struct awaiter {
    eddy_coro co;
    eddy_join *jh;
    int out;
};
static eddy_poll awaiter_poll(struct awaiter *a, eddy_cx *cx, int *out)
{
    EDDY_BEGIN(&a->co, cx);
    EDDY_AWAIT_POLL(&a->out, eddy_join, a->jh);
    eddy_join_detach(a->jh);
    *out = a->out;
    EDDY_FINALLY();
    awaiter_cleanup++;
    EDDY_DONE();
}
EDDY_CORO_VT(awaiter_vt, struct awaiter, int, awaiter_poll);

#define YIELD_UNTIL(r, cond, max)                                                                            \
    for ((r)->i = 0; !(cond) && (r)->i < (max); (r)->i++)                                                    \
    EDDY_AWAIT(NULL, eddy_yield, &(r)->y)

struct root {
    eddy_coro co;
    eddy_join *jh, *aw;
    int i;
    eddy_yield y;
};

static eddy_join *kept_done, *kept_pending; /* outlive the runtime */

static eddy_poll root_poll(struct root *r, eddy_cx *cx, void *unused)
{
    (void)unused;
    EDDY_BEGIN(&r->co, cx);

    /* Dropped while pending: detached, still completes. */
    spawn_finisher(0, 0, &r->jh);
    YIELD_UNTIL(r, fs[0].polls == 1, 100);
    CHECK_EQ(fs[0].polls, 1);
    eddy_join_detach(r->jh);
    r->jh = NULL;
    release(0);
    YIELD_UNTIL(r, fs[0].completions == 1, 100);
    CHECK_EQ(fs[0].completions, 1);
    CHECK_EQ(fs[0].polls, 2);
    CHECK_EQ(fs[0].drops, 1);

    /* Dropped before the first poll. */
    spawn_finisher(1, 1, &r->jh);
    eddy_join_detach(r->jh);
    YIELD_UNTIL(r, fs[1].completions == 1, 100);
    CHECK_EQ(fs[1].completions, 1);
    CHECK_EQ(fs[1].drops, 1);

    /* Dropped after completion. */
    spawn_finisher(2, 1, &r->jh);
    YIELD_UNTIL(r, eddy_join_is_finished(r->jh), 100);
    CHECK_EQ(eddy_join_status(r->jh), 0);
    eddy_join_detach(r->jh);
    CHECK_EQ(fs[2].drops, 1);

    /* An awaiting coroutine is aborted: it drops the handle it awaits. */
    spawn_finisher(3, 0, &r->jh);
    {
        struct awaiter a = {.jh = r->jh};
        eddy_coro_init(&a.co);
        CHECK_OK(eddy_spawn_local(&awaiter_vt, &a, &r->aw));
    }
    r->jh = NULL; /* the awaiter owns it now */
    YIELD_UNTIL(r, fs[3].polls == 1, 100);
    YIELD_UNTIL(r, 0, 5);
    eddy_join_abort(r->aw);
    EDDY_AWAIT_POLL(NULL, eddy_join, r->aw);
    CHECK_EQ(eddy_join_status(r->aw), -ECANCELED);
    CHECK_EQ(awaiter_cleanup, 1);
    eddy_join_detach(r->aw);
    CHECK_EQ(fs[3].completions, 0);
    release(3);
    YIELD_UNTIL(r, fs[3].completions == 1, 100);
    CHECK_EQ(fs[3].completions, 1);
    CHECK_EQ(fs[3].drops, 1);

    /* Handles that outlive the runtime. */
    spawn_finisher(4, 1, &kept_done);
    spawn_finisher(5, 0, &kept_pending);
    YIELD_UNTIL(r, eddy_join_is_finished(kept_done) && fs[5].polls == 1, 100);
    CHECK(eddy_join_is_finished(kept_done));
    CHECK_EQ(fs[5].polls, 1);
    EDDY_END();
}
EDDY_CORO_VT_VOID(root_vt, struct root, root_poll);

int main(void)
{
    test_watchdog(30);
    eddy_rt *rt;
    CHECK_OK(eddy_rt_new(&rt, test_builder(NULL)));
    struct root r;
    memset(&r, 0, sizeof r);
    CHECK_OK(eddy_block_on(rt, &root_vt, &r, NULL));
    eddy_rt_stats st;
    CHECK_OK(eddy_rt_stats_get(rt, &st));
    CHECK_EQ(st.alive, 1); /* finisher 5 */
    eddy_rt_free(rt);

    CHECK_EQ(fs[5].drops, 1); /* dropped at shutdown */
    CHECK_EQ(fs[5].completions, 0);
    CHECK(eddy_join_is_finished(kept_pending));
    CHECK_EQ(eddy_join_status(kept_pending), -ECANCELED);
    CHECK(eddy_join_is_finished(kept_done));
    CHECK_EQ(eddy_join_status(kept_done), 0);
    eddy_waker n = eddy_waker_noop();
    eddy_cx cx = {&n, NULL};
    int out = 0;
    CHECK_EQ(eddy_join_poll(kept_done, &cx, &out), EDDY_READY);
    CHECK_EQ(out, 40);
    out = -1;
    CHECK_EQ(eddy_join_poll(kept_pending, &cx, &out), EDDY_READY);
    CHECK_EQ(out, -1);
    eddy_join_detach(kept_done);
    eddy_join_detach(kept_pending);
    for (int i = 0; i < NF; i++)
        CHECK_LE(fs[i].drops, 1);
    printf("test_rt_join_drop: ok\n");
    return 0;
}
