/* eddy/net.h - TCP over IPv4 and IPv6.
 *
 * A listener and a stream are eddy_io's underneath (eddy/io.h), embedded by
 * value: a connection costs its task and nothing else.  Addresses are text
 * ("127.0.0.1:8080", "[::1]:8080") or eddy_addr.  No SIGPIPE, ever: writes
 * on sockets use MSG_NOSIGNAL.
 *
 * The server of the notes, a task per connection:
 *
 *     EDDY_AWAIT(&t->fd, eddy_accept, &t->acc, &t->listener, NULL);
 *     spawn a connection task whose frame holds t->fd; that task calls
 *     eddy_tcp_open(&c->sock, c->fd) in its first poll, then awaits
 *     eddy_read / eddy_write_all on &c->sock.io.
 */
#ifndef EDDY_NET_H
#define EDDY_NET_H

#include <eddy/io.h>
#include <eddy/time.h>
#include <netinet/in.h>
#include <sys/socket.h>

EDDY_BEGIN_DECLS

/* A socket address, IPv4 or IPv6. */
typedef struct eddy_addr {
    union {
        struct sockaddr sa;
        struct sockaddr_in in4;
        struct sockaddr_in6 in6;
        struct sockaddr_storage ss;
    } u;
    socklen_t len;
} eddy_addr;

/* Parses "a.b.c.d:port", "[v6]:port", or "localhost:port" (127.0.0.1).
 * Numeric only: no name resolution here.  Returns 0 or -EINVAL. */
EDDY_API int eddy_addr_parse(eddy_addr *a, const char *text);

/* Writes "ip:port" / "[ip]:port" to buf.  Returns the length, -ENOSPC if
 * buf is too small, -EINVAL for an unknown family. */
EDDY_API int eddy_addr_format(const eddy_addr *a, char *buf, size_t len);

/* The port, in host byte order (0 for an unknown family). */
EDDY_API int eddy_addr_port(const eddy_addr *a);

/* ---- listener ----------------------------------------------------------- */

typedef struct eddy_tcp_listener {
    eddy_io io;
} eddy_tcp_listener;

typedef struct eddy_tcp_opts {
    int backlog;    /* 0 = SOMAXCONN */
    bool reuseport; /* SO_REUSEPORT, to share a port among listeners */
    bool v6only;    /* IPV6_V6ONLY on an IPv6 listener */
} eddy_tcp_opts;

/* Binds (with SO_REUSEADDR) and listens on addr, and registers the
 * listener with the current runtime.  opts may be NULL.  Returns 0,
 * -EINVAL (bad address text), -EADDRINUSE, -EACCES, -EMFILE,
 * -EDDY_ENORUNTIME, or another -errno; on error nothing is left open. */
EDDY_API int eddy_tcp_listen(eddy_tcp_listener *l, const char *addr, const eddy_tcp_opts *opts);
EDDY_API int eddy_tcp_listen_addr(eddy_tcp_listener *l, const eddy_addr *addr, const eddy_tcp_opts *opts);

/* The bound address (useful after binding port 0).  Returns 0 or -errno. */
EDDY_API int eddy_tcp_listener_addr(const eddy_tcp_listener *l, eddy_addr *out);

/* Closes the listener.  No accept may be pending.  Returns 0 or -errno. */
EDDY_API int eddy_tcp_listener_close(eddy_tcp_listener *l);

/* Accepts one connection.  Output: the new descriptor (non-blocking,
 * close-on-exec; the caller owns it: eddy_tcp_open it or close it), or
 * -errno.  Out of descriptors (EMFILE/ENFILE) or memory (ENOBUFS/ENOMEM)
 * is not returned: the future keeps the listener and waits, retrying when
 * this runtime closes a descriptor and on a backoff timer (1 ms doubling
 * to 100 ms), so an accept loop neither spins nor dies; each such episode
 * is counted in eddy_rt_stats.accept_stalls.  peer, if not NULL, receives
 * the peer's address. */
typedef struct eddy_accept {
    eddy_tcp_listener *l;
    eddy_addr *peer;
    uint8_t waiting;
    uint8_t stalled;
    uint32_t backoff_ms;
    eddy_sleep backoff; /* private: armed while out of descriptors */
} eddy_accept;
EDDY_API void eddy_accept_init(eddy_accept *f, eddy_tcp_listener *l, eddy_addr *peer);
EDDY_API eddy_poll eddy_accept_poll(eddy_accept *f, eddy_cx *cx, int *out);
EDDY_API void eddy_accept_drop(eddy_accept *f);

/* ---- stream -------------------------------------------------------------- */

typedef struct eddy_tcp {
    eddy_io io;
} eddy_tcp;

/* Registers an accepted (or otherwise connected) socket fd with the
 * current runtime; the stream owns fd from here.  Returns 0 or -errno (fd
 * stays the caller's on error). */
EDDY_API int eddy_tcp_open(eddy_tcp *s, int fd);

/* Closes the stream.  No future may be pending on it.  Safe on a zeroed
 * or closed stream.  Returns 0 or -errno. */
EDDY_API int eddy_tcp_close(eddy_tcp *s);

/* TCP_NODELAY on or off.  Returns 0 or -errno. */
EDDY_API int eddy_tcp_set_nodelay(eddy_tcp *s, bool on);

/* Local and peer addresses.  Return 0 or -errno. */
EDDY_API int eddy_tcp_local_addr(const eddy_tcp *s, eddy_addr *out);
EDDY_API int eddy_tcp_peer_addr(const eddy_tcp *s, eddy_addr *out);

/* Connects s to addr: creates the socket, registers it, and waits for the
 * handshake.  Output: 0, or -ECONNREFUSED, -ENETUNREACH, -ETIMEDOUT (the
 * kernel's), or another -errno; on error s is closed.  timeout_ns > 0
 * bounds the wait (-ETIMEDOUT when it passes); 0 waits as long as the
 * kernel does. */
typedef struct eddy_connect {
    eddy_tcp *s;
    eddy_addr addr;
    uint64_t timeout_ns;
    uint8_t state;
    uint8_t waiting;
    eddy_sleep deadline; /* private: armed when timeout_ns > 0 */
} eddy_connect;
EDDY_API void eddy_connect_init(eddy_connect *f, eddy_tcp *s, const eddy_addr *addr, uint64_t timeout_ns);
EDDY_API eddy_poll eddy_connect_poll(eddy_connect *f, eddy_cx *cx, int *out);
EDDY_API void eddy_connect_drop(eddy_connect *f);

/* shutdown(2) as a future (ready at once on epoll; a real operation on a
 * completion backend).  how: SHUT_RD, SHUT_WR, SHUT_RDWR.  Output 0 or
 * -errno. */
typedef struct eddy_shutdown {
    eddy_io *io;
    int how;
} eddy_shutdown;
EDDY_API void eddy_shutdown_init(eddy_shutdown *f, eddy_io *io, int how);
EDDY_API eddy_poll eddy_shutdown_poll(eddy_shutdown *f, eddy_cx *cx, int *out);
EDDY_INLINE void eddy_shutdown_drop(eddy_shutdown *f) { (void)f; }

/* eddy_io_close as a future.  Output 0 or -errno. */
typedef struct eddy_close {
    eddy_io *io;
} eddy_close;
EDDY_API void eddy_close_init(eddy_close *f, eddy_io *io);
EDDY_API eddy_poll eddy_close_poll(eddy_close *f, eddy_cx *cx, int *out);
EDDY_INLINE void eddy_close_drop(eddy_close *f) { (void)f; }

EDDY_END_DECLS

#endif
