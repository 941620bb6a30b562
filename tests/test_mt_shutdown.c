/* Shutting the multi-thread runtime down under load: while 2 workers run
 * tasks that wake each other in a ring without pause, tasks that wait on
 * I/O registrations (socket pairs with no data), and tasks that wait on
 * blocking jobs, eddy_rt_free must return within a second, drop every
 * task's frame exactly once (each drop closes what the frame holds), and
 * leak nothing (AddressSanitizer's leak check runs on this test in CI).
 * Repeated, so the shutdown lands at different moments. */
// eddy-test-timeout: 120
#include <eddy.h>

#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "eddy_test.h"

enum { RING = 64, IO_TASKS = 32, BLOCKERS = 8, ROUNDS = 10 };

static atomic_long started, dropped, ring_hops, jobs_running;

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- a ring of tasks waking each other ------------------------------------------ */

static eddy_notify ring[RING];

struct hop {
    eddy_coro co;
    int i;
    eddy_notified n;
};
static eddy_poll hop_poll(struct hop *h, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&h->co, cx);
    atomic_fetch_add(&started, 1);
    for (;;) {
        EDDY_AWAIT(NULL, eddy_notified, &h->n, &ring[h->i]);
        atomic_fetch_add_explicit(&ring_hops, 1, memory_order_relaxed);
        eddy_notify_one(&ring[(h->i + 1) % RING]);
    }
    EDDY_FINALLY();
    atomic_fetch_add(&dropped, 1);
    EDDY_DONE();
}
EDDY_STATIC_CORO_VT_VOID(hop_vt, struct hop, hop_poll);

/* ---- tasks holding I/O registrations ------------------------------------------------ */

struct reader {
    eddy_coro co;
    int fd, peer;
    eddy_io io;
    eddy_read rd;
    ssize_t n;
    char buf[64];
};
static eddy_poll reader_poll(struct reader *r, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&r->co, cx);
    CHECK_OK(eddy_io_open(&r->io, r->fd, 0));
    atomic_fetch_add(&started, 1);
    EDDY_AWAIT(&r->n, eddy_read, &r->rd, &r->io, r->buf, sizeof r->buf); /* nobody writes */
    EDDY_FINALLY();
    if (r->io.registered)
        eddy_io_close(&r->io);
    else
        close(r->fd);
    close(r->peer);
    atomic_fetch_add(&dropped, 1);
    EDDY_DONE();
}
EDDY_STATIC_CORO_VT_VOID(reader_vt, struct reader, reader_poll);

/* ---- tasks waiting on blocking work ------------------------------------------------- */

static void slow_job(void *data)
{
    (void)data;
    atomic_fetch_add(&jobs_running, 1);
    struct timespec ts = {0, 20 * 1000 * 1000};
    nanosleep(&ts, NULL); /* the blocking work itself, not synchronisation */
    atomic_fetch_sub(&jobs_running, 1);
}

struct blocker {
    eddy_coro co;
    eddy_blocking bl;
    int rc;
};
static eddy_poll blocker_poll(struct blocker *b, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&b->co, cx);
    atomic_fetch_add(&started, 1);
    for (;;)
        EDDY_AWAIT(&b->rc, eddy_blocking, &b->bl, slow_job, NULL, 0, NULL);
    EDDY_FINALLY();
    atomic_fetch_add(&dropped, 1);
    EDDY_DONE();
}
EDDY_STATIC_CORO_VT_VOID(blocker_vt, struct blocker, blocker_poll);

/* ---- the rounds ------------------------------------------------------------------------- */

static void one_round(int round)
{
    atomic_store(&started, 0);
    atomic_store(&dropped, 0);
    atomic_store(&ring_hops, 0);
    eddy_rt *rt;
    CHECK_OK(eddy_rt_new(&rt, &(eddy_rt_builder){.flavor = EDDY_RT_MULTI_THREAD, .workers = 2}));
    for (int i = 0; i < RING; i++)
        eddy_notify_init(&ring[i]);
    for (int i = 0; i < RING; i++)
        CHECK_OK(eddy_spawn(rt, &hop_vt, &(struct hop){.i = i}, NULL));
    for (int i = 0; i < IO_TASKS; i++) {
        int sv[2];
        CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
        CHECK_OK(eddy_spawn(rt, &reader_vt, &(struct reader){.fd = sv[0], .peer = sv[1]}, NULL));
    }
    for (int i = 0; i < BLOCKERS; i++)
        CHECK_OK(eddy_spawn(rt, &blocker_vt, &(struct blocker){0}, NULL));
    /* Several tokens circulate, so the ring never rests. */
    for (int i = 0; i < RING; i += 8)
        eddy_notify_one(&ring[i]);
    /* Wait (bounded) until every task has started and the ring has turned
     * a while; round r lets it turn longer, so shutdown lands elsewhere. */
    uint64_t deadline = mono_ns() + 20ull * 1000000000u;
    while (atomic_load(&started) < RING + IO_TASKS + BLOCKERS ||
           atomic_load(&ring_hops) < 1000L * (round + 1)) {
        CHECK_MSG(mono_ns() < deadline, "tasks did not start: %ld started, %ld hops", atomic_load(&started),
                  atomic_load(&ring_hops));
        sched_yield();
    }
    uint64_t t0 = mono_ns();
    eddy_rt_free(rt);
    uint64_t dt = mono_ns() - t0;
    CHECK_EQ(atomic_load(&dropped), RING + IO_TASKS + BLOCKERS);
    CHECK_MSG(dt < 1000000000u, "eddy_rt_free took %.1f ms", (double)dt / 1e6);
    if (round == 0)
        printf("shutdown under load: %.2f ms, %ld ring hops before it\n", (double)dt / 1e6,
               atomic_load(&ring_hops));
}

int main(void)
{
    test_watchdog(110);
    for (int r = 0; r < ROUNDS; r++)
        one_round(r);
    /* Jobs still sleeping on pool threads finish on their own; wait for
     * them (bounded) so the leak check sees a quiet process. */
    uint64_t deadline = mono_ns() + 5ull * 1000000000u;
    while (atomic_load(&jobs_running) > 0 && mono_ns() < deadline)
        sched_yield();
    CHECK_EQ(atomic_load(&jobs_running), 0);
    printf("test_mt_shutdown: ok\n");
    return 0;
}
