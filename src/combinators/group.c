/* join, try_join and select over N children given as (vt, fut, out)
 * triples.  One engine: every child has a wake record (hub.h); the first
 * poll polls every child once, in order; later polls poll only the children
 * whose wakers fired since the previous poll.  See
 * docs/design/0007-combinators.md. */
#include "hub.h"

#include <limits.h>
#include <string.h>

enum {
    EDDY__G_JOIN = 0,
    EDDY__G_TRY = 1,
    EDDY__G_SELECT = 2,
    EDDY__G_SELECT_FAIR = 3,
};

enum {
    EDDY__G_INIT = 0,    /* not polled yet: the records are not set up */
    EDDY__G_RUNNING = 1,
    EDDY__G_DONE = 2,    /* completed or dropped: every child was dropped */
};

static const char *const group_names[] = {"eddy_join_all", "eddy_try_join_all", "eddy_select", "eddy_select_fair"};

static EDDY_TLS unsigned thread_cursor; /* fair selects given no cursor */

static inline eddy_child *node_child(eddy__wnode *n)
{
    return (eddy_child *)(void *)((char *)n - offsetof(eddy_child, node));
}

static inline size_t node_index(const eddy__group *g, eddy__wnode *n) { return (size_t)(node_child(n) - g->kids); }

/* Reads a child's status: a signed integer of its out_size (4 or 8). */
static long child_status(const eddy_child *c)
{
    if (c->vt->out_size == sizeof(int32_t)) {
        int32_t v;
        memcpy(&v, c->out, sizeof v);
        return (long)v;
    }
    int64_t v;
    memcpy(&v, c->out, sizeof v);
    return (long)v;
}

static void group_init(eddy__group *g, eddy_child *kids, size_t n, uint8_t kind)
{
    const char *what = group_names[kind];
    if (n > 0 && !kids)
        eddy_misuse(what, "the child array is NULL");
    for (size_t i = 0; i < n; i++) {
        const eddy_child *c = &kids[i];
        if (!c->vt || !c->vt->poll || !c->fut)
            eddy_misuse(what, "a child's vt, vt->poll or future is NULL");
        if (kind == EDDY__G_TRY &&
            (!c->out || (c->vt->out_size != sizeof(int32_t) && c->vt->out_size != sizeof(int64_t))))
            eddy_misuse(what, "a child's output must be a status (out_size 4 or 8) and its out not NULL");
    }
    eddy__hub_init(&g->hub);
    g->kids = kids;
    g->n = n;
    g->remaining = n;
    g->result = EDDY_NO_CHILD;
    g->err = 0;
    g->cursor = NULL;
    g->own_cursor = 0;
    g->kind = kind;
    g->state = EDDY__G_INIT;
    g->reserved = 0;
}

/* The child leaves the group: it is dropped now, exactly once. */
static void drop_child(eddy__group *g, eddy_child *c)
{
    eddy__wnode_finish(&c->node);
    g->remaining--;
    if (c->vt->drop)
        c->vt->drop(c->fut);
}

/* Drops every child still in the group and the parent waker. */
static void group_finish(eddy__group *g)
{
    if (g->state == EDDY__G_INIT) {
        /* Never polled: no record was set up, no waker handed out. */
        for (size_t i = 0; i < g->n; i++)
            if (g->kids[i].vt->drop)
                g->kids[i].vt->drop(g->kids[i].fut);
        g->remaining = 0;
    } else {
        for (size_t i = 0; i < g->n && g->remaining > 0; i++)
            if (!(g->kids[i].node.flags & EDDY__WN_DONE))
                drop_child(g, &g->kids[i]);
        eddy__hub_release(&g->hub, group_names[g->kind]);
    }
    g->state = EDDY__G_DONE;
}

static inline eddy_poll poll_child(eddy_child *c, eddy_cx *cx)
{
    eddy__wnode_begin_poll(&c->node);
    eddy_waker w = eddy__wnode_waker(&c->node);
    eddy_cx ccx = {&w, cx->core};
    return c->vt->poll(c->fut, &ccx, c->out);
}

/* Child i returned READY.  Returns true when the group is complete. */
static bool on_ready(eddy__group *g, size_t i)
{
    eddy_child *c = &g->kids[i];
    switch (g->kind) {
    case EDDY__G_TRY: {
        long st = child_status(c);
        drop_child(g, c);
        if (st < 0) {
            g->result = i;
            g->err = st;
            return true;
        }
        return g->remaining == 0;
    }
    case EDDY__G_SELECT:
    case EDDY__G_SELECT_FAIR:
        g->result = i;
        drop_child(g, c);
        if (g->kind == EDDY__G_SELECT_FAIR)
            *g->cursor = (unsigned)((i + 1) % g->n);
        return true;
    default:
        drop_child(g, c);
        return g->remaining == 0;
    }
}

/* ---- ordering woken children for select ----------------------------------- */

static inline size_t sel_key(const eddy__group *g, eddy__wnode *n, size_t start)
{
    return (node_index(g, n) + g->n - start) % g->n;
}

static eddy__wnode *merge(const eddy__group *g, size_t start, eddy__wnode *a, eddy__wnode *b)
{
    eddy__wnode head = {0};
    eddy__wnode *t = &head;
    while (a && b) {
        if (sel_key(g, b, start) < sel_key(g, a, start)) {
            t->next = b;
            b = b->next;
        } else {
            t->next = a;
            a = a->next;
        }
        t = t->next;
    }
    t->next = a ? a : b;
    return head.next;
}

/* Sorts a list of records by select priority (merge sort, O(k log k) for k
 * woken children, no allocation). */
static eddy__wnode *sort_woken(const eddy__group *g, size_t start, eddy__wnode *l)
{
    if (!l || !l->next)
        return l;
    eddy__wnode *slow = l, *fast = l->next;
    while (fast && fast->next) {
        slow = slow->next;
        fast = fast->next->next;
    }
    eddy__wnode *b = slow->next;
    slow->next = NULL;
    return merge(g, start, sort_woken(g, start, l), sort_woken(g, start, b));
}

/* ---- the poll ----------------------------------------------------------------- */

/* Returns READY when the group is complete (every child dropped). */
static eddy_poll group_poll(eddy__group *g, eddy_cx *cx)
{
    eddy__hub *h = &g->hub;
    const char *what = group_names[g->kind];
    if (EDDY_UNLIKELY(g->state == EDDY__G_DONE)) {
#if EDDY_DEBUG
        eddy_misuse(what, "polled again after it returned EDDY_READY (or after it was dropped)");
#endif
        return EDDY_READY;
    }
    size_t start = 0;
    if (g->kind == EDDY__G_SELECT_FAIR)
        start = *g->cursor % g->n;

    if (g->state == EDDY__G_INIT) {
        /* First poll: set up the records, then poll every child once. */
        g->state = EDDY__G_RUNNING;
        h->self = h;
        for (size_t i = 0; i < g->n; i++)
            eddy__wnode_init(&g->kids[i].node, h, 1); /* absorb wakes until its poll */
        eddy__hub_register(h, cx->waker);
        for (size_t k = 0; k < g->n; k++) {
            size_t i = start + k < g->n ? start + k : start + k - g->n;
            if (poll_child(&g->kids[i], cx) == EDDY_READY && on_ready(g, i))
                goto complete;
        }
        if (g->remaining == 0)
            goto complete;
        return EDDY_PENDING;
    }

    eddy__hub_check(h, what);
    /* Register first: a wake after this point wakes the new waker. */
    eddy__hub_register(h, cx->waker);
    eddy__wnode *list = eddy__hub_take(h);
    if (g->kind >= EDDY__G_SELECT)
        list = sort_woken(g, start, list);
    while (list) {
        eddy__wnode *n = list;
        list = n->next; /* read before the poll: a wake may re-link n */
        if (n->flags & EDDY__WN_DONE)
            continue;
        size_t i = node_index(g, n);
        if (poll_child(&g->kids[i], cx) == EDDY_READY && on_ready(g, i))
            goto complete;
    }
    if (g->remaining == 0)
        goto complete;
    return EDDY_PENDING;

complete:
    group_finish(g);
    return EDDY_READY;
}

static inline int sat_int(long v)
{
    if (v < INT_MIN)
        return INT_MIN;
    if (v > INT_MAX)
        return INT_MAX;
    return (int)v;
}

/* ---- join ----------------------------------------------------------------------- */

void eddy_join_all_init(eddy_join_all *j, eddy_child *kids, size_t n) { group_init(&j->g, kids, n, EDDY__G_JOIN); }

eddy_poll eddy_join_all_poll(eddy_join_all *j, eddy_cx *cx, int *out)
{
    if (group_poll(&j->g, cx) == EDDY_PENDING)
        return EDDY_PENDING;
    if (out)
        *out = 0;
    return EDDY_READY;
}

void eddy_join_all_drop(eddy_join_all *j)
{
    if (j->g.state != EDDY__G_DONE)
        group_finish(&j->g);
}

/* ---- try_join --------------------------------------------------------------------- */

void eddy_try_join_all_init(eddy_try_join_all *j, eddy_child *kids, size_t n)
{
    group_init(&j->g, kids, n, EDDY__G_TRY);
}

eddy_poll eddy_try_join_all_poll(eddy_try_join_all *j, eddy_cx *cx, int *out)
{
    if (group_poll(&j->g, cx) == EDDY_PENDING)
        return EDDY_PENDING;
    if (out)
        *out = sat_int(j->g.err);
    return EDDY_READY;
}

void eddy_try_join_all_drop(eddy_try_join_all *j)
{
    if (j->g.state != EDDY__G_DONE)
        group_finish(&j->g);
}

size_t eddy_try_join_all_failed(const eddy_try_join_all *j) { return j->g.result; }

long eddy_try_join_all_error(const eddy_try_join_all *j) { return j->g.err; }

/* ---- select ------------------------------------------------------------------------- */

void eddy_select_init(eddy_select *s, eddy_child *kids, size_t n)
{
    if (n == 0)
        eddy_misuse("eddy_select", "a select of no children would never complete");
    group_init(&s->g, kids, n, EDDY__G_SELECT);
}

void eddy_select_fair_init(eddy_select *s, eddy_child *kids, size_t n, unsigned *cursor)
{
    if (n == 0)
        eddy_misuse("eddy_select_fair", "a select of no children would never complete");
    group_init(&s->g, kids, n, EDDY__G_SELECT_FAIR);
    s->g.cursor = cursor ? cursor : &thread_cursor;
}

eddy_poll eddy_select_poll(eddy_select *s, eddy_cx *cx, size_t *out)
{
    if (group_poll(&s->g, cx) == EDDY_PENDING)
        return EDDY_PENDING;
    if (out)
        *out = s->g.result;
    return EDDY_READY;
}

void eddy_select_drop(eddy_select *s)
{
    if (s->g.state != EDDY__G_DONE)
        group_finish(&s->g);
}

/* ---- vtables ---------------------------------------------------------------------------- */

static eddy_poll join_vt_poll(void *f, eddy_cx *cx, void *out) { return eddy_join_all_poll(f, cx, out); }
static void join_vt_drop(void *f) { eddy_join_all_drop(f); }
static eddy_poll try_vt_poll(void *f, eddy_cx *cx, void *out) { return eddy_try_join_all_poll(f, cx, out); }
static void try_vt_drop(void *f) { eddy_try_join_all_drop(f); }
static eddy_poll select_vt_poll(void *f, eddy_cx *cx, void *out) { return eddy_select_poll(f, cx, out); }
static void select_vt_drop(void *f) { eddy_select_drop(f); }

const eddy_future_vt eddy_join_all_vt = {.poll = join_vt_poll,
                                         .drop = join_vt_drop,
                                         .size = (uint32_t)sizeof(eddy_join_all),
                                         .align = (uint32_t)_Alignof(eddy_join_all),
                                         .out_size = (uint32_t)sizeof(int),
                                         .out_align = (uint32_t)_Alignof(int),
                                         .name = "eddy_join_all"};
const eddy_future_vt eddy_try_join_all_vt = {.poll = try_vt_poll,
                                             .drop = try_vt_drop,
                                             .size = (uint32_t)sizeof(eddy_try_join_all),
                                             .align = (uint32_t)_Alignof(eddy_try_join_all),
                                             .out_size = (uint32_t)sizeof(int),
                                             .out_align = (uint32_t)_Alignof(int),
                                             .name = "eddy_try_join_all"};
const eddy_future_vt eddy_select_vt = {.poll = select_vt_poll,
                                       .drop = select_vt_drop,
                                       .size = (uint32_t)sizeof(eddy_select),
                                       .align = (uint32_t)_Alignof(eddy_select),
                                       .out_size = (uint32_t)sizeof(size_t),
                                       .out_align = (uint32_t)_Alignof(size_t),
                                       .name = "eddy_select"};
