/* The io_uring backend (current-thread runtime).  docs/design/0012-io-uring.md.
 *
 * Readiness, for every registered descriptor: a one-shot poll request
 * armed when a future waits for a direction nobody has armed yet.  The
 * kernel checks the descriptor when the poll is submitted, so an armed
 * poll never misses a state that already holds; one CQE later the
 * direction is marked ready and its waker woken.  (This is the level-
 * triggered shape of the epoll backend, without an epoll_ctl per arm: the
 * request rides on the next io_uring_enter.)
 *
 * TCP streams opened by eddy (accept, connect, eddy_tcp_open) run in ring
 * mode, where the bytes themselves move without a system call:
 * - receive: one multishot receive per stream into a pool of buffers the
 *   kernel picks from (a provided-buffer ring shared by all streams).  Each
 *   CQE appends its buffer to the stream's queue; read futures copy out of
 *   the queue and give buffers back.  The pool belongs to the runtime, so a
 *   dropped future loses nothing, and a buffer handed to a future is never
 *   written by the kernel.  A stream holding RQ_HIGH bytes nobody read has
 *   its receive cancelled (the rest waits in the kernel's socket buffer);
 *   a read that empties the queue re-arms it.
 * - send: a write of at most SEND_COPY bytes is copied into a runtime send
 *   buffer and submitted; its future completes with the CQE's result, so a
 *   finished write means what it means on epoll (the kernel has the
 *   bytes), while a dropped one leaves the kernel reading the runtime's
 *   copy, never the caller's buffer.  One send per stream is in flight at a
 *   time, so bytes leave in order.  Larger writes are plain send(2) calls
 *   when nothing is in flight (one copy less, and the kernel takes as much
 *   as the socket buffer holds).
 * One io_uring_enter per scheduler turn submits everything and collects
 * the completions: the request/response path makes no other system call.
 *
 * Every request names a driver-owned registration (user_data = its address
 * plus a tag in the low bits), never the eddy_io: a CQE may arrive after
 * the eddy_io was closed and its memory reused.  A registration is freed
 * only when the last of its requests has posted its final CQE. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "driver.h"

#include <errno.h>
#include <linux/io_uring.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define SQ_ENTRIES 256u
#define CQ_ENTRIES 4096u
#define NBUF 1024u        /* provided receive buffers (a power of two) */
#define BUF_SIZE 2048u    /* bytes each */
#define BGID 0
#define RQ_HIGH (64u * 1024u) /* received bytes a stream may hold unread */
#define SEND_COPY 4096u   /* writes up to this size are copied and submitted */
#define SBUF_KEEP 64u     /* idle send buffers kept for reuse */
#define NO_BUF 0xffffu
#define REGS_PER_CHUNK 64

enum { TAG_RECV = 1, TAG_SEND, TAG_POLL_R, TAG_POLL_W, TAG_POLL_EDGE, TAG_UNPARK, TAG_IGNORE, TAG_MASK = 7 };

/* A send buffer: a small one (SBUF_SMALL bytes) for the common short
 * message, reused from a free list; a larger one is malloc'd for its write
 * and freed after it, so a burst of sends on thousands of connections does
 * not leave 4 KiB per connection behind. */
#define SBUF_SMALL 256u
struct sbuf {
    struct sbuf *next; /* free list */
    uint32_t len, off; /* bytes held, bytes the kernel took */
    uint32_t cap;
    char data[];
};

struct reg {
    struct eddy__driver *drv; /* first: driver.c finds the driver through it */
    eddy_io *io; /* NULL once deregistered */
    struct reg *next_free;
    uint32_t inflight; /* requests whose final CQE has not come */
    uint8_t armed;     /* EDDY__IO_READ / WRITE: a one-shot poll is in flight */
    uint8_t edge_on;   /* an edge-triggered source's multishot poll is in flight */
    uint8_t ring;      /* a stream in ring mode */
    uint8_t recv_on;   /* the multishot receive is in flight */
    uint8_t recv_cancel; /* and a cancel for it was queued */
    uint8_t rdone;     /* the receive ended: rerr is what reads return next */
    uint8_t fin_after_send;   /* shutdown(SHUT_WR) waits for the send in flight */
    uint8_t send_done; /* send_res holds the finished send's result */
    uint8_t send_nop;  /* its future was dropped before submission: a NOP now */
    int rerr;          /* 0: end of stream; <0: an error, returned once */
    ssize_t send_res;  /* bytes the finished send took, or -errno */
    int close_fd;      /* closed when the send in flight finishes, or -1 */
    uint16_t rq_head, rq_tail; /* received buffers, oldest first */
    uint32_t rq_off;   /* bytes of the head buffer already read */
    uint32_t rq_bytes;
    struct sbuf *sb;   /* the send in flight */
    unsigned send_pos; /* its SQE's position in the submission ring */
};

struct reg_chunk {
    struct reg_chunk *next;
    struct reg r[REGS_PER_CHUNK];
};

struct uring {
    struct eddy__driver base;
    int fd;
    /* submission ring: the kernel's head, tail, flags and index array */
    unsigned *sq_khead, *sq_ktail, *sq_kflags, *sq_array;
    unsigned sq_mask, sq_entries, sq_tail;
    struct io_uring_sqe *sqes;
    /* completion ring */
    unsigned *cq_khead, *cq_ktail, cq_mask;
    struct io_uring_cqe *cqes;
    void *sq_map, *cq_map;
    size_t sq_map_len, cq_map_len, sqes_len;
    /* provided receive buffers, set up on the first ring-mode stream */
    struct io_uring_buf_ring *br;
    size_t br_len;
    char *bufs;
    uint16_t br_tail;
    bool have_bufs;
    uint16_t bnext[NBUF], blen[NBUF];
    /* registrations and send buffers */
    struct reg_chunk *chunks;
    struct reg *free_regs;
    struct sbuf *free_sbufs;
    unsigned n_free_sbufs;
    unsigned inflight; /* over all registrations */
    bool enabled;      /* created disabled; enabled by the thread that drives it */
    unsigned deferred; /* closed streams whose send is still in flight */
};

static inline struct uring *U(struct eddy__driver *d) { return (struct uring *)d; }
static inline struct reg *REG(const eddy_io *io) { return (struct reg *)io->drv; }
static inline uint64_t ud(struct reg *r, unsigned tag) { return (uint64_t)(uintptr_t)r | tag; }

static int sys_enter(int fd, unsigned submit, unsigned min, unsigned flags, const struct timespec *ts)
{
    long r;
    if (ts) {
        struct io_uring_getevents_arg arg = {.ts = (uint64_t)(uintptr_t)ts};
        r = syscall(__NR_io_uring_enter, fd, submit, min, flags | IORING_ENTER_EXT_ARG, &arg, sizeof arg);
    } else {
        r = syscall(__NR_io_uring_enter, fd, submit, min, flags, NULL, 0);
    }
    return r < 0 ? -errno : (int)r;
}

static inline unsigned to_submit(struct uring *u) { return u->sq_tail - EDDY__LOAD_ACQUIRE(u->sq_khead); }

static int arm_unpark(struct uring *u);

/* The ring is created disabled and enabled by the first thread that
 * submits: with IORING_SETUP_SINGLE_ISSUER that thread becomes its only
 * submitter, so a runtime built on one thread may be driven on another.
 * Driving it from a second thread afterwards is a misuse (the kernel
 * would refuse every submission). */
static int enable(struct uring *u)
{
    if (EDDY_LIKELY(u->enabled))
        return 0;
    if (syscall(__NR_io_uring_register, u->fd, IORING_REGISTER_ENABLE_RINGS, NULL, 0) < 0)
        return -errno;
    u->enabled = true;
    return arm_unpark(u);
}

static EDDY_COLD void refused(int err)
{
    if (err == -EEXIST)
        eddy_misuse("io_uring driver", "a current-thread runtime on io_uring was driven from a second thread");
}

/* Hands the queued SQEs to the kernel without waiting. */
static int submit(struct uring *u)
{
    int e = enable(u);
    if (e < 0)
        return e;
    unsigned n = to_submit(u);
    if (!n)
        return 0;
    EDDY__STORE_RELEASE(u->sq_ktail, u->sq_tail);
    int r;
    do
        r = sys_enter(u->fd, n, 0, 0, NULL);
    while (r == -EINTR);
    if (EDDY_UNLIKELY(r == -EEXIST))
        refused(r);
    return r < 0 ? r : 0;
}

/* A zeroed SQE at the tail, or NULL if the ring stays full (the kernel
 * refused to take what is queued: out of memory). */
static struct io_uring_sqe *sqe_get(struct uring *u)
{
    if (EDDY_UNLIKELY(to_submit(u) >= u->sq_entries)) {
        (void)submit(u);
        if (to_submit(u) >= u->sq_entries)
            return NULL;
    }
    struct io_uring_sqe *e = &u->sqes[u->sq_tail & u->sq_mask];
    memset(e, 0, sizeof *e);
    u->sq_tail++;
    return e;
}

/* ---- provided buffers ------------------------------------------------------ */

static inline void buf_give(struct uring *u, uint16_t bid)
{
    struct io_uring_buf *b = &u->br->bufs[u->br_tail & (NBUF - 1)];
    b->addr = (uint64_t)(uintptr_t)(u->bufs + (size_t)bid * BUF_SIZE);
    b->len = BUF_SIZE;
    b->bid = bid;
    u->br_tail++;
    EDDY__STORE_RELEASE(&u->br->tail, u->br_tail);
}

static int bufs_setup(struct uring *u)
{
    u->br_len = NBUF * sizeof(struct io_uring_buf);
    void *br = mmap(NULL, u->br_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (br == MAP_FAILED)
        return -ENOMEM;
    u->bufs = malloc((size_t)NBUF * BUF_SIZE);
    if (!u->bufs) {
        munmap(br, u->br_len);
        return -ENOMEM;
    }
    struct io_uring_buf_reg reg = {.ring_addr = (uint64_t)(uintptr_t)br, .ring_entries = NBUF, .bgid = BGID};
    if (syscall(__NR_io_uring_register, u->fd, IORING_REGISTER_PBUF_RING, &reg, 1) < 0) {
        int e = -errno;
        munmap(br, u->br_len);
        free(u->bufs);
        u->bufs = NULL;
        return e;
    }
    u->br = br;
    u->br_tail = 0;
    for (unsigned i = 0; i < NBUF; i++)
        buf_give(u, (uint16_t)i);
    u->have_bufs = true;
    return 0;
}

/* ---- send buffers ----------------------------------------------------------- */

static struct sbuf *sbuf_get(struct uring *u, size_t len)
{
    struct sbuf *b = NULL;
    if (len <= SBUF_SMALL && (b = u->free_sbufs) != NULL) {
        u->free_sbufs = b->next;
        u->n_free_sbufs--;
    } else {
        size_t cap = len <= SBUF_SMALL ? SBUF_SMALL : len;
        if (!(b = malloc(sizeof *b + cap)))
            return NULL;
        b->cap = (uint32_t)cap;
    }
    b->len = b->off = 0;
    return b;
}

static void sbuf_put(struct uring *u, struct sbuf *b)
{
    if (b->cap != SBUF_SMALL || u->n_free_sbufs >= SBUF_KEEP) {
        free(b);
        return;
    }
    b->next = u->free_sbufs;
    u->free_sbufs = b;
    u->n_free_sbufs++;
}

/* ---- registrations ---------------------------------------------------------- */

static struct reg *reg_alloc(struct uring *u)
{
    if (!u->free_regs) {
        struct reg_chunk *c = malloc(sizeof *c);
        if (!c)
            return NULL;
        c->next = u->chunks;
        u->chunks = c;
        for (int i = REGS_PER_CHUNK - 1; i >= 0; i--) {
            c->r[i].io = NULL;
            c->r[i].sb = NULL;
            c->r[i].close_fd = -1;
            c->r[i].next_free = u->free_regs;
            u->free_regs = &c->r[i];
        }
    }
    struct reg *r = u->free_regs;
    u->free_regs = r->next_free;
    memset(r, 0, sizeof *r);
    r->drv = &u->base;
    r->rq_head = r->rq_tail = NO_BUF;
    r->close_fd = -1;
    return r;
}

static void rq_drop(struct uring *u, struct reg *r)
{
    while (r->rq_head != NO_BUF) {
        uint16_t b = r->rq_head;
        r->rq_head = u->bnext[b];
        buf_give(u, b);
    }
    r->rq_tail = NO_BUF;
    r->rq_off = r->rq_bytes = 0;
}

/* A deregistered registration whose last request has finished: close what
 * it was asked to close and recycle it. */
static void reg_maybe_free(struct uring *u, struct reg *r)
{
    if (r->io || r->inflight)
        return;
    if (r->close_fd >= 0) {
        close(r->close_fd);
        r->close_fd = -1;
    }
    r->next_free = u->free_regs;
    u->free_regs = r;
}

static void req_done(struct uring *u, struct reg *r)
{
    r->inflight--;
    u->inflight--;
}

static int queue_cancel(struct uring *u, struct reg *r, unsigned tag)
{
    struct io_uring_sqe *e = sqe_get(u);
    if (!e)
        return -ENOMEM;
    e->opcode = IORING_OP_ASYNC_CANCEL;
    e->fd = -1;
    e->addr = ud(r, tag);
    e->user_data = TAG_IGNORE;
    return 0;
}

static int arm_poll(struct uring *u, struct reg *r, int fd, uint32_t dir)
{
    struct io_uring_sqe *e = sqe_get(u);
    if (!e)
        return -ENOMEM;
    e->opcode = IORING_OP_POLL_ADD;
    e->fd = fd;
    e->poll32_events = dir == EDDY__IO_READ ? (POLLIN | POLLRDHUP | POLLPRI) : POLLOUT;
    e->user_data = ud(r, dir == EDDY__IO_READ ? TAG_POLL_R : TAG_POLL_W);
    r->armed |= (uint8_t)dir;
    r->inflight++;
    u->inflight++;
    return 0;
}

/* An edge-triggered source: one multishot poll for its whole life, which
 * posts a CQE each time the descriptor's wait queue is woken for what it
 * watches: the same edges EPOLLET reports. */
static int arm_edge(struct uring *u, struct reg *r, eddy_io *s)
{
    struct io_uring_sqe *e = sqe_get(u);
    if (!e)
        return -ENOMEM;
    e->opcode = IORING_OP_POLL_ADD;
    e->fd = s->fd;
    e->poll32_events = ((s->interest & EDDY__IO_READ) ? (POLLIN | POLLRDHUP | POLLPRI) : 0u) |
                       ((s->interest & EDDY__IO_WRITE) ? POLLOUT : 0u);
    e->len = IORING_POLL_ADD_MULTI;
    e->user_data = ud(r, TAG_POLL_EDGE);
    r->edge_on = 1;
    r->inflight++;
    u->inflight++;
    return 0;
}

static int arm_recv(struct uring *u, struct reg *r, int fd)
{
    struct io_uring_sqe *e = sqe_get(u);
    if (!e)
        return -ENOMEM;
    e->opcode = IORING_OP_RECV;
    e->fd = fd;
    e->ioprio = IORING_RECV_MULTISHOT;
    e->flags = IOSQE_BUFFER_SELECT;
    e->buf_group = BGID;
    e->user_data = ud(r, TAG_RECV);
    r->recv_on = 1;
    r->recv_cancel = 0;
    r->inflight++;
    u->inflight++;
    return 0;
}

static void queue_send(struct uring *u, struct reg *r, int fd, struct io_uring_sqe *e)
{
    e->opcode = IORING_OP_SEND;
    e->fd = fd;
    e->addr = (uint64_t)(uintptr_t)(r->sb->data + r->sb->off);
    e->len = r->sb->len - r->sb->off;
    e->msg_flags = MSG_NOSIGNAL;
    e->user_data = ud(r, TAG_SEND);
    r->send_pos = u->sq_tail - 1;
}

/* ---- the ops ------------------------------------------------------------- */

static int ur_add(struct eddy__driver *d, struct eddy__io_src *s)
{
    struct uring *u = U(d);
    bool ring = (s->flags & EDDY__IOF_RING) != 0;
    if (ring && !u->have_bufs) {
        int e = bufs_setup(u);
        if (e < 0)
            ring = false; /* readiness mode still works */
    }
    struct reg *r = reg_alloc(u);
    if (!r)
        return -ENOMEM;
    r->io = s;
    r->ring = ring;
    s->drv = r;
    s->flags = (uint8_t)((s->flags & (uint8_t)~EDDY__IOF_RING) | EDDY__IOF_URING | (ring ? EDDY__IOF_RING : 0));
    if (!ring && s->edge) {
        /* Edge-triggered: armed once, for good, as with epoll. */
        int e = arm_edge(u, r, s);
        if (e < 0) {
            r->io = NULL;
            reg_maybe_free(u, r);
            s->flags &= (uint8_t)~(EDDY__IOF_URING | EDDY__IOF_RING);
            return e;
        }
        return 0;
    }
    /* Level-triggered sources and ring streams: nothing is armed until
     * somebody waits, and every arm is one-shot. */
    s->edge = 0;
    s->interest = 0;
    /* A ring stream's first read tries the socket itself (io.c's may_try
     * keeps `fresh` for the write side in ring mode). */
    if (ring)
        s->ready = EDDY__IO_READ;
    return 0;
}

/* Arms what s->interest asks for and is not in flight yet (eddy__io_rearm
 * set it: a future is about to wait).  Never disarms: a poll nobody waits
 * for any more fires once and only sets a readiness bit. */
static int ur_mod(struct eddy__driver *d, struct eddy__io_src *s)
{
    struct uring *u = U(d);
    struct reg *r = REG(s);
    uint32_t want = s->interest;
    int err = 0;
    if (want & EDDY__IO_READ) {
        if (r->ring) {
            if (!r->recv_on && !r->rdone && r->rq_bytes == 0)
                err = arm_recv(u, r, s->fd);
        } else if (!(r->armed & EDDY__IO_READ)) {
            err = arm_poll(u, r, s->fd, EDDY__IO_READ);
        }
    }
    if (!err && (want & EDDY__IO_WRITE) && !(r->armed & EDDY__IO_WRITE) && !(r->ring && r->sb))
        err = arm_poll(u, r, s->fd, EDDY__IO_WRITE);
    if (EDDY_UNLIKELY(err)) {
        /* No request means no wake: have the waiters retry instead of
         * sleeping for good. */
        s->ready |= want;
        eddy_waker_wake(&s->rd);
        eddy_waker_wake(&s->wr);
    }
    /* What is armed (or a send in flight) is what will wake. */
    s->interest = r->armed | (r->recv_on ? EDDY__IO_READ : 0u) | (r->sb ? EDDY__IO_WRITE : 0u);
    return err;
}

static int ur_del(struct eddy__driver *d, struct eddy__io_src *s)
{
    struct uring *u = U(d);
    struct reg *r = REG(s);
    if (r->ring) {
        rq_drop(u, r);
        if (r->recv_on && !r->recv_cancel) {
            r->recv_cancel = 1;
            (void)queue_cancel(u, r, TAG_RECV);
        }
    }
    if (r->edge_on)
        (void)queue_cancel(u, r, TAG_POLL_EDGE);
    if (r->armed & EDDY__IO_READ)
        (void)queue_cancel(u, r, TAG_POLL_R);
    if (r->armed & EDDY__IO_WRITE)
        (void)queue_cancel(u, r, TAG_POLL_W);
    r->io = NULL;
    reg_maybe_free(u, r);
    return 0;
}

/* ---- completions ------------------------------------------------------------- */

static uint32_t poll_bits(int res)
{
    if (res < 0) /* cancelled or failed: let the waiter look for itself */
        return EDDY__IO_READ | EDDY__IO_WRITE;
    uint32_t ev = (uint32_t)res, bits = 0;
    if (ev & (POLLIN | POLLRDHUP | POLLHUP | POLLERR | POLLPRI))
        bits |= EDDY__IO_READ;
    if (ev & (POLLOUT | POLLHUP | POLLERR))
        bits |= EDDY__IO_WRITE;
    if (ev & (POLLRDHUP | POLLHUP | POLLERR))
        bits |= EDDY__IO_HUP;
    return bits;
}

static void on_poll(struct uring *u, struct reg *r, uint32_t dir, int res)
{
    r->armed &= (uint8_t)~dir;
    req_done(u, r);
    eddy_io *io = r->io;
    if (!io) {
        reg_maybe_free(u, r);
        return;
    }
    io->interest &= ~dir;
    uint32_t bits = poll_bits(res);
    if (r->ring)
        bits &= ~(uint32_t)EDDY__IO_READ; /* a ring stream's reads come from its queue */
    io->ready |= bits;
    if (bits & EDDY__IO_READ)
        eddy_waker_wake(&io->rd);
    if (bits & EDDY__IO_WRITE)
        eddy_waker_wake(&io->wr);
}

static void on_edge(struct uring *u, struct reg *r, int res, uint32_t flags)
{
    eddy_io *io = r->io;
    if (!(flags & IORING_CQE_F_MORE)) {
        r->edge_on = 0;
        req_done(u, r);
        if (!io) {
            reg_maybe_free(u, r);
            return;
        }
        /* The kernel ended it (an error, no memory): arm a new one.  Its
         * first check reports what holds now, so no edge is lost. */
        if (res != -ECANCELED && arm_edge(u, r, io) < 0)
            res = -ENOMEM;
    }
    if (!io)
        return;
    uint32_t bits = poll_bits(res) & (io->interest | EDDY__IO_HUP);
    io->ready |= bits;
    if (bits & EDDY__IO_READ)
        eddy_waker_wake(&io->rd);
    if (bits & EDDY__IO_WRITE)
        eddy_waker_wake(&io->wr);
}

static void on_recv(struct uring *u, struct reg *r, int res, uint32_t flags)
{
    eddy_io *io = r->io;
    bool final = !(flags & IORING_CQE_F_MORE);
    if (flags & IORING_CQE_F_BUFFER) {
        uint16_t bid = (uint16_t)(flags >> IORING_CQE_BUFFER_SHIFT);
        if (!io || res <= 0) {
            buf_give(u, bid);
        } else {
            u->blen[bid] = (uint16_t)res;
            u->bnext[bid] = NO_BUF;
            if (r->rq_tail == NO_BUF)
                r->rq_head = bid;
            else
                u->bnext[r->rq_tail] = bid;
            r->rq_tail = bid;
            r->rq_bytes += (uint32_t)res;
        }
    }
    if (final) {
        r->recv_on = 0;
        r->recv_cancel = 0;
        req_done(u, r);
        if (!io) {
            reg_maybe_free(u, r);
            return;
        }
        io->interest &= ~(uint32_t)EDDY__IO_READ;
    }
    if (!io)
        return;
    if (res > 0) {
        if (!final && r->rq_bytes >= RQ_HIGH && !r->recv_cancel) {
            /* Nobody reads this stream: stop taking buffers from the pool
             * for it.  Its reader re-arms when the queue is empty. */
            r->recv_cancel = 1;
            (void)queue_cancel(u, r, TAG_RECV);
        }
    } else if (res == 0 || (res != -ENOBUFS && res != -ECANCELED)) {
        r->rdone = 1;
        r->rerr = res;
        io->ready |= EDDY__IO_HUP;
    }
    /* Data, the end, or a receive that stopped (pool empty, cancelled):
     * the reader looks; with an empty queue and no receive armed it reads
     * the socket itself. */
    io->ready |= EDDY__IO_READ;
    eddy_waker_wake(&io->rd);
}

static void on_send(struct uring *u, struct reg *r, int res)
{
    struct sbuf *b = r->sb;
    eddy_io *io = r->io;
    if (EDDY_UNLIKELY(r->send_nop)) {
        r->send_nop = 0;
        b->len = b->off; /* what went before the NOP is all there is */
        res = 0;
    }
    if (res > 0)
        b->off += (uint32_t)res;
    if (res > 0 && b->off < b->len) {
        /* Short send (the socket buffer filled up): the rest goes next,
         * still one request as far as the counts go. */
        struct io_uring_sqe *e = sqe_get(u);
        if (e) {
            queue_send(u, r, io ? io->fd : r->close_fd, e);
            return;
        }
    }
    /* Bytes taken count even when an error ended the rest (as send(2)
     * reports a partial write); the error then comes with the next one. */
    r->send_res = b->off || b->len == 0 ? (ssize_t)b->off : (res < 0 ? res : -EPIPE);
    r->send_done = 1;
    r->sb = NULL;
    sbuf_put(u, b);
    req_done(u, r);
    int fd = io ? io->fd : r->close_fd;
    if (r->fin_after_send) {
        r->fin_after_send = 0;
        if (fd >= 0)
            (void)shutdown(fd, SHUT_WR);
    }
    if (!io) {
        if (r->close_fd >= 0) {
            close(r->close_fd);
            r->close_fd = -1;
            u->deferred--;
            /* as eddy_io_close does: an accept may wait for a descriptor */
            if (eddy__tls_core)
                eddy_waker_wake(&eddy__tls_core->fd_waiter);
        }
        reg_maybe_free(u, r);
        return;
    }
    io->interest &= ~(uint32_t)EDDY__IO_WRITE;
    io->ready |= EDDY__IO_WRITE;
    eddy_waker_wake(&io->wr);
}

static void drain_unpark(struct uring *u)
{
    uint64_t v;
    ssize_t n = read(u->base.unpark_fd, &v, sizeof v);
    (void)n;
}

static int arm_unpark(struct uring *u)
{
    struct io_uring_sqe *e = sqe_get(u);
    if (!e)
        return -ENOMEM;
    e->opcode = IORING_OP_POLL_ADD;
    e->fd = u->base.unpark_fd;
    e->poll32_events = POLLIN;
    e->len = IORING_POLL_ADD_MULTI;
    e->user_data = TAG_UNPARK;
    return 0;
}

/* Handles the CQEs waiting in the completion ring; returns how many. */
static int reap(struct uring *u)
{
    int n = 0;
    for (int round = 0; round < 4; round++) {
        unsigned head = *u->cq_khead;
        unsigned tail = EDDY__LOAD_ACQUIRE(u->cq_ktail);
        while (head != tail) {
            const struct io_uring_cqe *c = &u->cqes[head & u->cq_mask];
            uint64_t data = c->user_data;
            int res = c->res;
            uint32_t flags = c->flags;
            head++;
            /* Give the slot back first: handling may queue requests. */
            EDDY__STORE_RELEASE(u->cq_khead, head);
            n++;
            struct reg *r = (struct reg *)(uintptr_t)(data & ~(uint64_t)TAG_MASK);
            switch ((unsigned)(data & TAG_MASK)) {
            case TAG_RECV:
                on_recv(u, r, res, flags);
                break;
            case TAG_SEND:
                on_send(u, r, res);
                break;
            case TAG_POLL_R:
                on_poll(u, r, EDDY__IO_READ, res);
                break;
            case TAG_POLL_W:
                on_poll(u, r, EDDY__IO_WRITE, res);
                break;
            case TAG_POLL_EDGE:
                on_edge(u, r, res, flags);
                break;
            case TAG_UNPARK:
                drain_unpark(u);
                if (!(flags & IORING_CQE_F_MORE))
                    (void)arm_unpark(u);
                break;
            default:
                break;
            }
            tail = EDDY__LOAD_ACQUIRE(u->cq_ktail);
        }
        /* CQEs the ring had no room for wait in the kernel: fetch them. */
        if (!(EDDY__LOAD_ACQUIRE(u->sq_kflags) & IORING_SQ_CQ_OVERFLOW))
            break;
        (void)sys_enter(u->fd, 0, 0, IORING_ENTER_GETEVENTS, NULL);
    }
    return n;
}

static int ur_wait(struct eddy__driver *d, int64_t timeout_ns)
{
    struct uring *u = U(d);
    int e = enable(u);
    if (EDDY_UNLIKELY(e < 0))
        return e;
    unsigned n = to_submit(u);
    bool have = *u->cq_khead != EDDY__LOAD_ACQUIRE(u->cq_ktail);
    unsigned min = 0, flags = 0;
    if (timeout_ns != 0 && !have) {
        min = 1;
        flags = IORING_ENTER_GETEVENTS;
    } else if (EDDY__LOAD_ACQUIRE(u->sq_kflags) & (IORING_SQ_TASKRUN | IORING_SQ_CQ_OVERFLOW)) {
        flags = IORING_ENTER_GETEVENTS; /* completions the kernel has yet to post */
    }
    if (n || flags) {
        EDDY__STORE_RELEASE(u->sq_ktail, u->sq_tail);
        struct timespec ts, *tsp = NULL;
        if (min && timeout_ns > 0) {
            ts.tv_sec = timeout_ns / 1000000000;
            ts.tv_nsec = timeout_ns % 1000000000;
            tsp = &ts;
        }
        int r = sys_enter(u->fd, n, min, flags, tsp);
        if (r < 0 && r != -EINTR && r != -ETIME && r != -EBUSY && r != -EAGAIN) {
            refused(r);
            return r;
        }
    }
    return reap(u);
}

static void ur_free(struct eddy__driver *d)
{
    struct uring *u = U(d);
    /* Descriptors still registered belong to task frames that are gone or
     * going: no completion may touch them from here on. */
    for (struct reg_chunk *c = u->chunks; c; c = c->next)
        for (int i = 0; i < REGS_PER_CHUNK; i++)
            if (c->r[i].io) {
                if (c->r[i].ring)
                    rq_drop(u, &c->r[i]);
                c->r[i].io = NULL;
            }
    /* Freed by a thread that is not the ring's submitter: nothing can be
     * submitted, so tear down at once (closing the ring cancels all). */
    if (!u->enabled || sys_enter(u->fd, 0, 0, IORING_ENTER_GETEVENTS, NULL) == -EEXIST)
        goto teardown;
    /* Sends of closed streams still in flight were promised delivery:
     * give them a bounded moment (a peer that does not read must not hold
     * the runtime's end forever). */
    uint64_t deadline = eddy__mono_ns() + 1000000000ull;
    while (u->deferred && eddy__mono_ns() < deadline)
        (void)ur_wait(d, 10000000);
    /* Cancel every request and collect the CQEs, so that no request still
     * names a buffer when it is freed. */
    struct io_uring_sqe *e = sqe_get(u);
    if (e) {
        e->opcode = IORING_OP_ASYNC_CANCEL;
        e->fd = -1;
        e->cancel_flags = IORING_ASYNC_CANCEL_ANY | IORING_ASYNC_CANCEL_ALL;
        e->user_data = TAG_IGNORE;
    }
    deadline = eddy__mono_ns() + 1000000000ull;
    do
        (void)ur_wait(d, 10000000);
    while (u->inflight && eddy__mono_ns() < deadline);
teardown:
    close(u->fd);
    for (struct reg_chunk *c = u->chunks; c;) {
        for (int i = 0; i < REGS_PER_CHUNK; i++) {
            if (c->r[i].close_fd >= 0)
                close(c->r[i].close_fd);
            free(c->r[i].sb); /* only if its CQE never came */
        }
        struct reg_chunk *n = c->next;
        free(c);
        c = n;
    }
    while (u->free_sbufs) {
        struct sbuf *b = u->free_sbufs;
        u->free_sbufs = b->next;
        free(b);
    }
    if (u->have_bufs) {
        munmap(u->br, u->br_len);
        free(u->bufs);
    }
    munmap(u->sqes, u->sqes_len);
    if (u->cq_map != u->sq_map)
        munmap(u->cq_map, u->cq_map_len);
    munmap(u->sq_map, u->sq_map_len);
    free(u);
}

static const struct eddy__driver_ops uring_ops = {
    .name = "io_uring",
    .add = ur_add,
    .mod = ur_mod,
    .del = ur_del,
    .wait = ur_wait,
    .free = ur_free,
};

/* Multishot receive came with Linux 6.0, as did IORING_OP_SEND_ZC, which
 * the probe can see. */
static bool kernel_has_multishot_recv(int fd)
{
    size_t len = sizeof(struct io_uring_probe) + IORING_OP_LAST * sizeof(struct io_uring_probe_op);
    struct io_uring_probe *p = calloc(1, len);
    if (!p)
        return false;
    bool ok = syscall(__NR_io_uring_register, fd, IORING_REGISTER_PROBE, p, IORING_OP_LAST) == 0 &&
              p->last_op >= IORING_OP_SEND_ZC && (p->ops[IORING_OP_SEND_ZC].flags & IO_URING_OP_SUPPORTED);
    free(p);
    return ok;
}

int eddy__driver_uring_new(struct eddy__driver **out, int unpark_fd)
{
    struct uring *u = calloc(1, sizeof *u);
    if (!u)
        return -ENOMEM;
    struct io_uring_params p;
    memset(&p, 0, sizeof p);
    /* DEFER_TASKRUN: completions are processed only inside io_uring_enter,
     * in batches, and never interrupt the thread (COOP_TASKRUN alone still
     * flags it, so a blocking call a task makes may fail with EINTR). */
    p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL | IORING_SETUP_SINGLE_ISSUER |
              IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_TASKRUN_FLAG | IORING_SETUP_R_DISABLED;
    p.cq_entries = CQ_ENTRIES;
    int fd = (int)syscall(__NR_io_uring_setup, SQ_ENTRIES, &p);
    if (fd < 0) {
        int e = -errno;
        free(u);
        return e;
    }
    u->fd = fd;
    int err = -ENOSYS;
    if (!(p.features & IORING_FEAT_EXT_ARG) || !(p.features & IORING_FEAT_NODROP) || !kernel_has_multishot_recv(fd))
        goto fail;
    u->sq_map_len = p.sq_off.array + p.sq_entries * sizeof(unsigned);
    u->cq_map_len = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
    if (p.features & IORING_FEAT_SINGLE_MMAP) {
        if (u->cq_map_len > u->sq_map_len)
            u->sq_map_len = u->cq_map_len;
        u->cq_map_len = u->sq_map_len;
    }
    err = -ENOMEM;
    u->sq_map = mmap(NULL, u->sq_map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQ_RING);
    if (u->sq_map == MAP_FAILED)
        goto fail;
    if (p.features & IORING_FEAT_SINGLE_MMAP) {
        u->cq_map = u->sq_map;
    } else {
        u->cq_map =
            mmap(NULL, u->cq_map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_CQ_RING);
        if (u->cq_map == MAP_FAILED)
            goto fail_sq;
    }
    u->sqes_len = p.sq_entries * sizeof(struct io_uring_sqe);
    u->sqes = mmap(NULL, u->sqes_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQES);
    if (u->sqes == MAP_FAILED)
        goto fail_cq;
    char *sq = u->sq_map, *cq = u->cq_map;
    u->sq_khead = (unsigned *)(sq + p.sq_off.head);
    u->sq_ktail = (unsigned *)(sq + p.sq_off.tail);
    u->sq_kflags = (unsigned *)(sq + p.sq_off.flags);
    u->sq_array = (unsigned *)(sq + p.sq_off.array);
    u->sq_mask = *(unsigned *)(sq + p.sq_off.ring_mask);
    u->sq_entries = p.sq_entries;
    u->sq_tail = *u->sq_ktail;
    u->cq_khead = (unsigned *)(cq + p.cq_off.head);
    u->cq_ktail = (unsigned *)(cq + p.cq_off.tail);
    u->cq_mask = *(unsigned *)(cq + p.cq_off.ring_mask);
    u->cqes = (struct io_uring_cqe *)(cq + p.cq_off.cqes);
    /* SQE i always sits in slot i: the index array never changes. */
    for (unsigned i = 0; i < p.sq_entries; i++)
        u->sq_array[i] = i;
    u->base.ops = &uring_ops;
    u->base.unpark_fd = unpark_fd;
    u->base.sources = 0;
    u->base.mt = false;
    *out = &u->base;
    return 0;
fail_cq:
    if (u->cq_map != u->sq_map)
        munmap(u->cq_map, u->cq_map_len);
fail_sq:
    munmap(u->sq_map, u->sq_map_len);
fail:
    close(fd);
    free(u);
    return err;
}

/* ---- the ring-mode steps of the I/O futures (io.c) --------------------------- */


/* Copies queued bytes into iov; returns the count. */
static size_t rq_copy(struct uring *u, struct reg *r, const struct iovec *iov, int cnt)
{
    size_t n = 0;
    for (int i = 0; i < cnt && r->rq_head != NO_BUF; i++) {
        char *dst = iov[i].iov_base;
        size_t room = iov[i].iov_len;
        while (room && r->rq_head != NO_BUF) {
            uint16_t b = r->rq_head;
            size_t take = u->blen[b] - r->rq_off;
            if (take > room)
                take = room;
            memcpy(dst, u->bufs + (size_t)b * BUF_SIZE + r->rq_off, take);
            dst += take;
            room -= take;
            n += take;
            r->rq_off += (uint32_t)take;
            r->rq_bytes -= (uint32_t)take;
            if (r->rq_off == u->blen[b]) {
                r->rq_head = u->bnext[b];
                r->rq_off = 0;
                if (r->rq_head == NO_BUF)
                    r->rq_tail = NO_BUF;
                buf_give(u, b);
            }
        }
    }
    return n;
}

ssize_t eddy__ring_recvv(eddy_io *io, const struct iovec *iov, int cnt)
{
    struct reg *r = REG(io);
    struct uring *u = U(r->drv);
    if (r->rq_bytes) {
        size_t n = rq_copy(u, r, iov, cnt);
        if (!r->rq_bytes && !r->rdone)
            io->ready &= ~(uint32_t)EDDY__IO_READ;
        return (ssize_t)n;
    }
    if (r->rdone) {
        int e = r->rerr;
        r->rerr = 0; /* an error is returned once; the end of stream after it */
        return e;
    }
    if (!r->recv_on) {
        /* Nothing queued and no receive in flight, so nothing can overtake
         * these bytes: read the socket directly (a fresh stream, or one
         * whose receive stopped for flow control or an empty pool). */
        ssize_t n;
        do
            n = readv(io->fd, iov, cnt);
        while (n < 0 && errno == EINTR);
        if (n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
            return n < 0 ? -errno : n;
        if (arm_recv(u, r, io->fd) == 0)
            io->interest |= EDDY__IO_READ;
    }
    io->ready &= ~(uint32_t)EDDY__IO_READ;
    return -EAGAIN;
}

ssize_t eddy__ring_recv(eddy_io *io, void *buf, size_t len)
{
    struct iovec v = {.iov_base = buf, .iov_len = len};
    return eddy__ring_recvv(io, &v, 1);
}

static ssize_t direct_send(eddy_io *io, const struct iovec *iov, int cnt)
{
    struct msghdr m = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)cnt};
    ssize_t n;
    do
        n = sendmsg(io->fd, &m, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    if (n >= 0)
        return n;
    if (errno != EAGAIN && errno != EWOULDBLOCK)
        return -errno;
    io->ready &= ~(uint32_t)EDDY__IO_WRITE;
    io->fresh = 0;
    return -EAGAIN;
}

ssize_t eddy__ring_sendv(eddy_io *io, const struct iovec *iov, int cnt)
{
    struct reg *r = REG(io);
    struct uring *u = U(r->drv);
    if (r->sb) {
        /* A send is still in flight (its future was dropped): bytes must
         * not overtake it. */
        io->ready &= ~(uint32_t)EDDY__IO_WRITE;
        io->fresh = 0;
        return -EAGAIN;
    }
    size_t len = 0;
    for (int i = 0; i < cnt; i++)
        len += iov[i].iov_len;
    struct sbuf *b;
    if (len && len <= SEND_COPY && (b = sbuf_get(u, len)) != NULL) {
        struct io_uring_sqe *e = sqe_get(u);
        if (e) {
            for (int i = 0; i < cnt; i++) {
                memcpy(b->data + b->len, iov[i].iov_base, iov[i].iov_len);
                b->len += (uint32_t)iov[i].iov_len;
            }
            r->sb = b;
            r->send_done = 0;
            queue_send(u, r, io->fd, e);
            r->inflight++;
            u->inflight++;
            io->interest |= EDDY__IO_WRITE;
            io->ready &= ~(uint32_t)EDDY__IO_WRITE;
            return -EINPROGRESS;
        }
        sbuf_put(u, b);
    }
    return direct_send(io, iov, cnt);
}

ssize_t eddy__ring_send_result(eddy_io *io)
{
    struct reg *r = REG(io);
    if (r->sb)
        return -EINPROGRESS;
    r->send_done = 0;
    return r->send_res;
}

size_t eddy__ring_send_drop(eddy_io *io)
{
    struct reg *r = REG(io);
    struct uring *u = U(r->drv);
    struct sbuf *b = r->sb;
    if (!b) {
        /* Finished, result not collected: those bytes went out. */
        size_t n = r->send_done && r->send_res > 0 ? (size_t)r->send_res : 0;
        r->send_done = 0;
        return n;
    }
    if ((int)(r->send_pos - EDDY__LOAD_ACQUIRE(u->sq_khead)) >= 0) {
        /* Not submitted yet: take the bytes back, as a pending write on
         * epoll never wrote them.  The SQE stays (its slot is in the ring)
         * as a NOP whose CQE ends the send with what went before. */
        struct io_uring_sqe *e = &u->sqes[r->send_pos & u->sq_mask];
        uint64_t data = e->user_data;
        memset(e, 0, sizeof *e);
        e->opcode = IORING_OP_NOP;
        e->user_data = data;
        r->send_nop = 1;
        return b->off;
    }
    /* The kernel has it: the bytes go out (a failure shows in the next
     * write), so they count as written. */
    return b->len;
}

ssize_t eddy__ring_try_send(eddy_io *io, const void *buf, size_t len)
{
    struct reg *r = REG(io);
    if (r->sb) {
        io->ready &= ~(uint32_t)EDDY__IO_WRITE;
        io->fresh = 0;
        return -EAGAIN;
    }
    struct iovec v = {.iov_base = (void *)buf, .iov_len = len};
    return direct_send(io, &v, 1);
}

int eddy__ring_shutdown(eddy_io *io, int how)
{
    struct reg *r = REG(io);
    if ((how == SHUT_WR || how == SHUT_RDWR) && r->sb) {
        /* FIN after the bytes in flight: on_send shuts down. */
        r->fin_after_send = 1;
        if (how == SHUT_WR)
            return 0;
        how = SHUT_RD;
    }
    return shutdown(io->fd, how) < 0 ? -errno : 0;
}

bool eddy__ring_close_later(eddy_io *io)
{
    struct reg *r = REG(io);
    if (!r->sb)
        return false;
    r->close_fd = io->fd;
    r->fin_after_send = 0;
    U(r->drv)->deferred++;
    return true;
}

int eddy__ring_release(eddy_io *io)
{
    struct reg *r = REG(io);
    struct uring *u = U(r->drv);
    if (r->sb || r->rq_bytes)
        return -EBUSY;
    if (r->recv_on) {
        /* The receive must be gone before the descriptor is handed back, or
         * it would take bytes meant for the new owner. */
        if (!r->recv_cancel) {
            r->recv_cancel = 1;
            if (queue_cancel(u, r, TAG_RECV) < 0)
                return -ENOMEM;
        }
        uint64_t deadline = eddy__mono_ns() + 1000000000ull;
        while (r->recv_on && eddy__mono_ns() < deadline)
            (void)ur_wait(&u->base, 10000000);
        if (r->recv_on)
            return -EBUSY;
        if (r->rq_bytes)
            return -EBUSY; /* bytes came in before the cancel: read them */
    }
    return 0;
}
