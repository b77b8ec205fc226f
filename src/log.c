#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX 2048
#define LIMIT_KEYS 128 /* call sites that log at INFO or above: about 60 today */
#define LIMIT_WINDOW_MS 1000
#define SAMPLE_MAX 200

static int log_fd = 2;
static char log_path[PATH_MAX]; /* "" = stderr, nothing to reopen */
static enum log_level log_min = LOG_INFO;
static const char *const level_names[] = {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"};

/* One call site's window. Keys are never removed: they are string literals, a fixed set. */
struct limit {
    const char *fmt; /* NULL: free slot */
    enum log_level level;
    bool open;               /* a window runs: its first line was written at start_ms */
    int64_t start_ms;        /* monotonic */
    uint64_t suppressed;     /* lines of this window held back so far */
    char sample[SAMPLE_MAX]; /* the line that opened the window, without its prefix */
};

/* Guards limits[]. Held for a table look-up, and while the line that opens a window is
 * formatted (so its sample is in place before anyone can report the window); never while
 * writing. */
static pthread_mutex_t limit_mu = PTHREAD_MUTEX_INITIALIZER;
static struct limit limits[LIMIT_KEYS];
static int64_t (*clock_fn)(void);

int log_level_parse(const char *name)
{
    for (int i = 0; i <= LOG_CRITICAL; i++)
        if (strcasecmp(name, level_names[i]) == 0)
            return i;
    if (strcasecmp(name, "warn") == 0)
        return LOG_WARNING;
    return -1;
}

int log_open(const char *path, enum log_level level)
{
    log_min = level;
    if (!path || strcmp(path, "-") == 0) {
        if (log_fd > 2)
            close(log_fd);
        log_fd = 2;
        log_path[0] = 0;
        return 0;
    }
    if (strlen(path) >= sizeof log_path)
        return -ENAMETOOLONG;
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    if (log_fd > 2)
        close(log_fd);
    log_fd = fd;
    strcpy(log_path, path);
    return 0;
}

int log_reopen(void)
{
    if (!log_path[0])
        return 0;
    int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    /* dup3 swaps the file under the same descriptor number in one step: a thread writing at
     * this moment reaches the old file or the new one, never a closed or reused descriptor. */
    int e = dup3(fd, log_fd, O_CLOEXEC) < 0 ? -errno : 0;
    close(fd);
    return e;
}

bool log_enabled(enum log_level level)
{
    return level >= log_min;
}

void log_set_clock(int64_t (*now_ms)(void))
{
    clock_fn = now_ms;
}

static int64_t clock_ms(void)
{
    if (clock_fn)
        return clock_fn();
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts); /* a few ms of resolution is plenty here */
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* "[date] [pid] [LEVEL] " into line; returns its length. */
static size_t put_prefix(char *line, size_t cap, enum log_level level)
{
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    size_t n = strftime(line, cap, "[%Y-%m-%d %H:%M:%S +0000] ", &tm);
    int k = snprintf(line + n, cap - n, "[%d] [%s] ", (int)getpid(), level_names[level]);
    return n + (k > 0 ? (size_t)k : 0);
}

/* Finish a line of n bytes (truncated to fit) with its newline; returns the new length. */
static size_t end_line(char *line, size_t cap, size_t n)
{
    if (n > cap - 2)
        n = cap - 2; /* truncated */
    line[n++] = '\n';
    return n;
}

static void write_lines(const struct iovec *iov, int cnt)
{
    ssize_t w;
    do
        w = writev(log_fd, iov, cnt);
    while (w < 0 && errno == EINTR);
    /* a full disk or a closed stderr must not stop the server: the line is lost */
}

static struct limit *limit_slot(const char *fmt, enum log_level level)
{
    uint64_t h = ((uint64_t)(uintptr_t)fmt ^ (uint64_t)level) * 0x9e3779b97f4a7c15u;
    for (size_t i = 0, j = (size_t)(h >> 57); i < LIMIT_KEYS; i++, j = (j + 1) % LIMIT_KEYS) {
        struct limit *k = &limits[j];
        if (k->fmt == fmt && k->level == level)
            return k;
        if (!k->fmt) {
            k->fmt = fmt;
            k->level = level;
            return k;
        }
    }
    return NULL; /* more call sites than slots: not limited rather than lost */
}

/* End k's window at now. When lines were held back, their count line goes into note (up to
 * cap bytes) and its length is returned; else 0. Caller holds limit_mu. */
static size_t close_window(struct limit *k, int64_t now, char *note, size_t cap)
{
    size_t n = 0;
    if (k->open && k->suppressed) {
        int64_t span = now > k->start_ms ? now - k->start_ms : 0;
        n = put_prefix(note, cap, k->level);
        int w =
            snprintf(note + n, cap - n, "%llu similar message%s suppressed in the last %.1f s: %s",
                     (unsigned long long)k->suppressed, k->suppressed == 1 ? "" : "s",
                     (double)span / 1000, k->sample);
        n = end_line(note, cap, n + (w > 0 ? (size_t)w : 0));
    }
    k->open = false;
    k->suppressed = 0;
    return n;
}

/* The first line of msg (n bytes), shortened to fit a sample. */
static void keep_sample(struct limit *k, const char *msg, size_t n)
{
    const char *nl = memchr(msg, '\n', n);
    if (nl)
        n = (size_t)(nl - msg);
    if (n >= sizeof k->sample) {
        n = sizeof k->sample - 4;
        memcpy(k->sample + n, "...", 4);
    } else {
        k->sample[n] = 0;
    }
    memcpy(k->sample, msg, n);
}

static void vlog(enum log_level level, bool limited, const char *fmt, va_list ap)
{
    if (level < log_min)
        return;
    char note[SAMPLE_MAX + 160];
    size_t note_n = 0;
    struct limit *k = NULL;
    if (limited && level >= LOG_INFO) {
        int64_t now = clock_ms();
        pthread_mutex_lock(&limit_mu);
        k = limit_slot(fmt, level);
        if (k && k->open && now - k->start_ms < LIMIT_WINDOW_MS) {
            k->suppressed++;
            pthread_mutex_unlock(&limit_mu);
            return;
        }
        if (k) {
            note_n = close_window(k, now, note, sizeof note);
            k->open = true;
            k->start_ms = now;
        } else {
            pthread_mutex_unlock(&limit_mu);
        }
    }
    char line[LOG_LINE_MAX];
    size_t pre = put_prefix(line, sizeof line, level);
    int m = vsnprintf(line + pre, sizeof line - pre - 1, fmt, ap);
    size_t n = end_line(line, sizeof line, pre + (m > 0 ? (size_t)m : 0));
    if (k) {
        keep_sample(k, line + pre, n - 1 - pre);
        pthread_mutex_unlock(&limit_mu);
    }
    struct iovec iov[2] = {{note, note_n}, {line, n}};
    if (note_n)
        write_lines(iov, 2);
    else
        write_lines(iov + 1, 1);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(level, true, fmt, ap);
    va_end(ap);
}

void log_msg_always(enum log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(level, false, fmt, ap);
    va_end(ap);
}

void log_flush_suppressed(bool all)
{
    int64_t now = clock_ms();
    for (size_t i = 0; i < LIMIT_KEYS; i++) {
        char note[SAMPLE_MAX + 160];
        size_t n = 0;
        pthread_mutex_lock(&limit_mu);
        struct limit *k = &limits[i];
        if (k->open && (all || now - k->start_ms >= LIMIT_WINDOW_MS))
            n = close_window(k, now, note, sizeof note);
        pthread_mutex_unlock(&limit_mu);
        if (n) {
            struct iovec iov = {note, n};
            write_lines(&iov, 1);
        }
    }
}
