/* Wakers that outlive what they wake.
 * - A clone of a task's waker kept past the task's completion: waking it
 *   (by reference, by value, through clones; from the runtime's thread and
 *   from another thread while the runtime runs) polls nothing and drops
 *   nothing again; dropping the last clone frees the task block.
 * - Clones that escape the runtime (of a completed task, of a task still
 *   pending at shutdown, and of block_on's waker): after eddy_rt_free they
 *   can be woken and dropped, on this thread and another, harmlessly.
 * ASan reports any use after free, LSan any block never freed. */

#include <eddy.h>

#include <pthread.h>

#include "eddy_test.h"

enum { NT = 8 };
static int polls[NT], drops[NT];

enum tmode { T_READY, T_PARK };

struct t {
    int id;
    enum tmode mode;
    eddy_waker *escape; /* receives a clone of the waker on the first poll */
    eddy_waker slot;
};

static eddy_poll t_poll(struct t *f, eddy_cx *cx, int *out)
{
    polls[f->id]++;
    if (f->escape && f->escape->vtable == NULL)
        *f->escape = eddy_waker_clone(cx->waker);
    if (f->mode == T_READY) {
        *out = 70 + f->id;
        return EDDY_READY;
    }
    eddy_waker_set(&f->slot, cx->waker);
    return EDDY_PENDING;
}
static void t_drop(struct t *f)
{
    drops[f->id]++;
    eddy_waker_drop(&f->slot);
}
EDDY_FUTURE_VT(t_vt, struct t, int, t_poll, t_drop);

static eddy_waker kept_a, kept_b;           /* clones of completed tasks 0 and 1 */
static eddy_waker esc_done, esc_pending;     /* escape the runtime */
static eddy_waker esc_main, esc_main2;       /* block_on's waker, escaped */
static eddy_waker esc_thread_task, esc_thread_main; /* woken by a thread after the free */

static void *wake_by_ref_thread(void *p)
{
    eddy_waker *w = p;
    for (int i = 0; i < 10; i++)
        eddy_waker_wake_by_ref(w);
    return NULL;
}

static void *wake_and_drop_thread(void *p)
{
    (void)p;
    eddy_waker c = eddy_waker_clone(&esc_thread_task);
    eddy_waker_wake(&c);
    eddy_waker_wake_by_ref(&esc_thread_task);
    eddy_waker_wake(&esc_thread_task);
    eddy_waker_wake_by_ref(&esc_thread_main);
    eddy_waker_drop(&esc_thread_main);
    return NULL;
}

struct root {
    eddy_coro co;
    eddy_join *jh;
    int out, i;
    pthread_t th;
    eddy_yield y;
};

static void spawn_t(int id, enum tmode mode, eddy_waker *escape, eddy_join **jh)
{
    struct t f = {id, mode, escape, EDDY_WAKER_EMPTY};
    CHECK_OK(eddy_spawn_local(&t_vt, &f, jh));
}

static eddy_poll root_poll(struct root *r, eddy_cx *cx, void *unused)
{
    (void)unused;
    EDDY_BEGIN(&r->co, cx);
    esc_main = eddy_waker_clone(EDDY_WAKER());
    esc_main2 = eddy_waker_clone(EDDY_WAKER());
    esc_thread_main = eddy_waker_clone(EDDY_WAKER());

    /* Task 0 completes; its clone is kept and woken afterwards. */
    spawn_t(0, T_READY, &kept_a, &r->jh);
    EDDY_AWAIT_POLL(&r->out, eddy_join, r->jh);
    CHECK_EQ(r->out, 70);
    eddy_join_detach(r->jh); /* now kept_a is the last reference */
    CHECK(kept_a.vtable != NULL);
    for (int i = 0; i < 3; i++)
        eddy_waker_wake_by_ref(&kept_a);
    {
        eddy_waker c = eddy_waker_clone(&kept_a);
        eddy_waker_wake(&c);
    }
    /* From another thread, while this runtime is running. */
    CHECK_EQ(pthread_create(&r->th, NULL, wake_by_ref_thread, &kept_a), 0);
    CHECK_EQ(pthread_join(r->th, NULL), 0);
    for (r->i = 0; r->i < 200; r->i++)
        EDDY_AWAIT(NULL, eddy_yield, &r->y); /* let the remote wakes be drained */
    CHECK_EQ(polls[0], 1);
    CHECK_EQ(drops[0], 1);
    eddy_waker_wake(&kept_a); /* by value: releases the last reference */
    CHECK(kept_a.vtable == NULL);

    /* Task 1: same, but the last reference is released by a plain drop
     * while its join handle is still alive, then the handle goes. */
    spawn_t(1, T_READY, &kept_b, &r->jh);
    EDDY_AWAIT_POLL(&r->out, eddy_join, r->jh);
    eddy_waker_wake_by_ref(&kept_b);
    eddy_waker_drop(&kept_b);
    CHECK_EQ(eddy_join_status(r->jh), 0);
    eddy_join_detach(r->jh);
    CHECK_EQ(polls[1], 1);

    /* Clones that will outlive the runtime. */
    spawn_t(2, T_READY, &esc_done, NULL);
    spawn_t(3, T_PARK, &esc_pending, NULL);
    spawn_t(4, T_PARK, &esc_thread_task, NULL);
    for (r->i = 0; r->i < 10 && !(polls[2] && polls[3] && polls[4]); r->i++)
        EDDY_AWAIT(NULL, eddy_yield, &r->y);
    CHECK(polls[2] == 1 && polls[3] == 1 && polls[4] == 1);
    EDDY_END();
}
EDDY_CORO_VT_VOID(root_vt, struct root, root_poll);

int main(void)
{
    test_watchdog(30);
    eddy_rt *rt;
    CHECK_OK(eddy_rt_new(&rt, test_builder(NULL)));
    struct root r;
    memset(&r, 0, sizeof r);
    CHECK_OK(eddy_block_on(rt, &root_vt, &r, NULL));

    /* Between block_on calls, wakes of a pending task are queued... */
    eddy_waker_wake_by_ref(&esc_pending);
    eddy_waker_wake_by_ref(&esc_main);

    eddy_rt_free(rt);
    CHECK_EQ(drops[2], 1);
    CHECK_EQ(drops[3], 1); /* dropped at shutdown, exactly once */
    CHECK_EQ(drops[4], 1);
    CHECK_EQ(polls[3], 1);

    /* ...and after the free every escaped waker is inert. */
    for (int i = 0; i < 3; i++) {
        eddy_waker_wake_by_ref(&esc_done);
        eddy_waker_wake_by_ref(&esc_pending);
        eddy_waker_wake_by_ref(&esc_main);
    }
    eddy_waker c = eddy_waker_clone(&esc_pending);
    eddy_waker_wake(&c);
    c = eddy_waker_clone(&esc_main);
    eddy_waker_wake(&c);
    eddy_waker_wake(&esc_done);
    eddy_waker_drop(&esc_pending);
    eddy_waker_wake(&esc_main);
    eddy_waker_drop(&esc_main2);

    /* The last two, from another thread. */
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, wake_and_drop_thread, NULL), 0);
    CHECK_EQ(pthread_join(th, NULL), 0);
    CHECK(esc_thread_task.vtable == NULL);
    CHECK(esc_thread_main.vtable == NULL);

    for (int i = 0; i < NT; i++) {
        CHECK_LE(drops[i], 1);
        CHECK_LE(polls[i], 1);
    }
    printf("test_rt_wake_after: ok\n");
    return 0;
}
