/* Half-close.  The client writes 256 KiB, then shuts its write side with
 * the eddy_shutdown future (SHUT_WR), and still reads everything back:
 *
 *  - the server reads until eddy_read returns 0 and counts exactly 256 KiB
 *    before that end of stream (it sends nothing until then, so every byte
 *    the client gets back travels after the client's half-close);
 *  - the server then writes all 256 KiB back and closes;
 *  - the client, half-closed, reads all 256 KiB back byte-exact, then 0;
 *  - a write on the client after its SHUT_WR gives -EPIPE (and no SIGPIPE:
 *    the default disposition is left in place).
 *
 * A second round half-closes the server instead (the server's SHUT_WR
 * while the client keeps sending): the client reads 0 and its writes are
 * still delivered. */
// eddy-test-timeout: 60
// eddy-test-labels: net flavors
#include "net_util.h"

#include <sys/socket.h>

#define TOTAL (256u * 1024)

static uint8_t g_tx[TOTAL];

struct results {
    ssize_t eof_after; /* bytes the server read before read() returned 0; -1 if never */
    ssize_t wrote;
    long mismatch_at;
};

struct server {
    eddy_coro co;
    eddy_tcp_listener *l;
    struct results *res;
    int fd;
    eddy_tcp s;
    ssize_t n;
    size_t got;
    union {
        eddy_accept acc;
        eddy_read rd;
        eddy_write_all wr;
    } f;
    uint8_t buf[TOTAL + 1];
};

static eddy_poll server_poll(struct server *t, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&t->co, cx);
    t->res->eof_after = -1;
    t->res->mismatch_at = -1;
    EDDY_AWAIT(&t->fd, eddy_accept, &t->f.acc, t->l, NULL);
    CHECK(t->fd >= 0);
    CHECK_OK(eddy_tcp_open(&t->s, t->fd));
    for (;;) {
        /* One byte more than expected fits, so an extra byte is seen. */
        CHECK(t->got <= TOTAL);
        EDDY_AWAIT(&t->n, eddy_read, &t->f.rd, &t->s.io, t->buf + t->got, TOTAL - t->got + (t->got == TOTAL));
        if (t->n == 0) {
            t->res->eof_after = (ssize_t)t->got;
            break;
        }
        CHECK_MSG(t->n > 0, "server read: %s", eddy_strerror((int)t->n));
        CHECK_MSG(t->got + (size_t)t->n <= TOTAL, "server got more than was sent");
        t->got += (size_t)t->n;
    }
    t->res->mismatch_at = nu_check(t->buf, 0, t->got);
    EDDY_AWAIT(&t->res->wrote, eddy_write_all, &t->f.wr, &t->s.io, t->buf, t->got);
    EDDY_FINALLY();
    eddy_tcp_close(&t->s);
    EDDY_DONE();
}
EDDY_CORO_VT_VOID(server_vt, struct server, server_poll);

struct root {
    eddy_coro co;
    eddy_tcp_listener l;
    eddy_addr addr;
    eddy_tcp c;
    eddy_join *sj;
    nu_join join;
    int rc;
    ssize_t n;
    size_t got;
    int srv_fd;
    eddy_tcp srv2;
    struct results res;
    union {
        eddy_connect conn;
        eddy_write_all wr;
        eddy_shutdown sh;
        eddy_read rd;
        eddy_timeout to;
        eddy_accept acc;
        eddy_read_exact rx;
    } f;
    uint8_t buf[8192];
};

static eddy_poll root_poll(struct root *t, eddy_cx *cx, int *out)
{
    EDDY_BEGIN(&t->co, cx);
    CHECK_OK(eddy_tcp_listen(&t->l, "127.0.0.1:0", NULL));
    CHECK_OK(eddy_tcp_listener_addr(&t->l, &t->addr));
    {
        /* The server frame is big (256 KiB): built in place. */
        void *frame;
        CHECK_OK(eddy_spawn_prepare(eddy_rt_current(), &server_vt, &frame));
        struct server *s = frame;
        memset(s, 0, sizeof *s);
        s->l = &t->l;
        s->res = &t->res;
        CHECK_OK(eddy_spawn_commit(&server_vt, frame, &t->sj));
    }

    /* ---- round 1: the client half-closes ---- */
    EDDY_AWAIT(&t->rc, eddy_connect, &t->f.conn, &t->c, &t->addr, EDDY_SEC(10));
    CHECK_OK(t->rc);
    /* The server reads while we write, so this cannot fill both buffers. */
    EDDY_AWAIT(&t->n, eddy_write_all, &t->f.wr, &t->c.io, g_tx, TOTAL);
    CHECK_EQ(t->n, TOTAL);
    EDDY_AWAIT(&t->rc, eddy_shutdown, &t->f.sh, &t->c.io, SHUT_WR);
    CHECK_OK(t->rc);
    /* Writing after our own SHUT_WR: -EPIPE, and the process lives. */
    EDDY_AWAIT(&t->n, eddy_write_all, &t->f.wr, &t->c.io, "late", 4);
    CHECK_MSG(t->n == -EPIPE, "write after SHUT_WR gave %zd (%s)", t->n, eddy_strerror((int)t->n));
    CHECK_EQ(t->f.wr.done, 0);
    /* Read everything back, then end of stream. */
    for (t->got = 0;;) {
        EDDY_AWAIT(&t->n, eddy_read, &t->f.rd, &t->c.io, t->buf, sizeof t->buf);
        CHECK_MSG(t->n >= 0, "client read after half-close: %s", eddy_strerror((int)t->n));
        if (t->n == 0)
            break;
        CHECK_MSG(t->got + (size_t)t->n <= TOTAL, "client got more than was sent");
        CHECK_EQ(nu_check(t->buf, t->got, (size_t)t->n), -1);
        t->got += (size_t)t->n;
    }
    CHECK_EQ(t->got, TOTAL);
    t->join.jh = t->sj;
    EDDY_AWAIT(&t->rc, eddy_timeout, &t->f.to, EDDY_SEC(10), &nu_join_vt, &t->join, NULL);
    CHECK_OK(t->rc);
    CHECK_EQ(eddy_join_status(t->sj), 0);
    eddy_join_detach(t->sj);
    CHECK_EQ(t->res.eof_after, TOTAL); /* EOF came after all the data */
    CHECK_EQ(t->res.mismatch_at, -1);
    CHECK_EQ(t->res.wrote, TOTAL);
    CHECK_OK(eddy_tcp_close(&t->c));
    printf("round 1: client SHUT_WR after %u bytes; server saw EOF after exactly %zd; client read all %zu back\n",
           TOTAL, t->res.eof_after, t->got);

    /* ---- round 2: the server half-closes, the client keeps sending ---- */
    EDDY_AWAIT(&t->rc, eddy_connect, &t->f.conn, &t->c, &t->addr, EDDY_SEC(10));
    CHECK_OK(t->rc);
    EDDY_AWAIT(&t->srv_fd, eddy_accept, &t->f.acc, &t->l, NULL);
    CHECK(t->srv_fd >= 0);
    CHECK_OK(eddy_tcp_open(&t->srv2, t->srv_fd));
    EDDY_AWAIT(&t->rc, eddy_shutdown, &t->f.sh, &t->srv2.io, SHUT_WR);
    CHECK_OK(t->rc);
    EDDY_AWAIT(&t->n, eddy_read, &t->f.rd, &t->c.io, t->buf, sizeof t->buf);
    CHECK_EQ(t->n, 0); /* the client sees the server's half-close */
    EDDY_AWAIT(&t->n, eddy_write_all, &t->f.wr, &t->c.io, "still here", 10);
    CHECK_EQ(t->n, 10);
    EDDY_AWAIT(&t->n, eddy_read_exact, &t->f.rx, &t->srv2.io, t->buf, 10);
    CHECK_EQ(t->n, 10);
    CHECK(memcmp(t->buf, "still here", 10) == 0);
    /* Shutting down a closed stream is -EBADF, not a crash. */
    CHECK_OK(eddy_tcp_close(&t->srv2));
    EDDY_AWAIT(&t->rc, eddy_shutdown, &t->f.sh, &t->srv2.io, SHUT_WR);
    CHECK_EQ(t->rc, -EBADF);
    CHECK_OK(eddy_tcp_close(&t->c));
    printf("round 2: server SHUT_WR; client read 0 and its writes still arrived\n");

    CHECK_OK(eddy_tcp_listener_close(&t->l));
    *out = 0;
    EDDY_END();
}
EDDY_CORO_VT(root_vt, struct root, int, root_poll);

static struct root g_root;

int main(void)
{
    test_watchdog(100);
    nu_fill(g_tx, 0, TOTAL);
    int out = -1;
    eddy_rt_stats st;
    nu_run(&root_vt, &g_root, &out, NULL, &st);
    CHECK_EQ(out, 0);
    CHECK_EQ(st.alive, 0);
    return 0;
}
