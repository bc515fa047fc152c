/*
 * range: the times a query selects, from what people type: durations
 * ("90s", "10m", "1h30m", "2d"), instants (RFC 3339, "2026-11-28T10:00Z",
 * "2026-11-28T10:00:00.5+01:00"; relative to now, "-25h"; "now") and spans
 * of two instants ("-25h..-24h"). Times are nanoseconds since the epoch.
 */
#ifndef PODFLAME_QUERY_RANGE_H
#define PODFLAME_QUERY_RANGE_H

#include <stddef.h>
#include <stdint.h>

#define RANGE_NS_PER_S    1000000000LL
#define RANGE_NS_PER_HOUR (3600 * RANGE_NS_PER_S)

/* A positive duration: numbers with units s, m, h, d, in any order
 * ("1h30m"). Returns 0 or -EINVAL with the reason in err. */
int range_duration(const char *s, int64_t *ns, char *err, size_t errlen);

/* An instant: RFC 3339 (a date and a time, seconds and a fraction
 * optional, Z or an offset), "now", or "-DURATION" before now. Returns 0
 * or -EINVAL with the reason in err. */
int range_instant(const char *s, int64_t now_ns, int64_t *ns, char *err, size_t errlen);

/* "A..B": two instants, A before B. Returns 0 or -EINVAL. */
int range_span(const char *s, int64_t now_ns, int64_t *from_ns, int64_t *until_ns, char *err,
               size_t errlen);

/* "2026-11-28T10:00:00Z" of t (UTC, seconds). */
void range_format(int64_t t_ns, char *out, size_t len);

#endif
