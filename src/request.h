/* request/response: what the HTTP layer hands to handlers, free of llhttp. */
#ifndef HTTPSD_REQUEST_H
#define HTTPSD_REQUEST_H

#include "buf.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct req_header {
    struct span name, value;
};

/* A parsed request head. Every span borrows the connection's header buffer and is valid until
 * the response has been queued. */
struct request {
    struct span method;
    struct span target; /* as sent (origin-form; for absolute-form, the path and query part) */
    struct span path;   /* target before '?' */
    struct span query;  /* after '?', without it; empty when absent */
    struct span host;   /* Host header, or the authority of an absolute-form target */
    int version_minor;  /* HTTP/1.x */
    bool http2;         /* HTTP/2 (version_minor is then 1) */
    bool is_get, is_head;
    const struct req_header *headers;
    size_t nheaders;
};

/* The first header with this lowercase name, or an empty span with p == NULL. */
struct span request_header(const struct request *r, const char *lower_name);
/* RFC 9112 §3.2 / RFC 3986 §3.2.2: Host = uri-host [ ":" port ] (no userinfo). */
bool request_host_valid(struct span host);
/* Is r's target acceptable (origin-form or absolute-form whose authority is r->host; "*" for
 * OPTIONS alone; no fragment, no %00, no ".." above the root)? 0, or the status to answer. */
int request_check_target(const struct request *r, bool is_options);

#define RESPONSE_HDRS_MAX 1024

/* The head of a response (and a body given at once), as handlers fill it; see exchange.h. */
struct response {
    int status;
    const char *content_type; /* static string or NULL */
    int64_t content_length;   /* -1: none */
    const char *body;         /* inline body (borrowed), content_length bytes */
    int file_fd;              /* owned file body of content_length bytes from file_off; -1 */
    off_t file_off;
    bool close; /* force Connection: close */
    /* From an app: its own reason phrase (NULL: the standard one), its header lines (borrowed,
     * "Name: value\r\n" each, any length; not Content-Length, which is content_length), and
     * whether it set Server, Date, Strict-Transport-Security itself (the protocol's own are
     * then left out). */
    const char *reason;
    size_t reason_len;
    const char *lines;
    size_t lines_len;
    bool has_server, has_date, has_sts;
    size_t hdrs_len;
    char hdrs[RESPONSE_HDRS_MAX]; /* extra header lines, each "Name: value\r\n" */
};

static inline void response_init(struct response *res)
{
    res->status = 0;
    res->content_type = NULL;
    res->content_length = -1;
    res->body = NULL;
    res->file_fd = -1;
    res->file_off = 0;
    res->close = false;
    res->reason = NULL;
    res->lines = NULL;
    res->lines_len = 0;
    res->has_server = res->has_date = res->has_sts = false;
    res->hdrs_len = 0;
}

/* Append a header line; false when it does not fit (the header is dropped). */
/* Append "name: value\r\n" (value of vlen bytes); false when res->hdrs is full. */
bool response_add_header_n(struct response *res, const char *name, const char *value, size_t vlen);
static inline bool response_add_header_str(struct response *res, const char *name,
                                           const char *value)
{
    return response_add_header_n(res, name, value, strlen(value));
}
bool response_add_header(struct response *res, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* --hsts: "Strict-Transport-Security: max-age=N\r\n" into out (n >= 64); its length, or 0
 * (nothing written) when max_age < 0. */
size_t hsts_header_line(int64_t max_age, char *out, size_t n);
/* A short text/plain error page for status ("404 Not Found\n"). */
void response_error(struct response *res, int status);
/* "Not Found" for 404, ... ; "Unknown" for anything else. */
const char *http_reason(int status);

#endif
