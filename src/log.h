/* log: the error log. One entry point with printf checking; never call from a signal handler. */
#ifndef HTTPSD_LOG_H
#define HTTPSD_LOG_H

#include <stdbool.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERROR, LOG_CRITICAL };

/* Parse "debug".."critical"; returns the level or -1. */
int log_level_parse(const char *name);
/* Open the error log: NULL or "-" = stderr; else append to FILE. 0 or -errno. */
int log_open(const char *path, enum log_level level) __attribute__((warn_unused_result));
bool log_enabled(enum log_level level);
/* Write one line: "[date] [pid] [LEVEL] message". Thread-safe (one write(2) per line). */
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...)                                                                             \
    do {                                                                                           \
        if (log_enabled(LOG_DEBUG))                                                                \
            log_msg(LOG_DEBUG, __VA_ARGS__);                                                       \
    } while (0)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARNING, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

#endif
