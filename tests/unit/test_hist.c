/* Unit tests for src/load/hist.c: bucket layout, the ≤ 1 % error bound from 1 µs to 60 s,
 * exact percentiles on known data, exact mean/stdev and merge. */
#include "harness.h"
#include "hist.h"

#include <math.h>

static void test_buckets_cover_and_are_ordered(void)
{
    uint64_t prev_high = 0;
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        uint64_t lo = hist_bucket_low(i), hi = hist_bucket_high(i);
        CHECK(lo <= hi);
        if (i)
            CHECK_EQ_INT(lo, prev_high + 1); /* no gaps, no overlaps */
        CHECK_EQ_INT(hist_index(lo), i);
        CHECK_EQ_INT(hist_index(hi), i);
        prev_high = hi;
    }
    CHECK(prev_high >= 68000000000ull); /* the last bucket ends above 68 s */
    CHECK_EQ_INT(hist_index(UINT64_MAX), HIST_BUCKETS - 1);
}

static void test_relative_error_below_one_percent(void)
{
    /* every value from 1 µs to 60 s: the bucket's highest value overstates by < 1 % */
    double worst = 0;
    for (uint64_t v = 1000; v <= 60000000000ull; v += v / 997 + 1) {
        unsigned i = hist_index(v);
        double e = (double)(hist_bucket_high(i) - v) / (double)v;
        if (e > worst)
            worst = e;
        CHECK(hist_bucket_low(i) <= v && v <= hist_bucket_high(i));
    }
    CHECK_MSG(worst < 0.01, "relative error must stay below 1 %");
}

static void test_percentiles_known_data(void)
{
    struct hist h;
    hist_init(&h);
    CHECK_EQ_INT(hist_percentile(&h, 50), 0);
    /* 1..1000 µs, one each: p50 is the 500th value, p99 the 990th */
    for (uint64_t us = 1; us <= 1000; us++)
        hist_add(&h, us * 1000);
    CHECK_EQ_INT(h.count, 1000);
    CHECK_EQ_INT(h.min, 1000);
    CHECK_EQ_INT(h.max, 1000000);
    struct {
        double q;
        uint64_t v;
    } cases[] = {{50, 500000}, {90, 900000}, {99, 990000}, {99.9, 999000}, {100, 1000000}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint64_t got = hist_percentile(&h, cases[i].q);
        CHECK(got >= cases[i].v);
        CHECK_MSG((double)got <= (double)cases[i].v * 1.01, "percentile within 1 %");
    }
    CHECK(fabs(hist_mean(&h) - 500500.0) < 1e-6);
    /* population stdev of 1..1000 (×1000 ns) = sqrt((1000² − 1)/12) · 1000 */
    CHECK(fabs(hist_stdev(&h) - sqrt((1000.0 * 1000.0 - 1) / 12.0) * 1000.0) < 1e-3);
}

static void test_percentile_never_understates(void)
{
    /* 90 % fast, 10 % at 200.1 ms: p90 fast, p99 at or above the slow value */
    struct hist h;
    hist_init(&h);
    for (int i = 0; i < 900; i++)
        hist_add(&h, 300000);
    for (int i = 0; i < 100; i++)
        hist_add(&h, 200100000);
    CHECK(hist_percentile(&h, 90) < 200000000);
    CHECK(hist_percentile(&h, 99) >= 200100000);
    CHECK(hist_percentile(&h, 99) <= h.max);
}

static void test_merge_is_exact(void)
{
    struct hist a, b, all;
    hist_init(&a);
    hist_init(&b);
    hist_init(&all);
    uint64_t x = 88172645463325252ull;
    for (int i = 0; i < 20000; i++) {
        x ^= x << 13; /* xorshift: spread values over the whole range */
        x ^= x >> 7;
        x ^= x << 17;
        uint64_t v = x % 70000000000ull;
        hist_add(i % 3 ? &a : &b, v);
        hist_add(&all, v);
    }
    struct hist m;
    hist_init(&m);
    hist_merge(&m, &a);
    hist_merge(&m, &b);
    CHECK_EQ_INT(m.count, all.count);
    CHECK_EQ_INT(m.sum, all.sum);
    CHECK(m.sum_sq == all.sum_sq);
    CHECK_EQ_INT(m.min, all.min);
    CHECK_EQ_INT(m.max, all.max);
    CHECK(memcmp(m.buckets, all.buckets, sizeof m.buckets) == 0);
    CHECK_EQ_INT(hist_percentile(&m, 99.99), hist_percentile(&all, 99.99));
    struct hist empty;
    hist_init(&empty);
    hist_merge(&m, &empty);
    CHECK_EQ_INT(m.min, all.min);
}

int main(void)
{
    HARNESS_RUN(test_buckets_cover_and_are_ordered);
    HARNESS_RUN(test_relative_error_below_one_percent);
    HARNESS_RUN(test_percentiles_known_data);
    HARNESS_RUN(test_percentile_never_understates);
    HARNESS_RUN(test_merge_is_exact);
    return HARNESS_DONE();
}
