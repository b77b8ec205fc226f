/* conn: one client connection's transport — socket, TLS, output queue, file bodies, deadlines,
 * closing. The protocol on top (http1) embeds struct conn as its first member.
 * Loop thread only. */
#ifndef HTTPSD_CONN_H
#define HTTPSD_CONN_H

#include "buf.h"
#include "loop.h"

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct server;
struct tls_conn;
struct conn;

/* Which deadline a connection's single timer is armed for. */
enum conn_timer {
    CONN_T_NONE,
    CONN_T_HANDSHAKE, /* --handshake-timeout */
    CONN_T_HEADER,    /* --header-timeout, total for one request head */
    CONN_T_IDLE,      /* --keep-alive */
    CONN_T_IO,        /* --io-timeout, reset on progress */
    CONN_T_LINGER,    /* lingering close after the last response */
    CONN_T_APP,       /* --timeout: the WSGI app must start its response by then */
    CONN_T_DRAIN,     /* draining: an idle connection may still carry a request on its way */
};

/* What the protocol layer does with transport events. */
struct conn_proto {
    /* Plaintext arrived (data is borrowed for the call). */
    void (*on_data)(struct conn *c, const char *data, size_t n);
    /* Everything queued has been written; the protocol may queue more and resume reading.
     * Protocol callbacks only queue output and set read_paused: conn drives the I/O. */
    void (*on_drain)(struct conn *c);
    /* The peer closed its side. */
    void (*on_eof)(struct conn *c);
    /* A CONN_T_HEADER, CONN_T_IDLE, CONN_T_APP or CONN_T_DRAIN deadline passed. */
    void (*on_timeout)(struct conn *c, enum conn_timer which);
    /* The connection has been idle a while: release per-request memory. */
    void (*on_trim)(struct conn *c);
    /* The connection is about to be freed: release protocol state. */
    void (*on_free)(struct conn *c);
    /* Graceful stop: close c now when idle, else once what is in flight is answered. */
    void (*on_shutdown)(struct conn *c);
};

union conn_addr {
    struct sockaddr sa;
    struct sockaddr_in in4;
    struct sockaddr_in6 in6;
};

struct conn {
    struct loop_io io;
    struct timer timer;
    struct loop_task task;    /* deferred continuation or free */
    struct conn *prev, *next; /* the server's list of connections */
    struct server *srv;
    const struct conn_proto *proto;
    void *proto_data;     /* the state of a protocol that took the connection over (http2) */
    struct tls_conn *tls; /* owned; NULL on plain listeners */
    uint64_t id;
    union conn_addr peer; /* AF_UNSPEC for UNIX sockets */
    struct buf out;       /* plaintext waiting to be written */
    struct buf_ref *ref;  /* owned: bytes written after out, before the file; NULL */
    int file_fd;          /* owned; -1 when no file body is queued */
    off_t file_off, file_left;
    enum conn_timer timer_kind;
    bool proxy_pending; /* a PROXY protocol header must come first (proxy+ listeners) */
    bool handshaking;
    bool readable;    /* edge-triggered: the socket may hold unread bytes */
    bool read_paused; /* the protocol does not want input now (backpressure) */
    bool rd_eof;      /* peer closed its side (read returned 0) */
    bool rd_hup;      /* epoll reported the peer's FIN (EPOLLRDHUP): read on to the EOF */
    bool close_after_flush;
    bool lingering;
    bool closing; /* freed after the current batch; nothing may use it then */
    uint32_t linger_bytes;
    /* --min-rate: bytes moved since rate_since (loop ms), while the connection waits on the
     * client (its timer on CONN_T_IO); judged every CONN_RATE_WINDOW_MS. */
    int64_t rate_since;
    uint64_t rate_bytes;
};

#define CONN_RATE_WINDOW_MS 10000

/* Set up c (already allocated by the protocol, zeroed) on an accepted socket fd and register it
 * with the loop. tls may be NULL. 0 or -errno (on error the caller closes fd and frees c). */
int conn_init(struct conn *c, struct server *srv, int fd, struct tls_conn *tls,
              const struct conn_proto *proto) __attribute__((warn_unused_result));
/* Queue bytes for writing (not yet written: call conn_flush). 0 or -ENOMEM. */
int conn_write(struct conn *c, const void *data, size_t n) __attribute__((warn_unused_result));
/* Queue r's bytes, sent from where they are, after the queued bytes; r is released once
 * written or when the connection goes. One at a time, like a file (the protocol waits for the
 * output to drain in between). */
void conn_write_ref(struct conn *c, struct buf_ref *r);
/* Queue len bytes of file fd from off after the queued bytes; fd is stolen. */
void conn_write_file(struct conn *c, int fd, off_t off, off_t len);
/* Write what is queued; arms the I/O deadline when the socket is full; calls proto->on_drain
 * when everything is out. */
void conn_flush(struct conn *c);
/* Bytes, file or TLS records still to write. */
bool conn_has_output(const struct conn *c);
/* Read and hand data to the protocol while the socket has some and reading is not paused. */
void conn_read(struct conn *c);
/* The connection has waited for its next request a while: give back its buffers (protocol,
 * output, TLS records) so an idle keep-alive connection costs well under a KiB plus OpenSSL's
 * session. Busy connections keep them: no allocation churn per request. */
void conn_idle(struct conn *c);
/* The connection waits on a client that does not read (or send): keep only the bytes that
 * wait — an empty output buffer is freed, the TLS batch shrunk to its unsent records and
 * OpenSSL's record buffers released. Called once a second for connections on CONN_T_IO. */
void conn_shrink(struct conn *c);
/* Arm the connection's single deadline. */
void conn_set_timer(struct conn *c, enum conn_timer which);
/* Close once the output is written; lingering: half-close and drain the peer's leftovers for a
 * moment first, so a response to an unread request body is not lost to a RST. */
void conn_close_after_flush(struct conn *c);
/* Close now (the memory is freed after the current batch of events). */
void conn_abort(struct conn *c, const char *why);
/* Free c at once: only outside any callback of c (server shutdown). */
void conn_destroy(struct conn *c);
/* --min-rate: cut c if it moved fewer than min_rate bytes/s over the last window while it
 * waited on the client. Called once a second for each connection on the CONN_T_IO list. */
void conn_check_rate(struct conn *c, uint64_t min_rate);
/* Whether the peer has closed its side (epoll said so, or, on plain connections, a peek finds
 * nothing more to read before the EOF: a FIN that came after the last wake-up). */
bool conn_peer_gone(struct conn *c);
/* Format an address ("127.0.0.1", "::1"; "unix" for anything else) into out, its port into
 * *port (0 for "unix"; port may be NULL). Whether it was an IP address. */
bool conn_addr_str(const union conn_addr *a, char *out, size_t n, unsigned *port);
/* Format the peer address ("127.0.0.1", "::1", "unix") into out. */
void conn_peer_str(const struct conn *c, char *out, size_t n);
/* The address the connection came in on, and its port ("" and 0 on a UNIX socket: one
 * getsockname). */
void conn_local_str(const struct conn *c, char *out, size_t n, unsigned *port);

#endif
