#include "tls.h"

#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

struct tls_ctx {
    SSL_CTX *ssl;
    bool h2;         /* ALPN offers h2 (first: the server's preference) */
    BIO_METHOD *bio; /* the batching socket BIO; NULL when kTLS is on (it needs the real one) */
};

/* A session and, without kTLS, the ciphertext its records wait in until a batch is written:
 * one write(2) per up to TLS_BATCH bytes instead of one per 16 KiB record. On loopback that
 * halves the server's CPU for large files (fewer wake-ups of the reader, fewer skbs). */
struct tls_conn {
    SSL *ssl;
    int fd;
    char *w; /* owned; NULL when empty and released; bytes to send are w[woff..wlen) */
    size_t woff, wlen, wcap;
    bool blocked; /* the last flush left bytes the socket would not take */
    bool drained; /* the last recv took less than asked: the socket was empty then */
};

#define TLS_BATCH (64 * 1024)
/* While the socket is full, the batch takes only this much more: a client that reads slowly
 * (or not at all) pins a record or so of ciphertext here, not a whole batch. */
#define TLS_BATCH_BLOCKED (16 * 1024)

/* Write out what the batch holds. 1 when empty, 0 with errno = EAGAIN, -1 on error. */
static int batch_flush(struct tls_conn *t)
{
    while (t->woff < t->wlen) {
        ssize_t n = send(t->fd, t->w + t->woff, t->wlen - t->woff, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            t->blocked = errno == EAGAIN;
            return errno == EAGAIN ? 0 : -1;
        }
        t->woff += (size_t)n;
    }
    t->woff = t->wlen = 0;
    t->blocked = false;
    return 1;
}

static int bio_write(BIO *b, const char *data, int len)
{
    struct tls_conn *t = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    size_t limit = t->blocked ? TLS_BATCH_BLOCKED : TLS_BATCH;
    if (t->wlen - t->woff >= limit) {
        int r = batch_flush(t);
        if (r < 0)
            return -1;
        if (r == 0 && t->wlen - t->woff >= TLS_BATCH_BLOCKED) {
            BIO_set_retry_write(b);
            return -1;
        }
    }
    if (t->wcap - t->wlen < (size_t)len && t->woff) { /* reuse the space already sent */
        memmove(t->w, t->w + t->woff, t->wlen - t->woff);
        t->wlen -= t->woff;
        t->woff = 0;
    }
    size_t need = t->wlen + (size_t)len;
    if (need > t->wcap) {
        size_t cap = (need + 16383) & ~(size_t)16383; /* a batch and a record at most */
        char *w = realloc(t->w, cap);
        if (!w)
            return -1;
        t->w = w;
        t->wcap = cap;
    }
    memcpy(t->w + t->wlen, data, (size_t)len);
    t->wlen += (size_t)len;
    return len;
}

static int bio_read(BIO *b, char *data, int len)
{
    struct tls_conn *t = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    ssize_t n;
    do
        n = recv(t->fd, data, (size_t)len, 0);
    while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        BIO_set_retry_read(b);
    t->drained = n < 0 ? errno == EAGAIN || errno == EWOULDBLOCK : n < len;
    return (int)n;
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    (void)num;
    (void)ptr;
    struct tls_conn *t = BIO_get_data(b);
    switch (cmd) {
    case BIO_CTRL_FLUSH: {
        BIO_clear_retry_flags(b);
        int r = batch_flush(t);
        if (r == 0)
            BIO_set_retry_write(b);
        return r;
    }
    case BIO_CTRL_WPENDING: return (long)(t->wlen - t->woff);
    case BIO_CTRL_DUP: return 1;
    default: return 0;
    }
}

static int bio_create(BIO *b)
{
    BIO_set_init(b, 1);
    return 1;
}

static void ssl_reason(char *err, size_t errlen, const char *what)
{
    unsigned long e = ERR_peek_last_error();
    char reason[256] = "unknown error";
    if (e)
        ERR_error_string_n(e, reason, sizeof reason);
    snprintf(err, errlen, "%s: %s", what, reason);
    ERR_clear_error();
}

static int add_ext(X509 *x, int nid, const char *value)
{
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
    if (!ext)
        return -1;
    int ok = X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    return ok ? 0 : -1;
}

/* Write to path.tmp with mode, then rename: a crash never leaves half a key in place. */
static int write_pem(const char *path, mode_t mode, EVP_PKEY *key, X509 *cert)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        return -ENAMETOOLONG;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0)
        return -errno;
    if (fchmod(fd, mode) < 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    FILE *f = fdopen(fd, "w");
    if (!f) {
        int e = -errno;
        close(fd);
        return e;
    }
    int ok =
        key ? PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) : PEM_write_X509(f, cert);
    if (fclose(f) != 0 || !ok) {
        unlink(tmp);
        return -EIO;
    }
    if (rename(tmp, path) < 0) {
        int e = -errno;
        unlink(tmp);
        return e;
    }
    return 0;
}

int tls_generate_cert(const char *certfile, const char *keyfile, char *err, size_t errlen)
{
    int rc = -EPROTO;
    X509 *x = NULL;
    BIGNUM *serial = NULL;
    EVP_PKEY *key = EVP_EC_gen("P-256");
    if (!key) {
        ssl_reason(err, errlen, "cannot generate a P-256 key");
        goto out;
    }
    x = X509_new();
    serial = BN_new();
    if (!x || !serial || !X509_set_version(x, 2) || !BN_rand(serial, 127, BN_RAND_TOP_ANY, 0) ||
        !BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(x)) ||
        !X509_gmtime_adj(X509_getm_notBefore(x), -3600) ||
        !X509_gmtime_adj(X509_getm_notAfter(x), 365L * 86400) || !X509_set_pubkey(x, key)) {
        ssl_reason(err, errlen, "cannot build the certificate");
        goto out;
    }
    X509_NAME *name = X509_get_subject_name(x);
    if (!X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                                    (const unsigned char *)"httpsd self-signed", -1, -1, 0) ||
        !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"localhost",
                                    -1, -1, 0) ||
        !X509_set_issuer_name(x, name) ||
        add_ext(x, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1,IP:::1") < 0 ||
        add_ext(x, NID_basic_constraints, "critical,CA:FALSE") < 0 ||
        add_ext(x, NID_key_usage, "critical,digitalSignature") < 0 ||
        add_ext(x, NID_ext_key_usage, "serverAuth") < 0 ||
        add_ext(x, NID_subject_key_identifier, "hash") < 0 || !X509_sign(x, key, EVP_sha256())) {
        ssl_reason(err, errlen, "cannot sign the certificate");
        goto out;
    }
    int e = write_pem(keyfile, 0600, key, NULL);
    if (e == 0)
        e = write_pem(certfile, 0644, NULL, x);
    if (e < 0) {
        snprintf(err, errlen, "cannot write %s / %s: %s", certfile, keyfile, strerror(-e));
        rc = e;
        goto out;
    }
    rc = 0;
out:
    BN_free(serial);
    X509_free(x);
    EVP_PKEY_free(key);
    return rc;
}

static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned int inlen, void *arg)
{
    (void)ssl;
    const struct tls_ctx *ctx = arg;
    static const unsigned char both[] = "\x02h2\x08http/1.1";
    const unsigned char *ours = ctx->h2 ? both : both + 3;
    unsigned ourlen = (unsigned)(sizeof both - 1) - (ctx->h2 ? 0 : 3);
    /* Offered but none of ours: carry on without ALPN (HTTP/1.1) rather than failing the
     * handshake. */
    if (SSL_select_next_proto((unsigned char **)out, outlen, ours, ourlen, in, inlen) !=
        OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK;
    return SSL_TLSEXT_ERR_OK;
}

static void log_fingerprint(const char *certfile, const char *keyfile, SSL_CTX *ssl, bool made)
{
    X509 *cert = SSL_CTX_get0_certificate(ssl);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    char hex[EVP_MAX_MD_SIZE * 3 + 1] = "";
    if (cert && X509_digest(cert, EVP_sha256(), md, &mdlen)) {
        for (unsigned i = 0; i < mdlen; i++)
            snprintf(hex + 3 * i, 4, i + 1 < mdlen ? "%02X:" : "%02X", md[i]);
    }
    log_info("%s certificate %s (key %s), SHA-256 fingerprint %s",
             made ? "generated self-signed" : "using", certfile, keyfile, hex);
}

/* kTLS needs the kernel's "tls" upper-layer protocol; without it OpenSSL silently falls back,
 * so tell the operator once. */
static bool kernel_has_ktls(void)
{
    char buf[256] = "";
    FILE *f = fopen("/proc/sys/net/ipv4/tcp_available_ulp", "re");
    if (f) {
        if (!fgets(buf, sizeof buf, f))
            buf[0] = 0;
        fclose(f);
    }
    for (char *tok = strtok(buf, " \n"); tok; tok = strtok(NULL, " \n"))
        if (strcmp(tok, "tls") == 0)
            return true;
    return false;
}

int tls_ctx_new(struct tls_ctx **out, const char *certfile, const char *keyfile, char *err,
                size_t errlen)
{
    bool made = false;
    if (!certfile) {
        certfile = "cert.pem";
        keyfile = "key.pem";
        if (access(certfile, F_OK) != 0 || access(keyfile, F_OK) != 0) {
            int e = tls_generate_cert(certfile, keyfile, err, errlen);
            if (e < 0)
                return e;
            made = true;
        }
    }
    struct tls_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx)
        return -ENOMEM;
    SSL_CTX *s = ctx->ssl = SSL_CTX_new(TLS_server_method());
    if (!s) {
        ssl_reason(err, errlen, "SSL_CTX_new");
        free(ctx);
        return -EPROTO;
    }
    SSL_CTX_set_min_proto_version(s, TLS1_2_VERSION);
    SSL_CTX_set_max_proto_version(s, TLS1_3_VERSION);
    SSL_CTX_set_options(s, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_RENEGOTIATION |
                               SSL_OP_NO_COMPRESSION | SSL_OP_IGNORE_UNEXPECTED_EOF);
    if (kernel_has_ktls()) {
        SSL_CTX_set_options(s, SSL_OP_ENABLE_KTLS); /* large files then go by SSL_sendfile */
    } else {
        ctx->bio = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "httpsd batch");
        if (!ctx->bio || !BIO_meth_set_write(ctx->bio, bio_write) ||
            !BIO_meth_set_read(ctx->bio, bio_read) || !BIO_meth_set_ctrl(ctx->bio, bio_ctrl) ||
            !BIO_meth_set_create(ctx->bio, bio_create)) {
            ssl_reason(err, errlen, "cannot create the socket BIO");
            goto fail;
        }
        log_info("kTLS unavailable (no 'tls' in /proc/sys/net/ipv4/tcp_available_ulp): files "
                 "over TLS are sent with pread + SSL_write in 16 KiB records");
    }
    /* Not SSL_MODE_RELEASE_BUFFERS: it frees and reallocates the ~17 KiB record buffers on
     * every read and write. The connection calls tls_release_buffers() when it goes idle
     * instead, which keeps idle connections just as small. */
    SSL_CTX_set_mode(s, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    /* Read whole socket buffers rather than a 5-byte header and then the record: one recv per
     * burst instead of two, and tls_read_drained() can tell when the socket is empty. */
    SSL_CTX_set_read_ahead(s, 1);
    SSL_CTX_set_session_cache_mode(s, SSL_SESS_CACHE_SERVER);
    SSL_CTX_set_session_id_context(s, (const unsigned char *)"httpsd", 6);
    SSL_CTX_set_num_tickets(s, 1);
    SSL_CTX_set_alpn_select_cb(s, alpn_select, ctx);
    if (!SSL_CTX_set_cipher_list(s, "ECDHE+AESGCM:ECDHE+CHACHA20") ||
        !SSL_CTX_set_ciphersuites(
            s, "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256") ||
        !SSL_CTX_set1_groups_list(s, "X25519:P-256:P-384")) {
        ssl_reason(err, errlen, "cannot configure ciphers");
        goto fail;
    }
    if (SSL_CTX_use_certificate_chain_file(s, certfile) != 1) {
        char what[512];
        snprintf(what, sizeof what, "cannot load certificate %s", certfile);
        ssl_reason(err, errlen, what);
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(s, keyfile, SSL_FILETYPE_PEM) != 1) {
        char what[512];
        snprintf(what, sizeof what, "cannot load key %s", keyfile);
        ssl_reason(err, errlen, what);
        goto fail;
    }
    if (SSL_CTX_check_private_key(s) != 1) {
        ssl_reason(err, errlen, "the key does not match the certificate");
        goto fail;
    }
    log_fingerprint(certfile, keyfile, s, made);
    *out = ctx;
    return 0;
fail:
    tls_ctx_free(ctx);
    return -EPROTO;
}

void tls_ctx_free(struct tls_ctx *ctx)
{
    if (!ctx)
        return;
    SSL_CTX_free(ctx->ssl);
    BIO_meth_free(ctx->bio);
    free(ctx);
}

struct tls_conn *tls_conn_new(struct tls_ctx *ctx, int fd)
{
    struct tls_conn *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->fd = fd;
    t->ssl = SSL_new(ctx->ssl);
    if (!t->ssl)
        goto fail;
    if (ctx->bio) {
        BIO *b = BIO_new(ctx->bio);
        if (!b)
            goto fail;
        BIO_set_data(b, t);
        SSL_set_bio(t->ssl, b, b); /* one reference for both directions */
    } else if (!SSL_set_fd(t->ssl, fd)) {
        goto fail;
    }
    SSL_set_accept_state(t->ssl);
    return t;
fail:
    SSL_free(t->ssl);
    free(t);
    return NULL;
}

void tls_conn_free(struct tls_conn *t)
{
    if (!t)
        return;
    SSL_free(t->ssl);
    free(t->w);
    free(t);
}

bool tls_has_unsent(const struct tls_conn *t)
{
    return t->wlen > t->woff;
}

int tls_flush(struct tls_conn *t)
{
    if (t->wlen == t->woff)
        return 0;
    int r = batch_flush(t);
    return r == 1 ? 0 : (r == 0 ? -EAGAIN : -errno);
}

/* Map an OpenSSL result to our convention and leave the error queue empty. */
static int result(SSL *ssl, int ret)
{
    int e = SSL_get_error(ssl, ret);
    switch (e) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE: return -EAGAIN;
    case SSL_ERROR_ZERO_RETURN: return 0;
    case SSL_ERROR_SYSCALL: {
        int err = errno;
        ERR_clear_error();
        return err == EPIPE || err == ECONNRESET ? -ECONNRESET : (err ? -err : -ECONNRESET);
    }
    default:
        if (log_enabled(LOG_DEBUG)) {
            char buf[256];
            ERR_error_string_n(ERR_peek_last_error(), buf, sizeof buf);
            log_debug("tls: %s", buf);
        }
        ERR_clear_error();
        return -EPROTO;
    }
}

int tls_handshake(struct tls_conn *t)
{
    SSL *ssl = t->ssl;
    int r = SSL_do_handshake(ssl);
    if (r == 1)
        return 0;
    r = result(ssl, r);
    return r == 0 ? -EPROTO : r;
}

ssize_t tls_read(struct tls_conn *t, void *buf, size_t n)
{
    SSL *ssl = t->ssl;
    size_t got = 0;
    int r = SSL_read_ex(ssl, buf, n, &got);
    if (r == 1)
        return (ssize_t)got;
    return result(ssl, r);
}

ssize_t tls_write(struct tls_conn *t, const void *buf, size_t n)
{
    SSL *ssl = t->ssl;
    size_t done = 0;
    int r = SSL_write_ex(ssl, buf, n, &done);
    if (r == 1)
        return (ssize_t)done;
    r = result(ssl, r);
    return r == 0 ? -ECONNRESET : r;
}

bool tls_can_sendfile(struct tls_conn *t)
{
    return BIO_get_ktls_send(SSL_get_wbio(t->ssl)) > 0;
}

ssize_t tls_sendfile(struct tls_conn *t, int fd, off_t off, size_t n)
{
    SSL *ssl = t->ssl;
    ossl_ssize_t r = SSL_sendfile(ssl, fd, off, n, 0);
    if (r > 0)
        return (ssize_t)r;
    int e = result(ssl, (int)r);
    return e == 0 ? -ECONNRESET : e;
}

bool tls_is_blocked(const struct tls_conn *t)
{
    return t->blocked && t->wlen > t->woff;
}

void tls_shrink(struct tls_conn *t)
{
    size_t unsent = t->wlen - t->woff;
    if (t->w && t->woff) {
        memmove(t->w, t->w + t->woff, unsent);
        t->wlen = unsent;
        t->woff = 0;
    }
    size_t cap = (unsent + 16383) & ~(size_t)16383;
    if (unsent == 0) {
        free(t->w);
        t->w = NULL;
        t->wcap = t->wlen = 0;
    } else if (cap < t->wcap) {
        char *w = realloc(t->w, cap);
        if (w) {
            t->w = w;
            t->wcap = cap;
        }
    }
    /* OpenSSL's record buffers: it allocates them again on the next read or write. */
    if (!SSL_has_pending(t->ssl))
        (void)SSL_free_buffers(t->ssl);
    ERR_clear_error();
}

void tls_release_buffers(struct tls_conn *t)
{
    if (t->wlen == t->woff) {
        free(t->w);
        t->woff = t->wlen = 0;
        t->w = NULL;
        t->wcap = 0;
    }
    /* fails harmlessly while a buffer still holds data */
    if (!SSL_free_buffers(t->ssl))
        ERR_clear_error();
}

bool tls_has_pending(struct tls_conn *t)
{
    /* any buffered record bytes, decrypted or not, complete or not */
    return SSL_has_pending(t->ssl) > 0;
}

bool tls_read_drained(struct tls_conn *t)
{
    /* (with kTLS the socket BIO is OpenSSL's own: never known to be drained) */
    return t->drained && SSL_has_pending(t->ssl) == 0;
}

void tls_close_notify(struct tls_conn *t)
{
    SSL *ssl = t->ssl;
    if (SSL_is_init_finished(ssl)) {
        (void)SSL_shutdown(ssl);
    }
    ERR_clear_error();
    if (tls_flush(t) < 0) /* best effort: the close_notify may sit in the batch */
        log_debug("tls: close_notify not sent at once");
}

bool tls_session_reused(struct tls_conn *t)
{
    return SSL_session_reused(t->ssl) == 1;
}

const char *tls_version(struct tls_conn *t)
{
    return SSL_get_version(t->ssl);
}
const char *tls_cipher(struct tls_conn *t)
{
    return SSL_get_cipher_name(t->ssl);
}

void tls_ctx_offer_h2(struct tls_ctx *ctx, bool on)
{
    ctx->h2 = on;
}

bool tls_alpn_h2(struct tls_conn *t)
{
    const unsigned char *p;
    unsigned n;
    SSL_get0_alpn_selected(t->ssl, &p, &n);
    return n == 2 && p[0] == 'h' && p[1] == '2';
}
