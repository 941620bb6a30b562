/* The I/O driver in multi-thread mode, without a scheduler: one thread owns
 * the driver (wait + dispatch in a loop) while other threads use eddy_io
 * futures through hand-made contexts whose waker signals a condition
 * variable (what a worker's park would do).  See docs/design/0005-io-driver.md,
 * "Multi-thread mode".
 *
 *  A. ping-pong: two threads bounce one byte over a socketpair, each
 *     polling eddy_write then eddy_read; every wait ends only through the
 *     driver.  A readiness edge lost between a future's EAGAIN and its
 *     registration (the tick protocol prevents it) would hang the test:
 *     the watchdog reports it.
 *  B. close while in flight: two threads open socketpairs in heap-allocated
 *     eddy_io, make both ends ready (events queued in the epoll set), park a
 *     read future on one, then drop it, deregister and free both at once,
 *     while the driver owner dispatches: an event naming a freed eddy_io
 *     would be a use-after-free (ASan reports it).  Every waker reference is
 *     released and the driver ends with no registration.
 *  C. level-triggered: a pipe registered EDDY_IO_LEVEL is armed by the
 *     waiting future and disarmed by the dispatch, both under the slot lock;
 *     many rounds of wait / write / read across two threads.
 */
// eddy-test-timeout: 120
#include <eddy.h>

#include "eddy_test.h"
#include "io/driver.h"

#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>


#define PINGPONGS (TEST_SANITIZED ? 20000L : 200000L)
#define CHURN (TEST_SANITIZED ? 3000L : 20000L)
#define LEVEL_ROUNDS (TEST_SANITIZED ? 2000L : 10000L)

/* ---- a parking waker ---------------------------------------------------------
 * Counts its references (clones) and wakes; a wake bumps `wakes` under the
 * mutex and signals, as a worker's futex would. */
struct park {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    unsigned long wakes;
    atomic_long refs; /* clones alive */
};

static const eddy_waker_vtable park_vt;

static eddy_waker park_clone(const void *d)
{
    struct park *p = (struct park *)d;
    atomic_fetch_add(&p->refs, 1);
    return (eddy_waker){&park_vt, p};
}

static void park_signal(struct park *p)
{
    pthread_mutex_lock(&p->mu);
    p->wakes++;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

static void park_wake_by_ref(const void *d) { park_signal((struct park *)d); }

static void park_wake(const void *d)
{
    struct park *p = (struct park *)d;
    park_signal(p);
    atomic_fetch_sub(&p->refs, 1);
}

static void park_drop(const void *d) { atomic_fetch_sub(&((struct park *)d)->refs, 1); }

static const eddy_waker_vtable park_vt = {park_clone, park_wake, park_wake_by_ref, park_drop};

static void park_init(struct park *p)
{
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->wakes = 0;
    atomic_init(&p->refs, 0);
}

/* Waits until no clone of p is alive.  A dispatch wakes the waker it moved
 * out of a registration after releasing the slot lock, so right after a
 * deregister one may still be in flight; a clone that never goes away is a
 * leak, which the watchdog reports. */
static void park_quiesce(struct park *p)
{
    while (atomic_load(&p->refs) != 0)
        sched_yield();
}

static void park_fini(struct park *p)
{
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
}

/* Blocks until a wake newer than *seen arrives (the watchdog bounds it). */
static void park_wait(struct park *p, unsigned long *seen)
{
    pthread_mutex_lock(&p->mu);
    while (p->wakes == *seen)
        pthread_cond_wait(&p->cv, &p->mu);
    *seen = p->wakes;
    pthread_mutex_unlock(&p->mu);
}

/* ---- the driver owner ---------------------------------------------------- */

static struct eddy__driver *g_drv;
static int g_evfd;
static atomic_bool g_stop;
static atomic_long g_turns;

static void *owner_main(void *arg)
{
    (void)arg;
    while (!atomic_load(&g_stop)) {
        int n = g_drv->ops->wait(g_drv, EDDY_MS(50));
        CHECK(n >= 0);
        atomic_fetch_add(&g_turns, 1);
    }
    return NULL;
}

static void owner_start(pthread_t *th)
{
    g_evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    CHECK(g_evfd >= 0);
    CHECK_OK(eddy__driver_new(&g_drv, g_evfd, true, false));
    CHECK(g_drv->mt);
    atomic_store(&g_stop, false);
    CHECK_EQ(pthread_create(th, NULL, owner_main, NULL), 0);
}

static void owner_stop(pthread_t th)
{
    atomic_store(&g_stop, true);
    uint64_t one = 1;
    CHECK_EQ(write(g_evfd, &one, sizeof one), (ssize_t)sizeof one); /* end the wait now */
    CHECK_EQ(pthread_join(th, NULL), 0);
    CHECK_EQ(eddy__driver_sources(g_drv), 0);
    eddy__driver_free(g_drv);
    close(g_evfd);
}

static void open_io(eddy_io *io, int fd, bool edge, uint8_t kind)
{
    memset(io, 0, sizeof *io);
    int fl = fcntl(fd, F_GETFL);
    CHECK(fl >= 0 && fcntl(fd, F_SETFL, fl | O_NONBLOCK) == 0);
    io->flags = kind;
    CHECK_OK(eddy__io_register(g_drv, io, fd, EDDY__IO_READ | EDDY__IO_WRITE, edge));
    CHECK(io->flags & EDDY__IOF_MT);
}

/* ---- A: ping-pong ---------------------------------------------------------- */

struct side {
    eddy_io io;
    struct park pk;
    bool first;
    long pendings; /* polls that returned PENDING */
};

/* Polls f until READY, parking in between. */
#define DRIVE(side, seen, poll_expr)                                                              \
    do {                                                                                          \
        eddy_waker w_ = {&park_vt, &(side)->pk};                                                  \
        eddy_cx cx_ = {.waker = &w_, .core = NULL};                                               \
        eddy_cx *cx = &cx_;                                                                       \
        while ((poll_expr) == EDDY_PENDING) {                                                     \
            (side)->pendings++;                                                                   \
            park_wait(&(side)->pk, (seen));                                                       \
        }                                                                                         \
    } while (0)

static void *side_main(void *arg)
{
    struct side *s = arg;
    unsigned long seen = 0;
    for (long i = 0; i < PINGPONGS; i++) {
        char b = (char)i, in = 0;
        ssize_t n = 0;
        if (s->first) {
            eddy_write wr;
            eddy_write_init(&wr, &s->io, &b, 1);
            DRIVE(s, &seen, eddy_write_poll(&wr, cx, &n));
            CHECK_EQ(n, 1);
        }
        eddy_read rd;
        eddy_read_init(&rd, &s->io, &in, 1);
        DRIVE(s, &seen, eddy_read_poll(&rd, cx, &n));
        CHECK_EQ(n, 1);
        CHECK_EQ(in, b);
        if (!s->first) {
            eddy_write wr;
            eddy_write_init(&wr, &s->io, &in, 1);
            DRIVE(s, &seen, eddy_write_poll(&wr, cx, &n));
            CHECK_EQ(n, 1);
        }
    }
    return NULL;
}

static void test_pingpong(void)
{
    pthread_t owner, ta, tb;
    owner_start(&owner);
    int sv[2];
    CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    static struct side a, b;
    park_init(&a.pk);
    park_init(&b.pk);
    a.first = true;
    b.first = false;
    open_io(&a.io, sv[0], true, EDDY__IOF_SOCK | EDDY__IOF_STREAM);
    open_io(&b.io, sv[1], true, EDDY__IOF_SOCK | EDDY__IOF_STREAM);
    CHECK_EQ(eddy__driver_sources(g_drv), 2);
    CHECK_EQ(pthread_create(&ta, NULL, side_main, &a), 0);
    CHECK_EQ(pthread_create(&tb, NULL, side_main, &b), 0);
    CHECK_EQ(pthread_join(ta, NULL), 0);
    CHECK_EQ(pthread_join(tb, NULL), 0);
    eddy__io_deregister(&a.io);
    eddy__io_deregister(&b.io);
    close(sv[0]);
    close(sv[1]);
    /* Every clone stored in a slot was woken or dropped, once the owner
     * has stopped (a dispatch wakes after unlocking: see park_quiesce). */
    owner_stop(owner);
    CHECK_EQ(atomic_load(&a.pk.refs), 0);
    CHECK_EQ(atomic_load(&b.pk.refs), 0);
    printf("A: %ld ping-pongs across threads, %ld + %ld waits through the driver, %ld driver turns\n",
           PINGPONGS, a.pendings, b.pendings, atomic_load(&g_turns));
    CHECK(a.pendings > 0 && b.pendings > 0);
    park_fini(&a.pk);
    park_fini(&b.pk);
}

/* ---- B: close and free while events are in flight ------------------------ */

static atomic_long g_churn_waits;

static void *churn_main(void *arg)
{
    (void)arg;
    struct park pk;
    park_init(&pk);
    eddy_waker w = {&park_vt, &pk};
    eddy_cx cx = {.waker = &w, .core = NULL};
    for (long i = 0; i < CHURN; i++) {
        int sv[2];
        CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        eddy_io *x = malloc(sizeof *x), *y = malloc(sizeof *y);
        CHECK(x && y);
        open_io(x, sv[0], (i & 1) == 0, EDDY__IOF_SOCK | EDDY__IOF_STREAM);
        open_io(y, sv[1], true, EDDY__IOF_SOCK | EDDY__IOF_STREAM);
        /* x waits for a byte (its waker sits in the slot) ... */
        char buf[8];
        ssize_t n = 0;
        eddy_read rd;
        eddy_read_init(&rd, x, buf, sizeof buf);
        eddy_poll p = eddy_read_poll(&rd, &cx, &n);
        if (p == EDDY_PENDING)
            atomic_fetch_add(&g_churn_waits, 1);
        /* ... the byte arrives (an event for x, and writability for y, are
         * queued or being dispatched right now) ... */
        CHECK_EQ(write(sv[1], "z", 1), 1);
        /* ... and both go away at once, memory included. */
        eddy_read_drop(&rd);
        eddy__io_deregister(x);
        eddy__io_deregister(y);
        memset(x, 0xa5, sizeof *x); /* a late dispatch would read garbage, not zeros */
        free(x);
        free(y);
        close(sv[0]);
        close(sv[1]);
    }
    /* The driver owner moves a waker out under the slot lock and wakes it
     * after unlocking, so a dispatch that began before the last deregister
     * may still hold a clone for a moment: wait for it (the watchdog bounds
     * a leaked one) before pk leaves this stack. */
    park_quiesce(&pk);
    park_fini(&pk);
    return NULL;
}

static void test_churn(void)
{
    pthread_t owner, t1, t2;
    atomic_store(&g_turns, 0);
    owner_start(&owner);
    CHECK_EQ(pthread_create(&t1, NULL, churn_main, NULL), 0);
    CHECK_EQ(pthread_create(&t2, NULL, churn_main, NULL), 0);
    CHECK_EQ(pthread_join(t1, NULL), 0);
    CHECK_EQ(pthread_join(t2, NULL), 0);
    owner_stop(owner);
    printf("B: %ld registrations opened, waited on (%ld pending reads), closed and freed under a running "
           "driver (%ld turns)\n",
           2 * CHURN, atomic_load(&g_churn_waits), atomic_load(&g_turns));
}

/* ---- C: level-triggered arm / disarm under the slot lock ------------------- */

static int g_pipe[2];
static struct park g_lvl_pk;
static atomic_long g_lvl_round; /* the reader finished this many rounds */

static void *level_writer(void *arg)
{
    (void)arg;
    for (long i = 0; i < LEVEL_ROUNDS; i++) {
        CHECK_EQ(write(g_pipe[1], "L", 1), 1);
        /* Wait for the reader to consume it: a bounded spin that yields,
         * guarded by the watchdog (no sleep stands in for the handshake). */
        while (atomic_load(&g_lvl_round) <= i)
            sched_yield();
    }
    return NULL;
}

static void test_level(void)
{
    pthread_t owner, wt;
    atomic_store(&g_turns, 0);
    owner_start(&owner);
    CHECK_EQ(pipe2(g_pipe, O_CLOEXEC), 0);
    park_init(&g_lvl_pk);
    eddy_io io;
    memset(&io, 0, sizeof io);
    int fl = fcntl(g_pipe[0], F_GETFL);
    CHECK(fcntl(g_pipe[0], F_SETFL, fl | O_NONBLOCK) == 0);
    CHECK_OK(eddy__io_register(g_drv, &io, g_pipe[0], EDDY__IO_READ, false));
    CHECK_EQ(pthread_create(&wt, NULL, level_writer, NULL), 0);
    unsigned long seen = 0;
    long waits = 0;
    eddy_waker w = {&park_vt, &g_lvl_pk};
    eddy_cx cx = {.waker = &w, .core = NULL};
    for (long i = 0; i < LEVEL_ROUNDS; i++) {
        eddy_ready rf;
        eddy_readable_init(&rf, &io);
        int rc = -1;
        while (eddy_ready_poll(&rf, &cx, &rc) == EDDY_PENDING) {
            waits++;
            park_wait(&g_lvl_pk, &seen);
        }
        CHECK_EQ(rc, 0);
        char c = 0;
        CHECK_EQ(eddy_io_try_read(&io, &c, 1), 1);
        CHECK_EQ(c, 'L');
        /* Drained: the next read must see EAGAIN and forget readiness. */
        CHECK_EQ(eddy_io_try_read(&io, &c, 1), -EAGAIN);
        atomic_store(&g_lvl_round, i + 1);
    }
    CHECK_EQ(pthread_join(wt, NULL), 0);
    eddy__io_deregister(&io);
    close(g_pipe[0]);
    close(g_pipe[1]);
    /* Once the owner has stopped, no dispatch can hold a clone any more
     * (see park_quiesce): every reference must be gone. */
    owner_stop(owner);
    CHECK_EQ(atomic_load(&g_lvl_pk.refs), 0);
    park_fini(&g_lvl_pk);
    printf("C: %ld level-triggered rounds, %ld waits through the driver\n", LEVEL_ROUNDS, waits);
}

int main(void)
{
    test_watchdog(TEST_SANITIZED ? 110 : 60);
    test_pingpong();
    test_churn();
    test_level();
    printf("ok\n");
    return 0;
}
