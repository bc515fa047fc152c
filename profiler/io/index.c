#include "profiler/io/index.h"

#include <stdlib.h>

json_t *index_pods(const struct pf_profile *p)
{
    struct pf_pod *pods = NULL;
    size_t npods = 0;
    json_t *jp = json_array();

    if (!jp || pf_profile_pods(p, &pods, &npods)) {
        json_decref(jp);
        return NULL;
    }
    for (size_t i = 0; i < npods; i++) {
        json_t *o = json_pack("{s:s, s:s, s:I}", "namespace", pods[i].ns, "pod", pods[i].pod,
                              "samples", (json_int_t)pods[i].samples);

        if (o && pods[i].uid)
            json_object_set_new(o, "uid", json_string(pods[i].uid));
        if (o && pods[i].workload)
            json_object_set_new(o, "workload", json_string(pods[i].workload));
        if (!o || json_array_append_new(jp, o)) {
            json_decref(jp);
            jp = NULL;
            break;
        }
    }
    free(pods);
    return jp;
}
