#include "profiler/io/bucket.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <dirent.h>
#include <pthread.h>
#include <fcntl.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/evp.h>

#include "formats/escape.h"
#include "profiler/io/output.h"

#define MAX_ERROR_BODY 4096
#define MAX_CRED_FILE  ((long)1 << 20)

struct bucket {
    bool s3;
    char *dir;      /* file: the directory */
    char *bucket;   /* s3 */
    char *prefix;   /* s3: "" or "a/b" without slashes at either end */
    char *base_url; /* s3: what a key's escaped path is appended to */
    char *sigv4;    /* s3: "aws:amz:REGION:s3" */
    char *ca_file;
    long timeout_s;
    char where[512];
};

void bucket_close(struct bucket *t)
{
    if (!t)
        return;
    free(t->dir);
    free(t->bucket);
    free(t->prefix);
    free(t->base_url);
    free(t->sigv4);
    free(t->ca_file);
    free(t);
}

const char *bucket_where(const struct bucket *t)
{
    return t->where;
}

static const char *env_nonempty(const char *name)
{
    const char *v = getenv(name);

    return v && *v ? v : NULL;
}

/* ---- credentials ---- */

struct creds {
    char id[256], secret[256], token[4096];
};

static char *trim(char *s)
{
    char *end;

    while (isspace((unsigned char)*s))
        s++;
    end = s + strlen(s);
    while (end > s && isspace((unsigned char)end[-1]))
        *--end = '\0';
    return s;
}

/* The shared credentials file: INI sections named by profile. */
static int creds_from_file(struct creds *c, char *err, size_t errlen)
{
    const char *path = env_nonempty("AWS_SHARED_CREDENTIALS_FILE");
    const char *profile = env_nonempty("AWS_PROFILE");
    char fallback[4096], line[4608];
    bool in = false;
    FILE *f;
    struct stat st;

    if (!profile)
        profile = "default";
    if (!path) {
        const char *home = env_nonempty("HOME");

        snprintf(fallback, sizeof(fallback), "%s/.aws/credentials", home ? home : "/root");
        path = fallback;
    }
    f = fopen(path, "re");
    if (!f && errno != ENOENT) {
        int e = errno;

        snprintf(err, errlen, "cannot read the S3 credentials in %s: %s", path, strerror(e));
        return -e;
    }
    if (!f) {
        snprintf(err, errlen,
                 "no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or write "
                 "them to %s",
                 path);
        return -ENOENT;
    }
    if (fstat(fileno(f), &st) || st.st_size > MAX_CRED_FILE) {
        fclose(f);
        snprintf(err, errlen, "%s: not a credentials file (over 1 MiB)", path);
        return -EFBIG;
    }
    while (fgets(line, sizeof(line), f)) {
        char *l = trim(line), *eq;

        if (*l == '[') {
            char *close = strchr(l, ']');

            if (close) {
                *close = '\0';
                in = !strcmp(trim(l + 1), profile);
            }
            continue;
        }
        if (!in || !(eq = strchr(l, '=')))
            continue;
        *eq = '\0';
        l = trim(l);
        if (!strcmp(l, "aws_access_key_id"))
            snprintf(c->id, sizeof(c->id), "%s", trim(eq + 1));
        else if (!strcmp(l, "aws_secret_access_key"))
            snprintf(c->secret, sizeof(c->secret), "%s", trim(eq + 1));
        else if (!strcmp(l, "aws_session_token"))
            snprintf(c->token, sizeof(c->token), "%s", trim(eq + 1));
    }
    fclose(f);
    if (!c->id[0] || !c->secret[0]) {
        snprintf(err, errlen,
                 "no S3 credentials: profile [%s] of %s lacks aws_access_key_id or "
                 "aws_secret_access_key",
                 profile, path);
        return -ENOENT;
    }
    return 0;
}

static int creds_load(struct creds *c, char *err, size_t errlen)
{
    const char *id = env_nonempty("AWS_ACCESS_KEY_ID"),
               *secret = env_nonempty("AWS_SECRET_ACCESS_KEY");
    const char *token = env_nonempty("AWS_SESSION_TOKEN");

    memset(c, 0, sizeof(*c));
    if (!id || !secret)
        return creds_from_file(c, err, errlen);
    snprintf(c->id, sizeof(c->id), "%s", id);
    snprintf(c->secret, sizeof(c->secret), "%s", secret);
    if (token)
        snprintf(c->token, sizeof(c->token), "%s", token);
    return 0;
}

/* ---- targets ---- */

/* A key must stay inside the target: no absolute path, no "..". */
static bool key_ok(const char *key)
{
    const char *p = key;

    if (!*key || *key == '/')
        return false;
    while (*p) {
        size_t n = strcspn(p, "/");

        if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
            return false;
        p += n;
        if (*p)
            p++;
    }
    return true;
}

/* The endpoint requests go to: the configured one, $AWS_ENDPOINT_URL_S3,
 * $AWS_ENDPOINT_URL, else AWS's own for region (written to aws). */
static const char *s3_endpoint(const struct bucket_config *c, const char *region, char *aws,
                               size_t awslen, bool *path_style)
{
    const char *endpoint = c->s3_endpoint;

    if (!endpoint)
        endpoint = env_nonempty("AWS_ENDPOINT_URL_S3");
    if (!endpoint)
        endpoint = env_nonempty("AWS_ENDPOINT_URL");
    *path_style = c->s3_path_style > 0 || (c->s3_path_style < 0 && endpoint);
    if (!endpoint) {
        snprintf(aws, awslen, "https://s3.%s.amazonaws.com", region);
        endpoint = aws;
    }
    return endpoint;
}

/* t->base_url: the bucket's URL at endpoint, path-style or virtual-hosted. */
static int s3_base_url(struct bucket *t, const char *endpoint, bool path_style)
{
    const char *host = strstr(endpoint, "://") + 3;
    size_t elen = strlen(endpoint), n = elen + strlen(t->bucket) + 16;

    while (elen && endpoint[elen - 1] == '/')
        elen--;
    if (!(t->base_url = malloc(n)))
        return -ENOMEM;
    if (path_style)
        snprintf(t->base_url, n, "%.*s/%s", (int)elen, endpoint, t->bucket);
    else
        snprintf(t->base_url, n, "%.*s%s.%.*s", (int)(host - endpoint), endpoint, t->bucket,
                 (int)(elen - (size_t)(host - endpoint)), host);
    return 0;
}

static int open_s3(const struct bucket_config *c, struct bucket *t, const char *rest, char *err,
                   size_t errlen)
{
    const char *slash = strchr(rest, '/');
    const char *region = c->s3_region, *endpoint, *scheme_end;
    size_t blen = slash ? (size_t)(slash - rest) : strlen(rest);
    char aws[256];
    bool path_style;
    struct creds cr;
    int rc;

    if (!blen) {
        snprintf(err, errlen, "%s: no bucket (s3://BUCKET/PREFIX)", c->url);
        return -EINVAL;
    }
    if (!region)
        region = env_nonempty("AWS_REGION");
    if (!region)
        region = env_nonempty("AWS_DEFAULT_REGION");
    if (!region)
        region = "us-east-1";
    endpoint = s3_endpoint(c, region, aws, sizeof(aws), &path_style);
    scheme_end = strstr(endpoint, "://");
    if (!scheme_end ||
        (strncmp(endpoint, "http://", 7) != 0 && strncmp(endpoint, "https://", 8) != 0) ||
        !scheme_end[3]) {
        snprintf(err, errlen, "--s3-endpoint %s: give http://HOST[:PORT] or https://HOST[:PORT]",
                 endpoint);
        return -EINVAL;
    }
    t->s3 = true;
    t->bucket = strndup(rest, blen);
    t->prefix = strdup(slash ? slash + 1 : "");
    if (!t->bucket || !t->prefix || s3_base_url(t, endpoint, path_style) ||
        asprintf(&t->sigv4, "aws:amz:%s:s3", region) < 0) {
        t->sigv4 = NULL; /* asprintf leaves it undefined on failure */
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    for (size_t n = strlen(t->prefix); n && t->prefix[n - 1] == '/';)
        t->prefix[--n] = '\0';
    snprintf(t->where, sizeof(t->where), "s3://%s%s%s at %s (%s, %s)", t->bucket,
             *t->prefix ? "/" : "", t->prefix, endpoint, region,
             path_style ? "path-style" : "virtual-hosted");
    /* fail at start, not at the first window, when there are no keys at all */
    rc = creds_load(&cr, err, errlen);
    explicit_bzero(&cr, sizeof(cr));
    return rc;
}

static int open_file(const struct bucket_config *c, struct bucket *t, char *err, size_t errlen)
{
    const char *dir = c->url + 7;

    if (*dir != '/') {
        snprintf(err, errlen, "%s: a file URL needs an absolute path (file:///DIR)", c->url);
        return -EINVAL;
    }
    if (!(t->dir = strdup(dir))) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    snprintf(t->where, sizeof(t->where), "%s", c->url);
    return 0;
}

int bucket_open(const struct bucket_config *c, struct bucket **out, char *err, size_t errlen)
{
    struct bucket *t = calloc(1, sizeof(*t));
    int rc;

    if (!t || (c->ca_file && !(t->ca_file = strdup(c->ca_file)))) {
        snprintf(err, errlen, "out of memory");
        rc = -ENOMEM;
    } else if (!strncmp(c->url, "file://", 7)) {
        rc = open_file(c, t, err, errlen);
    } else if (!strncmp(c->url, "s3://", 5)) {
        rc = open_s3(c, t, c->url + 5, err, errlen);
    } else {
        snprintf(err, errlen, "%s: use file:///DIR or s3://BUCKET/PREFIX", c->url);
        rc = -EINVAL;
    }
    if (rc) {
        bucket_close(t);
        return rc;
    }
    t->timeout_s = c->timeout_s > 0 ? c->timeout_s : 60;
    *out = t;
    return 0;
}

/* ---- file target ---- */

struct blob {
    const void *data;
    size_t len;
};

static int write_blob(FILE *f, void *ctx)
{
    const struct blob *b = ctx;

    return fwrite(b->data, 1, b->len, f) == b->len ? 0 : -EIO;
}

static int put_file(struct bucket *t, const char *key, const void *data, size_t len, char *err,
                    size_t errlen)
{
    struct blob b = {data, len};
    char *path;
    int rc;

    if (asprintf(&path, "%s/%s", t->dir, key) < 0) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    {
        char *slash = strrchr(path, '/');

        *slash = '\0'; /* the key has a directory part or not: the target's own is there */
        /* profiles name a node's Pods and code: root's alone (0700, 0600) */
        rc = output_make_dirs_mode(path, 0700);
        *slash = '/';
    }
    if (rc) {
        snprintf(err, errlen, "cannot create the directories of %s: %s", path, strerror(-rc));
        free(path);
        return rc;
    }
    rc = output_atomic_mode(path, 0600, write_blob, &b, err, errlen);
    free(path);
    return rc;
}

/* ---- S3 target ---- */

struct request_body {
    const unsigned char *data;
    size_t len, off;
};

static size_t read_body(char *buf, size_t size, size_t n, void *ctx)
{
    struct request_body *b = ctx;
    size_t want = size * n, left = b->len - b->off;

    if (want > left)
        want = left;
    memcpy(buf, b->data + b->off, want);
    b->off += want;
    return want;
}

struct reply {
    char text[MAX_ERROR_BODY + 1];
    size_t len;
};

static size_t keep_reply(char *buf, size_t size, size_t n, void *ctx)
{
    struct reply *r = ctx;
    size_t got = size * n, room = MAX_ERROR_BODY - r->len;

    /* only the start of an error body is worth keeping */
    memcpy(r->text + r->len, buf, got < room ? got : room);
    r->len += got < room ? got : room;
    r->text[r->len] = '\0';
    return got;
}

/* <Tag>value</Tag> of an S3 error body, or "". */
static void xml_field(const char *body, const char *tag, char *out, size_t outlen)
{
    char open[64];
    const char *s, *e;

    snprintf(open, sizeof(open), "<%s>", tag);
    *out = '\0';
    if (!(s = strstr(body, open)))
        return;
    s += strlen(open);
    if (!(e = strchr(s, '<')))
        return;
    snprintf(out, outlen, "%.*s", (int)(e - s), s);
}

static char *object_url(const struct bucket *t, CURL *h, const char *key)
{
    size_t cap = strlen(t->base_url) + 3 * (strlen(t->prefix) + strlen(key)) + 4;
    char *url = malloc(cap), *w;
    const char *parts[2] = {t->prefix, key};

    if (!url)
        return NULL;
    w = url + snprintf(url, cap, "%s", t->base_url);
    for (int i = 0; i < 2; i++) {
        const char *p = parts[i];

        while (*p) {
            size_t n = strcspn(p, "/");
            char *seg = curl_easy_escape(h, p, (int)n);

            if (!seg) {
                free(url);
                return NULL;
            }
            w += snprintf(w, cap - (size_t)(w - url), "/%s", seg);
            curl_free(seg);
            p += n;
            if (*p)
                p++;
        }
    }
    return url;
}

static bool append_header(struct curl_slist **list, const char *line)
{
    struct curl_slist *l = curl_slist_append(*list, line);

    if (l)
        *list = l;
    return l != NULL;
}

/* The request's headers: the payload's SHA-256 (S3 wants it, and it is
 * signed with the rest), its type, the session token, and no 100-continue
 * round trip. */
static int request_headers(const void *data, size_t len, const char *content_type,
                           const struct creds *cr, struct curl_slist **out, char *err,
                           size_t errlen)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    char line[4224], hex[2 * EVP_MAX_MD_SIZE + 1];
    struct curl_slist *hdrs = NULL;
    bool ok;

    if (!EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL)) {
        snprintf(err, errlen, "SHA-256 failed");
        return -EIO;
    }
    for (unsigned int i = 0; i < mdlen; i++)
        snprintf(hex + (size_t)2 * i, 3, "%02x", md[i]);
    snprintf(line, sizeof(line), "x-amz-content-sha256: %s", hex);
    ok = append_header(&hdrs, line);
    snprintf(line, sizeof(line), "Content-Type: %s", content_type);
    ok = ok && append_header(&hdrs, line);
    if (cr->token[0]) {
        snprintf(line, sizeof(line), "x-amz-security-token: %s", cr->token);
        ok = ok && append_header(&hdrs, line);
        explicit_bzero(line, sizeof(line));
    }
    if (!(ok && append_header(&hdrs, "Expect:"))) {
        curl_slist_free_all(hdrs);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    *out = hdrs;
    return 0;
}

/* An answer other than 2xx, in err: the status and S3's Code and Message. */
static int http_error(const char *method, const char *body, const char *url, long code, char *err,
                      size_t errlen)
{
    char scode[128], msg[512], *safe_code, *safe_msg;
    int rc = code == 401 || code == 403 ? -EACCES : code == 404 ? -ENOENT : -EIO;

    xml_field(body, "Code", scode, sizeof(scode));
    xml_field(body, "Message", msg, sizeof(msg));
    /* the server's words go to a log: no control characters */
    safe_code = escaped(escape_terminal, scode);
    safe_msg = escaped(escape_terminal, msg);
    snprintf(err, errlen, "%s %s: HTTP %ld%s%s%s%s%s", method, url, code, *scode ? " " : "",
             safe_code ? safe_code : "", *msg ? ": " : "", safe_msg ? safe_msg : "",
             rc == -EACCES ? " (check the S3 credentials and the bucket's policy)" : "");
    free(safe_code);
    free(safe_msg);
    return rc;
}

/* Each thread's libcurl handle, kept between requests so that its
 * connection is reused (keep-alive: no TCP and TLS handshake a request;
 * a query makes thousands). Freed when the thread exits. */
static pthread_key_t handle_key;
static pthread_once_t handle_once = PTHREAD_ONCE_INIT;
static bool handle_key_ok;

static void handle_free(void *h)
{
    curl_easy_cleanup(h);
}

static void handle_key_make(void)
{
    handle_key_ok = !pthread_key_create(&handle_key, handle_free);
}

/* This thread's handle, reset; NULL when out of memory. */
static CURL *thread_handle(void)
{
    CURL *h;

    pthread_once(&handle_once, handle_key_make);
    if (!handle_key_ok)
        return NULL;
    if ((h = pthread_getspecific(handle_key))) {
        curl_easy_reset(h); /* options go, connections and caches stay */
        return h;
    }
    if ((h = curl_easy_init()) && pthread_setspecific(handle_key, h)) {
        curl_easy_cleanup(h);
        h = NULL;
    }
    return h;
}

/* What every request to the bucket sets: url, the signature with cr, the
 * headers, the timeouts, where the answer goes. */
static void signed_request(const struct bucket *t, CURL *h, const char *url,
                           struct curl_slist *hdrs, const struct creds *cr,
                           size_t (*sink)(char *, size_t, size_t, void *), void *sink_ctx)
{
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_AWS_SIGV4, t->sigv4);
    curl_easy_setopt(h, CURLOPT_USERNAME, cr->id);
    curl_easy_setopt(h, CURLOPT_PASSWORD, cr->secret);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, sink_ctx);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, t->timeout_s);
    if (t->ca_file)
        curl_easy_setopt(h, CURLOPT_CAINFO, t->ca_file);
}

/* One PUT of body to url, signed with cr, its answer's start kept in reply. */
static CURLcode perform_put(const struct bucket *t, CURL *h, const char *url,
                            struct curl_slist *hdrs, struct request_body *body, struct reply *reply,
                            const struct creds *cr)
{
    signed_request(t, h, url, hdrs, cr, keep_reply, reply);
    curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(h, CURLOPT_READFUNCTION, read_body);
    curl_easy_setopt(h, CURLOPT_READDATA, body);
    curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)body->len);
    return curl_easy_perform(h);
}

static int put_s3(struct bucket *t, const char *key, const void *data, size_t len,
                  const char *content_type, char *err, size_t errlen)
{
    struct request_body body = {data, len, 0};
    struct reply *reply = calloc(1, sizeof(*reply));
    struct curl_slist *hdrs = NULL;
    struct creds cr;
    CURL *h = thread_handle();
    char *url = NULL;
    long code = 0;
    CURLcode cc;
    int rc;

    memset(&cr, 0, sizeof(cr));
    if (!h || !reply || !(url = object_url(t, h, key))) {
        snprintf(err, errlen, "out of memory");
        rc = -ENOMEM;
    } else if (!(rc = creds_load(&cr, err, errlen)) &&
               !(rc = request_headers(data, len, content_type, &cr, &hdrs, err, errlen))) {
        cc = perform_put(t, h, url, hdrs, &body, reply, &cr);
        if (cc == CURLE_OK)
            curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
        if (cc != CURLE_OK) {
            snprintf(err, errlen, "PUT %s: %s", url, curl_easy_strerror(cc));
            rc = -ECOMM;
        } else if (code < 200 || code > 299) {
            rc = http_error("PUT", reply->text, url, code, err, errlen);
        }
    }
    explicit_bzero(&cr, sizeof(cr));
    curl_slist_free_all(hdrs);
    free(url);
    free(reply);
    return rc;
}

int bucket_put(struct bucket *t, const char *key, const void *data, size_t len,
               const char *content_type, char *err, size_t errlen)
{
    if (!key_ok(key)) {
        snprintf(err, errlen, "bad object key '%s'", key);
        return -EINVAL;
    }
    return t->s3 ? put_s3(t, key, data, len, content_type, err, errlen)
                 : put_file(t, key, data, len, err, errlen);
}

/* ---- reading ---- */

/* An answer's body, growing up to max bytes; more is an error. */
struct sink {
    char *data;
    size_t len, cap, max;
    bool over;
};

static size_t keep_body(char *buf, size_t size, size_t n, void *ctx)
{
    struct sink *s = ctx;
    size_t got = size * n;

    if (got > s->max - s->len) {
        s->over = true;
        return 0; /* libcurl stops the transfer */
    }
    if (s->len + got + 1 > s->cap) {
        size_t cap = s->cap ? s->cap : 65536;
        char *d;

        while (cap < s->len + got + 1)
            cap *= 2;
        if (!(d = realloc(s->data, cap)))
            return 0;
        s->data = d;
        s->cap = cap;
    }
    memcpy(s->data + s->len, buf, got);
    s->len += got;
    s->data[s->len] = '\0';
    return got;
}

/* One signed GET of url into body. Returns 0 or a negative errno. */
static int get_url(const struct bucket *t, const char *url, const char *what, struct sink *body,
                   char *err, size_t errlen)
{
    struct curl_slist *hdrs = NULL;
    struct creds cr;
    CURL *h = thread_handle();
    long code = 0;
    CURLcode cc;
    int rc;

    memset(&cr, 0, sizeof(cr));
    if (!h) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    if (!(rc = creds_load(&cr, err, errlen)) &&
        !(rc = request_headers("", 0, "application/octet-stream", &cr, &hdrs, err, errlen))) {
        signed_request(t, h, url, hdrs, &cr, keep_body, body);
        cc = curl_easy_perform(h);
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
        if (body->over) {
            snprintf(err, errlen, "GET %s: %s over %zu bytes", url, what, body->max);
            rc = -EFBIG;
        } else if (cc != CURLE_OK) {
            snprintf(err, errlen, "GET %s: %s", url, curl_easy_strerror(cc));
            rc = cc == CURLE_WRITE_ERROR ? -ENOMEM : -ECOMM;
        } else if (code < 200 || code > 299) {
            rc = http_error("GET", body->data ? body->data : "", url, code, err, errlen);
        }
    }
    explicit_bzero(&cr, sizeof(cr));
    curl_slist_free_all(hdrs);
    return rc;
}

static int get_s3(struct bucket *t, const char *key, size_t max, char **data, size_t *len,
                  char *err, size_t errlen)
{
    struct sink body = {.max = max};
    CURL *h = curl_easy_init();
    char *url = h ? object_url(t, h, key) : NULL;
    int rc;

    curl_easy_cleanup(h);
    if (!url) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    /* an error body is read whole too: bounded by max, and short */
    rc = get_url(t, url, "the object is", &body, err, errlen);
    free(url);
    if (!rc && !body.data && !(body.data = calloc(1, 1))) {
        snprintf(err, errlen, "out of memory");
        rc = -ENOMEM;
    }
    if (rc) {
        free(body.data);
        return rc;
    }
    *data = body.data;
    *len = body.len;
    return 0;
}

static int get_file(struct bucket *t, const char *key, size_t max, char **data, size_t *len,
                    char *err, size_t errlen)
{
    char *path = NULL, *buf = NULL;
    struct stat st = {0};
    int fd = -1, rc = 0;
    size_t got = 0;

    if (asprintf(&path, "%s/%s", t->dir, key) < 0) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)) < 0 || fstat(fd, &st)) {
        rc = errno ? -errno : -EIO;
        snprintf(err, errlen, "%s: %s", path, strerror(-rc));
    } else if (!S_ISREG(st.st_mode)) {
        rc = -EINVAL;
        snprintf(err, errlen, "%s: not a regular file", path);
    } else if ((uint64_t)st.st_size > max) {
        rc = -EFBIG;
        snprintf(err, errlen, "%s: over %zu bytes", path, max);
    } else if (!(buf = malloc((size_t)st.st_size + 1))) {
        rc = -ENOMEM;
        snprintf(err, errlen, "out of memory");
    }
    while (!rc && got < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = n < 0 ? -errno : -EIO;
            snprintf(err, errlen, "%s: %s", path,
                     n < 0 ? strerror(errno) : "shorter than its size");
        } else {
            got += (size_t)n;
        }
    }
    if (fd >= 0)
        close(fd);
    free(path);
    if (rc || !buf) {
        free(buf);
        return rc ? rc : -EIO;
    }
    buf[got] = '\0';
    *data = buf;
    *len = got;
    return 0;
}

int bucket_get(struct bucket *t, const char *key, size_t max, char **data, size_t *len, char *err,
               size_t errlen)
{
    if (!key_ok(key)) {
        snprintf(err, errlen, "bad object key '%s'", key);
        return -EINVAL;
    }
    return t->s3 ? get_s3(t, key, max, data, len, err, errlen)
                 : get_file(t, key, max, data, len, err, errlen);
}

/* ---- listing ---- */

typedef int (*list_fn)(void *ctx, const struct bucket_entry *e);

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names in dir that start with part, sorted; hidden ones (temporary
 * files of atomic writes) left out. A missing dir has none. */
static int dir_names(const char *dir, const char *part, char ***out, size_t *n, char *err,
                     size_t errlen)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char **names = NULL;
    size_t cap = 0;

    *n = 0;
    if (!d) {
        if (errno == ENOENT || errno == ENOTDIR) {
            *out = NULL;
            return 0;
        }
        snprintf(err, errlen, "%s: %s", dir, strerror(errno));
        return -errno;
    }
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.' || strncmp(de->d_name, part, strlen(part)) != 0)
            continue;
        if (*n == cap) {
            char **g = realloc(names, (cap = cap ? 2 * cap : 64) * sizeof(*names));

            if (!g)
                goto nomem;
            names = g;
        }
        if (!(names[*n] = strdup(de->d_name)))
            goto nomem;
        (*n)++;
    }
    closedir(d);
    if (*n)
        qsort(names, *n, sizeof(*names), cmp_names);
    *out = names;
    return 0;
nomem:
    closedir(d);
    while (*n)
        free(names[--*n]);
    free(names);
    snprintf(err, errlen, "out of memory");
    return -ENOMEM;
}

/* Lists rel (a folder key, "" or ending in '/') of the file bucket: the
 * names in it that start with part. */
static int list_dir(struct bucket *t, const char *rel, const char *part, bool one_level, list_fn fn,
                    void *ctx, char *err, size_t errlen)
{
    char *dir = NULL, **names = NULL;
    size_t n = 0;
    int rc;

    if (asprintf(&dir, "%s/%s", t->dir, rel) < 0) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    rc = dir_names(dir, part, &names, &n, err, errlen);
    for (size_t i = 0; !rc && i < n; i++) {
        char *key = NULL, *path = NULL;
        struct stat st;
        int gone;

        if (asprintf(&key, "%s%s", rel, names[i]) < 0 ||
            asprintf(&path, "%s%s", dir, names[i]) < 0) {
            free(key);
            snprintf(err, errlen, "out of memory");
            rc = -ENOMEM;
            break;
        }
        gone = lstat(path, &st);
        free(path);
        if (gone) {
            free(key);
            continue; /* gone since: S3 would not list it either */
        }
        if (S_ISDIR(st.st_mode)) {
            char *sub = NULL;

            if (asprintf(&sub, "%s/", key) < 0) {
                rc = -ENOMEM;
                snprintf(err, errlen, "out of memory");
            } else if (one_level) {
                rc = fn(ctx, &(struct bucket_entry){.key = sub, .folder = true});
            } else {
                rc = list_dir(t, sub, "", false, fn, ctx, err, errlen);
            }
            free(sub);
        } else if (S_ISREG(st.st_mode)) {
            rc = fn(ctx, &(struct bucket_entry){.key = key, .size = (uint64_t)st.st_size});
        }
        free(key);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    free(dir);
    return rc;
}

/* Decodes XML's entities in place: the five named ones and &#N; &#xN;
 * (ASCII only: S3 keys written by podflame are). */
static void xml_unescape(char *s)
{
    static const struct {
        const char *name;
        char c;
    } named[] = {{"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
    char *w = s;

    while (*s) {
        size_t i;

        if (*s != '&') {
            *w++ = *s++;
            continue;
        }
        for (i = 0; i < sizeof(named) / sizeof(named[0]); i++)
            if (!strncmp(s, named[i].name, strlen(named[i].name)))
                break;
        if (i < sizeof(named) / sizeof(named[0])) {
            *w++ = named[i].c;
            s += strlen(named[i].name);
        } else if (s[1] == '#') {
            char *end;
            unsigned long v = s[2] == 'x' ? strtoul(s + 3, &end, 16) : strtoul(s + 2, &end, 10);

            if (*end == ';' && v > 0 && v < 128) {
                *w++ = (char)v;
                s = end + 1;
            } else {
                *w++ = *s++;
            }
        } else {
            *w++ = *s++;
        }
    }
    *w = '\0';
}

/* The text of the next <tag>...</tag> at or after *pos and before end, in
 * out (unescaped); *pos moves past it. false when there is none. */
static bool xml_next(const char **pos, const char *end, const char *tag, char *out, size_t outlen)
{
    char open[32], close[32];
    const char *s, *e;

    snprintf(open, sizeof(open), "<%s>", tag);
    snprintf(close, sizeof(close), "</%s>", tag);
    if (!(s = strstr(*pos, open)) || s >= end)
        return false;
    s += strlen(open);
    if (!(e = strstr(s, close)) || e > end)
        return false;
    snprintf(out, outlen, "%.*s", (int)(e - s), s);
    xml_unescape(out);
    *pos = e + strlen(close);
    return true;
}

int bucket_parse_listing(const char *xml, size_t plen, list_fn fn, void *ctx, char *err,
                         size_t errlen)
{
    static const char *const blocks[2] = {"Contents", "CommonPrefixes"};
    char key[2048], size[32];
    int rc = 0;

    for (int b = 0; !rc && b < 2; b++) {
        char open[32], close[32];
        const char *pos = xml;

        snprintf(open, sizeof(open), "<%s>", blocks[b]);
        snprintf(close, sizeof(close), "</%s>", blocks[b]);
        while (!rc && (pos = strstr(pos, open))) {
            const char *end = strstr(pos, close), *in = pos;

            if (!end) {
                snprintf(err, errlen, "a listing of the bucket ends inside <%s>", blocks[b]);
                return -EIO;
            }
            if (xml_next(&in, end, b ? "Prefix" : "Key", key, sizeof(key)) && strlen(key) > plen) {
                struct bucket_entry e = {.key = key + plen, .folder = b == 1};

                if (!b && xml_next(&in, end, "Size", size, sizeof(size)))
                    e.size = strtoull(size, NULL, 10);
                rc = fn(ctx, &e);
            }
            pos = end + strlen(close);
        }
    }
    return rc;
}

static int list_s3(struct bucket *t, const char *prefix, bool one_level, list_fn fn, void *ctx,
                   char *err, size_t errlen)
{
    CURL *h = curl_easy_init();
    char *full = NULL, token[2048] = "";
    size_t plen = *t->prefix ? strlen(t->prefix) + 1 : 0;
    int rc = 0;

    if (!h || asprintf(&full, "%s%s%s", t->prefix, *t->prefix ? "/" : "", prefix) < 0) {
        curl_easy_cleanup(h);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    do {
        struct sink body = {.max = BUCKET_MAX_LIST_PAGE};
        char *eprefix = curl_easy_escape(h, full, 0), *etoken = curl_easy_escape(h, token, 0);
        char *url = NULL;
        const char *pos;
        char truncated[16] = "";

        /* parameters in byte order: libcurl 7.88 signs the query as given,
         * and SigV4's canonical query is sorted */
        if (!eprefix || !etoken ||
            asprintf(&url, "%s?%s%s%s%slist-type=2&prefix=%s", t->base_url,
                     *token ? "continuation-token=" : "", etoken, *token ? "&" : "",
                     one_level ? "delimiter=%2F&" : "", eprefix) < 0) {
            url = NULL;
            snprintf(err, errlen, "out of memory");
            rc = -ENOMEM;
        }
        curl_free(eprefix);
        curl_free(etoken);
        if (!rc)
            rc = get_url(t, url, "a page of the listing is", &body, err, errlen);
        free(url);
        if (!rc && body.data) {
            rc = bucket_parse_listing(body.data, plen, fn, ctx, err, errlen);
            pos = body.data;
            xml_next(&pos, body.data + body.len, "IsTruncated", truncated, sizeof(truncated));
            pos = body.data;
            if (strcmp(truncated, "true") != 0 ||
                !xml_next(&pos, body.data + body.len, "NextContinuationToken", token,
                          sizeof(token)))
                token[0] = '\0';
        } else {
            token[0] = '\0';
        }
        free(body.data);
    } while (!rc && token[0]);
    curl_easy_cleanup(h);
    free(full);
    return rc;
}

int bucket_list(struct bucket *t, const char *prefix, bool one_level, list_fn fn, void *ctx,
                char *err, size_t errlen)
{
    const char *slash = strrchr(prefix, '/');
    char *rel;
    int rc;

    /* the folder part must be a key's own: no "..", nothing absolute */
    if (*prefix && (*prefix == '/' || strstr(prefix, "..") || strstr(prefix, "//"))) {
        snprintf(err, errlen, "bad key prefix '%s'", prefix);
        return -EINVAL;
    }
    if (t->s3)
        return list_s3(t, prefix, one_level, fn, ctx, err, errlen);
    if (!(rel = strndup(prefix, slash ? (size_t)(slash - prefix) + 1 : 0))) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    rc = list_dir(t, rel, slash ? slash + 1 : prefix, one_level, fn, ctx, err, errlen);
    free(rel);
    return rc;
}

void bucket_key_part(const char *in, char *out, size_t len)
{
    size_t i = 0;

    for (; *in && i + 1 < len; in++)
        out[i++] = (*in >= 'a' && *in <= 'z') || (*in >= 'A' && *in <= 'Z') ||
                           (*in >= '0' && *in <= '9') || *in == '.' || *in == '-' || *in == '_'
                       ? *in
                       : '_';
    out[i] = '\0';
    if (!i || !strcmp(out, ".") || !strcmp(out, ".."))
        snprintf(out, len, "_");
}
