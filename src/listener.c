#include "listener.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static void format_url(struct listener *l, const struct sockaddr *sa)
{
    char host[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    const char *scheme = l->tls ? "https" : "http";
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const void *)sa;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
        port = ntohs(in->sin_port);
        snprintf(l->url, sizeof l->url, "%s://%s:%u", scheme, host, port);
    } else {
        const struct sockaddr_in6 *in6 = (const void *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
        port = ntohs(in6->sin6_port);
        snprintf(l->url, sizeof l->url, "%s://[%s]:%u", scheme, host, port);
    }
}

/* A stale socket file from a crashed run is removed; a live one is "address in use". */
static int clear_stale_unix(const char *path)
{
    struct stat st;
    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0 : -errno;
    if (!S_ISSOCK(st.st_mode))
        return -EADDRINUSE;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    memcpy(sun.sun_path, path, strlen(path) + 1);
    int r = connect(fd, (struct sockaddr *)&sun, sizeof sun);
    int e = errno;
    close(fd);
    if (r == 0)
        return -EADDRINUSE;
    if (e == ECONNREFUSED)
        return unlink(path) < 0 ? -errno : 0;
    return -EADDRINUSE;
}

static int open_unix(const struct bind_spec *b, struct listener *l, char *err, size_t errlen)
{
    int e = clear_stale_unix(b->path);
    if (e < 0) {
        snprintf(err, errlen, "cannot listen on unix:%s: %s", b->path, strerror(-e));
        return e;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        goto fail;
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    memcpy(sun.sun_path, b->path, strlen(b->path) + 1);
    if (bind(fd, (struct sockaddr *)&sun, sizeof sun) < 0 || listen(fd, SOMAXCONN) < 0)
        goto fail;
    l->io.fd = fd;
    l->tls = false;
    l->is_unix = true;
    snprintf(l->path, sizeof l->path, "%s", b->path);
    snprintf(l->url, sizeof l->url, "unix:%s", b->path);
    return 0;
fail:
    e = -errno;
    if (fd >= 0)
        close(fd);
    snprintf(err, errlen, "cannot listen on unix:%s: %s", b->path, strerror(-e));
    return e;
}

/* A listening TCP socket on addr; with reuseport, one of an SO_REUSEPORT group (every socket
 * of the group sets it before bind). -1 with errno. */
static int listen_inet(const struct sockaddr *addr, socklen_t len, bool reuseport)
{
    int one = 1;
    int fd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (reuseport)
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    if (addr->sa_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (bind(fd, addr, len) < 0 || listen(fd, SOMAXCONN) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

static int open_inet(const struct bind_spec *b, const struct addrinfo *ai, struct listener *l,
                     bool reuseport, char *err, size_t errlen)
{
    int fd = listen_inet(ai->ai_addr, ai->ai_addrlen, false);
    if (fd < 0)
        goto fail;
    if (reuseport) {
        /* Bound without SO_REUSEPORT first, so that a port another server holds is "in use"
         * (two reuseport groups of one user would silently share it); then the group's first
         * socket on the same address (the port chosen for port 0 included). */
        struct sockaddr_storage got;
        socklen_t gl = sizeof got;
        if (getsockname(fd, (struct sockaddr *)&got, &gl) < 0)
            goto fail;
        close(fd);
        fd = listen_inet((struct sockaddr *)&got, gl, true);
        if (fd < 0)
            goto fail;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
        goto fail;
    l->io.fd = fd;
    l->tls = b->kind == BIND_TLS;
    l->is_unix = false;
    format_url(l, (struct sockaddr *)&ss);
    return 0;
fail:;
    int e = -errno;
    if (fd >= 0)
        close(fd);
    snprintf(err, errlen, "cannot listen on %s%s%s:%s: %s", strchr(b->host, ':') ? "[" : "",
             b->host, strchr(b->host, ':') ? "]" : "", b->port, strerror(-e));
    return e;
}

int listener_open_all(const struct bind_spec *specs, size_t n, bool reuseport,
                      struct listener **out, size_t *nout, char *err, size_t errlen)
{
    struct listener *ls = NULL;
    size_t count = 0;
    int e = 0;
    for (size_t i = 0; i < n; i++) {
        const struct bind_spec *b = &specs[i];
        struct addrinfo *res = NULL, hints = {
                                         .ai_family = AF_UNSPEC,
                                         .ai_socktype = SOCK_STREAM,
                                         .ai_flags = AI_PASSIVE | AI_NUMERICSERV,
                                     };
        if (b->kind != BIND_UNIX) {
            int g = getaddrinfo(b->host[0] ? b->host : NULL, b->port, &hints, &res);
            if (g != 0) {
                snprintf(err, errlen, "cannot resolve '%s': %s", b->host, gai_strerror(g));
                e = -EINVAL;
                goto fail;
            }
        }
        for (const struct addrinfo *ai = res;; ai = ai->ai_next) {
            if (b->kind != BIND_UNIX && !ai)
                break;
            struct listener *nl = realloc(ls, (count + 1) * sizeof *ls);
            if (!nl) {
                freeaddrinfo(res);
                e = -ENOMEM;
                snprintf(err, errlen, "out of memory");
                goto fail;
            }
            ls = nl;
            memset(&ls[count], 0, sizeof ls[count]);
            e = b->kind == BIND_UNIX ? open_unix(b, &ls[count], err, errlen)
                                     : open_inet(b, ai, &ls[count], reuseport, err, errlen);
            if (e < 0) {
                if (res)
                    freeaddrinfo(res);
                goto fail;
            }
            count++;
            if (b->kind == BIND_UNIX)
                break;
        }
        if (res)
            freeaddrinfo(res);
    }
    *out = ls;
    *nout = count;
    return 0;
fail:
    listener_close_all(ls, count);
    free(ls);
    return e;
}

void listener_close_all(struct listener *ls, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (ls[i].io.fd >= 0) {
            close(ls[i].io.fd);
            if (ls[i].is_unix && ls[i].path[0]) /* a worker's copy has no path: not its own */
                unlink(ls[i].path);
        }
        ls[i].io.fd = -1;
    }
}

int listener_clone_all(const struct listener *src, size_t n, struct listener **out, char *err,
                       size_t errlen)
{
    struct listener *ls = calloc(n ? n : 1, sizeof *ls);
    if (!ls) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        ls[i] = src[i];
        ls[i].path[0] = 0; /* the original's to unlink */
        if (src[i].is_unix) {
            ls[i].io.fd = fcntl(src[i].io.fd, F_DUPFD_CLOEXEC, 0);
        } else {
            struct sockaddr_storage ss;
            socklen_t sl = sizeof ss;
            ls[i].io.fd = getsockname(src[i].io.fd, (struct sockaddr *)&ss, &sl) < 0
                              ? -1
                              : listen_inet((struct sockaddr *)&ss, sl, true);
        }
        if (ls[i].io.fd < 0) {
            int e = -errno;
            snprintf(err, errlen, "cannot listen on %s once more: %s", src[i].url, strerror(-e));
            listener_close_all(ls, i);
            free(ls);
            return e;
        }
    }
    *out = ls;
    return 0;
}
