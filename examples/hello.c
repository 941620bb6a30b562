/* The README's example: three ticks, 100 ms apart, on one thread. */
#include <eddy.h>
#include <stdio.h>

struct hello { eddy_coro co; eddy_sleep sl; int i; };   /* the frame: what lives across awaits */

static eddy_poll hello_poll(struct hello *h, eddy_cx *cx, int *out) {
    EDDY_BEGIN(&h->co, cx);
    for (h->i = 1; h->i <= 3; h->i++) {
        EDDY_AWAIT(NULL, eddy_sleep, &h->sl, EDDY_MS(100));   /* no thread blocks here */
        printf("tick %d\n", h->i);
    }
    *out = 0;
    EDDY_END();
}
EDDY_CORO_VT(hello_vt, struct hello, int, hello_poll);

int main(void) {
    eddy_rt *rt; struct hello h = {0}; int rc = -1;
    if (eddy_rt_new(&rt, NULL) == 0) { eddy_block_on(rt, &hello_vt, &h, &rc); eddy_rt_free(rt); }
    return rc;
}
