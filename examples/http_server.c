/* http_server - an HTTP/1.1 server on eddy: a task per connection,
 * keep-alive and pipelining, static files from the blocking pool.
 *
 *     http_server --port P [--threads N] [--root DIR] [--addr A]
 *                 [--max-conns N] [--header-timeout-ms N] [--idle-timeout-ms N]
 *
 * Prints "listening on <addr>:<port>" on stdout once bound (--port 0 picks
 * a free port) and serves until SIGINT/SIGTERM.
 *
 *   GET /        "Hello, World!" as text/plain (the TechEmpower plaintext
 *                test), with or without --root: it never touches the disk.
 *   GET /path    with --root DIR: the file DIR/path (a directory gives its
 *                index.html); without --root: 404.
 *   HEAD         the same headers, no body.  Other methods: 405.
 *
 * The shape is echo_server's: the root task binds and waits for a signal,
 * a listener task accepts and spawns one task per connection (both in
 * server_common.h, shared with the other example servers).  A
 * connection task waits for readability holding no buffer; when bytes
 * arrive it borrows one block (input half, output half), reads, parses
 * every complete request in place, appends each response to the output
 * half, and sends the whole batch with one writev.  That last point is
 * what makes pipelining pay: 16 pipelined requests cost one read and one
 * write.  The block goes back to the per-thread pool as soon as the input
 * is drained and nothing is half-parsed, so an idle keep-alive connection
 * is its task frame only.
 *
 * Files never block the runtime: open + fstat and every pread run on the
 * blocking pool (eddy_blocking_ex), a chunk at a time, and each chunk goes
 * out with the pending response bytes in front of it.  A read job copies
 * only its header in (in_size), and an open whose connection is gone by
 * the time it ends has its descriptor closed by the job's discard.  Paths are decoded
 * and normalised here (no "..", no NUL, no encoded '/'), then opened with
 * openat2(RESOLVE_BENEATH) relative to the root, so a symlink cannot lead
 * out of it either.
 *
 * Limits, each with an answer and never a crash: request line over 8 KiB
 * 414, head over 8 KiB 431, body over 1 MiB 413, ambiguous framing 400,
 * a head that does not arrive within --header-timeout-ms 408, an idle
 * keep-alive connection, or a peer that stops reading its responses, is
 * dropped after --idle-timeout-ms, connections over --max-conns get a
 * 503.  Every response that ends a connection is
 * followed by a lingering close (shut down the write side, drain the
 * input for a bounded time) so the client reads the answer instead of a
 * reset.
 *
 * Threads.  State shared by connections is either read-only after start
 * (the options, the character tables), atomic (the connection count), or
 * per thread (buffer pools, the formatted Date), so the multi-thread
 * runtime needs no lock here.
 */
#include <eddy.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "server_common.h"

#define IN_SIZE 16384           /* a full head (8 KiB) plus room to read behind it */
#define OUT_SIZE 16384
#define OUT_RESERVE 1024        /* the largest head + body this file writes for one non-file response */
#define HEAD_MAX 8192           /* request line + headers */
#define BODY_MAX (1024 * 1024)  /* Content-Length accepted (and discarded) */
#define PATH_CAP 4096
#define CHUNK (60 * 1024)       /* one pread on the pool; the job block must stay under 64 KiB */
#define LINGER_MS 2000
#define LINGER_BYTES (4u * BODY_MAX)

/* ---- options (read-only once the runtime runs) ------------------------ */

static struct {
    long max_conns;
    uint64_t header_timeout_ns;
    uint64_t idle_timeout_ns;
    const char *root_dir;   /* --root, or NULL */
    int root_fd;            /* -1 without --root */
    char root_real[PATH_MAX]; /* for the fallback check when openat2 is missing */
} opt = {
    .max_conns = 10000,
    .header_timeout_ns = EDDY_MS(10000),
    .idle_timeout_ns = EDDY_MS(60000),
    .root_fd = -1,
};

static atomic_long live_conns;
static atomic_ullong n_refused;

/* ---- per-thread buffer pools (server_common.h) ------------------------- */

enum {
    POOL_IO,   /* IN_SIZE + OUT_SIZE */
    POOL_FILE, /* union file_job */
};

/* ---- character classes ------------------------------------------------ */

static bool tchar[256]; /* RFC 9110 token characters; filled in main */

static void init_tables(void)
{
    for (int ch = 0; ch < 256; ch++)
        tchar[ch] = (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                    (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

static bool ieq(const char *a, size_t n, const char *lower)
{
    for (size_t i = 0; i < n; i++) {
        char ch = a[i];
        if (ch >= 'A' && ch <= 'Z')
            ch = (char)(ch - 'A' + 'a');
        if (ch != lower[i] || !lower[i])
            return false;
    }
    return lower[n] == '\0';
}

/* ---- the Date header, formatted once a second per thread --------------- */

#define HELLO_BODY "Hello, World!"

static _Thread_local struct {
    time_t sec;
    char date[40];
    char hello[200]; /* the whole response to GET / (1.1, keep-alive) */
    size_t hello_len;
} dc = {.sec = -1};

static void date_refresh(void)
{
    time_t now = time(NULL);
    if (now == dc.sec)
        return;
    dc.sec = now;
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(dc.date, sizeof dc.date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    int n = snprintf(dc.hello, sizeof dc.hello,
                     "HTTP/1.1 200 OK\r\nServer: eddy\r\nDate: %s\r\nContent-Type: text/plain\r\n"
                     "Content-Length: %zu\r\n\r\n" HELLO_BODY,
                     dc.date, sizeof HELLO_BODY - 1);
    dc.hello_len = (size_t)n;
}

static const char *reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 431: return "Request Header Fields Too Large";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Internal Server Error";
    }
}

/* Writes a response head to o (at least OUT_RESERVE bytes of room) and
 * returns its length.  conn: 0 no Connection header, 1 keep-alive, 2 close. */
static size_t put_head(char *o, int status, const char *ctype, long long clen, int conn, bool allow)
{
    static const char *const conn_hdr[] = {"", "Connection: keep-alive\r\n", "Connection: close\r\n"};
    int n = snprintf(o, OUT_RESERVE,
                     "HTTP/1.1 %d %s\r\nServer: eddy\r\nDate: %s\r\nContent-Type: %s\r\nContent-Length: %lld\r\n"
                     "%s%s\r\n",
                     status, reason(status), dc.date, ctype, clen, conn_hdr[conn],
                     allow ? "Allow: GET, HEAD\r\n" : "");
    return n > 0 && n < OUT_RESERVE ? (size_t)n : 0;
}

/* ---- files: jobs for the blocking pool --------------------------------- */

struct open_job {
    int root;
    int fd;  /* out: -1 on error */
    int err; /* out: errno */
    long long size;
    char path[PATH_CAP]; /* relative to root; on return the file actually opened */
};

struct read_job {
    int fd;
    int err;
    long long off;
    size_t len;
    ssize_t n;
    char data[CHUNK];
};

union file_job {
    struct open_job o;
    struct read_job r;
};

/* Opens path under root and never outside it, symlinks included. */
static int open_beneath(int root, const char *path)
{
    struct open_how how = {
        .flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, /* O_NONBLOCK: a FIFO must not block the open */
        .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
    };
    long fd = syscall(SYS_openat2, root, path, &how, sizeof how);
    if (fd >= 0 || errno != ENOSYS)
        return (int)fd;
    /* Kernels before 5.6: open, then check where the descriptor really is. */
    int f = openat(root, path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (f < 0)
        return -1;
    char link[64], real[PATH_MAX];
    snprintf(link, sizeof link, "/proc/self/fd/%d", f);
    ssize_t n = readlink(link, real, sizeof real - 1);
    size_t rl = strlen(opt.root_real);
    if (n < 0 || (size_t)n <= rl || memcmp(real, opt.root_real, rl) != 0 || (rl > 1 && real[rl] != '/')) {
        close(f);
        errno = EXDEV;
        return -1;
    }
    return f;
}

static void open_job_fn(void *arg)
{
    struct open_job *j = arg;
    j->fd = -1;
    j->err = 0;
    int fd = open_beneath(j->root, j->path);
    struct stat st;
    if (fd >= 0 && fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        close(fd);
        fd = -1;
        size_t l = strlen(j->path);
        if (!strcmp(j->path, "."))
            l = 0;
        if (l + sizeof "/index.html" > sizeof j->path) {
            errno = ENAMETOOLONG;
        } else {
            memcpy(j->path + l, l ? "/index.html" : "index.html", l ? sizeof "/index.html" : sizeof "index.html");
            fd = open_beneath(j->root, j->path);
            if (fd >= 0 && fstat(fd, &st) < 0) {
                int e = errno;
                close(fd);
                fd = -1;
                errno = e;
            }
        }
    } else if (fd >= 0 && fstat(fd, &st) < 0) {
        int e = errno;
        close(fd);
        fd = -1;
        errno = e;
    }
    if (fd < 0) {
        j->err = errno;
        return;
    }
    if (!S_ISREG(st.st_mode)) { /* devices, FIFOs, sockets: not files to serve */
        close(fd);
        j->err = ENOENT;
        return;
    }
    j->fd = fd;
    j->size = (long long)st.st_size;
}

/* The connection went away while the open ran (its task was dropped): the
 * block is discarded, so the descriptor the job opened is closed here. */
static void open_job_discard(void *arg)
{
    struct open_job *j = arg;
    if (j->fd >= 0)
        close(j->fd);
}

static const eddy_blocking_opts open_opts = {.discard = open_job_discard};
/* A read job's data is output only: copy its header in, not 60 KiB. */
static const eddy_blocking_opts read_opts = {.in_size = offsetof(struct read_job, data)};

static void read_job_fn(void *arg)
{
    struct read_job *j = arg;
    j->n = 0;
    j->err = 0;
    while ((size_t)j->n < j->len) {
        ssize_t r = pread(j->fd, j->data + j->n, j->len - (size_t)j->n, (off_t)(j->off + j->n));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            j->err = errno;
            j->n = -1;
            return;
        }
        if (r == 0)
            break; /* the file shrank: the caller sees a short chunk */
        j->n += r;
    }
}

static const char *content_type(const char *path)
{
    static const struct {
        const char *ext, *type;
    } types[] = {
        {"html", "text/html; charset=utf-8"}, {"htm", "text/html; charset=utf-8"},
        {"css", "text/css; charset=utf-8"},   {"js", "text/javascript; charset=utf-8"},
        {"mjs", "text/javascript; charset=utf-8"}, {"json", "application/json"},
        {"txt", "text/plain; charset=utf-8"}, {"png", "image/png"},
        {"jpg", "image/jpeg"},                {"jpeg", "image/jpeg"},
        {"gif", "image/gif"},                 {"svg", "image/svg+xml"},
        {"ico", "image/x-icon"},              {"wasm", "application/wasm"},
        {"pdf", "application/pdf"},
    };
    const char *slash = strrchr(path, '/');
    const char *dot = strrchr(slash ? slash : path, '.');
    if (dot && dot[1]) {
        size_t n = strlen(dot + 1);
        for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
            if (ieq(dot + 1, n, types[i].ext))
                return types[i].type;
    }
    return "application/octet-stream";
}

/* Decodes and normalises the path of a target ("/a/./b%20c/" -> "a/b c")
 * into dst, relative, without a leading or trailing '/'; the root itself
 * is ".".  Returns 0, 400 (bad escape, NUL) or 404 (a ".." segment, an
 * encoded '/', too long): nothing that could name a file outside the root
 * gets through. */
static int build_path(const char *t, size_t n, char *dst, size_t cap)
{
    size_t o = 0, i = 0;
    while (i < n) {
        if (t[i] == '/') {
            i++;
            continue;
        }
        size_t seg = o;
        while (i < n && t[i] != '/') {
            char ch = t[i];
            if (ch == '%') {
                int hi = i + 2 < n ? srv_hexval(t[i + 1]) : -1, lo = hi >= 0 ? srv_hexval(t[i + 2]) : -1;
                if (lo < 0)
                    return 400;
                ch = (char)(hi * 16 + lo);
                i += 3;
            } else {
                i++;
            }
            if (ch == '\0')
                return 400;
            if (ch == '/')
                return 404;
            if (o + 2 >= cap)
                return 404;
            dst[o++] = ch;
        }
        size_t len = o - seg;
        if (len == 1 && dst[seg] == '.') {
            o = seg;
            continue;
        }
        if (len == 2 && dst[seg] == '.' && dst[seg + 1] == '.')
            return 404;
        dst[o++] = '/';
    }
    if (o == 0)
        dst[o++] = '.';
    else
        o--; /* the separator after the last segment */
    dst[o] = '\0';
    return 0;
}

/* ---- request parsing --------------------------------------------------- */

struct req {
    const char *method;
    size_t mlen;
    char *target;
    size_t tlen;
    int minor;       /* HTTP/1.minor */
    long long clen;  /* -1: no Content-Length */
    int hosts;
    bool te, te_chunked, conn_close, conn_keep, expect;
};

static bool is_ows(char ch) { return ch == ' ' || ch == '\t'; }

/* Content-Length: digits only; a repeated header must repeat the value. */
static int parse_clen(const char *v, size_t n, struct req *r)
{
    if (n == 0)
        return 400;
    long long x = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9')
            return 400;
        if (x < LLONG_MAX / 20)
            x = x * 10 + (v[i] - '0');
        else
            x = LLONG_MAX / 2; /* far over BODY_MAX either way: 413 */
    }
    if (r->clen >= 0 && r->clen != x)
        return 400;
    r->clen = x;
    return 0;
}

/* Comma-separated tokens of Connection and Transfer-Encoding. */
static void scan_tokens(const char *v, size_t n, struct req *r, bool te)
{
    size_t i = 0;
    while (i < n) {
        while (i < n && (is_ows(v[i]) || v[i] == ','))
            i++;
        size_t s = i;
        while (i < n && v[i] != ',' && !is_ows(v[i]))
            i++;
        if (i == s)
            break;
        if (te) {
            r->te_chunked = ieq(v + s, i - s, "chunked"); /* only the last coding matters */
        } else if (ieq(v + s, i - s, "close")) {
            r->conn_close = true;
        } else if (ieq(v + s, i - s, "keep-alive")) {
            r->conn_keep = true;
        }
    }
}

/* Parses one request head at p (avail bytes).  Returns its length, 0 if it
 * is not complete yet, or an error status (negative).  A single LF is
 * accepted as a line end (RFC 9112 2.2); a CR anywhere else is not. */
static int parse_head(char *p, size_t avail, struct req *r)
{
    const size_t lim = avail < HEAD_MAX ? avail : HEAD_MAX;
    char *lf = memchr(p, '\n', lim);
    if (!lf)
        return avail >= HEAD_MAX ? -414 : 0;
    char *le = lf > p && lf[-1] == '\r' ? lf - 1 : lf;

    char *s = p;
    while (s < le && tchar[(uint8_t)*s])
        s++;
    if (s == p || s >= le || *s != ' ')
        return -400;
    r->method = p;
    r->mlen = (size_t)(s - p);
    char *t = ++s;
    while (s < le && (uint8_t)*s > 0x20 && (uint8_t)*s < 0x7f)
        s++;
    if (s == t || s >= le || *s != ' ')
        return -400;
    r->target = t;
    r->tlen = (size_t)(s - t);
    s++;
    if (le - s != 8 || memcmp(s, "HTTP/", 5) != 0 || s[5] < '0' || s[5] > '9' || s[6] != '.' || s[7] < '0' ||
        s[7] > '9')
        return -400;
    if (s[5] != '1')
        return -505;
    r->minor = s[7] - '0';
    r->clen = -1;
    r->hosts = 0;
    r->te = r->te_chunked = r->conn_close = r->conn_keep = r->expect = false;

    char *q = lf + 1;
    for (;;) {
        size_t used = (size_t)(q - p);
        lf = used < lim ? memchr(q, '\n', lim - used) : NULL;
        if (!lf)
            return avail >= HEAD_MAX ? -431 : 0;
        le = lf > q && lf[-1] == '\r' ? lf - 1 : lf;
        if (le == q)
            return (int)(lf + 1 - p);
        if (is_ows(*q))
            return -400; /* obs-fold */
        s = q;
        while (s < le && tchar[(uint8_t)*s])
            s++;
        if (s == q || s >= le || *s != ':')
            return -400; /* no name, or whitespace / junk before the colon */
        const char *name = q;
        size_t nlen = (size_t)(s - q);
        s++;
        while (s < le && is_ows(*s))
            s++;
        char *ve = le;
        while (ve > s && is_ows(ve[-1]))
            ve--;
        for (const char *x = s; x < ve; x++) {
            uint8_t ch = (uint8_t)*x;
            if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
                return -400; /* NUL, a stray CR, other controls */
        }
        size_t vlen = (size_t)(ve - s);
        switch (nlen) {
        case 4:
            if (ieq(name, nlen, "host"))
                r->hosts++;
            break;
        case 6:
            if (ieq(name, nlen, "expect"))
                r->expect = true;
            break;
        case 10:
            if (ieq(name, nlen, "connection"))
                scan_tokens(s, vlen, r, false);
            break;
        case 14:
            if (ieq(name, nlen, "content-length") && parse_clen(s, vlen, r))
                return -400;
            break;
        case 17:
            if (ieq(name, nlen, "transfer-encoding")) {
                r->te = true;
                scan_tokens(s, vlen, r, true);
            }
            break;
        default:
            break;
        }
        q = lf + 1;
    }
}

/* ---- write every byte of an iovec array -------------------------------- */

typedef struct writev_all {
    eddy_writev w;
    eddy_io *io;
    struct iovec *iov;
    int cnt;
    bool started;
} writev_all;

static void writev_all_init(writev_all *f, eddy_io *io, struct iovec *iov, int cnt)
{
    f->io = io;
    f->iov = iov;
    f->cnt = cnt;
    f->started = false;
}

/* Output: 0 once every byte is written, or -errno.  The iovecs are
 * advanced in place over short writes. */
static eddy_poll writev_all_poll(writev_all *f, eddy_cx *cx, ssize_t *out)
{
    for (;;) {
        while (f->cnt > 0 && f->iov->iov_len == 0) {
            f->iov++;
            f->cnt--;
        }
        if (f->cnt == 0) {
            *out = 0;
            return EDDY_READY;
        }
        if (!f->started) {
            eddy_writev_init(&f->w, f->io, f->iov, f->cnt);
            f->started = true;
        }
        ssize_t n;
        if (eddy_writev_poll(&f->w, cx, &n) == EDDY_PENDING)
            return EDDY_PENDING;
        f->started = false;
        if (n <= 0) {
            *out = n < 0 ? n : -EIO;
            return EDDY_READY;
        }
        size_t k = (size_t)n;
        while (k > 0 && f->cnt > 0) {
            size_t take = k < f->iov->iov_len ? k : f->iov->iov_len;
            f->iov->iov_base = (char *)f->iov->iov_base + take;
            f->iov->iov_len -= take;
            k -= take;
            if (f->iov->iov_len == 0) {
                f->iov++;
                f->cnt--;
            }
        }
    }
}

static void writev_all_drop(writev_all *f)
{
    if (f->started)
        eddy_writev_drop(&f->w);
    f->started = false;
}

/* ---- the connection task ----------------------------------------------- */

enum act {
    ACT_MORE,  /* everything complete was answered: read more */
    ACT_FLUSH, /* the output half is full: send it, then parse on */
    ACT_FILE,  /* a file request: open it on the pool, then parse on */
    ACT_CLOSE, /* send what is queued, then close */
};

enum { TIMER_NONE, TIMER_ARMED, TIMER_FIRED };
enum { PEND_NONE, PEND_READ, PEND_WRITE };

struct conn {
    eddy_coro co;
    int fd; /* the accepted descriptor, until eddy_tcp_open owns it */
    int rc;
    int ffd; /* the file being sent, or -1 */
    uint8_t act, timer, minor;
    uint8_t pending; /* PEND_*: the future a WAIT_UNTIL below left pending */
    uint8_t burst;   /* full reads in a row without waiting */
    bool timed_out, partial, full, keep, head_only;
    uint32_t in_len, pos, out_len;
    uint64_t discard; /* body bytes still to skip */
    char *buf;        /* borrowed: input [0, IN_SIZE), output after it */
    union file_job *fj; /* borrowed while a file request runs */
    const char *ctype;
    long long fsize, foff;
    size_t lingered;
    ssize_t n;
    eddy_instant deadline;      /* of the current wait */
    eddy_instant head_deadline; /* of the head being received */
    struct iovec iov[2];
    eddy_tcp sock;
    eddy_sleep timer_sl;
    union {
        eddy_ready rd;
        writev_all wv;
        eddy_blocking bl;
    } op;
};

static void emit_error(struct conn *c, int status, bool keep, int minor)
{
    date_refresh();
    char *o = c->buf + IN_SIZE + c->out_len;
    char body[64];
    int blen = snprintf(body, sizeof body, "%d %s\n", status, reason(status));
    size_t h = put_head(o, status, "text/plain; charset=utf-8", blen, keep ? (minor == 0) : 2, status == 405);
    memcpy(o + h, body, (size_t)blen);
    c->out_len += (uint32_t)(h + (size_t)blen);
}

/* The absolute form ("http://host/path", RFC 9112 3.2.2) must be accepted
 * too: keep its path (the authority is not checked: this server has one
 * site).  A target that is neither form is left to fail the '/' test. */
static void strip_authority(struct req *r)
{
    size_t skip = 0;
    if (r->tlen >= 7 && ieq(r->target, 7, "http://"))
        skip = 7;
    else if (r->tlen >= 8 && ieq(r->target, 8, "https://"))
        skip = 8;
    if (!skip)
        return;
    char *t = r->target + skip, *end = r->target + r->tlen;
    while (t < end && *t != '/' && *t != '?')
        t++;
    if (t == end || *t == '?') { /* "http://host" or "http://host?q": the path is "/" */
        *--t = '/';
    }
    r->tlen = (size_t)(end - t);
    r->target = t;
}

/* Answers every complete request in the input half.  Returns what the
 * task must do next. */
static enum act process(struct conn *c)
{
    date_refresh();
    for (;;) {
        if (c->discard) {
            uint64_t k = c->in_len - c->pos;
            if (k > c->discard)
                k = c->discard;
            c->pos += (uint32_t)k;
            c->discard -= k;
            if (c->discard) {
                c->pos = c->in_len = 0; /* all of it was body */
                return ACT_MORE;
            }
        }
        /* Empty lines before a request line are ignored (RFC 9112 2.2). */
        while (c->pos < c->in_len && (c->buf[c->pos] == '\n' ||
                                      (c->buf[c->pos] == '\r' && c->pos + 1 < c->in_len && c->buf[c->pos + 1] == '\n')))
            c->pos += c->buf[c->pos] == '\r' ? 2 : 1;
        if (c->pos == c->in_len) {
            c->pos = c->in_len = 0;
            return ACT_MORE;
        }
        if (OUT_SIZE - c->out_len < OUT_RESERVE)
            return ACT_FLUSH;

        struct req r;
        int hl = parse_head(c->buf + c->pos, c->in_len - c->pos, &r);
        if (hl == 0)
            return ACT_MORE;
        if (hl < 0) {
            emit_error(c, -hl, false, 1);
            return ACT_CLOSE;
        }
        c->pos += (uint32_t)hl;
        c->partial = false; /* the next head gets its own header timeout */

        /* Framing first: a request whose end cannot be found for sure
         * closes the connection. */
        int bad = 0;
        if (r.te)
            bad = r.clen >= 0 || r.minor == 0 ? 400 : r.te_chunked ? 411 : 501;
        else if (r.hosts > 1 || (r.minor >= 1 && r.hosts != 1))
            bad = 400; /* HTTP/1.1 needs exactly one Host; 1.0 at most one */
        else if (r.clen > BODY_MAX)
            bad = 413;
        if (bad) {
            emit_error(c, bad, false, r.minor);
            return ACT_CLOSE;
        }
        c->discard = r.clen > 0 ? (uint64_t)r.clen : 0;
        /* A client that waits for "100 Continue" may never send the body
         * once it has a final answer: the connection cannot go on. */
        bool keep = !r.conn_close && (r.minor >= 1 || r.conn_keep) && !(r.expect && r.clen > 0);
        bool get = r.mlen == 3 && !memcmp(r.method, "GET", 3);
        bool head = r.mlen == 4 && !memcmp(r.method, "HEAD", 4);
        if (get || head)
            strip_authority(&r);
        if (!get && !head) {
            emit_error(c, 405, keep, r.minor);
        } else if (r.target[0] != '/') {
            emit_error(c, 400, keep, r.minor); /* '*', or no path at all */
        } else {
            size_t plen = r.tlen;
            char *qm = memchr(r.target, '?', plen);
            if (qm)
                plen = (size_t)(qm - r.target);
            if (plen == 1) {
                char *o = c->buf + IN_SIZE + c->out_len;
                if (r.minor >= 1 && keep) {
                    size_t len = dc.hello_len - (head ? sizeof HELLO_BODY - 1 : 0);
                    memcpy(o, dc.hello, len);
                    c->out_len += (uint32_t)len;
                } else {
                    size_t h = put_head(o, 200, "text/plain", sizeof HELLO_BODY - 1, keep ? 1 : 2, false);
                    if (get)
                        memcpy(o + h, HELLO_BODY, sizeof HELLO_BODY - 1);
                    c->out_len += (uint32_t)(h + (get ? sizeof HELLO_BODY - 1 : 0));
                }
            } else if (opt.root_fd < 0) {
                emit_error(c, 404, keep, r.minor);
            } else if (!(c->fj = srv_pool_get(POOL_FILE, sizeof(union file_job)))) {
                emit_error(c, 503, keep, r.minor);
            } else {
                int st = build_path(r.target, plen, c->fj->o.path, sizeof c->fj->o.path);
                if (st) {
                    srv_pool_put(POOL_FILE, c->fj);
                    c->fj = NULL;
                    emit_error(c, st, keep, r.minor);
                } else {
                    c->fj->o.root = opt.root_fd;
                    c->keep = keep;
                    c->head_only = head;
                    c->minor = (uint8_t)r.minor; /* for the response's Connection header */
                    return ACT_FILE;
                }
            }
        }
        if (!keep)
            return ACT_CLOSE;
    }
}

/* True once c->deadline has passed; otherwise the timer will wake the
 * task.  The timer is lazy: it stays armed at an older, earlier deadline
 * and is only moved when it fires early, so a busy keep-alive connection
 * costs no timer operation per request. */
static bool deadline_passed(struct conn *c, eddy_cx *cx)
{
    if (c->timer == TIMER_NONE) {
        eddy_sleep_until_init(&c->timer_sl, c->deadline);
        c->timer = TIMER_ARMED;
    } else if (c->timer == TIMER_FIRED || eddy_sleep_deadline(&c->timer_sl) > c->deadline) {
        eddy_sleep_reset(&c->timer_sl, c->deadline);
        c->timer = TIMER_ARMED;
    }
    while (eddy_sleep_poll(&c->timer_sl, cx, NULL) == EDDY_READY) {
        c->timer = TIMER_FIRED;
        if (eddy_sleep_deadline(&c->timer_sl) >= c->deadline)
            return true;
        eddy_sleep_reset(&c->timer_sl, c->deadline);
        c->timer = TIMER_ARMED;
    }
    return false;
}

/* Readability or the deadline, whichever comes first (a select by hand). */
static bool read_or_deadline(struct conn *c, eddy_cx *cx)
{
    c->timed_out = false;
    if (eddy_ready_poll(&c->op.rd, cx, &c->rc) == EDDY_READY)
        return true;
    if (!deadline_passed(c, cx))
        return false;
    eddy_ready_drop(&c->op.rd);
    c->timed_out = true;
    return true;
}

/* The whole output, or -ETIMEDOUT in c->n if the peer stops reading. */
static bool write_or_deadline(struct conn *c, eddy_cx *cx)
{
    if (writev_all_poll(&c->op.wv, cx, &c->n) == EDDY_READY)
        return true;
    if (!deadline_passed(c, cx))
        return false;
    writev_all_drop(&c->op.wv);
    c->n = -ETIMEDOUT;
    return true;
}

/* Starts sending iov[0, cnt): a peer that reads nothing for the idle
 * timeout is dropped. */
static void start_write(struct conn *c, int cnt)
{
    writev_all_init(&c->op.wv, &c->sock.io, c->iov, cnt);
    c->deadline = eddy_now() + opt.idle_timeout_ns;
    c->pending = PEND_WRITE;
}

static eddy_poll conn_poll(struct conn *c, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&c->co, cx);
    if (eddy_tcp_open(&c->sock, c->fd) < 0)
        EDDY_RETURN(); /* the cleanup closes c->fd */
    c->fd = -1;
    eddy_tcp_set_nodelay(&c->sock, true); /* responses are whole: never wait for an ACK to send */
    c->deadline = eddy_now() + opt.header_timeout_ns;
    for (;;) {
        eddy_readable_init(&c->op.rd, &c->sock.io);
        c->pending = PEND_READ;
        EDDY_WAIT_UNTIL(read_or_deadline(c, cx));
        c->pending = PEND_NONE;
        if (c->timed_out) {
            if (!c->partial)
                EDDY_RETURN(); /* idle, or a connection that never sent a byte */
            emit_error(c, 408, false, 1);
            c->act = ACT_CLOSE;
            goto send_and_close;
        }
        if (c->rc < 0)
            EDDY_RETURN();
        if (!c->buf && !(c->buf = srv_pool_get(POOL_IO, IN_SIZE + OUT_SIZE)))
            EDDY_RETURN();
        for (c->burst = 0;; c->burst++) {
            if (c->burst == 16) {
                /* A peer that keeps the buffer full (a flood of empty
                 * lines, say) must not starve the other connections. */
                c->burst = 0;
                EDDY_YIELD();
            }
            if (c->pos > 0) {
                memmove(c->buf, c->buf + c->pos, c->in_len - c->pos);
                c->in_len -= c->pos;
                c->pos = 0;
            }
            {
                size_t room = IN_SIZE - c->in_len;
                c->n = eddy_io_try_read(&c->sock.io, c->buf + c->in_len, room);
                if (c->n == -EAGAIN)
                    break;
                if (c->n <= 0)
                    EDDY_RETURN(); /* the peer closed (a half-sent request dies with it), or an error */
                c->full = (size_t)c->n == room;
                c->in_len += (uint32_t)c->n;
            }
            for (;;) {
                c->act = (uint8_t)process(c);
                if (c->act == ACT_FILE) {
                    EDDY_AWAIT(&c->rc, eddy_blocking_ex, &c->op.bl, open_job_fn, c->fj, sizeof(struct open_job), c->fj,
                               &open_opts);
                    if (c->rc < 0 || c->fj->o.fd < 0) {
                        int e = c->rc < 0 ? 0 : c->fj->o.err;
                        srv_pool_put(POOL_FILE, c->fj);
                        c->fj = NULL;
                        emit_error(c, (c->rc < 0 || e == EMFILE || e == ENFILE || e == ENOMEM) ? 503 : 404, c->keep,
                                   c->minor);
                        c->act = c->keep ? ACT_FLUSH : ACT_CLOSE;
                    } else {
                        c->ffd = c->fj->o.fd;
                        c->fsize = c->fj->o.size;
                        c->ctype = content_type(c->fj->o.path);
                        c->out_len += (uint32_t)put_head(c->buf + IN_SIZE + c->out_len, 200, c->ctype, c->fsize,
                                                         c->keep ? (c->minor == 0) : 2, false);
                        for (c->foff = 0; !c->head_only && c->foff < c->fsize;) {
                            c->fj->r.fd = c->ffd;
                            c->fj->r.off = c->foff;
                            c->fj->r.len = c->fsize - c->foff < CHUNK ? (size_t)(c->fsize - c->foff) : CHUNK;
                            EDDY_AWAIT(&c->rc, eddy_blocking_ex, &c->op.bl, read_job_fn, c->fj, sizeof(struct read_job),
                                       c->fj, &read_opts);
                            if (c->rc < 0 || c->fj->r.n <= 0)
                                EDDY_RETURN(); /* Content-Length is promised: only a close tells the truth */
                            c->iov[0] = (struct iovec){c->buf + IN_SIZE, c->out_len};
                            c->iov[1] = (struct iovec){c->fj->r.data, (size_t)c->fj->r.n};
                            start_write(c, 2);
                            EDDY_WAIT_UNTIL(write_or_deadline(c, cx));
                            c->pending = PEND_NONE;
                            if (c->n < 0)
                                EDDY_RETURN();
                            c->out_len = 0;
                            c->foff += c->fj->r.n;
                        }
                        close(c->ffd);
                        c->ffd = -1;
                        srv_pool_put(POOL_FILE, c->fj);
                        c->fj = NULL;
                        c->act = c->keep ? ACT_FLUSH : ACT_CLOSE;
                    }
                }
                if (c->out_len) {
                    c->iov[0] = (struct iovec){c->buf + IN_SIZE, c->out_len};
                    start_write(c, 1);
                    EDDY_WAIT_UNTIL(write_or_deadline(c, cx));
                    c->pending = PEND_NONE;
                    if (c->n < 0)
                        EDDY_RETURN();
                    c->out_len = 0;
                }
                if (c->act != ACT_FLUSH && c->act != ACT_FILE)
                    break;
            }
            if (c->act == ACT_CLOSE)
                goto linger;
            if (!c->full)
                break;
        }
        /* What the next wait is bounded by: the rest of a half-arrived
         * head (its clock started with its first byte), or idleness. */
        if (c->pos < c->in_len && !c->discard) {
            if (!c->partial) {
                c->partial = true;
                c->head_deadline = eddy_now() + opt.header_timeout_ns;
            }
            c->deadline = c->head_deadline;
        } else {
            c->partial = false;
            c->deadline = eddy_now() + opt.idle_timeout_ns;
        }
        if (c->in_len == 0) {
            srv_pool_put(POOL_IO, c->buf);
            c->buf = NULL;
        }
    }

send_and_close:
    c->iov[0] = (struct iovec){c->buf + IN_SIZE, c->out_len};
    start_write(c, 1);
    EDDY_WAIT_UNTIL(write_or_deadline(c, cx));
    c->pending = PEND_NONE;
    if (c->n < 0)
        EDDY_RETURN();
    c->out_len = 0;

linger:
    /* Closing with unread input would send a reset, which can destroy the
     * response before the client reads it: end the write side, then
     * drain for a bounded time and amount. */
    shutdown(eddy_io_fd(&c->sock.io), SHUT_WR);
    c->deadline = eddy_now() + EDDY_MS(LINGER_MS);
    for (c->lingered = 0; c->lingered < LINGER_BYTES;) {
        eddy_readable_init(&c->op.rd, &c->sock.io);
        c->pending = PEND_READ;
        EDDY_WAIT_UNTIL(read_or_deadline(c, cx));
        c->pending = PEND_NONE;
        if (c->timed_out || c->rc < 0)
            break;
        c->n = eddy_io_try_read(&c->sock.io, c->buf, IN_SIZE);
        if (c->n == -EAGAIN)
            continue;
        if (c->n <= 0)
            break;
        c->lingered += (size_t)c->n;
    }

    EDDY_FINALLY();
    if (c->pending == PEND_READ)
        eddy_ready_drop(&c->op.rd);
    else if (c->pending == PEND_WRITE)
        writev_all_drop(&c->op.wv);
    if (c->timer != TIMER_NONE)
        eddy_sleep_drop(&c->timer_sl);
    if (c->ffd >= 0)
        close(c->ffd);
    if (c->fj)
        srv_pool_put(POOL_FILE, c->fj);
    if (c->buf)
        srv_pool_put(POOL_IO, c->buf);
    if (c->fd >= 0)
        close(c->fd);
    eddy_tcp_close(&c->sock);
    atomic_fetch_sub_explicit(&live_conns, 1, memory_order_relaxed);
    EDDY_DONE();
}

EDDY_CORO_VT_VOID(conn_vt, struct conn, conn_poll);

/* ---- accepting ------------------------------------------------------------ */

static const char resp_503[] = "HTTP/1.1 503 Service Unavailable\r\nServer: eddy\r\nContent-Type: text/plain\r\n"
                               "Content-Length: 24\r\nConnection: close\r\n\r\n503 Service Unavailable\n";

/* Over --max-conns: answer on the spot.  A fresh socket's send buffer is
 * empty, so this small write does not block; if it fails the peer only
 * sees the close. */
static void refuse(int fd)
{
    ssize_t n = send(fd, resp_503, sizeof resp_503 - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
    (void)n;
    shutdown(fd, SHUT_WR);
    close(fd);
    atomic_fetch_add_explicit(&n_refused, 1, memory_order_relaxed);
}

/* The listener's on_accept (server_common.h): a connection task for fd,
 * or a 503 when --max-conns connections are open or no task can be had. */
static int conn_spawn(int fd)
{
    if (atomic_fetch_add_explicit(&live_conns, 1, memory_order_relaxed) >= opt.max_conns) {
        atomic_fetch_sub_explicit(&live_conns, 1, memory_order_relaxed);
        refuse(fd);
        return 0;
    }
    struct conn init = {.fd = fd, .ffd = -1};
    if (eddy_spawn_local(&conn_vt, &init, NULL) < 0) {
        atomic_fetch_sub_explicit(&live_conns, 1, memory_order_relaxed);
        refuse(fd);
    }
    return 0;
}

/* ---- main ----------------------------------------------------------------- */

static bool http_option(struct srv *s, const char *name, const char *v)
{
    if (!strcmp(name, "--root"))
        opt.root_dir = v;
    else if (!strcmp(name, "--max-conns"))
        opt.max_conns = (long)srv_num(s, name, v, 1, 10000000);
    else if (!strcmp(name, "--header-timeout-ms"))
        opt.header_timeout_ns = EDDY_MS(srv_num(s, name, v, 1, 86400000));
    else if (!strcmp(name, "--idle-timeout-ms"))
        opt.idle_timeout_ns = EDDY_MS(srv_num(s, name, v, 1, 86400000));
    else
        return false;
    return true;
}

int main(int argc, char **argv)
{
    static const eddy_tcp_opts listen_opts = {.backlog = 4096};
    struct srv s = {
        .name = "http_server",
        .usage = "usage: http_server --port P [--threads N] [--io epoll|io_uring] [--root DIR] [--addr A] [--max-conns N]\n"
                 "                   [--header-timeout-ms N] [--idle-timeout-ms N]\n",
        .on_accept = conn_spawn,
        .listen_opts = &listen_opts,
    };
    srv_parse_args(&s, argc, argv, http_option);
    init_tables();

    if (opt.root_dir) {
        opt.root_fd = open(opt.root_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (opt.root_fd < 0 || !realpath(opt.root_dir, opt.root_real)) {
            fprintf(stderr, "http_server: --root %s: %s\n", opt.root_dir, strerror(errno));
            return 2;
        }
    }

    eddy_rt *rt;
    if (srv_setup(&s, &rt) < 0)
        return 1;
    fprintf(stderr, "http_server: %s; a connection is a task: %zu B frame; %d KiB buffers borrowed "
            "while data flows; root %s\n",
            s.flavor, sizeof(struct conn), (IN_SIZE + OUT_SIZE) / 1024, opt.root_dir ? opt.root_dir : "(none)");

    int status = srv_run(&s, rt);
    eddy_rt_free(rt); /* drops the connections still open: each closes its socket */
    srv_pools_release();
    if (opt.root_fd >= 0)
        close(opt.root_fd);
    fprintf(stderr, "http_server: %llu connections accepted, %llu refused with 503\n",
            s.accepted, (unsigned long long)atomic_load(&n_refused));
    return status;
}
