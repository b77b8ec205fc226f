/* chunked: the chunked transfer coding of a request body (RFC 9112 §7.1), decoded strictly and
 * incrementally: sizes in hex with a limit, chunk extensions with their optional whitespace
 * (token or quoted-string values, ignored), CRLF and nothing else as line end, trailer fields
 * checked and dropped. Pure: no allocation, no I/O; unit-tested and fuzzed.
 *
 *   chunked-body   = *chunk last-chunk trailer-section CRLF
 *   chunk          = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
 *   chunk-ext      = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
 *   trailer-section = *( field-line CRLF )
 */
#ifndef HTTPSD_CHUNKED_H
#define HTTPSD_CHUNKED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct chunked {
    uint64_t max_body;   /* 413 past this many data bytes in all */
    uint32_t max_line;   /* a chunk-size line or a trailer line longer than this: 400 / 431 */
    uint32_t max_fields; /* more trailer fields than this: 431 */
    uint64_t body;       /* data bytes so far */
    uint64_t left;       /* of the current chunk */
    uint32_t line;       /* bytes of the current size or trailer line */
    uint32_t fields;     /* trailer fields so far */
    uint8_t state;
    uint8_t name_len; /* of the trailer field name, as far as name holds it */
    char name[18];    /* its first bytes, lowercase: framing fields are refused */
};

/* Start decoding a body with these limits. */
void chunked_init(struct chunked *ck, uint64_t max_body, uint32_t max_line, uint32_t max_fields);

enum {
    CHUNKED_MORE = 0, /* everything given was consumed; more input is needed */
    CHUNKED_DATA = 1, /* *data / *len: body bytes inside the input (consumed up to their end) */
    CHUNKED_DONE = 2, /* the body ended: *used bytes of the input were its last */
};

/* Decode from p[0..n): returns CHUNKED_MORE, CHUNKED_DATA or CHUNKED_DONE with *used set to the
 * bytes consumed, or -status (-400 malformed, -413 over max_body, -431 trailers too large)
 * after which ck is dead. Call again with the rest of the input after CHUNKED_DATA. */
int chunked_parse(struct chunked *ck, const char *p, size_t n, size_t *used, const char **data,
                  size_t *len) __attribute__((warn_unused_result));

#endif
