#include "cfg.h"

#include "log.h"
#include "netmask.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char cfg_usage[] =
    "usage: httpsd [OPTIONS] [APP]\n"
    "\n"
    "A fast HTTPS server for static files and Python WSGI apps. APP is MODULE:CALLABLE,\n"
    "MODULE (its 'application'), or MODULE:FACTORY() (called once); every path that is not\n"
    "under a --static prefix goes to it.\n"
    "\n"
    "  -b, --bind ADDR            listen on ADDR (repeatable): HOST:PORT or https://HOST:PORT\n"
    "                             (TLS), http://HOST:PORT (plain), unix:PATH (plain),\n"
    "                             [::1]:PORT for IPv6; port 0 picks a free port;\n"
    "                             a proxy+ prefix (proxy+http://..., proxy+https://...,\n"
    "                             proxy+unix:PATH) expects the PROXY protocol on it\n"
    "                             [default: 127.0.0.1:8443, TLS]\n"
    "      --certfile FILE        PEM certificate chain for TLS listeners\n"
    "      --keyfile FILE         PEM private key for TLS listeners\n"
    "                             [default: ./cert.pem + ./key.pem, generated when missing]\n"
    "      --no-http2             TLS listeners offer HTTP/1.1 alone (ALPN); by default they\n"
    "                             offer h2 too\n"
    "      --h2c                  plain listeners also take HTTP/2 with prior knowledge\n"
    "      --h2-max-streams N     concurrent HTTP/2 streams per connection [100]\n"
    "      --static PREFIX=DIR    serve DIR's files under URL PREFIX (repeatable)\n"
    "      --static-max-age SECONDS  send Cache-Control: public, max-age=SECONDS [off]\n"
    "      --static-dotfiles      serve files and directories whose name starts with '.'\n"
    "  -w, --workers N            worker processes under a supervising master; 'auto' = one\n"
    "                             per CPU; 0 = a single process without a master [1]\n"
    "      --worker-timeout SECONDS  a worker whose event loop is stuck this long is\n"
    "                             killed and replaced [30]\n"
    "      --max-requests N       recycle a worker after N requests, gracefully; 0 = never [0]\n"
    "      --max-requests-jitter N  add 0..N to --max-requests, per worker [0]\n"
    "      --pid FILE             write the master's pid to FILE (removed at exit)\n"
    "      --stats ADDR           live counters of all workers as JSON (GET /) and\n"
    "                             Prometheus text (GET /metrics) on unix:PATH or a loopback\n"
    "                             HOST:PORT, never on the public listeners [off]\n"
    "      --preload              import the app in the master before forking the workers\n"
    "                             (shared memory pages; an import error fails the start;\n"
    "                             SIGHUP then reuses that import)\n"
    "      --user USER, --group GROUP  workers run as USER/GROUP (bound sockets and the\n"
    "                             key are read before); needs a root start\n"
    "      --umask MODE           file mode mask, octal (e.g. 027) [inherited]\n"
    "      --proxy-protocol       every listener expects a PROXY protocol v1/v2 header\n"
    "      --proxy-allow-from CIDRS  peers allowed to send PROXY headers (comma-separated;\n"
    "                             others are closed) [127.0.0.1,::1]\n"
    "      --forwarded-allow-ips CIDRS  peers whose X-Forwarded-For, X-Forwarded-Proto and\n"
    "                             Forwarded set REMOTE_ADDR and the scheme; '*' = any\n"
    "                             [127.0.0.1,::1]\n"
    "      --health PATH          answer GET PATH with 200, or 503 once stopping [off]\n"
    "      --drain-delay SECONDS  on SIGTERM keep accepting this long (health: 503) before\n"
    "                             closing the listeners and draining [0]\n"
    "      --redirect-http        plain listeners answer 308 to the first TLS listener\n"
    "      --hsts SECONDS         Strict-Transport-Security: max-age=SECONDS on TLS [off]\n"
    "      --threads N            WSGI app threads; 0 = run the app on the event loop [4]\n"
    "      --timeout SECONDS      an app that has not started its response by then: 504,\n"
    "                             0 = off [30]\n"
    "      --max-queue N          requests waiting for an app thread before 503 [64]\n"
    "      --no-request-buffering stream request bodies over 64 KiB into the running app\n"
    "                             instead of reading them whole first (an app thread then\n"
    "                             waits on the client)\n"
    "      --buffer-memory SIZE   request bodies held in memory, all connections together;\n"
    "                             beyond it they go to temporary files [256m]\n"
    "      --buffer-disk SIZE     request bodies held in temporary files, all together;\n"
    "                             beyond it: 503 [4g]\n"
    "      --response-spool SIZE  response bytes an app may produce ahead of a slow client,\n"
    "                             kept in a temporary file (all together at most half of\n"
    "                             --buffer-disk), so the app finishes; 0 = off [64m]\n"
    "      --min-rate BYTES       a request body or response that moves slower than this\n"
    "                             many bytes/s over 10 s is cut; 0 = off [500]\n"
    "      --chdir DIR            change to DIR before loading the app (first on sys.path)\n"
    "      --pythonpath DIR[:DIR] put these directories first on sys.path\n"
    "      --virtualenv DIR       use this virtual environment [$VIRTUAL_ENV]\n"
    "      --access-logfile FILE  access log in Combined Log Format; '-' = stdout [off]\n"
    "      --error-logfile FILE   error log; '-' = stderr [-]\n"
    "      --log-level LEVEL      debug, info, warning, error, critical [info]\n"
    "      --limit-request-line N        max request line bytes, else 414 [8190]\n"
    "      --limit-request-field-size N  max header field bytes, else 431 [8190]\n"
    "      --limit-request-fields N      max header fields, else 431 [100]\n"
    "      --limit-request-body N        max body bytes (k/m/g suffix), else 413 [1g]\n"
    "      --keep-alive SECONDS          idle keep-alive timeout, 0 = off [5]\n"
    "      --header-timeout SECONDS      total time to receive request headers, else 408 [10]\n"
    "      --handshake-timeout SECONDS   time allowed for a TLS handshake [10]\n"
    "      --io-timeout SECONDS          stalled body read or response write [60]\n"
    "      --graceful-timeout SECONDS    drain time on SIGTERM/SIGINT [30]\n"
    "      --version              print the version and exit\n"
    "  -h, --help                 print this help and exit\n";

enum {
    OPT_CERT = 256,
    OPT_KEY,
    OPT_STATIC,
    OPT_ACCESS,
    OPT_ERROR,
    OPT_LEVEL,
    OPT_LINE,
    OPT_FIELD,
    OPT_FIELDS,
    OPT_BODY,
    OPT_KEEPALIVE,
    OPT_HEADER_TO,
    OPT_HANDSHAKE_TO,
    OPT_IO_TO,
    OPT_GRACEFUL,
    OPT_VERSION,
    OPT_MAX_AGE,
    OPT_DOTFILES,
    OPT_THREADS,
    OPT_TIMEOUT,
    OPT_MAX_QUEUE,
    OPT_CHDIR,
    OPT_PYTHONPATH,
    OPT_VIRTUALENV,
    OPT_NO_BUFFERING,
    OPT_HTTP2,
    OPT_NO_HTTP2,
    OPT_H2C,
    OPT_H2_STREAMS,
    OPT_MIN_RATE,
    OPT_BUF_MEM,
    OPT_BUF_DISK,
    OPT_RESPONSE_SPOOL,
    OPT_WORKER_TO,
    OPT_MAX_REQ,
    OPT_MAX_REQ_JITTER,
    OPT_PID,
    OPT_USER,
    OPT_GROUP,
    OPT_UMASK,
    OPT_PRELOAD,
    OPT_STATS,
    OPT_PROXY_PROTOCOL,
    OPT_PROXY_ALLOW,
    OPT_FWD_ALLOW,
    OPT_HEALTH,
    OPT_DRAIN_DELAY,
    OPT_REDIRECT_HTTP,
    OPT_HSTS,
};

static const struct option long_opts[] = {
    {"bind", required_argument, NULL, 'b'},
    {"workers", required_argument, NULL, 'w'},
    {"worker-timeout", required_argument, NULL, OPT_WORKER_TO},
    {"max-requests", required_argument, NULL, OPT_MAX_REQ},
    {"max-requests-jitter", required_argument, NULL, OPT_MAX_REQ_JITTER},
    {"pid", required_argument, NULL, OPT_PID},
    {"user", required_argument, NULL, OPT_USER},
    {"group", required_argument, NULL, OPT_GROUP},
    {"umask", required_argument, NULL, OPT_UMASK},
    {"preload", no_argument, NULL, OPT_PRELOAD},
    {"stats", required_argument, NULL, OPT_STATS},
    {"proxy-protocol", no_argument, NULL, OPT_PROXY_PROTOCOL},
    {"proxy-allow-from", required_argument, NULL, OPT_PROXY_ALLOW},
    {"forwarded-allow-ips", required_argument, NULL, OPT_FWD_ALLOW},
    {"health", required_argument, NULL, OPT_HEALTH},
    {"drain-delay", required_argument, NULL, OPT_DRAIN_DELAY},
    {"redirect-http", no_argument, NULL, OPT_REDIRECT_HTTP},
    {"hsts", required_argument, NULL, OPT_HSTS},
    {"certfile", required_argument, NULL, OPT_CERT},
    {"keyfile", required_argument, NULL, OPT_KEY},
    {"static", required_argument, NULL, OPT_STATIC},
    {"static-max-age", required_argument, NULL, OPT_MAX_AGE},
    {"static-dotfiles", no_argument, NULL, OPT_DOTFILES},
    {"access-logfile", required_argument, NULL, OPT_ACCESS},
    {"error-logfile", required_argument, NULL, OPT_ERROR},
    {"log-level", required_argument, NULL, OPT_LEVEL},
    {"limit-request-line", required_argument, NULL, OPT_LINE},
    {"limit-request-field-size", required_argument, NULL, OPT_FIELD},
    {"limit-request-fields", required_argument, NULL, OPT_FIELDS},
    {"limit-request-body", required_argument, NULL, OPT_BODY},
    {"keep-alive", required_argument, NULL, OPT_KEEPALIVE},
    {"header-timeout", required_argument, NULL, OPT_HEADER_TO},
    {"handshake-timeout", required_argument, NULL, OPT_HANDSHAKE_TO},
    {"io-timeout", required_argument, NULL, OPT_IO_TO},
    {"graceful-timeout", required_argument, NULL, OPT_GRACEFUL},
    {"threads", required_argument, NULL, OPT_THREADS},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"max-queue", required_argument, NULL, OPT_MAX_QUEUE},
    {"chdir", required_argument, NULL, OPT_CHDIR},
    {"pythonpath", required_argument, NULL, OPT_PYTHONPATH},
    {"virtualenv", required_argument, NULL, OPT_VIRTUALENV},
    {"no-request-buffering", no_argument, NULL, OPT_NO_BUFFERING},
    {"http2", no_argument, NULL, OPT_HTTP2},
    {"no-http2", no_argument, NULL, OPT_NO_HTTP2},
    {"h2c", no_argument, NULL, OPT_H2C},
    {"h2-max-streams", required_argument, NULL, OPT_H2_STREAMS},
    {"min-rate", required_argument, NULL, OPT_MIN_RATE},
    {"buffer-memory", required_argument, NULL, OPT_BUF_MEM},
    {"buffer-disk", required_argument, NULL, OPT_BUF_DISK},
    {"response-spool", required_argument, NULL, OPT_RESPONSE_SPOOL},
    {"version", no_argument, NULL, OPT_VERSION},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

int cfg_parse_size(const char *s, uint64_t *out)
{
    if (!s || *s < '0' || *s > '9') /* strtoull would skip spaces and take signs */
        return -EINVAL;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s)
        return -EINVAL;
    unsigned shift = 0;
    if (*end) {
        switch (*end) {
        case 'k':
        case 'K': shift = 10; break;
        case 'm':
        case 'M': shift = 20; break;
        case 'g':
        case 'G': shift = 30; break;
        default: return -EINVAL;
        }
        if (end[1] && !((end[1] == 'b' || end[1] == 'B') && !end[2]))
            return -EINVAL;
    }
    if (v > (UINT64_MAX >> 2) >> shift)
        return -EINVAL;
    *out = (uint64_t)v << shift;
    return 0;
}

int cfg_parse_seconds(const char *s, int64_t *ms)
{
    if (!s || !*s || strspn(s, "0123456789.") != strlen(s)) /* no hex, exponents, spaces */
        return -EINVAL;
    errno = 0;
    char *end;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= 0) || v > 366.0 * 86400)
        return -EINVAL;
    *ms = (int64_t)(v * 1000.0 + 0.5);
    return 0;
}

static int parse_port(const char *s, char *out)
{
    size_t n = strlen(s);
    if (n == 0 || n > 5)
        return -EINVAL;
    unsigned v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -EINVAL;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    if (v > 65535)
        return -EINVAL;
    snprintf(out, 8, "%u", v);
    return 0;
}

int cfg_parse_bind(const char *s, struct bind_spec *out)
{
    memset(out, 0, sizeof *out);
    if (strncmp(s, "proxy+", 6) == 0) {
        int r = strncmp(s + 6, "proxy+", 6) == 0 ? -EINVAL : cfg_parse_bind(s + 6, out);
        out->proxy = r == 0;
        return r;
    }
    if (strncmp(s, "unix:", 5) == 0) {
        size_t n = strlen(s + 5);
        if (n == 0 || n >= sizeof out->path)
            return -EINVAL;
        out->kind = BIND_UNIX;
        memcpy(out->path, s + 5, n + 1);
        return 0;
    }
    out->kind = BIND_TLS;
    if (strncmp(s, "https://", 8) == 0) {
        s += 8;
    } else if (strncmp(s, "http://", 7) == 0) {
        out->kind = BIND_HTTP;
        s += 7;
    } else if (strstr(s, "://")) {
        return -EINVAL;
    }
    size_t n = strlen(s);
    if (n && s[n - 1] == '/') /* tolerate "http://host:port/" */
        n--;
    const char *host = s, *port;
    size_t hlen;
    if (*s == '[') {
        const char *close = memchr(s, ']', n);
        if (!close || close[1] != ':')
            return -EINVAL;
        host = s + 1;
        hlen = (size_t)(close - host);
        port = close + 2;
        if (hlen == 0 || !memchr(host, ':', hlen))
            return -EINVAL;
    } else {
        const char *colon = NULL;
        for (size_t i = 0; i < n; i++)
            if (s[i] == ':')
                colon = s + i;
        if (!colon)
            return -EINVAL;
        hlen = (size_t)(colon - s);
        port = colon + 1;
        if (memchr(s, ':', hlen)) /* IPv6 without brackets */
            return -EINVAL;
    }
    if (hlen >= sizeof out->host)
        return -EINVAL;
    for (size_t i = 0; i < hlen; i++) {
        unsigned char c = (unsigned char)host[i];
        if (c <= ' ' || c == '/' || c == '[' || c == ']' || c >= 0x7f)
            return -EINVAL;
    }
    memcpy(out->host, host, hlen);
    out->host[hlen] = 0;
    char portbuf[8];
    size_t plen = (size_t)(s + n - port);
    if (plen == 0 || plen >= sizeof portbuf)
        return -EINVAL;
    memcpy(portbuf, port, plen);
    portbuf[plen] = 0;
    return parse_port(portbuf, out->port);
}

int cfg_parse_static(char *s, struct static_mount *out)
{
    char *eq = strchr(s, '=');
    if (!eq || eq == s || !eq[1] || s[0] != '/')
        return -EINVAL;
    size_t n = (size_t)(eq - s);
    while (n > 0 && s[n - 1] == '/')
        n--;
    if (n >= sizeof out->prefix)
        return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= ' ' || c >= 0x7f || c == '?' || c == '#' || c == '%' || c == '\\')
            return -EINVAL;
    }
    memcpy(out->prefix, s, n);
    out->prefix[n] = 0;
    out->prefix_len = n;
    out->dir = eq + 1;
    return 0;
}

/* A dotted Python name: identifiers separated by single dots. */
static bool is_dotted_name(const char *s, size_t n)
{
    bool start = true;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '.') {
            if (start)
                return false;
            start = true;
            continue;
        }
        bool alpha = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_' ||
                     ch >= 0x80; /* non-ASCII identifiers: Python decides */
        if (!alpha && !(ch >= '0' && ch <= '9' && !start))
            return false;
        start = false;
    }
    return n > 0 && !start;
}

int cfg_parse_app(const char *s, struct app_spec *out)
{
    const char *colon = strchr(s, ':');
    size_t mlen = colon ? (size_t)(colon - s) : strlen(s);
    const char *attr = colon ? colon + 1 : "application";
    size_t alen = strlen(attr);
    bool call = alen > 2 && strcmp(attr + alen - 2, "()") == 0;
    if (call)
        alen -= 2;
    if (!is_dotted_name(s, mlen) || !is_dotted_name(attr, alen))
        return -EINVAL;
    if (mlen >= sizeof out->module || alen >= sizeof out->attr)
        return -EINVAL;
    if (out) {
        memcpy(out->module, s, mlen);
        out->module[mlen] = 0;
        memcpy(out->attr, attr, alen);
        out->attr[alen] = 0;
        out->call = call;
    }
    return 0;
}

/* A max-age in whole seconds (no size suffix), at most ten years; *out is left alone on error. */
static int parse_max_age(const char *s, int64_t *out)
{
    uint64_t v = 0;
    if (cfg_parse_size(s, &v) < 0 || v > 10 * 365 * 86400ULL || strpbrk(s, "kKmMgG"))
        return -EINVAL;
    *out = (int64_t)v;
    return 0;
}

static int parse_count(const char *s, size_t min, size_t max, size_t *out)
{
    uint64_t v;
    if (cfg_parse_size(s, &v) < 0 || v < min || v > max)
        return -EINVAL;
    *out = (size_t)v;
    return 0;
}

/* The CPUs this process may run on (its affinity mask, as taskset or a cgroup set it). */
static size_t cpus_available(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
        return (size_t)CPU_COUNT(&set);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (size_t)n : 1;
}

static const char *opt_name(int val)
{
    for (const struct option *o = long_opts; o->name; o++)
        if (o->val == val)
            return o->name;
    return "?";
}

static int grow(void **arr, size_t n, size_t elem)
{
    void *p = realloc(*arr, (n + 1) * elem);
    if (!p)
        return -ENOMEM;
    *arr = p;
    return 0;
}

int cfg_parse(struct cfg *c, int argc, char **argv, char *err, size_t errlen)
{
    memset(c, 0, sizeof *c);
    c->log_level = LOG_INFO;
    c->static_max_age = -1;
    c->limit_request_line = 8190;
    c->limit_request_field_size = 8190;
    c->limit_request_fields = 100;
    c->limit_request_body = 1ULL << 30;
    c->keep_alive_ms = 5000;
    c->header_timeout_ms = 10000;
    c->handshake_timeout_ms = 10000;
    c->io_timeout_ms = 60000;
    c->graceful_timeout_ms = 30000;
    c->threads = 4;
    c->app_timeout_ms = 30000;
    c->max_queue = 64;
    c->workers = 1;
    c->umask_mode = -1;
    c->worker_timeout_ms = 30000;
    c->request_buffering = true;
    c->http2 = true;
    c->h2_max_streams = 100;
    c->min_rate = 500;
    c->buffer_memory = 256ULL << 20;
    c->buffer_disk = 4ULL << 30;
    c->response_spool = 64ULL << 20;
    c->proxy_allow_from = "127.0.0.1,::1";
    c->forwarded_allow_ips = "127.0.0.1,::1";
    c->hsts = -1;
    bool proxy_all = false;
    err[0] = 0;

    optind = 0; /* glibc: full re-initialisation, so cfg_parse can run more than once */
    opterr = 0;
    int opt, idx;
    while ((opt = getopt_long(argc, argv, ":b:w:h", long_opts, &idx)) != -1) {
        const char *a = optarg;
        int r = 0;
        int64_t *secs = NULL;
        switch (opt) {
        case 'b':
            if (grow((void **)&c->binds, c->nbinds, sizeof *c->binds) < 0)
                goto nomem;
            r = cfg_parse_bind(a, &c->binds[c->nbinds]);
            if (r == 0)
                c->nbinds++;
            break;
        case OPT_STATIC:
            if (grow((void **)&c->mounts, c->nmounts, sizeof *c->mounts) < 0)
                goto nomem;
            r = cfg_parse_static((char *)a, &c->mounts[c->nmounts]);
            if (r == 0)
                c->nmounts++;
            break;
        case OPT_MAX_AGE: r = parse_max_age(a, &c->static_max_age); break;
        case OPT_DOTFILES: c->static_dotfiles = true; break;
        case OPT_CERT: c->certfile = a; break;
        case OPT_KEY: c->keyfile = a; break;
        case OPT_ACCESS: c->access_log = a; break;
        case OPT_ERROR: c->error_log = a; break;
        case OPT_LEVEL:
            c->log_level = log_level_parse(a);
            r = c->log_level < 0 ? -EINVAL : 0;
            break;
        case OPT_LINE: r = parse_count(a, 64, 1 << 20, &c->limit_request_line); break;
        case OPT_FIELD: r = parse_count(a, 64, 1 << 20, &c->limit_request_field_size); break;
        case OPT_FIELDS: r = parse_count(a, 1, 10000, &c->limit_request_fields); break;
        case OPT_BODY: r = cfg_parse_size(a, &c->limit_request_body); break;
        case OPT_KEEPALIVE: secs = &c->keep_alive_ms; break;
        case OPT_HEADER_TO: secs = &c->header_timeout_ms; break;
        case OPT_HANDSHAKE_TO: secs = &c->handshake_timeout_ms; break;
        case OPT_IO_TO: secs = &c->io_timeout_ms; break;
        case OPT_GRACEFUL: secs = &c->graceful_timeout_ms; break;
        case OPT_THREADS: r = parse_count(a, 0, 1024, &c->threads); break;
        case OPT_TIMEOUT:
            r = cfg_parse_seconds(a, &c->app_timeout_ms);
            if (r == 0 && c->app_timeout_ms == 0 && strspn(a, "0.") != strlen(a))
                r = -EINVAL; /* "0.0001" would round to 0 = off */
            break;
        case OPT_MAX_QUEUE: r = parse_count(a, 0, 1 << 20, &c->max_queue); break;
        case OPT_CHDIR: c->chdir = a; break;
        case OPT_PYTHONPATH: c->pythonpath = a; break;
        case OPT_VIRTUALENV: c->virtualenv = a; break;
        case 'w':
            if (strcmp(a, "auto") == 0)
                c->workers = cpus_available();
            else
                r = parse_count(a, 0, 256, &c->workers);
            break;
        case OPT_WORKER_TO: secs = &c->worker_timeout_ms; break;
        case OPT_MAX_REQ: r = cfg_parse_size(a, &c->max_requests); break;
        case OPT_MAX_REQ_JITTER: r = cfg_parse_size(a, &c->max_requests_jitter); break;
        case OPT_PID: c->pidfile = a; break;
        case OPT_PRELOAD: c->preload = true; break;
        case OPT_STATS: {
            struct bind_spec b;
            char url[300];
            snprintf(url, sizeof url, "%s%s", strncmp(a, "unix:", 5) == 0 ? "" : "http://", a);
            r = cfg_parse_bind(url, &b);
            if (r == 0 && b.kind != BIND_UNIX && !b.host[0])
                r = -EINVAL; /* all interfaces: never */
            c->stats = a;
            break;
        }
        case OPT_USER: c->user = a; break;
        case OPT_GROUP: c->group = a; break;
        case OPT_UMASK: {
            char *end;
            errno = 0;
            long m = strtol(a, &end, 8);
            if (errno || !*a || *end || m < 0 || m > 0777)
                r = -EINVAL;
            else
                c->umask_mode = (int)m;
            break;
        }
        case OPT_PROXY_PROTOCOL: proxy_all = true; break;
        case OPT_PROXY_ALLOW: c->proxy_allow_from = a; break;
        case OPT_FWD_ALLOW: c->forwarded_allow_ips = a; break;
        case OPT_HEALTH:
            /* an origin-form path, nothing a request target could not match exactly */
            if (a[0] != '/' || strlen(a) > 255 || strpbrk(a, "?#%\\") ||
                strspn(a, "/abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~") !=
                    strlen(a))
                r = -EINVAL;
            c->health = a;
            break;
        case OPT_DRAIN_DELAY:
            r = cfg_parse_seconds(a, &c->drain_delay_ms);
            if (r == 0 && c->drain_delay_ms > 3600 * 1000)
                r = -EINVAL;
            break;
        case OPT_REDIRECT_HTTP: c->redirect_http = true; break;
        case OPT_HSTS: r = parse_max_age(a, &c->hsts); break;
        case OPT_NO_BUFFERING: c->request_buffering = false; break;
        case OPT_HTTP2: c->http2 = true; break;
        case OPT_NO_HTTP2: c->http2 = false; break;
        case OPT_H2C: c->h2c = true; break;
        case OPT_H2_STREAMS: r = parse_count(a, 1, 1 << 16, &c->h2_max_streams); break;
        case OPT_MIN_RATE: r = cfg_parse_size(a, &c->min_rate); break;
        case OPT_BUF_MEM: r = cfg_parse_size(a, &c->buffer_memory); break;
        case OPT_BUF_DISK: r = cfg_parse_size(a, &c->buffer_disk); break;
        case OPT_RESPONSE_SPOOL: r = cfg_parse_size(a, &c->response_spool); break;
        case OPT_VERSION: c->version = true; break;
        case 'h': c->help = true; break;
        case ':':
            snprintf(err, errlen, "option %s needs a value", argv[optind - 1]);
            return -EINVAL;
        default:
            if (optopt) /* a short option, maybe inside a cluster like -xh */
                snprintf(err, errlen, "unknown option -%c", optopt);
            else
                snprintf(err, errlen, "unknown option %s", argv[optind - 1]);
            return -EINVAL;
        }
        if ((opt == OPT_CHDIR || opt == OPT_PYTHONPATH || opt == OPT_VIRTUALENV || opt == OPT_PID ||
             opt == OPT_USER || opt == OPT_GROUP) &&
            !*a)
            r = -EINVAL;
        if (secs) {
            r = cfg_parse_seconds(a, secs);
            if (r == 0 && *secs == 0 && secs != &c->keep_alive_ms)
                r = -EINVAL; /* only keep-alive may be 0 */
        }
        if (r < 0) {
            snprintf(err, errlen, "bad value for --%s: '%s'", opt_name(opt), a);
            return -EINVAL;
        }
    }
    if (optind < argc) {
        c->app = argv[optind];
        if (cfg_parse_app(c->app, NULL) < 0) {
            snprintf(err, errlen,
                     "bad APP '%s': expected MODULE, MODULE:CALLABLE or MODULE:FACTORY()", c->app);
            return -EINVAL;
        }
        if (optind + 1 < argc) {
            snprintf(err, errlen, "unexpected argument '%s'", argv[optind + 1]);
            return -EINVAL;
        }
    }
    if ((c->certfile == NULL) != (c->keyfile == NULL)) {
        snprintf(err, errlen, "--certfile and --keyfile go together");
        return -EINVAL;
    }
    if (c->nbinds == 0) {
        if (grow((void **)&c->binds, 0, sizeof *c->binds) < 0)
            goto nomem;
        if (cfg_parse_bind("127.0.0.1:8443", &c->binds[0]) < 0)
            return -EINVAL;
        c->nbinds = 1;
    }
    bool have_tls = false;
    for (size_t i = 0; i < c->nbinds; i++) {
        c->binds[i].proxy |= proxy_all;
        have_tls |= c->binds[i].kind == BIND_TLS;
    }
    const char *lists[][2] = {{"proxy-allow-from", c->proxy_allow_from},
                              {"forwarded-allow-ips", c->forwarded_allow_ips}};
    for (size_t i = 0; i < 2; i++) {
        struct netmask_list nl;
        char why[200];
        int r = netmask_parse(&nl, lists[i][1], why, sizeof why);
        netmask_deinit(&nl);
        if (r < 0) {
            snprintf(err, errlen, "bad value for --%s: %s", lists[i][0], why);
            return -EINVAL;
        }
    }
    if (c->redirect_http && !have_tls) {
        snprintf(err, errlen, "--redirect-http needs a TLS listener (-b https://HOST:PORT)");
        return -EINVAL;
    }
    return 0;
nomem:
    snprintf(err, errlen, "out of memory");
    return -ENOMEM;
}

void cfg_free(struct cfg *c)
{
    free(c->binds);
    free(c->mounts);
    c->binds = NULL;
    c->mounts = NULL;
    c->nbinds = c->nmounts = 0;
}
