/* echo_server - the server of the notes, with eddy: a task per connection
 * instead of a thread per connection.
 *
 *     echo_server --port P [--threads N] [--io epoll|io_uring] [--addr A]
 *
 * Prints "listening on 127.0.0.1:P" once bound (--port 0 picks a free
 * port) and echoes every byte back until SIGINT/SIGTERM, then shuts down
 * cleanly: the listener task is aborted, the runtime drops every
 * connection task (each closes its socket) and a summary goes to stderr.
 * --threads N > 1 asks for the multi-thread runtime with N workers.
 *
 * The shape (the root and the listener are in server_common.h, shared
 * with the other example servers):
 *
 *   root (block_on)      binds, prints the address, spawns the listener,
 *                        then waits for a signal (a signalfd registered
 *                        with eddy_io_open) or for the listener to end;
 *   listener task        accepts in a loop (eddy_accept) and spawns one
 *                        task per connection, the accepted fd in its frame;
 *   connection task      eddy_tcp_open in its first poll, then loops:
 *                          wait until readable (eddy_readable), holding
 *                          no buffer; borrow one, read once
 *                          (eddy_io_try_read), echo it (eddy_write_all);
 *                          a short read drained the socket: give the
 *                          buffer back and wait again; a full one: keep
 *                          it and read on; EAGAIN: give it back.
 *
 * Memory per connection.  A waiting connection is its task: a 64-byte
 * header plus the frame below (sizeof(struct conn): 128 bytes on x86-64 in
 * a release build, printed at start), one malloc block of 192 bytes, plus
 * 8 bytes of run-queue ring.  Measured with `demo` (10,000 connections,
 * one 128-byte message in flight on each): about 220 bytes of RSS per
 * connection, against about 12 KiB for a thread per connection.  No
 * buffer stays with an idle connection.
 *
 * Why borrowed 16 KiB buffers and not an inline one.  An inline buffer
 * costs its size on every idle connection.  Measured with `demo`: a 1 KiB
 * inline buffer (and no pool) gives 1.2 KiB of RSS per connection, over
 * the 1 KiB target and five times the borrowed design, for the same CPU
 * per message (within the noise); 16 KiB inline, what one read should be
 * able to take for bulk transfers, would cost seventy times as much.
 * Borrowing costs a list pop and push per burst of data.  On a
 * current-thread runtime a connection holds its buffer only from the
 * readiness event to the read that would block, so the pool stays at a few
 * buffers however many connections there are; only a connection whose peer
 * does not read (the write waits) keeps one longer.  The pool is
 * server_common.h's per-thread one: no lock on a multi-thread runtime, and
 * a worker's buffers are freed when it exits.
 */
#include <eddy.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "server_common.h"

#define BUF_SIZE 16384
#define POOL_BUF 0 /* server_common.h's pool id for BUF_SIZE buffers */

static char *buf_borrow(void) { return srv_pool_get(POOL_BUF, BUF_SIZE); }
static void buf_return(char *p) { srv_pool_put(POOL_BUF, p); }

/* ---- the connection task ----------------------------------------------- */

struct conn {
    eddy_coro co;
    int fd;     /* the accepted descriptor, until eddy_tcp_open owns it */
    int rc;
    bool full;  /* the last read filled the buffer */
    ssize_t n;
    char *buf;  /* borrowed only while data flows */
    eddy_tcp sock;
    union {     /* one child at a time */
        eddy_ready readable;
        eddy_write_all wr;
    } op;
};

static eddy_poll conn_poll(struct conn *c, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&c->co, cx);
    if (eddy_tcp_open(&c->sock, c->fd) < 0)
        EDDY_RETURN(); /* the cleanup closes c->fd */
    c->fd = -1;
    /* TCP_NODELAY, as every reference server in bench/ sets it: an echo
     * is whole, so there is nothing to gain from waiting for an ACK. */
    (void)eddy_tcp_set_nodelay(&c->sock, true);
    for (;;) {
        /* Idle: wait with no buffer. */
        EDDY_AWAIT(&c->rc, eddy_readable, &c->op.readable, &c->sock.io);
        if (c->rc < 0)
            break;
        if (!c->buf && !(c->buf = buf_borrow()))
            break;
        c->n = eddy_io_try_read(&c->sock.io, c->buf, BUF_SIZE);
        if (c->n == -EAGAIN) { /* a stale readiness: give the buffer back */
            buf_return(c->buf);
            c->buf = NULL;
            continue;
        }
        if (c->n <= 0)
            break; /* 0: the peer closed; else an error */
        c->full = c->n == BUF_SIZE;
        EDDY_AWAIT(&c->n, eddy_write_all, &c->op.wr, &c->sock.io, c->buf, (size_t)c->n);
        if (c->n < 0)
            break;
        /* A short read drained the socket (epoll(7)): the next bytes are
         * a new event, so go back to waiting without the buffer.  After a
         * full read more is likely queued: keep it and read again. */
        if (!c->full) {
            buf_return(c->buf);
            c->buf = NULL;
        }
    }
    EDDY_FINALLY();
    if (c->buf) {
        buf_return(c->buf);
        c->buf = NULL;
    }
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    eddy_tcp_close(&c->sock);
    EDDY_DONE();
}

EDDY_CORO_VT_VOID(conn_vt, struct conn, conn_poll);

/* ---- main ----------------------------------------------------------------- */

/* The listener's on_accept (server_common.h): a connection task for fd. */
static int conn_spawn(int fd)
{
    struct conn init = {.fd = fd};
    return eddy_spawn_local(&conn_vt, &init, NULL);
}

int main(int argc, char **argv)
{
    struct srv s = {
        .name = "echo_server",
        .usage = "usage: echo_server --port P [--threads N] [--io epoll|io_uring] [--addr A]\n",
        .on_accept = conn_spawn,
    };
    srv_parse_args(&s, argc, argv, NULL);
    eddy_rt *rt;
    if (srv_setup(&s, &rt) < 0)
        return 1;
    eddy_rt_stats st;
    eddy_rt_stats_get(rt, &st);
    fprintf(stderr, "echo_server: %s; a connection is a task: %zu B frame + %zu B header; "
            "%d KiB buffers borrowed while data flows\n",
            s.flavor, sizeof(struct conn), st.task_header_size, BUF_SIZE / 1024);

    int status = srv_run(&s, rt);
    eddy_rt_stats_get(rt, &st);
    eddy_rt_free(rt); /* drops the connection tasks still open: each closes its socket */
    srv_pools_release();
    fprintf(stderr, "echo_server: %llu connections accepted (%llu refused: no memory for a task), %llu still open "
            "at exit, %llu task polls\n",
            s.accepted, s.spawn_failed, (unsigned long long)(st.alive), (unsigned long long)st.polls);
    return status;
}
