/* watch: one value, a version counter, and the receivers waiting for the
 * version to move past the one they have seen. */
#include "waitq.h"

#include <eddy/channel.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct eddy__watch {
    eddy__lock lk;
    _Atomic uint32_t refs; /* sender handles + receiver handles */
    uint32_t txs, rxs;
    uint32_t gen;          /* bumped by every send: wakes those queued before */
    uint64_t version;
    size_t elem;
    eddy__waitq q;
    unsigned char value[];
};

struct eddy_watch_rx {
    struct eddy__watch *ch;
    uint64_t seen;
};

#define WT(h) ((struct eddy__watch *)(h))

int eddy_watch_new(eddy_watch_tx **tx, eddy_watch_rx **rx, size_t elem_size, const void *initial)
{
    if (!tx || !rx || (elem_size && !initial) || elem_size > SIZE_MAX - sizeof(struct eddy__watch))
        return -EINVAL;
    struct eddy__watch *ch = malloc(sizeof *ch + elem_size);
    struct eddy_watch_rx *r = malloc(sizeof *r);
    if (!ch || !r) {
        free(ch);
        free(r);
        return -ENOMEM;
    }
    eddy__lock_init(&ch->lk);
    atomic_init(&ch->refs, 2);
    ch->txs = ch->rxs = 1;
    ch->gen = 0;
    ch->version = 0;
    ch->elem = elem_size;
    eddy__waitq_init(&ch->q);
    if (elem_size)
        memcpy(ch->value, initial, elem_size);
    r->ch = ch;
    r->seen = 0;
    *tx = (eddy_watch_tx *)ch;
    *rx = r;
    return 0;
}

static void wt_unref(struct eddy__watch *ch)
{
    if (eddy__chan_unref(&ch->refs))
        free(ch);
}

int eddy_watch_tx_clone(eddy_watch_tx *tx, eddy_watch_tx **out)
{
    if (!tx || !out)
        return -EINVAL;
    struct eddy__watch *ch = WT(tx);
    eddy__chan_tx_clone(&ch->lk, &ch->txs, &ch->refs);
    *out = tx;
    return 0;
}

void eddy_watch_tx_drop(eddy_watch_tx *tx)
{
    if (!tx)
        return;
    struct eddy__watch *ch = WT(tx);
    if (eddy__chan_tx_drop(&ch->lk, &ch->txs, &ch->refs, &ch->q))
        free(ch);
}

int eddy_watch_send(eddy_watch_tx *tx, const void *value)
{
    struct eddy__watch *ch = WT(tx);
    eddy__wakelist wl;
    eddy__wakelist_init(&wl);
    eddy__lock_acquire(&ch->lk);
    if (ch->rxs == 0) {
        eddy__lock_release(&ch->lk);
        return -EDDY_ECLOSED;
    }
    if (ch->elem)
        memcpy(ch->value, value, ch->elem);
    ch->version++;
    ch->gen++;
    eddy__waitq_release_older(&ch->q, &ch->lk, &wl, ch->gen, EDDY__W_WOKEN);
    eddy__lock_release(&ch->lk);
    eddy__wakelist_wake(&wl);
    return 0;
}

static int rx_new(struct eddy__watch *ch, const struct eddy_watch_rx *like, eddy_watch_rx **out)
{
    if (!out)
        return -EINVAL;
    struct eddy_watch_rx *r = malloc(sizeof *r);
    if (!r)
        return -ENOMEM;
    r->ch = ch;
    eddy__lock_acquire(&ch->lk);
    ch->rxs++;
    r->seen = like ? like->seen : ch->version;
    eddy__lock_release(&ch->lk);
    atomic_fetch_add_explicit(&ch->refs, 1, memory_order_relaxed);
    *out = r;
    return 0;
}

int eddy_watch_subscribe(eddy_watch_tx *tx, eddy_watch_rx **out)
{
    if (!tx)
        return -EINVAL;
    return rx_new(WT(tx), NULL, out);
}

int eddy_watch_rx_clone(eddy_watch_rx *rx, eddy_watch_rx **out)
{
    if (!rx)
        return -EINVAL;
    return rx_new(rx->ch, rx, out);
}

void eddy_watch_rx_drop(eddy_watch_rx *rx)
{
    if (!rx)
        return;
    struct eddy__watch *ch = rx->ch;
    eddy__lock_acquire(&ch->lk);
    ch->rxs--;
    eddy__lock_release(&ch->lk);
    free(rx);
    wt_unref(ch);
}

static void borrow(eddy_watch_rx *rx, void *buf, bool update)
{
    struct eddy__watch *ch = rx->ch;
    eddy__lock_acquire(&ch->lk);
    if (ch->elem)
        memcpy(buf, ch->value, ch->elem);
    if (update)
        rx->seen = ch->version;
    eddy__lock_release(&ch->lk);
}

void eddy_watch_borrow(eddy_watch_rx *rx, void *buf) { borrow(rx, buf, false); }
void eddy_watch_borrow_and_update(eddy_watch_rx *rx, void *buf) { borrow(rx, buf, true); }

int eddy_watch_has_changed(eddy_watch_rx *rx)
{
    struct eddy__watch *ch = rx->ch;
    eddy__lock_acquire(&ch->lk);
    int rc = ch->version != rx->seen ? 1 : ch->txs == 0 ? -EDDY_ECLOSED : 0;
    eddy__lock_release(&ch->lk);
    return rc;
}

void eddy_watch_changed_init(eddy_watch_changed *f, eddy_watch_rx *rx)
{
    f->w = (eddy__waiter)EDDY__WAITER_INIT;
    f->rx = rx;
}

eddy_poll eddy_watch_changed_poll(eddy_watch_changed *f, eddy_cx *cx, int *out)
{
    eddy__waiter *w = &f->w;
    eddy_watch_rx *rx = f->rx;
    struct eddy__watch *ch = rx->ch;
    eddy_waker old = EDDY_WAKER_EMPTY;
    eddy__waiter_check_done(w, "eddy_watch_changed");
    bool idle = w->phase == EDDY__P_IDLE;
    if (idle && !eddy__sync_coop(cx))
        return EDDY_PENDING;
    eddy__lock_acquire(&ch->lk);
    bool queued = !idle && w->state == EDDY__W_QUEUED;
    int rc;
    if (ch->version != rx->seen) {
        rx->seen = ch->version;
        rc = 0;
    } else if (ch->txs == 0) {
        rc = -EDDY_ECLOSED;
    } else {
        eddy__waiter_park(&ch->q, w, queued, ch->gen, cx->waker, &old, "eddy_watch_changed");
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

void eddy_watch_changed_drop(eddy_watch_changed *f)
{
    eddy__waiter_cancel(&f->rx->ch->lk, &f->rx->ch->q, &f->w);
}

static eddy_poll changed_thunk(void *f, eddy_cx *cx, void *out)
{
    return eddy_watch_changed_poll((eddy_watch_changed *)f, cx, (int *)out);
}

int eddy_watch_changed_blocking(eddy_watch_rx *rx)
{
    eddy_watch_changed f;
    int rc = 0;
    eddy_watch_changed_init(&f, rx);
    int err = eddy__block_thread(changed_thunk, &f, &rc);
    return err < 0 ? err : rc;
}
