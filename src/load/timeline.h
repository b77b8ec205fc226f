/* timeline: per-second counts of a run, so that a reload or a worker crash under load shows as
 * a dip.
 *
 * Bucket t counts the responses completed and the requests failed (per kind) in
 * [t0 + t s, t0 + (t + 1) s) of the worker's CLOCK_MONOTONIC, t0 being the run's common start.
 * Completion time is what counts, also with --rate (whose latency runs from the intended send
 * time). Failures before t0 (a refused connect while connecting ahead of the start) count in
 * bucket 0, and everything at or past the last bucket folds into it: an array has at most
 * TIMELINE_MAX buckets (an hour), so a longer run ends with one bucket holding its tail.
 *
 * Each worker process counts into its own array in the mapping shared with the parent (one
 * increment per response, through a cursor that finds the current bucket again only when a
 * second has passed); the parent adds the arrays after the workers have exited, so the sums
 * are exact. Plain data: no pointers in the arrays, no atomics (nobody reads them while a
 * worker runs). */
#ifndef HTTPSD_LOAD_TIMELINE_H
#define HTTPSD_LOAD_TIMELINE_H

#include <stdbool.h>
#include <stdint.h>

#include "stats.h"

#define TIMELINE_NS 1000000000ull /* one bucket: a second */
#define TIMELINE_MAX 3600u        /* buckets at most; later completions fold into the last */

struct timeline_bucket {
    uint64_t requests; /* responses completed (any status) */
    uint64_t errors[STATS_ERR_KINDS];
};

/* Buckets to give each worker: for a run with a duration, enough to hold everything until the
 * worker's hard stop (duration + timeout + 100 ms) without folding; for a -n run (duration 0),
 * TIMELINE_MAX. Never more than TIMELINE_MAX, never 0. */
unsigned timeline_len(uint64_t duration_ns, uint64_t timeout_ns);
/* The bucket of a completion at now (monotonic ns) in an array of len >= 1 buckets:
 * (now - t0) / 1 s, 0 before t0, len - 1 at or past the end. */
unsigned timeline_index(uint64_t t0, uint64_t now, unsigned len);
/* Add src[0..src_n) into dst[0..dst_n) exactly; the buckets of src past dst's last one fold
 * into dst[dst_n - 1] (dst_n >= 1). Used by the parent, once per worker. */
void timeline_merge(struct timeline_bucket *dst, unsigned dst_n, const struct timeline_bucket *src,
                    unsigned src_n);
/* Errors of every kind in a bucket. */
uint64_t timeline_errors(const struct timeline_bucket *b);
/* For the report of a run that lasted elapsed ns, merged into n buckets (n - 1 being the
 * bucket of the last completion): how long bucket i covers in ns — a second, except the last
 * one, which is the partial second at the end (0 up to 1 s), or, folded, all the rest of a run
 * longer than the cap — and whether it is folded. */
uint64_t timeline_span_ns(uint64_t elapsed_ns, unsigned n, unsigned i);
bool timeline_is_folded(uint64_t elapsed_ns, unsigned n, unsigned i);

/* A worker's writing cursor over its array: the current bucket and the span of time it covers
 * (the first also covers the time before t0, the last everything after it). */
struct timeline {
    struct timeline_bucket *b; /* [len], in the shared mapping (borrowed) */
    unsigned len;
    uint64_t t0;
    uint64_t lo, hi; /* cur covers [lo, hi) */
    struct timeline_bucket *cur;
};

/* Start a cursor over b[0..len) (len >= 1, zeroed by the caller). */
void timeline_init(struct timeline *t, struct timeline_bucket *b, unsigned len, uint64_t t0);
/* Point cur at the bucket of now. */
void timeline_seek(struct timeline *t, uint64_t now);

/* The bucket to count a completion at now into: two comparisons, unless a second has passed
 * (or now went back). Not thread-safe: one cursor per worker. */
static inline struct timeline_bucket *timeline_at(struct timeline *t, uint64_t now)
{
    if (now < t->lo || now >= t->hi)
        timeline_seek(t, now);
    return t->cur;
}

#endif
