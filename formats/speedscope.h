/*
 * speedscope: writes the model in speedscope's documented JSON file format
 * (https://www.speedscope.app/file-format-schema.json), one "sampled"
 * profile per group of samples (per process by default).
 */
#ifndef PODFLAME_SPEEDSCOPE_H
#define PODFLAME_SPEEDSCOPE_H

#include <stdio.h>

#include "formats/folded.h"
#include "formats/profile.h"

struct speedscope_opts {
    enum pf_group_by group_by; /* NONE: a single profile */
    const char *name;          /* document name; NULL: "podflame profile" */
    const char *exporter;      /* e.g. "podflame 0.1.0" */
    const char *sample_type;   /* the value to weigh samples by; NULL: pprof's
                                * default (default_sample_type, else the last) */
};

/* Returns 0, -ENOMEM or -EIO. */
int speedscope_write(const struct pf_profile *p, FILE *out, const struct speedscope_opts *opts);

#endif
