/* mpsc channels on one thread: bounded backpressure and FIFO among waiting
 * senders; try_send/try_recv; cancellation of a waiting send (value kept,
 * never half-sent), of a send that had been given a slot (the slot passes
 * to the next sender), of a pending receive and of a woken one (no message
 * lost); close semantics (receiver dropped or closed: sends fail and keep
 * their values; senders dropped: drain, then -EDDY_ECLOSED); clones;
 * unbounded growth across wrap-around; and the same through tasks with
 * eddy_join_abort. */

#include <eddy.h>

#include "eddy_test.h"

struct hs { /* a send polled by hand */
    eddy_waker_counter c;
    eddy_waker w;
    eddy_cx cx;
    eddy_mpsc_send f;
    int v;
    int out;
};

static void hs_init(struct hs *h, eddy_mpsc_tx *tx, int v)
{
    h->w = eddy_waker_counting(&h->c);
    h->cx = (eddy_cx){&h->w, NULL};
    h->v = v;
    h->out = 12345;
    eddy_mpsc_send_init(&h->f, tx, &h->v);
}
static eddy_poll hs_poll(struct hs *h) { return eddy_mpsc_send_poll(&h->f, &h->cx, &h->out); }
static void hs_end(struct hs *h)
{
    eddy_mpsc_send_drop(&h->f);
    eddy_waker_drop(&h->w);
    CHECK_EQ(eddy_waker_counter_live(&h->c), 0);
}

struct hr { /* a receive polled by hand */
    eddy_waker_counter c;
    eddy_waker w;
    eddy_cx cx;
    eddy_mpsc_recv f;
    int v;
    int out;
};

static void hr_init(struct hr *h, eddy_mpsc_rx *rx)
{
    h->w = eddy_waker_counting(&h->c);
    h->cx = (eddy_cx){&h->w, NULL};
    h->v = -1;
    h->out = 12345;
    eddy_mpsc_recv_init(&h->f, rx, &h->v);
}
static eddy_poll hr_poll(struct hr *h) { return eddy_mpsc_recv_poll(&h->f, &h->cx, &h->out); }
static void hr_end(struct hr *h)
{
    eddy_mpsc_recv_drop(&h->f);
    eddy_waker_drop(&h->w);
    CHECK_EQ(eddy_waker_counter_live(&h->c), 0);
}

static int recv_int(eddy_mpsc_rx *rx)
{
    int v = -1;
    CHECK_OK(eddy_mpsc_try_recv(rx, &v));
    return v;
}

static void send_int(eddy_mpsc_tx *tx, int v) { CHECK_OK(eddy_mpsc_try_send(tx, &v)); }

static void test_args(void)
{
    eddy_mpsc_tx *tx;
    eddy_mpsc_rx *rx;
    CHECK_EQ(eddy_mpsc_new(&tx, &rx, 4, 0), -EINVAL);
    CHECK_EQ(eddy_mpsc_new(NULL, &rx, 4, 1), -EINVAL);
    CHECK_EQ(eddy_mpsc_new(&tx, &rx, SIZE_MAX / 2, 4), -EINVAL);
}

static void test_backpressure(void)
{
    eddy_mpsc_tx *tx;
    eddy_mpsc_rx *rx;
    CHECK_OK(eddy_mpsc_new(&tx, &rx, sizeof(int), 2));
    send_int(tx, 1);
    send_int(tx, 2);
    int v = 3;
    CHECK_EQ(eddy_mpsc_try_send(tx, &v), -EAGAIN);
    CHECK_EQ(eddy_mpsc_len(rx), 2);

    struct hs s3, s4;
    hs_init(&s3, tx, 3);
    hs_init(&s4, tx, 4);
    CHECK_EQ(hs_poll(&s3), EDDY_PENDING); /* full: waits */
    CHECK_EQ(hs_poll(&s4), EDDY_PENDING);
    CHECK_EQ(atomic_load(&s3.c.clones), 1);

    CHECK_EQ(recv_int(rx), 1);
    /* The freed slot is reserved for the first waiting sender, in order;
     * try_send cannot take it. */
    CHECK_EQ(atomic_load(&s3.c.wakes), 1);
    CHECK_EQ(atomic_load(&s4.c.wakes), 0);
    v = 9;
    CHECK_EQ(eddy_mpsc_try_send(tx, &v), -EAGAIN);
    CHECK_EQ(hs_poll(&s3), EDDY_READY);
    CHECK_EQ(s3.out, 0);

    CHECK_EQ(recv_int(rx), 2);
    CHECK_EQ(atomic_load(&s4.c.wakes), 1);
    /* s4 got a slot but is cancelled before writing: its value is not
     * sent, and the slot comes back. */
    hs_end(&s4);
    send_int(tx, 5);
    CHECK_EQ(recv_int(rx), 3);
    CHECK_EQ(recv_int(rx), 5);
    CHECK_EQ(eddy_mpsc_try_recv(rx, &v), -EAGAIN);

    /* A slot given to a cancelled sender passes to the next one. */
    send_int(tx, 6);
    send_int(tx, 7);
    struct hs a, b, c;
    hs_init(&a, tx, 10);
    hs_init(&b, tx, 11);
    hs_init(&c, tx, 12);
    CHECK_EQ(hs_poll(&a), EDDY_PENDING);
    CHECK_EQ(hs_poll(&b), EDDY_PENDING);
    CHECK_EQ(hs_poll(&c), EDDY_PENDING);
    hs_end(&b); /* cancelled while queued */
    CHECK_EQ(recv_int(rx), 6);
    CHECK_EQ(atomic_load(&a.c.wakes), 1);
    hs_end(&a); /* cancelled holding a slot: it goes to c */
    CHECK_EQ(atomic_load(&c.c.wakes), 1);
    CHECK_EQ(hs_poll(&c), EDDY_READY);
    CHECK_EQ(c.out, 0);
    CHECK_EQ(recv_int(rx), 7);
    CHECK_EQ(recv_int(rx), 12);
    CHECK_EQ(eddy_mpsc_try_recv(rx, &v), -EAGAIN);
    /* The values of the cancelled sends stayed with their callers. */
    CHECK_EQ(a.v, 10);
    CHECK_EQ(b.v, 11);

    hs_end(&s3);
    hs_end(&c);
    eddy_mpsc_tx_drop(tx);
    eddy_mpsc_rx_drop(rx);
}

static void test_recv_cancel(void)
{
    eddy_mpsc_tx *tx;
    eddy_mpsc_rx *rx;
    CHECK_OK(eddy_mpsc_new(&tx, &rx, sizeof(int), 4));
    struct hr r1, r2;
    hr_init(&r1, rx);
    CHECK_EQ(hr_poll(&r1), EDDY_PENDING);
    hr_end(&r1); /* cancelled while waiting */
    send_int(tx, 1);
    CHECK_EQ(recv_int(rx), 1);

    /* Woken by a send, then cancelled before it took the value: the value
     * stays, and a second pending receive is woken in its place. */
    hr_init(&r1, rx);
    hr_init(&r2, rx);
    CHECK_EQ(hr_poll(&r1), EDDY_PENDING);
    CHECK_EQ(hr_poll(&r2), EDDY_PENDING);
    send_int(tx, 2);
    CHECK_EQ(atomic_load(&r1.c.wakes), 1);
    CHECK_EQ(atomic_load(&r2.c.wakes), 0);
    hr_end(&r1);
    CHECK_EQ(atomic_load(&r2.c.wakes), 1);
    CHECK_EQ(hr_poll(&r2), EDDY_READY);
    CHECK_EQ(r2.out, 0);
    CHECK_EQ(r2.v, 2);
    hr_end(&r2);

    hr_init(&r1, rx);
    CHECK_EQ(hr_poll(&r1), EDDY_PENDING);
    send_int(tx, 3);
    hr_end(&r1);
    CHECK_EQ(recv_int(rx), 3); /* not lost */
    eddy_mpsc_tx_drop(tx);
    eddy_mpsc_rx_drop(rx);
}

static void test_close(void)
{
    eddy_mpsc_tx *tx, *tx2;
    eddy_mpsc_rx *rx;
    int v;

    /* Senders gone: drain, then the end. */
    CHECK_OK(eddy_mpsc_new(&tx, &rx, sizeof(int), 4));
    CHECK_OK(eddy_mpsc_tx_clone(tx, &tx2));
    send_int(tx, 1);
    send_int(tx2, 2);
    eddy_mpsc_tx_drop(tx);
    send_int(tx2, 3); /* one sender left: still open */
    struct hr r;
    CHECK_EQ(recv_int(rx), 1);
    CHECK_EQ(recv_int(rx), 2);
    CHECK_EQ(recv_int(rx), 3);
    hr_init(&r, rx);
    CHECK_EQ(hr_poll(&r), EDDY_PENDING);
    eddy_mpsc_tx_drop(tx2);
    CHECK_EQ(atomic_load(&r.c.wakes), 1);
    CHECK_EQ(hr_poll(&r), EDDY_READY);
    CHECK_EQ(r.out, -EDDY_ECLOSED);
    hr_end(&r);
    CHECK_EQ(eddy_mpsc_try_recv(rx, &v), -EDDY_ECLOSED);
    eddy_mpsc_rx_drop(rx);

    /* Receiver gone: pending and later sends fail, values kept. */
    CHECK_OK(eddy_mpsc_new(&tx, &rx, sizeof(int), 1));
    send_int(tx, 1);
    struct hs s;
    hs_init(&s, tx, 77);
    CHECK_EQ(hs_poll(&s), EDDY_PENDING);
    CHECK(!eddy_mpsc_tx_is_closed(tx));
    eddy_mpsc_rx_drop(rx);
    CHECK(eddy_mpsc_tx_is_closed(tx));
    CHECK_EQ(atomic_load(&s.c.wakes), 1);
    CHECK_EQ(hs_poll(&s), EDDY_READY);
    CHECK_EQ(s.out, -EDDY_ECLOSED);
    CHECK_EQ(s.v, 77);
    hs_end(&s);
    v = 5;
    CHECK_EQ(eddy_mpsc_try_send(tx, &v), -EDDY_ECLOSED);
    hs_init(&s, tx, 78);
    CHECK_EQ(hs_poll(&s), EDDY_READY);
    CHECK_EQ(s.out, -EDDY_ECLOSED);
    hs_end(&s);
    eddy_mpsc_tx_drop(tx);

    /* rx_close: sends fail, what is buffered drains, then the end. */
    CHECK_OK(eddy_mpsc_unbounded_new(&tx, &rx, sizeof(int)));
    send_int(tx, 1);
    send_int(tx, 2);
    eddy_mpsc_rx_close(rx);
    v = 3;
    CHECK_EQ(eddy_mpsc_try_send(tx, &v), -EDDY_ECLOSED);
    CHECK_EQ(recv_int(rx), 1);
    CHECK_EQ(recv_int(rx), 2);
    CHECK_EQ(eddy_mpsc_try_recv(rx, &v), -EDDY_ECLOSED);
    eddy_mpsc_rx_close(rx);
    eddy_mpsc_rx_drop(rx);
    eddy_mpsc_tx_drop(tx);
}

static void test_unbounded_growth(void)
{
    eddy_mpsc_tx *tx;
    eddy_mpsc_rx *rx;
    CHECK_OK(eddy_mpsc_unbounded_new(&tx, &rx, sizeof(int)));
    /* Keep the ring wrapped while it grows: push 3, pop 2, ... */
    int next_in = 0, next_out = 0;
    for (int round = 0; round < 2000; round++) {
        for (int k = 0; k < 3; k++)
            send_int(tx, next_in++);
        for (int k = 0; k < 2; k++)
            CHECK_EQ(recv_int(rx), next_out++);
    }
    CHECK_EQ(eddy_mpsc_len(rx), 2000);
    while (next_out < next_in)
        CHECK_EQ(recv_int(rx), next_out++);
    int v;
    CHECK_EQ(eddy_mpsc_try_recv(rx, &v), -EAGAIN);
    /* Sends never wait on an unbounded channel. */
    struct hs s;
    hs_init(&s, tx, 42);
    CHECK_EQ(hs_poll(&s), EDDY_READY);
    CHECK_EQ(s.out, 0);
    hs_end(&s);
    CHECK_EQ(recv_int(rx), 42);
    /* Dropping the receiver with values inside frees them. */
    send_int(tx, 1);
    eddy_mpsc_rx_drop(rx);
    eddy_mpsc_tx_drop(tx);
}

static void test_big_elements(void)
{
    struct big {
        char s[100];
        uint64_t n;
    } in, out;
    eddy_mpsc_tx *tx;
    eddy_mpsc_rx *rx;
    CHECK_OK(eddy_mpsc_new(&tx, &rx, sizeof(struct big), 3));
    for (int i = 0; i < 10; i++) {
        memset(&in, 'a' + i, sizeof in);
        in.n = (uint64_t)i * 1000;
        CHECK_OK(eddy_mpsc_try_send(tx, &in));
        CHECK_OK(eddy_mpsc_try_recv(rx, &out));
        CHECK(memcmp(&in, &out, sizeof in) == 0);
    }
    eddy_mpsc_tx_drop(tx);
    eddy_mpsc_rx_drop(rx);
}

/* ---- tasks ------------------------------------------------------------------ */

#define CAP 4
#define N 1000
#define PRODUCERS 5

static eddy_mpsc_tx *g_tx;
static eddy_mpsc_rx *g_rx;

struct producer {
    eddy_coro co;
    int id, i, rc;
    int msg[2];
    eddy_mpsc_tx *tx;
    eddy_mpsc_send snd;
};

static eddy_poll producer_poll(struct producer *t, eddy_cx *cx, int *out)
{
    EDDY_BEGIN(&t->co, cx);
    for (t->i = 0; t->i < N; t->i++) {
        t->msg[0] = t->id;
        t->msg[1] = t->i;
        EDDY_AWAIT(&t->rc, eddy_mpsc_send, &t->snd, t->tx, t->msg);
        CHECK_EQ(t->rc, 0);
    }
    *out = 0;
    EDDY_FINALLY();
    eddy_mpsc_tx_drop(t->tx);
    EDDY_DONE();
}
EDDY_CORO_VT(producer_vt, struct producer, int, producer_poll);

struct consumer {
    eddy_coro co;
    int rc, total;
    int msg[2];
    int next[PRODUCERS];
    eddy_mpsc_recv rcv;
};

static eddy_poll consumer_poll(struct consumer *t, eddy_cx *cx, int *out)
{
    EDDY_BEGIN(&t->co, cx);
    for (;;) {
        EDDY_AWAIT(&t->rc, eddy_mpsc_recv, &t->rcv, g_rx, t->msg);
        if (t->rc == -EDDY_ECLOSED)
            break;
        CHECK_EQ(t->rc, 0);
        CHECK_LE(eddy_mpsc_len(g_rx), CAP);
        CHECK(t->msg[0] >= 0 && t->msg[0] < PRODUCERS);
        CHECK_EQ(t->msg[1], t->next[t->msg[0]]); /* per-producer order */
        t->next[t->msg[0]]++;
        t->total++;
    }
    *out = t->total;
    EDDY_END();
}
EDDY_CORO_VT(consumer_vt, struct consumer, int, consumer_poll);

struct root {
    eddy_coro co;
    int i, out, rc, v;
    eddy_join *prod[PRODUCERS], *cons, *victim;
    eddy_yield y;
};

static eddy_poll flow_root_poll(struct root *t, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&t->co, cx);
    CHECK_OK(eddy_mpsc_new(&g_tx, &g_rx, 2 * sizeof(int), CAP));
    for (t->i = 0; t->i < PRODUCERS; t->i++) {
        struct producer p = {.id = t->i};
        CHECK_OK(eddy_mpsc_tx_clone(g_tx, &p.tx));
        CHECK_OK(eddy_spawn_local(&producer_vt, &p, &t->prod[t->i]));
    }
    eddy_mpsc_tx_drop(g_tx); /* the producers hold the only senders */
    {
        struct consumer c;
        memset(&c, 0, sizeof c);
        CHECK_OK(eddy_spawn_local(&consumer_vt, &c, &t->cons));
    }
    EDDY_AWAIT_POLL(&t->out, eddy_join, t->cons);
    CHECK_EQ(t->out, PRODUCERS * N);
    eddy_join_detach(t->cons);
    for (t->i = 0; t->i < PRODUCERS; t->i++) {
        EDDY_AWAIT_POLL(&t->out, eddy_join, t->prod[t->i]);
        CHECK_EQ(eddy_join_status(t->prod[t->i]), 0);
        eddy_join_detach(t->prod[t->i]);
    }
    eddy_mpsc_rx_drop(g_rx);
    EDDY_END();
}
EDDY_CORO_VT_VOID(flow_root_vt, struct root, flow_root_poll);

/* One send or one receive, as a task to abort. */
struct one {
    eddy_coro co;
    int is_send, rc, v;
    eddy_mpsc_send snd;
    eddy_mpsc_recv rcv;
};

static eddy_poll one_poll(struct one *t, eddy_cx *cx, int *out)
{
    EDDY_BEGIN(&t->co, cx);
    if (t->is_send)
        EDDY_AWAIT(&t->rc, eddy_mpsc_send, &t->snd, g_tx, &t->v);
    else
        EDDY_AWAIT(&t->rc, eddy_mpsc_recv, &t->rcv, g_rx, &t->v);
    *out = t->rc;
    EDDY_END();
}
EDDY_CORO_VT(one_vt, struct one, int, one_poll);

static eddy_join *spawn_one(int is_send, int v)
{
    struct one o = {.is_send = is_send, .v = v};
    eddy_join *jh;
    CHECK_OK(eddy_spawn_local(&one_vt, &o, &jh));
    return jh;
}

static eddy_poll abort_root_poll(struct root *t, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&t->co, cx);
    CHECK_OK(eddy_mpsc_new(&g_tx, &g_rx, sizeof(int), 1));
    send_int(g_tx, 1); /* full */

    /* A task blocked in send is aborted: its value never arrives. */
    t->victim = spawn_one(1, 100);
    for (t->i = 0; t->i < 3; t->i++)
        EDDY_AWAIT(NULL, eddy_yield, &t->y);
    CHECK(!eddy_join_is_finished(t->victim));
    eddy_join_abort(t->victim);
    EDDY_AWAIT_POLL(NULL, eddy_join, t->victim);
    CHECK_EQ(eddy_join_status(t->victim), -ECANCELED);
    eddy_join_detach(t->victim);
    CHECK_EQ(recv_int(g_rx), 1);
    send_int(g_tx, 2); /* the slot is free for others */
    CHECK_EQ(recv_int(g_rx), 2);

    /* Blocked in send, then handed a slot, then aborted before it ran:
     * the slot comes back, the value is not sent. */
    send_int(g_tx, 3);
    t->victim = spawn_one(1, 200);
    for (t->i = 0; t->i < 3; t->i++)
        EDDY_AWAIT(NULL, eddy_yield, &t->y);
    CHECK_EQ(recv_int(g_rx), 3); /* reserves the slot for the victim */
    eddy_join_abort(t->victim);
    EDDY_AWAIT_POLL(NULL, eddy_join, t->victim);
    CHECK_EQ(eddy_join_status(t->victim), -ECANCELED);
    eddy_join_detach(t->victim);
    send_int(g_tx, 4);
    CHECK_EQ(recv_int(g_rx), 4);
    CHECK_EQ(eddy_mpsc_try_recv(g_rx, &t->v), -EAGAIN);

    /* A task blocked in receive is aborted (once waiting, once after being
     * woken): the message is still there for the next receive. */
    t->victim = spawn_one(0, 0);
    for (t->i = 0; t->i < 3; t->i++)
        EDDY_AWAIT(NULL, eddy_yield, &t->y);
    eddy_join_abort(t->victim);
    EDDY_AWAIT_POLL(NULL, eddy_join, t->victim);
    eddy_join_detach(t->victim);
    send_int(g_tx, 5);
    CHECK_EQ(recv_int(g_rx), 5);

    t->victim = spawn_one(0, 0);
    for (t->i = 0; t->i < 3; t->i++)
        EDDY_AWAIT(NULL, eddy_yield, &t->y);
    send_int(g_tx, 6); /* wakes the victim ... */
    eddy_join_abort(t->victim); /* ... which is dropped before it runs */
    EDDY_AWAIT_POLL(NULL, eddy_join, t->victim);
    CHECK_EQ(eddy_join_status(t->victim), -ECANCELED);
    eddy_join_detach(t->victim);
    CHECK_EQ(recv_int(g_rx), 6);

    eddy_mpsc_tx_drop(g_tx);
    eddy_mpsc_rx_drop(g_rx);
    EDDY_END();
}
EDDY_CORO_VT_VOID(abort_root_vt, struct root, abort_root_poll);

int main(void)
{
    test_watchdog(60);
    test_args();
    test_backpressure();
    test_recv_cancel();
    test_close();
    test_unbounded_growth();
    test_big_elements();
    eddy_rt *rt;
    CHECK_OK(eddy_rt_new(&rt, test_builder(NULL)));
    struct root r;
    memset(&r, 0, sizeof r);
    CHECK_OK(eddy_block_on(rt, &flow_root_vt, &r, NULL));
    memset(&r, 0, sizeof r);
    CHECK_OK(eddy_block_on(rt, &abort_root_vt, &r, NULL));
    eddy_rt_free(rt);
    printf("ok\n");
    return 0;
}
