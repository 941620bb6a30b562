/* net_util.h - helpers shared by the tests/test_net_*.c and test_io_*.c.
 *
 * Everything here runs on the runtime's thread (current-thread runtime)
 * unless said otherwise; nothing is thread-safe.
 *
 *   nu_counter / nu_until   a counter with a list of waiting tasks (a tiny
 *                           Notify): nu_until waits until value >= target,
 *                           nu_counter_add wakes the waiters it satisfies
 *   nu_join                 a join handle as a future with a vtable, so it
 *                           can be the child of an eddy_timeout
 *   nu_server               an accept loop that spawns an echo task per
 *                           connection, with counters
 *   nu_pattern / nu_fill    a non-trivial byte pattern, verifiable by offset
 *   nu_raise_nofile, nu_fd_count, nu_cpu_ns, nu_run   process helpers
 *
 * Functions are static inline so that a test that does not use one gets no
 * unused-function warning.
 */
#ifndef NET_UTIL_H
#define NET_UTIL_H

#include <eddy.h>

#include "eddy_test.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

/* ---- counters with waiters ------------------------------------------- */

typedef struct nu_waiter {
    struct nu_waiter *next, *prev; /* NULL while not linked */
    eddy_waker w;
} nu_waiter;

typedef struct nu_counter {
    long value;
    nu_waiter head; /* sentinel of a circular list */
    long wakes;     /* waiters woken so far (for assertions) */
} nu_counter;

/* Waits until c->value >= target.  Output: int 0.  The waiter node is the
 * first member, so a list node is also the future. */
typedef struct nu_until {
    nu_waiter node;
    nu_counter *c;
    long target;
} nu_until;

static inline void nu_counter_init(nu_counter *c)
{
    c->value = 0;
    c->head.next = c->head.prev = &c->head;
    c->head.w = EDDY_WAKER_EMPTY;
    c->wakes = 0;
}

static inline void nu__unlink(nu_waiter *n)
{
    n->prev->next = n->next;
    n->next->prev = n->prev;
    n->next = n->prev = NULL;
}

/* Adds n and wakes every waiter whose target is now reached. */
static inline void nu_counter_add(nu_counter *c, long n)
{
    c->value += n;
    nu_waiter *w = c->head.next;
    while (w != &c->head) {
        nu_waiter *next = w->next;
        nu_until *f = (nu_until *)w;
        if (c->value >= f->target) {
            nu__unlink(w);
            eddy_waker_wake(&w->w);
            c->wakes++;
        }
        w = next;
    }
}

/* Number of waiters currently linked. */
static inline long nu_counter_waiters(const nu_counter *c)
{
    long n = 0;
    for (const nu_waiter *w = c->head.next; w != &c->head; w = w->next)
        n++;
    return n;
}

static inline void nu_until_init(nu_until *f, nu_counter *c, long target)
{
    f->node.next = f->node.prev = NULL;
    f->node.w = EDDY_WAKER_EMPTY;
    f->c = c;
    f->target = target;
}

static inline eddy_poll nu_until_poll(nu_until *f, eddy_cx *cx, int *out)
{
    if (f->c->value >= f->target) {
        if (f->node.next)
            nu__unlink(&f->node);
        eddy_waker_drop(&f->node.w);
        if (out)
            *out = 0;
        return EDDY_READY;
    }
    eddy_waker_set(&f->node.w, cx->waker);
    if (!f->node.next) {
        nu_waiter *h = &f->c->head;
        f->node.prev = h->prev;
        f->node.next = h;
        h->prev->next = &f->node;
        h->prev = &f->node;
    }
    return EDDY_PENDING;
}

static inline void nu_until_drop(nu_until *f)
{
    if (f->node.next)
        nu__unlink(&f->node);
    eddy_waker_drop(&f->node.w);
}

/* A vtable for nu_until, to use it as the child of an eddy_timeout. */
EDDY_FUTURE_VT(nu_until_vt, nu_until, int, nu_until_poll, nu_until_drop);

/* ---- a join handle as a timeout child ---------------------------------- */

typedef struct nu_join {
    eddy_join *jh;
} nu_join;

static inline eddy_poll nu_join_poll(nu_join *f, eddy_cx *cx, void *out)
{
    (void)out;
    return eddy_join_poll(f->jh, cx, NULL);
}
static inline void nu_join_drop(nu_join *f) { (void)f; }
EDDY_FUTURE_VT_VOID(nu_join_vt, nu_join, nu_join_poll, nu_join_drop);

/* ---- the byte pattern ----------------------------------------------------- */

/* Byte i of a pattern that depends on the whole offset (splitmix64 of the
 * 8-byte block index): a dropped, repeated or reordered chunk of any length
 * shows up as a mismatch. */
static inline uint8_t nu_pattern(uint64_t i)
{
    uint64_t z = (i >> 3) * UINT64_C(0x9E3779B97F4A7C15) + UINT64_C(0x1234567);
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    z ^= z >> 31;
    return (uint8_t)(z >> ((i & 7) * 8));
}

static inline void nu_fill(uint8_t *buf, uint64_t off, size_t len)
{
    for (size_t k = 0; k < len; k++)
        buf[k] = nu_pattern(off + k);
}

/* Index of the first byte of buf that differs from the pattern at off, or
 * -1 if all match. */
static inline long nu_check(const uint8_t *buf, uint64_t off, size_t len)
{
    for (size_t k = 0; k < len; k++)
        if (buf[k] != nu_pattern(off + k))
            return (long)k;
    return -1;
}

/* ---- an echo server ---------------------------------------------------------- */

typedef struct nu_server {
    eddy_tcp_listener l;
    eddy_addr addr;         /* where it listens (port filled in) */
    nu_counter accepted;    /* connections accepted */
    nu_counter closed;      /* echo tasks that ended */
    long open;              /* echo tasks alive */
    long peak_open;
    uint64_t bytes;         /* bytes echoed */
    long accept_polls;      /* polls of the accept loop */
    int accept_err;         /* the error that ended the accept loop, if any */
    ssize_t last_err;       /* last negative read/write result seen by an echo task */
    long eofs;              /* echo tasks that saw read() == 0 */
    size_t bufsize;         /* echo buffer (<= NU_ECHO_BUF); 0 = all of it */
    eddy_join *acceptor;
} nu_server;

#define NU_ECHO_BUF 16384

struct nu_echo {
    eddy_coro co;
    nu_server *srv;
    int fd;
    bool opened;
    eddy_tcp s;
    ssize_t n;
    union {
        eddy_read rd;
        eddy_write_all wr;
    } io;
    char buf[NU_ECHO_BUF];
};

static inline eddy_poll nu_echo_poll(struct nu_echo *t, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&t->co, cx);
    CHECK_OK(eddy_tcp_open(&t->s, t->fd));
    t->opened = true;
    for (;;) {
        EDDY_AWAIT(&t->n, eddy_read, &t->io.rd, &t->s.io, t->buf, t->srv->bufsize ? t->srv->bufsize : sizeof t->buf);
        if (t->n <= 0) {
            if (t->n == 0)
                t->srv->eofs++;
            else
                t->srv->last_err = t->n;
            break;
        }
        EDDY_AWAIT(&t->n, eddy_write_all, &t->io.wr, &t->s.io, t->buf, (size_t)t->n);
        if (t->n < 0) {
            t->srv->last_err = t->n;
            break;
        }
        t->srv->bytes += (uint64_t)t->n;
    }
    EDDY_FINALLY();
    if (t->opened)
        eddy_tcp_close(&t->s);
    else
        close(t->fd);
    t->srv->open--;
    nu_counter_add(&t->srv->closed, 1);
    EDDY_DONE();
}
EDDY_CORO_VT_VOID(nu_echo_vt, struct nu_echo, nu_echo_poll);

struct nu_acceptor {
    eddy_coro co;
    nu_server *srv;
    int fd;
    eddy_accept acc;
};

static inline eddy_poll nu_acceptor_poll(struct nu_acceptor *t, eddy_cx *cx, void *out)
{
    (void)out;
    if (cx != EDDY_CX_DROP)
        t->srv->accept_polls++;
    EDDY_BEGIN(&t->co, cx);
    for (;;) {
        EDDY_AWAIT(&t->fd, eddy_accept, &t->acc, &t->srv->l, NULL);
        if (t->fd < 0) {
            t->srv->accept_err = t->fd;
            break;
        }
        {
            struct nu_echo e = {.srv = t->srv, .fd = t->fd};
            int r = eddy_spawn_local(&nu_echo_vt, &e, NULL);
            CHECK_OK(r);
        }
        t->srv->open++;
        if (t->srv->open > t->srv->peak_open)
            t->srv->peak_open = t->srv->open;
        nu_counter_add(&t->srv->accepted, 1);
    }
    EDDY_END();
}
EDDY_CORO_VT_VOID(nu_acceptor_vt, struct nu_acceptor, nu_acceptor_poll);

/* Listens on text (e.g. "127.0.0.1:0") and spawns the accept loop on the
 * current runtime.  Returns 0 or the listen error. */
static inline int nu_server_start(nu_server *srv, const char *text, const eddy_tcp_opts *opts)
{
    memset(srv, 0, sizeof *srv);
    nu_counter_init(&srv->accepted);
    nu_counter_init(&srv->closed);
    int r = eddy_tcp_listen(&srv->l, text, opts);
    if (r < 0)
        return r;
    CHECK_OK(eddy_tcp_listener_addr(&srv->l, &srv->addr));
    struct nu_acceptor a = {.srv = srv};
    CHECK_OK(eddy_spawn_local(&nu_acceptor_vt, &a, &srv->acceptor));
    return 0;
}

/* ---- process helpers ------------------------------------------------------------ */

/* Raises the soft RLIMIT_NOFILE to the hard limit; returns the new soft
 * limit. */
static inline long nu_raise_nofile(void)
{
    struct rlimit rl;
    CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0);
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        CHECK(setrlimit(RLIMIT_NOFILE, &rl) == 0);
    }
    return rl.rlim_cur == RLIM_INFINITY ? (long)1 << 30 : (long)rl.rlim_cur;
}

/* Open descriptors below limit (fcntl probe: opens nothing itself). */
static inline long nu_fd_count(int limit)
{
    long n = 0;
    for (int fd = 0; fd < limit; fd++)
        if (fcntl(fd, F_GETFD) >= 0)
            n++;
    return n;
}

/* The highest open descriptor below limit, or -1. */
static inline int nu_fd_max(int limit)
{
    int m = -1;
    for (int fd = 0; fd < limit; fd++)
        if (fcntl(fd, F_GETFD) >= 0)
            m = fd;
    return m;
}

/* CPU time used by the whole process, in ns. */
static inline uint64_t nu_cpu_ns(void)
{
    struct timespec ts;
    CHECK(clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) == 0);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Monotonic wall clock in ns (for reports; assertions use the runtime's
 * timers). */
static inline uint64_t nu_mono_ns(void)
{
    struct timespec ts;
    CHECK(clock_gettime(CLOCK_MONOTONIC, &ts) == 0);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Runs the root future on a new current-thread runtime (b may be NULL),
 * stores the runtime's statistics in *st (may be NULL), frees it. */
static inline void nu_run(const eddy_future_vt *vt, void *fut, void *out, const eddy_rt_builder *b, eddy_rt_stats *st)
{
    eddy_rt *rt = NULL;
    CHECK_OK(eddy_rt_new(&rt, b));
    CHECK_OK(eddy_block_on(rt, vt, fut, out));
    if (st)
        CHECK_OK(eddy_rt_stats_get(rt, st));
    eddy_rt_free(rt);
}

static inline void nu_print_stats(const char *what, const eddy_rt_stats *st)
{
    printf("%s: spawned=%llu completed=%llu cancelled=%llu polls=%llu parks=%llu remote_wakes=%llu "
           "alive=%llu accept_stalls=%llu task_header=%zu B\n",
           what, (unsigned long long)st->spawned, (unsigned long long)st->completed,
           (unsigned long long)st->cancelled, (unsigned long long)st->polls, (unsigned long long)st->parks,
           (unsigned long long)st->remote_wakes, (unsigned long long)st->alive,
           (unsigned long long)st->accept_stalls, st->task_header_size);
}

#endif
