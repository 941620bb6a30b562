/* demo - the notes' point in numbers: "a task per connection instead of a
 * thread per connection".  `make demo` builds the Release tree and runs
 * this (build/release/examples/demo); it takes about 15 seconds.
 *
 * It starts eddy's echo_server (examples/echo_server.c: one coroutine task
 * per connection) and drives it with bench/loadgen from a second process:
 * 10,000 concurrent connections over loopback, one message in flight on
 * each, every echoed byte checked.  Then the same load against
 * bench/tpc_echo_server, one thread per connection with the default
 * stack.  It prints, side by side: connections served, messages per
 * second, latency, the server's resident memory idle and at its peak
 * (VmHWM), the user-space bytes per connection ((peak - idle) / conns),
 * its threads and its address space.
 *
 * Exit status: 0 when every connection to the eddy server worked and every
 * byte came back intact; 1 otherwise (the thread-per-connection side is
 * reported, not judged: how far it gets depends on the machine); 2 when
 * the sibling programs are missing.
 *
 * The programs are found next to this one, through /proc/self/exe:
 * <build>/examples/echo_server, <build>/bench/loadgen and
 * <build>/bench/tpc_echo_server.  Every child is a process this demo
 * forked: it records their PIDs, signals only those, and each child dies
 * with the demo (PR_SET_PDEATHSIG) if the demo is killed.  Every wait is
 * bounded.  Loopback only (127.0.0.1).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CONNS 10000
#define MSG_SIZE 128
#define MEASURE_S "3"
#define WARMUP_S "1"
#define CONNECT_TIMEOUT_S "6"
#define PHASE_LIMIT_MS 14000 /* a loadgen run never takes longer than this */

static char dir_examples[PATH_MAX], dir_bench[PATH_MAX + 16];

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- children --------------------------------------------------------- */

struct child {
    pid_t pid;
    int out;          /* read end of its stdout+stderr */
    char log[8192];   /* what it printed */
    size_t loglen;
};

static pid_t spawn(const char *path, char *const argv[], int *out_fd)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return -1;
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        close(p[0]);
        close(p[1]);
        return -1;
    }
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent)
            _exit(127);
        dup2(p[1], 1);
        dup2(p[1], 2);
        execv(path, argv);
        fprintf(stderr, "exec %s: %s\n", path, strerror(errno));
        _exit(127);
    }
    close(p[1]);
    fcntl(p[0], F_SETFL, O_NONBLOCK);
    *out_fd = p[0];
    return pid;
}

/* Appends what the child has written so far; returns 0 at end of file. */
static int drain(struct child *c)
{
    for (;;) {
        char tmp[4096];
        ssize_t n = read(c->out, tmp, sizeof tmp);
        if (n > 0) {
            size_t room = sizeof c->log - 1 - c->loglen;
            size_t k = (size_t)n < room ? (size_t)n : room;
            memcpy(c->log + c->loglen, tmp, k);
            c->loglen += k;
            c->log[c->loglen] = 0;
            continue;
        }
        if (n == 0)
            return 0;
        return errno == EAGAIN || errno == EINTR ? 1 : 0;
    }
}

/* Waits up to ms for the child to exit; returns its wait status or -1. */
static int reap(pid_t pid, int ms)
{
    uint64_t end = now_ms() + (uint64_t)ms;
    for (;;) {
        int st;
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            return st;
        if (r < 0 || now_ms() >= end)
            return -1;
        usleep(10000);
    }
}

/* SIGTERM, then SIGKILL after ms; returns the wait status. */
static int stop(struct child *c, int ms)
{
    if (c->pid <= 0)
        return -1;
    kill(c->pid, SIGTERM);
    int st = reap(c->pid, ms);
    if (st == -1) {
        kill(c->pid, SIGKILL);
        st = reap(c->pid, 2000);
    }
    drain(c);
    close(c->out);
    c->pid = 0;
    return st;
}

/* ---- /proc -------------------------------------------------------------- */

/* A "Key:   123 kB" (or plain number) field of /proc/PID/status, or -1. */
static long status_field(pid_t pid, const char *key)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    long v = -1;
    size_t kl = strlen(key);
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, key, kl) == 0 && line[kl] == ':') {
            v = strtol(line + kl + 1, NULL, 10);
            break;
        }
    }
    fclose(f);
    return v;
}

/* utime + stime of a process in seconds (fields 14, 15 of /proc/PID/stat,
 * counted after the command name, which may hold spaces), or -1. */
static double cpu_seconds(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    if (!p)
        return -1;
    unsigned long long ut = 0, st = 0;
    /* after ") ": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* ---- a phase: one server, one loadgen run -------------------------------- */

struct phase {
    const char *title;
    struct child srv, lg;
    int port;
    long rss_idle_kb, hwm_kb, vmpeak_kb, threads_peak;
    double cpu_s;       /* server utime+stime during the loadgen run */
    double total_msgs;  /* every echo of the run */
    int lg_status, srv_status;
    /* from loadgen's RESULT line */
    int have_result;
    long conns_ok, conns_failed, mismatches, lost;
    double msgs_per_s, p50_us, p99_us, connect_s;
    unsigned long long bytes;
};

static double result_num(const char *line, const char *key)
{
    char pat[48];
    snprintf(pat, sizeof pat, " %s=", key);
    const char *p = strstr(line, pat);
    return p ? strtod(p + strlen(pat), NULL) : -1;
}

static int start_server(struct phase *ph, const char *path, char *const argv[])
{
    ph->srv.pid = spawn(path, argv, &ph->srv.out);
    if (ph->srv.pid < 0) {
        fprintf(stderr, "demo: cannot start %s: %s\n", path, strerror(errno));
        return -1;
    }
    uint64_t end = now_ms() + 5000;
    while (now_ms() < end) {
        struct pollfd pfd = {.fd = ph->srv.out, .events = POLLIN};
        poll(&pfd, 1, 50);
        int open_ = drain(&ph->srv);
        const char *l = strstr(ph->srv.log, "listening on ");
        if (l && strchr(l, '\n')) {
            const char *nl = strchr(l, '\n'), *colon = nl; /* the port follows the line's last ':' */
            while (colon > l && *colon != ':')
                colon--;
            ph->port = atoi(colon + 1);
            return ph->port > 0 ? 0 : -1;
        }
        if (!open_)
            break;
    }
    fprintf(stderr, "demo: %s did not start:\n%s\n", path, ph->srv.log);
    return -1;
}

static void run_load(struct phase *ph, const char *loadgen, int conns)
{
    char port[16], nconns[16], size[16];
    snprintf(port, sizeof port, "%d", ph->port);
    snprintf(nconns, sizeof nconns, "%d", conns);
    snprintf(size, sizeof size, "%d", MSG_SIZE);
    char *argv[] = {(char *)"loadgen", "--port", port, "--conns", nconns, "--inflight", "1", "--size", size,
                    "--duration", MEASURE_S, "--warmup", WARMUP_S, "--connect-timeout", CONNECT_TIMEOUT_S,
                    "--verify", "--quiet", NULL};
    double cpu0 = cpu_seconds(ph->srv.pid);
    ph->lg.pid = spawn(loadgen, argv, &ph->lg.out);
    if (ph->lg.pid < 0) {
        fprintf(stderr, "demo: cannot start %s: %s\n", loadgen, strerror(errno));
        ph->lg_status = -1;
        return;
    }
    uint64_t end = now_ms() + PHASE_LIMIT_MS;
    int open_ = 1;
    while (open_ && now_ms() < end) {
        struct pollfd pfd = {.fd = ph->lg.out, .events = POLLIN};
        poll(&pfd, 1, 50);
        open_ = drain(&ph->lg);
        drain(&ph->srv);
        long th = status_field(ph->srv.pid, "Threads");
        if (th > ph->threads_peak)
            ph->threads_peak = th;
    }
    ph->cpu_s = cpu_seconds(ph->srv.pid) - cpu0;
    ph->hwm_kb = status_field(ph->srv.pid, "VmHWM");
    ph->vmpeak_kb = status_field(ph->srv.pid, "VmPeak");
    if (open_) {
        fprintf(stderr, "demo: loadgen ran past %d s: stopping it\n", PHASE_LIMIT_MS / 1000);
        ph->lg_status = stop(&ph->lg, 1000);
    } else {
        ph->lg_status = reap(ph->lg.pid, 5000);
        if (ph->lg_status == -1)
            ph->lg_status = stop(&ph->lg, 1000);
        else
            close(ph->lg.out);
        ph->lg.pid = 0;
    }
    const char *r = strstr(ph->lg.log, "RESULT ");
    if (r) {
        ph->have_result = 1;
        ph->conns_ok = (long)result_num(r, "conns_ok");
        ph->conns_failed = (long)result_num(r, "conns_failed");
        ph->mismatches = (long)result_num(r, "mismatches");
        ph->lost = (long)result_num(r, "lost");
        ph->msgs_per_s = result_num(r, "msgs_per_s");
        ph->p50_us = result_num(r, "p50_us");
        ph->p99_us = result_num(r, "p99_us");
        ph->connect_s = result_num(r, "connect_s");
        ph->bytes = (unsigned long long)result_num(r, "bytes");
        ph->total_msgs = result_num(r, "total_msgs");
    }
}

static void run_phase(struct phase *ph, const char *server, char *const argv[], const char *loadgen, int conns)
{
    printf("%s\n", ph->title);
    fflush(stdout);
    if (start_server(ph, server, argv) < 0) {
        if (ph->srv.pid > 0)
            ph->srv_status = stop(&ph->srv, 1000);
        return;
    }
    usleep(200000);
    ph->rss_idle_kb = status_field(ph->srv.pid, "VmRSS");
    ph->threads_peak = status_field(ph->srv.pid, "Threads");
    printf("      server pid %d on 127.0.0.1:%d, idle RSS %.1f MiB; %d connections connecting...\n", (int)ph->srv.pid,
           ph->port, ph->rss_idle_kb / 1024.0, conns);
    fflush(stdout);
    run_load(ph, loadgen, conns);
    ph->srv_status = stop(&ph->srv, 5000);
    if (ph->have_result)
        printf("      %ld/%d connections up in %.2f s, %s s measured, %ld failed, %ld byte mismatches\n", ph->conns_ok,
               conns, ph->connect_s, MEASURE_S, ph->conns_failed, ph->mismatches);
    else
        printf("      no result from loadgen:\n%s\n", ph->lg.log);
    fflush(stdout);
}

/* ---- output --------------------------------------------------------------- */

static void fmt_bytes(char *buf, size_t len, double b)
{
    if (b < 0)
        snprintf(buf, len, "-");
    else if (b < 1024)
        snprintf(buf, len, "%.0f B", b);
    else if (b < 1024 * 1024)
        snprintf(buf, len, "%.1f KiB", b / 1024);
    else if (b < 1024.0 * 1024 * 1024)
        snprintf(buf, len, "%.1f MiB", b / 1048576);
    else
        snprintf(buf, len, "%.1f GiB", b / 1073741824.0);
}

static void fmt_lat(char *buf, size_t len, double p50_us, double p99_us)
{
    if (p99_us >= 10000)
        snprintf(buf, len, "%.0f / %.0f ms", p50_us / 1000, p99_us / 1000);
    else
        snprintf(buf, len, "%.0f / %.0f us", p50_us, p99_us);
}

static void row(const char *label, const char *a, const char *b) { printf("  %-32s %-22s %s\n", label, a, b); }

static void row_bytes(const char *label, double a, double b)
{
    char x[32], y[32];
    fmt_bytes(x, sizeof x, a);
    fmt_bytes(y, sizeof y, b);
    row(label, x, y);
}

static double per_conn(const struct phase *ph)
{
    if (ph->hwm_kb < 0 || ph->rss_idle_kb < 0 || ph->conns_ok <= 0)
        return -1;
    return (double)(ph->hwm_kb - ph->rss_idle_kb) * 1024.0 / (double)ph->conns_ok;
}

static int exists(char *buf, size_t len, const char *dir, const char *name)
{
    snprintf(buf, len, "%s/%s", dir, name);
    return access(buf, X_OK) == 0;
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) {
        perror("demo: /proc/self/exe");
        return 2;
    }
    self[n] = 0;
    char *slash = strrchr(self, '/');
    *slash = 0;
    snprintf(dir_examples, sizeof dir_examples, "%s", self);
    snprintf(dir_bench, sizeof dir_bench, "%s/../bench", self);

    char echo_server[PATH_MAX + 32], loadgen[PATH_MAX + 32], tpc[PATH_MAX + 32];
    if (!exists(echo_server, sizeof echo_server, dir_examples, "echo_server") ||
        !exists(loadgen, sizeof loadgen, dir_bench, "loadgen") ||
        !exists(tpc, sizeof tpc, dir_bench, "tpc_echo_server")) {
        fprintf(stderr, "demo: needs echo_server next to it and bench/loadgen, bench/tpc_echo_server in the same\n"
                        "build tree (the Release build builds them): run `make demo`\n");
        return 2;
    }

    /* Each process raises its own soft limit to the hard one; check that
     * the hard one leaves room for 10,000 sockets per process. */
    struct rlimit rl;
    int conns = CONNS;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        if (rl.rlim_max != RLIM_INFINITY && (long)rl.rlim_max < CONNS + 64) {
            conns = (int)rl.rlim_max - 64;
            printf("note: RLIMIT_NOFILE hard limit is %ld: using %d connections\n", (long)rl.rlim_max, conns);
        }
    }

    printf("eddy demo: a task per connection instead of a thread per connection\n");
    printf("  %d concurrent connections over loopback, one %d-byte message in flight on each,\n", conns, MSG_SIZE);
    printf("  every echoed byte checked; %s s warmup + %s s measured per server.\n\n", WARMUP_S, MEASURE_S);

    struct phase ev = {.title = "[1/2] eddy echo_server: one coroutine task per connection, one thread"};
    char *ev_argv[] = {(char *)"echo_server", "--port", "0", "--addr", "127.0.0.1", NULL};
    run_phase(&ev, echo_server, ev_argv, loadgen, conns);

    struct phase tp = {.title = "[2/2] tpc_echo_server: one thread per connection, default stack size"};
    char *tp_argv[] = {(char *)"tpc_echo_server", "--port", "0", "--addr", "127.0.0.1", NULL};
    run_phase(&tp, tpc, tp_argv, loadgen, conns);

    /* ---- the table ---- */
    char a[64], b[64];
    printf("\n  %-32s %-22s %s\n", "", "eddy (task/conn)", "threads (thread/conn)");
    snprintf(a, sizeof a, "%ld / %d", ev.have_result ? ev.conns_ok : 0, conns);
    snprintf(b, sizeof b, "%ld / %d", tp.have_result ? tp.conns_ok : 0, conns);
    row("connections served", a, b);
    snprintf(a, sizeof a, "%.0f", ev.msgs_per_s);
    snprintf(b, sizeof b, "%.0f", tp.msgs_per_s);
    row("messages per second", ev.have_result ? a : "-", tp.have_result ? b : "-");
    fmt_lat(a, sizeof a, ev.p50_us, ev.p99_us);
    fmt_lat(b, sizeof b, tp.p50_us, tp.p99_us);
    row("round trip p50 / p99", ev.have_result ? a : "-", tp.have_result ? b : "-");
    snprintf(a, sizeof a, "%ld lost, %ld wrong", ev.lost, ev.mismatches);
    snprintf(b, sizeof b, "%ld lost, %ld wrong", tp.lost, tp.mismatches);
    row("messages", ev.have_result ? a : "-", tp.have_result ? b : "-");
    snprintf(a, sizeof a, "%.2f s, %.1f us/msg", ev.cpu_s, ev.total_msgs > 0 ? ev.cpu_s * 1e6 / ev.total_msgs : 0);
    snprintf(b, sizeof b, "%.2f s, %.1f us/msg", tp.cpu_s, tp.total_msgs > 0 ? tp.cpu_s * 1e6 / tp.total_msgs : 0);
    row("server CPU time (whole run)", ev.have_result ? a : "-", tp.have_result ? b : "-");
    snprintf(a, sizeof a, "%ld", ev.threads_peak);
    snprintf(b, sizeof b, "%ld", tp.threads_peak);
    row("server threads (peak)", a, b);
    row_bytes("server RSS idle", ev.rss_idle_kb * 1024.0, tp.rss_idle_kb * 1024.0);
    row_bytes("server RSS peak (VmHWM)", ev.hwm_kb * 1024.0, tp.hwm_kb * 1024.0);
    row_bytes("user-space bytes / connection", per_conn(&ev), per_conn(&tp));
    row_bytes("address space (VmPeak)", ev.vmpeak_kb * 1024.0, tp.vmpeak_kb * 1024.0);

    /* What the eddy server said about its connection tasks. */
    const char *info = strstr(ev.srv.log, "a connection is a task: ");
    if (info) {
        const char *end = strchr(info, '\n');
        printf("\n  eddy: %.*s\n", (int)(end ? end - info : (long)strlen(info)), info);
    }
    double pc_e = per_conn(&ev), pc_t = per_conn(&tp);
    if (pc_e > 0 && pc_t > 0)
        printf("  a thread per connection keeps %.0fx more user-space memory resident per connection,\n"
               "  and reserves %.0f MiB of address space for each thread's stack.\n",
               pc_t / pc_e, tp.conns_ok > 0 ? (double)(tp.vmpeak_kb - ev.vmpeak_kb) / 1024.0 / (double)tp.conns_ok : 0);
    printf("  (kernel socket buffers are not in RSS: they cost the same in both designs.  Messages per\n"
           "  second depend on how much CPU the machine lends each process: the eddy server runs on one\n"
           "  thread, the threaded one on every core; the CPU time per message is the cost.)\n");

    int ok = ev.have_result && ev.conns_ok == conns && ev.conns_failed == 0 && ev.mismatches == 0 && ev.lost == 0 &&
             WIFEXITED(ev.lg_status) && WEXITSTATUS(ev.lg_status) == 0;
    if (!ok) {
        printf("\nFAILED on the eddy side:\n%s", ev.lg.log);
        if (ev.srv.loglen)
            printf("server output:\n%s", ev.srv.log);
        return 1;
    }
    if (!(ev.srv_status != -1 && WIFEXITED(ev.srv_status) && WEXITSTATUS(ev.srv_status) == 0))
        printf("\nnote: the eddy server did not shut down cleanly on SIGTERM:\n%s", ev.srv.log);
    printf("\nOK: all %d connections to the eddy server worked; every byte came back intact.\n", conns);
    return 0;
}
