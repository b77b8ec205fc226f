/* Unit tests for the command-line parser (src/cfg.h). */
#include "harness.h"
#include "cfg.h"
#include "log.h"

#include <errno.h>

/* ---- cfg_parse_bind ---- */

static int bind_(const char *s, struct bind_spec *b)
{
    memset(b, 0x5a, sizeof *b); /* garbage: the parser must fill everything it reports */
    return cfg_parse_bind(guarded_str(s), b);
}

#define BIND_OK(s, kind_, host_, port_)                                                            \
    do {                                                                                           \
        struct bind_spec b_;                                                                       \
        CHECK_EQ_INT(bind_(s, &b_), 0);                                                            \
        CHECK_EQ_INT(b_.kind, kind_);                                                              \
        CHECK_EQ_STR(b_.host, host_);                                                              \
        CHECK_EQ_STR(b_.port, port_);                                                              \
    } while (0)
#define BIND_BAD(s)                                                                                \
    do {                                                                                           \
        struct bind_spec b_;                                                                       \
        CHECK_EQ_INT(bind_(s, &b_), -EINVAL);                                                      \
    } while (0)

static void test_bind_forms(void)
{
    BIND_OK("127.0.0.1:8443", BIND_TLS, "127.0.0.1", "8443");
    BIND_OK("https://127.0.0.1:8443", BIND_TLS, "127.0.0.1", "8443");
    BIND_OK("http://127.0.0.1:8080", BIND_HTTP, "127.0.0.1", "8080");
    BIND_OK("[::1]:0", BIND_TLS, "::1", "0");
    BIND_OK("https://[::1]:8443", BIND_TLS, "::1", "8443");
    BIND_OK("http://[::1]:8080", BIND_HTTP, "::1", "8080");
    BIND_OK("[::]:443", BIND_TLS, "::", "443");
    BIND_OK("[fe80::1%eth0]:80", BIND_TLS, "fe80::1%eth0", "80");
    BIND_OK("localhost:80", BIND_TLS, "localhost", "80");
    BIND_OK("0.0.0.0:0", BIND_TLS, "0.0.0.0", "0");
    BIND_OK("example.com:65535", BIND_TLS, "example.com", "65535");
    /* empty host = all interfaces (struct bind_spec: "empty = all interfaces") */
    BIND_OK(":8080", BIND_TLS, "", "8080");
    BIND_OK("http://:8080", BIND_HTTP, "", "8080");
    /* a trailing slash after the port is tolerated */
    BIND_OK("http://localhost:8080/", BIND_HTTP, "localhost", "8080");
    BIND_OK("https://[::1]:8443/", BIND_TLS, "::1", "8443");
    /* the port is normalised */
    BIND_OK("h:00080", BIND_TLS, "h", "80");
    BIND_OK("h:00000", BIND_TLS, "h", "0");
}

static void test_bind_unix(void)
{
    struct bind_spec b;
    CHECK_EQ_INT(bind_("unix:/tmp/x.sock", &b), 0);
    CHECK_EQ_INT(b.kind, BIND_UNIX);
    CHECK_EQ_STR(b.path, "/tmp/x.sock");
    CHECK_EQ_INT(bind_("unix:rel.sock", &b), 0);
    CHECK_EQ_STR(b.path, "rel.sock");
    CHECK_EQ_INT(bind_("unix:/a:b", &b), 0);
    CHECK_EQ_STR(b.path, "/a:b");
    BIND_BAD("unix:");
    /* sun_path is 108 bytes with the NUL: 107 fit, 108 do not */
    char s[5 + 200];
    memcpy(s, "unix:", 5);
    memset(s + 5, 'p', 107);
    s[5 + 107] = 0;
    CHECK_EQ_INT(bind_(s, &b), 0);
    CHECK_EQ_INT(strlen(b.path), 107);
    memset(s + 5, 'p', 108);
    s[5 + 108] = 0;
    BIND_BAD(s);
    memset(s + 5, 'p', 199);
    s[5 + 199] = 0;
    BIND_BAD(s);
}

static void test_bind_bad(void)
{
    BIND_BAD("");
    BIND_BAD("noport");
    BIND_BAD("1.2.3.4:");
    BIND_BAD("1.2.3.4:99999");
    BIND_BAD("1.2.3.4:65536");
    BIND_BAD("1.2.3.4:100000");
    BIND_BAD("1.2.3.4:-1");
    BIND_BAD("1.2.3.4:+1");
    BIND_BAD("1.2.3.4: 80");
    BIND_BAD("1.2.3.4:80 ");
    BIND_BAD("1.2.3.4:8a");
    BIND_BAD("1.2.3.4:0x50");
    BIND_BAD("ftp://x:1");
    BIND_BAD("tcp://x:1");
    BIND_BAD("HTTP://x:1");
    BIND_BAD("::1:80");
    BIND_BAD("::1");
    BIND_BAD("[::1]80");
    BIND_BAD("[::1]");
    BIND_BAD("[::1]:");
    BIND_BAD("[::1:80");
    BIND_BAD("[]:80");
    BIND_BAD("[localhost]:80"); /* brackets are for IPv6 */
    BIND_BAD("http://");
    BIND_BAD("https://");
    BIND_BAD("http://:");
    BIND_BAD("http://x");
    BIND_BAD("a b:80");
    BIND_BAD("a/b:80");
    BIND_BAD("a\tb:80");
    BIND_BAD("h\x7f:80");
    BIND_BAD("h\xc3\xa9:80");
    BIND_BAD("host:80//");
    BIND_BAD("host:80/x");
    /* host too long for the struct */
    char s[400];
    memset(s, 'h', 300);
    memcpy(s + 300, ":80", 4);
    BIND_BAD(s);
    /* 255 fit */
    struct bind_spec b;
    memset(s, 'h', 255);
    memcpy(s + 255, ":80", 4);
    CHECK_EQ_INT(bind_(s, &b), 0);
    CHECK_EQ_INT(strlen(b.host), 255);
    memset(s, 'h', 256);
    memcpy(s + 256, ":80", 4);
    BIND_BAD(s);
}

/* ---- cfg_parse_size ---- */

static int size_(const char *s, uint64_t *v)
{
    return cfg_parse_size(guarded_str(s), v);
}

#define SIZE_OK(s, want)                                                                           \
    do {                                                                                           \
        uint64_t v_ = 0xdead;                                                                      \
        CHECK_EQ_INT(size_(s, &v_), 0);                                                            \
        CHECK_EQ_INT(v_, want);                                                                    \
    } while (0)
#define SIZE_BAD(s)                                                                                \
    do {                                                                                           \
        uint64_t v_ = 0xdead;                                                                      \
        CHECK_EQ_INT(size_(s, &v_), -EINVAL);                                                      \
        CHECK_EQ_INT(v_, 0xdead);                                                                  \
    } while (0)

static void test_size(void)
{
    SIZE_OK("0", 0);
    SIZE_OK("1", 1);
    SIZE_OK("1024", 1024);
    SIZE_OK("64k", 64 * 1024);
    SIZE_OK("64K", 64 * 1024);
    SIZE_OK("1m", 1024 * 1024);
    SIZE_OK("1M", 1024 * 1024);
    SIZE_OK("1g", 1024 * 1024 * 1024);
    SIZE_OK("1G", 1024 * 1024 * 1024);
    SIZE_OK("1kb", 1024);
    SIZE_OK("1KB", 1024);
    SIZE_OK("1Kb", 1024);
    SIZE_OK("2mb", 2 * 1024 * 1024);
    SIZE_OK("0g", 0);
    SIZE_OK("007", 7);
    SIZE_OK("4096g", 4096ull << 30);
    SIZE_BAD("-1");
    SIZE_BAD("+1");
    SIZE_BAD("1x");
    SIZE_BAD("1b");
    SIZE_BAD("1kk");
    SIZE_BAD("1kbb");
    SIZE_BAD("1k b");
    SIZE_BAD("1 k");
    SIZE_BAD("k");
    SIZE_BAD("");
    SIZE_BAD(" 1");
    SIZE_BAD("1 ");
    SIZE_BAD("1.5k");
    SIZE_BAD("0x10");
    SIZE_BAD("1e3");
    SIZE_BAD("99999999999999999999g");
    SIZE_BAD("99999999999999999999"); /* > UINT64_MAX */
    SIZE_BAD("18446744073709551615"); /* UINT64_MAX: over the internal 2^62 cap */
    SIZE_BAD("17179869184g");         /* 2^34 g = 2^64 */
    SIZE_BAD("9999999999999999999999k");
    uint64_t v;
    CHECK_EQ_INT(cfg_parse_size(NULL, &v), -EINVAL);
}

/* ---- cfg_parse_seconds ---- */

static int secs_(const char *s, int64_t *ms)
{
    return cfg_parse_seconds(guarded_str(s), ms);
}

#define SECS_OK(s, want)                                                                           \
    do {                                                                                           \
        int64_t v_ = -12345;                                                                       \
        CHECK_EQ_INT(secs_(s, &v_), 0);                                                            \
        CHECK_EQ_INT(v_, want);                                                                    \
    } while (0)
#define SECS_BAD(s)                                                                                \
    do {                                                                                           \
        int64_t v_ = -12345;                                                                       \
        CHECK_EQ_INT(secs_(s, &v_), -EINVAL);                                                      \
        CHECK_EQ_INT(v_, -12345);                                                                  \
    } while (0)

static void test_seconds(void)
{
    SECS_OK("0", 0);
    SECS_OK("0.0", 0);
    SECS_OK("1", 1000);
    SECS_OK("1.5", 1500);
    SECS_OK("0.5", 500);
    SECS_OK("0.001", 1);
    SECS_OK("0.0004", 0); /* rounds to the nearest ms */
    SECS_OK("0.0006", 1);
    SECS_OK("30", 30000);
    SECS_OK("86400", 86400000);
    SECS_OK("31622400", 31622400000LL); /* 366 days: the documented maximum ("1 year") */
    SECS_OK(".5", 500);
    SECS_OK("5.", 5000);
    SECS_BAD("31622401");
    SECS_BAD("-1");
    SECS_BAD("-0");
    SECS_BAD("+1");
    SECS_BAD("abc");
    SECS_BAD("1e9");
    SECS_BAD("nan");
    SECS_BAD("NaN");
    SECS_BAD("inf");
    SECS_BAD("infinity");
    SECS_BAD("");
    SECS_BAD(" 1");
    SECS_BAD("1 ");
    SECS_BAD("1s");
    SECS_BAD("1,5");
    SECS_BAD(".");
    SECS_BAD("1e999");
    int64_t ms;
    CHECK_EQ_INT(cfg_parse_seconds(NULL, &ms), -EINVAL);
}

/* Inputs the documentation does not allow but the parsers accept (see the report). */
static void test_lenient_numbers(void)
{
    int64_t ms = -1;
    uint64_t v = 7;
    CHECK_MSG(secs_("\t1", &ms) == -EINVAL,
              "cfg_parse_seconds accepts leading tab/newline (strtod skips it), refuses ' 1'");
    CHECK_MSG(size_("\n1", &v) == -EINVAL,
              "cfg_parse_size accepts leading tab/newline (strtoull skips it), refuses ' 1'");
    CHECK_MSG(secs_("0x10", &ms) == -EINVAL,
              "cfg_parse_seconds accepts hex floats ('0x10' = 16 s)");
}

/* ---- cfg_parse_static ---- */

static int static_(const char *s, struct static_mount *m)
{
    memset(m, 0x5a, sizeof *m);
    /* the guarded copy is writable (cfg_parse_static takes char *) */
    return cfg_parse_static((char *)guarded_str(s), m);
}

#define STATIC_OK(s, prefix_, dir_)                                                                \
    do {                                                                                           \
        struct static_mount m_;                                                                    \
        CHECK_EQ_INT(static_(s, &m_), 0);                                                          \
        CHECK_EQ_STR(m_.prefix, prefix_);                                                          \
        CHECK_EQ_INT(m_.prefix_len, strlen(prefix_));                                              \
        CHECK_EQ_STR(m_.dir, dir_);                                                                \
    } while (0)
#define STATIC_BAD(s)                                                                              \
    do {                                                                                           \
        struct static_mount m_;                                                                    \
        CHECK_EQ_INT(static_(s, &m_), -EINVAL);                                                    \
    } while (0)

static void test_static(void)
{
    STATIC_OK("/static=./dir", "/static", "./dir");
    STATIC_OK("/=dir", "", "dir");
    STATIC_OK("/static/=./dir", "/static", "./dir");
    STATIC_OK("/static///=./dir", "/static", "./dir");
    STATIC_OK("//=d", "", "d");
    STATIC_OK("/a/b/c=/srv/www", "/a/b/c", "/srv/www");
    STATIC_OK("/x=a=b", "/x", "a=b"); /* the first '=' splits */
    STATIC_OK("/x=/", "/x", "/");
    STATIC_BAD("/static");
    STATIC_BAD("static=./dir");
    STATIC_BAD("=dir");
    STATIC_BAD("/static=");
    STATIC_BAD("=");
    STATIC_BAD("");
    STATIC_BAD("/a b=dir");
    STATIC_BAD("/a?b=dir");
    STATIC_BAD("/a#b=dir");
    STATIC_BAD("/a%20b=dir");
    STATIC_BAD("/a\\b=dir");
    STATIC_BAD("/a\x7f=dir");
    char s[400];
    s[0] = '/';
    memset(s + 1, 'p', 300);
    memcpy(s + 301, "=d", 3);
    STATIC_BAD(s);
}

/* ---- cfg_parse ---- */

struct args {
    int argc;
    char *argv[64];
};

/* argv = {"httpsd", list..., NULL}, each a separate exact-size allocation (getopt permutes
 * the array; the strings are borrowed by struct cfg and must outlive it). */
static void args_make(struct args *a, const char *const *list)
{
    a->argc = 0;
    a->argv[a->argc++] = strdup("httpsd");
    for (; *list; list++)
        a->argv[a->argc++] = strdup(*list);
    a->argv[a->argc] = NULL;
    for (int i = 0; i < a->argc; i++)
        if (!a->argv[i])
            abort();
}

static void args_free(struct args *a)
{
    for (int i = 0; i < a->argc; i++)
        free(a->argv[i]);
    a->argc = 0;
}

static char err[256];

static int parse(struct cfg *c, struct args *a, const char *const *list)
{
    args_make(a, list);
    memset(err, 'E', sizeof err);
    err[sizeof err - 1] = 0;
    int r = cfg_parse(c, a->argc, a->argv, err, sizeof err);
    CHECK(memchr(err, 0, sizeof err) != NULL);
    if (r == 0)
        CHECK_EQ_STR(err, "");
    else
        CHECK(err[0] != 0); /* a reason */
    return r;
}

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})

static void check_default_values(const struct cfg *c)
{
    CHECK_EQ_INT(c->limit_request_line, 8190);
    CHECK_EQ_INT(c->limit_request_field_size, 8190);
    CHECK_EQ_INT(c->limit_request_fields, 100);
    CHECK_EQ_INT(c->limit_request_body, 1ull << 30);
    CHECK_EQ_INT(c->keep_alive_ms, 5000);
    CHECK_EQ_INT(c->header_timeout_ms, 10000);
    CHECK_EQ_INT(c->handshake_timeout_ms, 10000);
    CHECK_EQ_INT(c->io_timeout_ms, 60000);
    CHECK_EQ_INT(c->graceful_timeout_ms, 30000);
    CHECK_EQ_INT(c->log_level, LOG_INFO);
}

static void check_defaults_except_binds(const struct cfg *c)
{
    check_default_values(c);
    CHECK(c->certfile == NULL);
    CHECK(c->keyfile == NULL);
    CHECK(c->access_log == NULL);
    CHECK(c->error_log == NULL);
    CHECK(c->app == NULL);
    CHECK_EQ_INT(c->nmounts, 0);
    CHECK_EQ_INT(c->static_max_age, -1);
    CHECK(!c->static_dotfiles);
    CHECK(!c->help);
    CHECK(!c->version);
}

static void test_parse_defaults(void)
{
    struct cfg c;
    struct args a;
    const char *const none[] = {NULL};
    CHECK_EQ_INT(parse(&c, &a, none), 0);
    check_defaults_except_binds(&c);
    CHECK_EQ_INT(c.nbinds, 1);
    if (c.nbinds == 1) {
        CHECK_EQ_INT(c.binds[0].kind, BIND_TLS);
        CHECK_EQ_STR(c.binds[0].host, "127.0.0.1");
        CHECK_EQ_STR(c.binds[0].port, "8443");
    }
    cfg_free(&c);
    CHECK(c.binds == NULL);
    CHECK_EQ_INT(c.nbinds, 0);
    args_free(&a);
}

static void test_parse_every_option(void)
{
    struct cfg c;
    struct args a;
    CHECK_EQ_INT(
        parse(&c, &a,
              ARGS("--bind", "http://[::1]:8080", "--certfile", "c.pem", "--keyfile", "k.pem",
                   "--static", "/static=./site", "--access-logfile", "-", "--error-logfile",
                   "err.log", "--log-level", "debug", "--limit-request-line", "4096",
                   "--limit-request-field-size", "1k", "--limit-request-fields", "50",
                   "--limit-request-body", "10m", "--keep-alive", "0", "--header-timeout", "2.5",
                   "--handshake-timeout", "3", "--io-timeout", "0.25", "--graceful-timeout", "7")),
        0);
    CHECK_EQ_INT(c.nbinds, 1);
    if (c.nbinds == 1) {
        CHECK_EQ_INT(c.binds[0].kind, BIND_HTTP);
        CHECK_EQ_STR(c.binds[0].host, "::1");
        CHECK_EQ_STR(c.binds[0].port, "8080");
    }
    CHECK_EQ_STR(c.certfile, "c.pem");
    CHECK_EQ_STR(c.keyfile, "k.pem");
    CHECK_EQ_INT(c.nmounts, 1);
    if (c.nmounts == 1) {
        CHECK_EQ_STR(c.mounts[0].prefix, "/static");
        CHECK_EQ_STR(c.mounts[0].dir, "./site");
    }
    CHECK_EQ_STR(c.access_log, "-");
    CHECK_EQ_STR(c.error_log, "err.log");
    CHECK_EQ_INT(c.log_level, LOG_DEBUG);
    CHECK_EQ_INT(c.limit_request_line, 4096);
    CHECK_EQ_INT(c.limit_request_field_size, 1024);
    CHECK_EQ_INT(c.limit_request_fields, 50);
    CHECK_EQ_INT(c.limit_request_body, 10 << 20);
    CHECK_EQ_INT(c.keep_alive_ms, 0);
    CHECK_EQ_INT(c.header_timeout_ms, 2500);
    CHECK_EQ_INT(c.handshake_timeout_ms, 3000);
    CHECK_EQ_INT(c.io_timeout_ms, 250);
    CHECK_EQ_INT(c.graceful_timeout_ms, 7000);
    CHECK(c.app == NULL);
    cfg_free(&c);
    args_free(&a);

    /* --opt=value and short -bVALUE forms */
    CHECK_EQ_INT(parse(&c, &a,
                       ARGS("--bind=unix:/tmp/s", "-b:81", "-b", "[::]:82", "--log-level=WARNING",
                            "--limit-request-body=0")),
                 0);
    CHECK_EQ_INT(c.nbinds, 3);
    if (c.nbinds == 3) {
        CHECK_EQ_INT(c.binds[0].kind, BIND_UNIX);
        CHECK_EQ_STR(c.binds[0].path, "/tmp/s");
        CHECK_EQ_STR(c.binds[1].host, "");
        CHECK_EQ_STR(c.binds[1].port, "81");
        CHECK_EQ_STR(c.binds[2].host, "::");
        CHECK_EQ_STR(c.binds[2].port, "82");
    }
    CHECK_EQ_INT(c.log_level, LOG_WARNING);
    CHECK_EQ_INT(c.limit_request_body, 0);
    cfg_free(&c);
    args_free(&a);
}

static void test_parse_log_levels(void)
{
    static const struct {
        const char *name;
        int level;
    } levels[] = {{"debug", LOG_DEBUG},      {"info", LOG_INFO},   {"warning", LOG_WARNING},
                  {"warn", LOG_WARNING},     {"error", LOG_ERROR}, {"critical", LOG_CRITICAL},
                  {"CRITICAL", LOG_CRITICAL}};
    for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++) {
        struct cfg c;
        struct args a;
        CHECK_EQ_INT(parse(&c, &a, ARGS("--log-level", levels[i].name)), 0);
        CHECK_EQ_INT(c.log_level, levels[i].level);
        cfg_free(&c);
        args_free(&a);
    }
    struct cfg c;
    struct args a;
    CHECK_EQ_INT(parse(&c, &a, ARGS("--log-level", "verbose")), -EINVAL);
    CHECK(strstr(err, "log-level") != NULL);
    cfg_free(&c);
    args_free(&a);
}

static void test_parse_repeated(void)
{
    struct cfg c;
    struct args a;
    CHECK_EQ_INT(
        parse(&c, &a,
              ARGS("-b", "127.0.0.1:1", "-b", "https://[::1]:2", "--bind", "http://0.0.0.0:3", "-b",
                   "unix:/run/x.sock", "--static", "/a=A", "--static", "/=B")),
        0);
    CHECK_EQ_INT(c.nbinds, 4);
    if (c.nbinds == 4) {
        CHECK_EQ_INT(c.binds[0].kind, BIND_TLS);
        CHECK_EQ_STR(c.binds[0].port, "1");
        CHECK_EQ_INT(c.binds[1].kind, BIND_TLS);
        CHECK_EQ_STR(c.binds[1].host, "::1");
        CHECK_EQ_INT(c.binds[2].kind, BIND_HTTP);
        CHECK_EQ_STR(c.binds[2].host, "0.0.0.0");
        CHECK_EQ_INT(c.binds[3].kind, BIND_UNIX);
        CHECK_EQ_STR(c.binds[3].path, "/run/x.sock");
    }
    CHECK_EQ_INT(c.nmounts, 2);
    if (c.nmounts == 2) {
        CHECK_EQ_STR(c.mounts[0].prefix, "/a");
        CHECK_EQ_STR(c.mounts[0].dir, "A");
        CHECK_EQ_STR(c.mounts[1].prefix, "");
        CHECK_EQ_INT(c.mounts[1].prefix_len, 0);
        CHECK_EQ_STR(c.mounts[1].dir, "B");
    }
    check_default_values(&c);
    cfg_free(&c);
    args_free(&a);

    /* a later value wins for single options */
    CHECK_EQ_INT(parse(&c, &a, ARGS("--keep-alive", "1", "--keep-alive", "2")), 0);
    CHECK_EQ_INT(c.keep_alive_ms, 2000);
    cfg_free(&c);
    args_free(&a);
}

/* Expect -EINVAL and an err message containing needle. */
static void parse_fails(const char *const *list, const char *needle)
{
    struct cfg c;
    struct args a;
    int r = parse(&c, &a, list);
    CHECK_EQ_INT(r, -EINVAL);
    if (needle && !strstr(err, needle)) {
        CHECK(strstr(err, needle) != NULL);
        fprintf(stderr, "  err was \"%s\", expected to contain \"%s\"\n", err, needle);
    }
    cfg_free(&c);
    args_free(&a);
}

static void test_parse_errors(void)
{
    parse_fails(ARGS("--nope"), "--nope");
    parse_fails(ARGS("-x"), "-x");
    parse_fails(ARGS("-b", "127.0.0.1:1", "--bogus=1"), "--bogus");
    parse_fails(ARGS("--bind"), "needs a value");
    parse_fails(ARGS("-b"), "needs a value");
    parse_fails(ARGS("--static"), "needs a value");
    parse_fails(ARGS("--keep-alive"), "needs a value");
    parse_fails(ARGS("--help=yes"), NULL);
    parse_fails(ARGS("-b", "noport"), "--bind");
    parse_fails(ARGS("-b", "127.0.0.1:1", "-b", "x:99999"), "x:99999");
    parse_fails(ARGS("--static", "nodir"), "--static");
    parse_fails(ARGS("--limit-request-line", "63"), "--limit-request-line");
    parse_fails(ARGS("--limit-request-line", "2m"), "--limit-request-line");
    parse_fails(ARGS("--limit-request-field-size", "10"), "--limit-request-field-size");
    parse_fails(ARGS("--limit-request-fields", "0"), "--limit-request-fields");
    parse_fails(ARGS("--limit-request-fields", "10001"), "--limit-request-fields");
    parse_fails(ARGS("--limit-request-body", "-1"), "--limit-request-body");
    parse_fails(ARGS("--keep-alive", "-1"), "--keep-alive");
    parse_fails(ARGS("--header-timeout", "0"), "--header-timeout"); /* only keep-alive may be 0 */
    parse_fails(ARGS("--handshake-timeout", "0"), "--handshake-timeout");
    parse_fails(ARGS("--io-timeout", "0"), "--io-timeout");
    parse_fails(ARGS("--graceful-timeout", "0"), "--graceful-timeout");
    parse_fails(ARGS("--graceful-timeout", "abc"), "abc");
    parse_fails(ARGS("--certfile", "c.pem"), "--keyfile");
    parse_fails(ARGS("--keyfile", "k.pem"), "--certfile");
    parse_fails(ARGS("app:one", "app:two"), "app:two");
    parse_fails(ARGS("a", "b", "c"), "'b'");
}

static void test_parse_static_options(void)
{
    struct cfg c;
    struct args a;
    CHECK_EQ_INT(parse(&c, &a, ARGS("--static-max-age", "3600", "--static-dotfiles")), 0);
    CHECK_EQ_INT(c.static_max_age, 3600);
    CHECK(c.static_dotfiles);
    cfg_free(&c);
    args_free(&a);
    CHECK_EQ_INT(parse(&c, &a, ARGS("--static-max-age=0")), 0);
    CHECK_EQ_INT(c.static_max_age, 0);
    CHECK(!c.static_dotfiles);
    cfg_free(&c);
    args_free(&a);
    CHECK_EQ_INT(parse(&c, &a, ARGS("--static-max-age", "315360000")), 0); /* 10 years */
    CHECK_EQ_INT(c.static_max_age, 315360000);
    cfg_free(&c);
    args_free(&a);
    parse_fails(ARGS("--static-max-age", "315360001"), "--static-max-age");
    parse_fails(ARGS("--static-max-age", "1k"), "--static-max-age"); /* seconds, no suffix */
    parse_fails(ARGS("--static-max-age", "-1"), "--static-max-age");
    parse_fails(ARGS("--static-max-age", "1.5"), "--static-max-age");
    parse_fails(ARGS("--static-max-age"), "needs a value");
    parse_fails(ARGS("--static-dotfiles=yes"), NULL);
}

static void test_parse_bounds_ok(void)
{
    struct cfg c;
    struct args a;
    CHECK_EQ_INT(parse(&c, &a,
                       ARGS("--limit-request-line", "64", "--limit-request-field-size", "1m",
                            "--limit-request-fields", "10000")),
                 0);
    CHECK_EQ_INT(c.limit_request_line, 64);
    CHECK_EQ_INT(c.limit_request_field_size, 1 << 20);
    CHECK_EQ_INT(c.limit_request_fields, 10000);
    cfg_free(&c);
    args_free(&a);
}

static void test_parse_flags_and_app(void)
{
    struct cfg c;
    struct args a;
    CHECK_EQ_INT(parse(&c, &a, ARGS("--help")), 0);
    CHECK(c.help);
    CHECK(!c.version);
    cfg_free(&c);
    args_free(&a);
    CHECK_EQ_INT(parse(&c, &a, ARGS("-h")), 0);
    CHECK(c.help);
    cfg_free(&c);
    args_free(&a);
    CHECK_EQ_INT(parse(&c, &a, ARGS("--version")), 0);
    CHECK(c.version);
    CHECK(!c.help);
    cfg_free(&c);
    args_free(&a);
    /* unambiguous abbreviations are getopt_long behaviour */
    CHECK_EQ_INT(parse(&c, &a, ARGS("--vers")), 0);
    CHECK(c.version);
    cfg_free(&c);
    args_free(&a);

    CHECK_EQ_INT(parse(&c, &a, ARGS("myapp:application")), 0);
    CHECK_EQ_STR(c.app, "myapp:application");
    CHECK_EQ_INT(c.nbinds, 1);
    cfg_free(&c);
    args_free(&a);
    /* positional before or between options (GNU permutation) */
    CHECK_EQ_INT(parse(&c, &a, ARGS("mod:app", "-b", "http://127.0.0.1:9")), 0);
    CHECK_EQ_STR(c.app, "mod:app");
    CHECK_EQ_INT(c.nbinds, 1);
    if (c.nbinds == 1)
        CHECK_EQ_STR(c.binds[0].port, "9");
    cfg_free(&c);
    args_free(&a);
    /* "--" ends the options; what follows must still be a valid APP */
    CHECK_EQ_INT(parse(&c, &a, ARGS("--", "pkg.mod:make_app()")), 0);
    CHECK_EQ_STR(c.app, "pkg.mod:make_app()");
    cfg_free(&c);
    args_free(&a);
    CHECK_EQ_INT(parse(&c, &a, ARGS("--", "--not-an-option")), -EINVAL);
    cfg_free(&c);
    args_free(&a);
}

/* ---- APP and the WSGI options ---- */

static void test_app_spec(void)
{
    struct app_spec s;
    CHECK_EQ_INT(cfg_parse_app(guarded_str("myapp:app"), &s), 0);
    CHECK_EQ_STR(s.module, "myapp");
    CHECK_EQ_STR(s.attr, "app");
    CHECK(!s.call);
    CHECK_EQ_INT(cfg_parse_app(guarded_str("proj.wsgi"), &s), 0);
    CHECK_EQ_STR(s.module, "proj.wsgi");
    CHECK_EQ_STR(s.attr, "application"); /* MODULE alone: its application */
    CHECK(!s.call);
    CHECK_EQ_INT(cfg_parse_app(guarded_str("a.b_c:create_app()"), &s), 0);
    CHECK_EQ_STR(s.module, "a.b_c");
    CHECK_EQ_STR(s.attr, "create_app");
    CHECK(s.call);
    CHECK_EQ_INT(cfg_parse_app(guarded_str("_m2:x.y"), &s), 0); /* a dotted attribute */
    CHECK_EQ_STR(s.attr, "x.y");
    static const char *const bad[] = {
        "",     ":app", "mod:",    "mod:()",  "mod:a(b)", "mod:app()x", "1mod:app", "mod..x",
        ".mod", "mod.", "mod:a-b", "mod:a:b", "mod app",  "mod:app( )", "mod/x",    "mod:app()()",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        CHECK_MSG(cfg_parse_app(guarded_str(bad[i]), NULL) == -EINVAL, bad[i]);
    char longname[300];
    memset(longname, 'm', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    CHECK_EQ_INT(cfg_parse_app(guarded_str(longname), &s), -EINVAL); /* over the field size */
}

static void test_parse_wsgi_options(void)
{
    struct cfg c;
    struct args a;
    CHECK_EQ_INT(parse(&c, &a, ARGS("app:x")), 0);
    CHECK_EQ_INT(c.threads, 4);
    CHECK_EQ_INT(c.app_timeout_ms, 30000);
    CHECK_EQ_INT(c.max_queue, 64);
    CHECK(c.chdir == NULL && c.pythonpath == NULL && c.virtualenv == NULL);
    CHECK(c.request_buffering);
    CHECK_EQ_INT(c.min_rate, 500);
    CHECK_EQ_INT(c.buffer_memory, 256 << 20);
    CHECK(c.buffer_disk == 4ULL << 30);
    CHECK(c.response_spool == 64ULL << 20);
    cfg_free(&c);
    args_free(&a);
    CHECK_EQ_INT(parse(&c, &a,
                       ARGS("--no-request-buffering", "--min-rate", "0", "--buffer-memory", "1m",
                            "--buffer-disk", "0", "--response-spool", "0", "m")),
                 0);
    CHECK(!c.request_buffering);
    CHECK_EQ_INT(c.min_rate, 0);
    CHECK_EQ_INT(c.buffer_memory, 1 << 20);
    CHECK_EQ_INT(c.buffer_disk, 0);
    CHECK_EQ_INT(c.response_spool, 0);
    cfg_free(&c);
    args_free(&a);
    CHECK_EQ_INT(parse(&c, &a, ARGS("m")), 0);
    CHECK_EQ_INT(c.workers, 1);
    CHECK_EQ_INT(c.worker_timeout_ms, 30000);
    CHECK_EQ_INT(c.max_requests, 0);
    cfg_free(&c);
    args_free(&a);
    CHECK_EQ_INT(parse(&c, &a,
                       ARGS("-w", "3", "--worker-timeout", "2.5", "--max-requests", "1000",
                            "--max-requests-jitter", "50", "m")),
                 0);
    CHECK_EQ_INT(c.workers, 3);
    CHECK_EQ_INT(c.worker_timeout_ms, 2500);
    CHECK_EQ_INT(c.max_requests, 1000);
    CHECK_EQ_INT(c.max_requests_jitter, 50);
    cfg_free(&c);
    args_free(&a);
    CHECK_EQ_INT(parse(&c, &a,
                       ARGS("--pid", "/run/h.pid", "--user", "www-data", "--group", "www",
                            "--umask", "027", "m")),
                 0);
    CHECK_EQ_STR(c.pidfile, "/run/h.pid");
    CHECK_EQ_STR(c.user, "www-data");
    CHECK_EQ_STR(c.group, "www");
    CHECK_EQ_INT(c.umask_mode, 027);
    CHECK(!c.preload);
    cfg_free(&c);
    args_free(&a);
    CHECK_EQ_INT(parse(&c, &a, ARGS("--stats", "unix:/run/s.sock", "m")), 0);
    CHECK_EQ_STR(c.stats, "unix:/run/s.sock");
    cfg_free(&c);
    args_free(&a);
    CHECK_EQ_INT(parse(&c, &a, ARGS("--stats", "127.0.0.1:9100", "m")), 0);
    cfg_free(&c);
    args_free(&a);
    CHECK_EQ_INT(parse(&c, &a, ARGS("--stats", ":9100", "m")), -EINVAL);
    cfg_free(&c);
    args_free(&a);
    CHECK_EQ_INT(parse(&c, &a, ARGS("--preload", "m")), 0);
    CHECK(c.preload);
    cfg_free(&c);
    args_free(&a);
    CHECK_EQ_INT(parse(&c, &a, ARGS("--umask", "8", "m")), -EINVAL);
    cfg_free(&c);
    args_free(&a);
    CHECK_EQ_INT(parse(&c, &a, ARGS("--umask", "1777", "m")), -EINVAL);
    cfg_free(&c);
    args_free(&a);
    CHECK_EQ_INT(parse(&c, &a, ARGS("--user", "", "m")), -EINVAL);
    cfg_free(&c);
    args_free(&a);
    CHECK_EQ_INT(parse(&c, &a, ARGS("--workers", "auto", "m")), 0);
    CHECK(c.workers >= 1);
    cfg_free(&c);
    args_free(&a);
    CHECK_EQ_INT(parse(&c, &a, ARGS("-w", "0", "m")), 0);
    CHECK_EQ_INT(c.workers, 0);
    cfg_free(&c);
    args_free(&a);
    CHECK_EQ_INT(parse(&c, &a, ARGS("-w", "257", "m")), -EINVAL);
    cfg_free(&c);
    args_free(&a);
    CHECK_EQ_INT(parse(&c, &a, ARGS("-w", "two", "m")), -EINVAL);
    cfg_free(&c);
    args_free(&a);
    CHECK_EQ_INT(parse(&c, &a, ARGS("--worker-timeout", "0", "m")), -EINVAL);
    cfg_free(&c);
    args_free(&a);
    CHECK_EQ_INT(parse(&c, &a, ARGS("--min-rate", "-1", "m")), -EINVAL);
    cfg_free(&c);
    args_free(&a);
    CHECK_EQ_INT(parse(&c, &a, ARGS("--buffer-memory", "lots", "m")), -EINVAL);
    cfg_free(&c);
    args_free(&a);
    CHECK_EQ_INT(parse(&c, &a,
                       ARGS("--threads", "0", "--timeout", "2.5", "--max-queue", "0", "--chdir",
                            "/srv", "--pythonpath", "/a:/b", "--virtualenv", "/venv", "m")),
                 0);
    CHECK_EQ_INT(c.threads, 0);
    CHECK_EQ_INT(c.app_timeout_ms, 2500);
    CHECK_EQ_INT(c.max_queue, 0);
    CHECK_EQ_STR(c.chdir, "/srv");
    CHECK_EQ_STR(c.pythonpath, "/a:/b");
    CHECK_EQ_STR(c.virtualenv, "/venv");
    cfg_free(&c);
    args_free(&a);
    CHECK_EQ_INT(parse(&c, &a, ARGS("--timeout", "0", "m")), 0); /* 0 = off */
    CHECK_EQ_INT(c.app_timeout_ms, 0);
    cfg_free(&c);
    args_free(&a);
    static const char *const bad[][2] = {
        {"--threads", "-1"},     {"--threads", "1025"}, {"--threads", "x"},    {"--timeout", "-1"},
        {"--timeout", "0.0001"}, {"--timeout", "1s"},   {"--max-queue", "-3"}, {"--chdir", ""},
        {"--pythonpath", ""},    {"--virtualenv", ""},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        CHECK_MSG(parse(&c, &a, ARGS(bad[i][0], bad[i][1], "m")) == -EINVAL, bad[i][0]);
        cfg_free(&c);
        args_free(&a);
    }
}

static void test_parse_twice(void)
{
    /* getopt's state is reset each time: a failure in the middle of a first parse must not
     * leak into a second one */
    for (int round = 0; round < 3; round++) {
        struct cfg c;
        struct args a;
        parse_fails(ARGS("-b", "127.0.0.1:1", "--nope", "-b", "127.0.0.1:2"), "--nope");
        CHECK_EQ_INT(parse(&c, &a, ARGS("-b", "127.0.0.1:3", "--keep-alive", "9")), 0);
        CHECK_EQ_INT(c.nbinds, 1);
        if (c.nbinds == 1)
            CHECK_EQ_STR(c.binds[0].port, "3");
        CHECK_EQ_INT(c.keep_alive_ms, 9000);
        cfg_free(&c);
        args_free(&a);
        /* stopped inside a cluster of short options */
        parse_fails(ARGS("-hx"), NULL);
        CHECK_EQ_INT(parse(&c, &a, ARGS("-h")), 0);
        CHECK(c.help);
        CHECK_EQ_INT(c.nbinds, 1);
        cfg_free(&c);
        args_free(&a);
    }
}

static void test_parse_small_err(void)
{
    struct cfg c;
    struct args a;
    char small[8];
    args_make(&a, ARGS("--a-very-long-unknown-option-name"));
    CHECK_EQ_INT(cfg_parse(&c, a.argc, a.argv, small, sizeof small), -EINVAL);
    CHECK_EQ_INT(strlen(small), sizeof small - 1); /* truncated, terminated */
    cfg_free(&c);
    args_free(&a);
}

/* Known: the reason for an unknown short option inside a cluster names argv[0]. */
static void test_parse_err_names_option(void)
{
    struct cfg c;
    struct args a;
    CHECK_EQ_INT(parse(&c, &a, ARGS("-xh")), -EINVAL);
    CHECK_MSG(strstr(err, "-x") != NULL,
              "cfg_parse: for argv {\"httpsd\", \"-xh\"} err names argv[0] instead of the bad "
              "option (argv[optind-1] when optind has not advanced)");
    cfg_free(&c);
    args_free(&a);
}

int main(void)
{
    HARNESS_RUN(test_bind_forms);
    HARNESS_RUN(test_bind_unix);
    HARNESS_RUN(test_bind_bad);
    HARNESS_RUN(test_size);
    HARNESS_RUN(test_seconds);
    HARNESS_RUN(test_lenient_numbers);
    HARNESS_RUN(test_static);
    HARNESS_RUN(test_parse_defaults);
    HARNESS_RUN(test_parse_every_option);
    HARNESS_RUN(test_parse_log_levels);
    HARNESS_RUN(test_parse_repeated);
    HARNESS_RUN(test_parse_errors);
    HARNESS_RUN(test_parse_static_options);
    HARNESS_RUN(test_parse_bounds_ok);
    HARNESS_RUN(test_parse_flags_and_app);
    HARNESS_RUN(test_parse_twice);
    HARNESS_RUN(test_app_spec);
    HARNESS_RUN(test_parse_wsgi_options);
    HARNESS_RUN(test_parse_small_err);
    HARNESS_RUN(test_parse_err_names_option);
    return HARNESS_DONE();
}
