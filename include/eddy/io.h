/* eddy/io.h - non-blocking descriptors and the I/O futures.
 *
 * An eddy_io is a descriptor registered with the runtime's I/O driver.  It
 * is embedded by value (in a task frame, say): no allocation, and it must
 * not move while it is open, because the driver points at it.
 *
 * The futures are completion-shaped: each is given its buffer at init and
 * owns it until it is READY or dropped, so the same API can run on a
 * completion backend (io_uring) unchanged.  Each follows the awaitable
 * convention of eddy/coro.h:
 *
 *     EDDY_AWAIT(&t->n, eddy_read, &t->rd, &t->io, t->buf, sizeof t->buf);
 *
 * Outputs are ssize_t: a byte count, or a negative errno (-ECONNRESET,
 * -EPIPE, ...).  A closed peer reads as 0.  Dropping a pending future
 * (abort, a lost select, a timeout) unregisters its waker and leaves the
 * descriptor usable; bytes already transferred by a write_all or read_exact
 * that is dropped midway are reported by its `done` field.
 *
 * One reader and one writer at a time: a read and a write may be pending on
 * the same descriptor in two different tasks, but not two reads.
 *
 * On the io_uring backend (eddy_rt_builder.io_uring), TCP streams opened by
 * eddy (eddy_accept, eddy_connect, eddy_tcp_open) run in ring mode: a
 * multishot receive fills runtime buffers that reads copy out of, and a
 * write of up to 4 KiB is copied and submitted, completing with the
 * kernel's result (docs/design/0012-io-uring.md).  The API and its meaning
 * are the same, with two differences: a program must not read such a
 * stream's descriptor itself (the receive takes the bytes first), and
 * eddy_io_release returns -EBUSY while received bytes wait to be read.
 */
#ifndef EDDY_IO_H
#define EDDY_IO_H

#include <eddy/future.h>
#include <sys/types.h>
#include <sys/uio.h>

EDDY_BEGIN_DECLS

/* A registered descriptor.  The fields are private to eddy. */
typedef struct eddy_io {
    int fd;
    uint32_t ready;    /* readiness seen and not yet consumed */
    uint32_t interest;
    uint8_t edge;
    uint8_t registered;
    uint8_t fresh;     /* never returned EAGAIN: try the syscall first */
    uint8_t flags;
    eddy_waker rd, wr; /* the waiting reader and writer */
    void *drv;
} eddy_io;

enum {
    /* level-triggered instead of the default edge-triggered */
    EDDY_IO_LEVEL = 1u << 0,
    /* eddy_io_close leaves the descriptor open (it belongs to the caller) */
    EDDY_IO_NOCLOSE = 1u << 1,
    /* register for reading only / writing only (default: both) */
    EDDY_IO_READ_ONLY = 1u << 2,
    EDDY_IO_WRITE_ONLY = 1u << 3,
};

/* Registers fd with the current runtime's driver (call it from a task or
 * block_on).  Puts fd in non-blocking mode.  From here the eddy_io owns fd
 * and closes it in eddy_io_close, unless EDDY_IO_NOCLOSE.  Returns 0,
 * -EDDY_ENORUNTIME outside a runtime, -EBADF, -EINVAL, -EPERM (a regular
 * file or a directory: nothing to wait for), or the driver's
 * error (-ENOMEM, -ENOSPC for the kernel's watch limit); on error nothing
 * is registered and fd stays open and the caller's. */
EDDY_API int eddy_io_open(eddy_io *io, int fd, unsigned flags);

/* Deregisters and closes the descriptor (see EDDY_IO_NOCLOSE).  No future
 * may be pending on it.  Safe on a zeroed or already closed eddy_io.
 * Returns 0 or the close error (the descriptor is released either way). */
EDDY_API int eddy_io_close(eddy_io *io);

/* Deregisters and hands the descriptor back without closing it: returns
 * the fd, or -EBADF if io was not open.  On the io_uring backend a TCP
 * stream whose received bytes already sit in eddy's buffers returns -EBUSY
 * and stays registered (read them, then release). */
EDDY_API int eddy_io_release(eddy_io *io);

/* The descriptor, or -1 when not open. */
EDDY_INLINE int eddy_io_fd(const eddy_io *io) { return io->registered ? io->fd : -1; }

/* ---- the futures -------------------------------------------------------
 * Fields are private; `done` where present is readable. */

/* One read(2): up to len bytes into buf.  Output: bytes read (0 = end of
 * stream), or -errno. */
typedef struct eddy_read {
    eddy_io *io;
    void *buf;
    size_t len;
    uint8_t waiting;
} eddy_read;
EDDY_API void eddy_read_init(eddy_read *f, eddy_io *io, void *buf, size_t len);
EDDY_API eddy_poll eddy_read_poll(eddy_read *f, eddy_cx *cx, ssize_t *out);
EDDY_API void eddy_read_drop(eddy_read *f);

/* One write(2) (send with MSG_NOSIGNAL on sockets).  Never SIGPIPE: on
 * pipes, block_on keeps SIGPIPE blocked on its thread and a write whose
 * reader left consumes the pending signal and returns -EPIPE.
 * Output: bytes written (may be short), or -errno (-EPIPE, -ECONNRESET). */
typedef struct eddy_write {
    eddy_io *io;
    const void *buf;
    size_t len;
    uint8_t waiting;
} eddy_write;
EDDY_API void eddy_write_init(eddy_write *f, eddy_io *io, const void *buf, size_t len);
EDDY_API eddy_poll eddy_write_poll(eddy_write *f, eddy_cx *cx, ssize_t *out);
EDDY_API void eddy_write_drop(eddy_write *f);

/* readv(2) / writev(2) over iovcnt buffers.  The iovec array belongs to
 * the future until it completes.  Output as read / write. */
typedef struct eddy_readv {
    eddy_io *io;
    const struct iovec *iov;
    int iovcnt;
    uint8_t waiting;
} eddy_readv;
EDDY_API void eddy_readv_init(eddy_readv *f, eddy_io *io, const struct iovec *iov, int iovcnt);
EDDY_API eddy_poll eddy_readv_poll(eddy_readv *f, eddy_cx *cx, ssize_t *out);
EDDY_API void eddy_readv_drop(eddy_readv *f);

typedef struct eddy_writev {
    eddy_io *io;
    const struct iovec *iov;
    int iovcnt;
    uint8_t waiting;
} eddy_writev;
EDDY_API void eddy_writev_init(eddy_writev *f, eddy_io *io, const struct iovec *iov, int iovcnt);
EDDY_API eddy_poll eddy_writev_poll(eddy_writev *f, eddy_cx *cx, ssize_t *out);
EDDY_API void eddy_writev_drop(eddy_writev *f);

/* Writes all len bytes, across as many write(2)s as needed.  Output: len,
 * or -errno; `done` counts the bytes written so far (also after an error
 * or a drop). */
typedef struct eddy_write_all {
    eddy_io *io;
    const char *buf;
    size_t len;
    size_t done;
    uint8_t waiting;
} eddy_write_all;
EDDY_API void eddy_write_all_init(eddy_write_all *f, eddy_io *io, const void *buf, size_t len);
EDDY_API eddy_poll eddy_write_all_poll(eddy_write_all *f, eddy_cx *cx, ssize_t *out);
EDDY_API void eddy_write_all_drop(eddy_write_all *f);

/* Reads exactly len bytes.  Output: len, -EPIPE if the stream ended first
 * (`done` bytes arrived), or -errno. */
typedef struct eddy_read_exact {
    eddy_io *io;
    char *buf;
    size_t len;
    size_t done;
    uint8_t waiting;
} eddy_read_exact;
EDDY_API void eddy_read_exact_init(eddy_read_exact *f, eddy_io *io, void *buf, size_t len);
EDDY_API eddy_poll eddy_read_exact_poll(eddy_read_exact *f, eddy_cx *cx, ssize_t *out);
EDDY_API void eddy_read_exact_drop(eddy_read_exact *f);

/* Waits until the descriptor is readable (or writable) without
 * transferring anything: a task can wait with no buffer at all, then read
 * into a borrowed one.  Output: 0 or -errno. */
typedef struct eddy_ready {
    eddy_io *io;
    uint32_t dir;
    uint8_t waiting;
} eddy_ready;
EDDY_API void eddy_readable_init(eddy_ready *f, eddy_io *io);
EDDY_API void eddy_writable_init(eddy_ready *f, eddy_io *io);
EDDY_API eddy_poll eddy_ready_poll(eddy_ready *f, eddy_cx *cx, int *out);
EDDY_API void eddy_ready_drop(eddy_ready *f);
#define eddy_readable_poll eddy_ready_poll
#define eddy_readable_drop eddy_ready_drop
#define eddy_writable_poll eddy_ready_poll
#define eddy_writable_drop eddy_ready_drop

/* Non-blocking attempts, for code that has just seen readiness: one
 * syscall, no waiting.  Return the count, or -EAGAIN (readiness is then
 * consumed, so the next readable/read future waits for a new event), or
 * -errno. */
EDDY_API ssize_t eddy_io_try_read(eddy_io *io, void *buf, size_t len);
EDDY_API ssize_t eddy_io_try_write(eddy_io *io, const void *buf, size_t len);

EDDY_END_DECLS

#endif
