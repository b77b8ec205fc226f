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

/* Past BODY_SMALL a body lives in BODY_CHUNK pieces: appended in odd sizes that straddle the
 * chunk boundaries, read back at every kind of offset, then the chunks are cached for the next
 * body (bounded) and released on request. */
static void test_chunks_in_odd_pieces(void)
{
    body_release_cache();
    struct body b;
    body_init(&b);
    static char piece[70000];
    uint64_t total = 0;
    size_t sizes[] = {1, BODY_SMALL - 1, 1, 1, 65535, 3, 70000, 12345, 65536, 7};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        fill(piece, total, sizes[i]);
        CHECK_EQ_INT(body_append(&b, piece, sizes[i]), 0);
        total += sizes[i];
        CHECK_EQ_INT(b.len, total);
        CHECK(read_back_ok(&b, 0, (size_t)total));
    }
    CHECK_MSG(b.fd < 0, "still in memory");
    CHECK_MSG(b.mem.p == NULL, "the small buffer moved into the first chunk");
    CHECK(b.chunk[0] != NULL && b.chunk[(total - 1) / BODY_CHUNK] != NULL);
    for (uint64_t off = BODY_CHUNK - 3; off < total; off += BODY_CHUNK)
        CHECK(read_back_ok(&b, off, 7)); /* across each boundary */
    size_t used = (size_t)((total + BODY_CHUNK - 1) / BODY_CHUNK);
    body_free(&b);
    CHECK_EQ_INT(body_cached_chunks(), used);
    /* The next body takes them again (the contents are its own). */
    body_init(&b);
    fill(piece, 0, sizeof piece);
    CHECK_EQ_INT(body_append(&b, piece, sizeof piece), 0);
    CHECK_EQ_INT(body_cached_chunks(), used - 2);
    CHECK(read_back_ok(&b, 0, sizeof piece));
    body_free(&b);
    body_release_cache();
    CHECK_EQ_INT(body_cached_chunks(), 0);
}

/* A body exactly BODY_MEM_MAX long stays in memory; one byte more moves every chunk to the
 * file, in order, and the chunks go to the cache. */
static void test_chunks_spill_at_the_limit(void)
{
    body_release_cache();
    struct body b;
    body_init(&b);
    char *all = malloc(BODY_MEM_MAX + 1);
    CHECK(all != NULL);
    if (!all)
        return;
    fill(all, 0, BODY_MEM_MAX + 1);
    CHECK_EQ_INT(body_append(&b, all, BODY_MEM_MAX), 0);
    CHECK_MSG(b.fd < 0, "BODY_MEM_MAX bytes fit in memory");
    CHECK_EQ_INT(body_append(&b, all + BODY_MEM_MAX, 1), 0);
    CHECK_MSG(b.fd >= 0, "one byte more goes to a file");
    CHECK(b.chunk[0] == NULL);
    CHECK_EQ_INT(body_cached_chunks(), BODY_MEM_MAX / BODY_CHUNK);
    CHECK(read_back_ok(&b, 0, BODY_MEM_MAX + 1));
    uint64_t mem, disk;
    body_usage(&mem, &disk);
    CHECK_EQ_INT(mem, 0);
    CHECK_EQ_INT(disk, BODY_MEM_MAX + 1);
    body_free(&b);
    body_usage(&mem, &disk);
    CHECK_EQ_INT(disk, 0);
    free(all);
    body_release_cache();
}

/* The cache holds at most 256 chunks (16 MiB); more freed at once go back to malloc. */
static void test_cache_is_bounded(void)
{
    body_release_cache();
    enum { N = 20 };
    static struct body bs[N];
    static char piece[BODY_MEM_MAX];
    fill(piece, 0, sizeof piece);
    for (int i = 0; i < N; i++) {
        body_init(&bs[i]);
        CHECK_EQ_INT(body_append(&bs[i], piece, sizeof piece), 0);
    }
    for (int i = 0; i < N; i++)
        body_free(&bs[i]);
    CHECK_EQ_INT(body_cached_chunks(), 256);
    body_release_cache();
}

/* Response spools (body.h): bytes written at growing offsets read back, the disk budget
 * counted by file size and at most half of --buffer-disk unless forced, rewind gives it
 * back, free closes the file. */
static void test_spool(void)
{
    body_set_budget(UINT64_MAX, 1024 * 1024); /* spools: 512 KiB */
    struct spool sp;
    spool_init(&sp);
    char *chunk = malloc(200 * 1024);
    CHECK(chunk != NULL);
    if (!chunk)
        return;
    fill(chunk, 0, 200 * 1024);
    CHECK(spool_budget_fits(512 * 1024));
    CHECK(!spool_budget_fits(512 * 1024 + 1));
    CHECK_EQ_INT(spool_write(&sp, 0, chunk, 200 * 1024, false), 0);
    CHECK(sp.fd >= 0);
    fill(chunk, 200 * 1024, 200 * 1024);
    CHECK_EQ_INT(spool_write(&sp, 200 * 1024, chunk, 200 * 1024, false), 0);
    uint64_t mem, disk;
    body_usage(&mem, &disk);
    CHECK_EQ_INT(disk, 400 * 1024);
    CHECK(!spool_budget_fits(200 * 1024));
    /* past the spools' half without force: refused, nothing counted */
    CHECK_EQ_INT(spool_write(&sp, 400 * 1024, chunk, 200 * 1024, false), -ENOSPC);
    body_usage(&mem, &disk);
    CHECK_EQ_INT(disk, 400 * 1024);
    /* forced (the bytes must go somewhere): counted */
    fill(chunk, 400 * 1024, 200 * 1024);
    CHECK_EQ_INT(spool_write(&sp, 400 * 1024, chunk, 200 * 1024, true), 0);
    body_usage(&mem, &disk);
    CHECK_EQ_INT(disk, 600 * 1024);
    char got[1000];
    bool ok = spool_read(&sp, 199 * 1024, got, sizeof got) == (ssize_t)sizeof got;
    for (size_t i = 0; ok && i < sizeof got; i++)
        ok = got[i] == pattern(199 * 1024 + i);
    CHECK_MSG(ok, "read back across two writes");
    CHECK_MSG(spool_read(&sp, 600 * 1024 - 10, got, 20) < 0, "reading past the end: an error");
    spool_rewind(&sp);
    body_usage(&mem, &disk);
    CHECK_EQ_INT(disk, 0);
    CHECK_EQ_INT(sp.size, 0);
    fill(chunk, 0, 1000);
    CHECK_EQ_INT(spool_write(&sp, 0, chunk, 1000, false), 0);
    ok = spool_read(&sp, 0, got, 1000) == 1000 && memcmp(got, chunk, 1000) == 0;
    CHECK_MSG(ok, "the file is reused from its start");
    spool_free(&sp);
    CHECK(sp.fd < 0);
    body_usage(&mem, &disk);
    CHECK_EQ_INT(disk, 0);
    body_set_budget(UINT64_MAX, UINT64_MAX);
    free(chunk);
}

int main(void)
{
    HARNESS_RUN(test_small_stays_in_memory);
    HARNESS_RUN(test_spills_to_file);
    HARNESS_RUN(test_unwritable_tmpdir_fails_cleanly);
    HARNESS_RUN(test_chunks_in_odd_pieces);
    HARNESS_RUN(test_chunks_spill_at_the_limit);
    HARNESS_RUN(test_cache_is_bounded);
    HARNESS_RUN(test_spool);
    return HARNESS_DONE();
}
