/* eddy_joinset (include/eddy/combinators.h), on the current-thread runtime
 * under a paused clock:
 * - 1,000 tasks sleeping pseudo-random durations: eddy_joinset_next
 *   returns each exactly once, in deadline order, at its deadline, with its
 *   output copied; len counts down; then -ENOENT.  The awaiting task is
 *   polled about once per distinct deadline, not once per task per wake;
 * - spawning in waves while collecting (entries are recycled);
 * - abort_all: finished tasks still report 0 with their output, the
 *   others -ECANCELED, each exactly once;
 * - dropping a set with pending tasks aborts them: each one's drop runs
 *   exactly once (and not again at runtime shutdown), and tasks that had
 *   finished are released;
 * - the empty set; NULL id and out_buf. */
#include <eddy.h>

#include "eddy_test.h"

enum { MAXT = 1000 };

static int finished[MAXT], cancelled[MAXT];

struct res {
    uint64_t id;
    uint64_t ms;
    eddy_instant done_at;
};

/* A task: sleeps ms (UINT64_MAX: forever), then outputs a struct res. */
struct worker {
    eddy_coro co;
    uint64_t id, ms;
    eddy_sleep sl;
};

static eddy_poll worker_poll(struct worker *w, eddy_cx *cx, struct res *out)
{
    EDDY_BEGIN(&w->co, cx);
    if (w->ms == UINT64_MAX)
        EDDY_AWAIT(NULL, eddy_sleep_until, &w->sl, EDDY_INSTANT_NEVER);
    else
        EDDY_AWAIT(NULL, eddy_sleep, &w->sl, EDDY_MS(w->ms));
    *out = (struct res){.id = w->id, .ms = w->ms, .done_at = eddy_now()};
    finished[w->id]++;
    EDDY_FINALLY();
    if (EDDY_DROPPING())
        cancelled[w->id]++;
    EDDY_DONE();
}

EDDY_CORO_VT(worker_vt, struct worker, struct res, worker_poll);

static void reset(void)
{
    memset(finished, 0, sizeof finished);
    memset(cancelled, 0, sizeof cancelled);
}

static uint64_t rng = 0x2545f4914f6cdd1dULL;
static uint64_t rnd(void)
{
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return rng * 0x2545f4914f6cdd1dULL;
}

static int spawn_worker(eddy_joinset *set, uint64_t id, uint64_t ms, uint64_t *got)
{
    struct worker w = {.id = id, .ms = ms};
    return eddy_joinset_spawn(set, &worker_vt, &w, got);
}

static size_t rt_alive(void)
{
    eddy_rt_stats st;
    CHECK_OK(eddy_rt_stats_get(eddy_rt_current(), &st));
    return (size_t)st.alive;
}

/* ---- 1. a thousand tasks in random order ------------------------------------------ */

struct many {
    eddy_coro co;
    eddy_joinset set;
    eddy_joinset_next nx;
    uint64_t ms[MAXT];
    uint8_t seen[MAXT];
    struct res r;
    uint64_t id;
    int rc;
    size_t got, distinct;
    long polls;
    eddy_instant t0, last;
};

static eddy_poll many_poll(struct many *t, eddy_cx *cx, int *out)
{
    t->polls++;
    EDDY_BEGIN(&t->co, cx);
    eddy_joinset_init(&t->set);
    t->t0 = eddy_now();
    for (size_t i = 0; i < MAXT; i++) {
        t->ms[i] = 1 + rnd() % 500;
        uint64_t id = 99999;
        CHECK_OK(spawn_worker(&t->set, i, t->ms[i], &id));
        CHECK_EQ(id, i); /* ids count from 0 in spawn order */
    }
    CHECK_EQ(eddy_joinset_len(&t->set), MAXT);
    t->polls = 0;
    t->last = t->t0;
    for (;;) {
        EDDY_AWAIT(&t->rc, eddy_joinset_next, &t->nx, &t->set, &t->id, &t->r, sizeof t->r);
        if (t->rc == -ENOENT)
            break;
        CHECK_EQ(t->rc, 0);
        CHECK(t->id < MAXT);
        CHECK_EQ(t->seen[t->id], 0);
        t->seen[t->id] = 1;
        t->got++;
        CHECK_EQ(t->r.id, t->id);
        CHECK_EQ(t->r.ms, t->ms[t->id]);
        /* finished at its deadline (1 ms wheel ticks), in deadline order */
        CHECK(t->r.done_at - t->t0 >= EDDY_MS(t->r.ms));
        CHECK(t->r.done_at - t->t0 < EDDY_MS(t->r.ms + 1));
        CHECK(t->r.done_at >= t->last);
        if (t->r.done_at != t->last)
            t->distinct++;
        t->last = t->r.done_at;
        CHECK_EQ(eddy_now(), t->r.done_at); /* returned in the turn it finished */
        CHECK_EQ(eddy_joinset_len(&t->set), MAXT - t->got);
    }
    CHECK_EQ(t->got, MAXT);
    CHECK_EQ(eddy_joinset_len(&t->set), 0);
    CHECK_EQ(rt_alive(), 0);
    EDDY_FINALLY();
    eddy_joinset_drop(&t->set);
    *out = 0;
    EDDY_DONE();
}

EDDY_CORO_VT(many_vt, struct many, int, many_poll);

static void test_many(void)
{
    reset();
    eddy_rt *rt;
    CHECK_OK(eddy_rt_new(&rt, &(eddy_rt_builder){.start_paused = true}));
    struct many *t = calloc(1, sizeof *t);
    CHECK(t);
    int out = -1;
    CHECK_OK(eddy_block_on(rt, &many_vt, t, &out));
    CHECK_EQ(out, 0);
    for (size_t i = 0; i < MAXT; i++) {
        CHECK_EQ(finished[i], 1);
        CHECK_EQ(cancelled[i], 0);
    }
    /* One poll per distinct deadline (+ the last, which sees the empty
     * set), not one per task: the set is not scanned. */
    CHECK_MSG(t->polls <= (long)t->distinct + 2, "awaiting task polled %ld times for %zu distinct deadlines",
              t->polls, t->distinct);
    printf("joinset: %d tasks, %zu distinct deadlines, awaiting task polled %ld times\n", MAXT, t->distinct,
           t->polls);
    free(t);
    eddy_rt_free(rt);
}

/* ---- 2. waves --------------------------------------------------------------------- */

struct waves {
    eddy_coro co;
    eddy_joinset set;
    eddy_joinset_next nx;
    int wave, k, rc;
    uint64_t id;
    struct res r;
    uint8_t seen[60];
    size_t got;
};

static eddy_poll waves_poll(struct waves *t, eddy_cx *cx, int *out)
{
    EDDY_BEGIN(&t->co, cx);
    eddy_joinset_init(&t->set);
    for (t->wave = 0; t->wave < 3; t->wave++) {
        for (int i = 0; i < 20; i++) {
            uint64_t id;
            CHECK_OK(spawn_worker(&t->set, (uint64_t)(t->wave * 20 + i), (uint64_t)(1 + (i * 7) % 5), &id));
            CHECK_EQ(id, (uint64_t)(t->wave * 20 + i));
        }
        for (t->k = 0; t->k < 10; t->k++) {
            EDDY_AWAIT(&t->rc, eddy_joinset_next, &t->nx, &t->set, &t->id, &t->r, sizeof t->r);
            CHECK_EQ(t->rc, 0);
            CHECK_EQ(t->seen[t->id], 0);
            t->seen[t->id] = 1;
            t->got++;
        }
    }
    for (;;) {
        EDDY_AWAIT(&t->rc, eddy_joinset_next, &t->nx, &t->set, &t->id, NULL, 0);
        if (t->rc == -ENOENT)
            break;
        CHECK_EQ(t->rc, 0);
        CHECK_EQ(t->seen[t->id], 0);
        t->seen[t->id] = 1;
        t->got++;
    }
    CHECK_EQ(t->got, 60);
    EDDY_FINALLY();
    eddy_joinset_drop(&t->set);
    *out = 0;
    EDDY_DONE();
}

EDDY_CORO_VT(waves_vt, struct waves, int, waves_poll);

/* ---- 3. abort_all ------------------------------------------------------------------- */

struct aborter {
    eddy_coro co;
    eddy_joinset set;
    eddy_joinset_next nx;
    eddy_sleep sl;
    int rc, ok, canc;
    uint64_t id;
    struct res r;
};

static eddy_poll aborter_poll(struct aborter *t, eddy_cx *cx, int *out)
{
    EDDY_BEGIN(&t->co, cx);
    eddy_joinset_init(&t->set);
    /* empty: -ENOENT at once */
    EDDY_AWAIT(&t->rc, eddy_joinset_next, &t->nx, &t->set, NULL, NULL, 0);
    CHECK_EQ(t->rc, -ENOENT);
    for (uint64_t i = 0; i < 15; i++)
        CHECK_OK(spawn_worker(&t->set, i, i < 5 ? 1 : UINT64_MAX, NULL));
    EDDY_AWAIT(NULL, eddy_sleep, &t->sl, EDDY_MS(3)); /* the first five finish */
    eddy_joinset_abort_all(&t->set);
    CHECK_EQ(eddy_joinset_len(&t->set), 15); /* still in the set until returned */
    for (;;) {
        EDDY_AWAIT(&t->rc, eddy_joinset_next, &t->nx, &t->set, &t->id, &t->r, sizeof t->r);
        if (t->rc == -ENOENT)
            break;
        if (t->id < 5) {
            CHECK_EQ(t->rc, 0);
            CHECK_EQ(t->r.id, t->id);
            t->ok++;
        } else {
            CHECK_EQ(t->rc, -ECANCELED);
            CHECK_EQ(cancelled[t->id], 1); /* dropped before it was reported */
            t->canc++;
        }
    }
    CHECK_EQ(t->ok, 5);
    CHECK_EQ(t->canc, 10);
    EDDY_FINALLY();
    eddy_joinset_drop(&t->set);
    *out = 0;
    EDDY_DONE();
}

EDDY_CORO_VT(aborter_vt, struct aborter, int, aborter_poll);

/* ---- 4. dropping the set ----------------------------------------------------------------- */

struct dropper {
    eddy_coro co;
    eddy_joinset set;
    eddy_sleep sl;
    eddy_yield y;
    int rounds;
};

static eddy_poll dropper_poll(struct dropper *t, eddy_cx *cx, int *out)
{
    EDDY_BEGIN(&t->co, cx);
    eddy_joinset_init(&t->set);
    for (uint64_t i = 0; i < 150; i++)
        CHECK_OK(spawn_worker(&t->set, i, i < 50 ? 1 : UINT64_MAX, NULL));
    EDDY_AWAIT(NULL, eddy_sleep, &t->sl, EDDY_MS(2)); /* 50 finish, never collected */
    CHECK_EQ(rt_alive(), 100);
    eddy_joinset_drop(&t->set);
    CHECK_EQ(eddy_joinset_len(&t->set), 0);
    /* The aborted tasks are dropped when the scheduler reaches them. */
    for (t->rounds = 0; rt_alive() > 0 && t->rounds < 100; t->rounds++)
        EDDY_AWAIT(NULL, eddy_yield, &t->y);
    CHECK_EQ(rt_alive(), 0);
    for (int i = 0; i < 150; i++) {
        CHECK_EQ(finished[i], i < 50);
        CHECK_EQ(cancelled[i], i >= 50);
    }
    *out = 0;
    EDDY_END();
}

EDDY_CORO_VT(dropper_vt, struct dropper, int, dropper_poll);

static void run(const eddy_future_vt *vt, void *frame)
{
    eddy_rt *rt;
    CHECK_OK(eddy_rt_new(&rt, &(eddy_rt_builder){.start_paused = true}));
    int out = -1;
    CHECK_OK(eddy_block_on(rt, vt, frame, &out));
    CHECK_EQ(out, 0);
    eddy_rt_free(rt);
}

int main(void)
{
    test_watchdog(60);
    test_many();

    reset();
    struct waves w = {0};
    run(&waves_vt, &w);

    reset();
    struct aborter a = {0};
    run(&aborter_vt, &a);
    for (int i = 0; i < 15; i++) {
        CHECK_EQ(finished[i], i < 5);
        CHECK_EQ(cancelled[i], i >= 5);
    }

    reset();
    struct dropper d = {0};
    run(&dropper_vt, &d);
    /* Nothing dropped twice by the runtime's shutdown. */
    for (int i = 0; i < 150; i++)
        CHECK_EQ(finished[i] + cancelled[i], 1);
    printf("ok\n");
    return 0;
}
