/* libFuzzer target: the HTTP/1 request parser as the server runs it (llhttp, strict, our
 * limits), through http1_fuzz_parse (src/http1.h): the input is one connection's byte stream. */
#include "fuzz.h"
#include "http1.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *in = malloc(size ? size : 1); /* exact size: over-reads are ASan reports */
    if (!in)
        return 0;
    if (size)
        memcpy(in, data, size);
    int r = http1_fuzz_parse(in, size);
    /* a count of requests (at most one per 16 bytes: "GET / HTTP/1.0\r\n\r\n" is 18) or
     * -status for a rejected stream */
    FUZZ_ASSERT(r >= 0 ? (size_t)r <= size / 16 + 1 : (r <= -400 && r >= -599));
    free(in);
    return 0;
}
