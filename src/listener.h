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
    bool proxy;     /* connections start with a PROXY protocol header */
    bool shared;    /* one socket for every worker (UNIX, or inherited without SO_REUSEPORT) */
    char path[108]; /* UNIX socket path to unlink on close */
    char url[320];  /* "https://127.0.0.1:8443" as printed */
};

/* Bind every spec (a host name may resolve to several addresses, one listener each); with
 * reuseport, TCP sockets start an SO_REUSEPORT group (a port in use is still refused).
 * *out is an owned array. 0, or negative with the reason in err (nothing left open). */
int listener_open_all(const struct bind_spec *specs, size_t n, bool reuseport,
                      struct listener **out, size_t *nout, char *err, size_t errlen)
    __attribute__((warn_unused_result));
/* Like listener_open_all, but when systemd passed listening sockets (LISTEN_PID is this
 * process, LISTEN_FDS of them from descriptor 3), those are used: each must be on the address
 * of a --bind, which says whether it is TLS; specs no socket matches are bound as usual. The
 * LISTEN_* variables are removed from the environment. 0, or negative with the reason. */
int listener_open_or_inherit(const struct bind_spec *specs, size_t n, bool reuseport,
                             struct listener **out, size_t *nout, char *err, size_t errlen)
    __attribute__((warn_unused_result));
/* Another set of the listeners src (opened with reuseport): a new socket in each TCP one's
 * SO_REUSEPORT group, the same socket (a duplicate descriptor) for UNIX ones. *out is owned;
 * its UNIX paths are not unlinked on close. 0, or negative with the reason in err. */
int listener_clone_all(const struct listener *src, size_t n, struct listener **out, char *err,
                       size_t errlen) __attribute__((warn_unused_result));
/* Close the sockets (UNIX paths are unlinked); idempotent. */
void listener_close_all(struct listener *ls, size_t n);

#endif
