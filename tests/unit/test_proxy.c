/* Unit tests for the PROXY protocol parser (src/proxy.h): every valid form of versions 1 and 2,
 * each fed cut at every length (0 = "more" until the last byte), refused forms with the code
 * they get, and bytes after the header left alone. Inputs end right before a PROT_NONE page
 * (guarded_copy), so a read past n faults. */
#include "harness.h"
#include "proxy.h"

#include <arpa/inet.h>
#include <string.h>

/* ---- helpers ------------------------------------------------------------------------------ */

static int parse_n(const void *h, size_t n, struct proxy_info *out)
{
    return proxy_parse(guarded_copy(h, n), n, out);
}

/* Every cut of h[0..n) shorter than known_at parses as "more", every other one as want (the
 * length for a valid header, or an error): the verdict comes as soon as the bytes decide it,
 * and never changes. */
static void expect_cuts(const void *h, size_t n, size_t known_at, int want, const char *what)
{
    struct proxy_info info;
    for (size_t k = 0; k <= n; k++) {
        int r = parse_n(h, k, &info);
        int expect = k < known_at ? 0 : want;
        if (r != expect) {
            CHECK_MSG(r == expect, what);
            fprintf(stderr, "    at cut %zu of %zu: got %d, want %d\n", k, n, r, expect);
            return;
        }
    }
}

/* A valid header: "more" at every cut, its length when whole, and the same length with
 * payload after it. Fills *info from the whole header. */
static void expect_valid(const void *h, size_t n, struct proxy_info *info, const char *what)
{
    expect_cuts(h, n, n, (int)n, what);
    unsigned char buf[8192];
    memcpy(buf, h, n);
    memcpy(buf + n, "GET / HTTP/1.1\r\n\r\n", 18);
    CHECK_EQ_INT(parse_n(buf, n + 18, info), (int)n);
    memset(info, 0xa5, sizeof *info);
    CHECK_EQ_INT(parse_n(h, n, info), (int)n);
}

static void expect_v1(const char *line, struct proxy_info *info)
{
    expect_valid(line, strlen(line), info, line);
    CHECK_EQ_INT(info->version, 1);
}

/* A refused v1 line: whole, and with payload after it, it gets err. */
static void expect_v1_err(const char *line, int err)
{
    struct proxy_info info;
    size_t n = strlen(line);
    int r = parse_n(line, n, &info);
    CHECK_MSG(r == err, line);
    if (r != err)
        fprintf(stderr, "    got %d, want %d\n", r, err);
    char buf[512];
    snprintf(buf, sizeof buf, "%sGET / HTTP/1.1\r\n", line);
    CHECK_EQ_INT(parse_n(buf, strlen(buf), &info), err);
}

static const char *ntop(const union proxy_addr *a, char *buf)
{
    if (a->sa.sa_family == AF_INET)
        return inet_ntop(AF_INET, &a->in4.sin_addr, buf, INET6_ADDRSTRLEN);
    if (a->sa.sa_family == AF_INET6)
        return inet_ntop(AF_INET6, &a->in6.sin6_addr, buf, INET6_ADDRSTRLEN);
    return "?";
}

static void check_addrs(const struct proxy_info *info, int family, const char *src, unsigned sport,
                        const char *dst, unsigned dport)
{
    char b[INET6_ADDRSTRLEN];
    CHECK_EQ_INT(info->local, 0);
    CHECK_EQ_INT(info->family, family);
    CHECK_EQ_INT(info->src.sa.sa_family, family);
    CHECK_EQ_INT(info->dst.sa.sa_family, family);
    CHECK_EQ_STR(ntop(&info->src, b), src);
    CHECK_EQ_STR(ntop(&info->dst, b), dst);
    CHECK_EQ_INT(info->src_port, sport);
    CHECK_EQ_INT(info->dst_port, dport);
    in_port_t sp = family == AF_INET ? info->src.in4.sin_port : info->src.in6.sin6_port;
    in_port_t dp = family == AF_INET ? info->dst.in4.sin_port : info->dst.in6.sin6_port;
    CHECK_EQ_INT(ntohs(sp), sport);
    CHECK_EQ_INT(ntohs(dp), dport);
}

/* A v2 header under construction. */
struct hb {
    unsigned char b[70000];
    size_t n;
};

static struct hb hb; /* big: static */

static void hb_start(unsigned ver_cmd, unsigned fam)
{
    memcpy(hb.b, PROXY_V2_SIG, 12);
    hb.b[12] = (unsigned char)ver_cmd;
    hb.b[13] = (unsigned char)fam;
    hb.b[14] = hb.b[15] = 0;
    hb.n = 16;
}

static void hb_put(const void *p, size_t n)
{
    memcpy(hb.b + hb.n, p, n);
    hb.n += n;
}

static void hb_u16(unsigned v)
{
    unsigned char b[2] = {(unsigned char)(v >> 8), (unsigned char)v};
    hb_put(b, 2);
}

/* Append a TLV; returns the offset of its value. */
static size_t hb_tlv(unsigned type, const void *v, size_t len)
{
    unsigned char t = (unsigned char)type;
    hb_put(&t, 1);
    hb_u16((unsigned)len);
    size_t off = hb.n;
    if (len)
        hb_put(v, len);
    return off;
}

/* Set the length field from what was appended. */
static void hb_end(void)
{
    hb.b[14] = (unsigned char)((hb.n - 16) >> 8);
    hb.b[15] = (unsigned char)(hb.n - 16);
}

static void hb_tcp4(const char *src, const char *dst, unsigned sport, unsigned dport)
{
    struct in_addr a;
    hb_start(0x21, 0x11);
    inet_pton(AF_INET, src, &a);
    hb_put(&a, 4);
    inet_pton(AF_INET, dst, &a);
    hb_put(&a, 4);
    hb_u16(sport);
    hb_u16(dport);
}

static void hb_tcp6(const char *src, const char *dst, unsigned sport, unsigned dport)
{
    struct in6_addr a;
    hb_start(0x21, 0x21);
    inet_pton(AF_INET6, src, &a);
    hb_put(&a, 16);
    inet_pton(AF_INET6, dst, &a);
    hb_put(&a, 16);
    hb_u16(sport);
    hb_u16(dport);
}

/* CRC-32C bit by bit, independent of proxy.c's table. */
static uint32_t crc32c_ref(const unsigned char *p, size_t n)
{
    uint32_t crc = 0xffffffff;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int b = 0; b < 8; b++)
            crc = crc & 1 ? (crc >> 1) ^ 0x82f63b78 : crc >> 1;
    }
    return crc ^ 0xffffffff;
}

/* Fill the CRC32C value at off (after hb_end), as a sender does: over the header with it 0. */
static void hb_crc(size_t off)
{
    memset(hb.b + off, 0, 4);
    uint32_t c = crc32c_ref(hb.b, hb.n);
    hb.b[off] = (unsigned char)(c >> 24);
    hb.b[off + 1] = (unsigned char)(c >> 16);
    hb.b[off + 2] = (unsigned char)(c >> 8);
    hb.b[off + 3] = (unsigned char)c;
}

/* ---- version 1 ---------------------------------------------------------------------------- */

static void test_v1_valid(void)
{
    struct proxy_info info;
    expect_v1("PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n", &info);
    check_addrs(&info, AF_INET, "192.168.0.1", 56324, "192.168.0.11", 443);
    expect_v1("PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n", &info);
    check_addrs(&info, AF_INET, "255.255.255.255", 65535, "255.255.255.255", 65535);
    expect_v1("PROXY TCP4 0.0.0.0 10.0.0.1 0 0\r\n", &info);
    check_addrs(&info, AF_INET, "0.0.0.0", 0, "10.0.0.1", 0);
    expect_v1("PROXY TCP6 2001:db8::1 2001:DB8::2 1 80\r\n", &info);
    check_addrs(&info, AF_INET6, "2001:db8::1", 1, "2001:db8::2", 80);
    expect_v1("PROXY TCP6 ::ffff:10.1.2.3 ::1 1234 443\r\n", &info);
    check_addrs(&info, AF_INET6, "::ffff:10.1.2.3", 1234, "::1", 443);
    /* the spec's longest TCP6 line (104 bytes) */
    expect_v1("PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
              "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n",
              &info);
    CHECK_EQ_INT(info.family, AF_INET6);
    /* UNKNOWN: no client; whatever follows on the line is ignored */
    expect_v1("PROXY UNKNOWN\r\n", &info);
    CHECK(info.local && info.family == AF_UNSPEC);
    expect_v1("PROXY UNKNOWN 1.2.3.4 5.6.7.8 1 2\r\n", &info);
    CHECK(info.local && info.family == AF_UNSPEC);
    expect_v1("PROXY UNKNOWN anything, even  two spaces!\r\n", &info);
    CHECK(info.local);
    expect_v1("PROXY UNKNOWN \r\n", &info);
    CHECK(info.local);
}

static void test_v1_longest(void)
{
    /* the spec's worst case is exactly 107 bytes: taken; one more byte: too long */
    char line[200];
    snprintf(line, sizeof line, "PROXY UNKNOWN %s %s 65535 65535\r\n",
             "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
    CHECK_EQ_INT(strlen(line), PROXY_V1_MAX);
    struct proxy_info info;
    expect_v1(line, &info);
    CHECK(info.local);
    snprintf(line, sizeof line, "PROXY UNKNOWN %s %s 65535 655350\r\n",
             "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
    CHECK_EQ_INT(strlen(line), PROXY_V1_MAX + 1);
    /* "more" until 107 bytes without a CRLF, then too long, whatever follows */
    expect_cuts(line, strlen(line), PROXY_V1_MAX, PROXY_ETOOLONG, "108-byte line");
    /* a line that never ends */
    memset(line, 'x', sizeof line);
    memcpy(line, "PROXY UNKNOWN ", 14);
    expect_cuts(line, sizeof line, PROXY_V1_MAX, PROXY_ETOOLONG, "endless line");
    /* an endless TCP4 line is malformed before it is too long */
    snprintf(line, sizeof line, "PROXY TCP4 1.2.3.4 5.6.7.8 1 2%0*d", 100, 0);
    expect_cuts(line, strlen(line), strlen("PROXY TCP4 1.2.3.4 5.6.7.8 1 200000"), PROXY_EMALFORMED,
                "long TCP4 port");
}

static void test_v1_malformed(void)
{
    const int M = PROXY_EMALFORMED;
    /* spacing: exactly one space between fields, none at the end */
    expect_v1_err("PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n", M);
    expect_v1_err("PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n", M);
    expect_v1_err("PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n", M);
    expect_v1_err("PROXY TCP4 1.2.3.4 5.6.7.8 1  2\r\n", M);
    expect_v1_err("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n", M);
    expect_v1_err("PROXY TCP4\t1.2.3.4 5.6.7.8 1 2\r\n", M);
    /* case, protocol names */
    expect_v1_err("PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n", M);
    expect_v1_err("PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n", M);
    expect_v1_err("PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n", M);
    expect_v1_err("PROXY unknown\r\n", M);
    expect_v1_err("PROXY UNKNOWNX\r\n", M);
    expect_v1_err("PROXY \r\n", M);
    expect_v1_err("PROXY TCP4\r\n", M);
    expect_v1_err("PROXY TCP4 \r\n", M);
    /* line ends: CRLF only */
    expect_v1_err("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", M);
    expect_v1_err("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX", M);
    expect_v1_err("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\r\n", M);
    expect_v1_err("PROXY UNKNOWN\n", M);
    expect_v1_err("PROXY UNKNOWN\n\r\n", M);
    expect_v1_err("PROXY UNKNOWN x\ry\r\n", M);
    /* UNKNOWN's rest of line is text */
    expect_v1_err("PROXY UNKNOWN \x01\r\n", M);
    expect_v1_err("PROXY UNKNOWN \x7f\r\n", M);
    expect_v1_err("PROXY UNKNOWN \xc3\xa9\r\n", M);
    /* missing or extra fields */
    expect_v1_err("PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", M);
    expect_v1_err("PROXY TCP4 1.2.3.4 5.6.7.8\r\n", M);
    expect_v1_err("PROXY TCP4 1.2.3.4\r\n", M);
    expect_v1_err("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n", M);
    /* ports */
    expect_v1_err("PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n", M);
    expect_v1_err("PROXY TCP4 1.2.3.4 5.6.7.8 1 99999\r\n", M);
    expect_v1_err("PROXY TCP4 1.2.3.4 5.6.7.8 1 4294967297\r\n", M);
    expect_v1_err("PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n", M);
    expect_v1_err("PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n", M);
    expect_v1_err("PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n", M);
    expect_v1_err("PROXY TCP4 1.2.3.4 5.6.7.8 00 2\r\n", M);
    expect_v1_err("PROXY TCP4 1.2.3.4 5.6.7.8 0x1 2\r\n", M);
    expect_v1_err("PROXY TCP4 1.2.3.4 5.6.7.8 1 2a\r\n", M);
    /* IPv4 addresses, strictly */
    expect_v1_err("PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n", M);
    expect_v1_err("PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n", M);
    expect_v1_err("PROXY TCP4 1.2.3.04 5.6.7.8 1 2\r\n", M);
    expect_v1_err("PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n", M);
    expect_v1_err("PROXY TCP4 1.2.3.4.5 5.6.7.8 1 2\r\n", M);
    expect_v1_err("PROXY TCP4 1..3.4 5.6.7.8 1 2\r\n", M);
    expect_v1_err("PROXY TCP4 .1.2.3 5.6.7.8 1 2\r\n", M);
    expect_v1_err("PROXY TCP4 1.2.3.4. 5.6.7.8 1 2\r\n", M);
    expect_v1_err("PROXY TCP4 1.2.3.4 5.6.7.8x 1 2\r\n", M);
    expect_v1_err("PROXY TCP4 localhost 5.6.7.8 1 2\r\n", M);
    expect_v1_err("PROXY TCP4 1.2.3.4 1111.6.7.8 1 2\r\n", M);
    /* the family and the addresses must agree */
    expect_v1_err("PROXY TCP4 1.2.3.4 ::1 1 2\r\n", M);
    expect_v1_err("PROXY TCP4 ::1 1.2.3.4 1 2\r\n", M);
    expect_v1_err("PROXY TCP6 1.2.3.4 ::1 1 2\r\n", M);
    expect_v1_err("PROXY TCP6 ::1 1.2.3.4 1 2\r\n", M);
    /* IPv6 addresses */
    expect_v1_err("PROXY TCP6 ::1::2 ::1 1 2\r\n", M);
    expect_v1_err("PROXY TCP6 ::: ::1 1 2\r\n", M);
    expect_v1_err("PROXY TCP6 1:2:3:4:5:6:7:8:9 ::1 1 2\r\n", M);
    expect_v1_err("PROXY TCP6 [::1] ::1 1 2\r\n", M);
    expect_v1_err("PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n", M);
    expect_v1_err("PROXY TCP6 12345::1 ::1 1 2\r\n", M);
    expect_v1_err("PROXY TCP6 ::ffff:01.2.3.4 ::1 1 2\r\n", M);
    /* bytes that belong nowhere in the line */
    static const char nul[] = "PROXY TCP4 1.2.3.4\0005.6.7.8 1 2\r\n";
    struct proxy_info info;
    CHECK_EQ_INT(parse_n(nul, sizeof nul - 1, &info), M);
}

static void test_v1_early(void)
{
    /* a line that can no longer become valid is refused before its CRLF comes */
    struct proxy_info info;
    static const struct {
        const char *in;
        int r;
    } cases[] = {
        {"PROXY TCP4 1.2.3.4 5.6.7.8 1 2", 0},
        {"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r", 0},
        {"PROXY TCP4 1.2.3.4 5.6.7.8 1\r", PROXY_EMALFORMED}, /* the CR ends a short line */
        {"PROXY UNKNOWN\r", 0},
        {"PROXY TCP4 1.2.3.4 5.6.7.8 1", 0},
        {"PROXY TCP4 1.2.3.4 5.6.7.8 ", 0},
        {"PROXY TCP4 1.2.3.4 5.6.7", 0},
        {"PROXY TCP4 1.2.3.4  ", PROXY_EMALFORMED},
        {"PROXY TCP4 1.2.3.", 0},
        {"PROXY TCP4 1.2.3.4 ", 0},
        {"PROXY TCP4 1.2.3.45", 0},
        {"PROXY TCP4 1.2.3.456", PROXY_EMALFORMED},
        {"PROXY TCP4 1.2.3.4.", PROXY_EMALFORMED},
        {"PROXY TCP4 1.2..", PROXY_EMALFORMED},
        {"PROXY TCP4 0", 0},
        {"PROXY TCP4 00", PROXY_EMALFORMED},
        {"PROXY TCP4 1.2.3.4 5.6.7.8 6553", 0},
        {"PROXY TCP4 1.2.3.4 5.6.7.8 65536", PROXY_EMALFORMED},
        {"PROXY TCP4 1.2.3.4 5.6.7.8 0", 0},
        {"PROXY TCP4 1.2.3.4 5.6.7.8 01", PROXY_EMALFORMED},
        {"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 ", PROXY_EMALFORMED},
        {"PROXY TCP4 1.2.3.4 ::", PROXY_EMALFORMED},
        {"PROXY TCP6 ::", 0},
        {"PROXY TCP6 ::1 :::", PROXY_EMALFORMED},
        {"PROXY TCP6 ::g", PROXY_EMALFORMED},
        {"PROXY TCP", 0},
        {"PROXY TCP7", PROXY_EMALFORMED},
        {"PROXY UNK", 0},
        {"PROXY UNKNOWN ", 0},
        {"PROXY UNKNOWN \x01", PROXY_EMALFORMED},
        {"PROXY UNKNOWNN", PROXY_EMALFORMED},
        {"PROXY t", PROXY_EMALFORMED},
        {"PROXY ", 0},
        {"PROXY", 0},
        {"PROX", 0},
        {"P", 0},
        {"PROXy", PROXY_ENOTPROXY},
        {"PROXY\t", PROXY_ENOTPROXY},
        {"PROXY\r\n", PROXY_ENOTPROXY},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int r = parse_n(cases[i].in, strlen(cases[i].in), &info);
        CHECK_MSG(r == cases[i].r, cases[i].in);
        if (r != cases[i].r)
            fprintf(stderr, "    got %d, want %d\n", r, cases[i].r);
    }
}

/* ---- neither ------------------------------------------------------------------------------ */

static void test_not_proxy(void)
{
    struct proxy_info info;
    CHECK_EQ_INT(parse_n("", 0, &info), 0);
    expect_cuts("GET / HTTP/1.1\r\n", 16, 1, PROXY_ENOTPROXY, "GET");
    expect_cuts("\x16\x03\x01\x02\x00\x01", 6, 1, PROXY_ENOTPROXY, "TLS ClientHello");
    expect_cuts("proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n", 32, 1, PROXY_ENOTPROXY, "lowercase");
    expect_cuts(" PROXY TCP4", 11, 1, PROXY_ENOTPROXY, "leading space");
    expect_cuts("\r\n\r\nGET / HTTP/1.1\r\n", 20, 5, PROXY_ENOTPROXY, "CRLFCRLF then GET");
    expect_cuts("\r\n\r\n\0\r\nQUIX\n!", 14, 11, PROXY_ENOTPROXY, "v2 signature, one byte off");
    /* each byte of the signature matters */
    for (size_t i = 0; i < 12; i++) {
        unsigned char h[16];
        memcpy(h, PROXY_V2_SIG, 12);
        memcpy(h + 12, "\x21\x11\x00\x0c", 4);
        h[i] ^= 0x40;
        CHECK_EQ_INT(parse_n(h, 16, &info), PROXY_ENOTPROXY);
    }
    CHECK_EQ_STR(proxy_strerror(PROXY_ENOTPROXY), "not a PROXY protocol header");
    CHECK_EQ_STR(proxy_strerror(PROXY_ETOOLONG), "PROXY protocol header too long");
    CHECK_EQ_STR(proxy_strerror(0), "incomplete PROXY protocol header");
    CHECK_EQ_STR(proxy_strerror(-99), "unknown PROXY protocol error");
}

/* ---- version 2 ---------------------------------------------------------------------------- */

static void test_v2_proxy(void)
{
    struct proxy_info info;
    hb_tcp4("192.0.2.1", "198.51.100.7", 50000, 443);
    hb_end();
    CHECK_EQ_INT(hb.n, 28);
    expect_valid(hb.b, hb.n, &info, "v2 TCP4");
    CHECK_EQ_INT(info.version, 2);
    check_addrs(&info, AF_INET, "192.0.2.1", 50000, "198.51.100.7", 443);
    CHECK(!info.tls && !info.crc32c && info.alpn.len == 0 && info.authority.off == 0);

    hb_tcp6("2001:db8::17", "2001:db8:cafe::1", 65535, 0);
    hb_end();
    CHECK_EQ_INT(hb.n, 52);
    expect_valid(hb.b, hb.n, &info, "v2 TCP6");
    check_addrs(&info, AF_INET6, "2001:db8::17", 65535, "2001:db8:cafe::1", 0);

    /* UNIX stream: 2 × 108 bytes of paths, reported as AF_UNIX with no address */
    hb_start(0x21, 0x31);
    unsigned char path[108] = "/run/haproxy.sock";
    hb_put(path, 108);
    hb_put(path, 108);
    hb_end();
    CHECK_EQ_INT(hb.n, 16 + 216);
    expect_valid(hb.b, hb.n, &info, "v2 UNIX");
    CHECK(!info.local && info.family == AF_UNIX && info.src.sa.sa_family == AF_UNIX);
    CHECK_EQ_INT(info.src_port, 0);

    /* an address block longer than the family's: the rest is TLVs (here: none is fine only
     * when it is empty, so an extra NOOP) */
    hb_tcp4("10.0.0.1", "10.0.0.2", 1, 2);
    hb_tlv(0x04, "", 0);
    hb_end();
    expect_valid(hb.b, hb.n, &info, "v2 TCP4 + empty NOOP");
    check_addrs(&info, AF_INET, "10.0.0.1", 1, "10.0.0.2", 2);
}

static void test_v2_local(void)
{
    struct proxy_info info;
    /* LOCAL, UNSPEC, no address: health checks */
    hb_start(0x20, 0x00);
    hb_end();
    expect_valid(hb.b, hb.n, &info, "v2 LOCAL");
    CHECK(info.local && info.family == AF_UNSPEC && info.version == 2);
    /* LOCAL ignores the family and whatever the block holds (not even TLVs are read) */
    hb_start(0x20, 0x11);
    hb_put("\x01\x02\x03\x04\x05\x06\x07\x08\x00\x01\x00\x02\xff\xff", 14);
    hb_end();
    expect_valid(hb.b, hb.n, &info, "v2 LOCAL with a TCP4 block and junk");
    CHECK(info.local && info.family == AF_UNSPEC);
    hb_start(0x20, 0x12); /* even UDP: the family is discarded */
    hb_end();
    expect_valid(hb.b, hb.n, &info, "v2 LOCAL UDP");
    CHECK(info.local);
    hb_start(0x20, 0x32);
    hb_end();
    expect_valid(hb.b, hb.n, &info, "v2 LOCAL UNIX DGRAM");
    /* but the nibbles must still be valid ones */
    hb_start(0x20, 0x40);
    hb_end();
    expect_cuts(hb.b, hb.n, 14, PROXY_EMALFORMED, "v2 LOCAL family 4");
    hb_start(0x20, 0x03);
    hb_end();
    expect_cuts(hb.b, hb.n, 14, PROXY_EMALFORMED, "v2 LOCAL protocol 3");
}

static void test_v2_tlvs(void)
{
    struct proxy_info info;
    hb_tcp4("203.0.113.9", "10.0.0.1", 40000, 443);
    size_t alpn = hb_tlv(0x01, "h2", 2);
    size_t auth = hb_tlv(0x02, "example.com", 11);
    hb_tlv(0x04, "\0\0\0\0\0", 5); /* NOOP */
    hb_tlv(0xe0, "custom", 6);     /* application-specific */
    hb_tlv(0xf8, "", 0);           /* reserved for future use: skipped too */
    size_t uid = hb_tlv(0x05, "uid-42", 6);
    /* SSL: client = PP2_CLIENT_SSL | CERT_CONN, verify = 0, sub-TLVs version and CN */
    unsigned char ssl[64] = {0x03, 0, 0, 0, 0};
    size_t sn = 5;
    memcpy(ssl + sn, "\x21\x00\x07TLSv1.3", 10);
    sn += 10;
    memcpy(ssl + sn,
           "\x22\x00\x0b"
           "example.org",
           14);
    sn += 14;
    hb_tlv(0x20, ssl, sn);
    hb_end();
    expect_valid(hb.b, hb.n, &info, "v2 with TLVs");
    check_addrs(&info, AF_INET, "203.0.113.9", 40000, "10.0.0.1", 443);
    CHECK_EQ_INT(info.alpn.off, alpn);
    CHECK_EQ_INT(info.alpn.len, 2);
    CHECK_EQ_INT(info.authority.off, auth);
    CHECK_EQ_INT(info.authority.len, 11);
    CHECK_EQ_INT(info.unique_id.off, uid);
    CHECK_EQ_INT(info.unique_id.len, 6);
    CHECK(memcmp(hb.b + info.authority.off, "example.com", 11) == 0);
    CHECK(info.tls);
    CHECK(!info.crc32c);

    /* SSL without PP2_CLIENT_SSL: the client did not use TLS */
    hb_tcp6("::1", "::2", 1, 2);
    hb_tlv(0x20, "\x02\0\0\0\0", 5);
    hb_end();
    expect_valid(hb.b, hb.n, &info, "v2 SSL TLV, no TLS");
    CHECK(!info.tls);

    /* TLVs after a UNIX block */
    hb_start(0x21, 0x31);
    static const unsigned char zeros[216];
    hb_put(zeros, 216);
    hb_tlv(0x02, "h", 1);
    hb_end();
    expect_valid(hb.b, hb.n, &info, "v2 UNIX + TLV");
    CHECK_EQ_INT(info.authority.len, 1);

    /* unique id at its 128-byte limit */
    unsigned char id[129];
    memset(id, 'u', sizeof id);
    hb_tcp4("1.1.1.1", "2.2.2.2", 1, 2);
    hb_tlv(0x05, id, 128);
    hb_end();
    expect_valid(hb.b, hb.n, &info, "unique id of 128");
}

static void test_v2_crc32c(void)
{
    struct proxy_info info;
    /* the reference implementation against RFC 3720's check value */
    CHECK_EQ_INT(crc32c_ref((const unsigned char *)"123456789", 9), 0xe3069283);

    hb_tcp4("192.0.2.1", "192.0.2.2", 1000, 443);
    hb_tlv(0x02, "example.com", 11);
    size_t off = hb_tlv(0x03, "\0\0\0\0", 4);
    hb_tlv(0x04, "pad", 3);
    hb_end();
    hb_crc(off);
    expect_valid(hb.b, hb.n, &info, "CRC32C");
    CHECK(info.crc32c);

    /* any byte changed anywhere after the signature: refused once whole */
    for (size_t i = 16; i < hb.n; i++) {
        hb.b[i] ^= 0x01;
        int r = parse_n(hb.b, hb.n, &info);
        CHECK(r < 0);
        hb.b[i] ^= 0x01;
    }
    hb.b[off + 3] ^= 0x80;
    expect_cuts(hb.b, hb.n, hb.n, PROXY_EMALFORMED, "bad CRC32C");
    hb.b[off + 3] ^= 0x80;

    /* CRC over a TCP6 header with a large NOOP pad */
    static unsigned char pad[3000];
    hb_tcp6("2001:db8::1", "2001:db8::2", 1, 2);
    off = hb_tlv(0x03, "\0\0\0\0", 4);
    hb_tlv(0x04, pad, sizeof pad);
    hb_end();
    hb_crc(off);
    expect_valid(hb.b, hb.n, &info, "CRC32C, long");
    CHECK(info.crc32c);

    /* a CRC32C TLV of the wrong size, or two of them */
    hb_tcp4("1.1.1.1", "2.2.2.2", 1, 2);
    hb_tlv(0x03, "\0\0\0", 3);
    hb_end();
    expect_cuts(hb.b, hb.n, 31, PROXY_EMALFORMED, "CRC32C of 3 bytes");
    hb_tcp4("1.1.1.1", "2.2.2.2", 1, 2);
    off = hb_tlv(0x03, "\0\0\0\0", 4);
    size_t off2 = hb_tlv(0x03, "\0\0\0\0", 4);
    hb_end();
    hb_crc(off);
    (void)off2;
    expect_cuts(hb.b, hb.n, 38, PROXY_EMALFORMED, "two CRC32C");
}

static void test_v2_refused(void)
{
    const int M = PROXY_EMALFORMED, U = PROXY_EUNSUPPORTED;
    /* version nibble: only 2 */
    hb_tcp4("1.1.1.1", "2.2.2.2", 1, 2);
    hb_end();
    for (unsigned v = 0; v < 16; v++) {
        if (v == 2)
            continue;
        hb.b[12] = (unsigned char)(v << 4 | 1);
        expect_cuts(hb.b, hb.n, 13, U, "v2 version");
    }
    /* command: LOCAL and PROXY only */
    for (unsigned c = 2; c < 16; c++) {
        hb.b[12] = (unsigned char)(0x20 | c);
        expect_cuts(hb.b, hb.n, 13, M, "v2 command");
    }
    hb.b[12] = 0x21;
    /* family and protocol */
    static const struct {
        unsigned char fam;
        int r;
    } fams[] = {
        {0x12, U},            /* UDP over IPv4 */
        {0x22, U},            /* UDP over IPv6 */
        {0x32, U},            /* UNIX datagram */
        {0x00, U},            /* PROXY with UNSPEC */
        {0x01, U},            /* UNSPEC family, STREAM */
        {0x10, U},            /* INET, UNSPEC protocol */
        {0x41, M},            /* no family 4 */
        {0xf1, M}, {0x13, M}, /* no protocol 3 */
        {0x1f, M},
    };
    for (size_t i = 0; i < sizeof fams / sizeof fams[0]; i++) {
        hb.b[13] = fams[i].fam;
        expect_cuts(hb.b, hb.n, 14, fams[i].r, "v2 family/protocol");
    }
    hb.b[13] = 0x11;

    /* an address block shorter than the family's addresses: known from the length field */
    static const struct {
        unsigned char fam;
        unsigned len;
    } shorts[] = {{0x11, 0}, {0x11, 11}, {0x21, 12}, {0x21, 35}, {0x31, 0}, {0x31, 215}};
    for (size_t i = 0; i < sizeof shorts / sizeof shorts[0]; i++) {
        hb_start(0x21, shorts[i].fam);
        static unsigned char z[300];
        hb_put(z, shorts[i].len);
        hb_end();
        expect_cuts(hb.b, hb.n, 16, M, "v2 address block too short");
    }

    /* TLVs that do not fit: a length past the block, a truncated TLV header */
    hb_tcp4("1.1.1.1", "2.2.2.2", 1, 2);
    hb_tlv(0x04, "abc", 3);
    hb_end();
    hb.b[29] = 0;
    hb.b[30] = 4; /* claims 4, has 3 */
    expect_cuts(hb.b, hb.n, 31, M, "TLV overrun by 1");
    hb.b[29] = 0xff; /* claims 65284 */
    expect_cuts(hb.b, hb.n, 31, M, "TLV overrun by a lot");
    hb_tcp4("1.1.1.1", "2.2.2.2", 1, 2);
    hb_tlv(0x04, "abc", 3);
    hb_put("\x04\x00", 2); /* two bytes left: no room for a TLV header */
    hb_end();
    expect_cuts(hb.b, hb.n, 31, M, "2 trailing bytes"); /* known from the NOOP's length */
    hb_tcp4("1.1.1.1", "2.2.2.2", 1, 2);
    hb_put("\x04", 1);
    hb_end();
    expect_cuts(hb.b, hb.n, 16, M, "1 trailing byte"); /* known from the length field */

    /* SSL TLV: too short for client+verify, a sub-TLV that overruns it */
    hb_tcp4("1.1.1.1", "2.2.2.2", 1, 2);
    hb_tlv(0x20, "\x01\0\0\0", 4);
    hb_end();
    expect_cuts(hb.b, hb.n, 31, M, "SSL TLV of 4 bytes");
    hb_tcp4("1.1.1.1", "2.2.2.2", 1, 2);
    hb_tlv(0x20, "\x01\0\0\0\0\x21\x00\x09TLSv1.3", 15);
    hb_end();
    expect_cuts(hb.b, hb.n, 28 + 3 + 5 + 3, M, "SSL sub-TLV overrun");
    hb_tcp4("1.1.1.1", "2.2.2.2", 1, 2);
    hb_tlv(0x20, "\x01\0\0\0\0\x21\x00", 7);
    hb_end();
    expect_cuts(hb.b, hb.n, 31, M, "SSL sub-TLV header cut");

    /* duplicates of a TLV that is read; a unique id over 128 */
    hb_tcp4("1.1.1.1", "2.2.2.2", 1, 2);
    hb_tlv(0x01, "h2", 2);
    hb_tlv(0x01, "h1", 2);
    hb_end();
    expect_cuts(hb.b, hb.n, 36, M, "two ALPN");
    hb_tcp4("1.1.1.1", "2.2.2.2", 1, 2);
    hb_tlv(0x20, "\x01\0\0\0\0", 5);
    hb_tlv(0x20, "\x01\0\0\0\0", 5);
    hb_end();
    expect_cuts(hb.b, hb.n, 39, M, "two SSL");
    unsigned char id[129];
    memset(id, 'u', sizeof id);
    hb_tcp4("1.1.1.1", "2.2.2.2", 1, 2);
    hb_tlv(0x05, id, 129);
    hb_end();
    expect_cuts(hb.b, hb.n, 31, M, "unique id of 129");
    /* NOOP and unknown types may repeat */
    struct proxy_info info;
    hb_tcp4("1.1.1.1", "2.2.2.2", 1, 2);
    hb_tlv(0x04, "", 0);
    hb_tlv(0x04, "", 0);
    hb_tlv(0xee, "x", 1);
    hb_tlv(0xee, "y", 1);
    hb_end();
    expect_valid(hb.b, hb.n, &info, "repeated NOOP and custom");
}

static void test_v2_size(void)
{
    struct proxy_info info;
    static unsigned char pad[PROXY_V2_MAX];
    /* exactly PROXY_V2_MAX: taken */
    hb_tcp4("1.1.1.1", "2.2.2.2", 1, 2);
    hb_tlv(0x04, pad, PROXY_V2_MAX - 28 - 3);
    hb_end();
    CHECK_EQ_INT(hb.n, PROXY_V2_MAX);
    CHECK_EQ_INT(parse_n(hb.b, hb.n, &info), PROXY_V2_MAX);
    CHECK_EQ_INT(parse_n(hb.b, hb.n - 1, &info), 0);
    /* one byte more: too long, as soon as the length field is read */
    hb_tcp4("1.1.1.1", "2.2.2.2", 1, 2);
    hb_tlv(0x04, pad, PROXY_V2_MAX - 28 - 2);
    hb_end();
    expect_cuts(hb.b, 64, 16, PROXY_ETOOLONG, "PROXY_V2_MAX + 1");
    /* the protocol's own maximum length, for LOCAL too */
    hb_start(0x20, 0x00);
    hb.b[14] = hb.b[15] = 0xff;
    CHECK_EQ_INT(parse_n(hb.b, 16, &info), PROXY_ETOOLONG);
    hb_start(0x21, 0x21);
    hb.b[14] = hb.b[15] = 0xff;
    CHECK_EQ_INT(parse_n(hb.b, 16, &info), PROXY_ETOOLONG);
}

static void test_payload_untouched(void)
{
    /* the returned length is the header's, whatever follows; a v2 header followed by a v1
     * line (or another v2 header) is not read further */
    struct proxy_info info;
    hb_tcp4("1.1.1.1", "2.2.2.2", 1, 2);
    hb_end();
    size_t n = hb.n;
    hb_put("PROXY TCP4 3.3.3.3 4.4.4.4 5 6\r\n", 32);
    CHECK_EQ_INT(parse_n(hb.b, hb.n, &info), (int)n);
    char b1[] = "PROXY UNKNOWN\r\n\r\n\r\n\0\r\nQUIT\n";
    CHECK_EQ_INT(parse_n(b1, sizeof b1 - 1, &info), 15);
    char b2[] = "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n\n";
    CHECK_EQ_INT(parse_n(b2, sizeof b2 - 1, &info), 32);
    /* the header's bytes are read-only: p is const, and unchanged (CRC handled on a copy) */
    hb_tcp4("1.1.1.1", "2.2.2.2", 1, 2);
    size_t off = hb_tlv(0x03, "\0\0\0\0", 4);
    hb_end();
    hb_crc(off);
    unsigned char before[64];
    memcpy(before, hb.b, hb.n);
    CHECK_EQ_INT(proxy_parse(hb.b, hb.n, &info), (int)hb.n);
    CHECK(memcmp(before, hb.b, hb.n) == 0);
}

int main(void)
{
    HARNESS_RUN(test_v1_valid);
    HARNESS_RUN(test_v1_longest);
    HARNESS_RUN(test_v1_malformed);
    HARNESS_RUN(test_v1_early);
    HARNESS_RUN(test_not_proxy);
    HARNESS_RUN(test_v2_proxy);
    HARNESS_RUN(test_v2_local);
    HARNESS_RUN(test_v2_tlvs);
    HARNESS_RUN(test_v2_crc32c);
    HARNESS_RUN(test_v2_refused);
    HARNESS_RUN(test_v2_size);
    HARNESS_RUN(test_payload_untouched);
    return HARNESS_DONE();
}
