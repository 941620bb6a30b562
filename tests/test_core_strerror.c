/* eddy_strerror: every EDDY_E* value has its own name, common errno values
 * have theirs, both signs give the same text, 0 is "success", and anything
 * else (including the extremes of int) is "unknown error", never NULL. */
#include <eddy.h>

#include <limits.h>

#include "eddy_test.h"

static const char *UNKNOWN = "unknown error";

static void check_same_both_signs(int v)
{
    const char *pos = eddy_strerror(v);
    const char *neg = eddy_strerror(-v);
    CHECK_MSG(pos != NULL && neg != NULL, "value %d", v);
    CHECK_MSG(strcmp(pos, neg) == 0, "value %d: \"%s\" vs \"%s\"", v, pos, neg);
}

int main(void)
{
    test_watchdog(30);

    /* eddy's own values: named, distinct, not errno's text. */
    static const struct {
        int v;
        const char *word; /* a word the name must contain */
    } own[] = {
        {EDDY_ENORUNTIME, "runtime"}, {EDDY_ESHUTDOWN, "shutting down"}, {EDDY_EMISUSE, "misuse"},
        {EDDY_ECLOSED, "closed"},     {EDDY_ELAGGED, "lagged"},
    };
    const size_t nown = sizeof own / sizeof own[0];
    for (size_t i = 0; i < nown; i++) {
        const char *s = eddy_strerror(-own[i].v);
        CHECK_MSG(s && strcmp(s, UNKNOWN) != 0 && s[0] != '\0', "EDDY value %d has no name", own[i].v);
        CHECK_STR_CONTAINS(s, own[i].word);
        check_same_both_signs(own[i].v);
        for (size_t j = 0; j < i; j++)
            CHECK_MSG(strcmp(s, eddy_strerror(own[j].v)) != 0, "%d and %d share the name \"%s\"", own[i].v,
                      own[j].v, s);
    }

    /* errno values the runtime returns, and the usual network ones. */
    static const int errs[] = {EPERM,   ENOENT,     EINTR,     EIO,        EBADF,        EAGAIN,
                               ENOMEM,  EACCES,     EFAULT,    EBUSY,      EEXIST,       EINVAL,
                               EMFILE,  ENFILE,     ENOSPC,    EPIPE,      ERANGE,       ENOSYS,
                               ENOTSOCK, EADDRINUSE, ENETUNREACH, ECONNABORTED, ECONNRESET, ENOBUFS,
                               ENOTCONN, ETIMEDOUT, ECONNREFUSED, EHOSTUNREACH, EALREADY, EINPROGRESS,
                               ECANCELED, EOVERFLOW};
    for (size_t i = 0; i < sizeof errs / sizeof errs[0]; i++) {
        const char *s = eddy_strerror(-errs[i]);
        CHECK_MSG(s && strcmp(s, UNKNOWN) != 0 && s[0] != '\0', "errno %d has no name", errs[i]);
        /* the same text strerror gives (in the C locale) */
        CHECK_MSG(strcmp(s, strerror(errs[i])) == 0, "errno %d: \"%s\" vs strerror \"%s\"", errs[i], s,
                  strerror(errs[i]));
        check_same_both_signs(errs[i]);
        for (size_t j = 0; j < nown; j++)
            CHECK(strcmp(s, eddy_strerror(own[j].v)) != 0);
    }
    CHECK_STR_CONTAINS(eddy_strerror(-ECANCELED), "anceled");
    CHECK_STR_CONTAINS(eddy_strerror(-ETIMEDOUT), "timed out");

    /* 0 */
    CHECK(strcmp(eddy_strerror(0), "success") == 0);

    /* Unknown values, including the ends of int (whose negation overflows
     * if done naively: UBSan builds halt on that). */
    static const int unknown[] = {EDDY_ERR_BASE, EDDY_ERR_BASE + 99, 4095, 19999, INT_MAX, INT_MIN, INT_MIN + 1};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        const char *s = eddy_strerror(unknown[i]);
        CHECK_MSG(s != NULL && strcmp(s, UNKNOWN) == 0, "value %d gave \"%s\"", unknown[i], s ? s : "(null)");
    }

    printf("test_core_strerror: ok\n");
    return 0;
}
