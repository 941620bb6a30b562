/* net_util.h - helpers shared by the tests/test_net_*.c and test_io_*.c.
 *
 * The tests run on both runtime flavours (eddy_test.h: test_builder,
 * test_is_mt).  What tasks share is thread-safe here: the counters (a mutex
 * and atomics) and the echo server's statistics (atomics), because on the
 * multi-thread runtime tasks run on several workers at once and block_on's
 * root runs on yet another thread.
 *
 *   nu_counter / nu_until   a counter with a list of waiting tasks (a tiny
 *                           Notify): nu_until waits until value >= target,
 *                           nu_counter_add wakes the waiters it satisfies
 *   nu_pending              polls a child and bumps a counter when it first
 *                           returns PENDING ("the task is waiting now")
 *   nu_join                 a join handle as a future with a vtable, so it
 *                           can be the child of an eddy_timeout
 *   nu_server               an accept loop that spawns an echo task per
 *                           connection, with counters (nu_server_start, or
 *                           nu_server_listen then nu_server_accept)
 *   nu_pattern / nu_fill    a non-trivial byte pattern, verifiable by offset
 *   nu_raise_nofile, nu_fd_count, nu_cpu_ns, nu_run   process helpers
 *   nu_settle_live          waits out a wake in flight (multi-thread)
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
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

/* ---- counters with waiters ------------------------------------------- */

/* Thread-safe: on the multi-thread runtime a counter is added to and waited
 * on from several workers (and from block_on's thread).  A mutex guards the
 * waiter list and the wakers stored in it; value and wakes are atomics, so
 * tests may read them directly (c.value, c.wakes) from any thread.  Wakers
 * are moved out under the lock and woken after it is released (a wake may
 * run anybody's code: it must never run inside the counter's lock). */

typedef struct nu_waiter {
    struct nu_waiter *next, *prev; /* NULL while not linked */
    eddy_waker w;                  /* guarded by the counter's mu */
} nu_waiter;

typedef struct nu_counter {
    pthread_mutex_t mu;
    atomic_long value; /* written under mu */
    nu_waiter head;    /* sentinel of a circular list (under mu) */
    atomic_long wakes; /* waiters woken so far (for assertions) */
} nu_counter;

/* Waits until c->value >= target.  Output: int 0.  The waiter node is the
 * first member, so a list node is also the future. */
typedef struct nu_until {
    nu_waiter node;
    nu_counter *c;
    long target;
} nu_until;

/* Also re-initialises a counter that is no longer in use (no waiter, no
 * thread inside it). */
static inline void nu_counter_init(nu_counter *c)
{
    CHECK(pthread_mutex_init(&c->mu, NULL) == 0);
    atomic_init(&c->value, 0);
    c->head.next = c->head.prev = &c->head;
    c->head.w = EDDY_WAKER_EMPTY;
    atomic_init(&c->wakes, 0);
}

static inline void nu__unlink(nu_waiter *n)
{
    n->prev->next = n->next;
    n->next->prev = n->prev;
    n->next = n->prev = NULL;
}

/* Adds n and wakes every waiter whose target is now reached, in the order
 * they started waiting.  The satisfied waiters are unlinked and their
 * wakers taken in batches under the lock, then woken outside it (a
 * satisfied waiter's node may be freed as soon as the lock is released:
 * it is not touched again). */
static inline void nu_counter_add(nu_counter *c, long n)
{
    enum { BATCH = 32 };
    eddy_waker batch[BATCH];
    pthread_mutex_lock(&c->mu);
    long v = atomic_load_explicit(&c->value, memory_order_relaxed) + n;
    atomic_store_explicit(&c->value, v, memory_order_relaxed);
    for (;;) {
        int k = 0;
        for (nu_waiter *w = c->head.next; w != &c->head && k < BATCH;) {
            nu_waiter *next = w->next;
            if (v >= ((nu_until *)w)->target) {
                nu__unlink(w);
                batch[k++] = w->w;
                w->w = EDDY_WAKER_EMPTY;
            }
            w = next;
        }
        if (k)
            atomic_fetch_add_explicit(&c->wakes, k, memory_order_relaxed);
        pthread_mutex_unlock(&c->mu);
        for (int i = 0; i < k; i++)
            eddy_waker_wake(&batch[i]);
        if (k < BATCH)
            return;
        /* A full batch: there may be more.  Look again from the head (the
         * list may have changed meanwhile; v is what this add made it, and
         * a waiter that joined since saw at least that value). */
        pthread_mutex_lock(&c->mu);
    }
}

/* Number of waiters currently linked. */
static inline long nu_counter_waiters(nu_counter *c)
{
    long n = 0;
    pthread_mutex_lock(&c->mu);
    for (const nu_waiter *w = c->head.next; w != &c->head; w = w->next)
        n++;
    pthread_mutex_unlock(&c->mu);
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
    nu_counter *c = f->c;
    eddy_waker old = EDDY_WAKER_EMPTY;
    pthread_mutex_lock(&c->mu);
    if (atomic_load_explicit(&c->value, memory_order_relaxed) >= f->target) {
        if (f->node.next)
            nu__unlink(&f->node);
        old = f->node.w;
        f->node.w = EDDY_WAKER_EMPTY;
        pthread_mutex_unlock(&c->mu);
        eddy_waker_drop(&old);
        if (out)
            *out = 0;
        return EDDY_READY;
    }
    if (!eddy_waker_will_wake(&f->node.w, cx->waker)) {
        old = f->node.w;
        f->node.w = eddy_waker_clone(cx->waker);
    }
    if (!f->node.next) {
        nu_waiter *h = &c->head;
        f->node.prev = h->prev;
        f->node.next = h;
        h->prev->next = &f->node;
        h->prev = &f->node;
    }
    pthread_mutex_unlock(&c->mu);
    eddy_waker_drop(&old); /* outside the lock */
    return EDDY_PENDING;
}

static inline void nu_until_drop(nu_until *f)
{
    nu_counter *c = f->c;
    if (!c)
        return;
    pthread_mutex_lock(&c->mu);
    if (f->node.next)
        nu__unlink(&f->node);
    eddy_waker old = f->node.w;
    f->node.w = EDDY_WAKER_EMPTY;
    pthread_mutex_unlock(&c->mu);
    eddy_waker_drop(&old);
}

/* A vtable for nu_until, to use it as the child of an eddy_timeout. */
EDDY_FUTURE_VT(nu_until_vt, nu_until, int, nu_until_poll, nu_until_drop);

/* ---- "it is waiting now" ------------------------------------------------ */

/* Polls a child future (initialised by the caller; vt is its vtable) and
 * adds 1 to the counter c the first time the child returns PENDING.
 *
 * A test that must act only once a task is suspended inside a future (a
 * reset while a read waits, an abort while it waits) waits on c.  On the
 * current-thread runtime an announcement made just before the await would
 * do, since the test runs only after the task's poll returned; on the
 * multi-thread runtime the task runs on a worker in parallel with the test,
 * and only an announcement made after the child returned PENDING says that
 * the child got that far.  Output: the child's. */
typedef struct nu_pending {
    const eddy_future_vt *vt;
    void *child;
    nu_counter *c;
    bool announced;
} nu_pending;

static inline void nu_pending_init(nu_pending *f, const eddy_future_vt *vt, void *child, nu_counter *c)
{
    *f = (nu_pending){.vt = vt, .child = child, .c = c};
}

static inline eddy_poll nu_pending_poll(nu_pending *f, eddy_cx *cx, void *out)
{
    eddy_poll r = f->vt->poll(f->child, cx, out);
    if (r == EDDY_PENDING && !f->announced) {
        f->announced = true;
        nu_counter_add(f->c, 1);
    }
    return r;
}

static inline void nu_pending_drop(nu_pending *f) { f->vt->drop(f->child); }

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

/* Adds n received bytes of a pattern stream: *bad becomes the offset of the
 * first wrong byte (it stays -1 while all match, and keeps the first one),
 * *got the count so far. */
static inline void nu_rx_add(size_t *got, long *bad, const uint8_t *buf, size_t n)
{
    if (*bad < 0) {
        long b = nu_check(buf, *got, n);
        if (b >= 0)
            *bad = (long)*got + b;
    }
    *got += n;
}

/* ---- an echo server ---------------------------------------------------------- */

/* The counters are atomics: on the multi-thread runtime the echo tasks run
 * on several workers while the test reads them from another. */
typedef struct nu_server {
    eddy_tcp_listener l;
    eddy_addr addr;             /* where it listens (port filled in) */
    nu_counter accepted;        /* connections accepted */
    nu_counter closed;          /* echo tasks that ended */
    atomic_long open;           /* echo tasks alive (counted from just before the spawn) */
    atomic_long peak_open;
    _Atomic uint64_t bytes;     /* bytes echoed */
    atomic_long accept_polls;   /* polls of the accept loop */
    atomic_int accept_err;      /* the error that ended the accept loop, if any */
    _Atomic ssize_t last_err;   /* last negative read/write result seen by an echo task */
    atomic_long eofs;           /* echo tasks that saw read() == 0 */
    size_t bufsize;             /* echo buffer (<= NU_ECHO_BUF); 0 = all of it; set it right after the
                                 * start, before the first connection */
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
                atomic_fetch_add(&t->srv->eofs, 1);
            else
                atomic_store(&t->srv->last_err, t->n);
            break;
        }
        EDDY_AWAIT(&t->n, eddy_write_all, &t->io.wr, &t->s.io, t->buf, (size_t)t->n);
        if (t->n < 0) {
            atomic_store(&t->srv->last_err, t->n);
            break;
        }
        atomic_fetch_add(&t->srv->bytes, (uint64_t)t->n);
    }
    EDDY_FINALLY();
    if (t->opened)
        eddy_tcp_close(&t->s);
    else
        close(t->fd);
    atomic_fetch_sub(&t->srv->open, 1);
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
        atomic_fetch_add(&t->srv->accept_polls, 1);
    EDDY_BEGIN(&t->co, cx);
    for (;;) {
        EDDY_AWAIT(&t->fd, eddy_accept, &t->acc, &t->srv->l, NULL);
        if (t->fd < 0) {
            atomic_store(&t->srv->accept_err, t->fd);
            break;
        }
        /* Counted before the spawn: on the multi-thread runtime the echo
         * task may run, and end, on another worker before the spawn
         * returns.  (Nobody waits on accepted, so on the current-thread
         * runtime the order changes nothing.) */
        {
            long open = atomic_fetch_add(&t->srv->open, 1) + 1;
            if (open > atomic_load(&t->srv->peak_open))
                atomic_store(&t->srv->peak_open, open); /* only this task writes it */
        }
        nu_counter_add(&t->srv->accepted, 1);
        {
            struct nu_echo e = {.srv = t->srv, .fd = t->fd};
            int r = eddy_spawn_local(&nu_echo_vt, &e, NULL);
            CHECK_OK(r);
        }
    }
    EDDY_END();
}
EDDY_CORO_VT_VOID(nu_acceptor_vt, struct nu_acceptor, nu_acceptor_poll);

/* Listens on text (e.g. "127.0.0.1:0"), without accepting yet.  Returns 0
 * or the listen error. */
static inline int nu_server_listen(nu_server *srv, const char *text, const eddy_tcp_opts *opts)
{
    memset(srv, 0, sizeof *srv);
    nu_counter_init(&srv->accepted);
    nu_counter_init(&srv->closed);
    int r = eddy_tcp_listen(&srv->l, text, opts);
    if (r < 0)
        return r;
    CHECK_OK(eddy_tcp_listener_addr(&srv->l, &srv->addr));
    return 0;
}

/* Spawns the accept loop of a listening server on the current runtime (on
 * the multi-thread runtime it may start accepting at once, on a worker). */
static inline void nu_server_accept(nu_server *srv)
{
    struct nu_acceptor a = {.srv = srv};
    CHECK_OK(eddy_spawn_local(&nu_acceptor_vt, &a, &srv->acceptor));
}

/* Both: listens and spawns the accept loop.  Returns 0 or the listen
 * error. */
static inline int nu_server_start(nu_server *srv, const char *text, const eddy_tcp_opts *opts)
{
    int r = nu_server_listen(srv, text, opts);
    if (r < 0)
        return r;
    nu_server_accept(srv);
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

/* Runs the root future on a new runtime of the flavour under test
 * (test_builder(b); b may be NULL), stores the runtime's statistics in *st
 * (may be NULL), frees it.
 *
 * Multi-thread: a task that told the root it was done (a counter, in its
 * last poll) may still be inside that poll on a worker when block_on
 * returns, so the statistics are taken once no task is alive, waiting at
 * most 10 s for that (a task that never ends still shows in st->alive). */
static inline void nu_run(const eddy_future_vt *vt, void *fut, void *out, const eddy_rt_builder *b, eddy_rt_stats *st)
{
    eddy_rt *rt = NULL;
    CHECK_OK(eddy_rt_new(&rt, test_builder(b)));
    CHECK_OK(eddy_block_on(rt, vt, fut, out));
    if (st) {
        CHECK_OK(eddy_rt_stats_get(rt, st));
        if (test_is_mt()) {
            struct timespec ts = {0, 100000};
            for (int i = 0; st->alive != 0 && i < 100000; i++) {
                nanosleep(&ts, NULL);
                CHECK_OK(eddy_rt_stats_get(rt, st));
            }
        }
    }
    eddy_rt_free(rt);
}

/* Waits (bounded: 10 s) until a counting waker's live count is want (e.g.
 * 1: only the caller's own reference left); returns the live count then.  On the multi-thread runtime
 * a future's drop may return while the driver owner, on another worker,
 * has already taken the waker out of the descriptor and is about to wake
 * it (a wake in flight, docs/design/0006): the reference is released by
 * that wake, a moment later.  On the current-thread runtime nothing else
 * runs, so this returns at once. */
static inline long nu_settle_live(const eddy_waker_counter *c, long want)
{
    struct timespec ts = {0, 100000};
    for (int i = 0; eddy_waker_counter_live(c) != want && i < 100000; i++) {
        if (!test_is_mt())
            break;
        nanosleep(&ts, NULL);
    }
    return eddy_waker_counter_live(c);
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
