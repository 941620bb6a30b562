/* Backend selection and the registration helpers shared by all backends. */
#include "driver.h"

#include <errno.h>

EDDY_HIDDEN int eddy__driver_epoll_new(struct eddy__driver **out, int unpark_fd);

int eddy__driver_new(struct eddy__driver **out, int unpark_fd)
{
    /* One backend today.  io_uring slots in here, chosen at run time. */
    return eddy__driver_epoll_new(out, unpark_fd);
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
    s->drv = d;
    s->fresh = 1;
    int r = d->ops->add(d, s);
    if (r < 0) {
        s->registered = 0;
        s->drv = NULL;
        return r;
    }
    s->registered = 1;
    d->sources++;
    return 0;
}

void eddy__io_deregister(struct eddy__io_src *s)
{
    if (!s || !s->registered)
        return;
    struct eddy__driver *d = (struct eddy__driver *)s->drv;
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
    struct eddy__driver *d = (struct eddy__driver *)s->drv;
    s->interest = want;
    (void)d->ops->mod(d, s);
}
