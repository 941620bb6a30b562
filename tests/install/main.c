/* Install check: a user program that includes the umbrella header of an
 * installed eddy and calls into the library.  See scripts/check-install.sh. */
#include <eddy.h>

#include <stdio.h>

int main(void)
{
    const char *msg = eddy_strerror(-12);

    if (msg == NULL || msg[0] == '\0') {
        fprintf(stderr, "eddy_strerror(-12) returned nothing\n");
        return 1;
    }
    printf("eddy %s: eddy_strerror(-12) = %s\n", EDDY_VERSION_STRING, msg);
    return 0;
}
