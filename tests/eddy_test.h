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
 *   test_watchdog(secs)    a lost wake-up fails the test (SIGALRM, with a
 *                          message) instead of hanging until the harness's
 *                          timeout
 *
 * Integers are compared as long long (values are converted first, so both
 * sides are evaluated exactly once).
 */
#ifndef EDDY_TEST_H
#define EDDY_TEST_H

#include <eddy/error.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

#endif
