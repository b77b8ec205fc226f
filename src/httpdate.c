#include "httpdate.h"

#include <string.h>

static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

static void put2(char *p, int v)
{
    p[0] = (char)('0' + v / 10 % 10);
    p[1] = (char)('0' + v % 10);
}

void httpdate_format(time_t t, char *out)
{
    /* IMF-fixdate has four year digits: clamp mtimes set absurdly far away */
    if (t < -62167219200LL)
        t = -62167219200LL; /* 0000-01-01 */
    if (t > 253402300799LL)
        t = 253402300799LL; /* 9999-12-31 23:59:59 */
    struct tm tm;
    gmtime_r(&t, &tm);
    memcpy(out, days[tm.tm_wday], 3);
    out[3] = ',';
    out[4] = ' ';
    put2(out + 5, tm.tm_mday);
    out[7] = ' ';
    memcpy(out + 8, months[tm.tm_mon], 3);
    out[11] = ' ';
    int y = tm.tm_year + 1900;
    put2(out + 12, y / 100);
    put2(out + 14, y % 100);
    out[16] = ' ';
    put2(out + 17, tm.tm_hour);
    out[19] = ':';
    put2(out + 20, tm.tm_min);
    out[22] = ':';
    put2(out + 23, tm.tm_sec);
    memcpy(out + 25, " GMT", 5);
}

const char *httpdate_now(void)
{
    static __thread time_t cached = -1;
    static __thread char buf[HTTPDATE_LEN + 1];
    time_t now = time(NULL);
    if (now != cached) {
        httpdate_format(now, buf);
        cached = now;
    }
    return buf;
}

static int num(const char *s, size_t n, int *out)
{
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

static int month(const char *s)
{
    for (int i = 0; i < 12; i++)
        if (memcmp(s, months[i], 3) == 0)
            return i;
    return -1;
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian); m is 1..12. */
static long days_from_civil(long y, int m, int d)
{
    y -= m <= 2;
    long era = (y >= 0 ? y : y - 399) / 400;
    long yoe = y - era * 400;
    long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static bool build(int y, int mon, int d, int hh, int mm, int ss, time_t *out)
{
    static const int mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (mon < 0 || d < 1 || d > mdays[mon] || hh > 23 || mm > 59 || ss > 60 || y < 1970 || y > 9999)
        return false;
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (mon == 1 && d == 29 && !leap)
        return false;
    long nd = days_from_civil(y, mon + 1, d);
    *out = (time_t)(nd * 86400L + hh * 3600L + mm * 60L + ss);
    return true;
}

static bool parse_hms(const char *s, int *hh, int *mm, int *ss)
{
    return s[2] == ':' && s[5] == ':' && num(s, 2, hh) == 0 && num(s + 3, 2, mm) == 0 &&
           num(s + 6, 2, ss) == 0;
}

bool httpdate_parse(const char *s, size_t n, time_t *out)
{
    int d, y, hh, mm, ss;
    if (n == 29 && s[3] == ',' && s[4] == ' ' && s[7] == ' ' && s[11] == ' ' && s[16] == ' ' &&
        memcmp(s + 25, " GMT", 4) == 0) { /* Sun, 06 Nov 1994 08:49:37 GMT */
        if (num(s + 5, 2, &d) || num(s + 12, 4, &y) || !parse_hms(s + 17, &hh, &mm, &ss))
            return false;
        return build(y, month(s + 8), d, hh, mm, ss, out);
    }
    if (n == 24 && s[3] == ' ' && s[7] == ' ' && s[10] == ' ' && s[19] == ' ') {
        /* asctime: Sun Nov  6 08:49:37 1994 */
        char dd[2] = {s[8] == ' ' ? '0' : s[8], s[9]};
        if (num(dd, 2, &d) || num(s + 20, 4, &y) || !parse_hms(s + 11, &hh, &mm, &ss))
            return false;
        return build(y, month(s + 4), d, hh, mm, ss, out);
    }
    const char *comma = memchr(s, ',', n < 10 ? n : 10);
    if (comma && (size_t)(s + n - comma) == 24 && comma[1] == ' ' && comma[4] == '-' &&
        comma[8] == '-' && comma[11] == ' ' && memcmp(comma + 20, " GMT", 4) == 0) {
        /* RFC 850: Sunday, 06-Nov-94 08:49:37 GMT */
        if (num(comma + 2, 2, &d) || num(comma + 9, 2, &y) || !parse_hms(comma + 12, &hh, &mm, &ss))
            return false;
        y += y < 70 ? 2000 : 1900;
        return build(y, month(comma + 5), d, hh, mm, ss, out);
    }
    return false;
}
