/*
 * memfdexec: runs N short-lived processes, each executing a binary no other
 * process runs: a copy of itself in a memfd, with its build ID changed, so
 * that every one is a new binary to podflame (a new inode, a new image).
 *
 * usage: memfdexec N       (the parent)
 *        memfdexec --child (each copy: spins ~3 ms and exits)
 *
 * Built with a known build ID (the Makefile), which the parent finds in its
 * own image and overwrites with a counter.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const unsigned char known_id[] = {0x0d, 0xf1, 0x7e, 0xc0, 0xde, 0x0d, 0xf1,
                                         0x7e, 0xc0, 0xde, 0x0d, 0xf1, 0x7e, 0xc0,
                                         0xde, 0x0d, 0xf1, 0x7e, 0xc0, 0xde};

static volatile unsigned long sink;

static void child_spin(void)
{
    struct timespec t0, t;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    do {
        for (int i = 0; i < 10000; i++)
            sink = sink * 2862933555777941757UL + 3037000493UL;
        clock_gettime(CLOCK_MONOTONIC, &t);
    } while ((t.tv_sec - t0.tv_sec) * 1000000000L + (t.tv_nsec - t0.tv_nsec) < 3000000L);
}

int main(int argc, char **argv)
{
    unsigned char *image, *id;
    struct stat st;
    long n;
    int self;

    if (argc == 2 && !strcmp(argv[1], "--child")) {
        child_spin();
        return 0;
    }
    if (argc != 2 || (n = strtol(argv[1], NULL, 10)) <= 0) {
        fprintf(stderr, "usage: memfdexec N\n");
        return 2;
    }
    self = open("/proc/self/exe", O_RDONLY);
    if (self < 0 || fstat(self, &st) || !(image = malloc((size_t)st.st_size)) ||
        read(self, image, (size_t)st.st_size) != st.st_size)
        return 1;
    id = memmem(image, (size_t)st.st_size, known_id, sizeof(known_id));
    if (!id) {
        fprintf(stderr, "memfdexec: built without its known build ID\n");
        return 1;
    }
    for (long i = 0; i < n; i++) {
        char *args[] = {argv[0], "--child", NULL};
        int fd = memfd_create("memfdexec", MFD_CLOEXEC);
        pid_t pid;

        memcpy(id, &i, sizeof(i));
        if (fd < 0 || write(fd, image, (size_t)st.st_size) != st.st_size)
            return 1;
        if ((pid = fork()) == 0) {
            fexecve(fd, args, environ);
            _exit(127);
        }
        close(fd);
        if (pid < 0 || waitpid(pid, NULL, 0) != pid)
            return 1;
    }
    return 0;
}
