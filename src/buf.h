/* buf: growable byte buffer (reserve → write → commit → consume) and byte slices. */
#ifndef HTTPSD_BUF_H
#define HTTPSD_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#define WUR __attribute__((warn_unused_result))

/* A borrowed slice of bytes; never NUL-terminated by contract. */
struct span {
    const char *p;
    size_t n;
};

#define SPAN_LIT(s) ((struct span){(s), sizeof(s) - 1})

/* Bytes the writer does not own (an app's bytes object, sent from its own memory): it reads
 * them at p, advancing p and n as they go out, and calls release once it is done with them —
 * all written, or dropped — exactly once, on the loop thread. */
struct buf_ref {
    const char *p;
    size_t n;
    void (*release)(struct buf_ref *r);
};

/* Bytes live at p[off .. len); cap is the allocation size. */
struct buf {
    char *p;
    size_t off, len, cap;
};

static inline size_t buf_size(const struct buf *b)
{
    return b->len - b->off;
}
static inline const char *buf_data(const struct buf *b)
{
    return b->p + b->off;
}

/* Make room for n more bytes; returns a pointer to write them, or NULL on ENOMEM or when the
 * buffer would exceed max bytes (0 = no cap). Compacts consumed space first. */
char *buf_reserve(struct buf *b, size_t n, size_t max) WUR;
/* Empty b and leave room for h bytes in front of what is appended next (for buf_prepend),
 * with capacity for n more after them. 0 or -ENOMEM. */
int buf_headroom(struct buf *b, size_t h, size_t n) WUR;
/* Put n bytes in front of b's bytes, in the room before them; false (b unchanged) when there
 * is not that much. */
static inline bool buf_prepend(struct buf *b, const void *p, size_t n)
{
    if (b->off < n)
        return false;
    b->off -= n;
    if (n)
        memcpy(b->p + b->off, p, n);
    return true;
}
/* Give back unused capacity: move the bytes to the front and fit the allocation to them
 * (a multiple of 4 KiB); free it when empty. */
void buf_shrink(struct buf *b);
/* Account for n bytes written into the space returned by buf_reserve. */
static inline void buf_commit(struct buf *b, size_t n)
{
    b->len += n;
}
/* Append n bytes; 0 or -ENOMEM. */
int buf_append(struct buf *b, const void *data, size_t n) WUR;
/* Append a formatted string; 0 or -ENOMEM. */
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3))) WUR;
/* Drop n bytes from the front; an emptied buffer keeps its memory. */
void buf_consume(struct buf *b, size_t n);
/* Forget the contents, keep the memory. */
static inline void buf_reset(struct buf *b)
{
    b->off = b->len = 0;
}
/* Release the memory; b is left empty and reusable. Accepts an empty buffer. */
void buf_free(struct buf *b);

/* Write v in decimal (up to 20 digits) or lowercase hex (up to 16) at out, no NUL; return the
 * length. For per-request headers: printf's format parsing costs more than the bytes. */
size_t fmt_u64(char *out, unsigned long long v);
size_t fmt_hex(char *out, unsigned long long v);

/* ASCII case-insensitive equality of a span with a lowercase string of n bytes. */
bool span_eq_lower_n(struct span s, const char *lower, size_t n);
/* ... with a NUL-terminated lowercase literal (its length is folded at compile time). */
static inline bool span_eq_lower(struct span s, const char *lower)
{
    return span_eq_lower_n(s, lower, __builtin_strlen(lower));
}
/* Strip leading and trailing spaces and tabs. */
struct span span_trim(struct span s);

#endif
