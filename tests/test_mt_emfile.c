/* An accept loop on the multi-thread runtime survives running out of
 * descriptors, and eddy_rt_stats counts the stall there too.
 *
 * The root (inside block_on, off the workers) listens, connects K clients
 * with plain blocking sockets (they wait in the listener's backlog), then
 * lowers RLIMIT_NOFILE to the lowest free descriptor number, so the next
 * descriptor anybody opens fails with EMFILE.  An acceptor task on a worker
 * then tries to accept them:
 *  - eddy_rt_stats.accept_stalls becomes > 0 and nothing is accepted while
 *    the limit holds (the listener stays, the task waits on its backoff
 *    timer: the task is polled a few dozen times at most, not spun);
 *  - once the limit is back, every client is accepted (the backoff timer
 *    retries; the runtime closed no descriptor, so nothing else wakes it)
 *    and the task ends with 0.
 * A lost retry hangs; the watchdog turns that into a failure. */
// eddy-test-timeout: 60
// eddy-test-labels: net mt
#include <eddy.h>

#include "eddy_test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

enum { K = 3 };

static eddy_rt *rt;
static eddy_tcp_listener lst;
static atomic_int accepted;

/* ---- the acceptor task --------------------------------------------------- */

struct acceptor {
    eddy_coro co;
    int i, fd;
    eddy_accept acc;
};

static eddy_poll acceptor_poll(struct acceptor *a, eddy_cx *cx, int *out)
{
    EDDY_BEGIN(&a->co, cx);
    for (a->i = 0; a->i < K; a->i++) {
        EDDY_AWAIT(&a->fd, eddy_accept, &a->acc, &lst, NULL);
        if (a->fd < 0) {
            *out = a->fd;
            EDDY_RETURN();
        }
        close(a->fd);
        atomic_fetch_add(&accepted, 1);
    }
    *out = 0;
    EDDY_END();
}
EDDY_CORO_VT(acceptor_vt, struct acceptor, int, acceptor_poll);

/* ---- the root ------------------------------------------------------------- */

struct root {
    eddy_coro co;
    int rc, out, tries;
    int clients[K];
    struct rlimit saved;
    uint64_t polls0;
    eddy_join *jh;
    eddy_sleep nap;
};

static eddy_rt_stats stats(void)
{
    eddy_rt_stats st;
    CHECK_OK(eddy_rt_stats_get(rt, &st));
    return st;
}

static void connect_clients(struct root *r)
{
    eddy_addr a;
    CHECK_OK(eddy_tcp_listener_addr(&lst, &a));
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)eddy_addr_port(&a))};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (int i = 0; i < K; i++) {
        r->clients[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        CHECK(r->clients[i] >= 0);
        /* Completes from the backlog: nobody has to accept first. */
        CHECK(connect(r->clients[i], (struct sockaddr *)&sin, sizeof sin) == 0);
    }
}

/* The soft limit becomes the lowest free descriptor number: every number
 * below it is taken, so any new descriptor fails with EMFILE. */
static void exhaust_descriptors(struct root *r)
{
    CHECK(getrlimit(RLIMIT_NOFILE, &r->saved) == 0);
    int lowest = dup(0);
    CHECK(lowest >= 0);
    close(lowest);
    struct rlimit lim = {.rlim_cur = (rlim_t)lowest, .rlim_max = r->saved.rlim_max};
    CHECK(setrlimit(RLIMIT_NOFILE, &lim) == 0);
    CHECK(dup(0) < 0 && errno == EMFILE);
}

static eddy_poll root_poll(struct root *r, eddy_cx *cx, int *out)
{
    EDDY_BEGIN(&r->co, cx);
    CHECK_OK(eddy_tcp_listen(&lst, "127.0.0.1:0", NULL));
    connect_clients(r);
    exhaust_descriptors(r);
    r->polls0 = stats().polls;
    {
        struct acceptor init = {0};
        CHECK_OK(eddy_spawn(rt, &acceptor_vt, &init, &r->jh));
    }

    /* Wait (at most 10 s, in 1 ms naps) until the acceptor has stalled. */
    for (r->tries = 0; stats().accept_stalls == 0; r->tries++) {
        CHECK_MSG(r->tries < 10000, "no accept stall within 10 s (accepted %d)", atomic_load(&accepted));
        EDDY_AWAIT(&r->rc, eddy_sleep, &r->nap, EDDY_MS(1));
    }
    /* Let the backoff run a while: still nothing accepted, listener alive. */
    for (r->tries = 0; r->tries < 50; r->tries++)
        EDDY_AWAIT(&r->rc, eddy_sleep, &r->nap, EDDY_MS(1));
    CHECK_EQ(atomic_load(&accepted), 0);
    /* Backoff doubles from 1 ms to 100 ms: about ten retries in 50 ms, plus
     * the root's own naps (each a poll of the root). */
    CHECK_MSG(stats().polls - r->polls0 < 400, "%llu polls while out of descriptors: spinning?",
              (unsigned long long)(stats().polls - r->polls0));

    CHECK(setrlimit(RLIMIT_NOFILE, &r->saved) == 0);
    EDDY_AWAIT_POLL(&r->out, eddy_join, r->jh);
    CHECK_EQ(eddy_join_status(r->jh), 0);
    CHECK_EQ(r->out, 0);
    eddy_join_detach(r->jh);
    CHECK_EQ(atomic_load(&accepted), K);
    for (int i = 0; i < K; i++)
        close(r->clients[i]);
    CHECK_OK(eddy_tcp_listener_close(&lst));
    *out = 0;
    EDDY_END();
}
EDDY_CORO_VT(root_vt, struct root, int, root_poll);

int main(void)
{
    test_watchdog(50);
    eddy_rt_builder b = {.flavor = EDDY_RT_MULTI_THREAD, .workers = 2};
    CHECK_OK(eddy_rt_new(&rt, &b));
    struct root r;
    memset(&r, 0, sizeof r);
    int out = -1;
    CHECK_OK(eddy_block_on(rt, &root_vt, &r, &out));
    CHECK_EQ(out, 0);
    eddy_rt_stats st = stats();
    printf("accept_stalls=%llu polls=%llu\n", (unsigned long long)st.accept_stalls, (unsigned long long)st.polls);
    CHECK(st.accept_stalls >= 1);
    CHECK_EQ(st.alive, 0);
    eddy_rt_free(rt);
    printf("test_mt_emfile: ok\n");
    return 0;
}
