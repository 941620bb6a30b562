/* uv_echo_server - the libuv peer of eddy's echo server: one uv_loop on one
 * thread, callbacks instead of tasks, written the way libuv's own
 * benchmark servers are, plus the fast path a careful libuv user takes.
 *
 *     uv_echo_server --port P [--addr A]
 *
 * Prints "listening on ip:port" once bound (--port 0 picks a free port),
 * then echoes every byte back until SIGINT/SIGTERM (a uv_signal_t), which
 * print a summary to stderr and exit 0.
 *
 * - uv_listen + uv_accept into a heap uv_tcp_t per connection;
 *   uv_tcp_nodelay (as every server in bench/).
 * - uv_read_start with an alloc callback that hands out one shared 16 KiB
 *   buffer: the loop is single-threaded and read_cb consumes the data
 *   before the next alloc, so no allocation per read (the read size of
 *   eddy's and the epoll server's buffers).
 * - read_cb echoes with uv_try_write first (one send, no request, no
 *   copy); only what does not fit goes through uv_write with a heap copy,
 *   and the connection stops reading until that write completes
 *   (back-pressure).
 * - Out of descriptors: libuv's accept path already uses the reserve-
 *   descriptor trick internally (uv__emfile_trick).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#define BUF_SIZE 16384

struct conn {
    uv_tcp_t tcp;       /* first: the handle's address is the conn's */
};

struct pending {
    uv_write_t req;
    uv_buf_t buf;       /* heap copy of the unsent bytes */
};

static uv_loop_t *loop;
static uv_tcp_t server;
static uv_signal_t sigint_h, sigterm_h;
static char shared_buf[BUF_SIZE];
static int shared_busy;
static unsigned long long accepted, closed_conns, live, peak, slow_writes;

static void die(const char *what, int err)
{
    fprintf(stderr, "uv_echo_server: %s: %s\n", what, uv_strerror(err));
    exit(2);
}

static void on_close(uv_handle_t *h)
{
    free(h);
    closed_conns++;
    live--;
}

static void conn_close(uv_stream_t *s)
{
    if (!uv_is_closing((uv_handle_t *)s))
        uv_close((uv_handle_t *)s, on_close);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    (void)suggested;
    if (shared_busy) { /* cannot happen on one thread; be safe anyway */
        buf->base = NULL;
        buf->len = 0;
        return;
    }
    shared_busy = 1;
    *buf = uv_buf_init(shared_buf, BUF_SIZE);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);

static void on_write(uv_write_t *req, int status)
{
    struct pending *p = (struct pending *)req;
    uv_stream_t *s = req->handle;
    free(p->buf.base);
    free(p);
    if (status < 0) {
        conn_close(s);
        return;
    }
    /* flushed: read again */
    if (!uv_is_closing((uv_handle_t *)s) && uv_read_start(s, on_alloc, on_read) < 0)
        conn_close(s);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    if (buf->base == shared_buf)
        shared_busy = 0;
    if (n == 0)
        return; /* EAGAIN */
    if (n < 0) {
        conn_close(s); /* UV_EOF or an error */
        return;
    }
    uv_buf_t b = uv_buf_init(buf->base, (unsigned)n);
    int w = uv_try_write(s, &b, 1);
    if (w == n)
        return;
    if (w < 0 && w != UV_EAGAIN) {
        conn_close(s);
        return;
    }
    if (w < 0)
        w = 0;
    /* The peer is not reading fast enough: queue the rest, stop reading. */
    struct pending *p = malloc(sizeof *p);
    char *copy = malloc((size_t)n - (size_t)w);
    if (!p || !copy) {
        free(p);
        free(copy);
        conn_close(s);
        return;
    }
    memcpy(copy, buf->base + w, (size_t)n - (size_t)w);
    p->buf = uv_buf_init(copy, (unsigned)(n - w));
    slow_writes++;
    uv_read_stop(s);
    int e = uv_write(&p->req, s, &p->buf, 1, on_write);
    if (e < 0) {
        free(copy);
        free(p);
        conn_close(s);
    }
}

static void on_connection(uv_stream_t *srv, int status)
{
    if (status < 0) {
        fprintf(stderr, "uv_echo_server: accept: %s\n", uv_strerror(status));
        return;
    }
    struct conn *c = malloc(sizeof *c);
    if (!c)
        return;
    uv_tcp_init(loop, &c->tcp);
    if (uv_accept(srv, (uv_stream_t *)&c->tcp) < 0) {
        uv_close((uv_handle_t *)&c->tcp, (uv_close_cb)free);
        return;
    }
    accepted++;
    if (++live > peak)
        peak = live;
    uv_tcp_nodelay(&c->tcp, 1);
    int e = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    if (e < 0)
        conn_close((uv_stream_t *)&c->tcp);
}

static void on_signal(uv_signal_t *h, int signum)
{
    (void)h;
    fprintf(stderr, "uv_echo_server: signal %d: %llu connections accepted, %llu closed, peak %llu live, "
            "%llu queued writes\n", signum, accepted, closed_conns, peak, slow_writes);
    exit(0);
}

static void usage(void)
{
    fprintf(stderr, "usage: uv_echo_server --port P [--addr A]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    long port = -1;
    const char *addr = "127.0.0.1";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            usage();
        if (!strcmp(a, "--port")) {
            char *end;
            port = strtol(v, &end, 10);
            if (*end || port < 0 || port > 65535)
                usage();
        } else if (!strcmp(a, "--addr")) {
            addr = v;
        } else {
            usage();
        }
        i++;
    }
    if (port < 0)
        usage();
    signal(SIGPIPE, SIG_IGN);

    loop = uv_default_loop();
    struct sockaddr_storage ss;
    int e = uv_ip4_addr(addr, (int)port, (struct sockaddr_in *)&ss);
    if (e < 0)
        e = uv_ip6_addr(addr, (int)port, (struct sockaddr_in6 *)&ss);
    if (e < 0)
        die("--addr", e);
    if ((e = uv_tcp_init(loop, &server)) < 0)
        die("uv_tcp_init", e);
    if ((e = uv_tcp_bind(&server, (const struct sockaddr *)&ss, 0)) < 0)
        die("bind", e);
    if ((e = uv_listen((uv_stream_t *)&server, SOMAXCONN, on_connection)) < 0)
        die("listen", e);

    struct sockaddr_storage bound;
    int len = sizeof bound;
    uv_tcp_getsockname(&server, (struct sockaddr *)&bound, &len);
    char ip[64] = "?";
    int bport = 0;
    if (bound.ss_family == AF_INET) {
        uv_ip4_name((struct sockaddr_in *)&bound, ip, sizeof ip);
        bport = ntohs(((struct sockaddr_in *)&bound)->sin_port);
        printf("listening on %s:%d\n", ip, bport);
    } else {
        uv_ip6_name((struct sockaddr_in6 *)&bound, ip, sizeof ip);
        bport = ntohs(((struct sockaddr_in6 *)&bound)->sin6_port);
        printf("listening on [%s]:%d\n", ip, bport);
    }
    fflush(stdout);
    fprintf(stderr, "uv_echo_server: libuv %s\n", uv_version_string());

    uv_signal_init(loop, &sigint_h);
    uv_signal_start(&sigint_h, on_signal, SIGINT);
    uv_signal_init(loop, &sigterm_h);
    uv_signal_start(&sigterm_h, on_signal, SIGTERM);

    return uv_run(loop, UV_RUN_DEFAULT);
}
