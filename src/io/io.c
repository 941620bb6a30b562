/* The I/O futures over a registered descriptor.  Each poll tries the
 * syscall only when the descriptor is known (or not yet known not) to be
 * ready, so a waiting future costs nothing, and a spurious wake costs one
 * EAGAIN. */
#include "driver.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <time.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define IOF_SOCK EDDY__IOF_SOCK
#define IOF_STREAM EDDY__IOF_STREAM

/* Registers fd; kind is IOF_SOCK|IOF_STREAM when the caller knows it (TCP),
 * or 0 to find out with fstat/getsockopt. */
static int io_open(eddy_io *io, int fd, unsigned flags, unsigned kind);

int eddy_io_open(eddy_io *io, int fd, unsigned flags) { return io_open(io, fd, flags, 0); }

EDDY_HIDDEN int eddy__io_open_stream(eddy_io *io, int fd);

/* A connected TCP socket: one ioctl instead of fcntl+fstat+getsockopt. */
int eddy__io_open_stream(eddy_io *io, int fd)
{
    /* Ring mode when the driver is io_uring: eddy alone reads this stream. */
    return io_open(io, fd, 0, IOF_SOCK | IOF_STREAM | EDDY__IOF_RING);
}

static int io_open(eddy_io *io, int fd, unsigned flags, unsigned kind)
{
    if (!io)
        return -EINVAL;
    struct eddy__core *c = eddy__tls_core;
    if (!c)
        return -EDDY_ENORUNTIME;
    if (fd < 0)
        return -EBADF;
    if ((flags & EDDY_IO_READ_ONLY) && (flags & EDDY_IO_WRITE_ONLY))
        return -EINVAL;
    if (kind) {
        int on = 1;
        if (ioctl(fd, FIONBIO, &on) < 0)
            return -errno;
    } else {
        struct stat st;
        if (fstat(fd, &st) < 0)
            return -errno;
        /* A regular file or a directory is always "ready": nothing to wait
         * for.  epoll_ctl refuses it; a poll request on io_uring would
         * complete at once, forever.  Refused here, for every backend, with
         * epoll's error, and before its flags are touched. */
        if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode))
            return -EPERM;
        int fl = fcntl(fd, F_GETFL);
        if (fl < 0)
            return -errno;
        if (!(fl & O_NONBLOCK) && fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
            return -errno;
        if (S_ISSOCK(st.st_mode)) {
            kind = IOF_SOCK;
            int type = 0;
            socklen_t len = sizeof type;
            if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 && type == SOCK_STREAM)
                kind |= IOF_STREAM;
        }
    }
    uint32_t interest = EDDY__IO_READ | EDDY__IO_WRITE;
    if (flags & EDDY_IO_READ_ONLY)
        interest = EDDY__IO_READ;
    if (flags & EDDY_IO_WRITE_ONLY)
        interest = EDDY__IO_WRITE;
    /* Before registering: the driver adds its own bit (EDDY__IOF_MT). */
    io->flags = (uint8_t)((flags & EDDY_IO_NOCLOSE) | kind);
    return eddy__io_register(c->driver, io, fd, interest, !(flags & EDDY_IO_LEVEL));
}

int eddy_io_release(eddy_io *io)
{
    if (!io || !io->registered)
        return -EBADF;
    if (EDDY_UNLIKELY(io->flags & EDDY__IOF_RING)) {
        int r = eddy__ring_release(io);
        if (r < 0)
            return r;
    }
    int fd = io->fd;
    eddy__io_deregister(io);
    io->fd = -1;
    return fd;
}

int eddy_io_close(eddy_io *io)
{
    if (!io || !io->registered)
        return 0;
    bool noclose = io->flags & EDDY_IO_NOCLOSE;
    int fd = io->fd;
    /* Ring mode with a buffered send in flight: the driver closes fd once
     * the send is done, so no byte written before the close is lost. */
    bool later = !noclose && EDDY_UNLIKELY(io->flags & EDDY__IOF_RING) && eddy__ring_close_later(io);
    eddy__io_deregister(io);
    io->fd = -1;
    if (noclose || later)
        return 0;
    struct eddy__core *c = eddy__tls_core;
    if (c)
        eddy_waker_wake(&c->fd_waiter); /* an accept may be waiting for a descriptor */
    /* Linux releases the descriptor even when close reports an error. */
    return close(fd) < 0 && errno != EINTR ? -errno : 0;
}

/* ---- shared steps -------------------------------------------------------- */

/* recv on a socket: the same bytes as read, without the file layer's
 * permission and fsnotify hooks that read pays on every call. */
static inline ssize_t sys_read(eddy_io *io, void *buf, size_t len)
{
    ssize_t n;
    do
        n = (io->flags & IOF_SOCK) ? recv(io->fd, buf, len, 0) : read(io->fd, buf, len);
    while (n < 0 && errno == EINTR);
    return n < 0 ? -errno : n;
}

/* A write to a pipe whose reader left raised SIGPIPE on this thread, where
 * block_on keeps it blocked: consume it so it is never delivered later. */
static EDDY_COLD void eat_sigpipe(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    struct timespec zero = {0, 0};
    int e = errno;
    while (sigtimedwait(&set, NULL, &zero) == SIGPIPE)
        ;
    errno = e;
}

static inline ssize_t sys_write(eddy_io *io, const void *buf, size_t len)
{
    ssize_t n;
    do
        n = (io->flags & IOF_SOCK) ? send(io->fd, buf, len, MSG_NOSIGNAL) : write(io->fd, buf, len);
    while (n < 0 && errno == EINTR);
    if (EDDY_UNLIKELY(n < 0 && errno == EPIPE && !(io->flags & IOF_SOCK)))
        eat_sigpipe();
    return n < 0 ? -errno : n;
}

static inline ssize_t sys_readv(eddy_io *io, const struct iovec *iov, int cnt)
{
    ssize_t n;
    do
        n = readv(io->fd, iov, cnt);
    while (n < 0 && errno == EINTR);
    return n < 0 ? -errno : n;
}

static inline ssize_t sys_writev(eddy_io *io, const struct iovec *iov, int cnt)
{
    ssize_t n;
    do {
        if (io->flags & IOF_SOCK) {
            struct msghdr m = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)cnt};
            n = sendmsg(io->fd, &m, MSG_NOSIGNAL);
        } else {
            n = writev(io->fd, iov, cnt);
        }
    } while (n < 0 && errno == EINTR);
    if (EDDY_UNLIKELY(n < 0 && errno == EPIPE && !(io->flags & IOF_SOCK)))
        eat_sigpipe();
    return n < 0 ? -errno : n;
}

#define EAGAIN_OR_WOULDBLOCK(n) ((n) == -EAGAIN || (n) == -EWOULDBLOCK)

/* Each hot poll is an always-inline body with the mode as a constant,
 * instantiated once per mode (see driver.h): the single-thread copy pays
 * one flag test and nothing else.  M_RING: a stream on the io_uring
 * driver, whose bytes move through the driver's buffers (uring.c keeps its
 * readiness bits: READ while bytes or the end are queued, WRITE while no
 * buffered send is in flight). */
enum { M_CT, M_MT, M_RING };
#define IS_MT(mode) ((mode) == M_MT)

#define MODE_SPLIT(io, body, ...)                                                                  \
    do {                                                                                           \
        if ((io) && EDDY_UNLIKELY(((io)->flags & (EDDY__IOF_MT | EDDY__IOF_RING)) != 0)) {         \
            if ((io)->flags & EDDY__IOF_MT)                                                        \
                return body(__VA_ARGS__, M_MT);                                                    \
            return body(__VA_ARGS__, M_RING);                                                      \
        }                                                                                          \
        return body(__VA_ARGS__, M_CT);                                                            \
    } while (0)

EDDY_INLINE uint32_t ready_m(const eddy_io *io, int mode)
{
    return mode == M_RING ? io->ready : eddy__io_ready_m(io, IS_MT(mode));
}

EDDY_INLINE bool may_try(const eddy_io *io, uint32_t snap, uint32_t dir, int mode)
{
    if (mode == M_RING) /* fresh is the write side's alone here */
        return (snap & dir) || (dir == EDDY__IO_WRITE && io->fresh);
    return eddy__io_may_try_m(io, snap, dir, IS_MT(mode));
}

EDDY_INLINE void saw_eagain(eddy_io *io, uint32_t dir, uint32_t snap, int mode)
{
    if (mode != M_RING) /* uring.c cleared what it had to */
        eddy__io_saw_eagain_m(io, dir, snap, IS_MT(mode));
}

EDDY_INLINE eddy_poll wait_for(eddy_io *io, uint32_t dir, uint8_t *waiting, eddy_cx *cx, int mode)
{
    return eddy__io_wait_for_m(io, dir, waiting, cx, IS_MT(mode));
}

EDDY_INLINE ssize_t do_read(eddy_io *io, void *buf, size_t len, int mode)
{
    return mode == M_RING ? eddy__ring_recv(io, buf, len) : sys_read(io, buf, len);
}

/* Ring mode's write step: one attempt, or the result of the send in
 * flight.  A small write is copied and submitted; the future then sleeps
 * until its CQE (RING_INFLIGHT in `waiting`) and completes with the
 * kernel's count, as a write(2) would have.  READY with *res (a count or
 * -errno), or PENDING with the waker stored. */
#define RING_INFLIGHT 2u

static eddy_poll ring_send_step(eddy_io *io, const struct iovec *iov, int cnt, uint8_t *waiting, eddy_cx *cx,
                                ssize_t *res)
{
    ssize_t n;
    if (*waiting & RING_INFLIGHT) {
        n = eddy__ring_send_result(io);
        if (n == -EINPROGRESS)
            goto sleep; /* woken before the CQE */
        *waiting = 0;
        *res = n;
        return EDDY_READY;
    }
    if (!may_try(io, io->ready, EDDY__IO_WRITE, M_RING))
        return eddy__io_wait_for_m(io, EDDY__IO_WRITE, waiting, cx, false);
    if (!eddy__coop_spend(cx))
        return EDDY_PENDING;
    n = eddy__ring_sendv(io, iov, cnt);
    if (n == -EINPROGRESS)
        goto sleep;
    if (n == -EAGAIN)
        return eddy__io_wait_for_m(io, EDDY__IO_WRITE, waiting, cx, false);
    *waiting = 0;
    *res = n;
    return EDDY_READY;
sleep:
    eddy_waker_set(&io->wr, cx->waker);
    *waiting = 1u | RING_INFLIGHT;
    return EDDY_PENDING;
}

/* One write attempt with no waiting.  Ring mode: a direct send(2) when no
 * send is in flight (eddy_io_try_write); the write futures' ring path is
 * ring_send_step. */
EDDY_INLINE ssize_t do_write(eddy_io *io, const void *buf, size_t len, int mode)
{
    return mode == M_RING ? eddy__ring_try_send(io, buf, len) : sys_write(io, buf, len);
}

/* A short read from an edge-triggered stream socket proves it is drained
 * (epoll(7)): forget the readiness now instead of paying a read that
 * returns EAGAIN.  Not after a hang-up: the next read must see the 0.
 * snap is the readiness word from before the read: the clear goes through
 * the same tick check as after EAGAIN (an edge may have come since). */
EDDY_INLINE void after_read(eddy_io *io, ssize_t n, size_t asked, uint32_t snap, int mode)
{
    if (mode == M_RING)
        return;
    bool mt = IS_MT(mode);
    /* One thread: ready is what it was at the snapshot; reading it again
     * keeps the snapshot out of a register across the syscall. */
    uint32_t r = mt ? snap : io->ready;
    if (n > 0 && (size_t)n < asked && (io->flags & IOF_STREAM) && io->edge && !(r & EDDY__IO_HUP))
        eddy__io_saw_eagain_m(io, EDDY__IO_READ, snap, mt);
}

static size_t iov_total(const struct iovec *iov, int cnt)
{
    size_t t = 0;
    for (int i = 0; i < cnt; i++)
        t += iov[i].iov_len;
    return t;
}

EDDY_INLINE ssize_t try_read(eddy_io *io, void *buf, size_t len, int mode)
{
    if (!io || !io->registered)
        return -EBADF;
    uint32_t snap = ready_m(io, mode);
    ssize_t n = do_read(io, buf, len, mode);
    if (EAGAIN_OR_WOULDBLOCK(n)) {
        saw_eagain(io, EDDY__IO_READ, snap, mode);
        return -EAGAIN;
    }
    after_read(io, n, len, snap, mode);
    return n;
}

ssize_t eddy_io_try_read(eddy_io *io, void *buf, size_t len) { MODE_SPLIT(io, try_read, io, buf, len); }

EDDY_INLINE ssize_t try_write(eddy_io *io, const void *buf, size_t len, int mode)
{
    if (!io || !io->registered)
        return -EBADF;
    uint32_t snap = ready_m(io, mode);
    ssize_t n = do_write(io, buf, len, mode);
    if (EAGAIN_OR_WOULDBLOCK(n)) {
        saw_eagain(io, EDDY__IO_WRITE, snap, mode);
        return -EAGAIN;
    }
    return n;
}

ssize_t eddy_io_try_write(eddy_io *io, const void *buf, size_t len) { MODE_SPLIT(io, try_write, io, buf, len); }

/* One-shot operations share this shape: try if maybe ready, else wait. */
#define ONE_SHOT_POLL(f, cx, out, dir, call, mode)                                                  \
    do {                                                                                           \
        eddy_io *io_ = (f)->io;                                                                    \
        if (EDDY_UNLIKELY(!io_ || !io_->registered)) {                                             \
            (f)->waiting = 0;                                                                      \
            *(out) = -EBADF;                                                                       \
            return EDDY_READY;                                                                     \
        }                                                                                          \
        uint32_t snap_ = ready_m(io_, mode);                                                       \
        if (may_try(io_, snap_, dir, mode)) {                                                      \
            if (!eddy__coop_spend(cx))                                                             \
                return EDDY_PENDING;                                                               \
            ssize_t n_ = (call);                                                                   \
            if (!EAGAIN_OR_WOULDBLOCK(n_)) {                                                       \
                (f)->waiting = 0; /* done: a later drop must not touch the slot */                 \
                *(out) = n_;                                                                       \
                return EDDY_READY;                                                                 \
            }                                                                                      \
            saw_eagain(io_, dir, snap_, mode);                                                     \
        }                                                                                          \
        return wait_for(io_, dir, &(f)->waiting, cx, mode);                                        \
    } while (0)

EDDY_INLINE ssize_t read_once(eddy_io *io, void *buf, size_t len, uint32_t snap, int mode)
{
    ssize_t n = do_read(io, buf, len, mode);
    after_read(io, n, len, snap, mode);
    return n;
}

EDDY_INLINE ssize_t readv_once(eddy_io *io, const struct iovec *iov, int cnt, uint32_t snap, int mode)
{
    if (mode == M_RING)
        return eddy__ring_recvv(io, iov, cnt);
    ssize_t n = sys_readv(io, iov, cnt);
    if (n > 0 && (io->flags & IOF_STREAM))
        after_read(io, n, iov_total(iov, cnt), snap, mode);
    return n;
}


void eddy_read_init(eddy_read *f, eddy_io *io, void *buf, size_t len)
{
    *f = (eddy_read){.io = io, .buf = buf, .len = len};
}
EDDY_INLINE eddy_poll read_body(eddy_read *f, eddy_cx *cx, ssize_t *out, int mode)
{
    ONE_SHOT_POLL(f, cx, out, EDDY__IO_READ, read_once(io_, f->buf, f->len, snap_, mode), mode);
}
eddy_poll eddy_read_poll(eddy_read *f, eddy_cx *cx, ssize_t *out) { MODE_SPLIT(f->io, read_body, f, cx, out); }
void eddy_read_drop(eddy_read *f) { eddy__io_unwait(f->io, EDDY__IO_READ, &f->waiting); }

void eddy_write_init(eddy_write *f, eddy_io *io, const void *buf, size_t len)
{
    *f = (eddy_write){.io = io, .buf = buf, .len = len};
}
EDDY_INLINE eddy_poll write_body(eddy_write *f, eddy_cx *cx, ssize_t *out, int mode)
{
    if (mode == M_RING && f->io->registered) {
        struct iovec v = {.iov_base = (void *)f->buf, .iov_len = f->len};
        return ring_send_step(f->io, &v, 1, &f->waiting, cx, out);
    }
    ONE_SHOT_POLL(f, cx, out, EDDY__IO_WRITE, do_write(io_, f->buf, f->len, mode), mode);
}
eddy_poll eddy_write_poll(eddy_write *f, eddy_cx *cx, ssize_t *out) { MODE_SPLIT(f->io, write_body, f, cx, out); }
/* Ring mode: a dropped write whose copy is in flight. */
static size_t ring_send_dropped(eddy_io *io, uint8_t waiting)
{
    return (waiting & RING_INFLIGHT) && io && io->registered ? eddy__ring_send_drop(io) : 0;
}

void eddy_write_drop(eddy_write *f)
{
    (void)ring_send_dropped(f->io, f->waiting);
    eddy__io_unwait(f->io, EDDY__IO_WRITE, &f->waiting);
}

void eddy_readv_init(eddy_readv *f, eddy_io *io, const struct iovec *iov, int iovcnt)
{
    *f = (eddy_readv){.io = io, .iov = iov, .iovcnt = iovcnt};
}
EDDY_INLINE eddy_poll readv_body(eddy_readv *f, eddy_cx *cx, ssize_t *out, int mode)
{
    ONE_SHOT_POLL(f, cx, out, EDDY__IO_READ, readv_once(io_, f->iov, f->iovcnt, snap_, mode), mode);
}
eddy_poll eddy_readv_poll(eddy_readv *f, eddy_cx *cx, ssize_t *out) { MODE_SPLIT(f->io, readv_body, f, cx, out); }
void eddy_readv_drop(eddy_readv *f) { eddy__io_unwait(f->io, EDDY__IO_READ, &f->waiting); }

void eddy_writev_init(eddy_writev *f, eddy_io *io, const struct iovec *iov, int iovcnt)
{
    *f = (eddy_writev){.io = io, .iov = iov, .iovcnt = iovcnt};
}
EDDY_INLINE eddy_poll writev_body(eddy_writev *f, eddy_cx *cx, ssize_t *out, int mode)
{
    if (mode == M_RING && f->io->registered)
        return ring_send_step(f->io, f->iov, f->iovcnt, &f->waiting, cx, out);
    ONE_SHOT_POLL(f, cx, out, EDDY__IO_WRITE, sys_writev(io_, f->iov, f->iovcnt), mode);
}
eddy_poll eddy_writev_poll(eddy_writev *f, eddy_cx *cx, ssize_t *out) { MODE_SPLIT(f->io, writev_body, f, cx, out); }
void eddy_writev_drop(eddy_writev *f)
{
    (void)ring_send_dropped(f->io, f->waiting);
    eddy__io_unwait(f->io, EDDY__IO_WRITE, &f->waiting);
}

/* ---- loops ---------------------------------------------------------------- */

void eddy_write_all_init(eddy_write_all *f, eddy_io *io, const void *buf, size_t len)
{
    *f = (eddy_write_all){.io = io, .buf = buf, .len = len};
}

EDDY_INLINE eddy_poll write_all_body(eddy_write_all *f, eddy_cx *cx, ssize_t *out, int mode)
{
    eddy_io *io = f->io;
    if (EDDY_UNLIKELY(!io || !io->registered)) {
        f->waiting = 0;
        *out = -EBADF;
        return EDDY_READY;
    }
    while (mode == M_RING && f->done < f->len) {
        struct iovec v = {.iov_base = (void *)(f->buf + f->done), .iov_len = f->len - f->done};
        ssize_t n;
        if (ring_send_step(io, &v, 1, &f->waiting, cx, &n) == EDDY_PENDING)
            return EDDY_PENDING;
        if (n < 0) {
            *out = n;
            return EDDY_READY;
        }
        f->done += (size_t)n;
    }
    while (f->done < f->len) {
        uint32_t snap = ready_m(io, mode);
        if (!may_try(io, snap, EDDY__IO_WRITE, mode))
            return wait_for(io, EDDY__IO_WRITE, &f->waiting, cx, mode);
        if (!eddy__coop_spend(cx))
            return EDDY_PENDING;
        ssize_t n = do_write(io, f->buf + f->done, f->len - f->done, mode);
        if (n >= 0) {
            f->done += (size_t)n;
        } else if (EAGAIN_OR_WOULDBLOCK(n)) {
            saw_eagain(io, EDDY__IO_WRITE, snap, mode);
        } else {
            f->waiting = 0;
            *out = n;
            return EDDY_READY;
        }
    }
    f->waiting = 0;
    *out = (ssize_t)f->len;
    return EDDY_READY;
}

eddy_poll eddy_write_all_poll(eddy_write_all *f, eddy_cx *cx, ssize_t *out)
{
    MODE_SPLIT(f->io, write_all_body, f, cx, out);
}

void eddy_write_all_drop(eddy_write_all *f)
{
    f->done += ring_send_dropped(f->io, f->waiting); /* `done` counts what still goes out */
    eddy__io_unwait(f->io, EDDY__IO_WRITE, &f->waiting);
}

void eddy_read_exact_init(eddy_read_exact *f, eddy_io *io, void *buf, size_t len)
{
    *f = (eddy_read_exact){.io = io, .buf = buf, .len = len};
}

EDDY_INLINE eddy_poll read_exact_body(eddy_read_exact *f, eddy_cx *cx, ssize_t *out, int mode)
{
    eddy_io *io = f->io;
    if (EDDY_UNLIKELY(!io || !io->registered)) {
        f->waiting = 0;
        *out = -EBADF;
        return EDDY_READY;
    }
    while (f->done < f->len) {
        uint32_t snap = ready_m(io, mode);
        if (!may_try(io, snap, EDDY__IO_READ, mode))
            return wait_for(io, EDDY__IO_READ, &f->waiting, cx, mode);
        if (!eddy__coop_spend(cx))
            return EDDY_PENDING;
        ssize_t n = do_read(io, f->buf + f->done, f->len - f->done, mode);
        if (n > 0) {
            after_read(io, n, f->len - f->done, snap, mode);
            f->done += (size_t)n;
        } else if (n == 0) {
            f->waiting = 0;
            *out = -EPIPE;
            return EDDY_READY;
        } else if (EAGAIN_OR_WOULDBLOCK(n)) {
            saw_eagain(io, EDDY__IO_READ, snap, mode);
        } else {
            f->waiting = 0;
            *out = n;
            return EDDY_READY;
        }
    }
    f->waiting = 0;
    *out = (ssize_t)f->len;
    return EDDY_READY;
}

eddy_poll eddy_read_exact_poll(eddy_read_exact *f, eddy_cx *cx, ssize_t *out)
{
    MODE_SPLIT(f->io, read_exact_body, f, cx, out);
}

void eddy_read_exact_drop(eddy_read_exact *f) { eddy__io_unwait(f->io, EDDY__IO_READ, &f->waiting); }

/* ---- readiness ------------------------------------------------------------ */

void eddy_readable_init(eddy_ready *f, eddy_io *io) { *f = (eddy_ready){.io = io, .dir = EDDY__IO_READ}; }
void eddy_writable_init(eddy_ready *f, eddy_io *io) { *f = (eddy_ready){.io = io, .dir = EDDY__IO_WRITE}; }

eddy_poll eddy_ready_poll(eddy_ready *f, eddy_cx *cx, int *out)
{
    eddy_io *io = f->io;
    if (EDDY_UNLIKELY(!io || !io->registered)) {
        f->waiting = 0;
        if (out)
            *out = -EBADF;
        return EDDY_READY;
    }
    if (eddy__io_ready(io) & f->dir) {
        f->waiting = 0;
        if (out)
            *out = 0;
        return EDDY_READY;
    }
    return eddy__io_wait_for(io, f->dir, &f->waiting, cx);
}

void eddy_ready_drop(eddy_ready *f) { eddy__io_unwait(f->io, f->dir, &f->waiting); }
