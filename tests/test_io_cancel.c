/* Cancellation leaves the socket usable and no waker behind.
 *
 * Each I/O future is polled by hand with a counting waker until it is
 * PENDING (it has stored a clone of the waker in the driver's slot), then
 * dropped.  Asserted: the counting waker's live count returns to 0 (the
 * clone was released), it is never woken afterwards even when the event it
 * waited for arrives, and a later operation on the same descriptor works.
 *
 *  A. eddy_read on a TCP stream with nothing to read;
 *  B. eddy_write_all blocked on a full socket buffer (its `done` reports
 *     what went out; the stream stays writable once the peer drains);
 *  C. eddy_readable;
 *  D. eddy_accept on a listener with no pending connection;
 *  E. a task blocked in eddy_read, aborted through its join handle;
 *  F. eddy_read under an eddy_timeout that expires (the timeout drops it);
 *  G. dropping an eddy_read that already completed (drop is valid in any
 *     state) leaves alone the waker of a newer read waiting on the same
 *     descriptor;
 *  H. the same for an eddy_accept that already completed.
 *
 * On the multi-thread runtime (the _mt variant) block_on's root polls by
 * hand while the driver owner dispatches events on a worker, and two
 * outcomes that the current-thread runtime never produces are legitimate
 * (docs/design/0005-io-driver.md, "Multi-thread mode"):
 *  - a poll returns PENDING without storing the waker, having woken it by
 *    reference instead ("poll me again"): a dispatch came between the
 *    future's look at the readiness and its wait (or between a syscall's
 *    EAGAIN and the clear, which is then skipped).  The hand poll is then
 *    repeated (bounded) until the waker is stored, and the test continues
 *    from there;
 *  - a dispatch takes a stored waker out just before the drop: the waker is
 *    then woken (by value) a moment after the drop returned, a wake in
 *    flight.  After a drop the test waits (bounded) until the clone is
 *    released, by the drop or by that wake, and from then on nothing may
 *    touch the waker.
 * Where no event can arrive for the direction waited on (A, C, D, G, H),
 * no wake by value is accepted on either flavour, and on the current-
 * thread runtime no wake by reference either. */
// eddy-test-timeout: 60
// eddy-test-labels: net flavors
#include "net_util.h"

#include <sys/socket.h>

EDDY_FUTURE_VT(read_vt, eddy_read, ssize_t, eddy_read_poll, eddy_read_drop);

static nu_counter g_stage;
static _Atomic ssize_t g_task_read = 12345;

struct reader_task {
    eddy_coro co;
    eddy_tcp *s;
    ssize_t n;
    eddy_read rd;
    nu_pending pend;
    char buf[16];
};

static eddy_poll reader_task_poll(struct reader_task *t, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&t->co, cx);
    /* g_stage is 1 once the read returned PENDING */
    eddy_read_init(&t->rd, &t->s->io, t->buf, sizeof t->buf);
    nu_pending_init(&t->pend, &read_vt, &t->rd, &g_stage);
    EDDY_AWAIT_POLL(&t->n, nu_pending, &t->pend);
    g_task_read = t->n; /* only if not aborted */
    EDDY_END();
}
EDDY_CORO_VT_VOID(reader_task_vt, struct reader_task, reader_task_poll);

struct root {
    eddy_coro co;
    eddy_tcp_listener l;
    eddy_addr addr;
    eddy_tcp cli, srv;
    int fd, rc, rr;
    ssize_t n;
    size_t dropped_done, drained;
    long b_byval;
    eddy_poll p;
    eddy_waker_counter wc;
    eddy_waker w;
    eddy_cx hand;
    eddy_join *jh;
    nu_join join;
    nu_until until;
    eddy_read child;
    ssize_t child_out;
    union {
        eddy_connect conn;
        eddy_accept acc;
        eddy_read rd;
        eddy_read_exact rx;
        eddy_write_all wr;
        eddy_ready ready;
        eddy_timeout to;
    } f;
    /* G: futures alive at the same time as t->f */
    eddy_write_all g_wr;
    eddy_sleep g_sl;
    eddy_read g_rd2;
    eddy_waker_counter wc2;
    eddy_waker w2;
    eddy_cx hand2;
    /* H */
    eddy_connect h_conn;
    eddy_tcp h_cli;
    eddy_accept h_acc2;
    char buf[65536];
};

static uint8_t g_big[4u << 20];

/* Sets up the hand-polling context with a fresh counting waker. */
static void hand_begin(struct root *t, eddy_cx *cx)
{
    t->w = eddy_waker_counting(&t->wc);
    t->hand = (eddy_cx){.waker = &t->w, .core = cx->core};
}

/* After the drop: only our own reference is left (multi-thread: once a
 * wake in flight, if any, has released its clone); release it. */
static void hand_end(struct root *t, const char *what)
{
    long live = nu_settle_live(&t->wc, 1);
    CHECK_MSG(live == 1, "%s: %ld waker references alive after the drop", what, live);
    eddy_waker_drop(&t->w);
    CHECK_EQ(eddy_waker_counter_live(&t->wc), 0);
}

/* Wakes by value (a future's own "poll me again" is a wake by reference). */
static long by_value(const eddy_waker_counter *c) { return atomic_load(&c->wakes) - atomic_load(&c->wakes_by_ref); }

/* Wakes by a driver's dispatch.  Outside B's loop, on the current-thread
 * runtime, nothing else wakes a hand waker (no wake by reference), so
 * there this is every wake. */
static long dispatch_wakes(const eddy_waker_counter *c)
{
    if (!test_is_mt())
        CHECK_EQ(atomic_load(&c->wakes_by_ref), 0);
    return by_value(c);
}

/* Polls a future by hand (POLL, an expression) until it returns PENDING
 * with a clone of the counting waker stored (live == 2).  The current-
 * thread runtime stores it at the first poll; on the multi-thread runtime
 * a poll may instead wake the waker by reference (see the top of the file):
 * then it is polled again, at most 100 times. */
#define HAND_PENDING(WC, POLL, WHAT)                                                                         \
    do {                                                                                                      \
        for (int k_ = 0;; k_++) {                                                                             \
            long byref_ = atomic_load(&(WC)->wakes_by_ref);                                                   \
            CHECK_EQ((POLL), EDDY_PENDING);                                                                   \
            if (eddy_waker_counter_live(WC) == 2)                                                             \
                break;                                                                                        \
            CHECK_MSG(test_is_mt() && k_ < 100 && atomic_load(&(WC)->wakes_by_ref) == byref_ + 1,             \
                      "%s: PENDING without a stored waker (live %ld, poll %d)", WHAT,                         \
                      eddy_waker_counter_live(WC), k_);                                                       \
        }                                                                                                     \
    } while (0)

static eddy_poll root_poll(struct root *t, eddy_cx *cx, int *out)
{
    EDDY_BEGIN(&t->co, cx);
    CHECK_OK(eddy_tcp_listen(&t->l, "127.0.0.1:0", NULL));
    CHECK_OK(eddy_tcp_listener_addr(&t->l, &t->addr));
    EDDY_AWAIT(&t->rc, eddy_connect, &t->f.conn, &t->cli, &t->addr, EDDY_SEC(10));
    CHECK_OK(t->rc);
    EDDY_AWAIT(&t->fd, eddy_accept, &t->f.acc, &t->l, NULL);
    CHECK(t->fd >= 0);
    CHECK_OK(eddy_tcp_open(&t->srv, t->fd));

    /* ---- A: eddy_read ---- */
    hand_begin(t, cx);
    eddy_read_init(&t->f.rd, &t->srv.io, t->buf, 64);
    HAND_PENDING(&t->wc, eddy_read_poll(&t->f.rd, &t->hand, &t->n), "A");
    CHECK_EQ(eddy_waker_counter_live(&t->wc), 2); /* ours + the stored clone */
    eddy_read_drop(&t->f.rd);
    hand_end(t, "A");
    /* The event it waited for now arrives: nobody stale is woken, and a
     * new read on the same socket gets the bytes. */
    EDDY_AWAIT(&t->n, eddy_write_all, &t->f.wr, &t->cli.io, "after-drop", 10);
    CHECK_EQ(t->n, 10);
    EDDY_AWAIT(&t->n, eddy_read_exact, &t->f.rx, &t->srv.io, t->buf, 10);
    CHECK_EQ(t->n, 10);
    CHECK(memcmp(t->buf, "after-drop", 10) == 0);
    CHECK_EQ(dispatch_wakes(&t->wc), 0);
    CHECK_EQ(eddy_waker_counter_live(&t->wc), 0);
    printf("A: dropped eddy_read: waker released, later read works\n");

    /* ---- B: eddy_write_all blocked on a full buffer ---- */
    {
        int sz = 64 * 1024;
        CHECK(setsockopt(eddy_io_fd(&t->srv.io), SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz) == 0);
        CHECK(setsockopt(eddy_io_fd(&t->cli.io), SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz) == 0);
    }
    hand_begin(t, cx);
    nu_fill(g_big, 0, sizeof g_big);
    eddy_write_all_init(&t->f.wr, &t->srv.io, g_big, sizeof g_big);
    /* The cooperative budget may end a poll before EAGAIN (the waker is
     * then woken by ref, not stored); poll again with a fresh budget (the
     * next poll of this coroutine) until it really waits.  Bounded. */
    for (t->rr = 0; t->rr < 1000; t->rr++) {
        CHECK_EQ(eddy_write_all_poll(&t->f.wr, &t->hand, &t->n), EDDY_PENDING);
        if (eddy_waker_counter_live(&t->wc) == 2)
            break;
        EDDY_YIELD();
    }
    CHECK_EQ(eddy_waker_counter_live(&t->wc), 2);
    t->dropped_done = t->f.wr.done;
    CHECK(t->dropped_done > 0 && t->dropped_done < sizeof g_big);
    /* Multi-thread: while the buffers filled, edges (space freed by ACKs)
     * may have been dispatched on a worker and woken a waker stored by an
     * earlier poll of the loop; one may also come just before the drop (a
     * wake in flight).  None may come after the drop has settled. */
    t->b_byval = by_value(&t->wc);
    if (!test_is_mt())
        CHECK_EQ(t->b_byval, 0);
    eddy_write_all_drop(&t->f.wr);
    CHECK_EQ(t->f.wr.done, t->dropped_done); /* still reported after the drop */
    hand_end(t, "B");
    CHECK_LE(by_value(&t->wc) - t->b_byval, test_is_mt() ? 1 : 0);
    t->b_byval = by_value(&t->wc);
    /* The peer drains exactly what was written; it is the pattern. */
    for (t->drained = 0; t->drained < t->dropped_done; t->drained += (size_t)t->n) {
        size_t want = t->dropped_done - t->drained;
        EDDY_AWAIT(&t->n, eddy_read, &t->f.rd, &t->cli.io, t->buf, want < sizeof t->buf ? want : sizeof t->buf);
        CHECK(t->n > 0);
        CHECK_EQ(nu_check((const uint8_t *)t->buf, t->drained, (size_t)t->n), -1);
    }
    CHECK_EQ(by_value(&t->wc), t->b_byval); /* not woken after the drop */
    CHECK_EQ(eddy_waker_counter_live(&t->wc), 0);
    /* The stream is usable: a new write goes through and arrives next. */
    EDDY_AWAIT(&t->n, eddy_write_all, &t->f.wr, &t->srv.io, "next", 4);
    CHECK_EQ(t->n, 4);
    EDDY_AWAIT(&t->n, eddy_read_exact, &t->f.rx, &t->cli.io, t->buf, 4);
    CHECK_EQ(t->n, 4);
    CHECK(memcmp(t->buf, "next", 4) == 0);
    printf("B: dropped eddy_write_all after %zu bytes: waker released, stream usable\n", t->dropped_done);

    /* ---- C: eddy_readable ---- */
    /* Readiness is cached until a syscall says EAGAIN: consume it first.
     * Multi-thread: if a dispatch (e.g. of the ACK of B's last write) came
     * between the EAGAIN and the clear, the clear is skipped and readable
     * completes at once, or the future asks to be polled again: then the
     * whole step is repeated (bounded). */
    for (t->rr = 0;; t->rr++) {
        CHECK_EQ(eddy_io_try_read(&t->srv.io, t->buf, 64), -EAGAIN);
        hand_begin(t, cx);
        eddy_readable_init(&t->f.ready, &t->srv.io);
        t->p = eddy_ready_poll(&t->f.ready, &t->hand, &t->rc);
        if (t->p == EDDY_PENDING && eddy_waker_counter_live(&t->wc) == 2)
            break;
        CHECK_MSG(test_is_mt() && t->rr < 100, "C: readable gave %s with %ld waker references",
                  t->p == EDDY_READY ? "READY" : "PENDING", eddy_waker_counter_live(&t->wc));
        eddy_ready_drop(&t->f.ready);
        hand_end(t, "C (again)");
    }
    CHECK_EQ(eddy_waker_counter_live(&t->wc), 2);
    eddy_ready_drop(&t->f.ready);
    hand_end(t, "C");
    EDDY_AWAIT(&t->n, eddy_write_all, &t->f.wr, &t->cli.io, "c", 1);
    EDDY_AWAIT(&t->rc, eddy_readable, &t->f.ready, &t->srv.io);
    CHECK_OK(t->rc);
    EDDY_AWAIT(&t->n, eddy_read, &t->f.rd, &t->srv.io, t->buf, 64);
    CHECK_EQ(t->n, 1);
    CHECK_EQ(dispatch_wakes(&t->wc), 0);
    printf("C: dropped eddy_readable: waker released, readable works\n");

    /* ---- D: eddy_accept ---- */
    hand_begin(t, cx);
    eddy_accept_init(&t->f.acc, &t->l, NULL);
    HAND_PENDING(&t->wc, eddy_accept_poll(&t->f.acc, &t->hand, &t->fd), "D");
    CHECK_EQ(eddy_waker_counter_live(&t->wc), 2);
    eddy_accept_drop(&t->f.acc);
    hand_end(t, "D");
    {
        /* A new connection (kept in a separate stream) is accepted. */
        static eddy_tcp extra;
        EDDY_AWAIT(&t->rc, eddy_connect, &t->f.conn, &extra, &t->addr, EDDY_SEC(10));
        CHECK_OK(t->rc);
        EDDY_AWAIT(&t->fd, eddy_accept, &t->f.acc, &t->l, NULL);
        CHECK(t->fd >= 0);
        close(t->fd);
        CHECK_OK(eddy_tcp_close(&extra));
    }
    CHECK_EQ(dispatch_wakes(&t->wc), 0);
    printf("D: dropped eddy_accept: waker released, accept works\n");

    /* ---- E: a task blocked in eddy_read, aborted ---- */
    nu_counter_init(&g_stage);
    {
        struct reader_task r = {.s = &t->srv};
        CHECK_OK(eddy_spawn_local(&reader_task_vt, &r, &t->jh));
    }
    nu_until_init(&t->until, &g_stage, 1);
    EDDY_AWAIT(&t->rc, eddy_timeout, &t->f.to, EDDY_SEC(10), &nu_until_vt, &t->until, NULL);
    CHECK_MSG(t->rc == 0, "E: the task's eddy_read did not return PENDING in 10 s");
    CHECK(!eddy_join_is_finished(t->jh)); /* suspended in eddy_read */
    eddy_join_abort(t->jh);
    t->join.jh = t->jh;
    EDDY_AWAIT(&t->rc, eddy_timeout, &t->f.to, EDDY_SEC(10), &nu_join_vt, &t->join, NULL);
    CHECK_OK(t->rc);
    CHECK_EQ(eddy_join_status(t->jh), -ECANCELED);
    eddy_join_detach(t->jh);
    EDDY_AWAIT(&t->n, eddy_write_all, &t->f.wr, &t->cli.io, "xyz", 3);
    EDDY_AWAIT(&t->n, eddy_read_exact, &t->f.rx, &t->srv.io, t->buf, 3);
    CHECK_EQ(t->n, 3);
    CHECK(memcmp(t->buf, "xyz", 3) == 0);
    CHECK_EQ(g_task_read, 12345); /* the aborted task never completed its read */
    printf("E: aborted task's read released; a later read works\n");

    /* ---- F: eddy_read under a timeout that expires ---- */
    eddy_read_init(&t->child, &t->srv.io, t->buf, 64);
    EDDY_AWAIT(&t->rc, eddy_timeout, &t->f.to, EDDY_MS(50), &read_vt, &t->child, &t->child_out);
    CHECK_EQ(t->rc, -ETIMEDOUT);
    EDDY_AWAIT(&t->n, eddy_write_all, &t->f.wr, &t->cli.io, "late", 4);
    EDDY_AWAIT(&t->n, eddy_read_exact, &t->f.rx, &t->srv.io, t->buf, 4);
    CHECK_EQ(t->n, 4);
    CHECK(memcmp(t->buf, "late", 4) == 0);
    /* And a read under a timeout that does not expire completes. */
    EDDY_AWAIT(&t->n, eddy_write_all, &t->f.wr, &t->cli.io, "fast", 4);
    eddy_read_init(&t->child, &t->srv.io, t->buf, 64);
    EDDY_AWAIT(&t->rc, eddy_timeout, &t->f.to, EDDY_SEC(10), &read_vt, &t->child, &t->child_out);
    CHECK_OK(t->rc);
    CHECK_EQ(t->child_out, 4);
    printf("F: timed-out read dropped; later reads work\n");

    /* ---- G: dropping a future that already completed ----
     * X_drop must be harmless in any state (eddy/coro.h), also after
     * READY: it must not release the waker of a newer future that now
     * waits on the same descriptor. */
    CHECK_EQ(eddy_io_try_read(&t->srv.io, t->buf, 64), -EAGAIN);
    hand_begin(t, cx);
    eddy_read_init(&t->f.rd, &t->srv.io, t->buf, 64);
    HAND_PENDING(&t->wc, eddy_read_poll(&t->f.rd, &t->hand, &t->n), "G");
    EDDY_AWAIT(&t->n, eddy_write_all, &t->g_wr, &t->cli.io, "g1", 2);
    /* Until the driver has woken the hand waker (one reader at a time: the
     * root must not wait on srv itself meanwhile).  Bounded: 10 s. */
    for (t->rr = 0; dispatch_wakes(&t->wc) == 0 && t->rr < 10000; t->rr++)
        EDDY_AWAIT(NULL, eddy_sleep, &t->g_sl, EDDY_MS(1));
    CHECK_EQ(dispatch_wakes(&t->wc), 1);
    CHECK_EQ(eddy_read_poll(&t->f.rd, &t->hand, &t->n), EDDY_READY);
    CHECK_EQ(t->n, 2);
    CHECK_EQ(eddy_waker_counter_live(&t->wc), 1); /* the wake consumed the clone */
    /* A second read now waits on the same descriptor, with its own waker. */
    CHECK_EQ(eddy_io_try_read(&t->srv.io, t->buf, 64), -EAGAIN);
    t->w2 = eddy_waker_counting(&t->wc2);
    t->hand2 = (eddy_cx){.waker = &t->w2, .core = cx->core};
    eddy_read_init(&t->g_rd2, &t->srv.io, t->buf, 64);
    HAND_PENDING(&t->wc2, eddy_read_poll(&t->g_rd2, &t->hand2, &t->n), "G, second read");
    CHECK_EQ(eddy_waker_counter_live(&t->wc2), 2);
    eddy_read_drop(&t->f.rd); /* the finished one */
    CHECK_MSG(eddy_waker_counter_live(&t->wc2) == 2,
              "dropping a completed eddy_read released the waker of another read waiting on the same "
              "descriptor (live %ld): that read would never be woken",
              eddy_waker_counter_live(&t->wc2));
    hand_end(t, "G");
    EDDY_AWAIT(&t->n, eddy_write_all, &t->g_wr, &t->cli.io, "g2", 2);
    for (t->rr = 0; dispatch_wakes(&t->wc2) == 0 && t->rr < 10000; t->rr++)
        EDDY_AWAIT(NULL, eddy_sleep, &t->g_sl, EDDY_MS(1));
    CHECK_EQ(dispatch_wakes(&t->wc2), 1); /* the waiting read was woken */
    CHECK_EQ(eddy_read_poll(&t->g_rd2, &t->hand2, &t->n), EDDY_READY);
    CHECK_EQ(t->n, 2);
    eddy_read_drop(&t->g_rd2);
    eddy_waker_drop(&t->w2);
    CHECK_EQ(eddy_waker_counter_live(&t->wc2), 0);
    printf("G: dropping a completed read leaves a newer waiter alone\n");

    /* ---- H: the same for eddy_accept ---- */
    hand_begin(t, cx);
    eddy_accept_init(&t->f.acc, &t->l, NULL);
    HAND_PENDING(&t->wc, eddy_accept_poll(&t->f.acc, &t->hand, &t->fd), "H");
    EDDY_AWAIT(&t->rc, eddy_connect, &t->h_conn, &t->h_cli, &t->addr, EDDY_SEC(10));
    CHECK_OK(t->rc);
    for (t->rr = 0; dispatch_wakes(&t->wc) == 0 && t->rr < 10000; t->rr++)
        EDDY_AWAIT(NULL, eddy_sleep, &t->g_sl, EDDY_MS(1));
    CHECK_EQ(dispatch_wakes(&t->wc), 1);
    CHECK_EQ(eddy_accept_poll(&t->f.acc, &t->hand, &t->fd), EDDY_READY);
    CHECK(t->fd >= 0);
    close(t->fd);
    t->w2 = eddy_waker_counting(&t->wc2);
    t->hand2 = (eddy_cx){.waker = &t->w2, .core = cx->core};
    eddy_accept_init(&t->h_acc2, &t->l, NULL);
    HAND_PENDING(&t->wc2, eddy_accept_poll(&t->h_acc2, &t->hand2, &t->fd), "H, second accept");
    CHECK_EQ(eddy_waker_counter_live(&t->wc2), 2);
    eddy_accept_drop(&t->f.acc); /* the finished one */
    CHECK_MSG(eddy_waker_counter_live(&t->wc2) == 2,
              "dropping a completed eddy_accept released the waker of another accept waiting on the same "
              "listener (live %ld): that accept would never be woken",
              eddy_waker_counter_live(&t->wc2));
    hand_end(t, "H");
    eddy_accept_drop(&t->h_acc2);
    eddy_waker_drop(&t->w2);
    CHECK_EQ(nu_settle_live(&t->wc2, 0), 0);
    CHECK_EQ(dispatch_wakes(&t->wc2), 0);
    CHECK_OK(eddy_tcp_close(&t->h_cli));
    printf("H: dropping a completed accept leaves a newer waiter alone\n");

    CHECK_OK(eddy_tcp_close(&t->cli));
    CHECK_OK(eddy_tcp_close(&t->srv));
    CHECK_OK(eddy_tcp_listener_close(&t->l));
    *out = 0;
    EDDY_END();
}
EDDY_CORO_VT(root_vt, struct root, int, root_poll);

static struct root g_root;

int main(void)
{
    test_watchdog(100);
    int out = -1;
    eddy_rt_stats st;
    nu_run(&root_vt, &g_root, &out, NULL, &st);
    CHECK_EQ(out, 0);
    CHECK_EQ(st.alive, 0);
    CHECK_EQ(st.cancelled, 1);
    return 0;
}
