/* body: a request body buffered for the app — in memory up to BODY_MEM_MAX, then in an
 * unlinked temporary file, so a large upload costs disk, not memory. In memory, a small body
 * is one exact allocation; past BODY_SMALL it lives in fixed BODY_CHUNK pieces taken from a
 * process-wide cache, so a busy upload path neither copies on growth nor makes the heap grow
 * and shrink (fresh pages fault in at ~4 KiB each: with a growing buffer, 16 concurrent 1 MiB
 * uploads ran at a third of the speed). */
#ifndef HTTPSD_BODY_H
#define HTTPSD_BODY_H

#include "buf.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

#define BODY_MEM_MAX (1024 * 1024)
#define BODY_SMALL (16 * 1024)
#define BODY_CHUNK (64 * 1024)

struct body {
    struct buf mem; /* the whole body while it is at most BODY_SMALL bytes */
    char *chunk[BODY_MEM_MAX / BODY_CHUNK]; /* then: byte i is in chunk[i / BODY_CHUNK] */
    int fd; /* owned; -1 while the body fits in memory, else holds all of it */
    uint64_t len;
};

static inline void body_init(struct body *b)
{
    memset(b, 0, sizeof *b);
    b->fd = -1;
}
/* The budget of every body together (all threads): bytes in memory, then bytes in temporary
 * files. A body that would take memory past its budget goes to a file at once; one that would
 * take the files past theirs fails with -ENOSPC (the request gets 503). Unlimited until set.
 * Main thread, before serving. */
void body_set_budget(uint64_t mem_max, uint64_t disk_max);
/* Whether a body of len bytes could be held now (a hint for Content-Length: the budget may be
 * spent by others while it arrives). */
bool body_budget_fits(uint64_t len);
/* Bytes currently held by all bodies, in memory and in files. */
void body_usage(uint64_t *mem, uint64_t *disk);
/* Free the cached chunks no body uses (after a burst, and when uploads stop). Any thread. */
void body_release_cache(void);
/* Chunks in the cache now (tests and stats). */
size_t body_cached_chunks(void);
/* Append n bytes (moving everything to a temporary file in $TMPDIR or /tmp once the body
 * outgrows BODY_MEM_MAX or the memory budget). 0 or -errno (-ENOSPC: the disk budget is
 * spent). */
int body_append(struct body *b, const char *data, size_t n) __attribute__((warn_unused_result));
/* Read up to n bytes at off into dst; the count, or -errno. Thread-safe (pread). */
ssize_t body_read(const struct body *b, uint64_t off, char *dst, size_t n);
/* The bytes of a body in memory from off to the end of the piece that holds them: a pointer,
 * their count in *n. NULL (and *n = 0) for a body in a file, or at the end. */
const char *body_peek(const struct body *b, uint64_t off, size_t *n);
/* Release memory and file; b is left empty. Accepts an empty body. */
void body_free(struct body *b);

/* spool: response bytes an app produced ahead of a slow client, in an unlinked temporary file
 * whose size counts against the disk budget (spools together take at most half of it, so
 * uploads keep the rest). One writer appends at a position it chooses, one reader reads below
 * what the writer published; the caller orders the two (the pool's mutex). */
struct spool {
    int fd;        /* -1 until the first write */
    uint64_t size; /* the file's size, as counted in the budget (writer only) */
};

static inline void spool_init(struct spool *s)
{
    s->fd = -1;
    s->size = 0;
}
/* Whether n more bytes could be taken from the budget now (a hint: others may take it first). */
bool spool_budget_fits(uint64_t n);
/* Write n bytes at off (creating the file on first use). With force the budget may be passed
 * (the bytes must go somewhere); else -ENOSPC when it is spent. 0 or -errno. */
int spool_write(struct spool *s, uint64_t off, const char *p, size_t n, bool force)
    __attribute__((warn_unused_result));
/* Empty the file and give its bytes back to the budget (writer, once the reader has all). */
void spool_rewind(struct spool *s);
/* Read n bytes at off (they were written); the count or -errno. */
ssize_t spool_read(const struct spool *s, uint64_t off, char *dst, size_t n);
/* Close the file and give its bytes back. */
void spool_free(struct spool *s);

#endif
