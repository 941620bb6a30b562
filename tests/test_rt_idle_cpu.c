/* An idle runtime uses no CPU: it sleeps in its driver until woken.
 *
 * block_on's root hands a clone of its waker to a helper thread and
 * returns PENDING; the helper waits 200 ms (nanosleep: the delay is what is
 * being measured, not a synchronisation) and wakes it.  The CPU time the
 * runtime's thread consumed across block_on (CLOCK_THREAD_CPUTIME_ID) must
 * stay under a small budget (20 ms: a busy-polling runtime burns ~200 ms),
 * the root must be polled exactly twice, and the wall time must show that
 * it really waited.  Then the same for a spawned task's waker, with the
 * root waiting on the task's join handle. */
#include <eddy.h>

#include <pthread.h>
#include <time.h>

#include "eddy_test.h"

enum { DELAY_MS = 200, CPU_BUDGET_MS = 20 };

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static eddy_waker handed; /* the waker to wake after the delay */
static int have;
static atomic_int fired;

static double now_ms(clockid_t clk)
{
    struct timespec ts;
    CHECK_EQ(clock_gettime(clk, &ts), 0);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void *sleeper_thread(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&mu);
    while (!have)
        pthread_cond_wait(&cv, &mu);
    eddy_waker w = handed;
    have = 0;
    pthread_mutex_unlock(&mu);
    struct timespec d = {0, DELAY_MS * 1000000L};
    while (nanosleep(&d, &d) != 0 && errno == EINTR)
        ;
    atomic_store(&fired, 1);
    eddy_waker_wake(&w);
    return NULL;
}

static void hand_over(const eddy_waker *w)
{
    pthread_mutex_lock(&mu);
    handed = eddy_waker_clone(w);
    have = 1;
    pthread_cond_signal(&cv);
    pthread_mutex_unlock(&mu);
}

/* Parks once, handing its waker over; READY once the helper fired. */
struct idle {
    int polls;
};
static eddy_poll idle_poll(struct idle *f, eddy_cx *cx, int *out)
{
    if (f->polls++ == 0) {
        hand_over(cx->waker);
        return EDDY_PENDING;
    }
    if (!atomic_load(&fired))
        return EDDY_PENDING; /* a spurious poll: the helper still holds the clone */
    *out = f->polls;
    return EDDY_READY;
}
static void idle_drop(struct idle *f) { (void)f; }
EDDY_FUTURE_VT(idle_vt, struct idle, int, idle_poll, idle_drop);

/* The root for the task variant: spawn an idle task, await it. */
struct root {
    eddy_coro co;
    eddy_join *jh;
    int out;
};
static eddy_poll root_poll(struct root *r, eddy_cx *cx, int *out)
{
    EDDY_BEGIN(&r->co, cx);
    {
        struct idle i = {0};
        CHECK_OK(eddy_spawn_local(&idle_vt, &i, &r->jh));
    }
    EDDY_AWAIT_POLL(&r->out, eddy_join, r->jh);
    eddy_join_detach(r->jh);
    *out = r->out;
    EDDY_END();
}
EDDY_CORO_VT(root_vt, struct root, int, root_poll);

static void measure(eddy_rt *rt, const char *what, const eddy_future_vt *vt, void *fut)
{
    atomic_store(&fired, 0);
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, sleeper_thread, NULL), 0);
    eddy_rt_stats before, after;
    CHECK_OK(eddy_rt_stats_get(rt, &before));
    double cpu0 = now_ms(CLOCK_THREAD_CPUTIME_ID);
    double proc0 = now_ms(CLOCK_PROCESS_CPUTIME_ID);
    double wall0 = now_ms(CLOCK_MONOTONIC);
    int out = 0;
    CHECK_OK(eddy_block_on(rt, vt, fut, &out));
    double cpu = now_ms(CLOCK_THREAD_CPUTIME_ID) - cpu0;
    double proc = now_ms(CLOCK_PROCESS_CPUTIME_ID) - proc0;
    double wall = now_ms(CLOCK_MONOTONIC) - wall0;
    CHECK_EQ(pthread_join(th, NULL), 0);
    CHECK_OK(eddy_rt_stats_get(rt, &after));
    printf("%s: waited %.1f ms wall, runtime thread used %.3f ms CPU (process %.3f ms), parks %llu, polls %d\n",
           what, wall, cpu, proc, (unsigned long long)(after.parks - before.parks), out);
    CHECK_MSG(wall >= DELAY_MS - 1, "%s: block_on returned after %.1f ms, before the wake", what, wall);
    CHECK_MSG(cpu < CPU_BUDGET_MS, "%s: the idle runtime thread used %.1f ms of CPU in %.0f ms (budget %d ms)",
              what, cpu, wall, CPU_BUDGET_MS);
    CHECK_MSG(proc < 2 * CPU_BUDGET_MS, "%s: the process used %.1f ms of CPU while idle", what, proc);
    CHECK_EQ(out, 2); /* parked once, woken once, no spurious polls */
    CHECK(after.parks > before.parks);
    CHECK_LE(after.parks - before.parks, 3);
}

int main(void)
{
    test_watchdog(30);
    eddy_rt *rt;
    CHECK_OK(eddy_rt_new(&rt, NULL));

    struct idle f = {0};
    measure(rt, "block_on root", &idle_vt, &f);

    struct root r;
    memset(&r, 0, sizeof r);
    measure(rt, "spawned task", &root_vt, &r);

    eddy_rt_free(rt);
    printf("test_rt_idle_cpu: ok\n");
    return 0;
}
