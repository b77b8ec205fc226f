/* Unit tests for the chunked-body decoder (src/chunked.h): RFC 9112 §7.1, strictly, fed whole
 * and split at every byte; inputs end right before a PROT_NONE page (guarded_copy). */
#include "harness.h"
#include "chunked.h"

#include <string.h>

#define MAX_BODY 1000
#define MAX_LINE 100
#define MAX_FIELDS 4

struct result {
    int status;  /* 0 done, else the -status returned, or 1 when it wanted more input */
    size_t used; /* bytes of the input up to the end of the body */
    char body[2048];
    size_t body_len;
};

/* Decode in in pieces of at most step bytes (0: whole). */
static struct result decode(const char *in, size_t n, size_t step)
{
    struct result res = {.status = 1};
    struct chunked ck;
    chunked_init(&ck, MAX_BODY, MAX_LINE, MAX_FIELDS);
    size_t pos = 0;
    while (pos < n) {
        size_t piece = step && n - pos > step ? step : n - pos;
        const char *p = guarded_copy(in + pos, piece);
        size_t off = 0;
        while (off < piece) {
            const char *at = NULL;
            size_t len = 0, used = 0;
            int r = chunked_parse(&ck, p + off, piece - off, &used, &at, &len);
            if (r < 0) {
                res.status = r;
                return res;
            }
            if (r == CHUNKED_DATA) {
                if (res.body_len + len <= sizeof res.body)
                    memcpy(res.body + res.body_len, at, len);
                res.body_len += len;
            }
            off += used;
            if (r == CHUNKED_DONE) {
                res.status = 0;
                res.used = pos + off;
                return res;
            }
            if (r == CHUNKED_MORE)
                break;
        }
        pos += piece;
    }
    return res;
}

/* Decoded whole and split at every byte, the outcome is the same. */
static void expect(const char *in, int status, const char *body)
{
    size_t n = strlen(in);
    for (size_t step = 0; step <= n; step++) {
        struct result r = decode(in, n, step);
        CHECK_EQ_INT(r.status, status);
        if (r.status != status) {
            fprintf(stderr, "    input %s, step %zu\n", in, step);
            return;
        }
        if (status == 0) {
            CHECK_EQ_INT(r.body_len, strlen(body));
            CHECK(r.body_len == strlen(body) && memcmp(r.body, body, r.body_len) == 0);
            CHECK_EQ_INT(r.used, n);
        }
    }
}

static void test_valid(void)
{
    expect("5\r\nhello\r\n0\r\n\r\n", 0, "hello");
    expect("0\r\n\r\n", 0, "");
    expect("3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n", 0, "abcde");
    expect("A\r\n0123456789\r\n0\r\n\r\n", 0, "0123456789");
    expect("a\r\n0123456789\r\n000\r\n\r\n", 0, "0123456789");
    expect("0005\r\nhello\r\n0\r\n\r\n", 0, "hello");
    /* chunk extensions, RFC 9112 §7.1.1, with the BWS it allows */
    expect("5;a=b\r\nhello\r\n0\r\n\r\n", 0, "hello");
    expect("5 ; a=b\r\nhello\r\n0\r\n\r\n", 0, "hello");
    expect("5\t;\ta\t=\tb\r\nhello\r\n0\r\n\r\n", 0, "hello");
    expect("5;a\r\nhello\r\n0\r\n\r\n", 0, "hello");
    expect("5;a;b=c;d\r\nhello\r\n0;last\r\n\r\n", 0, "hello");
    expect("5;a=\"b c\"\r\nhello\r\n0\r\n\r\n", 0, "hello");
    expect("5;a=\"b\\\"c\"\r\nhello\r\n0\r\n\r\n", 0, "hello");
    expect("5;a=\"\" ; b=c\r\nhello\r\n0\r\n\r\n", 0, "hello");
    /* trailers are checked and dropped */
    expect("5\r\nhello\r\n0\r\nX-T: v\r\n\r\n", 0, "hello");
    expect("5\r\nhello\r\n0\r\nX-T:\r\nY: a\tb c\r\n\r\n", 0, "hello");
}

static void test_body_at_limit(void)
{
    static char in[MAX_BODY + 64], body[MAX_BODY + 1];
    memset(body, 'x', MAX_BODY);
    int k = snprintf(in, sizeof in, "%x\r\n", MAX_BODY);
    memcpy(in + k, body, MAX_BODY);
    strcpy(in + k + MAX_BODY, "\r\n0\r\n\r\n");
    struct result r = decode(in, strlen(in), 0);
    CHECK_EQ_INT(r.status, 0);
    CHECK_EQ_INT(r.body_len, MAX_BODY);
    snprintf(in, sizeof in, "%x\r\n", MAX_BODY + 1);
    CHECK_EQ_INT(decode(in, strlen(in), 0).status, -413);
    /* two chunks that add up past it: refused at the second size line */
    snprintf(in, sizeof in, "%x\r\n", MAX_BODY);
    k = (int)strlen(in);
    memset(in + k, 'y', MAX_BODY);
    strcpy(in + k + MAX_BODY, "\r\n1\r\n");
    CHECK_EQ_INT(decode(in, strlen(in), 0).status, -413);
}

static void test_rejected(void)
{
    expect("\r\nhello\r\n0\r\n\r\n", -400, NULL);  /* no size */
    expect("x\r\nhello\r\n0\r\n\r\n", -400, NULL); /* not hex */
    expect("-5\r\nhello\r\n0\r\n\r\n", -400, NULL);
    expect("+5\r\nhello\r\n0\r\n\r\n", -400, NULL);
    expect("0x5\r\nhello\r\n0\r\n\r\n", -400, NULL);
    expect(" 5\r\nhello\r\n0\r\n\r\n", -400, NULL); /* whitespace before the size */
    expect("5 \r\nhello\r\n0\r\n\r\n", -400, NULL); /* BWS without an extension */
    expect("5\nhello\r\n0\r\n\r\n", -400, NULL);    /* bare LF */
    expect("5\rhello\r\n0\r\n\r\n", -400, NULL);    /* bare CR */
    expect("5\r\nhelloXX0\r\n\r\n", -400, NULL);    /* no CRLF after the data */
    expect("5\r\nhello\n0\r\n\r\n", -400, NULL);
    expect("5\r\nhello\r0\r\n\r\n", -400, NULL);
    expect("5;\r\nhello\r\n0\r\n\r\n", -400, NULL); /* ';' without a name */
    expect("5;=b\r\nhello\r\n0\r\n\r\n", -400, NULL);
    expect("5;a=\r\nhello\r\n0\r\n\r\n", -400, NULL); /* '=' without a value */
    expect("5;a b\r\nhello\r\n0\r\n\r\n", -400, NULL);
    expect("5;a=b c\r\nhello\r\n0\r\n\r\n", -400, NULL);
    expect("5;a=\"b\r\nhello\r\n0\r\n\r\n", -400, NULL); /* unterminated quote */
    expect("5;a=\"b\x01\"\r\nhello\r\n0\r\n\r\n", -400, NULL);
    expect("5;a=b \r\nhello\r\n0\r\n\r\n", -400, NULL);
    expect("5;a(b\r\nhello\r\n0\r\n\r\n", -400, NULL);
    expect("5\r\nhello\r\n0\r\n\n", -400, NULL); /* bare LF ends the trailers */
    expect("5\r\nhello\r\n0\r\n\r\r\n", -400, NULL);
    expect("5\r\nhello\r\n0\r\nX-T: v\n\r\n", -400, NULL);
    expect("5\r\nhello\r\n0\r\nX-T: a\rb\r\n\r\n", -400, NULL);
    expect("5\r\nhello\r\n0\r\nX-T: a\x01\r\n\r\n", -400, NULL);
    expect("5\r\nhello\r\n0\r\n X-T: v\r\n\r\n", -400, NULL); /* obs-fold */
    expect("5\r\nhello\r\n0\r\nX-T : v\r\n\r\n", -400, NULL);
    expect("5\r\nhello\r\n0\r\n: v\r\n\r\n", -400, NULL);
    expect("5\r\nhello\r\n0\r\nNoColon\r\n\r\n", -400, NULL);
    expect("5\r\nhello\r\n0\r\nContent-Length: 5\r\n\r\n", -400, NULL);
    expect("5\r\nhello\r\n0\r\ntransfer-encoding: chunked\r\n\r\n", -400, NULL);
    /* sizes that cannot be right */
    expect("ffffffffffffffff\r\n", -413, NULL);
    expect("10000000000000000000000\r\n", -413, NULL);
    expect("3e9\r\n", -413, NULL);
}

static void test_limits(void)
{
    char in[512];
    /* a size line over MAX_LINE: 400; a trailer line over it: 431 */
    snprintf(in, sizeof in, "5;a=%0*d\r\nhello\r\n0\r\n\r\n", MAX_LINE, 0);
    CHECK_EQ_INT(decode(in, strlen(in), 0).status, -400);
    snprintf(in, sizeof in,
             "000000000000000000000000000000000000000000000000000000000000000000000"
             "000000000000000000000000000000000005\r\nhello\r\n0\r\n\r\n");
    CHECK_EQ_INT(decode(in, strlen(in), 0).status, -400);
    snprintf(in, sizeof in, "5\r\nhello\r\n0\r\nX: %0*d\r\n\r\n", MAX_LINE, 0);
    CHECK_EQ_INT(decode(in, strlen(in), 0).status, -431);
    /* MAX_FIELDS trailer fields are fine, one more is 431 */
    const char *four = "0\r\na:1\r\nb:2\r\nc:3\r\nd:4\r\n\r\n";
    const char *five = "0\r\na:1\r\nb:2\r\nc:3\r\nd:4\r\ne:5\r\n\r\n";
    CHECK_EQ_INT(decode(four, strlen(four), 0).status, 0);
    CHECK_EQ_INT(decode(five, strlen(five), 0).status, -431);
}

static void test_stops_at_the_end_of_the_body(void)
{
    /* what follows the body (a pipelined request) is not consumed */
    const char *in = "5\r\nhello\r\n0\r\n\r\nGET / HTTP/1.1\r\n";
    struct result r = decode(in, strlen(in), 0);
    CHECK_EQ_INT(r.status, 0);
    CHECK_EQ_INT(r.used, strlen("5\r\nhello\r\n0\r\n\r\n"));
    /* incomplete: it asks for more, whatever the split */
    const char *part = "5\r\nhel";
    CHECK_EQ_INT(decode(part, strlen(part), 0).status, 1);
    CHECK_EQ_INT(decode(part, strlen(part), 1).status, 1);
}

int main(void)
{
    HARNESS_RUN(test_valid);
    HARNESS_RUN(test_body_at_limit);
    HARNESS_RUN(test_rejected);
    HARNESS_RUN(test_limits);
    HARNESS_RUN(test_stops_at_the_end_of_the_body);
    return HARNESS_DONE();
}
