#include "timeline.h"

/* Past the duration the worker still awaits requests in flight for up to the timeout, and stops
 * hard 100 ms later: one second more than the rounded-up sum covers that. */
unsigned timeline_len(uint64_t duration_ns, uint64_t timeout_ns)
{
    if (!duration_ns)
        return TIMELINE_MAX;
    /* both are below 1e18 (lcfg_parse_duration): no overflow */
    uint64_t n = (duration_ns + timeout_ns + TIMELINE_NS - 1) / TIMELINE_NS + 1;
    return n < TIMELINE_MAX ? (unsigned)n : TIMELINE_MAX;
}

unsigned timeline_index(uint64_t t0, uint64_t now, unsigned len)
{
    if (now < t0)
        return 0;
    uint64_t i = (now - t0) / TIMELINE_NS;
    return i < len ? (unsigned)i : len - 1;
}

void timeline_merge(struct timeline_bucket *dst, unsigned dst_n, const struct timeline_bucket *src,
                    unsigned src_n)
{
    for (unsigned i = 0; i < src_n; i++) {
        struct timeline_bucket *d = &dst[i < dst_n ? i : dst_n - 1];
        d->requests += src[i].requests;
        for (int k = 0; k < STATS_ERR_KINDS; k++)
            d->errors[k] += src[i].errors[k];
    }
}

uint64_t timeline_errors(const struct timeline_bucket *b)
{
    uint64_t n = 0;
    for (int k = 0; k < STATS_ERR_KINDS; k++)
        n += b->errors[k];
    return n;
}

uint64_t timeline_span_ns(uint64_t elapsed_ns, unsigned n, unsigned i)
{
    if (i + 1 < n)
        return TIMELINE_NS;
    uint64_t from = (uint64_t)i * TIMELINE_NS;
    return elapsed_ns > from ? elapsed_ns - from : 0;
}

bool timeline_is_folded(uint64_t elapsed_ns, unsigned n, unsigned i)
{
    return i + 1 == n && elapsed_ns / TIMELINE_NS > i;
}

void timeline_init(struct timeline *t, struct timeline_bucket *b, unsigned len, uint64_t t0)
{
    t->b = b;
    t->len = len;
    t->t0 = t0;
    t->cur = &b[0];
    t->lo = t->hi = 0; /* empty: the first timeline_at seeks */
}

void timeline_seek(struct timeline *t, uint64_t now)
{
    unsigned i = timeline_index(t->t0, now, t->len);
    t->cur = &t->b[i];
    t->lo = i ? t->t0 + (uint64_t)i * TIMELINE_NS : 0;
    t->hi = i + 1 < t->len ? t->t0 + (uint64_t)(i + 1) * TIMELINE_NS : UINT64_MAX;
}
