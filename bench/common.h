/* bench/common.h - small helpers shared by the echo benchmark programs
 * (epoll_echo_server.c, tpc_echo_server.c, loadgen.c).  Plain C and Linux
 * system calls only: nothing here uses libeddy, so the reference servers
 * stay what they claim to be (code written by hand, no runtime). */
#ifndef EDDY_BENCH_COMMON_H
#define EDDY_BENCH_COMMON_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static inline void bench_die(const char *prog, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", prog);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

static inline uint64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Raises the soft RLIMIT_NOFILE to the hard limit.  Returns the new soft
 * limit (or the old one if the raise failed). */
static inline long bench_raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return 1024;
    if (rl.rlim_cur < rl.rlim_max) {
        rlim_t want = rl.rlim_max;
        rl.rlim_cur = want;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
            getrlimit(RLIMIT_NOFILE, &rl);
    }
    return rl.rlim_cur == RLIM_INFINITY ? 1L << 20 : (long)rl.rlim_cur;
}

/* Parses a non-negative integer option value; exits on garbage. */
static inline long bench_parse_long(const char *prog, const char *opt, const char *s, long min, long max)
{
    char *end;
    errno = 0;
    long v = strtol(s ? s : "", &end, 10);
    if (!s || !*s || *end || errno || v < min || v > max)
        bench_die(prog, "%s: expected an integer in [%ld, %ld], got '%s'", opt, min, max, s ? s : "");
    return v;
}

static inline double bench_parse_double(const char *prog, const char *opt, const char *s, double min, double max)
{
    char *end;
    errno = 0;
    double v = strtod(s ? s : "", &end);
    if (!s || !*s || *end || errno || !(v >= min && v <= max))
        bench_die(prog, "%s: expected a number in [%g, %g], got '%s'", opt, min, max, s ? s : "");
    return v;
}

/* Fills *ss with addr (numeric IPv4 or IPv6, or "localhost") and port.
 * Returns the address length, or 0 if addr is not numeric. */
static inline socklen_t bench_make_addr(struct sockaddr_storage *ss, const char *addr, int port)
{
    memset(ss, 0, sizeof *ss);
    if (strcmp(addr, "localhost") == 0)
        addr = "127.0.0.1";
    struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
    if (inet_pton(AF_INET, addr, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        return sizeof *a4;
    }
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET6, addr, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        return sizeof *a6;
    }
    return 0;
}

/* "ip:port" or "[ip]:port". */
static inline void bench_format_addr(const struct sockaddr_storage *ss, char *buf, size_t len)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a4 = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &a4->sin_addr, ip, sizeof ip);
        snprintf(buf, len, "%s:%u", ip, ntohs(a4->sin_port));
    } else {
        const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &a6->sin6_addr, ip, sizeof ip);
        snprintf(buf, len, "[%s]:%u", ip, ntohs(a6->sin6_port));
    }
}

/* Creates a listening TCP socket on addr:port (SO_REUSEADDR, backlog
 * SOMAXCONN), with extra socket() flags (SOCK_NONBLOCK...).  Prints
 * "listening on ip:port" to stdout (flushed: parents wait for that line).
 * Exits on failure. */
static inline int bench_listen(const char *prog, const char *addr, int port, int sock_flags)
{
    struct sockaddr_storage ss;
    socklen_t len = bench_make_addr(&ss, addr, port);
    if (!len)
        bench_die(prog, "--addr: not a numeric IPv4/IPv6 address: '%s'", addr);
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | sock_flags, 0);
    if (fd < 0)
        bench_die(prog, "socket: %s", strerror(errno));
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&ss, len) < 0)
        bench_die(prog, "bind %s port %d: %s", addr, port, strerror(errno));
    if (listen(fd, SOMAXCONN) < 0)
        bench_die(prog, "listen: %s", strerror(errno));
    socklen_t sl = sizeof ss;
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    char text[80];
    bench_format_addr(&ss, text, sizeof text);
    printf("listening on %s\n", text);
    fflush(stdout);
    return fd;
}

static inline void bench_nodelay(int fd)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

#endif
