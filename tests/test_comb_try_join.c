/* eddy_try_join_all (include/eddy/combinators.h):
 * - coroutine children that sleep then return a status (int and long
 *   outputs mixed): the first error, at its deadline under a paused clock,
 *   cancels the others at once: each is dropped exactly once while still
 *   pending (its sleep unlinked), the ones that had finished are released
 *   once after READY; the try_join reports the error and the failed index;
 * - all succeed: 0, every output set, no failed index;
 * - an error on the first poll: later children are never polled;
 * - a long status below INT_MIN saturates in the int output and is kept
 *   whole by eddy_try_join_all_error;
 * - drop before the first poll and while pending: each child once. */
#include <eddy.h>

#include <limits.h>

#include "eddy_test.h"
#include "time/timers.h"

enum { MAXC = 8 };

static struct wstat {
    int vt_drops;      /* vt->drop calls */
    int finished;      /* returned READY */
    int cancelled;     /* cleanup ran while pending */
    int polls;
} ws[MAXC];

static void stats_reset(void) { memset(ws, 0, sizeof ws); }

/* A coroutine: sleeps `ms`, then returns `result`.  ms < 0: never. */
struct work {
    eddy_coro co;
    int id;
    int ms;
    long result;
    eddy_sleep sl;
};

static void work_init(struct work *w, int id, int ms, long result)
{
    *w = (struct work){.id = id, .ms = ms, .result = result};
}

static eddy_poll work_poll(struct work *w, eddy_cx *cx, long *out)
{
    if (cx != EDDY_CX_DROP)
        ws[w->id].polls++;
    EDDY_BEGIN(&w->co, cx);
    if (w->ms < 0)
        EDDY_AWAIT(NULL, eddy_sleep_until, &w->sl, EDDY_INSTANT_NEVER);
    else
        EDDY_AWAIT(NULL, eddy_sleep, &w->sl, EDDY_MS(w->ms));
    *out = w->result;
    ws[w->id].finished++;
    EDDY_FINALLY();
    if (EDDY_DROPPING())
        ws[w->id].cancelled++;
    EDDY_DONE();
}

static void work_drop(struct work *w)
{
    ws[w->id].vt_drops++;
    (void)work_poll(w, EDDY_CX_DROP, NULL);
}

/* The same coroutine with an int output (out_size 4). */
static eddy_poll work_poll_int(struct work *w, eddy_cx *cx, int *out)
{
    long v = 0;
    eddy_poll r = work_poll(w, cx, &v);
    if (r == EDDY_READY)
        *out = (int)v;
    return r;
}

EDDY_FUTURE_VT(work_long_vt, struct work, long, work_poll, work_drop);
EDDY_FUTURE_VT(work_int_vt, struct work, int, work_poll_int, work_drop);

/* ---- on the runtime -------------------------------------------------------------- */

struct root {
    eddy_coro co;
    int case_no;
    struct work w[4];
    long lo[4];
    int io[4];
    eddy_child kids[4];
    eddy_try_join_all tj;
    int rc;
    eddy_instant t0, t1;
    size_t armed_after;
};

static eddy_poll root_poll(struct root *t, eddy_cx *cx, int *out)
{
    EDDY_BEGIN(&t->co, cx);
    t->t0 = eddy_now();
    for (int i = 0; i < 4; i++) {
        t->lo[i] = 777;
        t->io[i] = 777;
    }
    if (t->case_no == 0) {
        /* ok after 10; -EIO after 20 (long); ok after 100; never */
        work_init(&t->w[0], 0, 10, 0);
        work_init(&t->w[1], 1, 20, -EIO);
        work_init(&t->w[2], 2, 100, 0);
        work_init(&t->w[3], 3, -1, 0);
        t->kids[0] = EDDY_CHILD(&work_int_vt, &t->w[0], &t->io[0]);
        t->kids[1] = EDDY_CHILD(&work_long_vt, &t->w[1], &t->lo[1]);
        t->kids[2] = EDDY_CHILD(&work_int_vt, &t->w[2], &t->io[2]);
        t->kids[3] = EDDY_CHILD(&work_long_vt, &t->w[3], &t->lo[3]);
    } else {
        /* all succeed: 5, 25, 15, 1 ms with results 1..4 */
        static const int ms[4] = {5, 25, 15, 1};
        for (int i = 0; i < 4; i++) {
            work_init(&t->w[i], i, ms[i], i + 1);
            t->kids[i] = i & 1 ? EDDY_CHILD(&work_long_vt, &t->w[i], &t->lo[i])
                               : EDDY_CHILD(&work_int_vt, &t->w[i], &t->io[i]);
        }
    }
    EDDY_AWAIT(&t->rc, eddy_try_join_all, &t->tj, t->kids, 4);
    t->t1 = eddy_now();
    t->armed_after = eddy__timers_armed(EDDY_CX()->core->timers);
    *out = 0;
    EDDY_END();
}

EDDY_CORO_VT(root_vt, struct root, int, root_poll);

static void test_first_error_cancels(void)
{
    stats_reset();
    eddy_rt *rt;
    CHECK_OK(eddy_rt_new(&rt, &(eddy_rt_builder){.start_paused = true}));
    struct root t = {.case_no = 0};
    int out = -1;
    CHECK_OK(eddy_block_on(rt, &root_vt, &t, &out));
    CHECK_EQ(t.rc, -EIO);
    CHECK_EQ(eddy_try_join_all_failed(&t.tj), 1);
    CHECK_EQ(eddy_try_join_all_error(&t.tj), -EIO);
    uint64_t dt = t.t1 - t.t0;
    CHECK_MSG(dt >= EDDY_MS(20) && dt < EDDY_MS(21), "error reported after %llu ns, want 20 ms",
              (unsigned long long)dt);
    CHECK_EQ(t.armed_after, 0); /* the cancelled sleeps left no timer */
    for (int i = 0; i < 4; i++)
        CHECK_EQ(ws[i].vt_drops, 1); /* exactly once each */
    CHECK_EQ(ws[0].finished, 1);
    CHECK_EQ(ws[1].finished, 1);
    CHECK_EQ(ws[2].finished, 0);
    CHECK_EQ(ws[3].finished, 0);
    CHECK_EQ(ws[0].cancelled, 0);
    CHECK_EQ(ws[1].cancelled, 0);
    CHECK_EQ(ws[2].cancelled, 1);
    CHECK_EQ(ws[3].cancelled, 1);
    CHECK_EQ(ws[2].polls, 1); /* never woken */
    CHECK_EQ(ws[3].polls, 1);
    CHECK_EQ(t.io[0], 0);
    CHECK_EQ(t.lo[1], -EIO);
    CHECK_EQ(t.io[2], 777); /* never written */
    CHECK_EQ(t.lo[3], 777);
    CHECK(!eddy_sleep_is_armed(&t.w[2].sl));
    CHECK(!eddy_sleep_is_armed(&t.w[3].sl));
    eddy_rt_free(rt);
}

static void test_all_succeed(void)
{
    stats_reset();
    eddy_rt *rt;
    CHECK_OK(eddy_rt_new(&rt, &(eddy_rt_builder){.start_paused = true}));
    struct root t = {.case_no = 1};
    int out = -1;
    CHECK_OK(eddy_block_on(rt, &root_vt, &t, &out));
    CHECK_EQ(t.rc, 0);
    CHECK_EQ(eddy_try_join_all_failed(&t.tj), EDDY_NO_CHILD);
    CHECK_EQ(eddy_try_join_all_error(&t.tj), 0);
    uint64_t dt = t.t1 - t.t0;
    CHECK(dt >= EDDY_MS(25) && dt < EDDY_MS(26));
    for (int i = 0; i < 4; i++) {
        CHECK_EQ(ws[i].vt_drops, 1);
        CHECK_EQ(ws[i].finished, 1);
        CHECK_EQ(ws[i].cancelled, 0);
        CHECK_EQ(ws[i].polls, 2);
        if (i & 1)
            CHECK_EQ(t.lo[i], i + 1);
        else
            CHECK_EQ(t.io[i], i + 1);
    }
    eddy_rt_free(rt);
}

/* ---- by hand ------------------------------------------------------------------------ */

/* A leaf that is ready at once with a fixed status, or pending forever. */
static int lf_polls[MAXC], lf_drops[MAXC];

struct fixed {
    int id;
    int pending;
    long status;
    eddy_waker slot;
};

static eddy_poll fixed_poll(struct fixed *f, eddy_cx *cx, long *out)
{
    lf_polls[f->id]++;
    if (f->pending) {
        eddy_waker_set(&f->slot, cx->waker);
        return EDDY_PENDING;
    }
    *out = f->status;
    return EDDY_READY;
}

static void fixed_drop(struct fixed *f)
{
    lf_drops[f->id]++;
    eddy_waker_drop(&f->slot);
}

EDDY_FUTURE_VT(fixed_vt, struct fixed, long, fixed_poll, fixed_drop);

static void setup_fixed(struct fixed *f, long *o, eddy_child *kids, int n)
{
    memset(lf_polls, 0, sizeof lf_polls);
    memset(lf_drops, 0, sizeof lf_drops);
    for (int i = 0; i < n; i++) {
        f[i] = (struct fixed){.id = i, .pending = 1};
        o[i] = 777;
        kids[i] = EDDY_CHILD(&fixed_vt, &f[i], &o[i]);
    }
}

static void test_error_on_first_poll(void)
{
    eddy_waker_counter c;
    eddy_waker w = eddy_waker_counting(&c);
    eddy_cx cx = {&w, NULL};
    struct fixed f[4];
    long o[4];
    eddy_child kids[4];
    setup_fixed(f, o, kids, 4);
    f[2] = (struct fixed){.id = 2, .pending = 0, .status = -EINVAL};
    eddy_try_join_all tj;
    int rc = 1;
    eddy_try_join_all_init(&tj, kids, 4);
    CHECK_EQ(eddy_try_join_all_poll(&tj, &cx, &rc), EDDY_READY);
    CHECK_EQ(rc, -EINVAL);
    CHECK_EQ(eddy_try_join_all_failed(&tj), 2);
    CHECK_EQ(lf_polls[0], 1);
    CHECK_EQ(lf_polls[1], 1);
    CHECK_EQ(lf_polls[2], 1);
    CHECK_EQ(lf_polls[3], 0); /* the error came first */
    for (int i = 0; i < 4; i++) {
        CHECK_EQ(lf_drops[i], 1);
        CHECK(f[i].slot.vtable == NULL);
    }
    eddy_waker_drop(&w);
    CHECK_EQ(eddy_waker_counter_live(&c), 0);
}

static void test_saturation(void)
{
    eddy_waker nw = eddy_waker_noop();
    eddy_cx cx = {&nw, NULL};
    struct fixed f[2];
    long o[2];
    eddy_child kids[2];
    setup_fixed(f, o, kids, 2);
    f[0] = (struct fixed){.id = 0, .pending = 0, .status = 5};
    f[1] = (struct fixed){.id = 1, .pending = 0, .status = LONG_MIN + 1};
    eddy_try_join_all tj;
    int rc = 1;
    eddy_try_join_all_init(&tj, kids, 2);
    CHECK_EQ(eddy_try_join_all_poll(&tj, &cx, &rc), EDDY_READY);
    CHECK_EQ(rc, INT_MIN);
    CHECK(eddy_try_join_all_error(&tj) == LONG_MIN + 1);
    CHECK_EQ(o[0], 5); /* positive statuses are successes */
}

static void test_drops(void)
{
    struct fixed f[3];
    long o[3];
    eddy_child kids[3];
    eddy_try_join_all tj;
    setup_fixed(f, o, kids, 3);
    eddy_try_join_all_init(&tj, kids, 3);
    eddy_try_join_all_drop(&tj);
    for (int i = 0; i < 3; i++) {
        CHECK_EQ(lf_polls[i], 0);
        CHECK_EQ(lf_drops[i], 1);
    }

    eddy_waker_counter c;
    eddy_waker w = eddy_waker_counting(&c);
    eddy_cx cx = {&w, NULL};
    setup_fixed(f, o, kids, 3);
    f[1].pending = 0;
    f[1].status = 0;
    eddy_try_join_all_init(&tj, kids, 3);
    CHECK_EQ(eddy_try_join_all_poll(&tj, &cx, NULL), EDDY_PENDING);
    CHECK_EQ(lf_drops[1], 1);
    eddy_try_join_all_drop(&tj);
    eddy_try_join_all_drop(&tj);
    for (int i = 0; i < 3; i++) {
        CHECK_EQ(lf_drops[i], 1);
        CHECK(f[i].slot.vtable == NULL);
    }
    eddy_waker_drop(&w);
    CHECK_EQ(eddy_waker_counter_live(&c), 0);
}

int main(void)
{
    test_watchdog(60);
    test_first_error_cancels();
    test_all_succeed();
    test_error_on_first_poll();
    test_saturation();
    test_drops();
    printf("ok\n");
    return 0;
}
