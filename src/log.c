#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int log_fd = 2;
static enum log_level log_min = LOG_INFO;
static const char *const level_names[] = {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"};

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
        log_fd = 2;
        return 0;
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    log_fd = fd;
    return 0;
}

bool log_enabled(enum log_level level)
{
    return level >= log_min;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    if (level < log_min)
        return;
    char line[2048];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    size_t n = strftime(line, sizeof line, "[%Y-%m-%d %H:%M:%S +0000] ", &tm);
    int k = snprintf(line + n, sizeof line - n, "[%d] [%s] ", (int)getpid(), level_names[level]);
    n += (size_t)k;
    va_list ap;
    va_start(ap, fmt);
    k = vsnprintf(line + n, sizeof line - n - 1, fmt, ap);
    va_end(ap);
    if (k < 0)
        k = 0;
    n += (size_t)k;
    if (n > sizeof line - 2)
        n = sizeof line - 2; /* truncated */
    line[n++] = '\n';
    ssize_t w = write(log_fd, line, n);
    (void)w;
}
