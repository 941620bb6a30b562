/* eddy_timers - eddy's side of the timer microbenchmarks that the peers
 * (uv_timers.c, tokio_bench -g timers, go_bench -g timers) also run.  It
 * lives here, next to its peers, because bench/ has no timer benchmark
 * yet; bench/peers/build.sh compiles it against the Release libeddy.a.
 *
 *   timer_arm_cancel      in one poll of block_on's root: init a 1 s sleep,
 *                         poll it once (it links into the wheel: PENDING),
 *                         drop it (unlinks): ns per arm + cancel, one timer
 *                         live at a time
 *   timer_arm_cancel_10k  arm 10,000 sleeps (deadlines 1 s + 0..10 s, all
 *                         different), then cancel them all: ns per timer,
 *                         with 10,000 live (a wheel's O(1) against a heap's
 *                         O(log n))
 *   timer_arm_cancel_until  timer_arm_cancel with eddy_sleep_until_init(
 *                         eddy_now() + 1 s): an absolute deadline from the
 *                         turn's cached clock, so no clock read at the first
 *                         poll (a sleep of a duration reads the clock there);
 *                         eddy only, to show what that read costs
 *
 * Prints RESULT name=<case> ns_per_op=... like the other programs.
 * Usage: eddy_timers [-q] */
#define _GNU_SOURCE
#include <eddy.h>

#include "common_timers.h"

static eddy_rt *g_rt;
static eddy_sleep g_many[MANY];

struct arm {
    long n;
    int many, until;
};

static eddy_poll arm_poll(struct arm *a, eddy_cx *cx, long *out)
{
    long armed = 0;
    if (!a->many) {
        eddy_sleep s;
        for (long i = 0; i < a->n; i++) {
            if (a->until)
                eddy_sleep_until_init(&s, eddy_now() + EDDY_SEC(1));
            else
                eddy_sleep_init(&s, EDDY_SEC(1));
            if (eddy_sleep_poll(&s, cx, NULL) == EDDY_PENDING)
                armed++;
            eddy_sleep_drop(&s);
        }
    } else {
        for (long r = 0; r < a->n; r++) {
            for (int i = 0; i < MANY; i++) {
                eddy_sleep_init(&g_many[i], EDDY_SEC(1) + EDDY_MS(i));
                if (eddy_sleep_poll(&g_many[i], cx, NULL) == EDDY_PENDING)
                    armed++;
            }
            for (int i = 0; i < MANY; i++)
                eddy_sleep_drop(&g_many[i]);
        }
    }
    *out = armed;
    return EDDY_READY;
}
static void arm_drop(struct arm *a) { (void)a; }
EDDY_FUTURE_VT(arm_vt, struct arm, long, arm_poll, arm_drop);

static double run(long n, int many, long ops, int until)
{
    struct arm a = {n, many, until};
    long armed = 0;
    uint64_t t0 = now_ns();
    int e = eddy_block_on(g_rt, &arm_vt, &a, &armed);
    uint64_t dt = now_ns() - t0;
    if (e || armed != ops) {
        fprintf(stderr, "eddy_timers: block_on %d, %ld of %ld armed\n", e, armed, ops);
        exit(1);
    }
    return (double)dt / (double)ops;
}

static double arm_cancel(void)
{
    long n = g_quick ? ARM_N / 5 : ARM_N;
    return run(n, 0, n, 0);
}

static double arm_cancel_until(void)
{
    long n = g_quick ? ARM_N / 5 : ARM_N;
    return run(n, 0, n, 1);
}

static double arm_cancel_many(void)
{
    long r = g_quick ? MANY_REPS / 5 : MANY_REPS;
    return run(r, 1, r * MANY, 0);
}

int main(int argc, char **argv)
{
    g_quick = argc > 1 && strcmp(argv[1], "-q") == 0;
    if (eddy_rt_new(&g_rt, NULL) != 0) {
        fprintf(stderr, "eddy_timers: eddy_rt_new failed\n");
        return 2;
    }
    printf("eddy_timers: current-thread runtime%s\n", g_quick ? " (quick)" : "");
    report("", "timer_arm_cancel", arm_cancel);
    report("", "timer_arm_cancel_10k", arm_cancel_many);
    report("", "timer_arm_cancel_until", arm_cancel_until);
    eddy_rt_free(g_rt);
    return 0;
}
