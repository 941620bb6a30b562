/* bench_chan - channel benchmarks on the current-thread runtime, and the
 * contended cases again on a 2-worker multi-thread runtime (_mt2).
 *
 *   mpsc_uncontended_{bounded,unbounded}  one task sends 5,000 values, then
 *                                         receives them (ns per value: one
 *                                         send + one receive)
 *   mpsc_contended_tasks_{cap5000,cap64}  5 producer tasks x 1,000 values
 *                                         into one consumer task (ns per
 *                                         value, end to end)
 *   mpsc_contended_threads_{5k,500k}      5 producer pthreads (blocking
 *                                         sends, capacity 1024) x 1,000 or
 *                                         x 100,000 values into a task
 *   mpsc_pingpong_tasks                   a value back and forth between two
 *                                         tasks over two capacity-1
 *                                         channels (ns per round trip)
 *   oneshot_pingpong_tasks                two tasks; each round trip creates
 *                                         two oneshot channels: a request
 *                                         carrying the reply sender and the
 *                                         next request receiver
 *   mpsc_contended_tasks_{cap5000,cap64}_mt2  the contended case on a
 *                                         2-worker multi-thread runtime: the
 *                                         producers and the consumer are all
 *                                         spawned tasks (block_on only joins
 *                                         the consumer), as in tokio_bench
 *   oneshot_pingpong_tasks_mt2            the oneshot ping-pong on the
 *                                         2-worker runtime, both sides
 *                                         spawned tasks
 *
 * Each benchmark runs 7 times; the median is printed, then a line
 *   RESULT name=<name> ns_per_op=<median> min=.. max=.. reps=7
 * Usage: bench_chan [-q]   (-q: fewer repetitions inside each run) */
#include <eddy.h>

#define BENCH_NAME "bench_chan"
#include "bench_util.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int g_quick;
static eddy_rt *g_rt;
static eddy_rt *g_mt2; /* multi-thread, 2 workers */

/* Awaits one join handle (the _mt2 cases: block_on only joins the task
 * doing the work, like Tokio's `spawn(fut).await`). */
struct join_one {
    eddy_join *jh;
};
static eddy_poll join_one_poll(struct join_one *t, eddy_cx *cx, void *out)
{
    (void)out;
    return eddy_join_poll(t->jh, cx, NULL);
}
static void join_one_drop(struct join_one *t) { (void)t; }
EDDY_FUTURE_VT_VOID(join_one_vt, struct join_one, join_one_poll, join_one_drop);

static void run_joined(eddy_rt *rt, const eddy_future_vt *vt, const void *init)
{
    struct join_one j;
    OK(eddy_spawn(rt, vt, init, &j.jh));
    OK(eddy_block_on(rt, &join_one_vt, &j, NULL));
    if (eddy_join_status(j.jh) != 0)
        die("task", eddy_join_status(j.jh));
    eddy_join_detach(j.jh);
}

/* ---- mpsc uncontended ---------------------------------------------------------- */

#define UNC 5000

struct unc {
    eddy_coro co;
    int i, rc, reps, rep;
    uint64_t v;
    eddy_mpsc_tx *tx;
    eddy_mpsc_rx *rx;
    eddy_mpsc_send snd;
    eddy_mpsc_recv rcv;
};

static eddy_poll unc_poll(struct unc *t, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&t->co, cx);
    for (t->rep = 0; t->rep < t->reps; t->rep++) {
        for (t->i = 0; t->i < UNC; t->i++) {
            t->v = (uint64_t)t->i;
            EDDY_AWAIT(&t->rc, eddy_mpsc_send, &t->snd, t->tx, &t->v);
        }
        for (t->i = 0; t->i < UNC; t->i++) {
            EDDY_AWAIT(&t->rc, eddy_mpsc_recv, &t->rcv, t->rx, &t->v);
            if (t->rc != 0 || t->v != (uint64_t)t->i)
                die("uncontended recv", t->rc ? t->rc : -EINVAL);
        }
    }
    EDDY_END();
}
EDDY_CORO_VT_VOID(unc_vt, struct unc, unc_poll);

static double run_unc(int bounded)
{
    struct unc t;
    memset(&t, 0, sizeof t);
    t.reps = g_quick ? 4 : 20;
    if (bounded)
        OK(eddy_mpsc_new(&t.tx, &t.rx, sizeof(uint64_t), UNC));
    else
        OK(eddy_mpsc_unbounded_new(&t.tx, &t.rx, sizeof(uint64_t)));
    uint64_t t0 = now_ns();
    OK(eddy_block_on(g_rt, &unc_vt, &t, NULL));
    uint64_t dt = now_ns() - t0;
    eddy_mpsc_tx_drop(t.tx);
    eddy_mpsc_rx_drop(t.rx);
    return (double)dt / ((double)UNC * t.reps);
}
static double unc_bounded(void) { return run_unc(1); }
static double unc_unbounded(void) { return run_unc(0); }

/* ---- mpsc contended: producer tasks ----------------------------------------------- */

#define PRODUCERS 5
#define PER_PRODUCER 1000

struct producer {
    eddy_coro co;
    int i, rc, n;
    uint64_t v;
    eddy_mpsc_tx *tx;
    eddy_mpsc_send snd;
};

static eddy_poll producer_poll(struct producer *t, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&t->co, cx);
    for (t->i = 0; t->i < t->n; t->i++) {
        t->v = (uint64_t)t->i;
        EDDY_AWAIT(&t->rc, eddy_mpsc_send, &t->snd, t->tx, &t->v);
    }
    EDDY_FINALLY();
    eddy_mpsc_tx_drop(t->tx);
    EDDY_DONE();
}
EDDY_CORO_VT_VOID(producer_vt, struct producer, producer_poll);

struct consumer {
    eddy_coro co;
    int rc;
    long got;
    uint64_t v;
    eddy_mpsc_rx *rx;
    eddy_mpsc_recv rcv;
    int spawn;       /* spawn the producer tasks first */
    size_t cap;
    atomic_int *go;  /* threads variant: start signal */
    long *result;    /* spawned variant: where the count goes */
};

static eddy_poll consumer_poll(struct consumer *t, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&t->co, cx);
    if (t->go)
        atomic_store(t->go, 1);
    for (;;) {
        EDDY_AWAIT(&t->rc, eddy_mpsc_recv, &t->rcv, t->rx, &t->v);
        if (t->rc != 0)
            break;
        t->got++;
    }
    if (t->result)
        *t->result = t->got; /* read after the join: ordered by it */
    EDDY_END();
}
EDDY_CORO_VT_VOID(consumer_vt, struct consumer, consumer_poll);

static double run_contended_tasks(size_t cap)
{
    int reps = g_quick ? 3 : 10;
    uint64_t total = 0;
    for (int r = 0; r < reps; r++) {
        struct consumer c;
        memset(&c, 0, sizeof c);
        eddy_mpsc_tx *tx;
        OK(eddy_mpsc_new(&tx, &c.rx, sizeof(uint64_t), cap));
        uint64_t t0 = now_ns();
        for (int i = 0; i < PRODUCERS; i++) {
            struct producer p;
            memset(&p, 0, sizeof p);
            p.n = PER_PRODUCER;
            OK(eddy_mpsc_tx_clone(tx, &p.tx));
            OK(eddy_spawn(g_rt, &producer_vt, &p, NULL));
        }
        eddy_mpsc_tx_drop(tx);
        OK(eddy_block_on(g_rt, &consumer_vt, &c, NULL));
        total += now_ns() - t0;
        if (c.got != PRODUCERS * PER_PRODUCER)
            die("contended count", -EINVAL);
        eddy_mpsc_rx_drop(c.rx);
    }
    return (double)total / ((double)reps * PRODUCERS * PER_PRODUCER);
}
static double contended_tasks_big(void) { return run_contended_tasks(PRODUCERS * PER_PRODUCER); }
static double contended_tasks_small(void) { return run_contended_tasks(64); }

/* The same on the 2-worker runtime: producers spawned from outside, the
 * consumer a spawned task too; the producers and the consumer run in
 * parallel, so the channel's lock and wakes cross threads. */
static double run_contended_mt2(size_t cap)
{
    int reps = g_quick ? 3 : 10;
    uint64_t total = 0;
    for (int r = 0; r < reps; r++) {
        struct consumer c;
        memset(&c, 0, sizeof c);
        long got = 0;
        c.result = &got;
        eddy_mpsc_tx *tx;
        OK(eddy_mpsc_new(&tx, &c.rx, sizeof(uint64_t), cap));
        eddy_mpsc_rx *rx = c.rx;
        uint64_t t0 = now_ns();
        for (int i = 0; i < PRODUCERS; i++) {
            struct producer p;
            memset(&p, 0, sizeof p);
            p.n = PER_PRODUCER;
            OK(eddy_mpsc_tx_clone(tx, &p.tx));
            OK(eddy_spawn(g_mt2, &producer_vt, &p, NULL));
        }
        eddy_mpsc_tx_drop(tx);
        run_joined(g_mt2, &consumer_vt, &c);
        total += now_ns() - t0;
        if (got != PRODUCERS * PER_PRODUCER)
            die("contended count (mt2)", -EINVAL);
        eddy_mpsc_rx_drop(rx);
    }
    return (double)total / ((double)reps * PRODUCERS * PER_PRODUCER);
}
static double contended_tasks_big_mt2(void) { return run_contended_mt2(PRODUCERS * PER_PRODUCER); }
static double contended_tasks_small_mt2(void) { return run_contended_mt2(64); }

/* ---- mpsc contended: producer threads ---------------------------------------------- */

struct thr {
    eddy_mpsc_tx *tx;
    atomic_int *go;
    int n;
};

static void *thread_producer(void *arg)
{
    struct thr *a = arg;
    while (!atomic_load_explicit(a->go, memory_order_acquire))
        sched_yield(); /* leave the CPU to the consumer's thread */
    for (int i = 0; i < a->n; i++) {
        uint64_t v = (uint64_t)i;
        OK(eddy_mpsc_send_blocking(a->tx, &v));
    }
    eddy_mpsc_tx_drop(a->tx);
    return NULL;
}

static double run_contended_threads(int per)
{
    atomic_int go;
    atomic_init(&go, 0);
    struct consumer c;
    memset(&c, 0, sizeof c);
    c.go = &go;
    eddy_mpsc_tx *tx;
    OK(eddy_mpsc_new(&tx, &c.rx, sizeof(uint64_t), 1024));
    pthread_t th[PRODUCERS];
    struct thr args[PRODUCERS];
    for (int i = 0; i < PRODUCERS; i++) {
        OK(eddy_mpsc_tx_clone(tx, &args[i].tx));
        args[i].go = &go;
        args[i].n = per;
        if (pthread_create(&th[i], NULL, thread_producer, &args[i]) != 0)
            die("pthread_create", -EAGAIN);
    }
    eddy_mpsc_tx_drop(tx);
    uint64_t t0 = now_ns(); /* the threads start when the consumer runs */
    OK(eddy_block_on(g_rt, &consumer_vt, &c, NULL));
    uint64_t dt = now_ns() - t0;
    for (int i = 0; i < PRODUCERS; i++)
        pthread_join(th[i], NULL);
    if (c.got != (long)PRODUCERS * per)
        die("threads count", -EINVAL);
    eddy_mpsc_rx_drop(c.rx);
    return (double)dt / ((double)PRODUCERS * per);
}
static double contended_threads_small(void) { return run_contended_threads(PER_PRODUCER); }
static double contended_threads_big(void) { return run_contended_threads(g_quick ? 20000 : 100000); }

/* ---- mpsc ping-pong between two tasks ----------------------------------------------- */

struct pong {
    eddy_coro co;
    int rc;
    uint64_t v;
    eddy_mpsc_rx *in;
    eddy_mpsc_tx *out;
    eddy_mpsc_send snd;
    eddy_mpsc_recv rcv;
};

static eddy_poll pong_poll(struct pong *t, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&t->co, cx);
    for (;;) {
        EDDY_AWAIT(&t->rc, eddy_mpsc_recv, &t->rcv, t->in, &t->v);
        if (t->rc != 0)
            break;
        t->v++;
        EDDY_AWAIT(&t->rc, eddy_mpsc_send, &t->snd, t->out, &t->v);
    }
    EDDY_FINALLY();
    eddy_mpsc_tx_drop(t->out);
    EDDY_DONE();
}
EDDY_CORO_VT_VOID(pong_vt, struct pong, pong_poll);

struct ping {
    eddy_coro co;
    int rc, i, n;
    uint64_t v;
    eddy_mpsc_rx *in;
    eddy_mpsc_tx *out;
    eddy_join *peer;
    eddy_mpsc_send snd;
    eddy_mpsc_recv rcv;
};

static eddy_poll ping_poll(struct ping *t, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&t->co, cx);
    for (t->i = 0; t->i < t->n; t->i++) {
        t->v = (uint64_t)t->i * 2;
        EDDY_AWAIT(&t->rc, eddy_mpsc_send, &t->snd, t->out, &t->v);
        EDDY_AWAIT(&t->rc, eddy_mpsc_recv, &t->rcv, t->in, &t->v);
        if (t->rc != 0 || t->v != (uint64_t)t->i * 2 + 1)
            die("ping-pong", -EINVAL);
    }
    eddy_mpsc_tx_drop(t->out); /* the peer sees the end and finishes */
    EDDY_AWAIT_POLL(NULL, eddy_join, t->peer);
    EDDY_END();
}
EDDY_CORO_VT_VOID(ping_vt, struct ping, ping_poll);

static double mpsc_pingpong(void)
{
    struct ping p;
    struct pong q;
    memset(&p, 0, sizeof p);
    memset(&q, 0, sizeof q);
    p.n = g_quick ? 20000 : 100000;
    OK(eddy_mpsc_new(&p.out, &q.in, sizeof(uint64_t), 1));
    OK(eddy_mpsc_new(&q.out, &p.in, sizeof(uint64_t), 1));
    uint64_t t0 = now_ns();
    OK(eddy_spawn(g_rt, &pong_vt, &q, &p.peer));
    OK(eddy_block_on(g_rt, &ping_vt, &p, NULL));
    uint64_t dt = now_ns() - t0;
    eddy_join_detach(p.peer);
    eddy_mpsc_rx_drop(p.in);
    eddy_mpsc_rx_drop(q.in);
    return (double)dt / p.n;
}

/* ---- oneshot ping-pong between two tasks --------------------------------------------- */

/* A request carries the sender for the reply and the receiver of the next
 * request, so each round trip uses two fresh oneshot channels. */
struct req {
    eddy_oneshot_tx *reply;
    eddy_oneshot_rx *next;
};

struct os_pong {
    eddy_coro co;
    int rc;
    struct req r;
    eddy_oneshot_rx *in;
    eddy_oneshot_recv rcv;
};

static eddy_poll os_pong_poll(struct os_pong *t, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&t->co, cx);
    for (;;) {
        EDDY_AWAIT(&t->rc, eddy_oneshot_recv, &t->rcv, t->in, &t->r);
        eddy_oneshot_rx_drop(t->in);
        t->in = NULL;
        if (t->rc != 0)
            break; /* the pinger dropped its sender: done */
        {
            uint8_t ack = 1;
            OK(eddy_oneshot_send(t->r.reply, &ack));
        }
        t->in = t->r.next;
    }
    EDDY_FINALLY();
    eddy_oneshot_rx_drop(t->in);
    EDDY_DONE();
}
EDDY_CORO_VT_VOID(os_pong_vt, struct os_pong, os_pong_poll);

struct os_ping {
    eddy_coro co;
    int rc, i, n;
    uint8_t ack;
    struct req r;
    eddy_oneshot_tx *out;
    eddy_oneshot_rx *reply_rx;
    eddy_oneshot_tx *next_tx;
    eddy_join *peer;
    eddy_oneshot_recv rcv;
};

static eddy_poll os_ping_poll(struct os_ping *t, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&t->co, cx);
    for (t->i = 0; t->i < t->n; t->i++) {
        OK(eddy_oneshot_new(&t->r.reply, &t->reply_rx, sizeof(uint8_t)));
        OK(eddy_oneshot_new(&t->next_tx, &t->r.next, sizeof(struct req)));
        OK(eddy_oneshot_send(t->out, &t->r));
        t->out = t->next_tx;
        EDDY_AWAIT(&t->rc, eddy_oneshot_recv, &t->rcv, t->reply_rx, &t->ack);
        if (t->rc != 0 || t->ack != 1)
            die("oneshot ping-pong", t->rc ? t->rc : -EINVAL);
        eddy_oneshot_rx_drop(t->reply_rx);
    }
    eddy_oneshot_tx_drop(t->out);
    EDDY_AWAIT_POLL(NULL, eddy_join, t->peer);
    EDDY_END();
}
EDDY_CORO_VT_VOID(os_ping_vt, struct os_ping, os_ping_poll);

static double oneshot_pingpong(void)
{
    struct os_ping p;
    struct os_pong q;
    memset(&p, 0, sizeof p);
    memset(&q, 0, sizeof q);
    p.n = g_quick ? 20000 : 100000;
    OK(eddy_oneshot_new(&p.out, &q.in, sizeof(struct req)));
    uint64_t t0 = now_ns();
    OK(eddy_spawn(g_rt, &os_pong_vt, &q, &p.peer));
    OK(eddy_block_on(g_rt, &os_ping_vt, &p, NULL));
    uint64_t dt = now_ns() - t0;
    eddy_join_detach(p.peer);
    return (double)dt / p.n;
}

static double oneshot_pingpong_mt2(void)
{
    struct os_ping p;
    struct os_pong q;
    memset(&p, 0, sizeof p);
    memset(&q, 0, sizeof q);
    p.n = g_quick ? 20000 : 100000;
    OK(eddy_oneshot_new(&p.out, &q.in, sizeof(struct req)));
    uint64_t t0 = now_ns();
    eddy_join *peer;
    OK(eddy_spawn(g_mt2, &os_pong_vt, &q, &peer));
    p.peer = peer;
    run_joined(g_mt2, &os_ping_vt, &p);
    uint64_t dt = now_ns() - t0;
    eddy_join_detach(peer);
    return (double)dt / p.n;
}

int main(int argc, char **argv)
{
    g_quick = argc > 1 && strcmp(argv[1], "-q") == 0;
    OK(eddy_rt_new(&g_rt, NULL));
    report("mpsc_uncontended_bounded", unc_bounded);
    report("mpsc_uncontended_unbounded", unc_unbounded);
    report("mpsc_contended_tasks_cap5000", contended_tasks_big);
    report("mpsc_contended_tasks_cap64", contended_tasks_small);
    report("mpsc_contended_threads_5k", contended_threads_small);
    report("mpsc_contended_threads_500k", contended_threads_big);
    report("mpsc_pingpong_tasks", mpsc_pingpong);
    report("oneshot_pingpong_tasks", oneshot_pingpong);
    eddy_rt_free(g_rt);
    OK(eddy_rt_new(&g_mt2, &(eddy_rt_builder){.flavor = EDDY_RT_MULTI_THREAD, .workers = 2}));
    report("mpsc_contended_tasks_cap5000_mt2", contended_tasks_big_mt2);
    report("mpsc_contended_tasks_cap64_mt2", contended_tasks_small_mt2);
    report("oneshot_pingpong_tasks_mt2", oneshot_pingpong_mt2);
    eddy_rt_free(g_mt2);
    return 0;
}
