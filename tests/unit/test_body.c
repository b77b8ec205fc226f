/* Unit tests for the request-body store (src/body.h): memory first, then a temporary file. */
#include "harness.h"
#include "body.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>

/* Deterministic bytes: byte i of a body is pattern(i). */
static char pattern(uint64_t i)
{
    return (char)((i * 2654435761u) >> 13);
}

static void fill(char *p, uint64_t from, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = pattern(from + i);
}

static bool read_back_ok(const struct body *b, uint64_t off, size_t n)
{
    char *got = malloc(n ? n : 1);
    if (!got)
        return false;
    ssize_t r = body_read(b, off, got, n);
    bool ok = r == (ssize_t)n;
    for (size_t i = 0; ok && i < n; i++)
        ok = got[i] == pattern(off + i);
    free(got);
    return ok;
}

static void test_small_stays_in_memory(void)
{
    struct body b;
    body_init(&b);
    char chunk[1000];
    fill(chunk, 0, sizeof chunk);
    CHECK_EQ_INT(body_append(&b, chunk, sizeof chunk), 0);
    CHECK_EQ_INT(b.len, 1000);
    CHECK_MSG(b.fd < 0, "a small body needs no file");
    CHECK(read_back_ok(&b, 0, 1000));
    CHECK(read_back_ok(&b, 999, 1));
    char c;
    CHECK_EQ_INT(body_read(&b, 1000, &c, 1), 0); /* at the end: nothing */
    CHECK_EQ_INT(body_read(&b, 5000, &c, 1), 0); /* past it: nothing either */
    body_free(&b);
    CHECK_EQ_INT(b.len, 0);
    CHECK(b.fd < 0);
}

static void test_spills_to_file(void)
{
    struct body b;
    body_init(&b);
    size_t step = 64 * 1024;
    char *chunk = malloc(step);
    CHECK(chunk != NULL);
    if (!chunk)
        return;
    uint64_t total = BODY_MEM_MAX + 3 * step + 17;
    for (uint64_t off = 0; off < total;) {
        size_t n = total - off < step ? (size_t)(total - off) : step;
        fill(chunk, off, n);
        CHECK_EQ_INT(body_append(&b, chunk, n), 0);
        off += n;
    }
    CHECK_EQ_INT(b.len, total);
    CHECK_MSG(b.fd >= 0, "past BODY_MEM_MAX the body lives in a file");
    CHECK_MSG(b.mem.p == NULL, "and its memory is given back");
    CHECK(read_back_ok(&b, 0, 4096));
    CHECK(read_back_ok(&b, BODY_MEM_MAX - 10, 20)); /* across the spill point */
    CHECK(read_back_ok(&b, total - 100, 100));
    /* A read longer than what is left is cut at the end. */
    char tail[256];
    CHECK_EQ_INT(body_read(&b, total - 7, tail, sizeof tail), 7);
    /* The file is unlinked: it has no name left on disk. */
    char link[64], target[512];
    snprintf(link, sizeof link, "/proc/self/fd/%d", b.fd);
    ssize_t k = readlink(link, target, sizeof target - 1);
    CHECK(k > 0);
    if (k > 0) {
        target[k] = 0;
        CHECK_MSG(strstr(target, "(deleted)") || strstr(target, "#"), "temp file unlinked");
    }
    body_free(&b);
    CHECK(b.fd < 0);
    free(chunk);
}

static void test_unwritable_tmpdir_fails_cleanly(void)
{
    struct body b;
    body_init(&b);
    const char *old = getenv("TMPDIR");
    char *saved = old ? strdup(old) : NULL;
    setenv("TMPDIR", "/nonexistent-httpsd-dir", 1);
    char *big = calloc(1, BODY_MEM_MAX + 1);
    CHECK(big != NULL);
    if (big) {
        int e = body_append(&b, big, BODY_MEM_MAX + 1);
        CHECK_MSG(e < 0, "no temporary directory: an error, not a crash");
        free(big);
    }
    if (saved) {
        setenv("TMPDIR", saved, 1);
        free(saved);
    } else {
        unsetenv("TMPDIR");
    }
    body_free(&b);
}

int main(void)
{
    HARNESS_RUN(test_small_stays_in_memory);
    HARNESS_RUN(test_spills_to_file);
    HARNESS_RUN(test_unwritable_tmpdir_fails_cleanly);
    return HARNESS_DONE();
}
