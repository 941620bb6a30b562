/* TCP listeners, streams, addresses. */
#include "../io/driver.h"

#include <eddy/net.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- addresses ------------------------------------------------------------ */

int eddy_addr_parse(eddy_addr *a, const char *text)
{
    if (!a || !text)
        return -EINVAL;
    memset(a, 0, sizeof *a);
    char host[64];
    const char *port;
    if (text[0] == '[') {
        const char *end = strchr(text, ']');
        if (!end || end[1] != ':' || (size_t)(end - text - 1) >= sizeof host)
            return -EINVAL;
        memcpy(host, text + 1, (size_t)(end - text - 1));
        host[end - text - 1] = 0;
        port = end + 2;
    } else {
        const char *colon = strrchr(text, ':');
        if (!colon || (size_t)(colon - text) >= sizeof host || strchr(text, ':') != colon)
            return -EINVAL;
        memcpy(host, text, (size_t)(colon - text));
        host[colon - text] = 0;
        port = colon + 1;
    }
    char *endp;
    if (*port < '0' || *port > '9') /* also rejects "", signs, spaces */
        return -EINVAL;
    unsigned long p = strtoul(port, &endp, 10);
    if (*endp || p > 65535)
        return -EINVAL;
    if (strcmp(host, "localhost") == 0)
        strcpy(host, "127.0.0.1");
    if (inet_pton(AF_INET, host, &a->u.in4.sin_addr) == 1) {
        a->u.in4.sin_family = AF_INET;
        a->u.in4.sin_port = htons((uint16_t)p);
        a->len = sizeof a->u.in4;
        return 0;
    }
    if (inet_pton(AF_INET6, host, &a->u.in6.sin6_addr) == 1) {
        a->u.in6.sin6_family = AF_INET6;
        a->u.in6.sin6_port = htons((uint16_t)p);
        a->len = sizeof a->u.in6;
        return 0;
    }
    return -EINVAL;
}

int eddy_addr_format(const eddy_addr *a, char *buf, size_t len)
{
    if (!a || !buf)
        return -EINVAL;
    char ip[INET6_ADDRSTRLEN];
    int n;
    if (a->u.sa.sa_family == AF_INET) {
        inet_ntop(AF_INET, &a->u.in4.sin_addr, ip, sizeof ip);
        n = snprintf(buf, len, "%s:%u", ip, ntohs(a->u.in4.sin_port));
    } else if (a->u.sa.sa_family == AF_INET6) {
        inet_ntop(AF_INET6, &a->u.in6.sin6_addr, ip, sizeof ip);
        n = snprintf(buf, len, "[%s]:%u", ip, ntohs(a->u.in6.sin6_port));
    } else {
        return -EINVAL;
    }
    return (size_t)n >= len ? -ENOSPC : n;
}

int eddy_addr_port(const eddy_addr *a)
{
    if (a->u.sa.sa_family == AF_INET)
        return ntohs(a->u.in4.sin_port);
    if (a->u.sa.sa_family == AF_INET6)
        return ntohs(a->u.in6.sin6_port);
    return 0;
}

/* ---- listener ------------------------------------------------------------- */

int eddy_tcp_listen_addr(eddy_tcp_listener *l, const eddy_addr *addr, const eddy_tcp_opts *opts)
{
    if (!l || !addr)
        return -EINVAL;
    if (!eddy__tls_core)
        return -EDDY_ENORUNTIME;
    eddy_tcp_opts def = {0};
    if (!opts)
        opts = &def;
    int fd = socket(addr->u.sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int one = 1, err;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0)
        goto fail;
    if (opts->reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0)
        goto fail;
    if (addr->u.sa.sa_family == AF_INET6) {
        int v6 = opts->v6only ? 1 : 0;
        if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6, sizeof v6) < 0)
            goto fail;
    }
    if (bind(fd, &addr->u.sa, addr->len) < 0)
        goto fail;
    if (listen(fd, opts->backlog > 0 ? opts->backlog : SOMAXCONN) < 0)
        goto fail;
    err = eddy_io_open(&l->io, fd, EDDY_IO_READ_ONLY);
    if (err < 0) {
        close(fd);
        return err;
    }
    return 0;
fail:
    err = -errno;
    close(fd);
    return err;
}

int eddy_tcp_listen(eddy_tcp_listener *l, const char *text, const eddy_tcp_opts *opts)
{
    eddy_addr a;
    int r = eddy_addr_parse(&a, text);
    if (r < 0)
        return r;
    return eddy_tcp_listen_addr(l, &a, opts);
}

int eddy_tcp_listener_addr(const eddy_tcp_listener *l, eddy_addr *out)
{
    if (!l || !out || !l->io.registered)
        return -EBADF;
    out->len = sizeof out->u.ss;
    return getsockname(l->io.fd, &out->u.sa, &out->len) < 0 ? -errno : 0;
}

int eddy_tcp_listener_close(eddy_tcp_listener *l) { return l ? eddy_io_close(&l->io) : 0; }

/* ---- accept ---------------------------------------------------------------- */

void eddy_accept_init(eddy_accept *f, eddy_tcp_listener *l, eddy_addr *peer)
{
    memset(f, 0, sizeof *f);
    f->l = l;
    f->peer = peer;
}

static bool out_of_resources(int e) { return e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM; }

eddy_poll eddy_accept_poll(eddy_accept *f, eddy_cx *cx, int *out)
{
    eddy_io *io = &f->l->io;
    if (EDDY_UNLIKELY(!io->registered)) {
        *out = -EBADF;
        return EDDY_READY;
    }
    bool retry = false;
    if (f->stalled) {
        /* Out of descriptors: retry when the backoff timer fires, or at once
         * if this runtime closed a descriptor (which consumed fd_waiter). */
        int rc = 0;
        struct eddy__core *c = cx->core;
        if (eddy_sleep_poll(&f->backoff, cx, &rc) == EDDY_PENDING && c &&
            eddy_waker_will_wake(&c->fd_waiter, cx->waker))
            return EDDY_PENDING;
        eddy_sleep_drop(&f->backoff);
        f->stalled = 0;
        retry = true;
    }
    for (;;) {
        uint32_t snap = eddy__io_ready(io);
        if (!retry && !eddy__io_may_try(io, snap, EDDY__IO_READ))
            return eddy__io_wait_for(io, EDDY__IO_READ, &f->waiting, cx);
        retry = false;
        if (!eddy__coop_spend(cx))
            return EDDY_PENDING;
        socklen_t alen = sizeof(struct sockaddr_storage);
        struct sockaddr_storage ss;
        int fd = accept4(io->fd, (struct sockaddr *)&ss, &alen, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            f->waiting = 0; /* done: a later drop must not touch l->io.rd */
            f->backoff_ms = 0;
            if (f->peer) {
                memcpy(&f->peer->u.ss, &ss, alen);
                f->peer->len = alen;
            }
            *out = fd;
            return EDDY_READY;
        }
        int e = errno;
        if (e == EINTR || e == ECONNABORTED || e == EPROTO) {
            retry = true; /* the peer gave up before we got to it: next one */
            continue;
        }
        if (e == EAGAIN || e == EWOULDBLOCK) {
            eddy__io_saw_eagain(io, EDDY__IO_READ, snap);
            continue; /* goes to wait */
        }
        if (out_of_resources(e)) {
            /* Keep the listener; wait for a descriptor instead of spinning
             * (the pending connection stays in the kernel's backlog). */
            struct eddy__core *c = cx->core;
            if (!c) {
                f->waiting = 0;
                *out = -e; /* no runtime, no timer: report it */
                return EDDY_READY;
            }
            if (f->backoff_ms == 0) /* one writer; eddy_rt_stats_get may read it from elsewhere */
                EDDY__STORE_RELAXED(&c->accept_stalls, c->accept_stalls + 1);
            f->backoff_ms = f->backoff_ms ? (f->backoff_ms * 2 > 100 ? 100 : f->backoff_ms * 2) : 1;
            eddy_sleep_init(&f->backoff, EDDY_MS(f->backoff_ms));
            int rc = 0;
            if (eddy_sleep_poll(&f->backoff, cx, &rc) == EDDY_READY) {
                retry = true;
                continue;
            }
            f->stalled = 1;
            eddy_waker_set(&c->fd_waiter, cx->waker);
            return EDDY_PENDING;
        }
        f->waiting = 0;
        *out = -e;
        return EDDY_READY;
    }
}

void eddy_accept_drop(eddy_accept *f)
{
    eddy__io_unwait(f->l ? &f->l->io : NULL, EDDY__IO_READ, &f->waiting);
    if (f->stalled) {
        eddy_sleep_drop(&f->backoff);
        f->stalled = 0;
    }
}

/* ---- stream ---------------------------------------------------------------- */

EDDY_HIDDEN int eddy__io_open_stream(eddy_io *io, int fd);

int eddy_tcp_open(eddy_tcp *s, int fd)
{
    if (!s)
        return -EINVAL;
    return eddy__io_open_stream(&s->io, fd);
}

int eddy_tcp_close(eddy_tcp *s) { return s ? eddy_io_close(&s->io) : 0; }

int eddy_tcp_set_nodelay(eddy_tcp *s, bool on)
{
    int v = on ? 1 : 0;
    if (!s || !s->io.registered)
        return -EBADF;
    return setsockopt(s->io.fd, IPPROTO_TCP, TCP_NODELAY, &v, sizeof v) < 0 ? -errno : 0;
}

int eddy_tcp_local_addr(const eddy_tcp *s, eddy_addr *out)
{
    if (!s || !out || !s->io.registered)
        return -EBADF;
    out->len = sizeof out->u.ss;
    return getsockname(s->io.fd, &out->u.sa, &out->len) < 0 ? -errno : 0;
}

int eddy_tcp_peer_addr(const eddy_tcp *s, eddy_addr *out)
{
    if (!s || !out || !s->io.registered)
        return -EBADF;
    out->len = sizeof out->u.ss;
    return getpeername(s->io.fd, &out->u.sa, &out->len) < 0 ? -errno : 0;
}

/* ---- connect ----------------------------------------------------------------- */

enum { CONN_START, CONN_WAIT, CONN_DONE };

void eddy_connect_init(eddy_connect *f, eddy_tcp *s, const eddy_addr *addr, uint64_t timeout_ns)
{
    memset(f, 0, sizeof *f);
    f->s = s;
    if (addr)
        f->addr = *addr;
    f->timeout_ns = timeout_ns;
    f->state = CONN_START;
}

static eddy_poll conn_fail(eddy_connect *f, int err, int *out)
{
    if (f->s->io.registered)
        eddy_io_close(&f->s->io);
    f->waiting = 0;
    if (f->timeout_ns)
        eddy_sleep_drop(&f->deadline);
    f->state = CONN_DONE;
    *out = err;
    return EDDY_READY;
}

eddy_poll eddy_connect_poll(eddy_connect *f, eddy_cx *cx, int *out)
{
    eddy_io *io = &f->s->io;
    if (f->state == CONN_START) {
        if (f->addr.len == 0) {
            f->state = CONN_DONE;
            *out = -EINVAL;
            return EDDY_READY;
        }
        int fd = socket(f->addr.u.sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            f->state = CONN_DONE;
            *out = -errno;
            return EDDY_READY;
        }
        /* connect before registering: a socket that has not started
         * connecting polls as writable (and hung up), so registered first,
         * a driver waiting on another thread could report it writable before
         * connect() runs, and the handshake would look finished while still
         * in SYN-SENT.  Registered after, the registration's own poll sees
         * SYN-SENT (nothing) or the finished handshake (writable): either
         * way no edge is lost. */
        int c = connect(fd, &f->addr.u.sa, f->addr.len);
        int cerr = c == 0 ? 0 : errno;
        if (c != 0 && cerr != EINPROGRESS && cerr != EINTR) {
            close(fd);
            f->state = CONN_DONE;
            *out = -cerr;
            return EDDY_READY;
        }
        int r = eddy__io_open_stream(io, fd);
        if (r < 0) {
            close(fd);
            f->state = CONN_DONE;
            *out = r;
            return EDDY_READY;
        }
        if (c == 0) {
            f->state = CONN_DONE;
            *out = 0;
            return EDDY_READY;
        }
        f->state = CONN_WAIT;
        if (f->timeout_ns)
            eddy_sleep_init(&f->deadline, f->timeout_ns);
    }
    if (f->state != CONN_WAIT) {
        *out = -EDDY_EMISUSE;
        return EDDY_READY;
    }
    if (eddy__io_ready(io) & EDDY__IO_WRITE) {
        int err = 0;
        socklen_t len = sizeof err;
        if (getsockopt(io->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
            err = errno;
        if (err)
            return conn_fail(f, -err, out);
        f->waiting = 0;
        if (f->timeout_ns)
            eddy_sleep_drop(&f->deadline);
        f->state = CONN_DONE;
        *out = 0;
        return EDDY_READY;
    }
    if (f->timeout_ns) {
        int rc = 0;
        if (eddy_sleep_poll(&f->deadline, cx, &rc) == EDDY_READY)
            return conn_fail(f, rc < 0 ? rc : -ETIMEDOUT, out);
    }
    return eddy__io_wait_for(io, EDDY__IO_WRITE, &f->waiting, cx);
}

void eddy_connect_drop(eddy_connect *f)
{
    if (f->state == CONN_WAIT) {
        /* Cancelled mid-handshake: the half-open socket is of no use. */
        if (f->timeout_ns)
            eddy_sleep_drop(&f->deadline);
        eddy_io_close(&f->s->io);
        f->state = CONN_DONE;
    }
    f->waiting = 0;
}

/* ---- shutdown / close ---------------------------------------------------------- */

void eddy_shutdown_init(eddy_shutdown *f, eddy_io *io, int how)
{
    f->io = io;
    f->how = how;
}

eddy_poll eddy_shutdown_poll(eddy_shutdown *f, eddy_cx *cx, int *out)
{
    (void)cx;
    int r;
    if (!f->io || !f->io->registered)
        r = -EBADF;
    else if (EDDY_UNLIKELY(f->io->flags & EDDY__IOF_RING))
        r = eddy__ring_shutdown(f->io, f->how); /* the FIN follows buffered sends */
    else
        r = shutdown(f->io->fd, f->how) < 0 ? -errno : 0;
    if (out)
        *out = r;
    return EDDY_READY;
}

void eddy_close_init(eddy_close *f, eddy_io *io) { f->io = io; }

eddy_poll eddy_close_poll(eddy_close *f, eddy_cx *cx, int *out)
{
    (void)cx;
    int r = eddy_io_close(f->io);
    if (out)
        *out = r;
    return EDDY_READY;
}
