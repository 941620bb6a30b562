/* Combinators at scale: the number of child polls follows the number of
 * wakes, not children x wakes.
 * - join of 10,000 sleeps of pseudo-random lengths under a paused clock:
 *   exactly 2 polls per child (the first, and one after its timer fired),
 *   the join's task polled once per distinct deadline (+1), finished at
 *   the longest deadline.  A join that re-polled every child on every wake
 *   would poll ~N x deadlines = millions of times;
 * - join of 10,000 gates opened one at a time, by hand: 2 polls each;
 * - join of 10,000 self-waking children: child polls == wakes + 1;
 * - select over 10,000 sleeps: the shortest wins, the 9,999 losers are
 *   dropped and the wheel is empty afterwards. */
#include <eddy.h>

#include "eddy_test.h"
#include "time/timers.h"

enum { N = 10000 };

static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static uint64_t rnd(void)
{
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return rng * 0x2545f4914f6cdd1dULL;
}

static long child_polls, child_drops;

/* ---- counted sleep ------------------------------------------------------------------ */

struct csleep {
    eddy_sleep sl;
};

static eddy_poll csleep_poll(struct csleep *s, eddy_cx *cx, int *out)
{
    child_polls++;
    return eddy_sleep_poll(&s->sl, cx, out);
}

static void csleep_drop(struct csleep *s)
{
    child_drops++;
    eddy_sleep_drop(&s->sl);
}

EDDY_FUTURE_VT(csleep_vt, struct csleep, int, csleep_poll, csleep_drop);

/* A hand-written root: the join (or select) plus a count of its polls. */
struct root {
    eddy_join_all j;
    eddy_select s;
    int is_select;
    long polls;
    eddy_instant t0, t1;
    size_t armed_after;
};

static eddy_poll root_poll(struct root *r, eddy_cx *cx, size_t *out)
{
    if (r->polls++ == 0)
        r->t0 = eddy_now();
    eddy_poll p;
    if (r->is_select) {
        p = eddy_select_poll(&r->s, cx, out);
    } else {
        int rc = -1;
        p = eddy_join_all_poll(&r->j, cx, &rc);
        if (p == EDDY_READY) {
            CHECK_EQ(rc, 0);
            *out = 0;
        }
    }
    if (p == EDDY_READY) {
        r->t1 = eddy_now();
        r->armed_after = eddy__timers_armed(cx->core->timers);
    }
    return p;
}

static void root_drop(struct root *r)
{
    if (r->is_select)
        eddy_select_drop(&r->s);
    else
        eddy_join_all_drop(&r->j);
}

EDDY_FUTURE_VT(root_vt, struct root, size_t, root_poll, root_drop);

static void test_join_sleeps(void)
{
    struct csleep *s = calloc(N, sizeof *s);
    int *o = calloc(N, sizeof *o);
    eddy_child *kids = calloc(N, sizeof *kids);
    uint8_t *used_ms = calloc(1001, 1);
    CHECK(s && o && kids && used_ms);
    uint64_t max_ms = 0;
    size_t distinct = 0;
    for (size_t i = 0; i < N; i++) {
        uint64_t ms = 1 + rnd() % 1000;
        if (ms > max_ms)
            max_ms = ms;
        if (!used_ms[ms]++)
            distinct++;
        eddy_sleep_init(&s[i].sl, EDDY_MS(ms));
        o[i] = -1;
        kids[i] = EDDY_CHILD(&csleep_vt, &s[i], &o[i]);
    }
    child_polls = child_drops = 0;
    eddy_rt *rt;
    CHECK_OK(eddy_rt_new(&rt, &(eddy_rt_builder){.start_paused = true}));
    struct root r = {0};
    eddy_join_all_init(&r.j, kids, N);
    size_t out = 1;
    CHECK_OK(eddy_block_on(rt, &root_vt, &r, &out));
    CHECK_EQ(out, 0);
    for (size_t i = 0; i < N; i++)
        CHECK_EQ(o[i], 0);
    CHECK_EQ(child_polls, 2 * N);
    CHECK_EQ(child_drops, N);
    CHECK_LE(r.polls, (long)distinct + 1);
    uint64_t dt = r.t1 - r.t0;
    CHECK(dt >= EDDY_MS(max_ms) && dt < EDDY_MS(max_ms + 1));
    CHECK_EQ(r.armed_after, 0);
    printf("join of %d sleeps: %ld child polls, join polled %ld times for %zu distinct deadlines "
           "(re-polling every child would be ~%ld polls)\n",
           N, child_polls, r.polls, distinct, (long)N * (long)distinct / 2);
    eddy_rt_free(rt);
    free(used_ms);
    free(kids);
    free(o);
    free(s);
}

/* ---- gates, by hand ------------------------------------------------------------------ */

struct gate {
    int open;
    eddy_waker slot;
};

static eddy_poll gate_poll(struct gate *g, eddy_cx *cx, int *out)
{
    child_polls++;
    if (!g->open) {
        eddy_waker_set(&g->slot, cx->waker);
        return EDDY_PENDING;
    }
    eddy_waker_drop(&g->slot);
    *out = 1;
    return EDDY_READY;
}

static void gate_drop(struct gate *g)
{
    child_drops++;
    eddy_waker_drop(&g->slot);
}

EDDY_FUTURE_VT(gate_vt, struct gate, int, gate_poll, gate_drop);

static void test_join_gates(void)
{
    struct gate *g = calloc(N, sizeof *g);
    int *o = calloc(N, sizeof *o);
    size_t *order = calloc(N, sizeof *order);
    eddy_child *kids = calloc(N, sizeof *kids);
    CHECK(g && o && order && kids);
    for (size_t i = 0; i < N; i++) {
        kids[i] = EDDY_CHILD(&gate_vt, &g[i], &o[i]);
        order[i] = i;
    }
    for (size_t i = N; i > 1; i--) {
        size_t j = (size_t)(rnd() % i), x = order[i - 1];
        order[i - 1] = order[j];
        order[j] = x;
    }
    child_polls = child_drops = 0;
    eddy_waker_counter c;
    eddy_waker w = eddy_waker_counting(&c);
    eddy_cx cx = {&w, NULL};
    eddy_join_all j;
    eddy_join_all_init(&j, kids, N);
    CHECK_EQ(eddy_join_all_poll(&j, &cx, NULL), EDDY_PENDING);
    for (size_t k = 0; k < N; k++) {
        struct gate *x = &g[order[k]];
        x->open = 1;
        eddy_waker_wake(&x->slot);
        CHECK_EQ(eddy_join_all_poll(&j, &cx, NULL), k + 1 == N ? EDDY_READY : EDDY_PENDING);
    }
    CHECK_EQ(child_polls, 2 * N);
    CHECK_EQ(child_drops, N);
    CHECK_EQ(atomic_load(&c.wakes), N);
    for (size_t i = 0; i < N; i++)
        CHECK_EQ(o[i], 1);
    eddy_waker_drop(&w);
    CHECK_EQ(eddy_waker_counter_live(&c), 0);
    free(kids);
    free(order);
    free(o);
    free(g);
}

/* ---- self-waking, by hand ------------------------------------------------------------- */

struct selfwake {
    int left;
};

static eddy_poll selfwake_poll(struct selfwake *s, eddy_cx *cx, int *out)
{
    child_polls++;
    if (s->left-- > 0) {
        eddy_waker_wake_by_ref(cx->waker);
        return EDDY_PENDING;
    }
    *out = 1;
    return EDDY_READY;
}

static void selfwake_drop(struct selfwake *s)
{
    (void)s;
    child_drops++;
}

EDDY_FUTURE_VT(selfwake_vt, struct selfwake, int, selfwake_poll, selfwake_drop);

static void test_join_self_waking(void)
{
    struct selfwake *s = calloc(N, sizeof *s);
    int *o = calloc(N, sizeof *o);
    eddy_child *kids = calloc(N, sizeof *kids);
    CHECK(s && o && kids);
    long wakes = 0;
    int longest = 0;
    for (size_t i = 0; i < N; i++) {
        /* most children finish at once; a few wake themselves many times */
        s[i].left = i % 100 == 0 ? (int)(rnd() % 50) : (int)(rnd() % 3);
        wakes += s[i].left;
        if (s[i].left > longest)
            longest = s[i].left;
        kids[i] = EDDY_CHILD(&selfwake_vt, &s[i], &o[i]);
    }
    child_polls = child_drops = 0;
    eddy_waker nw = eddy_waker_noop();
    eddy_cx cx = {&nw, NULL};
    eddy_join_all j;
    eddy_join_all_init(&j, kids, N);
    int polls = 0;
    while (eddy_join_all_poll(&j, &cx, NULL) == EDDY_PENDING && polls < 1000)
        polls++;
    CHECK_EQ(polls, longest);
    CHECK_EQ(child_polls, wakes + N);
    CHECK_EQ(child_drops, N);
    printf("join of %d self-waking children: %ld wakes, %ld child polls, %d join polls\n", N, wakes,
           child_polls, polls + 1);
    free(kids);
    free(o);
    free(s);
}

/* ---- select over 10,000 sleeps ----------------------------------------------------------- */

static void test_select_sleeps(void)
{
    struct csleep *s = calloc(N, sizeof *s);
    int *o = calloc(N, sizeof *o);
    eddy_child *kids = calloc(N, sizeof *kids);
    CHECK(s && o && kids);
    size_t winner = (size_t)(rnd() % N);
    for (size_t i = 0; i < N; i++) {
        eddy_sleep_init(&s[i].sl, EDDY_MS(i == winner ? 7 : 8 + rnd() % 1000));
        o[i] = -1;
        kids[i] = EDDY_CHILD(&csleep_vt, &s[i], &o[i]);
    }
    child_polls = child_drops = 0;
    eddy_rt *rt;
    CHECK_OK(eddy_rt_new(&rt, &(eddy_rt_builder){.start_paused = true}));
    struct root r = {.is_select = 1};
    eddy_select_init(&r.s, kids, N);
    size_t idx = 0;
    CHECK_OK(eddy_block_on(rt, &root_vt, &r, &idx));
    CHECK_EQ(idx, winner);
    CHECK_EQ(o[winner], 0);
    CHECK_EQ(child_polls, N + 1);
    CHECK_EQ(child_drops, N);
    CHECK_EQ(r.armed_after, 0);
    CHECK_EQ(r.polls, 2);
    for (size_t i = 0; i < N; i++)
        CHECK(!eddy_sleep_is_armed(&s[i].sl));
    eddy_rt_free(rt);
    free(kids);
    free(o);
    free(s);
}

int main(void)
{
    test_watchdog(60);
    test_join_sleeps();
    test_join_gates();
    test_join_self_waking();
    test_select_sleeps();
    printf("ok\n");
    return 0;
}
