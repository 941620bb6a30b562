/* The future contract, checked on the current-thread runtime with
 * hand-written futures whose every poll is counted:
 * - a future is lazy: initialising or spawning it polls nothing;
 * - READY happens once: block_on and the scheduler never poll after it,
 *   even when the future woke itself in the poll that returned READY;
 * - a wake from inside poll makes exactly one more poll (several wakes in
 *   one poll too);
 * - wakes coalesce: a task woken 100 times while idle (from the runtime's
 *   thread, and from another thread) is polled once.
 * The driver of each scenario is a coroutine; the futures under test are
 * plain structs with poll functions. */

#include <eddy.h>

#include <pthread.h>

#include "eddy_test.h"

/* ---- a probe: a hand-written future that counts what happens to it ----- */

enum { NPROBES = 8 };

static struct probe_stat {
    int polls;
    int drops;
    int readies;
    int polled_after_ready;
    eddy_waker slot; /* a clone stored by the probe, woken by the test */
} ps[NPROBES];

enum probe_mode {
    /* PENDING `n` times, each time after wake_by_ref on itself, then READY */
    P_SELF_WAKE,
    /* like P_SELF_WAKE, but wakes a clone by value */
    P_SELF_WAKE_CLONE,
    /* first poll: wake_by_ref three times; then park in the slot */
    P_TRIPLE_WAKE_THEN_PARK,
    /* poll 1: wake_by_ref once; later polls: park in the slot until `go` */
    P_WAKE_ONCE_THEN_PARK,
    /* park in the slot until `go`, re-parking after every poll */
    P_PARK,
};

struct probe {
    int id;
    enum probe_mode mode;
    int n;
    int done;
};

static int go[NPROBES];

static void probe_init(struct probe *p, int id, enum probe_mode mode, int n)
{
    p->id = id;
    p->mode = mode;
    p->n = n;
    p->done = 0;
}

static eddy_poll probe_poll(struct probe *p, eddy_cx *cx, int *out)
{
    struct probe_stat *s = &ps[p->id];
    s->polls++;
    if (p->done) {
        s->polled_after_ready++;
        return EDDY_READY;
    }
    switch (p->mode) {
    case P_SELF_WAKE:
    case P_SELF_WAKE_CLONE:
        if (s->polls <= p->n) {
            if (p->mode == P_SELF_WAKE) {
                eddy_waker_wake_by_ref(cx->waker);
            } else {
                eddy_waker c = eddy_waker_clone(cx->waker);
                eddy_waker_wake(&c);
            }
            return EDDY_PENDING;
        }
        break;
    case P_TRIPLE_WAKE_THEN_PARK:
        if (s->polls == 1) {
            for (int i = 0; i < 3; i++)
                eddy_waker_wake_by_ref(cx->waker);
            return EDDY_PENDING;
        }
        if (!go[p->id]) {
            eddy_waker_set(&s->slot, cx->waker);
            return EDDY_PENDING;
        }
        break;
    case P_WAKE_ONCE_THEN_PARK:
        if (s->polls == 1) {
            eddy_waker_wake_by_ref(cx->waker);
            return EDDY_PENDING;
        }
        if (!go[p->id]) {
            eddy_waker_set(&s->slot, cx->waker);
            return EDDY_PENDING;
        }
        break;
    case P_PARK:
        if (!go[p->id]) {
            eddy_waker_set(&s->slot, cx->waker);
            return EDDY_PENDING;
        }
        break;
    }
    /* Finishing: wake ourselves once more.  The scheduler must still never
     * poll a finished future again. */
    eddy_waker_wake_by_ref(cx->waker);
    eddy_waker_drop(&s->slot);
    p->done = 1;
    s->readies++;
    *out = 1000 + p->id;
    return EDDY_READY;
}

static void probe_drop(struct probe *p)
{
    ps[p->id].drops++;
    eddy_waker_drop(&ps[p->id].slot);
}

EDDY_FUTURE_VT(probe_vt, struct probe, int, probe_poll, probe_drop);

static void reset_probes(void)
{
    for (int i = 0; i < NPROBES; i++) {
        CHECK(ps[i].slot.vtable == NULL);
        ps[i] = (struct probe_stat){0};
        go[i] = 0;
    }
}

/* ---- a hand-written root for block_on ---------------------------------- */

struct countdown {
    int left;
    int polls;
    int polled_after_ready;
    int done;
};

static eddy_poll countdown_poll(struct countdown *c, eddy_cx *cx, int *out)
{
    c->polls++;
    if (c->done) {
        c->polled_after_ready++;
        return EDDY_READY;
    }
    /* Wake ourselves on every poll, including the one that returns READY. */
    eddy_waker_wake_by_ref(cx->waker);
    if (c->left-- > 0)
        return EDDY_PENDING;
    c->done = 1;
    *out = 77;
    return EDDY_READY;
}
static void countdown_drop(struct countdown *c) { (void)c; }
EDDY_FUTURE_VT(countdown_vt, struct countdown, int, countdown_poll, countdown_drop);

static eddy_rt *rt;

static void test_block_on_ready_once(void)
{
    struct countdown c = {.left = 5};
    int out = 0;
    CHECK_EQ(c.polls, 0);
    CHECK_OK(eddy_block_on(rt, &countdown_vt, &c, &out));
    CHECK_EQ(out, 77);
    CHECK_EQ(c.polls, 6); /* 5 PENDING + 1 READY */
    CHECK_EQ(c.polled_after_ready, 0);

    /* Running the runtime again with another root never touches it. */
    struct countdown d = {.left = 10};
    CHECK_OK(eddy_block_on(rt, &countdown_vt, &d, &out));
    CHECK_EQ(d.polls, 11);
    CHECK_EQ(c.polls, 6);

    /* A root that is READY at once is polled exactly once. */
    struct countdown e = {.left = 0};
    CHECK_OK(eddy_block_on(rt, &countdown_vt, &e, &out));
    CHECK_EQ(e.polls, 1);
}

/* ---- the scenarios, driven by a coroutine root ------------------------- */

struct driver {
    eddy_coro co;
    int scenario;
    int i;
    int err;
    int out;
    eddy_join *jh;
    pthread_t th;
    eddy_yield y;
};

#define YIELD_N(t, count)                                                                                    \
    for ((t)->i = 0; (t)->i < (count); (t)->i++)                                                             \
    EDDY_AWAIT(NULL, eddy_yield, &(t)->y)

/* Yields until cond holds, at most max times (a bounded wait). */
#define YIELD_UNTIL(t, cond, max)                                                                            \
    for ((t)->i = 0; !(cond) && (t)->i < (max); (t)->i++)                                                    \
    EDDY_AWAIT(NULL, eddy_yield, &(t)->y)

static void *remote_waker_thread(void *arg)
{
    eddy_waker *w = arg;
    /* 100 wakes, by reference and by value (of fresh clones). */
    for (int i = 0; i < 50; i++)
        eddy_waker_wake_by_ref(w);
    for (int i = 0; i < 50; i++) {
        eddy_waker c = eddy_waker_clone(w);
        eddy_waker_wake(&c);
    }
    return NULL;
}

/* Scenario 1: laziness and READY-once of spawned tasks. */
static eddy_poll scenario_lazy(struct driver *t, eddy_cx *cx, int *out)
{
    EDDY_BEGIN(&t->co, cx);
    {
        struct probe p;
        probe_init(&p, 0, P_SELF_WAKE, 3);
        /* Initialising did nothing observable. */
        CHECK_EQ(ps[0].polls, 0);
        CHECK_EQ(ps[0].drops, 0);
        CHECK_OK(eddy_spawn_local(&probe_vt, &p, &t->jh));
        /* Spawning schedules; it does not poll. */
        CHECK_EQ(ps[0].polls, 0);
        CHECK(!eddy_join_is_finished(t->jh));
        CHECK_EQ(eddy_join_status(t->jh), -EAGAIN);
    }
    EDDY_AWAIT_POLL(&t->out, eddy_join, t->jh);
    CHECK_EQ(t->out, 1000);
    CHECK_EQ(eddy_join_status(t->jh), 0);
    CHECK_EQ(ps[0].polls, 4); /* 3 PENDING + 1 READY */
    CHECK_EQ(ps[0].readies, 1);
    CHECK_EQ(ps[0].drops, 1); /* the runtime releases the finished frame once */
    eddy_join_detach(t->jh);
    t->jh = NULL;

    /* The same with a clone woken by value. */
    {
        struct probe p;
        probe_init(&p, 1, P_SELF_WAKE_CLONE, 4);
        CHECK_OK(eddy_spawn_local(&probe_vt, &p, &t->jh));
    }
    EDDY_AWAIT_POLL(&t->out, eddy_join, t->jh);
    CHECK_EQ(t->out, 1001);
    CHECK_EQ(ps[1].polls, 5);
    eddy_join_detach(t->jh);
    t->jh = NULL;

    /* Give the scheduler many turns: a finished task that woke itself in
     * its last poll must not be polled again. */
    YIELD_N(t, 100);
    CHECK_EQ(ps[0].polls, 4);
    CHECK_EQ(ps[1].polls, 5);
    CHECK_EQ(ps[0].polled_after_ready + ps[1].polled_after_ready, 0);
    CHECK_EQ(ps[0].drops, 1);
    CHECK_EQ(ps[1].drops, 1);
    *out = 1;
    EDDY_END();
}

/* Scenario 2: one wake inside poll = exactly one more poll. */
static eddy_poll scenario_repoll(struct driver *t, eddy_cx *cx, int *out)
{
    EDDY_BEGIN(&t->co, cx);
    {
        struct probe p;
        probe_init(&p, 2, P_WAKE_ONCE_THEN_PARK, 0);
        CHECK_OK(eddy_spawn_local(&probe_vt, &p, &t->jh));
        probe_init(&p, 3, P_TRIPLE_WAKE_THEN_PARK, 0);
        CHECK_OK(eddy_spawn_local(&probe_vt, &p, NULL));
    }
    /* Many scheduler turns: each probe gets its first poll and then its one
     * re-poll, after which it parks and must stay parked. */
    YIELD_N(t, 50);
    CHECK_EQ(ps[2].polls, 2);
    CHECK_EQ(ps[3].polls, 2); /* three wakes in one poll are one re-poll */
    CHECK(ps[2].slot.vtable != NULL);
    CHECK(ps[3].slot.vtable != NULL);
    /* Release them. */
    go[2] = go[3] = 1;
    eddy_waker_wake(&ps[2].slot);
    eddy_waker_wake(&ps[3].slot);
    EDDY_AWAIT_POLL(&t->out, eddy_join, t->jh);
    CHECK_EQ(t->out, 1002);
    CHECK_EQ(ps[2].polls, 3);
    eddy_join_detach(t->jh);
    t->jh = NULL;
    YIELD_N(t, 10);
    CHECK_EQ(ps[3].polls, 3);
    CHECK_EQ(ps[3].readies, 1);
    *out = 1;
    EDDY_END();
}

/* Scenario 3: wakes coalesce while the task is idle. */
static eddy_poll scenario_coalesce(struct driver *t, eddy_cx *cx, int *out)
{
    EDDY_BEGIN(&t->co, cx);
    {
        struct probe p;
        probe_init(&p, 4, P_PARK, 0);
        CHECK_OK(eddy_spawn_local(&probe_vt, &p, &t->jh));
    }
    YIELD_N(t, 5);
    CHECK_EQ(ps[4].polls, 1);
    CHECK(ps[4].slot.vtable != NULL);

    /* 100 wakes from the runtime's own thread while it is idle. */
    for (int i = 0; i < 50; i++)
        eddy_waker_wake_by_ref(&ps[4].slot);
    for (int i = 0; i < 50; i++) {
        eddy_waker c = eddy_waker_clone(&ps[4].slot);
        eddy_waker_wake(&c);
    }
    CHECK_EQ(ps[4].polls, 1); /* a wake schedules; it never polls inline */
    YIELD_N(t, 20);
    CHECK_EQ(ps[4].polls, 2);

    /* 100 wakes from another thread, all of them while this thread is busy
     * inside this poll (so none can be drained in between). */
    CHECK(ps[4].slot.vtable != NULL);
    CHECK_EQ(pthread_create(&t->th, NULL, remote_waker_thread, &ps[4].slot), 0);
    CHECK_EQ(pthread_join(t->th, NULL), 0);
    CHECK_EQ(ps[4].polls, 2);
    /* Remote wakes are collected between scheduler ticks: wait for the one
     * poll they cause, then make sure no second one follows. */
    YIELD_UNTIL(t, ps[4].polls > 2, 100000);
    CHECK_EQ(ps[4].polls, 3);
    YIELD_N(t, 200);
    CHECK_EQ(ps[4].polls, 3);

    go[4] = 1;
    eddy_waker_wake_by_ref(&ps[4].slot);
    EDDY_AWAIT_POLL(&t->out, eddy_join, t->jh);
    CHECK_EQ(t->out, 1004);
    CHECK_EQ(ps[4].polls, 4);
    CHECK_EQ(ps[4].readies, 1);
    CHECK_EQ(ps[4].drops, 1);
    eddy_join_detach(t->jh);
    t->jh = NULL;
    *out = 1;
    EDDY_END();
}

static eddy_poll driver_poll(struct driver *t, eddy_cx *cx, int *out)
{
    switch (t->scenario) {
    case 1:
        return scenario_lazy(t, cx, out);
    case 2:
        return scenario_repoll(t, cx, out);
    default:
        return scenario_coalesce(t, cx, out);
    }
}
EDDY_CORO_VT(driver_vt, struct driver, int, driver_poll);

static void run_scenario(int n)
{
    reset_probes();
    struct driver d = {.scenario = n};
    int out = 0;
    CHECK_OK(eddy_block_on(rt, &driver_vt, &d, &out));
    CHECK_EQ(out, 1);
    eddy_rt_stats st;
    CHECK_OK(eddy_rt_stats_get(rt, &st));
    CHECK_EQ(st.alive, 0);
}

int main(void)
{
    test_watchdog(30);
    CHECK_OK(eddy_rt_new(&rt, test_builder(NULL)));
    test_block_on_ready_once();
    run_scenario(1);
    run_scenario(2);
    run_scenario(3);
    for (int i = 0; i < NPROBES; i++)
        CHECK_EQ(ps[i].polled_after_ready, 0);
    eddy_rt_free(rt);
    printf("test_core_contract: ok\n");
    return 0;
}
