/* libFuzzer target: the forwarded-header helpers (src/forwarded.h) and the trusted list they
 * use (src/netmask.h). Input lines: the trusted list, the peer ("unix" or an address), then up
 * to 16 header values, each given (as an exact-size copy) to X-Forwarded-For, Forwarded and
 * X-Forwarded-Proto alike. Invariants: an error message is a NUL-terminated line; an untrusted
 * peer gets nothing; a reported address is one inet_pton reads back, in the family given, with
 * a port in range; a scheme is "http" or "https"; and when the walk stopped at an untrusted
 * client, a value put in front of the others (what a client could add) changes nothing. */
#include "fuzz.h"
#include "forwarded.h"
#include "netmask.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <string.h>

#define MAX_VALUES 16

union peer {
    struct sockaddr sa;
    struct sockaddr_in in4;
    struct sockaddr_in6 in6;
};

/* The next line of data[*pos .. size), without its '\n'. */
static size_t next_line(const uint8_t *data, size_t size, size_t *pos, const uint8_t **line)
{
    const uint8_t *p = data + *pos;
    const uint8_t *nl = memchr(p, '\n', size - *pos);
    size_t n = nl ? (size_t)(nl - p) : size - *pos;
    *line = p;
    *pos += n + (nl ? 1 : 0);
    return n;
}

static void check_client(const struct forwarded_client *c, int r)
{
    if (r & FORWARDED_ADDR) {
        unsigned char a[16];
        FUZZ_ASSERT(c->family == AF_INET || c->family == AF_INET6);
        FUZZ_ASSERT(memchr(c->addr, 0, sizeof c->addr) != NULL);
        FUZZ_ASSERT(inet_pton(c->family, c->addr, a) == 1);
        FUZZ_ASSERT(c->port >= -1 && c->port <= 65535);
    } else {
        FUZZ_ASSERT(c->family == AF_UNSPEC && c->addr[0] == 0 && c->port == -1);
    }
    if (r & FORWARDED_PROTO)
        FUZZ_ASSERT(c->proto && (strcmp(c->proto, "http") == 0 || strcmp(c->proto, "https") == 0));
    else
        FUZZ_ASSERT(c->proto == NULL);
}

static bool same(const struct forwarded_client *a, const struct forwarded_client *b)
{
    return a->family == b->family && strcmp(a->addr, b->addr) == 0 && a->port == b->port &&
           a->proto == b->proto;
}

/* The client address is not a trusted one: the walk stopped there, before anything to its
 * left. */
static bool stopped_at_untrusted(const struct netmask_list *nl, const struct forwarded_client *c)
{
    unsigned char a[16];
    return c->family != AF_UNSPEC && inet_pton(c->family, c->addr, a) == 1 &&
           !netmask_match_addr(nl, c->family, a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t pos = 0;
    const uint8_t *line;
    size_t n = next_line(data, size, &pos, &line);
    char *list = malloc(n + 1);
    if (!list)
        abort();
    memcpy(list, line, n);
    list[n] = 0;
    struct netmask_list nl;
    char err[128];
    int pr = netmask_parse(&nl, list, err, sizeof err);
    free(list);
    if (pr != 0) {
        FUZZ_ASSERT(pr == -EINVAL || pr == -ENOMEM);
        FUZZ_ASSERT(memchr(err, 0, sizeof err) && !strchr(err, '\n') && err[0]);
        netmask_deinit(&nl);
        return 0;
    }

    n = next_line(data, size, &pos, &line);
    union peer peer;
    memset(&peer, 0, sizeof peer);
    peer.sa.sa_family = AF_PACKET; /* a family that is never trusted, unless the line says */
    char pbuf[64];
    if (n < sizeof pbuf) {
        memcpy(pbuf, line, n);
        pbuf[n] = 0;
        if (inet_pton(AF_INET, pbuf, &peer.in4.sin_addr) == 1)
            peer.sa.sa_family = AF_INET;
        else if (inet_pton(AF_INET6, pbuf, &peer.in6.sin6_addr) == 1)
            peer.sa.sa_family = AF_INET6;
        else if (strcmp(pbuf, "unix") == 0)
            peer.sa.sa_family = AF_UNSPEC;
    }
    bool trusted = netmask_match(&nl, &peer.sa);

    /* values[0] is kept free for the extra value put in front */
    struct span values[MAX_VALUES + 1];
    size_t nv = 0;
    while (pos < size && nv < MAX_VALUES) {
        n = next_line(data, size, &pos, &line);
        char *v = malloc(n ? n : 1); /* exact size: over-reads are ASan reports */
        if (!v)
            abort();
        if (n)
            memcpy(v, line, n);
        values[1 + nv++] = (struct span){v, n};
    }

    struct forwarded_client c, c2;
    int r = forwarded_xff(&nl, &peer.sa, values + 1, nv, &c);
    FUZZ_ASSERT(r == 0 || r == FORWARDED_ADDR);
    check_client(&c, r);
    FUZZ_ASSERT(trusted || r == 0);
    if (stopped_at_untrusted(&nl, &c)) {
        values[0] = (struct span){"6.6.6.6, 10.0.0.1", 17};
        FUZZ_ASSERT(forwarded_xff(&nl, &peer.sa, values, nv + 1, &c2) == r && same(&c, &c2));
    }

    r = forwarded_rfc7239(&nl, &peer.sa, values + 1, nv, &c);
    FUZZ_ASSERT((r & ~(FORWARDED_ADDR | FORWARDED_PROTO)) == 0);
    check_client(&c, r);
    FUZZ_ASSERT(trusted || r == 0);
    if (stopped_at_untrusted(&nl, &c)) {
        values[0] = (struct span){"for=6.6.6.6;proto=http, \"", 26};
        FUZZ_ASSERT(forwarded_rfc7239(&nl, &peer.sa, values, nv + 1, &c2) == r && same(&c, &c2));
    }

    const char *proto = forwarded_proto(&nl, &peer.sa, values + 1, nv);
    FUZZ_ASSERT(!proto || strcmp(proto, "http") == 0 || strcmp(proto, "https") == 0);
    FUZZ_ASSERT(trusted || !proto);

    for (size_t i = 1; i <= nv; i++)
        free((void *)values[i].p);
    netmask_deinit(&nl);
    return 0;
}
