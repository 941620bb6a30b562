/* eddy_rt_free with tasks that will never finish releases every frame
 * exactly once, whatever state each task is in:
 * - suspended holding a clone of its own waker (the clone keeps the task
 *   block alive: if drop never ran, LSan reports the block);
 * - suspended with no wake-up arranged at all;
 * - coroutines suspended in a child (child dropped, cleanup run, the
 *   buffer they took freed);
 * - spawned in the root's last poll and never polled (in the run queue);
 * - spawned from outside after block_on returned, from this thread and
 *   from another thread (in the remote queue, never adopted);
 * - parents holding their child's join handle (the parent's drop drops the
 *   handle, and the child is still dropped once);
 * - with join handles held by main: they report -ECANCELED after the free
 *   and are dropped afterwards;
 * - a drop that tries to spawn gets -EDDY_ESHUTDOWN; a drop that wakes
 *   another (live or already dropped) task is harmless.
 * Then the same with a runtime that never ran at all. */
#include <eddy.h>

#include <pthread.h>

#include "eddy_test.h"

enum { NIDS = 2000 };
static int polls[NIDS], drops[NIDS];
static eddy_waker *slot_of[NIDS];
static int next_id;

enum smode { S_PARK_CLONE, S_PARK_BARE, S_PARENT, S_SPAWN_ON_DROP, S_WAKE_ON_DROP };

struct sleeper {
    int id;
    enum smode mode;
    int other; /* S_PARENT: the child's id; S_WAKE_ON_DROP: whom to wake */
    eddy_join *child;
    eddy_waker slot;
};

static int spawn_on_drop_result = 1, prepare_on_drop_result = 1;
static eddy_rt *current_in_drop;

extern const eddy_future_vt sleeper_vt;

static struct sleeper sleeper(enum smode mode)
{
    CHECK(next_id < NIDS);
    return (struct sleeper){.id = next_id++, .mode = mode, .other = -1, .slot = EDDY_WAKER_EMPTY};
}

static eddy_poll sleeper_poll(struct sleeper *s, eddy_cx *cx, void *out)
{
    (void)out;
    polls[s->id]++;
    if (s->mode == S_PARK_BARE)
        return EDDY_PENDING; /* nothing will ever wake it */
    if (s->mode == S_PARENT && !s->child) {
        struct sleeper c = sleeper(S_PARK_CLONE);
        s->other = c.id;
        CHECK_OK(eddy_spawn_local(&sleeper_vt, &c, &s->child));
    }
    slot_of[s->id] = &s->slot;
    eddy_waker_set(&s->slot, cx->waker);
    return EDDY_PENDING;
}

static void sleeper_drop(struct sleeper *s)
{
    drops[s->id]++;
    slot_of[s->id] = NULL;
    eddy_waker_drop(&s->slot);
    if (s->mode == S_PARENT)
        eddy_join_detach(s->child);
    if (s->mode == S_SPAWN_ON_DROP) {
        current_in_drop = eddy_rt_current();
        struct sleeper c = sleeper(S_PARK_BARE);
        spawn_on_drop_result = eddy_spawn_local(&sleeper_vt, &c, NULL);
        void *frame = NULL;
        prepare_on_drop_result = current_in_drop ? eddy_spawn_prepare(current_in_drop, &sleeper_vt, &frame) : 1;
        if (prepare_on_drop_result == 0)
            eddy_spawn_cancel(&sleeper_vt, frame);
    }
    if (s->mode == S_WAKE_ON_DROP && s->other >= 0 && slot_of[s->other])
        eddy_waker_wake_by_ref(slot_of[s->other]);
}
EDDY_FUTURE_VT_VOID(sleeper_vt, struct sleeper, sleeper_poll, sleeper_drop);

/* Coroutines suspended in a child. */
static int leaf_drops, co_cleanup, co_dropping, cotask_polls;
struct leaf {
    eddy_waker slot;
};
static void leaf_init(struct leaf *l) { l->slot = EDDY_WAKER_EMPTY; }
static eddy_poll leaf_poll(struct leaf *l, eddy_cx *cx, int *out)
{
    (void)out;
    eddy_waker_set(&l->slot, cx->waker);
    return EDDY_PENDING;
}
static void leaf_drop(struct leaf *l)
{
    leaf_drops++;
    eddy_waker_drop(&l->slot);
}
struct cotask {
    eddy_coro co;
    int x;
    char *buf;
    struct leaf l;
};
static eddy_poll cotask_poll(struct cotask *c, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&c->co, cx);
    cotask_polls++;
    c->buf = malloc(100);
    CHECK(c->buf != NULL);
    EDDY_AWAIT(&c->x, leaf, &c->l);
    EDDY_FINALLY();
    free(c->buf);
    co_cleanup++;
    if (EDDY_DROPPING())
        co_dropping++;
    EDDY_DONE();
}
EDDY_CORO_VT_VOID(cotask_vt, struct cotask, cotask_poll);

enum { N_CLONE = 300, N_BARE = 300, N_CO = 100, N_UNPOLLED = 100, N_JOINED = 100, N_PARENTS = 50 };
static eddy_join *joined[N_JOINED];
static int first_unpolled, first_joined;

struct root {
    eddy_coro co;
    int i;
    eddy_yield y;
};

static void spawn_sleeper(enum smode mode, eddy_join **jh)
{
    struct sleeper s = sleeper(mode);
    CHECK_OK(eddy_spawn_local(&sleeper_vt, &s, jh));
}

/* Every sleeper spawned so far has been polled, and so has every cotask. */
static bool all_polled(void)
{
    for (int id = 0; id < next_id; id++)
        if (polls[id] == 0)
            return false;
    return cotask_polls == N_CO;
}

static eddy_poll root_poll(struct root *r, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&r->co, cx);
    for (int i = 0; i < N_CLONE; i++)
        spawn_sleeper(S_PARK_CLONE, NULL);
    for (int i = 0; i < N_BARE; i++)
        spawn_sleeper(S_PARK_BARE, NULL);
    for (int i = 0; i < N_CO; i++) {
        struct cotask c = {.buf = NULL};
        eddy_coro_init(&c.co);
        CHECK_OK(eddy_spawn_local(&cotask_vt, &c, NULL));
    }
    first_joined = next_id;
    for (int i = 0; i < N_JOINED; i++)
        spawn_sleeper(S_PARK_CLONE, &joined[i]);
    for (int i = 0; i < N_PARENTS; i++)
        spawn_sleeper(S_PARENT, NULL);
    spawn_sleeper(S_SPAWN_ON_DROP, NULL);
    {
        /* wakes task 0 (alive or dropped already) when it is dropped */
        struct sleeper s = sleeper(S_WAKE_ON_DROP);
        s.other = 0;
        CHECK_OK(eddy_spawn_local(&sleeper_vt, &s, NULL));
        s = sleeper(S_WAKE_ON_DROP);
        s.other = N_CLONE - 1;
        CHECK_OK(eddy_spawn_local(&sleeper_vt, &s, NULL));
    }
    /* Let every one of them (and the parents' children) run and park. */
    for (r->i = 0; !all_polled() && r->i < 10000; r->i++)
        EDDY_AWAIT(NULL, eddy_yield, &r->y);
    CHECK(all_polled());
    CHECK_EQ(cotask_polls, N_CO);
    CHECK_EQ(co_cleanup, 0);
    /* These never get a poll: the root finishes first. */
    first_unpolled = next_id;
    for (int i = 0; i < N_UNPOLLED; i++)
        spawn_sleeper(S_PARK_CLONE, NULL);
    EDDY_END();
}
EDDY_CORO_VT_VOID(root_vt, struct root, root_poll);

struct remote_arg {
    eddy_rt *rt;
    int first, n;
};

static void *remote_spawner(void *p)
{
    struct remote_arg *a = p;
    for (int i = 0; i < a->n; i++) {
        struct sleeper s = {.id = a->first + i, .mode = S_PARK_CLONE, .other = -1, .slot = EDDY_WAKER_EMPTY};
        CHECK_OK(eddy_spawn(a->rt, &sleeper_vt, &s, NULL));
    }
    return NULL;
}

static void check_all_dropped_once(int from, int to)
{
    for (int id = from; id < to; id++)
        CHECK_MSG(drops[id] == 1, "task %d dropped %d times", id, drops[id]);
}

static void test_shutdown_after_running(void)
{
    eddy_rt *rt;
    CHECK_OK(eddy_rt_new(&rt, NULL));
    struct root r;
    memset(&r, 0, sizeof r);
    CHECK_OK(eddy_block_on(rt, &root_vt, &r, NULL));
    int after_root = next_id;

    for (int id = 0; id < first_unpolled; id++)
        CHECK_MSG(polls[id] == 1, "task %d polled %d times before shutdown", id, polls[id]);
    for (int id = 0; id < after_root; id++)
        CHECK_EQ(drops[id], 0);

    /* Spawned from outside: sit in the remote queue. */
    int first_remote = next_id;
    for (int i = 0; i < 50; i++)
        remote_spawner(&(struct remote_arg){rt, next_id++, 1});
    struct remote_arg ra = {rt, next_id, 50};
    next_id += 50;
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, remote_spawner, &ra), 0);
    CHECK_EQ(pthread_join(th, NULL), 0);
    int last = next_id;

    eddy_rt_stats st;
    CHECK_OK(eddy_rt_stats_get(rt, &st));
    CHECK_EQ(st.alive, after_root + N_CO); /* every task spawned inside is alive */

    eddy_rt_free(rt);

    /* The spawn attempted from a drop during shutdown was refused: its
     * frame (the last id handed out) never ran and was never dropped. */
    CHECK_EQ(spawn_on_drop_result, -EDDY_ESHUTDOWN);
    CHECK_EQ(prepare_on_drop_result, -EDDY_ESHUTDOWN);
    CHECK(current_in_drop != NULL);
    int spawned_in_drop = next_id - 1;
    CHECK_EQ(polls[spawned_in_drop], 0);
    CHECK_EQ(drops[spawned_in_drop], 0);

    check_all_dropped_once(0, after_root);
    check_all_dropped_once(first_remote, last);
    for (int id = first_unpolled; id < after_root; id++)
        CHECK_EQ(polls[id], 0);
    for (int id = first_remote; id < last; id++)
        CHECK_EQ(polls[id], 0);
    CHECK_EQ(co_cleanup, N_CO);
    CHECK_EQ(co_dropping, N_CO);
    CHECK_EQ(leaf_drops, N_CO);

    for (int i = 0; i < N_JOINED; i++) {
        CHECK(eddy_join_is_finished(joined[i]));
        CHECK_EQ(eddy_join_status(joined[i]), -ECANCELED);
        eddy_join_detach(joined[i]);
    }
    CHECK_EQ(first_joined, N_CLONE + N_BARE);
}

static void test_shutdown_never_ran(void)
{
    eddy_rt *rt;
    CHECK_OK(eddy_rt_new(&rt, NULL));
    int first = next_id;
    eddy_join *jh;
    struct sleeper s = sleeper(S_PARK_CLONE);
    CHECK_OK(eddy_spawn(rt, &sleeper_vt, &s, &jh));
    for (int i = 0; i < 20; i++) {
        s = sleeper(S_PARK_CLONE);
        CHECK_OK(eddy_spawn(rt, &sleeper_vt, &s, NULL));
    }
    eddy_rt_free(rt);
    check_all_dropped_once(first, next_id);
    for (int id = first; id < next_id; id++)
        CHECK_EQ(polls[id], 0);
    CHECK_EQ(eddy_join_status(jh), -ECANCELED);
    eddy_join_detach(jh);

    /* An empty runtime. */
    CHECK_OK(eddy_rt_new(&rt, NULL));
    eddy_rt_free(rt);
}

int main(void)
{
    test_watchdog(60);
    test_shutdown_after_running();
    test_shutdown_never_ran();
    printf("test_rt_shutdown: ok\n");
    return 0;
}
