/* The epoll backend.  Edge-triggered by default (one event per readiness
 * change, no re-arming syscalls); level-triggered on request. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "driver.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#define EPOLL_BATCH 256

struct epoll_driver {
    struct eddy__driver base;
    int epfd;
    int have_pwait2; /* -1 unknown, 0 no (ENOSYS), 1 yes */
    struct epoll_event evs[EPOLL_BATCH];
};

static uint32_t to_epoll(const struct eddy__io_src *s)
{
    uint32_t ev = 0;
    if (s->interest & EDDY__IO_READ)
        ev |= EPOLLIN | EPOLLRDHUP;
    if (s->interest & EDDY__IO_WRITE)
        ev |= EPOLLOUT;
    if (s->edge)
        ev |= EPOLLET;
    return ev;
}

static int ep_ctl(struct eddy__driver *d, int op, struct eddy__io_src *s)
{
    struct epoll_driver *e = (struct epoll_driver *)d;
    /* mt mode: the event names the driver-owned slot, never the eddy_io */
    struct epoll_event ev = {.events = to_epoll(s), .data.ptr = (s->flags & EDDY__IOF_MT) ? s->drv : (void *)s};
    if (epoll_ctl(e->epfd, op, s->fd, &ev) < 0)
        return -errno;
    return 0;
}

static int ep_add(struct eddy__driver *d, struct eddy__io_src *s) { return ep_ctl(d, EPOLL_CTL_ADD, s); }
static int ep_mod(struct eddy__driver *d, struct eddy__io_src *s) { return ep_ctl(d, EPOLL_CTL_MOD, s); }
static int ep_del(struct eddy__driver *d, struct eddy__io_src *s) { return ep_ctl(d, EPOLL_CTL_DEL, s); }

static inline uint32_t to_bits(uint32_t ev)
{
    uint32_t bits = 0;
    if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR | EPOLLPRI))
        bits |= EDDY__IO_READ;
    if (ev & (EPOLLOUT | EPOLLHUP | EPOLLERR))
        bits |= EDDY__IO_WRITE;
    if (ev & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
        bits |= EDDY__IO_HUP;
    return bits;
}

static void drain_unpark(struct eddy__driver *d)
{
    /* The unpark eventfd: reset its counter so it can fire again. */
    uint64_t v;
    ssize_t r = read(d->unpark_fd, &v, sizeof v);
    (void)r;
}

static int ep_collect(struct epoll_driver *e, int64_t timeout_ns);

/* Multi-thread mode: retired slots are recycled before collecting (see
 * eddy__driver_mt_wait_begin), and events name slots. */
static int ep_wait_mt(struct eddy__driver *d, int64_t timeout_ns)
{
    struct epoll_driver *e = (struct epoll_driver *)d;
    eddy__driver_mt_wait_begin(d);
    int n = ep_collect(e, timeout_ns);
    if (n > 0)
        eddy__driver_mt_acquire(d);
    for (int i = 0; i < n; i++) {
        struct eddy__io_slot *sl = e->evs[i].data.ptr;
        if (!sl)
            drain_unpark(d);
        else
            eddy__io_mt_dispatch(sl, to_bits(e->evs[i].events));
    }
    eddy__driver_mt_wait_end(d);
    return n;
}

static int ep_wait(struct eddy__driver *d, int64_t timeout_ns)
{
    struct epoll_driver *e = (struct epoll_driver *)d;
    int n = ep_collect(e, timeout_ns);
    for (int i = 0; i < n; i++) {
        struct eddy__io_src *s = e->evs[i].data.ptr;
        if (!s) {
            drain_unpark(d);
            continue;
        }
        eddy__io_dispatch(s, to_bits(e->evs[i].events));
    }
    return n;
}

/* Waits for events into e->evs: their count, 0 on EINTR, or -errno. */
static inline int ep_collect(struct epoll_driver *e, int64_t timeout_ns)
{
    int n;
    for (;;) {
        if (timeout_ns > 0 && e->have_pwait2 != 0) {
            struct timespec ts = {.tv_sec = timeout_ns / 1000000000, .tv_nsec = timeout_ns % 1000000000};
            n = epoll_pwait2(e->epfd, e->evs, EPOLL_BATCH, &ts, NULL);
            if (n < 0 && errno == ENOSYS) {
                e->have_pwait2 = 0;
                continue;
            }
            e->have_pwait2 = 1;
        } else {
            /* Round up: a timer must never fire early. */
            int ms = timeout_ns < 0 ? -1 : (int)((timeout_ns + 999999) / 1000000);
            if (timeout_ns > (int64_t)1000000 * 0x7fffffff)
                ms = 0x7fffffff;
            n = epoll_wait(e->epfd, e->evs, EPOLL_BATCH, ms);
        }
        if (n >= 0)
            break;
        if (errno != EINTR)
            return -errno;
        /* A signal: report no events; the caller re-reads the clock and
         * recomputes its timeout, so nothing is early or lost. */
        return 0;
    }
    return n;
}

static void ep_free(struct eddy__driver *d)
{
    struct epoll_driver *e = (struct epoll_driver *)d;
    eddy__driver_mt_fini(d);
    close(e->epfd);
    free(e);
}

static const struct eddy__driver_ops epoll_ops = {
    .name = "epoll",
    .add = ep_add,
    .mod = ep_mod,
    .del = ep_del,
    .wait = ep_wait,
    .free = ep_free,
};

/* Multi-thread mode: its own wait, so the single-thread wait has no mode
 * test at all. */
static const struct eddy__driver_ops epoll_mt_ops = {
    .name = "epoll",
    .add = ep_add,
    .mod = ep_mod,
    .del = ep_del,
    .wait = ep_wait_mt,
    .free = ep_free,
};

EDDY_HIDDEN int eddy__driver_epoll_new(struct eddy__driver **out, int unpark_fd, bool mt);

int eddy__driver_epoll_new(struct eddy__driver **out, int unpark_fd, bool mt)
{
    struct epoll_driver *e = calloc(1, sizeof *e);
    if (!e)
        return -ENOMEM;
    e->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (e->epfd < 0) {
        int err = -errno;
        free(e);
        return err;
    }
    e->have_pwait2 = -1;
    e->base.ops = mt ? &epoll_mt_ops : &epoll_ops;
    if (mt) {
        int err = eddy__driver_mt_init(&e->base);
        if (err < 0) {
            close(e->epfd);
            free(e);
            return err;
        }
    }
    e->base.unpark_fd = unpark_fd;
    if (unpark_fd >= 0) {
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
        if (epoll_ctl(e->epfd, EPOLL_CTL_ADD, unpark_fd, &ev) < 0) {
            int err = -errno;
            eddy__driver_mt_fini(&e->base);
            close(e->epfd);
            free(e);
            return err;
        }
    }
    *out = &e->base;
    return 0;
}
