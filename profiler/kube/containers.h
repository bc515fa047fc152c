/*
 * containers: the names that container runtimes outside Kubernetes give
 * their containers, read from the runtimes' own state on the node: podman's
 * storage (containers.json) and Docker's (containers/ID/config.v2.json).
 * Both are root's files on the host. An instance owns what it read; a name
 * is looked up when an id is first asked for and kept, and podman's file
 * is read again when it changed (a container started since).
 */
#ifndef PODFLAME_CONTAINERS_H
#define PODFLAME_CONTAINERS_H

#include "profiler/kube/kube.h"

struct container_names;

/* podman_json: podman's containers.json (NULL: the rootful default);
 * docker_dir: Docker's data root (NULL: /var/lib/docker); both copied.
 * Returns 0 or -ENOMEM, the only failure (the files are read later, and an
 * unreadable one names nothing). */
int container_names_new(const char *podman_json, const char *docker_dir,
                        struct container_names **out);
/* Frees cn (NULL: nothing). */
void container_names_free(struct container_names *cn);

/* The name runtime rt gave container id (hex), or NULL when its state does
 * not say. Valid until container_names_free. */
const char *container_name(struct container_names *cn, enum kube_runtime rt, const char *id);

#endif
