/* eddy/future.h - the one contract between futures, executors and reactors.
 *
 * A future is a plain struct plus a poll function:
 *
 *     eddy_poll my_poll(struct my_future *self, eddy_cx *cx, Out *out);
 *
 * - A future does nothing until it is polled.
 * - poll runs until it cannot progress.  It then either finishes, writes its
 *   output to *out and returns EDDY_READY, or returns EDDY_PENDING after it
 *   has arranged for cx->waker to be woken when it can progress.  A PENDING
 *   without such an arrangement is a lost wake-up: the task sleeps forever.
 * - Polling again after READY is a usage error (reported in debug builds).
 * - After its first poll a future does not move in memory: the reactor, the
 *   timer wheel and wait queues keep pointers into it.
 * - poll never blocks.  Blocking work goes to the blocking pool.
 *
 * The waker is the only thing an executor and a reactor share.  It is a
 * (vtable, data) pair, like Rust's RawWaker, so any executor can hand out
 * wakers and any leaf future can store and call them.
 */
#ifndef EDDY_FUTURE_H
#define EDDY_FUTURE_H

#include <eddy/common.h>
#include <eddy/error.h>
#include <stdatomic.h>

EDDY_BEGIN_DECLS

/* The result of a poll.  The output travels through the poll's out pointer,
 * so the result itself is one register. */
typedef enum eddy_poll {
    EDDY_PENDING = 0,
    EDDY_READY = 1,
} eddy_poll;

typedef struct eddy_waker eddy_waker;

/* A waker's behaviour.  All four may be called from any thread.
 * - clone:       returns a new waker for the same task (one more reference).
 * - wake:        makes the task runnable and releases this reference.
 * - wake_by_ref: makes the task runnable; the reference stays.
 * - drop:        releases this reference without waking.
 * Waking a task that has completed or was dropped is harmless. */
typedef struct eddy_waker_vtable {
    eddy_waker (*clone)(const void *data);
    void (*wake)(const void *data);
    void (*wake_by_ref)(const void *data);
    void (*drop)(const void *data);
} eddy_waker_vtable;

/* A waker by value: 16 bytes, copied freely; a copy is not a clone (only
 * eddy_waker_clone adds a reference).  vtable == NULL means "no waker",
 * which is how an empty waker slot is represented. */
struct eddy_waker {
    const eddy_waker_vtable *vtable;
    const void *data;
};

struct eddy__core;

/* The context handed to poll.  A future reads cx->waker and may clone it;
 * it never keeps the cx pointer itself past the poll. */
typedef struct eddy_cx {
    const eddy_waker *waker;
    /* the runtime core that is polling (NULL outside a runtime); internal */
    struct eddy__core *core;
} eddy_cx;

/* Passed as cx to a coroutine's poll to drop it instead of polling it: the
 * coroutine drops its live child and runs its EDDY_FINALLY section.  See
 * eddy/coro.h.  Hand-written futures have a separate drop function. */
#define EDDY_CX_DROP ((eddy_cx *)0)

/* ---- wakers ------------------------------------------------------------ */

/* Returns a new reference to the same task.  w must not be empty. */
EDDY_INLINE eddy_waker eddy_waker_clone(const eddy_waker *w) { return w->vtable->clone(w->data); }

/* Wakes the task and releases the reference; *w becomes empty.  No-op if
 * *w is already empty. */
EDDY_INLINE void eddy_waker_wake(eddy_waker *w)
{
    const eddy_waker_vtable *vt = w->vtable;
    if (vt) {
        w->vtable = NULL;
        vt->wake(w->data);
    }
}

/* Wakes the task; the reference stays.  No-op on an empty waker. */
EDDY_INLINE void eddy_waker_wake_by_ref(const eddy_waker *w)
{
    if (w->vtable)
        w->vtable->wake_by_ref(w->data);
}

/* Releases the reference without waking; *w becomes empty.  No-op on an
 * empty waker. */
EDDY_INLINE void eddy_waker_drop(eddy_waker *w)
{
    const eddy_waker_vtable *vt = w->vtable;
    if (vt) {
        w->vtable = NULL;
        vt->drop(w->data);
    }
}

/* True if both wake the same task (same vtable and data), so a stored
 * waker need not be replaced by a fresh clone. */
EDDY_INLINE bool eddy_waker_will_wake(const eddy_waker *a, const eddy_waker *b)
{
    return a->vtable == b->vtable && a->data == b->data;
}

/* Stores a clone of w in *slot, unless *slot already wakes the same task;
 * drops the waker the slot held before.  This is what a leaf future does
 * before returning PENDING. */
EDDY_INLINE void eddy_waker_set(eddy_waker *slot, const eddy_waker *w)
{
    if (eddy_waker_will_wake(slot, w))
        return;
    eddy_waker old = *slot;
    *slot = eddy_waker_clone(w);
    eddy_waker_drop(&old);
}

/* The empty waker; eddy_waker_wake and friends ignore it. */
#define EDDY_WAKER_EMPTY ((eddy_waker){NULL, NULL})

/* A waker that does nothing: for polling a future by hand, and for
 * futures that are known to be ready. */
EDDY_API eddy_waker eddy_waker_noop(void);

/* A waker that counts what is done to it (for tests).  The counter must
 * outlive every clone.  All counts are updated atomically. */
typedef struct eddy_waker_counter {
    atomic_long clones;
    atomic_long drops;
    atomic_long wakes;        /* wake + wake_by_ref */
    atomic_long wakes_by_ref; /* wake_by_ref only */
} eddy_waker_counter;

/* Zeroes *c and returns a waker whose operations are counted in *c.  The
 * returned waker itself counts as one live reference: drop it (or wake it)
 * to balance clones and drops.  live = 1 + clones - drops - wakes_by_value. */
EDDY_API eddy_waker eddy_waker_counting(eddy_waker_counter *c);

/* References still alive for a counting waker: 1 + clones - drops -
 * (wakes - wakes_by_ref).  0 once every clone was dropped or woken. */
EDDY_API long eddy_waker_counter_live(const eddy_waker_counter *c);

/* ---- dynamic futures --------------------------------------------------- */

/* What the runtime needs to run a future it does not know the type of: a
 * spawned task, or block_on's root.  Awaiting a child inside a coroutine
 * never uses this: it calls the child's poll function directly. */
typedef struct eddy_future_vt {
    eddy_poll (*poll)(void *self, eddy_cx *cx, void *out);
    /* Releases everything the future holds, whatever state it is in
     * (never polled, pending, or finished).  NULL: nothing to release. */
    void (*drop)(void *self);
    uint32_t size;     /* sizeof the future's struct */
    uint32_t align;    /* _Alignof the future's struct */
    uint32_t out_size; /* sizeof its output; 0 for none */
    const char *name;  /* for diagnostics */
    uint32_t out_align; /* _Alignof its output; 0 or 1 for none */
    /* Where a spawned task keeps the output and the frame, from the start
     * of its 64-byte header: computed at compile time by the macros below
     * (0 = compute at run time, for hand-filled vtables). */
    uint32_t out_off, frame_off;
} eddy_future_vt;

#define EDDY__TASK_HEADER 64u
#define EDDY__ALIGN_UP(v, a) ((((v) + (a)-1u) / (a)) * (a))
#define EDDY__MAX(a, b) ((a) > (b) ? (a) : (b))
#define EDDY__OUT_OFF(OUTALIGN) EDDY__ALIGN_UP(EDDY__TASK_HEADER, EDDY__MAX((uint32_t)(OUTALIGN), 1u))
#define EDDY__FRAME_OFF(T, OUTSIZE, OUTALIGN)                                                            \
    EDDY__ALIGN_UP(EDDY__OUT_OFF(OUTALIGN) + (uint32_t)(OUTSIZE), EDDY__MAX((uint32_t)_Alignof(T), 8u))

/* Defines `const eddy_future_vt NAME` for a hand-written future of type T
 * whose output has type OUT:
 *     eddy_poll POLL(T *self, eddy_cx *cx, OUT *out);
 *     void DROP(T *self);
 * The macro writes typed wrappers, so a wrong signature is a compile error
 * and no function is ever called through a mismatched pointer type.  For a
 * future with no output use EDDY_FUTURE_VT_VOID, whose POLL takes void *out. */
#define EDDY_FUTURE_VT(NAME, T, OUT, POLL, DROP) EDDY__VT(, NAME, T, OUT, POLL, DROP, sizeof(OUT), _Alignof(OUT))
#define EDDY_FUTURE_VT_VOID(NAME, T, POLL, DROP) EDDY__VT(, NAME, T, void, POLL, DROP, 0, 1)

/* Same for a coroutine (eddy/coro.h): its drop is a poll with EDDY_CX_DROP. */
#define EDDY_CORO_VT(NAME, T, OUT, POLL) EDDY__VT(, NAME, T, OUT, POLL, NAME##__cdrop, sizeof(OUT), _Alignof(OUT))
#define EDDY_CORO_VT_VOID(NAME, T, POLL) EDDY__VT(, NAME, T, void, POLL, NAME##__cdrop, 0, 1)

/* The same four with internal linkage (`static const eddy_future_vt NAME`),
 * for vtables private to one file. */
#define EDDY_STATIC_FUTURE_VT(NAME, T, OUT, POLL, DROP)                                                    \
    EDDY__VT(static, NAME, T, OUT, POLL, DROP, sizeof(OUT), _Alignof(OUT))
#define EDDY_STATIC_FUTURE_VT_VOID(NAME, T, POLL, DROP) EDDY__VT(static, NAME, T, void, POLL, DROP, 0, 1)
#define EDDY_STATIC_CORO_VT(NAME, T, OUT, POLL)                                                            \
    EDDY__VT(static, NAME, T, OUT, POLL, NAME##__cdrop, sizeof(OUT), _Alignof(OUT))
#define EDDY_STATIC_CORO_VT_VOID(NAME, T, POLL) EDDY__VT(static, NAME, T, void, POLL, NAME##__cdrop, 0, 1)

#define EDDY__VT(SC, NAME, T, OUT, POLL, DROP, OUTSIZE, OUTALIGN)                                                  \
    EDDY_UNUSED static void NAME##__cdrop(T *s) { (void)POLL(s, EDDY_CX_DROP, (OUT *)0); }             \
    static eddy_poll NAME##__poll(void *s, eddy_cx *cx, void *o) { return POLL((T *)s, cx, (OUT *)o); } \
    static void NAME##__drop(void *s) { DROP((T *)s); }                                                 \
    SC const eddy_future_vt NAME = {NAME##__poll, NAME##__drop, (uint32_t)sizeof(T), (uint32_t)_Alignof(T), \
                                 (uint32_t)(OUTSIZE), #T, (uint32_t)(OUTALIGN),                       \
                                 (uint32_t)EDDY__OUT_OFF(OUTALIGN), (uint32_t)EDDY__FRAME_OFF(T, OUTSIZE, OUTALIGN)}

EDDY_END_DECLS

#endif
