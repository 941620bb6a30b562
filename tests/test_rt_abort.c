/* eddy_join_abort on the current-thread runtime.
 * - before the first poll (spawned inside the runtime, and spawned from
 *   outside before block_on): poll never runs, drop runs once, the join
 *   handle is READY with status -ECANCELED and copies no output;
 * - while pending (suspended on something that never wakes, holding a
 *   clone of its own waker in its frame): drop runs once and releases the
 *   clone, the joiner sees -ECANCELED; a coroutine task suspended in a
 *   child drops that child and runs its cleanup once;
 * - after being woken but before being re-polled: no further poll;
 * - from inside the task itself, which then returns PENDING;
 * - a task awaiting the aborted task's handle is woken and sees -ECANCELED;
 * - twice: still one drop;
 * - after completion: nothing changes, status 0, output intact.
 * A frame that is never dropped keeps its waker clone and so its task
 * block alive: LSan reports it. */

#include <eddy.h>

#include "eddy_test.h"

enum { NV = 16 };

enum vmode { V_READY, V_PARK, V_SELF_ABORT };

static struct vstat {
    int polls, drops;
} vs[NV];
static eddy_join *self_jh; /* V_SELF_ABORT's own handle */
static eddy_waker *vslot[NV]; /* where each victim keeps its waker */

struct victim {
    int id;
    enum vmode mode;
    eddy_waker slot; /* a clone of its own waker: only drop releases it */
};

static eddy_poll victim_poll(struct victim *v, eddy_cx *cx, int *out)
{
    vs[v->id].polls++;
    vslot[v->id] = &v->slot;
    switch (v->mode) {
    case V_READY:
        *out = 500 + v->id;
        return EDDY_READY;
    case V_SELF_ABORT:
        eddy_join_abort(self_jh);
        EDDY_FALLTHROUGH;
    case V_PARK:
        eddy_waker_set(&v->slot, cx->waker); /* nobody will ever wake it... */
        return EDDY_PENDING;
    }
    return EDDY_PENDING;
}

static void victim_drop(struct victim *v)
{
    vs[v->id].drops++;
    eddy_waker_drop(&v->slot);
}
EDDY_FUTURE_VT(victim_vt, struct victim, int, victim_poll, victim_drop);

static struct victim victim(int id, enum vmode mode) { return (struct victim){id, mode, EDDY_WAKER_EMPTY}; }

/* ---- a coroutine victim suspended in a child leaf ---------------------- */

static int leaf_drops, co_cleanup, co_dropping, co_after;
static eddy_waker *co_leaf_slot; /* where the leaf keeps its waker */

struct leaf {
    eddy_waker slot;
};
static void leaf_init(struct leaf *l) { l->slot = EDDY_WAKER_EMPTY; }
static eddy_poll leaf_poll(struct leaf *l, eddy_cx *cx, int *out)
{
    (void)out;
    co_leaf_slot = &l->slot;
    eddy_waker_set(&l->slot, cx->waker);
    return EDDY_PENDING;
}
static void leaf_drop(struct leaf *l)
{
    leaf_drops++;
    eddy_waker_drop(&l->slot);
}

struct covictim {
    eddy_coro co;
    int x;
    struct leaf l;
};
static eddy_poll covictim_poll(struct covictim *c, eddy_cx *cx, int *out)
{
    EDDY_BEGIN(&c->co, cx);
    EDDY_AWAIT(&c->x, leaf, &c->l);
    co_after++;
    *out = 1;
    EDDY_FINALLY();
    co_cleanup++;
    if (EDDY_DROPPING())
        co_dropping++;
    EDDY_DONE();
}
EDDY_CORO_VT(covictim_vt, struct covictim, int, covictim_poll);

/* ---- a task that joins another and returns the status ---------------- */

struct joiner {
    eddy_coro co;
    eddy_join *target;
    int out;
};
static eddy_poll joiner_poll(struct joiner *j, eddy_cx *cx, int *out)
{
    EDDY_BEGIN(&j->co, cx);
    j->out = -1;
    EDDY_AWAIT_POLL(&j->out, eddy_join, j->target);
    CHECK_EQ(j->out, -1); /* no output copied */
    *out = eddy_join_status(j->target);
    EDDY_END();
}
EDDY_CORO_VT(joiner_vt, struct joiner, int, joiner_poll);

/* ---- the root -------------------------------------------------------------- */

#define YIELD_UNTIL(r, cond, max)                                                                            \
    for ((r)->i = 0; !(cond) && (r)->i < (max); (r)->i++)                                                    \
    EDDY_AWAIT(NULL, eddy_yield, &(r)->y)

struct root {
    eddy_coro co;
    eddy_join *pre;       /* spawned from outside and aborted before block_on */
    eddy_join *jh, *jh2;
    int out, out2, i;
    eddy_yield y;
};

static void spawn_victim(int id, enum vmode mode, eddy_join **jh)
{
    struct victim v = victim(id, mode);
    CHECK_OK(eddy_spawn_local(&victim_vt, &v, jh));
}

static eddy_poll root_poll(struct root *r, eddy_cx *cx, void *unused)
{
    (void)unused;
    EDDY_BEGIN(&r->co, cx);

    /* Aborted from outside before the runtime ran at all. */
    r->out = -1;
    EDDY_AWAIT_POLL(&r->out, eddy_join, r->pre);
    CHECK_EQ(r->out, -1);
    CHECK_EQ(eddy_join_status(r->pre), -ECANCELED);
    CHECK_EQ(vs[1].polls, 0);
    CHECK_EQ(vs[1].drops, 1);
    eddy_join_detach(r->pre);

    /* A: before the first poll. */
    spawn_victim(0, V_PARK, &r->jh);
    eddy_join_abort(r->jh);
    r->out = -1;
    EDDY_AWAIT_POLL(&r->out, eddy_join, r->jh);
    CHECK_EQ(r->out, -1);
    CHECK(eddy_join_is_finished(r->jh));
    CHECK_EQ(eddy_join_status(r->jh), -ECANCELED);
    CHECK_EQ(vs[0].polls, 0);
    CHECK_EQ(vs[0].drops, 1);
    eddy_join_detach(r->jh);

    /* C: while pending on something that never wakes. */
    spawn_victim(2, V_PARK, &r->jh);
    YIELD_UNTIL(r, vs[2].polls == 1, 100);
    CHECK_EQ(vs[2].polls, 1);
    CHECK_EQ(eddy_join_status(r->jh), -EAGAIN);
    eddy_join_abort(r->jh);
    r->out = -1;
    EDDY_AWAIT_POLL(&r->out, eddy_join, r->jh);
    CHECK_EQ(r->out, -1);
    CHECK_EQ(eddy_join_status(r->jh), -ECANCELED);
    CHECK_EQ(vs[2].polls, 1);
    CHECK_EQ(vs[2].drops, 1);
    eddy_join_detach(r->jh);

    /* D: a coroutine suspended in a child. */
    {
        struct covictim c;
        eddy_coro_init(&c.co);
        CHECK_OK(eddy_spawn_local(&covictim_vt, &c, &r->jh));
    }
    YIELD_UNTIL(r, co_leaf_slot != NULL, 100);
    CHECK(co_leaf_slot != NULL);
    eddy_join_abort(r->jh);
    EDDY_AWAIT_POLL(NULL, eddy_join, r->jh);
    CHECK_EQ(eddy_join_status(r->jh), -ECANCELED);
    CHECK_EQ(leaf_drops, 1);
    CHECK_EQ(co_cleanup, 1);
    CHECK_EQ(co_dropping, 1);
    CHECK_EQ(co_after, 0);
    eddy_join_detach(r->jh);

    /* J: woken (so queued), then aborted before it runs again. */
    spawn_victim(6, V_PARK, &r->jh);
    YIELD_UNTIL(r, vs[6].polls == 1, 100);
    CHECK_EQ(vs[6].polls, 1);
    eddy_waker_wake_by_ref(vslot[6]); /* queued for a second poll... */
    eddy_join_abort(r->jh);           /* ...which must not happen */
    EDDY_AWAIT_POLL(NULL, eddy_join, r->jh);
    CHECK_EQ(vs[6].polls, 1);
    CHECK_EQ(vs[6].drops, 1);
    eddy_join_detach(r->jh);

    /* G: the task aborts itself, then returns PENDING. */
    spawn_victim(5, V_SELF_ABORT, &self_jh);
    EDDY_AWAIT_POLL(NULL, eddy_join, self_jh);
    CHECK_EQ(eddy_join_status(self_jh), -ECANCELED);
    CHECK_EQ(vs[5].polls, 1);
    CHECK_EQ(vs[5].drops, 1);
    eddy_join_detach(self_jh);
    self_jh = NULL;

    /* H: a task awaiting the aborted one is woken with -ECANCELED. */
    spawn_victim(7, V_PARK, &r->jh);
    {
        struct joiner j = {.target = r->jh};
        eddy_coro_init(&j.co);
        CHECK_OK(eddy_spawn_local(&joiner_vt, &j, &r->jh2));
    }
    YIELD_UNTIL(r, vs[7].polls == 1, 100);
    YIELD_UNTIL(r, 0, 10); /* the joiner is now waiting too */
    CHECK(!eddy_join_is_finished(r->jh2));
    eddy_join_abort(r->jh);
    eddy_join_abort(r->jh); /* F: twice */
    r->out2 = 0;
    EDDY_AWAIT_POLL(&r->out2, eddy_join, r->jh2);
    CHECK_EQ(eddy_join_status(r->jh2), 0);
    CHECK_EQ(r->out2, -ECANCELED);
    CHECK_EQ(vs[7].drops, 1);
    eddy_join_detach(r->jh2);
    eddy_join_detach(r->jh);

    /* E: after completion. */
    spawn_victim(3, V_READY, &r->jh);
    r->out = 0;
    EDDY_AWAIT_POLL(&r->out, eddy_join, r->jh);
    CHECK_EQ(r->out, 503);
    CHECK_EQ(eddy_join_status(r->jh), 0);
    eddy_join_abort(r->jh);
    eddy_join_abort(r->jh);
    YIELD_UNTIL(r, 0, 10);
    CHECK_EQ(eddy_join_status(r->jh), 0);
    CHECK(eddy_join_is_finished(r->jh));
    r->out = 0;
    EDDY_AWAIT_POLL(&r->out, eddy_join, r->jh);
    CHECK_EQ(r->out, 503);
    CHECK_EQ(vs[3].polls, 1);
    CHECK_EQ(vs[3].drops, 1); /* the completed frame's release, not an abort */
    eddy_join_detach(r->jh);
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
    /* B: spawned from outside, aborted before the runtime ever ran. */
    struct victim v = victim(1, V_PARK);
    CHECK_OK(eddy_spawn(rt, &victim_vt, &v, &r.pre));
    eddy_join_abort(r.pre);
    CHECK_EQ(vs[1].polls, 0);

    CHECK_OK(eddy_block_on(rt, &root_vt, &r, NULL));

    eddy_rt_stats st;
    CHECK_OK(eddy_rt_stats_get(rt, &st));
    CHECK_EQ(st.cancelled, 7); /* victims 1, 0, 2, covictim, 6, 5, 7 */
    CHECK_EQ(st.alive, 0);
    for (int i = 0; i < NV; i++)
        CHECK_LE(vs[i].drops, 1);
    eddy_rt_free(rt);
    printf("test_rt_abort: ok\n");
    return 0;
}
