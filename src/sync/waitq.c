/* The lock's slow path (spin, then sleep on a futex), batched wake-ups of
 * whole queues, and the thread parker behind the _blocking variants. */
#include "waitq.h"


/* ---- the lock ------------------------------------------------------------- */

/* Critical sections are a few dozen instructions, so a short spin usually
 * wins; past it the holder was probably descheduled (more threads than
 * cores), and sleeping beats burning its CPU. */
#define SPINS 64

void eddy__lock_slow(eddy__lock *l)
{
    for (int i = 0; i < SPINS; i++) {
        uint32_t v = atomic_load_explicit(&l->v, memory_order_relaxed);
        if (v == 0) {
            if (atomic_compare_exchange_weak_explicit(&l->v, &v, 1, memory_order_acquire, memory_order_relaxed))
                return;
        } else if (v == 2) {
            break; /* others already sleep: queue behind them */
        }
        eddy__cpu_relax();
    }
    /* From here the lock word says "sleepers" (2) while we hold it, so the
     * release wakes one of them; one extra wake at worst. */
    while (atomic_exchange_explicit(&l->v, 2, memory_order_acquire) != 0)
        eddy__futex_wait(&l->v, 2);
}

void eddy__lock_wake(eddy__lock *l) { eddy__futex_wake(&l->v, 1); }

/* ---- whole-queue releases -------------------------------------------------- */

void eddy__waitq_release_older(eddy__waitq *q, eddy__lock *l, eddy__wakelist *wl, uint32_t gen, uint32_t state)
{
    for (;;) {
        eddy__waiter *w = q->head;
        /* Generations wrap: "older" is a negative signed distance. */
        if (!w || (int32_t)(w->arg - gen) >= 0)
            return;
        if (eddy__wakelist_full(wl))
            eddy__wakelist_flush_relock(wl, l);
        else
            eddy__waitq_release_one(q, wl, state);
    }
}

void eddy__waitq_release_all(eddy__waitq *q, eddy__lock *l, eddy__wakelist *wl, uint32_t state)
{
    while (q->head) {
        if (eddy__wakelist_full(wl))
            eddy__wakelist_flush_relock(wl, l);
        else
            eddy__waitq_release_one(q, wl, state);
    }
}

/* ---- the thread parker ------------------------------------------------------
 * state: 0 empty, 1 notified, -1 (UINT32_MAX) parked.  refs counts the
 * waker references (the blocking call's own one included). */

struct parker {
    _Atomic uint32_t state;
    _Atomic uint32_t refs;
};

#define P_EMPTY 0u
#define P_NOTIFIED 1u
#define P_PARKED UINT32_MAX

static void park(struct parker *p)
{
    /* NOTIFIED -> EMPTY and return; EMPTY -> PARKED and sleep. */
    if (atomic_fetch_sub_explicit(&p->state, 1, memory_order_acquire) == P_NOTIFIED)
        return;
    for (;;) {
        eddy__futex_wait(&p->state, P_PARKED);
        uint32_t n = P_NOTIFIED;
        if (atomic_compare_exchange_strong_explicit(&p->state, &n, P_EMPTY, memory_order_acquire,
                                                    memory_order_relaxed))
            return;
    }
}

static void unpark(struct parker *p)
{
    if (atomic_exchange_explicit(&p->state, P_NOTIFIED, memory_order_release) == P_PARKED)
        eddy__futex_wake(&p->state, 1);
}

static eddy_waker pk_clone(const void *d);
static void pk_wake_by_ref(const void *d) { unpark((struct parker *)d); }
static void pk_drop(const void *d)
{
    atomic_fetch_sub_explicit(&((struct parker *)d)->refs, 1, memory_order_release);
}
static void pk_wake(const void *d)
{
    pk_wake_by_ref(d);
    pk_drop(d); /* last touch of the parker */
}

static const eddy_waker_vtable parker_vt = {pk_clone, pk_wake, pk_wake_by_ref, pk_drop};

static eddy_waker pk_clone(const void *d)
{
    atomic_fetch_add_explicit(&((struct parker *)d)->refs, 1, memory_order_relaxed);
    return (eddy_waker){&parker_vt, d};
}

int eddy__block_thread(eddy__poll_fn poll, void *fut, void *out)
{
    if (eddy__tls_core)
        return -EDDY_EMISUSE;
    struct parker p;
    atomic_init(&p.state, P_EMPTY);
    atomic_init(&p.refs, 1);
    eddy_waker w = {&parker_vt, &p};
    eddy_cx cx = {&w, NULL};
    while (poll(fut, &cx, out) == EDDY_PENDING)
        park(&p);
    /* A waker taken out of a queue may still be on its way to us (woken
     * after the other side released its lock): wait until it is done. */
    while (atomic_load_explicit(&p.refs, memory_order_acquire) != 1)
        eddy__yield_cpu();
    return 0;
}

bool eddy__chan_tx_drop(eddy__lock *lk, uint32_t *txs, _Atomic uint32_t *refs, eddy__waitq *q)
{
    eddy__wakelist wl;
    eddy__wakelist_init(&wl);
    eddy__lock_acquire(lk);
    if (--*txs == 0)
        eddy__waitq_release_all(q, lk, &wl, EDDY__W_WOKEN);
    eddy__lock_release(lk);
    eddy__wakelist_wake(&wl);
    return eddy__chan_unref(refs);
}
