#include "ltls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

struct ltls_ctx {
    SSL_CTX *ssl;
    bool resume;
    SSL_SESSION *session; /* owned: the newest session the server gave us */
};

struct ltls_conn {
    SSL *ssl;
    struct ltls_ctx *ctx; /* borrowed */
    bool want_write;
};

static char last_error[256];

const char *ltls_last_error(void)
{
    return last_error;
}

static void note_error(SSL *ssl)
{
    unsigned long e = ERR_peek_last_error();
    long v = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
    if (v != X509_V_OK)
        snprintf(last_error, sizeof last_error, "certificate verification failed: %s",
                 X509_verify_cert_error_string(v));
    else if (e)
        ERR_error_string_n(e, last_error, sizeof last_error);
    else
        snprintf(last_error, sizeof last_error, "TLS failure (%s)", strerror(errno));
    ERR_clear_error();
}

/* OpenSSL's per-SSL_CTX index for our ltls_ctx pointer (the session callback needs it). */
static int ctx_index = -1;

static int on_new_session(SSL *ssl, SSL_SESSION *sess)
{
    struct ltls_ctx *ctx = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), ctx_index);
    if (!ctx || !ctx->resume)
        return 0;
    /* Keep the newest: TLS 1.3 tickets are best used once, and each connection brings fresh
     * ones, so a stream of resumptions never reuses an old ticket for long. */
    if (ctx->session)
        SSL_SESSION_free(ctx->session);
    ctx->session = sess;
    return 1; /* we took the reference */
}

int ltls_ctx_new(struct ltls_ctx **out, bool verify, const char *cafile, bool resume, char *err,
                 size_t errlen)
{
    struct ltls_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    if (ctx_index < 0)
        ctx_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
    ctx->resume = resume;
    ctx->ssl = SSL_CTX_new(TLS_client_method());
    if (!ctx->ssl)
        goto fail;
    SSL_CTX_set_ex_data(ctx->ssl, ctx_index, ctx);
    if (!SSL_CTX_set_min_proto_version(ctx->ssl, TLS1_2_VERSION))
        goto fail;
    /* Partial writes and a moving buffer: our output buffer may grow (never shrink in front)
     * between a write that would block and its retry. */
    SSL_CTX_set_mode(ctx->ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    /* Read-ahead: one recv takes every record the socket has. Measured against nginx with 50
     * connections: one read per response with it, two (record header, then body) without. */
    SSL_CTX_set_read_ahead(ctx->ssl, 1);
    static const unsigned char alpn[] = "\x08http/1.1";
    if (SSL_CTX_set_alpn_protos(ctx->ssl, alpn, sizeof alpn - 1) != 0)
        goto fail;
    if (verify) {
        SSL_CTX_set_verify(ctx->ssl, SSL_VERIFY_PEER, NULL);
        if (!SSL_CTX_set_default_verify_paths(ctx->ssl))
            goto fail;
        if (cafile && !SSL_CTX_load_verify_locations(ctx->ssl, cafile, NULL)) {
            snprintf(err, errlen, "--cacert %s: cannot load certificates", cafile);
            ERR_clear_error();
            ltls_ctx_free(ctx);
            return -EPROTO;
        }
    } else {
        SSL_CTX_set_verify(ctx->ssl, SSL_VERIFY_NONE, NULL);
    }
    if (resume) {
        /* Client-side caching only so that the new-session callback fires; we keep the
         * session ourselves. */
        SSL_CTX_set_session_cache_mode(ctx->ssl,
                                       SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
        SSL_CTX_sess_set_new_cb(ctx->ssl, on_new_session);
    } else {
        SSL_CTX_set_session_cache_mode(ctx->ssl, SSL_SESS_CACHE_OFF);
        SSL_CTX_set_options(ctx->ssl, SSL_OP_NO_TICKET);
    }
    *out = ctx;
    return 0;
fail:
    note_error(NULL);
    snprintf(err, errlen, "TLS setup: %s", last_error);
    ltls_ctx_free(ctx);
    return -EPROTO;
}

void ltls_ctx_free(struct ltls_ctx *ctx)
{
    if (!ctx)
        return;
    if (ctx->session)
        SSL_SESSION_free(ctx->session);
    SSL_CTX_free(ctx->ssl);
    free(ctx);
}

struct ltls_conn *ltls_conn_new(struct ltls_ctx *ctx, int fd, const char *host)
{
    struct ltls_conn *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->ctx = ctx;
    t->ssl = SSL_new(ctx->ssl);
    if (!t->ssl || !SSL_set_fd(t->ssl, fd))
        goto fail;
    unsigned char ip[16];
    bool is_ip = inet_pton(AF_INET, host, ip) == 1 || inet_pton(AF_INET6, host, ip) == 1;
    if (is_ip) {
        /* no SNI for an address (RFC 6066 §3); the certificate must name the IP */
        if (!X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(t->ssl), host))
            goto fail;
    } else {
        if (!SSL_set_tlsext_host_name(t->ssl, host) || !SSL_set1_host(t->ssl, host))
            goto fail;
    }
    if (ctx->resume && ctx->session && !SSL_set_session(t->ssl, ctx->session))
        goto fail;
    SSL_set_connect_state(t->ssl);
    return t;
fail:
    ERR_clear_error();
    ltls_conn_free(t);
    return NULL;
}

void ltls_conn_free(struct ltls_conn *t)
{
    if (!t)
        return;
    /* We close without close_notify (HTTP framing already told us the response was whole).
     * Marking the shutdown done keeps OpenSSL from flagging the session not resumable, which it
     * does to sessions of connections freed mid-flight; --tls-resume depends on it. */
    if (t->ssl && SSL_is_init_finished(t->ssl))
        SSL_set_shutdown(t->ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    SSL_free(t->ssl);
    free(t);
}

/* Map an SSL_get_error result: -EAGAIN (want_write set), 0 for a clean close, else negative. */
static int map_error(struct ltls_conn *t, int ret)
{
    int e = SSL_get_error(t->ssl, ret);
    switch (e) {
    case SSL_ERROR_WANT_READ: t->want_write = false; return -EAGAIN;
    case SSL_ERROR_WANT_WRITE: t->want_write = true; return -EAGAIN;
    case SSL_ERROR_ZERO_RETURN: return 0;
    case SSL_ERROR_SYSCALL:
        if (ERR_peek_error() == 0) {
            int saved = errno;
            ERR_clear_error();
            /* EOF without close_notify (errno untouched): a plain close as far as HTTP framing
             * goes, which decides whether the response was complete. */
            if (saved == 0)
                return 0;
            return saved == ECONNRESET || saved == EPIPE ? -saved : -ECONNRESET;
        }
        note_error(t->ssl);
        return -EPROTO;
    default: note_error(t->ssl); return -EPROTO;
    }
}

int ltls_handshake(struct ltls_conn *t)
{
    ERR_clear_error();
    errno = 0;
    int r = SSL_do_handshake(t->ssl);
    if (r == 1)
        return 0;
    int rc = map_error(t, r);
    if (rc == -EAGAIN)
        return rc;
    if (rc == 0 || rc == -ECONNRESET || rc == -EPIPE)
        snprintf(last_error, sizeof last_error, "connection closed during the TLS handshake");
    return -EPROTO;
}

bool ltls_want_write(const struct ltls_conn *t)
{
    return t->want_write;
}

/* Reads and writes do not clear the error queue first (it costs a thread-local lookup per
 * call, visible in profiles): every failure path empties it, so it is empty here. */
ssize_t ltls_read(struct ltls_conn *t, void *buf, size_t n)
{
    size_t got = 0;
    errno = 0;
    int r = SSL_read_ex(t->ssl, buf, n, &got);
    if (r == 1)
        return (ssize_t)got;
    return map_error(t, 0);
}

ssize_t ltls_write(struct ltls_conn *t, const void *buf, size_t n)
{
    size_t put = 0;
    errno = 0;
    int r = SSL_write_ex(t->ssl, buf, n, &put);
    if (r == 1)
        return (ssize_t)put;
    int rc = map_error(t, 0);
    return rc == 0 ? -EPIPE : rc;
}

bool ltls_pending(const struct ltls_conn *t)
{
    return SSL_has_pending(t->ssl) == 1;
}

bool ltls_resumed(const struct ltls_conn *t)
{
    return SSL_session_reused(t->ssl) == 1;
}
