/* The io_uring backend of the current-thread runtime (.io_uring = true),
 * with real loopback sockets and byte-exact checks.
 *
 * On io_uring a TCP stream receives through a multishot receive into a
 * shared pool of 2 KiB buffers (at most ~64 KiB queued per stream, the rest
 * waits in the kernel); the receive starts when a read has to wait (a
 * stream's first read tries the socket itself).  A write of at most 4 KiB
 * is copied and sent as a submission, one in flight per stream; a write
 * dropped after its first poll leaves its copy in flight, and closing or
 * shutting down the stream then waits for that send.  Each scenario runs
 * on a runtime of its own; after it is freed every descriptor the scenario
 * opened must be closed again.
 *
 *  a. 1 MiB echoed through an echo server: an eddy client whose writes mix
 *     copied and direct sizes, then a blocking pthread client against an
 *     echo whose writes are all copied (1000 bytes);
 *  b. 200 connections x 200 round trips of 64 bytes, then 50 writes of 64
 *     bytes back to back (order kept);
 *  c. flow control: a thread sends 8 MiB to a stream whose task does not
 *     read (after a first read started the stream's receive, so bytes flow
 *     into eddy's queue); once its send blocks (it says so through a
 *     oneshot) 20 other connections echo on the same runtime, the sender is
 *     still held back (the runtime did not swallow the stream), then the
 *     task reads all 8 MiB byte-exact and sees end of stream;
 *  d. small writes then an immediate eddy_tcp_close: the peer (a thread or
 *     an eddy task) reads every byte, then end of stream; also with one
 *     more write dropped with its send in flight at the close (d6-d8);
 *  e. writes then eddy_shutdown(SHUT_WR): every byte, then end of stream,
 *     and the stream still reads what the peer sends afterwards; also with
 *     a send in flight at the shutdown (e4);
 *  f. peer reset (SO_LINGER {1, 0}), as tests/test_net_reset.c: a waiting
 *     read gets -ECONNRESET once, then 0; bytes unread before the RST are
 *     read first, from the kernel (f2) or from eddy's queue (f2b); after
 *     sending, the read gets -ECONNRESET; a waiting write_all ends;
 *  g. writes to a peer that closed: within a bounded number of writes one
 *     returns -EPIPE or -ECONNRESET, for copied and direct writes; once
 *     the peer's RST was processed, a copied write whose send fails is
 *     reported by that write or the next shutdown or write; never SIGPIPE
 *     (SIG_DFL throughout, nothing pending);
 *  h. eddy_io_release: a fresh stream, and one whose receive is armed,
 *     hand the fd back (and bytes sent afterwards are read from the bare
 *     fd: the runtime's receive no longer takes them); with received bytes
 *     in eddy's queue it returns -EBUSY and the stream stays registered;
 *     once they are read it returns the fd;
 *  i. read futures dropped while waiting (eddy_timeout, a lost select,
 *     read_exact midway): the next read gets the data, nothing is lost;
 *  j. the buffer pool running dry: 384 connections (each stream's receive
 *     armed by a first read) get 16 KiB each (3x the pool) while no task
 *     reads; then all are read byte-exact, with end of stream (receives
 *     re-armed after ENOBUFS);
 *  k. the runtime freed with a send in flight on a closed stream (one of
 *     them stuck on a full peer), a read, a write_all and an accept
 *     waiting, bytes in eddy's queue: no crash, no leak (ASan), every
 *     descriptor closed, every completed write delivered, and the peers
 *     see the end of their streams;
 *  w. write_alls dropped after their first poll and resumed from their
 *     `done`, as io.h allows ("bytes already transferred by a write_all
 *     ... dropped midway are reported by its done field"): the peer gets
 *     every byte exactly once.
 *
 * If the kernel refuses io_uring (eddy_rt_stats.io_backend is "epoll")
 * the test is skipped (exit 77).  Scenarios can be run alone:
 * test_io_uring c, test_io_uring fhk. */
// eddy-test-timeout: 120
// eddy-test-labels: net uring
#include "net_util.h"

#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>

#define FD_LIMIT 8192
#define PAT_LEN (8u << 20)

/* g_pat[i] == nu_pattern(i): the source of every stream that starts at
 * pattern offset 0. */
static uint8_t g_pat[PAT_LEN];

/* Sanitized builds are several times slower: the bounds scale. */
#define SLOW (TEST_SANITIZED ? 4 : 1)

EDDY_STATIC_FUTURE_VT(read_vt, eddy_read, ssize_t, eddy_read_poll, eddy_read_drop);
EDDY_STATIC_FUTURE_VT(read_exact_vt, eddy_read_exact, ssize_t, eddy_read_exact_poll, eddy_read_exact_drop);
EDDY_STATIC_FUTURE_VT(write_all_vt, eddy_write_all, ssize_t, eddy_write_all_poll, eddy_write_all_drop);
EDDY_STATIC_FUTURE_VT(oneshot_recv_vt, eddy_oneshot_recv, int, eddy_oneshot_recv_poll, eddy_oneshot_recv_drop);

/* ---- waiting, bounded ------------------------------------------------------ */

/* Awaits counter C reaching N, at most SECS seconds (scaled); T is the
 * frame, which has fields until, to, rc. */
#define AWAIT_COUNT(T, C, N, SECS, ...)                                                                        \
    do {                                                                                                      \
        nu_until_init(&(T)->until, (C), (N));                                                                 \
        EDDY_AWAIT(&(T)->rc, eddy_timeout, &(T)->to, EDDY_SEC((SECS)*SLOW), &nu_until_vt, &(T)->until, NULL); \
        CHECK_MSG((T)->rc == 0, __VA_ARGS__);                                                                 \
    } while (0)

/* Awaits the end of the task JH, at most SECS seconds (fields join, to, rc). */
#define AWAIT_JOIN(T, JH, SECS, ...)                                                                           \
    do {                                                                                                      \
        (T)->join.jh = (JH);                                                                                  \
        EDDY_AWAIT(&(T)->rc, eddy_timeout, &(T)->to, EDDY_SEC((SECS)*SLOW), &nu_join_vt, &(T)->join, NULL);   \
        CHECK_MSG((T)->rc == 0, __VA_ARGS__);                                                                 \
    } while (0)

/* Polls the (initialised) future f once, with the calling task's context,
 * and drops it if it returned PENDING: what a select lost or a timeout
 * expired right after the first poll does, without depending on when a
 * timer fires.  Returns true if it was dropped (*out is then untouched). */
static bool poll_once_drop(const eddy_future_vt *vt, void *f, eddy_cx *cx, void *out)
{
    if (vt->poll(f, cx, out) == EDDY_READY)
        return false;
    vt->drop(f);
    return true;
}

/* Arms the runtime's receive on the eddy stream IO: a read on an empty
 * stream polled once (it has to wait) and dropped.  A ring stream's first
 * read tries the socket itself; only a read that waits starts the
 * multishot receive, which then fills eddy's queue whether or not anybody
 * reads.  RD: an eddy_read; the frame has a field n.  Use inside a
 * coroutine. */
#define ARM_RECV(T, RD, IO, BUF, LEN)                                                                          \
    do {                                                                                                      \
        eddy_read_init((RD), (IO), (BUF), (LEN));                                                             \
        CHECK_MSG(poll_once_drop(&read_vt, (RD), EDDY_CX(), &(T)->n),                                         \
                  "a read on an empty stream did not wait (%zd)", (T)->n);                                    \
    } while (0)

/* A condition on a socket, checked every millisecond (the runtime runs in
 * between), for at most 10 s.  Output: 0, or -ETIMEDOUT.
 *   FDW_OUTQ_EMPTY   everything sent on fd was acknowledged (the bytes are
 *                    in the peer's receive buffer)
 *   FDW_INQ_ATLEAST  at least arg bytes wait in fd's receive buffer
 *   FDW_INQ_EMPTY    fd's receive buffer is empty: on an eddy stream whose
 *                    receive is armed and that nobody reads, the bytes have
 *                    moved to eddy's queue
 *   FDW_CLOSED       fd's TCP state is CLOSE (an RST was processed) */
enum { FDW_OUTQ_EMPTY, FDW_INQ_ATLEAST, FDW_INQ_EMPTY, FDW_CLOSED };

struct fdwait {
    eddy_coro co;
    int fd, what;
    long arg;
    int i;
    eddy_sleep sl;
};

static bool fdwait_holds(const struct fdwait *w)
{
    int v = 0;
    if (w->what == FDW_OUTQ_EMPTY) {
        CHECK(ioctl(w->fd, TIOCOUTQ, &v) == 0);
        return v == 0;
    }
    if (w->what == FDW_INQ_ATLEAST || w->what == FDW_INQ_EMPTY) {
        CHECK(ioctl(w->fd, FIONREAD, &v) == 0);
        return w->what == FDW_INQ_EMPTY ? v == 0 : v >= w->arg;
    }
    struct tcp_info ti;
    socklen_t len = sizeof ti;
    CHECK(getsockopt(w->fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0);
    return ti.tcpi_state == TCP_CLOSE;
}

static void fdwait_init(struct fdwait *w, int fd, int what, long arg)
{
    *w = (struct fdwait){.fd = fd, .what = what, .arg = arg};
}

static eddy_poll fdwait_poll(struct fdwait *w, eddy_cx *cx, int *out)
{
    EDDY_BEGIN(&w->co, cx);
    for (w->i = 0; w->i < 10000 * SLOW; w->i++) {
        if (fdwait_holds(w)) {
            *out = 0;
            EDDY_RETURN();
        }
        EDDY_AWAIT(NULL, eddy_sleep, &w->sl, EDDY_MS(1));
    }
    *out = -ETIMEDOUT;
    EDDY_END();
}

static void fdwait_drop(struct fdwait *w) { (void)fdwait_poll(w, EDDY_CX_DROP, NULL); }

/* ---- plain sockets and threads ------------------------------------------- */

/* poll(2) on one descriptor, retried on EINTR.  On the runtime's thread a
 * blocking system call may be interrupted without any signal: io_uring
 * notifies the submitting thread of completion work that way. */
static int poll1(int fd, short events, int ms)
{
    for (int i = 0; i < 1000; i++) {
        struct pollfd p = {.fd = fd, .events = events};
        int r = poll(&p, 1, ms);
        if (r >= 0 || errno != EINTR)
            return r;
    }
    return -1;
}

/* A blocking client socket connected to a (listening) address; rcvbuf,
 * sndbuf > 0 pin the buffers before the handshake.  Loopback: the
 * handshake completes in the kernel, so this does not need the runtime. */
static int plain_connect(const eddy_addr *a, int rcvbuf, int sndbuf)
{
    int fd = socket(a->u.sa.sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(fd >= 0);
    struct timeval tv = {.tv_sec = 30 * SLOW};
    CHECK(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == 0);
    CHECK(setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) == 0);
    if (rcvbuf > 0)
        CHECK(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf) == 0);
    if (sndbuf > 0)
        CHECK(setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf) == 0);
    if (connect(fd, &a->u.sa, a->len) != 0) {
        /* interrupted (see poll1): the handshake goes on; wait for it */
        CHECK_MSG(errno == EINTR, "connect: %s", strerror(errno));
        CHECK_MSG(poll1(fd, POLLOUT, 10000 * SLOW) == 1, "connect: not connected after 10 s");
        int err = 0;
        socklen_t len = sizeof err;
        CHECK(getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0);
        CHECK_MSG(err == 0, "connect: %s", strerror(err));
    }
    return fd;
}

/* Sends an RST: linger {1, 0}, then close. */
static void plain_reset_close(int fd)
{
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    CHECK(setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg) == 0);
    CHECK(close(fd) == 0);
}

static void plain_send_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        CHECK_MSG(n > 0, "send: %s", n < 0 ? strerror(errno) : "0");
        p += n;
        len -= (size_t)n;
    }
}

/* A thread that reads fd until end of stream and checks the pattern (from
 * pattern offset base); then sends reply (if any) and shuts its write side.
 * done is bumped at the end: the runtime's tasks wait on it (a blocking
 * pthread_join in a task would stop the runtime the thread needs). */
struct rx_job {
    int fd;
    uint64_t base;
    size_t chunk;
    const char *reply;
    nu_counter *done;
    size_t got;
    long bad; /* first mismatching offset, -1 */
    int err;  /* errno of a failed recv (EAGAIN: the 30 s SO_RCVTIMEO), 0 */
    bool eof;
    pthread_t th;
};

static void *rx_thread(void *p)
{
    struct rx_job *j = p;
    static _Thread_local uint8_t buf[65536];
    size_t chunk = j->chunk && j->chunk < sizeof buf ? j->chunk : sizeof buf;
    j->bad = -1;
    for (;;) {
        ssize_t n = recv(j->fd, buf, chunk, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            j->err = errno;
            break;
        }
        if (n == 0) {
            j->eof = true;
            break;
        }
        if (j->bad < 0) {
            long b = nu_check(buf, j->base + j->got, (size_t)n);
            if (b >= 0)
                j->bad = (long)j->got + b;
        }
        j->got += (size_t)n;
    }
    if (j->reply && j->eof) {
        plain_send_all(j->fd, j->reply, strlen(j->reply));
        CHECK(shutdown(j->fd, SHUT_WR) == 0);
    }
    nu_counter_add(j->done, 1);
    return NULL;
}

static void rx_start(struct rx_job *j) { CHECK(pthread_create(&j->th, NULL, rx_thread, j) == 0); }

/* ---- an echo client task (b, c) ----------------------------------------------- */

struct ec_stats {
    nu_counter done;
    long ok, bad;
    int first_err;
};

#define EC_MAX 4096

/* rounds round trips of msg bytes, then (pipe > 0) pipe writes of msg
 * bytes back to back and one read of all of them.  Bytes: the pattern at
 * (id << 32). */
struct ec {
    eddy_coro co;
    int id, rounds, msg, pipe, i;
    const eddy_addr *addr;
    struct ec_stats *st;
    eddy_tcp s;
    int rc;
    ssize_t n;
    uint64_t off;
    union {
        eddy_connect conn;
        eddy_write_all wr;
        eddy_read_exact rd;
    } f;
    uint8_t out[EC_MAX], in[EC_MAX];
};

static eddy_poll ec_poll(struct ec *t, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&t->co, cx);
    t->n = 0;
    EDDY_AWAIT(&t->rc, eddy_connect, &t->f.conn, &t->s, t->addr, EDDY_SEC(30));
    if (t->rc < 0) {
        t->n = t->rc;
        EDDY_RETURN();
    }
    CHECK_OK(eddy_tcp_set_nodelay(&t->s, true));
    for (t->i = 0; t->i < t->rounds; t->i++) {
        t->off = ((uint64_t)t->id << 32) + (uint64_t)t->i * (uint64_t)t->msg;
        nu_fill(t->out, t->off, (size_t)t->msg);
        EDDY_AWAIT(&t->n, eddy_write_all, &t->f.wr, &t->s.io, t->out, (size_t)t->msg);
        if (t->n != t->msg)
            EDDY_RETURN();
        EDDY_AWAIT(&t->n, eddy_read_exact, &t->f.rd, &t->s.io, t->in, (size_t)t->msg);
        if (t->n != t->msg)
            EDDY_RETURN();
        if (memcmp(t->in, t->out, (size_t)t->msg) != 0) {
            t->n = -EPROTO;
            EDDY_RETURN();
        }
    }
    if (t->pipe) {
        CHECK((size_t)t->pipe * (size_t)t->msg <= EC_MAX);
        t->off = ((uint64_t)t->id << 32) + (uint64_t)t->rounds * (uint64_t)t->msg;
        nu_fill(t->out, t->off, (size_t)t->pipe * (size_t)t->msg);
        for (t->i = 0; t->i < t->pipe; t->i++) {
            EDDY_AWAIT(&t->n, eddy_write_all, &t->f.wr, &t->s.io, t->out + (size_t)t->i * (size_t)t->msg,
                       (size_t)t->msg);
            if (t->n != t->msg)
                EDDY_RETURN();
        }
        EDDY_AWAIT(&t->n, eddy_read_exact, &t->f.rd, &t->s.io, t->in, (size_t)t->pipe * (size_t)t->msg);
        if (t->n != (ssize_t)t->pipe * t->msg)
            EDDY_RETURN();
        if (memcmp(t->in, t->out, (size_t)t->pipe * (size_t)t->msg) != 0) {
            t->n = -EPROTO;
            EDDY_RETURN();
        }
    }
    t->n = 0;
    t->st->ok++;
    EDDY_FINALLY();
    if (!EDDY_DROPPING() && t->n != 0) {
        t->st->bad++;
        if (!t->st->first_err)
            t->st->first_err = t->n < 0 ? (int)t->n : -EPROTO;
    }
    eddy_tcp_close(&t->s);
    nu_counter_add(&t->st->done, 1);
    EDDY_DONE();
}
EDDY_STATIC_CORO_VT_VOID(ec_vt, struct ec, ec_poll);

static void ec_spawn(int n, int rounds, int msg, int pipe, const eddy_addr *addr, struct ec_stats *st)
{
    for (int i = 0; i < n; i++) {
        struct ec c = {.id = i, .rounds = rounds, .msg = msg, .pipe = pipe, .addr = addr, .st = st};
        CHECK_OK(eddy_spawn_local(&ec_vt, &c, NULL));
    }
}

/* ==== a: 1 MiB echoed ======================================================= */

#define A_TOTAL (1u << 20)
static const size_t a_sizes[] = {1, 100, 1500, 4095, 4096, 4097, 7919, 16384, 65536, 3, 2048, 2049};
#define A_NSIZES (sizeof a_sizes / sizeof a_sizes[0])

struct a_conn {
    eddy_tcp s;
    size_t sent, received;
    long bad;
    int werr, rerr, shut;
    bool eof;
};

struct a_writer {
    eddy_coro co;
    struct a_conn *c;
    size_t off, len;
    unsigned k;
    ssize_t n;
    int rc;
    union {
        eddy_write_all wr;
        eddy_shutdown sh;
    } f;
};

static eddy_poll a_writer_poll(struct a_writer *t, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&t->co, cx);
    for (t->off = 0; t->off < A_TOTAL; t->off += t->len) {
        t->len = a_sizes[t->k++ % A_NSIZES];
        if (t->len > A_TOTAL - t->off)
            t->len = A_TOTAL - t->off;
        EDDY_AWAIT(&t->n, eddy_write_all, &t->f.wr, &t->c->s.io, g_pat + t->off, t->len);
        if (t->n != (ssize_t)t->len) {
            t->c->werr = t->n < 0 ? (int)t->n : -EPROTO;
            EDDY_RETURN();
        }
        t->c->sent += t->len;
    }
    EDDY_AWAIT(&t->rc, eddy_shutdown, &t->f.sh, &t->c->s.io, SHUT_WR);
    t->c->shut = t->rc;
    EDDY_END();
}
EDDY_STATIC_CORO_VT_VOID(a_writer_vt, struct a_writer, a_writer_poll);

struct a_reader {
    eddy_coro co;
    struct a_conn *c;
    unsigned k;
    ssize_t n;
    eddy_read rd;
    uint8_t buf[4096];
};

static eddy_poll a_reader_poll(struct a_reader *t, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&t->co, cx);
    for (;;) {
        /* read sizes 1..4096: buffers are consumed in part and across */
        EDDY_AWAIT(&t->n, eddy_read, &t->rd, &t->c->s.io, t->buf, 1 + (t->k++ * 577u) % sizeof t->buf);
        if (t->n < 0) {
            t->c->rerr = (int)t->n;
            break;
        }
        if (t->n == 0) {
            t->c->eof = true;
            break;
        }
        if (t->c->received + (size_t)t->n > A_TOTAL) {
            t->c->bad = (long)A_TOTAL; /* more bytes than were sent */
            break;
        }
        nu_rx_add(&t->c->received, &t->c->bad, t->buf, (size_t)t->n);
    }
    EDDY_END();
}
EDDY_STATIC_CORO_VT_VOID(a_reader_vt, struct a_reader, a_reader_poll);

/* The blocking client: a writer thread and a reader (this thread). */
struct a_thr {
    int fd;
    size_t sent, received;
    long bad;
    int werr, rerr;
    bool eof;
    nu_counter *done;
    pthread_t th;
};

static void *a_thr_writer(void *p)
{
    struct a_thr *b = p;
    unsigned k = 0;
    while (b->sent < A_TOTAL) {
        size_t len = a_sizes[k++ % A_NSIZES];
        if (len > A_TOTAL - b->sent)
            len = A_TOTAL - b->sent;
        size_t done = 0;
        while (done < len) {
            ssize_t n = send(b->fd, g_pat + b->sent + done, len - done, MSG_NOSIGNAL);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0) {
                b->werr = n < 0 ? errno : -1;
                return NULL;
            }
            done += (size_t)n;
        }
        b->sent += len;
    }
    if (shutdown(b->fd, SHUT_WR) < 0)
        b->werr = errno;
    return NULL;
}

static void *a_thr_main(void *p)
{
    struct a_thr *b = p;
    pthread_t w;
    CHECK(pthread_create(&w, NULL, a_thr_writer, b) == 0);
    static uint8_t buf[4096];
    for (;;) {
        ssize_t n = recv(b->fd, buf, sizeof buf, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            b->rerr = errno;
            break;
        }
        if (n == 0) {
            b->eof = true;
            break;
        }
        if (b->received + (size_t)n > A_TOTAL) {
            b->bad = (long)A_TOTAL;
            break;
        }
        nu_rx_add(&b->received, &b->bad, buf, (size_t)n);
    }
    CHECK(pthread_join(w, NULL) == 0);
    nu_counter_add(b->done, 1);
    return NULL;
}

struct a_root {
    eddy_coro co;
    nu_server srv;
    struct a_conn c;
    struct a_thr b;
    nu_counter thr_done;
    eddy_join *wj, *rj;
    nu_join join;
    nu_until until;
    eddy_timeout to;
    int rc;
    eddy_connect conn;
};

static eddy_poll a_root_poll(struct a_root *t, eddy_cx *cx, int *out)
{
    EDDY_BEGIN(&t->co, cx);
    CHECK_OK(nu_server_start(&t->srv, "127.0.0.1:0", NULL));

    /* A1: an eddy client, a writer and a reader task on one stream. */
    t->c.bad = -1;
    EDDY_AWAIT(&t->rc, eddy_connect, &t->conn, &t->c.s, &t->srv.addr, EDDY_SEC(10));
    CHECK_OK(t->rc);
    {
        struct a_writer w = {.c = &t->c};
        struct a_reader r = {.c = &t->c};
        CHECK_OK(eddy_spawn_local(&a_writer_vt, &w, &t->wj));
        CHECK_OK(eddy_spawn_local(&a_reader_vt, &r, &t->rj));
    }
    AWAIT_JOIN(t, t->wj, 60, "a1: writer did not finish (sent %zu)", t->c.sent);
    AWAIT_JOIN(t, t->rj, 60, "a1: reader did not finish (received %zu)", t->c.received);
    CHECK_EQ(eddy_join_status(t->wj), 0);
    CHECK_EQ(eddy_join_status(t->rj), 0);
    eddy_join_detach(t->wj);
    eddy_join_detach(t->rj);
    CHECK_OK(eddy_tcp_close(&t->c.s));
    CHECK_MSG(t->c.werr == 0, "a1: write: %s", eddy_strerror(t->c.werr));
    CHECK_MSG(t->c.shut == 0, "a1: shutdown: %s", eddy_strerror(t->c.shut));
    CHECK_MSG(t->c.rerr == 0, "a1: read: %s", eddy_strerror(t->c.rerr));
    CHECK_EQ(t->c.sent, A_TOTAL);
    CHECK_EQ(t->c.bad, -1);
    CHECK_EQ(t->c.received, A_TOTAL);
    CHECK(t->c.eof);
    AWAIT_COUNT(t, &t->srv.closed, 1, 30, "a1: the echo task did not end");
    CHECK_EQ(t->srv.eofs, 1);
    CHECK_EQ(t->srv.bytes, A_TOTAL);
    printf("a1: eddy client, writes of 1..65536 bytes: %u bytes echoed byte-exact\n", A_TOTAL);

    /* A2: a blocking pthread client; the echo writes 1000 bytes at a time
     * (all copied sends). */
    t->srv.bufsize = 1000;
    nu_counter_init(&t->thr_done);
    t->b = (struct a_thr){.fd = plain_connect(&t->srv.addr, 0, 0), .bad = -1, .done = &t->thr_done};
    CHECK(pthread_create(&t->b.th, NULL, a_thr_main, &t->b) == 0);
    AWAIT_COUNT(t, &t->thr_done, 1, 60, "a2: the blocking client did not finish (sent %zu, received %zu)",
                t->b.sent, t->b.received);
    CHECK(pthread_join(t->b.th, NULL) == 0);
    CHECK(close(t->b.fd) == 0);
    CHECK_MSG(t->b.werr == 0, "a2: send: %s", strerror(t->b.werr));
    CHECK_MSG(t->b.rerr == 0, "a2: recv: %s", strerror(t->b.rerr));
    CHECK_EQ(t->b.sent, A_TOTAL);
    CHECK_EQ(t->b.bad, -1);
    CHECK_EQ(t->b.received, A_TOTAL);
    CHECK(t->b.eof);
    AWAIT_COUNT(t, &t->srv.closed, 2, 30, "a2: the echo task did not end");
    CHECK_EQ(t->srv.eofs, 2);
    CHECK_EQ(t->srv.bytes, 2 * (uint64_t)A_TOTAL);
    CHECK_MSG(t->srv.last_err == 0, "echo: %s", eddy_strerror((int)t->srv.last_err));
    printf("a2: blocking client, echo in 1000-byte writes: %u bytes echoed byte-exact\n", A_TOTAL);

    eddy_join_abort(t->srv.acceptor);
    AWAIT_JOIN(t, t->srv.acceptor, 10, "a: the accept loop did not end");
    eddy_join_detach(t->srv.acceptor);
    CHECK_OK(eddy_tcp_listener_close(&t->srv.l));
    *out = 0;
    EDDY_END();
}
EDDY_STATIC_CORO_VT(a_root_vt, struct a_root, int, a_root_poll);

/* ==== b: many small messages ===================================================== */

#define B_CLIENTS 200
#define B_ROUNDS 200
#define B_MSG 64
#define B_PIPE 50

struct bc_root {
    eddy_coro co;
    nu_server srv;
    struct ec_stats st;
    nu_until until;
    nu_join join;
    eddy_timeout to;
    int rc;
    uint64_t t0;
    /* c only */
    eddy_tcp_listener l;
    eddy_addr addr;
    eddy_tcp slow;
    int fd;
    eddy_accept acc;
    eddy_join *slow_jh;
    nu_counter go, armed, sender_done;
    eddy_oneshot_tx *tx;
    eddy_oneshot_rx *rx;
    eddy_oneshot_recv recv;
    size_t stall_at, sent_then;
};

static eddy_poll b_root_poll(struct bc_root *t, eddy_cx *cx, int *out)
{
    EDDY_BEGIN(&t->co, cx);
    CHECK_OK(nu_server_start(&t->srv, "127.0.0.1:0", NULL));
    nu_counter_init(&t->st.done);
    t->t0 = eddy_now();
    ec_spawn(B_CLIENTS, B_ROUNDS, B_MSG, B_PIPE, &t->srv.addr, &t->st);
    AWAIT_COUNT(t, &t->st.done, B_CLIENTS, 60, "b: only %ld of %d clients finished", (long)t->st.done.value,
                B_CLIENTS);
    CHECK_MSG(t->st.bad == 0, "b: %ld clients failed, first error %s", t->st.bad, eddy_strerror(t->st.first_err));
    CHECK_EQ(t->st.ok, B_CLIENTS);
    printf("b: %d connections x %d round trips of %d bytes + %d pipelined writes, byte-exact, in %.3f s\n",
           B_CLIENTS, B_ROUNDS, B_MSG, B_PIPE, (double)(eddy_now() - t->t0) / 1e9);
    AWAIT_COUNT(t, &t->srv.closed, B_CLIENTS, 30, "b: echo tasks did not end");
    CHECK_EQ(t->srv.bytes, (uint64_t)B_CLIENTS * (B_ROUNDS + B_PIPE) * B_MSG);
    CHECK_EQ(t->srv.eofs, B_CLIENTS);
    CHECK_MSG(t->srv.last_err == 0, "echo: %s", eddy_strerror((int)t->srv.last_err));
    eddy_join_abort(t->srv.acceptor);
    AWAIT_JOIN(t, t->srv.acceptor, 10, "b: the accept loop did not end");
    eddy_join_detach(t->srv.acceptor);
    CHECK_OK(eddy_tcp_listener_close(&t->srv.l));
    *out = 0;
    EDDY_END();
}
EDDY_STATIC_CORO_VT(b_root_vt, struct bc_root, int, b_root_poll);

/* ==== c: flow control ============================================================= */

#define C_TOTAL (8u << 20)
#define C_CLIENTS 20
#define C_ROUNDS 100
#define C_MSG 1024
#define C_BUF (64 * 1024) /* SO_RCVBUF / SO_SNDBUF of the slow connection */
/* What may be in flight while the reader does not read: the kernel's
 * buffers on both sides (twice C_BUF each, as Linux doubles them), eddy's
 * per-stream queue (~64 KiB) and slack.  A runtime that swallowed the
 * stream would let the sender far past this. */
#define C_HELD_MAX (1u << 20)

struct c_sender {
    int fd;
    eddy_oneshot_tx *tx;
    nu_counter *done;
    _Atomic size_t sent;
    int err;
    pthread_t th;
};

/* Sends C_TOTAL bytes of the pattern without blocking; at the first EAGAIN
 * (every buffer on the way is full) it tells the runtime, through the
 * oneshot, how much it got out; then it keeps sending as room appears. */
static void *c_sender_thread(void *p)
{
    struct c_sender *s = p;
    size_t sent = 0;
    bool told = false;
    while (sent < C_TOTAL) {
        size_t len = C_TOTAL - sent < 65536 ? C_TOTAL - sent : 65536;
        ssize_t n = send(s->fd, g_pat + sent, len, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > 0) {
            sent += (size_t)n;
            atomic_store(&s->sent, sent);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (!told) {
                told = true;
                CHECK_OK(eddy_oneshot_send(s->tx, &sent));
            }
            struct pollfd pf = {.fd = s->fd, .events = POLLOUT};
            int r = poll(&pf, 1, 60000 * SLOW);
            if (r == 0) {
                s->err = ETIMEDOUT;
                break;
            }
            continue;
        }
        s->err = n < 0 ? errno : EPROTO;
        break;
    }
    if (!told)
        CHECK_OK(eddy_oneshot_send(s->tx, &sent)); /* never blocked: the root fails the test */
    if (shutdown(s->fd, SHUT_WR) < 0 && !s->err)
        s->err = errno;
    nu_counter_add(s->done, 1);
    return NULL;
}

static struct c_sender g_c_sender;

/* What the slow reader saw (the root's: a task's frame is freed when it
 * ends). */
struct c_slow_res {
    size_t got;
    long bad;
    int err;
    bool eof, started;
};

static struct c_slow_res g_c_slow;

/* The slow reader: arms the runtime's receive (armed), reads nothing
 * until go, then all of it. */
struct c_slow {
    eddy_coro co;
    eddy_tcp *s;
    nu_counter *go, *armed;
    struct c_slow_res *res;
    nu_until until;
    ssize_t n;
    int rc;
    eddy_timeout to;
    eddy_read rd;
    uint8_t buf[65536];
};

static eddy_poll c_slow_poll(struct c_slow *t, eddy_cx *cx, void *out)
{
    (void)out;
    struct c_slow_res *r = t->res;
    EDDY_BEGIN(&t->co, cx);
    r->started = true;
    ARM_RECV(t, &t->rd, &t->s->io, t->buf, sizeof t->buf);
    nu_counter_add(t->armed, 1);
    nu_until_init(&t->until, t->go, 1);
    EDDY_AWAIT_POLL(NULL, nu_until, &t->until);
    for (;;) {
        EDDY_AWAIT(&t->n, eddy_read, &t->rd, &t->s->io, t->buf, sizeof t->buf);
        if (t->n < 0) {
            r->err = (int)t->n;
            break;
        }
        if (t->n == 0) {
            r->eof = true;
            break;
        }
        if (r->got + (size_t)t->n > C_TOTAL) {
            r->bad = (long)C_TOTAL;
            break;
        }
        nu_rx_add(&r->got, &r->bad, t->buf, (size_t)t->n);
    }
    EDDY_END();
}
EDDY_STATIC_CORO_VT_VOID(c_slow_vt, struct c_slow, c_slow_poll);

static eddy_poll c_root_poll(struct bc_root *t, eddy_cx *cx, int *out)
{
    EDDY_BEGIN(&t->co, cx);
    nu_counter_init(&t->go);
    nu_counter_init(&t->armed);
    nu_counter_init(&t->sender_done);
    /* The slow connection, on a listener of its own with small buffers
     * (inherited by the accepted socket). */
    CHECK_OK(eddy_tcp_listen(&t->l, "127.0.0.1:0", NULL));
    CHECK_OK(eddy_tcp_listener_addr(&t->l, &t->addr));
    {
        int sz = C_BUF;
        CHECK(setsockopt(eddy_io_fd(&t->l.io), SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz) == 0);
    }
    memset(&g_c_sender, 0, sizeof g_c_sender);
    atomic_init(&g_c_sender.sent, 0);
    g_c_sender.fd = plain_connect(&t->addr, 0, C_BUF);
    g_c_sender.done = &t->sender_done;
    EDDY_AWAIT(&t->fd, eddy_accept, &t->acc, &t->l, NULL);
    CHECK(t->fd >= 0);
    CHECK_OK(eddy_tcp_open(&t->slow, t->fd));
    {
        void *frame;
        CHECK_OK(eddy_spawn_prepare(eddy_rt_current(), &c_slow_vt, &frame));
        struct c_slow *s = frame;
        memset(s, 0, sizeof *s);
        s->s = &t->slow;
        s->go = &t->go;
        s->armed = &t->armed;
        g_c_slow = (struct c_slow_res){.bad = -1};
        s->res = &g_c_slow;
        CHECK_OK(eddy_spawn_commit(&c_slow_vt, frame, &t->slow_jh));
    }
    AWAIT_COUNT(t, &t->armed, 1, 10, "c: the slow task did not start its stream's receive");
    CHECK_OK(eddy_oneshot_new(&t->tx, &t->rx, sizeof(size_t)));
    g_c_sender.tx = t->tx;
    CHECK(pthread_create(&g_c_sender.th, NULL, c_sender_thread, &g_c_sender) == 0);

    /* Until the sender is held back. */
    eddy_oneshot_recv_init(&t->recv, t->rx, &t->stall_at);
    EDDY_AWAIT(&t->rc, eddy_timeout, &t->to, EDDY_SEC(30 * SLOW), &oneshot_recv_vt, &t->recv, NULL);
    CHECK_MSG(t->rc == 0, "c: the sender never reported back");
    CHECK_MSG(t->stall_at < C_TOTAL, "c: the sender was never held back: all %zu bytes went out", t->stall_at);

    /* Meanwhile other connections on the same runtime echo. */
    CHECK_OK(nu_server_start(&t->srv, "127.0.0.1:0", NULL));
    nu_counter_init(&t->st.done);
    t->t0 = eddy_now();
    ec_spawn(C_CLIENTS, C_ROUNDS, C_MSG, 0, &t->srv.addr, &t->st);
    AWAIT_COUNT(t, &t->st.done, C_CLIENTS, 60, "c: only %ld of %d echo clients finished while a stream was full",
                (long)t->st.done.value, C_CLIENTS);
    CHECK_MSG(t->st.bad == 0, "c: %ld echo clients failed, first error %s", t->st.bad,
              eddy_strerror(t->st.first_err));
    CHECK_EQ(t->st.ok, C_CLIENTS);
    /* The slow task has read nothing, and the sender is still held back:
     * the runtime keeps only a bounded part of the stream. */
    CHECK(g_c_slow.started);
    CHECK_EQ(g_c_slow.got, 0);
    CHECK(!eddy_join_is_finished(t->slow_jh));
    t->sent_then = atomic_load(&g_c_sender.sent);
    printf("c: sender held back after %zu bytes; %d x %d echo round trips done in %.3f s meanwhile; "
           "sender at %zu bytes then\n",
           t->stall_at, C_CLIENTS, C_ROUNDS, (double)(eddy_now() - t->t0) / 1e9, t->sent_then);
    CHECK_MSG(t->sent_then <= C_HELD_MAX, "c: %zu bytes left the sender although nobody read (bound %u)",
              t->sent_then, C_HELD_MAX);

    /* Now the slow task reads everything. */
    nu_counter_add(&t->go, 1);
    AWAIT_JOIN(t, t->slow_jh, 60, "c: the slow reader did not finish (got %zu of %u)", g_c_slow.got, C_TOTAL);
    eddy_join_detach(t->slow_jh);
    AWAIT_COUNT(t, &t->sender_done, 1, 30, "c: the sender did not finish");
    CHECK(pthread_join(g_c_sender.th, NULL) == 0);
    CHECK_MSG(g_c_sender.err == 0, "c: sender: %s", strerror(g_c_sender.err));
    CHECK_EQ(atomic_load(&g_c_sender.sent), C_TOTAL);
    CHECK_MSG(g_c_slow.err == 0, "c: slow read: %s", eddy_strerror(g_c_slow.err));
    CHECK_EQ(g_c_slow.bad, -1);
    CHECK_EQ(g_c_slow.got, C_TOTAL);
    CHECK(g_c_slow.eof);
    printf("c: then the slow task read all %u bytes byte-exact, and end of stream\n", C_TOTAL);
    CHECK(close(g_c_sender.fd) == 0);
    eddy_oneshot_rx_drop(t->rx);
    CHECK_OK(eddy_tcp_close(&t->slow));
    CHECK_OK(eddy_tcp_listener_close(&t->l));

    AWAIT_COUNT(t, &t->srv.closed, C_CLIENTS, 30, "c: echo tasks did not end");
    CHECK_EQ(t->srv.bytes, (uint64_t)C_CLIENTS * C_ROUNDS * C_MSG);
    eddy_join_abort(t->srv.acceptor);
    AWAIT_JOIN(t, t->srv.acceptor, 10, "c: the accept loop did not end");
    eddy_join_detach(t->srv.acceptor);
    CHECK_OK(eddy_tcp_listener_close(&t->srv.l));
    *out = 0;
    EDDY_END();
}
EDDY_STATIC_CORO_VT(c_root_vt, struct bc_root, int, c_root_poll);

/* ==== d, e: small writes, then close or shutdown ================================ */

enum { WS_CLOSE, WS_SHUTDOWN };
enum { SZ_100, SZ_MIXED };

/* Size of write i: 100 bytes, or 1..4097 bytes with 4096 (the largest
 * copied write), 4097 and 20000 (direct writes, which must queue behind
 * a copied send in flight) mixed in. */
static size_t ws_size(int mode, unsigned i)
{
    if (mode == SZ_100)
        return 100;
    if (i % 101 == 100)
        return 20000;
    if (i % 89 == 88)
        return 4097;
    if (i % 97 == 96)
        return 4096;
    return 1 + (size_t)((i * 2654435761u) >> 7) % 4096;
}

static size_t ws_total(int mode, unsigned nmsg)
{
    size_t sum = 0;
    for (unsigned i = 0; i < nmsg; i++)
        sum += ws_size(mode, i);
    return sum;
}

struct ws_res {
    size_t wrote;
    ssize_t err;      /* a write that did not return its length */
    int last_rc;      /* the last write (last_drop): 0, or -ECANCELED: dropped */
    size_t last_done; /* and what it reported written */
    int close_rc, shut_rc;
    ssize_t back_n;   /* shutdown mode: what the peer sent back */
    char back[16];
    ssize_t after_eof;
};

/* Accepts one connection, writes nmsg messages, then closes at once (in
 * the same poll as the last write) or shuts its write side and reads the
 * peer's answer.  last_drop: one more write of 100 bytes, dropped after
 * its first poll: on io_uring its copy is then in flight when the stream
 * is closed or shut down. */
struct wsrv {
    eddy_coro co;
    eddy_tcp_listener *l;
    int end, sizes;
    bool last_drop;
    unsigned nmsg, i;
    struct ws_res *res;
    int fd, rc;
    eddy_tcp s;
    bool opened;
    size_t len;
    ssize_t n;
    union {
        eddy_accept acc;
        eddy_write_all wr;
        eddy_shutdown sh;
        eddy_read_exact rx;
        eddy_read rd;
    } f;
};

static eddy_poll wsrv_poll(struct wsrv *t, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&t->co, cx);
    t->res->close_rc = t->res->shut_rc = 1;
    t->res->after_eof = 1;
    EDDY_AWAIT(&t->fd, eddy_accept, &t->f.acc, t->l, NULL);
    CHECK(t->fd >= 0);
    CHECK_OK(eddy_tcp_open(&t->s, t->fd));
    t->opened = true;
    for (t->i = 0; t->i < t->nmsg; t->i++) {
        t->len = ws_size(t->sizes, t->i);
        EDDY_AWAIT(&t->n, eddy_write_all, &t->f.wr, &t->s.io, g_pat + t->res->wrote, t->len);
        if (t->n != (ssize_t)t->len) {
            t->res->err = t->n;
            break;
        }
        t->res->wrote += t->len;
    }
    if (t->last_drop && t->res->err == 0) {
        eddy_write_all_init(&t->f.wr, &t->s.io, g_pat + t->res->wrote, 100);
        t->res->last_rc = poll_once_drop(&write_all_vt, &t->f.wr, EDDY_CX(), &t->n) ? -ECANCELED : 0;
        t->res->last_done = t->res->last_rc == 0 ? 100 : t->f.wr.done;
    }
    if (t->end == WS_CLOSE) {
        /* No await between the last write and the close: its send has at
         * best been queued. */
        t->opened = false;
        t->res->close_rc = eddy_tcp_close(&t->s);
        EDDY_RETURN();
    }
    EDDY_AWAIT(&t->rc, eddy_shutdown, &t->f.sh, &t->s.io, SHUT_WR);
    t->res->shut_rc = t->rc;
    EDDY_AWAIT(&t->res->back_n, eddy_read_exact, &t->f.rx, &t->s.io, t->res->back, 3);
    EDDY_AWAIT(&t->res->after_eof, eddy_read, &t->f.rd, &t->s.io, t->res->back + 3, sizeof t->res->back - 3);
    EDDY_FINALLY();
    if (t->opened)
        t->res->close_rc = eddy_tcp_close(&t->s);
    EDDY_DONE();
}
EDDY_STATIC_CORO_VT_VOID(wsrv_vt, struct wsrv, wsrv_poll);

/* An eddy client that reads until end of stream (d4). */
struct erx {
    eddy_coro co;
    const eddy_addr *addr;
    struct rx_job *res; /* got, bad, err, eof as the thread's */
    eddy_tcp s;
    int rc;
    ssize_t n;
    union {
        eddy_connect conn;
        eddy_read rd;
    } f;
    uint8_t buf[3000];
};

static eddy_poll erx_poll(struct erx *t, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&t->co, cx);
    t->res->bad = -1;
    EDDY_AWAIT(&t->rc, eddy_connect, &t->f.conn, &t->s, t->addr, EDDY_SEC(10));
    CHECK_OK(t->rc);
    for (;;) {
        EDDY_AWAIT(&t->n, eddy_read, &t->f.rd, &t->s.io, t->buf, sizeof t->buf);
        if (t->n < 0) {
            t->res->err = (int)-t->n;
            break;
        }
        if (t->n == 0) {
            t->res->eof = true;
            break;
        }
        nu_rx_add(&t->res->got, &t->res->bad, t->buf, (size_t)t->n);
    }
    EDDY_FINALLY();
    eddy_tcp_close(&t->s);
    nu_counter_add(t->res->done, 1);
    EDDY_DONE();
}
EDDY_STATIC_CORO_VT_VOID(erx_vt, struct erx, erx_poll);

struct de_round {
    const char *name;
    int end, sizes;
    unsigned nmsg;
    int cli_rcvbuf, srv_sndbuf; /* 0: the defaults */
    size_t chunk;               /* the client's recv size */
    bool eddy_client;
    bool last_drop;             /* see wsrv */
};

static const struct de_round de_rounds[] = {
    {"d1: 1000 x 100 bytes, close", WS_CLOSE, SZ_100, 1000, 0, 0, 65536, false, false},
    {"d2: 1000 x 100 bytes, close, small buffers, slow reader", WS_CLOSE, SZ_100, 1000, 4096, 4096, 100, false,
     false},
    {"d3: 2000 writes of 1..20000 bytes, close", WS_CLOSE, SZ_MIXED, 2000, 0, 0, 7000, false, false},
    {"d4: 500 x 100 bytes, close, eddy client on the same runtime", WS_CLOSE, SZ_100, 500, 0, 0, 0, true, false},
    {"d5: 1 x 100 bytes, close", WS_CLOSE, SZ_100, 1, 0, 0, 65536, false, false},
    {"d6: 1000 x 100 bytes, one more dropped in flight, close", WS_CLOSE, SZ_100, 1000, 0, 0, 65536, false, true},
    {"d7: 1000 x 100 bytes, one more dropped in flight, close, small buffers, slow reader", WS_CLOSE, SZ_100, 1000,
     4096, 4096, 100, false, true},
    {"d8: 0 bytes, one write dropped in flight, close", WS_CLOSE, SZ_100, 0, 0, 0, 65536, false, true},
    {"e1: 300 writes of 1..20000 bytes, shutdown", WS_SHUTDOWN, SZ_MIXED, 300, 0, 0, 5000, false, false},
    {"e2: 1 x 100 bytes, shutdown", WS_SHUTDOWN, SZ_100, 1, 0, 0, 65536, false, false},
    {"e3: 1000 x 100 bytes, shutdown, small buffers", WS_SHUTDOWN, SZ_100, 1000, 4096, 4096, 100, false, false},
    {"e4: 300 x 100 bytes, one more dropped in flight, shutdown", WS_SHUTDOWN, SZ_100, 300, 4096, 4096, 100, false,
     true},
};

struct de_root {
    eddy_coro co;
    bool shutdown_rounds; /* e: the WS_SHUTDOWN rounds, d: the others */
    unsigned r;
    const struct de_round *rd;
    eddy_tcp_listener l;
    eddy_addr addr;
    struct ws_res res;
    struct rx_job rx;
    nu_counter done;
    eddy_join *sj;
    nu_join join;
    nu_until until;
    eddy_timeout to;
    int rc;
};

static eddy_poll de_root_poll(struct de_root *t, eddy_cx *cx, int *out)
{
    EDDY_BEGIN(&t->co, cx);
    for (t->r = 0; t->r < sizeof de_rounds / sizeof de_rounds[0]; t->r++) {
        t->rd = &de_rounds[t->r];
        if ((t->rd->end == WS_SHUTDOWN) != t->shutdown_rounds)
            continue;
        memset(&t->res, 0, sizeof t->res);
        nu_counter_init(&t->done);
        CHECK_OK(eddy_tcp_listen(&t->l, "127.0.0.1:0", NULL));
        CHECK_OK(eddy_tcp_listener_addr(&t->l, &t->addr));
        if (t->rd->srv_sndbuf) {
            int sz = t->rd->srv_sndbuf;
            CHECK(setsockopt(eddy_io_fd(&t->l.io), SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz) == 0);
        }
        {
            struct wsrv w = {.l = &t->l, .end = t->rd->end, .sizes = t->rd->sizes, .nmsg = t->rd->nmsg,
                             .res = &t->res, .last_drop = t->rd->last_drop};
            CHECK_OK(eddy_spawn_local(&wsrv_vt, &w, &t->sj));
        }
        t->rx = (struct rx_job){.chunk = t->rd->chunk, .done = &t->done, .bad = -1};
        if (t->rd->eddy_client) {
            struct erx e = {.addr = &t->addr, .res = &t->rx};
            CHECK_OK(eddy_spawn_local(&erx_vt, &e, NULL));
        } else {
            t->rx.fd = plain_connect(&t->addr, t->rd->cli_rcvbuf, 0);
            t->rx.reply = t->rd->end == WS_SHUTDOWN ? "bye" : NULL;
            rx_start(&t->rx);
        }
        AWAIT_JOIN(t, t->sj, 60, "%s: the server task did not finish (wrote %zu)", t->rd->name, t->res.wrote);
        CHECK_EQ(eddy_join_status(t->sj), 0);
        eddy_join_detach(t->sj);
        AWAIT_COUNT(t, &t->done, 1, 60, "%s: the client did not see the end (got %zu of %zu)", t->rd->name,
                    t->rx.got, t->res.wrote);
        if (!t->rd->eddy_client) {
            CHECK(pthread_join(t->rx.th, NULL) == 0);
            CHECK(close(t->rx.fd) == 0);
        }
        CHECK_MSG(t->res.err == 0, "%s: a write after %zu bytes returned %zd (%s)", t->rd->name, t->res.wrote,
                  t->res.err, eddy_strerror((int)t->res.err));
        CHECK_EQ(t->res.wrote, ws_total(t->rd->sizes, t->rd->nmsg));
        CHECK_MSG(t->rx.err == 0, "%s: client: %s", t->rd->name, strerror(t->rx.err));
        CHECK_MSG(t->rx.bad == -1, "%s: byte %ld differs", t->rd->name, t->rx.bad);
        if (t->rd->last_drop) {
            /* The dropped write: at least what it reported written arrived,
             * at most all of it. */
            CHECK_MSG(t->rx.got >= t->res.wrote + t->res.last_done && t->rx.got <= t->res.wrote + 100,
                      "%s: the client got %zu bytes; %zu were written, then a dropped write (%s) of 100 reported "
                      "%zu written",
                      t->rd->name, t->rx.got, t->res.wrote, eddy_strerror(t->res.last_rc), t->res.last_done);
            printf("%s: the dropped write (%s, done %zu): %zu of its 100 bytes arrived\n", t->rd->name,
                   t->res.last_rc ? "dropped" : "completed", t->res.last_done, t->rx.got - t->res.wrote);
        } else {
            CHECK_MSG(t->rx.got == t->res.wrote, "%s: the client got %zu of %zu bytes", t->rd->name, t->rx.got,
                      t->res.wrote);
        }
        CHECK_MSG(t->rx.eof, "%s: no end of stream", t->rd->name);
        CHECK_OK(t->res.close_rc);
        if (t->rd->end == WS_SHUTDOWN) {
            CHECK_MSG(t->res.shut_rc == 0, "%s: shutdown: %s", t->rd->name, eddy_strerror(t->res.shut_rc));
            CHECK_EQ(t->res.back_n, 3);
            CHECK(memcmp(t->res.back, "bye", 3) == 0);
            CHECK_MSG(t->res.after_eof == 0, "%s: read after the peer's answer: %zd", t->rd->name,
                      t->res.after_eof);
        }
        CHECK_OK(eddy_tcp_listener_close(&t->l));
        printf("%s: the peer got all %zu bytes, then end of stream\n", t->rd->name, t->rx.got);
    }
    *out = 0;
    EDDY_END();
}
EDDY_STATIC_CORO_VT(de_root_vt, struct de_root, int, de_root_poll);

/* ==== pairs: an eddy stream and its peer =========================================== */

/* Connects a plain blocking socket (*cli) to l and accepts the other end
 * into the eddy stream srv. */
struct ppair {
    eddy_coro co;
    eddy_tcp_listener *l;
    const eddy_addr *addr;
    int *cli;
    eddy_tcp *srv;
    int cli_rcvbuf, fd;
    eddy_accept acc;
};

static void ppair_init(struct ppair *p, eddy_tcp_listener *l, const eddy_addr *addr, int *cli, eddy_tcp *srv,
                       int cli_rcvbuf)
{
    *p = (struct ppair){.l = l, .addr = addr, .cli = cli, .srv = srv, .cli_rcvbuf = cli_rcvbuf};
}

static eddy_poll ppair_poll(struct ppair *p, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&p->co, cx);
    *p->cli = plain_connect(p->addr, p->cli_rcvbuf, 0);
    EDDY_AWAIT(&p->fd, eddy_accept, &p->acc, p->l, NULL);
    CHECK(p->fd >= 0);
    CHECK_OK(eddy_tcp_open(p->srv, p->fd));
    EDDY_END();
}

static void ppair_drop(struct ppair *p) { (void)ppair_poll(p, EDDY_CX_DROP, NULL); }

/* Both ends eddy streams. */
struct epair {
    eddy_coro co;
    eddy_tcp_listener *l;
    const eddy_addr *addr;
    eddy_tcp *cli, *srv;
    int rc, fd;
    union {
        eddy_connect conn;
        eddy_accept acc;
    } f;
};

static void epair_init(struct epair *p, eddy_tcp_listener *l, const eddy_addr *addr, eddy_tcp *cli, eddy_tcp *srv)
{
    *p = (struct epair){.l = l, .addr = addr, .cli = cli, .srv = srv};
}

static eddy_poll epair_poll(struct epair *p, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&p->co, cx);
    EDDY_AWAIT(&p->rc, eddy_connect, &p->f.conn, p->cli, p->addr, EDDY_SEC(10));
    CHECK_OK(p->rc);
    EDDY_AWAIT(&p->fd, eddy_accept, &p->f.acc, p->l, NULL);
    CHECK(p->fd >= 0);
    CHECK_OK(eddy_tcp_open(p->srv, p->fd));
    EDDY_END();
}

static void epair_drop(struct epair *p) { (void)epair_poll(p, EDDY_CX_DROP, NULL); }

/* ==== f: peer reset ================================================================= */

static uint8_t g_zero_big[8u << 20]; /* f4's write_all source */

struct f_root;

/* The side under test in a task of its own, announcing through stage when
 * its future first returned PENDING (nu_pending). */
struct f_server {
    eddy_coro co;
    struct f_root *r;
    int what; /* 1: read, 4: write_all */
    ssize_t n;
    union {
        eddy_read rd;
        eddy_write_all wr;
    } f;
    nu_pending pend;
    char buf[64];
};

struct f_root {
    eddy_coro co;
    eddy_tcp_listener l;
    eddy_addr addr;
    eddy_tcp srv;
    int cli, rc, k;
    ssize_t n;
    nu_counter stage;
    ssize_t result;
    size_t wrote_before;
    eddy_join *jh;
    nu_join join;
    nu_until until;
    eddy_timeout to;
    union {
        struct ppair pair;
        struct fdwait w;
        eddy_read rd;
        eddy_write_all wr;
    } f;
    char buf[64];
};

static eddy_poll f_server_poll(struct f_server *t, eddy_cx *cx, void *out)
{
    (void)out;
    struct f_root *r = t->r;
    EDDY_BEGIN(&t->co, cx);
    if (t->what == 1) {
        eddy_read_init(&t->f.rd, &r->srv.io, t->buf, sizeof t->buf);
        nu_pending_init(&t->pend, &read_vt, &t->f.rd, &r->stage);
    } else {
        eddy_write_all_init(&t->f.wr, &r->srv.io, g_zero_big, sizeof g_zero_big);
        nu_pending_init(&t->pend, &write_all_vt, &t->f.wr, &r->stage);
    }
    EDDY_AWAIT_POLL(&t->n, nu_pending, &t->pend);
    r->result = t->n;
    if (t->what == 4)
        r->wrote_before = t->f.wr.done;
    EDDY_END();
}
EDDY_STATIC_CORO_VT_VOID(f_server_vt, struct f_server, f_server_poll);

static void f_start(struct f_root *t, int what)
{
    nu_counter_init(&t->stage);
    t->result = 12345;
    struct f_server s = {.r = t, .what = what};
    CHECK_OK(eddy_spawn_local(&f_server_vt, &s, &t->jh));
}

/* After the reset has been reported: a write fails with -EPIPE, at once
 * or, if it was copied, at the next write (which waits for the failed
 * send).  Sets t->n to the error and t->k to the writes it took. */
#define F_WRITE_FAILS(T, WHAT)                                                                                 \
    do {                                                                                                      \
        for ((T)->k = 1; (T)->k <= 2; (T)->k++) {                                                             \
            EDDY_AWAIT(&(T)->n, eddy_write_all, &(T)->f.wr, &(T)->srv.io, "x", 1);                            \
            if ((T)->n < 0)                                                                                   \
                break;                                                                                        \
            CHECK_EQ((T)->n, 1);                                                                              \
        }                                                                                                     \
        CHECK_MSG((T)->n == -EPIPE, "%s: write after the reset was reported gave %zd (%s)", WHAT, (T)->n,     \
                  eddy_strerror((int)(T)->n));                                                                \
    } while (0)

static eddy_poll f_root_poll(struct f_root *t, eddy_cx *cx, int *out)
{
    EDDY_BEGIN(&t->co, cx);
    CHECK_OK(eddy_tcp_listen(&t->l, "127.0.0.1:0", NULL));
    CHECK_OK(eddy_tcp_listener_addr(&t->l, &t->addr));

    /* ---- f1: a read waiting on an empty stream (the runtime's receive
     * is armed: the RST ends it) ---- */
    EDDY_AWAIT(NULL, ppair, &t->f.pair, &t->l, &t->addr, &t->cli, &t->srv, 0);
    f_start(t, 1);
    AWAIT_COUNT(t, &t->stage, 1, 10, "f1: the read did not return PENDING");
    CHECK(!eddy_join_is_finished(t->jh));
    plain_reset_close(t->cli);
    AWAIT_JOIN(t, t->jh, 10, "f1: the reset did not wake the waiting read");
    eddy_join_detach(t->jh);
    CHECK_MSG(t->result == -ECONNRESET, "f1: waiting read after the RST gave %zd (%s)", t->result,
              eddy_strerror((int)t->result));
    EDDY_AWAIT(&t->n, eddy_read, &t->f.rd, &t->srv.io, t->buf, sizeof t->buf);
    CHECK_MSG(t->n == 0, "f1: the read after -ECONNRESET gave %zd (%s)", t->n, eddy_strerror((int)t->n));
    F_WRITE_FAILS(t, "f1");
    CHECK_OK(eddy_tcp_close(&t->srv));
    printf("f1: waiting eddy_read -> -ECONNRESET, then 0; a write then -EPIPE (write #%d)\n", t->k);

    /* ---- f2: the RST arrives after bytes the stream has not read ---- */
    EDDY_AWAIT(NULL, ppair, &t->f.pair, &t->l, &t->addr, &t->cli, &t->srv, 0);
    plain_send_all(t->cli, "hello", 5);
    EDDY_AWAIT(&t->rc, fdwait, &t->f.w, t->cli, FDW_OUTQ_EMPTY, 0);
    CHECK_MSG(t->rc == 0, "f2: the 5 bytes were not acknowledged");
    plain_reset_close(t->cli);
    EDDY_AWAIT(&t->rc, fdwait, &t->f.w, eddy_io_fd(&t->srv.io), FDW_CLOSED, 0);
    CHECK_MSG(t->rc == 0, "f2: the RST was not processed in 10 s");
    EDDY_AWAIT(&t->n, eddy_read, &t->f.rd, &t->srv.io, t->buf, sizeof t->buf);
    CHECK_MSG(t->n == 5, "f2: first read after the RST gave %zd (%s)", t->n, eddy_strerror((int)t->n));
    CHECK(memcmp(t->buf, "hello", 5) == 0);
    EDDY_AWAIT(&t->n, eddy_read, &t->f.rd, &t->srv.io, t->buf, sizeof t->buf);
    CHECK_MSG(t->n == -ECONNRESET, "f2: second read gave %zd (%s)", t->n, eddy_strerror((int)t->n));
    EDDY_AWAIT(&t->n, eddy_read, &t->f.rd, &t->srv.io, t->buf, sizeof t->buf);
    CHECK_MSG(t->n == 0, "f2: third read gave %zd (%s)", t->n, eddy_strerror((int)t->n));
    CHECK_OK(eddy_tcp_close(&t->srv));
    printf("f2: bytes unread before the RST are read first (5), then -ECONNRESET, then 0\n");

    /* ---- f2b: the same, the bytes in eddy's queue when the RST comes ---- */
    EDDY_AWAIT(NULL, ppair, &t->f.pair, &t->l, &t->addr, &t->cli, &t->srv, 0);
    ARM_RECV(t, &t->f.rd, &t->srv.io, t->buf, sizeof t->buf);
    plain_send_all(t->cli, "hello", 5);
    EDDY_AWAIT(&t->rc, fdwait, &t->f.w, eddy_io_fd(&t->srv.io), FDW_INQ_EMPTY, 0);
    CHECK_MSG(t->rc == 0, "f2b: the runtime's receive did not take the 5 bytes");
    plain_reset_close(t->cli);
    EDDY_AWAIT(&t->rc, fdwait, &t->f.w, eddy_io_fd(&t->srv.io), FDW_CLOSED, 0);
    CHECK_MSG(t->rc == 0, "f2b: the RST was not processed in 10 s");
    EDDY_AWAIT(&t->n, eddy_read, &t->f.rd, &t->srv.io, t->buf, sizeof t->buf);
    CHECK_MSG(t->n == 5, "f2b: first read after the RST gave %zd (%s)", t->n, eddy_strerror((int)t->n));
    CHECK(memcmp(t->buf, "hello", 5) == 0);
    EDDY_AWAIT(&t->n, eddy_read, &t->f.rd, &t->srv.io, t->buf, sizeof t->buf);
    CHECK_MSG(t->n == -ECONNRESET, "f2b: second read gave %zd (%s)", t->n, eddy_strerror((int)t->n));
    EDDY_AWAIT(&t->n, eddy_read, &t->f.rd, &t->srv.io, t->buf, sizeof t->buf);
    CHECK_MSG(t->n == 0, "f2b: third read gave %zd (%s)", t->n, eddy_strerror((int)t->n));
    CHECK_OK(eddy_tcp_close(&t->srv));
    printf("f2b: the same with the 5 bytes in eddy's queue when the RST came\n");

    /* ---- f3: after sending bytes the peer never read ---- */
    EDDY_AWAIT(NULL, ppair, &t->f.pair, &t->l, &t->addr, &t->cli, &t->srv, 0);
    EDDY_AWAIT(&t->n, eddy_write_all, &t->f.wr, &t->srv.io, "unread", 6);
    CHECK_EQ(t->n, 6);
    /* Until the (copied) send has reached the peer: the send is done,
     * the RST can only be seen by the read. */
    EDDY_AWAIT(&t->rc, fdwait, &t->f.w, t->cli, FDW_INQ_ATLEAST, 6);
    CHECK_MSG(t->rc == 0, "f3: the 6 bytes did not arrive");
    plain_reset_close(t->cli);
    EDDY_AWAIT(&t->n, eddy_read, &t->f.rd, &t->srv.io, t->buf, sizeof t->buf);
    CHECK_MSG(t->n == -ECONNRESET, "f3: read after the RST gave %zd (%s)", t->n, eddy_strerror((int)t->n));
    EDDY_AWAIT(&t->n, eddy_read, &t->f.rd, &t->srv.io, t->buf, sizeof t->buf);
    CHECK_MSG(t->n == 0, "f3: the read after -ECONNRESET gave %zd (%s)", t->n, eddy_strerror((int)t->n));
    F_WRITE_FAILS(t, "f3");
    CHECK_OK(eddy_tcp_close(&t->srv));
    printf("f3: read after sending -> -ECONNRESET, then 0; a write then -EPIPE (write #%d)\n", t->k);

    /* ---- f4: a write_all waiting on a full peer ---- */
    EDDY_AWAIT(NULL, ppair, &t->f.pair, &t->l, &t->addr, &t->cli, &t->srv, 64 * 1024);
    {
        int sz = 64 * 1024;
        CHECK(setsockopt(eddy_io_fd(&t->srv.io), SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz) == 0);
    }
    f_start(t, 4);
    AWAIT_COUNT(t, &t->stage, 1, 10, "f4: the write_all did not return PENDING");
    CHECK(!eddy_join_is_finished(t->jh));
    plain_reset_close(t->cli);
    AWAIT_JOIN(t, t->jh, 10, "f4: the reset did not wake the waiting write_all");
    eddy_join_detach(t->jh);
    /* -ECONNRESET on epoll; here the stream's receive may see the RST
     * first (it takes the socket error), and the send then fails -EPIPE. */
    CHECK_MSG(t->result == -ECONNRESET || t->result == -EPIPE, "f4: waiting write_all after the RST gave %zd (%s)",
              t->result, eddy_strerror((int)t->result));
    CHECK(t->wrote_before > 0);
    CHECK(t->wrote_before < sizeof g_zero_big);
    CHECK_OK(eddy_tcp_close(&t->srv));
    printf("f4: waiting eddy_write_all -> %s after %zu bytes\n", eddy_strerror((int)t->result), t->wrote_before);

    CHECK_OK(eddy_tcp_listener_close(&t->l));
    *out = 0;
    EDDY_END();
}
EDDY_STATIC_CORO_VT(f_root_vt, struct f_root, int, f_root_poll);

/* ==== g: writing to a peer that closed ============================================== */

static void check_no_sigpipe(const char *where)
{
    struct sigaction sa;
    CHECK(sigaction(SIGPIPE, NULL, &sa) == 0);
    CHECK_MSG(sa.sa_handler == SIG_DFL, "%s: SIGPIPE is not at its default disposition", where);
    sigset_t pend;
    CHECK(sigpending(&pend) == 0);
    CHECK_MSG(!sigismember(&pend, SIGPIPE), "%s: a SIGPIPE is pending", where);
}

#define G_MAXW 1000

struct g_root {
    eddy_coro co;
    eddy_tcp_listener l;
    eddy_addr addr;
    eddy_tcp srv;
    int cli, rc, round, k;
    size_t wlen;
    ssize_t n;
    uint64_t t0;
    union {
        struct ppair pair;
        struct fdwait w;
        eddy_write_all wr;
        eddy_shutdown sh;
        eddy_read rd;
    } f;
    char buf[64];
};

static eddy_poll g_root_poll(struct g_root *t, eddy_cx *cx, int *out)
{
    EDDY_BEGIN(&t->co, cx);
    check_no_sigpipe("g start");
    CHECK_OK(eddy_tcp_listen(&t->l, "127.0.0.1:0", NULL));
    CHECK_OK(eddy_tcp_listener_addr(&t->l, &t->addr));

    /* g1 (100-byte writes: copied) and g2 (64 KiB writes: direct). */
    for (t->round = 0; t->round < 2; t->round++) {
        t->wlen = t->round == 0 ? 100 : 65536;
        EDDY_AWAIT(NULL, ppair, &t->f.pair, &t->l, &t->addr, &t->cli, &t->srv, 0);
        CHECK(close(t->cli) == 0);
        t->t0 = eddy_now();
        for (t->k = 1; t->k <= G_MAXW; t->k++) {
            EDDY_AWAIT(&t->n, eddy_write_all, &t->f.wr, &t->srv.io, g_pat, t->wlen);
            if (t->n < 0)
                break;
            CHECK_EQ(t->n, (ssize_t)t->wlen);
            CHECK_MSG(eddy_now() - t->t0 < EDDY_SEC(10 * SLOW), "g%d: writes still succeed after 10 s (%d)",
                      t->round + 1, t->k);
        }
        CHECK_MSG(t->n == -EPIPE || t->n == -ECONNRESET, "g%d: %d writes of %zu bytes to a closed peer, the last "
                  "gave %zd (%s)", t->round + 1, t->k - 1, t->wlen, t->n, eddy_strerror((int)t->n));
        check_no_sigpipe("g1/g2");
        CHECK_OK(eddy_tcp_close(&t->srv));
        printf("g%d: %zu-byte writes to a closed peer: write #%d gave %s, no SIGPIPE\n", t->round + 1, t->wlen,
               t->k, eddy_strerror((int)t->n));
    }

    /* g3: a copied write whose send fails (the peer's RST was processed
     * before it went out) is reported by the next shutdown, if the write
     * itself could not see it. */
    EDDY_AWAIT(NULL, ppair, &t->f.pair, &t->l, &t->addr, &t->cli, &t->srv, 0);
    CHECK(close(t->cli) == 0);
    /* The end of stream arrives; a first write draws the peer's RST. */
    EDDY_AWAIT(&t->n, eddy_read, &t->f.rd, &t->srv.io, t->buf, sizeof t->buf);
    CHECK_EQ(t->n, 0);
    EDDY_AWAIT(&t->n, eddy_write_all, &t->f.wr, &t->srv.io, g_pat, 100);
    CHECK_EQ(t->n, 100);
    EDDY_AWAIT(&t->rc, fdwait, &t->f.w, eddy_io_fd(&t->srv.io), FDW_CLOSED, 0);
    CHECK_MSG(t->rc == 0, "g3: the RST was not processed in 10 s");
    EDDY_AWAIT(&t->n, eddy_write_all, &t->f.wr, &t->srv.io, g_pat, 100);
    if (t->n == 100) {
        EDDY_AWAIT(&t->rc, eddy_shutdown, &t->f.sh, &t->srv.io, SHUT_WR);
        CHECK_MSG(t->rc == -ECONNRESET || t->rc == -EPIPE,
                  "g3: the copied write's send must fail; shutdown after it gave %d (%s)", t->rc,
                  eddy_strerror(t->rc));
        printf("g3: a copied write after the RST returned 100; the next shutdown reported %s\n",
               eddy_strerror(t->rc));
    } else {
        CHECK_MSG(t->n == -ECONNRESET || t->n == -EPIPE, "g3: write after the RST gave %zd (%s)", t->n,
                  eddy_strerror((int)t->n));
        printf("g3: a write after the RST gave %s at once\n", eddy_strerror((int)t->n));
    }
    check_no_sigpipe("g3");
    CHECK_OK(eddy_tcp_close(&t->srv));

    /* g4: the same, reported by the next write (which waits for the
     * failed send). */
    EDDY_AWAIT(NULL, ppair, &t->f.pair, &t->l, &t->addr, &t->cli, &t->srv, 0);
    CHECK(close(t->cli) == 0);
    EDDY_AWAIT(&t->n, eddy_read, &t->f.rd, &t->srv.io, t->buf, sizeof t->buf);
    CHECK_EQ(t->n, 0);
    EDDY_AWAIT(&t->n, eddy_write_all, &t->f.wr, &t->srv.io, g_pat, 100);
    CHECK_EQ(t->n, 100);
    EDDY_AWAIT(&t->rc, fdwait, &t->f.w, eddy_io_fd(&t->srv.io), FDW_CLOSED, 0);
    CHECK_MSG(t->rc == 0, "g4: the RST was not processed in 10 s");
    for (t->k = 1; t->k <= 2; t->k++) {
        EDDY_AWAIT(&t->n, eddy_write_all, &t->f.wr, &t->srv.io, g_pat, 100);
        if (t->n < 0)
            break;
        CHECK_EQ(t->n, 100);
    }
    CHECK_MSG(t->n == -ECONNRESET || t->n == -EPIPE,
              "g4: after the RST was processed, write #1 and #2 (which must report #1's failed send) both "
              "returned %zd", t->n);
    printf("g4: after the RST, write #%d gave %s\n", t->k, eddy_strerror((int)t->n));
    check_no_sigpipe("g4");
    CHECK_OK(eddy_tcp_close(&t->srv));

    CHECK_OK(eddy_tcp_listener_close(&t->l));
    *out = 0;
    EDDY_END();
}
EDDY_STATIC_CORO_VT(g_root_vt, struct g_root, int, g_root_poll);

/* ==== h: eddy_io_release ============================================================ */

/* Reads exactly len bytes from a bare non-blocking fd (poll, 10 s). */
static void bare_recv_exact(int fd, uint8_t *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        int r = poll1(fd, POLLIN, 10000 * SLOW);
        CHECK_MSG(r == 1, "bare fd: %zu of %zu bytes arrived in 10 s", got, len);
        ssize_t n = recv(fd, buf + got, len - got, MSG_DONTWAIT);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        CHECK_MSG(n > 0, "bare fd: recv gave %zd (%s) after %zu of %zu bytes", n, n < 0 ? strerror(errno) : "",
                  got, len);
        got += (size_t)n;
    }
}

struct h_root {
    eddy_coro co;
    eddy_tcp_listener l;
    eddy_addr addr;
    eddy_tcp srv;
    int cli, fd, rc, round;
    ssize_t n;
    eddy_timeout to;
    union {
        struct ppair pair;
        struct fdwait w;
        eddy_read rd;
        eddy_read_exact rx;
        eddy_yield y;
    } f;
    uint8_t buf[2048];
};

/* After a release: what the peer sends now is read from the bare fd (the
 * runtime's receive no longer takes anything), which also writes. */
static void h_bare_fd_works(struct h_root *t, uint64_t off)
{
    nu_fill(t->buf, off, 1000);
    plain_send_all(t->cli, t->buf, 1000);
    memset(t->buf, 0, sizeof t->buf);
    bare_recv_exact(t->fd, t->buf, 1000);
    CHECK_MSG(nu_check(t->buf, off, 1000) == -1, "h: the bytes sent after the release differ at %ld",
              nu_check(t->buf, off, 1000));
    plain_send_all(t->fd, "pong", 4);
    CHECK_EQ(poll1(t->cli, POLLIN, 10000 * SLOW), 1);
    CHECK_EQ(recv(t->cli, t->buf, sizeof t->buf, MSG_DONTWAIT), 4); /* loopback: one segment */
    CHECK(memcmp(t->buf, "pong", 4) == 0);
    CHECK(close(t->fd) == 0);
    CHECK(close(t->cli) == 0);
}

static eddy_poll h_root_poll(struct h_root *t, eddy_cx *cx, int *out)
{
    EDDY_BEGIN(&t->co, cx);
    CHECK_OK(eddy_tcp_listen(&t->l, "127.0.0.1:0", NULL));
    CHECK_OK(eddy_tcp_listener_addr(&t->l, &t->addr));

    /* h1: a fresh stream: release hands the fd back at once. */
    EDDY_AWAIT(NULL, ppair, &t->f.pair, &t->l, &t->addr, &t->cli, &t->srv, 0);
    t->fd = eddy_io_fd(&t->srv.io);
    t->rc = eddy_io_release(&t->srv.io);
    CHECK_MSG(t->rc == t->fd, "h1: release of a fresh stream gave %d (%s), fd %d", t->rc, eddy_strerror(t->rc),
              t->fd);
    CHECK_EQ(eddy_io_fd(&t->srv.io), -1);
    h_bare_fd_works(t, 0);
    printf("h1: release of a fresh stream returns its fd; later bytes are read from the bare fd\n");

    /* h2: the runtime's receive armed, nothing received: release cancels
     * it before handing the fd back; the peer sends at once. */
    EDDY_AWAIT(NULL, ppair, &t->f.pair, &t->l, &t->addr, &t->cli, &t->srv, 0);
    t->fd = eddy_io_fd(&t->srv.io);
    ARM_RECV(t, &t->f.rd, &t->srv.io, t->buf, sizeof t->buf);
    t->rc = eddy_io_release(&t->srv.io);
    CHECK_MSG(t->rc == t->fd, "h2: release with the receive armed gave %d (%s), fd %d", t->rc,
              eddy_strerror(t->rc), t->fd);
    h_bare_fd_works(t, 0);
    printf("h2: release with the runtime's receive armed returns the fd; later bytes are read from it\n");

    /* h3 (then h4: the same, with a runtime turn between the release and
     * the peer's send): bytes in eddy's queue. */
    for (t->round = 0; t->round < 2; t->round++) {
        EDDY_AWAIT(NULL, ppair, &t->f.pair, &t->l, &t->addr, &t->cli, &t->srv, 0);
        t->fd = eddy_io_fd(&t->srv.io);
        ARM_RECV(t, &t->f.rd, &t->srv.io, t->buf, sizeof t->buf);
        nu_fill(t->buf, 0, 200);
        plain_send_all(t->cli, t->buf, 200); /* one segment: one receive buffer */
        EDDY_AWAIT(&t->rc, fdwait, &t->f.w, t->fd, FDW_INQ_EMPTY, 0);
        CHECK_MSG(t->rc == 0, "h: the runtime's receive did not take the 200 bytes");
        /* All 200 bytes sit in eddy's queue. */
        t->rc = eddy_io_release(&t->srv.io);
        CHECK_MSG(t->rc == -EBUSY, "h: release with 200 bytes queued gave %d (%s)", t->rc, eddy_strerror(t->rc));
        CHECK_EQ(eddy_io_fd(&t->srv.io), t->fd); /* still registered */
        memset(t->buf, 0, sizeof t->buf);
        EDDY_AWAIT(&t->n, eddy_read, &t->f.rd, &t->srv.io, t->buf, 50);
        CHECK_MSG(t->n == 50, "h: read gave %zd (%s)", t->n, eddy_strerror((int)t->n));
        CHECK_EQ(nu_check(t->buf, 0, 50), -1);
        t->rc = eddy_io_release(&t->srv.io);
        CHECK_MSG(t->rc == -EBUSY, "h: release with 150 bytes queued gave %d (%s)", t->rc, eddy_strerror(t->rc));
        CHECK_EQ(eddy_io_fd(&t->srv.io), t->fd);
        EDDY_AWAIT(&t->n, eddy_read_exact, &t->f.rx, &t->srv.io, t->buf + 50, 150);
        CHECK_MSG(t->n == 150, "h: reading the rest gave %zd (%s)", t->n, eddy_strerror((int)t->n));
        CHECK_EQ(nu_check(t->buf, 0, 200), -1);
        t->rc = eddy_io_release(&t->srv.io);
        CHECK_MSG(t->rc == t->fd, "h: release once the queue was read gave %d (%s), fd %d", t->rc,
                  eddy_strerror(t->rc), t->fd);
        CHECK_EQ(eddy_io_fd(&t->srv.io), -1);
        if (t->round == 1)
            EDDY_AWAIT(NULL, eddy_yield, &t->f.y);
        h_bare_fd_works(t, 200);
        printf("h%d: release with bytes in eddy's queue -> -EBUSY (still registered), twice; once they are read "
               "it returns the fd, which gets every later byte\n",
               t->round + 3);
    }

    /* h5: -EBUSY, then an ordinary close (the queue is freed). */
    EDDY_AWAIT(NULL, ppair, &t->f.pair, &t->l, &t->addr, &t->cli, &t->srv, 0);
    ARM_RECV(t, &t->f.rd, &t->srv.io, t->buf, sizeof t->buf);
    plain_send_all(t->cli, "0123456789", 10);
    EDDY_AWAIT(&t->rc, fdwait, &t->f.w, eddy_io_fd(&t->srv.io), FDW_INQ_EMPTY, 0);
    CHECK_OK(t->rc);
    CHECK_EQ(eddy_io_release(&t->srv.io), -EBUSY);
    CHECK_OK(eddy_tcp_close(&t->srv));
    CHECK(close(t->cli) == 0);

    CHECK_OK(eddy_tcp_listener_close(&t->l));
    *out = 0;
    EDDY_END();
}
EDDY_STATIC_CORO_VT(h_root_vt, struct h_root, int, h_root_poll);

/* ==== i: read futures dropped while pending ===================================== */

#define I_MSGS 400

/* The reader of i3: in a loop, a select between "the next signal" and a
 * read (the signal often wins and the read, possibly with data arrived
 * for it, is dropped), or a read under a timeout of 0..2 ms.  Reads until
 * end of stream. */
struct i_res { /* the root's: a task's frame is freed when it ends */
    size_t got;
    long bad;
    long read_wins, dropped;
    int err;
    bool eof;
};

struct i_reader {
    eddy_coro co;
    eddy_tcp *s;
    nu_counter *sig;
    struct i_res *r;
    uint32_t rng;
    long iters;
    size_t won;
    ssize_t n;
    int rc;
    nu_until until;
    eddy_read rd;
    eddy_child kids[2];
    union {
        eddy_select sel;
        eddy_timeout to;
    } f;
    uint8_t buf[3000];
};

static uint32_t xs32(uint32_t *s)
{
    uint32_t x = *s;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *s = x;
}

static eddy_poll i_reader_poll(struct i_reader *t, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&t->co, cx);
    t->r->bad = -1;
    for (t->iters = 0; t->iters < 1000000; t->iters++) {
        t->n = 0;
        eddy_read_init(&t->rd, &t->s->io, t->buf, 1 + xs32(&t->rng) % sizeof t->buf);
        if (xs32(&t->rng) % 4 == 0) {
            EDDY_AWAIT(&t->rc, eddy_timeout, &t->f.to, xs32(&t->rng) % EDDY_MS(2), &read_vt, &t->rd, &t->n);
            if (t->rc != 0) {
                t->r->dropped++;
                continue;
            }
        } else {
            nu_until_init(&t->until, t->sig, t->sig->value + 1);
            t->kids[0] = EDDY_CHILD(&nu_until_vt, &t->until, NULL);
            t->kids[1] = EDDY_CHILD(&read_vt, &t->rd, &t->n);
            EDDY_AWAIT(&t->won, eddy_select, &t->f.sel, t->kids, 2);
            if (t->won == 0) {
                t->r->dropped++;
                continue;
            }
        }
        t->r->read_wins++;
        if (t->n < 0) {
            t->r->err = (int)t->n;
            break;
        }
        if (t->n == 0) {
            t->r->eof = true;
            break;
        }
        nu_rx_add(&t->r->got, &t->r->bad, t->buf, (size_t)t->n);
    }
    EDDY_END();
}
EDDY_STATIC_CORO_VT_VOID(i_reader_vt, struct i_reader, i_reader_poll);

struct i_root {
    eddy_coro co;
    eddy_tcp_listener l;
    eddy_addr addr;
    eddy_tcp cli, srv;
    int rc, m;
    ssize_t n;
    size_t sent, len, first;
    uint32_t rng;
    nu_counter sig;
    struct i_res res;
    eddy_join *jh;
    nu_join join;
    nu_until until;
    eddy_timeout to;
    eddy_read rd;
    eddy_read_exact rx;
    union {
        struct epair pair;
        eddy_write_all wr;
        eddy_read rd;
        eddy_read_exact rx;
        eddy_shutdown sh;
        eddy_yield y;
    } f;
    uint8_t buf[2000];
};

static eddy_poll i_root_poll(struct i_root *t, eddy_cx *cx, int *out)
{
    EDDY_BEGIN(&t->co, cx);
    CHECK_OK(eddy_tcp_listen(&t->l, "127.0.0.1:0", NULL));
    CHECK_OK(eddy_tcp_listener_addr(&t->l, &t->addr));
    EDDY_AWAIT(NULL, epair, &t->f.pair, &t->l, &t->addr, &t->cli, &t->srv);

    /* i1: a read times out on an empty stream (dropped while waiting);
     * then the peer writes: a new read gets every byte. */
    eddy_read_init(&t->rd, &t->srv.io, t->buf, sizeof t->buf);
    EDDY_AWAIT(&t->rc, eddy_timeout, &t->to, EDDY_MS(20), &read_vt, &t->rd, &t->n);
    CHECK_EQ(t->rc, -ETIMEDOUT);
    EDDY_AWAIT(&t->n, eddy_write_all, &t->f.wr, &t->cli.io, g_pat, 1000);
    CHECK_EQ(t->n, 1000);
    EDDY_AWAIT(&t->n, eddy_read_exact, &t->f.rx, &t->srv.io, t->buf, 1000);
    CHECK_EQ(t->n, 1000);
    CHECK_EQ(nu_check(t->buf, 0, 1000), -1);
    printf("i1: a read dropped by a timeout, then a new read gets all 1000 bytes\n");

    /* i2: a read_exact of 1000 bytes gets the first 600, then times out
     * (dropped midway; `done` says how many it holds); the next read_exact
     * continues from there. */
    EDDY_AWAIT(&t->n, eddy_write_all, &t->f.wr, &t->cli.io, g_pat + 1000, 600);
    CHECK_EQ(t->n, 600);
    eddy_read_exact_init(&t->rx, &t->srv.io, t->buf, 1000);
    EDDY_AWAIT(&t->rc, eddy_timeout, &t->to, EDDY_MS(300), &read_exact_vt, &t->rx, &t->n);
    CHECK_EQ(t->rc, -ETIMEDOUT);
    t->first = t->rx.done;
    CHECK_LE(t->first, 600);
    CHECK_EQ(nu_check(t->buf, 1000, t->first), -1);
    EDDY_AWAIT(&t->n, eddy_write_all, &t->f.wr, &t->cli.io, g_pat + 1600, 400);
    CHECK_EQ(t->n, 400);
    EDDY_AWAIT(&t->n, eddy_read_exact, &t->f.rx, &t->srv.io, t->buf + t->first, 1000 - t->first);
    CHECK_EQ(t->n, (ssize_t)(1000 - t->first));
    CHECK_EQ(nu_check(t->buf, 1000, 1000), -1);
    printf("i2: a read_exact dropped midway held %zu of 600 bytes; the next one got the rest, byte-exact\n",
           t->first);

    /* i3: reads dropped by lost selects and timeouts, at random moments
     * relative to the writes and their arrival. */
    nu_counter_init(&t->sig);
    {
        void *frame;
        CHECK_OK(eddy_spawn_prepare(eddy_rt_current(), &i_reader_vt, &frame));
        struct i_reader *r = frame;
        memset(r, 0, sizeof *r);
        r->s = &t->srv;
        r->sig = &t->sig;
        r->rng = 0x9e3779b9u;
        t->res = (struct i_res){.bad = -1};
        r->r = &t->res;
        CHECK_OK(eddy_spawn_commit(&i_reader_vt, frame, &t->jh));
    }
    t->rng = 12345;
    for (t->m = 0, t->sent = 0; t->m < I_MSGS; t->m++) {
        t->len = 1 + xs32(&t->rng) % 2000;
        if (xs32(&t->rng) % 2)
            nu_counter_add(&t->sig, 1);
        EDDY_AWAIT(&t->n, eddy_write_all, &t->f.wr, &t->cli.io, g_pat + t->sent, t->len);
        CHECK_EQ(t->n, (ssize_t)t->len);
        t->sent += t->len;
        if (xs32(&t->rng) % 2)
            EDDY_AWAIT(NULL, eddy_yield, &t->f.y);
        nu_counter_add(&t->sig, 1);
        EDDY_AWAIT(NULL, eddy_yield, &t->f.y);
    }
    EDDY_AWAIT(&t->rc, eddy_shutdown, &t->f.sh, &t->cli.io, SHUT_WR);
    CHECK_OK(t->rc);
    AWAIT_JOIN(t, t->jh, 30, "i3: the reader did not finish (got %zu of %zu)", t->res.got, t->sent);
    eddy_join_detach(t->jh);
    CHECK_MSG(t->res.err == 0, "i3: read: %s", eddy_strerror(t->res.err));
    CHECK_MSG(t->res.bad == -1, "i3: byte %ld differs (bytes lost or repeated by a dropped read)", t->res.bad);
    CHECK_MSG(t->res.got == t->sent, "i3: got %zu of %zu bytes", t->res.got, t->sent);
    CHECK(t->res.eof);
    printf("i3: %d writes (%zu bytes) read byte-exact through %ld reads, %ld of them dropped while waiting\n",
           I_MSGS, t->sent, t->res.read_wins + t->res.dropped, t->res.dropped);
    CHECK(t->res.dropped > 0);
    CHECK_OK(eddy_tcp_close(&t->cli));
    CHECK_OK(eddy_tcp_close(&t->srv));

    CHECK_OK(eddy_tcp_listener_close(&t->l));
    *out = 0;
    EDDY_END();
}
EDDY_STATIC_CORO_VT(i_root_vt, struct i_root, int, i_root_poll);

/* ==== w: write_alls dropped after their first poll ======================== */

#define W_MSGS 300

struct w_root {
    eddy_coro co;
    eddy_tcp_listener l;
    eddy_addr addr;
    eddy_tcp srv;
    int cli_fd, drops, m, rc;
    ssize_t n;
    uint32_t rng;
    size_t w_off, w_len, w_done;
    struct rx_job prx;
    nu_counter prx_done;
    eddy_write_all w_all;
    nu_until until;
    eddy_timeout to;
    union {
        struct ppair ppair;
        eddy_write_all wr;
        eddy_shutdown sh;
    } f;
};

static eddy_poll w_root_poll(struct w_root *t, eddy_cx *cx, int *out)
{
    EDDY_BEGIN(&t->co, cx);
    CHECK_OK(eddy_tcp_listen(&t->l, "127.0.0.1:0", NULL));
    CHECK_OK(eddy_tcp_listener_addr(&t->l, &t->addr));
    /* The write side.  Each message goes out through a write_all that
     * is dropped after its first poll if it is pending (on io_uring a copy
     * is in flight by then); the writer then does what io.h says a caller
     * may: `done` bytes were written, so it writes the rest of the message
     * (awaited).  The peer must get every byte exactly once. */
    EDDY_AWAIT(NULL, ppair, &t->f.ppair, &t->l, &t->addr, &t->cli_fd, &t->srv, 0);
    nu_counter_init(&t->prx_done);
    t->prx = (struct rx_job){.fd = t->cli_fd, .chunk = 65536, .done = &t->prx_done, .bad = -1};
    rx_start(&t->prx);
    t->rng = 777;
    for (t->m = 0, t->w_off = 0, t->drops = 0; t->m < W_MSGS; t->m++) {
        t->w_len = 1 + xs32(&t->rng) % 6000; /* copied (<= 4096) and direct */
        eddy_write_all_init(&t->w_all, &t->srv.io, g_pat + t->w_off, t->w_len);
        if (poll_once_drop(&write_all_vt, &t->w_all, EDDY_CX(), &t->n)) {
            t->drops++;
            t->w_done = t->w_all.done;
        } else {
            CHECK_MSG(t->n == (ssize_t)t->w_len, "w: write_all gave %zd (%s)", t->n, eddy_strerror((int)t->n));
            t->w_done = t->w_len;
        }
        if (t->w_done < t->w_len) {
            EDDY_AWAIT(&t->n, eddy_write_all, &t->f.wr, &t->srv.io, g_pat + t->w_off + t->w_done,
                       t->w_len - t->w_done);
            CHECK_MSG(t->n == (ssize_t)(t->w_len - t->w_done), "w: the rest of message %d: %zd (%s)", t->m, t->n,
                      eddy_strerror((int)t->n));
        }
        t->w_off += t->w_len;
    }
    EDDY_AWAIT(&t->rc, eddy_shutdown, &t->f.sh, &t->srv.io, SHUT_WR);
    CHECK_OK(t->rc);
    AWAIT_COUNT(t, &t->prx_done, 1, 30, "w: the peer did not see the end (got %zu of %zu)", t->prx.got, t->w_off);
    CHECK(pthread_join(t->prx.th, NULL) == 0);
    CHECK(close(t->cli_fd) == 0);
    CHECK_OK(eddy_tcp_close(&t->srv));
    CHECK_MSG(t->prx.err == 0, "w: peer: %s", strerror(t->prx.err));
    CHECK_MSG(t->prx.bad == -1 && t->prx.got == t->w_off,
              "w: %d of %d write_alls were dropped after their first poll and resumed from their `done`; the peer "
              "got %zu bytes for %zu written, the first wrong one at offset %ld (bytes of a dropped write sent "
              "although `done` did not count them?)",
              t->drops, W_MSGS, t->prx.got, t->w_off, t->prx.bad);
    CHECK(t->prx.eof);
    printf("w: %d write_alls dropped after their first poll (%d of them pending), resumed from `done`: the peer "
           "got all %zu bytes exactly once\n",
           W_MSGS, t->drops, t->w_off);

    CHECK_OK(eddy_tcp_listener_close(&t->l));
    *out = 0;
    EDDY_END();
}
EDDY_STATIC_CORO_VT(w_root_vt, struct w_root, int, w_root_poll);

/* ==== j: the buffer pool runs dry =================================================== */

#define J_CONNS 384
#define J_BYTES (16u * 1024)
/* The runtime's receive pool: 1024 buffers of 2 KiB (src/io/uring.c) */
#define J_POOL (2u << 20)

/* Each connection starts with its id (4 bytes), then J_BYTES - 4 bytes of
 * the pattern at (id << 32).  The thread connects them all, waits for
 * start (every stream's receive is armed by then), sends, and says so
 * through tx. */
struct j_sender {
    const eddy_addr *addr;
    eddy_oneshot_rx *start;
    eddy_oneshot_tx *tx;
    nu_counter *done;
    int fds[J_CONNS];
    int err;
    pthread_t th;
};

static void *j_sender_thread(void *p)
{
    struct j_sender *s = p;
    static uint8_t buf[J_BYTES];
    for (int i = 0; i < J_CONNS; i++)
        s->fds[i] = plain_connect(s->addr, 0, 0);
    CHECK_OK(eddy_oneshot_recv_blocking(s->start, NULL));
    eddy_oneshot_rx_drop(s->start);
    for (uint32_t i = 0; i < J_CONNS; i++) {
        memcpy(buf, &i, 4);
        nu_fill(buf + 4, (uint64_t)i << 32, J_BYTES - 4);
        plain_send_all(s->fds[i], buf, J_BYTES);
        CHECK(shutdown(s->fds[i], SHUT_WR) == 0);
    }
    int n = J_CONNS;
    CHECK_OK(eddy_oneshot_send(s->tx, &n));
    nu_counter_add(s->done, 1);
    return NULL;
}

struct j_stats {
    nu_counter opened, done;
    nu_counter go;
    long ok;
    char seen[J_CONNS];
    char first_err[200];
};

struct j_reader {
    eddy_coro co;
    int fd;
    struct j_stats *st;
    eddy_tcp s;
    bool opened;
    uint32_t id;
    size_t got;
    ssize_t n;
    int rc;
    eddy_timeout to;
    nu_until until;
    eddy_read rd;
    uint8_t buf[J_BYTES + 1];
};

static void j_fail(struct j_stats *st, const char *what, long a, long b)
{
    if (!st->first_err[0])
        snprintf(st->first_err, sizeof st->first_err, "%s (%ld, %ld)", what, a, b);
}

static eddy_poll j_reader_poll(struct j_reader *t, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&t->co, cx);
    CHECK_OK(eddy_tcp_open(&t->s, t->fd));
    t->opened = true;
    ARM_RECV(t, &t->rd, &t->s.io, t->buf, sizeof t->buf);
    nu_counter_add(&t->st->opened, 1);
    nu_until_init(&t->until, &t->st->go, 1);
    EDDY_AWAIT_POLL(NULL, nu_until, &t->until);
    for (;;) {
        EDDY_AWAIT(&t->n, eddy_read, &t->rd, &t->s.io, t->buf + t->got, sizeof t->buf - t->got);
        if (t->n <= 0)
            break;
        t->got += (size_t)t->n;
        if (t->got == sizeof t->buf)
            break; /* one byte too many */
    }
    if (t->n < 0) {
        j_fail(t->st, "read error", (long)t->n, (long)t->got);
        EDDY_RETURN();
    }
    if (t->got != J_BYTES) {
        j_fail(t->st, "wrong length", (long)t->got, J_BYTES);
        EDDY_RETURN();
    }
    memcpy(&t->id, t->buf, 4);
    if (t->id >= J_CONNS || t->st->seen[t->id]) {
        j_fail(t->st, "bad or repeated id", (long)t->id, 0);
        EDDY_RETURN();
    }
    t->st->seen[t->id] = 1;
    {
        long b = nu_check(t->buf + 4, (uint64_t)t->id << 32, J_BYTES - 4);
        if (b >= 0) {
            j_fail(t->st, "byte differs (conn, offset)", (long)t->id, b + 4);
            EDDY_RETURN();
        }
    }
    t->st->ok++;
    EDDY_FINALLY();
    if (t->opened)
        eddy_tcp_close(&t->s);
    else
        close(t->fd);
    nu_counter_add(&t->st->done, 1);
    EDDY_DONE();
}
EDDY_STATIC_CORO_VT_VOID(j_reader_vt, struct j_reader, j_reader_poll);

struct j_root {
    eddy_coro co;
    eddy_tcp_listener l;
    eddy_addr addr;
    struct j_stats st;
    struct j_sender snd;
    nu_counter snd_done;
    eddy_oneshot_tx *tx, *start_tx;
    eddy_oneshot_rx *rx;
    int i, fd, rc, nsent;
    int fds[J_CONNS]; /* the accepted ends */
    long moved;
    eddy_sleep sl;
    uint64_t t0;
    nu_join join;
    nu_until until;
    eddy_timeout to;
    union {
        eddy_accept acc;
        eddy_oneshot_recv recv;
        eddy_yield y;
    } f;
};

static eddy_poll j_root_poll(struct j_root *t, eddy_cx *cx, int *out)
{
    EDDY_BEGIN(&t->co, cx);
    nu_counter_init(&t->st.opened);
    nu_counter_init(&t->st.done);
    nu_counter_init(&t->st.go);
    nu_counter_init(&t->snd_done);
    CHECK_OK(eddy_tcp_listen(&t->l, "127.0.0.1:0", &(eddy_tcp_opts){.backlog = 1024}));
    CHECK_OK(eddy_tcp_listener_addr(&t->l, &t->addr));
    CHECK_OK(eddy_oneshot_new(&t->tx, &t->rx, sizeof(int)));
    CHECK_OK(eddy_oneshot_new(&t->start_tx, &t->snd.start, 0));
    t->snd.addr = &t->addr;
    t->snd.tx = t->tx;
    t->snd.done = &t->snd_done;
    CHECK(pthread_create(&t->snd.th, NULL, j_sender_thread, &t->snd) == 0);
    /* Accept them all: each reader opens its stream (its receive is armed)
     * and waits for go without reading. */
    for (t->i = 0; t->i < J_CONNS; t->i++) {
        EDDY_AWAIT(&t->fd, eddy_accept, &t->f.acc, &t->l, NULL);
        CHECK_MSG(t->fd >= 0, "j: accept: %s", eddy_strerror(t->fd));
        t->fds[t->i] = t->fd;
        {
            void *frame;
            CHECK_OK(eddy_spawn_prepare(eddy_rt_current(), &j_reader_vt, &frame));
            struct j_reader *r = frame;
            memset(r, 0, sizeof *r);
            r->fd = t->fd;
            r->st = &t->st;
            CHECK_OK(eddy_spawn_commit(&j_reader_vt, frame, NULL));
        }
    }
    AWAIT_COUNT(t, &t->st.opened, J_CONNS, 30, "j: the readers did not open their streams");
    CHECK_OK(eddy_oneshot_send(t->start_tx, NULL));
    /* Every byte has been sent (3x the pool) and nobody has read. */
    eddy_oneshot_recv_init(&t->f.recv, t->rx, &t->nsent);
    EDDY_AWAIT(&t->rc, eddy_timeout, &t->to, EDDY_SEC(30 * SLOW), &oneshot_recv_vt, &t->f.recv, NULL);
    CHECK_MSG(t->rc == 0, "j: the sender did not finish");
    CHECK_EQ(t->nsent, J_CONNS);
    /* Until the receives have filled the pool (the bytes that left the
     * kernel's buffers: J_TOTAL - what FIONREAD still counts); then a few
     * more turns, in which the receives that find no buffer end with
     * ENOBUFS. */
    for (t->i = 0; t->i < 10000 * SLOW + 5; t->i++) {
        if (t->moved < (long)J_POOL - 65536) {
            t->moved = (long)J_CONNS * J_BYTES;
            for (int k = 0; k < J_CONNS; k++) {
                int v = 0;
                CHECK(ioctl(t->fds[k], FIONREAD, &v) == 0);
                t->moved -= v;
            }
            if (t->moved >= (long)J_POOL - 65536)
                t->i = 10000 * SLOW; /* five more turns */
        }
        EDDY_AWAIT(NULL, eddy_sleep, &t->sl, EDDY_MS(1));
    }
    CHECK_MSG(t->moved >= (long)J_POOL - 65536, "j: the runtime's receives took only %ld bytes (pool %u)", t->moved,
              J_POOL);
    CHECK_EQ(t->st.done.value, 0);
    t->t0 = eddy_now();
    nu_counter_add(&t->st.go, 1);
    AWAIT_COUNT(t, &t->st.done, J_CONNS, 60, "j: only %ld of %d readers finished", (long)t->st.done.value, J_CONNS);
    CHECK_MSG(t->st.ok == J_CONNS, "j: %ld of %d connections read byte-exact; first failure: %s", t->st.ok, J_CONNS,
              t->st.first_err);
    printf("j: %d connections x %u bytes (%.1f MiB) sent while nobody read; the receives took %ld bytes (the pool "
           "is %u); all read byte-exact with end of stream in %.3f s\n",
           J_CONNS, J_BYTES, J_CONNS * (double)J_BYTES / (1 << 20), t->moved, J_POOL,
           (double)(eddy_now() - t->t0) / 1e9);
    AWAIT_COUNT(t, &t->snd_done, 1, 10, "j: sender thread");
    CHECK(pthread_join(t->snd.th, NULL) == 0);
    for (t->i = 0; t->i < J_CONNS; t->i++)
        CHECK(close(t->snd.fds[t->i]) == 0);
    eddy_oneshot_rx_drop(t->rx);
    CHECK_OK(eddy_tcp_listener_close(&t->l));
    *out = 0;
    EDDY_END();
}
EDDY_STATIC_CORO_VT(j_root_vt, struct j_root, int, j_root_poll);

/* ==== k: the runtime freed with work in flight ====================================== */

/* The peers' ends (plain sockets), checked after the runtime is gone. */
enum { K_BURST, K_STUCK, K_READ, K_QUEUED, K_WRITE, K_NPEERS };
static int g_k_peer[K_NPEERS];
static size_t g_k_burst_wrote;
static unsigned g_k_in_place; /* bit per kind: the task got where it waits */

struct k_task {
    eddy_coro co;
    int kind;
    eddy_tcp *s; /* opened by the root; owned by this task from here */
    nu_counter *ready;
    unsigned i;
    ssize_t n;
    int rc;
    nu_until until;
    nu_counter never;
    eddy_timeout to;
    union {
        eddy_write_all wr;
        eddy_read rd;
    } f;
    eddy_write_all big;
    uint8_t buf[64];
};

static void k_in_place(struct k_task *t)
{
    g_k_in_place |= 1u << t->kind;
    nu_counter_add(t->ready, 1);
}

static eddy_poll k_task_poll(struct k_task *t, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&t->co, cx);
    nu_counter_init(&t->never);
    if (t->kind == K_BURST) {
        /* small writes, then one more dropped with its send in flight,
         * then close at once: the runtime closes the fd after that send */
        for (t->i = 0; t->i < 1000; t->i++) {
            EDDY_AWAIT(&t->n, eddy_write_all, &t->f.wr, &t->s->io, g_pat + g_k_burst_wrote, 100);
            CHECK_EQ(t->n, 100);
            g_k_burst_wrote += 100;
        }
        eddy_write_all_init(&t->f.wr, &t->s->io, g_pat + g_k_burst_wrote, 100);
        if (!poll_once_drop(&write_all_vt, &t->f.wr, EDDY_CX(), &t->n))
            g_k_burst_wrote += 100; /* completed at once */
        CHECK_OK(eddy_tcp_close(t->s));
        k_in_place(t);
        EDDY_RETURN();
    }
    if (t->kind == K_STUCK) {
        /* fill the peer (it never reads), then a small write dropped with
         * its send in flight (it cannot finish), then close: the close is
         * left to that send, which only the free ends */
        eddy_write_all_init(&t->big, &t->s->io, g_zero_big, sizeof g_zero_big);
        EDDY_AWAIT(&t->rc, eddy_timeout, &t->to, EDDY_MS(100), &write_all_vt, &t->big, &t->n);
        CHECK_EQ(t->rc, -ETIMEDOUT);
        eddy_write_all_init(&t->f.wr, &t->s->io, g_pat, 4000);
        CHECK(poll_once_drop(&write_all_vt, &t->f.wr, EDDY_CX(), &t->n));
        CHECK_OK(eddy_tcp_close(t->s));
        k_in_place(t);
        EDDY_RETURN();
    }
    if (t->kind == K_READ) {
        /* a read waiting (the runtime's receive armed) */
        k_in_place(t);
        EDDY_AWAIT(&t->n, eddy_read, &t->f.rd, &t->s->io, t->buf, sizeof t->buf);
        CHECK_MSG(0, "k: a read nobody writes to finished");
    }
    if (t->kind == K_QUEUED) {
        /* the receive armed, then nobody reads: the root sends bytes,
         * which wait in eddy's queue */
        ARM_RECV(t, &t->f.rd, &t->s->io, t->buf, sizeof t->buf);
        k_in_place(t);
        nu_until_init(&t->until, &t->never, 1);
        EDDY_AWAIT_POLL(NULL, nu_until, &t->until);
        CHECK_MSG(0, "k: a task that waits forever finished");
    }
    if (t->kind == K_WRITE) {
        /* a direct write_all waiting on a full peer */
        k_in_place(t);
        EDDY_AWAIT(&t->n, eddy_write_all, &t->f.wr, &t->s->io, g_zero_big, sizeof g_zero_big);
        CHECK_MSG(0, "k: a write_all to a peer that never reads finished");
    }
    EDDY_FINALLY();
    if (t->kind != K_BURST && t->kind != K_STUCK)
        eddy_tcp_close(t->s); /* at eddy_rt_free, with the runtime shutting down */
    EDDY_DONE();
}
EDDY_STATIC_CORO_VT_VOID(k_task_vt, struct k_task, k_task_poll);

/* A pending accept, dropped at the free. */
struct k_acceptor {
    eddy_coro co;
    eddy_tcp_listener *l;
    int fd;
    eddy_accept acc;
};

static eddy_poll k_acceptor_poll(struct k_acceptor *t, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&t->co, cx);
    EDDY_AWAIT(&t->fd, eddy_accept, &t->acc, t->l, NULL);
    CHECK_MSG(0, "k: nobody connects to this listener");
    EDDY_FINALLY();
    eddy_tcp_listener_close(t->l);
    EDDY_DONE();
}
EDDY_STATIC_CORO_VT_VOID(k_acceptor_vt, struct k_acceptor, k_acceptor_poll);

struct k_root {
    eddy_coro co;
    eddy_tcp_listener l, l2;
    eddy_addr addr;
    eddy_tcp streams[K_NPEERS];
    int i, fd;
    nu_counter ready;
    nu_until until;
    nu_join join;
    eddy_timeout to;
    int rc;
    eddy_accept acc;
    struct fdwait w;
};

static eddy_poll k_root_poll(struct k_root *t, eddy_cx *cx, int *out)
{
    EDDY_BEGIN(&t->co, cx);
    nu_counter_init(&t->ready);
    g_k_burst_wrote = 0;
    g_k_in_place = 0;
    CHECK_OK(eddy_tcp_listen(&t->l, "127.0.0.1:0", NULL));
    CHECK_OK(eddy_tcp_listener_addr(&t->l, &t->addr));
    {
        int sz = 64 * 1024;
        CHECK(setsockopt(eddy_io_fd(&t->l.io), SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz) == 0);
    }
    for (t->i = 0; t->i < K_NPEERS; t->i++) {
        g_k_peer[t->i] = plain_connect(&t->addr, t->i == K_STUCK || t->i == K_WRITE ? 64 * 1024 : 0, 0);
        EDDY_AWAIT(&t->fd, eddy_accept, &t->acc, &t->l, NULL);
        CHECK(t->fd >= 0);
        CHECK_OK(eddy_tcp_open(&t->streams[t->i], t->fd));
    }
    CHECK_OK(eddy_tcp_listener_close(&t->l));
    for (t->i = 0; t->i < K_NPEERS; t->i++) {
        struct k_task k = {.kind = t->i, .s = &t->streams[t->i], .ready = &t->ready};
        CHECK_OK(eddy_spawn_local(&k_task_vt, &k, NULL));
    }
    CHECK_OK(eddy_tcp_listen(&t->l2, "127.0.0.1:0", NULL));
    {
        struct k_acceptor a = {.l = &t->l2};
        CHECK_OK(eddy_spawn_local(&k_acceptor_vt, &a, NULL));
    }
    AWAIT_COUNT(t, &t->ready, K_NPEERS, 30,
                "k: the tasks did not get into place (mask 0x%x; burst 1, stuck 2, read 4, queued 8, write 16)",
                g_k_in_place);
    /* bytes for K_QUEUED's queue */
    t->fd = eddy_io_fd(&t->streams[K_QUEUED].io);
    plain_send_all(g_k_peer[K_QUEUED], g_pat, 10000);
    EDDY_AWAIT(&t->rc, fdwait, &t->w, t->fd, FDW_INQ_EMPTY, 0);
    CHECK_MSG(t->rc == 0, "k: the runtime's receive did not take the queued stream's bytes");
    /* and return: the runtime is freed with all of it in flight */
    *out = 0;
    EDDY_END();
}
EDDY_STATIC_CORO_VT(k_root_vt, struct k_root, int, k_root_poll);

/* After the free: each peer reads what arrives until end of stream (or a
 * reset), within 10 s: its stream was closed.  Returns the bytes read. */
static size_t k_drain(int fd, bool check_pattern, const char *what)
{
    static uint8_t buf[65536];
    size_t got = 0;
    for (;;) {
        int r = poll1(fd, POLLIN, 10000 * SLOW);
        CHECK_MSG(r == 1, "k: %s: the stream was not closed by the runtime's free (%zu bytes read)", what, got);
        ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n < 0) {
            CHECK_MSG(errno == ECONNRESET, "k: %s: recv: %s", what, strerror(errno));
            break;
        }
        if (n == 0)
            break;
        if (check_pattern)
            CHECK_MSG(nu_check(buf, got, (size_t)n) == -1, "k: %s: byte %zu differs", what,
                      got + (size_t)nu_check(buf, got, (size_t)n));
        got += (size_t)n;
    }
    return got;
}

/* ==== running the scenarios ========================================================== */

static struct a_root g_a;
static struct bc_root g_bc;
static struct de_root g_de;
static struct f_root g_f;
static struct g_root g_g;
static struct h_root g_h;
static struct i_root g_i;
static struct j_root g_j;
static struct k_root g_k;
static struct w_root g_w;

static eddy_rt *rt_new_uring(void)
{
    eddy_rt *rt = NULL;
    CHECK_OK(eddy_rt_new(&rt, &(eddy_rt_builder){.io_uring = true}));
    eddy_rt_stats st = {0};
    CHECK_OK(eddy_rt_stats_get(rt, &st));
    if (!st.io_backend || strcmp(st.io_backend, "io_uring") != 0) {
        eddy_rt_free(rt);
        TEST_SKIP_UNSUPPORTED("the runtime uses %s, not io_uring (the kernel refused it?)",
                              st.io_backend ? st.io_backend : "(no io_backend reported)");
    }
    return rt;
}

static void run(char name, const eddy_future_vt *vt, void *fut, bool all_ended)
{
    long fds0 = nu_fd_count(FD_LIMIT);
    uint64_t t0 = nu_mono_ns();
    eddy_rt *rt = rt_new_uring();
    int out = -1;
    CHECK_OK(eddy_block_on(rt, vt, fut, &out));
    CHECK_EQ(out, 0);
    eddy_rt_stats st = {0};
    CHECK_OK(eddy_rt_stats_get(rt, &st));
    CHECK_STR_CONTAINS(st.io_backend, "io_uring");
    if (all_ended)
        CHECK_MSG(st.alive == 0, "%c: %llu tasks still alive", name, (unsigned long long)st.alive);
    eddy_rt_free(rt);
    if (name == 'k') {
        /* every stream was closed by the free: the peers see their ends */
        size_t burst = k_drain(g_k_peer[K_BURST], true, "burst");
        size_t stuck = k_drain(g_k_peer[K_STUCK], false, "stuck");
        (void)k_drain(g_k_peer[K_READ], false, "read");
        (void)k_drain(g_k_peer[K_WRITE], false, "write");
        (void)k_drain(g_k_peer[K_QUEUED], false, "queued");
        /* every write that completed was delivered (and, maybe, the one
         * dropped with its send in flight) */
        CHECK_MSG(burst >= g_k_burst_wrote && burst <= g_k_burst_wrote + 100, "k: the burst's peer got %zu of %zu bytes",
                  burst, g_k_burst_wrote);
        printf("k: runtime freed with sends in flight: the closed stream's peer got %zu of %zu bytes, the stuck "
               "one's %zu; every peer saw its end\n",
               burst, g_k_burst_wrote, stuck);
        for (int i = 0; i < K_NPEERS; i++)
            CHECK(close(g_k_peer[i]) == 0);
    }
    long fds1 = nu_fd_count(FD_LIMIT);
    CHECK_MSG(fds1 == fds0, "%c: %ld descriptors open before, %ld after the runtime was freed", name, fds0, fds1);
    printf("%c: ok (%.3f s)\n", name, (double)(nu_mono_ns() - t0) / 1e9);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    test_watchdog(TEST_SANITIZED ? 230 : 110);
    signal(SIGPIPE, SIG_DFL);
    CHECK(nu_raise_nofile() >= 2 * J_CONNS + 256);
    nu_fill(g_pat, 0, PAT_LEN);
    eddy_rt_free(rt_new_uring()); /* skips here if io_uring is refused */
    const char *only = argc > 1 ? argv[1] : "abcdefghijkw";

    if (strchr(only, 'a'))
        run('a', &a_root_vt, &g_a, true);
    if (strchr(only, 'b'))
        run('b', &b_root_vt, &g_bc, true);
    if (strchr(only, 'c')) {
        memset(&g_bc, 0, sizeof g_bc);
        run('c', &c_root_vt, &g_bc, true);
    }
    if (strchr(only, 'd'))
        run('d', &de_root_vt, &g_de, true);
    if (strchr(only, 'e')) {
        memset(&g_de, 0, sizeof g_de);
        g_de.shutdown_rounds = true;
        run('e', &de_root_vt, &g_de, true);
    }
    if (strchr(only, 'f'))
        run('f', &f_root_vt, &g_f, true);
    if (strchr(only, 'g'))
        run('g', &g_root_vt, &g_g, true);
    if (strchr(only, 'h'))
        run('h', &h_root_vt, &g_h, true);
    if (strchr(only, 'i'))
        run('i', &i_root_vt, &g_i, true);
    if (strchr(only, 'j'))
        run('j', &j_root_vt, &g_j, true);
    if (strchr(only, 'k')) {
        for (int round = 0; round < 3; round++) {
            memset(&g_k, 0, sizeof g_k);
            run('k', &k_root_vt, &g_k, false);
        }
    }
    if (strchr(only, 'w'))
        run('w', &w_root_vt, &g_w, true);
    check_no_sigpipe("end");
    return 0;
}
