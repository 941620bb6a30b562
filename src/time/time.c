/* The public time futures (include/eddy/time.h) on top of the wheel.
 * See docs/design/0004-timer-wheel.md. */
#include "timers.h"

#include <errno.h>

static inline struct eddy__timers *cx_timers(const eddy_cx *cx)
{
    return cx && cx->core ? cx->core->timers : NULL;
}

static inline struct eddy__timers *current_timers(void)
{
    struct eddy__core *c = eddy__tls_core;
    return c ? c->timers : NULL;
}

static inline uint64_t sat_add(uint64_t a, uint64_t b) { return a > UINT64_MAX - b ? UINT64_MAX : a + b; }

static void timer_init(eddy__timer *e, uint64_t deadline, uint32_t flags)
{
    e->link.next = e->link.prev = NULL;
    e->deadline = deadline;
    e->waker = EDDY_WAKER_EMPTY;
    e->wheel = NULL;
    e->where = UINT32_MAX;
    e->flags = flags;
}

/* A relative deadline becomes absolute at the first poll, counted from a
 * fresh clock reading (see eddy__timers_deadline_base). */
static inline void fix_deadline(eddy__timer *e, const struct eddy__timers *t)
{
    if (e->flags & EDDY__TM_RELATIVE) {
        e->deadline = sat_add(eddy__timers_deadline_base(t), e->deadline);
        e->flags &= ~(uint32_t)EDDY__TM_RELATIVE;
    }
}

/* ---- clock ------------------------------------------------------------------ */

eddy_instant eddy_now(void)
{
    struct eddy__timers *t = current_timers();
    return t ? eddy__timers_now(t) : eddy__mono_ns();
}

int eddy_time_pause(void)
{
    struct eddy__timers *t = current_timers();
    if (!t)
        return -EDDY_ENORUNTIME;
    if (eddy__timers_is_mt(t))
        return -ENOTSUP; /* the virtual clock needs the current-thread runtime */
    eddy__timers_pause(t);
    return 0;
}

int eddy_time_resume(void)
{
    struct eddy__timers *t = current_timers();
    if (!t)
        return -EDDY_ENORUNTIME;
    if (eddy__timers_is_mt(t))
        return 0; /* never paused: nothing to resume */
    eddy__timers_resume(t);
    return 0;
}

int eddy_time_advance(uint64_t ns)
{
    struct eddy__timers *t = current_timers();
    if (!t)
        return -EDDY_ENORUNTIME;
    if (eddy__timers_is_mt(t))
        return -ENOTSUP;
    eddy__timers_advance(t, ns);
    eddy__timers_fire(t);
    return 0;
}

/* ---- sleep ------------------------------------------------------------------ */

void eddy_sleep_init(eddy_sleep *s, uint64_t ns) { timer_init(&s->tm, ns, EDDY__TM_RELATIVE); }

void eddy_sleep_until_init(eddy_sleep *s, eddy_instant deadline) { timer_init(&s->tm, deadline, 0); }

eddy_poll eddy_sleep_poll(eddy_sleep *s, eddy_cx *cx, int *out)
{
    eddy__timer *e = &s->tm;
#if EDDY_DEBUG
    if (e->flags & EDDY__TM_DONE)
        eddy_misuse("eddy_sleep", "polled again after it returned EDDY_READY");
    eddy__timer_check(e, "eddy_sleep");
#endif
    int rc = 0;
    struct eddy__timers *t = cx_timers(cx);
    if (EDDY_UNLIKELY(!t)) {
        rc = -EDDY_ENORUNTIME;
    } else {
        fix_deadline(e, t);
        if (e->deadline > eddy__timers_now(t)) {
            eddy__timer_arm(t, e, cx->waker);
            return EDDY_PENDING;
        }
    }
    eddy__timer_cancel(e);
    e->flags |= EDDY__TM_DONE;
    if (out)
        *out = rc;
    return EDDY_READY;
}

void eddy_sleep_drop(eddy_sleep *s)
{
    eddy__timer_check(&s->tm, "eddy_sleep");
    eddy__timer_cancel(&s->tm);
}

void eddy_sleep_reset(eddy_sleep *s, eddy_instant deadline)
{
    eddy__timer *e = &s->tm;
    eddy__timer_check(e, "eddy_sleep");
    e->flags &= ~(uint32_t)(EDDY__TM_RELATIVE | EDDY__TM_DONE);
    eddy__timer_set_deadline(e, deadline);
}

eddy_instant eddy_sleep_deadline(const eddy_sleep *s)
{
    return (s->tm.flags & EDDY__TM_RELATIVE) ? 0 : s->tm.deadline;
}

bool eddy_sleep_is_armed(const eddy_sleep *s) { return EDDY__LOAD_RELAXED(&s->tm.wheel) != NULL; }

/* ---- interval --------------------------------------------------------------- */

static void interval_setup(eddy_interval *iv, uint64_t period)
{
    if (period == 0)
        eddy_misuse("eddy_interval", "the period must be greater than 0");
    iv->period = period;
    iv->missed = EDDY_MISSED_TICK_BURST;
    iv->reserved = 0;
}

void eddy_interval_init(eddy_interval *iv, uint64_t period)
{
    interval_setup(iv, period);
    timer_init(&iv->tm, 0, EDDY__TM_RELATIVE); /* first tick: the first poll's now */
}

void eddy_interval_init_at(eddy_interval *iv, eddy_instant start, uint64_t period)
{
    interval_setup(iv, period);
    timer_init(&iv->tm, start, 0);
}

void eddy_interval_set_missed_tick(eddy_interval *iv, eddy_missed_tick behaviour)
{
    if ((unsigned)behaviour > EDDY_MISSED_TICK_SKIP)
        eddy_misuse("eddy_interval", "unknown eddy_missed_tick value");
    iv->missed = (uint32_t)behaviour;
}

void eddy_interval_reset_at(eddy_interval *iv, eddy_instant next)
{
    eddy__timer *e = &iv->tm;
    eddy__timer_check(e, "eddy_interval");
    e->flags &= ~(uint32_t)EDDY__TM_RELATIVE;
    eddy__timer_set_deadline(e, next);
}

eddy_instant eddy_interval_next(const eddy_interval *iv)
{
    return (iv->tm.flags & EDDY__TM_RELATIVE) ? 0 : iv->tm.deadline;
}

/* The tick after `at`, observed at `now` (now >= at). */
static uint64_t interval_after(const eddy_interval *iv, uint64_t at, uint64_t now)
{
    uint64_t p = iv->period;
    uint64_t next = sat_add(at, p);
    if (next > now || iv->missed == EDDY_MISSED_TICK_BURST)
        return next; /* on schedule, or catching up one tick at a time */
    if (iv->missed == EDDY_MISSED_TICK_DELAY)
        return sat_add(now, p);
    /* SKIP: the first scheduled instant strictly after now. */
    uint64_t k = (now - at) / p + 1;
    if (k > (UINT64_MAX - at) / p)
        return UINT64_MAX;
    return at + k * p;
}

eddy_poll eddy_interval_tick_poll(eddy_interval *iv, eddy_cx *cx, eddy_instant *out)
{
    eddy__timer *e = &iv->tm;
    eddy__timer_check(e, "eddy_interval");
    struct eddy__timers *t = cx_timers(cx);
    if (EDDY_UNLIKELY(!t)) {
        eddy__timer_cancel(e);
        if (out)
            *out = 0;
        return EDDY_READY;
    }
    uint64_t now = eddy__timers_now(t);
    uint64_t at;
    if (e->flags & EDDY__TM_RELATIVE) {
        /* First poll of eddy_interval_init: tick 0 is now, delivered now. */
        fix_deadline(e, t);
        at = e->deadline;
        if (at > now)
            now = at;
    } else if (e->deadline > now) {
        eddy__timer_arm(t, e, cx->waker);
        return EDDY_PENDING;
    } else {
        at = e->deadline;
    }
    /* Unlink (the task is running; its waker stays for a cheap re-arm) and
     * move the schedule on.  An unlinked entry is never woken. */
    eddy__timer_remove(e);
    e->deadline = interval_after(iv, at, now);
    if (out)
        *out = at;
    return EDDY_READY;
}

void eddy_interval_tick_drop(eddy_interval *iv)
{
    eddy__timer_check(&iv->tm, "eddy_interval");
    eddy__timer_cancel(&iv->tm);
}

void eddy_interval_drop(eddy_interval *iv)
{
    eddy__timer_check(&iv->tm, "eddy_interval");
    eddy__timer_cancel(&iv->tm);
}

/* ---- timeout ------------------------------------------------------------------ */

static void timeout_setup(eddy_timeout *t, const eddy_future_vt *vt, void *child, void *child_out)
{
    if (!vt || !vt->poll || !child)
        eddy_misuse("eddy_timeout", "the child future (vt, vt->poll, child) must not be NULL");
    t->vt = vt;
    t->child = child;
    t->child_out = child_out;
    t->state = 0;
    t->reserved = 0;
}

void eddy_timeout_init(eddy_timeout *t, uint64_t ns, const eddy_future_vt *vt, void *child, void *child_out)
{
    timeout_setup(t, vt, child, child_out);
    eddy_sleep_init(&t->sl, ns);
}

void eddy_timeout_at_init(eddy_timeout *t, eddy_instant deadline, const eddy_future_vt *vt, void *child,
                          void *child_out)
{
    timeout_setup(t, vt, child, child_out);
    eddy_sleep_until_init(&t->sl, deadline);
}

static void timeout_drop_child(eddy_timeout *t)
{
    if (t->state == 0) {
        t->state = 1;
        if (t->vt->drop)
            t->vt->drop(t->child);
    }
}

eddy_poll eddy_timeout_poll(eddy_timeout *t, eddy_cx *cx, int *out)
{
#if EDDY_DEBUG
    if (t->state != 0)
        eddy_misuse("eddy_timeout", "polled again after it returned EDDY_READY");
#endif
    eddy__timer_check(&t->sl.tm, "eddy_timeout");
    int rc;
    if (EDDY_UNLIKELY(!cx_timers(cx))) {
        rc = -EDDY_ENORUNTIME;
        timeout_drop_child(t);
    } else if (t->vt->poll(t->child, cx, t->child_out) == EDDY_READY) {
        rc = 0;
        t->state = 1; /* finished: never dropped */
    } else if (eddy_sleep_poll(&t->sl, cx, NULL) == EDDY_PENDING) {
        return EDDY_PENDING;
    } else {
        rc = -ETIMEDOUT;
        timeout_drop_child(t);
    }
    eddy__timer_cancel(&t->sl.tm);
    if (out)
        *out = rc;
    return EDDY_READY;
}

void eddy_timeout_drop(eddy_timeout *t)
{
    eddy__timer_check(&t->sl.tm, "eddy_timeout");
    eddy__timer_cancel(&t->sl.tm);
    timeout_drop_child(t);
}
