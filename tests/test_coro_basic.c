/* Coroutines (eddy/coro.h): laziness, await chains (values travel up, every
 * PENDING of a leaf becomes exactly one PENDING of the whole chain),
 * EDDY_YIELD, EDDY_WAIT_UNTIL, and EDDY_RETURN from inside a loop running
 * EDDY_FINALLY exactly once.  Polled by hand with the counting waker, then
 * the same coroutines on the runtime (as block_on root and as a task). */

#include <eddy.h>

#include "eddy_test.h"

/* ---- a leaf: PENDING n times (waking itself), then READY with v -------- */

static int leaf_inits, leaf_polls, leaf_drops;

struct leaf {
    int n;
    int v;
};

static void leaf_init(struct leaf *f, int n, int v)
{
    leaf_inits++;
    f->n = n;
    f->v = v;
}

static eddy_poll leaf_poll(struct leaf *f, eddy_cx *cx, int *out)
{
    leaf_polls++;
    if (f->n > 0) {
        f->n--;
        eddy_waker_wake_by_ref(cx->waker);
        return EDDY_PENDING;
    }
    *out = f->v;
    return EDDY_READY;
}

static void leaf_drop(struct leaf *f)
{
    (void)f;
    leaf_drops++;
}

/* ---- sum2(x) = await leaf(1 pending, x) + await leaf(2 pending, 10x) ---- */

struct sum2 {
    eddy_coro co;
    int x, a, b;
    struct leaf l; /* reused: one child at a time */
};

static void sum2_init(struct sum2 *f, int x)
{
    eddy_coro_init(&f->co);
    f->x = x;
}

static eddy_poll sum2_poll(struct sum2 *f, eddy_cx *cx, int *out)
{
    EDDY_BEGIN(&f->co, cx);
    EDDY_AWAIT(&f->a, leaf, &f->l, 1, f->x);
    EDDY_AWAIT(&f->b, leaf, &f->l, 2, 10 * f->x);
    *out = f->a + f->b;
    EDDY_END();
}

static void sum2_drop(struct sum2 *f) { (void)sum2_poll(f, EDDY_CX_DROP, NULL); }

/* ---- chain: for i in 1..3: acc += await sum2(i) ------------------------- */

struct chain {
    eddy_coro co;
    int i, r, acc;
    struct sum2 s;
};

static void chain_init(struct chain *f)
{
    eddy_coro_init(&f->co);
    f->acc = 0;
}

static eddy_poll chain_poll(struct chain *f, eddy_cx *cx, int *out)
{
    EDDY_BEGIN(&f->co, cx);
    for (f->i = 1; f->i <= 3; f->i++) {
        EDDY_AWAIT(&f->r, sum2, &f->s, f->i);
        f->acc += f->r;
    }
    *out = f->acc;
    EDDY_END();
}
EDDY_CORO_VT(chain_vt, struct chain, int, chain_poll);
static void chain_drop(struct chain *f) { (void)chain_poll(f, EDDY_CX_DROP, NULL); }

static void test_chain_by_hand(void)
{
    eddy_waker_counter c;
    eddy_waker w = eddy_waker_counting(&c);
    eddy_cx cx = {&w, NULL};
    struct chain ch;
    int out = -1;

    leaf_inits = leaf_polls = leaf_drops = 0;
    chain_init(&ch);
    /* Lazy: initialising ran none of the body. */
    CHECK_EQ(leaf_inits, 0);
    CHECK_EQ(leaf_polls, 0);
    CHECK(!eddy_coro_done(&ch.co));

    int polls = 0;
    eddy_poll r = EDDY_PENDING;
    while (r == EDDY_PENDING && polls < 100) {
        r = chain_poll(&ch, &cx, &out);
        polls++;
        if (polls == 1) {
            CHECK_EQ(leaf_inits, 1); /* the first poll started exactly one child */
            CHECK_EQ(out, -1);       /* no output before READY */
        }
    }
    CHECK_EQ(r, EDDY_READY);
    CHECK(eddy_coro_done(&ch.co));
    CHECK_EQ(out, 11 * (1 + 2 + 3));
    /* 3 x (1 + 2) leaf PENDINGs, each one PENDING of the chain. */
    CHECK_EQ(polls, 10);
    CHECK_EQ(atomic_load(&c.wakes_by_ref), 9);
    CHECK_EQ(atomic_load(&c.wakes), 9);
    CHECK_EQ(leaf_inits, 6);
    CHECK_EQ(leaf_polls, 6 + 9);
    CHECK_EQ(leaf_drops, 0); /* finished children are not dropped */
    /* Dropping the finished chain is a no-op. */
    chain_vt.drop(&ch);
    CHECK_EQ(leaf_drops, 0);
    CHECK_EQ(atomic_load(&c.clones), 0); /* a waker is only cloned when kept */
    eddy_waker_drop(&w);
    CHECK_EQ(eddy_waker_counter_live(&c), 0);
}

/* ---- EDDY_YIELD -------------------------------------------------------- */

struct yielder {
    eddy_coro co;
    int i, n, steps;
};

static eddy_poll yielder_poll(struct yielder *f, eddy_cx *cx, int *out)
{
    EDDY_BEGIN(&f->co, cx);
    for (f->i = 0; f->i < f->n; f->i++) {
        f->steps++;
        EDDY_YIELD();
    }
    *out = f->steps;
    EDDY_END();
}
EDDY_CORO_VT(yielder_vt, struct yielder, int, yielder_poll);

static void test_yield_by_hand(void)
{
    eddy_waker_counter c;
    eddy_waker w = eddy_waker_counting(&c);
    eddy_cx cx = {&w, NULL};
    struct yielder y = {.n = 5};
    int out = 0;
    for (int i = 0; i < 5; i++) {
        CHECK_EQ(yielder_poll(&y, &cx, &out), EDDY_PENDING);
        CHECK_EQ(atomic_load(&c.wakes_by_ref), i + 1); /* woke itself before PENDING */
        CHECK_EQ(y.steps, i + 1);                      /* one step per poll */
    }
    CHECK_EQ(yielder_poll(&y, &cx, &out), EDDY_READY);
    CHECK_EQ(out, 5);
    CHECK_EQ(atomic_load(&c.wakes), 5);
    eddy_waker_drop(&w);
    CHECK_EQ(eddy_waker_counter_live(&c), 0);
}

/* ---- EDDY_WAIT_UNTIL --------------------------------------------------- */

static int level;           /* the condition's input */
static int cond_evals;      /* how often the condition ran */
static eddy_waker level_waker; /* who waits for level to change */

static bool level_at_least(int n, eddy_cx *cx)
{
    cond_evals++;
    /* Arrange the wake-up before looking, as the contract asks. */
    eddy_waker_set(&level_waker, cx->waker);
    return level >= n;
}

static void level_set(int v)
{
    level = v;
    eddy_waker_wake_by_ref(&level_waker);
}

struct waiter {
    eddy_coro co;
    int target;
    int resumed; /* code after the wait ran */
};

static eddy_poll waiter_poll(struct waiter *f, eddy_cx *cx, int *out)
{
    EDDY_BEGIN(&f->co, cx);
    EDDY_WAIT_UNTIL(level_at_least(f->target, EDDY_CX()));
    f->resumed++;
    eddy_waker_drop(&level_waker);
    *out = level;
    EDDY_END();
}
EDDY_CORO_VT(waiter_vt, struct waiter, int, waiter_poll);

static void test_wait_until_by_hand(void)
{
    eddy_waker_counter c;
    eddy_waker w = eddy_waker_counting(&c);
    eddy_cx cx = {&w, NULL};
    int out = 0;

    level = 0;
    cond_evals = 0;
    struct waiter f = {.target = 3};
    CHECK_EQ(waiter_poll(&f, &cx, &out), EDDY_PENDING);
    CHECK_EQ(cond_evals, 1);
    CHECK_EQ(atomic_load(&c.wakes), 0); /* no busy self-wake */
    level_set(2);
    CHECK_EQ(atomic_load(&c.wakes), 1);
    CHECK_EQ(waiter_poll(&f, &cx, &out), EDDY_PENDING); /* re-evaluated, still false */
    CHECK_EQ(cond_evals, 2);
    CHECK_EQ(f.resumed, 0);
    level_set(3);
    CHECK_EQ(waiter_poll(&f, &cx, &out), EDDY_READY);
    CHECK_EQ(cond_evals, 3);
    CHECK_EQ(f.resumed, 1);
    CHECK_EQ(out, 3);

    /* Already true: no suspension at all. */
    struct waiter g = {.target = 1};
    CHECK_EQ(waiter_poll(&g, &cx, &out), EDDY_READY);
    CHECK_EQ(cond_evals, 4);
    CHECK_EQ(g.resumed, 1);

    eddy_waker_drop(&w);
    CHECK_EQ(eddy_waker_counter_live(&c), 0);
}

/* Sets level to 1, 2, 3, yielding before each step. */
struct setter {
    eddy_coro co;
    int i;
};

static eddy_poll setter_poll(struct setter *f, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&f->co, cx);
    for (f->i = 1; f->i <= 3; f->i++) {
        EDDY_YIELD();
        level_set(f->i);
    }
    EDDY_END();
}
EDDY_CORO_VT_VOID(setter_vt, struct setter, setter_poll);

/* ---- EDDY_RETURN from inside a loop ------------------------------------ */

static int finally_runs, finally_dropping, after_loop;

struct early {
    eddy_coro co;
    int i;
    int stop_at;
};

static eddy_poll early_poll(struct early *f, eddy_cx *cx, int *out)
{
    EDDY_BEGIN(&f->co, cx);
    for (f->i = 0; f->i < 100; f->i++) {
        EDDY_YIELD();
        if (f->i == f->stop_at) {
            *out = f->i;
            EDDY_RETURN();
        }
    }
    after_loop++;
    *out = -1;
    EDDY_FINALLY();
    finally_runs++;
    if (EDDY_DROPPING())
        finally_dropping++;
    EDDY_DONE();
}
EDDY_CORO_VT(early_vt, struct early, int, early_poll);

static void test_early_return_by_hand(void)
{
    eddy_waker n = eddy_waker_noop();
    eddy_cx cx = {&n, NULL};
    struct early f = {.stop_at = 3};
    int out = 0;
    finally_runs = finally_dropping = after_loop = 0;
    int polls = 0;
    eddy_poll r = EDDY_PENDING;
    while (r == EDDY_PENDING && polls < 1000) {
        r = early_poll(&f, &cx, &out);
        polls++;
        if (r == EDDY_PENDING)
            CHECK_EQ(finally_runs, 0);
    }
    CHECK_EQ(r, EDDY_READY);
    CHECK_EQ(polls, 5); /* yields at i = 0, 1, 2, 3; returns on the 5th poll */
    CHECK_EQ(out, 3);
    CHECK_EQ(finally_runs, 1);
    CHECK_EQ(finally_dropping, 0); /* EDDY_DROPPING() is false on completion */
    CHECK_EQ(after_loop, 0);
    CHECK(eddy_coro_done(&f.co));
    /* Dropping after completion does not run the cleanup again. */
    early_vt.drop(&f);
    early_vt.drop(&f);
    CHECK_EQ(finally_runs, 1);
}

/* ---- the same coroutines on the runtime -------------------------------- */

struct root {
    eddy_coro co;
    eddy_join *j1, *j2, *j3;
    int a, b, c, d;
    struct chain ch; /* awaited inline by the root */
};

static eddy_poll root_poll(struct root *f, eddy_cx *cx, int *out)
{
    EDDY_BEGIN(&f->co, cx);
    {
        struct chain ch;
        chain_init(&ch);
        CHECK_OK(eddy_spawn_local(&chain_vt, &ch, &f->j1));
        struct yielder y = {.n = 1000};
        CHECK_OK(eddy_spawn_local(&yielder_vt, &y, &f->j2));
        struct early e = {.stop_at = 7};
        CHECK_OK(eddy_spawn_local(&early_vt, &e, &f->j3));
    }
    chain_init(&f->ch);
    EDDY_AWAIT_POLL(&f->a, chain, &f->ch);
    EDDY_AWAIT_POLL(&f->b, eddy_join, f->j1);
    EDDY_AWAIT_POLL(&f->c, eddy_join, f->j2);
    EDDY_AWAIT_POLL(&f->d, eddy_join, f->j3);
    eddy_join_detach(f->j1);
    eddy_join_detach(f->j2);
    eddy_join_detach(f->j3);
    *out = 1;
    EDDY_END();
}
EDDY_CORO_VT(root_vt, struct root, int, root_poll);

static void test_on_runtime(void)
{
    eddy_rt *rt;
    CHECK_OK(eddy_rt_new(&rt, test_builder(NULL)));
    struct root r = {0};
    int out = 0;
    finally_runs = finally_dropping = after_loop = 0;
    CHECK_OK(eddy_block_on(rt, &root_vt, &r, &out));
    CHECK_EQ(out, 1);
    CHECK_EQ(r.a, 66);
    CHECK_EQ(r.b, 66);
    CHECK_EQ(r.c, 1000);
    CHECK_EQ(r.d, 7);
    CHECK_EQ(finally_runs, 1); /* once, although the runtime also dropped the finished frame */
    CHECK_EQ(finally_dropping, 0);

    /* A waiter as block_on's root (it keeps a clone of block_on's waker),
     * released step by step by a task. */
    level = 0;
    cond_evals = 0;
    struct setter st = {0};
    CHECK_OK(eddy_spawn(rt, &setter_vt, &st, NULL));
    struct waiter wt = {.target = 3};
    out = -1;
    CHECK_OK(eddy_block_on(rt, &waiter_vt, &wt, &out));
    CHECK_EQ(out, 3);
    CHECK_EQ(wt.resumed, 1);
    /* Polled at the start and after wakes; the scheduler may run the task
     * several times before it re-polls the root, so 2..4 evaluations. */
    CHECK(cond_evals >= 2 && cond_evals <= 4);
    CHECK(level_waker.vtable == NULL);
    eddy_rt_free(rt);
}

int main(void)
{
    test_watchdog(30);
    test_chain_by_hand();
    test_yield_by_hand();
    test_wait_until_by_hand();
    test_early_return_by_hand();
    test_on_runtime();
    printf("test_coro_basic: ok\n");
    return 0;
}
