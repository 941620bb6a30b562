/* The timer wheel in multi-thread mode, without a scheduler: two threads
 * arm and cancel timers (eddy__timer_arm / eddy__timer_cancel /
 * eddy__timer_set_deadline) while a third plays the driver owner (sleep_begin,
 * a real wait on an eventfd that the unpark hook writes, sleep_end,
 * mt_tick_clock, mt_fire).  See docs/design/0004-timer-wheel.md,
 * "Multi-thread mode".
 *
 *  A. every armed and not cancelled timer fires exactly once and never
 *     before its deadline; timers cancelled long before their deadline never
 *     fire; timers cancelled near their deadline fire at most once; every
 *     waker reference is woken or dropped exactly once.
 *  B. the sleep-deadline hook: the owner sleeps with no timer (a 10 s cap),
 *     a timer 2 ms away armed from another thread calls the hook and fires
 *     long before the cap.
 *  C. the virtual clock is refused in mt mode: eddy__timers_new(paused, mt)
 *     and eddy_time_pause / eddy_time_advance give -ENOTSUP.
 */
// eddy-test-timeout: 120
#include <eddy.h>

#include "eddy_test.h"
#include "time/timers.h"

#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/eventfd.h>
#include <time.h>


#define PER_THREAD (TEST_SANITIZED ? 3000 : 20000)
#define ROUNDS 3

static struct eddy__timers *g_t;
static int g_evfd;
static atomic_bool g_stop;
static atomic_long g_hooks;
static atomic_long g_sleeps; /* sleep_begin calls that will block */

/* ---- a recording waker ------------------------------------------------------- */
struct rec {
    eddy__timer tm;
    uint64_t deadline;
    atomic_long clones, wakes, drops;
    atomic_ullong fired_now; /* the wheel's now when woken */
    int kind;                /* 0 kept, 1 cancelled early (far deadline), 2 cancelled near */
    atomic_long *done;       /* the arming thread's count of wakes */
};

static const eddy_waker_vtable rec_vt;

static eddy_waker rec_clone(const void *d)
{
    struct rec *r = (struct rec *)d;
    atomic_fetch_add(&r->clones, 1);
    return (eddy_waker){&rec_vt, r};
}

static void rec_wake_by_ref(const void *d)
{
    struct rec *r = (struct rec *)d;
    atomic_store(&r->fired_now, eddy__timers_now(g_t));
    atomic_fetch_add(&r->wakes, 1);
    atomic_fetch_add(r->done, 1);
}

static void rec_wake(const void *d) { rec_wake_by_ref(d); }
static void rec_drop(const void *d) { atomic_fetch_add(&((struct rec *)d)->drops, 1); }

static const eddy_waker_vtable rec_vt = {rec_clone, rec_wake, rec_wake_by_ref, rec_drop};

static void timer_init(eddy__timer *e, uint64_t deadline)
{
    memset(e, 0, sizeof *e);
    e->deadline = deadline;
    e->where = UINT32_MAX;
}

/* ---- the driver owner ---------------------------------------------------- */

static void hook(void *arg)
{
    CHECK(arg == &g_evfd);
    atomic_fetch_add(&g_hooks, 1);
    uint64_t one = 1;
    CHECK_EQ(write(g_evfd, &one, sizeof one), (ssize_t)sizeof one);
}

static void *owner_main(void *arg)
{
    int64_t cap = *(int64_t *)arg;
    while (!atomic_load(&g_stop)) {
        int64_t to = eddy__timers_sleep_begin(g_t, cap);
        if (to != 0) {
            atomic_fetch_add(&g_sleeps, 1);
            /* The driver's wait, reduced to the unpark eventfd. */
            int ms = to < 0 ? -1 : (int)((to + 999999) / 1000000);
            struct pollfd p = {.fd = g_evfd, .events = POLLIN};
            int n = poll(&p, 1, ms);
            CHECK(n >= 0 || errno == EINTR);
            if (n > 0) {
                uint64_t v;
                CHECK_EQ(read(g_evfd, &v, sizeof v), (ssize_t)sizeof v);
            }
        }
        eddy__timers_sleep_end(g_t);
        eddy__timers_mt_tick_clock(g_t);
        eddy__timers_mt_fire(g_t);
    }
    return NULL;
}

static void owner_start(pthread_t *th, int64_t *cap)
{
    atomic_store(&g_stop, false);
    CHECK_EQ(pthread_create(th, NULL, owner_main, cap), 0);
}

static void owner_stop(pthread_t th)
{
    atomic_store(&g_stop, true);
    uint64_t one = 1;
    CHECK_EQ(write(g_evfd, &one, sizeof one), (ssize_t)sizeof one);
    CHECK_EQ(pthread_join(th, NULL), 0);
}

/* ---- A: arm / cancel from two threads while a third fires ---------------- */

static uint64_t rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void *armer_main(void *arg)
{
    uint64_t seed = (uintptr_t)arg * 0x9e3779b97f4a7c15u + 1;
    struct rec *rs = calloc(PER_THREAD, sizeof *rs);
    CHECK(rs);
    for (int round = 0; round < ROUNDS; round++) {
        atomic_long done;
        atomic_init(&done, 0);
        long expect = 0;
        for (int i = 0; i < PER_THREAD; i++) {
            struct rec *r = &rs[i];
            memset(r, 0, sizeof *r);
            r->done = &done;
            uint64_t x = rnd(&seed);
            r->kind = (int)(x % 4 == 0 ? 1 : x % 4 == 1 ? 2 : 0);
            uint64_t now = eddy__timers_deadline_base(g_t);
            uint64_t d = now + (rnd(&seed) % EDDY_MS(20));
            bool reset = r->kind == 0 && (x >> 8) % 8 == 0;
            /* far: cancelled long before; reset: armed far, then moved near
             * (as eddy_sleep_reset does), which cannot have fired before */
            r->deadline = r->kind == 1 || reset ? now + EDDY_SEC(30) : d;
            timer_init(&r->tm, r->deadline);
            eddy_waker w = {&rec_vt, r};
            eddy__timer_arm(g_t, &r->tm, &w);
            if (reset) {
                r->deadline = d;
                eddy__timer_set_deadline(&r->tm, d);
            }
            if (r->kind == 0)
                expect++;
            if (r->kind == 1 || (r->kind == 2 && (x >> 16) % 2 == 0))
                eddy__timer_cancel(&r->tm);
        }
        for (int i = 0; i < PER_THREAD; i++)
            if (rs[i].kind == 2)
                eddy__timer_cancel(&rs[i].tm); /* the rest of the near ones, late: racing fire */
        /* Wait for every kept timer (the watchdog bounds it). */
        while (1) {
            long got = 0;
            for (int i = 0; i < PER_THREAD; i++)
                if (rs[i].kind == 0)
                    got += atomic_load(&rs[i].wakes);
            if (got >= expect)
                break;
            sched_yield();
        }
        for (int i = 0; i < PER_THREAD; i++) {
            struct rec *r = &rs[i];
            long wk = atomic_load(&r->wakes), dr = atomic_load(&r->drops), cl = atomic_load(&r->clones);
            if (r->kind == 0) {
                CHECK_MSG(wk == 1, "kept timer %d woken %ld times", i, wk);
                CHECK_MSG(atomic_load(&r->fired_now) >= r->deadline, "timer %d fired %llu ns early", i,
                          (unsigned long long)(r->deadline - atomic_load(&r->fired_now)));
                CHECK(r->tm.wheel == NULL); /* fire unlinked it before waking */
            } else {
                eddy__timer_cancel(&r->tm); /* idempotent */
                if (r->kind == 1)
                    CHECK_MSG(wk == 0, "timer %d cancelled 30 s early fired", i);
                CHECK_LE(wk, 1);
            }
            CHECK_MSG(wk + dr == cl, "timer %d: %ld clones, %ld wakes, %ld drops", i, cl, wk, dr);
        }
    }
    free(rs);
    return NULL;
}

static void test_arm_cancel_fire(void)
{
    pthread_t owner, a, b;
    int64_t cap = EDDY_MS(50);
    owner_start(&owner, &cap);
    CHECK_EQ(pthread_create(&a, NULL, armer_main, (void *)1), 0);
    CHECK_EQ(pthread_create(&b, NULL, armer_main, (void *)2), 0);
    CHECK_EQ(pthread_join(a, NULL), 0);
    CHECK_EQ(pthread_join(b, NULL), 0);
    owner_stop(owner);
    CHECK_EQ(eddy__timers_armed(g_t), 0);
    printf("A: %d timers armed from 2 threads (a quarter cancelled early, a quarter near the deadline), "
           "fired by a third; %ld owner sleeps, %ld unpark hooks\n",
           2 * ROUNDS * PER_THREAD, atomic_load(&g_sleeps), atomic_load(&g_hooks));
}

/* ---- B: the earlier-deadline hook ------------------------------------------ */

static void test_hook(void)
{
    pthread_t owner;
    int64_t cap = EDDY_SEC(10);
    /* Drain a leftover unpark so the owner really sleeps. */
    uint64_t v;
    while (read(g_evfd, &v, sizeof v) == (ssize_t)sizeof v)
        ;
    long sleeps0 = atomic_load(&g_sleeps);
    long hooks0 = atomic_load(&g_hooks);
    owner_start(&owner, &cap);
    /* Wait until the owner has entered its sleep (sleep_begin ran). */
    while (atomic_load(&g_sleeps) == sleeps0)
        sched_yield();
    struct rec r;
    memset(&r, 0, sizeof r);
    atomic_long done;
    atomic_init(&done, 0);
    r.done = &done;
    uint64_t t0 = eddy__timers_deadline_base(g_t);
    r.deadline = t0 + EDDY_MS(2);
    timer_init(&r.tm, r.deadline);
    eddy_waker w = {&rec_vt, &r};
    eddy__timer_arm(g_t, &r.tm, &w);
    while (atomic_load(&done) == 0)
        sched_yield();
    uint64_t took = eddy__mono_ns() - t0;
    owner_stop(owner);
    CHECK(atomic_load(&g_hooks) > hooks0);
    CHECK(atomic_load(&r.fired_now) >= r.deadline);
    CHECK_MSG(took < EDDY_SEC(5), "the 2 ms timer took %llu ms: the sleeping owner was not unparked",
              (unsigned long long)(took / 1000000));
    printf("B: a 2 ms timer armed while the owner slept with a 10 s timeout fired after %.1f ms (hook called)\n",
           (double)took / 1e6);
}

/* ---- C: no virtual clock in mt mode ---------------------------------------- */

static void test_no_virtual_clock(void)
{
    struct eddy__timers *p = NULL;
    CHECK_EQ(eddy__timers_new(&p, true, true), -ENOTSUP);
    CHECK(eddy__timers_is_mt(g_t));
    CHECK(!eddy__timers_paused(g_t));
    struct eddy__core core;
    memset(&core, 0, sizeof core);
    core.timers = g_t;
    eddy__tls_core = &core;
    CHECK_EQ(eddy_time_pause(), -ENOTSUP);
    CHECK_EQ(eddy_time_advance(EDDY_SEC(1)), -ENOTSUP);
    CHECK_EQ(eddy_time_resume(), 0);
    eddy__tls_core = NULL;
    printf("C: pause/advance refused with -ENOTSUP\n");
}

int main(void)
{
    test_watchdog(TEST_SANITIZED ? 110 : 60);
    g_evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    CHECK(g_evfd >= 0);
    CHECK_OK(eddy__timers_new(&g_t, false, true));
    eddy__timers_set_unpark(g_t, hook, &g_evfd);
    test_arm_cancel_fire();
    test_hook();
    test_no_virtual_clock();
    eddy__timers_free(g_t);
    close(g_evfd);
    printf("ok\n");
    return 0;
}
