/* eddy_semaphore: acquire n / try_acquire / release; FIFO order, with a
 * large request at the head holding back smaller ones; close (pending and
 * later acquires get -EDDY_ECLOSED); cancellation: a queued acquire leaves
 * without taking anything and lets those behind it in, an acquire that had
 * been handed its permits gives them back (by hand and via
 * eddy_join_abort); FIFO order of tasks; threads with blocking acquires
 * never exceed the permit count. */
#include <eddy.h>

#include "eddy_test.h"

#include <pthread.h>

static eddy_rt *g_rt;

struct hand {
    eddy_waker_counter c;
    eddy_waker w;
    eddy_cx cx;
    eddy_semaphore_acquire f;
    int out;
};

static void hand_init(struct hand *h, eddy_semaphore *s, uint32_t n)
{
    h->w = eddy_waker_counting(&h->c);
    h->cx = (eddy_cx){&h->w, NULL};
    h->out = 12345;
    eddy_semaphore_acquire_init(&h->f, s, n);
}

static eddy_poll hand_poll(struct hand *h) { return eddy_semaphore_acquire_poll(&h->f, &h->cx, &h->out); }

static void hand_end(struct hand *h)
{
    eddy_semaphore_acquire_drop(&h->f);
    eddy_waker_drop(&h->w);
    CHECK_EQ(eddy_waker_counter_live(&h->c), 0);
}

static void test_basic(void)
{
    eddy_semaphore s;
    eddy_semaphore_init(&s, 3);
    CHECK_EQ(eddy_semaphore_available(&s), 3);
    CHECK_OK(eddy_semaphore_try_acquire(&s, 2));
    CHECK_EQ(eddy_semaphore_try_acquire(&s, 2), -EAGAIN);
    CHECK_OK(eddy_semaphore_try_acquire(&s, 1));
    CHECK_EQ(eddy_semaphore_available(&s), 0);
    eddy_semaphore_release(&s, 3);
    CHECK_EQ(eddy_semaphore_available(&s), 3);
    eddy_semaphore_release(&s, 2); /* adding permits */
    CHECK_EQ(eddy_semaphore_available(&s), 5);

    struct hand a;
    hand_init(&a, &s, 0); /* zero permits: at once */
    CHECK_EQ(hand_poll(&a), EDDY_READY);
    CHECK_EQ(a.out, 0);
    hand_end(&a);
    hand_init(&a, &s, 5);
    CHECK_EQ(hand_poll(&a), EDDY_READY);
    CHECK_EQ(a.out, 0);
    CHECK_EQ(eddy_semaphore_available(&s), 0);
    hand_end(&a); /* after READY the permits are ours: drop keeps them */
    CHECK_EQ(eddy_semaphore_available(&s), 0);
    eddy_semaphore_release(&s, 5);
    CHECK_EQ(eddy_semaphore_available(&s), 5);
}

static void test_fifo_head_blocks(void)
{
    eddy_semaphore s = EDDY_SEMAPHORE_INIT(2);
    struct hand big, small;
    CHECK_OK(eddy_semaphore_try_acquire(&s, 2));
    hand_init(&big, &s, 3);
    hand_init(&small, &s, 1);
    CHECK_EQ(hand_poll(&big), EDDY_PENDING);
    CHECK_EQ(hand_poll(&small), EDDY_PENDING);
    /* One permit back: the head wants 3, so nobody is served, and the
     * small request does not overtake it; neither does try_acquire. */
    eddy_semaphore_release(&s, 1);
    CHECK_EQ(atomic_load(&big.c.wakes), 0);
    CHECK_EQ(atomic_load(&small.c.wakes), 0);
    CHECK_EQ(eddy_semaphore_try_acquire(&s, 1), -EAGAIN);
    CHECK_EQ(eddy_semaphore_available(&s), 1);
    eddy_semaphore_release(&s, 1);
    CHECK_EQ(atomic_load(&big.c.wakes), 0);
    eddy_semaphore_release(&s, 2); /* 4 available: big takes 3, small 1 */
    CHECK_EQ(atomic_load(&big.c.wakes), 1);
    CHECK_EQ(atomic_load(&small.c.wakes), 1);
    CHECK_EQ(eddy_semaphore_available(&s), 0);
    CHECK_EQ(hand_poll(&big), EDDY_READY);
    CHECK_EQ(big.out, 0);
    CHECK_EQ(hand_poll(&small), EDDY_READY);
    CHECK_EQ(small.out, 0);
    hand_end(&big);
    hand_end(&small);
    eddy_semaphore_release(&s, 4);
    CHECK_EQ(eddy_semaphore_available(&s), 4);
}

static void test_cancel(void)
{
    eddy_semaphore s = EDDY_SEMAPHORE_INIT(1);
    struct hand big, small, x;
    CHECK_OK(eddy_semaphore_try_acquire(&s, 1));
    /* A queued head that gives up lets the smaller request behind it in. */
    hand_init(&big, &s, 2);
    hand_init(&small, &s, 1);
    CHECK_EQ(hand_poll(&big), EDDY_PENDING);
    CHECK_EQ(hand_poll(&small), EDDY_PENDING);
    eddy_semaphore_release(&s, 1);
    CHECK_EQ(atomic_load(&small.c.wakes), 0);
    hand_end(&big); /* dropped while queued */
    CHECK_EQ(atomic_load(&big.c.wakes), 0);
    CHECK_EQ(atomic_load(&small.c.wakes), 1);
    CHECK_EQ(eddy_semaphore_available(&s), 0);
    /* small was handed its permit but is dropped before it saw READY: the
     * permit goes to the next waiter. */
    hand_init(&x, &s, 1);
    CHECK_EQ(hand_poll(&x), EDDY_PENDING);
    hand_end(&small);
    CHECK_EQ(atomic_load(&x.c.wakes), 1);
    CHECK_EQ(eddy_semaphore_available(&s), 0);
    /* ... and x, dropped the same way with nobody behind, gives it back. */
    hand_end(&x);
    CHECK_EQ(eddy_semaphore_available(&s), 1);
    CHECK_OK(eddy_semaphore_try_acquire(&s, 1));
    eddy_semaphore_release(&s, 1);
}

static void test_close(void)
{
    eddy_semaphore s = EDDY_SEMAPHORE_INIT(1);
    struct hand a, b, c;
    CHECK_OK(eddy_semaphore_try_acquire(&s, 1));
    hand_init(&a, &s, 1);
    hand_init(&b, &s, 1);
    CHECK_EQ(hand_poll(&a), EDDY_PENDING);
    CHECK_EQ(hand_poll(&b), EDDY_PENDING);
    CHECK(!eddy_semaphore_is_closed(&s));
    eddy_semaphore_close(&s);
    CHECK(eddy_semaphore_is_closed(&s));
    CHECK_EQ(atomic_load(&a.c.wakes), 1);
    CHECK_EQ(atomic_load(&b.c.wakes), 1);
    CHECK_EQ(hand_poll(&a), EDDY_READY);
    CHECK_EQ(a.out, -EDDY_ECLOSED);
    CHECK_EQ(hand_poll(&b), EDDY_READY);
    CHECK_EQ(b.out, -EDDY_ECLOSED);
    hand_init(&c, &s, 1);
    CHECK_EQ(hand_poll(&c), EDDY_READY);
    CHECK_EQ(c.out, -EDDY_ECLOSED);
    CHECK_EQ(eddy_semaphore_try_acquire(&s, 1), -EDDY_ECLOSED);
    CHECK_EQ(eddy_semaphore_acquire_blocking(&s, 1), -EDDY_ECLOSED);
    eddy_semaphore_release(&s, 1); /* releasing after close still works */
    CHECK_EQ(eddy_semaphore_available(&s), 1);
    eddy_semaphore_close(&s); /* idempotent */
    hand_end(&a);
    hand_end(&b);
    hand_end(&c);
}

/* ---- tasks: FIFO order, abort ----------------------------------------------- */

static eddy_semaphore g_s;
static int g_order[64];
static int g_norder;

struct taker {
    eddy_coro co;
    int id, rc;
    uint32_t n;
    eddy_semaphore_acquire acq;
    eddy_yield y;
};

static eddy_poll taker_poll(struct taker *t, eddy_cx *cx, int *out)
{
    EDDY_BEGIN(&t->co, cx);
    EDDY_AWAIT(&t->rc, eddy_semaphore_acquire, &t->acq, &g_s, t->n);
    if (t->rc == 0) {
        g_order[g_norder++] = t->id;
        EDDY_AWAIT(NULL, eddy_yield, &t->y);
        eddy_semaphore_release(&g_s, t->n);
    }
    *out = t->rc;
    EDDY_END();
}
EDDY_CORO_VT(taker_vt, struct taker, int, taker_poll);

static eddy_join *spawn_taker(int id, uint32_t n)
{
    struct taker tk = {.id = id, .n = n};
    eddy_join *jh;
    CHECK_OK(eddy_spawn_local(&taker_vt, &tk, &jh));
    return jh;
}

#define NT 10

struct root {
    eddy_coro co;
    int i, out;
    eddy_join *jh[NT];
    eddy_yield y;
};

static eddy_poll fifo_root_poll(struct root *t, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&t->co, cx);
    g_norder = 0;
    eddy_semaphore_init(&g_s, 0);
    /* Requests of mixed sizes; they must be served in arrival order. */
    for (t->i = 0; t->i < NT; t->i++) {
        t->jh[t->i] = spawn_taker(t->i, 1 + (uint32_t)(t->i % 3));
        EDDY_AWAIT(NULL, eddy_yield, &t->y); /* let it queue, in order */
    }
    CHECK_EQ(g_norder, 0);
    eddy_semaphore_release(&g_s, 3);
    for (t->i = 0; t->i < NT; t->i++) {
        EDDY_AWAIT_POLL(&t->out, eddy_join, t->jh[t->i]);
        CHECK_EQ(t->out, 0);
        eddy_join_detach(t->jh[t->i]);
    }
    CHECK_EQ(g_norder, NT);
    for (t->i = 0; t->i < NT; t->i++)
        CHECK_EQ(g_order[t->i], t->i);
    CHECK_EQ(eddy_semaphore_available(&g_s), 3);
    EDDY_END();
}
EDDY_CORO_VT_VOID(fifo_root_vt, struct root, fifo_root_poll);

static eddy_poll abort_root_poll(struct root *t, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&t->co, cx);
    g_norder = 0;
    eddy_semaphore_init(&g_s, 0);
    t->jh[0] = spawn_taker(0, 2); /* aborted while queued */
    t->jh[1] = spawn_taker(1, 1); /* aborted after being handed its permit */
    t->jh[2] = spawn_taker(2, 1);
    for (t->i = 0; t->i < 3; t->i++)
        EDDY_AWAIT(NULL, eddy_yield, &t->y);
    eddy_join_abort(t->jh[0]);
    for (t->i = 0; t->i < 3; t->i++)
        EDDY_AWAIT(NULL, eddy_yield, &t->y);
    CHECK_EQ(eddy_join_status(t->jh[0]), -ECANCELED);
    CHECK_EQ(eddy_semaphore_available(&g_s), 0);
    eddy_semaphore_release(&g_s, 1); /* goes to taker 1 ... */
    eddy_join_abort(t->jh[1]);        /* ... which is cancelled before it runs */
    for (t->i = 0; t->i < 3; t->i++) {
        EDDY_AWAIT_POLL(&t->out, eddy_join, t->jh[t->i]);
        eddy_join_detach(t->jh[t->i]);
    }
    CHECK_EQ(g_norder, 1);
    CHECK_EQ(g_order[0], 2); /* the permit reached taker 2 */
    CHECK_EQ(eddy_semaphore_available(&g_s), 1);
    EDDY_END();
}
EDDY_CORO_VT_VOID(abort_root_vt, struct root, abort_root_poll);

/* ---- threads ------------------------------------------------------------------ */

#define PERMITS 3
#define THREADS 4
#define ITERS 5000

static eddy_semaphore g_ts = EDDY_SEMAPHORE_INIT(PERMITS);
static atomic_int g_inside;
static atomic_int g_max_inside;

static void enter(void)
{
    int now = atomic_fetch_add(&g_inside, 1) + 1;
    CHECK_LE(now, PERMITS);
    int m = atomic_load(&g_max_inside);
    while (now > m && !atomic_compare_exchange_weak(&g_max_inside, &m, now))
        ;
}

static void *thread_main(void *arg)
{
    (void)arg;
    for (int i = 0; i < ITERS; i++) {
        CHECK_OK(eddy_semaphore_acquire_blocking(&g_ts, 1));
        enter();
        atomic_fetch_sub(&g_inside, 1);
        eddy_semaphore_release(&g_ts, 1);
    }
    return NULL;
}

struct mt_root {
    eddy_coro co;
    int i, rc;
    eddy_semaphore_acquire acq;
};

static eddy_poll mt_root_poll(struct mt_root *t, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&t->co, cx);
    for (t->i = 0; t->i < ITERS; t->i++) {
        EDDY_AWAIT(&t->rc, eddy_semaphore_acquire, &t->acq, &g_ts, 2);
        CHECK_EQ(t->rc, 0);
        enter();
        enter();
        atomic_fetch_sub(&g_inside, 2);
        eddy_semaphore_release(&g_ts, 2);
    }
    EDDY_END();
}
EDDY_CORO_VT_VOID(mt_root_vt, struct mt_root, mt_root_poll);

static void test_threads(void)
{
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++)
        CHECK_EQ(pthread_create(&th[i], NULL, thread_main, NULL), 0);
    struct mt_root r = {0};
    CHECK_OK(eddy_block_on(g_rt, &mt_root_vt, &r, NULL));
    for (int i = 0; i < THREADS; i++)
        CHECK_EQ(pthread_join(th[i], NULL), 0);
    CHECK_EQ(eddy_semaphore_available(&g_ts), PERMITS);
    CHECK_LE(atomic_load(&g_max_inside), PERMITS);
}

int main(void)
{
    test_watchdog(60);
    test_basic();
    test_fifo_head_blocks();
    test_cancel();
    test_close();
    CHECK_OK(eddy_rt_new(&g_rt, NULL));
    struct root r = {0};
    CHECK_OK(eddy_block_on(g_rt, &fifo_root_vt, &r, NULL));
    struct root r2 = {0};
    CHECK_OK(eddy_block_on(g_rt, &abort_root_vt, &r2, NULL));
    test_threads();
    eddy_rt_free(g_rt);
    printf("ok\n");
    return 0;
}
