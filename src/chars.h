/* chars: character classes of the HTTP grammar, shared by the parsers (http1, chunked, path,
 * the WSGI bridge). Pure, inline. */
#ifndef HTTPSD_CHARS_H
#define HTTPSD_CHARS_H

#include <stdbool.h>
#include <string.h>

/* RFC 9110 §5.6.2 token characters. */
static inline bool is_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* The value of a hex digit, or -1. */
static inline int hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

#endif
