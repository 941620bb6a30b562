/* bench_yield - yield + re-poll per operation on the current-thread runtime.
 *
 * One operation is: a task wakes itself, returns PENDING, goes through the
 * run queue and is polled again.  Cases:
 *   yield_one    one spawned task yielding N times (EDDY_AWAIT on eddy_yield)
 *   yield_two    two spawned tasks yielding N/2 times each, alternating
 *   yield_root   block_on's root future yielding N times (the root's waker
 *                path, not the task run queue)
 * One repetition is N operations (default 10,000,000); R repetitions
 * (default 7) give the median, min and max in ns per operation, and one
 * machine-readable line per case:
 *
 *     RESULT name=yield_one ns_per_op=NN.N min=NN.N max=NN.N reps=R n=N
 *
 * Usage: bench_yield [-n OPS] [-r REPS] [-c CASE]   (-c: run only that case)
 * Build it optimised (the Release build: make bench). */
#include <eddy.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { MAX_REPS = 101 };

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *what, int err)
{
    fprintf(stderr, "bench_yield: %s: %s\n", what, eddy_strerror(err));
    exit(2);
}

/* A task that yields n times and returns how often it resumed. */
struct yielder {
    eddy_coro co;
    long i, n;
    eddy_yield y;
};
static eddy_poll yielder_poll(struct yielder *t, eddy_cx *cx, long *out)
{
    EDDY_BEGIN(&t->co, cx);
    for (t->i = 0; t->i < t->n; t->i++)
        EDDY_AWAIT(NULL, eddy_yield, &t->y);
    *out = t->i;
    EDDY_END();
}
EDDY_CORO_VT(yielder_vt, struct yielder, long, yielder_poll);

/* The root: spawns `tasks` yielders sharing n operations and joins them,
 * or (tasks == 0) yields n times itself. */
struct root {
    eddy_coro co;
    long n, i, sum, out;
    int tasks;
    eddy_join *jh[2];
    eddy_yield y;
};
static eddy_poll root_poll(struct root *r, eddy_cx *cx, long *result)
{
    EDDY_BEGIN(&r->co, cx);
    r->sum = 0;
    if (r->tasks == 0) {
        for (r->i = 0; r->i < r->n; r->i++)
            EDDY_AWAIT(NULL, eddy_yield, &r->y);
        r->sum = r->i;
    } else {
        for (int k = 0; k < r->tasks; k++) {
            struct yielder y;
            eddy_coro_init(&y.co);
            y.n = r->n / r->tasks;
            int e = eddy_spawn_local(&yielder_vt, &y, &r->jh[k]);
            if (e)
                die("eddy_spawn_local", e);
        }
        for (r->i = 0; r->i < r->tasks; r->i++) {
            EDDY_AWAIT_POLL(&r->out, eddy_join, r->jh[r->i]);
            r->sum += r->out;
            eddy_join_detach(r->jh[r->i]);
        }
    }
    *result = r->sum;
    EDDY_END();
}
EDDY_CORO_VT(root_vt, struct root, long, root_poll);

static const char *only; /* -c NAME: run just that case */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void run_case(const char *name, long n, int tasks, int reps)
{
    double ns[MAX_REPS];
    if (only && strcmp(only, name) != 0)
        return;
    eddy_rt *rt;
    int e = eddy_rt_new(&rt, NULL);
    if (e)
        die("eddy_rt_new", e);
    for (int rep = -1; rep < reps; rep++) { /* rep -1: warm-up */
        struct root r;
        memset(&r, 0, sizeof r);
        r.n = n;
        r.tasks = tasks;
        long sum = 0;
        uint64_t t0 = now_ns();
        e = eddy_block_on(rt, &root_vt, &r, &sum);
        uint64_t t1 = now_ns();
        if (e)
            die("eddy_block_on", e);
        long want = tasks ? (n / tasks) * tasks : n;
        if (sum != want) {
            fprintf(stderr, "bench_yield: %s: wrong result %ld, expected %ld\n", name, sum, want);
            exit(1);
        }
        if (rep >= 0)
            ns[rep] = (double)(t1 - t0) / (double)want;
    }
    eddy_rt_free(rt);
    qsort(ns, (size_t)reps, sizeof ns[0], cmp_double);
    double med = ns[reps / 2];
    printf("  %-12s median %6.1f ns/op   (min %.1f, max %.1f; %d reps of %ld ops)\n", name, med, ns[0],
           ns[reps - 1], reps, n);
    printf("RESULT name=%s ns_per_op=%.1f min=%.1f max=%.1f reps=%d n=%ld\n", name, med, ns[0], ns[reps - 1], reps,
           n);
    fflush(stdout);
}

static long parse(const char *s, long lo, long hi)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!*s || *end || errno || v < lo || v > hi) {
        fprintf(stderr, "bench_yield: bad number '%s' (expected %ld..%ld)\n", s, lo, hi);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv)
{
    long n = 10000000;
    int reps = 7;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-n") && i + 1 < argc)
            n = parse(argv[++i], 2, 1L << 40);
        else if (!strcmp(argv[i], "-r") && i + 1 < argc)
            reps = (int)parse(argv[++i], 1, MAX_REPS);
        else if (!strcmp(argv[i], "-c") && i + 1 < argc)
            only = argv[++i];
        else {
            fprintf(stderr, "usage: bench_yield [-n OPS] [-r REPS] [-c CASE]\n");
            return 2;
        }
    }
    printf("bench_yield: yield + re-poll per operation, current-thread runtime (EDDY_DEBUG=%d)\n", EDDY_DEBUG);
    run_case("yield_one", n, 1, reps);
    run_case("yield_two", n, 2, reps);
    run_case("yield_root", n, 0, reps);
    return 0;
}
