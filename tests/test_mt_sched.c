/* The multi-thread scheduler: spawn and join from outside and from inside,
 * chained spawns, 1,000,000 cross-thread wakes where every task completes
 * exactly once, aborts racing with wakes, the no-steal mode keeping each
 * task on one worker, and a runtime freed while outside threads still hold
 * wakers.  Lost wake-ups hang; the watchdog turns that into a failure. */
// eddy-test-timeout: 120
#include <eddy.h>

#include <pthread.h>
#include <stdatomic.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "eddy_test.h"

static eddy_rt *new_mt(unsigned workers, bool no_steal)
{
    eddy_rt *rt = NULL;
    CHECK_OK(eddy_rt_new(&rt, &(eddy_rt_builder){.flavor = EDDY_RT_MULTI_THREAD,
                                                   .workers = workers,
                                                   .no_steal = no_steal}));
    return rt;
}

/* ---- a task that returns 3 * n ------------------------------------------------ */

struct triple {
    long n;
};
static eddy_poll triple_poll(struct triple *t, eddy_cx *cx, long *out)
{
    (void)cx;
    *out = 3 * t->n;
    return EDDY_READY;
}
static void triple_drop(struct triple *t) { (void)t; }
EDDY_STATIC_FUTURE_VT(triple_vt, struct triple, long, triple_poll, triple_drop);

/* ---- spawn N from block_on, join them all ------------------------------------- */

enum { SPAWN_N = 20000 };

struct spawner {
    int phase;
    long i;
    eddy_join **jh;
    long sum;
};
static eddy_poll spawner_poll(struct spawner *s, eddy_cx *cx, long *out)
{
    if (s->phase == 0) {
        for (long i = 0; i < SPAWN_N; i++)
            CHECK_OK(eddy_spawn(eddy_rt_current(), &triple_vt, &(struct triple){i}, &s->jh[i]));
        s->phase = 1;
    }
    for (; s->i < SPAWN_N; s->i++) {
        long v = -1;
        if (eddy_join_poll(s->jh[s->i], cx, &v) == EDDY_PENDING)
            return EDDY_PENDING;
        CHECK_EQ(eddy_join_status(s->jh[s->i]), 0);
        CHECK_EQ(v, 3 * s->i);
        s->sum += v;
        eddy_join_detach(s->jh[s->i]);
    }
    *out = s->sum;
    return EDDY_READY;
}
static void spawner_drop(struct spawner *s) { (void)s; }
EDDY_STATIC_FUTURE_VT(spawner_vt, struct spawner, long, spawner_poll, spawner_drop);

static void test_spawn_join(void)
{
    eddy_rt *rt = new_mt(2, false);
    struct spawner s = {.jh = calloc(SPAWN_N, sizeof(eddy_join *))};
    long sum = 0;
    CHECK_OK(eddy_block_on(rt, &spawner_vt, &s, &sum));
    CHECK_EQ(sum, 3L * SPAWN_N * (SPAWN_N - 1) / 2);
    eddy_rt_stats st;
    CHECK_OK(eddy_rt_stats_get(rt, &st));
    CHECK_EQ(st.spawned, SPAWN_N);
    free(s.jh);
    eddy_rt_free(rt);
}

/* ---- chained spawn: each task spawns the next ------------------------------------- */

enum { CHAIN_N = 20000 };
static atomic_long chain_done;
static pthread_mutex_t root_mu = PTHREAD_MUTEX_INITIALIZER;
static eddy_waker root_waker;

static void wake_root(void)
{
    pthread_mutex_lock(&root_mu);
    eddy_waker_wake(&root_waker);
    pthread_mutex_unlock(&root_mu);
}

struct chain {
    long left;
};
static const eddy_future_vt chain_vt;
static eddy_poll chain_poll(struct chain *c, eddy_cx *cx, void *out)
{
    (void)cx, (void)out;
    if (c->left > 0)
        CHECK_OK(eddy_spawn_local(&chain_vt, &(struct chain){c->left - 1}, NULL));
    if (atomic_fetch_add(&chain_done, 1) + 1 == CHAIN_N)
        wake_root();
    return EDDY_READY;
}
static void chain_drop(struct chain *c) { (void)c; }
EDDY_STATIC_FUTURE_VT_VOID(chain_vt, struct chain, chain_poll, chain_drop);

/* Waits until *counter reaches target (the last increment wakes it). */
struct until {
    atomic_long *counter;
    long target;
    int started;
};

static eddy_poll until_poll(struct until *u, eddy_cx *cx, void *out)
{
    (void)out;
    pthread_mutex_lock(&root_mu);
    eddy_waker_set(&root_waker, cx->waker);
    pthread_mutex_unlock(&root_mu);
    if (!u->started) {
        u->started = 1;
        CHECK_OK(eddy_spawn_local(&chain_vt, &(struct chain){CHAIN_N - 1}, NULL));
    }
    return atomic_load(u->counter) >= u->target ? EDDY_READY : EDDY_PENDING;
}
static void until_drop(struct until *u) { (void)u; }
EDDY_STATIC_FUTURE_VT_VOID(until_vt, struct until, until_poll, until_drop);

static void test_chain(void)
{
    eddy_rt *rt = new_mt(2, false);
    struct until u = {&chain_done, CHAIN_N, 0};
    CHECK_OK(eddy_block_on(rt, &until_vt, &u, NULL));
    CHECK_EQ(atomic_load(&chain_done), CHAIN_N);
    pthread_mutex_lock(&root_mu);
    eddy_waker_drop(&root_waker);
    pthread_mutex_unlock(&root_mu);
    eddy_rt_free(rt);
}


/* ---- 1,000,000 cross-thread wakes --------------------------------------------------
 * Each task owns a token counter.  Two outside threads add tokens and wake
 * the task; the task completes once it has seen its share.  A lost wake
 * leaves a task waiting forever. */

enum { WAKE_TASKS = 1000, WAKES = 1000000, PER_TASK = WAKES / WAKE_TASKS };

struct slot {
    pthread_mutex_t mu;
    eddy_waker w; /* a clone of the task's waker, stored at its first poll */
    atomic_long tokens;
    atomic_int polls_after_done;
};
static struct slot slots[WAKE_TASKS];
static atomic_long completions;

struct waiter {
    int i;
    int registered;
};
static eddy_poll waiter_poll(struct waiter *t, eddy_cx *cx, long *out)
{
    struct slot *s = &slots[t->i];
    if (!t->registered) {
        t->registered = 1;
        pthread_mutex_lock(&s->mu);
        s->w = eddy_waker_clone(cx->waker);
        pthread_mutex_unlock(&s->mu);
    }
    long n = atomic_load(&s->tokens);
    if (n < PER_TASK)
        return EDDY_PENDING;
    atomic_fetch_add(&completions, 1);
    *out = n;
    return EDDY_READY;
}
static void waiter_drop(struct waiter *t) { (void)t; }
EDDY_STATIC_FUTURE_VT(waiter_vt, struct waiter, long, waiter_poll, waiter_drop);

static void *waker_thread(void *arg)
{
    long half = (long)(intptr_t)arg;
    /* Thread h feeds tokens [h * WAKES/2, (h+1) * WAKES/2), round robin. */
    for (long k = half * (WAKES / 2); k < (half + 1) * (WAKES / 2); k++) {
        struct slot *s = &slots[k % WAKE_TASKS];
        atomic_fetch_add(&s->tokens, 1);
        pthread_mutex_lock(&s->mu);
        if (s->w.vtable)
            eddy_waker_wake_by_ref(&s->w);
        pthread_mutex_unlock(&s->mu);
    }
    return NULL;
}

struct joiner {
    eddy_join **jh;
    int i;
};
static eddy_poll joiner_poll(struct joiner *j, eddy_cx *cx, void *out)
{
    (void)out;
    for (; j->i < WAKE_TASKS; j->i++) {
        long v = 0;
        if (eddy_join_poll(j->jh[j->i], cx, &v) == EDDY_PENDING)
            return EDDY_PENDING;
        CHECK_EQ(eddy_join_status(j->jh[j->i]), 0);
        CHECK(v >= PER_TASK);
        eddy_join_detach(j->jh[j->i]);
    }
    return EDDY_READY;
}
static void joiner_drop(struct joiner *j) { (void)j; }
EDDY_STATIC_FUTURE_VT_VOID(joiner_vt, struct joiner, joiner_poll, joiner_drop);

static void test_million_wakes(void)
{
    eddy_rt *rt = new_mt(2, false);
    eddy_join **jh = calloc(WAKE_TASKS, sizeof *jh);
    for (int i = 0; i < WAKE_TASKS; i++) {
        pthread_mutex_init(&slots[i].mu, NULL);
        CHECK_OK(eddy_spawn(rt, &waiter_vt, &(struct waiter){i, 0}, &jh[i]));
    }
    pthread_t th[2];
    for (long h = 0; h < 2; h++)
        CHECK_EQ(pthread_create(&th[h], NULL, waker_thread, (void *)(intptr_t)h), 0);
    struct joiner j = {jh, 0};
    CHECK_OK(eddy_block_on(rt, &joiner_vt, &j, NULL));
    for (int h = 0; h < 2; h++)
        pthread_join(th[h], NULL);
    CHECK_EQ(atomic_load(&completions), WAKE_TASKS); /* each exactly once */
    for (int i = 0; i < WAKE_TASKS; i++) {
        CHECK_EQ(atomic_load(&slots[i].tokens), PER_TASK);
        pthread_mutex_lock(&slots[i].mu);
        eddy_waker_drop(&slots[i].w); /* the last reference: frees the task */
        pthread_mutex_unlock(&slots[i].mu);
    }
    free(jh);
    eddy_rt_free(rt);
}

/* ---- aborts racing with wakes ------------------------------------------------------ */

enum { ABORT_TASKS = 5000 };
static atomic_long frames_dropped;
static eddy_waker abort_wakers[ABORT_TASKS];
static pthread_mutex_t abort_mu = PTHREAD_MUTEX_INITIALIZER;
static atomic_int abort_stop;

struct forever {
    int i;
    int stored;
};
static eddy_poll forever_poll(struct forever *f, eddy_cx *cx, void *out)
{
    (void)out;
    if (!f->stored) {
        f->stored = 1;
        pthread_mutex_lock(&abort_mu);
        abort_wakers[f->i] = eddy_waker_clone(cx->waker);
        pthread_mutex_unlock(&abort_mu);
    }
    return EDDY_PENDING;
}
static void forever_drop(struct forever *f)
{
    (void)f;
    atomic_fetch_add(&frames_dropped, 1);
}
EDDY_STATIC_FUTURE_VT_VOID(forever_vt, struct forever, forever_poll, forever_drop);

static void *abort_waker_thread(void *arg)
{
    (void)arg;
    for (long k = 0; !atomic_load(&abort_stop) && k < 50L * ABORT_TASKS; k++) {
        pthread_mutex_lock(&abort_mu);
        eddy_waker *w = &abort_wakers[k % ABORT_TASKS];
        if (w->vtable)
            eddy_waker_wake_by_ref(w);
        pthread_mutex_unlock(&abort_mu);
    }
    return NULL;
}

struct aborter {
    eddy_join **jh;
    int phase, i;
};
static eddy_poll aborter_poll(struct aborter *a, eddy_cx *cx, void *out)
{
    (void)out;
    if (a->phase == 0) {
        for (int i = 0; i < ABORT_TASKS; i++)
            eddy_join_abort(a->jh[i]);
        for (int i = 0; i < ABORT_TASKS; i++)
            eddy_join_abort(a->jh[i]); /* twice: harmless */
        a->phase = 1;
    }
    for (; a->i < ABORT_TASKS; a->i++) {
        if (eddy_join_poll(a->jh[a->i], cx, NULL) == EDDY_PENDING)
            return EDDY_PENDING;
        CHECK_EQ(eddy_join_status(a->jh[a->i]), -ECANCELED);
        eddy_join_detach(a->jh[a->i]);
    }
    return EDDY_READY;
}
static void aborter_drop(struct aborter *a) { (void)a; }
EDDY_STATIC_FUTURE_VT_VOID(aborter_vt, struct aborter, aborter_poll, aborter_drop);

static void test_abort_race(void)
{
    eddy_rt *rt = new_mt(2, false);
    eddy_join **jh = calloc(ABORT_TASKS, sizeof *jh);
    for (int i = 0; i < ABORT_TASKS; i++)
        CHECK_OK(eddy_spawn(rt, &forever_vt, &(struct forever){i, 0}, &jh[i]));
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, abort_waker_thread, NULL), 0);
    struct aborter a = {jh, 0, 0};
    CHECK_OK(eddy_block_on(rt, &aborter_vt, &a, NULL));
    atomic_store(&abort_stop, 1);
    pthread_join(th, NULL);
    CHECK_EQ(atomic_load(&frames_dropped), ABORT_TASKS);
    /* Wakers outlive the tasks' ends: waking them does nothing. */
    for (int i = 0; i < ABORT_TASKS; i++)
        if (abort_wakers[i].vtable)
            eddy_waker_wake(&abort_wakers[i]);
    free(jh);
    eddy_rt_free(rt);
}

/* ---- no-steal: a task never changes worker ----------------------------------------- */

enum { NS_TASKS = 64, NS_YIELDS = 200 };
static atomic_int ns_moved, ns_done;
static pthread_t ns_thread_of[NS_TASKS];

struct hopper {
    int i, n;
};
static eddy_poll hopper_poll(struct hopper *h, eddy_cx *cx, void *out)
{
    (void)out;
    pthread_t me = pthread_self();
    if (h->n == 0)
        ns_thread_of[h->i] = me;
    else if (!pthread_equal(ns_thread_of[h->i], me))
        atomic_fetch_add(&ns_moved, 1);
    if (++h->n < NS_YIELDS) {
        eddy_waker_wake_by_ref(cx->waker);
        return EDDY_PENDING;
    }
    if (atomic_fetch_add(&ns_done, 1) + 1 == NS_TASKS)
        wake_root();
    return EDDY_READY;
}
static void hopper_drop(struct hopper *h) { (void)h; }
EDDY_STATIC_FUTURE_VT_VOID(hopper_vt, struct hopper, hopper_poll, hopper_drop);

struct ns_root {
    int started;
};
static eddy_poll ns_root_poll(struct ns_root *r, eddy_cx *cx, void *out)
{
    (void)out;
    pthread_mutex_lock(&root_mu);
    eddy_waker_set(&root_waker, cx->waker);
    pthread_mutex_unlock(&root_mu);
    if (!r->started) {
        r->started = 1;
        for (int i = 0; i < NS_TASKS; i++)
            CHECK_OK(eddy_spawn(eddy_rt_current(), &hopper_vt, &(struct hopper){i, 0}, NULL));
    }
    return atomic_load(&ns_done) == NS_TASKS ? EDDY_READY : EDDY_PENDING;
}
static void ns_root_drop(struct ns_root *r) { (void)r; }
EDDY_STATIC_FUTURE_VT_VOID(ns_root_vt, struct ns_root, ns_root_poll, ns_root_drop);

static void test_no_steal(void)
{
    eddy_rt *rt = new_mt(2, true);
    struct ns_root r = {0};
    CHECK_OK(eddy_block_on(rt, &ns_root_vt, &r, NULL));
    CHECK_EQ(atomic_load(&ns_moved), 0);
    /* Spawned from outside, they were dealt to both workers in turn. */
    int distinct = 1;
    for (int i = 1; i < NS_TASKS; i++)
        if (!pthread_equal(ns_thread_of[i], ns_thread_of[0]))
            distinct = 2;
    CHECK_EQ(distinct, 2);
    pthread_mutex_lock(&root_mu);
    eddy_waker_drop(&root_waker);
    pthread_mutex_unlock(&root_mu);
    eddy_rt_free(rt);
}

/* ---- freed while outside threads hold wakers ----------------------------------------- */

static void test_free_with_outside_wakers(void)
{
    eddy_rt *rt = new_mt(2, false);
    atomic_store(&frames_dropped, 0);
    memset(abort_wakers, 0, sizeof abort_wakers);
    eddy_join *jh[16];
    for (int i = 0; i < 16; i++)
        CHECK_OK(eddy_spawn(rt, &forever_vt, &(struct forever){i, 0}, &jh[i]));
    /* Wait (bounded) until every task has stored its waker. */
    for (int spins = 0;; spins++) {
        int n = 0;
        pthread_mutex_lock(&abort_mu);
        for (int i = 0; i < 16; i++)
            n += abort_wakers[i].vtable != NULL;
        pthread_mutex_unlock(&abort_mu);
        if (n == 16)
            break;
        CHECK(spins < 5000000);
        sched_yield();
    }
    for (int i = 0; i < 8; i++)
        eddy_join_detach(jh[i]);
    eddy_rt_free(rt);
    CHECK_EQ(atomic_load(&frames_dropped), 16);
    for (int i = 8; i < 16; i++) {
        CHECK_EQ(eddy_join_status(jh[i]), -ECANCELED);
        eddy_join_detach(jh[i]);
    }
    for (int i = 0; i < 16; i++) {
        eddy_waker_wake_by_ref(&abort_wakers[i]); /* the runtime is gone: nothing happens */
        eddy_waker_drop(&abort_wakers[i]);
    }
}

int main(void)
{
    test_watchdog(100);
    test_spawn_join();
    test_chain();
    test_million_wakes();
    test_abort_race();
    test_no_steal();
    test_free_with_outside_wakers();
    printf("ok\n");
    return 0;
}
