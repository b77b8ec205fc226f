#include "proxy.h"

#include <arpa/inet.h>
#include <string.h>

/* The v1 signature: "PROXY" and its one space. */
static const char v1_sig[] = "PROXY ";
#define V1_SIG_LEN (sizeof v1_sig - 1)
#define V2_SIG_LEN 12
#define V2_HDR_LEN 16 /* signature, version/command, family/protocol, length */

/* v2 TLV types (proxy-protocol.txt §2.2) and the bit of PP2_TYPE_SSL's client field. */
enum {
    PP2_TYPE_ALPN = 0x01,
    PP2_TYPE_AUTHORITY = 0x02,
    PP2_TYPE_CRC32C = 0x03,
    PP2_TYPE_UNIQUE_ID = 0x05,
    PP2_TYPE_SSL = 0x20,
    PP2_CLIENT_SSL = 0x01,
    PP2_UNIQUE_ID_MAX = 128,
};

const char *proxy_strerror(int r)
{
    switch (r) {
    case PROXY_ENOTPROXY: return "not a PROXY protocol header";
    case PROXY_EMALFORMED: return "malformed PROXY protocol header";
    case PROXY_ETOOLONG: return "PROXY protocol header too long";
    case PROXY_EUNSUPPORTED: return "unsupported PROXY protocol version, command or family";
    case 0: return "incomplete PROXY protocol header";
    default: return r > 0 ? "ok" : "unknown PROXY protocol error";
    }
}

/* ---- version 1 ---------------------------------------------------------------------------- */

static bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

/* A decimal number from 0 to max, with no sign and no leading zero (proxy-protocol.txt §2.1:
 * "heading zeroes are not permitted"). With complete false, s may be cut short: true when some
 * continuation could still make it valid. */
static bool is_decimal(const unsigned char *s, size_t n, unsigned max, bool complete)
{
    if (n == 0)
        return !complete;
    if (n > 1 && s[0] == '0')
        return false;
    unsigned v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!is_digit(s[i]))
            return false;
        v = v * 10 + (unsigned)(s[i] - '0');
        if (v > max)
            return false;
    }
    return true;
}

/* Dotted-decimal IPv4, strictly: four numbers 0-255 without leading zeros. Incomplete: a
 * prefix of one. Complete, *a gets the address. */
static bool v1_ipv4(const unsigned char *s, size_t n, bool complete, struct in_addr *a)
{
    size_t start = 0, dots = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && s[i] != '.')
            continue;
        bool last = i == n;
        if (last ? !is_decimal(s + start, i - start, 255, complete) || (complete && dots != 3)
                 : i == start || !is_decimal(s + start, i - start, 255, true) || ++dots > 3)
            return false;
        start = i + 1;
    }
    if (!complete)
        return true;
    char buf[16];
    if (n >= sizeof buf)
        return false;
    memcpy(buf, s, n);
    buf[n] = 0;
    return inet_pton(AF_INET, buf, a) == 1; /* agrees with the above; a second opinion */
}

/* IPv6 as inet_pton reads it. Incomplete: only characters it could take, no ":::", and no
 * longer than its longest form (45: six groups of four and a dotted quad). */
static bool v1_ipv6(const unsigned char *s, size_t n, bool complete, struct in6_addr *a)
{
    char buf[46];
    if (n >= sizeof buf)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = s[i];
        if (!(is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':' ||
              c == '.'))
            return false;
        if (i >= 2 && c == ':' && s[i - 1] == ':' && s[i - 2] == ':')
            return false;
    }
    if (!complete)
        return true;
    memcpy(buf, s, n);
    buf[n] = 0;
    return inet_pton(AF_INET6, buf, a) == 1;
}

static bool is_prefix_of(const unsigned char *s, size_t n, const char *word)
{
    return n <= strlen(word) && memcmp(s, word, n) == 0;
}

/* Check the line p[V1_SIG_LEN .. n) that follows "PROXY ". complete: it is the whole line
 * (CRLF excluded), so it must be exactly valid, and *out is filled; otherwise it is all that
 * arrived yet, and must be a prefix of a valid line. The same walk serves both, so that an
 * error seen early is the error seen late. */
static bool v1_line(const unsigned char *p, size_t n, bool complete, struct proxy_info *out)
{
    size_t pos = V1_SIG_LEN;
    size_t end = pos;
    while (end < n && p[end] != ' ')
        end++;
    bool more = end < n; /* the protocol token is followed by a space */
    size_t len = end - pos;
    if (!more && !complete) /* still in the token */
        return is_prefix_of(p + pos, len, "TCP4") || is_prefix_of(p + pos, len, "TCP6") ||
               is_prefix_of(p + pos, len, "UNKNOWN");
    if (len == 7 && memcmp(p + pos, "UNKNOWN", 7) == 0) {
        /* the rest is ignored (§2.1), but it is text */
        for (size_t i = end; i < n; i++)
            if (p[i] < 0x20 || p[i] > 0x7e)
                return false;
        if (complete) {
            memset(out, 0, sizeof *out);
            out->version = 1;
            out->local = true;
            out->family = AF_UNSPEC;
        }
        return true;
    }
    int family;
    if (len == 4 && memcmp(p + pos, "TCP4", 4) == 0)
        family = AF_INET;
    else if (len == 4 && memcmp(p + pos, "TCP6", 4) == 0)
        family = AF_INET6;
    else
        return false;
    if (!more) /* complete, and nothing after "TCP4" */
        return false;

    /* four fields, each after exactly one space: src dst sport dport */
    union proxy_addr src, dst;
    unsigned ports[2] = {0, 0};
    memset(&src, 0, sizeof src);
    memset(&dst, 0, sizeof dst);
    for (int field = 0; field < 4; field++) {
        if (end == n) /* a complete line that ends before this field (only then: an
                         incomplete one returned at its last, partial field) */
            return false;
        pos = end + 1; /* past the space */
        end = pos;
        while (end < n && p[end] != ' ')
            end++;
        /* the field is whole when a space follows it, or when it ends a complete line */
        bool whole = end < n || complete;
        if (field == 3 && end < n) /* a fifth field */
            return false;
        const unsigned char *s = p + pos;
        len = end - pos;
        bool ok;
        if (field < 2) {
            union proxy_addr *a = field == 0 ? &src : &dst;
            if (whole && len == 0)
                return false;
            ok = family == AF_INET ? v1_ipv4(s, len, whole, &a->in4.sin_addr)
                                   : v1_ipv6(s, len, whole, &a->in6.sin6_addr);
        } else {
            ok = is_decimal(s, len, 65535, whole);
            if (ok && whole)
                for (size_t i = 0; i < len; i++)
                    ports[field - 2] = ports[field - 2] * 10 + (unsigned)(s[i] - '0');
        }
        if (!ok)
            return false;
        if (!whole)
            return true;
    }
    if (!complete)
        return true;
    memset(out, 0, sizeof *out);
    out->version = 1;
    out->family = family;
    out->src = src;
    out->dst = dst;
    out->src_port = (uint16_t)ports[0];
    out->dst_port = (uint16_t)ports[1];
    if (family == AF_INET) {
        out->src.in4.sin_family = out->dst.in4.sin_family = AF_INET;
        out->src.in4.sin_port = htons(out->src_port);
        out->dst.in4.sin_port = htons(out->dst_port);
    } else {
        out->src.in6.sin6_family = out->dst.in6.sin6_family = AF_INET6;
        out->src.in6.sin6_port = htons(out->src_port);
        out->dst.in6.sin6_port = htons(out->dst_port);
    }
    return true;
}

/* p starts with "PROXY " (or a prefix of it, checked by the caller). Only the first 107
 * bytes matter: the line must end within them. */
static int parse_v1(const unsigned char *p, size_t n, struct proxy_info *out)
{
    size_t lim = n < PROXY_V1_MAX ? n : PROXY_V1_MAX;
    size_t e = V1_SIG_LEN;
    while (e < lim && p[e] != '\r' && p[e] != '\n')
        e++;
    if (e < lim && p[e] == '\n') /* a bare LF is no line end (§2.1) */
        return PROXY_EMALFORMED;
    if (e + 1 < lim) { /* CR, and a byte after it */
        if (p[e + 1] != '\n')
            return PROXY_EMALFORMED;
        return v1_line(p, e, true, out) ? (int)(e + 2) : PROXY_EMALFORMED;
    }
    if (e < lim && lim < PROXY_V1_MAX) {
        /* a CR last, its LF not here yet: the line must be whole already */
        struct proxy_info scratch;
        return v1_line(p, e, true, &scratch) ? 0 : PROXY_EMALFORMED;
    }
    /* No CR yet: what came must be the start of a line, and room must be left for the CRLF
     * (a CR as the 107th byte leaves none for its LF). */
    if (!v1_line(p, e, false, NULL))
        return PROXY_EMALFORMED;
    return lim == PROXY_V1_MAX ? PROXY_ETOOLONG : 0;
}

/* ---- version 2 ---------------------------------------------------------------------------- */

/* CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), as RFC 4960 appendix B and
 * proxy-protocol.txt §2.2.3 use it; a nibble table: the header is at most PROXY_V2_MAX
 * bytes, so speed hardly matters. */
static uint32_t crc32c_update(uint32_t crc, const unsigned char *p, size_t n)
{
    static const uint32_t t[16] = {
        0x00000000, 0x105ec76f, 0x20bd8ede, 0x30e349b1, 0x417b1dbc, 0x5125dad3,
        0x61c69362, 0x7198540d, 0x82f63b78, 0x92a8fc17, 0xa24bb5a6, 0xb21572c9,
        0xc38d26c4, 0xd3d3e1ab, 0xe330a81a, 0xf36e6f75,
    };
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        crc = (crc >> 4) ^ t[crc & 15];
        crc = (crc >> 4) ^ t[crc & 15];
    }
    return crc;
}

static unsigned get16(const unsigned char *p)
{
    return (unsigned)p[0] << 8 | p[1];
}

/* State of a walk over the TLVs. Spans are offsets from base, the header's first byte. */
struct tlv_walk {
    const unsigned char *base;
    size_t avail; /* bytes of the header received so far: only they are looked at */
    struct proxy_info *info;
    size_t crc_off; /* offset of the CRC32C value, 0 when none */
    bool seen_ssl;
};

static bool on_tlv(struct tlv_walk *w, unsigned type, size_t off, size_t len);

/* Walk the TLVs of base[off .. end): each is a type, a 16-bit length and a value, and the last
 * must end exactly at end. Each TLV whose type and length have arrived is checked (by on_tlv
 * when top is set); false on the first that is refused. */
static bool walk_tlvs(struct tlv_walk *w, size_t off, size_t end, bool top)
{
    while (off < end) {
        if (end - off < 3)
            return false;
        if (w->avail < off + 3)
            return true; /* not here yet */
        size_t len = get16(w->base + off + 1);
        if (len > end - off - 3)
            return false;
        if (top && !on_tlv(w, w->base[off], off + 3, len))
            return false;
        off += 3 + len;
    }
    return true;
}

static bool set_span(struct proxy_span *s, size_t off, size_t len)
{
    if (s->off) /* the same TLV twice: which one would count is anyone's guess */
        return false;
    s->off = (uint32_t)off;
    s->len = (uint32_t)len;
    return true;
}

/* One top-level TLV, its value at base[off .. off + len) (maybe not all arrived yet). */
static bool on_tlv(struct tlv_walk *w, unsigned type, size_t off, size_t len)
{
    struct proxy_info *info = w->info;
    switch (type) {
    case PP2_TYPE_ALPN: return set_span(&info->alpn, off, len);
    case PP2_TYPE_AUTHORITY: return set_span(&info->authority, off, len);
    case PP2_TYPE_UNIQUE_ID:
        return len <= PP2_UNIQUE_ID_MAX && set_span(&info->unique_id, off, len);
    case PP2_TYPE_CRC32C:
        if (len != 4 || w->crc_off)
            return false;
        w->crc_off = off;
        return true;
    case PP2_TYPE_SSL:
        /* client (1 byte), verify (4), then sub-TLVs, which must be well-formed too */
        if (len < 5 || w->seen_ssl)
            return false;
        w->seen_ssl = true;
        if (off < w->avail)
            info->tls = (w->base[off] & PP2_CLIENT_SSL) != 0;
        return walk_tlvs(w, off + 5, off + len, false);
    default: return true; /* NOOP, NETNS, custom, experimental: skipped */
    }
}

static int parse_v2(const unsigned char *p, size_t n, struct proxy_info *out)
{
    if (n <= V2_SIG_LEN)
        return 0;
    if (p[12] >> 4 != 2)
        return PROXY_EUNSUPPORTED;
    unsigned cmd = p[12] & 15;
    if (cmd > 1) /* only LOCAL (0) and PROXY (1) exist */
        return PROXY_EMALFORMED;
    if (n == 13)
        return 0;
    unsigned fam = p[13] >> 4, proto = p[13] & 15;
    if (fam > 3 || proto > 2) /* "must be rejected as invalid" (§2.2) */
        return PROXY_EMALFORMED;
    static const size_t addr_len[4] = {0, 12, 36, 216}; /* UNSPEC, INET, INET6, UNIX */
    if (cmd == 1 && (fam == 0 || proto != 1))
        return PROXY_EUNSUPPORTED; /* no address we can use, or not a stream */
    if (n < V2_HDR_LEN)
        return 0;
    size_t total = V2_HDR_LEN + get16(p + 14);
    if (total > PROXY_V2_MAX)
        return PROXY_ETOOLONG;
    if (cmd == 1 && total - V2_HDR_LEN < addr_len[fam])
        return PROXY_EMALFORMED;

    struct proxy_info info;
    memset(&info, 0, sizeof info);
    info.version = 2;
    if (cmd == 0) {
        /* LOCAL: "must use the real connection endpoints and discard the protocol block
         * including the family" (§2.2); so its contents are not looked at. */
        if (n < total)
            return 0;
        info.local = true;
        info.family = AF_UNSPEC;
        *out = info;
        return (int)total;
    }
    /* the TLVs that have arrived are judged now, so a doomed header is refused early */
    struct tlv_walk w = {.base = p, .avail = n < total ? n : total, .info = &info};
    if (!walk_tlvs(&w, V2_HDR_LEN + addr_len[fam], total, true))
        return PROXY_EMALFORMED;
    if (n < total)
        return 0;
    if (w.crc_off) {
        /* §2.2.3: the CRC of the whole header with the value's 4 bytes taken as zero */
        static const unsigned char zero[4];
        uint32_t crc = crc32c_update(0xffffffff, p, w.crc_off);
        crc = crc32c_update(crc, zero, 4);
        crc = crc32c_update(crc, p + w.crc_off + 4, total - w.crc_off - 4);
        crc ^= 0xffffffff;
        uint32_t sent = (uint32_t)get16(p + w.crc_off) << 16 | get16(p + w.crc_off + 2);
        if (crc != sent)
            return PROXY_EMALFORMED;
        info.crc32c = true;
    }

    const unsigned char *a = p + V2_HDR_LEN;
    if (fam == 1) {
        info.family = AF_INET;
        info.src.in4.sin_family = info.dst.in4.sin_family = AF_INET;
        memcpy(&info.src.in4.sin_addr, a, 4);
        memcpy(&info.dst.in4.sin_addr, a + 4, 4);
        memcpy(&info.src.in4.sin_port, a + 8, 2);
        memcpy(&info.dst.in4.sin_port, a + 10, 2);
        info.src_port = (uint16_t)get16(a + 8);
        info.dst_port = (uint16_t)get16(a + 10);
    } else if (fam == 2) {
        info.family = AF_INET6;
        info.src.in6.sin6_family = info.dst.in6.sin6_family = AF_INET6;
        memcpy(&info.src.in6.sin6_addr, a, 16);
        memcpy(&info.dst.in6.sin6_addr, a + 16, 16);
        memcpy(&info.src.in6.sin6_port, a + 32, 2);
        memcpy(&info.dst.in6.sin6_port, a + 34, 2);
        info.src_port = (uint16_t)get16(a + 32);
        info.dst_port = (uint16_t)get16(a + 34);
    } else {
        info.family = AF_UNIX; /* the paths are not kept */
        info.src.sa.sa_family = info.dst.sa.sa_family = AF_UNIX;
    }
    *out = info;
    return (int)total;
}

/* ---- either ------------------------------------------------------------------------------- */

int proxy_parse(const unsigned char *p, size_t n, struct proxy_info *out)
{
    if (n == 0)
        return 0;
    /* The first byte tells which signature to hold the rest to ('P' or CR); any byte that
     * departs from it means this is no PROXY header at all. */
    const char *sig = p[0] == 'P' ? v1_sig : PROXY_V2_SIG;
    size_t sig_len = p[0] == 'P' ? V1_SIG_LEN : V2_SIG_LEN;
    size_t k = n < sig_len ? n : sig_len;
    if (memcmp(p, sig, k) != 0)
        return PROXY_ENOTPROXY;
    if (n < sig_len)
        return 0;
    return p[0] == 'P' ? parse_v1(p, n, out) : parse_v2(p, n, out);
}
