/* http1: HTTP/1.1 on a connection, through llhttp (the only file that includes it).
 * Loop thread only. */
#ifndef HTTPSD_HTTP1_H
#define HTTPSD_HTTP1_H

#include <stdbool.h>
#include <stddef.h>

struct server;
struct tls_conn;
struct conn;

/* Make a connection speaking HTTP/1 on an accepted socket (tls may be NULL); it registers
 * itself with the server. 0 or -errno (fd and tls are then released by the caller). */
int http1_accept(struct server *srv, int fd, struct tls_conn *tls, const void *peer,
                 unsigned peer_len, bool proxy) __attribute__((warn_unused_result));
/* Graceful shutdown: close c now when idle, else after its current response. */
void http1_drain(struct conn *c);

/* For fuzzing and tests only: parse data as one connection's stream of requests with the
 * default limits and no static mounts. Returns the number of requests answered, or -status
 * when the stream was rejected. */
int http1_fuzz_parse(const char *data, size_t n);

#endif
