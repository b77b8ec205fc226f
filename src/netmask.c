#include "netmask.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ITEM_SHOWN 64 /* at most this much of a bad item is quoted back */

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* a, as 16 bytes: IPv6 as is, IPv4 mapped into ::ffff:0:0/96 */
static void to_v6(uint8_t out[16], int family, const void *a)
{
    if (family == AF_INET) {
        memset(out, 0, 10);
        out[10] = out[11] = 0xff;
        memcpy(out + 12, a, 4);
    } else {
        memcpy(out, a, 16);
    }
}

/* The first bits of a and b agree. */
static bool prefix_eq(const uint8_t *a, const uint8_t *b, unsigned bits)
{
    unsigned whole = bits / 8, rest = bits % 8;
    if (memcmp(a, b, whole) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return ((a[whole] ^ b[whole]) & mask) == 0;
}

/* One item s[0..n) (trimmed, not empty) into nl. 0 or -EINVAL with err set. */
static int parse_item(struct netmask_list *nl, const char *s, size_t n, char *err, size_t errlen)
{
    int shown = n > ITEM_SHOWN ? ITEM_SHOWN : (int)n;
    const char *more = n > ITEM_SHOWN ? "..." : "";
    if (n == 1 && s[0] == '*') {
        nl->any = true;
        return 0;
    }
    if (n == 4 && memcmp(s, "unix", 4) == 0) {
        nl->unix_peers = true;
        return 0;
    }
    const char *slash = memchr(s, '/', n);
    size_t alen = slash ? (size_t)(slash - s) : n;
    char buf[INET6_ADDRSTRLEN];
    uint8_t a[16];
    int family = memchr(s, ':', alen) ? AF_INET6 : AF_INET;
    bool ok = alen > 0 && alen < sizeof buf;
    if (ok) {
        memcpy(buf, s, alen);
        buf[alen] = 0;
        /* inet_pton(AF_INET) takes dotted-decimal only, without leading zeros (glibc, musl) */
        ok = inet_pton(family, buf, a) == 1;
    }
    if (!ok) {
        snprintf(err, errlen, "bad address in '%.*s%s' (an IPv4 or IPv6 address, '*' or 'unix')",
                 shown, s, more);
        return -EINVAL;
    }
    unsigned max = family == AF_INET ? 32 : 128, bits = max;
    if (slash) {
        const char *d = slash + 1;
        size_t dn = n - alen - 1;
        bool digits = dn > 0 && dn <= 3;
        bits = 0;
        for (size_t i = 0; digits && i < dn; i++) {
            digits = d[i] >= '0' && d[i] <= '9';
            bits = bits * 10 + (unsigned)(d[i] - '0');
        }
        if (!digits || bits > max) {
            snprintf(err, errlen, "bad prefix length in '%.*s%s' (0 to %u)", shown, s, more, max);
            return -EINVAL;
        }
    }
    struct netmask_entry *e = &nl->v[nl->n];
    to_v6(e->addr, family, a);
    e->bits = (uint8_t)(family == AF_INET ? 96 + bits : bits);
    /* host bits past the prefix: refused, with the network it would have been */
    uint8_t net[16];
    memset(net, 0, sizeof net);
    memcpy(net, e->addr, e->bits / 8);
    if (e->bits % 8)
        net[e->bits / 8] = (uint8_t)(e->addr[e->bits / 8] & (0xff << (8 - e->bits % 8)));
    if (memcmp(net, e->addr, 16) != 0) {
        char nb[INET6_ADDRSTRLEN];
        inet_ntop(family, family == AF_INET ? net + 12 : net, nb, sizeof nb);
        snprintf(err, errlen, "'%.*s%s' has host bits set past /%u (the network is %s/%u)", shown,
                 s, more, bits, nb, bits);
        return -EINVAL;
    }
    nl->n++;
    return 0;
}

int netmask_parse(struct netmask_list *nl, const char *s, char *err, size_t errlen)
{
    memset(nl, 0, sizeof *nl);
    if (errlen)
        err[0] = 0;
    size_t len = strlen(s);
    size_t i = 0;
    while (i < len && is_ows(s[i]))
        i++;
    if (i == len) /* "" : the empty list */
        return 0;
    size_t items = 1;
    for (size_t k = 0; k < len; k++)
        items += s[k] == ',';
    nl->v = calloc(items, sizeof *nl->v);
    if (!nl->v) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    size_t count = 0;
    for (size_t start = 0; start <= len;) {
        const char *comma = memchr(s + start, ',', len - start);
        size_t end = comma ? (size_t)(comma - s) : len;
        size_t a = start, b = end;
        while (a < b && is_ows(s[a]))
            a++;
        while (b > a && is_ows(s[b - 1]))
            b--;
        count++;
        if (a == b) {
            snprintf(err, errlen, "empty item %zu in the address list", count);
            return -EINVAL;
        }
        int r = parse_item(nl, s + a, b - a, err, errlen);
        if (r < 0)
            return r;
        start = end + 1;
    }
    return 0;
}

void netmask_deinit(struct netmask_list *nl)
{
    if (!nl)
        return;
    free(nl->v);
    memset(nl, 0, sizeof *nl);
}

bool netmask_match_addr(const struct netmask_list *nl, int family, const void *addr)
{
    if (family != AF_INET && family != AF_INET6)
        return false;
    if (nl->any)
        return true;
    uint8_t a[16];
    to_v6(a, family, addr);
    for (size_t i = 0; i < nl->n; i++)
        if (prefix_eq(a, nl->v[i].addr, nl->v[i].bits))
            return true;
    return false;
}

bool netmask_match(const struct netmask_list *nl, const struct sockaddr *sa)
{
    if (!sa)
        return false;
    switch (sa->sa_family) {
    case AF_INET:
        return netmask_match_addr(nl, AF_INET, &((const struct sockaddr_in *)sa)->sin_addr);
    case AF_INET6:
        return netmask_match_addr(nl, AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr);
    case AF_UNIX:
    case AF_UNSPEC: return nl->any || nl->unix_peers;
    default: return false;
    }
}
