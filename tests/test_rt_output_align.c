/* A task's output slot must be aligned for the output's type.
 *
 * The runtime writes a task's output in place, through the out pointer
 * given to poll (eddy__task_out: the task block + 64), so that pointer must
 * be suitably aligned for OUT.  eddy_future_vt records the frame's
 * alignment but not the output's, and the block comes from malloc (16-byte
 * alignment) whenever the frame needs <= 16.  An output type aligned to 32
 * or 64 (SIMD vectors, cache-line padded structs) then gets a misaligned
 * slot: undefined behaviour on the store (UBSan: "store to misaligned
 * address"), and a crash with aligned vector stores.
 *
 * This test spawns tasks with a small frame and a 64-byte aligned output
 * (and a 128-byte aligned one, wider than the task header) and checks the
 * out pointer each poll receives, and the frame's (same arithmetic). */
// eddy-test-labels: flavors
#include <eddy.h>

#include "eddy_test.h"

struct line {
    _Alignas(64) unsigned char bytes[64];
};

struct maker {
    int id;
};

struct wide {
    _Alignas(128) unsigned char bytes[128];
};

enum { NTASKS = 32 };
static atomic_int misaligned_out, misaligned_frame, polled;

static eddy_poll maker_poll(struct maker *m, eddy_cx *cx, struct line *out)
{
    (void)cx;
    polled++;
    if ((uintptr_t)out % _Alignof(struct line) != 0) {
        misaligned_out++;
        /* write it bytewise: the check above is the finding, not a crash */
        unsigned char v = (unsigned char)m->id;
        memset((void *)out, v, sizeof(struct line));
        return EDDY_READY;
    }
    if ((uintptr_t)m % _Alignof(struct maker) != 0)
        misaligned_frame++;
    memset(out->bytes, m->id, sizeof out->bytes);
    return EDDY_READY;
}
static void maker_drop(struct maker *m) { (void)m; }
EDDY_FUTURE_VT(maker_vt, struct maker, struct line, maker_poll, maker_drop);

static atomic_int wide_misaligned, wide_polled;
static eddy_poll wide_poll(struct maker *m, eddy_cx *cx, struct wide *out)
{
    (void)cx;
    wide_polled++;
    if ((uintptr_t)out % _Alignof(struct wide) != 0 || (uintptr_t)m % _Alignof(struct maker) != 0) {
        wide_misaligned++;
        memset((void *)out, m->id, sizeof(struct wide));
        return EDDY_READY;
    }
    memset(out->bytes, m->id, sizeof out->bytes);
    return EDDY_READY;
}
EDDY_FUTURE_VT(wide_vt, struct maker, struct wide, wide_poll, maker_drop);

struct root {
    eddy_coro co;
    int i;
    eddy_join *jh[NTASKS];
    struct line out;
    struct wide wout;
};

static eddy_poll root_poll(struct root *r, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&r->co, cx);
    for (r->i = 0; r->i < NTASKS; r->i++) {
        struct maker m = {.id = r->i + 1};
        CHECK_OK(eddy_spawn_local(&maker_vt, &m, &r->jh[r->i]));
    }
    for (r->i = 0; r->i < NTASKS; r->i++) {
        EDDY_AWAIT_POLL(&r->out, eddy_join, r->jh[r->i]);
        CHECK_EQ(r->out.bytes[0], r->i + 1);
        CHECK_EQ(r->out.bytes[63], r->i + 1);
        eddy_join_detach(r->jh[r->i]);
    }
    for (r->i = 0; r->i < NTASKS; r->i++) {
        struct maker m = {.id = r->i + 1};
        CHECK_OK(eddy_spawn_local(&wide_vt, &m, &r->jh[r->i]));
    }
    for (r->i = 0; r->i < NTASKS; r->i++) {
        EDDY_AWAIT_POLL(&r->wout, eddy_join, r->jh[r->i]);
        CHECK_EQ(r->wout.bytes[0], r->i + 1);
        CHECK_EQ(r->wout.bytes[127], r->i + 1);
        eddy_join_detach(r->jh[r->i]);
    }
    EDDY_END();
}
EDDY_CORO_VT_VOID(root_vt, struct root, root_poll);

int main(void)
{
    test_watchdog(30);
    CHECK_EQ(maker_vt.align, _Alignof(struct maker));
    CHECK_EQ(maker_vt.out_size, 64);
    eddy_rt *rt;
    CHECK_OK(eddy_rt_new(&rt, test_builder(NULL)));
    static struct root r; /* static: 64-byte aligned storage for r.out */
    CHECK_OK(eddy_block_on(rt, &root_vt, &r, NULL));
    eddy_rt_free(rt);
    CHECK_EQ(polled, NTASKS);
    CHECK_EQ(misaligned_frame, 0);
    CHECK_MSG(misaligned_out == 0,
              "%d of %d tasks got an output slot not aligned to %zu bytes (the runtime ignores the output's "
              "alignment)",
              misaligned_out, NTASKS, _Alignof(struct line));
    CHECK_EQ(wide_polled, NTASKS);
    CHECK_MSG(wide_misaligned == 0, "%d of %d tasks got an output slot or frame not aligned for a 128-byte aligned output",
              wide_misaligned, NTASKS);
    printf("test_rt_output_align: ok\n");
    return 0;
}
