/* Internal: the wake records shared by join, try_join, select and JoinSet.
 *
 * A hub is the part of a combinator that its children's wakers reach: a
 * lock-free stack of woken records and the parent's waker.  Every child has
 * a record (eddy__wnode); the child's waker is (&eddy__child_waker_vt,
 * &record).  Waking it:
 *   1. sets record->queued (if it was already set the child is queued or
 *      finished: nothing more to do, the parent was already woken);
 *   2. pushes the record on hub->ready (Treiber stack: many pushers, one
 *      taker that takes the whole stack at once, so there is no ABA);
 *   3. wakes the parent through the atomic-waker protocol below.
 * The poller registers the parent's waker first, then takes the stack,
 * clears each record's queued flag (an exchange) and only then polls that
 * child, so a wake that happens during or after the child's poll queues it
 * again: no lost wake-up.
 *
 * The parent waker slot (after futures-rs's AtomicWaker, with wake by
 * reference so that a wake costs no clone):
 *   wstate = WAITING | REGISTERING | WAKING bits.
 *   register(w): CAS WAITING -> REGISTERING, store w (eddy_waker_set), CAS
 *     REGISTERING -> WAITING; if a wake arrived meanwhile (the CAS fails)
 *     reset to WAITING and wake w.  If the first CAS fails a wake is in
 *     progress: wake w directly.
 *   wake(): fetch_or WAKING; if the state was WAITING, wake_by_ref the slot
 *     and clear WAKING.  Otherwise the registering thread, or the waker in
 *     progress, takes care of it (a registration during WAKING wakes the
 *     new waker itself, which covers the wake that coalesced).
 * See docs/design/0007-combinators.md. */
#ifndef EDDY_COMB_HUB_H
#define EDDY_COMB_HUB_H

#include "../core/internal.h"
#include <eddy/combinators.h>

enum {
    EDDY__WN_DONE = 1u << 0, /* finished or dropped: never polled again */
};

enum {
    EDDY__AW_WAITING = 0,
    EDDY__AW_REGISTERING = 1,
    EDDY__AW_WAKING = 2,
};

EDDY_HIDDEN extern const eddy_waker_vtable eddy__child_waker_vt;

static inline void eddy__hub_init(eddy__hub *h)
{
    atomic_init(&h->ready, NULL);
    atomic_init(&h->wstate, EDDY__AW_WAITING);
    h->parent = EDDY_WAKER_EMPTY;
    atomic_init(&h->live, 0);
    h->self = h;
}

/* Detects a hub that moved after its first poll (debug builds). */
static inline void eddy__hub_check(const eddy__hub *h, const char *what)
{
#if EDDY_DEBUG
    if (h->self != h)
        eddy_misuse(what, "the combinator moved in memory after its first poll");
#else
    (void)h;
    (void)what;
#endif
}

/* Prepares a record of hub h.  queued: 1 = "will be polled anyway" (wakes
 * are absorbed until the poller clears it), 0 = the first wake queues it. */
static inline void eddy__wnode_init(eddy__wnode *n, eddy__hub *h, unsigned queued)
{
    n->next = NULL;
    n->hub = h;
    atomic_init(&n->queued, queued);
    n->flags = 0;
}

/* The waker of a record (borrowed: not a clone). */
static inline eddy_waker eddy__wnode_waker(eddy__wnode *n) { return (eddy_waker){&eddy__child_waker_vt, n}; }

/* Called just before polling the record's child: a wake from now on
 * queues it again.  The exchange also acquires what the waker published
 * before it woke (the child's new state). */
static inline void eddy__wnode_begin_poll(eddy__wnode *n)
{
    atomic_exchange_explicit(&n->queued, 0, memory_order_acq_rel);
}

/* The child finished or was dropped: later wakes (there should be none
 * once it is dropped) are absorbed and it is never queued again. */
static inline void eddy__wnode_finish(eddy__wnode *n)
{
    n->flags |= EDDY__WN_DONE;
    atomic_store_explicit(&n->queued, 1, memory_order_relaxed);
}

/* Stores the parent's waker (see the protocol above). */
EDDY_HIDDEN void eddy__hub_register(eddy__hub *h, const eddy_waker *w);

/* Takes every record woken since the last take, oldest first. */
EDDY_HIDDEN eddy__wnode *eddy__hub_take(eddy__hub *h);

/* Releases the parent waker.  Called once every child is dropped, so no
 * child waker can be running; debug builds check that no clone survived
 * (what: the combinator's name for the message). */
EDDY_HIDDEN void eddy__hub_release(eddy__hub *h, const char *what);

#endif
