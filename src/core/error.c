/* eddy_strerror, misuse reports and internal warnings. */
#include "internal.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *eddy_strerror(int err)
{
    if (err == INT_MIN)
        return "unknown error";
    if (err < 0)
        err = -err;
    switch (err) {
    case 0:
        return "success";
    case EDDY_ENORUNTIME:
        return "no eddy runtime on this thread";
    case EDDY_ESHUTDOWN:
        return "runtime is shutting down";
    case EDDY_EMISUSE:
        return "API misuse";
    case EDDY_ECLOSED:
        return "closed";
    case EDDY_ELAGGED:
        return "receiver lagged behind; messages were skipped";
    default:
        break;
    }
    /* strerrordesc_np is thread-safe and returns a static string. */
    const char *s = err < EDDY_ERR_BASE ? strerrordesc_np(err) : NULL;
    return s ? s : "unknown error";
}

void eddy_misuse(const char *what, const char *detail)
{
    fprintf(stderr, "eddy: %s: %s\n", what ? what : "?", detail ? detail : "misuse");
    fflush(stderr);
    abort();
}

void eddy__coro_bad_resume(const eddy_coro *co)
{
    char buf[160];
    snprintf(buf, sizeof buf,
             "resumed at unknown point (line %d): is an EDDY_AWAIT/EDDY_YIELD inside a switch statement?",
             (int)co->pc);
    eddy_misuse("coroutine", buf);
}

void eddy__warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("eddy: warning: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

uint64_t eddy__mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
