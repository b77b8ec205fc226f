#include "client.h"

#include "forwarded.h"

#include <stdio.h>
#include <string.h>

void client_resolve(struct client *cl, const union conn_addr *peer, bool tls,
                    const struct request *r, const struct netmask_list *trusted)
{
    cl->https = tls;
    cl->proto_forwarded = false;
    if (!conn_addr_str(peer, cl->addr, sizeof cl->addr, &cl->port))
        cl->addr[0] = 0; /* UNIX: REMOTE_ADDR "" (the access log says "unix") */
    if (!r->nheaders || !netmask_match(trusted, &peer->sa))
        return;
    enum { MAXV = 8 }; /* field lines per header name; more are not read */
    struct span xff[MAXV], xfp[MAXV], fwd[MAXV];
    size_t nxff = 0, nxfp = 0, nfwd = 0;
    for (size_t i = 0; i < r->nheaders; i++) {
        struct span n = r->headers[i].name, v = r->headers[i].value;
        if (n.n == 15 && span_eq_lower(n, "x-forwarded-for") && nxff < MAXV)
            xff[nxff++] = v;
        else if (n.n == 17 && span_eq_lower(n, "x-forwarded-proto") && nxfp < MAXV)
            xfp[nxfp++] = v;
        else if (n.n == 9 && span_eq_lower(n, "forwarded") && nfwd < MAXV)
            fwd[nfwd++] = v;
    }
    struct forwarded_client fc;
    int got = nfwd ? forwarded_rfc7239(trusted, &peer->sa, fwd, nfwd, &fc) : 0;
    if (!(got & FORWARDED_ADDR) && nxff) {
        struct forwarded_client fx;
        if (forwarded_xff(trusted, &peer->sa, xff, nxff, &fx) & FORWARDED_ADDR) {
            memcpy(fc.addr, fx.addr, sizeof fc.addr);
            fc.port = fx.port;
            got |= FORWARDED_ADDR;
        }
    }
    if (got & FORWARDED_ADDR) {
        snprintf(cl->addr, sizeof cl->addr, "%s", fc.addr);
        cl->port = fc.port > 0 ? (unsigned)fc.port : 0;
    }
    const char *proto = (got & FORWARDED_PROTO) ? fc.proto
                        : nxfp                  ? forwarded_proto(trusted, &peer->sa, xfp, nxfp)
                                                : NULL;
    if (proto) {
        cl->https = strcmp(proto, "https") == 0;
        cl->proto_forwarded = true;
    }
}
