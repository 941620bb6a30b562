/* Sequential combinators: map, then, and_then.  They pass the caller's
 * context straight to the live child (there is one child at a time, so no
 * waker of their own is needed), and they allocate nothing: the caller
 * provides the storage of both futures.  See
 * docs/design/0007-combinators.md. */
#include "hub.h"

#include <limits.h>
#include <string.h>

static void check_child(const char *what, const eddy_future_vt *vt, const void *fut)
{
    if (!vt || !vt->poll || !fut)
        eddy_misuse(what, "the child future (vt, vt->poll, fut) must not be NULL");
}

static inline bool is_status_size(uint32_t sz) { return sz == sizeof(int32_t) || sz == sizeof(int64_t); }

static long read_status(const eddy_future_vt *vt, const void *out)
{
    if (vt->out_size == sizeof(int32_t)) {
        int32_t v;
        memcpy(&v, out, sizeof v);
        return (long)v;
    }
    int64_t v;
    memcpy(&v, out, sizeof v);
    return (long)v;
}

static void write_status(const eddy_future_vt *vt, void *out, long st)
{
    if (!out)
        return;
    if (vt->out_size == sizeof(int32_t)) {
        int32_t v = st < INT32_MIN ? INT32_MIN : (int32_t)st;
        memcpy(out, &v, sizeof v);
    } else {
        int64_t v = (int64_t)st;
        memcpy(out, &v, sizeof v);
    }
}

/* ---- map ------------------------------------------------------------------------ */

void eddy_map_init(eddy_map *m, const eddy_future_vt *vt, void *fut, void *child_out, eddy_map_fn fn, void *ctx)
{
    check_child("eddy_map", vt, fut);
    if (!fn)
        eddy_misuse("eddy_map", "the function must not be NULL");
    *m = (eddy_map){.vt = vt, .fut = fut, .child_out = child_out, .fn = fn, .ctx = ctx};
}

eddy_poll eddy_map_poll(eddy_map *m, eddy_cx *cx, void *out)
{
    if (EDDY_UNLIKELY(m->state != 0)) {
#if EDDY_DEBUG
        eddy_misuse("eddy_map", "polled again after it returned EDDY_READY (or after it was dropped)");
#endif
        return EDDY_READY;
    }
    if (m->vt->poll(m->fut, cx, m->child_out) == EDDY_PENDING)
        return EDDY_PENDING;
    m->state = 1;
    if (m->vt->drop)
        m->vt->drop(m->fut);
    m->fn(m->ctx, m->child_out, out);
    return EDDY_READY;
}

void eddy_map_drop(eddy_map *m)
{
    if (m->state == 0) {
        m->state = 1;
        if (m->vt->drop)
            m->vt->drop(m->fut);
    }
}

/* ---- then / and_then ------------------------------------------------------------- */

enum {
    EDDY__THEN_FIRST = 0,  /* the first future is live */
    EDDY__THEN_SECOND = 1, /* the second future is live */
    EDDY__THEN_DONE = 2,   /* completed or dropped: nothing is live */
};

enum {
    EDDY__THEN_AND = 1u << 0, /* and_then: a negative first status short-circuits */
};

static void then_setup(eddy_then *t, const char *what, const eddy_future_vt *vt1, void *fut1, void *out1,
                       eddy_then_fn fn, void *ctx, const eddy_future_vt *vt2, void *fut2, uint32_t flags)
{
    check_child(what, vt1, fut1);
    check_child(what, vt2, fut2);
    if (!fn)
        eddy_misuse(what, "the function must not be NULL");
    *t = (eddy_then){.vt1 = vt1,
                     .fut1 = fut1,
                     .out1 = out1,
                     .fn = fn,
                     .ctx = ctx,
                     .vt2 = vt2,
                     .fut2 = fut2,
                     .state = EDDY__THEN_FIRST,
                     .flags = flags};
}

void eddy_then_init(eddy_then *t, const eddy_future_vt *vt1, void *fut1, void *out1, eddy_then_fn fn, void *ctx,
                    const eddy_future_vt *vt2, void *fut2)
{
    then_setup(t, "eddy_then", vt1, fut1, out1, fn, ctx, vt2, fut2, 0);
}

void eddy_and_then_init(eddy_and_then *t, const eddy_future_vt *vt1, void *fut1, void *out1, eddy_then_fn fn,
                        void *ctx, const eddy_future_vt *vt2, void *fut2)
{
    then_setup(t, "eddy_and_then", vt1, fut1, out1, fn, ctx, vt2, fut2, EDDY__THEN_AND);
    if (!out1 || !is_status_size(vt1->out_size) || !is_status_size(vt2->out_size))
        eddy_misuse("eddy_and_then", "both outputs must be statuses (out_size 4 or 8) and out1 not NULL");
}

eddy_poll eddy_then_poll(eddy_then *t, eddy_cx *cx, void *out)
{
    if (t->state == EDDY__THEN_FIRST) {
        if (t->vt1->poll(t->fut1, cx, t->out1) == EDDY_PENDING)
            return EDDY_PENDING;
        /* The first is finished: release it before the second is built,
         * which lets the two share storage. */
        t->state = EDDY__THEN_DONE;
        if (t->vt1->drop)
            t->vt1->drop(t->fut1);
        if (t->flags & EDDY__THEN_AND) {
            long st = read_status(t->vt1, t->out1);
            if (st < 0) {
                write_status(t->vt2, out, st);
                return EDDY_READY;
            }
        }
        t->fn(t->ctx, t->out1, t->fut2);
        t->state = EDDY__THEN_SECOND;
    }
    if (EDDY_UNLIKELY(t->state != EDDY__THEN_SECOND)) {
#if EDDY_DEBUG
        eddy_misuse(t->flags & EDDY__THEN_AND ? "eddy_and_then" : "eddy_then",
                    "polled again after it returned EDDY_READY (or after it was dropped)");
#endif
        return EDDY_READY;
    }
    if (t->vt2->poll(t->fut2, cx, out) == EDDY_PENDING)
        return EDDY_PENDING;
    t->state = EDDY__THEN_DONE;
    if (t->vt2->drop)
        t->vt2->drop(t->fut2);
    return EDDY_READY;
}

void eddy_then_drop(eddy_then *t)
{
    uint32_t s = t->state;
    t->state = EDDY__THEN_DONE;
    if (s == EDDY__THEN_FIRST && t->vt1->drop)
        t->vt1->drop(t->fut1);
    else if (s == EDDY__THEN_SECOND && t->vt2->drop)
        t->vt2->drop(t->fut2);
}
