/* log: the error log. One entry point with printf checking; never call from a signal handler.
 *
 * Flood control: a message of level INFO or above is keyed by its call site (its format
 * string, a literal) and level. The first one in a one-second window is written; the others
 * in that window are only counted, and when the window ends (the next message of that call
 * site, or log_flush_suppressed) one line says how many there were:
 *   [...] [WARNING] 41234 similar messages suppressed in the last 1.0 s: #17 every app thread...
 * so a client that provokes a warning per request gets about two lines a second, not one line
 * per request. DEBUG lines (asked for) and log_msg_always lines are never held back. */
#ifndef HTTPSD_LOG_H
#define HTTPSD_LOG_H

#include <stdbool.h>
#include <stdint.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERROR, LOG_CRITICAL };

/* Parse "debug".."critical"; returns the level or -1. */
int log_level_parse(const char *name);
/* Open the error log: NULL or "-" = stderr; else append to FILE. 0 or -errno. Main thread,
 * before other threads exist. */
int log_open(const char *path, enum log_level level) __attribute__((warn_unused_result));
/* Reopen the error log file by its name (after logrotate renamed it): later lines go to a new
 * file. A no-op for stderr. Any thread; lines written meanwhile go to one file or the other,
 * never to a closed descriptor. 0 or -errno (the old file stays in use). */
int log_reopen(void) __attribute__((warn_unused_result));
bool log_enabled(enum log_level level);
/* Write one line: "[date] [pid] [LEVEL] message", subject to flood control (above).
 * Thread-safe (one write(2) per line). fmt must be a string literal: it is the key. */
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The same, but every call is written: for lines a caller knows are few and must each be seen
 * (one per listener at start), and for text relayed from the app. */
void log_msg_always(enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Write the count line of every window that has ended (of every window when all is true, at
 * exit). Call about once a second; any thread. */
void log_flush_suppressed(bool all);
/* Tests: the monotonic clock flood control uses, in ms (NULL: CLOCK_MONOTONIC_COARSE). */
void log_set_clock(int64_t (*now_ms)(void));

#define log_debug(...)                                                                             \
    do {                                                                                           \
        if (log_enabled(LOG_DEBUG))                                                                \
            log_msg(LOG_DEBUG, __VA_ARGS__);                                                       \
    } while (0)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARNING, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

#endif
