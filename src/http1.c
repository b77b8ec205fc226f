#include "http1.h"

#include "accesslog.h"
#include "chars.h"
#include "chunked.h"
#include "client.h"
#include "conn.h"
#include "exchange.h"
#include "httpdate.h"
#include "http2.h"
#include "log.h"
#include "request.h"
#include "router.h"
#include "server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <llhttp.h>

#define HEAD_MAX_MIN (32 * 1024) /* the whole request head, at least (nginx: 4 x 8 KiB) */
#define OUT_HIGH_WATER (64 * 1024)
#define INLINE_FILE_MAX (16 * 1024) /* smaller files go out in the same write as the head */
#define TRIM_AT_ONCE_ABOVE 256      /* connections; see h1_on_drain */

/* Offsets into hbuf: it may move while it grows. */
struct hdr_off {
    uint32_t name, name_len, value, value_len;
};

/* The per-request part of a connection: allocated when a request's first bytes arrive (or at
 * accept), freed with the other buffers when an idle keep-alive connection gives them back
 * (h1_on_trim), so that 10,000 idle connections cost sizeof(struct h1conn) each, not this too. */
struct h1req {
    llhttp_t parser; /* data = the struct h1conn */
    struct request req;
    struct body body;  /* the request body, read whole for the app */
    struct chunked ck; /* a chunked body being decoded (h->ck_active) */
    /* The client as the app and the access log see it (client_of) */
    bool client_done;
    struct client client;
    /* The request head being parsed */
    struct buf hbuf;         /* its bytes: target, names, values */
    struct hdr_off *hdrs;    /* owned */
    struct req_header *view; /* owned, spans built at headers-complete */
    size_t nhdrs, hdrs_cap;
    struct hdr_off cur;
    uint32_t target_off, target_len;
    size_t line_len;
    uint64_t body_len;
    /* obs-fold detection (llhttp accepts folded lines; RFC 9112 §5.2 lets us refuse them) */
    const char *exec_start, *exec_end; /* the buffer llhttp is running over */
    bool value_ended_inside;           /* the last value span stopped before exec_end */
    bool prev_tail_lf;                 /* the previous buffer ended in LF [SP/HT]* */
    bool prev_tail_tab;                /* ... and that whitespace held a tab */
    /* --h2c: the first bytes of the connection while they may still be the HTTP/2 preface */
    uint8_t h2c_len;
    char h2c_seen[24];
};

struct h1conn {
    struct conn c; /* first: a struct conn * is a struct h1conn * */
    /* The response being answered by a handler (static, errors, the server's own, the app):
     * its body may go on over several drains (xc.body), or come from a handler over time
     * (xc.handler). */
    struct exchange xc;
    uint64_t x_bytes;    /* body bytes given */
    struct h1req *x;     /* owned; NULL while an idle connection's buffers are given back */
    struct buf pending;  /* input held back while a response is being written */
    uint64_t stream_len; /* Content-Length of a body streaming into the handler */
    int x_status;        /* for the access log, at the end */
    int err_status;      /* chosen by a callback that stopped the parser */
    int busy_status;     /* 503 decided before the body was read: answer it after */
    unsigned nrequests;
    /* (flags together: an idle connection costs sizeof(struct h1conn)) */
    bool x_keep;      /* the connection stays open after the response */
    bool x_bodyless;  /* HEAD, 204, 304: body bytes are dropped */
    bool x_open;      /* its head was given, its end not yet */
    bool x_chunked;   /* its body goes out chunked (no length known) */
    bool x_crlf_owed; /* a chunk sent as a file still needs its CRLF */
    bool in_request;  /* bytes of a request arrived; its response is not queued yet */
    bool in_header;   /* between the start of a field name and the end of its value */
    bool head_done;
    bool expect_continue;
    bool stop;               /* no more requests on this connection */
    bool h2c_checked;        /* --h2c: the first bytes were not the HTTP/2 preface */
    bool completed_in_parse; /* a request ended in this parse() call: the next one is new */
    /* A chunked body is decoded by chunked.c, not llhttp (RFC 9112 §7.1 in full, BWS in chunk
     * extensions included; llhttp 8.1 refuses it and skips the CRLF after chunk data unseen):
     * on_headers_complete tells llhttp there is no body, on_message_complete pauses it, and
     * parse() feeds the following bytes to x->ck until the body ends. */
    bool ck_active;
    /* A handler answering over time (xc.handler: the app) */
    bool keep_body;         /* the request's body is read for its handler (else dropped) */
    uint8_t route;          /* enum route: who answers the request in progress */
    bool handler_resume;    /* a handler on the loop thread: its next piece on the next turn */
    bool handler_started;   /* this request went to its handler (maybe while its body streams) */
    bool handler_answering; /* the handler's head is out */
    bool body_paused;       /* a streamed body waits for the handler to read (input full) */
};

static const llhttp_settings_t settings;

/* Per-request parts given back by idle connections, kept for the next ones (loop thread only):
 * freed to the heap they would leave holes between the connections allocated meanwhile, and
 * 10,000 idle connections would cost their struct h1conn and about half a hole each. */
#define FREE_REQS_MAX 256
static struct h1req *free_reqs[FREE_REQS_MAX];
static size_t nfree_reqs;

/* Give h its per-request part if it has none (false: out of memory). */
static bool h1req_ensure(struct h1conn *h)
{
    if (h->x)
        return true;
    if (nfree_reqs) {
        h->x = free_reqs[--nfree_reqs];
        memset(h->x, 0, sizeof *h->x);
    } else if (!(h->x = calloc(1, sizeof *h->x))) {
        return false;
    }
    llhttp_init(&h->x->parser, HTTP_REQUEST, &settings);
    h->x->parser.data = h;
    body_init(&h->x->body);
    return true;
}

static void h1req_free(struct h1conn *h)
{
    if (!h->x)
        return;
    body_free(&h->x->body);
    buf_free(&h->x->hbuf);
    free(h->x->hdrs);
    free(h->x->view);
    if (nfree_reqs < FREE_REQS_MAX)
        free_reqs[nfree_reqs++] = h->x;
    else
        free(h->x);
    h->x = NULL;
}

static inline struct h1conn *from_parser(llhttp_t *p)
{
    return p->data;
}

static size_t head_max(const struct server *s)
{
    size_t m = s->cfg->limit_request_line + 2 * s->cfg->limit_request_field_size + 1024;
    return m < HEAD_MAX_MIN ? HEAD_MAX_MIN : m;
}

/* Stop the parser with a status to answer. */
static int fail(struct h1conn *h, int status)
{
    if (!h->err_status)
        h->err_status = status;
    return HPE_USER;
}

static int hb_append(struct h1conn *h, const char *at, size_t n)
{
    char *w = buf_reserve(&h->x->hbuf, n, head_max(h->c.srv));
    if (!w)
        return -1;
    memcpy(w, at, n);
    buf_commit(&h->x->hbuf, n);
    return 0;
}

static int on_message_begin(llhttp_t *p)
{
    struct h1conn *h = from_parser(p);
    buf_reset(&h->x->hbuf);
    h->x->nhdrs = 0;
    h->x->target_off = h->x->target_len = 0;
    h->x->line_len = 0;
    h->x->body_len = 0;
    h->in_request = true;
    h->in_header = false;
    h->head_done = false;
    h->expect_continue = false;
    h->ck_active = false;
    h->handler_started = false;
    h->busy_status = 0;
    h->x->client_done = false;
    memset(&h->x->req, 0, sizeof h->x->req);
    if (h->completed_in_parse) /* pipelined: a new total deadline for this head */
        conn_set_timer(&h->c, CONN_T_HEADER);
    return 0;
}

static int count_line(struct h1conn *h, size_t n)
{
    h->x->line_len += n;
    if (h->x->line_len > h->c.srv->cfg->limit_request_line)
        return fail(h, 414);
    return 0;
}

static int on_method(llhttp_t *p, const char *at, size_t n)
{
    (void)at;
    return count_line(from_parser(p), n + 1);
}

static int on_url(llhttp_t *p, const char *at, size_t n)
{
    struct h1conn *h = from_parser(p);
    if (count_line(h, n))
        return HPE_USER;
    if (h->x->target_len == 0)
        h->x->target_off = (uint32_t)h->x->hbuf.len;
    if (hb_append(h, at, n))
        return fail(h, 414);
    h->x->target_len += (uint32_t)n;
    return 0;
}

static int on_version(llhttp_t *p, const char *at, size_t n)
{
    (void)at;
    return count_line(from_parser(p), n + 1);
}

static int on_header_field(llhttp_t *p, const char *at, size_t n)
{
    struct h1conn *h = from_parser(p);
    const struct cfg *cfg = h->c.srv->cfg;
    for (size_t i = 0; i < n; i++) /* e.g. "Name : v" (RFC 9112 §5.1 says: reject) */
        if (!is_tchar((unsigned char)at[i]))
            return fail(h, 400);
    if (!h->in_header) {
        if (h->x->nhdrs >= cfg->limit_request_fields)
            return fail(h, 431);
        h->in_header = true;
        h->x->cur = (struct hdr_off){.name = (uint32_t)h->x->hbuf.len};
    }
    if (h->x->cur.name_len + n > cfg->limit_request_field_size)
        return fail(h, 431);
    if (hb_append(h, at, n))
        return fail(h, 431);
    h->x->cur.name_len += (uint32_t)n;
    return 0;
}

static int on_header_field_complete(llhttp_t *p)
{
    struct h1conn *h = from_parser(p);
    if (!h->in_header) /* ": value" — llhttp 8.1 lets an empty name through */
        return fail(h, 400);
    h->x->cur.value = (uint32_t)h->x->hbuf.len; /* the value may be empty: no on_header_value */
    h->x->cur.value_len = 0;
    h->x->value_ended_inside = false;
    return 0;
}

/* Is this value span the continuation of a folded line? llhttp delivers a value in several
 * spans only when the input buffer ends inside it, or for obs-fold. */
static bool is_obs_fold(struct h1conn *h, const char *at, bool first_span)
{
    if (!first_span) /* a split continues at the very start of the next buffer */
        return h->x->value_ended_inside || at != h->x->exec_start;
    /* First span: what precedes it must be ':' and optional whitespace, not LF. */
    const char *q = at;
    while (q > h->x->exec_start && (q[-1] == ' ' || q[-1] == '\t'))
        q--;
    if (q > h->x->exec_start)
        return q[-1] == '\n';
    return h->x->prev_tail_lf;
}

/* Was there a tab in the whitespace llhttp skipped before this value? */
static bool tab_before(struct h1conn *h, const char *at)
{
    const char *q = at;
    bool tab = false;
    while (q > h->x->exec_start && (q[-1] == ' ' || q[-1] == '\t'))
        tab |= *--q == '\t';
    return tab || (q == h->x->exec_start && h->x->prev_tail_tab);
}

/* Is the header being parsed Content-Length or Transfer-Encoding? A tab before their value is
 * valid whitespace to RFC 9110 but not to every proxy (nginx keeps it as part of the value and
 * refuses the request): a front end and httpsd could frame the body differently. Refused. */
static bool is_framing_header(struct h1conn *h)
{
    struct span name = {h->x->hbuf.p + h->x->cur.name, h->x->cur.name_len};
    return span_eq_lower(name, "content-length") || span_eq_lower(name, "transfer-encoding");
}

static int on_header_value(llhttp_t *p, const char *at, size_t n)
{
    struct h1conn *h = from_parser(p);
    if (n == 0) /* llhttp reports empty values as empty spans: nothing to check or keep */
        return 0;
    bool first_span = h->x->cur.value_len == 0 && !h->x->value_ended_inside;
    if (is_obs_fold(h, at, first_span))
        return fail(h, 400);
    if (first_span && tab_before(h, at) && is_framing_header(h))
        return fail(h, 400);
    h->x->value_ended_inside = at + n != h->x->exec_end;
    /* RFC 9110 §5.5: field values are visible characters, spaces and tabs (obs-text allowed).
     * CR or LF in a value means obs-fold or a bare CR reached us: refused. */
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)at[i];
        if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
            return fail(h, 400);
    }
    if (h->x->cur.name_len + h->x->cur.value_len + n > h->c.srv->cfg->limit_request_field_size)
        return fail(h, 431);
    if (hb_append(h, at, n))
        return fail(h, 431);
    h->x->cur.value_len += (uint32_t)n;
    return 0;
}

static int on_header_value_complete(llhttp_t *p)
{
    struct h1conn *h = from_parser(p);
    if (!h->in_header || h->x->cur.name_len == 0) /* ": value" */
        return fail(h, 400);
    if (h->x->nhdrs == h->x->hdrs_cap) {
        size_t cap = h->x->hdrs_cap ? h->x->hdrs_cap * 2 : 16;
        struct hdr_off *n = realloc(h->x->hdrs, cap * sizeof *n);
        if (!n)
            return fail(h, 503);
        h->x->hdrs = n;
        h->x->hdrs_cap = cap;
    }
    h->x->hdrs[h->x->nhdrs++] = h->x->cur;
    h->in_header = false;
    return 0;
}

/* Fill h->x->req with spans into hbuf (which no longer moves for this request). */
static int build_request(struct h1conn *h)
{
    struct request *r = &h->x->req;
    const char *base = h->x->hbuf.p;
    free(h->x->view);
    h->x->view = malloc((h->x->nhdrs ? h->x->nhdrs : 1) * sizeof *h->x->view);
    if (!h->x->view)
        return -1;
    for (size_t i = 0; i < h->x->nhdrs; i++) {
        h->x->view[i].name = (struct span){base + h->x->hdrs[i].name, h->x->hdrs[i].name_len};
        h->x->view[i].value =
            span_trim((struct span){base + h->x->hdrs[i].value, h->x->hdrs[i].value_len});
    }
    const char *m = llhttp_method_name((llhttp_method_t)h->x->parser.method);
    r->method = (struct span){m, strlen(m)};
    r->is_get = h->x->parser.method == HTTP_GET;
    r->is_head = h->x->parser.method == HTTP_HEAD;
    r->version_minor = h->x->parser.http_minor;
    r->headers = h->x->view;
    r->nheaders = h->x->nhdrs;
    r->target = (struct span){base + h->x->target_off, h->x->target_len};
    r->host = request_header(r, "host");
    /* Absolute form (RFC 9112 §3.2.2): the authority replaces Host. */
    struct span t = r->target;
    size_t skip = 0;
    if (t.n >= 7 && span_eq_lower((struct span){t.p, 7}, "http://"))
        skip = 7;
    else if (t.n >= 8 && span_eq_lower((struct span){t.p, 8}, "https://"))
        skip = 8;
    if (skip) {
        size_t i = skip;
        while (i < t.n && t.p[i] != '/' && t.p[i] != '?')
            i++;
        r->host = (struct span){t.p + skip, i - skip};
        t = (struct span){t.p + i, t.n - i};
        if (t.n == 0)
            t = SPAN_LIT("/");
    }
    const char *q = memchr(t.p, '?', t.n);
    r->path = (struct span){t.p, q ? (size_t)(q - t.p) : t.n};
    r->query = q ? (struct span){q + 1, t.n - r->path.n - 1} : (struct span){t.p + t.n, 0};
    if (r->path.n == 0)
        r->path = SPAN_LIT("/");
    return 0;
}

static int handler_start(struct h1conn *h, bool keep, bool streaming);
static struct exchange *h1x_begin(struct h1conn *h, bool keep);
static void resume_input(struct h1conn *h);

static bool may_keep_alive(struct h1conn *h)
{
    const struct server *s = h->c.srv;
    return llhttp_should_keep_alive(&h->x->parser) && !s->draining && s->cfg->keep_alive_ms > 0 &&
           !(h->x->parser.flags & F_CONNECTION_UPGRADE) && !h->x->parser.upgrade;
}

static int on_headers_complete(llhttp_t *p)
{
    struct h1conn *h = from_parser(p);
    struct request *r = &h->x->req;
    const struct cfg *cfg = h->c.srv->cfg;
    if (build_request(h))
        return fail(h, 503);
    h->head_done = true;
    if (p->http_major != 1 || p->http_minor > 1)
        return fail(h, 505);
    size_t hosts = 0, lengths = 0, encodings = 0;
    bool te_ok = true;
    for (size_t i = 0; i < r->nheaders; i++) {
        struct span name = r->headers[i].name, v = r->headers[i].value;
        if (span_eq_lower(name, "host"))
            hosts++;
        else if (span_eq_lower(name, "content-length"))
            lengths++;
        else if (span_eq_lower(name, "transfer-encoding")) {
            encodings++;
            te_ok = te_ok && span_eq_lower(v, "chunked");
        } else if (span_eq_lower(name, "expect")) {
            if (h->expect_continue) /* twice: nginx refuses it too */
                return fail(h, 400);
            if (!span_eq_lower(v, "100-continue"))
                return fail(h, 417);
            h->expect_continue = true;
        }
    }
    int ts = request_check_target(r, p->method == HTTP_OPTIONS);
    if (ts)
        return fail(h, ts);
    /* RFC 9112 §3.2: exactly one Host on 1.1, at most one on 1.0. */
    if (hosts > 1 || (hosts == 0 && p->http_minor == 1) ||
        (hosts == 1 && !request_host_valid(request_header(r, "host"))))
        return fail(h, 400);
    /* §6.1, §6.3: request smuggling vectors. */
    if (lengths > 1 || (lengths && encodings))
        return fail(h, 400);
    if (encodings && p->http_minor == 0)
        return fail(h, 400);
    if (encodings && (encodings > 1 || !te_ok))
        return fail(h, 501);
    /* CONNECT: no proxying here. TRACE would echo the request, cookies included, to script
     * that can send it (cross-site tracing); nginx refuses it as well. */
    if (p->method == HTTP_CONNECT || p->method == HTTP_TRACE)
        return fail(h, 405);
    bool has_body = (p->flags & F_CHUNKED) || ((p->flags & F_CONTENT_LENGTH) && p->content_length);
    if ((p->flags & F_CONTENT_LENGTH) && p->content_length > cfg->limit_request_body)
        return fail(h, 413); /* answered without reading the body */
    h->route = (uint8_t)router_route(&h->c.srv->router, h1x_begin(h, false));
    h->keep_body = router_takes_body((enum route)h->route);
    if (has_body) {
        conn_set_timer(&h->c, CONN_T_IO);
        if (h->expect_continue && p->http_minor == 1) {
            static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
            if (conn_write(&h->c, cont, sizeof cont - 1))
                return fail(h, 503);
        }
    }
    /* With --no-request-buffering a large upload streams into the app as it arrives (thread
     * mode): the app starts now and reads the bytes as they come. By default, and for
     * chunked bodies always, the body is read whole first (on_body), so that an app thread
     * never waits on a slow client (router_streams_body). */
    if (h->keep_body && cfg->request_buffering && (p->flags & F_CONTENT_LENGTH) &&
        !body_budget_fits(p->content_length)) {
        log_warn("#%llu request bodies in memory and temporary files are at --buffer-memory + "
                 "--buffer-disk: 503",
                 (unsigned long long)h->c.id);
        return fail(h, 503);
    }
    /* Not for a client that has half-closed already: its whole body is in the socket buffer,
     * so it is read at once, and if it ends early the app never runs (half-closing floods
     * held app threads for nothing, and legit requests met a full queue). */
    if (router_streams_body(&h->c.srv->router, (enum route)h->route,
                            (p->flags & F_CONTENT_LENGTH) != 0, p->content_length) &&
        !conn_peer_gone(&h->c)) {
        h->stream_len = p->content_length;
        int e = handler_start(h, may_keep_alive(h), true);
        if (e < 0)
            return HPE_USER; /* the connection was aborted */
        if (e > 0) {         /* no thread: read the body, then answer */
            h->keep_body = false;
            h->busy_status = e;
        }
    }
    if (p->flags & F_CHUNKED) { /* chunked.c decodes it; llhttp sees a message without body */
        chunked_init(&h->x->ck, cfg->limit_request_body, (uint32_t)cfg->limit_request_field_size,
                     (uint32_t)cfg->limit_request_fields);
        h->ck_active = true;
        return 1;
    }
    return 0;
}

/* Body bytes, from llhttp (Content-Length) or chunked.c: kept for the handler, streamed into
 * it, or (static handlers) dropped. 0, HPE_PAUSED (its input is full) or HPE_USER. */
static int body_data(struct h1conn *h, const char *at, size_t n)
{
    h->x->body_len += n;
    if (h->x->body_len > h->c.srv->cfg->limit_request_body)
        return fail(h, 413);
    struct xhandler *hd = h->xc.handler;
    if (h->handler_started) { /* streaming into the handler */
        if (!hd)
            return 0; /* it answered without reading it all: read and dropped */
        int e = hd->ops->feed(hd, at, n);
        if (e < 0) {
            conn_abort(&h->c, "out of memory");
            return HPE_USER;
        }
        /* The app reads slower than the client sends: stop reading. Not after the body's
         * last bytes: llhttp would then owe us on_message_complete until more input came. */
        if (e > 0 && h->x->body_len < h->stream_len) {
            h->body_paused = true;
            conn_set_timer(&h->c, CONN_T_NONE); /* the app is in charge now, as for --timeout */
            return HPE_PAUSED;
        }
    } else if (h->keep_body) {
        int e = body_append(&h->x->body, at, n);
        if (e == -ENOSPC) {
            log_warn("#%llu request bodies in temporary files are at --buffer-disk: 503",
                     (unsigned long long)h->c.id);
            return fail(h, 503);
        }
        if (e < 0) {
            log_error("#%llu cannot buffer the request body: %s", (unsigned long long)h->c.id,
                      strerror(-e));
            return fail(h, e == -ENOMEM ? 503 : 500);
        }
    }
    return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t n)
{
    return body_data(from_parser(p), at, n);
}

/* Who the request in h->x is from (client.h); computed once per request. */
static const struct client *client_of(struct h1conn *h)
{
    struct h1req *x = h->x;
    if (!x->client_done) {
        x->client_done = true;
        client_resolve(&x->client, &h->c.peer, h->c.tls != NULL, &x->req,
                       &h->c.srv->forwarded_allow);
    }
    return &x->client;
}

static void log_access(struct h1conn *h, int status, int64_t bytes)
{
    exchange_log(&h->xc, h->c.srv, status, bytes);
}

/* The status line, Server, Date, Content-Type and Content-Length of res, without printf (this
 * runs once per response). 0 or -ENOMEM. */
static int append_head_start(struct buf *out, const struct response *res)
{
    const char *reason = res->reason ? res->reason : http_reason(res->status);
    const char *type = res->content_type;
    size_t rlen = res->reason ? res->reason_len : strlen(reason), tlen = type ? strlen(type) : 0;
    static const char server[] = "Server: httpsd\r\n";
    size_t max =
        13 + rlen + 2 + (sizeof server - 1) + 6 + HTTPDATE_LEN + 2 + (type ? 16 + tlen : 0) + 38;
    char *w = buf_reserve(out, max, 0);
    if (!w)
        return -ENOMEM;
    char *p = w;
    unsigned s = (unsigned)res->status % 1000;
    memcpy(p, "HTTP/1.1 ", 9);
    p[9] = (char)('0' + s / 100);
    p[10] = (char)('0' + s / 10 % 10);
    p[11] = (char)('0' + s % 10);
    p[12] = ' ';
    p += 13;
    memcpy(p, reason, rlen);
    p += rlen;
    memcpy(p, "\r\n", 2);
    p += 2;
    if (!res->has_server) {
        memcpy(p, server, sizeof server - 1);
        p += sizeof server - 1;
    }
    if (!res->has_date) {
        memcpy(p, "Date: ", 6);
        memcpy(p + 6, httpdate_now(), HTTPDATE_LEN);
        memcpy(p + 6 + HTTPDATE_LEN, "\r\n", 2);
        p += 6 + HTTPDATE_LEN + 2;
    }
    if (type) {
        memcpy(p, "Content-Type: ", 14);
        memcpy(p + 14, type, tlen);
        memcpy(p + 14 + tlen, "\r\n", 2);
        p += 16 + tlen;
    }
    if (res->content_length >= 0 && res->status != 204 && res->status != 304 &&
        res->status >= 200) {
        memcpy(p, "Content-Length: ", 16);
        p += 16;
        p += fmt_u64(p, (unsigned long long)res->content_length);
        memcpy(p, "\r\n", 2);
        p += 2;
    }
    buf_commit(out, (size_t)(p - w));
    return 0;
}

/* ---- the exchange, for HTTP/1.1 ------------------------------------------------------ */

static inline struct h1conn *from_exchange(struct exchange *x)
{
    return (struct h1conn *)((char *)x - offsetof(struct h1conn, xc));
}

/* The head of res for h->x->req (or for a request that could not be parsed:
 * h->x->req.method.p NULL); h->x_keep says whether the connection may stay open, and is
 * cleared when res says otherwise. */
static int h1x_head(struct exchange *x, const struct response *res)
{
    struct h1conn *h = from_exchange(x);
    struct conn *c = &h->c;
    const struct request *r = &h->x->req;
    int st = res->status;
    h->x_keep = h->x_keep && !res->close && st != 400;
    h->x_bodyless = r->is_head || st == 204 || st == 304 || st < 200;
    /* No length (an app's stream): chunked on 1.1; on 1.0 the body ends with the connection.
     * Never for a response without a body (RFC 9112 §6.3). */
    h->x_chunked = false;
    if (res->content_length < 0 && !h->x_bodyless) {
        if (r->version_minor >= 1)
            h->x_chunked = true;
        else
            h->x_keep = false;
    }
    int e = append_head_start(&c->out, res);
    if (res->lines_len)
        e |= buf_append(&c->out, res->lines, res->lines_len);
    if (res->hdrs_len)
        e |= buf_append(&c->out, res->hdrs, res->hdrs_len);
    if (c->srv->hsts_len && c->tls && !res->has_sts)
        e |= buf_append(&c->out, c->srv->hsts_line, c->srv->hsts_len);
    if (h->x_chunked)
        e |= buf_append(&c->out, "Transfer-Encoding: chunked\r\n", 28);
    if (!h->x_keep)
        e |= buf_append(&c->out, "Connection: close\r\n\r\n", 21);
    else if (r->version_minor == 0)
        e |= buf_append(&c->out, "Connection: keep-alive\r\n\r\n", 26);
    else
        e |= buf_append(&c->out, "\r\n", 2);
    h->x_status = st;
    h->x_bytes = 0;
    h->x_open = true;
    return e ? -1 : 0;
}

/* A chunk's size line ("1f4\r\n") before n bytes of a chunked body. 0 or -1. */
static int chunk_start(struct h1conn *h, uint64_t n)
{
    char line[32];
    size_t k = 0;
    if (h->x_crlf_owed) { /* the end of the chunk before, sent as a file */
        memcpy(line, "\r\n", 2);
        k = 2;
        h->x_crlf_owed = false;
    }
    k += fmt_hex(line + k, (unsigned long long)n);
    memcpy(line + k, "\r\n", 2);
    return buf_append(&h->c.out, line, k + 2) ? -1 : 0;
}

static int h1x_data(struct exchange *x, const char *p, size_t n)
{
    struct h1conn *h = from_exchange(x);
    if (h->x_bodyless || n == 0)
        return 0;
    h->x_bytes += n;
    if (!h->x_chunked)
        return buf_append(&h->c.out, p, n) ? -1 : 0;
    if (chunk_start(h, n) < 0 || buf_append(&h->c.out, p, n) || buf_append(&h->c.out, "\r\n", 2))
        return -1;
    return 0;
}

static int h1x_data_buf(struct exchange *x, struct buf *b)
{
    struct h1conn *h = from_exchange(x);
    struct conn *c = &h->c;
    size_t n = buf_size(b);
    /* Plain bytes: what is still to be sent (the head, at least) goes in front of them, and b
     * becomes the output — a large body is not copied. */
    if (!h->x_bodyless && !h->x_chunked && c->file_fd < 0 &&
        buf_prepend(b, buf_data(&c->out), buf_size(&c->out))) {
        struct buf tmp = c->out;
        c->out = *b;
        *b = tmp;
        buf_reset(b);
        h->x_bytes += n;
        return 0;
    }
    int e = h1x_data(x, buf_data(b), n);
    buf_reset(b);
    return e;
}

/* Sent from where they are, after what is queued (room() says no until they are out). */
static int h1x_data_ref(struct exchange *x, struct buf_ref *r)
{
    struct h1conn *h = from_exchange(x);
    struct conn *c = &h->c;
    if (h->x_bodyless || r->n == 0 || c->ref || c->file_fd >= 0) {
        r->release(r);
        /* bytes after a queued reference or file would pass it: room() said no */
        return h->x_bodyless || r->n == 0 ? 0 : -1;
    }
    h->x_bytes += r->n;
    if (h->x_chunked) {
        if (chunk_start(h, r->n) < 0) {
            r->release(r);
            return -1;
        }
        h->x_crlf_owed = true; /* the chunk's CRLF goes with the next piece (see h1x_end) */
    }
    conn_write_ref(c, r);
    return 0;
}

/* Small ranges are read into the output at once (with the head, or several parts in one
 * write); larger ones go out by sendfile / TLS records, one at a time (room() says no
 * meanwhile). */
static int h1x_file(struct exchange *x, int fd, off_t off, uint64_t len)
{
    struct h1conn *h = from_exchange(x);
    struct conn *c = &h->c;
    if (h->x_bodyless || len == 0)
        return 0;
    h->x_bytes += len;
    if (h->x_chunked && chunk_start(h, len) < 0)
        return -1;
    if (len > INLINE_FILE_MAX) {
        int own = dup(fd);
        if (own < 0)
            return -1;
        conn_write_file(c, own, off, (off_t)len);
        /* the chunk's CRLF goes after the file: with the next piece (see h1x_end) */
        h->x_crlf_owed = h->x_chunked;
        return 0;
    }
    char *w = buf_reserve(&c->out, (size_t)len, 0);
    ssize_t got = w ? pread(fd, w, (size_t)len, off) : -1;
    if (got != (ssize_t)len) {
        log_error("#%llu file read failed or file changed", (unsigned long long)c->id);
        return -1;
    }
    buf_commit(&c->out, (size_t)len);
    if (h->x_chunked && buf_append(&c->out, "\r\n", 2))
        return -1;
    return 0;
}

static int h1x_end(struct exchange *x)
{
    struct h1conn *h = from_exchange(x);
    h->x_open = false;
    log_access(h, h->x_status, (int64_t)h->x_bytes);
    if (!h->x_chunked)
        return 0;
    h->x_chunked = false;
    return chunk_start(h, 0) < 0 || buf_append(&h->c.out, "\r\n", 2) ? -1 : 0;
}

static void h1x_abort(struct exchange *x, const char *why)
{
    struct h1conn *h = from_exchange(x);
    log_debug("#%llu response cut: %s", (unsigned long long)h->c.id, why);
    h->x_open = false;
    h->x_keep = false; /* the client sees the connection close before the body's end */
    h->x_chunked = h->x_crlf_owed = false;
    log_access(h, h->x_status, (int64_t)h->x_bytes);
}

static bool h1x_room(struct exchange *x)
{
    struct h1conn *h = from_exchange(x);
    return h->c.file_fd < 0 && !h->c.ref && buf_size(&h->c.out) < OUT_HIGH_WATER;
}

static const struct client *h1x_client(struct exchange *x)
{
    return client_of(from_exchange(x));
}

static void h1x_local(struct exchange *x, char *out, size_t n, unsigned *port)
{
    conn_local_str(&from_exchange(x)->c, out, n, port);
}

static void h1x_wake(struct exchange *x);

static const struct exchange_ops h1x_ops = {
    .head = h1x_head,
    .data = h1x_data,
    .data_buf = h1x_data_buf,
    .data_ref = h1x_data_ref,
    .file = h1x_file,
    .end = h1x_end,
    .abort = h1x_abort,
    .room = h1x_room,
    .client = h1x_client,
    .local = h1x_local,
    .wake = h1x_wake,
};

/* Start an exchange for the request in h->x (keep: the connection may stay open). */
static struct exchange *h1x_begin(struct h1conn *h, bool keep)
{
    exchange_free_body(&h->xc);
    h->xc.ops = &h1x_ops;
    h->xc.req = &h->x->req;
    h->xc.tls = h->c.tls != NULL;
    h->xc.id = h->c.id;
    h->xc.body = NULL;
    h->x_keep = keep;
    h->x_bodyless = false;
    h->x_open = false;
    h->x_chunked = h->x_crlf_owed = false;
    return &h->xc;
}

/* Run the handler's producer while there is room. 1 when its body is complete (or there is
 * none), 0 when more is to come (on_drain calls again), -1 on failure. */
static int h1x_produce(struct h1conn *h)
{
    struct exchange *x = &h->xc;
    if (!x->body)
        return 1;
    int r = x->body->produce(x->body, x);
    if (r != 0)
        exchange_free_body(x);
    return r;
}

/* Answer a request that cannot be processed and stop reading the connection. */
static void reject(struct h1conn *h, int status)
{
    if (h->xc.handler) { /* a streamed body went wrong (too long, malformed) */
        bool started = h->handler_answering || conn_has_output(&h->c);
        exchange_release_handler(&h->xc);
        if (started) { /* the handler's response is on its way: no room for another one */
            h->stop = true;
            conn_abort(&h->c, "bad request body while the app was answering");
            return;
        }
    }
    h->stop = true;
    h->in_request = false;
    h->c.read_paused = true;
    buf_free(&h->pending);
    if (status >= 500 || status == 408)
        log_info("#%llu answered %d", (unsigned long long)h->c.id, status);
    else
        log_debug("#%llu answered %d", (unsigned long long)h->c.id, status);
    if (exchange_error(h1x_begin(h, false), status) < 0) {
        conn_abort(&h->c, "out of memory");
        return;
    }
    conn_close_after_flush(&h->c);
}

static int on_message_complete(llhttp_t *p)
{
    struct h1conn *h = from_parser(p);
    if (h->ck_active)      /* the head of a chunked request: parse() decodes its body, then calls */
        return HPE_PAUSED; /* this again */
    struct server *s = h->c.srv;
    bool may_keep = may_keep_alive(h);
    if (h->handler_started) { /* its body streamed in */
        h->in_request = false;
        h->completed_in_parse = true;
        h->nrequests++;
        struct xhandler *hd = h->xc.handler;
        if (hd) {
            hd->ops->feed_end(hd);
            if (!h->handler_answering && s->cfg->app_timeout_ms > 0)
                conn_set_timer(&h->c, CONN_T_APP);
            else
                conn_set_timer(&h->c, CONN_T_NONE);
            return HPE_PAUSED; /* on_drain goes on once the response is out */
        }
        /* The handler answered before the body ended: on with the next request at once, unless
         * its response is still being written (on_drain then goes on). */
        if (h->stop || conn_has_output(&h->c))
            return HPE_PAUSED;
        conn_set_timer(&h->c, CONN_T_IDLE);
        return 0;
    }
    int e = h->busy_status;
    if (h->keep_body) {
        h->in_request = false;
        h->completed_in_parse = true;
        h->nrequests++;
        e = handler_start(h, may_keep, false);
        if (e <= 0) /* hold pipelined requests until the handler's response is out */
            return HPE_PAUSED;
        h->in_request = true; /* the answer goes through the normal path below */
        h->nrequests--;
    }
    h->in_request = false;
    h->completed_in_parse = true;
    h->nrequests++;
    struct exchange *x = h1x_begin(h, may_keep);
    int sent;
    if (e) { /* no thread free and the queue full */
        sent = exchange_error(x, e);
    } else {
        sent = router_handle(&s->router, x, (enum route)h->route, NULL);
    }
    if (sent < 0 || h1x_produce(h) < 0) {
        exchange_free_body(x);
        h->stop = true;
        conn_abort(&h->c, "cannot queue response");
        return HPE_PAUSED;
    }
    if (!h->x_keep) {
        h->stop = true;
        if (!x->body) /* else once the producer is done (conn sees one part at a time) */
            conn_close_after_flush(&h->c);
        return HPE_PAUSED;
    }
    /* Backpressure: hold the rest of the input until this response is out. */
    if (h->c.file_fd >= 0 || h->c.ref || x->body || buf_size(&h->c.out) >= OUT_HIGH_WATER)
        return HPE_PAUSED;
    return 0;
}

/* ---- handlers answering over time (the app) ---------------------------------------- */

/* Give the handler's output to the exchange (room permitting); finish the request when it is
 * complete. */
static void handler_pump(struct h1conn *h)
{
    struct conn *c = &h->c;
    struct xhandler *hd = h->xc.handler;
    if (!hd || c->closing)
        return;
    struct xprogress p;
    if (hd->ops->pump(hd, &h->xc, &p) < 0) {
        conn_abort(c, "cannot queue the handler's response");
        return;
    }
    h->handler_answering = p.started;
    if (p.started && c->timer_kind == CONN_T_APP)
        conn_set_timer(c, CONN_T_NONE);
    if (!p.done)
        return;
    /* Draining or not: a response that did not say Connection: close leaves the connection
     * open, so the client's next request is answered (with Connection: close) rather than
     * meeting a closed socket (h1_on_drain gives it CONN_T_DRAIN). */
    exchange_release_handler(&h->xc);
    if (!h->x_keep) {
        h->stop = true;
        conn_close_after_flush(c);
    }
}

static void parse(struct h1conn *h, const char *data, size_t n);

/* The handler read enough of a streamed body: go on reading it. */
static void resume_input(struct h1conn *h)
{
    struct conn *c = &h->c;
    h->body_paused = false;
    c->read_paused = false;
    conn_set_timer(c, CONN_T_IO);
    if (buf_size(&h->pending)) {
        struct buf in = h->pending; /* parse() may refill h->pending */
        h->pending = (struct buf){0};
        parse(h, buf_data(&in), buf_size(&in));
        buf_free(&in);
    }
}

/* The handler has news for this connection (loop thread). */
static void h1x_wake(struct exchange *x)
{
    struct h1conn *h = from_exchange(x);
    handler_pump(h);
    if (h->c.closing)
        return;
    struct xhandler *hd = h->xc.handler;
    if (h->body_paused && (!hd || hd->ops->input_room(hd))) {
        resume_input(h);
        if (h->c.closing)
            return;
    }
    /* Even with nothing new to write: a response that just completed must lead to on_drain,
     * which goes on with pipelined input (a HEAD's last step adds no bytes). */
    conn_flush(&h->c);
    if (!h->c.closing)
        conn_read(&h->c);
}

/* Hand the request to its handler (the router's, for a route that takes the body): with its
 * body read whole (streaming false), or at the end of its head with the body still to come.
 * 0 when it went, a status to answer instead (503: every app thread busy and the queue full),
 * or -1 when the connection was aborted. */
static int handler_start(struct h1conn *h, bool keep, bool streaming)
{
    struct conn *c = &h->c;
    const struct cfg *cfg = c->srv->cfg;
    struct exchange *x = h1x_begin(h, keep);
    struct xin in = {
        .body = &h->x->body,
        .chunked = (h->x->parser.flags & F_CHUNKED) != 0,
        .streams = streaming,
        .length = streaming ? h->x->parser.content_length : 0,
    };
    int e = router_handle(&c->srv->router, x, (enum route)h->route, &in);
    body_free(&h->x->body);
    if (e != 0 || !x->handler) /* (a route that takes the body always leaves a handler) */
        return e > 0 ? e : 503;
    h->handler_started = true;
    h->handler_answering = false;
    if (!streaming) /* a streaming request's timer is armed when its body is complete */
        conn_set_timer(c,
                       !x->handler->on_loop && cfg->app_timeout_ms > 0 ? CONN_T_APP : CONN_T_NONE);
    handler_pump(h);
    return c->closing ? -1 : 0;
}

/* llhttp stopped in the method: is it a well-formed token llhttp does not know ("QUERY",
 * "-BLARGH": 501, RFC 9110 §9.1) rather than garbage (400)? The token runs from where llhttp
 * stopped to a SP in this buffer; what llhttp already matched before it were token
 * characters too (they matched a known method's prefix). */
static bool is_unknown_method(struct h1conn *h)
{
    const char *q = llhttp_get_error_pos(&h->x->parser);
    if (!q || q < h->x->exec_start || q >= h->x->exec_end)
        return false;
    for (; q < h->x->exec_end && *q != ' '; q++)
        if (!is_tchar((unsigned char)*q))
            return false;
    return q < h->x->exec_end;
}

static int status_for(struct h1conn *h, llhttp_errno_t e)
{
    if (h->err_status) /* set by our callback, whatever code llhttp wrapped it in */
        return h->err_status;
    switch (e) {
    case HPE_INVALID_VERSION:
        /* well-formed digits llhttp does not know (HTTP/4.0) vs. a broken request line */
        return strcmp(llhttp_get_error_reason(&h->x->parser), "Invalid HTTP version") == 0 ? 505
                                                                                           : 400;
    case HPE_INVALID_TRANSFER_ENCODING: return 501;
    case HPE_INVALID_METHOD: return is_unknown_method(h) ? 501 : 400;
    default: return 400;
    }
}

/* Keep input that must wait (a response is being written) and stop reading. */
static void hold(struct h1conn *h, const char *p, size_t n)
{
    if (n && buf_append(&h->pending, p, n)) {
        conn_abort(&h->c, "out of memory");
        return;
    }
    h->c.read_paused = true;
}

/* Feed a chunked body's bytes to chunked.c. Returns how much of data it took: all of it when
 * the body goes on, up to its end when it ended (the request is then complete: on to
 * on_message_complete), or -1 when the connection stops here (rejected, aborted or paused
 * with the rest held). */
static ssize_t parse_chunked(struct h1conn *h, const char *data, size_t n)
{
    size_t off = 0;
    for (;;) {
        const char *at;
        size_t len, used;
        int r = chunked_parse(&h->x->ck, data + off, n - off, &used, &at, &len);
        if (r < 0) {
            log_debug("#%llu bad chunked body: %d", (unsigned long long)h->c.id, -r);
            reject(h, -r);
            return -1;
        }
        off += used;
        if (r == CHUNKED_MORE)
            return (ssize_t)off;
        if (r == CHUNKED_DATA) {
            if (body_data(h, at, len) != 0) { /* chunked bodies never stream: a failure */
                if (!h->c.closing)
                    reject(h, h->err_status ? h->err_status : 400);
                return -1;
            }
            continue;
        }
        h->ck_active = false; /* CHUNKED_DONE */
        int e = on_message_complete(&h->x->parser);
        if (h->stop || h->c.closing)
            return -1;
        if (e == HPE_PAUSED) {
            hold(h, data + off, n - off);
            return -1;
        }
        return (ssize_t)off;
    }
}

/* Run the parser over data; keeps what it must not parse yet in h->pending. */
static void parse(struct h1conn *h, const char *data, size_t n)
{
    h->completed_in_parse = false;
    while (!h->stop && !h->c.closing) {
        if (h->ck_active) {
            ssize_t took = parse_chunked(h, data, n);
            if (took < 0 || h->ck_active)
                return;
            data += took;
            n -= (size_t)took;
            if (n == 0)
                return;
        }
        h->x->exec_start = data;
        h->x->exec_end = data + n;
        llhttp_errno_t e = llhttp_execute(&h->x->parser, data, n);
        size_t k = n;
        while (k > 0 && (data[k - 1] == ' ' || data[k - 1] == '\t'))
            k--;
        h->x->prev_tail_lf = k > 0 ? data[k - 1] == '\n' : (h->x->prev_tail_lf && n > 0);
        h->x->prev_tail_tab = memchr(data + k, '\t', n - k) || (k == 0 && h->x->prev_tail_tab);
        if (e == HPE_OK)
            return;
        if (e == HPE_PAUSED || e == HPE_PAUSED_UPGRADE) {
            const char *pos = llhttp_get_error_pos(&h->x->parser);
            if (e == HPE_PAUSED)
                llhttp_resume(&h->x->parser);
            else
                llhttp_resume_after_upgrade(&h->x->parser);
            if (h->stop || h->c.closing)
                return;
            size_t rest = (size_t)(data + n - pos);
            if (h->ck_active) { /* a chunked request's head ended: its body follows */
                data = pos;
                n = rest;
                continue;
            }
            hold(h, pos, rest);
            return;
        }
        if (h->c.closing)
            return;
        int status = status_for(h, e);
        log_debug("#%llu parse error %s (%s) → %d", (unsigned long long)h->c.id,
                  llhttp_errno_name(e), llhttp_get_error_reason(&h->x->parser), status);
        reject(h, status);
        return;
    }
}

/* --h2c on a plain listener: a connection that starts with the HTTP/2 client preface is
 * handed to http2.c (prior knowledge, RFC 9113 §3.3). true when data was taken (h may then
 * no longer be an HTTP/1 connection); false: parse what *data / *n say (the bytes held while
 * it looked like the preface come first: *owned is then to be freed). */
static bool h2c_take(struct h1conn *h, const char **data, size_t *n, char **owned)
{
    struct conn *c = &h->c;
    *owned = NULL;
    if (h->h2c_checked || !c->srv->cfg->h2c || c->tls || h->nrequests || h->in_request)
        return false;
    size_t have = h->x->h2c_len,
           take = *n < sizeof h->x->h2c_seen - have ? *n : sizeof h->x->h2c_seen - have;
    memcpy(h->x->h2c_seen + have, *data, take);
    int r = http2_is_preface(h->x->h2c_seen, have + take);
    if (r == 0) { /* a prefix: wait for the rest */
        h->x->h2c_len = (uint8_t)(have + take);
        return true;
    }
    h->h2c_checked = true;
    if (r < 0 && have == 0)
        return false;
    char *all = malloc(have + *n);
    if (!all) {
        conn_abort(c, "out of memory");
        return true;
    }
    memcpy(all, h->x->h2c_seen, have);
    memcpy(all + have, *data, *n);
    if (r > 0) {
        (void)http2_start(c, all, have + *n);
        free(all);
        return true;
    }
    *owned = all;
    *data = all;
    *n += have;
    return false;
}

static void h1_on_data(struct conn *c, const char *data, size_t n)
{
    struct h1conn *h = (struct h1conn *)c;
    if (h->stop)
        return;
    if (!h1req_ensure(h)) {
        conn_abort(c, "out of memory");
        return;
    }
    char *owned;
    if (h2c_take(h, &data, &n, &owned))
        return;
    if (!h->in_request && c->timer_kind != CONN_T_HEADER)
        conn_set_timer(c, CONN_T_HEADER); /* the first bytes of a request: its deadline */
    else if (h->head_done && h->in_request)
        conn_set_timer(c, CONN_T_IO); /* body progress */
    parse(h, data, n);
    free(owned);
}

static void arm_wait_timer(struct h1conn *h)
{
    if (h->in_request)
        conn_set_timer(&h->c, h->head_done ? CONN_T_IO : CONN_T_HEADER);
    else
        conn_set_timer(&h->c, CONN_T_IDLE);
}

static void h1_on_drain(struct conn *c)
{
    struct h1conn *h = (struct h1conn *)c;
    if (h->xc.handler) {
        if (h->xc.handler->on_loop && !h->handler_resume) {
            /* --threads 0: the next part on the next turn (through the connection's own
             * continuation, which comes back here), so that a long response does not keep
             * the other connections waiting. */
            h->handler_resume = true;
            loop_defer(&c->srv->loop, &c->task);
            return;
        }
        h->handler_resume = false;
        handler_pump(h); /* what it produced meanwhile, or produce the next part */
        if (h->xc.handler || conn_has_output(c))
            return; /* more to come, or to write first: on_drain comes back */
        /* The response is complete and written: on to pipelined input, as below. */
    }
    if (h->xc.body) {
        int r = h1x_produce(h);
        if (r < 0)
            conn_abort(c, "response body failed");
        else if (r > 0 && !h->x_keep) /* the connection ends with this body */
            conn_close_after_flush(c);
        return;
    }
    if (h->stop)
        return;
    if (buf_size(&h->pending)) {
        struct buf in = h->pending; /* parse() may refill h->pending */
        h->pending = (struct buf){0};
        c->read_paused = false;
        h->body_paused = false; /* the rest of a body the app did not read: dropped */
        conn_set_timer(c, h->in_request ? CONN_T_IO : CONN_T_HEADER);
        parse(h, buf_data(&in), buf_size(&in));
        buf_free(&in);
        if (c->closing || h->stop || c->read_paused)
            return;
    }
    c->read_paused = false;
    if (c->rd_eof && !h->in_request) {
        if (!conn_has_output(c))
            conn_abort(c, "peer closed");
        else
            conn_close_after_flush(c);
        return;
    }
    if (c->srv->draining && !h->in_request && !conn_has_output(c)) {
        if (c->timer_kind != CONN_T_DRAIN) /* see http1_drain */
            conn_set_timer(c, CONN_T_DRAIN);
        return;
    }
    arm_wait_timer(h);
    /* Idle. With few connections, buffers stay for the next request and are trimmed after a
     * second (server.c); with many, memory wins: give them back now. */
    if (!h->in_request && !c->readable && c->srv->nconns > TRIM_AT_ONCE_ABOVE)
        conn_idle(c);
}

static void h1_on_eof(struct conn *c)
{
    struct h1conn *h = (struct h1conn *)c;
    if (h->stop || (h->xc.handler && !h->in_request)) /* its response is still to come */
        return;
    if (h->in_request || (!conn_has_output(c) && !buf_size(&h->pending))) {
        conn_abort(c, h->in_request ? "peer closed mid-request" : "peer closed");
        return;
    }
    /* Responses are still going out (a half-closed client may still read them). */
}

static void h1_on_timeout(struct conn *c, enum conn_timer which)
{
    struct h1conn *h = (struct h1conn *)c;
    if (which == CONN_T_HEADER && h->in_request && !h->stop) {
        reject(h, 408);
        return;
    }
    if (which == CONN_T_APP) {
        if (!h->xc.handler)
            return;
        log_error("#%llu the app did not start its response to %.*s %.*s within --timeout "
                  "%.3gs: 504",
                  (unsigned long long)c->id, (int)h->x->req.method.n, h->x->req.method.p,
                  (int)h->x->req.path.n, h->x->req.path.p,
                  (double)c->srv->cfg->app_timeout_ms / 1000);
        h->xc.handler->ops->interrupt(h->xc.handler); /* RequestTimeout in its thread */
        exchange_release_handler(&h->xc); /* its output is discarded; close() still runs */
        reject(h, 504);
        return;
    }
    if (which == CONN_T_DRAIN && (h->in_request || h->xc.handler))
        return; /* a request came: it is answered, with Connection: close */
    conn_abort(c, which == CONN_T_IDLE    ? "keep-alive timeout"
                  : which == CONN_T_DRAIN ? "draining"
                                          : "header timeout");
}

static void h1_on_trim(struct conn *c)
{
    struct h1conn *h = (struct h1conn *)c;
    if (h->in_request || h->xc.handler || buf_size(&h->pending) || !h->x)
        return;
    buf_free(&h->x->hbuf);
    free(h->x->hdrs);
    free(h->x->view);
    h->x->hdrs = NULL;
    h->x->view = NULL;
    h->x->hdrs_cap = h->x->nhdrs = 0;
    if (!h->xc.body && !conn_has_output(c))
        h1req_free(h);
}

static void h1_on_free(struct conn *c)
{
    struct h1conn *h = (struct h1conn *)c;
    /* the client went away mid-response: the app is abandoned, its close() runs */
    exchange_release_handler(&h->xc);
    if (h->x_open && h->x) /* cut mid-body: logged with the bytes given so far */
        log_access(h, h->x_status, (int64_t)h->x_bytes);
    h1req_free(h);
    exchange_free_body(&h->xc);
    buf_free(&h->pending);
}

static const struct conn_proto h1_proto = {
    .on_data = h1_on_data,
    .on_drain = h1_on_drain,
    .on_eof = h1_on_eof,
    .on_timeout = h1_on_timeout,
    .on_trim = h1_on_trim,
    .on_free = h1_on_free,
    .on_shutdown = http1_drain,
};

static const llhttp_settings_t settings = {
    .on_message_begin = on_message_begin,
    .on_method = on_method,
    .on_url = on_url,
    .on_version = on_version,
    .on_header_field = on_header_field,
    .on_header_field_complete = on_header_field_complete,
    .on_header_value = on_header_value,
    .on_header_value_complete = on_header_value_complete,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

int http1_accept(struct server *srv, int fd, struct tls_conn *tls, const void *peer,
                 unsigned peer_len, bool proxy)
{
    struct h1conn *h = calloc(1, sizeof *h);
    if (!h)
        return -ENOMEM;
    if (!h1req_ensure(h)) {
        free(h);
        return -ENOMEM;
    }
    if (peer_len && peer_len <= sizeof h->c.peer)
        memcpy(&h->c.peer, peer, peer_len);
    h->c.proxy_pending = proxy;
    int e = conn_init(&h->c, srv, fd, tls, &h1_proto);
    if (e < 0) {
        h1req_free(h);
        free(h);
        return e;
    }
    return 0;
}

void http1_drain(struct conn *c)
{
    struct h1conn *h = (struct h1conn *)c;
    if (c->closing)
        return;
    if (c->handshaking) /* 1 s to finish it (conn.c then gives it 1 s for its request) */
        conn_set_timer(c, CONN_T_DRAIN);
    else if (!h->in_request && !h->xc.handler && !conn_has_output(c) && !buf_size(&h->pending))
        /* Idle keep-alive: the client may have sent its next request already (a busy client
         * sends it the moment the last response arrives). Closing now would meet that request
         * with a reset; a moment's grace answers it, with Connection: close. */
        conn_set_timer(c, CONN_T_DRAIN);
    /* else: the response in progress carries Connection: close (s->draining) */
}

int http1_fuzz_parse(const char *data, size_t n)
{
    static struct cfg cfg;
    static struct server srv;
    static bool ready;
    if (!ready) {
        char err[256], arg0[] = "fuzz";
        char *argv[] = {arg0, NULL};
        if (cfg_parse(&cfg, 1, argv, err, sizeof err) < 0 || loop_init(&srv.loop) < 0 ||
            router_init(&srv.router, &cfg, &srv, err, sizeof err) < 0)
            abort();
        srv.cfg = &cfg;
        for (int k = CONN_T_HANDSHAKE; k <= CONN_T_DRAIN; k++)
            srv.tl[k] = loop_timer_list(&srv.loop, 1000);
        ready = true;
    }
    struct h1conn *h = calloc(1, sizeof *h);
    if (!h || !h1req_ensure(h))
        abort();
    h->c.srv = &srv;
    h->c.proto = &h1_proto;
    h->c.io.fd = -1;
    h->c.file_fd = -1;
    /* Two pieces, split where the first byte says, to exercise spans across reads. */
    size_t cut = n ? (unsigned char)data[0] % (n + 1) : 0;
    const char *piece[2] = {data, data + cut};
    size_t len[2] = {cut, n - cut};
    for (int i = 0; i < 2 && !h->stop && !h->c.closing; i++) {
        if (len[i])
            h1_on_data(&h->c, piece[i], len[i]);
        while (!h->stop && !h->c.closing && h->c.read_paused) { /* "write" what is queued */
            buf_reset(&h->c.out);
            if (h->c.file_fd >= 0)
                close(h->c.file_fd);
            h->c.file_fd = -1;
            h1_on_drain(&h->c);
        }
    }
    int result = h->err_status ? -h->err_status : (int)h->nrequests;
    timer_cancel(&h->c.timer);
    h1_on_free(&h->c);
    buf_free(&h->c.out);
    if (h->c.file_fd >= 0)
        close(h->c.file_fd);
    free(h);
    srv.loop.tasks = NULL; /* a deferred close of this connection: never run */
    srv.loop.tasks_tail = &srv.loop.tasks;
    return result;
}
