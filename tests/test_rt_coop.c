/* Cooperative budget: a task reading an endless flood (its socket is
 * always ready) and a 10 ms interval timer on the same runtime thread (on
 * the multi-thread runtime, run as <name>_mt: both are tasks on its one
 * worker).
 * Without a budget the reader would never return PENDING and the timer
 * would never fire; with it the timer is never more than 20 ms late. */
// eddy-test-timeout: 60
// eddy-test-labels: timing flavors
#include "eddy_test.h"

#include <eddy.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <time.h>

#define TICKS 30

static atomic_int stop;
static int flood_fd;
static atomic_long flooded;

static void *flooder(void *arg)
{
    (void)arg;
    static char buf[65536];
    memset(buf, 'x', sizeof buf);
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    while (!atomic_load(&stop)) {
        ssize_t n = send(flood_fd, buf, sizeof buf, MSG_NOSIGNAL); /* no SIGPIPE at shutdown */
        if (n > 0)
            atomic_fetch_add(&flooded, n);
        else if (n < 0 && errno != EINTR)
            break;
        clock_gettime(CLOCK_MONOTONIC, &b);
        if (b.tv_sec - a.tv_sec > 30) /* bounded even if the test hangs */
            break;
    }
    return NULL;
}

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

struct reader {
    eddy_coro co;
    int fd;
    eddy_io io;
    eddy_read rd;
    ssize_t n;
    long total;
    char buf[4096];
};

static eddy_poll reader_poll(struct reader *t, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&t->co, cx);
    CHECK_OK(eddy_io_open(&t->io, t->fd, EDDY_IO_NOCLOSE));
    for (;;) {
        EDDY_AWAIT(&t->n, eddy_read, &t->rd, &t->io, t->buf, sizeof t->buf);
        if (t->n <= 0)
            break;
        t->total += t->n;
    }
    EDDY_FINALLY();
    eddy_io_close(&t->io);
    EDDY_DONE();
}
EDDY_CORO_VT_VOID(reader_vt, struct reader, reader_poll);

struct root {
    eddy_coro co;
    eddy_join *reader;
    eddy_interval iv;
    eddy_instant at;
    int i;
    uint64_t worst_ns;
};

static eddy_poll root_poll(struct root *t, eddy_cx *cx, int *out)
{
    EDDY_BEGIN(&t->co, cx);
    eddy_interval_init(&t->iv, EDDY_MS(10));
    for (t->i = 0; t->i < TICKS; t->i++) {
        EDDY_AWAIT(&t->at, eddy_interval_tick, &t->iv);
        uint64_t late = mono_ns() - t->at;
        if (t->i > 0 && late > t->worst_ns) /* tick 0 is immediate */
            t->worst_ns = late;
    }
    eddy_interval_drop(&t->iv);
    *out = 0;
    EDDY_END();
}
EDDY_CORO_VT(root_vt, struct root, int, root_poll);

/* Multi-thread flavour: block_on's thread is not a worker, so the timer
 * loop runs as a task beside the reader and block_on only joins it. */
struct join_wait {
    eddy_join *jh;
};
static eddy_poll join_wait_poll(struct join_wait *j, eddy_cx *cx, int *out)
{
    return eddy_join_poll(j->jh, cx, out);
}
static void join_wait_drop(struct join_wait *j) { (void)j; }
EDDY_FUTURE_VT(join_wait_vt, struct join_wait, int, join_wait_poll, join_wait_drop);

/* One measurement: worst lateness in ns over TICKS ticks. */
static uint64_t measure(void)
{
    atomic_store(&stop, 0);
    atomic_store(&flooded, 0);
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    flood_fd = sv[0];
    pthread_t th;
    CHECK(pthread_create(&th, NULL, flooder, NULL) == 0);

    eddy_rt *rt;
    CHECK_OK(eddy_rt_new(&rt, test_builder(&(eddy_rt_builder){.workers = 1})));
    struct reader rd = {.fd = sv[1]};
    eddy_join *jh;
    CHECK_OK(eddy_spawn(rt, &reader_vt, &rd, &jh));
    struct root r = {0};
    int out = -1;
    if (test_is_mt()) {
        /* The root runs in the task block; its worst lateness comes back
         * through a pointer kept in the frame copy's place. */
        eddy_join *rj;
        void *frame;
        CHECK_OK(eddy_spawn_prepare(rt, &root_vt, &frame));
        memset(frame, 0, sizeof r);
        CHECK_OK(eddy_spawn_commit(&root_vt, frame, &rj));
        struct root *live = frame;
        struct join_wait jw = {rj};
        CHECK_OK(eddy_block_on(rt, &join_wait_vt, &jw, &out));
        r.worst_ns = live->worst_ns; /* the frame is dropped, not freed, while the handle lives */
        eddy_join_detach(rj);
    } else {
        CHECK_OK(eddy_block_on(rt, &root_vt, &r, &out));
    }
    CHECK_EQ(out, 0);
    atomic_store(&stop, 1);
    shutdown(sv[0], SHUT_RDWR);
    pthread_join(th, NULL);
    eddy_join_detach(jh);
    eddy_rt_free(rt);
    close(sv[0]);
    close(sv[1]);
    printf("flooded %ld bytes; worst timer lateness %.2f ms over %d ticks\n", atomic_load(&flooded),
           (double)r.worst_ns / 1e6, TICKS);
    CHECK_MSG(atomic_load(&flooded) > 1 << 20, "the flood did not flow (%ld bytes)", atomic_load(&flooded));
    return r.worst_ns;
}

int main(void)
{
    test_watchdog(50);
    /* The machine is shared and the flooder competes for the same cores:
     * the best of three runs must meet the bound.  A runtime without a
     * budget never fires the timer at all (the watchdog ends the test), and
     * one whose budget does not let the driver in is late in every run. */
    uint64_t best = UINT64_MAX;
    for (int attempt = 0; attempt < 3 && best > 20000000u; attempt++) {
        uint64_t w = measure();
        if (w < best)
            best = w;
    }
    CHECK_MSG(best <= 20000000u, "the 10 ms timer was %.2f ms late under a flood (best of 3)", (double)best / 1e6);
    printf("test_rt_coop: ok\n");
    return 0;
}
