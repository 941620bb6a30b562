/* eddy_test.h - a tiny assertion header shared by eddy's tests.
 *
 * Every test is its own process: main returns 0 on success, and a failed
 * check prints where and what, then exits with status 1.
 *
 *   CHECK(cond)            cond must be true; prints the expression
 *   CHECK_EQ(a, b)         integers; prints both expressions and values
 *   CHECK_NE(a, b)         integers; must differ
 *   CHECK_LE(a, b)         integers; a <= b
 *   CHECK_OK(expr)         an eddy call must return 0; prints eddy_strerror
 *   CHECK_STR_CONTAINS(haystack, needle)
 *   CHECK_MSG(cond, fmt, ...)   with a printf-style explanation
 *   TEST_SKIP(fmt, ...)    prints "SKIP: ..." and exits 0
 *   TEST_SKIP_UNSUPPORTED(fmt, ...)  prints "SKIP: ..." and exits 77, which
 *                          CTest reports as skipped (SKIP_RETURN_CODE), not
 *                          passed: for a test whose subject is missing here
 *   test_expect_abort(name, fn, needle)  fn must abort in a forked child
 *                          with an "eddy:" message containing needle
 *   test_watchdog(secs)    a lost wake-up fails the test (SIGALRM, with a
 *                          message) instead of hanging until the harness's
 *                          timeout
 *
 * Integers are compared as long long (values are converted first, so both
 * sides are evaluated exactly once).
 */
#ifndef EDDY_TEST_H
#define EDDY_TEST_H

/* TEST_TSAN: built with ThreadSanitizer; TEST_SANITIZED: with TSan or
 * ASan (everything several times slower): loop counts and watchdogs scale
 * with them. */
#if defined(__SANITIZE_THREAD__)
#define TEST_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TEST_TSAN 1
#endif
#endif
#ifndef TEST_TSAN
#define TEST_TSAN 0
#endif
#if TEST_TSAN || defined(__SANITIZE_ADDRESS__)
#define TEST_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEST_SANITIZED 1
#endif
#endif
#ifndef TEST_SANITIZED
#define TEST_SANITIZED 0
#endif

#include <eddy/error.h>
#include <eddy/runtime.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define EDDY_TEST_FAIL_(...)                                                                                  \
    do {                                                                                                      \
        fflush(stdout);                                                                                       \
        fprintf(stderr, __VA_ARGS__);                                                                         \
        fputc('\n', stderr);                                                                                  \
        fflush(stderr);                                                                                       \
        exit(1);                                                                                              \
    } while (0)

#define CHECK(cond)                                                                                           \
    do {                                                                                                      \
        if (!(cond))                                                                                          \
            EDDY_TEST_FAIL_("%s:%d: CHECK failed: %s", __FILE__, __LINE__, #cond);                            \
    } while (0)

#define CHECK_MSG(cond, ...)                                                                                  \
    do {                                                                                                      \
        if (!(cond)) {                                                                                        \
            fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond);                          \
            EDDY_TEST_FAIL_(__VA_ARGS__);                                                                     \
        }                                                                                                     \
    } while (0)

#define EDDY_TEST_CMP_(a, op, b)                                                                              \
    do {                                                                                                      \
        long long eddy_test_a_ = (long long)(a);                                                              \
        long long eddy_test_b_ = (long long)(b);                                                              \
        if (!(eddy_test_a_ op eddy_test_b_))                                                                  \
            EDDY_TEST_FAIL_("%s:%d: CHECK failed: %s %s %s (%lld vs %lld)", __FILE__, __LINE__, #a, #op, #b,  \
                            eddy_test_a_, eddy_test_b_);                                                      \
    } while (0)

#define CHECK_EQ(a, b) EDDY_TEST_CMP_(a, ==, b)
#define CHECK_NE(a, b) EDDY_TEST_CMP_(a, !=, b)
#define CHECK_LE(a, b) EDDY_TEST_CMP_(a, <=, b)

#define CHECK_OK(expr)                                                                                        \
    do {                                                                                                      \
        int eddy_test_r_ = (int)(expr);                                                                       \
        if (eddy_test_r_ != 0)                                                                                \
            EDDY_TEST_FAIL_("%s:%d: CHECK_OK failed: %s returned %d (%s)", __FILE__, __LINE__, #expr,         \
                            eddy_test_r_, eddy_strerror(eddy_test_r_));                                      \
    } while (0)

#define CHECK_STR_CONTAINS(hay, needle)                                                                       \
    do {                                                                                                      \
        const char *eddy_test_h_ = (hay);                                                                     \
        const char *eddy_test_n_ = (needle);                                                                  \
        if (!eddy_test_h_ || !strstr(eddy_test_h_, eddy_test_n_))                                             \
            EDDY_TEST_FAIL_("%s:%d: CHECK failed: \"%s\" does not contain \"%s\"", __FILE__, __LINE__,        \
                            eddy_test_h_ ? eddy_test_h_ : "(null)", eddy_test_n_);                            \
    } while (0)

#define TEST_SKIP(...)                                                                                        \
    do {                                                                                                      \
        printf("SKIP: ");                                                                                     \
        printf(__VA_ARGS__);                                                                                  \
        printf("\n");                                                                                         \
        exit(0);                                                                                              \
    } while (0)

#define TEST_SKIP_RETURN_CODE 77
#define TEST_SKIP_UNSUPPORTED(...)                                                                            \
    do {                                                                                                      \
        printf("SKIP: ");                                                                                     \
        printf(__VA_ARGS__);                                                                                  \
        printf("\n");                                                                                         \
        fflush(stdout);                                                                                       \
        exit(TEST_SKIP_RETURN_CODE);                                                                          \
    } while (0)

/* Fails the test after secs seconds: a lost wake-up shows up as a failure
 * with a clear cause rather than as a hang until the harness's timeout. */
static inline void eddy_test_on_alarm_(int sig)
{
    static const char msg[] = "watchdog: the test did not finish in time (a lost wake-up or a hang)\n";
    (void)sig;
    ssize_t r = write(2, msg, sizeof msg - 1);
    (void)r;
    _exit(1);
}

static inline void test_watchdog(unsigned secs)
{
    signal(SIGALRM, eddy_test_on_alarm_);
    alarm(secs);
}

/* Runs fn in a forked child with stderr captured; the child must die of
 * SIGABRT with a message that starts with "eddy:" and contains needle
 * (how eddy_misuse reports API misuse). */
static inline void test_expect_abort(const char *name, void (*fn)(void), const char *needle)
{
    int fds[2];
    CHECK_EQ(pipe(fds), 0);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        if (dup2(fds[1], 2) < 0)
            _exit(3);
        close(fds[1]);
        fn();
        fprintf(stderr, "misuse was not detected\n");
        _exit(0);
    }
    close(fds[1]);
    char buf[8192];
    size_t len = 0;
    /* Read until EOF (the child exits) or the buffer is full. */
    while (len < sizeof buf - 1) {
        ssize_t r = read(fds[0], buf + len, sizeof buf - 1 - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        len += (size_t)r;
    }
    buf[len] = '\0';
    close(fds[0]);
    int status = 0;
    pid_t w;
    do
        w = waitpid(pid, &status, 0);
    while (w < 0 && errno == EINTR);
    CHECK_EQ(w, pid);
    CHECK_MSG(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT,
              "%s: expected the child to abort; it %s %d; its stderr:\n%s", name,
              WIFSIGNALED(status) ? "died of signal" : "exited with", WIFSIGNALED(status) ? WTERMSIG(status)
                                                                                            : WEXITSTATUS(status),
              buf);
    CHECK_MSG(strstr(buf, needle) != NULL, "%s: message does not name the misuse (\"%s\"):\n%s", name, needle,
              buf);
    CHECK_MSG(strstr(buf, "eddy:") != NULL, "%s: message lacks the eddy: prefix:\n%s", name, buf);
    printf("%s: aborted with: %s", name, buf);
}

/* The runtime flavour under test.  CTest runs every test labelled
 * "flavors" three times: as is, as <name>_mt with
 * EDDY_TEST_FLAVOR=multi_thread (two workers), and as <name>_uring with
 * EDDY_TEST_FLAVOR=io_uring (the current-thread runtime with .io_uring set;
 * where the kernel refuses io_uring the runtime falls back to epoll, and
 * eddy_rt_stats.io_backend says so).  Such tests build their runtimes with
 *     eddy_rt_new(&rt, test_builder(NULL))      or test_builder(&(eddy_rt_builder){...})
 * and keep flavour-specific assertions behind test_is_mt() / test_is_uring(). */
static inline bool test_is_mt(void)
{
    const char *f = getenv("EDDY_TEST_FLAVOR");
    return f && strcmp(f, "multi_thread") == 0;
}

static inline bool test_is_uring(void)
{
    const char *f = getenv("EDDY_TEST_FLAVOR");
    return f && strcmp(f, "io_uring") == 0;
}

static inline const eddy_rt_builder *test_builder(const eddy_rt_builder *b)
{
    static eddy_rt_builder copy;
    if (b)
        copy = *b;
    else
        memset(&copy, 0, sizeof copy);
    if (test_is_mt()) {
        copy.flavor = EDDY_RT_MULTI_THREAD;
        if (!copy.workers)
            copy.workers = 2;
    } else if (test_is_uring()) {
        copy.io_uring = true;
    }
    return &copy;
}

#endif
