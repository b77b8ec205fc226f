#include "body.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Shared by the loop (appending) and app threads (freeing a finished task's body). */
static _Atomic uint64_t mem_used, disk_used;
static _Atomic uint64_t spool_used; /* the response spools' part of disk_used */
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

static int open_tmp(void);
static int write_all(int fd, const char *p, size_t n);

/* Freed chunks wait here for the next body (a free chunk's first bytes link the list), up to
 * CACHE_MAX of them; the rest go back to malloc. */
#define CACHE_MAX 256
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static void *cache_head;
static size_t cache_n;

static char *chunk_get(void)
{
    pthread_mutex_lock(&cache_lock);
    void *c = cache_head;
    if (c) {
        memcpy(&cache_head, c, sizeof cache_head);
        cache_n--;
    }
    pthread_mutex_unlock(&cache_lock);
    return c ? c : malloc(BODY_CHUNK);
}

static void chunk_put(char *c)
{
    pthread_mutex_lock(&cache_lock);
    if (cache_n < CACHE_MAX) {
        memcpy(c, &cache_head, sizeof cache_head);
        cache_head = c;
        cache_n++;
        c = NULL;
    }
    pthread_mutex_unlock(&cache_lock);
    free(c);
}

void body_release_cache(void)
{
    pthread_mutex_lock(&cache_lock);
    void *c = cache_head;
    cache_head = NULL;
    cache_n = 0;
    pthread_mutex_unlock(&cache_lock);
    while (c) {
        void *next;
        memcpy(&next, c, sizeof next);
        free(c);
        c = next;
    }
}

size_t body_cached_chunks(void)
{
    pthread_mutex_lock(&cache_lock);
    size_t n = cache_n;
    pthread_mutex_unlock(&cache_lock);
    return n;
}

static void chunks_free(struct body *b)
{
    for (size_t i = 0; i < sizeof b->chunk / sizeof b->chunk[0] && b->chunk[i]; i++) {
        chunk_put(b->chunk[i]);
        b->chunk[i] = NULL;
    }
}

/* Copy n bytes at off out of the memory body (the caller checked they are there). */
static void mem_copy_out(const struct body *b, uint64_t off, char *dst, size_t n)
{
    while (n) {
        size_t k;
        const char *p = body_peek(b, off, &k);
        if (k > n)
            k = n;
        memcpy(dst, p, k);
        dst += k;
        off += k;
        n -= k;
    }
}

/* Append to the memory body (the caller checked len + n <= BODY_MEM_MAX); 0 or -ENOMEM with
 * the body unchanged. */
static int mem_append(struct body *b, const char *data, size_t n)
{
    if (!b->chunk[0] && b->len + n <= BODY_SMALL)
        return buf_append(&b->mem, data, n);
    bool had_chunks = b->chunk[0] != NULL;
    size_t need = (size_t)((b->len + n + BODY_CHUNK - 1) / BODY_CHUNK);
    for (size_t i = 0; i < need; i++)
        if (!b->chunk[i] && !(b->chunk[i] = chunk_get())) {
            if (!had_chunks) /* the body is still in mem: no chunk holds data yet */
                chunks_free(b);
            return -ENOMEM; /* (chunks past the data are freed with the body) */
        }
    if (buf_size(&b->mem)) { /* the small body moves to the first chunk */
        memcpy(b->chunk[0], buf_data(&b->mem), buf_size(&b->mem));
        buf_free(&b->mem);
    }
    uint64_t off = b->len;
    while (n) {
        size_t in = (size_t)(off % BODY_CHUNK), k = BODY_CHUNK - in;
        if (k > n)
            k = n;
        memcpy(b->chunk[off / BODY_CHUNK] + in, data, k);
        data += k;
        off += k;
        n -= k;
    }
    return 0;
}

/* Move the memory body into a new temporary file; the fd or -errno. */
static int spill(struct body *b)
{
    int fd = open_tmp();
    int e = fd < 0 || b->chunk[0] ? 0 : write_all(fd, buf_data(&b->mem), buf_size(&b->mem));
    for (uint64_t off = 0; fd >= 0 && e == 0 && b->chunk[0] && off < b->len; off += BODY_CHUNK) {
        size_t k = b->len - off < BODY_CHUNK ? (size_t)(b->len - off) : BODY_CHUNK;
        e = write_all(fd, b->chunk[off / BODY_CHUNK], k);
    }
    if (e < 0) {
        close(fd);
        return e;
    }
    return fd;
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
        int e = mem_append(b, data, n);
        if (e == 0)
            b->len += n;
        else
            give(&mem_used, n);
        return e;
    }
    if (!take(&disk_used, disk_max, b->fd < 0 ? b->len + n : n))
        return -ENOSPC;
    if (b->fd < 0) {
        int fd = spill(b);
        if (fd < 0) {
            give(&disk_used, b->len + n);
            return fd;
        }
        b->fd = fd;
        buf_free(&b->mem);
        chunks_free(b);
        give(&mem_used, b->len);
    }
    int e = write_all(b->fd, data, n);
    if (e == 0)
        b->len += n;
    else
        give(&disk_used, n);
    return e;
}

/* pread exactly n bytes at off unless the file ends first; the count or -errno. */
static ssize_t pread_all(int fd, char *dst, size_t n, uint64_t off)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(fd, dst + got, n - got, (off_t)(off + got));
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

ssize_t body_read(const struct body *b, uint64_t off, char *dst, size_t n)
{
    if (off >= b->len)
        return 0;
    if (n > b->len - off)
        n = (size_t)(b->len - off);
    if (b->fd < 0) {
        mem_copy_out(b, off, dst, n);
        return (ssize_t)n;
    }
    return pread_all(b->fd, dst, n, off);
}

const char *body_peek(const struct body *b, uint64_t off, size_t *n)
{
    *n = 0;
    if (b->fd >= 0 || off >= b->len)
        return NULL;
    if (!b->chunk[0]) {
        *n = (size_t)(b->len - off);
        return buf_data(&b->mem) + off;
    }
    size_t in = (size_t)(off % BODY_CHUNK);
    *n = BODY_CHUNK - in;
    if (*n > b->len - off)
        *n = (size_t)(b->len - off);
    return b->chunk[off / BODY_CHUNK] + in;
}

void body_free(struct body *b)
{
    buf_free(&b->mem);
    chunks_free(b);
    if (b->fd >= 0) {
        close(b->fd);
        give(&disk_used, b->len);
    } else if (b->len) {
        give(&mem_used, b->len);
    }
    body_init(b);
}

/* ---- response spools ---------------------------------------------------------------------- */

bool spool_budget_fits(uint64_t n)
{
    uint64_t d = atomic_load_explicit(&disk_used, memory_order_relaxed);
    uint64_t sp = atomic_load_explicit(&spool_used, memory_order_relaxed);
    return sp + n <= disk_max / 2 && d + n <= disk_max;
}

static void spool_give(uint64_t n)
{
    give(&disk_used, n);
    give(&spool_used, n);
}

int spool_write(struct spool *s, uint64_t off, const char *p, size_t n, bool force)
{
    uint64_t grow = off + n > s->size ? off + n - s->size : 0;
    if (grow) {
        if (!force && !spool_budget_fits(grow))
            return -ENOSPC;
        atomic_fetch_add_explicit(&disk_used, grow, memory_order_relaxed);
        atomic_fetch_add_explicit(&spool_used, grow, memory_order_relaxed);
        s->size += grow;
    }
    if (s->fd < 0 && (s->fd = open_tmp()) < 0) {
        int e = s->fd;
        s->fd = -1;
        return e;
    }
    while (n) {
        ssize_t w = pwrite(s->fd, p, n, (off_t)off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return w < 0 ? -errno : -EIO;
        p += w;
        off += (uint64_t)w;
        n -= (size_t)w;
    }
    return 0;
}

void spool_rewind(struct spool *s)
{
    if (s->fd >= 0 && s->size && ftruncate(s->fd, 0) < 0)
        return; /* keep counting what the file still holds */
    spool_give(s->size);
    s->size = 0;
}

ssize_t spool_read(const struct spool *s, uint64_t off, char *dst, size_t n)
{
    ssize_t r = pread_all(s->fd, dst, n, off);
    return r >= 0 && (size_t)r < n ? -EIO : r; /* the bytes were written: all must be there */
}

void spool_free(struct spool *s)
{
    if (s->fd >= 0)
        close(s->fd);
    spool_give(s->size);
    spool_init(s);
}
