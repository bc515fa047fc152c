/*
 * podflame trigger: a person's way to ask the agent or watcher for a
 * capture, as a firing alert would.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "formats/buf.h"
#include "formats/escape.h"
#include "profiler/io/access.h"
#include "profiler/cmd.h"

struct reply_buf {
    char text[4096];
    size_t len;
};

static size_t keep(char *buf, size_t size, size_t n, void *ctx)
{
    struct reply_buf *r = ctx;
    size_t got = size * n, room = sizeof(r->text) - 1 - r->len;

    memcpy(r->text + r->len, buf, got < room ? got : room);
    r->len += got < room ? got : room;
    r->text[r->len] = '\0';
    return got;
}

/* Frees a string that held a secret. */
static void forget(char *s)
{
    if (s) {
        explicit_bzero(s, strlen(s));
        free(s);
    }
}

struct trigger_opts {
    const char *pod, *ns, *reason, *addr, *token_file, *cacert;
    bool insecure;
};

static void trigger_usage(void)
{
    printf("usage: podflame trigger --pod NAME|UID [-n NAMESPACE] [--reason TEXT]\n"
           "                        [--addr HOST:PORT|URL] [--token-file FILE]\n"
           "                        [--cacert FILE | --insecure]\n\n"
           "Asks the agent or watcher on this node (default 127.0.0.1:9740) to capture a\n"
           "Pod now and write a finding, as a firing alert would.\n\n"
           "  --addr HOST:PORT|URL    the listener: HOST:PORT (http), or http://HOST:PORT\n"
           "                          or https://HOST:PORT\n"
           "  --token-file FILE       send 'Authorization: Bearer' with this file's token\n"
           "                          (the agent's --control-token-file; default\n"
           "                          $PODFLAME_CONTROL_TOKEN_FILE)\n"
           "  --cacert FILE           CA certificate(s) to check an https listener with\n"
           "  --insecure              https without checking the certificate\n");
}

/* Returns 0 to go on, or the exit status after --help (0) or an error (2). */
static int trigger_parse(int argc, char **argv, struct trigger_opts *o, int *status)
{
    static const struct option longopts[] = {
        {"pod", required_argument, NULL, 'p'},
        {"namespace", required_argument, NULL, 'n'},
        {"reason", required_argument, NULL, 'r'},
        {"addr", required_argument, NULL, 'a'},
        {"token-file", required_argument, NULL, 't'},
        {"cacert", required_argument, NULL, 'c'},
        {"insecure", no_argument, NULL, 'k'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    int c;

    *o = (struct trigger_opts){.addr = "127.0.0.1:9740",
                               .token_file = getenv("PODFLAME_CONTROL_TOKEN_FILE"),
                               .reason = "asked by podflame trigger",
                               .ns = ""};
    *status = 2;
    optind = 0;
    opterr = 1; /* getopt says what is wrong, as "podflame trigger: ..." */
    while ((c = getopt_long(argc, argv, "+p:n:h", longopts, NULL)) != -1) {
        const char **slot = c == 'p'   ? &o->pod
                            : c == 'n' ? &o->ns
                            : c == 'r' ? &o->reason
                            : c == 'a' ? &o->addr
                            : c == 't' ? &o->token_file
                            : c == 'c' ? &o->cacert
                                       : NULL;

        if (slot)
            *slot = optarg;
        else if (c == 'k')
            o->insecure = true;
        else if (c == 'h') {
            trigger_usage();
            *status = 0;
            return -1;
        } else {
            fprintf(stderr, "(try 'podflame trigger --help')\n");
            return -1;
        }
    }
    if (!o->pod) {
        fprintf(stderr, "podflame trigger: say which Pod: --pod NAME [-n NAMESPACE]\n");
        return -1;
    }
    return 0;
}

/* "Authorization: Bearer TOKEN" from the token file, or NULL without one.
 * Returns 0 or a negative errno with the reason in err. */
static int bearer_header(const char *token_file, char **out, char *err, size_t errlen)
{
    char *token = NULL;
    size_t toklen = 0;
    int rc;

    *out = NULL;
    if (!token_file || !*token_file)
        return 0;
    if ((rc = token_read(token_file, &token, &toklen, err, errlen)))
        return rc;
    if (asprintf(out, "Authorization: Bearer %s", token) < 0) {
        *out = NULL;
        snprintf(err, errlen, "out of memory");
        rc = -ENOMEM;
    }
    explicit_bzero(token, toklen);
    free(token);
    return rc;
}

/* POSTs body to the listener's /trigger; the answer's status in *code, its
 * first bytes in reply. */
static CURLcode post_trigger(const struct trigger_opts *o, const char *url, const char *auth,
                             const char *body, struct reply_buf *reply, long *code)
{
    struct curl_slist *hdrs = curl_slist_append(NULL, "Content-Type: application/json");
    CURL *h = curl_easy_init();
    CURLcode cc;

    if (!h || !hdrs || (auth && !(hdrs = curl_slist_append(hdrs, auth)))) {
        curl_slist_free_all(hdrs);
        curl_easy_cleanup(h);
        return CURLE_OUT_OF_MEMORY;
    }
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    if (o->cacert)
        curl_easy_setopt(h, CURLOPT_CAINFO, o->cacert);
    if (o->insecure) {
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, keep);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, reply);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 10L);
    cc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, code);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(h);
    return cc;
}

/* The listener's words, one line, no control characters. */
static void print_reply(const char *url, long code, bool sent_token, const struct reply_buf *r)
{
    size_t len = strcspn(r->text, "\n");
    struct buf safe = {0};

    if (code == 401 && !sent_token) {
        fprintf(stderr,
                "podflame trigger: %s: 401: give the listener's token with --token-file FILE\n",
                url);
        return;
    }
    if (len && !escape_terminal(&safe, r->text, len) && !buf_put(&safe, "", 1))
        fprintf(code / 100 == 2 ? stdout : stderr, "podflame trigger: %s\n", safe.d);
    free(safe.d);
}

int cmd_trigger(int argc, char **argv)
{
    struct trigger_opts o;
    struct reply_buf reply = {0};
    char url[512], *body = NULL, *auth = NULL, err[512];
    json_t *j;
    long code = 0;
    CURLcode cc;
    int status;

    if (trigger_parse(argc, argv, &o, &status))
        return status;
    if (bearer_header(o.token_file, &auth, err, sizeof(err))) {
        fprintf(stderr, "podflame trigger: --token-file %s\n", err);
        return 2;
    }
    j = json_pack("{s:s, s:s, s:s}", "pod", o.pod, "namespace", o.ns, "reason", o.reason);
    body = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!body || curl_global_init(CURL_GLOBAL_DEFAULT)) {
        free(body);
        forget(auth);
        fprintf(stderr, "podflame trigger: out of memory\n");
        return 1;
    }
    /* HOST:PORT, or a URL of the listener (https for a TLS one) */
    if (!strncmp(o.addr, "http://", 7) || !strncmp(o.addr, "https://", 8))
        snprintf(url, sizeof(url), "%.*s/trigger",
                 (int)(strlen(o.addr) - (o.addr[strlen(o.addr) - 1] == '/')), o.addr);
    else
        snprintf(url, sizeof(url), "http://%s/trigger", o.addr);
    cc = post_trigger(&o, url, auth, body, &reply, &code);
    curl_global_cleanup();
    free(body);
    if (cc != CURLE_OK) {
        forget(auth);
        fprintf(stderr, "podflame trigger: %s: %s (is podflame agent or watch running there?)\n",
                url, curl_easy_strerror(cc));
        return 1;
    }
    print_reply(url, code, auth != NULL, &reply);
    forget(auth);
    return code / 100 == 2 ? 0 : 1;
}
