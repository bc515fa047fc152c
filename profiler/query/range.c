#include "profiler/query/range.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int range_duration(const char *s, int64_t *ns, char *err, size_t errlen)
{
    const char *p = s;
    int64_t total = 0;

    while (*p) {
        char *end;
        double v;
        int64_t unit;

        if (!isdigit((unsigned char)*p))
            goto bad;
        errno = 0;
        v = strtod(p, &end);
        if (errno || end == p)
            goto bad;
        switch (*end) {
        case 's':
            unit = RANGE_NS_PER_S;
            break;
        case 'm':
            unit = 60 * RANGE_NS_PER_S;
            break;
        case 'h':
            unit = RANGE_NS_PER_HOUR;
            break;
        case 'd':
            unit = 24 * RANGE_NS_PER_HOUR;
            break;
        default:
            goto bad;
        }
        if (v * (double)unit > 1e18 - (double)total) /* about 31 years */
            goto bad;
        total += (int64_t)(v * (double)unit);
        p = end + 1;
    }
    if (total <= 0)
        goto bad;
    *ns = total;
    return 0;
bad:
    snprintf(err, errlen,
             "'%s' is no duration: give a number and a unit, s, m, h or d (90s, 10m, "
             "1h30m, 2d)",
             s);
    return -EINVAL;
}

/* n digits at *p, advancing it; -1 when they are not there. */
static int digits(const char **p, int n)
{
    int v = 0;

    for (int i = 0; i < n; i++, (*p)++) {
        if (!isdigit((unsigned char)**p))
            return -1;
        v = v * 10 + (**p - '0');
    }
    return v;
}

/* RFC 3339: YYYY-MM-DD[Tt ]HH:MM[:SS[.frac]](Z|±HH:MM). */
static int rfc3339(const char *s, int64_t *ns)
{
    const char *p = s;
    struct tm tm = {0};
    int64_t frac = 0, off = 0;
    int y, mo, d, h, mi, sec = 0;

    if ((y = digits(&p, 4)) < 0 || *p++ != '-' || (mo = digits(&p, 2)) < 1 || mo > 12 ||
        *p++ != '-' || (d = digits(&p, 2)) < 1 || d > 31 || (*p != 'T' && *p != 't' && *p != ' '))
        return -EINVAL;
    p++;
    if ((h = digits(&p, 2)) < 0 || h > 23 || *p++ != ':' || (mi = digits(&p, 2)) < 0 || mi > 59)
        return -EINVAL;
    if (*p == ':') {
        p++;
        if ((sec = digits(&p, 2)) < 0 || sec > 60)
            return -EINVAL;
        if (*p == '.') {
            int64_t scale = 100000000;

            if (!isdigit((unsigned char)*++p))
                return -EINVAL;
            for (; isdigit((unsigned char)*p); p++, scale /= 10)
                frac += (*p - '0') * scale;
        }
    }
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p++ == '-' ? -1 : 1, oh, om;

        if ((oh = digits(&p, 2)) < 0 || oh > 23 || *p++ != ':' || (om = digits(&p, 2)) < 0 ||
            om > 59)
            return -EINVAL;
        off = sign * ((int64_t)oh * 3600 + (int64_t)om * 60);
    } else {
        return -EINVAL;
    }
    if (*p)
        return -EINVAL;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    *ns = ((int64_t)timegm(&tm) - off) * RANGE_NS_PER_S + frac;
    return 0;
}

int range_instant(const char *s, int64_t now_ns, int64_t *ns, char *err, size_t errlen)
{
    int64_t d;

    if (!strcmp(s, "now")) {
        *ns = now_ns;
        return 0;
    }
    if (*s == '-') {
        if (range_duration(s + 1, &d, err, errlen))
            return -EINVAL;
        *ns = now_ns - d;
        return 0;
    }
    if (rfc3339(s, ns)) {
        snprintf(err, errlen,
                 "'%s' is no time: give RFC 3339 (2026-11-28T10:00Z, "
                 "2026-11-28T10:00:00+01:00), 'now' or -DURATION (-2h)",
                 s);
        return -EINVAL;
    }
    return 0;
}

int range_span(const char *s, int64_t now_ns, int64_t *from_ns, int64_t *until_ns, char *err,
               size_t errlen)
{
    const char *dots = strstr(s, "..");
    char first[128];

    if (!dots || (size_t)(dots - s) >= sizeof(first)) {
        snprintf(err, errlen,
                 "'%s' is no range: give FROM..UNTIL (-25h..-24h, "
                 "2026-11-28T10:00Z..2026-11-28T11:00Z)",
                 s);
        return -EINVAL;
    }
    snprintf(first, sizeof(first), "%.*s", (int)(dots - s), s);
    if (range_instant(first, now_ns, from_ns, err, errlen) ||
        range_instant(dots + 2, now_ns, until_ns, err, errlen))
        return -EINVAL;
    if (*from_ns >= *until_ns) {
        snprintf(err, errlen, "'%s': the range ends before it starts", s);
        return -EINVAL;
    }
    return 0;
}

void range_format(int64_t t_ns, char *out, size_t len)
{
    time_t t = (time_t)(t_ns / RANGE_NS_PER_S - (t_ns % RANGE_NS_PER_S < 0));
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}
