/* worker: one load-generating process. An epoll loop drives its share of the connections
 * (plain or TLS), pre-rendered requests go out with one write per batch, responses are parsed
 * in place (resp) and timed into the worker's stats slot and counted into its per-second
 * timeline (both shared with the parent). */
#ifndef HTTPSD_LOAD_WORKER_H
#define HTTPSD_LOAD_WORKER_H

#include <stdint.h>
#include <sys/socket.h>

#include "lcfg.h"
#include "ltls.h"
#include "stats.h"
#include "timeline.h"

struct worker_params {
    const struct lcfg *cfg;
    struct ltls_ctx *tls; /* NULL for http:// (borrowed) */
    struct sockaddr_storage addr;
    socklen_t addrlen;
    unsigned index;      /* worker number: the first one reports TLS failures on stderr */
    unsigned conn_first; /* global index of this worker's first connection */
    unsigned nconns;     /* connections of this worker */
    uint64_t quota;      /* closed loop: requests for this worker (0 = until t_end) */
    uint64_t t0;         /* monotonic ns: requests start (and the --rate schedule) here */
    uint64_t t_end;      /* monotonic ns: no new request from here (0 = none) */
    struct stats *stats; /* this worker's slot (borrowed) */
    struct timeline_bucket *timeline; /* [timeline_len], zeroed: this worker's seconds (borrowed) */
    unsigned timeline_len;
};

/* Run until the duration, the quota or worker_stop(); the stats slot holds the results.
 * Returns 0 or -errno (epoll or memory failures: nothing was measured). */
int worker_run(const struct worker_params *p) __attribute__((warn_unused_result));
/* Ask the running worker to stop at once (async-signal-safe); requests in flight are cut and
 * not counted. */
void worker_stop(void);
/* Monotonic clock in ns. */
uint64_t worker_now(void);

#endif
