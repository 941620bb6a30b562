/* The blocking pool: results come back, jobs run in parallel, a full queue
 * pushes back, a queued job that is cancelled never runs, a running job
 * whose task is aborted finishes harmlessly, shutdown does not wait for
 * running work, and getaddrinfo runs off the runtime thread. */
// eddy-test-labels: flavors
// eddy-test-timeout: 60
#include "eddy_test.h"

#include <dirent.h>
#include <eddy.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <time.h>

/* ---- a job that sums 1..n ------------------------------------------------ */
struct sum_job {
    long n;
    long sum;
    pthread_t thread;
};

static void sum_fn(void *p)
{
    struct sum_job *j = p;
    j->sum = 0;
    for (long i = 1; i <= j->n; i++)
        j->sum += i;
    j->thread = pthread_self();
}

struct sum_task {
    eddy_coro co;
    eddy_blocking bl;
    struct sum_job res;
    int rc;
    long n;
};

static eddy_poll sum_poll(struct sum_task *t, eddy_cx *cx, long *out)
{
    EDDY_BEGIN(&t->co, cx);
    EDDY_AWAIT(&t->rc, eddy_blocking, &t->bl, sum_fn, &(struct sum_job){.n = t->n}, sizeof(struct sum_job), &t->res);
    *out = t->rc < 0 ? t->rc : t->res.sum;
    EDDY_END();
}
EDDY_CORO_VT(sum_vt, struct sum_task, long, sum_poll);

/* ---- a job that waits on a gate -------------------------------------------- */
static sem_t gate;
static sem_t started;
static sem_t done;
static atomic_int ran, finished;

static void gated_fn(void *p)
{
    (void)p;
    atomic_fetch_add(&ran, 1);
    sem_post(&started);
    while (sem_wait(&gate) != 0)
        ;
    atomic_fetch_add(&finished, 1);
    sem_post(&done);
}

struct gated_task {
    eddy_coro co;
    eddy_blocking bl;
    int rc;
};

static eddy_poll gated_poll(struct gated_task *t, eddy_cx *cx, int *out)
{
    EDDY_BEGIN(&t->co, cx);
    EDDY_AWAIT(&t->rc, eddy_blocking, &t->bl, gated_fn, NULL, 0, NULL);
    *out = t->rc;
    EDDY_END();
}
EDDY_CORO_VT(gated_vt, struct gated_task, int, gated_poll);

static void wait_sem(sem_t *s)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 20;
    int r;
    while ((r = sem_timedwait(s, &ts)) != 0 && errno == EINTR)
        ;
    CHECK_MSG(r == 0, "a blocking job did not start within 20 s");
}

/* ---- root futures ------------------------------------------------------------ */

#define PAR 8
static pthread_barrier_t bar;
static void par_fn(void *p)
{
    (void)p;
    pthread_barrier_wait(&bar); /* returns only if all PAR jobs run at once */
}

struct par_root {
    eddy_coro co;
    eddy_join *jh[PAR];
    int i, rc;
};
struct par_task {
    eddy_coro co;
    eddy_blocking bl;
    int rc;
};
static eddy_poll par_task_poll(struct par_task *t, eddy_cx *cx, int *out)
{
    EDDY_BEGIN(&t->co, cx);
    EDDY_AWAIT(&t->rc, eddy_blocking, &t->bl, par_fn, NULL, 0, NULL);
    *out = t->rc;
    EDDY_END();
}
EDDY_CORO_VT(par_task_vt, struct par_task, int, par_task_poll);

static eddy_poll par_root_poll(struct par_root *t, eddy_cx *cx, int *out)
{
    EDDY_BEGIN(&t->co, cx);
    for (t->i = 0; t->i < PAR; t->i++)
        CHECK_OK(eddy_spawn_local(&par_task_vt, &(struct par_task){0}, &t->jh[t->i]));
    for (t->i = 0; t->i < PAR; t->i++) {
        EDDY_AWAIT_POLL(&t->rc, eddy_join, t->jh[t->i]);
        CHECK_EQ(t->rc, 0);
        eddy_join_detach(t->jh[t->i]);
    }
    *out = 0;
    EDDY_END();
}
EDDY_CORO_VT(par_root_vt, struct par_root, int, par_root_poll);

/* backpressure + cancellation: one thread, queue of 2 */
struct bp_root {
    eddy_coro co;
    eddy_join *jh[5];
    int i, rc;
    eddy_yield y;
};
static eddy_poll bp_root_poll(struct bp_root *t, eddy_cx *cx, int *out)
{
    EDDY_BEGIN(&t->co, cx);
    for (t->i = 0; t->i < 5; t->i++)
        CHECK_OK(eddy_spawn_local(&gated_vt, &(struct gated_task){0}, &t->jh[t->i]));
    /* Let every task poll once: job 0 runs, 1 and 2 queue, 3 and 4 wait. */
    for (t->i = 0; t->i < 4; t->i++)
        EDDY_AWAIT(NULL, eddy_yield, &t->y);
    wait_sem(&started);
    CHECK_EQ(atomic_load(&ran), 1);
    /* Cancel a queued job (task 1) and a waiting one (task 4). */
    eddy_join_abort(t->jh[1]);
    eddy_join_abort(t->jh[4]);
    for (t->i = 0; t->i < 4; t->i++)
        EDDY_AWAIT(NULL, eddy_yield, &t->y);
    /* Open the gate for the three that remain: 0, 2, 3. */
    for (t->i = 0; t->i < 3; t->i++)
        sem_post(&gate);
    for (t->i = 0; t->i < 5; t->i++) {
        EDDY_AWAIT_POLL(&t->rc, eddy_join, t->jh[t->i]);
        if (t->i == 1 || t->i == 4) {
            CHECK_EQ(eddy_join_status(t->jh[t->i]), -ECANCELED);
        } else {
            CHECK_EQ(eddy_join_status(t->jh[t->i]), 0);
            CHECK_EQ(t->rc, 0);
        }
        eddy_join_detach(t->jh[t->i]);
    }
    CHECK_EQ(atomic_load(&ran), 3);      /* the cancelled ones never ran */
    CHECK_EQ(atomic_load(&finished), 3);
    *out = 0;
    EDDY_END();
}
EDDY_CORO_VT(bp_root_vt, struct bp_root, int, bp_root_poll);

/* resolve */
struct res_root {
    eddy_coro co;
    eddy_resolve r;
    eddy_addr addrs[4];
    int n, n2, n3;
};
static eddy_poll res_root_poll(struct res_root *t, eddy_cx *cx, int *out)
{
    EDDY_BEGIN(&t->co, cx);
    EDDY_AWAIT(&t->n, eddy_resolve, &t->r, "127.0.0.1", 8080, t->addrs, 4);
    CHECK_EQ(t->n, 1);
    char buf[64];
    CHECK(eddy_addr_format(&t->addrs[0], buf, sizeof buf) > 0);
    CHECK_MSG(strcmp(buf, "127.0.0.1:8080") == 0, "got %s", buf);
    EDDY_AWAIT(&t->n2, eddy_resolve, &t->r, "localhost", 443, t->addrs, 4);
    CHECK_MSG(t->n2 >= 1, "localhost: %s", eddy_strerror(t->n2));
    CHECK_EQ(eddy_addr_port(&t->addrs[0]), 443);
    EDDY_AWAIT(&t->n3, eddy_resolve, &t->r, "no-such-host.invalid", 80, t->addrs, 4);
    CHECK_MSG(t->n3 < 0, "a .invalid name resolved");
    *out = 0;
    EDDY_END();
}
EDDY_CORO_VT(res_root_vt, struct res_root, int, res_root_poll);

/* Section 5's root: spawns the gated task, then waits (on a pool thread,
 * not the runtime's) until its job has started, so the runtime is freed
 * while that job is certainly running. */
struct started_wait {
    int ok;
};
static void wait_started_fn(void *p)
{
    struct started_wait *w = p;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 20;
    int r;
    while ((r = sem_timedwait(&started, &ts)) != 0 && errno == EINTR)
        ;
    w->ok = r == 0;
}

struct shut_root {
    eddy_coro co;
    eddy_blocking bl;
    struct started_wait res;
    int rc;
};
static eddy_poll shut_root_poll(struct shut_root *t, eddy_cx *cx, int *out)
{
    EDDY_BEGIN(&t->co, cx);
    CHECK_OK(eddy_spawn_local(&gated_vt, &(struct gated_task){0}, NULL));
    EDDY_AWAIT(&t->rc, eddy_blocking, &t->bl, wait_started_fn, &(struct started_wait){0},
               sizeof(struct started_wait), &t->res);
    CHECK_OK(t->rc);
    CHECK_MSG(t->res.ok, "the gated job did not start within 20 s");
    *out = 0;
    EDDY_END();
}
EDDY_CORO_VT(shut_root_vt, struct shut_root, int, shut_root_poll);

static void *noop_thread(void *arg) { return arg; }

static int threads_alive(void)
{
    DIR *d = opendir("/proc/self/task");
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

int main(void)
{
    test_watchdog(50);
    /* ThreadSanitizer starts a helper thread at the first pthread_create:
     * start one first, so that the baseline includes it. */
    pthread_t warm;
    CHECK(pthread_create(&warm, NULL, noop_thread, NULL) == 0);
    pthread_join(warm, NULL);
    int base_threads = threads_alive();
    sem_init(&gate, 0, 0);
    sem_init(&started, 0, 0);
    sem_init(&done, 0, 0);

    /* 1. results come back, computed on another thread */
    {
        eddy_rt *rt;
        CHECK_OK(eddy_rt_new(&rt, test_builder(NULL)));
        struct sum_task t = {.n = 100000};
        long out = 0;
        CHECK_OK(eddy_block_on(rt, &sum_vt, &t, &out));
        CHECK_EQ(out, 5000050000L);
        CHECK(!pthread_equal(t.res.thread, pthread_self()));
        eddy_rt_free(rt);
    }
    /* 2. eight jobs run at the same time (a barrier of 8 only opens then) */
    {
        pthread_barrier_init(&bar, NULL, PAR);
        eddy_rt *rt;
        CHECK_OK(eddy_rt_new(&rt, test_builder(NULL)));
        struct par_root r = {0};
        int out = -1;
        CHECK_OK(eddy_block_on(rt, &par_root_vt, &r, &out));
        CHECK_EQ(out, 0);
        eddy_rt_free(rt);
        pthread_barrier_destroy(&bar);
    }
    /* 3. backpressure and cancellation with one thread and a queue of 2 */
    {
        eddy_rt *rt;
        CHECK_OK(eddy_rt_new(&rt, &(eddy_rt_builder){.max_blocking_threads = 1, .blocking_queue = 2}));
        struct bp_root r = {0};
        int out = -1;
        CHECK_OK(eddy_block_on(rt, &bp_root_vt, &r, &out));
        CHECK_EQ(out, 0);
        eddy_rt_free(rt);
    }
    /* 4. name resolution */
    {
        eddy_rt *rt;
        CHECK_OK(eddy_rt_new(&rt, test_builder(NULL)));
        struct res_root r = {0};
        int out = -1;
        CHECK_OK(eddy_block_on(rt, &res_root_vt, &r, &out));
        CHECK_EQ(out, 0);
        eddy_rt_free(rt);
    }
    /* 5. shutdown with a job still running does not wait for it; the job
     * finishes later on its own thread and everything is freed. */
    {
        /* Forget the earlier sections' posts: this section counts its own. */
        while (sem_trywait(&started) == 0)
            ;
        while (sem_trywait(&done) == 0)
            ;
        atomic_store(&ran, 0);
        atomic_store(&finished, 0);
        eddy_rt *rt;
        CHECK_OK(eddy_rt_new(&rt, test_builder(NULL)));
        struct shut_root sr = {0};
        int sout = -1;
        CHECK_OK(eddy_block_on(rt, &shut_root_vt, &sr, &sout));
        CHECK_EQ(sout, 0);
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        eddy_rt_free(rt);
        clock_gettime(CLOCK_MONOTONIC, &b);
        double ms = (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
        CHECK_MSG(ms < 1000, "eddy_rt_free waited %.0f ms for a running blocking job", ms);
        CHECK_EQ(atomic_load(&finished), 0);
        sem_post(&gate);
        wait_sem(&done); /* the job ran to its end after the runtime was gone */
        CHECK_EQ(atomic_load(&finished), 1);
        /* Every pool thread retires once its work is done (observed, bounded). */
        for (int i = 0; i < 5000 && threads_alive() > base_threads; i++) {
            struct timespec ts = {0, 1000000};
            nanosleep(&ts, NULL);
        }
        CHECK_MSG(threads_alive() == base_threads, "%d pool thread(s) still alive", threads_alive() - base_threads);
    }
    printf("test_rt_blocking: ok\n");
    return 0;
}
