/* The runtime builder and what its fields promise.
 * - eddy_rt_new rejects a NULL out and an unknown flavor (-EINVAL, *out
 *   untouched); both flavors run tasks;
 * - fairness: while a task yields in a loop (the runtime is never idle), a
 *   wake from another thread still gets in, with the default event_interval
 *   and with event_interval = 1;
 * - slow_poll_warn_ms (debug builds): a task whose poll blocks 25 ms is
 *   reported with its type's name when the threshold is 10 ms, not when it
 *   is the default 100 ms, and not when the warning is off (< 0). */
#include <eddy.h>

#include <pthread.h>
#include <time.h>

#include "eddy_test.h"

/* ---- a task that spins (yielding) until told to stop -------------------- */

enum { SPIN_LIMIT_MS = 10000 }; /* a starved wake never stops it: give up then */
static atomic_int stop;
static int gave_up;

static double mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

struct spinner {
    eddy_coro co;
    long i;
    double t0;
    eddy_yield y;
};
static eddy_poll spinner_poll(struct spinner *s, eddy_cx *cx, long *out)
{
    EDDY_BEGIN(&s->co, cx);
    s->t0 = mono_ms();
    for (s->i = 0; !atomic_load(&stop); s->i++) {
        if ((s->i & 1023) == 1023 && mono_ms() - s->t0 > SPIN_LIMIT_MS) {
            gave_up = 1;
            break;
        }
        EDDY_AWAIT(NULL, eddy_yield, &s->y);
    }
    *out = s->i;
    EDDY_END();
}
EDDY_CORO_VT(spinner_vt, struct spinner, long, spinner_poll);

/* ---- a task woken from another thread, which stops the spinner ---------- */

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static eddy_waker box;
static int box_full;

static void *helper(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&mu);
    while (!box_full)
        pthread_cond_wait(&cv, &mu);
    eddy_waker w = box;
    box_full = 0;
    pthread_mutex_unlock(&mu);
    eddy_waker_wake(&w);
    return NULL;
}

struct remote_woken {
    int polls;
};
static eddy_poll remote_woken_poll(struct remote_woken *r, eddy_cx *cx, void *out)
{
    (void)out;
    if (r->polls++ == 0) {
        pthread_mutex_lock(&mu);
        box = eddy_waker_clone(cx->waker);
        box_full = 1;
        pthread_cond_signal(&cv);
        pthread_mutex_unlock(&mu);
        return EDDY_PENDING;
    }
    atomic_store(&stop, 1);
    return EDDY_READY;
}
static void remote_woken_drop(struct remote_woken *r) { (void)r; }
EDDY_FUTURE_VT_VOID(remote_woken_vt, struct remote_woken, remote_woken_poll, remote_woken_drop);

struct fair_root {
    eddy_coro co;
    eddy_join *a, *b;
    long spun;
};
static eddy_poll fair_root_poll(struct fair_root *r, eddy_cx *cx, long *out)
{
    EDDY_BEGIN(&r->co, cx);
    {
        struct spinner s;
        eddy_coro_init(&s.co);
        CHECK_OK(eddy_spawn_local(&spinner_vt, &s, &r->a));
        struct remote_woken w = {0};
        CHECK_OK(eddy_spawn_local(&remote_woken_vt, &w, &r->b));
    }
    EDDY_AWAIT_POLL(&r->spun, eddy_join, r->a);
    EDDY_AWAIT_POLL(NULL, eddy_join, r->b);
    eddy_join_detach(r->a);
    eddy_join_detach(r->b);
    *out = r->spun;
    EDDY_END();
}
EDDY_CORO_VT(fair_root_vt, struct fair_root, long, fair_root_poll);

static void test_fairness(unsigned interval)
{
    eddy_rt *rt;
    CHECK_OK(eddy_rt_new(&rt, &(eddy_rt_builder){.event_interval = interval}));
    atomic_store(&stop, 0);
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, helper, NULL), 0);
    struct fair_root r;
    memset(&r, 0, sizeof r);
    long spun = 0;
    CHECK_OK(eddy_block_on(rt, &fair_root_vt, &r, &spun));
    CHECK_EQ(pthread_join(th, NULL), 0);
    printf("event_interval %u: the remote wake got in after %ld yields of a busy task\n", interval, spun);
    CHECK_MSG(!gave_up, "event_interval %u: a remote wake starved behind a busy task for %d ms (%ld yields)",
              interval, SPIN_LIMIT_MS, spun);
    eddy_rt_free(rt);
}

/* ---- the slow-poll warning ----------------------------------------------- */

struct slowpoke {
    int ms;
};
static eddy_poll slowpoke_poll(struct slowpoke *s, eddy_cx *cx, void *out)
{
    (void)cx;
    (void)out;
    /* Deliberately blocks: this is the misbehaviour being reported. */
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (long i = 0; i < 1000000000L; i++) {
        clock_gettime(CLOCK_MONOTONIC, &t);
        if ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 >= s->ms)
            break;
    }
    return EDDY_READY;
}
static void slowpoke_drop(struct slowpoke *s) { (void)s; }
EDDY_FUTURE_VT_VOID(slowpoke_vt, struct slowpoke, slowpoke_poll, slowpoke_drop);

struct slow_root {
    eddy_coro co;
    eddy_join *jh;
};
static eddy_poll slow_root_poll(struct slow_root *r, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&r->co, cx);
    {
        struct slowpoke s = {25};
        CHECK_OK(eddy_spawn_local(&slowpoke_vt, &s, &r->jh));
    }
    EDDY_AWAIT_POLL(NULL, eddy_join, r->jh);
    eddy_join_detach(r->jh);
    EDDY_END();
}
EDDY_CORO_VT_VOID(slow_root_vt, struct slow_root, slow_root_poll);

/* Runs a 25 ms poll with the given threshold; returns what went to stderr. */
static char *run_slow(int warn_ms)
{
    static char buf[4096];
    FILE *tmp = tmpfile();
    CHECK(tmp != NULL);
    fflush(stderr);
    int saved = dup(2);
    CHECK(saved >= 0);
    CHECK(dup2(fileno(tmp), 2) >= 0);

    eddy_rt *rt;
    CHECK_OK(eddy_rt_new(&rt, &(eddy_rt_builder){.slow_poll_warn_ms = warn_ms}));
    struct slow_root r;
    eddy_coro_init(&r.co);
    int err = eddy_block_on(rt, &slow_root_vt, &r, NULL);
    eddy_rt_free(rt);

    fflush(stderr);
    CHECK(dup2(saved, 2) >= 0);
    close(saved);
    CHECK_OK(err);
    rewind(tmp);
    size_t n = fread(buf, 1, sizeof buf - 1, tmp);
    buf[n] = '\0';
    fclose(tmp);
    return buf;
}

static void test_slow_poll_warning(void)
{
#if EDDY_DEBUG
    char *out = run_slow(10);
    CHECK_STR_CONTAINS(out, "struct slowpoke"); /* the task's type, from its vtable */
    CHECK_STR_CONTAINS(out, "ms");
    printf("threshold 10 ms: \"%.*s\"\n", (int)strcspn(out, "\n"), out);
    out = run_slow(0); /* default: 100 ms */
    CHECK_MSG(strstr(out, "slowpoke") == NULL, "warned below the default threshold: %s", out);
    out = run_slow(-1); /* off */
    CHECK_MSG(strstr(out, "slowpoke") == NULL, "warned although the warning is off: %s", out);
#else
    printf("slow-poll warning: skipped (EDDY_DEBUG is 0: the check is compiled out)\n");
    (void)run_slow;
#endif
}

/* ---- construction --------------------------------------------------------- */

static void test_new(void)
{
    eddy_rt *rt = (eddy_rt *)&rt;
    CHECK_EQ(eddy_rt_new(NULL, NULL), -EINVAL);
    CHECK_EQ(eddy_rt_new(&rt, &(eddy_rt_builder){.flavor = (eddy_rt_flavor)7}), -EINVAL);
    CHECK(rt == (eddy_rt *)&rt); /* untouched on failure */

    /* Both flavors run tasks (one test body for both). */
    for (int f = 0; f < 2; f++) {
        CHECK_OK(eddy_rt_new(&rt, &(eddy_rt_builder){.flavor = f ? EDDY_RT_MULTI_THREAD : EDDY_RT_CURRENT_THREAD,
                                                     .workers = 2}));
        atomic_store(&stop, 1); /* the spinner returns at once */
        struct fair_root r;
        memset(&r, 0, sizeof r);
        pthread_t th;
        CHECK_EQ(pthread_create(&th, NULL, helper, NULL), 0);
        long spun = -1;
        CHECK_OK(eddy_block_on(rt, &fair_root_vt, &r, &spun));
        CHECK_EQ(pthread_join(th, NULL), 0);
        CHECK_EQ(spun, 0);
        eddy_rt_free(rt);
    }
}

int main(void)
{
    test_watchdog(50);
    test_new();
    test_fairness(0);
    test_fairness(1);
    test_slow_poll_warning();
    printf("test_rt_builder: ok\n");
    return 0;
}
