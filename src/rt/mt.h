/* Internal: the multi-thread work-stealing scheduler.  See
 * docs/design/0010-multi-thread-runtime.md for the protocols. */
#ifndef EDDY_MT_H
#define EDDY_MT_H

#include "../core/internal.h"

/* ---- the task state word ------------------------------------------------
 * One atomic 64-bit word per task (eddy__task.word): flags in the low 16
 * bits, the home worker (no-steal mode) in bits 8-15, the reference count
 * from bit 16.  Every transition is one CAS or one fetch_add/sub; the
 * design note lists them all. */
enum {
    EDDY__M_NOTIFIED = 1u << 0,  /* in a run queue, or must go back in one after this poll */
    EDDY__M_RUNNING = 1u << 1,   /* a worker is polling it */
    EDDY__M_COMPLETE = 1u << 2,  /* finished or cancelled: the frame is dropped (final) */
    EDDY__M_CANCELLED = 1u << 3, /* abort requested */
    EDDY__M_JOIN = 1u << 4,      /* a join handle exists */
    EDDY__M_JOIN_WAKER = 1u << 5, /* join_waker belongs to the task side */
    EDDY__M_OUTPUT = 1u << 6,    /* the output slot holds the value (set with COMPLETE) */
};
#define EDDY__M_HOME_SHIFT 8
#define EDDY__M_HOME_MASK (UINT64_C(0xff) << EDDY__M_HOME_SHIFT)
#define EDDY__M_REF_ONE (UINT64_C(1) << 16)
#define EDDY__M_REF_SHIFT 16
#define EDDY__M_MAX_WORKERS 256

struct eddy__mt;

/* Entry points used by the flavour-neutral public API (current_thread.c). */
EDDY_HIDDEN int eddy__mt_new(eddy_rt *rt, const eddy_rt_builder *b);
EDDY_HIDDEN void eddy__mt_free(eddy_rt *rt);
EDDY_HIDDEN int eddy__mt_block_on(eddy_rt *rt, const eddy_future_vt *vt, void *fut, void *out);
EDDY_HIDDEN int eddy__mt_alloc(eddy_rt *rt, const eddy_future_vt *vt, struct eddy__task **out);
EDDY_HIDDEN int eddy__mt_start(struct eddy__task *t, eddy_join **jh);
EDDY_HIDDEN void eddy__mt_discard(struct eddy__task *t);
EDDY_HIDDEN eddy_poll eddy__mt_join_poll(struct eddy__task *t, eddy_cx *cx, void *out);
EDDY_HIDDEN int eddy__mt_join_status(const struct eddy__task *t);
EDDY_HIDDEN void eddy__mt_join_abort(struct eddy__task *t);
EDDY_HIDDEN void eddy__mt_join_detach(struct eddy__task *t);
EDDY_HIDDEN void eddy__mt_join_drop(struct eddy__task *t);
EDDY_HIDDEN int eddy__mt_stats(eddy_rt *rt, eddy_rt_stats *st);

#endif
