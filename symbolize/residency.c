#include "symbolize/residency.h"

#include <errno.h>
#include <fcntl.h>
#include <libelf.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

/* /proc/self/pagemap: one 64-bit entry a page (Documentation/admin-guide/
 * mm/pagemap.rst). Bit 63: present; bit 61: a file page (or shared anon).
 * A private file mapping's page that was written to is anonymous. */
#define PM_PRESENT (1ULL << 63)
#define PM_FILE    (1ULL << 61)
#define BATCH      512

static int release_run(char *start, size_t pages, size_t page, size_t *released)
{
    if (!pages)
        return 0;
    if (madvise(start, pages * page, MADV_DONTNEED))
        return -errno;
    *released += pages * page;
    return 0;
}

int residency_release_file_pages(const void *addr, size_t len, size_t *released)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE), skip, npages, nrun = 0;
    char *first, *run = NULL;
    uint64_t ent[BATCH];
    int fd, err = 0;

    if (!addr)
        return 0;
    /* only whole pages inside the range: a partial one may hold other data */
    skip = (page - (uintptr_t)addr % page) % page;
    npages = len > skip ? (len - skip) / page : 0;
    if (!npages)
        return 0;
    /* madvise takes a non-const pointer; nothing is written through it */
    first = (char *)addr + skip;
    if ((fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC)) < 0)
        return -errno;
    for (size_t k = 0; k < npages && !err;) {
        size_t want = npages - k < BATCH ? npages - k : BATCH;
        off_t at = (off_t)(((uintptr_t)first / page + k) * sizeof(ent[0]));
        ssize_t n = pread(fd, ent, want * sizeof(ent[0]), at);

        if (n <= 0 || n % (ssize_t)sizeof(ent[0])) {
            err = n < 0 ? -errno : -EIO;
            break;
        }
        for (size_t i = 0; i < (size_t)n / sizeof(ent[0]); i++, k++) {
            if ((ent[i] & (PM_PRESENT | PM_FILE)) == (PM_PRESENT | PM_FILE)) {
                if (!nrun)
                    run = first + k * page;
                nrun++;
            } else if (nrun) {
                err = release_run(run, nrun, page, released);
                nrun = 0;
                if (err)
                    break;
            }
        }
    }
    if (!err)
        err = release_run(run, nrun, page, released);
    close(fd);
    return err;
}

void residency_release_elf(Elf *elf)
{
    size_t size = 0, released = 0;
    char *image = elf ? elf_rawfile(elf, &size) : NULL;

    if (image)
        (void)residency_release_file_pages(image, size, &released);
}
