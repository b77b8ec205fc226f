/* Unit tests for range_parse and the multipart framing (src/range.h). */
#include "harness.h"
#include "range.h"

#include <stdio.h>

static struct byte_range r[RANGE_MAX];
static size_t n;

/* range_parse on a guarded copy (nothing readable after the value). */
static enum range_result parse(const char *v, uint64_t size)
{
    n = 0;
    return range_parse(guarded_copy(v, strlen(v)), strlen(v), size, r, &n);
}

static void expect_ok(const char *v, uint64_t size, size_t count, const uint64_t *pairs)
{
    CHECK_MSG(parse(v, size) == RANGE_OK, v);
    CHECK_EQ_INT(n, count);
    for (size_t i = 0; i < count && i < n; i++) {
        CHECK_EQ_INT(r[i].first, pairs[2 * i]);
        CHECK_EQ_INT(r[i].last, pairs[2 * i + 1]);
    }
}

static void test_single(void)
{
    expect_ok("bytes=0-99", 1000, 1, (uint64_t[]){0, 99});
    expect_ok("bytes=500-", 1000, 1, (uint64_t[]){500, 999});
    expect_ok("bytes=-100", 1000, 1, (uint64_t[]){900, 999});
    expect_ok("bytes=-5000", 1000, 1, (uint64_t[]){0, 999});      /* suffix longer than file */
    expect_ok("bytes=990-5000", 1000, 1, (uint64_t[]){990, 999}); /* end clamped */
    expect_ok("BYTES=1-1", 10, 1, (uint64_t[]){1, 1});            /* unit is case-insensitive */
    expect_ok("bytes= 2-3 ", 10, 1, (uint64_t[]){2, 3});
    expect_ok("bytes=0-99999999999999999999999999", 10, 1, (uint64_t[]){0, 9}); /* saturates */
}

static void test_multi(void)
{
    expect_ok("bytes=0-1,5-9", 100, 2, (uint64_t[]){0, 1, 5, 9});
    expect_ok("bytes=5-9,0-1", 100, 2, (uint64_t[]){0, 1, 5, 9}); /* sorted */
    expect_ok("bytes=0-50,10-60", 100, 1, (uint64_t[]){0, 60});   /* overlap merged */
    expect_ok("bytes=0-9,10-19", 100, 1, (uint64_t[]){0, 19});    /* adjacent merged */
    expect_ok("bytes=0-0,-1", 100, 2, (uint64_t[]){0, 0, 99, 99});
    expect_ok("bytes=,0-1,,3-4,", 100, 2, (uint64_t[]){0, 1, 3, 4}); /* empty elements */
    expect_ok("bytes=0-1,200-300", 100, 1, (uint64_t[]){0, 1});      /* unsatisfiable one dropped */
    /* exactly 16 ranges is fine, 17 is ignored (whole file) */
    char v[512] = "bytes=";
    for (int i = 0; i < 16; i++)
        snprintf(v + strlen(v), sizeof v - strlen(v), "%s%d-%d", i ? "," : "", i * 3, i * 3);
    CHECK(parse(v, 1000) == RANGE_OK && n == 16);
    snprintf(v + strlen(v), sizeof v - strlen(v), ",%d-%d", 60, 60);
    CHECK(parse(v, 1000) == RANGE_IGNORE);
    /* many overlapping ranges cannot amplify: they merge into one */
    strcpy(v, "bytes=");
    for (int i = 0; i < 16; i++)
        snprintf(v + strlen(v), sizeof v - strlen(v), "%s0-999", i ? "," : "");
    expect_ok(v, 1000, 1, (uint64_t[]){0, 999});
}

static void test_unsatisfiable(void)
{
    CHECK(parse("bytes=1000-", 1000) == RANGE_UNSATISFIABLE);
    CHECK(parse("bytes=-0", 1000) == RANGE_UNSATISFIABLE);
    CHECK(parse("bytes=0-", 0) == RANGE_UNSATISFIABLE);
    CHECK(parse("bytes=-5", 0) == RANGE_UNSATISFIABLE);
    CHECK(parse("bytes=99999999999999999999-", 1000) == RANGE_UNSATISFIABLE);
    CHECK(parse("bytes=2000-3000,5000-", 1000) == RANGE_UNSATISFIABLE);
}

static void test_ignored(void)
{
    const char *bad[] = {"",           "bytes",      "bytes=",      "bytes=,",     "items=0-1",
                         "bytes=a-b",  "bytes=1",    "bytes=5-1",   "bytes=--1",   "bytes=1-2-3",
                         "bytes=-",    "bytes=1 -2", "bytes=0-1;x", "bytes = 0-1", "bytes=+1-2",
                         "bytes=0x1-2"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_MSG(parse(bad[i], 1000) == RANGE_IGNORE, bad[i]);
}

static void test_multipart_length(void)
{
    const char *b = "abcdef0123456789abcdef01";
    CHECK(parse("bytes=0-2,5-7", 27) == RANGE_OK && n == 2);
    char buf[512], all[2048] = "";
    for (size_t i = 0; i < n; i++) {
        size_t k = range_part_header(buf, sizeof buf, b, "text/plain", &r[i], 27);
        CHECK_EQ_INT(k, strlen(buf));
        strcat(all, buf);
        strncat(all, "ddddddddddddddd", (size_t)(r[i].last - r[i].first + 1));
    }
    CHECK_EQ_STR(strstr(all, "Content-Range: bytes 5-7/27\r\n\r\n") ? "found" : "missing", "found");
    size_t k = range_trailer(buf, sizeof buf, b);
    CHECK_EQ_STR(buf, "\r\n--abcdef0123456789abcdef01--\r\n");
    strcat(all, buf);
    CHECK_EQ_INT(range_multipart_length(b, "text/plain", r, n, 27), strlen(all));
    CHECK_EQ_INT(k, strlen(buf));
    CHECK_EQ_INT(range_part_header(buf, 10, b, "text/plain", &r[0], 27), 0); /* too small */
}

int main(void)
{
    HARNESS_RUN(test_single);
    HARNESS_RUN(test_multi);
    HARNESS_RUN(test_unsatisfiable);
    HARNESS_RUN(test_ignored);
    HARNESS_RUN(test_multipart_length);
    return HARNESS_DONE();
}
