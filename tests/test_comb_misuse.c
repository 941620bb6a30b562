/* Misuse of the combinators is reported, not tolerated: each case runs in
 * a forked child whose stderr goes through a pipe; the child must die of
 * SIGABRT with a message that names the problem.
 *   debug builds (EDDY_DEBUG=1):
 *     - a child whose drop does not release a clone of its waker (the
 *       per-child wakers point into the join: this would be a use after
 *       free the day the clone is woken): caught by the live count when
 *       the join completes, and when it is dropped;
 *     - a join polled again after READY; a join that moved after its first
 *       poll;
 *   every build:
 *     - a select of no children; a try_join child whose output is not a
 *       status; a JoinSet task output larger than the caller's buffer.
 * When EDDY_DEBUG is 0 the debug-only cases are skipped with a note. */
// eddy-test-labels: flavors
#include <eddy.h>

#include <signal.h>
#include <sys/wait.h>

#include "eddy_test.h"

/* ---- a leaf that leaks a waker clone -------------------------------------------- */

static eddy_waker leaked = {0};

struct leaky {
    int polls;
};

static eddy_poll leaky_poll(struct leaky *l, eddy_cx *cx, int *out)
{
    if (l->polls++ == 0) {
        leaked = eddy_waker_clone(cx->waker); /* kept past the drop: the bug */
        eddy_waker_wake_by_ref(cx->waker);
        return EDDY_PENDING;
    }
    *out = 0;
    return EDDY_READY;
}

static void leaky_drop(struct leaky *l) { (void)l; }

EDDY_FUTURE_VT(leaky_vt, struct leaky, int, leaky_poll, leaky_drop);

/* A well-behaved gate. */
struct gate {
    eddy_waker slot;
};

static eddy_poll gate_poll(struct gate *g, eddy_cx *cx, int *out)
{
    (void)out;
    eddy_waker_set(&g->slot, cx->waker);
    return EDDY_PENDING;
}

static void gate_drop(struct gate *g) { eddy_waker_drop(&g->slot); }

EDDY_FUTURE_VT(gate_vt, struct gate, int, gate_poll, gate_drop);

EDDY_UNUSED static void leaked_clone_at_completion(void)
{
    eddy_waker n = eddy_waker_noop();
    eddy_cx cx = {&n, NULL};
    struct leaky l = {0};
    int o;
    eddy_child kids[1] = {EDDY_CHILD(&leaky_vt, &l, &o)};
    eddy_join_all j;
    eddy_join_all_init(&j, kids, 1);
    for (int i = 0; i < 3; i++)
        if (eddy_join_all_poll(&j, &cx, NULL) == EDDY_READY)
            break;
}

EDDY_UNUSED static void leaked_clone_at_drop(void)
{
    eddy_waker n = eddy_waker_noop();
    eddy_cx cx = {&n, NULL};
    struct leaky l = {0};
    struct gate g = {0};
    int o[2];
    eddy_child kids[2] = {EDDY_CHILD(&gate_vt, &g, &o[0]), EDDY_CHILD(&leaky_vt, &l, &o[1])};
    eddy_select s;
    eddy_select_init(&s, kids, 2);
    CHECK_EQ(eddy_select_poll(&s, &cx, NULL), EDDY_PENDING);
    eddy_select_drop(&s);
}

EDDY_UNUSED static void poll_after_ready(void)
{
    eddy_waker n = eddy_waker_noop();
    eddy_cx cx = {&n, NULL};
    eddy_join_all j;
    eddy_join_all_init(&j, NULL, 0);
    CHECK_EQ(eddy_join_all_poll(&j, &cx, NULL), EDDY_READY);
    (void)eddy_join_all_poll(&j, &cx, NULL);
}

EDDY_UNUSED static void moved_join(void)
{
    eddy_waker n = eddy_waker_noop();
    eddy_cx cx = {&n, NULL};
    struct gate g = {0};
    int o;
    eddy_child kids[1] = {EDDY_CHILD(&gate_vt, &g, &o)};
    eddy_join_all a, b;
    eddy_join_all_init(&a, kids, 1);
    CHECK_EQ(eddy_join_all_poll(&a, &cx, NULL), EDDY_PENDING);
    memcpy(&b, &a, sizeof b);
    (void)eddy_join_all_poll(&b, &cx, NULL);
}

static void empty_select(void)
{
    eddy_select s;
    eddy_select_init(&s, NULL, 0);
}

struct odd_out {
    char c[3];
};

static eddy_poll odd_poll(struct gate *g, eddy_cx *cx, struct odd_out *out)
{
    (void)out;
    return gate_poll(g, cx, NULL);
}

EDDY_FUTURE_VT(odd_vt, struct gate, struct odd_out, odd_poll, gate_drop);

static void try_join_not_a_status(void)
{
    struct gate g = {0};
    struct odd_out o;
    eddy_child kids[1] = {EDDY_CHILD(&odd_vt, &g, &o)};
    eddy_try_join_all j;
    eddy_try_join_all_init(&j, kids, 1);
}

/* A task whose output (64 bytes) does not fit the 8 bytes given to next. */
struct big {
    char b[64];
};

static eddy_poll big_poll(struct gate *g, eddy_cx *cx, struct big *out)
{
    (void)g;
    (void)cx;
    memset(out, 7, sizeof *out);
    return EDDY_READY;
}

static void no_drop(struct gate *g) { (void)g; }

EDDY_FUTURE_VT(big_vt, struct gate, struct big, big_poll, no_drop);

struct small_buf {
    eddy_coro co;
    eddy_joinset set;
    eddy_joinset_next nx;
    uint64_t small;
    int rc;
};

static eddy_poll small_buf_poll(struct small_buf *t, eddy_cx *cx, int *out)
{
    EDDY_BEGIN(&t->co, cx);
    eddy_joinset_init(&t->set);
    {
        struct gate g = {0};
        CHECK_OK(eddy_joinset_spawn(&t->set, &big_vt, &g, NULL));
    }
    EDDY_AWAIT(&t->rc, eddy_joinset_next, &t->nx, &t->set, NULL, &t->small, sizeof t->small);
    *out = 0;
    EDDY_END();
}

EDDY_CORO_VT(small_buf_vt, struct small_buf, int, small_buf_poll);

static void joinset_small_buffer(void)
{
    eddy_rt *rt;
    CHECK_OK(eddy_rt_new(&rt, test_builder(NULL)));
    struct small_buf t = {0};
    int out;
    (void)eddy_block_on(rt, &small_buf_vt, &t, &out);
}

int main(void)
{
    test_watchdog(60);
#if EDDY_DEBUG
    test_expect_abort("leaked clone, join completes", leaked_clone_at_completion, "outlived the child");
    test_expect_abort("leaked clone, select dropped", leaked_clone_at_drop, "outlived the child");
    test_expect_abort("poll after READY", poll_after_ready, "polled again after it returned EDDY_READY");
    test_expect_abort("moved join", moved_join, "moved in memory");
#else
    printf("EDDY_DEBUG is 0: debug-only cases skipped\n");
#endif
    test_expect_abort("empty select", empty_select, "never complete");
    test_expect_abort("try_join child without a status", try_join_not_a_status, "status");
    test_expect_abort("JoinSet buffer too small", joinset_small_buffer, "larger than out_cap");
    printf("ok\n");
    return 0;
}
