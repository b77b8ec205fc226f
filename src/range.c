#include "range.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

/* Saturating decimal parse of s[*i..]; false when there is no digit. */
static bool parse_u64(const char *s, size_t n, size_t *i, uint64_t *out)
{
    size_t start = *i;
    uint64_t v = 0;
    while (*i < n && s[*i] >= '0' && s[*i] <= '9') {
        unsigned d = (unsigned)(s[*i] - '0');
        v = v > (UINT64_MAX - d) / 10 ? UINT64_MAX : v * 10 + d;
        (*i)++;
    }
    *out = v;
    return *i > start;
}

static void skip_ows(const char *s, size_t n, size_t *i)
{
    while (*i < n && (s[*i] == ' ' || s[*i] == '\t'))
        (*i)++;
}

static int by_first(const void *a, const void *b)
{
    const struct byte_range *x = a, *y = b;
    return x->first < y->first ? -1 : x->first > y->first;
}

enum range_result range_parse(const char *s, size_t n, uint64_t size, struct byte_range *out,
                              size_t *nout)
{
    static const char unit[] = "bytes=";
    size_t i = 0;
    for (; i < sizeof unit - 1; i++) {
        if (i >= n)
            return RANGE_IGNORE;
        char c = s[i] >= 'A' && s[i] <= 'Z' ? (char)(s[i] + 32) : s[i];
        if (c != unit[i])
            return RANGE_IGNORE;
    }
    size_t specs = 0, count = 0;
    for (;;) {
        skip_ows(s, n, &i);
        if (i < n && s[i] == ',') { /* empty list elements are allowed (RFC 9110 §5.6.1) */
            i++;
            continue;
        }
        if (i >= n)
            break;
        uint64_t first, last = UINT64_MAX;
        bool suffix = false;
        if (s[i] == '-') {
            i++;
            suffix = true;
            if (!parse_u64(s, n, &i, &last))
                return RANGE_IGNORE;
        } else {
            if (!parse_u64(s, n, &i, &first) || i >= n || s[i] != '-')
                return RANGE_IGNORE;
            i++;
            if (i < n && s[i] >= '0' && s[i] <= '9') {
                parse_u64(s, n, &i, &last);
                if (last < first)
                    return RANGE_IGNORE; /* invalid range-spec: the whole header is ignored */
            }
        }
        skip_ows(s, n, &i);
        if (i < n && s[i] != ',')
            return RANGE_IGNORE;
        if (++specs > RANGE_MAX)
            return RANGE_IGNORE;
        if (suffix) {
            if (last == 0 || size == 0)
                continue; /* unsatisfiable */
            first = last >= size ? 0 : size - last;
            last = size - 1;
        } else {
            if (first >= size)
                continue;
            if (last >= size)
                last = size - 1;
        }
        out[count].first = first;
        out[count].last = last;
        count++;
    }
    if (specs == 0)
        return RANGE_IGNORE;
    if (count == 0)
        return RANGE_UNSATISFIABLE;
    qsort(out, count, sizeof *out, by_first);
    size_t k = 0;
    for (size_t j = 1; j < count; j++) {
        if (out[j].first <= out[k].last + 1) { /* overlapping or adjacent: merge */
            if (out[j].last > out[k].last)
                out[k].last = out[j].last;
        } else {
            out[++k] = out[j];
        }
    }
    *nout = k + 1;
    return RANGE_OK;
}

size_t range_part_header(char *out, size_t cap, const char *boundary, const char *type,
                         const struct byte_range *r, uint64_t size)
{
    int len = snprintf(
        out, cap, "\r\n--%s\r\nContent-Type: %s\r\nContent-Range: bytes %llu-%llu/%llu\r\n\r\n",
        boundary, type, (unsigned long long)r->first, (unsigned long long)r->last,
        (unsigned long long)size);
    return len < 0 || (size_t)len >= cap ? 0 : (size_t)len;
}

size_t range_trailer(char *out, size_t cap, const char *boundary)
{
    int len = snprintf(out, cap, "\r\n--%s--\r\n", boundary);
    return len < 0 || (size_t)len >= cap ? 0 : (size_t)len;
}

uint64_t range_multipart_length(const char *boundary, const char *type, const struct byte_range *r,
                                size_t n, uint64_t size)
{
    char tmp[512];
    uint64_t total = range_trailer(tmp, sizeof tmp, boundary);
    for (size_t i = 0; i < n; i++)
        total += range_part_header(tmp, sizeof tmp, boundary, type, &r[i], size) +
                 (r[i].last - r[i].first + 1);
    return total;
}
