/* eddy/combinators.h - futures composed concurrently (join, try_join,
 * select, JoinSet) and sequentially (map, then, and_then).
 *
 * Every combinator here follows the awaitable convention of eddy/coro.h
 * (X_init / X_poll / X_drop), so a coroutine awaits one like any leaf, and
 * a hand-written future polls one like any other future.  The children are
 * given dynamically, as (vtable, future, output) triples, so a combinator
 * works with any future type: a leaf, a coroutine, another combinator.
 *
 *     EDDY_FUTURE_VT(sleep_vt, eddy_sleep, int, eddy_sleep_poll, eddy_sleep_drop);
 *
 *     struct fetch2 {
 *         eddy_coro co;
 *         eddy_sleep a, b;          // the children: storage is the caller's
 *         int oa, ob, rc;
 *         eddy_child kids[2];       // descriptors + per-child wake records
 *         eddy_join_all j;
 *     };
 *     ...
 *     eddy_sleep_init(&t->a, EDDY_MS(10));
 *     eddy_sleep_init(&t->b, EDDY_MS(30));
 *     t->kids[0] = EDDY_CHILD(&sleep_vt, &t->a, &t->oa);
 *     t->kids[1] = EDDY_CHILD(&sleep_vt, &t->b, &t->ob);
 *     EDDY_AWAIT(&t->rc, eddy_join_all, &t->j, t->kids, 2);   // both done
 *
 * Ownership, for every combinator in this file.
 * - The caller owns the memory of the children, of their outputs and of the
 *   eddy_child array; it must stay in place from the combinator's first
 *   poll until the combinator has completed or been dropped.
 * - From init on, the combinator owns the children's *life*: it drops each
 *   child exactly once with vt->drop (when vt->drop is not NULL), either
 *   right after the child returned READY (releasing what a finished future
 *   may still hold, as the runtime does for a completed task), or when the
 *   child is cancelled (a lost select, a try_join error, the combinator
 *   itself dropped, even before its first poll).  After the combinator has
 *   completed or been dropped, the caller may reuse or free everything.
 * - A child's output is written only by the child: an abandoned child
 *   leaves its output untouched.
 *
 * Wakers.  join, try_join and select give every child its own waker, whose
 * data points at that child's wake record (inside eddy_child).  Waking it
 * queues the child on the combinator's ready list and wakes the task that
 * polls the combinator; a poll then polls only the children that were
 * woken, so a join of N children costs O(wakes) child polls, not O(N) per
 * wake.  The wakers are safe to call from any thread.  They are not
 * reference-counted: they point into the caller's memory.  The invariant
 * that makes this safe is the future contract itself: a child's drop
 * releases every waker clone it made, and the combinator drops every child
 * before it completes.  Each combinator counts its children's waker clones
 * (one atomic per clone or release; none per poll or wake by reference).
 * Once the last child is dropped it waits (up to 1 s) for a wake in flight
 * on another thread (a clone taken out of a wait queue and woken outside
 * its lock) to finish; a clone still alive after that was leaked by a child:
 * debug builds stop the program (eddy_misuse), release builds warn.  See
 * docs/design/0007-combinators.md.
 *
 * Like every future, a combinator must not move after its first poll.
 * init only stores its arguments (nothing is polled or registered), so a
 * combinator may be initialised in one place and moved before it is first
 * polled, provided the children and the array it points to do not move.
 */
#ifndef EDDY_COMBINATORS_H
#define EDDY_COMBINATORS_H

#include <eddy/future.h>
#include <eddy/runtime.h>

EDDY_BEGIN_DECLS

/* ---- internal: wake records ---------------------------------------------
 * The layout is public only so that combinators have a compile-time size;
 * do not touch the fields. */
struct eddy__hub;

/* One wake record per child.  A child's waker is (vtable, &record). */
typedef struct eddy__wnode {
    struct eddy__wnode *next; /* link in the hub's ready list */
    struct eddy__hub *hub;    /* the combinator it belongs to */
    atomic_uint queued;       /* 1 while in the ready list (or finished) */
    uint32_t flags;           /* EDDY__WN_* */
} eddy__wnode;

/* The part of a combinator that children's wakers reach. */
typedef struct eddy__hub {
    /* (first: a plain pointer, so that `= {0}` initialises a frame that
     * begins with a combinator without an atomic-from-int warning) */
    eddy_waker parent;                   /* the task polling the combinator */
    const struct eddy__hub *self;        /* where it was first polled */
    _Atomic(struct eddy__wnode *) ready; /* woken children: a lock-free stack */
    atomic_long live;                    /* child waker clones alive */
    atomic_uint wstate;                  /* guards parent against concurrent wakes */
} eddy__hub;

/* ---- children -------------------------------------------------------------
 * A child future: its vtable, the future (initialised by the caller, not
 * yet polled or already pending), and where its output goes (may be NULL
 * if the child accepts a NULL out; try_join needs it).  The `node` member
 * is the combinator's wake record for this child. */
typedef struct eddy_child {
    const eddy_future_vt *vt;
    void *fut;
    void *out;
    eddy__wnode node; /* private */
} eddy_child;

/* A child descriptor by value:  kids[i] = EDDY_CHILD(&vt, &fut, &out); */
#define EDDY_CHILD(VT, FUT, OUT) ((eddy_child){.vt = (VT), .fut = (FUT), .out = (OUT)})

/* No child (select and try_join report indices as size_t). */
#define EDDY_NO_CHILD SIZE_MAX

/* Internal: the state shared by join, try_join and select. */
typedef struct eddy__group {
    eddy__hub hub;
    eddy_child *kids;
    size_t n;
    size_t remaining;  /* children not yet finished or dropped */
    size_t result;     /* select: the winner; try_join: the failed child */
    long err;          /* try_join: the failed child's status */
    unsigned *cursor;  /* fair select: where the next poll starts */
    unsigned own_cursor;
    uint8_t kind;      /* EDDY__G_* */
    uint8_t state;     /* EDDY__G_INIT, _RUNNING, _DONE */
    uint16_t reserved;
} eddy__group;

/* ---- join: all of N ------------------------------------------------------
 * READY when every child is READY; each child's output is in its out.
 * Output: int, always 0 (out may be NULL).  N = 0 is READY at once.
 *
 *     EDDY_AWAIT(&t->rc, eddy_join_all, &t->j, t->kids, 3);
 */
typedef struct eddy_join_all {
    eddy__group g;
} eddy_join_all;

EDDY_API void eddy_join_all_init(eddy_join_all *j, eddy_child *kids, size_t n);
EDDY_API eddy_poll eddy_join_all_poll(eddy_join_all *j, eddy_cx *cx, int *out);
/* Drops every child that has not finished.  Valid in any state after init. */
EDDY_API void eddy_join_all_drop(eddy_join_all *j);

/* ---- try_join: all of N, or the first error --------------------------------
 * Every child's output is a status: a signed integer whose width is the
 * child's vt->out_size, 4 (int) or 8 (long, ssize_t, int64_t); negative
 * means failure.  (A child with another output type can be wrapped in
 * eddy_map to produce one.)  The first child to finish with a negative
 * status cancels the rest: they are dropped at once, exactly once, and the
 * try_join completes with that status (converted to int, saturating).
 * Output: int, 0 when every child succeeded.  eddy_try_join_all_failed
 * tells which child failed.  Children out pointers must not be NULL. */
typedef struct eddy_try_join_all {
    eddy__group g;
} eddy_try_join_all;

EDDY_API void eddy_try_join_all_init(eddy_try_join_all *j, eddy_child *kids, size_t n);
EDDY_API eddy_poll eddy_try_join_all_poll(eddy_try_join_all *j, eddy_cx *cx, int *out);
EDDY_API void eddy_try_join_all_drop(eddy_try_join_all *j);
/* The index of the child that failed, or EDDY_NO_CHILD. */
EDDY_API size_t eddy_try_join_all_failed(const eddy_try_join_all *j);
/* Its status as the child reported it (0 if none failed). */
EDDY_API long eddy_try_join_all_error(const eddy_try_join_all *j);

/* ---- select: the first of N ------------------------------------------------
 * READY as soon as one child is READY; output: size_t, its index (its own
 * output is in its out).  Every other child is dropped (vt->drop) before
 * the select returns: a lost branch is cancelled, exactly once, and
 * releases whatever it registered (an eddy_sleep unlinks its timer, a read
 * removes its waker).  Children that were never woken are never polled
 * again after the first poll; at most one child completes.
 *
 * Biased (eddy_select): when several children are ready in the same poll,
 * the lowest index wins.  Fair (eddy_select_fair): the children woken
 * together are tried in round-robin order starting at *cursor, and on
 * completion *cursor becomes the winner's index + 1, so a branch that is
 * always ready cannot starve the others when the select runs in a loop
 * with the same cursor (a frame field).  cursor NULL: a counter of the
 * calling thread.  n must be > 0. */
typedef struct eddy_select {
    eddy__group g;
} eddy_select;

EDDY_API void eddy_select_init(eddy_select *s, eddy_child *kids, size_t n);
EDDY_API void eddy_select_fair_init(eddy_select *s, eddy_child *kids, size_t n, unsigned *cursor);
EDDY_API eddy_poll eddy_select_poll(eddy_select *s, eddy_cx *cx, size_t *out);
EDDY_API void eddy_select_drop(eddy_select *s);
EDDY_INLINE eddy_poll eddy_select_fair_poll(eddy_select *s, eddy_cx *cx, size_t *out)
{
    return eddy_select_poll(s, cx, out);
}
EDDY_INLINE void eddy_select_fair_drop(eddy_select *s) { eddy_select_drop(s); }

/* Vtables, for spawning a combinator or nesting one in another. */
EDDY_API extern const eddy_future_vt eddy_join_all_vt;     /* output int */
EDDY_API extern const eddy_future_vt eddy_try_join_all_vt; /* output int */
EDDY_API extern const eddy_future_vt eddy_select_vt;       /* output size_t (both flavours) */

/* ---- map: transform the output ---------------------------------------------
 * Polls the child (through the caller's waker: no extra state per wake);
 * when it is READY, drops it and calls fn(ctx, child_out, out), which
 * writes the map's output.  The output type is whatever fn writes; to use a
 * map as a child elsewhere, define its vtable with the output type:
 *     EDDY_FUTURE_VT(len_map_vt, eddy_map, int, eddy_map_poll, eddy_map_drop);
 */
typedef void (*eddy_map_fn)(void *ctx, void *child_out, void *out);

typedef struct eddy_map {
    const eddy_future_vt *vt;
    void *fut;
    void *child_out;
    eddy_map_fn fn;
    void *ctx;
    uint32_t state; /* 0 running, 1 done (child dropped) */
    uint32_t reserved;
} eddy_map;

EDDY_API void eddy_map_init(eddy_map *m, const eddy_future_vt *vt, void *fut, void *child_out, eddy_map_fn fn,
                            void *ctx);
EDDY_API eddy_poll eddy_map_poll(eddy_map *m, eddy_cx *cx, void *out);
EDDY_API void eddy_map_drop(eddy_map *m);

/* ---- then / and_then: one future after another -----------------------------
 * then runs the first future (vt1, fut1, out1); when it is READY it is
 * dropped, and fn(ctx, out1, fut2) initialises the second future, of type
 * vt2, in the storage fut2 the caller provided (it may overlap fut1: a
 * union in the caller's frame, because fut1 is dropped first).  The second
 * is then polled with the then's own out, so the output is the second's.
 *
 * and_then is then for fallible steps: both futures output a status (an
 * int or a long: out_size 4 or 8, as for try_join).  If the first's status
 * is negative, fn is never called, the second never exists, and the
 * status becomes the and_then's output (converted to the second's width):
 * errors short-circuit, like `?`.
 *
 * Nothing is allocated: the caller provides every byte, which is also why
 * these are clumsier than a coroutine (docs/design/0007-combinators.md). */
typedef void (*eddy_then_fn)(void *ctx, void *first_out, void *second);

typedef struct eddy_then {
    const eddy_future_vt *vt1;
    void *fut1;
    void *out1;
    eddy_then_fn fn;
    void *ctx;
    const eddy_future_vt *vt2;
    void *fut2;
    uint32_t state; /* EDDY__THEN_* */
    uint32_t flags; /* EDDY__THEN_AND: short-circuit on errors */
} eddy_then;

typedef eddy_then eddy_and_then;

EDDY_API void eddy_then_init(eddy_then *t, const eddy_future_vt *vt1, void *fut1, void *out1, eddy_then_fn fn,
                             void *ctx, const eddy_future_vt *vt2, void *fut2);
EDDY_API eddy_poll eddy_then_poll(eddy_then *t, eddy_cx *cx, void *out);
/* Drops whichever future is live (the first, or the second once it
 * exists).  Valid in any state after init. */
EDDY_API void eddy_then_drop(eddy_then *t);

EDDY_API void eddy_and_then_init(eddy_and_then *t, const eddy_future_vt *vt1, void *fut1, void *out1,
                                 eddy_then_fn fn, void *ctx, const eddy_future_vt *vt2, void *fut2);
EDDY_INLINE eddy_poll eddy_and_then_poll(eddy_and_then *t, eddy_cx *cx, void *out)
{
    return eddy_then_poll(t, cx, out);
}
EDDY_INLINE void eddy_and_then_drop(eddy_and_then *t) { eddy_then_drop(t); }

/* ---- JoinSet: a dynamic set of spawned tasks -------------------------------
 * Tasks are spawned on the current runtime into the set; awaiting
 * eddy_joinset_next yields them as they finish, in the order they finish.
 * Each task's join handle is given a waker of its own (a wake record per
 * task, allocated by the set), so a finishing task queues itself on the
 * set: awaiting the next one costs O(1) per finished task, never a scan of
 * the handles.
 *
 *     eddy_joinset_init(&t->set);
 *     for (t->i = 0; t->i < 100; t->i++)
 *         eddy_joinset_spawn(&t->set, &worker_vt, &w, NULL);
 *     for (;;) {
 *         EDDY_AWAIT(&t->rc, eddy_joinset_next, &t->nx, &t->set, &t->id, &t->res, sizeof t->res);
 *         if (t->rc == -ENOENT)
 *             break;            // the set is empty
 *         ...                   // rc 0: task t->id finished, output in t->res
 *     }                         // rc -ECANCELED: task t->id was aborted
 *     EDDY_FINALLY();
 *     eddy_joinset_drop(&t->set);   // aborts whatever is left
 *
 * The set belongs to the task (or block_on future) that spawns into it,
 * and must not move after the first spawn.  One eddy_joinset_next at a
 * time.  On the multi-thread runtime that task may run on any worker and
 * the set's tasks finish in parallel; the set is still used by its owner
 * only, and eddy_joinset_drop waits for a wake in flight from a finishing
 * task before it frees the set's memory. */
struct eddy__jsentry;

typedef struct eddy_joinset {
    eddy__hub hub;
    struct eddy__jsentry *live;        /* every task not yet returned by next */
    struct eddy__jsentry *head, *tail; /* finished, in finishing order, not yet returned */
    struct eddy__jsentry *spare;       /* recycled entries */
    size_t len;
    uint64_t next_id;
} eddy_joinset;

/* An empty set.  Allocates nothing. */
EDDY_API void eddy_joinset_init(eddy_joinset *set);

/* Spawns a task (see eddy_spawn: vt->size bytes are copied from init) on
 * the current runtime into the set.  Its id, counted from 0 in spawn
 * order, is stored in *id if id is not NULL.  Returns 0, -ENOMEM,
 * -EDDY_ENORUNTIME, -EDDY_ESHUTDOWN or -EINVAL (then nothing was spawned
 * and the caller still owns what init points to). */
EDDY_API int eddy_joinset_spawn(eddy_joinset *set, const eddy_future_vt *vt, const void *init, uint64_t *id);

/* Tasks in the set: spawned and not yet returned by eddy_joinset_next. */
EDDY_API size_t eddy_joinset_len(const eddy_joinset *set);

/* Requests cancellation of every task in the set (eddy_join_abort).  They
 * stay in the set: next returns each with -ECANCELED (or 0 if it had
 * already completed). */
EDDY_API void eddy_joinset_abort_all(eddy_joinset *set);

/* Aborts every task still in the set and releases their handles and the
 * set's memory.  The tasks are dropped (their vt->drop runs once) when the
 * scheduler next reaches them.  The set may be initialised again. */
EDDY_API void eddy_joinset_drop(eddy_joinset *set);

/* Awaiting the next task to finish.  Output: int.
 *   0            the task *id completed; its output (vt->out_size bytes)
 *                was copied to out_buf (unless out_buf is NULL)
 *   -ECANCELED   the task *id was aborted (or dropped at shutdown)
 *   -ENOENT      the set is empty
 * out_cap is the size of out_buf; a task whose output is larger is a
 * misuse (eddy_misuse).  id may be NULL. */
typedef struct eddy_joinset_next {
    eddy_joinset *set;
    uint64_t *id;
    void *out_buf;
    size_t out_cap;
} eddy_joinset_next;

EDDY_API void eddy_joinset_next_init(eddy_joinset_next *f, eddy_joinset *set, uint64_t *id, void *out_buf,
                                     size_t out_cap);
EDDY_API eddy_poll eddy_joinset_next_poll(eddy_joinset_next *f, eddy_cx *cx, int *out);
/* Abandons the wait; the set and its tasks are unaffected. */
EDDY_API void eddy_joinset_next_drop(eddy_joinset_next *f);

EDDY_END_DECLS

#endif
