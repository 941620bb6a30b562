/* A write to a pipe whose reader has gone returns -EPIPE and does not kill
 * the process: block_on keeps SIGPIPE blocked on its thread and the write
 * consumes the pending signal.  SIGPIPE keeps its default disposition, and
 * the caller's signal mask is restored when block_on returns.
 *
 * The writes run twice: in block_on's root, then in a spawned task (on the
 * multi-thread runtime a worker thread, which keeps SIGPIPE blocked too).
 * Each time the writing thread itself checks, right after its writes, that
 * no SIGPIPE is left pending on it. */
// eddy-test-labels: flavors
#include "eddy_test.h"

#include <eddy.h>
#include <pthread.h>
#include <signal.h>

struct result {
    int rc;
    ssize_t n1, n2, n3;
    bool pending_after; /* SIGPIPE pending on the writing thread after the writes */
};

static bool sigpipe_pending(void)
{
    sigset_t pending;
    CHECK(sigpending(&pending) == 0);
    return sigismember(&pending, SIGPIPE);
}

struct writer {
    eddy_coro co;
    int fd;
    struct result *res;
    eddy_io io;
    union {
        eddy_write wr;
        eddy_write_all wa;
        eddy_writev wv;
    } op;
    struct iovec iov[2];
};

static eddy_poll writer_poll(struct writer *t, eddy_cx *cx, void *out)
{
    (void)out;
    struct result *r = t->res;
    EDDY_BEGIN(&t->co, cx);
    r->rc = eddy_io_open(&t->io, t->fd, 0);
    if (r->rc < 0)
        EDDY_RETURN();
    r->rc = 1; /* not done */
    EDDY_AWAIT(&r->n1, eddy_write, &t->op.wr, &t->io, "x", 1);
    EDDY_AWAIT(&r->n2, eddy_write_all, &t->op.wa, &t->io, "hello", 5);
    t->iov[0] = (struct iovec){.iov_base = "ab", .iov_len = 2};
    t->iov[1] = (struct iovec){.iov_base = "cd", .iov_len = 2};
    EDDY_AWAIT(&r->n3, eddy_writev, &t->op.wv, &t->io, t->iov, 2);
    r->pending_after = sigpipe_pending();
    r->rc = 0;
    EDDY_FINALLY();
    eddy_io_close(&t->io);
    EDDY_DONE();
}
EDDY_CORO_VT_VOID(writer_vt, struct writer, writer_poll);

/* block_on's root for the second run: spawns the writer and awaits it. */
struct spawner {
    eddy_coro co;
    struct writer init;
    eddy_join *jh;
};

static eddy_poll spawner_poll(struct spawner *t, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&t->co, cx);
    CHECK_OK(eddy_spawn_local(&writer_vt, &t->init, &t->jh));
    EDDY_AWAIT_POLL(NULL, eddy_join, t->jh);
    CHECK_EQ(eddy_join_status(t->jh), 0);
    EDDY_FINALLY();
    eddy_join_detach(t->jh);
    EDDY_DONE();
}
EDDY_CORO_VT_VOID(spawner_vt, struct spawner, spawner_poll);

static void check_result(const char *where, const struct result *r)
{
    CHECK_EQ(r->rc, 0);
    CHECK_EQ(r->n1, -EPIPE);
    CHECK_EQ(r->n2, -EPIPE);
    CHECK_EQ(r->n3, -EPIPE);
    CHECK_MSG(!r->pending_after, "%s: a SIGPIPE was left pending on the writing thread", where);
    printf("%s: write, write_all, writev -> -EPIPE; nothing pending\n", where);
}

int main(void)
{
    test_watchdog(30);
    struct sigaction sa;
    CHECK(sigaction(SIGPIPE, NULL, &sa) == 0);
    CHECK_MSG(sa.sa_handler == SIG_DFL, "SIGPIPE must keep its default disposition for this test");

    int p[2];
    CHECK(pipe(p) == 0);
    close(p[0]); /* the reader is gone */

    eddy_rt *rt;
    CHECK_OK(eddy_rt_new(&rt, test_builder(NULL)));
    struct result r1 = {.rc = -1};
    struct writer t = {.fd = p[1], .res = &r1};
    CHECK_OK(eddy_block_on(rt, &writer_vt, &t, NULL));
    check_result("block_on's root", &r1);

    /* Again in a spawned task (the writer closed p[1]: a new pipe). */
    CHECK(pipe(p) == 0);
    close(p[0]);
    struct result r2 = {.rc = -1};
    struct spawner sp = {.init = {.fd = p[1], .res = &r2}};
    CHECK_OK(eddy_block_on(rt, &spawner_vt, &sp, NULL));
    check_result("a spawned task", &r2);

    /* Nothing is left pending, and the caller's mask is back. */
    sigset_t pending, mask;
    CHECK(sigpending(&pending) == 0);
    CHECK(!sigismember(&pending, SIGPIPE));
    CHECK(pthread_sigmask(SIG_SETMASK, NULL, &mask) == 0);
    CHECK(!sigismember(&mask, SIGPIPE));
    eddy_rt_free(rt);
    printf("test_io_pipe_sigpipe: ok\n");
    return 0;
}
