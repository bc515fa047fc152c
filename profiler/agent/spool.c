#include "profiler/agent/spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "formats/buf.h"

#define MAGIC      "PFSPOOL1\n"
#define SUFFIX     ".entry"
#define TMP_PREFIX ".tmp-"
#define MAX_HEADER ((size_t)64 * 1024) /* key + index line */
#define MAX_ENTRY  ((uint64_t)1 << 31)

struct entry {
    uint64_t seq;
    uint64_t bytes; /* on disk */
    bool busy;      /* an uploader has it */
};

struct spool {
    pthread_mutex_t lock;
    int dirfd;
    char *dir;
    uint64_t max_bytes, bytes, next_seq;
    struct entry *q; /* oldest first */
    size_t n, cap;
    uint64_t dropped, corrupt;
};

static void entry_name(uint64_t seq, char *out, size_t len)
{
    snprintf(out, len, "%020" PRIu64 SUFFIX, seq);
}

static int cmp_entry(const void *a, const void *b)
{
    const struct entry *x = a, *y = b;

    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Queues what a previous run left; removes what a crash left half-written. */
static int scan(struct spool *sp)
{
    int fd = openat(sp->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    struct dirent *de;

    if (!d) {
        if (fd >= 0)
            close(fd);
        return -errno;
    }
    while ((de = readdir(d))) {
        struct stat st;
        uint64_t seq;
        char *end;

        if (!strncmp(de->d_name, TMP_PREFIX, strlen(TMP_PREFIX))) {
            unlinkat(sp->dirfd, de->d_name, 0);
            continue;
        }
        errno = 0;
        seq = strtoull(de->d_name, &end, 10);
        if (errno || end == de->d_name || strcmp(end, SUFFIX) != 0 ||
            fstatat(sp->dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) || !S_ISREG(st.st_mode))
            continue; /* not ours */
        if (ARRAY_RESERVE_ONE(sp->q, sp->n, sp->cap)) {
            closedir(d);
            return -ENOMEM;
        }
        sp->q[sp->n++] = (struct entry){.seq = seq, .bytes = (uint64_t)st.st_size};
        sp->bytes += (uint64_t)st.st_size;
        if (seq >= sp->next_seq)
            sp->next_seq = seq + 1;
    }
    closedir(d);
    if (sp->n > 1)
        qsort(sp->q, sp->n, sizeof(*sp->q), cmp_entry);
    return 0;
}

int spool_open(const char *dir, uint64_t max_bytes, struct spool **out, char *err, size_t errlen)
{
    struct spool *sp = calloc(1, sizeof(*sp));
    int rc;

    if (!sp || !(sp->dir = strdup(dir))) {
        free(sp);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    pthread_mutex_init(&sp->lock, NULL);
    sp->dirfd = -1;
    sp->max_bytes = max_bytes;
    if (mkdir(dir, 0700) && errno != EEXIST) {
        rc = -errno;
        snprintf(err, errlen, "cannot create the spool directory %s: %s", dir, strerror(-rc));
        goto fail;
    }
    sp->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (sp->dirfd < 0) {
        rc = -errno;
        snprintf(err, errlen, "cannot open the spool directory %s: %s", dir, strerror(-rc));
        goto fail;
    }
    if ((rc = scan(sp))) {
        snprintf(err, errlen, "cannot read the spool directory %s: %s", dir, strerror(-rc));
        goto fail;
    }
    {
        struct timespec ts;

        /* sequence numbers follow the clock, so names sort by time across runs */
        clock_gettime(CLOCK_REALTIME, &ts);
        if ((uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec > sp->next_seq)
            sp->next_seq = (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
    }
    *out = sp;
    return 0;
fail:
    spool_close(sp);
    return rc;
}

void spool_close(struct spool *sp)
{
    if (!sp)
        return;
    if (sp->dirfd >= 0)
        close(sp->dirfd);
    pthread_mutex_destroy(&sp->lock);
    free(sp->q);
    free(sp->dir);
    free(sp);
}

static int write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;

    while (len) {
        ssize_t n = write(fd, p, len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? -errno : -EIO;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int write_entry(struct spool *sp, const char *name, const char *key, const char *index,
                       const void *data, size_t len)
{
    char tmp[96], head[64];
    int fd, rc;

    snprintf(tmp, sizeof(tmp), TMP_PREFIX "%s", name);
    fd = openat(sp->dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    snprintf(head, sizeof(head), "%zu\n", len);
    rc = write_all(fd, MAGIC, strlen(MAGIC));
    if (!rc)
        rc = write_all(fd, key, strlen(key));
    if (!rc)
        rc = write_all(fd, "\n", 1);
    if (!rc)
        rc = write_all(fd, index, strlen(index));
    if (!rc)
        rc = write_all(fd, "\n", 1);
    if (!rc)
        rc = write_all(fd, head, strlen(head));
    if (!rc)
        rc = write_all(fd, data, len);
    if (!rc && fsync(fd))
        rc = -errno;
    if (close(fd) && !rc)
        rc = -errno;
    if (!rc && renameat(sp->dirfd, tmp, sp->dirfd, name))
        rc = -errno;
    if (rc) {
        unlinkat(sp->dirfd, tmp, 0);
        return rc;
    }
    fsync(sp->dirfd); /* the rename itself must survive a power loss */
    return 0;
}

static void remove_at(struct spool *sp, size_t i)
{
    char name[64];

    entry_name(sp->q[i].seq, name, sizeof(name));
    unlinkat(sp->dirfd, name, 0);
    sp->bytes -= sp->q[i].bytes;
    memmove(sp->q + i, sp->q + i + 1, (sp->n - i - 1) * sizeof(*sp->q));
    sp->n--;
}

int spool_add(struct spool *sp, const char *key, const char *index, const void *data, size_t len,
              unsigned *dropped, char *err, size_t errlen)
{
    uint64_t need = strlen(MAGIC) + strlen(key) + strlen(index) + 24 + len, seq;
    char name[64];
    int rc;

    *dropped = 0;
    if (strchr(key, '\n') || strchr(index, '\n') || strlen(key) + strlen(index) > MAX_HEADER) {
        snprintf(err, errlen, "spool: bad key or index line");
        return -EINVAL;
    }
    if (need > sp->max_bytes || need > MAX_ENTRY) {
        snprintf(err, errlen,
                 "spool: a %" PRIu64 "-byte window is over the spool limit of %" PRIu64
                 " bytes: raise --spool-max-bytes",
                 need, sp->max_bytes);
        return -EFBIG;
    }
    pthread_mutex_lock(&sp->lock);
    for (size_t i = 0; i < sp->n && sp->bytes + need > sp->max_bytes;) {
        if (sp->q[i].busy) {
            i++;
            continue;
        }
        remove_at(sp, i);
        sp->dropped++;
        (*dropped)++;
    }
    seq = sp->next_seq++;
    if (ARRAY_RESERVE_ONE(sp->q, sp->n, sp->cap)) {
        pthread_mutex_unlock(&sp->lock);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    pthread_mutex_unlock(&sp->lock);

    entry_name(seq, name, sizeof(name));
    if ((rc = write_entry(sp, name, key, index, data, len))) {
        snprintf(err, errlen, "spool: cannot write %s/%s: %s", sp->dir, name, strerror(-rc));
        return rc;
    }
    pthread_mutex_lock(&sp->lock);
    {
        /* keep the queue sorted: another add may have finished first */
        size_t i = sp->n;

        while (i > 0 && sp->q[i - 1].seq > seq)
            i--;
        memmove(sp->q + i + 1, sp->q + i, (sp->n - i) * sizeof(*sp->q));
        sp->q[i] = (struct entry){.seq = seq, .bytes = need};
        sp->n++;
        sp->bytes += need;
    }
    pthread_mutex_unlock(&sp->lock);
    return 0;
}

static void item_clear(struct spool_item *it)
{
    free(it->key);
    free(it->index);
    free(it->data);
    it->key = it->index = NULL;
    it->data = NULL;
    it->len = 0;
}

/* Reads an entry back: magic, key, index, length, bytes, nothing more.
 * Returns 0, -EBADMSG (not an entry: it never will be), or the errno of
 * opening it (-ENOMEM, -EMFILE, ...: it may be read later). */
static int load(struct spool *sp, struct spool_item *it)
{
    /* nothing but podflame writes here, but a FIFO must not hang the agent */
    int fd = openat(sp->dirfd, it->name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
    struct stat st;
    char *buf = NULL, *p, *nl, *end;
    size_t size, got = 0;
    unsigned long long len;
    int rc = -EBADMSG;

    if (fd < 0)
        return errno == ELOOP || errno == ENOENT ? -EBADMSG : -errno; /* a symlink; gone */
    if (fstat(fd, &st) || !S_ISREG(st.st_mode) || (uint64_t)st.st_size > MAX_ENTRY + MAX_HEADER) {
        close(fd);
        return -EBADMSG;
    }
    size = (size_t)st.st_size;
    buf = malloc(size + 1);
    if (!buf) {
        close(fd);
        return -ENOMEM;
    }
    while (got < size) {
        ssize_t n = read(fd, buf + got, size - got);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    buf[got] = '\0';
    if (got != size || size < strlen(MAGIC) || memcmp(buf, MAGIC, strlen(MAGIC)) != 0)
        goto bad;
    p = buf + strlen(MAGIC);
    /* key \n index \n length \n data */
    if (!(nl = memchr(p, '\n', size - (size_t)(p - buf))))
        goto bad;
    *nl = '\0';
    it->key = p;
    p = nl + 1;
    if (!(nl = memchr(p, '\n', size - (size_t)(p - buf))))
        goto bad;
    *nl = '\0';
    it->index = p;
    p = nl + 1;
    if (!(nl = memchr(p, '\n', size - (size_t)(p - buf))))
        goto bad;
    errno = 0;
    len = strtoull(p, &end, 10);
    if (errno || end != nl || len != size - (size_t)(nl + 1 - buf) || !*it->key)
        goto bad;
    it->len = (size_t)len;
    it->key = strdup(it->key);
    it->index = strdup(it->index);
    if (!it->key || !it->index) {
        rc = -ENOMEM;
        goto bad;
    }
    /* the data moves to the front, so that it is its own allocation */
    memmove(buf, nl + 1, it->len);
    it->data = (uint8_t *)buf;
    return 0;
bad:
    free(buf);
    if (rc == -ENOMEM) {
        free(it->key);
        free(it->index);
    }
    it->key = it->index = NULL;
    it->data = NULL;
    return rc;
}

int spool_take(struct spool *sp, struct spool_item *it, char *err, size_t errlen)
{
    for (;;) {
        size_t i;
        uint64_t seq;
        int rc;

        memset(it, 0, sizeof(*it));
        pthread_mutex_lock(&sp->lock);
        for (i = 0; i < sp->n && sp->q[i].busy; i++)
            ;
        if (i == sp->n) {
            pthread_mutex_unlock(&sp->lock);
            snprintf(err, errlen, "spool: nothing to upload");
            return -ENOENT;
        }
        sp->q[i].busy = true;
        seq = sp->q[i].seq;
        pthread_mutex_unlock(&sp->lock);

        entry_name(seq, it->name, sizeof(it->name));
        rc = load(sp, it);
        if (!rc)
            return 0;
        if (rc != -EBADMSG) {
            /* out of memory or of file descriptors: the entry is kept for later */
            snprintf(err, errlen, "spool: cannot read %s/%s: %s", sp->dir, it->name, strerror(-rc));
            spool_release(sp, it);
            return rc;
        }
        /* unreadable: it can never be uploaded; count it and go on */
        pthread_mutex_lock(&sp->lock);
        for (i = 0; i < sp->n && sp->q[i].seq != seq; i++)
            ;
        if (i < sp->n)
            remove_at(sp, i);
        sp->corrupt++;
        pthread_mutex_unlock(&sp->lock);
    }
}

static uint64_t seq_of(const struct spool_item *it)
{
    return strtoull(it->name, NULL, 10);
}

void spool_done(struct spool *sp, struct spool_item *it)
{
    uint64_t seq = seq_of(it);

    pthread_mutex_lock(&sp->lock);
    for (size_t i = 0; i < sp->n; i++) {
        if (sp->q[i].seq == seq) {
            remove_at(sp, i);
            break;
        }
    }
    pthread_mutex_unlock(&sp->lock);
    item_clear(it);
}

void spool_release(struct spool *sp, struct spool_item *it)
{
    uint64_t seq = seq_of(it);

    pthread_mutex_lock(&sp->lock);
    for (size_t i = 0; i < sp->n; i++) {
        if (sp->q[i].seq == seq)
            sp->q[i].busy = false;
    }
    pthread_mutex_unlock(&sp->lock);
    item_clear(it);
}

void spool_get_stats(struct spool *sp, struct spool_stats *out)
{
    pthread_mutex_lock(&sp->lock);
    out->bytes = sp->bytes;
    out->entries = sp->n;
    out->dropped = sp->dropped;
    out->corrupt = sp->corrupt;
    pthread_mutex_unlock(&sp->lock);
}
