/* accesslog: buffered Combined Log Format lines. Loop thread only. */
#ifndef HTTPSD_ACCESSLOG_H
#define HTTPSD_ACCESSLOG_H

#include "buf.h"

#include <stdint.h>

struct accesslog;

/* "-" = stdout, else append to path. NULL with errno set on failure. */
struct accesslog *accesslog_open(const char *path);
/* One line (version: 10, 11 or 20 for HTTP/2). request_line, referer and agent may have p == NULL
 * ("-"). bytes < 0 → "-". */
void accesslog_write(struct accesslog *l, const char *peer, struct span method, struct span target,
                     int version, int status, int64_t bytes, struct span referer,
                     struct span agent);
/* Write out what is buffered, then open the file again by its name (after logrotate renamed
 * it): later lines go to a new file. A no-op for stdout. 0, or -errno with the old file kept. */
int accesslog_reopen(struct accesslog *l) __attribute__((warn_unused_result));
/* Write out what is buffered (called once per loop turn and at exit). */
void accesslog_flush(struct accesslog *l);
void accesslog_close(struct accesslog *l);

#endif
