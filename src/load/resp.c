#include "resp.h"

#include <string.h>

enum {
    S_HEAD,
    S_BODY_CL,
    S_BODY_CLOSE,
    S_CHUNK_SIZE,
    S_CHUNK_EXT,
    S_CHUNK_SIZE_LF,
    S_CHUNK_DATA,
    S_CHUNK_DATA_CR,
    S_CHUNK_DATA_LF,
    S_TRAILER,        /* at the start of a trailer line */
    S_TRAILER_LINE,   /* inside a trailer line */
    S_TRAILER_LF,     /* CR seen inside a trailer line */
    S_TRAILER_END_LF, /* CR seen at the start of a line: the last LF ends the message */
    S_DONE,
};

void resp_init(struct resp *r, bool head_request)
{
    memset(r, 0, sizeof *r);
    r->state = S_HEAD;
    r->head_request = head_request;
}

bool resp_started(const struct resp *r)
{
    return r->started;
}

/* RFC 9110 §5.6.2 tchar, as a bitmap of the 128 ASCII codes (a table beats strchr on the
 * hot path: every header name byte goes through here). */
static bool is_tchar(unsigned char c)
{
    static const uint64_t map[2] = {0x03ff6cfa00000000ull, 0x57ffffffc7fffffeull};
    return c < 128 && (map[c >> 6] >> (c & 63)) & 1;
}

/* field-vchar / SP / HTAB, obs-text allowed (RFC 9110 §5.5); CR, LF, NUL and other controls
 * are not. */
static bool is_value_char(unsigned char c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static bool eq_lower(const char *p, size_t n, const char *lower)
{
    size_t k = strlen(lower);
    if (n != k)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c >= 'A' && c <= 'Z')
            c = (unsigned char)(c + 32);
        if (c != (unsigned char)lower[i])
            return false;
    }
    return true;
}

/* Calls fn on each comma-separated, OWS-trimmed element of a list value; empty elements are
 * skipped (RFC 9110 §5.6.1). Returns the last element through last/lastn. */
static void list_last(const char *v, size_t n, const char **last, size_t *lastn, bool *has_close,
                      bool *has_keep_alive)
{
    size_t i = 0;
    *last = NULL;
    *lastn = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && v[j] != ',')
            j++;
        size_t a = i, b = j;
        while (a < b && (v[a] == ' ' || v[a] == '\t'))
            a++;
        while (b > a && (v[b - 1] == ' ' || v[b - 1] == '\t'))
            b--;
        if (b > a) {
            *last = v + a;
            *lastn = b - a;
            if (has_close && eq_lower(v + a, b - a, "close"))
                *has_close = true;
            if (has_keep_alive && eq_lower(v + a, b - a, "keep-alive"))
                *has_keep_alive = true;
        }
        i = j + 1;
    }
}

/* Parse a whole head p[0..n) ending in CRLF CRLF (bare LFs were refused while searching).
 * Sets status and the body framing. */
static int parse_head(struct resp *r, const char *p, size_t n)
{
    const unsigned char *u = (const unsigned char *)p;
    /* status-line = HTTP-version SP status-code SP [ reason-phrase ] (RFC 9112 §4); a missing
     * SP after the code is accepted, as clients are asked to be lenient about the reason. */
    if (n < 14 || memcmp(p, "HTTP/1.", 7) != 0 || (p[7] != '0' && p[7] != '1') || p[8] != ' ')
        return RESP_ERR_MALFORMED;
    bool http10 = p[7] == '0';
    for (int i = 9; i < 12; i++)
        if (u[i] < '0' || u[i] > '9')
            return RESP_ERR_MALFORMED;
    int status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
    if (status < 100 || status > 599)
        return RESP_ERR_MALFORMED;
    size_t i = 12;
    if (p[i] == ' ') {
        for (i++; p[i] != '\r'; i++)
            if (!is_value_char(u[i]))
                return RESP_ERR_MALFORMED;
    }
    if (p[i] != '\r' || p[i + 1] != '\n')
        return RESP_ERR_MALFORMED;
    i += 2;

    bool have_cl = false, have_te = false, te_chunked = false, close = false, keep = false;
    uint64_t cl = 0;
    for (;;) {
        if (p[i] == '\r') { /* the first empty line ends the head (the search found it) */
            if (p[i + 1] != '\n')
                return RESP_ERR_MALFORMED;
            break;
        }
        size_t name = i;
        while (is_tchar(u[i]))
            i++;
        size_t name_n = i - name;
        if (name_n == 0 || p[i] != ':') /* also refuses obs-fold and space before the colon */
            return RESP_ERR_MALFORMED;
        i++;
        size_t v = i;
        while (p[i] != '\r') {
            if (!is_value_char(u[i]))
                return RESP_ERR_MALFORMED;
            i++;
        }
        if (p[i + 1] != '\n') /* a bare CR (every CR is followed by a byte: the head ends in LF) */
            return RESP_ERR_MALFORMED;
        size_t ve = i;
        i += 2;
        while (v < ve && (p[v] == ' ' || p[v] == '\t'))
            v++;
        while (ve > v && (p[ve - 1] == ' ' || p[ve - 1] == '\t'))
            ve--;
        const char *pn = p + name, *pv = p + v;
        size_t vn = ve - v;
        /* the lengths first: most names are none of the three */
        if (name_n != 14 && name_n != 17 && name_n != 10)
            continue;
        if (eq_lower(pn, name_n, "content-length")) {
            /* 1*DIGIT; a repeat must carry the same value (RFC 9112 §6.3 item 5) */
            if (vn == 0 || vn > 18)
                return RESP_ERR_MALFORMED;
            uint64_t x = 0;
            for (size_t k = 0; k < vn; k++) {
                if (pv[k] < '0' || pv[k] > '9')
                    return RESP_ERR_MALFORMED;
                x = x * 10 + (uint64_t)(pv[k] - '0');
            }
            if (have_cl && x != cl)
                return RESP_ERR_MALFORMED;
            have_cl = true;
            cl = x;
        } else if (eq_lower(pn, name_n, "transfer-encoding")) {
            const char *last;
            size_t lastn;
            list_last(pv, vn, &last, &lastn, NULL, NULL);
            if (!last)
                return RESP_ERR_MALFORMED;
            have_te = true;
            te_chunked = eq_lower(last, lastn, "chunked");
        } else if (eq_lower(pn, name_n, "connection")) {
            const char *last;
            size_t lastn;
            bool c = false, k = false;
            list_last(pv, vn, &last, &lastn, &c, &k);
            if (c)
                close = true;
            if (k && http10)
                keep = true;
        }
    }
    (void)n;
    r->status = status;
    if (status >= 100 && status < 200)
        return status == 101 ? RESP_ERR_MALFORMED : RESP_MORE;
    /* HTTP/1.0 closes unless the server says keep-alive (RFC 9112 §9.3) */
    r->keep_alive = http10 ? keep && !close : !close;
    if (r->head_request || status == 204 || status == 304) {
        r->state = S_DONE;
        return RESP_DONE;
    }
    if (have_te) {
        if (have_cl) /* RFC 9112 §6.1: a sender must not send both; a smuggling sign */
            return RESP_ERR_MALFORMED;
        if (te_chunked) {
            r->chunked = true;
            r->state = S_CHUNK_SIZE;
            return RESP_MORE;
        }
        r->until_close = true; /* §6.3 item 4: not chunked last → read until close */
    } else if (have_cl) {
        r->left = cl;
        r->state = cl ? S_BODY_CL : S_DONE;
        return cl ? RESP_MORE : RESP_DONE;
    } else {
        r->until_close = true;
    }
    r->keep_alive = false;
    r->state = S_BODY_CLOSE;
    return RESP_MORE;
}

/* Search p[0..n) for the end of the head from where the last call stopped. Returns its length
 * (through the blank line), 0 when not there yet, or RESP_ERR_MALFORMED for a bare LF. */
static long find_head_end(struct resp *r, const char *p, size_t n)
{
    size_t i = r->scanned;
    const char *q;
    while (i < n && (q = memchr(p + i, '\n', n - i)) != NULL) {
        size_t at = (size_t)(q - p);
        if (at == 0 || p[at - 1] != '\r')
            return RESP_ERR_MALFORMED;
        if (at >= 3 && p[at - 2] == '\n')
            return (long)(at + 1);
        i = at + 1;
    }
    r->scanned = n;
    return 0;
}

static int feed_head(struct resp *r, const char *p, size_t n, size_t *used)
{
    *used = 0;
    for (;;) {
        long end = find_head_end(r, p + *used, n - *used);
        if (end < 0)
            return RESP_ERR_MALFORMED;
        if (end == 0) {
            if (n - *used > RESP_MAX_HEAD)
                return RESP_ERR_MALFORMED;
            /* Interim (1xx) heads before this point are consumed; keep the rest. */
            return RESP_MORE;
        }
        if ((size_t)end > RESP_MAX_HEAD)
            return RESP_ERR_MALFORMED;
        int rc = parse_head(r, p + *used, (size_t)end);
        *used += (size_t)end;
        if (rc != RESP_MORE || r->state != S_HEAD)
            return rc;
        /* a 1xx: the final response follows */
        r->scanned = 0;
        r->status = 0;
    }
}

int resp_feed(struct resp *r, const char *p, size_t n, size_t *used)
{
    size_t i = 0;
    *used = 0;
    if (n)
        r->started = true;
    if (r->state == S_HEAD) {
        int rc = feed_head(r, p, n, &i);
        if (rc != RESP_MORE || r->state == S_HEAD) {
            *used = i;
            return rc;
        }
    }
    while (i < n) {
        unsigned char c = (unsigned char)p[i];
        switch (r->state) {
        case S_BODY_CL: {
            size_t k = n - i < r->left ? n - i : (size_t)r->left;
            r->left -= k;
            i += k;
            if (!r->left)
                r->state = S_DONE;
            break;
        }
        case S_BODY_CLOSE: i = n; break;
        case S_CHUNK_SIZE: {
            int d = -1;
            if (c >= '0' && c <= '9')
                d = c - '0';
            else if (c >= 'a' && c <= 'f')
                d = c - 'a' + 10;
            else if (c >= 'A' && c <= 'F')
                d = c - 'A' + 10;
            if (d >= 0) {
                if (++r->hex > 15) /* 2^60 bytes: refuse before the size can overflow */
                    return RESP_ERR_MALFORMED;
                r->left = r->left * 16 + (uint64_t)d;
            } else if (!r->hex) {
                return RESP_ERR_MALFORMED;
            } else if (c == '\r') {
                r->state = S_CHUNK_SIZE_LF;
            } else if (c == ';' || c == ' ' || c == '\t') {
                r->state = S_CHUNK_EXT;
            } else {
                return RESP_ERR_MALFORMED;
            }
            i++;
            break;
        }
        case S_CHUNK_EXT:
            if (c == '\r')
                r->state = S_CHUNK_SIZE_LF;
            else if (!is_value_char(c))
                return RESP_ERR_MALFORMED;
            i++;
            break;
        case S_CHUNK_SIZE_LF:
            if (c != '\n')
                return RESP_ERR_MALFORMED;
            r->state = r->left ? S_CHUNK_DATA : S_TRAILER;
            r->hex = 0;
            i++;
            break;
        case S_CHUNK_DATA: {
            size_t k = n - i < r->left ? n - i : (size_t)r->left;
            r->left -= k;
            i += k;
            if (!r->left)
                r->state = S_CHUNK_DATA_CR;
            break;
        }
        case S_CHUNK_DATA_CR:
            if (c != '\r')
                return RESP_ERR_MALFORMED;
            r->state = S_CHUNK_DATA_LF;
            i++;
            break;
        case S_CHUNK_DATA_LF:
            if (c != '\n')
                return RESP_ERR_MALFORMED;
            r->state = S_CHUNK_SIZE;
            i++;
            break;
        case S_TRAILER:
            if (c == '\r')
                r->state = S_TRAILER_END_LF;
            else if (is_tchar(c))
                r->state = S_TRAILER_LINE;
            else /* obs-fold, a control, or a line without a name */
                return RESP_ERR_MALFORMED;
            i++;
            break;
        case S_TRAILER_LINE:
            if (c == '\r')
                r->state = S_TRAILER_LF;
            else if (!is_value_char(c))
                return RESP_ERR_MALFORMED;
            i++;
            break;
        case S_TRAILER_LF:
            if (c != '\n')
                return RESP_ERR_MALFORMED;
            r->state = S_TRAILER;
            i++;
            break;
        case S_TRAILER_END_LF:
            if (c != '\n')
                return RESP_ERR_MALFORMED;
            r->state = S_DONE;
            i++;
            break;
        default: return RESP_ERR_MALFORMED;
        }
        if (r->state == S_DONE)
            break;
    }
    *used = i;
    return r->state == S_DONE ? RESP_DONE : RESP_MORE;
}

int resp_eof(const struct resp *r)
{
    return r->state == S_BODY_CLOSE ? RESP_DONE : RESP_ERR_MALFORMED;
}
