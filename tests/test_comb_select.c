/* eddy_select / eddy_select_fair (include/eddy/combinators.h):
 * - on the runtime under a paused clock: the first ready index wins at its
 *   deadline; every loser is dropped exactly once while still pending and
 *   a losing eddy_sleep leaves no armed timer (eddy_sleep_is_armed false,
 *   and the wheel holds no timer at all);
 * - biased: of children ready in the same poll the lowest index wins, the
 *   later ones are never polled; woken children are tried in index order,
 *   not wake order;
 * - fair: with one cursor the winners rotate 0,1,2,0,1,2 over children
 *   that are always ready; never-ready children are skipped; woken
 *   children are tried from the cursor on;
 * - drop before the first poll and while pending drops each child once;
 * - a select as a timeout (child vs sleep), nested through eddy_select_vt. */
#include <eddy.h>

#include "eddy_test.h"
#include "time/timers.h"

enum { MAXC = 16 };

/* ---- counted children -------------------------------------------------------------- */

static struct cstat {
    int polls, drops, readies;
    int dropped_pending; /* drop found it not finished */
    int open;
    eddy_waker slot;
} cs[MAXC];

static void stats_reset(void)
{
    for (int i = 0; i < MAXC; i++) {
        CHECK(cs[i].slot.vtable == NULL);
        cs[i] = (struct cstat){0};
    }
}

/* A sleep, counted. */
struct csleep {
    eddy_sleep sl;
    int id;
    int done;
};

static eddy_poll csleep_poll(struct csleep *s, eddy_cx *cx, int *out)
{
    cs[s->id].polls++;
    eddy_poll r = eddy_sleep_poll(&s->sl, cx, out);
    if (r == EDDY_READY) {
        s->done = 1;
        cs[s->id].readies++;
    }
    return r;
}

static void csleep_drop(struct csleep *s)
{
    cs[s->id].drops++;
    if (!s->done)
        cs[s->id].dropped_pending++;
    eddy_sleep_drop(&s->sl);
}

EDDY_FUTURE_VT(csleep_vt, struct csleep, int, csleep_poll, csleep_drop);

static void csleep_init(struct csleep *s, int id, uint64_t ns)
{
    s->id = id;
    s->done = 0;
    eddy_sleep_init(&s->sl, ns);
}

/* A gate: pending until cs[id].open; ready at once if open at its poll. */
struct gate {
    int id;
    int done;
};

static eddy_poll gate_poll(struct gate *g, eddy_cx *cx, int *out)
{
    struct cstat *s = &cs[g->id];
    s->polls++;
    CHECK_EQ(s->drops, 0);
    if (!s->open) {
        eddy_waker_set(&s->slot, cx->waker);
        return EDDY_PENDING;
    }
    eddy_waker_drop(&s->slot);
    g->done = 1;
    s->readies++;
    *out = 100 + g->id;
    return EDDY_READY;
}

static void gate_drop(struct gate *g)
{
    cs[g->id].drops++;
    if (!g->done)
        cs[g->id].dropped_pending++;
    eddy_waker_drop(&cs[g->id].slot);
}

EDDY_FUTURE_VT(gate_vt, struct gate, int, gate_poll, gate_drop);

static void gate_open(int i)
{
    cs[i].open = 1;
    eddy_waker_wake(&cs[i].slot);
}

/* ---- 1. first ready wins; losers cancelled --------------------------------------------- */

struct race {
    eddy_coro co;
    struct csleep s0, s1;
    struct gate g2;
    int o[3];
    eddy_child kids[3];
    eddy_select sel;
    size_t idx;
    eddy_instant t0, t1;
    size_t armed_during, armed_after;
};

static eddy_poll race_poll(struct race *t, eddy_cx *cx, int *out)
{
    EDDY_BEGIN(&t->co, cx);
    t->t0 = eddy_now();
    csleep_init(&t->s0, 0, EDDY_MS(50));
    csleep_init(&t->s1, 1, EDDY_MS(10));
    t->g2 = (struct gate){.id = 2};
    for (int i = 0; i < 3; i++)
        t->o[i] = -1;
    t->kids[0] = EDDY_CHILD(&csleep_vt, &t->s0, &t->o[0]);
    t->kids[1] = EDDY_CHILD(&csleep_vt, &t->s1, &t->o[1]);
    t->kids[2] = EDDY_CHILD(&gate_vt, &t->g2, &t->o[2]);
    t->idx = 99;
    eddy_select_init(&t->sel, t->kids, 3);
    /* Poll by hand once to see both timers armed, then await. */
    if (eddy_select_poll(&t->sel, EDDY_CX(), &t->idx) == EDDY_READY)
        EDDY_RETURN();
    t->armed_during = eddy__timers_armed(EDDY_CX()->core->timers);
    EDDY_AWAIT_POLL(&t->idx, eddy_select, &t->sel);
    t->t1 = eddy_now();
    t->armed_after = eddy__timers_armed(EDDY_CX()->core->timers);
    *out = 0;
    EDDY_END();
}

EDDY_CORO_VT(race_vt, struct race, int, race_poll);

static void test_first_wins(void)
{
    stats_reset();
    eddy_rt *rt;
    CHECK_OK(eddy_rt_new(&rt, &(eddy_rt_builder){.start_paused = true}));
    struct race t = {0};
    int out = -1;
    CHECK_OK(eddy_block_on(rt, &race_vt, &t, &out));
    CHECK_EQ(out, 0);
    CHECK_EQ(t.idx, 1);
    uint64_t dt = t.t1 - t.t0;
    CHECK_MSG(dt >= EDDY_MS(10) && dt < EDDY_MS(11), "select finished after %llu ns, want 10 ms",
              (unsigned long long)dt);
    CHECK_EQ(t.armed_during, 2);
    CHECK_EQ(t.armed_after, 0); /* the losing sleep left nothing in the wheel */
    CHECK(!eddy_sleep_is_armed(&t.s0.sl));
    CHECK(!eddy_sleep_is_armed(&t.s1.sl));
    CHECK_EQ(t.o[0], -1); /* losers' outputs untouched */
    CHECK_EQ(t.o[1], 0);
    CHECK_EQ(t.o[2], -1);
    for (int i = 0; i < 3; i++)
        CHECK_EQ(cs[i].drops, 1); /* exactly once each */
    CHECK_EQ(cs[0].dropped_pending, 1);
    CHECK_EQ(cs[1].dropped_pending, 0); /* the winner, released after READY */
    CHECK_EQ(cs[2].dropped_pending, 1);
    CHECK_EQ(cs[0].polls, 1); /* never woken, never re-polled */
    CHECK_EQ(cs[2].polls, 1);
    CHECK_EQ(cs[1].polls, 2);
    CHECK(cs[2].slot.vtable == NULL); /* the gate's waker clone was released */
    eddy_rt_free(rt);
}

/* ---- 2. biased ----------------------------------------------------------------------------- */

static void setup_gates(struct gate *g, int *o, eddy_child *kids, int n)
{
    for (int i = 0; i < n; i++) {
        g[i] = (struct gate){.id = i};
        o[i] = -1;
        kids[i] = EDDY_CHILD(&gate_vt, &g[i], &o[i]);
    }
}

static void test_biased_first_poll(void)
{
    stats_reset();
    eddy_waker nw = eddy_waker_noop();
    eddy_cx cx = {&nw, NULL};
    struct gate g[4];
    int o[4];
    eddy_child kids[4];
    setup_gates(g, o, kids, 4);
    cs[1].open = cs[2].open = cs[3].open = 1;
    eddy_select s;
    size_t idx = 99;
    eddy_select_init(&s, kids, 4);
    CHECK_EQ(eddy_select_poll(&s, &cx, &idx), EDDY_READY);
    CHECK_EQ(idx, 1);
    CHECK_EQ(cs[0].polls, 1);
    CHECK_EQ(cs[1].polls, 1);
    CHECK_EQ(cs[2].polls, 0); /* stopped at the first READY */
    CHECK_EQ(cs[3].polls, 0);
    CHECK_EQ(o[2], -1);
    for (int i = 0; i < 4; i++)
        CHECK_EQ(cs[i].drops, 1);
    eddy_select_drop(&s); /* no-op after READY */
    for (int i = 0; i < 4; i++)
        CHECK_EQ(cs[i].drops, 1);
}

/* Woken in the order 3, 1: the lowest index is tried first. */
static void test_biased_woken_order(void)
{
    stats_reset();
    eddy_waker_counter c;
    eddy_waker w = eddy_waker_counting(&c);
    eddy_cx cx = {&w, NULL};
    struct gate g[4];
    int o[4];
    eddy_child kids[4];
    setup_gates(g, o, kids, 4);
    eddy_select s;
    size_t idx = 99;
    eddy_select_init(&s, kids, 4);
    CHECK_EQ(eddy_select_poll(&s, &cx, &idx), EDDY_PENDING);
    gate_open(3);
    gate_open(1);
    CHECK_EQ(atomic_load(&c.wakes), 2);
    CHECK_EQ(eddy_select_poll(&s, &cx, &idx), EDDY_READY);
    CHECK_EQ(idx, 1);
    CHECK_EQ(cs[3].polls, 1); /* woken, but lost before its turn */
    CHECK_EQ(cs[3].dropped_pending, 1);
    CHECK_EQ(cs[0].polls, 1);
    CHECK_EQ(cs[2].polls, 1);
    eddy_waker_drop(&w);
    CHECK_EQ(eddy_waker_counter_live(&c), 0);
}

/* ---- 3. fair ----------------------------------------------------------------------------------- */

static void test_fair_rotates(void)
{
    eddy_waker nw = eddy_waker_noop();
    eddy_cx cx = {&nw, NULL};
    unsigned cursor = 0;
    /* Three children that are always ready. */
    for (int round = 0; round < 9; round++) {
        stats_reset();
        struct gate g[3];
        int o[3];
        eddy_child kids[3];
        setup_gates(g, o, kids, 3);
        cs[0].open = cs[1].open = cs[2].open = 1;
        eddy_select s;
        size_t idx = 99;
        eddy_select_fair_init(&s, kids, 3, &cursor);
        CHECK_EQ(eddy_select_poll(&s, &cx, &idx), EDDY_READY);
        CHECK_EQ(idx, (size_t)(round % 3));
        CHECK_EQ(o[idx], 100 + (int)idx);
        for (int i = 0; i < 3; i++) {
            CHECK_EQ(cs[i].drops, 1);
            CHECK_EQ(cs[i].polls, i == (int)idx ? 1 : 0);
        }
    }
    /* The biased select never rotates. */
    for (int round = 0; round < 3; round++) {
        stats_reset();
        struct gate g[3];
        int o[3];
        eddy_child kids[3];
        setup_gates(g, o, kids, 3);
        cs[0].open = cs[1].open = cs[2].open = 1;
        eddy_select s;
        size_t idx = 99;
        eddy_select_init(&s, kids, 3);
        CHECK_EQ(eddy_select_poll(&s, &cx, &idx), EDDY_READY);
        CHECK_EQ(idx, 0);
    }
    /* Ready, never ready, ready: the winners alternate 0, 2. */
    cursor = 0;
    for (int round = 0; round < 6; round++) {
        stats_reset();
        struct gate g[3];
        int o[3];
        eddy_child kids[3];
        setup_gates(g, o, kids, 3);
        cs[0].open = cs[2].open = 1;
        eddy_select s;
        size_t idx = 99;
        eddy_select_fair_init(&s, kids, 3, &cursor);
        CHECK_EQ(eddy_select_fair_poll(&s, &cx, &idx), EDDY_READY);
        CHECK_EQ(idx, (size_t)(round % 2 ? 2 : 0));
        CHECK(cs[1].slot.vtable == NULL);
    }
}

/* Woken together (0, 1, 3 in that order) with cursor 2: tried 3, 0, 1. */
static void test_fair_woken_order(void)
{
    stats_reset();
    eddy_waker nw = eddy_waker_noop();
    eddy_cx cx = {&nw, NULL};
    struct gate g[4];
    int o[4];
    eddy_child kids[4];
    setup_gates(g, o, kids, 4);
    unsigned cursor = 2;
    eddy_select s;
    size_t idx = 99;
    eddy_select_fair_init(&s, kids, 4, &cursor);
    CHECK_EQ(eddy_select_fair_poll(&s, &cx, &idx), EDDY_PENDING);
    gate_open(0);
    gate_open(1);
    gate_open(3);
    CHECK_EQ(eddy_select_fair_poll(&s, &cx, &idx), EDDY_READY);
    CHECK_EQ(idx, 3);
    CHECK_EQ(cursor, 0); /* next time, 0 goes first */
    CHECK_EQ(cs[0].polls, 1);
    CHECK_EQ(cs[1].polls, 1);
    CHECK_EQ(cs[3].polls, 2);
}

/* ---- 4. drops --------------------------------------------------------------------------------- */

static void test_drops(void)
{
    stats_reset();
    struct gate g[3];
    int o[3];
    eddy_child kids[3];
    setup_gates(g, o, kids, 3);
    eddy_select s;
    eddy_select_init(&s, kids, 3);
    eddy_select_drop(&s);
    for (int i = 0; i < 3; i++) {
        CHECK_EQ(cs[i].polls, 0);
        CHECK_EQ(cs[i].drops, 1);
    }

    stats_reset();
    eddy_waker_counter c;
    eddy_waker w = eddy_waker_counting(&c);
    eddy_cx cx = {&w, NULL};
    setup_gates(g, o, kids, 3);
    size_t idx = 99;
    eddy_select_fair_init(&s, kids, 3, NULL);
    CHECK_EQ(eddy_select_poll(&s, &cx, &idx), EDDY_PENDING);
    gate_open(1); /* queued but not polled when dropped */
    eddy_select_fair_drop(&s);
    for (int i = 0; i < 3; i++) {
        CHECK_EQ(cs[i].polls, 1);
        CHECK_EQ(cs[i].drops, 1);
        CHECK_EQ(cs[i].dropped_pending, 1);
        CHECK(cs[i].slot.vtable == NULL);
    }
    CHECK_EQ(idx, 99);
    eddy_waker_drop(&w);
    CHECK_EQ(eddy_waker_counter_live(&c), 0);
}

/* ---- 5. a timeout made of a select, nested through the vtable ----------------------------- */

struct tmo {
    eddy_coro co;
    struct csleep work, limit, inner_a, inner_b;
    int o[4];
    eddy_child inner_kids[2], kids[2];
    eddy_select inner, outer;
    size_t inner_idx, idx;
    eddy_instant t0, t1;
};

static eddy_poll tmo_poll(struct tmo *t, eddy_cx *cx, int *out)
{
    EDDY_BEGIN(&t->co, cx);
    t->t0 = eddy_now();
    /* outer = select(inner = select(sleep 40, sleep 30), sleep 35):
     * the inner select wins at 30 through its child 1. */
    csleep_init(&t->inner_a, 0, EDDY_MS(40));
    csleep_init(&t->inner_b, 1, EDDY_MS(30));
    csleep_init(&t->limit, 2, EDDY_MS(35));
    for (int i = 0; i < 4; i++)
        t->o[i] = -1;
    t->inner_kids[0] = EDDY_CHILD(&csleep_vt, &t->inner_a, &t->o[0]);
    t->inner_kids[1] = EDDY_CHILD(&csleep_vt, &t->inner_b, &t->o[1]);
    eddy_select_init(&t->inner, t->inner_kids, 2);
    t->kids[0] = EDDY_CHILD(&eddy_select_vt, &t->inner, &t->inner_idx);
    t->kids[1] = EDDY_CHILD(&csleep_vt, &t->limit, &t->o[2]);
    EDDY_AWAIT(&t->idx, eddy_select, &t->outer, t->kids, 2);
    t->t1 = eddy_now();
    *out = 0;
    EDDY_END();
}

EDDY_CORO_VT(tmo_vt, struct tmo, int, tmo_poll);

static void test_nested(void)
{
    stats_reset();
    eddy_rt *rt;
    CHECK_OK(eddy_rt_new(&rt, &(eddy_rt_builder){.start_paused = true}));
    struct tmo t = {0};
    int out = -1;
    CHECK_OK(eddy_block_on(rt, &tmo_vt, &t, &out));
    CHECK_EQ(t.idx, 0);
    CHECK_EQ(t.inner_idx, 1);
    uint64_t dt = t.t1 - t.t0;
    CHECK(dt >= EDDY_MS(30) && dt < EDDY_MS(31));
    for (int i = 0; i < 3; i++)
        CHECK_EQ(cs[i].drops, 1);
    CHECK_EQ(cs[0].dropped_pending, 1);
    CHECK_EQ(cs[2].dropped_pending, 1);
    CHECK(!eddy_sleep_is_armed(&t.inner_a.sl));
    CHECK(!eddy_sleep_is_armed(&t.limit.sl));
    eddy_rt_free(rt);
}

int main(void)
{
    test_watchdog(60);
    test_first_wins();
    test_biased_first_poll();
    test_biased_woken_order();
    test_fair_rotates();
    test_fair_woken_order();
    test_drops();
    test_nested();
    printf("ok\n");
    return 0;
}
