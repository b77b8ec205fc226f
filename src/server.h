/* server: one worker — its loop, listeners, TLS context, router, connections, signals. */
#ifndef HTTPSD_SERVER_H
#define HTTPSD_SERVER_H

#include "cfg.h"
#include "listener.h"
#include "loop.h"
#include "netmask.h"
#include "router.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tls_ctx;
struct accesslog;
struct conn;
struct worker_link;

/* One recv's worth: shared by every connection of the worker, so it can be large. A request
 * body comes in 256 KiB per recv instead of 16 (a 1 MiB upload: 4 syscalls, not 64): +28 %
 * on a 1 MiB echo at 16 KiB -> 64 KiB, +8 % more at 256 KiB. */
#define SERVER_READ_BUF (256 * 1024)

struct server {
    const struct cfg *cfg; /* borrowed */
    struct loop loop;
    struct tls_ctx *tls;        /* owned; NULL when no TLS listener */
    struct listener *listeners; /* owned */
    size_t nlisteners;
    struct router router;
    struct netmask_list proxy_allow;     /* --proxy-allow-from */
    struct netmask_list forwarded_allow; /* --forwarded-allow-ips */
    struct accesslog *alog;              /* owned; NULL = off */
    struct conn *conns;                  /* every live connection */
    size_t nconns;
    size_t peak_conns, peak_waiting;       /* since memory was last given back (server.c) */
    uint64_t trim_requests, tick_requests; /* s->requests when memory was given back, a tick ago */
    int64_t trimmed_at;                    /* loop time of that */
    bool retrim;      /* after a burst: once more at the next tick (frees finish on app threads) */
    size_t max_conns; /* from RLIMIT_NOFILE, leaving descriptors for files */
    uint64_t next_id;
    int tl[8]; /* timer list per enum conn_timer */
    int tl_accept_retry, tl_graceful, tl_trim, tl_drain_delay;
    int tl_stream_io, tl_stream_app; /* HTTP/2 streams' own deadlines (not connections) */
    struct timer accept_retry, graceful, trim, logtick;
    struct loop_io sig_io;
    bool draining;
    bool stopping; /* a graceful stop has begun (--drain-delay: still accepting): health 503 */
    struct timer drain_delay;
    char redirect_port[8]; /* --redirect-http: the first TLS listener's port ("" for 443) */
    char hsts_line[64];    /* --hsts: the header line of TLS responses */
    size_t hsts_len;       /* 0: off */
    bool quit; /* SIGQUIT: stopped at once; main exits without waiting for app threads */
    bool accept_paused;
    int exit_code;
    struct worker_link *link; /* borrowed; NULL without a master (-w 0) */
    uint64_t requests;        /* responses completed */
    /* counters for --stats, copied into the worker's shared slot once a second */
    uint64_t by_class[6], s503, s504, bytes_in, bytes_out, tls_full, tls_resumed;
    size_t ntls;                /* open TLS connections (of nconns) */
    bool recycling;             /* --max-requests reached: draining, a new worker takes over */
    char rbuf[SERVER_READ_BUF]; /* shared read buffer: idle connections hold none */
};

/* Set up a worker: listeners and TLS from the master (link), or opened here from cfg when
 * link is NULL (-w 0); static roots, logs, signals and the app. 0, or negative with the reason
 * in err. */
int server_init(struct server *s, const struct cfg *cfg, struct worker_link *link, char *err,
                size_t errlen) __attribute__((warn_unused_result));
/* A response with this status is complete (--max-requests, the counters of --stats). */
void server_request_done(struct server *s, int status);
/* Copy the counters into the worker's shared slot (--stats). */
void server_publish(struct server *s);
/* Serve until a signal and the drain finish. Returns the exit code. */
int server_run(struct server *s);
void server_deinit(struct server *s);

/* Connection bookkeeping, used by conn.c. */
void server_conn_added(struct server *s, struct conn *c);
void server_conn_removed(struct server *s, struct conn *c);

#endif
