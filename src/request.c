/* request: looking into a parsed request head (request.h). */
#include "request.h"

#include "chars.h"

#include <string.h>

struct span request_header(const struct request *r, const char *lower_name)
{
    for (size_t i = 0; i < r->nheaders; i++)
        if (span_eq_lower(r->headers[i].name, lower_name))
            return r->headers[i].value;
    return (struct span){NULL, 0};
}

/* RFC 9112 §3.2 / RFC 3986 §3.2.2: Host = uri-host [ ":" port ]. */
bool request_host_valid(struct span h)
{
    size_t i = 0;
    if (h.n && h.p[0] == '[') { /* IP-literal */
        for (i = 1; i < h.n && h.p[i] != ']'; i++) {
            char c = h.p[i];
            if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') ||
                  c == ':' || c == '.'))
                return false;
        }
        if (i == h.n)
            return false;
        i++;
    } else {
        /* An empty name, one starting with '.' or holding ".." names no host (and ".." could
         * walk a path an app builds from SERVER_NAME). */
        if (h.n == 0 || h.p[0] == '.' || h.p[0] == ':' || memmem(h.p, h.n, "..", 2))
            return false;
        for (; i < h.n && h.p[i] != ':'; i++) {
            unsigned char c = (unsigned char)h.p[i];
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  strchr("-._~%!$&'()*+,;=", c)))
                return false;
        }
    }
    if (i == h.n)
        return true;
    if (h.p[i] != ':')
        return false;
    for (i++; i < h.n; i++)
        if (h.p[i] < '0' || h.p[i] > '9')
            return false;
    return true;
}

/* Does a dot-segment ("..", also written "%2e%2e") lead above "/"? Such a path means nothing
 * in a URL (RFC 3986 §5.2.4 drops it) and only serves to probe for traversal bugs: 400, as
 * nginx answers. Within the root ("/a/../b") it is left to the app as sent. */
static bool climbs_above_root(struct span path)
{
    int depth = 0;
    size_t i = 0;
    while (i < path.n) {
        while (i < path.n && path.p[i] == '/')
            i++;
        size_t start = i, dots = 0, other = 0;
        while (i < path.n && path.p[i] != '/') {
            if (path.p[i] == '.') {
                dots++;
                i++;
            } else if (path.n - i >= 3 && path.p[i] == '%' && path.p[i + 1] == '2' &&
                       (path.p[i + 2] == 'e' || path.p[i + 2] == 'E')) {
                dots++;
                i += 3;
            } else {
                other++;
                i++;
            }
        }
        if (i == start || (dots == 1 && !other))
            continue; /* "" or "." */
        if (dots == 2 && !other) {
            if (--depth < 0)
                return true;
        } else {
            depth++;
        }
    }
    return false;
}

/* RFC 9112 §3.2: the request-target is origin-form ("/path?query"), absolute-form
 * ("http://authority/path?query", no userinfo: RFC 9110 §4.2.4) or "*" for OPTIONS alone
 * (authority-form is CONNECT's, refused elsewhere). No fragment: '#' is in none of them, and a
 * front proxy that drops it would see another path than the app. "%00" would put a NUL into
 * PATH_INFO. 0 when acceptable, else the status to answer. */
int request_check_target(const struct request *r, bool is_options)
{
    struct span t = r->target;
    if (t.n == 1 && t.p[0] == '*')
        return is_options ? 0 : 400;
    if (memchr(t.p, '#', t.n))
        return 400;
    size_t skip = 0;
    if (t.n >= 7 && span_eq_lower((struct span){t.p, 7}, "http://"))
        skip = 7;
    else if (t.n >= 8 && span_eq_lower((struct span){t.p, 8}, "https://"))
        skip = 8;
    if (skip) { /* absolute-form: build_request took the authority as r->host */
        if (r->host.n == 0 || memchr(r->host.p, '@', r->host.n) ||
            memchr(r->host.p, '_', r->host.n) || !request_host_valid(r->host))
            return 400;
    } else if (t.n == 0 || t.p[0] != '/') {
        return 400;
    }
    /* RFC 3986 §2.1: '%' starts two hex digits; "%00" would be a NUL in PATH_INFO. */
    for (const char *q = t.p, *end = t.p + t.n; (q = memchr(q, '%', (size_t)(end - q))); q++) {
        if (end - q < 3 || hex_value((unsigned char)q[1]) < 0 ||
            hex_value((unsigned char)q[2]) < 0 || (q[1] == '0' && q[2] == '0'))
            return 400;
    }
    return climbs_above_root(r->path) ? 400 : 0;
}
