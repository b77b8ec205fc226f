/* tls: OpenSSL 3 glue. The only file that includes OpenSSL headers.
 * Loop thread only (a context may be shared read-only across threads). */
#ifndef HTTPSD_TLS_H
#define HTTPSD_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct tls_ctx;
struct tls_conn;

/* Build the server context from certfile/keyfile, or — both NULL — from ./cert.pem and
 * ./key.pem, generating them first when either is missing. Logs the files and the SHA-256
 * fingerprint. Returns 0 or -errno/-EPROTO with a one-line reason in err. */
int tls_ctx_new(struct tls_ctx **out, const char *certfile, const char *keyfile, char *err,
                size_t errlen) __attribute__((warn_unused_result));
void tls_ctx_free(struct tls_ctx *ctx);
/* Whether ALPN offers h2 besides http/1.1 (--http2; off until called). */
void tls_ctx_offer_h2(struct tls_ctx *ctx, bool on);
/* Whether the handshake chose h2. */
bool tls_alpn_h2(struct tls_conn *t);

/* Generate a P-256 key and a self-signed certificate for localhost (SAN DNS:localhost,
 * IP:127.0.0.1, IP:::1, one year) into the two files (key mode 0600). 0 or negative. */
int tls_generate_cert(const char *certfile, const char *keyfile, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* A server-side TLS session on a connected non-blocking socket; NULL on ENOMEM. */
struct tls_conn *tls_conn_new(struct tls_ctx *ctx, int fd);
void tls_conn_free(struct tls_conn *t);
/* Drive the handshake: 0 done, -EAGAIN wait for I/O, -EPROTO failed. */
int tls_handshake(struct tls_conn *t) __attribute__((warn_unused_result));
/* Read plaintext: >0 bytes, 0 peer closed, -EAGAIN, or -EPROTO/-ECONNRESET. */
ssize_t tls_read(struct tls_conn *t, void *buf, size_t n) __attribute__((warn_unused_result));
/* Write plaintext: >0 bytes taken, -EAGAIN (retry later with the same or longer data), or
 * another negative error. */
ssize_t tls_write(struct tls_conn *t, const void *buf, size_t n)
    __attribute__((warn_unused_result));
/* Free the record buffers of an idle session (they come back on the next read or write). */
void tls_release_buffers(struct tls_conn *t);
/* Records wait in the batch for the socket. */
bool tls_has_unsent(const struct tls_conn *t);
/* The socket would not take the last batch: ciphertext waits for the client. */
bool tls_is_blocked(const struct tls_conn *t);
/* A connection waiting on a slow client: hold no more memory than the unsent ciphertext
 * (the batch shrinks to it, OpenSSL's record buffers are freed until the next read/write). */
void tls_shrink(struct tls_conn *t);
/* Write out the records batched for the socket: 0 done, -EAGAIN (wait for EPOLLOUT, then call
 * again), or another negative error. Call when the plaintext queue is empty. */
int tls_flush(struct tls_conn *t) __attribute__((warn_unused_result));
/* The kernel holds the send keys (kTLS): tls_sendfile may be used. */
bool tls_can_sendfile(struct tls_conn *t);
/* SSL_sendfile: >0 bytes sent, -EAGAIN, or another negative error. Only after all queued
 * plaintext has been written. */
ssize_t tls_sendfile(struct tls_conn *t, int fd, off_t off, size_t n)
    __attribute__((warn_unused_result));
/* Record bytes (decrypted or not) buffered inside OpenSSL. With read-ahead, none left after a
 * read that returned less than asked means the last recv emptied the socket. */
bool tls_has_pending(struct tls_conn *t);
/* Whether the socket was found empty by the last read and nothing is buffered: a new edge
 * comes with new bytes. (A short SSL_read alone does not say so: OpenSSL's read-ahead
 * buffer may have ended at a record boundary while the socket still held more.) */
bool tls_read_drained(struct tls_conn *t);
/* Send close_notify (best effort, non-blocking). */
void tls_close_notify(struct tls_conn *t);
/* Protocol and cipher names for debug logs. */
/* The handshake resumed a session (a ticket or the cache) rather than a full one. */
bool tls_session_reused(struct tls_conn *t);
const char *tls_version(struct tls_conn *t);
const char *tls_cipher(struct tls_conn *t);

#endif
