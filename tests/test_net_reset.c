/* A peer that resets the connection (SO_LINGER {1, 0} then close sends an
 * RST) surfaces as -ECONNRESET in the eddy futures of the other side.
 *
 * What Linux does (checked here, so a kernel that differs is noticed):
 *  1. a task blocked in eddy_read on an empty buffer when the RST arrives:
 *     the read completes with -ECONNRESET; the error is reported once, the
 *     next read gives 0 (end of stream), a write then gives -EPIPE.
 *  2. the RST arrives while bytes sit unread in the receive buffer: they
 *     are NOT discarded; the next read returns them, the one after that
 *     gives -ECONNRESET, then 0.
 *  3. the server had sent data (unread by the client, whose close then
 *     resets): the server's next read gives -ECONNRESET.
 *  4. a task blocked in eddy_write_all (peer's receive buffer full) when
 *     the RST arrives: the write_all completes with -ECONNRESET and its
 *     `done` counts what was written before.
 *
 * The client (block_on's root) resets only once the server task is known
 * to be suspended in the future under test: the future announces itself
 * through a counter when it first returns PENDING (nu_pending), which
 * also holds on the multi-thread runtime, where the server task runs on a
 * worker in parallel with the root. */
// eddy-test-timeout: 60
// eddy-test-labels: net flavors
#include "net_util.h"

#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>

static uint8_t g_big[8u << 20];

EDDY_STATIC_FUTURE_VT(read_vt, eddy_read, ssize_t, eddy_read_poll, eddy_read_drop);
EDDY_STATIC_FUTURE_VT(write_all_vt, eddy_write_all, ssize_t, eddy_write_all_poll, eddy_write_all_drop);

/* Sends an RST: linger {1, 0}, then close. */
static void reset_close(eddy_tcp *s)
{
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    CHECK(setsockopt(eddy_io_fd(&s->io), SOL_SOCKET, SO_LINGER, &lg, sizeof lg) == 0);
    CHECK_OK(eddy_tcp_close(s));
}

/* Until the kernel has processed the RST on fd (state CLOSE).  A blocking
 * poll(2) in a task: nothing else in this runtime has to run meanwhile,
 * and it is bounded (10 s). */
static void wait_reset_seen(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    for (int i = 0; i < 100; i++) {
        struct tcp_info ti;
        socklen_t len = sizeof ti;
        CHECK(getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0);
        if (ti.tcpi_state == TCP_CLOSE)
            return;
        (void)poll(&p, 1, 100);
    }
    CHECK_MSG(0, "the RST was not processed within 10 s");
}

/* A child coroutine: a fresh connected pair (see pair_poll). */
struct root;
struct pair {
    eddy_coro co;
    struct root *r;
    union {
        eddy_connect conn;
        eddy_accept acc;
    } f;
};

struct root {
    eddy_coro co;
    eddy_tcp_listener l;
    eddy_addr addr;
    eddy_tcp cli, srv;
    int fd, rc, scenario;
    ssize_t n;
    nu_counter stage;   /* the server task announces where it waits */
    nu_until until;
    eddy_join *jh;
    nu_join join;
    ssize_t server_result[4];
    size_t wrote_before_reset;
    union {
        struct pair pair;
        eddy_timeout to;
        eddy_write_all wr;
        eddy_read rd;
    } f;
    char buf[64];
};

/* The server side of a scenario, a task of its own. */
struct server {
    eddy_coro co;
    struct root *r;
    ssize_t n;
    union {
        eddy_read rd;
        eddy_write_all wr;
    } f;
    nu_pending pend; /* f, announcing its first PENDING on r->stage */
    char buf[64];
};

static eddy_poll server_poll(struct server *t, eddy_cx *cx, void *out)
{
    (void)out;
    struct root *r = t->r;
    EDDY_BEGIN(&t->co, cx);
    if (r->scenario == 1) {
        /* blocks in eddy_read (stage 1 once it did) */
        eddy_read_init(&t->f.rd, &r->srv.io, t->buf, sizeof t->buf);
        nu_pending_init(&t->pend, &read_vt, &t->f.rd, &r->stage);
        EDDY_AWAIT_POLL(&t->n, nu_pending, &t->pend);
        r->server_result[0] = t->n;
    } else if (r->scenario == 4) {
        /* blocks in eddy_write_all (stage 1 once it did) */
        eddy_write_all_init(&t->f.wr, &r->srv.io, g_big, sizeof g_big);
        nu_pending_init(&t->pend, &write_all_vt, &t->f.wr, &r->stage);
        EDDY_AWAIT_POLL(&t->n, nu_pending, &t->pend);
        r->server_result[0] = t->n;
        r->wrote_before_reset = t->f.wr.done;
    }
    EDDY_END();
}
EDDY_CORO_VT_VOID(server_vt, struct server, server_poll);

/* The pair child: connects r->cli and accepts the other end into r->srv.
 * Awaitable by the convention of eddy/coro.h (pair_init/poll/drop). */
static void pair_init(struct pair *p, struct root *r) { *p = (struct pair){.r = r}; }

static eddy_poll pair_poll(struct pair *p, eddy_cx *cx, void *out)
{
    (void)out;
    struct root *r = p->r;
    EDDY_BEGIN(&p->co, cx);
    EDDY_AWAIT(&r->rc, eddy_connect, &p->f.conn, &r->cli, &r->addr, EDDY_SEC(10));
    CHECK_OK(r->rc);
    EDDY_AWAIT(&r->fd, eddy_accept, &p->f.acc, &r->l, NULL);
    CHECK(r->fd >= 0);
    CHECK_OK(eddy_tcp_open(&r->srv, r->fd));
    EDDY_END();
}

static void pair_drop(struct pair *p) { (void)pair_poll(p, EDDY_CX_DROP, NULL); }

#define START_SERVER(R_, SC_)                                                                                 \
    do {                                                                                                     \
        (R_)->scenario = (SC_);                                                                              \
        nu_counter_init(&(R_)->stage);                                                                       \
        struct server s_ = {.r = (R_)};                                                                      \
        CHECK_OK(eddy_spawn_local(&server_vt, &s_, &(R_)->jh));                                              \
    } while (0)

static eddy_poll root_poll(struct root *t, eddy_cx *cx, int *out)
{
    EDDY_BEGIN(&t->co, cx);
    CHECK_OK(eddy_tcp_listen(&t->l, "127.0.0.1:0", NULL));
    CHECK_OK(eddy_tcp_listener_addr(&t->l, &t->addr));

    /* ---- 1: blocked in eddy_read on an empty buffer ---- */
    EDDY_AWAIT(NULL, pair, &t->f.pair, t);
    START_SERVER(t, 1);
    nu_until_init(&t->until, &t->stage, 1);
    EDDY_AWAIT(&t->rc, eddy_timeout, &t->f.to, EDDY_SEC(10), &nu_until_vt, &t->until, NULL);
    CHECK_MSG(t->rc == 0, "1: the server's eddy_read did not return PENDING in 10 s");
    /* The server task has run and returned PENDING inside eddy_read. */
    CHECK(!eddy_join_is_finished(t->jh));
    reset_close(&t->cli);
    t->join.jh = t->jh;
    EDDY_AWAIT(&t->rc, eddy_timeout, &t->f.to, EDDY_SEC(10), &nu_join_vt, &t->join, NULL);
    CHECK_MSG(t->rc == 0, "the reset did not wake the blocked reader in 10 s");
    eddy_join_detach(t->jh);
    CHECK_MSG(t->server_result[0] == -ECONNRESET, "1: blocked read after RST gave %zd (%s)", t->server_result[0],
              eddy_strerror((int)t->server_result[0]));
    /* Reported once; then the stream reads as ended, and writing fails. */
    EDDY_AWAIT(&t->n, eddy_read, &t->f.rd, &t->srv.io, t->buf, sizeof t->buf);
    CHECK_EQ(t->n, 0);
    EDDY_AWAIT(&t->n, eddy_write_all, &t->f.wr, &t->srv.io, "x", 1);
    CHECK_MSG(t->n == -EPIPE, "1: write after the reset was reported gave %zd (%s)", t->n,
              eddy_strerror((int)t->n));
    CHECK_OK(eddy_tcp_close(&t->srv));
    printf("1: blocked eddy_read -> -ECONNRESET, then 0, write -> -EPIPE\n");

    /* ---- 2: RST with unread bytes in the server's buffer ---- */
    EDDY_AWAIT(NULL, pair, &t->f.pair, t);
    EDDY_AWAIT(&t->n, eddy_write_all, &t->f.wr, &t->cli.io, "hello", 5);
    CHECK_EQ(t->n, 5);
    {
        /* Until the bytes have arrived (loopback: at once), unread. */
        struct pollfd p = {.fd = eddy_io_fd(&t->srv.io), .events = POLLIN};
        CHECK_EQ(poll(&p, 1, 10000), 1);
    }
    reset_close(&t->cli);
    wait_reset_seen(eddy_io_fd(&t->srv.io));
    EDDY_AWAIT(&t->n, eddy_read, &t->f.rd, &t->srv.io, t->buf, sizeof t->buf);
    CHECK_MSG(t->n == 5, "2: first read after RST gave %zd (%s)", t->n, eddy_strerror((int)t->n));
    CHECK(memcmp(t->buf, "hello", 5) == 0);
    EDDY_AWAIT(&t->n, eddy_read, &t->f.rd, &t->srv.io, t->buf, sizeof t->buf);
    CHECK_MSG(t->n == -ECONNRESET, "2: second read gave %zd (%s)", t->n, eddy_strerror((int)t->n));
    EDDY_AWAIT(&t->n, eddy_read, &t->f.rd, &t->srv.io, t->buf, sizeof t->buf);
    CHECK_EQ(t->n, 0);
    CHECK_OK(eddy_tcp_close(&t->srv));
    printf("2: unread bytes survive the RST: read -> 5 bytes, then -ECONNRESET, then 0\n");

    /* ---- 3: after sending (the client never read it) ---- */
    EDDY_AWAIT(NULL, pair, &t->f.pair, t);
    EDDY_AWAIT(&t->n, eddy_write_all, &t->f.wr, &t->srv.io, "unread", 6);
    CHECK_EQ(t->n, 6);
    reset_close(&t->cli);
    EDDY_AWAIT(&t->n, eddy_read, &t->f.rd, &t->srv.io, t->buf, sizeof t->buf);
    CHECK_MSG(t->n == -ECONNRESET, "3: read after RST gave %zd (%s)", t->n, eddy_strerror((int)t->n));
    CHECK_OK(eddy_tcp_close(&t->srv));
    printf("3: read after sending -> -ECONNRESET\n");

    /* ---- 4: blocked in eddy_write_all, the peer's buffer full ---- */
    EDDY_AWAIT(NULL, pair, &t->f.pair, t);
    {
        /* Small fixed buffers: the writer surely fills them. */
        int sz = 64 * 1024;
        CHECK(setsockopt(eddy_io_fd(&t->srv.io), SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz) == 0);
        CHECK(setsockopt(eddy_io_fd(&t->cli.io), SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz) == 0);
    }
    START_SERVER(t, 4);
    nu_until_init(&t->until, &t->stage, 1);
    EDDY_AWAIT(&t->rc, eddy_timeout, &t->f.to, EDDY_SEC(10), &nu_until_vt, &t->until, NULL);
    CHECK_MSG(t->rc == 0, "4: the server's eddy_write_all did not return PENDING in 10 s");
    /* 8 MiB do not fit in the socket buffers of a peer that never reads,
     * so the writer is suspended; the client then resets. */
    CHECK(!eddy_join_is_finished(t->jh));
    reset_close(&t->cli);
    t->join.jh = t->jh;
    EDDY_AWAIT(&t->rc, eddy_timeout, &t->f.to, EDDY_SEC(10), &nu_join_vt, &t->join, NULL);
    CHECK_MSG(t->rc == 0, "the reset did not wake the blocked writer in 10 s");
    eddy_join_detach(t->jh);
    CHECK_MSG(t->server_result[0] == -ECONNRESET, "4: blocked write_all after RST gave %zd (%s)",
              t->server_result[0], eddy_strerror((int)t->server_result[0]));
    CHECK(t->wrote_before_reset > 0);
    CHECK(t->wrote_before_reset < sizeof g_big);
    CHECK_OK(eddy_tcp_close(&t->srv));
    printf("4: blocked eddy_write_all -> -ECONNRESET after %zu bytes\n", t->wrote_before_reset);

    CHECK_OK(eddy_tcp_listener_close(&t->l));
    *out = 0;
    EDDY_END();
}
EDDY_CORO_VT(root_vt, struct root, int, root_poll);

static struct root g_root;

int main(void)
{
    test_watchdog(100);
    int out = -1;
    eddy_rt_stats st;
    nu_run(&root_vt, &g_root, &out, NULL, &st);
    CHECK_EQ(out, 0);
    CHECK_EQ(st.alive, 0);
    return 0;
}
