/* Wakes from another thread reach a runtime that is asleep in its driver.
 * - block_on's root stores a clone of its waker in a mailbox and returns
 *   PENDING; a helper thread, blocked on a condition variable until the
 *   mailbox is filled, wakes it (by value; by reference then drop; through
 *   a clone).  block_on must return, and the root is polled exactly twice.
 *   Repeated 2000 times, so the wake lands both before and after the
 *   runtime parks.
 * - the same with a spawned task's waker (the root awaits its handle).
 * A lost wake-up hangs; the watchdog turns that into a failure. */

// eddy-test-labels: flavors

#include <eddy.h>

#include <pthread.h>

#include "eddy_test.h"

enum { ROOT_ROUNDS = 2000, TASK_ROUNDS = 2000 };

/* ---- the helper thread and its mailbox ------------------------------------ */

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static eddy_waker box;
static int box_full, quit;
static atomic_int handled; /* rounds whose wake was delivered (set before the wake) */
static eddy_rt *rt;

static void mailbox_put(eddy_waker w)
{
    pthread_mutex_lock(&mu);
    CHECK(!box_full);
    box = w;
    box_full = 1;
    pthread_cond_signal(&cv);
    pthread_mutex_unlock(&mu);
}

static void *helper(void *arg)
{
    (void)arg;
    for (long round = 0;; round++) {
        pthread_mutex_lock(&mu);
        while (!box_full && !quit)
            pthread_cond_wait(&cv, &mu);
        if (quit) {
            pthread_mutex_unlock(&mu);
            return NULL;
        }
        eddy_waker w = box;
        box_full = 0;
        pthread_mutex_unlock(&mu);
        atomic_fetch_add(&handled, 1);
        switch (round % 3) {
        case 0:
            eddy_waker_wake(&w);
            break;
        case 1:
            eddy_waker_wake_by_ref(&w);
            eddy_waker_drop(&w);
            break;
        default: {
            eddy_waker c = eddy_waker_clone(&w);
            eddy_waker_drop(&w);
            eddy_waker_wake(&c);
            break;
        }
        }
        CHECK(w.vtable == NULL);
    }
}

/* ---- a future that hands its waker to the helper --------------------------- */

struct handoff {
    int target; /* the value of `handled` that means "woken" */
    int polls;
    int deposited;
};

static eddy_poll handoff_poll(struct handoff *h, eddy_cx *cx, int *out)
{
    h->polls++;
    if (!h->deposited) {
        h->deposited = 1;
        h->target = atomic_load(&handled) + 1;
        mailbox_put(eddy_waker_clone(cx->waker));
        return EDDY_PENDING;
    }
    if (atomic_load(&handled) < h->target)
        return EDDY_PENDING; /* spurious: the helper still holds our clone */
    *out = h->polls;
    return EDDY_READY;
}
static void handoff_drop(struct handoff *h) { (void)h; }
EDDY_FUTURE_VT(handoff_vt, struct handoff, int, handoff_poll, handoff_drop);

static void test_root_waker(void)
{
    for (int round = 0; round < ROOT_ROUNDS; round++) {
        struct handoff h = {0};
        int out = 0;
        CHECK_OK(eddy_block_on(rt, &handoff_vt, &h, &out));
        CHECK_MSG(h.polls == 2, "round %d: root polled %d times", round, h.polls);
        CHECK_EQ(out, 2);
    }
}

/* ---- the same with a spawned task ---------------------------------------- */

struct root {
    eddy_coro co;
    int round;
    int out;
    eddy_join *jh;
};

static eddy_poll root_poll(struct root *r, eddy_cx *cx, void *unused)
{
    (void)unused;
    EDDY_BEGIN(&r->co, cx);
    for (r->round = 0; r->round < TASK_ROUNDS; r->round++) {
        {
            struct handoff h = {0};
            CHECK_OK(eddy_spawn_local(&handoff_vt, &h, &r->jh));
        }
        EDDY_AWAIT_POLL(&r->out, eddy_join, r->jh);
        CHECK_EQ(eddy_join_status(r->jh), 0);
        CHECK_MSG(r->out == 2, "round %d: task polled %d times", r->round, r->out);
        eddy_join_detach(r->jh);
    }
    EDDY_END();
}
EDDY_CORO_VT_VOID(root_vt, struct root, root_poll);

int main(void)
{
    test_watchdog(50);
    CHECK_OK(eddy_rt_new(&rt, test_builder(NULL)));
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, helper, NULL), 0);

    test_root_waker();

    struct root r;
    memset(&r, 0, sizeof r);
    CHECK_OK(eddy_block_on(rt, &root_vt, &r, NULL));

    pthread_mutex_lock(&mu);
    quit = 1;
    pthread_cond_signal(&cv);
    pthread_mutex_unlock(&mu);
    CHECK_EQ(pthread_join(th, NULL), 0);

    eddy_rt_stats st;
    CHECK_OK(eddy_rt_stats_get(rt, &st));
    CHECK_EQ(st.alive, 0);
    CHECK_EQ(st.completed, TASK_ROUNDS);
    CHECK(st.remote_wakes >= TASK_ROUNDS); /* every task wake came from the helper */
    printf("parks: %llu, remote wakes: %llu\n", (unsigned long long)st.parks, (unsigned long long)st.remote_wakes);
    CHECK(st.parks > 0); /* it did go to sleep in the driver */
    eddy_rt_free(rt);
    printf("test_rt_remote_wake: ok\n");
    return 0;
}
