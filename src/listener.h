/* listener: bound listening sockets from --bind specs. */
#ifndef HTTPSD_LISTENER_H
#define HTTPSD_LISTENER_H

#include "cfg.h"
#include "loop.h"

#include <stdbool.h>
#include <stddef.h>

struct listener {
    struct loop_io io;
    void *owner; /* the server accepting on it */
    bool tls;
    bool is_unix;
    char path[108]; /* UNIX socket path to unlink on close */
    char url[320];  /* "https://127.0.0.1:8443" as printed */
};

/* Bind every spec (a host name may resolve to several addresses, one listener each).
 * *out is an owned array. 0, or negative with the reason in err (nothing left open). */
int listener_open_all(const struct bind_spec *specs, size_t n, struct listener **out, size_t *nout,
                      char *err, size_t errlen) __attribute__((warn_unused_result));
/* Close the sockets (UNIX paths are unlinked); idempotent. */
void listener_close_all(struct listener *ls, size_t n);

#endif
