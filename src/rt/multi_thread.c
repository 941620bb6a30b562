/* The multi-thread runtime: N worker threads, each with a bounded
 * lock-free run queue and a LIFO slot, a global inject queue, stealing of
 * half a victim's queue, one I/O driver and one timer wheel shared by all
 * (owned by whichever worker sleeps in it), and one atomic state word per
 * task.  See docs/design/0010-multi-thread-runtime.md for every protocol;
 * models/mt_task.pml and models/mt_park.pml check them with spin. */
#include "mt.h"
#include "ct.h"

#include "../io/driver.h"
#include "../time/timers.h"
#include "blocking_pool.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define LQ_CAP 256u            /* per-worker run queue (power of two) */
#define LQ_MASK (LQ_CAP - 1)
#define LIFO_MAX 3u            /* consecutive LIFO-slot polls before the queue goes first */
#define INJECT_BATCH 32u       /* tasks moved from the inject queue per visit, at most */
#define NSHARDS 64u            /* owned-task list shards */
#define DEFAULT_SPIN_NS 30000  /* spin before parking: a futex wake costs tens of us on a VM */

static inline uint64_t refs_of(uint64_t s) { return s >> EDDY__M_REF_SHIFT; }
static inline unsigned home_of(uint64_t s) { return (unsigned)((s & EDDY__M_HOME_MASK) >> EDDY__M_HOME_SHIFT); }

/* ---- structures -------------------------------------------------------------- */

/* A mutex-protected FIFO of tasks linked through t->link.  `len` is read
 * without the lock as a hint (and by the parking re-check, seq_cst). */
struct inject {
    pthread_mutex_t lock;
    struct eddy__task *head, *tail;
    _Atomic size_t len;
    bool closed;
};

/* The part that outlives the runtime while task blocks or block_on waker
 * clones still point at it. */
struct eddy__mtsh {
    struct eddy__sh_hdr hdr;     /* mt = true */
    /* Lifetime, biased like the current-thread runtime's (0003): BIAS while
     * the runtime lives, minus task blocks freed off the workers, plus
     * block_on waker clones; rt_free adds the blocks it still accounts
     * for and removes BIAS.  Whoever brings it to zero frees this.  No
     * shared counter on the spawn or free paths of the workers. */
    atomic_long balance;
    _Atomic uint32_t main_woken; /* futex word of the thread inside block_on */
    struct eddy__mt *mt;         /* read only under an open inject queue's lock */
    unsigned ninject;            /* [0] global; [1 + i] worker i's inbox (no-steal) */
    _Atomic uint64_t remote_wakes; /* eddy_rt_stats.remote_wakes: only threads off the workers add */
    struct inject inject[];
};

struct eddy__worker {
    struct eddy__core core; /* first: eddy__tls_core points here */
    struct eddy__mt *mt;
    unsigned index;
    bool searching;   /* woken to look for work; counted in mt->nsearching */
    bool polling;     /* inside a task's poll: its wakes go to the LIFO slot */
    bool idle;        /* in the idle stack (idle_lock) */
    bool maint_now;   /* a task spent its budget: look at the driver at once */
    unsigned lifo_uses;
    unsigned tick;
    struct eddy__task *lifo;
    uint64_t rng;
    pthread_t thread;
    bool started;
    /* counters: written by this worker only, read by eddy_rt_stats_get */
    _Atomic uint64_t n_polls, n_completed, n_cancelled, n_parks, n_spawned;
    uint64_t allocs, frees; /* task blocks, on this worker (read by rt_free after the join) */

    _Alignas(64) _Atomic uint32_t head; /* next to pop: owner and thieves CAS it */
    _Alignas(64) _Atomic uint32_t tail; /* next free slot: owner stores it */
    _Atomic(struct eddy__task *) buf[LQ_CAP];
    _Alignas(64) _Atomic uint32_t notified; /* futex word: woken by wake_one */
    _Atomic int in_driver;                  /* sleeping (or about to) in the driver */
};

struct shard {
    _Alignas(64) _Atomic uint32_t lock;
    struct eddy__task *head;
};

struct eddy__mt {
    struct eddy__mtsh *sh;
    eddy_rt *rt;
    unsigned n;
    struct eddy__worker **w;
    struct eddy__driver *driver;
    struct eddy__timers *timers;
    struct eddy__pool *pool;
    int evfd;
    bool no_steal;
    int64_t spin_ns;
    unsigned event_interval;

    _Alignas(64) _Atomic int driver_lock;
    _Alignas(64) pthread_mutex_t idle_lock;
    unsigned *idle_stack;
    unsigned idle_top;
    _Atomic unsigned nidle;      /* workers parked or about to */
    _Atomic unsigned nsearching; /* workers woken and not yet running a task */
    _Atomic int shutdown;        /* workers must exit */
    _Atomic int closing;         /* rt_free is dropping tasks: no new spawns */
    _Atomic unsigned rr;         /* no-steal: home of the next outside spawn */
    _Atomic int driving;         /* a thread is inside block_on */
    _Atomic uint64_t spawned;    /* spawns from outside the workers */
    _Atomic uint64_t ext_allocs; /* task blocks allocated off the workers */
    struct eddy__core ext;       /* the core of the thread inside block_on (and of rt_free) */
    struct shard shards[NSHARDS];
};

static eddy_waker_vtable const mt_waker_vt;

/* ---- lifetime of the shared part and of task blocks --------------------------- */

static void mtsh_free(struct eddy__mtsh *sh)
{
    for (unsigned i = 0; i < sh->ninject; i++)
        pthread_mutex_destroy(&sh->inject[i].lock);
    free(sh);
}

static inline void mtsh_release(struct eddy__mtsh *sh)
{
    if (atomic_fetch_sub_explicit(&sh->balance, 1, memory_order_acq_rel) == 1)
        mtsh_free(sh);
}

static inline struct eddy__mtsh *task_sh(const struct eddy__task *t) { return (struct eddy__mtsh *)(void *)t->sh; }

static inline struct eddy__worker *current_worker(const struct eddy__mtsh *sh);

static void task_free(struct eddy__task *t)
{
    struct eddy__mtsh *sh = task_sh(t);
    struct eddy__worker *w = current_worker(sh);
    free(t);
    if (w)
        w->frees++;
    else
        mtsh_release(sh);
}

/* Releases n references; frees the block at zero. */
static inline void task_unref(struct eddy__task *t, uint64_t n)
{
    uint64_t old = atomic_fetch_sub_explicit(&t->word, n * EDDY__M_REF_ONE, memory_order_acq_rel);
    if (refs_of(old) == n)
        task_free(t);
}

/* ---- owned tasks: every task that has not completed, for shutdown ------------- */

static inline struct shard *shard_of(struct eddy__mt *mt, const struct eddy__task *t)
{
    uint64_t h = ((uint64_t)(uintptr_t)t >> 6) * UINT64_C(0x9e3779b97f4a7c15);
    return &mt->shards[h >> 58];
}

static void owned_insert(struct eddy__mt *mt, struct eddy__task *t)
{
    struct shard *s = shard_of(mt, t);
    eddy__spin_lock(&s->lock);
    t->oprev = NULL;
    t->onext = s->head;
    if (s->head)
        s->head->oprev = t;
    s->head = t;
    eddy__spin_unlock(&s->lock);
}

static void owned_remove(struct eddy__mt *mt, struct eddy__task *t)
{
    struct shard *s = shard_of(mt, t);
    eddy__spin_lock(&s->lock);
    if (t->oprev)
        t->oprev->onext = t->onext;
    else
        s->head = t->onext;
    if (t->onext)
        t->onext->oprev = t->oprev;
    eddy__spin_unlock(&s->lock);
}

_Static_assert(NSHARDS == 64, "shard_of takes the top 6 bits of the hash");

/* ---- the per-worker run queue ------------------------------------------------
 * A bounded ring (Go's runq shape): the owner pushes at tail and pops at
 * head; a thief copies half of [head, tail) and claims it with one CAS on
 * head.  Slots are atomics (relaxed) because a thief may read a slot the
 * owner is rewriting; the thief's CAS fails then, and the value is unused. */

static inline uint32_t lq_len(struct eddy__worker *w)
{
    uint32_t t = atomic_load_explicit(&w->tail, memory_order_acquire);
    uint32_t h = atomic_load_explicit(&w->head, memory_order_acquire);
    return t - h;
}

static void inject_push_list(struct eddy__mt *mt, struct inject *q, struct eddy__task *first,
                             struct eddy__task *last, size_t n);
static inline struct inject *inbox_of(struct eddy__mt *mt, unsigned home);

/* Owner only.  A full ring moves half of itself plus t to the inject queue. */
static void lq_push(struct eddy__worker *w, struct eddy__task *t)
{
    for (;;) {
        uint32_t tail = atomic_load_explicit(&w->tail, memory_order_relaxed);
        uint32_t head = atomic_load_explicit(&w->head, memory_order_acquire);
        if (tail - head < LQ_CAP) {
            atomic_store_explicit(&w->buf[tail & LQ_MASK], t, memory_order_relaxed);
            atomic_store_explicit(&w->tail, tail + 1, memory_order_release);
            return;
        }
        /* Overflow: claim the older half like a thief would, then hand it
         * over with t in one lock. */
        uint32_t n = LQ_CAP / 2;
        if (!atomic_compare_exchange_strong_explicit(&w->head, &head, head + n, memory_order_acq_rel,
                                                     memory_order_relaxed))
            continue; /* a thief took some: there is room now */
        struct eddy__task *first = atomic_load_explicit(&w->buf[head & LQ_MASK], memory_order_relaxed);
        struct eddy__task *prev = first;
        for (uint32_t i = 1; i < n; i++) {
            struct eddy__task *x = atomic_load_explicit(&w->buf[(head + i) & LQ_MASK], memory_order_relaxed);
            prev->link = x;
            prev = x;
        }
        prev->link = t;
        t->link = NULL;
        inject_push_list(w->mt, inbox_of(w->mt, w->index), first, t, n + 1);
        return;
    }
}

/* Owner only. */
static struct eddy__task *lq_pop(struct eddy__worker *w)
{
    uint32_t head = atomic_load_explicit(&w->head, memory_order_acquire);
    for (;;) {
        uint32_t tail = atomic_load_explicit(&w->tail, memory_order_relaxed);
        if (head == tail)
            return NULL;
        struct eddy__task *t = atomic_load_explicit(&w->buf[head & LQ_MASK], memory_order_relaxed);
        if (atomic_compare_exchange_weak_explicit(&w->head, &head, head + 1, memory_order_acq_rel,
                                                  memory_order_acquire))
            return t;
    }
}

/* dst's owner steals half of src's queue into its own (empty) queue and
 * returns one of the tasks to run now. */
static struct eddy__task *lq_steal(struct eddy__worker *dst, struct eddy__worker *src)
{
    for (;;) {
        uint32_t h = atomic_load_explicit(&src->head, memory_order_acquire);
        uint32_t t = atomic_load_explicit(&src->tail, memory_order_acquire);
        uint32_t n = t - h;
        n -= n / 2;
        if (n == 0)
            return NULL;
        if (n > LQ_CAP / 2)
            continue; /* head and tail read at different moments: again */
        uint32_t dt = atomic_load_explicit(&dst->tail, memory_order_relaxed);
        for (uint32_t i = 0; i < n; i++) {
            struct eddy__task *x = atomic_load_explicit(&src->buf[(h + i) & LQ_MASK], memory_order_relaxed);
            atomic_store_explicit(&dst->buf[(dt + i) & LQ_MASK], x, memory_order_relaxed);
        }
        if (atomic_compare_exchange_strong_explicit(&src->head, &h, h + n, memory_order_acq_rel,
                                                    memory_order_relaxed)) {
            struct eddy__task *run = atomic_load_explicit(&dst->buf[(dt + n - 1) & LQ_MASK], memory_order_relaxed);
            if (n > 1)
                atomic_store_explicit(&dst->tail, dt + n - 1, memory_order_release);
            return run;
        }
    }
}

/* ---- parking ------------------------------------------------------------------- */

/* Makes a parked worker runnable.  It sleeps either on its futex or in the
 * driver; it re-checks `notified` after announcing in_driver, and we check
 * in_driver after setting notified, so one of us sees the other. */
static void unpark_thread(struct eddy__mt *mt, struct eddy__worker *w)
{
    atomic_store(&w->notified, 1);
    if (atomic_load(&w->in_driver)) {
        uint64_t one = 1;
        ssize_t r = write(mt->evfd, &one, sizeof one);
        (void)r; /* EAGAIN: the counter is already non-zero, the driver wakes anyway */
    } else {
        eddy__futex_wake(&w->notified, 1);
    }
}

static void idle_remove_locked(struct eddy__mt *mt, struct eddy__worker *w)
{
    for (unsigned i = 0; i < mt->idle_top; i++) {
        if (mt->idle_stack[i] == w->index) {
            mt->idle_stack[i] = mt->idle_stack[--mt->idle_top];
            break;
        }
    }
    w->idle = false;
    atomic_fetch_sub(&mt->nidle, 1);
}

/* Wakes one parked worker, which starts searching. */
static void wake_one(struct eddy__mt *mt)
{
    pthread_mutex_lock(&mt->idle_lock);
    if (mt->idle_top == 0) {
        pthread_mutex_unlock(&mt->idle_lock);
        return;
    }
    struct eddy__worker *w = mt->w[mt->idle_stack[--mt->idle_top]];
    w->idle = false;
    atomic_fetch_sub(&mt->nidle, 1);
    atomic_fetch_add(&mt->nsearching, 1);
    pthread_mutex_unlock(&mt->idle_lock);
    unpark_thread(mt, w);
}

/* No-steal mode: work arrived in w's inbox; wake w itself if it is parked. */
static void wake_worker(struct eddy__mt *mt, struct eddy__worker *w)
{
    pthread_mutex_lock(&mt->idle_lock);
    bool was_idle = w->idle;
    if (was_idle) {
        idle_remove_locked(mt, w);
        atomic_fetch_add(&mt->nsearching, 1);
    }
    pthread_mutex_unlock(&mt->idle_lock);
    if (was_idle)
        unpark_thread(mt, w);
}

/* After publishing work: the seq_cst fence pairs with the one a parking
 * worker runs between announcing itself idle and re-checking the queues. */
static inline void notify_work(struct eddy__mt *mt)
{
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load_explicit(&mt->nsearching, memory_order_relaxed) == 0 &&
        atomic_load_explicit(&mt->nidle, memory_order_relaxed) > 0)
        wake_one(mt);
}

/* ---- the inject queue(s) --------------------------------------------------------- */

/* The queue a task whose home is `home` goes to: its worker's inbox in
 * no-steal mode, else the one global queue.  Reads only the shared part,
 * which outlives the runtime (see remote_schedule_). */
static inline struct inject *inbox_of_sh(struct eddy__mtsh *sh, unsigned home)
{
    return sh->ninject > 1 ? &sh->inject[1 + home] : &sh->inject[0];
}

static inline struct inject *inbox_of(struct eddy__mt *mt, unsigned home) { return inbox_of_sh(mt->sh, home); }

static void inject_push_list(struct eddy__mt *mt, struct inject *q, struct eddy__task *first,
                             struct eddy__task *last, size_t n)
{
        pthread_mutex_lock(&q->lock);
    /* Only workers call this (overflow), and they run only while the queue is open. */
    if (q->tail)
        q->tail->link = first;
    else
        q->head = first;
    q->tail = last;
    atomic_fetch_add(&q->len, n);
    pthread_mutex_unlock(&q->lock);
    notify_work(mt);
}

/* From a thread that is not one of this runtime's workers (or to another
 * worker's inbox).  The notification runs under the queue's lock: rt_free
 * closes every queue (taking the lock) before it frees what a
 * notification touches.  A closed queue releases the task's queue
 * reference instead. */
static void remote_schedule_(struct eddy__mtsh *sh, struct eddy__task *t, bool notify_unlocked);

static void remote_schedule(struct eddy__mtsh *sh, struct eddy__task *t) { remote_schedule_(sh, t, false); }

/* A spawn from outside: the caller's runtime pointer proves the runtime is
 * alive (spawning on a runtime being freed is a caller bug), so the
 * notification may run after the lock is released, and a worker taking
 * from the queue never waits behind our futex wake. */
static void remote_spawn(struct eddy__mtsh *sh, struct eddy__task *t) { remote_schedule_(sh, t, true); }

static void remote_schedule_(struct eddy__mtsh *sh, struct eddy__task *t, bool notify_unlocked)
{
    unsigned home = home_of(atomic_load_explicit(&t->word, memory_order_relaxed));
    struct inject *q = inbox_of_sh(sh, home);
    pthread_mutex_lock(&q->lock);
    if (EDDY_UNLIKELY(q->closed)) {
        pthread_mutex_unlock(&q->lock);
        task_unref(t, 1);
        return;
    }
    t->link = NULL;
    if (q->tail)
        q->tail->link = t;
    else
        q->head = t;
    q->tail = t;
    atomic_fetch_add(&q->len, 1);
    struct eddy__mt *mt = sh->mt;
    if (notify_unlocked)
        pthread_mutex_unlock(&q->lock);
    if (mt->no_steal)
        wake_worker(mt, mt->w[home]);
    else
        notify_work(mt);
    if (!notify_unlocked)
        pthread_mutex_unlock(&q->lock);
}

/* Takes the first task of q and moves a fair share of the rest into w's
 * run queue. */
static struct eddy__task *inject_take(struct eddy__worker *w, struct inject *q)
{
    if (atomic_load_explicit(&q->len, memory_order_relaxed) == 0)
        return NULL;
    pthread_mutex_lock(&q->lock);
    struct eddy__task *t = q->head;
    if (!t) {
        pthread_mutex_unlock(&q->lock);
        return NULL;
    }
    size_t len = atomic_load_explicit(&q->len, memory_order_relaxed);
    size_t more = w->mt->no_steal ? len - 1 : (len - 1) / w->mt->n;
    if (more > INJECT_BATCH)
        more = INJECT_BATCH;
    uint32_t room = LQ_CAP - lq_len(w);
    if (more > room)
        more = room;
    struct eddy__task *x = t->link;
    size_t taken = 1;
    uint32_t tail = atomic_load_explicit(&w->tail, memory_order_relaxed);
    for (size_t i = 0; i < more && x; i++) {
        atomic_store_explicit(&w->buf[tail++ & LQ_MASK], x, memory_order_relaxed);
        x = x->link;
        taken++;
    }
    q->head = x;
    if (!x)
        q->tail = NULL;
    atomic_fetch_sub(&q->len, taken);
    pthread_mutex_unlock(&q->lock);
    if (taken > 1) {
        atomic_store_explicit(&w->tail, tail, memory_order_release);
        notify_work(w->mt);
    }
    return t;
}

/* ---- scheduling a woken task --------------------------------------------------- */

static inline struct eddy__worker *current_worker(const struct eddy__mtsh *sh)
{
    struct eddy__core *c = eddy__tls_core;
    if (c && c->worker && c->sh == (const struct eddy__shared *)(const void *)sh)
        return c->worker;
    return NULL;
}

/* A wake from a thread that is not one of sh's workers (stats only). */
static inline void count_remote_wake(struct eddy__mtsh *sh)
{
    atomic_fetch_add_explicit(&sh->remote_wakes, 1, memory_order_relaxed);
}

/* t holds a queue reference and NOTIFIED: put it where a worker finds it. */
static void schedule(struct eddy__task *t, bool may_lifo)
{
    struct eddy__mtsh *sh = task_sh(t);
    struct eddy__worker *w = current_worker(sh);
    if (!w) {
        count_remote_wake(sh);
        remote_schedule(sh, t);
        return;
    }
    struct eddy__mt *mt = w->mt;
    if (mt->no_steal) {
        unsigned home = home_of(atomic_load_explicit(&t->word, memory_order_relaxed));
        if (home != w->index) {
            remote_schedule(sh, t);
            return;
        }
    }
    if (may_lifo && w->polling) {
        /* The running task woke t: t probably consumes what it just made,
         * so it runs next, on this core, while the data is still in cache. */
        struct eddy__task *old = w->lifo;
        w->lifo = t;
        if (!old)
            return;
        t = old;
    }
    lq_push(w, t);
    if (!mt->no_steal)
        notify_work(mt);
}

/* ---- wakers ------------------------------------------------------------------------ */

static void mt_wake_by_ref(const void *p)
{
    struct eddy__task *t = (struct eddy__task *)p;
    uint64_t s = atomic_load_explicit(&t->word, memory_order_acquire);
    for (;;) {
        if (s & (EDDY__M_COMPLETE | EDDY__M_NOTIFIED))
            return;
        uint64_t ns = s | EDDY__M_NOTIFIED;
        if (!(s & EDDY__M_RUNNING))
            ns += EDDY__M_REF_ONE; /* the queue's reference */
        if (atomic_compare_exchange_weak_explicit(&t->word, &s, ns, memory_order_acq_rel, memory_order_acquire))
            break;
    }
    if (!(s & EDDY__M_RUNNING))
        schedule(t, true);
    else if (!current_worker(task_sh(t)))
        count_remote_wake(task_sh(t)); /* absorbed by the running poll, but still a wake from afar */
}

static void mt_wake(const void *p)
{
    struct eddy__task *t = (struct eddy__task *)p;
    uint64_t s = atomic_load_explicit(&t->word, memory_order_acquire);
    for (;;) {
        if (s & (EDDY__M_COMPLETE | EDDY__M_NOTIFIED | EDDY__M_RUNNING)) {
            /* Nothing to enqueue: only set NOTIFIED if running, then drop
             * the waker's reference (never the last: the runner or the
             * owned list holds one unless COMPLETE). */
            if ((s & EDDY__M_RUNNING) && !(s & (EDDY__M_NOTIFIED | EDDY__M_COMPLETE))) {
                if (!atomic_compare_exchange_weak_explicit(&t->word, &s, s | EDDY__M_NOTIFIED, memory_order_acq_rel,
                                                           memory_order_acquire))
                    continue;
                if (!current_worker(task_sh(t)))
                    count_remote_wake(task_sh(t)); /* before the reference that keeps sh goes */
            }
            task_unref(t, 1);
            return;
        }
        /* Idle: the waker's reference becomes the queue's. */
        if (atomic_compare_exchange_weak_explicit(&t->word, &s, s | EDDY__M_NOTIFIED, memory_order_acq_rel,
                                                  memory_order_acquire))
            break;
    }
    schedule(t, true);
}

static eddy_waker mt_clone(const void *p)
{
    struct eddy__task *t = (struct eddy__task *)p;
    atomic_fetch_add_explicit(&t->word, EDDY__M_REF_ONE, memory_order_relaxed);
    return (eddy_waker){&mt_waker_vt, t};
}

static void mt_drop(const void *p) { task_unref((struct eddy__task *)p, 1); }

static eddy_waker_vtable const mt_waker_vt = {mt_clone, mt_wake, mt_wake_by_ref, mt_drop};

/* ---- running a task ------------------------------------------------------------------- */

/* The task's frame is dropped; publish COMPLETE, hand the output to the
 * joiner, wake it, and release the owned and running references. */
static void task_complete(struct eddy__mt *mt, struct eddy__task *t, bool ready)
{
    uint64_t s = atomic_load_explicit(&t->word, memory_order_relaxed);
    uint64_t ns;
    do {
        ns = (s & ~(uint64_t)(EDDY__M_RUNNING | EDDY__M_NOTIFIED)) | EDDY__M_COMPLETE |
             (ready ? EDDY__M_OUTPUT : 0u);
    } while (!atomic_compare_exchange_weak_explicit(&t->word, &s, ns, memory_order_acq_rel, memory_order_relaxed));
    if ((s & EDDY__M_JOIN) && (s & EDDY__M_JOIN_WAKER)) {
        eddy_waker_wake_by_ref(&t->join_waker);
        uint64_t old = atomic_fetch_and_explicit(&t->word, ~(uint64_t)EDDY__M_JOIN_WAKER, memory_order_acq_rel);
        if (!(old & EDDY__M_JOIN))
            eddy_waker_drop(&t->join_waker); /* the handle went away meanwhile */
    }
    owned_remove(mt, t);
    task_unref(t, 2);
}

static void task_cancel_running(struct eddy__worker *w, struct eddy__task *t)
{
    if (t->vt->drop)
        t->vt->drop(eddy__task_frame(t));
    atomic_store_explicit(&w->n_cancelled, atomic_load_explicit(&w->n_cancelled, memory_order_relaxed) + 1,
                          memory_order_relaxed);
    task_complete(w->mt, t, false);
}

static void run_task(struct eddy__worker *w, struct eddy__task *t)
{
    uint64_t s = atomic_load_explicit(&t->word, memory_order_acquire);
    for (;;) {
        if (EDDY_UNLIKELY(s & EDDY__M_COMPLETE)) {
            task_unref(t, 1); /* cannot happen in the protocol; harmless if it did */
            return;
        }
        uint64_t ns = (s & ~(uint64_t)EDDY__M_NOTIFIED) | EDDY__M_RUNNING;
        if (atomic_compare_exchange_weak_explicit(&t->word, &s, ns, memory_order_acq_rel, memory_order_acquire))
            break;
    }
    if (EDDY_UNLIKELY(s & EDDY__M_CANCELLED)) {
        task_cancel_running(w, t);
        return;
    }
    eddy_waker wk = {&mt_waker_vt, t};
    eddy_cx cx = {&wk, &w->core};
    w->core.budget = EDDY__BUDGET;
    w->polling = true;
    atomic_store_explicit(&w->n_polls, atomic_load_explicit(&w->n_polls, memory_order_relaxed) + 1,
                          memory_order_relaxed);
    eddy_poll r = t->vt->poll(eddy__task_frame(t), &cx, eddy__task_out(t));
    w->polling = false;
    if (EDDY_UNLIKELY(w->core.budget <= 0))
        w->maint_now = true; /* it spent its budget on ready I/O: let the driver in */
    if (r == EDDY_READY) {
        if (t->vt->drop)
            t->vt->drop(eddy__task_frame(t));
        atomic_store_explicit(&w->n_completed, atomic_load_explicit(&w->n_completed, memory_order_relaxed) + 1,
                              memory_order_relaxed);
        task_complete(w->mt, t, true);
        return;
    }
    s = atomic_load_explicit(&t->word, memory_order_acquire);
    for (;;) {
        if (EDDY_UNLIKELY(s & EDDY__M_CANCELLED)) {
            task_cancel_running(w, t);
            return;
        }
        if (s & EDDY__M_NOTIFIED) {
            /* Woken while it ran: back in the queue (behind the others:
             * this is how yield and an exhausted budget let them go first). */
            if (atomic_compare_exchange_weak_explicit(&t->word, &s, s & ~(uint64_t)EDDY__M_RUNNING,
                                                      memory_order_acq_rel, memory_order_acquire)) {
                struct eddy__mt *mt = w->mt;
                lq_push(w, t);
                if (!mt->no_steal)
                    notify_work(mt);
                return;
            }
            continue;
        }
        uint64_t ns = (s & ~(uint64_t)EDDY__M_RUNNING) - EDDY__M_REF_ONE;
        if (atomic_compare_exchange_weak_explicit(&t->word, &s, ns, memory_order_acq_rel, memory_order_acquire)) {
            if (refs_of(ns) == 0)
                task_free(t);
            return;
        }
    }
}

/* ---- the driver and timers ------------------------------------------------------------ */

static inline bool driver_trylock(struct eddy__mt *mt)
{
    return !atomic_load_explicit(&mt->driver_lock, memory_order_relaxed) &&
           !atomic_exchange_explicit(&mt->driver_lock, 1, memory_order_acquire);
}

static inline void driver_unlock(struct eddy__mt *mt) { atomic_store_explicit(&mt->driver_lock, 0, memory_order_release); }

/* A busy worker's look at I/O and timers, without sleeping. */
static void maintenance(struct eddy__worker *w)
{
    struct eddy__mt *mt = w->mt;
    if (!driver_trylock(mt))
        return; /* another worker is in the driver: it sees the events */
    eddy__timers_mt_tick_clock(mt->timers);
    eddy__timers_mt_fire(mt->timers);
    if (eddy__driver_sources(mt->driver) > 0)
        mt->driver->ops->wait(mt->driver, 0);
    driver_unlock(mt);
}

static void timers_unpark(void *arg)
{
    struct eddy__mt *mt = arg;
    uint64_t one = 1;
    ssize_t r = write(mt->evfd, &one, sizeof one);
    (void)r;
}

/* ---- the worker loop --------------------------------------------------------------------- */

static inline uint64_t xorshift(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

static struct eddy__task *next_task(struct eddy__worker *w)
{
    struct eddy__mt *mt = w->mt;
    struct eddy__task *t;
    if (EDDY_UNLIKELY(++w->tick % mt->event_interval == 0 || w->maint_now)) {
        /* Fairness: I/O, timers and the inject queue get a turn even while
         * local work never runs out. */
        w->maint_now = false;
        maintenance(w);
        if ((t = inject_take(w, inbox_of(mt, w->index))))
            return t;
    }
    if (w->lifo) {
        t = w->lifo;
        w->lifo = NULL;
        if (w->lifo_uses < LIFO_MAX) {
            w->lifo_uses++;
            return t;
        }
        /* Two tasks waking each other would own the worker: this one
         * goes to the back of the queue. */
        lq_push(w, t);
        if (!mt->no_steal)
            notify_work(mt);
    }
    w->lifo_uses = 0;
    if ((t = lq_pop(w)))
        return t;
    return inject_take(w, inbox_of(mt, w->index));
}

/* Looks for work elsewhere: other workers' queues, then the inject queue. */
static struct eddy__task *search(struct eddy__worker *w)
{
    struct eddy__mt *mt = w->mt;
    if (!mt->no_steal && mt->n > 1) {
        unsigned start = (unsigned)(xorshift(&w->rng) % mt->n);
        for (unsigned i = 0; i < mt->n; i++) {
            struct eddy__worker *v = mt->w[(start + i) % mt->n];
            if (v == w)
                continue;
            struct eddy__task *t = lq_steal(w, v);
            if (t)
                return t;
        }
    }
    return inject_take(w, inbox_of(mt, w->index));
}

/* Is there work this worker could take?  (seq_cst loads: the parking
 * re-check.) */
static bool work_visible(struct eddy__worker *w)
{
    struct eddy__mt *mt = w->mt;
    if (w->lifo || lq_len(w) > 0)
        return true;
    if (atomic_load(&inbox_of(mt, w->index)->len) > 0)
        return true;
    if (!mt->no_steal)
        for (unsigned i = 0; i < mt->n; i++)
            if (mt->w[i] != w && lq_len(mt->w[i]) > 0)
                return true;
    return false;
}

/* A searching worker found a task: if it was the last searcher and more
 * work is waiting, it wakes another worker to look (one at a time). */
static void leave_searching(struct eddy__worker *w)
{
    w->searching = false;
    struct eddy__mt *mt = w->mt;
    if (atomic_fetch_sub(&mt->nsearching, 1) == 1 && !mt->no_steal && work_visible(w))
        notify_work(mt);
}

/* Nothing to run: spin briefly, then announce idleness, re-check, sleep. */
static void park(struct eddy__worker *w)
{
    struct eddy__mt *mt = w->mt;
    if (mt->spin_ns > 0) {
        int64_t until = (int64_t)eddy__mono_ns() + mt->spin_ns;
        for (unsigned i = 1;; i++) {
            if (work_visible(w) || atomic_load_explicit(&mt->shutdown, memory_order_relaxed))
                return;
            eddy__cpu_relax();
            if (i % 32 == 0 && (int64_t)eddy__mono_ns() >= until)
                break;
        }
    }
    /* A searcher that found nothing stops searching before it announces
     * itself idle (so a push from here on sees nobody searching and wakes
     * a worker), and after the spin (work found while spinning is still
     * found as a searcher: models/mt_park.pml). */
    if (w->searching) {
        w->searching = false;
        atomic_fetch_sub(&mt->nsearching, 1);
    }
    pthread_mutex_lock(&mt->idle_lock);
    mt->idle_stack[mt->idle_top++] = w->index;
    w->idle = true;
    atomic_fetch_add(&mt->nidle, 1);
    pthread_mutex_unlock(&mt->idle_lock);
    atomic_thread_fence(memory_order_seq_cst);
    if (!work_visible(w) && !atomic_load(&mt->shutdown)) {
        atomic_store_explicit(&w->n_parks, atomic_load_explicit(&w->n_parks, memory_order_relaxed) + 1,
                              memory_order_relaxed);
        if (driver_trylock(mt)) {
            atomic_store(&w->in_driver, 1);
            if (!atomic_load(&w->notified) && !atomic_load(&mt->shutdown)) {
                struct eddy__timers *tm = mt->timers;
                eddy__timers_mt_tick_clock(tm);
                eddy__timers_mt_fire(tm);
                if (!work_visible(w)) {
                    /* Computes the timeout and records the wake-up instant in
                     * one step: an earlier timer inserted from now on ends
                     * the wait through timers_unpark. */
                    int64_t timeout = eddy__timers_sleep_begin(tm, -1);
                    mt->driver->ops->wait(mt->driver, timeout);
                    eddy__timers_sleep_end(tm);
                }
            }
            atomic_store(&w->in_driver, 0);
            eddy__timers_mt_tick_clock(mt->timers);
            eddy__timers_mt_fire(mt->timers);
            driver_unlock(mt);
        } else {
            while (!atomic_load(&w->notified) && !atomic_load(&mt->shutdown))
                eddy__futex_wait(&w->notified, 0);
        }
    }
    /* Whichever way it woke, it leaves idle as a searcher: wake_one counted
     * it already; otherwise (the re-check, I/O, a timer) it counts itself.
     * A worker that left idle without searching would run the work it
     * found without the last-searcher hand-off, and a second queued task
     * could wait behind a long poll while another worker sleeps (the bug
     * spin found in the first version of this protocol). */
    pthread_mutex_lock(&mt->idle_lock);
    if (w->idle) {
        idle_remove_locked(mt, w);
        atomic_fetch_add(&mt->nsearching, 1);
    }
    w->searching = true;
    atomic_store(&w->notified, 0);
    pthread_mutex_unlock(&mt->idle_lock);
}

static void *worker_main(void *arg)
{
    struct eddy__worker *w = arg;
    struct eddy__mt *mt = w->mt;
    eddy__tls_core = &w->core;
    for (;;) {
        if (EDDY_UNLIKELY(atomic_load_explicit(&mt->shutdown, memory_order_acquire)))
            break;
        struct eddy__task *t = next_task(w);
        if (!t)
            t = search(w);
        if (t) {
            if (EDDY_UNLIKELY(w->searching))
                leave_searching(w);
            run_task(w, t);
            continue;
        }
        park(w);
    }
    if (w->searching) {
        w->searching = false;
        atomic_fetch_sub(&mt->nsearching, 1);
    }
    eddy__tls_core = NULL;
    return NULL;
}

/* ---- creation and shutdown --------------------------------------------------------------------- */

static void core_init(struct eddy__mt *mt, struct eddy__core *c, struct eddy__worker *w, const eddy_rt_builder *b)
{
    c->sh = (struct eddy__shared *)(void *)mt->sh;
    c->sched = NULL;
    c->worker = w;
    c->driver = mt->driver;
    c->timers = mt->timers;
    c->rt = mt->rt;
    c->fd_waiter = EDDY_WAKER_EMPTY;
    c->pool = mt->pool;
    c->blocking_threads = b->max_blocking_threads;
    c->blocking_queue = b->blocking_queue;
}

static unsigned default_workers(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0 && CPU_COUNT(&set) < n)
        n = CPU_COUNT(&set);
    return n > 0 ? (unsigned)n : 1u;
}

static void mt_destroy(struct eddy__mt *mt)
{
    if (mt->w) {
        for (unsigned i = 0; i < mt->n; i++)
            free(mt->w[i]);
        free(mt->w);
    }
    free(mt->idle_stack);
    if (mt->pool)
        eddy__pool_shutdown(mt->pool);
    if (mt->timers)
        eddy__timers_free(mt->timers);
    if (mt->driver)
        eddy__driver_free(mt->driver);
    if (mt->evfd >= 0)
        close(mt->evfd);
    pthread_mutex_destroy(&mt->idle_lock);
    free(mt);
}

static void stop_workers(struct eddy__mt *mt)
{
    atomic_store(&mt->shutdown, 1);
    for (unsigned i = 0; i < mt->n; i++)
        if (mt->w[i]->started)
            unpark_thread(mt, mt->w[i]);
    timers_unpark(mt);
    for (unsigned i = 0; i < mt->n; i++)
        if (mt->w[i]->started) {
            pthread_join(mt->w[i]->thread, NULL);
            mt->w[i]->started = false;
        }
}

int eddy__mt_new(eddy_rt *rt, const eddy_rt_builder *b)
{
    if (b->start_paused)
        return -EINVAL; /* the virtual clock needs the current-thread runtime (docs/design/0010) */
    unsigned n = b->workers ? b->workers : default_workers();
    if (n > EDDY__M_MAX_WORKERS)
        return -EINVAL;
    struct eddy__mt *mt = calloc(1, sizeof *mt);
    if (!mt)
        return -ENOMEM;
    mt->evfd = -1;
    pthread_mutex_init(&mt->idle_lock, NULL);
    int err = -ENOMEM;
    unsigned ninject = b->no_steal ? 1 + n : 1;
    struct eddy__mtsh *sh = calloc(1, sizeof *sh + ninject * sizeof sh->inject[0]);
    if (!sh) {
        mt_destroy(mt);
        return -ENOMEM;
    }
    sh->hdr.mt = true;
    atomic_init(&sh->balance, EDDY__BIAS);
    sh->ninject = ninject;
    for (unsigned i = 0; i < ninject; i++)
        pthread_mutex_init(&sh->inject[i].lock, NULL);
    sh->mt = mt;
    mt->sh = sh;
    mt->rt = rt;
    mt->n = n;
    mt->no_steal = b->no_steal;
    mt->spin_ns = b->spin_before_park_us == 0 ? DEFAULT_SPIN_NS
                  : b->spin_before_park_us < 0 ? 0
                                               : (int64_t)b->spin_before_park_us * 1000;
    mt->event_interval = b->event_interval ? b->event_interval : 61;
    mt->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (mt->evfd < 0) {
        err = -errno;
        goto fail;
    }
    if ((err = eddy__driver_new(&mt->driver, mt->evfd, true, false)) < 0) {
        mt->driver = NULL;
        goto fail;
    }
    if ((err = eddy__timers_new(&mt->timers, false, true)) < 0) {
        mt->timers = NULL;
        goto fail;
    }
    eddy__timers_set_unpark(mt->timers, timers_unpark, mt);
    if ((err = eddy__pool_new(&mt->pool, b->max_blocking_threads, b->blocking_queue, 0)) < 0) {
        mt->pool = NULL;
        goto fail;
    }
    err = -ENOMEM;
    mt->idle_stack = calloc(n, sizeof *mt->idle_stack);
    mt->w = calloc(n, sizeof *mt->w);
    if (!mt->idle_stack || !mt->w)
        goto fail;
    for (unsigned i = 0; i < n; i++) {
        struct eddy__worker *w = aligned_alloc(64, eddy__align_up(sizeof *w, 64));
        if (!w)
            goto fail;
        memset(w, 0, sizeof *w);
        mt->w[i] = w;
        w->mt = mt;
        w->index = i;
        w->rng = UINT64_C(0x9e3779b97f4a7c15) * (i + 1);
        core_init(mt, &w->core, w, b);
    }
    core_init(mt, &mt->ext, NULL, b);
    rt->mt = mt;
    /* Workers never see SIGPIPE (sockets use MSG_NOSIGNAL; a pipe write
     * returns -EPIPE): they inherit this mask. */
    sigset_t pipe_set, old_mask;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old_mask);
    for (unsigned i = 0; i < n; i++) {
        int r = pthread_create(&mt->w[i]->thread, NULL, worker_main, mt->w[i]);
        if (r != 0) {
            pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
            stop_workers(mt);
            rt->mt = NULL;
            err = -r;
            goto fail;
        }
        mt->w[i]->started = true;
    }
    pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
    return 0;
fail:
    mt->sh = NULL;
    mt_destroy(mt);
    mtsh_free(sh);
    return err;
}

/* Drops a task that never completed, on the freeing thread (no worker runs). */
static void cancel_owned(struct eddy__mt *mt, struct eddy__task *t)
{
    if (t->vt->drop)
        t->vt->drop(eddy__task_frame(t));
    uint64_t s = atomic_load_explicit(&t->word, memory_order_relaxed);
    uint64_t ns;
    do {
        ns = (s & ~(uint64_t)EDDY__M_RUNNING) | EDDY__M_COMPLETE | EDDY__M_CANCELLED;
    } while (!atomic_compare_exchange_weak_explicit(&t->word, &s, ns, memory_order_acq_rel, memory_order_relaxed));
    if ((s & EDDY__M_JOIN) && (s & EDDY__M_JOIN_WAKER)) {
        eddy_waker_wake_by_ref(&t->join_waker);
        uint64_t old = atomic_fetch_and_explicit(&t->word, ~(uint64_t)EDDY__M_JOIN_WAKER, memory_order_acq_rel);
        if (!(old & EDDY__M_JOIN))
            eddy_waker_drop(&t->join_waker);
    }
    owned_remove(mt, t);
    task_unref(t, 1); /* the owned list's; a queue entry keeps its own until drained */
}

void eddy__mt_free(eddy_rt *rt)
{
    struct eddy__mt *mt = rt->mt;
    struct eddy__mtsh *sh = mt->sh;
    if (eddy__tls_core)
        eddy_misuse("eddy_rt_free", "called from inside a runtime (a task or block_on)");
    if (atomic_load(&mt->driving))
        eddy_misuse("eddy_rt_free", "called while another thread is inside eddy_block_on");
    stop_workers(mt);
    atomic_store(&mt->closing, 1);
    eddy__tls_core = &mt->ext;
    /* Drop every frame exactly once.  A drop may wake or abort others (they
     * go to the inject queue, drained below) but not spawn (-ESHUTDOWN). */
    for (unsigned i = 0; i < NSHARDS; i++) {
        struct shard *s = &mt->shards[i];
        for (;;) {
            eddy__spin_lock(&s->lock);
            struct eddy__task *t = s->head;
            eddy__spin_unlock(&s->lock);
            if (!t)
                break;
            cancel_owned(mt, t);
        }
    }
    /* Release the queues' references. */
    for (unsigned i = 0; i < sh->ninject; i++) {
        struct inject *q = &sh->inject[i];
        pthread_mutex_lock(&q->lock);
        q->closed = true;
        struct eddy__task *list = q->head;
        q->head = q->tail = NULL;
        atomic_store(&q->len, 0);
        pthread_mutex_unlock(&q->lock);
        while (list) {
            struct eddy__task *t = list;
            list = t->link;
            task_unref(t, 1);
        }
    }
    for (unsigned i = 0; i < mt->n; i++) {
        struct eddy__worker *w = mt->w[i];
        struct eddy__task *t;
        if (w->lifo) {
            task_unref(w->lifo, 1);
            w->lifo = NULL;
        }
        while ((t = lq_pop(w)))
            task_unref(t, 1);
        eddy_waker_drop(&w->core.fd_waiter);
    }
    eddy_waker_drop(&mt->ext.fd_waiter);
    eddy__pool_shutdown(mt->pool);
    mt->pool = NULL;
    eddy__timers_free(mt->timers);
    mt->timers = NULL;
#if EDDY_DEBUG
    if (eddy__driver_sources(mt->driver) > 0)
        eddy__warn("eddy_rt_free: %ld I/O object(s) still registered; close sockets before freeing the runtime",
                   eddy__driver_sources(mt->driver));
#endif
    eddy__tls_core = NULL;
    /* Hand the task blocks still alive (held by wakers or join handles
     * elsewhere) over to the balance. */
    long outstanding = (long)atomic_load(&mt->ext_allocs);
    for (unsigned i = 0; i < mt->n; i++)
        outstanding += (long)(mt->w[i]->allocs - mt->w[i]->frees);
    mt_destroy(mt);
    rt->mt = NULL;
    long delta = outstanding - EDDY__BIAS;
    if (atomic_fetch_add_explicit(&sh->balance, delta, memory_order_acq_rel) + delta == 0)
        mtsh_free(sh);
}

/* ---- block_on -------------------------------------------------------------------------------------- */

static void mw_wake_by_ref(const void *p)
{
    struct eddy__mtsh *sh = (struct eddy__mtsh *)p;
    atomic_store(&sh->main_woken, 1);
    eddy__futex_wake(&sh->main_woken, 1);
}

static eddy_waker mw_clone(const void *p);
static void mw_drop(const void *p) { mtsh_release((struct eddy__mtsh *)p); }
static void mw_wake(const void *p)
{
    mw_wake_by_ref(p);
    mw_drop(p);
}

static eddy_waker_vtable const main_waker_vt = {mw_clone, mw_wake, mw_wake_by_ref, mw_drop};

static eddy_waker mw_clone(const void *p)
{
    struct eddy__mtsh *sh = (struct eddy__mtsh *)p;
    atomic_fetch_add_explicit(&sh->balance, 1, memory_order_relaxed);
    return (eddy_waker){&main_waker_vt, sh};
}

int eddy__mt_block_on(eddy_rt *rt, const eddy_future_vt *vt, void *fut, void *out)
{
    struct eddy__mt *mt = rt->mt;
    if (eddy__tls_core)
        return -EDDY_EMISUSE;
    if (atomic_exchange(&mt->driving, 1))
        return -EBUSY;
    eddy__tls_core = &mt->ext;
    sigset_t pipe_set, old_mask;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old_mask);
    struct eddy__mtsh *sh = mt->sh;
    eddy_waker w = {&main_waker_vt, sh};
    eddy_cx cx = {&w, &mt->ext};
    for (;;) {
        atomic_store(&sh->main_woken, 0);
        mt->ext.budget = EDDY__BUDGET;
        if (vt->poll(fut, &cx, out) == EDDY_READY)
            break;
        while (!atomic_load(&sh->main_woken))
            eddy__futex_wait(&sh->main_woken, 0);
    }
    pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
    eddy__tls_core = NULL;
    atomic_store(&mt->driving, 0);
    return 0;
}

/* ---- spawn ---------------------------------------------------------------------------------------- */

int eddy__mt_alloc(eddy_rt *rt, const eddy_future_vt *vt, struct eddy__task **out)
{
    struct eddy__mt *mt = rt->mt;
    if (atomic_load_explicit(&mt->closing, memory_order_relaxed))
        return -EDDY_ESHUTDOWN;
    size_t total = eddy__frame_offset(vt) + vt->size;
    size_t align = eddy__task_align(vt);
    struct eddy__task *t = align > 16 ? aligned_alloc(align, eddy__align_up(total, align)) : malloc(total);
    if (!t)
        return -ENOMEM;
    t->link = NULL;
    t->vt = vt;
    t->sh = (struct eddy__shared *)(void *)mt->sh;
    t->onext = t->oprev = NULL;
    t->join_waker = EDDY_WAKER_EMPTY;
    atomic_init(&t->word, 0);
    struct eddy__worker *w = current_worker(mt->sh);
    if (w)
        w->allocs++;
    else
        atomic_fetch_add_explicit(&mt->ext_allocs, 1, memory_order_relaxed);
    *out = t;
    return 0;
}

void eddy__mt_discard(struct eddy__task *t) { task_free(t); }

int eddy__mt_start(struct eddy__task *t, eddy_join **jh)
{
    struct eddy__mtsh *sh = task_sh(t);
    struct eddy__mt *mt = sh->mt;
    if (atomic_load_explicit(&mt->closing, memory_order_relaxed)) {
        if (jh)
            *jh = NULL;
        return -EDDY_ESHUTDOWN;
    }
    struct eddy__worker *w = current_worker(sh);
    unsigned home = w ? w->index
                 : mt->no_steal ? atomic_fetch_add_explicit(&mt->rr, 1, memory_order_relaxed) % mt->n
                                : 0;
    uint64_t refs = jh ? 3 : 2; /* owned list, queue, handle */
    atomic_store_explicit(&t->word,
                          EDDY__M_NOTIFIED | (jh ? EDDY__M_JOIN : 0u) | ((uint64_t)home << EDDY__M_HOME_SHIFT) |
                              refs * EDDY__M_REF_ONE,
                          memory_order_relaxed);
    if (jh)
        *jh = (eddy_join *)t;
    owned_insert(mt, t);
    if (w) /* a worker counts its own spawns: no shared cache line on the spawn path */
        atomic_store_explicit(&w->n_spawned, atomic_load_explicit(&w->n_spawned, memory_order_relaxed) + 1,
                              memory_order_relaxed);
    else
        atomic_fetch_add_explicit(&mt->spawned, 1, memory_order_relaxed);
    /* Spawned from a poll, it takes the LIFO slot like a woken task (and
     * like Tokio's spawn): a task that spawns and then returns hands its
     * worker straight to the child, with no queue trip and no cross-worker
     * wake; the slot's previous task goes to the queue, where others can
     * steal it. */
    if (w)
        schedule(t, true);
    else
        remote_spawn(sh, t);
    return 0;
}

/* ---- join handles ------------------------------------------------------------------------------------ */

/* COMPLETE with JOIN_WAKER still set: the completer is between its
 * wake_by_ref of the join waker and the clear of JOIN_WAKER (it always
 * clears it, and nothing can set it again once COMPLETE is set).  The
 * window is one wake_by_ref: wait it out, so that the joiner's waker never
 * outlives the joiner's poll or drop (a future's drop releases its wakers). */
static uint64_t wait_join_waker_back(struct eddy__task *t, uint64_t s)
{
    for (unsigned i = 0; s & EDDY__M_JOIN_WAKER; i++) {
        if (i < 100)
            eddy__cpu_relax();
        else
            eddy__yield_cpu();
        s = atomic_load_explicit(&t->word, memory_order_acquire);
    }
    return s;
}

static eddy_poll join_ready(struct eddy__task *t, uint64_t s, void *out)
{
    if (out && (s & EDDY__M_OUTPUT) && t->vt->out_size)
        memcpy(out, eddy__task_out(t), t->vt->out_size);
    wait_join_waker_back(t, s);
    eddy_waker_drop(&t->join_waker); /* the field is ours again */
    return EDDY_READY;
}

eddy_poll eddy__mt_join_poll(struct eddy__task *t, eddy_cx *cx, void *out)
{
    uint64_t s = atomic_load_explicit(&t->word, memory_order_acquire);
    if (s & EDDY__M_COMPLETE)
        return join_ready(t, s, out);
    if (s & EDDY__M_JOIN_WAKER) {
        /* Published: the task side may read it at any moment, but only we
         * replace it, and only after taking it back. */
        if (eddy_waker_will_wake(&t->join_waker, cx->waker))
            return EDDY_PENDING;
        do {
            if (s & EDDY__M_COMPLETE)
                return join_ready(t, s, out);
        } while (!atomic_compare_exchange_weak_explicit(&t->word, &s, s & ~(uint64_t)EDDY__M_JOIN_WAKER,
                                                        memory_order_acq_rel, memory_order_acquire));
        s &= ~(uint64_t)EDDY__M_JOIN_WAKER;
    }
    eddy_waker_set(&t->join_waker, cx->waker);
    do {
        if (s & EDDY__M_COMPLETE)
            return join_ready(t, s, out);
    } while (!atomic_compare_exchange_weak_explicit(&t->word, &s, s | EDDY__M_JOIN_WAKER, memory_order_acq_rel,
                                                    memory_order_acquire));
    return EDDY_PENDING;
}

int eddy__mt_join_status(const struct eddy__task *t)
{
    uint64_t s = atomic_load_explicit(&((struct eddy__task *)t)->word, memory_order_acquire);
    if (!(s & EDDY__M_COMPLETE))
        return -EAGAIN;
    return (s & EDDY__M_OUTPUT) ? 0 : -ECANCELED;
}

void eddy__mt_join_abort(struct eddy__task *t)
{
    uint64_t s = atomic_load_explicit(&t->word, memory_order_acquire);
    uint64_t ns;
    do {
        if (s & (EDDY__M_COMPLETE | EDDY__M_CANCELLED))
            return;
        ns = s | EDDY__M_CANCELLED;
        if (!(s & (EDDY__M_RUNNING | EDDY__M_NOTIFIED)))
            ns |= EDDY__M_NOTIFIED, ns += EDDY__M_REF_ONE; /* idle: queue it so a worker drops it */
    } while (!atomic_compare_exchange_weak_explicit(&t->word, &s, ns, memory_order_acq_rel, memory_order_acquire));
    if (!(s & (EDDY__M_RUNNING | EDDY__M_NOTIFIED)))
        schedule(t, false);
}

void eddy__mt_join_detach(struct eddy__task *t)
{
    uint64_t s = atomic_load_explicit(&t->word, memory_order_acquire);
    uint64_t ns;
    do {
        ns = s & ~(uint64_t)EDDY__M_JOIN;
        if (!(s & EDDY__M_COMPLETE))
            ns &= ~(uint64_t)EDDY__M_JOIN_WAKER;
    } while (!atomic_compare_exchange_weak_explicit(&t->word, &s, ns, memory_order_acq_rel, memory_order_acquire));
    if (!((s & EDDY__M_COMPLETE) && (s & EDDY__M_JOIN_WAKER)))
        eddy_waker_drop(&t->join_waker); /* ours; else the completer drops it */
    task_unref(t, 1);
}

void eddy__mt_join_drop(struct eddy__task *t)
{
    uint64_t s = atomic_load_explicit(&t->word, memory_order_acquire);
    if (s & EDDY__M_JOIN_WAKER) {
        do {
            if (s & EDDY__M_COMPLETE) {
                wait_join_waker_back(t, s);
                break;
            }
        } while (!atomic_compare_exchange_weak_explicit(&t->word, &s, s & ~(uint64_t)EDDY__M_JOIN_WAKER,
                                                        memory_order_acq_rel, memory_order_acquire));
    }
    eddy_waker_drop(&t->join_waker);
}

/* ---- statistics -------------------------------------------------------------------------------------- */

int eddy__mt_stats(eddy_rt *rt, eddy_rt_stats *st)
{
    struct eddy__mt *mt = rt->mt;
    memset(st, 0, sizeof *st);
    for (unsigned i = 0; i < mt->n; i++) {
        struct eddy__worker *w = mt->w[i];
        st->polls += atomic_load_explicit(&w->n_polls, memory_order_relaxed);
        st->completed += atomic_load_explicit(&w->n_completed, memory_order_relaxed);
        st->cancelled += atomic_load_explicit(&w->n_cancelled, memory_order_relaxed);
        st->parks += atomic_load_explicit(&w->n_parks, memory_order_relaxed);
        st->accept_stalls += EDDY__LOAD_RELAXED(&w->core.accept_stalls);
    }
    st->accept_stalls += EDDY__LOAD_RELAXED(&mt->ext.accept_stalls);
    st->remote_wakes = atomic_load_explicit(&mt->sh->remote_wakes, memory_order_relaxed);
    st->spawned = atomic_load_explicit(&mt->spawned, memory_order_relaxed);
    for (unsigned i = 0; i < mt->n; i++)
        st->spawned += atomic_load_explicit(&mt->w[i]->n_spawned, memory_order_relaxed);
    uint64_t ended = st->completed + st->cancelled;
    st->alive = st->spawned > ended ? st->spawned - ended : 0;
    st->task_header_size = sizeof(struct eddy__task);
    st->io_backend = mt->driver->ops->name;
    return 0;
}
