/* The FIFO semaphore, and Semaphore, Mutex and RwLock on top of it.
 *
 * state = permits << 2 | WAITERS | CLOSED.  The lock-free paths (a CAS on
 * state) run only while WAITERS is clear, i.e. while the queue is empty:
 * - try_acquire / the first poll of an acquire take permits with one CAS;
 * - release adds permits with one CAS.
 * WAITERS is set and cleared only with the lock held, and only together
 * with the queue becoming non-empty / empty, so once it is set every change
 * of the permit count goes through the lock, where permits are handed to
 * the head of the queue in FIFO order.  No partial assignment: the head
 * waiter wanting n simply holds everyone back until n are available. */
#include "waitq.h"

#include <errno.h>

#define SEM_CLOSED UINT64_C(1)
#define SEM_WAITERS UINT64_C(2)
#define SEM_SHIFT 2

static inline uint64_t avail_of(uint64_t s) { return s >> SEM_SHIFT; }

void eddy__sem_init(eddy__sem *s, uint64_t permits)
{
    if (permits > EDDY_SEMAPHORE_MAX_PERMITS)
        eddy_misuse("eddy_semaphore_init", "more than EDDY_SEMAPHORE_MAX_PERMITS permits");
    atomic_init(&s->state, permits << SEM_SHIFT);
    eddy__lock_init(&s->lk);
    eddy__waitq_init(&s->q);
}

/* Lock-free attempt.  0, -EAGAIN (not enough, or others wait), -EDDY_ECLOSED. */
static inline int try_fast(eddy__sem *s, uint32_t n)
{
    uint64_t cur = atomic_load_explicit(&s->state, memory_order_relaxed);
    for (;;) {
        if (EDDY_UNLIKELY(cur & (SEM_CLOSED | SEM_WAITERS)))
            return (cur & SEM_CLOSED) ? -EDDY_ECLOSED : -EAGAIN;
        if (avail_of(cur) < n)
            return -EAGAIN;
        if (atomic_compare_exchange_weak_explicit(&s->state, &cur, cur - ((uint64_t)n << SEM_SHIFT),
                                                  memory_order_acquire, memory_order_relaxed))
            return 0;
    }
}

int eddy__sem_try_acquire(eddy__sem *s, uint32_t n) { return try_fast(s, n); }

/* With the lock held: hands permits to the head of the queue while they
 * suffice; clears WAITERS when the queue empties.  Relocks between full
 * batches of wakers. */
static void grant_locked(eddy__sem *s, eddy__wakelist *wl)
{
    for (;;) {
        eddy__waiter *w = s->q.head;
        if (!w) {
            atomic_fetch_and_explicit(&s->state, ~SEM_WAITERS, memory_order_relaxed);
            return;
        }
        /* WAITERS is set: nobody changes the count without the lock. */
        uint64_t cur = atomic_load_explicit(&s->state, memory_order_relaxed);
        if (avail_of(cur) < w->arg)
            return;
        if (eddy__wakelist_full(wl)) {
            eddy__wakelist_flush_relock(wl, &s->lk);
            continue;
        }
        atomic_fetch_sub_explicit(&s->state, (uint64_t)w->arg << SEM_SHIFT, memory_order_relaxed);
        eddy__waitq_release_one(&s->q, wl, EDDY__W_GRANTED);
    }
}

static EDDY_NOINLINE void release_slow(eddy__sem *s, uint64_t n)
{
    eddy__wakelist wl;
    eddy__wakelist_init(&wl);
    eddy__lock_acquire(&s->lk);
    atomic_fetch_add_explicit(&s->state, n << SEM_SHIFT, memory_order_release);
    grant_locked(s, &wl);
    eddy__lock_release(&s->lk);
    eddy__wakelist_wake(&wl);
}

void eddy__sem_release(eddy__sem *s, uint64_t n)
{
    if (n == 0)
        return;
    uint64_t cur = atomic_load_explicit(&s->state, memory_order_relaxed);
    if (EDDY_UNLIKELY(n > EDDY_SEMAPHORE_MAX_PERMITS || avail_of(cur) > EDDY_SEMAPHORE_MAX_PERMITS - n))
        eddy_misuse("eddy_semaphore_release", "the permit count would exceed EDDY_SEMAPHORE_MAX_PERMITS");
    while (EDDY_LIKELY(!(cur & SEM_WAITERS))) {
        if (atomic_compare_exchange_weak_explicit(&s->state, &cur, cur + (n << SEM_SHIFT), memory_order_release,
                                                  memory_order_relaxed))
            return;
    }
    release_slow(s, n);
}

void eddy__sem_acquire_init(eddy__sem_acquire *f, eddy__sem *s, uint32_t n)
{
    f->w = (eddy__waiter)EDDY__WAITER_INIT;
    f->w.arg = n;
    f->sem = s;
}

static inline eddy_poll done(eddy__sem_acquire *f, int *out, int rc)
{
    f->w.phase = EDDY__P_DONE;
    if (out)
        *out = rc;
    return EDDY_READY;
}

/* First poll, when the lock-free attempt failed with -EAGAIN. */
static EDDY_NOINLINE eddy_poll acquire_slow(eddy__sem_acquire *f, eddy_cx *cx, int *out)
{
    eddy__sem *s = f->sem;
    uint32_t n = f->w.arg;
    eddy__lock_acquire(&s->lk);
    /* Announce a waiter first: from here no lock-free path changes the
     * count, so what we read next stays true while we hold the lock. */
    uint64_t cur = atomic_fetch_or_explicit(&s->state, SEM_WAITERS, memory_order_acquire);
    if (cur & SEM_CLOSED) {
        if (eddy__waitq_empty(&s->q))
            atomic_fetch_and_explicit(&s->state, ~SEM_WAITERS, memory_order_relaxed);
        eddy__lock_release(&s->lk);
        return done(f, out, -EDDY_ECLOSED);
    }
    if (eddy__waitq_empty(&s->q) && avail_of(cur) >= n) {
        /* Permits came back between the attempt and the lock. */
        atomic_fetch_sub_explicit(&s->state, ((uint64_t)n << SEM_SHIFT) | SEM_WAITERS, memory_order_relaxed);
        eddy__lock_release(&s->lk);
        return done(f, out, 0);
    }
    eddy__waiter_enqueue(&s->q, &f->w, cx->waker);
    eddy__lock_release(&s->lk);
    return EDDY_PENDING;
}

eddy_poll eddy__sem_acquire_poll(eddy__sem_acquire *f, eddy_cx *cx, int *out)
{
    eddy__waiter *w = &f->w;
    eddy__waiter_check_done(w, "semaphore acquire");
    if (EDDY_LIKELY(w->phase == EDDY__P_IDLE)) {
        if (EDDY_UNLIKELY(w->arg == 0))
            return done(f, out, 0);
        int rc = try_fast(f->sem, w->arg);
        if (EDDY_LIKELY(rc == 0) || rc == -EDDY_ECLOSED)
            return done(f, out, rc);
        return acquire_slow(f, cx, out);
    }
    /* Queued: look at the node under the lock. */
    eddy__sem *s = f->sem;
    eddy_waker old = EDDY_WAKER_EMPTY;
    eddy__lock_acquire(&s->lk);
    uint32_t st = w->state;
    if (st == EDDY__W_QUEUED) {
        eddy__waiter_check(&s->q, w, "semaphore acquire");
        eddy__waiter_refresh(w, cx->waker, &old);
    }
    eddy__lock_release(&s->lk);
    eddy_waker_drop(&old);
    if (st == EDDY__W_QUEUED)
        return EDDY_PENDING;
    return done(f, out, st == EDDY__W_GRANTED ? 0 : -EDDY_ECLOSED);
}

void eddy__sem_acquire_drop(eddy__sem_acquire *f)
{
    eddy__waiter *w = &f->w;
    if (w->phase != EDDY__P_WAITING) {
        w->phase = EDDY__P_DONE;
        return;
    }
    eddy__sem *s = f->sem;
    eddy__wakelist wl;
    eddy__wakelist_init(&wl);
    eddy_waker mine = EDDY_WAKER_EMPTY;
    eddy__lock_acquire(&s->lk);
    switch (w->state) {
    case EDDY__W_QUEUED:
        /* Leaving may unblock those behind (a writer at the head that
         * gives up lets the readers after it in). */
        eddy__waitq_remove(&s->q, w);
        mine = w->waker;
        w->waker = EDDY_WAKER_EMPTY;
        grant_locked(s, &wl);
        break;
    case EDDY__W_GRANTED:
        /* Handed permits it will never use: give them to the next. */
        atomic_fetch_add_explicit(&s->state, (uint64_t)w->arg << SEM_SHIFT, memory_order_release);
        grant_locked(s, &wl);
        break;
    default: /* CLOSED: holds nothing */
        break;
    }
    eddy__lock_release(&s->lk);
    w->phase = EDDY__P_DONE;
    eddy__wakelist_wake(&wl);
    eddy_waker_drop(&mine);
}

static eddy_poll acquire_poll_thunk(void *f, eddy_cx *cx, void *out)
{
    return eddy__sem_acquire_poll((eddy__sem_acquire *)f, cx, (int *)out);
}

int eddy__sem_acquire_blocking(eddy__sem *s, uint32_t n)
{
    if (eddy__tls_core)
        return -EDDY_EMISUSE; /* even when it would not have to wait */
    int rc = try_fast(s, n);
    if (rc != -EAGAIN)
        return rc;
    eddy__sem_acquire f;
    eddy__sem_acquire_init(&f, s, n);
    int err = eddy__block_thread(acquire_poll_thunk, &f, &rc);
    return err < 0 ? err : rc;
}

/* ---- Semaphore ------------------------------------------------------------ */

void eddy_semaphore_close(eddy_semaphore *sem)
{
    eddy__sem *s = &sem->s;
    eddy__wakelist wl;
    eddy__wakelist_init(&wl);
    eddy__lock_acquire(&s->lk);
    atomic_fetch_or_explicit(&s->state, SEM_CLOSED, memory_order_relaxed);
    eddy__waitq_release_all(&s->q, &s->lk, &wl, EDDY__W_CLOSED);
    atomic_fetch_and_explicit(&s->state, ~SEM_WAITERS, memory_order_relaxed);
    eddy__lock_release(&s->lk);
    eddy__wakelist_wake(&wl);
}

bool eddy_semaphore_is_closed(const eddy_semaphore *s)
{
    return (atomic_load_explicit(&s->s.state, memory_order_acquire) & SEM_CLOSED) != 0;
}

uint64_t eddy_semaphore_available(const eddy_semaphore *s)
{
    return avail_of(atomic_load_explicit(&s->s.state, memory_order_acquire));
}

/* ---- Mutex ----------------------------------------------------------------- */

void eddy_mutex_unlock(eddy_mutex *m)
{
    if (EDDY_UNLIKELY(avail_of(atomic_load_explicit(&m->s.state, memory_order_relaxed)) != 0))
        eddy_misuse("eddy_mutex_unlock", "the mutex is not locked");
    eddy__sem_release(&m->s, 1);
}

bool eddy_mutex_is_locked(const eddy_mutex *m)
{
    return avail_of(atomic_load_explicit(&m->s.state, memory_order_acquire)) == 0;
}

/* ---- RwLock ---------------------------------------------------------------- */

void eddy_rwlock_read_unlock(eddy_rwlock *l)
{
    if (EDDY_UNLIKELY(avail_of(atomic_load_explicit(&l->s.state, memory_order_relaxed)) >= EDDY_RWLOCK_MAX_READERS))
        eddy_misuse("eddy_rwlock_read_unlock", "no read lock is held");
    eddy__sem_release(&l->s, 1);
}

void eddy_rwlock_write_unlock(eddy_rwlock *l)
{
    if (EDDY_UNLIKELY(avail_of(atomic_load_explicit(&l->s.state, memory_order_relaxed)) != 0))
        eddy_misuse("eddy_rwlock_write_unlock", "the write lock is not held");
    eddy__sem_release(&l->s, EDDY_RWLOCK_MAX_READERS);
}

void eddy_rwlock_downgrade(eddy_rwlock *l)
{
    if (EDDY_UNLIKELY(avail_of(atomic_load_explicit(&l->s.state, memory_order_relaxed)) != 0))
        eddy_misuse("eddy_rwlock_downgrade", "the write lock is not held");
    eddy__sem_release(&l->s, EDDY_RWLOCK_MAX_READERS - 1);
}
