/* bench_mt - the multi-thread runtime's microbenchmarks (issue 4, item 8).
 *
 * Cases (each prints `RESULT name=<case> ns_per_op=...`; bench/run.sh sets
 * them beside tokio_mt_bench's, which does the same work on Tokio's
 * multi-thread runtime):
 *   mt_spawn_outside   the main thread (not a worker) spawns N detached
 *                      tasks; the last one to finish signals a oneshot
 *   mt_spawn_inside    a task spawns N tasks in batches of 1024 and awaits
 *                      each join handle
 *   mt_chained_spawn   each task spawns the next, N deep
 *   mt_ping_pong       two tasks bounce a token through two bounded(1) mpsc
 *                      channels, N round trips (ns per round trip)
 *   mt_cpu_1w          10,000 tasks of ~10 us of arithmetic (5,000 xorshift
 *                      steps) on 1 worker
 *   mt_cpu_2w          the same on 2 workers (ns per task; the speed-up is
 *                      mt_cpu_1w / mt_cpu_2w, printed too)
 * All on 2 workers unless named otherwise; spin before park: the default.
 *
 * Usage: bench_mt [-q] [-c CASE]   (-q: fewer tasks, for make bench QUICK=1) */
#define BENCH_NAME "bench_mt"
#include <eddy.h>

#include "bench_util.h"

#include <stdatomic.h>
#include <string.h>

static long N_SPAWN = 200000, N_CHAIN = 100000, N_PING = 100000, N_CPU = 10000;
/* ~10 us of dependent arithmetic (about 2 ns per iteration here); fixed,
 * not calibrated, so that a loaded machine at start-up cannot change the
 * work: Tokio's peer uses the same number. */
static unsigned cpu_iters = 5000;
static eddy_rt *rt;

static eddy_rt *mt_rt(unsigned workers)
{
    eddy_rt *r;
    OK(eddy_rt_new(&r, &(eddy_rt_builder){.flavor = EDDY_RT_MULTI_THREAD, .workers = workers}));
    return r;
}

/* ---- completion: a counter, and a oneshot the last task fires ------------------ */

static atomic_long remaining;
static eddy_oneshot_tx *done_tx;
static eddy_oneshot_rx *done_rx;

static void arm_done(long n)
{
    atomic_store(&remaining, n);
    OK(eddy_oneshot_new(&done_tx, &done_rx, sizeof(int)));
}

static inline void count_one(void)
{
    if (atomic_fetch_sub_explicit(&remaining, 1, memory_order_acq_rel) == 1) {
        int one = 1;
        OK(eddy_oneshot_send(done_tx, &one)); /* consumes the sender */
    }
}

/* block_on's root: waits for the oneshot. */
struct wait_done {
    eddy_coro co;
    eddy_oneshot_recv r;
    int v, rc;
};
static eddy_poll wait_done_poll(struct wait_done *w, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&w->co, cx);
    EDDY_AWAIT(&w->rc, eddy_oneshot_recv, &w->r, done_rx, &w->v);
    EDDY_END();
}
EDDY_STATIC_CORO_VT_VOID(wait_done_vt, struct wait_done, wait_done_poll);

static void wait_all(void)
{
    struct wait_done w;
    memset(&w, 0, sizeof w);
    OK(eddy_block_on(rt, &wait_done_vt, &w, NULL));
    OK(w.rc);
    eddy_oneshot_rx_drop(done_rx);
}

/* ---- tasks ---------------------------------------------------------------------------- */

struct leaf {
    long i;
};
static eddy_poll leaf_poll(struct leaf *l, eddy_cx *cx, long *out)
{
    (void)cx;
    *out = l->i;
    count_one();
    return EDDY_READY;
}
static void leaf_drop(struct leaf *l) { (void)l; }
EDDY_STATIC_FUTURE_VT(leaf_vt, struct leaf, long, leaf_poll, leaf_drop);

static double spawn_outside(void)
{
    arm_done(N_SPAWN);
    uint64_t t0 = now_ns();
    for (long i = 0; i < N_SPAWN; i++)
        OK(eddy_spawn(rt, &leaf_vt, &(struct leaf){i}, NULL));
    wait_all();
    return (double)(now_ns() - t0) / (double)N_SPAWN;
}

enum { BATCH = 1024 };
struct spawner {
    eddy_coro co;
    long done, k, n;
    long out;
    eddy_join *jh[BATCH];
};
static eddy_poll spawner_poll(struct spawner *s, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&s->co, cx);
    for (s->done = 0; s->done < N_SPAWN; s->done += s->n) {
        s->n = N_SPAWN - s->done < BATCH ? N_SPAWN - s->done : BATCH;
        for (long i = 0; i < s->n; i++)
            OK(eddy_spawn_local(&leaf_vt, &(struct leaf){s->done + i}, &s->jh[i]));
        for (s->k = 0; s->k < s->n; s->k++) {
            EDDY_AWAIT_POLL(&s->out, eddy_join, s->jh[s->k]);
            eddy_join_detach(s->jh[s->k]);
        }
    }
    EDDY_END();
}
EDDY_STATIC_CORO_VT_VOID(spawner_vt, struct spawner, spawner_poll);

static double spawn_inside(void)
{
    arm_done(N_SPAWN);
    static struct spawner s;
    memset(&s, 0, sizeof s);
    uint64_t t0 = now_ns();
    OK(eddy_spawn(rt, &spawner_vt, &s, NULL));
    wait_all();
    return (double)(now_ns() - t0) / (double)N_SPAWN;
}

struct link {
    long left;
};
static const eddy_future_vt link_vt;
static eddy_poll link_poll(struct link *l, eddy_cx *cx, void *out)
{
    (void)cx, (void)out;
    if (l->left > 0)
        OK(eddy_spawn_local(&link_vt, &(struct link){l->left - 1}, NULL));
    else
        count_one();
    return EDDY_READY;
}
static void link_drop(struct link *l) { (void)l; }
EDDY_STATIC_FUTURE_VT_VOID(link_vt, struct link, link_poll, link_drop);

static double chained_spawn(void)
{
    arm_done(1);
    uint64_t t0 = now_ns();
    OK(eddy_spawn(rt, &link_vt, &(struct link){N_CHAIN - 1}, NULL));
    wait_all();
    return (double)(now_ns() - t0) / (double)N_CHAIN;
}

/* ---- ping-pong ------------------------------------------------------------------------- */

struct player {
    eddy_coro co;
    eddy_mpsc_tx *tx;
    eddy_mpsc_rx *rx;
    eddy_mpsc_send s;
    eddy_mpsc_recv r;
    long i, v;
    int rc;
    bool serves; /* sends first */
};
static eddy_poll player_poll(struct player *p, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&p->co, cx);
    for (p->i = 0; p->i < N_PING; p->i++) {
        if (p->serves) {
            EDDY_AWAIT(&p->rc, eddy_mpsc_send, &p->s, p->tx, &p->i);
            EDDY_AWAIT(&p->rc, eddy_mpsc_recv, &p->r, p->rx, &p->v);
        } else {
            EDDY_AWAIT(&p->rc, eddy_mpsc_recv, &p->r, p->rx, &p->v);
            EDDY_AWAIT(&p->rc, eddy_mpsc_send, &p->s, p->tx, &p->v);
        }
        if (p->rc != 0)
            die("ping-pong channel", p->rc);
    }
    count_one();
    EDDY_FINALLY();
    eddy_mpsc_tx_drop(p->tx);
    eddy_mpsc_rx_drop(p->rx);
    EDDY_DONE();
}
EDDY_STATIC_CORO_VT_VOID(player_vt, struct player, player_poll);

static double ping_pong(void)
{
    eddy_mpsc_tx *atx, *btx;
    eddy_mpsc_rx *arx, *brx;
    OK(eddy_mpsc_new(&atx, &arx, sizeof(long), 1));
    OK(eddy_mpsc_new(&btx, &brx, sizeof(long), 1));
    arm_done(2);
    struct player a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    a.tx = atx, a.rx = brx, a.serves = true;
    b.tx = btx, b.rx = arx, b.serves = false;
    uint64_t t0 = now_ns();
    OK(eddy_spawn(rt, &player_vt, &a, NULL));
    OK(eddy_spawn(rt, &player_vt, &b, NULL));
    wait_all();
    return (double)(now_ns() - t0) / (double)N_PING;
}

/* ---- CPU-bound tasks ----------------------------------------------------------------- */

static atomic_ulong sink;

static uint64_t work(unsigned iters, uint64_t x)
{
    for (unsigned i = 0; i < iters; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
    }
    return x;
}

struct cpu {
    long i;
};
static eddy_poll cpu_poll(struct cpu *c, eddy_cx *cx, void *out)
{
    (void)cx, (void)out;
    atomic_fetch_xor_explicit(&sink, work(cpu_iters, (uint64_t)c->i + 1), memory_order_relaxed);
    count_one();
    return EDDY_READY;
}
static void cpu_drop(struct cpu *c) { (void)c; }
EDDY_STATIC_FUTURE_VT_VOID(cpu_vt, struct cpu, cpu_poll, cpu_drop);

static double cpu_tasks(void)
{
    arm_done(N_CPU);
    uint64_t t0 = now_ns();
    for (long i = 0; i < N_CPU; i++)
        OK(eddy_spawn(rt, &cpu_vt, &(struct cpu){i}, NULL));
    wait_all();
    return (double)(now_ns() - t0) / (double)N_CPU;
}

int main(int argc, char **argv)
{
    const char *only = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-q")) {
            N_SPAWN = 50000, N_CHAIN = 20000, N_PING = 20000;
        } else if (!strcmp(argv[i], "-c") && i + 1 < argc) {
            only = argv[++i];
        } else {
            fprintf(stderr, "usage: bench_mt [-q] [-c CASE]\n");
            return 2;
        }
    }
#define CASE(name, fn)                                                                                        \
    if (!only || !strcmp(only, name))                                                                         \
    report(name, fn)
    rt = mt_rt(2);
    CASE("mt_spawn_outside", spawn_outside);
    CASE("mt_spawn_inside", spawn_inside);
    CASE("mt_chained_spawn", chained_spawn);
    CASE("mt_ping_pong", ping_pong);
    CASE("mt_cpu_2w", cpu_tasks);
    eddy_rt_free(rt);
    rt = mt_rt(1);
    CASE("mt_cpu_1w", cpu_tasks);
    eddy_rt_free(rt);
    printf("cpu task: %u iterations (~10 us)\n", cpu_iters);
    return 0;
}
