/* http2: HTTP/2 (RFC 9113) on a connection, through libnghttp2 (the only file that includes
 * it). Each stream is an exchange (exchange.h) answered by the handler the router picks, as
 * on HTTP/1.1. Loop thread only. */
#ifndef HTTPSD_HTTP2_H
#define HTTPSD_HTTP2_H

#include <stdbool.h>
#include <stddef.h>

struct conn;

/* Make c speak HTTP/2 from now on: after a TLS handshake that chose h2 (data NULL), or on a
 * plain connection whose first bytes are the client preface (--h2c; data: the bytes read so
 * far, preface included). The protocol c was accepted with has released its state (its
 * on_free ran). 0, or -1 when c was aborted. */
int http2_start(struct conn *c, const char *data, size_t n);

/* Whether data (the first bytes of a plain connection) is, or may still become, the HTTP/2
 * client preface: 1 it is (all 24 bytes), 0 it may be (a prefix), -1 it is not. */
int http2_is_preface(const char *data, size_t n);

/* For fuzzing: run data as what a client sends after the preface on one plain HTTP/2
 * connection, with the default limits and a static mount /s (a.txt, 27 bytes; big.bin, 40000);
 * the server's frames are dropped (the client always reads). Returns the number of streams
 * answered whole, or -1 when the connection was closed. */
int http2_fuzz_session(const char *data, size_t n);

#endif
