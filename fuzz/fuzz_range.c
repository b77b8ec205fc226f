/* libFuzzer target: range_parse (src/range.h) and the multipart framing built on it.
 * The first 8 input bytes give the representation size, the rest is the Range value.
 * On RANGE_OK: 1..RANGE_MAX ranges, each first <= last < size, sorted, never overlapping or
 * adjacent (so no byte can be sent twice and the total is at most size); the multipart length
 * equals the sum of what range_part_header/range_trailer write plus the data. */
#include "fuzz.h"
#include "range.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 8)
        return 0;
    uint64_t rsize;
    memcpy(&rsize, data, 8);
    rsize %= (uint64_t)1 << 40; /* up to 1 TiB */
    const char *s = (const char *)data + 8;
    size_t n = size - 8;
    struct byte_range r[RANGE_MAX];
    size_t count = 0;
    enum range_result res = range_parse(s, n, rsize, r, &count);
    if (res != RANGE_OK)
        return 0;
    FUZZ_ASSERT(count >= 1 && count <= RANGE_MAX);
    uint64_t total = 0;
    for (size_t i = 0; i < count; i++) {
        FUZZ_ASSERT(r[i].first <= r[i].last && r[i].last < rsize);
        if (i)
            FUZZ_ASSERT(r[i].first > r[i - 1].last + 1);
        total += r[i].last - r[i].first + 1;
    }
    FUZZ_ASSERT(total <= rsize);
    const char *b = "0123456789abcdef01234567";
    char tmp[512];
    uint64_t expect = range_trailer(tmp, sizeof tmp, b);
    for (size_t i = 0; i < count; i++) {
        size_t k = range_part_header(tmp, sizeof tmp, b, "text/plain; charset=utf-8", &r[i], rsize);
        FUZZ_ASSERT(k > 0 && strlen(tmp) == k);
        expect += k + (r[i].last - r[i].first + 1);
    }
    FUZZ_ASSERT(expect == range_multipart_length(b, "text/plain; charset=utf-8", r, count, rsize));
    return 0;
}
