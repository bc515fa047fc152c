/*
 * jitspin: runs code from where a JIT or a hostile container would, for the
 * tests of what podflame reads about it.
 *
 * usage: jitspin SECONDS              spin in an anonymous executable page
 *                                     (a "jmp ." written there), as JIT code
 *        jitspin SECONDS FILE OFFSET  map FILE executable and spin at OFFSET
 *                                     in it (a crafted ELF file)
 *
 * The spinning thread never returns; the main thread ends the process after
 * SECONDS.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static void *spin(void *code)
{
    ((void (*)(void))code)();
    return NULL;
}

int main(int argc, char **argv)
{
    static const unsigned char jmp_self[] = {0xeb, 0xfe};
    unsigned char *code;
    pthread_t t;

    if (argc != 2 && argc != 4) {
        fprintf(stderr, "usage: jitspin SECONDS [FILE OFFSET]\n");
        return 2;
    }
    if (argc == 2) {
        code = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1,
                    0);
        if (code == MAP_FAILED)
            return 1;
        memcpy(code, jmp_self, sizeof(jmp_self));
    } else {
        struct stat st;
        int fd = open(argv[2], O_RDONLY);

        if (fd < 0 || fstat(fd, &st))
            return 1;
        code = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_EXEC, MAP_PRIVATE, fd, 0);
        if (code == MAP_FAILED)
            return 1;
        code += strtoul(argv[3], NULL, 0);
    }
    printf("%d\n", (int)getpid());
    fflush(stdout);
    if (pthread_create(&t, NULL, spin, code))
        return 1;
    sleep((unsigned)atoi(argv[1]));
    return 0;
}
