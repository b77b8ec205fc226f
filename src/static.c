#include "static.h"

#include "httpdate.h"
#include "log.h"
#include "mime.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static int openat2_supported = -1; /* unknown until the first call */

/* Fallback for kernels without openat2 (< 5.6): walk component by component with O_NOFOLLOW,
 * so no symlink is followed at all. */
static int open_walk(int dirfd, const char *rel, int flags)
{
    char part[NAME_MAX + 1];
    int cur = dirfd;
    const char *p = rel;
    for (;;) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        if (n > NAME_MAX) {
            if (cur != dirfd)
                close(cur);
            return -ENAMETOOLONG;
        }
        memcpy(part, p, n);
        part[n] = 0;
        int fl = slash ? (O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) : (flags | O_NOFOLLOW);
        int fd = openat(cur, part, fl);
        int e = errno;
        if (cur != dirfd)
            close(cur);
        if (fd < 0)
            return -e;
        if (!slash)
            return fd;
        cur = fd;
        p = slash + 1;
    }
}

/* Open rel (no leading '/', "." for the root) beneath dirfd: symlinks may be followed only while
 * they stay inside. Returns an fd or -errno (EXDEV/ELOOP for an escape). */
static int open_beneath(int dirfd, const char *rel)
{
    int flags = O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY;
    if (openat2_supported != 0) {
        struct open_how how = {
            .flags = (unsigned long long)flags,
            .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
        };
        long fd = syscall(SYS_openat2, dirfd, rel, &how, sizeof how);
        if (fd >= 0) {
            openat2_supported = 1;
            return (int)fd;
        }
        if (errno != ENOSYS)
            return -errno;
        openat2_supported = 0;
        log_warn("openat2 is not available: symlinks under --static roots are not followed");
    }
    if (strcmp(rel, ".") == 0)
        return openat(dirfd, ".", flags);
    return open_walk(dirfd, rel, flags);
}

static int errno_status(int e, const char *rel)
{
    switch (e) {
    case ENOENT:
    case ENOTDIR:
    case EXDEV: /* a symlink leading out of the root */
    case ELOOP:
    case ENAMETOOLONG:
        return 404;
    case EACCES:
    case EPERM:
    case ENXIO: /* a UNIX socket */
    case ENODEV:
    case EOPNOTSUPP:
        return 403;
    case EMFILE:
    case ENFILE:
        log_warn("static: out of file descriptors");
        return 503;
    default:
        log_error("static: cannot open '%s': %s", rel, strerror(e));
        return 500;
    }
}

/* Location for a directory without its slash: the decoded path re-encoded (never starting with
 * "//", so it cannot point at another host), plus "/" and the query. */
static void redirect_to_dir(const struct request *req, const char *full, size_t n,
                            struct response *res)
{
    static const char hex[] = "0123456789ABCDEF";
    char loc[RESPONSE_HDRS_MAX / 2];
    size_t k = 0;
    for (size_t i = 0; i < n && k + 4 < sizeof loc; i++) {
        unsigned char c = (unsigned char)full[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            strchr("/-._~!$&'()*+,;=:@", c)) {
            loc[k++] = (char)c;
        } else {
            loc[k++] = '%';
            loc[k++] = hex[c >> 4];
            loc[k++] = hex[c & 15];
        }
    }
    loc[k] = 0;
    response_error(res, 301);
    if (!response_add_header(res, "Location", "%s/%s%.*s", loc, req->query.n ? "?" : "",
                             (int)req->query.n, req->query.p)) {
        response_error(res, 414);
    }
}

void static_serve(const struct static_root *root, const struct request *req, const char *rel,
                  size_t rel_len, struct response *res)
{
    const struct static_mount *m = root->mount;
    char full[PATH_MAX + 16];
    if (m->prefix_len + rel_len + sizeof "/index.html" > sizeof full) {
        response_error(res, 414);
        return;
    }
    memcpy(full, m->prefix, m->prefix_len);
    memcpy(full + m->prefix_len, rel, rel_len);
    size_t full_len = m->prefix_len + rel_len;
    full[full_len] = 0;

    /* rel is "" (the mount itself), "/", or "/a/b"; openat2 wants "a/b" or ".". */
    const char *relpath = rel_len > 1 ? full + m->prefix_len + 1 : ".";
    bool trailing_slash = rel_len > 0 && rel[rel_len - 1] == '/';

    int fd = open_beneath(root->dirfd, relpath);
    if (fd < 0) {
        response_error(res, errno_status(-fd, relpath));
        return;
    }
    struct stat st;
    if (fstat(fd, &st) < 0)
        goto fail_errno;
    const char *name = full;
    size_t name_len = full_len;
    if (S_ISDIR(st.st_mode)) {
        close(fd);
        if (!trailing_slash) {
            redirect_to_dir(req, full, full_len, res);
            return;
        }
        /* index.html, resolved from the root again so the same beneath-rule applies */
        memcpy(full + full_len, "index.html", sizeof "index.html");
        name_len = full_len + sizeof "index.html" - 1;
        relpath = rel_len > 1 ? full + m->prefix_len + 1 : "index.html";
        fd = open_beneath(root->dirfd, relpath);
        if (fd < 0) {
            response_error(res, errno_status(-fd, relpath));
            return;
        }
        if (fstat(fd, &st) < 0)
            goto fail_errno;
        if (S_ISDIR(st.st_mode)) {
            close(fd);
            response_error(res, 404);
            return;
        }
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        response_error(res, 403);
        return;
    }
    char date[HTTPDATE_LEN + 1];
    httpdate_format(st.st_mtim.tv_sec, date);
    res->status = 200;
    res->content_type = mime_for_path(name, name_len);
    res->content_length = st.st_size;
    res->file_fd = fd;
    res->file_off = 0;
    if (!response_add_header(res, "Last-Modified", "%s", date) ||
        !response_add_header(res, "ETag", "\"%llx.%lx-%llx\"",
                             (unsigned long long)st.st_mtim.tv_sec, (long)st.st_mtim.tv_nsec,
                             (unsigned long long)st.st_size))
        log_error("static: response headers do not fit");
    return;
fail_errno:;
    int e = errno;
    close(fd);
    response_error(res, errno_status(e, relpath));
}
