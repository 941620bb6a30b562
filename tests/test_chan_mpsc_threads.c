/* mpsc across threads.
 * 1. 4 plain threads x 100,000 messages into a bounded channel (blocking
 *    sends: backpressure across threads), consumed by a task: every
 *    message received exactly once, per-producer order preserved.
 * 2. The same into an unbounded channel with try_send.
 * 3. A task sends 100,000 messages into a small bounded channel; a plain
 *    thread receives them with eddy_mpsc_recv_blocking.
 * 4. Ping-pong between a task and a thread over two capacity-1 channels.
 * Run under ThreadSanitizer by `make test SANITIZE=thread`.
 *
 * eddy-test-timeout: 120 */
// eddy-test-labels: flavors
#include <eddy.h>

#include "eddy_test.h"

#include <pthread.h>

#define PRODUCERS 4
#define PER_PRODUCER 100000
#define BOUND 256

struct msg {
    uint32_t producer;
    uint32_t seq;
};

static eddy_mpsc_rx *g_rx;

struct prod_arg {
    eddy_mpsc_tx *tx;
    uint32_t id;
    int blocking;
};

static void *producer_main(void *p)
{
    struct prod_arg *a = p;
    for (uint32_t i = 0; i < PER_PRODUCER; i++) {
        struct msg m = {a->id, i};
        if (a->blocking) {
            CHECK_OK(eddy_mpsc_send_blocking(a->tx, &m));
        } else {
            CHECK_OK(eddy_mpsc_try_send(a->tx, &m)); /* unbounded: never full */
        }
    }
    eddy_mpsc_tx_drop(a->tx);
    return NULL;
}

struct consumer {
    eddy_coro co;
    int rc;
    long total;
    struct msg m;
    uint32_t next[PRODUCERS];
    eddy_mpsc_recv rcv;
};

static eddy_poll consumer_poll(struct consumer *t, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&t->co, cx);
    for (;;) {
        EDDY_AWAIT(&t->rc, eddy_mpsc_recv, &t->rcv, g_rx, &t->m);
        if (t->rc == -EDDY_ECLOSED)
            break;
        CHECK_EQ(t->rc, 0);
        CHECK(t->m.producer < PRODUCERS);
        CHECK_EQ(t->m.seq, t->next[t->m.producer]);
        t->next[t->m.producer]++;
        t->total++;
    }
    EDDY_END();
}
EDDY_CORO_VT_VOID(consumer_vt, struct consumer, consumer_poll);

static void run_many_to_task(eddy_rt *rt, int bounded)
{
    eddy_mpsc_tx *tx;
    if (bounded)
        CHECK_OK(eddy_mpsc_new(&tx, &g_rx, sizeof(struct msg), BOUND));
    else
        CHECK_OK(eddy_mpsc_unbounded_new(&tx, &g_rx, sizeof(struct msg)));
    pthread_t th[PRODUCERS];
    struct prod_arg args[PRODUCERS];
    for (uint32_t i = 0; i < PRODUCERS; i++) {
        args[i].id = i;
        args[i].blocking = bounded;
        CHECK_OK(eddy_mpsc_tx_clone(tx, &args[i].tx));
    }
    eddy_mpsc_tx_drop(tx);
    for (int i = 0; i < PRODUCERS; i++)
        CHECK_EQ(pthread_create(&th[i], NULL, producer_main, &args[i]), 0);
    struct consumer c;
    memset(&c, 0, sizeof c);
    CHECK_OK(eddy_block_on(rt, &consumer_vt, &c, NULL));
    for (int i = 0; i < PRODUCERS; i++)
        CHECK_EQ(pthread_join(th[i], NULL), 0);
    CHECK_EQ(c.total, (long)PRODUCERS * PER_PRODUCER);
    for (int i = 0; i < PRODUCERS; i++)
        CHECK_EQ(c.next[i], PER_PRODUCER);
    eddy_mpsc_rx_drop(g_rx);
}

/* ---- a task sends, a thread receives ---------------------------------------- */

#define TO_THREAD 100000

static eddy_mpsc_tx *g_tx;

struct sender {
    eddy_coro co;
    int rc;
    uint32_t i;
    eddy_mpsc_send snd;
};

static eddy_poll sender_poll(struct sender *t, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&t->co, cx);
    for (t->i = 0; t->i < TO_THREAD; t->i++) {
        EDDY_AWAIT(&t->rc, eddy_mpsc_send, &t->snd, g_tx, &t->i);
        CHECK_EQ(t->rc, 0);
    }
    eddy_mpsc_tx_drop(g_tx);
    EDDY_END();
}
EDDY_CORO_VT_VOID(sender_vt, struct sender, sender_poll);

static void *receiver_main(void *p)
{
    eddy_mpsc_rx *rx = p;
    uint32_t v, expect = 0;
    int rc;
    while ((rc = eddy_mpsc_recv_blocking(rx, &v)) == 0) {
        CHECK_EQ(v, expect);
        expect++;
    }
    CHECK_EQ(rc, -EDDY_ECLOSED);
    CHECK_EQ(expect, TO_THREAD);
    eddy_mpsc_rx_drop(rx);
    return NULL;
}

static void run_task_to_thread(eddy_rt *rt)
{
    eddy_mpsc_rx *rx;
    CHECK_OK(eddy_mpsc_new(&g_tx, &rx, sizeof(uint32_t), 16));
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, receiver_main, rx), 0);
    struct sender s;
    memset(&s, 0, sizeof s);
    CHECK_OK(eddy_block_on(rt, &sender_vt, &s, NULL));
    CHECK_EQ(pthread_join(th, NULL), 0);
}

/* ---- ping-pong between a task and a thread -------------------------------------- */

#define PINGS 20000

static eddy_mpsc_tx *g_ping_tx, *g_pong_tx;
static eddy_mpsc_rx *g_ping_rx, *g_pong_rx;

static void *ponger_main(void *p)
{
    (void)p;
    uint32_t v;
    while (eddy_mpsc_recv_blocking(g_ping_rx, &v) == 0) {
        v++;
        CHECK_OK(eddy_mpsc_send_blocking(g_pong_tx, &v));
    }
    eddy_mpsc_tx_drop(g_pong_tx);
    return NULL;
}

struct pinger {
    eddy_coro co;
    int rc;
    uint32_t i, v;
    eddy_mpsc_send snd;
    eddy_mpsc_recv rcv;
};

static eddy_poll pinger_poll(struct pinger *t, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&t->co, cx);
    for (t->i = 0; t->i < PINGS; t->i++) {
        t->v = 2 * t->i;
        EDDY_AWAIT(&t->rc, eddy_mpsc_send, &t->snd, g_ping_tx, &t->v);
        CHECK_EQ(t->rc, 0);
        EDDY_AWAIT(&t->rc, eddy_mpsc_recv, &t->rcv, g_pong_rx, &t->v);
        CHECK_EQ(t->rc, 0);
        CHECK_EQ(t->v, 2 * t->i + 1);
    }
    eddy_mpsc_tx_drop(g_ping_tx);
    EDDY_AWAIT(&t->rc, eddy_mpsc_recv, &t->rcv, g_pong_rx, &t->v);
    CHECK_EQ(t->rc, -EDDY_ECLOSED);
    EDDY_END();
}
EDDY_CORO_VT_VOID(pinger_vt, struct pinger, pinger_poll);

static void run_ping_pong(eddy_rt *rt)
{
    CHECK_OK(eddy_mpsc_new(&g_ping_tx, &g_ping_rx, sizeof(uint32_t), 1));
    CHECK_OK(eddy_mpsc_new(&g_pong_tx, &g_pong_rx, sizeof(uint32_t), 1));
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, ponger_main, NULL), 0);
    struct pinger p;
    memset(&p, 0, sizeof p);
    CHECK_OK(eddy_block_on(rt, &pinger_vt, &p, NULL));
    CHECK_EQ(pthread_join(th, NULL), 0);
    eddy_mpsc_rx_drop(g_ping_rx);
    eddy_mpsc_rx_drop(g_pong_rx);
}

int main(void)
{
    test_watchdog(110);
    eddy_rt *rt;
    CHECK_OK(eddy_rt_new(&rt, test_builder(NULL)));
    run_many_to_task(rt, 1);
    run_many_to_task(rt, 0);
    run_task_to_thread(rt);
    run_ping_pong(rt);
    eddy_rt_free(rt);
    printf("ok\n");
    return 0;
}
