/*
 * httpd: the agent's small HTTP listener (/metrics, /healthz, and later
 * webhooks), on libmicrohttpd: a well-kept embedded server that already
 * handles slow clients, connection limits and malformed requests, which a
 * root daemon must not get wrong by hand. Requests are answered on its own
 * thread by the handler given; bodies over HTTPD_MAX_BODY are refused with
 * 413, clients slower than HTTPD_TIMEOUT_S are cut off.
 */
#ifndef PODFLAME_HTTPD_H
#define PODFLAME_HTTPD_H

#include <stddef.h>

#define HTTPD_MAX_BODY  ((size_t)1 << 20)
#define HTTPD_TIMEOUT_S 10

struct httpd;

struct httpd_reply {
    int status;               /* 200, 404, ... */
    const char *content_type; /* static string */
    char *body;               /* malloc'd; the server frees it */
    size_t len;
};

/* Called for every whole request; fills reply. body is NUL-terminated. */
typedef void (*httpd_handler)(void *ctx, const char *method, const char *path, const char *body,
                              size_t len, struct httpd_reply *reply);

/* Listens on addr ("HOST:PORT"; HOST an IPv4 or IPv6 address or
 * "localhost"; PORT 0 picks a free port). Returns 0 or a negative errno
 * with a one-line reason in err. */
int httpd_start(const char *addr, httpd_handler fn, void *ctx, struct httpd **out, char *err,
                size_t errlen);
/* The port it listens on (useful with port 0). */
unsigned httpd_port(const struct httpd *h);
void httpd_stop(struct httpd *h);

#endif
