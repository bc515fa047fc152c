#include "profiler/io/access.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

/* ---- small secret files ---- */

int secret_file_read(const char *path, size_t max, char **out, size_t *len, char *err,
                     size_t errlen)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    struct stat st;
    char *buf;
    size_t got = 0;

    if (fd < 0) {
        int e = errno ? errno : EIO;

        snprintf(err, errlen, "%s: %s", path, strerror(e));
        return -e;
    }
    if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: not a regular file", path);
        close(fd);
        return -EINVAL;
    }
    if ((uint64_t)st.st_size > max) {
        snprintf(err, errlen, "%s: larger than %zu bytes", path, max);
        close(fd);
        return -EFBIG;
    }
    if (!(buf = malloc(max + 1))) {
        close(fd);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    /* bounded by max whatever the size said: the file may grow meanwhile */
    for (;;) {
        ssize_t n = read(fd, buf + got, max + 1 - got);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno ? errno : EIO;

            snprintf(err, errlen, "%s: %s", path, strerror(e));
            explicit_bzero(buf, got);
            free(buf);
            close(fd);
            return -e;
        }
        if (n == 0)
            break;
        got += (size_t)n;
        if (got > max) {
            snprintf(err, errlen, "%s: larger than %zu bytes", path, max);
            explicit_bzero(buf, got);
            free(buf);
            close(fd);
            return -EFBIG;
        }
    }
    close(fd);
    buf[got] = '\0';
    *out = buf;
    *len = got;
    return 0;
}

/* ---- bearer tokens ---- */

bool bearer_token(const char *header, const char **token, size_t *len)
{
    size_t n;

    if (!header || strncasecmp(header, "Bearer", 6) != 0 || (header[6] != ' ' && header[6] != '\t'))
        return false;
    header += 6;
    while (*header == ' ' || *header == '\t')
        header++;
    n = strlen(header);
    while (n && (header[n - 1] == ' ' || header[n - 1] == '\t'))
        n--;
    *token = header;
    *len = n;
    return n > 0;
}

bool token_equal(const void *a, size_t alen, const void *b, size_t blen)
{
    unsigned char da[EVP_MAX_MD_SIZE], db[EVP_MAX_MD_SIZE];
    unsigned la = 0, lb = 0;

    if (!EVP_Digest(a, alen, da, &la, EVP_sha256(), NULL) ||
        !EVP_Digest(b, blen, db, &lb, EVP_sha256(), NULL) || la != lb)
        return false;
    /* equal digests of unequal inputs would be a SHA-256 collision; the
     * length check comes after the constant-time compare and leaks nothing
     * the digests did not already decide */
    return CRYPTO_memcmp(da, db, la) == 0 && alen == blen;
}

/* ---- token files ---- */

int token_read(const char *path, char **token, size_t *len, char *err, size_t errlen)
{
    char *data = NULL;
    size_t n = 0;
    int rc;

    if ((rc = secret_file_read(path, TOKEN_MAX, &data, &n, err, errlen)))
        return rc;
    while (n && (data[n - 1] == '\n' || data[n - 1] == '\r' || data[n - 1] == ' ' ||
                 data[n - 1] == '\t'))
        data[--n] = '\0';
    if (!n || memchr(data, '\0', n) || strpbrk(data, "\r\n")) {
        if (data)
            explicit_bzero(data, n);
        free(data);
        snprintf(err, errlen, "%s: %s", path,
                 n ? "a token is one line of text" : "empty: put the token in it");
        return -EINVAL;
    }
    *token = data;
    *len = n;
    return 0;
}

struct token_file {
    pthread_mutex_t lock; /* guards what follows */
    char *path;
    char *token; /* NULL while unreadable */
    size_t len;
    struct stat id; /* the file read last */
};

static bool same_file(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

static void forget_token(struct token_file *tf)
{
    if (tf->token) {
        explicit_bzero(tf->token, tf->len);
        free(tf->token);
    }
    tf->token = NULL;
    tf->len = 0;
}

/* With the lock held. */
static int token_file_load(struct token_file *tf, char *err, size_t errlen)
{
    char *data;
    size_t len;
    struct stat st;
    int rc;

    forget_token(tf);
    /* the identity first: a change while reading is seen at the next check */
    if (stat(tf->path, &st)) {
        rc = -errno;
        snprintf(err, errlen, "%s: %s", tf->path, strerror(-rc));
        memset(&tf->id, 0, sizeof(tf->id));
        return rc;
    }
    tf->id = st;
    if ((rc = token_read(tf->path, &data, &len, err, errlen)))
        return rc;
    tf->token = data;
    tf->len = len;
    return 0;
}

int token_file_open(const char *path, struct token_file **out, char *err, size_t errlen)
{
    struct token_file *tf = calloc(1, sizeof(*tf));
    int rc;

    if (!tf || !(tf->path = strdup(path))) {
        free(tf);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    pthread_mutex_init(&tf->lock, NULL);
    if ((rc = token_file_load(tf, err, errlen))) {
        token_file_free(tf);
        return rc;
    }
    *out = tf;
    return 0;
}

void token_file_free(struct token_file *tf)
{
    if (!tf)
        return;
    forget_token(tf);
    pthread_mutex_destroy(&tf->lock);
    free(tf->path);
    free(tf);
}

enum token_verdict token_file_check(struct token_file *tf, const char *authorization, char *err,
                                    size_t errlen)
{
    enum token_verdict v;
    const char *given;
    size_t glen;
    struct stat st;

    pthread_mutex_lock(&tf->lock);
    /* stat follows symlinks: a Secret volume's ..data swap is a new inode */
    if (stat(tf->path, &st) || !tf->token || !same_file(&st, &tf->id))
        token_file_load(tf, err, errlen);
    if (!tf->token)
        v = TOKEN_UNREADABLE;
    else if (!bearer_token(authorization, &given, &glen))
        v = TOKEN_MISSING;
    else
        v = token_equal(given, glen, tf->token, tf->len) ? TOKEN_OK : TOKEN_WRONG;
    pthread_mutex_unlock(&tf->lock);
    return v;
}

/* ---- rate limits ---- */

#define MILLI 1000000LL /* ns */

struct bucket {
    char source[48];      /* "" : free */
    int64_t tokens_milli; /* thousandths of a request */
    int64_t last_ns;
};

struct rate_limiter {
    pthread_mutex_t lock;
    int64_t burst_milli;
    int64_t ns_per_token;
    size_t n;
    struct bucket shared; /* for new sources while the table is busy */
    struct bucket b[];
};

int rate_limiter_new(unsigned burst, unsigned per_minute, size_t max_sources,
                     struct rate_limiter **out)
{
    struct rate_limiter *rl;

    if (!burst || !per_minute || !max_sources)
        return -EINVAL;
    if (!(rl = calloc(1, sizeof(*rl) + max_sources * sizeof(rl->b[0]))))
        return -ENOMEM;
    pthread_mutex_init(&rl->lock, NULL);
    rl->burst_milli = (int64_t)burst * 1000;
    rl->ns_per_token = 60 * 1000000000LL / per_minute;
    rl->n = max_sources;
    rl->shared.tokens_milli = rl->burst_milli;
    rl->shared.last_ns = -1;
    *out = rl;
    return 0;
}

void rate_limiter_free(struct rate_limiter *rl)
{
    if (!rl)
        return;
    pthread_mutex_destroy(&rl->lock);
    free(rl);
}

static void refill(const struct rate_limiter *rl, struct bucket *b, int64_t now_ns)
{
    if (b->last_ns >= 0 && now_ns > b->last_ns) {
        int64_t add = (now_ns - b->last_ns) / (rl->ns_per_token / 1000);

        b->tokens_milli =
            b->tokens_milli + add > rl->burst_milli ? rl->burst_milli : b->tokens_milli + add;
    }
    b->last_ns = now_ns;
}

bool rate_limiter_take(struct rate_limiter *rl, const char *source, int64_t now_ns,
                       unsigned *retry_after_s)
{
    struct bucket *b = NULL, *spare = NULL;
    bool ok;

    pthread_mutex_lock(&rl->lock);
    for (size_t i = 0; i < rl->n && !b; i++) {
        struct bucket *c = &rl->b[i];

        if (!c->source[0]) {
            if (!spare)
                spare = c;
            continue;
        }
        if (!strcmp(c->source, source)) {
            b = c;
            break;
        }
        /* a source whose bucket refilled is as good as new: its slot is free */
        if (!spare) {
            refill(rl, c, now_ns);
            if (c->tokens_milli >= rl->burst_milli)
                spare = c;
        }
    }
    if (!b && spare) {
        b = spare;
        snprintf(b->source, sizeof(b->source), "%s", source);
        b->tokens_milli = rl->burst_milli;
        b->last_ns = now_ns;
    }
    if (!b)
        b = &rl->shared; /* every slot busy: newcomers share one bucket */
    refill(rl, b, now_ns);
    ok = b->tokens_milli >= 1000;
    if (ok) {
        b->tokens_milli -= 1000;
    } else {
        int64_t wait_ns = (1000 - b->tokens_milli) * (rl->ns_per_token / 1000);

        *retry_after_s = (unsigned)((wait_ns + 999999999LL) / 1000000000LL);
        if (!*retry_after_s)
            *retry_after_s = 1;
    }
    pthread_mutex_unlock(&rl->lock);
    return ok;
}

/* ---- addresses ---- */

bool sockaddr_is_loopback(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
    if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;

        return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
    }
    return false;
}
