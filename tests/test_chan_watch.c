/* watch: the initial value, borrow vs borrow_and_update, changed() after a
 * send, several sends seen as one change with the latest value, every
 * receiver woken, subscribe/clone positions, close both ways (no receiver:
 * send fails; no sender: changed() gives -EDDY_ECLOSED once nothing is
 * unseen), a cancelled changed() keeps the change unseen, and a task
 * following a value that a plain thread keeps updating. */
// eddy-test-labels: flavors
#include <eddy.h>

#include "eddy_test.h"

#include <pthread.h>

struct hc {
    eddy_waker_counter c;
    eddy_waker w;
    eddy_cx cx;
    eddy_watch_changed f;
    int out;
};

static void hc_init(struct hc *h, eddy_watch_rx *rx)
{
    h->w = eddy_waker_counting(&h->c);
    h->cx = (eddy_cx){&h->w, NULL};
    h->out = 12345;
    eddy_watch_changed_init(&h->f, rx);
}
static eddy_poll hc_poll(struct hc *h) { return eddy_watch_changed_poll(&h->f, &h->cx, &h->out); }
static void hc_end(struct hc *h)
{
    eddy_watch_changed_drop(&h->f);
    eddy_waker_drop(&h->w);
    CHECK_EQ(eddy_waker_counter_live(&h->c), 0);
}

static void test_basic(void)
{
    eddy_watch_tx *tx, *tx2;
    eddy_watch_rx *a, *b, *c;
    int v = 1, got = 0;
    CHECK_EQ(eddy_watch_new(&tx, &a, sizeof(int), NULL), -EINVAL);
    CHECK_OK(eddy_watch_new(&tx, &a, sizeof(int), &v));
    eddy_watch_borrow(a, &got);
    CHECK_EQ(got, 1);
    CHECK_EQ(eddy_watch_has_changed(a), 0);

    struct hc ca, cb;
    hc_init(&ca, a);
    CHECK_EQ(hc_poll(&ca), EDDY_PENDING);
    CHECK_OK(eddy_watch_rx_clone(a, &b));
    hc_init(&cb, b);
    CHECK_EQ(hc_poll(&cb), EDDY_PENDING);
    v = 2;
    CHECK_OK(eddy_watch_send(tx, &v));
    v = 3;
    CHECK_OK(eddy_watch_send(tx, &v));
    CHECK_EQ(atomic_load(&ca.c.wakes), 1);
    CHECK_EQ(atomic_load(&cb.c.wakes), 1);
    CHECK_EQ(hc_poll(&ca), EDDY_READY);
    CHECK_EQ(ca.out, 0);
    eddy_watch_borrow(a, &got);
    CHECK_EQ(got, 3); /* the latest; 2 was skipped */
    CHECK_EQ(eddy_watch_has_changed(a), 0);
    hc_end(&ca);
    /* b's wait is cancelled after its wake: the change stays unseen. */
    hc_end(&cb);
    CHECK_EQ(eddy_watch_has_changed(b), 1);
    eddy_watch_borrow(b, &got); /* borrow does not mark it seen */
    CHECK_EQ(eddy_watch_has_changed(b), 1);
    eddy_watch_borrow_and_update(b, &got);
    CHECK_EQ(got, 3);
    CHECK_EQ(eddy_watch_has_changed(b), 0);

    /* A receiver subscribed now has seen the current value. */
    CHECK_OK(eddy_watch_subscribe(tx, &c));
    CHECK_EQ(eddy_watch_has_changed(c), 0);
    hc_init(&ca, c);
    CHECK_EQ(hc_poll(&ca), EDDY_PENDING);
    hc_end(&ca); /* cancelled while waiting */

    /* Senders: the last one gone ends the waits, but an unseen change is
     * still reported first. */
    CHECK_OK(eddy_watch_tx_clone(tx, &tx2));
    eddy_watch_tx_drop(tx);
    v = 4;
    CHECK_OK(eddy_watch_send(tx2, &v));
    hc_init(&ca, c);
    CHECK_EQ(hc_poll(&ca), EDDY_READY);
    CHECK_EQ(ca.out, 0);
    hc_end(&ca);
    hc_init(&ca, c);
    CHECK_EQ(hc_poll(&ca), EDDY_PENDING);
    eddy_watch_tx_drop(tx2);
    CHECK_EQ(atomic_load(&ca.c.wakes), 1);
    CHECK_EQ(hc_poll(&ca), EDDY_READY);
    CHECK_EQ(ca.out, -EDDY_ECLOSED);
    hc_end(&ca);
    CHECK_EQ(eddy_watch_has_changed(a), 1); /* a has not seen 4 */
    eddy_watch_borrow_and_update(a, &got);
    CHECK_EQ(got, 4);
    CHECK_EQ(eddy_watch_has_changed(a), -EDDY_ECLOSED);
    CHECK_EQ(eddy_watch_changed_blocking(a), -EDDY_ECLOSED);
    eddy_watch_rx_drop(a);
    eddy_watch_rx_drop(b);
    eddy_watch_rx_drop(c);

    /* No receiver: a send fails and the value is not stored. */
    v = 10;
    CHECK_OK(eddy_watch_new(&tx, &a, sizeof(int), &v));
    eddy_watch_rx_drop(a);
    v = 11;
    CHECK_EQ(eddy_watch_send(tx, &v), -EDDY_ECLOSED);
    CHECK_OK(eddy_watch_subscribe(tx, &a));
    eddy_watch_borrow(a, &got);
    CHECK_EQ(got, 10);
    eddy_watch_rx_drop(a);
    eddy_watch_tx_drop(tx);
}

/* ---- a thread updates, a task follows --------------------------------------------- */

#define UPDATES 20000

static eddy_watch_tx *g_tx;

static void *updater(void *arg)
{
    (void)arg;
    for (int i = 1; i <= UPDATES; i++)
        CHECK_OK(eddy_watch_send(g_tx, &i));
    eddy_watch_tx_drop(g_tx);
    return NULL;
}

struct follower {
    eddy_coro co;
    int rc, v, last;
    long changes;
    eddy_watch_rx *rx;
    eddy_watch_changed ch;
};

static eddy_poll follower_poll(struct follower *t, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&t->co, cx);
    for (;;) {
        EDDY_AWAIT(&t->rc, eddy_watch_changed, &t->ch, t->rx);
        if (t->rc == -EDDY_ECLOSED)
            break;
        CHECK_EQ(t->rc, 0);
        /* borrow_and_update: the value read is the one marked seen, so
         * the next change is a newer value. */
        eddy_watch_borrow_and_update(t->rx, &t->v);
        CHECK(t->v > t->last); /* values only move forward */
        t->last = t->v;
        t->changes++;
    }
    eddy_watch_borrow(t->rx, &t->v);
    CHECK_EQ(t->v, UPDATES); /* the final value is never missed */
    CHECK(t->changes >= 1);
    eddy_watch_rx_drop(t->rx);
    EDDY_END();
}
EDDY_CORO_VT_VOID(follower_vt, struct follower, follower_poll);

static void test_thread(void)
{
    eddy_rt *rt;
    CHECK_OK(eddy_rt_new(&rt, test_builder(NULL)));
    int zero = 0;
    struct follower f;
    memset(&f, 0, sizeof f);
    CHECK_OK(eddy_watch_new(&g_tx, &f.rx, sizeof(int), &zero));
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, updater, NULL), 0);
    CHECK_OK(eddy_block_on(rt, &follower_vt, &f, NULL));
    CHECK_EQ(pthread_join(th, NULL), 0);
    eddy_rt_free(rt);
}

int main(void)
{
    test_watchdog(60);
    test_basic();
    test_thread();
    printf("ok\n");
    return 0;
}
