/* server_common.h - the skeleton the example servers share (echo_server,
 * chat_server, http_server, redis_server): the common options, the root
 * task, the listener task and the runtime.  Header-only: every example is
 * one .c file, built on its own.
 *
 * A server fills a struct srv with its name, its usage text and what to do
 * with an accepted descriptor, then:
 *
 *     srv_parse_args(&s, argc, argv, my_option);   // --port --addr --threads + its own
 *     ...                                          // its own set-up
 *     if (srv_setup(&s, &rt) < 0)                  // descriptors, signals, runtime
 *         return 1;
 *     int status = srv_run(&s, rt);                // serves until SIGINT/SIGTERM
 *     eddy_rt_free(rt);                            // drops the connection tasks
 *     ...                                          // its own summary line
 *     return status;
 *
 * The shape:
 *
 *   root (block_on)      binds, prints "listening on A:P" on stdout,
 *                        spawns the listener, then waits for a signal (a
 *                        signalfd registered with eddy_io_open) or for the
 *                        listener to end; then aborts the listener and
 *                        closes the socket;
 *   listener task        accepts in a loop (eddy_accept) and hands every
 *                        descriptor to the server's on_accept, which spawns
 *                        one task per connection, the fd in its frame.
 *
 * Exit status (srv_run's result): 0 after SIGINT/SIGTERM, 1 when the
 * server could not start or stopped for another reason; bad options exit
 * 2 from srv_parse_args.  Every message on stderr starts with the
 * server's name.
 */
#ifndef EDDY_EXAMPLES_SERVER_COMMON_H
#define EDDY_EXAMPLES_SERVER_COMMON_H

#include <eddy.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <unistd.h>

struct srv {
    /* Set by the server. */
    const char *name;  /* "echo_server": starts every message */
    const char *usage; /* the whole usage text, "usage: ...\n" */
    /* Takes an accepted descriptor, on the listener's task: returns 0 when
     * it took the fd (spawned a task for it, or dealt with it otherwise),
     * a negative errno when it could not, and then the listener closes the
     * fd and counts it in spawn_failed. */
    int (*on_accept)(int fd);
    const eddy_tcp_opts *listen_opts; /* NULL: eddy's defaults */
    /* Optional: a task that runs beside the listener for the server's life
     * (its vtable and initial frame), aborted at shutdown. */
    const eddy_future_vt *side_vt;
    const void *side_init;

    /* The common options (srv_parse_args). */
    const char *host; /* --addr, 127.0.0.1 by default */
    long long port;   /* --port, required (0 picks a free port) */
    long long threads; /* --threads: 1 current-thread runtime, N > 1 multi-thread */
    bool io_uring;     /* --io io_uring (current-thread runtime; else epoll) */

    /* Filled in by srv_setup. */
    char addr[96];    /* "host:port", "[v6]:port" */
    char flavor[80];  /* "current-thread runtime, epoll", "multi-thread runtime (N workers), epoll" */
    int sigfd;        /* until the root task owns it */

    /* Counted by the listener, read once srv_run returned. */
    unsigned long long accepted, spawn_failed;
};

/* ---- parsing --------------------------------------------------------------- */

/* The value of a hexadecimal digit, or -1 (the HTTP server's %XX escapes,
 * the Redis server's \xHH in inline commands). */
static inline int srv_hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* ---- per-thread block pools ----------------------------------------------
 * A connection borrows its buffers only while data flows, so a few blocks
 * per thread serve any number of connections.  Each thread keeps its own
 * free lists (no lock on a multi-thread runtime: a block borrowed on one
 * worker and returned on another just changes lists), at most SRV_POOL_KEEP
 * blocks per list, the rest go back to malloc.  A thread's lists are freed
 * when it exits (a pthread key's destructor: workers leak nothing); the
 * main thread, whose keys are not destroyed when main returns, calls
 * srv_pools_release.  Pool ids are the server's own small numbers, each
 * used with one block size. */

#define SRV_POOLS 4
#define SRV_POOL_KEEP 64

struct srv_pool_item {
    struct srv_pool_item *next; /* the link lives in the free block itself */
};

static _Thread_local struct {
    struct srv_pool_item *head[SRV_POOLS];
    unsigned count[SRV_POOLS];
    bool registered; /* the key's destructor will free this thread's lists */
} srv_pools;

static pthread_key_t srv_pools_key;
static pthread_once_t srv_pools_once = PTHREAD_ONCE_INIT;

static inline void srv_pools_free(void *arg)
{
    (void)arg; /* srv_pools of the exiting thread: still addressable here */
    for (unsigned id = 0; id < SRV_POOLS; id++) {
        while (srv_pools.head[id]) {
            struct srv_pool_item *b = srv_pools.head[id];
            srv_pools.head[id] = b->next;
            free(b);
        }
        srv_pools.count[id] = 0;
    }
}

static inline void srv_pools_key_create(void)
{
    if (pthread_key_create(&srv_pools_key, srv_pools_free) != 0)
        srv_pools_key = (pthread_key_t)-1; /* no cleanup at exit: blocks stay until the process ends */
}

/* A block of size bytes from pool id, or NULL when out of memory. */
static inline void *srv_pool_get(unsigned id, size_t size)
{
    struct srv_pool_item *b = srv_pools.head[id];
    if (b) {
        srv_pools.head[id] = b->next;
        srv_pools.count[id]--;
        return b;
    }
    if (!srv_pools.registered) {
        srv_pools.registered = true;
        pthread_once(&srv_pools_once, srv_pools_key_create);
        if (srv_pools_key != (pthread_key_t)-1)
            pthread_setspecific(srv_pools_key, &srv_pools);
    }
    return malloc(size);
}

/* Gives a block from srv_pool_get(id, ...) back, on any thread. */
static inline void srv_pool_put(unsigned id, void *mem)
{
    if (srv_pools.count[id] >= SRV_POOL_KEEP) {
        free(mem);
        return;
    }
    struct srv_pool_item *b = mem;
    b->next = srv_pools.head[id];
    srv_pools.head[id] = b;
    srv_pools.count[id]++;
}

/* Frees the calling thread's lists (the main thread, before it returns). */
static inline void srv_pools_release(void) { srv_pools_free(NULL); }

/* ---- options ------------------------------------------------------------ */

static inline void srv_usage(const struct srv *s)
{
    fputs(s->usage, stderr);
    exit(2);
}

/* The value of a numeric option, or exit 2 with a message. */
static inline long long srv_num(const struct srv *s, const char *opt, const char *v, long long lo, long long hi)
{
    char *end;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (!*v || *end || errno || n < lo || n > hi) {
        fprintf(stderr, "%s: %s: expected a number in [%lld, %lld], got '%s'\n", s->name, opt, lo, hi, v);
        exit(2);
    }
    return n;
}

/* Parses "--option value" pairs: --port (required), --addr, --threads,
 * --io (epoll or io_uring; default from $EDDY_IO, else epoll), and
 * hands every other one to `own` (may be NULL), which returns false for an
 * option it does not know.  Anything wrong exits 2. */
static inline void srv_parse_args(struct srv *s, int argc, char **argv,
                                  bool (*own)(struct srv *s, const char *opt, const char *v))
{
    s->host = "127.0.0.1";
    s->port = -1;
    s->threads = 1;
    s->sigfd = -1;
    /* EDDY_IO=io_uring sets the default of --io (the test suite runs the
     * servers' scripts once more that way). */
    const char *io = getenv("EDDY_IO");
    s->io_uring = io && !strcmp(io, "io_uring");
    for (int i = 1; i < argc; i += 2) {
        const char *a = argv[i];
        if (i + 1 >= argc)
            srv_usage(s);
        const char *v = argv[i + 1];
        if (!strcmp(a, "--port"))
            s->port = srv_num(s, a, v, 0, 65535);
        else if (!strcmp(a, "--threads"))
            s->threads = srv_num(s, a, v, 1, 1024);
        else if (!strcmp(a, "--addr"))
            s->host = v;
        else if (!strcmp(a, "--io") && (!strcmp(v, "epoll") || !strcmp(v, "io_uring")))
            s->io_uring = !strcmp(v, "io_uring");
        else if (!own || !own(s, a, v))
            srv_usage(s);
    }
    if (s->port < 0)
        srv_usage(s);
}

/* ---- the listener task ---------------------------------------------------- */

struct srv_listener {
    eddy_coro co;
    struct srv *s;
    eddy_tcp_listener *l; /* in the root's frame, which outlives this task */
    int fd;
    eddy_accept acc;
};

static inline eddy_poll srv_listener_poll(struct srv_listener *t, eddy_cx *cx, int *out)
{
    EDDY_BEGIN(&t->co, cx);
    for (;;) {
        EDDY_AWAIT(&t->fd, eddy_accept, &t->acc, t->l, NULL);
        if (t->fd < 0) {
            *out = t->fd; /* descriptor exhaustion never gets here: eddy_accept waits */
            EDDY_RETURN();
        }
        t->s->accepted++;
        if (t->s->on_accept(t->fd) < 0) {
            t->s->spawn_failed++;
            close(t->fd);
        }
    }
    EDDY_FINALLY();
    EDDY_DONE();
}

EDDY_STATIC_CORO_VT(srv_listener_vt, struct srv_listener, int, srv_listener_poll);

/* ---- the root ----------------------------------------------------------- */

struct srv_root {
    eddy_coro co;
    struct srv *s;
    int rc, lrc;
    int signo;
    eddy_tcp_listener l;
    eddy_io sig;
    eddy_ready sig_ready;
    eddy_join *jh, *side;
};

/* Waits for the first of two futures (a select by hand): polls both, so
 * both have stored the waker when it returns false. */
static inline bool srv_signal_or_listener_end(struct srv_root *r, eddy_cx *cx)
{
    if (eddy_ready_poll(&r->sig_ready, cx, &r->rc) == EDDY_READY) {
        if (r->rc < 0)
            return true;
        struct signalfd_siginfo si;
        ssize_t n = eddy_io_try_read(&r->sig, &si, sizeof si);
        if (n == (ssize_t)sizeof si) {
            r->signo = (int)si.ssi_signo;
            return true;
        }
        if (n != -EAGAIN)
            return true; /* the signalfd broke: stop as if signalled */
        /* A stale readiness, consumed by the EAGAIN: wait again. */
        eddy_readable_init(&r->sig_ready, &r->sig);
        if (eddy_ready_poll(&r->sig_ready, cx, &r->rc) == EDDY_READY)
            return true;
    }
    return eddy_join_poll(r->jh, cx, &r->lrc) == EDDY_READY;
}

/* Aborts the side task, if any; it needs no waiting for (it holds no
 * socket the root closes). */
static inline void srv_side_abort(struct srv_root *r)
{
    if (r->side) {
        eddy_join_abort(r->side);
        eddy_join_detach(r->side);
        r->side = NULL;
    }
}

static inline eddy_poll srv_root_poll(struct srv_root *r, eddy_cx *cx, int *out)
{
    EDDY_BEGIN(&r->co, cx);
    *out = 1;
    r->rc = eddy_tcp_listen(&r->l, r->s->addr, r->s->listen_opts);
    if (r->rc < 0) {
        fprintf(stderr, "%s: listen on %s: %s\n", r->s->name, r->s->addr, eddy_strerror(r->rc));
        EDDY_RETURN();
    }
    {
        eddy_addr a;
        char text[80] = "?";
        if (eddy_tcp_listener_addr(&r->l, &a) == 0)
            eddy_addr_format(&a, text, sizeof text);
        printf("listening on %s\n", text);
        fflush(stdout);
    }
    r->rc = eddy_io_open(&r->sig, r->s->sigfd, EDDY_IO_READ_ONLY);
    if (r->rc < 0) {
        fprintf(stderr, "%s: signalfd: %s\n", r->s->name, eddy_strerror(r->rc));
        eddy_tcp_listener_close(&r->l);
        EDDY_RETURN();
    }
    r->s->sigfd = -1;
    if (r->s->side_vt)
        r->rc = eddy_spawn_local(r->s->side_vt, r->s->side_init, &r->side);
    if (r->rc >= 0) {
        struct srv_listener init = {.s = r->s, .l = &r->l};
        r->rc = eddy_spawn_local(&srv_listener_vt, &init, &r->jh);
    }
    if (r->rc < 0) {
        fprintf(stderr, "%s: spawn: %s\n", r->s->name, eddy_strerror(r->rc));
        srv_side_abort(r);
        eddy_io_close(&r->sig);
        eddy_tcp_listener_close(&r->l);
        EDDY_RETURN();
    }
    eddy_readable_init(&r->sig_ready, &r->sig);
    EDDY_WAIT_UNTIL(srv_signal_or_listener_end(r, cx));
    eddy_ready_drop(&r->sig_ready);
    if (r->signo) {
        fprintf(stderr, "%s: %s: shutting down\n", r->s->name, strsignal(r->signo));
        *out = 0;
    } else if (eddy_join_is_finished(r->jh)) {
        fprintf(stderr, "%s: accept: %s\n", r->s->name, eddy_strerror(r->lrc));
    } else {
        fprintf(stderr, "%s: signalfd failed: shutting down\n", r->s->name);
    }
    srv_side_abort(r);
    /* The listener must not be accepting when its socket closes. */
    eddy_join_abort(r->jh);
    EDDY_AWAIT_POLL(NULL, eddy_join, r->jh);
    eddy_join_detach(r->jh);
    r->jh = NULL;
    eddy_tcp_listener_close(&r->l);
    eddy_io_close(&r->sig);
    EDDY_FINALLY();
    EDDY_DONE();
}

EDDY_STATIC_CORO_VT(srv_root_vt, struct srv_root, int, srv_root_poll);

/* ---- main's part ---------------------------------------------------------- */

/* What comes between the options and the first task: the descriptor limit,
 * the signals, the address to bind, the runtime.  Returns 0, or -1 after
 * saying why on stderr. */
static inline int srv_setup(struct srv *s, eddy_rt **rt)
{
    /* A connection is a descriptor: allow as many as the hard limit. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }

    /* SIGINT/SIGTERM arrive through a signalfd the root task awaits.
     * Blocked before the runtime exists, so every worker inherits it. */
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &mask, NULL);
    s->sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (s->sigfd < 0) {
        fprintf(stderr, "%s: signalfd: %s\n", s->name, strerror(errno));
        return -1;
    }

    snprintf(s->addr, sizeof s->addr, strchr(s->host, ':') ? "[%s]:%lld" : "%s:%lld", s->host, s->port);

    eddy_rt_builder b = {
        .flavor = s->threads > 1 ? EDDY_RT_MULTI_THREAD : EDDY_RT_CURRENT_THREAD,
        .workers = (unsigned)s->threads,
        .io_uring = s->io_uring,
    };
    int err = eddy_rt_new(rt, &b);
    if (err < 0) {
        fprintf(stderr, "%s: runtime: %s\n", s->name, eddy_strerror(err));
        close(s->sigfd);
        s->sigfd = -1;
        return -1;
    }
    eddy_rt_stats st;
    const char *io = eddy_rt_stats_get(*rt, &st) == 0 ? st.io_backend : "?";
    if (s->threads > 1)
        snprintf(s->flavor, sizeof s->flavor, "multi-thread runtime (%lld workers), %s", s->threads, io);
    else
        snprintf(s->flavor, sizeof s->flavor, "current-thread runtime, %s", io);
    return 0;
}

/* Serves until SIGINT/SIGTERM (or until the listener fails); returns the
 * exit status.  The runtime still holds the open connections' tasks: the
 * caller frees it. */
static inline int srv_run(struct srv *s, eddy_rt *rt)
{
    struct srv_root root = {.s = s};
    int status = 1;
    int err = eddy_block_on(rt, &srv_root_vt, &root, &status);
    if (err < 0)
        fprintf(stderr, "%s: block_on: %s\n", s->name, eddy_strerror(err));
    if (s->sigfd >= 0)
        close(s->sigfd);
    s->sigfd = -1;
    return err < 0 ? 1 : status;
}

#endif
