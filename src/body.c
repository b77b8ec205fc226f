#include "body.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int open_tmp(void)
{
    const char *dir = getenv("TMPDIR");
    if (!dir || !*dir)
        dir = "/tmp";
    int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != ENOENT))
        return fd < 0 ? -errno : fd;
    /* No O_TMPFILE on this file system: create and unlink at once. */
    char path[4096];
    if (snprintf(path, sizeof path, "%s/httpsd-body-XXXXXX", dir) >= (int)sizeof path)
        return -ENAMETOOLONG;
    fd = mkostemp(path, O_CLOEXEC);
    if (fd < 0)
        return -errno;
    unlink(path);
    return fd;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int body_append(struct body *b, const char *data, size_t n)
{
    if (b->fd < 0 && b->len + n <= BODY_MEM_MAX) {
        int e = buf_append(&b->mem, data, n);
        if (e == 0)
            b->len += n;
        return e;
    }
    if (b->fd < 0) {
        int fd = open_tmp();
        if (fd < 0)
            return fd;
        int e = write_all(fd, buf_data(&b->mem), buf_size(&b->mem));
        if (e < 0) {
            close(fd);
            return e;
        }
        b->fd = fd;
        buf_free(&b->mem);
    }
    int e = write_all(b->fd, data, n);
    if (e == 0)
        b->len += n;
    return e;
}

ssize_t body_read(const struct body *b, uint64_t off, char *dst, size_t n)
{
    if (off >= b->len)
        return 0;
    if (n > b->len - off)
        n = (size_t)(b->len - off);
    if (b->fd < 0) {
        memcpy(dst, buf_data(&b->mem) + off, n);
        return (ssize_t)n;
    }
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(b->fd, dst + got, n - got, (off_t)(off + got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -errno;
        if (r == 0)
            break;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

void body_free(struct body *b)
{
    buf_free(&b->mem);
    if (b->fd >= 0)
        close(b->fd);
    body_init(b);
}
