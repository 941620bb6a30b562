/* Internal: the current-thread scheduler.  See
 * docs/design/0003-task-and-scheduler.md for the protocol. */
#ifndef EDDY_CT_H
#define EDDY_CT_H

#include "../core/internal.h"

/* The part of a scheduler that other threads may touch, and that outlives
 * the runtime while any task or waker still points at it. */
struct eddy__shared {
    struct eddy__sh_hdr hdr; /* mt = false */
    /* Treiber stack of tasks woken (or spawned) from other threads; the
     * runtime takes the whole stack at once.  EDDY__CLOSED after shutdown. */
    _Atomic(struct eddy__task *) remote;
    atomic_int parked;      /* the runtime sleeps (or is about to) in the driver */
    atomic_int unpark_sent; /* an eventfd write is in flight */
    atomic_int main_woken;  /* block_on's future was woken from another thread */
    /* Lifetime: BIAS while the runtime lives, minus frees and plus waker
     * clones that happen off its thread.  At shutdown the runtime adds the
     * tasks it still accounts for and removes BIAS; whoever brings it to
     * zero frees this struct.  No atomic on the spawn path. */
    atomic_long balance;
    int evfd;
};

#define EDDY__CLOSED ((struct eddy__task *)(uintptr_t)1)
#define EDDY__BIAS (1L << 40)

struct eddy__ct {
    struct eddy__core core;
    struct eddy__shared *sh;

    /* run queue: ring of task pointers, capacity >= tasks alive, so a push
     * never allocates and a wake can never fail */
    struct eddy__task **ring;
    size_t cap, head, tail; /* head/tail count up; index with & (cap-1) */
    /* The ring position at the end of the last driver turn: tasks before it
     * were woken by that turn (or earlier).  A busy runtime looks at the
     * driver again only once they have all run, so a ring full of fresh I/O
     * work costs no extra epoll_wait (see block_on). */
    size_t gen_end;

    struct eddy__task *owned;     /* every adopted task that has not ended */
    struct eddy__task *backlog;   /* remote spawns waiting for ring space */
    size_t live;                  /* adopted tasks not ended */
    uint64_t adopted, local_freed;

    bool main_notified;
    bool clock_fresh; /* the last clock reading was taken after sleeping and no task ran since */
    bool shutting_down;
    atomic_int driving;           /* a thread is inside block_on */
    unsigned event_interval;
    int slow_poll_ms;

    /* Task blocks freed on this thread, kept for reuse by size class (64-byte
     * steps up to 1 KiB, at most 512 KiB in all): spawn then costs no malloc
     * in steady state.  Blocks from other threads go back to malloc. */
    struct eddy__task *cache[16];
    size_t cache_bytes;

    eddy_rt_stats st;
};

#define EDDY__CACHE_CLASSES 16
#define EDDY__CACHE_MAX (512u * 1024u)

struct eddy__mt;

struct eddy_rt {
    eddy_rt_flavor flavor;
    struct eddy__mt *mt; /* the multi-thread scheduler, or NULL */
    struct eddy__ct ct;  /* the current-thread one (unused when mt) */
};

#endif
