/* Connect errors are clear errors, and a connect timeout is honoured.
 *
 *  1. Refused: eddy_connect to a port that is bound but not listening (the
 *     test holds the port, so nothing else can take it meanwhile) gives
 *     -ECONNREFUSED; eddy_strerror names it; the stream is closed.
 *  2. Timeout, real clock: a listener with backlog 1 that never accepts.
 *     Its accept queue fills after a couple of handshakes; from then on
 *     Linux drops new SYNs, so the next connect stays in SYN-SENT.  Each
 *     connect has a 300 ms timeout; one of the first 16 must give
 *     -ETIMEDOUT, not before its deadline (runtime clock) and well within
 *     a generous bound, with its socket closed.
 *  3. Timeout, paused clock: the same stuck connect with a 1 hour timeout
 *     on a runtime whose clock is paused: the runtime is idle, so the
 *     clock auto-advances to the deadline and the connect gives -ETIMEDOUT
 *     at once (exactly one hour of virtual time later).
 *  4. A pending connect dropped by hand (cancelled) closes its socket and
 *     releases every waker clone it took (counting waker back to 0).
 *  5. Bad input: an eddy_addr with no address gives -EINVAL.
 *  6. 0 means connected: 200 connects with a 2 ms timeout to a backlog-1
 *     listener that never accepts; every one that gives 0 is in state
 *     ESTABLISHED (TCP_INFO), the others time out.  On the multi-thread
 *     runtime this caught connects reported done in SYN-SENT (below).
 *
 * On the multi-thread runtime (the _mt variant):
 *  - 3 is skipped: the paused clock needs the current-thread runtime
 *    (eddy_rt_new rejects start_paused there, which is checked instead);
 *  - 2 runs as on the current-thread runtime.  It found a bug there:
 *    eddy_connect registered the socket with the shared epoll set before
 *    calling connect(), so the driver owner, waiting on another worker,
 *    could collect the EPOLLOUT|EPOLLHUP a not yet connected TCP socket
 *    polls as, and the future then took SO_ERROR 0 for a finished
 *    handshake while the socket was still in SYN-SENT (none of 16 connects
 *    to the full backlog timed out).  The socket is now registered after
 *    connect();
 *  - in 4 the connect may complete, on the driver owner's worker, just as
 *    it is dropped: a wake in flight then releases the last clone a moment
 *    after the drop returned, which is waited for (bounded). */
// eddy-test-timeout: 60
// eddy-test-labels: net flavors
#include "net_util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#define MAX_FILL 16
#define RACE_CONNECTS 200

struct root {
    eddy_coro co;
    eddy_addr addr;
    eddy_tcp s;
    eddy_tcp fill[MAX_FILL];
    int nfill, rc, i, timed_out_at;
    bool paused;
    eddy_instant t0, t1;
    eddy_tcp_listener l;
    eddy_connect conn;
    eddy_waker_counter wc;
    eddy_waker w;
};

static int g_refuse_fd = -1;

/* Holds 127.0.0.1:<port> bound but not listening: connects are refused. */
static void hold_refusing_port(eddy_addr *a)
{
    g_refuse_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(g_refuse_fd >= 0);
    struct sockaddr_in in = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    CHECK(bind(g_refuse_fd, (struct sockaddr *)&in, sizeof in) == 0);
    memset(a, 0, sizeof *a);
    a->len = sizeof a->u.ss;
    CHECK(getsockname(g_refuse_fd, &a->u.sa, &a->len) == 0);
    CHECK(eddy_addr_port(a) > 0);
}

static eddy_poll root_poll(struct root *t, eddy_cx *cx, int *out)
{
    EDDY_BEGIN(&t->co, cx);
    if (!t->paused) {
        /* ---- 1: refused ---- */
        hold_refusing_port(&t->addr);
        EDDY_AWAIT(&t->rc, eddy_connect, &t->conn, &t->s, &t->addr, 0);
        CHECK_MSG(t->rc == -ECONNREFUSED, "connect to a closed port gave %d (%s)", t->rc, eddy_strerror(t->rc));
        CHECK_EQ(eddy_io_fd(&t->s.io), -1); /* closed on error */
        CHECK_STR_CONTAINS(eddy_strerror(t->rc), "refused");
        CHECK_STR_CONTAINS(eddy_strerror(ECONNREFUSED), "refused");
        /* With a timeout too: refused beats the timer. */
        EDDY_AWAIT(&t->rc, eddy_connect, &t->conn, &t->s, &t->addr, EDDY_SEC(10));
        CHECK_EQ(t->rc, -ECONNREFUSED);
        CHECK_EQ(eddy_io_fd(&t->s.io), -1);
        printf("1: refused -> %d \"%s\"\n", t->rc, eddy_strerror(t->rc));
        close(g_refuse_fd);

        /* ---- 5: no address ---- */
        {
            eddy_addr none;
            memset(&none, 0, sizeof none);
            eddy_connect_init(&t->conn, &t->s, &none, 0);
        }
        EDDY_AWAIT_POLL(&t->rc, eddy_connect, &t->conn);
        CHECK_EQ(t->rc, -EINVAL);
    }

    /* ---- 2/3: a listener that never accepts, backlog 1 ---- */
    CHECK_OK(eddy_tcp_listen(&t->l, "127.0.0.1:0", &(eddy_tcp_opts){.backlog = 1}));
    CHECK_OK(eddy_tcp_listener_addr(&t->l, &t->addr));
    t->timed_out_at = -1;
    for (t->i = 0; t->i < MAX_FILL; t->i++) {
        t->t0 = eddy_now();
        EDDY_AWAIT(&t->rc, eddy_connect, &t->conn, &t->fill[t->i], &t->addr,
                   t->paused ? EDDY_SEC(3600) : EDDY_MS(300));
        t->t1 = eddy_now();
        if (t->rc == 0)
            continue; /* the handshake completed: it sits in the accept queue */
        CHECK_MSG(t->rc == -ETIMEDOUT, "connect %d gave %d (%s)", t->i, t->rc, eddy_strerror(t->rc));
        CHECK_EQ(eddy_io_fd(&t->fill[t->i].io), -1);
        t->timed_out_at = t->i;
        break;
    }
    CHECK_MSG(t->timed_out_at >= 0, "none of %d connects to a full backlog timed out", MAX_FILL);
    if (t->paused) {
        /* Virtual time: exactly the timeout, rounded up to the 1 ms tick. */
        CHECK_LE(EDDY_SEC(3600), t->t1 - t->t0);
        CHECK_LE(t->t1 - t->t0, EDDY_SEC(3600) + EDDY_MS(2));
    } else {
        CHECK_LE(EDDY_MS(300), t->t1 - t->t0); /* never early */
        CHECK_LE(t->t1 - t->t0, EDDY_SEC(20)); /* and not forever */
    }
    printf("%s: connect %d of a full backlog: -ETIMEDOUT after %.3f s (%s clock)\n", t->paused ? "3" : "2",
           t->timed_out_at, (double)(t->t1 - t->t0) / 1e9, t->paused ? "paused" : "real");
    for (t->i = 0; t->i < t->timed_out_at; t->i++)
        CHECK_OK(eddy_tcp_close(&t->fill[t->i]));

    if (!t->paused) {
        /* ---- 4: a dropped pending connect closes its socket ---- */
        {
            /* The queue is empty again only once the kernel dropped the
             * closed connections; whether this connect is pending or done
             * by now, dropping it must leave nothing open. */
            eddy_cx hand = {.waker = &t->w, .core = EDDY_CX()->core};
            int rc = 1;
            t->w = eddy_waker_counting(&t->wc);
            eddy_connect_init(&t->conn, &t->s, &t->addr, EDDY_SEC(5));
            eddy_poll p = eddy_connect_poll(&t->conn, &hand, &rc);
            if (p == EDDY_PENDING) {
                CHECK(eddy_io_fd(&t->s.io) >= 0);
                eddy_connect_drop(&t->conn);
                CHECK_EQ(eddy_io_fd(&t->s.io), -1);
            } else {
                CHECK(rc == 0);
                CHECK_OK(eddy_tcp_close(&t->s));
            }
            eddy_waker_drop(&t->w);
            CHECK_EQ(nu_settle_live(&t->wc, 0), 0);
        }
    }
    CHECK_OK(eddy_tcp_listener_close(&t->l));

    if (!t->paused) {
        /* ---- 6: 0 only for a finished handshake ---- */
        CHECK_OK(eddy_tcp_listen(&t->l, "127.0.0.1:0", &(eddy_tcp_opts){.backlog = 1}));
        CHECK_OK(eddy_tcp_listener_addr(&t->l, &t->addr));
        t->nfill = 0;
        for (t->i = 0; t->i < RACE_CONNECTS; t->i++) {
            EDDY_AWAIT(&t->rc, eddy_connect, &t->conn, &t->s, &t->addr, EDDY_MS(2));
            if (t->rc == 0) {
                struct tcp_info ti;
                socklen_t len = sizeof ti;
                CHECK(getsockopt(eddy_io_fd(&t->s.io), IPPROTO_TCP, TCP_INFO, &ti, &len) == 0);
                CHECK_MSG(ti.tcpi_state == TCP_ESTABLISHED, "connect %d gave 0 in TCP state %u (SYN-SENT is %u)",
                          t->i, (unsigned)ti.tcpi_state, (unsigned)TCP_SYN_SENT);
                t->nfill++;
                CHECK_OK(eddy_tcp_close(&t->s));
            } else {
                CHECK_MSG(t->rc == -ETIMEDOUT, "connect %d gave %d (%s)", t->i, t->rc, eddy_strerror(t->rc));
            }
        }
        printf("6: %d connects to a full backlog: %d finished their handshake, the others timed out\n",
               RACE_CONNECTS, t->nfill);
        CHECK_OK(eddy_tcp_listener_close(&t->l));
    }
    *out = 0;
    EDDY_END();
}
EDDY_CORO_VT(root_vt, struct root, int, root_poll);

static struct root g_root;

int main(void)
{
    test_watchdog(100);
    int fds_before = (int)nu_fd_count(1024);
    int out = -1;
    eddy_rt_stats st;

    g_root.paused = false;
    nu_run(&root_vt, &g_root, &out, NULL, &st);
    CHECK_EQ(out, 0);

    if (test_is_mt()) {
        eddy_rt *rt = NULL;
        CHECK_EQ(eddy_rt_new(&rt, test_builder(&(eddy_rt_builder){.start_paused = true})), -EINVAL);
        printf("3: SKIP on the multi-thread runtime: it rejects start_paused (-EINVAL)\n");
    } else {
        memset(&g_root, 0, sizeof g_root);
        g_root.paused = true;
        out = -1;
        nu_run(&root_vt, &g_root, &out, &(eddy_rt_builder){.start_paused = true}, &st);
        CHECK_EQ(out, 0);
    }

    CHECK_EQ(nu_fd_count(1024), fds_before); /* no socket left behind */
    return 0;
}
