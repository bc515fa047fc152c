#include "profiler/kube/kubeapi.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <stdatomic.h>

#include <curl/curl.h>
#include <jansson.h>

#include "formats/clock.h"
#include "formats/buf.h"
#include "formats/htab.h"
#include "profiler/kube/kube.h"

#define REFRESH_NS  (30 * 1000000000LL)
#define KICK_MIN_NS (2 * 1000000000LL)
#define MAX_BODY    (16u << 20) /* a PodList page; 110 Pods are ~1 MiB */
/* jansson spends ~200 bytes on each value, so the body's size does not bound
 * the tree: 60 MiB of "{}," made 4.7 GiB. A page is refused when it could
 * hold more values than this (a real Pod has a few hundred). */
#define MAX_JSON_VALUES ((size_t)200000)
/* Pods in all pages: a node runs at most a few hundred */
#define MAX_PODS       5000
#define MAX_TOKEN      (64u << 10)
#define PAGE_LIMIT     500
#define MAX_POD_LABELS 256

/* ---- a parsed PodList ---- */

struct pod_rec {
    struct kube_pod_meta meta; /* points into the fields below */
    char *uid, *name, *ns, *workload;
    struct kube_label *labels; /* owns its strings */
    size_t nlabels;
};

struct kube_pods {
    struct htab by_uid; /* uid -> index into pods */
    struct pod_rec *pods;
    size_t npods, pods_cap;
    struct kube_names *names; /* the Pods' names and their containers' */
};

static void pod_rec_free(struct pod_rec *p)
{
    for (size_t i = 0; i < p->nlabels; i++) {
        free((char *)p->labels[i].key);
        free((char *)p->labels[i].value);
    }
    free(p->labels);
    free(p->uid);
    free(p->name);
    free(p->ns);
    free(p->workload);
}

void kube_pods_free(struct kube_pods *pods)
{
    if (!pods)
        return;
    for (size_t i = 0; i < pods->npods; i++)
        pod_rec_free(&pods->pods[i]);
    free(pods->pods);
    htab_free(&pods->by_uid);
    kube_names_free(pods->names);
    free(pods);
}

static const char *str_at(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

static char *dup_or_null(const char *s, int *err)
{
    char *d;

    if (!s)
        return NULL;
    if (!(d = strdup(s)))
        *err = -ENOMEM;
    return d;
}

/* The workload that controls the Pod, from its controller owner reference.
 * A ReplicaSet named <deployment>-<pod-template-hash> is a Deployment's. */
static char *owner_workload(const json_t *meta, const char *template_hash)
{
    const json_t *owners = json_object_get(meta, "ownerReferences"), *o, *pick = NULL;
    const char *kind, *name;
    size_t i, nlen, hlen;
    char *out;
    int n;

    json_array_foreach(owners, i, o)
    {
        if (json_is_true(json_object_get(o, "controller")) || !pick)
            pick = o;
    }
    kind = str_at(pick, "kind");
    name = str_at(pick, "name");
    if (!kind || !name || !*kind || !*name)
        return NULL;
    nlen = strlen(name);
    hlen = template_hash ? strlen(template_hash) : 0;
    if (!strcmp(kind, "ReplicaSet") && hlen && nlen > hlen + 1 && name[nlen - hlen - 1] == '-' &&
        !strcmp(name + nlen - hlen, template_hash))
        n = asprintf(&out, "deployment/%.*s", (int)(nlen - hlen - 1), name);
    else
        n = asprintf(&out, "%s/%s", kind, name);
    if (n < 0)
        return NULL;
    for (char *c = out; *c != '/'; c++)
        *c = (char)tolower((unsigned char)*c);
    return out;
}

static int cmp_label(const void *a, const void *b)
{
    return strcmp(((const struct kube_label *)a)->key, ((const struct kube_label *)b)->key);
}

/* metadata.labels: string values only, at most MAX_POD_LABELS, by key */
static int add_labels(struct pod_rec *p, json_t *labels)
{
    size_t n = json_object_size(labels);
    const char *key;
    json_t *val;

    if (n > MAX_POD_LABELS)
        n = MAX_POD_LABELS;
    if (!n || !(p->labels = calloc(n, sizeof(*p->labels))))
        return n ? -ENOMEM : 0;
    json_object_foreach(labels, key, val)
    {
        struct kube_label *l = &p->labels[p->nlabels];

        if (p->nlabels == n)
            break;
        if (!json_is_string(val))
            continue;
        l->key = strdup(key);
        l->value = strdup(json_string_value(val));
        if (!l->key || !l->value) {
            free((char *)l->key);
            free((char *)l->value);
            return -ENOMEM;
        }
        p->nlabels++;
    }
    qsort(p->labels, p->nlabels, sizeof(*p->labels), cmp_label);
    return 0;
}

/* containerStatuses[].containerID is "<runtime>://<id>" */
static int add_containers(struct kube_pods *pods, const json_t *statuses)
{
    const json_t *st;
    size_t i;
    int err = 0;

    json_array_foreach(statuses, i, st)
    {
        const char *id = str_at(st, "containerID"), *name = str_at(st, "name"), *sep;

        if (id && name && (sep = strstr(id, "://")) && sep[3] &&
            (err = kube_names_add_container(pods->names, sep + 3, name)))
            break;
    }
    return err;
}

static int add_pod(struct kube_pods *pods, const json_t *item)
{
    const json_t *meta = json_object_get(item, "metadata"),
                 *status = json_object_get(item, "status");
    json_t *labels = json_object_get(meta, "labels");
    struct pod_rec p = {0};
    int err = 0;

    if (!str_at(meta, "uid") || !str_at(meta, "name"))
        return 0; /* not a Pod we can match to a cgroup */
    p.uid = dup_or_null(str_at(meta, "uid"), &err);
    p.name = dup_or_null(str_at(meta, "name"), &err);
    p.ns = dup_or_null(str_at(meta, "namespace"), &err);
    p.workload = owner_workload(meta, str_at(labels, "pod-template-hash"));
    if (!err && json_is_object(labels))
        err = add_labels(&p, labels);
    if (!err)
        err = ARRAY_RESERVE_ONE(pods->pods, pods->npods, pods->pods_cap);
    if (err) {
        pod_rec_free(&p);
        return -ENOMEM;
    }
    p.meta = (struct kube_pod_meta){.uid = p.uid,
                                    .name = p.name,
                                    .ns = p.ns,
                                    .workload = p.workload,
                                    .labels = p.labels,
                                    .nlabels = p.nlabels};
    pods->pods[pods->npods] = p;
    if (htab_put(&pods->by_uid, p.uid, strlen(p.uid), pods->npods++) ||
        (p.ns && kube_names_add_pod(pods->names, p.uid, p.ns, p.name)))
        return -ENOMEM;
    if ((err = add_containers(pods, json_object_get(status, "containerStatuses"))) ||
        (err = add_containers(pods, json_object_get(status, "initContainerStatuses"))))
        return err;
    return add_containers(pods, json_object_get(status, "ephemeralContainerStatuses"));
}

/* An upper bound of the number of values in a JSON text: one more than its
 * commas and opening brackets outside strings. */
static size_t json_values_bound(const char *json, size_t len)
{
    size_t n = 1;
    bool in_string = false;

    for (size_t i = 0; i < len; i++) {
        char c = json[i];

        if (in_string) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == ',' || c == '{' || c == '[') {
            n++;
        }
    }
    return n;
}

int kube_pods_parse(struct kube_pods **pods, const char *json, size_t len, char *cont,
                    size_t cont_len)
{
    json_t *root, *items, *item;
    const char *kind, *next;
    size_t i;
    int err = 0;

    if (cont_len)
        cont[0] = '\0';
    if (json_values_bound(json, len) > MAX_JSON_VALUES)
        return -E2BIG;
    root = json_loadb(json, len, 0, NULL);
    kind = str_at(root, "kind");
    items = json_object_get(root, "items");
    if (!root || (kind && strcmp(kind, "PodList") != 0) ||
        !(json_is_array(items) || json_is_null(items))) {
        json_decref(root);
        return -EINVAL;
    }
    if (!*pods) {
        if (!(*pods = calloc(1, sizeof(**pods))) || kube_names_new(&(*pods)->names)) {
            free(*pods);
            *pods = NULL;
            json_decref(root);
            return -ENOMEM;
        }
        htab_init(&(*pods)->by_uid);
    }
    if ((*pods)->npods + json_array_size(items) > MAX_PODS) {
        json_decref(root);
        return -E2BIG;
    }
    json_array_foreach(items, i, item)
    {
        if ((err = add_pod(*pods, item)))
            break;
    }
    next = str_at(json_object_get(root, "metadata"), "continue");
    if (!err && next && cont_len)
        snprintf(cont, cont_len, "%s", next);
    json_decref(root);
    return err;
}

size_t kube_pods_count(const struct kube_pods *pods)
{
    return pods ? pods->npods : 0;
}

const struct kube_pod_meta *kube_pods_find(const struct kube_pods *pods, const char *uid)
{
    uint64_t idx;

    if (!pods || !uid || !htab_get(&pods->by_uid, uid, strlen(uid), &idx))
        return NULL;
    return &pods->pods[idx].meta;
}

const char *kube_pods_container(const struct kube_pods *pods, const char *container_id)
{
    return pods ? kube_container_name(pods->names, container_id) : NULL;
}

/* ---- the client ---- */

struct kubeapi {
    struct kubeapi_config cfg;
    char *node_query; /* the escaped fieldSelector value */
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_t thread;
    bool running, kicked;
    atomic_bool stop;       /* read by curl's progress callback without the lock */
    struct kube_pods *pods; /* under lock */
    int64_t last_ns;        /* last refresh attempt */
    unsigned ok, failed;
    char why[256];
};

int kubeapi_config_in_cluster(struct kubeapi_config *cfg, char *why, size_t len)
{
    const char *host = getenv("KUBERNETES_SERVICE_HOST"), *port = getenv("KUBERNETES_SERVICE_PORT");
    const char *dir = getenv("PODFLAME_KUBE_SA_DIR");
    int n;

    if (!dir || !*dir)
        dir = "/var/run/secrets/kubernetes.io/serviceaccount";
    if (!host || !*host) {
        snprintf(why, len, "not in a cluster: KUBERNETES_SERVICE_HOST is not set");
        return -ENOENT;
    }
    /* an IPv6 service address needs brackets in a URL */
    n = snprintf(cfg->url, sizeof(cfg->url),
                 strchr(host, ':') ? "https://[%s]:%s" : "https://%s:%s", host,
                 port && *port ? port : "443");
    if (n < 0 || (size_t)n >= sizeof(cfg->url)) {
        snprintf(why, len, "KUBERNETES_SERVICE_HOST is too long");
        return -ENAMETOOLONG;
    }
    snprintf(cfg->token_path, sizeof(cfg->token_path), "%s/token", dir);
    snprintf(cfg->ca_path, sizeof(cfg->ca_path), "%s/ca.crt", dir);
    if (access(cfg->token_path, R_OK) || access(cfg->ca_path, R_OK)) {
        snprintf(why, len, "no service-account token and ca.crt readable in %s", dir);
        return -ENOENT;
    }
    return 0;
}

int kubeapi_open(const struct kubeapi_config *cfg, const char *node, struct kubeapi **out)
{
    struct kubeapi *api;
    CURL *c;
    char *esc;

    /* curl_global_init is not thread-safe: it runs here, before any thread */
    if (curl_global_init(CURL_GLOBAL_DEFAULT))
        return -ENOMEM;
    if (!(api = calloc(1, sizeof(*api))))
        return -ENOMEM;
    api->cfg = *cfg;
    c = curl_easy_init();
    esc = c ? curl_easy_escape(c, node, 0) : NULL;
    api->node_query = esc ? strdup(esc) : NULL;
    curl_free(esc);
    curl_easy_cleanup(c);
    if (!api->node_query) {
        free(api);
        return -ENOMEM;
    }
    pthread_mutex_init(&api->lock, NULL);
    pthread_cond_init(&api->wake, NULL);
    *out = api;
    return 0;
}

static size_t on_body(char *data, size_t size, size_t n, void *ctx)
{
    struct buf *b = ctx;

    if (b->len + size * n > MAX_BODY)
        return 0; /* curl fails the transfer: CURLE_WRITE_ERROR */
    return buf_put(b, data, size * n) ? 0 : size * n;
}

/* Ends a transfer in flight when the client is closing. */
static int on_progress(void *ctx, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    const struct kubeapi *api = ctx;

    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    return atomic_load(&api->stop) ? 1 : 0;
}

static int read_token(const char *path, char *tok, size_t len)
{
    FILE *f = fopen(path, "re");
    size_t n;

    if (!f)
        return -errno;
    n = fread(tok, 1, len - 1, f);
    fclose(f);
    while (n && isspace((unsigned char)tok[n - 1]))
        n--;
    tok[n] = '\0';
    return n ? 0 : -EINVAL;
}

/* The server's own words for an error: a Status object's message. */
static void status_message(const struct buf *b, long code, char *why, size_t len)
{
    json_t *root = b->d ? json_loadb(b->d, b->len, 0, NULL) : NULL;
    const char *msg = str_at(root, "message");

    snprintf(why, len, "HTTP %ld%s%s", code, msg ? ": " : "", msg ? msg : "");
    json_decref(root);
}

/* One GET of one page; the body lands in b. */
static int get_page(struct kubeapi *api, CURL *c, const char *cont, struct buf *b, char *why,
                    size_t len)
{
    char url[1024], tok[MAX_TOKEN], auth[MAX_TOKEN + 32], errbuf[CURL_ERROR_SIZE] = "";
    struct curl_slist *hdrs = NULL, *h = NULL;
    bool paged = cont && *cont;
    char *cesc = NULL;
    long code = 0;
    CURLcode rc;
    int err;

    if ((err = read_token(api->cfg.token_path, tok, sizeof(tok)))) {
        snprintf(why, len, "cannot read the token %s: %s", api->cfg.token_path, strerror(-err));
        return err;
    }
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", tok);
    explicit_bzero(tok, sizeof(tok));
    if (paged)
        cesc = curl_easy_escape(c, cont, 0);
    snprintf(url, sizeof(url), "%s/api/v1/pods?fieldSelector=spec.nodeName%%3D%s&limit=%d%s%s",
             api->cfg.url, api->node_query, PAGE_LIMIT, cesc ? "&continue=" : "", cesc ? cesc : "");
    if (!paged || cesc) {
        h = curl_slist_append(NULL, auth);
        hdrs = h ? curl_slist_append(h, "Accept: application/json") : NULL;
    }
    curl_free(cesc);
    if (!hdrs) {
        curl_slist_free_all(h);
        explicit_bzero(auth, sizeof(auth));
        snprintf(why, len, "out of memory");
        return -ENOMEM;
    }
    b->len = 0;
    if (b->d)
        b->d[0] = '\0';
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_CAINFO, api->cfg.ca_path);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L); /* threads: no SIGALRM for DNS timeouts */
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 3000L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 20000L);
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, ""); /* gzip if the server offers it */
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, api);
    rc = curl_easy_perform(c);
    curl_slist_free_all(hdrs);
    explicit_bzero(auth, sizeof(auth));
    if (rc != CURLE_OK) {
        snprintf(why, len, "%s: %s", api->cfg.url,
                 rc == CURLE_WRITE_ERROR ? "response larger than 16 MiB"
                 : *errbuf               ? errbuf
                                         : curl_easy_strerror(rc));
        return -EIO;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    if (code != 200) {
        status_message(b, code, why, len);
        return code == 401 || code == 403 ? -EACCES : -EIO;
    }
    return 0;
}

int kubeapi_refresh(struct kubeapi *api, char *why, size_t len)
{
    struct kube_pods *pods = NULL, *old;
    struct buf body = {0};
    char cont[4096] = "";
    CURL *c = curl_easy_init();
    int err, pages = 0;

    why[0] = '\0';
    if (!c) {
        snprintf(why, len, "out of memory");
        return -ENOMEM;
    }
    do {
        if ((err = get_page(api, c, cont, &body, why, len)))
            break;
        if ((err = kube_pods_parse(&pods, body.d, body.len, cont, sizeof(cont)))) {
            snprintf(why, len,
                     err == -E2BIG    ? "%s: the PodList is larger than a node's (over 200000 JSON "
                                        "values in a page, or 5000 Pods): refused"
                     : err == -ENOMEM ? "%s: out of memory reading the PodList"
                                      : "%s: the response is not a PodList",
                     api->cfg.url);
            break;
        }
    } while (*cont && ++pages < 1000);
    curl_easy_cleanup(c);
    free(body.d);
    pthread_mutex_lock(&api->lock);
    api->last_ns = mono_ns();
    if (err) {
        api->failed++;
        snprintf(api->why, sizeof(api->why), "%s", why);
        old = pods;
    } else {
        api->ok++;
        api->why[0] = '\0';
        old = api->pods;
        api->pods = pods;
    }
    pthread_mutex_unlock(&api->lock);
    kube_pods_free(old);
    return err;
}

static void *refresh_loop(void *arg)
{
    struct kubeapi *api = arg;
    char why[256];

    pthread_mutex_lock(&api->lock);
    while (!api->stop) {
        int64_t now = mono_ns(), due = api->last_ns + (api->kicked ? KICK_MIN_NS : REFRESH_NS);
        struct timespec ts;

        if (now < due) {
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += (due - now) / 1000000000LL;
            ts.tv_nsec += (due - now) % 1000000000LL;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&api->wake, &api->lock, &ts);
            continue;
        }
        api->kicked = false;
        pthread_mutex_unlock(&api->lock);
        kubeapi_refresh(api, why, sizeof(why)); /* the error is kept for kubeapi_stats */
        pthread_mutex_lock(&api->lock);
    }
    pthread_mutex_unlock(&api->lock);
    return NULL;
}

int kubeapi_start(struct kubeapi *api)
{
    int err = pthread_create(&api->thread, NULL, refresh_loop, api);

    if (err)
        return -err;
    api->running = true;
    return 0;
}

void kubeapi_kick(struct kubeapi *api)
{
    pthread_mutex_lock(&api->lock);
    if (!api->kicked) {
        api->kicked = true;
        pthread_cond_signal(&api->wake);
    }
    pthread_mutex_unlock(&api->lock);
}

bool kubeapi_with_pod(struct kubeapi *api, const char *uid, const char *container_id,
                      void (*fn)(void *ctx, const struct kube_pod_meta *pod, const char *container),
                      void *ctx)
{
    const struct kube_pod_meta *pod;

    pthread_mutex_lock(&api->lock);
    pod = kube_pods_find(api->pods, uid);
    if (pod)
        fn(ctx, pod, kube_pods_container(api->pods, container_id));
    pthread_mutex_unlock(&api->lock);
    return pod != NULL;
}

int kubeapi_add_names(struct kubeapi *api, struct kube_names *kn)
{
    int err;

    pthread_mutex_lock(&api->lock);
    err = api->pods ? kube_names_merge(kn, api->pods->names) : 0;
    pthread_mutex_unlock(&api->lock);
    return err;
}

void kubeapi_stats(struct kubeapi *api, unsigned *ok, unsigned *failed, size_t *pods, char *why,
                   size_t len)
{
    pthread_mutex_lock(&api->lock);
    *ok = api->ok;
    *failed = api->failed;
    *pods = kube_pods_count(api->pods);
    snprintf(why, len, "%s", api->why);
    pthread_mutex_unlock(&api->lock);
}

void kubeapi_close(struct kubeapi *api)
{
    if (!api)
        return;
    if (api->running) {
        pthread_mutex_lock(&api->lock);
        atomic_store(&api->stop, true);
        pthread_cond_signal(&api->wake);
        pthread_mutex_unlock(&api->lock);
        pthread_join(api->thread, NULL);
    }
    kube_pods_free(api->pods);
    pthread_mutex_destroy(&api->lock);
    pthread_cond_destroy(&api->wake);
    free(api->node_query);
    free(api);
    curl_global_cleanup();
}
