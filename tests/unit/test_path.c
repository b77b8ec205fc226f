/* Unit tests for path_normalize (src/path.h). */
#include "harness.h"
#include "path.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

#define CANARY 0xA5
#define SLACK 16

/* Run path_normalize on a guarded copy of in[0..n) into a fresh buffer of exactly outcap
 * bytes followed by canaries; checks that nothing is written past outcap and, on success, the
 * invariants every result must have. *res (if not NULL) gets a copy of the output. */
static int norm_n(const char *in, size_t n, size_t outcap, char *res, size_t rescap, size_t *reslen)
{
    const char *g = guarded_copy(in, n);
    unsigned char *out = malloc(outcap + SLACK);
    if (!out)
        abort();
    memset(out, CANARY, outcap + SLACK);
    size_t len = (size_t)-1;
    int r = path_normalize(g, n, (char *)out, outcap, &len);
    for (size_t i = outcap; i < outcap + SLACK; i++)
        if (out[i] != CANARY) {
            CHECK(out[i] == CANARY); /* path_normalize wrote past outcap */
            break;
        }
    if (r == 0) {
        CHECK(len < outcap);
        CHECK(len >= 1);
        if (len < outcap) {
            CHECK_EQ_INT(out[len], 0);
            CHECK_EQ_INT(strlen((char *)out), len);
            CHECK_EQ_INT(out[0], '/');
            CHECK(strstr((char *)out, "/../") == NULL);
            CHECK(strstr((char *)out, "/./") == NULL);
            CHECK(strstr((char *)out, "//") == NULL);
            CHECK(strchr((char *)out, '\\') == NULL);
            if (res && rescap) {
                size_t k = len < rescap - 1 ? len : rescap - 1;
                memcpy(res, out, k);
                res[k] = 0;
            }
        }
        if (reslen)
            *reslen = len;
    } else {
        CHECK(r == -EINVAL || r == -ENAMETOOLONG);
        if (res && rescap)
            res[0] = 0;
    }
    free(out);
    return r;
}

static char last[4096];

static int norm(const char *s)
{
    return norm_n(s, strlen(s), 4096, last, sizeof last, NULL);
}

/* Accepted, with this exact output. */
#define OK(in, expect)                                                                             \
    do {                                                                                           \
        CHECK_EQ_INT(norm(in), 0);                                                                 \
        CHECK_EQ_STR(last, expect);                                                                \
    } while (0)
#define BAD(in) CHECK_EQ_INT(norm(in), -EINVAL)

static void test_plain(void)
{
    OK("/", "/");
    OK("/index.html", "/index.html");
    OK("/a/b/c.css", "/a/b/c.css");
    OK("/a/b/", "/a/b/");
    OK("/static/img/logo.png", "/static/img/logo.png");
    OK("/a-b_c~d!$&'()*+,;=:@", "/a-b_c~d!$&'()*+,;=:@");
    OK("/caf\xc3\xa9", "/caf\xc3\xa9"); /* UTF-8 bytes pass through */
    OK("/\x80\xff", "/\x80\xff");
}

static void test_collapse(void)
{
    OK("//", "/");
    OK("///", "/");
    OK("//a", "/a");
    OK("/a//b", "/a/b");
    OK("/a///b////c", "/a/b/c");
    OK("/a//", "/a/");
    OK("////a////", "/a/");
}

static void test_percent(void)
{
    OK("/%41", "/A");
    OK("/%61%62%63", "/abc");
    OK("/a%20b", "/a b");
    OK("/%7e", "/~");
    OK("/%7E", "/~");
    OK("/%c3%a9", "/\xc3\xa9");
    OK("/%C3%A9", "/\xc3\xa9");
    /* decoded exactly once */
    OK("/%252e", "/%2e");
    OK("/%252e%252e", "/%2e%2e");
    OK("/%2541", "/%41");
    OK("/%252f", "/%2f");
    OK("/%25", "/%");
    OK("/%25/", "/%/");
    OK("/a%2ab", "/a*b");
    OK("/%3f", "/?");
    OK("/%23", "/#");
}

static void test_dot_segments(void)
{
    BAD("/.");
    BAD("/..");
    BAD("/./");
    BAD("/../");
    BAD("/a/.");
    BAD("/a/..");
    BAD("/a/./b");
    BAD("/a/../b");
    BAD("/../etc/passwd");
    BAD("/a/b/../../../etc/passwd");
    BAD("//..//");
    BAD("/a//.//b");
    /* encoded dots */
    BAD("/%2e");
    BAD("/%2E");
    BAD("/%2e%2e");
    BAD("/%2E%2E");
    BAD("/%2E.");
    BAD("/.%2e");
    BAD("/.%2E");
    BAD("/%2e./x");
    BAD("/a/%2e%2e/b");
    BAD("/a/%2e%2e");
    BAD("/a/%2e/b");
    BAD("/a/b/%2e%2e/");
    BAD("/%2e%2e/%2e%2e/etc/passwd");
}

static void test_dot_names_allowed(void)
{
    OK("/..foo", "/..foo");
    OK("/foo..", "/foo..");
    OK("/...", "/...");
    OK("/....", "/....");
    OK("/.hidden", "/.hidden");
    OK("/a/.well-known/x", "/a/.well-known/x");
    OK("/a.b/c.d", "/a.b/c.d");
    OK("/%2e%2e%2e", "/...");
    OK("/%2ehidden", "/.hidden");
    OK("/a/..b/", "/a/..b/");
    OK("/a/b./", "/a/b./");
}

static void test_encoded_slash_backslash(void)
{
    BAD("/%2f");
    BAD("/%2F");
    BAD("/a%2fb");
    BAD("/a%2Fb");
    BAD("/..%2f..%2fetc");
    BAD("/\\");
    BAD("/a\\b");
    BAD("/..\\..\\x");
    BAD("/%5c");
    BAD("/%5C");
    BAD("/a%5cb");
}

static void test_nul_control(void)
{
    BAD("/%00");
    BAD("/a%00.html");
    BAD("/%01");
    BAD("/%1f");
    BAD("/%1F");
    BAD("/%7f");
    BAD("/%0a");
    BAD("/%0d%0a");
    BAD("/a\tb");
    BAD("/a\nb");
    BAD("/a\rb");
    BAD("/\x01");
    BAD("/\x1f");
    BAD("/\x7f");
    /* a raw NUL inside the span */
    CHECK_EQ_INT(norm_n("/a\0b", 4, 64, NULL, 0, NULL), -EINVAL);
    CHECK_EQ_INT(norm_n("/\0", 2, 64, NULL, 0, NULL), -EINVAL);
}

static void test_bad_escapes(void)
{
    BAD("/%");
    BAD("/%4");
    BAD("/%zz");
    BAD("/%4g");
    BAD("/%g4");
    BAD("/a%");
    BAD("/a%a");
    BAD("/%%41");
    BAD("/% 41");
    BAD("/%-1");
    BAD("/%+1");
    BAD("/%x41");
    /* a truncated escape at the very end of the span, the rest lies beyond n */
    CHECK_EQ_INT(norm_n("/%41", 3, 64, NULL, 0, NULL), -EINVAL);
    CHECK_EQ_INT(norm_n("/%41", 2, 64, NULL, 0, NULL), -EINVAL);
    /* but the span end is honoured when the escape is complete */
    CHECK_EQ_INT(norm_n("/%41zz", 4, 64, last, sizeof last, NULL), 0);
    CHECK_EQ_STR(last, "/A");
}

static void test_not_absolute(void)
{
    BAD("");
    BAD("a");
    BAD("a/b");
    BAD(".");
    BAD("..");
    BAD("./a");
    BAD("%2f");
    BAD("%2fa");
    BAD("\\a");
    BAD("*");
    BAD("http://x/");
    CHECK_EQ_INT(norm_n("", 0, 64, NULL, 0, NULL), -EINVAL);
}

static void test_outcap(void)
{
    size_t len;
    /* "/abc" needs 5 bytes with the NUL */
    CHECK_EQ_INT(norm_n("/abc", 4, 5, last, sizeof last, &len), 0);
    CHECK_EQ_STR(last, "/abc");
    CHECK_EQ_INT(len, 4);
    CHECK_EQ_INT(norm_n("/abc", 4, 4, NULL, 0, NULL), -ENAMETOOLONG);
    CHECK_EQ_INT(norm_n("/abc", 4, 3, NULL, 0, NULL), -ENAMETOOLONG);
    /* decoding shrinks: "/%41%42" → "/AB" fits in 4 */
    CHECK_EQ_INT(norm_n("/%41%42", 7, 4, last, sizeof last, &len), 0);
    CHECK_EQ_STR(last, "/AB");
    CHECK_EQ_INT(len, 3);
    CHECK_EQ_INT(norm_n("/%41%42", 7, 3, NULL, 0, NULL), -ENAMETOOLONG);
    /* collapsing shrinks too */
    CHECK_EQ_INT(norm_n("//a//b", 6, 5, last, sizeof last, &len), 0);
    CHECK_EQ_STR(last, "/a/b");
    /* a trailing slash needs room as well */
    CHECK_EQ_INT(norm_n("/a/", 3, 4, last, sizeof last, &len), 0);
    CHECK_EQ_STR(last, "/a/");
    CHECK_EQ_INT(norm_n("/a/", 3, 3, NULL, 0, NULL), -ENAMETOOLONG);
    /* "/" alone fits in 2 */
    CHECK_EQ_INT(norm_n("/", 1, 2, last, sizeof last, &len), 0);
    CHECK_EQ_STR(last, "/");
    CHECK_EQ_INT(len, 1);
    /* a long path */
    char big[5000];
    big[0] = '/';
    memset(big + 1, 'x', sizeof big - 1);
    CHECK_EQ_INT(norm_n(big, sizeof big, 4096, NULL, 0, NULL), -ENAMETOOLONG);
    CHECK_EQ_INT(norm_n(big, sizeof big, sizeof big + 1, NULL, 0, &len), 0);
    CHECK_EQ_INT(len, sizeof big);
    CHECK_EQ_INT(norm_n(big, sizeof big, sizeof big, NULL, 0, NULL), -ENAMETOOLONG);
}

/* The header promises -ENAMETOOLONG "when out is too small"; for outcap 0 or 1 even "/"
 * cannot fit. Either error is a refusal; what matters is that nothing is written. */
static void test_tiny_outcap(void)
{
    int r = norm_n("/", 1, 1, NULL, 0, NULL);
    CHECK(r == -ENAMETOOLONG || r == -EINVAL);
    r = norm_n("/", 1, 0, NULL, 0, NULL);
    CHECK(r == -ENAMETOOLONG || r == -EINVAL);
}

static void test_query_not_special(void)
{
    /* the caller cuts at '?'; a '?' or '#' inside the span is just a byte */
    OK("/a?b", "/a?b");
    OK("/a#b", "/a#b");
}

/* xorshift64*: deterministic, seedable. */
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rng(void)
{
    uint64_t x = rng_state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng_state = x;
    return x * 0x2545F4914F6CDD1Dull;
}

/* Is there a "." or ".." segment in out[0..len)? */
static bool has_dot_segment(const char *out, size_t len)
{
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || out[i] == '/') {
            size_t k = i - start;
            if ((k == 1 && out[start] == '.') ||
                (k == 2 && out[start] == '.' && out[start + 1] == '.'))
                return true;
            start = i + 1;
        }
    }
    return false;
}

static void test_random_property(void)
{
    static const char alphabet[] = {'/', '.', '%', '2',  'e',  'E', 'f', 'F',
                                    '5', 'c', 'a', '\\', '\0', '0', '4', '1'};
    char in[40], out[48];
    unsigned ok = 0, inval = 0, toolong = 0, bad = 0;
    for (int iter = 0; iter < 100000; iter++) {
        size_t n = (size_t)(rng() % sizeof in);
        for (size_t i = 0; i < n; i++)
            in[i] = alphabet[rng() % sizeof alphabet];
        if (n && rng() % 4)
            in[0] = '/';
        size_t outcap = 1 + (size_t)(rng() % sizeof out);
        const char *g = guarded_copy(in, n);
        memset(out, CANARY, sizeof out);
        size_t len = (size_t)-1;
        int r = path_normalize(g, n, out, outcap, &len);
        for (size_t i = outcap; i < sizeof out; i++)
            if ((unsigned char)out[i] != CANARY) {
                bad++;
                break;
            }
        if (r == 0) {
            ok++;
            bool good = len < outcap && out[0] == '/' && out[len] == 0 &&
                        memchr(out, 0, len) == NULL && memchr(out, '\\', len) == NULL &&
                        !has_dot_segment(out, len) && strstr(out, "//") == NULL;
            if (!good) {
                bad++;
                if (bad < 5)
                    fprintf(stderr, "random: bad output for input of %zu bytes\n", n);
            }
        } else if (r == -EINVAL) {
            inval++;
        } else if (r == -ENAMETOOLONG) {
            toolong++;
        } else {
            bad++;
        }
    }
    CHECK_EQ_INT(bad, 0);
    /* the generator must reach every outcome */
    CHECK(ok > 1000);
    CHECK(inval > 1000);
    CHECK(toolong > 100);
}

int main(void)
{
    HARNESS_RUN(test_plain);
    HARNESS_RUN(test_collapse);
    HARNESS_RUN(test_percent);
    HARNESS_RUN(test_dot_segments);
    HARNESS_RUN(test_dot_names_allowed);
    HARNESS_RUN(test_encoded_slash_backslash);
    HARNESS_RUN(test_nul_control);
    HARNESS_RUN(test_bad_escapes);
    HARNESS_RUN(test_not_absolute);
    HARNESS_RUN(test_outcap);
    HARNESS_RUN(test_tiny_outcap);
    HARNESS_RUN(test_query_not_special);
    HARNESS_RUN(test_random_property);
    return HARNESS_DONE();
}
