/* epoll_echo_server - the "zero-cost reference": an echo server written by
 * hand over edge-triggered epoll, in plain C, on one thread.  No libeddy.
 *
 *     epoll_echo_server --port P [--addr A]
 *
 * It is what eddy's echo_server must match: the same syscalls a careful
 * person writes by hand, and nothing else.
 *
 * - One epoll_wait per batch of up to 512 events.
 * - A connection is registered once (EPOLLIN | EPOLLOUT | EPOLLRDHUP |
 *   EPOLLET) and never modified: no epoll_ctl per message.
 * - Per readable event: read into one shared 16 KiB buffer, send it back.
 *   A read shorter than the buffer means the socket's receive queue is
 *   drained (epoll(7) on stream sockets), so no read ends in EAGAIN in the
 *   common case: one read and one send per message.
 * - If a send is short (the peer does not read), the rest is copied to a
 *   per-connection heap buffer and the connection stops reading until
 *   EPOLLOUT has flushed it (back-pressure); only then is the buffer kept.
 * - Idle connections hold nothing but their slot in a table indexed by fd
 *   (16 bytes).
 * - Out of descriptors: libuv's reserve-descriptor trick (close the spare,
 *   accept and close, reopen the spare) so the listener never spins.
 * - SIGINT/SIGTERM (signalfd): prints a summary and exits 0.
 */
#include "common.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>

#define PROG "epoll_echo_server"
#define BUF_SIZE 16384
#define MAX_EVENTS 512

struct conn {
    char *pend;     /* unsent bytes (only after a short send) */
    uint32_t plen;  /* bytes in pend */
    uint32_t poff;  /* bytes of pend already sent */
};

static struct conn *conns;   /* indexed by fd */
static long nconns_max;
static int epfd, lfd, sfd, spare_fd = -1;
static char buf[BUF_SIZE];
static unsigned long long accepted, closed_conns, live, peak;

static void conn_close(int fd)
{
    struct conn *c = &conns[fd];
    free(c->pend);
    c->pend = NULL;
    c->plen = c->poff = 0;
    close(fd); /* also removes it from the epoll set */
    closed_conns++;
    live--;
}

/* Sends len bytes; on a short send stores the rest.  Returns 0 if all was
 * sent, 1 if some is pending, -1 on error. */
static int send_or_stash(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t w = send(fd, p, len, MSG_NOSIGNAL);
        if (w > 0) {
            p += w;
            len -= (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct conn *c = &conns[fd];
            c->pend = malloc(len);
            if (!c->pend)
                return -1;
            memcpy(c->pend, p, len);
            c->plen = (uint32_t)len;
            c->poff = 0;
            return 1;
        }
        return -1;
    }
    return 0;
}

/* Tries to send the pending bytes.  Returns 0 when flushed, 1 if some are
 * still pending, -1 on error. */
static int flush(int fd)
{
    struct conn *c = &conns[fd];
    while (c->poff < c->plen) {
        ssize_t w = send(fd, c->pend + c->poff, c->plen - c->poff, MSG_NOSIGNAL);
        if (w > 0) {
            c->poff += (uint32_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 1;
        return -1;
    }
    free(c->pend);
    c->pend = NULL;
    c->plen = c->poff = 0;
    return 0;
}

/* Reads and echoes until the receive queue is drained.  hup: the peer has
 * shut down its side (EPOLLRDHUP/EPOLLHUP seen), so read to the end.
 * Returns -1 if the connection must be closed. */
static int echo(int fd, int hup)
{
    for (;;) {
        ssize_t n = read(fd, buf, BUF_SIZE);
        if (n > 0) {
            int r = send_or_stash(fd, buf, (size_t)n);
            if (r != 0)
                return r < 0 ? -1 : 0; /* pending: stop reading until flushed */
            if (n < BUF_SIZE && !hup)
                return 0; /* short read: drained */
            continue;
        }
        if (n == 0)
            return -1;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return 0;
        return -1;
    }
}

static void on_conn(int fd, uint32_t ev)
{
    struct conn *c = &conns[fd];
    if (ev & EPOLLERR) {
        conn_close(fd);
        return;
    }
    if (c->pend) {
        if (!(ev & (EPOLLOUT | EPOLLHUP)))
            return; /* still blocked on the peer: read nothing more */
        int r = flush(fd);
        if (r < 0) {
            conn_close(fd);
            return;
        }
        if (r > 0)
            return;
        /* Flushed.  Data that came meanwhile raised no new edge for us:
         * read now. */
        ev |= EPOLLIN;
    }
    if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP)) {
        if (echo(fd, (ev & (EPOLLRDHUP | EPOLLHUP)) != 0) < 0)
            conn_close(fd);
    }
}

static void on_accept(void)
{
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
                continue;
            if ((errno == EMFILE || errno == ENFILE) && spare_fd >= 0) {
                /* Free a descriptor, take the connection off the queue and
                 * refuse it, then take the spare back. */
                close(spare_fd);
                fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
                if (fd >= 0)
                    close(fd);
                spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
                continue;
            }
            return; /* EAGAIN, or an error we cannot do anything about */
        }
        if (fd >= nconns_max) {
            close(fd);
            continue;
        }
        bench_nodelay(fd);
        struct epoll_event e = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.fd = fd};
        if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &e) < 0) {
            close(fd);
            continue;
        }
        accepted++;
        if (++live > peak)
            peak = live;
    }
}

static void usage(void)
{
    fprintf(stderr, "usage: " PROG " --port P [--addr A]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *addr = "127.0.0.1";
    long port = -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--port") && v) {
            port = bench_parse_long(PROG, a, v, 0, 65535);
            i++;
        } else if (!strcmp(a, "--addr") && v) {
            addr = v;
            i++;
        } else {
            usage();
        }
    }
    if (port < 0)
        usage();

    nconns_max = bench_raise_nofile();
    conns = calloc((size_t)nconns_max, sizeof *conns);
    if (!conns)
        bench_die(PROG, "out of memory");
    spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);

    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0 || sfd < 0)
        bench_die(PROG, "epoll/signalfd: %s", strerror(errno));
    lfd = bench_listen(PROG, addr, (int)port, SOCK_NONBLOCK);
    struct epoll_event e = {.events = EPOLLIN, .data.fd = lfd};
    epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &e);
    e.data.fd = sfd;
    epoll_ctl(epfd, EPOLL_CTL_ADD, sfd, &e);

    static struct epoll_event evs[MAX_EVENTS];
    for (;;) {
        int n = epoll_wait(epfd, evs, MAX_EVENTS, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            bench_die(PROG, "epoll_wait: %s", strerror(errno));
        }
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (fd == lfd) {
                on_accept();
            } else if (fd == sfd) {
                struct signalfd_siginfo si;
                if (read(sfd, &si, sizeof si) == (ssize_t)sizeof si) {
                    fprintf(stderr, PROG ": %s: %llu connections accepted, %llu closed, peak %llu open\n",
                            strsignal((int)si.ssi_signo), accepted, closed_conns, peak);
                    return 0;
                }
            } else {
                on_conn(fd, evs[i].events);
            }
        }
    }
}
