/* proxy: the PROXY protocol header a load balancer puts in front of a connection's first bytes
 * (HAProxy's doc/proxy-protocol.txt, versions 1 and 2), parsed strictly and incrementally:
 * a caller that receives the header a few bytes at a time calls again with everything it has
 * so far, and learns as early as possible when the bytes cannot be one. Pure: no allocation,
 * no I/O, no state between calls; unit-tested and fuzzed.
 *
 * Version 1, one line of at most 107 bytes, CRLF included:
 *   "PROXY" SP ( "TCP4" | "TCP6" ) SP src SP dst SP sport SP dport CRLF
 *   "PROXY" SP "UNKNOWN" [ SP *( %x20-7E ) ] CRLF
 * Exactly one space between fields; an IPv4 address is four decimal numbers 0-255 without
 * leading zeros ("010.0.0.1" is refused: octal in some parsers), an IPv6 address is whatever
 * inet_pton(AF_INET6) takes (so "::ffff:1.2.3.4" is fine); a port is 0-65535 in decimal, no
 * sign, no leading zero ("0" itself is fine). "TCP4" needs two IPv4 addresses and "TCP6" two
 * IPv6 ones. After "UNKNOWN" the rest of the line is ignored, but must be printable ASCII.
 *
 * Version 2: the 12-byte signature, version 2, the command (LOCAL or PROXY), family and
 * protocol, a 16-bit length, then that many bytes: the addresses, then TLVs.
 *  - LOCAL is taken with any valid family and protocol nibbles; its block is skipped unread
 *    (the spec: "discard the protocol block including the family").
 *  - PROXY is taken with STREAM over INET, INET6 or UNIX; DGRAM, and UNSPEC as family or
 *    protocol, are PROXY_EUNSUPPORTED (there is no client address we could use).
 *  - A version nibble other than 2 is PROXY_EUNSUPPORTED; a command other than LOCAL/PROXY,
 *    or a family/protocol nibble the spec does not define, PROXY_EMALFORMED.
 *  - The block must hold the family's addresses (12, 36, 216 bytes). What follows is TLVs
 *    that must tile the rest exactly (a length past the end, or 1-2 stray bytes: malformed).
 *    Read: ALPN, AUTHORITY, UNIQUE_ID (at most 128 bytes), SSL (at least 5 bytes; its
 *    sub-TLVs must tile it too) and CRC32C (exactly 4 bytes, and verified: a mismatch is
 *    malformed). Each of these at most once: a second copy is malformed, since which one
 *    counts would be a guess. Others (NOOP, NETNS, custom, experimental) are skipped.
 *  - The whole header may be at most PROXY_V2_MAX bytes; longer is PROXY_ETOOLONG, known
 *    from the length field. */
#ifndef HTTPSD_PROXY_H
#define HTTPSD_PROXY_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define PROXY_V1_MAX 107 /* the longest v1 line, CRLF included (the spec's worst case) */
#ifndef PROXY_V2_MAX
#define PROXY_V2_MAX 4096 /* the longest v2 header taken, 16 + length (the protocol's: 65551) */
#endif
#define PROXY_V2_SIG "\r\n\r\n\0\r\nQUIT\n" /* 12 bytes; note the NUL */

/* Why a header was refused. The caller should close the connection without a response. */
enum proxy_error {
    PROXY_ENOTPROXY = -1,    /* the first bytes are neither "PROXY " nor the v2 signature */
    PROXY_EMALFORMED = -2,   /* a v1 or v2 header that breaks the grammar (or a bad CRC32C) */
    PROXY_ETOOLONG = -3,     /* v1: no CRLF in 107 bytes; v2: over PROXY_V2_MAX */
    PROXY_EUNSUPPORTED = -4, /* well-formed but not for us: v2 version != 2, DGRAM, or PROXY
                                with the UNSPEC family or protocol */
};

/* A peer address, laid out as the server's union conn_addr (src/conn.h), so either member can
 * be copied across. */
union proxy_addr {
    struct sockaddr sa;
    struct sockaddr_in in4;
    struct sockaddr_in6 in6;
};

/* Where a TLV's value lies: p[off .. off + len) of the buffer given to proxy_parse; len 0 (and
 * off 0) when absent. */
struct proxy_span {
    uint32_t off, len;
};

struct proxy_info {
    int version; /* 1 or 2 */
    /* v1 UNKNOWN or v2 LOCAL: the header carries no client; use the connection's own
     * addresses. family is then AF_UNSPEC and nothing below is set. */
    bool local;
    /* AF_INET or AF_INET6: src and dst hold the addresses and ports (sin_port / sin6_port in
     * network order, as from accept()); src_port and dst_port repeat the ports in host order.
     * AF_UNIX (v2 only): the client came over a UNIX socket of the proxy; no address (src and
     * dst are zero with family AF_UNIX), treat it as the server treats its own UNIX peers. */
    int family;
    union proxy_addr src, dst;
    uint16_t src_port, dst_port;
    /* v2 TLVs (PROXY command only; all false/empty for v1 and LOCAL) */
    bool tls;    /* PP2_TYPE_SSL with PP2_CLIENT_SSL: the client spoke TLS to the proxy */
    bool crc32c; /* a PP2_TYPE_CRC32C TLV was present, and it matched */
    struct proxy_span alpn;      /* PP2_TYPE_ALPN: the protocol the client negotiated */
    struct proxy_span authority; /* PP2_TYPE_AUTHORITY: the host name (TLS SNI), as sent */
    struct proxy_span unique_id; /* PP2_TYPE_UNIQUE_ID: up to 128 opaque bytes */
};

/* Parse the PROXY header at the start of p[0..n). Returns the header's length (> 0) with *out
 * filled: the connection's own data starts at p + that length and is not looked at; 0 when
 * p[0..n) is a proper prefix of a header that may still be valid (call again with all the
 * bytes so far and more; n == 0 gives 0); or an enum proxy_error (< 0), which no further
 * bytes can change. Every rule is applied as soon as its bytes are there, so a doomed header
 * is refused early, with two exceptions: a v1 IPv6 address still arriving is only checked
 * for its characters and length, and a CRC32C can only be checked once the header is whole.
 * *out is written only on success. p is borrowed for the call; out's spans are offsets into
 * it. Pure; any thread. */
int proxy_parse(const unsigned char *p, size_t n, struct proxy_info *out)
    __attribute__((warn_unused_result));

/* A short English phrase for an enum proxy_error (or "ok" / "incomplete" for 1.. / 0), for
 * the error log. */
const char *proxy_strerror(int r);

#endif
