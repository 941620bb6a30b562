/* The hierarchical timing wheel.  See docs/design/0004-timer-wheel.md.
 *
 * Time is counted in ticks of EDDY__TIMER_RES_NS (1 ms) from `origin`, the
 * runtime's clock at creation.  A deadline d belongs to tick
 * ceil((d - origin) / RES): rounding up is what makes a timer never early,
 * because the wheel only processes tick k once now >= origin + k * RES.
 *
 * `elapsed` is the last tick processed.  Level L (0..5) has 64 slots of
 * 64^L ticks each.  An entry for tick T > elapsed sits at the level of the
 * highest 6-bit digit in which T and elapsed differ, in the slot named by
 * T's digit at that level.  So every occupied slot lies strictly after
 * elapsed's own digit, inside elapsed's current block of the level above,
 * and the lowest occupied slot of the lowest non-empty level is always the
 * next thing that happens.  Reaching the start of a slot of level L > 0
 * re-files its entries relative to the new elapsed, which puts each one at
 * a lower level (or due): an entry moves at most LEVELS times in its life.
 * Deadlines beyond the top level's block wait in `overflow`, re-filed each
 * time elapsed crosses into a new top-level block (every 2.2 years).
 *
 * Entries are intrusive (embedded in the futures), lists are circular with
 * a sentinel per slot, so insert and cancel are O(1) and allocate nothing.
 */
#include "timers.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#define RES EDDY__TIMER_RES_NS
#define BITS EDDY__TIMER_LEVEL_BITS
#define SLOTS EDDY__TIMER_SLOTS
#define LEVELS EDDY__TIMER_LEVELS
#define SLOT_MASK ((uint64_t)SLOTS - 1)

/* `where` values beyond the level slots */
#define WHERE_OVERFLOW ((uint32_t)(LEVELS * SLOTS))
#define WHERE_DUE ((uint32_t)(LEVELS * SLOTS + 1))
#define WHERE_NEVER ((uint32_t)(LEVELS * SLOTS + 2))
#define WHERE_NONE UINT32_MAX

_Static_assert(SLOTS == 1 << BITS, "slots per level must be 2^bits");
_Static_assert(SLOTS == 64, "occupancy masks are one uint64_t per level");
_Static_assert(BITS * LEVELS < 64, "the wheel span must fit in a tick count");

struct eddy__timers {
    uint64_t now;     /* cached clock (ns); relaxed atomic: read by any thread */
    uint64_t origin;  /* ns of tick 0 */
    uint64_t elapsed; /* last tick processed */
    int64_t offset;   /* running clock: now = CLOCK_MONOTONIC + offset */
    bool paused;
    bool resync;      /* resumed: recompute offset at the next clock read */
    size_t armed;     /* entries linked (slots, overflow, due) */
    uint64_t occupied[LEVELS]; /* bit s: slot s of that level is non-empty */
    eddy__tlink overflow;      /* beyond the top level's current block */
    eddy__tlink due;           /* due, to be woken by the next fire */
    eddy__tlink never;         /* deadline EDDY_INSTANT_NEVER: linked, never due */
    eddy__tlink slot[LEVELS][SLOTS];
    /* ---- multi-thread mode (mt): see "Multi-thread mode" in 0004 ---- */
    bool mt;
    pthread_mutex_t mu;                /* guards everything above but now's reads */
    _Atomic uint64_t sleep_deadline;   /* the driver owner's wake-up instant; UINT64_MAX: nobody sleeps */
    void (*unpark)(void *);            /* ends the owner's driver wait */
    void *unpark_arg;
};

/* ---- small helpers -------------------------------------------------------- */

static uint64_t clock_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * UINT64_C(1000000000) + (uint64_t)ts.tv_nsec;
}

static inline unsigned msb64(uint64_t x) /* x != 0 */
{
#if EDDY_GNU
    return 63u - (unsigned)__builtin_clzll(x);
#else
    unsigned r = 0;
    while (x >>= 1)
        r++;
    return r;
#endif
}

static inline unsigned lsb64(uint64_t x) /* x != 0 */
{
#if EDDY_GNU
    return (unsigned)__builtin_ctzll(x);
#else
    unsigned r = 0;
    while (!(x & 1)) {
        x >>= 1;
        r++;
    }
    return r;
#endif
}

static inline uint64_t sat_add(uint64_t a, uint64_t b) { return a > UINT64_MAX - b ? UINT64_MAX : a + b; }

static inline void list_init(eddy__tlink *h) { h->next = h->prev = h; }
static inline bool list_empty(const eddy__tlink *h) { return h->next == h; }

static inline void list_append(eddy__tlink *h, eddy__tlink *n)
{
    n->prev = h->prev;
    n->next = h;
    h->prev->next = n;
    h->prev = n;
}

void eddy__timer_moved(const char *what)
{
    eddy_misuse(what, "the future moved in memory after it was registered with the timer wheel "
                      "(a timer link's neighbour does not point back at it)");
}

static inline void link_check(const eddy__tlink *n, const char *what)
{
#if EDDY_DEBUG
    if (EDDY_UNLIKELY(n->next->prev != n || n->prev->next != n))
        eddy__timer_moved(what);
#else
    (void)n;
    (void)what;
#endif
}

static inline void list_del(eddy__tlink *n)
{
    link_check(n, "timer");
    n->prev->next = n->next;
    n->next->prev = n->prev;
    n->next = n->prev = NULL;
}

static inline eddy__timer *entry_of(eddy__tlink *l)
{
    return (eddy__timer *)((char *)l - offsetof(eddy__timer, link));
}

/* Tick of a deadline, rounded up (never early). */
static inline uint64_t tick_of(const struct eddy__timers *t, uint64_t deadline)
{
    if (deadline <= t->origin)
        return 0;
    uint64_t d = deadline - t->origin;
    return d / RES + (d % RES != 0);
}

/* Ticks fully reached by `now`, rounded down. */
static inline uint64_t now_tick(const struct eddy__timers *t) { return (t->now - t->origin) / RES; }

/* Start of a tick in ns, saturating. */
static inline uint64_t tick_ns(const struct eddy__timers *t, uint64_t tick)
{
    if (tick > (UINT64_MAX - t->origin) / RES)
        return UINT64_MAX;
    return t->origin + tick * RES;
}

/* ---- placing and unplacing ---------------------------------------------- */

/* Files e (not linked) relative to t->elapsed. */
static void place(struct eddy__timers *t, eddy__timer *e)
{
    if (EDDY_UNLIKELY(e->deadline == UINT64_MAX)) {
        /* Kept linked (a reset can still move it) but outside the wheel,
         * so auto-advance never jumps to the end of time. */
        list_append(&t->never, &e->link);
        e->where = WHERE_NEVER;
        return;
    }
    uint64_t tick = tick_of(t, e->deadline);
    if (tick <= t->elapsed) {
        list_append(&t->due, &e->link);
        e->where = WHERE_DUE;
        return;
    }
    unsigned level = msb64(tick ^ t->elapsed) / BITS;
    if (level >= LEVELS) {
        list_append(&t->overflow, &e->link);
        e->where = WHERE_OVERFLOW;
        return;
    }
    unsigned s = (unsigned)((tick >> (level * BITS)) & SLOT_MASK);
    list_append(&t->slot[level][s], &e->link);
    t->occupied[level] |= UINT64_C(1) << s;
    e->where = (uint32_t)(level * SLOTS + s);
}

/* Unlinks e from whatever list of t holds it, keeping the masks exact. */
static void unplace(struct eddy__timers *t, eddy__timer *e)
{
    list_del(&e->link);
    if (e->where < WHERE_OVERFLOW) {
        unsigned level = e->where / SLOTS, s = e->where % SLOTS;
        if (list_empty(&t->slot[level][s]))
            t->occupied[level] &= ~(UINT64_C(1) << s);
    }
    e->where = WHERE_NONE;
}

/* The next tick at which something happens (a slot to fire or re-file),
 * and which list that is; UINT64_MAX when the levels and overflow are
 * empty. */
static uint64_t next_event(const struct eddy__timers *t, unsigned *level_out, unsigned *slot_out)
{
    *level_out = LEVELS;
    *slot_out = 0;
    for (unsigned l = 0; l < LEVELS; l++) {
        uint64_t m = t->occupied[l];
        if (!m)
            continue;
        unsigned s = lsb64(m);
        unsigned shift = l * BITS;
        uint64_t block = (t->elapsed >> (shift + BITS)) << (shift + BITS);
        uint64_t start = block + ((uint64_t)s << shift);
#if EDDY_DEBUG
        if (start <= t->elapsed)
            eddy_misuse("timer wheel", "internal invariant broken: an occupied slot lies in the past");
#endif
        *level_out = l;
        *slot_out = s;
        return start;
    }
    if (!list_empty(&t->overflow))
        return ((t->elapsed >> (LEVELS * BITS)) + 1) << (LEVELS * BITS);
    return UINT64_MAX;
}

/* Processes every tick up to `to`: entries that become due move to t->due
 * (they are woken by fire), the others cascade to lower levels. */
static void advance_to(struct eddy__timers *t, uint64_t to)
{
    for (;;) {
        unsigned l, s;
        uint64_t at = next_event(t, &l, &s);
        if (at > to)
            break;
        t->elapsed = at;
        eddy__tlink *head;
        if (l < LEVELS) {
            head = &t->slot[l][s];
            t->occupied[l] &= ~(UINT64_C(1) << s);
        } else {
            head = &t->overflow;
        }
        /* Detach the whole list, then re-file each entry. */
        eddy__tlink tmp;
        if (list_empty(head))
            continue;
        link_check(head->next, "timer");
        link_check(head->prev, "timer");
        tmp.next = head->next;
        tmp.prev = head->prev;
        tmp.next->prev = &tmp;
        tmp.prev->next = &tmp;
        list_init(head);
        while (!list_empty(&tmp)) {
            eddy__timer *e = entry_of(tmp.next);
            list_del(&e->link);
            place(t, e);
        }
    }
    if (to > t->elapsed)
        t->elapsed = to;
}

/* ---- scheduler interface ---------------------------------------------------- */

int eddy__timers_new(struct eddy__timers **out, bool paused, bool mt)
{
    if (paused && mt)
        return -ENOTSUP; /* the virtual clock needs the current-thread runtime */
    struct eddy__timers *t = calloc(1, sizeof *t);
    if (!t)
        return -ENOMEM;
    atomic_init(&t->sleep_deadline, UINT64_MAX);
    if (mt) {
        if (pthread_mutex_init(&t->mu, NULL) != 0) {
            free(t);
            return -ENOMEM;
        }
        t->mt = true;
    }
    t->now = clock_ns();
    t->origin = t->now;
    t->paused = paused;
    list_init(&t->overflow);
    list_init(&t->due);
    list_init(&t->never);
    for (unsigned l = 0; l < LEVELS; l++)
        for (unsigned s = 0; s < SLOTS; s++)
            list_init(&t->slot[l][s]);
    *out = t;
    return 0;
}

static void release_list(struct eddy__timers *t, eddy__tlink *head)
{
    while (!list_empty(head)) {
        eddy__timer *e = entry_of(head->next);
        list_del(&e->link);
        e->where = WHERE_NONE;
        e->wheel = NULL;
        t->armed--;
        eddy_waker_drop(&e->waker);
    }
}

void eddy__timers_free(struct eddy__timers *t)
{
    if (!t)
        return;
    for (unsigned l = 0; l < LEVELS; l++)
        for (unsigned s = 0; s < SLOTS; s++)
            release_list(t, &t->slot[l][s]);
    release_list(t, &t->overflow);
    release_list(t, &t->due);
    release_list(t, &t->never);
    if (t->mt)
        pthread_mutex_destroy(&t->mu);
    free(t);
}

static inline void lock(struct eddy__timers *t) { pthread_mutex_lock(&t->mu); }
static inline void unlock(struct eddy__timers *t) { pthread_mutex_unlock(&t->mu); }

static inline void tick_clock(struct eddy__timers *t)
{
    if (t->paused)
        return;
    uint64_t m = clock_ns();
    if (t->resync) {
        t->offset = (int64_t)(t->now - m);
        t->resync = false;
    }
    uint64_t n = (uint64_t)((int64_t)m + t->offset);
    if (n > t->now)
        EDDY__STORE_RELAXED(&t->now, n);
}

/* The single-thread entry points below have no mode test: the scheduler
 * knows its mode and calls the _mt forms (debug builds check). */
static inline void check_st(const struct eddy__timers *t, const char *fn)
{
#if EDDY_DEBUG
    if (EDDY_UNLIKELY(t->mt))
        eddy_misuse(fn, "called on a multi-thread wheel: use the eddy__timers_mt_ form");
#else
    (void)t;
    (void)fn;
#endif
}

void eddy__timers_tick_clock(struct eddy__timers *t)
{
    check_st(t, "eddy__timers_tick_clock");
    tick_clock(t);
}

void eddy__timers_mt_tick_clock(struct eddy__timers *t)
{
    lock(t);
    tick_clock(t);
    unlock(t);
}

/* Multi-thread fire: the due list is moved to a local list under the lock
 * (so the loop is bounded by what was due on entry, however fast other
 * threads insert), then woken in batches with the lock released: a wake
 * only pushes a task to a queue, but it is not the wheel's code.  An entry
 * taken out of the list has its waker moved out and `wheel` cleared (a
 * release store) in the same critical section: that is the instant it
 * fired; a cancel after it finds the entry unlinked and its waker empty. */
#define FIRE_BATCH 32

size_t eddy__timers_mt_fire(struct eddy__timers *t)
{
    eddy__tlink batch;
    size_t n = 0;
    lock(t);
    advance_to(t, now_tick(t));
    if (list_empty(&t->due)) {
        unlock(t);
        return 0;
    }
    batch.next = t->due.next;
    batch.prev = t->due.prev;
    batch.next->prev = &batch;
    batch.prev->next = &batch;
    list_init(&t->due);
    for (;;) {
        eddy_waker ws[FIRE_BATCH];
        unsigned k = 0;
        while (k < FIRE_BATCH && !list_empty(&batch)) {
            eddy__timer *e = entry_of(batch.next);
            list_del(&e->link);
            e->where = WHERE_NONE;
            t->armed--;
            ws[k++] = e->waker;
            e->waker = EDDY_WAKER_EMPTY;
            EDDY__STORE_RELEASE(&e->wheel, (struct eddy__timers *)NULL);
        }
        bool more = !list_empty(&batch);
        unlock(t);
        for (unsigned i = 0; i < k; i++)
            eddy_waker_wake(&ws[i]);
        n += k;
        if (!more)
            return n;
        lock(t); /* a cancel may have emptied the batch meanwhile: re-checked above */
    }
}

size_t eddy__timers_fire(struct eddy__timers *t)
{
    check_st(t, "eddy__timers_fire");
    advance_to(t, now_tick(t));
    size_t n = 0;
    /* One at a time from the head: a wake may (in exotic wakers) cancel or
     * arm other timers, and the list stays consistent between wakes. */
    while (!list_empty(&t->due)) {
        eddy__timer *e = entry_of(t->due.next);
        list_del(&e->link);
        e->where = WHERE_NONE;
        e->wheel = NULL;
        t->armed--;
        eddy_waker w = e->waker;
        e->waker = EDDY_WAKER_EMPTY;
        eddy_waker_wake(&w); /* e is not touched after this */
        n++;
    }
    return n;
}

static inline int64_t next_timeout(struct eddy__timers *t);

int64_t eddy__timers_next_timeout(struct eddy__timers *t)
{
    check_st(t, "eddy__timers_next_timeout");
    return next_timeout(t);
}

static inline int64_t next_timeout(struct eddy__timers *t)
{
    if (!list_empty(&t->due))
        return 0;
    if (t->armed == 0)
        return -1;
    unsigned l, s;
    uint64_t at = next_event(t, &l, &s);
    if (at == UINT64_MAX)
        return -1;
    uint64_t ns = tick_ns(t, at);
    if (ns <= t->now)
        return 0;
    uint64_t d = ns - t->now;
    return d > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)d;
}

bool eddy__timers_paused(const struct eddy__timers *t) { return t->paused; }

bool eddy__timers_auto_advance(struct eddy__timers *t)
{
    if (!t->paused)
        return false;
    advance_to(t, now_tick(t));
    /* Jump from event to event (a cascade is never later than the deadlines
     * it holds) until something is due: now lands exactly on the tick of the
     * earliest deadline. */
    while (list_empty(&t->due)) {
        unsigned l, s;
        uint64_t at = next_event(t, &l, &s);
        if (at == UINT64_MAX)
            return false;
        uint64_t ns = tick_ns(t, at);
        if (ns > t->now)
            EDDY__STORE_RELAXED(&t->now, ns);
        advance_to(t, at);
    }
    return true;
}

/* ---- additions --------------------------------------------------------------- */

uint64_t eddy__timers_now(const struct eddy__timers *t) { return EDDY__LOAD_RELAXED(&t->now); }

uint64_t eddy__timers_deadline_base(const struct eddy__timers *t)
{
    /* mt: paused and resync stay false and offset stays 0 (no virtual
     * clock), so only now is shared, and it is read atomically. */
    uint64_t now = EDDY__LOAD_RELAXED(&t->now);
    if (t->paused || t->resync)
        return now;
    uint64_t n = (uint64_t)((int64_t)clock_ns() + t->offset);
    return n > now ? n : now;
}

void eddy__timers_pause(struct eddy__timers *t) { t->paused = true; }

void eddy__timers_resume(struct eddy__timers *t)
{
    if (!t->paused)
        return;
    t->paused = false;
    t->resync = true;
}

void eddy__timers_advance(struct eddy__timers *t, uint64_t ns)
{
    uint64_t n = sat_add(t->now, ns);
    if (!t->paused && !t->resync) {
        /* A running clock keeps running from the new point. */
        uint64_t room = (uint64_t)INT64_MAX / 2 - (t->offset > 0 ? (uint64_t)t->offset : 0);
        uint64_t d = n - t->now;
        t->offset += (int64_t)(d < room ? d : room);
    }
    EDDY__STORE_RELAXED(&t->now, n);
}

size_t eddy__timers_armed(const struct eddy__timers *t)
{
    if (EDDY_UNLIKELY(t->mt)) {
        struct eddy__timers *m = (struct eddy__timers *)t; /* the lock is not part of the value */
        lock(m);
        size_t n = m->armed;
        unlock(m);
        return n;
    }
    return t->armed;
}

bool eddy__timers_is_mt(const struct eddy__timers *t) { return t->mt; }

void eddy__timers_set_unpark(struct eddy__timers *t, void (*fn)(void *), void *arg)
{
    if (t->mt)
        lock(t);
    t->unpark = fn;
    t->unpark_arg = arg;
    if (t->mt)
        unlock(t);
}

/* Under the lock, after linking an entry with this deadline: true if the
 * driver owner sleeps past it and must be unparked (the caller calls the
 * hook after unlocking).  The sleep deadline drops to UINT64_MAX, so a
 * burst of inserts writes the eventfd once; the owner recomputes its
 * timeout with all of them when it wakes. */
static inline bool must_unpark(struct eddy__timers *t, uint64_t deadline)
{
    if (deadline >= atomic_load_explicit(&t->sleep_deadline, memory_order_relaxed) || !t->unpark)
        return false;
    atomic_store_explicit(&t->sleep_deadline, UINT64_MAX, memory_order_relaxed);
    return true;
}

int64_t eddy__timers_sleep_begin(struct eddy__timers *t, int64_t max_ns)
{
    lock(t);
    tick_clock(t);
    int64_t to = next_timeout(t);
    if (max_ns >= 0 && (to < 0 || to > max_ns))
        to = max_ns;
    if (to != 0) {
        /* Stored under the lock that every insert takes: an insert before
         * this is in `to`, an insert after it sees the deadline. */
        uint64_t end = to < 0 ? UINT64_MAX - 1 : sat_add(t->now, (uint64_t)to);
        atomic_store_explicit(&t->sleep_deadline, end < UINT64_MAX ? end : UINT64_MAX - 1, memory_order_relaxed);
    }
    unlock(t);
    return to;
}

void eddy__timers_sleep_end(struct eddy__timers *t)
{
    atomic_store_explicit(&t->sleep_deadline, UINT64_MAX, memory_order_relaxed);
}

static inline void insert(struct eddy__timers *t, eddy__timer *e)
{
    place(t, e);
    e->wheel = t;
    t->armed++;
}

void eddy__timer_insert(struct eddy__timers *t, eddy__timer *e)
{
    if (EDDY_UNLIKELY(t->mt)) {
        lock(t);
        insert(t, e);
        bool kick = must_unpark(t, e->deadline);
        unlock(t);
        if (kick)
            t->unpark(t->unpark_arg);
        return;
    }
    insert(t, e);
}

/* Unlinks e from t (the caller holds t's lock in mt mode). */
static inline void remove_from(struct eddy__timers *t, eddy__timer *e)
{
    unplace(t, e);
    e->wheel = NULL;
    t->armed--;
}

/* In mt mode an entry's `wheel` is cleared by fire on another thread, so
 * it is read with acquire (pairing with fire's release store: NULL means
 * fire is done with the entry, its waker included), then re-checked under
 * the lock.  Only the task that owns the entry links it, so a NULL cannot
 * turn non-NULL behind the owner's back. */
static EDDY_NOINLINE void remove_mt(struct eddy__timers *t, eddy__timer *e, bool drop_waker)
{
    eddy_waker w = EDDY_WAKER_EMPTY;
    lock(t);
    if (e->wheel == t)
        remove_from(t, e);
    if (drop_waker) {
        w = e->waker;
        e->waker = EDDY_WAKER_EMPTY;
    }
    unlock(t);
    eddy_waker_drop(&w);
}

void eddy__timer_remove(eddy__timer *e)
{
    struct eddy__timers *t = EDDY__LOAD_ACQUIRE(&e->wheel);
    if (!t)
        return;
    if (EDDY_UNLIKELY(t->mt)) {
        remove_mt(t, e, false);
        return;
    }
    remove_from(t, e);
}

void eddy__timer_cancel(eddy__timer *e)
{
    struct eddy__timers *t = EDDY__LOAD_ACQUIRE(&e->wheel);
    if (t && EDDY_UNLIKELY(t->mt)) {
        remove_mt(t, e, true);
        return;
    }
    if (t)
        remove_from(t, e);
    eddy_waker_drop(&e->waker);
}

static EDDY_NOINLINE void arm_mt(struct eddy__timers *t, eddy__timer *e, const eddy_waker *w)
{
    struct eddy__timers *cur = EDDY__LOAD_ACQUIRE(&e->wheel);
    if (cur && cur != t)
        eddy__timer_remove(e); /* linked in another runtime's wheel */
    eddy_waker old = EDDY_WAKER_EMPTY;
    bool kick = false;
    lock(t);
    /* Link and store the waker in one critical section: fire must never
     * find the entry linked with the previous (or no) waker. */
    if (e->wheel != t) {
        insert(t, e);
        kick = must_unpark(t, e->deadline);
    }
    if (!eddy_waker_will_wake(&e->waker, w)) {
        old = e->waker;
        e->waker = eddy_waker_clone(w);
    }
    unlock(t);
    eddy_waker_drop(&old); /* outside the lock: it may free a task */
    if (kick)
        t->unpark(t->unpark_arg);
}

void eddy__timer_arm(struct eddy__timers *t, eddy__timer *e, const eddy_waker *w)
{
    if (EDDY_UNLIKELY(t->mt)) {
        arm_mt(t, e, w);
        return;
    }
    if (e->wheel != t) {
        eddy__timer_remove(e);
        insert(t, e);
    }
    eddy_waker_set(&e->waker, w);
}

static EDDY_NOINLINE void set_deadline_mt(struct eddy__timers *t, eddy__timer *e, uint64_t deadline)
{
    bool kick = false;
    lock(t);
    if (e->wheel != t) {
        e->deadline = deadline; /* fired meanwhile: just keep the value */
    } else if (e->deadline != deadline) {
        e->deadline = deadline;
        unplace(t, e);
        place(t, e);
        kick = must_unpark(t, deadline);
    }
    unlock(t);
    if (kick)
        t->unpark(t->unpark_arg);
}

void eddy__timer_set_deadline(eddy__timer *e, uint64_t deadline)
{
    struct eddy__timers *t = EDDY__LOAD_ACQUIRE(&e->wheel);
    if (t && EDDY_UNLIKELY(t->mt)) {
        set_deadline_mt(t, e, deadline);
        return;
    }
    if (t && e->deadline == deadline)
        return;
    e->deadline = deadline;
    if (t) {
        unplace(t, e);
        place(t, e);
    }
}

#if EDDY_DEBUG
void eddy__timer_check_slow(const eddy__timer *e, const char *what)
{
    struct eddy__timers *t = EDDY__LOAD_ACQUIRE(&e->wheel);
    if (!t)
        return;
    if (t->mt)
        lock(t);
    /* Re-read under the lock: fire may have unlinked it meanwhile. */
    bool bad = e->wheel && (e->link.next->prev != &e->link || e->link.prev->next != &e->link);
    if (t->mt)
        unlock(t);
    if (bad)
        eddy__timer_moved(what);
}
#endif
