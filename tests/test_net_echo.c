/* 1 MiB echoed byte-exact over loopback TCP, twice:
 *
 *  A. an eddy client: one connection, a writer task and a reader task
 *     running concurrently on the same eddy_tcp (one reader and one writer
 *     at a time, as io.h allows).  The writer sends 1 MiB of a pattern in
 *     odd-sized chunks, then half-closes; the reader checks every byte back
 *     and then sees end of stream (so not one byte more came back).
 *  B. a plain pthread client with blocking sockets (a writer thread and a
 *     reader thread on one fd), against the same eddy echo server.
 *
 * The server is an eddy accept loop that spawns a task per connection.
 * Every wait is bounded by a runtime timer. */
// eddy-test-timeout: 120
// eddy-test-labels: net flavors
#include "net_util.h"

#include <pthread.h>
#include <sys/socket.h>
#include <sys/time.h>

#define TOTAL (1u << 20)
#define CHUNK 7919 /* prime: writes straddle every buffer boundary */

static uint8_t g_tx[TOTAL];

/* ---- A: the eddy client ------------------------------------------------ */

struct conn {
    eddy_tcp s;
    size_t sent, received;
    long mismatch_at;   /* first bad offset, -1 if none */
    int write_err, read_err, shut_err;
    bool eof;
};

struct writer {
    eddy_coro co;
    struct conn *c;
    size_t off, len;
    ssize_t n;
    int rc;
    union {
        eddy_write_all wr;
        eddy_shutdown sh;
    } f;
};

static eddy_poll writer_poll(struct writer *t, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&t->co, cx);
    for (t->off = 0; t->off < TOTAL; t->off += t->len) {
        t->len = TOTAL - t->off < CHUNK ? TOTAL - t->off : CHUNK;
        EDDY_AWAIT(&t->n, eddy_write_all, &t->f.wr, &t->c->s.io, g_tx + t->off, t->len);
        if (t->n != (ssize_t)t->len) {
            t->c->write_err = (int)t->n;
            EDDY_RETURN();
        }
        t->c->sent += t->len;
    }
    EDDY_AWAIT(&t->rc, eddy_shutdown, &t->f.sh, &t->c->s.io, SHUT_WR);
    t->c->shut_err = t->rc;
    EDDY_END();
}
EDDY_CORO_VT_VOID(writer_vt, struct writer, writer_poll);

struct reader {
    eddy_coro co;
    struct conn *c;
    ssize_t n;
    eddy_read rd;
    uint8_t buf[4096];
};

static eddy_poll reader_poll(struct reader *t, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&t->co, cx);
    for (;;) {
        EDDY_AWAIT(&t->n, eddy_read, &t->rd, &t->c->s.io, t->buf, sizeof t->buf);
        if (t->n < 0) {
            t->c->read_err = (int)t->n;
            break;
        }
        if (t->n == 0) {
            t->c->eof = true;
            break;
        }
        if (t->c->received + (size_t)t->n > TOTAL) {
            t->c->mismatch_at = (long)TOTAL; /* more bytes than were sent */
            break;
        }
        nu_rx_add(&t->c->received, &t->c->mismatch_at, t->buf, (size_t)t->n);
    }
    EDDY_END();
}
EDDY_CORO_VT_VOID(reader_vt, struct reader, reader_poll);

/* ---- B: the blocking pthread client --------------------------------------- */

struct blocking {
    int fd;
    size_t sent, received;
    long mismatch_at;
    int write_errno, read_errno;
    bool eof;
};

static void *blocking_writer(void *p)
{
    struct blocking *b = p;
    while (b->sent < TOTAL) {
        size_t len = TOTAL - b->sent < CHUNK ? TOTAL - b->sent : CHUNK;
        ssize_t n = send(b->fd, g_tx + b->sent, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            b->write_errno = n < 0 ? errno : -1;
            return NULL;
        }
        b->sent += (size_t)n;
    }
    if (shutdown(b->fd, SHUT_WR) < 0)
        b->write_errno = errno;
    return NULL;
}

static void *blocking_client(void *p)
{
    struct blocking *b = p;
    pthread_t w;
    CHECK(pthread_create(&w, NULL, blocking_writer, b) == 0);
    uint8_t buf[4096];
    for (;;) {
        ssize_t n = recv(b->fd, buf, sizeof buf, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            b->read_errno = errno; /* EAGAIN here is the 30 s SO_RCVTIMEO */
            break;
        }
        if (n == 0) {
            b->eof = true;
            break;
        }
        if (b->received + (size_t)n > TOTAL) {
            b->mismatch_at = (long)TOTAL;
            break;
        }
        nu_rx_add(&b->received, &b->mismatch_at, buf, (size_t)n);
    }
    CHECK(pthread_join(w, NULL) == 0);
    return NULL;
}

/* ---- the root ------------------------------------------------------------ */

struct root {
    eddy_coro co;
    nu_server srv;
    struct conn c;
    eddy_join *wj, *rj;
    nu_join join;
    nu_until until;
    int rc;
    union {
        eddy_connect conn;
        eddy_timeout to;
    } f;
    struct blocking b;
    pthread_t bt;
    bool bt_started;
};

static eddy_poll root_poll(struct root *t, eddy_cx *cx, int *out)
{
    EDDY_BEGIN(&t->co, cx);
    CHECK_OK(nu_server_start(&t->srv, "127.0.0.1:0", NULL));

    /* A: connect, then run writer and reader concurrently. */
    t->c.mismatch_at = -1;
    EDDY_AWAIT(&t->rc, eddy_connect, &t->f.conn, &t->c.s, &t->srv.addr, EDDY_SEC(10));
    CHECK_OK(t->rc);
    {
        struct writer w = {.c = &t->c};
        struct reader r = {.c = &t->c};
        CHECK_OK(eddy_spawn_local(&writer_vt, &w, &t->wj));
        CHECK_OK(eddy_spawn_local(&reader_vt, &r, &t->rj));
    }
    t->join.jh = t->wj;
    EDDY_AWAIT(&t->rc, eddy_timeout, &t->f.to, EDDY_SEC(60), &nu_join_vt, &t->join, NULL);
    CHECK_MSG(t->rc == 0, "writer did not finish in 60 s (sent %zu)", t->c.sent);
    t->join.jh = t->rj;
    EDDY_AWAIT(&t->rc, eddy_timeout, &t->f.to, EDDY_SEC(60), &nu_join_vt, &t->join, NULL);
    CHECK_MSG(t->rc == 0, "reader did not finish in 60 s (received %zu)", t->c.received);
    CHECK_EQ(eddy_join_status(t->wj), 0);
    CHECK_EQ(eddy_join_status(t->rj), 0);
    eddy_join_detach(t->wj);
    eddy_join_detach(t->rj);
    CHECK_OK(eddy_tcp_close(&t->c.s));
    CHECK_EQ(t->c.write_err, 0);
    CHECK_EQ(t->c.shut_err, 0);
    CHECK_EQ(t->c.read_err, 0);
    CHECK_EQ(t->c.sent, TOTAL);
    CHECK_EQ(t->c.mismatch_at, -1);
    CHECK_EQ(t->c.received, TOTAL);
    CHECK(t->c.eof);
    /* The server task saw the half-close as end of stream and ended. */
    nu_until_init(&t->until, &t->srv.closed, 1);
    EDDY_AWAIT(&t->rc, eddy_timeout, &t->f.to, EDDY_SEC(30), &nu_until_vt, &t->until, NULL);
    CHECK_OK(t->rc);
    CHECK_EQ(t->srv.eofs, 1);
    CHECK_EQ(t->srv.bytes, TOTAL);
    printf("A: eddy client: %u bytes echoed byte-exact\n", TOTAL);

    /* B: a blocking pthread client against the same server. */
    t->b.fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(t->b.fd >= 0);
    {
        struct timeval tv = {.tv_sec = 30};
        CHECK(setsockopt(t->b.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == 0);
        CHECK(setsockopt(t->b.fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) == 0);
        /* Loopback: the handshake completes in the kernel without this
         * thread's help, so a blocking connect here does not deadlock. */
        CHECK(connect(t->b.fd, &t->srv.addr.u.sa, t->srv.addr.len) == 0);
    }
    t->b.mismatch_at = -1;
    CHECK(pthread_create(&t->bt, NULL, blocking_client, &t->b) == 0);
    t->bt_started = true;
    nu_until_init(&t->until, &t->srv.closed, 2);
    EDDY_AWAIT(&t->rc, eddy_timeout, &t->f.to, EDDY_SEC(60), &nu_until_vt, &t->until, NULL);
    CHECK_MSG(t->rc == 0, "server did not finish the blocking client's connection in 60 s");
    CHECK_EQ(t->srv.eofs, 2);
    CHECK_EQ(t->srv.bytes, 2 * (uint64_t)TOTAL);
    CHECK_EQ(t->srv.last_err, 0);

    eddy_join_abort(t->srv.acceptor);
    t->join.jh = t->srv.acceptor;
    EDDY_AWAIT(&t->rc, eddy_timeout, &t->f.to, EDDY_SEC(10), &nu_join_vt, &t->join, NULL);
    CHECK_OK(t->rc);
    CHECK_EQ(eddy_join_status(t->srv.acceptor), -ECANCELED);
    eddy_join_detach(t->srv.acceptor);
    CHECK_OK(eddy_tcp_listener_close(&t->srv.l));
    CHECK_EQ(t->srv.accepted.value, 2);
    *out = 0;
    EDDY_END();
}
EDDY_CORO_VT(root_vt, struct root, int, root_poll);

static struct root g_root;

int main(void)
{
    test_watchdog(200);
    nu_fill(g_tx, 0, TOTAL);
    int out = -1;
    eddy_rt_stats st;
    nu_run(&root_vt, &g_root, &out, NULL, &st);
    CHECK_EQ(out, 0);
    CHECK(g_root.bt_started);
    CHECK(pthread_join(g_root.bt, NULL) == 0);
    close(g_root.b.fd);
    CHECK_EQ(g_root.b.write_errno, 0);
    CHECK_EQ(g_root.b.read_errno, 0);
    CHECK_EQ(g_root.b.sent, TOTAL);
    CHECK_EQ(g_root.b.mismatch_at, -1);
    CHECK_EQ(g_root.b.received, TOTAL);
    CHECK(g_root.b.eof);
    printf("B: blocking pthread client: %u bytes echoed byte-exact\n", TOTAL);
    CHECK_EQ(st.alive, 0);
    nu_print_stats("stats", &st);
    return 0;
}
