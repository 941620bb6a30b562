/* eddy/coro.h - async/await as stackless coroutines.
 *
 * A coroutine is a struct (its frame) and a poll function written with the
 * macros below.  The frame holds everything that lives across an await, so
 * a suspended coroutine is exactly sizeof(frame) bytes: no stack, no heap
 * allocation per await.  Children are awaited by calling their poll
 * function directly (static dispatch, inlinable); only a spawned task goes
 * through a vtable.
 *
 *     struct echo {
 *         eddy_coro co;
 *         eddy_tcp *sock;
 *         ssize_t n;
 *         char buf[4096];
 *         union { eddy_read rd; eddy_write_all wr; } io;   // one child at a time
 *     };
 *
 *     static eddy_poll echo_poll(struct echo *t, eddy_cx *cx, void *out)
 *     {
 *         EDDY_BEGIN(&t->co, cx);
 *         for (;;) {
 *             EDDY_AWAIT(&t->n, eddy_read, &t->io.rd, t->sock, t->buf, sizeof t->buf);
 *             if (t->n <= 0)
 *                 break;
 *             EDDY_AWAIT(&t->n, eddy_write_all, &t->io.wr, t->sock, t->buf, (size_t)t->n);
 *         }
 *         EDDY_FINALLY();            // runs on completion and when the task is dropped
 *         eddy_tcp_close(t->sock);
 *         EDDY_DONE();
 *     }
 *
 * EDDY_AWAIT(out, X, child, args...) reads as `*out = await X(child, args)`.
 *
 * The awaitable convention.  A future type X is awaitable when it has
 *     void      X_init(X *f, args...);          (only for EDDY_AWAIT)
 *     eddy_poll X_poll(X *f, eddy_cx *cx, Out *out);
 *     void      X_drop(X *f);                   (release in any state)
 * Every leaf future of eddy follows it, and so does any coroutine that
 * defines those three (X_drop is `X_poll(f, EDDY_CX_DROP, NULL)`).
 *
 * The rules.
 * 1. Values that must survive an await are frame fields.  Locals are fine
 *    between two awaits, never across one: their value is lost on resume.
 * 2. No EDDY_AWAIT/EDDY_YIELD/EDDY_SUSPEND inside a `switch` statement of
 *    your own (use if/else there): the resume points are `case` labels of
 *    the coroutine's own switch.  Breaking this rule is caught when the
 *    coroutine resumes: it stops with a message naming the rule.
 * 3. At most one suspend point per source line (two on one line are a
 *    compile error: duplicate case value).
 * 4. A coroutine ends with EDDY_END(), or with EDDY_FINALLY() ... cleanup ...
 *    EDDY_DONE().  The cleanup runs once: when the coroutine finishes, or
 *    when it is dropped (cancelled) at any point, even before its first poll.
 *    EDDY_DROPPING() tells the two apart.
 * 5. The frame must not move after its first poll (debug builds check).
 *
 * Why a switch and not GCC's computed goto: label addresses differ between
 * inlined or cloned copies of a function (the GCC manual says so), and
 * inlining children is the point; a switch resumes correctly in any copy.
 */
#ifndef EDDY_CORO_H
#define EDDY_CORO_H

#include <eddy/future.h>

EDDY_BEGIN_DECLS

/* The resume point of a coroutine.  Zero-initialised = not started. */
typedef struct eddy_coro {
    int32_t pc; /* 0: not started, -1: finished, else the line of the suspend point */
#if EDDY_DEBUG
    const struct eddy_coro *self; /* where it was first polled */
#endif
} eddy_coro;

#define EDDY_CORO_INIT {0}

/* Resets a frame's coroutine to "not started". */
EDDY_INLINE void eddy_coro_init(eddy_coro *co) { *co = (eddy_coro)EDDY_CORO_INIT; }

/* True once the coroutine has returned READY. */
EDDY_INLINE bool eddy_coro_done(const eddy_coro *co) { return co->pc < 0; }

EDDY_API EDDY_NORETURN EDDY_COLD void eddy__coro_bad_resume(const eddy_coro *co);

/* Entry checks: returns true when the coroutine must return READY at once
 * (it finished before and is being dropped, which is a no-op). */
EDDY_INLINE bool eddy__coro_enter(eddy_coro *co, eddy_cx *cx)
{
#if EDDY_DEBUG
    if (co->pc == 0)
        co->self = co;
    else if (co->self != co)
        eddy_misuse("coroutine", "the frame moved in memory after its first poll");
    if (co->pc < 0 && cx != EDDY_CX_DROP)
        eddy_misuse("coroutine", "polled again after it returned EDDY_READY");
#else
    (void)cx;
#endif
    return co->pc < 0;
}

/* Opens the coroutine body.  co: the frame's eddy_coro; cx: the poll's
 * context (EDDY_CX_DROP when the frame is being dropped). */
#define EDDY_BEGIN(co, cx)                                                          \
    eddy_coro *const eddy__co = (co);                                               \
    eddy_cx *const eddy__cx = (cx);                                                 \
    if (EDDY_UNLIKELY(eddy__coro_enter(eddy__co, eddy__cx)))                        \
        return EDDY_READY;                                                          \
    switch (eddy__co->pc) {                                                         \
    case 0:                                                                         \
        if (EDDY_UNLIKELY(eddy__cx == EDDY_CX_DROP))                                \
            goto eddy__finally;

/* `*out = await X(child, args...)`: initialises the child future with
 * X_init(child, args...) and awaits it: the coroutine returns PENDING until
 * X_poll(child, cx, out) returns READY.  If the coroutine is dropped
 * meanwhile, X_drop(child) runs, then the cleanup.  out may be NULL when
 * X has no output. */
#define EDDY_AWAIT(out, X, ...)                                                     \
    do {                                                                            \
        X##_init(__VA_ARGS__);                                                      \
        EDDY__AWAIT_AT(X, EDDY__FIRST(__VA_ARGS__, 0), out, __LINE__);              \
    } while (0)

/* `*out = await child`, for a child that is already initialised. */
#define EDDY_AWAIT_POLL(out, X, child)                                              \
    do {                                                                            \
        EDDY__AWAIT_AT(X, child, out, __LINE__);                                    \
    } while (0)

#define EDDY__FIRST(a, ...) a

#define EDDY__AWAIT_AT(X, child, out, line)                                         \
    eddy__co->pc = line;                                                            \
    EDDY_FALLTHROUGH;                                                               \
    case line:                                                                      \
        if (EDDY_UNLIKELY(eddy__cx == EDDY_CX_DROP)) {                              \
            X##_drop(child);                                                        \
            goto eddy__finally;                                                     \
        }                                                                           \
        if (X##_poll((child), eddy__cx, (out)) == EDDY_PENDING)                     \
            return EDDY_PENDING

/* Gives other tasks a turn: wakes itself and returns PENDING once. */
#define EDDY_YIELD()                                                                \
    do {                                                                            \
        eddy__co->pc = __LINE__;                                                    \
        eddy_waker_wake_by_ref(eddy__cx->waker);                                    \
        return EDDY_PENDING;                                                        \
    case __LINE__:                                                                  \
        if (EDDY_UNLIKELY(eddy__cx == EDDY_CX_DROP))                                \
            goto eddy__finally;                                                     \
    } while (0)

/* Returns PENDING and resumes here on the next poll.  The caller must have
 * arranged a wake first (stored a clone of EDDY_WAKER()). */
#define EDDY_SUSPEND()                                                              \
    do {                                                                            \
        eddy__co->pc = __LINE__;                                                    \
        return EDDY_PENDING;                                                        \
    case __LINE__:                                                                  \
        if (EDDY_UNLIKELY(eddy__cx == EDDY_CX_DROP))                                \
            goto eddy__finally;                                                     \
    } while (0)

/* Suspends until cond is true; re-evaluated on every poll.  The caller
 * arranges the wake-up before the condition can become true. */
#define EDDY_WAIT_UNTIL(cond)                                                       \
    do {                                                                            \
        eddy__co->pc = __LINE__;                                                    \
        EDDY_FALLTHROUGH;                                                           \
    case __LINE__:                                                                  \
        if (EDDY_UNLIKELY(eddy__cx == EDDY_CX_DROP))                                \
            goto eddy__finally;                                                     \
        if (!(cond))                                                                \
            return EDDY_PENDING;                                                    \
    } while (0)

/* The current poll's waker, for leaf code written inline in a coroutine. */
#define EDDY_WAKER() (eddy__cx->waker)
/* The current poll's context. */
#define EDDY_CX() (eddy__cx)

/* Finishes early: jumps to the cleanup, then returns READY.  Set *out
 * first if the coroutine has an output. */
#define EDDY_RETURN() goto eddy__finally

/* The `?` of the notes: if expr is negative, stores it in *out and returns
 * (through the cleanup).  Otherwise execution continues. */
#define EDDY_TRY(out, expr)                                                         \
    do {                                                                            \
        long eddy__e = (long)(expr);                                                \
        if (EDDY_UNLIKELY(eddy__e < 0)) {                                           \
            *(out) = eddy__e;                                                       \
            goto eddy__finally;                                                     \
        }                                                                           \
    } while (0)

/* True inside the cleanup when the coroutine is being dropped rather than
 * finishing. */
#define EDDY_DROPPING() (eddy__cx == EDDY_CX_DROP)

/* Starts the cleanup section (see rule 4). */
#define EDDY_FINALLY()                                                              \
    eddy__finally:                                                                  \
    EDDY_LABEL_UNUSED;

/* Ends the coroutine after EDDY_FINALLY: marks it finished, returns READY. */
#define EDDY_DONE()                                                                 \
    eddy__co->pc = -1;                                                              \
    return EDDY_READY;                                                              \
    default:                                                                        \
        eddy__coro_bad_resume(eddy__co);                                            \
    }                                                                               \
    return EDDY_READY

/* Ends a coroutine that has no cleanup. */
#define EDDY_END()                                                                  \
    EDDY_FINALLY();                                                                 \
    EDDY_DONE()

EDDY_END_DECLS

#endif
