/* Notify and Barrier. */
#include "waitq.h"

/* ---- Notify ------------------------------------------------------------------
 * Node states: QUEUED; GRANTED = picked by notify_one (must pass it on if
 * dropped); WOKEN = released by notify_all. */

void eddy_notify_init(eddy_notify *n)
{
    eddy__lock_init(&n->lk);
    n->permit = 0;
    atomic_init(&n->gen, 0);
    n->reserved = 0;
    eddy__waitq_init(&n->q);
}

void eddy_notify_one(eddy_notify *n)
{
    eddy__wakelist wl;
    eddy__wakelist_init(&wl);
    eddy__lock_acquire(&n->lk);
    if (!eddy__waitq_release_one(&n->q, &wl, EDDY__W_GRANTED))
        n->permit = 1;
    eddy__lock_release(&n->lk);
    eddy__wakelist_wake(&wl);
}

void eddy_notify_all(eddy_notify *n)
{
    eddy__wakelist wl;
    eddy__wakelist_init(&wl);
    eddy__lock_acquire(&n->lk);
    uint32_t gen = atomic_load_explicit(&n->gen, memory_order_relaxed) + 1;
    /* Release: a future initialised after this reads the new generation
     * and, with it, everything written before this notify_all. */
    atomic_store_explicit(&n->gen, gen, memory_order_release);
    eddy__waitq_release_older(&n->q, &n->lk, &wl, gen, EDDY__W_WOKEN);
    eddy__lock_release(&n->lk);
    eddy__wakelist_wake(&wl);
}

void eddy_notified_init(eddy_notified *f, eddy_notify *n)
{
    f->w = (eddy__waiter)EDDY__WAITER_INIT;
    f->w.arg = atomic_load_explicit(&n->gen, memory_order_acquire);
    f->n = n;
}

eddy_poll eddy_notified_poll(eddy_notified *f, eddy_cx *cx, int *out)
{
    eddy__waiter *w = &f->w;
    eddy_notify *n = f->n;
    eddy_waker old = EDDY_WAKER_EMPTY;
    bool ready;
    eddy__waiter_check_done(w, "eddy_notified");
    eddy__lock_acquire(&n->lk);
    if (w->phase == EDDY__P_IDLE) {
        if (atomic_load_explicit(&n->gen, memory_order_relaxed) != w->arg) {
            ready = true; /* a notify_all since init */
        } else if (n->permit) {
            n->permit = 0;
            ready = true;
        } else {
            eddy__waiter_enqueue(&n->q, w, cx->waker);
            ready = false;
        }
    } else if (w->state == EDDY__W_QUEUED) {
        eddy__waiter_check(&n->q, w, "eddy_notified");
        eddy__waiter_refresh(w, cx->waker, &old);
        ready = false;
    } else {
        ready = true; /* GRANTED or WOKEN */
    }
    eddy__lock_release(&n->lk);
    if (ready)
        w->phase = EDDY__P_DONE;
    eddy_waker_drop(&old);
    if (!ready)
        return EDDY_PENDING;
    if (out)
        *out = 0;
    return EDDY_READY;
}

void eddy_notified_drop(eddy_notified *f)
{
    eddy__waiter *w = &f->w;
    if (w->phase != EDDY__P_WAITING) {
        w->phase = EDDY__P_DONE;
        return;
    }
    eddy_notify *n = f->n;
    eddy__wakelist wl;
    eddy__wakelist_init(&wl);
    eddy_waker mine = EDDY_WAKER_EMPTY;
    eddy__lock_acquire(&n->lk);
    if (w->state == EDDY__W_QUEUED) {
        eddy__waitq_remove(&n->q, w);
        mine = w->waker;
        w->waker = EDDY_WAKER_EMPTY;
    } else if (w->state == EDDY__W_GRANTED) {
        /* A notify_one it will never report: pass it on. */
        if (!eddy__waitq_release_one(&n->q, &wl, EDDY__W_GRANTED))
            n->permit = 1;
    }
    eddy__lock_release(&n->lk);
    w->phase = EDDY__P_DONE;
    eddy__wakelist_wake(&wl);
    eddy_waker_drop(&mine);
}

/* ---- Barrier -------------------------------------------------------------------
 * Nodes of the current generation wait in q; the last arrival releases
 * them (WOKEN) and leads. */

void eddy_barrier_init(eddy_barrier *b, uint32_t parties)
{
    eddy__lock_init(&b->lk);
    b->n = parties;
    b->arrived = 0;
    b->gen = 0;
    eddy__waitq_init(&b->q);
}

void eddy_barrier_wait_init(eddy_barrier_wait *f, eddy_barrier *b)
{
    f->w = (eddy__waiter)EDDY__WAITER_INIT;
    f->b = b;
}

eddy_poll eddy_barrier_wait_poll(eddy_barrier_wait *f, eddy_cx *cx, int *out)
{
    eddy__waiter *w = &f->w;
    eddy_barrier *b = f->b;
    eddy__wakelist wl;
    eddy_waker old = EDDY_WAKER_EMPTY;
    int result = -1; /* -1: pending */
    eddy__waiter_check_done(w, "eddy_barrier_wait");
    eddy__wakelist_init(&wl);
    eddy__lock_acquire(&b->lk);
    if (w->phase == EDDY__P_IDLE) {
        uint32_t parties = b->n ? b->n : 1;
        if (++b->arrived < parties) {
            w->arg = b->gen;
            eddy__waiter_enqueue(&b->q, w, cx->waker);
        } else {
            /* The last one: release this generation, lead. */
            b->arrived = 0;
            b->gen++;
            eddy__waitq_release_older(&b->q, &b->lk, &wl, b->gen, EDDY__W_WOKEN);
            result = 1;
        }
    } else if (w->state == EDDY__W_QUEUED) {
        eddy__waiter_check(&b->q, w, "eddy_barrier_wait");
        eddy__waiter_refresh(w, cx->waker, &old);
    } else {
        result = 0; /* WOKEN */
    }
    eddy__lock_release(&b->lk);
    if (result >= 0)
        w->phase = EDDY__P_DONE;
    eddy__wakelist_wake(&wl);
    eddy_waker_drop(&old);
    if (result < 0)
        return EDDY_PENDING;
    if (out)
        *out = result;
    return EDDY_READY;
}

void eddy_barrier_wait_drop(eddy_barrier_wait *f)
{
    eddy__waiter *w = &f->w;
    if (w->phase != EDDY__P_WAITING) {
        w->phase = EDDY__P_DONE;
        return;
    }
    eddy_barrier *b = f->b;
    eddy_waker mine = EDDY_WAKER_EMPTY;
    eddy__lock_acquire(&b->lk);
    if (w->state == EDDY__W_QUEUED) {
        eddy__waitq_remove(&b->q, w);
        /* Withdraw the arrival, unless its generation already completed
         * (the leader is releasing it in batches right now). */
        if (w->arg == b->gen)
            b->arrived--;
        mine = w->waker;
        w->waker = EDDY_WAKER_EMPTY;
    }
    eddy__lock_release(&b->lk);
    w->phase = EDDY__P_DONE;
    eddy_waker_drop(&mine);
}
