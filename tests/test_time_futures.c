/* The time futures polled by hand against a paused wheel, no scheduler:
 * a sleep is inert until polled, registers once, keeps one waker clone
 * across re-polls, wakes exactly once, unlinks on drop (no wake after
 * drop), reports -EDDY_ENORUNTIME without a runtime; reset; interval
 * arithmetic; timeout ownership of its child.  Debug builds: a sleep that
 * moved after its first poll, and a poll after READY, stop the program
 * (checked in a forked child). */
#include <eddy.h>

#include "eddy_test.h"
#include "time/timers.h"

#include <signal.h>
#include <sys/wait.h>

static struct eddy__timers *g_t;
static struct eddy__core g_core;

static void setup(void)
{
    CHECK_OK(eddy__timers_new(&g_t, true, false));
    memset(&g_core, 0, sizeof g_core);
    g_core.timers = g_t;
}

static void teardown(void)
{
    eddy__timers_free(g_t);
    g_t = NULL;
}

/* advance the virtual clock and wake what is due */
static size_t advance(uint64_t ns)
{
    eddy__timers_advance(g_t, ns);
    return eddy__timers_fire(g_t);
}

static void test_sleep_lifecycle(void)
{
    setup();
    eddy_waker_counter c;
    eddy_waker w = eddy_waker_counting(&c);
    eddy_cx cx = {&w, &g_core};
    uint64_t t0 = eddy__timers_now(g_t);

    eddy_sleep s;
    eddy_sleep_init(&s, EDDY_MS(10));
    CHECK(!eddy_sleep_is_armed(&s));
    CHECK_EQ(eddy_sleep_deadline(&s), 0);
    CHECK_EQ(eddy__timers_armed(g_t), 0); /* inert until polled */
    advance(EDDY_MS(3));                  /* the duration counts from the first poll */

    int rc = 99;
    CHECK_EQ(eddy_sleep_poll(&s, &cx, &rc), EDDY_PENDING);
    CHECK_EQ(rc, 99);
    CHECK(eddy_sleep_is_armed(&s));
    CHECK_EQ(eddy_sleep_deadline(&s), t0 + EDDY_MS(13));
    CHECK_EQ(atomic_load(&c.clones), 1);
    /* a spurious re-poll keeps the same clone */
    CHECK_EQ(eddy_sleep_poll(&s, &cx, &rc), EDDY_PENDING);
    CHECK_EQ(atomic_load(&c.clones), 1);
    CHECK_EQ(eddy__timers_armed(g_t), 1);
    CHECK_EQ(eddy__timers_next_timeout(g_t), (int64_t)EDDY_MS(10));

    CHECK_EQ(advance(EDDY_MS(10) - 1), 0); /* 1 ns before: nothing */
    CHECK_EQ(atomic_load(&c.wakes), 0);
    CHECK_EQ(eddy_sleep_poll(&s, &cx, &rc), EDDY_PENDING);
    CHECK_EQ(advance(1), 1);
    CHECK_EQ(atomic_load(&c.wakes), 1);
    CHECK(!eddy_sleep_is_armed(&s));
    CHECK_EQ(eddy_sleep_poll(&s, &cx, &rc), EDDY_READY);
    CHECK_EQ(rc, 0);
    eddy_sleep_drop(&s); /* after READY: harmless */
    eddy_waker_drop(&w);
    CHECK_EQ(eddy_waker_counter_live(&c), 0);

    /* reset makes a finished sleep pollable again, at an absolute instant */
    w = eddy_waker_counting(&c);
    uint64_t now = eddy__timers_now(g_t);
    eddy_sleep_reset(&s, now + EDDY_MS(5));
    CHECK_EQ(eddy_sleep_poll(&s, &cx, NULL), EDDY_PENDING);
    eddy_sleep_reset(&s, now + EDDY_MS(2)); /* re-linked, waker kept */
    CHECK(eddy_sleep_is_armed(&s));
    CHECK(eddy__timers_auto_advance(g_t));
    CHECK_EQ(eddy__timers_fire(g_t), 1);
    CHECK_EQ(eddy__timers_now(g_t), now + EDDY_MS(2));
    CHECK_EQ(eddy_sleep_poll(&s, &cx, NULL), EDDY_READY);
    eddy_waker_drop(&w);
    CHECK_EQ(eddy_waker_counter_live(&c), 0);
    teardown();
}

static void test_sleep_drop_and_edges(void)
{
    setup();
    eddy_waker_counter c;
    eddy_waker w = eddy_waker_counting(&c);
    eddy_cx cx = {&w, &g_core};

    /* dropped while pending: unlinked, waker released, never woken */
    eddy_sleep s;
    eddy_sleep_init(&s, EDDY_MS(1));
    CHECK_EQ(eddy_sleep_poll(&s, &cx, NULL), EDDY_PENDING);
    eddy_sleep_drop(&s);
    CHECK(!eddy_sleep_is_armed(&s));
    CHECK_EQ(eddy__timers_armed(g_t), 0);
    CHECK_EQ(advance(EDDY_SEC(1)), 0);
    CHECK_EQ(atomic_load(&c.wakes), 0);
    CHECK_EQ(eddy_waker_counter_live(&c), 1); /* only w itself */

    /* dropped without ever being polled */
    eddy_sleep_init(&s, EDDY_MS(1));
    eddy_sleep_drop(&s);

    /* zero and past deadlines complete on the first poll, registering nothing */
    int rc = 99;
    eddy_sleep_init(&s, 0);
    CHECK_EQ(eddy_sleep_poll(&s, &cx, &rc), EDDY_READY);
    CHECK_EQ(rc, 0);
    eddy_sleep_until_init(&s, eddy__timers_now(g_t) - 1);
    CHECK_EQ(eddy_sleep_until_poll(&s, &cx, &rc), EDDY_READY);
    eddy_sleep_until_init(&s, eddy__timers_now(g_t));
    CHECK_EQ(eddy_sleep_until_poll(&s, &cx, &rc), EDDY_READY);
    CHECK_EQ(atomic_load(&c.clones), 1); /* only the first (dropped) sleep cloned */

    /* no runtime: READY with -EDDY_ENORUNTIME */
    eddy_cx bare = {&w, NULL};
    eddy_sleep_init(&s, EDDY_MS(1));
    CHECK_EQ(eddy_sleep_poll(&s, &bare, &rc), EDDY_READY);
    CHECK_EQ(rc, -EDDY_ENORUNTIME);

    /* sleeping "forever" never fires, even when the clock jumps */
    eddy_sleep_until_init(&s, EDDY_INSTANT_NEVER);
    CHECK_EQ(eddy_sleep_poll(&s, &cx, &rc), EDDY_PENDING);
    CHECK(!eddy__timers_auto_advance(g_t));
    CHECK_EQ(advance(EDDY_SEC(86400) * 365 * 100), 0);
    eddy_sleep_drop(&s);

    /* a huge duration saturates instead of wrapping */
    eddy_sleep_init(&s, UINT64_MAX - 5);
    CHECK_EQ(eddy_sleep_poll(&s, &cx, &rc), EDDY_PENDING);
    CHECK_EQ(eddy_sleep_deadline(&s), EDDY_INSTANT_NEVER);
    eddy_sleep_drop(&s);

    eddy_waker_drop(&w);
    CHECK_EQ(eddy_waker_counter_live(&c), 0);
    teardown();
}

/* A hand-written child for eddy_timeout: ready when *flag, drops counted. */
struct child {
    int *flag;
    int *drops;
    int value;
    eddy_waker slot;
};
static eddy_poll child_poll(struct child *f, eddy_cx *cx, int *out)
{
    if (*f->flag) {
        eddy_waker_drop(&f->slot);
        *out = f->value;
        return EDDY_READY;
    }
    eddy_waker_set(&f->slot, cx->waker);
    return EDDY_PENDING;
}
static void child_drop(struct child *f)
{
    (*f->drops)++;
    eddy_waker_drop(&f->slot);
}
EDDY_FUTURE_VT(child_vt, struct child, int, child_poll, child_drop);

static void test_timeout_by_hand(void)
{
    setup();
    eddy_waker_counter c;
    eddy_waker w = eddy_waker_counting(&c);
    eddy_cx cx = {&w, &g_core};
    int flag = 0, drops = 0, out = 0, st = 99;

    /* deadline first: child dropped once, -ETIMEDOUT */
    struct child ch = {&flag, &drops, 7, EDDY_WAKER_EMPTY};
    eddy_timeout to;
    eddy_timeout_init(&to, EDDY_MS(20), &child_vt, &ch, &out);
    CHECK_EQ(eddy_timeout_poll(&to, &cx, &st), EDDY_PENDING);
    CHECK_EQ(advance(EDDY_MS(19)), 0);
    CHECK_EQ(eddy_timeout_poll(&to, &cx, &st), EDDY_PENDING);
    CHECK_EQ(advance(EDDY_MS(1)), 1);
    CHECK_EQ(eddy_timeout_poll(&to, &cx, &st), EDDY_READY);
    CHECK_EQ(st, -ETIMEDOUT);
    CHECK_EQ(drops, 1);
    eddy_timeout_drop(&to); /* after READY: does not drop the child again */
    CHECK_EQ(drops, 1);
    CHECK_EQ(eddy__timers_armed(g_t), 0);

    /* child first: its output passes through, it is not dropped */
    drops = 0;
    ch = (struct child){&flag, &drops, 42, EDDY_WAKER_EMPTY};
    eddy_timeout_init(&to, EDDY_MS(20), &child_vt, &ch, &out);
    CHECK_EQ(eddy_timeout_poll(&to, &cx, &st), EDDY_PENDING);
    flag = 1;
    CHECK_EQ(eddy_timeout_poll(&to, &cx, &st), EDDY_READY);
    CHECK_EQ(st, 0);
    CHECK_EQ(out, 42);
    CHECK_EQ(drops, 0);
    CHECK_EQ(eddy__timers_armed(g_t), 0); /* the timer was cancelled */
    eddy_timeout_drop(&to);
    CHECK_EQ(drops, 0);

    /* ready on the same poll as the deadline: the child wins */
    ch = (struct child){&flag, &drops, 5, EDDY_WAKER_EMPTY};
    flag = 0;
    eddy_timeout_at_init(&to, eddy__timers_now(g_t) + EDDY_MS(1), &child_vt, &ch, &out);
    CHECK_EQ(eddy_timeout_at_poll(&to, &cx, &st), EDDY_PENDING);
    advance(EDDY_MS(1));
    flag = 1;
    CHECK_EQ(eddy_timeout_at_poll(&to, &cx, &st), EDDY_READY);
    CHECK_EQ(st, 0);
    CHECK_EQ(out, 5);
    CHECK_EQ(drops, 0);

    /* dropped while pending, and dropped before any poll: child dropped once */
    flag = 0;
    ch = (struct child){&flag, &drops, 5, EDDY_WAKER_EMPTY};
    eddy_timeout_init(&to, EDDY_MS(20), &child_vt, &ch, &out);
    CHECK_EQ(eddy_timeout_poll(&to, &cx, &st), EDDY_PENDING);
    eddy_timeout_drop(&to);
    CHECK_EQ(drops, 1);
    eddy_timeout_drop(&to);
    CHECK_EQ(drops, 1);
    eddy_timeout_init(&to, EDDY_MS(20), &child_vt, &ch, &out);
    eddy_timeout_at_drop(&to);
    CHECK_EQ(drops, 2);
    CHECK_EQ(eddy__timers_armed(g_t), 0);

    /* no runtime: -EDDY_ENORUNTIME, child dropped */
    eddy_cx bare = {&w, NULL};
    drops = 0;
    eddy_timeout_init(&to, EDDY_MS(20), &child_vt, &ch, &out);
    CHECK_EQ(eddy_timeout_poll(&to, &bare, &st), EDDY_READY);
    CHECK_EQ(st, -EDDY_ENORUNTIME);
    CHECK_EQ(drops, 1);

    eddy_waker_drop(&w);
    CHECK_EQ(eddy_waker_counter_live(&c), 0);
    teardown();
}

static void test_interval_by_hand(void)
{
    setup();
    eddy_waker w = eddy_waker_noop();
    eddy_cx cx = {&w, &g_core};
    uint64_t t0 = eddy__timers_now(g_t);
    eddy_interval iv;
    eddy_instant at = 0;

    eddy_interval_init(&iv, EDDY_MS(10));
    CHECK_EQ(eddy_interval_next(&iv), 0);
    CHECK_EQ(eddy_interval_tick_poll(&iv, &cx, &at), EDDY_READY); /* tick 0: at once */
    CHECK_EQ(at, t0);
    CHECK_EQ(eddy_interval_next(&iv), t0 + EDDY_MS(10));
    CHECK_EQ(eddy_interval_tick_poll(&iv, &cx, &at), EDDY_PENDING);
    eddy_interval_tick_drop(&iv); /* abandon this wait: schedule kept */
    CHECK_EQ(eddy__timers_armed(g_t), 0);
    advance(EDDY_MS(10));
    CHECK_EQ(eddy_interval_tick_poll(&iv, &cx, &at), EDDY_READY);
    CHECK_EQ(at, t0 + EDDY_MS(10));

    /* a start in the past: burst until caught up */
    eddy_interval_init_at(&iv, t0, EDDY_MS(4));
    for (uint64_t k = 0; k <= 2; k++) {
        CHECK_EQ(eddy_interval_tick_poll(&iv, &cx, &at), EDDY_READY);
        CHECK_EQ(at, t0 + k * EDDY_MS(4));
    }
    CHECK_EQ(eddy_interval_tick_poll(&iv, &cx, &at), EDDY_PENDING); /* next: 12 > 10 */
    eddy_interval_reset_at(&iv, t0 + EDDY_MS(11));
    CHECK(eddy__timers_auto_advance(g_t));
    CHECK_EQ(eddy__timers_fire(g_t), 1);
    CHECK_EQ(eddy_interval_tick_poll(&iv, &cx, &at), EDDY_READY);
    CHECK_EQ(at, t0 + EDDY_MS(11));
    CHECK_EQ(eddy_interval_next(&iv), t0 + EDDY_MS(15));
    eddy_interval_drop(&iv);

    /* no runtime */
    eddy_cx bare = {&w, NULL};
    eddy_interval_init(&iv, EDDY_MS(1));
    at = 5;
    CHECK_EQ(eddy_interval_tick_poll(&iv, &bare, &at), EDDY_READY);
    CHECK_EQ(at, 0);
    teardown();
}

/* Runs fn in a child process and expects it to die by SIGABRT (eddy_misuse). */
static void expect_abort(void (*fn)(void), const char *what)
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        /* keep the expected message out of the test log */
        if (!freopen("/dev/null", "w", stderr))
            _exit(3);
        fn();
        _exit(0); /* not detected */
    }
    int status = 0;
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK_MSG(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT, "%s: not detected (status %d)", what, status);
}

#if EDDY_DEBUG
static void moved_sleep(void)
{
    setup();
    eddy_waker w = eddy_waker_noop();
    eddy_cx cx = {&w, &g_core};
    eddy_sleep other, *a = malloc(sizeof *a), *b = malloc(sizeof *b);
    eddy_sleep_init(&other, EDDY_MS(5)); /* a neighbour in the same slot */
    eddy_sleep_poll(&other, &cx, NULL);
    eddy_sleep_init(a, EDDY_MS(5));
    eddy_sleep_poll(a, &cx, NULL);
    memcpy(b, a, sizeof *a); /* the future moves */
    eddy_sleep_poll(b, &cx, NULL);
}

static void moved_sleep_drop(void)
{
    setup();
    eddy_waker w = eddy_waker_noop();
    eddy_cx cx = {&w, &g_core};
    eddy_sleep *a = malloc(sizeof *a), *b = malloc(sizeof *b);
    eddy_sleep_init(a, EDDY_SEC(5));
    eddy_sleep_poll(a, &cx, NULL);
    memcpy(b, a, sizeof *a); /* alone in its slot: the sentinel points at a */
    eddy_sleep_drop(b);
}

static void poll_after_ready(void)
{
    setup();
    eddy_waker w = eddy_waker_noop();
    eddy_cx cx = {&w, &g_core};
    eddy_sleep s;
    eddy_sleep_init(&s, 0);
    eddy_sleep_poll(&s, &cx, NULL);
    eddy_sleep_poll(&s, &cx, NULL);
}

#endif

static void zero_period(void)
{
    eddy_interval iv;
    eddy_interval_init(&iv, 0);
}

int main(void)
{
    test_watchdog(30);
    test_sleep_lifecycle();
    test_sleep_drop_and_edges();
    test_timeout_by_hand();
    test_interval_by_hand();
    expect_abort(zero_period, "interval period 0");
#if EDDY_DEBUG
    expect_abort(moved_sleep, "a sleep moved after its first poll");
    expect_abort(moved_sleep_drop, "a moved sleep dropped");
    expect_abort(poll_after_ready, "a sleep polled after READY");
#endif
    printf("test_time_futures: ok\n");
    return 0;
}
