/* bench_spawn - spawn + join per task on the current-thread runtime.
 *
 * A block_on root coroutine spawns tasks that each return a value, then
 * awaits each join handle (and drops it), in batches so memory stays
 * bounded: spawn B, join B, repeat until N tasks.  One repetition is N
 * tasks; the program runs R repetitions and prints the median, min and max
 * in nanoseconds per task, plus one machine-readable line per case:
 *
 *     RESULT name=spawn_join ns_per_op=NN.N min=NN.N max=NN.N reps=R n=N
 *
 * Cases:
 *   spawn_join        batches of B (default 1024): the throughput figure
 *   spawn_join_one    B = 1: spawn one, await it, repeat (the latency path:
 *                     every task is a run-queue round trip for the root)
 *   spawn_detached    no join handle; the root waits for a counter
 *
 * Usage: bench_spawn [-n TASKS] [-r REPS] [-b BATCH] [-c CASE]   (-c: only that case)
 * Build it optimised (the Release build: make bench). */
#include <eddy.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { MAX_BATCH = 1 << 16, MAX_REPS = 101 };

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *what, int err)
{
    fprintf(stderr, "bench_spawn: %s: %s\n", what, eddy_strerror(err));
    exit(2);
}

/* ---- the task: returns its index at once ------------------------------- */

static long detached_done;

struct job {
    long idx;
};
static eddy_poll job_poll(struct job *j, eddy_cx *cx, long *out)
{
    (void)cx;
    *out = j->idx;
    return EDDY_READY;
}
static void job_drop(struct job *j) { (void)j; }
EDDY_FUTURE_VT(job_vt, struct job, long, job_poll, job_drop);

static eddy_waker detached_root;
static long detached_target;
struct djob {
    long idx;
};
static eddy_poll djob_poll(struct djob *j, eddy_cx *cx, void *out)
{
    (void)cx;
    (void)out;
    (void)j;
    if (++detached_done == detached_target)
        eddy_waker_wake_by_ref(&detached_root);
    return EDDY_READY;
}
static void djob_drop(struct djob *j) { (void)j; }
EDDY_FUTURE_VT_VOID(djob_vt, struct djob, djob_poll, djob_drop);

/* ---- the root ------------------------------------------------------------- */

static eddy_join *handles[MAX_BATCH];

struct root {
    eddy_coro co;
    long n, batch, done, i, k, sum, out;
    int detached;
};

static eddy_poll root_poll(struct root *r, eddy_cx *cx, long *result)
{
    EDDY_BEGIN(&r->co, cx);
    r->sum = 0;
    if (r->detached) {
        eddy_waker_set(&detached_root, EDDY_WAKER());
        detached_done = 0;
        for (r->done = 0; r->done < r->n; r->done += r->k) {
            r->k = r->n - r->done < r->batch ? r->n - r->done : r->batch;
            detached_target = r->done + r->k; /* the task reaching it wakes us */
            for (long i = 0; i < r->k; i++) {
                struct djob j = {r->done + i};
                int e = eddy_spawn_local(&djob_vt, &j, NULL);
                if (e)
                    die("eddy_spawn_local", e);
            }
            /* keep memory bounded: wait for this batch before the next */
            EDDY_WAIT_UNTIL(detached_done >= detached_target);
        }
        eddy_waker_drop(&detached_root);
        r->sum = detached_done;
    } else {
        for (r->done = 0; r->done < r->n; r->done += r->k) {
            r->k = r->n - r->done < r->batch ? r->n - r->done : r->batch;
            for (long i = 0; i < r->k; i++) {
                struct job j = {r->done + i};
                int e = eddy_spawn_local(&job_vt, &j, &handles[i]);
                if (e)
                    die("eddy_spawn_local", e);
            }
            for (r->i = 0; r->i < r->k; r->i++) {
                EDDY_AWAIT_POLL(&r->out, eddy_join, handles[r->i]);
                r->sum += r->out;
                eddy_join_detach(handles[r->i]);
            }
        }
    }
    *result = r->sum;
    EDDY_END();
}
EDDY_CORO_VT(root_vt, struct root, long, root_poll);

/* ---- measurement ------------------------------------------------------------ */

static const char *only; /* -c NAME: run just that case */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void run_case(const char *name, long n, long batch, int detached, int reps)
{
    double ns[MAX_REPS];
    if (only && strcmp(only, name) != 0)
        return;
    eddy_rt *rt;
    int e = eddy_rt_new(&rt, NULL);
    if (e)
        die("eddy_rt_new", e);
    /* one warm-up repetition (grows the run queue, warms malloc) */
    for (int rep = -1; rep < reps; rep++) {
        struct root r;
        memset(&r, 0, sizeof r);
        r.n = n;
        r.batch = batch;
        r.detached = detached;
        long sum = 0;
        uint64_t t0 = now_ns();
        e = eddy_block_on(rt, &root_vt, &r, &sum);
        uint64_t t1 = now_ns();
        if (e)
            die("eddy_block_on", e);
        long want = detached ? n : n * (n - 1) / 2;
        if (sum != want) {
            fprintf(stderr, "bench_spawn: %s: wrong result %ld, expected %ld\n", name, sum, want);
            exit(1);
        }
        if (rep >= 0)
            ns[rep] = (double)(t1 - t0) / (double)n;
    }
    eddy_rt_stats st;
    eddy_rt_stats_get(rt, &st);
    eddy_rt_free(rt);
    qsort(ns, (size_t)reps, sizeof ns[0], cmp_double);
    double med = ns[reps / 2];
    printf("  %-16s median %7.1f ns/task   (min %.1f, max %.1f; %d reps of %ld tasks, batch %ld)\n", name, med,
           ns[0], ns[reps - 1], reps, n, batch);
    printf("RESULT name=%s ns_per_op=%.1f min=%.1f max=%.1f reps=%d n=%ld batch=%ld\n", name, med, ns[0],
           ns[reps - 1], reps, n, batch);
    fflush(stdout);
}

static long parse(const char *s, long lo, long hi)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!*s || *end || errno || v < lo || v > hi) {
        fprintf(stderr, "bench_spawn: bad number '%s' (expected %ld..%ld)\n", s, lo, hi);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv)
{
    long n = 2000000, batch = 1024;
    int reps = 7;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-n") && i + 1 < argc)
            n = parse(argv[++i], 1, 1L << 34);
        else if (!strcmp(argv[i], "-r") && i + 1 < argc)
            reps = (int)parse(argv[++i], 1, MAX_REPS);
        else if (!strcmp(argv[i], "-b") && i + 1 < argc)
            batch = parse(argv[++i], 1, MAX_BATCH);
        else if (!strcmp(argv[i], "-c") && i + 1 < argc)
            only = argv[++i];
        else {
            fprintf(stderr, "usage: bench_spawn [-n TASKS] [-r REPS] [-b BATCH] [-c CASE]\n");
            return 2;
        }
    }
    printf("bench_spawn: spawn + join per task, current-thread runtime (EDDY_DEBUG=%d)\n", EDDY_DEBUG);
    run_case("spawn_join", n, batch, 0, reps);
    run_case("spawn_join_one", n, 1, 0, reps);
    run_case("spawn_detached", n, batch, 1, reps);
    return 0;
}
