/* Internal: the task header, the runtime core, and what the parts share.
 * Not installed.  See docs/design/0003-task-and-scheduler.md. */
#ifndef EDDY_INTERNAL_H
#define EDDY_INTERNAL_H

#include <eddy/coro.h>
#include <eddy/future.h>
#include <eddy/runtime.h>
#include <stdatomic.h>

#define EDDY_HIDDEN __attribute__((visibility("hidden")))

struct eddy__ct;
struct eddy__shared;
struct eddy__driver;
struct eddy__timers;

/* ---- task --------------------------------------------------------------
 * One allocation per task:  [ header 64 B | output | frame ].
 *
 * refs: bit 31 = RQ ("in the remote queue", which pins the task), bits 0-30
 * count references: one for the local side (the task has not ended, or its
 * join handle is alive) and one per waker clone.  Only refs is touched by
 * other threads; everything else belongs to the runtime's thread. */
struct eddy__task {
    struct eddy__task *link;   /* remote queue / adoption list */
    const eddy_future_vt *vt;
    struct eddy__shared *sh;   /* the scheduler's thread-safe part */
    struct eddy__task *onext;  /* owned list: every task that has not ended */
    struct eddy__task *oprev;
    eddy_waker join_waker;     /* who awaits the join handle */
    union {
        /* current-thread runtime */
        struct {
            _Atomic uint32_t refs;
            uint32_t state;    /* EDDY__T_* below, runtime thread only */
        };
        /* multi-thread runtime: flags and reference count in one word
         * (EDDY__M_* in src/rt/mt.h) */
        _Atomic uint64_t word;
    };
};

_Static_assert(sizeof(struct eddy__task) == 64, "task header must stay 64 bytes");

#define EDDY__RQ 0x80000000u
#define EDDY__REFMASK 0x7fffffffu

enum {
    EDDY__T_SCHEDULED = 1u << 0, /* in the local run queue */
    EDDY__T_RUNNING = 1u << 1,   /* being polled */
    EDDY__T_NOTIFIED = 1u << 2,  /* woken while running: poll again */
    EDDY__T_ENDED = 1u << 3,     /* completed or cancelled; frame released */
    EDDY__T_CANCELLED = 1u << 4, /* abort requested (or shutdown) */
    EDDY__T_JOIN = 1u << 5,      /* a join handle is alive */
    EDDY__T_ADOPTED = 1u << 6,   /* in the owned list */
    EDDY__T_OUTPUT = 1u << 7,    /* output slot holds a value */
};

static inline size_t eddy__align_up(size_t v, size_t a) { return (v + a - 1) & ~(a - 1); }

_Static_assert(sizeof(struct eddy__task) == EDDY__TASK_HEADER, "EDDY__TASK_HEADER must match the header");

/* The offsets come precomputed in vtables made by the EDDY_*_VT macros. */
static inline size_t eddy__out_offset(const eddy_future_vt *vt)
{
    if (EDDY_LIKELY(vt->out_off))
        return vt->out_off;
    return eddy__align_up(sizeof(struct eddy__task), vt->out_align > 1 ? vt->out_align : 1);
}

static inline size_t eddy__frame_offset(const eddy_future_vt *vt)
{
    if (EDDY_LIKELY(vt->frame_off))
        return vt->frame_off;
    size_t a = vt->align < 8 ? 8 : vt->align;
    return eddy__align_up(eddy__out_offset(vt) + vt->out_size, a);
}

/* Alignment of the whole block: the strictest of header, output, frame. */
static inline size_t eddy__task_align(const eddy_future_vt *vt)
{
    size_t a = 16;
    if (vt->align > a)
        a = vt->align;
    if (vt->out_align > a)
        a = vt->out_align;
    return a;
}

static inline void *eddy__task_frame(struct eddy__task *t) { return (char *)t + eddy__frame_offset(t->vt); }
static inline void *eddy__task_out(struct eddy__task *t) { return (char *)t + eddy__out_offset(t->vt); }
static inline struct eddy__task *eddy__frame_task(void *frame, const eddy_future_vt *vt)
{
    return (struct eddy__task *)((char *)frame - eddy__frame_offset(vt));
}

/* Every scheduler's shared part (the one a task's `sh` points to) starts
 * with this, so flavour-neutral code (join handles) can tell them apart. */
struct eddy__sh_hdr {
    bool mt;
};

static inline bool eddy__task_is_mt(const struct eddy__task *t)
{
    return ((const struct eddy__sh_hdr *)(const void *)t->sh)->mt;
}

struct eddy__worker;

/* ---- runtime core ------------------------------------------------------
 * What a leaf future may reach through cx->core: the driver and timers of
 * the runtime polling it. */
struct eddy__core {
    struct eddy__shared *sh;
    struct eddy__ct *sched;        /* current-thread runtime, else NULL */
    struct eddy__worker *worker;   /* multi-thread runtime's worker, else NULL */
    struct eddy__driver *driver;
    struct eddy__timers *timers;
    eddy_rt *rt;
    /* Cooperative budget: ready operations left in the current poll.  Leaf
     * futures spend one per operation that completes without waiting; at
     * zero they return PENDING after waking themselves, so an always-ready
     * socket cannot starve other tasks or timers. */
    int budget;
    /* An accept stalled on EMFILE waits here for a descriptor to be closed. */
    eddy_waker fd_waiter;
    uint64_t accept_stalls;
    /* The blocking pool, created on first use, and its limits. */
    struct eddy__pool *pool;
    unsigned blocking_threads;
    unsigned blocking_queue;
};

#define EDDY__BUDGET 128

/* Spends one unit of budget.  Returns false (after waking the task) when
 * it is exhausted: the caller returns PENDING without doing the operation. */
static inline bool eddy__coop_spend(eddy_cx *cx)
{
    struct eddy__core *c = cx->core;
    if (EDDY_LIKELY(!c || --c->budget > 0))
        return true;
    eddy_waker_wake_by_ref(cx->waker);
    return false;
}

/* The core of the runtime running on this thread (NULL outside). */
extern EDDY_HIDDEN EDDY_TLS struct eddy__core *eddy__tls_core;

/* ---- plain words shared between threads --------------------------------
 * Fields of public structs (eddy_io.ready, eddy__timer.wheel) cannot be
 * _Atomic, yet the multi-thread runtime reads some of them outside the
 * lock that guards their writes.  These wrap the GNU __atomic builtins: a
 * relaxed or acquire load / release store is a plain mov on x86-64 (so the
 * current-thread paths compile to what they were), and ThreadSanitizer
 * sees an atomic access instead of a race.  Without GNU C they are plain
 * accesses (the multi-thread runtime then needs a GNU compiler). */
#if EDDY_GNU
#define EDDY__LOAD_RELAXED(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define EDDY__LOAD_ACQUIRE(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define EDDY__STORE_RELAXED(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define EDDY__STORE_RELEASE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define EDDY__ADD_RELAXED(p, v) ((void)__atomic_fetch_add((p), (v), __ATOMIC_RELAXED))
#else
#define EDDY__LOAD_RELAXED(p) (*(p))
#define EDDY__LOAD_ACQUIRE(p) (*(p))
#define EDDY__STORE_RELAXED(p, v) ((void)(*(p) = (v)))
#define EDDY__STORE_RELEASE(p, v) ((void)(*(p) = (v)))
#define EDDY__ADD_RELAXED(p, v) ((void)(*(p) += (v)))
#endif

/* ---- spinning and sleeping on a word ------------------------------------ */

/* A pause in a spin loop (lets the sibling hyper-thread run, saves power). */
EDDY_HIDDEN void eddy__yield_cpu(void); /* sched_yield (src/core/sys.c) */

static inline void eddy__cpu_relax(void)
{
#if EDDY_GNU && (defined(__x86_64__) || defined(__i386__))
    __builtin_ia32_pause();
#elif EDDY_GNU && defined(__aarch64__)
    __asm__ __volatile__("yield" ::: "memory");
#endif
}

/* A spin lock for critical sections of a few dozen instructions: spins,
 * then yields, so that a holder preempted on an oversubscribed machine gets
 * its CPU back. */
static inline void eddy__spin_lock(_Atomic uint32_t *l)
{
    for (unsigned i = 0;; i++) {
        if (!atomic_load_explicit(l, memory_order_relaxed) &&
            !atomic_exchange_explicit(l, 1u, memory_order_acquire))
            return;
        if (i < 100)
            eddy__cpu_relax();
        else
            eddy__yield_cpu();
    }
}

static inline void eddy__spin_unlock(_Atomic uint32_t *l) { atomic_store_explicit(l, 0u, memory_order_release); }

/* Futex wait while *addr == val (returns on a wake, a signal or a change:
 * callers re-check in a loop) and wake up to n waiters (src/core/sys.c). */
EDDY_HIDDEN void eddy__futex_wait(_Atomic uint32_t *addr, uint32_t val);
EDDY_HIDDEN void eddy__futex_wake(_Atomic uint32_t *addr, int n);

/* ---- misc -------------------------------------------------------------- */
EDDY_HIDDEN void eddy__warn(const char *fmt, ...) EDDY_PRINTF(1, 2);
EDDY_HIDDEN uint64_t eddy__mono_ns(void);

#endif
