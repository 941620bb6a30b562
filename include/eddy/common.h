/* eddy/common.h - export macros and the one place where GNU C extensions live.
 *
 * Every other eddy header includes this one.  GNU extensions (branch hints,
 * inlining and visibility attributes, initial-exec thread-locals) are only
 * used through the EDDY_* macros below, so a non-GNU compiler gets plain C17.
 */
#ifndef EDDY_COMMON_H
#define EDDY_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define EDDY_VERSION_MAJOR 0
#define EDDY_VERSION_MINOR 1
#define EDDY_VERSION_PATCH 0
#define EDDY_VERSION_STRING "0.1.0"

#if defined(__GNUC__) || defined(__clang__)
#define EDDY_GNU 1
#else
#define EDDY_GNU 0
#endif

#if EDDY_GNU
#define EDDY_API __attribute__((visibility("default")))
#define EDDY_LIKELY(x) __builtin_expect(!!(x), 1)
#define EDDY_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define EDDY_INLINE static inline __attribute__((always_inline))
#define EDDY_NOINLINE __attribute__((noinline))
#define EDDY_COLD __attribute__((cold, noinline))
#define EDDY_NORETURN __attribute__((noreturn))
#define EDDY_UNUSED __attribute__((unused))
#define EDDY_MUST_USE __attribute__((warn_unused_result))
#define EDDY_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define EDDY_FALLTHROUGH __attribute__((fallthrough))
#define EDDY_LABEL_UNUSED __attribute__((unused))
/* initial-exec: one %fs-relative load, even inside libeddy.so. */
#define EDDY_TLS __thread __attribute__((tls_model("initial-exec")))
#else
#define EDDY_API
#define EDDY_LIKELY(x) (x)
#define EDDY_UNLIKELY(x) (x)
#define EDDY_INLINE static inline
#define EDDY_NOINLINE
#define EDDY_COLD
#define EDDY_NORETURN _Noreturn
#define EDDY_UNUSED
#define EDDY_MUST_USE
#define EDDY_PRINTF(f, a)
#define EDDY_FALLTHROUGH
#define EDDY_LABEL_UNUSED
#define EDDY_TLS _Thread_local
#endif

/* Debug checks (poll after READY, moved futures, misuse of handles) are on
 * unless NDEBUG is defined; EDDY_DEBUG=0/1 overrides.  The only layout this
 * changes is eddy_coro's, which lives in user code: build a program and the
 * coroutines it defines with one setting. */
#ifndef EDDY_DEBUG
#ifdef NDEBUG
#define EDDY_DEBUG 0
#else
#define EDDY_DEBUG 1
#endif
#endif

#ifdef __cplusplus
#define EDDY_BEGIN_DECLS extern "C" {
#define EDDY_END_DECLS }
#else
#define EDDY_BEGIN_DECLS
#define EDDY_END_DECLS
#endif

#endif
