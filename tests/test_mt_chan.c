/* Channels on the multi-thread runtime, with the ends on different workers:
 * mpsc (bounded and unbounded) with 5 producers x 100,000 messages into one
 * consumer (each message exactly once, per-producer order, the bounded
 * channel never over capacity, the end seen after the senders are gone),
 * a receiver dropped under pending senders (their values come back),
 * oneshot ping-pong, broadcast to 4 receivers (in order; a slow one is
 * told how many it missed), and watch (latest value, never torn).
 * Runtimes built with no_steal place the tasks spawned from the main thread
 * on the workers in turn, so the two ends run on different threads. */
// eddy-test-timeout: 240
#include <eddy.h>

#include "eddy_test.h"
#include "mt_util.h"

static atomic_long g_queued;


/* ==== mpsc: 5 producers into one consumer ================================== */

enum { PRODUCERS = 5, MPSC_CAP = 16 };

struct producer {
    eddy_coro co;
    eddy_mpsc_tx *tx;
    eddy_mpsc_rx *rx; /* only to look at the length */
    size_t cap;       /* 0: unbounded */
    uint32_t id;
    long n, i;
    uint64_t msg;
    int rc;
    eddy_mpsc_send snd;
};

static atomic_long g_max_len;

static void note_len(eddy_mpsc_rx *rx, size_t cap)
{
    long len = (long)eddy_mpsc_len(rx);
    if (cap)
        CHECK_LE(len, (long)cap);
    long m = atomic_load(&g_max_len);
    while (len > m && !atomic_compare_exchange_weak(&g_max_len, &m, len))
        ;
}

static eddy_poll producer_poll(struct producer *t, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&t->co, cx);
    for (t->i = 0; t->i < t->n; t->i++) {
        t->msg = (uint64_t)t->id << 32 | (uint64_t)t->i;
        EDDY_AWAIT(&t->rc, eddy_mpsc_send, &t->snd, t->tx, &t->msg);
        CHECK_EQ(t->rc, 0);
        if (t->i % 64 == 0)
            note_len(t->rx, t->cap);
    }
    EDDY_FINALLY();
    eddy_mpsc_tx_drop(t->tx); /* the last one gone ends the consumer's loop */
    EDDY_DONE();
}
EDDY_STATIC_CORO_VT_VOID(producer_vt, struct producer, producer_poll);

struct consumer {
    eddy_coro co;
    eddy_mpsc_rx *rx;
    size_t cap;
    long next[PRODUCERS];
    long total;
    uint64_t msg;
    int rc;
    eddy_mpsc_recv rcv;
};

static eddy_poll consumer_poll(struct consumer *t, eddy_cx *cx, long *out)
{
    EDDY_BEGIN(&t->co, cx);
    for (;;) {
        EDDY_AWAIT(&t->rc, eddy_mpsc_recv, &t->rcv, t->rx, &t->msg);
        if (t->rc == -EDDY_ECLOSED)
            break;
        CHECK_EQ(t->rc, 0);
        uint32_t p = (uint32_t)(t->msg >> 32);
        long seq = (long)(t->msg & 0xffffffffu);
        CHECK(p < PRODUCERS);
        /* Exactly the next one from that producer: no loss, no
         * duplicate, no reordering within a producer. */
        CHECK_MSG(seq == t->next[p], "producer %u: got %ld, expected %ld", p, seq, t->next[p]);
        t->next[p]++;
        t->total++;
        if (t->total % 64 == 0)
            note_len(t->rx, t->cap);
    }
    /* After the end, it stays the end. */
    CHECK_EQ(eddy_mpsc_try_recv(t->rx, &t->msg), -EDDY_ECLOSED);
    *out = t->total;
    EDDY_FINALLY();
    eddy_mpsc_rx_drop(t->rx);
    EDDY_DONE();
}
EDDY_STATIC_CORO_VT(consumer_vt, struct consumer, long, consumer_poll);

struct mpsc_root {
    eddy_coro co;
    eddy_join *cons, *prod[PRODUCERS];
    long total;
    int i;
};

static eddy_poll mpsc_root_poll(struct mpsc_root *t, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&t->co, cx);
    for (t->i = 0; t->i < PRODUCERS; t->i++) {
        EDDY_AWAIT_POLL(NULL, eddy_join, t->prod[t->i]);
        CHECK_EQ(eddy_join_status(t->prod[t->i]), 0);
        eddy_join_detach(t->prod[t->i]);
    }
    EDDY_AWAIT_POLL(&t->total, eddy_join, t->cons);
    CHECK_EQ(eddy_join_status(t->cons), 0);
    eddy_join_detach(t->cons);
    EDDY_END();
}
EDDY_STATIC_CORO_VT_VOID(mpsc_root_vt, struct mpsc_root, mpsc_root_poll);

static void test_mpsc(unsigned workers, bool no_steal, size_t cap, long per_producer)
{
    eddy_rt *rt = mt_new(workers, no_steal);
    eddy_mpsc_tx *tx;
    eddy_mpsc_rx *rx;
    if (cap)
        CHECK_OK(eddy_mpsc_new(&tx, &rx, sizeof(uint64_t), cap));
    else
        CHECK_OK(eddy_mpsc_unbounded_new(&tx, &rx, sizeof(uint64_t)));
    atomic_store(&g_max_len, 0);
    struct mpsc_root root = {0};
    double t0 = mt_now();
    /* The consumer first: with no_steal it lands on worker 0, the
     * producers on 1, 0, 1, ... */
    CHECK_OK(eddy_spawn(rt, &consumer_vt, &(struct consumer){.rx = rx, .cap = cap}, &root.cons));
    for (uint32_t p = 0; p < PRODUCERS; p++) {
        eddy_mpsc_tx *mine = tx;
        if (p + 1 < PRODUCERS)
            CHECK_OK(eddy_mpsc_tx_clone(tx, &mine));
        CHECK_OK(eddy_spawn(rt, &producer_vt,
                            &(struct producer){.tx = mine, .rx = rx, .cap = cap, .id = p, .n = per_producer},
                            &root.prod[p]));
    }
    CHECK_OK(eddy_block_on(rt, &mpsc_root_vt, &root, NULL));
    CHECK_EQ(root.total, PRODUCERS * per_producer);
    if (cap)
        CHECK_LE(atomic_load(&g_max_len), (long)cap);
    printf("mpsc %s cap %zu, %u workers%s: %ld messages in %.2f s, longest queue seen %ld\n",
           cap ? "bounded" : "unbounded", cap, workers, no_steal ? " (no steal)" : "", root.total, mt_now() - t0,
           atomic_load(&g_max_len));
    eddy_rt_free(rt);
}

/* ==== mpsc: the receiver dropped under pending senders ====================== */

struct blocked_sender {
    eddy_coro co;
    eddy_mpsc_tx *tx;
    uint64_t value, expect;
    int announced, rc;
    eddy_mpsc_send snd;
};

static atomic_long g_send_closed;

static eddy_poll blocked_sender_poll(struct blocked_sender *t, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&t->co, cx);
    eddy_mpsc_send_init(&t->snd, t->tx, &t->value);
    EDDY_WAIT_UNTIL(mt_ready_or_announce(eddy_mpsc_send_poll(&t->snd, EDDY_CX(), &t->rc), &g_queued, &t->announced));
    /* The value was not taken: it is still here, untouched. */
    CHECK_EQ(t->rc, -EDDY_ECLOSED);
    CHECK_EQ(t->value, t->expect);
    atomic_fetch_add(&g_send_closed, 1);
    EDDY_FINALLY();
    if (EDDY_DROPPING())
        eddy_mpsc_send_drop(&t->snd);
    eddy_mpsc_tx_drop(t->tx);
    EDDY_DONE();
}
EDDY_STATIC_CORO_VT_VOID(blocked_sender_vt, struct blocked_sender, blocked_sender_poll);

struct rxdrop_root {
    eddy_coro co;
    eddy_mpsc_rx *rx;
    int n;
    mt_until u;
};

static eddy_poll rxdrop_root_poll(struct rxdrop_root *t, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&t->co, cx);
    EDDY_AWAIT(NULL, mt_until, &t->u, &g_queued, t->n, "senders waiting for room");
    eddy_mpsc_rx_drop(t->rx);
    EDDY_END();
}
EDDY_STATIC_CORO_VT_VOID(rxdrop_root_vt, struct rxdrop_root, rxdrop_root_poll);

static void test_mpsc_rx_dropped(void)
{
    enum { S = 6, REPEAT = 20 };
    eddy_rt *rt = mt_new(2, true);
    for (int r = 0; r < REPEAT; r++) {
        eddy_mpsc_tx *tx;
        eddy_mpsc_rx *rx;
        CHECK_OK(eddy_mpsc_new(&tx, &rx, sizeof(uint64_t), 1));
        uint64_t first = 1;
        CHECK_OK(eddy_mpsc_try_send(tx, &first)); /* full: every send below waits */
        atomic_store(&g_queued, 0);
        atomic_store(&g_send_closed, 0);
        eddy_join *jh[S];
        for (int i = 0; i < S; i++) {
            eddy_mpsc_tx *mine;
            CHECK_OK(eddy_mpsc_tx_clone(tx, &mine));
            CHECK_OK(eddy_spawn(rt, &blocked_sender_vt,
                                &(struct blocked_sender){.tx = mine, .value = 1000 + (uint64_t)i, .expect = 1000 + (uint64_t)i}, &jh[i]));
        }
        eddy_mpsc_tx_drop(tx);
        struct rxdrop_root root = {.rx = rx, .n = S};
        CHECK_OK(eddy_block_on(rt, &rxdrop_root_vt, &root, NULL));
        mt_join_all(rt, jh, S);
        CHECK_EQ(atomic_load(&g_send_closed), S);
    }
    eddy_rt_free(rt);
}

/* ==== oneshot ping-pong ====================================================== */

struct pinger {
    eddy_coro co;
    eddy_oneshot_tx **tx;
    eddy_oneshot_rx **rx;
    long n, i, v;
    int rc;
    eddy_oneshot_recv rcv;
};

static eddy_poll pinger_poll(struct pinger *t, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&t->co, cx);
    for (t->i = 0; t->i < t->n; t->i++) {
        t->v = 2 * t->i;
        CHECK_OK(eddy_oneshot_send(t->tx[t->i], &t->v));
        EDDY_AWAIT(&t->rc, eddy_oneshot_recv, &t->rcv, t->rx[t->i], &t->v);
        CHECK_EQ(t->rc, 0);
        CHECK_EQ(t->v, 2 * t->i + 1);
        eddy_oneshot_rx_drop(t->rx[t->i]);
    }
    EDDY_END();
}
EDDY_STATIC_CORO_VT_VOID(pinger_vt, struct pinger, pinger_poll);

static eddy_poll ponger_poll(struct pinger *t, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&t->co, cx);
    for (t->i = 0; t->i < t->n; t->i++) {
        EDDY_AWAIT(&t->rc, eddy_oneshot_recv, &t->rcv, t->rx[t->i], &t->v);
        CHECK_EQ(t->rc, 0);
        CHECK_EQ(t->v, 2 * t->i);
        eddy_oneshot_rx_drop(t->rx[t->i]);
        t->v++;
        CHECK_OK(eddy_oneshot_send(t->tx[t->i], &t->v));
    }
    EDDY_END();
}
EDDY_STATIC_CORO_VT_VOID(ponger_vt, struct pinger, ponger_poll);

static void test_oneshot_pingpong(void)
{
    const long n = MT_SCALE(100000);
    eddy_rt *rt = mt_new(2, true);
    /* Every round's two channels exist up front: handing a fresh channel
     * to the other side would need a second channel kind in the test. */
    eddy_oneshot_tx **ping_tx = calloc((size_t)n, sizeof *ping_tx), **pong_tx = calloc((size_t)n, sizeof *pong_tx);
    eddy_oneshot_rx **ping_rx = calloc((size_t)n, sizeof *ping_rx), **pong_rx = calloc((size_t)n, sizeof *pong_rx);
    CHECK(ping_tx && pong_tx && ping_rx && pong_rx);
    for (long i = 0; i < n; i++) {
        CHECK_OK(eddy_oneshot_new(&ping_tx[i], &ping_rx[i], sizeof(long)));
        CHECK_OK(eddy_oneshot_new(&pong_tx[i], &pong_rx[i], sizeof(long)));
    }
    double t0 = mt_now();
    eddy_join *jh[2];
    CHECK_OK(eddy_spawn(rt, &pinger_vt, &(struct pinger){.tx = ping_tx, .rx = pong_rx, .n = n}, &jh[0]));
    CHECK_OK(eddy_spawn(rt, &ponger_vt, &(struct pinger){.tx = pong_tx, .rx = ping_rx, .n = n}, &jh[1]));
    mt_join_all(rt, jh, 2);
    printf("oneshot ping-pong: %ld round trips in %.2f s\n", n, mt_now() - t0);
    free(ping_tx);
    free(pong_tx);
    free(ping_rx);
    free(pong_rx);
    eddy_rt_free(rt);
}

/* ==== broadcast ================================================================ */

enum { BC_RECEIVERS = 4 };

struct bc_sender {
    eddy_coro co;
    eddy_broadcast_tx *tx;
    long n, i;
    eddy_yield y;
};

static eddy_poll bc_sender_poll(struct bc_sender *t, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&t->co, cx);
    for (t->i = 0; t->i < t->n; t->i++) {
        CHECK(eddy_broadcast_send(t->tx, &t->i) > 0);
        if (t->i % 128 == 0)
            EDDY_AWAIT(NULL, eddy_yield, &t->y); /* let receivers wait now and then */
    }
    EDDY_FINALLY();
    eddy_broadcast_tx_drop(t->tx);
    EDDY_DONE();
}
EDDY_STATIC_CORO_VT_VOID(bc_sender_vt, struct bc_sender, bc_sender_poll);

static mt_spread g_bc_spread;

struct bc_receiver {
    eddy_coro co;
    eddy_broadcast_rx *rx;
    long n, next, v;
    int rc;
    eddy_broadcast_recv rcv;
};

static eddy_poll bc_receiver_poll(struct bc_receiver *t, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&t->co, cx);
    mt_spread_note(&g_bc_spread);
    for (;;) {
        EDDY_AWAIT(&t->rc, eddy_broadcast_recv, &t->rcv, t->rx, &t->v);
        if (t->rc == -EDDY_ECLOSED)
            break;
        CHECK_EQ(t->rc, 0); /* the capacity holds every message: nobody lags */
        CHECK_EQ(t->v, t->next);
        t->next++;
    }
    CHECK_EQ(t->next, t->n);
    EDDY_FINALLY();
    eddy_broadcast_rx_drop(t->rx);
    EDDY_DONE();
}
EDDY_STATIC_CORO_VT_VOID(bc_receiver_vt, struct bc_receiver, bc_receiver_poll);

static void test_broadcast(unsigned workers)
{
    const long n = MT_SCALE(40000);
    eddy_rt *rt = mt_new(workers, true);
    memset(&g_bc_spread, 0, sizeof g_bc_spread);
    eddy_broadcast_tx *tx;
    eddy_broadcast_rx *rx[BC_RECEIVERS];
    CHECK_OK(eddy_broadcast_new(&tx, &rx[0], sizeof(long), (size_t)n));
    for (int i = 1; i < BC_RECEIVERS; i++)
        CHECK_OK(eddy_broadcast_subscribe(tx, &rx[i]));
    eddy_join *jh[BC_RECEIVERS + 1];
    for (int i = 0; i < BC_RECEIVERS; i++)
        CHECK_OK(eddy_spawn(rt, &bc_receiver_vt, &(struct bc_receiver){.rx = rx[i], .n = n}, &jh[i]));
    CHECK_OK(eddy_spawn(rt, &bc_sender_vt, &(struct bc_sender){.tx = tx, .n = n}, &jh[BC_RECEIVERS]));
    mt_join_all(rt, jh, BC_RECEIVERS + 1);
    CHECK_EQ(mt_spread_count(&g_bc_spread), workers < BC_RECEIVERS ? workers : BC_RECEIVERS);
    eddy_rt_free(rt);
}

/* A receiver that does not keep up is told how many it missed, then goes
 * on from the oldest value kept. */
struct bc_lagger {
    eddy_coro co;
    eddy_broadcast_rx *rx;
    long n, cap, v, k;
    int rc;
    eddy_broadcast_recv rcv;
};

static eddy_poll bc_lagger_poll(struct bc_lagger *t, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&t->co, cx);
    EDDY_AWAIT(&t->rc, eddy_broadcast_recv, &t->rcv, t->rx, &t->v);
    CHECK_EQ(t->rc, -EDDY_ELAGGED);
    CHECK_EQ(eddy_broadcast_rx_missed(t->rx), t->n - t->cap);
    for (t->k = t->n - t->cap; t->k < t->n; t->k++) {
        EDDY_AWAIT(&t->rc, eddy_broadcast_recv, &t->rcv, t->rx, &t->v);
        CHECK_EQ(t->rc, 0);
        CHECK_EQ(t->v, t->k);
    }
    EDDY_AWAIT(&t->rc, eddy_broadcast_recv, &t->rcv, t->rx, &t->v);
    CHECK_EQ(t->rc, -EDDY_ECLOSED);
    EDDY_FINALLY();
    eddy_broadcast_rx_drop(t->rx);
    EDDY_DONE();
}
EDDY_STATIC_CORO_VT_VOID(bc_lagger_vt, struct bc_lagger, bc_lagger_poll);

static void test_broadcast_lag(void)
{
    enum { CAP = 8, N = 1000 };
    eddy_rt *rt = mt_new(2, true);
    eddy_broadcast_tx *tx;
    eddy_broadcast_rx *slow;
    CHECK_OK(eddy_broadcast_new(&tx, &slow, sizeof(long), CAP));
    /* The sender runs on one worker and ends; the receiver then starts on
     * the other: it missed all but the last CAP values. */
    eddy_join *jh;
    CHECK_OK(eddy_spawn(rt, &bc_sender_vt, &(struct bc_sender){.tx = tx, .n = N}, &jh));
    mt_join_all(rt, &jh, 1);
    CHECK_OK(eddy_spawn(rt, &bc_lagger_vt, &(struct bc_lagger){.rx = slow, .n = N, .cap = CAP}, &jh));
    mt_join_all(rt, &jh, 1);
    eddy_rt_free(rt);
}

/* ==== watch =================================================================== */

enum { WATCH_WORDS = 8 };
struct wval {
    uint64_t w[WATCH_WORDS]; /* every word equal: a torn value shows */
};

struct w_sender {
    eddy_coro co;
    eddy_watch_tx *tx;
    uint64_t n, i;
    struct wval v;
    eddy_yield y;
};

static eddy_poll w_sender_poll(struct w_sender *t, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&t->co, cx);
    for (t->i = 1; t->i <= t->n; t->i++) {
        for (int k = 0; k < WATCH_WORDS; k++)
            t->v.w[k] = t->i;
        CHECK_OK(eddy_watch_send(t->tx, &t->v));
        if (t->i % 64 == 0)
            EDDY_AWAIT(NULL, eddy_yield, &t->y);
    }
    EDDY_FINALLY();
    eddy_watch_tx_drop(t->tx);
    EDDY_DONE();
}
EDDY_STATIC_CORO_VT_VOID(w_sender_vt, struct w_sender, w_sender_poll);

struct w_receiver {
    eddy_coro co;
    eddy_watch_rx *rx;
    uint64_t n, last, changes;
    struct wval v;
    int rc;
    eddy_watch_changed ch;
};

static void check_wval(const struct wval *v)
{
    for (int k = 1; k < WATCH_WORDS; k++)
        CHECK_MSG(v->w[k] == v->w[0], "torn watch value: word %d is %llu, word 0 is %llu", k,
                  (unsigned long long)v->w[k], (unsigned long long)v->w[0]);
}

static eddy_poll w_receiver_poll(struct w_receiver *t, eddy_cx *cx, long *out)
{
    EDDY_BEGIN(&t->co, cx);
    for (;;) {
        EDDY_AWAIT(&t->rc, eddy_watch_changed, &t->ch, t->rx);
        if (t->rc == -EDDY_ECLOSED)
            break;
        CHECK_EQ(t->rc, 0);
        /* borrow_and_update marks what it reads as seen, so the next change
         * is strictly newer (plain borrow could read a value that the next
         * eddy_watch_changed then reports again). */
        eddy_watch_borrow_and_update(t->rx, &t->v);
        check_wval(&t->v);
        /* Values only move forward: a receiver never sees an older value
         * after a newer one. */
        CHECK(t->v.w[0] > t->last);
        t->last = t->v.w[0];
        t->changes++;
    }
    /* The end comes only after the last value, which stays readable. */
    eddy_watch_borrow(t->rx, &t->v);
    check_wval(&t->v);
    CHECK_EQ(t->v.w[0], t->n);
    CHECK_EQ(t->last, t->n);
    *out = (long)t->changes;
    EDDY_FINALLY();
    eddy_watch_rx_drop(t->rx);
    EDDY_DONE();
}
EDDY_STATIC_CORO_VT(w_receiver_vt, struct w_receiver, long, w_receiver_poll);

static void test_watch(void)
{
    enum { RX = 3 };
    const uint64_t n = (uint64_t)MT_SCALE(40000);
    eddy_rt *rt = mt_new(2, true);
    eddy_watch_tx *tx;
    eddy_watch_rx *rx[RX];
    struct wval zero = {{0}};
    CHECK_OK(eddy_watch_new(&tx, &rx[0], sizeof zero, &zero));
    for (int i = 1; i < RX; i++)
        CHECK_OK(eddy_watch_subscribe(tx, &rx[i]));
    eddy_join *jh[RX + 1];
    for (int i = 0; i < RX; i++)
        CHECK_OK(eddy_spawn(rt, &w_receiver_vt, &(struct w_receiver){.rx = rx[i], .n = n}, &jh[i]));
    CHECK_OK(eddy_spawn(rt, &w_sender_vt, &(struct w_sender){.tx = tx, .n = n}, &jh[RX]));
    mt_join_all(rt, jh, RX + 1);
    eddy_rt_free(rt);
}

int main(void)
{
    test_watchdog(230);
    const long per = MT_SCALE(100000);
    test_mpsc(2, true, MPSC_CAP, per);
    test_mpsc(2, false, MPSC_CAP, per);
    test_mpsc(4, false, 1, per / 10);
    test_mpsc(2, true, 0, per);
    test_mpsc(2, false, 0, per);
    test_mpsc_rx_dropped();
    test_oneshot_pingpong();
    test_broadcast(2);
    test_broadcast(4);
    test_broadcast_lag();
    test_watch();
    printf("ok\n");
    return 0;
}
