/* The internal pieces behind every primitive (src/sync/waitq.h): the FIFO
 * and its O(1) removal anywhere, generation-limited release in batches
 * larger than the wake list (with waiters queued between batches left
 * alone), the small lock's mutual exclusion under 4 threads (spin and
 * futex paths), and a wake-all of 1,000 waiters through eddy_notify_all
 * and eddy_semaphore_close. */
#include <eddy.h>

#include "eddy_test.h"
#include "sync/waitq.h"

#include <pthread.h>
#include <sched.h>

static void test_fifo_remove(void)
{
    eddy__waitq q;
    eddy__waiter n[5];
    eddy__waitq_init(&q);
    CHECK(eddy__waitq_empty(&q));
    CHECK(eddy__waitq_pop(&q) == NULL);
    for (int i = 0; i < 5; i++) {
        n[i] = (eddy__waiter)EDDY__WAITER_INIT;
        eddy__waitq_push(&q, &n[i]);
    }
    eddy__waitq_remove(&q, &n[2]); /* middle */
    eddy__waitq_remove(&q, &n[0]); /* head */
    eddy__waitq_remove(&q, &n[4]); /* tail */
    CHECK(eddy__waitq_pop(&q) == &n[1]);
    eddy__waitq_push(&q, &n[0]);
    CHECK(eddy__waitq_pop(&q) == &n[3]);
    CHECK(eddy__waitq_pop(&q) == &n[0]);
    CHECK(eddy__waitq_empty(&q));
    CHECK(q.tail == NULL);
}

#define MANY 100

static void test_release_older(void)
{
    eddy__waitq q;
    eddy__lock lk;
    eddy__wakelist wl;
    eddy__waiter n[MANY];
    eddy_waker_counter c;
    eddy_waker w = eddy_waker_counting(&c);
    eddy__waitq_init(&q);
    eddy__lock_init(&lk);
    eddy__wakelist_init(&wl);
    /* 70 of generation 7 (wrapping past UINT32_MAX is fine), then 30 of 8. */
    for (int i = 0; i < MANY; i++) {
        n[i] = (eddy__waiter)EDDY__WAITER_INIT;
        n[i].arg = i < 70 ? UINT32_MAX : 0;
        eddy__waiter_enqueue(&q, &n[i], &w);
    }
    eddy__lock_acquire(&lk);
    eddy__waitq_release_older(&q, &lk, &wl, 0, EDDY__W_WOKEN);
    eddy__lock_release(&lk);
    eddy__wakelist_wake(&wl);
    CHECK_EQ(atomic_load(&c.wakes), 70);
    for (int i = 0; i < MANY; i++)
        CHECK_EQ(n[i].state, i < 70 ? EDDY__W_WOKEN : EDDY__W_QUEUED);
    CHECK(q.head == &n[70]);
    eddy__lock_acquire(&lk);
    eddy__waitq_release_all(&q, &lk, &wl, EDDY__W_CLOSED);
    eddy__lock_release(&lk);
    eddy__wakelist_wake(&wl);
    CHECK_EQ(atomic_load(&c.wakes), MANY);
    CHECK(eddy__waitq_empty(&q));
    eddy_waker_drop(&w);
    CHECK_EQ(eddy_waker_counter_live(&c), 0);
}

/* ---- the lock under threads ----------------------------------------------------- */

#define THREADS 4
#define ITERS 200000

static eddy__lock g_lk;
static long g_count;  /* plain: only touched with g_lk held */
static int g_inside;

static void *locker(void *arg)
{
    (void)arg;
    for (int i = 0; i < ITERS; i++) {
        eddy__lock_acquire(&g_lk);
        CHECK(!g_inside);
        g_inside = 1;
        g_count++;
        if (i % 1000 == 0)
            sched_yield(); /* get descheduled holding it: waiters sleep */
        g_inside = 0;
        eddy__lock_release(&g_lk);
    }
    return NULL;
}

static void test_lock_threads(void)
{
    pthread_t th[THREADS];
    eddy__lock_init(&g_lk);
    for (int i = 0; i < THREADS; i++)
        CHECK_EQ(pthread_create(&th[i], NULL, locker, NULL), 0);
    for (int i = 0; i < THREADS; i++)
        CHECK_EQ(pthread_join(th[i], NULL), 0);
    CHECK_EQ(g_count, (long)THREADS * ITERS);
    CHECK_EQ(atomic_load(&g_lk.v), 0);
}

/* ---- 1,000 waiters released at once ------------------------------------------------ */

#define CROWD 1000

static void test_crowd(void)
{
    static eddy_notified nf[CROWD];
    static eddy_semaphore_acquire acq[CROWD];
    eddy_notify n = EDDY_NOTIFY_INIT;
    eddy_semaphore s = EDDY_SEMAPHORE_INIT(0);
    eddy_waker_counter c;
    eddy_waker w = eddy_waker_counting(&c);
    eddy_cx cx = {&w, NULL};
    int out;
    for (int i = 0; i < CROWD; i++) {
        eddy_notified_init(&nf[i], &n);
        CHECK_EQ(eddy_notified_poll(&nf[i], &cx, &out), EDDY_PENDING);
        eddy_semaphore_acquire_init(&acq[i], &s, 1);
        CHECK_EQ(eddy_semaphore_acquire_poll(&acq[i], &cx, &out), EDDY_PENDING);
    }
    eddy_notify_all(&n);
    CHECK_EQ(atomic_load(&c.wakes), CROWD);
    eddy_semaphore_close(&s);
    CHECK_EQ(atomic_load(&c.wakes), 2 * CROWD);
    for (int i = 0; i < CROWD; i++) {
        out = -1;
        CHECK_EQ(eddy_notified_poll(&nf[i], &cx, &out), EDDY_READY);
        CHECK_EQ(out, 0);
        CHECK_EQ(eddy_semaphore_acquire_poll(&acq[i], &cx, &out), EDDY_READY);
        CHECK_EQ(out, -EDDY_ECLOSED);
    }
    eddy_waker_drop(&w);
    CHECK_EQ(eddy_waker_counter_live(&c), 0);
}

int main(void)
{
    test_watchdog(60);
    test_fifo_remove();
    test_release_older();
    test_lock_threads();
    test_crowd();
    printf("ok\n");
    return 0;
}
