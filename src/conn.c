#include "conn.h"

#include "http2.h"
#include "log.h"
#include "proxy.h"
#include "server.h"
#include "tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

/* Per wake-up budgets so one busy connection cannot starve the others. */
#define READS_PER_TURN 16
#define READ_BYTES_PER_TURN (1 << 20) /* then other connections get their turn */
#define FILE_BYTES_PER_TURN (1 << 20)
#define TLS_CHUNK (64 * 1024) /* pread per step: four records, one batch */
#define TLS_CHUNK_BLOCKED (16 * 1024)
#define KTLS_MIN (64 * 1024) /* smaller bodies: pread + SSL_write is cheaper than the setup */
#define LINGER_READ_MAX (256 * 1024)

/* The PROXY protocol header of a proxy+ listener's connection, before TLS or HTTP: peeked
 * until whole (it may arrive in pieces within the header or handshake deadline), then taken
 * off the socket exactly, so what follows (a ClientHello, a request) stays for TLS or HTTP.
 * Its source address becomes the peer's (LOCAL, UNKNOWN: the real one stays). Anything but a
 * valid header closes the connection: nothing of it is ever parsed as a request. */
static void proxy_header(struct conn *c)
{
    unsigned char buf[PROXY_V2_MAX];
    char peer[INET6_ADDRSTRLEN + 8];
    ssize_t n;
    do
        n = recv(c->io.fd, buf, sizeof buf, MSG_PEEK);
    while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        c->readable = false;
        return;
    }
    if (n <= 0) {
        conn_abort(c, n == 0 ? "closed before its PROXY header" : "read error");
        return;
    }
    struct proxy_info pi;
    int r = proxy_parse(buf, (size_t)n, &pi);
    if (r == 0 && c->rd_hup) {
        conn_peer_str(c, peer, sizeof peer);
        log_warn("#%llu from %s: closed inside its PROXY protocol header",
                 (unsigned long long)c->id, peer);
        conn_abort(c, NULL);
        return;
    }
    if (r == 0) { /* a valid beginning: the rest comes with a new edge */
        c->readable = false;
        return;
    }
    if (r < 0) {
        conn_peer_str(c, peer, sizeof peer);
        log_warn("#%llu from %s: PROXY protocol header %s: closed", (unsigned long long)c->id, peer,
                 proxy_strerror(r));
        conn_abort(c, NULL);
        return;
    }
    ssize_t k;
    do
        k = recv(c->io.fd, buf, (size_t)r, 0);
    while (k < 0 && errno == EINTR);
    if (k != r) { /* what was peeked is there to read: only a broken socket gets here */
        conn_abort(c, "read error");
        return;
    }
    c->srv->bytes_in += (uint64_t)r;
    if (!pi.local && (pi.family == AF_INET || pi.family == AF_INET6))
        memcpy(&c->peer, &pi.src, sizeof c->peer);
    else if (!pi.local && pi.family == AF_UNIX)
        c->peer.sa.sa_family = AF_UNSPEC; /* "unix", as on a UNIX listener */
    c->proxy_pending = false;
    c->readable = true; /* the ClientHello or request may have come with it */
}

static void conn_on_io(struct loop_io *io, uint32_t events);
static void conn_on_timer(struct timer *t);
static void conn_on_task(struct loop_task *t);
static void handshake(struct conn *c);
static void conn_reset(struct conn *c, const char *why);

int conn_init(struct conn *c, struct server *srv, int fd, struct tls_conn *tls,
              const struct conn_proto *proto)
{
    c->io.fd = fd;
    c->io.cb = conn_on_io;
    c->timer.cb = conn_on_timer;
    c->task.cb = conn_on_task;
    c->srv = srv;
    c->proto = proto;
    c->tls = tls;
    c->file_fd = -1;
    c->id = ++srv->next_id;
    c->handshaking = tls != NULL;
    int e = loop_add(&srv->loop, &c->io, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET);
    if (e < 0)
        return e;
    server_conn_added(srv, c);
    /* A new connection must send its first request head within --header-timeout. */
    conn_set_timer(c, tls ? CONN_T_HANDSHAKE : CONN_T_HEADER);
    return 0;
}

void conn_set_timer(struct conn *c, enum conn_timer which)
{
    if (which == CONN_T_IO && c->timer_kind != CONN_T_IO) { /* waiting on the client: */
        c->rate_since = c->srv->loop.now;                   /* a new --min-rate window */
        c->rate_bytes = 0;
    }
    c->timer_kind = which;
    if (which == CONN_T_NONE)
        timer_cancel(&c->timer);
    else
        loop_timer_arm(&c->srv->loop, &c->timer, c->srv->tl[which]);
}

void conn_check_rate(struct conn *c, uint64_t min_rate)
{
    int64_t elapsed = c->srv->loop.now - c->rate_since;
    if (c->closing || c->timer_kind != CONN_T_IO || elapsed < CONN_RATE_WINDOW_MS)
        return;
    if (c->rate_bytes * 1000 < min_rate * (uint64_t)elapsed) {
        log_info("#%llu cut: %llu bytes in %.1f s, under --min-rate %llu bytes/s",
                 (unsigned long long)c->id, (unsigned long long)c->rate_bytes,
                 (double)elapsed / 1000, (unsigned long long)min_rate);
        conn_reset(c, NULL);
        return;
    }
    c->rate_since = c->srv->loop.now;
    c->rate_bytes = 0;
}

bool conn_peer_gone(struct conn *c)
{
    if (!c->rd_hup && !c->tls) {
        char b;
        if (recv(c->io.fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) == 0)
            c->rd_hup = true;
    }
    return c->rd_hup;
}

bool conn_addr_str(const union conn_addr *a, char *out, size_t n, unsigned *port)
{
    unsigned p = 0;
    bool inet = true;
    if (a->sa.sa_family == AF_INET && n >= INET_ADDRSTRLEN) {
        /* by hand: inet_ntop's sprintf was ~1 % of a WSGI hello world (REMOTE_ADDR) */
        const unsigned char *b = (const unsigned char *)&a->in4.sin_addr;
        char *w = out;
        for (int i = 0; i < 4; i++) {
            w += fmt_u64(w, b[i]);
            *w++ = i < 3 ? '.' : 0;
        }
        p = ntohs(a->in4.sin_port);
    } else if (a->sa.sa_family == AF_INET) {
        inet_ntop(AF_INET, &a->in4.sin_addr, out, (socklen_t)n);
        p = ntohs(a->in4.sin_port);
    } else if (a->sa.sa_family == AF_INET6) {
        inet_ntop(AF_INET6, &a->in6.sin6_addr, out, (socklen_t)n);
        p = ntohs(a->in6.sin6_port);
    } else {
        snprintf(out, n, "unix");
        inet = false;
    }
    if (port)
        *port = p;
    return inet;
}

void conn_peer_str(const struct conn *c, char *out, size_t n)
{
    conn_addr_str(&c->peer, out, n, NULL);
}

void conn_local_str(const struct conn *c, char *out, size_t n, unsigned *port)
{
    union conn_addr a;
    socklen_t len = sizeof a;
    out[0] = 0;
    *port = 0;
    if (getsockname(c->io.fd, &a.sa, &len) == 0 &&
        (a.sa.sa_family == AF_INET || a.sa.sa_family == AF_INET6))
        conn_addr_str(&a, out, n, port);
}

static void drop_ref(struct conn *c)
{
    struct buf_ref *r = c->ref;
    c->ref = NULL;
    if (r)
        r->release(r);
}

void conn_destroy(struct conn *c)
{
    if (c->proto->on_free)
        c->proto->on_free(c);
    timer_cancel(&c->timer);
    if (c->tls)
        tls_conn_free(c->tls);
    if (c->file_fd >= 0)
        close(c->file_fd);
    drop_ref(c);
    buf_free(&c->out);
    server_conn_removed(c->srv, c);
    close(c->io.fd); /* also drops it from epoll */
    free(c);
}

void conn_abort(struct conn *c, const char *why)
{
    if (c->closing)
        return;
    if (why)
        log_debug("#%llu closed: %s", (unsigned long long)c->id, why);
    c->closing = true;
    timer_cancel(&c->timer);
    if (c->task.queued) /* a continuation is queued: it sees closing and frees */
        return;
    loop_defer(&c->srv->loop, &c->task);
}

/* Close with a reset: what the kernel still holds for a client that stopped reading (up to
 * the socket's send buffer, megabytes) is dropped at once instead of waiting for it. */
static void conn_reset(struct conn *c, const char *why)
{
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    (void)setsockopt(c->io.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    conn_abort(c, why);
}

static void conn_on_task(struct loop_task *t)
{
    struct conn *c = container_of(t, struct conn, task);
    if (c->closing) {
        conn_destroy(c);
        return;
    }
    /* A continuation: more to write or read than one turn's budget allowed. */
    conn_flush(c);
    if (!c->closing)
        conn_read(c);
}

static ssize_t conn_recv(struct conn *c, void *buf, size_t n)
{
    if (c->tls)
        return tls_read(c->tls, buf, n);
    ssize_t r = recv(c->io.fd, buf, n, 0);
    return r < 0 ? -errno : r;
}

static ssize_t conn_send(struct conn *c, const void *data, size_t n, bool more)
{
    if (c->tls)
        return tls_write(c->tls, data, n);
    ssize_t r = send(c->io.fd, data, n, MSG_NOSIGNAL | (more ? MSG_MORE : 0));
    return r < 0 ? -errno : r;
}

bool conn_has_output(const struct conn *c)
{
    /* TLS records may wait in the session's batch after the plaintext queue emptied; an
     * EPOLLOUT must then still lead to conn_flush. */
    return buf_size(&c->out) > 0 || c->ref || c->file_fd >= 0 || (c->tls && tls_has_unsent(c->tls));
}

void conn_write_ref(struct conn *c, struct buf_ref *r)
{
    drop_ref(c); /* one at a time: the protocol waits for the drain in between */
    if (r->n == 0)
        r->release(r);
    else
        c->ref = r;
}

/* Write what is queued in front of the file: out, then the referenced bytes — on a plain
 * socket both in one call. Bytes written, or -errno. */
static ssize_t send_queued(struct conn *c)
{
    size_t n = buf_size(&c->out);
    bool more = c->file_fd >= 0;
    if (!c->ref)
        return conn_send(c, buf_data(&c->out), n, more);
    if (c->tls || n == 0) {
        if (n)
            return conn_send(c, buf_data(&c->out), n, true);
        return conn_send(c, c->ref->p, c->ref->n, more);
    }
    struct iovec iov[2] = {{(void *)buf_data(&c->out), n}, {(void *)c->ref->p, c->ref->n}};
    struct msghdr m = {.msg_iov = iov, .msg_iovlen = 2};
    ssize_t r = sendmsg(c->io.fd, &m, MSG_NOSIGNAL | (more ? MSG_MORE : 0));
    return r < 0 ? -errno : r;
}

/* n bytes of what send_queued offered went out. */
static void consume_queued(struct conn *c, size_t n)
{
    size_t k = buf_size(&c->out) < n ? buf_size(&c->out) : n;
    buf_consume(&c->out, k);
    n -= k;
    if (n && c->ref) {
        c->ref->p += n;
        c->ref->n -= n;
        if (c->ref->n == 0)
            drop_ref(c);
    }
}

int conn_write(struct conn *c, const void *data, size_t n)
{
    return buf_append(&c->out, data, n);
}

void conn_write_file(struct conn *c, int fd, off_t off, off_t len)
{
    if (c->file_fd >= 0) /* one file body at a time: the protocol pauses until drained */
        close(c->file_fd);
    c->file_fd = fd;
    c->file_off = off;
    c->file_left = len;
    if (len == 0) {
        close(fd);
        c->file_fd = -1;
    }
}

static void finish_close(struct conn *c)
{
    /* Half-close and wait for the peer's EOF for a moment, draining what it still sends, so the
     * kernel does not answer unread bytes with a RST that could destroy our last response. */
    if (c->tls)
        tls_close_notify(c->tls);
    if (c->rd_eof || shutdown(c->io.fd, SHUT_WR) < 0) {
        conn_abort(c, "closed after response");
        return;
    }
    c->lingering = true;
    c->read_paused = false;
    conn_set_timer(c, CONN_T_LINGER);
    loop_defer(&c->srv->loop, &c->task); /* drain what is already there, outside this call */
}

void conn_close_after_flush(struct conn *c)
{
    c->close_after_flush = true;
    if (!conn_has_output(c))
        finish_close(c);
}

/* Send file bytes: sendfile on plain sockets, pread + TLS records otherwise.
 * Returns 1 when the file is done, 0 when blocked or out of budget, -1 on error. */
static int send_file_part(struct conn *c, size_t *budget)
{
    while (c->file_left > 0) {
        if (*budget == 0) {
            loop_defer(&c->srv->loop, &c->task);
            return 0;
        }
        size_t want = (size_t)c->file_left < *budget ? (size_t)c->file_left : *budget;
        if (c->tls && c->file_left >= KTLS_MIN && tls_can_sendfile(c->tls)) {
            ssize_t r = tls_sendfile(c->tls, c->file_fd, c->file_off, want);
            if (r == -EAGAIN)
                return 0;
            if (r <= 0)
                return -1;
            c->file_off += r;
            c->file_left -= r;
            c->rate_bytes += (uint64_t)r;
            c->srv->bytes_out += (uint64_t)r;
            *budget -= (size_t)r;
            continue;
        }
        if (c->tls) {
            /* A full socket: read a record's worth, not a batch, so a slow reader does not
             * pin 64 KiB of plaintext here on top of the ciphertext waiting in the batch. */
            size_t chunk = tls_is_blocked(c->tls) ? TLS_CHUNK_BLOCKED : TLS_CHUNK;
            if (want > chunk)
                want = chunk;
            char *w = buf_reserve(&c->out, want, 0);
            if (!w)
                return -1;
            ssize_t r = pread(c->file_fd, w, want, c->file_off);
            if (r <= 0) {
                log_error("#%llu file read failed: %s", (unsigned long long)c->id,
                          r == 0 ? "file shrank" : strerror(errno));
                return -1;
            }
            buf_commit(&c->out, (size_t)r);
            c->file_off += r;
            c->file_left -= r;
            *budget -= (size_t)r;
            return 2; /* bytes moved to out: write them first */
        }
        ssize_t r = sendfile(c->io.fd, c->file_fd, &c->file_off, want);
        if (r < 0) {
            if (errno == EAGAIN)
                return 0;
            if (errno != EPIPE && errno != ECONNRESET)
                log_info("#%llu sendfile: %s", (unsigned long long)c->id, strerror(errno));
            return -1;
        }
        if (r == 0) {
            log_error("#%llu file shrank while being sent", (unsigned long long)c->id);
            return -1;
        }
        c->file_left -= r;
        c->rate_bytes += (uint64_t)r;
        c->srv->bytes_out += (uint64_t)r;
        *budget -= (size_t)r;
    }
    close(c->file_fd);
    c->file_fd = -1;
    return 1;
}

void conn_flush(struct conn *c)
{
    size_t budget = FILE_BYTES_PER_TURN;
    bool progress = false;
    while (!c->closing && !c->handshaking) {
        if (buf_size(&c->out) || c->ref) {
            ssize_t r = send_queued(c);
            if (r == -EAGAIN) {
                if (progress || c->timer_kind != CONN_T_IO)
                    conn_set_timer(c, CONN_T_IO);
                return;
            }
            if (r < 0) {
                conn_abort(c, "write failed");
                return;
            }
            consume_queued(c, (size_t)r);
            c->rate_bytes += (uint64_t)r;
            c->srv->bytes_out += (uint64_t)r;
            progress = true;
            continue;
        }
        if (c->file_fd >= 0) {
            int r = send_file_part(c, &budget);
            if (r < 0) {
                conn_abort(c, "file send failed");
                return;
            }
            if (r == 0) { /* socket full, or budget spent and a continuation queued */
                if (progress || c->timer_kind != CONN_T_IO || budget < FILE_BYTES_PER_TURN)
                    conn_set_timer(c, CONN_T_IO);
                return;
            }
            progress = true;
            continue;
        }
        if (c->tls) { /* records batched for the socket */
            int fr = tls_flush(c->tls);
            if (fr == -EAGAIN) {
                if (progress || c->timer_kind != CONN_T_IO)
                    conn_set_timer(c, CONN_T_IO);
                return;
            }
            if (fr < 0) {
                conn_abort(c, "write failed");
                return;
            }
        }
        /* everything is out */
        if (c->out.cap > 64 * 1024)
            buf_free(&c->out); /* a big response should not pin its buffer */
        if (c->timer_kind == CONN_T_IO)
            conn_set_timer(c, CONN_T_NONE);
        if (c->close_after_flush) {
            if (!c->lingering)
                finish_close(c);
            return;
        }
        /* The protocol may queue more (pipelined requests it had held back): loop, rather
         * than recursing through conn_flush. */
        c->proto->on_drain(c);
        if (!conn_has_output(c))
            return;
    }
}

void conn_read(struct conn *c)
{
    struct server *s = c->srv;
    size_t budget = READ_BYTES_PER_TURN;
    for (int i = 0; i < READS_PER_TURN && budget >= sizeof s->rbuf; i++) {
        if (c->closing || c->read_paused || !c->readable || c->rd_eof)
            return;
        ssize_t n = conn_recv(c, s->rbuf, sizeof s->rbuf);
        if (n == -EAGAIN) {
            c->readable = false;
            return;
        }
        if (n <= 0) {
            if (n < 0 && n != -ECONNRESET && n != -EPROTO)
                log_debug("#%llu read: %s", (unsigned long long)c->id, strerror((int)-n));
            c->rd_eof = true;
            c->readable = false;
            if (c->lingering || n < 0)
                conn_abort(c, n < 0 ? "read error" : "peer closed");
            else
                c->proto->on_eof(c);
            if (!c->closing && conn_has_output(c))
                conn_flush(c);
            return;
        }
        /* A short read means the socket is empty now, and a new edge will come with new data.
         * Over TLS a short read is one record's plaintext: the socket is empty only when the
         * last recv into OpenSSL's read-ahead buffer took less than it asked and nothing is
         * left buffered (a buffer that ended at a record boundary, with more in the socket,
         * once stalled a large upload until the client sent again). This saves the extra recv
         * that would only return EAGAIN. Not once the peer's FIN was reported:
         * no edge comes after it, so the EOF must be read now (a client that sends a request
         * and closes at once would otherwise hold the connection, and the app's slot, until
         * a timeout). */
        if ((size_t)n < sizeof s->rbuf && (!c->tls || tls_read_drained(c->tls)) && !c->rd_hup)
            c->readable = false;
        c->rate_bytes += (uint64_t)n;
        s->bytes_in += (uint64_t)n;
        budget -= (size_t)n;
        if (c->lingering) {
            c->linger_bytes += (size_t)n;
            if (c->linger_bytes > LINGER_READ_MAX)
                conn_abort(c, "lingering peer keeps sending");
            continue;
        }
        c->proto->on_data(c, s->rbuf, (size_t)n);
        if (!c->closing && conn_has_output(c))
            conn_flush(c);
    }
    if (!c->closing && c->readable && !c->read_paused)
        loop_defer(&s->loop, &c->task); /* budget spent: continue next turn */
}

void conn_shrink(struct conn *c)
{
    if (c->closing)
        return;
    buf_shrink(&c->out);
    if (c->tls)
        tls_shrink(c->tls);
}

void conn_idle(struct conn *c)
{
    if (c->proto->on_trim)
        c->proto->on_trim(c);
    if (!conn_has_output(c))
        buf_free(&c->out);
    if (c->tls && !tls_has_pending(c->tls))
        tls_release_buffers(c->tls);
}

static void handshake(struct conn *c)
{
    int r = tls_handshake(c->tls);
    if (r == -EAGAIN)
        return;
    if (r < 0) {
        conn_abort(c, "TLS handshake failed");
        return;
    }
    c->handshaking = false;
    if (tls_session_reused(c->tls))
        c->srv->tls_resumed++;
    else
        c->srv->tls_full++;
    log_debug("#%llu TLS %s %s", (unsigned long long)c->id, tls_version(c->tls),
              tls_cipher(c->tls));
    if (tls_alpn_h2(c->tls)) {
        c->readable = true; /* the client preface may have come with the Finished message */
        (void)http2_start(c, NULL, 0);
        return;
    }
    /* Draining: the request this client is about to send is still answered (with
     * Connection: close) if it comes within CONN_T_DRAIN. */
    conn_set_timer(c, c->srv->draining ? CONN_T_DRAIN : CONN_T_HEADER);
    c->readable = true; /* the first request may have come with the Finished message */
}

static void conn_on_io(struct loop_io *io, uint32_t events)
{
    struct conn *c = container_of(io, struct conn, io);
    if (c->closing)
        return;
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
        c->readable = true;
    if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
        c->rd_hup = true;
    if (c->proxy_pending) { /* nothing else happens before it (a first EPOLLOUT alone neither) */
        if (c->readable)
            proxy_header(c);
        if (c->proxy_pending || c->closing)
            return;
    }
    if (c->handshaking) {
        handshake(c);
        if (c->handshaking || c->closing)
            return;
    }
    if ((events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) && conn_has_output(c))
        conn_flush(c);
    conn_read(c);
}

static void conn_on_timer(struct timer *t)
{
    struct conn *c = container_of(t, struct conn, timer);
    enum conn_timer which = c->timer_kind;
    c->timer_kind = CONN_T_NONE;
    switch (which) {
    case CONN_T_HANDSHAKE: conn_abort(c, "TLS handshake timeout"); break;
    case CONN_T_IO:
        log_info("#%llu no progress for --io-timeout: closed", (unsigned long long)c->id);
        conn_reset(c, NULL);
        break;
    case CONN_T_LINGER: conn_abort(c, "linger timeout"); break;
    case CONN_T_HEADER:
    case CONN_T_IDLE:
    case CONN_T_APP:
    case CONN_T_DRAIN:
        c->proto->on_timeout(c, which);
        if (!c->closing && conn_has_output(c))
            conn_flush(c);
        break;
    case CONN_T_NONE: break;
    }
}
