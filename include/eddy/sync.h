/* eddy/sync.h - async synchronisation: Mutex, RwLock, Semaphore, Notify,
 * Barrier.
 *
 * Every primitive here is a plain struct the user embeds (in a task frame,
 * in shared state, in a global): no allocation, a static initialiser, and
 * an _init function.  It may be moved or freed whenever no future refers to
 * it.  Every operation that can wait is a future following the awaitable
 * convention of eddy/coro.h:
 *
 *     EDDY_AWAIT(NULL, eddy_mutex_lock, &t->lk, &shared->mu);
 *     shared->counter++;                          // the critical section
 *     eddy_mutex_unlock(&shared->mu);
 *
 * Threads.  Every primitive is safe to use from several threads at once: a
 * task of one runtime, a task of another, and plain threads (which use the
 * _blocking variants or the try_ functions).  Each primitive's state is
 * protected by a small internal lock (an atomic word; uncontended: one
 * compare-and-swap to take it, one exchange to release it); wakers are
 * called after that lock is released.  The uncontended paths of
 * Semaphore, Mutex and RwLock do not even take that lock: they are one
 * compare-and-swap on the permit count.
 *
 * Waiting.  A future that has to wait puts a node embedded in itself (no
 * allocation) at the tail of the primitive's FIFO queue and returns
 * PENDING; a pending future therefore must not move (debug builds notice
 * a move).  Whatever it waits for (a lock, permits, a notification) is
 * handed to the node at the head of the queue, in order.
 *
 * Cancellation.  Dropping a future (X_drop, an aborted task, a lost
 * select, a timeout) removes its node from the queue in O(1).  If something
 * had already been handed to it but it had not yet returned READY, it is
 * passed on: to the next waiter, or back to the primitive.  So a cancelled
 * waiter never ends up holding a lock, never swallows permits, and never
 * makes a notification disappear.  Each operation below says exactly what
 * its drop does.
 *
 * Lifetime.  A primitive must outlive every future that refers to it, and
 * every future must be dropped (or have returned READY) before the memory
 * of the primitive is reused.
 *
 * Error values: 0 on success, -EAGAIN when a try_ function would have to
 * wait, -EDDY_ECLOSED for a closed semaphore, -EDDY_EMISUSE for a
 * _blocking call made on a runtime's thread (a task or block_on): it could
 * block the very thread that would have to release what it waits for, so
 * it does nothing and fails, whether or not it would have had to wait.
 */
#ifndef EDDY_SYNC_H
#define EDDY_SYNC_H

#include <eddy/future.h>

EDDY_BEGIN_DECLS

/* ---- internal: the lock, the waiter node and the queue ------------------
 * The layouts are public only so that primitives and futures have a size
 * known at compile time; do not touch the fields.  See
 * docs/design/0006-waiters-and-cancellation.md. */

/* A small lock: 0 free, 1 held, 2 held with sleepers (futex). */
typedef struct eddy__lock {
    _Atomic uint32_t v;
} eddy__lock;

/* A waiting future's node: linked in a primitive's queue while it waits.
 * state is shared (read and written with the primitive's lock held); phase
 * is the owning future's own view and is never touched by anyone else. */
typedef struct eddy__waiter {
    struct eddy__waiter *next, *prev;
    eddy_waker waker;   /* woken when the node is dequeued */
    uint16_t state;     /* EDDY__W_* (guarded by the primitive's lock) */
    uint16_t phase;     /* EDDY__P_* (owner only) */
    uint32_t arg;       /* per primitive: permits wanted, generation */
} eddy__waiter;

/* A FIFO of waiter nodes. */
typedef struct eddy__waitq {
    eddy__waiter *head, *tail;
} eddy__waitq;

enum {
    EDDY__W_NONE = 0,    /* never queued */
    EDDY__W_QUEUED = 1,  /* linked in a queue */
    EDDY__W_GRANTED = 2, /* dequeued, and handed what it waited for */
    EDDY__W_WOKEN = 3,   /* dequeued and woken; must look again */
    EDDY__W_CLOSED = 4,  /* dequeued because the primitive was closed */
};

enum {
    EDDY__P_IDLE = 0,    /* not polled yet, or polled without queueing */
    EDDY__P_WAITING = 1, /* was queued: the shared state says the rest */
    EDDY__P_DONE = 2,    /* returned READY, or dropped */
};

#define EDDY__WAITER_INIT {NULL, NULL, {NULL, NULL}, EDDY__W_NONE, EDDY__P_IDLE, 0}

/* The FIFO semaphore under Semaphore, Mutex and RwLock.  state holds the
 * available permits << 2, plus EDDY__SEM_WAITERS (the queue is not empty:
 * the lock-free paths stand aside) and EDDY__SEM_CLOSED. */
typedef struct eddy__sem {
    _Atomic uint64_t state;
    eddy__lock lk;
    eddy__waitq q;
} eddy__sem;

#define EDDY__SEM_INIT(permits) {(uint64_t)(permits) << 2, {0}, {NULL, NULL}}

typedef struct eddy__sem_acquire {
    eddy__waiter w; /* w.arg: permits wanted */
    eddy__sem *sem;
} eddy__sem_acquire;

/* The FIFO semaphore engine behind Semaphore, Mutex and RwLock.  Exported
 * only for the inline wrappers below, which document each operation; not
 * for direct use. */
EDDY_API void eddy__sem_init(eddy__sem *s, uint64_t permits);
EDDY_API void eddy__sem_acquire_init(eddy__sem_acquire *f, eddy__sem *s, uint32_t n);
EDDY_API eddy_poll eddy__sem_acquire_poll(eddy__sem_acquire *f, eddy_cx *cx, int *out);
EDDY_API void eddy__sem_acquire_drop(eddy__sem_acquire *f);
EDDY_API int eddy__sem_try_acquire(eddy__sem *s, uint32_t n);
EDDY_API void eddy__sem_release(eddy__sem *s, uint64_t n);
EDDY_API int eddy__sem_acquire_blocking(eddy__sem *s, uint32_t n);

/* ---- Semaphore -----------------------------------------------------------
 * A counting semaphore with a FIFO queue of acquirers: permits go to
 * waiters strictly in arrival order, and an acquirer of n permits at the
 * head of the queue holds back later ones (even those wanting fewer) until
 * n are available, so a large request is never starved by small ones.
 * While anyone waits, try_acquire fails rather than overtaking them. */
typedef struct eddy_semaphore {
    eddy__sem s;
} eddy_semaphore;

/* The most permits a semaphore can hold. */
#define EDDY_SEMAPHORE_MAX_PERMITS (UINT64_C(1) << 61)

/* Static initialiser: eddy_semaphore s = EDDY_SEMAPHORE_INIT(4); */
#define EDDY_SEMAPHORE_INIT(permits) {EDDY__SEM_INIT(permits)}

/* Initialises s with `permits` permits (at most EDDY_SEMAPHORE_MAX_PERMITS). */
EDDY_INLINE void eddy_semaphore_init(eddy_semaphore *s, uint64_t permits) { eddy__sem_init(&s->s, permits); }

/* Takes n permits if they are available now and nobody waits.  Returns 0,
 * -EAGAIN, or -EDDY_ECLOSED once the semaphore is closed. */
EDDY_INLINE int eddy_semaphore_try_acquire(eddy_semaphore *s, uint32_t n) { return eddy__sem_try_acquire(&s->s, n); }

/* Gives n permits back (any number, also more than were taken: that is
 * how permits are added).  Hands them to waiters in FIFO order.  Callable
 * from any thread, also after close. */
EDDY_INLINE void eddy_semaphore_release(eddy_semaphore *s, uint64_t n) { eddy__sem_release(&s->s, n); }

/* Closes the semaphore: every pending acquire completes with
 * -EDDY_ECLOSED, and so does every later acquire and try_acquire.
 * Permits held stay held (and may still be released). */
EDDY_API void eddy_semaphore_close(eddy_semaphore *s);

/* True once eddy_semaphore_close was called. */
EDDY_API bool eddy_semaphore_is_closed(const eddy_semaphore *s);

/* Permits available right now (a snapshot). */
EDDY_API uint64_t eddy_semaphore_available(const eddy_semaphore *s);

/* Acquire n permits.  Output int (out may be NULL): 0 once the n permits
 * are the caller's (give them back with eddy_semaphore_release),
 * -EDDY_ECLOSED if the semaphore is or gets closed first.  n = 0 completes
 * at once.  (A request for more permits than will ever be released waits
 * forever, and holds back everyone queued after it.)
 * Cancellation: dropped while waiting, the node leaves the queue (waiters
 * behind it that can now be served are served).  Dropped after the permits
 * were handed to it but before it returned READY, it releases them:
 * nothing is lost.  After READY the permits are the caller's, and drop
 * does nothing. */
typedef struct eddy_semaphore_acquire {
    eddy__sem_acquire a;
} eddy_semaphore_acquire;

EDDY_INLINE void eddy_semaphore_acquire_init(eddy_semaphore_acquire *f, eddy_semaphore *s, uint32_t n)
{
    eddy__sem_acquire_init(&f->a, &s->s, n);
}
EDDY_INLINE eddy_poll eddy_semaphore_acquire_poll(eddy_semaphore_acquire *f, eddy_cx *cx, int *out)
{
    return eddy__sem_acquire_poll(&f->a, cx, out);
}
EDDY_INLINE void eddy_semaphore_acquire_drop(eddy_semaphore_acquire *f) { eddy__sem_acquire_drop(&f->a); }

/* From a plain thread: waits (parking the thread) until n permits are
 * acquired.  Returns 0, -EDDY_ECLOSED, or -EDDY_EMISUSE inside a runtime. */
EDDY_INLINE int eddy_semaphore_acquire_blocking(eddy_semaphore *s, uint32_t n)
{
    return eddy__sem_acquire_blocking(&s->s, n);
}

/* ---- Mutex ---------------------------------------------------------------
 * An async mutual-exclusion lock, FIFO-fair: when it is unlocked while
 * tasks wait, it is handed directly to the one that has waited longest
 * (nobody can barge in between).  It guards no data by itself: lock it
 * around whatever the caller's critical section touches.  Any thread may
 * unlock it (there is no owner check beyond "it is locked"). */
typedef struct eddy_mutex {
    eddy__sem s;
} eddy_mutex;

#define EDDY_MUTEX_INIT {EDDY__SEM_INIT(1)}

EDDY_INLINE void eddy_mutex_init(eddy_mutex *m) { eddy__sem_init(&m->s, 1); }

/* Locks if the mutex is free and nobody waits.  Returns 0 or -EAGAIN. */
EDDY_INLINE int eddy_mutex_try_lock(eddy_mutex *m) { return eddy__sem_try_acquire(&m->s, 1); }

/* Unlocks; the longest waiter (if any) gets the lock.  Unlocking a mutex
 * that is not locked is a misuse (eddy_misuse stops the program). */
EDDY_API void eddy_mutex_unlock(eddy_mutex *m);

/* True while the mutex is locked (a snapshot). */
EDDY_API bool eddy_mutex_is_locked(const eddy_mutex *m);

/* Lock.  Output int (the out pointer may be NULL): 0 once the caller holds
 * the lock.
 * Cancellation: dropped while waiting, the node leaves the queue and the
 * caller never holds the lock.  Dropped after the lock was handed to it
 * but before it returned READY, it unlocks (which hands the lock to the
 * next waiter): a cancelled lock never leaves the mutex locked.  After
 * READY the lock is the caller's, and drop does nothing. */
typedef struct eddy_mutex_lock {
    eddy__sem_acquire a;
} eddy_mutex_lock;

EDDY_INLINE void eddy_mutex_lock_init(eddy_mutex_lock *f, eddy_mutex *m) { eddy__sem_acquire_init(&f->a, &m->s, 1); }
EDDY_INLINE eddy_poll eddy_mutex_lock_poll(eddy_mutex_lock *f, eddy_cx *cx, int *out)
{
    return eddy__sem_acquire_poll(&f->a, cx, out);
}
EDDY_INLINE void eddy_mutex_lock_drop(eddy_mutex_lock *f) { eddy__sem_acquire_drop(&f->a); }

/* From a plain thread: waits for the lock.  Returns 0, or -EDDY_EMISUSE
 * inside a runtime. */
EDDY_INLINE int eddy_mutex_lock_blocking(eddy_mutex *m) { return eddy__sem_acquire_blocking(&m->s, 1); }

/* ---- RwLock --------------------------------------------------------------
 * Many readers or one writer, fair: requests are served in arrival order,
 * so a waiting writer holds back readers that arrive after it (no writer
 * starvation), and the readers queued behind a writer all get in together
 * once it unlocks.  At most EDDY_RWLOCK_MAX_READERS concurrent readers. */
typedef struct eddy_rwlock {
    eddy__sem s;
} eddy_rwlock;

#define EDDY_RWLOCK_MAX_READERS ((UINT32_C(1) << 29) - 1)
#define EDDY_RWLOCK_INIT {EDDY__SEM_INIT(EDDY_RWLOCK_MAX_READERS)}

EDDY_INLINE void eddy_rwlock_init(eddy_rwlock *l) { eddy__sem_init(&l->s, EDDY_RWLOCK_MAX_READERS); }

/* Non-waiting variants: 0 or -EAGAIN (also when others wait). */
EDDY_INLINE int eddy_rwlock_try_read(eddy_rwlock *l) { return eddy__sem_try_acquire(&l->s, 1); }
EDDY_INLINE int eddy_rwlock_try_write(eddy_rwlock *l)
{
    return eddy__sem_try_acquire(&l->s, EDDY_RWLOCK_MAX_READERS);
}

/* Releases a read lock / the write lock (a misuse if not held). */
EDDY_API void eddy_rwlock_read_unlock(eddy_rwlock *l);
EDDY_API void eddy_rwlock_write_unlock(eddy_rwlock *l);

/* Turns the caller's write lock into a read lock without letting a writer
 * in between; readers queued at the head get in too. */
EDDY_API void eddy_rwlock_downgrade(eddy_rwlock *l);

/* Read lock / write lock.  Output int (out may be NULL): 0 once held.
 * Cancellation: as for eddy_mutex_lock.  Dropped while waiting, the node
 * leaves the queue (if it was a writer at the head, the readers behind it
 * get in); dropped after the lock was handed to it but before READY, it
 * releases what it was given.  Never leaves the lock held. */
typedef struct eddy_rwlock_read {
    eddy__sem_acquire a;
} eddy_rwlock_read;
typedef struct eddy_rwlock_write {
    eddy__sem_acquire a;
} eddy_rwlock_write;

EDDY_INLINE void eddy_rwlock_read_init(eddy_rwlock_read *f, eddy_rwlock *l) { eddy__sem_acquire_init(&f->a, &l->s, 1); }
EDDY_INLINE eddy_poll eddy_rwlock_read_poll(eddy_rwlock_read *f, eddy_cx *cx, int *out)
{
    return eddy__sem_acquire_poll(&f->a, cx, out);
}
EDDY_INLINE void eddy_rwlock_read_drop(eddy_rwlock_read *f) { eddy__sem_acquire_drop(&f->a); }

EDDY_INLINE void eddy_rwlock_write_init(eddy_rwlock_write *f, eddy_rwlock *l)
{
    eddy__sem_acquire_init(&f->a, &l->s, EDDY_RWLOCK_MAX_READERS);
}
EDDY_INLINE eddy_poll eddy_rwlock_write_poll(eddy_rwlock_write *f, eddy_cx *cx, int *out)
{
    return eddy__sem_acquire_poll(&f->a, cx, out);
}
EDDY_INLINE void eddy_rwlock_write_drop(eddy_rwlock_write *f) { eddy__sem_acquire_drop(&f->a); }

/* From a plain thread.  Return 0, or -EDDY_EMISUSE inside a runtime. */
EDDY_INLINE int eddy_rwlock_read_blocking(eddy_rwlock *l) { return eddy__sem_acquire_blocking(&l->s, 1); }
EDDY_INLINE int eddy_rwlock_write_blocking(eddy_rwlock *l)
{
    return eddy__sem_acquire_blocking(&l->s, EDDY_RWLOCK_MAX_READERS);
}

/* ---- Notify --------------------------------------------------------------
 * Wakes tasks without passing data: a building block for "wait until
 * something changed".
 * - eddy_notify_one wakes the longest waiter; if nobody waits it stores a
 *   single permit (several calls store one), which the next eddy_notified
 *   consumes at once: a notification sent just before the wait is not
 *   lost.
 * - eddy_notify_all wakes every eddy_notified future that exists at that
 *   moment: those waiting, and those initialised but not yet polled (the
 *   generation is read at init).  It stores no permit. */
typedef struct eddy_notify {
    eddy__lock lk;
    uint32_t permit;      /* a stored notify_one */
    _Atomic uint32_t gen; /* notify_all generation */
    uint32_t reserved;
    eddy__waitq q;
} eddy_notify;

#define EDDY_NOTIFY_INIT {{0}, 0, 0, 0, {NULL, NULL}}

/* Initialises n (same as EDDY_NOTIFY_INIT).  A Notify owns no memory. */
EDDY_API void eddy_notify_init(eddy_notify *n);
/* Wakes the longest waiter, or stores one permit (see above).  Any thread. */
EDDY_API void eddy_notify_one(eddy_notify *n);
/* Wakes every eddy_notified that exists now (see above).  Any thread. */
EDDY_API void eddy_notify_all(eddy_notify *n);

/* Wait for a notification.  Output int (out may be NULL): 0.
 * Cancellation: dropped while waiting, the node leaves the queue.  Dropped
 * after notify_one picked it but before it returned READY, it passes the
 * notification on: to the next waiter, or back as the stored permit.  (A
 * notify_all wake is not passed on: every other waiter got it as well.) */
typedef struct eddy_notified {
    eddy__waiter w; /* w.arg: the notify_all generation at init */
    eddy_notify *n;
} eddy_notified;

EDDY_API void eddy_notified_init(eddy_notified *f, eddy_notify *n);
EDDY_API eddy_poll eddy_notified_poll(eddy_notified *f, eddy_cx *cx, int *out);
EDDY_API void eddy_notified_drop(eddy_notified *f);

/* ---- Barrier -------------------------------------------------------------
 * n parties meet: each eddy_barrier_wait completes once n of them have
 * arrived, and exactly one of each group is told it is the leader.  The
 * barrier then starts over for the next group of n. */
typedef struct eddy_barrier {
    eddy__lock lk;
    uint32_t n;       /* parties per generation (0 behaves as 1) */
    uint32_t arrived; /* in the current generation */
    uint32_t gen;
    eddy__waitq q;
} eddy_barrier;

#define EDDY_BARRIER_INIT(parties) {{0}, (parties), 0, 0, {NULL, NULL}}

EDDY_API void eddy_barrier_init(eddy_barrier *b, uint32_t parties);

/* Wait at the barrier.  Output int (out may be NULL): 1 for the leader of
 * the generation (the last to arrive), 0 for the others.
 * Cancellation: dropped while waiting, it withdraws its arrival (the group
 * then needs one more party).  Dropped after its group was released,
 * nothing happens (the group completed). */
typedef struct eddy_barrier_wait {
    eddy__waiter w; /* w.arg: generation it joined */
    eddy_barrier *b;
} eddy_barrier_wait;

EDDY_API void eddy_barrier_wait_init(eddy_barrier_wait *f, eddy_barrier *b);
EDDY_API eddy_poll eddy_barrier_wait_poll(eddy_barrier_wait *f, eddy_cx *cx, int *out);
EDDY_API void eddy_barrier_wait_drop(eddy_barrier_wait *f);

EDDY_END_DECLS

#endif
