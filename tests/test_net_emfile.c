/* An accept loop survives running out of descriptors (EMFILE).
 *
 *  - 40 client sockets are connected to the listener first (the kernel
 *    completes the handshakes; they wait in the accept queue);
 *  - then the soft RLIMIT_NOFILE is lowered so that only HEADROOM (6)
 *    descriptor numbers are free below it: the accept loop can take only
 *    a handful;
 *  - every client sends one message, reads its echo, and keeps its
 *    connection open until the test releases it.
 *
 * Asserted, over a 1 s window while the accept loop is out of descriptors:
 *  - it does not spin: the process uses under 30% of a CPU in the window
 *    (a CPU budget, not a timing assertion) and the accept loop is polled
 *    a bounded number of times (backoff 1 ms doubling to 100 ms: ~20);
 *  - eddy_rt_stats.accept_stalls > 0, the accept loop has not ended with an
 *    error, and the listener is still open;
 *  - the clients accepted so far were served; the rest were not.
 * Then the test releases the clients: as connections close, descriptors
 * free up, and every remaining connection is accepted and served.
 *
 * The same on the multi-thread runtime (the _mt variant; the accept loop
 * runs on a worker, the clients and echo tasks on both): a descriptor
 * closed on another worker does not wake the stalled accept early there
 * (docs/design/0010), so the release relies on the backoff timer, which
 * the 30 s bound leaves ample room for. */
// eddy-test-timeout: 90
// eddy-test-labels: net flavors
#include "net_util.h"

#include <sys/socket.h>

#define K 40
#define HEADROOM 6

static nu_counter g_served;  /* clients that got their echo back */
static nu_counter g_release; /* 1: clients may close */
static nu_counter g_done;
static atomic_long g_bad;

struct client {
    eddy_coro co;
    int id;
    eddy_tcp *s;
    ssize_t n;
    union {
        eddy_write_all wr;
        eddy_read_exact rd;
        nu_until until;
    } f;
    char msg[16], in[16];
    size_t len;
};

static eddy_poll client_poll(struct client *t, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&t->co, cx);
    t->len = (size_t)snprintf(t->msg, sizeof t->msg, "client %02d", t->id);
    EDDY_AWAIT(&t->n, eddy_write_all, &t->f.wr, &t->s->io, t->msg, t->len);
    if (t->n != (ssize_t)t->len) {
        atomic_fetch_add(&g_bad, 1);
        EDDY_RETURN();
    }
    EDDY_AWAIT(&t->n, eddy_read_exact, &t->f.rd, &t->s->io, t->in, t->len);
    if (t->n != (ssize_t)t->len || memcmp(t->in, t->msg, t->len) != 0) {
        atomic_fetch_add(&g_bad, 1);
        EDDY_RETURN();
    }
    nu_counter_add(&g_served, 1);
    nu_until_init(&t->f.until, &g_release, 1);
    EDDY_AWAIT_POLL(NULL, nu_until, &t->f.until);
    EDDY_FINALLY();
    eddy_tcp_close(t->s);
    nu_counter_add(&g_done, 1);
    EDDY_DONE();
}
EDDY_CORO_VT_VOID(client_vt, struct client, client_poll);

struct root {
    eddy_coro co;
    nu_server srv;
    eddy_tcp cli[K];
    struct rlimit saved;
    int i, rc;
    long free_slots, accepted_in_stall, polls0, polls1;
    uint64_t cpu0, cpu1;
    eddy_instant w0, w1;
    eddy_rt_stats st;
    nu_until until;
    nu_join join;
    union {
        eddy_timeout to;
        eddy_sleep sl;
    } f;
};

static eddy_poll root_poll(struct root *t, eddy_cx *cx, int *out)
{
    EDDY_BEGIN(&t->co, cx);
    /* The accept loop starts only once the limit is down: on the
     * multi-thread runtime it would otherwise accept, on a worker, while
     * the clients connect. */
    CHECK_OK(nu_server_listen(&t->srv, "127.0.0.1:0", &(eddy_tcp_opts){.backlog = 128}));
    /* The clients, before the limit drops.  Blocking connects on
     * loopback: the kernel completes the handshake by itself, the
     * connection waits in the accept queue. */
    for (t->i = 0; t->i < K; t->i++) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        CHECK(fd >= 0);
        CHECK(connect(fd, &t->srv.addr.u.sa, t->srv.addr.len) == 0);
        CHECK_OK(eddy_tcp_open(&t->cli[t->i], fd));
    }
    /* Only HEADROOM descriptors are left for the accept loop: the limit
     * goes just above the HEADROOM lowest free descriptor numbers (new
     * descriptors take the lowest free number and must stay below the
     * limit; descriptors already open above it stay valid). */
    {
        CHECK(getrlimit(RLIMIT_NOFILE, &t->saved) == 0);
        int fd = 0;
        for (long nfree = 0; nfree < HEADROOM; fd++)
            if (fcntl(fd, F_GETFD) < 0)
                nfree++;
        struct rlimit low = {.rlim_cur = (rlim_t)fd, .rlim_max = t->saved.rlim_max};
        CHECK(low.rlim_cur <= t->saved.rlim_cur);
        CHECK(setrlimit(RLIMIT_NOFILE, &low) == 0);
        t->free_slots = (long)low.rlim_cur - nu_fd_count((int)low.rlim_cur);
        CHECK_EQ(t->free_slots, HEADROOM);
    }
    nu_server_accept(&t->srv);
    for (t->i = 0; t->i < K; t->i++) {
        struct client c = {.id = t->i, .s = &t->cli[t->i]};
        CHECK_OK(eddy_spawn_local(&client_vt, &c, NULL));
    }

    /* The accept loop takes what it can, then runs out of descriptors;
     * the clients it accepted are served. */
    nu_until_init(&t->until, &g_served, 1);
    EDDY_AWAIT(&t->rc, eddy_timeout, &t->f.to, EDDY_SEC(20), &nu_until_vt, &t->until, NULL);
    CHECK_MSG(t->rc == 0, "no client was served in 20 s");

    /* The window: 1 s during which nothing closes a descriptor. */
    t->cpu0 = nu_cpu_ns();
    t->polls0 = t->srv.accept_polls;
    t->w0 = eddy_now();
    EDDY_AWAIT(NULL, eddy_sleep, &t->f.sl, EDDY_SEC(1));
    t->w1 = eddy_now();
    t->cpu1 = nu_cpu_ns();
    t->polls1 = t->srv.accept_polls;
    CHECK_OK(eddy_rt_stats_get(eddy_rt_current(), &t->st));
    t->accepted_in_stall = t->srv.accepted.value;
    printf("out of descriptors: %ld free slots, %ld accepted, %ld served; in a %.3f s window the accept loop "
           "was polled %ld times and the process used %.1f ms of CPU; accept_stalls=%llu\n",
           t->free_slots, t->accepted_in_stall, g_served.value, (double)(t->w1 - t->w0) / 1e9,
           t->polls1 - t->polls0, (double)(t->cpu1 - t->cpu0) / 1e6, (unsigned long long)t->st.accept_stalls);
    CHECK(t->st.accept_stalls > 0);
    CHECK_EQ(t->srv.accept_err, 0);               /* the loop did not die */
    CHECK(eddy_io_fd(&t->srv.l.io) >= 0);         /* the listener is open */
    CHECK(!eddy_join_is_finished(t->srv.acceptor));
    CHECK(t->accepted_in_stall >= 1);
    CHECK_LE(t->accepted_in_stall, t->free_slots);
    CHECK_EQ(g_served.value, t->accepted_in_stall); /* accepted ones were served */
    CHECK_EQ(g_done.value, 0);
    CHECK_LE(t->polls1 - t->polls0, 60);           /* no spinning: backoff */
    CHECK_LE(t->cpu1 - t->cpu0, (t->w1 - t->w0) * 3 / 10);

    /* Release: connections close, descriptors come back, the rest of the
     * clients are accepted and served. */
    nu_counter_add(&g_release, 1);
    nu_until_init(&t->until, &g_done, K);
    EDDY_AWAIT(&t->rc, eddy_timeout, &t->f.to, EDDY_SEC(30), &nu_until_vt, &t->until, NULL);
    CHECK_MSG(t->rc == 0, "after the release only %ld of %d clients were served (%ld accepted) in 30 s",
              g_served.value, K, t->srv.accepted.value);
    CHECK_EQ(g_bad, 0);
    CHECK_EQ(g_served.value, K);
    CHECK_EQ(t->srv.accepted.value, K);
    nu_until_init(&t->until, &t->srv.closed, K);
    EDDY_AWAIT(&t->rc, eddy_timeout, &t->f.to, EDDY_SEC(10), &nu_until_vt, &t->until, NULL);
    CHECK_OK(t->rc);
    CHECK_EQ(t->srv.eofs, K);

    eddy_join_abort(t->srv.acceptor);
    t->join.jh = t->srv.acceptor;
    EDDY_AWAIT(&t->rc, eddy_timeout, &t->f.to, EDDY_SEC(10), &nu_join_vt, &t->join, NULL);
    CHECK_OK(t->rc);
    eddy_join_detach(t->srv.acceptor);
    CHECK_OK(eddy_tcp_listener_close(&t->srv.l));
    CHECK(setrlimit(RLIMIT_NOFILE, &t->saved) == 0);
    *out = 0;
    EDDY_END();
}
EDDY_CORO_VT(root_vt, struct root, int, root_poll);

static struct root g_root;

int main(void)
{
    test_watchdog(150);
    nu_counter_init(&g_served);
    nu_counter_init(&g_release);
    nu_counter_init(&g_done);
    int out = -1;
    eddy_rt_stats st;
    nu_run(&root_vt, &g_root, &out, NULL, &st);
    CHECK_EQ(out, 0);
    CHECK_EQ(st.alive, 0);
    CHECK(st.accept_stalls > 0);
    nu_print_stats("stats", &st);
    return 0;
}
