/* resp: a strict, incremental HTTP/1.x response parser that never copies or allocates.
 *
 * The caller owns the bytes and feeds them as they arrive. A response head is parsed only once
 * it is whole (up to the blank line) in one contiguous slice, so the caller keeps an incomplete
 * head in its read buffer and feeds it again with more bytes appended; bodies are skipped as
 * they stream (Content-Length, chunked with trailers, or delimited by the connection closing).
 * 1xx interim responses are skipped; the status reported is the final one. Anything that is not
 * valid HTTP/1.1 (RFC 9112) is RESP_ERR_MALFORMED: a bad status line, CR without LF, obs-fold,
 * control characters, a bad or duplicate-differing Content-Length, Content-Length together with
 * Transfer-Encoding, a bad chunk size, a 101 we did not ask for, a head over RESP_MAX_HEAD. */
#ifndef HTTPSD_LOAD_RESP_H
#define HTTPSD_LOAD_RESP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RESP_MAX_HEAD (64 * 1024)

enum resp_result {
    RESP_ERR_MALFORMED = -1,
    RESP_MORE = 0, /* every byte given was used (or the head is incomplete): feed more */
    RESP_DONE = 1, /* one response is complete; bytes after *used belong to the next one */
};

struct resp {
    int state;
    int status;        /* final status code, valid once the head is parsed */
    bool head_request; /* the request was HEAD: no body whatever the headers say */
    bool keep_alive;   /* the connection may carry another request after this response */
    bool chunked;
    bool until_close; /* body delimited by the connection closing */
    uint64_t left;    /* bytes of body (or of the current chunk) still to come */
    size_t scanned;   /* head bytes already searched for the blank line */
    unsigned hex;     /* digits of the current chunk size */
    bool started;     /* some byte of this response has been seen */
};

/* Start parsing the response to one request; head_request for HEAD. */
void resp_init(struct resp *r, bool head_request);
/* Feed n bytes at p. Returns RESP_DONE (*used = bytes belonging to this response), RESP_MORE
 * (*used = bytes consumed: all of them, or 0 while the head is incomplete — then feed them
 * again with more appended), or RESP_ERR_MALFORMED. */
int resp_feed(struct resp *r, const char *p, size_t n, size_t *used);
/* The peer closed the connection: RESP_DONE when that ends a close-delimited body, otherwise
 * RESP_ERR_MALFORMED (a truncated response; the caller may count it as a read error when no
 * byte of it had arrived). */
int resp_eof(const struct resp *r);
/* Some bytes of this response have been consumed (so a close now truncates a response rather
 * than ending an idle connection). */
bool resp_started(const struct resp *r);

#endif
