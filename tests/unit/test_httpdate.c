/* Unit tests for httpdate_format / httpdate_parse / httpdate_now (src/httpdate.h). */
#include "harness.h"
#include "httpdate.h"

#include <stdbool.h>
#include <stdint.h>

static bool parse(const char *s, time_t *t)
{
    size_t n = strlen(s);
    return httpdate_parse(guarded_copy(s, n), n, t);
}

static const char *fmt(time_t t)
{
    static char out[HTTPDATE_LEN + 8];
    memset(out, 'Z', sizeof out);
    httpdate_format(t, out);
    CHECK_EQ_INT(strlen(out), HTTPDATE_LEN);
    CHECK_EQ_INT(out[HTTPDATE_LEN + 1], 'Z'); /* nothing past the NUL */
    return out;
}

static void test_format_known(void)
{
    CHECK_EQ_STR(fmt(0), "Thu, 01 Jan 1970 00:00:00 GMT");
    CHECK_EQ_STR(fmt(784111777), "Sun, 06 Nov 1994 08:49:37 GMT");
    CHECK_EQ_STR(fmt(1709164800), "Thu, 29 Feb 2024 00:00:00 GMT"); /* leap day */
    CHECK_EQ_STR(fmt(1709251199), "Thu, 29 Feb 2024 23:59:59 GMT");
    CHECK_EQ_STR(fmt(951782400), "Tue, 29 Feb 2000 00:00:00 GMT"); /* 400-year leap */
    CHECK_EQ_STR(fmt(946684799), "Fri, 31 Dec 1999 23:59:59 GMT");
    CHECK_EQ_STR(fmt(946684800), "Sat, 01 Jan 2000 00:00:00 GMT");
    CHECK_EQ_STR(fmt(2147483647), "Tue, 19 Jan 2038 03:14:07 GMT");
    CHECK_EQ_STR(fmt(2147483648LL), "Tue, 19 Jan 2038 03:14:08 GMT"); /* past 2038 */
    CHECK_EQ_STR(fmt(4102444800LL), "Fri, 01 Jan 2100 00:00:00 GMT");
    CHECK_EQ_STR(fmt(253402300799LL), "Fri, 31 Dec 9999 23:59:59 GMT");
}

static void test_now(void)
{
    const char *a = httpdate_now();
    CHECK(a != NULL);
    if (!a)
        return;
    CHECK_EQ_INT(strlen(a), HTTPDATE_LEN);
    time_t t, before = time(NULL);
    CHECK(parse(a, &t));
    CHECK(t >= before - 2 && t <= before + 2);
}

static void test_parse_three_forms(void)
{
    time_t t = -1;
    CHECK(parse("Sun, 06 Nov 1994 08:49:37 GMT", &t));
    CHECK_EQ_INT(t, 784111777);
    t = -1;
    CHECK(parse("Sunday, 06-Nov-94 08:49:37 GMT", &t));
    CHECK_EQ_INT(t, 784111777);
    t = -1;
    CHECK(parse("Sun Nov  6 08:49:37 1994", &t));
    CHECK_EQ_INT(t, 784111777);
    /* asctime with a two-digit day */
    t = -1;
    CHECK(parse("Thu Feb 29 00:00:00 2024", &t));
    CHECK_EQ_INT(t, 1709164800);
    /* RFC 850 with each weekday name length */
    t = -1;
    CHECK(parse("Wednesday, 09-Nov-94 08:49:37 GMT", &t));
    CHECK_EQ_INT(t, 784111777 + 3 * 86400);
    t = -1;
    CHECK(parse("Monday, 07-Nov-94 08:49:37 GMT", &t));
    CHECK_EQ_INT(t, 784111777 + 86400);
    /* RFC 850 two-digit years: < 70 → 20xx */
    t = -1;
    CHECK(parse("Thursday, 01-Jan-70 00:00:00 GMT", &t));
    CHECK_EQ_INT(t, 0);
    t = -1;
    CHECK(parse("Saturday, 01-Jan-00 00:00:00 GMT", &t));
    CHECK_EQ_INT(t, 946684800);
    t = -1;
    CHECK(parse("Thursday, 29-Feb-24 00:00:00 GMT", &t));
    CHECK_EQ_INT(t, 1709164800);
    /* IMF-fixdate edges */
    t = -1;
    CHECK(parse("Thu, 01 Jan 1970 00:00:00 GMT", &t));
    CHECK_EQ_INT(t, 0);
    t = -1;
    CHECK(parse("Fri, 31 Dec 9999 23:59:59 GMT", &t));
    CHECK_EQ_INT(t, 253402300799LL);
}

static void test_round_trip(void)
{
    char buf[HTTPDATE_LEN + 1];
    /* every month boundary-ish point over 1970..2200, plus a pseudo-random walk */
    uint64_t x = 88172645463325252ull;
    unsigned bad = 0, n = 0;
    for (time_t t = 0; t < 7258118400LL; t += 86400 * 7 + 3607) {
        httpdate_format(t, buf);
        time_t back = -1;
        if (!httpdate_parse(guarded_copy(buf, HTTPDATE_LEN), HTTPDATE_LEN, &back) || back != t) {
            if (bad++ < 5)
                fprintf(stderr, "round trip %lld → %s → %lld\n", (long long)t, buf,
                        (long long)back);
        }
        n++;
    }
    for (int i = 0; i < 100000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        time_t t = (time_t)(x % 253402300800ull); /* up to 9999-12-31 */
        httpdate_format(t, buf);
        time_t back = -1;
        if (!httpdate_parse(guarded_copy(buf, HTTPDATE_LEN), HTTPDATE_LEN, &back) || back != t) {
            if (bad++ < 5)
                fprintf(stderr, "round trip %lld → %s → %lld\n", (long long)t, buf,
                        (long long)back);
        }
        n++;
    }
    CHECK_EQ_INT(bad, 0);
    CHECK(n > 100000);
}

static void test_malformed(void)
{
    static const char *bad[] = {
        "",
        "garbage",
        "Sun, 06 Nov 1994 08:49:37 GM",   /* too short */
        "Sun, 06 Nov 1994 08:49:37 GMTX", /* too long */
        "Sun, 06 Nov 1994 08:49:37 UTC",
        "Sun, 06 Nov 1994 08:49:37 gmt",
        "Sun, 6 Nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 94 08:49:37 GMT",
        "Sun, 06 Xyz 1994 08:49:37 GMT", /* bad month */
        "Sun, 06 nov 1994 08:49:37 GMT", /* month is case-sensitive */
        "Sun, 06 NOV 1994 08:49:37 GMT",
        "Sun, 32 Nov 1994 08:49:37 GMT", /* day 32 */
        "Sun, 00 Nov 1994 08:49:37 GMT", /* day 0 */
        "Sun, 06 Nov 1994 24:00:00 GMT", /* hour 24 */
        "Sun, 06 Nov 1994 08:60:00 GMT", /* minute 60 */
        "Sun, 06 Nov 1994 08:49:61 GMT", /* second 61 */
        "Sun, 06 Nov 1994 08-49-37 GMT",
        "Sun, 06 Nov 1994 8:49:37  GMT",
        "Sun, 0x Nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 19x4 08:49:37 GMT",
        "Sun, 06 Nov 1994 0a:49:37 GMT",
        "Sun, -6 Nov 1994 08:49:37 GMT",
        "Sun, 06 Nov -994 08:49:37 GMT",
        "Sun, 06 Nov 1969 23:59:59 GMT", /* before the epoch */
        "Sun,06 Nov 1994 08:49:37 GMT ",
        "Sun  06 Nov 1994 08:49:37 GMT",
        "Sunday, 06-Nov-94 08:49:37 GM",
        "Sunday, 06-Nov-94 08:49:37 UTC",
        "Sunday, 06-Xyz-94 08:49:37 GMT",
        "Sunday, 32-Nov-94 08:49:37 GMT",
        "Sunday, 06-Nov-94 24:49:37 GMT",
        "Sunday, 06 Nov 94 08:49:37 GMT",
        "Sunday, 06-Nov-1994 08:49:37 GMT",
        "Sunday, 6-Nov-94 08:49:37 GMT",
        "Sunday,06-Nov-94 08:49:37 GMT ",
        "Sun Nov  6 08:49:37 94",
        "Sun Nov 6 08:49:37 1994",
        "Sun Xyz  6 08:49:37 1994",
        "Sun Nov 32 08:49:37 1994",
        "Sun Nov  0 08:49:37 1994",
        "Sun Nov  6 24:49:37 1994",
        "Sun Nov  6 08:49:37 19x4",
        "Sun Nov  6 08:49:37 1994 ",
        "Sun Nov  6 08:49:37 1994 GMT",
        ",,,,,,,,,,,,,,,,,,,,,,,,,,,,,",
        "                             ",
        "                        ",
        "Sun, 06 Nov 1994 08:49:37 GMT\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        time_t t = 12345;
        bool ok = parse(bad[i], &t);
        if (ok)
            fprintf(stderr, "accepted malformed date \"%s\" as %lld\n", bad[i], (long long)t);
        CHECK(!ok);
        CHECK_EQ_INT(t, 12345); /* untouched on failure */
    }
    time_t t;
    CHECK(!httpdate_parse(guarded_copy("", 0), 0, &t));
}

/* Days that do not exist in their month. */
static void test_impossible_dates(void)
{
    time_t t;
    CHECK_MSG(!parse("Wed, 30 Feb 1994 08:49:37 GMT", &t),
              "httpdate_parse accepts 30 Feb (as 2 Mar): day not checked against the month");
    CHECK_MSG(!parse("Sun, 31 Apr 1994 08:49:37 GMT", &t),
              "httpdate_parse accepts 31 Apr (as 1 May)");
    CHECK_MSG(!parse("Thu, 29 Feb 2001 00:00:00 GMT", &t),
              "httpdate_parse accepts 29 Feb of a non-leap year");
}

/* Every prefix of a valid date, and a byte at a time of garbage, must be refused without
 * reading past n (guarded_copy catches over-reads). */
static void test_prefixes(void)
{
    static const char *good[] = {"Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT",
                                 "Sun Nov  6 08:49:37 1994"};
    for (size_t g = 0; g < 3; g++) {
        size_t n = strlen(good[g]);
        for (size_t k = 0; k < n; k++) {
            time_t t;
            CHECK(!httpdate_parse(guarded_copy(good[g], k), k, &t));
        }
    }
    /* commas at every position inside the first 10 bytes */
    char s[40];
    for (size_t n = 1; n < sizeof s; n++) {
        for (size_t c = 0; c < n && c < 12; c++) {
            memset(s, 'x', n);
            s[c] = ',';
            time_t t;
            CHECK(!httpdate_parse(guarded_copy(s, n), n, &t));
        }
    }
}

int main(void)
{
    HARNESS_RUN(test_format_known);
    HARNESS_RUN(test_now);
    HARNESS_RUN(test_parse_three_forms);
    HARNESS_RUN(test_round_trip);
    HARNESS_RUN(test_malformed);
    HARNESS_RUN(test_prefixes);
    HARNESS_RUN(test_impossible_dates);
    return HARNESS_DONE();
}
