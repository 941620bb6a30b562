/* echo_server - the server of the notes, with eddy: a task per connection
 * instead of a thread per connection.
 *
 *     echo_server --port P [--threads N] [--addr A]
 *
 * Prints "listening on 127.0.0.1:P" once bound (--port 0 picks a free
 * port) and echoes every byte back until SIGINT/SIGTERM, then shuts down
 * cleanly: the listener task is aborted, the runtime drops every
 * connection task (each closes its socket) and a summary goes to stderr.
 * --threads N > 1 asks for the multi-thread runtime with N workers.
 *
 * The shape:
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
 * Borrowing costs a list pop and push per burst of data.  On a current-thread runtime a
 * connection holds its buffer only from the readiness event to the read
 * that would block, so the pool stays at a few buffers however many
 * connections there are; only a connection whose peer does not read (the
 * write waits) keeps one longer.  The free-list is per thread
 * (_Thread_local), so a multi-thread runtime needs no lock: a buffer
 * borrowed on one worker and returned on another just changes lists.  At
 * most POOL_KEEP buffers are kept per thread; the rest go back to malloc.
 */
#include <eddy.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <unistd.h>

#define BUF_SIZE 16384
#define POOL_KEEP 64

/* ---- the buffer pool --------------------------------------------------- */

struct pool_buf {
    struct pool_buf *next; /* the link lives in the free buffer itself */
};

static _Thread_local struct {
    struct pool_buf *head;
    unsigned count;
} pool;

static char *buf_borrow(void)
{
    struct pool_buf *b = pool.head;
    if (b) {
        pool.head = b->next;
        pool.count--;
        return (char *)b;
    }
    return malloc(BUF_SIZE);
}

static void buf_return(char *p)
{
    if (pool.count >= POOL_KEEP) {
        free(p);
        return;
    }
    struct pool_buf *b = (struct pool_buf *)(void *)p;
    b->next = pool.head;
    pool.head = b;
    pool.count++;
}

static void pool_free(void)
{
    while (pool.head) {
        struct pool_buf *b = pool.head;
        pool.head = b->next;
        free(b);
    }
    pool.count = 0;
}

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

/* ---- the listener task -------------------------------------------------- */

static unsigned long long accepted, spawn_failed;

struct listener {
    eddy_coro co;
    eddy_tcp_listener *l; /* in the root's frame, which outlives this task */
    int fd;
    eddy_accept acc;
};

static eddy_poll listener_poll(struct listener *t, eddy_cx *cx, int *out)
{
    EDDY_BEGIN(&t->co, cx);
    for (;;) {
        EDDY_AWAIT(&t->fd, eddy_accept, &t->acc, t->l, NULL);
        if (t->fd < 0) {
            *out = t->fd; /* descriptor exhaustion never gets here: eddy_accept waits */
            EDDY_RETURN();
        }
        accepted++;
        struct conn init = {.fd = t->fd};
        if (eddy_spawn_local(&conn_vt, &init, NULL) < 0) {
            spawn_failed++;
            close(t->fd);
        }
    }
    EDDY_FINALLY();
    EDDY_DONE();
}

EDDY_CORO_VT(listener_vt, struct listener, int, listener_poll);

/* ---- the root ----------------------------------------------------------- */

struct root {
    eddy_coro co;
    const char *addr;
    int sigfd;
    int rc, lrc;
    int signo;
    eddy_tcp_listener l;
    eddy_io sig;
    eddy_ready sig_ready;
    eddy_join *jh;
};

/* Waits for the first of two futures (a select by hand): polls both, so
 * both have stored the waker when it returns false. */
static bool signal_or_listener_end(struct root *r, eddy_cx *cx)
{
    if (eddy_ready_poll(&r->sig_ready, cx, &r->rc) == EDDY_READY) {
        if (r->rc < 0)
            return true;
        struct signalfd_siginfo si;
        ssize_t n = eddy_io_try_read(&r->sig, &si, sizeof si);
        if (n == (ssize_t)sizeof si) {
            r->signo = (int)si.ssi_signo;
            return true;
        }
        if (n != -EAGAIN)
            return true; /* the signalfd broke: stop as if signalled */
        /* A stale readiness, consumed by the EAGAIN: wait again. */
        eddy_readable_init(&r->sig_ready, &r->sig);
        if (eddy_ready_poll(&r->sig_ready, cx, &r->rc) == EDDY_READY)
            return true;
    }
    return eddy_join_poll(r->jh, cx, &r->lrc) == EDDY_READY;
}

static eddy_poll root_poll(struct root *r, eddy_cx *cx, int *out)
{
    EDDY_BEGIN(&r->co, cx);
    *out = 1;
    r->rc = eddy_tcp_listen(&r->l, r->addr, NULL);
    if (r->rc < 0) {
        fprintf(stderr, "echo_server: listen on %s: %s\n", r->addr, eddy_strerror(r->rc));
        EDDY_RETURN();
    }
    {
        eddy_addr a;
        char text[80] = "?";
        if (eddy_tcp_listener_addr(&r->l, &a) == 0)
            eddy_addr_format(&a, text, sizeof text);
        printf("listening on %s\n", text);
        fflush(stdout);
    }
    r->rc = eddy_io_open(&r->sig, r->sigfd, EDDY_IO_READ_ONLY);
    if (r->rc < 0) {
        fprintf(stderr, "echo_server: signalfd: %s\n", eddy_strerror(r->rc));
        eddy_tcp_listener_close(&r->l);
        EDDY_RETURN();
    }
    r->sigfd = -1;
    {
        struct listener init = {.l = &r->l};
        r->rc = eddy_spawn_local(&listener_vt, &init, &r->jh);
    }
    if (r->rc < 0) {
        fprintf(stderr, "echo_server: spawn: %s\n", eddy_strerror(r->rc));
        eddy_io_close(&r->sig);
        eddy_tcp_listener_close(&r->l);
        EDDY_RETURN();
    }
    eddy_readable_init(&r->sig_ready, &r->sig);
    EDDY_WAIT_UNTIL(signal_or_listener_end(r, cx));
    eddy_ready_drop(&r->sig_ready);
    if (r->signo) {
        fprintf(stderr, "echo_server: %s: shutting down\n", strsignal(r->signo));
        *out = 0;
    } else if (eddy_join_is_finished(r->jh)) {
        fprintf(stderr, "echo_server: accept: %s\n", eddy_strerror(r->lrc));
    } else {
        fprintf(stderr, "echo_server: signalfd failed: shutting down\n");
    }
    /* The listener must not be accepting when its socket closes. */
    eddy_join_abort(r->jh);
    EDDY_AWAIT_POLL(NULL, eddy_join, r->jh);
    eddy_join_detach(r->jh);
    r->jh = NULL;
    eddy_tcp_listener_close(&r->l);
    eddy_io_close(&r->sig);
    EDDY_FINALLY();
    EDDY_DONE();
}

EDDY_CORO_VT(root_vt, struct root, int, root_poll);

/* ---- main ----------------------------------------------------------------- */

static void usage(void)
{
    fprintf(stderr, "usage: echo_server --port P [--threads N] [--addr A]\n");
    exit(2);
}

static long parse_num(const char *opt, const char *s, long lo, long hi)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!*s || *end || errno || v < lo || v > hi) {
        fprintf(stderr, "echo_server: %s: expected a number in [%ld, %ld], got '%s'\n", opt, lo, hi, s);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv)
{
    const char *host = "127.0.0.1";
    long port = -1, threads = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (i + 1 >= argc)
            usage();
        const char *v = argv[++i];
        if (!strcmp(a, "--port"))
            port = parse_num(a, v, 0, 65535);
        else if (!strcmp(a, "--threads"))
            threads = parse_num(a, v, 1, 1024);
        else if (!strcmp(a, "--addr"))
            host = v;
        else
            usage();
    }
    if (port < 0)
        usage();

    /* A connection is a descriptor: allow as many as the hard limit. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }

    /* SIGINT/SIGTERM arrive through a signalfd the root task awaits.
     * Blocked before the runtime exists, so every worker inherits it. */
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &mask, NULL);
    int sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (sigfd < 0) {
        perror("echo_server: signalfd");
        return 1;
    }

    char addr[96];
    snprintf(addr, sizeof addr, strchr(host, ':') ? "[%s]:%ld" : "%s:%ld", host, port);

    eddy_rt *rt;
    eddy_rt_builder b = {
        .flavor = threads > 1 ? EDDY_RT_MULTI_THREAD : EDDY_RT_CURRENT_THREAD,
        .workers = (unsigned)threads,
    };
    int err = eddy_rt_new(&rt, &b);
    if (err < 0) {
        fprintf(stderr, "echo_server: runtime: %s\n", eddy_strerror(err));
        return 1;
    }
    eddy_rt_stats st;
    eddy_rt_stats_get(rt, &st);
    char flavor[80] = "current-thread runtime";
    if (threads > 1)
        snprintf(flavor, sizeof flavor, "multi-thread runtime (%ld workers)", threads);
    fprintf(stderr, "echo_server: %s; a connection is a task: %zu B frame + %zu B header; "
            "%d KiB buffers borrowed while data flows\n",
            flavor, sizeof(struct conn), st.task_header_size, BUF_SIZE / 1024);

    struct root root = {.addr = addr, .sigfd = sigfd};
    int status = 1;
    err = eddy_block_on(rt, &root_vt, &root, &status);
    if (err < 0)
        fprintf(stderr, "echo_server: block_on: %s\n", eddy_strerror(err));
    if (root.sigfd >= 0)
        close(root.sigfd);
    eddy_rt_stats_get(rt, &st);
    eddy_rt_free(rt); /* drops the connection tasks still open: each closes its socket */
    pool_free();
    fprintf(stderr, "echo_server: %llu connections accepted (%llu refused: no memory for a task), %llu still open "
            "at exit, %llu task polls\n",
            accepted, spawn_failed, (unsigned long long)(st.alive), (unsigned long long)st.polls);
    return err < 0 ? 1 : status;
}
