#include "forwarded.h"

#include "chars.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#define VALUE_MAX 256 /* a Forwarded value longer than this (unescaped) is unreadable */

/* One hop that named an address. */
struct hop {
    int family;
    uint8_t a[16];
    int port; /* -1: none */
};

static bool is_ows(unsigned char c)
{
    return c == ' ' || c == '\t';
}

static bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static void client_init(struct forwarded_client *out)
{
    out->family = AF_UNSPEC;
    out->addr[0] = 0;
    out->port = -1;
    out->proto = NULL;
}

static void client_set(struct forwarded_client *out, const struct hop *h)
{
    out->family = h->family;
    if (!inet_ntop(h->family, h->a, out->addr, sizeof out->addr))
        out->addr[0] = 0; /* cannot happen: the buffer holds any address */
    out->port = h->port;
}

/* s[0..n) as an address of this family (IPv4 strictly: inet_pton refuses leading zeros). The
 * characters are checked first: inet_pton reads a C string, so a NUL inside must not end it
 * early. */
static bool parse_ip(int family, const char *s, size_t n, uint8_t *a)
{
    char buf[FORWARDED_ADDR_MAX];
    if (n == 0 || n >= sizeof buf)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!(is_digit(c) || c == '.' || (family == AF_INET6 && (hex_value(c) >= 0 || c == ':'))))
            return false;
    }
    memcpy(buf, s, n);
    buf[n] = 0;
    return inet_pton(family, buf, a) == 1;
}

/* A port: 1 to 5 digits, at most 65535 (RFC 7239 §6: port = 1*5DIGIT). -1 when not one. */
static int parse_port(const char *s, size_t n)
{
    if (n == 0 || n > 5)
        return -1;
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!is_digit((unsigned char)s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v <= 65535 ? v : -1;
}

/* "[v6]" [":" port] at s[0] == '['. The port text is left to the caller: *rest, *rest_n is what
 * follows the ']' (empty, or ":..."). */
static bool parse_bracketed(const char *s, size_t n, struct hop *h, const char **rest,
                            size_t *rest_n)
{
    const char *close = memchr(s, ']', n);
    if (!close || !parse_ip(AF_INET6, s + 1, (size_t)(close - s) - 1, h->a))
        return false;
    h->family = AF_INET6;
    *rest = close + 1;
    *rest_n = n - (size_t)(close + 1 - s);
    return *rest_n == 0 || **rest == ':';
}

/* ---- X-Forwarded-For ---------------------------------------------------------------------- */

/* One X-Forwarded-For item (trimmed, not empty). */
static bool xff_hop(const char *s, size_t n, struct hop *h)
{
    h->port = -1;
    if (s[0] == '[') {
        const char *rest;
        size_t rn;
        if (!parse_bracketed(s, n, h, &rest, &rn))
            return false;
        if (rn == 0)
            return true;
        h->port = parse_port(rest + 1, rn - 1);
        return h->port >= 0;
    }
    const char *colon = memchr(s, ':', n);
    if (colon && !memchr(colon + 1, ':', n - (size_t)(colon + 1 - s))) {
        /* one colon: IPv4:port */
        h->family = AF_INET;
        h->port = parse_port(colon + 1, n - (size_t)(colon + 1 - s));
        return h->port >= 0 && parse_ip(AF_INET, s, (size_t)(colon - s), h->a);
    }
    h->family = colon ? AF_INET6 : AF_INET; /* several colons: a bare IPv6 address */
    return parse_ip(h->family, s, n, h->a);
}

/* Walk items of a comma list from the right: the item before *end in s (trimmed into *is, *in),
 * and *end moved before its comma. false when the value is used up. */
static bool prev_item(const char *s, size_t *end, bool *done, const char **is, size_t *in)
{
    if (*done)
        return false;
    size_t b = *end, a = b;
    while (a > 0 && s[a - 1] != ',')
        a--;
    if (a == 0)
        *done = true;
    else
        *end = a - 1;
    while (a < b && is_ows((unsigned char)s[a]))
        a++;
    while (b > a && is_ows((unsigned char)s[b - 1]))
        b--;
    *is = s + a;
    *in = b - a;
    return true;
}

int forwarded_xff(const struct netmask_list *trusted, const struct sockaddr *peer,
                  const struct span *values, size_t n, struct forwarded_client *out)
{
    client_init(out);
    if (!netmask_match(trusted, peer))
        return 0;
    struct hop last, h;
    bool have = false;
    for (size_t v = n; v-- > 0;) {
        size_t end = values[v].n;
        bool done = end == 0;
        const char *item;
        size_t len;
        while (prev_item(values[v].p, &end, &done, &item, &len)) {
            if (len == 0)
                continue;
            if (!xff_hop(item, len, &h))
                goto out; /* unreadable: the list ends here */
            last = h;
            have = true;
            if (!netmask_match_addr(trusted, h.family, h.a))
                goto out; /* the client */
        }
    }
out:
    if (!have)
        return 0;
    client_set(out, &last);
    return FORWARDED_ADDR;
}

/* ---- X-Forwarded-Proto -------------------------------------------------------------------- */

static const char *scheme(const char *s, size_t n)
{
    if (n == 4 && strncasecmp(s, "http", 4) == 0)
        return "http";
    if (n == 5 && strncasecmp(s, "https", 5) == 0)
        return "https";
    return NULL;
}

const char *forwarded_proto(const struct netmask_list *trusted, const struct sockaddr *peer,
                            const struct span *values, size_t n)
{
    if (!netmask_match(trusted, peer))
        return NULL;
    for (size_t v = n; v-- > 0;) {
        size_t end = values[v].n;
        bool done = end == 0;
        const char *item;
        size_t len;
        while (prev_item(values[v].p, &end, &done, &item, &len))
            if (len)
                return scheme(item, len);
    }
    return NULL;
}

/* ---- Forwarded (RFC 7239) ----------------------------------------------------------------- */

enum node_kind {
    NODE_NONE,   /* no for= in the element */
    NODE_HIDDEN, /* "unknown" or an obfuscated "_name" (§6.2, §6.3) */
    NODE_IP,     /* an address: elem.hop */
};

struct elem {
    enum node_kind node;
    struct hop hop;
    const char *proto; /* "http", "https" or NULL */
};

/* obfnode / obfport characters after the "_" (§6.3) */
static bool is_obf(const char *s, size_t n)
{
    if (n < 2 || s[0] != '_')
        return false;
    for (size_t i = 1; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!(is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '.' ||
              c == '_' || c == '-'))
            return false;
    }
    return true;
}

/* node-port = port / obfport; *port is -1 for an obfuscated one. */
static bool node_port(const char *s, size_t n, int *port)
{
    if (is_obf(s, n)) {
        *port = -1;
        return true;
    }
    *port = parse_port(s, n);
    return *port >= 0;
}

/* node = nodename [ ":" node-port ] (§6), from an unescaped value. */
static bool parse_node(const char *s, size_t n, struct elem *e)
{
    const char *rest;
    size_t rn;
    if (n > 0 && s[0] == '[') {
        if (!parse_bracketed(s, n, &e->hop, &rest, &rn))
            return false;
        e->node = NODE_IP;
    } else {
        const char *colon = memchr(s, ':', n);
        size_t name_n = colon ? (size_t)(colon - s) : n;
        rest = s + name_n;
        rn = n - name_n;
        if ((name_n == 7 && strncasecmp(s, "unknown", 7) == 0) || is_obf(s, name_n)) {
            e->node = NODE_HIDDEN;
        } else {
            if (!parse_ip(AF_INET, s, name_n, e->hop.a))
                return false;
            e->hop.family = AF_INET;
            e->node = NODE_IP;
        }
    }
    e->hop.port = -1;
    if (rn == 0)
        return true;
    return node_port(rest + 1, rn - 1, &e->hop.port);
}

/* One element e[0..m) (its commas excluded), parsed left to right. false: unreadable.
 * *empty: nothing but OWS. */
static bool parse_elem(const char *s, size_t m, struct elem *e, bool *empty)
{
    enum { SEEN_FOR = 1, SEEN_BY = 2, SEEN_PROTO = 4, SEEN_HOST = 8 };
    unsigned seen = 0;
    char val[VALUE_MAX];
    size_t i = 0;
    e->node = NODE_NONE;
    e->proto = NULL;
    *empty = true;
    for (;;) {
        while (i < m && is_ows((unsigned char)s[i]))
            i++;
        if (i == m)
            return true;
        *empty = false;
        if (s[i] == ';') { /* an empty pair: allowed, [ forwarded-pair ] */
            i++;
            continue;
        }
        /* forwarded-pair = token "=" value */
        size_t name = i;
        while (i < m && is_tchar((unsigned char)s[i]))
            i++;
        size_t name_n = i - name;
        if (name_n == 0 || i == m || s[i] != '=')
            return false;
        i++;
        size_t vn = 0;
        if (i < m && s[i] == '"') {
            /* quoted-string: qdtext / quoted-pair, unescaped into val */
            i++;
            for (;;) {
                if (i == m)
                    return false; /* unbalanced */
                unsigned char c = (unsigned char)s[i++];
                if (c == '"')
                    break;
                if (c == '\\') { /* quoted-pair */
                    if (i == m)
                        return false;
                    c = (unsigned char)s[i++];
                }
                /* qdtext (its '"' and '\\' taken above) and the quoted-pair's byte are the same
                 * set: HTAB, SP, VCHAR, obs-text; no other control byte */
                if (!(c == '\t' || (c >= 0x20 && c != 0x7f)))
                    return false;
                if (vn == sizeof val)
                    return false; /* too long to be anything we read */
                val[vn++] = (char)c;
            }
        } else {
            while (i < m && is_tchar((unsigned char)s[i])) {
                if (vn == sizeof val)
                    return false;
                val[vn++] = s[i++];
            }
            if (vn == 0)
                return false;
        }
        /* the pair ends at ';' or the end of the element */
        while (i < m && is_ows((unsigned char)s[i]))
            i++;
        if (i < m && s[i] != ';')
            return false;

        const char *nm = s + name;
        unsigned bit = 0;
        if (name_n == 3 && strncasecmp(nm, "for", 3) == 0)
            bit = SEEN_FOR;
        else if (name_n == 2 && strncasecmp(nm, "by", 2) == 0)
            bit = SEEN_BY;
        else if (name_n == 5 && strncasecmp(nm, "proto", 5) == 0)
            bit = SEEN_PROTO;
        else if (name_n == 4 && strncasecmp(nm, "host", 4) == 0)
            bit = SEEN_HOST;
        if (bit & seen) /* §4: each parameter at most once per element */
            return false;
        seen |= bit;
        if (bit == SEEN_FOR && !parse_node(val, vn, e))
            return false;
        if (bit == SEEN_PROTO)
            e->proto = scheme(val, vn);
    }
}

/* The element that ends before *end in s, found by scanning left with the quoted-strings in
 * mind (a comma inside one is no separator): *es, *en, and *end moved before its comma. A
 * well-formed element is always delimited right; anything else is left for parse_elem to
 * refuse. *unbalanced: a quote was still open at the start of the value. */
static bool prev_elem(const char *s, size_t *end, bool *done, const char **es, size_t *en,
                      bool *unbalanced)
{
    if (*done)
        return false;
    size_t i = *end;
    bool inq = false;
    *unbalanced = false;
    while (i > 0) {
        char c = s[i - 1];
        if (c == '"') {
            size_t k = i - 1, bs = 0;
            while (k > 0 && s[k - 1] == '\\') {
                bs++;
                k--;
            }
            if (inq && bs % 2 == 1) { /* \" inside a quoted-string, and \\ pairs before it */
                i = k;
                continue;
            }
            inq = !inq;
        } else if (c == ',' && !inq) {
            break;
        }
        i--;
    }
    *es = s + i;
    *en = *end - i;
    if (i == 0) {
        *done = true;
        *unbalanced = inq;
    } else {
        *end = i - 1;
    }
    return true;
}

int forwarded_rfc7239(const struct netmask_list *trusted, const struct sockaddr *peer,
                      const struct span *values, size_t n, struct forwarded_client *out)
{
    client_init(out);
    if (!netmask_match(trusted, peer))
        return 0;
    struct elem last, e;
    bool have_last = false, have_stop = false;
    for (size_t v = n; v-- > 0;) {
        size_t end = values[v].n;
        bool done = end == 0, unbalanced, empty;
        const char *es;
        size_t en;
        while (prev_elem(values[v].p, &end, &done, &es, &en, &unbalanced)) {
            if (unbalanced || !parse_elem(es, en, &e, &empty))
                goto out; /* unreadable: the list ends here */
            if (empty)
                continue;
            if (e.node == NODE_IP && netmask_match_addr(trusted, e.hop.family, e.hop.a)) {
                last = e;
                have_last = true;
                continue;
            }
            have_stop = true; /* the client's hop: untrusted, hidden, or unnamed */
            goto out;
        }
    }
out:;
    int r = 0;
    const struct elem *a = have_stop && e.node == NODE_IP ? &e : have_last ? &last : NULL;
    const struct elem *p = have_stop ? &e : have_last ? &last : NULL;
    if (a) {
        client_set(out, &a->hop);
        r |= FORWARDED_ADDR;
    }
    if (p && p->proto) {
        out->proto = p->proto;
        r |= FORWARDED_PROTO;
    }
    return r;
}
