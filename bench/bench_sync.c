/* bench_sync - synchronisation benchmarks.
 *
 *   lock_internal_uncontended     the primitives' internal lock: acquire +
 *                                 release on one thread
 *   pthread_mutex_uncontended     the same with a pthread_mutex_t (reference)
 *   lock_internal_threads4        4 threads hammering the internal lock (ns
 *                                 per acquire+release, wall clock / total)
 *   pthread_mutex_threads4        the same with pthread_mutex_t
 *   mutex_try_lock_unlock         eddy_mutex_try_lock + eddy_mutex_unlock
 *   mutex_lock_await_uncontended  await eddy_mutex_lock + unlock in a task
 *   semaphore_acquire_uncontended await acquire(1) + release(1) in a task
 *   mutex_contended_tasks_N10     10 tasks x 1,000 lock/unlock each, a yield
 *                                 inside the critical section (ns per
 *                                 lock/unlock, end to end)
 *   mutex_contended_tasks_N10_mt2 the same on a 2-worker multi-thread
 *                                 runtime (the tasks run in parallel)
 *   notify_pingpong_tasks         two tasks take turns via two eddy_notify
 *                                 (ns per round trip)
 *
 * Each runs 7 times; the median is printed, then
 *   RESULT name=<name> ns_per_op=<median> min=.. max=.. reps=7
 * Usage: bench_sync [-q] */
#include <eddy.h>

#define BENCH_NAME "bench_sync"
#include "bench_util.h"

#include "sync/waitq.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int g_quick;
static eddy_rt *g_rt;

static long iters(long full) { return g_quick ? full / 5 : full; }

/* ---- the lock ---------------------------------------------------------------------- */

static eddy__lock g_lk;
static pthread_mutex_t g_pm = PTHREAD_MUTEX_INITIALIZER;
static volatile long g_sink;

static double lock_internal(void)
{
    long n = iters(10000000);
    uint64_t t0 = now_ns();
    for (long i = 0; i < n; i++) {
        eddy__lock_acquire(&g_lk);
        g_sink++;
        eddy__lock_release(&g_lk);
    }
    return (double)(now_ns() - t0) / n;
}

static double lock_pthread(void)
{
    long n = iters(10000000);
    uint64_t t0 = now_ns();
    for (long i = 0; i < n; i++) {
        pthread_mutex_lock(&g_pm);
        g_sink++;
        pthread_mutex_unlock(&g_pm);
    }
    return (double)(now_ns() - t0) / n;
}

#define LT 4
static int g_use_pthread;
static atomic_int g_go;

static void *hammer(void *arg)
{
    long n = (long)arg;
    while (!atomic_load(&g_go))
        sched_yield();
    for (long i = 0; i < n; i++) {
        if (g_use_pthread) {
            pthread_mutex_lock(&g_pm);
            g_sink++;
            pthread_mutex_unlock(&g_pm);
        } else {
            eddy__lock_acquire(&g_lk);
            g_sink++;
            eddy__lock_release(&g_lk);
        }
    }
    return NULL;
}

static double run_threads(int use_pthread)
{
    long n = iters(1000000);
    pthread_t th[LT];
    g_use_pthread = use_pthread;
    atomic_store(&g_go, 0);
    for (int i = 0; i < LT; i++)
        pthread_create(&th[i], NULL, hammer, (void *)n);
    uint64_t t0 = now_ns();
    atomic_store(&g_go, 1);
    for (int i = 0; i < LT; i++)
        pthread_join(th[i], NULL);
    return (double)(now_ns() - t0) / ((double)n * LT);
}
static double lock_internal_threads(void) { return run_threads(0); }
static double lock_pthread_threads(void) { return run_threads(1); }

/* ---- uncontended futures ------------------------------------------------------------ */

static eddy_mutex g_m = EDDY_MUTEX_INIT;
static eddy_semaphore g_s = EDDY_SEMAPHORE_INIT(4);

static double mutex_try(void)
{
    long n = iters(10000000);
    uint64_t t0 = now_ns();
    for (long i = 0; i < n; i++) {
        if (eddy_mutex_try_lock(&g_m) != 0)
            die("try_lock", -EINVAL);
        eddy_mutex_unlock(&g_m);
    }
    return (double)(now_ns() - t0) / n;
}

struct unc {
    eddy_coro co;
    long i, n;
    int rc, sem;
    eddy_mutex_lock lk;
    eddy_semaphore_acquire acq;
};

static eddy_poll unc_poll(struct unc *t, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&t->co, cx);
    for (t->i = 0; t->i < t->n; t->i++) {
        if (t->sem) {
            EDDY_AWAIT(&t->rc, eddy_semaphore_acquire, &t->acq, &g_s, 1);
            eddy_semaphore_release(&g_s, 1);
        } else {
            EDDY_AWAIT(&t->rc, eddy_mutex_lock, &t->lk, &g_m);
            eddy_mutex_unlock(&g_m);
        }
    }
    EDDY_END();
}
EDDY_CORO_VT_VOID(unc_vt, struct unc, unc_poll);

static double run_unc(int sem)
{
    struct unc t;
    memset(&t, 0, sizeof t);
    t.n = iters(5000000);
    t.sem = sem;
    uint64_t t0 = now_ns();
    OK(eddy_block_on(g_rt, &unc_vt, &t, NULL));
    return (double)(now_ns() - t0) / t.n;
}
static double mutex_await(void) { return run_unc(0); }
static double sem_await(void) { return run_unc(1); }

/* ---- contended mutex among tasks ----------------------------------------------------- */

#define NTASKS 10
#define PER_TASK 1000

static long g_shared;

struct locker {
    eddy_coro co;
    int i;
    eddy_mutex_lock lk;
    eddy_yield y;
};

static eddy_poll locker_poll(struct locker *t, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&t->co, cx);
    for (t->i = 0; t->i < PER_TASK; t->i++) {
        EDDY_AWAIT(NULL, eddy_mutex_lock, &t->lk, &g_m);
        g_shared++;
        EDDY_AWAIT(NULL, eddy_yield, &t->y);
        eddy_mutex_unlock(&g_m);
    }
    EDDY_END();
}
EDDY_CORO_VT_VOID(locker_vt, struct locker, locker_poll);

struct joiner {
    eddy_coro co;
    int i;
    eddy_join *jh[NTASKS];
};

static eddy_poll joiner_poll(struct joiner *t, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&t->co, cx);
    for (t->i = 0; t->i < NTASKS; t->i++) {
        EDDY_AWAIT_POLL(NULL, eddy_join, t->jh[t->i]);
        eddy_join_detach(t->jh[t->i]);
    }
    EDDY_END();
}
EDDY_CORO_VT_VOID(joiner_vt, struct joiner, joiner_poll);

static double run_mutex_contended(eddy_rt *rt)
{
    int reps = g_quick ? 2 : 5;
    uint64_t total = 0;
    for (int r = 0; r < reps; r++) {
        struct joiner j;
        memset(&j, 0, sizeof j);
        g_shared = 0;
        uint64_t t0 = now_ns();
        for (int i = 0; i < NTASKS; i++) {
            struct locker l;
            memset(&l, 0, sizeof l);
            OK(eddy_spawn(rt, &locker_vt, &l, &j.jh[i]));
        }
        OK(eddy_block_on(rt, &joiner_vt, &j, NULL));
        total += now_ns() - t0;
        if (g_shared != NTASKS * PER_TASK)
            die("contended count", -EINVAL);
    }
    return (double)total / ((double)reps * NTASKS * PER_TASK);
}
static double mutex_contended(void) { return run_mutex_contended(g_rt); }

static double mutex_contended_mt2(void)
{
    eddy_rt *rt;
    OK(eddy_rt_new(&rt, &(eddy_rt_builder){.flavor = EDDY_RT_MULTI_THREAD, .workers = 2}));
    double r = run_mutex_contended(rt);
    eddy_rt_free(rt);
    return r;
}

/* ---- notify ping-pong ---------------------------------------------------------------- */

static eddy_notify g_n1 = EDDY_NOTIFY_INIT, g_n2 = EDDY_NOTIFY_INIT;

struct np {
    eddy_coro co;
    long i, n;
    int first;
    eddy_notify *mine, *theirs;
    eddy_join *peer;
    eddy_notified nf;
};

static eddy_poll np_poll(struct np *t, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&t->co, cx);
    for (t->i = 0; t->i < t->n; t->i++) {
        if (t->first)
            eddy_notify_one(t->theirs);
        EDDY_AWAIT(NULL, eddy_notified, &t->nf, t->mine);
        if (!t->first)
            eddy_notify_one(t->theirs);
    }
    if (t->peer)
        EDDY_AWAIT_POLL(NULL, eddy_join, t->peer);
    EDDY_END();
}
EDDY_CORO_VT_VOID(np_vt, struct np, np_poll);

static double notify_pingpong(void)
{
    struct np a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    a.n = b.n = iters(500000);
    a.first = 1;
    a.mine = &g_n1;
    a.theirs = &g_n2;
    b.mine = &g_n2;
    b.theirs = &g_n1;
    uint64_t t0 = now_ns();
    OK(eddy_spawn(g_rt, &np_vt, &b, &a.peer));
    OK(eddy_block_on(g_rt, &np_vt, &a, NULL));
    uint64_t dt = now_ns() - t0;
    eddy_join_detach(a.peer);
    return (double)dt / a.n;
}

int main(int argc, char **argv)
{
    g_quick = argc > 1 && strcmp(argv[1], "-q") == 0;
    eddy__lock_init(&g_lk);
    OK(eddy_rt_new(&g_rt, NULL));
    report("lock_internal_uncontended", lock_internal);
    report("pthread_mutex_uncontended", lock_pthread);
    report("lock_internal_threads4", lock_internal_threads);
    report("pthread_mutex_threads4", lock_pthread_threads);
    report("mutex_try_lock_unlock", mutex_try);
    report("mutex_lock_await_uncontended", mutex_await);
    report("semaphore_acquire_uncontended", sem_await);
    report("mutex_contended_tasks_N10", mutex_contended);
    report("mutex_contended_tasks_N10_mt2", mutex_contended_mt2);
    report("notify_pingpong_tasks", notify_pingpong);
    eddy_rt_free(g_rt);
    return 0;
}
