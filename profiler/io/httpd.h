/*
 * httpd: the small HTTP listener of the agent and the watcher (/metrics,
 * /healthz, the control endpoints POST /trigger and /alertmanager), on
 * libmicrohttpd: a well-kept embedded server that already handles slow
 * clients, connection limits, TLS and malformed requests, which a root
 * daemon must not get wrong by hand. Requests are answered on its own
 * thread by the handler given; bodies over HTTPD_MAX_BODY are refused with
 * 413, clients idle for HTTPD_TIMEOUT_S are cut off, and at most
 * HTTPD_MAX_CONNS connections are open, HTTPD_MAX_CONNS_PER_IP from one
 * address, so that a few addresses holding half-sent requests cannot take
 * every slot (/healthz stays answerable).
 *
 * Before the handler sees a request, the listener decides who may make
 * it (access.h): the control endpoints need the bearer token of
 * --control-token-file, are refused (403) on a listener that is not
 * loopback-only when there is none, and are rate-limited per source;
 * /metrics needs --metrics-token-file's when it is given; /healthz is open.
 */
#ifndef PODFLAME_HTTPD_H
#define PODFLAME_HTTPD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define HTTPD_MAX_BODY         ((size_t)1 << 20)
#define HTTPD_TIMEOUT_S        10
#define HTTPD_MAX_CONNS        256
#define HTTPD_MAX_CONNS_PER_IP 8
#define HTTPD_CONTROL_BURST    5    /* control requests a source may make at once */
#define HTTPD_CONTROL_PER_MIN  6    /* and then a minute */
#define HTTPD_RATE_SOURCES     1024 /* sources whose rate is tracked */

/* The listener's options, shared by agent and watch (httpd_opts_set). */
struct httpd_opts {
    const char *control_token_file; /* bearer token of the control endpoints */
    const char *metrics_token_file; /* of GET /metrics (agent); NULL: open */
    const char *control_addr;       /* the control endpoints' own listener (agent) */
    const char *tls_cert, *tls_key; /* PEM files: HTTPS instead of HTTP */
};

struct httpd;

struct httpd_reply {
    int status;               /* 200, 404, ... */
    const char *content_type; /* static string */
    char *body;               /* malloc'd; the server frees it */
    size_t len;
};

/* Called for every whole request that was let in, on the server's thread;
 * fills reply. method, path and body (NUL-terminated) are valid during the
 * call only. */
typedef void (*httpd_handler)(void *ctx, const char *method, const char *path, const char *body,
                              size_t len, struct httpd_reply *reply);

/* What one listener serves. */
struct httpd_listen {
    const char *addr; /* "HOST:PORT"; HOST an IPv4 or IPv6 address or a name
                       * (e.g. localhost) resolved to its first address;
                       * PORT 0 picks a free port */
    bool control;     /* POST /trigger and /alertmanager; else 404 here */
    bool metrics;     /* GET /metrics; else 404 here */
    FILE *log;        /* one line per refused request; NULL: none */
};

/* Starts a listener with the options' token files and TLS. Returns 0 or a
 * negative errno with a one-line reason in err. o and l are read during
 * the call (the files they name are read then), except l->log, which must
 * stay open until httpd_stop; ctx is passed to fn until then. */
int httpd_start(const struct httpd_opts *o, const struct httpd_listen *l, httpd_handler fn,
                void *ctx, struct httpd **out, char *err, size_t errlen);
/* The port it listens on (useful with port 0). */
unsigned httpd_port(const struct httpd *h);
/* True when it would serve the control endpoints but answers them 403: it
 * is not loopback-only (127.0.0.0/8, ::1) and no token file was given. */
bool httpd_control_locked(const struct httpd *h);
/* "http" or "https" (static strings). */
const char *httpd_scheme(const struct httpd *h);
/* Stops the listener, waiting for requests being answered; frees h (NULL:
 * nothing). */
void httpd_stop(struct httpd *h);

#endif
