/* eddy_spawn_prepare / eddy_spawn_commit / eddy_spawn_cancel.
 * - prepare hands out an aligned frame that is not yet a task: nothing is
 *   polled or counted until commit; commit schedules it, with or without a
 *   join handle, from outside the runtime and from inside a task;
 * - a frame too big for any stack (1 MiB) is built in place and runs;
 * - cancel frees a prepared frame without calling drop (LSan: freed);
 * - commit while the runtime is shutting down returns -EDDY_ESHUTDOWN,
 *   drops the frame once and frees it; prepare then fails the same way;
 * - bad arguments give -EINVAL. */

#include <eddy.h>

#include "eddy_test.h"

enum { BIG = 1 << 20 };

static int big_polls, big_drops;
struct big {
    long sum_expected;
    unsigned char data[BIG];
};
static eddy_poll big_poll(struct big *b, eddy_cx *cx, long *out)
{
    (void)cx;
    big_polls++;
    long sum = 0;
    for (size_t i = 0; i < BIG; i += 4096)
        sum += b->data[i];
    *out = sum == b->sum_expected ? sum : -1;
    return EDDY_READY;
}
static void big_drop(struct big *b)
{
    (void)b;
    big_drops++;
}
EDDY_FUTURE_VT(big_vt, struct big, long, big_poll, big_drop);

static int small_polls, small_drops;
struct small {
    _Alignas(32) int v;
};
static eddy_poll small_poll(struct small *s, eddy_cx *cx, int *out)
{
    (void)cx;
    small_polls++;
    *out = s->v;
    return EDDY_READY;
}
static void small_drop(struct small *s)
{
    (void)s;
    small_drops++;
}
EDDY_FUTURE_VT(small_vt, struct small, int, small_poll, small_drop);

static void fill_big(struct big *b, unsigned char seed)
{
    long sum = 0;
    for (size_t i = 0; i < BIG; i += 4096) {
        b->data[i] = (unsigned char)(seed + i / 4096);
        sum += b->data[i];
    }
    b->sum_expected = sum;
}

/* A task whose drop (at shutdown) commits a frame prepared earlier. */
static void *late_frame;
static int late_commit_result = 1, late_prepare_result = 1;
struct late {
    int x;
};
static eddy_poll late_poll(struct late *l, eddy_cx *cx, void *out)
{
    (void)l;
    (void)cx;
    (void)out;
    return EDDY_PENDING; /* forever, until shutdown drops it */
}
static void late_drop(struct late *l)
{
    (void)l;
    late_commit_result = eddy_spawn_commit(&small_vt, late_frame, NULL);
    void *f = NULL;
    late_prepare_result = eddy_spawn_prepare(eddy_rt_current(), &small_vt, &f);
    if (late_prepare_result == 0)
        eddy_spawn_cancel(&small_vt, f);
}
EDDY_FUTURE_VT_VOID(late_vt, struct late, late_poll, late_drop);

static eddy_join *outside_jh; /* committed from outside before block_on */

struct root {
    eddy_coro co;
    eddy_join *jh;
    long out;
    int i;
    eddy_yield y;
};

static eddy_poll root_poll(struct root *r, eddy_cx *cx, void *unused)
{
    (void)unused;
    EDDY_BEGIN(&r->co, cx);
    EDDY_AWAIT_POLL(&r->out, eddy_join, outside_jh);
    CHECK(r->out > 0);
    /* the detached one committed from outside runs too */
    for (r->i = 0; r->i < 100 && small_polls == 0; r->i++)
        EDDY_AWAIT(NULL, eddy_yield, &r->y);
    CHECK_EQ(small_polls, 1);
    /* From inside a task: prepare on the current runtime. */
    {
        void *frame;
        CHECK_OK(eddy_spawn_prepare(eddy_rt_current(), &big_vt, &frame));
        fill_big(frame, 3);
        CHECK_OK(eddy_spawn_commit(&big_vt, frame, &r->jh));
    }
    EDDY_AWAIT_POLL(&r->out, eddy_join, r->jh);
    CHECK(r->out > 0);
    eddy_join_detach(r->jh);

    /* A frame prepared now and committed during shutdown. */
    CHECK_OK(eddy_spawn_prepare(eddy_rt_current(), &small_vt, &late_frame));
    ((struct small *)late_frame)->v = 99;
    {
        struct late l = {0};
        CHECK_OK(eddy_spawn_local(&late_vt, &l, NULL));
    }
    EDDY_END();
}
EDDY_CORO_VT_VOID(root_vt, struct root, root_poll);

int main(void)
{
    test_watchdog(30);
    eddy_rt *rt;
    CHECK_OK(eddy_rt_new(&rt, test_builder(NULL)));
    void *frame = NULL;

    CHECK_EQ(eddy_spawn_prepare(rt, &big_vt, NULL), -EINVAL);
    CHECK_EQ(eddy_spawn_prepare(NULL, &big_vt, &frame), -EINVAL);
    CHECK_EQ(eddy_spawn_prepare(rt, NULL, &frame), -EINVAL);
    CHECK_EQ(eddy_spawn_commit(NULL, frame, NULL), -EINVAL);
    CHECK_EQ(eddy_spawn_commit(&big_vt, NULL, NULL), -EINVAL);
    eddy_spawn_cancel(&big_vt, NULL); /* no-op */

    /* From outside the runtime, with a join handle. */
    CHECK_OK(eddy_spawn_prepare(rt, &big_vt, &frame));
    CHECK(frame != NULL);
    CHECK_EQ((uintptr_t)frame % _Alignof(struct big), 0);
    fill_big(frame, 1);
    CHECK_OK(eddy_spawn_commit(&big_vt, frame, &outside_jh));
    eddy_join *jh = outside_jh;

    /* Prepared and cancelled: never runs, never dropped, freed. */
    void *f2;
    CHECK_OK(eddy_spawn_prepare(rt, &big_vt, &f2));
    eddy_spawn_cancel(&big_vt, f2);

    /* An over-aligned small frame, detached. */
    void *f3;
    CHECK_OK(eddy_spawn_prepare(rt, &small_vt, &f3));
    CHECK_EQ((uintptr_t)f3 % 32, 0);
    ((struct small *)f3)->v = 5;
    CHECK_OK(eddy_spawn_commit(&small_vt, f3, NULL));

    eddy_rt_stats st;
    CHECK_OK(eddy_rt_stats_get(rt, &st));
    CHECK_EQ(big_polls, 0); /* nothing ran yet */

    struct root r;
    memset(&r, 0, sizeof r);
    CHECK_OK(eddy_block_on(rt, &root_vt, &r, NULL));
    CHECK(eddy_join_is_finished(jh));
    CHECK_EQ(eddy_join_status(jh), 0);
    eddy_waker n = eddy_waker_noop();
    eddy_cx cx = {&n, NULL};
    long out = 0;
    CHECK_EQ(eddy_join_poll(jh, &cx, &out), EDDY_READY);
    CHECK(out > 0);
    eddy_join_detach(jh);
    CHECK_EQ(big_polls, 2);
    CHECK_EQ(big_drops, 2); /* the two completed frames, released once each */
    CHECK_EQ(small_polls, 1);
    CHECK_EQ(small_drops, 1);

    eddy_rt_free(rt);
    /* late's drop committed the prepared frame during shutdown. */
    CHECK_EQ(late_commit_result, -EDDY_ESHUTDOWN);
    CHECK_EQ(late_prepare_result, -EDDY_ESHUTDOWN);
    CHECK_EQ(small_polls, 1);  /* never ran */
    CHECK_EQ(small_drops, 2);  /* but was dropped, once */
    printf("test_rt_spawn_prepare: ok\n");
    return 0;
}
