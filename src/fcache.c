#include "fcache.h"

#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define NBUCKETS 4096 /* power of two */

struct entry {
    struct entry *hnext;       /* hash chain */
    struct entry *prev, *next; /* LRU list: head = least recently used */
    uint32_t hash;
    int dirfd;
    int64_t checked_ms;
    struct fcache_file f;
    char *data; /* owned, == f.data */
    size_t keylen;
    char key[]; /* relpath */
};

static struct entry *buckets[NBUCKETS];
static struct entry lru = {.prev = &lru, .next = &lru};
static size_t nentries, nbytes;
static int openat2_supported = -1; /* unknown until the first call */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

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

int fcache_open(int dirfd, const char *rel)
{
    /* O_NONBLOCK: opening a FIFO must not block the loop */
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
    if (strcmp(rel, ".") == 0) {
        int fd = openat(dirfd, ".", flags);
        return fd < 0 ? -errno : fd;
    }
    return open_walk(dirfd, rel, flags);
}

static uint32_t hash_key(int dirfd, const char *key, size_t n)
{
    uint32_t h = 2166136261u ^ (uint32_t)dirfd;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)key[i]) * 16777619u;
    return h;
}

static void lru_unlink(struct entry *e)
{
    e->prev->next = e->next;
    e->next->prev = e->prev;
}

static void lru_append(struct entry *e)
{
    e->prev = lru.prev;
    e->next = &lru;
    lru.prev->next = e;
    lru.prev = e;
}

static void drop_data(struct entry *e)
{
    if (e->data) {
        nbytes -= (size_t)e->f.st.st_size;
        free(e->data);
    }
    e->data = NULL;
    e->f.data = NULL;
}

static void evict(struct entry *e)
{
    struct entry **pp = &buckets[e->hash & (NBUCKETS - 1)];
    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
    lru_unlink(e);
    drop_data(e);
    nentries--;
    free(e);
}

static bool same_file(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
           a->st_mode == b->st_mode && a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
           a->st_mtim.tv_nsec == b->st_mtim.tv_nsec && a->st_ctim.tv_sec == b->st_ctim.tv_sec &&
           a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/* Errors worth remembering; others (EMFILE, EIO, ...) are retried on the next request. */
static bool is_stable_error(int err)
{
    return err == ENOENT || err == ENOTDIR || err == EXDEV || err == ELOOP || err == EACCES ||
           err == EPERM || err == ENXIO || err == ENAMETOOLONG;
}

static void refresh(struct entry *e, int64_t now)
{
    struct fcache_file old = e->f;
    e->checked_ms = now;
    int fd = fcache_open(e->dirfd, e->key);
    if (fd < 0) {
        drop_data(e);
        e->f.err = -fd;
        if (!is_stable_error(-fd))
            e->checked_ms = now - FCACHE_TTL_MS; /* look again next time */
        return;
    }
    struct stat st;
    if (fstat(fd, &st) < 0) {
        drop_data(e);
        e->f.err = errno;
        e->checked_ms = now - FCACHE_TTL_MS;
        close(fd);
        return;
    }
    e->f.err = 0;
    if (old.err == 0 && e->data && same_file(&old.st, &st)) {
        close(fd);
        return; /* unchanged: keep the content */
    }
    drop_data(e);
    e->f.st = st;
    if (S_ISREG(st.st_mode) && st.st_size <= FCACHE_SMALL &&
        nbytes + (size_t)st.st_size <= FCACHE_MAX_BYTES) {
        char *d = malloc(st.st_size ? (size_t)st.st_size : 1);
        ssize_t got = d ? pread(fd, d, (size_t)st.st_size, 0) : -1;
        struct stat after;
        /* a file being written while we read it is not kept */
        if (got == st.st_size && fstat(fd, &after) == 0 && same_file(&st, &after)) {
            e->data = d;
            e->f.data = d;
            nbytes += (size_t)st.st_size;
        } else {
            free(d);
        }
    }
    close(fd);
}

void fcache_get(int dirfd, const char *relpath, struct fcache_file *out)
{
    size_t n = strlen(relpath);
    uint32_t h = hash_key(dirfd, relpath, n);
    int64_t now = now_ms();
    struct entry *e = buckets[h & (NBUCKETS - 1)];
    while (e && !(e->hash == h && e->dirfd == dirfd && e->keylen == n &&
                  memcmp(e->key, relpath, n) == 0))
        e = e->hnext;
    if (e) {
        lru_unlink(e);
        lru_append(e);
        if (now - e->checked_ms >= FCACHE_TTL_MS)
            refresh(e, now);
    } else {
        e = calloc(1, sizeof *e + n + 1);
        if (!e) { /* no memory: answer uncached */
            out->err = ENOMEM;
            out->data = NULL;
            return;
        }
        e->hash = h;
        e->dirfd = dirfd;
        e->keylen = n;
        memcpy(e->key, relpath, n + 1);
        e->hnext = buckets[h & (NBUCKETS - 1)];
        buckets[h & (NBUCKETS - 1)] = e;
        lru_append(e);
        nentries++;
        refresh(e, now);
        /* The least recently used go first; an entry looked up in this request is among the
         * three most recent, so its data stays valid for the caller. */
        while ((nentries > FCACHE_MAX_ENTRIES || nbytes > FCACHE_MAX_BYTES) && lru.next != e)
            evict(lru.next);
    }
    *out = e->f;
}

void fcache_clear(void)
{
    while (lru.next != &lru)
        evict(lru.next);
}
