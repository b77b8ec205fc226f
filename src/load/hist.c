#include "hist.h"

#include <math.h>
#include <string.h>

void hist_init(struct hist *h)
{
    memset(h, 0, sizeof *h);
    h->min = UINT64_MAX;
}

unsigned hist_index(uint64_t ns)
{
    if (ns < HIST_LINEAR)
        return (unsigned)ns;
    unsigned k = 63u - (unsigned)__builtin_clzll(ns); /* 2^k <= ns < 2^(k+1), k >= 8 */
    if (k >= HIST_MAX_BITS)
        return HIST_BUCKETS - 1;
    /* the 7 bits below the leading one choose the linear sub-bucket */
    unsigned sub = (unsigned)(ns >> (k - 7)) & (HIST_SUB - 1);
    return HIST_LINEAR + (k - 8) * HIST_SUB + sub;
}

uint64_t hist_bucket_low(unsigned idx)
{
    if (idx < HIST_LINEAR)
        return idx;
    unsigned k = 8 + (idx - HIST_LINEAR) / HIST_SUB, sub = (idx - HIST_LINEAR) % HIST_SUB;
    return (uint64_t)(HIST_SUB + sub) << (k - 7);
}

uint64_t hist_bucket_high(unsigned idx)
{
    if (idx < HIST_LINEAR)
        return idx;
    unsigned k = 8 + (idx - HIST_LINEAR) / HIST_SUB;
    return hist_bucket_low(idx) + ((uint64_t)1 << (k - 7)) - 1;
}

void hist_add(struct hist *h, uint64_t ns)
{
    h->count++;
    h->sum += ns;
    h->sum_sq += (unsigned __int128)ns * ns;
    if (ns < h->min)
        h->min = ns;
    if (ns > h->max)
        h->max = ns;
    h->buckets[hist_index(ns)]++;
}

void hist_merge(struct hist *dst, const struct hist *src)
{
    if (!src->count)
        return;
    dst->count += src->count;
    dst->sum += src->sum;
    dst->sum_sq += src->sum_sq;
    if (src->min < dst->min)
        dst->min = src->min;
    if (src->max > dst->max)
        dst->max = src->max;
    for (unsigned i = 0; i < HIST_BUCKETS; i++)
        dst->buckets[i] += src->buckets[i];
}

double hist_mean(const struct hist *h)
{
    return h->count ? (double)h->sum / (double)h->count : 0.0;
}

double hist_stdev(const struct hist *h)
{
    if (h->count < 2)
        return 0.0;
    /* n·Σx² − (Σx)² is computed in 128-bit integers: exact, no cancellation. It fits while
     * n·Σx² < 2^128, i.e. for any realistic run (10^10 values of a minute each). */
    unsigned __int128 n = h->count, s = h->sum;
    unsigned __int128 num = n * h->sum_sq - s * s;
    double var = (double)num / ((double)h->count * (double)h->count);
    return sqrt(var);
}

uint64_t hist_percentile(const struct hist *h, double q)
{
    if (!h->count)
        return 0;
    if (q >= 100.0)
        return h->max;
    double r = ceil(q / 100.0 * (double)h->count);
    uint64_t rank = r < 1.0 ? 1 : (uint64_t)r;
    uint64_t seen = 0;
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        seen += h->buckets[i];
        if (seen >= rank) {
            uint64_t v = hist_bucket_high(i);
            if (v > h->max)
                v = h->max;
            if (v < h->min)
                v = h->min;
            return v;
        }
    }
    return h->max;
}
