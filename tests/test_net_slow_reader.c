/* One slow reader does not delay the other connections.
 *
 * One client connects and never reads.  Its server task pushes 64 MiB at it
 * with a single eddy_write_all, which soon blocks: the socket buffers are
 * full (and small: SO_SNDBUF/SO_RCVBUF are pinned to 64 KiB).  Meanwhile 50
 * other clients each do 200 echo round trips (1 KiB, pattern-checked)
 * with their own server tasks, all on the same runtime (either flavour).
 *
 * Asserted: all 50 finish within a generous bound (a runtime timer) while
 * the slow connection's write_all is still pending, having written some
 * but not all of its 64 MiB.  Then the slow client resets; the blocked
 * writer ends with -ECONNRESET (or -EPIPE), so nothing is left hanging. */
// eddy-test-timeout: 120
// eddy-test-labels: net flavors
#include "net_util.h"

#include <sys/socket.h>

#define CLIENTS 50
#define ROUNDS 200
#define MSG 1024
#define SLOW_TOTAL (64u << 20)

static uint8_t g_slow_buf[SLOW_TOTAL];

/* Atomics: on the multi-thread runtime the tasks run on several workers
 * while the root reads these from block_on's thread. */
static nu_counter g_done;          /* fast clients finished */
static atomic_long g_ok, g_bad;
static atomic_int g_first_err;
static nu_counter g_slow_started;  /* the slow server task is about to write */
static atomic_bool g_slow_finished;
static _Atomic ssize_t g_slow_result;
static _Atomic size_t g_slow_done;

/* The first error only. */
static void note_err(int e)
{
    int zero = 0;
    atomic_compare_exchange_strong(&g_first_err, &zero, e);
}

/* The server side of the slow connection. */
struct slow_server {
    eddy_coro co;
    eddy_tcp *s;
    ssize_t n;
    eddy_write_all wr;
};

static eddy_poll slow_server_poll(struct slow_server *t, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&t->co, cx);
    nu_counter_add(&g_slow_started, 1);
    EDDY_AWAIT(&t->n, eddy_write_all, &t->wr, &t->s->io, g_slow_buf, SLOW_TOTAL);
    g_slow_finished = true;
    g_slow_result = t->n;
    EDDY_FINALLY();
    g_slow_done = t->wr.done;
    EDDY_DONE();
}
EDDY_CORO_VT_VOID(slow_server_vt, struct slow_server, slow_server_poll);

/* A fast client: ROUNDS round trips of MSG bytes. */
struct client {
    eddy_coro co;
    int id, round;
    const eddy_addr *addr;
    eddy_tcp s;
    int rc;
    ssize_t n;
    uint64_t off;
    union {
        eddy_connect conn;
        eddy_write_all wr;
        eddy_read_exact rd;
    } f;
    uint8_t out[MSG], in[MSG];
};

static eddy_poll client_poll(struct client *t, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&t->co, cx);
    EDDY_AWAIT(&t->rc, eddy_connect, &t->f.conn, &t->s, t->addr, EDDY_SEC(30));
    if (t->rc < 0) {
        note_err(t->rc);
        atomic_fetch_add(&g_bad, 1);
        EDDY_RETURN();
    }
    CHECK_OK(eddy_tcp_set_nodelay(&t->s, true));
    for (t->round = 0; t->round < ROUNDS; t->round++) {
        t->off = ((uint64_t)t->id << 32) + (uint64_t)t->round * MSG;
        nu_fill(t->out, t->off, MSG);
        EDDY_AWAIT(&t->n, eddy_write_all, &t->f.wr, &t->s.io, t->out, MSG);
        if (t->n != MSG)
            break;
        EDDY_AWAIT(&t->n, eddy_read_exact, &t->f.rd, &t->s.io, t->in, MSG);
        if (t->n != MSG || memcmp(t->in, t->out, MSG) != 0)
            break;
    }
    if (t->round == ROUNDS) {
        atomic_fetch_add(&g_ok, 1);
    } else {
        note_err(t->n < 0 ? (int)t->n : -EPROTO);
        atomic_fetch_add(&g_bad, 1);
    }
    EDDY_FINALLY();
    eddy_tcp_close(&t->s);
    nu_counter_add(&g_done, 1);
    EDDY_DONE();
}
EDDY_CORO_VT_VOID(client_vt, struct client, client_poll);

struct root {
    eddy_coro co;
    nu_server srv;
    eddy_tcp slow_cli, slow_srv;
    eddy_join *slow_jh;
    int i, rc, fd;
    uint64_t t0;
    nu_until until;
    nu_join join;
    union {
        eddy_connect conn;
        eddy_accept acc;
        eddy_timeout to;
    } f;
    eddy_tcp_listener slow_l;
    eddy_addr slow_addr;
};

static eddy_poll root_poll(struct root *t, eddy_cx *cx, int *out)
{
    EDDY_BEGIN(&t->co, cx);
    /* The slow connection, on a listener of its own. */
    CHECK_OK(eddy_tcp_listen(&t->slow_l, "127.0.0.1:0", NULL));
    CHECK_OK(eddy_tcp_listener_addr(&t->slow_l, &t->slow_addr));
    EDDY_AWAIT(&t->rc, eddy_connect, &t->f.conn, &t->slow_cli, &t->slow_addr, EDDY_SEC(10));
    CHECK_OK(t->rc);
    EDDY_AWAIT(&t->fd, eddy_accept, &t->f.acc, &t->slow_l, NULL);
    CHECK(t->fd >= 0);
    CHECK_OK(eddy_tcp_open(&t->slow_srv, t->fd));
    {
        int sz = 64 * 1024;
        CHECK(setsockopt(eddy_io_fd(&t->slow_srv.io), SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz) == 0);
        CHECK(setsockopt(eddy_io_fd(&t->slow_cli.io), SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz) == 0);
        struct slow_server s = {.s = &t->slow_srv};
        CHECK_OK(eddy_spawn_local(&slow_server_vt, &s, &t->slow_jh));
    }
    nu_until_init(&t->until, &g_slow_started, 1);
    EDDY_AWAIT_POLL(NULL, nu_until, &t->until);
    CHECK(!g_slow_finished);

    /* The 50 fast connections, against an echo server. */
    CHECK_OK(nu_server_start(&t->srv, "127.0.0.1:0", NULL));
    for (t->i = 0; t->i < CLIENTS; t->i++) {
        struct client c = {.id = t->i, .addr = &t->srv.addr};
        CHECK_OK(eddy_spawn_local(&client_vt, &c, NULL));
    }
    t->t0 = eddy_now();
    nu_until_init(&t->until, &g_done, CLIENTS);
    EDDY_AWAIT(&t->rc, eddy_timeout, &t->f.to, EDDY_SEC(60), &nu_until_vt, &t->until, NULL);
    CHECK_MSG(t->rc == 0, "only %ld of %d fast clients finished in 60 s", g_done.value, CLIENTS);
    printf("%d clients x %d round trips done in %.3f s (runtime clock) while the slow writer waits\n", CLIENTS,
           ROUNDS, (double)(eddy_now() - t->t0) / 1e9);
    CHECK_MSG(g_bad == 0, "%ld fast clients failed, first error %s", g_bad, eddy_strerror(g_first_err));
    CHECK_EQ(g_ok, CLIENTS);
    /* ... and the slow one is still blocked, part-way. */
    CHECK(!g_slow_finished);
    CHECK(!eddy_join_is_finished(t->slow_jh));

    /* Release the slow writer: the client resets. */
    {
        struct linger lg = {.l_onoff = 1, .l_linger = 0};
        CHECK(setsockopt(eddy_io_fd(&t->slow_cli.io), SOL_SOCKET, SO_LINGER, &lg, sizeof lg) == 0);
        CHECK_OK(eddy_tcp_close(&t->slow_cli));
    }
    t->join.jh = t->slow_jh;
    EDDY_AWAIT(&t->rc, eddy_timeout, &t->f.to, EDDY_SEC(10), &nu_join_vt, &t->join, NULL);
    CHECK_MSG(t->rc == 0, "the slow writer did not end within 10 s of the reset");
    eddy_join_detach(t->slow_jh);
    CHECK(g_slow_finished);
    CHECK_MSG(g_slow_result == -ECONNRESET || g_slow_result == -EPIPE, "slow writer ended with %zd (%s)",
              g_slow_result, eddy_strerror((int)g_slow_result));
    CHECK(g_slow_done > 0);
    CHECK(g_slow_done < SLOW_TOTAL);
    printf("slow writer: blocked after %zu of %u bytes, ended with %s after the reset\n", g_slow_done, SLOW_TOTAL,
           eddy_strerror((int)g_slow_result));
    CHECK_OK(eddy_tcp_close(&t->slow_srv));
    CHECK_OK(eddy_tcp_listener_close(&t->slow_l));

    nu_until_init(&t->until, &t->srv.closed, CLIENTS);
    EDDY_AWAIT(&t->rc, eddy_timeout, &t->f.to, EDDY_SEC(10), &nu_until_vt, &t->until, NULL);
    CHECK_OK(t->rc);
    /* Every echo task has ended, so its count is final.  (Not earlier: on
     * the multi-thread runtime a client may read the last echo before the
     * echo task, on another worker, has counted it.) */
    CHECK_EQ(t->srv.bytes, (uint64_t)CLIENTS * ROUNDS * MSG);
    CHECK_EQ(t->srv.eofs, CLIENTS);
    CHECK_EQ(t->srv.last_err, 0);
    eddy_join_abort(t->srv.acceptor);
    t->join.jh = t->srv.acceptor;
    EDDY_AWAIT(&t->rc, eddy_timeout, &t->f.to, EDDY_SEC(10), &nu_join_vt, &t->join, NULL);
    CHECK_OK(t->rc);
    eddy_join_detach(t->srv.acceptor);
    CHECK_OK(eddy_tcp_listener_close(&t->srv.l));
    *out = 0;
    EDDY_END();
}
EDDY_CORO_VT(root_vt, struct root, int, root_poll);

static struct root g_root;

int main(void)
{
    test_watchdog(200);
    nu_counter_init(&g_done);
    nu_counter_init(&g_slow_started);
    int out = -1;
    eddy_rt_stats st;
    nu_run(&root_vt, &g_root, &out, NULL, &st);
    CHECK_EQ(out, 0);
    CHECK_EQ(st.alive, 0);
    nu_print_stats("stats", &st);
    return 0;
}
