/* oneshot: one value, one sender, one receiver. */
#include "waitq.h"

#include <eddy/channel.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct eddy__oneshot {
    eddy__lock lk;
    _Atomic uint32_t refs; /* 2: sender and receiver */
    bool has_value;        /* sent and not yet received */
    bool taken;            /* received */
    bool tx_gone;
    bool rx_gone;
    size_t elem;
    eddy__waitq q; /* receive futures */
    unsigned char value[];
};

#define OS(h) ((struct eddy__oneshot *)(h))

int eddy_oneshot_new(eddy_oneshot_tx **tx, eddy_oneshot_rx **rx, size_t elem_size)
{
    if (!tx || !rx || elem_size > SIZE_MAX - sizeof(struct eddy__oneshot))
        return -EINVAL;
    struct eddy__oneshot *o = malloc(sizeof *o + elem_size);
    if (!o)
        return -ENOMEM;
    eddy__lock_init(&o->lk);
    atomic_init(&o->refs, 2);
    o->has_value = o->taken = o->tx_gone = o->rx_gone = false;
    o->elem = elem_size;
    eddy__waitq_init(&o->q);
    *tx = (eddy_oneshot_tx *)o;
    *rx = (eddy_oneshot_rx *)o;
    return 0;
}

static void os_unref(struct eddy__oneshot *o)
{
    if (atomic_fetch_sub_explicit(&o->refs, 1, memory_order_acq_rel) == 1)
        free(o);
}

/* Sender side ends (sent or not): releases the waiting receive(s). */
static int tx_finish(struct eddy__oneshot *o, const void *value)
{
    eddy__wakelist wl;
    int rc = 0;
    eddy__wakelist_init(&wl);
    eddy__lock_acquire(&o->lk);
    if (value) {
        if (o->rx_gone) {
            rc = -EDDY_ECLOSED;
        } else {
            if (o->elem)
                memcpy(o->value, value, o->elem);
            o->has_value = true;
        }
    }
    o->tx_gone = true;
    eddy__waitq_release_all(&o->q, &o->lk, &wl, EDDY__W_WOKEN);
    eddy__lock_release(&o->lk);
    eddy__wakelist_wake(&wl);
    os_unref(o);
    return rc;
}

int eddy_oneshot_send(eddy_oneshot_tx *tx, const void *value)
{
    if (!tx)
        return -EINVAL;
    if (!value && OS(tx)->elem)
        eddy_misuse("eddy_oneshot_send", "NULL value for a channel with a non-zero element size");
    static const unsigned char none;
    return tx_finish(OS(tx), value ? value : &none);
}

void eddy_oneshot_tx_drop(eddy_oneshot_tx *tx)
{
    if (tx)
        (void)tx_finish(OS(tx), NULL);
}

bool eddy_oneshot_tx_is_closed(eddy_oneshot_tx *tx)
{
    struct eddy__oneshot *o = OS(tx);
    eddy__lock_acquire(&o->lk);
    bool c = o->rx_gone;
    eddy__lock_release(&o->lk);
    return c;
}

void eddy_oneshot_rx_drop(eddy_oneshot_rx *rx)
{
    if (!rx)
        return;
    struct eddy__oneshot *o = OS(rx);
    eddy__lock_acquire(&o->lk);
    o->rx_gone = true;
    eddy__lock_release(&o->lk);
    os_unref(o);
}

/* Lock held: 0, -EAGAIN, -EDDY_ECLOSED. */
static inline int take_locked(struct eddy__oneshot *o, void *buf)
{
    if (o->has_value) {
        if (o->elem)
            memcpy(buf, o->value, o->elem);
        o->has_value = false;
        o->taken = true;
        return 0;
    }
    return (o->tx_gone || o->taken) ? -EDDY_ECLOSED : -EAGAIN;
}

int eddy_oneshot_try_recv(eddy_oneshot_rx *rx, void *buf)
{
    struct eddy__oneshot *o = OS(rx);
    eddy__lock_acquire(&o->lk);
    int rc = take_locked(o, buf);
    eddy__lock_release(&o->lk);
    return rc;
}

void eddy_oneshot_recv_init(eddy_oneshot_recv *f, eddy_oneshot_rx *rx, void *buf)
{
    f->w = (eddy__waiter)EDDY__WAITER_INIT;
    f->rx = rx;
    f->buf = buf;
}

eddy_poll eddy_oneshot_recv_poll(eddy_oneshot_recv *f, eddy_cx *cx, int *out)
{
    eddy__waiter *w = &f->w;
    struct eddy__oneshot *o = OS(f->rx);
    eddy_waker old = EDDY_WAKER_EMPTY;
    eddy__waiter_check_done(w, "eddy_oneshot_recv");
    bool idle = w->phase == EDDY__P_IDLE;
    if (idle && !eddy__sync_coop(cx))
        return EDDY_PENDING;
    eddy__lock_acquire(&o->lk);
    bool queued = !idle && w->state == EDDY__W_QUEUED;
    int rc = take_locked(o, f->buf);
    if (rc == -EAGAIN) {
        eddy__waiter_park(&o->q, w, queued, w->arg, cx->waker, &old, "eddy_oneshot_recv");
        eddy__lock_release(&o->lk);
        eddy_waker_drop(&old);
        return EDDY_PENDING;
    }
    eddy__waiter_leave(&o->q, w, queued, &old);
    eddy__lock_release(&o->lk);
    w->phase = EDDY__P_DONE;
    eddy_waker_drop(&old);
    if (out)
        *out = rc;
    return EDDY_READY;
}

void eddy_oneshot_recv_drop(eddy_oneshot_recv *f)
{
    eddy__waiter *w = &f->w;
    if (w->phase != EDDY__P_WAITING) {
        w->phase = EDDY__P_DONE;
        return;
    }
    struct eddy__oneshot *o = OS(f->rx);
    eddy_waker mine = EDDY_WAKER_EMPTY;
    eddy__lock_acquire(&o->lk);
    if (w->state == EDDY__W_QUEUED) {
        eddy__waitq_remove(&o->q, w);
        mine = w->waker;
        w->waker = EDDY_WAKER_EMPTY;
    }
    /* WOKEN: the sender released every waiting receive at once; the value
     * (if any) is still in the channel. */
    eddy__lock_release(&o->lk);
    w->phase = EDDY__P_DONE;
    eddy_waker_drop(&mine);
}

static eddy_poll recv_thunk(void *f, eddy_cx *cx, void *out)
{
    return eddy_oneshot_recv_poll((eddy_oneshot_recv *)f, cx, (int *)out);
}

int eddy_oneshot_recv_blocking(eddy_oneshot_rx *rx, void *buf)
{
    eddy_oneshot_recv f;
    int rc = 0;
    eddy_oneshot_recv_init(&f, rx, buf);
    int err = eddy__block_thread(recv_thunk, &f, &rc);
    return err < 0 ? err : rc;
}
