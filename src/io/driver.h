/* Internal: the I/O driver interface.  A backend (epoll.c today; io_uring
 * later) fills in eddy__driver_ops; core code only calls through it, so no
 * backend #ifdef appears outside src/io/.  See docs/design/0005-io-driver.md. */
#ifndef EDDY_DRIVER_H
#define EDDY_DRIVER_H

#include "../core/internal.h"
#include <eddy/io.h>

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

struct eddy__driver;

struct eddy__driver_ops {
    const char *name;
    int (*add)(struct eddy__driver *d, struct eddy__io_src *s);
    int (*mod)(struct eddy__driver *d, struct eddy__io_src *s);
    int (*del)(struct eddy__driver *d, struct eddy__io_src *s);
    /* Waits at most timeout_ns (-1: forever; 0: just look), then marks the
     * ready sources and wakes their wakers.  Returns the number of events
     * handled, or a negative errno (EINTR is handled inside). */
    int (*wait)(struct eddy__driver *d, int64_t timeout_ns);
    void (*free)(struct eddy__driver *d);
};

struct eddy__driver {
    const struct eddy__driver_ops *ops;
    int unpark_fd;          /* eventfd written by eddy__unpark; not owned */
    long sources;           /* registrations alive */
};

/* Creates the default backend and registers unpark_fd (an eventfd the
 * caller owns) so that writing to it ends a wait.  Returns 0 or -errno. */
EDDY_HIDDEN int eddy__driver_new(struct eddy__driver **out, int unpark_fd);

static inline void eddy__driver_free(struct eddy__driver *d)
{
    if (d)
        d->ops->free(d);
}

/* Registers s->fd for s->interest.  Returns 0 or -errno. */
EDDY_HIDDEN int eddy__io_register(struct eddy__driver *d, struct eddy__io_src *s, int fd, uint32_t interest, bool edge);
/* Deregisters and drops the wakers (does not close the fd).  Safe to call
 * on a source that was never registered. */
EDDY_HIDDEN void eddy__io_deregister(struct eddy__io_src *s);

/* Level-triggered sources only: sets the armed directions to want. */
EDDY_HIDDEN void eddy__io_rearm(struct eddy__io_src *s, uint32_t want);

/* Before waiting for dir: a level-triggered source is armed on demand. */
static inline void eddy__io_arm(struct eddy__io_src *s, uint32_t dir)
{
    if (EDDY_UNLIKELY(!s->edge) && !(s->interest & dir))
        eddy__io_rearm(s, s->interest | dir);
}

/* The steps every I/O future shares (src/io/io.c, src/net/tcp.c). */

/* After EAGAIN: forget the readiness for dir (and that the descriptor is
 * fresh), so the next attempt waits for a new event. */
static inline void eddy__io_saw_eagain(struct eddy__io_src *s, uint32_t dir)
{
    s->ready &= ~dir;
    s->fresh = 0;
}

/* Stores cx's waker for dir (arming a level-triggered source), marks the
 * future as waiting and returns PENDING. */
static inline eddy_poll eddy__io_wait_for(struct eddy__io_src *s, uint32_t dir, uint8_t *waiting, eddy_cx *cx)
{
    eddy_waker_set(dir == EDDY__IO_READ ? &s->rd : &s->wr, cx->waker);
    eddy__io_arm(s, dir);
    *waiting = 1;
    return EDDY_PENDING;
}

/* A waiting future's drop: its waker leaves the descriptor.  Safe on a
 * future that never waited, finished, or whose descriptor was closed. */
static inline void eddy__io_unwait(struct eddy__io_src *s, uint32_t dir, uint8_t *waiting)
{
    if (*waiting && s && s->registered)
        eddy_waker_drop(dir == EDDY__IO_READ ? &s->rd : &s->wr);
    *waiting = 0;
}

/* Dispatch used by backends: marks s ready for bits and wakes waiters. */
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
