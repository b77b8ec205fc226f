/* libFuzzer target: the PROXY protocol parser (src/proxy.h). The input is the first bytes of a
 * connection. Invariants: a header's length is within the input and its version's limit, and
 * its fields agree with its version and family; an error is one of the four codes; and a caller
 * that receives the bytes in pieces gets the same verdict: every cut of the input (each of the
 * first 160, then every 61st, and around the header's end) parses as "more" or as exactly what
 * the whole input gives. Each call sees an exact-size copy, so an over-read is an ASan report. */
#include "fuzz.h"
#include "proxy.h"

#include <arpa/inet.h>
#include <string.h>

static int parse_copy(const uint8_t *data, size_t n, struct proxy_info *out)
{
    unsigned char *p = calloc(1, n ? n : 1); /* (zeroed: gcc sees no write for n == 0) */
    if (!p)
        abort();
    if (n)
        memcpy(p, data, n);
    int r = proxy_parse(p, n, out);
    free(p);
    return r;
}

static void check_span(struct proxy_span s, int len)
{
    FUZZ_ASSERT(s.off == 0 ? s.len == 0 : s.off >= 16 && s.off + s.len <= (uint32_t)len);
}

static void check_cut(const uint8_t *data, size_t k, int whole)
{
    struct proxy_info info;
    int r = parse_copy(data, k, &info);
    FUZZ_ASSERT(r == 0 || r == whole);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct proxy_info info;
    memset(&info, 0, sizeof info);
    int r = parse_copy(data, size, &info);
    if (r > 0) {
        FUZZ_ASSERT((size_t)r <= size);
        FUZZ_ASSERT(info.version == 1 || info.version == 2);
        FUZZ_ASSERT(info.version == 1 ? r <= PROXY_V1_MAX && data[0] == 'P'
                                      : r >= 16 && r <= PROXY_V2_MAX && data[0] == '\r');
        if (info.version == 1)
            FUZZ_ASSERT(data[r - 2] == '\r' && data[r - 1] == '\n');
        if (info.local) {
            FUZZ_ASSERT(info.family == AF_UNSPEC);
            FUZZ_ASSERT(!info.tls && !info.crc32c && info.alpn.off == 0);
        } else {
            FUZZ_ASSERT(info.family == AF_INET || info.family == AF_INET6 ||
                        (info.family == AF_UNIX && info.version == 2));
            FUZZ_ASSERT(info.src.sa.sa_family == info.family);
            FUZZ_ASSERT(info.dst.sa.sa_family == info.family);
            if (info.family == AF_INET)
                FUZZ_ASSERT(info.src.in4.sin_port == htons(info.src_port) &&
                            info.dst.in4.sin_port == htons(info.dst_port));
            if (info.family == AF_INET6)
                FUZZ_ASSERT(info.src.in6.sin6_port == htons(info.src_port) &&
                            info.dst.in6.sin6_port == htons(info.dst_port));
        }
        check_span(info.alpn, r);
        check_span(info.authority, r);
        check_span(info.unique_id, r);
        FUZZ_ASSERT(info.unique_id.len <= 128);
        /* more bytes after the header change nothing */
        uint8_t *more = malloc((size_t)r + 1);
        if (!more)
            abort();
        memcpy(more, data, (size_t)r);
        more[r] = 'G';
        struct proxy_info again;
        FUZZ_ASSERT(proxy_parse(more, (size_t)r + 1, &again) == r);
        free(more);
    } else {
        FUZZ_ASSERT(r == 0 || r == PROXY_ENOTPROXY || r == PROXY_EMALFORMED ||
                    r == PROXY_ETOOLONG || r == PROXY_EUNSUPPORTED);
        FUZZ_ASSERT(strlen(proxy_strerror(r)) > 0);
    }
    /* the same verdict in pieces: every cut is "more" or the final answer */
    for (size_t k = 0; k < size; k += k < 160 ? 1 : 61)
        check_cut(data, k, r);
    if (r > 0) { /* one byte short of the header is "more"; the header alone is all of it */
        check_cut(data, (size_t)r - 1, 0);
        FUZZ_ASSERT(parse_copy(data, (size_t)r, &info) == r);
    }
    return 0;
}
