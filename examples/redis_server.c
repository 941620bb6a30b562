/* redis_server - a RESP2 server on eddy that redis-cli and redis-benchmark
 * talk to: strings with expiry, counters, and pub/sub.
 *
 *     redis_server --port P [--threads N] [--io epoll|io_uring] [--addr A] [--max-output BYTES]
 *
 * Prints "listening on A:P" once bound (--port 0 picks a free port), serves
 * until SIGINT/SIGTERM.  --threads N > 1 asks for the multi-thread runtime.
 * --max-output bounds what a subscriber may have queued and unwritten
 * (default 8 MiB, Redis's pubsub soft limit); past it the subscriber is
 * disconnected.
 *
 * Commands: PING ECHO GET SET(NX XX GET EX PX EXAT PXAT KEEPTTL) DEL EXISTS
 * INCR DECR INCRBY DECRBY MGET MSET EXPIRE TTL PTTL DBSIZE FLUSHALL SELECT
 * PUBLISH SUBSCRIBE UNSUBSCRIBE QUIT COMMAND CONFIG GET; replies and error
 * texts as Redis 7.0 gives them.
 *
 * The shape is echo_server's: a task per connection, and the root and
 * listener tasks of server_common.h, with the expiry sweep as the root's
 * side task.  A connection reads into its own buffer, parses every
 * complete command in place (arguments are offsets into the buffer:
 * nothing is copied or allocated per request), appends every reply to one
 * output buffer, and writes that once per batch.
 * The parser is resumable: a command split over many reads is not parsed
 * again from its start, and no buffer is sized from a length the client
 * merely announced (a "$536870912" header allocates nothing; the buffer
 * grows by doubling as bytes really arrive).
 *
 * Threads.  Tasks may run on several workers (EDDY_RT_MULTI_THREAD), so
 * everything shared is locked: the keyspace is split into SHARDS hash
 * tables, each under its own pthread mutex (a command holds one for a few
 * hundred nanoseconds and never across an await, so an async mutex would
 * only add cost); multi-key commands lock the shards they touch in index
 * order, which keeps MSET/MGET atomic without deadlock.  A connection's
 * eddy_io is touched only by its own task.
 *
 * Pub/sub.  Each subscriber has a mailbox: a byte buffer under a mutex,
 * plus the waker of its connection task.  PUBLISH formats the message
 * straight into each subscriber's mailbox and wakes it; it never waits.
 * If the mailbox plus what the subscriber has taken but not yet written
 * would exceed --max-output, the subscriber is marked dead and woken, and
 * its task closes the connection.  Why not eddy's broadcast channel: its
 * capacity counts messages, not bytes, so it cannot express an output
 * limit in bytes, and the message would have to be allocated once per
 * publish and reference-counted per receiver; a byte mailbox gives the
 * limit exactly, costs one memcpy per receiver, and keeps the exact Redis
 * framing ready to write.
 */
#include <eddy.h>

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "server_common.h"

#define IN_INITIAL 16384
#define OUT_INITIAL 16384
#define OUT_SOFT (1u << 20)                  /* write before running more commands */
#define BUF_KEEP 65536                        /* larger idle buffers shrink back */
#define QUERY_MAX ((size_t)1 << 30)           /* Redis's client-query-buffer-limit */
#define BULK_MAX (512LL * 1024 * 1024)        /* Redis's proto-max-bulk-len */
#define MULTIBULK_MAX (1024LL * 1024)
#define INLINE_MAX (64 * 1024)                /* Redis's PROTO_INLINE_MAX_SIZE */
/* Enough shards that workers rarely meet on one lock; few enough that a
 * command taking all of them (FLUSHALL, DBSIZE) stays under
 * ThreadSanitizer's limit of 64 locks held at once. */
#define SHARDS 32

static size_t max_output = (size_t)8 << 20;

/* ---- small helpers ------------------------------------------------------ */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Strict decimal parse as Redis's string2ll: optional '-', no '+', no
 * spaces, no leading zeros, fits in a long long. */
static bool str2ll(const char *s, size_t n, long long *out)
{
    if (n == 0 || n > 20)
        return false;
    if (n == 1 && s[0] == '0') {
        *out = 0;
        return true;
    }
    bool neg = false;
    size_t i = 0;
    if (s[0] == '-') {
        neg = true;
        i = 1;
        if (n == 1)
            return false;
    }
    if (s[i] < '1' || s[i] > '9')
        return false;
    unsigned long long v = 0;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (ULLONG_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    if (neg) {
        if (v > (unsigned long long)LLONG_MAX + 1)
            return false;
        *out = v == (unsigned long long)LLONG_MAX + 1 ? LLONG_MIN : -(long long)v;
    } else {
        if (v > (unsigned long long)LLONG_MAX)
            return false;
        *out = (long long)v;
    }
    return true;
}

static int ll2str(char *dst, long long v)
{
    char tmp[24];
    int n = 0;
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    int len = 0;
    if (v < 0)
        dst[len++] = '-';
    while (n)
        dst[len++] = tmp[--n];
    return len;
}

static bool eqi(const char *a, size_t alen, const char *lit)
{
    size_t n = strlen(lit);
    return alen == n && strncasecmp(a, lit, n) == 0;
}

static uint64_t hash_seed;

/* A seeded multiply-mix hash over 8-byte words: keys come from clients, so
 * the seed keeps chains from being chosen by them. */
static uint64_t hash_bytes(const char *p, size_t n)
{
    uint64_t h = hash_seed ^ (n * 0x9E3779B97F4A7C15ULL);
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ w) * 0xBF58476D1CE4E5B9ULL;
        h ^= h >> 31;
        p += 8;
        n -= 8;
    }
    uint64_t w = 0;
    memcpy(&w, p, n);
    h = (h ^ w) * 0x94D049BB133111EBULL;
    h ^= h >> 29;
    h *= 0xBF58476D1CE4E5B9ULL;
    h ^= h >> 32;
    return h;
}

static _Thread_local uint64_t rng_state;

static uint64_t rng_next(void)
{
    if (!rng_state)
        rng_state = hash_seed | 1;
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return rng_state = x;
}

/* ---- the keyspace --------------------------------------------------------- */

struct ent {
    struct ent *next;
    uint64_t h;
    int64_t exp;              /* unix ms; 0: no expiry */
    uint32_t klen, vlen, vcap;
    char kv[];                /* key, then value (vcap bytes) */
};

struct shard {
    pthread_mutex_t mu;
    struct ent **b;
    size_t mask;              /* buckets - 1 */
    size_t count;
    size_t nexp;              /* entries with an expiry: the sweep skips shards without */
} __attribute__((aligned(64)));

static struct shard shards[SHARDS];

static inline char *ent_val(struct ent *e) { return e->kv + e->klen; }
static inline unsigned shard_of(uint64_t h) { return (unsigned)(h >> 56) % SHARDS; }

static bool keyspace_init(void)
{
    for (unsigned i = 0; i < SHARDS; i++) {
        pthread_mutex_init(&shards[i].mu, NULL);
        shards[i].b = calloc(16, sizeof *shards[i].b);
        if (!shards[i].b)
            return false;
        shards[i].mask = 15;
    }
    return true;
}

static void shard_clear(struct shard *s)
{
    for (size_t i = 0; i <= s->mask; i++) {
        struct ent *e = s->b[i];
        while (e) {
            struct ent *n = e->next;
            free(e);
            e = n;
        }
        s->b[i] = NULL;
    }
    s->count = 0;
    s->nexp = 0;
}

static void keyspace_free(void)
{
    for (unsigned i = 0; i < SHARDS; i++) {
        if (shards[i].b)
            shard_clear(&shards[i]);
        free(shards[i].b);
        shards[i].b = NULL;
        pthread_mutex_destroy(&shards[i].mu);
    }
}

static void ent_unlink(struct shard *s, struct ent **link)
{
    struct ent *e = *link;
    *link = e->next;
    s->count--;
    if (e->exp)
        s->nexp--;
    free(e);
}

/* Finds the link pointing at key's entry (or at the NULL ending its chain).
 * An expired entry is deleted on the way: expiry is lazy on every access. */
static struct ent **shard_find(struct shard *s, const char *k, size_t klen, uint64_t h)
{
    struct ent **link = &s->b[h & s->mask];
    for (struct ent *e; (e = *link); link = &e->next) {
        if (e->h == h && e->klen == klen && memcmp(e->kv, k, klen) == 0) {
            if (!e->exp || e->exp > now_ms())
                return link;
            ent_unlink(s, link);
            /* keys are unique: what follows cannot match; go on to the
             * chain's end, where an insert belongs */
            while (*link)
                link = &(*link)->next;
            return link;
        }
    }
    return link;
}

static struct ent *shard_get(struct shard *s, const char *k, size_t klen, uint64_t h)
{
    return *shard_find(s, k, klen, h);
}

static void shard_grow(struct shard *s)
{
    size_t n = (s->mask + 1) * 2;
    struct ent **nb = calloc(n, sizeof *nb);
    if (!nb)
        return; /* longer chains, still correct */
    for (size_t i = 0; i <= s->mask; i++) {
        struct ent *e = s->b[i];
        while (e) {
            struct ent *next = e->next;
            e->next = nb[e->h & (n - 1)];
            nb[e->h & (n - 1)] = e;
            e = next;
        }
    }
    free(s->b);
    s->b = nb;
    s->mask = n - 1;
}

/* Stores value at *link (which shard_find returned), reusing the entry's
 * memory when the value fits.  keep_ttl keeps an existing expiry.  Returns
 * false (and changes nothing) when out of memory. */
static bool shard_set_at(struct shard *s, struct ent **link, const char *k, size_t klen, uint64_t h,
                         const char *v, size_t vlen, int64_t exp, bool keep_ttl)
{
    struct ent *e = *link;
    if (e && vlen <= e->vcap && (vlen >= e->vcap / 4 || e->vcap <= 64)) {
        memcpy(ent_val(e), v, vlen);
        e->vlen = (uint32_t)vlen;
    } else {
        size_t total = (sizeof(struct ent) + klen + vlen + 15) & ~(size_t)15;
        struct ent *ne = malloc(total);
        if (!ne)
            return false;
        ne->h = h;
        ne->klen = (uint32_t)klen;
        ne->vlen = (uint32_t)vlen;
        ne->vcap = (uint32_t)(total - sizeof(struct ent) - klen);
        memcpy(ne->kv, k, klen);
        memcpy(ne->kv + klen, v, vlen);
        if (e) {
            ne->next = e->next;
            ne->exp = e->exp;
            free(e);
        } else {
            ne->next = NULL;
            ne->exp = 0;
            s->count++;
        }
        *link = ne;
        e = ne;
    }
    if (!keep_ttl) {
        if (e->exp && !exp)
            s->nexp--;
        else if (!e->exp && exp)
            s->nexp++;
        e->exp = exp;
    }
    if (s->count > (s->mask + 1) * 2 && s->mask < ((size_t)1 << 30))
        shard_grow(s);
    return true;
}

/* Multi-key commands lock every shard they touch, in index order. */
typedef struct shard_set {
    uint64_t bits[(SHARDS + 63) / 64];
} shard_set;

static void shards_lock(const shard_set *ss)
{
    for (unsigned i = 0; i < SHARDS; i++)
        if (ss->bits[i / 64] >> (i % 64) & 1)
            pthread_mutex_lock(&shards[i].mu);
}

static void shards_unlock(const shard_set *ss)
{
    for (unsigned i = SHARDS; i-- > 0;)
        if (ss->bits[i / 64] >> (i % 64) & 1)
            pthread_mutex_unlock(&shards[i].mu);
}

/* Deletes a sample of expired keys; repeats while a quarter or more of
 * the sample had expired, as Redis's active expiry does, but bounded. */
static void sweep_expired(void)
{
    int64_t now = now_ms();
    for (unsigned i = 0; i < SHARDS; i++) {
        struct shard *s = &shards[i];
        pthread_mutex_lock(&s->mu);
        for (int round = 0; round < 16 && s->nexp; round++) {
            unsigned checked = 0, expired = 0;
            for (int probe = 0; probe < 20 && s->nexp; probe++) {
                struct ent **link = &s->b[rng_next() & s->mask];
                while (*link) {
                    struct ent *e = *link;
                    if (e->exp) {
                        checked++;
                        if (e->exp <= now) {
                            ent_unlink(s, link);
                            expired++;
                            continue;
                        }
                    }
                    link = &e->next;
                }
            }
            if (checked == 0 || expired * 4 < checked)
                break;
        }
        pthread_mutex_unlock(&s->mu);
    }
}

/* ---- pub/sub ------------------------------------------------------------------ */

struct mbox {
    pthread_mutex_t mu;
    char *buf;
    size_t len, cap;
    size_t inflight;          /* taken by the connection, not yet written */
    bool dead;                /* over the limit (or no memory): disconnect */
    eddy_waker waker;
};

struct channel {
    struct channel *next;
    uint64_t h;
    struct mbox **subs;
    size_t n, cap;
    uint32_t nlen;
    char name[];
};

static struct {
    pthread_rwlock_t lk;
    struct channel **b;
    size_t mask, count;
} reg = {.lk = PTHREAD_RWLOCK_INITIALIZER};

static atomic_size_t pubsub_kills;

static struct channel **reg_find(const char *name, size_t len, uint64_t h)
{
    struct channel **link = &reg.b[h & reg.mask];
    for (struct channel *ch; (ch = *link); link = &ch->next)
        if (ch->h == h && ch->nlen == len && memcmp(ch->name, name, len) == 0)
            break;
    return link;
}

static void reg_grow(void)
{
    size_t n = (reg.mask + 1) * 2;
    struct channel **nb = calloc(n, sizeof *nb);
    if (!nb)
        return;
    for (size_t i = 0; i <= reg.mask; i++) {
        struct channel *ch = reg.b[i];
        while (ch) {
            struct channel *next = ch->next;
            ch->next = nb[ch->h & (n - 1)];
            nb[ch->h & (n - 1)] = ch;
            ch = next;
        }
    }
    free(reg.b);
    reg.b = nb;
    reg.mask = n - 1;
}

static void reg_free(void)
{
    if (!reg.b)
        return;
    for (size_t i = 0; i <= reg.mask; i++) {
        struct channel *ch = reg.b[i];
        while (ch) {
            struct channel *next = ch->next;
            free(ch->subs);
            free(ch);
            ch = next;
        }
    }
    free(reg.b);
    reg.b = NULL;
}

/* Appends one "message" push to a mailbox; never waits.  Returns true if
 * the subscriber will receive it. */
static bool mbox_deliver(struct mbox *mb, const char *ch, size_t clen, const char *msg, size_t mlen)
{
    char h1[48], h2[32];
    int n1 = snprintf(h1, sizeof h1, "*3\r\n$7\r\nmessage\r\n$%zu\r\n", clen);
    int n2 = snprintf(h2, sizeof h2, "\r\n$%zu\r\n", mlen);
    size_t need = (size_t)n1 + clen + (size_t)n2 + mlen + 2;
    bool ok = false;
    pthread_mutex_lock(&mb->mu);
    if (mb->dead) {
        /* already being disconnected */
    } else if (mb->len + mb->inflight + need > max_output) {
        mb->dead = true;
        atomic_fetch_add(&pubsub_kills, 1);
        eddy_waker_wake_by_ref(&mb->waker);
    } else {
        if (mb->len + need > mb->cap) {
            size_t ncap = mb->cap ? mb->cap : 4096;
            while (ncap < mb->len + need)
                ncap *= 2;
            char *nb = realloc(mb->buf, ncap);
            if (!nb) {
                mb->dead = true;
                eddy_waker_wake_by_ref(&mb->waker);
                pthread_mutex_unlock(&mb->mu);
                return false;
            }
            mb->buf = nb;
            mb->cap = ncap;
        }
        char *p = mb->buf + mb->len;
        memcpy(p, h1, (size_t)n1);
        p += n1;
        memcpy(p, ch, clen);
        p += clen;
        memcpy(p, h2, (size_t)n2);
        p += n2;
        memcpy(p, msg, mlen);
        p += mlen;
        memcpy(p, "\r\n", 2);
        bool was_empty = mb->len == 0;
        mb->len += need;
        if (was_empty)
            eddy_waker_wake_by_ref(&mb->waker);
        ok = true;
    }
    pthread_mutex_unlock(&mb->mu);
    return ok;
}

static long long publish(const char *ch, size_t clen, const char *msg, size_t mlen)
{
    long long receivers = 0;
    uint64_t h = hash_bytes(ch, clen);
    pthread_rwlock_rdlock(&reg.lk);
    if (reg.b) {
        struct channel *c = *reg_find(ch, clen, h);
        if (c)
            for (size_t i = 0; i < c->n; i++)
                receivers += mbox_deliver(c->subs[i], ch, clen, msg, mlen);
    }
    pthread_rwlock_unlock(&reg.lk);
    return receivers;
}

/* ---- a connection ------------------------------------------------------------- */

struct arg {
    uint32_t off; /* from the command's first byte */
    uint32_t len;
};

struct conn {
    eddy_coro co;
    int fd;
    int rc;
    uint8_t rd_active, wr_active; /* rdy / wry registered and pending */
    uint8_t can_read, closing, dead, full_read;
    uint8_t more; /* complete commands wait in the input buffer */
    eddy_tcp sock;
    eddy_ready rdy, wry;
    eddy_yield yl;
    char *in;
    size_t in_len, in_cap;
    char *out;
    size_t out_len, out_cap, out_off;
    bool oom;
    /* the resumable parser */
    size_t start, pos;  /* the current command's first byte; the next byte to parse */
    long long mb;       /* bulk arguments still expected; -1: between commands */
    long long blen;     /* the announced length of the next bulk; -1: its header is next */
    size_t argc;
    struct arg *argv;
    size_t argv_cap;
    /* pub/sub */
    struct mbox *box;
    struct channel **subs;
    size_t nsubs, subs_cap;
};

/* ---- replies ---- */

static char *out_reserve(struct conn *c, size_t n)
{
    if (EDDY_LIKELY(c->out_cap - c->out_len >= n))
        return c->out + c->out_len;
    if (c->oom)
        return NULL;
    size_t ncap = c->out_cap ? c->out_cap : OUT_INITIAL;
    while (ncap - c->out_len < n) {
        if (ncap > SIZE_MAX / 2) {
            c->oom = true;
            return NULL;
        }
        ncap *= 2;
    }
    char *nb = realloc(c->out, ncap);
    if (!nb) {
        c->oom = true; /* the connection closes after what it has */
        return NULL;
    }
    c->out = nb;
    c->out_cap = ncap;
    return c->out + c->out_len;
}

static void reply_raw(struct conn *c, const char *s, size_t n)
{
    char *p = out_reserve(c, n);
    if (!p)
        return;
    memcpy(p, s, n);
    c->out_len += n;
}

#define REPLY_LIT(c, s) reply_raw((c), s, sizeof(s) - 1)

static void reply_prefixed(struct conn *c, char type, long long v)
{
    char *p = out_reserve(c, 24);
    if (!p)
        return;
    p[0] = type;
    int n = ll2str(p + 1, v);
    p[n + 1] = '\r';
    p[n + 2] = '\n';
    c->out_len += (size_t)n + 3;
}

static void reply_int(struct conn *c, long long v) { reply_prefixed(c, ':', v); }
static void reply_array(struct conn *c, long long n) { reply_prefixed(c, '*', n); }

static void reply_bulk(struct conn *c, const char *s, size_t n)
{
    char *p = out_reserve(c, n + 24);
    if (!p)
        return;
    p[0] = '$';
    int k = ll2str(p + 1, (long long)n) + 1;
    p[k++] = '\r';
    p[k++] = '\n';
    memcpy(p + k, s, n);
    p[k + n] = '\r';
    p[k + n + 1] = '\n';
    c->out_len += (size_t)k + n + 2;
}

static void reply_null(struct conn *c) { REPLY_LIT(c, "$-1\r\n"); }
static void reply_ok(struct conn *c) { REPLY_LIT(c, "+OK\r\n"); }

/* An error reply; like Redis, newlines in it become spaces so that a
 * client-supplied name cannot break the framing. */
static void reply_err(struct conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void reply_err(struct conn *c, const char *fmt, ...)
{
    char tmp[640];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof tmp)
        n = (int)sizeof tmp - 1;
    for (int i = 0; i < n; i++)
        if (tmp[i] == '\r' || tmp[i] == '\n')
            tmp[i] = ' ';
    char *p = out_reserve(c, (size_t)n + 3);
    if (!p)
        return;
    p[0] = '-';
    memcpy(p + 1, tmp, (size_t)n);
    p[n + 1] = '\r';
    p[n + 2] = '\n';
    c->out_len += (size_t)n + 3;
}

#define ERR_NOT_INT "ERR value is not an integer or out of range"
#define ERR_SYNTAX "ERR syntax error"
#define ERR_OOM "ERR out of memory"

/* ---- arguments ---- */

static inline const char *A(const struct conn *c, size_t i) { return c->in + c->start + c->argv[i].off; }
static inline size_t AL(const struct conn *c, size_t i) { return c->argv[i].len; }

static bool arg_ll(struct conn *c, size_t i, long long *v)
{
    if (str2ll(A(c, i), AL(c, i), v))
        return true;
    reply_err(c, ERR_NOT_INT);
    return false;
}

static void reply_arity(struct conn *c, const char *name)
{
    reply_err(c, "ERR wrong number of arguments for '%s' command", name);
}

/* ---- commands ---- */

static void cmd_get(struct conn *c)
{
    const char *k = A(c, 1);
    size_t kl = AL(c, 1);
    uint64_t h = hash_bytes(k, kl);
    struct shard *s = &shards[shard_of(h)];
    pthread_mutex_lock(&s->mu);
    struct ent *e = shard_get(s, k, kl, h);
    if (e)
        reply_bulk(c, ent_val(e), e->vlen);
    else
        reply_null(c);
    pthread_mutex_unlock(&s->mu);
}

enum { SET_NX = 1, SET_XX = 2, SET_GET = 4, SET_KEEPTTL = 8, SET_EX = 16, SET_PX = 32, SET_EXAT = 64, SET_PXAT = 128 };

static void cmd_set(struct conn *c)
{
    unsigned fl = 0;
    size_t exp_arg = 0;
    for (size_t j = 3; j < c->argc; j++) {
        const char *o = A(c, j);
        size_t ol = AL(c, j);
        bool next = j + 1 < c->argc;
        unsigned any_exp = SET_EX | SET_PX | SET_EXAT | SET_PXAT;
        if (eqi(o, ol, "nx") && !(fl & SET_XX))
            fl |= SET_NX;
        else if (eqi(o, ol, "xx") && !(fl & SET_NX))
            fl |= SET_XX;
        else if (eqi(o, ol, "get"))
            fl |= SET_GET;
        else if (eqi(o, ol, "keepttl") && !(fl & any_exp))
            fl |= SET_KEEPTTL;
        else if (eqi(o, ol, "ex") && !(fl & (SET_KEEPTTL | (any_exp & ~SET_EX))) && next)
            fl |= SET_EX, exp_arg = ++j;
        else if (eqi(o, ol, "px") && !(fl & (SET_KEEPTTL | (any_exp & ~SET_PX))) && next)
            fl |= SET_PX, exp_arg = ++j;
        else if (eqi(o, ol, "exat") && !(fl & (SET_KEEPTTL | (any_exp & ~SET_EXAT))) && next)
            fl |= SET_EXAT, exp_arg = ++j;
        else if (eqi(o, ol, "pxat") && !(fl & (SET_KEEPTTL | (any_exp & ~SET_PXAT))) && next)
            fl |= SET_PXAT, exp_arg = ++j;
        else {
            reply_err(c, ERR_SYNTAX);
            return;
        }
    }
    int64_t exp = 0;
    if (exp_arg) {
        long long v;
        if (!arg_ll(c, exp_arg, &v))
            return;
        bool secs = fl & (SET_EX | SET_EXAT);
        if (v <= 0 || (secs && v > LLONG_MAX / 1000)) {
            reply_err(c, "ERR invalid expire time in 'set' command");
            return;
        }
        if (secs)
            v *= 1000;
        if (fl & (SET_EX | SET_PX)) {
            long long now = now_ms();
            if (v > LLONG_MAX - now) {
                reply_err(c, "ERR invalid expire time in 'set' command");
                return;
            }
            v += now;
        }
        exp = v;
    }
    const char *k = A(c, 1);
    size_t kl = AL(c, 1);
    uint64_t h = hash_bytes(k, kl);
    struct shard *s = &shards[shard_of(h)];
    pthread_mutex_lock(&s->mu);
    struct ent **link = shard_find(s, k, kl, h);
    bool found = *link != NULL;
    if (fl & SET_GET) {
        if (found)
            reply_bulk(c, ent_val(*link), (*link)->vlen);
        else
            reply_null(c);
    }
    if (((fl & SET_NX) && found) || ((fl & SET_XX) && !found)) {
        if (!(fl & SET_GET))
            reply_null(c);
    } else if (exp && exp <= now_ms()) {
        /* EXAT/PXAT in the past: the key is gone at once, as in Redis */
        if (found)
            ent_unlink(s, link);
        if (!(fl & SET_GET))
            reply_ok(c);
    } else if (!shard_set_at(s, link, k, kl, h, A(c, 2), AL(c, 2), exp, fl & SET_KEEPTTL)) {
        if (fl & SET_GET)
            c->oom = true; /* a reply is already out: nothing consistent to add */
        else
            reply_err(c, ERR_OOM);
    } else if (!(fl & SET_GET)) {
        reply_ok(c);
    }
    pthread_mutex_unlock(&s->mu);
}

/* The shards of argv[first], argv[first+step], ... */
static shard_set keys_shards(const struct conn *c, size_t first, size_t step)
{
    shard_set ss = {{0}};
    for (size_t i = first; i < c->argc; i += step) {
        unsigned sh = shard_of(hash_bytes(A(c, i), AL(c, i)));
        ss.bits[sh / 64] |= 1ULL << (sh % 64);
    }
    return ss;
}

static void cmd_del_exists(struct conn *c, bool del)
{
    shard_set ss = keys_shards(c, 1, 1);
    long long n = 0;
    shards_lock(&ss);
    for (size_t i = 1; i < c->argc; i++) {
        uint64_t h = hash_bytes(A(c, i), AL(c, i));
        struct shard *s = &shards[shard_of(h)];
        struct ent **link = shard_find(s, A(c, i), AL(c, i), h);
        if (*link) {
            n++;
            if (del)
                ent_unlink(s, link);
        }
    }
    shards_unlock(&ss);
    reply_int(c, n);
}

static void cmd_incrby(struct conn *c, long long by)
{
    const char *k = A(c, 1);
    size_t kl = AL(c, 1);
    uint64_t h = hash_bytes(k, kl);
    struct shard *s = &shards[shard_of(h)];
    pthread_mutex_lock(&s->mu);
    struct ent **link = shard_find(s, k, kl, h);
    long long v = 0;
    if (*link && !str2ll(ent_val(*link), (*link)->vlen, &v)) {
        reply_err(c, ERR_NOT_INT);
    } else if ((by < 0 && v < 0 && by < LLONG_MIN - v) || (by > 0 && v > 0 && by > LLONG_MAX - v)) {
        reply_err(c, "ERR increment or decrement would overflow");
    } else {
        v += by;
        char num[24];
        int n = ll2str(num, v);
        if (shard_set_at(s, link, k, kl, h, num, (size_t)n, 0, true))
            reply_int(c, v);
        else
            reply_err(c, ERR_OOM);
    }
    pthread_mutex_unlock(&s->mu);
}

static void cmd_mget(struct conn *c)
{
    shard_set ss = keys_shards(c, 1, 1);
    reply_array(c, (long long)c->argc - 1);
    shards_lock(&ss);
    for (size_t i = 1; i < c->argc; i++) {
        uint64_t h = hash_bytes(A(c, i), AL(c, i));
        struct ent *e = shard_get(&shards[shard_of(h)], A(c, i), AL(c, i), h);
        if (e)
            reply_bulk(c, ent_val(e), e->vlen);
        else
            reply_null(c);
    }
    shards_unlock(&ss);
}

static void cmd_mset(struct conn *c)
{
    shard_set ss = keys_shards(c, 1, 2);
    bool ok = true;
    shards_lock(&ss);
    for (size_t i = 1; i + 1 < c->argc; i += 2) {
        uint64_t h = hash_bytes(A(c, i), AL(c, i));
        struct shard *s = &shards[shard_of(h)];
        struct ent **link = shard_find(s, A(c, i), AL(c, i), h);
        ok &= shard_set_at(s, link, A(c, i), AL(c, i), h, A(c, i + 1), AL(c, i + 1), 0, false);
    }
    shards_unlock(&ss);
    if (ok)
        reply_ok(c);
    else
        reply_err(c, ERR_OOM);
}

static void cmd_expire(struct conn *c)
{
    bool nx = false, xx = false, gt = false, lt = false;
    for (size_t j = 3; j < c->argc; j++) {
        const char *o = A(c, j);
        size_t ol = AL(c, j);
        if (eqi(o, ol, "nx"))
            nx = true;
        else if (eqi(o, ol, "xx"))
            xx = true;
        else if (eqi(o, ol, "gt"))
            gt = true;
        else if (eqi(o, ol, "lt"))
            lt = true;
        else {
            reply_err(c, "ERR Unsupported option %.*s", (int)(ol > 128 ? 128 : ol), o);
            return;
        }
    }
    if ((nx && xx) || (nx && gt) || (nx && lt)) {
        reply_err(c, "ERR NX and XX, GT or LT options at the same time are not compatible");
        return;
    }
    if (gt && lt) {
        reply_err(c, "ERR GT and LT options at the same time are not compatible");
        return;
    }
    long long when;
    if (!arg_ll(c, 2, &when))
        return;
    long long base = now_ms();
    if (when > LLONG_MAX / 1000 || when < LLONG_MIN / 1000 || when * 1000 > LLONG_MAX - base) {
        reply_err(c, "ERR invalid expire time in 'expire' command");
        return;
    }
    when = when * 1000 + base;
    const char *k = A(c, 1);
    size_t kl = AL(c, 1);
    uint64_t h = hash_bytes(k, kl);
    struct shard *s = &shards[shard_of(h)];
    pthread_mutex_lock(&s->mu);
    struct ent **link = shard_find(s, k, kl, h);
    struct ent *e = *link;
    long long r = 0;
    if (e) {
        bool has = e->exp != 0;
        bool skip = (nx && has) || (xx && !has) || (gt && (!has || when <= e->exp)) || (lt && has && when >= e->exp);
        if (!skip) {
            r = 1;
            if (when <= base) {
                ent_unlink(s, link);
            } else {
                if (!has)
                    s->nexp++;
                e->exp = when;
            }
        }
    }
    pthread_mutex_unlock(&s->mu);
    reply_int(c, r);
}

static void cmd_ttl(struct conn *c, bool ms)
{
    const char *k = A(c, 1);
    size_t kl = AL(c, 1);
    uint64_t h = hash_bytes(k, kl);
    struct shard *s = &shards[shard_of(h)];
    long long r;
    pthread_mutex_lock(&s->mu);
    struct ent *e = shard_get(s, k, kl, h);
    if (!e) {
        r = -2;
    } else if (!e->exp) {
        r = -1;
    } else {
        r = e->exp - now_ms();
        if (r < 0)
            r = 0;
        if (!ms)
            r = (r + 500) / 1000;
    }
    pthread_mutex_unlock(&s->mu);
    reply_int(c, r);
}

static void cmd_dbsize(struct conn *c)
{
    shard_set all;
    memset(&all, 0xff, sizeof all);
    long long n = 0;
    shards_lock(&all);
    for (unsigned i = 0; i < SHARDS; i++)
        n += (long long)shards[i].count;
    shards_unlock(&all);
    reply_int(c, n);
}

static void cmd_flushall(struct conn *c)
{
    if (c->argc > 2 || (c->argc == 2 && !eqi(A(c, 1), AL(c, 1), "sync") && !eqi(A(c, 1), AL(c, 1), "async"))) {
        reply_err(c, ERR_SYNTAX);
        return;
    }
    shard_set all;
    memset(&all, 0xff, sizeof all);
    shards_lock(&all);
    for (unsigned i = 0; i < SHARDS; i++)
        shard_clear(&shards[i]);
    shards_unlock(&all);
    reply_ok(c);
}

static void cmd_config(struct conn *c)
{
    if (c->argc < 2) {
        reply_arity(c, "config");
        return;
    }
    if (!eqi(A(c, 1), AL(c, 1), "get")) {
        reply_err(c, "ERR unknown subcommand '%.*s'. Try CONFIG HELP.", (int)(AL(c, 1) > 128 ? 128 : AL(c, 1)),
                  A(c, 1));
        return;
    }
    if (c->argc < 3) {
        reply_arity(c, "config|get");
        return;
    }
    /* What redis-benchmark asks for, with the values of a server that
     * persists nothing; any other parameter is unknown (empty reply). */
    static const char *const known[][2] = {{"appendonly", "no"}, {"save", ""}};
    bool want[2] = {false, false};
    long long n = 0;
    for (size_t i = 2; i < c->argc; i++)
        for (int k = 0; k < 2; k++)
            if (!want[k] && eqi(A(c, i), AL(c, i), known[k][0]))
                want[k] = true, n++;
    reply_array(c, n * 2);
    for (int k = 0; k < 2; k++) {
        if (want[k]) {
            reply_bulk(c, known[k][0], strlen(known[k][0]));
            reply_bulk(c, known[k][1], strlen(known[k][1]));
        }
    }
}

static void reply_sub(struct conn *c, const char *kind, size_t klen, const char *ch, size_t clen, bool null_ch)
{
    REPLY_LIT(c, "*3\r\n");
    reply_bulk(c, kind, klen);
    if (null_ch)
        reply_null(c);
    else
        reply_bulk(c, ch, clen);
    reply_int(c, (long long)c->nsubs);
}

static void cmd_subscribe(struct conn *c)
{
    if (!c->box) {
        c->box = calloc(1, sizeof *c->box);
        if (!c->box) {
            reply_err(c, ERR_OOM);
            return;
        }
        pthread_mutex_init(&c->box->mu, NULL);
    }
    for (size_t i = 1; i < c->argc; i++) {
        const char *name = A(c, i);
        size_t len = AL(c, i);
        uint64_t h = hash_bytes(name, len);
        bool fail = false;
        pthread_rwlock_wrlock(&reg.lk);
        if (!reg.b) {
            reg.b = calloc(64, sizeof *reg.b);
            reg.mask = 63;
            if (!reg.b)
                fail = true;
        }
        struct channel *ch = NULL;
        if (!fail) {
            struct channel **link = reg_find(name, len, h);
            ch = *link;
            if (!ch) {
                ch = calloc(1, sizeof *ch + len);
                if (ch) {
                    ch->h = h;
                    ch->nlen = (uint32_t)len;
                    memcpy(ch->name, name, len);
                    *link = ch;
                    if (++reg.count > (reg.mask + 1) * 2)
                        reg_grow();
                } else {
                    fail = true;
                }
            }
        }
        bool already = false;
        for (size_t j = 0; !fail && j < c->nsubs; j++)
            already |= c->subs[j] == ch;
        if (!fail && !already) {
            if (ch->n == ch->cap) {
                size_t ncap = ch->cap ? ch->cap * 2 : 4;
                struct mbox **ns = realloc(ch->subs, ncap * sizeof *ns);
                if (ns)
                    ch->subs = ns, ch->cap = ncap;
                else
                    fail = true;
            }
            if (!fail && c->nsubs == c->subs_cap) {
                size_t ncap = c->subs_cap ? c->subs_cap * 2 : 4;
                struct channel **ns = realloc(c->subs, ncap * sizeof *ns);
                if (ns)
                    c->subs = ns, c->subs_cap = ncap;
                else
                    fail = true;
            }
            if (!fail) {
                ch->subs[ch->n++] = c->box;
                c->subs[c->nsubs++] = ch;
            }
        }
        /* An empty channel left behind by a failure is harmless: found and
         * reused by the next subscriber, freed at exit. */
        pthread_rwlock_unlock(&reg.lk);
        if (fail)
            reply_err(c, ERR_OOM);
        else
            reply_sub(c, "subscribe", 9, name, len, false);
    }
}

/* Removes subscription j of c.  Call with the registry write-locked. */
static void unsub_locked(struct conn *c, size_t j)
{
    struct channel *ch = c->subs[j];
    for (size_t i = 0; i < ch->n; i++) {
        if (ch->subs[i] == c->box) {
            ch->subs[i] = ch->subs[--ch->n];
            break;
        }
    }
    c->subs[j] = c->subs[--c->nsubs];
    if (ch->n == 0) {
        struct channel **link = reg_find(ch->name, ch->nlen, ch->h);
        *link = ch->next;
        reg.count--;
        free(ch->subs);
        free(ch);
    }
}

static void cmd_unsubscribe(struct conn *c)
{
    if (c->argc == 1) {
        if (c->nsubs == 0) {
            reply_sub(c, "unsubscribe", 11, NULL, 0, true);
            return;
        }
        while (c->nsubs) {
            pthread_rwlock_wrlock(&reg.lk);
            struct channel *ch = c->subs[c->nsubs - 1];
            /* the name is needed after the channel may be freed */
            char *out = out_reserve(c, ch->nlen + 64);
            if (!out) {
                unsub_locked(c, c->nsubs - 1);
                pthread_rwlock_unlock(&reg.lk);
                continue;
            }
            REPLY_LIT(c, "*3\r\n$11\r\nunsubscribe\r\n");
            reply_bulk(c, ch->name, ch->nlen);
            unsub_locked(c, c->nsubs - 1);
            pthread_rwlock_unlock(&reg.lk);
            reply_int(c, (long long)c->nsubs);
        }
        return;
    }
    for (size_t i = 1; i < c->argc; i++) {
        const char *name = A(c, i);
        size_t len = AL(c, i);
        pthread_rwlock_wrlock(&reg.lk);
        for (size_t j = 0; j < c->nsubs; j++) {
            if (c->subs[j]->nlen == len && memcmp(c->subs[j]->name, name, len) == 0) {
                unsub_locked(c, j);
                break;
            }
        }
        pthread_rwlock_unlock(&reg.lk);
        reply_sub(c, "unsubscribe", 11, name, len, false);
    }
}

static void unsubscribe_all(struct conn *c)
{
    if (!c->nsubs)
        return;
    pthread_rwlock_wrlock(&reg.lk);
    while (c->nsubs)
        unsub_locked(c, c->nsubs - 1);
    pthread_rwlock_unlock(&reg.lk);
}

static void cmd_unknown(struct conn *c)
{
    char args[160];
    size_t n = 0;
    args[0] = 0;
    for (size_t i = 1; i < c->argc && n < 128; i++) {
        int room = 128 - (int)n;
        int len = (int)(AL(c, i) < (size_t)room ? AL(c, i) : (size_t)room);
        int w = snprintf(args + n, sizeof args - n, "'%.*s' ", len, A(c, i));
        if (w < 0)
            break;
        n += (size_t)w;
        if (n >= sizeof args)
            n = sizeof args - 1;
    }
    int cl = (int)(AL(c, 0) > 128 ? 128 : AL(c, 0));
    reply_err(c, "ERR unknown command '%.*s', with args beginning with: %s", cl, A(c, 0), args);
}

/* Arity as Redis declares it: n > 0 exactly n arguments, n < 0 at least -n. */
static bool arity_ok(const struct conn *c, int n)
{
    return n > 0 ? c->argc == (size_t)n : c->argc >= (size_t)-n;
}

enum cmd_id {
    C_UNKNOWN, C_GET, C_SET, C_PING, C_ECHO, C_DEL, C_EXISTS, C_INCR, C_DECR, C_INCRBY, C_DECRBY,
    C_MGET, C_MSET, C_EXPIRE, C_TTL, C_PTTL, C_DBSIZE, C_FLUSHALL, C_PUBLISH, C_SUBSCRIBE,
    C_UNSUBSCRIBE, C_QUIT, C_COMMAND, C_CONFIG, C_SELECT,
};

static const struct cmd_def {
    const char *name;
    int arity;
} cmd_defs[] = {
    [C_GET] = {"get", 2},          [C_SET] = {"set", -3},         [C_PING] = {"ping", -1},
    [C_ECHO] = {"echo", 2},        [C_DEL] = {"del", -2},         [C_EXISTS] = {"exists", -2},
    [C_INCR] = {"incr", 2},        [C_DECR] = {"decr", 2},        [C_INCRBY] = {"incrby", 3},
    [C_DECRBY] = {"decrby", 3},    [C_MGET] = {"mget", -2},       [C_MSET] = {"mset", -3},
    [C_EXPIRE] = {"expire", -3},   [C_TTL] = {"ttl", 2},          [C_PTTL] = {"pttl", 2},
    [C_DBSIZE] = {"dbsize", 1},    [C_FLUSHALL] = {"flushall", -1}, [C_PUBLISH] = {"publish", 3},
    [C_SUBSCRIBE] = {"subscribe", -2}, [C_UNSUBSCRIBE] = {"unsubscribe", -1}, [C_QUIT] = {"quit", -1},
    [C_COMMAND] = {"command", -1}, [C_CONFIG] = {"config", -2},   [C_SELECT] = {"select", 2},
};

static enum cmd_id lookup_cmd(const char *n, size_t len)
{
    /* GET and SET first: they are what the benchmark sends */
    if (len == 3) {
        if (eqi(n, len, "get"))
            return C_GET;
        if (eqi(n, len, "set"))
            return C_SET;
        if (eqi(n, len, "del"))
            return C_DEL;
        if (eqi(n, len, "ttl"))
            return C_TTL;
        return C_UNKNOWN;
    }
    for (size_t i = 1; i < sizeof cmd_defs / sizeof cmd_defs[0]; i++)
        if (eqi(n, len, cmd_defs[i].name))
            return (enum cmd_id)i;
    return C_UNKNOWN;
}

static void execute(struct conn *c)
{
    enum cmd_id id = lookup_cmd(A(c, 0), AL(c, 0));
    if (id == C_UNKNOWN) {
        cmd_unknown(c);
        return;
    }
    const struct cmd_def *d = &cmd_defs[id];
    if (!arity_ok(c, d->arity)) {
        reply_arity(c, d->name);
        return;
    }
    if (c->nsubs && id != C_PING && id != C_SUBSCRIBE && id != C_UNSUBSCRIBE && id != C_QUIT) {
        reply_err(c, "ERR Can't execute '%s': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET "
                     "are allowed in this context", d->name);
        return;
    }
    long long v;
    if (id == C_GET) {
        cmd_get(c);
    } else if (id == C_SET) {
        cmd_set(c);
    } else if (id == C_PING) {
        if (c->argc > 2)
            reply_arity(c, "ping");
        else if (c->nsubs) {
            REPLY_LIT(c, "*2\r\n$4\r\npong\r\n");
            reply_bulk(c, c->argc == 2 ? A(c, 1) : "", c->argc == 2 ? AL(c, 1) : 0);
        } else if (c->argc == 2)
            reply_bulk(c, A(c, 1), AL(c, 1));
        else
            REPLY_LIT(c, "+PONG\r\n");
    } else if (id == C_ECHO) {
        reply_bulk(c, A(c, 1), AL(c, 1));
    } else if (id == C_DEL || id == C_EXISTS) {
        cmd_del_exists(c, id == C_DEL);
    } else if (id == C_INCR || id == C_DECR) {
        cmd_incrby(c, id == C_INCR ? 1 : -1);
    } else if (id == C_INCRBY) {
        if (arg_ll(c, 2, &v))
            cmd_incrby(c, v);
    } else if (id == C_DECRBY) {
        if (arg_ll(c, 2, &v)) {
            if (v == LLONG_MIN)
                reply_err(c, "ERR decrement would overflow");
            else
                cmd_incrby(c, -v);
        }
    } else if (id == C_MGET) {
        cmd_mget(c);
    } else if (id == C_MSET) {
        if (c->argc % 2 == 0)
            reply_arity(c, "mset");
        else
            cmd_mset(c);
    } else if (id == C_EXPIRE) {
        cmd_expire(c);
    } else if (id == C_TTL || id == C_PTTL) {
        cmd_ttl(c, id == C_PTTL);
    } else if (id == C_DBSIZE) {
        cmd_dbsize(c);
    } else if (id == C_FLUSHALL) {
        cmd_flushall(c);
    } else if (id == C_PUBLISH) {
        reply_int(c, publish(A(c, 1), AL(c, 1), A(c, 2), AL(c, 2)));
    } else if (id == C_SUBSCRIBE) {
        cmd_subscribe(c);
    } else if (id == C_UNSUBSCRIBE) {
        cmd_unsubscribe(c);
    } else if (id == C_QUIT) {
        reply_ok(c);
        c->closing = 1;
    } else if (id == C_COMMAND) {
        /* clients ask for docs and counts only to decorate their UI */
        REPLY_LIT(c, "*0\r\n");
    } else if (id == C_CONFIG) {
        cmd_config(c);
    } else if (id == C_SELECT) {
        if (!str2ll(A(c, 1), AL(c, 1), &v))
            reply_err(c, ERR_NOT_INT);
        else if (v != 0)
            reply_err(c, "ERR DB index is out of range");
        else
            reply_ok(c);
    }
}

/* ---- the parser ---- */

enum { P_MORE = 0, P_CMD = 1, P_EMPTY = 2, P_ERR = -1 };

static int proto_error(struct conn *c, const char *what)
{
    reply_err(c, "ERR Protocol error: %s", what);
    c->closing = 1;
    return P_ERR;
}

static bool push_arg(struct conn *c, size_t off, size_t len)
{
    if (c->argc == c->argv_cap) {
        size_t ncap = c->argv_cap ? c->argv_cap * 2 : 16;
        struct arg *na = realloc(c->argv, ncap * sizeof *na);
        if (!na) {
            c->oom = true;
            return false;
        }
        c->argv = na;
        c->argv_cap = ncap;
    }
    c->argv[c->argc].off = (uint32_t)off;
    c->argv[c->argc].len = (uint32_t)len;
    c->argc++;
    return true;
}

/* Splits an inline command line as redis-cli quotes it: words separated by
 * blanks, "double quotes" with \n \r \t \b \a \\ \" and \xHH escapes,
 * 'single quotes' with \'.  Unescapes in place (the result is never longer
 * than the source); arguments become offsets from c->start. */
static int split_inline(struct conn *c, char *p, char *end)
{
    char *base = c->in + c->start;
    for (;;) {
        while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == '\v' || *p == '\f'))
            p++;
        if (p >= end)
            return P_CMD;
        char *w = p; /* where the unescaped word is written */
        char *ws = w;
        int inq = 0, insq = 0;
        for (;;) {
            if (inq) {
                if (p >= end)
                    return proto_error(c, "unbalanced quotes in request");
                if (*p == '\\' && p + 3 < end && p[1] == 'x' && srv_hexval(p[2]) >= 0 && srv_hexval(p[3]) >= 0) {
                    *w++ = (char)(srv_hexval(p[2]) * 16 + srv_hexval(p[3]));
                    p += 4;
                } else if (*p == '\\' && p + 1 < end) {
                    char e = p[1];
                    *w++ = e == 'n' ? '\n' : e == 'r' ? '\r' : e == 't' ? '\t' : e == 'b' ? '\b' : e == 'a' ? '\a' : e;
                    p += 2;
                } else if (*p == '"') {
                    if (p + 1 < end && !(p[1] == ' ' || p[1] == '\t' || p[1] == '\r' || p[1] == '\n'))
                        return proto_error(c, "unbalanced quotes in request");
                    inq = 0;
                    p++;
                    break;
                } else {
                    *w++ = *p++;
                }
            } else if (insq) {
                if (p >= end)
                    return proto_error(c, "unbalanced quotes in request");
                if (*p == '\\' && p + 1 < end && p[1] == '\'') {
                    *w++ = '\'';
                    p += 2;
                } else if (*p == '\'') {
                    if (p + 1 < end && !(p[1] == ' ' || p[1] == '\t' || p[1] == '\r' || p[1] == '\n'))
                        return proto_error(c, "unbalanced quotes in request");
                    insq = 0;
                    p++;
                    break;
                } else {
                    *w++ = *p++;
                }
            } else {
                if (p >= end || *p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == '\v' || *p == '\f')
                    break;
                if (*p == '"')
                    inq = 1, p++;
                else if (*p == '\'')
                    insq = 1, p++;
                else
                    *w++ = *p++;
            }
        }
        if (!push_arg(c, (size_t)(ws - base), (size_t)(w - ws)))
            return P_ERR;
    }
}

static int parse_inline(struct conn *c)
{
    char *s = c->in + c->pos;
    size_t avail = c->in_len - c->pos;
    char *nl = memchr(s, '\n', avail);
    if (!nl) {
        if (avail > INLINE_MAX)
            return proto_error(c, "too big inline request");
        return P_MORE;
    }
    char *end = nl;
    if (end > s && end[-1] == '\r')
        end--;
    c->argc = 0;
    int r = split_inline(c, s, end);
    c->pos = (size_t)(nl + 1 - c->in);
    if (r != P_CMD)
        return r;
    return c->argc ? P_CMD : P_EMPTY;
}

static int parse(struct conn *c)
{
    char *buf = c->in;
    size_t len = c->in_len;
    if (c->mb < 0) {
        if (c->pos >= len)
            return P_MORE;
        if (buf[c->pos] != '*')
            return parse_inline(c);
        char *nl = memchr(buf + c->pos, '\r', len - c->pos);
        if (!nl) {
            if (len - c->pos > INLINE_MAX)
                return proto_error(c, "too big mbulk count string");
            return P_MORE;
        }
        if ((size_t)(nl - buf) + 2 > len)
            return P_MORE; /* the \n is not here yet */
        long long n;
        if (!str2ll(buf + c->pos + 1, (size_t)(nl - (buf + c->pos + 1)), &n) || n > MULTIBULK_MAX)
            return proto_error(c, "invalid multibulk length");
        c->pos = (size_t)(nl - buf) + 2;
        if (n <= 0)
            return P_EMPTY;
        c->mb = n;
        c->blen = -1;
        c->argc = 0;
    }
    while (c->mb > 0) {
        if (c->blen < 0) {
            if (c->pos >= len)
                return P_MORE;
            char *nl = memchr(buf + c->pos, '\r', len - c->pos);
            if (!nl) {
                if (len - c->pos > INLINE_MAX)
                    return proto_error(c, "too big bulk count string");
                return P_MORE;
            }
            if ((size_t)(nl - buf) + 2 > len)
                return P_MORE;
            if (buf[c->pos] != '$') {
                char what[40];
                snprintf(what, sizeof what, "expected '$', got '%c'", buf[c->pos]);
                return proto_error(c, what);
            }
            long long n;
            if (!str2ll(buf + c->pos + 1, (size_t)(nl - (buf + c->pos + 1)), &n) || n < 0 || n > BULK_MAX)
                return proto_error(c, "invalid bulk length");
            c->pos = (size_t)(nl - buf) + 2;
            c->blen = n;
        }
        if (len - c->pos < (size_t)c->blen + 2)
            return P_MORE;
        if (!push_arg(c, c->pos - c->start, (size_t)c->blen))
            return P_ERR;
        c->pos += (size_t)c->blen + 2; /* like Redis, the CRLF after a bulk is not checked */
        c->blen = -1;
        c->mb--;
    }
    c->mb = -1;
    return P_CMD;
}

/* Runs every complete command in the input buffer. */
static void process(struct conn *c)
{
    while (!c->closing && !c->oom) {
        int r = parse(c);
        if (r == P_MORE || r == P_ERR)
            break;
        if (r == P_CMD)
            execute(c);
        c->start = c->pos;
        c->argc = 0;
        if (c->out_len > OUT_SOFT) {
            /* a pipeline of large replies: write these first, so one
             * batch cannot hold an unbounded output buffer */
            c->more = 1;
            break;
        }
    }
    if (c->start == c->in_len) {
        c->in_len = c->start = c->pos = 0;
        if (c->in_cap > BUF_KEEP) {
            char *nb = realloc(c->in, IN_INITIAL);
            if (nb)
                c->in = nb, c->in_cap = IN_INITIAL;
        }
    }
}

/* Makes room for a read: compacts the partial command to the front, and
 * doubles the buffer when that is not enough.  Returns false when the
 * query would exceed QUERY_MAX or memory is short. */
static bool in_room(struct conn *c)
{
    if (c->in_cap - c->in_len >= 4096 || (c->in_len < c->in_cap && c->start == 0))
        return true;
    if (c->start > 0) {
        memmove(c->in, c->in + c->start, c->in_len - c->start);
        c->in_len -= c->start;
        c->pos -= c->start;
        c->start = 0;
        if (c->in_cap - c->in_len >= 4096)
            return true;
    }
    if (c->in_len < c->in_cap)
        return true;
    if (c->in_cap >= QUERY_MAX)
        return false;
    size_t ncap = c->in_cap * 2;
    char *nb = realloc(c->in, ncap);
    if (!nb)
        return false;
    c->in = nb;
    c->in_cap = ncap;
    return true;
}

/* Moves queued pub/sub messages after the replies, and accounts for them
 * as in flight until written. */
static void take_mail(struct conn *c)
{
    struct mbox *mb = c->box;
    pthread_mutex_lock(&mb->mu);
    if (mb->len && !mb->dead) {
        char *p = out_reserve(c, mb->len);
        if (p) {
            memcpy(p, mb->buf, mb->len);
            c->out_len += mb->len;
            mb->len = 0;
        } else {
            mb->dead = true;
        }
        if (mb->cap > BUF_KEEP) {
            free(mb->buf);
            mb->buf = NULL;
            mb->cap = 0;
        }
    }
    mb->inflight = c->out_len - c->out_off;
    pthread_mutex_unlock(&mb->mu);
}

/* Registers the task's waker with its mailbox; true if it was killed.  Also
 * reports whether mail is waiting. */
static bool mail_check(struct conn *c, eddy_cx *cx, bool *has_mail)
{
    struct mbox *mb = c->box;
    pthread_mutex_lock(&mb->mu);
    eddy_waker_set(&mb->waker, cx->waker);
    bool dead = mb->dead;
    if (has_mail)
        *has_mail = mb->len > 0;
    pthread_mutex_unlock(&mb->mu);
    return dead;
}

/* The wait for input: readable socket, mail, or a kill.  A select by hand,
 * as in echo_server's root: both sources have the waker when it returns
 * false. */
static bool wait_input(struct conn *c, eddy_cx *cx)
{
    bool mail = false;
    if (c->box && mail_check(c, cx, &mail)) {
        c->dead = 1;
        return true;
    }
    if (!c->rd_active) {
        eddy_readable_init(&c->rdy, &c->sock.io);
        c->rd_active = 1;
    }
    if (eddy_ready_poll(&c->rdy, cx, &c->rc) == EDDY_READY) {
        c->rd_active = 0;
        if (c->rc < 0)
            c->dead = 1;
        else
            c->can_read = 1;
        return true;
    }
    if (mail) {
        eddy_ready_drop(&c->rdy);
        c->rd_active = 0;
        return true;
    }
    return false;
}

/* Writes the output buffer; false while the socket is full.  A subscriber
 * that is killed meanwhile stops at once. */
static bool flush_out(struct conn *c, eddy_cx *cx)
{
    for (;;) {
        if (c->box && mail_check(c, cx, NULL)) {
            c->dead = 1;
            return true;
        }
        if (c->wr_active) {
            if (eddy_ready_poll(&c->wry, cx, &c->rc) == EDDY_PENDING)
                return false;
            c->wr_active = 0;
            if (c->rc < 0) {
                c->dead = 1;
                return true;
            }
        }
        while (c->out_off < c->out_len) {
            ssize_t n = eddy_io_try_write(&c->sock.io, c->out + c->out_off, c->out_len - c->out_off);
            if (n > 0) {
                c->out_off += (size_t)n;
            } else if (n == -EAGAIN) {
                eddy_writable_init(&c->wry, &c->sock.io);
                c->wr_active = 1;
                break;
            } else if (n != -EINTR) {
                c->dead = 1; /* EPIPE, ECONNRESET: the client is gone */
                return true;
            }
        }
        if (c->box) {
            pthread_mutex_lock(&c->box->mu);
            c->box->inflight = c->out_len - c->out_off;
            pthread_mutex_unlock(&c->box->mu);
        }
        if (!c->wr_active)
            break;
    }
    c->out_len = c->out_off = 0;
    if (c->out_cap > BUF_KEEP) {
        char *nb = realloc(c->out, OUT_INITIAL);
        if (nb)
            c->out = nb, c->out_cap = OUT_INITIAL;
    }
    return true;
}

static eddy_poll conn_poll(struct conn *c, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&c->co, cx);
    if (eddy_tcp_open(&c->sock, c->fd) < 0)
        EDDY_RETURN();
    c->fd = -1;
    /* Replies are written once per batch already; Nagle would only hold
     * the last one back waiting for an ACK. */
    eddy_tcp_set_nodelay(&c->sock, true);
    c->mb = -1;
    c->blen = -1;
    c->in = malloc(IN_INITIAL);
    c->out = malloc(OUT_INITIAL);
    if (!c->in || !c->out)
        EDDY_RETURN();
    c->in_cap = IN_INITIAL;
    c->out_cap = OUT_INITIAL;
    for (;;) {
        if (!c->more)
            EDDY_WAIT_UNTIL(wait_input(c, cx));
        if (c->dead)
            break;
        c->full_read = 0;
        if (c->more) {
            c->more = 0;
            process(c);
        } else if (c->can_read) {
            c->can_read = 0;
            if (!in_room(c))
                break; /* over the query limit, or no memory: drop the client */
            ssize_t n = eddy_io_try_read(&c->sock.io, c->in + c->in_len, c->in_cap - c->in_len);
            if (n == 0 || (n < 0 && n != -EAGAIN && n != -EINTR))
                break;
            if (n > 0) {
                c->full_read = (size_t)n == c->in_cap - c->in_len;
                c->in_len += (size_t)n;
                /* messages published before this batch go before its replies */
                if (c->box)
                    take_mail(c);
                process(c);
            }
        }
        if (c->box)
            take_mail(c);
        if (c->out_len > c->out_off)
            EDDY_WAIT_UNTIL(flush_out(c, cx));
        if (c->dead || c->closing || c->oom)
            break;
        if (c->full_read)
            EDDY_AWAIT(NULL, eddy_yield, &c->yl); /* more is queued: let the others run first */
    }
    EDDY_FINALLY();
    if (c->rd_active)
        eddy_ready_drop(&c->rdy);
    if (c->wr_active)
        eddy_ready_drop(&c->wry);
    c->rd_active = c->wr_active = 0;
    unsubscribe_all(c);
    if (c->box) {
        eddy_waker_drop(&c->box->waker);
        pthread_mutex_destroy(&c->box->mu);
        free(c->box->buf);
        free(c->box);
        c->box = NULL;
    }
    free(c->subs);
    c->subs = NULL;
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    eddy_tcp_close(&c->sock);
    free(c->in);
    free(c->out);
    free(c->argv);
    c->in = c->out = NULL;
    c->argv = NULL;
    EDDY_DONE();
}

EDDY_CORO_VT_VOID(conn_vt, struct conn, conn_poll);

/* ---- the expiry sweep ------------------------------------------------------------ */

struct sweeper {
    eddy_coro co;
    eddy_interval iv;
    eddy_instant at;
};

static eddy_poll sweeper_poll(struct sweeper *t, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&t->co, cx);
    eddy_interval_init(&t->iv, EDDY_MS(100));
    eddy_interval_set_missed_tick(&t->iv, EDDY_MISSED_TICK_SKIP);
    for (;;) {
        EDDY_AWAIT(&t->at, eddy_interval_tick, &t->iv);
        sweep_expired();
    }
    EDDY_FINALLY();
    eddy_interval_drop(&t->iv);
    EDDY_DONE();
}

EDDY_CORO_VT_VOID(sweeper_vt, struct sweeper, sweeper_poll);

/* ---- main ------------------------------------------------------------------------------ */

/* The listener's on_accept (server_common.h): a connection task for fd. */
static int conn_spawn(int fd)
{
    struct conn init = {.fd = fd};
    return eddy_spawn_local(&conn_vt, &init, NULL);
}

static bool redis_option(struct srv *s, const char *opt, const char *v)
{
    if (strcmp(opt, "--max-output"))
        return false;
    max_output = (size_t)srv_num(s, opt, v, 1024, 1LL << 40);
    return true;
}

int main(int argc, char **argv)
{
    static const struct sweeper sweeper = {.co = EDDY_CORO_INIT};
    struct srv s = {
        .name = "redis_server",
        .usage = "usage: redis_server --port P [--threads N] [--io epoll|io_uring] [--addr A] [--max-output BYTES]\n",
        .on_accept = conn_spawn,
        .side_vt = &sweeper_vt, /* the expiry sweep, beside the listener */
        .side_init = &sweeper,
    };
    srv_parse_args(&s, argc, argv, redis_option);

    if (getrandom(&hash_seed, sizeof hash_seed, 0) != (ssize_t)sizeof hash_seed)
        hash_seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    if (!keyspace_init()) {
        fprintf(stderr, "redis_server: out of memory\n");
        return 1;
    }

    eddy_rt *rt;
    if (srv_setup(&s, &rt) < 0)
        return 1;
    int status = srv_run(&s, rt);
    eddy_rt_free(rt); /* drops the connection tasks: each unsubscribes and closes */
    keyspace_free();
    reg_free();
    fprintf(stderr, "redis_server: %llu connections accepted (%llu refused: no memory), %zu subscribers "
            "disconnected for output over %zu bytes\n",
            s.accepted, s.spawn_failed, atomic_load(&pubsub_kills), max_output);
    return status;
}
