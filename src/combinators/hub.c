/* The per-child wakers of the combinators and the parent waker slot they
 * share.  The protocol is described in hub.h and in
 * docs/design/0007-combinators.md. */
#include "hub.h"


/* How long hub_release waits for a wake in flight on another thread (a
 * few atomics, unless that thread is preempted) before it calls the clone
 * leaked: 64 spins, then yielding the CPU for up to this long. */
#define EDDY__HUB_WAIT_NS (UINT64_C(1000) * 1000 * 1000)

/* ---- the parent slot ----------------------------------------------------- */

void eddy__hub_register(eddy__hub *h, const eddy_waker *w)
{
    unsigned exp = EDDY__AW_WAITING;
    if (atomic_compare_exchange_strong_explicit(&h->wstate, &exp, EDDY__AW_REGISTERING, memory_order_acquire,
                                                memory_order_acquire)) {
        eddy_waker_set(&h->parent, w);
        exp = EDDY__AW_REGISTERING;
        if (!atomic_compare_exchange_strong_explicit(&h->wstate, &exp, EDDY__AW_WAITING, memory_order_acq_rel,
                                                     memory_order_acquire)) {
            /* A child woke while we were storing: it saw REGISTERING and
             * left the wake to us. */
            atomic_store_explicit(&h->wstate, EDDY__AW_WAITING, memory_order_release);
            eddy_waker_wake_by_ref(w);
        }
        return;
    }
    /* A wake is running on another thread with the stored waker; it may
     * have missed what was queued before our take, so wake ourselves. */
    eddy_waker_wake_by_ref(w);
}

static inline void hub_wake_parent(eddy__hub *h)
{
    unsigned prev = atomic_fetch_or_explicit(&h->wstate, EDDY__AW_WAKING, memory_order_acq_rel);
    if (prev == EDDY__AW_WAITING) {
        eddy_waker_wake_by_ref(&h->parent);
        atomic_fetch_and_explicit(&h->wstate, ~(unsigned)EDDY__AW_WAKING, memory_order_release);
    }
}

eddy__wnode *eddy__hub_take(eddy__hub *h)
{
    if (atomic_load_explicit(&h->ready, memory_order_relaxed) == NULL)
        return NULL;
    eddy__wnode *lifo = atomic_exchange_explicit(&h->ready, NULL, memory_order_acquire);
    eddy__wnode *fifo = NULL;
    while (lifo) {
        eddy__wnode *n = lifo->next;
        lifo->next = fifo;
        fifo = lifo;
        lifo = n;
    }
    return fifo;
}

void eddy__hub_release(eddy__hub *h, const char *what)
{
    /* Every child has been dropped, so every clone its leaves made has been
     * released or is being consumed right now by a wake on another thread
     * (a waker taken out of a wait queue and woken outside its lock).  Such
     * a wake ends with the release decrement, after its last access to the
     * records and to this hub: wait for it, briefly.  A clone that is still
     * alive after that was leaked by a child, and would be a use after free
     * the day it is woken. */
    long live = atomic_load_explicit(&h->live, memory_order_acquire);
    uint64_t t0 = 0;
    for (unsigned i = 0; live != 0; i++) {
        if (i >= 64) {
            eddy__yield_cpu();
            if ((i & 63) == 0) {
                uint64_t now = eddy__mono_ns();
                if (t0 == 0)
                    t0 = now;
                else if (now - t0 > EDDY__HUB_WAIT_NS)
                    break;
            }
        }
        live = atomic_load_explicit(&h->live, memory_order_acquire);
    }
    if (EDDY_UNLIKELY(live != 0)) {
#if EDDY_DEBUG
        eddy__warn("%s: %ld child waker clone(s) still alive after every child was dropped", what, live);
        eddy_misuse(what, "a child's waker outlived the child: its drop did not release a waker clone "
                          "(the wakers point into the combinator, so this would be a use after free)");
#else
        eddy__warn("%s: %ld child waker clone(s) still alive after every child was dropped; waking one "
                   "later is a use after free",
                   what, live);
#endif
    }
    eddy_waker_drop(&h->parent);
}

/* ---- the child waker ---------------------------------------------------- */

static eddy_waker cw_clone(const void *p);
static void cw_wake(const void *p);
static void cw_wake_by_ref(const void *p);
static void cw_drop(const void *p);

const eddy_waker_vtable eddy__child_waker_vt = {cw_clone, cw_wake, cw_wake_by_ref, cw_drop};

static eddy_waker cw_clone(const void *p)
{
    const eddy__wnode *n = p;
    atomic_fetch_add_explicit(&n->hub->live, 1, memory_order_relaxed);
    return (eddy_waker){&eddy__child_waker_vt, p};
}

static void cw_wake_by_ref(const void *p)
{
    eddy__wnode *n = (eddy__wnode *)p;
    if (atomic_exchange_explicit(&n->queued, 1, memory_order_acq_rel))
        return; /* already queued (the parent was woken then) or finished */
    eddy__hub *h = n->hub;
    eddy__wnode *head = atomic_load_explicit(&h->ready, memory_order_relaxed);
    do
        n->next = head;
    while (!atomic_compare_exchange_weak_explicit(&h->ready, &head, n, memory_order_release, memory_order_relaxed));
    hub_wake_parent(h);
}

/* The release decrement is the last access a waker makes to the hub. */
static void cw_drop(const void *p)
{
    const eddy__wnode *n = p;
    atomic_fetch_sub_explicit(&n->hub->live, 1, memory_order_release);
}

static void cw_wake(const void *p)
{
    cw_wake_by_ref(p);
    cw_drop(p);
}
