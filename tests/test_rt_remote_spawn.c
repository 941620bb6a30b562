/* Spawns and wakes from another thread while the runtime alternates
 * between busy and asleep.
 *
 * In each of 200 rounds the root asks a helper thread (through a mutex and
 * condition variable) to spawn 500 detached tasks with eddy_spawn, then
 * waits until all of them ran.  Each task yields once, so the runtime is
 * busy (and takes its periodic non-blocking driver turns) while the helper
 * is still pushing, then runs out of work and parks while the helper's
 * last pushes arrive.  Every task must run exactly once and every round
 * must finish: a remote push that does not wake a parked runtime leaves it
 * asleep with work queued, and the watchdog reports the lost wake-up.
 *
 * Then the same pattern with wakes instead of spawns: 64 tasks park with
 * their wakers published; the helper wakes each of them (by reference)
 * once per round. */

// eddy-test-timeout: 60
#include <eddy.h>

#include <pthread.h>

#include "eddy_test.h"

enum { ROUNDS = 200, PER_ROUND = 500, NWAITERS = 64, WAKE_ROUNDS = 200 };

static eddy_rt *rt;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int request; /* 1: spawn a round; 2: wake the waiters; -1: quit */
static int round_no;

static unsigned char flags[ROUNDS * PER_ROUND];
static long done;
static eddy_waker root_waker; /* the root's, woken by the last task of a round */

struct job {
    int idx;
    int yielded;
};

static eddy_poll job_poll(struct job *j, eddy_cx *cx, void *out)
{
    (void)out;
    if (!j->yielded) {
        j->yielded = 1;
        eddy_waker_wake_by_ref(cx->waker);
        return EDDY_PENDING;
    }
    flags[j->idx]++;
    if (++done % PER_ROUND == 0)
        eddy_waker_wake_by_ref(&root_waker);
    return EDDY_READY;
}
static void job_drop(struct job *j) { (void)j; }
EDDY_FUTURE_VT_VOID(job_vt, struct job, job_poll, job_drop);

/* ---- waiters, woken remotely -------------------------------------------- */

static eddy_waker waiter_wakers[NWAITERS]; /* clones, owned by the helper side */
static atomic_int waiter_polls[NWAITERS];
static atomic_long total_waiter_polls;
static atomic_int wake_round; /* rounds the helper has completed */

struct waiter {
    int id;
    int seen;
};

static eddy_poll waiter_poll(struct waiter *w, eddy_cx *cx, void *out)
{
    (void)out;
    atomic_fetch_add(&waiter_polls[w->id], 1);
    if (w->seen == 0) {
        /* publish a clone once; the helper keeps it */
        waiter_wakers[w->id] = eddy_waker_clone(cx->waker);
    }
    w->seen++;
    atomic_fetch_add(&total_waiter_polls, 1);
    eddy_waker_wake_by_ref(&root_waker); /* no-op once the root dropped it */
    return atomic_load(&wake_round) >= WAKE_ROUNDS ? EDDY_READY : EDDY_PENDING;
}
static void waiter_drop(struct waiter *w) { (void)w; }
EDDY_FUTURE_VT_VOID(waiter_vt, struct waiter, waiter_poll, waiter_drop);

static void *helper(void *arg)
{
    (void)arg;
    for (;;) {
        pthread_mutex_lock(&mu);
        while (request == 0)
            pthread_cond_wait(&cv, &mu);
        int req = request;
        int r = round_no;
        request = 0;
        pthread_mutex_unlock(&mu);
        if (req < 0)
            return NULL;
        if (req == 1) {
            for (int i = 0; i < PER_ROUND; i++) {
                struct job j = {r * PER_ROUND + i, 0};
                CHECK_OK(eddy_spawn(rt, &job_vt, &j, NULL));
            }
        } else {
            atomic_fetch_add(&wake_round, 1);
            for (int i = 0; i < NWAITERS; i++)
                eddy_waker_wake_by_ref(&waiter_wakers[i]);
        }
    }
}

static void ask(int req)
{
    pthread_mutex_lock(&mu);
    request = req;
    pthread_cond_signal(&cv);
    pthread_mutex_unlock(&mu);
}

struct root {
    eddy_coro co;
    int r;
    long target;
    long polls_before;
};

static eddy_poll root_poll(struct root *t, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&t->co, cx);
    eddy_waker_set(&root_waker, EDDY_WAKER());
    for (t->r = 0; t->r < ROUNDS; t->r++) {
        round_no = t->r;
        t->target = (long)(t->r + 1) * PER_ROUND;
        ask(1);
        EDDY_WAIT_UNTIL(done >= t->target);
        CHECK_EQ(done, t->target);
    }

    /* Waiters: spawned locally, woken remotely. */
    for (int i = 0; i < NWAITERS; i++) {
        struct waiter w = {i, 0};
        CHECK_OK(eddy_spawn_local(&waiter_vt, &w, NULL));
    }
    EDDY_WAIT_UNTIL(atomic_load(&total_waiter_polls) >= NWAITERS);
    for (t->r = 0; t->r < WAKE_ROUNDS; t->r++) {
        t->polls_before = atomic_load(&total_waiter_polls);
        ask(2);
        /* Every waiter gets at least one poll per round. */
        EDDY_WAIT_UNTIL(atomic_load(&total_waiter_polls) >= t->polls_before + NWAITERS);
    }
    eddy_waker_drop(&root_waker);
    EDDY_END();
}
EDDY_CORO_VT_VOID(root_vt, struct root, root_poll);

int main(void)
{
    test_watchdog(30); /* a healthy run takes well under a second */
    CHECK_OK(eddy_rt_new(&rt, test_builder(NULL)));
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, helper, NULL), 0);
    struct root r;
    memset(&r, 0, sizeof r);
    CHECK_OK(eddy_block_on(rt, &root_vt, &r, NULL));
    ask(-1);
    CHECK_EQ(pthread_join(th, NULL), 0);

    for (int i = 0; i < ROUNDS * PER_ROUND; i++)
        CHECK_MSG(flags[i] == 1, "task %d ran %d times", i, flags[i]);
    eddy_rt_stats st;
    CHECK_OK(eddy_rt_stats_get(rt, &st));
    printf("parks: %llu, remote wakes: %llu, polls: %llu\n", (unsigned long long)st.parks,
           (unsigned long long)st.remote_wakes, (unsigned long long)st.polls);
    for (int i = 0; i < NWAITERS; i++)
        eddy_waker_drop(&waiter_wakers[i]);
    eddy_rt_free(rt);
    printf("test_rt_remote_spawn: ok\n");
    return 0;
}
