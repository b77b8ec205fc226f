/* body: a request body buffered for the app — in memory up to BODY_MEM_MAX, then in an
 * unlinked temporary file, so a large upload costs disk, not memory. */
#ifndef HTTPSD_BODY_H
#define HTTPSD_BODY_H

#include "buf.h"

#include <stdint.h>
#include <sys/types.h>

#define BODY_MEM_MAX (1024 * 1024)

struct body {
    struct buf mem; /* the whole body while it is small */
    int fd;         /* owned; -1 while the body fits in memory, else holds all of it */
    uint64_t len;
};

static inline void body_init(struct body *b)
{
    b->mem = (struct buf){0};
    b->fd = -1;
    b->len = 0;
}
/* Append n bytes (moving everything to a temporary file in $TMPDIR or /tmp once the body
 * outgrows BODY_MEM_MAX). 0 or -errno. */
int body_append(struct body *b, const char *data, size_t n) __attribute__((warn_unused_result));
/* Read up to n bytes at off into dst; the count, or -errno. Thread-safe (pread). */
ssize_t body_read(const struct body *b, uint64_t off, char *dst, size_t n);
/* Release memory and file; b is left empty. Accepts an empty body. */
void body_free(struct body *b);

#endif
