#include "stats.h"

#include <string.h>

void stats_init(struct stats *s)
{
    memset(s, 0, sizeof *s);
    hist_init(&s->latency);
}

void stats_merge(struct stats *dst, const struct stats *src)
{
    dst->requests += src->requests;
    dst->bytes_read += src->bytes_read;
    for (int i = 0; i < STATS_ERR_KINDS; i++)
        dst->errors[i] += src->errors[i];
    for (int i = 0; i < STATS_STATUS_MAX; i++)
        dst->status[i] += src->status[i];
    dst->connects += src->connects;
    dst->tls_full += src->tls_full;
    dst->tls_resumed += src->tls_resumed;
    if (src->end_ns > dst->end_ns)
        dst->end_ns = src->end_ns;
    dst->progress += src->progress;
    hist_merge(&dst->latency, &src->latency);
}

uint64_t stats_errors(const struct stats *s)
{
    uint64_t n = 0;
    for (int i = 0; i < STATS_ERR_KINDS; i++)
        n += s->errors[i];
    return n;
}

const char *stats_err_name(enum stats_err e)
{
    static const char *const names[STATS_ERR_KINDS] = {
        "connect", "tls", "read", "write", "timeout", "malformed",
    };
    return (unsigned)e < STATS_ERR_KINDS ? names[e] : "?";
}
