/* netmask: an allow-list of networks, for deciding which peers are trusted proxies (whose PROXY
 * header or forwarded headers are believed). Parsed once from the configuration, then read
 * only, by any thread.
 *
 *   list  = "*" | item *( "," item )        OWS (spaces, tabs) around items is ignored
 *   item  = "*" | "unix" | address [ "/" prefix ]
 *
 * An address is IPv4 dotted-decimal (no leading zeros: "010.1.2.3" is refused, it reads as
 * octal elsewhere) or IPv6 as inet_pton takes it, without brackets or zone. A prefix is 0-32 or
 * 0-128 in decimal (no sign, at most 3 digits); without one, the address alone (/32, /128).
 * Host bits set past the prefix ("10.1.2.3/8") are an error, not silently cleared: the entry
 * probably does not say what was meant. The empty string (or only whitespace) is the empty
 * list: nothing is trusted. An empty item ("a,,b", "a,") is an error.
 *
 * IPv4 and IPv6 are one space here: an IPv4 entry a.b.c.d/n is kept as the IPv4-mapped
 * ::ffff:a.b.c.d/(96+n), and an IPv4 peer is looked up as ::ffff:a.b.c.d. So a peer that a
 * dual-stack socket reports as ::ffff:10.1.2.3 matches 10.0.0.0/8, and an IPv6 entry that
 * covers ::ffff:0:0/96 (such as ::/0) matches IPv4 peers too.
 *
 * UNIX-socket peers (AF_UNIX, or AF_UNSPEC as the server records them) have no address. They
 * match only "*" or the "unix" item: unlike gunicorn, which always trusts them, a UNIX socket
 * is trusted only when the configuration says so (the socket's permissions decide who can
 * connect, and a front end reached over one is usually a local proxy, so "unix" is the usual
 * choice there). */
#ifndef HTTPSD_NETMASK_H
#define HTTPSD_NETMASK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct netmask_entry {
    uint8_t addr[16]; /* IPv6, or IPv4-mapped; bits past the prefix are zero */
    uint8_t bits;     /* prefix length, 0..128 (an IPv4 /n is 96 + n) */
};

struct netmask_list {
    struct netmask_entry *v; /* owned; NULL when n == 0 */
    size_t n;
    bool any;        /* "*": every peer, UNIX ones included */
    bool unix_peers; /* "unix": UNIX-socket peers */
};

/* Parse s (NUL-terminated) into *nl, replacing nothing: nl is written whole. 0; -EINVAL with a
 * one-line reason in err (naming the offending item), or -ENOMEM. nl must be released with
 * netmask_deinit either way. */
int netmask_parse(struct netmask_list *nl, const char *s, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Release what netmask_parse allocated; nl is left the empty list. Accepts a zeroed list. */
void netmask_deinit(struct netmask_list *nl);

/* Whether the peer sa is in the list: AF_INET and AF_INET6 by address (see above), AF_UNIX
 * and AF_UNSPEC as UNIX-socket peers, anything else (and NULL) never. sa must be as long as
 * its family's sockaddr. Any thread, once parsed. */
bool netmask_match(const struct netmask_list *nl, const struct sockaddr *sa);

/* The same for a raw address: 4 bytes with AF_INET, 16 with AF_INET6. */
bool netmask_match_addr(const struct netmask_list *nl, int family, const void *addr);

#endif
