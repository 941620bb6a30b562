/* Spawning and joining on the current-thread runtime:
 * - eddy_rt_current() is NULL outside a runtime and the runtime inside
 *   block_on's root and inside tasks; eddy_spawn_local outside fails with
 *   -EDDY_ENORUNTIME and runs nothing;
 * - tasks spawn tasks (a binary tree 11 levels deep, each node joining its
 *   two children): every node runs once and the sums come back up;
 * - a join handle copies exactly out_size bytes of output (a 300-byte
 *   struct, guard bytes after it untouched), status 0, and can be polled
 *   again after READY; a task without output copies nothing;
 * - a frame aligned to 64 bytes is spawned at a 64-byte aligned address;
 * - bad arguments give -EINVAL. */

#include <eddy.h>

#include "eddy_test.h"

static eddy_rt *rt;

/* ---- a tree of tasks ------------------------------------------------------ */

enum { TREE_DEPTH = 10 };
static long nodes_run;
static int rt_current_ok = 1;

struct node {
    eddy_coro co;
    int depth;
    long a, b;
    eddy_join *left, *right;
};

extern const eddy_future_vt node_vt; /* defined below; the poll spawns its own kind */

static eddy_poll node_poll(struct node *n, eddy_cx *cx, long *out)
{
    EDDY_BEGIN(&n->co, cx);
    nodes_run++;
    if (eddy_rt_current() != rt)
        rt_current_ok = 0;
    if (n->depth == TREE_DEPTH) {
        *out = 1;
        EDDY_RETURN();
    }
    {
        struct node child = {.depth = n->depth + 1};
        CHECK_OK(eddy_spawn_local(&node_vt, &child, &n->left));
        CHECK_OK(eddy_spawn_local(&node_vt, &child, &n->right));
    }
    EDDY_AWAIT_POLL(&n->a, eddy_join, n->left);
    EDDY_AWAIT_POLL(&n->b, eddy_join, n->right);
    CHECK_EQ(eddy_join_status(n->left), 0);
    CHECK_EQ(eddy_join_status(n->right), 0);
    eddy_join_detach(n->left);
    eddy_join_detach(n->right);
    *out = n->a + n->b + 1;
    EDDY_END();
}
EDDY_CORO_VT(node_vt, struct node, long, node_poll);

/* ---- a task with a big output --------------------------------------------- */

struct big {
    unsigned char bytes[300];
    long sum;
};

struct big_out_with_guard {
    struct big b;
    unsigned char guard[64];
};

struct maker {
    eddy_coro co;
    unsigned char seed;
    eddy_yield y;
};

static eddy_poll maker_poll(struct maker *m, eddy_cx *cx, struct big *out)
{
    EDDY_BEGIN(&m->co, cx);
    EDDY_AWAIT(NULL, eddy_yield, &m->y);
    long sum = 0;
    for (int i = 0; i < 300; i++) {
        out->bytes[i] = (unsigned char)(m->seed + i);
        sum += out->bytes[i];
    }
    out->sum = sum;
    EDDY_END();
}
EDDY_CORO_VT(maker_vt, struct maker, struct big, maker_poll);

/* ---- no output -------------------------------------------------------------- */

static int quiet_runs;
struct quiet {
    int x;
};
static eddy_poll quiet_poll(struct quiet *q, eddy_cx *cx, void *out)
{
    (void)cx;
    (void)out;
    quiet_runs += q->x;
    return EDDY_READY;
}
static void quiet_drop(struct quiet *q) { (void)q; }
EDDY_FUTURE_VT_VOID(quiet_vt, struct quiet, quiet_poll, quiet_drop);

/* ---- an over-aligned frame ------------------------------------------------ */

static int aligned_ok = -1;
struct aligned {
    _Alignas(64) unsigned char line[64];
    int tag;
};
static eddy_poll aligned_poll(struct aligned *a, eddy_cx *cx, int *out)
{
    (void)cx;
    aligned_ok = ((uintptr_t)a % 64) == 0 && a->tag == 1234 && a->line[63] == 9;
    *out = a->tag;
    return EDDY_READY;
}
static void aligned_drop(struct aligned *a) { (void)a; }
EDDY_FUTURE_VT(aligned_vt, struct aligned, int, aligned_poll, aligned_drop);

/* ---- the root --------------------------------------------------------------- */

struct root {
    eddy_coro co;
    eddy_join *tree, *mk, *q, *al;
    long tree_out;
    struct big_out_with_guard big;
    int al_out;
};

static eddy_poll root_poll(struct root *r, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&r->co, cx);
    CHECK(eddy_rt_current() == rt);
    {
        struct node n = {.depth = 0};
        CHECK_OK(eddy_spawn_local(&node_vt, &n, &r->tree));
        struct maker m = {.seed = 17};
        CHECK_OK(eddy_spawn_local(&maker_vt, &m, &r->mk));
        struct quiet q = {.x = 5};
        CHECK_OK(eddy_spawn_local(&quiet_vt, &q, &r->q));
        struct aligned a = {.tag = 1234};
        a.line[63] = 9;
        CHECK_OK(eddy_spawn_local(&aligned_vt, &a, &r->al));
    }
    EDDY_AWAIT_POLL(&r->tree_out, eddy_join, r->tree);
    memset(&r->big, 0xEE, sizeof r->big);
    EDDY_AWAIT_POLL(&r->big.b, eddy_join, r->mk);
    EDDY_AWAIT_POLL(NULL, eddy_join, r->q);
    EDDY_AWAIT_POLL(&r->al_out, eddy_join, r->al);
    EDDY_END();
}
EDDY_CORO_VT_VOID(root_vt, struct root, root_poll);

int main(void)
{
    test_watchdog(60);
    CHECK(eddy_rt_current() == NULL);
    struct quiet q = {.x = 1000};
    eddy_join *jh = (eddy_join *)&q; /* must not be touched on failure */
    CHECK_EQ(eddy_spawn_local(&quiet_vt, &q, &jh), -EDDY_ENORUNTIME);
    CHECK(jh == (eddy_join *)&q);

    CHECK_OK(eddy_rt_new(&rt, test_builder(NULL)));
    CHECK_EQ(eddy_spawn(NULL, &quiet_vt, &q, NULL), -EINVAL);
    CHECK_EQ(eddy_spawn(rt, NULL, &q, NULL), -EINVAL);
    CHECK_EQ(eddy_spawn(rt, &quiet_vt, NULL, NULL), -EINVAL);

    struct root r;
    memset(&r, 0, sizeof r);
    CHECK_OK(eddy_block_on(rt, &root_vt, &r, NULL));
    CHECK(eddy_rt_current() == NULL);
    CHECK_EQ(quiet_runs, 5); /* the failed spawns ran nothing */

    /* The tree. */
    const long nodes = (2L << TREE_DEPTH) - 1;
    CHECK_EQ(r.tree_out, nodes);
    CHECK_EQ(nodes_run, nodes);
    CHECK(rt_current_ok);

    /* The big output: exactly out_size bytes copied. */
    CHECK_EQ(maker_vt.out_size, sizeof(struct big));
    long sum = 0;
    for (int i = 0; i < 300; i++) {
        CHECK_EQ(r.big.b.bytes[i], (unsigned char)(17 + i));
        sum += r.big.b.bytes[i];
    }
    CHECK_EQ(r.big.b.sum, sum);
    for (size_t i = 0; i < sizeof r.big.guard; i++)
        CHECK_MSG(r.big.guard[i] == 0xEE, "guard byte %zu overwritten: the join copied more than out_size", i);

    /* Status, and polling a finished handle again gives the output again. */
    CHECK(eddy_join_is_finished(r.mk));
    CHECK_EQ(eddy_join_status(r.mk), 0);
    eddy_waker n = eddy_waker_noop();
    eddy_cx cx = {&n, NULL};
    struct big again;
    memset(&again, 0, sizeof again);
    CHECK_EQ(eddy_join_poll(r.mk, &cx, &again), EDDY_READY);
    CHECK(memcmp(&again, &r.big.b, sizeof again) == 0);
    CHECK_EQ(eddy_join_poll(r.mk, &cx, NULL), EDDY_READY); /* NULL out: nothing copied */

    /* No output: nothing copied even with an out pointer. */
    unsigned char canary[16];
    memset(canary, 0x5A, sizeof canary);
    CHECK_EQ(eddy_join_poll(r.q, &cx, canary), EDDY_READY);
    for (size_t i = 0; i < sizeof canary; i++)
        CHECK_EQ(canary[i], 0x5A);
    CHECK_EQ(eddy_join_status(r.q), 0);

    /* Over-aligned frame. */
    CHECK_EQ(aligned_vt.align, 64);
    CHECK_EQ(aligned_ok, 1);
    CHECK_EQ(r.al_out, 1234);

    eddy_join_detach(r.tree);
    eddy_join_detach(r.mk);
    eddy_join_detach(r.q);
    eddy_join_detach(r.al);
    eddy_join_detach(NULL); /* no-op */

    eddy_rt_stats st;
    CHECK_OK(eddy_rt_stats_get(rt, &st));
    CHECK_EQ(st.spawned, nodes + 3);
    CHECK_EQ(st.completed, nodes + 3);
    CHECK_EQ(st.alive, 0);
    CHECK_EQ(eddy_rt_stats_get(NULL, &st), -EINVAL);
    CHECK_EQ(eddy_rt_stats_get(rt, NULL), -EINVAL);
    eddy_rt_free(rt);
    eddy_rt_free(NULL);
    printf("test_rt_spawn: ok\n");
    return 0;
}
