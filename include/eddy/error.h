/* eddy/error.h - error values.
 *
 * Every eddy function that can fail returns 0 (or a count) on success and a
 * negative errno value on failure: -ENOMEM, -ECANCELED, -ETIMEDOUT, ...  The
 * few conditions errno has no name for get their own values, far above the
 * errno range so they never collide.
 */
#ifndef EDDY_ERROR_H
#define EDDY_ERROR_H

#include <eddy/common.h>

EDDY_BEGIN_DECLS

enum {
    EDDY_ERR_BASE = 20000,
    /* a runtime function was called from outside any runtime */
    EDDY_ENORUNTIME = EDDY_ERR_BASE + 1,
    /* the runtime is shutting down and accepts no new tasks */
    EDDY_ESHUTDOWN = EDDY_ERR_BASE + 2,
    /* the operation was called on an object in the wrong state (misuse) */
    EDDY_EMISUSE = EDDY_ERR_BASE + 3,
    /* a channel or primitive was closed by the other side */
    EDDY_ECLOSED = EDDY_ERR_BASE + 4,
    /* a broadcast receiver fell behind and messages were dropped */
    EDDY_ELAGGED = EDDY_ERR_BASE + 5,
};

/* Returns a static, human-readable name for an error value.  Accepts the
 * negative form (-ENOMEM) and the positive one (ENOMEM); 0 gives "success".
 * Never returns NULL; unknown values give "unknown error".  Thread-safe. */
EDDY_API const char *eddy_strerror(int err);

/* Prints "eddy: <what>: <misuse>" to stderr and aborts.  Called by debug
 * builds when the API is misused (poll after READY, a moved future, a
 * handle used twice).  Exposed so user futures can report misuse the same
 * way. */
EDDY_API EDDY_NORETURN EDDY_COLD void eddy_misuse(const char *what, const char *detail);

EDDY_END_DECLS

#endif
