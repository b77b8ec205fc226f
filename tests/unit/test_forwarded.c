/* Unit tests for the forwarded-header helpers (src/forwarded.h): X-Forwarded-For,
 * X-Forwarded-Proto and RFC 7239 Forwarded behind a trusted peer, read right to left, with
 * hostile values. Single values end right before a PROT_NONE page (guarded_copy). */
#include "harness.h"
#include "forwarded.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>

#define TRUST "10.0.0.0/8,::1,unix"

static struct netmask_list trust;
static struct forwarded_client cl;

static const struct sockaddr *peer_of(const char *addr)
{
    static union {
        struct sockaddr sa;
        struct sockaddr_in in4;
        struct sockaddr_in6 in6;
    } u;
    memset(&u, 0, sizeof u);
    if (!addr) {
        u.sa.sa_family = AF_UNSPEC; /* as the server records a UNIX peer */
    } else if (inet_pton(AF_INET, addr, &u.in4.sin_addr) == 1) {
        u.in4.sin_family = AF_INET;
    } else if (inet_pton(AF_INET6, addr, &u.in6.sin6_addr) == 1) {
        u.in6.sin6_family = AF_INET6;
    } else {
        abort();
    }
    return &u.sa;
}

/* One header value, guarded, from peer. */
static int xff1(const char *peer, const char *v, size_t n)
{
    struct span s = {guarded_copy(v, n), n};
    return forwarded_xff(&trust, peer_of(peer), &s, 1, &cl);
}

static int fwd1(const char *peer, const char *v, size_t n)
{
    struct span s = {guarded_copy(v, n), n};
    return forwarded_rfc7239(&trust, peer_of(peer), &s, 1, &cl);
}

static const char *xfp1(const char *peer, const char *v, size_t n)
{
    struct span s = {guarded_copy(v, n), n};
    return forwarded_proto(&trust, peer_of(peer), &s, 1);
}

/* X-Forwarded-For v from the trusted peer 10.0.0.1 gives addr (NULL: nothing) and port. */
static void expect_xff(const char *v, const char *addr, int port)
{
    int r = xff1("10.0.0.1", v, strlen(v));
    if (!addr) {
        CHECK_MSG(r == 0, v);
        CHECK_MSG(cl.family == AF_UNSPEC && cl.addr[0] == 0 && cl.port == -1, v);
        return;
    }
    CHECK_MSG(r == FORWARDED_ADDR, v);
    CHECK_EQ_STR(cl.addr, addr);
    CHECK_EQ_INT(cl.port, port);
    CHECK(cl.proto == NULL);
    CHECK_EQ_INT(cl.family, strchr(addr, ':') ? AF_INET6 : AF_INET);
}

/* Forwarded v from 10.0.0.1 gives addr (NULL: none), port and proto (NULL: none). */
static void expect_fwd(const char *v, const char *addr, int port, const char *proto)
{
    int r = fwd1("10.0.0.1", v, strlen(v));
    int want = (addr ? FORWARDED_ADDR : 0) | (proto ? FORWARDED_PROTO : 0);
    CHECK_MSG(r == want, v);
    if (r != want)
        fprintf(stderr, "    got %d (%s port %d proto %s), want %d\n", r, cl.addr, cl.port,
                cl.proto ? cl.proto : "-", want);
    if (addr) {
        CHECK_EQ_STR(cl.addr, addr);
        CHECK_EQ_INT(cl.port, port);
    } else {
        CHECK(cl.family == AF_UNSPEC && cl.addr[0] == 0 && cl.port == -1);
    }
    if (proto)
        CHECK_EQ_STR(cl.proto, proto);
    else
        CHECK(cl.proto == NULL);
}

/* ---- X-Forwarded-For ---------------------------------------------------------------------- */

static void test_xff_walk(void)
{
    expect_xff("1.2.3.4", "1.2.3.4", -1);
    expect_xff("1.2.3.4, 10.0.0.2", "1.2.3.4", -1);          /* a trusted hop walked past */
    expect_xff("6.6.6.6, 1.2.3.4, 10.0.0.2", "1.2.3.4", -1); /* what the client wrote: not */
    expect_xff("10.9.9.9, 6.6.6.6, 1.2.3.4", "1.2.3.4", -1); /* a trusted-looking spoof */
    expect_xff("10.0.0.3, 10.0.0.2", "10.0.0.3", -1);        /* all trusted: left-most */
    expect_xff("10.0.0.3", "10.0.0.3", -1);
    expect_xff("::1, 1.2.3.4, ::1, 10.0.0.5", "1.2.3.4", -1);
    expect_xff("2001:db8::1, ::1", "2001:db8::1", -1);
    expect_xff("::ffff:10.1.1.1, 1.2.3.4", "1.2.3.4", -1); /* 1.2.3.4 is not trusted */
    expect_xff("1.2.3.4, ::ffff:10.1.1.1", "1.2.3.4", -1); /* a mapped trusted hop */
    /* nothing to go on */
    expect_xff("", NULL, 0);
    expect_xff(" ", NULL, 0);
    expect_xff(",", NULL, 0);
    expect_xff(" , ,\t,", NULL, 0);
}

static void test_xff_forms(void)
{
    expect_xff("1.2.3.4:5678", "1.2.3.4", 5678);
    expect_xff("1.2.3.4:0", "1.2.3.4", 0);
    expect_xff("1.2.3.4:65535", "1.2.3.4", 65535);
    expect_xff("[2001:db8::1]:80", "2001:db8::1", 80);
    expect_xff("[2001:db8::1]", "2001:db8::1", -1);
    expect_xff("2001:db8::1", "2001:db8::1", -1);
    expect_xff("2001:DB8:0:0::1", "2001:db8::1", -1); /* normalised */
    expect_xff("::ffff:1.2.3.4", "::ffff:1.2.3.4", -1);
    expect_xff("[::ffff:1.2.3.4]:9", "::ffff:1.2.3.4", 9);
    /* whitespace and empty items */
    expect_xff("  1.2.3.4\t,\t10.0.0.2  ", "1.2.3.4", -1);
    expect_xff("1.2.3.4,,10.0.0.2,", "1.2.3.4", -1);
    expect_xff(",1.2.3.4", "1.2.3.4", -1);
    expect_xff("1.2.3.4, ,", "1.2.3.4", -1);
}

static void test_xff_garbage(void)
{
    /* an unreadable item ends the list: the last trusted hop walked past, or nothing */
    expect_xff("1.2.3.4, garbage, 10.0.0.2", "10.0.0.2", -1);
    expect_xff("1.2.3.4, garbage, 10.0.0.2:81, 10.0.0.3", "10.0.0.2", 81);
    expect_xff("1.2.3.4, garbage", NULL, 0);
    const char *bad[] = {
        "unknown",
        "localhost",
        "01.2.3.4",
        "1.2.3.04",
        "1.2.3",
        "1.2.3.4.5",
        "256.1.1.1",
        "1.2.3.4:",
        "1.2.3.4:+1",
        "1.2.3.4:-1",
        "1.2.3.4:65536",
        "1.2.3.4:0x50",
        "1.2.3.4:80:1",
        "1.2.3.4:123456",
        "[::1",
        "::1]",
        "[::1]x",
        "[::1]:",
        "[::1]:http",
        "[1.2.3.4]",
        "[]",
        "[[::1]]",
        "fe80::1%eth0",
        "[fe80::1%25eth0]:1",
        "1.2.3.4 5.6.7.8",
        "1.2.3.4;",
        "\"1.2.3.4\"",
        "_hidden",
        "::1::2",
        "1:2:3:4:5:6:7:8:9",
        "1.2.3.4/32",
        "http://1.2.3.4",
        "0x01020304",
        "16909060",
    };
    char v[128];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        expect_xff(bad[i], NULL, 0);
        snprintf(v, sizeof v, "%s, 10.0.0.2", bad[i]);
        expect_xff(v, "10.0.0.2", -1);
        snprintf(v, sizeof v, "1.2.3.4, %s", bad[i]);
        expect_xff(v, NULL, 0);
    }
    /* NUL and control bytes inside an item: no truncation into a valid address */
    static const char nul[] = "1.2.3.4\0, 10.0.0.2";
    CHECK_EQ_INT(xff1("10.0.0.1", nul, sizeof nul - 1), FORWARDED_ADDR);
    CHECK_EQ_STR(cl.addr, "10.0.0.2");
    static const char nul2[] = "10.0.0.2, 1.2.3.4\0";
    CHECK_EQ_INT(xff1("10.0.0.1", nul2, sizeof nul2 - 1), 0);
    static const char ctl[] = "1.2.3.4\x01";
    CHECK_EQ_INT(xff1("10.0.0.1", ctl, sizeof ctl - 1), 0);
    static const char nl[] = "1.2.3.4\r\n";
    CHECK_EQ_INT(xff1("10.0.0.1", nl, sizeof nl - 1), 0);
    static const char hi[] = "1.2.3.4\xff";
    CHECK_EQ_INT(xff1("10.0.0.1", hi, sizeof hi - 1), 0);
}

static void test_xff_trust(void)
{
    /* an untrusted peer's header is not read at all */
    CHECK_EQ_INT(xff1("203.0.113.5", "1.2.3.4", 7), 0);
    CHECK(cl.family == AF_UNSPEC && cl.addr[0] == 0);
    CHECK_EQ_INT(xff1("::2", "1.2.3.4", 7), 0);
    /* peers: IPv6, IPv4-mapped, UNIX (trusted by "unix" in TRUST) */
    CHECK_EQ_INT(xff1("::1", "1.2.3.4", 7), FORWARDED_ADDR);
    CHECK_EQ_INT(xff1("::ffff:10.2.3.4", "1.2.3.4", 7), FORWARDED_ADDR);
    CHECK_EQ_INT(xff1(NULL, "1.2.3.4", 7), FORWARDED_ADDR);
    CHECK_EQ_STR(cl.addr, "1.2.3.4");
    CHECK_EQ_INT(forwarded_xff(&trust, NULL, NULL, 0, &cl), 0);
    /* a list without "unix" does not trust UNIX peers */
    struct netmask_list t2;
    char err[128];
    CHECK_EQ_INT(netmask_parse(&t2, "10.0.0.0/8", err, sizeof err), 0);
    struct span s = SPAN_LIT("1.2.3.4");
    CHECK_EQ_INT(forwarded_xff(&t2, peer_of(NULL), &s, 1, &cl), 0);
    CHECK_EQ_INT(forwarded_xff(&t2, peer_of("10.0.0.1"), &s, 1, &cl), FORWARDED_ADDR);
    netmask_deinit(&t2);
    /* "*": every hop is trusted, so the left-most one */
    CHECK_EQ_INT(netmask_parse(&t2, "*", err, sizeof err), 0);
    struct span s2 = SPAN_LIT("1.1.1.1, 2.2.2.2, 3.3.3.3");
    CHECK_EQ_INT(forwarded_xff(&t2, peer_of("8.8.8.8"), &s2, 1, &cl), FORWARDED_ADDR);
    CHECK_EQ_STR(cl.addr, "1.1.1.1");
    netmask_deinit(&t2);
    /* the empty list: nothing */
    CHECK_EQ_INT(netmask_parse(&t2, "", err, sizeof err), 0);
    CHECK_EQ_INT(forwarded_xff(&t2, peer_of("127.0.0.1"), &s2, 1, &cl), 0);
    netmask_deinit(&t2);
}

static void test_xff_values(void)
{
    /* several field lines: one list, in order; an item never spans two lines */
    struct span v[3];
    v[0] = SPAN_LIT("6.6.6.6");
    v[1] = SPAN_LIT("1.2.3.4, 10.0.0.2");
    CHECK_EQ_INT(forwarded_xff(&trust, peer_of("10.0.0.1"), v, 2, &cl), FORWARDED_ADDR);
    CHECK_EQ_STR(cl.addr, "1.2.3.4");
    v[0] = SPAN_LIT("1.2.3.4");
    v[1] = SPAN_LIT("10.0.0.2");
    v[2] = SPAN_LIT("");
    CHECK_EQ_INT(forwarded_xff(&trust, peer_of("10.0.0.1"), v, 3, &cl), FORWARDED_ADDR);
    CHECK_EQ_STR(cl.addr, "1.2.3.4");
    v[2] = (struct span){NULL, 0};
    CHECK_EQ_INT(forwarded_xff(&trust, peer_of("10.0.0.1"), v, 3, &cl), FORWARDED_ADDR);
    CHECK_EQ_STR(cl.addr, "1.2.3.4");
    v[0] = SPAN_LIT("1.2.3");
    v[1] = SPAN_LIT(".4");
    CHECK_EQ_INT(forwarded_xff(&trust, peer_of("10.0.0.1"), v, 2, &cl), 0);
    v[0] = SPAN_LIT("10.0.0.7");
    v[1] = SPAN_LIT("10.0.0.8");
    CHECK_EQ_INT(forwarded_xff(&trust, peer_of("10.0.0.1"), v, 2, &cl), FORWARDED_ADDR);
    CHECK_EQ_STR(cl.addr, "10.0.0.7");
}

static void test_xff_hostile(void)
{
    /* 1,000 trusted hops after the client, and 1,000 spoofed ones before it */
    size_t cap = 64 * 1024, n = 0;
    char *v = malloc(cap);
    for (int i = 0; i < 1000; i++)
        n += (size_t)snprintf(v + n, cap - n, "%d.%d.%d.%d, ", 1 + i % 200, i % 256, 7, 7);
    n += (size_t)snprintf(v + n, cap - n, "198.51.100.1:4242");
    for (int i = 0; i < 1000; i++)
        n += (size_t)snprintf(v + n, cap - n, ", 10.%d.%d.1", i / 256, i % 256);
    CHECK_EQ_INT(xff1("10.0.0.1", v, n), FORWARDED_ADDR);
    CHECK_EQ_STR(cl.addr, "198.51.100.1");
    CHECK_EQ_INT(cl.port, 4242);
    /* 1,000 trusted hops and nothing else: the left-most */
    n = 0;
    for (int i = 0; i < 1000; i++)
        n += (size_t)snprintf(v + n, cap - n, "%s10.%d.%d.9", i ? "," : "", i / 256, i % 256);
    CHECK_EQ_INT(xff1("10.0.0.1", v, n), FORWARDED_ADDR);
    CHECK_EQ_STR(cl.addr, "10.0.0.9");
    /* a very long item, very many commas, a very long run of spaces */
    memset(v, '1', cap);
    CHECK_EQ_INT(xff1("10.0.0.1", v, cap), 0);
    memset(v, ',', cap);
    CHECK_EQ_INT(xff1("10.0.0.1", v, cap), 0);
    memset(v, ' ', cap);
    memcpy(v + cap / 2, "1.2.3.4", 7);
    CHECK_EQ_INT(xff1("10.0.0.1", v, cap), FORWARDED_ADDR);
    CHECK_EQ_STR(cl.addr, "1.2.3.4");
    memset(v, ':', cap);
    CHECK_EQ_INT(xff1("10.0.0.1", v, cap), 0);
    memset(v, '[', cap);
    CHECK_EQ_INT(xff1("10.0.0.1", v, cap), 0);
    free(v);
}

/* ---- X-Forwarded-Proto -------------------------------------------------------------------- */

static void test_xfp(void)
{
    CHECK_EQ_STR(xfp1("10.0.0.1", "https", 5), "https");
    CHECK_EQ_STR(xfp1("10.0.0.1", "HTTPS", 5), "https");
    CHECK_EQ_STR(xfp1("10.0.0.1", "http", 4), "http");
    CHECK_EQ_STR(xfp1("10.0.0.1", "Http", 4), "http");
    CHECK_EQ_STR(xfp1("10.0.0.1", " https\t", 7), "https");
    CHECK_EQ_STR(xfp1("10.0.0.1", "http, https", 11), "https"); /* the nearest proxy's */
    CHECK_EQ_STR(xfp1("10.0.0.1", "https, http", 11), "http");
    CHECK_EQ_STR(xfp1("10.0.0.1", "https,", 6), "https");
    CHECK(xfp1("10.0.0.1", "", 0) == NULL);
    CHECK(xfp1("10.0.0.1", " , ", 3) == NULL);
    CHECK(xfp1("10.0.0.1", "ftp", 3) == NULL);
    CHECK(xfp1("10.0.0.1", "wss", 3) == NULL);
    CHECK(xfp1("10.0.0.1", "https:", 6) == NULL);
    CHECK(xfp1("10.0.0.1", "httpss", 6) == NULL);
    CHECK(xfp1("10.0.0.1", "\"https\"", 7) == NULL);
    CHECK(xfp1("10.0.0.1", "https\0", 6) == NULL);
    CHECK(xfp1("10.0.0.1", "http s", 6) == NULL);
    CHECK(xfp1("10.0.0.1", "https, ftp", 10) == NULL); /* the right-most decides */
    /* untrusted peer: never */
    CHECK(xfp1("203.0.113.5", "https", 5) == NULL);
    CHECK(forwarded_proto(&trust, NULL, NULL, 0) == NULL);
    struct span v[2] = {SPAN_LIT("http"), SPAN_LIT("https")};
    CHECK_EQ_STR(forwarded_proto(&trust, peer_of("10.0.0.1"), v, 2), "https");
    v[1] = SPAN_LIT("");
    CHECK_EQ_STR(forwarded_proto(&trust, peer_of("10.0.0.1"), v, 2), "http");
}

/* ---- Forwarded ---------------------------------------------------------------------------- */

static void test_fwd_rfc_examples(void)
{
    /* RFC 7239 §4 and §7 examples */
    expect_fwd("for=\"_gazonk\"", NULL, 0, NULL);
    expect_fwd("For=\"[2001:db8:cafe::17]:4711\"", "2001:db8:cafe::17", 4711, NULL);
    expect_fwd("for=192.0.2.60;proto=http;by=203.0.113.43", "192.0.2.60", -1, "http");
    expect_fwd("for=192.0.2.43, for=198.51.100.17", "198.51.100.17", -1, NULL);
    expect_fwd("for=192.0.2.43,for=\"[2001:db8:cafe::17]\",for=unknown", NULL, 0, NULL);
    expect_fwd("for=192.0.2.43, for=\"[2001:db8:cafe::17]\"", "2001:db8:cafe::17", -1, NULL);
    expect_fwd("for=unknown", NULL, 0, NULL);
    expect_fwd("for=192.0.2.43;host=example.com;proto=https", "192.0.2.43", -1, "https");
}

static void test_fwd_walk(void)
{
    expect_fwd("for=1.2.3.4;proto=https, for=10.0.0.2;proto=http", "1.2.3.4", -1, "https");
    expect_fwd("for=6.6.6.6;proto=http, for=1.2.3.4;proto=https, for=10.0.0.2", "1.2.3.4", -1,
               "https");
    /* all trusted: the left-most, with its proto */
    expect_fwd("for=10.0.0.3;proto=https, for=10.0.0.2;proto=http", "10.0.0.3", -1, "https");
    expect_fwd("for=\"[::1]\"", "::1", -1, NULL);
    /* hidden or unnamed client hop: its proto counts, the address is the last trusted hop */
    expect_fwd("for=unknown, for=10.0.0.2;proto=http", "10.0.0.2", -1, NULL);
    expect_fwd("for=_hidden;proto=https, for=10.0.0.2;proto=http", "10.0.0.2", -1, "https");
    expect_fwd("for=_hidden;proto=https", NULL, 0, "https");
    expect_fwd("for=UNKNOWN;proto=https", NULL, 0, "https");
    expect_fwd("proto=https", NULL, 0, "https");
    expect_fwd("proto=https;host=example.com, for=10.0.0.2", "10.0.0.2", -1, "https");
    expect_fwd("by=10.0.0.1", NULL, 0, NULL);
    expect_fwd(";", NULL, 0, NULL);
    /* empty elements and pairs are skipped */
    expect_fwd(", for=1.2.3.4 ,, ", "1.2.3.4", -1, NULL);
    expect_fwd("for=1.2.3.4;", "1.2.3.4", -1, NULL);
    expect_fwd(";;for=1.2.3.4;;proto=https;", "1.2.3.4", -1, "https");
    expect_fwd("", NULL, 0, NULL);
    expect_fwd(" , ", NULL, 0, NULL);
}

static void test_fwd_forms(void)
{
    expect_fwd("for=\"1.2.3.4:5678\"", "1.2.3.4", 5678, NULL);
    expect_fwd("for=\"1.2.3.4:_obf\"", "1.2.3.4", -1, NULL);
    expect_fwd("for=\"[2001:db8::1]:_p-1.x\"", "2001:db8::1", -1, NULL);
    expect_fwd("for=\"[2001:DB8::0:1]\"", "2001:db8::1", -1, NULL);
    expect_fwd("for=\"unknown:1234\";proto=https", NULL, 0, "https");
    expect_fwd("for=\"_x:1234\";proto=http", NULL, 0, "http");
    expect_fwd("FOR=1.2.3.4;PROTO=HTTPS", "1.2.3.4", -1, "https");
    expect_fwd("for=1.2.3.4;proto=\"https\"", "1.2.3.4", -1, "https");
    expect_fwd("for=\"\\1.2.3.4\"", "1.2.3.4", -1, NULL); /* a quoted-pair is its byte */
    expect_fwd("for=1.2.3.4;proto=wss", "1.2.3.4", -1, NULL);
    expect_fwd("for=1.2.3.4;proto=ftp", "1.2.3.4", -1, NULL);
    expect_fwd("for=1.2.3.4;secret=xyz;ext=\"a;b,c\"", "1.2.3.4", -1, NULL);
    expect_fwd("for=1.2.3.4 ; proto=https", "1.2.3.4", -1, "https"); /* OWS around ';' */
    expect_fwd("\tfor=1.2.3.4\t", "1.2.3.4", -1, NULL);
    expect_fwd("for=1.2.3.4;host=\"\xc3\xa9.example\"", "1.2.3.4", -1, NULL); /* obs-text */
    /* a comma or an escaped quote inside a quoted-string does not split the element */
    expect_fwd("for=5.6.7.8;host=\"a,b\", for=10.0.0.2", "5.6.7.8", -1, NULL);
    expect_fwd("for=5.6.7.8;host=\"a\\\",b\", for=10.0.0.2", "5.6.7.8", -1, NULL);
    expect_fwd("for=5.6.7.8;host=\"a\\\\\",for=10.0.0.2", "5.6.7.8", -1, NULL);
    expect_fwd("for=5.6.7.8;host=\"\\\\\\\",\\\\\", for=10.0.0.2", "5.6.7.8", -1, NULL);
}

static void test_fwd_unreadable(void)
{
    /* each is unreadable on its own (nothing), ends the walk after a trusted hop (that hop),
     * and is never reached behind an untrusted one */
    const char *bad[] = {
        "for=1.2.3.4:5678",    /* ':' is no tchar: must be quoted */
        "for=[2001:db8::1]",   /* brackets must be quoted */
        "for=\"2001:db8::1\"", /* IPv6 needs brackets */
        "for=\"[1.2.3.4]\"",
        "for=\"1.2.3.4:65536\"",
        "for=\"1.2.3.4:\"",
        "for=\"1.2.3.4:_\"", /* obfport needs a character after '_' */
        "for=\"_\"",
        "for=\"_a b\"",
        "for=\"_a:1:2\"",
        "for=01.2.3.4",
        "for=localhost",
        "for=\"\"",
        "for=",
        "for",
        "=1.2.3.4",
        "for = 1.2.3.4",           /* no OWS around '=' */
        "for=1.2.3.4 proto=https", /* pairs need ';' */
        "for=1.2.3.4;for=5.6.7.8", /* a parameter twice (§4) */
        "for=1.2.3.4;proto=http;Proto=https",
        "for=1.2.3.4;by=a;BY=b",
        "for=1.2.3.4;host=a;host=b",
        "for=\"1.2.3.4", /* unbalanced quotes */
        "for=1.2.3.4\"",
        "\"for=1.2.3.4",
        "for=\"1.2.3.4\\\"",
        "for=\"1.2.3.4\"x",
        "for=1.2.3.4\x01",
        "for=\"1.2.3.4\x01\"",
        "for=\"1.2.3.4\x7f\"",
        "for=\"1.2.3.4\\\x01\"",
        "for=1.2.3.4\r\n",
        "for=(1.2.3.4)",
        "for=1.2.3.4\xff",
    };
    char v[256];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        expect_fwd(bad[i], NULL, 0, NULL);
        snprintf(v, sizeof v, "%s, for=10.0.0.2;proto=https", bad[i]);
        expect_fwd(v, "10.0.0.2", -1, "https");
        snprintf(v, sizeof v, "for=9.9.9.9, %s", bad[i]);
        expect_fwd(v, NULL, 0, NULL);
        snprintf(v, sizeof v, "%s, for=9.9.9.9;proto=http", bad[i]);
        expect_fwd(v, "9.9.9.9", -1, "http");
    }
    /* a NUL in a value */
    static const char nul[] = "for=\"1.2.3.4\0\", for=10.0.0.2";
    CHECK_EQ_INT(fwd1("10.0.0.1", nul, sizeof nul - 1), FORWARDED_ADDR);
    CHECK_EQ_STR(cl.addr, "10.0.0.2");
    static const char nul2[] = "for=1.2.3.4\0";
    CHECK_EQ_INT(fwd1("10.0.0.1", nul2, sizeof nul2 - 1), 0);
    /* a client's unbalanced quote cannot swallow what the proxy appended */
    expect_fwd("for=\"6.6.6.6, for=1.2.3.4", "1.2.3.4", -1, NULL);
    expect_fwd("\", for=10.0.0.2;proto=https", "10.0.0.2", -1, "https");
    expect_fwd("for=\"6.6.6.6\\\", for=10.0.0.2", "10.0.0.2", -1, NULL);
}

static void test_fwd_trust_values(void)
{
    CHECK_EQ_INT(fwd1("203.0.113.5", "for=1.2.3.4;proto=https", 23), 0);
    CHECK(cl.family == AF_UNSPEC && cl.proto == NULL);
    CHECK_EQ_INT(fwd1(NULL, "for=1.2.3.4;proto=https", 23), FORWARDED_ADDR | FORWARDED_PROTO);
    struct span v[3] = {SPAN_LIT("for=6.6.6.6"), SPAN_LIT("for=1.2.3.4;proto=https"),
                        SPAN_LIT("for=10.0.0.2")};
    CHECK_EQ_INT(forwarded_rfc7239(&trust, peer_of("::1"), v, 3, &cl),
                 FORWARDED_ADDR | FORWARDED_PROTO);
    CHECK_EQ_STR(cl.addr, "1.2.3.4");
    CHECK_EQ_STR(cl.proto, "https");
    /* a quoted-string does not continue into the next field line */
    v[1] = SPAN_LIT("for=\"1.2.3.4");
    v[2] = SPAN_LIT("\"");
    CHECK_EQ_INT(forwarded_rfc7239(&trust, peer_of("10.0.0.1"), v, 3, &cl), 0);
    v[1] = SPAN_LIT("for=10.0.0.5");
    v[2] = (struct span){NULL, 0};
    CHECK_EQ_INT(forwarded_rfc7239(&trust, peer_of("10.0.0.1"), v, 3, &cl), FORWARDED_ADDR);
    CHECK_EQ_STR(cl.addr, "6.6.6.6");
    CHECK_EQ_INT(forwarded_rfc7239(&trust, peer_of("10.0.0.1"), NULL, 0, &cl), 0);
}

static void test_fwd_hostile(void)
{
    size_t cap = 128 * 1024, n = 0;
    char *v = malloc(cap);
    /* 1,000 hops each way around the client */
    for (int i = 0; i < 1000; i++)
        n += (size_t)snprintf(v + n, cap - n, "for=%d.1.1.1;proto=http, ", 1 + i % 200);
    n += (size_t)snprintf(v + n, cap - n, "for=\"[2001:db8::42]:443\";proto=https");
    for (int i = 0; i < 1000; i++)
        n += (size_t)snprintf(v + n, cap - n, ", for=10.%d.%d.1;by=\"_p\"", i / 256, i % 256);
    CHECK_EQ_INT(fwd1("10.0.0.1", v, n), FORWARDED_ADDR | FORWARDED_PROTO);
    CHECK_EQ_STR(cl.addr, "2001:db8::42");
    CHECK_EQ_INT(cl.port, 443);
    CHECK_EQ_STR(cl.proto, "https");
    /* a value longer than anything readable */
    memcpy(v, "for=\"", 5);
    memset(v + 5, 'a', cap - 6);
    v[cap - 1] = '"';
    CHECK_EQ_INT(fwd1("10.0.0.1", v, cap), 0);
    memcpy(v, "for=", 4);
    memset(v + 4, '1', cap - 4);
    CHECK_EQ_INT(fwd1("10.0.0.1", v, cap), 0);
    /* quotes, backslashes, commas, semicolons by the thousand */
    const char fill[] = {'"', '\\', ',', ';', '=', ' '};
    for (size_t f = 0; f < sizeof fill; f++) {
        memset(v, fill[f], cap);
        CHECK_EQ_INT(fwd1("10.0.0.1", v, cap), 0);
    }
    for (size_t i = 0; i < cap; i++)
        v[i] = "\\\""[i % 2];
    CHECK_EQ_INT(fwd1("10.0.0.1", v, cap), 0);
    for (size_t i = 0; i < cap; i++)
        v[i] = "\",;=\\"[i % 5];
    CHECK_EQ_INT(fwd1("10.0.0.1", v, cap), 0);
    free(v);
}

int main(void)
{
    char err[128];
    if (netmask_parse(&trust, TRUST, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    HARNESS_RUN(test_xff_walk);
    HARNESS_RUN(test_xff_forms);
    HARNESS_RUN(test_xff_garbage);
    HARNESS_RUN(test_xff_trust);
    HARNESS_RUN(test_xff_values);
    HARNESS_RUN(test_xff_hostile);
    HARNESS_RUN(test_xfp);
    HARNESS_RUN(test_fwd_rfc_examples);
    HARNESS_RUN(test_fwd_walk);
    HARNESS_RUN(test_fwd_forms);
    HARNESS_RUN(test_fwd_unreadable);
    HARNESS_RUN(test_fwd_trust_values);
    HARNESS_RUN(test_fwd_hostile);
    netmask_deinit(&trust);
    return HARNESS_DONE();
}
