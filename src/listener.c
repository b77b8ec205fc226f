#include "listener.h"

#include <arpa/inet.h>
#include <errno.h>
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

static int open_inet(const struct bind_spec *b, const struct addrinfo *ai, struct listener *l,
                     char *err, size_t errlen)
{
    int one = 1;
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        goto fail;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (ai->ai_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, SOMAXCONN) < 0)
        goto fail;
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

int listener_open_all(const struct bind_spec *specs, size_t n, struct listener **out, size_t *nout,
                      char *err, size_t errlen)
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
                                     : open_inet(b, ai, &ls[count], err, errlen);
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
            if (ls[i].is_unix)
                unlink(ls[i].path);
        }
        ls[i].io.fd = -1;
    }
}
