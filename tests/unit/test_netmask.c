/* Unit tests for the trusted-network list (src/netmask.h): the syntax with its error messages,
 * matching by prefix, IPv4-mapped IPv6 peers, UNIX peers. */
#include "harness.h"
#include "netmask.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/un.h>

static struct netmask_list nl;
static char err[256];

static int parse(const char *s)
{
    netmask_deinit(&nl);
    return netmask_parse(&nl, guarded_str(s), err, sizeof err);
}

/* A sockaddr for a textual address (IPv4 or IPv6). */
static const struct sockaddr *sa(const char *addr)
{
    static struct sockaddr_in in4;
    static struct sockaddr_in6 in6;
    memset(&in4, 0, sizeof in4);
    memset(&in6, 0, sizeof in6);
    if (inet_pton(AF_INET, addr, &in4.sin_addr) == 1) {
        in4.sin_family = AF_INET;
        in4.sin_port = htons(1234);
        return (const struct sockaddr *)&in4;
    }
    if (inet_pton(AF_INET6, addr, &in6.sin6_addr) != 1) {
        fprintf(stderr, "bad test address %s\n", addr);
        abort();
    }
    in6.sin6_family = AF_INET6;
    return (const struct sockaddr *)&in6;
}

static bool match(const char *addr)
{
    return netmask_match(&nl, sa(addr));
}

static void expect_err(const char *s, const char *msg)
{
    int r = parse(s);
    CHECK_MSG(r == -EINVAL, s);
    CHECK_EQ_STR(err, msg);
}

static void test_syntax_ok(void)
{
    CHECK_EQ_INT(parse("127.0.0.1,::1,10.0.0.0/8,2001:db8::/32"), 0);
    CHECK_EQ_INT(nl.n, 4);
    CHECK(!nl.any && !nl.unix_peers);
    CHECK_EQ_STR(err, "");
    CHECK_EQ_INT(parse(" 127.0.0.1 ,\t::1\t, 10.0.0.0/8 "), 0);
    CHECK_EQ_INT(nl.n, 3);
    CHECK_EQ_INT(parse("*"), 0);
    CHECK(nl.any && nl.n == 0);
    CHECK_EQ_INT(parse(" * "), 0);
    CHECK(nl.any);
    CHECK_EQ_INT(parse("unix"), 0);
    CHECK(nl.unix_peers && !nl.any && nl.n == 0);
    CHECK_EQ_INT(parse("unix,10.0.0.1"), 0);
    CHECK(nl.unix_peers && nl.n == 1);
    CHECK_EQ_INT(parse("0.0.0.0/0"), 0);
    CHECK_EQ_INT(parse("::/0"), 0);
    CHECK_EQ_INT(parse("1.2.3.4/32,1.2.3.0/24,2001:db8::1/128"), 0);
    CHECK_EQ_INT(parse("::ffff:10.0.0.0/104"), 0);
    CHECK_EQ_INT(parse("10.0.0.0/08"), 0); /* a prefix may have a leading zero */
    /* the empty string: nothing is trusted */
    CHECK_EQ_INT(parse(""), 0);
    CHECK(nl.n == 0 && !nl.any && !nl.unix_peers && nl.v == NULL);
    CHECK_EQ_INT(parse("  \t"), 0);
    CHECK(nl.n == 0);
}

static void test_syntax_errors(void)
{
    expect_err("127.0.0.1,,::1", "empty item 2 in the address list");
    expect_err(",127.0.0.1", "empty item 1 in the address list");
    expect_err("127.0.0.1,", "empty item 2 in the address list");
    expect_err("127.0.0.1, ,::1", "empty item 2 in the address list");
    expect_err("localhost", "bad address in 'localhost' (an IPv4 or IPv6 address, '*' or 'unix')");
    expect_err("10.0.0.0/33", "bad prefix length in '10.0.0.0/33' (0 to 32)");
    expect_err("::/129", "bad prefix length in '::/129' (0 to 128)");
    expect_err("10.0.0.0/", "bad prefix length in '10.0.0.0/' (0 to 32)");
    expect_err("10.0.0.0/-1", "bad prefix length in '10.0.0.0/-1' (0 to 32)");
    expect_err("10.0.0.0/+8", "bad prefix length in '10.0.0.0/+8' (0 to 32)");
    expect_err("10.0.0.0/0008", "bad prefix length in '10.0.0.0/0008' (0 to 32)");
    expect_err("10.0.0.0/8/8", "bad prefix length in '10.0.0.0/8/8' (0 to 32)");
    expect_err("10.0.0.0/ 8", "bad prefix length in '10.0.0.0/ 8' (0 to 32)");
    expect_err("10.1.2.3/8", "'10.1.2.3/8' has host bits set past /8 (the network is 10.0.0.0/8)");
    expect_err("2001:db8::1/32",
               "'2001:db8::1/32' has host bits set past /32 (the network is 2001:db8::/32)");
    expect_err("10.0.0.1/31", "'10.0.0.1/31' has host bits set past /31 (the network is "
                              "10.0.0.0/31)");
    const char *bad_addr[] = {"010.0.0.1",  "1.2.3",        "1.2.3.4.5", "256.0.0.1", "[::1]",
                              "fe80::1%lo", "::1::2",       "/8",        "1.2.3.4 5", "*.*",
                              "UNIX",       "unix:/a.sock", "**",        "0x7f.0.0.1"};
    for (size_t i = 0; i < sizeof bad_addr / sizeof bad_addr[0]; i++) {
        CHECK_MSG(parse(bad_addr[i]) == -EINVAL, bad_addr[i]);
        CHECK_MSG(strncmp(err, "bad address in '", 16) == 0, err);
    }
    /* a long item is quoted back cut short, and the message still fits */
    char big[300];
    memset(big, '1', sizeof big - 1);
    big[sizeof big - 1] = 0;
    CHECK_EQ_INT(parse(big), -EINVAL);
    CHECK(strlen(err) < 140 && strstr(err, "...'") != NULL);
    /* a small err buffer is filled, NUL-terminated */
    char small[8];
    netmask_deinit(&nl);
    CHECK_EQ_INT(netmask_parse(&nl, "nope", small, sizeof small), -EINVAL);
    CHECK_EQ_STR(small, "bad add");
    /* after an error the list is still safe to release, and matches nothing it should not */
    CHECK_EQ_INT(parse("10.0.0.0/8,bogus"), -EINVAL);
    netmask_deinit(&nl);
    CHECK(nl.n == 0 && nl.v == NULL);
    netmask_deinit(&nl); /* twice is fine */
    netmask_deinit(NULL);
}

static void test_match_v4(void)
{
    CHECK_EQ_INT(parse("127.0.0.1,10.0.0.0/8,192.168.1.128/25"), 0);
    CHECK(match("127.0.0.1"));
    CHECK(!match("127.0.0.2"));
    CHECK(match("10.0.0.0"));
    CHECK(match("10.255.255.255"));
    CHECK(!match("11.0.0.0"));
    CHECK(!match("9.255.255.255"));
    CHECK(match("192.168.1.128"));
    CHECK(match("192.168.1.255"));
    CHECK(!match("192.168.1.127"));
    /* an IPv4 list says nothing about IPv6 peers other than the mapped ones */
    CHECK(!match("::1"));
    CHECK(!match("::7f00:1")); /* IPv4-compatible (deprecated) is not mapped */
    CHECK(!match("2001:db8::a00:1"));
    CHECK_EQ_INT(parse("0.0.0.0/0"), 0);
    CHECK(match("1.2.3.4") && match("255.255.255.255") && match("::ffff:8.8.8.8"));
    CHECK(!match("::1") && !match("2001:db8::1"));
}

static void test_match_v6(void)
{
    CHECK_EQ_INT(parse("::1,2001:db8::/32,fe80::/10"), 0);
    CHECK(match("::1"));
    CHECK(!match("::2"));
    CHECK(match("2001:db8::"));
    CHECK(match("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"));
    CHECK(!match("2001:db9::"));
    CHECK(match("fe80::1"));
    CHECK(match("febf:ffff::1"));
    CHECK(!match("fec0::1"));
    CHECK(!match("127.0.0.1"));
    CHECK_EQ_INT(parse("::/0"), 0);
    CHECK(match("::") && match("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"));
    /* ::/0 covers ::ffff:0:0/96, so IPv4 peers (seen as mapped) too */
    CHECK(match("10.1.2.3"));
}

static void test_match_mapped(void)
{
    /* an IPv4 entry matches the peer as a dual-stack socket reports it */
    CHECK_EQ_INT(parse("10.0.0.0/8,127.0.0.1"), 0);
    CHECK(match("::ffff:10.1.2.3"));
    CHECK(match("::ffff:127.0.0.1"));
    CHECK(!match("::ffff:11.1.2.3"));
    CHECK(!match("::ffff:127.0.0.2"));
    CHECK(!match("::10.1.2.3"));
    CHECK(!match("64:ff9b::a01:203")); /* NAT64 is another network */
    /* and a mapped entry matches plain IPv4 peers */
    CHECK_EQ_INT(parse("::ffff:10.0.0.0/104"), 0);
    CHECK(match("10.9.9.9"));
    CHECK(match("::ffff:10.9.9.9"));
    CHECK(!match("11.0.0.0"));
    /* raw addresses */
    CHECK_EQ_INT(parse("192.0.2.0/24"), 0);
    unsigned char a4[4] = {192, 0, 2, 77};
    CHECK(netmask_match_addr(&nl, AF_INET, a4));
    a4[2] = 3;
    CHECK(!netmask_match_addr(&nl, AF_INET, a4));
    CHECK(!netmask_match_addr(&nl, AF_UNIX, a4));
}

static void test_match_unix(void)
{
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    struct sockaddr unspec = {.sa_family = AF_UNSPEC};
    struct sockaddr other = {.sa_family = AF_PACKET};
    CHECK_EQ_INT(parse("127.0.0.1,::1"), 0);
    CHECK(!netmask_match(&nl, (struct sockaddr *)&un));
    CHECK(!netmask_match(&nl, &unspec));
    CHECK_EQ_INT(parse("unix"), 0);
    CHECK(netmask_match(&nl, (struct sockaddr *)&un));
    CHECK(netmask_match(&nl, &unspec));
    CHECK(!match("127.0.0.1"));
    CHECK_EQ_INT(parse("*"), 0);
    CHECK(netmask_match(&nl, (struct sockaddr *)&un));
    CHECK(netmask_match(&nl, &unspec));
    CHECK(match("1.2.3.4") && match("2001:db8::1") && match("::ffff:1.2.3.4"));
    /* never: other families, NULL */
    CHECK(!netmask_match(&nl, &other));
    CHECK(!netmask_match(&nl, NULL));
    /* the empty list trusts nobody */
    CHECK_EQ_INT(parse(""), 0);
    CHECK(!match("127.0.0.1") && !netmask_match(&nl, &unspec));
}

static void test_many(void)
{
    /* a long list: 1000 /32 entries */
    static char s[20000];
    size_t n = 0;
    for (int i = 0; i < 1000; i++)
        n += (size_t)snprintf(s + n, sizeof s - n, "%s10.0.%d.%d", i ? "," : "", i / 256, i % 256);
    CHECK_EQ_INT(parse(s), 0);
    CHECK_EQ_INT(nl.n, 1000);
    CHECK(match("10.0.3.231"));
    CHECK(!match("10.0.3.232"));
}

int main(void)
{
    HARNESS_RUN(test_syntax_ok);
    HARNESS_RUN(test_syntax_errors);
    HARNESS_RUN(test_match_v4);
    HARNESS_RUN(test_match_v6);
    HARNESS_RUN(test_match_mapped);
    HARNESS_RUN(test_match_unix);
    HARNESS_RUN(test_many);
    netmask_deinit(&nl);
    return HARNESS_DONE();
}
