/* bench_idle: memory per idle task.  Spawns N tasks that each wait for
 * ever (on a timer, or on a shared Notify), and reports the growth of the
 * process's resident memory divided by N, beside the task's own sizes.
 *
 *   bench_idle [-n TASKS]          (default 1,000,000)
 *
 * Prints `RESULT name=idle_task_timer bytes_per_task=...` and
 * `RESULT name=idle_task_notify bytes_per_task=...`.  RSS is read from
 * /proc/self/statm, so it counts everything: task blocks, the run queue,
 * the timer wheel and malloc's overhead. */
#include <eddy.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static long rss_bytes(void)
{
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f)
        return -1;
    if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
        resident = -1;
    fclose(f);
    return resident * sysconf(_SC_PAGESIZE);
}

/* A task waiting on a one-hour timer: its frame is a coroutine and a sleep. */
struct sleeper {
    eddy_coro co;
    eddy_sleep sl;
};
static eddy_poll sleeper_poll(struct sleeper *t, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&t->co, cx);
    EDDY_AWAIT(NULL, eddy_sleep, &t->sl, EDDY_SEC(3600));
    EDDY_END();
}
EDDY_STATIC_CORO_VT_VOID(sleeper_vt, struct sleeper, sleeper_poll);

/* A task waiting on a Notify that is never notified. */
static eddy_notify g_notify;
struct waiter {
    eddy_coro co;
    eddy_notified nf;
};
static eddy_poll waiter_poll(struct waiter *t, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&t->co, cx);
    EDDY_AWAIT(NULL, eddy_notified, &t->nf, &g_notify);
    EDDY_END();
}
EDDY_STATIC_CORO_VT_VOID(waiter_vt, struct waiter, waiter_poll);

struct root {
    eddy_coro co;
    const eddy_future_vt *vt;
    long n, i;
    long rss0, rss1;
    eddy_yield y;
};
static eddy_poll root_poll(struct root *r, eddy_cx *cx, int *out)
{
    EDDY_BEGIN(&r->co, cx);
    r->rss0 = rss_bytes();
    for (r->i = 0; r->i < r->n; r->i++) {
        void *frame;
        int rc = eddy_spawn_prepare(eddy_rt_current(), r->vt, &frame);
        if (rc < 0) {
            *out = rc;
            EDDY_RETURN();
        }
        memset(frame, 0, r->vt->size);
        if ((rc = eddy_spawn_commit(r->vt, frame, NULL)) < 0) {
            *out = rc;
            EDDY_RETURN();
        }
        if ((r->i & 4095) == 4095)
            EDDY_AWAIT(NULL, eddy_yield, &r->y); /* let them run and park */
    }
    EDDY_AWAIT(NULL, eddy_yield, &r->y);
    EDDY_AWAIT(NULL, eddy_yield, &r->y);
    r->rss1 = rss_bytes();
    *out = 0;
    EDDY_END();
}
EDDY_STATIC_CORO_VT(root_vt, struct root, int, root_poll);

static int run(const char *name, const eddy_future_vt *vt, long n)
{
    eddy_rt *rt;
    int rc = eddy_rt_new(&rt, NULL);
    if (rc < 0) {
        fprintf(stderr, "eddy_rt_new: %s\n", eddy_strerror(rc));
        return 1;
    }
    struct root r = {.vt = vt, .n = n};
    int out = -1;
    rc = eddy_block_on(rt, &root_vt, &r, &out);
    eddy_rt_stats st;
    eddy_rt_stats_get(rt, &st);
    if (rc < 0 || out < 0) {
        fprintf(stderr, "%s: %s\n", name, eddy_strerror(rc < 0 ? rc : out));
        eddy_rt_free(rt);
        return 1;
    }
    double per = (double)(r.rss1 - r.rss0) / (double)n;
    printf("%-18s %ld tasks alive=%llu  frame %u B + header %zu B  RSS growth %.1f MiB = %.0f B/task\n", name, n,
           (unsigned long long)st.alive, vt->size, st.task_header_size, (double)(r.rss1 - r.rss0) / 1048576.0, per);
    printf("RESULT name=%s bytes_per_task=%.0f n=%ld frame=%u header=%zu\n", name, per, n, vt->size,
           st.task_header_size);
    eddy_rt_free(rt);
    return 0;
}

int main(int argc, char **argv)
{
    long n = 1000000;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-n") && i + 1 < argc)
            n = strtol(argv[++i], NULL, 10);
    }
    if (n < 1000)
        n = 1000;
    eddy_notify_init(&g_notify);
    /* Each case in a fresh process, so that memory freed by one case and
     * kept by malloc does not hide the next one's growth. */
    struct {
        const char *name;
        const eddy_future_vt *vt;
    } cases[] = {{"idle_task_timer", &sleeper_vt}, {"idle_task_notify", &waiter_vt}};
    int bad = 0;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        fflush(stdout);
        pid_t pid = fork();
        if (pid < 0)
            return 1;
        if (pid == 0) {
            int r = run(cases[c].name, cases[c].vt, n);
            fflush(stdout);
            _exit(r);
        }
        int status = 0;
        if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
            bad = 1;
    }
    return bad;
}
