/* tpc_echo_server - the thread-per-connection twin of the echo servers:
 * blocking sockets, one pthread per connection, the design the notes start
 * from ("a thread per connection").  No libeddy.
 *
 *     tpc_echo_server --port P [--addr A] [--stack KB]
 *
 * Each thread gets the default stack size (glibc: RLIMIT_STACK, usually
 * 8 MiB of address space) unless --stack overrides it: what default thread
 * stacks cost is the point of the comparison.  The thread reads into a
 * 16 KiB buffer on its own stack (the same size eddy's echo_server
 * borrows), so every live connection keeps that buffer's pages resident.
 *
 * When pthread_create fails (out of memory, threads or map areas) the
 * connection is closed and counted; the server goes on.  SIGINT/SIGTERM
 * print a summary (connections, peak threads, failed creates) and exit 0.
 */
#include "common.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>

#define PROG "tpc_echo_server"
#define BUF_SIZE 16384

static atomic_long live, peak, accepted, failed;
static pthread_attr_t attr;

static void *conn_thread(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char buf[BUF_SIZE];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        const char *p = buf;
        while (n > 0) {
            ssize_t w = send(fd, p, (size_t)n, MSG_NOSIGNAL);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0)
                goto out;
            p += w;
            n -= w;
        }
    }
out:
    close(fd);
    atomic_fetch_sub(&live, 1);
    return NULL;
}

static void *signal_thread(void *arg)
{
    sigset_t *mask = arg;
    int sig = 0;
    sigwait(mask, &sig);
    fprintf(stderr, PROG ": %s: %ld connections accepted, peak %ld threads, %ld thread creations failed\n",
            strsignal(sig), atomic_load(&accepted), atomic_load(&peak), atomic_load(&failed));
    fflush(stderr);
    _exit(0);
}

static void usage(void)
{
    fprintf(stderr, "usage: " PROG " --port P [--addr A] [--stack KB]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *addr = "127.0.0.1";
    long port = -1, stack_kb = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--port") && v) {
            port = bench_parse_long(PROG, a, v, 0, 65535);
            i++;
        } else if (!strcmp(a, "--addr") && v) {
            addr = v;
            i++;
        } else if (!strcmp(a, "--stack") && v) {
            stack_kb = bench_parse_long(PROG, a, v, 16, 1L << 20);
            i++;
        } else {
            usage();
        }
    }
    if (port < 0)
        usage();
    bench_raise_nofile();

    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (stack_kb > 0 && pthread_attr_setstacksize(&attr, (size_t)stack_kb * 1024) != 0)
        bench_die(PROG, "--stack %ld: invalid stack size", stack_kb);
    size_t stack = 0;
    pthread_attr_getstacksize(&attr, &stack);

    /* Signals go to one thread that only waits for them. */
    static sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &mask, NULL);
    pthread_t st;
    if (pthread_create(&st, &attr, signal_thread, &mask) != 0)
        bench_die(PROG, "pthread_create: out of resources at start");

    int lfd = bench_listen(PROG, addr, (int)port, 0);
    fprintf(stderr, PROG ": one thread per connection, %zu KiB stack each%s\n", stack / 1024,
            stack_kb ? "" : " (the default)");

    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                usleep(1000); /* wait for a thread to close its socket */
            }
            continue;
        }
        atomic_fetch_add(&accepted, 1);
        bench_nodelay(fd);
        long now = atomic_fetch_add(&live, 1) + 1;
        long p = atomic_load(&peak);
        while (now > p && !atomic_compare_exchange_weak(&peak, &p, now))
            ;
        pthread_t t;
        int err = pthread_create(&t, &attr, conn_thread, (void *)(intptr_t)fd);
        if (err != 0) {
            if (atomic_fetch_add(&failed, 1) == 0)
                fprintf(stderr, PROG ": pthread_create: %s (with %ld threads); closing such connections\n",
                        strerror(err), now);
            atomic_fetch_sub(&live, 1);
            close(fd);
        }
    }
}
