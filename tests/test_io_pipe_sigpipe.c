/* A write to a pipe whose reader has gone returns -EPIPE and does not kill
 * the process: block_on keeps SIGPIPE blocked on its thread and the write
 * consumes the pending signal.  SIGPIPE keeps its default disposition, and
 * the caller's signal mask is restored when block_on returns. */
#include "eddy_test.h"

#include <eddy.h>
#include <pthread.h>
#include <signal.h>

struct writer {
    eddy_coro co;
    int fd;
    eddy_io io;
    union {
        eddy_write wr;
        eddy_write_all wa;
        eddy_writev wv;
    } op;
    struct iovec iov[2];
    ssize_t n1, n2, n3;
};

static eddy_poll writer_poll(struct writer *t, eddy_cx *cx, int *out)
{
    EDDY_BEGIN(&t->co, cx);
    *out = eddy_io_open(&t->io, t->fd, 0);
    if (*out < 0)
        EDDY_RETURN();
    EDDY_AWAIT(&t->n1, eddy_write, &t->op.wr, &t->io, "x", 1);
    EDDY_AWAIT(&t->n2, eddy_write_all, &t->op.wa, &t->io, "hello", 5);
    t->iov[0] = (struct iovec){.iov_base = "ab", .iov_len = 2};
    t->iov[1] = (struct iovec){.iov_base = "cd", .iov_len = 2};
    EDDY_AWAIT(&t->n3, eddy_writev, &t->op.wv, &t->io, t->iov, 2);
    *out = 0;
    EDDY_FINALLY();
    eddy_io_close(&t->io);
    EDDY_DONE();
}
EDDY_CORO_VT(writer_vt, struct writer, int, writer_poll);

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
    CHECK_OK(eddy_rt_new(&rt, NULL));
    struct writer t = {.fd = p[1]};
    int out = 1;
    CHECK_OK(eddy_block_on(rt, &writer_vt, &t, &out));
    CHECK_EQ(out, 0);
    CHECK_EQ(t.n1, -EPIPE);
    CHECK_EQ(t.n2, -EPIPE);
    CHECK_EQ(t.n3, -EPIPE);

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
