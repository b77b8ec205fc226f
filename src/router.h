/* router: request → handler. Static prefixes first; otherwise 404 (the WSGI app later). */
#ifndef HTTPSD_ROUTER_H
#define HTTPSD_ROUTER_H

#include "cfg.h"
#include "exchange.h"
#include "request.h"

struct static_root {
    const struct static_mount *mount; /* borrowed from cfg */
    int dirfd;                        /* owned */
    int64_t max_age;                  /* --static-max-age, -1 = none */
    bool dotfiles;                    /* --static-dotfiles */
};

struct server;
struct exchange;

/* What answers a request. */
enum route {
    ROUTE_STATIC,   /* a static mount, or 400/404/405/414 */
    ROUTE_APP,      /* the WSGI app */
    ROUTE_HEALTH,   /* --health */
    ROUTE_REDIRECT, /* --redirect-http on a plain listener */
};

struct router {
    struct static_root *roots; /* owned, longest prefix first */
    size_t nroots;
    const char *health; /* --health PATH, or NULL */
    bool redirect_http; /* --redirect-http */
    bool have_app;
    bool request_buffering;   /* --request-buffering (the default) */
    const struct server *srv; /* for health (stopping) and redirects (the TLS port) */
};

/* Open every mount's directory. 0, or negative with the reason in err. */
int router_init(struct router *r, const struct cfg *cfg, const struct server *srv, char *err,
                size_t errlen) __attribute__((warn_unused_result));
void router_deinit(struct router *r);
/* Which handler answers x, for every protocol: the server's own answers first (--health on
 * every listener; with --redirect-http everything on a plain listener unless a trusted proxy
 * says its client came over https — redirecting that would loop), then static mounts, then the
 * app (an invalid path goes to the app, which sees it raw, when there is one). */
enum route router_route(const struct router *r, struct exchange *x);
/* Whether the request body of a route goes to its handler as it arrives (xin.streams),
 * rather than read whole first: only the app's, with --no-request-buffering, pool threads and
 * an announced length above WSGI_STREAM_MIN (an app thread otherwise waits on the client). */
bool router_streams_body(const struct router *r, enum route route, bool length_known,
                         uint64_t length);
/* Whether a route's handler reads the request body (the others' is read and dropped). */
static inline bool router_takes_body(enum route route)
{
    return route == ROUTE_APP;
}
/* Answer x: at once, or by leaving a producer in x->body, or a handler in x->handler that the
 * protocol drives (the app; in describes the body, NULL: none). 0; -1 when the protocol
 * failed; a status (503) when the app cannot take the request now and nothing was answered. */
int router_handle(const struct router *r, struct exchange *x, enum route route,
                  const struct xin *in);

#endif
