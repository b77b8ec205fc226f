/* Unit tests for struct buf and struct span helpers (src/buf.h). */
#include "harness.h"
#include "buf.h"

#include <errno.h>

static void test_empty(void)
{
    struct buf b = {0};
    CHECK_EQ_INT(buf_size(&b), 0);
    buf_free(&b); /* accepts an empty buffer */
    CHECK(b.p == NULL);
    buf_consume(&b, 0);
    CHECK_EQ_INT(buf_size(&b), 0);
}

static void test_reserve_commit_consume(void)
{
    struct buf b = {0};
    char *w = buf_reserve(&b, 5, 0);
    CHECK(w != NULL);
    if (!w)
        return;
    CHECK(b.cap >= 5);
    memcpy(w, "hello", 5);
    buf_commit(&b, 5);
    CHECK_EQ_INT(buf_size(&b), 5);
    CHECK(memcmp(buf_data(&b), "hello", 5) == 0);

    /* reserve with room available: no reallocation, pointer right after the data */
    char *p0 = b.p;
    w = buf_reserve(&b, 3, 0);
    CHECK(w == b.p + 5);
    CHECK(b.p == p0);
    memcpy(w, "abc", 3);
    buf_commit(&b, 3);
    CHECK_EQ_INT(buf_size(&b), 8);
    CHECK(memcmp(buf_data(&b), "helloabc", 8) == 0);

    buf_consume(&b, 2);
    CHECK_EQ_INT(buf_size(&b), 6);
    CHECK(memcmp(buf_data(&b), "lloabc", 6) == 0);
    buf_consume(&b, 6);
    CHECK_EQ_INT(buf_size(&b), 0);
    CHECK_EQ_INT(b.off, 0); /* emptied: offsets reset */
    CHECK_EQ_INT(b.len, 0);
    CHECK(b.p != NULL); /* keeps its memory */
    size_t cap = b.cap;
    CHECK(cap > 0);

    /* consuming more than there is empties the buffer */
    CHECK_EQ_INT(buf_append(&b, "xyz", 3), 0);
    buf_consume(&b, 100);
    CHECK_EQ_INT(buf_size(&b), 0);
    CHECK_EQ_INT(b.cap, cap);

    /* buf_reset */
    CHECK_EQ_INT(buf_append(&b, "xyz", 3), 0);
    buf_reset(&b);
    CHECK_EQ_INT(buf_size(&b), 0);
    CHECK_EQ_INT(b.cap, cap);

    buf_free(&b);
    CHECK(b.p == NULL);
    CHECK_EQ_INT(b.cap, 0);
    CHECK_EQ_INT(b.len, 0);
    CHECK_EQ_INT(b.off, 0);
    /* reusable after free */
    CHECK_EQ_INT(buf_append(&b, "again", 5), 0);
    CHECK(memcmp(buf_data(&b), "again", 5) == 0);
    buf_free(&b);
}

static void test_compaction(void)
{
    struct buf b = {0};
    char *w = buf_reserve(&b, 10, 0);
    CHECK(w != NULL);
    if (!w)
        return;
    size_t cap = b.cap;
    /* fill to capacity with a known pattern */
    w = buf_reserve(&b, cap, 0);
    CHECK(w != NULL);
    if (!w)
        return;
    for (size_t i = 0; i < cap; i++)
        w[i] = (char)('a' + i % 26);
    buf_commit(&b, cap);
    CHECK_EQ_INT(buf_size(&b), cap);
    char *p0 = b.p;
    /* consume most, then ask for space that only fits after compaction */
    size_t drop = cap - 4;
    buf_consume(&b, drop);
    CHECK_EQ_INT(buf_size(&b), 4);
    w = buf_reserve(&b, cap - 4, 0);
    CHECK(w != NULL);
    if (!w)
        return;
    CHECK_EQ_INT(b.cap, cap); /* did not grow */
    CHECK(b.p == p0);
    CHECK_EQ_INT(b.off, 0); /* compacted */
    CHECK_EQ_INT(b.len, 4);
    CHECK(w == b.p + 4);
    for (size_t i = 0; i < 4; i++)
        CHECK_EQ_INT(buf_data(&b)[i], 'a' + (drop + i) % 26);
    memset(w, '!', cap - 4);
    buf_commit(&b, cap - 4);
    CHECK_EQ_INT(buf_size(&b), cap);

    /* compaction then growth keeps the data too */
    buf_consume(&b, 2);
    w = buf_reserve(&b, cap, 0);
    CHECK(w != NULL);
    if (!w)
        return;
    CHECK(b.cap >= (cap - 2) + cap);
    CHECK_EQ_INT(b.off, 0);
    CHECK_EQ_INT(buf_size(&b), cap - 2);
    CHECK_EQ_INT(buf_data(&b)[0], 'a' + (drop + 2) % 26);
    CHECK_EQ_INT(buf_data(&b)[cap - 3], '!');
    buf_free(&b);
}

static void test_growth(void)
{
    struct buf b = {0};
    /* append one byte at a time well past several doublings */
    for (int i = 0; i < 100000; i++) {
        char c = (char)('0' + i % 10);
        CHECK_EQ_INT(buf_append(&b, &c, 1), 0);
    }
    CHECK_EQ_INT(buf_size(&b), 100000);
    int good = 1;
    for (int i = 0; i < 100000; i++)
        if (buf_data(&b)[i] != (char)('0' + i % 10))
            good = 0;
    CHECK(good);
    buf_free(&b);

    /* a single large reservation */
    char *w = buf_reserve(&b, 1u << 20, 0);
    CHECK(w != NULL);
    CHECK(b.cap >= 1u << 20);
    buf_free(&b);

    /* zero-length append: fine on a buffer that has memory ... */
    CHECK_EQ_INT(buf_append(&b, "x", 1), 0);
    CHECK_EQ_INT(buf_append(&b, "", 0), 0);
    CHECK_EQ_INT(buf_size(&b), 1);
    buf_free(&b);
    /* ... but on a fresh one buf_reserve(b, 0, 0) returns b->p + 0 == NULL, so it fails */
    CHECK_MSG(buf_append(&b, "", 0) == 0,
              "buf_append(&empty, \"\", 0) returns -ENOMEM (buf_reserve(&empty, 0, 0) is NULL)");
    CHECK_EQ_INT(buf_size(&b), 0);
    buf_free(&b);

    /* absurd size: NULL, buffer unchanged */
    CHECK_EQ_INT(buf_append(&b, "ab", 2), 0);
    w = buf_reserve(&b, SIZE_MAX - 1, 0);
    CHECK(w == NULL);
    CHECK_EQ_INT(buf_size(&b), 2);
    CHECK(memcmp(buf_data(&b), "ab", 2) == 0);
    buf_free(&b);
}

static void test_max_cap(void)
{
    struct buf b = {0};
    char *w = buf_reserve(&b, 100, 100);
    CHECK(w != NULL); /* exactly max */
    if (!w)
        return;
    CHECK(b.cap <= 100); /* the allocation is clipped to max */
    CHECK(b.cap >= 100);
    memset(w, 'x', 100);
    buf_commit(&b, 100);
    CHECK(buf_reserve(&b, 1, 100) == NULL); /* would exceed */
    CHECK_EQ_INT(buf_size(&b), 100);

    buf_consume(&b, 40);
    w = buf_reserve(&b, 40, 100); /* 60 + 40 = 100: fits after compaction */
    CHECK(w != NULL);
    CHECK(buf_reserve(&b, 41, 100) == NULL);
    CHECK(buf_reserve(&b, 41, 0) != NULL); /* no cap */
    buf_free(&b);

    /* max smaller than the default first allocation */
    w = buf_reserve(&b, 10, 16);
    CHECK(w != NULL);
    CHECK(b.cap >= 10 && b.cap <= 16);
    CHECK(buf_reserve(&b, 17, 16) == NULL);
    CHECK(buf_reserve(&b, SIZE_MAX, 16) == NULL);
    buf_free(&b);

    /* already over max (filled without a cap) */
    CHECK_EQ_INT(buf_append(&b, "0123456789", 10), 0);
    CHECK(buf_reserve(&b, 0, 5) == NULL);
    CHECK(buf_reserve(&b, 1, 5) == NULL);
    CHECK(buf_reserve(&b, 1, 11) != NULL);
    CHECK(buf_reserve(&b, 2, 11) == NULL);
    buf_free(&b);
}

static void test_printf(void)
{
    struct buf b = {0};
    CHECK_EQ_INT(buf_printf(&b, "%s %d", "a", 1), 0);
    CHECK_EQ_INT(buf_size(&b), 3);
    CHECK(memcmp(buf_data(&b), "a 1", 3) == 0);
    CHECK_EQ_INT(buf_printf(&b, "%s", ""), 0);
    CHECK_EQ_INT(buf_size(&b), 3);

    /* growth past the initial capacity in one call */
    char big[5000];
    memset(big, 'q', sizeof big - 1);
    big[sizeof big - 1] = 0;
    CHECK_EQ_INT(buf_printf(&b, "[%s]", big), 0);
    CHECK_EQ_INT(buf_size(&b), 3 + 2 + sizeof big - 1);
    CHECK_EQ_INT(buf_data(&b)[3], '[');
    CHECK_EQ_INT(buf_data(&b)[3 + sizeof big], ']');
    CHECK(memcmp(buf_data(&b), "a 1[qqq", 7) == 0);

    /* many small appends */
    buf_reset(&b);
    for (int i = 0; i < 1000; i++)
        CHECK_EQ_INT(buf_printf(&b, "%04d,", i), 0);
    CHECK_EQ_INT(buf_size(&b), 5000);
    CHECK(memcmp(buf_data(&b), "0000,0001,", 10) == 0);
    CHECK(memcmp(buf_data(&b) + 4995, "0999,", 5) == 0);

    /* printf after consume: exactly filling the remaining room */
    buf_free(&b);
    CHECK_EQ_INT(buf_append(&b, "xxxxxxxx", 8), 0);
    buf_consume(&b, 4);
    size_t room = b.cap - b.len;
    char fill[1024];
    CHECK(room < sizeof fill);
    if (room < sizeof fill) {
        memset(fill, 'f', room);
        fill[room] = 0; /* room bytes + NUL do not fit: must grow or compact */
        CHECK_EQ_INT(buf_printf(&b, "%s", fill), 0);
        CHECK_EQ_INT(buf_size(&b), 4 + room);
        CHECK(memcmp(buf_data(&b), "xxxxf", 5) == 0);
        CHECK_EQ_INT(buf_data(&b)[4 + room - 1], 'f');
    }
    buf_free(&b);
}

static void test_span_eq_lower(void)
{
    CHECK(span_eq_lower(SPAN_LIT("content-length"), "content-length"));
    CHECK(span_eq_lower(SPAN_LIT("Content-Length"), "content-length"));
    CHECK(span_eq_lower(SPAN_LIT("CONTENT-LENGTH"), "content-length"));
    CHECK(!span_eq_lower(SPAN_LIT("Content-Lengt"), "content-length"));
    CHECK(!span_eq_lower(SPAN_LIT("Content-Lengthx"), "content-length"));
    CHECK(!span_eq_lower(SPAN_LIT("Content_Length"), "content-length"));
    CHECK(span_eq_lower(SPAN_LIT(""), ""));
    CHECK(!span_eq_lower(SPAN_LIT("a"), ""));
    CHECK(!span_eq_lower(SPAN_LIT(""), "a"));
    /* only ASCII letters fold: '[' (0x5b) is not '{' (0x7b), 0xC9 is not 0xE9 */
    CHECK(!span_eq_lower(SPAN_LIT("["), "{"));
    CHECK(!span_eq_lower(SPAN_LIT("@"), "`"));
    CHECK(!span_eq_lower(SPAN_LIT("\xc9"), "\xe9"));
    /* the span is not NUL-terminated: guarded, length-bounded */
    const char *g = guarded_copy("Host", 4);
    CHECK(span_eq_lower((struct span){g, 4}, "host"));
    CHECK(!span_eq_lower((struct span){g, 3}, "host"));
    CHECK(span_eq_lower((struct span){g, 3}, "hos"));
    /* a NUL inside the span */
    CHECK(!span_eq_lower((struct span){"ho\0t", 4}, "ho"));
}

static int span_is(struct span s, const char *want)
{
    return s.n == strlen(want) && memcmp(s.p, want, s.n) == 0;
}

static void test_span_trim(void)
{
    CHECK(span_is(span_trim(SPAN_LIT("abc")), "abc"));
    CHECK(span_is(span_trim(SPAN_LIT("  abc")), "abc"));
    CHECK(span_is(span_trim(SPAN_LIT("abc  ")), "abc"));
    CHECK(span_is(span_trim(SPAN_LIT(" \t abc \t ")), "abc"));
    CHECK(span_is(span_trim(SPAN_LIT("a b")), "a b"));
    CHECK(span_is(span_trim(SPAN_LIT(" a \t b ")), "a \t b"));
    CHECK(span_is(span_trim(SPAN_LIT("")), ""));
    CHECK(span_is(span_trim(SPAN_LIT("   ")), ""));
    CHECK(span_is(span_trim(SPAN_LIT("\t\t")), ""));
    /* only SP and HTAB */
    CHECK(span_is(span_trim(SPAN_LIT("\r\nabc\r\n")), "\r\nabc\r\n"));
    CHECK(span_is(span_trim(SPAN_LIT("\vabc\f")), "\vabc\f"));
    /* the result points into the original */
    struct span in = SPAN_LIT("  x ");
    struct span out = span_trim(in);
    CHECK(out.p == in.p + 2);
    CHECK_EQ_INT(out.n, 1);
    /* guarded, not NUL-terminated */
    const char *g = guarded_copy(" v ", 3);
    out = span_trim((struct span){g, 3});
    CHECK(out.p == g + 1);
    CHECK_EQ_INT(out.n, 1);
    out = span_trim((struct span){g, 0});
    CHECK_EQ_INT(out.n, 0);
}

int main(void)
{
    HARNESS_RUN(test_empty);
    HARNESS_RUN(test_reserve_commit_consume);
    HARNESS_RUN(test_compaction);
    HARNESS_RUN(test_growth);
    HARNESS_RUN(test_max_cap);
    HARNESS_RUN(test_printf);
    HARNESS_RUN(test_span_eq_lower);
    HARNESS_RUN(test_span_trim);
    return HARNESS_DONE();
}
