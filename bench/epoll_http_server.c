/* epoll_http_server - the "zero-cost reference" for the HTTP plaintext
 * benchmark: an HTTP/1.1 server written by hand over edge-triggered epoll,
 * in plain C, on one thread.  No libeddy.
 *
 *     epoll_http_server --port P [--addr A]
 *
 * What it serves: `GET /` answers 200 with the body "Hello, World!"
 * (text/plain), any other request line answers 404; both keep the
 * connection open unless the request has a "Connection: close" header.
 * Requests carry no body (wrk's GETs): a request whose headers announce
 * one (Content-Length other than 0, Transfer-Encoding) is answered 501 and
 * the connection closed, as is a request whose headers exceed 8 KiB.
 *
 * How (what a careful person writes by hand, and nothing else):
 * - One epoll_wait per batch of up to 512 events; a connection is
 *   registered once (EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET) and never
 *   modified.
 * - Per readable event: read into one shared 64 KiB buffer; find the ends
 *   of the requests ("\r\n\r\n") in place; append one response per complete
 *   request to one shared output buffer; one send for all of them (so 16
 *   pipelined requests that arrive together are answered by one write).
 *   A read shorter than the buffer means the receive queue is drained, so
 *   the common case is one read and one send per batch of requests.
 * - The bytes of an incomplete request are kept in a per-connection heap
 *   buffer until the rest arrives; so are the bytes of a short send, and
 *   the connection stops reading until EPOLLOUT has flushed them.
 * - Idle connections hold nothing but their slot in a table indexed by fd.
 * - The Date header is formatted once per second, not per response.
 * - Out of descriptors: the reserve-descriptor trick, as epoll_echo_server.
 * - SIGINT/SIGTERM (signalfd): prints a summary and exits 0.
 */
#include "common.h"

#include <fcntl.h>
#include <signal.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>

#define PROG "epoll_http_server"
#define IN_SIZE (64 * 1024)
#define OUT_SIZE (64 * 1024)
#define MAX_HEADER 8192
#define MAX_EVENTS 512

struct conn {
    char *carry;      /* an incomplete request's bytes, or unsent bytes */
    uint32_t clen;    /* bytes in carry */
    uint32_t coff;    /* unsent: bytes of carry already sent */
    uint8_t sending;  /* carry holds unsent output (else: partial input) */
    uint8_t closing;  /* close once the output is flushed */
};

static struct conn *conns; /* indexed by fd */
static long nconns_max;
static int epfd, lfd, sfd, spare_fd = -1;
static char in[IN_SIZE + MAX_HEADER];
static char out[OUT_SIZE];
static unsigned long long accepted, closed_conns, live, peak, requests;

/* The responses; the 29 bytes of "Date: ..., DD Mon YYYY HH:MM:SS GMT" are
 * rewritten in place once per second. */
static char resp_ok[192], resp_404[192], resp_501[192];
static size_t len_ok, len_404, len_501;
static size_t date_at_ok, date_at_404, date_at_501;
static time_t date_sec = -1;

static size_t make_response(char *dst, size_t cap, const char *status, const char *body, const char *conn_hdr,
                            size_t *date_at)
{
    int n = snprintf(dst, cap,
                     "HTTP/1.1 %s\r\nServer: epoll\r\nDate: Thu, 01 Jan 1970 00:00:00 GMT\r\n"
                     "Content-Type: text/plain\r\nContent-Length: %zu\r\n%s\r\n%s",
                     status, strlen(body), conn_hdr, body);
    if (n < 0 || (size_t)n >= cap)
        bench_die(PROG, "response template too long");
    *date_at = (size_t)(strstr(dst, "Date: ") - dst) + 6;
    return (size_t)n;
}

static void update_date(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME_COARSE, &ts);
    if (ts.tv_sec == date_sec)
        return;
    date_sec = ts.tv_sec;
    struct tm tm;
    gmtime_r(&date_sec, &tm);
    char d[40];
    size_t n = strftime(d, sizeof d, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    if (n != 29)
        return;
    memcpy(resp_ok + date_at_ok, d, 29);
    memcpy(resp_404 + date_at_404, d, 29);
    memcpy(resp_501 + date_at_501, d, 29);
}

static void conn_close(int fd)
{
    struct conn *c = &conns[fd];
    free(c->carry);
    memset(c, 0, sizeof *c);
    close(fd); /* also removes it from the epoll set */
    closed_conns++;
    live--;
}

/* Sends len bytes; on a short send stores the rest in c->carry.  Returns
 * 0 if all was sent, 1 if some is pending, -1 on error. */
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
            c->carry = malloc(len);
            if (!c->carry)
                return -1;
            memcpy(c->carry, p, len);
            c->clen = (uint32_t)len;
            c->coff = 0;
            c->sending = 1;
            return 1;
        }
        return -1;
    }
    return 0;
}

/* Tries to send the pending output.  0 when flushed, 1 if some is still
 * pending, -1 on error. */
static int flush(int fd)
{
    struct conn *c = &conns[fd];
    while (c->coff < c->clen) {
        ssize_t w = send(fd, c->carry + c->coff, c->clen - c->coff, MSG_NOSIGNAL);
        if (w > 0) {
            c->coff += (uint32_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 1;
        return -1;
    }
    free(c->carry);
    c->carry = NULL;
    c->clen = c->coff = 0;
    c->sending = 0;
    return 0;
}

/* A header line "name: value" among the headers [h, end): is it there
 * with a value that starts with `value` (both case-insensitive)? */
static int has_header(const char *h, const char *end, const char *name, const char *value)
{
    size_t nl = strlen(name), vl = strlen(value);
    while (h < end) {
        const char *eol = memchr(h, '\n', (size_t)(end - h));
        if (!eol)
            eol = end;
        if ((size_t)(eol - h) > nl && h[nl] == ':' && strncasecmp(h, name, nl) == 0) {
            const char *v = h + nl + 1;
            while (v < eol && (*v == ' ' || *v == '\t'))
                v++;
            if ((size_t)(eol - v) >= vl && strncasecmp(v, value, vl) == 0)
                return 1;
        }
        h = eol + 1;
    }
    return 0;
}

/* One complete request [p, p + len) (len includes the final "\r\n\r\n"):
 * appends its response to out.  Returns 0, or 1 if the connection must be
 * closed after the output (Connection: close, or an unsupported request). */
static int answer(const char *p, size_t len, size_t *olen)
{
    const char *end = p + len;
    const char *eol = memchr(p, '\n', len);
    const char *hdrs = eol ? eol + 1 : end;
    int close_after = 0;
    const char *r;
    size_t rl;
    if (has_header(hdrs, end, "Transfer-Encoding", "") ||
        (has_header(hdrs, end, "Content-Length", "") && !has_header(hdrs, end, "Content-Length", "0"))) {
        r = resp_501;
        rl = len_501;
        close_after = 1;
    } else if (len >= 16 && memcmp(p, "GET / ", 6) == 0) {
        r = resp_ok;
        rl = len_ok;
    } else {
        r = resp_404;
        rl = len_404;
    }
    if (!close_after && has_header(hdrs, end, "Connection", "close"))
        close_after = 1;
    memcpy(out + *olen, r, rl);
    *olen += rl;
    requests++;
    return close_after;
}

/* Sends out[0, olen); returns what send_or_stash returns. */
static int send_out(int fd, size_t olen)
{
    return olen ? send_or_stash(fd, out, olen) : 0;
}

/* Reads and answers until the receive queue is drained, or until output
 * is pending.  Returns -1 if the connection must be closed now. */
static int serve(int fd, int hup)
{
    struct conn *c = &conns[fd];
    for (;;) {
        /* The incomplete request from last time goes first. */
        size_t have = 0;
        if (c->carry && !c->sending) {
            have = c->clen;
            memcpy(in, c->carry, have);
        }
        ssize_t n;
        do
            n = read(fd, in + have, IN_SIZE);
        while (n < 0 && errno == EINTR);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0; /* drained; the carry stays as it is */
        if (n <= 0)
            return -1; /* EOF or error */
        if (have) {
            free(c->carry);
            c->carry = NULL;
            c->clen = 0;
        }
        size_t total = have + (size_t)n, pos = 0, olen = 0;
        int close_after = 0, r = 0;
        /* "\r\n\r\n" may straddle the old and new bytes: start 3 back. */
        size_t scan = have > 3 ? have - 3 : 0;
        while (!close_after) {
            const char *e = memmem(in + scan, total - scan, "\r\n\r\n", 4);
            if (!e)
                break;
            size_t rend = (size_t)(e - in) + 4;
            if (olen + sizeof resp_ok > OUT_SIZE) {
                /* Over 400 requests in one read: send what is ready. */
                r = send_out(fd, olen);
                olen = 0;
                if (r != 0)
                    return -1; /* error, or a client that pipelines this much and does not read */
            }
            close_after = answer(in + pos, rend - pos, &olen);
            pos = scan = rend;
        }
        r = send_out(fd, olen);
        if (r < 0)
            return -1;
        if (close_after) {
            if (r == 0)
                return -1;
            c->closing = 1; /* close once flushed */
            return 0;
        }
        size_t left = total - pos;
        if (left > MAX_HEADER) {
            /* A request whose headers do not end within 8 KiB. */
            if (r == 0)
                send_or_stash(fd, resp_501, len_501);
            return -1;
        }
        if (left) {
            if (r == 1) {
                /* Output pending and input left over: a client that
                 * pipelines and does not read; not worth a second buffer. */
                return -1;
            }
            c->carry = malloc(left);
            if (!c->carry)
                return -1;
            memcpy(c->carry, in + pos, left);
            c->clen = (uint32_t)left;
        }
        if (r == 1)
            return 0; /* pending: stop reading until flushed */
        if ((size_t)n < IN_SIZE && !hup)
            return 0; /* short read: drained */
    }
}

static void on_conn(int fd, uint32_t ev)
{
    struct conn *c = &conns[fd];
    if (ev & EPOLLERR) {
        conn_close(fd);
        return;
    }
    if (c->sending) {
        if (!(ev & (EPOLLOUT | EPOLLHUP)))
            return; /* still blocked on the peer: read nothing more */
        int r = flush(fd);
        if (r < 0 || (r == 0 && c->closing)) {
            conn_close(fd);
            return;
        }
        if (r > 0)
            return;
        ev |= EPOLLIN; /* data that came meanwhile raised no new edge */
    }
    if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP)) {
        if (serve(fd, (ev & (EPOLLRDHUP | EPOLLHUP)) != 0) < 0)
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
                close(spare_fd);
                fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
                if (fd >= 0)
                    close(fd);
                spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
                continue;
            }
            return;
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

    len_ok = make_response(resp_ok, sizeof resp_ok, "200 OK", "Hello, World!", "", &date_at_ok);
    len_404 = make_response(resp_404, sizeof resp_404, "404 Not Found", "Not Found", "", &date_at_404);
    len_501 = make_response(resp_501, sizeof resp_501, "501 Not Implemented", "Not Implemented",
                            "Connection: close\r\n", &date_at_501);
    update_date();

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
        /* Wakes once a second at least, so the Date header stays current. */
        int n = epoll_wait(epfd, evs, MAX_EVENTS, 1000);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            bench_die(PROG, "epoll_wait: %s", strerror(errno));
        }
        update_date();
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (fd == lfd) {
                on_accept();
            } else if (fd == sfd) {
                struct signalfd_siginfo si;
                if (read(sfd, &si, sizeof si) == (ssize_t)sizeof si) {
                    fprintf(stderr,
                            PROG ": %s: %llu connections accepted, %llu closed, peak %llu open, %llu requests\n",
                            strsignal((int)si.ssi_signo), accepted, closed_conns, peak, requests);
                    return 0;
                }
            } else {
                on_conn(fd, evs[i].events);
            }
        }
    }
}
