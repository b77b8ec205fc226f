#include "accesslog.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define ACCESSLOG_FLUSH_AT (32 * 1024)

struct accesslog {
    int fd;
    char *path; /* owned; NULL for stdout */
    struct buf b;
    time_t stamp_time;
    char stamp[40];
};

struct accesslog *accesslog_open(const char *path)
{
    struct accesslog *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    l->stamp_time = -1;
    if (strcmp(path, "-") == 0) {
        l->fd = 1;
        return l;
    }
    l->path = strdup(path);
    l->fd = l->path ? open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644) : -1;
    if (l->fd < 0) {
        int e = l->path ? errno : ENOMEM;
        free(l->path);
        free(l);
        errno = e;
        return NULL;
    }
    return l;
}

int accesslog_reopen(struct accesslog *l)
{
    accesslog_flush(l); /* what was logged before the rename belongs in the old file */
    if (!l->path)
        return 0;
    int fd = open(l->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    close(l->fd);
    l->fd = fd;
    return 0;
}

/* Client-controlled text goes into the log escaped: no way to forge a line or a field. */
static void put_escaped(struct buf *b, struct span s)
{
    static const char hex[] = "0123456789abcdef";
    if (!s.p) {
        if (buf_append(b, "-", 1) < 0)
            return;
        return;
    }
    char *w = buf_reserve(b, s.n * 4, 0);
    if (!w)
        return;
    size_t k = 0;
    for (size_t i = 0; i < s.n; i++) {
        unsigned char c = (unsigned char)s.p[i];
        if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') {
            w[k++] = '\\';
            w[k++] = 'x';
            w[k++] = hex[c >> 4];
            w[k++] = hex[c & 15];
        } else {
            w[k++] = (char)c;
        }
    }
    buf_commit(b, k);
}

void accesslog_write(struct accesslog *l, const char *peer, struct span method, struct span target,
                     int version, int status, int64_t bytes, struct span referer, struct span agent)
{
    time_t now = time(NULL);
    if (now != l->stamp_time) {
        struct tm tm;
        localtime_r(&now, &tm);
        strftime(l->stamp, sizeof l->stamp, "[%d/%b/%Y:%H:%M:%S %z]", &tm);
        l->stamp_time = now;
    }
    int r = buf_printf(&l->b, "%s - - %s \"", peer, l->stamp);
    if (method.p) {
        put_escaped(&l->b, method);
        r |= buf_append(&l->b, " ", 1);
        put_escaped(&l->b, target);
        if (version == 20)
            r |= buf_append(&l->b, " HTTP/2", 7);
        else
            r |= buf_printf(&l->b, " HTTP/1.%d", version % 10);
    } else {
        r |= buf_append(&l->b, "-", 1);
    }
    if (bytes > 0)
        r |= buf_printf(&l->b, "\" %d %lld \"", status, (long long)bytes);
    else
        r |= buf_printf(&l->b, "\" %d - \"", status);
    put_escaped(&l->b, referer);
    r |= buf_append(&l->b, "\" \"", 3);
    put_escaped(&l->b, agent);
    r |= buf_append(&l->b, "\"\n", 2);
    (void)r; /* out of memory: the line is lost, the server goes on */
    if (buf_size(&l->b) >= ACCESSLOG_FLUSH_AT)
        accesslog_flush(l);
}

void accesslog_flush(struct accesslog *l)
{
    while (buf_size(&l->b)) {
        ssize_t w = write(l->fd, buf_data(&l->b), buf_size(&l->b));
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break; /* a full disk must not stop the server */
        buf_consume(&l->b, (size_t)w);
    }
    buf_reset(&l->b);
}

void accesslog_close(struct accesslog *l)
{
    if (!l)
        return;
    accesslog_flush(l);
    if (l->path)
        close(l->fd);
    free(l->path);
    buf_free(&l->b);
    free(l);
}
