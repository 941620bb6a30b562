/* broadcast: a ring of the last `cap` values, one read position per
 * receiver.  Value k (counting from 0 since creation) lives in slot
 * k % cap until value k + cap overwrites it.  A receiver whose position
 * fell behind tail - cap has lagged.  Receive futures wait in one queue
 * tagged with a generation, so a send wakes exactly those that were
 * waiting before it. */
#include "waitq.h"

#include <eddy/channel.h>

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

struct eddy__bcast {
    eddy__lock lk;
    _Atomic uint32_t refs; /* sender handles + receiver handles */
    uint32_t txs, rxs;
    uint32_t gen;          /* bumped by every send */
    uint64_t tail;         /* values sent so far */
    size_t cap, elem;
    eddy__waitq q;
    unsigned char *slots;
};

struct eddy_broadcast_rx {
    struct eddy__bcast *ch;
    uint64_t next;   /* index of the next value to receive */
    uint64_t missed; /* from the last -EDDY_ELAGGED */
};

#define BC(h) ((struct eddy__bcast *)(h))

int eddy_broadcast_new(eddy_broadcast_tx **tx, eddy_broadcast_rx **rx, size_t elem_size, size_t capacity)
{
    if (!tx || !rx || capacity == 0)
        return -EINVAL;
    if (elem_size && capacity > (SIZE_MAX - sizeof(struct eddy__bcast)) / elem_size)
        return -EINVAL;
    struct eddy__bcast *ch = malloc(sizeof *ch + capacity * elem_size);
    struct eddy_broadcast_rx *r = malloc(sizeof *r);
    if (!ch || !r) {
        free(ch);
        free(r);
        return -ENOMEM;
    }
    eddy__lock_init(&ch->lk);
    atomic_init(&ch->refs, 2);
    ch->txs = 1;
    ch->rxs = 1;
    ch->gen = 0;
    ch->tail = 0;
    ch->cap = capacity;
    ch->elem = elem_size;
    eddy__waitq_init(&ch->q);
    ch->slots = (unsigned char *)(ch + 1);
    r->ch = ch;
    r->next = 0;
    r->missed = 0;
    *tx = (eddy_broadcast_tx *)ch;
    *rx = r;
    return 0;
}

static void bc_unref(struct eddy__bcast *ch)
{
    if (eddy__chan_unref(&ch->refs))
        free(ch);
}

int eddy_broadcast_tx_clone(eddy_broadcast_tx *tx, eddy_broadcast_tx **out)
{
    if (!tx || !out)
        return -EINVAL;
    struct eddy__bcast *ch = BC(tx);
    eddy__chan_tx_clone(&ch->lk, &ch->txs, &ch->refs);
    *out = tx;
    return 0;
}

void eddy_broadcast_tx_drop(eddy_broadcast_tx *tx)
{
    if (!tx)
        return;
    struct eddy__bcast *ch = BC(tx);
    if (eddy__chan_tx_drop(&ch->lk, &ch->txs, &ch->refs, &ch->q))
        free(ch);
}

/* A new receiver at position `from` (lock not held). */
static int rx_new(struct eddy__bcast *ch, const struct eddy_broadcast_rx *like, eddy_broadcast_rx **out)
{
    if (!out)
        return -EINVAL;
    struct eddy_broadcast_rx *r = malloc(sizeof *r);
    if (!r)
        return -ENOMEM;
    r->ch = ch;
    r->missed = 0;
    eddy__lock_acquire(&ch->lk);
    ch->rxs++;
    r->next = like ? like->next : ch->tail;
    eddy__lock_release(&ch->lk);
    atomic_fetch_add_explicit(&ch->refs, 1, memory_order_relaxed);
    *out = r;
    return 0;
}

int eddy_broadcast_subscribe(eddy_broadcast_tx *tx, eddy_broadcast_rx **out)
{
    if (!tx)
        return -EINVAL;
    return rx_new(BC(tx), NULL, out);
}

int eddy_broadcast_rx_clone(eddy_broadcast_rx *rx, eddy_broadcast_rx **out)
{
    if (!rx)
        return -EINVAL;
    return rx_new(rx->ch, rx, out);
}

void eddy_broadcast_rx_drop(eddy_broadcast_rx *rx)
{
    if (!rx)
        return;
    struct eddy__bcast *ch = rx->ch;
    eddy__lock_acquire(&ch->lk);
    ch->rxs--;
    eddy__lock_release(&ch->lk);
    free(rx);
    bc_unref(ch);
}

int eddy_broadcast_send(eddy_broadcast_tx *tx, const void *value)
{
    struct eddy__bcast *ch = BC(tx);
    eddy__wakelist wl;
    eddy__wakelist_init(&wl);
    eddy__lock_acquire(&ch->lk);
    if (ch->rxs == 0) {
        eddy__lock_release(&ch->lk);
        return -EDDY_ECLOSED;
    }
    if (ch->elem)
        memcpy(ch->slots + (size_t)(ch->tail % ch->cap) * ch->elem, value, ch->elem);
    ch->tail++;
    ch->gen++;
    eddy__waitq_release_older(&ch->q, &ch->lk, &wl, ch->gen, EDDY__W_WOKEN);
    int n = ch->rxs > INT_MAX ? INT_MAX : (int)ch->rxs;
    eddy__lock_release(&ch->lk);
    eddy__wakelist_wake(&wl);
    return n;
}

/* Lock held: 0, -EAGAIN, -EDDY_ELAGGED, -EDDY_ECLOSED. */
static int take_locked(struct eddy_broadcast_rx *rx, void *buf)
{
    struct eddy__bcast *ch = rx->ch;
    if (rx->next < ch->tail) {
        uint64_t oldest = ch->tail > ch->cap ? ch->tail - ch->cap : 0;
        if (rx->next < oldest) {
            rx->missed = oldest - rx->next;
            rx->next = oldest;
            return -EDDY_ELAGGED;
        }
        if (ch->elem)
            memcpy(buf, ch->slots + (size_t)(rx->next % ch->cap) * ch->elem, ch->elem);
        rx->next++;
        return 0;
    }
    return ch->txs == 0 ? -EDDY_ECLOSED : -EAGAIN;
}

int eddy_broadcast_try_recv(eddy_broadcast_rx *rx, void *buf)
{
    struct eddy__bcast *ch = rx->ch;
    eddy__lock_acquire(&ch->lk);
    int rc = take_locked(rx, buf);
    eddy__lock_release(&ch->lk);
    return rc;
}

uint64_t eddy_broadcast_rx_missed(const eddy_broadcast_rx *rx) { return rx->missed; }

void eddy_broadcast_recv_init(eddy_broadcast_recv *f, eddy_broadcast_rx *rx, void *buf)
{
    f->w = (eddy__waiter)EDDY__WAITER_INIT;
    f->rx = rx;
    f->buf = buf;
}

eddy_poll eddy_broadcast_recv_poll(eddy_broadcast_recv *f, eddy_cx *cx, int *out)
{
    eddy__waiter *w = &f->w;
    struct eddy__bcast *ch = f->rx->ch;
    eddy_waker old = EDDY_WAKER_EMPTY;
    eddy__waiter_check_done(w, "eddy_broadcast_recv");
    bool idle = w->phase == EDDY__P_IDLE;
    if (idle && !eddy__sync_coop(cx))
        return EDDY_PENDING;
    eddy__lock_acquire(&ch->lk);
    bool queued = !idle && w->state == EDDY__W_QUEUED;
    int rc = take_locked(f->rx, f->buf);
    if (rc == -EAGAIN) {
        eddy__waiter_park(&ch->q, w, queued, ch->gen, cx->waker, &old, "eddy_broadcast_recv");
        eddy__lock_release(&ch->lk);
        eddy_waker_drop(&old);
        return EDDY_PENDING;
    }
    eddy__waiter_leave(&ch->q, w, queued, &old);
    eddy__lock_release(&ch->lk);
    w->phase = EDDY__P_DONE;
    eddy_waker_drop(&old);
    if (out)
        *out = rc;
    return EDDY_READY;
}

void eddy_broadcast_recv_drop(eddy_broadcast_recv *f)
{
    /* WOKEN: nothing to pass on; every receiver has its own position. */
    eddy__waiter_cancel(&f->rx->ch->lk, &f->rx->ch->q, &f->w);
}

static eddy_poll recv_thunk(void *f, eddy_cx *cx, void *out)
{
    return eddy_broadcast_recv_poll((eddy_broadcast_recv *)f, cx, (int *)out);
}

int eddy_broadcast_recv_blocking(eddy_broadcast_rx *rx, void *buf)
{
    eddy_broadcast_recv f;
    int rc = 0;
    eddy_broadcast_recv_init(&f, rx, buf);
    int err = eddy__block_thread(recv_thunk, &f, &rc);
    return err < 0 ? err : rc;
}
