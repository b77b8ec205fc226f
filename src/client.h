/* client: who a request is from, as the app and the access log see it — the connection's peer
 * (its PROXY header's source on proxy+ listeners) and TLS, unless the peer is in
 * --forwarded-allow-ips: then Forwarded (RFC 7239), else X-Forwarded-For and X-Forwarded-Proto
 * say (forwarded.h picks the right-most hop no trusted proxy vouches for). The same for every
 * protocol. */
#ifndef HTTPSD_CLIENT_H
#define HTTPSD_CLIENT_H

#include "conn.h"
#include "netmask.h"
#include "request.h"

#include <stdbool.h>

struct client {
    bool https;           /* the scheme the client used */
    bool proto_forwarded; /* ... as a trusted proxy's header said */
    unsigned port;        /* 0 when unknown */
    char addr[48];        /* "" for a UNIX peer */
};

void client_resolve(struct client *cl, const union conn_addr *peer, bool tls,
                    const struct request *r, const struct netmask_list *trusted);

#endif
