/* eddy_rwlock: shared readers, exclusive writer, arrival order (a waiting
 * writer holds back later readers: no writer starvation; readers queued
 * behind a writer get in together), downgrade, cancellation of a waiting
 * writer (the readers behind it get in) and of a writer the lock was
 * handed to, and readers/writers on plain threads plus a task keeping the
 * invariant "one writer xor many readers". */
// eddy-test-labels: flavors
#include <eddy.h>

#include "eddy_test.h"

#include <pthread.h>

struct hand {
    eddy_waker_counter c;
    eddy_waker w;
    eddy_cx cx;
    int write;
    union {
        eddy_rwlock_read r;
        eddy_rwlock_write w;
    } f;
    int out;
};

static void hand_init(struct hand *h, eddy_rwlock *l, int write)
{
    h->w = eddy_waker_counting(&h->c);
    h->cx = (eddy_cx){&h->w, NULL};
    h->out = -1;
    h->write = write;
    if (write)
        eddy_rwlock_write_init(&h->f.w, l);
    else
        eddy_rwlock_read_init(&h->f.r, l);
}

static eddy_poll hand_poll(struct hand *h)
{
    return h->write ? eddy_rwlock_write_poll(&h->f.w, &h->cx, &h->out)
                    : eddy_rwlock_read_poll(&h->f.r, &h->cx, &h->out);
}

static void hand_end(struct hand *h)
{
    if (h->write)
        eddy_rwlock_write_drop(&h->f.w);
    else
        eddy_rwlock_read_drop(&h->f.r);
    eddy_waker_drop(&h->w);
    CHECK_EQ(eddy_waker_counter_live(&h->c), 0);
}

static long wakes(struct hand *h) { return atomic_load(&h->c.wakes); }

static void test_order(void)
{
    eddy_rwlock l = EDDY_RWLOCK_INIT;
    struct hand r1, r2, w1, r3, r4, w2;

    hand_init(&r1, &l, 0);
    hand_init(&r2, &l, 0);
    CHECK_EQ(hand_poll(&r1), EDDY_READY);
    CHECK_EQ(hand_poll(&r2), EDDY_READY); /* readers share */
    CHECK_EQ(eddy_rwlock_try_write(&l), -EAGAIN);
    CHECK_OK(eddy_rwlock_try_read(&l));
    eddy_rwlock_read_unlock(&l);

    hand_init(&w1, &l, 1);
    CHECK_EQ(hand_poll(&w1), EDDY_PENDING);
    /* A writer waits: new readers queue behind it. */
    CHECK_EQ(eddy_rwlock_try_read(&l), -EAGAIN);
    hand_init(&r3, &l, 0);
    hand_init(&r4, &l, 0);
    CHECK_EQ(hand_poll(&r3), EDDY_PENDING);
    CHECK_EQ(hand_poll(&r4), EDDY_PENDING);
    hand_init(&w2, &l, 1);
    CHECK_EQ(hand_poll(&w2), EDDY_PENDING);

    eddy_rwlock_read_unlock(&l); /* r1 */
    CHECK_EQ(wakes(&w1), 0);
    eddy_rwlock_read_unlock(&l); /* r2: the writer gets in */
    CHECK_EQ(wakes(&w1), 1);
    CHECK_EQ(wakes(&r3), 0);
    CHECK_EQ(hand_poll(&w1), EDDY_READY);
    eddy_rwlock_write_unlock(&l);
    /* Both readers queued behind w1 get in together; w2 waits for them. */
    CHECK_EQ(wakes(&r3), 1);
    CHECK_EQ(wakes(&r4), 1);
    CHECK_EQ(wakes(&w2), 0);
    CHECK_EQ(hand_poll(&r3), EDDY_READY);
    CHECK_EQ(hand_poll(&r4), EDDY_READY);
    eddy_rwlock_read_unlock(&l);
    CHECK_EQ(wakes(&w2), 0);
    eddy_rwlock_read_unlock(&l);
    CHECK_EQ(wakes(&w2), 1);
    CHECK_EQ(hand_poll(&w2), EDDY_READY);

    /* Downgrade: w2 becomes a reader; a queued reader joins, a writer waits. */
    hand_end(&r1);
    hand_init(&r1, &l, 0);
    CHECK_EQ(hand_poll(&r1), EDDY_PENDING);
    eddy_rwlock_downgrade(&l);
    CHECK_EQ(wakes(&r1), 1);
    CHECK_EQ(hand_poll(&r1), EDDY_READY);
    CHECK_EQ(eddy_rwlock_try_write(&l), -EAGAIN);
    eddy_rwlock_read_unlock(&l);
    eddy_rwlock_read_unlock(&l);
    CHECK_OK(eddy_rwlock_try_write(&l));
    eddy_rwlock_write_unlock(&l);

    hand_end(&r1);
    hand_end(&r2);
    hand_end(&w1);
    hand_end(&r3);
    hand_end(&r4);
    hand_end(&w2);
}

static void test_cancel(void)
{
    eddy_rwlock l;
    eddy_rwlock_init(&l);
    struct hand w, r, w2;
    CHECK_OK(eddy_rwlock_try_read(&l));
    hand_init(&w, &l, 1);
    hand_init(&r, &l, 0);
    CHECK_EQ(hand_poll(&w), EDDY_PENDING);
    CHECK_EQ(hand_poll(&r), EDDY_PENDING);
    /* The waiting writer gives up: the reader behind it gets in at once. */
    hand_end(&w);
    CHECK_EQ(wakes(&r), 1);
    CHECK_EQ(hand_poll(&r), EDDY_READY);
    eddy_rwlock_read_unlock(&l);
    eddy_rwlock_read_unlock(&l);

    /* A writer handed the lock, dropped before READY: it is released. */
    CHECK_OK(eddy_rwlock_try_read(&l));
    hand_init(&w, &l, 1);
    hand_init(&w2, &l, 1);
    CHECK_EQ(hand_poll(&w), EDDY_PENDING);
    CHECK_EQ(hand_poll(&w2), EDDY_PENDING);
    eddy_rwlock_read_unlock(&l);
    CHECK_EQ(wakes(&w), 1);
    hand_end(&w); /* passes the write lock to w2 */
    CHECK_EQ(wakes(&w2), 1);
    CHECK_EQ(hand_poll(&w2), EDDY_READY);
    eddy_rwlock_write_unlock(&l);
    CHECK_OK(eddy_rwlock_try_write(&l));
    eddy_rwlock_write_unlock(&l);
    hand_end(&r);
    hand_end(&w2);
}

/* ---- threads and a task ------------------------------------------------------- */

#define THREADS 4
#define ITERS 4000

static eddy_rwlock g_l = EDDY_RWLOCK_INIT;
static atomic_int g_readers, g_writers;
static long g_value; /* written under the write lock only */

static void read_section(void)
{
    atomic_fetch_add(&g_readers, 1);
    CHECK_EQ(atomic_load(&g_writers), 0);
    volatile long v = g_value;
    (void)v;
    atomic_fetch_sub(&g_readers, 1);
}

static void write_section(void)
{
    CHECK_EQ(atomic_fetch_add(&g_writers, 1), 0);
    CHECK_EQ(atomic_load(&g_readers), 0);
    g_value++;
    atomic_fetch_sub(&g_writers, 1);
}

static void *thread_main(void *arg)
{
    long id = (long)arg;
    for (int i = 0; i < ITERS; i++) {
        if ((i + id) % 4 == 0) {
            CHECK_OK(eddy_rwlock_write_blocking(&g_l));
            write_section();
            eddy_rwlock_write_unlock(&g_l);
        } else {
            CHECK_OK(eddy_rwlock_read_blocking(&g_l));
            read_section();
            eddy_rwlock_read_unlock(&g_l);
        }
    }
    return NULL;
}

struct mt_root {
    eddy_coro co;
    int i;
    eddy_rwlock_read rd;
    eddy_rwlock_write wr;
};

static eddy_poll mt_root_poll(struct mt_root *t, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&t->co, cx);
    for (t->i = 0; t->i < ITERS; t->i++) {
        if (t->i % 3 == 0) {
            EDDY_AWAIT(NULL, eddy_rwlock_write, &t->wr, &g_l);
            write_section();
            eddy_rwlock_write_unlock(&g_l);
        } else {
            EDDY_AWAIT(NULL, eddy_rwlock_read, &t->rd, &g_l);
            read_section();
            eddy_rwlock_read_unlock(&g_l);
        }
    }
    EDDY_END();
}
EDDY_CORO_VT_VOID(mt_root_vt, struct mt_root, mt_root_poll);

static void test_threads(void)
{
    eddy_rt *rt;
    CHECK_OK(eddy_rt_new(&rt, test_builder(NULL)));
    pthread_t th[THREADS];
    for (long i = 0; i < THREADS; i++)
        CHECK_EQ(pthread_create(&th[i], NULL, thread_main, (void *)i), 0);
    struct mt_root r = {0};
    CHECK_OK(eddy_block_on(rt, &mt_root_vt, &r, NULL));
    for (int i = 0; i < THREADS; i++)
        CHECK_EQ(pthread_join(th[i], NULL), 0);
    CHECK_EQ(g_value, THREADS * ITERS / 4 + (ITERS + 2) / 3);
    CHECK_OK(eddy_rwlock_try_write(&g_l));
    eddy_rwlock_write_unlock(&g_l);
    eddy_rt_free(rt);
}

int main(void)
{
    test_watchdog(60);
    test_order();
    test_cancel();
    test_threads();
    printf("ok\n");
    return 0;
}
