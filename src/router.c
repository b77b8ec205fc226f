#include "router.h"

#include "log.h"
#include "path.h"
#include "static.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct span request_header(const struct request *r, const char *lower_name)
{
    for (size_t i = 0; i < r->nheaders; i++)
        if (span_eq_lower(r->headers[i].name, lower_name))
            return r->headers[i].value;
    return (struct span){NULL, 0};
}

bool response_add_header_n(struct response *res, const char *name, const char *value, size_t vlen)
{
    size_t nlen = strlen(name);
    size_t room = sizeof res->hdrs - res->hdrs_len;
    if (nlen + vlen + 4 > room)
        return false;
    char *w = res->hdrs + res->hdrs_len;
    memcpy(w, name, nlen);
    memcpy(w + nlen, ": ", 2);
    memcpy(w + nlen + 2, value, vlen);
    memcpy(w + nlen + 2 + vlen, "\r\n", 2);
    res->hdrs_len += nlen + vlen + 4;
    return true;
}

bool response_add_header(struct response *res, const char *name, const char *fmt, ...)
{
    size_t room = sizeof res->hdrs - res->hdrs_len;
    int n = snprintf(res->hdrs + res->hdrs_len, room, "%s: ", name);
    if (n < 0 || (size_t)n >= room)
        return false;
    size_t len = (size_t)n;
    va_list ap;
    va_start(ap, fmt);
    n = vsnprintf(res->hdrs + res->hdrs_len + len, room - len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n + 2 >= room - len)
        return false;
    len += (size_t)n;
    memcpy(res->hdrs + res->hdrs_len + len, "\r\n", 2);
    res->hdrs_len += len + 2;
    return true;
}

const char *http_reason(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 304: return "Not Modified";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 416: return "Range Not Satisfiable";
    case 417: return "Expectation Failed";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
    }
}

size_t hsts_header_line(int64_t max_age, char *out, size_t n)
{
    if (max_age < 0)
        return 0;
    int k = snprintf(out, n, "Strict-Transport-Security: max-age=%lld\r\n", (long long)max_age);
    return k > 0 && (size_t)k < n ? (size_t)k : 0;
}

void response_error(struct response *res, int status)
{
    /* One static page per status, so the body outlives the call. */
    static __thread char page[64];
    res->status = status;
    res->content_type = "text/plain; charset=utf-8";
    int n = snprintf(page, sizeof page, "%d %s\n", status, http_reason(status));
    res->body = page;
    res->content_length = n;
}

static int by_prefix_len(const void *a, const void *b)
{
    const struct static_root *x = a, *y = b;
    return (int)y->mount->prefix_len - (int)x->mount->prefix_len;
}

int router_init(struct router *r, const struct cfg *cfg, char *err, size_t errlen)
{
    r->nroots = 0;
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

bool router_is_static(const struct router *r, const struct request *req, bool have_app)
{
    if (!have_app)
        return true;
    char path[PATH_MAX];
    size_t len;
    if (path_normalize(req->path.p, req->path.n, path, sizeof path, &len) < 0)
        return false; /* the app sees the raw path and decides */
    return match(r, path, len) != NULL;
}

void router_handle(const struct router *r, const struct request *req, struct response *res)
{
    char path[PATH_MAX];
    size_t len;
    int e = path_normalize(req->path.p, req->path.n, path, sizeof path, &len);
    if (e < 0) {
        response_error(res, e == -ENAMETOOLONG ? 414 : 400);
        return;
    }
    const struct static_root *root = match(r, path, len);
    if (!root) {
        response_error(res, 404);
        return;
    }
    if (!req->is_get && !req->is_head) {
        response_error(res, 405);
        if (!response_add_header(res, "Allow", "GET, HEAD"))
            log_error("cannot add Allow header");
        return;
    }
    size_t plen = root->mount->prefix_len;
    static_serve(root, req, path + plen, len - plen, res);
}
