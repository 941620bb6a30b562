/* JoinSet: tasks spawned into a set and collected as they finish.
 *
 * Each task gets an entry (heap, recycled) holding its join handle and a
 * wake record.  At spawn the entry's waker is registered as the handle's
 * join waker (eddy_join_poll with a context whose waker is the entry's).
 * When the task ends the runtime wakes it, which pushes the entry on the
 * set's ready stack and wakes whoever awaits eddy_joinset_next.  So the
 * "next" costs O(1) per finished task, with no wrapper around the user's
 * future and no scan of the handles.  See docs/design/0007-combinators.md. */
#include "hub.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

struct eddy__jsentry {
    eddy__wnode node;          /* its waker is the task's join waker */
    eddy_join *jh;
    uint64_t id;
    uint32_t out_size;
    struct eddy__jsentry *lnext, *lprev; /* the set's live list */
};

static inline struct eddy__jsentry *node_entry(eddy__wnode *n)
{
    return (struct eddy__jsentry *)(void *)((char *)n - offsetof(struct eddy__jsentry, node));
}

void eddy_joinset_init(eddy_joinset *set)
{
    eddy__hub_init(&set->hub);
    set->live = NULL;
    set->head = set->tail = NULL;
    set->spare = NULL;
    set->len = 0;
    set->next_id = 0;
}

static void live_unlink(eddy_joinset *set, struct eddy__jsentry *e)
{
    if (e->lprev)
        e->lprev->lnext = e->lnext;
    else
        set->live = e->lnext;
    if (e->lnext)
        e->lnext->lprev = e->lprev;
}

static void recycle(eddy_joinset *set, struct eddy__jsentry *e)
{
    e->lnext = set->spare;
    set->spare = e;
}

int eddy_joinset_spawn(eddy_joinset *set, const eddy_future_vt *vt, const void *init, uint64_t *id)
{
    if (!set || !vt || !init)
        return -EINVAL;
    if (!set->live)
        set->hub.self = &set->hub; /* an empty set may have moved: nothing points into it */
    eddy__hub_check(&set->hub, "eddy_joinset");
    struct eddy__jsentry *e = set->spare;
    bool recycled = e != NULL;
    if (e) {
        set->spare = e->lnext;
    } else {
        e = malloc(sizeof *e);
        if (!e)
            return -ENOMEM;
    }
    eddy_join *jh;
    int err = eddy_spawn_local(vt, init, &jh);
    if (err < 0) {
        recycle(set, e);
        return err;
    }
    e->jh = jh;
    e->id = set->next_id++;
    e->out_size = vt->out_size;
    if (recycled && e->node.hub == &set->hub) {
        /* The task that used this entry before may still be finishing on
         * another worker, about to release its clone of the entry's waker,
         * which reads node.hub: leave that field alone (it is already
         * right).  Nothing else of the record is read by such a release. */
        e->node.next = NULL;
        atomic_store_explicit(&e->node.queued, 0, memory_order_relaxed);
        e->node.flags = 0;
    } else {
        eddy__wnode_init(&e->node, &set->hub, 0);
    }
    e->lprev = NULL;
    e->lnext = set->live;
    if (set->live)
        set->live->lprev = e;
    set->live = e;
    set->len++;
    /* Give the handle the entry's waker: the task's end queues the entry. */
    eddy_waker w = eddy__wnode_waker(&e->node);
    eddy_cx cx = {&w, NULL};
    if (eddy_join_poll(jh, &cx, NULL) == EDDY_READY)
        eddy_waker_wake_by_ref(&w);
    if (id)
        *id = e->id;
    return 0;
}

size_t eddy_joinset_len(const eddy_joinset *set) { return set->len; }

void eddy_joinset_abort_all(eddy_joinset *set)
{
    for (struct eddy__jsentry *e = set->live; e; e = e->lnext)
        eddy_join_abort(e->jh);
}

void eddy_joinset_drop(eddy_joinset *set)
{
    struct eddy__jsentry *e;
    for (e = set->live; e; e = e->lnext) {
        eddy_join_abort(e->jh);
        eddy_join_detach(e->jh); /* releases the entry's waker clone, or leaves it to a finishing task */
    }
    /* On the multi-thread runtime a task finishing on another worker may
     * still hold a clone of its entry's waker (taken out of the handle and
     * being woken, or about to be dropped because next detached the handle
     * meanwhile), also for entries already returned by next and recycled.
     * hub_release waits until every clone is released; only then is no
     * other thread touching the entries, and they may be freed. */
    eddy__hub_release(&set->hub, "eddy_joinset");
    e = set->live;
    while (e) {
        struct eddy__jsentry *n = e->lnext;
        free(e);
        e = n;
    }
    e = set->spare;
    while (e) {
        struct eddy__jsentry *n = e->lnext;
        free(e);
        e = n;
    }
    eddy_joinset_init(set);
}

/* ---- awaiting the next ------------------------------------------------------ */

void eddy_joinset_next_init(eddy_joinset_next *f, eddy_joinset *set, uint64_t *id, void *out_buf, size_t out_cap)
{
    if (!set)
        eddy_misuse("eddy_joinset_next", "the set must not be NULL");
    f->set = set;
    f->id = id;
    f->out_buf = out_buf;
    f->out_cap = out_cap;
}

eddy_poll eddy_joinset_next_poll(eddy_joinset_next *f, eddy_cx *cx, int *out)
{
    eddy_joinset *set = f->set;
    eddy__hub_check(&set->hub, "eddy_joinset");
    if (!set->head) {
        if (set->len == 0) {
            if (out)
                *out = -ENOENT;
            return EDDY_READY;
        }
        /* Register first, then take: a task ending after this wakes us. */
        eddy__hub_register(&set->hub, cx->waker);
        eddy__wnode *l = eddy__hub_take(&set->hub);
        if (!l)
            return EDDY_PENDING;
        set->head = node_entry(l);
        while (l->next)
            l = l->next;
        set->tail = node_entry(l);
    }
    struct eddy__jsentry *e = set->head;
    set->head = e->node.next ? node_entry(e->node.next) : NULL;
    if (!set->head)
        set->tail = NULL;
    if (f->out_buf && e->out_size > f->out_cap)
        eddy_misuse("eddy_joinset_next", "a task's output is larger than out_cap");
    if (eddy_join_poll(e->jh, cx, f->out_buf) != EDDY_READY)
        eddy_misuse("eddy_joinset_next", "a task was reported finished but its handle is pending");
    int st = eddy_join_status(e->jh);
    if (f->id)
        *f->id = e->id;
    eddy_join_detach(e->jh);
    live_unlink(set, e);
    set->len--;
    recycle(set, e);
    if (out)
        *out = st;
    return EDDY_READY;
}

void eddy_joinset_next_drop(eddy_joinset_next *f) { (void)f; }
