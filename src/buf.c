#include "buf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

char *buf_reserve(struct buf *b, size_t n, size_t max)
{
    size_t used = b->len - b->off;
    if (max && (used > max || n > max - used))
        return NULL;
    if (b->p && b->cap - b->len >= n)
        return b->p + b->len;
    if (b->off) { /* compact before growing */
        memmove(b->p, b->p + b->off, used);
        b->off = 0;
        b->len = used;
        if (b->cap - b->len >= n)
            return b->p + b->len;
    }
    size_t cap = b->cap ? b->cap : 256;
    while (cap - used < n) {
        if (cap > SIZE_MAX / 2)
            return NULL;
        cap *= 2;
    }
    if (max && cap > max)
        cap = max;
    char *p = realloc(b->p, cap);
    if (!p)
        return NULL;
    b->p = p;
    b->cap = cap;
    return b->p + b->len;
}

int buf_headroom(struct buf *b, size_t h, size_t n)
{
    b->off = b->len = 0;
    if (!buf_reserve(b, h + n, 0))
        return -ENOMEM;
    b->off = b->len = h;
    return 0;
}

int buf_append(struct buf *b, const void *data, size_t n)
{
    char *w = buf_reserve(b, n, 0);
    if (!w)
        return -ENOMEM;
    if (n)
        memcpy(w, data, n);
    b->len += n;
    return 0;
}

int buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    size_t room = b->cap - b->len;
    va_start(ap, fmt);
    int n = vsnprintf(b->p ? b->p + b->len : NULL, room, fmt, ap);
    va_end(ap);
    if (n < 0)
        return -EINVAL;
    if ((size_t)n < room) {
        b->len += (size_t)n;
        return 0;
    }
    char *w = buf_reserve(b, (size_t)n + 1, 0);
    if (!w)
        return -ENOMEM;
    va_start(ap, fmt);
    vsnprintf(w, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

size_t fmt_u64(char *out, unsigned long long v)
{
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    return n;
}

size_t fmt_hex(char *out, unsigned long long v)
{
    char tmp[16];
    size_t n = 0;
    do {
        tmp[n++] = "0123456789abcdef"[v & 15];
        v >>= 4;
    } while (v);
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    return n;
}

void buf_consume(struct buf *b, size_t n)
{
    b->off += n;
    if (b->off >= b->len)
        b->off = b->len = 0;
}

void buf_free(struct buf *b)
{
    free(b->p);
    b->p = NULL;
    b->off = b->len = b->cap = 0;
}

bool span_eq_lower_n(struct span s, const char *lower, size_t n)
{
    if (s.n != n)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s.p[i];
        if (c >= 'A' && c <= 'Z')
            c = (unsigned char)(c + 32);
        if (c != (unsigned char)lower[i])
            return false;
    }
    return true;
}

struct span span_trim(struct span s)
{
    while (s.n && (s.p[0] == ' ' || s.p[0] == '\t')) {
        s.p++;
        s.n--;
    }
    while (s.n && (s.p[s.n - 1] == ' ' || s.p[s.n - 1] == '\t'))
        s.n--;
    return s;
}

void buf_shrink(struct buf *b)
{
    size_t used = b->len - b->off;
    if (used == 0) {
        buf_free(b);
        return;
    }
    if (b->off) {
        memmove(b->p, b->p + b->off, used);
        b->off = 0;
        b->len = used;
    }
    size_t cap = (used + 4095) & ~(size_t)4095;
    if (cap >= b->cap)
        return;
    char *p = realloc(b->p, cap);
    if (p) {
        b->p = p;
        b->cap = cap;
    }
}
