#include "static.h"

#include "exchange.h"
#include "httpdate.h"
#include "log.h"
#include "fcache.h"
#include "mime.h"
#include "range.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <unistd.h>

static int errno_status(int e, const char *rel)
{
    switch (e) {
    case ENOENT:
    case ENOTDIR:
    case EXDEV: /* a symlink leading out of the root */
    case ELOOP:
    case ENAMETOOLONG: return 404;
    case EACCES:
    case EPERM:
    case ENXIO: /* a UNIX socket */
    case ENODEV:
    case EOPNOTSUPP: return 403;
    case EMFILE:
    case ENFILE: log_warn("static: out of file descriptors"); return 503;
    default: log_error("static: cannot open '%s': %s", rel, strerror(e)); return 500;
    }
}

/* Location for a directory without its slash: the decoded path re-encoded (never starting with
 * "//", so it cannot point at another host), plus "/" and the query. */
static void redirect_to_dir(const struct request *req, const char *full, size_t n,
                            struct response *res)
{
    static const char hex[] = "0123456789ABCDEF";
    char loc[RESPONSE_HDRS_MAX / 2];
    size_t k = 0;
    for (size_t i = 0; i < n && k + 4 < sizeof loc; i++) {
        unsigned char c = (unsigned char)full[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            strchr("/-._~!$&'()*+,;=:@", c)) {
            loc[k++] = (char)c;
        } else {
            loc[k++] = '%';
            loc[k++] = hex[c >> 4];
            loc[k++] = hex[c & 15];
        }
    }
    loc[k] = 0;
    response_error(res, 301);
    if (!response_add_header(res, "Location", "%s/%s%.*s", loc, req->query.n ? "?" : "",
                             (int)req->query.n, req->query.p)) {
        response_error(res, 414);
    }
}

/* Any segment of rel ("/a/.b/c") starting with '.'? */
static bool has_dotfile(const char *rel, size_t n)
{
    for (size_t i = 0; i + 1 < n; i++)
        if (rel[i] == '/' && rel[i + 1] == '.')
            return true;
    return false;
}

/* Worth looking for a .br/.gz sidecar: types that compress. */
static bool is_compressible(const char *type)
{
    return strncmp(type, "text/", 5) == 0 || strncmp(type, "application/json", 16) == 0 ||
           strcmp(type, "image/svg+xml") == 0 || strcmp(type, "application/xml") == 0 ||
           strcmp(type, "application/wasm") == 0 || strcmp(type, "application/manifest+json") == 0;
}

/* Scan one Accept-Encoding line for coding and "*", keeping the q-values (0..1000) found. */
static void scan_accept(struct span ae, const char *coding, int *q_named, int *q_star)
{
    size_t i = 0;
    while (i < ae.n) {
        while (i < ae.n && (ae.p[i] == ' ' || ae.p[i] == '\t' || ae.p[i] == ','))
            i++;
        size_t t0 = i;
        while (i < ae.n && ae.p[i] != ',' && ae.p[i] != ';' && ae.p[i] != ' ' && ae.p[i] != '\t')
            i++;
        struct span tok = {ae.p + t0, i - t0};
        int q = 1000;
        while (i < ae.n && ae.p[i] != ',') { /* parameters: only q matters */
            if ((ae.p[i] == 'q' || ae.p[i] == 'Q') && i + 1 < ae.n && ae.p[i + 1] == '=' &&
                (ae.p[i - 1] == ';' || ae.p[i - 1] == ' ' || ae.p[i - 1] == '\t')) {
                i += 2;
                q = 0;
                if (i < ae.n && ae.p[i] == '1')
                    q = 1000;
                else if (i < ae.n && ae.p[i] == '0' && i + 1 < ae.n && ae.p[i + 1] == '.') {
                    int scale = 100;
                    for (size_t k = i + 2;
                         k < ae.n && k < i + 5 && ae.p[k] >= '0' && ae.p[k] <= '9';
                         k++, scale /= 10)
                        q += (ae.p[k] - '0') * scale;
                }
            }
            i++;
        }
        if (tok.n == 0)
            continue;
        if (span_eq_lower(tok, coding))
            *q_named = q;
        else if (tok.n == 1 && tok.p[0] == '*')
            *q_star = q;
    }
}

/* q-value (0..1000) the request gives coding (or its alias), over every Accept-Encoding line;
 * "*" stands only for codings not named; 0 when refused or absent. */
static int accept_q(const struct request *req, const char *coding, const char *alias)
{
    int q_named = -1, q_alias = -1, q_star = -1;
    for (size_t i = 0; i < req->nheaders; i++) {
        if (!span_eq_lower(req->headers[i].name, "accept-encoding"))
            continue;
        scan_accept(req->headers[i].value, coding, &q_named, &q_star);
        if (alias)
            scan_accept(req->headers[i].value, alias, &q_alias, &q_star);
    }
    if (q_named >= 0 || q_alias >= 0)
        return q_named > q_alias ? q_named : q_alias;
    return q_star > 0 ? q_star : 0;
}

/* Does the entity-tag list (one If-Match / If-None-Match line) hold etag? Strong comparison
 * refuses weak tags; "*" matches any current representation. Malformed lists match nothing. */
static bool etag_line_matches(struct span list, const char *etag, bool strong)
{
    list = span_trim(list);
    if (list.n == 1 && list.p[0] == '*')
        return true;
    size_t elen = strlen(etag), i = 0;
    while (i < list.n) {
        while (i < list.n && (list.p[i] == ' ' || list.p[i] == '\t' || list.p[i] == ','))
            i++;
        if (i >= list.n)
            break;
        bool weak = false;
        if (i + 1 < list.n && list.p[i] == 'W' && list.p[i + 1] == '/') {
            weak = true;
            i += 2;
        }
        if (i >= list.n || list.p[i] != '"')
            return false;
        const char *end = memchr(list.p + i + 1, '"', list.n - i - 1);
        if (!end)
            return false;
        size_t tlen = (size_t)(end - (list.p + i)) + 1;
        if (tlen == elen && memcmp(list.p + i, etag, elen) == 0 && !(strong && weak))
            return true;
        i += tlen;
    }
    return false;
}

/* The same over every line of the header (a list may be split across lines); false also
 * when the header is absent, which *present tells. */
static bool etag_matches(const struct request *req, const char *name, const char *etag, bool strong,
                         bool *present)
{
    *present = false;
    for (size_t i = 0; i < req->nheaders; i++) {
        if (!span_eq_lower(req->headers[i].name, name))
            continue;
        *present = true;
        if (etag_line_matches(req->headers[i].value, etag, strong))
            return true;
    }
    return false;
}

static bool header_date(const struct request *req, const char *name, time_t *t)
{
    struct span v = request_header(req, name);
    return v.p && httpdate_parse(v.p, v.n, t);
}

/* RFC 9110 §13.2.2: 0 to go on, or 304 / 412. */
/* The strong validator "<mtime s hex>.<mtime ns hex>-<size hex>[-<coding>]" into out (64
 * bytes), NUL-terminated; returns its length. A sidecar's coding keeps its ETag distinct. */
static size_t make_etag(char *out, const struct stat *st, const char *coding)
{
    size_t n = 0;
    out[n++] = '"';
    n += fmt_hex(out + n, (unsigned long long)st->st_mtim.tv_sec);
    out[n++] = '.';
    n += fmt_hex(out + n, (unsigned long long)st->st_mtim.tv_nsec);
    out[n++] = '-';
    n += fmt_hex(out + n, (unsigned long long)st->st_size);
    if (coding) {
        size_t k = strnlen(coding, 8);
        out[n++] = '-';
        memcpy(out + n, coding, k);
        n += k;
    }
    out[n++] = '"';
    out[n] = '\0';
    return n;
}

static int preconditions(const struct request *req, const char *etag, time_t mtime)
{
    time_t t;
    bool present;
    if (!etag_matches(req, "if-match", etag, true, &present) && present) {
        return 412;
    } else if (!present && header_date(req, "if-unmodified-since", &t) && mtime > t) {
        return 412;
    }
    bool get_head = req->is_get || req->is_head;
    if (etag_matches(req, "if-none-match", etag, false, &present)) {
        return get_head ? 304 : 412;
    } else if (!present && get_head && header_date(req, "if-modified-since", &t) && mtime <= t) {
        return 304;
    }
    return 0;
}

/* If-Range (§13.1.5): true when the Range may be honoured. */
static bool if_range_holds(const struct request *req, const char *etag, time_t mtime)
{
    struct span v = span_trim(request_header(req, "if-range"));
    if (!v.p)
        return true;
    if (v.n && (v.p[0] == '"' || v.p[0] == 'W'))
        return v.n == strlen(etag) && memcmp(v.p, etag, v.n) == 0; /* strong, exact */
    time_t t;
    return httpdate_parse(v.p, v.n, &t) && t == mtime;
}

/* The sidecar relpath + ext, when it exists (*exists, which decides Vary even when it is not
 * used); usable when it is a regular file not older than the original. */
static bool find_sidecar(const struct static_root *root, const char *relpath, const char *ext,
                         const struct stat *orig, struct fcache_file *out, bool *exists)
{
    char name[PATH_MAX];
    if (snprintf(name, sizeof name, "%s%s", relpath, ext) >= (int)sizeof name)
        return false;
    fcache_get(root->dirfd, name, out);
    if (out->err)
        return false;
    *exists = true;
    const struct stat *st = &out->st;
    return S_ISREG(st->st_mode) && (st->st_mtim.tv_sec > orig->st_mtim.tv_sec ||
                                    (st->st_mtim.tv_sec == orig->st_mtim.tv_sec &&
                                     st->st_mtim.tv_nsec >= orig->st_mtim.tv_nsec));
}

/* Open relpath + ext (the file or its chosen sidecar) past the cache. fd or -errno. */
static int open_variant(const struct static_root *root, const char *relpath, const char *ext)
{
    char path[PATH_MAX + 8];
    if (snprintf(path, sizeof path, "%s%s", relpath, ext) >= (int)sizeof path)
        return -ENAMETOOLONG;
    return fcache_open(root->dirfd, path);
}

static void make_boundary(char *out)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char rnd[RANGE_BOUNDARY_LEN / 2];
    if (getrandom(rnd, sizeof rnd, GRND_NONBLOCK) != (ssize_t)sizeof rnd) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        for (size_t i = 0; i < sizeof rnd; i++)
            rnd[i] = (unsigned char)((uint64_t)ts.tv_nsec >> (i % 8 * 8) ^
                                     (uint64_t)getpid() >> (i % 4));
    }
    for (size_t i = 0; i < sizeof rnd; i++) {
        out[2 * i] = hex[rnd[i] >> 4];
        out[2 * i + 1] = hex[rnd[i] & 15];
    }
    out[RANGE_BOUNDARY_LEN] = 0;
}

/* A multipart/byteranges body: its parts, produced a few at a time as the protocol has room
 * (a large part alone), then the closing boundary. */
struct multipart {
    struct xbody b; /* first */
    int fd;         /* owned */
    size_t next, n;
    uint64_t size;
    const char *type; /* static MIME string */
    char boundary[RANGE_BOUNDARY_LEN + 1];
    struct byte_range ranges[RANGE_MAX];
};

static int multipart_produce(struct xbody *b, struct exchange *x)
{
    struct multipart *mp = (struct multipart *)b;
    char head[512];
    while (mp->next < mp->n) {
        if (!x->ops->room(x))
            return 0;
        const struct byte_range *r = &mp->ranges[mp->next++];
        size_t k = range_part_header(head, sizeof head, mp->boundary, mp->type, r, mp->size);
        if (!k || x->ops->data(x, head, k) < 0 ||
            x->ops->file(x, mp->fd, (off_t)r->first, r->last - r->first + 1) < 0)
            return -1;
    }
    if (!x->ops->room(x)) /* after the last part's bytes */
        return 0;
    size_t k = range_trailer(head, sizeof head, mp->boundary);
    return x->ops->data(x, head, k) < 0 || x->ops->end(x) < 0 ? -1 : 1;
}

static void multipart_free(struct xbody *b)
{
    struct multipart *mp = (struct multipart *)b;
    if (mp->fd >= 0)
        close(mp->fd);
    free(mp);
}

/* Fill res for req (and mp, for a multipart/byteranges answer: mp->n > 1). */
static void serve(const struct static_root *root, const struct request *req, const char *rel,
                  size_t rel_len, struct response *res, struct multipart *mp)
{
    const struct static_mount *m = root->mount;
    char full[PATH_MAX + 16];
    if (m->prefix_len + rel_len + sizeof "/index.html" + 3 > sizeof full) {
        response_error(res, 414);
        return;
    }
    if (!root->dotfiles && has_dotfile(rel, rel_len)) {
        response_error(res, 404);
        return;
    }
    memcpy(full, m->prefix, m->prefix_len);
    memcpy(full + m->prefix_len, rel, rel_len);
    size_t full_len = m->prefix_len + rel_len;
    full[full_len] = 0;

    /* rel is "" (the mount itself), "/", or "/a/b"; openat2 wants "a/b" or ".". */
    const char *relpath = rel_len > 1 ? full + m->prefix_len + 1 : ".";
    bool trailing_slash = rel_len > 0 && rel[rel_len - 1] == '/';

    struct fcache_file f;
    fcache_get(root->dirfd, relpath, &f);
    if (f.err) {
        response_error(res, errno_status(f.err, relpath));
        return;
    }
    const char *name = full;
    size_t name_len = full_len;
    if (S_ISDIR(f.st.st_mode)) {
        if (!trailing_slash) {
            redirect_to_dir(req, full, full_len, res);
            return;
        }
        /* index.html, resolved from the root again so the same beneath-rule applies */
        memcpy(full + full_len, "index.html", sizeof "index.html");
        name_len = full_len + sizeof "index.html" - 1;
        relpath = rel_len > 1 ? full + m->prefix_len + 1 : "index.html";
        fcache_get(root->dirfd, relpath, &f);
        if (f.err || S_ISDIR(f.st.st_mode)) {
            response_error(res, f.err ? errno_status(f.err, relpath) : 404);
            return;
        }
    }
    if (!S_ISREG(f.st.st_mode)) {
        response_error(res, 403);
        return;
    }
    const char *type = mime_for_path(name, name_len);

    /* Precompressed sidecars: x.css.br / x.css.gz, chosen by Accept-Encoding q-values; the
     * chosen one replaces f (and its path, for opening). */
    const char *encoding = NULL, *ext = "";
    bool has_variants = false;
    if (is_compressible(type)) {
        static const struct {
            const char *ext, *coding;
        } sidecars[] = {{".br", "br"}, {".gz", "gzip"}};
        int q[2] = {accept_q(req, "br", NULL), accept_q(req, "gzip", "x-gzip")};
        int best = -1;
        struct stat orig = f.st;
        for (int i = 0; i < 2; i++) {
            bool wanted = q[i] > 0 && (best < 0 || q[i] > q[best]);
            if (!wanted && has_variants)
                continue; /* its existence would change nothing */
            struct fcache_file v;
            bool exists = false;
            bool usable = find_sidecar(root, relpath, sidecars[i].ext, &orig, &v, &exists);
            has_variants |= exists;
            if (wanted && usable) {
                f = v;
                best = i;
                encoding = sidecars[i].coding;
                ext = sidecars[i].ext;
            }
        }
    }

    /* Small files come from memory; others are opened now, and their fresh metadata used. */
    int fd = -1;
    if (!f.data && !req->is_head) {
        fd = open_variant(root, relpath, ext);
        if (fd < 0) {
            response_error(res, errno_status(-fd, relpath));
            return;
        }
        if (fstat(fd, &f.st) < 0 || !S_ISREG(f.st.st_mode)) {
            close(fd);
            response_error(res, 403);
            return;
        }
    }
    const struct stat *st = &f.st;
    char etag[64], date[HTTPDATE_LEN + 1];
    size_t etag_len = make_etag(etag, st, encoding ? ext + 1 : NULL);
    httpdate_format(st->st_mtim.tv_sec, date);
    uint64_t size = (uint64_t)st->st_size;

    int pre = preconditions(req, etag, st->st_mtim.tv_sec);
    if (pre == 412) {
        if (fd >= 0)
            close(fd);
        response_error(res, 412);
        return;
    }
    bool ok = true;
    if (pre == 304) {
        if (fd >= 0)
            close(fd);
        fd = -1;
        res->status = 304;
    } else {
        res->status = 200;
        res->content_type = type;
        res->content_length = (int64_t)size;
        res->body = f.data;
        res->file_fd = fd;
        res->file_off = 0;
        ok &= response_add_header_n(res, "Accept-Ranges", "bytes", 5);
    }
    ok &= response_add_header_n(res, "Last-Modified", date, HTTPDATE_LEN);
    ok &= response_add_header_n(res, "ETag", etag, etag_len);
    if (root->max_age >= 0) {
        char cc[40] = "public, max-age=";
        size_t n = 16 + fmt_u64(cc + 16, (unsigned long long)root->max_age);
        ok &= response_add_header_n(res, "Cache-Control", cc, n);
    }
    if (has_variants)
        ok &= response_add_header_n(res, "Vary", "Accept-Encoding", 15);
    if (encoding && pre != 304)
        ok &= response_add_header_str(res, "Content-Encoding", encoding);

    struct span range = request_header(req, "range");
    if (pre == 0 && range.p && req->is_get && if_range_holds(req, etag, st->st_mtim.tv_sec)) {
        size_t n = 0;
        switch (range_parse(range.p, range.n, size, mp->ranges, &n)) {
        case RANGE_IGNORE: break;
        case RANGE_UNSATISFIABLE:
            if (fd >= 0)
                close(fd);
            res->file_fd = -1;
            res->status = 416;
            res->content_type = "text/plain; charset=utf-8";
            res->body = "416 Range Not Satisfiable\n";
            res->content_length = (int64_t)strlen(res->body);
            ok &=
                response_add_header(res, "Content-Range", "bytes */%llu", (unsigned long long)size);
            break;
        case RANGE_OK:
            res->status = 206;
            if (n == 1) {
                const struct byte_range *r = &mp->ranges[0];
                res->content_length = (int64_t)(r->last - r->first + 1);
                if (res->body)
                    res->body += r->first;
                else
                    res->file_off = (off_t)r->first;
                ok &= response_add_header(res, "Content-Range", "bytes %llu-%llu/%llu",
                                          (unsigned long long)r->first, (unsigned long long)r->last,
                                          (unsigned long long)size);
            } else {
                if (fd < 0) { /* parts go out over several turns: not from the cache */
                    fd = open_variant(root, relpath, ext);
                    struct stat now;
                    if (fd < 0 || fstat(fd, &now) < 0 || now.st_size != st->st_size) {
                        if (fd >= 0)
                            close(fd);
                        response_error(res, 503);
                        return;
                    }
                    res->file_fd = fd;
                    res->body = NULL;
                }
                make_boundary(mp->boundary);
                mp->n = n;
                mp->size = size;
                mp->type = type;
                res->content_type = NULL;
                res->content_length =
                    (int64_t)range_multipart_length(mp->boundary, type, mp->ranges, n, size);
                ok &= response_add_header(res, "Content-Type", "multipart/byteranges; boundary=%s",
                                          mp->boundary);
            }
            break;
        }
    }
    if (!ok)
        log_error("static: response headers do not fit");
}

int static_serve(const struct static_root *root, struct exchange *x, const char *rel,
                 size_t rel_len)
{
    struct response res;
    response_init(&res);
    struct multipart mp;
    mp.n = 0;
    serve(root, x->req, rel, rel_len, &res, &mp);
    if (mp.n < 2)
        return exchange_send(x, &res);
    struct multipart *body = malloc(sizeof *body);
    if (!body) {
        close(res.file_fd);
        return exchange_error(x, 503);
    }
    *body = mp;
    body->b.produce = multipart_produce;
    body->b.free = multipart_free;
    body->fd = res.file_fd;
    body->next = 0;
    res.file_fd = -1;
    if (x->ops->head(x, &res) < 0) {
        multipart_free(&body->b);
        return -1;
    }
    x->body = &body->b;
    return 0;
}
