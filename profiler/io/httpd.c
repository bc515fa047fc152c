#include "profiler/io/httpd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "formats/buf.h"
#include "formats/clock.h"
#include "profiler/io/access.h"

#define TLS_FILE_MAX ((size_t)1 << 20)

struct httpd {
    struct MHD_Daemon *d;
    httpd_handler fn;
    void *ctx;
    unsigned port;
    struct httpd_listen l;
    bool loopback; /* bound to a loopback address only */
    struct token_file *control_token, *metrics_token;
    struct rate_limiter *control_rate;
    struct rate_limiter *log_rate; /* refusals logged, so a flood cannot fill the log */
    char *cert, *key;              /* PEM, for the daemon's life */
    size_t key_len;
};

/* One request's body, gathered across calls of the access handler. */
struct request {
    char *body;
    size_t len, cap;
    bool too_big;
};

static enum MHD_Result respond(struct MHD_Connection *conn, int status, const char *type,
                               char *body, size_t len)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(
        len, body, body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    enum MHD_Result ret;

    if (!r) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", type);
    ret = MHD_queue_response(conn, (unsigned)status, r);
    MHD_destroy_response(r);
    return ret;
}

/* A refusal: a static message and at most one header. */
static enum MHD_Result refuse(struct MHD_Connection *conn, int status, const char *msg,
                              const char *hname, const char *hvalue)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(msg), (void *)msg, MHD_RESPMEM_PERSISTENT);
    enum MHD_Result ret;

    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", "text/plain");
    if (hname)
        MHD_add_response_header(r, hname, hvalue);
    ret = MHD_queue_response(conn, (unsigned)status, r);
    MHD_destroy_response(r);
    return ret;
}

/* The client's address as text, an IPv4-mapped IPv6 address as IPv4. */
static void peer_name(struct MHD_Connection *conn, char *out, size_t len)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *sa = ci ? ci->client_addr : NULL;

    snprintf(out, len, "?");
    if (sa && sa->sa_family == AF_INET) {
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, (socklen_t)len);
    } else if (sa && sa->sa_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;

        if (IN6_IS_ADDR_V4MAPPED(a))
            inet_ntop(AF_INET, &a->s6_addr[12], out, (socklen_t)len);
        else
            inet_ntop(AF_INET6, a, out, (socklen_t)len);
    }
}

static void log_refusal(struct httpd *h, const char *peer, const char *method, const char *url,
                        int status, const char *why)
{
    unsigned wait;

    if (h->l.log && rate_limiter_take(h->log_rate, "log", mono_ns(), &wait))
        fprintf(h->l.log, "podflame: %d to %s %s from %s: %s\n", status, method, url, peer, why);
}

/* 401, logged with why (never the token). */
static enum MHD_Result unauthorized(struct httpd *h, struct MHD_Connection *conn, const char *peer,
                                    const char *method, const char *url, enum token_verdict v,
                                    const char *err)
{
    log_refusal(h, peer, method, url, 401,
                v == TOKEN_MISSING ? "no bearer token"
                : v == TOKEN_WRONG ? "wrong bearer token"
                                   : err);
    return refuse(conn, 401, "unauthorized: send Authorization: Bearer TOKEN\n", "WWW-Authenticate",
                  "Bearer realm=\"podflame\"");
}

static bool is_control(const char *url)
{
    return !strcmp(url, "/trigger") || !strcmp(url, "/alertmanager");
}

/* Who may make this request, decided from its headers before any body is
 * read. Returns MHD_YES with *done false to let it in. */
static enum MHD_Result gate(struct httpd *h, struct MHD_Connection *conn, const char *url,
                            const char *method, bool *done)
{
    const char *auth = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
    char peer[INET6_ADDRSTRLEN], err[512], retry[16];
    enum token_verdict v;
    unsigned wait = 0;

    *done = true;
    if (!strcmp(url, "/metrics")) {
        if (!h->l.metrics)
            return refuse(conn, 404, "not found: /metrics is served on --metrics-addr\n", NULL,
                          NULL);
        if (!h->metrics_token ||
            (v = token_file_check(h->metrics_token, auth, err, sizeof(err))) == TOKEN_OK) {
            *done = false;
            return MHD_YES;
        }
        peer_name(conn, peer, sizeof(peer));
        return unauthorized(h, conn, peer, method, url, v, err);
    }
    if (!is_control(url)) {
        *done = false;
        return MHD_YES;
    }
    if (!h->l.control)
        return refuse(conn, 404, "not found: the control endpoints are on --control-addr\n", NULL,
                      NULL);
    peer_name(conn, peer, sizeof(peer));
    /* every attempt counts, failed ones too: guessing a token is slowed */
    if (!rate_limiter_take(h->control_rate, peer, mono_ns(), &wait)) {
        snprintf(retry, sizeof(retry), "%u", wait);
        return refuse(conn, 429, "too many requests: try again later\n", "Retry-After", retry);
    }
    if (!h->control_token) {
        if (h->loopback) {
            *done = false;
            return MHD_YES;
        }
        log_refusal(h, peer, method, url, 403,
                    "no --control-token-file on a listener that is not loopback-only");
        return refuse(conn, 403,
                      "forbidden: this listener is not loopback-only and has no "
                      "--control-token-file\n",
                      NULL, NULL);
    }
    v = token_file_check(h->control_token, auth, err, sizeof(err));
    if (v == TOKEN_OK) {
        *done = false;
        return MHD_YES;
    }
    return unauthorized(h, conn, peer, method, url, v, err);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_len, void **state)
{
    struct httpd *h = cls;
    struct request *rq = *state;
    struct httpd_reply reply = {.status = 500, .content_type = "text/plain"};

    (void)version;
    if (!rq) {
        bool done;
        enum MHD_Result r = gate(h, conn, url, method, &done);

        if (done)
            return r; /* refused before its body is read */
        if (!(rq = calloc(1, sizeof(*rq))))
            return MHD_NO;
        *state = rq;
        return MHD_YES;
    }
    if (*upload_len) {
        if (!rq->too_big && rq->len + *upload_len <= HTTPD_MAX_BODY) {
            if (array_reserve((void **)&rq->body, &rq->cap, rq->len + *upload_len + 1, 1))
                return MHD_NO;
            memcpy(rq->body + rq->len, upload, *upload_len);
            rq->len += *upload_len;
            rq->body[rq->len] = '\0';
        } else {
            rq->too_big = true; /* read and drop the rest, then say 413 */
        }
        *upload_len = 0;
        return MHD_YES;
    }
    if (rq->too_big) {
        char *msg = strdup("request body too large\n");

        return respond(conn, 413, "text/plain", msg, msg ? strlen(msg) : 0);
    }
    h->fn(h->ctx, method, url, rq->body ? rq->body : "", rq->len, &reply);
    return respond(conn, reply.status, reply.content_type, reply.body, reply.body ? reply.len : 0);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **state,
                         enum MHD_RequestTerminationCode why)
{
    struct request *rq = *state;

    (void)cls;
    (void)conn;
    (void)why;
    if (rq) {
        free(rq->body);
        free(rq);
        *state = NULL;
    }
}

static void httpd_free(struct httpd *h)
{
    token_file_free(h->control_token);
    token_file_free(h->metrics_token);
    rate_limiter_free(h->control_rate);
    rate_limiter_free(h->log_rate);
    free(h->cert);
    if (h->key) {
        explicit_bzero(h->key, h->key_len);
        free(h->key);
    }
    free(h);
}

/* Token files and TLS material, read once at start (the tokens again when
 * they change). */
static int load_secrets(struct httpd *h, const struct httpd_opts *o, char *err, size_t errlen)
{
    size_t len;
    int rc;

    if (h->l.control && o->control_token_file &&
        (rc = token_file_open(o->control_token_file, &h->control_token, err, errlen)))
        return rc;
    if (h->l.metrics && o->metrics_token_file &&
        (rc = token_file_open(o->metrics_token_file, &h->metrics_token, err, errlen)))
        return rc;
    if (!o->tls_cert != !o->tls_key) {
        snprintf(err, errlen, "give both --tls-cert and --tls-key, or neither");
        return -EINVAL;
    }
    if (!o->tls_cert)
        return 0;
    if (!MHD_is_feature_supported(MHD_FEATURE_TLS)) {
        snprintf(err, errlen,
                 "--tls-cert: this libmicrohttpd was built without TLS (GnuTLS); install one "
                 "with it (Debian's libmicrohttpd12 has it)");
        return -ENOTSUP;
    }
    if ((rc = secret_file_read(o->tls_cert, TLS_FILE_MAX, &h->cert, &len, err, errlen)) ||
        (rc = secret_file_read(o->tls_key, TLS_FILE_MAX, &h->key, &h->key_len, err, errlen)))
        return rc;
    return 0;
}

int httpd_start(const struct httpd_opts *o, const struct httpd_listen *l, httpd_handler fn,
                void *ctx, struct httpd **out, char *err, size_t errlen)
{
    struct addrinfo hints = {.ai_flags = AI_NUMERICSERV, .ai_socktype = SOCK_STREAM}, *ai = NULL;
    const char *addr = l->addr, *colon = strrchr(addr, ':');
    char host[256];
    struct httpd *h;
    const union MHD_DaemonInfo *info;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL;
    struct MHD_OptionItem opts[16];
    size_t n = 0;
    int rc;

    if (!colon || colon == addr || !colon[1] || (size_t)(colon - addr) >= sizeof(host)) {
        snprintf(err, errlen, "%s: give HOST:PORT, e.g. 127.0.0.1:9740", addr);
        return -EINVAL;
    }
    snprintf(host, sizeof(host), "%.*s", (int)(colon - addr), addr);
    if (host[0] == '[' && host[strlen(host) - 1] == ']') { /* [::1]:9740 */
        memmove(host, host + 1, strlen(host));
        host[strlen(host) - 1] = '\0';
    }
    if (!(h = calloc(1, sizeof(*h)))) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    h->fn = fn;
    h->ctx = ctx;
    h->l = *l;
    if ((rc = load_secrets(h, o, err, errlen))) {
        httpd_free(h);
        return rc;
    }
    if (rate_limiter_new(HTTPD_CONTROL_BURST, HTTPD_CONTROL_PER_MIN, HTTPD_RATE_SOURCES,
                         &h->control_rate) ||
        rate_limiter_new(20, 120, 1, &h->log_rate)) {
        httpd_free(h);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    if ((rc = getaddrinfo(host, colon + 1, &hints, &ai)) || !ai) {
        snprintf(err, errlen, "%s: %s", addr, rc ? gai_strerror(rc) : "no address");
        httpd_free(h);
        return -EINVAL;
    }
    /* decided on the address bound, whatever name gave it */
    h->loopback = sockaddr_is_loopback(ai->ai_addr);
    if (ai->ai_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_SOCK_ADDR, 0, ai->ai_addr};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_TIMEOUT, HTTPD_TIMEOUT_S, NULL};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_LIMIT, HTTPD_MAX_CONNS, NULL};
    opts[n++] =
        (struct MHD_OptionItem){MHD_OPTION_PER_IP_CONNECTION_LIMIT, HTTPD_MAX_CONNS_PER_IP, NULL};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_MEMORY_LIMIT, 32768, NULL};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, NULL};
    if (h->cert) {
        flags |= MHD_USE_TLS;
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, h->cert};
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, h->key};
    }
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    h->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, h, MHD_OPTION_ARRAY, opts,
                            MHD_OPTION_END);
    freeaddrinfo(ai);
    if (!h->d) {
        snprintf(err, errlen,
                 h->cert ? "cannot listen on %s (in use, not an address of this host, or the TLS "
                           "certificate and key are not a valid PEM pair)"
                         : "cannot listen on %s (in use, or not an address of this host)",
                 addr);
        httpd_free(h);
        return -EADDRINUSE;
    }
    info = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
    h->port = info ? info->port : 0;
    *out = h;
    return 0;
}

unsigned httpd_port(const struct httpd *h)
{
    return h->port;
}

bool httpd_control_locked(const struct httpd *h)
{
    return h->l.control && !h->loopback && !h->control_token;
}

const char *httpd_scheme(const struct httpd *h)
{
    return h->cert ? "https" : "http";
}

void httpd_stop(struct httpd *h)
{
    if (!h)
        return;
    MHD_stop_daemon(h->d);
    httpd_free(h);
}
