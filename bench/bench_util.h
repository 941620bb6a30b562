/* bench/bench_util.h - what the eddy microbenchmarks share: a clock, a
 * fatal-error check, and the median-of-RUNS report that prints the
 * `RESULT name=... ns_per_op=...` line bench/run.sh reads.  Define
 * BENCH_NAME (the program's name, for messages) before including it. */
#ifndef EDDY_BENCH_UTIL_H
#define EDDY_BENCH_UTIL_H

#include <eddy/error.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#ifndef BENCH_NAME
#error "define BENCH_NAME before including bench_util.h"
#endif

#define RUNS 7

static inline uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline void die(const char *what, int rc)
{
    fprintf(stderr, "%s: %s: %s\n", BENCH_NAME, what, eddy_strerror(rc));
    exit(2);
}

/* Stops the program when an eddy call fails. */
#define OK(expr)                                                                                              \
    do {                                                                                                      \
        int rc_ = (expr);                                                                                     \
        if (rc_ != 0)                                                                                         \
            die(#expr, rc_);                                                                                  \
    } while (0)

static inline int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Runs fn RUNS times (after one warm-up); fn returns ns per op.  Prints
 * the median, min and max, and the RESULT line. */
static inline void report(const char *name, double (*fn)(void))
{
    double r[RUNS];
    (void)fn();
    for (int i = 0; i < RUNS; i++)
        r[i] = fn();
    qsort(r, RUNS, sizeof r[0], cmp_double);
    printf("%-34s median %9.1f ns/op   (min %.1f, max %.1f)\n", name, r[RUNS / 2], r[0], r[RUNS - 1]);
    printf("RESULT name=%s ns_per_op=%.1f min=%.1f max=%.1f reps=%d\n", name, r[RUNS / 2], r[0], r[RUNS - 1],
           RUNS);
    fflush(stdout);
}

#endif
