/* uv_timers - libuv's side of the timer microbenchmarks (see
 * eddy_timers.c for the cases).  A uv_timer_t is initialised once, outside
 * the timing (the analogue of a sleep that is a frame field in eddy); one
 * operation is uv_timer_start (1 s + i ms, no repeat) then, for the 10k
 * case after all 10,000 are started, uv_timer_stop.  libuv keeps timers in
 * a binary min-heap; uv_timer_start reads the loop's cached time.
 *
 * timers_1m_half_cancel: HALF_N uv_timer_t (initialised once, outside the
 * timing), uv_timer_start on each with common_timers.h's deadline pattern
 * (10..100 s, scrambled; libuv counts in milliseconds, so the 90 us steps
 * round to whole ms and some deadlines tie, which a heap orders by start
 * sequence), then uv_timer_stop on every second one (odd i), then on the
 * rest: ns per timer.  The callback aborts, so a timer that fires fails the
 * program; every uv_timer_start must return 0 and no timer may be active
 * after the stops.
 *
 * Prints RESULT name=libuv_<case> ns_per_op=... .  Usage: uv_timers [-q] */
#define _GNU_SOURCE
#include <uv.h>

#include "common_timers.h"

static uv_loop_t *loop;
static uv_timer_t one, many[MANY];
static uv_timer_t *half;   /* HALF_N timers */

static void never(uv_timer_t *t) { (void)t; abort(); }

static double arm_cancel(void)
{
    long n = g_quick ? ARM_N / 5 : ARM_N;
    uint64_t t0 = now_ns();
    for (long i = 0; i < n; i++) {
        uv_timer_start(&one, never, 1000, 0);
        uv_timer_stop(&one);
    }
    return (double)(now_ns() - t0) / (double)n;
}

static double arm_cancel_many(void)
{
    long reps = g_quick ? MANY_REPS / 5 : MANY_REPS;
    uint64_t t0 = now_ns();
    for (long r = 0; r < reps; r++) {
        for (int i = 0; i < MANY; i++)
            uv_timer_start(&many[i], never, 1000 + (uint64_t)i, 0);
        for (int i = 0; i < MANY; i++)
            uv_timer_stop(&many[i]);
    }
    return (double)(now_ns() - t0) / (double)(reps * MANY);
}

static double half_cancel(void)
{
    long n = g_quick ? HALF_N / 5 : HALF_N;
    long bad = 0;
    uint64_t t0 = now_ns();
    for (long i = 0; i < n; i++)
        bad += uv_timer_start(&half[i], never, half_deadline_ns(i, n) / 1000000u, 0) != 0;
    for (long i = 1; i < n; i += 2)
        uv_timer_stop(&half[i]);
    for (long i = 0; i < n; i += 2)
        uv_timer_stop(&half[i]);
    uint64_t dt = now_ns() - t0;
    for (long i = 0; i < n; i++)
        bad += uv_is_active((uv_handle_t *)&half[i]) != 0;
    if (bad) {
        fprintf(stderr, "uv_timers: timers_1m_half_cancel: %ld failed starts or active timers\n", bad);
        exit(1);
    }
    return (double)dt / (double)n;
}

int main(int argc, char **argv)
{
    g_quick = argc > 1 && strcmp(argv[1], "-q") == 0;
    loop = uv_default_loop();
    uv_timer_init(loop, &one);
    for (int i = 0; i < MANY; i++)
        uv_timer_init(loop, &many[i]);
    half = malloc((size_t)HALF_N * sizeof *half);
    if (!half) {
        fprintf(stderr, "uv_timers: out of memory\n");
        return 2;
    }
    for (long i = 0; i < HALF_N; i++)
        uv_timer_init(loop, &half[i]);
    uv_update_time(loop);
    printf("uv_timers: libuv %s%s\n", uv_version_string(), g_quick ? " (quick)" : "");
    report("libuv_", "timer_arm_cancel", arm_cancel);
    report("libuv_", "timer_arm_cancel_10k", arm_cancel_many);
    report("libuv_", "timers_1m_half_cancel", half_cancel);
    return 0;
}
