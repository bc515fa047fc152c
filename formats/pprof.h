/*
 * pprof: the model to and from profile.proto (github.com/google/pprof),
 * written gzipped as every pprof reader expects; read gzipped or raw.
 * Hand-written protobuf: the format is small and stable, and this keeps
 * formats/ free of generated code and of a protobuf runtime.
 */
#ifndef PODFLAME_PPROF_H
#define PODFLAME_PPROF_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "formats/profile.h"

/* Largest profile accepted, compressed or not (a guard against gzip bombs). */
#define PPROF_MAX_BYTES ((size_t)1 << 30)

/* Encodes p as raw protobuf into a new buffer. Returns 0 or -ENOMEM. */
int pprof_encode(const struct pf_profile *p, uint8_t **out, size_t *len);

/* Writes p gzipped. Returns 0, -ENOMEM or -EIO. */
int pprof_write(const struct pf_profile *p, FILE *out);

/* p gzipped in a new buffer (*buf, malloc'd). Returns 0 or a negative
 * errno. */
int pprof_write_buffer(const struct pf_profile *p, char **buf, size_t *len);

/* Decodes a gzipped or raw profile into p, which must be fresh from
 * pf_profile_new. Returns 0, -ENOMEM, or -EINVAL with the reason in err
 * (truncated gzip, bad varint, an index or id out of range, ...). */
int pprof_decode(struct pf_profile *p, const uint8_t *data, size_t len, char *err, size_t errlen);

/* Reads a whole stream and decodes it; -EIO when the stream fails. */
int pprof_read(struct pf_profile *p, FILE *in, char *err, size_t errlen);

#endif
