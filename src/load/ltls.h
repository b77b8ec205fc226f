/* ltls: the load client's TLS (OpenSSL 3). The only file of src/load that includes OpenSSL.
 * One context per process (created before fork, each worker then owns its copy); sessions are
 * driven on non-blocking sockets by one thread. */
#ifndef HTTPSD_LOAD_LTLS_H
#define HTTPSD_LOAD_LTLS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct ltls_ctx;
struct ltls_conn;

/* verify: check the chain against the system store (plus cafile when given) and the name.
 * resume: keep the newest session and offer it on every new connection. 0 or -EPROTO/-ENOMEM
 * with a one-line reason in err. */
int ltls_ctx_new(struct ltls_ctx **out, bool verify, const char *cafile, bool resume, char *err,
                 size_t errlen) __attribute__((warn_unused_result));
void ltls_ctx_free(struct ltls_ctx *ctx);

/* A client session on a connected non-blocking socket; host is the URL's host (SNI for a name,
 * and what the certificate must match). NULL on ENOMEM. */
struct ltls_conn *ltls_conn_new(struct ltls_ctx *ctx, int fd, const char *host);
/* Accepts NULL. Does not close fd. */
void ltls_conn_free(struct ltls_conn *t);
/* 0 done, -EAGAIN (see ltls_want_write), -EPROTO failed (reason from ltls_last_error). */
int ltls_handshake(struct ltls_conn *t) __attribute__((warn_unused_result));
/* The last -EAGAIN was for writing (else for reading). */
bool ltls_want_write(const struct ltls_conn *t);
/* >0 bytes, 0 peer closed (close_notify or EOF), -EAGAIN, -ECONNRESET or -EPROTO. */
ssize_t ltls_read(struct ltls_conn *t, void *buf, size_t n) __attribute__((warn_unused_result));
/* >0 bytes taken (partial writes on), -EAGAIN (retry with at least the same bytes), or < 0. */
ssize_t ltls_write(struct ltls_conn *t, const void *buf, size_t n)
    __attribute__((warn_unused_result));
/* Decrypted or raw record bytes wait inside OpenSSL. */
bool ltls_pending(const struct ltls_conn *t);
/* The handshake resumed a session. */
bool ltls_resumed(const struct ltls_conn *t);
/* The reason of the last failure in this process (certificate verification, alert...). */
const char *ltls_last_error(void);

#endif
