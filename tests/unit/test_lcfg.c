/* Unit tests for src/load/lcfg.c: durations, URLs, option rules and request rendering. */
#include "harness.h"
#include "lcfg.h"

#include <errno.h>

static void test_durations(void)
{
    struct {
        const char *s;
        uint64_t ns;
    } ok[] = {{"10s", 10000000000ull}, {"1m", 60000000000ull}, {"500ms", 500000000ull},
              {"1.5s", 1500000000ull}, {"2", 2000000000ull},   {"2h", 7200000000000ull},
              {"250us", 250000ull}};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        uint64_t ns = 0;
        CHECK_EQ_INT(lcfg_parse_duration(ok[i].s, &ns), 0);
        CHECK_EQ_INT(ns, ok[i].ns);
    }
    static const char *const bad[] = {"",    "s",     "10x", "-1s", "+1s",  " 1s",
                                      "1 s", "1e400", "nan", "1ss", "0.1ns"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint64_t ns;
        CHECK_EQ_INT(lcfg_parse_duration(bad[i], &ns), -EINVAL);
    }
}

static void test_urls(void)
{
    struct lcfg_url u;
    char err[256];
    CHECK_EQ_INT(lcfg_parse_url("http://example.com/a?b=c#frag", &u, err, sizeof err), 0);
    CHECK(!u.tls);
    CHECK_EQ_STR(u.host, "example.com");
    CHECK_EQ_STR(u.port, "80");
    CHECK(u.target.n == 6 && memcmp(u.target.p, "/a?b=c", 6) == 0);
    CHECK(u.hostport.n == 11 && memcmp(u.hostport.p, "example.com", 11) == 0);
    CHECK_EQ_INT(lcfg_parse_url("HTTPS://[::1]:8443", &u, err, sizeof err), 0);
    CHECK(u.tls);
    CHECK_EQ_STR(u.host, "::1");
    CHECK_EQ_STR(u.port, "8443");
    CHECK_EQ_INT(u.target.n, 0);
    CHECK(u.hostport.n == 10 && memcmp(u.hostport.p, "[::1]:8443", 10) == 0);
    CHECK_EQ_INT(lcfg_parse_url("https://127.0.0.1?x", &u, err, sizeof err), 0);
    CHECK_EQ_STR(u.port, "443");
    static const char *const bad[] = {
        "ftp://x/",        "http://",          "http:///x",      "http://[::1/",
        "http://[]/",      "http://[zz]/",     "http://host:0/", "http://host:65536/",
        "http://host:/",   "http://host:x/",   "http://u@host/", "http://ho st/",
        "http://host/a b", "http://host/\x7f", "example.com",    "http://host:123456/",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = 0;
        CHECK_EQ_INT(lcfg_parse_url(bad[i], &u, err, sizeof err), -EINVAL);
        CHECK(err[0] != 0);
    }
}

static int parse_err(struct lcfg *c, const char *const *args, char *err, size_t errlen)
{
    char *argv[32];
    int argc = 0;
    argv[argc++] = (char *)"httpsd-load";
    for (; *args; args++)
        argv[argc++] = (char *)*args;
    argv[argc] = NULL;
    return lcfg_parse(c, argc, argv, err, errlen);
}

static int parse(struct lcfg *c, const char *const *args)
{
    char err[256];
    return parse_err(c, args, err, sizeof err);
}

static void test_options(void)
{
    struct lcfg c;
    const char *a1[] = {"http://h/", NULL};
    CHECK_EQ_INT(parse(&c, a1), 0);
    CHECK_EQ_INT(c.connections, 50);
    CHECK_EQ_INT(c.duration_ns, 10000000000ull); /* default 10 s without -n */
    CHECK_EQ_INT(c.timeout_ns, 5000000000ull);
    CHECK(c.keepalive);
    CHECK(!c.timeline);
    lcfg_free(&c);
    const char *a2[] = {"-n", "100", "http://h/", NULL};
    CHECK_EQ_INT(parse(&c, a2), 0);
    CHECK_EQ_INT(c.duration_ns, 0);
    CHECK_EQ_INT(c.requests, 100);
    lcfg_free(&c);
    const char *a3[] = {"--max-clients", "3", "--max-conns", "7", "http://h/", NULL};
    CHECK_EQ_INT(parse(&c, a3), 0);
    CHECK_EQ_INT(c.processes, 3);
    CHECK_EQ_INT(c.connections, 3);
    CHECK_EQ_INT(c.requests, 21);
    CHECK(!c.keepalive);
    lcfg_free(&c);
    const char *a4[] = {"--bogus", "http://h/", NULL};
    CHECK_EQ_INT(parse(&c, a4), -EINVAL);
    lcfg_free(&c);
    const char *a5[] = {"-k", "--cacert", "x.pem", "https://h/", NULL};
    CHECK_EQ_INT(parse(&c, a5), -EINVAL);
    lcfg_free(&c);
    const char *a6[] = {"http://h/", "http://other/", NULL};
    CHECK_EQ_INT(parse(&c, a6), -EINVAL);
    lcfg_free(&c);
    const char *a7[] = {"--help", NULL};
    CHECK_EQ_INT(parse(&c, a7), LCFG_HELP);
    lcfg_free(&c);
    const char *a8[] = {"--timeline", "-n", "5", "http://h/", NULL};
    CHECK_EQ_INT(parse(&c, a8), 0);
    CHECK(c.timeline && !c.json);
    lcfg_free(&c);
    /* the reason names the option as written, not a control character (optopt) */
    char err[256];
    const char *a9[] = {"--timeline=yes", "http://h/", NULL};
    CHECK_EQ_INT(parse_err(&c, a9, err, sizeof err), -EINVAL);
    CHECK_EQ_STR(err, "option '--timeline' takes no value");
    lcfg_free(&c);
    const char *a10[] = {"--quiet=1", "http://h/", NULL};
    CHECK_EQ_INT(parse_err(&c, a10, err, sizeof err), -EINVAL);
    CHECK_EQ_STR(err, "option '--quiet' takes no value");
    lcfg_free(&c);
    const char *a11[] = {"-x", "http://h/", NULL};
    CHECK_EQ_INT(parse_err(&c, a11, err, sizeof err), -EINVAL);
    CHECK_EQ_STR(err, "unknown option '-x'");
    lcfg_free(&c);
    const char *a12[] = {"--bogus=1", "http://h/", NULL};
    CHECK_EQ_INT(parse_err(&c, a12, err, sizeof err), -EINVAL);
    CHECK_EQ_STR(err, "unknown option '--bogus=1'");
    lcfg_free(&c);
}

static void test_render(void)
{
    struct lcfg c;
    const char *a[] = {
        "-m", "POST", "-H", "X-A: 1", "--body", "hey", "--no-keepalive", "http://[::1]:81?q", NULL};
    CHECK_EQ_INT(parse(&c, a), 0);
    struct buf b = {0};
    CHECK_EQ_INT(lcfg_render_request(&c, 0, &b), 0);
    CHECK_EQ_INT(buf_append(&b, "", 1), 0);
    CHECK_EQ_STR(b.p, "POST /?q HTTP/1.1\r\nHost: [::1]:81\r\nUser-Agent: httpsd-load\r\n"
                      "X-A: 1\r\nContent-Length: 3\r\nConnection: close\r\n\r\nhey");
    buf_free(&b);
    lcfg_free(&c);
    const char *a2[] = {"-H", "host: other", "http://h/x", NULL};
    CHECK_EQ_INT(parse(&c, a2), 0);
    CHECK_EQ_INT(lcfg_render_request(&c, 0, &b), 0);
    CHECK_EQ_INT(buf_append(&b, "", 1), 0);
    CHECK_EQ_STR(b.p, "GET /x HTTP/1.1\r\nUser-Agent: httpsd-load\r\nhost: other\r\n\r\n");
    buf_free(&b);
    lcfg_free(&c);
}

int main(void)
{
    HARNESS_RUN(test_durations);
    HARNESS_RUN(test_urls);
    HARNESS_RUN(test_options);
    HARNESS_RUN(test_render);
    return HARNESS_DONE();
}
