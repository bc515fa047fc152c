#include "httpd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <netdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "../formats/buf.h"

struct httpd {
    struct MHD_Daemon *d;
    httpd_handler fn;
    void *ctx;
    unsigned port;
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

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_len, void **state)
{
    struct httpd *h = cls;
    struct request *rq = *state;
    struct httpd_reply reply = {.status = 500, .content_type = "text/plain"};

    (void)version;
    if (!rq) {
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

int httpd_start(const char *addr, httpd_handler fn, void *ctx, struct httpd **out, char *err,
                size_t errlen)
{
    struct addrinfo hints = {.ai_flags = AI_NUMERICSERV, .ai_socktype = SOCK_STREAM}, *ai = NULL;
    const char *colon = strrchr(addr, ':');
    char host[256];
    struct httpd *h;
    const union MHD_DaemonInfo *info;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL;
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
    if ((rc = getaddrinfo(host, colon + 1, &hints, &ai)) || !ai) {
        snprintf(err, errlen, "%s: %s", addr, rc ? gai_strerror(rc) : "no address");
        return -EINVAL;
    }
    if (!(h = calloc(1, sizeof(*h)))) {
        freeaddrinfo(ai);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    h->fn = fn;
    h->ctx = ctx;
    if (ai->ai_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    h->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, h, MHD_OPTION_SOCK_ADDR, ai->ai_addr,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)HTTPD_TIMEOUT_S,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned int)64,
                            MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned int)16,
                            MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)32768,
                            MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL, MHD_OPTION_END);
    freeaddrinfo(ai);
    if (!h->d) {
        snprintf(err, errlen, "cannot listen on %s (in use, or not an address of this host)", addr);
        free(h);
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

void httpd_stop(struct httpd *h)
{
    if (!h)
        return;
    MHD_stop_daemon(h->d);
    free(h);
}
