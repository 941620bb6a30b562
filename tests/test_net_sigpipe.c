/* No SIGPIPE: writing to a TCP socket whose peer has closed returns -EPIPE
 * (or -ECONNRESET) and the process lives.  SIGPIPE keeps its default
 * disposition (terminate) throughout: the test checks that it is SIG_DFL,
 * so a pass cannot come from an ignored signal.  block_on keeps SIGPIPE
 * blocked on its thread (for pipes, see test_io_pipe_sigpipe), so the test
 * also checks that no SIGPIPE is left pending: socket writes must not
 * raise it at all (MSG_NOSIGNAL).
 *
 * Every write path is tried, each on a fresh connection whose peer closed
 * (and whose RST has come back, so the kernel would raise SIGPIPE on a
 * plain write(2)): eddy_write, eddy_write_all, eddy_writev and
 * eddy_io_try_write.  A plain write(2) on such a socket, done in a forked
 * child, shows the hazard is real: the child dies of SIGPIPE.
 *
 * After each write that still succeeded, the test waits until the peer's
 * RST has been processed (socket state CLOSE, bounded), so the next write
 * must fail.
 *
 * Everything runs twice: in block_on's root, and in a spawned task (on the
 * multi-thread runtime a worker thread, whose own pending set is what
 * sigpending then looks at). */
// eddy-test-timeout: 60
// eddy-test-labels: net flavors
#include "net_util.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>

/* Until the kernel has processed the peer's RST on fd (state CLOSE), at
 * most 10 s: the peer answers a write after its close with an RST, and
 * only once that is processed must the next write fail.  Without this wait
 * a loaded machine (softirqs deferred) can let many writes succeed before
 * the RST lands.  Blocking (poll(2) with a timeout): nothing else in the
 * runtime has to run meanwhile.  Plain syscalls: also used in a forked
 * child. */
static bool wait_reset_seen(int fd)
{
    for (int i = 0; i < 1000; i++) {
        struct tcp_info ti;
        socklen_t len = sizeof ti;
        if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0)
            return false;
        if (ti.tcpi_state == TCP_CLOSE)
            return true;
        (void)poll(NULL, 0, 10);
    }
    return false;
}

static void check_sigpipe_default(void)
{
    struct sigaction sa;
    CHECK(sigaction(SIGPIPE, NULL, &sa) == 0);
    CHECK_MSG(sa.sa_handler == SIG_DFL, "SIGPIPE is not at its default disposition");
    sigset_t pend;
    CHECK(sigpending(&pend) == 0);
    CHECK_MSG(!sigismember(&pend, SIGPIPE), "a socket write raised SIGPIPE (it is pending)");
}

enum { W_WRITE, W_WRITE_ALL, W_WRITEV, W_TRY, W_COUNT };
static const char *const g_names[W_COUNT] = {"eddy_write", "eddy_write_all", "eddy_writev", "eddy_io_try_write"};

struct root {
    eddy_coro co;
    eddy_tcp_listener l;
    eddy_addr addr;
    eddy_tcp cli, srv;
    int rc, fd, way, tries;
    ssize_t n;
    ssize_t results[W_COUNT];
    struct iovec iov[2];
    union {
        eddy_connect conn;
        eddy_accept acc;
        eddy_write wr;
        eddy_write_all wa;
        eddy_writev wv;
        eddy_read rd;
    } f;
    char buf[16];
};

static eddy_poll root_poll(struct root *t, eddy_cx *cx, int *out)
{
    EDDY_BEGIN(&t->co, cx);
    CHECK_OK(eddy_tcp_listen(&t->l, "127.0.0.1:0", NULL));
    CHECK_OK(eddy_tcp_listener_addr(&t->l, &t->addr));
    for (t->way = 0; t->way < W_COUNT; t->way++) {
        EDDY_AWAIT(&t->rc, eddy_connect, &t->f.conn, &t->cli, &t->addr, EDDY_SEC(10));
        CHECK_OK(t->rc);
        EDDY_AWAIT(&t->fd, eddy_accept, &t->f.acc, &t->l, NULL);
        CHECK(t->fd >= 0);
        CHECK_OK(eddy_tcp_open(&t->srv, t->fd));
        /* The peer goes away entirely. */
        CHECK_OK(eddy_tcp_close(&t->cli));
        /* Until the server sees the FIN (end of stream). */
        EDDY_AWAIT(&t->n, eddy_read, &t->f.rd, &t->srv.io, t->buf, sizeof t->buf);
        CHECK_EQ(t->n, 0);
        /* The first write after a FIN may still succeed (the peer answers
         * it with an RST); from then on every write fails.  Bounded. */
        for (t->tries = 0; t->tries < 100; t->tries++) {
            check_sigpipe_default();
            if (t->way == W_WRITE) {
                EDDY_AWAIT(&t->n, eddy_write, &t->f.wr, &t->srv.io, "data", 4);
            } else if (t->way == W_WRITE_ALL) {
                EDDY_AWAIT(&t->n, eddy_write_all, &t->f.wa, &t->srv.io, "data", 4);
            } else if (t->way == W_WRITEV) {
                t->iov[0] = (struct iovec){.iov_base = "da", .iov_len = 2};
                t->iov[1] = (struct iovec){.iov_base = "ta", .iov_len = 2};
                EDDY_AWAIT(&t->n, eddy_writev, &t->f.wv, &t->srv.io, t->iov, 2);
            } else {
                t->n = eddy_io_try_write(&t->srv.io, "data", 4);
                if (t->n == -EAGAIN)
                    EDDY_YIELD();
            }
            if (t->n < 0 && t->n != -EAGAIN)
                break;
            CHECK_MSG(t->n == 4 || t->n == -EAGAIN, "%s: %zd", g_names[t->way], t->n);
            if (t->n == 4)
                CHECK_MSG(wait_reset_seen(eddy_io_fd(&t->srv.io)), "%s: the peer's RST was not processed in 10 s",
                          g_names[t->way]);
        }
        t->results[t->way] = t->n;
        CHECK_MSG(t->n == -EPIPE || t->n == -ECONNRESET, "%s to a closed peer gave %zd (%s) after %d tries",
                  g_names[t->way], t->n, eddy_strerror((int)t->n), t->tries);
        /* Once more: still an error, still alive. */
        t->n = eddy_io_try_write(&t->srv.io, "data", 4);
        CHECK_MSG(t->n == -EPIPE || t->n == -ECONNRESET, "again: %zd", t->n);
        printf("%s to a closed peer: %s after %d successful write(s); process alive\n", g_names[t->way],
               eddy_strerror((int)t->results[t->way]), t->tries);
        CHECK_OK(eddy_tcp_close(&t->srv));
    }

    /* The hazard is real: a plain write(2) on such a socket raises SIGPIPE
     * (in a child, which it kills). */
    EDDY_AWAIT(&t->rc, eddy_connect, &t->f.conn, &t->cli, &t->addr, EDDY_SEC(10));
    CHECK_OK(t->rc);
    EDDY_AWAIT(&t->fd, eddy_accept, &t->f.acc, &t->l, NULL);
    CHECK(t->fd >= 0);
    CHECK_OK(eddy_tcp_close(&t->cli));
    {
        fflush(stdout);
        pid_t pid = fork();
        CHECK(pid >= 0);
        if (pid == 0) {
            /* The child inherits this thread's mask (block_on's or a
             * worker's), where SIGPIPE is blocked. */
            sigset_t pipe_set;
            sigemptyset(&pipe_set);
            sigaddset(&pipe_set, SIGPIPE);
            sigprocmask(SIG_UNBLOCK, &pipe_set, NULL);
            /* A write that succeeds draws the peer's RST; once that is
             * processed, the next write fails with EPIPE (or ECONNRESET,
             * then EPIPE) and raises SIGPIPE. */
            for (int i = 0; i < 100; i++) {
                if (write(t->fd, "data", 4) >= 0 && !wait_reset_seen(t->fd))
                    _exit(2); /* no RST in 10 s */
            }
            _exit(0); /* not killed: the hazard did not show */
        }
        int status = 0;
        CHECK(waitpid(pid, &status, 0) == pid);
        CHECK_MSG(WIFSIGNALED(status) && WTERMSIG(status) == SIGPIPE,
                  "a plain write(2) to a closed peer did not raise SIGPIPE (status %d)", status);
        printf("control: a plain write(2) in a child died of SIGPIPE\n");
    }
    close(t->fd);
    CHECK_OK(eddy_tcp_listener_close(&t->l));
    *out = 0;
    EDDY_END();
}
EDDY_CORO_VT(root_vt, struct root, int, root_poll);

static struct root g_root;

/* The same root as a spawned task (its frame copied from g_root). */
struct in_task {
    eddy_coro co;
    eddy_join *jh;
    int out;
};

static eddy_poll in_task_poll(struct in_task *t, eddy_cx *cx, int *out)
{
    EDDY_BEGIN(&t->co, cx);
    t->out = -1;
    CHECK_OK(eddy_spawn_local(&root_vt, &g_root, &t->jh));
    EDDY_AWAIT_POLL(&t->out, eddy_join, t->jh);
    CHECK_EQ(eddy_join_status(t->jh), 0);
    *out = t->out;
    EDDY_FINALLY();
    eddy_join_detach(t->jh);
    EDDY_DONE();
}
EDDY_CORO_VT(in_task_vt, struct in_task, int, in_task_poll);

int main(void)
{
    test_watchdog(100);
    check_sigpipe_default();
    int out = -1;
    nu_run(&root_vt, &g_root, &out, NULL, NULL);
    CHECK_EQ(out, 0);
    check_sigpipe_default();

    printf("again, in a spawned task:\n");
    memset(&g_root, 0, sizeof g_root);
    struct in_task it = {.out = -1};
    out = -1;
    eddy_rt_stats st;
    nu_run(&in_task_vt, &it, &out, NULL, &st);
    CHECK_EQ(out, 0);
    CHECK_EQ(st.spawned, 1);
    CHECK_EQ(st.completed, 1);
    CHECK_EQ(st.alive, 0);
    check_sigpipe_default();
    return 0;
}
