/* Unit tests for conn_addr_str (src/conn.h): IPv4 addresses are formatted by hand (REMOTE_ADDR
 * of every request), so every octet value in every position, and random addresses, must read
 * exactly as inet_ntop writes them; IPv6 and UNIX sockets as before. */
#include "conn.h"
#include "harness.h"

#include <arpa/inet.h>
#include <string.h>

static void check_v4(uint32_t host_order, unsigned short port)
{
    union conn_addr a;
    memset(&a, 0, sizeof a);
    a.in4.sin_family = AF_INET;
    a.in4.sin_addr.s_addr = htonl(host_order);
    a.in4.sin_port = htons(port);
    char got[64], want[INET_ADDRSTRLEN];
    unsigned p = 0;
    CHECK(conn_addr_str(&a, got, sizeof got, &p));
    inet_ntop(AF_INET, &a.in4.sin_addr, want, sizeof want);
    CHECK_EQ_STR(got, want);
    CHECK_EQ_INT(p, port);
}

static void test_every_octet_in_every_position(void)
{
    for (int pos = 0; pos < 4; pos++)
        for (uint32_t v = 0; v < 256; v++)
            check_v4((0x0a010203u & ~(0xffu << (8 * pos))) | (v << (8 * pos)), (unsigned short)v);
    check_v4(0, 0);
    check_v4(0xffffffffu, 65535);
    check_v4(0x7f000001u, 8443);
}

static void test_random_addresses(void)
{
    uint32_t x = 2463534242u; /* xorshift32 */
    for (int i = 0; i < 100000; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        check_v4(x, (unsigned short)(x >> 7));
    }
}

static void test_small_buffer_and_other_families(void)
{
    union conn_addr a;
    memset(&a, 0, sizeof a);
    a.in4.sin_family = AF_INET;
    a.in4.sin_addr.s_addr = htonl(0xc0a80001u);
    char small[8];
    CHECK(conn_addr_str(&a, small, sizeof small, NULL)); /* inet_ntop's rules: no overflow */
    memset(&a, 0, sizeof a);
    a.in6.sin6_family = AF_INET6;
    inet_pton(AF_INET6, "2001:db8::1", &a.in6.sin6_addr);
    a.in6.sin6_port = htons(443);
    char out[64];
    unsigned p = 0;
    CHECK(conn_addr_str(&a, out, sizeof out, &p));
    CHECK_EQ_STR(out, "2001:db8::1");
    CHECK_EQ_INT(p, 443);
    a.sa.sa_family = AF_UNSPEC;
    CHECK(!conn_addr_str(&a, out, sizeof out, &p));
    CHECK_EQ_STR(out, "unix");
}

int main(void)
{
    HARNESS_RUN(test_every_octet_in_every_position);
    HARNESS_RUN(test_random_addresses);
    HARNESS_RUN(test_small_buffer_and_other_families);
    return HARNESS_DONE();
}
