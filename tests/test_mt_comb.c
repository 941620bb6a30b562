/* Combinators on the multi-thread runtime (join_all over join handles is
 * in test_mt_join_waker.c, a reproducer of a runtime bug): select between a channel receive and a
 * sleep (each side winning; the lost receive loses no message), timeout
 * of a future that never completes (real clock: never early, not absurdly
 * late), and JoinSet owned by a task that may move between workers (every
 * task collected once; a set dropped while its tasks are finishing on the
 * other worker, many times: the drop must not free a wake record that a
 * finishing task is still waking - AddressSanitizer reports it if so). */
// eddy-test-timeout: 180
#include <eddy.h>

#include "eddy_test.h"
#include "mt_util.h"

/* A join handle as a child future (the combinators take a vtable). */
struct jfut {
    eddy_join *jh;
};
static eddy_poll jfut_poll(struct jfut *f, eddy_cx *cx, long *out) { return eddy_join_poll(f->jh, cx, out); }
static void jfut_drop(struct jfut *f) { eddy_join_drop(f->jh); }
EDDY_STATIC_FUTURE_VT(jfut_vt, struct jfut, long, jfut_poll, jfut_drop);

static mt_spread g_spread;

/* A task that yields `yields` times (so that both workers are busy at
 * once) and returns n * n. */
struct square {
    eddy_coro co;
    long n, k, yields;
    eddy_yield y;
};
static eddy_poll square_poll(struct square *t, eddy_cx *cx, long *out)
{
    EDDY_BEGIN(&t->co, cx);
    for (t->k = 0; t->k < t->yields; t->k++) {
        mt_spread_note(&g_spread);
        EDDY_AWAIT(NULL, eddy_yield, &t->y);
    }
    *out = t->n * t->n;
    EDDY_END();
}
EDDY_STATIC_CORO_VT(square_vt, struct square, long, square_poll);

/* ==== select: channel receive or sleep ========================================== */

EDDY_STATIC_FUTURE_VT(recv_vt, eddy_mpsc_recv, int, eddy_mpsc_recv_poll, eddy_mpsc_recv_drop);
EDDY_STATIC_FUTURE_VT(sleep_vt, eddy_sleep, int, eddy_sleep_poll, eddy_sleep_drop);

struct sender_task {
    eddy_mpsc_tx *tx;
    long v;
};
static eddy_poll sender_task_poll(struct sender_task *t, eddy_cx *cx, void *out)
{
    (void)cx, (void)out;
    CHECK_OK(eddy_mpsc_try_send(t->tx, &t->v));
    return EDDY_READY;
}
static void sender_task_drop(struct sender_task *t) { (void)t; }
EDDY_STATIC_FUTURE_VT_VOID(sender_task_vt, struct sender_task, sender_task_poll, sender_task_drop);

struct select_task {
    eddy_coro co;
    eddy_mpsc_rx *rx;
    uint64_t sleep_ns;
    eddy_mpsc_recv rcv;
    eddy_sleep sl;
    long v;
    int rc_recv, rc_sleep;
    eddy_child kids[2];
    eddy_select sel;
    size_t won;
    double t0, elapsed;
};

static eddy_poll select_task_poll(struct select_task *t, eddy_cx *cx, size_t *out)
{
    EDDY_BEGIN(&t->co, cx);
    t->v = -1;
    eddy_mpsc_recv_init(&t->rcv, t->rx, &t->v);
    eddy_sleep_init(&t->sl, t->sleep_ns);
    t->kids[0] = EDDY_CHILD(&recv_vt, &t->rcv, &t->rc_recv);
    t->kids[1] = EDDY_CHILD(&sleep_vt, &t->sl, &t->rc_sleep);
    t->t0 = mt_now();
    EDDY_AWAIT(&t->won, eddy_select, &t->sel, t->kids, 2);
    t->elapsed = mt_now() - t->t0;
    if (t->won == 0) {
        CHECK_EQ(t->rc_recv, 0);
        CHECK_EQ(t->v, 42);
    } else {
        CHECK_EQ(t->won, 1);
        /* never early: the sleep's deadline is at least sleep_ns after
         * the select's first poll */
        CHECK_MSG(t->elapsed * 1e9 >= (double)t->sleep_ns - 1e6, "the sleep won after %.3f s", t->elapsed);
    }
    *out = t->won;
    EDDY_END();
}
EDDY_STATIC_CORO_VT(select_task_vt, struct select_task, size_t, select_task_poll);

struct select_root {
    eddy_coro co;
    eddy_rt *rt;
    eddy_mpsc_tx *tx;
    eddy_mpsc_rx *rx;
    eddy_join *sel, *snd;
    size_t won;
    long v;
};

static eddy_poll select_root_poll(struct select_root *t, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&t->co, cx);
    /* 1. A value sent from the other worker wins over a 30 s sleep. */
    CHECK_OK(eddy_spawn(t->rt, &select_task_vt, &(struct select_task){.rx = t->rx, .sleep_ns = EDDY_MS(30000)},
                        &t->sel));
    CHECK_OK(eddy_spawn(t->rt, &sender_task_vt, &(struct sender_task){.tx = t->tx, .v = 42}, &t->snd));
    EDDY_AWAIT_POLL(&t->won, eddy_join, t->sel);
    CHECK_EQ(eddy_join_status(t->sel), 0);
    CHECK_EQ(t->won, 0);
    EDDY_AWAIT_POLL(NULL, eddy_join, t->snd);
    eddy_join_detach(t->sel);
    eddy_join_detach(t->snd);
    /* 2. Nothing sent: the 50 ms sleep wins; the lost receive is dropped,
     * and a value sent afterwards is still there for the next receive. */
    CHECK_OK(eddy_spawn(t->rt, &select_task_vt, &(struct select_task){.rx = t->rx, .sleep_ns = EDDY_MS(50)},
                        &t->sel));
    EDDY_AWAIT_POLL(&t->won, eddy_join, t->sel);
    CHECK_EQ(eddy_join_status(t->sel), 0);
    CHECK_EQ(t->won, 1);
    eddy_join_detach(t->sel);
    t->v = 7;
    CHECK_OK(eddy_mpsc_try_send(t->tx, &t->v));
    t->v = 0;
    CHECK_OK(eddy_mpsc_try_recv(t->rx, &t->v));
    CHECK_EQ(t->v, 7);
    EDDY_END();
}
EDDY_STATIC_CORO_VT_VOID(select_root_vt, struct select_root, select_root_poll);

static void test_select(void)
{
    eddy_rt *rt = mt_new(2, true);
    struct select_root root = {.rt = rt};
    CHECK_OK(eddy_mpsc_new(&root.tx, &root.rx, sizeof(long), 4));
    for (int r = 0; r < 10; r++) {
        root.co = (eddy_coro)EDDY_CORO_INIT;
        CHECK_OK(eddy_block_on(rt, &select_root_vt, &root, NULL));
    }
    eddy_mpsc_tx_drop(root.tx);
    eddy_mpsc_rx_drop(root.rx);
    eddy_rt_free(rt);
}

/* ==== timeout of a pending future ============================================= */

EDDY_STATIC_FUTURE_VT(notified_vt, eddy_notified, int, eddy_notified_poll, eddy_notified_drop);

static eddy_notify g_never = EDDY_NOTIFY_INIT;

struct timeout_task {
    eddy_coro co;
    eddy_notified nf;
    eddy_timeout to;
    int rc, nrc;
    double t0;
};

static eddy_poll timeout_task_poll(struct timeout_task *t, eddy_cx *cx, double *out)
{
    EDDY_BEGIN(&t->co, cx);
    eddy_notified_init(&t->nf, &g_never);
    t->t0 = mt_now();
    EDDY_AWAIT(&t->rc, eddy_timeout, &t->to, EDDY_MS(100), &notified_vt, &t->nf, &t->nrc);
    CHECK_EQ(t->rc, -ETIMEDOUT);
    *out = mt_now() - t->t0;
    EDDY_END();
}
EDDY_STATIC_CORO_VT(timeout_task_vt, struct timeout_task, double, timeout_task_poll);

static void test_timeout(void)
{
    enum { N = 8 };
    eddy_rt *rt = mt_new(2, false);
    eddy_join *jh[N];
    for (int i = 0; i < N; i++)
        CHECK_OK(eddy_spawn(rt, &timeout_task_vt, &(struct timeout_task){0}, &jh[i]));
    /* Collect the elapsed times through the join handles. */
    for (int i = 0; i < N; i++) {
        struct jfut f = {jh[i]};
        double el = 0;
        CHECK_OK(eddy_block_on(rt, &jfut_vt, &f, &el));
        CHECK_EQ(eddy_join_status(jh[i]), 0);
        CHECK_MSG(el >= 0.099, "timeout %d fired early: after %.4f s", i, el);
        CHECK_MSG(el < 5.0, "timeout %d fired after %.3f s", i, el);
        eddy_join_detach(jh[i]);
    }
    /* The pending notified futures were dropped: nobody waits any more, so
     * a notify_one is stored as a permit rather than handed to a ghost. */
    eddy_notify_one(&g_never);
    eddy_notified nf;
    eddy_notified_init(&nf, &g_never);
    eddy_waker_counter c = {0};
    eddy_waker w = eddy_waker_counting(&c);
    eddy_cx cx = {&w, NULL};
    CHECK_EQ(eddy_notified_poll(&nf, &cx, NULL), EDDY_READY);
    eddy_waker_drop(&w);
    eddy_rt_free(rt);
}

/* ==== JoinSet ======================================================================== */

struct set_owner {
    eddy_coro co;
    eddy_joinset set;
    int n, i, rc, seen_n;
    long res, sum;
    uint64_t id;
    unsigned char *seen;
    eddy_joinset_next nx;
};

static eddy_poll set_owner_poll(struct set_owner *t, eddy_cx *cx, long *out)
{
    EDDY_BEGIN(&t->co, cx);
    eddy_joinset_init(&t->set);
    for (t->i = 0; t->i < t->n; t->i++) {
        CHECK_OK(eddy_joinset_spawn(&t->set, &square_vt, &(struct square){.n = t->i, .yields = 200}, &t->id));
        CHECK_EQ(t->id, (uint64_t)t->i);
    }
    for (;;) {
        EDDY_AWAIT(&t->rc, eddy_joinset_next, &t->nx, &t->set, &t->id, &t->res, sizeof t->res);
        if (t->rc == -ENOENT)
            break;
        CHECK_EQ(t->rc, 0);
        CHECK(t->id < (uint64_t)t->n);
        CHECK(!t->seen[t->id]); /* each task exactly once */
        t->seen[t->id] = 1;
        t->seen_n++;
        CHECK_EQ(t->res, (long)(t->id * t->id));
        t->sum += t->res;
    }
    CHECK_EQ(t->seen_n, t->n);
    *out = t->sum;
    EDDY_FINALLY();
    eddy_joinset_drop(&t->set);
    EDDY_DONE();
}
EDDY_STATIC_CORO_VT(set_owner_vt, struct set_owner, long, set_owner_poll);

/* Spawns n quick tasks into a set, collects one, and drops the set while
 * the others are finishing (on either worker). */
struct quick {
    long v;
};
static eddy_poll quick_poll(struct quick *q, eddy_cx *cx, long *out)
{
    (void)cx;
    *out = q->v;
    return EDDY_READY;
}
static void quick_drop(struct quick *q) { (void)q; }
EDDY_STATIC_FUTURE_VT(quick_vt, struct quick, long, quick_poll, quick_drop);

struct set_dropper {
    eddy_coro co;
    eddy_joinset set;
    int n, i, rc;
    long res;
    eddy_joinset_next nx;
};

static eddy_poll set_dropper_poll(struct set_dropper *t, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&t->co, cx);
    eddy_joinset_init(&t->set);
    for (t->i = 0; t->i < t->n; t->i++)
        CHECK_OK(eddy_joinset_spawn(&t->set, &quick_vt, &(struct quick){t->i}, NULL));
    EDDY_AWAIT(&t->rc, eddy_joinset_next, &t->nx, &t->set, NULL, &t->res, sizeof t->res);
    CHECK_EQ(t->rc, 0);
    EDDY_FINALLY();
    eddy_joinset_drop(&t->set); /* the rest are finishing right now */
    EDDY_DONE();
}
EDDY_STATIC_CORO_VT_VOID(set_dropper_vt, struct set_dropper, set_dropper_poll);

static void test_joinset(void)
{
    const int n = 500;
    eddy_rt *rt = mt_new(2, false);
    for (int r = 0; r < 10; r++) {
        memset(&g_spread, 0, sizeof g_spread);
        unsigned char *seen = calloc((size_t)n, 1);
        eddy_join *jh;
        CHECK_OK(eddy_spawn(rt, &set_owner_vt, &(struct set_owner){.n = n, .seen = seen}, &jh));
        struct jfut f = {jh};
        long sum = 0;
        CHECK_OK(eddy_block_on(rt, &jfut_vt, &f, &sum));
        CHECK_EQ(eddy_join_status(jh), 0);
        CHECK_EQ(sum, (long)(n - 1) * n * (2L * n - 1) / 6);
        eddy_join_detach(jh);
        free(seen);
        printf("joinset: %d tasks ran on %d threads\n", n, mt_spread_count(&g_spread));
    }
    const int drops = MT_SCALE(2000);
    for (int r = 0; r < drops; r++) {
        eddy_join *jh;
        CHECK_OK(eddy_spawn(rt, &set_dropper_vt, &(struct set_dropper){.n = 8}, &jh));
        mt_join_all(rt, &jh, 1);
    }
    eddy_rt_free(rt);
}

int main(void)
{
    test_watchdog(170);
    test_select();
    test_timeout();
    test_joinset();
    printf("ok\n");
    return 0;
}
