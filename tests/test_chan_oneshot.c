/* oneshot: send before and after the receive started; sender dropped
 * without sending (-EDDY_ECLOSED); receiver dropped (send fails, value
 * kept); a cancelled receive loses nothing (by hand and via
 * eddy_join_abort); zero-size signals; a thread sends to a task and a task
 * to a thread (eddy_oneshot_recv_blocking), 2,000 channels each way. */

#include <eddy.h>

#include "eddy_test.h"

#include <pthread.h>

struct hr {
    eddy_waker_counter c;
    eddy_waker w;
    eddy_cx cx;
    eddy_oneshot_recv f;
    long v;
    int out;
};

static void hr_init(struct hr *h, eddy_oneshot_rx *rx)
{
    h->w = eddy_waker_counting(&h->c);
    h->cx = (eddy_cx){&h->w, NULL};
    h->v = -1;
    h->out = 12345;
    eddy_oneshot_recv_init(&h->f, rx, &h->v);
}
static eddy_poll hr_poll(struct hr *h) { return eddy_oneshot_recv_poll(&h->f, &h->cx, &h->out); }
static void hr_end(struct hr *h)
{
    eddy_oneshot_recv_drop(&h->f);
    eddy_waker_drop(&h->w);
    CHECK_EQ(eddy_waker_counter_live(&h->c), 0);
}

static void test_by_hand(void)
{
    eddy_oneshot_tx *tx;
    eddy_oneshot_rx *rx;
    long v = 7;
    struct hr r;

    /* Sent before the receive. */
    CHECK_OK(eddy_oneshot_new(&tx, &rx, sizeof(long)));
    CHECK(!eddy_oneshot_tx_is_closed(tx));
    CHECK_EQ(eddy_oneshot_try_recv(rx, &v), -EAGAIN);
    v = 7;
    CHECK_OK(eddy_oneshot_send(tx, &v));
    hr_init(&r, rx);
    CHECK_EQ(hr_poll(&r), EDDY_READY);
    CHECK_EQ(r.out, 0);
    CHECK_EQ(r.v, 7);
    hr_end(&r);
    CHECK_EQ(eddy_oneshot_try_recv(rx, &v), -EDDY_ECLOSED); /* taken */
    eddy_oneshot_rx_drop(rx);

    /* Receive waiting, then the send wakes it. */
    CHECK_OK(eddy_oneshot_new(&tx, &rx, sizeof(long)));
    hr_init(&r, rx);
    CHECK_EQ(hr_poll(&r), EDDY_PENDING);
    CHECK_EQ(hr_poll(&r), EDDY_PENDING);
    CHECK_EQ(atomic_load(&r.c.clones), 1);
    v = 8;
    CHECK_OK(eddy_oneshot_send(tx, &v));
    CHECK_EQ(atomic_load(&r.c.wakes), 1);
    CHECK_EQ(hr_poll(&r), EDDY_READY);
    CHECK_EQ(r.v, 8);
    hr_end(&r);
    eddy_oneshot_rx_drop(rx);

    /* Sender dropped without sending. */
    CHECK_OK(eddy_oneshot_new(&tx, &rx, sizeof(long)));
    hr_init(&r, rx);
    CHECK_EQ(hr_poll(&r), EDDY_PENDING);
    eddy_oneshot_tx_drop(tx);
    CHECK_EQ(atomic_load(&r.c.wakes), 1);
    CHECK_EQ(hr_poll(&r), EDDY_READY);
    CHECK_EQ(r.out, -EDDY_ECLOSED);
    hr_end(&r);
    eddy_oneshot_rx_drop(rx);

    /* Receiver dropped: the send fails and the value is untouched. */
    CHECK_OK(eddy_oneshot_new(&tx, &rx, sizeof(long)));
    eddy_oneshot_rx_drop(rx);
    CHECK(eddy_oneshot_tx_is_closed(tx));
    v = 9;
    CHECK_EQ(eddy_oneshot_send(tx, &v), -EDDY_ECLOSED);
    CHECK_EQ(v, 9);

    /* A cancelled receive loses nothing: waiting, and woken. */
    CHECK_OK(eddy_oneshot_new(&tx, &rx, sizeof(long)));
    hr_init(&r, rx);
    CHECK_EQ(hr_poll(&r), EDDY_PENDING);
    hr_end(&r);
    hr_init(&r, rx);
    CHECK_EQ(hr_poll(&r), EDDY_PENDING);
    v = 10;
    CHECK_OK(eddy_oneshot_send(tx, &v));
    hr_end(&r); /* woken, never polled again */
    v = 0;
    CHECK_OK(eddy_oneshot_try_recv(rx, &v));
    CHECK_EQ(v, 10);
    eddy_oneshot_rx_drop(rx);

    /* A value sent and never received is discarded with the receiver. */
    CHECK_OK(eddy_oneshot_new(&tx, &rx, sizeof(long)));
    CHECK_OK(eddy_oneshot_send(tx, &v));
    eddy_oneshot_rx_drop(rx);

    /* Zero-size: a pure signal. */
    CHECK_OK(eddy_oneshot_new(&tx, &rx, 0));
    CHECK_EQ(eddy_oneshot_try_recv(rx, NULL), -EAGAIN);
    CHECK_OK(eddy_oneshot_send(tx, NULL));
    CHECK_OK(eddy_oneshot_try_recv(rx, NULL));
    eddy_oneshot_rx_drop(rx);

    CHECK_EQ(eddy_oneshot_new(NULL, &rx, 1), -EINVAL);
}

/* ---- tasks --------------------------------------------------------------------- */

struct waiter {
    eddy_coro co;
    int rc;
    long v;
    eddy_oneshot_rx *rx;
    eddy_oneshot_recv r;
};

static eddy_poll waiter_poll(struct waiter *t, eddy_cx *cx, long *out)
{
    EDDY_BEGIN(&t->co, cx);
    EDDY_AWAIT(&t->rc, eddy_oneshot_recv, &t->r, t->rx, &t->v);
    *out = t->rc == 0 ? t->v : t->rc;
    EDDY_END();
}
EDDY_CORO_VT(waiter_vt, struct waiter, long, waiter_poll);

struct root {
    eddy_coro co;
    int i;
    long out, v;
    eddy_oneshot_tx *tx;
    eddy_oneshot_rx *rx;
    eddy_join *jh;
    eddy_yield y;
};

static eddy_poll abort_root_poll(struct root *t, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&t->co, cx);
    CHECK_OK(eddy_oneshot_new(&t->tx, &t->rx, sizeof(long)));
    {
        struct waiter w = {.rx = t->rx};
        CHECK_OK(eddy_spawn_local(&waiter_vt, &w, &t->jh));
    }
    for (t->i = 0; t->i < 3; t->i++)
        EDDY_AWAIT(NULL, eddy_yield, &t->y);
    t->v = 99;
    CHECK_OK(eddy_oneshot_send(t->tx, &t->v)); /* wakes the waiter ... */
    eddy_join_abort(t->jh);                    /* ... which is aborted */
    EDDY_AWAIT_POLL(&t->out, eddy_join, t->jh);
    CHECK_EQ(eddy_join_status(t->jh), -ECANCELED);
    eddy_join_detach(t->jh);
    /* The value is still there. */
    {
        struct waiter w = {.rx = t->rx};
        CHECK_OK(eddy_spawn_local(&waiter_vt, &w, &t->jh));
    }
    EDDY_AWAIT_POLL(&t->out, eddy_join, t->jh);
    CHECK_EQ(t->out, 99);
    eddy_join_detach(t->jh);
    eddy_oneshot_rx_drop(t->rx);
    EDDY_END();
}
EDDY_CORO_VT_VOID(abort_root_vt, struct root, abort_root_poll);

/* ---- threads ------------------------------------------------------------------------
 * The handles of each round's channel travel through an mpsc channel (the
 * thread blocks on it), so no side ever spins waiting for the other. */

#define ROUNDS 2000

static eddy_mpsc_tx *g_handles_tx;
static eddy_mpsc_rx *g_handles_rx;

static void *thread_sender(void *arg)
{
    (void)arg;
    eddy_oneshot_tx *tx;
    long i = 0;
    while (eddy_mpsc_recv_blocking(g_handles_rx, &tx) == 0) {
        CHECK_OK(eddy_oneshot_send(tx, &i));
        i++;
    }
    CHECK_EQ(i, ROUNDS);
    return NULL;
}

static eddy_poll from_thread_poll(struct root *t, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&t->co, cx);
    for (t->i = 0; t->i < ROUNDS; t->i++) {
        CHECK_OK(eddy_oneshot_new(&t->tx, &t->rx, sizeof(long)));
        CHECK_OK(eddy_mpsc_try_send(g_handles_tx, &t->tx));
        {
            struct waiter w = {.rx = t->rx};
            CHECK_OK(eddy_spawn_local(&waiter_vt, &w, &t->jh));
        }
        EDDY_AWAIT_POLL(&t->out, eddy_join, t->jh);
        CHECK_EQ(t->out, t->i);
        eddy_join_detach(t->jh);
        eddy_oneshot_rx_drop(t->rx);
    }
    eddy_mpsc_tx_drop(g_handles_tx);
    EDDY_END();
}
EDDY_CORO_VT_VOID(from_thread_vt, struct root, from_thread_poll);

static void *thread_receiver(void *arg)
{
    (void)arg;
    eddy_oneshot_rx *rx;
    long i = 0;
    while (eddy_mpsc_recv_blocking(g_handles_rx, &rx) == 0) {
        long v = -1;
        CHECK_OK(eddy_oneshot_recv_blocking(rx, &v));
        CHECK_EQ(v, i);
        eddy_oneshot_rx_drop(rx);
        i++;
    }
    CHECK_EQ(i, ROUNDS);
    return NULL;
}

static eddy_poll to_thread_poll(struct root *t, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&t->co, cx);
    for (t->i = 0; t->i < ROUNDS; t->i++) {
        CHECK_OK(eddy_oneshot_new(&t->tx, &t->rx, sizeof(long)));
        CHECK_OK(eddy_mpsc_try_send(g_handles_tx, &t->rx));
        if (t->i % 2)
            EDDY_AWAIT(NULL, eddy_yield, &t->y); /* sometimes after it waits */
        t->v = t->i;
        CHECK_OK(eddy_oneshot_send(t->tx, &t->v));
    }
    eddy_mpsc_tx_drop(g_handles_tx);
    EDDY_END();
}
EDDY_CORO_VT_VOID(to_thread_vt, struct root, to_thread_poll);

static void run_root(const eddy_future_vt *vt, void *(*thread)(void *))
{
    eddy_rt *rt;
    CHECK_OK(eddy_rt_new(&rt, test_builder(NULL)));
    CHECK_OK(eddy_mpsc_unbounded_new(&g_handles_tx, &g_handles_rx, sizeof(void *)));
    pthread_t th;
    if (thread)
        CHECK_EQ(pthread_create(&th, NULL, thread, NULL), 0);
    struct root r;
    memset(&r, 0, sizeof r);
    CHECK_OK(eddy_block_on(rt, vt, &r, NULL));
    if (thread)
        CHECK_EQ(pthread_join(th, NULL), 0);
    else
        eddy_mpsc_tx_drop(g_handles_tx);
    eddy_mpsc_rx_drop(g_handles_rx);
    eddy_rt_free(rt);
}

int main(void)
{
    test_watchdog(60);
    test_by_hand();
    run_root(&abort_root_vt, NULL);
    run_root(&from_thread_vt, thread_sender);
    run_root(&to_thread_vt, thread_receiver);
    printf("ok\n");
    return 0;
}
