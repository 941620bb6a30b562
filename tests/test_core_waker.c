/* Wakers by hand, no runtime: the counting waker's arithmetic, clone/drop
 * balance through eddy_waker_set in a leaf future, eddy_waker_will_wake,
 * the noop waker and the empty waker. */
#include <eddy.h>

#include "eddy_test.h"

/* A leaf future that waits for `ready` and keeps the waker of its last
 * poll in a slot, the way every eddy leaf future does. */
struct leaf {
    eddy_waker slot;
    int ready;
    int value;
    int polls;
};

static void leaf_init(struct leaf *f)
{
    f->slot = EDDY_WAKER_EMPTY;
    f->ready = 0;
    f->value = 0;
    f->polls = 0;
}

static eddy_poll leaf_poll(struct leaf *f, eddy_cx *cx, int *out)
{
    f->polls++;
    if (f->ready) {
        eddy_waker_drop(&f->slot);
        *out = f->value;
        return EDDY_READY;
    }
    eddy_waker_set(&f->slot, cx->waker);
    return EDDY_PENDING;
}

static void leaf_drop(struct leaf *f) { eddy_waker_drop(&f->slot); }

/* The "other side" (a reactor) makes the leaf ready and wakes it. */
static void leaf_complete(struct leaf *f, int v)
{
    f->ready = 1;
    f->value = v;
    eddy_waker_wake(&f->slot);
}

static void test_counting_arithmetic(void)
{
    eddy_waker_counter c;
    eddy_waker w = eddy_waker_counting(&c);
    CHECK(w.vtable != NULL);
    CHECK_EQ(eddy_waker_counter_live(&c), 1);
    CHECK_EQ(atomic_load(&c.clones), 0);

    eddy_waker a = eddy_waker_clone(&w);
    eddy_waker b = eddy_waker_clone(&a);
    CHECK_EQ(atomic_load(&c.clones), 2);
    CHECK_EQ(eddy_waker_counter_live(&c), 3);

    eddy_waker_wake_by_ref(&a); /* keeps the reference */
    CHECK(a.vtable != NULL);
    CHECK_EQ(atomic_load(&c.wakes), 1);
    CHECK_EQ(atomic_load(&c.wakes_by_ref), 1);
    CHECK_EQ(eddy_waker_counter_live(&c), 3);

    eddy_waker_wake(&a); /* consumes it and empties the slot */
    CHECK(a.vtable == NULL);
    CHECK_EQ(atomic_load(&c.wakes), 2);
    CHECK_EQ(atomic_load(&c.wakes_by_ref), 1);
    CHECK_EQ(eddy_waker_counter_live(&c), 2);

    /* Waking or dropping an empty waker does nothing. */
    eddy_waker_wake(&a);
    eddy_waker_wake_by_ref(&a);
    eddy_waker_drop(&a);
    CHECK_EQ(atomic_load(&c.wakes), 2);
    CHECK_EQ(atomic_load(&c.drops), 0);

    eddy_waker_drop(&b);
    CHECK(b.vtable == NULL);
    CHECK_EQ(atomic_load(&c.drops), 1);
    CHECK_EQ(eddy_waker_counter_live(&c), 1);
    eddy_waker_drop(&w);
    CHECK_EQ(eddy_waker_counter_live(&c), 0);

    /* eddy_waker_counting zeroes a dirty counter. */
    eddy_waker w2 = eddy_waker_counting(&c);
    CHECK_EQ(atomic_load(&c.clones), 0);
    CHECK_EQ(atomic_load(&c.drops), 0);
    CHECK_EQ(atomic_load(&c.wakes), 0);
    CHECK_EQ(atomic_load(&c.wakes_by_ref), 0);
    CHECK_EQ(eddy_waker_counter_live(&c), 1);
    eddy_waker_drop(&w2);
}

static void test_leaf_store_replace_drop(void)
{
    eddy_waker_counter ca, cb;
    eddy_waker wa = eddy_waker_counting(&ca);
    eddy_waker wb = eddy_waker_counting(&cb);
    eddy_cx cxa = {&wa, NULL};
    eddy_cx cxb = {&wb, NULL};
    struct leaf f;
    int out = -1;

    leaf_init(&f);
    CHECK(f.slot.vtable == NULL);

    /* First poll: stores a clone of A. */
    CHECK_EQ(leaf_poll(&f, &cxa, &out), EDDY_PENDING);
    CHECK_EQ(atomic_load(&ca.clones), 1);
    CHECK_EQ(eddy_waker_counter_live(&ca), 2);
    CHECK(eddy_waker_will_wake(&f.slot, &wa));

    /* Polled again with the same task's waker: no new clone. */
    for (int i = 0; i < 5; i++)
        CHECK_EQ(leaf_poll(&f, &cxa, &out), EDDY_PENDING);
    CHECK_EQ(atomic_load(&ca.clones), 1);
    CHECK_EQ(atomic_load(&ca.drops), 0);

    /* Polled by another task: A's clone is dropped, B is cloned. */
    CHECK_EQ(leaf_poll(&f, &cxb, &out), EDDY_PENDING);
    CHECK_EQ(atomic_load(&ca.drops), 1);
    CHECK_EQ(eddy_waker_counter_live(&ca), 1);
    CHECK_EQ(atomic_load(&cb.clones), 1);
    CHECK_EQ(eddy_waker_counter_live(&cb), 2);
    CHECK(eddy_waker_will_wake(&f.slot, &wb));
    CHECK(!eddy_waker_will_wake(&f.slot, &wa));

    /* Back to A. */
    CHECK_EQ(leaf_poll(&f, &cxa, &out), EDDY_PENDING);
    CHECK_EQ(atomic_load(&ca.clones), 2);
    CHECK_EQ(atomic_load(&cb.drops), 1);
    CHECK_EQ(eddy_waker_counter_live(&cb), 1);

    /* Completion wakes the stored clone by value: A sees one wake, and the
     * reference it consumed is gone. */
    leaf_complete(&f, 42);
    CHECK_EQ(atomic_load(&ca.wakes), 1);
    CHECK_EQ(atomic_load(&ca.wakes_by_ref), 0);
    CHECK_EQ(eddy_waker_counter_live(&ca), 1);
    CHECK_EQ(atomic_load(&cb.wakes), 0);
    CHECK_EQ(leaf_poll(&f, &cxa, &out), EDDY_READY);
    CHECK_EQ(out, 42);
    /* READY did not clone anything. */
    CHECK_EQ(atomic_load(&ca.clones), 2);

    /* A pending leaf that is dropped releases its clone. */
    struct leaf g;
    leaf_init(&g);
    CHECK_EQ(leaf_poll(&g, &cxb, &out), EDDY_PENDING);
    CHECK_EQ(eddy_waker_counter_live(&cb), 2);
    leaf_drop(&g);
    CHECK_EQ(eddy_waker_counter_live(&cb), 1);
    leaf_drop(&g); /* the slot is empty now: a second drop is harmless */
    CHECK_EQ(eddy_waker_counter_live(&cb), 1);

    /* A never-polled leaf holds nothing. */
    struct leaf h;
    leaf_init(&h);
    leaf_drop(&h);

    eddy_waker_drop(&wa);
    eddy_waker_drop(&wb);
    CHECK_EQ(eddy_waker_counter_live(&ca), 0);
    CHECK_EQ(eddy_waker_counter_live(&cb), 0);
    CHECK_EQ(atomic_load(&ca.clones), 2);
    CHECK_EQ(atomic_load(&ca.drops), 2);
    CHECK_EQ(atomic_load(&cb.clones), 2);
    CHECK_EQ(atomic_load(&cb.drops), 3);
}

static void test_will_wake(void)
{
    eddy_waker_counter c1, c2;
    eddy_waker a = eddy_waker_counting(&c1);
    eddy_waker a2 = eddy_waker_clone(&a);
    eddy_waker b = eddy_waker_counting(&c2);
    eddy_waker n = eddy_waker_noop();
    eddy_waker e = EDDY_WAKER_EMPTY;

    CHECK(eddy_waker_will_wake(&a, &a));
    CHECK(eddy_waker_will_wake(&a, &a2)); /* a clone wakes the same task */
    CHECK(eddy_waker_will_wake(&a2, &a));
    CHECK(!eddy_waker_will_wake(&a, &b)); /* same vtable, other task */
    CHECK(!eddy_waker_will_wake(&a, &n)); /* other vtable */
    CHECK(!eddy_waker_will_wake(&e, &a));
    CHECK(!eddy_waker_will_wake(&a, &e));
    CHECK(eddy_waker_will_wake(&e, &e));

    /* eddy_waker_set into a slot that already wakes the same task neither
     * clones nor drops. */
    eddy_waker slot = eddy_waker_clone(&a);
    long clones = atomic_load(&c1.clones), drops = atomic_load(&c1.drops);
    eddy_waker_set(&slot, &a2);
    CHECK_EQ(atomic_load(&c1.clones), clones);
    CHECK_EQ(atomic_load(&c1.drops), drops);
    /* ... into an empty slot: one clone, no drop. */
    eddy_waker empty = EDDY_WAKER_EMPTY;
    eddy_waker_set(&empty, &b);
    CHECK_EQ(atomic_load(&c2.clones), 1);
    CHECK_EQ(atomic_load(&c2.drops), 0);
    CHECK(eddy_waker_will_wake(&empty, &b));

    eddy_waker_drop(&slot);
    eddy_waker_drop(&empty);
    eddy_waker_drop(&a2);
    eddy_waker_drop(&a);
    eddy_waker_drop(&b);
    CHECK_EQ(eddy_waker_counter_live(&c1), 0);
    CHECK_EQ(eddy_waker_counter_live(&c2), 0);
}

static void test_noop(void)
{
    eddy_waker n = eddy_waker_noop();
    CHECK(n.vtable != NULL); /* not the empty waker: it can be cloned */
    eddy_waker n2 = eddy_waker_noop();
    CHECK(eddy_waker_will_wake(&n, &n2));
    eddy_waker c = eddy_waker_clone(&n);
    CHECK(c.vtable != NULL);
    CHECK(eddy_waker_will_wake(&c, &n));
    eddy_waker_wake_by_ref(&c);
    CHECK(c.vtable != NULL);
    eddy_waker_wake(&c);
    CHECK(c.vtable == NULL);
    c = eddy_waker_clone(&n);
    eddy_waker_drop(&c);
    CHECK(c.vtable == NULL);

    /* A future can be polled by hand with it. */
    struct leaf f;
    int out = 0;
    eddy_cx cx = {&n, NULL};
    leaf_init(&f);
    CHECK_EQ(leaf_poll(&f, &cx, &out), EDDY_PENDING);
    CHECK(eddy_waker_will_wake(&f.slot, &n));
    leaf_complete(&f, 7);
    CHECK(f.slot.vtable == NULL);
    CHECK_EQ(leaf_poll(&f, &cx, &out), EDDY_READY);
    CHECK_EQ(out, 7);
    /* The noop waker needs no balancing: dropping the original is a no-op
     * and it can still be used afterwards (it is static). */
    eddy_waker_drop(&n);
    eddy_waker_wake_by_ref(&n2);
}

int main(void)
{
    test_watchdog(30);
    test_counting_arithmetic();
    test_leaf_store_replace_drop();
    test_will_wake();
    test_noop();
    printf("test_core_waker: ok\n");
    return 0;
}
