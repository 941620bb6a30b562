/* bench/peers/timers/common_timers.h - the measurement loop shared by
 * eddy_timers.c and uv_timers.c (the same one as bench/bench_chan.c's:
 * one warm-up, 7 measured repetitions, median, min, max). */
#ifndef EDDY_PEER_TIMERS_H
#define EDDY_PEER_TIMERS_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RUNS 7
#define ARM_N 1000000L   /* timer_arm_cancel: arm + cancel, one live timer */
#define MANY 10000       /* timer_arm_cancel_10k: timers live at once */
#define MANY_REPS 50     /* ... rounds of MANY per repetition */

static inline uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int g_quick;

static inline void report(const char *prefix, const char *name, double (*fn)(void))
{
    double r[RUNS];
    char full[96];
    snprintf(full, sizeof full, "%s%s", prefix, name);
    (void)fn();
    for (int i = 0; i < RUNS; i++)
        r[i] = fn();
    qsort(r, RUNS, sizeof r[0], cmp_double);
    printf("%-42s median %9.1f ns/op   (min %.1f, max %.1f)\n", full, r[RUNS / 2], r[0], r[RUNS - 1]);
    printf("RESULT name=%s ns_per_op=%.1f min=%.1f max=%.1f reps=%d\n", full, r[RUNS / 2], r[0], r[RUNS - 1],
           RUNS);
    fflush(stdout);
}

#endif
