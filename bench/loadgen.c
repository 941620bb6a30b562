/* loadgen - an echo load generator over epoll (no libeddy).
 *
 *     loadgen --port P --conns C --inflight K --size S --duration SEC
 *             [--warmup SEC] [--addr A] [--verify | --no-verify]
 *             [--threads T] [--batch N] [--connect-timeout SEC] [--quiet]
 *
 * Opens C connections to an echo server and keeps K messages of S bytes in
 * flight on each: every completed echo sends the next message.  Every
 * echoed byte is checked (on by default; --verify says so explicitly,
 * --no-verify turns it off): the content of message number s on
 * connection c is a pattern seeded by (c, s), so a lost, duplicated,
 * reordered or misrouted byte is a mismatch, and so is a byte echoed that
 * was never sent.
 *
 * Timeline, bounded in time whatever the server does:
 *   connect  each connection sends one message and waits for its echo;
 *            at most --batch (1000) wait at a time, so a server's accept
 *            queue never overflows; a connection not up within
 *            --connect-timeout (10 s) fails;
 *   warmup   once every connection is up (or failed), all of them start
 *            keeping `inflight` messages going: --warmup (1 s), then
 *   measure  --duration seconds: messages/s and per-message round-trip
 *            latency (histogram, ~3% buckets) count only this window;
 *   drain    no new messages; the ones in flight must come back within
 *            3 s (those that do not are lost: an error).
 *
 * Prints a summary and one machine-readable line:
 *   RESULT conns=.. conns_ok=.. conns_failed=.. inflight=.. size=.. secs=..
 *          msgs=.. msgs_per_s=.. p50_us=.. p99_us=.. p999_us=.. max_us=..
 *          bytes=.. total_msgs=.. mismatches=.. lost=.. errors=.. connect_s=..
 * (bytes: echoed bytes in the window; total_msgs: all echoes of the run,
 * for per-message server CPU).  Exit status: 0, 1 if any connection failed
 * or any byte was wrong or lost, 2 for bad usage.
 *
 * The soft RLIMIT_NOFILE is raised to the hard limit at start.
 * Loopback use: the default address is 127.0.0.1.
 */
#include "common.h"

#include <pthread.h>
#include <stdatomic.h>
#include <sys/epoll.h>

#define PROG "loadgen"
#define SBUF_SIZE (64 * 1024)
#define RBUF_SIZE (64 * 1024)
#define MAX_EVENTS 256
#define DRAIN_NS (3 * 1000000000ull)

/* ---- configuration and shared state ------------------------------------- */

static struct {
    const char *addr;
    int port;
    uint32_t conns, inflight, size, threads, batch;
    double duration, warmup, connect_timeout;
    int verify, quiet;
    struct sockaddr_storage ss;
    socklen_t sslen;
} cfg = {
    .addr = "127.0.0.1",
    .port = -1,
    .threads = 1,
    .batch = 1000,
    .warmup = 1.0,
    .connect_timeout = 10.0,
    .verify = 1,
};

static uint64_t t0;                     /* start */
static atomic_uint settled;             /* connections up or failed */
static _Atomic uint64_t t_settled;      /* when every connection settled (0: not yet) */

/* ---- histogram: 64 exact buckets, then 32 per power of two -------------- */

#define HSUB 32
#define HBUCKETS (64 + 58 * HSUB)

static inline unsigned hbucket(uint64_t v)
{
    if (v < 64)
        return (unsigned)v;
    unsigned e = 63u - (unsigned)__builtin_clzll(v); /* >= 6 */
    return 64u + (e - 6u) * HSUB + (unsigned)((v >> (e - 5u)) - HSUB);
}

static inline double hvalue(unsigned b) /* midpoint of a bucket */
{
    if (b < 64)
        return b;
    unsigned e = (b - 64u) / HSUB + 6u, m = (b - 64u) % HSUB + HSUB;
    double width = (double)(1ull << (e - 5u));
    return (double)m * width + width / 2;
}

static double hpercentile(const uint64_t *h, uint64_t count, double p)
{
    if (count == 0)
        return 0;
    uint64_t want = (uint64_t)(p * (double)count);
    if (want >= count)
        want = count - 1;
    uint64_t acc = 0;
    for (unsigned b = 0; b < HBUCKETS; b++) {
        acc += h[b];
        if (acc > want)
            return hvalue(b);
    }
    return hvalue(HBUCKETS - 1);
}

/* ---- the byte pattern ----------------------------------------------------- */

static inline uint64_t splitmix(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

/* Bytes [off, off+len) of message seq of connection id, into dst, using
 * words as scratch (len + 16 bytes).  Word j of a message is
 * seed + j * odd: distinct at every 8-byte offset, so a shifted stream
 * never matches. */
static inline void pattern(char *dst, uint64_t *words, uint32_t id, uint64_t seq, uint32_t off, uint32_t len)
{
    uint64_t seed = splitmix(((uint64_t)id << 40) ^ seq);
    uint32_t j0 = off / 8, j1 = (off + len + 7) / 8;
    for (uint32_t j = j0; j < j1; j++)
        words[j - j0] = seed + (uint64_t)j * 0xD6E8FEB86659FD93ull;
    memcpy(dst, (char *)words + (off % 8), len);
}

/* ---- connections and workers ------------------------------------------ */

enum { C_IDLE, C_CONNECTING, C_UP, C_FAILED };

struct lconn {
    int fd;
    uint32_t id;
    uint8_t state;
    uint8_t out_armed; /* EPOLLOUT in the interest set */
    uint8_t first;     /* first echo seen */
    uint8_t quiet;     /* draining: nothing in flight any more */
    uint32_t send_off; /* bytes of message `sent` already written */
    uint32_t recv_off; /* bytes of message `recvd` already received */
    uint64_t sent;     /* messages fully written */
    uint64_t recvd;    /* messages fully echoed */
    uint64_t *ts;      /* send time of message s at ts[s % inflight] */
};

struct worker {
    pthread_t thread;
    int epfd;
    struct lconn *c;
    uint32_t n, next_start, pending, batch;
    uint32_t up, failed, quiet;
    int stopping, settled_local;
    int kicked; /* every connection settled: full load started */
    uint64_t msgs, bytes, total_msgs, mismatches, lost, errors;
    uint64_t hist[HBUCKETS];
    char sbuf[SBUF_SIZE];
    char rbuf[RBUF_SIZE];
    char exp[RBUF_SIZE];
    uint64_t words[RBUF_SIZE / 8 + 4];
    struct epoll_event evs[MAX_EVENTS];
    char first_err[160];
};

static void settle_one(void)
{
    if (atomic_fetch_add(&settled, 1) + 1 == cfg.conns) {
        uint64_t zero = 0;
        atomic_compare_exchange_strong(&t_settled, &zero, bench_now_ns());
    }
}

static void conn_fail(struct worker *w, struct lconn *c, const char *what, int err)
{
    if (c->state == C_FAILED)
        return;
    if (!w->first_err[0])
        snprintf(w->first_err, sizeof w->first_err, "connection %u: %s%s%s", c->id, what, err ? ": " : "",
                 err ? strerror(err) : "");
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    if (c->state != C_IDLE && !c->first)
        w->pending--;
    if (!c->first)
        settle_one(); /* it never came up: it settles as failed */
    else
        w->up--;
    c->state = C_FAILED;
    w->failed++;
    w->errors++;
}

static int set_events(struct worker *w, struct lconn *c, uint32_t ev)
{
    struct epoll_event e = {.events = ev, .data.u32 = (uint32_t)(c - w->c)};
    return epoll_ctl(w->epfd, EPOLL_CTL_MOD, c->fd, &e);
}

/* Writes messages until `inflight` are outstanding (or, draining, until
 * the message begun is complete).  Returns 0, or -1 after failing c. */
static int send_some(struct worker *w, struct lconn *c, uint64_t now)
{
    const uint32_t S = cfg.size, K = cfg.inflight;
    uint64_t limit = w->stopping ? c->sent + (c->send_off > 0) : c->recvd + K;
    if (!w->kicked && limit > 1)
        limit = 1; /* connect phase: one message, to see the connection work */
    while (c->sent < limit) {
        size_t fill = 0;
        uint64_t s = c->sent;
        uint32_t off = c->send_off;
        while (s < limit && fill < SBUF_SIZE) {
            uint32_t m = S - off;
            if (m > SBUF_SIZE - fill)
                m = (uint32_t)(SBUF_SIZE - fill);
            if (off == 0)
                c->ts[s % K] = now;
            pattern(w->sbuf + fill, w->words, c->id, s, off, m);
            fill += m;
            off += m;
            if (off == S) {
                s++;
                off = 0;
            }
        }
        ssize_t wr = send(c->fd, w->sbuf, fill, MSG_NOSIGNAL);
        if (wr < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK) {
                conn_fail(w, c, "send", errno);
                return -1;
            }
            wr = 0;
        }
        uint64_t pos = (uint64_t)c->send_off + (uint64_t)wr;
        c->sent += pos / S;
        c->send_off = (uint32_t)(pos % S);
        if ((size_t)wr < fill) {
            if (!c->out_armed) {
                set_events(w, c, EPOLLIN | EPOLLOUT);
                c->out_armed = 1;
            }
            return 0;
        }
    }
    if (c->out_armed) {
        set_events(w, c, EPOLLIN);
        c->out_armed = 0;
    }
    return 0;
}

static inline uint64_t measure_start(void)
{
    uint64_t t = atomic_load_explicit(&t_settled, memory_order_relaxed);
    return t ? t + (uint64_t)(cfg.warmup * 1e9) : UINT64_MAX;
}

static void check_quiet(struct worker *w, struct lconn *c)
{
    if (w->stopping && !c->quiet && c->state == C_UP && c->recvd == c->sent && c->send_off == 0 &&
        c->recv_off == 0) {
        c->quiet = 1;
        w->quiet++;
    }
}

static void on_readable(struct worker *w, struct lconn *c, uint64_t mstart, uint64_t mend)
{
    const uint32_t S = cfg.size, K = cfg.inflight;
    ssize_t n;
    do
        n = read(c->fd, w->rbuf, RBUF_SIZE);
    while (n < 0 && errno == EINTR);
    if (n < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            conn_fail(w, c, "read", errno);
        return;
    }
    if (n == 0) {
        conn_fail(w, c, "the server closed the connection", 0);
        return;
    }
    uint64_t now = bench_now_ns();
    uint64_t have = c->recvd * S + c->recv_off + (uint64_t)n;
    if (have > c->sent * S + c->send_off) {
        w->mismatches++;
        conn_fail(w, c, "echoed more bytes than were sent", 0);
        return;
    }
    const char *p = w->rbuf;
    size_t rem = (size_t)n;
    int in_window = now >= mstart && now < mend;
    while (rem > 0) {
        uint32_t m = S - c->recv_off;
        if (m > rem)
            m = (uint32_t)rem;
        if (cfg.verify) {
            pattern(w->exp, w->words, c->id, c->recvd, c->recv_off, m);
            if (memcmp(w->exp, p, m) != 0) {
                uint32_t i = 0;
                while (i < m && w->exp[i] == p[i])
                    i++;
                w->mismatches++;
                char what[96];
                snprintf(what, sizeof what, "byte mismatch in message %llu at offset %u",
                         (unsigned long long)c->recvd, c->recv_off + i);
                conn_fail(w, c, what, 0);
                return;
            }
        }
        p += m;
        rem -= m;
        c->recv_off += m;
        if (c->recv_off == S) {
            c->recv_off = 0;
            if (in_window) {
                uint64_t lat = now - c->ts[c->recvd % K];
                w->hist[hbucket(lat)]++;
                w->msgs++;
                w->bytes += S;
            }
            c->recvd++;
            w->total_msgs++;
            if (!c->first) {
                c->first = 1;
                w->pending--;
                w->up++;
                settle_one();
            }
        }
    }
    if (send_some(w, c, now) == 0)
        check_quiet(w, c);
}

static void on_connected(struct worker *w, struct lconn *c)
{
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        err = errno;
    if (err) {
        conn_fail(w, c, "connect", err);
        return;
    }
    c->state = C_UP;
    c->out_armed = 0;
    set_events(w, c, EPOLLIN);
    send_some(w, c, bench_now_ns());
}

static void start_conn(struct worker *w, struct lconn *c)
{
    w->pending++;
    c->state = C_CONNECTING;
    c->fd = socket(cfg.ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        conn_fail(w, c, "socket", errno);
        return;
    }
    bench_nodelay(c->fd);
    int r = connect(c->fd, (struct sockaddr *)&cfg.ss, cfg.sslen);
    if (r < 0 && errno != EINPROGRESS) {
        conn_fail(w, c, "connect", errno);
        return;
    }
    struct epoll_event e = {.events = r == 0 ? EPOLLIN : EPOLLOUT, .data.u32 = (uint32_t)(c - w->c)};
    if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, c->fd, &e) < 0) {
        conn_fail(w, c, "epoll_ctl", errno);
        return;
    }
    if (r == 0) {
        c->state = C_UP;
        send_some(w, c, bench_now_ns());
    }
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct epoll_event *evs = w->evs;
    const uint64_t connect_deadline = t0 + (uint64_t)(cfg.connect_timeout * 1e9);
    const uint64_t dur = (uint64_t)(cfg.duration * 1e9);
    const uint64_t hard_deadline =
        connect_deadline + (uint64_t)(cfg.warmup * 1e9) + dur + DRAIN_NS + 1000000000ull;
    uint64_t drain_deadline = UINT64_MAX;
    for (;;) {
        while (!w->stopping && w->next_start < w->n && w->pending < w->batch)
            start_conn(w, &w->c[w->next_start++]);
        uint64_t mstart = measure_start();
        uint64_t mend = mstart == UINT64_MAX ? UINT64_MAX : mstart + dur;
        if (mstart != UINT64_MAX && !w->kicked) {
            /* Everyone is connected: from here every connection keeps
             * `inflight` messages going. */
            w->kicked = 1;
            uint64_t now = bench_now_ns();
            for (uint32_t i = 0; i < w->n; i++)
                if (w->c[i].state == C_UP)
                    send_some(w, &w->c[i], now);
        }

        int nev = epoll_wait(w->epfd, evs, MAX_EVENTS, 5);
        if (nev < 0 && errno != EINTR) {
            snprintf(w->first_err, sizeof w->first_err, "epoll_wait: %s", strerror(errno));
            w->errors++;
            break;
        }
        for (int i = 0; i < nev; i++) {
            struct lconn *c = &w->c[evs[i].data.u32];
            uint32_t ev = evs[i].events;
            if (c->state == C_CONNECTING) {
                on_connected(w, c);
                continue;
            }
            if (c->state != C_UP)
                continue;
            if (ev & (EPOLLIN | EPOLLHUP | EPOLLERR))
                on_readable(w, c, mstart, mend);
            if (c->state == C_UP && (ev & EPOLLOUT) && c->out_armed) {
                if (send_some(w, c, bench_now_ns()) == 0)
                    check_quiet(w, c);
            }
        }

        uint64_t now = bench_now_ns();
        if (now >= connect_deadline && !w->settled_local) {
            /* Whatever is not up by now fails (never-started ones too). */
            for (uint32_t i = 0; i < w->n; i++) {
                struct lconn *c = &w->c[i];
                if (c->state == C_IDLE || (c->state == C_CONNECTING) || (c->state == C_UP && !c->first))
                    conn_fail(w, c, "not up within the connect timeout", 0);
            }
            w->next_start = w->n;
        }
        if (w->up + w->failed == w->n) {
            w->settled_local = 1;
            if (w->up == 0)
                break; /* every connection of this worker failed: nothing to measure */
        }
        if (!w->stopping && now >= mend) {
            w->stopping = 1;
            drain_deadline = now + DRAIN_NS;
            for (uint32_t i = 0; i < w->n; i++)
                check_quiet(w, &w->c[i]);
        }
        if (w->stopping && w->quiet + w->failed >= w->n)
            break;
        if (now >= drain_deadline || now >= hard_deadline) {
            for (uint32_t i = 0; i < w->n; i++) {
                struct lconn *c = &w->c[i];
                if (c->state == C_UP && !c->quiet) {
                    w->lost += c->sent - c->recvd + (c->send_off || c->recv_off);
                    conn_fail(w, c, "echoes did not come back in time", 0);
                }
                if (c->state == C_IDLE || c->state == C_CONNECTING)
                    conn_fail(w, c, "never connected", 0);
            }
            break;
        }
    }
    for (uint32_t i = 0; i < w->n; i++)
        if (w->c[i].fd >= 0)
            close(w->c[i].fd);
    return NULL;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: " PROG " --port P --conns C --inflight K --size S --duration SEC\n"
            "               [--warmup SEC] [--addr A] [--verify | --no-verify] [--threads T]\n"
            "               [--batch N] [--connect-timeout SEC] [--quiet]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    int have_conns = 0, have_inflight = 0, have_size = 0, have_duration = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--verify")) {
            cfg.verify = 1;
            continue;
        }
        if (!strcmp(a, "--no-verify")) {
            cfg.verify = 0;
            continue;
        }
        if (!strcmp(a, "--quiet")) {
            cfg.quiet = 1;
            continue;
        }
        if (!v)
            usage();
        i++;
        if (!strcmp(a, "--port")) {
            cfg.port = (int)bench_parse_long(PROG, a, v, 1, 65535);
        } else if (!strcmp(a, "--addr")) {
            cfg.addr = v;
        } else if (!strcmp(a, "--conns")) {
            cfg.conns = (uint32_t)bench_parse_long(PROG, a, v, 1, 1000000);
            have_conns = 1;
        } else if (!strcmp(a, "--inflight")) {
            cfg.inflight = (uint32_t)bench_parse_long(PROG, a, v, 1, 4096);
            have_inflight = 1;
        } else if (!strcmp(a, "--size")) {
            cfg.size = (uint32_t)bench_parse_long(PROG, a, v, 1, 16 << 20);
            have_size = 1;
        } else if (!strcmp(a, "--duration")) {
            cfg.duration = bench_parse_double(PROG, a, v, 0.01, 3600);
            have_duration = 1;
        } else if (!strcmp(a, "--warmup")) {
            cfg.warmup = bench_parse_double(PROG, a, v, 0, 3600);
        } else if (!strcmp(a, "--threads")) {
            cfg.threads = (uint32_t)bench_parse_long(PROG, a, v, 1, 256);
        } else if (!strcmp(a, "--batch")) {
            cfg.batch = (uint32_t)bench_parse_long(PROG, a, v, 1, 1000000);
        } else if (!strcmp(a, "--connect-timeout")) {
            cfg.connect_timeout = bench_parse_double(PROG, a, v, 0.1, 3600);
        } else {
            usage();
        }
    }
    if (cfg.port < 0 || !have_conns || !have_inflight || !have_size || !have_duration)
        usage();
    cfg.sslen = bench_make_addr(&cfg.ss, cfg.addr, cfg.port);
    if (!cfg.sslen)
        bench_die(PROG, "--addr: not a numeric IPv4/IPv6 address: '%s'", cfg.addr);
    if (cfg.threads > cfg.conns)
        cfg.threads = cfg.conns;

    long nofile = bench_raise_nofile();
    if ((long)cfg.conns + 16 + 2 * (long)cfg.threads > nofile)
        bench_die(PROG, "--conns %u needs more descriptors than RLIMIT_NOFILE allows (%ld)", cfg.conns, nofile);

    struct lconn *conns = calloc(cfg.conns, sizeof *conns);
    uint64_t *ts = calloc((size_t)cfg.conns * cfg.inflight, sizeof *ts);
    struct worker *ws = calloc(cfg.threads, sizeof *ws);
    if (!conns || !ts || !ws)
        bench_die(PROG, "out of memory");
    for (uint32_t i = 0; i < cfg.conns; i++) {
        conns[i].fd = -1;
        conns[i].id = i;
        conns[i].ts = ts + (size_t)i * cfg.inflight;
    }
    uint32_t per = cfg.conns / cfg.threads, extra = cfg.conns % cfg.threads, at = 0;
    for (uint32_t t = 0; t < cfg.threads; t++) {
        struct worker *w = &ws[t];
        w->n = per + (t < extra);
        w->c = conns + at;
        at += w->n;
        w->batch = cfg.batch / cfg.threads ? cfg.batch / cfg.threads : 1;
        w->epfd = epoll_create1(EPOLL_CLOEXEC);
        if (w->epfd < 0)
            bench_die(PROG, "epoll_create1: %s", strerror(errno));
    }

    if (!cfg.quiet) {
        printf(PROG ": %s port %d: %u connections x %u in flight x %u bytes, %.1f s (+%.1f s warmup), %u "
               "thread%s, verify %s\n",
               cfg.addr, cfg.port, cfg.conns, cfg.inflight, cfg.size, cfg.duration, cfg.warmup, cfg.threads,
               cfg.threads == 1 ? "" : "s", cfg.verify ? "on" : "off");
        fflush(stdout);
    }
    t0 = bench_now_ns();
    for (uint32_t t = 1; t < cfg.threads; t++)
        if (pthread_create(&ws[t].thread, NULL, worker_main, &ws[t]) != 0)
            bench_die(PROG, "pthread_create failed");
    worker_main(&ws[0]);
    for (uint32_t t = 1; t < cfg.threads; t++)
        pthread_join(ws[t].thread, NULL);

    /* ---- report ---- */
    static uint64_t hist[HBUCKETS];
    uint64_t msgs = 0, bytes = 0, total = 0, mism = 0, lost = 0, errors = 0, failed = 0;
    const char *first_err = NULL;
    for (uint32_t t = 0; t < cfg.threads; t++) {
        struct worker *w = &ws[t];
        for (unsigned b = 0; b < HBUCKETS; b++)
            hist[b] += w->hist[b];
        msgs += w->msgs;
        bytes += w->bytes;
        total += w->total_msgs;
        mism += w->mismatches;
        lost += w->lost;
        errors += w->errors;
        failed += w->failed;
        if (!first_err && w->first_err[0])
            first_err = w->first_err;
    }
    uint64_t ts_settled = atomic_load(&t_settled);
    double connect_s = ts_settled ? (double)(ts_settled - t0) / 1e9 : -1;
    double secs = cfg.duration;
    double rate = (double)msgs / secs;
    double p50 = hpercentile(hist, msgs, 0.50) / 1e3, p99 = hpercentile(hist, msgs, 0.99) / 1e3;
    double p999 = hpercentile(hist, msgs, 0.999) / 1e3, pmax = hpercentile(hist, msgs, 1.0) / 1e3;
    uint64_t ok = cfg.conns - failed;
    if (!cfg.quiet) {
        printf("  connected   %llu/%u (settled in %.3f s)\n", (unsigned long long)ok, cfg.conns, connect_s);
        printf("  messages    %llu in %.2f s = %.0f msg/s (%.1f MB/s each way)\n", (unsigned long long)msgs, secs,
               rate, (double)bytes / secs / 1e6);
        printf("  latency     p50 %.1f us   p99 %.1f us   p99.9 %.1f us   max %.1f us\n", p50, p99, p999, pmax);
        printf("  verified    %s; %llu mismatches, %llu lost, %llu failed connections\n",
               cfg.verify ? "every echoed byte" : "off (--no-verify)", (unsigned long long)mism,
               (unsigned long long)lost, (unsigned long long)failed);
        if (first_err)
            printf("  first error %s\n", first_err);
    }
    printf("RESULT conns=%u conns_ok=%llu conns_failed=%llu inflight=%u size=%u secs=%.3f msgs=%llu "
           "msgs_per_s=%.0f p50_us=%.1f p99_us=%.1f p999_us=%.1f max_us=%.1f bytes=%llu total_msgs=%llu "
           "mismatches=%llu lost=%llu errors=%llu connect_s=%.3f\n",
           cfg.conns, (unsigned long long)ok, (unsigned long long)failed, cfg.inflight, cfg.size, secs,
           (unsigned long long)msgs, rate, p50, p99, p999, pmax, (unsigned long long)bytes,
           (unsigned long long)total, (unsigned long long)mism, (unsigned long long)lost,
           (unsigned long long)errors, connect_s);
    fflush(stdout);
    return (failed || mism || lost || errors) ? 1 : 0;
}
