/* The blocking pool: results come back, jobs run in parallel, a full queue
 * pushes back, a queued job that is cancelled never runs, a running job
 * whose task is aborted finishes harmlessly, shutdown does not wait for
 * running work, and getaddrinfo runs off the runtime thread.  Section 6:
 * eddy_blocking_ex copies only in_size bytes in, and its discard releases
 * what a job acquired whenever the job's block is not delivered (detached
 * while running, dropped after it finished, result NULL), and only then. */
// eddy-test-labels: flavors
// eddy-test-timeout: 60
#include "eddy_test.h"

#include <dirent.h>
#include <fcntl.h>
#include <stddef.h>
#include <unistd.h>
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

/* ---- section 6: eddy_blocking_ex ------------------------------------------ */

/* A job that opens a pipe: what it acquires must come back to the caller
 * or be released by discard. */
struct pipe_job {
    int gated; /* in: wait for the gate after opening */
    int fds[2]; /* out */
};
static atomic_int discards;
static sem_t discarded;

static void pipe_fn(void *p)
{
    struct pipe_job *j = p;
    CHECK(pipe2(j->fds, O_CLOEXEC) == 0);
    if (j->gated) {
        sem_post(&started);
        while (sem_wait(&gate) != 0)
            ;
    }
}

static void pipe_discard(void *p)
{
    struct pipe_job *j = p;
    close(j->fds[0]);
    close(j->fds[1]);
    atomic_fetch_add(&discards, 1);
    sem_post(&discarded);
}

static const eddy_blocking_opts pipe_opts = {.discard = pipe_discard};

/* Entries of a /proc/self directory (threads, descriptors). */
static int proc_entries(const char *dir)
{
    DIR *d = opendir(dir);
    CHECK(d != NULL);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

static int fds_open(void) { return proc_entries("/proc/self/fd") - 1; /* the directory's own descriptor */ }

/* in_size: the source block is only in_size bytes long (ASan reports a
 * copy of more); fn sees the inputs and fills the output tail. */
struct split_job {
    long a, b;       /* in */
    long sum;        /* out */
    char tail[4096]; /* out */
};
static void split_fn(void *p)
{
    struct split_job *j = p;
    j->sum = j->a + j->b;
    memset(j->tail, 'x', sizeof j->tail);
}

struct gated_pipe_task {
    eddy_coro co;
    eddy_blocking bl;
    struct pipe_job res;
    int rc;
};
static eddy_poll gated_pipe_poll(struct gated_pipe_task *t, eddy_cx *cx, int *out)
{
    EDDY_BEGIN(&t->co, cx);
    EDDY_AWAIT(&t->rc, eddy_blocking_ex, &t->bl, pipe_fn, &(struct pipe_job){.gated = 1}, sizeof(struct pipe_job),
               &t->res, &pipe_opts);
    *out = t->rc;
    EDDY_END();
}
EDDY_CORO_VT(gated_pipe_vt, struct gated_pipe_task, int, gated_pipe_poll);

struct ex_root {
    eddy_coro co;
    eddy_blocking bl, held;
    struct pipe_job res;
    struct split_job *src, split;
    struct started_wait sw;
    eddy_join *jh;
    int rc, base_fds;
};

static void nothing_fn(void *p) { (void)p; }

static eddy_poll ex_root_poll(struct ex_root *t, eddy_cx *cx, int *out)
{
    EDDY_BEGIN(&t->co, cx);
    t->base_fds = fds_open();

    /* in_size over size: refused before anything is queued */
    EDDY_AWAIT(&t->rc, eddy_blocking_ex, &t->bl, split_fn, &t->split, sizeof t->split, &t->split,
               &(eddy_blocking_opts){.in_size = sizeof t->split + 1});
    CHECK_EQ(t->rc, -EINVAL);

    /* in_size: 16 bytes in, the whole block out */
    t->src = malloc(offsetof(struct split_job, sum));
    CHECK(t->src != NULL);
    t->src->a = 40;
    t->src->b = 2;
    EDDY_AWAIT(&t->rc, eddy_blocking_ex, &t->bl, split_fn, t->src, sizeof t->split, &t->split,
               &(eddy_blocking_opts){.in_size = offsetof(struct split_job, sum)});
    free(t->src);
    CHECK_OK(t->rc);
    CHECK_EQ(t->split.sum, 42);
    CHECK(t->split.tail[0] == 'x' && t->split.tail[sizeof t->split.tail - 1] == 'x');

    /* delivered: the caller owns what fn opened; discard does not run */
    EDDY_AWAIT(&t->rc, eddy_blocking_ex, &t->bl, pipe_fn, &(struct pipe_job){0}, sizeof(struct pipe_job), &t->res,
               &pipe_opts);
    CHECK_OK(t->rc);
    CHECK_EQ(fds_open(), t->base_fds + 2);
    CHECK_EQ(atomic_load(&discards), 0);
    close(t->res.fds[0]);
    close(t->res.fds[1]);

    /* result NULL: nobody takes the block, discard runs in the poll */
    EDDY_AWAIT(&t->rc, eddy_blocking_ex, &t->bl, pipe_fn, &(struct pipe_job){0}, sizeof(struct pipe_job), NULL,
               &pipe_opts);
    CHECK_OK(t->rc);
    CHECK_EQ(atomic_load(&discards), 1);
    CHECK_EQ(fds_open(), t->base_fds);

    /* dropped after fn ended but before the poll that would deliver it: one
     * pool thread runs jobs in order, so once the next job is back the
     * first is finished and still undelivered. */
    eddy_blocking_ex_init(&t->held, pipe_fn, &(struct pipe_job){0}, sizeof(struct pipe_job), &t->res, &pipe_opts);
    CHECK(eddy_blocking_poll(&t->held, cx, &t->rc) == EDDY_PENDING);
    EDDY_AWAIT(&t->rc, eddy_blocking, &t->bl, nothing_fn, NULL, 0, NULL);
    CHECK_OK(t->rc);
    CHECK_EQ(atomic_load(&discards), 1);
    eddy_blocking_drop(&t->held);
    CHECK_EQ(atomic_load(&discards), 2);
    CHECK_EQ(fds_open(), t->base_fds);
    *out = 0;
    EDDY_END();
}
EDDY_CORO_VT(ex_root_vt, struct ex_root, int, ex_root_poll);

/* Detached while fn runs: discard runs on the pool thread after fn. */
static eddy_poll detach_root_poll(struct ex_root *t, eddy_cx *cx, int *out)
{
    EDDY_BEGIN(&t->co, cx);
    while (sem_trywait(&started) == 0)
        ;
    {
        struct gated_pipe_task init = {0};
        CHECK_OK(eddy_spawn_local(&gated_pipe_vt, &init, &t->jh));
    }
    EDDY_AWAIT(&t->rc, eddy_blocking, &t->bl, wait_started_fn, &(struct started_wait){0},
               sizeof(struct started_wait), &t->sw);
    CHECK_OK(t->rc);
    CHECK_MSG(t->sw.ok, "the gated pipe job did not start within 20 s");
    eddy_join_abort(t->jh);
    EDDY_AWAIT_POLL(&t->rc, eddy_join, t->jh);
    CHECK_EQ(eddy_join_status(t->jh), -ECANCELED);
    eddy_join_detach(t->jh);
    CHECK_EQ(atomic_load(&discards), 2); /* fn still runs */
    sem_post(&gate);
    *out = 0;
    EDDY_END();
}
EDDY_CORO_VT(detach_root_vt, struct ex_root, int, detach_root_poll);

static void *noop_thread(void *arg) { return arg; }

static int threads_alive(void) { return proc_entries("/proc/self/task"); }

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
    /* 6. eddy_blocking_ex: in_size and discard; one pool thread first (it
     * runs jobs in order), then the default pool for the detached job */
    {
        sem_init(&discarded, 0, 0);
        int base = fds_open();
        eddy_rt *rt;
        CHECK_OK(eddy_rt_new(&rt, test_builder(&(eddy_rt_builder){.max_blocking_threads = 1})));
        struct ex_root r = {0};
        int out = -1;
        CHECK_OK(eddy_block_on(rt, &ex_root_vt, &r, &out));
        CHECK_EQ(out, 0);
        memset(&r, 0, sizeof r);
        out = -1;
        eddy_rt_free(rt);
        CHECK_OK(eddy_rt_new(&rt, test_builder(NULL)));
        CHECK_OK(eddy_block_on(rt, &detach_root_vt, &r, &out));
        CHECK_EQ(out, 0);
        for (int i = 0; i < 3; i++)
            wait_sem(&discarded); /* the last: the detached job's, after the gate opened */
        CHECK_EQ(atomic_load(&discards), 3);
        eddy_rt_free(rt);
        /* A pool thread may still be inside the wake of a finished job's
         * waker, which keeps the runtime's shared part (and its eventfd)
         * alive a moment after eddy_rt_free: wait for it (bounded), as for
         * the threads above. */
        for (int i = 0; i < 5000 && fds_open() != base; i++) {
            struct timespec ts = {0, 1000000};
            nanosleep(&ts, NULL);
        }
        CHECK_EQ(fds_open(), base);
    }
    printf("test_rt_blocking: ok\n");
    return 0;
}
