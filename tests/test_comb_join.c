/* eddy_join_all (include/eddy/combinators.h):
 * - three sleeps under a paused clock complete together at the longest
 *   deadline, every output set, every sleep polled exactly twice;
 * - by hand: a poll polls only the children whose wakers fired (polls
 *   counted per child), repeated wakes of a queued child coalesce, and the
 *   parent is woken once per newly woken child;
 * - self-waking children: child polls == wakes + 1 each, join polls ==
 *   the longest chain + 1;
 * - drop before the first poll, drop midway: every child dropped exactly
 *   once, finished ones included, none polled after;
 * - no children; nesting through eddy_join_all_vt; a child that completes
 *   on the first poll;
 * - wakes from two other threads, woken outside the waker's lock (a wake
 *   may still be running when the join completes), the join polled by hand
 *   with a thread-safe parent waker: 500 rounds, no lost wake-up, no use
 *   after free (ASan; the protocol also runs clean under TSan);
 * - a child waker still being woken on another thread when the child's
 *   drop returned (as the channels do): the join's drop waits for it. */
// eddy-test-labels: flavors
#include <eddy.h>

#include <pthread.h>
#include <time.h>

#include "eddy_test.h"

/* ---- a sleep whose polls and drops are counted ------------------------------- */

enum { MAXC = 64 };
static int sl_polls[MAXC], sl_drops[MAXC];

struct csleep {
    eddy_sleep sl;
    int id;
};

static eddy_poll csleep_poll(struct csleep *s, eddy_cx *cx, int *out)
{
    sl_polls[s->id]++;
    return eddy_sleep_poll(&s->sl, cx, out);
}

static void csleep_drop(struct csleep *s)
{
    sl_drops[s->id]++;
    eddy_sleep_drop(&s->sl);
}

EDDY_FUTURE_VT(csleep_vt, struct csleep, int, csleep_poll, csleep_drop);

static void csleep_init(struct csleep *s, int id, uint64_t ns)
{
    s->id = id;
    eddy_sleep_init(&s->sl, ns);
}

/* ---- a gate: pending until opened by the test ---------------------------------- */

static struct gstat {
    int polls, drops, readies;
    int open;
    eddy_waker slot;
} gs[MAXC];

struct gate {
    int id;
};

static eddy_poll gate_poll(struct gate *g, eddy_cx *cx, int *out)
{
    struct gstat *s = &gs[g->id];
    s->polls++;
    CHECK_EQ(s->readies, 0); /* never polled after READY */
    CHECK_EQ(s->drops, 0);   /* never polled after drop */
    if (!s->open) {
        eddy_waker_set(&s->slot, cx->waker);
        return EDDY_PENDING;
    }
    eddy_waker_drop(&s->slot);
    s->readies++;
    *out = 100 + g->id;
    return EDDY_READY;
}

static void gate_drop(struct gate *g)
{
    gs[g->id].drops++;
    eddy_waker_drop(&gs[g->id].slot);
}

EDDY_FUTURE_VT(gate_vt, struct gate, int, gate_poll, gate_drop);

static void gates_reset(void)
{
    for (int i = 0; i < MAXC; i++) {
        CHECK(gs[i].slot.vtable == NULL);
        gs[i] = (struct gstat){0};
    }
}

static void gate_open(int i)
{
    gs[i].open = 1;
    eddy_waker_wake(&gs[i].slot);
}

/* ---- 1. three sleeps, paused clock --------------------------------------------- */

struct join3 {
    eddy_coro co;
    struct csleep s[3];
    int o[3];
    int rc;
    eddy_child kids[3];
    eddy_join_all j;
    eddy_instant t0, t1;
};

static eddy_poll join3_poll(struct join3 *t, eddy_cx *cx, int *out)
{
    EDDY_BEGIN(&t->co, cx);
    t->t0 = eddy_now();
    static const int ms[3] = {10, 30, 20};
    for (int i = 0; i < 3; i++) {
        csleep_init(&t->s[i], i, EDDY_MS(ms[i]));
        t->o[i] = -1;
        t->kids[i] = EDDY_CHILD(&csleep_vt, &t->s[i], &t->o[i]);
    }
    t->rc = -1;
    EDDY_AWAIT(&t->rc, eddy_join_all, &t->j, t->kids, 3);
    t->t1 = eddy_now();
    *out = 0;
    EDDY_END();
}

EDDY_CORO_VT(join3_vt, struct join3, int, join3_poll);

static void test_three_sleeps(void)
{
    memset(sl_polls, 0, sizeof sl_polls);
    memset(sl_drops, 0, sizeof sl_drops);
    eddy_rt *rt;
    CHECK_OK(eddy_rt_new(&rt, &(eddy_rt_builder){.start_paused = true}));
    struct join3 t = {0};
    int out = -1;
    CHECK_OK(eddy_block_on(rt, &join3_vt, &t, &out));
    CHECK_EQ(out, 0);
    CHECK_EQ(t.rc, 0);
    uint64_t dt = t.t1 - t.t0;
    CHECK_MSG(dt >= EDDY_MS(30) && dt < EDDY_MS(31), "join finished after %llu ns, want the max deadline (30 ms)",
              (unsigned long long)dt);
    for (int i = 0; i < 3; i++) {
        CHECK_EQ(t.o[i], 0);
        CHECK(!eddy_sleep_is_armed(&t.s[i].sl));
        /* First poll, then exactly one poll after its own timer fired: the
         * 30 ms sleep is not re-polled at 10 ms and 20 ms. */
        CHECK_EQ(sl_polls[i], 2);
        CHECK_EQ(sl_drops[i], 1); /* released right after READY */
    }
    eddy_rt_free(rt);
}

/* ---- 2. only woken children are polled (by hand) ------------------------------- */

static void test_polls_only_woken(void)
{
    enum { N = 8 };
    gates_reset();
    eddy_waker_counter c;
    eddy_waker w = eddy_waker_counting(&c);
    eddy_cx cx = {&w, NULL};
    struct gate g[N];
    int o[N];
    eddy_child kids[N];
    for (int i = 0; i < N; i++) {
        g[i].id = i;
        o[i] = -1;
        kids[i] = EDDY_CHILD(&gate_vt, &g[i], &o[i]);
    }
    eddy_join_all j;
    int rc = -1;
    eddy_join_all_init(&j, kids, N);
    for (int i = 0; i < N; i++)
        CHECK_EQ(gs[i].polls, 0); /* lazy */

    CHECK_EQ(eddy_join_all_poll(&j, &cx, &rc), EDDY_PENDING);
    for (int i = 0; i < N; i++)
        CHECK_EQ(gs[i].polls, 1);
    CHECK_EQ(atomic_load(&c.wakes), 0);

    /* Nobody woke: a (spurious) poll polls nobody. */
    CHECK_EQ(eddy_join_all_poll(&j, &cx, &rc), EDDY_PENDING);
    for (int i = 0; i < N; i++)
        CHECK_EQ(gs[i].polls, 1);

    gate_open(3);
    CHECK_EQ(atomic_load(&c.wakes), 1); /* the parent was woken */
    CHECK_EQ(eddy_join_all_poll(&j, &cx, &rc), EDDY_PENDING);
    for (int i = 0; i < N; i++)
        CHECK_EQ(gs[i].polls, i == 3 ? 2 : 1);
    CHECK_EQ(gs[3].readies, 1);
    CHECK_EQ(gs[3].drops, 1); /* a finished child is released at once */
    CHECK_EQ(o[3], 103);

    /* A child woken three times before the next poll is polled once, and
     * the parent is woken once per newly queued child. */
    eddy_waker_wake_by_ref(&gs[5].slot);
    eddy_waker_wake_by_ref(&gs[5].slot);
    gate_open(5);
    gate_open(6);
    CHECK_EQ(atomic_load(&c.wakes), 3);
    CHECK_EQ(eddy_join_all_poll(&j, &cx, &rc), EDDY_PENDING);
    for (int i = 0; i < N; i++)
        CHECK_EQ(gs[i].polls, (i == 3 || i == 5 || i == 6) ? 2 : 1);

    /* A spurious wake of a pending child: polled, still pending. */
    eddy_waker_wake_by_ref(&gs[0].slot);
    CHECK_EQ(eddy_join_all_poll(&j, &cx, &rc), EDDY_PENDING);
    CHECK_EQ(gs[0].polls, 2);
    CHECK_EQ(gs[1].polls, 1);

    /* The finished child's stale waker (none should exist) cannot requeue
     * it: open the rest. */
    for (int i = 0; i < N; i++)
        if (!gs[i].open)
            gate_open(i);
    CHECK_EQ(eddy_join_all_poll(&j, &cx, &rc), EDDY_READY);
    CHECK_EQ(rc, 0);
    for (int i = 0; i < N; i++) {
        CHECK_EQ(o[i], 100 + i);
        CHECK_EQ(gs[i].readies, 1);
        CHECK_EQ(gs[i].drops, 1);
        CHECK_LE(gs[i].polls, 3);
    }
    /* Dropping a completed join does nothing more. */
    eddy_join_all_drop(&j);
    for (int i = 0; i < N; i++)
        CHECK_EQ(gs[i].drops, 1);
    /* The join kept one clone of the parent's waker and released it. */
    eddy_waker_drop(&w);
    CHECK_EQ(eddy_waker_counter_live(&c), 0);
}

/* ---- 3. self-waking children ------------------------------------------------------ */

static int sw_polls[MAXC], sw_drops[MAXC];

struct selfwake {
    int id, left, clone_wake;
};

static eddy_poll selfwake_poll(struct selfwake *s, eddy_cx *cx, long *out)
{
    sw_polls[s->id]++;
    if (s->left > 0) {
        s->left--;
        if (s->clone_wake) {
            eddy_waker c = eddy_waker_clone(cx->waker);
            eddy_waker_wake(&c);
        } else {
            eddy_waker_wake_by_ref(cx->waker);
        }
        return EDDY_PENDING;
    }
    *out = s->id;
    return EDDY_READY;
}

static void selfwake_drop(struct selfwake *s) { sw_drops[s->id]++; }

EDDY_FUTURE_VT(selfwake_vt, struct selfwake, long, selfwake_poll, selfwake_drop);

static void test_self_waking(void)
{
    enum { N = 20 };
    memset(sw_polls, 0, sizeof sw_polls);
    memset(sw_drops, 0, sizeof sw_drops);
    eddy_waker_counter c;
    eddy_waker w = eddy_waker_counting(&c);
    eddy_cx cx = {&w, NULL};
    struct selfwake s[N];
    long o[N];
    eddy_child kids[N];
    int longest = 0;
    for (int i = 0; i < N; i++) {
        s[i] = (struct selfwake){.id = i, .left = (i * 7) % 11, .clone_wake = i & 1};
        if (s[i].left > longest)
            longest = s[i].left;
        o[i] = -1;
        kids[i] = EDDY_CHILD(&selfwake_vt, &s[i], &o[i]);
    }
    eddy_join_all j;
    eddy_join_all_init(&j, kids, N);
    int polls = 0;
    eddy_poll r;
    do {
        long wakes_before = atomic_load(&c.wakes);
        r = eddy_join_all_poll(&j, &cx, NULL);
        polls++;
        if (r == EDDY_PENDING)
            CHECK_MSG(atomic_load(&c.wakes) > wakes_before, "PENDING without a wake arranged (poll %d)", polls);
    } while (r == EDDY_PENDING && polls < 1000);
    CHECK_EQ(r, EDDY_READY);
    CHECK_EQ(polls, longest + 1);
    for (int i = 0; i < N; i++) {
        CHECK_EQ(sw_polls[i], (i * 7) % 11 + 1);
        CHECK_EQ(sw_drops[i], 1);
        CHECK_EQ(o[i], i);
    }
    eddy_waker_drop(&w);
    CHECK_EQ(eddy_waker_counter_live(&c), 0);
}

/* ---- 4. drops ---------------------------------------------------------------------- */

static void test_drop_before_poll(void)
{
    gates_reset();
    struct gate g[4];
    int o[4];
    eddy_child kids[4];
    for (int i = 0; i < 4; i++) {
        g[i].id = i;
        o[i] = -1;
        kids[i] = EDDY_CHILD(&gate_vt, &g[i], &o[i]);
    }
    eddy_join_all j;
    eddy_join_all_init(&j, kids, 4);
    eddy_join_all_drop(&j);
    for (int i = 0; i < 4; i++) {
        CHECK_EQ(gs[i].polls, 0);
        CHECK_EQ(gs[i].drops, 1);
        CHECK_EQ(o[i], -1);
    }
    eddy_join_all_drop(&j); /* idempotent */
    for (int i = 0; i < 4; i++)
        CHECK_EQ(gs[i].drops, 1);
}

static void test_drop_midway(void)
{
    gates_reset();
    eddy_waker_counter c;
    eddy_waker w = eddy_waker_counting(&c);
    eddy_cx cx = {&w, NULL};
    struct gate g[4];
    int o[4];
    eddy_child kids[4];
    for (int i = 0; i < 4; i++) {
        g[i].id = i;
        o[i] = -1;
        kids[i] = EDDY_CHILD(&gate_vt, &g[i], &o[i]);
    }
    eddy_join_all j;
    eddy_join_all_init(&j, kids, 4);
    gs[0].open = 1; /* ready at the first poll */
    CHECK_EQ(eddy_join_all_poll(&j, &cx, NULL), EDDY_PENDING);
    CHECK_EQ(gs[0].drops, 1);
    gate_open(2);
    CHECK_EQ(eddy_join_all_poll(&j, &cx, NULL), EDDY_PENDING);
    eddy_waker_wake_by_ref(&gs[1].slot); /* queued when the join is dropped */
    eddy_join_all_drop(&j);
    for (int i = 0; i < 4; i++) {
        CHECK_EQ(gs[i].drops, 1);
        CHECK(gs[i].slot.vtable == NULL);
    }
    CHECK_EQ(gs[1].polls, 1); /* queued, but dropped without a poll */
    CHECK_EQ(gs[3].polls, 1);
    CHECK_EQ(o[1], -1);
    CHECK_EQ(o[3], -1);
    CHECK_EQ(o[0], 100);
    CHECK_EQ(o[2], 102);
    eddy_waker_drop(&w);
    CHECK_EQ(eddy_waker_counter_live(&c), 0);
}

static void test_empty(void)
{
    eddy_cx cx = {&(eddy_waker){0}, NULL};
    eddy_waker nw = eddy_waker_noop();
    cx.waker = &nw;
    eddy_join_all j;
    int rc = -1;
    eddy_join_all_init(&j, NULL, 0);
    CHECK_EQ(eddy_join_all_poll(&j, &cx, &rc), EDDY_READY);
    CHECK_EQ(rc, 0);
    eddy_join_all_drop(&j);
}

/* ---- 5. nesting through the vtable, on the runtime ------------------------------- */

struct nested {
    eddy_coro co;
    struct csleep s[3];
    int o[3];
    eddy_child inner_kids[2], outer_kids[2];
    eddy_join_all inner, outer;
    int inner_rc, rc;
    eddy_instant t0, t1;
};

static eddy_poll nested_poll(struct nested *t, eddy_cx *cx, int *out)
{
    EDDY_BEGIN(&t->co, cx);
    t->t0 = eddy_now();
    csleep_init(&t->s[0], 0, EDDY_MS(5));
    csleep_init(&t->s[1], 1, EDDY_MS(15));
    csleep_init(&t->s[2], 2, EDDY_MS(12));
    for (int i = 0; i < 3; i++)
        t->o[i] = -1;
    t->inner_kids[0] = EDDY_CHILD(&csleep_vt, &t->s[0], &t->o[0]);
    t->inner_kids[1] = EDDY_CHILD(&csleep_vt, &t->s[1], &t->o[1]);
    eddy_join_all_init(&t->inner, t->inner_kids, 2);
    t->outer_kids[0] = EDDY_CHILD(&eddy_join_all_vt, &t->inner, &t->inner_rc);
    t->outer_kids[1] = EDDY_CHILD(&csleep_vt, &t->s[2], &t->o[2]);
    EDDY_AWAIT(&t->rc, eddy_join_all, &t->outer, t->outer_kids, 2);
    t->t1 = eddy_now();
    *out = 0;
    EDDY_END();
}

EDDY_CORO_VT(nested_vt, struct nested, int, nested_poll);

static void test_nested(void)
{
    memset(sl_polls, 0, sizeof sl_polls);
    memset(sl_drops, 0, sizeof sl_drops);
    eddy_rt *rt;
    CHECK_OK(eddy_rt_new(&rt, &(eddy_rt_builder){.start_paused = true}));
    struct nested t = {0};
    int out = -1;
    CHECK_OK(eddy_block_on(rt, &nested_vt, &t, &out));
    CHECK_EQ(t.rc, 0);
    CHECK_EQ(t.inner_rc, 0);
    uint64_t dt = t.t1 - t.t0;
    CHECK(dt >= EDDY_MS(15) && dt < EDDY_MS(16));
    for (int i = 0; i < 3; i++) {
        CHECK_EQ(t.o[i], 0);
        CHECK_EQ(sl_polls[i], 2); /* the inner join's children too */
        CHECK_EQ(sl_drops[i], 1);
    }
    eddy_rt_free(rt);
}

/* ---- 6. wakes from other threads ------------------------------------------------ */

enum { XN = 16 };

static pthread_mutex_t xmu = PTHREAD_MUTEX_INITIALIZER;
static struct xstat {
    int open, polls, drops;
    eddy_waker slot;
} xs[XN];

struct xgate {
    int id;
};

static eddy_poll xgate_poll(struct xgate *g, eddy_cx *cx, int *out)
{
    struct xstat *s = &xs[g->id];
    pthread_mutex_lock(&xmu);
    s->polls++;
    if (!s->open) {
        eddy_waker_set(&s->slot, cx->waker);
        pthread_mutex_unlock(&xmu);
        return EDDY_PENDING;
    }
    eddy_waker_drop(&s->slot);
    pthread_mutex_unlock(&xmu);
    *out = g->id;
    return EDDY_READY;
}

static void xgate_drop(struct xgate *g)
{
    pthread_mutex_lock(&xmu);
    xs[g->id].drops++;
    eddy_waker_drop(&xs[g->id].slot);
    pthread_mutex_unlock(&xmu);
}

EDDY_FUTURE_VT(xgate_vt, struct xgate, int, xgate_poll, xgate_drop);

static unsigned xseed;

/* Opens the gates k = first, first + step, ... in a shuffled order.  The
 * waker is taken out under the lock and woken outside it, so the wake may
 * still be running when the join completes; odd gates get a wake_by_ref
 * first, then a release, even ones a wake by value. */
struct opener_arg {
    int first, step;
};

static void *opener(void *p)
{
    const struct opener_arg *a = p;
    for (int k = a->first; k < XN; k += a->step) {
        int i = (int)((unsigned)k * 7u + xseed) % XN;
        pthread_mutex_lock(&xmu);
        xs[i].open = 1;
        eddy_waker w = xs[i].slot;
        xs[i].slot = EDDY_WAKER_EMPTY;
        pthread_mutex_unlock(&xmu);
        if ((k & 3) == 0)
            sched_yield();
        if (i & 1) {
            eddy_waker_wake_by_ref(&w);
            eddy_waker_drop(&w);
        } else {
            eddy_waker_wake(&w);
        }
    }
    return NULL;
}

static void xgates_setup(struct xgate *g, int *o, eddy_child *kids)
{
    memset(xs, 0, sizeof xs);
    for (int i = 0; i < XN; i++) {
        g[i].id = i;
        o[i] = -1;
        kids[i] = EDDY_CHILD(&xgate_vt, &g[i], &o[i]);
    }
}

static void xgates_check(const int *o)
{
    for (int i = 0; i < XN; i++) {
        CHECK_EQ(o[i], i);
        CHECK_EQ(xs[i].drops, 1);
        CHECK(xs[i].slot.vtable == NULL);
        CHECK_LE(xs[i].polls, 2);
    }
}

/* A parent waker usable from any thread: a flag the polling loop waits on. */
static atomic_int pflag;
static atomic_long pclones;
static eddy_waker pw_clone(const void *d);
static void pw_wake_by_ref(const void *d)
{
    (void)d;
    atomic_store(&pflag, 1);
}
static void pw_drop(const void *d)
{
    (void)d;
    atomic_fetch_sub(&pclones, 1);
}
static void pw_wake(const void *d)
{
    pw_wake_by_ref(d);
    pw_drop(d);
}
static const eddy_waker_vtable pw_vt = {pw_clone, pw_wake, pw_wake_by_ref, pw_drop};
static eddy_waker pw_clone(const void *d)
{
    atomic_fetch_add(&pclones, 1);
    return (eddy_waker){&pw_vt, d};
}

/* The join polled by hand on this thread, two opener threads: a lost
 * wake-up leaves the flag unset with gates still pending. */
static void test_cross_thread_by_hand(void)
{
    for (unsigned round = 0; round < 500; round++) {
        struct xgate g[XN];
        int o[XN];
        eddy_child kids[XN];
        xgates_setup(g, o, kids);
        xseed = round;
        eddy_waker w = {&pw_vt, NULL};
        eddy_cx cx = {&w, NULL};
        eddy_join_all j;
        eddy_join_all_init(&j, kids, XN);
        atomic_store(&pflag, 0);
        pthread_t th[2];
        struct opener_arg args[2] = {{0, 2}, {1, 2}};
        for (int t = 0; t < 2; t++)
            CHECK_EQ(pthread_create(&th[t], NULL, opener, &args[t]), 0);
        int polls = 0;
        while (eddy_join_all_poll(&j, &cx, NULL) == EDDY_PENDING) {
            /* Not bounded by the wake count: while an opener is preempted
             * in the middle of a wake, each registration sees WAKING and
             * wakes its own task (spurious polls, bounded by time). */
            CHECK(++polls < 10 * 1000 * 1000);
            long spins = 0;
            while (!atomic_exchange(&pflag, 0)) {
                CHECK_MSG(++spins < 50L * 1000 * 1000, "lost wake-up: the join is pending and was never woken");
                if (spins > 64)
                    sched_yield();
            }
        }
        for (int t = 0; t < 2; t++)
            CHECK_EQ(pthread_join(th[t], NULL), 0);
        xgates_check(o);
        CHECK_EQ(atomic_load(&pclones), 0); /* the join released its clone */
    }
}

/* The same with the join as eddy_block_on's root: the parent waker is the
 * runtime's, woken from the opener threads.  This once hung in about one
 * run in ten on a lost unpark in the current-thread runtime's turn() (a
 * non-blocking driver wait consumed the unpark eventfd without clearing
 * unpark_sent); the watchdog turns a regression into a failure. */
static void test_cross_thread_runtime(void)
{
    eddy_rt *rt;
    CHECK_OK(eddy_rt_new(&rt, test_builder(NULL)));
    for (unsigned round = 0; round < 3000; round++) {
        struct xgate g[XN];
        int o[XN];
        eddy_child kids[XN];
        xgates_setup(g, o, kids);
        xseed = round;
        eddy_join_all j;
        eddy_join_all_init(&j, kids, XN);
        pthread_t th;
        struct opener_arg arg = {0, 1};
        CHECK_EQ(pthread_create(&th, NULL, opener, &arg), 0);
        int rc = -1;
        CHECK_OK(eddy_block_on(rt, &eddy_join_all_vt, &j, &rc));
        CHECK_EQ(rc, 0);
        CHECK_EQ(pthread_join(th, NULL), 0);
        xgates_check(o);
    }
    eddy_rt_free(rt);
}

/* ---- 7. a wake still in flight when the child's drop returned ------------------- */

/* Like a channel that moves its waiter's waker out under its lock and
 * wakes it after unlocking (docs/design/0006): the drop hands the clone to
 * another thread, which wakes it 20 ms later.  The join must not finish
 * (and its memory must not be freed) before that wake has returned. */
static eddy_waker mailbox;
static atomic_int mailbox_full;

struct handoff {
    eddy_waker slot;
};

static eddy_poll handoff_poll(struct handoff *h, eddy_cx *cx, int *out)
{
    (void)out;
    eddy_waker_set(&h->slot, cx->waker);
    return EDDY_PENDING;
}

static void handoff_drop(struct handoff *h)
{
    mailbox = h->slot; /* moved, not released: the other thread owns it now */
    h->slot = EDDY_WAKER_EMPTY;
    atomic_store(&mailbox_full, 1);
}

EDDY_FUTURE_VT(handoff_vt, struct handoff, int, handoff_poll, handoff_drop);

static void *late_waker(void *p)
{
    (void)p;
    while (!atomic_load(&mailbox_full))
        sched_yield();
    usleep(20 * 1000);
    eddy_waker_wake(&mailbox);
    return NULL;
}

static double mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void test_wake_in_flight(void)
{
    struct box {
        struct handoff h;
        int o;
        eddy_child kids[1];
        eddy_join_all j;
    } *b = calloc(1, sizeof *b);
    CHECK(b);
    eddy_waker_counter c;
    eddy_waker w = eddy_waker_counting(&c);
    eddy_cx cx = {&w, NULL};
    b->kids[0] = EDDY_CHILD(&handoff_vt, &b->h, &b->o);
    eddy_join_all_init(&b->j, b->kids, 1);
    CHECK_EQ(eddy_join_all_poll(&b->j, &cx, NULL), EDDY_PENDING);
    atomic_store(&mailbox_full, 0);
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, late_waker, NULL), 0);
    double t0 = mono_ms();
    eddy_join_all_drop(&b->j); /* waits for the late wake to return */
    double dt = mono_ms() - t0;
    free(b);                   /* any later access would be a use after free (ASan) */
    CHECK_MSG(dt >= 15.0, "the drop returned after %.1f ms, before the wake in flight ended", dt);
    CHECK_EQ(pthread_join(th, NULL), 0);
    CHECK(mailbox.vtable == NULL);
    eddy_waker_drop(&w);
    CHECK_EQ(eddy_waker_counter_live(&c), 0);
}

int main(void)
{
    test_watchdog(60);
    test_three_sleeps();
    test_polls_only_woken();
    test_self_waking();
    test_drop_before_poll();
    test_drop_midway();
    test_empty();
    test_nested();
    test_cross_thread_by_hand();
    test_cross_thread_runtime();
    test_wake_in_flight();
    printf("ok\n");
    return 0;
}
