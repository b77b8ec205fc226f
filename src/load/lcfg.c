#include "lcfg.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char lcfg_usage[] =
    "usage: httpsd-load [OPTIONS] URL [URL...]\n"
    "  -p, --processes P      worker processes (default: number of CPUs)\n"
    "  -c, --connections C    connections in total (default 50)\n"
    "  -d, --duration T       run for T (10s, 1m, 500ms; default 10s unless -n is given)\n"
    "  -n, --requests N       stop after N requests in total\n"
    "  -R, --rate N           open loop: N requests/s in total, latency from intended send\n"
    "  -m, --method M         request method (default GET)\n"
    "  -H, --header 'K: V'    add a request header (repeatable)\n"
    "      --body STRING      request body (Content-Length is set)\n"
    "      --body-file FILE   request body from a file\n"
    "      --unix PATH        connect to this UNIX socket instead of the URL's host\n"
    "      --no-keepalive     a new connection (and TLS handshake) per request\n"
    "      --pipeline D       requests in flight per connection (default 1)\n"
    "  -k, --insecure         do not verify the server's certificate\n"
    "      --cacert FILE      trust the certificates in FILE (PEM)\n"
    "      --tls-resume       resume TLS sessions on new connections\n"
    "      --timeout T        per-request timeout (default 5s)\n"
    "      --json             print the results as one JSON object (with the timeline)\n"
    "      --timeline         add requests and errors per second to the text report\n"
    "  -q, --quiet            no progress line on stderr\n"
    "      --max-clients N    simple mode: N processes ...\n"
    "      --max-conns M      ... each making M sequential connections with one request\n"
    "  -h, --help, --version\n";

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

int lcfg_parse_duration(const char *s, uint64_t *ns)
{
    char *end;
    if (!s || !*s || *s == '-' || *s == '+' || *s == ' ')
        return -EINVAL;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || !isfinite(v) || v < 0)
        return -EINVAL;
    double mul;
    if (!*end || strcmp(end, "s") == 0)
        mul = 1e9;
    else if (strcmp(end, "ms") == 0)
        mul = 1e6;
    else if (strcmp(end, "us") == 0)
        mul = 1e3;
    else if (strcmp(end, "m") == 0)
        mul = 60e9;
    else if (strcmp(end, "h") == 0)
        mul = 3600e9;
    else
        return -EINVAL;
    double x = v * mul;
    if (x > 1e18 || (x < 1.0 && v > 0)) /* over 30 years, or below a nanosecond */
        return -EINVAL;
    *ns = (uint64_t)x;
    return 0;
}

static int parse_uint(const char *s, uint64_t max, uint64_t *out)
{
    char *end;
    if (!s || *s < '0' || *s > '9')
        return -EINVAL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v > max)
        return -EINVAL;
    *out = v;
    return 0;
}

static bool is_host_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_';
}

int lcfg_parse_url(const char *s, struct lcfg_url *u, char *err, size_t errlen)
{
    memset(u, 0, sizeof *u);
    const char *p;
    if (strncasecmp(s, "http://", 7) == 0) {
        p = s + 7;
    } else if (strncasecmp(s, "https://", 8) == 0) {
        u->tls = true;
        p = s + 8;
    } else {
        return fail(err, errlen, "bad URL '%s': must start with http:// or https://", s);
    }
    const char *auth = p;
    const char *host, *host_end;
    if (*p == '[') {
        host = ++p;
        while (*p && *p != ']') {
            if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') ||
                  (*p >= 'A' && *p <= 'F') || *p == ':' || *p == '.'))
                return fail(err, errlen, "bad URL '%s': bad IPv6 literal", s);
            p++;
        }
        if (*p != ']' || p == host)
            return fail(err, errlen, "bad URL '%s': bad IPv6 literal", s);
        host_end = p++;
    } else {
        host = p;
        while (is_host_char(*p))
            p++;
        host_end = p;
        if (host_end == host)
            return fail(err, errlen, "bad URL '%s': no host", s);
    }
    if ((size_t)(host_end - host) >= sizeof u->host)
        return fail(err, errlen, "bad URL '%s': host name too long", s);
    memcpy(u->host, host, (size_t)(host_end - host));
    if (*p == ':') {
        const char *port = ++p;
        while (*p >= '0' && *p <= '9')
            p++;
        char tmp[8];
        uint64_t v;
        size_t n = (size_t)(p - port);
        if (n == 0 || n > 5)
            return fail(err, errlen, "bad URL '%s': bad port", s);
        memcpy(tmp, port, n);
        tmp[n] = 0;
        if (parse_uint(tmp, 65535, &v) < 0 || v == 0)
            return fail(err, errlen, "bad URL '%s': bad port", s);
        snprintf(u->port, sizeof u->port, "%u", (unsigned)v);
    } else {
        strcpy(u->port, u->tls ? "443" : "80");
    }
    u->hostport = (struct span){auth, (size_t)(p - auth)};
    if (*p && *p != '/' && *p != '?' && *p != '#')
        return fail(err, errlen, "bad URL '%s': unexpected '%c' after the host", s, *p);
    const char *t = p;
    while (*p && *p != '#') {
        /* what may go on the request line as is: no spaces, controls or non-ASCII */
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
            return fail(err, errlen,
                        "bad URL '%s': character 0x%02x in the path (percent-encode it)", s,
                        (unsigned char)*p);
        p++;
    }
    u->target = (struct span){t, (size_t)(p - t)};
    return 0;
}

static int read_body_file(struct lcfg *c, const char *path, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0)
        return fail(err, errlen, "--body-file %s: %s", path, strerror(errno));
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size > LCFG_MAX_BODY) {
        close(fd);
        return fail(err, errlen, "--body-file %s: not a regular file of at most 64 MiB", path);
    }
    size_t n = (size_t)st.st_size, got = 0;
    char *p = malloc(n ? n : 1);
    if (!p) {
        close(fd);
        return fail(err, errlen, "--body-file %s: out of memory", path);
    }
    while (got < n) {
        ssize_t r = read(fd, p + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            free(p);
            close(fd);
            return fail(err, errlen, "--body-file %s: short read", path);
        }
        got += (size_t)r;
    }
    close(fd);
    free(c->body_owned);
    c->body_owned = p;
    c->body = p;
    c->body_len = n;
    c->has_body = true;
    return 0;
}

static bool is_token(const char *s, size_t n)
{
    if (!n)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              (ch && strchr("!#$%&'*+-.^_`|~", ch))))
            return false;
    }
    return true;
}

enum {
    OPT_BODY = 256,
    OPT_BODY_FILE,
    OPT_UNIX,
    OPT_NO_KEEPALIVE,
    OPT_PIPELINE,
    OPT_CACERT,
    OPT_TLS_RESUME,
    OPT_TIMEOUT,
    OPT_JSON,
    OPT_TIMELINE,
    OPT_MAX_CLIENTS,
    OPT_MAX_CONNS,
    OPT_VERSION,
};

int lcfg_parse(struct lcfg *c, int argc, char **argv, char *err, size_t errlen)
{
    static const struct option opts[] = {
        {"processes", required_argument, NULL, 'p'},
        {"connections", required_argument, NULL, 'c'},
        {"duration", required_argument, NULL, 'd'},
        {"requests", required_argument, NULL, 'n'},
        {"rate", required_argument, NULL, 'R'},
        {"method", required_argument, NULL, 'm'},
        {"header", required_argument, NULL, 'H'},
        {"body", required_argument, NULL, OPT_BODY},
        {"body-file", required_argument, NULL, OPT_BODY_FILE},
        {"unix", required_argument, NULL, OPT_UNIX},
        {"no-keepalive", no_argument, NULL, OPT_NO_KEEPALIVE},
        {"pipeline", required_argument, NULL, OPT_PIPELINE},
        {"insecure", no_argument, NULL, 'k'},
        {"cacert", required_argument, NULL, OPT_CACERT},
        {"tls-resume", no_argument, NULL, OPT_TLS_RESUME},
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {"json", no_argument, NULL, OPT_JSON},
        {"timeline", no_argument, NULL, OPT_TIMELINE},
        {"quiet", no_argument, NULL, 'q'},
        {"max-clients", required_argument, NULL, OPT_MAX_CLIENTS},
        {"max-conns", required_argument, NULL, OPT_MAX_CONNS},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, OPT_VERSION},
        {NULL, 0, NULL, 0},
    };
    memset(c, 0, sizeof *c);
    c->connections = 50;
    c->timeout_ns = 5000000000ull;
    c->pipeline = 1;
    c->keepalive = true;
    c->method = "GET";
    bool set_c = false, set_p = false, set_n = false, set_d = false;
    uint64_t v;
    int opt;
    optind = 0; /* full reset: the parser may run more than once (tests) */
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":p:c:d:n:R:m:H:kqh", opts, NULL)) != -1) {
        const char *a = optarg;
        switch (opt) {
        case 'p':
            if (parse_uint(a, 4096, &v) < 0 || v == 0)
                return fail(err, errlen, "-p/--processes: expected 1..4096, got '%s'", a);
            c->processes = (unsigned)v;
            set_p = true;
            break;
        case 'c':
            if (parse_uint(a, 1000000, &v) < 0 || v == 0)
                return fail(err, errlen, "-c/--connections: expected 1..1000000, got '%s'", a);
            c->connections = (unsigned)v;
            set_c = true;
            break;
        case 'd':
            if (lcfg_parse_duration(a, &c->duration_ns) < 0 || c->duration_ns == 0)
                return fail(err, errlen, "-d/--duration: bad duration '%s' (e.g. 10s, 1m, 500ms)",
                            a);
            set_d = true;
            break;
        case 'n':
            if (parse_uint(a, UINT64_MAX / 4, &v) < 0 || v == 0)
                return fail(err, errlen, "-n/--requests: expected a positive integer, got '%s'", a);
            c->requests = v;
            set_n = true;
            break;
        case 'R': {
            char *end;
            errno = 0;
            double r = a && *a >= '0' && *a <= '9' ? strtod(a, &end) : -1;
            if (r <= 0 || errno || *end || !isfinite(r) || r > 1e8)
                return fail(err, errlen, "-R/--rate: expected requests per second > 0, got '%s'",
                            a);
            c->rate = r;
            break;
        }
        case 'm':
            if (!is_token(a, strlen(a)))
                return fail(err, errlen, "-m/--method: '%s' is not a method name", a);
            c->method = a;
            break;
        case 'H': {
            const char *colon = strchr(a, ':');
            if (!colon || !is_token(a, (size_t)(colon - a)))
                return fail(err, errlen, "-H/--header: expected 'Name: value', got '%s'", a);
            for (const char *q = colon + 1; *q; q++)
                if ((unsigned char)*q < 0x20 && *q != '\t')
                    return fail(err, errlen, "-H/--header: control character in '%s'", a);
            if (c->nheaders == LCFG_MAX_HEADERS)
                return fail(err, errlen, "-H/--header: at most %d headers", LCFG_MAX_HEADERS);
            c->headers[c->nheaders++] = a;
            break;
        }
        case OPT_BODY:
            free(c->body_owned);
            c->body_owned = NULL;
            c->body = a;
            c->body_len = strlen(a);
            c->has_body = true;
            break;
        case OPT_BODY_FILE: {
            int rc = read_body_file(c, a, err, errlen);
            if (rc < 0)
                return rc;
            break;
        }
        case OPT_UNIX:
            if (!*a || strlen(a) >= 108)
                return fail(err, errlen, "--unix: bad socket path '%s'", a);
            c->unix_path = a;
            break;
        case OPT_NO_KEEPALIVE: c->keepalive = false; break;
        case OPT_PIPELINE:
            if (parse_uint(a, LCFG_MAX_PIPELINE, &v) < 0 || v == 0)
                return fail(err, errlen, "--pipeline: expected 1..%d, got '%s'", LCFG_MAX_PIPELINE,
                            a);
            c->pipeline = (unsigned)v;
            break;
        case 'k': c->insecure = true; break;
        case OPT_CACERT: c->cacert = a; break;
        case OPT_TLS_RESUME: c->tls_resume = true; break;
        case OPT_TIMEOUT:
            if (lcfg_parse_duration(a, &c->timeout_ns) < 0 || c->timeout_ns < 1000000)
                return fail(err, errlen, "--timeout: bad duration '%s' (at least 1ms)", a);
            break;
        case OPT_JSON: c->json = true; break;
        case OPT_TIMELINE: c->timeline = true; break;
        case 'q': c->quiet = true; break;
        case OPT_MAX_CLIENTS:
            if (parse_uint(a, 4096, &v) < 0 || v == 0)
                return fail(err, errlen, "--max-clients: expected 1..4096, got '%s'", a);
            c->max_clients = (unsigned)v;
            break;
        case OPT_MAX_CONNS:
            if (parse_uint(a, 100000000, &v) < 0 || v == 0)
                return fail(err, errlen, "--max-conns: expected a positive integer, got '%s'", a);
            c->max_conns = (unsigned)v;
            break;
        case 'h': return LCFG_HELP;
        case OPT_VERSION: return LCFG_VERSION;
        case ':': return fail(err, errlen, "option '%s' needs a value", argv[optind - 1]);
        default: {
            /* optopt is also set (to the option's value) for a long option given a value it
             * does not take: '--json=1' is not an unknown '-<control character>' */
            const char *arg = argv[optind - 1];
            const char *eq = strchr(arg, '=');
            if (strncmp(arg, "--", 2) == 0 && eq && optopt)
                return fail(err, errlen, "option '%.*s' takes no value", (int)(eq - arg), arg);
            if (optopt > ' ' && optopt < 127)
                return fail(err, errlen, "unknown option '-%c'", optopt);
            return fail(err, errlen, "unknown option '%s'", arg);
        }
        }
    }
    for (int i = optind; i < argc; i++) {
        if (c->nurls == LCFG_MAX_URLS)
            return fail(err, errlen, "at most %d URLs", LCFG_MAX_URLS);
        struct lcfg_url *u = &c->urls[c->nurls];
        int rc = lcfg_parse_url(argv[i], u, err, errlen);
        if (rc < 0)
            return rc;
        /* One connection target for all URLs: connections are shared round-robin. */
        if (c->nurls && (u->tls != c->urls[0].tls || strcmp(u->host, c->urls[0].host) != 0 ||
                         strcmp(u->port, c->urls[0].port) != 0))
            return fail(err, errlen, "all URLs must share scheme, host and port ('%s')", argv[i]);
        c->nurls++;
    }
    if (!c->nurls)
        return fail(err, errlen, "no URL given");
    if (c->max_clients || c->max_conns) {
        if (!c->max_clients || !c->max_conns)
            return fail(err, errlen, "--max-clients and --max-conns go together");
        if (set_c || set_p || set_n || set_d || c->rate > 0 || c->pipeline > 1)
            return fail(err, errlen,
                        "--max-clients/--max-conns cannot be combined with -c, -p, -n, -d, "
                        "--rate or --pipeline");
        c->processes = c->max_clients;
        c->connections = c->max_clients;
        c->requests = (uint64_t)c->max_clients * c->max_conns;
        c->keepalive = false;
    }
    if (!c->keepalive && c->pipeline > 1)
        return fail(err, errlen, "--pipeline needs keep-alive (not with --no-keepalive)");
    if (!c->duration_ns && !c->requests)
        c->duration_ns = 10000000000ull;
    if (c->insecure && c->cacert)
        return fail(err, errlen, "-k/--insecure and --cacert contradict each other");
    return 0;
}

void lcfg_free(struct lcfg *c)
{
    free(c->body_owned);
    c->body_owned = NULL;
    c->body = NULL;
}

static bool has_header(const struct lcfg *c, const char *lower)
{
    size_t n = strlen(lower);
    for (unsigned i = 0; i < c->nheaders; i++) {
        const char *h = c->headers[i];
        if (strncasecmp(h, lower, n) == 0 && h[n] == ':')
            return true;
    }
    return false;
}

int lcfg_render_request(const struct lcfg *c, unsigned i, struct buf *out)
{
    const struct lcfg_url *u = &c->urls[i];
    const char *t = u->target.p;
    int tn = (int)u->target.n;
    const char *slash = tn == 0 || t[0] == '?' ? "/" : "";
    int rc = buf_printf(out, "%s %s%.*s HTTP/1.1\r\n", c->method, slash, tn, t);
    if (!rc && !has_header(c, "host"))
        rc = buf_printf(out, "Host: %.*s\r\n", (int)u->hostport.n, u->hostport.p);
    if (!rc && !has_header(c, "user-agent"))
        rc = buf_printf(out, "User-Agent: httpsd-load\r\n");
    for (unsigned k = 0; !rc && k < c->nheaders; k++)
        rc = buf_printf(out, "%s\r\n", c->headers[k]);
    if (!rc && c->has_body && !has_header(c, "content-length"))
        rc = buf_printf(out, "Content-Length: %zu\r\n", c->body_len);
    if (!rc && !c->keepalive && !has_header(c, "connection"))
        rc = buf_printf(out, "Connection: close\r\n");
    if (!rc)
        rc = buf_append(out, "\r\n", 2);
    if (!rc && c->has_body)
        rc = buf_append(out, c->body, c->body_len);
    return rc;
}
