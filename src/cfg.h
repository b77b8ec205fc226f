/* cfg: the command line → struct cfg. Pure (no I/O besides messages into err), fuzzable. */
#ifndef HTTPSD_CFG_H
#define HTTPSD_CFG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum bind_kind { BIND_TLS, BIND_HTTP, BIND_UNIX };

struct bind_spec {
    enum bind_kind kind;
    char host[256]; /* without brackets; empty = all interfaces */
    char port[8];
    char path[108]; /* BIND_UNIX only */
    bool proxy;     /* a PROXY protocol header (v1 or v2) precedes everything else */
};

struct static_mount {
    char prefix[256]; /* "/static" (no trailing slash), "" for "/" */
    size_t prefix_len;
    const char *dir; /* borrowed from argv */
};

struct cfg {
    struct bind_spec *binds; /* owned */
    size_t nbinds;
    struct static_mount *mounts; /* owned */
    size_t nmounts;
    const char *certfile, *keyfile;
    const char *access_log, *error_log;
    int log_level;
    size_t limit_request_line, limit_request_field_size, limit_request_fields;
    uint64_t limit_request_body;
    int64_t keep_alive_ms, header_timeout_ms, handshake_timeout_ms, io_timeout_ms,
        graceful_timeout_ms;
    int64_t static_max_age;    /* seconds for Cache-Control; -1 = no header */
    bool static_dotfiles;      /* serve names starting with '.' */
    const char *app;           /* MODULE:CALLABLE, borrowed */
    size_t threads;            /* --threads: app threads, 0 = on the loop thread */
    int64_t app_timeout_ms;    /* --timeout: 504 when the app has not started by then; 0 = off */
    size_t max_queue;          /* --max-queue: requests waiting for a thread before 503 */
    size_t workers;            /* -w: worker processes under a master; 0 = one process, no master */
    int64_t worker_timeout_ms; /* a worker whose loop is silent this long is killed */
    uint64_t max_requests, max_requests_jitter; /* recycle a worker after so many; 0 = never */
    bool request_buffering; /* read a request body whole before the app runs (default) */
    bool http2;             /* ALPN offers h2 on TLS listeners (--no-http2: off) */
    bool h2c;               /* --h2c: HTTP/2 with prior knowledge on plain listeners */
    size_t h2_max_streams;  /* --h2-max-streams: SETTINGS_MAX_CONCURRENT_STREAMS */
    uint64_t min_rate;      /* --min-rate: bytes/s a transfer must keep up; 0 = off */
    uint64_t buffer_memory, buffer_disk; /* --buffer-memory/-disk: all request bodies held */
    uint64_t response_spool;             /* --response-spool: per response, in a file */
    const char *chdir, *pythonpath, *virtualenv; /* borrowed from argv; NULL = not given */
    const char *pidfile;             /* --pid FILE: the master's pid, written after binding */
    const char *user, *group;        /* --user/--group: workers drop to them; NULL = stay */
    int umask_mode;                  /* --umask, -1 = leave the inherited one */
    bool preload;                    /* import the app in the master, before forking */
    const char *stats;               /* --stats ADDR: the master's JSON/Prometheus endpoint */
    const char *proxy_allow_from;    /* --proxy-allow-from CIDR list (checked by netmask) */
    const char *forwarded_allow_ips; /* --forwarded-allow-ips CIDR list, or "*" */
    const char *health;              /* --health PATH answered by the server; NULL = off */
    int64_t drain_delay_ms;          /* --drain-delay: TERM keeps accepting this long */
    bool redirect_http;              /* --redirect-http: plain listeners answer 308 to TLS */
    int64_t hsts;                    /* --hsts SECONDS: Strict-Transport-Security; -1 = off */
    bool help, version;
};

/* Fill c from argv (defaults first). 0, or -EINVAL with a one-line reason in err. c must be
 * released with cfg_free either way. */
int cfg_parse(struct cfg *c, int argc, char **argv, char *err, size_t errlen)
    __attribute__((warn_unused_result));
void cfg_free(struct cfg *c);

/* "HOST:PORT", "https://HOST:PORT", "http://HOST:PORT", "unix:PATH", "[v6]:PORT", each with
 * an optional "proxy+" prefix (PROXY protocol). 0 / -EINVAL. */
int cfg_parse_bind(const char *s, struct bind_spec *out) __attribute__((warn_unused_result));
/* "1.5" seconds → 1500 ms; 0 ≤ value ≤ 1 year. 0 / -EINVAL. */
int cfg_parse_seconds(const char *s, int64_t *ms) __attribute__((warn_unused_result));
/* "1024", "64k", "1m", "1g" (powers of 1024) → bytes. 0 / -EINVAL. */
int cfg_parse_size(const char *s, uint64_t *out) __attribute__((warn_unused_result));
/* "PREFIX=DIR" → mount. 0 / -EINVAL. */
int cfg_parse_static(char *s, struct static_mount *out) __attribute__((warn_unused_result));

/* APP = MODULE[:ATTR[()]] split up; attr "application" when absent, call for "()". */
struct app_spec {
    char module[256];
    char attr[256];
    bool call;
};
/* Check APP (out may be NULL). 0 / -EINVAL. */
int cfg_parse_app(const char *s, struct app_spec *out) __attribute__((warn_unused_result));

/* The --help text. */
extern const char cfg_usage[];

#endif
