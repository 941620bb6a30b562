/* eddy_mutex: the lock future by hand (counting wakers), FIFO hand-off,
 * cancellation of a queued waiter and of a waiter the lock was already
 * handed to (by hand and via eddy_join_abort), FIFO fairness among tasks
 * that yield inside the critical section, and mutual exclusion between
 * plain threads (eddy_mutex_lock_blocking) and a task. */
#include <eddy.h>

#include "eddy_test.h"

#include <pthread.h>

static eddy_rt *g_rt;

/* ---- by hand ------------------------------------------------------------- */

struct hand {
    eddy_waker_counter c;
    eddy_waker w;
    eddy_cx cx;
    eddy_mutex_lock f;
    int out;
};

static void hand_init(struct hand *h, eddy_mutex *m)
{
    h->w = eddy_waker_counting(&h->c);
    h->cx = (eddy_cx){&h->w, NULL};
    h->out = -1;
    eddy_mutex_lock_init(&h->f, m);
}

static eddy_poll hand_poll(struct hand *h) { return eddy_mutex_lock_poll(&h->f, &h->cx, &h->out); }

static void hand_end(struct hand *h)
{
    eddy_waker_drop(&h->w);
    CHECK_EQ(eddy_waker_counter_live(&h->c), 0);
}

static void test_by_hand(void)
{
    eddy_mutex m = EDDY_MUTEX_INIT;
    struct hand a, b, c;
    hand_init(&a, &m);
    hand_init(&b, &m);
    hand_init(&c, &m);

    CHECK(!eddy_mutex_is_locked(&m));
    CHECK_EQ(hand_poll(&a), EDDY_READY);
    CHECK_EQ(a.out, 0);
    CHECK_EQ(atomic_load(&a.c.clones), 0); /* the fast path keeps no waker */
    CHECK(eddy_mutex_is_locked(&m));
    CHECK_EQ(eddy_mutex_try_lock(&m), -EAGAIN);

    CHECK_EQ(hand_poll(&b), EDDY_PENDING);
    CHECK_EQ(atomic_load(&b.c.clones), 1);
    CHECK_EQ(hand_poll(&b), EDDY_PENDING); /* same waker: no new clone */
    CHECK_EQ(atomic_load(&b.c.clones), 1);
    CHECK_EQ(hand_poll(&c), EDDY_PENDING);

    /* Unlock hands the lock to b (FIFO): it stays locked. */
    eddy_mutex_unlock(&m);
    CHECK_EQ(atomic_load(&b.c.wakes), 1);
    CHECK_EQ(atomic_load(&c.c.wakes), 0);
    CHECK(eddy_mutex_is_locked(&m));
    CHECK_EQ(eddy_mutex_try_lock(&m), -EAGAIN);

    /* b is dropped before it sees READY: the lock goes on to c. */
    eddy_mutex_lock_drop(&b.f);
    CHECK_EQ(atomic_load(&c.c.wakes), 1);
    CHECK(eddy_mutex_is_locked(&m));
    CHECK_EQ(hand_poll(&c), EDDY_READY);
    CHECK_EQ(c.out, 0);
    eddy_mutex_lock_drop(&c.f); /* after READY: no-op */
    CHECK(eddy_mutex_is_locked(&m));
    eddy_mutex_unlock(&m);
    CHECK(!eddy_mutex_is_locked(&m));

    /* A queued waiter dropped: it never gets the lock. */
    eddy_mutex_lock_drop(&a.f);
    hand_init(&a, &m);
    hand_init(&b, &m);
    CHECK_EQ(hand_poll(&a), EDDY_READY);
    CHECK_EQ(hand_poll(&b), EDDY_PENDING);
    eddy_mutex_lock_drop(&b.f);
    CHECK_EQ(atomic_load(&b.c.drops), 1); /* its stored waker was released */
    CHECK_EQ(atomic_load(&b.c.wakes), 0);
    eddy_mutex_unlock(&m);
    CHECK(!eddy_mutex_is_locked(&m));
    CHECK_OK(eddy_mutex_try_lock(&m));
    eddy_mutex_unlock(&m);

    /* Dropping a never-polled future does nothing. */
    eddy_mutex_lock_drop(&a.f);
    hand_init(&c, &m);
    eddy_mutex_lock_drop(&c.f);
    CHECK(!eddy_mutex_is_locked(&m));

    hand_end(&a);
    hand_end(&b);
    hand_end(&c);
}

/* ---- tasks: FIFO fairness with a yield in the critical section ----------- */

#define NTASKS 8
#define ROUNDS 25

static eddy_mutex g_m = EDDY_MUTEX_INIT;
static int g_in_cs;
static int g_order[NTASKS * ROUNDS + 8];
static int g_norder;

struct locker {
    eddy_coro co;
    int id, rounds, i;
    eddy_mutex_lock lk;
    eddy_yield y;
};

static eddy_poll locker_poll(struct locker *t, eddy_cx *cx, int *out)
{
    EDDY_BEGIN(&t->co, cx);
    for (t->i = 0; t->i < t->rounds; t->i++) {
        EDDY_AWAIT(NULL, eddy_mutex_lock, &t->lk, &g_m);
        CHECK(!g_in_cs);
        g_in_cs = 1;
        g_order[g_norder++] = t->id;
        EDDY_AWAIT(NULL, eddy_yield, &t->y);
        g_in_cs = 0;
        eddy_mutex_unlock(&g_m);
    }
    *out = t->id;
    EDDY_END();
}
EDDY_CORO_VT(locker_vt, struct locker, int, locker_poll);

static eddy_join *spawn_locker(int id, int rounds)
{
    struct locker l = {.id = id, .rounds = rounds};
    eddy_join *jh;
    CHECK_OK(eddy_spawn_local(&locker_vt, &l, &jh));
    return jh;
}

struct fair_root {
    eddy_coro co;
    int i, out;
    eddy_join *jh[NTASKS];
};

static eddy_poll fair_root_poll(struct fair_root *t, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&t->co, cx);
    for (t->i = 0; t->i < NTASKS; t->i++)
        t->jh[t->i] = spawn_locker(t->i, ROUNDS);
    for (t->i = 0; t->i < NTASKS; t->i++) {
        EDDY_AWAIT_POLL(&t->out, eddy_join, t->jh[t->i]);
        CHECK_EQ(eddy_join_status(t->jh[t->i]), 0);
        CHECK_EQ(t->out, t->i);
        eddy_join_detach(t->jh[t->i]);
    }
    EDDY_END();
}
EDDY_CORO_VT_VOID(fair_root_vt, struct fair_root, fair_root_poll);

static void test_fifo_fairness(void)
{
    struct fair_root r = {0};
    g_norder = 0;
    CHECK_OK(eddy_block_on(g_rt, &fair_root_vt, &r, NULL));
    CHECK_EQ(g_norder, NTASKS * ROUNDS);
    /* Each unlock hands the lock to the longest waiter, and a task that
     * locks again queues behind everyone: strict round robin. */
    for (int k = 0; k < g_norder; k++)
        CHECK_EQ(g_order[k], k % NTASKS);
    CHECK(!eddy_mutex_is_locked(&g_m));
}

/* ---- abort of tasks blocked in lock ---------------------------------------- */

struct abort_root {
    eddy_coro co;
    int k, out, granted_case;
    eddy_join *b, *c;
    eddy_yield y;
};

static eddy_poll abort_root_poll(struct abort_root *t, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&t->co, cx);
    g_norder = 0;
    CHECK_OK(eddy_mutex_try_lock(&g_m));
    t->b = spawn_locker(100, 1);
    t->c = spawn_locker(200, 1);
    for (t->k = 0; t->k < 3; t->k++)
        EDDY_AWAIT(NULL, eddy_yield, &t->y);
    CHECK(!eddy_join_is_finished(t->b)); /* both wait for the lock */
    CHECK(!eddy_join_is_finished(t->c));
    if (t->granted_case) {
        /* The lock is handed to b, which is aborted before it runs. */
        eddy_mutex_unlock(&g_m);
        eddy_join_abort(t->b);
    } else {
        /* b is aborted while it waits; then the lock is released. */
        eddy_join_abort(t->b);
        for (t->k = 0; t->k < 3; t->k++)
            EDDY_AWAIT(NULL, eddy_yield, &t->y);
        CHECK(eddy_join_is_finished(t->b));
        CHECK(eddy_mutex_is_locked(&g_m)); /* still ours */
        eddy_mutex_unlock(&g_m);
    }
    EDDY_AWAIT_POLL(&t->out, eddy_join, t->b);
    CHECK_EQ(eddy_join_status(t->b), -ECANCELED);
    EDDY_AWAIT_POLL(&t->out, eddy_join, t->c);
    CHECK_EQ(eddy_join_status(t->c), 0);
    eddy_join_detach(t->b);
    eddy_join_detach(t->c);
    /* c got the lock, b never did, and nobody holds it now. */
    CHECK_EQ(g_norder, 1);
    CHECK_EQ(g_order[0], 200);
    CHECK(!eddy_mutex_is_locked(&g_m));
    EDDY_END();
}
EDDY_CORO_VT_VOID(abort_root_vt, struct abort_root, abort_root_poll);

static void test_abort(int granted_case)
{
    struct abort_root r = {.granted_case = granted_case};
    CHECK_OK(eddy_block_on(g_rt, &abort_root_vt, &r, NULL));
}

/* ---- threads and a task -------------------------------------------------------- */

#define THREADS 3
#define PER_THREAD 20000

static eddy_mutex g_tm = EDDY_MUTEX_INIT;
static long g_counter;

static void *thread_main(void *arg)
{
    (void)arg;
    for (int i = 0; i < PER_THREAD; i++) {
        CHECK_OK(eddy_mutex_lock_blocking(&g_tm));
        g_counter++;
        eddy_mutex_unlock(&g_tm);
    }
    return NULL;
}

struct mt_root {
    eddy_coro co;
    int i;
    eddy_mutex_lock lk;
    eddy_yield y;
};

static eddy_poll mt_root_poll(struct mt_root *t, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&t->co, cx);
    for (t->i = 0; t->i < PER_THREAD; t->i++) {
        EDDY_AWAIT(NULL, eddy_mutex_lock, &t->lk, &g_tm);
        g_counter++;
        if (t->i % 512 == 0) {
            /* Blocking on a runtime's thread is refused, not a deadlock. */
            CHECK_EQ(eddy_mutex_lock_blocking(&g_tm), -EDDY_EMISUSE);
            EDDY_AWAIT(NULL, eddy_yield, &t->y); /* hold it across a yield */
        }
        eddy_mutex_unlock(&g_tm);
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
    CHECK_EQ(g_counter, (long)(THREADS + 1) * PER_THREAD);
    CHECK(!eddy_mutex_is_locked(&g_tm));
}

int main(void)
{
    test_watchdog(60);
    test_by_hand();
    CHECK_OK(eddy_rt_new(&g_rt, NULL));
    test_fifo_fairness();
    test_abort(0);
    test_abort(1);
    test_threads();
    eddy_rt_free(g_rt);
    printf("ok\n");
    return 0;
}
