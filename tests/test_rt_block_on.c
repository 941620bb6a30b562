/* eddy_block_on's rules.
 * - nested inside block_on's root, inside a task, and on another runtime
 *   from inside a task: -EDDY_EMISUSE, nothing polled, and the outer
 *   runtime carries on (eddy_rt_current unchanged, spawning still works);
 * - another thread calling block_on on a runtime that is being driven:
 *   -EBUSY (the test's helper does it while the root is parked);
 * - once block_on has returned, another thread may drive the same runtime,
 *   and tasks spawned earlier continue there;
 * - NULL arguments: -EINVAL. */
#include <eddy.h>

#include <pthread.h>

#include "eddy_test.h"

static eddy_rt *rt, *other_rt;
static int inner_polls;

struct inner {
    int x;
};
static eddy_poll inner_poll(struct inner *f, eddy_cx *cx, int *out)
{
    (void)f;
    (void)cx;
    inner_polls++;
    *out = 1;
    return EDDY_READY;
}
static void inner_drop(struct inner *f) { (void)f; }
EDDY_FUTURE_VT(inner_vt, struct inner, int, inner_poll, inner_drop);

static int nested_in_task = 1, nested_other_rt = 1, current_after = 0;

struct task {
    eddy_coro co;
};
static eddy_poll task_poll(struct task *t, eddy_cx *cx, int *out)
{
    EDDY_BEGIN(&t->co, cx);
    {
        struct inner in = {0};
        int o = 0;
        nested_in_task = eddy_block_on(rt, &inner_vt, &in, &o);
        nested_other_rt = eddy_block_on(other_rt, &inner_vt, &in, &o);
        current_after = eddy_rt_current() == rt;
        *out = 42;
    }
    EDDY_END();
}
EDDY_CORO_VT(task_vt, struct task, int, task_poll);

/* ---- the helper thread: tries to drive the busy runtime ----------------- */

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static eddy_waker parked_root; /* filled by the root, taken by the helper */
static int have_waker;
static atomic_int busy_result = 1;

static void *busy_thread(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&mu);
    while (!have_waker)
        pthread_cond_wait(&cv, &mu);
    eddy_waker w = parked_root;
    have_waker = 0;
    pthread_mutex_unlock(&mu);
    struct inner in = {0};
    int o = 0;
    atomic_store(&busy_result, eddy_block_on(rt, &inner_vt, &in, &o)); /* main is driving it */
    eddy_waker_wake(&w);
    return NULL;
}

struct root {
    eddy_coro co;
    eddy_join *jh;
    int out;
    int nested;
    pthread_t th;
};

static eddy_poll root_poll(struct root *r, eddy_cx *cx, void *unused)
{
    (void)unused;
    EDDY_BEGIN(&r->co, cx);
    {
        struct inner in = {0};
        int o = 0;
        r->nested = eddy_block_on(rt, &inner_vt, &in, &o);
        CHECK_EQ(o, 0);
    }
    CHECK(eddy_rt_current() == rt);
    {
        struct task t;
        eddy_coro_init(&t.co);
        CHECK_OK(eddy_spawn_local(&task_vt, &t, &r->jh));
    }
    EDDY_AWAIT_POLL(&r->out, eddy_join, r->jh);
    CHECK_EQ(r->out, 42);
    eddy_join_detach(r->jh);

    /* Park, handing our waker to a thread that first tries to drive us. */
    CHECK_EQ(pthread_create(&r->th, NULL, busy_thread, NULL), 0);
    pthread_mutex_lock(&mu);
    parked_root = eddy_waker_clone(EDDY_WAKER());
    have_waker = 1;
    pthread_cond_signal(&cv);
    pthread_mutex_unlock(&mu);
    EDDY_WAIT_UNTIL(atomic_load(&busy_result) != 1);
    CHECK_EQ(pthread_join(r->th, NULL), 0);
    EDDY_END();
}
EDDY_CORO_VT_VOID(root_vt, struct root, root_poll);

/* ---- driving the runtime from another thread afterwards ----------------- */

static int leftover_polls;
struct leftover {
    int n;
};
static eddy_poll leftover_poll(struct leftover *l, eddy_cx *cx, void *out)
{
    (void)out;
    leftover_polls++;
    if (l->n-- > 0) {
        eddy_waker_wake_by_ref(cx->waker);
        return EDDY_PENDING;
    }
    return EDDY_READY;
}
static void leftover_drop(struct leftover *l) { (void)l; }
EDDY_FUTURE_VT_VOID(leftover_vt, struct leftover, leftover_poll, leftover_drop);

struct until_done {
    eddy_coro co;
    int i;
    eddy_yield y;
};
static eddy_poll until_done_poll(struct until_done *u, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&u->co, cx);
    for (u->i = 0; u->i < 1000 && leftover_polls < 11; u->i++)
        EDDY_AWAIT(NULL, eddy_yield, &u->y);
    EDDY_END();
}
EDDY_CORO_VT_VOID(until_done_vt, struct until_done, until_done_poll);

static int other_thread_result = 1;
static void *drive_thread(void *arg)
{
    (void)arg;
    struct until_done u;
    eddy_coro_init(&u.co);
    other_thread_result = eddy_block_on(rt, &until_done_vt, &u, NULL);
    return NULL;
}

int main(void)
{
    test_watchdog(30);
    CHECK_OK(eddy_rt_new(&rt, NULL));
    CHECK_OK(eddy_rt_new(&other_rt, NULL));
    struct inner in = {0};
    CHECK_EQ(eddy_block_on(NULL, &inner_vt, &in, NULL), -EINVAL);
    CHECK_EQ(eddy_block_on(rt, NULL, &in, NULL), -EINVAL);
    CHECK_EQ(eddy_block_on(rt, &inner_vt, NULL, NULL), -EINVAL);

    struct root r;
    memset(&r, 0, sizeof r);
    CHECK_OK(eddy_block_on(rt, &root_vt, &r, NULL));
    CHECK_EQ(r.nested, -EDDY_EMISUSE);
    CHECK_EQ(nested_in_task, -EDDY_EMISUSE);
    CHECK_EQ(nested_other_rt, -EDDY_EMISUSE);
    CHECK_EQ(current_after, 1);
    CHECK_EQ(busy_result, -EBUSY);
    CHECK_EQ(inner_polls, 0); /* none of the refused calls polled anything */
    CHECK(eddy_rt_current() == NULL);

    /* A task spawned now, run by another thread's block_on. */
    struct leftover l = {10};
    CHECK_OK(eddy_spawn(rt, &leftover_vt, &l, NULL));
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, drive_thread, NULL), 0);
    CHECK_EQ(pthread_join(th, NULL), 0);
    CHECK_EQ(other_thread_result, 0);
    CHECK_EQ(leftover_polls, 11);

    /* And this thread can drive it again. */
    int out = 0;
    CHECK_OK(eddy_block_on(rt, &inner_vt, &in, &out));
    CHECK_EQ(out, 1);
    CHECK_EQ(inner_polls, 1);

    eddy_rt_free(other_rt);
    eddy_rt_free(rt);
    printf("test_rt_block_on: ok\n");
    return 0;
}
