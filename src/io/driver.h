/* Internal: the I/O driver interface.  A backend (epoll.c today; io_uring
 * later) fills in eddy__driver_ops; core code only calls through it, so no
 * backend #ifdef appears outside src/io/.  See docs/design/0005-io-driver.md. */
#ifndef EDDY_DRIVER_H
#define EDDY_DRIVER_H

#include "../core/internal.h"
#include <eddy/io.h>
#include <pthread.h>

enum {
    EDDY__IO_READ = 1u << 0,
    EDDY__IO_WRITE = 1u << 1,
    /* the peer hung up or an error is pending: a short read is then not
     * proof of a drained socket (the next read returns 0 or the error) */
    EDDY__IO_HUP = 1u << 2,
};
/* A hang-up or error makes both directions ready: the next read or write
 * returns 0 or the error, which is how futures learn about it. */

/* A registered descriptor is the public eddy_io (eddy/io.h).  Readiness is
 * kept per direction with a waker per direction, so one task may read while
 * another writes.  Level-triggered sources are re-armed by the kernel;
 * edge-triggered ones keep their readiness bit until a syscall returns
 * EAGAIN, when the future clears it (eddy__io_saw_eagain) and waits for the next
 * edge.  A spurious readiness costs one EAGAIN and nothing else. */
#define eddy__io_src eddy_io

/* eddy_io.flags bits owned by the driver and the futures (the public
 * EDDY_IO_NOCLOSE bit shares the byte). */
enum {
    EDDY__IOF_RING = 0x08,   /* a stream in ring mode (io_uring): reads and small writes go
                              * through the driver's buffers (uring.c); asked for by
                              * eddy__io_open_stream, kept only by the io_uring driver */
    EDDY__IOF_URING = 0x10,  /* registered with the io_uring driver: drv is its registration */
    EDDY__IOF_MT = 0x20,     /* registered with a multi-thread driver: drv is the slot */
    EDDY__IOF_STREAM = 0x40, /* a stream socket (short reads prove a drained socket) */
    EDDY__IOF_SOCK = 0x80,   /* a socket (send with MSG_NOSIGNAL) */
};

/* eddy_io.ready: the readiness bits in the low byte and, in multi-thread
 * mode, a readiness tick in the upper 24 bits that every dispatch bumps.
 * A future snapshots the word before its syscall; seeing EAGAIN, it clears
 * the direction only if the tick did not move meanwhile (an edge dispatched
 * between the syscall and the clear would otherwise be lost for good).  The
 * tick wraps after 2^24 dispatches; a syscall never spans that many.  The
 * current-thread driver never bumps it. */
#define EDDY__IO_TICK (1u << 8)
#define EDDY__IO_TICK_MASK (~(EDDY__IO_TICK - 1u))

struct eddy__driver;

/* Multi-thread mode: what epoll's data.ptr names instead of the eddy_io.
 * Driver-owned, so an event that the driver owner dispatches for an
 * eddy_io that another worker has just closed (and freed with its task
 * frame) reads a live slot whose io is NULL, never freed memory.  lock
 * guards io and, while io is set, the eddy_io's ready, fresh (writes),
 * interest, rd and wr.  Slots are recycled only at the start of the next
 * wait (docs/design/0005-io-driver.md, "Multi-thread mode"). */
struct eddy__io_slot {
    _Atomic uint32_t lock; /* eddy__spin_lock: held for a few dozen instructions */
    eddy_io *io;
    struct eddy__driver *drv;
    struct eddy__io_slot *next; /* free / retired list */
};

struct eddy__driver_ops {
    const char *name;
    int (*add)(struct eddy__driver *d, struct eddy__io_src *s);
    int (*mod)(struct eddy__driver *d, struct eddy__io_src *s);
    int (*del)(struct eddy__driver *d, struct eddy__io_src *s);
    /* Waits at most timeout_ns (-1: forever; 0: just look), then marks the
     * ready sources and wakes their wakers.  Returns the number of events
     * handled, or a negative errno (EINTR is handled inside).
     * Multi-thread mode: one caller at a time (the scheduler's driver
     * owner); it may run on any thread, and wakes wakers from there. */
    int (*wait)(struct eddy__driver *d, int64_t timeout_ns);
    void (*free)(struct eddy__driver *d);
};

struct eddy__slot_chunk;

struct eddy__driver {
    const struct eddy__driver_ops *ops;
    int unpark_fd;          /* eventfd written by eddy__unpark; not owned */
    long sources;           /* registrations alive (relaxed atomic in mt mode) */
    bool mt;
    /* ---- multi-thread mode only ---- */
    atomic_bool in_wait;    /* debug check: one waiter at a time */
    pthread_mutex_t slots_mu; /* guards the three lists below */
    struct eddy__io_slot *free_slots;
    struct eddy__io_slot *retired; /* deregistered since the last wait began */
    struct eddy__slot_chunk *chunks;
};

/* Creates the default backend and registers unpark_fd (an eventfd the
 * caller owns) so that writing to it ends a wait.  mt: the multi-thread
 * mode (registrations through slots, readiness ticks, any thread may
 * register, one thread at a time waits); false gives the single-thread
 * driver with none of that cost.  Returns 0 or -errno. */
EDDY_HIDDEN int eddy__driver_new(struct eddy__driver **out, int unpark_fd, bool mt, bool uring);

/* The io_uring backend's ring-mode steps (uring.c), for streams with
 * EDDY__IOF_RING, on the runtime's own thread.
 * - recv/recvv: a count (0: end of stream), -EAGAIN (the caller waits for
 *   READ with eddy__io_wait_for, which arms the receive) or -errno.
 * - sendv: a count (a direct send(2)), -EINPROGRESS (copied and submitted:
 *   the caller waits for WRITE, then takes send_result), -EAGAIN (wait for
 *   WRITE and retry) or -errno.  send_result: the finished send's count or
 *   -errno, or -EINPROGRESS while it is in flight.  try_send: never
 *   submits (eddy_io_try_write's one syscall, no waiting).
 * - shutdown: defers SHUT_WR until a send in flight is done.
 * - close_later: takes the descriptor to close after a send in flight
 *   (true) or leaves it to the caller.
 * - release: 0 when the descriptor can be handed back, or -EBUSY. */
EDDY_HIDDEN ssize_t eddy__ring_recv(eddy_io *io, void *buf, size_t len);
EDDY_HIDDEN ssize_t eddy__ring_recvv(eddy_io *io, const struct iovec *iov, int cnt);
EDDY_HIDDEN ssize_t eddy__ring_sendv(eddy_io *io, const struct iovec *iov, int cnt);
EDDY_HIDDEN ssize_t eddy__ring_send_result(eddy_io *io);
EDDY_HIDDEN ssize_t eddy__ring_try_send(eddy_io *io, const void *buf, size_t len);
EDDY_HIDDEN int eddy__ring_shutdown(eddy_io *io, int how);
EDDY_HIDDEN bool eddy__ring_close_later(eddy_io *io);
EDDY_HIDDEN int eddy__ring_release(eddy_io *io);

static inline void eddy__driver_free(struct eddy__driver *d)
{
    if (d)
        d->ops->free(d);
}

/* Registrations alive; any thread may read it. */
static inline long eddy__driver_sources(const struct eddy__driver *d) { return EDDY__LOAD_RELAXED(&d->sources); }

/* Registers s->fd for s->interest.  s->flags must be initialised (the
 * caller's EDDY__IOF_* kind bits; EDDY__IOF_MT is set here in mt mode).
 * Returns 0 or -errno. */
EDDY_HIDDEN int eddy__io_register(struct eddy__driver *d, struct eddy__io_src *s, int fd, uint32_t interest, bool edge);
/* Deregisters and drops the wakers (does not close the fd).  Safe to call
 * on a source that was never registered. */
EDDY_HIDDEN void eddy__io_deregister(struct eddy__io_src *s);

/* Level-triggered sources only: sets the armed directions to want.  In mt
 * mode the caller holds the slot lock. */
EDDY_HIDDEN void eddy__io_rearm(struct eddy__io_src *s, uint32_t want);

/* Before waiting for dir: a level-triggered source is armed on demand. */
static inline void eddy__io_arm(struct eddy__io_src *s, uint32_t dir)
{
    if (EDDY_UNLIKELY(!s->edge) && !(s->interest & dir))
        eddy__io_rearm(s, s->interest | dir);
}

/* What a backend calls in multi-thread mode (src/io/driver.c): init from
 * its constructor, fini from its free; around each wait, wait_begin before
 * collecting events (recycles the slots retired since the last wait),
 * acquire after collecting and before dispatching, wait_end after. */
EDDY_HIDDEN int eddy__driver_mt_init(struct eddy__driver *d);
EDDY_HIDDEN void eddy__driver_mt_fini(struct eddy__driver *d);
EDDY_HIDDEN void eddy__driver_mt_wait_begin(struct eddy__driver *d);
EDDY_HIDDEN void eddy__driver_mt_acquire(struct eddy__driver *d);
EDDY_HIDDEN void eddy__driver_mt_wait_end(struct eddy__driver *d);

/* The multi-thread halves of the steps below (src/io/driver.c). */
EDDY_HIDDEN void eddy__io_mt_clear(struct eddy__io_src *s, uint32_t dir, uint32_t snap);
EDDY_HIDDEN eddy_poll eddy__io_mt_wait_for(struct eddy__io_src *s, uint32_t dir, uint8_t *waiting, eddy_cx *cx);
EDDY_HIDDEN void eddy__io_mt_unwait(struct eddy__io_src *s, uint32_t dir);
EDDY_HIDDEN void eddy__io_mt_dispatch(struct eddy__io_slot *sl, uint32_t bits);

/* The steps every I/O future shares (src/io/io.c, src/net/tcp.c).
 *
 * Each comes in two forms: eddy__io_X(s, ...) looks at s->flags for the
 * mode, and eddy__io_X_m(s, ..., mt) takes the mode as an argument.  A hot
 * future tests the flag once and calls an always-inline body twice, with
 * mt = true and mt = false (see io.c): the single-thread copy then compiles
 * to the code it had before the multi-thread mode existed (plain loads, no
 * snapshot kept across the syscall), and only the multi-thread copy pays
 * for atomics and the slot lock. */

/* The readiness word, to test and to hand to eddy__io_saw_eagain as the
 * snapshot.  mt: an acquire load, so the snapshot is taken before the
 * syscall that follows it (and ThreadSanitizer sees no race with the
 * driver owner's store). */
EDDY_INLINE uint32_t eddy__io_ready_m(const struct eddy__io_src *s, bool mt)
{
    return mt ? EDDY__LOAD_ACQUIRE(&s->ready) : s->ready;
}

/* True when a syscall is worth trying for dir: readiness seen (in snap)
 * or the descriptor never returned EAGAIN. */
EDDY_INLINE bool eddy__io_may_try_m(const struct eddy__io_src *s, uint32_t snap, uint32_t dir, bool mt)
{
    return (snap & dir) || (mt ? EDDY__LOAD_RELAXED(&s->fresh) : s->fresh);
}

/* After EAGAIN (or a short read that proves a drained stream): forget the
 * readiness for dir (and that the descriptor is fresh), so the next attempt
 * waits for a new event.  snap: eddy__io_ready before the syscall; in mt
 * mode the clear happens only if no dispatch came in between (one thread:
 * nothing can have moved, snap is not even looked at). */
EDDY_INLINE void eddy__io_saw_eagain_m(struct eddy__io_src *s, uint32_t dir, uint32_t snap, bool mt)
{
    if (mt) {
        eddy__io_mt_clear(s, dir, snap);
        return;
    }
    (void)snap;
    s->ready &= ~dir;
    s->fresh = 0;
}

/* Stores cx's waker for dir (arming a level-triggered source), marks the
 * future as waiting and returns PENDING.  In mt mode, if dir became ready
 * since the caller looked, it stores nothing and wakes cx's task instead
 * (wake_by_ref, then PENDING): the task is polled again and retries. */
EDDY_INLINE eddy_poll eddy__io_wait_for_m(struct eddy__io_src *s, uint32_t dir, uint8_t *waiting, eddy_cx *cx, bool mt)
{
    if (mt)
        return eddy__io_mt_wait_for(s, dir, waiting, cx);
    eddy_waker_set(dir == EDDY__IO_READ ? &s->rd : &s->wr, cx->waker);
    eddy__io_arm(s, dir);
    *waiting = 1;
    return EDDY_PENDING;
}

static inline bool eddy__io_is_mt(const struct eddy__io_src *s) { return (s->flags & EDDY__IOF_MT) != 0; }

static inline uint32_t eddy__io_ready(const struct eddy__io_src *s) { return eddy__io_ready_m(s, eddy__io_is_mt(s)); }

static inline bool eddy__io_may_try(const struct eddy__io_src *s, uint32_t snap, uint32_t dir)
{
    return eddy__io_may_try_m(s, snap, dir, eddy__io_is_mt(s));
}

static inline void eddy__io_saw_eagain(struct eddy__io_src *s, uint32_t dir, uint32_t snap)
{
    eddy__io_saw_eagain_m(s, dir, snap, eddy__io_is_mt(s));
}

static inline eddy_poll eddy__io_wait_for(struct eddy__io_src *s, uint32_t dir, uint8_t *waiting, eddy_cx *cx)
{
    return eddy__io_wait_for_m(s, dir, waiting, cx, eddy__io_is_mt(s));
}

/* A waiting future's drop: its waker leaves the descriptor.  Safe on a
 * future that never waited, finished, or whose descriptor was closed. */
static inline void eddy__io_unwait(struct eddy__io_src *s, uint32_t dir, uint8_t *waiting)
{
    if (*waiting && s && s->registered) {
        if (EDDY_UNLIKELY(s->flags & EDDY__IOF_MT))
            eddy__io_mt_unwait(s, dir);
        else
            eddy_waker_drop(dir == EDDY__IO_READ ? &s->rd : &s->wr);
    }
    *waiting = 0;
}

/* Dispatch used by backends in single-thread mode: marks s ready for bits
 * and wakes waiters.  (mt mode: eddy__io_mt_dispatch on the slot.) */
static inline void eddy__io_dispatch(struct eddy__io_src *s, uint32_t bits)
{
    s->ready |= bits;
    if (bits & EDDY__IO_READ)
        eddy_waker_wake(&s->rd);
    if (bits & EDDY__IO_WRITE)
        eddy_waker_wake(&s->wr);
    if (EDDY_UNLIKELY(!s->edge)) {
        /* Disarm what nobody waits on any more; a waiter re-arms. */
        uint32_t want = (s->rd.vtable ? EDDY__IO_READ : 0u) | (s->wr.vtable ? EDDY__IO_WRITE : 0u);
        if (want != s->interest)
            eddy__io_rearm(s, want);
    }
}

#endif
