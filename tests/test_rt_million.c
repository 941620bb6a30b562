/* One million spawned tasks each complete exactly once.
 *
 * A root coroutine spawns 1,000,000 detached tasks (in chunks, yielding
 * between chunks so spawning and running interleave and the run queue
 * grows while tasks run).  Task i adds 1 to flags[i]; odd tasks yield once
 * first, so half the tasks are re-queued.  At the end every flag must be
 * exactly 1 (0: lost, 2: run twice), the frames' drop ran once per task,
 * and the runtime's counters agree. */
// eddy-test-timeout: 180
// eddy-test-labels: slow
#include <eddy.h>

#include "eddy_test.h"

enum { NTASKS = 1000000, CHUNK = 10000 };

static unsigned char *flags;
static long completed, drops, polls;
static eddy_waker root_waker;

struct job {
    uint32_t idx;
    uint32_t yielded;
};

static eddy_poll job_poll(struct job *j, eddy_cx *cx, void *out)
{
    (void)out;
    polls++;
    if ((j->idx & 1) && !j->yielded) {
        j->yielded = 1;
        eddy_waker_wake_by_ref(cx->waker);
        return EDDY_PENDING;
    }
    flags[j->idx]++;
    if (++completed == NTASKS)
        eddy_waker_wake(&root_waker);
    return EDDY_READY;
}

static void job_drop(struct job *j)
{
    (void)j;
    drops++;
}
EDDY_FUTURE_VT_VOID(job_vt, struct job, job_poll, job_drop);

struct root {
    eddy_coro co;
    uint32_t next;
    uint32_t c;
};

static eddy_poll root_poll(struct root *r, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&r->co, cx);
    eddy_waker_set(&root_waker, EDDY_WAKER());
    while (r->next < NTASKS) {
        for (r->c = 0; r->c < CHUNK && r->next < NTASKS; r->c++, r->next++) {
            struct job j = {.idx = r->next, .yielded = 0};
            CHECK_OK(eddy_spawn_local(&job_vt, &j, NULL));
        }
        EDDY_YIELD();
    }
    EDDY_WAIT_UNTIL(completed == NTASKS);
    EDDY_END();
}
EDDY_CORO_VT_VOID(root_vt, struct root, root_poll);

int main(void)
{
    test_watchdog(170);
    flags = calloc(NTASKS, 1);
    CHECK(flags != NULL);
    eddy_rt *rt;
    CHECK_OK(eddy_rt_new(&rt, test_builder(NULL)));
    struct root r = {0};
    CHECK_OK(eddy_block_on(rt, &root_vt, &r, NULL));

    long zeros = 0, twos = 0, first_bad = -1;
    for (long i = 0; i < NTASKS; i++) {
        if (flags[i] != 1 && first_bad < 0)
            first_bad = i;
        zeros += flags[i] == 0;
        twos += flags[i] >= 2;
    }
    CHECK_MSG(zeros == 0 && twos == 0, "%ld tasks never ran, %ld ran more than once (first bad: %ld)", zeros, twos,
              first_bad);
    CHECK_EQ(completed, NTASKS);
    CHECK_EQ(drops, NTASKS);
    CHECK_EQ(polls, NTASKS + NTASKS / 2);
    CHECK(root_waker.vtable == NULL);

    eddy_rt_stats st;
    CHECK_OK(eddy_rt_stats_get(rt, &st));
    CHECK_EQ(st.spawned, NTASKS);
    CHECK_EQ(st.completed, NTASKS);
    CHECK_EQ(st.cancelled, 0);
    CHECK_EQ(st.alive, 0);
    CHECK_EQ(st.polls, NTASKS + NTASKS / 2);
    eddy_rt_free(rt);
    free(flags);
    printf("test_rt_million: ok\n");
    return 0;
}
