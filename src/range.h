/* range: Range request headers (RFC 9110 §14) and multipart/byteranges framing. Pure. */
#ifndef HTTPSD_RANGE_H
#define HTTPSD_RANGE_H

#include <stddef.h>
#include <stdint.h>

#define RANGE_MAX 16 /* more ranges than this: the whole file is served (200) */
#define RANGE_BOUNDARY_LEN 24

struct byte_range {
    uint64_t first, last; /* inclusive, last < size */
};

enum range_result {
    RANGE_IGNORE,        /* no usable Range (absent, invalid, other unit, too many): send 200 */
    RANGE_OK,            /* *nout ≥ 1 sorted, coalesced, satisfiable ranges: send 206 */
    RANGE_UNSATISFIABLE, /* none satisfiable: send 416 with Content-Range: bytes * / size */
};

/* Parse a Range header value against a representation of size bytes. Overlapping or adjacent
 * ranges are merged and the result sorted, so no byte is ever sent twice. */
enum range_result range_parse(const char *s, size_t n, uint64_t size, struct byte_range *out,
                              size_t *nout);

/* Write the header of one multipart/byteranges part ("\r\n--B\r\nContent-Type: T\r\n
 * Content-Range: bytes a-b/size\r\n\r\n") into out (NUL-terminated); returns its length, or
 * 0 when cap is too small. */
size_t range_part_header(char *out, size_t cap, const char *boundary, const char *type,
                         const struct byte_range *r, uint64_t size);
/* The closing delimiter "\r\n--B--\r\n"; same conventions. */
size_t range_trailer(char *out, size_t cap, const char *boundary);
/* Exact length of the whole multipart body for these ranges. */
uint64_t range_multipart_length(const char *boundary, const char *type, const struct byte_range *r,
                                size_t n, uint64_t size);

#endif
