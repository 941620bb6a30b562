/* idle_conns - opens idle connections to an echo server, in stages, for
 * measuring the server's memory per idle connection (bench/conns.sh).
 * No libeddy.
 *
 *     idle_conns --port P --stages N1,N2,... [--addr A] [--size S]
 *                [--batch B] [--connect-timeout SEC] [--hold SEC]
 *
 * Stage by stage, it opens connections until N1 (then N2, ...) are open;
 * on each new connection it sends one message of S bytes (64) and waits
 * for its echo, checked byte for byte, so the server has accepted the
 * connection, set it up and served it once (a task spawned and polled, a
 * thread started, a goroutine parked on its read) before it counts.  At
 * most B (500) connections are being set up at a time, so the server's
 * accept queue never overflows.  Then the connection stays idle: nothing
 * more is sent on it.
 *
 * After each stage it prints "READY conns=N" and waits for a line on its
 * standard input: any line goes on to the next stage (after the last one,
 * it closes everything and exits); end of input stops it at once.  It
 * never waits for ever: a stage must be set up within --connect-timeout
 * (30 s), and a line must come within --hold (120 s), or it exits 1.
 * Before exiting it counts the connections the server has closed
 * meanwhile ("DONE closed_by_server=K": an idle connection must stay
 * open).  Exit status 0 if every connection came up and stayed, 1
 * otherwise, 2 for bad usage.
 *
 * The soft RLIMIT_NOFILE is raised to the hard limit.  Loopback use: the
 * default address is 127.0.0.1.
 */
#include "common.h"

#include <poll.h>
#include <sys/epoll.h>

#define PROG "idle_conns"
#define MAX_STAGES 32
#define MAX_SIZE 4096

enum { I_CONNECTING = 1, I_WAITING, I_IDLE };

struct ic {
    int fd;
    uint8_t state;
    uint32_t got;
};

static struct {
    const char *addr;
    int port;
    uint32_t size, batch;
    double connect_timeout, hold;
    uint32_t stages[MAX_STAGES];
    unsigned nstages;
} cfg = {.addr = "127.0.0.1", .port = -1, .size = 64, .batch = 500, .connect_timeout = 30, .hold = 120};

static struct ic *conns;
static int epfd;
static struct sockaddr_storage ss;
static socklen_t sslen;

static void fill(char *buf, uint32_t id)
{
    for (uint32_t i = 0; i < cfg.size; i++)
        buf[i] = (char)(uint8_t)(id * 131u + i * 7u + 1u);
}

static void fail(uint32_t id, const char *what, int err)
{
    fprintf(stderr, PROG ": connection %u: %s%s%s\n", id, what, err ? ": " : "", err ? strerror(err) : "");
    exit(1);
}

static void start(uint32_t id)
{
    struct ic *c = &conns[id];
    c->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        fail(id, "socket", errno);
    bench_nodelay(c->fd);
    if (connect(c->fd, (struct sockaddr *)&ss, sslen) < 0 && errno != EINPROGRESS)
        fail(id, "connect", errno);
    c->state = I_CONNECTING;
    struct epoll_event e = {.events = EPOLLOUT, .data.u32 = id};
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &e) < 0)
        fail(id, "epoll_ctl", errno);
}

/* Opens connections [from, to): each sends one message and gets it back. */
static void open_stage(uint32_t from, uint32_t to)
{
    static struct epoll_event evs[256];
    char msg[MAX_SIZE], buf[MAX_SIZE];
    uint32_t next = from, pending = 0, done = 0;
    uint64_t deadline = bench_now_ns() + (uint64_t)(cfg.connect_timeout * 1e9);
    while (done < to - from) {
        while (next < to && pending < cfg.batch) {
            start(next++);
            pending++;
        }
        int n = epoll_wait(epfd, evs, 256, 100);
        if (n < 0 && errno != EINTR)
            bench_die(PROG, "epoll_wait: %s", strerror(errno));
        for (int i = 0; i < n; i++) {
            uint32_t id = evs[i].data.u32;
            struct ic *c = &conns[id];
            if (c->state == I_CONNECTING) {
                int err = 0;
                socklen_t len = sizeof err;
                if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
                    err = errno;
                if (err)
                    fail(id, "connect", err);
                fill(msg, id);
                ssize_t w = send(c->fd, msg, cfg.size, MSG_NOSIGNAL);
                if (w != (ssize_t)cfg.size)
                    fail(id, "send (short or failed)", w < 0 ? errno : 0);
                struct epoll_event e = {.events = EPOLLIN, .data.u32 = id};
                if (epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &e) < 0)
                    fail(id, "epoll_ctl", errno);
                c->state = I_WAITING;
            } else if (c->state == I_WAITING) {
                ssize_t r = read(c->fd, buf, cfg.size - c->got);
                if (r < 0 && (errno == EAGAIN || errno == EINTR))
                    continue;
                if (r <= 0)
                    fail(id, r == 0 ? "closed by the server before the echo" : "read", r < 0 ? errno : 0);
                fill(msg, id);
                if (memcmp(buf, msg + c->got, (size_t)r) != 0)
                    fail(id, "the echo differs from the message", 0);
                c->got += (uint32_t)r;
                if (c->got == cfg.size) {
                    /* Idle from now on: out of the epoll set. */
                    epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
                    c->state = I_IDLE;
                    pending--;
                    done++;
                }
            }
        }
        if (bench_now_ns() > deadline) {
            fprintf(stderr, PROG ": only %u of %u connections up within %.0f s\n", from + done, to,
                    cfg.connect_timeout);
            exit(1);
        }
    }
}

/* Waits for a line on stdin: 1 for a line, 0 at end of input. */
static int wait_line(void)
{
    struct pollfd p = {.fd = 0, .events = POLLIN};
    uint64_t deadline = bench_now_ns() + (uint64_t)(cfg.hold * 1e9);
    char line[256];
    size_t have = 0;
    for (;;) {
        uint64_t now = bench_now_ns();
        if (now >= deadline) {
            fprintf(stderr, PROG ": no line on stdin within %.0f s\n", cfg.hold);
            exit(1);
        }
        int r = poll(&p, 1, (int)((deadline - now) / 1000000 + 1));
        if (r < 0 && errno != EINTR)
            bench_die(PROG, "poll: %s", strerror(errno));
        if (r <= 0)
            continue;
        ssize_t n = read(0, line + have, sizeof line - have);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return 0;
        if (memchr(line + have, '\n', (size_t)n))
            return 1;
        have = (have + (size_t)n) % sizeof line;
    }
}

static void usage(void)
{
    fprintf(stderr, "usage: " PROG " --port P --stages N1,N2,... [--addr A] [--size S] [--batch B]\n"
                    "                  [--connect-timeout SEC] [--hold SEC]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            usage();
        i++;
        if (!strcmp(a, "--port")) {
            cfg.port = (int)bench_parse_long(PROG, a, v, 1, 65535);
        } else if (!strcmp(a, "--addr")) {
            cfg.addr = v;
        } else if (!strcmp(a, "--size")) {
            cfg.size = (uint32_t)bench_parse_long(PROG, a, v, 1, MAX_SIZE);
        } else if (!strcmp(a, "--batch")) {
            cfg.batch = (uint32_t)bench_parse_long(PROG, a, v, 1, 100000);
        } else if (!strcmp(a, "--connect-timeout")) {
            cfg.connect_timeout = bench_parse_double(PROG, a, v, 0.1, 3600);
        } else if (!strcmp(a, "--hold")) {
            cfg.hold = bench_parse_double(PROG, a, v, 0.1, 3600);
        } else if (!strcmp(a, "--stages")) {
            char tmp[512];
            snprintf(tmp, sizeof tmp, "%s", v);
            uint32_t last = 0;
            for (char *save = NULL, *t = strtok_r(tmp, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                if (cfg.nstages == MAX_STAGES)
                    bench_die(PROG, "--stages: at most %d stages", MAX_STAGES);
                uint32_t n = (uint32_t)bench_parse_long(PROG, a, t, 1, 1000000);
                if (n <= last)
                    bench_die(PROG, "--stages: counts must increase");
                cfg.stages[cfg.nstages++] = last = n;
            }
        } else {
            usage();
        }
    }
    if (cfg.port < 0 || cfg.nstages == 0)
        usage();
    sslen = bench_make_addr(&ss, cfg.addr, cfg.port);
    if (!sslen)
        bench_die(PROG, "--addr: not a numeric IPv4/IPv6 address: '%s'", cfg.addr);
    uint32_t max = cfg.stages[cfg.nstages - 1];
    long nofile = bench_raise_nofile();
    if ((long)max + 16 > nofile)
        bench_die(PROG, "%u connections need more descriptors than RLIMIT_NOFILE allows (%ld)", max, nofile);
    conns = calloc(max, sizeof *conns);
    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (!conns || epfd < 0)
        bench_die(PROG, "out of memory or epoll_create1 failed");

    uint32_t open_n = 0;
    int stopped = 0;
    for (unsigned s = 0; s < cfg.nstages && !stopped; s++) {
        uint64_t t = bench_now_ns();
        open_stage(open_n, cfg.stages[s]);
        open_n = cfg.stages[s];
        printf("READY conns=%u secs=%.3f\n", open_n, (double)(bench_now_ns() - t) / 1e9);
        fflush(stdout);
        stopped = !wait_line();
    }

    /* Which idle connections did the server close meanwhile?  (Readable
     * with nothing to read: end of stream or an error.) */
    uint32_t closed = 0;
    for (uint32_t i = 0; i < open_n; i++) {
        char b;
        ssize_t r = recv(conns[i].fd, &b, 1, MSG_DONTWAIT | MSG_PEEK);
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
            closed++;
        close(conns[i].fd);
    }
    printf("DONE conns=%u closed_by_server=%u\n", open_n, closed);
    fflush(stdout);
    return closed ? 1 : 0;
}
