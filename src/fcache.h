/* fcache: what static roots hold — metadata for every path looked up and the whole content of
 * small files — revalidated against the file system at most every FCACHE_TTL_MS, so a hot
 * small file costs no system call and a changed or replaced file is seen within that time.
 * Missing files are remembered too (sidecar look-ups for .br/.gz are mostly misses).
 * Loop thread only. */
#ifndef HTTPSD_FCACHE_H
#define HTTPSD_FCACHE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#define FCACHE_TTL_MS 500
#define FCACHE_SMALL (16 * 1024) /* files up to this size are kept in memory */
#define FCACHE_MAX_ENTRIES 4096
#define FCACHE_MAX_BYTES (8 * 1024 * 1024) /* total of the kept contents */

struct fcache_file {
    int err;          /* 0, or the errno of opening the path (ENOENT, EXDEV, ...) */
    struct stat st;   /* when err == 0 */
    const char *data; /* the whole content (st.st_size bytes) for small regular files, else
                       * NULL; borrowed: valid until the fourth fcache_get after this one */
};

/* Look relpath ("a/b.css", "." for the root) up beneath dirfd. */
void fcache_get(int dirfd, const char *relpath, struct fcache_file *out);
/* Open relpath beneath dirfd without the cache: symlinks are followed only while they stay
 * inside (openat2 RESOLVE_BENEATH; without openat2, none are followed). fd or -errno. */
int fcache_open(int dirfd, const char *relpath);
/* Drop everything (tests, shutdown). */
void fcache_clear(void);

#endif
