/* uv_timers - libuv's side of the timer microbenchmarks (see
 * eddy_timers.c for the cases).  A uv_timer_t is initialised once, outside
 * the timing (the analogue of a sleep that is a frame field in eddy); one
 * operation is uv_timer_start (1 s + i ms, no repeat) then, for the 10k
 * case after all 10,000 are started, uv_timer_stop.  libuv keeps timers in
 * a binary min-heap; uv_timer_start reads the loop's cached time.
 *
 * Prints RESULT name=libuv_<case> ns_per_op=... .  Usage: uv_timers [-q] */
#define _GNU_SOURCE
#include <uv.h>

#include "common_timers.h"

static uv_loop_t *loop;
static uv_timer_t one, many[MANY];

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

int main(int argc, char **argv)
{
    g_quick = argc > 1 && strcmp(argv[1], "-q") == 0;
    loop = uv_default_loop();
    uv_timer_init(loop, &one);
    for (int i = 0; i < MANY; i++)
        uv_timer_init(loop, &many[i]);
    uv_update_time(loop);
    printf("uv_timers: libuv %s%s\n", uv_version_string(), g_quick ? " (quick)" : "");
    report("libuv_", "timer_arm_cancel", arm_cancel);
    report("libuv_", "timer_arm_cancel_10k", arm_cancel_many);
    return 0;
}
