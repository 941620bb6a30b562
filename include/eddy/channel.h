/* eddy/channel.h - channels between tasks and threads: oneshot, mpsc
 * (bounded and unbounded), broadcast, watch.
 *
 * Values are fixed-size byte blobs: the element size is given when the
 * channel is created, and every send copies that many bytes from the
 * caller's buffer into the channel, every receive copies them out into the
 * caller's buffer.  Put a pointer in the blob to pass ownership of
 * something bigger.
 *
 *     eddy_mpsc_tx *tx;  eddy_mpsc_rx *rx;
 *     int rc = eddy_mpsc_new(&tx, &rx, sizeof(struct job), 64);
 *     ...
 *     EDDY_AWAIT(&t->rc, eddy_mpsc_send, &t->snd, t->tx, &t->job);   // waits while full
 *     ...
 *     EDDY_AWAIT(&t->rc, eddy_mpsc_recv, &t->rcv, t->rx, &t->job);   // -EDDY_ECLOSED at the end
 *
 * Handles.  Creating a channel gives a sender handle and a receiver handle.
 * Sender handles are cloned (_tx_clone) to get several producers;
 * broadcast and watch receivers can be cloned as well.  Every handle is
 * dropped exactly once (_drop); the channel's memory goes with the last
 * one.  A clone may be the same pointer value as the original; it still
 * counts (and must be dropped) separately.  A handle must outlive the
 * futures made from it.
 *
 * Closing.
 * - When every receiver is gone (or the mpsc receiver called
 *   eddy_mpsc_rx_close), sending fails with -EDDY_ECLOSED and the value is
 *   not taken: it is still in the caller's buffer.  Pending senders of a
 *   bounded mpsc complete with -EDDY_ECLOSED the same way.
 * - When every sender is gone, receivers first get every value that was
 *   sent, then -EDDY_ECLOSED.
 *
 * Threads.  Every function here may be called from any thread; handles and
 * futures may be passed between threads.  A task on a runtime and a plain
 * thread can be the two ends of any channel: plain threads use the try_
 * functions, the synchronous sends, or the _blocking variants (which park
 * the thread and return -EDDY_EMISUSE if called on a runtime's thread).
 * One receive at a time per receiver handle (two concurrent receives on one
 * mpsc receiver are safe but they compete).
 *
 * Futures.  Each follows the awaitable convention of eddy/coro.h.  Their
 * output is an int (0 or a negative error value); the out pointer may be
 * NULL.  A pending future is linked in place in the channel's queue and
 * must not move.  Every future documents what happens when it is dropped
 * while pending (cancellation): in short, a cancelled send never half-sends
 * (the value stays with the caller), and a cancelled receive never loses a
 * message (it stays in the channel for the next receive).
 *
 * Errors: -EINVAL (bad arguments: NULL, a zero capacity, sizes that
 * overflow), -ENOMEM, -EAGAIN (a try_ function would have to wait),
 * -EDDY_ECLOSED (see above), -EDDY_ELAGGED (broadcast).
 */
#ifndef EDDY_CHANNEL_H
#define EDDY_CHANNEL_H

#include <eddy/sync.h>

EDDY_BEGIN_DECLS

/* ==== oneshot ==============================================================
 * One value, sent once, from one sender to one receiver.  Sending never
 * waits. */
typedef struct eddy_oneshot_tx eddy_oneshot_tx;
typedef struct eddy_oneshot_rx eddy_oneshot_rx;

/* Creates a oneshot channel for one value of elem_size bytes (0 is
 * allowed: a pure signal).  Returns 0, -EINVAL, -ENOMEM. */
EDDY_API int eddy_oneshot_new(eddy_oneshot_tx **tx, eddy_oneshot_rx **rx, size_t elem_size);

/* Sends the value (elem_size bytes copied from value) and releases the
 * sender: tx is invalid after this call, whatever it returns.  Returns 0,
 * or -EDDY_ECLOSED if the receiver is gone (nothing was copied; the value
 * is still the caller's). */
EDDY_API int eddy_oneshot_send(eddy_oneshot_tx *tx, const void *value);

/* Releases the sender without sending: the receiver sees -EDDY_ECLOSED. */
EDDY_API void eddy_oneshot_tx_drop(eddy_oneshot_tx *tx);

/* True once the receiver is gone (a send would fail). */
EDDY_API bool eddy_oneshot_tx_is_closed(eddy_oneshot_tx *tx);

/* Non-waiting receive: 0 (value copied to buf), -EAGAIN (not sent yet),
 * -EDDY_ECLOSED (the sender was dropped without sending, or the value was
 * already received). */
EDDY_API int eddy_oneshot_try_recv(eddy_oneshot_rx *rx, void *buf);

/* Releases the receiver.  A value sent and never received is discarded;
 * a later send fails with -EDDY_ECLOSED. */
EDDY_API void eddy_oneshot_rx_drop(eddy_oneshot_rx *rx);

/* Receive.  Output: 0 (the value is in buf), or -EDDY_ECLOSED (the sender
 * was dropped without sending, or the value was already received).
 * Cancellation: dropped while pending, nothing is lost: a value sent
 * meanwhile stays in the channel, for the next receive. */
typedef struct eddy_oneshot_recv {
    eddy__waiter w;
    eddy_oneshot_rx *rx;
    void *buf;
} eddy_oneshot_recv;

EDDY_API void eddy_oneshot_recv_init(eddy_oneshot_recv *f, eddy_oneshot_rx *rx, void *buf);
EDDY_API eddy_poll eddy_oneshot_recv_poll(eddy_oneshot_recv *f, eddy_cx *cx, int *out);
EDDY_API void eddy_oneshot_recv_drop(eddy_oneshot_recv *f);

/* From a plain thread: waits for the value.  Returns as the future does,
 * or -EDDY_EMISUSE on a runtime's thread. */
EDDY_API int eddy_oneshot_recv_blocking(eddy_oneshot_rx *rx, void *buf);

/* ==== mpsc =================================================================
 * Many producers, one consumer, FIFO.  Bounded: at most `capacity` values
 * are buffered; a send waits while the channel is full (backpressure), and
 * waiting senders get free slots in the order they started to wait (a
 * try_send does not overtake them).  Unbounded: sends never wait; the
 * buffer grows as needed (and a send can fail with -ENOMEM).  Values from
 * one producer are received in the order it sent them. */
typedef struct eddy_mpsc_tx eddy_mpsc_tx;
typedef struct eddy_mpsc_rx eddy_mpsc_rx;

/* Creates a bounded channel of elem_size-byte values buffering at most
 * capacity (>= 1) of them; the buffer is allocated here.  Returns 0,
 * -EINVAL, -ENOMEM. */
EDDY_API int eddy_mpsc_new(eddy_mpsc_tx **tx, eddy_mpsc_rx **rx, size_t elem_size, size_t capacity);

/* Creates an unbounded channel.  Returns 0, -EINVAL, -ENOMEM. */
EDDY_API int eddy_mpsc_unbounded_new(eddy_mpsc_tx **tx, eddy_mpsc_rx **rx, size_t elem_size);

/* A new sender handle for the same channel.  Returns 0 or -EINVAL. */
EDDY_API int eddy_mpsc_tx_clone(eddy_mpsc_tx *tx, eddy_mpsc_tx **out);

/* Releases a sender handle.  When the last one goes, the receiver drains
 * what is buffered, then gets -EDDY_ECLOSED. */
EDDY_API void eddy_mpsc_tx_drop(eddy_mpsc_tx *tx);

/* True once the receiver is closed or gone (sends fail). */
EDDY_API bool eddy_mpsc_tx_is_closed(eddy_mpsc_tx *tx);

/* Sends without waiting.  Returns 0 (copied into the channel), -EAGAIN
 * (bounded and full, or other senders are waiting for room), -EDDY_ECLOSED
 * (receiver closed or gone), -ENOMEM (unbounded, growing failed).  On
 * failure nothing was copied. */
EDDY_API int eddy_mpsc_try_send(eddy_mpsc_tx *tx, const void *value);

/* Receives without waiting.  Returns 0 (a value copied to buf), -EAGAIN
 * (empty, senders remain), -EDDY_ECLOSED (empty, and every sender is gone
 * or the receiver was closed). */
EDDY_API int eddy_mpsc_try_recv(eddy_mpsc_rx *rx, void *buf);

/* Closes the receiving side without dropping it: sends fail from now on
 * (pending ones with -EDDY_ECLOSED, their values untouched), and what is
 * buffered can still be received (then -EDDY_ECLOSED).  Idempotent. */
EDDY_API void eddy_mpsc_rx_close(eddy_mpsc_rx *rx);

/* Releases the receiver: closes, and discards what is still buffered
 * (drain it with try_recv first if the values own resources). */
EDDY_API void eddy_mpsc_rx_drop(eddy_mpsc_rx *rx);

/* Values buffered right now (a snapshot). */
EDDY_API size_t eddy_mpsc_len(eddy_mpsc_rx *rx);

/* Send.  The future keeps the value pointer (elem_size bytes are read
 * from it, once, when the value goes into the channel), so the caller's
 * buffer must stay valid and unchanged until the future is READY or
 * dropped.  Output: 0 (the value is in the channel), -EDDY_ECLOSED (the
 * receiver is closed or gone; the value was not taken), -ENOMEM
 * (unbounded only).
 * Cancellation: dropped while waiting for room, the value was not sent and
 * is still the caller's; a slot that had been reserved for it meanwhile is
 * passed to the next waiting sender.  Either the value is in the channel
 * (READY with 0) or it was never sent: there is no third case. */
typedef struct eddy_mpsc_send {
    eddy__waiter w;
    eddy_mpsc_tx *tx;
    const void *value;
} eddy_mpsc_send;

EDDY_API void eddy_mpsc_send_init(eddy_mpsc_send *f, eddy_mpsc_tx *tx, const void *value);
EDDY_API eddy_poll eddy_mpsc_send_poll(eddy_mpsc_send *f, eddy_cx *cx, int *out);
EDDY_API void eddy_mpsc_send_drop(eddy_mpsc_send *f);

/* From a plain thread: sends, waiting for room while full.  Returns as
 * the future does, or -EDDY_EMISUSE on a runtime's thread. */
EDDY_API int eddy_mpsc_send_blocking(eddy_mpsc_tx *tx, const void *value);

/* Receive.  Output: 0 (the oldest value was copied to buf), -EDDY_ECLOSED
 * (nothing left and no sender left, or closed and drained).
 * Cancellation: dropped while pending, no message is lost: a value is only
 * taken out of the channel by the poll that returns READY, so whatever
 * arrived meanwhile stays for the next receive. */
typedef struct eddy_mpsc_recv {
    eddy__waiter w;
    eddy_mpsc_rx *rx;
    void *buf;
} eddy_mpsc_recv;

EDDY_API void eddy_mpsc_recv_init(eddy_mpsc_recv *f, eddy_mpsc_rx *rx, void *buf);
EDDY_API eddy_poll eddy_mpsc_recv_poll(eddy_mpsc_recv *f, eddy_cx *cx, int *out);
EDDY_API void eddy_mpsc_recv_drop(eddy_mpsc_recv *f);

/* From a plain thread: waits for a value.  Returns as the future does, or
 * -EDDY_EMISUSE on a runtime's thread. */
EDDY_API int eddy_mpsc_recv_blocking(eddy_mpsc_rx *rx, void *buf);

/* ==== broadcast ============================================================
 * Many producers, many consumers: every receiver gets every value sent
 * after it subscribed.  The channel keeps the last `capacity` values; a
 * receiver that falls further behind loses the oldest ones: its next
 * receive fails with -EDDY_ELAGGED, eddy_broadcast_rx_missed tells how
 * many it missed, and the receive after that returns the oldest value
 * still kept.  Sending never waits (a slow receiver never slows the
 * sender). */
typedef struct eddy_broadcast_tx eddy_broadcast_tx;
typedef struct eddy_broadcast_rx eddy_broadcast_rx;

/* Creates a channel keeping capacity (>= 1) values of elem_size bytes,
 * with one sender and one receiver.  Returns 0, -EINVAL, -ENOMEM. */
EDDY_API int eddy_broadcast_new(eddy_broadcast_tx **tx, eddy_broadcast_rx **rx, size_t elem_size, size_t capacity);

/* A new sender handle for the same channel, stored in *out.  Returns 0 or
 * -EINVAL. */
EDDY_API int eddy_broadcast_tx_clone(eddy_broadcast_tx *tx, eddy_broadcast_tx **out);
/* Releases a sender handle.  When the last one goes, receivers drain what
 * is kept, then get -EDDY_ECLOSED.  NULL is a no-op. */
EDDY_API void eddy_broadcast_tx_drop(eddy_broadcast_tx *tx);

/* A new receiver that gets the values sent from now on.  0, -ENOMEM. */
EDDY_API int eddy_broadcast_subscribe(eddy_broadcast_tx *tx, eddy_broadcast_rx **out);

/* A new receiver at the same position as rx (it will get the same values
 * rx has not received yet).  0, -ENOMEM. */
EDDY_API int eddy_broadcast_rx_clone(eddy_broadcast_rx *rx, eddy_broadcast_rx **out);
EDDY_API void eddy_broadcast_rx_drop(eddy_broadcast_rx *rx);

/* Sends to every receiver.  Returns the number of receivers (> 0), or
 * -EDDY_ECLOSED if there are none (the value was not taken). */
EDDY_API int eddy_broadcast_send(eddy_broadcast_tx *tx, const void *value);

/* Non-waiting receive: 0, -EAGAIN, -EDDY_ELAGGED, -EDDY_ECLOSED. */
EDDY_API int eddy_broadcast_try_recv(eddy_broadcast_rx *rx, void *buf);

/* How many values rx missed, as reported by its last -EDDY_ELAGGED. */
EDDY_API uint64_t eddy_broadcast_rx_missed(const eddy_broadcast_rx *rx);

/* Receive.  Output: 0 (the next value is in buf), -EDDY_ELAGGED (rx fell
 * behind: eddy_broadcast_rx_missed(rx) values were lost, and rx now points
 * at the oldest value kept), -EDDY_ECLOSED (every sender is gone and rx
 * has received everything).
 * Cancellation: dropped while pending, nothing is lost: rx's position only
 * moves when a receive returns READY. */
typedef struct eddy_broadcast_recv {
    eddy__waiter w;
    eddy_broadcast_rx *rx;
    void *buf;
} eddy_broadcast_recv;

EDDY_API void eddy_broadcast_recv_init(eddy_broadcast_recv *f, eddy_broadcast_rx *rx, void *buf);
EDDY_API eddy_poll eddy_broadcast_recv_poll(eddy_broadcast_recv *f, eddy_cx *cx, int *out);
EDDY_API void eddy_broadcast_recv_drop(eddy_broadcast_recv *f);

/* From a plain thread.  Returns as the future does, or -EDDY_EMISUSE. */
EDDY_API int eddy_broadcast_recv_blocking(eddy_broadcast_rx *rx, void *buf);

/* ==== watch ================================================================
 * One current value plus change notification: senders replace the value,
 * receivers read the latest one and can wait until it changes.
 * Intermediate values may be skipped; the latest is never missed.  Each
 * receiver remembers the version it has seen. */
typedef struct eddy_watch_tx eddy_watch_tx;
typedef struct eddy_watch_rx eddy_watch_rx;

/* Creates a watch channel of elem_size-byte values holding a copy of
 * `initial` (which counts as seen by rx).  Returns 0, -EINVAL, -ENOMEM. */
EDDY_API int eddy_watch_new(eddy_watch_tx **tx, eddy_watch_rx **rx, size_t elem_size, const void *initial);

/* A new sender handle for the same channel, stored in *out.  Returns 0 or
 * -EINVAL. */
EDDY_API int eddy_watch_tx_clone(eddy_watch_tx *tx, eddy_watch_tx **out);
/* Releases a sender handle.  When the last one goes, waiting and later
 * eddy_watch_changed get -EDDY_ECLOSED once they have seen the last value
 * (which stays readable).
 * NULL is a no-op. */
EDDY_API void eddy_watch_tx_drop(eddy_watch_tx *tx);

/* Replaces the value and wakes every waiting receiver.  Returns 0, or
 * -EDDY_ECLOSED if there is no receiver (the value is not stored). */
EDDY_API int eddy_watch_send(eddy_watch_tx *tx, const void *value);

/* A new receiver; the current value counts as seen.  0, -ENOMEM. */
EDDY_API int eddy_watch_subscribe(eddy_watch_tx *tx, eddy_watch_rx **out);
/* A new receiver that has seen what rx has seen.  0, -ENOMEM. */
EDDY_API int eddy_watch_rx_clone(eddy_watch_rx *rx, eddy_watch_rx **out);
EDDY_API void eddy_watch_rx_drop(eddy_watch_rx *rx);

/* Copies the current value to buf; does not mark it seen. */
EDDY_API void eddy_watch_borrow(eddy_watch_rx *rx, void *buf);
/* Copies the current value to buf and marks it seen. */
EDDY_API void eddy_watch_borrow_and_update(eddy_watch_rx *rx, void *buf);

/* 1 if a value rx has not seen was sent, 0 if not, -EDDY_ECLOSED if not
 * and every sender is gone. */
EDDY_API int eddy_watch_has_changed(eddy_watch_rx *rx);

/* Wait for a change.  Output: 0 once a value rx has not seen is there
 * (marked seen now: read it with eddy_watch_borrow), -EDDY_ECLOSED if
 * every sender is gone first.
 * Cancellation: dropped while pending, nothing changes: the unseen value
 * stays unseen for the next wait. */
typedef struct eddy_watch_changed {
    eddy__waiter w;
    eddy_watch_rx *rx;
} eddy_watch_changed;

EDDY_API void eddy_watch_changed_init(eddy_watch_changed *f, eddy_watch_rx *rx);
EDDY_API eddy_poll eddy_watch_changed_poll(eddy_watch_changed *f, eddy_cx *cx, int *out);
EDDY_API void eddy_watch_changed_drop(eddy_watch_changed *f);

/* From a plain thread.  Returns as the future does, or -EDDY_EMISUSE. */
EDDY_API int eddy_watch_changed_blocking(eddy_watch_rx *rx);

EDDY_END_DECLS

#endif
