#include "router.h"

#include "exchange.h"
#include "log.h"
#include "path.h"
#include "server.h"
#include "static.h"
#include "wsgi/wsgi.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int by_prefix_len(const void *a, const void *b)
{
    const struct static_root *x = a, *y = b;
    return (int)y->mount->prefix_len - (int)x->mount->prefix_len;
}

int router_init(struct router *r, const struct cfg *cfg, const struct server *srv, char *err,
                size_t errlen)
{
    r->nroots = 0;
    r->health = cfg->health;
    r->redirect_http = cfg->redirect_http;
    r->have_app = cfg->app != NULL;
    r->request_buffering = cfg->request_buffering;
    r->srv = srv;
    r->roots = calloc(cfg->nmounts ? cfg->nmounts : 1, sizeof *r->roots);
    if (!r->roots) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    for (size_t i = 0; i < cfg->nmounts; i++) {
        int fd = open(cfg->mounts[i].dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) {
            int e = -errno;
            snprintf(err, errlen, "--static %s=%s: %s",
                     cfg->mounts[i].prefix[0] ? cfg->mounts[i].prefix : "/", cfg->mounts[i].dir,
                     strerror(-e));
            router_deinit(r);
            return e;
        }
        r->roots[r->nroots].mount = &cfg->mounts[i];
        r->roots[r->nroots].dirfd = fd;
        r->roots[r->nroots].max_age = cfg->static_max_age;
        r->roots[r->nroots].dotfiles = cfg->static_dotfiles;
        r->nroots++;
    }
    qsort(r->roots, r->nroots, sizeof *r->roots, by_prefix_len);
    return 0;
}

void router_deinit(struct router *r)
{
    for (size_t i = 0; i < r->nroots; i++)
        close(r->roots[i].dirfd);
    free(r->roots);
    r->roots = NULL;
    r->nroots = 0;
}

/* The static root whose prefix covers path, or NULL. */
static const struct static_root *match(const struct router *r, const char *path, size_t len)
{
    for (size_t i = 0; i < r->nroots; i++) {
        const struct static_mount *m = r->roots[i].mount;
        if (len < m->prefix_len || memcmp(path, m->prefix, m->prefix_len) != 0)
            continue;
        if (len > m->prefix_len && path[m->prefix_len] != '/')
            continue; /* "/staticfoo" is not under "/static" */
        return &r->roots[i];
    }
    return NULL;
}

enum route router_route(const struct router *r, struct exchange *x)
{
    const struct request *req = x->req;
    if (r->health && (req->is_get || req->is_head) && req->path.n == strlen(r->health) &&
        memcmp(req->path.p, r->health, req->path.n) == 0)
        return ROUTE_HEALTH;
    if (r->redirect_http && !x->tls && !x->ops->client(x)->https)
        return ROUTE_REDIRECT;
    if (!r->have_app)
        return ROUTE_STATIC;
    char path[PATH_MAX];
    size_t len;
    if (path_normalize(req->path.p, req->path.n, path, sizeof path, &len) < 0)
        return ROUTE_APP; /* the app sees the raw path and decides */
    return match(r, path, len) ? ROUTE_STATIC : ROUTE_APP;
}

/* The Host header's name without its port ("[::1]" keeps its brackets). */
static struct span host_name(struct span host)
{
    size_t n = host.n;
    if (n == 0) /* (p may be NULL then: no memchr on it) */
        return host;
    if (host.p[0] == '[') {
        const char *close = memchr(host.p, ']', n);
        return (struct span){host.p, close ? (size_t)(close - host.p) + 1 : n};
    }
    const char *colon = memchr(host.p, ':', n);
    return (struct span){host.p, colon ? (size_t)(colon - host.p) : n};
}

static int health(const struct router *r, struct exchange *x)
{
    struct response res;
    response_init(&res);
    bool up = !r->srv->stopping && !r->srv->draining;
    res.status = up ? 200 : 503;
    res.content_type = "text/plain";
    res.body = up ? "ok\n" : "stopping\n";
    res.content_length = up ? 3 : 9;
    if (!response_add_header(&res, "Cache-Control", "no-store"))
        log_error("cannot add Cache-Control");
    return exchange_send(x, &res);
}

/* The same target on the TLS listener's port of the host asked for. */
static int redirect(const struct router *r, struct exchange *x)
{
    const struct request *req = x->req;
    struct span host = host_name(req->host);
    if (host.n == 0) /* HTTP/1.0 without Host: nothing to redirect to */
        return exchange_error(x, 400);
    /* Through a trusted proxy (it said the client came over http) the public TLS port is the
     * proxy's, not ours: the default one. */
    const char *port = x->ops->client(x)->proto_forwarded ? "" : r->srv->redirect_port;
    struct response res;
    response_init(&res);
    response_error(&res, 308);
    if (!response_add_header(&res, "Location", "https://%.*s%s%s%.*s", (int)host.n, host.p,
                             port[0] ? ":" : "", port, (int)req->target.n, req->target.p))
        response_error(&res, 414); /* a target too long for the header: refuse it */
    return exchange_send(x, &res);
}

bool router_streams_body(const struct router *r, enum route route, bool length_known,
                         uint64_t length)
{
    return route == ROUTE_APP && !r->request_buffering && length_known &&
           length > WSGI_STREAM_MIN && wsgi_threaded();
}

static int app(const struct router *r, struct exchange *x, const struct xin *in)
{
    int e = wsgi_start(x, in);
    if (e == 0)
        return 0;
    if (e == -EBUSY)
        log_warn("#%llu every app thread is busy and %zu requests wait: 503 for %.*s",
                 (unsigned long long)x->id, r->srv->cfg->max_queue, (int)x->req->path.n,
                 x->req->path.p);
    return 503;
}

int router_handle(const struct router *r, struct exchange *x, enum route route,
                  const struct xin *in)
{
    if (route == ROUTE_APP)
        return app(r, x, in);
    if (route == ROUTE_HEALTH)
        return health(r, x);
    if (route == ROUTE_REDIRECT)
        return redirect(r, x);
    const struct request *req = x->req;
    char path[PATH_MAX];
    size_t len;
    int e = path_normalize(req->path.p, req->path.n, path, sizeof path, &len);
    if (e < 0)
        return exchange_error(x, e == -ENAMETOOLONG ? 414 : 400);
    const struct static_root *root = match(r, path, len);
    if (!root)
        return exchange_error(x, 404);
    if (!req->is_get && !req->is_head) {
        struct response res;
        response_init(&res);
        response_error(&res, 405);
        if (!response_add_header(&res, "Allow", "GET, HEAD"))
            log_error("cannot add Allow header");
        return exchange_send(x, &res);
    }
    size_t plen = root->mount->prefix_len;
    return static_serve(root, x, path + plen, len - plen);
}
