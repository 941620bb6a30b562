/* eddy_notify and eddy_barrier.
 * Notify: a notify_one sent before the wait is stored (one permit, however
 * many calls); notify_one wakes waiters in FIFO order; notify_all wakes the
 * current waiters and futures initialised before it, but not later ones,
 * and stores nothing; a cancelled waiter that notify_one had picked passes
 * the notification on (to the next waiter, or back as the permit); a plain
 * thread notifies a task in a loop without losing a wake-up.
 * Barrier: exactly one leader per generation, several generations, and a
 * cancelled waiter withdraws its arrival. */

#include <eddy.h>

#include "eddy_test.h"

#include <pthread.h>

struct hand {
    eddy_waker_counter c;
    eddy_waker w;
    eddy_cx cx;
    eddy_notified f;
    int out;
};

static void hand_init(struct hand *h, eddy_notify *n)
{
    h->w = eddy_waker_counting(&h->c);
    h->cx = (eddy_cx){&h->w, NULL};
    h->out = -1;
    eddy_notified_init(&h->f, n);
}

static eddy_poll hand_poll(struct hand *h) { return eddy_notified_poll(&h->f, &h->cx, &h->out); }

static void hand_end(struct hand *h)
{
    eddy_notified_drop(&h->f);
    eddy_waker_drop(&h->w);
    CHECK_EQ(eddy_waker_counter_live(&h->c), 0);
}

static long wakes(struct hand *h) { return atomic_load(&h->c.wakes); }

static void test_permit(void)
{
    eddy_notify n = EDDY_NOTIFY_INIT;
    struct hand a, b;
    eddy_notify_one(&n);
    eddy_notify_one(&n); /* still one permit */
    hand_init(&a, &n);
    CHECK_EQ(hand_poll(&a), EDDY_READY);
    CHECK_EQ(a.out, 0);
    hand_init(&b, &n);
    CHECK_EQ(hand_poll(&b), EDDY_PENDING);
    eddy_notify_one(&n);
    CHECK_EQ(wakes(&b), 1);
    CHECK_EQ(hand_poll(&b), EDDY_READY);
    hand_end(&a);
    hand_end(&b);
    /* Nothing stored now. */
    hand_init(&a, &n);
    CHECK_EQ(hand_poll(&a), EDDY_PENDING);
    hand_end(&a);
}

static void test_fifo_and_all(void)
{
    eddy_notify n;
    eddy_notify_init(&n);
    struct hand a, b, c, late;
    hand_init(&a, &n);
    hand_init(&b, &n);
    hand_init(&c, &n);
    CHECK_EQ(hand_poll(&a), EDDY_PENDING);
    CHECK_EQ(hand_poll(&b), EDDY_PENDING);
    eddy_notify_one(&n);
    CHECK_EQ(wakes(&a), 1);
    CHECK_EQ(wakes(&b), 0);
    CHECK_EQ(hand_poll(&a), EDDY_READY);
    /* c was initialised but never polled: notify_all still counts it. */
    eddy_notify_all(&n);
    CHECK_EQ(wakes(&b), 1);
    CHECK_EQ(hand_poll(&b), EDDY_READY);
    CHECK_EQ(hand_poll(&c), EDDY_READY);
    /* notify_all stored no permit: a future made after it waits. */
    hand_init(&late, &n);
    CHECK_EQ(hand_poll(&late), EDDY_PENDING);
    hand_end(&a);
    hand_end(&b);
    hand_end(&c);
    hand_end(&late);
}

static void test_cancel_passes_on(void)
{
    eddy_notify n = EDDY_NOTIFY_INIT;
    struct hand a, b, c;
    hand_init(&a, &n);
    hand_init(&b, &n);
    CHECK_EQ(hand_poll(&a), EDDY_PENDING);
    CHECK_EQ(hand_poll(&b), EDDY_PENDING);
    /* A queued waiter dropped: the next notify goes to b. */
    hand_end(&a);
    eddy_notify_one(&n);
    CHECK_EQ(wakes(&b), 1);
    /* b was picked but is dropped before READY: it passes it on to c ... */
    hand_init(&c, &n);
    CHECK_EQ(hand_poll(&c), EDDY_PENDING);
    hand_end(&b);
    CHECK_EQ(wakes(&c), 1);
    /* ... and c, dropped the same way with nobody left, stores it. */
    hand_end(&c);
    hand_init(&a, &n);
    CHECK_EQ(hand_poll(&a), EDDY_READY);
    hand_end(&a);
    /* A notify_all wake is not passed on. */
    hand_init(&a, &n);
    CHECK_EQ(hand_poll(&a), EDDY_PENDING);
    eddy_notify_all(&n);
    hand_end(&a);
    hand_init(&b, &n);
    CHECK_EQ(hand_poll(&b), EDDY_PENDING);
    hand_end(&b);
}

/* ---- a thread notifies a task -------------------------------------------------- */

#define ROUNDS 20000

static eddy_notify g_n = EDDY_NOTIFY_INIT;
static eddy_semaphore g_ack = EDDY_SEMAPHORE_INIT(1); /* one item in flight */
static atomic_int g_produced, g_consumed;

static void *producer(void *arg)
{
    (void)arg;
    for (int i = 0; i < ROUNDS; i++) {
        /* Wait (parked) until the task consumed the previous item. */
        CHECK_OK(eddy_semaphore_acquire_blocking(&g_ack, 1));
        atomic_fetch_add(&g_produced, 1);
        eddy_notify_one(&g_n);
    }
    return NULL;
}

struct consumer {
    eddy_coro co;
    eddy_notified nf;
};

static eddy_poll consumer_poll(struct consumer *t, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&t->co, cx);
    while (atomic_load(&g_consumed) < ROUNDS) {
        if (atomic_load(&g_produced) > atomic_load(&g_consumed)) {
            atomic_fetch_add(&g_consumed, 1);
            eddy_semaphore_release(&g_ack, 1);
            continue;
        }
        /* The permit makes this race-free: a notify between the check and
         * the wait is stored, not lost. */
        EDDY_AWAIT(NULL, eddy_notified, &t->nf, &g_n);
    }
    EDDY_END();
}
EDDY_CORO_VT_VOID(consumer_vt, struct consumer, consumer_poll);

static void test_thread(void)
{
    eddy_rt *rt;
    CHECK_OK(eddy_rt_new(&rt, test_builder(NULL)));
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, producer, NULL), 0);
    struct consumer c = {0};
    CHECK_OK(eddy_block_on(rt, &consumer_vt, &c, NULL));
    CHECK_EQ(pthread_join(th, NULL), 0);
    CHECK_EQ(atomic_load(&g_consumed), ROUNDS);
    eddy_rt_free(rt);
}

/* ---- barrier --------------------------------------------------------------------- */

#define PARTIES 4
#define GENS 5

static eddy_barrier g_b = EDDY_BARRIER_INIT(PARTIES);
static int g_leaders[GENS];
static int g_passed[GENS];

struct party {
    eddy_coro co;
    int g, leader;
    eddy_barrier_wait bw;
};

static eddy_poll party_poll(struct party *t, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&t->co, cx);
    for (t->g = 0; t->g < GENS; t->g++) {
        EDDY_AWAIT(&t->leader, eddy_barrier_wait, &t->bw, &g_b);
        g_leaders[t->g] += t->leader;
        g_passed[t->g]++;
        /* Nobody can be a generation ahead. */
        if (t->g > 0)
            CHECK_EQ(g_passed[t->g - 1], PARTIES);
    }
    EDDY_END();
}
EDDY_CORO_VT_VOID(party_vt, struct party, party_poll);

struct barrier_root {
    eddy_coro co;
    int i, leader;
    eddy_join *jh[PARTIES];
    eddy_barrier b2;
    eddy_barrier_wait w1, w2;
    eddy_waker_counter c;
    eddy_yield y;
};

static eddy_poll barrier_root_poll(struct barrier_root *t, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&t->co, cx);
    for (t->i = 0; t->i < PARTIES; t->i++) {
        struct party p = {0};
        CHECK_OK(eddy_spawn_local(&party_vt, &p, &t->jh[t->i]));
    }
    for (t->i = 0; t->i < PARTIES; t->i++) {
        EDDY_AWAIT_POLL(NULL, eddy_join, t->jh[t->i]);
        CHECK_EQ(eddy_join_status(t->jh[t->i]), 0);
        eddy_join_detach(t->jh[t->i]);
    }
    for (t->i = 0; t->i < GENS; t->i++) {
        CHECK_EQ(g_leaders[t->i], 1);
        CHECK_EQ(g_passed[t->i], PARTIES);
    }

    /* Cancellation withdraws the arrival: with 2 parties, w1 arrives and
     * is dropped, so w2 alone must still wait. */
    eddy_barrier_init(&t->b2, 2);
    {
        eddy_waker w = eddy_waker_counting(&t->c);
        eddy_cx hcx = {&w, NULL};
        eddy_barrier_wait_init(&t->w1, &t->b2);
        CHECK_EQ(eddy_barrier_wait_poll(&t->w1, &hcx, NULL), EDDY_PENDING);
        eddy_barrier_wait_drop(&t->w1);
        eddy_barrier_wait_init(&t->w2, &t->b2);
        CHECK_EQ(eddy_barrier_wait_poll(&t->w2, &hcx, NULL), EDDY_PENDING);
        eddy_barrier_wait_init(&t->w1, &t->b2);
        CHECK_EQ(eddy_barrier_wait_poll(&t->w1, &hcx, &t->leader), EDDY_READY);
        CHECK_EQ(t->leader, 1);
        t->leader = -1;
        CHECK_EQ(eddy_barrier_wait_poll(&t->w2, &hcx, &t->leader), EDDY_READY);
        CHECK_EQ(t->leader, 0);
        eddy_waker_drop(&w);
        CHECK_EQ(eddy_waker_counter_live(&t->c), 0);
    }
    EDDY_END();
}
EDDY_CORO_VT_VOID(barrier_root_vt, struct barrier_root, barrier_root_poll);

static void test_barrier(void)
{
    eddy_rt *rt;
    CHECK_OK(eddy_rt_new(&rt, test_builder(NULL)));
    struct barrier_root r;
    memset(&r, 0, sizeof r);
    CHECK_OK(eddy_block_on(rt, &barrier_root_vt, &r, NULL));
    eddy_rt_free(rt);
}

int main(void)
{
    test_watchdog(60);
    test_permit();
    test_fifo_and_all();
    test_cancel_passes_on();
    test_thread();
    test_barrier();
    printf("ok\n");
    return 0;
}
