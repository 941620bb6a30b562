/* Backend selection and the registration helpers shared by all backends.
 * Multi-thread mode (slots, readiness ticks): docs/design/0005-io-driver.md. */
#include "driver.h"

#include <errno.h>
#include <stdlib.h>

EDDY_HIDDEN int eddy__driver_epoll_new(struct eddy__driver **out, int unpark_fd, bool mt);
EDDY_HIDDEN int eddy__driver_uring_new(struct eddy__driver **out, int unpark_fd);

/* ---- multi-thread state ------------------------------------------------ */

#define SLOTS_PER_CHUNK 63

struct eddy__slot_chunk {
    struct eddy__slot_chunk *next;
    struct eddy__io_slot slot[SLOTS_PER_CHUNK];
};

int eddy__driver_mt_init(struct eddy__driver *d)
{
    if (pthread_mutex_init(&d->slots_mu, NULL) != 0)
        return -ENOMEM;
    atomic_init(&d->in_wait, false);
    d->free_slots = d->retired = NULL;
    d->chunks = NULL;
    d->mt = true;
    return 0;
}

void eddy__driver_mt_fini(struct eddy__driver *d)
{
    if (!d->mt)
        return;
    struct eddy__slot_chunk *c = d->chunks;
    while (c) {
        struct eddy__slot_chunk *n = c->next;
        free(c);
        c = n;
    }
    d->chunks = NULL;
    pthread_mutex_destroy(&d->slots_mu);
}

int eddy__driver_new(struct eddy__driver **out, int unpark_fd, bool mt, bool uring)
{
    /* io_uring on request, single-thread only; whatever stops it (an old
     * kernel, a sysctl, a seccomp filter, a locked-memory limit) leaves
     * epoll, which every supported kernel has. */
    if (uring && !mt && eddy__driver_uring_new(out, unpark_fd) == 0)
        return 0;
    return eddy__driver_epoll_new(out, unpark_fd, mt);
}

static struct eddy__io_slot *slot_alloc(struct eddy__driver *d)
{
    pthread_mutex_lock(&d->slots_mu);
    if (!d->free_slots) {
        struct eddy__slot_chunk *c = malloc(sizeof *c);
        if (!c) {
            pthread_mutex_unlock(&d->slots_mu);
            return NULL;
        }
        c->next = d->chunks;
        d->chunks = c;
        for (int i = SLOTS_PER_CHUNK - 1; i >= 0; i--) {
            atomic_init(&c->slot[i].lock, 0u);
            c->slot[i].io = NULL;
            c->slot[i].drv = d;
            c->slot[i].next = d->free_slots;
            d->free_slots = &c->slot[i];
        }
    }
    struct eddy__io_slot *sl = d->free_slots;
    d->free_slots = sl->next;
    sl->next = NULL;
    pthread_mutex_unlock(&d->slots_mu);
    return sl;
}

/* A slot that may still be named by an event in the batch being dispatched
 * goes to the retired list; the free list gets it at the next wait. */
static void slot_put(struct eddy__driver *d, struct eddy__io_slot *sl, bool retire)
{
    pthread_mutex_lock(&d->slots_mu);
    struct eddy__io_slot **list = retire ? &d->retired : &d->free_slots;
    sl->next = *list;
    *list = sl;
    pthread_mutex_unlock(&d->slots_mu);
}

/* Start of a wait (the backend calls it before collecting events): the
 * previous batch was fully dispatched by this same call chain, and every
 * retired slot's descriptor left the epoll set (EPOLL_CTL_DEL returned)
 * before it was retired, so no event collected from here on can name a
 * retired slot: they are free. */
void eddy__driver_mt_wait_begin(struct eddy__driver *d)
{
#if EDDY_DEBUG
    if (atomic_exchange_explicit(&d->in_wait, true, memory_order_acquire))
        eddy_misuse("I/O driver", "two threads called wait at the same time (the scheduler must serialise it)");
#endif
    pthread_mutex_lock(&d->slots_mu);
    struct eddy__io_slot *r = d->retired;
    while (r) {
        struct eddy__io_slot *n = r->next;
        r->next = d->free_slots;
        d->free_slots = r;
        r = n;
    }
    d->retired = NULL;
    pthread_mutex_unlock(&d->slots_mu);
}

/* After collecting events, before dispatching them: every slot an event
 * names was allocated (under slots_mu) before its EPOLL_CTL_ADD, which the
 * kernel ordered before this collection.  C11 knows nothing of that order,
 * so take slots_mu once to make the slot's initialisation happen-before
 * the dispatch's first access (ThreadSanitizer checks an atomic's first
 * access before applying its acquire, and would report it otherwise). */
void eddy__driver_mt_acquire(struct eddy__driver *d)
{
    pthread_mutex_lock(&d->slots_mu);
    pthread_mutex_unlock(&d->slots_mu);
}

void eddy__driver_mt_wait_end(struct eddy__driver *d)
{
#if EDDY_DEBUG
    atomic_store_explicit(&d->in_wait, false, memory_order_release);
#else
    (void)d;
#endif
}

/* ---- registration --------------------------------------------------------- */

static inline struct eddy__driver *io_driver(const struct eddy__io_src *s)
{
    if (s->flags & EDDY__IOF_MT)
        return ((struct eddy__io_slot *)s->drv)->drv;
    if (s->flags & EDDY__IOF_URING) /* drv: the backend's registration, which starts with it */
        return *(struct eddy__driver *const *)s->drv;
    return (struct eddy__driver *)s->drv;
}

int eddy__io_register(struct eddy__driver *d, struct eddy__io_src *s, int fd, uint32_t interest, bool edge)
{
    if (!d || !s || fd < 0 || !(interest & (EDDY__IO_READ | EDDY__IO_WRITE)))
        return -EINVAL;
    s->fd = fd;
    s->ready = 0;
    /* Edge-triggered: armed for good.  Level-triggered: armed only for the
     * directions somebody waits on (eddy__io_arm), else an always-writable
     * socket would make every epoll_wait return at once. */
    s->interest = edge ? interest : 0;
    s->edge = edge ? 1 : 0;
    s->rd = EDDY_WAKER_EMPTY;
    s->wr = EDDY_WAKER_EMPTY;
    s->fresh = 1;
    if (EDDY_UNLIKELY(d->mt)) {
        struct eddy__io_slot *sl = slot_alloc(d);
        if (!sl) {
            s->registered = 0;
            s->drv = NULL;
            return -ENOMEM;
        }
        s->drv = sl;
        s->flags = (uint8_t)((s->flags & (uint8_t)~(EDDY__IOF_RING | EDDY__IOF_URING)) | EDDY__IOF_MT);
        /* Publish the initialised eddy_io to the driver owner: it reads it
         * only after taking this lock. */
        eddy__spin_lock(&sl->lock);
        sl->io = s;
        eddy__spin_unlock(&sl->lock);
        int r = d->ops->add(d, s);
        if (r < 0) {
            eddy__spin_lock(&sl->lock);
            sl->io = NULL;
            eddy__spin_unlock(&sl->lock);
            slot_put(d, sl, false); /* never in the epoll set */
            s->flags &= (uint8_t)~EDDY__IOF_MT;
            s->registered = 0;
            s->drv = NULL;
            return r;
        }
        s->registered = 1;
        EDDY__ADD_RELAXED(&d->sources, 1);
        return 0;
    }
    s->flags &= (uint8_t)~(EDDY__IOF_MT | EDDY__IOF_URING);
    s->drv = d;
    int r = d->ops->add(d, s);
    if (r < 0) {
        s->flags &= (uint8_t)~(EDDY__IOF_RING | EDDY__IOF_URING);
        s->registered = 0;
        s->drv = NULL;
        return r;
    }
    if (!(s->flags & EDDY__IOF_URING))
        s->flags &= (uint8_t)~EDDY__IOF_RING; /* only io_uring has a ring mode */
    s->registered = 1;
    d->sources++;
    return 0;
}

void eddy__io_deregister(struct eddy__io_src *s)
{
    if (!s || !s->registered)
        return;
    if (EDDY_UNLIKELY(s->flags & EDDY__IOF_MT)) {
        struct eddy__io_slot *sl = s->drv;
        struct eddy__driver *d = sl->drv;
        /* After this the driver owner no longer touches s: a dispatch that
         * already holds the lock finishes first, a later one finds NULL. */
        eddy__spin_lock(&sl->lock);
        sl->io = NULL;
        eddy_waker rd = s->rd, wr = s->wr;
        s->rd = s->wr = EDDY_WAKER_EMPTY;
        eddy__spin_unlock(&sl->lock);
        (void)d->ops->del(d, s);
        slot_put(d, sl, true);
        EDDY__ADD_RELAXED(&d->sources, -1);
        s->registered = 0;
        s->drv = NULL;
        s->flags &= (uint8_t)~EDDY__IOF_MT;
        eddy_waker_drop(&rd);
        eddy_waker_drop(&wr);
        return;
    }
    struct eddy__driver *d = io_driver(s);
    (void)d->ops->del(d, s);
    d->sources--;
    s->registered = 0;
    eddy_waker_drop(&s->rd);
    eddy_waker_drop(&s->wr);
}

void eddy__io_rearm(struct eddy__io_src *s, uint32_t want)
{
    if (!s->registered || want == s->interest)
        return;
    struct eddy__driver *d = io_driver(s);
    s->interest = want;
    (void)d->ops->mod(d, s);
}

/* ---- the multi-thread steps ------------------------------------------------ */

void eddy__io_mt_clear(struct eddy__io_src *s, uint32_t dir, uint32_t snap)
{
    struct eddy__io_slot *sl = s->drv;
    eddy__spin_lock(&sl->lock);
    uint32_t r = s->ready;
    /* Same tick: no dispatch since the snapshot, the EAGAIN is current. */
    if (((r ^ snap) & EDDY__IO_TICK_MASK) == 0)
        EDDY__STORE_RELAXED(&s->ready, r & ~dir);
    EDDY__STORE_RELAXED(&s->fresh, (uint8_t)0);
    eddy__spin_unlock(&sl->lock);
}

eddy_poll eddy__io_mt_wait_for(struct eddy__io_src *s, uint32_t dir, uint8_t *waiting, eddy_cx *cx)
{
    struct eddy__io_slot *sl = s->drv;
    eddy_waker *slot_w = dir == EDDY__IO_READ ? &s->rd : &s->wr;
    eddy_waker old = EDDY_WAKER_EMPTY;
    *waiting = 1;
    eddy__spin_lock(&sl->lock);
    if (s->ready & dir) {
        /* An edge came in after the caller looked: sleeping now would
         * miss it.  Poll again instead (a stale waker left in the slot by
         * an earlier PENDING costs at most a spurious wake). */
        eddy__spin_unlock(&sl->lock);
        eddy_waker_wake_by_ref(cx->waker);
        return EDDY_PENDING;
    }
    if (!eddy_waker_will_wake(slot_w, cx->waker)) {
        old = *slot_w;
        *slot_w = eddy_waker_clone(cx->waker);
    }
    eddy__io_arm(s, dir);
    eddy__spin_unlock(&sl->lock);
    eddy_waker_drop(&old); /* outside the lock: it may free a task */
    return EDDY_PENDING;
}

void eddy__io_mt_unwait(struct eddy__io_src *s, uint32_t dir)
{
    struct eddy__io_slot *sl = s->drv;
    eddy_waker *slot_w = dir == EDDY__IO_READ ? &s->rd : &s->wr;
    eddy__spin_lock(&sl->lock);
    eddy_waker w = *slot_w;
    *slot_w = EDDY_WAKER_EMPTY;
    eddy__spin_unlock(&sl->lock);
    eddy_waker_drop(&w);
}

void eddy__io_mt_dispatch(struct eddy__io_slot *sl, uint32_t bits)
{
    eddy_waker rd = EDDY_WAKER_EMPTY, wr = EDDY_WAKER_EMPTY;
    eddy__spin_lock(&sl->lock);
    struct eddy__io_src *s = sl->io;
    if (s) {
        /* bits live in the low byte, so adding the tick never carries into
         * them; the tick itself wraps. */
        EDDY__STORE_RELAXED(&s->ready, (s->ready | bits) + EDDY__IO_TICK);
        if (bits & EDDY__IO_READ) {
            rd = s->rd;
            s->rd = EDDY_WAKER_EMPTY;
        }
        if (bits & EDDY__IO_WRITE) {
            wr = s->wr;
            s->wr = EDDY_WAKER_EMPTY;
        }
        if (EDDY_UNLIKELY(!s->edge)) {
            uint32_t want = (s->rd.vtable ? EDDY__IO_READ : 0u) | (s->wr.vtable ? EDDY__IO_WRITE : 0u);
            if (want != s->interest)
                eddy__io_rearm(s, want);
        }
    }
    eddy__spin_unlock(&sl->lock);
    /* Outside the lock: a wake only pushes the task to a queue, but it is
     * someone else's code and must not extend the critical section. */
    eddy_waker_wake(&rd);
    eddy_waker_wake(&wr);
}
