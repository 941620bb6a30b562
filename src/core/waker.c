/* The no-op waker and the counting waker for tests. */
#include "internal.h"

static eddy_waker noop_clone(const void *p);
static void noop_op(const void *p) { (void)p; }

static const eddy_waker_vtable noop_vt = {noop_clone, noop_op, noop_op, noop_op};

static eddy_waker noop_clone(const void *p)
{
    (void)p;
    return (eddy_waker){&noop_vt, NULL};
}

eddy_waker eddy_waker_noop(void) { return (eddy_waker){&noop_vt, NULL}; }

static eddy_waker cnt_clone(const void *p);
static void cnt_wake(const void *p)
{
    eddy_waker_counter *c = (eddy_waker_counter *)p;
    atomic_fetch_add(&c->wakes, 1);
}
static void cnt_wake_by_ref(const void *p)
{
    eddy_waker_counter *c = (eddy_waker_counter *)p;
    atomic_fetch_add(&c->wakes_by_ref, 1);
    atomic_fetch_add(&c->wakes, 1);
}
static void cnt_drop(const void *p)
{
    eddy_waker_counter *c = (eddy_waker_counter *)p;
    atomic_fetch_add(&c->drops, 1);
}

static const eddy_waker_vtable cnt_vt = {cnt_clone, cnt_wake, cnt_wake_by_ref, cnt_drop};

static eddy_waker cnt_clone(const void *p)
{
    eddy_waker_counter *c = (eddy_waker_counter *)p;
    atomic_fetch_add(&c->clones, 1);
    return (eddy_waker){&cnt_vt, c};
}

eddy_waker eddy_waker_counting(eddy_waker_counter *c)
{
    atomic_init(&c->clones, 0);
    atomic_init(&c->drops, 0);
    atomic_init(&c->wakes, 0);
    atomic_init(&c->wakes_by_ref, 0);
    return (eddy_waker){&cnt_vt, c};
}

long eddy_waker_counter_live(const eddy_waker_counter *c)
{
    long by_value = atomic_load(&c->wakes) - atomic_load(&c->wakes_by_ref);
    return 1 + atomic_load(&c->clones) - atomic_load(&c->drops) - by_value;
}
