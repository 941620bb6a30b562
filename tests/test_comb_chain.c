/* eddy_map, eddy_then, eddy_and_then (include/eddy/combinators.h):
 * - map: the function runs once, after the child finished and was
 *   dropped; a dropped map drops the child once and never calls it;
 * - then: the second future is built from the first's output in storage
 *   that overlaps the first (a union): the first is dropped before the
 *   function runs; the output is the second's; drops exactly once each,
 *   whichever stage is live when the chain is dropped;
 * - and_then: ok path; an error short-circuits (function never called,
 *   second never touched), int -> long conversion of the status;
 * - the notes' addToInbox, as an and_then/map/and_then chain and as a
 *   coroutine, agree on every case (ok, no message, no recipient, no
 *   space) on the runtime under a paused clock.  The chain is the example
 *   quoted in docs/design/0007-combinators.md. */
#include <eddy.h>

#include "eddy_test.h"

/* ---- a leaf: PENDING `n` times (waking itself), then READY with `v` -------------- */

static int leaf_polls, leaf_drops;

struct leaf {
    int n;
    long v;
};

static void leaf_init(struct leaf *f, int n, long v) { *f = (struct leaf){.n = n, .v = v}; }

static eddy_poll leaf_poll(struct leaf *f, eddy_cx *cx, int *out)
{
    leaf_polls++;
    if (f->n > 0) {
        f->n--;
        eddy_waker_wake_by_ref(cx->waker);
        return EDDY_PENDING;
    }
    *out = (int)f->v;
    return EDDY_READY;
}

static eddy_poll leaf_poll_long(struct leaf *f, eddy_cx *cx, long *out)
{
    int v;
    eddy_poll r = leaf_poll(f, cx, &v);
    if (r == EDDY_READY)
        *out = f->v;
    return r;
}

static void leaf_drop(struct leaf *f)
{
    (void)f;
    leaf_drops++;
}

EDDY_FUTURE_VT(leaf_vt, struct leaf, int, leaf_poll, leaf_drop);
EDDY_FUTURE_VT(leaf_long_vt, struct leaf, long, leaf_poll_long, leaf_drop);

static eddy_poll poll_until_ready(eddy_poll (*poll)(void *, eddy_cx *, void *), void *f, void *out, int *polls)
{
    eddy_waker nw = eddy_waker_noop();
    eddy_cx cx = {&nw, NULL};
    eddy_poll r = EDDY_PENDING;
    for (*polls = 0; r == EDDY_PENDING && *polls < 100; ++*polls)
        r = poll(f, &cx, out);
    return r;
}

static eddy_poll map_poll_v(void *f, eddy_cx *cx, void *out) { return eddy_map_poll(f, cx, out); }
static eddy_poll then_poll_v(void *f, eddy_cx *cx, void *out) { return eddy_then_poll(f, cx, out); }

/* ---- map ----------------------------------------------------------------------------- */

static int double_calls, drops_seen_by_fn;

static void double_it(void *ctx, void *child_out, void *out)
{
    (void)ctx;
    double_calls++;
    drops_seen_by_fn = leaf_drops;
    *(int *)out = 2 * *(int *)child_out;
}

static void test_map(void)
{
    leaf_polls = leaf_drops = double_calls = 0;
    struct leaf l;
    int lo = -1, out = -1, polls;
    eddy_map m;
    leaf_init(&l, 2, 21);
    eddy_map_init(&m, &leaf_vt, &l, &lo, double_it, NULL);
    CHECK_EQ(leaf_polls, 0);
    CHECK_EQ(poll_until_ready(map_poll_v, &m, &out, &polls), EDDY_READY);
    CHECK_EQ(polls, 3);
    CHECK_EQ(out, 42);
    CHECK_EQ(lo, 21);
    CHECK_EQ(double_calls, 1);
    CHECK_EQ(drops_seen_by_fn, 1); /* the child was released before fn ran */
    eddy_map_drop(&m);             /* no-op after READY */
    CHECK_EQ(leaf_drops, 1);

    /* Dropped while pending: child dropped once, fn never called. */
    leaf_polls = leaf_drops = double_calls = 0;
    leaf_init(&l, 5, 1);
    eddy_map_init(&m, &leaf_vt, &l, &lo, double_it, NULL);
    eddy_waker nw = eddy_waker_noop();
    eddy_cx cx = {&nw, NULL};
    CHECK_EQ(eddy_map_poll(&m, &cx, &out), EDDY_PENDING);
    eddy_map_drop(&m);
    eddy_map_drop(&m);
    CHECK_EQ(leaf_drops, 1);
    CHECK_EQ(double_calls, 0);
}

/* ---- then ---------------------------------------------------------------------------- */

/* first and second share storage: the second is built over the first. */
struct seq {
    union {
        struct leaf first;
        struct leaf second;
    } u;
    int first_out;
};

static int build_calls;

static void build_second(void *ctx, void *first_out, void *second)
{
    int *drops_at_first_ready = ctx;
    build_calls++;
    *drops_at_first_ready = leaf_drops;
    int v = *(int *)first_out;
    leaf_init(second, v, 10 * v); /* PENDING v times, then 10v */
}

static void test_then(void)
{
    leaf_polls = leaf_drops = build_calls = 0;
    struct seq s;
    int drops_at_build = -1, out = -1, polls;
    eddy_then t;
    leaf_init(&s.u.first, 1, 3);
    eddy_then_init(&t, &leaf_vt, &s.u.first, &s.first_out, build_second, &drops_at_build, &leaf_vt, &s.u.second);
    CHECK_EQ(poll_until_ready(then_poll_v, &t, &out, &polls), EDDY_READY);
    CHECK_EQ(out, 30);
    CHECK_EQ(s.first_out, 3);
    CHECK_EQ(build_calls, 1);
    CHECK_EQ(drops_at_build, 1); /* the first was dropped before its storage was reused */
    CHECK_EQ(leaf_drops, 2);
    CHECK_EQ(leaf_polls, 2 + 4);
    /* 1 poll with the first pending, then the second's 4 polls: its first
     * one happens in the same poll where the first finished. */
    CHECK_EQ(polls, 5);
    eddy_then_drop(&t);
    CHECK_EQ(leaf_drops, 2);

    /* Dropped while the first is live. */
    leaf_polls = leaf_drops = build_calls = 0;
    eddy_waker nw = eddy_waker_noop();
    eddy_cx cx = {&nw, NULL};
    leaf_init(&s.u.first, 3, 3);
    eddy_then_init(&t, &leaf_vt, &s.u.first, &s.first_out, build_second, &drops_at_build, &leaf_vt, &s.u.second);
    CHECK_EQ(eddy_then_poll(&t, &cx, &out), EDDY_PENDING);
    eddy_then_drop(&t);
    eddy_then_drop(&t);
    CHECK_EQ(leaf_drops, 1);
    CHECK_EQ(build_calls, 0);

    /* Dropped while the second is live. */
    leaf_polls = leaf_drops = build_calls = 0;
    leaf_init(&s.u.first, 0, 4);
    eddy_then_init(&t, &leaf_vt, &s.u.first, &s.first_out, build_second, &drops_at_build, &leaf_vt, &s.u.second);
    CHECK_EQ(eddy_then_poll(&t, &cx, &out), EDDY_PENDING);
    CHECK_EQ(build_calls, 1);
    eddy_then_drop(&t);
    CHECK_EQ(leaf_drops, 2);
}

/* ---- and_then -------------------------------------------------------------------------- */

static void build_second_long(void *ctx, void *first_out, void *second)
{
    (void)ctx;
    build_calls++;
    leaf_init(second, 1, 1000L * *(int *)first_out);
}

static void test_and_then(void)
{
    struct seq s;
    long out = -1;
    int polls;
    eddy_and_then t;

    /* ok: int status 7, then a long output 7000 */
    leaf_polls = leaf_drops = build_calls = 0;
    leaf_init(&s.u.first, 1, 7);
    eddy_and_then_init(&t, &leaf_vt, &s.u.first, &s.first_out, build_second_long, NULL, &leaf_long_vt,
                       &s.u.second);
    CHECK_EQ(poll_until_ready(then_poll_v, &t, &out, &polls), EDDY_READY);
    CHECK_EQ(out, 7000);
    CHECK_EQ(build_calls, 1);
    CHECK_EQ(leaf_drops, 2);

    /* error: -ENOENT short-circuits into the long output */
    leaf_polls = leaf_drops = build_calls = 0;
    out = 1;
    leaf_init(&s.u.first, 2, -ENOENT);
    eddy_and_then_init(&t, &leaf_vt, &s.u.first, &s.first_out, build_second_long, NULL, &leaf_long_vt,
                       &s.u.second);
    CHECK_EQ(poll_until_ready(then_poll_v, &t, &out, &polls), EDDY_READY);
    CHECK_EQ(out, -ENOENT);
    CHECK_EQ(build_calls, 0);  /* the second never existed */
    CHECK_EQ(leaf_polls, 3);   /* only the first's polls */
    CHECK_EQ(leaf_drops, 1);   /* only the first was dropped */
    eddy_and_then_drop(&t);
    CHECK_EQ(leaf_drops, 1);
}

/* ---- the notes' addToInbox, both ways ------------------------------------------------------ */

struct message {
    uint64_t id;
    size_t size;
};

struct recipient {
    uint64_t id;
    size_t space;
    size_t used;
};

static struct recipient db_recipients[2] = {{.id = 1, .space = 1000}, {.id = 2, .space = 10}};
static int inbox_adds;

/* Three "database" coroutines, each sleeping 1 ms like a round trip. */
typedef struct load_message {
    eddy_coro co;
    uint64_t email_id;
    struct message *msg;
    eddy_sleep sl;
} load_message;

static void load_message_init(load_message *f, uint64_t email_id, struct message *msg)
{
    *f = (load_message){.email_id = email_id, .msg = msg};
}

static eddy_poll load_message_poll(load_message *f, eddy_cx *cx, int *out)
{
    EDDY_BEGIN(&f->co, cx);
    EDDY_AWAIT(NULL, eddy_sleep, &f->sl, EDDY_MS(1));
    if (f->email_id == 0) {
        *out = -ENOENT;
        EDDY_RETURN();
    }
    *f->msg = (struct message){.id = f->email_id, .size = (size_t)f->email_id * 100};
    *out = 0;
    EDDY_END();
}

static void load_message_drop(load_message *f) { (void)load_message_poll(f, EDDY_CX_DROP, NULL); }

typedef struct get_recipient {
    eddy_coro co;
    uint64_t id;
    struct recipient **r;
    eddy_sleep sl;
} get_recipient;

static void get_recipient_init(get_recipient *f, uint64_t id, struct recipient **r)
{
    *f = (get_recipient){.id = id, .r = r};
}

static eddy_poll get_recipient_poll(get_recipient *f, eddy_cx *cx, int *out)
{
    EDDY_BEGIN(&f->co, cx);
    EDDY_AWAIT(NULL, eddy_sleep, &f->sl, EDDY_MS(1));
    if (f->id == 0 || f->id > 2) {
        *out = -ESRCH;
        EDDY_RETURN();
    }
    *f->r = &db_recipients[f->id - 1];
    *out = 0;
    EDDY_END();
}

static void get_recipient_drop(get_recipient *f) { (void)get_recipient_poll(f, EDDY_CX_DROP, NULL); }

typedef struct add_msg {
    eddy_coro co;
    struct recipient *r;
    const struct message *msg;
    eddy_sleep sl;
} add_msg;

static void add_msg_init(add_msg *f, struct recipient *r, const struct message *msg)
{
    *f = (add_msg){.r = r, .msg = msg};
}

static eddy_poll add_msg_poll(add_msg *f, eddy_cx *cx, int *out)
{
    EDDY_BEGIN(&f->co, cx);
    EDDY_AWAIT(NULL, eddy_sleep, &f->sl, EDDY_MS(1));
    f->r->used += f->msg->size;
    inbox_adds++;
    *out = 0;
    EDDY_END();
}

static void add_msg_drop(add_msg *f) { (void)add_msg_poll(f, EDDY_CX_DROP, NULL); }

static int verify_has_space(const struct recipient *r, const struct message *m)
{
    return r->used + m->size <= r->space ? 0 : -ENOSPC;
}

/* -- the coroutine: reads like the notes' async fn -- */

struct add_to_inbox {
    eddy_coro co;
    uint64_t email_id, recipient_id;
    struct message msg;
    struct recipient *r;
    int st;
    union {
        load_message load;
        get_recipient get;
        add_msg add;
    } child;
};

static eddy_poll add_to_inbox_poll(struct add_to_inbox *f, eddy_cx *cx, int *out)
{
    EDDY_BEGIN(&f->co, cx);
    EDDY_AWAIT(&f->st, load_message, &f->child.load, f->email_id, &f->msg);
    EDDY_TRY(out, f->st);
    EDDY_AWAIT(&f->st, get_recipient, &f->child.get, f->recipient_id, &f->r);
    EDDY_TRY(out, f->st);
    EDDY_TRY(out, verify_has_space(f->r, &f->msg));
    EDDY_AWAIT(out, add_msg, &f->child.add, f->r, &f->msg);
    EDDY_END();
}

static void add_to_inbox_drop(struct add_to_inbox *f) { (void)add_to_inbox_poll(f, EDDY_CX_DROP, NULL); }

/* -- the same with combinators --
 *   loadMessage(email_id)
 *       .and_then(|message| get_recipient(message, recipient_id))
 *       .map(|(message, recipient)| recipient.verifyHasSpace(&message))
 *       .and_then(|(message, recipient)| recipient.addToInbox(message))
 */
EDDY_FUTURE_VT(load_message_vt, load_message, int, load_message_poll, load_message_drop);
EDDY_FUTURE_VT(get_recipient_vt, get_recipient, int, get_recipient_poll, get_recipient_drop);
EDDY_FUTURE_VT(add_msg_vt, add_msg, int, add_msg_poll, add_msg_drop);
EDDY_FUTURE_VT(and_then_int_vt, eddy_and_then, int, eddy_and_then_poll, eddy_and_then_drop);
EDDY_FUTURE_VT(map_int_vt, eddy_map, int, eddy_map_poll, eddy_map_drop);

struct inbox_chain {
    /* what the closures would have captured */
    uint64_t email_id, recipient_id;
    struct message msg;
    struct recipient *r;
    /* every future of the chain, and every intermediate output */
    union {
        load_message load;
        get_recipient get;
    } a;
    add_msg add;
    int load_st, step1_st, verify_st;
    eddy_and_then step1; /* load .and_then get_recipient */
    eddy_map step2;      /*      .map verify_has_space */
    eddy_and_then step3; /*      .and_then add_to_inbox */
};

static void chain_get_recipient(void *ctx, void *first_out, void *second)
{
    struct inbox_chain *c = ctx;
    (void)first_out;
    get_recipient_init(second, c->recipient_id, &c->r);
}

static void chain_verify(void *ctx, void *child_out, void *out)
{
    struct inbox_chain *c = ctx;
    int st = *(int *)child_out;
    *(int *)out = st < 0 ? st : verify_has_space(c->r, &c->msg);
}

static void chain_add(void *ctx, void *first_out, void *second)
{
    struct inbox_chain *c = ctx;
    (void)first_out;
    add_msg_init(second, c->r, &c->msg);
}

static void inbox_chain_init(struct inbox_chain *c, uint64_t email_id, uint64_t recipient_id)
{
    c->email_id = email_id;
    c->recipient_id = recipient_id;
    load_message_init(&c->a.load, email_id, &c->msg);
    eddy_and_then_init(&c->step1, &load_message_vt, &c->a.load, &c->load_st, chain_get_recipient, c,
                       &get_recipient_vt, &c->a.get);
    eddy_map_init(&c->step2, &and_then_int_vt, &c->step1, &c->step1_st, chain_verify, c);
    eddy_and_then_init(&c->step3, &map_int_vt, &c->step2, &c->verify_st, chain_add, c, &add_msg_vt, &c->add);
}

/* The root: runs the coroutine or the chain and records the time taken. */
struct root {
    eddy_coro co;
    int use_chain;
    uint64_t email_id, recipient_id;
    struct add_to_inbox coro;
    struct inbox_chain chain;
    int st;
    eddy_instant t0, t1;
};

static eddy_poll root_poll(struct root *t, eddy_cx *cx, int *out)
{
    EDDY_BEGIN(&t->co, cx);
    t->t0 = eddy_now();
    if (t->use_chain) {
        inbox_chain_init(&t->chain, t->email_id, t->recipient_id);
        EDDY_AWAIT_POLL(&t->st, eddy_and_then, &t->chain.step3);
    } else {
        t->coro = (struct add_to_inbox){.email_id = t->email_id, .recipient_id = t->recipient_id};
        EDDY_AWAIT_POLL(&t->st, add_to_inbox, &t->coro);
    }
    t->t1 = eddy_now();
    *out = t->st;
    EDDY_END();
}

EDDY_CORO_VT(root_vt, struct root, int, root_poll);

static void test_add_to_inbox(void)
{
    static const struct {
        uint64_t email, rcpt;
        int want;
        int steps; /* 1 ms round trips before the answer */
    } cases[] = {
        {3, 1, 0, 3},       /* ok: 300 bytes into 1000 */
        {0, 1, -ENOENT, 1}, /* no such message: stops after the load */
        {3, 9, -ESRCH, 2},  /* no such recipient */
        {3, 2, -ENOSPC, 2}, /* 300 bytes do not fit in 10: verify fails, no add */
    };
    eddy_rt *rt;
    CHECK_OK(eddy_rt_new(&rt, &(eddy_rt_builder){.start_paused = true}));
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        for (int use_chain = 0; use_chain < 2; use_chain++) {
            db_recipients[0].used = db_recipients[1].used = 0;
            inbox_adds = 0;
            struct root *t = calloc(1, sizeof *t);
            CHECK(t);
            t->use_chain = use_chain;
            t->email_id = cases[k].email;
            t->recipient_id = cases[k].rcpt;
            int out = 1;
            CHECK_OK(eddy_block_on(rt, &root_vt, t, &out));
            CHECK_MSG(out == cases[k].want, "case %zu (%s): got %d, want %d", k, use_chain ? "chain" : "coroutine",
                      out, cases[k].want);
            CHECK_EQ(inbox_adds, cases[k].want == 0);
            uint64_t dt = t->t1 - t->t0;
            CHECK_MSG(dt >= EDDY_MS(cases[k].steps) && dt < EDDY_MS(cases[k].steps + 1),
                      "case %zu (%s): %llu ns", k, use_chain ? "chain" : "coroutine", (unsigned long long)dt);
            free(t);
        }
    }
    eddy_rt_free(rt);
}

int main(void)
{
    test_watchdog(60);
    test_map();
    test_then();
    test_and_then();
    test_add_to_inbox();
    printf("ok\n");
    return 0;
}
