/* eddy/blocking.h - running blocking work off the runtime's threads.
 *
 * A poll must never block.  Work that does (a DNS lookup, a file read, a
 * CPU-heavy computation, a library with a synchronous API) goes to the
 * runtime's blocking pool: a bounded set of threads, created on demand and
 * retired after an idle keep-alive, fed by a bounded queue.  The awaiting
 * task sleeps, using no thread, until the work is done.
 *
 *     struct job { const char *path; long bytes; };   // inputs and outputs
 *     static void count_bytes(void *p) { struct job *j = p; j->bytes = ...; }
 *
 *     EDDY_AWAIT(&t->rc, eddy_blocking, &t->bl, count_bytes,
 *                &(struct job){ .path = t->path }, sizeof(struct job), &t->result);
 *
 * Ownership: the data block is copied into the job when it is queued, so
 * the job owns its copy; the function reads its inputs from it and writes
 * its results into it; on completion the block is copied to `result`.  A
 * future dropped while its job waits in the queue cancels the job; dropped
 * while the job runs, it detaches: the job finishes on its thread, its
 * result is discarded, and nothing is leaked or written to freed memory.
 */
#ifndef EDDY_BLOCKING_H
#define EDDY_BLOCKING_H

#include <eddy/future.h>
#include <eddy/net.h>

EDDY_BEGIN_DECLS

/* Runs on a pool thread; may block.  data is the job's copy of the block. */
typedef void (*eddy_blocking_fn)(void *data);

struct eddy__bjob;

/* Output: int, 0 when fn has run and the block was copied to result;
 * -ENOMEM (no memory for the job), -EAGAIN (no thread could be started and
 * none is running), -EDDY_ESHUTDOWN (the runtime is shutting down),
 * -EDDY_ENORUNTIME (polled outside a runtime), -EINVAL (size too large:
 * over 64 KiB, fn NULL, or an in_size over size).  While the queue is full the future waits
 * (backpressure) instead of failing. */
typedef struct eddy_blocking {
    eddy_blocking_fn fn;
    const void *data;
    size_t size;
    void *result;
    struct eddy__bjob *job;
    size_t in_size;           /* see eddy_blocking_opts */
    eddy_blocking_fn discard; /* see eddy_blocking_opts */
} eddy_blocking;

/* Prepares the call; copies nothing yet (data must stay valid until the
 * first poll, which copies it). */
EDDY_API void eddy_blocking_init(eddy_blocking *f, eddy_blocking_fn fn, const void *data, size_t size, void *result);

/* What eddy_blocking_ex adds to eddy_blocking.
 *
 * in_size: only the first in_size bytes of data are copied into the job
 * (0: all size bytes); the rest of the job's block is uninitialised when fn
 * starts, and fn fills it.  For a block whose tail is output only (a read
 * buffer), this saves copying it in.  in_size > size is -EINVAL.
 *
 * discard: called with the job's block when fn has run but the block will
 * never reach result: the future was dropped while fn ran (then discard
 * runs on the pool thread right after fn), or after fn ended but before the
 * poll that would have copied the block out (then inside
 * eddy_blocking_drop), or result is NULL (then inside the poll that
 * returns READY).  It releases what fn acquired, such as a descriptor it
 * opened, which would otherwise leak with the discarded block.  Never
 * called for a job that did not run (cancelled while queued, or the pool
 * shut down first) or whose block was copied to result. */
typedef struct eddy_blocking_opts {
    size_t in_size;
    eddy_blocking_fn discard;
} eddy_blocking_opts;

/* eddy_blocking_init with options (opts may be NULL: the same as
 * eddy_blocking_init; it is read now and not kept).  Await it as
 * eddy_blocking_ex:
 *
 *     EDDY_AWAIT(&t->rc, eddy_blocking_ex, &t->bl, open_fn, &t->job, sizeof t->job, &t->job,
 *                &(eddy_blocking_opts){.discard = close_opened});
 */
EDDY_API void eddy_blocking_ex_init(eddy_blocking *f, eddy_blocking_fn fn, const void *data, size_t size, void *result,
                                    const eddy_blocking_opts *opts);
#define eddy_blocking_ex_poll eddy_blocking_poll
#define eddy_blocking_ex_drop eddy_blocking_drop
/* The first poll copies the data block into a job and queues it (PENDING;
 * while the queue is full it waits for room); READY once fn has run and the
 * block was copied to result, with *out = 0, or at once with one of the
 * errors listed above (nothing was queued then). */
EDDY_API eddy_poll eddy_blocking_poll(eddy_blocking *f, eddy_cx *cx, int *out);
/* Cancels a queued job or detaches a running one (see above). */
EDDY_API void eddy_blocking_drop(eddy_blocking *f);

/* ---- name resolution ------------------------------------------------------
 * getaddrinfo on the blocking pool.  Output: the number of addresses
 * stored in addrs (at most max), or a negative error: -ENOENT (name not
 * found), -EAGAIN (temporary failure), -EINVAL (bad arguments), -ENOMEM, or
 * the pool's errors above.  host: a name or numeric address (at most 255
 * bytes); port: 0-65535. */
typedef struct eddy_resolve {
    eddy_blocking bl;
    struct eddy__resolve_job *req;
    eddy_addr *addrs;
    size_t max;
} eddy_resolve;

/* Prepares the lookup.  host is copied now (the caller keeps its string);
 * addrs (room for max addresses) belongs to the caller and must stay valid
 * until the future is READY or dropped.  Bad arguments and an allocation
 * failure are reported by the first poll (-EINVAL, -ENOMEM); init itself
 * cannot fail.  Every initialised future must be dropped. */
EDDY_API void eddy_resolve_init(eddy_resolve *f, const char *host, int port, eddy_addr *addrs, size_t max);
/* READY with *out = the number of addresses stored, or a negative error as
 * listed above; PENDING while getaddrinfo runs on the blocking pool. */
EDDY_API eddy_poll eddy_resolve_poll(eddy_resolve *f, eddy_cx *cx, int *out);
/* Releases what init allocated; a lookup still running is detached (its
 * result is discarded, addrs is not written after this returns). */
EDDY_API void eddy_resolve_drop(eddy_resolve *f);

EDDY_END_DECLS

#endif
