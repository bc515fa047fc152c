/*
 * symtarget: a fixture for the ELF symbol tests. Built three ways (PIE,
 * non-PIE, shared library). As a program it prints the runtime addresses of
 * its functions; the test maps them back through /proc/PID/maps and the ELF
 * file and checks that the names come back.
 */
#include <stdio.h>

__attribute__((noinline)) int symtarget_alpha(int x)
{
    return x * 3 + 1;
}

__attribute__((noinline)) int symtarget_beta(int x)
{
    return symtarget_alpha(x) ^ 0x55;
}

#ifndef SYMTARGET_LIB
int main(void)
{
    char maps[256];

    printf("symtarget_alpha %p\nsymtarget_beta %p\n", (void *)symtarget_alpha,
           (void *)symtarget_beta);
    fflush(stdout);
    /* stay alive until the test has read our maps */
    if (fgets(maps, sizeof(maps), stdin) == NULL)
        return symtarget_beta(1) == 0;
    return 0;
}
#endif
