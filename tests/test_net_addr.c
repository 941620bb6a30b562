/* Addresses, IPv6, socket options.
 *
 *  1. eddy_addr_parse / eddy_addr_format round trips for IPv4 and IPv6
 *     (canonical text comes back unchanged; "localhost" is 127.0.0.1;
 *     ports 0 and 65535), eddy_addr_port, and -ENOSPC for a short buffer.
 *  2. Garbage is rejected with -EINVAL: "", "1.2.3.4", "1.2.3.4:99999",
 *     "[::1]8080", "host:80", and more (empty port, signs, spaces, junk
 *     after the port, unbracketed IPv6, a missing bracket).
 *  3. A listener on "[::1]:0" accepts an IPv6 client; both ends' addresses
 *     are IPv6 and agree.  Skipped cleanly (the rest still runs) when IPv6
 *     is unavailable: socket(AF_INET6) fails or binding ::1 gives
 *     EADDRNOTAVAIL.
 *  4. eddy_tcp_set_nodelay turns TCP_NODELAY on and off (getsockopt
 *     agrees); local/peer addresses of both ends of an IPv4 connection
 *     agree with each other and with the listener's; on a closed stream
 *     these return -EBADF. */
// eddy-test-timeout: 60
// eddy-test-labels: net flavors
#include "net_util.h"

#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

static void round_trip(const char *text, const char *expect, int family, int port)
{
    eddy_addr a;
    char buf[64];
    int r = eddy_addr_parse(&a, text);
    CHECK_MSG(r == 0, "parse \"%s\" gave %d", text, r);
    CHECK_MSG(a.u.sa.sa_family == family, "\"%s\": family %d", text, a.u.sa.sa_family);
    CHECK_EQ(a.len, family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6));
    CHECK_EQ(eddy_addr_port(&a), port);
    int n = eddy_addr_format(&a, buf, sizeof buf);
    CHECK_EQ(n, (int)strlen(expect));
    CHECK_MSG(strcmp(buf, expect) == 0, "\"%s\" formatted as \"%s\", expected \"%s\"", text, buf, expect);
    /* The formatted text parses to the same address. */
    eddy_addr b;
    CHECK_OK(eddy_addr_parse(&b, buf));
    CHECK_EQ(b.len, a.len);
    CHECK(memcmp(&a.u, &b.u, a.len) == 0);
}

static void rejects(const char *text)
{
    eddy_addr a;
    int r = eddy_addr_parse(&a, text);
    CHECK_MSG(r == -EINVAL, "\"%s\" was accepted (%d); expected -EINVAL", text, r);
}

static void test_parse_format(void)
{
    round_trip("127.0.0.1:8080", "127.0.0.1:8080", AF_INET, 8080);
    round_trip("0.0.0.0:0", "0.0.0.0:0", AF_INET, 0);
    round_trip("255.255.255.255:65535", "255.255.255.255:65535", AF_INET, 65535);
    round_trip("localhost:80", "127.0.0.1:80", AF_INET, 80);
    round_trip("[::1]:8080", "[::1]:8080", AF_INET6, 8080);
    round_trip("[::]:0", "[::]:0", AF_INET6, 0);
    round_trip("[2001:db8::42]:65535", "[2001:db8::42]:65535", AF_INET6, 65535);
    round_trip("[::ffff:1.2.3.4]:1", "[::ffff:1.2.3.4]:1", AF_INET6, 1);
    /* Non-canonical input formats canonically. */
    round_trip("[2001:0db8:0000:0000:0000:0000:0000:0001]:443", "[2001:db8::1]:443", AF_INET6, 443);
    round_trip("127.0.0.1:080", "127.0.0.1:80", AF_INET, 80);

    const char *bad[] = {
        "", "1.2.3.4", "1.2.3.4:99999", "[::1]8080", "host:80",           /* from the brief */
        "1.2.3.4:", "1.2.3.4:-1", "1.2.3.4:+80", "1.2.3.4:80x", "1.2.3.4:0x50",
        "1.2.3.4:65536", "1.2.3.4:99999999999999999999999", ":80", "1.2.3:80", "1.2.3.4.5:80",
        "256.1.1.1:80", "::1:80", "[::1]", "[::1]:", "[::1:80", "::1]:80", "[1.2.3.4]:80x",
        "[zz::1]:80", "1.2.3.4:80:80", "1.2.3.4 :80", "1.2.3.4: 80", "1.2.3.4:\t80", "1.2.3.4:80 ",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        rejects(bad[i]);
    CHECK_EQ(eddy_addr_parse(NULL, "1.2.3.4:1"), -EINVAL);
    eddy_addr a;
    CHECK_EQ(eddy_addr_parse(&a, NULL), -EINVAL);

    /* A buffer too short for the text: -ENOSPC; exactly long enough: ok. */
    CHECK_OK(eddy_addr_parse(&a, "[2001:db8::42]:65535"));
    char buf[64];
    size_t need = strlen("[2001:db8::42]:65535") + 1;
    CHECK_EQ(eddy_addr_format(&a, buf, need - 1), -ENOSPC);
    CHECK_EQ(eddy_addr_format(&a, buf, need), (int)need - 1);
    CHECK_EQ(eddy_addr_format(&a, buf, 0), -ENOSPC);
    /* An unknown family. */
    memset(&a, 0, sizeof a);
    a.u.sa.sa_family = AF_UNIX;
    CHECK_EQ(eddy_addr_format(&a, buf, sizeof buf), -EINVAL);
    CHECK_EQ(eddy_addr_port(&a), 0);
    printf("1/2: parse/format round trips and %zu rejections\n", sizeof bad / sizeof bad[0]);
}

/* ---- IPv6 and socket options on live connections ---------------------------- */

static bool g_ipv6;

static bool addr_equal(const eddy_addr *a, const eddy_addr *b)
{
    if (a->u.sa.sa_family != b->u.sa.sa_family || a->len != b->len)
        return false;
    if (a->u.sa.sa_family == AF_INET)
        return a->u.in4.sin_port == b->u.in4.sin_port && a->u.in4.sin_addr.s_addr == b->u.in4.sin_addr.s_addr;
    return a->u.in6.sin6_port == b->u.in6.sin6_port &&
           memcmp(&a->u.in6.sin6_addr, &b->u.in6.sin6_addr, sizeof a->u.in6.sin6_addr) == 0;
}

static int nodelay(const eddy_tcp *s)
{
    int v = -1;
    socklen_t len = sizeof v;
    CHECK(getsockopt(eddy_io_fd(&s->io), IPPROTO_TCP, TCP_NODELAY, &v, &len) == 0);
    return v;
}

/* The two ends of a connection and a listener: addresses agree. */
static void check_ends(const eddy_tcp_listener *l, const eddy_tcp *cli, const eddy_tcp *srv, const eddy_addr *peer,
                       int family)
{
    eddy_addr la, cl, cp, sl, sp;
    char b1[64], b2[64];
    CHECK_OK(eddy_tcp_listener_addr(l, &la));
    CHECK_OK(eddy_tcp_local_addr(cli, &cl));
    CHECK_OK(eddy_tcp_peer_addr(cli, &cp));
    CHECK_OK(eddy_tcp_local_addr(srv, &sl));
    CHECK_OK(eddy_tcp_peer_addr(srv, &sp));
    CHECK_EQ(la.u.sa.sa_family, family);
    CHECK_EQ(cl.u.sa.sa_family, family);
    eddy_addr_format(&cl, b1, sizeof b1);
    eddy_addr_format(&sp, b2, sizeof b2);
    CHECK_MSG(addr_equal(&cl, &sp), "client local %s != server peer %s", b1, b2);
    CHECK(addr_equal(&cp, &sl)); /* client's peer is the server's local end */
    CHECK(addr_equal(&sl, &la)); /* ... which is the listener's address */
    CHECK(addr_equal(&sp, peer)); /* and eddy_accept's peer is the client's local */
    CHECK(eddy_addr_port(&cl) != eddy_addr_port(&la));
    printf("   client %s <-> server %s\n", b1, (eddy_addr_format(&sl, b2, sizeof b2), b2));
}

struct root {
    eddy_coro co;
    eddy_tcp_listener l;
    eddy_addr addr, peer;
    eddy_tcp cli, srv;
    int rc, fd, v6;
    ssize_t n;
    union {
        eddy_connect conn;
        eddy_accept acc;
        eddy_write_all wr;
        eddy_read_exact rx;
    } f;
    char buf[8];
};

static eddy_poll root_poll(struct root *t, eddy_cx *cx, int *out)
{
    EDDY_BEGIN(&t->co, cx);
    /* ---- 4 (IPv4), then 3 (IPv6) ---- */
    for (t->v6 = 0; t->v6 < 2; t->v6++) {
        if (t->v6) {
            int probe = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
            if (probe < 0) {
                printf("3: SKIP: IPv6 unavailable: socket(AF_INET6): %s\n", eddy_strerror(errno));
                break;
            }
            close(probe);
            t->rc = eddy_tcp_listen(&t->l, "[::1]:0", &(eddy_tcp_opts){.v6only = true});
            if (t->rc == -EADDRNOTAVAIL || t->rc == -EAFNOSUPPORT) {
                printf("3: SKIP: IPv6 loopback unavailable: listen [::1]:0: %s\n", eddy_strerror(t->rc));
                break;
            }
            CHECK_OK(t->rc);
            g_ipv6 = true;
        } else {
            CHECK_OK(eddy_tcp_listen(&t->l, "127.0.0.1:0", NULL));
        }
        CHECK_OK(eddy_tcp_listener_addr(&t->l, &t->addr));
        CHECK(eddy_addr_port(&t->addr) > 0);
        EDDY_AWAIT(&t->rc, eddy_connect, &t->f.conn, &t->cli, &t->addr, EDDY_SEC(10));
        CHECK_OK(t->rc);
        EDDY_AWAIT(&t->fd, eddy_accept, &t->f.acc, &t->l, &t->peer);
        CHECK(t->fd >= 0);
        CHECK_OK(eddy_tcp_open(&t->srv, t->fd));
        printf("%s:\n", t->v6 ? "3: IPv6" : "4: IPv4");
        check_ends(&t->l, &t->cli, &t->srv, &t->peer, t->v6 ? AF_INET6 : AF_INET);

        /* Nodelay on both ends, on and off. */
        CHECK_OK(eddy_tcp_set_nodelay(&t->cli, true));
        CHECK_OK(eddy_tcp_set_nodelay(&t->srv, true));
        CHECK(nodelay(&t->cli) != 0);
        CHECK(nodelay(&t->srv) != 0);
        CHECK_OK(eddy_tcp_set_nodelay(&t->cli, false));
        CHECK_EQ(nodelay(&t->cli), 0);
        CHECK(nodelay(&t->srv) != 0);

        /* Data flows. */
        EDDY_AWAIT(&t->n, eddy_write_all, &t->f.wr, &t->cli.io, "ping", 4);
        CHECK_EQ(t->n, 4);
        EDDY_AWAIT(&t->n, eddy_read_exact, &t->f.rx, &t->srv.io, t->buf, 4);
        CHECK_EQ(t->n, 4);
        CHECK(memcmp(t->buf, "ping", 4) == 0);

        CHECK_OK(eddy_tcp_close(&t->cli));
        CHECK_OK(eddy_tcp_close(&t->srv));
        /* Closed: -EBADF, not a crash or a stale descriptor. */
        CHECK_EQ(eddy_tcp_set_nodelay(&t->cli, true), -EBADF);
        CHECK_EQ(eddy_tcp_local_addr(&t->cli, &t->peer), -EBADF);
        CHECK_EQ(eddy_tcp_peer_addr(&t->srv, &t->peer), -EBADF);
        CHECK_OK(eddy_tcp_close(&t->cli)); /* closing twice is safe */
        CHECK_OK(eddy_tcp_listener_close(&t->l));
        CHECK_EQ(eddy_tcp_listener_addr(&t->l, &t->addr), -EBADF);
    }
    *out = 0;
    EDDY_END();
}
EDDY_CORO_VT(root_vt, struct root, int, root_poll);

static struct root g_root;

int main(void)
{
    test_watchdog(100);
    test_parse_format();
    int out = -1;
    nu_run(&root_vt, &g_root, &out, NULL, NULL);
    CHECK_EQ(out, 0);
    printf("IPv6 %s\n", g_ipv6 ? "tested" : "skipped (unavailable)");
    return 0;
}
