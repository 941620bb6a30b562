/* mpsc channels, bounded and unbounded.
 *
 * One lock guards a ring buffer of values and two queues: senders waiting
 * for room (bounded only) and receive futures waiting for a value.
 *
 * Backpressure without losing values on cancellation: a waiting sender is
 * not handed a copy of its value's destination, it is handed a *slot
 * reservation* (GRANTED, counted in `reserved`).  Its next poll writes the
 * value into the ring.  If it is dropped first, the reservation goes to
 * the next waiting sender, and the value never left the caller.  So a
 * send either completes (the value is in the channel) or leaves no trace.
 *
 * Receives never take a value out of the ring except in the poll that
 * returns READY, so a dropped receive cannot lose one. */
#include "waitq.h"

#include <eddy/channel.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct eddy__mpsc {
    eddy__lock lk;
    _Atomic uint32_t refs; /* handles: senders + the receiver */
    uint32_t txs;          /* sender handles */
    bool rx_alive;
    bool closed;           /* receiver closed or dropped: sends fail */
    size_t elem;
    size_t bound;          /* capacity; 0 = unbounded */
    size_t reserved;       /* slots granted to senders that have not yet written */
    size_t cap, head, len; /* the ring */
    unsigned char *buf;
    eddy__waitq sendq;
    eddy__waitq recvq;
};

#define CH(h) ((struct eddy__mpsc *)(h))

static int mpsc_alloc(eddy_mpsc_tx **tx, eddy_mpsc_rx **rx, size_t elem, size_t bound)
{
    if (!tx || !rx)
        return -EINVAL;
    size_t bytes = 0;
    if (bound) {
        if (elem && bound > (SIZE_MAX - sizeof(struct eddy__mpsc)) / elem)
            return -EINVAL;
        bytes = bound * elem;
    }
    struct eddy__mpsc *ch = malloc(sizeof *ch + bytes);
    if (!ch)
        return -ENOMEM;
    eddy__lock_init(&ch->lk);
    atomic_init(&ch->refs, 2);
    ch->txs = 1;
    ch->rx_alive = true;
    ch->closed = false;
    ch->elem = elem;
    ch->bound = bound;
    ch->reserved = 0;
    ch->cap = bound;
    ch->head = ch->len = 0;
    ch->buf = bound ? (unsigned char *)(ch + 1) : NULL;
    eddy__waitq_init(&ch->sendq);
    eddy__waitq_init(&ch->recvq);
    *tx = (eddy_mpsc_tx *)ch;
    *rx = (eddy_mpsc_rx *)ch;
    return 0;
}

int eddy_mpsc_new(eddy_mpsc_tx **tx, eddy_mpsc_rx **rx, size_t elem_size, size_t capacity)
{
    if (capacity == 0)
        return -EINVAL;
    return mpsc_alloc(tx, rx, elem_size, capacity);
}

int eddy_mpsc_unbounded_new(eddy_mpsc_tx **tx, eddy_mpsc_rx **rx, size_t elem_size)
{
    return mpsc_alloc(tx, rx, elem_size, 0);
}

static void mpsc_unref(struct eddy__mpsc *ch)
{
    if (atomic_fetch_sub_explicit(&ch->refs, 1, memory_order_acq_rel) == 1) {
        if (!ch->bound)
            free(ch->buf);
        free(ch);
    }
}

/* ---- the ring (lock held) ------------------------------------------------- */

static int grow_locked(struct eddy__mpsc *ch)
{
    size_t ncap = ch->cap ? ch->cap * 2 : 16;
    if (ncap < ch->cap || (ch->elem && ncap > SIZE_MAX / ch->elem))
        return -ENOMEM;
    unsigned char *nb = malloc(ch->elem ? ncap * ch->elem : 1);
    if (!nb)
        return -ENOMEM;
    /* Unwrap: [head, cap) then [0, head + len - cap). */
    size_t first = ch->cap - ch->head < ch->len ? ch->cap - ch->head : ch->len;
    if (ch->elem && ch->len) {
        memcpy(nb, ch->buf + ch->head * ch->elem, first * ch->elem);
        memcpy(nb + first * ch->elem, ch->buf, (ch->len - first) * ch->elem);
    }
    free(ch->buf);
    ch->buf = nb;
    ch->cap = ncap;
    ch->head = 0;
    return 0;
}

static inline int push_locked(struct eddy__mpsc *ch, const void *v)
{
    if (EDDY_UNLIKELY(ch->len == ch->cap) && grow_locked(ch) < 0)
        return -ENOMEM;
    size_t i = ch->head + ch->len;
    if (i >= ch->cap)
        i -= ch->cap;
    if (ch->elem)
        memcpy(ch->buf + i * ch->elem, v, ch->elem);
    ch->len++;
    return 0;
}

static inline void pop_locked(struct eddy__mpsc *ch, void *out)
{
    if (ch->elem)
        memcpy(out, ch->buf + ch->head * ch->elem, ch->elem);
    if (++ch->head == ch->cap)
        ch->head = 0;
    ch->len--;
}

/* After a push: the first waiting receive (if any) is dequeued, its waker
 * moved to *wake. */
static inline void take_receiver(struct eddy__mpsc *ch, eddy_waker *wake)
{
    eddy__waiter *w = eddy__waitq_pop(&ch->recvq);
    if (w) {
        w->state = EDDY__W_WOKEN;
        *wake = w->waker;
        w->waker = EDDY_WAKER_EMPTY;
    }
}

/* After room appeared: reserves a slot for the first waiting sender. */
static inline void grant_sender(struct eddy__mpsc *ch, eddy_waker *wake)
{
    if (!ch->bound || ch->len + ch->reserved >= ch->bound)
        return;
    eddy__waiter *w = eddy__waitq_pop(&ch->sendq);
    if (w) {
        ch->reserved++;
        w->state = EDDY__W_GRANTED;
        *wake = w->waker;
        w->waker = EDDY_WAKER_EMPTY;
    }
}

/* With the lock held: send now if possible (no waiting).  Returns 0,
 * -EAGAIN (must wait), -EDDY_ECLOSED, -ENOMEM. */
static inline int send_now_locked(struct eddy__mpsc *ch, const void *v, eddy_waker *wake)
{
    if (EDDY_UNLIKELY(ch->closed))
        return -EDDY_ECLOSED;
    if (ch->bound && (ch->len + ch->reserved >= ch->bound || !eddy__waitq_empty(&ch->sendq)))
        return -EAGAIN;
    int rc = push_locked(ch, v);
    if (rc == 0)
        take_receiver(ch, wake);
    return rc;
}

/* With the lock held: receive now if possible.  0, -EAGAIN, -EDDY_ECLOSED. */
static inline int recv_now_locked(struct eddy__mpsc *ch, void *buf, eddy_waker *wake)
{
    if (EDDY_LIKELY(ch->len > 0)) {
        pop_locked(ch, buf);
        grant_sender(ch, wake);
        return 0;
    }
    return (ch->txs == 0 || ch->closed) ? -EDDY_ECLOSED : -EAGAIN;
}

/* ---- handles ----------------------------------------------------------------- */

int eddy_mpsc_tx_clone(eddy_mpsc_tx *tx, eddy_mpsc_tx **out)
{
    if (!tx || !out)
        return -EINVAL;
    struct eddy__mpsc *ch = CH(tx);
    eddy__lock_acquire(&ch->lk);
    ch->txs++;
    eddy__lock_release(&ch->lk);
    atomic_fetch_add_explicit(&ch->refs, 1, memory_order_relaxed);
    *out = tx;
    return 0;
}

void eddy_mpsc_tx_drop(eddy_mpsc_tx *tx)
{
    if (!tx)
        return;
    struct eddy__mpsc *ch = CH(tx);
    eddy__wakelist wl;
    eddy__wakelist_init(&wl);
    eddy__lock_acquire(&ch->lk);
    if (--ch->txs == 0) /* the end: waiting receives drain, then see it */
        eddy__waitq_release_all(&ch->recvq, &ch->lk, &wl, EDDY__W_WOKEN);
    eddy__lock_release(&ch->lk);
    eddy__wakelist_wake(&wl);
    mpsc_unref(ch);
}

bool eddy_mpsc_tx_is_closed(eddy_mpsc_tx *tx)
{
    struct eddy__mpsc *ch = CH(tx);
    eddy__lock_acquire(&ch->lk);
    bool c = ch->closed;
    eddy__lock_release(&ch->lk);
    return c;
}

static void close_locked_and_wake(struct eddy__mpsc *ch, bool discard)
{
    eddy__wakelist wl;
    eddy__wakelist_init(&wl);
    eddy__lock_acquire(&ch->lk);
    ch->closed = true;
    if (discard) {
        ch->rx_alive = false;
        ch->len = ch->head = 0;
    }
    eddy__waitq_release_all(&ch->sendq, &ch->lk, &wl, EDDY__W_CLOSED);
    eddy__lock_release(&ch->lk);
    eddy__wakelist_wake(&wl);
}

void eddy_mpsc_rx_close(eddy_mpsc_rx *rx) { close_locked_and_wake(CH(rx), false); }

void eddy_mpsc_rx_drop(eddy_mpsc_rx *rx)
{
    if (!rx)
        return;
    close_locked_and_wake(CH(rx), true);
    mpsc_unref(CH(rx));
}

size_t eddy_mpsc_len(eddy_mpsc_rx *rx)
{
    struct eddy__mpsc *ch = CH(rx);
    eddy__lock_acquire(&ch->lk);
    size_t n = ch->len;
    eddy__lock_release(&ch->lk);
    return n;
}

/* ---- non-waiting ---------------------------------------------------------------- */

int eddy_mpsc_try_send(eddy_mpsc_tx *tx, const void *value)
{
    struct eddy__mpsc *ch = CH(tx);
    eddy_waker wake = EDDY_WAKER_EMPTY;
    eddy__lock_acquire(&ch->lk);
    int rc = send_now_locked(ch, value, &wake);
    eddy__lock_release(&ch->lk);
    eddy_waker_wake(&wake);
    return rc;
}

int eddy_mpsc_try_recv(eddy_mpsc_rx *rx, void *buf)
{
    struct eddy__mpsc *ch = CH(rx);
    eddy_waker wake = EDDY_WAKER_EMPTY;
    eddy__lock_acquire(&ch->lk);
    int rc = recv_now_locked(ch, buf, &wake);
    eddy__lock_release(&ch->lk);
    eddy_waker_wake(&wake);
    return rc;
}

/* ---- send ------------------------------------------------------------------------ */

void eddy_mpsc_send_init(eddy_mpsc_send *f, eddy_mpsc_tx *tx, const void *value)
{
    f->w = (eddy__waiter)EDDY__WAITER_INIT;
    f->tx = tx;
    f->value = value;
}

eddy_poll eddy_mpsc_send_poll(eddy_mpsc_send *f, eddy_cx *cx, int *out)
{
    eddy__waiter *w = &f->w;
    struct eddy__mpsc *ch = CH(f->tx);
    eddy_waker wake = EDDY_WAKER_EMPTY, old = EDDY_WAKER_EMPTY;
    int rc;
    eddy__waiter_check_done(w, "eddy_mpsc_send");
    if (EDDY_LIKELY(w->phase == EDDY__P_IDLE)) {
        if (!eddy__sync_coop(cx))
            return EDDY_PENDING;
        eddy__lock_acquire(&ch->lk);
        rc = send_now_locked(ch, f->value, &wake);
        if (rc == -EAGAIN) {
            eddy__waiter_enqueue(&ch->sendq, w, cx->waker);
            eddy__lock_release(&ch->lk);
            return EDDY_PENDING;
        }
    } else {
        eddy__lock_acquire(&ch->lk);
        switch (w->state) {
        case EDDY__W_QUEUED:
            eddy__waiter_check(&ch->sendq, w, "eddy_mpsc_send");
            eddy__waiter_refresh(w, cx->waker, &old);
            eddy__lock_release(&ch->lk);
            eddy_waker_drop(&old);
            return EDDY_PENDING;
        case EDDY__W_GRANTED:
            /* A slot was reserved for us: write into it. */
            ch->reserved--;
            if (ch->closed) {
                rc = -EDDY_ECLOSED;
            } else {
                rc = push_locked(ch, f->value); /* bounded: room is guaranteed */
                take_receiver(ch, &wake);
            }
            break;
        default: /* CLOSED */
            rc = -EDDY_ECLOSED;
            break;
        }
    }
    eddy__lock_release(&ch->lk);
    w->phase = EDDY__P_DONE;
    eddy_waker_wake(&wake);
    if (out)
        *out = rc;
    return EDDY_READY;
}

void eddy_mpsc_send_drop(eddy_mpsc_send *f)
{
    eddy__waiter *w = &f->w;
    if (w->phase != EDDY__P_WAITING) {
        w->phase = EDDY__P_DONE;
        return;
    }
    struct eddy__mpsc *ch = CH(f->tx);
    eddy_waker wake = EDDY_WAKER_EMPTY, mine = EDDY_WAKER_EMPTY;
    eddy__lock_acquire(&ch->lk);
    if (w->state == EDDY__W_QUEUED) {
        eddy__waitq_remove(&ch->sendq, w);
        mine = w->waker;
        w->waker = EDDY_WAKER_EMPTY;
    } else if (w->state == EDDY__W_GRANTED) {
        /* The value stays with the caller; the slot goes to the next. */
        ch->reserved--;
        if (!ch->closed)
            grant_sender(ch, &wake);
    }
    eddy__lock_release(&ch->lk);
    w->phase = EDDY__P_DONE;
    eddy_waker_wake(&wake);
    eddy_waker_drop(&mine);
}

static eddy_poll send_thunk(void *f, eddy_cx *cx, void *out)
{
    return eddy_mpsc_send_poll((eddy_mpsc_send *)f, cx, (int *)out);
}

int eddy_mpsc_send_blocking(eddy_mpsc_tx *tx, const void *value)
{
    eddy_mpsc_send f;
    int rc = 0;
    eddy_mpsc_send_init(&f, tx, value);
    int err = eddy__block_thread(send_thunk, &f, &rc);
    return err < 0 ? err : rc;
}

/* ---- receive --------------------------------------------------------------------- */

void eddy_mpsc_recv_init(eddy_mpsc_recv *f, eddy_mpsc_rx *rx, void *buf)
{
    f->w = (eddy__waiter)EDDY__WAITER_INIT;
    f->rx = rx;
    f->buf = buf;
}

eddy_poll eddy_mpsc_recv_poll(eddy_mpsc_recv *f, eddy_cx *cx, int *out)
{
    eddy__waiter *w = &f->w;
    struct eddy__mpsc *ch = CH(f->rx);
    eddy_waker wake = EDDY_WAKER_EMPTY, old = EDDY_WAKER_EMPTY;
    eddy__waiter_check_done(w, "eddy_mpsc_recv");
    bool idle = w->phase == EDDY__P_IDLE;
    if (idle && !eddy__sync_coop(cx))
        return EDDY_PENDING;
    eddy__lock_acquire(&ch->lk);
    bool queued = !idle && w->state == EDDY__W_QUEUED;
    int rc = recv_now_locked(ch, f->buf, &wake);
    if (rc == -EAGAIN) {
        eddy__waiter_park(&ch->recvq, w, queued, w->arg, cx->waker, &old, "eddy_mpsc_recv");
        eddy__lock_release(&ch->lk);
        eddy_waker_drop(&old);
        return EDDY_PENDING;
    }
    eddy__waiter_leave(&ch->recvq, w, queued, &old);
    eddy__lock_release(&ch->lk);
    w->phase = EDDY__P_DONE;
    eddy_waker_wake(&wake);
    eddy_waker_drop(&old);
    if (out)
        *out = rc;
    return EDDY_READY;
}

void eddy_mpsc_recv_drop(eddy_mpsc_recv *f)
{
    eddy__waiter *w = &f->w;
    if (w->phase != EDDY__P_WAITING) {
        w->phase = EDDY__P_DONE;
        return;
    }
    struct eddy__mpsc *ch = CH(f->rx);
    eddy_waker wake = EDDY_WAKER_EMPTY, mine = EDDY_WAKER_EMPTY;
    eddy__lock_acquire(&ch->lk);
    if (w->state == EDDY__W_QUEUED) {
        eddy__waitq_remove(&ch->recvq, w);
        mine = w->waker;
        w->waker = EDDY_WAKER_EMPTY;
    } else if (w->state == EDDY__W_WOKEN && (ch->len > 0 || ch->txs == 0 || ch->closed)) {
        /* Woken for a value it will not take: another waiting receive
         * (same receiver, another future) gets the wake instead. */
        take_receiver(ch, &wake);
    }
    eddy__lock_release(&ch->lk);
    w->phase = EDDY__P_DONE;
    eddy_waker_wake(&wake);
    eddy_waker_drop(&mine);
}

static eddy_poll recv_thunk(void *f, eddy_cx *cx, void *out)
{
    return eddy_mpsc_recv_poll((eddy_mpsc_recv *)f, cx, (int *)out);
}

int eddy_mpsc_recv_blocking(eddy_mpsc_rx *rx, void *buf)
{
    eddy_mpsc_recv f;
    int rc = 0;
    eddy_mpsc_recv_init(&f, rx, buf);
    int err = eddy__block_thread(recv_thunk, &f, &rc);
    return err < 0 ? err : rc;
}
