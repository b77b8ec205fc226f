#include "body.h"

#include <errno.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Shared by the loop (appending) and app threads (freeing a finished task's body). */
static _Atomic uint64_t mem_used, disk_used;
static uint64_t mem_max = UINT64_MAX, disk_max = UINT64_MAX;

void body_set_budget(uint64_t mem, uint64_t disk)
{
    mem_max = mem;
    disk_max = disk;
}

void body_usage(uint64_t *mem, uint64_t *disk)
{
    *mem = atomic_load_explicit(&mem_used, memory_order_relaxed);
    *disk = atomic_load_explicit(&disk_used, memory_order_relaxed);
}

bool body_budget_fits(uint64_t len)
{
    uint64_t m, d;
    body_usage(&m, &d);
    uint64_t room = (m < mem_max ? mem_max - m : 0) + (d < disk_max ? disk_max - d : 0);
    return len <= room;
}

/* Take n bytes of a budget; false (nothing taken) when that would pass max. */
static bool take(_Atomic uint64_t *used, uint64_t max, uint64_t n)
{
    uint64_t was = atomic_fetch_add_explicit(used, n, memory_order_relaxed);
    if (was + n <= max && was + n >= was)
        return true;
    atomic_fetch_sub_explicit(used, n, memory_order_relaxed);
    return false;
}

static void give(_Atomic uint64_t *used, uint64_t n)
{
    atomic_fetch_sub_explicit(used, n, memory_order_relaxed);
}

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
    if (b->fd < 0 && b->len + n <= BODY_MEM_MAX && take(&mem_used, mem_max, n)) {
        int e = buf_append(&b->mem, data, n);
        if (e == 0)
            b->len += n;
        else
            give(&mem_used, n);
        return e;
    }
    if (!take(&disk_used, disk_max, b->fd < 0 ? b->len + n : n))
        return -ENOSPC;
    if (b->fd < 0) {
        int fd = open_tmp();
        int e = fd < 0 ? fd : write_all(fd, buf_data(&b->mem), buf_size(&b->mem));
        if (e < 0) {
            if (fd >= 0)
                close(fd);
            give(&disk_used, b->len + n);
            return e;
        }
        b->fd = fd;
        buf_free(&b->mem);
        give(&mem_used, b->len);
    }
    int e = write_all(b->fd, data, n);
    if (e == 0)
        b->len += n;
    else
        give(&disk_used, n);
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
    if (b->fd >= 0) {
        close(b->fd);
        give(&disk_used, b->len);
    } else {
        give(&mem_used, b->len);
    }
    body_init(b);
}
