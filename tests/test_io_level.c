/* Level-triggered registration (EDDY_IO_LEVEL).
 *
 *  1. A pipe's read end registered level-triggered, 1000 bytes written: a
 *     reader that reads only 100 bytes at a time is polled again and
 *     again until it has all 1000, in order; once drained (EAGAIN) it is
 *     not woken spuriously (a 100 ms timeout expires), and new bytes wake
 *     it again.
 *  2. The driver itself re-reports a level source: after a partial read
 *     the cached readiness is forgotten (eddy__io_clear, what a future
 *     does after EAGAIN) although bytes remain; a level registration is
 *     reported again by epoll on the next turn, so eddy_readable completes.
 *     Contrast: the same on an edge-triggered registration gets no new
 *     event (no new edge) and the readable times out (200 ms) until one
 *     more byte arrives.  This shows the flag reaches epoll.
 *  3. A level registration that is idle costs nothing: a socket that is
 *     always writable, registered level-triggered for both directions,
 *     with no task waiting on it, must not keep the runtime awake: over a
 *     300 ms sleep the process stays within a CPU budget (30%) and the
 *     runtime parks a bounded number of times.
 *  4. A regular file is refused (-EPERM, edge or level): it has no
 *     readiness to wait for, on epoll or on io_uring.
 *
 * The same on the multi-thread runtime (the _mt variant): block_on's root
 * does the I/O while a worker owns the driver; there the parks are those
 * of all the workers. */
// eddy-test-timeout: 60
// eddy-test-labels: flavors
#include "net_util.h"

#include "io/driver.h"

#include <fcntl.h>
#include <sys/socket.h>

EDDY_FUTURE_VT(ready_vt, eddy_ready, int, eddy_ready_poll, eddy_ready_drop);

struct root {
    eddy_coro co;
    int p[2], q[2], sp[2];
    eddy_io lvl, edge, sock;
    int rc, i;
    ssize_t n;
    size_t got;
    uint64_t cpu0, cpu1;
    eddy_rt_stats st0, st1;
    eddy_instant w0, w1;
    eddy_ready child;
    int child_out;
    union {
        eddy_read rd;
        eddy_ready ready;
        eddy_timeout to;
        eddy_sleep sl;
    } f;
    uint8_t buf[1000];
};

static void pipe_write(int fd, uint64_t off, size_t len)
{
    uint8_t b[1000];
    CHECK(len <= sizeof b);
    nu_fill(b, off, len);
    CHECK_EQ(write(fd, b, len), (ssize_t)len);
}

static eddy_poll root_poll(struct root *t, eddy_cx *cx, int *out)
{
    EDDY_BEGIN(&t->co, cx);
    CHECK(pipe2(t->p, O_CLOEXEC) == 0);
    CHECK_OK(eddy_io_open(&t->lvl, t->p[0], EDDY_IO_LEVEL | EDDY_IO_READ_ONLY));

    /* ---- 1: partial reads ---- */
    pipe_write(t->p[1], 0, 1000);
    for (t->got = 0, t->i = 0; t->got < 1000 && t->i < 20; t->i++) {
        EDDY_AWAIT(&t->n, eddy_read, &t->f.rd, &t->lvl, t->buf, 100);
        CHECK_EQ(t->n, 100);
        CHECK_EQ(nu_check(t->buf, t->got, 100), -1);
        t->got += 100;
    }
    CHECK_EQ(t->got, 1000);
    CHECK_EQ(t->i, 10);
    CHECK_EQ(eddy_io_try_read(&t->lvl, t->buf, 100), -EAGAIN);
    eddy_readable_init(&t->child, &t->lvl);
    EDDY_AWAIT(&t->rc, eddy_timeout, &t->f.to, EDDY_MS(100), &ready_vt, &t->child, &t->child_out);
    CHECK_EQ(t->rc, -ETIMEDOUT); /* drained: no spurious readiness */
    pipe_write(t->p[1], 1000, 10);
    EDDY_AWAIT(&t->rc, eddy_readable, &t->f.ready, &t->lvl);
    CHECK_OK(t->rc);
    EDDY_AWAIT(&t->n, eddy_read, &t->f.rd, &t->lvl, t->buf, 100);
    CHECK_EQ(t->n, 10);
    CHECK_EQ(nu_check(t->buf, 1000, 10), -1);
    printf("1: level pipe: 10 partial reads of 100 bytes, then quiet, then woken by new bytes\n");

    /* ---- 2: the driver re-reports a level source ---- */
    pipe_write(t->p[1], 0, 1000);
    EDDY_AWAIT(&t->rc, eddy_readable, &t->f.ready, &t->lvl);
    CHECK_OK(t->rc);
    EDDY_AWAIT(&t->n, eddy_read, &t->f.rd, &t->lvl, t->buf, 100);
    CHECK_EQ(t->n, 100);
    eddy__io_saw_eagain(&t->lvl, EDDY__IO_READ, eddy__io_ready(&t->lvl)); /* forget: 900 bytes remain */
    eddy_readable_init(&t->child, &t->lvl);
    EDDY_AWAIT(&t->rc, eddy_timeout, &t->f.to, EDDY_SEC(10), &ready_vt, &t->child, &t->child_out);
    CHECK_MSG(t->rc == 0, "level: readiness forgotten with bytes left was not reported again");
    EDDY_AWAIT(&t->n, eddy_read, &t->f.rd, &t->lvl, t->buf, 1000);
    CHECK_EQ(t->n, 900);
    CHECK_EQ(nu_check(t->buf, 100, 900), -1);

    CHECK(pipe2(t->q, O_CLOEXEC) == 0);
    CHECK_OK(eddy_io_open(&t->edge, t->q[0], EDDY_IO_READ_ONLY));
    pipe_write(t->q[1], 0, 1000);
    /* First collect the edge the write produced (the read below would not
     * wait for it: a fresh registration tries the syscall first). */
    EDDY_AWAIT(&t->rc, eddy_readable, &t->f.ready, &t->edge);
    CHECK_OK(t->rc);
    EDDY_AWAIT(&t->n, eddy_read, &t->f.rd, &t->edge, t->buf, 100);
    CHECK_EQ(t->n, 100);
    eddy__io_saw_eagain(&t->edge, EDDY__IO_READ, eddy__io_ready(&t->edge));
    eddy_readable_init(&t->child, &t->edge);
    EDDY_AWAIT(&t->rc, eddy_timeout, &t->f.to, EDDY_MS(200), &ready_vt, &t->child, &t->child_out);
    CHECK_MSG(t->rc == -ETIMEDOUT, "edge: a source was reported again without a new edge");
    pipe_write(t->q[1], 1000, 1);
    eddy_readable_init(&t->child, &t->edge);
    EDDY_AWAIT(&t->rc, eddy_timeout, &t->f.to, EDDY_SEC(10), &ready_vt, &t->child, &t->child_out);
    CHECK_MSG(t->rc == 0, "edge: a new byte did not make the source readable");
    EDDY_AWAIT(&t->n, eddy_read, &t->f.rd, &t->edge, t->buf, 1000);
    CHECK_EQ(t->n, 901);
    printf("2: level source re-reported by epoll after its readiness was forgotten; edge source not\n");
    CHECK_OK(eddy_io_close(&t->edge));
    close(t->q[1]);

    /* ---- 3: an idle level source that is always ready ---- */
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, t->sp) == 0);
    CHECK_OK(eddy_io_open(&t->sock, t->sp[0], EDDY_IO_LEVEL));
    CHECK_OK(eddy_rt_stats_get(eddy_rt_current(), &t->st0));
    t->cpu0 = nu_cpu_ns();
    t->w0 = eddy_now();
    EDDY_AWAIT(NULL, eddy_sleep, &t->f.sl, EDDY_MS(300));
    t->w1 = eddy_now();
    t->cpu1 = nu_cpu_ns();
    CHECK_OK(eddy_rt_stats_get(eddy_rt_current(), &t->st1));
    printf("3: idle level socket (always writable): %.1f ms CPU and %llu parks over %.3f s\n",
           (double)(t->cpu1 - t->cpu0) / 1e6, (unsigned long long)(t->st1.parks - t->st0.parks),
           (double)(t->w1 - t->w0) / 1e9);
    CHECK_MSG(t->st1.parks - t->st0.parks <= 50,
              "the runtime woke %llu times in 300 ms: a level-triggered source nobody waits on keeps epoll_wait "
              "returning (busy loop)",
              (unsigned long long)(t->st1.parks - t->st0.parks));
    CHECK_LE(t->cpu1 - t->cpu0, (t->w1 - t->w0) * 3 / 10);
    CHECK_OK(eddy_io_close(&t->sock));
    close(t->sp[1]);

    CHECK_OK(eddy_io_close(&t->lvl));
    close(t->p[1]);

    /* ---- 4: a regular file has no readiness to wait for ---- */
    {
        FILE *tmp = tmpfile();
        CHECK(tmp != NULL);
        int fd = fileno(tmp);
        CHECK_EQ(eddy_io_open(&t->sock, fd, 0), -EPERM);
        CHECK_EQ(eddy_io_open(&t->sock, fd, EDDY_IO_LEVEL), -EPERM);
        CHECK_EQ(eddy_io_fd(&t->sock), -1);
        CHECK_EQ(fcntl(fd, F_GETFL) & O_NONBLOCK, 0); /* refused before its flags were touched */
        fclose(tmp); /* still the caller's after the refusal */
        printf("4: a regular file: eddy_io_open refuses it with -EPERM, edge or level\n");
    }
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
    return 0;
}
