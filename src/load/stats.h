/* stats: what one worker measured, and the exact merge of several. Plain data (no pointers):
 * each worker fills its own slot in memory shared with the parent. */
#ifndef HTTPSD_LOAD_STATS_H
#define HTTPSD_LOAD_STATS_H

#include <stdint.h>

#include "hist.h"

enum stats_err {
    STATS_ERR_CONNECT,
    STATS_ERR_TLS,
    STATS_ERR_READ,
    STATS_ERR_WRITE,
    STATS_ERR_TIMEOUT,
    STATS_ERR_MALFORMED,
    STATS_ERR_KINDS,
};

#define STATS_STATUS_MAX 600

struct stats {
    uint64_t requests;   /* completed with a valid response (any status) */
    uint64_t bytes_read; /* plaintext bytes received */
    uint64_t errors[STATS_ERR_KINDS];
    uint64_t status[STATS_STATUS_MAX];
    uint64_t connects;    /* connections established */
    uint64_t tls_full;    /* full TLS handshakes */
    uint64_t tls_resumed; /* resumed TLS handshakes */
    uint64_t end_ns;      /* monotonic time of the last completion (0: none) */
    uint64_t progress;    /* requests + errors, published with relaxed atomics for the parent */
    int finished;         /* the worker wrote its final numbers */
    struct hist latency;
};

void stats_init(struct stats *s);
/* Add src into dst exactly (counts summed, histograms merged, latest end kept). */
void stats_merge(struct stats *dst, const struct stats *src);
uint64_t stats_errors(const struct stats *s);
/* "connect", "tls", ... as in the JSON report. */
const char *stats_err_name(enum stats_err e);

#endif
