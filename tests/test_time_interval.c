/* eddy_interval on a paused runtime: no drift (tick k reports exactly
 * t0 + k * period and, for whole-millisecond periods, is observed exactly
 * then), sub-millisecond periods keep the exact schedule while wake-ups are
 * rounded up to the tick, and the three missed-tick behaviours produce
 * exactly the documented schedules after the task was late. */
#include <eddy.h>

#include "eddy_test.h"

enum { MAXT = 1100 };

struct ticker {
    eddy_coro co;
    uint64_t period;
    eddy_missed_tick missed;
    int n;          /* ticks to take */
    int late_after; /* after this tick index, be busy for late_by (-1: never) */
    uint64_t late_by;
    int k;
    eddy_instant t0;
    eddy_interval iv;
    eddy_instant at[MAXT], seen[MAXT];
};

static eddy_poll ticker_poll(struct ticker *t, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&t->co, cx);
    t->t0 = eddy_now();
    eddy_interval_init(&t->iv, t->period);
    eddy_interval_set_missed_tick(&t->iv, t->missed);
    for (t->k = 0; t->k < t->n; t->k++) {
        EDDY_AWAIT(&t->at[t->k], eddy_interval_tick, &t->iv);
        t->seen[t->k] = eddy_now();
        if (t->k == t->late_after)
            CHECK_OK(eddy_time_advance(t->late_by)); /* "busy" without yielding */
    }
    EDDY_FINALLY();
    eddy_interval_drop(&t->iv);
    EDDY_DONE();
}
EDDY_CORO_VT_VOID(ticker_vt, struct ticker, ticker_poll);

/* Background noise: another task with its own unrelated timers. */
struct noise {
    eddy_coro co;
    int i;
    eddy_sleep sl;
};
static eddy_poll noise_poll(struct noise *t, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&t->co, cx);
    for (t->i = 0; t->i < 400; t->i++)
        EDDY_AWAIT(NULL, eddy_sleep, &t->sl, EDDY_US(1300) + EDDY_US(700) * (uint64_t)(t->i % 5));
    EDDY_END();
}
EDDY_CORO_VT_VOID(noise_vt, struct noise, noise_poll);

static struct ticker *run(uint64_t period, eddy_missed_tick missed, int n, int late_after, uint64_t late_by,
                          bool with_noise)
{
    static struct ticker t;
    memset(&t, 0, sizeof t);
    t.period = period;
    t.missed = missed;
    t.n = n;
    t.late_after = late_after;
    t.late_by = late_by;
    eddy_rt *rt;
    CHECK_OK(eddy_rt_new(&rt, &(eddy_rt_builder){.start_paused = true}));
    if (with_noise) {
        struct noise z = {.co = EDDY_CORO_INIT};
        CHECK_OK(eddy_spawn(rt, &noise_vt, &z, NULL));
    }
    CHECK_OK(eddy_block_on(rt, &ticker_vt, &t, NULL));
    eddy_rt_free(rt);
    return &t;
}

/* Whole-millisecond periods: scheduled and observed exactly. */
static void test_no_drift(void)
{
    const uint64_t periods[] = {EDDY_MS(1), EDDY_MS(7), EDDY_MS(64), EDDY_MS(1000), EDDY_SEC(3600)};
    for (size_t p = 0; p < sizeof periods / sizeof periods[0]; p++) {
        int n = periods[p] == EDDY_MS(1) ? 1000 : 100;
        struct ticker *t = run(periods[p], EDDY_MISSED_TICK_BURST, n, -1, 0, p < 2);
        for (int k = 0; k < n; k++) {
            CHECK_EQ(t->at[k], t->t0 + (uint64_t)k * periods[p]);
            CHECK_EQ(t->seen[k], t->at[k]);
        }
    }
}

/* A period that is not a whole number of ticks: the reported instants stay
 * exact (no accumulated rounding), the observation is rounded up to the
 * next tick but never early and never a whole tick late. */
static void test_sub_tick_period(void)
{
    const uint64_t periods[] = {EDDY_US(1500), EDDY_US(333), EDDY_NS(1000001)};
    for (size_t p = 0; p < sizeof periods / sizeof periods[0]; p++) {
        int n = 500;
        struct ticker *t = run(periods[p], EDDY_MISSED_TICK_BURST, n, -1, 0, true);
        for (int k = 0; k < n; k++) {
            eddy_instant want = t->t0 + (uint64_t)k * periods[p];
            CHECK_EQ(t->at[k], want);
            CHECK(t->seen[k] >= want);
            CHECK(t->seen[k] - want < EDDY_MS(1));
        }
    }
}

static void expect(const struct ticker *t, const uint64_t *at_ms, const uint64_t *seen_ms, int n)
{
    for (int k = 0; k < n; k++) {
        CHECK_MSG(t->at[k] == t->t0 + EDDY_MS(at_ms[k]), "tick %d reported at +%.3f ms, want +%llu ms", k,
                  (double)(t->at[k] - t->t0) / 1e6, (unsigned long long)at_ms[k]);
        CHECK_MSG(t->seen[k] == t->t0 + EDDY_MS(seen_ms[k]), "tick %d observed at +%.3f ms, want +%llu ms", k,
                  (double)(t->seen[k] - t->t0) / 1e6, (unsigned long long)seen_ms[k]);
    }
}

/* Period 10 ms; after the tick at 30 the task is busy for 25 ms (until 55):
 * the ticks at 40 and 50 are late, the one at 50 is missed. */
static void test_missed_burst(void)
{
    struct ticker *t = run(EDDY_MS(10), EDDY_MISSED_TICK_BURST, 9, 3, EDDY_MS(25), false);
    static const uint64_t at[] = {0, 10, 20, 30, 40, 50, 60, 70, 80};
    static const uint64_t seen[] = {0, 10, 20, 30, 55, 55, 60, 70, 80};
    expect(t, at, seen, 9);
}

static void test_missed_delay(void)
{
    struct ticker *t = run(EDDY_MS(10), EDDY_MISSED_TICK_DELAY, 8, 3, EDDY_MS(25), false);
    static const uint64_t at[] = {0, 10, 20, 30, 40, 65, 75, 85};
    static const uint64_t seen[] = {0, 10, 20, 30, 55, 65, 75, 85};
    expect(t, at, seen, 8);
}

static void test_missed_skip(void)
{
    struct ticker *t = run(EDDY_MS(10), EDDY_MISSED_TICK_SKIP, 8, 3, EDDY_MS(25), false);
    static const uint64_t at[] = {0, 10, 20, 30, 40, 60, 70, 80};
    static const uint64_t seen[] = {0, 10, 20, 30, 55, 60, 70, 80};
    expect(t, at, seen, 8);
}

/* Several periods missed at once. */
static void test_missed_many(void)
{
    struct ticker *t = run(EDDY_MS(10), EDDY_MISSED_TICK_SKIP, 5, 1, EDDY_MS(47), false);
    static const uint64_t at_skip[] = {0, 10, 20, 60, 70};
    static const uint64_t seen_skip[] = {0, 10, 57, 60, 70};
    expect(t, at_skip, seen_skip, 5);
    t = run(EDDY_MS(10), EDDY_MISSED_TICK_DELAY, 5, 1, EDDY_MS(47), false);
    static const uint64_t at_delay[] = {0, 10, 20, 67, 77};
    static const uint64_t seen_delay[] = {0, 10, 57, 67, 77};
    expect(t, at_delay, seen_delay, 5);
    t = run(EDDY_MS(10), EDDY_MISSED_TICK_BURST, 8, 1, EDDY_MS(47), false);
    static const uint64_t at_burst[] = {0, 10, 20, 30, 40, 50, 60, 70};
    static const uint64_t seen_burst[] = {0, 10, 57, 57, 57, 57, 60, 70};
    expect(t, at_burst, seen_burst, 8);
}

/* Late by less than a period: nothing is missed, in every mode. */
static void test_late_but_not_missed(void)
{
    static const uint64_t at[] = {0, 10, 20, 30, 40, 50};
    static const uint64_t seen[] = {0, 10, 20, 30, 40, 50};
    for (int m = 0; m <= 2; m++) {
        struct ticker *t = run(EDDY_MS(10), (eddy_missed_tick)m, 6, 2, EDDY_MS(9), false);
        expect(t, at, seen, 6);
    }
    /* exactly one period late: the next tick is due at once, i.e. missed */
    static const uint64_t at_b[] = {0, 10, 20, 30, 40};
    static const uint64_t seen_b[] = {0, 10, 30, 30, 40};
    expect(run(EDDY_MS(10), EDDY_MISSED_TICK_BURST, 5, 1, EDDY_MS(20), false), at_b, seen_b, 5);
    static const uint64_t at_d[] = {0, 10, 20, 40, 50};
    static const uint64_t seen_d[] = {0, 10, 30, 40, 50};
    expect(run(EDDY_MS(10), EDDY_MISSED_TICK_DELAY, 5, 1, EDDY_MS(20), false), at_d, seen_d, 5);
    expect(run(EDDY_MS(10), EDDY_MISSED_TICK_SKIP, 5, 1, EDDY_MS(20), false), at_d, seen_d, 5);
}

int main(void)
{
    test_watchdog(60);
    test_no_drift();
    test_sub_tick_period();
    test_missed_burst();
    test_missed_delay();
    test_missed_skip();
    test_missed_many();
    test_late_but_not_missed();
    printf("test_time_interval: ok\n");
    return 0;
}
