/* libFuzzer target: the command line parser (src/cfg.h).
 * The input is split on NUL bytes into argv (after "httpsd") for cfg_parse; the bytes up to
 * the first NUL also go to cfg_parse_bind / _size / _seconds / _static directly. */
#include "cfg.h"
#include "fuzz.h"

#include <errno.h>
#include <string.h>

#define MAX_ARGS 64

static void check_bind(const struct bind_spec *b)
{
    FUZZ_ASSERT(b->kind == BIND_TLS || b->kind == BIND_HTTP || b->kind == BIND_UNIX);
    if (b->kind == BIND_UNIX) {
        size_t n = strnlen(b->path, sizeof b->path);
        FUZZ_ASSERT(n > 0 && n < sizeof b->path);
        return;
    }
    FUZZ_ASSERT(strnlen(b->host, sizeof b->host) < sizeof b->host);
    size_t pn = strnlen(b->port, sizeof b->port);
    FUZZ_ASSERT(pn >= 1 && pn <= 5);
    unsigned long port = 0;
    for (size_t i = 0; i < pn; i++) {
        FUZZ_ASSERT(b->port[i] >= '0' && b->port[i] <= '9');
        port = port * 10 + (unsigned long)(b->port[i] - '0');
    }
    FUZZ_ASSERT(port <= 65535);
    for (const char *h = b->host; *h; h++)
        FUZZ_ASSERT((unsigned char)*h > ' ' && *h != '/' && (unsigned char)*h < 0x7f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* argv: a NUL-terminated copy of the whole input, cut at every NUL */
    char *copy = malloc(size + 1);
    if (!copy)
        return 0;
    if (size)
        memcpy(copy, data, size);
    copy[size] = 0;
    char *argv[MAX_ARGS + 2];
    int argc = 0;
    argv[argc++] = (char *)"httpsd";
    for (size_t i = 0; i < size && argc < MAX_ARGS + 1;) {
        argv[argc++] = copy + i;
        i += strlen(copy + i) + 1;
    }
    argv[argc] = NULL;

    struct cfg c;
    char err[128];
    memset(err, 'E', sizeof err);
    int r = cfg_parse(&c, argc, argv, err, sizeof err);
    FUZZ_ASSERT(memchr(err, 0, sizeof err) != NULL);
    if (r == 0) {
        FUZZ_ASSERT(err[0] == 0);
        FUZZ_ASSERT(c.nbinds >= 1);
        for (size_t i = 0; i < c.nbinds; i++)
            check_bind(&c.binds[i]);
        for (size_t i = 0; i < c.nmounts; i++) {
            FUZZ_ASSERT(c.mounts[i].prefix_len == strlen(c.mounts[i].prefix));
            FUZZ_ASSERT(c.mounts[i].dir && c.mounts[i].dir[0]);
        }
        FUZZ_ASSERT(c.limit_request_line >= 64 && c.limit_request_line <= 1 << 20);
        FUZZ_ASSERT(c.limit_request_fields >= 1 && c.limit_request_fields <= 10000);
        FUZZ_ASSERT(c.header_timeout_ms > 0 && c.keep_alive_ms >= 0);
        FUZZ_ASSERT((c.certfile == NULL) == (c.keyfile == NULL));
        FUZZ_ASSERT(c.static_max_age >= -1 && c.static_max_age <= 10LL * 365 * 86400);
    } else {
        FUZZ_ASSERT(r == -EINVAL || r == -ENOMEM);
        FUZZ_ASSERT(err[0] != 0);
    }
    cfg_free(&c);

    /* the raw first string, in an exact-size buffer */
    size_t n = strlen(copy);
    char *s = malloc(n + 1);
    if (s) {
        memcpy(s, copy, n + 1);
        struct bind_spec b;
        if (cfg_parse_bind(s, &b) == 0)
            check_bind(&b);
        uint64_t v;
        if (cfg_parse_size(s, &v) == 0)
            FUZZ_ASSERT(v <= UINT64_MAX >> 2);
        int64_t ms;
        if (cfg_parse_seconds(s, &ms) == 0)
            FUZZ_ASSERT(ms >= 0 && ms <= 366LL * 86400 * 1000);
        struct static_mount m;
        if (cfg_parse_static(s, &m) == 0) {
            FUZZ_ASSERT(m.prefix_len == strlen(m.prefix) && m.prefix_len < sizeof m.prefix);
            FUZZ_ASSERT(m.prefix_len == 0 ||
                        (m.prefix[0] == '/' && m.prefix[m.prefix_len - 1] != '/'));
            FUZZ_ASSERT(m.dir > s && m.dir <= s + n && m.dir[0]);
        }
        free(s);
    }
    free(copy);
    return 0;
}
