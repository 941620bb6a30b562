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
 *   timers_1m_half_cancel  arm 1,000,000 sleeps at once (-q: 200,000), with
 *                         the deadlines of common_timers.h's half_deadline_ns
 *                         (10..100 s, all different, in scrambled order), each
 *                         polled once (PENDING: in the wheel); then drop every
 *                         second one (odd i), then drop the rest (even i):
 *                         ns per timer for arm + cancel, half of the cancels
 *                         with half the timers still live; nothing may fire
 *                         (every first poll must be PENDING)
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
static eddy_sleep *g_half;     /* HALF_N sleeps, allocated once */

struct arm {
    long n;
    int many, until, half;
};

static eddy_poll arm_poll(struct arm *a, eddy_cx *cx, long *out)
{
    long armed = 0;
    if (a->half) {
        long n = a->n;
        for (long i = 0; i < n; i++) {
            eddy_sleep_init(&g_half[i], half_deadline_ns(i, n));
            if (eddy_sleep_poll(&g_half[i], cx, NULL) == EDDY_PENDING)
                armed++;
        }
        for (long i = 1; i < n; i += 2)
            eddy_sleep_drop(&g_half[i]);
        for (long i = 0; i < n; i += 2)
            eddy_sleep_drop(&g_half[i]);
    } else if (!a->many) {
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

static double run(long n, int many, long ops, int until, int half)
{
    struct arm a = {n, many, until, half};
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
    return run(n, 0, n, 0, 0);
}

static double arm_cancel_until(void)
{
    long n = g_quick ? ARM_N / 5 : ARM_N;
    return run(n, 0, n, 1, 0);
}

static double arm_cancel_many(void)
{
    long r = g_quick ? MANY_REPS / 5 : MANY_REPS;
    return run(r, 1, r * MANY, 0, 0);
}

static double half_cancel(void)
{
    long n = g_quick ? HALF_N / 5 : HALF_N;
    return run(n, 0, n, 0, 1);
}

int main(int argc, char **argv)
{
    g_quick = argc > 1 && strcmp(argv[1], "-q") == 0;
    if (eddy_rt_new(&g_rt, NULL) != 0) {
        fprintf(stderr, "eddy_timers: eddy_rt_new failed\n");
        return 2;
    }
    g_half = malloc((size_t)HALF_N * sizeof *g_half);
    if (!g_half) {
        fprintf(stderr, "eddy_timers: out of memory\n");
        return 2;
    }
    printf("eddy_timers: current-thread runtime%s\n", g_quick ? " (quick)" : "");
    report("", "timer_arm_cancel", arm_cancel);
    report("", "timer_arm_cancel_10k", arm_cancel_many);
    report("", "timers_1m_half_cancel", half_cancel);
    report("", "timer_arm_cancel_until", arm_cancel_until);
    eddy_rt_free(g_rt);
    free(g_half);
    return 0;
}
