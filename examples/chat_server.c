/* chat_server - a line-based chat room on eddy: a task per connection, one
 * broadcast channel for the room.
 *
 *     chat_server --port P [--threads N] [--io epoll|io_uring] [--addr A] [--max-line N] [--max-output BYTES]
 *                 [--nick-timeout-ms N]
 *
 * Prints "listening on <addr>:<port>" once bound (--port 0 picks a free
 * port) and serves until SIGINT/SIGTERM.  --threads N > 1 asks for the
 * multi-thread runtime with N workers; the shared state (the broadcast
 * channel and the nickname registry) is thread-safe either way.
 *
 * The protocol.  Text lines in both directions, ending with "\n"; a "\r"
 * before the "\n" is stripped, so telnet works.  Lines from the server that
 * start with "* " come from the server itself; every other line is
 * "<nick>: <text>", a message someone else sent.
 *
 *   on connect         the server sends "* nickname?"
 *   the first line     is the nickname: 1 to 32 characters of A-Z a-z 0-9
 *                      _ - (blanks around it are ignored), unique in the
 *                      room regardless of case.  An invalid or taken one
 *                      gets "* error: ..." and "* nickname?" again.
 *                      Accepted: "* welcome <nick> (<n> online)" to the
 *                      client, "* <nick> joined" to everyone else.
 *                      No nickname accepted within --nick-timeout-ms of
 *                      the connection (default 30000): "* error: no
 *                      nickname within N ms, closing", then the server
 *                      closes.
 *   a line of text     goes to everyone else as "<nick>: <text>", byte for
 *                      byte; never back to the sender.  Empty lines are
 *                      ignored.  A line starting with "//" is sent with one
 *                      "/" removed (the way to say something starting "/").
 *   /who               "* online (<n>): <nick>, <nick>, ..." in join order
 *   /nick NEW          renames: "* you are now NEW" to the client,
 *                      "* OLD is now NEW" to the others (same nickname
 *                      rules; a refusal gets "* error: ...")
 *   /quit              "* bye", then the server closes the connection
 *   /anything-else     "* error: unknown command ..."
 *
 * When a client goes (/quit, end of stream, reset, any error) everyone
 * else gets "* <nick> left" at once.  After /quit or the end of its
 * stream (a half-close) the client still gets what it was owed, answers
 * included, for up to 5 s; then the server closes.  An unterminated last
 * line is ignored.
 *
 * Limits.
 * - A client holds a connection, a task and its buffers before it has a
 *   nickname, so it gets --nick-timeout-ms (default 30 s) to choose one;
 *   failed attempts do not restart the clock.
 * - A line longer than --max-line bytes (default 1024, not counting the
 *   "\r\n") gets "* error: line too long (max N bytes), discarded" and is
 *   dropped whole, up to its "\n"; the connection stays.  At most
 *   --max-line + 2 bytes of an unfinished line are ever buffered.
 * - A client that does not read what it is sent is dropped: once the
 *   output waiting for it (what the kernel's socket buffer would not take)
 *   would exceed --max-output bytes (default 64 KiB), or once it fell so
 *   far behind that the room's channel overwrote messages it had not
 *   received yet (-EDDY_ELAGGED: it would silently miss them otherwise),
 *   the server resets the connection and the others get
 *   "* <nick> dropped (too slow)".  Besides that, the kernel holds at most
 *   32 KiB per connection (SO_SNDBUF is fixed at 16 KiB, which Linux
 *   doubles), so a client that stops reading is dropped after about
 *   --max-output + 32 KiB.  Publishing never waits for a reader:
 *   eddy_broadcast_send copies into a ring and returns.
 *
 * The shape (the root, the listener and the signal handling are in
 * server_common.h, shared with the other example servers):
 *
 *   connection task    one per client.  Each turn: move what the room
 *                      channel holds into the output buffer, write what
 *                      the socket takes, handle a bounded number of input
 *                      lines; then wait with eddy_select for the first of
 *                      {socket readable, a room message (only once
 *                      joined), socket writable (only while output is
 *                      pending), a deadline (the nickname's until one is
 *                      accepted, the close deadline while closing)}.
 *                      Waiting on the room message is what lets an idle
 *                      client receive.  After 16 lines a task yields, so
 *                      a flooding client takes its turn like the others,
 *                      and a reader runs again before the ring (about
 *                      4 MiB: 3,883 messages with the default --max-line,
 *                      256 at the most 65536) wraps past it, unless more
 *                      than ring/16 clients (about 240 by default) flood
 *                      at once: then readers lag, and are dropped rather
 *                      than miss messages silently.
 *
 * Messages travel through the channel inline (a fixed-size blob big enough
 * for the longest line), not as pointers: the broadcast ring overwrites a
 * slot without telling anyone, so a pointer in it could never be freed
 * safely once some receiver lagged past it.
 */
#include <eddy.h>

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server_common.h"

#define NICK_MAX 32
/* Lines handled per turn before the task yields: a client that floods the
 * room shares the thread with the others, and the channel has room for
 * many such bursts (see CHANNEL_BYTES). */
#define LINES_PER_TURN 16
#define READS_PER_TURN 4
/* SO_SNDBUF of a connection (Linux doubles it): plenty for lines of chat. */
#define KERNEL_SNDBUF (16 * 1024)
/* An emptied output buffer bigger than this goes back to malloc, so an
 * idle client holds none. */
#define OUT_KEEP 4096
/* How long a closing connection may take to accept its last output. */
#define CLOSE_LINGER EDDY_SEC(5)
/* Memory for the room's broadcast ring; the capacity in messages follows
 * from the message size, within [CHANNEL_MIN, CHANNEL_MAX]. */
#define CHANNEL_BYTES (4u << 20)
#define CHANNEL_MIN 256u
#define CHANNEL_MAX 4096u

/* ---- the room ------------------------------------------------------------ */

/* What travels through the channel: from = the sender's connection id,
 * whom the message is not for. */
struct msg {
    uint64_t from;
    uint32_t len;
    char text[];
};

/* A member of the room.  The node lives in its connection's frame, which
 * does not move once spawned. */
struct member {
    struct member *prev, *next;
    char nick[NICK_MAX + 1];
};

static struct {
    /* Guards the member list and every nick in it.  A plain mutex: it is
     * held for a list walk at most, never across an await. */
    pthread_mutex_t lk;
    struct member *head, *tail;
    size_t count;
    eddy_broadcast_tx *tx; /* shared by every connection (send is thread-safe) */
    size_t max_line, max_output;
    unsigned long long nick_timeout_ms;
    size_t msg_max;   /* longest text of a message: "<nick>: <line>\n" */
    size_t elem_size; /* sizeof(struct msg) + msg_max, rounded up */
    atomic_ullong next_id;
    atomic_ullong joined, dropped_slow;
} room = {
    .lk = PTHREAD_MUTEX_INITIALIZER,
    .max_line = 1024,
    .max_output = 64 * 1024,
    .nick_timeout_ms = 30000,
};

static bool nick_eq(const char *a, const char *b)
{
    for (;; a++, b++) {
        char x = *a, y = *b;
        if (x >= 'A' && x <= 'Z')
            x = (char)(x - 'A' + 'a');
        if (y >= 'A' && y <= 'Z')
            y = (char)(y - 'A' + 'a');
        if (x != y)
            return false;
        if (!x)
            return true;
    }
}

static bool nick_valid(const char *s, size_t n)
{
    if (n < 1 || n > NICK_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        bool ok = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_' ||
                  ch == '-';
        if (!ok)
            return false;
    }
    return true;
}

/* Lock held. */
static bool nick_taken(const struct member *self, const char *nick)
{
    for (const struct member *m = room.head; m; m = m->next)
        if (m != self && nick_eq(m->nick, nick))
            return true;
    return false;
}

/* Adds m under nick; -EEXIST if taken.  *count gets the room's size. */
static int room_join(struct member *m, const char *nick, size_t *count)
{
    pthread_mutex_lock(&room.lk);
    if (nick_taken(m, nick)) {
        pthread_mutex_unlock(&room.lk);
        return -EEXIST;
    }
    strcpy(m->nick, nick);
    m->next = NULL;
    m->prev = room.tail;
    if (room.tail)
        room.tail->next = m;
    else
        room.head = m;
    room.tail = m;
    *count = ++room.count;
    pthread_mutex_unlock(&room.lk);
    return 0;
}

static int room_rename(struct member *m, const char *nick)
{
    pthread_mutex_lock(&room.lk);
    if (nick_taken(m, nick)) {
        pthread_mutex_unlock(&room.lk);
        return -EEXIST;
    }
    strcpy(m->nick, nick);
    pthread_mutex_unlock(&room.lk);
    return 0;
}

static void room_leave(struct member *m)
{
    pthread_mutex_lock(&room.lk);
    if (m->prev)
        m->prev->next = m->next;
    else
        room.head = m->next;
    if (m->next)
        m->next->prev = m->prev;
    else
        room.tail = m->prev;
    m->prev = m->next = NULL;
    room.count--;
    pthread_mutex_unlock(&room.lk);
}

/* ---- the connection task -------------------------------------------------- */

enum { K_READ, K_RECV, K_WRITE, K_LINGER, K_NICK };

struct conn {
    eddy_coro co;
    int fd; /* the accepted descriptor, until eddy_tcp_open owns it */
    bool opened;
    bool joined;
    bool closing;   /* /quit or end of stream: out of the room; flush, then close */
    bool slow;      /* owes more than --max-output, or lagged */
    bool discarding; /* inside an over-long line: drop bytes up to its "\n" */
    uint64_t id;
    eddy_tcp sock;
    eddy_broadcast_rx *rx; /* subscribed on join */
    struct member me;
    /* Input: bytes [in_off, in_len) are unhandled; [in_off, in_scan) is
     * known to hold no "\n". */
    char *in;
    size_t in_off, in_len, in_scan, in_cap;
    /* Output waiting for the socket: [out_off, out_len). */
    char *out;
    size_t out_off, out_len, out_cap;
    /* One message: filled by a receive and consumed right away, or built
     * and sent; the two never overlap, so one buffer serves both. */
    struct msg *msg;
    /* The wait: a select over up to three children. */
    eddy_ready rd, wr;
    eddy_broadcast_recv recv;
    eddy_sleep deadline; /* nick_until before joining, linger_until while closing */
    eddy_instant nick_until, linger_until;
    int rd_rc, wr_rc, recv_rc, deadline_rc;
    size_t nk, won;
    uint8_t kind[4];
    eddy_child kids[4];
    eddy_select sel;
};

EDDY_STATIC_FUTURE_VT(ready_vt, eddy_ready, int, eddy_ready_poll, eddy_ready_drop);
EDDY_STATIC_FUTURE_VT(recv_vt, eddy_broadcast_recv, int, eddy_broadcast_recv_poll, eddy_broadcast_recv_drop);
EDDY_STATIC_FUTURE_VT(sleep_vt, eddy_sleep, int, eddy_sleep_poll, eddy_sleep_drop);

static size_t out_pending(const struct conn *c) { return c->out_len - c->out_off; }

/* Queues bytes for the client.  Past --max-output the client is slow:
 * nothing more is queued and the caller ends the connection. */
static bool out_add(struct conn *c, const void *p, size_t n)
{
    if (c->slow)
        return false;
    if (out_pending(c) + n > room.max_output) {
        c->slow = true;
        return false;
    }
    if (c->out_len + n > c->out_cap) {
        if (c->out_off) {
            memmove(c->out, c->out + c->out_off, out_pending(c));
            c->out_len -= c->out_off;
            c->out_off = 0;
        }
        if (c->out_len + n > c->out_cap) {
            size_t cap = c->out_cap ? c->out_cap : 512;
            while (cap < c->out_len + n)
                cap *= 2;
            if (cap > room.max_output)
                cap = room.max_output;
            char *q = realloc(c->out, cap);
            if (!q) {
                c->slow = true; /* cannot keep its output: as good as too slow */
                return false;
            }
            c->out = q;
            c->out_cap = cap;
        }
    }
    memcpy(c->out + c->out_len, p, n);
    c->out_len += n;
    return true;
}

static bool out_str(struct conn *c, const char *s) { return out_add(c, s, strlen(s)); }

EDDY_PRINTF(2, 3) static bool out_fmt(struct conn *c, const char *fmt, ...)
{
    char line[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0)
        return false;
    return out_add(c, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

/* Building a message to publish: begin, add pieces, send. */
static void msg_begin(struct conn *c)
{
    c->msg->from = c->id;
    c->msg->len = 0;
}

static void msg_add(struct conn *c, const char *p, size_t n)
{
    size_t room_left = room.msg_max - c->msg->len;
    if (n > room_left)
        n = room_left; /* cannot happen: lines and nicks are bounded */
    memcpy(c->msg->text + c->msg->len, p, n);
    c->msg->len += (uint32_t)n;
}

static void msg_str(struct conn *c, const char *s) { msg_add(c, s, strlen(s)); }

static void msg_send(struct conn *c)
{
    /* -EDDY_ECLOSED only means nobody else is subscribed: nobody to tell. */
    (void)eddy_broadcast_send(room.tx, c->msg);
}

static void notice(struct conn *c, const char *nick, const char *what)
{
    msg_begin(c);
    msg_str(c, "* ");
    msg_str(c, nick);
    msg_str(c, what);
    msg_send(c);
}

/* Leaves the room: the others are told (unless the server is shutting
 * down, when nobody is left to tell). */
static void leave_room(struct conn *c, bool tell)
{
    if (!c->joined)
        return;
    c->joined = false;
    room_leave(&c->me);
    eddy_broadcast_rx_drop(c->rx);
    c->rx = NULL;
    if (tell)
        notice(c, c->me.nick, c->slow ? " dropped (too slow)\n" : " left\n");
    if (c->slow)
        atomic_fetch_add_explicit(&room.dropped_slow, 1, memory_order_relaxed);
}

/* /quit or end of stream: out of the room now, so the others hear of it
 * at once; what is still owed to the client gets CLOSE_LINGER to go out. */
static void begin_close(struct conn *c)
{
    c->closing = true;
    leave_room(c, true);
    c->linger_until = eddy_now() + CLOSE_LINGER;
}

/* No nickname accepted within --nick-timeout-ms: say so and close, as
 * after /quit. */
static bool nick_timeout(struct conn *c)
{
    begin_close(c);
    return out_fmt(c, "* error: no nickname within %llu ms, closing\n", room.nick_timeout_ms);
}

/* Writes what the socket takes.  Returns false when the connection broke. */
static bool flush_out(struct conn *c)
{
    while (out_pending(c)) {
        ssize_t n = eddy_io_try_write(&c->sock.io, c->out + c->out_off, out_pending(c));
        if (n == -EAGAIN)
            return true;
        if (n < 0)
            return false;
        c->out_off += (size_t)n;
    }
    c->out_off = c->out_len = 0;
    if (c->out_cap > OUT_KEEP) {
        free(c->out);
        c->out = NULL;
        c->out_cap = 0;
    }
    return true;
}

/* Takes one message off the channel into the output. */
static bool deliver(struct conn *c, int rc)
{
    if (rc == 0) {
        if (c->msg->from != c->id)
            return out_add(c, c->msg->text, c->msg->len);
        return true;
    }
    if (rc == -EDDY_ELAGGED)
        c->slow = true;
    return false; /* lagged, or the room closed */
}

/* Moves everything the channel holds for this client into its output. */
static bool pump_room(struct conn *c)
{
    for (;;) {
        int rc = eddy_broadcast_try_recv(c->rx, c->msg);
        if (rc == -EAGAIN)
            return true;
        if (!deliver(c, rc))
            return false;
    }
}

static const char nick_rules[] = "* error: a nickname is 1 to 32 characters of A-Z a-z 0-9 _ -\n";

static void trim(const char **s, size_t *n)
{
    while (*n && (**s == ' ' || **s == '\t')) {
        (*s)++;
        (*n)--;
    }
    while (*n && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t'))
        (*n)--;
}

/* The first line(s): the nickname.  Returns false to end the connection. */
static bool handle_nick(struct conn *c, const char *s, size_t n)
{
    trim(&s, &n);
    if (n == 5 && !memcmp(s, "/quit", 5)) {
        begin_close(c);
        return out_str(c, "* bye\n");
    }
    if (!nick_valid(s, n))
        return out_str(c, nick_rules) && out_str(c, "* nickname?\n");
    char nick[NICK_MAX + 1];
    memcpy(nick, s, n);
    nick[n] = '\0';
    size_t count;
    if (room_join(&c->me, nick, &count) < 0)
        return out_fmt(c, "* error: nickname %s is taken\n* nickname?\n", nick);
    int rc = eddy_broadcast_subscribe(room.tx, &c->rx);
    if (rc < 0) {
        room_leave(&c->me);
        begin_close(c);
        return out_fmt(c, "* error: server out of memory\n");
    }
    c->joined = true;
    atomic_fetch_add_explicit(&room.joined, 1, memory_order_relaxed);
    notice(c, c->me.nick, " joined\n");
    return out_fmt(c, "* welcome %s (%zu online; commands: /who, /nick NEW, /quit)\n", nick, count);
}

static bool cmd_who(struct conn *c)
{
    pthread_mutex_lock(&room.lk);
    bool ok = out_fmt(c, "* online (%zu): ", room.count);
    for (const struct member *m = room.head; m && ok; m = m->next)
        ok = out_str(c, m->nick) && (!m->next || out_str(c, ", "));
    pthread_mutex_unlock(&room.lk);
    return ok && out_str(c, "\n");
}

static bool cmd_nick(struct conn *c, const char *s, size_t n)
{
    trim(&s, &n);
    if (!nick_valid(s, n))
        return out_str(c, nick_rules);
    char nick[NICK_MAX + 1], old[NICK_MAX + 1];
    memcpy(nick, s, n);
    nick[n] = '\0';
    strcpy(old, c->me.nick);
    if (room_rename(&c->me, nick) < 0)
        return out_fmt(c, "* error: nickname %s is taken\n", nick);
    msg_begin(c);
    msg_str(c, "* ");
    msg_str(c, old);
    msg_str(c, " is now ");
    msg_str(c, nick);
    msg_str(c, "\n");
    msg_send(c);
    return out_fmt(c, "* you are now %s\n", nick);
}

/* One complete line, without its "\n" and "\r".  Returns false to end the
 * connection. */
static bool handle_line(struct conn *c, const char *s, size_t n)
{
    if (!c->joined)
        return handle_nick(c, s, n);
    if (n == 0)
        return true;
    if (s[0] == '/' && !(n >= 2 && s[1] == '/')) {
        size_t w = 1;
        while (w < n && s[w] != ' ')
            w++;
        if (w == 4 && !memcmp(s, "/who", 4))
            return cmd_who(c);
        if (w == 5 && !memcmp(s, "/nick", 5))
            return cmd_nick(c, s + w, n - w);
        if (w == 5 && !memcmp(s, "/quit", 5)) {
            begin_close(c);
            return out_str(c, "* bye\n");
        }
        return out_str(c, "* error: unknown command (try /who, /nick NEW, /quit; // starts a line with /)\n");
    }
    if (s[0] == '/') { /* "//..." */
        s++;
        n--;
    }
    msg_begin(c);
    msg_str(c, c->me.nick);
    msg_str(c, ": ");
    msg_add(c, s, n);
    msg_str(c, "\n");
    msg_send(c);
    return true;
}

enum { IN_IDLE, IN_MORE, IN_EOF, IN_BROKEN };

static bool too_long(struct conn *c)
{
    if (!out_fmt(c, "* error: line too long (max %zu bytes), discarded\n", room.max_line))
        return false;
    return c->joined || out_str(c, "* nickname?\n");
}

/* Handles buffered lines and reads more, within the per-turn bounds.
 * IN_IDLE: the socket is drained (or /quit came), wait; IN_MORE: there is
 * more to do, yield first; IN_EOF: the client finished sending; IN_BROKEN:
 * end the connection now (an error, or too slow). */
static int handle_input(struct conn *c)
{
    unsigned lines = 0, reads = 0;
    for (;;) {
        /* The complete lines already buffered. */
        while (!c->closing) {
            char *start = c->in + c->in_off;
            char *nl = memchr(c->in + c->in_scan, '\n', c->in_len - c->in_scan);
            if (!nl) {
                c->in_scan = c->in_len;
                break;
            }
            if (lines == LINES_PER_TURN)
                return IN_MORE;
            lines++;
            size_t n = (size_t)(nl - start);
            c->in_off = c->in_scan = (size_t)(nl - c->in) + 1;
            if (n && start[n - 1] == '\r')
                n--;
            bool ok = n > room.max_line ? too_long(c) : handle_line(c, start, n);
            if (!ok || c->slow)
                return IN_BROKEN;
        }
        if (c->closing)
            return IN_IDLE;
        size_t pending = c->in_len - c->in_off;
        if (pending >= room.max_line + 2) {
            /* No "\n" within max_line + 2 bytes: too long whatever follows. */
            if (!too_long(c))
                return IN_BROKEN;
            c->discarding = true;
            pending = 0;
        }
        if (pending == 0) {
            c->in_off = c->in_len = c->in_scan = 0;
        } else if (c->in_off) {
            memmove(c->in, c->in + c->in_off, pending);
            c->in_scan -= c->in_off;
            c->in_off = 0;
            c->in_len = pending;
        }
        if (reads == READS_PER_TURN)
            return IN_MORE;
        reads++;
        ssize_t got = eddy_io_try_read(&c->sock.io, c->in + c->in_len, c->in_cap - c->in_len);
        if (got == -EAGAIN)
            return IN_IDLE;
        if (got == 0)
            return IN_EOF;
        if (got < 0)
            return IN_BROKEN; /* -ECONNRESET and friends */
        if (c->discarding) {
            char *nl = memchr(c->in, '\n', (size_t)got);
            if (!nl)
                continue; /* all of it belongs to the long line */
            size_t keep = (size_t)got - (size_t)(nl + 1 - c->in);
            memmove(c->in, nl + 1, keep);
            c->in_len = keep;
            c->discarding = false;
        } else {
            c->in_len += (size_t)got;
        }
    }
}

static eddy_poll conn_poll(struct conn *c, eddy_cx *cx, void *out)
{
    (void)out;
    EDDY_BEGIN(&c->co, cx);
    if (eddy_tcp_open(&c->sock, c->fd) < 0)
        EDDY_RETURN(); /* the cleanup closes c->fd */
    c->fd = -1;
    c->opened = true;
    c->nick_until = eddy_now() + EDDY_MS(room.nick_timeout_ms);
    /* Lines are small and interactive: without this, Nagle holds a line
     * back until the previous one is acknowledged, and a delayed ACK makes
     * that 40 ms. */
    (void)eddy_tcp_set_nodelay(&c->sock, true);
    /* A fixed kernel send buffer: left to autotuning it grows to megabytes
     * for a peer that does not read, and --max-output would bound nothing. */
    {
        int sndbuf = KERNEL_SNDBUF;
        (void)setsockopt(eddy_io_fd(&c->sock.io), SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    }
    c->id = atomic_fetch_add_explicit(&room.next_id, 1, memory_order_relaxed) + 1;
    c->in_cap = room.max_line + 2 > 4096 ? room.max_line + 2 : 4096;
    c->in = malloc(c->in_cap);
    c->msg = malloc(room.elem_size);
    if (!c->in || !c->msg)
        EDDY_RETURN();
    out_str(c, "* nickname?\n");
    for (;;) {
        /* After /quit only the goodbye is owed: a busy room must not keep
         * the output from ever running dry. */
        if (c->joined && !c->closing && !pump_room(c))
            break;
        if (!flush_out(c))
            break;
        if (c->closing && !out_pending(c))
            break;
        if (!c->closing && !c->joined && eddy_now() >= c->nick_until) {
            /* Checked here as well as in the wait below: a client that
             * keeps sending may never let this task wait. */
            if (!nick_timeout(c))
                break;
            continue; /* flush the error first */
        }
        if (!c->closing) {
            int st = handle_input(c);
            if (st == IN_BROKEN)
                break;
            if (st == IN_MORE) {
                /* Let the other connections drain the channel before this
                 * one publishes more. */
                EDDY_YIELD();
                continue;
            }
            if (st == IN_EOF)
                begin_close(c); /* it may still read what it asked for */
            if (c->closing)
                continue; /* flush the goodbye first */
        }
        c->nk = 0;
        if (!c->closing) {
            eddy_readable_init(&c->rd, &c->sock.io);
            c->kind[c->nk] = K_READ;
            c->kids[c->nk++] = EDDY_CHILD(&ready_vt, &c->rd, &c->rd_rc);
        }
        if (c->joined && !c->closing) {
            eddy_broadcast_recv_init(&c->recv, c->rx, c->msg);
            c->kind[c->nk] = K_RECV;
            c->kids[c->nk++] = EDDY_CHILD(&recv_vt, &c->recv, &c->recv_rc);
        }
        if (out_pending(c)) {
            eddy_writable_init(&c->wr, &c->sock.io);
            c->kind[c->nk] = K_WRITE;
            c->kids[c->nk++] = EDDY_CHILD(&ready_vt, &c->wr, &c->wr_rc);
        }
        if (c->closing || !c->joined) {
            eddy_sleep_until_init(&c->deadline, c->closing ? c->linger_until : c->nick_until);
            c->kind[c->nk] = c->closing ? K_LINGER : K_NICK;
            c->kids[c->nk++] = EDDY_CHILD(&sleep_vt, &c->deadline, &c->deadline_rc);
        }
        EDDY_AWAIT(&c->won, eddy_select, &c->sel, c->kids, c->nk);
        if (c->kind[c->won] == K_RECV) {
            if (!deliver(c, c->recv_rc))
                break;
        } else if (c->kind[c->won] == K_LINGER) {
            break; /* the client did not take its last output in time */
        } else if (c->kind[c->won] == K_NICK) {
            if (!nick_timeout(c))
                break;
        } else if ((c->kind[c->won] == K_READ ? c->rd_rc : c->wr_rc) < 0) {
            break;
        }
    }
    EDDY_FINALLY();
    leave_room(c, !EDDY_DROPPING());
    if (c->slow && c->opened) {
        /* Reset rather than close: the kernel would otherwise keep trying
         * to deliver what is queued to a peer that does not read. */
        struct linger lg = {.l_onoff = 1, .l_linger = 0};
        (void)setsockopt(eddy_io_fd(&c->sock.io), SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    }
    free(c->in);
    free(c->out);
    free(c->msg);
    c->in = c->out = NULL;
    c->msg = NULL;
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    eddy_tcp_close(&c->sock);
    EDDY_DONE();
}

EDDY_STATIC_CORO_VT_VOID(conn_vt, struct conn, conn_poll);

/* ---- main ---------------------------------------------------------------------- */

/* The listener's on_accept (server_common.h): a connection task for fd. */
static int conn_spawn(int fd)
{
    struct conn init = {.fd = fd};
    return eddy_spawn_local(&conn_vt, &init, NULL);
}

static bool chat_option(struct srv *s, const char *opt, const char *v)
{
    if (!strcmp(opt, "--max-line"))
        room.max_line = (size_t)srv_num(s, opt, v, 1, 65536);
    else if (!strcmp(opt, "--max-output"))
        room.max_output = (size_t)srv_num(s, opt, v, 1024, 1LL << 30);
    else if (!strcmp(opt, "--nick-timeout-ms"))
        room.nick_timeout_ms = (unsigned long long)srv_num(s, opt, v, 1, 86400000);
    else
        return false;
    return true;
}

int main(int argc, char **argv)
{
    struct srv s = {
        .name = "chat_server",
        .usage = "usage: chat_server --port P [--threads N] [--io epoll|io_uring] [--addr A] [--max-line N] [--max-output BYTES]\n"
                 "                   [--nick-timeout-ms N]\n",
        .on_accept = conn_spawn,
    };
    srv_parse_args(&s, argc, argv, chat_option);

    room.msg_max = NICK_MAX + 2 + room.max_line + 1;
    /* One message must fit, or every client would be "too slow" at once. */
    if (room.max_output < room.msg_max) {
        fprintf(stderr, "chat_server: --max-output must be at least --max-line + %d (%zu)\n", NICK_MAX + 3,
                room.msg_max);
        return 2;
    }
    room.elem_size = (sizeof(struct msg) + room.msg_max + 7) & ~(size_t)7;
    size_t capacity = CHANNEL_BYTES / room.elem_size;
    capacity = capacity < CHANNEL_MIN ? CHANNEL_MIN : capacity > CHANNEL_MAX ? CHANNEL_MAX : capacity;
    eddy_broadcast_rx *rx0;
    int err = eddy_broadcast_new(&room.tx, &rx0, room.elem_size, capacity);
    if (err < 0) {
        fprintf(stderr, "chat_server: channel: %s\n", eddy_strerror(err));
        return 1;
    }
    /* Receivers subscribe when they join; this one would only count. */
    eddy_broadcast_rx_drop(rx0);

    eddy_rt *rt;
    if (srv_setup(&s, &rt) < 0) {
        eddy_broadcast_tx_drop(room.tx);
        return 1;
    }
    fprintf(stderr, "chat_server: max line %zu bytes, max output %zu bytes, room channel %zu messages of %zu bytes\n",
            room.max_line, room.max_output, capacity, room.elem_size);

    int status = srv_run(&s, rt);
    eddy_rt_free(rt); /* drops the connections still open: each leaves the room and closes */
    eddy_broadcast_tx_drop(room.tx);
    fprintf(stderr, "chat_server: %llu connections, %llu joined, %llu dropped as too slow, %llu refused (no memory)\n",
            s.accepted, (unsigned long long)room.joined, (unsigned long long)room.dropped_slow, s.spawn_failed);
    return status;
}
