/* eddy/runtime.h - runtimes, spawn, join handles, yield.
 *
 * A runtime owns an executor (who gets the CPU), an I/O driver and a timer
 * wheel (who wakes whom).  The current-thread flavour runs every task on
 * the thread that calls eddy_block_on; the multi-thread flavour runs them on
 * worker threads.  User code is the same for both.
 */
#ifndef EDDY_RUNTIME_H
#define EDDY_RUNTIME_H

#include <eddy/future.h>

EDDY_BEGIN_DECLS

typedef struct eddy_rt eddy_rt;
typedef struct eddy_join eddy_join;

typedef enum eddy_rt_flavor {
    EDDY_RT_CURRENT_THREAD = 0,
    EDDY_RT_MULTI_THREAD = 1,
} eddy_rt_flavor;

/* How to build a runtime.  A zero-initialised builder gives the defaults,
 * so designated initialisers name only what differs:
 *     eddy_rt_new(&rt, &(eddy_rt_builder){ .start_paused = true });  */
typedef struct eddy_rt_builder {
    eddy_rt_flavor flavor;
    /* multi-thread: worker threads; 0 = one per core */
    unsigned workers;
    /* scheduler ticks between two polls of the I/O driver and the remote
     * queue while tasks are runnable (fairness); 0 = 61 */
    unsigned event_interval;
    /* start with the clock paused: timers advance only by eddy_time_advance
     * or, when every task is idle, automatically to the next deadline
     * (current-thread runtime only: eddy_rt_new returns -EINVAL for the
     * multi-thread one, whose idle moment no single thread can see) */
    bool start_paused;
    /* report a single poll that ran longer than this (0 = 100 ms; <0 off;
     * measured in debug builds) */
    int slow_poll_warn_ms;
    /* blocking pool (eddy/blocking.h): most threads (0 = 64) and most
     * queued jobs before eddy_blocking waits for room (0 = 4096) */
    unsigned max_blocking_threads;
    unsigned blocking_queue;
    /* multi-thread: tasks stay on the worker that spawned them (or, spawned
     * from outside, on one picked in turn): no stealing, thread-per-core
     * style.  Wakes from elsewhere go to the task's own worker. */
    bool no_steal;
    /* multi-thread: how long an idle worker keeps looking for work before
     * it sleeps, in microseconds (0 = 30; <0 = never spin).  Waking a
     * sleeping thread costs tens of microseconds on a virtual machine. */
    int spin_before_park_us;
    /* current-thread: drive I/O with io_uring instead of epoll (Linux 6.0
     * or later).  TCP streams then receive through multishot receives into
     * a shared pool of buffers and send small writes as batched
     * submissions: no system call per message (docs/design/0012).  When
     * the kernel refuses io_uring (too old, disabled by sysctl or seccomp)
     * the runtime uses epoll; eddy_rt_stats.io_backend tells which.  The
     * multi-thread runtime always uses epoll. */
    bool io_uring;
} eddy_rt_builder;

/* Builds a runtime.  b may be NULL for the defaults.  On success stores it
 * in *out and returns 0; otherwise returns -ENOMEM, -EMFILE (no descriptor
 * for the driver), -EINVAL (bad builder field) and *out is untouched.  The
 * caller owns the runtime and frees it with eddy_rt_free. */
EDDY_API EDDY_MUST_USE int eddy_rt_new(eddy_rt **out, const eddy_rt_builder *b);

/* Shuts the runtime down and frees it: every task that has not finished is
 * dropped exactly once (its drop releases what it holds), join handles of
 * such tasks report -ECANCELED, and wakers still held elsewhere stay valid
 * (waking them does nothing).  Must not be called from inside the runtime.
 * NULL is a no-op. */
EDDY_API void eddy_rt_free(eddy_rt *rt);

/* Runs the future `fut` (of type vt) on the calling thread, driving the
 * runtime's tasks, I/O and timers, until it is READY; its output is written
 * to out (may be NULL).  The future is polled in place: it must stay where
 * it is until this returns, and it is not dropped here (a finished future
 * holds nothing).  Returns 0, -EDDY_EMISUSE if called from inside a task
 * of any runtime (block_on cannot nest), or -EBUSY if another thread is
 * blocking on this current-thread runtime. */
EDDY_API int eddy_block_on(eddy_rt *rt, const eddy_future_vt *vt, void *fut, void *out);

/* Spawns a task: allocates one block (task header + output + frame),
 * copies vt->size bytes from `init` into the frame, and schedules it.  The
 * runtime owns the frame from here and drops it when the task ends or is
 * aborted.  If jh is not NULL it receives a join handle the caller owns;
 * otherwise the task is detached.  Callable from any thread.  Returns 0,
 * -ENOMEM, -EDDY_ESHUTDOWN (runtime is shutting down: the frame is not
 * copied and nothing is dropped, the caller still owns what init points
 * to), -EINVAL (NULL rt/vt/init). */
EDDY_API int eddy_spawn(eddy_rt *rt, const eddy_future_vt *vt, const void *init, eddy_join **jh);

/* Two-step spawn for frames too big to build on the stack: allocates the
 * task, stores the (uninitialised) frame pointer in *frame; the caller
 * initialises the frame in place, then calls eddy_spawn_commit.  Returns 0,
 * -ENOMEM, -EDDY_ESHUTDOWN, -EINVAL. */
EDDY_API int eddy_spawn_prepare(eddy_rt *rt, const eddy_future_vt *vt, void **frame);
/* Schedules a prepared task; vt must be the one given to prepare (see
 * eddy_spawn for jh).  Returns 0, or -EDDY_ESHUTDOWN when the runtime began
 * shutting down in between: then the frame is dropped with vt->drop and
 * freed. */
EDDY_API int eddy_spawn_commit(const eddy_future_vt *vt, void *frame, eddy_join **jh);
/* Frees a prepared task that was never committed; vt->drop is not called. */
EDDY_API void eddy_spawn_cancel(const eddy_future_vt *vt, void *frame);

/* The runtime whose task (or block_on) is running on this thread, or NULL
 * outside any runtime.  Borrowed: do not free. */
EDDY_API eddy_rt *eddy_rt_current(void);

/* Spawns on the current runtime (see eddy_spawn); -EDDY_ENORUNTIME outside. */
EDDY_API int eddy_spawn_local(const eddy_future_vt *vt, const void *init, eddy_join **jh);

/* ---- join handles -------------------------------------------------------
 * A join handle is awaitable:  EDDY_AWAIT_POLL(&t->out, eddy_join, t->jh)
 * When it is READY the task has ended; eddy_join_status says how, and the
 * task's output was copied to out when the status is 0.  The await only
 * borrows the handle: the frame owns it and releases it once, with
 * eddy_join_detach (in EDDY_FINALLY, typically), whether or not the await
 * ran to completion.  On the current-thread runtime a handle is used on the
 * runtime's thread (inside its tasks or block_on). */

/* READY once the task has ended.  Copies the task's output (vt->out_size
 * bytes) to out if it completed and out is not NULL. */
EDDY_API eddy_poll eddy_join_poll(eddy_join *jh, eddy_cx *cx, void *out);

/* 0 if the task completed, -ECANCELED if it was aborted or dropped at
 * shutdown, -EAGAIN while it is still running. */
EDDY_API int eddy_join_status(const eddy_join *jh);

/* True once the task has ended. */
EDDY_API bool eddy_join_is_finished(const eddy_join *jh);

/* Requests cancellation.  A task not yet finished is dropped the next time
 * the scheduler reaches it (before its first poll if it never ran), which
 * releases everything its frame holds; its status becomes -ECANCELED.
 * Aborting a finished task does nothing.  The handle stays valid. */
EDDY_API void eddy_join_abort(eddy_join *jh);

/* Releases the handle.  A task still running is detached and keeps
 * running.  NULL is a no-op. */
EDDY_API void eddy_join_detach(eddy_join *jh);

/* The awaitable's drop: stops waiting (forgets the waker a pending
 * eddy_join_poll stored) and leaves the handle to its owner.  NULL is a
 * no-op. */
EDDY_API void eddy_join_drop(eddy_join *jh);

/* ---- yield -------------------------------------------------------------- */

/* A future that returns PENDING once (waking itself first), letting other
 * runnable tasks go before it resumes.  Awaitable:
 *     EDDY_AWAIT(NULL, eddy_yield, &t->y); */
typedef struct eddy_yield {
    int yielded;
} eddy_yield;

EDDY_INLINE void eddy_yield_init(eddy_yield *y) { y->yielded = 0; }
EDDY_INLINE eddy_poll eddy_yield_poll(eddy_yield *y, eddy_cx *cx, void *out)
{
    (void)out;
    if (y->yielded)
        return EDDY_READY;
    y->yielded = 1;
    eddy_waker_wake_by_ref(cx->waker);
    return EDDY_PENDING;
}
EDDY_INLINE void eddy_yield_drop(eddy_yield *y) { (void)y; }

/* ---- statistics -------------------------------------------------------- */

typedef struct eddy_rt_stats {
    uint64_t spawned;      /* tasks spawned since creation */
    uint64_t completed;    /* tasks that returned READY */
    uint64_t cancelled;    /* tasks dropped by abort or shutdown */
    uint64_t polls;        /* task polls */
    uint64_t parks;        /* times the runtime went to sleep */
    uint64_t remote_wakes; /* wakes that arrived from another thread (multi-thread:
                            * from a thread that is not one of the runtime's
                            * workers) */
    uint64_t alive;        /* tasks spawned and not yet ended */
    uint64_t accept_stalls; /* accepts that waited for a free descriptor */
    size_t task_header_size; /* bytes of scheduler state per task */
    const char *io_backend;  /* "epoll" or "io_uring" (static string) */
} eddy_rt_stats;

/* Fills *st with counters.  Current-thread runtime: call it from the
 * runtime's thread or while no thread drives it.  Multi-thread runtime: any
 * thread, at any time (each counter is read atomically; together they are
 * a snapshot only when the runtime is idle).  Returns 0 or -EINVAL. */
EDDY_API int eddy_rt_stats_get(eddy_rt *rt, eddy_rt_stats *st);

EDDY_END_DECLS

#endif
