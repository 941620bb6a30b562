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

/* timers_1m_half_cancel: HALF_N timers live at once (-q: HALF_N / 5).
 * Timer i's deadline is 10 s + half_slot(i, n) * 90 s / n after arming: a
 * permutation of 0..n-1 (7919 is prime and divides neither 2 nor 5, so it
 * is coprime with n = 2^a 5^b), so the deadlines are all different (90 us
 * apart for n = 1,000,000), spread over 10..100 s and armed in scrambled
 * order, not sorted.  Every peer computes the same pattern.  (Not 1..10 s:
 * Go's timers fire on their own, and on a loaded machine a repetition can
 * outlast the first deadline; then Stop fails and so does the program.) */
#define HALF_N 1000000L
static inline long half_slot(long i, long n) { return (long)(((unsigned long long)i * 7919u) % (unsigned long long)n); }
static inline uint64_t half_deadline_ns(long i, long n)
{
    return 10000000000u + (uint64_t)half_slot(i, n) * (90000000000u / (uint64_t)n);
}

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
