/* Internal: the small lock, the intrusive FIFO of waiter nodes, the list
 * of wakers to call after unlocking, and a thread parker for the
 * _blocking variants.  Shared by every primitive in src/sync.  See
 * docs/design/0006-waiters-and-cancellation.md.
 *
 * Rules every primitive follows:
 * - A waiter's links, waker and state are read and written only while
 *   holding the lock of the primitive it waits on.  Its phase belongs to
 *   the future that embeds it: IDLE means it never queued (so nobody else
 *   knows it and no lock is needed), DONE that it finished.
 * - Whoever dequeues a node moves its waker into a wake list, sets its
 *   state, and calls the waker only after releasing the lock.  The node
 *   itself is never touched again by the dequeuer: its future may be
 *   dropped or freed as soon as the lock is released.
 * - A node that was handed something (GRANTED) and is dropped before it
 *   returned READY passes it on under the same lock. */
#ifndef EDDY_SYNC_WAITQ_H
#define EDDY_SYNC_WAITQ_H

#include "../core/internal.h"
#include <eddy/sync.h>

/* ---- the lock ------------------------------------------------------------ */

EDDY_HIDDEN void eddy__lock_slow(eddy__lock *l);
EDDY_HIDDEN void eddy__lock_wake(eddy__lock *l);

static inline void eddy__lock_init(eddy__lock *l) { atomic_init(&l->v, 0); }

static inline void eddy__lock_acquire(eddy__lock *l)
{
    uint32_t z = 0;
    if (EDDY_LIKELY(atomic_compare_exchange_weak_explicit(&l->v, &z, 1, memory_order_acquire,
                                                          memory_order_relaxed)))
        return;
    eddy__lock_slow(l);
}

static inline void eddy__lock_release(eddy__lock *l)
{
    /* 2: someone sleeps on the futex.  Nothing of the lock's memory is
     * read after the exchange (the wake is a system call on the address),
     * so the primitive may be freed as soon as another thread gets in. */
    if (EDDY_UNLIKELY(atomic_exchange_explicit(&l->v, 0, memory_order_release) == 2))
        eddy__lock_wake(l);
}

/* ---- the queue ------------------------------------------------------------ */

static inline void eddy__waitq_init(eddy__waitq *q) { q->head = q->tail = NULL; }
static inline bool eddy__waitq_empty(const eddy__waitq *q) { return q->head == NULL; }

static inline void eddy__waitq_push(eddy__waitq *q, eddy__waiter *w)
{
    w->next = NULL;
    w->prev = q->tail;
    if (q->tail)
        q->tail->next = w;
    else
        q->head = w;
    q->tail = w;
}

/* O(1) removal of a node known to be in q. */
static inline void eddy__waitq_remove(eddy__waitq *q, eddy__waiter *w)
{
    if (w->prev)
        w->prev->next = w->next;
    else
        q->head = w->next;
    if (w->next)
        w->next->prev = w->prev;
    else
        q->tail = w->prev;
    w->next = w->prev = NULL;
}

static inline eddy__waiter *eddy__waitq_pop(eddy__waitq *q)
{
    eddy__waiter *w = q->head;
    if (w)
        eddy__waitq_remove(q, w);
    return w;
}

/* Debug check that a queued node has not moved since it was linked: its
 * neighbours (or the queue ends) must point back at it. */
static inline void eddy__waiter_check(const eddy__waitq *q, const eddy__waiter *w, const char *what)
{
#if EDDY_DEBUG
    const eddy__waiter *back = w->prev ? w->prev->next : q->head;
    const eddy__waiter *fwd = w->next ? w->next->prev : q->tail;
    if (back != w || fwd != w)
        eddy_misuse(what, "a pending future moved in memory (its wait-queue node is linked in place)");
#else
    (void)q;
    (void)w;
    (void)what;
#endif
}

/* Debug check on entry to a poll: not after READY. */
static inline void eddy__waiter_check_done(const eddy__waiter *w, const char *what)
{
#if EDDY_DEBUG
    if (w->phase == EDDY__P_DONE)
        eddy_misuse(what, "polled again after it returned EDDY_READY");
#else
    (void)w;
    (void)what;
#endif
}

/* Enqueues w (state QUEUED, phase WAITING) with a clone of waker. */
static inline void eddy__waiter_enqueue(eddy__waitq *q, eddy__waiter *w, const eddy_waker *waker)
{
    w->waker = eddy_waker_clone(waker);
    w->state = EDDY__W_QUEUED;
    w->phase = EDDY__P_WAITING;
    eddy__waitq_push(q, w);
}

/* A queued node polled again: keeps its waker if it wakes the same task,
 * else stores a clone of the new one; the replaced waker goes to *old, to
 * be dropped after unlocking. */
static inline void eddy__waiter_refresh(eddy__waiter *w, const eddy_waker *waker, eddy_waker *old)
{
    if (eddy_waker_will_wake(&w->waker, waker))
        return;
    *old = w->waker;
    w->waker = eddy_waker_clone(waker);
}

/* ---- wakers to call after unlocking ---------------------------------------- */

/* With the lock held, for a future that must wait: it stays in the queue
 * with cx's waker, or joins it (recording gen in w->arg).  The waker it
 * replaced goes to *old, for the caller to drop after unlocking. */
static inline void eddy__waiter_park(eddy__waitq *q, eddy__waiter *w, bool queued, uint32_t gen,
                                     const eddy_waker *waker, eddy_waker *old, const char *what)
{
    if (queued) {
        eddy__waiter_check(q, w, what);
        eddy__waiter_refresh(w, waker, old);
    } else {
        w->arg = gen;
        eddy__waiter_enqueue(q, w, waker);
    }
}

/* With the lock held, for a future that got what it waited for: it leaves
 * the queue if it is still in it, its waker moved to *old. */
static inline void eddy__waiter_leave(eddy__waitq *q, eddy__waiter *w, bool queued, eddy_waker *old)
{
    if (queued) {
        eddy__waitq_remove(q, w);
        *old = w->waker;
        w->waker = EDDY_WAKER_EMPTY;
    }
}

/* The drop of a waiting future that has nothing to pass on (each receiver
 * of a broadcast or watch has its own position): leave the queue if still
 * in it, drop the waker after unlocking. */
static inline void eddy__waiter_cancel(eddy__lock *lk, eddy__waitq *q, eddy__waiter *w)
{
    if (w->phase != EDDY__P_WAITING) {
        w->phase = EDDY__P_DONE;
        return;
    }
    eddy_waker mine = EDDY_WAKER_EMPTY;
    eddy__lock_acquire(lk);
    eddy__waiter_leave(q, w, w->state == EDDY__W_QUEUED, &mine);
    eddy__lock_release(lk);
    w->phase = EDDY__P_DONE;
    eddy_waker_drop(&mine);
}

/* ---- handles of broadcast and watch channels ----------------------------
 * `refs` counts every sender and receiver handle: the channel is freed
 * with the last one.  `txs` counts the senders: the last sender's drop ends
 * the stream for every waiting receiver. */

/* One more reference; true when the caller dropped the last one and must
 * free the channel. */
static inline bool eddy__chan_unref(_Atomic uint32_t *refs)
{
    return atomic_fetch_sub_explicit(refs, 1, memory_order_acq_rel) == 1;
}

static inline void eddy__chan_tx_clone(eddy__lock *lk, uint32_t *txs, _Atomic uint32_t *refs)
{
    eddy__lock_acquire(lk);
    (*txs)++;
    eddy__lock_release(lk);
    atomic_fetch_add_explicit(refs, 1, memory_order_relaxed);
}

/* Drops a sender (waking every waiter if it was the last); returns true
 * when the channel must be freed. */
EDDY_HIDDEN bool eddy__chan_tx_drop(eddy__lock *lk, uint32_t *txs, _Atomic uint32_t *refs, eddy__waitq *q);

#define EDDY__WAKELIST_CAP 32

typedef struct eddy__wakelist {
    unsigned n;
    eddy_waker w[EDDY__WAKELIST_CAP];
} eddy__wakelist;

static inline void eddy__wakelist_init(eddy__wakelist *wl) { wl->n = 0; }
static inline bool eddy__wakelist_full(const eddy__wakelist *wl) { return wl->n == EDDY__WAKELIST_CAP; }

/* Moves the waker of a dequeued node into the list. */
static inline void eddy__wakelist_take(eddy__wakelist *wl, eddy__waiter *w)
{
    wl->w[wl->n++] = w->waker;
    w->waker = EDDY_WAKER_EMPTY;
}

static inline void eddy__wakelist_wake(eddy__wakelist *wl)
{
    for (unsigned i = 0; i < wl->n; i++)
        eddy_waker_wake(&wl->w[i]);
    wl->n = 0;
}

/* With l held and the list full: releases l, wakes, takes l again.  The
 * caller's state must be consistent at this point. */
static inline void eddy__wakelist_flush_relock(eddy__wakelist *wl, eddy__lock *l)
{
    eddy__lock_release(l);
    eddy__wakelist_wake(wl);
    eddy__lock_acquire(l);
}

/* Dequeues, with l held, every node whose arg (a generation) is older than
 * gen, in FIFO order, setting their state; wakes them in batches (relocking
 * between batches).  Returns with l held and the last batch in wl.  Nodes
 * queued later carry gen or newer and stay. */
EDDY_HIDDEN void eddy__waitq_release_older(eddy__waitq *q, eddy__lock *l, eddy__wakelist *wl, uint32_t gen,
                                           uint32_t state);

/* Dequeues every node (state := state), in batches as above. */
EDDY_HIDDEN void eddy__waitq_release_all(eddy__waitq *q, eddy__lock *l, eddy__wakelist *wl, uint32_t state);

/* Dequeues the head node if any (state := state) into wl (room needed for
 * one).  Returns whether there was one. */
static inline bool eddy__waitq_release_one(eddy__waitq *q, eddy__wakelist *wl, uint32_t state)
{
    eddy__waiter *w = eddy__waitq_pop(q);
    if (!w)
        return false;
    w->state = state;
    eddy__wakelist_take(wl, w);
    return true;
}

/* ---- blocking from a plain thread -------------------------------------------
 * Polls fut with a waker that unparks the calling thread, parking between
 * polls, until READY.  Returns 0, or -EDDY_EMISUSE on a runtime's thread
 * (nothing is polled then).  Returns only once every clone of its waker
 * has been released, so nothing can wake a dead stack frame. */
typedef eddy_poll (*eddy__poll_fn)(void *fut, eddy_cx *cx, void *out);
EDDY_HIDDEN int eddy__block_thread(eddy__poll_fn poll, void *fut, void *out);

/* Budget: true if the operation may proceed now (see eddy__coop_spend). */
static inline bool eddy__sync_coop(eddy_cx *cx) { return eddy__coop_spend(cx); }

#endif
