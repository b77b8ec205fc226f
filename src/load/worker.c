#include "worker.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "resp.h"

#define READ_BUF (64 * 1024)
#define SCAN_NS 10000000ull    /* timeouts and reconnect back-offs are checked every 10 ms */
#define BACKOFF_NS 10000000ull /* wait after a failed connect or handshake before retrying */
#define MAX_EVENTS 256
#define SPIN_POLLS 64 /* empty non-blocking polls before a blocking wait (a few µs) */

enum conn_state { C_IDLE, C_CONNECTING, C_HANDSHAKE, C_OPEN };

struct wconn {
    int fd; /* -1 when C_IDLE */
    enum conn_state state;
    uint32_t events; /* epoll interest now registered */
    unsigned j;      /* global connection index (the --rate schedule's phase) */
    struct ltls_conn *tls;
    struct resp resp;
    unsigned inflight;  /* requests written (or queued in out) without a response yet */
    unsigned ring_head; /* oldest request in sent[] */
    uint64_t *sent;     /* [pipeline]: when each request in flight was sent */
    uint64_t k_due, k_sent, k_done, k_limit; /* --rate: requests due, sent, finished, allowed */
    uint64_t opened;                         /* when the connect started */
    uint64_t deadline; /* timeout of the oldest request (or of the connect); 0 = none */
    uint64_t retry_at; /* back-off before the next connect; 0 = none */
    unsigned served;   /* responses on this connection */
    bool open_queued;
    bool fill_queued;
    struct buf out;  /* request bytes not yet taken by the socket */
    struct buf pend; /* an incomplete response head carried to the next read */
};

struct worker {
    const struct worker_params *p;
    const struct lcfg *cfg;
    struct stats *st;
    struct timeline tl; /* cursor over p->timeline */
    int epfd;
    struct wconn *conns;
    struct wconn **open_queue; /* [2 * nconns]: connections to (re)connect at the next turn */
    unsigned nopen;
    struct wconn **fill_queue; /* [nconns]: connections whose responses were read this turn */
    unsigned nfill;
    struct buf reqs;   /* every URL's request, rendered once */
    size_t *req_off;   /* [nurls + 1] offsets into reqs */
    unsigned next_url; /* round-robin over the URLs */
    uint64_t issued;   /* closed loop: requests started (failed ones included) */
    uint64_t inflight; /* sum of conns' inflight */
    uint64_t backlog;  /* --rate: due requests not yet sent */
    uint64_t m;        /* --rate: the worker's next schedule slot */
    uint64_t next_due; /* --rate: its time (UINT64_MAX when the schedule is over) */
    bool ending;       /* no new requests; finish those in flight */
    bool rate;
    bool head; /* the method is HEAD: responses have no body */
    bool tls_reported;
    bool started; /* t0 has passed: the closed loop's first requests went out */
    char *rbuf;
};

static volatile sig_atomic_t stop_now;

void worker_stop(void)
{
    stop_now = 1;
}

uint64_t worker_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The parent reads progress while we run: a relaxed atomic store (a plain mov on x86). */
static void add_progress(struct stats *st, uint64_t n)
{
    __atomic_store_n(&st->progress, st->progress + n, __ATOMIC_RELAXED);
}

/* Count n failed requests of one kind at now: in the totals, the progress counter and the
 * second's bucket. end_ns only grows, so every count lies in a bucket at or before end_ns's:
 * the parent merges each worker's timeline up to there. */
static void count_errors(struct worker *w, enum stats_err kind, uint64_t n, uint64_t now)
{
    w->st->errors[kind] += n;
    timeline_at(&w->tl, now)->errors[kind] += n;
    add_progress(w->st, n);
    if (now > w->st->end_ns)
        w->st->end_ns = now;
}

static void conn_close(struct worker *w, struct wconn *c);
static void conn_fill(struct worker *w, struct wconn *c, uint64_t now);

/* --rate: the intended send time of a connection's k-th request. The total rate R is spread
 * over all C connections of all workers: connection j sends at t0 + (j + k·C)/R, so the
 * requests of the whole run are evenly spaced 1/R apart. */
static uint64_t intended(const struct worker *w, const struct wconn *c, uint64_t k)
{
    double g = (double)c->j + (double)k * (double)w->cfg->connections;
    return w->p->t0 + (uint64_t)(g * 1e9 / w->cfg->rate);
}

static void set_events(struct worker *w, struct wconn *c, uint32_t ev)
{
    if (c->events == ev || c->fd < 0)
        return;
    struct epoll_event e = {.events = ev, .data.ptr = c};
    if (epoll_ctl(w->epfd, EPOLL_CTL_MOD, c->fd, &e) == 0)
        c->events = ev;
}

static void set_deadline(struct worker *w, struct wconn *c)
{
    uint64_t t = w->cfg->timeout_ns;
    if (c->inflight)
        c->deadline = c->sent[c->ring_head] + t;
    else if (c->state == C_CONNECTING || c->state == C_HANDSHAKE)
        c->deadline = c->opened + t;
    else
        c->deadline = 0;
}

static void queue_open(struct worker *w, struct wconn *c)
{
    if (c->open_queued || c->state != C_IDLE)
        return;
    c->open_queued = true;
    w->open_queue[w->nopen++] = c;
}

/* Is there a request this connection could start now? */
static bool has_work(const struct worker *w, const struct wconn *c, uint64_t now)
{
    if (w->rate)
        return c->k_sent < c->k_due;
    if (w->ending || now < w->p->t0)
        return false;
    return !w->p->quota || w->issued < w->p->quota;
}

/* Whether an idle connection slot should connect again. */
static bool wants_connection(const struct worker *w, const struct wconn *c, uint64_t now)
{
    if (w->ending && !(w->rate && c->k_sent < c->k_due))
        return false;
    if (!w->cfg->keepalive)
        return has_work(w, c, now);
    if (w->rate)
        return c->k_due < c->k_limit || c->k_sent < c->k_due;
    return !w->p->quota || w->issued < w->p->quota;
}

/* Give back requests that were written but will never be answered (a response said
 * Connection: close while more were pipelined): they are sent again on the next connection. */
static void requeue_inflight(struct worker *w, struct wconn *c)
{
    if (w->rate) {
        c->k_sent -= c->inflight;
        w->backlog += c->inflight;
    } else {
        w->issued -= c->inflight;
    }
    w->inflight -= c->inflight;
    c->inflight = 0;
}

/* Count a failure: every request in flight on c fails with this kind (or, when none was,
 * the connection attempt itself counts as one failed request). Closes c. */
static void conn_fail(struct worker *w, struct wconn *c, enum stats_err kind, uint64_t now)
{
    uint64_t n = c->inflight;
    if (!n) {
        if (w->rate && c->k_sent < c->k_due) {
            /* every request due on this connection would have needed the connection */
            n = c->k_due - c->k_sent;
            w->backlog -= n;
            c->k_sent = c->k_done = c->k_due;
        } else if (!w->rate && !w->ending && (!w->p->quota || w->issued < w->p->quota)) {
            n = 1;
            w->issued++;
        }
    } else {
        if (w->rate)
            c->k_done = c->k_sent;
        w->inflight -= c->inflight;
        c->inflight = 0;
    }
    if (n)
        count_errors(w, kind, n, now);
    if (kind == STATS_ERR_TLS && !w->tls_reported && w->p->index == 0) {
        w->tls_reported = true;
        fprintf(stderr, "httpsd-load: TLS: %s\n", ltls_last_error());
    }
    conn_close(w, c);
    if (kind == STATS_ERR_CONNECT || kind == STATS_ERR_TLS)
        c->retry_at = now + BACKOFF_NS; /* no busy loop against a refusing server */
    else if (wants_connection(w, c, now))
        queue_open(w, c);
}

static void conn_close(struct worker *w, struct wconn *c)
{
    (void)w;
    if (c->tls) {
        ltls_conn_free(c->tls);
        c->tls = NULL;
    }
    if (c->fd >= 0)
        close(c->fd); /* also leaves the epoll set */
    c->fd = -1;
    c->state = C_IDLE;
    c->events = 0;
    c->deadline = 0;
    c->served = 0;
    c->ring_head = 0;
    buf_reset(&c->out);
    buf_reset(&c->pend);
    resp_init(&c->resp, w->head);
}

/* Queue one request (the next URL) on c. */
static void push_request(struct worker *w, struct wconn *c, uint64_t now)
{
    unsigned u = w->next_url;
    w->next_url = u + 1 == w->cfg->nurls ? 0 : u + 1;
    size_t a = w->req_off[u], b = w->req_off[u + 1];
    /* the buffer keeps its memory between requests: no allocation once warmed up */
    if (buf_append(&c->out, w->reqs.p + a, b - a) < 0) {
        fprintf(stderr, "httpsd-load: out of memory\n");
        abort();
    }
    unsigned slot = (c->ring_head + c->inflight) % w->cfg->pipeline;
    c->sent[slot] = now;
    if (!c->inflight)
        c->deadline = now + w->cfg->timeout_ns;
    c->inflight++;
    w->inflight++;
    if (w->rate) {
        c->k_sent++;
        w->backlog--;
    } else {
        w->issued++;
    }
}

static void conn_flush(struct worker *w, struct wconn *c, uint64_t now)
{
    while (buf_size(&c->out)) {
        ssize_t n;
        if (c->tls)
            n = ltls_write(c->tls, buf_data(&c->out), buf_size(&c->out));
        else
            n = send(c->fd, buf_data(&c->out), buf_size(&c->out), MSG_NOSIGNAL);
        if (n > 0) {
            buf_consume(&c->out, (size_t)n);
            continue;
        }
        if (!c->tls && n < 0 && errno == EINTR)
            continue;
        if (c->tls ? n == -EAGAIN : (n < 0 && errno == EAGAIN)) {
            set_events(w, c, EPOLLIN | EPOLLOUT);
            return;
        }
        conn_fail(w, c, STATS_ERR_WRITE, now);
        return;
    }
    set_events(w, c, EPOLLIN);
}

/* Start the requests c may send now, in one write. */
static void conn_fill(struct worker *w, struct wconn *c, uint64_t now)
{
    if (c->state != C_OPEN || buf_size(&c->out))
        return;
    if (!w->cfg->keepalive && (c->served || c->inflight))
        return; /* one request per connection; it was queued at connect time */
    while (c->inflight < w->cfg->pipeline && has_work(w, c, now))
        push_request(w, c, now);
    if (buf_size(&c->out))
        conn_flush(w, c, now);
}

static void conn_established(struct worker *w, struct wconn *c, uint64_t now)
{
    c->state = C_OPEN;
    set_deadline(w, c);
    if (buf_size(&c->out)) /* --no-keepalive: the request waited for the connection */
        conn_flush(w, c, now);
    else
        conn_fill(w, c, now);
    if (c->state == C_OPEN && !buf_size(&c->out))
        set_events(w, c, EPOLLIN);
}

static void conn_handshake(struct worker *w, struct wconn *c, uint64_t now)
{
    int rc = ltls_handshake(c->tls);
    if (rc == -EAGAIN) {
        set_events(w, c, ltls_want_write(c->tls) ? EPOLLOUT : EPOLLIN);
        return;
    }
    if (rc < 0) {
        conn_fail(w, c, STATS_ERR_TLS, now);
        return;
    }
    if (ltls_resumed(c->tls))
        w->st->tls_resumed++;
    else
        w->st->tls_full++;
    conn_established(w, c, now);
}

static void conn_connected(struct worker *w, struct wconn *c, uint64_t now)
{
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        err = errno;
    if (err) {
        conn_fail(w, c, STATS_ERR_CONNECT, now);
        return;
    }
    w->st->connects++;
    if (w->p->tls) {
        c->tls = ltls_conn_new(w->p->tls, c->fd, w->cfg->urls[0].host);
        if (!c->tls) {
            conn_fail(w, c, STATS_ERR_TLS, now);
            return;
        }
        c->state = C_HANDSHAKE;
        conn_handshake(w, c, now);
        return;
    }
    conn_established(w, c, now);
}

static void conn_open(struct worker *w, struct wconn *c, uint64_t now)
{
    const struct sockaddr *sa = (const struct sockaddr *)&w->p->addr;
    c->fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    c->opened = now;
    c->retry_at = 0;
    if (c->fd < 0) {
        conn_fail(w, c, STATS_ERR_CONNECT, now);
        return;
    }
    if (sa->sa_family != AF_UNIX) {
        int one = 1;
        (void)setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    c->state = C_CONNECTING;
    /* --no-keepalive: the request starts (and its clock runs) with the connect */
    if (!w->cfg->keepalive && has_work(w, c, now))
        push_request(w, c, now);
    set_deadline(w, c);
    struct epoll_event e = {.events = EPOLLOUT, .data.ptr = c};
    if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, c->fd, &e) < 0) {
        conn_fail(w, c, STATS_ERR_CONNECT, now);
        return;
    }
    c->events = EPOLLOUT;
    if (connect(c->fd, sa, w->p->addrlen) == 0) {
        conn_connected(w, c, now);
        return;
    }
    if (errno != EINPROGRESS)
        conn_fail(w, c, STATS_ERR_CONNECT, now);
}

/* One response is complete. */
static void complete(struct worker *w, struct wconn *c, uint64_t now)
{
    uint64_t start = w->rate ? intended(w, c, c->k_done) : c->sent[c->ring_head];
    hist_add(&w->st->latency, now > start ? now - start : 0);
    if (c->resp.status > 0 && c->resp.status < STATS_STATUS_MAX)
        w->st->status[c->resp.status]++;
    w->st->requests++;
    timeline_at(&w->tl, now)->requests++; /* completion time, with --rate too */
    add_progress(w->st, 1);
    if (now > w->st->end_ns)
        w->st->end_ns = now;
    c->inflight--;
    w->inflight--;
    c->served++;
    if (w->rate)
        c->k_done++;
    c->ring_head = (c->ring_head + 1) % w->cfg->pipeline;
    set_deadline(w, c);
}

/* The peer closed (or reset) the connection. */
static void conn_eof(struct worker *w, struct wconn *c, uint64_t now, bool reset)
{
    if (!c->inflight) { /* an idle keep-alive connection closed: reconnect quietly */
        conn_close(w, c);
        if (wants_connection(w, c, now))
            queue_open(w, c);
        return;
    }
    if (!reset && resp_eof(&c->resp) == RESP_DONE) {
        complete(w, c, now);
        requeue_inflight(w, c);
        conn_close(w, c);
        if (wants_connection(w, c, now))
            queue_open(w, c);
        return;
    }
    conn_fail(w, c, STATS_ERR_READ, now);
}

/* Parse n bytes of responses. Returns false when c was closed. */
static bool conn_parse(struct worker *w, struct wconn *c, const char *data, size_t n, uint64_t now)
{
    const char *p = data;
    size_t len = n;
    bool carried = buf_size(&c->pend) > 0;
    if (carried) { /* rare: a head split across reads is parsed from the carried copy */
        if (buf_append(&c->pend, data, n) < 0) {
            fprintf(stderr, "httpsd-load: out of memory\n");
            abort();
        }
        p = buf_data(&c->pend);
        len = buf_size(&c->pend);
    }
    const char *start = p;
    while (len) {
        if (!c->inflight) { /* bytes nobody asked for */
            count_errors(w, STATS_ERR_MALFORMED, 1, now);
            conn_close(w, c);
            if (wants_connection(w, c, now))
                queue_open(w, c);
            return false;
        }
        size_t used;
        int rc = resp_feed(&c->resp, p, len, &used);
        p += used;
        len -= used;
        if (rc == RESP_ERR_MALFORMED) {
            conn_fail(w, c, STATS_ERR_MALFORMED, now);
            return false;
        }
        if (rc == RESP_MORE) {
            if (!len)
                break;
            if (carried) {
                buf_consume(&c->pend, (size_t)(p - start));
            } else if (buf_append(&c->pend, p, len) < 0) {
                fprintf(stderr, "httpsd-load: out of memory\n");
                abort();
            }
            return true;
        }
        bool keep = c->resp.keep_alive && w->cfg->keepalive;
        complete(w, c, now);
        resp_init(&c->resp, w->head);
        if (!keep) {
            requeue_inflight(w, c);
            conn_close(w, c);
            if (wants_connection(w, c, now))
                queue_open(w, c);
            return false;
        }
    }
    if (carried)
        buf_reset(&c->pend);
    return true;
}

static void conn_readable(struct worker *w, struct wconn *c, uint64_t now)
{
    for (int rounds = 0; rounds < 16; rounds++) {
        ssize_t n;
        if (c->tls) {
            n = ltls_read(c->tls, w->rbuf, READ_BUF);
            if (n == -EAGAIN) {
                if (ltls_want_write(c->tls))
                    set_events(w, c, EPOLLIN | EPOLLOUT);
                break; /* a response may have completed in an earlier round: send on */
            }
            if (n < 0) {
                if (n == -EPROTO && c->inflight) {
                    conn_fail(w, c, STATS_ERR_TLS, now);
                    return;
                }
                conn_eof(w, c, now, true);
                return;
            }
        } else {
            n = recv(c->fd, w->rbuf, READ_BUF, 0);
            if (n < 0) {
                if (errno == EAGAIN || errno == EINTR)
                    break; /* a response may have completed in an earlier round: send on */
                conn_eof(w, c, now, true);
                return;
            }
        }
        if (n == 0) {
            conn_eof(w, c, now, false);
            return;
        }
        w->st->bytes_read += (uint64_t)n;
        if (!conn_parse(w, c, w->rbuf, (size_t)n, now))
            return;
        /* a short read drained the socket (level-triggered epoll calls again otherwise) */
        if ((size_t)n < READ_BUF && !(c->tls && ltls_pending(c->tls)))
            break;
    }
    /* The next requests go out after every ready connection has been read: sends grouped at
     * the end of the turn reach the server as one burst (fewer, fuller wake-ups there). */
    if (!c->fill_queued) {
        c->fill_queued = true;
        w->fill_queue[w->nfill++] = c;
    }
}

static void conn_event(struct worker *w, struct wconn *c, uint32_t ev)
{
    uint64_t now = worker_now();
    switch (c->state) {
    case C_CONNECTING: conn_connected(w, c, now); break;
    case C_HANDSHAKE: conn_handshake(w, c, now); break;
    case C_OPEN:
        if (ev & (EPOLLIN | EPOLLHUP | EPOLLERR))
            conn_readable(w, c, now);
        if (c->state == C_OPEN && (ev & EPOLLOUT)) {
            if (buf_size(&c->out))
                conn_flush(w, c, now);
            else
                conn_fill(w, c, now);
            if (c->state == C_OPEN && !buf_size(&c->out))
                set_events(w, c, EPOLLIN);
        }
        break;
    case C_IDLE: break;
    }
}

/* Timeouts and back-offs. */
static void scan(struct worker *w, uint64_t now)
{
    for (unsigned i = 0; i < w->p->nconns; i++) {
        struct wconn *c = &w->conns[i];
        if (c->deadline && now >= c->deadline)
            conn_fail(w, c, STATS_ERR_TIMEOUT, now);
        if (c->state == C_IDLE && c->retry_at && now >= c->retry_at) {
            c->retry_at = 0;
            if (wants_connection(w, c, now))
                queue_open(w, c);
        }
    }
}

/* --rate: hand every slot that is due to its connection. */
static void schedule(struct worker *w, uint64_t now)
{
    const struct lcfg *cfg = w->cfg;
    unsigned nc = w->p->nconns;
    while (w->next_due <= now) {
        struct wconn *c = &w->conns[w->m % nc];
        uint64_t k = w->m / nc;
        w->m++;
        if (k < c->k_limit) {
            c->k_due++;
            w->backlog++;
            if (c->state == C_OPEN)
                conn_fill(w, c, now);
            else if (c->state == C_IDLE && !c->retry_at)
                queue_open(w, c);
        }
        /* the next slot: done when past the duration or past -n for every connection */
        uint64_t k2 = w->m / nc;
        double g = (double)(w->p->conn_first + w->m % nc) + (double)k2 * cfg->connections;
        if (cfg->requests &&
            (double)w->p->conn_first + (double)k2 * cfg->connections >= (double)cfg->requests) {
            w->next_due = UINT64_MAX;
            break;
        }
        w->next_due = w->p->t0 + (uint64_t)(g * 1e9 / cfg->rate);
        if (w->p->t_end && w->next_due >= w->p->t_end) {
            w->next_due = UINT64_MAX;
            break;
        }
    }
}

static int worker_init(struct worker *w, const struct worker_params *p)
{
    const struct lcfg *cfg = p->cfg;
    memset(w, 0, sizeof *w);
    w->p = p;
    w->cfg = cfg;
    w->st = p->stats;
    timeline_init(&w->tl, p->timeline, p->timeline_len, p->t0);
    w->rate = cfg->rate > 0;
    w->head = strcmp(cfg->method, "HEAD") == 0;
    w->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (w->epfd < 0)
        return -errno;
    w->rbuf = malloc(READ_BUF);
    w->conns = calloc(p->nconns, sizeof *w->conns);
    w->open_queue = calloc(2 * (size_t)p->nconns, sizeof *w->open_queue);
    w->fill_queue = calloc(p->nconns, sizeof *w->fill_queue);
    w->req_off = calloc(cfg->nurls + 1, sizeof *w->req_off);
    if (!w->rbuf || !w->conns || !w->open_queue || !w->fill_queue || !w->req_off)
        return -ENOMEM;
    for (unsigned u = 0; u < cfg->nurls; u++) {
        int rc = lcfg_render_request(cfg, u, &w->reqs);
        if (rc < 0)
            return rc;
        w->req_off[u + 1] = buf_size(&w->reqs);
    }
    for (unsigned i = 0; i < p->nconns; i++) {
        struct wconn *c = &w->conns[i];
        c->fd = -1;
        c->j = p->conn_first + i;
        c->sent = calloc(cfg->pipeline, sizeof *c->sent);
        if (!c->sent)
            return -ENOMEM;
        resp_init(&c->resp, w->head);
        c->k_limit = UINT64_MAX;
        if (w->rate && cfg->requests) /* -n: connection j sends requests j, j+C, j+2C... < N */
            c->k_limit = c->j < cfg->requests
                             ? (cfg->requests - c->j + cfg->connections - 1) / cfg->connections
                             : 0;
    }
    w->next_due = UINT64_MAX;
    if (w->rate) {
        w->next_due = p->t0 + (uint64_t)((double)p->conn_first * 1e9 / cfg->rate);
        if ((cfg->requests && p->conn_first >= cfg->requests) ||
            (p->t_end && w->next_due >= p->t_end))
            w->next_due = UINT64_MAX;
    }
    return 0;
}

static void worker_deinit(struct worker *w)
{
    if (w->conns) {
        for (unsigned i = 0; i < w->p->nconns; i++) {
            struct wconn *c = &w->conns[i];
            if (c->tls)
                ltls_conn_free(c->tls);
            if (c->fd >= 0)
                close(c->fd);
            buf_free(&c->out);
            buf_free(&c->pend);
            free(c->sent);
        }
    }
    free(w->conns);
    free(w->open_queue);
    free(w->fill_queue);
    free(w->req_off);
    free(w->rbuf);
    buf_free(&w->reqs);
    if (w->epfd >= 0)
        close(w->epfd);
}

static bool finished(struct worker *w, uint64_t now)
{
    if (!w->ending) {
        bool over = w->p->t_end && now >= w->p->t_end;
        if (w->rate)
            over = over || (w->next_due == UINT64_MAX && !w->backlog);
        if (over) {
            w->ending = true;
            /* --rate past the duration: requests due but never sent are dropped */
            if (w->rate && w->p->t_end && now >= w->p->t_end) {
                for (unsigned i = 0; i < w->p->nconns; i++)
                    w->conns[i].k_due = w->conns[i].k_sent;
                w->backlog = 0;
                w->next_due = UINT64_MAX;
            }
        }
    }
    if (w->inflight || w->backlog)
        return false;
    /* The closed loop's quota is not latched: requests given back by requeue_inflight lower
     * issued again and must still go out. */
    return w->ending || (!w->rate && w->p->quota && w->issued >= w->p->quota);
}

int worker_run(const struct worker_params *p)
{
    struct worker w;
    int rc = worker_init(&w, p);
    if (rc < 0)
        goto out;
    uint64_t now = worker_now();
    /* keep-alive: connect before t0 so that the first requests do not wait for it */
    for (unsigned i = 0; i < p->nconns; i++)
        if (p->cfg->keepalive && wants_connection(&w, &w.conns[i], now))
            queue_open(&w, &w.conns[i]);
    uint64_t next_scan = now + SCAN_NS;
    /* a hard stop, should a deadline ever be missed: duration plus one timeout */
    uint64_t hard_end = p->t_end ? p->t_end + p->cfg->timeout_ns + 100000000ull : UINT64_MAX;
    struct epoll_event evs[MAX_EVENTS];
    while (!stop_now) {
        /* Connections queued for opening (never opened inside a callback, so a server that
         * resets at once cannot recurse). Those queued again meanwhile wait for the next turn. */
        unsigned nq = w.nopen;
        for (unsigned i = 0; i < nq; i++) {
            struct wconn *c = w.open_queue[i];
            c->open_queued = false;
            if (c->state == C_IDLE && wants_connection(&w, c, now))
                conn_open(&w, c, now);
        }
        memmove(w.open_queue, w.open_queue + nq, (w.nopen - nq) * sizeof *w.open_queue);
        w.nopen -= nq;
        if (finished(&w, now) || now >= hard_end)
            break;
        uint64_t wake = next_scan;
        if (now < p->t0 && p->t0 < wake)
            wake = p->t0;
        if (!w.ending && p->t_end && p->t_end < wake)
            wake = p->t_end;
        if (w.next_due < wake)
            wake = w.next_due;
        uint64_t d = wake > now ? wake - now : 0;
        struct timespec ts = {(time_t)(d / 1000000000ull), (long)(d % 1000000000ull)};
        int n = 0;
        /* Poll without sleeping for a moment before blocking while responses are due: a
         * sleeping client makes the server pay a wake-up (an IPI) for nearly every response
         * it sends, which on a server-bound run costs it more than the requests do. */
        if (w.inflight && !w.rate) {
            struct timespec zero = {0, 0};
            for (int spin = 0; spin < SPIN_POLLS && n == 0; spin++)
                n = epoll_pwait2(w.epfd, evs, MAX_EVENTS, &zero, NULL);
        }
        if (n == 0)
            n = epoll_pwait2(w.epfd, evs, MAX_EVENTS, &ts, NULL);
        if (n < 0 && errno != EINTR) {
            rc = -errno;
            goto out;
        }
        for (int i = 0; i < n; i++)
            conn_event(&w, evs[i].data.ptr, evs[i].events);
        now = worker_now();
        for (unsigned i = 0; i < w.nfill; i++) {
            w.fill_queue[i]->fill_queued = false;
            conn_fill(&w, w.fill_queue[i], now);
        }
        w.nfill = 0;
        if (w.rate)
            schedule(&w, now);
        if (!w.rate && !w.started && now >= p->t0) {
            w.started = true;
            for (unsigned i = 0; i < p->nconns; i++) {
                struct wconn *c = &w.conns[i];
                if (c->state == C_OPEN)
                    conn_fill(&w, c, now);
                else if (c->state == C_IDLE && !c->retry_at && wants_connection(&w, c, now))
                    queue_open(&w, c);
            }
        }
        if (now >= next_scan) {
            scan(&w, now);
            next_scan = now + SCAN_NS;
        }
    }
    /* cut: whatever is still in flight at a hard stop timed out */
    if (!stop_now && w.inflight)
        count_errors(&w, STATS_ERR_TIMEOUT, w.inflight, worker_now());
    rc = 0;
out:
    worker_deinit(&w);
    return rc;
}
