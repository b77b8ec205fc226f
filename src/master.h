/* master: the supervising process of -w N. It binds the listeners and loads the certificate,
 * forks the workers (each a struct server with its own loop, app and threads), and keeps them:
 * replaces those that die (backing off when they keep dying), kills those whose loop stops
 * answering, reloads on SIGHUP without dropping a request, and stops them on TERM/INT/QUIT.
 * It embeds no Python and serves no request. */
#ifndef HTTPSD_MASTER_H
#define HTTPSD_MASTER_H

/* The value of a SIGTERM the master queues (sigqueue) to a worker it replaces (reload, TTOU):
 * drain at once, without --drain-delay, which is for stopping the whole server. */
#define MASTER_DRAIN_NOW 0x44524e57

#include "cfg.h"

#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

/* One worker's page of shared memory: written by the worker without locks, read by the
 * master. */
struct worker_slot {
    _Atomic int64_t heartbeat_ms; /* CLOCK_MONOTONIC ms of the worker's last loop tick */
    _Atomic uint64_t requests;    /* responses completed */
    /* --stats: published by the worker once a second and when it stops */
    _Atomic uint64_t by_class[6]; /* responses by status class: [1] 1xx … [5] 5xx, [0] other */
    _Atomic uint64_t s503, s504;
    _Atomic uint64_t bytes_in, bytes_out;
    _Atomic uint64_t tls_full, tls_resumed;
    _Atomic uint64_t conns_plain, conns_tls, conns_idle; /* gauges */
    _Atomic uint64_t app_queue, app_busy, app_threads;   /* gauges */
};

/* What a forked worker gets from the master (everything inherited across fork). */
struct worker_link {
    int fd;                     /* the pipe to the master: 'R' ready, 'C' recycling */
    struct worker_slot *slot;   /* shared memory */
    uint64_t max_requests;      /* recycle after this many (0: never), jitter included */
    struct listener *listeners; /* bound by the master; the worker closes its copies */
    size_t nlisteners;
    struct tls_ctx *tls; /* the master's, as it was at fork */
};

/* --pid FILE: write this process's pid (0, or -1 with the reason in err) / remove it. */
int pidfile_write(const char *path, char *err, size_t errlen) __attribute__((warn_unused_result));
void pidfile_remove(const char *path);

/* Run the master with cfg->workers workers until it stops. Returns the process exit code
 * (0 after TERM/INT/QUIT, 1 when the workers could not start). Main thread, once. */
int master_run(const struct cfg *cfg);

#endif
