/* Unit tests for src/load/timeline.c: array sizes, bucket index and its boundaries, folding at
 * the cap, the worker's cursor (same bucket as the index, whatever the order of the times) and
 * the parent's exact merge of several workers' arrays. */
#include "harness.h"
#include "timeline.h"

#define S TIMELINE_NS
#define T0 (1000 * S + 123456789ull) /* a monotonic start that is not on a second */

static void test_len(void)
{
    /* -n runs (no duration): the cap */
    CHECK_EQ_INT(timeline_len(0, 5 * S), TIMELINE_MAX);
    /* -d 10s --timeout 5s: the worker stops at 15.1 s at the latest, in bucket 15 of 16 */
    CHECK_EQ_INT(timeline_len(10 * S, 5 * S), 16);
    CHECK_EQ_INT(timeline_len(10 * S + 1, 5 * S), 17);
    CHECK_EQ_INT(timeline_len(S / 2, S / 1000), 2);
    /* every run with a duration reaches its hard stop (duration + timeout + 100 ms) with at
     * least 0.9 s to spare before the end of its last bucket: nothing folds */
    for (uint64_t d = S / 10; d < 20 * S; d += S / 7)
        for (uint64_t t = S / 1000; t < 8 * S; t += S / 3) {
            unsigned n = timeline_len(d, t);
            CHECK(d + t + S / 10 + 9 * S / 10 <= (uint64_t)n * S);
        }
    /* long runs are capped */
    CHECK_EQ_INT(timeline_len(3 * 3600 * S, 5 * S), TIMELINE_MAX);
    CHECK_EQ_INT(timeline_len(1000000000000000000ull, 1000000000000000000ull), TIMELINE_MAX);
}

static void test_index(void)
{
    CHECK_EQ_INT(timeline_index(T0, T0, 10), 0);
    CHECK_EQ_INT(timeline_index(T0, T0 + S - 1, 10), 0);
    CHECK_EQ_INT(timeline_index(T0, T0 + S, 10), 1); /* a bucket is [t, t + 1 s) */
    CHECK_EQ_INT(timeline_index(T0, T0 + 7 * S + S / 2, 10), 7);
    CHECK_EQ_INT(timeline_index(T0, T0 + 9 * S + S - 1, 10), 9);
    /* before the start: bucket 0 (a connect refused while connecting ahead of t0) */
    CHECK_EQ_INT(timeline_index(T0, T0 - 1, 10), 0);
    CHECK_EQ_INT(timeline_index(T0, 0, 10), 0);
    /* at or past the end: folded into the last */
    CHECK_EQ_INT(timeline_index(T0, T0 + 10 * S, 10), 9);
    CHECK_EQ_INT(timeline_index(T0, T0 + 5000 * S, 10), 9);
    CHECK_EQ_INT(timeline_index(T0, UINT64_MAX, 10), 9);
    CHECK_EQ_INT(timeline_index(T0, T0 + 5000 * S, TIMELINE_MAX), TIMELINE_MAX - 1);
    CHECK_EQ_INT(timeline_index(T0, T0 + 5000 * S, 1), 0);
}

/* The cursor lands where timeline_index says, moving forwards, backwards, across the edges. */
static void test_cursor_matches_index(void)
{
    static struct timeline_bucket b[5];
    struct timeline t;
    memset(b, 0, sizeof b);
    timeline_init(&t, b, 5, T0);
    static const uint64_t times[] = {
        T0 - 5,     T0,         T0 + 1,     T0 + S - 1, T0 + S,         T0 + S + 1,
        T0 + 3 * S, T0 + S / 2, T0 - S,     T0 + 4 * S, T0 + 4 * S + 1, T0 + 99 * S,
        T0 + 2 * S, 0,          T0 + 5 * S, UINT64_MAX, T0 + 4 * S - 1, T0 + 4 * S,
    };
    uint64_t want[5] = {0};
    for (size_t i = 0; i < sizeof times / sizeof times[0]; i++) {
        unsigned idx = timeline_index(T0, times[i], 5);
        struct timeline_bucket *got = timeline_at(&t, times[i]);
        if (got != &b[idx])
            HARNESS_FAIL_("time T0%+lld ns: bucket %td, want %u", (long long)(times[i] - T0),
                          got - b, idx);
        got->requests++;
        got->errors[STATS_ERR_TIMEOUT] += 2;
        want[idx]++;
    }
    for (unsigned i = 0; i < 5; i++) {
        CHECK_EQ_INT(b[i].requests, want[i]);
        CHECK_EQ_INT(b[i].errors[STATS_ERR_TIMEOUT], 2 * want[i]);
        CHECK_EQ_INT(timeline_errors(&b[i]), 2 * want[i]);
    }
}

/* A steady stream: one completion every 7.3 ms for 12 s into 5 buckets. */
static void test_cursor_stream_folds(void)
{
    static struct timeline_bucket b[5];
    struct timeline t;
    memset(b, 0, sizeof b);
    timeline_init(&t, b, 5, T0);
    uint64_t n = 0;
    for (uint64_t now = T0; now < T0 + 12 * S; now += 7300000ull, n++)
        timeline_at(&t, now)->requests++;
    uint64_t sum = 0;
    for (unsigned i = 0; i < 5; i++)
        sum += b[i].requests;
    CHECK_EQ_INT(sum, n);
    /* 1 s / 7.3 ms = 136.99: each full second holds 136 or 137 */
    for (unsigned i = 0; i < 4; i++)
        CHECK(b[i].requests == 136 || b[i].requests == 137);
    CHECK(b[4].requests >= 8 * 136 && b[4].requests <= 8 * 137 + 1); /* seconds 4..11 */
}

/* The parent's merge: three workers, exact sums per bucket, and a worker whose array is
 * longer than the merged one folds its tail into the last bucket. */
static void test_merge_across_processes(void)
{
    struct timeline_bucket w[3][6];
    memset(w, 0, sizeof w);
    for (unsigned p = 0; p < 3; p++)
        for (unsigned i = 0; i < 6; i++) {
            w[p][i].requests = 100 * (p + 1) + i;
            for (int k = 0; k < STATS_ERR_KINDS; k++)
                w[p][i].errors[k] = p + (unsigned)k * i;
        }
    struct timeline_bucket dst[4];
    memset(dst, 0, sizeof dst);
    timeline_merge(dst, 4, w[0], 2); /* worker 0 finished in second 1 */
    timeline_merge(dst, 4, w[1], 4);
    timeline_merge(dst, 4, w[2], 6); /* seconds 4 and 5 fold into 3 */
    CHECK_EQ_INT(dst[0].requests, 100 + 200 + 300);
    CHECK_EQ_INT(dst[1].requests, 101 + 201 + 301);
    CHECK_EQ_INT(dst[2].requests, 202 + 302);
    CHECK_EQ_INT(dst[3].requests, 203 + 303 + 304 + 305);
    CHECK_EQ_INT(dst[1].errors[STATS_ERR_READ], (0 + 2) + (1 + 2) + (2 + 2));
    CHECK_EQ_INT(dst[3].errors[STATS_ERR_CONNECT], 1 + 2 + 2 + 2);
    uint64_t total_req = 0, total_err = 0, want_req = 0, want_err = 0;
    for (unsigned i = 0; i < 4; i++) {
        total_req += dst[i].requests;
        total_err += timeline_errors(&dst[i]);
    }
    unsigned used[3] = {2, 4, 6};
    for (unsigned p = 0; p < 3; p++)
        for (unsigned i = 0; i < used[p]; i++) {
            want_req += w[p][i].requests;
            want_err += timeline_errors(&w[p][i]);
        }
    CHECK_EQ_INT(total_req, want_req);
    CHECK_EQ_INT(total_err, want_err);
    /* a one-bucket result takes everything */
    struct timeline_bucket one = {0};
    timeline_merge(&one, 1, w[2], 6);
    CHECK_EQ_INT(one.requests, 300 + 301 + 302 + 303 + 304 + 305);
}

/* What the report says each merged bucket covers: the parent merges into
 * timeline_index(t0, end) + 1 buckets, so only the last one can be partial or folded. */
static void test_spans_in_the_report(void)
{
    struct {
        uint64_t elapsed;
        unsigned len; /* each worker's array */
        uint64_t last_span;
        bool folded;
    } cases[] = {
        {4 * S + 2000000, 9, 2000000, false},      /* -d 4s: 5 buckets, the last 2 ms */
        {S / 3, TIMELINE_MAX, S / 3, false},       /* a short -n run: one partial bucket */
        {0, TIMELINE_MAX, 0, false},               /* nothing completed after the start */
        {3 * S, 9, 0, false},                      /* a completion exactly on a second */
        {3600 * S + S / 2, 3600, S + S / 2, true}, /* past the cap: the tail folds */
        {7200 * S, 3600, 3601 * S, true},
        {3599 * S + 1, 3600, 1, false}, /* the last bucket itself, not folded */
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        unsigned n = timeline_index(0, cases[c].elapsed, cases[c].len) + 1;
        uint64_t sum = 0;
        for (unsigned i = 0; i < n; i++) {
            uint64_t span = timeline_span_ns(cases[c].elapsed, n, i);
            sum += span;
            if (i + 1 < n) {
                CHECK_EQ_INT(span, S);
                CHECK(!timeline_is_folded(cases[c].elapsed, n, i));
            }
        }
        CHECK_EQ_INT(sum, cases[c].elapsed); /* the spans add up to the run */
        CHECK_EQ_INT(timeline_span_ns(cases[c].elapsed, n, n - 1), cases[c].last_span);
        CHECK_EQ_INT(timeline_is_folded(cases[c].elapsed, n, n - 1), cases[c].folded);
    }
}

int main(void)
{
    HARNESS_RUN(test_len);
    HARNESS_RUN(test_index);
    HARNESS_RUN(test_cursor_matches_index);
    HARNESS_RUN(test_cursor_stream_folds);
    HARNESS_RUN(test_merge_across_processes);
    HARNESS_RUN(test_spans_in_the_report);
    return HARNESS_DONE();
}
