/* EDDY_TRY, the `?` of the notes' addToInbox:
 *
 *     async fn addToInbox(email_id, recipient_id) -> Result<(), Error> {
 *         let message = loadMessage(email_id).await?;
 *         let recipient = get_recipient(recipient_id).await?;
 *         recipient.verifyHasSpace(&message)?;
 *         recipient.addToInbox(message).await
 *     }
 *
 * Three awaits with ?-style propagation.  When one fails, no later await
 * starts (its future is not even initialised), the error value reaches the
 * caller unchanged, through a second coroutine that uses EDDY_TRY on it,
 * and each cleanup runs once.  Polled by hand and on the runtime. */
// eddy-test-labels: flavors
#include <eddy.h>

#include "eddy_test.h"

enum { OP_LOAD, OP_GET, OP_ADD, NOPS };
static const char *const op_name[NOPS] = {"loadMessage", "get_recipient", "addToInbox"};

/* What each operation returns in the current scenario (>= 0: a value). */
static long op_result[NOPS];
static int op_inits[NOPS], op_polls[NOPS], op_drops[NOPS];
static long op_arg[NOPS];
static long space_result; /* verifyHasSpace's result */
static int verify_calls;

/* A leaf standing for an I/O operation: PENDING once, then its result. */
struct op {
    int which;
    int pending;
};

static void op_init(struct op *f, int which, long arg)
{
    f->which = which;
    f->pending = 1;
    op_inits[which]++;
    op_arg[which] = arg;
}

static eddy_poll op_poll(struct op *f, eddy_cx *cx, long *out)
{
    op_polls[f->which]++;
    if (f->pending) {
        f->pending = 0;
        eddy_waker_wake_by_ref(cx->waker);
        return EDDY_PENDING;
    }
    *out = op_result[f->which];
    return EDDY_READY;
}

static void op_drop(struct op *f) { op_drops[f->which]++; }

static long verify_has_space(long recipient, long message)
{
    verify_calls++;
    (void)recipient;
    (void)message;
    return space_result;
}

/* ---- addToInbox --------------------------------------------------------- */

static int inbox_finally;

struct add_to_inbox {
    eddy_coro co;
    long email_id, recipient_id;
    long message, recipient, r;
    union {
        struct op load, get, add;
    } u;
};

static void add_to_inbox_init(struct add_to_inbox *f, long email_id, long recipient_id)
{
    eddy_coro_init(&f->co);
    f->email_id = email_id;
    f->recipient_id = recipient_id;
}

static eddy_poll add_to_inbox_poll(struct add_to_inbox *f, eddy_cx *cx, long *out)
{
    EDDY_BEGIN(&f->co, cx);
    EDDY_AWAIT(&f->message, op, &f->u.load, OP_LOAD, f->email_id);
    EDDY_TRY(out, f->message);
    EDDY_AWAIT(&f->recipient, op, &f->u.get, OP_GET, f->recipient_id);
    EDDY_TRY(out, f->recipient);
    EDDY_TRY(out, verify_has_space(f->recipient, f->message));
    EDDY_AWAIT(&f->r, op, &f->u.add, OP_ADD, f->message);
    *out = f->r;
    EDDY_FINALLY();
    inbox_finally++;
    EDDY_DONE();
}

static void add_to_inbox_drop(struct add_to_inbox *f) { (void)add_to_inbox_poll(f, EDDY_CX_DROP, NULL); }

/* ---- its caller, which propagates further with EDDY_TRY ---------------- */

static int caller_after, caller_finally;

struct caller {
    eddy_coro co;
    long r;
    struct add_to_inbox child;
};

static eddy_poll caller_poll(struct caller *f, eddy_cx *cx, long *out)
{
    EDDY_BEGIN(&f->co, cx);
    EDDY_AWAIT(&f->r, add_to_inbox, &f->child, 7, 9);
    EDDY_TRY(out, f->r);
    caller_after++;
    *out = 100 + f->r;
    EDDY_FINALLY();
    caller_finally++;
    EDDY_DONE();
}
EDDY_CORO_VT(caller_vt, struct caller, long, caller_poll);

static void reset(long load, long get, long space, long add)
{
    op_result[OP_LOAD] = load;
    op_result[OP_GET] = get;
    op_result[OP_ADD] = add;
    space_result = space;
    for (int i = 0; i < NOPS; i++)
        op_inits[i] = op_polls[i] = op_drops[i] = 0, op_arg[i] = -1;
    verify_calls = inbox_finally = caller_after = caller_finally = 0;
}

/* Which ops must have started (been initialised and polled twice). */
static void check_started(int nstarted, const char *scenario)
{
    for (int i = 0; i < NOPS; i++) {
        int want = i < nstarted ? 1 : 0;
        CHECK_MSG(op_inits[i] == want, "%s: %s initialised %d times, expected %d", scenario, op_name[i],
                  op_inits[i], want);
        CHECK_MSG(op_polls[i] == 2 * want, "%s: %s polled %d times, expected %d", scenario, op_name[i],
                  op_polls[i], 2 * want);
        CHECK_MSG(op_drops[i] == 0, "%s: %s dropped", scenario, op_name[i]);
    }
}

static long run_by_hand(int *polls)
{
    eddy_waker n = eddy_waker_noop();
    eddy_cx cx = {&n, NULL};
    struct caller c;
    eddy_coro_init(&c.co);
    long out = 12345;
    *polls = 0;
    eddy_poll r = EDDY_PENDING;
    while (r == EDDY_PENDING && *polls < 100) {
        r = caller_poll(&c, &cx, &out);
        ++*polls;
    }
    CHECK_EQ(r, EDDY_READY);
    caller_vt.drop(&c); /* finished: a no-op */
    return out;
}

static void test_by_hand(void)
{
    int polls;

    /* All succeed: the last await's value is the result. */
    reset(42, 43, 0, 0);
    CHECK_EQ(run_by_hand(&polls), 100);
    CHECK_EQ(polls, 4);
    check_started(3, "success");
    CHECK_EQ(op_arg[OP_LOAD], 7);
    CHECK_EQ(op_arg[OP_GET], 9);
    CHECK_EQ(op_arg[OP_ADD], 42); /* addToInbox(message) got the loaded message */
    CHECK_EQ(verify_calls, 1);
    CHECK_EQ(caller_after, 1);
    CHECK_EQ(inbox_finally, 1);
    CHECK_EQ(caller_finally, 1);

    /* The middle await fails: the third never starts, the error reaches
     * the caller, which stops too. */
    reset(42, -ENOENT, 0, 0);
    CHECK_EQ(run_by_hand(&polls), -ENOENT);
    CHECK_EQ(polls, 3); /* two PENDINGs, then READY with the error */
    check_started(2, "get_recipient fails");
    CHECK_EQ(verify_calls, 0);
    CHECK_EQ(caller_after, 0);
    CHECK_EQ(inbox_finally, 1);
    CHECK_EQ(caller_finally, 1);

    /* The first fails. */
    reset(-EIO, 43, 0, 0);
    CHECK_EQ(run_by_hand(&polls), -EIO);
    check_started(1, "loadMessage fails");
    CHECK_EQ(verify_calls, 0);
    CHECK_EQ(caller_after, 0);
    CHECK_EQ(inbox_finally, 1);

    /* The synchronous check fails. */
    reset(42, 43, -ENOSPC, 0);
    CHECK_EQ(run_by_hand(&polls), -ENOSPC);
    check_started(2, "verifyHasSpace fails");
    CHECK_EQ(verify_calls, 1);
    CHECK_EQ(caller_after, 0);

    /* The last fails: its error is the result. */
    reset(42, 43, 0, -EDDY_ECLOSED);
    CHECK_EQ(run_by_hand(&polls), -EDDY_ECLOSED);
    check_started(3, "addToInbox fails");
    CHECK_EQ(caller_after, 0);
    CHECK_EQ(inbox_finally, 1);
    CHECK_EQ(caller_finally, 1);

    /* Zero is not an error: EDDY_TRY passes it on. */
    reset(0, 0, 0, 5);
    CHECK_EQ(run_by_hand(&polls), 105);
    check_started(3, "zero values");
}

/* On the runtime: the caller is a spawned task; its join handle carries
 * the error value as output (the task itself completed: status 0). */
struct joiner {
    eddy_coro co;
    eddy_join *jh;
    long out;
};

static eddy_poll joiner_poll(struct joiner *f, eddy_cx *cx, long *out)
{
    EDDY_BEGIN(&f->co, cx);
    {
        struct caller c;
        eddy_coro_init(&c.co);
        CHECK_OK(eddy_spawn_local(&caller_vt, &c, &f->jh));
    }
    EDDY_AWAIT_POLL(&f->out, eddy_join, f->jh);
    CHECK_EQ(eddy_join_status(f->jh), 0);
    eddy_join_detach(f->jh);
    *out = f->out;
    EDDY_END();
}
EDDY_CORO_VT(joiner_vt, struct joiner, long, joiner_poll);

static void test_on_runtime(void)
{
    eddy_rt *rt;
    CHECK_OK(eddy_rt_new(&rt, test_builder(NULL)));

    reset(42, -ETIMEDOUT, 0, 0);
    struct joiner j = {0};
    long out = 0;
    CHECK_OK(eddy_block_on(rt, &joiner_vt, &j, &out));
    CHECK_EQ(out, -ETIMEDOUT);
    check_started(2, "runtime: get_recipient fails");
    CHECK_EQ(caller_after, 0);
    CHECK_EQ(inbox_finally, 1);
    CHECK_EQ(caller_finally, 1);

    /* The caller as block_on's root directly. */
    reset(-EDDY_ESHUTDOWN, 43, 0, 0);
    struct caller c;
    eddy_coro_init(&c.co);
    CHECK_OK(eddy_block_on(rt, &caller_vt, &c, &out));
    CHECK_EQ(out, -EDDY_ESHUTDOWN);
    check_started(1, "runtime: loadMessage fails");
    eddy_rt_free(rt);
}

int main(void)
{
    test_watchdog(30);
    test_by_hand();
    test_on_runtime();
    printf("test_coro_try: ok\n");
    return 0;
}
