#include "profiler/kube/containers.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "formats/buf.h"
#include "formats/htab.h"

#define DEFAULT_PODMAN_JSON "/var/lib/containers/storage/overlay-containers/containers.json"
#define DEFAULT_DOCKER_DIR  "/var/lib/docker"
/* the state files are the runtimes', on the host; bounded all the same */
#define MAX_STATE_BYTES ((size_t)64 << 20)

struct container_names {
    char *podman_json, *docker_dir;
    struct htab index; /* id -> index into names + 1; 0: looked up, none */
    char **names;
    size_t n, cap;
    struct timespec podman_mtime;
    off_t podman_size;
};

int container_names_new(const char *podman_json, const char *docker_dir,
                        struct container_names **out)
{
    struct container_names *cn = calloc(1, sizeof(*cn));

    if (!cn)
        return -ENOMEM;
    htab_init(&cn->index);
    cn->podman_json = strdup(podman_json ? podman_json : DEFAULT_PODMAN_JSON);
    cn->docker_dir = strdup(docker_dir ? docker_dir : DEFAULT_DOCKER_DIR);
    if (!cn->podman_json || !cn->docker_dir) {
        container_names_free(cn);
        return -ENOMEM;
    }
    *out = cn;
    return 0;
}

void container_names_free(struct container_names *cn)
{
    if (!cn)
        return;
    for (size_t i = 0; i < cn->n; i++)
        free(cn->names[i]);
    free(cn->names);
    htab_free(&cn->index);
    free(cn->podman_json);
    free(cn->docker_dir);
    free(cn);
}

static json_t *load_json(const char *path)
{
    struct stat st;

    if (stat(path, &st) || !S_ISREG(st.st_mode) || (size_t)st.st_size > MAX_STATE_BYTES)
        return NULL;
    return json_load_file(path, 0, NULL);
}

static int remember(struct container_names *cn, const char *id, const char *name)
{
    char *copy = NULL;

    if (name && *name) {
        if (!(copy = strdup(name)) || ARRAY_RESERVE_ONE(cn->names, cn->n, cn->cap)) {
            free(copy);
            return -ENOMEM;
        }
        cn->names[cn->n++] = copy;
    }
    return htab_put(&cn->index, id, strlen(id), copy ? cn->n : 0);
}

/* podman: [{"id": ..., "names": [NAME, ...]}, ...], read again when it
 * changed since the last read */
static void read_podman(struct container_names *cn)
{
    struct stat st;
    json_t *root, *c;
    size_t i;

    if (stat(cn->podman_json, &st) ||
        (st.st_mtim.tv_sec == cn->podman_mtime.tv_sec &&
         st.st_mtim.tv_nsec == cn->podman_mtime.tv_nsec && st.st_size == cn->podman_size))
        return;
    cn->podman_mtime = st.st_mtim;
    cn->podman_size = st.st_size;
    if (!(root = load_json(cn->podman_json)))
        return;
    json_array_foreach(root, i, c)
    {
        const char *id = json_string_value(json_object_get(c, "id"));
        const char *name = json_string_value(json_array_get(json_object_get(c, "names"), 0));

        if (id && name && !htab_get(&cn->index, id, strlen(id), NULL) && remember(cn, id, name))
            break;
    }
    json_decref(root);
}

/* Docker: containers/ID/config.v2.json, {"Name": "/NAME", ...} */
static void read_docker(struct container_names *cn, const char *id)
{
    char path[4096];
    const char *name;
    json_t *root;

    snprintf(path, sizeof(path), "%s/containers/%s/config.v2.json", cn->docker_dir, id);
    root = load_json(path);
    name = root ? json_string_value(json_object_get(root, "Name")) : NULL;
    remember(cn, id, name && *name == '/' ? name + 1 : name);
    json_decref(root);
}

const char *container_name(struct container_names *cn, enum kube_runtime rt, const char *id)
{
    uint64_t idx;

    if (!cn || !id || !*id)
        return NULL;
    if (!htab_get(&cn->index, id, strlen(id), &idx)) {
        if (rt == KUBE_RT_PODMAN)
            read_podman(cn);
        else if (rt == KUBE_RT_DOCKER)
            read_docker(cn, id);
        if (!htab_get(&cn->index, id, strlen(id), &idx))
            return NULL; /* podman's: perhaps not written yet; asked again */
    }
    return idx ? cn->names[idx - 1] : NULL;
}
