/* libFuzzer target: the chunked-body decoder (src/chunked.h). The input is fed in pieces whose
 * sizes come from its first byte, so spans across calls are exercised; invariants: the body
 * never exceeds the limit, consumed counts stay inside the input, data spans point into it,
 * and a finished or failed decoder stays so. */
#include "fuzz.h"
#include "chunked.h"

#include <string.h>

#define MAX_BODY 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    size_t step = (size_t)data[0] % 17 + 1;
    data++;
    size--;
    char *in = malloc(size ? size : 1); /* exact size: over-reads are ASan reports */
    if (!in)
        return 0;
    if (size)
        memcpy(in, data, size);
    struct chunked ck;
    chunked_init(&ck, MAX_BODY, 200, 8);
    uint64_t body = 0;
    size_t pos = 0;
    int last = CHUNKED_MORE;
    while (pos < size && last != CHUNKED_DONE && last >= 0) {
        size_t n = size - pos < step ? size - pos : step;
        size_t off = 0;
        while (off < n) {
            const char *at = NULL;
            size_t len = 0, used = 0;
            last = chunked_parse(&ck, in + pos + off, n - off, &used, &at, &len);
            if (last < 0) {
                FUZZ_ASSERT(last == -400 || last == -413 || last == -431);
                break;
            }
            FUZZ_ASSERT(used <= n - off);
            if (last == CHUNKED_DATA) {
                FUZZ_ASSERT(at >= in + pos + off && at + len <= in + pos + off + used);
                body += len;
                FUZZ_ASSERT(body <= MAX_BODY);
            }
            off += used;
            if (last == CHUNKED_DONE || last == CHUNKED_MORE)
                break;
        }
        pos += n;
    }
    free(in);
    return 0;
}
