/* response: building the head of a response a handler answers with (request.h): extra header
 * lines, error pages, reason phrases, the HSTS line. */
#include "request.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

bool response_add_header_n(struct response *res, const char *name, const char *value, size_t vlen)
{
    size_t nlen = strlen(name);
    size_t room = sizeof res->hdrs - res->hdrs_len;
    if (nlen + vlen + 4 > room)
        return false;
    char *w = res->hdrs + res->hdrs_len;
    memcpy(w, name, nlen);
    memcpy(w + nlen, ": ", 2);
    memcpy(w + nlen + 2, value, vlen);
    memcpy(w + nlen + 2 + vlen, "\r\n", 2);
    res->hdrs_len += nlen + vlen + 4;
    return true;
}

bool response_add_header(struct response *res, const char *name, const char *fmt, ...)
{
    size_t room = sizeof res->hdrs - res->hdrs_len;
    int n = snprintf(res->hdrs + res->hdrs_len, room, "%s: ", name);
    if (n < 0 || (size_t)n >= room)
        return false;
    size_t len = (size_t)n;
    va_list ap;
    va_start(ap, fmt);
    n = vsnprintf(res->hdrs + res->hdrs_len + len, room - len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n + 2 >= room - len)
        return false;
    len += (size_t)n;
    memcpy(res->hdrs + res->hdrs_len + len, "\r\n", 2);
    res->hdrs_len += len + 2;
    return true;
}

const char *http_reason(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 304: return "Not Modified";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 416: return "Range Not Satisfiable";
    case 417: return "Expectation Failed";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
    }
}

size_t hsts_header_line(int64_t max_age, char *out, size_t n)
{
    if (max_age < 0)
        return 0;
    int k = snprintf(out, n, "Strict-Transport-Security: max-age=%lld\r\n", (long long)max_age);
    return k > 0 && (size_t)k < n ? (size_t)k : 0;
}

void response_error(struct response *res, int status)
{
    /* One static page per status, so the body outlives the call. */
    static __thread char page[64];
    res->status = status;
    res->content_type = "text/plain; charset=utf-8";
    int n = snprintf(page, sizeof page, "%d %s\n", status, http_reason(status));
    res->body = page;
    res->content_length = n;
}
