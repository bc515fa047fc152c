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

int cmd_trigger(int argc, char **argv)
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
    const char *pod = NULL, *ns = NULL, *reason = NULL, *addr = "127.0.0.1:9740";
    const char *token_file = getenv("PODFLAME_CONTROL_TOKEN_FILE"), *cacert = NULL;
    bool insecure = false;
    struct reply_buf reply = {0};
    struct curl_slist *hdrs = NULL;
    char url[512], *body, *token = NULL, *auth = NULL, err[512];
    size_t toklen = 0;
    json_t *j;
    CURL *h;
    long code = 0;
    CURLcode cc;
    int c;

    optind = 1;
    while ((c = getopt_long(argc, argv, "+p:n:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'p':
            pod = optarg;
            break;
        case 'n':
            ns = optarg;
            break;
        case 'r':
            reason = optarg;
            break;
        case 'a':
            addr = optarg;
            break;
        case 't':
            token_file = optarg;
            break;
        case 'c':
            cacert = optarg;
            break;
        case 'k':
            insecure = true;
            break;
        case 'h':
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
            return 0;
        default:
            fprintf(stderr, "(try 'podflame trigger --help')\n");
            return 2;
        }
    }
    if (!pod) {
        fprintf(stderr, "podflame trigger: say which Pod: --pod NAME [-n NAMESPACE]\n");
        return 2;
    }
    if (token_file && *token_file && token_read(token_file, &token, &toklen, err, sizeof(err))) {
        fprintf(stderr, "podflame trigger: --token-file %s\n", err);
        return 2;
    }
    if (token && asprintf(&auth, "Authorization: Bearer %s", token) < 0)
        auth = NULL;
    if (token) {
        explicit_bzero(token, toklen);
        free(token);
        if (!auth) {
            fprintf(stderr, "podflame trigger: out of memory\n");
            return 1;
        }
    }
    j = json_pack("{s:s, s:s, s:s}", "pod", pod, "namespace", ns ? ns : "", "reason",
                  reason ? reason : "asked by podflame trigger");
    body = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!body || curl_global_init(CURL_GLOBAL_DEFAULT) || !(h = curl_easy_init())) {
        free(body);
        forget(auth);
        fprintf(stderr, "podflame trigger: out of memory\n");
        return 1;
    }
    /* HOST:PORT, or a URL of the listener (https for a TLS one) */
    if (!strncmp(addr, "http://", 7) || !strncmp(addr, "https://", 8))
        snprintf(url, sizeof(url), "%.*s/trigger",
                 (int)(strlen(addr) - (addr[strlen(addr) - 1] == '/')), addr);
    else
        snprintf(url, sizeof(url), "http://%s/trigger", addr);
    hdrs = curl_slist_append(NULL, "Content-Type: application/json");
    if (auth)
        hdrs = curl_slist_append(hdrs, auth);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    if (cacert)
        curl_easy_setopt(h, CURLOPT_CAINFO, cacert);
    if (insecure) {
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, keep);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &reply);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 10L);
    cc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(h);
    curl_global_cleanup();
    forget(auth);
    free(body);
    if (cc != CURLE_OK) {
        fprintf(stderr, "podflame trigger: %s: %s (is podflame agent or watch running there?)\n",
                url, curl_easy_strerror(cc));
        return 1;
    }
    if (code == 401 && !auth)
        fprintf(stderr,
                "podflame trigger: %s: 401: give the listener's token with --token-file "
                "FILE\n",
                url);
    else {
        /* the listener's words, one line, no control characters */
        size_t len = strcspn(reply.text, "\n");
        struct buf safe = {0};

        if (len && !escape_terminal(&safe, reply.text, len) && !buf_put(&safe, "", 1))
            fprintf(code / 100 == 2 ? stdout : stderr, "podflame trigger: %s\n", safe.d);
        free(safe.d);
    }
    return code / 100 == 2 ? 0 : 1;
}
