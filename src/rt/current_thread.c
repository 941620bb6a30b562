/* The current-thread runtime: every task runs on the thread inside
 * eddy_block_on.  The hot paths (spawn, wake, poll, complete, join) use no
 * atomic read-modify-write: task state belongs to the runtime's thread, and
 * only reference counts and the remote queue are shared.  See
 * docs/design/0003-task-and-scheduler.md. */
#include "ct.h"
#include "mt.h"

#include "../io/driver.h"
#include "blocking_pool.h"
#include "../time/timers.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

EDDY_TLS struct eddy__core *eddy__tls_core;

/* ---- references and lifetime ------------------------------------------ */

static void shared_free(struct eddy__shared *sh)
{
    close(sh->evfd);
    free(sh);
}

/* Drops one off-thread reference on the shared part. */
static void shared_release(struct eddy__shared *sh)
{
    if (atomic_fetch_sub_explicit(&sh->balance, 1, memory_order_acq_rel) == 1)
        shared_free(sh);
}

static inline bool on_runtime_thread(const struct eddy__shared *sh)
{
    struct eddy__core *c = eddy__tls_core;
    return c && c->sh == sh;
}

/* The block size of a task: rounded up to the cache's 64-byte classes when
 * small enough to be cached, so any block of a class fits any task of it. */
static inline size_t block_class(const eddy_future_vt *vt, size_t *bytes)
{
    size_t total = eddy__frame_offset(vt) + vt->size;
    size_t cls = (total + 63) / 64;
    if (cls < EDDY__CACHE_CLASSES && eddy__task_align(vt) <= 16) {
        *bytes = cls * 64;
        return cls;
    }
    *bytes = total;
    return 0; /* not cacheable */
}

static void task_free(struct eddy__task *t)
{
    struct eddy__shared *sh = t->sh;
    if (on_runtime_thread(sh)) {
        struct eddy__ct *ct = eddy__tls_core->sched;
        ct->local_freed++;
        size_t bytes;
        size_t cls = block_class(t->vt, &bytes);
        if (cls && ct->cache_bytes + bytes <= EDDY__CACHE_MAX) {
            t->link = ct->cache[cls];
            ct->cache[cls] = t;
            ct->cache_bytes += bytes;
            return;
        }
        free(t);
        return;
    }
    free(t);
    shared_release(sh);
}

static void cache_clear(struct eddy__ct *ct)
{
    for (size_t i = 0; i < EDDY__CACHE_CLASSES; i++) {
        while (ct->cache[i]) {
            struct eddy__task *t = ct->cache[i];
            ct->cache[i] = t->link;
            free(t);
        }
    }
    ct->cache_bytes = 0;
}

/* Releases one reference.  When ours is the only one nobody else can
 * change the count, so a plain load replaces the read-modify-write. */
static inline void task_unref(struct eddy__task *t)
{
    if (atomic_load_explicit(&t->refs, memory_order_acquire) == 1 ||
        atomic_fetch_sub_explicit(&t->refs, 1, memory_order_acq_rel) == 1)
        task_free(t);
}

/* ---- run queue ---------------------------------------------------------- */

static inline void ring_push(struct eddy__ct *ct, struct eddy__task *t)
{
    ct->ring[ct->tail++ & (ct->cap - 1)] = t;
}

static inline struct eddy__task *ring_pop(struct eddy__ct *ct)
{
    if (ct->head == ct->tail)
        return NULL;
    return ct->ring[ct->head++ & (ct->cap - 1)];
}

static inline bool ring_empty(const struct eddy__ct *ct) { return ct->head == ct->tail; }

/* Makes room for one more live task.  Returns 0 or -ENOMEM. */
static int ring_reserve(struct eddy__ct *ct)
{
    if (ct->live < ct->cap)
        return 0;
    size_t ncap = ct->cap ? ct->cap * 2 : 64;
    struct eddy__task **n = malloc(ncap * sizeof *n);
    if (!n)
        return -ENOMEM;
    size_t len = ct->tail - ct->head;
    for (size_t i = 0; i < len; i++)
        n[i] = ct->ring[(ct->head + i) & (ct->cap - 1)];
    free(ct->ring);
    ct->ring = n;
    ct->cap = ncap;
    ct->gen_end = ct->gen_end > ct->head ? ct->gen_end - ct->head : 0;
    ct->head = 0;
    ct->tail = len;
    return 0;
}

static inline void schedule_local(struct eddy__ct *ct, struct eddy__task *t)
{
    uint32_t s = t->state;
    if (s & (EDDY__T_ENDED | EDDY__T_SCHEDULED))
        return;
    if (s & EDDY__T_RUNNING) {
        t->state = s | EDDY__T_NOTIFIED;
        return;
    }
    if (EDDY_UNLIKELY(!(s & EDDY__T_ADOPTED)))
        return; /* still in the remote queue or backlog: scheduled on adoption */
    t->state = s | EDDY__T_SCHEDULED;
    ring_push(ct, t);
}

/* ---- remote side -------------------------------------------------------- */

static void unpark(struct eddy__shared *sh)
{
    if (atomic_load(&sh->parked) && !atomic_exchange(&sh->unpark_sent, 1)) {
        uint64_t one = 1;
        ssize_t r = write(sh->evfd, &one, sizeof one);
        (void)r; /* EAGAIN means the counter is already non-zero: awake anyway */
    }
}

/* Pushes t (pinned by the RQ bit) on the remote stack.  Returns false if
 * the runtime has shut down (nothing pushed). */
static bool remote_push(struct eddy__shared *sh, struct eddy__task *t)
{
    struct eddy__task *head = atomic_load_explicit(&sh->remote, memory_order_relaxed);
    do {
        if (head == EDDY__CLOSED)
            return false;
        t->link = head;
    } while (!atomic_compare_exchange_weak(&sh->remote, &head, t));
    unpark(sh);
    return true;
}

/* A wake from a thread that is not running this runtime.  consume: the
 * caller's reference is handed over (wake), else kept (wake_by_ref). */
static void wake_remote(struct eddy__task *t, bool consume)
{
    uint32_t old = atomic_fetch_or_explicit(&t->refs, EDDY__RQ, memory_order_acq_rel);
    if (old & EDDY__RQ) {
        /* Already queued: this wake coalesces with the pending one. */
        if (consume)
            task_unref(t);
        return;
    }
    /* The caller's reference stays until the push and its unpark are done:
     * once pushed, the runtime thread may run the task, drop it and free
     * the runtime, and only a live task block keeps the shared part (the
     * eventfd unpark writes to) alive off the runtime thread. */
    if (!remote_push(t->sh, t)) /* shut down: unpin; the caller's reference keeps t */
        atomic_fetch_and_explicit(&t->refs, ~EDDY__RQ, memory_order_acq_rel);
    if (consume)
        task_unref(t);
}

/* ---- the task waker ----------------------------------------------------- */

static eddy_waker tw_clone(const void *p);
static void tw_wake(const void *p);
static void tw_wake_by_ref(const void *p);
static void tw_drop(const void *p);

static const eddy_waker_vtable task_waker_vt = {tw_clone, tw_wake, tw_wake_by_ref, tw_drop};

static eddy_waker tw_clone(const void *p)
{
    struct eddy__task *t = (struct eddy__task *)p;
    atomic_fetch_add_explicit(&t->refs, 1, memory_order_relaxed);
    return (eddy_waker){&task_waker_vt, t};
}

static void tw_wake_by_ref(const void *p)
{
    struct eddy__task *t = (struct eddy__task *)p;
    struct eddy__core *c = eddy__tls_core;
    if (EDDY_LIKELY(c && c->sh == t->sh))
        schedule_local(c->sched, t);
    else
        wake_remote(t, false);
}

static void tw_wake(const void *p)
{
    struct eddy__task *t = (struct eddy__task *)p;
    struct eddy__core *c = eddy__tls_core;
    if (EDDY_LIKELY(c && c->sh == t->sh)) {
        schedule_local(c->sched, t);
        task_unref(t);
    } else {
        wake_remote(t, true);
    }
}

static void tw_drop(const void *p) { task_unref((struct eddy__task *)p); }

/* ---- the block_on waker ------------------------------------------------- *
 * data = the shared part.  Clones count in the shared balance, so a clone
 * kept past the runtime's end stays safe to wake (it does nothing then). */

static eddy_waker mw_clone(const void *p);
static void mw_wake_by_ref(const void *p);
static void mw_drop(const void *p) { shared_release((struct eddy__shared *)p); }
static void mw_wake(const void *p)
{
    mw_wake_by_ref(p);
    mw_drop(p);
}

static const eddy_waker_vtable main_waker_vt = {mw_clone, mw_wake, mw_wake_by_ref, mw_drop};

static eddy_waker mw_clone(const void *p)
{
    struct eddy__shared *sh = (struct eddy__shared *)p;
    atomic_fetch_add_explicit(&sh->balance, 1, memory_order_relaxed);
    return (eddy_waker){&main_waker_vt, sh};
}

static void mw_wake_by_ref(const void *p)
{
    struct eddy__shared *sh = (struct eddy__shared *)p;
    if (on_runtime_thread(sh)) {
        eddy__tls_core->sched->main_notified = true;
        return;
    }
    atomic_store(&sh->main_woken, 1);
    if (atomic_load(&sh->remote) != EDDY__CLOSED)
        unpark(sh);
}

/* ---- task lifecycle ----------------------------------------------------- */

static void adopt(struct eddy__ct *ct, struct eddy__task *t)
{
    t->state |= EDDY__T_ADOPTED | EDDY__T_SCHEDULED;
    t->oprev = NULL;
    t->onext = ct->owned;
    if (ct->owned)
        ct->owned->oprev = t;
    ct->owned = t;
    ct->live++;
    ct->adopted++;
    ring_push(ct, t);
}

/* The task has ended (completed or cancelled): its frame is released. */
static void task_ended(struct eddy__ct *ct, struct eddy__task *t)
{
    uint32_t s = t->state;
    t->state = (s | EDDY__T_ENDED) & ~(EDDY__T_RUNNING | EDDY__T_NOTIFIED | EDDY__T_SCHEDULED);
    if (t->oprev)
        t->oprev->onext = t->onext;
    else
        ct->owned = t->onext;
    if (t->onext)
        t->onext->oprev = t->oprev;
    ct->live--;
    eddy_waker_wake(&t->join_waker);
    if (!(s & EDDY__T_JOIN))
        task_unref(t); /* the local side's reference */
}

static void task_cancel(struct eddy__ct *ct, struct eddy__task *t)
{
    t->state |= EDDY__T_CANCELLED;
    if (t->vt->drop)
        t->vt->drop(eddy__task_frame(t));
    ct->st.cancelled++;
    task_ended(ct, t);
}

static void task_run(struct eddy__ct *ct, struct eddy__task *t)
{
    uint32_t s = t->state;
    if (EDDY_UNLIKELY(s & EDDY__T_CANCELLED)) {
        t->state = s & ~EDDY__T_SCHEDULED;
        task_cancel(ct, t);
        return;
    }
    t->state = (s & ~(EDDY__T_SCHEDULED | EDDY__T_NOTIFIED)) | EDDY__T_RUNNING;
    eddy_waker w = {&task_waker_vt, t};
    eddy_cx cx = {&w, &ct->core};
    ct->core.budget = EDDY__BUDGET;
    ct->st.polls++;
#if EDDY_DEBUG
    uint64_t t0 = ct->slow_poll_ms > 0 ? eddy__mono_ns() : 0;
#endif
    eddy_poll r = t->vt->poll(eddy__task_frame(t), &cx, eddy__task_out(t));
#if EDDY_DEBUG
    if (ct->slow_poll_ms > 0) {
        uint64_t dt = eddy__mono_ns() - t0;
        if (dt > (uint64_t)ct->slow_poll_ms * 1000000u)
            eddy__warn("a poll of task '%s' ran for %llu ms without yielding; blocking work belongs in "
                       "the blocking pool",
                       t->vt->name, (unsigned long long)(dt / 1000000u));
    }
#endif
    if (r == EDDY_READY) {
        t->state |= EDDY__T_OUTPUT;
        if (t->vt->drop)
            t->vt->drop(eddy__task_frame(t));
        ct->st.completed++;
        task_ended(ct, t);
        return;
    }
    s = t->state & ~EDDY__T_RUNNING;
    if (EDDY_UNLIKELY(s & EDDY__T_CANCELLED)) {
        t->state = s;
        task_cancel(ct, t);
        return;
    }
    if (s & EDDY__T_NOTIFIED) {
        s = (s & ~EDDY__T_NOTIFIED) | EDDY__T_SCHEDULED;
        ring_push(ct, t);
    }
    t->state = s;
}

/* Takes everything other threads queued: wakes and spawns. */
static void drain_remote(struct eddy__ct *ct)
{
    struct eddy__shared *sh = ct->sh;
    if (atomic_load_explicit(&sh->main_woken, memory_order_relaxed) && atomic_exchange(&sh->main_woken, 0))
        ct->main_notified = true;
    /* Remote spawns that found no ring space last time go first. */
    while (ct->backlog && ring_reserve(ct) == 0) {
        struct eddy__task *t = ct->backlog;
        ct->backlog = t->link;
        adopt(ct, t);
    }
    if (atomic_load_explicit(&sh->remote, memory_order_relaxed) == NULL)
        return;
    struct eddy__task *list = atomic_exchange_explicit(&sh->remote, NULL, memory_order_acquire);
    if (list == EDDY__CLOSED) {
        atomic_store(&sh->remote, EDDY__CLOSED);
        return;
    }
    /* The stack is LIFO; reverse it so wakes run in the order they came. */
    struct eddy__task *fifo = NULL;
    while (list) {
        struct eddy__task *n = list->link;
        list->link = fifo;
        fifo = list;
        list = n;
    }
    while (fifo) {
        struct eddy__task *t = fifo;
        fifo = t->link;
        ct->st.remote_wakes++;
        if (!(t->state & EDDY__T_ADOPTED)) {
            /* A spawn from another thread: the RQ bit was its queue pin. */
            atomic_fetch_and_explicit(&t->refs, ~EDDY__RQ, memory_order_acq_rel);
            if (ring_reserve(ct) == 0) {
                adopt(ct, t);
            } else {
                t->link = ct->backlog;
                ct->backlog = t;
            }
            continue;
        }
        schedule_local(ct, t);
        uint32_t old = atomic_fetch_and_explicit(&t->refs, ~EDDY__RQ, memory_order_acq_rel);
        if ((old & EDDY__REFMASK) == 0)
            task_free(t);
    }
}

/* ---- the driver turn ---------------------------------------------------- */

static inline bool has_work(const struct eddy__ct *ct) { return !ring_empty(ct) || ct->main_notified; }

/* Every wait may consume the unpark eventfd (the driver drains it when it
 * is reported), so every wait re-opens the gate for the next unpark.  A
 * non-blocking wait that ate the eventfd while unpark_sent stayed set
 * would make the next real park sleep through every remote wake. */
static inline void driver_wait(struct eddy__ct *ct, int64_t timeout)
{
    ct->core.driver->ops->wait(ct->core.driver, timeout);
    atomic_store(&ct->sh->unpark_sent, 0);
}

/* One turn: read the clock once, fire timers, collect remote wakes, then
 * poll the driver, sleeping in it only if may_block and nothing is
 * runnable. */
static void turn(struct eddy__ct *ct, bool may_block)
{
    struct eddy__timers *tm = ct->core.timers;
    if (!ct->clock_fresh)
        eddy__timers_tick_clock(tm);
    ct->clock_fresh = false;
    eddy__timers_fire(tm);
    drain_remote(ct);
    int64_t timeout = 0;
    if (may_block && !has_work(ct)) {
        timeout = eddy__timers_next_timeout(tm);
        if (timeout != 0 && eddy__timers_paused(tm)) {
            /* Virtual clock: look at I/O without sleeping; if nothing at
             * all can happen, jump the clock to the next deadline. */
            driver_wait(ct, 0);
            drain_remote(ct);
            if (has_work(ct))
                return;
            if (eddy__timers_auto_advance(tm)) {
                eddy__timers_fire(tm);
                return;
            }
            timeout = -1; /* no timer at all: only I/O or another thread can wake us */
        }
    }
    if (timeout != 0) {
        struct eddy__shared *sh = ct->sh;
        atomic_store(&sh->parked, 1);
        /* Dekker with remote_push: it pushes then reads parked; we set
         * parked then read the stack.  One of us sees the other. */
        if (atomic_load(&sh->remote) != NULL || atomic_load(&sh->main_woken)) {
            atomic_store(&sh->parked, 0);
            drain_remote(ct);
            return;
        }
        ct->st.parks++;
        driver_wait(ct, timeout);
        atomic_store(&sh->parked, 0);
        /* We slept: the reading taken before is stale.  This reading also
         * serves the next turn if no task runs in between. */
        eddy__timers_tick_clock(tm);
        eddy__timers_fire(tm);
        ct->clock_fresh = true;
        drain_remote(ct);
        return;
    }
    /* Busy turn: look at I/O without sleeping.  With no descriptor
     * registered there is nothing to look at (remote wakes arrive through
     * the remote stack, already drained), so skip the syscall; a pending
     * unpark stays in the eventfd until the next real wait. */
    if (ct->core.driver->sources > 0)
        driver_wait(ct, 0);
}

/* ---- public API ---------------------------------------------------------- */

int eddy_rt_new(eddy_rt **out, const eddy_rt_builder *b)
{
    eddy_rt_builder def = {0};
    if (!out)
        return -EINVAL;
    if (!b)
        b = &def;
    if (b->flavor != EDDY_RT_CURRENT_THREAD && b->flavor != EDDY_RT_MULTI_THREAD)
        return -EINVAL;
    eddy_rt *rt = calloc(1, sizeof *rt);
    if (!rt)
        return -ENOMEM;
    struct eddy__ct *ct = &rt->ct;
    rt->flavor = b->flavor;
    int err = -ENOMEM;
    if (b->flavor == EDDY_RT_MULTI_THREAD) {
        err = eddy__mt_new(rt, b);
        if (err < 0)
            goto fail_rt;
        *out = rt;
        return 0;
    }
    struct eddy__shared *sh = calloc(1, sizeof *sh);
    if (!sh)
        goto fail_rt;
    sh->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (sh->evfd < 0) {
        err = -errno;
        goto fail_sh;
    }
    atomic_init(&sh->balance, EDDY__BIAS);
    atomic_init(&sh->remote, NULL);
    err = eddy__driver_new(&ct->core.driver, sh->evfd, false, b->io_uring);
    if (err < 0)
        goto fail_evfd;
    err = eddy__timers_new(&ct->core.timers, b->start_paused, false);
    if (err < 0)
        goto fail_driver;
    err = ring_reserve(ct);
    if (err < 0)
        goto fail_timers;
    ct->sh = sh;
    ct->core.sh = sh;
    ct->core.sched = ct;
    ct->core.rt = rt;
    ct->event_interval = b->event_interval ? b->event_interval : 61;
    ct->slow_poll_ms = b->slow_poll_warn_ms == 0 ? 100 : b->slow_poll_warn_ms;
    ct->core.blocking_threads = b->max_blocking_threads;
    ct->core.blocking_queue = b->blocking_queue;
    ct->st.task_header_size = sizeof(struct eddy__task);
    *out = rt;
    return 0;
fail_timers:
    eddy__timers_free(ct->core.timers);
fail_driver:
    eddy__driver_free(ct->core.driver);
fail_evfd:
    close(sh->evfd);
fail_sh:
    free(sh);
fail_rt:
    free(rt);
    return err;
}

void eddy_rt_free(eddy_rt *rt)
{
    if (!rt)
        return;
    if (rt->mt) {
        eddy__mt_free(rt);
        free(rt);
        return;
    }
    struct eddy__ct *ct = &rt->ct;
    struct eddy__shared *sh = ct->sh;
    if (eddy__tls_core)
        eddy_misuse("eddy_rt_free", "called from inside a runtime (a task or block_on)");
    if (atomic_load(&ct->driving))
        eddy_misuse("eddy_rt_free", "called while another thread is inside eddy_block_on");
    eddy__tls_core = &ct->core;
    ct->shutting_down = true;

    /* Close the remote queue: later remote wakes find it closed and only
     * drop their reference.  What was queued is adopted or released. */
    drain_remote(ct);
    struct eddy__task *list = atomic_exchange(&sh->remote, EDDY__CLOSED);
    while (list && list != EDDY__CLOSED) {
        struct eddy__task *t = list;
        list = t->link;
        if (!(t->state & EDDY__T_ADOPTED)) {
            atomic_fetch_and(&t->refs, ~EDDY__RQ);
            t->link = ct->backlog;
            ct->backlog = t;
            continue;
        }
        uint32_t old = atomic_fetch_and(&t->refs, ~EDDY__RQ);
        if ((old & EDDY__REFMASK) == 0)
            task_free(t);
    }
    /* Spawned from elsewhere and never run: account them, then drop. */
    while (ct->backlog) {
        struct eddy__task *t = ct->backlog;
        ct->backlog = t->link;
        t->state |= EDDY__T_ADOPTED;
        t->onext = ct->owned;
        t->oprev = NULL;
        if (ct->owned)
            ct->owned->oprev = t;
        ct->owned = t;
        ct->live++;
        ct->adopted++;
    }
    /* Drop every frame exactly once.  Dropping one may end others (a
     * dropped join handle, a woken joiner); the list only shrinks. */
    while (ct->owned) {
        struct eddy__task *t = ct->owned;
        t->state &= ~(EDDY__T_SCHEDULED | EDDY__T_NOTIFIED);
        task_cancel(ct, t);
    }
    ct->head = ct->tail = 0;
    eddy_waker_drop(&ct->core.fd_waiter);
    /* After the frames: their blocking futures cancelled or detached jobs. */
    eddy__pool_shutdown(ct->core.pool);
    ct->core.pool = NULL;
    eddy__timers_free(ct->core.timers);
    ct->core.timers = NULL;
#if EDDY_DEBUG
    if (ct->core.driver->sources > 0)
        eddy__warn("eddy_rt_free: %ld I/O object(s) still registered; close sockets before freeing the runtime",
                   ct->core.driver->sources);
#endif
    eddy__driver_free(ct->core.driver);
    free(ct->ring);

    /* Hand the remaining task references over to the shared balance. */
    cache_clear(ct);
    long outstanding = (long)(ct->adopted - ct->local_freed);
    eddy__tls_core = NULL;
    long delta = outstanding - EDDY__BIAS;
    if (atomic_fetch_add_explicit(&sh->balance, delta, memory_order_acq_rel) + delta == 0)
        shared_free(sh);
    free(rt);
}

int eddy_block_on(eddy_rt *rt, const eddy_future_vt *vt, void *fut, void *out)
{
    if (!rt || !vt || !fut)
        return -EINVAL;
    if (rt->mt)
        return eddy__mt_block_on(rt, vt, fut, out);
    if (eddy__tls_core)
        return -EDDY_EMISUSE;
    struct eddy__ct *ct = &rt->ct;
    if (atomic_exchange(&ct->driving, 1))
        return -EBUSY;
    eddy__tls_core = &ct->core;
    /* SIGPIPE stays blocked on this thread while it runs tasks: a write to a
     * pipe whose reader left returns -EPIPE instead of killing the process
     * (sockets use MSG_NOSIGNAL and never raise it). */
    sigset_t pipe_set, old_mask;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old_mask);
    eddy_waker w = {&main_waker_vt, ct->sh};
    eddy_cx cx = {&w, &ct->core};
    ct->main_notified = true;
    eddy__timers_tick_clock(ct->core.timers); /* now must not be stale at the first poll */
    unsigned ticks = 0;
    for (;;) {
        if (ct->main_notified) {
            ct->main_notified = false;
            ticks++;
            ct->core.budget = EDDY__BUDGET;
            if (vt->poll(fut, &cx, out) == EDDY_READY)
                break;
        }
        struct eddy__task *t;
        while ((ticks < ct->event_interval || ct->head < ct->gen_end) && ticks < 4 * ct->event_interval &&
               (t = ring_pop(ct))) {
            task_run(ct, t);
            ticks++;
            if (EDDY_UNLIKELY(ct->core.budget <= 0)) {
                /* The task spent its whole budget on ready I/O (a flood):
                 * let timers and other sources in before anything else. */
                ticks = 4 * ct->event_interval;
                break;
            }
        }
        if (ticks)
            ct->clock_fresh = false;
        if (!has_work(ct)) {
            ticks = 0;
            turn(ct, true); /* nothing runnable: sleep until something happens */
            ct->gen_end = ct->tail;
        } else if (ticks >= ct->event_interval && (ct->head >= ct->gen_end || ticks >= 4 * ct->event_interval)) {
            /* Busy: let I/O, timers and remote wakes in, once the work the
             * last turn produced has run (after 4 intervals at most). */
            ticks = 0;
            turn(ct, false);
            ct->gen_end = ct->tail;
        }
    }
    pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
    eddy__tls_core = NULL;
    atomic_store(&ct->driving, 0);
    return 0;
}

static int spawn_alloc(eddy_rt *rt, const eddy_future_vt *vt, struct eddy__task **out)
{
    if (!rt || !vt || !vt->poll || (vt->align & (vt->align - 1)) || (vt->out_align & (vt->out_align - 1)))
        return -EINVAL;
    if (rt->mt)
        return eddy__mt_alloc(rt, vt, out);
    struct eddy__ct *ct = &rt->ct;
    if (on_runtime_thread(ct->sh) && ct->shutting_down)
        return -EDDY_ESHUTDOWN;
    size_t total;
    size_t cls = block_class(vt, &total);
    struct eddy__task *t = NULL;
    if (cls && on_runtime_thread(ct->sh) && ct->cache[cls]) {
        t = ct->cache[cls];
        ct->cache[cls] = t->link;
        ct->cache_bytes -= cls * 64;
    } else {
        size_t align = eddy__task_align(vt);
        if (align > 16)
            t = aligned_alloc(align, eddy__align_up(total, align));
        else
            t = malloc(total);
        if (!t)
            return -ENOMEM;
    }
    t->link = NULL;
    t->vt = vt;
    t->sh = ct->sh;
    t->onext = t->oprev = NULL;
    t->join_waker = EDDY_WAKER_EMPTY;
    atomic_init(&t->refs, 1); /* the local side */
    t->state = 0;
    *out = t;
    return 0;
}

/* Schedules a freshly allocated task from any thread. */
static int spawn_start(struct eddy__task *t, eddy_join **jh)
{
    if (eddy__task_is_mt(t))
        return eddy__mt_start(t, jh);
    struct eddy__shared *sh = t->sh;
    if (jh) {
        t->state |= EDDY__T_JOIN;
        *jh = (eddy_join *)t;
    }
    if (on_runtime_thread(sh)) {
        struct eddy__ct *ct = eddy__tls_core->sched;
        if (ct->shutting_down || ring_reserve(ct) < 0) {
            int err = ct->shutting_down ? -EDDY_ESHUTDOWN : -ENOMEM;
            if (jh)
                *jh = NULL;
            return err;
        }
        adopt(ct, t);
        return 0;
    }
    /* From another thread (or before block_on): via the remote stack; the
     * RQ bit is the queue's pin until the runtime adopts it. */
    atomic_fetch_or_explicit(&t->refs, EDDY__RQ, memory_order_relaxed);
    if (!remote_push(sh, t)) {
        if (jh)
            *jh = NULL;
        return -EDDY_ESHUTDOWN;
    }
    return 0;
}

/* Frees a block that was allocated but never started. */
static void spawn_discard(struct eddy__task *t)
{
    if (eddy__task_is_mt(t))
        eddy__mt_discard(t);
    else
        free(t);
}

int eddy_spawn(eddy_rt *rt, const eddy_future_vt *vt, const void *init, eddy_join **jh)
{
    if (!init)
        return -EINVAL;
    struct eddy__task *t;
    int err = spawn_alloc(rt, vt, &t);
    if (err < 0)
        return err;
    memcpy(eddy__task_frame(t), init, vt->size);
    err = spawn_start(t, jh);
    if (err < 0)
        spawn_discard(t); /* the frame is a copy: the caller still owns what it points to */
    return err;
}

int eddy_spawn_prepare(eddy_rt *rt, const eddy_future_vt *vt, void **frame)
{
    if (!frame)
        return -EINVAL;
    struct eddy__task *t;
    int err = spawn_alloc(rt, vt, &t);
    if (err < 0)
        return err;
    *frame = eddy__task_frame(t);
    return 0;
}

int eddy_spawn_commit(const eddy_future_vt *vt, void *frame, eddy_join **jh)
{
    if (!vt || !frame)
        return -EINVAL;
    struct eddy__task *t = eddy__frame_task(frame, vt);
#if EDDY_DEBUG
    if (t->vt != vt || (eddy__task_is_mt(t) ? atomic_load(&t->word) != 0 : t->state != 0))
        eddy_misuse("eddy_spawn_commit", "frame was not returned by eddy_spawn_prepare with this vtable");
#endif
    int err = spawn_start(t, jh);
    if (err < 0) {
        if (vt->drop)
            vt->drop(frame);
        spawn_discard(t);
    }
    return err;
}

void eddy_spawn_cancel(const eddy_future_vt *vt, void *frame)
{
    if (vt && frame)
        spawn_discard(eddy__frame_task(frame, vt));
}

eddy_rt *eddy_rt_current(void)
{
    struct eddy__core *c = eddy__tls_core;
    return c ? c->rt : NULL;
}

int eddy_spawn_local(const eddy_future_vt *vt, const void *init, eddy_join **jh)
{
    eddy_rt *rt = eddy_rt_current();
    if (!rt)
        return -EDDY_ENORUNTIME;
    return eddy_spawn(rt, vt, init, jh);
}

/* ---- join handles ------------------------------------------------------- */

static inline struct eddy__task *jh_task(const eddy_join *jh, const char *what)
{
    struct eddy__task *t = (struct eddy__task *)jh;
#if EDDY_DEBUG
    if (!t)
        eddy_misuse(what, "NULL join handle");
    if (!(t->state & EDDY__T_JOIN))
        eddy_misuse(what, "join handle used after eddy_join_detach");
    if (!on_runtime_thread(t->sh) && !(t->state & EDDY__T_ENDED) && eddy__tls_core)
        eddy_misuse(what, "a current-thread runtime's join handle used from another runtime");
#else
    (void)what;
#endif
    return t;
}

eddy_poll eddy_join_poll(eddy_join *jh, eddy_cx *cx, void *out)
{
    if (jh && eddy__task_is_mt((struct eddy__task *)jh))
        return eddy__mt_join_poll((struct eddy__task *)jh, cx, out);
    struct eddy__task *t = jh_task(jh, "eddy_join_poll");
    if (t->state & EDDY__T_ENDED) {
        if (out && (t->state & EDDY__T_OUTPUT) && t->vt->out_size)
            memcpy(out, eddy__task_out(t), t->vt->out_size);
        eddy_waker_drop(&t->join_waker);
        return EDDY_READY;
    }
    eddy_waker_set(&t->join_waker, cx->waker);
    return EDDY_PENDING;
}

int eddy_join_status(const eddy_join *jh)
{
    if (jh && eddy__task_is_mt((const struct eddy__task *)jh))
        return eddy__mt_join_status((const struct eddy__task *)jh);
    const struct eddy__task *t = jh_task(jh, "eddy_join_status");
    if (!(t->state & EDDY__T_ENDED))
        return -EAGAIN;
    return (t->state & EDDY__T_OUTPUT) ? 0 : -ECANCELED;
}

bool eddy_join_is_finished(const eddy_join *jh)
{
    if (jh && eddy__task_is_mt((const struct eddy__task *)jh))
        return eddy__mt_join_status((const struct eddy__task *)jh) != -EAGAIN;
    return (jh_task(jh, "eddy_join_is_finished")->state & EDDY__T_ENDED) != 0;
}

void eddy_join_abort(eddy_join *jh)
{
    if (jh && eddy__task_is_mt((struct eddy__task *)jh)) {
        eddy__mt_join_abort((struct eddy__task *)jh);
        return;
    }
    struct eddy__task *t = jh_task(jh, "eddy_join_abort");
    uint32_t s = t->state;
    if (s & (EDDY__T_ENDED | EDDY__T_CANCELLED))
        return;
    t->state = s | EDDY__T_CANCELLED;
    if (on_runtime_thread(t->sh))
        schedule_local(eddy__tls_core->sched, t);
    else
        wake_remote(t, false);
}

void eddy_join_detach(eddy_join *jh)
{
    if (!jh)
        return;
    if (eddy__task_is_mt((struct eddy__task *)jh)) {
        eddy__mt_join_detach((struct eddy__task *)jh);
        return;
    }
    struct eddy__task *t = jh_task(jh, "eddy_join_detach");
    t->state &= ~EDDY__T_JOIN;
    eddy_waker_drop(&t->join_waker);
    if (t->state & EDDY__T_ENDED)
        task_unref(t);
}

void eddy_join_drop(eddy_join *jh)
{
    if (!jh)
        return;
    if (eddy__task_is_mt((struct eddy__task *)jh)) {
        eddy__mt_join_drop((struct eddy__task *)jh);
        return;
    }
    struct eddy__task *t = jh_task(jh, "eddy_join_drop");
    eddy_waker_drop(&t->join_waker);
}

int eddy_rt_stats_get(eddy_rt *rt, eddy_rt_stats *st)
{
    if (!rt || !st)
        return -EINVAL;
    if (rt->mt)
        return eddy__mt_stats(rt, st);
    *st = rt->ct.st;
    st->spawned = rt->ct.adopted;
    st->alive = rt->ct.live;
    st->accept_stalls = rt->ct.core.accept_stalls;
    st->io_backend = rt->ct.core.driver->ops->name;
    return 0;
}
