/* Unit tests for src/load/resp.c, the load client's response parser. Inputs sit right before a
 * PROT_NONE page (guarded_copy), so an over-read crashes even without ASan. */
#include "harness.h"
#include "resp.h"

struct result {
    int rc;      /* last return value */
    int status;  /* status of the last complete response */
    int done;    /* responses completed */
    bool keep;   /* keep_alive of the last one */
    size_t used; /* bytes consumed in all */
};

/* Feed s (as one read, or split into pieces of step bytes, carrying an incomplete head the way
 * the client does) and count the responses. */
static struct result feed(const char *s, bool head, size_t step)
{
    struct result res = {0, 0, 0, false, 0};
    struct resp r;
    resp_init(&r, head);
    size_t n = strlen(s);
    char carry[4096];
    size_t carried = 0, pos = 0;
    if (!step)
        step = n;
    while (pos < n) {
        size_t k = n - pos < step ? n - pos : step;
        memcpy(carry + carried, s + pos, k);
        pos += k;
        size_t len = carried + k, off = 0;
        const char *g = guarded_copy(carry, len);
        for (;;) {
            size_t used;
            res.rc = resp_feed(&r, g + off, len - off, &used);
            off += used;
            res.used += used;
            if (res.rc == RESP_ERR_MALFORMED)
                return res;
            if (res.rc == RESP_DONE) {
                res.done++;
                res.status = r.status;
                res.keep = r.keep_alive;
                resp_init(&r, head);
                if (off < len)
                    continue;
            }
            break;
        }
        memmove(carry, carry + off, len - off);
        carried = len - off;
    }
    if (resp_started(&r) && res.rc == RESP_MORE) {
        int e = resp_eof(&r);
        if (e == RESP_DONE) {
            res.done++;
            res.status = r.status;
            res.keep = r.keep_alive;
        }
        res.rc = e == RESP_DONE ? RESP_DONE : RESP_MORE;
    }
    return res;
}

/* The same verdict for one read and for every split into 1..7-byte reads. */
static void check_all_splits(const char *s, bool head, int want_done, int want_status,
                             bool want_error)
{
    for (size_t step = 0; step <= 7; step++) {
        struct result r = feed(s, head, step);
        if (want_error) {
            CHECK_EQ_INT(r.rc, RESP_ERR_MALFORMED);
        } else {
            CHECK_EQ_INT(r.rc == RESP_ERR_MALFORMED, 0);
            CHECK_EQ_INT(r.done, want_done);
            CHECK_EQ_INT(r.status, want_status);
        }
        if (harness_failed_checks)
            fprintf(stderr, "  input %s, step %zu\n", s, step);
    }
}

static void test_content_length(void)
{
    check_all_splits("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", false, 1, 200, false);
    struct result r = feed("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", false, 0);
    CHECK(r.keep);
    CHECK_EQ_INT(r.used, 43);
    /* empty body, no reason phrase */
    check_all_splits("HTTP/1.1 404\r\nContent-Length: 0\r\n\r\n", false, 1, 404, false);
    /* repeated identical Content-Length is allowed */
    check_all_splits("HTTP/1.1 200 OK\r\nContent-Length: 2\r\ncontent-length: 2\r\n\r\nok", false,
                     1, 200, false);
}

static void test_pipelined(void)
{
    check_all_splits("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
                     "HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\nno!"
                     "HTTP/1.1 500 Oops\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n",
                     false, 3, 500, false);
}

static void test_chunked(void)
{
    check_all_splits("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "5;name=value\r\nhello\r\nA\r\n0123456789\r\n0\r\nTrailer: x\r\n\r\n",
                     false, 1, 200, false);
    check_all_splits("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", false,
                     1, 200, false);
}

static void test_no_body(void)
{
    /* HEAD, 204 and 304 have no body whatever Content-Length says */
    check_all_splits("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n", true, 1, 200, false);
    check_all_splits("HTTP/1.1 204 No Content\r\nContent-Length: 7\r\n\r\n", false, 1, 204, false);
    check_all_splits("HTTP/1.1 304 Not Modified\r\nContent-Length: 7\r\n\r\n", false, 1, 304,
                     false);
}

static void test_interim(void)
{
    check_all_splits("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
                     "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n",
                     false, 1, 201, false);
    check_all_splits("HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n", false, 0, 0, true);
}

static void test_close_delimited_and_keepalive(void)
{
    struct result r = feed("HTTP/1.1 200 OK\r\n\r\nuntil the end", false, 0);
    CHECK_EQ_INT(r.done, 1);
    CHECK(!r.keep);
    r = feed("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", false, 0);
    CHECK_EQ_INT(r.done, 1);
    CHECK(!r.keep);
    r = feed("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", false, 0);
    CHECK(!r.keep);
    r = feed("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n", false, 0);
    CHECK(r.keep);
    r = feed("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nzzz", false, 0);
    CHECK_EQ_INT(r.done, 1);
    CHECK(!r.keep);
    /* a truncated body is not a response */
    struct resp p;
    size_t used;
    resp_init(&p, false);
    const char *t = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc";
    CHECK_EQ_INT(resp_feed(&p, t, strlen(t), &used), RESP_MORE);
    CHECK_EQ_INT(resp_eof(&p), RESP_ERR_MALFORMED);
    CHECK(resp_started(&p));
}

static void test_malformed(void)
{
    static const char *const bad[] = {
        "garbage\r\n\r\n",
        "HTTP/2 200 OK\r\n\r\n",
        "HTTP/1.2 200 OK\r\n\r\n",
        "HTTP/1.1 20 OK\r\n\r\n",
        "HTTP/1.1 2000 OK\r\n\r\n",
        "HTTP/1.1 099 Low\r\n\r\n",
        "HTTP/1.1 600 High\r\n\r\n",
        "HTTP/1.1 200 OK\nContent-Length: 0\n\n",                     /* bare LF */
        "HTTP/1.1 200 OK\r\nX: a\rb\r\nContent-Length: 0\r\n\r\n",    /* bare CR */
        "HTTP/1.1 200 OK\r\nX: a\r\n b\r\nContent-Length: 0\r\n\r\n", /* obs-fold */
        "HTTP/1.1 200 OK\r\nX : a\r\nContent-Length: 0\r\n\r\n",      /* space before : */
        "HTTP/1.1 200 OK\r\n: a\r\nContent-Length: 0\r\n\r\n",        /* empty name */
        "HTTP/1.1 200 OK\r\nX: a\001b\r\nContent-Length: 0\r\n\r\n",  /* control char */
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
        "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 1, 1\r\n\r\nx",
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nz\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffff\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n bad\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\nok\r\n0\r\n\r\n",
        "\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        check_all_splits(bad[i], false, 0, 0, true);
}

static void test_head_size_cap(void)
{
    static char big[RESP_MAX_HEAD + 64];
    strcpy(big, "HTTP/1.1 200 OK\r\nX: ");
    size_t n = strlen(big);
    memset(big + n, 'a', sizeof big - n - 1);
    big[sizeof big - 1] = 0;
    struct resp p;
    size_t used;
    resp_init(&p, false);
    CHECK_EQ_INT(resp_feed(&p, big, strlen(big), &used), RESP_ERR_MALFORMED);
    /* an incomplete head below the cap asks for more and consumes nothing */
    resp_init(&p, false);
    CHECK_EQ_INT(resp_feed(&p, big, 1000, &used), RESP_MORE);
    CHECK_EQ_INT(used, 0);
}

int main(void)
{
    HARNESS_RUN(test_content_length);
    HARNESS_RUN(test_pipelined);
    HARNESS_RUN(test_chunked);
    HARNESS_RUN(test_no_body);
    HARNESS_RUN(test_interim);
    HARNESS_RUN(test_close_delimited_and_keepalive);
    HARNESS_RUN(test_malformed);
    HARNESS_RUN(test_head_size_cap);
    return HARNESS_DONE();
}
