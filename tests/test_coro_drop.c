/* Dropping coroutines (cancellation): a coroutine dropped with EDDY_CX_DROP
 * at any suspend point drops exactly its live child (none of the finished
 * or not yet started ones), releases every waker clone that child kept,
 * and runs its cleanup exactly once with EDDY_DROPPING() true.  Dropping a
 * never-polled coroutine runs the cleanup once and touches no child;
 * dropping a finished or already dropped one does nothing. */
#include <eddy.h>

#include "eddy_test.h"

/* ---- a leaf gated by a flag, keeping its waker like a real one ---------- */

enum { NGATES = 4 };
static int gate_open[NGATES];
static int gl_inits[NGATES], gl_polls[NGATES], gl_drops[NGATES];

struct gl {
    int id;
    eddy_waker slot;
};

static void gl_init(struct gl *f, int id)
{
    f->id = id;
    f->slot = EDDY_WAKER_EMPTY;
    gl_inits[id]++;
}

static eddy_poll gl_poll(struct gl *f, eddy_cx *cx, int *out)
{
    gl_polls[f->id]++;
    if (gate_open[f->id]) {
        eddy_waker_drop(&f->slot);
        *out = f->id;
        return EDDY_READY;
    }
    eddy_waker_set(&f->slot, cx->waker);
    return EDDY_PENDING;
}

static void gl_drop(struct gl *f)
{
    gl_drops[f->id]++;
    eddy_waker_drop(&f->slot);
}

/* ---- a child coroutine awaiting gate 2 ---------------------------------- */

static int child_cleanup, child_dropping;

struct child {
    eddy_coro co;
    int x;
    struct gl g;
};

static void child_init(struct child *f) { eddy_coro_init(&f->co); }

static eddy_poll child_poll(struct child *f, eddy_cx *cx, int *out)
{
    EDDY_BEGIN(&f->co, cx);
    EDDY_AWAIT(&f->x, gl, &f->g, 2);
    *out = f->x * 10;
    EDDY_FINALLY();
    child_cleanup++;
    if (EDDY_DROPPING())
        child_dropping++;
    EDDY_DONE();
}

static void child_drop(struct child *f) { (void)child_poll(f, EDDY_CX_DROP, NULL); }

/* ---- the parent: five suspend points, one child at a time --------------- */

static int parent_cleanup, parent_dropping, parent_finished_body;
static eddy_waker gate3_waker;

static bool gate3(eddy_cx *cx)
{
    eddy_waker_set(&gate3_waker, cx->waker);
    return gate_open[3];
}

struct parent {
    eddy_coro co;
    int stage;
    int x;
    char *buf; /* a resource taken on the first poll, released in cleanup */
    union {
        struct gl g;
        struct child c;
    } u;
};

static void parent_init(struct parent *f)
{
    eddy_coro_init(&f->co);
    f->stage = 0;
    f->buf = NULL;
}

static eddy_poll parent_poll(struct parent *f, eddy_cx *cx, int *out)
{
    EDDY_BEGIN(&f->co, cx);
    f->buf = malloc(64);
    CHECK(f->buf != NULL);
    f->stage = 1;
    EDDY_AWAIT(&f->x, gl, &f->u.g, 0);
    CHECK_EQ(f->x, 0);
    f->stage = 2;
    EDDY_YIELD();
    f->stage = 3;
    EDDY_AWAIT(&f->x, gl, &f->u.g, 1);
    CHECK_EQ(f->x, 1);
    f->stage = 4;
    EDDY_WAIT_UNTIL(gate3(EDDY_CX()));
    eddy_waker_drop(&gate3_waker);
    f->stage = 5;
    EDDY_AWAIT(&f->x, child, &f->u.c);
    CHECK_EQ(f->x, 20);
    parent_finished_body++;
    *out = 1;
    EDDY_FINALLY();
    free(f->buf);
    f->buf = NULL;
    parent_cleanup++;
    if (EDDY_DROPPING())
        parent_dropping++;
    EDDY_DONE();
}
EDDY_CORO_VT(parent_vt, struct parent, int, parent_poll);

static void reset(void)
{
    for (int i = 0; i < NGATES; i++)
        gate_open[i] = gl_inits[i] = gl_polls[i] = gl_drops[i] = 0;
    child_cleanup = child_dropping = 0;
    parent_cleanup = parent_dropping = parent_finished_body = 0;
    CHECK(gate3_waker.vtable == NULL);
}

/* Gate of each stage (stage 2 is a yield: no gate). */
static const int stage_gate[6] = {-1, 0, -1, 1, 3, 2};

/* Polls a fresh parent until it is suspended at `stage`. */
static void run_to(struct parent *f, eddy_cx *cx, int stage)
{
    for (int s = 1; s < 6; s++)
        if (stage_gate[s] >= 0)
            gate_open[stage_gate[s]] = s < stage;
    int out = -1;
    for (int i = 0; i < 20; i++) {
        CHECK_EQ(parent_poll(f, cx, &out), EDDY_PENDING);
        if (f->stage == stage)
            return;
    }
    CHECK_MSG(0, "never reached stage %d", stage);
}

static void test_drop_at_each_stage(void)
{
    for (int stage = 1; stage <= 5; stage++) {
        eddy_waker_counter c;
        eddy_waker w = eddy_waker_counting(&c);
        eddy_cx cx = {&w, NULL};
        struct parent f;
        reset();
        parent_init(&f);
        run_to(&f, &cx, stage);
        CHECK(f.buf != NULL);
        CHECK_EQ(parent_cleanup, 0);

        /* Which gate leaf is live at this stage (stage 5: the child's). */
        int live = stage == 1 ? 0 : stage == 3 ? 1 : stage == 5 ? 2 : -1;
        int before[NGATES];
        for (int i = 0; i < NGATES; i++)
            before[i] = gl_drops[i];

        parent_vt.drop(&f);

        CHECK_MSG(parent_cleanup == 1, "stage %d: cleanup ran %d times", stage, parent_cleanup);
        CHECK_EQ(parent_dropping, 1);
        CHECK_EQ(parent_finished_body, 0);
        CHECK(f.buf == NULL);
        CHECK(eddy_coro_done(&f.co));
        for (int i = 0; i < NGATES; i++)
            CHECK_MSG(gl_drops[i] - before[i] == (i == live), "stage %d: gate %d dropped %d times (live: %d)",
                      stage, i, gl_drops[i] - before[i], live);
        /* Later stages' children were never even initialised. */
        for (int s = stage + 1; s <= 5; s++)
            if (stage_gate[s] >= 0 && stage_gate[s] != 3)
                CHECK_MSG(gl_inits[stage_gate[s]] == 0, "stage %d: gate %d started", stage, stage_gate[s]);
        CHECK_EQ(child_cleanup, stage == 5);
        CHECK_EQ(child_dropping, stage == 5);

        /* A second drop is a no-op. */
        parent_vt.drop(&f);
        CHECK_EQ(parent_cleanup, 1);
        CHECK_EQ(child_cleanup, stage == 5);

        /* Every waker clone the leaves kept was released (stage 4 keeps
         * one in gate3_waker, which the test owns). */
        eddy_waker_drop(&gate3_waker);
        eddy_waker_drop(&w);
        CHECK_MSG(eddy_waker_counter_live(&c) == 0, "stage %d: %ld waker references leaked", stage,
                  eddy_waker_counter_live(&c));
    }
}

static void test_drop_never_polled(void)
{
    reset();
    struct parent f;
    parent_init(&f);
    parent_vt.drop(&f);
    CHECK_EQ(parent_cleanup, 1);
    CHECK_EQ(parent_dropping, 1);
    for (int i = 0; i < NGATES; i++) {
        CHECK_EQ(gl_inits[i], 0);
        CHECK_EQ(gl_polls[i], 0);
        CHECK_EQ(gl_drops[i], 0);
    }
    CHECK_EQ(child_cleanup, 0);
    parent_vt.drop(&f);
    CHECK_EQ(parent_cleanup, 1);

    /* A never-polled child dropped directly. */
    struct child ch;
    child_init(&ch);
    child_drop(&ch);
    CHECK_EQ(child_cleanup, 1);
    CHECK_EQ(child_dropping, 1);
    CHECK_EQ(gl_drops[2], 0);
}

static void test_finish_then_drop(void)
{
    eddy_waker n = eddy_waker_noop();
    eddy_cx cx = {&n, NULL};
    reset();
    for (int i = 0; i < NGATES; i++)
        gate_open[i] = 1;
    struct parent f;
    parent_init(&f);
    int out = 0, polls = 0;
    eddy_poll r = EDDY_PENDING;
    while (r == EDDY_PENDING && polls < 20) {
        r = parent_poll(&f, &cx, &out);
        polls++;
    }
    CHECK_EQ(r, EDDY_READY);
    CHECK_EQ(polls, 2); /* only the yield suspends */
    CHECK_EQ(out, 1);
    CHECK_EQ(parent_cleanup, 1);
    CHECK_EQ(parent_dropping, 0);
    CHECK_EQ(child_cleanup, 1);
    CHECK_EQ(child_dropping, 0);
    parent_vt.drop(&f);
    CHECK_EQ(parent_cleanup, 1);
    for (int i = 0; i < NGATES; i++)
        CHECK_EQ(gl_drops[i], 0); /* finished children are not dropped */
    eddy_waker_drop(&gate3_waker);
}

int main(void)
{
    test_watchdog(30);
    test_drop_at_each_stage();
    test_drop_never_polled();
    test_finish_then_drop();
    printf("test_coro_drop: ok\n");
    return 0;
}
