/* Mutex, RwLock, Semaphore, Notify and Barrier on the multi-thread runtime,
 * with tasks running in parallel on two (and four) workers.
 *
 * Shared data that a primitive is supposed to protect is plain (not
 * atomic): if the primitive failed to exclude, or failed to order the
 * critical sections (release on unlock, acquire on lock, across threads),
 * ThreadSanitizer reports a data race and the sanitizer build fails; the
 * ordinary build still catches most failures through the "inside" checks.
 * Everything observed from several threads for the checks themselves is
 * atomic.  Orders that depend on worker timing are never assumed: where a
 * test needs "A queued before B", it waits until A is seen queued (a
 * counter bumped after A's lock poll returned PENDING) before starting B.
 * Runtimes built with no_steal place the tasks spawned from the main
 * thread on the workers in turn, so "parties on different workers" holds
 * by construction. */
// eddy-test-timeout: 180
#include <eddy.h>

#include "eddy_test.h"
#include "mt_util.h"


/* ==== Mutex: exclusion ==================================================== */

static eddy_mutex g_mu = EDDY_MUTEX_INIT;
static long g_count; /* plain: the mutex protects it */
static int g_inside; /* plain: set only inside the critical section */
static atomic_long g_contended;
static mt_spread g_spread;

struct excl {
    eddy_coro co;
    int rounds, i;
    eddy_mutex_lock lk;
    eddy_yield y;
};

static eddy_poll excl_poll(struct excl *t, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&t->co, cx);
    for (t->i = 0; t->i < t->rounds; t->i++) {
        mt_spread_note(&g_spread);
        if (eddy_mutex_is_locked(&g_mu))
            atomic_fetch_add(&g_contended, 1);
        EDDY_AWAIT(NULL, eddy_mutex_lock, &t->lk, &g_mu);
        CHECK(!g_inside);
        g_inside = 1;
        g_count++;
        /* Now and then hold the lock across a suspension: the task may
         * resume on another worker, and the others queue up behind it. */
        if (t->i % 16 == 0)
            EDDY_AWAIT(NULL, eddy_yield, &t->y);
        CHECK(g_inside);
        g_inside = 0;
        eddy_mutex_unlock(&g_mu);
    }
    EDDY_END();
}
EDDY_STATIC_CORO_VT_VOID(excl_vt, struct excl, excl_poll);

static void test_mutex_exclusion(unsigned workers, bool no_steal)
{
    enum { N = 8 };
    const int rounds = MT_SCALE(4000);
    eddy_rt *rt = mt_new(workers, no_steal);
    g_count = 0;
    atomic_store(&g_contended, 0);
    memset(&g_spread, 0, sizeof g_spread);
    eddy_join *jh[N];
    for (int i = 0; i < N; i++)
        CHECK_OK(eddy_spawn(rt, &excl_vt, &(struct excl){.rounds = rounds}, &jh[i]));
    mt_join_all(rt, jh, N);
    CHECK_EQ(g_count, (long)N * rounds);
    CHECK(!g_inside);
    CHECK(!eddy_mutex_is_locked(&g_mu));
    if (no_steal)
        CHECK_EQ(mt_spread_count(&g_spread), workers); /* round robin: every worker ran lockers */
    printf("mutex exclusion (%u workers%s): %d threads, %ld contended locks\n", workers,
           no_steal ? ", no steal" : "", mt_spread_count(&g_spread), atomic_load(&g_contended));
    eddy_rt_free(rt);
}

/* ==== Mutex: FIFO hand-off across workers ================================= */

static atomic_long g_queued;
static int g_order[64]; /* plain: written under g_mu */
static int g_norder;

struct fifo_locker {
    eddy_coro co;
    int id, announced;
    eddy_mutex_lock lk;
};

static eddy_poll fifo_locker_poll(struct fifo_locker *t, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&t->co, cx);
    eddy_mutex_lock_init(&t->lk, &g_mu);
    EDDY_WAIT_UNTIL(mt_ready_or_announce(eddy_mutex_lock_poll(&t->lk, EDDY_CX(), NULL), &g_queued, &t->announced));
    g_order[g_norder++] = t->id;
    eddy_mutex_unlock(&g_mu);
    EDDY_FINALLY();
    if (EDDY_DROPPING())
        eddy_mutex_lock_drop(&t->lk);
    EDDY_DONE();
}
EDDY_STATIC_CORO_VT_VOID(fifo_locker_vt, struct fifo_locker, fifo_locker_poll);

struct fifo_root {
    eddy_coro co;
    eddy_rt *rt;
    int k, n;
    eddy_join **jh;
    mt_until u;
};

static eddy_poll fifo_root_poll(struct fifo_root *t, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&t->co, cx);
    CHECK_OK(eddy_mutex_try_lock(&g_mu));
    for (t->k = 0; t->k < t->n; t->k++) {
        CHECK_OK(eddy_spawn(t->rt, &fifo_locker_vt, &(struct fifo_locker){.id = t->k}, &t->jh[t->k]));
        /* The next one starts only once this one is in the queue. */
        EDDY_AWAIT(NULL, mt_until, &t->u, &g_queued, t->k + 1, "fifo locker queued");
    }
    eddy_mutex_unlock(&g_mu);
    EDDY_END();
}
EDDY_STATIC_CORO_VT_VOID(fifo_root_vt, struct fifo_root, fifo_root_poll);

static void test_mutex_fifo(void)
{
    enum { K = 6, REPEAT = 30 };
    eddy_rt *rt = mt_new(2, true);
    for (int r = 0; r < REPEAT; r++) {
        eddy_join *jh[K];
        atomic_store(&g_queued, 0);
        g_norder = 0;
        struct fifo_root root = {.rt = rt, .n = K, .jh = jh};
        CHECK_OK(eddy_block_on(rt, &fifo_root_vt, &root, NULL));
        mt_join_all(rt, jh, K);
        CHECK_EQ(g_norder, K);
        for (int i = 0; i < K; i++)
            CHECK_MSG(g_order[i] == i, "round %d: position %d went to waiter %d", r, i, g_order[i]);
        CHECK(!eddy_mutex_is_locked(&g_mu));
    }
    eddy_rt_free(rt);
}

/* ==== Mutex: abort of a waiter ============================================ */

static atomic_int g_got[2]; /* [0] the aborted one (b), [1] the other (c) */

struct abort_locker {
    eddy_coro co;
    int which, announced;
    eddy_mutex_lock lk;
};

static eddy_poll abort_locker_poll(struct abort_locker *t, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&t->co, cx);
    eddy_mutex_lock_init(&t->lk, &g_mu);
    EDDY_WAIT_UNTIL(mt_ready_or_announce(eddy_mutex_lock_poll(&t->lk, EDDY_CX(), NULL), &g_queued, &t->announced));
    CHECK(!g_inside);
    g_inside = 1;
    atomic_fetch_add(&g_got[t->which], 1);
    g_inside = 0;
    eddy_mutex_unlock(&g_mu);
    EDDY_FINALLY();
    if (EDDY_DROPPING())
        eddy_mutex_lock_drop(&t->lk);
    EDDY_DONE();
}
EDDY_STATIC_CORO_VT_VOID(abort_locker_vt, struct abort_locker, abort_locker_poll);

struct abort_root {
    eddy_coro co;
    eddy_rt *rt;
    int granted_case;
    eddy_join *b, *c;
    mt_until u;
};

static eddy_poll abort_root_poll(struct abort_root *t, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&t->co, cx);
    CHECK_OK(eddy_mutex_try_lock(&g_mu));
    CHECK_OK(eddy_spawn(t->rt, &abort_locker_vt, &(struct abort_locker){.which = 0}, &t->b));
    EDDY_AWAIT(NULL, mt_until, &t->u, &g_queued, 1, "b queued");
    CHECK_OK(eddy_spawn(t->rt, &abort_locker_vt, &(struct abort_locker){.which = 1}, &t->c));
    EDDY_AWAIT(NULL, mt_until, &t->u, &g_queued, 2, "c queued");
    if (t->granted_case) {
        /* The lock goes to b; b's worker may poll it (b completes) or the
         * abort may win (b's drop passes the lock on to c). */
        eddy_mutex_unlock(&g_mu);
        eddy_join_abort(t->b);
        EDDY_AWAIT_POLL(NULL, eddy_join, t->b);
    } else {
        /* b is aborted while it waits: it leaves the queue, the lock stays
         * ours, and b never gets it. */
        eddy_join_abort(t->b);
        EDDY_AWAIT_POLL(NULL, eddy_join, t->b);
        CHECK_EQ(eddy_join_status(t->b), -ECANCELED);
        CHECK(eddy_mutex_is_locked(&g_mu));
        CHECK_EQ(atomic_load(&g_got[1]), 0);
        eddy_mutex_unlock(&g_mu);
    }
    EDDY_AWAIT_POLL(NULL, eddy_join, t->c);
    CHECK_EQ(eddy_join_status(t->c), 0);
    EDDY_END();
}
EDDY_STATIC_CORO_VT_VOID(abort_root_vt, struct abort_root, abort_root_poll);

static void test_mutex_abort(void)
{
    const int repeat = MT_SCALE(400);
    eddy_rt *rt = mt_new(2, true);
    int b_won = 0, b_cancelled = 0;
    for (int r = 0; r < repeat; r++) {
        int granted = r % 2;
        atomic_store(&g_queued, 0);
        atomic_store(&g_got[0], 0);
        atomic_store(&g_got[1], 0);
        struct abort_root root = {.rt = rt, .granted_case = granted};
        CHECK_OK(eddy_block_on(rt, &abort_root_vt, &root, NULL));
        int sb = eddy_join_status(root.b);
        /* A cancelled b never held the lock; a completed b held it once.
         * Either way c got it afterwards: the lock was not lost. */
        CHECK(sb == 0 || sb == -ECANCELED);
        CHECK_EQ(atomic_load(&g_got[0]), sb == 0 ? 1 : 0);
        CHECK_EQ(atomic_load(&g_got[1]), 1);
        CHECK(!eddy_mutex_is_locked(&g_mu));
        if (granted && sb == 0)
            b_won++;
        else if (granted)
            b_cancelled++;
        eddy_join_detach(root.b);
        eddy_join_detach(root.c);
    }
    printf("mutex abort after hand-off: b completed %d times, was cancelled %d times\n", b_won, b_cancelled);
    eddy_rt_free(rt);
}

/* ==== RwLock ================================================================ */

static eddy_rwlock g_rw = EDDY_RWLOCK_INIT;
static long g_ra, g_rb; /* plain: writers change both, readers see them equal */
static atomic_int g_readers_in, g_writers_in, g_max_readers;

struct reader {
    eddy_coro co;
    int rounds, i, k;
    eddy_rwlock_read rd;
    eddy_yield y;
};

static eddy_poll reader_poll(struct reader *t, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&t->co, cx);
    for (t->i = 0; t->i < t->rounds; t->i++) {
        EDDY_AWAIT(NULL, eddy_rwlock_read, &t->rd, &g_rw);
        CHECK_EQ(atomic_load(&g_writers_in), 0);
        {
            int n = atomic_fetch_add(&g_readers_in, 1) + 1;
            int m = atomic_load(&g_max_readers);
            while (n > m && !atomic_compare_exchange_weak(&g_max_readers, &m, n))
                ;
        }
        CHECK_EQ(g_ra, g_rb);
        /* Linger a little (bounded) so that readers on the other worker
         * can be seen inside at the same time. */
        for (t->k = 0; t->k < 20 && atomic_load(&g_max_readers) < 2; t->k++)
            EDDY_AWAIT(NULL, eddy_yield, &t->y);
        CHECK_EQ(g_ra, g_rb);
        CHECK_EQ(atomic_load(&g_writers_in), 0);
        atomic_fetch_sub(&g_readers_in, 1);
        eddy_rwlock_read_unlock(&g_rw);
    }
    EDDY_END();
}
EDDY_STATIC_CORO_VT_VOID(reader_vt, struct reader, reader_poll);

struct writer {
    eddy_coro co;
    int rounds, i;
    eddy_rwlock_write wr;
    eddy_yield y;
};

static eddy_poll writer_poll(struct writer *t, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&t->co, cx);
    for (t->i = 0; t->i < t->rounds; t->i++) {
        EDDY_AWAIT(NULL, eddy_rwlock_write, &t->wr, &g_rw);
        CHECK_EQ(atomic_fetch_add(&g_writers_in, 1), 0);
        CHECK_EQ(atomic_load(&g_readers_in), 0);
        g_ra++;
        EDDY_AWAIT(NULL, eddy_yield, &t->y); /* a torn pair is visible to anyone let in now */
        g_rb++;
        CHECK_EQ(atomic_load(&g_readers_in), 0);
        atomic_fetch_sub(&g_writers_in, 1);
        eddy_rwlock_write_unlock(&g_rw);
    }
    EDDY_END();
}
EDDY_STATIC_CORO_VT_VOID(writer_vt, struct writer, writer_poll);

static void test_rwlock(unsigned workers)
{
    enum { R = 4, W = 2 };
    const int rounds = MT_SCALE(2000);
    eddy_rt *rt = mt_new(workers, true);
    g_ra = g_rb = 0;
    atomic_store(&g_max_readers, 0);
    eddy_join *jh[R + W];
    /* Readers first, alternating workers, so that two readers start on
     * two workers before the writers join in. */
    for (int i = 0; i < R; i++)
        CHECK_OK(eddy_spawn(rt, &reader_vt, &(struct reader){.rounds = rounds}, &jh[i]));
    for (int i = 0; i < W; i++)
        CHECK_OK(eddy_spawn(rt, &writer_vt, &(struct writer){.rounds = rounds}, &jh[R + i]));
    mt_join_all(rt, jh, R + W);
    CHECK_EQ(g_ra, (long)W * rounds);
    CHECK_EQ(g_rb, (long)W * rounds);
    CHECK_EQ(atomic_load(&g_readers_in), 0);
    CHECK_OK(eddy_rwlock_try_write(&g_rw)); /* nothing is held any more */
    eddy_rwlock_write_unlock(&g_rw);
    int maxr = atomic_load(&g_max_readers);
    CHECK(maxr <= R);
    if (maxr < 2)
        printf("rwlock (%u workers): never saw two readers inside at once in %d rounds; "
               "concurrency check skipped\n", workers, rounds);
    else
        printf("rwlock (%u workers): up to %d readers inside at once\n", workers, maxr);
    eddy_rt_free(rt);
}

/* ==== Semaphore ============================================================= */

enum { SEM_K = 3 };
static eddy_semaphore g_sem = EDDY_SEMAPHORE_INIT(SEM_K);
static atomic_int g_in_flight, g_max_in_flight;
static atomic_long g_try_ok;

struct permit_user {
    eddy_coro co;
    int id, rounds, i, rc;
    uint32_t n;
    eddy_semaphore_acquire acq;
    eddy_yield y;
};

static eddy_poll permit_user_poll(struct permit_user *t, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&t->co, cx);
    for (t->i = 0; t->i < t->rounds; t->i++) {
        t->n = (uint32_t)((t->id + t->i) % 2 + 1);
        if (t->i % 3 == 0 && eddy_semaphore_try_acquire(&g_sem, t->n) == 0) {
            atomic_fetch_add(&g_try_ok, 1);
        } else {
            EDDY_AWAIT(&t->rc, eddy_semaphore_acquire, &t->acq, &g_sem, t->n);
            CHECK_EQ(t->rc, 0);
        }
        {
            int now = atomic_fetch_add(&g_in_flight, (int)t->n) + (int)t->n;
            CHECK_LE(now, SEM_K);
            int m = atomic_load(&g_max_in_flight);
            while (now > m && !atomic_compare_exchange_weak(&g_max_in_flight, &m, now))
                ;
        }
        EDDY_AWAIT(NULL, eddy_yield, &t->y);
        atomic_fetch_sub(&g_in_flight, (int)t->n);
        eddy_semaphore_release(&g_sem, t->n);
    }
    EDDY_END();
}
EDDY_STATIC_CORO_VT_VOID(permit_user_vt, struct permit_user, permit_user_poll);

static void test_semaphore_limit(unsigned workers)
{
    enum { N = 8 };
    const int rounds = MT_SCALE(3000);
    eddy_rt *rt = mt_new(workers, false);
    atomic_store(&g_max_in_flight, 0);
    atomic_store(&g_try_ok, 0);
    eddy_join *jh[N];
    for (int i = 0; i < N; i++)
        CHECK_OK(eddy_spawn(rt, &permit_user_vt, &(struct permit_user){.id = i, .rounds = rounds}, &jh[i]));
    mt_join_all(rt, jh, N);
    CHECK_EQ(atomic_load(&g_in_flight), 0);
    CHECK_LE(atomic_load(&g_max_in_flight), SEM_K);
    CHECK_EQ(eddy_semaphore_available(&g_sem), SEM_K);
    printf("semaphore (%u workers): at most %d of %d permits in use, %ld try_acquire successes\n", workers,
           atomic_load(&g_max_in_flight), SEM_K, atomic_load(&g_try_ok));
    eddy_rt_free(rt);
}

/* close wakes every waiter, on every worker, with -EDDY_ECLOSED */

static eddy_semaphore g_sem0 = EDDY_SEMAPHORE_INIT(0);
static atomic_long g_closed_seen;

struct closed_waiter {
    eddy_coro co;
    uint32_t n;
    int announced, rc;
    eddy_semaphore_acquire acq;
};

static eddy_poll closed_waiter_poll(struct closed_waiter *t, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&t->co, cx);
    eddy_semaphore_acquire_init(&t->acq, &g_sem0, t->n);
    EDDY_WAIT_UNTIL(
        mt_ready_or_announce(eddy_semaphore_acquire_poll(&t->acq, EDDY_CX(), &t->rc), &g_queued, &t->announced));
    CHECK_EQ(t->rc, -EDDY_ECLOSED);
    atomic_fetch_add(&g_closed_seen, 1);
    EDDY_FINALLY();
    if (EDDY_DROPPING())
        eddy_semaphore_acquire_drop(&t->acq);
    EDDY_DONE();
}
EDDY_STATIC_CORO_VT_VOID(closed_waiter_vt, struct closed_waiter, closed_waiter_poll);

struct close_root {
    eddy_coro co;
    eddy_rt *rt;
    eddy_join **jh;
    int n, i;
    mt_until u;
};

static eddy_poll close_root_poll(struct close_root *t, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&t->co, cx);
    /* The one wanting 2 queues first (the others start only once it is
     * queued), so the single permit released below serves nobody. */
    CHECK_OK(eddy_spawn(t->rt, &closed_waiter_vt, &(struct closed_waiter){.n = 2}, &t->jh[0]));
    EDDY_AWAIT(NULL, mt_until, &t->u, &g_queued, 1, "first semaphore waiter queued");
    for (t->i = 1; t->i < t->n; t->i++)
        CHECK_OK(eddy_spawn(t->rt, &closed_waiter_vt, &(struct closed_waiter){.n = 1}, &t->jh[t->i]));
    EDDY_AWAIT(NULL, mt_until, &t->u, &g_queued, t->n, "semaphore waiters queued");
    eddy_semaphore_release(&g_sem0, 1);
    eddy_semaphore_close(&g_sem0);
    EDDY_END();
}
EDDY_STATIC_CORO_VT_VOID(close_root_vt, struct close_root, close_root_poll);

static void test_semaphore_close(void)
{
    enum { W = 6 };
    eddy_rt *rt = mt_new(2, true);
    atomic_store(&g_queued, 0);
    eddy_join *jh[W];
    struct close_root root = {.rt = rt, .jh = jh, .n = W};
    CHECK_OK(eddy_block_on(rt, &close_root_vt, &root, NULL));
    mt_join_all(rt, jh, W);
    CHECK_EQ(atomic_load(&g_closed_seen), W);
    CHECK_EQ(eddy_semaphore_try_acquire(&g_sem0, 1), -EDDY_ECLOSED);
    CHECK_EQ(eddy_semaphore_available(&g_sem0), 1);
    eddy_rt_free(rt);
}

/* ==== Notify ================================================================ */

static eddy_notify g_ping = EDDY_NOTIFY_INIT, g_pong = EDDY_NOTIFY_INIT;
static long g_ball; /* plain: passed back and forth; each notify orders it */

/* Two tasks on two workers: A notifies ping and waits for pong, B waits for
 * ping and notifies pong.  Whether a notify_one lands before or after the
 * other side waits is up to the workers; either way it must not be lost
 * (a stored permit), or the game stops and the watchdog fires. */
struct player {
    eddy_coro co;
    int first, rounds, i;
    eddy_notified nf;
};

static eddy_poll player_poll(struct player *t, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&t->co, cx);
    for (t->i = 0; t->i < t->rounds; t->i++) {
        if (t->first) {
            CHECK_EQ(g_ball, 2L * t->i);
            g_ball++;
            eddy_notify_one(&g_ping);
            EDDY_AWAIT(NULL, eddy_notified, &t->nf, &g_pong);
        } else {
            EDDY_AWAIT(NULL, eddy_notified, &t->nf, &g_ping);
            CHECK_EQ(g_ball, 2L * t->i + 1);
            g_ball++;
            eddy_notify_one(&g_pong);
        }
    }
    EDDY_END();
}
EDDY_STATIC_CORO_VT_VOID(player_vt, struct player, player_poll);

/* A waiter started after notify_one on another thread completes. */
struct late_waiter {
    eddy_coro co;
    eddy_notified nf;
};

static eddy_poll late_waiter_poll(struct late_waiter *t, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&t->co, cx);
    CHECK_EQ(g_ball, 7);
    EDDY_AWAIT(NULL, eddy_notified, &t->nf, &g_ping);
    EDDY_END();
}
EDDY_STATIC_CORO_VT_VOID(late_waiter_vt, struct late_waiter, late_waiter_poll);

static void test_notify_one(void)
{
    const int rounds = MT_SCALE(20000);
    eddy_rt *rt = mt_new(2, true);

    /* notify_one from the main thread before the waiter exists */
    for (int r = 0; r < 100; r++) {
        g_ball = 7;
        eddy_notify_one(&g_ping);
        eddy_join *jh;
        CHECK_OK(eddy_spawn(rt, &late_waiter_vt, &(struct late_waiter){0}, &jh));
        mt_join_all(rt, &jh, 1);
    }

    g_ball = 0;
    eddy_join *jh[2];
    CHECK_OK(eddy_spawn(rt, &player_vt, &(struct player){.first = 1, .rounds = rounds}, &jh[0]));
    CHECK_OK(eddy_spawn(rt, &player_vt, &(struct player){.first = 0, .rounds = rounds}, &jh[1]));
    mt_join_all(rt, jh, 2);
    CHECK_EQ(g_ball, 2L * rounds);
    eddy_rt_free(rt);
}

/* notify_all wakes every waiter, on both workers */

static eddy_notify g_all = EDDY_NOTIFY_INIT;
static atomic_long g_woken;

struct all_waiter {
    eddy_coro co;
    int announced;
    eddy_notified nf;
};

static eddy_poll all_waiter_poll(struct all_waiter *t, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&t->co, cx);
    eddy_notified_init(&t->nf, &g_all);
    EDDY_WAIT_UNTIL(mt_ready_or_announce(eddy_notified_poll(&t->nf, EDDY_CX(), NULL), &g_queued, &t->announced));
    atomic_fetch_add(&g_woken, 1);
    EDDY_FINALLY();
    if (EDDY_DROPPING())
        eddy_notified_drop(&t->nf);
    EDDY_DONE();
}
EDDY_STATIC_CORO_VT_VOID(all_waiter_vt, struct all_waiter, all_waiter_poll);

struct all_root {
    eddy_coro co;
    int n;
    mt_until u;
};

static eddy_poll all_root_poll(struct all_root *t, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&t->co, cx);
    EDDY_AWAIT(NULL, mt_until, &t->u, &g_queued, t->n, "notify waiters queued");
    CHECK_EQ(atomic_load(&g_woken), 0);
    eddy_notify_all(&g_all);
    EDDY_END();
}
EDDY_STATIC_CORO_VT_VOID(all_root_vt, struct all_root, all_root_poll);

static void test_notify_all(void)
{
    enum { W = 8, REPEAT = 50 };
    eddy_rt *rt = mt_new(2, true);
    for (int r = 0; r < REPEAT; r++) {
        atomic_store(&g_queued, 0);
        atomic_store(&g_woken, 0);
        eddy_join *jh[W];
        for (int i = 0; i < W; i++)
            CHECK_OK(eddy_spawn(rt, &all_waiter_vt, &(struct all_waiter){0}, &jh[i]));
        struct all_root root = {.n = W};
        CHECK_OK(eddy_block_on(rt, &all_root_vt, &root, NULL));
        mt_join_all(rt, jh, W);
        CHECK_EQ(atomic_load(&g_woken), W);
    }
    eddy_rt_free(rt);
}

/* ==== Barrier =============================================================== */

enum { PARTIES = 4, BARRIER_ROUNDS_MAX = 4000 };
static eddy_barrier g_bar = EDDY_BARRIER_INIT(PARTIES);
static atomic_int g_arrived[BARRIER_ROUNDS_MAX], g_leaders[BARRIER_ROUNDS_MAX];
static mt_spread g_bar_spread;

struct party {
    eddy_coro co;
    int rounds, i, leader;
    eddy_barrier_wait bw;
};

static eddy_poll party_poll(struct party *t, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&t->co, cx);
    mt_spread_note(&g_bar_spread);
    for (t->i = 0; t->i < t->rounds; t->i++) {
        atomic_fetch_add(&g_arrived[t->i], 1);
        EDDY_AWAIT(&t->leader, eddy_barrier_wait, &t->bw, &g_bar);
        /* Released only once the whole group arrived. */
        CHECK_EQ(atomic_load(&g_arrived[t->i]), PARTIES);
        if (t->leader)
            atomic_fetch_add(&g_leaders[t->i], 1);
    }
    EDDY_END();
}
EDDY_STATIC_CORO_VT_VOID(party_vt, struct party, party_poll);

static void test_barrier(unsigned workers)
{
    const int rounds = MT_SCALE(BARRIER_ROUNDS_MAX);
    eddy_rt *rt = mt_new(workers, true);
    memset(g_arrived, 0, sizeof g_arrived);
    memset(g_leaders, 0, sizeof g_leaders);
    memset(&g_bar_spread, 0, sizeof g_bar_spread);
    eddy_join *jh[PARTIES];
    for (int i = 0; i < PARTIES; i++)
        CHECK_OK(eddy_spawn(rt, &party_vt, &(struct party){.rounds = rounds}, &jh[i]));
    mt_join_all(rt, jh, PARTIES);
    for (int r = 0; r < rounds; r++)
        CHECK_MSG(atomic_load(&g_leaders[r]) == 1, "round %d had %d leaders", r, atomic_load(&g_leaders[r]));
    CHECK_EQ(mt_spread_count(&g_bar_spread), workers);
    eddy_rt_free(rt);
}

int main(void)
{
    test_watchdog(170);
    test_mutex_exclusion(2, true);
    test_mutex_exclusion(2, false);
    test_mutex_exclusion(4, false);
    test_mutex_fifo();
    test_mutex_abort();
    test_rwlock(2);
    test_rwlock(4);
    test_semaphore_limit(2);
    test_semaphore_limit(4);
    test_semaphore_close();
    test_notify_one();
    test_notify_all();
    test_barrier(2);
    test_barrier(4);
    printf("ok\n");
    return 0;
}
