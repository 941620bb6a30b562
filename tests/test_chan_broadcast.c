/* broadcast: every receiver gets every value; a lagging receiver gets
 * -EDDY_ELAGGED with the exact count missed, then the oldest value kept;
 * subscribe sees only later values, rx_clone shares the position; send
 * with no receiver fails (value kept); senders gone: drain, then
 * -EDDY_ECLOSED; a send wakes exactly the receives waiting before it; a
 * cancelled receive moves nothing; tasks receiving from a plain thread. */
// eddy-test-labels: flavors
#include <eddy.h>

#include "eddy_test.h"

#include <pthread.h>
#include <sched.h>

struct hr {
    eddy_waker_counter c;
    eddy_waker w;
    eddy_cx cx;
    eddy_broadcast_recv f;
    int v;
    int out;
};

static void hr_init(struct hr *h, eddy_broadcast_rx *rx)
{
    h->w = eddy_waker_counting(&h->c);
    h->cx = (eddy_cx){&h->w, NULL};
    h->v = -1;
    h->out = 12345;
    eddy_broadcast_recv_init(&h->f, rx, &h->v);
}
static eddy_poll hr_poll(struct hr *h) { return eddy_broadcast_recv_poll(&h->f, &h->cx, &h->out); }
static void hr_end(struct hr *h)
{
    eddy_broadcast_recv_drop(&h->f);
    eddy_waker_drop(&h->w);
    CHECK_EQ(eddy_waker_counter_live(&h->c), 0);
}

static int recv_int(eddy_broadcast_rx *rx)
{
    int v = -1;
    CHECK_OK(eddy_broadcast_try_recv(rx, &v));
    return v;
}

static void test_fanout_and_lag(void)
{
    eddy_broadcast_tx *tx;
    eddy_broadcast_rx *a, *b, *late;
    int v;
    CHECK_EQ(eddy_broadcast_new(&tx, &a, sizeof(int), 0), -EINVAL);
    CHECK_OK(eddy_broadcast_new(&tx, &a, sizeof(int), 4));
    CHECK_OK(eddy_broadcast_rx_clone(a, &b));
    for (v = 0; v < 3; v++)
        CHECK_EQ(eddy_broadcast_send(tx, &v), 2);
    CHECK_OK(eddy_broadcast_subscribe(tx, &late));
    for (int i = 0; i < 3; i++) {
        CHECK_EQ(recv_int(a), i);
        CHECK_EQ(recv_int(b), i);
    }
    CHECK_EQ(eddy_broadcast_try_recv(late, &v), -EAGAIN);
    CHECK_EQ(eddy_broadcast_try_recv(a, &v), -EAGAIN);

    /* 10 more into a ring of 4: a reads as they come, b falls behind. */
    for (v = 3; v < 13; v++) {
        CHECK_EQ(eddy_broadcast_send(tx, &v), 3);
        CHECK_EQ(recv_int(a), v);
    }
    CHECK_EQ(eddy_broadcast_try_recv(b, &v), -EDDY_ELAGGED);
    CHECK_EQ(eddy_broadcast_rx_missed(b), 6); /* 3..8 were overwritten */
    for (int i = 9; i < 13; i++)
        CHECK_EQ(recv_int(b), i);
    CHECK_EQ(eddy_broadcast_try_recv(b, &v), -EAGAIN);
    /* late subscribed after 0..2: it lagged by 3..8 too, then 9..12. */
    struct hr r;
    hr_init(&r, late);
    CHECK_EQ(hr_poll(&r), EDDY_READY);
    CHECK_EQ(r.out, -EDDY_ELAGGED);
    CHECK_EQ(eddy_broadcast_rx_missed(late), 6);
    hr_end(&r);
    for (int i = 9; i < 13; i++)
        CHECK_EQ(recv_int(late), i);

    /* Senders gone: drain, then the end. */
    v = 13;
    CHECK_EQ(eddy_broadcast_send(tx, &v), 3);
    eddy_broadcast_tx_drop(tx);
    CHECK_EQ(recv_int(a), 13);
    CHECK_EQ(eddy_broadcast_try_recv(a, &v), -EDDY_ECLOSED);
    hr_init(&r, b);
    CHECK_EQ(hr_poll(&r), EDDY_READY);
    CHECK_EQ(r.out, 0);
    CHECK_EQ(r.v, 13);
    hr_end(&r);
    hr_init(&r, b);
    CHECK_EQ(hr_poll(&r), EDDY_READY);
    CHECK_EQ(r.out, -EDDY_ECLOSED);
    hr_end(&r);
    eddy_broadcast_rx_drop(a);
    eddy_broadcast_rx_drop(b);
    eddy_broadcast_rx_drop(late);
}

static void test_waiting_and_close(void)
{
    eddy_broadcast_tx *tx, *tx2;
    eddy_broadcast_rx *a, *b;
    CHECK_OK(eddy_broadcast_new(&tx, &a, sizeof(int), 8));
    CHECK_OK(eddy_broadcast_rx_clone(a, &b));
    struct hr ra, rb;
    hr_init(&ra, a);
    hr_init(&rb, b);
    CHECK_EQ(hr_poll(&ra), EDDY_PENDING);
    CHECK_EQ(hr_poll(&rb), EDDY_PENDING);
    int v = 5;
    CHECK_EQ(eddy_broadcast_send(tx, &v), 2);
    CHECK_EQ(atomic_load(&ra.c.wakes), 1);
    CHECK_EQ(atomic_load(&rb.c.wakes), 1);
    CHECK_EQ(hr_poll(&ra), EDDY_READY);
    CHECK_EQ(ra.v, 5);
    /* rb is cancelled after its wake: b's position did not move. */
    hr_end(&rb);
    CHECK_EQ(recv_int(b), 5);
    hr_end(&ra);

    /* A receive that starts after a send waits for the next one only. */
    hr_init(&ra, a);
    CHECK_EQ(hr_poll(&ra), EDDY_PENDING);
    v = 6;
    CHECK_OK(eddy_broadcast_tx_clone(tx, &tx2));
    eddy_broadcast_tx_drop(tx); /* tx2 keeps it open */
    CHECK_EQ(eddy_broadcast_send(tx2, &v), 2);
    CHECK_EQ(hr_poll(&ra), EDDY_READY);
    CHECK_EQ(ra.v, 6);
    hr_end(&ra);
    CHECK_EQ(recv_int(b), 6);

    /* The last sender goes while a receive waits: it sees the end. */
    hr_init(&ra, a);
    CHECK_EQ(hr_poll(&ra), EDDY_PENDING);
    eddy_broadcast_tx_drop(tx2);
    CHECK_EQ(atomic_load(&ra.c.wakes), 1);
    CHECK_EQ(hr_poll(&ra), EDDY_READY);
    CHECK_EQ(ra.out, -EDDY_ECLOSED);
    hr_end(&ra);
    eddy_broadcast_rx_drop(a);
    eddy_broadcast_rx_drop(b);

    /* No receiver: the send fails, the value stays. */
    CHECK_OK(eddy_broadcast_new(&tx, &a, sizeof(int), 2));
    eddy_broadcast_rx_drop(a);
    v = 7;
    CHECK_EQ(eddy_broadcast_send(tx, &v), -EDDY_ECLOSED);
    CHECK_EQ(v, 7);
    CHECK_OK(eddy_broadcast_subscribe(tx, &a)); /* a receiver again */
    CHECK_EQ(eddy_broadcast_send(tx, &v), 1);
    CHECK_EQ(recv_int(a), 7);
    eddy_broadcast_tx_drop(tx);
    eddy_broadcast_rx_drop(a);
}

/* ---- tasks receive what a thread sends ----------------------------------------- */

#define RECEIVERS 3
#define MSGS 20000

static eddy_broadcast_tx *g_tx;
static atomic_int g_ready;

struct receiver {
    eddy_coro co;
    int rc, v, expect;
    long got, missed;
    eddy_broadcast_rx *rx;
    eddy_broadcast_recv r;
};

static eddy_poll receiver_poll(struct receiver *t, eddy_cx *cx, long *out)
{
    EDDY_BEGIN(&t->co, cx);
    atomic_fetch_add(&g_ready, 1);
    for (;;) {
        EDDY_AWAIT(&t->rc, eddy_broadcast_recv, &t->r, t->rx, &t->v);
        if (t->rc == -EDDY_ECLOSED)
            break;
        if (t->rc == -EDDY_ELAGGED) {
            t->missed += (long)eddy_broadcast_rx_missed(t->rx);
            t->expect += (int)eddy_broadcast_rx_missed(t->rx);
            continue;
        }
        CHECK_EQ(t->rc, 0);
        CHECK_EQ(t->v, t->expect); /* in order, nothing skipped silently */
        t->expect++;
        t->got++;
    }
    CHECK_EQ(t->got + t->missed, MSGS);
    *out = t->got;
    EDDY_FINALLY();
    eddy_broadcast_rx_drop(t->rx);
    EDDY_DONE();
}
EDDY_CORO_VT(receiver_vt, struct receiver, long, receiver_poll);

static void *sender_main(void *arg)
{
    (void)arg;
    while (atomic_load(&g_ready) < RECEIVERS)
        sched_yield();
    for (int i = 0; i < MSGS; i++)
        CHECK_EQ(eddy_broadcast_send(g_tx, &i), RECEIVERS);
    eddy_broadcast_tx_drop(g_tx);
    return NULL;
}

struct root {
    eddy_coro co;
    int i;
    long got;
    eddy_join *jh[RECEIVERS];
};

static eddy_poll root_poll(struct root *t, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&t->co, cx);
    for (t->i = 0; t->i < RECEIVERS; t->i++) {
        EDDY_AWAIT_POLL(&t->got, eddy_join, t->jh[t->i]);
        CHECK_EQ(eddy_join_status(t->jh[t->i]), 0);
        CHECK(t->got > 0);
        eddy_join_detach(t->jh[t->i]);
    }
    EDDY_END();
}
EDDY_CORO_VT_VOID(root_vt, struct root, root_poll);

static void test_thread_to_tasks(void)
{
    eddy_rt *rt;
    eddy_broadcast_rx *first;
    CHECK_OK(eddy_rt_new(&rt, test_builder(NULL)));
    CHECK_OK(eddy_broadcast_new(&g_tx, &first, sizeof(int), 64));
    struct root r;
    memset(&r, 0, sizeof r);
    for (int i = 0; i < RECEIVERS; i++) {
        struct receiver rc;
        memset(&rc, 0, sizeof rc);
        if (i == 0)
            rc.rx = first;
        else
            CHECK_OK(eddy_broadcast_rx_clone(first, &rc.rx));
        CHECK_OK(eddy_spawn(rt, &receiver_vt, &rc, &r.jh[i]));
    }
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, sender_main, NULL), 0);
    CHECK_OK(eddy_block_on(rt, &root_vt, &r, NULL));
    CHECK_EQ(pthread_join(th, NULL), 0);
    eddy_rt_free(rt);
}

int main(void)
{
    test_watchdog(60);
    test_fanout_and_lag();
    test_waiting_and_close();
    test_thread_to_tasks();
    printf("ok\n");
    return 0;
}
