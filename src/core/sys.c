/* The few system calls the runtime's synchronisation shares: futex wait and
 * wake (the lock's slow path, worker parking, block_on) and yielding the
 * CPU from a spin. */
#include "internal.h"

#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

void eddy__futex_wait(_Atomic uint32_t *addr, uint32_t val)
{
    /* EINTR, EAGAIN (the value changed) and spurious returns are all fine:
     * every caller re-checks in a loop. */
    syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
}

void eddy__futex_wake(_Atomic uint32_t *addr, int n)
{
    syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
}

void eddy__yield_cpu(void) { sched_yield(); }
