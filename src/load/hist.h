/* hist: a log-linear latency histogram (HDR-style) in nanoseconds.
 *
 * Values below 256 ns have a bucket each; above, every power of two [2^k, 2^(k+1)) is split
 * into HIST_SUB linear buckets, so a bucket is at most 1/128 of its lower bound wide: reporting
 * a bucket's highest value overstates by less than 0.8 % from 1 µs to 2^36 ns (68.7 s). Larger
 * values land in the last bucket (the exact maximum is kept apart). Mean and standard
 * deviation come from exact integer sums, so merging two histograms (adding every field) gives
 * exactly the histogram of all values. Plain data: no pointers, safe to share between
 * processes and to copy with memcpy. Not thread-safe. */
#ifndef HTTPSD_LOAD_HIST_H
#define HTTPSD_LOAD_HIST_H

#include <stdint.h>

#define HIST_LINEAR 256 /* values 0..255 ns: one bucket each */
#define HIST_SUB 128    /* linear buckets per power of two above */
#define HIST_MAX_BITS 36
#define HIST_BUCKETS (HIST_LINEAR + (HIST_MAX_BITS - 8) * HIST_SUB)

struct hist {
    uint64_t count;
    uint64_t min, max;        /* exact, ns; min is UINT64_MAX while empty */
    uint64_t sum;             /* ns: overflows only after 584 years of summed latency */
    unsigned __int128 sum_sq; /* ns², exact */
    uint64_t buckets[HIST_BUCKETS];
};

void hist_init(struct hist *h);
/* Record one value in ns. */
void hist_add(struct hist *h, uint64_t ns);
/* Add every count of src into dst (exact). */
void hist_merge(struct hist *dst, const struct hist *src);
/* Mean and population standard deviation in ns; 0 for an empty histogram. */
double hist_mean(const struct hist *h);
double hist_stdev(const struct hist *h);
/* The value at percentile q (0..100] in ns: the highest value of the bucket holding the
 * ceil(q/100 * count)-th smallest value, clamped to [min, max]. 0 when empty. */
uint64_t hist_percentile(const struct hist *h, double q);
/* Bucket index of a value, and the lowest and highest values of a bucket (for the tests). */
unsigned hist_index(uint64_t ns);
uint64_t hist_bucket_low(unsigned idx);
uint64_t hist_bucket_high(unsigned idx);

#endif
