#include "profiler/opts.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <linux/types.h>
#include "bpf/profile.h"

int opt_uint(const char *name, const char *s, unsigned long lo, unsigned long hi, const char *unit,
             unsigned long *out, char *err, size_t errlen)
{
    char *end;
    unsigned long v;

    errno = 0;
    v = strtoul(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-' || v < lo || v > hi) {
        snprintf(err, errlen, "--%s takes %lu to %lu%s%s, not '%s'", name, lo, hi, *unit ? " " : "",
                 unit, s);
        return -EINVAL;
    }
    *out = v;
    return 0;
}

int opt_unwind(const char *s, uint8_t *mode, char *err, size_t errlen)
{
    if (!strcmp(s, "fp"))
        *mode = PF_UNWIND_MODE_OFF;
    else if (!strcmp(s, "dwarf"))
        *mode = PF_UNWIND_MODE_ALL;
    else if (!strcmp(s, "auto"))
        *mode = PF_UNWIND_MODE_AUTO;
    else {
        snprintf(err, errlen, "--unwind %s: use fp, dwarf or auto", s);
        return -EINVAL;
    }
    return 0;
}

int opt_bool(const char *name, const char *s, bool *out, char *err, size_t errlen)
{
    if (!s || !strcmp(s, "1") || !strcasecmp(s, "true") || !strcasecmp(s, "yes") ||
        !strcasecmp(s, "on"))
        *out = true;
    else if (!strcmp(s, "0") || !strcasecmp(s, "false") || !strcasecmp(s, "no") ||
             !strcasecmp(s, "off"))
        *out = false;
    else {
        snprintf(err, errlen, "--%s=%s: give true or false", name, s);
        return -EINVAL;
    }
    return 0;
}

int opt_size(const char *name, const char *s, uint64_t min, uint64_t *out, char *err, size_t errlen)
{
    char *end;
    unsigned long long v;
    uint64_t mul = 1;

    errno = 0;
    v = strtoull(s, &end, 10);
    if (!errno && end != s && s[0] != '-') {
        if (*end == 'K' || *end == 'k')
            mul = 1ULL << 10;
        else if (*end == 'M' || *end == 'm')
            mul = 1ULL << 20;
        else if (*end == 'G' || *end == 'g')
            mul = 1ULL << 30;
        if (mul > 1)
            end++;
        if (*end == 'i' && end[1] == 'B')
            end += 2;
        else if (*end == 'B')
            end++;
        if (!*end && v <= UINT64_MAX / mul && v * mul >= min) {
            *out = v * mul;
            return 0;
        }
    }
    snprintf(err, errlen, "--%s takes bytes (at least %llu), with K, M or G, e.g. 256M; not '%s'",
             name, (unsigned long long)min, s);
    return -EINVAL;
}
