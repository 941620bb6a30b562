/* Internal: the blocking pool's lifecycle, used by the runtime. */
#ifndef EDDY_BLOCKING_POOL_H
#define EDDY_BLOCKING_POOL_H

#include "../core/internal.h"

struct eddy__pool;

/* Creates an empty pool (threads start on demand).  0 = defaults: 64
 * threads, 4096 queued jobs, 10 s keep-alive.  Returns 0 or -ENOMEM. */
EDDY_HIDDEN int eddy__pool_new(struct eddy__pool **out, unsigned max_threads, size_t queue_cap, uint64_t keep_alive_ns);

/* Stops accepting jobs, unlinks the queued ones (their futures see
 * -EDDY_ESHUTDOWN), lets running jobs finish on their threads, and drops
 * the runtime's reference: the pool is freed by the last thread or job to
 * let go of it.  Does not wait for running jobs. */
EDDY_HIDDEN void eddy__pool_shutdown(struct eddy__pool *p);

#endif
