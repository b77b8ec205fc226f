#include "chunked.h"

#include "chars.h"

#include <string.h>

enum {
    S_SIZE_START,  /* first hex digit of a chunk size */
    S_SIZE,        /* more hex digits, or what follows them */
    S_EXT_WS,      /* BWS before ';' */
    S_EXT_NAME0,   /* BWS after ';', then the extension's name */
    S_EXT_NAME,    /* in the name */
    S_EXT_NAME_WS, /* BWS after the name: '=' or ';' next */
    S_EXT_VAL0,    /* BWS after '=', then a token or a quoted-string */
    S_EXT_VAL,     /* in a token value */
    S_EXT_QUOTED,  /* in a quoted-string */
    S_EXT_QESC,    /* after a backslash in it */
    S_EXT_QEND,    /* after the closing quote */
    S_SIZE_LF,     /* CR seen at the end of the size line */
    S_DATA,        /* chunk data */
    S_DATA_CR,     /* the CRLF after chunk data */
    S_DATA_LF,
    S_TRAILER,  /* start of a trailer line (or of the final CRLF) */
    S_TR_NAME,  /* in a trailer field's name */
    S_TR_VALUE, /* after its ':' */
    S_TR_LF,    /* CR seen at the end of a trailer line */
    S_END_LF,   /* CR of the final CRLF seen */
    S_DEAD,
};

void chunked_init(struct chunked *ck, uint64_t max_body, uint32_t max_line, uint32_t max_fields)
{
    memset(ck, 0, sizeof *ck);
    ck->max_body = max_body;
    ck->max_line = max_line;
    ck->max_fields = max_fields;
    ck->state = S_SIZE_START;
}

static bool is_ws(unsigned char c)
{
    return c == ' ' || c == '\t';
}

/* qdtext (RFC 9110 §5.6.4): HTAB, SP, VCHAR but '"' and '\', obs-text */
static bool is_qdtext(unsigned char c)
{
    return c == '\t' || c == ' ' || c == 0x21 || (c >= 0x23 && c <= 0x5b) ||
           (c >= 0x5d && c <= 0x7e) || c >= 0x80;
}

/* A trailer field that would change how the message is framed: refused rather than
 * silently dropped (RFC 9110 §6.5.1 forbids them in trailers). */
static bool is_framing_name(const struct chunked *ck)
{
    static const char *const names[] = {"content-length", "transfer-encoding"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (ck->name_len == strlen(names[i]) && memcmp(ck->name, names[i], ck->name_len) == 0)
            return true;
    return false;
}

/* After a chunk size or an extension's value: another extension, BWS before one, or the end
 * of the line. 0 or -400. */
static int after_item(struct chunked *ck, unsigned char c)
{
    if (c == ';')
        ck->state = S_EXT_NAME0;
    else if (is_ws(c))
        ck->state = S_EXT_WS;
    else if (c == '\r')
        ck->state = S_SIZE_LF;
    else
        return -400;
    return 0;
}

/* One byte of a size line or a trailer line. 0 to go on, or -status. */
static int step(struct chunked *ck, unsigned char c)
{
    switch (ck->state) {
    case S_SIZE_START:
    case S_SIZE: {
        int d = hex_value(c);
        if (d >= 0) {
            if (ck->left > (UINT64_MAX >> 4))
                return -413;
            ck->left = ck->left * 16 + (uint64_t)d;
            if (ck->left > ck->max_body - ck->body) /* said now, before reading it */
                return -413;
            ck->state = S_SIZE;
            return 0;
        }
        return ck->state == S_SIZE_START ? -400 : after_item(ck, c);
    }
    case S_EXT_WS:
        if (c == ';')
            ck->state = S_EXT_NAME0;
        else if (!is_ws(c))
            return -400;
        return 0;
    case S_EXT_NAME0:
        if (is_tchar(c))
            ck->state = S_EXT_NAME;
        else if (!is_ws(c))
            return -400;
        return 0;
    case S_EXT_NAME:
    case S_EXT_NAME_WS:
        if (ck->state == S_EXT_NAME && is_tchar(c))
            return 0;
        if (c == '=')
            ck->state = S_EXT_VAL0;
        else if (c == ';')
            ck->state = S_EXT_NAME0;
        else if (is_ws(c))
            ck->state = S_EXT_NAME_WS;
        else if (c == '\r' && ck->state == S_EXT_NAME)
            ck->state = S_SIZE_LF;
        else
            return -400;
        return 0;
    case S_EXT_VAL0:
        if (c == '"')
            ck->state = S_EXT_QUOTED;
        else if (is_tchar(c))
            ck->state = S_EXT_VAL;
        else if (!is_ws(c))
            return -400;
        return 0;
    case S_EXT_VAL:
    case S_EXT_QEND:
        if (ck->state == S_EXT_VAL && is_tchar(c))
            return 0;
        return after_item(ck, c);
    case S_EXT_QUOTED:
        if (c == '"')
            ck->state = S_EXT_QEND;
        else if (c == '\\')
            ck->state = S_EXT_QESC;
        else if (!is_qdtext(c))
            return -400;
        return 0;
    case S_EXT_QESC: /* quoted-pair = "\" ( HTAB / SP / VCHAR / obs-text ) */
        if (!(c == '\t' || c == ' ' || (c >= 0x21 && c != 0x7f)))
            return -400;
        ck->state = S_EXT_QUOTED;
        return 0;
    case S_SIZE_LF:
        if (c != '\n')
            return -400;
        ck->line = 0;
        ck->state = ck->left ? S_DATA : S_TRAILER;
        return 0;
    case S_DATA_CR:
        if (c != '\r')
            return -400;
        ck->state = S_DATA_LF;
        return 0;
    case S_DATA_LF:
        if (c != '\n')
            return -400;
        ck->state = S_SIZE_START;
        ck->line = 0;
        return 0;
    case S_TRAILER:
        if (c == '\r') {
            ck->state = S_END_LF;
            return 0;
        }
        if (!is_tchar(c)) /* SP/HTAB here would be obs-fold; a bare LF is no line end */
            return -400;
        if (++ck->fields > ck->max_fields)
            return -431;
        ck->name_len = 0;
        ck->state = S_TR_NAME;
        __attribute__((fallthrough)); /* the byte is the name's first */
    case S_TR_NAME:
        if (c == ':') {
            if (is_framing_name(ck))
                return -400;
            ck->state = S_TR_VALUE;
            return 0;
        }
        if (!is_tchar(c))
            return -400;
        if (ck->name_len < sizeof ck->name)
            ck->name[ck->name_len] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
        if (ck->name_len < 255)
            ck->name_len++;
        return 0;
    case S_TR_VALUE: /* VCHAR, obs-text, SP, HTAB; no other control */
        if (c == '\r')
            ck->state = S_TR_LF;
        else if (c < 0x20 ? c != '\t' : c == 0x7f)
            return -400;
        return 0;
    case S_TR_LF:
        if (c != '\n')
            return -400;
        ck->line = 0;
        ck->state = S_TRAILER;
        return 0;
    default: return -400;
    }
}

int chunked_parse(struct chunked *ck, const char *p, size_t n, size_t *used, const char **data,
                  size_t *len)
{
    size_t i = 0;
    while (i < n) {
        if (ck->state == S_DEAD)
            break;
        if (ck->state == S_DATA) {
            size_t k = n - i < ck->left ? n - i : (size_t)ck->left;
            *data = p + i;
            *len = k;
            ck->left -= k;
            ck->body += k;
            if (ck->left == 0)
                ck->state = S_DATA_CR;
            *used = i + k;
            return CHUNKED_DATA;
        }
        if (ck->state == S_END_LF) {
            if (p[i] != '\n')
                break;
            ck->state = S_DEAD; /* done: nothing more belongs to this body */
            *used = i + 1;
            return CHUNKED_DONE;
        }
        bool in_trailer = ck->state >= S_TRAILER;
        if (ck->state != S_DATA_CR && ck->state != S_DATA_LF && ++ck->line > ck->max_line) {
            ck->state = S_DEAD;
            return in_trailer ? -431 : -400;
        }
        int r = step(ck, (unsigned char)p[i++]);
        if (r < 0) {
            ck->state = S_DEAD;
            return r;
        }
    }
    if (i < n) { /* a byte that is not LF after the final CR, or a dead decoder */
        ck->state = S_DEAD;
        return -400;
    }
    *used = n;
    return CHUNKED_MORE;
}
