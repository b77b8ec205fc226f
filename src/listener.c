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
    l->proxy = b->proxy;
    l->shared = true;
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
    l->proxy = b->proxy;
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
        if (src[i].shared) {
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

/* Does the bound address sa (from getsockname) belong to spec b? */
static bool spec_matches(const struct bind_spec *b, const struct sockaddr *sa)
{
    if (sa->sa_family == AF_UNIX) {
        const struct sockaddr_un *sun = (const void *)sa;
        return b->kind == BIND_UNIX && strcmp(sun->sun_path, b->path) == 0;
    }
    if (b->kind == BIND_UNIX)
        return false;
    struct addrinfo *res = NULL, hints = {
                                     .ai_family = sa->sa_family,
                                     .ai_socktype = SOCK_STREAM,
                                     .ai_flags = AI_PASSIVE | AI_NUMERICSERV,
                                 };
    if (getaddrinfo(b->host[0] ? b->host : NULL, b->port, &hints, &res) != 0)
        return false;
    bool match = false;
    for (const struct addrinfo *ai = res; ai && !match; ai = ai->ai_next) {
        if (sa->sa_family == AF_INET) {
            const struct sockaddr_in *x = (const void *)sa, *y = (const void *)ai->ai_addr;
            match = x->sin_addr.s_addr == y->sin_addr.s_addr &&
                    (x->sin_port == y->sin_port || y->sin_port == 0);
        } else if (sa->sa_family == AF_INET6) {
            const struct sockaddr_in6 *x = (const void *)sa, *y = (const void *)ai->ai_addr;
            match = memcmp(&x->sin6_addr, &y->sin6_addr, sizeof x->sin6_addr) == 0 &&
                    (x->sin6_port == y->sin6_port || y->sin6_port == 0);
        }
    }
    freeaddrinfo(res);
    return match;
}

int listener_open_or_inherit(const struct bind_spec *specs, size_t n, bool reuseport,
                             struct listener **out, size_t *nout, char *err, size_t errlen)
{
    const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
    long nfds = fds ? strtol(fds, NULL, 10) : 0;
    if (!pid || strtol(pid, NULL, 10) != (long)getpid() || nfds <= 0)
        return listener_open_all(specs, n, reuseport, out, nout, err, errlen);
    unsetenv("LISTEN_PID"); /* not for the app, nor for what it starts */
    unsetenv("LISTEN_FDS");
    unsetenv("LISTEN_FDNAMES");
    struct listener *ls = calloc((size_t)nfds, sizeof *ls);
    bool *used = calloc(n ? n : 1, sizeof *used);
    size_t count = 0;
    int e = -ENOMEM;
    if (!ls || !used) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    for (long i = 0; i < nfds; i++, count++) {
        int fd = 3 + (int)i; /* SD_LISTEN_FDS_START */
        struct listener *l = &ls[count];
        l->io.fd = fd;
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        int listening = 0, rp = 0;
        socklen_t ol = sizeof listening;
        e = -EINVAL;
        if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0 ||
            getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &ol) < 0 || !listening) {
            snprintf(err, errlen, "systemd passed descriptor %d, which is not a listening socket",
                     fd);
            goto fail;
        }
        size_t k = 0;
        while (k < n && !spec_matches(&specs[k], (struct sockaddr *)&ss))
            k++;
        l->is_unix = ss.ss_family == AF_UNIX;
        if (l->is_unix)
            snprintf(l->url, sizeof l->url, "unix:%s", ((struct sockaddr_un *)&ss)->sun_path);
        else
            format_url(l, (struct sockaddr *)&ss);
        if (k == n) {
            snprintf(err, errlen, "systemd passed a socket on %s that no --bind names", l->url);
            goto fail;
        }
        used[k] = true;
        l->tls = specs[k].kind == BIND_TLS;
        l->proxy = specs[k].proxy;
        if (!l->is_unix)
            format_url(l, (struct sockaddr *)&ss); /* now with the right scheme */
        /* systemd's socket, not ours to unlink; shared by the workers unless it is already in a
         * reuseport group (ReusePort=yes), which further sockets can join */
        ol = sizeof rp;
        l->shared = l->is_unix || getsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &rp, &ol) < 0 || !rp;
        int fl = fcntl(fd, F_GETFL);
        fcntl(fd, F_SETFL, fl | O_NONBLOCK);
        fcntl(fd, F_SETFD, FD_CLOEXEC);
    }
    /* --bind addresses systemd did not pass: bound here */
    struct bind_spec *rest = calloc(n ? n : 1, sizeof *rest);
    size_t nrest = 0;
    if (!rest) {
        e = -ENOMEM;
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    for (size_t k = 0; k < n; k++)
        if (!used[k])
            rest[nrest++] = specs[k];
    struct listener *more = NULL;
    size_t nmore = 0;
    e = nrest ? listener_open_all(rest, nrest, reuseport, &more, &nmore, err, errlen) : 0;
    free(rest);
    if (e < 0)
        goto fail;
    struct listener *all = realloc(ls, (count + nmore ? count + nmore : 1) * sizeof *ls);
    if (!all) {
        listener_close_all(more, nmore);
        free(more);
        e = -ENOMEM;
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    ls = all;
    if (nmore)
        memcpy(ls + count, more, nmore * sizeof *more);
    free(more);
    free(used);
    *out = ls;
    *nout = count + nmore;
    return 0;
fail:
    listener_close_all(ls, count);
    free(ls);
    free(used);
    return e;
}
