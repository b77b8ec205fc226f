/* lcfg: httpsd-load's command line (getopt_long) → struct lcfg, URLs and durations.
 * Pure apart from reading --body-file; runs in the parent before any worker is forked. */
#ifndef HTTPSD_LOAD_LCFG_H
#define HTTPSD_LOAD_LCFG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define LCFG_MAX_URLS 64
#define LCFG_MAX_HEADERS 64
#define LCFG_MAX_PIPELINE 256
#define LCFG_MAX_BODY (64u << 20)

/* Parsed results besides 0. */
enum { LCFG_HELP = 1, LCFG_VERSION = 2 };

/* One target URL. The spans borrow argv. */
struct lcfg_url {
    bool tls;
    char host[256];       /* without the brackets of an IPv6 literal */
    char port[6];         /* decimal */
    struct span hostport; /* the authority as written: the Host header */
    struct span target;   /* path and query ("" → "/"), fragment dropped */
};

struct lcfg {
    unsigned processes; /* 0 until defaulted to the CPU count */
    unsigned connections;
    uint64_t duration_ns; /* 0 = none (then -n bounds the run) */
    uint64_t requests;    /* 0 = unbounded */
    uint64_t timeout_ns;
    double rate; /* requests per second in total; 0 = closed loop */
    unsigned pipeline;
    bool keepalive;
    bool insecure;
    bool tls_resume;
    bool json;
    bool quiet;
    bool timeline;      /* the per-second table in the text report (the JSON always has it) */
    const char *cacert; /* borrowed from argv */
    const char *unix_path;
    const char *method;
    const char *headers[LCFG_MAX_HEADERS];
    unsigned nheaders;
    const char *body; /* borrowed (--body) or owned (--body-file: body_owned) */
    size_t body_len;
    bool has_body;
    char *body_owned;
    unsigned max_clients, max_conns; /* the simple mode; 0 = off */
    struct lcfg_url urls[LCFG_MAX_URLS];
    unsigned nurls;
};

/* Parse argv. Returns 0, LCFG_HELP, LCFG_VERSION, or -EINVAL with a one-line reason in err.
 * processes is left 0 when not given. Call lcfg_free afterwards in every case. */
int lcfg_parse(struct lcfg *c, int argc, char **argv, char *err, size_t errlen)
    __attribute__((warn_unused_result));
void lcfg_free(struct lcfg *c);
/* "10s", "1m", "500ms", "2h", "1.5s", or a bare number of seconds → ns. 0 or -EINVAL. */
int lcfg_parse_duration(const char *s, uint64_t *ns) __attribute__((warn_unused_result));
/* http[s]://host[:port][/path][?query][#fragment]; host a name, IPv4 or [IPv6]. 0 or -EINVAL
 * with the reason in err. u borrows s. */
int lcfg_parse_url(const char *s, struct lcfg_url *u, char *err, size_t errlen)
    __attribute__((warn_unused_result));
/* Append the bytes of one request for URL i (method, headers, body) to out. 0 or -ENOMEM. */
int lcfg_render_request(const struct lcfg *c, unsigned i, struct buf *out)
    __attribute__((warn_unused_result));
/* The usage text. */
extern const char lcfg_usage[];

#endif
