/* http2: HTTP/2 through libnghttp2. nghttp2 owns the framing, HPACK, flow-control accounting
 * and the protocol's own checks (pseudo-headers, connection-specific headers, Content-Length
 * against DATA, frame sizes, CONTINUATION and RST_STREAM floods); this file turns streams into
 * exchanges and back.
 *
 * Input: conn hands plaintext to nghttp2_session_mem_recv, whose callbacks build each stream's
 * request, route it when its headers are complete and give its body to the handler: read whole
 * first (DATA is acknowledged, WINDOW_UPDATE sent, as it is buffered), or, for a body the router
 * streams, fed as it comes with the window given back only as the app takes it (no automatic
 * WINDOW_UPDATE: nghttp2_session_consume when the handler has room).
 *
 * Output: a stream's response body waits in the stream (bytes, or one file range) until
 * nghttp2 asks for it (the data source callback copies it into DATA frames, a file by pread);
 * frames go from nghttp2_session_mem_send into the connection's output, no more than
 * OUT_HIGH_WATER at a time, so the socket paces the streams. room() is the stream's own
 * buffer: a stream whose client window is shut stops its handler, not the others.
 *
 * Limits: MAX_CONCURRENT_STREAMS (--h2-max-streams); request header limits as on HTTP/1.1
 * (431 / 414 as the stream's response); the app's queue per stream (503); a stream whose
 * client window stays shut for --io-timeout is reset; a client that resets more streams than
 * it lets finish gets GOAWAY ENHANCE_YOUR_CALM (CVE-2023-44487); graceful stop sends GOAWAY
 * and lets the streams in flight finish. */
#include "http2.h"

#include "body.h"
#include "client.h"
#include "conn.h"
#include "exchange.h"
#include "httpdate.h"
#include "log.h"
#include "request.h"
#include "router.h"
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <malloc.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <unistd.h>

#include <nghttp2/nghttp2.h>

#define OUT_HIGH_WATER (64 * 1024)     /* frames queued on the connection before we wait */
#define READ_PAUSE_AT (1024 * 1024)    /* output a client leaves unread: stop reading it */
#define STREAM_OUT_MAX (64 * 1024)     /* a stream's unframed body bytes: room() says no */
#define INLINE_FILE_MAX (16 * 1024)    /* smaller file ranges are read at once */
#define STREAM_WINDOW (256 * 1024)     /* SETTINGS_INITIAL_WINDOW_SIZE: a request body's */
#define CONN_WINDOW (16 * 1024 * 1024) /* the connection's receive window */
#define HEAD_MAX_MIN (32 * 1024)       /* a request's header list, at least (as http1.c) */
#define RESET_FLOOD_MIN 100            /* client resets before the ratio counts */
#define TRIM_AT_ONCE_ABOVE 256         /* connections: idle ones give their buffers back at once */
#define FREE_STREAMS_MAX 64            /* finished streams kept for reuse, with their buffers */

struct h2conn;

struct h2hdr {
    uint32_t name, name_len, value, value_len; /* offsets into the stream's hb */
};

struct h2stream {
    struct exchange x;
    struct h2conn *h;
    struct h2stream *prev, *next; /* h->streams */
    int32_t id;
    struct request req;
    /* The request head: every name and value in hb; spans are built once it is complete. */
    struct buf hb;
    struct h2hdr *hdrs;
    size_t nhdrs, hdrs_cap;
    struct req_header *view;
    size_t view_cap;
    struct buf nv; /* the response head's names and values (nghttp2 does not copy them) */
    struct h2hdr method, path, scheme, authority;
    struct buf cookie; /* "cookie" fields, joined with "; " (RFC 9113 §8.2.3) */
    size_t head_bytes;
    int err_status; /* a limit the head broke: answered once it is complete */
    bool head_done, body_done;
    bool client_done;
    struct client client;
    /* The request body */
    struct body body; /* read whole for the handler */
    uint64_t body_len;
    uint64_t length; /* its content-length, when announced (has_length) */
    bool has_length;
    uint8_t route;
    bool keep_body;    /* read for the handler (else dropped) */
    bool streams;      /* fed to the handler as it arrives */
    bool started;      /* the handler was started (or the request answered) */
    bool answered;     /* a response was given (a handler's, or ours) */
    int busy_status;   /* 503 decided at the head: answered once the body is in */
    size_t unconsumed; /* body bytes not given back as window: the handler's input is full */
    bool handler_head; /* the handler's head is out */
    /* The response */
    bool submitted;  /* HEADERS submitted */
    bool bodyless;   /* HEAD, 204, 304: no DATA */
    bool ended, cut; /* end / abort called */
    bool deferred;   /* nghttp2 waits for data: resume it */
    bool sent_end;   /* the frame with END_STREAM went out */
    bool logged;
    struct buf out; /* body bytes not yet framed */
    int file_fd;    /* owned; -1 */
    off_t file_off;
    uint64_t file_left;
    int status;
    uint64_t bytes;
    /* One deadline: the app's --timeout before its head, then the window stall. */
    struct timer timer;
    bool stalled;
};

struct h2conn {
    struct conn *c;
    nghttp2_session *s;
    struct h2stream *streams;
    size_t nstreams;
    size_t heads_open;         /* streams whose head is still coming */
    bool sending;              /* inside send(): no re-entry */
    bool shutdown;             /* GOAWAY: no new streams; close once the last one is done */
    bool final_goaway;         /* the GOAWAY with the real last stream id was sent */
    uint64_t resets, finished; /* streams reset by the client unfinished / answered whole */
    /* nghttp2's allocations of a page or more (its 16 KiB frame buffer, the HPACK encoder's
     * table) are mappings of their own, so an idle connection can hand their pages back. */
    struct {
        void *p;
        size_t len;
    } maps[4];
};

static const struct conn_proto h2_proto;
static const struct exchange_ops h2x_ops;

static inline struct h2conn *h2_of(struct conn *c)
{
    return c->proto_data;
}

static size_t head_max(const struct server *s)
{
    size_t m = s->cfg->limit_request_line + 2 * s->cfg->limit_request_field_size + 1024;
    return m < HEAD_MAX_MIN ? HEAD_MAX_MIN : m;
}

/* ---- streams ---------------------------------------------------------------------------- */

static void stream_timer_cb(struct timer *t);

/* Streams come and go with every request: finished ones are kept (process-wide, loop thread
 * only) with their buffers, so a request costs no allocation of ours. */
static struct h2stream *free_streams;
static size_t nfree_streams;

static struct h2stream *stream_new(struct h2conn *h, int32_t id)
{
    struct h2stream *st = free_streams;
    if (st) {
        free_streams = st->next;
        nfree_streams--;
        struct h2stream keep = *st;
        memset(st, 0, sizeof *st);
        st->hb = keep.hb;
        st->hdrs = keep.hdrs;
        st->hdrs_cap = keep.hdrs_cap;
        st->view = keep.view;
        st->view_cap = keep.view_cap;
        st->nv = keep.nv;
        st->out = keep.out;
        st->cookie = keep.cookie;
        buf_reset(&st->hb);
        buf_reset(&st->out);
        buf_reset(&st->cookie);
    } else if (!(st = calloc(1, sizeof *st))) {
        return NULL;
    }
    st->h = h;
    st->id = id;
    st->file_fd = -1;
    st->timer.cb = stream_timer_cb;
    body_init(&st->body);
    st->x.ops = &h2x_ops;
    st->x.req = &st->req;
    st->x.tls = h->c->tls != NULL;
    st->x.id = h->c->id;
    st->next = h->streams;
    if (h->streams)
        h->streams->prev = st;
    h->streams = st;
    h->nstreams++;
    h->heads_open++;
    return st;
}

static void stream_log(struct h2stream *st)
{
    if (st->logged || !st->submitted)
        return;
    st->logged = true;
    exchange_log(&st->x, st->h->c->srv, st->status, (int64_t)st->bytes);
}

static void stream_free(struct h2stream *st)
{
    struct h2conn *h = st->h;
    stream_log(st); /* a response cut mid-body: with the bytes given so far */
    exchange_release_handler(&st->x);
    exchange_free_body(&st->x);
    timer_cancel(&st->timer);
    if (!st->head_done)
        h->heads_open--;
    if (st->prev)
        st->prev->next = st->next;
    else
        h->streams = st->next;
    if (st->next)
        st->next->prev = st->prev;
    h->nstreams--;
    if (st->file_fd >= 0)
        close(st->file_fd);
    body_free(&st->body);
    if (nfree_streams < FREE_STREAMS_MAX && st->hb.cap <= HEAD_MAX_MIN &&
        st->out.cap <= STREAM_OUT_MAX && st->cookie.cap <= HEAD_MAX_MIN) {
        st->next = free_streams;
        free_streams = st;
        nfree_streams++;
        return;
    }
    buf_free(&st->hb);
    buf_free(&st->cookie);
    buf_free(&st->out);
    buf_free(&st->nv);
    free(st->hdrs);
    free(st->view);
    free(st);
}

static inline struct h2stream *from_exchange(struct exchange *x)
{
    return (struct h2stream *)x; /* x is first */
}

/* Give back n bytes of window (the bytes were buffered, dropped, or taken by the handler). */
static void consume(struct h2conn *h, int32_t id, size_t n)
{
    if (n && nghttp2_session_consume(h->s, id, n) != 0)
        (void)nghttp2_session_consume_connection(h->s, n);
}

/* ---- the exchange, for a stream -------------------------------------------------------- */

/* A response head's names and values, in one buffer of the stream's: nghttp2 is told not to
 * copy them (they live until the stream is closed, after its HEADERS frame). */
struct nvb {
    struct buf *b;
    struct h2hdr at[256]; /* header lines of a response, at most */
    size_t n;
};

static int nvb_add(struct nvb *v, const char *name, size_t nlen, const char *value, size_t vlen)
{
    if (v->n == sizeof v->at / sizeof v->at[0])
        return -1;
    struct h2hdr *a = &v->at[v->n];
    a->name = (uint32_t)buf_size(v->b);
    a->name_len = (uint32_t)nlen;
    char *w = buf_reserve(v->b, nlen + vlen, 0);
    if (!w)
        return -1;
    for (size_t i = 0; i < nlen; i++) /* HTTP/2 field names are lowercase */
        w[i] = (char)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] + 32 : name[i]);
    memcpy(w + nlen, value, vlen);
    buf_commit(v->b, nlen + vlen);
    a->value = a->name + (uint32_t)nlen;
    a->value_len = (uint32_t)vlen;
    v->n++;
    return 0;
}

/* Connection-specific fields mean nothing on HTTP/2 (RFC 9113 §8.2.2): left out. */
static bool is_connection_specific(const char *name, size_t n)
{
    struct span s = {name, n};
    switch (n) {
    case 7: return span_eq_lower(s, "upgrade");
    case 10: return span_eq_lower(s, "connection") || span_eq_lower(s, "keep-alive");
    case 16: return span_eq_lower(s, "proxy-connection");
    case 17: return span_eq_lower(s, "transfer-encoding");
    default: return false;
    }
}

/* "Name: value\r\n" lines (filter: an app's, whose connection-specific fields are dropped). */
static int nvb_add_lines(struct nvb *v, const char *p, size_t n, bool filter)
{
    const char *end = p + n;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *line_end = eol ? eol : end;
        if (line_end > p && line_end[-1] == '\r')
            line_end--;
        const char *colon = memchr(p, ':', (size_t)(line_end - p));
        if (colon) {
            struct span val = span_trim((struct span){colon + 1, (size_t)(line_end - colon - 1)});
            if (!(filter && is_connection_specific(p, (size_t)(colon - p))) &&
                nvb_add(v, p, (size_t)(colon - p), val.p, val.n) < 0)
                return -1;
        }
        p = eol ? eol + 1 : end;
    }
    return 0;
}

static ssize_t read_body(nghttp2_session *s, int32_t id, uint8_t *out, size_t len, uint32_t *flags,
                         nghttp2_data_source *src, void *ud);

/* Fields whose value is rarely the same twice on a connection (a file's length, validators,
 * a range): not put into the HPACK table, where they would only push out the ones that repeat
 * (server, content-type, date within its second) and cost memory. (Names are lowercase.) */
static bool per_response(const uint8_t *name, size_t n)
{
    switch (n) {
    case 4: return memcmp(name, "etag", 4) == 0;
    case 13:
        return memcmp(name, "last-modified", 13) == 0 || memcmp(name, "content-range", 13) == 0;
    case 14: return memcmp(name, "content-length", 14) == 0;
    default: return false;
    }
}

static int h2x_head(struct exchange *x, const struct response *res)
{
    struct h2stream *st = from_exchange(x);
    struct h2conn *h = st->h;
    struct server *srv = h->c->srv;
    int status = res->status;
    st->status = status;
    st->bytes = 0;
    st->answered = true;
    st->bodyless = st->req.is_head || status == 204 || status == 304 || status < 200;
    buf_reset(&st->nv);
    struct nvb v = {.b = &st->nv, .n = 0};
    char code[4] = {(char)('0' + status / 100 % 10), (char)('0' + status / 10 % 10),
                    (char)('0' + status % 10), 0};
    int e = nvb_add(&v, ":status", 7, code, 3);
    if (!res->has_server)
        e |= nvb_add(&v, "server", 6, "httpsd", 6);
    if (!res->has_date)
        e |= nvb_add(&v, "date", 4, httpdate_now(), HTTPDATE_LEN);
    if (res->content_type)
        e |= nvb_add(&v, "content-type", 12, res->content_type, strlen(res->content_type));
    if (res->content_length >= 0 && status != 204 && status != 304 && status >= 200) {
        char n[24];
        size_t k = fmt_u64(n, (unsigned long long)res->content_length);
        e |= nvb_add(&v, "content-length", 14, n, k);
    }
    if (res->lines_len)
        e |= nvb_add_lines(&v, res->lines, res->lines_len, true);
    if (res->hdrs_len)
        e |= nvb_add_lines(&v, res->hdrs, res->hdrs_len, false);
    if (srv->hsts_len && h->c->tls && !res->has_sts)
        e |= nvb_add_lines(&v, srv->hsts_line, srv->hsts_len, false);
    nghttp2_nv nv[sizeof v.at / sizeof v.at[0]];
    for (size_t i = 0; i < v.n && !e; i++) {
        nv[i].name = (uint8_t *)st->nv.p + v.at[i].name;
        nv[i].namelen = v.at[i].name_len;
        nv[i].value = (uint8_t *)st->nv.p + v.at[i].value;
        nv[i].valuelen = v.at[i].value_len;
        nv[i].flags = NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE |
                      (per_response(nv[i].name, nv[i].namelen) ? NGHTTP2_NV_FLAG_NO_INDEX : 0);
    }
    nghttp2_data_provider dp = {.source.ptr = st, .read_callback = read_body};
    if (!e)
        e = nghttp2_submit_response(h->s, st->id, nv, v.n, st->bodyless ? NULL : &dp);
    if (e)
        return -1;
    st->submitted = true;
    timer_cancel(&st->timer); /* the app's --timeout: it answered */
    return 0;
}

static void resume(struct h2stream *st)
{
    if (st->deferred) {
        st->deferred = false;
        (void)nghttp2_session_resume_data(st->h->s, st->id);
    }
}

static int h2x_data(struct exchange *x, const char *p, size_t n)
{
    struct h2stream *st = from_exchange(x);
    if (st->bodyless || n == 0)
        return 0;
    st->bytes += n;
    if (buf_append(&st->out, p, n))
        return -1;
    resume(st);
    return 0;
}

/* Copied into the stream's queue at once: DATA frames go out when the peer's window allows,
 * and that may be long after (a reference would pin the app's object for that long). */
static int h2x_data_ref(struct exchange *x, struct buf_ref *r)
{
    int e = h2x_data(x, r->p, r->n);
    r->release(r);
    return e;
}

static int h2x_data_buf(struct exchange *x, struct buf *b)
{
    struct h2stream *st = from_exchange(x);
    size_t n = buf_size(b);
    if (!st->bodyless && n && buf_size(&st->out) == 0 && st->file_fd < 0) {
        struct buf tmp = st->out; /* take b's memory: no copy */
        st->out = *b;
        *b = tmp;
        buf_reset(b);
        st->bytes += n;
        resume(st);
        return 0;
    }
    int e = h2x_data(x, buf_data(b), n);
    buf_reset(b);
    return e;
}

static int h2x_file(struct exchange *x, int fd, off_t off, uint64_t len)
{
    struct h2stream *st = from_exchange(x);
    if (st->bodyless || len == 0)
        return 0;
    if (len <= INLINE_FILE_MAX) {
        char *w = buf_reserve(&st->out, (size_t)len, 0);
        ssize_t got = w ? pread(fd, w, (size_t)len, off) : -1;
        if (got != (ssize_t)len) {
            log_error("#%llu file read failed or file changed", (unsigned long long)x->id);
            return -1;
        }
        buf_commit(&st->out, (size_t)len);
    } else {
        if (st->file_fd >= 0) /* room() said no: a producer that did not ask */
            return -1;
        st->file_fd = dup(fd);
        if (st->file_fd < 0)
            return -1;
        st->file_off = off;
        st->file_left = len;
    }
    st->bytes += len;
    resume(st);
    return 0;
}

static int h2x_end(struct exchange *x)
{
    struct h2stream *st = from_exchange(x);
    st->ended = true;
    stream_log(st);
    resume(st);
    return 0;
}

static void h2x_abort(struct exchange *x, const char *why)
{
    struct h2stream *st = from_exchange(x);
    log_debug("#%llu stream %d cut: %s", (unsigned long long)x->id, st->id, why);
    st->cut = true;
    stream_log(st);
    (void)nghttp2_submit_rst_stream(st->h->s, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_INTERNAL_ERROR);
}

static bool h2x_room(struct exchange *x)
{
    struct h2stream *st = from_exchange(x);
    return st->file_fd < 0 && buf_size(&st->out) < STREAM_OUT_MAX;
}

static const struct client *h2x_client(struct exchange *x)
{
    struct h2stream *st = from_exchange(x);
    if (!st->client_done) {
        struct conn *c = st->h->c;
        st->client_done = true;
        client_resolve(&st->client, &c->peer, c->tls != NULL, &st->req, &c->srv->forwarded_allow);
    }
    return &st->client;
}

static void h2x_local(struct exchange *x, char *out, size_t n, unsigned *port)
{
    conn_local_str(from_exchange(x)->h->c, out, n, port);
}

static void send_frames(struct h2conn *h);
static void handler_pump(struct h2stream *st);

static void h2x_wake(struct exchange *x)
{
    struct h2stream *st = from_exchange(x);
    struct h2conn *h = st->h;
    handler_pump(st);
    /* (the stream may be gone: nghttp2 frees streams only inside mem_recv / mem_send) */
    if (st->unconsumed && st->x.handler && st->x.handler->ops->input_room(st->x.handler)) {
        consume(h, st->id, st->unconsumed);
        st->unconsumed = 0;
    }
    send_frames(h);
    if (!h->c->closing)
        conn_flush(h->c);
}

static const struct exchange_ops h2x_ops = {
    .head = h2x_head,
    .data = h2x_data,
    .data_buf = h2x_data_buf,
    .data_ref = h2x_data_ref,
    .file = h2x_file,
    .end = h2x_end,
    .abort = h2x_abort,
    .room = h2x_room,
    .client = h2x_client,
    .local = h2x_local,
    .wake = h2x_wake,
};

/* nghttp2 wants DATA for a stream: how much of what is buffered, or of the file, goes into the
 * next frame (up to len bytes). The bytes themselves are written by send_data, straight into
 * the connection's output (NO_COPY: not through nghttp2's frame buffer). */
static ssize_t read_body(nghttp2_session *s, int32_t id, uint8_t *out, size_t len, uint32_t *flags,
                         nghttp2_data_source *src, void *ud)
{
    (void)s;
    (void)id;
    (void)out;
    (void)ud;
    struct h2stream *st = src->ptr;
    size_t n = 0, left = 0;
    if (buf_size(&st->out)) {
        n = buf_size(&st->out) < len ? buf_size(&st->out) : len;
        left = buf_size(&st->out) - n + (st->file_fd >= 0 ? 1 : 0);
    } else if (st->file_fd >= 0) {
        n = st->file_left < len ? (size_t)st->file_left : len;
        left = (size_t)(st->file_left - n);
    }
    if (n)
        *flags |= NGHTTP2_DATA_FLAG_NO_COPY;
    if (left == 0 && (st->ended || st->cut)) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
        return (ssize_t)n;
    }
    if (n == 0) {
        st->deferred = true;
        return NGHTTP2_ERR_DEFERRED;
    }
    return (ssize_t)n;
}

/* A DATA frame read_body sized: its header, then its bytes, into the connection's output. */
static int send_data(nghttp2_session *s, nghttp2_frame *f, const uint8_t *framehd, size_t len,
                     nghttp2_data_source *src, void *ud)
{
    (void)s;
    struct h2conn *h = ud;
    struct h2stream *st = src->ptr;
    struct conn *c = h->c;
    if (f->data.padlen) /* (we never ask for padding) */
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    char *w = buf_reserve(&c->out, 9 + len, 0);
    if (!w)
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    memcpy(w, framehd, 9);
    if (buf_size(&st->out)) {
        memcpy(w + 9, buf_data(&st->out), len);
        buf_consume(&st->out, len);
        if (buf_size(&st->out) == 0 && st->out.cap > STREAM_OUT_MAX)
            buf_free(&st->out); /* an app's big buffer, taken whole: not kept */
    } else {
        ssize_t got = st->file_fd >= 0 ? pread(st->file_fd, w + 9, len, st->file_off) : -1;
        if (got != (ssize_t)len) {
            log_error("#%llu file read failed or file shrank", (unsigned long long)st->x.id);
            return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* nothing written: the stream is reset */
        }
        st->file_off += got;
        st->file_left -= len;
        if (st->file_left == 0) {
            close(st->file_fd);
            st->file_fd = -1;
        }
    }
    buf_commit(&c->out, 9 + len);
    return 0;
}

/* ---- handlers --------------------------------------------------------------------------- */

/* Give the handler's output to the stream while it has room. */
static void handler_pump(struct h2stream *st)
{
    struct xhandler *hd = st->x.handler;
    if (!hd || st->cut)
        return;
    struct xprogress p;
    if (hd->ops->pump(hd, &st->x, &p) < 0) {
        if (!st->cut)
            h2x_abort(&st->x, "cannot queue the handler's response");
        exchange_release_handler(&st->x);
        return;
    }
    if (p.started && !st->handler_head) {
        st->handler_head = true;
        timer_cancel(&st->timer);
    }
    if (!p.done)
        return;
    exchange_release_handler(&st->x);
    if (st->unconsumed) { /* the rest of the body is dropped as it comes */
        consume(st->h, st->id, st->unconsumed);
        st->unconsumed = 0;
    }
}

/* Run producers and handlers of the streams that have room (each once). A handler that runs
 * on the loop thread (--threads 0) produces a piece per pump: at most LOOP_PUMPS of them per
 * turn of the loop, the rest on the next (the connection's continuation), so that one
 * connection's many streams do not keep the others waiting. */
#define LOOP_PUMPS 4
static void top_up(struct h2conn *h, bool first_round)
{
    int loop_pumps = 0;
    for (struct h2stream *st = h->streams; st; st = st->next) {
        if (!h2x_room(&st->x) || st->cut)
            continue;
        if (!st->x.body && st->x.handler && st->x.handler->on_loop &&
            (!first_round || ++loop_pumps > LOOP_PUMPS)) {
            loop_defer(&h->c->srv->loop, &h->c->task);
            continue;
        }
        if (st->x.body) {
            int r = st->x.body->produce(st->x.body, &st->x);
            if (r != 0)
                exchange_free_body(&st->x);
            if (r < 0 && !st->cut)
                h2x_abort(&st->x, "response body failed");
        } else if (st->x.handler) {
            handler_pump(st);
        }
    }
}

static void arm_timer(struct h2conn *h);

/* Frames into the connection's output while it is below OUT_HIGH_WATER. */
static void send_frames(struct h2conn *h)
{
    struct conn *c = h->c;
    if (h->sending || c->closing)
        return;
    h->sending = true;
    for (int round = 0; round < 4; round++) {
        top_up(h, round == 0);
        bool wrote = false;
        while (buf_size(&c->out) < OUT_HIGH_WATER) {
            const uint8_t *p;
            ssize_t n = nghttp2_session_mem_send(h->s, &p);
            if (n < 0) {
                log_info("#%llu HTTP/2: %s", (unsigned long long)c->id, nghttp2_strerror((int)n));
                h->sending = false;
                conn_abort(c, NULL);
                return;
            }
            if (n == 0)
                break;
            if (conn_write(c, p, (size_t)n)) {
                h->sending = false;
                conn_abort(c, "out of memory");
                return;
            }
            wrote = true;
        }
        if (!wrote || buf_size(&c->out) >= OUT_HIGH_WATER)
            break;
    }
    h->sending = false;
    if (!nghttp2_session_want_read(h->s) && !nghttp2_session_want_write(h->s)) {
        conn_close_after_flush(c); /* GOAWAY sent and nothing left */
        return;
    }
    if (h->shutdown && h->final_goaway && h->nstreams == 0) {
        conn_close_after_flush(c);
        return;
    }
    arm_timer(h);
}

/* ---- requests --------------------------------------------------------------------------- */

static struct span hspan(const struct h2stream *st, const struct h2hdr *a)
{
    return (struct span){st->hb.p + a->value, a->value_len};
}

/* Keep a field's name and value in hb. A value already in hb is given by its offset (value
 * NULL, vlen bytes at voff): hb may move while it grows. */
static int keep_field(struct h2stream *st, struct h2hdr *dst, const uint8_t *name, size_t nlen,
                      const uint8_t *value, size_t vlen, size_t voff)
{
    char *w = buf_reserve(&st->hb, nlen + vlen, 0);
    if (!w)
        return -1;
    memcpy(w, name, nlen);
    memcpy(w + nlen, value ? (const char *)value : st->hb.p + voff, vlen);
    dst->name = (uint32_t)buf_size(&st->hb);
    dst->name_len = (uint32_t)nlen;
    dst->value = dst->name + (uint32_t)nlen;
    dst->value_len = (uint32_t)vlen;
    buf_commit(&st->hb, nlen + vlen);
    return 0;
}

static int on_begin_headers(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
    struct h2conn *h = ud;
    if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    struct h2stream *st = stream_new(h, f->hd.stream_id);
    if (!st || nghttp2_session_set_stream_user_data(s, f->hd.stream_id, st) != 0) {
        if (st)
            stream_free(st);
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* RST_STREAM INTERNAL_ERROR */
    }
    arm_timer(h);
    return 0;
}

static int on_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name, size_t nlen,
                     const uint8_t *value, size_t vlen, uint8_t flags, void *ud)
{
    (void)flags;
    struct h2conn *h = ud;
    if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0; /* trailers: ignored */
    struct h2stream *st = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);
    if (!st || st->err_status)
        return 0; /* over a limit already: the rest is decoded (HPACK state) and dropped */
    const struct cfg *cfg = h->c->srv->cfg;
    st->head_bytes += nlen + vlen + 32; /* RFC 9113 §6.5.2's accounting */
    if (st->head_bytes > head_max(h->c->srv)) {
        st->err_status = 431;
        return 0;
    }
    if (nlen && name[0] == ':') {
        struct h2hdr *dst = NULL;
        if (nlen == 7 && memcmp(name, ":method", 7) == 0)
            dst = &st->method;
        else if (nlen == 5 && memcmp(name, ":path", 5) == 0)
            dst = &st->path;
        else if (nlen == 7 && memcmp(name, ":scheme", 7) == 0)
            dst = &st->scheme;
        else if (nlen == 10 && memcmp(name, ":authority", 10) == 0)
            dst = &st->authority;
        if (dst == &st->path && vlen > cfg->limit_request_line) {
            st->err_status = 414;
            return 0;
        }
        if (dst && keep_field(st, dst, name, nlen, value, vlen, 0) < 0)
            st->err_status = 503;
        return 0;
    }
    if (nlen + vlen > cfg->limit_request_field_size) {
        st->err_status = 431;
        return 0;
    }
    if (nlen == 6 && memcmp(name, "cookie", 6) == 0) {
        if ((buf_size(&st->cookie) && buf_append(&st->cookie, "; ", 2)) ||
            buf_append(&st->cookie, value, vlen))
            st->err_status = 503;
        return 0;
    }
    if (st->nhdrs + 1 >= cfg->limit_request_fields) { /* (one kept for Host / Cookie) */
        st->err_status = 431;
        return 0;
    }
    if (st->nhdrs == st->hdrs_cap) {
        size_t cap = st->hdrs_cap ? st->hdrs_cap * 2 : 16;
        struct h2hdr *n = realloc(st->hdrs, (cap + 2) * sizeof *n);
        if (!n) {
            st->err_status = 503;
            return 0;
        }
        st->hdrs = n;
        st->hdrs_cap = cap;
    }
    if (keep_field(st, &st->hdrs[st->nhdrs], name, nlen, value, vlen, 0) < 0)
        st->err_status = 503;
    else
        st->nhdrs++;
    return 0;
}

/* The request's spans, once its head is complete (hb no longer moves). 0 or a status. */
static int build_request(struct h2stream *st)
{
    struct request *r = &st->req;
    bool has_host = false;
    for (size_t i = 0; i < st->nhdrs; i++)
        has_host |=
            st->hdrs[i].name_len == 4 && memcmp(st->hb.p + st->hdrs[i].name, "host", 4) == 0;
    /* :authority becomes Host for the app (RFC 9113 §8.3.1), and the cookies one field. */
    static const uint8_t host[] = "host", cookie[] = "cookie";
    if (!st->hdrs && !(st->hdrs = malloc(2 * sizeof *st->hdrs)))
        return 503; /* (on_header keeps room for these two) */
    if (!has_host && st->authority.value_len &&
        keep_field(st, &st->hdrs[st->nhdrs++], host, 4, NULL, st->authority.value_len,
                   st->authority.value) < 0)
        return 503;
    if (buf_size(&st->cookie) &&
        keep_field(st, &st->hdrs[st->nhdrs++], cookie, 6, (const uint8_t *)buf_data(&st->cookie),
                   buf_size(&st->cookie), 0) < 0)
        return 503;
    if (st->nhdrs > st->view_cap) {
        free(st->view);
        st->view_cap = st->nhdrs < 16 ? 16 : st->nhdrs;
        if (!(st->view = malloc(st->view_cap * sizeof *st->view))) {
            st->view_cap = 0;
            return 503;
        }
    }
    for (size_t i = 0; i < st->nhdrs; i++) {
        st->view[i].name = (struct span){st->hb.p + st->hdrs[i].name, st->hdrs[i].name_len};
        st->view[i].value = hspan(st, &st->hdrs[i]);
    }
    r->method = hspan(st, &st->method);
    r->target = hspan(st, &st->path);
    r->version_minor = 1;
    r->http2 = true;
    r->is_get = r->method.n == 3 && memcmp(r->method.p, "GET", 3) == 0;
    r->is_head = r->method.n == 4 && memcmp(r->method.p, "HEAD", 4) == 0;
    r->headers = st->view;
    r->nheaders = st->nhdrs;
    r->host = st->authority.value_len ? hspan(st, &st->authority) : request_header(r, "host");
    const char *q = r->target.n ? memchr(r->target.p, '?', r->target.n) : NULL;
    r->path = (struct span){r->target.p, q ? (size_t)(q - r->target.p) : r->target.n};
    r->query = q ? (struct span){q + 1, r->target.n - r->path.n - 1}
                 : (struct span){r->target.p + r->target.n, 0};
    if (r->method.n == 0 || r->target.n == 0)
        return 400; /* CONNECT (no :path): not proxied here */
    if (r->path.n == 0)
        r->path = SPAN_LIT("/");
    if ((r->method.n == 7 && memcmp(r->method.p, "CONNECT", 7) == 0) ||
        (r->method.n == 5 && memcmp(r->method.p, "TRACE", 5) == 0))
        return 405;
    bool options = r->method.n == 7 && memcmp(r->method.p, "OPTIONS", 7) == 0;
    int ts = request_check_target(r, options);
    if (ts)
        return ts;
    if (r->host.n && !request_host_valid(r->host))
        return 400;
    /* Both, and different: which one would a front proxy have routed by? (RFC 9113 §8.3.1:
     * malformed) */
    struct span hh = request_header(r, "host");
    if (st->authority.value_len && has_host &&
        !(hh.n == r->host.n && strncasecmp(hh.p, r->host.p, hh.n) == 0))
        return 400;
    return 0;
}

/* Answer the stream ourselves (an error) and drop the rest of its body. */
static void answer_error(struct h2stream *st, int status)
{
    st->started = st->answered = true;
    st->keep_body = false;
    body_free(&st->body);
    if (status >= 500 || status == 408)
        log_info("#%llu stream %d answered %d", (unsigned long long)st->x.id, st->id, status);
    if (exchange_error(&st->x, status) < 0 && !st->cut)
        h2x_abort(&st->x, "cannot queue the response");
}

/* Hand the request to the router's handler: static files and the server's own answers at
 * once, the app with its body read whole or (streams) still to come. */
static void dispatch(struct h2stream *st, bool streaming)
{
    struct h2conn *h = st->h;
    const struct cfg *cfg = h->c->srv->cfg;
    st->started = true;
    if (st->busy_status) {
        answer_error(st, st->busy_status);
        return;
    }
    struct exchange *x = &st->x;
    struct xin in = {
        .body = &st->body,
        .chunked = !st->has_length, /* none announced: the app gets the length of what came */
        .streams = streaming,
        .length = streaming ? st->length : 0,
    };
    int e = router_handle(&h->c->srv->router, x, (enum route)st->route, &in);
    body_free(&st->body);
    if (e > 0) {
        if (streaming) { /* answered when the body is in */
            st->started = false;
            st->busy_status = e;
            st->keep_body = false;
            return;
        }
        answer_error(st, e);
        return;
    }
    if (e < 0) {
        if (!st->cut)
            h2x_abort(x, "cannot queue the response");
        return;
    }
    st->answered = x->handler == NULL;
    if (x->handler) {
        if (!x->handler->on_loop && cfg->app_timeout_ms > 0 && !streaming)
            loop_timer_arm(&h->c->srv->loop, &st->timer, h->c->srv->tl_stream_app);
        handler_pump(st);
    }
}

/* The request head is complete (end_stream: and it has no body). */
static void head_complete(struct h2stream *st, bool end_stream)
{
    struct h2conn *h = st->h;
    const struct cfg *cfg = h->c->srv->cfg;
    st->head_done = true;
    st->body_done = end_stream;
    h->heads_open--;
    int status = st->err_status ? st->err_status : build_request(st);
    if (status) {
        answer_error(st, status);
        return;
    }
    struct span cl = request_header(&st->req, "content-length");
    uint64_t len = 0;
    for (size_t i = 0; i < cl.n; i++) /* nghttp2 checked it is digits */
        len = len * 10 + (uint64_t)(cl.p[i] - '0');
    st->length = len;
    st->has_length = cl.p != NULL;
    if (cl.p && len > cfg->limit_request_body) {
        answer_error(st, 413);
        return;
    }
    st->route = (uint8_t)router_route(&h->c->srv->router, &st->x);
    st->keep_body = router_takes_body((enum route)st->route);
    if (end_stream || !st->keep_body) {
        dispatch(st, false); /* a body nobody reads is dropped as it comes */
        return;
    }
    if (cfg->request_buffering && cl.p && !body_budget_fits(len)) {
        log_warn("#%llu request bodies in memory and temporary files are at --buffer-memory + "
                 "--buffer-disk: 503",
                 (unsigned long long)st->x.id);
        answer_error(st, 503);
        return;
    }
    st->streams = router_streams_body(&h->c->srv->router, (enum route)st->route, cl.p != NULL, len);
    if (st->streams)
        dispatch(st, true);
}

/* The request body is complete. */
static void body_complete(struct h2stream *st)
{
    struct h2conn *h = st->h;
    st->body_done = true;
    if (st->x.handler && st->streams) {
        st->x.handler->ops->feed_end(st->x.handler);
        const struct cfg *cfg = h->c->srv->cfg;
        if (!st->handler_head && !st->x.handler->on_loop && cfg->app_timeout_ms > 0)
            loop_timer_arm(&h->c->srv->loop, &st->timer, h->c->srv->tl_stream_app);
        return;
    }
    if (!st->started)
        dispatch(st, false);
}

static int on_data_chunk(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *data,
                         size_t len, void *ud)
{
    (void)flags;
    struct h2conn *h = ud;
    struct h2stream *st = nghttp2_session_get_stream_user_data(s, id);
    if (!st) {
        consume(h, id, len);
        return 0;
    }
    st->body_len += len;
    if (st->body_len > h->c->srv->cfg->limit_request_body && !st->answered) {
        if (st->x.handler) { /* streaming into the app: too late for 413 */
            exchange_release_handler(&st->x);
            if (!st->cut)
                h2x_abort(&st->x, "request body over --limit-request-body");
        } else {
            answer_error(st, 413);
        }
    }
    if (st->streams && st->x.handler && !st->cut) {
        int e = st->x.handler->ops->feed(st->x.handler, (const char *)data, len);
        if (e < 0) {
            exchange_release_handler(&st->x);
            h2x_abort(&st->x, "out of memory");
            consume(h, id, len);
        } else if (e > 0 || st->unconsumed) { /* the handler is full: the window stays shut */
            st->unconsumed += len;
        } else {
            consume(h, id, len);
        }
        return 0;
    }
    if (st->keep_body && !st->started) {
        int e = body_append(&st->body, (const char *)data, len);
        if (e == -ENOSPC) {
            log_warn("#%llu request bodies in temporary files are at --buffer-disk: 503",
                     (unsigned long long)st->x.id);
            answer_error(st, 503);
        } else if (e < 0) {
            answer_error(st, e == -ENOMEM ? 503 : 500);
        }
    }
    consume(h, id, len);
    return 0;
}

static int on_frame_recv(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
    struct h2conn *h = ud;
    int32_t id = f->hd.stream_id;
    struct h2stream *st = id ? nghttp2_session_get_stream_user_data(s, id) : NULL;
    bool end_stream = (f->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
    switch (f->hd.type) {
    case NGHTTP2_HEADERS:
        if (!st)
            return 0;
        if (f->headers.cat == NGHTTP2_HCAT_REQUEST)
            head_complete(st, end_stream);
        else if (end_stream && !st->body_done) /* trailers */
            body_complete(st);
        break;
    case NGHTTP2_DATA:
        if (st && end_stream && !st->body_done)
            body_complete(st);
        break;
    case NGHTTP2_RST_STREAM:
        /* A client that resets more streams than it lets finish (rapid reset: each reset
         * stream cost a request's work, and none counts against the concurrency limit): a
         * stream still open here did not get its whole answer. */
        if (st && !st->sent_end) {
            h->resets++;
            if (h->resets > RESET_FLOOD_MIN && h->resets > 2 * h->finished) {
                log_warn("#%llu HTTP/2: %llu streams reset by the client, %llu finished: GOAWAY "
                         "ENHANCE_YOUR_CALM",
                         (unsigned long long)h->c->id, (unsigned long long)h->resets,
                         (unsigned long long)h->finished);
                (void)nghttp2_session_terminate_session(s, NGHTTP2_ENHANCE_YOUR_CALM);
            }
        }
        break;
    default: break;
    }
    return 0;
}

static int on_stream_close(nghttp2_session *s, int32_t id, uint32_t error, void *ud)
{
    struct h2conn *h = ud;
    struct h2stream *st = nghttp2_session_get_stream_user_data(s, id);
    if (!st)
        return 0;
    if (st->sent_end && !st->cut && error == NGHTTP2_NO_ERROR)
        h->finished++;
    if (st->unconsumed) /* the connection's window: what the handler never took */
        (void)nghttp2_session_consume_connection(s, st->unconsumed);
    (void)nghttp2_session_set_stream_user_data(s, id, NULL);
    stream_free(st);
    return 0;
}

static int on_frame_send(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
    struct h2conn *h = ud;
    if (f->hd.type == NGHTTP2_GOAWAY) {
        h->shutdown = true;
        if (f->goaway.last_stream_id != (1u << 31) - 1)
            h->final_goaway = true;
        return 0;
    }
    /* The response ended while the request body still comes: stop it (RFC 9113 §8.1). */
    if ((f->hd.flags & NGHTTP2_FLAG_END_STREAM) && f->hd.stream_id) {
        struct h2stream *st = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);
        if (st)
            st->sent_end = true;
        if (st && !st->body_done)
            (void)nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, f->hd.stream_id,
                                            NGHTTP2_NO_ERROR);
    }
    return 0;
}

/* ---- deadlines -------------------------------------------------------------------------- */

static void stream_timer_cb(struct timer *t)
{
    struct h2stream *st = (struct h2stream *)((char *)t - offsetof(struct h2stream, timer));
    struct h2conn *h = st->h;
    if (st->stalled) {
        log_info("#%llu stream %d: the client's window stayed shut for --io-timeout: reset",
                 (unsigned long long)st->x.id, st->id);
        st->cut = true;
        stream_log(st);
        (void)nghttp2_submit_rst_stream(h->s, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_CANCEL);
    } else if (st->x.handler && !st->handler_head) {
        log_error("#%llu the app did not start its response to %.*s %.*s within --timeout "
                  "%.3gs: 504",
                  (unsigned long long)st->x.id, (int)st->req.method.n, st->req.method.p,
                  (int)st->req.path.n, st->req.path.p,
                  (double)h->c->srv->cfg->app_timeout_ms / 1000);
        st->x.handler->ops->interrupt(st->x.handler);
        exchange_release_handler(&st->x);
        answer_error(st, 504);
    }
    send_frames(h);
    if (!h->c->closing)
        conn_flush(h->c);
}

/* Streams with something to send and no window: their --io-timeout runs. */
static void watch_stalls(struct h2conn *h)
{
    bool conn_shut = nghttp2_session_get_remote_window_size(h->s) <= 0;
    for (struct h2stream *st = h->streams; st; st = st->next) {
        bool waiting = st->submitted && !st->cut &&
                       (buf_size(&st->out) || st->file_fd >= 0 || (st->ended && st->deferred));
        bool stalled =
            waiting &&
            (conn_shut || nghttp2_session_get_stream_remote_window_size(h->s, st->id) <= 0);
        if (stalled && !st->stalled) {
            st->stalled = true;
            loop_timer_arm(&h->c->srv->loop, &st->timer, h->c->srv->tl_stream_io);
        } else if (!stalled && st->stalled) {
            st->stalled = false;
            timer_cancel(&st->timer);
        }
    }
}

/* The connection's one deadline: idle (no stream) → --keep-alive; a head being received →
 * --header-timeout; otherwise the streams' own. */
static void arm_timer(struct h2conn *h)
{
    struct conn *c = h->c;
    watch_stalls(h);
    if (c->timer_kind == CONN_T_IO && conn_has_output(c))
        return; /* conn's write deadline */
    if (h->shutdown && !h->final_goaway && c->timer_kind == CONN_T_DRAIN)
        return; /* the grace after the shutdown notice */
    enum conn_timer want = CONN_T_NONE;
    if (h->heads_open)
        want = CONN_T_HEADER;
    else if (h->nstreams == 0)
        want = c->srv->draining ? CONN_T_DRAIN : CONN_T_IDLE;
    if (want == CONN_T_HEADER && c->timer_kind == CONN_T_HEADER)
        return; /* a total deadline: not moved by progress */
    conn_set_timer(c, want);
}

/* ---- the connection --------------------------------------------------------------------- */

static void h2_on_data(struct conn *c, const char *data, size_t n)
{
    struct h2conn *h = h2_of(c);
    ssize_t r = nghttp2_session_mem_recv(h->s, (const uint8_t *)data, n);
    if (r < 0) {
        log_info("#%llu HTTP/2: %s", (unsigned long long)c->id, nghttp2_strerror((int)r));
        if (r == NGHTTP2_ERR_FLOODED || r == NGHTTP2_ERR_BAD_CLIENT_MAGIC) {
            conn_abort(c, NULL);
            return;
        }
        /* nghttp2 queued a GOAWAY: send it, then close */
        (void)nghttp2_session_terminate_session(h->s, NGHTTP2_PROTOCOL_ERROR);
    }
    send_frames(h);
    if (!c->closing && buf_size(&c->out) >= READ_PAUSE_AT)
        c->read_paused = true; /* a client that does not read what it asks for */
}

static void h2_on_drain(struct conn *c)
{
    struct h2conn *h = h2_of(c);
    c->read_paused = false;
    send_frames(h);
    if (c->closing || conn_has_output(c) || h->nstreams)
        return;
    if (c->rd_eof) {
        conn_abort(c, "peer closed");
        return;
    }
    /* Idle. With many connections memory wins, as on HTTP/1.1: buffers back now rather than
     * at the once-a-second trim. */
    if (!c->readable && c->srv->nconns > TRIM_AT_ONCE_ABOVE && !nghttp2_session_want_write(h->s))
        conn_idle(c);
}

static void h2_on_eof(struct conn *c)
{
    struct h2conn *h = h2_of(c);
    /* Streams whose request is still coming cannot complete: done. Responses to complete
     * requests may still be read by a half-closed client. */
    for (struct h2stream *st = h->streams; st; st = st->next)
        if (!st->body_done) {
            conn_abort(c, "peer closed mid-request");
            return;
        }
    if (h->nstreams == 0 && !conn_has_output(c))
        conn_abort(c, "peer closed");
}

static void h2_on_timeout(struct conn *c, enum conn_timer which)
{
    struct h2conn *h = h2_of(c);
    if (which == CONN_T_HEADER && h->heads_open == 0)
        return;
    if (which == CONN_T_DRAIN && h->nstreams) {
        /* the grace after the shutdown notice: now the real last stream id */
        (void)nghttp2_submit_goaway(h->s, NGHTTP2_FLAG_NONE,
                                    nghttp2_session_get_last_proc_stream_id(h->s), NGHTTP2_NO_ERROR,
                                    NULL, 0);
        send_frames(h);
        conn_flush(c);
        return;
    }
    log_debug("#%llu HTTP/2 %s", (unsigned long long)c->id,
              which == CONN_T_IDLE     ? "keep-alive timeout"
              : which == CONN_T_HEADER ? "header timeout"
                                       : "draining");
    (void)nghttp2_session_terminate_session(h->s, NGHTTP2_NO_ERROR);
    h->final_goaway = h->shutdown = true;
    send_frames(h);
    if (!c->closing) {
        conn_close_after_flush(c);
        conn_flush(c);
    }
}

/* ---- nghttp2's memory -------------------------------------------------------------------- */

#define MAP_MIN 4096

static int map_find(struct h2conn *h, void *p)
{
    for (int i = 0; i < (int)(sizeof h->maps / sizeof h->maps[0]); i++)
        if (p && h->maps[i].p == p)
            return i;
    return -1;
}

static void *map_new(struct h2conn *h, size_t n)
{
    int i;
    for (i = 0; i < (int)(sizeof h->maps / sizeof h->maps[0]) && h->maps[i].p; i++)
        ;
    if (i == (int)(sizeof h->maps / sizeof h->maps[0]))
        return malloc(n); /* (more big allocations than expected: the heap) */
    void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    h->maps[i].p = p;
    h->maps[i].len = n;
    return p;
}

static void *mem_malloc(size_t n, void *ud)
{
    return n >= MAP_MIN ? map_new(ud, n) : malloc(n);
}

static void mem_free(void *p, void *ud)
{
    struct h2conn *h = ud;
    int i = map_find(h, p);
    if (i < 0) {
        free(p);
        return;
    }
    munmap(p, h->maps[i].len);
    h->maps[i].p = NULL;
}

static void *mem_calloc(size_t k, size_t n, void *ud)
{
    if (n && k > SIZE_MAX / n)
        return NULL;
    return k * n >= MAP_MIN ? map_new(ud, k * n) : calloc(k, n); /* (mappings are zeroed) */
}

static void *mem_realloc(void *p, size_t n, void *ud)
{
    struct h2conn *h = ud;
    int i = map_find(h, p);
    if (i < 0 && n < MAP_MIN)
        return realloc(p, n);
    size_t old = i >= 0 ? h->maps[i].len : p ? malloc_usable_size(p) : 0;
    void *q = map_new(h, n);
    if (!q)
        return NULL;
    if (p) {
        memcpy(q, p, old < n ? old : n);
        mem_free(p, h);
    }
    return q;
}

static bool all_zero(const void *p, size_t n)
{
    const unsigned long *w = p; /* (mappings are page-aligned) */
    for (size_t i = 0; i < n / sizeof *w; i++)
        if (w[i])
            return false;
    return true;
}

/* Idle (no stream, nothing to send): the pages of nghttp2's mappings go back to the kernel —
 * the frame buffer's (it holds nothing between frames), and any other whose bytes are all
 * zero (the stream table once empty): MADV_DONTNEED gives zeros back on the next touch, so
 * for those nothing changes but the memory. */
static void h2_on_trim(struct conn *c)
{
    struct h2conn *h = h2_of(c);
    if (h->nstreams || nghttp2_session_want_write(h->s))
        return;
    for (size_t i = 0; i < sizeof h->maps / sizeof h->maps[0]; i++) {
        void *p = h->maps[i].p;
        size_t n = h->maps[i].len;
        if (p && (n >= 4 * MAP_MIN || all_zero(p, n)))
            (void)madvise(p, n, MADV_DONTNEED);
    }
}

static void h2_on_free(struct conn *c)
{
    struct h2conn *h = h2_of(c);
    if (!h)
        return;
    while (h->streams)
        stream_free(h->streams);
    nghttp2_session_del(h->s);
    free(h);
    c->proto_data = NULL;
}

/* Graceful stop: a shutdown notice now (no new streams after what is in flight), the GOAWAY
 * with the last stream id a moment later; streams in flight finish, then the connection
 * closes. */
static void h2_on_shutdown(struct conn *c)
{
    struct h2conn *h = h2_of(c);
    if (c->closing || h->shutdown)
        return;
    h->shutdown = true;
    if (h->nstreams == 0) {
        (void)nghttp2_submit_goaway(h->s, NGHTTP2_FLAG_NONE,
                                    nghttp2_session_get_last_proc_stream_id(h->s), NGHTTP2_NO_ERROR,
                                    NULL, 0);
        h->final_goaway = true;
    } else {
        (void)nghttp2_submit_shutdown_notice(h->s);
        conn_set_timer(c, CONN_T_DRAIN);
    }
    send_frames(h);
    if (!c->closing)
        conn_flush(c);
}

static const struct conn_proto h2_proto = {
    .on_data = h2_on_data,
    .on_drain = h2_on_drain,
    .on_eof = h2_on_eof,
    .on_timeout = h2_on_timeout,
    .on_trim = h2_on_trim,
    .on_free = h2_on_free,
    .on_shutdown = h2_on_shutdown,
};

static nghttp2_session_callbacks *callbacks(void)
{
    static nghttp2_session_callbacks *cbs;
    if (!cbs && nghttp2_session_callbacks_new(&cbs) == 0) {
        nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, on_begin_headers);
        nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
        nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk);
        nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
        nghttp2_session_callbacks_set_on_frame_send_callback(cbs, on_frame_send);
        nghttp2_session_callbacks_set_send_data_callback(cbs, send_data);
    }
    return cbs;
}

static nghttp2_option *options(void)
{
    static nghttp2_option *opt;
    if (!opt && nghttp2_option_new(&opt) == 0) {
        nghttp2_option_set_no_auto_window_update(opt, 1);
        nghttp2_option_set_max_continuations(opt, 8);
        nghttp2_option_set_max_settings(opt, 32);
        nghttp2_option_set_max_outbound_ack(opt, 1000);
        /* no priority tree of closed streams (RFC 9113 deprecates the scheme): less memory
         * and work per stream */
        nghttp2_option_set_no_closed_streams(opt, 1);
    }
    return opt;
}

static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

int http2_is_preface(const char *data, size_t n)
{
    size_t k = n < sizeof preface - 1 ? n : sizeof preface - 1;
    if (memcmp(data, preface, k) != 0)
        return -1;
    return k == sizeof preface - 1 ? 1 : 0;
}

int http2_start(struct conn *c, const char *data, size_t n)
{
    struct server *srv = c->srv;
    const struct cfg *cfg = srv->cfg;
    struct h2conn *h = calloc(1, sizeof *h);
    nghttp2_session_callbacks *cbs = callbacks();
    nghttp2_option *opt = options();
    nghttp2_mem mem = {h, mem_malloc, mem_free, mem_calloc, mem_realloc};
    if (!h || !cbs || !opt || nghttp2_session_server_new3(&h->s, cbs, h, opt, &mem) != 0) {
        free(h);
        conn_abort(c, "out of memory");
        return -1;
    }
    h->c = c;
    if (c->proto && c->proto->on_free) /* what the first protocol held */
        c->proto->on_free(c);
    c->proto = &h2_proto;
    c->proto_data = h;
    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, (uint32_t)cfg->h2_max_streams},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, STREAM_WINDOW},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, (uint32_t)head_max(srv)},
        {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
        /* RFC 9218: no RFC 7540 priority tree (no idle streams made by PRIORITY frames) */
        {NGHTTP2_SETTINGS_NO_RFC7540_PRIORITIES, 1},
    };
    if (nghttp2_submit_settings(h->s, NGHTTP2_FLAG_NONE, iv, sizeof iv / sizeof iv[0]) != 0 ||
        nghttp2_session_set_local_window_size(h->s, NGHTTP2_FLAG_NONE, 0, CONN_WINDOW) != 0) {
        conn_abort(c, "out of memory");
        return -1;
    }
    log_debug("#%llu HTTP/2", (unsigned long long)c->id);
    conn_set_timer(c, CONN_T_IDLE);
    if (n)
        h2_on_data(c, data, n);
    else
        send_frames(h);
    if (!c->closing && srv->draining)
        h2_on_shutdown(c);
    return c->closing ? -1 : 0;
}

static char fuzz_dir[] = "/tmp/httpsd-fuzz-h2-XXXXXX";
static const char *const fuzz_names[] = {"a.txt", "big.bin"};

static void fuzz_site_remove(void)
{
    char path[64];
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/%s", fuzz_dir, fuzz_names[i]);
        (void)unlink(path);
    }
    (void)rmdir(fuzz_dir);
}

/* A directory for the fuzzer's static mount: a small file and one above INLINE_FILE_MAX
 * (removed at exit). */
static const char *fuzz_site(void)
{
    char *dir = fuzz_dir;
    if (!mkdtemp(dir))
        abort();
    atexit(fuzz_site_remove);
    const char *const *names = fuzz_names;
    static const size_t sizes[] = {27, 40000};
    char path[64], block[1024];
    memset(block, 'x', sizeof block);
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0)
            abort();
        for (size_t left = sizes[i]; left;) {
            size_t k = left < sizeof block ? left : sizeof block;
            if (write(fd, block, k) != (ssize_t)k)
                abort();
            left -= k;
        }
        close(fd);
    }
    return dir;
}

int http2_fuzz_session(const char *data, size_t n)
{
    static struct cfg cfg;
    static struct server srv;
    static bool ready;
    if (!ready) {
        char err[256], arg0[] = "fuzz", arg1[] = "--static", arg2[96];
        snprintf(arg2, sizeof arg2, "/s=%s", fuzz_site());
        char *argv[] = {arg0, arg1, arg2, NULL};
        if (cfg_parse(&cfg, 3, argv, err, sizeof err) < 0 || loop_init(&srv.loop) < 0 ||
            router_init(&srv.router, &cfg, &srv, err, sizeof err) < 0)
            abort();
        srv.cfg = &cfg;
        for (int k = CONN_T_HANDSHAKE; k <= CONN_T_DRAIN; k++)
            srv.tl[k] = loop_timer_list(&srv.loop, 1000);
        srv.tl_stream_io = loop_timer_list(&srv.loop, 1000);
        srv.tl_stream_app = loop_timer_list(&srv.loop, 1000);
        ready = true;
    }
    struct conn *c = calloc(1, sizeof *c);
    if (!c)
        abort();
    c->srv = &srv;
    c->io.fd = -1;
    c->file_fd = -1;
    int result = -1;
    if (http2_start(c, preface, sizeof preface - 1) == 0) {
        /* Two pieces, split where the first byte says, to exercise frames across reads. */
        size_t cut = n ? (unsigned char)data[0] % (n + 1) : 0;
        const char *piece[2] = {data, data + cut};
        size_t len[2] = {cut, n - cut};
        for (int i = 0; i < 2 && !c->closing; i++) {
            if (len[i])
                h2_on_data(c, piece[i], len[i]);
            for (int k = 0; k < 10000 && !c->closing && buf_size(&c->out); k++) {
                buf_reset(&c->out); /* "written" */
                h2_on_drain(c);
            }
        }
        result = c->closing ? -1 : (int)h2_of(c)->finished;
    }
    timer_cancel(&c->timer);
    h2_on_free(c);
    buf_free(&c->out);
    free(c);
    srv.loop.tasks = NULL; /* a deferred close of this connection: never run */
    srv.loop.tasks_tail = &srv.loop.tasks;
    return result;
}
