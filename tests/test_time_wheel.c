/* The timer wheel through its internal API, with a paused clock (no
 * runtime): firing order across every level, cascades that land exactly on
 * the deadline's tick, never early at tick boundaries, O(1) cancellation
 * and no fire after cancel, 100,000 timers with half cancelled, re-arming,
 * "never" deadlines, freeing a wheel with timers still linked, the real
 * clock, pause/resume.  See docs/design/0004-timer-wheel.md. */
#include <eddy.h>

#include "eddy_test.h"
#include "time/timers.h"

#include <time.h>

#define RES EDDY__TIMER_RES_NS
#define MS(n) ((uint64_t)(n) * RES)
#define SPAN_TICKS (UINT64_C(1) << (EDDY__TIMER_LEVEL_BITS * EDDY__TIMER_LEVELS))

/* ---- a recording waker ------------------------------------------------------
 * Each timer gets its own record; the waker's data points at it.  clone
 * does not allocate, it only counts, so clones == wakes + drops once every
 * reference is gone. */
struct rec {
    size_t id;
    long clones, wakes, drops;
    uint64_t fired_at; /* the wheel's now when woken */
};

static struct eddy__timers *g_wheel;
static size_t *g_log; /* ids in firing order */
static size_t g_nlog;

static eddy_waker rec_clone(const void *d);
static void rec_wake(const void *d)
{
    struct rec *r = (struct rec *)d;
    r->wakes++;
    r->fired_at = eddy__timers_now(g_wheel);
    if (g_log)
        g_log[g_nlog] = r->id;
    g_nlog++;
}
static void rec_drop(const void *d) { ((struct rec *)d)->drops++; }
static const eddy_waker_vtable rec_vt = {rec_clone, rec_wake, rec_wake, rec_drop};
static eddy_waker rec_clone(const void *d)
{
    ((struct rec *)d)->clones++;
    return (eddy_waker){&rec_vt, d};
}
static eddy_waker rec_waker(struct rec *r) { return (eddy_waker){&rec_vt, r}; }

static void ent_init(eddy__timer *e, uint64_t deadline)
{
    memset(e, 0, sizeof *e);
    e->deadline = deadline;
}

/* Arms e on the wheel with r's waker (the wheel stores a clone). */
static void arm(struct eddy__timers *t, eddy__timer *e, struct rec *r)
{
    eddy_waker w = rec_waker(r);
    eddy__timer_arm(t, e, &w);
}

/* Tick arithmetic the wheel promises: a deadline's tick is rounded up. */
static uint64_t tick_ns(uint64_t origin, uint64_t deadline)
{
    uint64_t d = deadline - origin;
    return origin + (d / RES + (d % RES != 0)) * RES;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15u;
static uint64_t rnd(void)
{
    /* xorshift64*: deterministic, so a failure reproduces */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dULL;
}

static void shuffle(size_t *a, size_t n)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)(rnd() % i);
        size_t x = a[i - 1];
        a[i - 1] = a[j];
        a[j] = x;
    }
}

/* Runs a paused wheel to the end the way an idle runtime does:
 * auto-advance, then fire.  Returns how many fired. */
static size_t drain(struct eddy__timers *t)
{
    size_t n = 0;
    while (eddy__timers_auto_advance(t))
        n += eddy__timers_fire(t);
    return n;
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- tests --------------------------------------------------------------------- */

static void test_empty(void)
{
    struct eddy__timers *t;
    CHECK_OK(eddy__timers_new(&t, true, false));
    g_wheel = t;
    CHECK(eddy__timers_paused(t));
    CHECK_EQ(eddy__timers_next_timeout(t), -1);
    CHECK(!eddy__timers_auto_advance(t));
    CHECK_EQ(eddy__timers_fire(t), 0);
    CHECK_EQ(eddy__timers_armed(t), 0);
    uint64_t n0 = eddy__timers_now(t);
    eddy__timers_tick_clock(t); /* paused: the clock does not move */
    CHECK_EQ(eddy__timers_now(t), n0);
    eddy__timers_free(t);
}

/* Deadlines on both sides of every level boundary, plus overflow, inserted
 * in random order: they fire in deadline order, each exactly at its tick. */
static void test_order_across_levels(void)
{
    static const uint64_t ms[] = {
        1, 2, 63, 64, 65, 100, 127, 128, 4095, 4096, 4097, 5000, 262143, 262144, 262145, 300001,
        16777215, 16777216, 16777217, 1073741823, 1073741824, 1073741825, 68719476735ULL, /* last tick in the wheel */
        68719476736ULL, 68719476737ULL, 3 * 68719476736ULL + 12345,
    };
    enum { NMS = sizeof ms / sizeof ms[0], N = NMS * 3 };
    struct eddy__timers *t;
    CHECK_OK(eddy__timers_new(&t, true, false));
    g_wheel = t;
    uint64_t origin = eddy__timers_now(t);
    static eddy__timer e[N];
    static struct rec r[N];
    static uint64_t dl[N];
    size_t idx[N], log[N];
    for (size_t i = 0; i < NMS; i++) {
        dl[3 * i] = origin + MS(ms[i]) - 1; /* just before a tick boundary */
        dl[3 * i + 1] = origin + MS(ms[i]); /* on it */
        dl[3 * i + 2] = origin + MS(ms[i]) + 1; /* just after: the next tick */
    }
    for (size_t i = 0; i < N; i++) {
        idx[i] = i;
        r[i] = (struct rec){.id = i};
    }
    shuffle(idx, N);
    for (size_t k = 0; k < N; k++) {
        size_t i = idx[k];
        ent_init(&e[i], dl[i]);
        arm(t, &e[i], &r[i]);
    }
    CHECK_EQ(eddy__timers_armed(t), N);
    g_log = log;
    g_nlog = 0;
    CHECK_EQ(drain(t), N);
    CHECK_EQ(g_nlog, N);
    for (size_t k = 0; k < N; k++) {
        size_t i = log[k];
        CHECK_EQ(r[i].wakes, 1);
        CHECK_MSG(r[i].fired_at >= dl[i], "timer %zu fired %llu ns early", i,
                  (unsigned long long)(dl[i] - r[i].fired_at));
        /* auto-advance lands exactly on the deadline's (rounded-up) tick */
        CHECK_EQ(r[i].fired_at, tick_ns(origin, dl[i]));
        if (k > 0) /* ordered by tick (within one tick: any order) */
            CHECK_LE(tick_ns(origin, dl[log[k - 1]]), tick_ns(origin, dl[i]));
        CHECK(e[i].wheel == NULL);
        CHECK_EQ(r[i].clones, r[i].wakes + r[i].drops);
    }
    CHECK_EQ(eddy__timers_armed(t), 0);
    CHECK_EQ(eddy__timers_next_timeout(t), -1);
    g_log = NULL;
    eddy__timers_free(t);
}

/* One timer whose deadline has a non-zero digit at every level: it reaches
 * level 0 by cascades, each taken at a slot start no later than the
 * deadline, and fires exactly at its tick.  Done from a non-zero,
 * non-aligned starting point too. */
static void test_cascade(void)
{
    const uint64_t d_ms[] = {
        1 + 64 * 3 + 4096 * 5 + 262144ULL * 7 + 16777216ULL * 11 + 1073741824ULL * 13,
        63 + 64 * 63 + 4096 * 63 + 262144ULL * 63,
        4096 * 2,
        77777777,
    };
    const uint64_t starts[] = {0, MS(12345) + 678901, MS(4095) + 999999, MS(262143)};
    for (size_t si = 0; si < sizeof starts / sizeof starts[0]; si++) {
        for (size_t di = 0; di < sizeof d_ms / sizeof d_ms[0]; di++) {
            struct eddy__timers *t;
            CHECK_OK(eddy__timers_new(&t, true, false));
            g_wheel = t;
            uint64_t origin = eddy__timers_now(t);
            eddy__timers_advance(t, starts[si]);
            CHECK_EQ(eddy__timers_fire(t), 0);
            uint64_t deadline = eddy__timers_now(t) + MS(d_ms[di]) + 500000; /* half a tick */
            eddy__timer e;
            struct rec r = {.id = 1};
            ent_init(&e, deadline);
            arm(t, &e, &r);
            /* Follow next_timeout the way a real-clock runtime would. */
            int wakeups = 0;
            while (r.wakes == 0) {
                int64_t to = eddy__timers_next_timeout(t);
                CHECK(to > 0);
                uint64_t at = eddy__timers_now(t) + (uint64_t)to;
                CHECK_MSG(at <= tick_ns(origin, deadline), "next_timeout points past the deadline");
                eddy__timers_advance(t, (uint64_t)to);
                eddy__timers_fire(t);
                wakeups++;
                CHECK_LE(wakeups, EDDY__TIMER_LEVELS + 1);
            }
            CHECK_EQ(r.fired_at, tick_ns(origin, deadline));
            CHECK(r.fired_at >= deadline);
            CHECK_EQ(eddy__timers_armed(t), 0);
            eddy__timers_free(t);
        }
    }
}

/* Stepping the clock by odd amounts (1 ns .. 0.3 ms): each timer fires at
 * the first fire() whose now reaches its rounded-up tick, never before its
 * deadline, and never a step late. */
static void test_never_early(void)
{
    enum { N = 600 };
    struct eddy__timers *t;
    CHECK_OK(eddy__timers_new(&t, true, false));
    g_wheel = t;
    uint64_t origin = eddy__timers_now(t);
    eddy__timers_advance(t, 300001); /* not on a tick */
    eddy__timers_fire(t);
    static eddy__timer e[N];
    static struct rec r[N];
    static uint64_t dl[N];
    for (size_t i = 0; i < N; i++) {
        uint64_t k = 1 + i / 3;
        uint64_t base = origin + MS(k) + MS(i % 7 == 0 ? 64 : 0);
        dl[i] = i % 3 == 0 ? base - 1 : i % 3 == 1 ? base : base + 1;
        if (dl[i] <= eddy__timers_now(t))
            dl[i] = eddy__timers_now(t) + 1;
        r[i] = (struct rec){.id = i};
        ent_init(&e[i], dl[i]);
        arm(t, &e[i], &r[i]);
    }
    size_t fired = 0;
    uint64_t prev = eddy__timers_now(t);
    while (fired < N) {
        uint64_t step = 1 + rnd() % 300000;
        if (rnd() % 4 == 0)
            step = 1; /* crawl across boundaries now and then */
        eddy__timers_advance(t, step);
        size_t n = eddy__timers_fire(t);
        uint64_t now = eddy__timers_now(t);
        for (size_t i = 0; i < N && n; i++) {
            if (r[i].wakes == 1 && r[i].fired_at == now) {
                CHECK_MSG(now >= dl[i], "timer %zu fired %llu ns before its deadline", i,
                          (unsigned long long)(dl[i] - now));
                CHECK_MSG(prev < tick_ns(origin, dl[i]), "timer %zu fired a step late", i);
            }
        }
        /* and everything whose tick was reached has fired */
        for (size_t i = 0; i < N; i++)
            if (tick_ns(origin, dl[i]) <= now)
                CHECK_EQ(r[i].wakes, 1);
        fired += n;
        prev = now;
    }
    CHECK_EQ(eddy__timers_armed(t), 0);
    eddy__timers_free(t);
}

/* Cancelled timers never fire and their waker is dropped; cancelling works
 * in every place an entry can be (a slot, the overflow list, the due
 * list), and re-arming after a cancel works. */
static void test_cancel(void)
{
    enum { N = 3000 };
    struct eddy__timers *t;
    CHECK_OK(eddy__timers_new(&t, true, false));
    g_wheel = t;
    uint64_t origin = eddy__timers_now(t);
    static eddy__timer e[N];
    static struct rec r[N];
    for (size_t i = 0; i < N; i++) {
        uint64_t d = origin + 1 + rnd() % MS(200000);
        if (i % 100 == 0)
            d = origin + MS(SPAN_TICKS) * 2 + i; /* overflow */
        r[i] = (struct rec){.id = i};
        ent_init(&e[i], d);
        arm(t, &e[i], &r[i]);
    }
    /* Move time so that some are due but not yet woken (auto_advance moves
     * them to the due list without waking), then cancel. */
    eddy__timers_advance(t, MS(50000));
    CHECK(eddy__timers_auto_advance(t));
    for (size_t i = 0; i < N; i += 3)
        eddy__timer_cancel(&e[i]);
    for (size_t i = 0; i < N; i += 3) {
        CHECK(e[i].wheel == NULL);
        CHECK_EQ(r[i].drops, 1);
        CHECK_EQ(r[i].clones, 1);
        eddy__timer_cancel(&e[i]); /* twice: a no-op */
        CHECK_EQ(r[i].drops, 1);
    }
    CHECK_EQ(eddy__timers_armed(t), N - (N + 2) / 3);
    drain(t);
    for (size_t i = 0; i < N; i++) {
        CHECK_EQ(r[i].wakes, i % 3 == 0 ? 0 : 1);
        CHECK_EQ(r[i].clones, r[i].wakes + r[i].drops);
    }
    /* re-arm a cancelled entry */
    r[0] = (struct rec){.id = 0};
    ent_init(&e[0], eddy__timers_now(t) + MS(5));
    arm(t, &e[0], &r[0]);
    CHECK_EQ(drain(t), 1);
    CHECK_EQ(r[0].wakes, 1);
    eddy__timers_free(t);
}

/* Cancelling costs the same whatever else is in the slot: 100,000 timers
 * in one slot, cancelled in random order.  A list walk per cancel would
 * take billions of steps; the bound is loose for noisy machines. */
static void test_cancel_is_o1(void)
{
    enum { N = 100000 };
    struct eddy__timers *t;
    CHECK_OK(eddy__timers_new(&t, true, false));
    g_wheel = t;
    uint64_t d = eddy__timers_now(t) + MS(10);
    eddy__timer *e = calloc(N, sizeof *e);
    struct rec *r = calloc(N, sizeof *r);
    size_t *idx = malloc(N * sizeof *idx);
    CHECK(e && r && idx);
    for (size_t i = 0; i < N; i++) {
        idx[i] = i;
        r[i].id = i;
        ent_init(&e[i], d);
        arm(t, &e[i], &r[i]);
    }
    shuffle(idx, N);
    double t0 = mono_s();
    for (size_t k = 0; k < N; k++)
        eddy__timer_cancel(&e[idx[k]]);
    double dt = mono_s() - t0;
    CHECK_MSG(dt < 2.0, "100000 cancels took %.3f s", dt);
    CHECK_EQ(eddy__timers_armed(t), 0);
    CHECK_EQ(eddy__timers_next_timeout(t), -1);
    CHECK_EQ(drain(t), 0);
    for (size_t i = 0; i < N; i++)
        CHECK(r[i].wakes == 0 && r[i].drops == 1);
    eddy__timers_free(t);
    free(e);
    free(r);
    free(idx);
}

/* 100,000 timers up to 30 days out, half cancelled at random (some after
 * part of the time has passed): exactly the others fire, once each, in
 * tick order, each exactly at its tick. */
static void test_many(void)
{
    enum { N = 100000 };
    struct eddy__timers *t;
    CHECK_OK(eddy__timers_new(&t, true, false));
    g_wheel = t;
    uint64_t origin = eddy__timers_now(t);
    eddy__timer *e = calloc(N, sizeof *e);
    struct rec *r = calloc(N, sizeof *r);
    uint64_t *dl = malloc(N * sizeof *dl);
    bool *gone = calloc(N, sizeof *gone);
    size_t *log = malloc(N * sizeof *log);
    CHECK(e && r && dl && gone && log);
    for (size_t i = 0; i < N; i++) {
        uint64_t span = (i % 4 == 0) ? MS(30ULL * 86400 * 1000) : (i % 4 == 1) ? MS(5000) : MS(100);
        dl[i] = origin + 1 + rnd() % span;
        r[i].id = i;
        ent_init(&e[i], dl[i]);
        arm(t, &e[i], &r[i]);
    }
    /* half cancelled up front, the rest of the cancellations later */
    size_t cancelled = 0;
    for (size_t i = 0; i < N; i++)
        if (rnd() % 4 == 0) {
            eddy__timer_cancel(&e[i]);
            gone[i] = true;
            cancelled++;
        }
    g_log = log;
    g_nlog = 0;
    eddy__timers_advance(t, MS(60));
    eddy__timers_fire(t);
    while (cancelled < N / 2)
        for (size_t i = 0; i < N && cancelled < N / 2; i++)
            if (!gone[i] && r[i].wakes == 0 && rnd() % 2 == 0) {
                eddy__timer_cancel(&e[i]);
                gone[i] = true;
                cancelled++;
            }
    CHECK_EQ(cancelled, N / 2);
    drain(t);
    CHECK_EQ(g_nlog, N - cancelled);
    for (size_t i = 0; i < N; i++) {
        if (gone[i]) {
            CHECK_EQ(r[i].wakes, 0);
            CHECK_EQ(r[i].drops, 1);
        } else {
            CHECK_EQ(r[i].wakes, 1);
            CHECK(r[i].fired_at >= dl[i]);
            if (dl[i] > origin + MS(60))
                CHECK_EQ(r[i].fired_at, tick_ns(origin, dl[i]));
        }
    }
    for (size_t k = 1; k < g_nlog; k++)
        CHECK_LE(tick_ns(origin, dl[log[k - 1]]), tick_ns(origin, dl[log[k]]));
    CHECK_EQ(eddy__timers_armed(t), 0);
    g_log = NULL;
    eddy__timers_free(t);
    free(e);
    free(r);
    free(dl);
    free(gone);
    free(log);
}

/* Moving the deadline of a linked entry re-links it: earlier and later,
 * across levels, and to a deadline that is already due. */
static void test_set_deadline(void)
{
    struct eddy__timers *t;
    CHECK_OK(eddy__timers_new(&t, true, false));
    g_wheel = t;
    uint64_t origin = eddy__timers_now(t);
    eddy__timer a, b, c;
    struct rec ra = {.id = 1}, rb = {.id = 2}, rc = {.id = 3};
    ent_init(&a, origin + MS(100000));
    ent_init(&b, origin + MS(10));
    ent_init(&c, origin + MS(50));
    arm(t, &a, &ra);
    arm(t, &b, &rb);
    arm(t, &c, &rc);
    eddy__timer_set_deadline(&a, origin + MS(5));   /* level 2 -> level 0 */
    eddy__timer_set_deadline(&b, origin + MS(7000)); /* level 0 -> level 2 */
    CHECK(eddy__timers_auto_advance(t));
    CHECK_EQ(eddy__timers_fire(t), 1);
    CHECK_EQ(ra.wakes, 1);
    CHECK_EQ(eddy__timers_now(t), origin + MS(5));
    eddy__timers_advance(t, MS(1));
    eddy__timer_set_deadline(&c, origin + MS(2)); /* already due */
    CHECK_EQ(eddy__timers_next_timeout(t), 0);
    CHECK_EQ(eddy__timers_fire(t), 1);
    CHECK_EQ(rc.wakes, 1);
    CHECK(eddy__timers_auto_advance(t));
    CHECK_EQ(eddy__timers_fire(t), 1);
    CHECK_EQ(rb.wakes, 1);
    CHECK_EQ(eddy__timers_now(t), origin + MS(7000));
    /* Inserting a deadline that is already due: woken by the next fire. */
    eddy__timer d;
    struct rec rd = {.id = 4};
    ent_init(&d, origin + MS(1));
    arm(t, &d, &rd);
    CHECK_EQ(eddy__timers_next_timeout(t), 0);
    CHECK_EQ(eddy__timers_fire(t), 1);
    CHECK_EQ(rd.wakes, 1);
    eddy__timers_free(t);
}

/* EDDY_INSTANT_NEVER stays linked (so it can be reset or cancelled) but
 * auto-advance never jumps to it; wheels freed with timers still linked
 * drop their wakers and leave the entries unlinked. */
static void test_never_and_free(void)
{
    struct eddy__timers *t;
    CHECK_OK(eddy__timers_new(&t, true, false));
    g_wheel = t;
    uint64_t origin = eddy__timers_now(t);
    eddy__timer n, a, b;
    struct rec rn = {.id = 1}, ra = {.id = 2}, rb = {.id = 3};
    ent_init(&n, EDDY_INSTANT_NEVER);
    arm(t, &n, &rn);
    CHECK_EQ(eddy__timers_armed(t), 1);
    CHECK_EQ(eddy__timers_next_timeout(t), -1);
    CHECK(!eddy__timers_auto_advance(t));
    CHECK_EQ(eddy__timers_now(t), origin);
    eddy__timer_set_deadline(&n, origin + MS(3)); /* reset from never */
    CHECK(eddy__timers_auto_advance(t));
    CHECK_EQ(eddy__timers_fire(t), 1);
    CHECK_EQ(rn.wakes, 1);

    ent_init(&n, EDDY_INSTANT_NEVER);
    rn = (struct rec){.id = 1};
    arm(t, &n, &rn);
    ent_init(&a, origin + MS(1000));
    arm(t, &a, &ra);
    ent_init(&b, origin + MS(SPAN_TICKS) * 5);
    arm(t, &b, &rb);
    CHECK_EQ(eddy__timers_armed(t), 3);
    eddy__timers_free(t);
    CHECK(n.wheel == NULL && a.wheel == NULL && b.wheel == NULL);
    CHECK(rn.drops == 1 && ra.drops == 1 && rb.drops == 1);
    CHECK(rn.wakes == 0 && ra.wakes == 0 && rb.wakes == 0);
    eddy__timer_cancel(&a); /* after the wheel is gone: a no-op */
    CHECK_EQ(ra.drops, 1);
}

/* A running clock: tick_clock reads CLOCK_MONOTONIC, now never goes back,
 * and a timer fires only once the real clock passed its deadline. */
static void test_real_clock(void)
{
    struct eddy__timers *t;
    CHECK_OK(eddy__timers_new(&t, false, false));
    g_wheel = t;
    CHECK(!eddy__timers_paused(t));
    CHECK(!eddy__timers_auto_advance(t)); /* only for paused clocks */
    uint64_t prev = eddy__timers_now(t);
    for (int i = 0; i < 1000; i++) {
        eddy__timers_tick_clock(t);
        CHECK(eddy__timers_now(t) >= prev);
        prev = eddy__timers_now(t);
    }
    eddy__timer e;
    struct rec r = {.id = 1};
    uint64_t deadline = eddy__timers_deadline_base(t) + MS(5);
    ent_init(&e, deadline);
    arm(t, &e, &r);
    while (r.wakes == 0) {
        int64_t to = eddy__timers_next_timeout(t);
        CHECK(to >= 0 && to <= (int64_t)MS(7));
        struct timespec ts = {0, (long)(to > 200000 ? 200000 : to)};
        nanosleep(&ts, NULL);
        eddy__timers_tick_clock(t);
        eddy__timers_fire(t);
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (r.wakes)
            CHECK((uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec >= deadline);
    }
    CHECK(r.fired_at >= deadline);
    eddy__timers_free(t);
}

/* Pause, advance, resume: the clock continues from the virtual instant
 * (never back), and runs at the real rate afterwards. */
static void test_pause_resume(void)
{
    struct eddy__timers *t;
    CHECK_OK(eddy__timers_new(&t, false, false));
    g_wheel = t;
    eddy__timers_tick_clock(t);
    eddy__timers_pause(t);
    CHECK(eddy__timers_paused(t));
    uint64_t p = eddy__timers_now(t);
    struct timespec ts = {0, 2000000};
    nanosleep(&ts, NULL);
    eddy__timers_tick_clock(t);
    CHECK_EQ(eddy__timers_now(t), p);
    CHECK_EQ(eddy__timers_deadline_base(t), p);
    eddy__timers_advance(t, EDDY_SEC(3600));
    CHECK_EQ(eddy__timers_now(t), p + EDDY_SEC(3600));
    eddy__timers_resume(t);
    CHECK(!eddy__timers_paused(t));
    eddy__timers_tick_clock(t);
    uint64_t r0 = eddy__timers_now(t);
    CHECK(r0 >= p + EDDY_SEC(3600));
    CHECK(r0 < p + EDDY_SEC(3600) + EDDY_SEC(1));
    nanosleep(&ts, NULL);
    eddy__timers_tick_clock(t);
    CHECK(eddy__timers_now(t) >= r0 + MS(2));
    CHECK(eddy__timers_deadline_base(t) >= eddy__timers_now(t));
    /* advancing a running clock moves it for good */
    uint64_t before = eddy__timers_now(t);
    eddy__timers_advance(t, EDDY_SEC(10));
    eddy__timers_tick_clock(t);
    CHECK(eddy__timers_now(t) >= before + EDDY_SEC(10));
    eddy__timers_free(t);
}

int main(void)
{
    test_watchdog(60);
    test_empty();
    test_order_across_levels();
    test_cascade();
    test_never_early();
    test_cancel();
    test_cancel_is_o1();
    test_many();
    test_set_deadline();
    test_never_and_free();
    test_real_clock();
    test_pause_resume();
    printf("test_time_wheel: ok\n");
    return 0;
}
