/* forwarded: the client's address and scheme as reported by trusted proxies in X-Forwarded-For,
 * X-Forwarded-Proto and Forwarded (RFC 7239). Pure: no allocation, no I/O; unit-tested and
 * fuzzed.
 *
 * Nothing is believed unless the connection's own peer is in the trusted list (netmask.h):
 * otherwise every function here reports nothing, and the peer is the client. Given a trusted
 * peer, the headers are read from the right, the end each proxy appends to: the client is the
 * right-most hop that is not itself trusted; hops that are trusted are walked past; if every
 * hop is trusted, the left-most one. Only the part that trusted proxies wrote is believed,
 * whatever a client put in front of it.
 *
 * An item that cannot be read (not an address, garbage, a NUL or control byte, an unbalanced
 * quote) ends the walk as if the list began after it: the client is then the last hop walked
 * past (a trusted one), or nothing at all if it was the right-most item. The walk never goes
 * on to the left of something it cannot read: whatever lies there was written by no one we
 * trust. Empty items ("a, , b", a trailing comma) are skipped (RFC 9110 §5.6.1.2).
 *
 * Several field lines of one header are given in the order received and read as one list
 * (RFC 9110 §5.3); a value's items never run into the next value. */
#ifndef HTTPSD_FORWARDED_H
#define HTTPSD_FORWARDED_H

#include "buf.h"
#include "netmask.h"

#include <stddef.h>
#include <sys/socket.h>

#define FORWARDED_ADDR_MAX 46 /* INET6_ADDRSTRLEN */

struct forwarded_client {
    int family;                    /* AF_INET or AF_INET6; AF_UNSPEC when no address was found */
    char addr[FORWARDED_ADDR_MAX]; /* as inet_ntop writes it (for REMOTE_ADDR); "" when none */
    int port;                      /* 0-65535 as the hop gave it, or -1 (none, or obfuscated) */
    const char *proto;             /* "http" or "https" (static strings), or NULL */
};

/* What a call found: a bit set of these (0: nothing, keep the peer's address and scheme). */
enum {
    FORWARDED_ADDR = 1,  /* out->family, addr, port */
    FORWARDED_PROTO = 2, /* out->proto */
};

/* X-Forwarded-For: comma-separated hops, each an IPv4 address, an IPv6 address bare or in
 * brackets, with an optional ":port" after IPv4 or "]" ("1.2.3.4:5678", "[2001:db8::1]:80").
 * IPv4 strictly (no leading zeros), no zone ids, no host names, no "unknown". values[0..n)
 * are the field values in order (borrowed; n may be 0). Returns 0 or FORWARDED_ADDR; *out is
 * always written. Any thread. */
int forwarded_xff(const struct netmask_list *trusted, const struct sockaddr *peer,
                  const struct span *values, size_t n, struct forwarded_client *out)
    __attribute__((warn_unused_result));

/* Forwarded (RFC 7239): comma-separated elements of ";"-separated name=value pairs, values a
 * token or a quoted-string (OWS around ";" is tolerated; none around "="). Each element is one
 * hop, its for= the node: an IPv4 address or a bracketed IPv6 one (which must be quoted), with
 * an optional port, or "unknown" or an obfuscated "_name", which is a hop that cannot be
 * trusted and names no address. An element with no for= is such a hop too. A pair that repeats
 * for=, by=, proto= or host= in one element makes it unreadable (§4); other names are
 * ignored. The element chosen by the walk gives the address (when its for= is one) and proto=
 * (only "http" or "https", any case; anything else is no scheme). When the walk stops at an
 * element that names no address, its proto= still counts and the address is the last trusted
 * hop's, if any; when it stops at an unreadable element, both come from that last trusted hop.
 * Returns a bit set of FORWARDED_ADDR and FORWARDED_PROTO; *out is always written. */
int forwarded_rfc7239(const struct netmask_list *trusted, const struct sockaddr *peer,
                      const struct span *values, size_t n, struct forwarded_client *out)
    __attribute__((warn_unused_result));

/* X-Forwarded-Proto: the right-most non-empty item, when it is "http" or "https" in any case
 * (returned as a static lowercase string); NULL for anything else, or an untrusted peer. */
const char *forwarded_proto(const struct netmask_list *trusted, const struct sockaddr *peer,
                            const struct span *values, size_t n);

#endif
