/* exchange: one request and its response, between the protocol that carries them (http1.c;
 * http2.c next) and the handler the router chose (a static mount, or an answer of the server's
 * own: errors, --health, redirects). The handler answers through the protocol's ops — a head,
 * then body pieces: bytes the protocol copies at once, or a range of a file it sends by
 * sendfile / TLS records — and knows nothing of framing, chunking, keep-alive or flow
 * control. A body that cannot be given at once (multipart/byteranges) is a producer, struct
 * xbody, that the protocol calls again whenever it has room. Loop thread only.
 *
 * Every response is head, body pieces, end (or abort): the handler (or its producer, before it
 * says it is complete) calls end. */
#ifndef HTTPSD_EXCHANGE_H
#define HTTPSD_EXCHANGE_H

#include "body.h"
#include "client.h"
#include "request.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct exchange;
struct server;

struct exchange_ops {
    /* The head: res's status, Content-Type, Content-Length (-1: none) and header lines; the
     * protocol adds its own (Date, Server; Connection or nothing; HSTS on TLS). Once per
     * exchange, first. 0, or -1 when the connection cannot go on (no more calls then). */
    int (*head)(struct exchange *x, const struct response *res);
    /* n body bytes, copied before the call returns. Dropped for a response without a body
     * (HEAD, 204, 304). 0 or -1. */
    int (*data)(struct exchange *x, const char *p, size_t n);
    /* All of b's bytes, like data; the protocol may take b's memory instead of copying (b is
     * left empty, maybe holding other memory): with room in front of the bytes
     * (buf_headroom) it can put what it has not sent yet there. 0 or -1. */
    int (*data_buf)(struct exchange *x, struct buf *b);
    /* r->n body bytes at r->p that the protocol may send from where they are (no copy): it
     * calls r->release once done with them — written, copied, or dropped, failure included.
     * 0 or -1. */
    int (*data_ref)(struct exchange *x, struct buf_ref *r);
    /* len body bytes of fd from off. fd stays the caller's (the protocol duplicates it if the
     * bytes go out later). 0 or -1. */
    int (*file)(struct exchange *x, int fd, off_t off, uint64_t len);
    /* The body is complete (HTTP/1: the last chunk of a chunked body; the access-log line,
     * with the body bytes given). 0 or -1. */
    int (*end)(struct exchange *x);
    /* The response cannot be completed (an app failed after its head): the client must see it
     * cut (HTTP/1: no last chunk, the connection closes after what was given). Instead of end. */
    void (*abort)(struct exchange *x, const char *why);
    /* Whether the protocol takes more body now. A producer gives data/file only while it
     * does (a file range handed over may still be going out: what came after it would pass
     * it); when not, it returns 0 and is called again once there is room. */
    bool (*room)(struct exchange *x);
    /* Who the request is from (computed on first use). */
    const struct client *(*client)(struct exchange *x);
    /* The address and port the request came in on ("" and 0 on a UNIX socket): SERVER_NAME
     * without a Host. */
    void (*local)(struct exchange *x, char *out, size_t n, unsigned *port);
    /* x's handler has news (loop thread): output to pump, or room for more of the request
     * body after feed said full. */
    void (*wake)(struct exchange *x);
};

/* A body given over several turns (owned by the exchange once set in x->body). */
struct xbody {
    /* Give what fits (while room()). 1: the body is complete (end was called); 0: more to
     * come; -1: failed (the connection is cut). */
    int (*produce)(struct xbody *b, struct exchange *x);
    void (*free)(struct xbody *b);
};

/* What pump reports. */
struct xprogress {
    bool started; /* the head has been given */
    bool done;    /* the response is complete: ended or aborted */
};

/* A handler that answers over time, on other threads (the WSGI app): it takes the request
 * body as the protocol receives it, and gives its response when the protocol pumps it, after
 * a wake. Left in x->handler by router_handle; the protocol drives it and releases it. */
struct xhandler;
struct xhandler_ops {
    /* Give x what is ready: the head (once), body pieces while room(), the end (or abort). 0,
     * or -1 when x failed or memory ran out (the protocol cuts the response). */
    int (*pump)(struct xhandler *h, struct exchange *x, struct xprogress *p);
    /* Bytes of a body that streams (xin.streams), in order. 0; 1 when the handler holds
     * enough unread: stop receiving until a wake finds input_room; -ENOMEM. Bytes given
     * after the handler finished are dropped. */
    int (*feed)(struct xhandler *h, const char *p, size_t n);
    /* The streaming body is complete. */
    void (*feed_end)(struct xhandler *h);
    /* After feed said 1: may the body go on? */
    bool (*input_room)(struct xhandler *h);
    /* It did not start its response in time (--timeout): stop it, best effort (before
     * release). */
    void (*interrupt)(struct xhandler *h);
    /* The protocol is done with it (complete, or the client went): an unfinished response is
     * abandoned and its output dropped. No wake after this. */
    void (*release)(struct xhandler *h);
};
struct xhandler {
    const struct xhandler_ops *ops;
    bool on_loop; /* it runs inside pump, on the loop thread: pump a long response a piece
                     per loop turn, so other connections are served between pieces */
};

struct exchange {
    const struct exchange_ops *ops; /* the protocol's */
    const struct request *req;      /* valid until the response is complete */
    bool tls;                       /* it came over TLS (to us) */
    uint64_t id;                    /* the connection's, for logs */
    struct xbody *body;             /* a producer the handler left; NULL when done */
    struct xhandler *handler;       /* a handler answering over time; NULL when none */
};

/* The request body, as the protocol gives it to router_handle (for the call only): read whole
 * (body, whose bytes a handler may take), or still to come (streams: fed to the handler). */
struct xin {
    struct body *body;
    bool chunked;    /* its length was not announced (known now: it was read whole) */
    bool streams;    /* it arrives while the handler runs */
    uint64_t length; /* the announced length of a streaming body */
};

/* Answer x with res as it is: its head, then its inline body or its file (res->file_fd is
 * closed), then the end. 0 or -1. */
int exchange_send(struct exchange *x, struct response *res);
/* Answer x with an error page (status, and Retry-After: 1 with 503). 0 or -1. */
int exchange_error(struct exchange *x, int status);
/* Drop x's producer, if any. */
void exchange_free_body(struct exchange *x);
/* The response to x is complete or cut after bytes body bytes: count it, write its access-log
 * line (x->req->method.p NULL: a request that could not be parsed). */
void exchange_log(struct exchange *x, struct server *srv, int status, int64_t bytes);
/* Release x's handler, if any. */
void exchange_release_handler(struct exchange *x);

#endif
