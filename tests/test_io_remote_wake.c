/* A wake from another thread reaches a runtime asleep in epoll.
 *
 * In each phase a plain pthread first waits until the runtime's thread is
 * really asleep inside epoll_wait/epoll_pwait/epoll_pwait2 (read from
 * /proc/self/task/<tid>/syscall; bounded to 10 s), and only then acts:
 *
 *  1. it writes to a pipe whose read end an eddy task awaits (eddy_read):
 *     the kernel wakes epoll, the task completes with the bytes;
 *  2. it calls eddy_waker_wake on a clone of a task's waker (a hand-written
 *     future parked on a flag): the runtime must be unparked through its
 *     eventfd, and the task completes (stats.remote_wakes counts it);
 *  3. the same with the waker of block_on's own future (no task at all).
 *
 * Every wait of the runtime is under an eddy_timeout (20 s), so a lost
 * wake-up fails with a message instead of hanging; and since that timer
 * would itself end the runtime's sleep, each phase also checks that the
 * wake was acted on within 10 s of being sent (microseconds in practice).
 *
 * On the multi-thread runtime (the _mt variant) "the runtime is asleep"
 * means: every other thread of the process is blocked in a system call
 * (the workers in the driver's epoll wait or on their futex, block_on's
 * thread on its futex) and one of them is in an epoll wait (the driver
 * owner).  Phase 2's wake then comes from a thread that is not a worker,
 * through the inject queue and a worker's unpark; phase 3's is block_on's
 * futex. */
// eddy-test-timeout: 90
// eddy-test-labels: flavors
#include "net_util.h"

#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/syscall.h>

static pid_t g_rt_tid;
static atomic_int g_proc_ok = 1; /* /proc/self/task/<tid>/syscall readable */
static atomic_int g_slept_seen;  /* phases in which the sleep was observed */
static _Atomic uint64_t g_sent_at; /* nu_mono_ns() just before the other thread acted */

static bool is_epoll_wait(long nr)
{
#ifdef SYS_epoll_wait
    if (nr == SYS_epoll_wait)
        return true;
#endif
#ifdef SYS_epoll_pwait
    if (nr == SYS_epoll_pwait)
        return true;
#endif
#ifdef SYS_epoll_pwait2
    if (nr == SYS_epoll_pwait2)
        return true;
#else
    if (nr == 441) /* epoll_pwait2 on every architecture */
        return true;
#endif
    /* The io_uring backend sleeps in io_uring_enter (the uring flavour). */
    if (nr == SYS_io_uring_enter)
        return true;
    return false;
}

enum { T_UNREADABLE = -1, T_AWAKE, T_EPOLL, T_SYSCALL };

/* What thread tid is doing, from /proc/self/task/<tid>/syscall: "<nr>
 * <args...>" while blocked in a syscall, "running" while on a CPU, "-1 ..."
 * while off the CPU outside a syscall (preempted: runnable). */
static int thread_state(int tid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/self/task/%d/syscall", tid);
    FILE *f = fopen(path, "r");
    if (!f)
        return T_UNREADABLE;
    char word[32] = "";
    int got = fscanf(f, "%31s", word);
    fclose(f);
    if (got != 1)
        return T_UNREADABLE;
    char *end;
    long nr = strtol(word, &end, 10);
    if (*end != 0 || end == word || nr < 0)
        return T_AWAKE;
    return is_epoll_wait(nr) ? T_EPOLL : T_SYSCALL;
}

/* Multi-thread: every thread but the caller blocked in a syscall, and at
 * least one of them in an epoll wait.  T_UNREADABLE if /proc says nothing
 * (a thread that has just exited is skipped). */
static int process_state(void)
{
    int self = (int)syscall(SYS_gettid);
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return T_UNREADABLE;
    int epoll = 0, awake = 0, seen = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char *end;
        long tid = strtol(e->d_name, &end, 10);
        if (*end != 0 || end == e->d_name || tid == self)
            continue;
        int st = thread_state((int)tid);
        if (st == T_UNREADABLE)
            continue;
        seen++;
        if (st == T_EPOLL)
            epoll++;
        else if (st == T_AWAKE)
            awake++;
    }
    closedir(d);
    if (!seen)
        return T_UNREADABLE;
    return !awake && epoll ? T_EPOLL : T_AWAKE;
}

/* Waits (bounded, 10 s) until the runtime sleeps: its thread in an epoll
 * wait (current-thread), or all of the process asleep with one thread in
 * an epoll wait (multi-thread).  Returns true if that was observed. */
static bool wait_runtime_asleep(void)
{
    for (int i = 0; i < 10000; i++) {
        int st = test_is_mt() ? process_state() : thread_state((int)g_rt_tid);
        if (st == T_UNREADABLE) {
            atomic_store(&g_proc_ok, 0);
            return false;
        }
        if (st == T_EPOLL)
            return true;
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    return false;
}

/* ---- a future parked on a flag, woken from another thread ---------------- */

struct remote_slot {
    pthread_mutex_t mu;
    eddy_waker w;
    bool fired;
    bool parked; /* a waker is stored */
};

struct flag_wait {
    struct remote_slot *s;
};

static void flag_wait_init(struct flag_wait *f, struct remote_slot *s) { f->s = s; }

static eddy_poll flag_wait_poll(struct flag_wait *f, eddy_cx *cx, void *out)
{
    (void)out;
    pthread_mutex_lock(&f->s->mu);
    bool fired = f->s->fired;
    if (!fired) {
        eddy_waker_set(&f->s->w, cx->waker);
        f->s->parked = true;
    }
    pthread_mutex_unlock(&f->s->mu);
    return fired ? EDDY_READY : EDDY_PENDING;
}

static void flag_wait_drop(struct flag_wait *f)
{
    pthread_mutex_lock(&f->s->mu);
    eddy_waker_drop(&f->s->w);
    pthread_mutex_unlock(&f->s->mu);
}

/* ---- the other thread ------------------------------------------------------- */

static int g_pipe[2];
static struct remote_slot g_slot2 = {.mu = PTHREAD_MUTEX_INITIALIZER};
static struct remote_slot g_slot3 = {.mu = PTHREAD_MUTEX_INITIALIZER};
static atomic_int g_phase; /* set by the runtime: which phase to act on */

static void fire(struct remote_slot *s)
{
    /* Wait until the future has parked (bounded), then until the runtime
     * sleeps, then wake from here. */
    for (int i = 0; i < 10000; i++) {
        pthread_mutex_lock(&s->mu);
        bool parked = s->parked;
        pthread_mutex_unlock(&s->mu);
        if (parked)
            break;
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    if (wait_runtime_asleep())
        atomic_fetch_add(&g_slept_seen, 1);
    pthread_mutex_lock(&s->mu);
    s->fired = true;
    eddy_waker w = s->w;
    s->w = EDDY_WAKER_EMPTY;
    pthread_mutex_unlock(&s->mu);
    atomic_store(&g_sent_at, nu_mono_ns());
    eddy_waker_wake(&w); /* from this thread: the remote path */
}

static void *other_thread(void *p)
{
    (void)p;
    /* Phase 1: the pipe. */
    while (atomic_load(&g_phase) < 1)
        sched_yield();
    if (wait_runtime_asleep())
        atomic_fetch_add(&g_slept_seen, 1);
    atomic_store(&g_sent_at, nu_mono_ns());
    ssize_t n = write(g_pipe[1], "ping", 4);
    CHECK_EQ(n, 4);
    /* Phase 2: a task's waker.  Phase 3: block_on's waker. */
    while (atomic_load(&g_phase) < 2)
        sched_yield();
    fire(&g_slot2);
    while (atomic_load(&g_phase) < 3)
        sched_yield();
    fire(&g_slot3);
    return NULL;
}

/* ---- tasks ---------------------------------------------------------------------- */

struct pipe_reader {
    eddy_coro co;
    eddy_io *io;
    ssize_t *result;
    char *buf;
    eddy_read rd;
};

static eddy_poll pipe_reader_poll(struct pipe_reader *t, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&t->co, cx);
    EDDY_AWAIT(t->result, eddy_read, &t->rd, t->io, t->buf, 16);
    EDDY_END();
}
EDDY_CORO_VT_VOID(pipe_reader_vt, struct pipe_reader, pipe_reader_poll);

struct flag_task {
    eddy_coro co;
    bool *done;
    struct flag_wait fw;
};

static eddy_poll flag_task_poll(struct flag_task *t, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&t->co, cx);
    EDDY_AWAIT(NULL, flag_wait, &t->fw, &g_slot2);
    *t->done = true;
    EDDY_END();
}
EDDY_CORO_VT_VOID(flag_task_vt, struct flag_task, flag_task_poll);

EDDY_FUTURE_VT_VOID(flag_wait_vt, struct flag_wait, flag_wait_poll, flag_wait_drop);

/* The timeouts above are a safety net: they would also end the sleep and
 * let a woken-but-not-unparked task run.  So the wake must have been acted
 * on well before: within 10 s (microseconds in practice) of being sent. */
static void check_latency(const char *phase)
{
    uint64_t sent = atomic_load(&g_sent_at), now = nu_mono_ns();
    CHECK_MSG(sent != 0 && now - sent < UINT64_C(10000000000),
              "%s: the runtime acted on the wake only %.3f s after it was sent: it was not unparked by it", phase,
              (double)(now - sent) / 1e9);
    atomic_store(&g_sent_at, 0);
}

struct root {
    eddy_coro co;
    eddy_io rio;
    ssize_t got;
    char buf[16];
    bool flag_done;
    eddy_join *jh;
    nu_join join;
    int rc;
    struct flag_wait fw;
    eddy_timeout to;
    eddy_rt_stats st;
};

static eddy_poll root_poll(struct root *t, eddy_cx *cx, int *out)
{
    EDDY_BEGIN(&t->co, cx);
    g_rt_tid = (pid_t)syscall(SYS_gettid);
    {
        pthread_t th;
        CHECK(pthread_create(&th, NULL, other_thread, NULL) == 0);
        CHECK(pthread_detach(th) == 0);
    }

    /* ---- 1: a pipe written from the other thread ---- */
    CHECK_OK(eddy_io_open(&t->rio, g_pipe[0], EDDY_IO_READ_ONLY));
    t->got = -1;
    {
        struct pipe_reader r = {.io = &t->rio, .result = &t->got, .buf = t->buf};
        CHECK_OK(eddy_spawn_local(&pipe_reader_vt, &r, &t->jh));
    }
    atomic_store(&g_phase, 1);
    t->join.jh = t->jh;
    EDDY_AWAIT(&t->rc, eddy_timeout, &t->to, EDDY_SEC(20), &nu_join_vt, &t->join, NULL);
    CHECK_MSG(t->rc == 0, "1: the pipe reader was not woken within 20 s");
    check_latency("1");
    eddy_join_detach(t->jh);
    CHECK_EQ(t->got, 4);
    CHECK(memcmp(t->buf, "ping", 4) == 0);
    CHECK_OK(eddy_io_close(&t->rio));
    printf("1: pipe written by another thread woke the task\n");

    /* ---- 2: a task's waker woken from the other thread ---- */
    {
        struct flag_task f = {.done = &t->flag_done};
        CHECK_OK(eddy_spawn_local(&flag_task_vt, &f, &t->jh));
    }
    atomic_store(&g_phase, 2);
    t->join.jh = t->jh;
    EDDY_AWAIT(&t->rc, eddy_timeout, &t->to, EDDY_SEC(20), &nu_join_vt, &t->join, NULL);
    CHECK_MSG(t->rc == 0, "2: the task woken from another thread did not run within 20 s");
    check_latency("2");
    eddy_join_detach(t->jh);
    CHECK(t->flag_done);
    CHECK_OK(eddy_rt_stats_get(eddy_rt_current(), &t->st));
    CHECK(t->st.remote_wakes >= 1);
    printf("2: task waker woken from another thread (remote_wakes=%llu)\n", (unsigned long long)t->st.remote_wakes);

    /* ---- 3: block_on's own waker woken from the other thread ---- */
    flag_wait_init(&t->fw, &g_slot3);
    atomic_store(&g_phase, 3);
    EDDY_AWAIT(&t->rc, eddy_timeout, &t->to, EDDY_SEC(20), &flag_wait_vt, &t->fw, NULL);
    CHECK_MSG(t->rc == 0, "3: block_on's future woken from another thread did not run within 20 s");
    check_latency("3");
    printf("3: block_on's waker woken from another thread\n");
    *out = 0;
    EDDY_END();
}
EDDY_CORO_VT(root_vt, struct root, int, root_poll);

static struct root g_root;

int main(void)
{
    test_watchdog(120);
    CHECK(pipe2(g_pipe, O_CLOEXEC) == 0);
    int out = -1;
    eddy_rt_stats st;
    nu_run(&root_vt, &g_root, &out, NULL, &st);
    CHECK_EQ(out, 0);
    close(g_pipe[1]);
    if (!atomic_load(&g_proc_ok))
        printf("note: /proc/self/task/<tid>/syscall unreadable; could not confirm the runtime slept in epoll\n");
    else
        CHECK_MSG(atomic_load(&g_slept_seen) == 3, "the runtime was seen asleep in epoll in only %d of 3 phases",
                  atomic_load(&g_slept_seen));
    CHECK(st.parks >= 3);
    CHECK_EQ(st.alive, 0);
    nu_print_stats("stats", &st);
    return 0;
}
