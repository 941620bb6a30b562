/* The blocking pool: threads created on demand (up to a limit), retired
 * after an idle keep-alive, fed by a bounded FIFO of jobs.  A job is one
 * allocation holding the caller's data block; the job and the future
 * that awaits it are tied by a small state machine under the pool lock. */
#include "../core/internal.h"
#include "blocking_pool.h"

#include <eddy/blocking.h>

#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_DATA (64 * 1024)

enum job_state {
    JOB_QUEUED,   /* in the queue, not started */
    JOB_RUNNING,  /* a pool thread runs fn */
    JOB_DONE,     /* fn returned; data holds the results */
    JOB_DETACHED, /* the future was dropped while running: the thread frees it */
};

struct eddy__bjob {
    struct eddy__bjob *next;
    struct eddy__pool *pool; /* each job holds a reference on its pool */
    eddy_blocking_fn fn;
    eddy_blocking_fn discard; /* fn ran but its result will not be delivered */
    enum job_state state;
    eddy_waker waker; /* the awaiting task; under the pool lock */
    size_t size;
    max_align_t data[]; /* the job's copy of the block */
};

struct eddy__pool {
    pthread_mutex_t lock;
    pthread_cond_t work;      /* a job was queued, or shutdown */
    struct eddy__bjob *head, *tail;
    size_t queued, queue_cap;
    unsigned threads, idle, max_threads;
    unsigned refs;            /* the runtime + each live thread */
    uint64_t keep_alive_ns;
    bool shutdown;
    eddy_waker space_waiters[8]; /* tasks waiting for queue space (best effort, see push) */
    unsigned nspace;
};

int eddy__pool_new(struct eddy__pool **out, unsigned max_threads, size_t queue_cap, uint64_t keep_alive_ns)
{
    struct eddy__pool *p = calloc(1, sizeof *p);
    if (!p)
        return -ENOMEM;
    if (pthread_mutex_init(&p->lock, NULL) != 0) {
        free(p);
        return -ENOMEM;
    }
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    int r = pthread_cond_init(&p->work, &ca);
    pthread_condattr_destroy(&ca);
    if (r != 0) {
        pthread_mutex_destroy(&p->lock);
        free(p);
        return -ENOMEM;
    }
    p->max_threads = max_threads ? max_threads : 64;
    p->queue_cap = queue_cap ? queue_cap : 4096;
    p->keep_alive_ns = keep_alive_ns ? keep_alive_ns : 10ull * 1000000000ull;
    p->refs = 1;
    *out = p;
    return 0;
}

static void pool_destroy(struct eddy__pool *p)
{
    pthread_cond_destroy(&p->work);
    pthread_mutex_destroy(&p->lock);
    free(p);
}

/* Frees a job and drops its pool reference.  Called with the lock held;
 * returns true if the pool must be destroyed (after unlocking). */
static bool job_free_locked(struct eddy__bjob *j)
{
    struct eddy__pool *p = j->pool;
    free(j);
    return --p->refs == 0;
}

/* Takes the waiters for queue space; called with the lock held, woken by
 * the caller after unlocking. */
static unsigned take_space_waiters(struct eddy__pool *p, eddy_waker *out)
{
    unsigned n = p->nspace;
    memcpy(out, p->space_waiters, n * sizeof *out);
    p->nspace = 0;
    return n;
}

static void *pool_thread(void *arg)
{
    struct eddy__pool *p = arg;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (!p->head && !p->shutdown) {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            uint64_t ns = (uint64_t)ts.tv_nsec + p->keep_alive_ns;
            ts.tv_sec += (time_t)(ns / 1000000000u);
            ts.tv_nsec = (long)(ns % 1000000000u);
            p->idle++;
            int r = pthread_cond_timedwait(&p->work, &p->lock, &ts);
            p->idle--;
            if (r == ETIMEDOUT && !p->head)
                goto retire; /* idle for the whole keep-alive */
        }
        if (p->shutdown && !p->head)
            goto retire;
        struct eddy__bjob *j = p->head;
        p->head = j->next;
        if (!p->head)
            p->tail = NULL;
        p->queued--;
        j->state = JOB_RUNNING;
        eddy_waker space[8];
        unsigned ns = take_space_waiters(p, space);
        pthread_mutex_unlock(&p->lock);
        for (unsigned i = 0; i < ns; i++)
            eddy_waker_wake(&space[i]);

        j->fn(j->data);

        pthread_mutex_lock(&p->lock);
        if (j->state == JOB_DETACHED) {
            if (j->discard) {
                /* Nobody else touches a detached job: run user code unlocked. */
                pthread_mutex_unlock(&p->lock);
                j->discard(j->data);
                pthread_mutex_lock(&p->lock);
            }
            job_free_locked(j); /* this thread holds a pool reference too */
            continue;
        }
        j->state = JOB_DONE;
        eddy_waker w = j->waker;
        j->waker = EDDY_WAKER_EMPTY;
        pthread_mutex_unlock(&p->lock);
        eddy_waker_wake(&w); /* may be a remote wake: thread-safe by contract */
        pthread_mutex_lock(&p->lock);
    }
retire:
    p->threads--;
    bool last = --p->refs == 0;
    pthread_mutex_unlock(&p->lock);
    if (last)
        pool_destroy(p);
    return NULL;
}

/* Starts one more thread if every thread is busy and the limit allows.
 * Called with the lock held.  Returns false if none runs at all. */
static bool maybe_spawn_thread(struct eddy__pool *p)
{
    if (p->idle >= p->queued || p->threads >= p->max_threads)
        return p->threads > 0;
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&a, 256 * 1024);
    pthread_t tid;
    p->threads++;
    p->refs++;
    /* Pool threads take no signals: they belong to the program's threads. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    if (pthread_create(&tid, &a, pool_thread, p) != 0) {
        p->threads--;
        p->refs--;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&a);
    return p->threads > 0;
}

void eddy__pool_shutdown(struct eddy__pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    p->shutdown = true;
    /* Queued jobs never start: their futures were dropped with their tasks
     * (which freed them), or are held outside the runtime and will see the
     * job still queued when dropped.  Unlink them so threads exit. */
    struct eddy__bjob *j = p->head;
    p->head = p->tail = NULL;
    p->queued = 0;
    while (j) {
        struct eddy__bjob *n = j->next;
        j->next = NULL;
        j->state = JOB_DETACHED; /* owned by its future now (it holds a pool ref) */
        eddy_waker_wake(&j->waker);
        j = n;
    }
    eddy_waker space[8];
    unsigned ns = take_space_waiters(p, space);
    pthread_cond_broadcast(&p->work);
    bool last = --p->refs == 0;
    pthread_mutex_unlock(&p->lock);
    for (unsigned i = 0; i < ns; i++)
        eddy_waker_drop(&space[i]);
    if (last)
        pool_destroy(p);
}

/* ---- the future ---------------------------------------------------------- */

void eddy_blocking_init(eddy_blocking *f, eddy_blocking_fn fn, const void *data, size_t size, void *result)
{
    *f = (eddy_blocking){.fn = fn, .data = data, .size = size, .result = result};
}

void eddy_blocking_ex_init(eddy_blocking *f, eddy_blocking_fn fn, const void *data, size_t size, void *result,
                           const eddy_blocking_opts *opts)
{
    eddy_blocking_init(f, fn, data, size, result);
    if (opts) {
        f->in_size = opts->in_size;
        f->discard = opts->discard;
    }
}

static struct eddy__pool *core_pool(struct eddy__core *c, int *err)
{
    if (!c->pool) {
        int r = eddy__pool_new(&c->pool, c->blocking_threads, c->blocking_queue, 0);
        if (r < 0) {
            *err = r;
            return NULL;
        }
    }
    return c->pool;
}

eddy_poll eddy_blocking_poll(eddy_blocking *f, eddy_cx *cx, int *out)
{
    struct eddy__bjob *j = f->job;
    if (!j) {
        int err = 0;
        if (!f->fn || f->size > MAX_DATA || f->in_size > f->size) {
            err = -EINVAL;
            goto fail;
        }
        struct eddy__core *c = cx->core;
        if (!c) {
            err = -EDDY_ENORUNTIME;
            goto fail;
        }
        struct eddy__pool *p = core_pool(c, &err);
        if (!p)
            goto fail;
        pthread_mutex_lock(&p->lock);
        if (p->shutdown) {
            pthread_mutex_unlock(&p->lock);
            err = -EDDY_ESHUTDOWN;
            goto fail;
        }
        if (p->queued >= p->queue_cap) {
            /* Backpressure: wait for a thread to take a job. */
            bool stored = false;
            for (unsigned i = 0; i < p->nspace; i++)
                if (eddy_waker_will_wake(&p->space_waiters[i], cx->waker))
                    stored = true;
            if (!stored && p->nspace < 8) {
                p->space_waiters[p->nspace++] = eddy_waker_clone(cx->waker);
                stored = true;
            }
            pthread_mutex_unlock(&p->lock);
            if (!stored)
                eddy_waker_wake_by_ref(cx->waker); /* too many waiters: poll again soon */
            return EDDY_PENDING;
        }
        pthread_mutex_unlock(&p->lock);
        j = malloc(sizeof *j + f->size);
        if (!j) {
            err = -ENOMEM;
            goto fail;
        }
        j->next = NULL;
        j->pool = p;
        j->fn = f->fn;
        j->discard = f->discard;
        j->state = JOB_QUEUED;
        j->size = f->size;
        j->waker = eddy_waker_clone(cx->waker);
        size_t in = f->in_size ? f->in_size : f->size;
        if (in)
            memcpy(j->data, f->data, in);
        pthread_mutex_lock(&p->lock);
        if (p->shutdown) {
            pthread_mutex_unlock(&p->lock);
            eddy_waker_drop(&j->waker);
            free(j);
            err = -EDDY_ESHUTDOWN;
            goto fail;
        }
        p->refs++; /* the job's */
        if (p->tail)
            p->tail->next = j;
        else
            p->head = j;
        p->tail = j;
        p->queued++;
        bool runs = maybe_spawn_thread(p);
        if (!runs) {
            /* Not one thread could be started: take the job back (with no
             * thread alive, nothing else can be queued). */
            p->head = p->tail = NULL;
            p->queued = 0;
            eddy_waker w = j->waker;
            j->waker = EDDY_WAKER_EMPTY;
            p->refs--; /* the runtime still holds one: never zero here */
            pthread_mutex_unlock(&p->lock);
            eddy_waker_drop(&w);
            free(j);
            err = -EAGAIN;
            goto fail;
        }
        pthread_cond_signal(&p->work);
        pthread_mutex_unlock(&p->lock);
        f->job = j;
        return EDDY_PENDING;
    fail:
        *out = err;
        return EDDY_READY;
    }
    struct eddy__pool *p = j->pool;
    pthread_mutex_lock(&p->lock);
    if (j->state == JOB_DONE || j->state == JOB_DETACHED) {
        /* DETACHED here means the pool shut down before the job ran. */
        int rc = j->state == JOB_DONE ? 0 : -EDDY_ESHUTDOWN;
        eddy_waker w = j->waker;
        j->waker = EDDY_WAKER_EMPTY;
        /* Only this future reaches a finished job: release its pool
         * reference now, then copy (up to 64 KiB) or discard and free it
         * with the lock released. */
        bool last = --p->refs == 0;
        pthread_mutex_unlock(&p->lock);
        if (rc == 0) {
            if (f->result) {
                if (j->size)
                    memcpy(f->result, j->data, j->size);
            } else if (j->discard) {
                j->discard(j->data); /* nobody takes the result */
            }
        }
        free(j);
        if (last)
            pool_destroy(p);
        eddy_waker_drop(&w);
        f->job = NULL;
        f->fn = NULL;
        *out = rc;
        return EDDY_READY;
    }
    eddy_waker old = EDDY_WAKER_EMPTY;
    if (!eddy_waker_will_wake(&j->waker, cx->waker)) {
        old = j->waker;
        j->waker = eddy_waker_clone(cx->waker);
    }
    pthread_mutex_unlock(&p->lock);
    eddy_waker_drop(&old);
    return EDDY_PENDING;
}

void eddy_blocking_drop(eddy_blocking *f)
{
    struct eddy__bjob *j = f->job;
    if (!j)
        return;
    f->job = NULL;
    struct eddy__pool *p = j->pool;
    bool last = false;
    pthread_mutex_lock(&p->lock);
    eddy_waker w = j->waker;
    j->waker = EDDY_WAKER_EMPTY;
    switch (j->state) {
    case JOB_QUEUED: { /* cancel: unlink it; it never runs */
        struct eddy__bjob **pp = &p->head, *prev = NULL;
        while (*pp && *pp != j) {
            prev = *pp;
            pp = &(*pp)->next;
        }
        if (*pp) {
            *pp = j->next;
            if (p->tail == j)
                p->tail = prev;
            p->queued--;
        }
        last = job_free_locked(j);
        break;
    }
    case JOB_RUNNING: /* detach: the thread frees it when fn returns */
        j->state = JOB_DETACHED;
        break;
    case JOB_DONE:
        if (j->discard) {
            /* Its thread is done with it and its future is going: nobody
             * else can reach it, so user code runs unlocked. */
            pthread_mutex_unlock(&p->lock);
            j->discard(j->data);
            pthread_mutex_lock(&p->lock);
        }
        last = job_free_locked(j);
        break;
    case JOB_DETACHED: /* unlinked by shutdown before it ran */
        last = job_free_locked(j);
        break;
    }
    pthread_mutex_unlock(&p->lock);
    if (last)
        pool_destroy(p);
    eddy_waker_drop(&w);
}

/* ---- getaddrinfo ------------------------------------------------------------ */

#define RESOLVE_MAX 16

struct eddy__resolve_job {
    char host[256];
    int port;
    int err;
    int count;
    eddy_addr addrs[RESOLVE_MAX];
};

static int map_gai(int e)
{
    switch (e) {
    case EAI_NONAME:
#ifdef EAI_NODATA
    case EAI_NODATA:
#endif
        return -ENOENT;
    case EAI_AGAIN:
        return -EAGAIN;
    case EAI_MEMORY:
        return -ENOMEM;
    case EAI_SYSTEM:
        return errno ? -errno : -EIO;
    default:
        return -EINVAL;
    }
}

static void resolve_fn(void *data)
{
    struct eddy__resolve_job *r = data;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_ADDRCONFIG};
    struct addrinfo *res = NULL;
    char port[8];
    snprintf(port, sizeof port, "%d", r->port);
    int e = getaddrinfo(r->host, port, &hints, &res);
    if (e != 0) {
        r->err = map_gai(e);
        return;
    }
    r->count = 0;
    for (struct addrinfo *a = res; a && r->count < RESOLVE_MAX; a = a->ai_next) {
        if (a->ai_addrlen > sizeof r->addrs[0].u)
            continue;
        memcpy(&r->addrs[r->count].u, a->ai_addr, a->ai_addrlen);
        r->addrs[r->count].len = a->ai_addrlen;
        r->count++;
    }
    freeaddrinfo(res);
}

void eddy_resolve_init(eddy_resolve *f, const char *host, int port, eddy_addr *addrs, size_t max)
{
    memset(f, 0, sizeof *f);
    f->addrs = addrs;
    f->max = max;
    f->req = malloc(sizeof *f->req);
    if (!f->req)
        return; /* reported by the first poll */
    memset(f->req, 0, sizeof *f->req);
    f->req->err = (!host || strlen(host) >= sizeof f->req->host || port < 0 || port > 65535 || !addrs) ? -EINVAL : 0;
    if (!f->req->err)
        strcpy(f->req->host, host);
    f->req->port = port;
    eddy_blocking_init(&f->bl, resolve_fn, f->req, sizeof *f->req, f->req);
}

eddy_poll eddy_resolve_poll(eddy_resolve *f, eddy_cx *cx, int *out)
{
    if (!f->req) {
        *out = -ENOMEM;
        return EDDY_READY;
    }
    if (f->req->err && !f->bl.job) {
        *out = f->req->err;
        free(f->req);
        f->req = NULL;
        return EDDY_READY;
    }
    int rc = 0;
    if (eddy_blocking_poll(&f->bl, cx, &rc) == EDDY_PENDING)
        return EDDY_PENDING;
    struct eddy__resolve_job *r = f->req;
    f->req = NULL;
    if (rc < 0) {
        *out = rc;
    } else if (r->err) {
        *out = r->err;
    } else {
        size_t n = (size_t)r->count < f->max ? (size_t)r->count : f->max;
        memcpy(f->addrs, r->addrs, n * sizeof *f->addrs);
        *out = (int)n;
    }
    free(r);
    return EDDY_READY;
}

void eddy_resolve_drop(eddy_resolve *f)
{
    eddy_blocking_drop(&f->bl);
    free(f->req);
    f->req = NULL;
}
